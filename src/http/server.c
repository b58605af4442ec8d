/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listeners and the request lifecycle over libmicrohttpd (MHD). Each listening socket
 * (listen.c) is handed to MHD, which polls it with epoll from its own worker threads.
 * Per request we allocate one struct http_request, accumulate the body up to the
 * configured ceiling, call the handler once with the whole body, and free the request
 * when MHD reports the request completed.
 */
#include "http/http.h"
#include "http/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log/log.h"
#include "util/util.h"

/*
 * MHD keeps the request line, the headers and the reply's header block in one memory
 * pool per connection. Headers are parsed in place in the read buffer, but each one
 * also costs a small descriptor from the same pool, and the reply's headers are
 * written there too, so the pool is the header ceiling plus this much room.
 * Headers that do not fit in the pool get MHD 0.9.75's own 431 with an HTML body and
 * the connection closed. Headers between max_header_bytes and that size reach
 * request_begin, which replies 431 in JSON.
 */
#define HTTP_POOL_EXTRA_BYTES (16 * 1024)

/* Longest MHD log message we keep; longer ones are truncated. */
#define HTTP_MHD_LOG_MAX 512

/*
 * GnuTLS priority string for the HTTPS listener: GnuTLS's NORMAL cipher suites, TLS 1.2
 * and 1.3 only.
 */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Methods the listeners accept; anything else gets 405 before the handler runs. */
static const char *const allowed_methods[] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
};
#define HTTP_ALLOW_HEADER "GET, HEAD, POST, PUT, PATCH, DELETE"

const char *const http_kind_names[] = {
	[HTTP_LISTENER_BOOT] = "boot",
	[HTTP_LISTENER_API] = "api",
	[HTTP_LISTENER_UNIX] = "unix",
};

/*
 * Route MHD's messages to our log. Before the daemon runs they concern our own
 * configuration, so they are warnings. Afterwards they are about clients that
 * disconnect, time out or send malformed requests, which are not our errors (INFO).
 */
__attribute__((format(printf, 2, 0))) static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *srv = cls;
	char message[HTTP_MHD_LOG_MAX];
	size_t len;

	vsnprintf(message, sizeof(message), fmt, ap);
	len = strlen(message);
	while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == '\r'))
		message[--len] = '\0';

	if (atomic_load(&srv->running))
		log_info("http listener=%s listen=%s: %s", http_kind_names[srv->kind], srv->listen,
			 message);
	else
		log_warning("http listener=%s listen=%s: %s", http_kind_names[srv->kind],
			    srv->listen, message);
}

/* Fill req->peer (and req->peer_uid on the unix socket) from the connection. */
static void
request_identify_peer(struct http_request *req)
{
	const union MHD_ConnectionInfo *info;

	if (req->srv->kind == HTTP_LISTENER_UNIX) {
		struct ucred cred;
		socklen_t len = sizeof(cred);

		memcpy(req->peer, "unix", sizeof("unix"));
		info = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (info != NULL &&
		    getsockopt(info->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			req->peer_uid = cred.uid;
		return;
	}

	memcpy(req->peer, "unknown", sizeof("unknown"));
	info = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info == NULL || info->client_addr == NULL)
		return;
	if (info->client_addr->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)info->client_addr;

		inet_ntop(AF_INET, &sin->sin_addr, req->peer, sizeof(req->peer));
	} else if (info->client_addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)info->client_addr;

		/* A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; log a.b.c.d. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], req->peer,
				  sizeof(req->peer));
		else
			inet_ntop(AF_INET6, &sin6->sin6_addr, req->peer, sizeof(req->peer));
	}
}

static struct http_request *
request_new(struct http_server *srv, struct MHD_Connection *conn, const char *url,
	    const char *method)
{
	struct http_request *req;

	req = malloc(sizeof(*req));
	if (req == NULL)
		return NULL;
	req->srv = srv;
	req->conn = conn;
	req->method = method;
	req->path = url;
	buf_init(&req->body, srv->max_body_bytes);
	req->body_error = 0;
	req->status = 0;
	req->header_count = 0;
	req->peer_uid = -1;
	request_identify_peer(req);
	return req;
}

static void
request_free(struct http_request *req)
{
	buf_free(&req->body);
	for (unsigned i = 0; i < req->header_count; i++)
		free(req->headers[i]);
	free(req);
}

static bool
method_allowed(const char *method)
{
	for (size_t i = 0; i < sizeof(allowed_methods) / sizeof(allowed_methods[0]); i++) {
		if (strcmp(method, allowed_methods[i]) == 0)
			return true;
	}
	return false;
}

struct length_walk {
	const char *first;          /* the value MHD uses */
	bool conflict;
};

