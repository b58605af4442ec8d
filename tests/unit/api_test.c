/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api tests: a real HTTPS listener and unix socket serve api_handle over a temporary
 * store, and libcurl drives them as the CLI would. Each test gets a fresh store with
 * an admin token from api_bootstrap_token plus an operator and a viewer token. The
 * first test checks the route table against the embedded OpenAPI document in both
 * directions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "api/api-internal.h"
#include "log/log.h"

/* The listeners' body ceiling; the 413 test sends twice as much. */
#define TEST_MAX_BODY (1024 * 1024)
/* The API's own ceiling, set lower than the listener's so tests reach both checks. */
#define TEST_API_MAX_BODY (512 * 1024)
#define TEST_REPLY_MAX (16 * 1024 * 1024)
#define TEST_OPERATOR_SECRET "operator-secret-for-tests"
#define TEST_VIEWER_SECRET "viewer-secret-for-tests"

enum via {
	VIA_HTTPS,
	VIA_UNIX,
};

struct reply {
	long status;
	struct buf body;
	json_t *json;             /* the body decoded, NULL when it is not JSON */
	char location[256];
	char allow[128];
	char authenticate[64];
};

struct fixture {
	char dir[64];
	char db_path[128];
	char socket_path[128];
	char token_path[128];
	struct store *st;          /* the test's own connection, for setup and checks */
	struct store_pool *pool;
	struct api *api;
	struct http_server *https;
	struct http_server *local;
	char base_url[64];
	char admin[128];
	CURL *curl_https;
	CURL *curl_unix;
};

/* One TLS certificate for the whole run: generating it per test costs time. */
static char tls_dir[64];
static char ca_path[128];
static char *tls_cert;
static char *tls_key;

/* Helpers. */

static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
remove_tree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static size_t
body_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;

	if (buf_append(&r->body, data, size * nmemb) < 0)
		return 0;
	return size * nmemb;
}

/* Keep the few reply headers the tests look at. */
static size_t
header_write(char *data, size_t size, size_t nmemb, void *arg)
{
	static const struct {
		const char *name;
		size_t offset;
		size_t size;
	} wanted[] = {
		{ "Location:", offsetof(struct reply, location), sizeof(((struct reply *)0)->location) },
		{ "Allow:", offsetof(struct reply, allow), sizeof(((struct reply *)0)->allow) },
		{ "WWW-Authenticate:", offsetof(struct reply, authenticate),
		  sizeof(((struct reply *)0)->authenticate) },
	};
	struct reply *r = arg;
	size_t len = size * nmemb;

	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		size_t name_len = strlen(wanted[i].name);
		char *out = (char *)r + wanted[i].offset;
		size_t value_len;
		const char *value;

		if (len <= name_len || strncasecmp(data, wanted[i].name, name_len) != 0)
			continue;
		value = data + name_len;
		value_len = len - name_len;
		while (value_len > 0 && *value == ' ') {
			value++;
			value_len--;
		}
		while (value_len > 0 && (value[value_len - 1] == '\r' || value[value_len - 1] == '\n'))
			value_len--;
		if (value_len >= wanted[i].size)
			value_len = wanted[i].size - 1;
		memcpy(out, value, value_len);
		out[value_len] = '\0';
	}
	return len;
}

static void
reply_clear(struct reply *r)
{
	buf_free(&r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/* Send one request and decode the reply. `token` NULL sends no Authorization header. */
static void
request(struct fixture *f, enum via via, const char *token, const char *method,
	const char *path, const char *content_type, const char *body, size_t len,
	struct reply *r)
{
	CURL *curl = via == VIA_UNIX ? f->curl_unix : f->curl_https;
	struct curl_slist *headers = NULL;
	char url[1024], line[512];
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body, TEST_REPLY_MAX);

	/* Reset keeps the open connection, so a run of requests shares one TLS session. */
	curl_easy_reset(curl);
	if (via == VIA_UNIX) {
		curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, f->socket_path);
		snprintf(url, sizeof(url), "http://localhost%s", path);
	} else {
		curl_easy_setopt(curl, CURLOPT_CAINFO, ca_path);
		snprintf(url, sizeof(url), "%s%s", f->base_url, path);
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}

	/* "Content-Type:" with no value removes the form type curl adds to bodies. */
	snprintf(line, sizeof(line), "Content-Type:%s%s", content_type != NULL ? " " : "",
		 content_type != NULL ? content_type : "");
	headers = curl_slist_append(headers, line);
	if (token != NULL) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
		headers = curl_slist_append(headers, line);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_write);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);

	rc = curl_easy_perform(curl);
	curl_slist_free_all(headers);
	if (rc != CURLE_OK)
		print_message("%s %s: %s\n", method, path, curl_easy_strerror(rc));
	assert_int_equal(rc, CURLE_OK);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);

	if (r->body.len > 0)
		r->json = json_loadb(r->body.data, r->body.len, 0, NULL);
}

/* A request as admin over HTTPS; a body is sent as application/json. */
static long
call(struct fixture *f, const char *method, const char *path, const char *body, struct reply *r)
{
	request(f, VIA_HTTPS, f->admin, method, path, body != NULL ? "application/json" : NULL,
		body, body != NULL ? strlen(body) : 0, r);
	return r->status;
}

/* A request with a given token over HTTPS. */
static long
call_as(struct fixture *f, const char *token, const char *method, const char *path,
	const char *body, struct reply *r)
{
	request(f, VIA_HTTPS, token, method, path, body != NULL ? "application/json" : NULL,
		body, body != NULL ? strlen(body) : 0, r);
	return r->status;
}

/* A string member of a reply object, or "(missing)". */
static const char *
jstr(const json_t *obj, const char *key)
{
	const char *value = json_string_value(json_object_get(obj, key));

	return value != NULL ? value : "(missing)";
}

/* An integer member of a reply object, or -1. */
static long long
jint(const json_t *obj, const char *key)
{
	const json_t *value = json_object_get(obj, key);

	return json_is_integer(value) ? (long long)json_integer_value(value) : -1;
}

/* Show a reply body when a status check is about to fail. */
#define assert_status(r, expected) \
	do { \
		if ((r)->status != (expected)) \
			print_message("reply %ld: %s\n", (r)->status, \
				      (r)->body.data != NULL ? (r)->body.data : ""); \
		assert_int_equal((r)->status, (expected)); \
	} while (0)

/* Check an error reply: status, code, and a detail that names `needle`. */
#define assert_error(r, expected_status, code, needle) \
	do { \
		assert_status(r, expected_status); \
		assert_non_null((r)->json); \
		assert_string_equal(jstr((r)->json, "error"), code); \
		if (strstr(jstr((r)->json, "detail"), needle) == NULL) \
			print_message("detail \"%s\" lacks \"%s\"\n", jstr((r)->json, "detail"), \
				      needle); \
		assert_non_null(strstr(jstr((r)->json, "detail"), needle)); \
	} while (0)

static int64_t
audit_count(struct fixture *f)
{
	char hash[SHA256_HEX_SIZE];
	int64_t seq = -1;

	assert_int_equal(store_audit_tail(f->st, &seq, hash), 0);
	return seq;
}

static int
audit_copy_last(const struct audit_entry *e, void *arg)
{
	json_t **out = arg;

	json_decref(*out);
	*out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?}", "actor", e->actor, "action",
			 e->action, "target", e->target, "risk", e->risk, "outcome", e->outcome,
			 "detail", e->detail);
	return 0;
}

/* Check that exactly one audit entry was added since `before` and what it records. */
#define assert_audited(f, before, action, target, outcome_prefix) \
	do { \
		json_t *last_ = NULL; \
		assert_int_equal(audit_count(f), (before) + 1); \
		assert_int_equal(store_audit_list((f)->st, (before), 1, audit_copy_last, &last_), 0); \
		assert_non_null(last_); \
		assert_string_equal(jstr(last_, "action"), action); \
		assert_string_equal(jstr(last_, "target"), target); \
		assert_int_equal(strncmp(jstr(last_, "outcome"), outcome_prefix, \
					 strlen(outcome_prefix)), 0); \
		json_decref(last_); \
	} while (0)

static void
token_add(struct fixture *f, const char *name, const char *role, const char *secret)
{
	char hash[SHA256_HEX_SIZE];
	int64_t id;

	sha256_hex(secret, strlen(secret), hash);
	assert_int_equal(store_token_insert(f->st, name, role, hash, &id), 0);
}

/* Create a machine with one MAC and return its id. */
static long long
machine_add(struct fixture *f, const char *mac, const char *extra)
{
	char body[1024];
	struct reply r;
	long long id;

	snprintf(body, sizeof(body), "{\"macs\": [\"%s\"]%s%s}", mac, extra[0] ? ", " : "",
		 extra);
	call(f, "POST", "/api/v1/machines", body, &r);
	assert_status(&r, 201);
	id = jint(r.json, "id");
	reply_clear(&r);
	return id;
}

static void
profile_add(struct fixture *f, const char *name)
{
	char body[256];
	struct reply r;

	snprintf(body, sizeof(body), "{\"name\": \"%s\", \"image\": \"debian-12.img\", "
		 "\"kernel\": \"vmlinuz\", \"initrd\": \"initrd.img\"}", name);
	call(f, "POST", "/api/v1/profiles", body, &r);
	assert_status(&r, 201);
	reply_clear(&r);
}

/* Fixtures. */

static int
group_setup(void **state)
{
	(void)state;
	log_setup(LOG_LEVEL_WARNING, LOG_TARGET_STDERR);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;

	snprintf(tls_dir, sizeof(tls_dir), "/tmp/api_test_tls.XXXXXX");
	if (mkdtemp(tls_dir) == NULL)
		return -1;
	snprintf(ca_path, sizeof(ca_path), "%s/tls/cert.pem", tls_dir);
	return http_tls_load(tls_dir, "", "", &tls_cert, &tls_key) < 0 ? -1 : 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	free(tls_cert);
	free(tls_key);
	remove_tree(tls_dir);
	curl_global_cleanup();
	return 0;
}

