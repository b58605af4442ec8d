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
#include <stdint.h>
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
 * pool per connection. The text of the request line and headers is parsed in place
 * in the read buffer. Each query argument and each header field also costs a record
 * from the same pool, and the reply's header block is written there too. When
 * the records do not fit, MHD 0.9.75 logs "Not enough memory in pool to allocate
 * header record!" and sends no reply at all. So the pool is max_header_bytes of text,
 * max_fields records and room for the reply. Headers between max_header_bytes and
 * that size reach http_request_begin, which replies 431 in JSON; larger ones get MHD's
 * own 431.
 *
 * NOTE: the record size is measured, not read from MHD's headers: with a 32 KiB pool
 * MHD 0.9.75 parsed at most 475 query arguments "a=1", and with 64 KiB 957, so about
 * 64 bytes per argument beyond its text.
 */
#define HTTP_FIELD_RECORD_BYTES 64
#define HTTP_POOL_REPLY_BYTES (4 * 1024)

/* Longest MHD log message we keep; longer ones are truncated. */
#define HTTP_MHD_LOG_MAX 512

/*
 * GnuTLS priority string for the HTTPS listener: GnuTLS's NORMAL cipher suites, TLS 1.2
 * and 1.3 only.
 */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/*
 * Marker the URI log callback passes on as the request's first *con_cls for a request
 * target with an encoded NUL. Only its address matters: it is never written, freed or
 * taken for a struct http_request.
 */
static char uri_has_nul;

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

/*
 * Fill req->peer (and req->peer_uid on the unix socket) from the connection. Called on
 * first use, because most requests never need their peer and formatting it costs an
 * estimated one percent of a small request.
 */
void
http_request_identify_peer(struct http_request *req)
{
	const union MHD_ConnectionInfo *info;
	const struct sockaddr *addr;

	req->peer_known = true;
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
	if (req->econn != NULL) {
		addr = (const struct sockaddr *)http_loop_peer(req);
	} else {
		info = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (info == NULL || info->client_addr == NULL)
			return;
		addr = info->client_addr;
	}
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;

		inet_ntop(AF_INET, &sin->sin_addr, req->peer, sizeof(req->peer));
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)addr;

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
	    const char *method, const char *version)
{
	struct http_request *req;

	req = malloc(sizeof(*req));
	if (req == NULL)
		return NULL;
	req->srv = srv;
	req->conn = conn;
	req->econn = NULL;
	req->wire = NULL;
	req->method = method;
	req->path = url;
	req->version = version;
	buf_init(&req->body, srv->max_body_bytes);
	req->body_reserved = 0;
	req->body_error = 0;
	req->status = 0;
	req->header_count = 0;
	req->peer_uid = -1;
	req->peer_known = false;
	req->data = NULL;
	req->data_free = NULL;
	req->stream_data = NULL;
	req->stream_end = NULL;
	req->stream_ctx = NULL;
	req->stream_error = 0;
	return req;
}

void
http_request_clear(struct http_request *req)
{
	/* The connection closed, or a reply went out, before the body ended. */
	http_stream_finish(req, false);
	if (req->data_free != NULL)
		req->data_free(req->data);
	req->data_free = NULL;
	buf_free(&req->body);
	http_body_release(req);
	for (unsigned i = 0; i < req->header_count; i++)
		free(req->headers[i]);
	req->header_count = 0;
}

static void
request_free(struct http_request *req)
{
	http_request_clear(req);
	free(req);
}

int
http_body_reserve(struct http_request *req, size_t total)
{
	struct http_server *srv = req->srv;
	size_t bound, extra, before;

	if (srv->max_buffered_body_bytes == 0)
		return 0;

	/*
	 * struct buf doubles its capacity from 256 bytes and never goes past max + 1, so a
	 * body of `total` bytes (and its NUL) takes less than this.
	 */
	bound = total < SIZE_MAX / 2 - 1 ? 2 * (total + 1) : SIZE_MAX;
	if (bound < 512)
		bound = 512;
	if (bound > srv->max_body_bytes + 1)
		bound = srv->max_body_bytes + 1;
	if (bound <= req->body_reserved)
		return 0;

	extra = bound - req->body_reserved;
	before = atomic_fetch_add(&srv->buffered_body_bytes, extra);
	if (before + extra > srv->max_buffered_body_bytes || before + extra < before) {
		atomic_fetch_sub(&srv->buffered_body_bytes, extra);
		return -EBUSY;
	}
	req->body_reserved = bound;
	return 0;
}

void
http_body_release(struct http_request *req)
{
	if (req->body_reserved == 0)
		return;
	atomic_fetch_sub(&req->srv->buffered_body_bytes, req->body_reserved);
	req->body_reserved = 0;
}

