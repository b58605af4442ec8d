/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checks that run once a request's line and headers are in and before any body byte
 * is stored, so a request that will be rejected anyway costs no body memory. Each
 * rejection is a JSON error reply; MHD then closes the connection when the client
 * announced a body that was not read.
 */
#include "http/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "log/log.h"
#include "util/util.h"

/* Method names indexed by the bit number of their enum http_method_bit. */
static const char *const method_names[] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
};

static bool
method_allowed(const struct http_server *srv, const char *method)
{
	for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
		if (strcmp(method, method_names[i]) == 0)
			return (srv->methods & (1u << i)) != 0;
	}
	return false;
}

void
http_allow_header(unsigned methods, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
		int n;

		if ((methods & (1u << i)) == 0)
			continue;
		n = snprintf(out + used, size - used, "%s%s", used > 0 ? ", " : "",
			     method_names[i]);
		if (n < 0 || (size_t)n >= size - used)
			return;
		used += (size_t)n;
	}
}

/*
 * Check the headers that decide where the request and its body end, as RFC 9112
 * requires of a server. HTTP/1.1 needs exactly one Host (section 3.2). The only
 * Transfer-Encoding is "chunked", because MHD 0.9.75 decodes no other coding, and it
 * never comes with Content-Length (section 6.1, the request smuggling case). Returns
 * NULL or the reason for a 400.
 */
static const char *
framing_problem(struct http_request *req)
{
	unsigned hosts = http_header_count(req, MHD_HTTP_HEADER_HOST);
	unsigned codings = http_header_count(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	const char *coding;

	if (hosts > 1)
		return "the request has more than one Host header";
	if (hosts == 0 && strcmp(req->version, MHD_HTTP_VERSION_1_1) == 0)
		return "an HTTP/1.1 request needs a Host header";
	if (codings == 0)
		return NULL;

	coding = http_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	/* MHD 0.9.75 decodes a body as chunked only for exactly this value, in any case. */
	if (codings > 1 || coding == NULL || strcasecmp(coding, "chunked") != 0)
		return "Transfer-Encoding must be \"chunked\" alone";
	if (http_header_count(req, MHD_HTTP_HEADER_CONTENT_LENGTH) > 0)
		return "a request must not have both Transfer-Encoding and Content-Length";
	return NULL;
}

/* Reply with an error; returns 0 when the reply is queued, else -1. */
#define REPLY_ERROR(req, status, error, ...) \
	(http_reply_error((req), (status), (error), __VA_ARGS__) == 0 ? 0 : -1)

/* Run the listener's precheck; returns true when it replied (or should have). */
static bool
precheck_replied(struct http_request *req)
{
	struct http_server *srv = req->srv;
	char path[256];

	if (srv->precheck == NULL || srv->precheck(req, srv->ctx) == 0)
		return false;
	if (req->status != 0)
		return true;

	/* A precheck that rejects without replying is a bug in it; the client still gets one. */
	http_printable(req->path, path, sizeof(path));
	log_err("http precheck rejected without a reply listener=%s method=%s path=\"%s\"",
		http_kind_names[srv->kind], req->method, path);
	http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
			 "the request check sent no reply");
	return true;
}

int
http_request_begin(struct http_request *req, bool uri_nul)
{
	struct http_server *srv = req->srv;
	const union MHD_ConnectionInfo *info = NULL;
	const char *length, *problem;
	uint64_t body_len = 0;

	if (!method_allowed(srv, req->method)) {
		if (http_add_header(req, MHD_HTTP_HEADER_ALLOW, srv->allow) < 0)
			return -1;
		return REPLY_ERROR(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
				   "allowed methods are %s", srv->allow);
	}

	/* MHD decodes %00 to a NUL that would cut the path or a value short unseen. */
	if (uri_nul)
		return REPLY_ERROR(req, MHD_HTTP_BAD_REQUEST, "bad_request",
				   "the request target contains an encoded NUL byte (%%00)");

	/*
	 * MHD's pool is larger than max_header_bytes (see HTTP_FIELD_RECORD_BYTES in server.c),
	 * so headers past the ceiling reach us and get 431 here.
	 */
	if (req->conn != NULL)
		info = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (info != NULL && info->header_size > srv->max_header_bytes)
		return REPLY_ERROR(req, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
				   "headers_too_large",
				   "request headers are %zu bytes, the limit is %zu",
				   info->header_size, srv->max_header_bytes);

	problem = framing_problem(req);
	if (problem != NULL)
		return REPLY_ERROR(req, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", problem);

	/*
	 * MHD has already replied 400 to a Content-Length that is not a number, and the
	 * boot listener's own loop checks it before this.
	 */
	length = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length != NULL && http_header_conflicts(req, MHD_HTTP_HEADER_CONTENT_LENGTH))
		return REPLY_ERROR(req, MHD_HTTP_BAD_REQUEST, "bad_request",
				   "conflicting Content-Length headers");

	/* Authentication and routing come before any reply about the body. */
	if (precheck_replied(req))
		return 0;
	/* A streamed body is never held whole, so its size does not matter here. */
	if (req->stream_data != NULL)
		return 0;

	if (length != NULL && uint_parse(length, 0, UINT64_MAX, &body_len) == 0 &&
	    body_len > srv->max_body_bytes)
		return REPLY_ERROR(req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
				   "Content-Length is %llu bytes, the limit is %zu",
				   (unsigned long long)body_len, srv->max_body_bytes);

	/* A body of known length is counted whole now, so the 503 comes before its bytes. */
	if (body_len > 0 && http_body_reserve(req, (size_t)body_len) < 0)
		return http_reply_busy(req) == 0 ? 0 : -1;
	return 0;
}

int
http_reply_busy(struct http_request *req)
{
	char retry[16];
	int rc;

	snprintf(retry, sizeof(retry), "%d", HTTP_RETRY_AFTER_SECONDS);
	rc = http_add_header(req, MHD_HTTP_HEADER_RETRY_AFTER, retry);
	if (rc < 0)
		return rc;
	return http_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
				"the server holds its maximum of request body bytes; "
				"retry in %d seconds", HTTP_RETRY_AFTER_SECONDS);
}
