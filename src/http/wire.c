/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A request head parser for connections whose bytes we read ourselves: the request
 * line and the header fields of RFC 9112, parsed in place in the read buffer.
 * Separators become NUL bytes, so the method, the path, each query argument and each
 * field are C strings inside the buffer. Percent-encoded bytes in the path and the
 * query are decoded in place, as libmicrohttpd does: a '%' without two hex digits
 * stays, and so does '+'. An escape that decodes to NUL is rejected, because it would
 * cut a string short unseen.
 *
 * Nothing is changed until the blank line that ends the head is in the buffer, so a
 * caller that gets -EAGAIN reads more and calls again with the longer buffer.
 */
#include "http/internal.h"

#include <errno.h>
#include <string.h>

#include "util/util.h"

bool
http_token_char(unsigned char c)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && memchr(extra, c, sizeof(extra) - 1) != NULL);
}

/* A byte of a field value: visible ASCII, space, tab or obs-text (RFC 9110 5.5). */
static bool
value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/*
 * Decode %XX escapes of the `len` bytes at `s` in place and NUL-terminate the result.
 * A '%' without two hex digits stays as it is. Returns -EBADMSG for an escape that
 * decodes to NUL, else 0.
 */
static int
percent_decode(char *s, size_t len)
{
	size_t in = 0, out = 0;

	while (in < len) {
		int hi, lo;

		if (s[in] == '%' && in + 2 < len && (hi = hex_value(s[in + 1])) >= 0 &&
		    (lo = hex_value(s[in + 2])) >= 0) {
			if (hi == 0 && lo == 0)
				return -EBADMSG;
			s[out++] = (char)(hi << 4 | lo);
			in += 3;
		} else {
			s[out++] = s[in++];
		}
	}
	s[out] = '\0';
	return 0;
}

/*
 * Find the end of the line starting at `p`, before `end`, and set *next to the first
 * byte of the next line. Returns the length of the line without its CRLF or LF, -1
 * when no line end is in the buffer yet, or -2 for a CR not followed by LF.
 */
static long
line_end(char *p, const char *end, char **next)
{
	char *lf = memchr(p, '\n', (size_t)(end - p));
	const char *cr;

	if (lf == NULL) {
		cr = memchr(p, '\r', (size_t)(end - p));
		if (cr != NULL && cr + 1 < end)
			return -2;
		return -1;
	}
	*next = lf + 1;
	if (lf > p && lf[-1] == '\r')
		lf--;
	cr = memchr(p, '\r', (size_t)(lf - p));
	if (cr != NULL)
		return -2;
	return lf - p;
}

/* Split the query at `q` (NUL-terminated, without the '?') into arguments. */
static int
query_split(char *q, struct http_wire_head *head, unsigned max_args)
{
	while (*q != '\0') {
		char *amp = strchr(q, '&');
		size_t len = amp != NULL ? (size_t)(amp - q) : strlen(q);
		char *eq = memchr(q, '=', len);
		struct http_wire_arg *arg;

		if (amp != NULL)
			*amp = '\0';
		if (len > 0) {
			if (head->arg_count >= max_args)
				return -ENOSPC;
			arg = &head->args[head->arg_count++];
			arg->key = q;
			arg->value = NULL;
			if (eq != NULL) {
				*eq = '\0';
				arg->value = eq + 1;
				if (percent_decode(eq + 1, len - (size_t)(eq + 1 - q)) < 0)
					return -EBADMSG;
			}
			if (percent_decode(q, strlen(q)) < 0)
				return -EBADMSG;
		}
		if (amp == NULL)
			break;
		q = amp + 1;
	}
	return 0;
}