/*
 * Add a piece of the body. Past the ceiling (a chunked body, whose size is not known
 * up front), past the listener's body ceiling or after a failed allocation, the rest
 * is read and dropped. MHD 0.9.75 cannot queue a reply while it is still passing body
 * data, so the error reply goes out once the body has ended.
 */
void
http_request_body_add(struct http_request *req, const char *data, size_t len)
{
	int rc;

	if (req->stream_data != NULL) {
		if (req->stream_error == 0)
			req->stream_error = req->stream_data(req->stream_ctx, data, len);
		return;
	}
	if (req->body_error != 0)
		return;
	if (len > req->srv->max_body_bytes || req->body.len > req->srv->max_body_bytes - len)
		rc = -E2BIG;
	else
		rc = http_body_reserve(req, req->body.len + len);
	if (rc == 0)
		rc = buf_append(&req->body, data, len);
	if (rc == 0)
		return;

	req->body_error = rc;
	buf_free(&req->body);
	http_body_release(req);
}

int
http_request_dispatch(struct http_request *req)
{
	struct http_server *srv = req->srv;
	char path[256];

	http_stream_finish(req, true);
	if (req->body_error == -E2BIG)
		return http_reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
					"the body exceeds the limit of %zu bytes",
					srv->max_body_bytes);
	if (req->body_error == -EBUSY) {
		log_info("http body ceiling reached listener=%s peer=%s max_buffered_body_bytes=%zu",
			 http_kind_names[srv->kind], http_peer(req), srv->max_buffered_body_bytes);
		return http_reply_busy(req);
	}
	if (req->body_error != 0) {
		log_warning("http cannot store a request body listener=%s peer=%s: %s",
			    http_kind_names[srv->kind], http_peer(req), strerror(-req->body_error));
		return http_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					"the request body could not be stored");
	}

	srv->handler(req, srv->ctx);
	if (req->status != 0)
		return 0;

	/* A handler that did not reply is a bug in the handler; the client still gets one. */
	http_printable(req->path, path, sizeof(path));
	log_err("http handler sent no reply listener=%s method=%s path=\"%s\"",
		http_kind_names[srv->kind], req->method, path);
	return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				"the request handler sent no reply");
}

static bool
uri_marked(const void *con_cls)
{
	return con_cls == &uri_has_nul;
}

/* Count the query arguments MHD will make records for: one per '&'-separated piece. */
static size_t
query_argument_count(const char *uri)
{
	const char *p = strchr(uri, '?');
	size_t count;

	if (p == NULL || p[1] == '\0')
		return 0;
	count = 1;
	while ((p = strchr(p + 1, '&')) != NULL)
		count++;
	return count;
}

/*
 * MHD's URI log callback, called with the raw request target once the request line is
 * in, before MHD decodes it and splits the query into arguments. Its return value is
 * the request's first *con_cls, here a marker when the target must be rejected.
 */
static void *
mhd_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *srv = cls;
	size_t args;

	/*
	 * MHD's pool has room for max_fields records next to the text. With more query
	 * arguments MHD may fail to parse the request and then send nothing, so close the
	 * connection now: this thread owns it, and its descriptor stays open until MHD's
	 * close notification.
	 */
	args = query_argument_count(uri);
	if (args > srv->max_fields) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		log_info("http closing a connection whose request has %zu query arguments, "
			 "more than %u listener=%s", args, srv->max_fields,
			 http_kind_names[srv->kind]);
		if (info != NULL)
			shutdown(info->connect_fd, SHUT_RDWR);
		return NULL;
	}

	/* "%00" would decode to a NUL byte that silently cuts the path or a value short. */
	return strstr(uri, "%00") != NULL ? &uri_has_nul : NULL;
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

	if (req == NULL || uri_marked(req)) {
		bool uri_nul = uri_marked(req);

		/* The request line and headers are in: the header deadline no longer applies. */
		http_deadline_disarm(srv, conn);
		req = request_new(srv, conn, url, method, version);
		if (req == NULL) {
			log_warning("http out of memory for a request listener=%s, closing",
				    http_kind_names[srv->kind]);
			*con_cls = NULL;
			return MHD_NO;
		}
		*con_cls = req;
		return http_request_begin(req, uri_nul) == 0 ? MHD_YES : MHD_NO;
	}

	if (*upload_data_size > 0) {
		http_request_body_add(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}

	if (req->status != 0)
		return MHD_YES;
	return http_request_dispatch(req) == 0 ? MHD_YES : MHD_NO;
}

