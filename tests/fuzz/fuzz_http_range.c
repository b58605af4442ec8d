/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz http_range_parse. The first 8 bytes of the input (little-endian) are the file
 * size and the rest is the Range header value, NUL-terminated. A satisfiable range must
 * lie inside the file, and the parser must never return anything but 1, 0 or -ERANGE.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

/* Header values longer than this only exercise the digit loop further. */
#define FUZZ_MAX_BYTES 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t file_size = 0, first = 0, last = 0;
	char *value;
	int rc;

	if (size < 8 || size > FUZZ_MAX_BYTES)
		return 0;
	for (int i = 7; i >= 0; i--)
		file_size = file_size << 8 | data[i];

	value = malloc(size - 8 + 1);
	if (value == NULL)
		return 0;
	memcpy(value, data + 8, size - 8);
	value[size - 8] = '\0';

	rc = http_range_parse(value, file_size, &first, &last);
	if (rc == 1 && (first > last || last >= file_size))
		abort();
	if (rc != 1 && rc != 0 && rc != -ERANGE)
		abort();
	/* An empty file has no satisfiable range. */
	if (file_size == 0 && rc == 1)
		abort();
	free(value);
	return 0;
}
