/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reference client of the BMC sensors benchmark: it reads the sensors of many Redfish
 * BMCs with the requests that Outpost's Redfish driver sends for one sensors operation,
 * over libcurl's multi interface. At most CONNECTIONS BMCs are read at a time, each
 * over one keep-alive connection, in this order:
 *   GET /redfish/v1/, POST {"UserName", "Password"} to its Sessions link, GET the
 *   Chassis collection page by page, then for each chassis: GET it, GET its Sensors
 *   collection page by page (Members@odata.nextLink), GET each sensor; last, DELETE
 *   the session.
 * The requests carry the driver's headers (Accept, OData-Version, an empty Expect,
 * X-Auth-Token), and the certificate is checked against a pinned public key with the
 * chain and host name unchecked, as for a BMC enrolled with tls "pinned". Every body
 * is parsed with jansson, as the driver does. There are no retries: a failed request
 * fails its BMC.
 *
 * usage: bmcref BMC_FILE USER PASSWORD_FILE PIN CONNECTIONS TIMEOUT_MS [VALUES_FILE]
 *   BMC_FILE     one BMC a line: "ADDRESS PORT"
 *   PIN          curl's pinned public key, "sha256//" and the base64 of the digest
 *   TIMEOUT_MS   each request's limit; connecting (TCP and TLS) has at most 5000 ms
 *   VALUES_FILE  receives "ADDRESS:PORT<TAB>NAME<TAB>READING" for every sensor read
 * Prints one line:
 *   bmcs=N succeeded=S failed=F sensors=R requests=Q seconds=T last_success_seconds=L
 * where L is the time at which the last successful BMC finished, and one line per
 * failed BMC on stderr. Exits 1 when any BMC failed.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "clock.h"

#include "clock.h"

#define MAX_BMCS 10000
#define MAX_CONNECTIONS 1000
#define CONNECT_TIMEOUT_MS 5000L
/* The driver rejects reply bodies larger than this. */
#define MAX_BODY_BYTES (8u << 20)
#define PATH_SIZE 512
#define TOKEN_SIZE 256
#define ERROR_SIZE 256

enum phase {
	PHASE_ROOT,
	PHASE_LOGIN,
	PHASE_CHASSIS_PAGE,
	PHASE_CHASSIS,
	PHASE_SENSOR_PAGE,
	PHASE_SENSOR,
	PHASE_LOGOUT,
	PHASE_DONE,
};

struct bmc {
	char address[64];
	unsigned port;
	enum phase phase;
	char token[TOKEN_SIZE];          /* X-Auth-Token of the session */
	char session[PATH_SIZE];         /* the session's path, for the DELETE */
	char sessions[PATH_SIZE];        /* the Sessions collection */
	char next[PATH_SIZE];            /* the next collection page, "" for none */
	json_t *chassis;                 /* paths of the chassis */
	size_t chassis_index;
	json_t *sensors;                 /* paths of the current chassis's sensors */
	size_t sensor_index;
	unsigned readings;
	bool failed;
	char error[ERROR_SIZE];
};

struct slot {
	CURL *easy;
	struct curl_slist *headers;
	struct bmc *bmc;                 /* NULL: idle */
	char *body;                      /* the reply body received so far */
	size_t body_len;
	bool too_large;
	char token[TOKEN_SIZE];          /* X-Auth-Token header of the reply */
	char location[PATH_SIZE];        /* Location header of the reply */
	char post[1024];                 /* the login body */
};

struct run {
	const char *user;
	char password[256];
	const char *pin;
	long timeout_ms;
	FILE *values;
	struct bmc *bmcs;
	size_t count;
	size_t started;
	unsigned long requests;
	double start;
	double last_success;
};

static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static size_t
body_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct slot *s = arg;
	size_t len = size * nmemb;
	char *grown;

	if (s->body_len + len > MAX_BODY_BYTES) {
		s->too_large = true;
		return 0;
	}
	grown = realloc(s->body, s->body_len + len + 1);
	if (grown == NULL)
		return 0;
	s->body = grown;
	memcpy(s->body + s->body_len, data, len);
	s->body_len += len;
	s->body[s->body_len] = '\0';
	return len;
}

/* Copy a header's value without surrounding blanks when its name is `name`. */
static void
header_copy(const char *line, size_t len, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);

	if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return;
	line += n + 1;
	len -= n + 1;
	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	if (len < size)
		snprintf(out, size, "%.*s", (int)len, line);
}

static size_t
header_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct slot *s = arg;
	size_t len = size * nmemb;

	header_copy(data, len, "X-Auth-Token", s->token, sizeof(s->token));
	header_copy(data, len, "Location", s->location, sizeof(s->location));
	return len;
}