static int
read_token(const char *path, char *out, size_t size)
{
	FILE *file = fopen(path, "r");
	size_t len;

	if (file == NULL)
		return -1;
	len = fread(out, 1, size - 1, file);
	fclose(file);
	out[len] = '\0';
	if (len > 0 && out[len - 1] == '\n')
		out[len - 1] = '\0';
	return 0;
}

static int
setup(void **state)
{
	struct conf conf = { .http_max_body_bytes = TEST_API_MAX_BODY };
	struct http_listener_config cfg = {
		.kind = HTTP_LISTENER_API,
		.listen = "127.0.0.1:0",
		.cert_pem = tls_cert,
		.key_pem = tls_key,
		.threads = 2,
		.max_connections = 32,
		.max_header_bytes = 16 * 1024,
		.max_body_bytes = TEST_MAX_BODY,
		.timeout_seconds = 30,
		.handler = api_handle,
		.precheck = api_precheck,
	};
	struct fixture *f;

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/api_test.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->db_path, sizeof(f->db_path), "%s/outpost.db", f->dir);
	snprintf(f->socket_path, sizeof(f->socket_path), "%s/api.sock", f->dir);
	snprintf(f->token_path, sizeof(f->token_path), "%s/secrets/admin.token", f->dir);

	/* The artifacts profile_add names, so that machines can deploy with it. */
	conf.artifact_dir = f->dir;
	for (size_t i = 0; i < 3; i++) {
		static const char *const files[] = { "vmlinuz", "initrd.img", "debian-12.img" };
		char path[128];
		FILE *file;

		snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
		file = fopen(path, "w");
		if (file == NULL || fclose(file) != 0)
			return -1;
	}

	/* The test's own connection migrates the schema before the pool opens any. */
	if (store_open(f->db_path, false, &f->st) < 0 || store_pool_new(f->db_path, &f->pool) < 0)
		return -1;
	if (api_new(&conf, f->pool, &f->api) < 0)
		return -1;

	if (api_bootstrap_token(f->st, f->token_path) < 0 ||
	    read_token(f->token_path, f->admin, sizeof(f->admin)) < 0)
		return -1;
	token_add(f, "ops", "operator", TEST_OPERATOR_SECRET);
	token_add(f, "auditor", "viewer", TEST_VIEWER_SECRET);

	cfg.ctx = f->api;
	if (http_start(&cfg, &f->https) < 0)
		return -1;
	cfg.kind = HTTP_LISTENER_UNIX;
	cfg.listen = f->socket_path;
	cfg.cert_pem = NULL;
	cfg.key_pem = NULL;
	if (http_start(&cfg, &f->local) < 0)
		return -1;
	snprintf(f->base_url, sizeof(f->base_url), "https://127.0.0.1:%u",
		 (unsigned)http_port(f->https));

	f->curl_https = curl_easy_init();
	f->curl_unix = curl_easy_init();
	if (f->curl_https == NULL || f->curl_unix == NULL)
		return -1;

	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	curl_easy_cleanup(f->curl_https);
	curl_easy_cleanup(f->curl_unix);
	http_stop(f->https);
	http_stop(f->local);
	api_free(f->api);
	store_pool_free(f->pool);
	store_close(f->st);
	remove_tree(f->dir);
	free(f);
	return 0;
}

/* OpenAPI. */

static void
openapi_routes_match(void **state)
{
	const struct api_route *routes;
	json_t *doc, *paths, *item, *op;
	const char *path, *method;
	json_error_t error;
	size_t count;

	(void)state;
	doc = json_loads(api_openapi_json(), 0, &error);
	if (doc == NULL)
		fail_msg("openapi.json does not parse: %s at line %d", error.text, error.line);
	assert_string_equal(jstr(doc, "openapi"), "3.0.3");
	paths = json_object_get(doc, "paths");
	assert_true(json_is_object(paths));
	routes = api_routes(&count);
	assert_true(count > 0);

	/* Every route of the table is documented, with its auth and its action. */
	for (size_t i = 0; i < count; i++) {
		char lower[16];
		size_t n;

		for (n = 0; routes[i].method[n] != '\0' && n < sizeof(lower) - 1; n++)
			lower[n] = (char)(routes[i].method[n] | 0x20);
		lower[n] = '\0';
		op = json_object_get(json_object_get(paths, routes[i].pattern), lower);
		if (op == NULL)
			fail_msg("route %s %s is missing from openapi.json", routes[i].method,
				 routes[i].pattern);
		if (routes[i].public != (json_array_size(json_object_get(op, "security")) == 0 &&
					 json_object_get(op, "security") != NULL))
			fail_msg("route %s %s: public is %d but openapi.json security differs",
				 routes[i].method, routes[i].pattern, routes[i].public);
		if (routes[i].changes != (json_object_get(op, "x-outpost-action") != NULL))
			fail_msg("route %s %s: changes is %d but x-outpost-action differs",
				 routes[i].method, routes[i].pattern, routes[i].changes);
	}

	/* Every documented operation has a route. */
	json_object_foreach(paths, path, item) {
		json_object_foreach(item, method, op) {
			bool found = false;

			if (strcmp(method, "parameters") == 0 || strcmp(method, "summary") == 0 ||
			    strcmp(method, "description") == 0)
				continue;
			for (size_t i = 0; i < count; i++) {
				if (strcmp(routes[i].pattern, path) == 0 &&
				    strcasecmp(routes[i].method, method) == 0)
					found = true;
			}
			if (!found)
				fail_msg("openapi.json %s %s has no route in the table", method, path);
		}
	}

	json_decref(doc);
}

static void
openapi_bodies_closed(void **state)
{
	json_t *doc, *schemas, *schema;
	const char *name;

	(void)state;
	doc = json_loads(api_openapi_json(), 0, NULL);
	assert_non_null(doc);
	assert_string_equal(jstr(json_object_get(json_object_get(json_object_get(doc,
		"components"), "securitySchemes"), "bearerAuth"), "scheme"), "bearer");
	assert_non_null(json_object_get(json_object_get(json_object_get(doc, "components"),
							"schemas"), "Error"));

	/* Every object schema rejects unknown properties, as the decoder does. */
	schemas = json_object_get(json_object_get(doc, "components"), "schemas");
	json_object_foreach(schemas, name, schema) {
		if (!json_is_false(json_object_get(schema, "additionalProperties")))
			fail_msg("schema %s lacks additionalProperties: false", name);
	}
	json_decref(doc);
}

static void
openapi_served_without_token(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	request(f, VIA_HTTPS, NULL, "GET", "/api/v1/openapi.json", NULL, NULL, 0, &r);
	assert_status(&r, 200);
	assert_int_equal(r.body.len, strlen(api_openapi_json()));
	assert_memory_equal(r.body.data, api_openapi_json(), r.body.len);
	reply_clear(&r);
}

/* Routing and authentication. */

static void
route_unknown_404(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	call(f, "GET", "/api/v1/nothing", NULL, &r);
	assert_error(&r, 404, "not_found", "openapi.json");
	reply_clear(&r);

	call(f, "GET", "/api/v1/machines/", NULL, &r);
	assert_error(&r, 404, "not_found", "no API route");
	reply_clear(&r);
}

static void
route_method_405(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	call(f, "PUT", "/api/v1/machines", "{}", &r);
	assert_error(&r, 405, "method_not_allowed", "PUT");
	assert_string_equal(r.allow, "GET, POST");
	reply_clear(&r);
}

static void
auth_missing_token_401(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	request(f, VIA_HTTPS, NULL, "GET", "/api/v1/machines", NULL, NULL, 0, &r);
	assert_error(&r, 401, "unauthorized", "Authorization");
	assert_string_equal(r.authenticate, "Bearer");
	reply_clear(&r);
}

static void
auth_bad_token_401(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	call_as(f, "not-a-token", "GET", "/api/v1/machines", NULL, &r);
	assert_error(&r, 401, "unauthorized", "not valid");
	reply_clear(&r);
}

static void
auth_token_trailing_space(void **state)
{
	struct fixture *f = *state;
	char token[256];
	struct reply r;

	/* Spaces and tabs after the token are optional whitespace, not part of it. */
	snprintf(token, sizeof(token), "%s \t ", f->admin);
	call_as(f, token, "GET", "/api/v1/machines", NULL, &r);
	assert_status(&r, 200);
	reply_clear(&r);

	snprintf(token, sizeof(token), "%s x", f->admin);
	call_as(f, token, "GET", "/api/v1/machines", NULL, &r);
	assert_error(&r, 401, "unauthorized", "not valid");
	reply_clear(&r);
}

