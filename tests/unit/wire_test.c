/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table tests for http_wire_parse (src/http/wire.c), the request head parser that
 * works in place in the caller's read buffer. Every input is copied into a malloc'd
 * buffer of its exact length, and the argument and field arrays get exactly max_fields
 * entries, so a sanitizer build reports any access past either.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "http/internal.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Limits for the parses whose test is not about limits. */
#define TEST_MAX_HEAD 8192
#define TEST_MAX_FIELDS 64

/* A byte string that may hold NUL bytes, with its length. */
#define BYTES(literal) literal, sizeof(literal) - 1

/* One call of http_wire_parse and what it was given. */
struct parse {
	char *buf;                  /* len bytes, parsed in place */
	char *orig;                 /* a copy of buf from before the call */
	size_t len;
	struct http_wire_head head;
	int rc;
};

/* Copy `len` bytes into exact-size buffers and parse them with the given limits. */
static void
parse_bytes(struct parse *p, const char *bytes, size_t len, size_t max_head,
	    unsigned max_fields)
{
	memset(p, 0, sizeof(*p));
	p->len = len;
	p->buf = malloc(len);
	p->orig = malloc(len);
	p->head.args = malloc(max_fields * sizeof(*p->head.args));
	p->head.fields = malloc(max_fields * sizeof(*p->head.fields));
	assert_non_null(p->buf);
	assert_non_null(p->orig);
	assert_non_null(p->head.args);
	assert_non_null(p->head.fields);
	memcpy(p->buf, bytes, len);
	memcpy(p->orig, bytes, len);
	p->rc = http_wire_parse(p->buf, len, max_head, max_fields, &p->head);
}

/* Parse a NUL-terminated head with the default test limits. */
static void
parse_text(struct parse *p, const char *text)
{
	parse_bytes(p, text, strlen(text), TEST_MAX_HEAD, TEST_MAX_FIELDS);
}

static void
parse_free(struct parse *p)
{
	free(p->buf);
	free(p->orig);
	free(p->head.args);
	free(p->head.fields);
}

/* Assert that `s` starts inside the parsed head and ends with a NUL inside it too. */
static void
assert_in_head(const struct parse *p, const char *s)
{
	uintptr_t start = (uintptr_t)p->buf, at = (uintptr_t)s;

	assert_non_null(s);
	assert_true(at >= start);
	assert_true(at < start + p->head.head_len);
	assert_non_null(memchr(s, '\0', start + p->head.head_len - at));
}

/* Assert that the bytes after the head are the bytes the caller put there. */
static void
assert_rest_unchanged(const struct parse *p)
{
	assert_true(p->head.head_len <= p->len);
	assert_memory_equal(p->buf + p->head.head_len, p->orig + p->head.head_len,
			    p->len - p->head.head_len);
}

static void
assert_field(const struct parse *p, unsigned i, const char *name, const char *value)
{
	assert_true(i < p->head.field_count);
	assert_in_head(p, p->head.fields[i].name);
	assert_in_head(p, p->head.fields[i].value);
	assert_string_equal(p->head.fields[i].name, name);
	assert_string_equal(p->head.fields[i].value, value);
}

/* Assert argument i. A NULL `value` means the argument must have no '='. */
static void
assert_arg(const struct parse *p, unsigned i, const char *key, const char *value)
{
	assert_true(i < p->head.arg_count);
	assert_in_head(p, p->head.args[i].key);
	assert_string_equal(p->head.args[i].key, key);
	if (value == NULL) {
		assert_null(p->head.args[i].value);
	} else {
		assert_in_head(p, p->head.args[i].value);
		assert_string_equal(p->head.args[i].value, value);
	}
}

/*
 * A request for the chain line of bootenv/ipxe/start.ipxe, with the User-Agent of
 * iPXE 1.21.1. It is written by hand, not captured, so iPXE's field order may differ.
 */
static const char ipxe_request[] =
	"GET /boot/ipxe?mac=52-54-00-12-34-56&uuid=4c4c4544-0042-3510-8048-b4c04f333432"
	"&buildarch=x86_64&platform=efi HTTP/1.1\r\n"
	"Host: 10.20.0.1:8080\r\n"
	"User-Agent: iPXE/1.21.1\r\n"
	"Connection: keep-alive\r\n"
	"\r\n";

/* A second request pipelined on the same connection. */
static const char kernel_request[] =
	"GET /files/vmlinuz HTTP/1.1\r\n"
	"Host: 10.20.0.1:8080\r\n"
	"Range: bytes=1048576-\r\n"
	"\r\n";

