/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The byte pattern of the benchmark artifacts: pseudo-random bytes, with the file
 * offset written as a little-endian 64-bit word at every 4096-byte boundary. A client
 * can then check that it received the right bytes at the right offsets, after a
 * resumed download in particular, by comparing 8 bytes in every 4096.
 */
#ifndef OUTPOST_BENCH_PATTERN_H
#define OUTPOST_BENCH_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#define PATTERN_STRIDE 4096
#define PATTERN_MARK_BYTES 8

/* The byte the pattern has at `offset`, which must lie inside a mark. */
static inline unsigned char
pattern_mark_byte(uint64_t offset)
{
	uint64_t mark = offset - offset % PATTERN_STRIDE;

	return (unsigned char)(mark >> (8 * (offset % PATTERN_STRIDE)));
}

/*
 * Fill `len` bytes that belong at file offset `offset`, both multiples of
 * PATTERN_STRIDE: xorshift64 output from *state, then the offset marks.
 */
static inline void
pattern_fill(unsigned char *data, size_t len, uint64_t offset, uint64_t *state)
{
	size_t i;
	int k;

	for (i = 0; i < len; i += 8) {
		*state ^= *state << 13;
		*state ^= *state >> 7;
		*state ^= *state << 17;
		for (k = 0; k < 8; k++)
			data[i + (size_t)k] = (unsigned char)(*state >> (8 * k));
	}
	for (i = 0; i < len; i += PATTERN_STRIDE) {
		for (k = 0; k < PATTERN_MARK_BYTES; k++)
			data[i + (size_t)k] = pattern_mark_byte(offset + i + (uint64_t)k);
	}
}

/*
 * Check the mark bytes inside `len` received bytes that start at file offset
 * `offset`. Returns 0 when every mark byte matches, -1 otherwise.
 */
static inline int
pattern_check(const unsigned char *data, size_t len, uint64_t offset)
{
	uint64_t end = offset + len;
	uint64_t mark;
	uint64_t pos;

	for (mark = offset - offset % PATTERN_STRIDE; mark < end; mark += PATTERN_STRIDE) {
		for (pos = mark; pos < mark + PATTERN_MARK_BYTES && pos < end; pos++) {
			if (pos >= offset && data[pos - offset] != pattern_mark_byte(pos))
				return -1;
		}
	}
	return 0;
}

#endif
