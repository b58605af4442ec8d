/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz http_wire_parse, the request head parser that works in place in a read buffer.
 * Input format:
 *   byte 0     max_fields = byte % 65, so 0 to 64
 *   bytes 1-2  max_head = 16 + (little-endian 16-bit value % 4081), so 16 to 4096
 *   the rest   the bytes read from the connection
 * Inputs shorter than 3 bytes are ignored. The bytes are copied into a malloc'd buffer
 * of exactly their length, and the argument and field arrays get exactly max_fields
 * entries, so ASan reports any access past them. Each result is checked against the
 * contract in src/http/internal.h and a violation calls abort(). A parsed head is
 * parsed again on its own, and with max_head and max_fields one below what it needs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

/* Input past FUZZ_MAX_HEAD can only be bytes after the head, so more adds nothing. */
#define FUZZ_MAX_BYTES 65536
#define FUZZ_MAX_FIELDS 64
#define FUZZ_MIN_HEAD 16
#define FUZZ_MAX_HEAD 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One parse of a copy of the input. `bytes` is the original, which is never changed. */
struct parse {
	const uint8_t *bytes;
	size_t len;
	char *buf;
	struct http_wire_head head;
	int rc;
};

static void
parse_run(struct parse *p, const uint8_t *bytes, size_t len, size_t max_head,
	  unsigned max_fields)
{
	memset(p, 0, sizeof(*p));
	p->bytes = bytes;
	p->len = len;
	p->buf = malloc(len);
	p->head.args = malloc(max_fields * sizeof(*p->head.args));
	p->head.fields = malloc(max_fields * sizeof(*p->head.fields));
	if (p->buf == NULL || p->head.args == NULL || p->head.fields == NULL)
		abort();
	memcpy(p->buf, bytes, len);
	p->rc = http_wire_parse(p->buf, len, max_head, max_fields, &p->head);
}

static void
parse_free(struct parse *p)
{
	free(p->buf);
	free(p->head.args);
	free(p->head.fields);
}

/* RFC 9110 tchar, written out apart from the parser's own table. */
static int
is_token_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Abort unless `s` starts in the head and ends with a NUL inside it. Returns its length. */
static size_t
check_string(const struct parse *p, const char *s)
{
	uintptr_t start = (uintptr_t)p->buf, at = (uintptr_t)s;
	const char *nul;

	if (s == NULL || at < start || at >= start + p->head.head_len)
		abort();
	nul = memchr(s, '\0', start + p->head.head_len - at);
	if (nul == NULL)
		abort();
	return (size_t)(nul - s);
}

/* The input byte that the parser overwrote with the NUL ending `s`, of length `n`. */
static unsigned char
original_terminator(const struct parse *p, const char *s, size_t n)
{
	return p->bytes[(size_t)(s + n - p->buf)];
}

static void
check_field(const struct parse *p, const struct http_wire_field *field)
{
	size_t name_len = check_string(p, field->name);
	size_t value_len = check_string(p, field->value);
	unsigned char end;

	if (name_len == 0)
		abort();
	for (size_t i = 0; i < name_len; i++) {
		if (!is_token_char((unsigned char)field->name[i]))
			abort();
	}
	/* The name ended at its colon, not at a NUL byte of the input. */
	if (original_terminator(p, field->name, name_len) != ':')
		abort();

	for (size_t i = 0; i < value_len; i++) {
		unsigned char c = (unsigned char)field->value[i];

		if (c == '\r' || c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f)
			abort();
	}
	if (value_len > 0 && (field->value[0] == ' ' || field->value[0] == '\t'))
		abort();
	if (value_len > 0 && (field->value[value_len - 1] == ' ' ||
			      field->value[value_len - 1] == '\t'))
		abort();
	/* The value ended at the line end or its trailing whitespace, not at a NUL byte. */
	end = original_terminator(p, field->value, value_len);
	if (end != '\r' && end != '\n' && end != ' ' && end != '\t')
		abort();
}