static void bmc_fail(struct bmc *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Mark the BMC failed with the first error it met. */
static void
bmc_fail(struct bmc *b, const char *fmt, ...)
{
	va_list args;

	if (b->failed)
		return;
	va_start(args, fmt);
	vsnprintf(b->error, sizeof(b->error), fmt, args);
	va_end(args);
	b->failed = true;
}

/* The "@odata.id" of member `key` of `object`, or NULL. */
static const char *
link_of(const json_t *object, const char *key)
{
	return json_string_value(json_object_get(json_object_get(object, key), "@odata.id"));
}

static void
path_copy(char *out, const char *path)
{
	snprintf(out, PATH_SIZE, "%s", path != NULL ? path : "");
}

/* Append the collection's member paths to `list` and keep its next page's link. */
static int
collection_take(struct bmc *b, json_t *collection, json_t *list)
{
	json_t *members = json_object_get(collection, "Members"), *member;
	size_t i;

	if (!json_is_array(members))
		return -1;
	json_array_foreach(members, i, member) {
		const char *path = json_string_value(json_object_get(member, "@odata.id"));

		if (path != NULL)
			json_array_append_new(list, json_string(path));
	}
	path_copy(b->next, json_string_value(json_object_get(collection,
							     "Members@odata.nextLink")));
	return 0;
}

/* Queue the next request of the slot's BMC: method, path and, for the login, a body. */
static void
request_set(struct run *run, struct slot *s, const char *method, const char *path)
{
	struct bmc *b = s->bmc;
	char url[PATH_SIZE + 96], line[TOKEN_SIZE + 32];

	snprintf(url, sizeof(url), "https://%s:%u%s", b->address, b->port, path);
	curl_slist_free_all(s->headers);
	s->headers = curl_slist_append(NULL, "Accept: application/json");
	s->headers = curl_slist_append(s->headers, "OData-Version: 4.0");
	s->headers = curl_slist_append(s->headers, "Expect:");
	if (b->phase == PHASE_LOGIN)
		s->headers = curl_slist_append(s->headers, "Content-Type: application/json");
	if (b->token[0] != '\0') {
		snprintf(line, sizeof(line), "X-Auth-Token: %s", b->token);
		s->headers = curl_slist_append(s->headers, line);
	}
	s->body_len = 0;
	s->too_large = false;
	s->token[0] = '\0';
	s->location[0] = '\0';

	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
	/* The driver closes its connection when the operation ends, after the logout. */
	curl_easy_setopt(s->easy, CURLOPT_FORBID_REUSE, b->phase == PHASE_LOGOUT ? 1L : 0L);
	if (b->phase == PHASE_LOGIN) {
		json_t *login = json_pack("{s:s, s:s}", "UserName", run->user, "Password",
					  run->password);
		char *text = json_dumps(login, JSON_COMPACT);

		snprintf(s->post, sizeof(s->post), "%s", text != NULL ? text : "{}");
		free(text);
		json_decref(login);
		curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->post);
	} else {
		curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(s->easy, CURLOPT_CUSTOMREQUEST, method);
	run->requests++;
}

/* Queue the request for the BMC's current phase; false when the BMC is done. */
static bool
phase_request(struct run *run, struct slot *s)
{
	struct bmc *b = s->bmc;

	switch (b->phase) {
	case PHASE_ROOT:
		request_set(run, s, "GET", "/redfish/v1/");
		return true;
	case PHASE_LOGIN:
		request_set(run, s, "POST", b->sessions);
		return true;
	case PHASE_CHASSIS_PAGE:
	case PHASE_SENSOR_PAGE:
		request_set(run, s, "GET", b->next);
		return true;
	case PHASE_CHASSIS:
		request_set(run, s, "GET",
			    json_string_value(json_array_get(b->chassis, b->chassis_index)));
		return true;
	case PHASE_SENSOR:
		request_set(run, s, "GET",
			    json_string_value(json_array_get(b->sensors, b->sensor_index)));
		return true;
	case PHASE_LOGOUT:
		request_set(run, s, "DELETE", b->session);
		return true;
	case PHASE_DONE:
		return false;
	}
	return false;
}

/* The phase after the sensors of the current chassis: the next chassis or the logout. */
static void
chassis_next(struct bmc *b)
{
	b->chassis_index++;
	b->phase = b->chassis_index < json_array_size(b->chassis) ? PHASE_CHASSIS
								   : PHASE_LOGOUT;
}

static void
sensor_record(struct run *run, struct bmc *b, const json_t *sensor)
{
	const char *name = json_string_value(json_object_get(sensor, "Name"));
	json_t *reading = json_object_get(sensor, "Reading");

	b->readings++;
	if (run->values != NULL)
		fprintf(run->values, "%s:%u\t%s\t%.17g\n", b->address, b->port, name != NULL ? name : "",
			json_number_value(reading));
}

/* Move the BMC on by the reply to its last request. */
static void
reply_handle(struct run *run, struct slot *s, long status, json_t *doc)
{
	struct bmc *b = s->bmc;
	const char *link;

	if (b->phase != PHASE_LOGOUT && !json_is_object(doc)) {
		bmc_fail(b, "the reply to a request is not a JSON object");
		return;
	}
	switch (b->phase) {
	case PHASE_ROOT:
		path_copy(b->sessions, link_of(json_object_get(doc, "Links"), "Sessions"));
		path_copy(b->next, link_of(doc, "Chassis"));
		if (b->sessions[0] == '\0' || b->next[0] == '\0')
			bmc_fail(b, "the service root lacks a Sessions or Chassis link");
		b->phase = PHASE_LOGIN;
		break;
	case PHASE_LOGIN:
		if (status != 201 || s->token[0] == '\0') {
			bmc_fail(b, "the login returned HTTP %ld without an X-Auth-Token", status);
			break;
		}
		snprintf(b->token, sizeof(b->token), "%s", s->token);
		link = json_string_value(json_object_get(doc, "@odata.id"));
		path_copy(b->session, link != NULL ? link : s->location);
		b->phase = PHASE_CHASSIS_PAGE;
		break;
	case PHASE_CHASSIS_PAGE:
		if (collection_take(b, doc, b->chassis) < 0)
			bmc_fail(b, "the Chassis collection has no Members");
		else if (b->next[0] == '\0')
			b->phase = json_array_size(b->chassis) > 0 ? PHASE_CHASSIS : PHASE_LOGOUT;
		break;
	case PHASE_CHASSIS:
		path_copy(b->next, link_of(doc, "Sensors"));
		json_array_clear(b->sensors);
		b->sensor_index = 0;
		if (b->next[0] != '\0')
			b->phase = PHASE_SENSOR_PAGE;
		else
			chassis_next(b);
		break;
	case PHASE_SENSOR_PAGE:
		if (collection_take(b, doc, b->sensors) < 0)
			bmc_fail(b, "a Sensors collection has no Members");
		else if (b->next[0] == '\0' && json_array_size(b->sensors) > 0)
			b->phase = PHASE_SENSOR;
		else if (b->next[0] == '\0')
			chassis_next(b);
		break;
	case PHASE_SENSOR:
		sensor_record(run, b, doc);
		if (++b->sensor_index >= json_array_size(b->sensors))
			chassis_next(b);
		break;
	case PHASE_LOGOUT:
		b->phase = PHASE_DONE;
		break;
	case PHASE_DONE:
		break;
	}
}

/* Give the slot the next BMC and queue its first request; false when none is left. */
static bool
slot_start(struct run *run, CURLM *multi, struct slot *s)
{
	if (run->started == run->count) {
		s->bmc = NULL;
		return false;
	}
	s->bmc = &run->bmcs[run->started++];
	s->bmc->chassis = json_array();
	s->bmc->sensors = json_array();
	curl_easy_reset(s->easy);
	curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(s->easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, run->timeout_ms);
	curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(s->easy, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(s->easy, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(s->easy, CURLOPT_PINNEDPUBLICKEY, run->pin);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, header_write);
	curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	phase_request(run, s);
	curl_multi_add_handle(multi, s->easy);
	return true;
}

static void
bmc_finish(struct run *run, struct bmc *b)
{
	json_decref(b->chassis);
	json_decref(b->sensors);
	b->chassis = b->sensors = NULL;
	explicit_bzero(b->token, sizeof(b->token));
	if (!b->failed)
		run->last_success = now_seconds() - run->start;
}

/* Handle a finished transfer: move its BMC on, or on to the next BMC. */
static void
transfer_done(struct run *run, CURLM *multi, CURLMsg *msg)
{
	struct slot *s = NULL;
	struct bmc *b;
	long status = 0;

	curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
	b = s->bmc;
	curl_multi_remove_handle(multi, s->easy);
	if (msg->data.result != CURLE_OK) {
		bmc_fail(b, "%s", s->too_large ? "a reply is larger than 8 MiB"
					     : curl_easy_strerror(msg->data.result));
	} else {
		curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 300) {
			bmc_fail(b, "HTTP %ld", status);
		} else {
			json_t *doc = s->body_len > 0 ? json_loadb(s->body, s->body_len, 0, NULL)
						      : NULL;

			reply_handle(run, s, status, doc);
			json_decref(doc);
		}
	}
	if (!b->failed && phase_request(run, s)) {
		curl_multi_add_handle(multi, s->easy);
		return;
	}
	bmc_finish(run, b);
	slot_start(run, multi, s);
}

static int
bmcs_load(struct run *run, const char *path)
{
	FILE *file = fopen(path, "re");
	char line[256];

	if (file == NULL) {
		fprintf(stderr, "bmcref: cannot open %s\n", path);
		return -1;
	}
	run->bmcs = calloc(MAX_BMCS, sizeof(*run->bmcs));
	while (run->bmcs != NULL && fgets(line, sizeof(line), file) != NULL) {
		struct bmc *b = &run->bmcs[run->count];

		if (run->count == MAX_BMCS ||
		    sscanf(line, "%63s %u", b->address, &b->port) != 2) {
			fprintf(stderr, "bmcref: invalid line %zu in %s: expected \"ADDRESS PORT\", "
				"at most %d lines\n", run->count + 1, path, MAX_BMCS);
			fclose(file);
			return -1;
		}
		run->count++;
	}
	fclose(file);
	return run->bmcs != NULL && run->count > 0 ? 0 : -1;
}

static int
password_load(struct run *run, const char *path)
{
	FILE *file = fopen(path, "re");

	if (file == NULL || fgets(run->password, sizeof(run->password), file) == NULL) {
		fprintf(stderr, "bmcref: cannot read the password from %s\n", path);
		if (file != NULL)
			fclose(file);
		return -1;
	}
	fclose(file);
	run->password[strcspn(run->password, "\r\n")] = '\0';
	return 0;
}

static void
report(const struct run *run, double seconds)
{
	unsigned long sensors = 0;
	size_t failed = 0;

	for (size_t i = 0; i < run->count; i++) {
		const struct bmc *b = &run->bmcs[i];

		sensors += b->readings;
		if (b->failed) {
			failed++;
			fprintf(stderr, "bmcref: %s:%u failed: %s\n", b->address, b->port, b->error);
		}
	}
	printf("bmcs=%zu succeeded=%zu failed=%zu sensors=%lu requests=%lu seconds=%.3f "
	       "last_success_seconds=%.3f\n", run->count, run->count - failed, failed, sensors,
	       run->requests, seconds, run->last_success);
}

int
main(int argc, char **argv)
{
	struct run run = { 0 };
	struct slot *slots;
	CURLM *multi;
	int connections, running, queued, active;
	bool failed = false;

	if (argc < 7 || argc > 8) {
		fprintf(stderr, "usage: bmcref BMC_FILE USER PASSWORD_FILE PIN CONNECTIONS "
			"TIMEOUT_MS [VALUES_FILE]\n");
		return 2;
	}
	connections = atoi(argv[5]);
	run.timeout_ms = atol(argv[6]);
	if (connections < 1 || connections > MAX_CONNECTIONS || run.timeout_ms < 1) {
		fprintf(stderr, "bmcref: CONNECTIONS must be 1 to %d and TIMEOUT_MS positive\n",
			MAX_CONNECTIONS);
		return 2;
	}
	run.user = argv[2];
	run.pin = argv[4];
	if (bmcs_load(&run, argv[1]) < 0 || password_load(&run, argv[3]) < 0)
		return 2;
	if (argc == 8 && (run.values = fopen(argv[7], "we")) == NULL) {
		fprintf(stderr, "bmcref: cannot create %s\n", argv[7]);
		return 2;
	}
	raise_fd_limit();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	multi = curl_multi_init();
	slots = calloc((size_t)connections, sizeof(*slots));
	if (multi == NULL || slots == NULL)
		return 2;

	run.start = now_seconds();
	for (int i = 0; i < connections; i++) {
		slots[i].easy = curl_easy_init();
		if (slots[i].easy == NULL)
			return 2;
		slot_start(&run, multi, &slots[i]);
	}
	/* A slot keeps its BMC until the BMC is done, so the run ends when all are idle. */
	for (;;) {
		CURLMsg *msg;

		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &queued)) != NULL)
			if (msg->msg == CURLMSG_DONE)
				transfer_done(&run, multi, msg);
		active = 0;
		for (int i = 0; i < connections; i++)
			active += slots[i].bmc != NULL;
		if (active == 0)
			break;
		curl_multi_poll(multi, NULL, 0, 100, NULL);
	}
	report(&run, now_seconds() - run.start);

	for (size_t i = 0; i < run.count; i++)
		failed = failed || run.bmcs[i].failed;
	for (int i = 0; i < connections; i++) {
		curl_easy_cleanup(slots[i].easy);
		curl_slist_free_all(slots[i].headers);
		free(slots[i].body);
	}
	free(slots);
	free(run.bmcs);
	explicit_bzero(run.password, sizeof(run.password));
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	if (run.values != NULL)
		fclose(run.values);
	return failed ? 1 : 0;
}
