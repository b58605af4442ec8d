/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The handler's side of a request: accessors over MHD's parsed request and the reply
 * functions. Every reply goes through http_send, which adds the headers collected
 * with http_add_header and makes sure each request gets exactly one reply.
 */
#include "http/http.h"
#include "http/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log/log.h"

/* Longest "detail" text in an error reply, in bytes. */
#define HTTP_ERROR_DETAIL_MAX 1024

/*
 * Memory estimates for http_response_bytes, allocation overhead included: MHD's
 * response object with our wrapper, and one header record besides its text. Measured
 * with mallinfo2 for libmicrohttpd 0.9.75 and glibc 2.36 on x86_64: 192 bytes per
 * response and 128 per header of 24 bytes of text. The wrapper takes 112 more.
 */
#define HTTP_RESPONSE_OBJECT_BYTES 320
#define HTTP_HEADER_RECORD_BYTES 112
/*
 * Bytes from the start of MHD's response object that http_response_prefetch loads:
 * the object and the records of the headers added right after it was created. With
 * libmicrohttpd 0.9.75 and glibc 2.36, those of two headers ended 320 bytes after
 * its start. The header text is elsewhere, so its addresses are kept.
 */
#define HTTP_RESPONSE_PREFETCH_BYTES 384
#define HTTP_RESPONSE_PREFETCH_TEXTS 8
#define HTTP_CACHE_LINE_BYTES 64

struct http_response {
	struct MHD_Response *mhd;   /* one reference owned */
	size_t bytes;               /* http_response_bytes */
	const char *body;           /* owned by mhd */
	size_t len;
	/* MHD's copies of the header names and values, for http_response_prefetch */
	const char *texts[HTTP_RESPONSE_PREFETCH_TEXTS];
	unsigned text_count;
};

void
http_printable(const char *text, char *out, size_t size)
{
	size_t i;

	for (i = 0; text[i] != '\0' && i + 1 < size; i++) {
		unsigned char c = (unsigned char)text[i];

		out[i] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
	}
	out[i] = '\0';
}

const char *
http_method(const struct http_request *req)
{
	return req->method;
}

const char *
http_path(const struct http_request *req)
{
	return req->path;
}

/*
 * Look up a value of `kind` by key. MHD stores the decoded length next to each value,
 * so a value holding a NUL byte (decoded from %00) is told apart and reported absent:
 * as a C string it would be silently shorter.
 */
static const char *
lookup_value(const struct http_request *req, enum MHD_ValueKind kind, const char *key)
{
	const char *value = NULL;
	size_t len = 0;

	if (MHD_lookup_connection_value_n(req->conn, kind, key, strlen(key), &value, &len) !=
	    MHD_YES)
		return NULL;

	/* "?flag" has a key and no value; return "" so presence can be tested. */
	if (value == NULL)
		return "";
	return strlen(value) == len ? value : NULL;
}

const char *
http_query(const struct http_request *req, const char *key)
{
	return lookup_value(req, MHD_GET_ARGUMENT_KIND, key);
}

struct query_walk {
	int (*cb)(const char *key, const char *value, void *arg);
	void *arg;
	int result;
};

static enum MHD_Result
query_walk_one(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
	       const char *value, size_t value_size)
{
	struct query_walk *walk = cls;

	(void)kind;
	if (strlen(key) != key_size || (value != NULL && strlen(value) != value_size))
		return MHD_YES;
	walk->result = walk->cb(key, value != NULL ? value : "", walk->arg);
	return walk->result == 0 ? MHD_YES : MHD_NO;
}

int
http_query_each(const struct http_request *req,
		int (*cb)(const char *key, const char *value, void *arg), void *arg)
{
	struct query_walk walk = { .cb = cb, .arg = arg, .result = 0 };

	MHD_get_connection_values_n(req->conn, MHD_GET_ARGUMENT_KIND, query_walk_one, &walk);
	return walk.result;
}

const char *
http_header(const struct http_request *req, const char *name)
{
	return lookup_value(req, MHD_HEADER_KIND, name);
}

struct header_walk {
	const char *name;
	unsigned count;
};