static void
check_parsed(const struct parse *p, size_t max_head, unsigned max_fields)
{
	const struct http_wire_head *head = &p->head;
	size_t method_len, path_len;

	if (head->head_len == 0 || head->head_len > p->len || head->head_len > max_head)
		abort();
	if (p->bytes[head->head_len - 1] != '\n')
		abort();
	if ((unsigned long)head->arg_count + head->field_count > max_fields)
		abort();

	method_len = check_string(p, head->method);
	if (method_len == 0 || original_terminator(p, head->method, method_len) != ' ')
		abort();
	for (size_t i = 0; i < method_len; i++) {
		if (!is_token_char((unsigned char)head->method[i]))
			abort();
	}
	path_len = check_string(p, head->path);
	if (path_len == 0 || head->path[0] != '/')
		abort();
	if (head->version == NULL ||
	    (strcmp(head->version, "HTTP/1.0") != 0 && strcmp(head->version, "HTTP/1.1") != 0))
		abort();

	for (unsigned i = 0; i < head->arg_count; i++) {
		check_string(p, head->args[i].key);
		if (head->args[i].value != NULL)
			check_string(p, head->args[i].value);
	}
	for (unsigned i = 0; i < head->field_count; i++)
		check_field(p, &head->fields[i]);

	if (memcmp(p->buf + head->head_len, p->bytes + head->head_len,
		   p->len - head->head_len) != 0)
		abort();
}

static int
same_string(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Abort unless `b` parsed to the same strings as `a`. */
static void
check_same_head(const struct http_wire_head *a, const struct http_wire_head *b)
{
	if (a->head_len != b->head_len || a->arg_count != b->arg_count ||
	    a->field_count != b->field_count)
		abort();
	if (!same_string(a->method, b->method) || !same_string(a->path, b->path) ||
	    !same_string(a->version, b->version))
		abort();
	for (unsigned i = 0; i < a->arg_count; i++) {
		if (!same_string(a->args[i].key, b->args[i].key) ||
		    !same_string(a->args[i].value, b->args[i].value))
			abort();
	}
	for (unsigned i = 0; i < a->field_count; i++) {
		if (!same_string(a->fields[i].name, b->fields[i].name) ||
		    !same_string(a->fields[i].value, b->fields[i].value))
			abort();
	}
}

/*
 * Parse the head of `p` again on its own. With exactly the max_head and max_fields it
 * needs, it parses to the same strings. With one less of either it is rejected, and
 * without its last byte it is incomplete and left unchanged.
 */
static void
check_limits(const struct parse *p)
{
	size_t head_len = p->head.head_len;
	unsigned count = p->head.arg_count + p->head.field_count;
	struct parse again;

	parse_run(&again, p->bytes, head_len, head_len, count);
	if (again.rc != 0)
		abort();
	check_same_head(&p->head, &again.head);
	parse_free(&again);

	parse_run(&again, p->bytes, head_len, head_len - 1, count);
	if (again.rc != -E2BIG)
		abort();
	parse_free(&again);

	if (count > 0) {
		parse_run(&again, p->bytes, head_len, head_len, count - 1);
		if (again.rc != -ENOSPC)
			abort();
		parse_free(&again);
	}

	parse_run(&again, p->bytes, head_len - 1, head_len, count);
	if (again.rc != -EAGAIN || memcmp(again.buf, p->bytes, head_len - 1) != 0)
		abort();
	parse_free(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned max_fields;
	size_t max_head, len;
	struct parse p;

	if (size < 3 || size - 3 > FUZZ_MAX_BYTES)
		return 0;
	max_fields = data[0] % (FUZZ_MAX_FIELDS + 1);
	max_head = FUZZ_MIN_HEAD +
		   (size_t)(data[1] | data[2] << 8) % (FUZZ_MAX_HEAD - FUZZ_MIN_HEAD + 1);
	len = size - 3;

	parse_run(&p, data + 3, len, max_head, max_fields);
	switch (p.rc) {
	case 0:
		check_parsed(&p, max_head, max_fields);
		check_limits(&p);
		break;
	case -EAGAIN:
		/* An incomplete head shorter than max_head may still end within it. */
		if (len >= max_head || memcmp(p.buf, p.bytes, len) != 0)
			abort();
		break;
	case -E2BIG:
		/* With fewer than max_head bytes, the head could still end within max_head. */
		if (len < max_head)
			abort();
		break;
	case -ENOSPC:
	case -EPROTONOSUPPORT:
	case -EBADMSG:
		break;
	default:
		abort();
	}
	parse_free(&p);
	return 0;
}
