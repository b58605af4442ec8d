/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Boot storm client: many netbooting servers at once, each fetching its iPXE script,
 * then a kernel, then an initrd, over libcurl's multi interface. A share of the
 * clients cut one download off part-way (as a server that loses its link or reboots
 * would) and resume it with a Range request from the byte where they stopped.
 *
 * usage: storm --base URL --machines FILE --kernel PATH --kernel-bytes N
 *              --initrd PATH --initrd-bytes N [--clients N] [--connections N]
 *              [--cut-percent N] [--timeout SECONDS]
 *
 * FILE contains one "MAC UUID" line per machine; client i requests the script of
 * line i modulo the line count. Every download is checked: HTTP status 200 (206 after a
 * resume), the exact byte count, and the offset marks of pattern.h, so a resume that
 * starts at the wrong byte is caught. Prints one line of key=value results and exits
 * 1 when any client failed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>

#include "clock.h"
#include "pattern.h"

#define MAX_CLIENTS 100000
#define URL_BYTES 512
#define MAX_ERRORS_SHOWN 10
#define RECEIVE_BUFFER_BYTES (512L * 1024)
#define SCRIPT_MAGIC "#!ipxe"

enum stage {
	STAGE_SCRIPT,
	STAGE_KERNEL,
	STAGE_INITRD,
	STAGE_DONE,
};

struct file {
	char url[URL_BYTES];
	uint64_t bytes;
};

struct client {
	unsigned index;
	CURL *easy;
	char script_url[URL_BYTES];
	enum stage stage;
	uint64_t received;        /* bytes of the current download, counting before a cut */
	char magic[sizeof(SCRIPT_MAGIC)];

	enum stage cut_stage;     /* STAGE_DONE: this client never cuts */
	uint64_t cut_at;          /* byte offset at which the cut happens */
	bool cutting;             /* the write callback rejected data to cut the transfer */
	bool resumed;             /* the current download is the resumed one */
	bool corrupt;             /* an offset mark did not match */

	bool failed;
	double finished;          /* seconds from the start of the storm */
};

struct storm {
	const char *base;
	const char *machines_path;
	struct file kernel;
	struct file initrd;
	unsigned clients;
	unsigned connections;
	unsigned cut_percent;
	double timeout;

	struct client *client;
	unsigned done;
	unsigned errors;
	unsigned cuts;
	double start;
};

/* A fixed mix of the client index, so cut points differ but repeat across runs. */
static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static void
client_fail(struct storm *s, struct client *c, const char *what)
{
	static const char *const stage_names[] = { "script", "kernel", "initrd", "done" };

	c->failed = true;
	s->errors++;
	if (s->errors <= MAX_ERRORS_SHOWN)
		fprintf(stderr, "storm: client %u: %s: %s\n", c->index, stage_names[c->stage],
			what);
}

static size_t
receive_script(char *data, size_t size, size_t nmemb, void *arg)
{
	struct client *c = arg;
	size_t len = size * nmemb;
	size_t have = c->received < sizeof(SCRIPT_MAGIC) - 1 ? (size_t)c->received :
		sizeof(SCRIPT_MAGIC) - 1;
	size_t want = sizeof(SCRIPT_MAGIC) - 1 - have;

	/* Keep the first bytes to check that the body is an iPXE script. */
	memcpy(c->magic + have, data, len < want ? len : want);
	c->received += len;
	return len;
}

static size_t
receive_file(char *data, size_t size, size_t nmemb, void *arg)
{
	struct client *c = arg;
	size_t len = size * nmemb;
	size_t take = len;

	/* Accept bytes up to the cut point only; a short return makes libcurl abort. */
	if (c->stage == c->cut_stage && !c->resumed && c->received + len > c->cut_at) {
		take = (size_t)(c->cut_at - c->received);
		c->cutting = true;
	}
	if (pattern_check((const unsigned char *)data, take, c->received) < 0)
		c->corrupt = true;
	c->received += take;
	return take;
}

