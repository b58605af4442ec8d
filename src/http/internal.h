/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Declarations shared by the http module's own files and its unit test. Nothing
 * outside src/http/ and tests/unit/http_test.c includes this file.
 *
 *   listen.c   listening sockets (TCP, unix) and the descriptor limit
 *   server.c   MHD daemon, request lifecycle, http_start/http_stop
 *   check.c    checks of a request's line and headers before its body is read
 *   deadline.c the deadline for a connection's request headers
 *   request.c  accessors and replies used by handlers
 *   file.c     http_reply_file and its path and Range parsers
 *   tls.c      http_tls_load: the HTTPS certificate and key
 *   response.c kept replies (http_response) and shared texts (http_text)
 *   loop.c     the boot listener's own connection loop
 *   wire.c     http_wire_parse: a request head parsed in place
 */
#ifndef OUTPOST_HTTP_INTERNAL_H
#define OUTPOST_HTTP_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <microhttpd.h>

#include "http/http.h"
#include "util/util.h"

/* Maximum length of a path http_path_check accepts, in bytes (PATH_MAX less the NUL). */
#define HTTP_PATH_MAX 4095
/* Maximum length of one path component, in bytes (NAME_MAX on Linux). */
#define HTTP_NAME_MAX 255
/* Headers a handler may add to one reply with http_add_header. */
#define HTTP_MAX_EXTRA_HEADERS 8
/*
 * Query arguments plus header fields a request may have when the listener's
 * max_fields is 0. MHD's connection memory pool is sized so that max_fields records
 * fit next to max_header_bytes of text. The connection of a request with more query
 * arguments is closed at once.
 */
#define HTTP_DEFAULT_MAX_FIELDS 128
/* The largest max_fields a listener accepts. */
#define HTTP_MAX_FIELDS_LIMIT 65536
/* The Retry-After value, in seconds, of the 503 sent when the body ceiling is reached. */
#define HTTP_RETRY_AFTER_SECONDS 5

/* One connection, as MHD's socket context, while the header deadline is on. */
struct http_conn {
	struct http_conn *prev, *next;  /* in http_deadline's list while waiting */
	int fd;
	int64_t deadline_ms;        /* CLOCK_MONOTONIC milliseconds */
	bool waiting;               /* in the list: its request headers are not all in */
};

/*
 * The header deadline of one listener: connections waiting for their request
 * headers, oldest first, and the thread that closes those past their deadline.
 */
struct http_deadline {
	unsigned timeout_seconds;   /* 0: no deadline, nothing below is used */
	pthread_mutex_t lock;       /* guards the list and `stopping` */
	pthread_cond_t wake;
	pthread_t thread;
	bool started;               /* lock, wake and thread exist */
	bool stopping;
	struct http_conn *head, *tail;
	const char *kind_name;      /* for logs */
};

/* One query argument of a request parsed by http_wire_parse. */
struct http_wire_arg {
	const char *key;
	const char *value;          /* NULL for "?flag" */
};

/* One header field of a request parsed by http_wire_parse. */
struct http_wire_field {
	const char *name;
	const char *value;
};

/* A request head parsed in place: every string but `version` is in the parsed buffer. */
struct http_wire_head {
	const char *method;
	const char *path;           /* percent-decoded, without the query */
	const char *version;        /* the string constant "HTTP/1.1" or "HTTP/1.0" */
	struct http_wire_arg *args;         /* the caller's array of max_fields */
	struct http_wire_field *fields;     /* the caller's array of max_fields */
	unsigned arg_count, field_count;    /* together at most max_fields */
	size_t head_len;            /* bytes up to and including the blank line */
};

/*
 * Parse the request head at the start of the `len` bytes of `buf` (wire.c): the
 * request line in origin form and the header fields of RFC 9112. Separators are
 * overwritten with NUL bytes, and %XX escapes in the path and the query are decoded
 * in place, so the strings in `head` lie inside buf. Returns 0 with head filled in,
 * -EAGAIN when the head is not complete yet (buf is then unchanged), -E2BIG when it
 * does not end within max_head bytes, -ENOSPC for more than max_fields query
 * arguments and fields together, -EPROTONOSUPPORT for a well-formed HTTP version
 * other than 1.0 and 1.1, or -EBADMSG for a malformed head or an escape that decodes
 * to NUL. A bare CR or a folded line is -EBADMSG as soon as it is in the buffer,
 * before the head is complete. The decoded path and values may hold any byte other
 * than NUL, even CR and LF, so logs print them with http_printable.
 */