/* Parse "METHOD SP target SP HTTP/1.x" of `len` bytes at `line`. */
static int
request_line(char *line, size_t len, struct http_wire_head *head, unsigned max_args)
{
	char *end = line + len, *sp1, *sp2, *query, *path, *version;
	size_t i;

	sp1 = memchr(line, ' ', len);
	if (sp1 == NULL || sp1 == line)
		return -EBADMSG;
	for (i = 0; line + i < sp1; i++) {
		if (!http_token_char((unsigned char)line[i]))
			return -EBADMSG;
	}
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (sp2 == NULL || sp2 == sp1 + 1)
		return -EBADMSG;
	/* HTTP-version is "HTTP/" DIGIT "." DIGIT (RFC 9112 section 2.3). */
	version = sp2 + 1;
	if (end - version != 8 || memcmp(version, "HTTP/", 5) != 0 || version[5] < '0' ||
	    version[5] > '9' || version[6] != '.' || version[7] < '0' || version[7] > '9')
		return -EBADMSG;
	if (memcmp(version, "HTTP/1.1", 8) == 0)
		head->version = "HTTP/1.1";
	else if (memcmp(version, "HTTP/1.0", 8) == 0)
		head->version = "HTTP/1.0";
	else
		return -EPROTONOSUPPORT;

	/* Only the origin form: "/path?query". Bytes outside visible ASCII are rejected. */
	if (sp1[1] != '/')
		return -EBADMSG;
	for (char *p = sp1 + 1; p < sp2; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '#')
			return -EBADMSG;
	}
	*sp1 = '\0';
	*sp2 = '\0';
	head->method = line;
	head->path = sp1 + 1;
	path = sp1 + 1;
	head->arg_count = 0;
	query = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	if (query != NULL) {
		int rc;

		*query = '\0';
		rc = query_split(query + 1, head, max_args);
		if (rc < 0)
			return rc;
	}
	return percent_decode(path, strlen(path));
}

/* Parse one "name: value" field line of `len` bytes at `line`. */
static int
field_line(char *line, size_t len, struct http_wire_head *head, unsigned max_fields)
{
	char *colon = memchr(line, ':', len), *value, *end = line + len;
	struct http_wire_field *field;

	/* A name must be a token, so whitespace before the colon is rejected (RFC 9112 5.1). */
	if (colon == NULL || colon == line)
		return -EBADMSG;
	for (char *p = line; p < colon; p++) {
		if (!http_token_char((unsigned char)*p))
			return -EBADMSG;
	}
	value = colon + 1;
	while (value < end && (*value == ' ' || *value == '\t'))
		value++;
	while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (char *p = value; p < end; p++) {
		if (!value_char((unsigned char)*p))
			return -EBADMSG;
	}
	if (head->field_count >= max_fields)
		return -ENOSPC;
	*colon = '\0';
	*end = '\0';
	field = &head->fields[head->field_count++];
	field->name = line;
	field->value = value;
	return 0;
}

int
http_wire_parse(char *buf, size_t len, size_t max_head, unsigned max_fields,
		struct http_wire_head *head)
{
	const char *end = buf + len;
	char *p = buf, *next = NULL;
	long n;
	int rc;

	/* RFC 9112 2.2: empty lines before the request line are ignored. */
	while (p < end && (*p == '\r' || *p == '\n')) {
		if (*p == '\r' && (p + 1 >= end || p[1] != '\n'))
			break;
		p += *p == '\r' ? 2 : 1;
	}

	/* Find the blank line that ends the head before changing any byte. */
	for (char *line = p;;) {
		n = line_end(line, end, &next);
		if (n == -2)
			return -EBADMSG;
		if (n == -1 || (size_t)(next - buf) > max_head)
			return (size_t)((n == -1 ? end : next) - buf) >= max_head ? -E2BIG : -EAGAIN;
		if (n == 0 && line != p)
			break;
		if (n == 0)
			return -EBADMSG;
		if (line != p && (*line == ' ' || *line == '\t'))
			return -EBADMSG;        /* obs-fold (RFC 9112 5.2) */
		line = next;
	}
	head->head_len = (size_t)(next - buf);

	head->field_count = 0;
	n = line_end(p, end, &next);
	rc = request_line(p, (size_t)n, head, max_fields);
	if (rc < 0)
		return rc;
	for (;;) {
		p = next;
		n = line_end(p, end, &next);
		if (n == 0)
			break;
		rc = field_line(p, (size_t)n, head, max_fields - head->arg_count);
		if (rc < 0)
			return rc;
	}
	return 0;
}