static void
auth_two_headers_400(void **state)
{
	struct fixture *f = *state;
	struct curl_slist *headers = NULL;
	char url[1024], line[512];
	struct reply r;

	memset(&r, 0, sizeof(r));
	buf_init(&r.body, TEST_REPLY_MAX);
	curl_easy_reset(f->curl_https);
	curl_easy_setopt(f->curl_https, CURLOPT_CAINFO, ca_path);
	snprintf(url, sizeof(url), "%s/api/v1/machines", f->base_url);
	curl_easy_setopt(f->curl_https, CURLOPT_URL, url);

	/* The second credential is valid too; which one counts would be a guess. */
	snprintf(line, sizeof(line), "Authorization: Bearer %s", f->admin);
	headers = curl_slist_append(headers, line);
	headers = curl_slist_append(headers, "Authorization: Bearer " TEST_VIEWER_SECRET);
	curl_easy_setopt(f->curl_https, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(f->curl_https, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(f->curl_https, CURLOPT_WRITEDATA, &r);
	assert_int_equal(curl_easy_perform(f->curl_https), CURLE_OK);
	curl_slist_free_all(headers);
	curl_easy_getinfo(f->curl_https, CURLINFO_RESPONSE_CODE, &r.status);
	r.json = json_loadb(r.body.data, r.body.len, 0, NULL);
	assert_error(&r, 400, "bad_request", "more than one Authorization");
	reply_clear(&r);
}

/*
 * Send a request line and headers announcing a body over the unix socket, send no
 * body, and return the reply's status line: the precheck replies before the body.
 */
static void
precheck_status_line(struct fixture *f, const char *head, char *out, size_t size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval timeout = { .tv_sec = 3 };
	size_t used = 0;
	ssize_t n;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memcpy(sun.sun_path, f->socket_path, strlen(f->socket_path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)), 0);
	assert_int_equal(send(fd, head, strlen(head), 0), (ssize_t)strlen(head));
	out[0] = '\0';
	while (used + 1 < size && strstr(out, "\r\n") == NULL &&
	       (n = recv(fd, out + used, size - 1 - used, 0)) > 0) {
		used += (size_t)n;
		out[used] = '\0';
	}
	close(fd);
	out[strcspn(out, "\r")] = '\0';
}

static void
precheck_before_body(void **state)
{
	struct fixture *f = *state;
	char line[256];

	precheck_status_line(f, "POST /api/v1/nothing HTTP/1.1\r\nHost: x\r\n"
			     "Content-Length: 1000\r\n\r\n", line, sizeof(line));
	assert_string_equal(line, "HTTP/1.1 404 Not Found");
	precheck_status_line(f, "PUT /api/v1/machines HTTP/1.1\r\nHost: x\r\n"
			     "Content-Length: 1000\r\n\r\n", line, sizeof(line));
	assert_string_equal(line, "HTTP/1.1 405 Method Not Allowed");
}

static void
auth_viewer_reads_only(void **state)
{
	struct fixture *f = *state;
	int64_t before;
	struct reply r;

	call_as(f, TEST_VIEWER_SECRET, "GET", "/api/v1/machines", NULL, &r);
	assert_status(&r, 200);
	reply_clear(&r);

	before = audit_count(f);
	call_as(f, TEST_VIEWER_SECRET, "POST", "/api/v1/machines",
		"{\"macs\": [\"52:54:00:00:00:01\"]}", &r);
	assert_error(&r, 403, "forbidden", "viewer");
	reply_clear(&r);
	assert_int_equal(audit_count(f), before);

	call(f, "GET", "/api/v1/machines", NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
	reply_clear(&r);
}

static void
auth_operator_changes(void **state)
{
	struct fixture *f = *state;
	int64_t before = audit_count(f);
	struct reply r;

	call_as(f, TEST_OPERATOR_SECRET, "POST", "/api/v1/machines",
		"{\"macs\": [\"52:54:00:00:00:02\"]}", &r);
	assert_status(&r, 201);
	reply_clear(&r);

	call(f, "GET", "/api/v1/audit?after=0&limit=1000", NULL, &r);
	assert_status(&r, 200);
	assert_string_equal(jstr(json_array_get(json_object_get(r.json, "items"), (size_t)before),
				 "actor"), "token:ops");
	reply_clear(&r);
}

static void
auth_unix_socket_no_token(void **state)
{
	struct fixture *f = *state;
	const char *body = "{\"macs\": [\"52:54:00:00:00:03\"]}";
	int64_t before = audit_count(f);
	char actor[64];
	struct reply r;

	request(f, VIA_UNIX, NULL, "POST", "/api/v1/machines", "application/json", body,
		strlen(body), &r);
	assert_status(&r, 201);
	reply_clear(&r);

	request(f, VIA_UNIX, NULL, "GET", "/api/v1/audit", NULL, NULL, 0, &r);
	assert_status(&r, 200);
	snprintf(actor, sizeof(actor), "local:uid=%u", (unsigned)geteuid());
	assert_string_equal(jstr(json_array_get(json_object_get(r.json, "items"), (size_t)before),
				 "actor"), actor);
	reply_clear(&r);
}

static void
bootstrap_token_file(void **state)
{
	struct fixture *f = *state;
	char dir[160], again[128];
	struct stat st;
	int64_t count;

	/* The secret is 64 hex digits plus a newline in a 0600 file in a 0700 directory. */
	assert_int_equal(stat(f->token_path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 65);
	assert_int_equal(strlen(f->admin), 64);
	assert_int_equal(strspn(f->admin, "0123456789abcdef"), 64);
	snprintf(dir, sizeof(dir), "%s/secrets", f->dir);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	/* With tokens in the store a second call changes nothing. */
	assert_int_equal(api_bootstrap_token(f->st, f->token_path), 0);
	assert_int_equal(read_token(f->token_path, again, sizeof(again)), 0);
	assert_string_equal(again, f->admin);
	assert_int_equal(store_token_count(f->st, &count), 0);
	assert_int_equal(count, 3);

	/* A missing file is not written again while tokens exist. */
	assert_int_equal(unlink(f->token_path), 0);
	assert_int_equal(api_bootstrap_token(f->st, f->token_path), 0);
	assert_int_equal(access(f->token_path, F_OK), -1);
}

/* Status. */

static void
status_counts(void **state)
{
	struct fixture *f = *state;
	json_t *machines;
	struct reply r;
	long long id;

	id = machine_add(f, "52:54:00:00:00:10", "");
	machine_add(f, "52:54:00:00:00:11", "");
	profile_add(f, "debian-12");
	call(f, "PUT", "/api/v1/machines/52:54:00:00:00:10/profile", "{\"profile\": \"debian-12\"}",
	     &r);
	reply_clear(&r);
	call(f, "POST", "/api/v1/machines/52:54:00:00:00:10/deploy", NULL, &r);
	assert_int_equal(jint(r.json, "id"), id);
	reply_clear(&r);

	call(f, "GET", "/api/v1/status", NULL, &r);
	assert_status(&r, 200);
	assert_string_equal(jstr(r.json, "version"), OUTPOST_VERSION);
	assert_true(jint(r.json, "uptime_seconds") >= 0);
	assert_int_equal(jint(r.json, "schema_version"), store_schema_version(f->st));
	assert_int_equal(jint(r.json, "audit_entries"), audit_count(f));
	machines = json_object_get(r.json, "machines");
	assert_int_equal(json_object_size(machines), MACHINE_STATE_MAX);
	assert_int_equal(jint(machines, "ready"), 1);
	assert_int_equal(jint(machines, "deploying"), 1);
	assert_int_equal(jint(machines, "discovered"), 0);
	assert_int_equal(jint(machines, "decommissioning"), 0);
	reply_clear(&r);
}

/* Machines. */

static void
machine_create_all_fields(void **state)
{
	struct fixture *f = *state;
	int64_t before;
	char target[64];
	json_t *inventory;
	struct reply r;

	profile_add(f, "debian-12");
	before = audit_count(f);
	call(f, "POST", "/api/v1/machines",
	     "{\"macs\": [\"52-54-00-AB-CD-EF\", \"525400abcdf0\"],"
	     " \"uuid\": \"{4C4C4544-0042-3510-8052-B4C04F4E3632}\","
	     " \"serial\": \"SN123\", \"vendor\": \"Dell Inc.\", \"model\": \"R650\","
	     " \"arch\": \"x86_64\", \"platform\": \"efi\", \"hostname\": \"Web1.Example.\","
	     " \"ip\": \"2001:DB8:0:0::1\", \"profile\": \"debian-12\","
	     " \"inventory\": {\"cpus\": 2, \"disks\": [\"sda\"]}}", &r);
	assert_status(&r, 201);
	assert_true(jint(r.json, "id") > 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "macs"), 0)),
			    "52:54:00:ab:cd:ef");
	assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "macs"), 1)),
			    "52:54:00:ab:cd:f0");
	assert_string_equal(jstr(r.json, "uuid"), "4c4c4544-0042-3510-8052-b4c04f4e3632");
	assert_string_equal(jstr(r.json, "serial"), "SN123");
	assert_string_equal(jstr(r.json, "vendor"), "Dell Inc.");
	assert_string_equal(jstr(r.json, "model"), "R650");
	assert_string_equal(jstr(r.json, "arch"), "x86_64");
	assert_string_equal(jstr(r.json, "platform"), "efi");
	assert_string_equal(jstr(r.json, "state"), "ready");
	assert_string_equal(jstr(r.json, "profile"), "debian-12");
	assert_string_equal(jstr(r.json, "ip"), "2001:db8::1");
	assert_string_equal(jstr(r.json, "hostname"), "web1.example");
	inventory = json_object_get(r.json, "inventory");
	assert_int_equal(jint(inventory, "cpus"), 2);
	assert_int_equal(strlen(jstr(r.json, "created_at")), 20);
	snprintf(target, sizeof(target), "/api/v1/machines/%lld", jint(r.json, "id"));
	assert_string_equal(r.location, target);
	snprintf(target, sizeof(target), "machine:%lld", jint(r.json, "id"));
	reply_clear(&r);

	assert_audited(f, before, "machine.create", target, "ok");
}

static void
machine_create_minimal_nulls(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	call(f, "POST", "/api/v1/machines", "{\"macs\": [\"52:54:00:00:00:20\"], \"uuid\": null}",
	     &r);
	assert_status(&r, 201);
	assert_true(json_is_null(json_object_get(r.json, "uuid")));
	assert_true(json_is_null(json_object_get(r.json, "profile")));
	assert_true(json_is_null(json_object_get(r.json, "ip")));
	assert_true(json_is_null(json_object_get(r.json, "hostname")));
	assert_true(json_is_null(json_object_get(r.json, "inventory")));
	assert_string_equal(jstr(r.json, "serial"), "");
	reply_clear(&r);
}