int http_wire_parse(char *buf, size_t len, size_t max_head, unsigned max_fields,
		    struct http_wire_head *head);

struct http_loop;
struct loop_conn;

struct http_server {
	struct MHD_Daemon *daemon;  /* NULL on the boot listener */
	struct http_loop *loop;     /* the boot listener's own loop, else NULL */
	enum http_listener_kind kind;
	char *listen;               /* owned; the configured address, for logs */
	const char *const *secret_path_prefixes;  /* not owned; NULL-terminated, or NULL */
	uint16_t port;              /* bound TCP port, 0 for unix sockets */
	int listen_fd;              /* given to MHD, which closes it when stopped */
	struct stat socket_st;      /* unix only: the socket file we created */
	size_t max_header_bytes;
	unsigned max_fields;        /* query arguments plus header fields */
	size_t max_body_bytes;
	size_t pool_bytes;          /* MHD's memory pool per connection */
	unsigned methods;           /* HTTP_METHOD_* bits */
	char allow[64];             /* the Allow header for `methods` */
	size_t max_buffered_body_bytes;       /* 0: no ceiling */
	atomic_size_t buffered_body_bytes;    /* reserved by requests of this listener */
	http_handler handler;
	http_precheck precheck;
	void *ctx;
	struct http_deadline deadline;
	atomic_bool running;        /* set once MHD_start_daemon has returned */
};

