/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the identifier parsers in util.h. The input becomes one NUL-terminated string for
 * mac_parse, uuid_parse, hostname_valid, uint_parse and cmdline_check. Each success is
 * checked against the documented canonical form, and parsing that form again must return
 * it unchanged.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* Longer inputs only repeat the length checks the parsers make first. */
#define FUZZ_MAX_BYTES 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_mac(const char *text)
{
	char out[MAC_TEXT_SIZE], again[MAC_TEXT_SIZE];

	if (mac_parse(text, out) != 0)
		return;

	/* Canonical: 17 bytes, lower-case hex pairs joined by colons, and a fixed point. */
	if (strlen(out) != 17 || strspn(out, "0123456789abcdef:") != 17)
		abort();
	for (size_t i = 2; i < 17; i += 3)
		if (out[i] != ':')
			abort();
	if (mac_parse(out, again) != 0 || strcmp(out, again) != 0)
		abort();

	/* Unicast: the group bit of the first octet is clear, and the address is not zero. */
	if (strchr("13579bdf", out[1]) != NULL || strcmp(out, "00:00:00:00:00:00") == 0)
		abort();
}

static void
check_uuid(const char *text)
{
	char out[UUID_TEXT_SIZE], again[UUID_TEXT_SIZE];

	if (uuid_parse(text, out) != 0)
		return;

	if (strlen(out) != 36 || strspn(out, "0123456789abcdef-") != 36)
		abort();
	if (uuid_parse(out, again) != 0 || strcmp(out, again) != 0)
		abort();
}

static void
check_hostname(const char *text)
{
	size_t len;

	if (!hostname_valid(text))
		return;

	len = strlen(text);
	if (len == 0 || len > HOSTNAME_SIZE)
		abort();
	if (strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") !=
	    len)
		abort();
}

static void
check_uint(const char *text)
{
	uint64_t value = 0;
	int rc;

	rc = uint_parse(text, 0, UINT64_MAX, &value);
	if (rc == 0 && strspn(text, "0123456789") != strlen(text))
		abort();

	/* A narrower range must return a value inside it or fail. */
	value = 7;
	rc = uint_parse(text, 10, 1000, &value);
	if (rc == 0 && (value < 10 || value > 1000))
		abort();
	if (rc != 0 && value != 7)
		abort();
}

/* An accepted command line has only allowed bytes and no ";" word; a rejected one names one. */
static void
check_cmdline(const char *text)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789._,:=/+@%~;- ";
	size_t len = strlen(text), offset = len + 1;
	bool lone;

	if (cmdline_check(text, &offset) == 0) {
		if (offset != len + 1 || strspn(text, allowed) != len)
			abort();
		for (size_t i = 0; i < len; i++) {
			lone = text[i] == ';' && (i == 0 || text[i - 1] == ' ') &&
			       (text[i + 1] == ' ' || text[i + 1] == '\0');
			if (lone)
				abort();
		}
		return;
	}

	if (offset >= len)
		abort();
	lone = text[offset] == ';' && (offset == 0 || text[offset - 1] == ' ') &&
	       (text[offset + 1] == ' ' || text[offset + 1] == '\0');
	if (strchr(allowed, text[offset]) != NULL && !lone)
		abort();
	if (strspn(text, allowed) < offset)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size > FUZZ_MAX_BYTES)
		return 0;

	/* Embedded NULs just end the string early, as they would in a query parameter. */
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	check_mac(text);
	check_uuid(text);
	check_hostname(text);
	check_uint(text);
	check_cmdline(text);

	free(text);
	return 0;
}
