/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helpers shared by the CLI unit tests (cli_test.c and cli_bmc_test.c). A small
 * libmicrohttpd server replies with canned responses shaped like the REST API's and
 * records each request it receives. It listens on a unix socket in a temporary
 * directory, or after server_listen_tcp on loopback TCP, plain or with TLS. run_main
 * calls a CLI entry point with its output captured.
 *
 * Include <setjmp.h>, <stdarg.h>, <stddef.h>, <stdint.h> and <cmocka.h> first.
 */
#ifndef OUTPOST_TESTS_CLI_FIXTURE_H
#define OUTPOST_TESTS_CLI_FIXTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* A NULL-terminated argument list for a table of cases. */
#define ARGS(...) { __VA_ARGS__, NULL }
/* A test that runs against a fresh server. */
#define SERVER_TEST(f) cmocka_unit_test_setup_teardown(f, server_setup, server_teardown)

#define ROUTES_MAX 12
#define REQUESTS_MAX 64

/*
 * Self-signed P-256 certificate for CN=outpost-cli-test, SAN 127.0.0.1 and localhost,
 * valid from 2000 to 2100, which the TLS listener presents. Test material only.
 */
extern const char test_cert_pem[];

struct route {
	const char *method;
	const char *uri;    /* path and query exactly as the client sends them */
	unsigned status;
	const char *body;   /* NULL for no body */
	unsigned limit;     /* replies before the next matching route takes over; 0: any */
	unsigned used;
};

struct logged_request {
	char method[16];
	char uri[1024];
	char body[8192];
	char authorization[256];
};

struct MHD_Daemon;

struct fake_server {
	struct MHD_Daemon *daemon;
	char dir[64];
	char socket_path[96];
	uint16_t port;             /* the TCP port after server_listen_tcp */
	pthread_mutex_t lock;
	struct route routes[ROUTES_MAX];
	size_t n_routes;
	struct logged_request requests[REQUESTS_MAX];  /* the first REQUESTS_MAX requests */
	size_t n_requests;
};

/*
 * Reply to `method` on `uri` with `status` and `body`. A request without a route gets
 * 404 with an error body.
 */
void server_route(struct fake_server *srv, const char *method, const char *uri,
		  unsigned status, const char *body);

/*
 * Reply as server_route does, but only `limit` times. Each request takes the first
 * route added for it that has replies left, so a later route can take over.
 */
void server_route_times(struct fake_server *srv, const char *method, const char *uri,
			unsigned status, const char *body, unsigned limit);

/*
 * cmocka setup: start a server on a unix socket and store it in *state. Unsets
 * OUTPOST_SOCKET, OUTPOST_TOKEN and OUTPOST_BMC_PASSWORD, so each test chooses the
 * endpoint and the password itself.
 */
int server_setup(void **state);

/* cmocka teardown: stop the server and remove its socket and directory. */
int server_teardown(void **state);

/* Replace the unix-socket listener by one on 127.0.0.1 with an ephemeral port. */
void server_listen_tcp(struct fake_server *srv, bool tls);

/* What a CLI run returned and wrote. */
struct run_output {
	int exit_code;
	char out[64 * 1024];
	char err[8 * 1024];
};

/*
 * Call `entry` on a writable copy of the NULL-terminated `argv`, because getopt_long
 * permutes it, with stdin on /dev/null so no prompt waits, and store its exit code and
 * what it wrote to stdout and stderr in *result.
 */
void run_main(int (*entry)(int argc, char **argv), const char *const *argv,
	      struct run_output *result);

/* Count the arguments of a NULL-terminated list. */
int count_args(const char *const *argv);

/* Copy a NULL-terminated argument list into new strings. argv_free frees the copy. */
char **argv_copy(const char *const *argv);
void argv_free(char **argv);

/* Assert that `text` parses to the same JSON as `expected`. */
void assert_json_equal(const char *text, const char *expected);

#endif