static enum MHD_Result
header_walk_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct header_walk *walk = cls;

	(void)kind;
	(void)value;
	if (strcasecmp(key, walk->name) == 0)
		walk->count++;
	return MHD_YES;
}

unsigned
http_header_count(const struct http_request *req, const char *name)
{
	struct header_walk walk = { .name = name, .count = 0 };

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, header_walk_one, &walk);
	return walk.count;
}

const char *
http_body(const struct http_request *req, size_t *ret_len)
{
	if (ret_len != NULL)
		*ret_len = req->body.len;
	return req->body.data != NULL ? req->body.data : "";
}

enum http_listener_kind
http_listener(const struct http_request *req)
{
	return req->srv->kind;
}

int
http_request_set_data(struct http_request *req, void *data, void (*free_fn)(void *))
{
	if (req->data_free != NULL)
		req->data_free(req->data);
	req->data = data;
	req->data_free = free_fn;
	return 0;
}

void *
http_request_data(const struct http_request *req)
{
	return req->data;
}

int
http_request_stream(struct http_request *req, http_stream_fn data, http_stream_end_fn end,
		    void *ctx)
{
	if (data == NULL || end == NULL || req->stream_data != NULL)
		return -EINVAL;
	req->stream_data = data;
	req->stream_end = end;
	req->stream_ctx = ctx;
	return 0;
}

int
http_stream_error(const struct http_request *req)
{
	return req->stream_error;
}

void *
http_stream_ctx(const struct http_request *req)
{
	return req->stream_ctx;
}

/* Call the stream's end callback once. */
void
http_stream_finish(struct http_request *req, bool complete)
{
	http_stream_end_fn end = req->stream_end;

	if (end == NULL)
		return;
	req->stream_end = NULL;
	end(req->stream_ctx, complete);
}

int64_t
http_peer_uid(struct http_request *req)
{
	if (!req->peer_known)
		http_request_identify_peer(req);
	return req->peer_uid;
}

const char *
http_peer(struct http_request *req)
{
	if (!req->peer_known)
		http_request_identify_peer(req);
	return req->peer;
}

/* Close or release what a body holds, without sending it. */
static void
body_discard(struct http_body *body)
{
	if (body->fd >= 0)
		close(body->fd);
	else if (body->release != NULL)
		body->release(body->release_arg);
	body->fd = -1;
	body->release = NULL;
}

/* Create MHD's response over `body`, taking the body over. Returns NULL on failure. */
static struct MHD_Response *
response_from_body(struct http_body *body)
{
	struct MHD_Response *response;

	if (body->fd >= 0) {
		response = MHD_create_response_from_fd_at_offset64(body->len, body->fd,
								   body->offset);
	} else if (body->len == 0) {
		/* Nothing of an empty body is sent, so it is released at once. */
		response = MHD_create_response_from_buffer(0, (void *)(uintptr_t)"",
							   MHD_RESPMEM_PERSISTENT);
		body_discard(body);
	} else if (body->release != NULL) {
		/* MHD never writes through the pointer of a response it does not copy. */
		response = MHD_create_response_from_buffer_with_free_callback_cls(
			body->len, (void *)(uintptr_t)body->data, body->release,
			body->release_arg);
	} else {
		response = MHD_create_response_from_buffer(body->len,
							   (void *)(uintptr_t)body->data,
							   MHD_RESPMEM_MUST_COPY);
	}
	if (response == NULL)
		body_discard(body);
	body->fd = -1;
	body->release = NULL;
	return response;
}

/* Add `count` fields and the request's own headers. Returns false when one fails. */
static bool
response_add_fields(struct MHD_Response *response, const struct http_request *req,
		    const struct http_field *fields, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (MHD_add_response_header(response, fields[i].name, fields[i].value) != MHD_YES)
			return false;
	}
	for (unsigned i = 0; i < req->header_count; i++) {
		const char *name = req->headers[i];

		if (MHD_add_response_header(response, name, name + strlen(name) + 1) != MHD_YES)
			return false;
	}
	return true;
}

