/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by fuzz targets whose first input byte selects what the rest is fed to. */
#ifndef OUTPOST_FUZZ_TEXT_H
#define OUTPOST_FUZZ_TEXT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A NUL-terminated copy of the input after the selector byte; size must be at least 1. */
static inline char *
fuzz_text_copy(const uint8_t *data, size_t size)
{
	char *text = malloc(size);

	if (text != NULL) {
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
	}
	return text;
}

#endif
