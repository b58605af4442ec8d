/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the http module against real listeners: a plain-HTTP one on 127.0.0.1 with
 * an ephemeral port, one on a unix socket and an HTTPS one with a generated
 * certificate, all driven with libcurl. The parsers behind file serving get table
 * tests of their own.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "http/http.h"
#include "http/internal.h"
#include "log/log.h"
#include "util/util.h"

#define TEST_MAX_BODY 1024
#define TEST_MAX_HEADER 4096
/* Size of files/data.bin, which has 'a' + i % 26 at offset i. */
#define TEST_FILE_SIZE 100
/* Maximum response size a test reads, in bytes. */
#define TEST_RESPONSE_MAX (1024 * 1024)

struct fixture {
	char dir[64];          /* temporary directory holding everything below */
	char root[128];        /* files served by http_reply_file */
	char sock[128];        /* unix socket of the unix listener */
	int root_fd;
	struct http_server *boot;
	struct http_server *unix_srv;
	char base[64];         /* "http://127.0.0.1:PORT" */
};

static struct fixture fx;

/*
 * Results of calls made inside the handler. The handler runs on an MHD thread, where a
 * cmocka assertion must not fire, so the test thread checks them after the reply.
 */
static atomic_int header_bad_name_rc, header_crlf_rc, header_ok_rc, header_ninth_rc;
static atomic_int second_reply_rc;
/* What the test precheck saw: the X-Test header and the body length. */
static atomic_int precheck_calls, precheck_saw_header;
static atomic_long precheck_body_len;

struct response {
	long status;
	long connects;
	struct buf body;
	struct buf headers;
};

/* Append "key=value;" to a buf; stop the walk at the key "stop". */
static int
query_append(const char *key, const char *value, void *arg)
{
	if (strcmp(key, "stop") == 0)
		return 7;
	return buf_printf(arg, "%s=%s;", key, value);
}

/*
 * Store a query argument and a header whose values hold a NUL byte, as a decoded %00
 * would, then reply what the accessors make of them: "query|header|each". Only
 * libmicrohttpd's listeners keep such values; the boot listener's parser rejects %00.
 */
static void
reply_injected(struct http_request *req)
{
	struct buf each;
	char text[256];
	const char *q, *h;

	MHD_set_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, "z", 1, "a\0b", 3);
	MHD_set_connection_value_n(req->conn, MHD_HEADER_KIND, "X-Nul", 5, "c\0d", 3);
	q = http_query(req, "z");
	h = http_header(req, "X-Nul");
	buf_init(&each, 1024);
	buf_puts(&each, "");
	http_query_each(req, query_append, &each);
	snprintf(text, sizeof(text), "%s|%s|%s", q != NULL ? q : "(null)",
		 h != NULL ? h : "(null)", each.data);
	buf_free(&each);
	http_reply(req, 200, "text/plain", text, strlen(text));
}

/* Data and streams the test precheck attaches, and what became of them. */
static atomic_int data_freed, stream_ends, stream_complete;
static atomic_long stream_bytes;

static void
data_free(void *data)
{
	free(data);
	atomic_fetch_add(&data_freed, 1);
}

static int
stream_count(void *ctx, const void *data, size_t len)
{
	(void)ctx;
	(void)data;
	atomic_fetch_add(&stream_bytes, (long)len);
	return 0;
}

static void
stream_done(void *ctx, bool complete)
{
	(void)ctx;
	atomic_fetch_add(&stream_ends, 1);
	atomic_store(&stream_complete, complete);
}

/*
 * Precheck for the listeners of the abuse tests: "/deny" gets 401, "/deny-silent"
 * is rejected without a reply, "/data" gets data attached and "/stream" a streamed
 * body, anything else goes on.
 */
static int
test_precheck(struct http_request *req, void *ctx)
{
	size_t len = 99;

	if (strcmp(http_path(req), "/data") == 0)
		http_request_set_data(req, strdup("from the precheck"), data_free);
	if (strcmp(http_path(req), "/stream") == 0)
		http_request_stream(req, stream_count, stream_done, NULL);

	(void)ctx;
	atomic_fetch_add(&precheck_calls, 1);
	atomic_store(&precheck_saw_header, http_header(req, "X-Test") != NULL);
	http_body(req, &len);
	atomic_store(&precheck_body_len, (long)len);
	if (strcmp(http_path(req), "/deny") == 0) {
		http_reply_error(req, 401, "unauthorized", "denied by the precheck");
		return 1;
	}
	return strcmp(http_path(req), "/deny-silent") == 0;
}

/* Handler shared by every listener; the path picks what it does. */
static void
test_handler(struct http_request *req, void *ctx)
{
	const char *path = http_path(req);
	int root_fd = *(int *)ctx;

	if (strcmp(path, "/data") == 0 || strcmp(path, "/stream") == 0) {
		char text[64];
		size_t len;

		http_body(req, &len);
		snprintf(text, sizeof(text), "%s %ld %zu",
			 http_request_data(req) != NULL ? (char *)http_request_data(req) : "-",
			 atomic_load(&stream_bytes), len);
		http_reply(req, 200, "text/plain", text, strlen(text));
		return;
	}
	if (strcmp(path, "/echo") == 0) {
		size_t len;
		const char *body = http_body(req, &len);
		const char *q = http_query(req, "q"), *h = http_header(req, "X-Test");
		json_t *reply = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s%, s:s, s:I, s:b}",
					  "method", http_method(req), "path", path, "q", q,
					  "flag", http_query(req, "flag"), "missing",
					  http_query(req, "missing"), "header", h, "body", body,
					  len, "peer", http_peer(req), "uid",
					  (json_int_t)http_peer_uid(req), "unix",
					  http_listener(req) == HTTP_LISTENER_UNIX);

		http_reply_json(req, 200, reply);
		return;
	}
	if (strcmp(path, "/query") == 0) {
		struct buf text;

		buf_init(&text, 1024);
		buf_puts(&text, "");
		http_query_each(req, query_append, &text);
		http_reply(req, 200, "text/plain", text.data, text.len);
		buf_free(&text);
		return;
	}
	if (strcmp(path, "/header") == 0) {
		atomic_store(&header_ok_rc, http_add_header(req, "X-One", "1"));
		atomic_store(&header_bad_name_rc, http_add_header(req, "Bad Name", "1"));
		atomic_store(&header_crlf_rc, http_add_header(req, "X-Split", "a\r\nX-Evil: 1"));
		for (int i = 2; i <= 8; i++) {
			char name[16];

			snprintf(name, sizeof(name), "X-N%d", i);
			http_add_header(req, name, "n");
		}
		atomic_store(&header_ninth_rc, http_add_header(req, "X-Ninth", "9"));
		http_reply(req, 200, "text/plain", "ok", 2);
		return;
	}
	if (strcmp(path, "/twice") == 0) {
		http_reply(req, 200, "text/plain", "first", 5);
		atomic_store(&second_reply_rc, http_reply(req, 200, "text/plain", "second", 6));
		return;
	}
	if (strcmp(path, "/file") == 0) {
		http_reply_file(req, root_fd, http_query(req, "rel"), "text/plain",
				http_query(req, "etag"));
		return;
	}
	if (strncmp(path, "/files/", 7) == 0) {
		http_reply_file(req, root_fd, path + 7, NULL, NULL);
		return;
	}
	if (strcmp(path, "/inject") == 0) {
		reply_injected(req);
		return;
	}
	if (strcmp(path, "/count") == 0) {
		char text[32];

		snprintf(text, sizeof(text), "%u", http_header_count(req, "X-Test"));
		http_reply(req, 200, "text/plain", text, strlen(text));
		return;
	}
	/* "/noreply" and anything else: return without replying. */
}

static size_t
collect(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;

	if (buf_append(b, data, size * nmemb) < 0)
		return 0;
	return size * nmemb;
}

/*
 * Send one request. `headers` is a NULL-terminated list of "Name: value" lines; `body`
 * may be NULL. `handle` lets a test reuse a connection (NULL: a fresh handle).
 */
static int
request_on(CURL *handle, const char *method, const char *url, const char *const *headers,
	   const char *body, const char *unix_path, const char *cainfo, struct response *out)
{
	struct curl_slist *list = NULL;
	bool own = handle == NULL;
	CURLcode code;

	if (own)
		handle = curl_easy_init();
	assert_non_null(handle);
	buf_init(&out->body, TEST_RESPONSE_MAX);
	buf_init(&out->headers, TEST_RESPONSE_MAX);

	curl_easy_setopt(handle, CURLOPT_URL, url);
	curl_easy_setopt(handle, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(handle, CURLOPT_WRITEDATA, &out->body);
	curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(handle, CURLOPT_HEADERDATA, &out->headers);
	curl_easy_setopt(handle, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(handle, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
	if (strcmp(method, "HEAD") != 0)
		curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (unix_path != NULL)
		curl_easy_setopt(handle, CURLOPT_UNIX_SOCKET_PATH, unix_path);
	if (cainfo != NULL)
		curl_easy_setopt(handle, CURLOPT_CAINFO, cainfo);
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
		list = curl_slist_append(list, headers[i]);
	curl_easy_setopt(handle, CURLOPT_HTTPHEADER, list);

	code = curl_easy_perform(handle);
	curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &out->status);
	curl_easy_getinfo(handle, CURLINFO_NUM_CONNECTS, &out->connects);

	curl_easy_setopt(handle, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(list);
	if (own)
		curl_easy_cleanup(handle);
	if (code != CURLE_OK)
		print_error("curl %s %s: %s\n", method, url, curl_easy_strerror(code));
	return code == CURLE_OK ? 0 : -EIO;
}

static int
request(const char *method, const char *path, const char *const *headers, const char *body,
	struct response *out)
{
	char url[4096];

	snprintf(url, sizeof(url), "%s%s", fx.base, path);
	return request_on(NULL, method, url, headers, body, NULL, NULL, out);
}

static void
response_free(struct response *r)
{
	buf_free(&r->body);
	buf_free(&r->headers);
}

/* Return a response header's value (without CRLF) in `out`, or NULL when absent. */
static const char *
header_value(const struct response *r, const char *name, char *out, size_t size)
{
	size_t name_len = strlen(name);
	const char *line = r->headers.data;

	while (line != NULL && *line != '\0') {
		const char *end = strstr(line, "\r\n");
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);

		if (len > name_len + 1 && strncasecmp(line, name, name_len) == 0 &&
		    line[name_len] == ':') {
			const char *value = line + name_len + 1;

			while (*value == ' ')
				value++;
			len -= (size_t)(value - line);
			if (len >= size)
				len = size - 1;
			memcpy(out, value, len);
			out[len] = '\0';
			return out;
		}
		line = end != NULL ? end + 2 : NULL;
	}
	return NULL;
}

static int
header_count(const struct response *r, const char *name)
{
	size_t name_len = strlen(name);
	int count = 0;

	for (const char *line = r->headers.data; line != NULL; line = strstr(line, "\r\n")) {
		if (line[0] == '\r')
			line += 2;
		if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':')
			count++;
	}
	return count;
}

static json_t *
body_json(const struct response *r)
{
	json_t *json = json_loadb(r->body.data != NULL ? r->body.data : "", r->body.len, 0,
				  NULL);

	assert_non_null(json);
	return json;
}

static const char *
json_text(json_t *object, const char *key)
{
	json_t *value = json_object_get(object, key);

	return json_is_string(value) ? json_string_value(value) : NULL;
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *file = fopen(path, "wb");

	assert_non_null(file);
	assert_int_equal(fwrite(data, 1, len, file), len);
	assert_int_equal(fclose(file), 0);
}

static int
count_open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *entry;
	int count = 0;

	assert_non_null(dir);
	while ((entry = readdir(dir)) != NULL)
		count++;
	closedir(dir);
	return count;
}