/* Point the client's handle at its current stage's download and reset the counters. */
static void
client_prepare(struct storm *s, struct client *c)
{
	const struct file *f = c->stage == STAGE_KERNEL ? &s->kernel : &s->initrd;
	char range[64];

	if (c->stage == STAGE_SCRIPT) {
		curl_easy_setopt(c->easy, CURLOPT_URL, c->script_url);
		curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, receive_script);
		return;
	}
	curl_easy_setopt(c->easy, CURLOPT_URL, f->url);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, receive_file);
	if (c->resumed) {
		snprintf(range, sizeof(range), "%" PRIu64 "-", c->received);
		curl_easy_setopt(c->easy, CURLOPT_RANGE, range);
	} else {
		curl_easy_setopt(c->easy, CURLOPT_RANGE, NULL);
		c->received = 0;
	}
}

static int
client_init(struct storm *s, struct client *c, unsigned index, const char *mac,
	    const char *uuid)
{
	unsigned every = s->cut_percent > 0 ? 100 / s->cut_percent : 0;

	c->index = index;
	c->stage = STAGE_SCRIPT;
	snprintf(c->script_url, sizeof(c->script_url),
		 "%s/boot/ipxe?mac=%s&uuid=%s&buildarch=x86_64&platform=efi", s->base, mac,
		 uuid);

	/* Every `every`-th client cuts one download: the kernel and the initrd in turn,
	 * at a point between 10% and 90% of the file. */
	c->cut_stage = STAGE_DONE;
	if (every > 0 && index % every == 0) {
		const struct file *f;

		c->cut_stage = (index / every) % 2 == 0 ? STAGE_KERNEL : STAGE_INITRD;
		f = c->cut_stage == STAGE_KERNEL ? &s->kernel : &s->initrd;
		c->cut_at = f->bytes / 10 + mix(index) % (f->bytes * 8 / 10);
		s->cuts++;
	}

	c->easy = curl_easy_init();
	if (c->easy == NULL)
		return -1;
	curl_easy_setopt(c->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_BUFFERSIZE, RECEIVE_BUFFER_BYTES);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT, 30L);
	client_prepare(s, c);
	return 0;
}

/* Check a finished script download; returns 0 to go on to the kernel. */
static int
script_done(struct storm *s, struct client *c, CURLcode result, long status)
{
	if (result != CURLE_OK || status != 200) {
		char what[160];

		snprintf(what, sizeof(what), "%s, HTTP status %ld", curl_easy_strerror(result),
			 status);
		client_fail(s, c, what);
		return -1;
	}
	if (c->received < sizeof(SCRIPT_MAGIC) - 1 || strcmp(c->magic, SCRIPT_MAGIC) != 0) {
		client_fail(s, c, "body is not an iPXE script");
		return -1;
	}
	return 0;
}

/*
 * Check a finished kernel or initrd download. Returns 0 to go on, 1 when the
 * download was cut on purpose and must be resumed, -1 on failure.
 */
static int
file_done(struct storm *s, struct client *c, CURLcode result, long status)
{
	const struct file *f = c->stage == STAGE_KERNEL ? &s->kernel : &s->initrd;
	long expected = c->resumed ? 206 : 200;
	char what[200];

	if (c->cutting && result == CURLE_WRITE_ERROR) {
		c->cutting = false;
		c->resumed = true;
		return 1;
	}
	if (result != CURLE_OK || status != expected) {
		snprintf(what, sizeof(what), "%s, HTTP status %ld (expected %ld)",
			 curl_easy_strerror(result), status, expected);
		client_fail(s, c, what);
		return -1;
	}
	if (c->received != f->bytes) {
		snprintf(what, sizeof(what), "received %" PRIu64 " bytes, expected %" PRIu64,
			 c->received, f->bytes);
		client_fail(s, c, what);
		return -1;
	}
	if (c->corrupt) {
		client_fail(s, c, "wrong bytes at an offset mark");
		return -1;
	}
	c->resumed = false;
	return 0;
}