static void
machine_get_by_id_and_mac(void **state)
{
	static const char *const refs[] = {
		"52:54:00:12:34:56", "52-54-00-12-34-56", "525400123456", "52:54:00:12:34:56",
	};
	struct fixture *f = *state;
	char path[128];
	struct reply r;
	long long id;

	id = machine_add(f, "52:54:00:12:34:56", "\"hostname\": \"db1\"");

	snprintf(path, sizeof(path), "/api/v1/machines/%lld", id);
	call(f, "GET", path, NULL, &r);
	assert_status(&r, 200);
	assert_string_equal(jstr(r.json, "hostname"), "db1");
	reply_clear(&r);

	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		snprintf(path, sizeof(path), "/api/v1/machines/%s", refs[i]);
		call(f, "GET", path, NULL, &r);
		assert_status(&r, 200);
		assert_int_equal(jint(r.json, "id"), id);
		reply_clear(&r);
	}

	call(f, "GET", "/api/v1/machines/52:54:00:99:99:99", NULL, &r);
	assert_error(&r, 404, "not_found", "52:54:00:99:99:99");
	reply_clear(&r);
	call(f, "GET", "/api/v1/machines/4242", NULL, &r);
	assert_error(&r, 404, "not_found", "4242");
	reply_clear(&r);
	call(f, "GET", "/api/v1/machines/web-1", NULL, &r);
	assert_error(&r, 400, "invalid_field", "web-1");
	reply_clear(&r);
}

static void
machine_list_filters(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	long long a, b;

	profile_add(f, "debian-12");
	a = machine_add(f, "52:54:00:00:01:01", "\"hostname\": \"alpha\", \"profile\": \"debian-12\"");
	b = machine_add(f, "52:54:00:00:01:02", "\"hostname\": \"beta\"");

	call(f, "GET", "/api/v1/machines?profile=debian-12", NULL, &r);
	assert_status(&r, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
	assert_int_equal(jint(json_array_get(json_object_get(r.json, "items"), 0), "id"), a);
	assert_string_equal(jstr(json_array_get(json_object_get(r.json, "items"), 0), "profile"),
			    "debian-12");
	assert_true(json_is_null(json_object_get(r.json, "next")));
	reply_clear(&r);

	call(f, "GET", "/api/v1/machines?hostname=BETA", NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
	assert_int_equal(jint(json_array_get(json_object_get(r.json, "items"), 0), "id"), b);
	reply_clear(&r);

	call(f, "GET", "/api/v1/machines?mac=52-54-00-00-01-02", NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
	assert_int_equal(jint(json_array_get(json_object_get(r.json, "items"), 0), "id"), b);
	reply_clear(&r);

	call(f, "GET", "/api/v1/machines?state=ready", NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
	reply_clear(&r);

	call(f, "GET", "/api/v1/machines?state=deployed", NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
	reply_clear(&r);

	call(f, "GET", "/api/v1/machines?profile=missing", NULL, &r);
	assert_error(&r, 404, "not_found", "missing");
	reply_clear(&r);
}

static void
machine_paging_250(void **state)
{
	struct fixture *f = *state;
	static bool seen[251];
	char mac[MAC_TEXT_SIZE], path[128];
	long long after = 0, ids[251];
	size_t pages = 0, total = 0;
	struct reply r;

	memset(seen, 0, sizeof(seen));
	for (int i = 1; i <= 250; i++) {
		snprintf(mac, sizeof(mac), "52:54:00:01:%02x:%02x", i / 256, i % 256);
		ids[i] = machine_add(f, mac, "");
	}

	/* Walk the pages the way a client does, following "next" until it is null. */
	for (;;) {
		json_t *items, *item;
		size_t index;

		snprintf(path, sizeof(path), "/api/v1/machines?limit=100&after=%lld", after);
		call(f, "GET", path, NULL, &r);
		assert_status(&r, 200);
		items = json_object_get(r.json, "items");
		pages++;
		json_array_foreach(items, index, item) {
			long long id = jint(item, "id");

			assert_true(id >= ids[1] && id <= ids[250]);
			assert_false(seen[id - ids[1] + 1]);
			seen[id - ids[1] + 1] = true;
			total++;
		}
		if (json_is_null(json_object_get(r.json, "next"))) {
			assert_int_equal(json_array_size(items), 50);
			reply_clear(&r);
			break;
		}
		assert_int_equal(json_array_size(items), 100);
		after = jint(r.json, "next");
		assert_int_equal(after, jint(json_array_get(items, 99), "id"));
		reply_clear(&r);
	}
	assert_int_equal(pages, 3);
	assert_int_equal(total, 250);

	call(f, "GET", "/api/v1/machines", NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), API_PAGE_DEFAULT);
	reply_clear(&r);
}

static void
machine_patch_fields(void **state)
{
	struct fixture *f = *state;
	char path[128], target[64];
	json_t *entry;
	int64_t before;
	char *fields;
	struct reply r;
	long long id;

	id = machine_add(f, "52:54:00:00:02:01", "\"ip\": \"10.0.0.5\", \"inventory\": {\"a\": 1}");
	snprintf(path, sizeof(path), "/api/v1/machines/%lld", id);
	snprintf(target, sizeof(target), "machine:%lld", id);

	before = audit_count(f);
	call(f, "PATCH", path,
	     "{\"hostname\": \"web2\", \"ip\": null, \"inventory\": null, \"serial\": \"X1\","
	     " \"macs\": [\"52:54:00:00:02:02\", \"52:54:00:00:02:01\"]}", &r);
	assert_status(&r, 200);
	assert_string_equal(jstr(r.json, "hostname"), "web2");
	assert_true(json_is_null(json_object_get(r.json, "ip")));
	assert_true(json_is_null(json_object_get(r.json, "inventory")));
	assert_string_equal(jstr(r.json, "serial"), "X1");
	assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "macs"), 0)),
			    "52:54:00:00:02:02");
	assert_string_equal(jstr(r.json, "state"), "ready");
	reply_clear(&r);
	assert_audited(f, before, "machine.update", target, "ok");

	/* The entry's detail lists the fields the PATCH set, in the API's field order. */
	call(f, "GET", "/api/v1/audit?limit=1000", NULL, &r);
	assert_status(&r, 200);
	entry = json_array_get(json_object_get(r.json, "items"), (size_t)before);
	fields = json_dumps(json_object_get(json_object_get(entry, "detail"), "fields"),
			    JSON_COMPACT);
	assert_non_null(fields);
	assert_string_equal(fields, "[\"macs\",\"serial\",\"hostname\",\"ip\",\"inventory\"]");
	free(fields);
	reply_clear(&r);

	/* The stored row matches what the reply showed. */
	call(f, "GET", "/api/v1/machines/52:54:00:00:02:02", NULL, &r);
	assert_string_equal(jstr(r.json, "hostname"), "web2");
	reply_clear(&r);

	before = audit_count(f);
	call(f, "PATCH", path, "{\"state\": \"deployed\"}", &r);
	assert_error(&r, 400, "invalid_field", "\"state\"");
	reply_clear(&r);
	call(f, "PATCH", path, "{\"id\": 7}", &r);
	assert_error(&r, 400, "invalid_field", "\"id\"");
	reply_clear(&r);
	call(f, "PATCH", path, "{\"profile\": \"x\"}", &r);
	assert_error(&r, 400, "invalid_field", "/profile");
	reply_clear(&r);
	assert_int_equal(audit_count(f), before);
}

static void
machine_delete_204(void **state)
{
	struct fixture *f = *state;
	char path[128], target[64];
	int64_t before;
	struct reply r;
	long long id;

	id = machine_add(f, "52:54:00:00:03:01", "");
	snprintf(path, sizeof(path), "/api/v1/machines/%lld", id);
	snprintf(target, sizeof(target), "machine:%lld", id);

	before = audit_count(f);
	call(f, "DELETE", path, NULL, &r);
	assert_status(&r, 204);
	assert_int_equal(r.body.len, 0);
	reply_clear(&r);
	assert_audited(f, before, "machine.delete", target, "ok");

	call(f, "GET", path, NULL, &r);
	assert_error(&r, 404, "not_found", path + strlen("/api/v1/machines/"));
	reply_clear(&r);
}

static void
machine_assign_profile(void **state)
{
	struct fixture *f = *state;
	int64_t before;
	struct reply r;
	long long id;
	char target[64];

	profile_add(f, "debian-12");
	id = machine_add(f, "52:54:00:00:04:01", "");
	snprintf(target, sizeof(target), "machine:%lld", id);

	before = audit_count(f);
	call(f, "PUT", "/api/v1/machines/52:54:00:00:04:01/profile", "{\"profile\": \"debian-12\"}",
	     &r);
	assert_status(&r, 200);
	assert_string_equal(jstr(r.json, "profile"), "debian-12");
	reply_clear(&r);
	assert_audited(f, before, "machine.assign_profile", target, "ok");

	call(f, "PUT", "/api/v1/machines/52:54:00:00:04:01/profile", "{\"profile\": \"ubuntu\"}", &r);
	assert_error(&r, 404, "not_found", "\"ubuntu\"");
	reply_clear(&r);

	call(f, "PUT", "/api/v1/machines/52:54:00:00:04:01/profile", "{}", &r);
	assert_error(&r, 400, "missing_field", "profile");
	reply_clear(&r);

	call(f, "PUT", "/api/v1/machines/52:54:00:00:04:01/profile", "{\"profile\": null}", &r);
	assert_status(&r, 200);
	assert_true(json_is_null(json_object_get(r.json, "profile")));
	reply_clear(&r);
}

