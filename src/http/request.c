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
 * Look up a query argument (`arg`) or a header field of a head parsed by wire.c, by
 * name without case, as MHD does.
 */
static const char *
wire_lookup(const struct http_wire_head *head, bool arg, const char *key)
{
	if (arg) {
		for (unsigned i = 0; i < head->arg_count; i++) {
			if (strcasecmp(head->args[i].key, key) == 0)
				return head->args[i].value != NULL ? head->args[i].value : "";
		}
		return NULL;
	}
	for (unsigned i = 0; i < head->field_count; i++) {
		if (strcasecmp(head->fields[i].name, key) == 0)
			return head->fields[i].value;
	}
	return NULL;
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

	if (req->wire != NULL)
		return wire_lookup(req->wire, kind == MHD_GET_ARGUMENT_KIND, key);
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

	if (req->wire != NULL) {
		for (unsigned i = 0; i < req->wire->arg_count; i++) {
			const struct http_wire_arg *a = &req->wire->args[i];
			int rc = cb(a->key, a->value != NULL ? a->value : "", arg);

			if (rc != 0)
				return rc;
		}
		return 0;
	}
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

	if (req->wire != NULL) {
		for (unsigned i = 0; i < req->wire->field_count; i++)
			walk.count += strcasecmp(req->wire->fields[i].name, name) == 0;
		return walk.count;
	}
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, header_walk_one, &walk);
	return walk.count;
}

struct conflict_walk {
	const char *name;
	const char *first;
	bool conflict;
};

static enum MHD_Result
conflict_walk_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct conflict_walk *walk = cls;

	(void)kind;
	if (strcasecmp(key, walk->name) != 0)
		return MHD_YES;
	if (walk->first == NULL) {
		walk->first = value != NULL ? value : "";
		return MHD_YES;
	}
	if (value == NULL || strcmp(value, walk->first) != 0) {
		walk->conflict = true;
		return MHD_NO;
	}
	return MHD_YES;
}

bool
http_header_conflicts(const struct http_request *req, const char *name)
{
	struct conflict_walk walk = { .name = name };

	if (req->wire == NULL) {
		MHD_get_connection_values(req->conn, MHD_HEADER_KIND, conflict_walk_one, &walk);
		return walk.conflict;
	}
	for (unsigned i = 0; i < req->wire->field_count; i++) {
		const struct http_wire_field *f = &req->wire->fields[i];

		if (strcasecmp(f->name, name) != 0)
			continue;
		if (walk.first == NULL)
			walk.first = f->value;
		else if (strcmp(f->value, walk.first) != 0)
			return true;
	}
	return false;
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

void
http_body_discard(struct http_body *body)
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
		http_body_discard(body);
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
		http_body_discard(body);
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
		http_body_discard(body);
		log_err("http second reply to one request status=%u first_status=%u", status,
			req->status);
		return -EALREADY;
	}
	if (req->econn != NULL)
		return http_loop_send(req, status, fields, count, body);
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

bool
http_header_name_valid(const char *name)
{
	if (name[0] == '\0')
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		if (!http_token_char((unsigned char)*p))
			return false;
	}
	return true;
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
	if (!http_header_name_valid(name) || strpbrk(value, "\r\n") != NULL)
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