static void
assert_ipxe_head(const struct parse *p)
{
	assert_int_equal(p->rc, 0);
	assert_int_equal(p->head.head_len, strlen(ipxe_request));
	assert_in_head(p, p->head.method);
	assert_string_equal(p->head.method, "GET");
	assert_ptr_equal(p->head.method, p->buf);
	assert_in_head(p, p->head.path);
	assert_string_equal(p->head.path, "/boot/ipxe");
	assert_non_null(p->head.version);
	assert_string_equal(p->head.version, "HTTP/1.1");

	assert_int_equal(p->head.arg_count, 4);
	assert_arg(p, 0, "mac", "52-54-00-12-34-56");
	assert_arg(p, 1, "uuid", "4c4c4544-0042-3510-8048-b4c04f333432");
	assert_arg(p, 2, "buildarch", "x86_64");
	assert_arg(p, 3, "platform", "efi");

	assert_int_equal(p->head.field_count, 3);
	assert_field(p, 0, "Host", "10.20.0.1:8080");
	assert_field(p, 1, "User-Agent", "iPXE/1.21.1");
	assert_field(p, 2, "Connection", "keep-alive");
}

static void
ipxe_request_parsed(void **state)
{
	struct parse p;

	(void)state;
	parse_text(&p, ipxe_request);
	assert_ipxe_head(&p);
	assert_rest_unchanged(&p);
	parse_free(&p);
}

static void
pipelined_request_untouched(void **state)
{
	char input[sizeof(ipxe_request) + sizeof(kernel_request)];
	size_t first_len = strlen(ipxe_request), second_len = strlen(kernel_request);
	struct http_wire_arg args[TEST_MAX_FIELDS];
	struct http_wire_field fields[TEST_MAX_FIELDS];
	struct http_wire_head second = { .args = args, .fields = fields };
	struct parse p;
	char *rest;
	int rc;

	(void)state;
	memcpy(input, ipxe_request, first_len);
	memcpy(input + first_len, kernel_request, second_len);
	parse_bytes(&p, input, first_len + second_len, TEST_MAX_HEAD, TEST_MAX_FIELDS);
	assert_ipxe_head(&p);
	assert_rest_unchanged(&p);

	/* The caller goes on with the bytes after head_len, as a connection loop would. */
	rest = p.buf + p.head.head_len;
	rc = http_wire_parse(rest, second_len, TEST_MAX_HEAD, TEST_MAX_FIELDS, &second);
	assert_int_equal(rc, 0);
	assert_int_equal(second.head_len, second_len);
	assert_ptr_equal(second.method, rest);
	assert_string_equal(second.method, "GET");
	assert_ptr_equal(second.path, rest + 4);
	assert_string_equal(second.path, "/files/vmlinuz");
	assert_string_equal(second.version, "HTTP/1.1");
	assert_int_equal(second.arg_count, 0);
	assert_int_equal(second.field_count, 2);
	assert_string_equal(second.fields[0].name, "Host");
	assert_string_equal(second.fields[0].value, "10.20.0.1:8080");
	assert_string_equal(second.fields[1].name, "Range");
	assert_string_equal(second.fields[1].value, "bytes=1048576-");

	/* Parsing the second head left the first one's strings alone. */
	assert_ipxe_head(&p);
	parse_free(&p);
}

static void
body_after_head_untouched(void **state)
{
	static const char head[] =
		"POST /api/v1/machines?dry_run=1 HTTP/1.1\r\n"
		"Host: 127.0.0.1:8443\r\n"
		"User-Agent: curl/7.88.1\r\n"
		"Accept: */*\r\n"
		"Content-Type: application/json\r\n"
		"Content-Length: 42\r\n"
		"\r\n";
	/* The body contains what the parser acts on in a head: escapes, CRs, a blank line. */
	static const char body[] = "{\"mac\":\"52%3A54\"}\r\n\r\nX: y\r\n\0%00+&a=b \r\r\n";
	char input[sizeof(head) + sizeof(body)];
	struct parse p;

	(void)state;
	memcpy(input, head, sizeof(head) - 1);
	memcpy(input + sizeof(head) - 1, body, sizeof(body) - 1);
	parse_bytes(&p, input, sizeof(head) - 1 + sizeof(body) - 1, TEST_MAX_HEAD,
		    TEST_MAX_FIELDS);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.head_len, sizeof(head) - 1);
	assert_string_equal(p.head.method, "POST");
	assert_string_equal(p.head.path, "/api/v1/machines");
	assert_string_equal(p.head.version, "HTTP/1.1");
	assert_int_equal(p.head.arg_count, 1);
	assert_arg(&p, 0, "dry_run", "1");
	assert_int_equal(p.head.field_count, 5);
	assert_field(&p, 0, "Host", "127.0.0.1:8443");
	assert_field(&p, 1, "User-Agent", "curl/7.88.1");
	assert_field(&p, 2, "Accept", "*/*");
	assert_field(&p, 3, "Content-Type", "application/json");
	assert_field(&p, 4, "Content-Length", "42");
	assert_rest_unchanged(&p);
	assert_memory_equal(p.buf + p.head.head_len, body, sizeof(body) - 1);
	parse_free(&p);
}