/* Move a client whose transfer finished to its next step; returns true when it is done. */
static bool
client_advance(struct storm *s, CURLM *multi, struct client *c, CURLcode result)
{
	long status = 0;
	int r;

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(multi, c->easy);

	if (c->stage == STAGE_SCRIPT)
		r = script_done(s, c, result, status);
	else
		r = file_done(s, c, result, status);
	if (r < 0)
		return true;

	/* A cut download goes back on the same stage with a Range request. */
	if (r == 0)
		c->stage++;
	if (c->stage == STAGE_DONE) {
		c->finished = now_seconds() - s->start;
		return true;
	}
	client_prepare(s, c);
	curl_multi_add_handle(multi, c->easy);
	return false;
}

static void
run_storm(struct storm *s, CURLM *multi)
{
	unsigned i;

	s->start = now_seconds();
	for (i = 0; i < s->clients; i++)
		curl_multi_add_handle(multi, s->client[i].easy);

	while (s->done < s->clients && now_seconds() - s->start < s->timeout) {
		struct CURLMsg *msg;
		int running;
		int left;

		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			char *private = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &private);
			if (client_advance(s, multi, (struct client *)private, msg->data.result))
				s->done++;
		}
		if (s->done == s->clients)
			break;
		curl_multi_poll(multi, NULL, 0, 100, NULL);
	}

	/* Clients that had not finished by the timeout count as failed. */
	for (i = 0; i < s->clients; i++) {
		struct client *c = &s->client[i];

		if (!c->failed && c->stage != STAGE_DONE)
			client_fail(s, c, "timed out");
	}
}

static int
compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
print_results(const struct storm *s, double makespan)
{
	double *times = calloc(s->clients, sizeof(*times));
	unsigned n = 0;
	unsigned i;
	double fastest = 0;
	double slowest = 0;
	double median = 0;

	for (i = 0; times != NULL && i < s->clients; i++) {
		if (!s->client[i].failed)
			times[n++] = s->client[i].finished;
	}
	if (n > 0) {
		qsort(times, n, sizeof(*times), compare_doubles);
		fastest = times[0];
		slowest = times[n - 1];
		median = times[n / 2];
	}
	printf("clients=%u errors=%u cut=%u makespan=%.3f fastest=%.3f median=%.3f "
	       "slowest=%.3f spread=%.3f\n",
	       s->clients, s->errors, s->cuts, makespan, fastest, median, slowest,
	       fastest > 0 ? slowest / fastest : 0.0);
	free(times);
}

/* Read "MAC UUID" lines and set up one client per index. */
static int
load_clients(struct storm *s)
{
	char (*macs)[32] = NULL;
	char (*uuids)[48] = NULL;
	size_t count = 0;
	size_t cap = 0;
	FILE *in;
	unsigned i;
	int r = -1;

	in = fopen(s->machines_path, "r");
	if (in == NULL) {
		fprintf(stderr, "storm: cannot open %s: %s\n", s->machines_path,
			strerror(errno));
		return -1;
	}
	for (;;) {
		if (count == cap) {
			size_t grown = cap ? cap * 2 : 1024;
			void *more = realloc(macs, grown * sizeof(*macs));

			if (more == NULL)
				goto out;
			macs = more;
			more = realloc(uuids, grown * sizeof(*uuids));
			if (more == NULL)
				goto out;
			uuids = more;
			cap = grown;
		}
		if (fscanf(in, "%31s %47s", macs[count], uuids[count]) != 2)
			break;
		count++;
	}
	if (count == 0) {
		fprintf(stderr, "storm: no \"MAC UUID\" lines in %s\n", s->machines_path);
		goto out;
	}

	s->client = calloc(s->clients, sizeof(*s->client));
	if (s->client == NULL)
		goto out;
	for (i = 0; i < s->clients; i++) {
		if (client_init(s, &s->client[i], i, macs[i % count], uuids[i % count]) < 0)
			goto out;
	}
	r = 0;
out:
	fclose(in);
	free(macs);
	free(uuids);
	return r;
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: storm --base URL --machines FILE --kernel PATH --kernel-bytes N\n"
		"             --initrd PATH --initrd-bytes N [--clients N] [--connections N]\n"
		"             [--cut-percent N] [--timeout SECONDS]\n"
		"  --base URL         boot listener, e.g. http://127.0.0.1:8080\n"
		"  --machines FILE    \"MAC UUID\" lines; client i uses line i modulo the count\n"
		"  --kernel PATH      URL path of the kernel, N its size in bytes\n"
		"  --initrd PATH      URL path of the initrd, N its size in bytes\n"
		"  --clients N        clients in the storm (default 1000)\n"
		"  --connections N    open connections at most (default: one per client)\n"
		"  --cut-percent N    percent of clients that cut and resume a download "
		"(default 5)\n"
		"  --timeout SECONDS  stop and count unfinished clients as failed (default 300)\n");
}

