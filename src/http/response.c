/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kept replies (struct http_response): a body and header lines built once and sent
 * for any number of requests, such as a boot script that stays the same until the
 * store changes. Also the shared texts (struct http_text) that spliced bodies take
 * most of their bytes from. The boot listener's loop sends a kept reply without a
 * copy: its header lines are stored as text and its body as up to three parts.
 */
#include "http/http.h"
#include "http/internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "log/log.h"

/* The maximum bytes of header lines in a kept reply. */
#define HTTP_RESPONSE_HEAD_MAX 1024
/* Bytes of header lines kept inside the reply's own block; more go to the heap. */
#define HTTP_RESPONSE_HEAD_INLINE 96
/* Header fields of a kept reply, Content-Type included. */
#define HTTP_RESPONSE_FIELDS 4
#define HTTP_CACHE_LINE_BYTES 64

/*
 * A kept reply, in one block with its first header lines and a spliced body's middle,
 * so that sending it touches a few neighbouring cache lines.
 */
struct http_response {
	atomic_uint refs;           /* the owner's and those of replies being sent */
	size_t bytes;               /* http_response_bytes */
	char *head;                 /* "Name: value\r\n" lines: head_inline or malloc'd */
	size_t head_len;
	/* The same fields as name and value, for replies over libmicrohttpd. */
	struct http_field fields[HTTP_RESPONSE_FIELDS];
	unsigned field_count;
	struct iovec parts[3];      /* the body */
	unsigned part_count;
	void (*release)(void *);    /* frees the body, or NULL */
	void *release_arg;
	struct http_text *base;     /* a spliced body's shared text, one reference */
	char head_inline[HTTP_RESPONSE_HEAD_INLINE];
	char middle[];              /* a spliced body's own bytes */
};

struct http_text {
	atomic_uint refs;
	size_t len;
	char data[];
};

/* The memory glibc's malloc takes for `len` bytes: 8 more, rounded up to 16. */
static size_t
malloc_bytes(size_t len)
{
	return (len + 8 + 15) / 16 * 16;
}

struct http_text *
http_text_new(const char *data, size_t len)
{
	struct http_text *text = malloc(sizeof(*text) + len + 1);

	if (text == NULL)
		return NULL;
	atomic_init(&text->refs, 1);
	text->len = len;
	memcpy(text->data, data, len);
	text->data[len] = '\0';
	return text;
}

struct http_text *
http_text_ref(struct http_text *text)
{
	atomic_fetch_add_explicit(&text->refs, 1, memory_order_relaxed);
	return text;
}

struct http_text *
http_text_unref(struct http_text *text)
{
	if (text != NULL && atomic_fetch_sub_explicit(&text->refs, 1, memory_order_acq_rel) == 1)
		free(text);
	return NULL;
}

const char *
http_text_data(const struct http_text *text, size_t *len)
{
	*len = text->len;
	return text->data;
}

/*
 * Allocate a reply with room for `middle` bytes after it, whose body is freed with
 * release(release_arg), or never when release is NULL. On failure the body is
 * released at once.
 */
static struct http_response *
response_alloc(size_t middle, void (*release)(void *), void *release_arg)
{
	struct http_response *response = calloc(1, sizeof(*response) + middle);

	if (response == NULL) {
		if (release != NULL)
			release(release_arg);
		return NULL;
	}
	atomic_init(&response->refs, 1);
	response->head = response->head_inline;
	response->release = release;
	response->release_arg = release_arg;
	response->bytes = malloc_bytes(sizeof(*response) + middle);
	return response;
}

/* Add Content-Type and hand the reply out, or free it. */
static int
response_finish(struct http_response *response, const char *content_type,
		struct http_response **ret)
{
	int rc = 0;

	if (content_type != NULL)
		rc = http_response_add_header(response, "Content-Type", content_type);
	if (rc < 0) {
		http_response_free(response);
		return rc;
	}
	*ret = response;
	return 0;
}

int
http_response_new(const char *content_type, char *body, size_t len,
		  struct http_response **ret)
{
	struct http_response *response = response_alloc(0, free, body);

	if (response == NULL)
		return -ENOMEM;
	response->bytes += malloc_bytes(len);
	if (len > 0) {
		response->parts[0] = (struct iovec){ body, len };
		response->part_count = 1;
	}
	return response_finish(response, content_type, ret);
}

int
http_response_new_spliced(const char *content_type, struct http_text *base, size_t prefix,
			  const char *middle, size_t len, size_t suffix,
			  struct http_response **ret)
{
	struct http_response *response;
	unsigned count = 0;