int
http_send(struct http_request *req, unsigned status, const struct http_field *fields,
	  size_t count, struct http_body *body)
{
	struct MHD_Response *response;

	if (req->status != 0) {
		body_discard(body);
		log_err("http second reply to one request status=%u first_status=%u", status,
			req->status);
		return -EALREADY;
	}
	response = response_from_body(body);
	if (response == NULL)
		return -ENOMEM;
	if (!response_add_fields(response, req, fields, count)) {
		MHD_destroy_response(response);
		return -ENOMEM;
	}
	if (MHD_queue_response(req->conn, status, response) != MHD_YES) {
		MHD_destroy_response(response);
		return -EIO;
	}
	/* The connection holds its own reference until the reply is sent. */
	MHD_destroy_response(response);
	req->status = status;
	return 0;
}

/* Send `status` with `body` and, when content_type is not NULL, Content-Type. */
static int
send_typed(struct http_request *req, unsigned status, const char *content_type,
	   struct http_body *body)
{
	struct http_field type = { MHD_HTTP_HEADER_CONTENT_TYPE, content_type };

	return http_send(req, status, &type, content_type != NULL ? 1 : 0, body);
}

int
http_reply(struct http_request *req, unsigned status, const char *content_type,
	   const void *body, size_t len)
{
	struct http_body copy = { .data = body, .len = len, .fd = -1 };

	return send_typed(req, status, content_type, &copy);
}

int
http_reply_take(struct http_request *req, unsigned status, const char *content_type,
		char *body, size_t len)
{
	struct http_body taken = { .data = body, .len = len, .fd = -1, .release = free,
				   .release_arg = body };

	return send_typed(req, status, content_type, &taken);
}

static enum MHD_Result
response_text_add(void *cls, enum MHD_ValueKind kind, const char *name, const char *value)
{
	struct http_response *response = cls;

	(void)kind;
	if (response->text_count + 2 > HTTP_RESPONSE_PREFETCH_TEXTS)
		return MHD_NO;
	response->texts[response->text_count++] = name;
	response->texts[response->text_count++] = value;
	return MHD_YES;
}

/* Keep the addresses of MHD's copies of the header names and values. */
static void
response_texts_record(struct http_response *response)
{
	response->text_count = 0;
	MHD_get_response_headers(response->mhd, response_text_add, response);
}

int
http_response_new(const char *content_type, char *body, size_t len,
		  struct http_response **ret)
{
	struct http_response *response = malloc(sizeof(*response));
	struct http_body taken = { .data = body, .len = len, .fd = -1, .release = free,
				   .release_arg = body };

	if (response == NULL) {
		free(body);
		return -ENOMEM;
	}
	response->body = body;
	response->len = len;
	response->text_count = 0;
	response->mhd = response_from_body(&taken);
	if (response->mhd != NULL && content_type != NULL &&
	    MHD_add_response_header(response->mhd, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) !=
		    MHD_YES) {
		MHD_destroy_response(response->mhd);
		response->mhd = NULL;
	}
	if (response->mhd == NULL) {
		free(response);
		return -ENOMEM;
	}
	response_texts_record(response);
	/* glibc's malloc adds 8 bytes to an allocation and rounds up to a multiple of 16. */
	response->bytes = HTTP_RESPONSE_OBJECT_BYTES + (len + 8 + 15) / 16 * 16;
	if (content_type != NULL)
		response->bytes += HTTP_HEADER_RECORD_BYTES + strlen(content_type);
	*ret = response;
	return 0;
}

int
http_reply_json(struct http_request *req, unsigned status, json_t *json)
{
	char *text;

	if (json == NULL)
		return -EINVAL;
	text = json_dumps(json, JSON_COMPACT);
	json_decref(json);
	if (text == NULL)
		return -ENOMEM;
	return http_reply_take(req, status, "application/json", text, strlen(text));
}

/*
 * Make a JSON string from text that may come from a client and so may not be UTF-8:
 * jansson rejects invalid UTF-8, so on failure bytes past ASCII become '?'.
 */