static enum MHD_Result
length_walk_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct length_walk *walk = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
		return MHD_YES;
	if (value == NULL || strcmp(value, walk->first) != 0) {
		walk->conflict = true;
		return MHD_NO;
	}
	return MHD_YES;
}

/*
 * Return true when the request has several Content-Length headers that disagree.
 * MHD 0.9.75 silently uses the first, but RFC 9112 section 6.3 makes such a message
 * invalid, and a proxy in front might have used another one.
 */
static bool
content_length_conflicts(struct MHD_Connection *conn, const char *first)
{
	struct length_walk walk = { .first = first, .conflict = false };

	MHD_get_connection_values(conn, MHD_HEADER_KIND, length_walk_one, &walk);
	return walk.conflict;
}

/*
 * First call for a request, once its headers are in: reject what we can reject
 * before reading a body byte. Returns MHD_NO only when the connection must close.
 */
static enum MHD_Result
request_begin(struct http_request *req)
{
	const union MHD_ConnectionInfo *info;
	const char *length;
	uint64_t body_len;
	int rc = 0;

	if (!method_allowed(req->method)) {
		rc = http_add_header(req, MHD_HTTP_HEADER_ALLOW, HTTP_ALLOW_HEADER);
		if (rc == 0)
			rc = http_reply_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
					      "allowed methods are %s", HTTP_ALLOW_HEADER);
		return rc == 0 ? MHD_YES : MHD_NO;
	}

	/*
	 * MHD's pool is a little larger than max_header_bytes (see HTTP_POOL_EXTRA_BYTES),
	 * so headers just past the ceiling reach us and get 431 here.
	 */
	info = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (info != NULL && info->header_size > req->srv->max_header_bytes) {
		rc = http_reply_error(req, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
				      "headers_too_large",
				      "request headers are %zu bytes, the limit is %zu",
				      info->header_size, req->srv->max_header_bytes);
		return rc == 0 ? MHD_YES : MHD_NO;
	}

	/* MHD has already replied 400 to a Content-Length that is not a number. */
	length = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
					     MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length == NULL)
		return MHD_YES;
	if (content_length_conflicts(req->conn, length)) {
		rc = http_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_request",
				      "conflicting Content-Length headers");
		return rc == 0 ? MHD_YES : MHD_NO;
	}
	if (uint_parse(length, 0, UINT64_MAX, &body_len) == 0 &&
	    body_len > req->srv->max_body_bytes) {
		rc = http_reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
				      "Content-Length is %llu bytes, the limit is %zu",
				      (unsigned long long)body_len, req->srv->max_body_bytes);
		return rc == 0 ? MHD_YES : MHD_NO;
	}
	return MHD_YES;
}

/*
 * Add a piece of the body. Past the ceiling (a chunked body, whose size is not known
 * up front) or after a failed allocation, the rest is read and dropped. MHD 0.9.75
 * cannot queue a reply while it is still passing body data, so the error reply goes
 * out once the body has ended.
 */
