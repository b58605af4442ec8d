/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz http_path_check, the gate in front of every file the boot listener serves. The
 * input becomes one NUL-terminated string. Every accepted path is checked against the
 * documented rules independently, so a parser bug that lets "..", an absolute path or
 * an encoded byte through aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

/* Past PATH_MAX the checker rejects on length alone. */
#define FUZZ_MAX_BYTES 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Check the rules of an accepted path directly, component by component. */
static void
check_accepted(const char *path)
{
	const char *component = path;
	size_t len = strlen(path);

	if (len == 0 || len >= 4096 || path[0] == '/' || path[len - 1] == '/')
		abort();
	if (strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/") !=
	    len)
		abort();

	for (;;) {
		size_t n = strcspn(component, "/");

		if (n == 0 || n > 255 || component[0] == '.')
			abort();
		if (component[n] == '\0')
			break;
		component += n + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size > FUZZ_MAX_BYTES)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (http_path_check(text) == 0)
		check_accepted(text);
	free(text);
	return 0;
}
