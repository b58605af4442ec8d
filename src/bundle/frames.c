/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seek table of a compressed bundle, in the zstd seekable format: a skippable
 * frame at the end of the file that lists each zstd frame's compressed and
 * decompressed size. `bundle create` ends a frame where each entry's data starts and
 * where it ends, so the loader can find every entry's frames from the table and
 * decompress several entries at once. The table is not signed: a loader only uses it
 * to find frames, and checks each frame it decompresses against it.
 */
#include "bundle/bundle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SKIPPABLE_MAGIC 0x184D2A5Eu
#define SEEKABLE_MAGIC 0x8F92EAB1u
/* The skippable frame header: magic and frame size. */
#define TABLE_HEADER 8
/* Number_Of_Frames, Seek_Table_Descriptor, Seekable_Magic_Number. */
#define TABLE_FOOTER 9
#define ENTRY_BYTES 8
#define ENTRY_CHECKSUM_BYTES 12
#define DESCRIPTOR_CHECKSUM 0x80u
#define DESCRIPTOR_RESERVED 0x7cu
/* The smallest zstd frame: magic, frame header, one empty block. */
#define FRAME_MIN 8

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

int
bundle_frames_add(struct buf *entries, uint64_t in_bytes, uint64_t out_bytes)
{
	unsigned char entry[ENTRY_BYTES];

	if (in_bytes > UINT32_MAX || out_bytes > BUNDLE_FRAME_DATA_MAX)
		return -ERANGE;
	if (entries->len / ENTRY_BYTES >= BUNDLE_FRAMES_MAX)
		return -E2BIG;
	put_le32(entry, (uint32_t)in_bytes);
	put_le32(entry + 4, (uint32_t)out_bytes);
	return buf_append(entries, entry, sizeof(entry));
}

int
bundle_frames_encode(const struct buf *entries, struct buf *out)
{
	unsigned char head[TABLE_HEADER], foot[TABLE_FOOTER];
	int rc;

	put_le32(head, SKIPPABLE_MAGIC);
	put_le32(head + 4, (uint32_t)(entries->len + TABLE_FOOTER));
	put_le32(foot, (uint32_t)(entries->len / ENTRY_BYTES));
	foot[4] = 0;
	put_le32(foot + 5, SEEKABLE_MAGIC);
	rc = buf_append(out, head, sizeof(head));
	if (rc == 0 && entries->len > 0)
		rc = buf_append(out, entries->data, entries->len);
	if (rc == 0)
		rc = buf_append(out, foot, sizeof(foot));
	return rc;
}

size_t
bundle_frames_table_size(const unsigned char footer[BUNDLE_FRAMES_FOOTER])
{
	uint32_t count = le32(footer);
	unsigned char descriptor = footer[4];
	size_t entry = descriptor & DESCRIPTOR_CHECKSUM ? ENTRY_CHECKSUM_BYTES : ENTRY_BYTES;

	if (le32(footer + 5) != SEEKABLE_MAGIC || (descriptor & DESCRIPTOR_RESERVED) != 0 ||
	    count > BUNDLE_FRAMES_MAX)
		return 0;
	return TABLE_HEADER + (size_t)count * entry + TABLE_FOOTER;
}

int
bundle_frames_parse(const unsigned char *table, size_t len, uint64_t data_len,
		    struct bundle_frames **ret)
{
	struct bundle_frames *f;
	size_t count, entry;
	uint64_t in = 0, out = 0;

	if (len < TABLE_HEADER + TABLE_FOOTER || bundle_frames_table_size(table + len -
									  TABLE_FOOTER) != len)
		return -EBADMSG;
	if (le32(table) != SKIPPABLE_MAGIC || le32(table + 4) != len - TABLE_HEADER)
		return -EBADMSG;
	count = le32(table + len - TABLE_FOOTER);
	entry = table[len - TABLE_FOOTER + 4] & DESCRIPTOR_CHECKSUM ? ENTRY_CHECKSUM_BYTES :
								       ENTRY_BYTES;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->count = count;
	f->in = calloc(count + 1, sizeof(*f->in));
	f->out = calloc(count + 1, sizeof(*f->out));
	if (f->in == NULL || f->out == NULL) {
		bundle_frames_free(f);
		return -ENOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		const unsigned char *p = table + TABLE_HEADER + i * entry;
		uint32_t in_bytes = le32(p), out_bytes = le32(p + 4);

		/* No zstd frame is shorter than FRAME_MIN, and `bundle create` caps the data. */
		if (in_bytes < FRAME_MIN || out_bytes > BUNDLE_FRAME_DATA_MAX) {
			bundle_frames_free(f);
			return -EBADMSG;
		}
		in += in_bytes;
		out += out_bytes;
		f->in[i + 1] = in;
		f->out[i + 1] = out;
	}
	/* The frames and the table make up the file after the base exactly. */
	if (in != data_len) {
		bundle_frames_free(f);
		return -EBADMSG;
	}
	*ret = f;
	return 0;
}

int
bundle_frames_read(int fd, uint64_t base, struct bundle_frames **ret)
{
	unsigned char footer[TABLE_FOOTER], *table;
	struct stat st;
	uint64_t size;
	size_t len;
	ssize_t n;
	int rc;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
		return -ENOENT;
	size = (uint64_t)st.st_size;
	if (size < base + TABLE_HEADER + TABLE_FOOTER)
		return -ENOENT;
	n = bundle_read_full(fd, footer, sizeof(footer), (int64_t)(size - sizeof(footer)));
	if (n != (ssize_t)sizeof(footer))
		return -ENOENT;
	len = bundle_frames_table_size(footer);
	if (len == 0 || len > size - base)
		return -ENOENT;
	table = malloc(len);
	if (table == NULL)
		return -ENOMEM;
	n = bundle_read_full(fd, table, len, (int64_t)(size - len));
	rc = n == (ssize_t)len ? bundle_frames_parse(table, len, size - base - len, ret) :
				 -EIO;
	free(table);
	if (rc == 0)
		(*ret)->base = base;
	return rc;
}

ssize_t
bundle_frames_find(const struct bundle_frames *f, uint64_t out_offset)
{
	size_t lo = 0, hi = f->count + 1;

	/* The first frame that starts at or after out_offset; a frame may be empty. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->out[mid] < out_offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo <= f->count && f->out[lo] == out_offset ? (ssize_t)lo : -1;
}

struct bundle_frames *
bundle_frames_free(struct bundle_frames *f)
{
	if (f == NULL)
		return NULL;
	free(f->in);
	free(f->out);
	free(f);
	return NULL;
}