static void
request_append_body(struct http_request *req, const char *data, size_t len)
{
	int rc;

	if (req->body_error != 0)
		return;
	rc = buf_append(&req->body, data, len);
	if (rc == 0)
		return;

	req->body_error = rc;
	buf_free(&req->body);
}

/* Last call for a request: the whole body is in, so run the handler once. */
static enum MHD_Result
request_dispatch(struct http_request *req)
{
	struct http_server *srv = req->srv;
	char path[256];
	int rc;

	if (req->body_error == -E2BIG) {
		rc = http_reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
				      "the body exceeds the limit of %zu bytes",
				      srv->max_body_bytes);
		return rc == 0 ? MHD_YES : MHD_NO;
	}
	if (req->body_error != 0) {
		log_warning("http cannot store a request body listener=%s peer=%s: %s",
			    http_kind_names[srv->kind], req->peer, strerror(-req->body_error));
		rc = http_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
				      "the request body could not be stored");
		return rc == 0 ? MHD_YES : MHD_NO;
	}

	srv->handler(req, srv->ctx);
	if (req->status != 0)
		return MHD_YES;

	/* A handler that did not reply is a bug in the handler; the client still gets one. */
	http_printable(req->path, path, sizeof(path));
	log_err("http handler sent no reply listener=%s method=%s path=\"%s\"",
		http_kind_names[srv->kind], req->method, path);
	rc = http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
			      "the request handler sent no reply");
	return rc == 0 ? MHD_YES : MHD_NO;
}

/*
 * MHD's access handler. MHD calls it once when the headers are in, once per piece of
 * body, and once more when the request is complete (upload_data_size 0), unless a
 * reply was queued on an earlier call.
 */
static enum MHD_Result
mhd_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size,
	   void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;

	(void)version;

	if (req == NULL) {
		req = request_new(srv, conn, url, method);
		if (req == NULL) {
			log_warning("http out of memory for a request listener=%s, closing",
				    http_kind_names[srv->kind]);
			return MHD_NO;
		}
		*con_cls = req;
		return request_begin(req);
	}

	if (*upload_data_size > 0) {
		request_append_body(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}

	if (req->status != 0)
		return MHD_YES;
	return request_dispatch(req);
}

/* MHD's completion callback: the reply is sent or the connection is gone. */
static void
mhd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
	      enum MHD_RequestTerminationCode toe)
{
	struct http_request *req = *con_cls;

	(void)cls;
	(void)conn;

	if (req == NULL)
		return;
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		char path[256];

		http_printable(req->path, path, sizeof(path));
		log_debug("http request listener=%s peer=%s method=%s path=\"%s\" status=%u "
			  "body_bytes=%zu termination=%d",
			  http_kind_names[req->srv->kind], req->peer, req->method, path, req->status,
			  req->body.len, (int)toe);
	}
	request_free(req);
	*con_cls = NULL;
}

/*
 * MHD 0.9.75 closes the listening socket when a start fails after it took the socket
 * over (a bad TLS key does that), but earlier failure paths may return before. Close
 * it only when the descriptor still refers to the same socket, since another thread
 * may already have been given the number again.
 */
static void
close_listen_fd_if_open(int fd, const struct stat *before)
{
	struct stat now;

	if (fstat(fd, &now) == 0 && now.st_dev == before->st_dev && now.st_ino == before->st_ino)
		close(fd);
}