static void
machine_deploy_lifecycle(void **state)
{
	struct fixture *f = *state;
	const char *path = "/api/v1/machines/52:54:00:00:05:01/deploy";
	char target[64];
	int64_t before;
	struct reply r;
	long long id;

	profile_add(f, "debian-12");
	id = machine_add(f, "52:54:00:00:05:01", "");
	snprintf(target, sizeof(target), "machine:%lld", id);

	/* No profile yet: 409, recorded as a failed action. */
	before = audit_count(f);
	call(f, "POST", path, NULL, &r);
	assert_error(&r, 409, "conflict", "no profile");
	reply_clear(&r);
	assert_audited(f, before, "machine.deploy", target, "failed");

	before = audit_count(f);
	call(f, "POST", path, "{\"profile\": \"debian-12\"}", &r);
	assert_status(&r, 202);
	assert_string_equal(jstr(r.json, "state"), "deploying");
	assert_string_equal(jstr(r.json, "profile"), "debian-12");
	reply_clear(&r);
	assert_audited(f, before, "machine.deploy", target, "ok");

	call(f, "POST", path, "{}", &r);
	assert_error(&r, 409, "conflict", "deploying");
	reply_clear(&r);

	call(f, "DELETE", "/api/v1/machines/52:54:00:00:05:01", NULL, &r);
	assert_error(&r, 409, "conflict", "deploying");
	reply_clear(&r);

	call(f, "PUT", "/api/v1/machines/52:54:00:00:05:01/profile", "{\"profile\": null}", &r);
	assert_error(&r, 409, "conflict", "deploying");
	reply_clear(&r);

	call(f, "POST", path, "{\"profile\": null}", &r);
	assert_error(&r, 400, "invalid_field", "profile");
	reply_clear(&r);

	call(f, "GET", "/api/v1/machines/52:54:00:00:05:01", NULL, &r);
	assert_string_equal(jstr(r.json, "state"), "deploying");
	reply_clear(&r);
}

static void
machine_duplicates_409(void **state)
{
	static const struct {
		const char *name;
		const char *body;
		const char *needle;
	} cases[] = {
		{ "mac", "{\"macs\": [\"52:54:00:00:06:01\"]}", "52:54:00:00:06:01" },
		{ "hostname", "{\"macs\": [\"52:54:00:00:06:03\"], \"hostname\": \"WEB9\"}", "web9" },
		{ "ip", "{\"macs\": [\"52:54:00:00:06:04\"], \"ip\": \"10.0.0.9\"}", "10.0.0.9" },
	};
	struct fixture *f = *state;
	char owner[64];
	struct reply r;
	long long id;

	id = machine_add(f, "52:54:00:00:06:01", "\"uuid\": \"4c4c4544-0042-3510-8052-b4c04f4e3632\","
			 " \"hostname\": \"web9\", \"ip\": \"10.0.0.9\"");
	snprintf(owner, sizeof(owner), "machine %lld", id);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t before = audit_count(f);

		call(f, "POST", "/api/v1/machines", cases[i].body, &r);
		if (r.status != 409)
			print_message("case %s\n", cases[i].name);
		assert_error(&r, 409, "conflict", owner);
		assert_non_null(strstr(jstr(r.json, "detail"), cases[i].needle));
		reply_clear(&r);
		assert_audited(f, before, "machine.create", "machine:new", "failed");
	}
}

static void
machine_uuid_shared_201(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	/* Boards that share one SMBIOS UUID are still separate machines. */
	machine_add(f, "52:54:00:00:06:11", "\"uuid\": \"03000200-0400-0500-0006-000700080009\"");
	call(f, "POST", "/api/v1/machines", "{\"macs\": [\"52:54:00:00:06:12\"],"
	     " \"uuid\": \"03000200-0400-0500-0006-000700080009\"}", &r);
	assert_status(&r, 201);
	assert_string_equal(jstr(r.json, "uuid"), "03000200-0400-0500-0006-000700080009");
	reply_clear(&r);

	call(f, "PATCH", "/api/v1/machines/52:54:00:00:06:11",
	     "{\"uuid\": \"03000200-0400-0500-0006-000700080009\"}", &r);
	assert_status(&r, 200);
	reply_clear(&r);
}

static void
machine_ip_v4_mapped(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	/* An IPv4-mapped IPv6 address is stored as the IPv4 address it maps. */
	call(f, "POST", "/api/v1/machines",
	     "{\"macs\": [\"52:54:00:00:06:21\"], \"ip\": \"::ffff:10.0.0.21\"}", &r);
	assert_status(&r, 201);
	assert_string_equal(jstr(r.json, "ip"), "10.0.0.21");
	reply_clear(&r);

	call(f, "POST", "/api/v1/machines",
	     "{\"macs\": [\"52:54:00:00:06:22\"], \"ip\": \"10.0.0.21\"}", &r);
	assert_error(&r, 409, "conflict", "IP 10.0.0.21");
	reply_clear(&r);

	/* The other spellings of the same address collide with it too. */
	call(f, "POST", "/api/v1/machines",
	     "{\"macs\": [\"52:54:00:00:06:22\"], \"ip\": \"::FFFF:0a00:0015\"}", &r);
	assert_error(&r, 409, "conflict", "IP 10.0.0.21");
	reply_clear(&r);
	call(f, "POST", "/api/v1/machines",
	     "{\"macs\": [\"52:54:00:00:06:22\"], \"ip\": \"0:0:0:0:0:ffff:10.0.0.21\"}", &r);
	assert_error(&r, 409, "conflict", "IP 10.0.0.21");
	reply_clear(&r);

	/* Other IPv6 addresses that end in an IPv4 address stay IPv6. */
	call(f, "PATCH", "/api/v1/machines/52:54:00:00:06:21", "{\"ip\": \"64:ff9b::10.0.0.21\"}",
	     &r);
	assert_status(&r, 200);
	assert_string_equal(jstr(r.json, "ip"), "64:ff9b::a00:15");
	reply_clear(&r);
}

static void
machine_deploying_macs_409(void **state)
{
	struct fixture *f = *state;
	char needle[64];
	int64_t before;
	struct reply r;
	long long id;

	profile_add(f, "debian-12");
	id = machine_add(f, "52:54:00:00:06:31", "\"profile\": \"debian-12\"");
	call(f, "POST", "/api/v1/machines/52:54:00:00:06:31/deploy", "{}", &r);
	assert_status(&r, 202);
	reply_clear(&r);

	/* The booting server is found by its MACs, so they stay while it deploys. */
	snprintf(needle, sizeof(needle), "machine %lld is deploying", id);
	before = audit_count(f);
	call(f, "PATCH", "/api/v1/machines/52:54:00:00:06:31",
	     "{\"macs\": [\"52:54:00:00:06:32\"]}", &r);
	assert_error(&r, 409, "conflict", needle);
	reply_clear(&r);
	assert_int_equal(audit_count(f), before + 1);
	call(f, "PATCH", "/api/v1/machines/52:54:00:00:06:31",
	     "{\"macs\": [\"52:54:00:00:06:31\", \"52:54:00:00:06:33\"]}", &r);
	assert_error(&r, 409, "conflict", needle);
	reply_clear(&r);

	/* The same list, in any spelling, and other fields may still change. */
	call(f, "PATCH", "/api/v1/machines/52:54:00:00:06:31",
	     "{\"macs\": [\"52-54-00-00-06-31\"], \"hostname\": \"web31\"}", &r);
	assert_status(&r, 200);
	assert_string_equal(jstr(r.json, "hostname"), "web31");
	reply_clear(&r);

	call(f, "GET", "/api/v1/machines/52:54:00:00:06:31", NULL, &r);
	assert_status(&r, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "macs")), 1);
	reply_clear(&r);
}

static void
machine_delete_detail(void **state)
{
	struct fixture *f = *state;
	char target[64], expected[512];
	json_t *last = NULL;
	int64_t before;
	struct reply r;
	long long id;

	id = machine_add(f, "52:54:00:00:06:41", "\"hostname\": \"web41\", \"ip\": \"10.0.0.41\","
			 " \"uuid\": \"4c4c4544-0042-3510-8052-b4c04f4e3641\"");
	call(f, "PATCH", "/api/v1/machines/52:54:00:00:06:41",
	     "{\"macs\": [\"52:54:00:00:06:41\", \"52:54:00:00:06:42\"]}", &r);
	assert_status(&r, 200);
	reply_clear(&r);
	snprintf(target, sizeof(target), "machine:%lld", id);

	/* The entry of a delete keeps what identified the machine, as the row is gone. */
	before = audit_count(f);
	call(f, "DELETE", "/api/v1/machines/52:54:00:00:06:41", NULL, &r);
	assert_status(&r, 204);
	reply_clear(&r);
	assert_audited(f, before, "machine.delete", target, "ok");
	assert_int_equal(store_audit_list(f->st, before, 1, audit_copy_last, &last), 0);
	snprintf(expected, sizeof(expected),
		 "{\"id\":%lld,\"macs\":[\"52:54:00:00:06:41\",\"52:54:00:00:06:42\"],"
		 "\"hostname\":\"web41\",\"ip\":\"10.0.0.41\","
		 "\"uuid\":\"4c4c4544-0042-3510-8052-b4c04f4e3641\"}", id);
	assert_string_equal(jstr(last, "detail"), expected);
	json_decref(last);
	last = NULL;

	/* Empty values are null, and a refused delete is described the same way. */
	profile_add(f, "debian-12");
	id = machine_add(f, "52:54:00:00:06:43", "\"profile\": \"debian-12\"");
	call(f, "POST", "/api/v1/machines/52:54:00:00:06:43/deploy", "{}", &r);
	assert_status(&r, 202);
	reply_clear(&r);
	snprintf(target, sizeof(target), "machine:%lld", id);
	before = audit_count(f);
	call(f, "DELETE", "/api/v1/machines/52:54:00:00:06:43", NULL, &r);
	assert_error(&r, 409, "conflict", "deploying");
	reply_clear(&r);
	assert_audited(f, before, "machine.delete", target, "failed");
	assert_int_equal(store_audit_list(f->st, before, 1, audit_copy_last, &last), 0);
	snprintf(expected, sizeof(expected),
		 "{\"id\":%lld,\"macs\":[\"52:54:00:00:06:43\"],\"hostname\":null,"
		 "\"ip\":null,\"uuid\":null}", id);
	assert_string_equal(jstr(last, "detail"), expected);
	json_decref(last);
}