static int
parse_args(int argc, char **argv, struct storm *s)
{
	static const struct option options[] = {
		{ "base", required_argument, NULL, 'b' },
		{ "machines", required_argument, NULL, 'm' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "kernel-bytes", required_argument, NULL, 'K' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "initrd-bytes", required_argument, NULL, 'I' },
		{ "clients", required_argument, NULL, 'c' },
		{ "connections", required_argument, NULL, 'n' },
		{ "cut-percent", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *kernel = NULL;
	const char *initrd = NULL;
	int opt;

	s->clients = 1000;
	s->cut_percent = 5;
	s->timeout = 300;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'b':
			s->base = optarg;
			break;
		case 'm':
			s->machines_path = optarg;
			break;
		case 'k':
			kernel = optarg;
			break;
		case 'K':
			s->kernel.bytes = strtoull(optarg, NULL, 10);
			break;
		case 'i':
			initrd = optarg;
			break;
		case 'I':
			s->initrd.bytes = strtoull(optarg, NULL, 10);
			break;
		case 'c':
			s->clients = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			s->connections = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			s->cut_percent = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			s->timeout = strtod(optarg, NULL);
			break;
		default:
			return -1;
		}
	}
	if (optind != argc || s->base == NULL || s->machines_path == NULL || kernel == NULL ||
	    initrd == NULL || s->kernel.bytes < 10 || s->initrd.bytes < 10 ||
	    s->clients == 0 || s->clients > MAX_CLIENTS || s->cut_percent > 100 ||
	    s->timeout <= 0)
		return -1;
	if (s->connections == 0)
		s->connections = s->clients;
	snprintf(s->kernel.url, sizeof(s->kernel.url), "%s%s", s->base, kernel);
	snprintf(s->initrd.url, sizeof(s->initrd.url), "%s%s", s->base, initrd);
	return 0;
}

int
main(int argc, char **argv)
{
	struct storm s = { 0 };
	struct rlimit rl;
	CURLM *multi;
	unsigned i;

	if (parse_args(argc, argv, &s) < 0) {
		usage();
		return 2;
	}

	/* One descriptor per connection; the soft limit is often 1024. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (load_clients(&s) < 0)
		return 1;

	multi = curl_multi_init();
	if (multi == NULL)
		return 1;
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)s.connections);
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)s.connections);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)s.connections);

	run_storm(&s, multi);
	print_results(&s, now_seconds() - s.start);

	for (i = 0; i < s.clients; i++) {
		curl_multi_remove_handle(multi, s.client[i].easy);
		curl_easy_cleanup(s.client[i].easy);
	}
	curl_multi_cleanup(multi);
	free(s.client);
	curl_global_cleanup();
	return s.errors > 0 ? 1 : 0;
}