static json_t *
json_string_lossy(const char *text)
{
	char copy[HTTP_ERROR_DETAIL_MAX];
	json_t *str;
	size_t i;

	str = json_string(text);
	if (str != NULL)
		return str;
	for (i = 0; text[i] != '\0' && i + 1 < sizeof(copy); i++)
		copy[i] = (unsigned char)text[i] < 0x80 ? text[i] : '?';
	copy[i] = '\0';
	return json_string(copy);
}

int
http_reply_error(struct http_request *req, unsigned status, const char *error,
		 const char *detail_fmt, ...)
{
	char detail[HTTP_ERROR_DETAIL_MAX];
	json_t *body;
	va_list args;

	body = json_object();
	if (body == NULL || json_object_set_new(body, "error", json_string_lossy(error)) < 0)
		goto err_json;

	if (detail_fmt != NULL) {
		va_start(args, detail_fmt);
		vsnprintf(detail, sizeof(detail), detail_fmt, args);
		va_end(args);
		if (json_object_set_new(body, "detail", json_string_lossy(detail)) < 0)
			goto err_json;
	}
	return http_reply_json(req, status, body);

err_json:
	json_decref(body);
	return -ENOMEM;
}

/* RFC 9110 token characters, the only ones allowed in a header name. */
static bool
header_name_valid(const char *name)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (name[0] == '\0')
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      strchr(extra, c) != NULL))
			return false;
	}
	return true;
}

int
http_response_add_header(struct http_response *response, const char *name, const char *value)
{
	if (!header_name_valid(name) || strpbrk(value, "\r\n") != NULL)
		return -EINVAL;
	if (MHD_add_response_header(response->mhd, name, value) != MHD_YES)
		return -ENOMEM;
	response->bytes += HTTP_HEADER_RECORD_BYTES + strlen(name) + strlen(value);
	response_texts_record(response);
	return 0;
}

void
http_response_prefetch(const struct http_response *response)
{
	/* Integer arithmetic: the addresses after the object are not the object's own. */
	uintptr_t mhd = (uintptr_t)response->mhd;

	for (size_t i = 0; i < HTTP_RESPONSE_PREFETCH_BYTES; i += HTTP_CACHE_LINE_BYTES)
		__builtin_prefetch((const void *)(mhd + i));
	for (unsigned i = 0; i < response->text_count; i++)
		__builtin_prefetch(response->texts[i]);
	for (size_t i = 0; i < response->len; i += HTTP_CACHE_LINE_BYTES)
		__builtin_prefetch(response->body + i);
}

size_t
http_response_bytes(const struct http_response *response)
{
	return response->bytes;
}

int
http_reply_response(struct http_request *req, unsigned status, struct http_response *response)
{
	if (req->status != 0) {
		log_err("http second reply to one request status=%u first_status=%u", status,
			req->status);
		return -EALREADY;
	}
	/* Adding the request's own headers would change the reply for every other request. */
	if (req->header_count != 0)
		return -EINVAL;

	/* MHD takes a reference of its own until the reply is sent. */
	if (MHD_queue_response(req->conn, status, response->mhd) != MHD_YES)
		return -EIO;
	req->status = status;
	return 0;
}

struct http_response *
http_response_free(struct http_response *response)
{
	if (response == NULL)
		return NULL;
	MHD_destroy_response(response->mhd);
	free(response);
	return NULL;
}

int
http_add_header(struct http_request *req, const char *name, const char *value)
{
	size_t name_len, value_len;
	char *entry;

	if (req->status != 0)
		return -EALREADY;
	if (req->header_count >= HTTP_MAX_EXTRA_HEADERS)
		return -E2BIG;

	/* A CR or LF in a value would let it start a header of its own. */
	if (!header_name_valid(name) || strpbrk(value, "\r\n") != NULL)
		return -EINVAL;

	name_len = strlen(name);
	value_len = strlen(value);
	entry = malloc(name_len + value_len + 2);
	if (entry == NULL)
		return -ENOMEM;
	memcpy(entry, name, name_len + 1);
	memcpy(entry + name_len + 1, value, value_len + 1);
	req->headers[req->header_count++] = entry;
	return 0;
}