	if (prefix > base->len || suffix > base->len - prefix)
		return -EINVAL;
	response = response_alloc(len, NULL, NULL);
	if (response == NULL)
		return -ENOMEM;
	response->base = http_text_ref(base);
	memcpy(response->middle, middle, len);

	if (prefix > 0)
		response->parts[count++] = (struct iovec){ base->data, prefix };
	if (len > 0)
		response->parts[count++] = (struct iovec){ response->middle, len };
	if (suffix > 0)
		response->parts[count++] = (struct iovec){ base->data + base->len - suffix, suffix };
	response->part_count = count;
	return response_finish(response, content_type, ret);
}

int
http_response_add_header(struct http_response *response, const char *name, const char *value)
{
	size_t name_len = strlen(name), value_len = strlen(value), line;
	char *copy;

	if (!http_header_name_valid(name) || strpbrk(value, "\r\n") != NULL)
		return -EINVAL;
	if (response->field_count >= HTTP_RESPONSE_FIELDS)
		return -E2BIG;
	line = name_len + value_len + 4;
	if (response->head_len + line > HTTP_RESPONSE_HEAD_MAX)
		return -E2BIG;
	copy = malloc(name_len + value_len + 2);
	if (copy == NULL)
		return -ENOMEM;
	if (response->head_len + line > HTTP_RESPONSE_HEAD_INLINE) {
		char *head = response->head == response->head_inline ? NULL : response->head;

		head = realloc(head, response->head_len + line);
		if (head == NULL) {
			free(copy);
			return -ENOMEM;
		}
		if (response->head == response->head_inline)
			memcpy(head, response->head_inline, response->head_len);
		response->head = head;
		response->bytes += malloc_bytes(response->head_len + line);
	}
	memcpy(response->head + response->head_len, name, name_len);
	memcpy(response->head + response->head_len + name_len, ": ", 2);
	memcpy(response->head + response->head_len + name_len + 2, value, value_len);
	memcpy(response->head + response->head_len + line - 2, "\r\n", 2);
	response->head_len += line;
	memcpy(copy, name, name_len + 1);
	memcpy(copy + name_len + 1, value, value_len + 1);
	response->fields[response->field_count++] =
		(struct http_field){ copy, copy + name_len + 1 };
	response->bytes += malloc_bytes(name_len + value_len + 2);
	return 0;
}

void
http_response_prefetch(const struct http_response *response)
{
	/* Integer arithmetic: the lines past a short middle are not the object's own. */
	uintptr_t start = (uintptr_t)response;

	for (size_t at = 0; at < sizeof(*response) + HTTP_CACHE_LINE_BYTES;
	     at += HTTP_CACHE_LINE_BYTES)
		__builtin_prefetch((const void *)(start + at));
}

size_t
http_response_bytes(const struct http_response *response)
{
	return response->bytes;
}

/* Send a kept reply over libmicrohttpd: a copy of its body and its fields. */
static int
reply_copy(struct http_request *req, unsigned status, const struct http_response *response)
{
	struct http_body body = { .fd = -1, .release = free };
	size_t len = 0;
	char *copy;

	for (unsigned i = 0; i < response->part_count; i++)
		len += response->parts[i].iov_len;
	copy = malloc(len + 1);
	if (copy == NULL)
		return -ENOMEM;
	len = 0;
	for (unsigned i = 0; i < response->part_count; i++) {
		memcpy(copy + len, response->parts[i].iov_base, response->parts[i].iov_len);
		len += response->parts[i].iov_len;
	}
	body.data = copy;
	body.len = len;
	body.release_arg = copy;
	return http_send(req, status, response->fields, response->field_count, &body);
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
	if (req->econn != NULL)
		return http_loop_send_response(req, status, response);
	return reply_copy(req, status, response);
}

struct http_response *
http_response_free(struct http_response *response)
{
	if (response == NULL)
		return NULL;
	if (atomic_fetch_sub_explicit(&response->refs, 1, memory_order_acq_rel) != 1)
		return NULL;
	if (response->release != NULL)
		response->release(response->release_arg);
	http_text_unref(response->base);
	for (unsigned i = 0; i < response->field_count; i++)
		free((char *)(uintptr_t)response->fields[i].name);
	if (response->head != response->head_inline)
		free(response->head);
	free(response);
	return NULL;
}

struct http_response *
http_response_ref(struct http_response *response)
{
	atomic_fetch_add_explicit(&response->refs, 1, memory_order_relaxed);
	return response;
}

void
http_response_view(const struct http_response *response, struct http_response_view *view)
{
	view->head = response->head;
	view->head_len = response->head_len;
	view->parts = response->parts;
	view->part_count = response->part_count;
}