static struct http_listener_config
listener_config(enum http_listener_kind kind, const char *listen)
{
	struct http_listener_config cfg = {
		.kind = kind,
		.listen = listen,
		.threads = 2,
		.max_connections = 256,
		.max_header_bytes = TEST_MAX_HEADER,
		.max_body_bytes = TEST_MAX_BODY,
		.timeout_seconds = 10,
		.handler = test_handler,
		.ctx = &fx.root_fd,
	};

	return cfg;
}

static int
group_setup(void **state)
{
	char data[TEST_FILE_SIZE], path[256];
	struct http_listener_config cfg;

	(void)state;
	log_setup(LOG_LEVEL_WARNING, LOG_TARGET_STDERR);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;

	snprintf(fx.dir, sizeof(fx.dir), "/tmp/http_test.XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	snprintf(fx.root, sizeof(fx.root), "%s/files", fx.dir);
	snprintf(fx.sock, sizeof(fx.sock), "%s/api.sock", fx.dir);
	if (mkdir(fx.root, 0755) < 0)
		return -1;

	/* The served tree, with every kind of entry a traversal test needs. */
	for (int i = 0; i < TEST_FILE_SIZE; i++)
		data[i] = (char)('a' + i % 26);
	snprintf(path, sizeof(path), "%s/data.bin", fx.root);
	write_file(path, data, sizeof(data));
	snprintf(path, sizeof(path), "%s/empty", fx.root);
	write_file(path, "", 0);
	snprintf(path, sizeof(path), "%s/.hidden", fx.root);
	write_file(path, "hidden", 6);
	snprintf(path, sizeof(path), "%s/secret.txt", fx.dir);
	write_file(path, "secret", 6);
	snprintf(path, sizeof(path), "%s/sub", fx.root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/sub/inner.txt", fx.root);
	write_file(path, "inner", 5);
	snprintf(path, sizeof(path), "%s/dir", fx.root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/fifo", fx.root);
	if (mkfifo(path, 0644) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/link-out", fx.root);
	if (symlink("/etc/passwd", path) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/link-in", fx.root);
	if (symlink("data.bin", path) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/link-dir", fx.root);
	if (symlink("sub", path) < 0)
		return -1;

	fx.root_fd = open(fx.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fx.root_fd < 0)
		return -1;

	cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	if (http_start(&cfg, &fx.boot) < 0)
		return -1;
	snprintf(fx.base, sizeof(fx.base), "http://127.0.0.1:%u", http_port(fx.boot));

	cfg = listener_config(HTTP_LISTENER_UNIX, fx.sock);
	if (http_start(&cfg, &fx.unix_srv) < 0)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	char command[256];

	(void)state;
	fx.unix_srv = http_stop(fx.unix_srv);
	fx.boot = http_stop(fx.boot);
	close(fx.root_fd);
	snprintf(command, sizeof(command), "rm -rf '%s'", fx.dir);
	if (system(command) != 0)
		return -1;
	curl_global_cleanup();
	return 0;
}

/* ---- request lifecycle ---- */

static void
echo_request(void **state)
{
	const char *headers[] = { "X-Test: yes", NULL };
	struct response r;
	json_t *json;

	(void)state;
	assert_int_equal(request("POST", "/echo?q=a%20b&flag", headers, "hello body", &r), 0);
	assert_int_equal(r.status, 200);
	json = body_json(&r);
	assert_string_equal(json_text(json, "method"), "POST");
	assert_string_equal(json_text(json, "path"), "/echo");
	assert_string_equal(json_text(json, "q"), "a b");
	assert_string_equal(json_text(json, "flag"), "");
	assert_true(json_is_null(json_object_get(json, "missing")));
	assert_string_equal(json_text(json, "header"), "yes");
	assert_string_equal(json_text(json, "body"), "hello body");
	assert_string_equal(json_text(json, "peer"), "127.0.0.1");
	assert_int_equal(json_integer_value(json_object_get(json, "uid")), -1);
	json_decref(json);
	response_free(&r);
}

static void
echo_methods(void **state)
{
	static const char *const methods[] = { "GET", "PUT", "PATCH", "DELETE" };
	struct response r;
	json_t *json;

	(void)state;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		assert_int_equal(request(methods[i], "/echo", NULL, NULL, &r), 0);
		assert_int_equal(r.status, 200);
		json = body_json(&r);
		assert_string_equal(json_text(json, "method"), methods[i]);
		json_decref(json);
		response_free(&r);
	}
}

static void
path_decoded(void **state)
{
	struct response r;
	json_t *json;

	(void)state;
	assert_int_equal(request("GET", "/%65cho?q=%2541", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	json = body_json(&r);
	assert_string_equal(json_text(json, "path"), "/echo");
	assert_string_equal(json_text(json, "q"), "%41");
	json_decref(json);
	response_free(&r);
}

static void
body_at_limit(void **state)
{
	char body[TEST_MAX_BODY + 1];
	struct response r;
	json_t *json;

	(void)state;
	memset(body, 'x', TEST_MAX_BODY);
	body[TEST_MAX_BODY] = '\0';
	assert_int_equal(request("POST", "/echo", NULL, body, &r), 0);
	assert_int_equal(r.status, 200);
	json = body_json(&r);
	assert_int_equal(strlen(json_text(json, "body")), TEST_MAX_BODY);
	json_decref(json);
	response_free(&r);
}

static void
body_over_limit(void **state)
{
	char body[TEST_MAX_BODY + 2];
	struct response r;
	json_t *json;

	(void)state;
	memset(body, 'x', TEST_MAX_BODY + 1);
	body[TEST_MAX_BODY + 1] = '\0';
	assert_int_equal(request("POST", "/echo", NULL, body, &r), 0);
	assert_int_equal(r.status, 413);
	json = body_json(&r);
	assert_string_equal(json_text(json, "error"), "too_large");
	assert_non_null(json_text(json, "detail"));
	json_decref(json);
	response_free(&r);
}

static void
body_chunked_over(void **state)
{
	const char *headers[] = { "Transfer-Encoding: chunked", NULL };
	char body[3 * TEST_MAX_BODY];
	struct response r;
	json_t *json;

	(void)state;
	memset(body, 'y', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	assert_int_equal(request("PUT", "/echo", headers, body, &r), 0);
	assert_int_equal(r.status, 413);
	json = body_json(&r);
	assert_string_equal(json_text(json, "error"), "too_large");
	json_decref(json);
	response_free(&r);
}

static void
query_each_order(void **state)
{
	struct response r;

	(void)state;
	assert_int_equal(request("GET", "/query?a=1&b=x%20y&flag&stop=1&after=2", NULL, NULL, &r),
			 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body.data, "a=1;b=x y;flag=;");
	response_free(&r);
}

/* Connect to 127.0.0.1:port with a receive timeout of `seconds`. */
static int
raw_connect(uint16_t port, int seconds)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct timeval timeout = { .tv_sec = seconds };
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Send raw bytes to the boot listener and return what comes back before it closes. */
static void
raw_exchange(const char *request_text, char *out, size_t size)
{
	size_t used = 0;
	ssize_t n;
	int fd;

	fd = raw_connect(http_port(fx.boot), 5);
	assert_int_equal(send(fd, request_text, strlen(request_text), 0),
			 (ssize_t)strlen(request_text));
	shutdown(fd, SHUT_WR);
	while (used + 1 < size && (n = recv(fd, out + used, size - 1 - used, 0)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	close(fd);
}

static void
content_length_conflict(void **state)
{
	char reply[4096];

	(void)state;
	raw_exchange("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
		     "Content-Length: 6\r\nConnection: close\r\n\r\nhello!",
		     reply, sizeof(reply));
	assert_memory_equal(reply, "HTTP/1.1 400 ", 13);
	assert_non_null(strstr(reply, "conflicting Content-Length headers"));

	/* Repeating the same length is allowed (RFC 9112 section 6.3). */
	raw_exchange("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
		     "Content-Length: 5\r\nConnection: close\r\n\r\nhello",
		     reply, sizeof(reply));
	assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
	assert_non_null(strstr(reply, "\"body\":\"hello\""));
}

static void
pipelined_requests(void **state)
{
	char reply[8192];
	const char *p;
	int count = 0;

	(void)state;
	raw_exchange("GET /files/sub/inner.txt HTTP/1.1\r\nHost: t\r\n\r\n"
		     "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"
		     "GET /files/sub/inner.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		     reply, sizeof(reply));
	for (p = reply; (p = strstr(p, "HTTP/1.1 200 ")) != NULL; p++)
		count++;
	assert_int_equal(count, 3);
}

static void
method_unknown(void **state)
{
	static const char *const methods[] = { "OPTIONS", "TRACE", "PROPFIND", "BREW" };
	char allow[128];
	struct response r;
	json_t *json;

	(void)state;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		assert_int_equal(request(methods[i], "/echo", NULL, NULL, &r), 0);
		assert_int_equal(r.status, 405);
		assert_non_null(header_value(&r, "Allow", allow, sizeof(allow)));
		assert_string_equal(allow, "GET, HEAD, POST, PUT, PATCH, DELETE");
		json = body_json(&r);
		assert_string_equal(json_text(json, "error"), "method_not_allowed");
		json_decref(json);
		response_free(&r);
	}
}

static void
handler_no_reply(void **state)
{
	struct response r;
	json_t *json;

	(void)state;
	assert_int_equal(request("GET", "/noreply", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 500);
	json = body_json(&r);
	assert_string_equal(json_text(json, "error"), "internal");
	json_decref(json);
	response_free(&r);
}

static void
reply_twice(void **state)
{
	struct response r;

	(void)state;
	assert_int_equal(request("GET", "/twice", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body.data, "first");
	assert_int_equal(atomic_load(&second_reply_rc), -EALREADY);
	response_free(&r);
}

static void
added_header(void **state)
{
	char value[32];
	struct response r;

	(void)state;
	assert_int_equal(request("GET", "/header", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(header_value(&r, "X-One", value, sizeof(value)));
	assert_string_equal(value, "1");
	assert_null(header_value(&r, "X-Evil", value, sizeof(value)));
	assert_int_equal(atomic_load(&header_ok_rc), 0);
	assert_int_equal(atomic_load(&header_bad_name_rc), -EINVAL);
	assert_int_equal(atomic_load(&header_crlf_rc), -EINVAL);
	assert_non_null(header_value(&r, "X-N8", value, sizeof(value)));
	assert_null(header_value(&r, "X-Ninth", value, sizeof(value)));
	assert_int_equal(atomic_load(&header_ninth_rc), -E2BIG);
	response_free(&r);
}

static void
headers_too_large(void **state)
{
	/* Just past our ceiling (431 from us) and far past MHD's pool (431 from MHD). */
	static const size_t sizes[] = { TEST_MAX_HEADER + 100, 8 * TEST_MAX_HEADER };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *line = malloc(sizes[i] + 16);
		const char *headers[] = { line, NULL };
		struct response r;

		assert_non_null(line);
		memcpy(line, "X-Big: ", 7);
		memset(line + 7, 'b', sizes[i]);
		line[7 + sizes[i]] = '\0';
		assert_int_equal(request("GET", "/echo", headers, NULL, &r), 0);
		assert_int_equal(r.status, 431);
		response_free(&r);
		free(line);
	}
}

static void
headers_within_limit(void **state)
{
	char line[TEST_MAX_HEADER / 2];
	const char *headers[] = { line, NULL };
	struct response r;

	(void)state;
	memcpy(line, "X-Big: ", 7);
	memset(line + 7, 'b', sizeof(line) - 8);
	line[sizeof(line) - 1] = '\0';
	assert_int_equal(request("GET", "/echo", headers, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	response_free(&r);
}

static void
keep_alive_reused(void **state)
{
	char url[128];
	struct response r;
	CURL *handle = curl_easy_init();

	(void)state;
	assert_non_null(handle);
	snprintf(url, sizeof(url), "%s/echo", fx.base);
	assert_int_equal(request_on(handle, "GET", url, NULL, NULL, NULL, NULL, &r), 0);
	assert_int_equal(r.connects, 1);
	response_free(&r);
	snprintf(url, sizeof(url), "%s/files/data.bin", fx.base);
	assert_int_equal(request_on(handle, "GET", url, NULL, NULL, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.connects, 0);
	response_free(&r);
	assert_int_equal(request_on(handle, "HEAD", url, NULL, NULL, NULL, NULL, &r), 0);
	assert_int_equal(r.connects, 0);
	response_free(&r);
	curl_easy_cleanup(handle);
}

/* ---- listeners ---- */

static void
unix_peer_uid(void **state)
{
	struct response r;
	struct stat st;
	json_t *json;

	(void)state;
	assert_int_equal(stat(fx.sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(http_port(fx.unix_srv), 0);

	assert_int_equal(request_on(NULL, "GET", "http://localhost/echo", NULL, NULL, fx.sock,
				    NULL, &r),
			 0);
	assert_int_equal(r.status, 200);
	json = body_json(&r);
	assert_int_equal(json_integer_value(json_object_get(json, "uid")), (json_int_t)getuid());
	assert_string_equal(json_text(json, "peer"), "unix");
	assert_true(json_is_true(json_object_get(json, "unix")));
	json_decref(json);
	response_free(&r);
}

static void
unix_stale_socket(void **state)
{
	struct http_listener_config cfg;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct http_server *srv;
	char path[128];
	struct response r;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/stale.sock", fx.dir);

	/* A socket bound by a process that is gone: no process listens on it any more. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);

	cfg = listener_config(HTTP_LISTENER_UNIX, path);
	assert_int_equal(http_start(&cfg, &srv), 0);
	assert_int_equal(request_on(NULL, "GET", "http://localhost/echo", NULL, NULL, path,
				    NULL, &r),
			 0);
	assert_int_equal(r.status, 200);
	response_free(&r);

	/* A live listener on the path is not replaced. */
	assert_int_equal(http_start(&cfg, &(struct http_server *){ NULL }), -EADDRINUSE);

	srv = http_stop(srv);
	assert_null(srv);
	assert_int_equal(access(path, F_OK), -1);
}

static void
unix_not_socket(void **state)
{
	struct http_listener_config cfg;
	struct http_server *srv = NULL;
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/regular", fx.dir);
	write_file(path, "keep me", 7);
	cfg = listener_config(HTTP_LISTENER_UNIX, path);
	assert_int_equal(http_start(&cfg, &srv), -EEXIST);
	assert_null(srv);
	assert_int_equal(access(path, F_OK), 0);
}

static void
listen_invalid(void **state)
{
	static const char *const addresses[] = {
		"127.0.0.1", "127.0.0.1:", ":80", "::1:80", "[::1]80", "[::1", "localhost:80",
		"127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:8o", "300.0.0.1:80", "",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(addresses) / sizeof(addresses[0]); i++) {
		struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT,
								  addresses[i]);
		struct http_server *srv = NULL;
		int rc = http_start(&cfg, &srv);

		if (rc != -EINVAL)
			print_error("listen \"%s\" returned %d\n", addresses[i], rc);
		assert_int_equal(rc, -EINVAL);
		assert_null(srv);
	}
}

static void
listen_in_use(void **state)
{
	struct http_listener_config cfg;
	struct http_server *srv = NULL;
	char address[32];

	(void)state;
	snprintf(address, sizeof(address), "127.0.0.1:%u", http_port(fx.boot));
	cfg = listener_config(HTTP_LISTENER_BOOT, address);
	assert_int_equal(http_start(&cfg, &srv), -EADDRINUSE);
	assert_null(srv);
}

static void
listen_ipv6(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "[::1]:0");
	struct http_server *srv;
	struct response r;
	char url[64];
	json_t *json;

	(void)state;
	if (http_start(&cfg, &srv) == -EADDRNOTAVAIL)
		skip();
	assert_non_null(srv);
	assert_true(http_port(srv) > 0);
	snprintf(url, sizeof(url), "http://[::1]:%u/echo", http_port(srv));
	assert_int_equal(request_on(NULL, "GET", url, NULL, NULL, NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	json = body_json(&r);
	assert_string_equal(json_text(json, "peer"), "::1");
	json_decref(json);
	response_free(&r);
	http_stop(srv);
}

static void
stop_leaks_no_fd(void **state)
{
	struct http_listener_config cfg;
	struct http_server *srv;
	char path[128];
	int before;

	(void)state;
	snprintf(path, sizeof(path), "%s/cycle.sock", fx.dir);
	before = count_open_fds();
	for (int i = 0; i < 3; i++) {
		cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
		assert_int_equal(http_start(&cfg, &srv), 0);
		http_stop(srv);
		cfg = listener_config(HTTP_LISTENER_UNIX, path);
		assert_int_equal(http_start(&cfg, &srv), 0);
		http_stop(srv);
	}
	assert_int_equal(count_open_fds(), before);
	assert_null(http_stop(NULL));
}

static void
idle_timeout_closes(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	struct http_server *srv;
	char byte;
	int fd;

	(void)state;
	cfg.timeout_seconds = 1;
	assert_int_equal(http_start(&cfg, &srv), 0);

	/* MHD closes the idle connection after about a second, so recv returns 0. */
	fd = raw_connect(http_port(srv), 5);
	assert_int_equal(recv(fd, &byte, 1, 0), 0);
	close(fd);
	http_stop(srv);
}

static void
connection_limit_enforced(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	static const char request_text[] = "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n";
	struct http_server *srv;
	char reply[1024];
	int fds[3];
	ssize_t n;

	(void)state;
	cfg.threads = 1;
	cfg.max_connections = 2;
	assert_int_equal(http_start(&cfg, &srv), 0);

	/*
	 * The kernel completes the third handshake, but MHD leaves it in the backlog
	 * until one of the first two connections closes.
	 */
	for (int i = 0; i < 3; i++)
		fds[i] = raw_connect(http_port(srv), 1);
	assert_int_equal(send(fds[2], request_text, strlen(request_text), 0),
			 (ssize_t)strlen(request_text));
	assert_int_equal(recv(fds[2], reply, sizeof(reply), 0), -1);
	assert_int_equal(errno, EAGAIN);

	close(fds[0]);
	n = recv(fds[2], reply, sizeof(reply) - 1, 0);
	assert_true(n > 0);
	reply[n] = '\0';
	assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
	close(fds[1]);
	close(fds[2]);
	http_stop(srv);
}

static void
stop_with_requests_open(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	static const char partial[] = "POST /echo HTTP/1.1\r\nHost: t\r\n"
				      "Content-Length: 100\r\n\r\nonly part of the body";
	struct http_server *srv;
	struct response r;
	char url[64];
	int fd;

	(void)state;
	assert_int_equal(http_start(&cfg, &srv), 0);

	/* One request waits for the rest of its body; its state must be freed on stop. */
	fd = raw_connect(http_port(srv), 2);
	assert_int_equal(send(fd, partial, sizeof(partial) - 1, 0), (ssize_t)sizeof(partial) - 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", http_port(srv));
	assert_int_equal(request_on(NULL, "GET", url, NULL, NULL, NULL, NULL, &r), 0);
	response_free(&r);

	assert_null(http_stop(srv));
	close(fd);
}

/* ---- hostile input ---- */

/* Start a listener on 127.0.0.1:0 with `cfg`; returns it. */
static struct http_server *
abuse_start(struct http_listener_config *cfg)
{
	struct http_server *srv = NULL;

	assert_int_equal(http_start(cfg, &srv), 0);
	assert_non_null(srv);
	return srv;
}

/*
 * Send `text` on a new connection to `port` without closing the sending side, and read
 * until the reply's header block is in, the server closes, or `seconds` pass. Returns
 * the connection (the caller closes it); *ret_ms is the time to the first reply byte
 * or to the close.
 */
static int
raw_send(uint16_t port, const char *text, char *out, size_t size, int seconds, long *ret_ms)
{
	struct timespec start, end;
	size_t used = 0;
	ssize_t n;
	int fd;

	fd = raw_connect(port, seconds);
	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
	out[0] = '\0';
	while (used + 1 < size && strstr(out, "\r\n\r\n") == NULL &&
	       (n = recv(fd, out + used, size - 1 - used, 0)) > 0) {
		used += (size_t)n;
		out[used] = '\0';
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	if (ret_ms != NULL)
		*ret_ms = (end.tv_sec - start.tv_sec) * 1000 +
			  (end.tv_nsec - start.tv_nsec) / 1000000;
	return fd;
}

/* Wait up to `seconds` for the server to close `fd`; returns the wait in ms or -1. */
static long
wait_closed(int fd, int seconds)
{
	struct timeval timeout = { .tv_sec = seconds };
	struct timespec start, end;
	char byte[256];
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	clock_gettime(CLOCK_MONOTONIC, &start);
	while ((n = recv(fd, byte, sizeof(byte), 0)) > 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &end);
	if (n < 0 && errno != ECONNRESET)
		return -1;
	return (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
}

static void
precheck_before_body(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	struct http_server *srv;
	char reply[2048];
	long ms;
	int fd;

	(void)state;
	cfg.precheck = test_precheck;
	srv = abuse_start(&cfg);
	atomic_store(&precheck_calls, 0);

	/* The body is announced and never sent: the 401 must not wait for it. */
	fd = raw_send(http_port(srv), "POST /deny HTTP/1.1\r\nHost: t\r\nX-Test: 1\r\n"
		      "Content-Length: 1000\r\n\r\n", reply, sizeof(reply), 3, &ms);
	assert_memory_equal(reply, "HTTP/1.1 401 ", 13);
	assert_true(ms < 2000);
	assert_int_equal(atomic_load(&precheck_calls), 1);
	assert_int_equal(atomic_load(&precheck_saw_header), 1);
	assert_int_equal(atomic_load(&precheck_body_len), 0);
	close(fd);

	/* An announced body past max_body_bytes still gets the precheck's reply first. */
	fd = raw_send(http_port(srv), "POST /deny HTTP/1.1\r\nHost: t\r\n"
		      "Content-Length: 900000\r\n\r\n", reply, sizeof(reply), 3, NULL);
	assert_memory_equal(reply, "HTTP/1.1 401 ", 13);
	close(fd);

	/* A request the precheck lets through reaches the handler with its body. */
	fd = raw_send(http_port(srv), "POST /echo HTTP/1.1\r\nHost: t\r\n"
		      "Content-Length: 5\r\n\r\nhello", reply, sizeof(reply), 3, NULL);
	assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
	close(fd);
	http_stop(srv);
}

/* Wait up to 2 s for a counter that another thread raises to be nonzero. */
static void
wait_nonzero(atomic_int *counter)
{
	for (int i = 0; i < 200 && atomic_load(counter) == 0; i++)
		usleep(10000);
}

/* Data attached by the precheck reaches the handler and is freed, and a stream gets the body. */
static void
precheck_data_and_stream(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	struct http_server *srv;
	char reply[2048];
	int fd;

	(void)state;
	cfg.precheck = test_precheck;
	cfg.methods = HTTP_METHOD_GET | HTTP_METHOD_POST;
	srv = abuse_start(&cfg);
	atomic_store(&data_freed, 0);
	fd = raw_send(http_port(srv), "GET /data HTTP/1.1\r\nHost: t\r\n\r\n", reply,
		      sizeof(reply), 3, NULL);
	assert_non_null(strstr(reply, "from the precheck"));
	close(fd);
	wait_nonzero(&data_freed);
	assert_int_equal(atomic_load(&data_freed), 1);

	/* A streamed body bypasses the body buffer and its ceiling. */
	atomic_store(&stream_bytes, 0);
	atomic_store(&stream_ends, 0);
	fd = raw_send(http_port(srv), "POST /stream HTTP/1.1\r\nHost: t\r\n"
		      "Content-Length: 11\r\n\r\nhello world", reply, sizeof(reply), 3, NULL);
	assert_non_null(strstr(reply, "- 11 0"));
	assert_int_equal(atomic_load(&stream_ends), 1);
	assert_int_equal(atomic_load(&stream_complete), 1);
	close(fd);

	/* A connection closed before the body ends finishes the stream as incomplete. */
	atomic_store(&stream_ends, 0);
	fd = raw_send(http_port(srv), "POST /stream HTTP/1.1\r\nHost: t\r\n"
		      "Content-Length: 100\r\n\r\nshort", reply, sizeof(reply), 1, NULL);
	close(fd);
	wait_nonzero(&stream_ends);
	assert_int_equal(atomic_load(&stream_ends), 1);
	assert_int_equal(atomic_load(&stream_complete), 0);
	http_stop(srv);
}

static void
precheck_no_reply(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	struct http_server *srv;
	char reply[2048];
	int fd;

	(void)state;
	cfg.precheck = test_precheck;
	srv = abuse_start(&cfg);
	fd = raw_send(http_port(srv), "GET /deny-silent HTTP/1.1\r\nHost: t\r\n\r\n", reply,
		      sizeof(reply), 3, NULL);
	assert_memory_equal(reply, "HTTP/1.1 500 ", 13);
	close(fd);
	http_stop(srv);
}

static void
methods_limited(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	struct http_server *srv;
	char reply[2048];
	long ms;
	int fd;

	(void)state;
	cfg.methods = HTTP_METHOD_GET | HTTP_METHOD_HEAD;
	srv = abuse_start(&cfg);

	fd = raw_send(http_port(srv), "POST /echo HTTP/1.1\r\nHost: t\r\n"
		      "Content-Length: 1000\r\n\r\n", reply, sizeof(reply), 3, &ms);
	assert_memory_equal(reply, "HTTP/1.1 405 ", 13);
	assert_non_null(strstr(reply, "\r\nAllow: GET, HEAD\r\n"));
	assert_true(ms < 2000);
	close(fd);

	fd = raw_send(http_port(srv), "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", reply,
		      sizeof(reply), 3, NULL);
	assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
	close(fd);
	http_stop(srv);
}

static void
body_ceiling(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	static const char announce[] = "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n";
	struct http_server *srv;
	char reply[2048], value[16];
	struct response r;
	long ms;
	int pending, fd;

	(void)state;
	/* Each upload reserves at most max_body_bytes + 1, so one fits and two do not. */
	cfg.max_buffered_body_bytes = TEST_MAX_BODY + 100;
	srv = abuse_start(&cfg);

	/* One upload that has not finished reserves most of the ceiling. */
	pending = raw_connect(http_port(srv), 3);
	assert_int_equal(send(pending, announce, strlen(announce), 0), (ssize_t)strlen(announce));
	usleep(200 * 1000);

	/* A second one gets 503 before its body, with Retry-After. */
	fd = raw_send(http_port(srv), announce, reply, sizeof(reply), 3, &ms);
	assert_memory_equal(reply, "HTTP/1.1 503 ", 13);
	assert_non_null(strstr(reply, "\r\nRetry-After: 5\r\n"));
	assert_true(ms < 2000);
	close(fd);

	/* A request without a body is not affected. */
	fd = raw_send(http_port(srv), "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", reply,
		      sizeof(reply), 3, NULL);
	assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
	close(fd);

	/* Once the first upload is gone, its reservation is returned. */
	close(pending);
	usleep(200 * 1000);
	snprintf(reply, sizeof(reply), "http://127.0.0.1:%u/echo", http_port(srv));
	{
		char body[1001];

		memset(body, 'x', 1000);
		body[1000] = '\0';
		assert_int_equal(request_on(NULL, "PUT", reply, NULL, body, NULL, NULL, &r), 0);
	}
	assert_int_equal(r.status, 200);
	assert_null(header_value(&r, "Retry-After", value, sizeof(value)));
	response_free(&r);
	http_stop(srv);
}

static void
body_ceiling_chunked(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	static const char announce[] = "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n";
	static const char chunked[] = "PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
				      "Connection: close\r\n\r\n"
				      "200\r\n%0512d\r\n200\r\n%0512d\r\n0\r\n\r\n";
	struct http_server *srv;
	char text[2048], reply[2048];
	int pending, fd;

	(void)state;
	/* Each upload reserves at most max_body_bytes + 1, so one fits and two do not. */
	cfg.max_buffered_body_bytes = TEST_MAX_BODY + 100;
	srv = abuse_start(&cfg);
	pending = raw_connect(http_port(srv), 3);
	assert_int_equal(send(pending, announce, strlen(announce), 0), (ssize_t)strlen(announce));
	usleep(200 * 1000);

	/* The chunked body grows past what is left; its reply comes once it has ended. */
	snprintf(text, sizeof(text), chunked, 0, 0);
	fd = raw_send(http_port(srv), text, reply, sizeof(reply), 3, NULL);
	assert_memory_equal(reply, "HTTP/1.1 503 ", 13);
	close(fd);
	close(pending);
	http_stop(srv);
}

static void
body_ceiling_invalid(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	struct http_server *srv = NULL;

	(void)state;
	cfg.max_buffered_body_bytes = TEST_MAX_BODY - 1;
	assert_int_equal(http_start(&cfg, &srv), -EINVAL);
	assert_null(srv);
}

/* Send one header byte every 300 ms until the server closes or `total_ms` pass. */
static long
trickle_until_closed(int fd, long total_ms)
{
	struct timespec start, now;
	long elapsed = 0;
	char byte;

	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int_equal(send(fd, "GET /echo HTTP/1.1\r\nX-Slow: ", 28, MSG_NOSIGNAL), 28);
	while (elapsed < total_ms) {
		usleep(300 * 1000);
		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (send(fd, "a", 1, MSG_NOSIGNAL) != 1)
			return elapsed;
		/* A closed connection reads as end of file once the server has shut it down. */
		if (recv(fd, &byte, 1, MSG_DONTWAIT) == 0)
			return elapsed;
	}
	return -1;
}

static void
header_deadline_closes(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	struct http_server *srv;
	long elapsed;
	int fd;

	(void)state;
	cfg.header_timeout_seconds = 1;
	cfg.timeout_seconds = 10;
	srv = abuse_start(&cfg);

	/* Never idle for timeout_seconds, but past the header deadline after a second. */
	fd = raw_connect(http_port(srv), 5);
	elapsed = trickle_until_closed(fd, 5000);
	close(fd);
	assert_true(elapsed >= 900);
	assert_true(elapsed < 2500);
	http_stop(srv);
}

static void
header_deadline_frees_slots(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	static const char partial[] = "GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow: a";
	static const char normal[] = "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n";
	struct http_server *srv;
	char reply[2048];
	int slow[3], fd;
	long ms;

	(void)state;
	cfg.threads = 1;
	cfg.max_connections = 3;
	cfg.header_timeout_seconds = 1;
	srv = abuse_start(&cfg);

	/* Two slow clients below the limit: a normal request is still served at once. */
	for (int i = 0; i < 2; i++) {
		slow[i] = raw_connect(http_port(srv), 5);
		assert_int_equal(send(slow[i], partial, strlen(partial), 0),
				 (ssize_t)strlen(partial));
	}
	fd = raw_send(http_port(srv), normal, reply, sizeof(reply), 3, &ms);
	assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
	assert_true(ms < 500);
	close(fd);
	usleep(100 * 1000);

	/* A third slow client takes the last slot; the next client waits in the backlog. */
	slow[2] = raw_connect(http_port(srv), 5);
	assert_int_equal(send(slow[2], partial, strlen(partial), 0), (ssize_t)strlen(partial));
	usleep(100 * 1000);
	fd = raw_send(http_port(srv), normal, reply, sizeof(reply), 4, &ms);

	/* The deadline closes the slow ones about a second after they connected. */
	assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
	assert_true(ms > 300);
	assert_true(ms < 2500);
	close(fd);
	for (int i = 0; i < 3; i++)
		close(slow[i]);
	http_stop(srv);
}

static void
header_deadline_keep_alive(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	struct http_server *srv;
	char reply[2048];
	long ms;
	int fd;

	(void)state;
	cfg.header_timeout_seconds = 1;
	cfg.timeout_seconds = 10;
	srv = abuse_start(&cfg);

	/* After a reply the next request on the connection gets a deadline of its own. */
	fd = raw_send(http_port(srv), "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", reply,
		      sizeof(reply), 3, NULL);
	assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
	ms = wait_closed(fd, 5);
	assert_true(ms >= 700);
	assert_true(ms < 2500);
	close(fd);
	http_stop(srv);
}

static int closed_fd_state = -2;  /* fcntl(F_GETFD) in the close notification */

static void
record_fd_at_close(void *cls, struct MHD_Connection *conn, void **socket_context,
		   enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *info;

	(void)cls;
	(void)socket_context;
	if (code != MHD_CONNECTION_NOTIFY_CLOSED)
		return;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	closed_fd_state = info != NULL ? fcntl(info->connect_fd, F_GETFD) : -3;
}

static enum MHD_Result
close_at_once(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	      const char *version, const char *upload_data, size_t *upload_data_size,
	      void **con_cls)
{
	(void)cls;
	(void)conn;
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	return MHD_NO;
}

/*
 * The header deadline calls shutdown(2) on a connection's descriptor from its own
 * thread, which is only safe because the installed libmicrohttpd reports a connection
 * closed before it closes the descriptor. Check that order directly.
 */
static void
deadline_fd_open_at_close(void **state)
{
	struct MHD_Daemon *daemon;
	const union MHD_DaemonInfo *info;
	char reply[256];
	int fd;

	(void)state;
	daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
				  close_at_once, NULL, MHD_OPTION_NOTIFY_CONNECTION,
				  record_fd_at_close, NULL, MHD_OPTION_END);
	assert_non_null(daemon);
	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	fd = raw_send(info->port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", reply, sizeof(reply),
		      3, NULL);
	close(fd);
	MHD_stop_daemon(daemon);
	assert_true(closed_fd_state >= 0);
}

static void
per_ip_limit(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	struct http_server *srv;
	char reply[2048];
	int fds[2], fd;

	(void)state;
	cfg.max_connections_per_ip = 2;
	srv = abuse_start(&cfg);
	for (int i = 0; i < 2; i++) {
		fds[i] = raw_connect(http_port(srv), 3);
		assert_int_equal(send(fds[i], "G", 1, 0), 1);
	}
	usleep(100 * 1000);

	/* The third connection from 127.0.0.1 is closed without a reply. */
	fd = raw_send(http_port(srv), "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", reply,
		      sizeof(reply), 3, NULL);
	assert_string_equal(reply, "");
	close(fd);

	/* Below the limit again, requests are served. */
	close(fds[0]);
	usleep(100 * 1000);
	fd = raw_send(http_port(srv), "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", reply,
		      sizeof(reply), 3, NULL);
	assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
	close(fd);
	close(fds[1]);
	http_stop(srv);
}

/* GET /echo with `count` query arguments "a=1" and one "q=end"; returns the fd. */
static int
many_args_request(unsigned count, char *reply, size_t size, long *ms)
{
	struct buf text;
	int fd;

	buf_init(&text, 64 * 1024);
	buf_puts(&text, "GET /echo?");
	for (unsigned i = 0; i < count; i++)
		buf_puts(&text, "a=1&");
	buf_puts(&text, "q=end HTTP/1.1\r\nHost: t\r\n\r\n");
	fd = raw_send(http_port(fx.boot), text.data, reply, size, 5, ms);
	buf_free(&text);
	return fd;
}

static void
many_query_args(void **state)
{
	char reply[4096];
	long ms;
	int fd;

	(void)state;

	/* 121 arguments: within HTTP_MAX_FIELDS with the Host header, so they parse. */
	fd = many_args_request(120, reply, sizeof(reply), &ms);
	assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
	assert_non_null(strstr(reply, "\r\n\r\n"));
	close(fd);

	/* Past HTTP_MAX_FIELDS the request gets 431 at once, not at the timeout. */
	fd = many_args_request(300, reply, sizeof(reply), &ms);
	assert_memory_equal(reply, "HTTP/1.1 431 ", 13);
	assert_true(ms < 2000);
	close(fd);
}

static void
nul_rejected(void **state)
{
	static const char *const targets[] = {
		"/files/data.bin%00.txt", "/echo?q=a%00b", "/echo?a%00=1", "/ech%00o",
		"/echo?q=%2500&r=%00",
	};
	char text[256], reply[2048];

	(void)state;
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		int fd;

		snprintf(text, sizeof(text), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", targets[i]);
		fd = raw_send(http_port(fx.boot), text, reply, sizeof(reply), 3, NULL);
		if (strncmp(reply, "HTTP/1.1 400 ", 13) != 0)
			print_error("target \"%s\" got \"%.20s\"\n", targets[i], reply);
		assert_memory_equal(reply, "HTTP/1.1 400 ", 13);
		close(fd);
	}

	/* "%2500" decodes to the text "%00", which is fine. */
	snprintf(text, sizeof(text), "GET /echo?q=%%2500 HTTP/1.1\r\nHost: t\r\n\r\n");
	close(raw_send(http_port(fx.boot), text, reply, sizeof(reply), 3, NULL));
	assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
}

static void
nul_value_absent(void **state)
{
	struct response r;

	(void)state;
	assert_int_equal(request_on(NULL, "GET", "http://localhost/inject?a=1", NULL, NULL,
				    fx.sock, NULL, &r),
			 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body.data, "(null)|(null)|a=1;");
	response_free(&r);
}

/* Count the occurrences of `needle` in `text`. */
static unsigned
count_of(const char *text, const char *needle)
{
	unsigned n = 0;

	for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Requests sent together in one write get their replies in order, on one connection. */
static void
boot_pipelined(void **state)
{
	static const char text[] =
		"GET /echo?q=one HTTP/1.1\r\nHost: t\r\n\r\n"
		"POST /echo?q=two HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
		"POST /echo?q=three HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
		"GET /echo?q=four HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	char out[16384];
	const char *two, *three, *four;

	(void)state;
	raw_exchange(text, out, sizeof(out));
	assert_int_equal(count_of(out, "HTTP/1.1 200 "), 4);
	two = strstr(out, "\"q\":\"two\"");
	three = strstr(out, "\"q\":\"three\"");
	four = strstr(out, "\"q\":\"four\"");
	assert_non_null(strstr(out, "\"q\":\"one\""));
	assert_non_null(two);
	assert_non_null(three);
	assert_non_null(four);
	assert_true(strstr(out, "\"q\":\"one\"") < two && two < three && three < four);
	assert_non_null(strstr(out, "\"body\":\"hello\""));
	assert_non_null(strstr(out, "\"body\":\"abcde\""));
	assert_int_equal(count_of(out, "Connection: close\r\n"), 1);
}

/* A request that arrives a byte at a time gets its reply once its head is whole. */
static void
boot_request_in_pieces(void **state)
{
	static const char text[] = "POST /echo?q=slow HTTP/1.1\r\nHost: t\r\n"
				   "Content-Length: 4\r\n\r\nbody";
	char reply[4096];
	size_t used = 0;
	ssize_t n;
	int fd;

	(void)state;
	fd = raw_connect(http_port(fx.boot), 5);
	for (size_t i = 0; i < strlen(text); i++) {
		assert_int_equal(send(fd, text + i, 1, 0), 1);
		usleep(1000);
	}
	while (used + 1 < sizeof(reply) && strstr(reply, "\"body\":\"body\"") == NULL &&
	       (n = recv(fd, reply + used, sizeof(reply) - 1 - used, 0)) > 0) {
		used += (size_t)n;
		reply[used] = '\0';
	}
	assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
	assert_non_null(strstr(reply, "\"q\":\"slow\""));
	assert_non_null(strstr(reply, "\"body\":\"body\""));
	close(fd);
}

/* A client that sends Expect: 100-continue gets "100 Continue" before it sends the body. */
static void
boot_expect_continue(void **state)
{
	static const char head[] = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
				   "Expect: 100-continue\r\n\r\n";
	char reply[4096];
	ssize_t n;
	int fd;

	(void)state;
	fd = raw_connect(http_port(fx.boot), 5);
	assert_int_equal(send(fd, head, strlen(head), 0), (ssize_t)strlen(head));
	n = recv(fd, reply, sizeof(reply) - 1, 0);
	assert_true(n > 0);
	reply[n] = '\0';
	assert_string_equal(reply, "HTTP/1.1 100 Continue\r\n\r\n");
	assert_int_equal(send(fd, "xyz", 3, 0), 3);
	n = recv(fd, reply, sizeof(reply) - 1, 0);
	assert_true(n > 0);
	reply[n] = '\0';
	assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
	assert_non_null(strstr(reply, "\"body\":\"xyz\""));
	close(fd);
}

/* Malformed chunked bodies get 400 and the connection closes. */
static void
boot_chunked_malformed(void **state)
{
	static const char *const bodies[] = {
		"zz\r\nabc\r\n0\r\n\r\n",          /* size not hex */
		"3\r\nabcX\r\n0\r\n\r\n",          /* no CRLF after the data */
		"\r\nabc\r\n0\r\n\r\n",            /* empty size */
		"fffffffffffffffff\r\n",           /* size past 64 bits */
		"5 6\r\nabcde\r\n0\r\n\r\n",       /* a second number after the size */
		"3\rx\nabc\r\n0\r\n\r\n",          /* a CR not followed by LF */
	};
	char text[512], out[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		snprintf(text, sizeof(text), "POST /echo HTTP/1.1\r\nHost: t\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n%s", bodies[i]);
		raw_exchange(text, out, sizeof(out));
		if (strncmp(out, "HTTP/1.1 400 ", 13) != 0)
			print_error("body %zu got \"%.20s\"\n", i, out);
		assert_memory_equal(out, "HTTP/1.1 400 ", 13);
		assert_non_null(strstr(out, "Connection: close\r\n"));
	}
}

/* HTTP/1.0 closes without a keep-alive request header, and HTTP/1.1 closes only on close. */
static void
boot_connection_header(void **state)
{
	char out[8192];

	(void)state;
	raw_exchange("GET /echo HTTP/1.0\r\n\r\nGET /echo HTTP/1.0\r\n\r\n", out, sizeof(out));
	assert_int_equal(count_of(out, "HTTP/1.1 200 "), 1);
	assert_int_equal(count_of(out, "Connection: close\r\n"), 1);

	raw_exchange("GET /echo HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
		     "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: foo, close\r\n\r\n"
		     "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", out, sizeof(out));
	assert_int_equal(count_of(out, "HTTP/1.1 200 "), 2);
	assert_int_equal(count_of(out, "Connection: keep-alive\r\n"), 1);
	assert_int_equal(count_of(out, "Connection: close\r\n"), 1);

	/* Every Connection header counts, not just the first. */
	raw_exchange("GET /echo HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n"
		     "Connection: close\r\n\r\nGET /echo HTTP/1.1\r\nHost: t\r\n\r\n", out,
		     sizeof(out));
	assert_int_equal(count_of(out, "HTTP/1.1 200 "), 1);
	assert_int_equal(count_of(out, "Connection: close\r\n"), 1);
}

/*
 * A request rejected before its announced body ends the connection, so the body is
 * never taken for a request of its own, and the reply carries Connection: close.
 */
static void
boot_rejected_body_closes(void **state)
{
	static const char *const heads[] = {
		"GET /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 38\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
	};
	char text[512], out[8192];

	(void)state;
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		snprintf(text, sizeof(text), "%sGET /echo?q=hidden HTTP/1.1\r\nHost: t\r\n\r\n",
			 heads[i]);
		raw_exchange(text, out, sizeof(out));
		assert_memory_equal(out, "HTTP/1.1 400 ", 13);
		assert_int_equal(count_of(out, "HTTP/1.1 "), 1);
		assert_null(strstr(out, "hidden"));
		assert_non_null(strstr(out, "Connection: close\r\n"));
	}
}

/* A chunk size line whose CR and LF arrive in two reads must still be CR LF. */
static void
boot_chunk_size_split(void **state)
{
	static const char head[] = "POST /echo HTTP/1.1\r\nHost: t\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n1\r";
	char reply[4096];
	ssize_t n;
	int fd;

	(void)state;
	fd = raw_connect(http_port(fx.boot), 5);
	assert_int_equal(send(fd, head, strlen(head), 0), (ssize_t)strlen(head));
	usleep(50 * 1000);
	assert_int_equal(send(fd, "2\n", 2, MSG_NOSIGNAL), 2);
	n = recv(fd, reply, sizeof(reply) - 1, 0);
	assert_true(n > 0);
	reply[n] = '\0';
	assert_memory_equal(reply, "HTTP/1.1 400 ", 13);
	close(fd);
}

/* A client that sends its request and closes its side gets the reply and a prompt close. */
static void
boot_half_close(void **state)
{
	struct timespec start, end;
	char out[4096];
	long ms;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &start);
	raw_exchange("GET /echo?q=last HTTP/1.1\r\nHost: t\r\n\r\n", out, sizeof(out));
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
	assert_memory_equal(out, "HTTP/1.1 200 ", 13);
	assert_non_null(strstr(out, "\"q\":\"last\""));
	assert_true(ms < 1000);
}

struct framing_case {
	const char *request;
	const char *status;     /* start of the expected status line */
};

static void
framing_checks(void **state)
{
	static const struct framing_case cases[] = {
		{ "GET /echo HTTP/1.1\r\n\r\n", "HTTP/1.1 400 " },
		{ "GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HTTP/1.1 400 " },
		{ "GET /echo HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", "HTTP/1.1 400 " },
		{ "GET /echo HTTP/1.0\r\n\r\n", "HTTP/1.1 200 " },
		{ "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 " },
		{ "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		  "Content-Length: 5\r\n\r\n0\r\n\r\n", "HTTP/1.1 400 " },
		{ "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400 " },
		{ "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n"
		  "\r\nabc", "HTTP/1.1 400 " },
		{ "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc",
		  "HTTP/1.1 400 " },
		{ "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400 " },
		{ "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
		  "3\r\nabc\r\n0\r\n\r\n", "HTTP/1.1 200 " },
		/* The space after the value is not part of it (RFC 9110 section 5.5). */
		{ "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked \r\n\r\n"
		  "3\r\nabc\r\n0\r\n\r\n", "HTTP/1.1 200 " },
	};
	char reply[2048];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long ms;
		int fd = raw_send(http_port(fx.boot), cases[i].request, reply, sizeof(reply), 3,
				  &ms);

		if (strncmp(reply, cases[i].status, strlen(cases[i].status)) != 0 || ms > 2000)
			print_error("case %zu got \"%.20s\" after %ld ms\n", i, reply, ms);
		assert_memory_equal(reply, cases[i].status, strlen(cases[i].status));
		assert_true(ms < 2000);
		close(fd);
	}
}

static void
header_count_repeated(void **state)
{
	const char *two[] = { "X-Test: a", "X-Test: b", NULL };
	const char *one[] = { "x-test: a", NULL };
	struct response r;

	(void)state;
	assert_int_equal(request("GET", "/count", two, NULL, &r), 0);
	assert_string_equal(r.body.data, "2");
	response_free(&r);
	assert_int_equal(request("GET", "/count", one, NULL, &r), 0);
	assert_string_equal(r.body.data, "1");
	response_free(&r);
	assert_int_equal(request("GET", "/count", NULL, NULL, &r), 0);
	assert_string_equal(r.body.data, "0");
	response_free(&r);
}

/* Run http_start (when *srv is NULL) or http_stop with stderr sent to `out`. */
static void
capture_stderr(struct http_listener_config *cfg, struct http_server **srv, char *out,
	       size_t size)
{
	FILE *file = tmpfile();
	int saved = dup(2);
	size_t n;

	assert_non_null(file);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(file), 2) >= 0);
	if (*srv == NULL)
		assert_int_equal(http_start(cfg, srv), 0);
	else
		*srv = http_stop(*srv);
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	rewind(file);
	n = fread(out, 1, size - 1, file);
	out[n] = '\0';
	fclose(file);
}

static void
single_thread_quiet(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_BOOT, "127.0.0.1:0");
	struct http_server *srv = NULL;
	char log[8192], expected[64];
	uint16_t port;

	(void)state;
	cfg.threads = 1;
	log_setup(LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	capture_stderr(&cfg, &srv, log, sizeof(log));
	assert_non_null(srv);
	assert_null(strstr(log, "thread pool"));
	assert_non_null(strstr(log, "http listening"));

	/* The stop line names the bound port, not the configured port 0. */
	port = http_port(srv);
	capture_stderr(NULL, &srv, log, sizeof(log));
	log_setup(LOG_LEVEL_WARNING, LOG_TARGET_STDERR);
	assert_null(srv);
	snprintf(expected, sizeof(expected), "port=%u", port);
	assert_non_null(strstr(log, "http stopped"));
	assert_non_null(strstr(log, expected));
}

/* ---- file serving ---- */

static void
file_whole(void **state)
{
	char value[128], expected[TEST_FILE_SIZE + 1];
	struct response r;

	(void)state;
	for (int i = 0; i < TEST_FILE_SIZE; i++)
		expected[i] = (char)('a' + i % 26);
	expected[TEST_FILE_SIZE] = '\0';

	assert_int_equal(request("GET", "/files/data.bin", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, TEST_FILE_SIZE);
	assert_memory_equal(r.body.data, expected, TEST_FILE_SIZE);
	assert_string_equal(header_value(&r, "Content-Length", value, sizeof(value)), "100");
	assert_int_equal(header_count(&r, "Content-Length"), 1);
	assert_string_equal(header_value(&r, "Accept-Ranges", value, sizeof(value)), "bytes");
	assert_string_equal(header_value(&r, "Content-Type", value, sizeof(value)),
			    "application/octet-stream");
	assert_non_null(header_value(&r, "Last-Modified", value, sizeof(value)));
	assert_non_null(strstr(value, " GMT"));
	assert_non_null(header_value(&r, "ETag", value, sizeof(value)));
	assert_int_equal(value[0], '"');
	assert_null(header_value(&r, "Connection", value, sizeof(value)));
	response_free(&r);
}

static void
file_nested(void **state)
{
	struct response r;

	(void)state;
	assert_int_equal(request("GET", "/files/sub/inner.txt", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body.data, "inner");
	response_free(&r);
}

static void
file_empty(void **state)
{
	char value[32];
	struct response r;

	(void)state;
	assert_int_equal(request("GET", "/files/empty", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 0);
	assert_string_equal(header_value(&r, "Content-Length", value, sizeof(value)), "0");
	response_free(&r);
}

static void
file_head(void **state)
{
	char value[32];
	struct response r;

	(void)state;
	assert_int_equal(request("HEAD", "/files/data.bin", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 0);
	assert_string_equal(header_value(&r, "Content-Length", value, sizeof(value)), "100");
	assert_non_null(header_value(&r, "ETag", value, sizeof(value)));
	response_free(&r);
}

static void
file_post_rejected(void **state)
{
	char value[32];
	struct response r;

	(void)state;
	assert_int_equal(request("POST", "/files/data.bin", NULL, "x", &r), 0);
	assert_int_equal(r.status, 405);
	assert_string_equal(header_value(&r, "Allow", value, sizeof(value)), "GET, HEAD");
	response_free(&r);
}

struct range_case {
	const char *range;
	long status;
	const char *content_range;  /* NULL: header absent */
	size_t first;               /* first byte of the body in the file */
	size_t length;              /* body length */
};

static void
file_ranges(void **state)
{
	static const struct range_case cases[] = {
		{ "bytes=2-5", 206, "bytes 2-5/100", 2, 4 },
		{ "bytes=0-0", 206, "bytes 0-0/100", 0, 1 },
		{ "bytes=95-", 206, "bytes 95-99/100", 95, 5 },
		{ "bytes=-3", 206, "bytes 97-99/100", 97, 3 },
		{ "bytes=-500", 206, "bytes 0-99/100", 0, 100 },
		{ "bytes=90-500", 206, "bytes 90-99/100", 90, 10 },
		{ "bytes=100-", 416, "bytes */100", 0, 0 },
		{ "bytes=100-200", 416, "bytes */100", 0, 0 },
		{ "bytes=-0", 416, "bytes */100", 0, 0 },
		{ "bytes=0-1,5-6", 200, NULL, 0, 100 },
		{ "bytes=5-2", 200, NULL, 0, 100 },
		{ "items=0-1", 200, NULL, 0, 100 },
		{ "bytes=abc", 200, NULL, 0, 100 },
	};
	char header[64], value[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct range_case *c = &cases[i];
		const char *headers[] = { header, NULL };
		struct response r;

		snprintf(header, sizeof(header), "Range: %s", c->range);
		assert_int_equal(request("GET", "/files/data.bin", headers, NULL, &r), 0);
		if (r.status != c->status)
			print_error("Range \"%s\" got status %ld\n", c->range, r.status);
		assert_int_equal(r.status, c->status);
		if (c->content_range == NULL) {
			assert_null(header_value(&r, "Content-Range", value, sizeof(value)));
		} else {
			assert_non_null(header_value(&r, "Content-Range", value, sizeof(value)));
			assert_string_equal(value, c->content_range);
		}
		if (c->status != 416) {
			assert_int_equal(r.body.len, c->length);
			for (size_t j = 0; j < c->length; j++)
				assert_int_equal(r.body.data[j], 'a' + (c->first + j) % 26);
		}
		response_free(&r);
	}
}

static void
file_range_head(void **state)
{
	const char *headers[] = { "Range: bytes=10-19", NULL };
	char value[64];
	struct response r;

	(void)state;
	assert_int_equal(request("HEAD", "/files/data.bin", headers, NULL, &r), 0);
	assert_int_equal(r.status, 206);
	assert_int_equal(r.body.len, 0);
	assert_string_equal(header_value(&r, "Content-Length", value, sizeof(value)), "10");
	assert_string_equal(header_value(&r, "Content-Range", value, sizeof(value)),
			    "bytes 10-19/100");
	response_free(&r);
}

/* Fetch the file's ETag as served. */
static void
current_etag(char *out, size_t size)
{
	struct response r;

	assert_int_equal(request("HEAD", "/files/data.bin", NULL, NULL, &r), 0);
	assert_non_null(header_value(&r, "ETag", out, size));
	response_free(&r);
}

static void
file_not_modified(void **state)
{
	/* Each list is prefix + ETag + suffix; "*" alone uses no ETag. */
	static const struct {
		const char *prefix, *suffix;
		bool with_etag;
	} lists[] = {
		{ "", "", true },
		{ "\"other\", ", "", true },
		{ "W/", "", true },
		{ " \"x\" ,W/", " ", true },
		{ "*", "", false },
	};
	char etag[128], header[256], value[128];
	const char *headers[] = { header, NULL };
	struct response r;

	(void)state;
	current_etag(etag, sizeof(etag));
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		snprintf(header, sizeof(header), "If-None-Match: %s%s%s", lists[i].prefix,
			 lists[i].with_etag ? etag : "", lists[i].suffix);
		assert_int_equal(request("GET", "/files/data.bin", headers, NULL, &r), 0);
		if (r.status != 304)
			print_error("%s got status %ld\n", header, r.status);
		assert_int_equal(r.status, 304);
		assert_int_equal(r.body.len, 0);
		assert_string_equal(header_value(&r, "ETag", value, sizeof(value)), etag);
		response_free(&r);
	}
}

static void
file_etag_mismatch(void **state)
{
	static const char *const lists[] = {
		"\"nope\"", "W/\"nope\", \"also-nope\"", "garbage", "\"unterminated",
	};
	char header[128];
	const char *headers[] = { header, NULL };
	struct response r;

	(void)state;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		snprintf(header, sizeof(header), "If-None-Match: %s", lists[i]);
		assert_int_equal(request("GET", "/files/data.bin", headers, NULL, &r), 0);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body.len, TEST_FILE_SIZE);
		response_free(&r);
	}
}

static void
file_etag_given(void **state)
{
	const char *headers[] = { "If-None-Match: \"abc123\"", NULL };
	char value[64];
	struct response r;

	(void)state;
	assert_int_equal(request("GET", "/file?rel=data.bin&etag=abc123", NULL, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(header_value(&r, "ETag", value, sizeof(value)), "\"abc123\"");
	assert_string_equal(header_value(&r, "Content-Type", value, sizeof(value)),
			    "text/plain");
	response_free(&r);

	assert_int_equal(request("GET", "/file?rel=data.bin&etag=abc123", headers, NULL, &r), 0);
	assert_int_equal(r.status, 304);
	response_free(&r);
}

static void
file_if_range(void **state)
{
	char etag[128], header[192];
	const char *stale[] = { "Range: bytes=0-9", "If-Range: \"stale\"", NULL };
	const char *fresh[] = { "Range: bytes=0-9", header, NULL };
	struct response r;

	(void)state;
	assert_int_equal(request("GET", "/files/data.bin", stale, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, TEST_FILE_SIZE);
	response_free(&r);

	current_etag(etag, sizeof(etag));
	snprintf(header, sizeof(header), "If-Range: %s", etag);
	assert_int_equal(request("GET", "/files/data.bin", fresh, NULL, &r), 0);
	assert_int_equal(r.status, 206);
	assert_int_equal(r.body.len, 10);
	response_free(&r);
}

static void
file_traversal(void **state)
{
	/* Each is the path after MHD's one round of percent-decoding, sent via ?rel=. */
	static const char *const rels[] = {
		"../x", "../secret.txt", "a/../../etc/passwd", "sub/../data.bin",
		"%2e%2e/x", "%2e%2e%2fsecret.txt", "%252e%252e%252fx", "/etc/passwd",
		"a//b", "sub//inner.txt", ".hidden", "./data.bin", "data.bin/", "",
		"link-out", "link-in", "link-dir/inner.txt", "dir", "sub", "fifo",
		"missing", "data.bin\\..", "sub/inner.txt\n",
	};
	char url[512], *escaped;
	struct response r;
	CURL *handle = curl_easy_init();

	(void)state;
	assert_non_null(handle);
	for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
		escaped = curl_easy_escape(handle, rels[i], 0);
		snprintf(url, sizeof(url), "/file?rel=%s", escaped);
		curl_free(escaped);
		assert_int_equal(request("GET", url, NULL, NULL, &r), 0);
		if (r.status != 404)
			print_error("rel \"%s\" got status %ld\n", rels[i], r.status);
		assert_int_equal(r.status, 404);
		assert_null(strstr(r.body.data, "root:"));
		response_free(&r);
	}
	curl_easy_cleanup(handle);
}

static void
file_traversal_url(void **state)
{
	/* The same attacks as raw request paths; curl sends them as is. */
	static const char *const paths[] = {
		"/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files/%252e%252e/secret.txt",
		"/files/%252e%252e%252fsecret.txt", "/files//etc/passwd", "/files/sub/../data.bin",
		"/files/link-out", "/files/.hidden", "/files/fifo", "/files/dir",
	};
	struct response r;

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		assert_int_equal(request("GET", paths[i], NULL, NULL, &r), 0);
		if (r.status != 404)
			print_error("path \"%s\" got status %ld\n", paths[i], r.status);
		assert_int_equal(r.status, 404);
		response_free(&r);
	}
}

static void
open_fallback_walk(void **state)
{
	struct {
		const char *rel;
		bool ok;
	} cases[] = {
		{ "data.bin", true },      { "sub/inner.txt", true },  { "link-in", false },
		{ "link-out", false },     { "link-dir/inner.txt", false },
		{ "missing", false },      { "fifo", true },           { "sub/missing", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int openat2 = 0; openat2 <= 1; openat2++) {
			int fd = http_open_beneath(fx.root_fd, cases[i].rel, openat2 == 1);

			if ((fd >= 0) != cases[i].ok)
				print_error("rel \"%s\" openat2=%d returned %d\n", cases[i].rel,
					    openat2, fd);
			assert_int_equal(fd >= 0, cases[i].ok);
			if (fd >= 0)
				close(fd);
		}
	}
}

/* ---- parsers ---- */

static void
path_check_table(void **state)
{
	static const struct {
		const char *path;
		int rc;
	} cases[] = {
		{ "a", 0 },
		{ "data.bin", 0 },
		{ "sub/inner.txt", 0 },
		{ "A-Z_a-z.0-9", 0 },
		{ "a/b/c/d", 0 },
		{ "x.", 0 },
		{ "a..b", 0 },
		{ "", -EINVAL },
		{ "/", -EINVAL },
		{ "/etc/passwd", -EINVAL },
		{ ".", -EINVAL },
		{ "..", -EINVAL },
		{ "../x", -EINVAL },
		{ "a/..", -EINVAL },
		{ "a/../b", -EINVAL },
		{ "a/./b", -EINVAL },
		{ ".hidden", -EINVAL },
		{ "a/.hidden", -EINVAL },
		{ "a//b", -EINVAL },
		{ "a/", -EINVAL },
		{ "%2e%2e/x", -EINVAL },
		{ "a%2fb", -EINVAL },
		{ "a b", -EINVAL },
		{ "a\\b", -EINVAL },
		{ "a:b", -EINVAL },
		{ "a\nb", -EINVAL },
		{ "caf\xc3\xa9", -EINVAL },
		{ "a~", -EINVAL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = http_path_check(cases[i].path);

		if (rc != cases[i].rc)
			print_error("path \"%s\" returned %d\n", cases[i].path, rc);
		assert_int_equal(rc, cases[i].rc);
	}
	assert_int_equal(http_path_check(NULL), -EINVAL);
}

static void
path_check_lengths(void **state)
{
	char *path = malloc(HTTP_PATH_MAX + 2);

	(void)state;
	assert_non_null(path);

	/* One component at NAME_MAX passes; one byte more fails. */
	memset(path, 'n', HTTP_NAME_MAX);
	path[HTTP_NAME_MAX] = '\0';
	assert_int_equal(http_path_check(path), 0);
	memset(path, 'n', HTTP_NAME_MAX + 1);
	path[HTTP_NAME_MAX + 1] = '\0';
	assert_int_equal(http_path_check(path), -EINVAL);

	/* "n/n/n/..." of exactly HTTP_PATH_MAX bytes passes; one byte more fails. */
	for (size_t i = 0; i < HTTP_PATH_MAX; i++)
		path[i] = i % 2 == 0 ? 'n' : '/';
	path[HTTP_PATH_MAX] = '\0';
	assert_int_equal(http_path_check(path), 0);
	path[HTTP_PATH_MAX] = '/';
	path[HTTP_PATH_MAX + 1] = '\0';
	assert_int_equal(http_path_check(path), -EINVAL);
	free(path);
}

static void
range_parse_table(void **state)
{
	static const struct {
		const char *value;
		uint64_t size;
		int rc;
		uint64_t first, last;
	} cases[] = {
		{ "bytes=0-9", 100, 1, 0, 9 },
		{ "bytes=10-", 100, 1, 10, 99 },
		{ "bytes=-10", 100, 1, 90, 99 },
		{ "bytes=-100", 100, 1, 0, 99 },
		{ "bytes=-1000", 100, 1, 0, 99 },
		{ "bytes=50-5000", 100, 1, 50, 99 },
		{ "bytes=99-99", 100, 1, 99, 99 },
		{ "BYTES=1-2", 100, 1, 1, 2 },
		{ "bytes = 1-2", 100, 1, 1, 2 },
		{ "bytes=1-2 ", 100, 1, 1, 2 },
		{ "bytes=0-18446744073709551615", 100, 1, 0, 99 },
		{ "bytes=0-99999999999999999999999", 100, 1, 0, 99 },
		{ "bytes=100-", 100, -ERANGE, 0, 0 },
		{ "bytes=100-100", 100, -ERANGE, 0, 0 },
		{ "bytes=99999999999999999999999-", 100, -ERANGE, 0, 0 },
		{ "bytes=-0", 100, -ERANGE, 0, 0 },
		{ "bytes=0-", 0, -ERANGE, 0, 0 },
		{ "bytes=-5", 0, -ERANGE, 0, 0 },
		{ "bytes=0-0,2-3", 100, 0, 0, 0 },
		{ "bytes=0-0,", 100, 0, 0, 0 },
		{ "bytes=5-4", 100, 0, 0, 0 },
		{ "bytes=-", 100, 0, 0, 0 },
		{ "bytes=", 100, 0, 0, 0 },
		{ "bytes=a-b", 100, 0, 0, 0 },
		{ "bytes=1-2x", 100, 0, 0, 0 },
		{ "bytes=+1-2", 100, 0, 0, 0 },
		{ "bytes=1--2", 100, 0, 0, 0 },
		{ "bytes 1-2", 100, 0, 0, 0 },
		{ "items=1-2", 100, 0, 0, 0 },
		{ "bytesx=1-2", 100, 0, 0, 0 },
		{ "", 100, 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t first = 12345, last = 12345;
		int rc = http_range_parse(cases[i].value, cases[i].size, &first, &last);

		if (rc != cases[i].rc)
			print_error("range \"%s\" size %llu returned %d\n", cases[i].value,
				    (unsigned long long)cases[i].size, rc);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 1) {
			assert_int_equal(first, cases[i].first);
			assert_int_equal(last, cases[i].last);
		}
	}
	assert_int_equal(http_range_parse(NULL, 100, &(uint64_t){ 0 }, &(uint64_t){ 0 }), 0);
}

/* ---- TLS ---- */

/* Generate (once) the certificate under <dir>/state and return that state directory. */
static const char *
tls_state_dir(void)
{
	static char state_dir[128];
	char *cert, *key;

	snprintf(state_dir, sizeof(state_dir), "%s/state", fx.dir);
	if (mkdir(state_dir, 0700) < 0)
		assert_int_equal(errno, EEXIST);
	assert_int_equal(http_tls_load(state_dir, "", "", &cert, &key), 0);
	free(cert);
	free(key);
	return state_dir;
}

static void
tls_generate_reuse(void **state)
{
	char state_dir[128], path[192];
	char *cert = NULL, *key = NULL, *cert2 = NULL, *key2 = NULL;
	struct stat st;

	(void)state;
	snprintf(state_dir, sizeof(state_dir), "%s/state-generate", fx.dir);
	assert_int_equal(mkdir(state_dir, 0700), 0);

	assert_int_equal(http_tls_load(state_dir, "", "", &cert, &key), 0);
	assert_non_null(strstr(cert, "-----BEGIN CERTIFICATE-----"));
	assert_non_null(strstr(key, "-----BEGIN PRIVATE KEY-----"));

	snprintf(path, sizeof(path), "%s/tls", state_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/tls/key.pem", state_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/tls/cert.pem", state_dir);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/tls/cert.pem.tmp", state_dir);
	assert_int_equal(access(path, F_OK), -1);

	/* The second start reads the same files instead of generating new ones. */
	assert_int_equal(http_tls_load(state_dir, NULL, NULL, &cert2, &key2), 0);
	assert_string_equal(cert, cert2);
	assert_string_equal(key, key2);
	free(cert2);
	free(key2);

	/* A lost certificate is rebuilt for the same key. */
	snprintf(path, sizeof(path), "%s/tls/cert.pem", state_dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(http_tls_load(state_dir, "", "", &cert2, &key2), 0);
	assert_string_not_equal(cert, cert2);
	assert_string_equal(key, key2);
	free(cert2);
	free(key2);
	free(cert);
	free(key);
}

static void
tls_configured_paths(void **state)
{
	const char *state_dir = tls_state_dir();
	char cert_path[192], key_path[192], missing[192];
	char *cert = NULL, *key = NULL;

	(void)state;
	snprintf(cert_path, sizeof(cert_path), "%s/tls/cert.pem", state_dir);
	snprintf(key_path, sizeof(key_path), "%s/tls/key.pem", state_dir);
	snprintf(missing, sizeof(missing), "%s/nowhere.pem", fx.dir);

	/* Configured files that exist are read as they are. */
	assert_int_equal(http_tls_load("/nonexistent", cert_path, key_path, &cert, &key), 0);
	assert_non_null(strstr(cert, "-----BEGIN CERTIFICATE-----"));
	free(cert);
	free(key);

	/* A missing configured file is an error, never a reason to generate one. */
	cert = key = NULL;
	assert_int_equal(http_tls_load(state_dir, missing, key_path, &cert, &key), -ENOENT);
	assert_int_equal(http_tls_load(state_dir, cert_path, missing, &cert, &key), -ENOENT);
	assert_int_equal(access(missing, F_OK), -1);
	assert_int_equal(http_tls_load(state_dir, cert_path, "", &cert, &key), -EINVAL);
	assert_null(cert);
	assert_null(key);
}

static void
tls_https_request(void **state)
{
	const char *state_dir = tls_state_dir();
	char cainfo[192], url[128];
	struct http_listener_config cfg;
	struct http_server *srv;
	char *cert, *key;
	struct response r;
	json_t *json;

	(void)state;
	snprintf(cainfo, sizeof(cainfo), "%s/tls/cert.pem", state_dir);
	assert_int_equal(http_tls_load(state_dir, "", "", &cert, &key), 0);

	cfg = listener_config(HTTP_LISTENER_API, "127.0.0.1:0");
	cfg.cert_pem = cert;
	cfg.key_pem = key;
	assert_int_equal(http_start(&cfg, &srv), 0);

	/* curl checks the chain against the generated certificate and 127.0.0.1 its SAN. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/echo?q=tls", http_port(srv));
	assert_int_equal(request_on(NULL, "GET", url, NULL, NULL, NULL, cainfo, &r), 0);
	assert_int_equal(r.status, 200);
	json = body_json(&r);
	assert_string_equal(json_text(json, "q"), "tls");
	json_decref(json);
	response_free(&r);

	snprintf(url, sizeof(url), "https://127.0.0.1:%u/files/data.bin", http_port(srv));
	assert_int_equal(request_on(NULL, "GET", url, NULL, NULL, NULL, cainfo, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, TEST_FILE_SIZE);
	response_free(&r);

	/* Plain HTTP to the HTTPS port gets no HTTP reply. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", http_port(srv));
	assert_int_equal(request_on(NULL, "GET", url, NULL, NULL, NULL, NULL, &r), -EIO);
	response_free(&r);

	http_stop(srv);
	free(cert);
	free(key);
}

static void
tls_listener_needs_cert(void **state)
{
	struct http_listener_config cfg = listener_config(HTTP_LISTENER_API, "127.0.0.1:0");
	struct http_server *srv = NULL;

	(void)state;
	assert_int_equal(http_start(&cfg, &srv), -EINVAL);
	assert_null(srv);
	cfg.cert_pem = "not a certificate";
	cfg.key_pem = "not a key";
	assert_int_equal(http_start(&cfg, &srv), -EIO);
	assert_null(srv);
}

/* Parse PEM certificate text; fails the test on error. Caller frees with X509_free. */
static X509 *
tls_cert_parse(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *cert;

	assert_non_null(bio);
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(cert);
	return cert;
}

/* True when the certificate in `pem` has a DNS subject alternative name `name`. */
static bool
tls_cert_has_dns(const char *pem, const char *name)
{
	X509 *cert = tls_cert_parse(pem);
	int rc = X509_check_host(cert, name, 0,
				 X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_WILDCARDS,
				 NULL);

	X509_free(cert);
	return rc == 1;
}

/* True when the certificate in `pem` has an IP subject alternative name `address`. */
static bool
tls_cert_has_ip(const char *pem, const char *address)
{
	X509 *cert = tls_cert_parse(pem);
	int rc = X509_check_ip_asc(cert, address, 0);

	X509_free(cert);
	return rc == 1;
}

/* Make a fresh state directory <fx.dir>/<name> and write its path to `out`. */
static void
tls_fresh_state_dir(const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", fx.dir, name);
	assert_int_equal(mkdir(out, 0700), 0);
}

static void
tls_names_in_cert(void **state)
{
	static const char *const names[] = {
		"outpost.site.example", "10.20.0.1", "fd00::1", "Mixed.Example.", NULL,
	};
	char state_dir[128];
	char *cert = NULL, *key = NULL;

	(void)state;
	tls_fresh_state_dir("state-names", state_dir, sizeof(state_dir));
	assert_int_equal(http_tls_load_names(state_dir, "", "", names, &cert, &key), 0);

	assert_true(tls_cert_has_dns(cert, "outpost.site.example"));
	assert_true(tls_cert_has_ip(cert, "10.20.0.1"));
	assert_true(tls_cert_has_ip(cert, "fd00:0:0::1"));
	assert_true(tls_cert_has_dns(cert, "mixed.example"));
	/* The names every generated certificate carries stay. */
	assert_true(tls_cert_has_dns(cert, "localhost"));
	assert_true(tls_cert_has_ip(cert, "127.0.0.1"));
	/* Nothing else is added. */
	assert_false(tls_cert_has_dns(cert, "other.example"));
	assert_false(tls_cert_has_ip(cert, "10.20.0.2"));
	free(cert);
	free(key);
}

static void
tls_names_regenerate(void **state)
{
	static const char *const first[] = { "a.example", NULL };
	static const char *const both[] = { "a.example", "192.0.2.7", NULL };
	static const char *const fewer[] = { "192.0.2.7", NULL };
	char state_dir[128];
	char *cert = NULL, *key = NULL, *cert2 = NULL, *key2 = NULL;

	(void)state;
	tls_fresh_state_dir("state-regenerate", state_dir, sizeof(state_dir));
	assert_int_equal(http_tls_load_names(state_dir, "", "", first, &cert, &key), 0);
	assert_false(tls_cert_has_ip(cert, "192.0.2.7"));

	/* A name the certificate lacks gives a new certificate for the same key. */
	assert_int_equal(http_tls_load_names(state_dir, "", "", both, &cert2, &key2), 0);
	assert_string_not_equal(cert, cert2);
	assert_string_equal(key, key2);
	assert_true(tls_cert_has_ip(cert2, "192.0.2.7"));
	assert_true(tls_cert_has_dns(cert2, "a.example"));
	free(cert);
	free(key);
	cert = cert2;
	key = key2;

	/* Names it already has, or fewer of them, keep it. */
	assert_int_equal(http_tls_load_names(state_dir, "", "", both, &cert2, &key2), 0);
	assert_string_equal(cert, cert2);
	free(cert2);
	free(key2);
	assert_int_equal(http_tls_load_names(state_dir, "", "", fewer, &cert2, &key2), 0);
	assert_string_equal(cert, cert2);
	free(cert2);
	free(key2);
	assert_int_equal(http_tls_load(state_dir, "", "", &cert2, &key2), 0);
	assert_string_equal(cert, cert2);
	free(cert2);
	free(key2);
	free(cert);
	free(key);
}

static void
tls_names_invalid(void **state)
{
	static const char *const bad[][2] = {
		{ "bad_name", NULL },
		{ "a.example,DNS:evil.example", NULL },
		{ "a.example IP:10.0.0.1", NULL },
		{ "", NULL },
		{ "*.example.com", NULL },
	};
	char state_dir[128], path[192];
	char *cert = NULL, *key = NULL;

	(void)state;
	tls_fresh_state_dir("state-invalid", state_dir, sizeof(state_dir));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = http_tls_load_names(state_dir, "", "", bad[i], &cert, &key);

		if (rc != -EINVAL)
			print_error("name \"%s\" returned %d\n", bad[i][0], rc);
		assert_int_equal(rc, -EINVAL);
	}
	assert_null(cert);
	assert_null(key);

	/* Nothing was generated for a rejected name. */
	snprintf(path, sizeof(path), "%s/tls/cert.pem", state_dir);
	assert_int_equal(access(path, F_OK), -1);
}

/* Copy the file at `from` to `to`. */
static void
tls_copy_file(const char *from, const char *to)
{
	char data[8192];
	FILE *in = fopen(from, "r");
	FILE *out = fopen(to, "w");
	size_t n;

	assert_non_null(in);
	assert_non_null(out);
	n = fread(data, 1, sizeof(data), in);
	assert_true(n > 0 && n < sizeof(data));
	assert_int_equal(fwrite(data, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

static void
tls_names_foreign_cert_kept(void **state)
{
	static const char *const names[] = { "new.example", NULL };
	char state_dir[128], other_dir[128], cert_path[192], key_path[192], other_cert[192];
	char *cert = NULL, *key = NULL, *cert2 = NULL, *key2 = NULL;

	(void)state;
	tls_fresh_state_dir("state-foreign", state_dir, sizeof(state_dir));
	tls_fresh_state_dir("state-foreign-other", other_dir, sizeof(other_dir));
	assert_int_equal(http_tls_load(state_dir, "", "", &cert, &key), 0);
	free(cert);
	free(key);
	assert_int_equal(http_tls_load(other_dir, "", "", &cert, &key), 0);
	free(key);

	/* A certificate that our key did not sign is not replaced, even if a name is missing. */
	snprintf(cert_path, sizeof(cert_path), "%s/tls/cert.pem", state_dir);
	snprintf(other_cert, sizeof(other_cert), "%s/tls/cert.pem", other_dir);
	tls_copy_file(other_cert, cert_path);
	assert_int_equal(http_tls_load_names(state_dir, "", "", names, &cert2, &key2), 0);
	assert_string_equal(cert, cert2);
	assert_false(tls_cert_has_dns(cert2, "new.example"));
	free(cert2);
	free(key2);

	/* Configured files are read as they are, whatever names are asked for. */
	snprintf(key_path, sizeof(key_path), "%s/tls/key.pem", other_dir);
	assert_int_equal(http_tls_load_names("/nonexistent", other_cert, key_path, names, &cert2,
					     &key2), 0);
	assert_string_equal(cert, cert2);
	free(cert2);
	free(key2);
	free(cert);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(echo_request),
		cmocka_unit_test(echo_methods),
		cmocka_unit_test(path_decoded),
		cmocka_unit_test(body_at_limit),
		cmocka_unit_test(body_over_limit),
		cmocka_unit_test(body_chunked_over),
		cmocka_unit_test(query_each_order),
		cmocka_unit_test(content_length_conflict),
		cmocka_unit_test(pipelined_requests),
		cmocka_unit_test(method_unknown),
		cmocka_unit_test(handler_no_reply),
		cmocka_unit_test(reply_twice),
		cmocka_unit_test(added_header),
		cmocka_unit_test(headers_too_large),
		cmocka_unit_test(headers_within_limit),
		cmocka_unit_test(keep_alive_reused),
		cmocka_unit_test(unix_peer_uid),
		cmocka_unit_test(unix_stale_socket),
		cmocka_unit_test(unix_not_socket),
		cmocka_unit_test(listen_invalid),
		cmocka_unit_test(listen_in_use),
		cmocka_unit_test(listen_ipv6),
		cmocka_unit_test(stop_leaks_no_fd),
		cmocka_unit_test(idle_timeout_closes),
		cmocka_unit_test(connection_limit_enforced),
		cmocka_unit_test(stop_with_requests_open),
		cmocka_unit_test(precheck_before_body),
		cmocka_unit_test(precheck_no_reply),
		cmocka_unit_test(precheck_data_and_stream),
		cmocka_unit_test(methods_limited),
		cmocka_unit_test(body_ceiling),
		cmocka_unit_test(body_ceiling_chunked),
		cmocka_unit_test(body_ceiling_invalid),
		cmocka_unit_test(header_deadline_closes),
		cmocka_unit_test(header_deadline_frees_slots),
		cmocka_unit_test(header_deadline_keep_alive),
		cmocka_unit_test(deadline_fd_open_at_close),
		cmocka_unit_test(per_ip_limit),
		cmocka_unit_test(many_query_args),
		cmocka_unit_test(nul_rejected),
		cmocka_unit_test(nul_value_absent),
		cmocka_unit_test(boot_pipelined),
		cmocka_unit_test(boot_request_in_pieces),
		cmocka_unit_test(boot_expect_continue),
		cmocka_unit_test(boot_chunked_malformed),
		cmocka_unit_test(boot_connection_header),
		cmocka_unit_test(boot_rejected_body_closes),
		cmocka_unit_test(boot_chunk_size_split),
		cmocka_unit_test(boot_half_close),
		cmocka_unit_test(framing_checks),
		cmocka_unit_test(header_count_repeated),
		cmocka_unit_test(single_thread_quiet),
		cmocka_unit_test(file_whole),
		cmocka_unit_test(file_nested),
		cmocka_unit_test(file_empty),
		cmocka_unit_test(file_head),
		cmocka_unit_test(file_post_rejected),
		cmocka_unit_test(file_ranges),
		cmocka_unit_test(file_range_head),
		cmocka_unit_test(file_not_modified),
		cmocka_unit_test(file_etag_mismatch),
		cmocka_unit_test(file_etag_given),
		cmocka_unit_test(file_if_range),
		cmocka_unit_test(file_traversal),
		cmocka_unit_test(file_traversal_url),
		cmocka_unit_test(open_fallback_walk),
		cmocka_unit_test(path_check_table),
		cmocka_unit_test(path_check_lengths),
		cmocka_unit_test(range_parse_table),
		cmocka_unit_test(tls_generate_reuse),
		cmocka_unit_test(tls_configured_paths),
		cmocka_unit_test(tls_https_request),
		cmocka_unit_test(tls_listener_needs_cert),
		cmocka_unit_test(tls_names_in_cert),
		cmocka_unit_test(tls_names_regenerate),
		cmocka_unit_test(tls_names_invalid),
		cmocka_unit_test(tls_names_foreign_cert_kept),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