int
http_start(const struct http_listener_config *cfg, struct http_server **ret)
{
	struct http_server *srv;
	struct stat listen_st;
	unsigned flags;
	bool tls = cfg->kind == HTTP_LISTENER_API;
	int rc;

	if (cfg->listen == NULL || cfg->handler == NULL || cfg->threads == 0 ||
	    cfg->max_connections == 0 || cfg->max_header_bytes == 0 ||
	    (unsigned)cfg->kind > HTTP_LISTENER_UNIX) {
		log_err("http invalid listener configuration: listen, handler, threads, "
			"max_connections and max_header_bytes are required");
		return -EINVAL;
	}
	if (tls && (cfg->cert_pem == NULL || cfg->key_pem == NULL)) {
		log_err("http listener=api listen=%s needs a certificate and a key", cfg->listen);
		return -EINVAL;
	}

	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return -ENOMEM;
	srv->listen = strdup(cfg->listen);
	if (srv->listen == NULL) {
		rc = -ENOMEM;
		goto err_alloc;
	}
	srv->kind = cfg->kind;
	srv->listen_fd = -1;
	srv->max_header_bytes = cfg->max_header_bytes;
	srv->max_body_bytes = cfg->max_body_bytes;
	srv->handler = cfg->handler;
	srv->ctx = cfg->ctx;
	atomic_init(&srv->running, false);

	http_raise_fd_limit(cfg->max_connections);

	if (cfg->kind == HTTP_LISTENER_UNIX)
		rc = http_listen_unix(cfg->listen, &srv->socket_st);
	else
		rc = http_listen_tcp(cfg->listen, &srv->port);
	if (rc < 0)
		goto err_listen;
	srv->listen_fd = rc;

	/* Remember which socket this is, to tell after a failed start whether MHD closed it. */
	if (fstat(srv->listen_fd, &listen_st) < 0) {
		rc = -errno;
		close(srv->listen_fd);
		goto err_fstat;
	}

	/*
	 * One epoll loop per worker thread; workers share the listening socket. MHD takes
	 * the socket over and closes it in MHD_stop_daemon. When tls is false the
	 * MHD_OPTION_END in place of MHD_OPTION_HTTPS_MEM_CERT ends the list there.
	 */
	flags = MHD_USE_ERROR_LOG | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	if (tls)
		flags |= MHD_USE_TLS;
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, mhd_access, srv,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
		MHD_OPTION_LISTEN_SOCKET, srv->listen_fd,
		MHD_OPTION_THREAD_POOL_SIZE, cfg->threads > 1 ? cfg->threads : 0u,
		MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_seconds,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		cfg->max_header_bytes + (size_t)HTTP_POOL_EXTRA_BYTES,
		MHD_OPTION_NOTIFY_COMPLETED, mhd_completed, srv,
		tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cfg->cert_pem,
		MHD_OPTION_HTTPS_MEM_KEY, cfg->key_pem,
		MHD_OPTION_HTTPS_PRIORITIES, HTTP_TLS_PRIORITIES,
		MHD_OPTION_END);
	if (srv->daemon == NULL) {
		rc = -EIO;
		log_err("http cannot start listener=%s listen=%s (see the MHD messages above)",
			http_kind_names[cfg->kind], cfg->listen);
		goto err_daemon;
	}
	atomic_store(&srv->running, true);

	log_info("http listening listener=%s listen=%s port=%u threads=%u "
		 "max_connections=%u", http_kind_names[cfg->kind], cfg->listen, srv->port,
		 cfg->threads, cfg->max_connections);
	*ret = srv;
	return 0;

err_daemon:
	close_listen_fd_if_open(srv->listen_fd, &listen_st);
err_fstat:
	if (srv->kind == HTTP_LISTENER_UNIX)
		http_unlink_socket(srv->listen, &srv->socket_st);
err_listen:
	free(srv->listen);
err_alloc:
	free(srv);
	return rc;
}

struct http_server *
http_stop(struct http_server *srv)
{
	if (srv == NULL)
		return NULL;

	/* Joins the worker threads; every completion callback has run when it returns. */
	MHD_stop_daemon(srv->daemon);
	if (srv->kind == HTTP_LISTENER_UNIX)
		http_unlink_socket(srv->listen, &srv->socket_st);
	log_info("http stopped listener=%s listen=%s", http_kind_names[srv->kind], srv->listen);
	free(srv->listen);
	free(srv);
	return NULL;
}

uint16_t
http_port(const struct http_server *srv)
{
	return srv->port;
}