/* Parse every strict prefix of `head` with max_head, then the whole head. */
static void
assert_prefixes_incomplete(const char *head, size_t max_head)
{
	size_t len = strlen(head);
	struct parse p;

	for (size_t n = 0; n < len; n++) {
		parse_bytes(&p, head, n, max_head, TEST_MAX_FIELDS);
		if (p.rc != -EAGAIN)
			print_error("prefix of %zu bytes of \"%s\" returned %d\n", n, head,
				    p.rc);
		assert_int_equal(p.rc, -EAGAIN);
		assert_memory_equal(p.buf, p.orig, n);
		parse_free(&p);
	}
	parse_bytes(&p, head, len, max_head, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.head_len, len);
	parse_free(&p);
}

static void
prefix_returns_eagain(void **state)
{
	static const char *const heads[] = {
		ipxe_request,
		"GET / HTTP/1.1\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		"\n\r\nGET /a?b=%41 HTTP/1.1\nHost: x\n\n",
		"GET /p%2Fq?a&b=&=c HTTP/1.1\r\nX: \t v \t\r\nEmpty:\r\nY:z\n\r\n",
		"POST /up HTTP/1.1\r\nContent-Length: 3\r\nX-Bin: \x80\xff\r\n\r\n",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(heads); i++) {
		assert_prefixes_incomplete(heads[i], TEST_MAX_HEAD);
		/* A max_head that the whole head just fits changes nothing for its prefixes. */
		assert_prefixes_incomplete(heads[i], strlen(heads[i]));
	}
}

/* Return a malloc'd "GET / HTTP/1.1\r\nX-Pad: ppp\r\n\r\n" of exactly `len` bytes. */
static char *
padded_head(size_t len)
{
	static const char start[] = "GET / HTTP/1.1\r\nX-Pad: ", end[] = "\r\n\r\n";
	size_t fixed = sizeof(start) - 1 + sizeof(end) - 1;
	char *head;

	assert_true(len > fixed);
	head = malloc(len + 1);
	assert_non_null(head);
	memcpy(head, start, sizeof(start) - 1);
	memset(head + sizeof(start) - 1, 'p', len - fixed);
	memcpy(head + len - (sizeof(end) - 1), end, sizeof(end));
	assert_int_equal(strlen(head), len);
	return head;
}

static void
long_line_too_big(void **state)
{
	const size_t max_head = 64;
	char line[200];
	struct parse p;

	(void)state;
	memcpy(line, "GET /", 5);
	memset(line + 5, 'a', sizeof(line) - 5);

	/* After max_head - 1 bytes with no line end, the head may still end in time. */
	parse_bytes(&p, line, max_head - 1, max_head, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, -EAGAIN);
	parse_free(&p);
	parse_bytes(&p, line, max_head, max_head, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, -E2BIG);
	parse_free(&p);
	parse_bytes(&p, line, sizeof(line), max_head, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, -E2BIG);
	parse_free(&p);

	/* A whole head in the buffer whose request line alone passes max_head. */
	memcpy(line + 150, " HTTP/1.1\r\n\r\n", 13);
	parse_bytes(&p, line, 163, max_head, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, -E2BIG);
	parse_free(&p);
	parse_bytes(&p, line, 163, 163, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.head_len, 163);
	assert_int_equal(strlen(p.head.path), 146);
	parse_free(&p);
}

static void
many_lines_too_big(void **state)
{
	const size_t max_head = 256;
	char input[1024], last_name[16];
	size_t len;
	unsigned lines = 0;
	struct parse p;

	(void)state;
	len = (size_t)snprintf(input, sizeof(input), "GET / HTTP/1.1\r\n");
	for (; len < 600; lines++)
		len += (size_t)snprintf(input + len, sizeof(input) - len, "X-Line-%02u: v\r\n",
					 lines);
	snprintf(last_name, sizeof(last_name), "X-Line-%02u", lines - 1);

	/* Only complete lines, no blank line, past max_head. */
	parse_bytes(&p, input, len, max_head, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, -E2BIG);
	parse_free(&p);

	/* With the blank line added, the head is complete but too long. */
	memcpy(input + len, "\r\n", 2);
	parse_bytes(&p, input, len + 2, max_head, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, -E2BIG);
	parse_free(&p);
	parse_bytes(&p, input, len + 2, len + 2, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.head_len, len + 2);
	assert_int_equal(p.head.field_count, lines);
	assert_field(&p, lines - 1, last_name, "v");
	parse_free(&p);
}