struct http_request {
	struct http_server *srv;
	struct MHD_Connection *conn;        /* NULL on the boot listener's loop */
	struct loop_conn *econn;            /* the loop's connection, else NULL */
	const struct http_wire_head *wire;  /* the loop's parsed head, else NULL */
	const char *method;         /* MHD's; valid until the request completes */
	const char *path;           /* MHD's, percent-decoded */
	const char *version;        /* MHD's, "HTTP/1.1" or "HTTP/1.0" */
	struct buf body;            /* owned; at most srv->max_body_bytes */
	size_t body_reserved;       /* bytes counted in srv->buffered_body_bytes */
	int body_error;             /* -E2BIG, -EBUSY or -ENOMEM once the body is discarded */
	unsigned status;            /* status of the queued reply, 0 before one is queued */
	unsigned header_count;
	char *headers[HTTP_MAX_EXTRA_HEADERS]; /* owned; each "name\0value\0" */
	void *data;                 /* http_request_set_data, freed with data_free */
	void (*data_free)(void *);
	http_stream_fn stream_data; /* set by http_request_stream, else NULL */
	http_stream_end_fn stream_end;      /* cleared once called */
	void *stream_ctx;
	int stream_error;
	bool peer_known;            /* peer and peer_uid are filled in */
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

/* One header line of a reply. */
struct http_field {
	const char *name;
	const char *value;
};

/*
 * The body of a reply: `len` bytes of the file `fd` from `offset` when fd is not -1,
 * else `len` bytes at `data`. Without `release` the bytes are copied before
 * http_send returns; with it they stay in place until the reply is sent, and then
 * release(release_arg) frees them.
 */
struct http_body {
	const char *data;
	size_t len;
	int fd;                     /* -1, or a descriptor closed with the reply */
	uint64_t offset;
	void (*release)(void *);
	void *release_arg;
};

/*
 * Send `status` with the `count` header lines of `fields`, the headers collected by
 * http_add_header and `body`. Always takes over the body: it is closed or released
 * on failure too. Returns 0, -EALREADY when the request already has a reply, -ENOMEM,
 * or -EIO when the reply could not be queued.
 */
int http_send(struct http_request *req, unsigned status, const struct http_field *fields,
	      size_t count, struct http_body *body);
/* Close or release what a body holds, without sending it. */
void http_body_discard(struct http_body *body);

/* The parts of a kept reply that loop.c sends. */
struct http_response_view {
	const char *head;           /* its header lines, "Name: value\r\n" each */
	size_t head_len;
	const struct iovec *parts;  /* its body */
	unsigned part_count;
};

/* Return true when `name` is a valid header name: RFC 9110 token characters only. */
bool http_header_name_valid(const char *name);
/* Return true when `c` is an RFC 9110 tchar, a character of a method or a field name. */
bool http_token_char(unsigned char c);

/* Take one more reference to a kept reply, for a connection still sending it. */
struct http_response *http_response_ref(struct http_response *response);
/* Describe a kept reply for loop.c. */
void http_response_view(const struct http_response *response, struct http_response_view *view);

/*
 * The boot listener's own connection loop (loop.c). http_loop_start starts `threads`
 * workers on srv->listen_fd, which the loop then owns; http_loop_stop closes every
 * connection and the socket and joins the workers. http_loop_send and
 * http_loop_send_response are http_send and http_reply_response for its requests.
 */
int http_loop_start(struct http_server *srv, const struct http_listener_config *cfg);
void http_loop_stop(struct http_server *srv);
int http_loop_send(struct http_request *req, unsigned status, const struct http_field *fields,
		   size_t count, struct http_body *body);
int http_loop_send_response(struct http_request *req, unsigned status,
			    struct http_response *response);
/* The peer address of a request on the loop. */
const struct sockaddr_storage *http_loop_peer(const struct http_request *req);

/*
 * Open `relpath`, already checked by http_path_check, under the directory `root_fd`
 * for reading, following no symlink and never leaving the directory. With
 * `use_openat2` false the component-by-component fallback runs even on kernels that
 * have openat2(2), so tests can reach it. The descriptor is O_NONBLOCK so a FIFO
 * cannot block the open. Returns the descriptor or a negative errno.
 */
int http_open_beneath(int root_fd, const char *relpath, bool use_openat2);

/*
 * Reject what can be rejected once the request line and headers are in. The checks
 * are the listener's methods, an encoded NUL in the request target (`uri_nul`, found
 * by the URI log callback), the header size and the Host, Content-Length and
 * Transfer-Encoding headers. Then come the listener's precheck, the body size and the
 * listener's body ceiling. Returns 0, or -1 when the connection must close.
 */
int http_request_begin(struct http_request *req, bool uri_nul);
/*
 * Return true when the request has several headers named `name` whose values are not
 * all the same, such as two Content-Length headers.
 */
bool http_header_conflicts(const struct http_request *req, const char *name);

/* Free the request's body, headers and handler data, but not the request itself. */
void http_request_clear(struct http_request *req);
/*
 * Add body bytes to the request, or pass them to its stream. Past a ceiling or after
 * a failed allocation the rest is dropped, and the handler's turn replies the error.
 */
void http_request_body_add(struct http_request *req, const char *data, size_t len);
/*
 * Run the handler once the whole body is in, or reply with the body's error. A handler
 * that sends no reply gets a 500 sent for it. Returns 0, or the error of the reply.
 */
int http_request_dispatch(struct http_request *req);
/* Log the debug line of a finished request; `termination` is MHD's code, or 0. */
void http_request_log(struct http_request *req, int termination);

/* Call a streamed request's end callback, once. */
void http_stream_finish(struct http_request *req, bool complete);

/* Fill req->peer and req->peer_uid. http_peer and http_peer_uid call it on first use. */
void http_request_identify_peer(struct http_request *req);

/* Write the Allow header value for `methods` (HTTP_METHOD_* bits) into `out`. */
void http_allow_header(unsigned methods, char *out, size_t size);

/* Reply 503 with Retry-After: the listener's body ceiling is reached. */
int http_reply_busy(struct http_request *req);

/*
 * Count a body of `total` bytes against the listener's ceiling before its bytes are
 * stored, raising the request's reservation to the most memory the body buffer can
 * take for them. Returns 0 or -EBUSY when the ceiling would be passed, leaving the
 * reservation as it was.
 */
int http_body_reserve(struct http_request *req, size_t total);
/* Return the request's reservation to the listener. */
void http_body_release(struct http_request *req);

/*
 * Start the header deadline thread when srv->deadline.timeout_seconds is not 0.
 * Returns 0 or a negative errno.
 */
int http_deadline_start(struct http_server *srv);
/* Stop the thread and free its state. Safe on a deadline that never started. */
void http_deadline_stop(struct http_server *srv);
/*
 * MHD's MHD_OPTION_NOTIFY_CONNECTION callback (cls is the server): start the deadline
 * of a new connection and forget a closed one.
 */
void http_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code);
/* The connection's request headers are in: stop its deadline. */
void http_deadline_disarm(struct http_server *srv, struct MHD_Connection *conn);
/* A reply went out on a keep-alive connection: give the next request a new deadline. */
void http_deadline_rearm(struct http_server *srv, struct MHD_Connection *conn);

/*
 * Copy `text` into `out` (of `size` bytes, at least 1) for a log line, replacing
 * bytes outside printable ASCII and the double quote with '?' and truncating.
 */
void http_printable(const char *text, char *out, size_t size);

#endif