/* Replace the path segment after the first matching prefix with "...", in place. */
static void
secret_hide(const char *const *prefixes, char *path, size_t size)
{
	const char *rest;
	char copy[256];

	for (size_t i = 0; prefixes != NULL && prefixes[i] != NULL; i++) {
		size_t len = strlen(prefixes[i]);

		if (len == 0 || strncmp(path, prefixes[i], len) != 0)
			continue;
		rest = strchr(path + len, '/');
		snprintf(copy, sizeof(copy), "%.*s...%s", (int)len, path, rest != NULL ? rest : "");
		snprintf(path, size, "%s", copy);
		return;
	}
}

void
http_request_log(struct http_request *req, int termination)
{
	char path[256];

	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	http_printable(req->path, path, sizeof(path));
	secret_hide(req->srv->secret_path_prefixes, path, sizeof(path));
	log_debug("http request listener=%s peer=%s method=%s path=\"%s\" status=%u "
		  "body_bytes=%zu termination=%d",
		  http_kind_names[req->srv->kind], http_peer(req), req->method, path, req->status,
		  req->body.len, termination);
}

/* MHD's completion callback: the reply is sent or the connection is gone. */
static void
mhd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
	      enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;

	/* A reply went out and the connection stays open for the next request. */
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		http_deadline_rearm(srv, conn);

	/* A marker means MHD ended the request before the access handler saw it. */
	if (req == NULL || uri_marked(req)) {
		*con_cls = NULL;
		return;
	}
	http_request_log(req, (int)toe);
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

/* Check the parts of a listener configuration that http_start cannot do without. */
static int
config_check(const struct http_listener_config *cfg)
{
	if (cfg->listen == NULL || cfg->handler == NULL || cfg->threads == 0 ||
	    cfg->max_connections == 0 || cfg->max_header_bytes == 0 ||
	    (unsigned)cfg->kind > HTTP_LISTENER_UNIX) {
		log_err("http invalid listener configuration: listen, handler, threads, "
			"max_connections and max_header_bytes are required");
		return -EINVAL;
	}
	if (cfg->kind == HTTP_LISTENER_API && (cfg->cert_pem == NULL || cfg->key_pem == NULL)) {
		log_err("http listener=api listen=%s needs a certificate and a key", cfg->listen);
		return -EINVAL;
	}
	if (cfg->max_header_bytes > SIZE_MAX / 4) {
		log_err("http max_header_bytes=%zu is too large", cfg->max_header_bytes);
		return -EINVAL;
	}
	if (cfg->max_fields > HTTP_MAX_FIELDS_LIMIT) {
		log_err("http max_fields=%u is more than %d; lower it", cfg->max_fields,
			HTTP_MAX_FIELDS_LIMIT);
		return -EINVAL;
	}

	/* Below max_body_bytes, a body of the largest allowed size could never be taken. */
	if (cfg->max_buffered_body_bytes != 0 &&
	    cfg->max_buffered_body_bytes < cfg->max_body_bytes) {
		log_err("http listener=%s max_buffered_body_bytes=%zu is less than "
			"max_body_bytes=%zu; raise it", http_kind_names[cfg->kind],
			cfg->max_buffered_body_bytes, cfg->max_body_bytes);
		return -EINVAL;
	}
	return 0;
}

/* Allocate a server and copy the configuration into it. */
static int
server_new(const struct http_listener_config *cfg, struct http_server **ret)
{
	struct http_server *srv;

	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return -ENOMEM;
	srv->listen = strdup(cfg->listen);
	if (srv->listen == NULL) {
		free(srv);
		return -ENOMEM;
	}
	srv->kind = cfg->kind;
	srv->secret_path_prefixes = cfg->secret_path_prefixes;
	srv->listen_fd = -1;
	srv->max_header_bytes = cfg->max_header_bytes;
	srv->max_body_bytes = cfg->max_body_bytes;
	srv->max_fields = cfg->max_fields != 0 ? cfg->max_fields : HTTP_DEFAULT_MAX_FIELDS;
	srv->pool_bytes = cfg->max_header_bytes + (size_t)srv->max_fields * HTTP_FIELD_RECORD_BYTES +
			  HTTP_POOL_REPLY_BYTES;
	srv->methods = cfg->methods != 0 ? cfg->methods & HTTP_METHODS_ALL : HTTP_METHODS_ALL;
	http_allow_header(srv->methods, srv->allow, sizeof(srv->allow));
	srv->max_buffered_body_bytes = cfg->max_buffered_body_bytes;
	atomic_init(&srv->buffered_body_bytes, 0);
	srv->handler = cfg->handler;
	srv->precheck = cfg->precheck;
	srv->ctx = cfg->ctx;
	/* The boot listener's loop keeps the header deadline itself. */
	srv->deadline.timeout_seconds = cfg->kind == HTTP_LISTENER_BOOT ? 0 :
									 cfg->header_timeout_seconds;
	atomic_init(&srv->running, false);
	*ret = srv;
	return 0;
}

