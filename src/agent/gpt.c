/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The GUID partition table, read from the written disk to find the partition that
 * holds the installed system: the first whose type is Linux root (x86-64), or else
 * the first Linux file system data partition. The table comes from the image, so
 * every field is checked before use: the signature, the header size, and the entry
 * array's place, size and count.
 */
#include "agent/agent.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define GPT_SECTOR 512u
#define GPT_MAX_ENTRIES 256u
#define GPT_ENTRY_MIN 128u
#define GPT_ENTRY_MAX 512u

/* Type GUIDs in their on-disk byte order (the first three fields little-endian). */
static const unsigned char root_x86_64[16] = {
	0xe3, 0xbc, 0x68, 0x4f, 0xcd, 0xe8, 0xb1, 0x4d,
	0x96, 0xe7, 0xfb, 0xca, 0xf9, 0x84, 0xb7, 0x09,
};
static const unsigned char linux_data[16] = {
	0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47,
	0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4,
};

static uint64_t
le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int
gpt_parse(const unsigned char *header, const unsigned char *entries, size_t entries_len,
	  uint64_t disk_bytes, struct gpt_partition *ret)
{
	uint32_t count, size;
	int best = 0;

	if (memcmp(header, "EFI PART", 8) != 0 || le32(header + 12) < 92 ||
	    le32(header + 12) > GPT_SECTOR)
		return -EINVAL;
	count = le32(header + 80);
	size = le32(header + 84);
	if (count == 0 || count > GPT_MAX_ENTRIES || size < GPT_ENTRY_MIN ||
	    size > GPT_ENTRY_MAX || size % 8 != 0 || (size_t)count * size > entries_len)
		return -EINVAL;

	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *e = entries + (size_t)i * size;
		uint64_t first = le64(e + 32), last = le64(e + 40);
		int rank = memcmp(e, root_x86_64, 16) == 0 ? 2 :
			   memcmp(e, linux_data, 16) == 0 ? 1 : 0;

		if (rank <= best || first == 0 || last < first ||
		    last >= disk_bytes / GPT_SECTOR)
			continue;
		best = rank;
		ret->number = i + 1;
		ret->offset = first * GPT_SECTOR;
		ret->size = (last - first + 1) * GPT_SECTOR;
	}
	return best > 0 ? 0 : -ENOENT;
}

int
gpt_find_root(int fd, uint64_t disk_bytes, struct gpt_partition *ret)
{
	unsigned char header[GPT_SECTOR];
	static unsigned char entries[GPT_MAX_ENTRIES * GPT_ENTRY_MAX];
	uint64_t lba;
	size_t len;

	if (pread(fd, header, sizeof(header), GPT_SECTOR) != (ssize_t)sizeof(header))
		return -EIO;
	if (memcmp(header, "EFI PART", 8) != 0)
		return -EINVAL;
	lba = le64(header + 72);
	len = (size_t)le32(header + 80) * le32(header + 84);
	if (lba < 2 || lba > disk_bytes / GPT_SECTOR || len > sizeof(entries))
		return -EINVAL;
	if (pread(fd, entries, len, (off_t)(lba * GPT_SECTOR)) != (ssize_t)len)
		return -EIO;
	return gpt_parse(header, entries, len, disk_bytes, ret);
}