static void
head_len_boundary(void **state)
{
	const size_t len = 200;
	char *head = padded_head(len);
	char input[300];
	struct parse p;

	(void)state;
	/* head_len == max_head is accepted, with or without bytes after the head. */
	parse_bytes(&p, head, len, len, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.head_len, len);
	assert_int_equal(strlen(p.head.fields[0].value), len - 27);
	parse_free(&p);
	memcpy(input, head, len);
	memset(input + len, 'b', sizeof(input) - len);
	parse_bytes(&p, input, sizeof(input), len, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.head_len, len);
	assert_rest_unchanged(&p);
	parse_free(&p);

	/* One byte more than max_head is rejected, with or without bytes after the head. */
	parse_bytes(&p, head, len, len - 1, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, -E2BIG);
	parse_free(&p);
	parse_bytes(&p, input, sizeof(input), len - 1, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, -E2BIG);
	parse_free(&p);

	/* Without its last LF the head may still end within len bytes, not within len - 1. */
	parse_bytes(&p, head, len - 1, len, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, -EAGAIN);
	parse_free(&p);
	parse_bytes(&p, head, len - 1, len - 1, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, -E2BIG);
	parse_free(&p);

	/* Empty lines before the request line count towards head_len and max_head. */
	memcpy(input, "\r\n", 2);
	memcpy(input + 2, head, len);
	parse_bytes(&p, input, len + 2, len + 2, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.head_len, len + 2);
	assert_ptr_equal(p.head.method, p.buf + 2);
	parse_free(&p);
	parse_bytes(&p, input, len + 2, len + 1, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, -E2BIG);
	parse_free(&p);
	free(head);

	/* An empty buffer is an incomplete head. */
	parse_bytes(&p, "", 0, TEST_MAX_HEAD, TEST_MAX_FIELDS);
	assert_int_equal(p.rc, -EAGAIN);
	parse_free(&p);
}

static void
fields_limit_exact(void **state)
{
	static const char both[] =
		"GET /p?a=1&b=2 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX: y\r\n\r\n";
	static const char args_only[] = "GET /p?a&b&c HTTP/1.1\r\n\r\n";
	static const char fields_only[] = "GET /p HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	static const char empty_args[] = "GET /p?&&a&& HTTP/1.1\r\n\r\n";
	static const char bare[] = "GET / HTTP/1.0\r\n\r\n";
	struct parse p;

	(void)state;
	parse_bytes(&p, BYTES(both), TEST_MAX_HEAD, 5);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.arg_count, 2);
	assert_int_equal(p.head.field_count, 3);
	assert_arg(&p, 1, "b", "2");
	assert_field(&p, 2, "X", "y");
	parse_free(&p);
	parse_bytes(&p, BYTES(both), TEST_MAX_HEAD, 4);
	assert_int_equal(p.rc, -ENOSPC);
	parse_free(&p);
	parse_bytes(&p, BYTES(both), TEST_MAX_HEAD, 2);
	assert_int_equal(p.rc, -ENOSPC);
	parse_free(&p);
	parse_bytes(&p, BYTES(both), TEST_MAX_HEAD, 0);
	assert_int_equal(p.rc, -ENOSPC);
	parse_free(&p);

	parse_bytes(&p, BYTES(args_only), TEST_MAX_HEAD, 3);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.arg_count, 3);
	assert_int_equal(p.head.field_count, 0);
	assert_arg(&p, 2, "c", NULL);
	parse_free(&p);
	parse_bytes(&p, BYTES(args_only), TEST_MAX_HEAD, 2);
	assert_int_equal(p.rc, -ENOSPC);
	parse_free(&p);

	parse_bytes(&p, BYTES(fields_only), TEST_MAX_HEAD, 3);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.arg_count, 0);
	assert_int_equal(p.head.field_count, 3);
	assert_field(&p, 2, "C", "3");
	parse_free(&p);
	parse_bytes(&p, BYTES(fields_only), TEST_MAX_HEAD, 2);
	assert_int_equal(p.rc, -ENOSPC);
	parse_free(&p);

	/* Empty query segments are no arguments, so they take no room. */
	parse_bytes(&p, BYTES(empty_args), TEST_MAX_HEAD, 1);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.arg_count, 1);
	assert_arg(&p, 0, "a", NULL);
	parse_free(&p);

	parse_bytes(&p, BYTES(bare), TEST_MAX_HEAD, 0);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.arg_count, 0);
	assert_int_equal(p.head.field_count, 0);
	assert_string_equal(p.head.version, "HTTP/1.0");
	parse_free(&p);
}

/* HTTP_DEFAULT_MAX_FIELDS fields fit, but one more does not. */
static void
fields_limit_default(void **state)
{
	char input[4096];
	size_t len = 0;
	struct parse p;

	(void)state;
	len += (size_t)snprintf(input, sizeof(input), "GET /?first HTTP/1.1\r\n");
	for (int i = 1; i < HTTP_DEFAULT_MAX_FIELDS; i++)
		len += (size_t)snprintf(input + len, sizeof(input) - len, "F%d: %d\r\n", i, i);
	len += (size_t)snprintf(input + len, sizeof(input) - len, "\r\n");
	assert_true(len < sizeof(input));

	parse_bytes(&p, input, len, TEST_MAX_HEAD, HTTP_DEFAULT_MAX_FIELDS);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.arg_count, 1);
	assert_int_equal(p.head.field_count, HTTP_DEFAULT_MAX_FIELDS - 1);
	assert_field(&p, HTTP_DEFAULT_MAX_FIELDS - 2, "F127", "127");
	parse_free(&p);
	parse_bytes(&p, input, len, TEST_MAX_HEAD, HTTP_DEFAULT_MAX_FIELDS - 1);
	assert_int_equal(p.rc, -ENOSPC);
	parse_free(&p);
}