/* One invalid request per row: the status, the code and a value the detail must name. */
struct invalid_case {
	const char *name;
	const char *method;
	const char *path;
	const char *body;
	long status;
	const char *error;
	const char *needle;
};

static const struct invalid_case invalid_cases[] = {
	{ "bad mac", "POST", "/api/v1/machines", "{\"macs\": [\"52:54:00:zz:00:01\"]}",
	  400, "invalid_field", "52:54:00:zz:00:01" },
	{ "mixed separators", "POST", "/api/v1/machines", "{\"macs\": [\"52:54-00:00:00:01\"]}",
	  400, "invalid_field", "52:54-00:00:00:01" },
	{ "mac twice", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\", \"525400000001\"]}", 400, "invalid_field", "twice" },
	{ "macs empty", "POST", "/api/v1/machines", "{\"macs\": []}", 400, "invalid_field", "macs" },
	{ "macs nine", "POST", "/api/v1/machines",
	  "{\"macs\": [\"02:00:00:00:00:01\", \"02:00:00:00:00:02\", \"02:00:00:00:00:03\","
	  " \"02:00:00:00:00:04\", \"02:00:00:00:00:05\", \"02:00:00:00:00:06\","
	  " \"02:00:00:00:00:07\", \"02:00:00:00:00:08\", \"02:00:00:00:00:09\"]}",
	  400, "invalid_field", "1 to 8" },
	{ "macs string", "POST", "/api/v1/machines", "{\"macs\": \"52:54:00:00:00:01\"}",
	  400, "invalid_field", "array" },
	{ "macs missing", "POST", "/api/v1/machines", "{\"serial\": \"x\"}",
	  400, "missing_field", "macs" },
	{ "mac multicast", "POST", "/api/v1/machines", "{\"macs\": [\"01:00:5e:00:00:01\"]}",
	  400, "invalid_field", "01:00:5e:00:00:01" },
	{ "mac broadcast", "POST", "/api/v1/machines", "{\"macs\": [\"ff:ff:ff:ff:ff:ff\"]}",
	  400, "invalid_field", "ff:ff:ff:ff:ff:ff" },
	{ "mac zero", "POST", "/api/v1/machines", "{\"macs\": [\"00-00-00-00-00-00\"]}",
	  400, "invalid_field", "00-00-00-00-00-00" },
	{ "mac ref multicast", "GET", "/api/v1/machines/33:33:00:00:00:01", NULL,
	  400, "invalid_field", "33:33:00:00:00:01" },
	{ "mac ref bare multicast", "GET", "/api/v1/machines/111111111111", NULL,
	  400, "invalid_field", "\"111111111111\" is not a unicast MAC address" },
	{ "mac filter broadcast", "GET", "/api/v1/machines?mac=ff:ff:ff:ff:ff:ff", NULL,
	  400, "invalid_field", "ff:ff:ff:ff:ff:ff" },
	{ "bad uuid", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"uuid\": \"not-a-uuid\"}",
	  400, "invalid_field", "not-a-uuid" },
	{ "hostname hyphen", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"hostname\": \"-x\"}",
	  400, "invalid_field", "\"-x\"" },
	{ "hostname label 64", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"hostname\":"
	  " \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example\"}",
	  400, "invalid_field", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
	{ "bad ip", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"ip\": \"10.0.0.300\"}",
	  400, "invalid_field", "10.0.0.300" },
	{ "bad arch", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"arch\": \"sparc\"}",
	  400, "invalid_field", "sparc" },
	{ "bad platform", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"platform\": \"uefi\"}",
	  400, "invalid_field", "uefi" },
	{ "serial 129", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"serial\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
	  400, "invalid_field", "\"serial\" is 129 bytes" },
	{ "control character", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"vendor\": \"a\\nb\"}",
	  400, "invalid_field", "\"vendor\"" },
	{ "wrong type", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"serial\": 12}",
	  400, "invalid_field", "\"serial\" must be a string" },
	{ "inventory array", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"inventory\": [1]}",
	  400, "invalid_field", "\"inventory\" must be an object" },
	{ "unknown field", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"colour\": \"red\"}",
	  400, "unknown_field", "\"colour\"" },
	{ "state on create", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"state\": \"deployed\"}",
	  400, "invalid_field", "\"state\"" },
	{ "profile bad name", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"profile\": \"Bad Name\"}",
	  400, "invalid_field", "Bad Name" },
	{ "profile unknown", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"profile\": \"nope\"}",
	  404, "not_found", "\"nope\"" },
	{ "invalid json", "POST", "/api/v1/machines", "{\"macs\": [", 400, "invalid_json", "line 1" },
	{ "array body", "POST", "/api/v1/machines", "[1, 2]", 400, "invalid_json", "an array" },
	{ "duplicate key", "POST", "/api/v1/machines",
	  "{\"macs\": [\"52:54:00:00:00:01\"], \"macs\": [\"52:54:00:00:00:02\"]}",
	  400, "invalid_json", "duplicate" },
	{ "empty body", "POST", "/api/v1/machines", "", 400, "invalid_json", "empty" },
	{ "profile name", "POST", "/api/v1/profiles", "{\"name\": \"Debian\"}",
	  400, "invalid_field", "\"Debian\"" },
	{ "profile name 65", "POST", "/api/v1/profiles",
	  "{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	  400, "invalid_field", "\"name\"" },
	{ "profile no name", "POST", "/api/v1/profiles", "{\"image\": \"x\"}",
	  400, "missing_field", "\"name\"" },
	{ "profile image space", "POST", "/api/v1/profiles", "{\"name\": \"p\", \"image\": \"a b\"}",
	  400, "invalid_field", "\"image\"" },
	{ "profile kernel traversal", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"kernel\": \"../../etc/shadow\"}",
	  400, "invalid_field", "\"kernel\" value \"../../etc/shadow\" is not an artifact reference" },
	{ "profile kernel absolute", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"kernel\": \"/etc/shadow\"}", 400, "invalid_field", "\"/etc/shadow\"" },
	{ "profile kernel url", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"kernel\": \"http://evil.test/k\"}",
	  400, "invalid_field", "\"http://evil.test/k\"" },
	{ "profile initrd encoded", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"initrd\": \"deploy/%2e%2e\"}",
	  400, "invalid_field", "\"initrd\" value \"deploy/%2e%2e\"" },
	{ "profile image hidden", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"image\": \"images/.disk\"}", 400, "invalid_field", "\"images/.disk\"" },
	{ "profile kernel empty", "POST", "/api/v1/profiles", "{\"name\": \"p\", \"kernel\": \"\"}",
	  400, "invalid_field", "\"kernel\" value \"\"" },
	{ "profile kernel null", "POST", "/api/v1/profiles", "{\"name\": \"p\", \"kernel\": null}",
	  400, "invalid_field", "\"kernel\" cannot be null" },
	{ "profile no kernel", "POST", "/api/v1/profiles", "{\"name\": \"p\", \"initrd\": \"a/i\"}",
	  400, "missing_field", "\"kernel\" is required" },
	{ "profile no initrd", "POST", "/api/v1/profiles", "{\"name\": \"p\", \"kernel\": \"a/k\"}",
	  400, "missing_field", "\"initrd\" is required" },
	{ "profile cmdline chain", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"cmdline\": \"quiet && chain http://evil.test/x\"}",
	  400, "invalid_field", "character 0x26 ('&') at byte 6" },
	{ "profile cmdline or", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"cmdline\": \"quiet || chain http://evil.test/x ||\"}",
	  400, "invalid_field", "character 0x7c ('|') at byte 6" },
	{ "profile cmdline expansion", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"cmdline\": \"ip=${net0/ip}\"}",
	  400, "invalid_field", "character 0x24 ('$') at byte 3" },
	{ "profile cmdline semicolon", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"cmdline\": \"quiet ; reboot\"}",
	  400, "invalid_field", "\";\" as a word of its own at byte 6" },
	{ "profile cmdline comment", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"cmdline\": \"quiet #x\"}",
	  400, "invalid_field", "character 0x23 ('#') at byte 6" },
	{ "profile cmdline quote", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"cmdline\": \"a=\\\"b c\\\"\"}",
	  400, "invalid_field", "character 0x22 ('\"') at byte 2" },
	{ "profile cmdline backslash", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"cmdline\": \"a\\\\b\"}",
	  400, "invalid_field", "character 0x5c ('\\') at byte 1" },
	{ "profile cmdline non-ASCII", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"cmdline\": \"caf\\u00e9\"}",
	  400, "invalid_field", "character 0xc3 at byte 3" },
	{ "profile cmdline tab", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"cmdline\": \"a\\tb\"}",
	  400, "invalid_field", "control character at byte 1" },
	{ "profile templates", "POST", "/api/v1/profiles",
	  "{\"name\": \"p\", \"templates\": {\"user-data\": 1}}",
	  400, "invalid_field", "\"user-data\"" },
	{ "profile unknown field", "POST", "/api/v1/profiles", "{\"name\": \"p\", \"os\": \"x\"}",
	  400, "unknown_field", "\"os\"" },
	{ "limit zero", "GET", "/api/v1/machines?limit=0", NULL, 400, "invalid_field", "limit=\"0\"" },
	{ "limit 1001", "GET", "/api/v1/machines?limit=1001", NULL,
	  400, "invalid_field", "limit=\"1001\"" },
	{ "after negative", "GET", "/api/v1/audit?after=-1", NULL, 400, "invalid_field", "\"-1\"" },
	{ "state filter", "GET", "/api/v1/machines?state=flying", NULL,
	  400, "invalid_field", "\"flying\"" },
	{ "mac filter", "GET", "/api/v1/machines?mac=zz", NULL, 400, "invalid_field", "\"zz\"" },
	{ "unknown parameter", "GET", "/api/v1/machines?colour=red", NULL,
	  400, "unknown_field", "\"colour\"" },
	{ "profile path name", "GET", "/api/v1/profiles/Bad", NULL, 400, "invalid_field", "\"Bad\"" },
	{ "profile missing", "GET", "/api/v1/profiles/none", NULL, 404, "not_found", "\"none\"" },
	{ "artifact id", "GET", "/api/v1/artifacts/x1", NULL, 400, "invalid_field", "\"x1\"" },
	{ "artifact missing", "GET", "/api/v1/artifacts/77", NULL, 404, "not_found", "77" },
};

static void
validation_errors(void **state)
{
	struct fixture *f = *state;
	int64_t before = audit_count(f);
	struct reply r;

	for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
		const struct invalid_case *c = &invalid_cases[i];

		call(f, c->method, c->path, c->body, &r);
		if (r.status != c->status || strcmp(jstr(r.json, "error"), c->error) != 0 ||
		    strstr(jstr(r.json, "detail"), c->needle) == NULL)
			print_message("case \"%s\": %ld %s\n", c->name, r.status,
				      r.body.data != NULL ? r.body.data : "");
		assert_error(&r, c->status, c->error, c->needle);
		reply_clear(&r);
	}

	/* Only "profile unknown" reached the gate, so it alone left an entry. */
	assert_int_equal(audit_count(f), before + 1);
}

