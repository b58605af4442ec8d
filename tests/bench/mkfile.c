/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Write a benchmark artifact in the pattern of pattern.h.
 *
 * usage: mkfile PATH BYTES
 *
 * BYTES must be a multiple of 4096. The file is written as PATH.tmp and renamed, so
 * an interrupted run never leaves a short file under PATH for the next run to reuse.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

#define CHUNK_BYTES (1024 * 1024)

static int
write_pattern(FILE *out, uint64_t size)
{
	static unsigned char chunk[CHUNK_BYTES];
	uint64_t state = 0x9e3779b97f4a7c15ULL ^ size;
	uint64_t offset;

	for (offset = 0; offset < size; offset += CHUNK_BYTES) {
		size_t len = size - offset < CHUNK_BYTES ? (size_t)(size - offset) : CHUNK_BYTES;

		pattern_fill(chunk, len, offset, &state);
		if (fwrite(chunk, 1, len, out) != len)
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	char tmp[4096];
	char *end;
	uint64_t size;
	FILE *out;
	int written;

	if (argc != 3) {
		fprintf(stderr, "usage: mkfile PATH BYTES\n");
		return 2;
	}
	errno = 0;
	size = strtoull(argv[2], &end, 10);
	if (errno != 0 || *end != '\0' || size == 0 || size % PATTERN_STRIDE != 0) {
		fprintf(stderr, "mkfile: invalid size \"%s\": use a positive multiple of %d\n",
			argv[2], PATTERN_STRIDE);
		return 2;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]) >= sizeof(tmp)) {
		fprintf(stderr, "mkfile: path too long: %s\n", argv[1]);
		return 2;
	}

	out = fopen(tmp, "wb");
	if (out == NULL) {
		fprintf(stderr, "mkfile: cannot create %s: %s\n", tmp, strerror(errno));
		return 1;
	}
	written = write_pattern(out, size);
	if (fclose(out) != 0)
		written = -1;
	if (written < 0) {
		fprintf(stderr, "mkfile: failed to write %s: %s\n", tmp, strerror(errno));
		remove(tmp);
		return 1;
	}
	if (rename(tmp, argv[1]) < 0) {
		fprintf(stderr, "mkfile: cannot rename %s to %s: %s\n", tmp, argv[1],
			strerror(errno));
		remove(tmp);
		return 1;
	}
	printf("mkfile: wrote %" PRIu64 " bytes to %s\n", size, argv[1]);
	return 0;
}