static void
version_unsupported(void **state)
{
	static const char *const heads[] = {
		"GET / HTTP/2.0\r\n\r\n",
		"GET / HTTP/1.2\r\n\r\n",
		"GET / HTTP/0.9\r\n\r\n",
		"GET / HTTP/3.0\r\nHost: h\r\n\r\n",
		"GET /p?a=1 HTTP/1.9\nHost: h\n\n",
	};
	struct parse p;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(heads); i++) {
		parse_text(&p, heads[i]);
		if (p.rc != -EPROTONOSUPPORT)
			print_error("\"%s\" returned %d\n", heads[i], p.rc);
		assert_int_equal(p.rc, -EPROTONOSUPPORT);
		parse_free(&p);
	}
	parse_text(&p, "GET / HTTP/1.0\r\n\r\n");
	assert_int_equal(p.rc, 0);
	assert_string_equal(p.head.version, "HTTP/1.0");
	parse_free(&p);
}

/* An input named for the case it covers. */
struct bytes_case {
	const char *name;
	const char *bytes;
	size_t len;
};

/* Heads that are complete but malformed, each rejected with -EBADMSG. */
static const struct bytes_case malformed[] = {
	{ "lowercase version", BYTES("GET / http/1.1\r\n\r\n") },
	{ "space after version", BYTES("GET / HTTP/1.1 \r\n\r\n") },
	{ "word after version", BYTES("GET / HTTP/1.1 extra\r\n\r\n") },
	{ "version without digits", BYTES("GET / HTTP/\r\n\r\n") },
	{ "version of letters", BYTES("GET / HTTP/abc\r\n\r\n") },
	{ "version without dot", BYTES("GET / HTTP/11\r\n\r\n") },
	{ "version with a letter", BYTES("GET / HTTP/1.1x\r\n\r\n") },
	{ "mixed case version", BYTES("GET / Http/1.1\r\n\r\n") },
	{ "missing version", BYTES("GET /\r\n\r\n") },
	{ "empty version", BYTES("GET / \r\n\r\n") },
	{ "version without name", BYTES("GET / 1.1\r\n\r\n") },
	{ "two spaces after method", BYTES("GET  / HTTP/1.1\r\n\r\n") },
	{ "two spaces before version", BYTES("GET /  HTTP/1.1\r\n\r\n") },
	{ "space in target", BYTES("GET /a b HTTP/1.1\r\n\r\n") },
	{ "tab after method", BYTES("GET\t/ HTTP/1.1\r\n\r\n") },
	{ "tab before version", BYTES("GET /\tHTTP/1.1\r\n\r\n") },
	{ "tabs only", BYTES("GET\t/\tHTTP/1.1\r\n\r\n") },
	{ "space before method", BYTES(" GET / HTTP/1.1\r\n\r\n") },
	{ "empty method", BYTES(" / HTTP/1.1\r\n\r\n") },
	{ "absolute form", BYTES("GET http://h/ HTTP/1.1\r\n\r\n") },
	{ "asterisk form", BYTES("OPTIONS * HTTP/1.1\r\n\r\n") },
	{ "authority form", BYTES("CONNECT h:443 HTTP/1.1\r\n\r\n") },
	{ "target without slash", BYTES("GET a/b HTTP/1.1\r\n\r\n") },
	{ "fragment in path", BYTES("GET /a#f HTTP/1.1\r\n\r\n") },
	{ "fragment in query", BYTES("GET /a?b=1#f HTTP/1.1\r\n\r\n") },
	{ "control byte in target", BYTES("GET /a\x01 HTTP/1.1\r\n\r\n") },
	{ "escape byte in query", BYTES("GET /a?b=\x1b HTTP/1.1\r\n\r\n") },
	{ "NUL in target", BYTES("GET /a\0b HTTP/1.1\r\n\r\n") },
	{ "DEL in target", BYTES("GET /a\x7f HTTP/1.1\r\n\r\n") },
	{ "byte 0x80 in target", BYTES("GET /a\x80 HTTP/1.1\r\n\r\n") },
	{ "byte 0xff in query", BYTES("GET /a?\xff HTTP/1.1\r\n\r\n") },
	{ "bare CR at start", BYTES("\rGET / HTTP/1.1\r\n\r\n") },
	{ "bare CR in target", BYTES("GET /\r HTTP/1.1\r\n\r\n") },
	{ "CR CR LF after request line", BYTES("GET / HTTP/1.1\r\r\n\r\n") },
	{ "bare CR as line end", BYTES("GET / HTTP/1.1\rHost: h\r\n\r\n") },
	{ "bare CR in value", BYTES("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n") },
	{ "bare CR in name", BYTES("GET / HTTP/1.1\r\nX\r: a\r\n\r\n") },
	{ "bare CR before blank line", BYTES("GET / HTTP/1.1\r\n\r\r\n") },
	{ "bare CR with no LF after", BYTES("GET / HTTP/1.1\r\n\rX") },
	{ "obs-fold with space", BYTES("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n") },
	{ "obs-fold with tab", BYTES("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n") },
	{ "space before first field", BYTES("GET / HTTP/1.1\r\n Host: h\r\n\r\n") },
	{ "obs-fold in LF-only head", BYTES("GET / HTTP/1.1\nX: a\n b\n\n") },
	{ "space before colon", BYTES("GET / HTTP/1.1\r\nHost : h\r\n\r\n") },
	{ "tab before colon", BYTES("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n") },
	{ "space in name", BYTES("GET / HTTP/1.1\r\nX Y: h\r\n\r\n") },
	{ "empty name", BYTES("GET / HTTP/1.1\r\n: h\r\n\r\n") },
	{ "colon only", BYTES("GET / HTTP/1.1\r\n:\r\n\r\n") },
	{ "no colon", BYTES("GET / HTTP/1.1\r\nHost h\r\n\r\n") },
	{ "non-token byte in name", BYTES("GET / HTTP/1.1\r\nX(y): h\r\n\r\n") },
	{ "NUL in name", BYTES("GET / HTTP/1.1\r\nX\0: h\r\n\r\n") },
	{ "NUL in value", BYTES("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n") },
	{ "NUL at end of value", BYTES("GET / HTTP/1.1\r\nX: a\0\r\n\r\n") },
	{ "SOH in value", BYTES("GET / HTTP/1.1\r\nX: a\x01" "b\r\n\r\n") },
	{ "VT in value", BYTES("GET / HTTP/1.1\r\nX: a\vb\r\n\r\n") },
	{ "FF as value padding", BYTES("GET / HTTP/1.1\r\nX: \fa\r\n\r\n") },
	{ "US in value", BYTES("GET / HTTP/1.1\r\nX: a\x1f\r\n\r\n") },
	{ "DEL in value", BYTES("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n") },
	{ "bad field after good ones", BYTES("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC 3\r\n\r\n") },
	{ "parenthesis in method", BYTES("G(T / HTTP/1.1\r\n\r\n") },
	{ "quote in method", BYTES("GE\"T / HTTP/1.1\r\n\r\n") },
	{ "at sign in method", BYTES("G@T / HTTP/1.1\r\n\r\n") },
	{ "colon in method", BYTES("G:T / HTTP/1.1\r\n\r\n") },
	{ "slash in method", BYTES("G/T / HTTP/1.1\r\n\r\n") },
	{ "control byte in method", BYTES("G\x01T / HTTP/1.1\r\n\r\n") },
	{ "NUL in method", BYTES("G\0T / HTTP/1.1\r\n\r\n") },
	{ "UTF-8 in method", BYTES("G\xc3\x89T / HTTP/1.1\r\n\r\n") },
	{ "DEL in method", BYTES("GET\x7f / HTTP/1.1\r\n\r\n") },
};

