/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The canned API server and the output capture of the CLI unit tests, declared in
 * cli_fixture.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <microhttpd.h>

#include "util/util.h"

#include "cli_fixture.h"

const char test_cert_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBdjCCARugAwIBAgIBATAKBggqhkjOPQQDAjAbMRkwFwYDVQQDDBBvdXRwb3N0\n"
	"LWNsaS10ZXN0MCAXDTAwMDEwMTAwMDAwMFoYDzIxMDAwMTAxMDAwMDAwWjAbMRkw\n"
	"FwYDVQQDDBBvdXRwb3N0LWNsaS10ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcD\n"
	"QgAE85Pl+xkILbTuID5G8OIv+uiriEPfyoOf+3c4kd8f1amo2FmAIdRAwpOz+cTC\n"
	"VqidNfn5tKIzeYpccxkMF27V1aNOMEwwDwYDVR0TAQH/BAUwAwEB/zAaBgNVHREE\n"
	"EzARhwR/AAABgglsb2NhbGhvc3QwHQYDVR0OBBYEFOAVQm8B31inJulZnOeDWN7U\n"
	"xh9sMAoGCCqGSM49BAMCA0kAMEYCIQCOlvIrNmVggtfwW25QL038rihTcz2Kf47F\n"
	"lG4IzbS8MgIhAL6oDuNqih65ITHvNp1iez/imS2d376urTqh+WEnsPBi\n"
	"-----END CERTIFICATE-----\n";

/* The private key of test_cert_pem. */
static const char test_key_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg29rwMXNx9c/hvl8T\n"
	"6at/2wxzgfJIDnhcGmrvKKKzN2qhRANCAATzk+X7GQgttO4gPkbw4i/66KuIQ9/K\n"
	"g5/7dziR3x/VqajYWYAh1EDCk7P5xMJWqJ01+fm0ojN5ilxzGQwXbtXV\n"
	"-----END PRIVATE KEY-----\n";

/* One request in progress: its raw URI and the body received so far. */
struct pending_request {
	char uri[1024];
	struct buf body;
	bool started;
};

void
server_route(struct fake_server *srv, const char *method, const char *uri, unsigned status,
	     const char *body)
{
	server_route_times(srv, method, uri, status, body, 0);
}

void
server_route_times(struct fake_server *srv, const char *method, const char *uri,
		   unsigned status, const char *body, unsigned limit)
{
	assert_true(srv->n_routes < ROUTES_MAX);
	srv->routes[srv->n_routes++] = (struct route){ method, uri, status, body, limit, 0 };
}

/* MHD calls this with the raw request URI before it parses it, query included. */
static void *
log_uri(void *cls, const char *uri, struct MHD_Connection *connection)
{
	struct pending_request *pending = calloc(1, sizeof(*pending));

	(void)cls;
	(void)connection;
	if (pending == NULL)
		return NULL;
	snprintf(pending->uri, sizeof(pending->uri), "%s", uri);
	buf_init(&pending->body, 64 * 1024);
	return pending;
}

static void
request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
		  enum MHD_RequestTerminationCode code)
{
	struct pending_request *pending = *con_cls;

	(void)cls;
	(void)connection;
	(void)code;
	if (pending != NULL) {
		buf_free(&pending->body);
		free(pending);
	}
	*con_cls = NULL;
}

/* Find the first route for the request that has replies left, and count the reply. */
static const struct route *
route_take(struct fake_server *srv, const char *method, const char *uri)
{
	for (size_t i = 0; i < srv->n_routes; i++) {
		struct route *r = &srv->routes[i];

		if (strcmp(r->method, method) == 0 && strcmp(r->uri, uri) == 0 &&
		    (r->limit == 0 || r->used < r->limit)) {
			r->used++;
			return r;
		}
	}
	return NULL;
}

/* Record the request in srv->requests while there is room. Call with srv->lock held. */
static void
request_log(struct fake_server *srv, struct MHD_Connection *connection, const char *method,
	    const struct pending_request *pending)
{
	struct logged_request *log;
	const char *authorization;

	if (srv->n_requests >= REQUESTS_MAX)
		return;
	log = &srv->requests[srv->n_requests++];
	authorization = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Authorization");
	snprintf(log->method, sizeof(log->method), "%s", method);
	snprintf(log->uri, sizeof(log->uri), "%s", pending->uri);
	snprintf(log->body, sizeof(log->body), "%s",
		 pending->body.data != NULL ? pending->body.data : "");
	snprintf(log->authorization, sizeof(log->authorization), "%s",
		 authorization != NULL ? authorization : "");
}

