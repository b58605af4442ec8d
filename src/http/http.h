/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP listeners over libmicrohttpd: the plain-HTTP boot listener, the HTTPS API
 * listener (MHD's GnuTLS) and the unix socket for the local CLI. The module hides MHD
 * behind a small request/reply interface, enforces header and body ceilings, and
 * serves files from a directory with sendfile, HEAD, single byte ranges and ETags,
 * never outside that directory.
 *
 * Handlers run on MHD's worker threads, several at once; each must reply exactly once
 * through one of the http_reply_* functions. A handler that returns without replying
 * gets a 500 and a log line.
 *
 * Before a request reaches its handler, the module rejects what it can while only the
 * request line and headers are in: a method the listener does not allow (405), an
 * encoded NUL byte (%00) anywhere in the request target (400), a missing or repeated
 * Host on HTTP/1.1, a Transfer-Encoding other than "chunked" or together with
 * Content-Length (400), and whatever the listener's precheck rejects. Bodies are held
 * in memory up to max_body_bytes each and max_buffered_body_bytes per listener.
 */
#ifndef OUTPOST_HTTP_H
#define OUTPOST_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

enum http_listener_kind {
	HTTP_LISTENER_BOOT,  /* plain HTTP on the provisioning network */
	HTTP_LISTENER_API,   /* HTTPS */
	HTTP_LISTENER_UNIX,  /* unix socket, peer identified by SO_PEERCRED */
};

struct http_request;
struct http_server;

typedef void (*http_handler)(struct http_request *req, void *ctx);

/*
 * An early check of a request, called once its headers are complete and before any
 * body byte is stored. It returns 0 to let the request go on, or nonzero after it has
 * replied (a nonzero return without a reply gets a 500 and a log line). The request
 * accessors work here, except http_body, which still returns "". It runs on an MHD
 * worker thread, like the handler.
 */
typedef int (*http_precheck)(struct http_request *req, void *ctx);

/* Request methods, as bits of http_listener_config.methods. */
enum http_method_bit {
	HTTP_METHOD_GET = 1u << 0,
	HTTP_METHOD_HEAD = 1u << 1,
	HTTP_METHOD_POST = 1u << 2,
	HTTP_METHOD_PUT = 1u << 3,
	HTTP_METHOD_PATCH = 1u << 4,
	HTTP_METHOD_DELETE = 1u << 5,
};
#define HTTP_METHODS_ALL 0x3fu

/*
 * A listener's settings. Fields added after the first version take 0 for their old
 * behaviour, so a zero-initialised struct with the first fields set stays valid.
 */
struct http_listener_config {
	enum http_listener_kind kind;
	const char *listen;          /* "address:port", "[v6]:port", or a socket path */
	const char *cert_pem;        /* HTTPS only: certificate chain, PEM text */
	const char *key_pem;         /* HTTPS only: private key, PEM text */
	unsigned threads;            /* worker threads, at least 1 */
	unsigned max_connections;
	size_t max_header_bytes;     /* request line and headers; larger gets 414 or 431 */
	size_t max_body_bytes;       /* larger request bodies get 413 */
	unsigned timeout_seconds;    /* idle connection timeout */
	http_handler handler;
	void *ctx;
	/* HTTP_METHOD_* bits; other methods get 405 before the body. 0: all six. */
	unsigned methods;
	/*
	 * Ceiling on the request body bytes held at once by all connections of the
	 * listener; past it a request gets 503 with Retry-After. 0: no ceiling. When set,
	 * it must be at least max_body_bytes.
	 */
	size_t max_buffered_body_bytes;
	/*
	 * Seconds a connection has to send a complete request line and headers, counted
	 * from the accept and, on a keep-alive connection, from the end of the previous
	 * reply. Past it the connection is closed. 0: no deadline.
	 */
	unsigned header_timeout_seconds;
	unsigned max_connections_per_ip;  /* TCP only; 0: no limit */
	http_precheck precheck;      /* optional, called with ctx */
	/*
	 * Query arguments plus header fields a request may have; 0: 128. MHD keeps each in
	 * a record of about 64 bytes in the connection's memory, which it clears after
	 * every request, so a small limit makes small requests cheaper.
	 */
	unsigned max_fields;
	/*
	 * Path prefixes whose next segment is a secret, such as a token in a URL: the debug
	 * access line prints "..." in its place. A NULL-terminated array of string literals
	 * that outlives the listener, or NULL for none.
	 */
	const char *const *secret_path_prefixes;
};

/*
 * Bind and start a listener. For HTTP_LISTENER_UNIX a stale socket file is replaced
 * and the new one is created with mode 0600. Returns 0 and sets *ret, or a negative
 * errno with the reason logged.
 */
int http_start(const struct http_listener_config *cfg, struct http_server **ret);
/* Stop accepting, finish or close open connections and free. Accepts NULL; returns NULL. */
struct http_server *http_stop(struct http_server *srv);
/* The bound TCP port (useful after listening on port 0); 0 for unix sockets. */
uint16_t http_port(const struct http_server *srv);

/* Request accessors. Strings stay valid until the reply is queued. */
const char *http_method(const struct http_request *req);
/* Percent-decoded path without the query string. */
const char *http_path(const struct http_request *req);
/*
 * A query argument's decoded value ("" for "?key" without "="), or NULL when absent or
 * when the decoded value holds a NUL byte.
 */
const char *http_query(const struct http_request *req, const char *key);
/*
 * Call cb for each query argument, skipping any whose decoded key or value holds a
 * NUL byte; returns the first nonzero cb result.
 */
int http_query_each(const struct http_request *req,
		    int (*cb)(const char *key, const char *value, void *arg), void *arg);
/*
 * A request header's value, or NULL when absent or when the value holds a NUL byte.
 * With several headers of that name, the first one.
 */
const char *http_header(const struct http_request *req, const char *name);
/* The number of request headers named `name` (compared without case). */
unsigned http_header_count(const struct http_request *req, const char *name);
/*
 * The whole request body, NUL-terminated, with its length in *ret_len (when not
 * NULL). Never NULL: a request without a body gives "" and 0.
 */
const char *http_body(const struct http_request *req, size_t *ret_len);
/* The kind of listener the request arrived on. */
enum http_listener_kind http_listener(const struct http_request *req);
/* The peer's uid on the unix socket, -1 elsewhere. */
int64_t http_peer_uid(struct http_request *req);
/* The peer's address as text ("127.0.0.1", "unix"), for logs. */
const char *http_peer(struct http_request *req);

/*
 * Streaming request bodies. A precheck may hand the body of its request to `data`,
 * piece by piece as it arrives, instead of buffering it: max_body_bytes and the
 * listener's body ceiling then do not apply. `data` returns 0, or a negative errno to
 * drop the rest of the body, which http_stream_error then reports to the handler.
 * `end` is called once: with `complete` true just before the handler runs, or false
 * when the connection closed first (the handler then never runs).
 */
typedef int (*http_stream_fn)(void *ctx, const void *data, size_t len);
typedef void (*http_stream_end_fn)(void *ctx, bool complete);
int http_request_stream(struct http_request *req, http_stream_fn data, http_stream_end_fn end,
			void *ctx);
/* The error a stream's `data` returned, or 0. */
int http_stream_error(const struct http_request *req);
/* The ctx given to http_request_stream, or NULL. */
void *http_stream_ctx(const struct http_request *req);

/*
 * Attach data to a request, for example what the precheck learned, so the handler
 * need not repeat it. `free_fn` (may be NULL) frees it when the request ends; a
 * second call replaces and frees the first data. Returns 0.
 */
int http_request_set_data(struct http_request *req, void *data, void (*free_fn)(void *));
/* The data attached with http_request_set_data, or NULL. */
void *http_request_data(const struct http_request *req);

/*
 * Reply with a copy of `len` bytes. Returns 0 or a negative errno, such as -EALREADY
 * when the request already has a reply (as for every http_reply_* function below).
 */
int http_reply(struct http_request *req, unsigned status, const char *content_type,
	       const void *body, size_t len);
/*
 * Reply with `len` bytes of `body`, a malloc'd buffer the reply takes over without a
 * copy: it is freed once sent, or at once on error.
 */
int http_reply_take(struct http_request *req, unsigned status, const char *content_type,
		    char *body, size_t len);
/*
 * A reply built once and queued for any number of requests, from any worker thread,
 * such as a boot script that stays the same until the store changes. Its status is
 * given per request; its body and headers are fixed. It counts its references, so a
 * reply still being sent outlives http_response_free. The boot listener sends it
 * without a copy; other listeners send a copy.
 */
struct http_response;

/*
 * Create a reply of `len` bytes of `body`, a malloc'd buffer it takes over (freed with
 * the reply, or at once on error), with `content_type` (may be NULL). Returns 0 and
 * sets *ret, or -ENOMEM.
 */
int http_response_new(const char *content_type, char *body, size_t len,
		      struct http_response **ret);
/*
 * An immutable byte string with a reference count: the part of many replies' bodies
 * that is the same, such as the text a script template gives every machine, kept once.
 */
struct http_text;
/* Copy `len` bytes of `data` into a new text with one reference; NULL without memory. */
struct http_text *http_text_new(const char *data, size_t len);
/* Take one more reference; returns `text`. */
struct http_text *http_text_ref(struct http_text *text);
/* Drop one reference. Accepts NULL; returns NULL. */
struct http_text *http_text_unref(struct http_text *text);
/* The bytes of `text`, followed by a NUL that *len does not count. */
const char *http_text_data(const struct http_text *text, size_t *len);
/*
 * Create a reply whose body is the first `prefix` bytes of `base`, a copy of the `len`
 * bytes at `middle`, and the last `suffix` bytes of `base`, with `content_type` (may be
 * NULL). The reply takes its own reference to base. Its size for
 * http_response_bytes leaves base out. Returns 0 and sets *ret, -EINVAL when prefix
 * and suffix overlap or pass the end of base, or -ENOMEM.
 */
int http_response_new_spliced(const char *content_type, struct http_text *base, size_t prefix,
			      const char *middle, size_t len, size_t suffix,
			      struct http_response **ret);
/*
 * Add a header, checked as http_add_header checks it. Call it only before the reply is
 * first queued, because queued replies are read by other threads without a lock.
 * A reply takes at most four headers, Content-Type included. Returns 0, -EINVAL,
 * -E2BIG or -ENOMEM.
 */
int http_response_add_header(struct http_response *response, const char *name,
			     const char *value);
/*
 * Return an estimate of the memory the reply takes, in bytes: its body, headers and
 * object, allocation overhead included.
 */
size_t http_response_bytes(const struct http_response *response);
/*
 * Queue `response` as the reply to req. The response keeps its own headers, so a
 * request with headers added by http_add_header gets -EINVAL and no reply. Returns 0,
 * -EALREADY, -EINVAL or -EIO, as http_reply does.
 */
int http_reply_response(struct http_request *req, unsigned status,
			struct http_response *response);
/*
 * Ask the CPU to start loading the reply's memory into its cache: the reply's block,
 * which holds its first header lines and a spliced body's own bytes. It only reads
 * the pointer, so a caller can issue it before it loads anything else. Without it, a
 * request for one of many kept replies waits for each piece in turn.
 */
void http_response_prefetch(const struct http_response *response);
/* Drop the caller's reference. Accepts NULL; returns NULL. */
struct http_response *http_response_free(struct http_response *response);

/* Reply with `json` serialised compactly; takes ownership of json. */
int http_reply_json(struct http_request *req, unsigned status, json_t *json);
/* Reply {"error": error, "detail": <formatted>}. */
int http_reply_error(struct http_request *req, unsigned status, const char *error,
		     const char *detail_fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * Add a header to the reply queued next. At most 8 per request. Returns 0, -E2BIG past
 * 8, -EINVAL for a name that is not an RFC 9110 token or a value with CR or LF, or
 * -EALREADY once the request has a reply.
 */
int http_add_header(struct http_request *req, const char *name, const char *value);

/*
 * Serve `relpath` under the directory `root_fd`. The path must be relative, made of
 * components of [A-Za-z0-9._-] that do not start with a dot, and resolve with no
 * symlink; anything else gets 404, as does a missing or non-regular file. Handles
 * GET and HEAD, one byte range (206 or 416), ETag from inode, size and mtime, and
 * If-None-Match (304). `etag` overrides the computed ETag when non-NULL (for
 * content-addressed files, their hash).
 */
int http_reply_file(struct http_request *req, int root_fd, const char *relpath,
		    const char *content_type, const char *etag);

/*
 * Check a relative path as http_reply_file does. Returns 0 or -EINVAL. Exposed for
 * tests and fuzzing.
 */
int http_path_check(const char *relpath);

/*
 * Parse a Range header value against a file of `size` bytes. Returns 1 and sets
 * *first and *last (inclusive) for one satisfiable range, 0 when the header should be
 * ignored (absent, malformed or several ranges: serve the whole file), and -ERANGE
 * when the range is unsatisfiable (416).
 */
int http_range_parse(const char *value, uint64_t size, uint64_t *first, uint64_t *last);

/*
 * Make sure a TLS certificate and key exist. When cert_path and key_path are empty,
 * use <state_dir>/tls/cert.pem and key.pem, generating a self-signed P-256
 * certificate valid for 10 years on first use (key mode 0600). Reads both files into
 * *ret_cert and *ret_key (caller frees). Returns 0 or a negative errno.
 * Same as http_tls_load_names with no extra names.
 */
int http_tls_load(const char *state_dir, const char *cert_path, const char *key_path,
		  char **ret_cert, char **ret_key);

/*
 * As http_tls_load, and the generated certificate names, besides the host name,
 * localhost and 127.0.0.1, each entry of `names`: a NULL-terminated list (NULL for
 * none) of DNS names and IPv4 or IPv6 addresses. An entry that is neither gives
 * -EINVAL. A generated certificate that lacks one of them is generated again for the
 * same key, with a notice in the log. Configured certificates are never changed, and
 * `names` does not apply to them.
 */
int http_tls_load_names(const char *state_dir, const char *cert_path, const char *key_path,
			const char *const *names, char **ret_cert, char **ret_key);

#endif