static void
malformed_rejected(void **state)
{
	struct parse p;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(malformed); i++) {
		parse_bytes(&p, malformed[i].bytes, malformed[i].len, TEST_MAX_HEAD,
			    TEST_MAX_FIELDS);
		if (p.rc != -EBADMSG)
			print_error("case \"%s\" returned %d\n", malformed[i].name, p.rc);
		assert_int_equal(p.rc, -EBADMSG);
		parse_free(&p);
	}
}

/*
 * A bare CR or an obs-fold line is rejected as soon as its line is in the buffer,
 * before the blank line, and the buffer is left as it was.
 */
static void
malformed_rejected_early(void **state)
{
	static const struct bytes_case cases[] = {
		{ "obs-fold", BYTES("GET / HTTP/1.1\r\nX: a\r\n b\r\n") },
		{ "obs-fold with tab", BYTES("GET / HTTP/1.1\nX: a\n\tb\n") },
		{ "space before first field", BYTES("GET / HTTP/1.1\r\n Host: h\r\n") },
		{ "bare CR in request line", BYTES("GET /\rx") },
		{ "bare CR in field", BYTES("GET / HTTP/1.1\r\nX: a\rb") },
	};
	struct parse p;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		parse_bytes(&p, cases[i].bytes, cases[i].len, TEST_MAX_HEAD, TEST_MAX_FIELDS);
		if (p.rc != -EBADMSG)
			print_error("case \"%s\" returned %d\n", cases[i].name, p.rc);
		assert_int_equal(p.rc, -EBADMSG);
		assert_memory_equal(p.buf, p.orig, p.len);
		parse_free(&p);
	}
}

/* A request target and what the parser must make of it. */
struct target_case {
	const char *target;
	int rc;
	const char *path;
	unsigned arg_count;
	struct {
		const char *key, *value;
	} args[3];
};

