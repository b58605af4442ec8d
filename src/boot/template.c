/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The template engine for iPXE scripts. A template is compiled once into a list of
 * segments, each a literal span of the source text or a variable name, so rendering is
 * a run of appends with no parsing.
 *
 * Syntax: "{{name}}" with name made of 1 to 64 of [A-Za-z0-9_], no spaces inside the
 * braces. There is no escape for a literal "{{": iPXE's own syntax never uses two
 * opening braces in a row (its settings are "${name}"), so the scripts we ship do not
 * need one. A lone "}}" is literal text. NUL bytes are rejected, because a script is
 * text and iPXE would stop reading at the first one.
 */
#include "boot/boot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Maximum length of a variable name, in bytes. */
#define TEMPLATE_NAME_MAX 64

enum segment_kind {
	SEGMENT_LITERAL,
	SEGMENT_VARIABLE,
};

/* A span of the template's own copy of the source: literal text or a variable name. */
struct segment {
	enum segment_kind kind;
	size_t offset;
	size_t len;
};

struct template {
	char *text;                 /* owned copy of the source */
	struct segment *segments;   /* owned */
	size_t count;
	size_t cap;
};

/* Write a compile error to err, when the caller gave room for one. */
static void __attribute__((format(printf, 3, 4)))
template_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list args;

	if (err == NULL || errlen == 0)
		return;
	va_start(args, fmt);
	vsnprintf(err, errlen, fmt, args);
	va_end(args);
}

static bool
name_char_valid(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* Add a segment; empty literals are skipped. Returns 0 or -ENOMEM. */
static int
segment_add(struct template *t, enum segment_kind kind, size_t offset, size_t len)
{
	if (kind == SEGMENT_LITERAL && len == 0)
		return 0;

	if (t->count == t->cap) {
		size_t cap = t->cap != 0 ? t->cap * 2 : 16;
		struct segment *segments;

		segments = reallocarray(t->segments, cap, sizeof(*segments));
		if (segments == NULL)
			return -ENOMEM;
		t->segments = segments;
		t->cap = cap;
	}

	t->segments[t->count].kind = kind;
	t->segments[t->count].offset = offset;
	t->segments[t->count].len = len;
	t->count++;
	return 0;
}

/*
 * Parse the placeholder whose "{{" starts at `open`. On success adds its segment and
 * sets *ret_end to the offset just past "}}". Returns 0, -EINVAL or -ENOMEM.
 */
static int
placeholder_parse(struct template *t, size_t len, size_t open, size_t *ret_end, char *err,
		  size_t errlen)
{
	const char *text = t->text;
	size_t name = open + 2;
	size_t i = name;

	while (i < len && name_char_valid(text[i]))
		i++;

	/* The name ended at the end of the text: no "}}" can follow. */
	if (i == len) {
		template_error(err, errlen, "unterminated \"{{\" at byte %zu", open);
		return -EINVAL;
	}

	if (text[i] != '}') {
		template_error(err, errlen, "invalid character in variable name at byte %zu", i);
		return -EINVAL;
	}
	if (i + 1 == len || text[i + 1] != '}') {
		template_error(err, errlen, "unterminated \"{{\" at byte %zu", open);
		return -EINVAL;
	}
	if (i == name) {
		template_error(err, errlen, "empty variable name at byte %zu", open);
		return -EINVAL;
	}
	if (i - name > TEMPLATE_NAME_MAX) {
		template_error(err, errlen, "variable name longer than %d bytes at byte %zu",
			       TEMPLATE_NAME_MAX, name);
		return -EINVAL;
	}

	*ret_end = i + 2;
	return segment_add(t, SEGMENT_VARIABLE, name, i - name);
}

int
template_compile(const char *text, size_t len, struct template **ret, char *err, size_t errlen)
{
	struct template *t;
	size_t literal = 0, i = 0;
	int rc;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;

	/* Keep a private copy, so segments stay valid after the caller frees its text. */
	t->text = malloc(len + 1);
	if (t->text == NULL) {
		rc = -ENOMEM;
		goto err_copy;
	}
	if (len > 0)
		memcpy(t->text, text, len);
	t->text[len] = '\0';

	/* Scan for "{{"; everything between placeholders is one literal segment. */
	while (i < len) {
		size_t end;

		if (t->text[i] == '\0') {
			template_error(err, errlen, "NUL byte at byte %zu", i);
			rc = -EINVAL;
			goto err_parse;
		}
		if (t->text[i] != '{' || i + 1 == len || t->text[i + 1] != '{') {
			i++;
			continue;
		}

		rc = segment_add(t, SEGMENT_LITERAL, literal, i - literal);
		if (rc < 0)
			goto err_parse;
		rc = placeholder_parse(t, len, i, &end, err, errlen);
		if (rc < 0)
			goto err_parse;
		i = end;
		literal = end;
	}

	rc = segment_add(t, SEGMENT_LITERAL, literal, len - literal);
	if (rc < 0)
		goto err_parse;

	*ret = t;
	return 0;

err_parse:
	if (rc == -ENOMEM)
		template_error(err, errlen, "out of memory");
err_copy:
	template_free(t);
	return rc;
}

/* Return the value of the variable named by `name`/`len`, or NULL when none is given. */
static const char *
var_find(const struct template_var *vars, size_t count, const char *name, size_t len)
{
	/* Names are never empty, so the first byte rules out most names without a call. */
	for (size_t i = 0; i < count; i++) {
		if (vars[i].name[0] == name[0] && strncmp(vars[i].name, name, len) == 0 &&
		    vars[i].name[len] == '\0')
			return vars[i].value;
	}
	return NULL;
}

int
template_render(const struct template *t, const struct template_var *vars, size_t count,
		struct buf *out)
{
	size_t start = out->len;
	int rc;

	for (size_t i = 0; i < t->count; i++) {
		const struct segment *s = &t->segments[i];
		const char *value;

		if (s->kind == SEGMENT_LITERAL) {
			rc = buf_append(out, t->text + s->offset, s->len);
		} else {
			/* A variable the caller did not pass, or passed as NULL, renders empty. */
			value = var_find(vars, count, t->text + s->offset, s->len);
			rc = value != NULL ? buf_puts(out, value) : 0;
		}
		if (rc < 0)
			goto err_append;
	}
	return 0;

err_append:
	/* Truncate to the length at entry, so a failed render leaves out unchanged. */
	out->len = start;
	if (out->data != NULL)
		out->data[start] = '\0';
	return rc;
}

struct template *
template_free(struct template *t)
{
	if (t == NULL)
		return NULL;
	free(t->segments);
	free(t->text);
	free(t);
	return NULL;
}
