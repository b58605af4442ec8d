/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Declarations shared by the http module's own files and its unit test. Nothing
 * outside src/http/ and tests/unit/http_test.c includes this file.
 *
 *   listen.c   listening sockets (TCP, unix) and the descriptor limit
 *   server.c   MHD daemon, request lifecycle, http_start/http_stop
 *   request.c  accessors and replies used by handlers
 *   file.c     http_reply_file and its path and Range parsers
 *   tls.c      http_tls_load: the HTTPS certificate and key
 */
#ifndef OUTPOST_HTTP_INTERNAL_H
#define OUTPOST_HTTP_INTERNAL_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <microhttpd.h>

#include "http/http.h"
#include "util/util.h"

/* Maximum length of a path http_path_check accepts, in bytes (PATH_MAX less the NUL). */
#define HTTP_PATH_MAX 4095
/* Maximum length of one path component, in bytes (NAME_MAX on Linux). */
#define HTTP_NAME_MAX 255
/* Headers a handler may add to one reply with http_add_header. */
#define HTTP_MAX_EXTRA_HEADERS 8

struct http_server {
	struct MHD_Daemon *daemon;
	enum http_listener_kind kind;
	char *listen;               /* owned; the configured address, for logs */
	uint16_t port;              /* bound TCP port, 0 for unix sockets */
	int listen_fd;              /* given to MHD, which closes it when stopped */
	struct stat socket_st;      /* unix only: the socket file we created */
	size_t max_header_bytes;
	size_t max_body_bytes;
	http_handler handler;
	void *ctx;
	atomic_bool running;        /* set once MHD_start_daemon has returned */
};

struct http_request {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const char *method;         /* MHD's; valid until the request completes */
	const char *path;           /* MHD's, percent-decoded */
	struct buf body;            /* owned; at most srv->max_body_bytes */
	int body_error;             /* -E2BIG or -ENOMEM once the body is being discarded */
	unsigned status;            /* status of the queued reply, 0 before one is queued */
	unsigned header_count;
	char *headers[HTTP_MAX_EXTRA_HEADERS]; /* owned; each "name\0value\0" */
	int64_t peer_uid;           /* unix socket only, else -1 */
	char peer[INET6_ADDRSTRLEN];
};

/* "boot", "api" and "unix", indexed by enum http_listener_kind, for logs. */
extern const char *const http_kind_names[];

/*
 * Create a TCP socket for "address:port" or "[v6-address]:port" (numeric addresses
 * only, port 0 for an ephemeral one), with SO_REUSEADDR, bound and listening. Sets
 * *ret_port to the bound port. Returns the descriptor or a negative errno, logged.
 */
int http_listen_tcp(const char *address, uint16_t *ret_port);

/*
 * Create a unix socket at `path` with mode 0600, bound and listening. A stale socket
 * file is replaced; a path that is not a socket (-EEXIST) or that another process
 * still accepts on (-EADDRINUSE) is not. Sets *ret_st to the socket file's identity
 * for http_unlink_socket. Returns the descriptor or a negative errno, logged.
 */
int http_listen_unix(const char *path, struct stat *ret_st);

/* Remove the socket file at `path` unless it is no longer the one described by `created`. */
void http_unlink_socket(const char *path, const struct stat *created);

/*
 * Raise the soft RLIMIT_NOFILE to the hard limit, so a listener can hold thousands of
 * connections where the soft limit is 1024, and warn when max_connections still does
 * not fit. Failure only costs capacity, so it is logged and ignored.
 */
void http_raise_fd_limit(unsigned max_connections);

/*
 * Queue `response` with `status`, after adding the headers collected by
 * http_add_header. Always takes ownership of `response` (NULL is accepted and gives
 * -ENOMEM). Returns 0, -EALREADY when the request already has a reply, -ENOMEM, or
 * -EIO when MHD refused the response.
 */
int http_queue(struct http_request *req, unsigned status, struct MHD_Response *response);

/*
 * Open `relpath`, already checked by http_path_check, under the directory `root_fd`
 * for reading, following no symlink and never leaving the directory. With
 * `use_openat2` false the component-by-component fallback runs even on kernels that
 * have openat2(2), so tests can reach it. The descriptor is O_NONBLOCK so a FIFO
 * cannot block the open. Returns the descriptor or a negative errno.
 */
int http_open_beneath(int root_fd, const char *relpath, bool use_openat2);

/*
 * Copy `text` into `out` (of `size` bytes, at least 1) for a log line, replacing
 * bytes outside printable ASCII and the double quote with '?' and truncating.
 */
void http_printable(const char *text, char *out, size_t size);

#endif