/* Parse "GET <target> HTTP/1.1" and compare with the case. */
static void
assert_target(const struct target_case *c)
{
	char input[256];
	int len = snprintf(input, sizeof(input), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n",
			   c->target);
	struct parse p;

	assert_true(len > 0 && (size_t)len < sizeof(input));
	parse_bytes(&p, input, (size_t)len, TEST_MAX_HEAD, TEST_MAX_FIELDS);
	if (p.rc != c->rc)
		print_error("target \"%s\" returned %d\n", c->target, p.rc);
	assert_int_equal(p.rc, c->rc);
	if (c->rc == 0) {
		if (strcmp(p.head.path, c->path) != 0)
			print_error("target \"%s\" gave path \"%s\"\n", c->target, p.head.path);
		assert_in_head(&p, p.head.path);
		assert_string_equal(p.head.path, c->path);
		assert_int_equal(p.head.arg_count, c->arg_count);
		for (unsigned i = 0; i < c->arg_count; i++)
			assert_arg(&p, i, c->args[i].key, c->args[i].value);
		assert_int_equal(p.head.field_count, 1);
		assert_field(&p, 0, "Host", "h");
	}
	parse_free(&p);
}

static void
percent_decoding(void **state)
{
	static const struct target_case cases[] = {
		{ "/a%2Fb", 0, "/a/b", 0, { { NULL, NULL } } },
		{ "/a%2fb", 0, "/a/b", 0, { { NULL, NULL } } },
		{ "/%41%62%7a", 0, "/Abz", 0, { { NULL, NULL } } },
		{ "/%4a%4A%aB", 0, "/JJ\xab", 0, { { NULL, NULL } } },
		{ "/caf%C3%a9", 0, "/caf\xc3\xa9", 0, { { NULL, NULL } } },
		{ "/a+b", 0, "/a+b", 0, { { NULL, NULL } } },
		{ "/a%20b%0A", 0, "/a b\n", 0, { { NULL, NULL } } },
		{ "/%4", 0, "/%4", 0, { { NULL, NULL } } },
		{ "/%zz", 0, "/%zz", 0, { { NULL, NULL } } },
		{ "/%g1", 0, "/%g1", 0, { { NULL, NULL } } },
		{ "/%1g", 0, "/%1g", 0, { { NULL, NULL } } },
		{ "/a%", 0, "/a%", 0, { { NULL, NULL } } },
		{ "/%%41", 0, "/%A", 0, { { NULL, NULL } } },
		{ "/%4%41", 0, "/%4A", 0, { { NULL, NULL } } },
		{ "/%2500", 0, "/%00", 0, { { NULL, NULL } } },
		{ "/%252F", 0, "/%2F", 0, { { NULL, NULL } } },
		{ "/p%3Fq?x=1", 0, "/p?q", 1, { { "x", "1" } } },
		{ "/p%23q", 0, "/p#q", 0, { { NULL, NULL } } },
		{ "/p?k%41=v%2Fw+x", 0, "/p", 1, { { "kA", "v/w+x" } } },
		{ "/p?a=%4&b=%zz&c=%", 0, "/p", 3,
		  { { "a", "%4" }, { "b", "%zz" }, { "c", "%" } } },
		{ "/p?a%4&b%", 0, "/p", 2, { { "a%4", NULL }, { "b%", NULL } } },
		{ "/p?%26=%3D&x%3D1", 0, "/p", 2, { { "&", "=" }, { "x=1", NULL } } },
		{ "/p?a=%2500", 0, "/p", 1, { { "a", "%00" } } },
		{ "/p?a+b=c+d", 0, "/p", 1, { { "a+b", "c+d" } } },
		{ "/%00", -EBADMSG, NULL, 0, { { NULL, NULL } } },
		{ "/a%00b", -EBADMSG, NULL, 0, { { NULL, NULL } } },
		{ "/a%00?x=1", -EBADMSG, NULL, 0, { { NULL, NULL } } },
		{ "/p?%00=1", -EBADMSG, NULL, 0, { { NULL, NULL } } },
		{ "/p?a%00", -EBADMSG, NULL, 0, { { NULL, NULL } } },
		{ "/p?a=%00", -EBADMSG, NULL, 0, { { NULL, NULL } } },
		{ "/p?a=1&b=x%00", -EBADMSG, NULL, 0, { { NULL, NULL } } },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		assert_target(&cases[i]);
}

static void
query_edge_cases(void **state)
{
	static const struct target_case cases[] = {
		{ "/p?", 0, "/p", 0, { { NULL, NULL } } },
		{ "/p?&&", 0, "/p", 0, { { NULL, NULL } } },
		{ "/?x", 0, "/", 1, { { "x", NULL } } },
		{ "/p?a", 0, "/p", 1, { { "a", NULL } } },
		{ "/p?a=", 0, "/p", 1, { { "a", "" } } },
		{ "/p?=x", 0, "/p", 1, { { "", "x" } } },
		{ "/p?=", 0, "/p", 1, { { "", "" } } },
		{ "/p?a=1&a=2", 0, "/p", 2, { { "a", "1" }, { "a", "2" } } },
		{ "/p?b=2&a=1", 0, "/p", 2, { { "b", "2" }, { "a", "1" } } },
		{ "/p?a=b=c", 0, "/p", 1, { { "a", "b=c" } } },
		{ "/p?&a&&b=&", 0, "/p", 2, { { "a", NULL }, { "b", "" } } },
		{ "/p?a?b=c?d", 0, "/p", 1, { { "a?b", "c?d" } } },
		{ "/p?a=1;b=2", 0, "/p", 1, { { "a", "1;b=2" } } },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		assert_target(&cases[i]);
}

static void
field_values_trimmed(void **state)
{
	static const char head[] =
		"GET / HTTP/1.1\r\n"
		"A:  \t inner  spaces\tkept \t \r\n"
		"B:\r\n"
		"C: \t \r\n"
		"D:x\r\n"
		"E: \x80\xff caf\xc3\xa9\r\n"
		"F: a:b: c\r\n"
		"Content-LENGTH: 0\r\n"
		"A: again\r\n"
		"!#$%&'*+-.^_`|~09azAZ: token\r\n"
		"\r\n";
	struct parse p;

	(void)state;
	parse_text(&p, head);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.field_count, 9);
	assert_field(&p, 0, "A", "inner  spaces\tkept");
	assert_field(&p, 1, "B", "");
	assert_field(&p, 2, "C", "");
	assert_field(&p, 3, "D", "x");
	assert_field(&p, 4, "E", "\x80\xff caf\xc3\xa9");
	assert_field(&p, 5, "F", "a:b: c");
	assert_field(&p, 6, "Content-LENGTH", "0");
	assert_field(&p, 7, "A", "again");
	assert_field(&p, 8, "!#$%&'*+-.^_`|~09azAZ", "token");
	assert_rest_unchanged(&p);
	parse_free(&p);
}

static void
leading_empty_lines_skipped(void **state)
{
	static const char *const heads[] = {
		"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"\r\n\n\r\nGET / HTTP/1.1\nHost: h\n\n",
	};
	struct parse p;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(heads); i++) {
		size_t skipped = strcspn(heads[i], "G");

		parse_text(&p, heads[i]);
		assert_int_equal(p.rc, 0);
		assert_int_equal(p.head.head_len, strlen(heads[i]));
		assert_ptr_equal(p.head.method, p.buf + skipped);
		assert_string_equal(p.head.method, "GET");
		assert_string_equal(p.head.path, "/");
		assert_int_equal(p.head.field_count, 1);
		assert_field(&p, 0, "Host", "h");
		parse_free(&p);
	}

	/* Only empty lines so far, so the request line is still to come. */
	parse_text(&p, "\r\n\r\n\n");
	assert_int_equal(p.rc, -EAGAIN);
	assert_memory_equal(p.buf, p.orig, p.len);
	parse_free(&p);
}

