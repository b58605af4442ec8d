/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Throughput load generator: CLIENTS concurrent GETs of one URL over libcurl's multi
 * interface, each on its own connection, bodies counted and discarded.
 *
 * usage: fetch URL CLIENTS [SECONDS]
 *
 * With SECONDS, each client starts the GET again whenever it finishes, and the run
 * stops after SECONDS; bytes received by unfinished transfers count. Without it, each
 * client fetches the URL once (bounded by ONCE_TIMEOUT_SECONDS). Prints one line:
 *   bytes=N seconds=S transfers=T errors=E
 * and exits 1 when any transfer failed.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>

#include "clock.h"

#define MAX_CLIENTS 10000
#define ONCE_TIMEOUT_SECONDS 600
/* libcurl's largest receive buffer; fewer, larger reads keep the client's cost low. */
#define RECEIVE_BUFFER_BYTES (512L * 1024)
#define MAX_ERRORS_SHOWN 10

struct client {
	CURL *easy;
	uint64_t bytes;
};

struct run {
	const char *url;
	unsigned clients;
	double seconds;           /* 0: each client fetches once */
	uint64_t transfers;
	uint64_t errors;
};

static size_t
count_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct client *c = arg;

	(void)data;
	c->bytes += size * nmemb;
	return size * nmemb;
}

/* Many clients need one descriptor each; the soft limit is often 1024. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
client_init(struct client *c, const char *url)
{
	c->easy = curl_easy_init();
	if (c->easy == NULL)
		return -1;
	curl_easy_setopt(c->easy, CURLOPT_URL, url);
	/* An empty proxy disables proxies from the environment: traffic stays on loopback. */
	curl_easy_setopt(c->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_BUFFERSIZE, RECEIVE_BUFFER_BYTES);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, count_body);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT, 10L);
	return 0;
}

/* Count a finished transfer; returns true when it succeeded. */
static bool
check_transfer(struct run *run, CURL *easy, CURLcode result)
{
	long status = 0;

	run->transfers++;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (result == CURLE_OK && status == 200)
		return true;

	run->errors++;
	if (run->errors <= MAX_ERRORS_SHOWN)
		fprintf(stderr, "fetch: %s: %s, HTTP status %ld\n", run->url,
			curl_easy_strerror(result), status);
	return false;
}

/* Drive the transfers until they finish or the deadline passes; returns the seconds. */
static double
run_clients(struct run *run, CURLM *multi, struct client *clients)
{
	double start = now_seconds();
	double limit = run->seconds > 0 ? run->seconds : ONCE_TIMEOUT_SECONDS;
	unsigned active = run->clients;
	unsigned i;

	for (i = 0; i < run->clients; i++)
		curl_multi_add_handle(multi, clients[i].easy);

	while (active > 0) {
		struct CURLMsg *msg;
		int running;
		int left;

		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			CURL *easy = msg->easy_handle;
			CURLcode result = msg->data.result;

			if (msg->msg != CURLMSG_DONE)
				continue;
			check_transfer(run, easy, result);
			curl_multi_remove_handle(multi, easy);

			/* In a timed run the client starts over until time is up. */
			if (run->seconds > 0 && now_seconds() - start < limit)
				curl_multi_add_handle(multi, easy);
			else
				active--;
		}
		if (now_seconds() - start >= limit)
			break;
		curl_multi_poll(multi, NULL, 0, 100, NULL);
	}

	/* A one-shot run that hit its timeout counts the unfinished clients as errors. */
	if (run->seconds == 0 && active > 0) {
		run->errors += active;
		fprintf(stderr, "fetch: %u transfers timed out after %d s\n", active,
			ONCE_TIMEOUT_SECONDS);
	}
	return now_seconds() - start;
}

static int
parse_args(int argc, char **argv, struct run *run)
{
	char *end;

	if (argc < 3 || argc > 4)
		return -1;
	run->url = argv[1];
	run->clients = (unsigned)strtoul(argv[2], &end, 10);
	if (*end != '\0' || run->clients == 0 || run->clients > MAX_CLIENTS)
		return -1;
	run->seconds = 0;
	if (argc == 4) {
		run->seconds = strtod(argv[3], &end);
		if (*end != '\0' || run->seconds <= 0)
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct run run = { 0 };
	struct client *clients;
	uint64_t bytes = 0;
	double seconds;
	CURLM *multi;
	unsigned i;

	if (parse_args(argc, argv, &run) < 0) {
		fprintf(stderr, "usage: fetch URL CLIENTS [SECONDS]\n"
			"  CLIENTS: 1 to %d concurrent connections\n"
			"  SECONDS: repeat the GETs for this long (default: fetch once)\n",
			MAX_CLIENTS);
		return 2;
	}
	raise_fd_limit();
	curl_global_init(CURL_GLOBAL_DEFAULT);

	clients = calloc(run.clients, sizeof(*clients));
	multi = curl_multi_init();
	if (clients == NULL || multi == NULL) {
		fprintf(stderr, "fetch: out of memory\n");
		return 1;
	}
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)run.clients);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)run.clients);
	for (i = 0; i < run.clients; i++) {
		if (client_init(&clients[i], run.url) < 0) {
			fprintf(stderr, "fetch: curl_easy_init failed\n");
			return 1;
		}
	}

	seconds = run_clients(&run, multi, clients);

	for (i = 0; i < run.clients; i++) {
		bytes += clients[i].bytes;
		curl_multi_remove_handle(multi, clients[i].easy);
		curl_easy_cleanup(clients[i].easy);
	}
	curl_multi_cleanup(multi);
	free(clients);
	curl_global_cleanup();

	printf("bytes=%" PRIu64 " seconds=%.3f transfers=%" PRIu64 " errors=%" PRIu64 "\n",
	       bytes, seconds, run.transfers, run.errors);
	return run.errors > 0 ? 1 : 0;
}