/*
 * Start MHD on srv->listen_fd. One epoll loop per worker thread; workers share the
 * listening socket. MHD takes the socket over and closes it in MHD_stop_daemon.
 */
static int
daemon_start(struct http_server *srv, const struct http_listener_config *cfg)
{
	struct MHD_OptionItem optional[8];
	unsigned flags;
	size_t n = 0;

	/*
	 * Options that depend on the configuration go in an array. MHD 0.9.75 logs an
	 * error for a thread pool of size 0 or 1, so one thread means no pool option.
	 */
	if (cfg->threads > 1)
		optional[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE,
							 (intptr_t)cfg->threads, NULL };
	if (cfg->kind != HTTP_LISTENER_UNIX && cfg->max_connections_per_ip > 0)
		optional[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT,
							 (intptr_t)cfg->max_connections_per_ip,
							 NULL };
	if (srv->deadline.timeout_seconds > 0)
		optional[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION,
							 (intptr_t)http_deadline_notify, srv };
	if (cfg->kind == HTTP_LISTENER_API) {
		/* MHD only reads these strings; its option array has no const pointer. */
		optional[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
							 (void *)(uintptr_t)cfg->cert_pem };
		optional[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
							 (void *)(uintptr_t)cfg->key_pem };
		optional[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
							 (void *)(uintptr_t)HTTP_TLS_PRIORITIES };
	}
	optional[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	flags = MHD_USE_ERROR_LOG | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	if (cfg->kind == HTTP_LISTENER_API)
		flags |= MHD_USE_TLS;
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, mhd_access, srv,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
		MHD_OPTION_LISTEN_SOCKET, srv->listen_fd,
		MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_seconds,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, srv->pool_bytes,
		MHD_OPTION_URI_LOG_CALLBACK, mhd_uri_log, srv,
		MHD_OPTION_NOTIFY_COMPLETED, mhd_completed, srv,
		MHD_OPTION_ARRAY, optional,
		MHD_OPTION_END);
	if (srv->daemon == NULL) {
		log_err("http cannot start listener=%s listen=%s (see the MHD messages above)",
			http_kind_names[cfg->kind], cfg->listen);
		return -EIO;
	}
	return 0;
}

int
http_start(const struct http_listener_config *cfg, struct http_server **ret)
{
	struct http_server *srv;
	struct stat listen_st;
	int rc;

	rc = config_check(cfg);
	if (rc < 0)
		return rc;
	rc = server_new(cfg, &srv);
	if (rc < 0)
		return rc;

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

	/* The deadline thread must run before MHD can report a first connection. */
	rc = http_deadline_start(srv);
	if (rc < 0) {
		close(srv->listen_fd);
		goto err_fstat;
	}

	if (cfg->kind == HTTP_LISTENER_BOOT)
		rc = http_loop_start(srv, cfg);
	else
		rc = daemon_start(srv, cfg);
	if (rc < 0)
		goto err_daemon;
	atomic_store(&srv->running, true);

	log_info("http listening listener=%s listen=%s port=%u threads=%u "
		 "max_connections=%u max_connections_per_ip=%u header_timeout_seconds=%u",
		 http_kind_names[cfg->kind], cfg->listen, srv->port, cfg->threads,
		 cfg->max_connections, cfg->max_connections_per_ip, cfg->header_timeout_seconds);
	*ret = srv;
	return 0;

err_daemon:
	http_deadline_stop(srv);
	close_listen_fd_if_open(srv->listen_fd, &listen_st);
err_fstat:
	if (srv->kind == HTTP_LISTENER_UNIX)
		http_unlink_socket(srv->listen, &srv->socket_st);
err_listen:
	free(srv->listen);
	free(srv);
	return rc;
}

struct http_server *
http_stop(struct http_server *srv)
{
	if (srv == NULL)
		return NULL;

	/*
	 * Joins the worker threads; every completion and close notification has run when
	 * it returns, so the deadline thread has no connection left and can stop.
	 */
	if (srv->loop != NULL)
		http_loop_stop(srv);
	else
		MHD_stop_daemon(srv->daemon);
	http_deadline_stop(srv);
	if (srv->kind == HTTP_LISTENER_UNIX)
		http_unlink_socket(srv->listen, &srv->socket_st);
	log_info("http stopped listener=%s listen=%s port=%u", http_kind_names[srv->kind],
		 srv->listen, srv->port);
	free(srv->listen);
	free(srv);
	return NULL;
}

uint16_t
http_port(const struct http_server *srv)
{
	return srv->port;
}