static void
body_too_large_413(void **state)
{
	struct fixture *f = *state;
	size_t len = 2 * TEST_MAX_BODY;
	struct reply r;
	char *body;

	body = malloc(len + 1);
	assert_non_null(body);
	memset(body, ' ', len);
	body[0] = '{';
	body[len - 1] = '}';
	body[len] = '\0';

	/* The listener replies before the API sees the body, so the detail names its limit. */
	request(f, VIA_HTTPS, f->admin, "POST", "/api/v1/machines", "application/json", body, len,
		&r);
	assert_status(&r, 413);
	assert_non_null(r.json);
	assert_string_equal(jstr(r.json, "error"), "too_large");
	assert_non_null(strstr(jstr(r.json, "detail"), "1048576"));
	reply_clear(&r);

	/* Within the listener's ceiling but past the API's: the API's own 413. */
	len = TEST_API_MAX_BODY + 1;
	memset(body, ' ', len);
	body[0] = '{';
	body[len - 1] = '}';
	request(f, VIA_HTTPS, f->admin, "POST", "/api/v1/machines", "application/json", body, len,
		&r);
	assert_error(&r, 413, "too_large", "524289 bytes");
	reply_clear(&r);
	free(body);
}

static void
content_type_415(void **state)
{
	struct fixture *f = *state;
	const char *body = "{\"macs\": [\"52:54:00:00:00:01\"]}";
	struct reply r;

	request(f, VIA_HTTPS, f->admin, "POST", "/api/v1/machines", "text/plain", body,
		strlen(body), &r);
	assert_error(&r, 415, "unsupported_media_type", "text/plain");
	reply_clear(&r);

	request(f, VIA_HTTPS, f->admin, "POST", "/api/v1/machines",
		"application/json; charset=utf-8", body, strlen(body), &r);
	assert_status(&r, 201);
	reply_clear(&r);
}

static void
store_busy_503(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	/* The test's connection holds the write lock past the store's busy timeout. */
	assert_int_equal(store_begin(f->st), 0);
	call(f, "POST", "/api/v1/machines", "{\"macs\": [\"52:54:00:00:00:01\"]}", &r);
	assert_error(&r, 503, "unavailable", "retry");
	reply_clear(&r);
	store_rollback(f->st);

	call(f, "POST", "/api/v1/machines", "{\"macs\": [\"52:54:00:00:00:01\"]}", &r);
	assert_status(&r, 201);
	reply_clear(&r);
}

/* Profiles. */

static void
profile_crud(void **state)
{
	struct fixture *f = *state;
	int64_t before;
	struct reply r;

	before = audit_count(f);
	call(f, "POST", "/api/v1/profiles",
	     "{\"name\": \"debian-12\", \"image\": \"debian-12.img\", \"kernel\": \"vmlinuz\","
	     " \"initrd\": \"initrd.img\", \"cmdline\": \"console=ttyS0\","
	     " \"templates\": {\"user-data\": \"#cloud-config\\n\"}}", &r);
	assert_status(&r, 201);
	assert_true(jint(r.json, "id") > 0);
	assert_string_equal(jstr(r.json, "name"), "debian-12");
	assert_string_equal(jstr(r.json, "image"), "debian-12.img");
	assert_string_equal(jstr(r.json, "kernel"), "vmlinuz");
	assert_string_equal(jstr(r.json, "initrd"), "initrd.img");
	assert_string_equal(jstr(r.json, "cmdline"), "console=ttyS0");
	assert_string_equal(jstr(json_object_get(r.json, "templates"), "user-data"),
			    "#cloud-config\n");
	assert_string_equal(r.location, "/api/v1/profiles/debian-12");
	reply_clear(&r);
	assert_audited(f, before, "profile.create", "profile:debian-12", "ok");

	call(f, "POST", "/api/v1/profiles",
	     "{\"name\": \"debian-12\", \"kernel\": \"k\", \"initrd\": \"i\"}", &r);
	assert_error(&r, 409, "conflict", "debian-12");
	reply_clear(&r);

	call(f, "GET", "/api/v1/profiles/debian-12", NULL, &r);
	assert_status(&r, 200);
	assert_string_equal(jstr(r.json, "cmdline"), "console=ttyS0");
	reply_clear(&r);

	profile_add(f, "ubuntu-24");
	call(f, "GET", "/api/v1/profiles", NULL, &r);
	assert_status(&r, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
	assert_string_equal(jstr(json_array_get(json_object_get(r.json, "items"), 1), "name"),
			    "ubuntu-24");
	reply_clear(&r);

	before = audit_count(f);
	call(f, "PATCH", "/api/v1/profiles/debian-12", "{\"cmdline\": \"quiet\", \"templates\": null}",
	     &r);
	assert_status(&r, 200);
	assert_string_equal(jstr(r.json, "cmdline"), "quiet");
	assert_string_equal(jstr(r.json, "image"), "debian-12.img");
	assert_true(json_is_null(json_object_get(r.json, "templates")));
	reply_clear(&r);
	assert_audited(f, before, "profile.update", "profile:debian-12", "ok");

	call(f, "PATCH", "/api/v1/profiles/debian-12", "{\"name\": \"other\"}", &r);
	assert_error(&r, 400, "invalid_field", "\"name\"");
	reply_clear(&r);

	before = audit_count(f);
	call(f, "DELETE", "/api/v1/profiles/ubuntu-24", NULL, &r);
	assert_status(&r, 204);
	reply_clear(&r);
	assert_audited(f, before, "profile.delete", "profile:ubuntu-24", "ok");

	call(f, "GET", "/api/v1/profiles/ubuntu-24", NULL, &r);
	assert_error(&r, 404, "not_found", "ubuntu-24");
	reply_clear(&r);
}

static void
profile_references(void **state)
{
	static const char *const bad[] = {
		"../../etc/shadow", "/etc/shadow", "http://evil.test/k", "deploy/%2e%2e",
		"deploy//k", "deploy/", "a b",
	};
	struct fixture *f = *state;
	char body[256];
	int64_t before;
	struct reply r;

	profile_add(f, "debian-12");

	/* A PATCH may not clear what every deployment boots, and names the field. */
	before = audit_count(f);
	call(f, "PATCH", "/api/v1/profiles/debian-12", "{\"kernel\": null}", &r);
	assert_error(&r, 400, "invalid_field", "\"kernel\" cannot be null");
	reply_clear(&r);
	call(f, "PATCH", "/api/v1/profiles/debian-12", "{\"initrd\": null}", &r);
	assert_error(&r, 400, "invalid_field", "\"initrd\" cannot be null");
	reply_clear(&r);

	/* References the boot listener would not serve are rejected with the value named. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		static const char *const fields[] = { "image", "kernel", "initrd" };

		for (size_t j = 0; j < 3; j++) {
			snprintf(body, sizeof(body), "{\"%s\": \"%s\"}", fields[j], bad[i]);
			call(f, "PATCH", "/api/v1/profiles/debian-12", body, &r);
			if (r.status != 400)
				print_message("%s\n", body);
			assert_error(&r, 400, "invalid_field", bad[i]);
			assert_non_null(strstr(jstr(r.json, "detail"), fields[j]));
			reply_clear(&r);
		}
	}
	assert_int_equal(audit_count(f), before);

	/* The image may be cleared, and nested paths are references like any other. */
	call(f, "PATCH", "/api/v1/profiles/debian-12",
	     "{\"image\": null, \"kernel\": \"debian-12/vmlinuz-6.1.0\","
	     " \"initrd\": \"sha256/ab/abcdef_initrd.img\"}", &r);
	assert_status(&r, 200);
	assert_string_equal(jstr(r.json, "image"), "");
	assert_string_equal(jstr(r.json, "kernel"), "debian-12/vmlinuz-6.1.0");
	assert_string_equal(jstr(r.json, "initrd"), "sha256/ab/abcdef_initrd.img");
	reply_clear(&r);
}

static void
profile_cmdline_accepted(void **state)
{
	static const char *const good[] = {
		"console=ttyS0,115200n8 console=tty0",
		"root=UUID=4c4c4544-0042-3510-8052-b4c04f4e3632 ro quiet",
		"ds=nocloud;s=http://10.0.0.1:8080/seed/ ip=dhcp",
		"BOOTIF=01-52-54-00-12-34-56 rd.neednet=1 modprobe.blacklist=a,b",
		"a+b@c%20~d_e.f",
		"",
	};
	struct fixture *f = *state;
	char body[256];
	struct reply r;

	profile_add(f, "debian-12");
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(body, sizeof(body), "{\"cmdline\": \"%s\"}", good[i]);
		call(f, "PATCH", "/api/v1/profiles/debian-12", body, &r);
		assert_status(&r, 200);
		assert_string_equal(jstr(r.json, "cmdline"), good[i]);
		reply_clear(&r);
	}
}