static enum MHD_Result
serve(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
      const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	static const char not_found[] = "{\"error\": \"not_found\", \"detail\": \"no canned reply\"}";
	struct fake_server *srv = cls;
	struct pending_request *pending = *con_cls;
	const struct route *route;
	struct MHD_Response *response;
	enum MHD_Result result;
	const char *body;

	(void)url;
	(void)version;
	if (pending == NULL)
		return MHD_NO;

	/* The first call announces the request, later ones bring the body, the last none. */
	if (!pending->started) {
		pending->started = true;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		buf_append(&pending->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}

	pthread_mutex_lock(&srv->lock);
	request_log(srv, connection, method, pending);
	route = route_take(srv, method, pending->uri);
	pthread_mutex_unlock(&srv->lock);

	body = route != NULL ? route->body : not_found;
	response = MHD_create_response_from_buffer(body != NULL ? strlen(body) : 0,
						   (void *)(uintptr_t)(body != NULL ? body : ""),
						   MHD_RESPMEM_MUST_COPY);
	if (response == NULL)
		return MHD_NO;
	if (body != NULL)
		MHD_add_response_header(response, "Content-Type", "application/json");
	result = MHD_queue_response(connection, route != NULL ? route->status : 404, response);
	MHD_destroy_response(response);
	return result;
}

/* Start MHD on an already listening socket, with TLS when `tls` is set. */
static void
server_run(struct fake_server *srv, int fd, bool tls)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | (tls ? MHD_USE_TLS : 0);

	if (tls)
		srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, serve, srv,
					       MHD_OPTION_LISTEN_SOCKET, fd,
					       MHD_OPTION_URI_LOG_CALLBACK, log_uri, srv,
					       MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
					       MHD_OPTION_HTTPS_MEM_CERT, test_cert_pem,
					       MHD_OPTION_HTTPS_MEM_KEY, test_key_pem,
					       MHD_OPTION_END);
	else
		srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, serve, srv,
					       MHD_OPTION_LISTEN_SOCKET, fd,
					       MHD_OPTION_URI_LOG_CALLBACK, log_uri, srv,
					       MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
					       MHD_OPTION_END);
	assert_non_null(srv->daemon);
}

int
server_setup(void **state)
{
	struct fake_server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	assert_non_null(srv);
	pthread_mutex_init(&srv->lock, NULL);
	snprintf(srv->dir, sizeof(srv->dir), "/tmp/outpost-cli-test.XXXXXX");
	assert_non_null(mkdtemp(srv->dir));
	snprintf(srv->socket_path, sizeof(srv->socket_path), "%s/outpost.sock", srv->dir);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", srv->socket_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(fd, 16), 0);
	server_run(srv, fd, false);

	unsetenv("OUTPOST_SOCKET");
	unsetenv("OUTPOST_TOKEN");
	unsetenv("OUTPOST_BMC_PASSWORD");
	*state = srv;
	return 0;
}

void
server_listen_tcp(struct fake_server *srv, bool tls)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	int fd;

	MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	srv->port = ntohs(addr.sin_port);
	server_run(srv, fd, tls);
}

int
server_teardown(void **state)
{
	struct fake_server *srv = *state;

	if (srv->daemon != NULL)
		MHD_stop_daemon(srv->daemon);
	unlink(srv->socket_path);
	rmdir(srv->dir);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	return 0;
}

/* Point `fd` at a new temporary file and return the saved original descriptor. */
static int
capture_start(int fd, int *file)
{
	char path[] = "/tmp/outpost-cli-capture.XXXXXX";
	int saved;

	*file = mkstemp(path);
	assert_true(*file >= 0);
	unlink(path);
	saved = dup(fd);
	assert_true(saved >= 0);
	assert_true(dup2(*file, fd) >= 0);
	return saved;
}

/* Restore `fd` and read what was written to the capture file. */
static void
capture_end(int fd, int saved, int file, char *text, size_t size)
{
	ssize_t n;

	assert_true(dup2(saved, fd) >= 0);
	close(saved);
	assert_int_equal(lseek(file, 0, SEEK_SET), 0);
	n = read(file, text, size - 1);
	assert_true(n >= 0);
	text[n] = '\0';
	close(file);
}

void
run_main(int (*entry)(int argc, char **argv), const char *const *argv,
	 struct run_output *result)
{
	int out_file, err_file, in_file, saved_out, saved_err, saved_in;
	char **copy = argv_copy(argv);

	fflush(stdout);
	fflush(stderr);
	in_file = open("/dev/null", O_RDONLY);
	saved_in = dup(STDIN_FILENO);
	assert_true(in_file >= 0 && saved_in >= 0);
	assert_true(dup2(in_file, STDIN_FILENO) >= 0);
	saved_out = capture_start(STDOUT_FILENO, &out_file);
	saved_err = capture_start(STDERR_FILENO, &err_file);

	result->exit_code = entry(count_args(argv), copy);

	fflush(stdout);
	fflush(stderr);
	capture_end(STDOUT_FILENO, saved_out, out_file, result->out, sizeof(result->out));
	capture_end(STDERR_FILENO, saved_err, err_file, result->err, sizeof(result->err));
	assert_true(dup2(saved_in, STDIN_FILENO) >= 0);
	close(saved_in);
	close(in_file);
	argv_free(copy);
}

int
count_args(const char *const *argv)
{
	int argc = 0;

	while (argv[argc] != NULL)
		argc++;
	return argc;
}

char **
argv_copy(const char *const *argv)
{
	int argc = count_args(argv);
	char **copy = calloc((size_t)argc + 1, sizeof(*copy));

	assert_non_null(copy);
	for (int i = 0; i < argc; i++) {
		copy[i] = strdup(argv[i]);
		assert_non_null(copy[i]);
	}
	return copy;
}

void
argv_free(char **argv)
{
	for (int i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

void
assert_json_equal(const char *text, const char *expected)
{
	json_t *got = json_loads(text, 0, NULL);
	json_t *want = json_loads(expected, 0, NULL);

	assert_non_null(got);
	assert_non_null(want);
	if (!json_equal(got, want))
		fail_msg("JSON differs:\n got: %s\nwant: %s", text, expected);
	json_decref(got);
	json_decref(want);
}