static void
lf_line_endings(void **state)
{
	static const char lf_only[] = "PUT /a?b=c HTTP/1.0\nHost: h\nX:  y z \n\nbody\n\n";
	static const char mixed[] = "GET / HTTP/1.1\nHost: h\r\nAccept: */*\n\r\nrest";
	struct parse p;

	(void)state;
	parse_text(&p, lf_only);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.head_len, strlen(lf_only) - strlen("body\n\n"));
	assert_string_equal(p.head.method, "PUT");
	assert_string_equal(p.head.path, "/a");
	assert_string_equal(p.head.version, "HTTP/1.0");
	assert_int_equal(p.head.arg_count, 1);
	assert_arg(&p, 0, "b", "c");
	assert_int_equal(p.head.field_count, 2);
	assert_field(&p, 0, "Host", "h");
	assert_field(&p, 1, "X", "y z");
	assert_rest_unchanged(&p);
	parse_free(&p);

	parse_text(&p, mixed);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.head.head_len, strlen(mixed) - strlen("rest"));
	assert_int_equal(p.head.field_count, 2);
	assert_field(&p, 0, "Host", "h");
	assert_field(&p, 1, "Accept", "*/*");
	assert_rest_unchanged(&p);
	parse_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ipxe_request_parsed),
		cmocka_unit_test(pipelined_request_untouched),
		cmocka_unit_test(body_after_head_untouched),
		cmocka_unit_test(prefix_returns_eagain),
		cmocka_unit_test(long_line_too_big),
		cmocka_unit_test(many_lines_too_big),
		cmocka_unit_test(head_len_boundary),
		cmocka_unit_test(fields_limit_exact),
		cmocka_unit_test(fields_limit_default),
		cmocka_unit_test(version_unsupported),
		cmocka_unit_test(malformed_rejected),
		cmocka_unit_test(malformed_rejected_early),
		cmocka_unit_test(percent_decoding),
		cmocka_unit_test(query_edge_cases),
		cmocka_unit_test(field_values_trimmed),
		cmocka_unit_test(leading_empty_lines_skipped),
		cmocka_unit_test(lf_line_endings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