/* A profile naming an artifact that nothing provides cannot be deployed. */
static void
deploy_missing_artifact_409(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	machine_add(f, "52:54:00:00:07:20", "");
	call(f, "POST", "/api/v1/profiles", "{\"name\": \"gone\", \"kernel\": "
	     "\"debian-12/12.8.0/kernel\", \"initrd\": \"initrd.img\"}", &r);
	assert_status(&r, 201);
	reply_clear(&r);
	call(f, "POST", "/api/v1/machines/52:54:00:00:07:20/deploy", "{\"profile\": \"gone\"}",
	     &r);
	assert_error(&r, 409, "conflict", "names kernel debian-12/12.8.0/kernel, which no loaded "
		     "bundle has");
	reply_clear(&r);
}

static void
profile_deploying_409(void **state)
{
	struct fixture *f = *state;
	char needle[96];
	int64_t before;
	struct reply r;
	long long id;

	profile_add(f, "debian-12");
	machine_add(f, "52:54:00:00:07:11", "\"profile\": \"debian-12\"");
	call(f, "PATCH", "/api/v1/profiles/debian-12", "{\"cmdline\": \"quiet\"}", &r);
	assert_status(&r, 200);
	reply_clear(&r);

	/* While a machine deploys it, the profile it boots from stays as it is. */
	id = machine_add(f, "52:54:00:00:07:12", "\"profile\": \"debian-12\"");
	call(f, "POST", "/api/v1/machines/52:54:00:00:07:12/deploy", "{}", &r);
	assert_status(&r, 202);
	reply_clear(&r);

	snprintf(needle, sizeof(needle), "used by machine %lld, which is deploying", id);
	before = audit_count(f);
	call(f, "PATCH", "/api/v1/profiles/debian-12", "{\"kernel\": \"other/vmlinuz\"}", &r);
	assert_error(&r, 409, "conflict", needle);
	reply_clear(&r);
	assert_audited(f, before, "profile.update", "profile:debian-12", "failed");

	call(f, "GET", "/api/v1/profiles/debian-12", NULL, &r);
	assert_string_equal(jstr(r.json, "kernel"), "vmlinuz");
	reply_clear(&r);
}

static void
profile_delete_in_use_409(void **state)
{
	struct fixture *f = *state;
	int64_t before;
	struct reply r;

	profile_add(f, "debian-12");
	machine_add(f, "52:54:00:00:07:01", "\"profile\": \"debian-12\"");

	before = audit_count(f);
	call(f, "DELETE", "/api/v1/profiles/debian-12", NULL, &r);
	assert_error(&r, 409, "conflict", "used by 1 machine");
	reply_clear(&r);
	assert_audited(f, before, "profile.delete", "profile:debian-12", "failed");

	call(f, "GET", "/api/v1/profiles/debian-12", NULL, &r);
	assert_status(&r, 200);
	reply_clear(&r);
}

/* Bundles and artifacts. */

static void
bundle_get_and_remove(void **state)
{
	struct fixture *f = *state;
	struct bundle_info b = { .size = 7340032 };
	struct artifact a = { .size = 7340032 };
	char path[64];
	int64_t before;
	struct reply r;

	snprintf(b.name, sizeof(b.name), "debian-12");
	snprintf(b.version, sizeof(b.version), "12.8.0");
	snprintf(b.kind, sizeof(b.kind), "os");
	memset(b.key_id, 'c', sizeof(b.key_id) - 1);
	memset(b.manifest_sha256, 'd', SHA256_HEX_SIZE - 1);
	snprintf(a.path, sizeof(a.path), "vmlinuz");
	snprintf(a.role, sizeof(a.role), "kernel");
	sha256_hex("kernel", 6, a.sha256);
	assert_int_equal(store_bundle_insert(f->st, &b, "{}", &a, 1), 0);

	call(f, "GET", "/api/v1/bundles", NULL, &r);
	assert_status(&r, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
	reply_clear(&r);

	call(f, "GET", "/api/v1/bundles/debian-12/12.8.0", NULL, &r);
	assert_status(&r, 200);
	assert_string_equal(jstr(r.json, "kind"), "os");
	assert_int_equal(jint(r.json, "files"), 1);
	assert_string_equal(jstr(json_array_get(json_object_get(r.json, "artifacts"), 0),
				 "reference"), "debian-12/12.8.0/vmlinuz");
	reply_clear(&r);

	snprintf(path, sizeof(path), "/api/v1/artifacts/%lld", (long long)a.id);
	call(f, "GET", path, NULL, &r);
	assert_status(&r, 200);
	assert_string_equal(jstr(r.json, "bundle"), "debian-12");
	assert_string_equal(jstr(r.json, "sha256"), a.sha256);
	assert_int_equal(jint(r.json, "size"), 7340032);
	reply_clear(&r);

	/* Loading by path is for the unix socket only. */
	call(f, "POST", "/api/v1/bundles", "{\"path\": \"/etc/shadow\"}", &r);
	assert_status(&r, 403);
	reply_clear(&r);

	before = audit_count(f);
	call(f, "DELETE", "/api/v1/bundles/debian-12/12.8.0", NULL, &r);
	assert_status(&r, 204);
	reply_clear(&r);
	assert_audited(f, before, "bundle.remove", "bundle:debian-12@12.8.0", "ok");

	call(f, "GET", "/api/v1/bundles/debian-12/12.8.0", NULL, &r);
	assert_status(&r, 404);
	reply_clear(&r);
	call(f, "GET", path, NULL, &r);
	assert_status(&r, 404);
	reply_clear(&r);
}

/* Audit. */

static void
audit_list_and_verify(void **state)
{
	struct fixture *f = *state;
	json_t *items, *first;
	struct reply r;
	int64_t total;

	profile_add(f, "debian-12");
	machine_add(f, "52:54:00:00:08:01", "\"profile\": \"debian-12\"");
	call(f, "POST", "/api/v1/machines/52:54:00:00:08:01/deploy", "{}", &r);
	assert_status(&r, 202);
	reply_clear(&r);
	total = audit_count(f);

	call(f, "GET", "/api/v1/audit?limit=2", NULL, &r);
	assert_status(&r, 200);
	items = json_object_get(r.json, "items");
	assert_int_equal(json_array_size(items), 2);
	first = json_array_get(items, 0);
	assert_int_equal(jint(first, "seq"), 1);
	assert_int_equal(strlen(jstr(first, "hash")), 64);
	assert_string_equal(jstr(json_array_get(items, 1), "prev_hash"), jstr(first, "hash"));
	assert_int_equal(jint(r.json, "next"), 2);
	reply_clear(&r);

	call(f, "GET", "/api/v1/audit?after=2&limit=1000", NULL, &r);
	items = json_object_get(r.json, "items");
	assert_int_equal((int64_t)json_array_size(items), total - 2);
	assert_true(json_is_null(json_object_get(r.json, "next")));
	assert_string_equal(jstr(json_array_get(items, json_array_size(items) - 1), "action"),
			    "machine.deploy");
	assert_string_equal(jstr(json_array_get(items, json_array_size(items) - 1), "risk"),
			    "destructive");
	reply_clear(&r);

	call(f, "GET", "/api/v1/audit/verify", NULL, &r);
	assert_status(&r, 200);
	assert_int_equal(jint(r.json, "entries"), total);
	assert_true(json_is_true(json_object_get(r.json, "intact")));
	assert_true(json_is_null(json_object_get(r.json, "bad_seq")));
	assert_true(json_is_null(json_object_get(r.json, "reason")));
	reply_clear(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(openapi_routes_match),
		cmocka_unit_test(openapi_bodies_closed),
		cmocka_unit_test_setup_teardown(openapi_served_without_token, setup, teardown),
		cmocka_unit_test_setup_teardown(route_unknown_404, setup, teardown),
		cmocka_unit_test_setup_teardown(route_method_405, setup, teardown),
		cmocka_unit_test_setup_teardown(auth_missing_token_401, setup, teardown),
		cmocka_unit_test_setup_teardown(auth_bad_token_401, setup, teardown),
		cmocka_unit_test_setup_teardown(auth_token_trailing_space, setup, teardown),
		cmocka_unit_test_setup_teardown(auth_two_headers_400, setup, teardown),
		cmocka_unit_test_setup_teardown(precheck_before_body, setup, teardown),
		cmocka_unit_test_setup_teardown(auth_viewer_reads_only, setup, teardown),
		cmocka_unit_test_setup_teardown(auth_operator_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(auth_unix_socket_no_token, setup, teardown),
		cmocka_unit_test_setup_teardown(bootstrap_token_file, setup, teardown),
		cmocka_unit_test_setup_teardown(status_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_create_all_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_create_minimal_nulls, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_get_by_id_and_mac, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_list_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_paging_250, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_patch_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_delete_204, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_assign_profile, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_deploy_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_duplicates_409, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_uuid_shared_201, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_ip_v4_mapped, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_deploying_macs_409, setup, teardown),
		cmocka_unit_test_setup_teardown(machine_delete_detail, setup, teardown),
		cmocka_unit_test_setup_teardown(validation_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(body_too_large_413, setup, teardown),
		cmocka_unit_test_setup_teardown(content_type_415, setup, teardown),
		cmocka_unit_test_setup_teardown(store_busy_503, setup, teardown),
		cmocka_unit_test_setup_teardown(profile_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(profile_references, setup, teardown),
		cmocka_unit_test_setup_teardown(profile_cmdline_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(profile_deploying_409, setup, teardown),
		cmocka_unit_test_setup_teardown(deploy_missing_artifact_409, setup, teardown),
		cmocka_unit_test_setup_teardown(profile_delete_in_use_409, setup, teardown),
		cmocka_unit_test_setup_teardown(bundle_get_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(audit_list_and_verify, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
