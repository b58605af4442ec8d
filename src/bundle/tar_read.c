/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The strict pax tar reader. It accepts regular files and pax extended headers only and
 * checks every header (magic, checksum, octal fields, path rules). Absurd sizes are
 * rejected before anything is allocated, and the end of the archive is checked for
 * truncation and for data after it. docs/bundle-format.md lists the rules.
 */
#include "bundle/bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 512
/* Largest pax extended header accepted, in bytes. */
#define PAX_MAX (64 * 1024)

/* ustar header field offsets and sizes. */
#define F_NAME 0
#define F_NAME_LEN 100
#define F_SIZE 124
#define F_SIZE_LEN 12
#define F_CHKSUM 148
#define F_CHKSUM_LEN 8
#define F_TYPE 156
#define F_MAGIC 257
#define F_VERSION 263
#define F_PREFIX 345
#define F_PREFIX_LEN 155

struct tar_reader {
	struct bundle_source *src;   /* not owned */
	uint64_t pos;                /* bytes of the tar stream consumed */
	uint64_t left;               /* data bytes of the current entry not yet read */
	uint64_t pad;                /* padding after the current entry's data */
	bool ended;
	char path[BUNDLE_PATH_SIZE]; /* the current entry, for errors */
};

/* The pax records that apply to the next entry. */
struct pax {
	bool have_path;
	bool have_size;
	char path[BUNDLE_PATH_SIZE];
	uint64_t size;
};

int
tar_reader_new(struct bundle_source *src, struct tar_reader **ret)
{
	struct tar_reader *tr = calloc(1, sizeof(*tr));

	if (tr == NULL)
		return -ENOMEM;
	tr->src = src;
	*ret = tr;
	return 0;
}

struct tar_reader *
tar_reader_free(struct tar_reader *tr)
{
	free(tr);
	return NULL;
}

/*
 * Read exactly `len` bytes. Returns len, fewer at the end of the stream (the count
 * read), or a negative errno with err set.
 */
static ssize_t
read_exact(struct tar_reader *tr, void *buf, size_t len, char *err, size_t errlen)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = bundle_source_read(tr->src, (char *)buf + done, len - done, err,
					       errlen);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	tr->pos += done;
	return (ssize_t)done;
}

static bool
all_zero(const unsigned char *data, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (data[i] != 0)
			return false;
	return true;
}

/*
 * Read the zero padding after an entry's data or a pax header. Non-zero bytes there
 * are rejected, so that no unsigned data rides along in a signed bundle.
 */
static int
skip_padding(struct tar_reader *tr, uint64_t len, char *err, size_t errlen)
{
	unsigned char pad[BLOCK];
	uint64_t at = tr->pos;
	ssize_t n;

	if (len == 0)
		return 0;
	n = read_exact(tr, pad, (size_t)len, err, errlen);
	if (n < 0)
		return (int)n;
	if ((uint64_t)n < len)
		return err_set(-EBADMSG, err, errlen, "entry %s: the archive is truncated at "
			       "byte %llu", tr->path, (unsigned long long)tr->pos);
	if (!all_zero(pad, (size_t)len))
		return err_set(-EBADMSG, err, errlen, "entry %s: the padding at byte %llu is "
			       "not zeros", tr->path, (unsigned long long)at);
	return 0;
}

/*
 * Read and drop `len` bytes, or seek over them in an uncompressed regular file; a short
 * stream is a truncated archive.
 */
static int
skip(struct tar_reader *tr, uint64_t len, char *err, size_t errlen)
{
	char scratch[16384];

	if (len > 0 && bundle_source_seekable(tr->src)) {
		uint64_t skipped = 0;
		int rc = bundle_source_skip(tr->src, len, &skipped, err, errlen);

		if (rc < 0)
			return rc;
		tr->pos += skipped;
		if (skipped < len)
			return err_set(-EBADMSG, err, errlen, "entry %s: the archive is "
				       "truncated at byte %llu", tr->path,
				       (unsigned long long)tr->pos);
		return 0;
	}
	while (len > 0) {
		size_t want = len < sizeof(scratch) ? (size_t)len : sizeof(scratch);
		ssize_t n = read_exact(tr, scratch, want, err, errlen);

		if (n < 0)
			return (int)n;
		if ((size_t)n < want)
			return err_set(-EBADMSG, err, errlen, "entry %s: the archive is "
				       "truncated at byte %llu", tr->path,
				       (unsigned long long)tr->pos);
		len -= want;
	}
	return 0;
}

/*
 * Parse an octal header field: optional leading spaces, octal digits, then NUL or
 * space to the end of the field. Returns 0 or -EINVAL (including base-256 values).
 */
static int
octal_field(const unsigned char *field, size_t len, uint64_t *ret)
{
	uint64_t value = 0;
	size_t i = 0, digits = 0;

	while (i < len && field[i] == ' ')
		i++;
	for (; i < len && field[i] >= '0' && field[i] <= '7'; i++, digits++) {
		if (value > (UINT64_MAX >> 3))
			return -EINVAL;
		value = value << 3 | (uint64_t)(field[i] - '0');
	}
	if (digits == 0)
		return -EINVAL;
	for (; i < len; i++)
		if (field[i] != '\0' && field[i] != ' ')
			return -EINVAL;
	*ret = value;
	return 0;
}

static int
checksum_valid(const unsigned char *block)
{
	uint64_t stored, sum = 0;

	if (octal_field(block + F_CHKSUM, F_CHKSUM_LEN, &stored) < 0)
		return false;
	for (size_t i = 0; i < BLOCK; i++)
		sum += (i >= F_CHKSUM && i < F_CHKSUM + F_CHKSUM_LEN) ? ' ' : block[i];
	return sum == stored;
}

/* Copy a field that may fill its whole length without a NUL. */
static size_t
field_copy(const unsigned char *field, size_t len, char *out)
{
	size_t n = strnlen((const char *)field, len);

	memcpy(out, field, n);
	out[n] = '\0';
	return n;
}

/* The entry's path from the ustar name and prefix fields. */
static void
ustar_path(const unsigned char *block, char out[F_PREFIX_LEN + 1 + F_NAME_LEN + 1])
{
	size_t n = field_copy(block + F_PREFIX, F_PREFIX_LEN, out);

	if (n > 0)
		out[n++] = '/';
	field_copy(block + F_NAME, F_NAME_LEN, out + n);
}

static const char *
type_name(unsigned char type)
{
	switch (type) {
	case '1': return "a hard link";
	case '2': return "a symbolic link";
	case '3': return "a character device";
	case '4': return "a block device";
	case '5': return "a directory";
	case '6': return "a FIFO";
	case '7': return "a contiguous file";
	case 'g': return "a global pax header";
	case 'L': return "a GNU long name header";
	case 'K': return "a GNU long link name header";
	case 'S': return "a GNU sparse file";
	case '\0': return "an old-style regular file (type NUL)";
	default: return "an unknown entry type";
	}
}

/* Parse a decimal number of at most 19 digits with no sign. */
static int
decimal(const char *text, size_t len, uint64_t *ret)
{
	uint64_t value = 0;

	if (len == 0 || len > 19)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -EINVAL;
		value = value * 10 + (uint64_t)(text[i] - '0');
	}
	*ret = value;
	return 0;
}

static bool
pax_key_ignored(const char *key, size_t len)
{
	static const char *const ignored[] = { "mtime", "atime", "ctime", "uid", "gid",
					       "uname", "gname" };

	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		if (strlen(ignored[i]) == len && memcmp(ignored[i], key, len) == 0)
			return true;
	return false;
}

/* Apply one record "key=value" (without its length and newline). */
static int
pax_record(struct pax *pax, const char *rec, size_t len, uint64_t at, char *err, size_t errlen)
{
	const char *eq = memchr(rec, '=', len);
	size_t klen, vlen;
	const char *value;

	if (eq == NULL || eq == rec)
		return err_set(-EBADMSG, err, errlen, "pax header at byte %llu: a record has "
			       "no key=value", (unsigned long long)at);
	klen = (size_t)(eq - rec);
	value = eq + 1;
	vlen = len - klen - 1;

	if (klen == 4 && memcmp(rec, "path", 4) == 0) {
		if (pax->have_path || vlen == 0 || vlen >= BUNDLE_PATH_SIZE ||
		    memchr(value, '\0', vlen) != NULL)
			return err_set(-EBADMSG, err, errlen, "pax header at byte %llu: the "
				       "path record is repeated, empty, longer than %d bytes "
				       "or holds a NUL", (unsigned long long)at,
				       BUNDLE_PATH_SIZE - 1);
		memcpy(pax->path, value, vlen);
		pax->path[vlen] = '\0';
		pax->have_path = true;
		return 0;
	}
	if (klen == 4 && memcmp(rec, "size", 4) == 0) {
		if (pax->have_size || decimal(value, vlen, &pax->size) < 0)
			return err_set(-EBADMSG, err, errlen, "pax header at byte %llu: the "
				       "size record is repeated or not a decimal number",
				       (unsigned long long)at);
		pax->have_size = true;
		return 0;
	}
	if (pax_key_ignored(rec, klen))
		return 0;
	return err_set(-EBADMSG, err, errlen, "pax header at byte %llu: record \"%.*s\" is not "
		       "accepted in a bundle", (unsigned long long)at,
		       (int)(klen > 64 ? 64 : klen), rec);
}

/* Parse a pax extended header's records: "LENGTH key=value\n", LENGTH counting all. */
static int
pax_parse(struct pax *pax, const char *data, size_t len, uint64_t at, char *err,
	  size_t errlen)
{
	size_t pos = 0;

	while (pos < len) {
		const char *space = memchr(data + pos, ' ', len - pos);
		uint64_t rec_len;
		size_t digits;
		int rc;

		if (space == NULL)
			return err_set(-EBADMSG, err, errlen, "pax header at byte %llu: a "
				       "record has no length", (unsigned long long)at);
		digits = (size_t)(space - (data + pos));
		if (decimal(data + pos, digits, &rec_len) < 0 || rec_len < digits + 3 ||
		    rec_len > len - pos || data[pos + rec_len - 1] != '\n')
			return err_set(-EBADMSG, err, errlen, "pax header at byte %llu: a "
				       "record length is not a number, or does not end at a "
				       "newline inside the header", (unsigned long long)at);
		rc = pax_record(pax, data + pos + digits + 1, rec_len - digits - 2, at, err,
				errlen);
		if (rc < 0)
			return rc;
		pos += rec_len;
	}
	return 0;
}

/* After the first zero block: the second one, then at most a trailer of zeros. */
static int
end_check(struct tar_reader *tr, char *err, size_t errlen)
{
	unsigned char tail[BUNDLE_TRAILER_MAX + 1];
	uint64_t end = tr->pos - BLOCK;
	ssize_t n;

	n = read_exact(tr, tail, BLOCK, err, errlen);
	if (n < 0)
		return (int)n;
	if (n < BLOCK)
		return err_set(-EBADMSG, err, errlen, "the archive is truncated: its end at "
			       "byte %llu has one zero block, not two", (unsigned long long)end);
	if (!all_zero(tail, BLOCK))
		return err_set(-EBADMSG, err, errlen, "the archive has a zero block at byte "
			       "%llu followed by more entries", (unsigned long long)end);

	n = read_exact(tr, tail, sizeof(tail), err, errlen);
	if (n < 0)
		return (int)n;
	if (!all_zero(tail, (size_t)n) || (size_t)n > BUNDLE_TRAILER_MAX)
		return err_set(-EBADMSG, err, errlen, "the archive has data after its end at "
			       "byte %llu", (unsigned long long)(end + 2 * BLOCK));
	tr->ended = true;
	return 0;
}

/* Read a pax header's data (already checked to be at most PAX_MAX) and parse it. */
static int
pax_read(struct tar_reader *tr, struct pax *pax, uint64_t size, uint64_t at, char *err,
	 size_t errlen)
{
	char *data;
	ssize_t n;
	int rc;

	data = malloc(size + 1);
	if (data == NULL)
		return -ENOMEM;
	n = read_exact(tr, data, (size_t)size, err, errlen);
	if (n >= 0 && (uint64_t)n < size)
		n = err_set(-EBADMSG, err, errlen, "the archive is truncated inside the pax "
			    "header at byte %llu", (unsigned long long)at);
	rc = n < 0 ? (int)n : pax_parse(pax, data, (size_t)size, at, err, errlen);
	free(data);
	snprintf(tr->path, sizeof(tr->path), "(the pax header at byte %llu)",
		 (unsigned long long)at);
	if (rc == 0)
		rc = skip_padding(tr, (BLOCK - size % BLOCK) % BLOCK, err, errlen);
	return rc;
}

/* Read one header block. Returns 1, 0 for a zero block, or a negative errno. */
static int
header_read(struct tar_reader *tr, unsigned char *block, char *err, size_t errlen)
{
	char name[F_PREFIX_LEN + 1 + F_NAME_LEN + 1];
	uint64_t at = tr->pos;
	ssize_t n = read_exact(tr, block, BLOCK, err, errlen);

	if (n < 0)
		return (int)n;
	if (n == 0)
		return err_set(-EBADMSG, err, errlen, "the archive is truncated: it ends at byte "
			       "%llu without the end-of-archive blocks", (unsigned long long)at);
	if (n < BLOCK)
		return err_set(-EBADMSG, err, errlen, "the archive is truncated inside the "
			       "header at byte %llu", (unsigned long long)at);
	if (all_zero(block, BLOCK))
		return 0;
	/*
	 * A file that does not even start with a tar header is not a bundle, and its bytes
	 * may be anything the reader can open, so the message quotes none of them.
	 */
	if (at == 0 && (!checksum_valid(block) || memcmp(block + F_MAGIC, "ustar\0", 6) != 0))
		return err_set(-EBADMSG, err, errlen, "the file is not a bundle: it starts with "
			       "neither a POSIX tar header nor zstd data");
	ustar_path(block, name);
	if (!checksum_valid(block))
		return err_set(-EBADMSG, err, errlen, "the header of entry %s at byte %llu has a "
			       "bad checksum; the file is corrupt or not a tar archive", name,
			       (unsigned long long)at);
	if (memcmp(block + F_MAGIC, "ustar\0", 6) != 0 ||
	    memcmp(block + F_VERSION, "00", 2) != 0)
		return err_set(-EBADMSG, err, errlen, "the header of entry %s at byte %llu is not "
			       "a POSIX ustar header (a GNU or old tar format?); bundles are pax "
			       "archives", name, (unsigned long long)at);
	return 1;
}

int
tar_next(struct tar_reader *tr, struct tar_entry *entry, char *err, size_t errlen)
{
	char ustar[F_PREFIX_LEN + 1 + F_NAME_LEN + 1];
	unsigned char block[BLOCK];
	struct pax pax = { 0 };
	bool have_pax = false;
	const char *name;
	size_t len;
	uint64_t size, at;
	int rc;

	if (tr->ended)
		return 0;
	rc = skip(tr, tr->left, err, errlen);
	if (rc == 0)
		rc = skip_padding(tr, tr->pad, err, errlen);
	if (rc < 0)
		return rc;
	tr->left = tr->pad = 0;

	for (;;) {
		at = tr->pos;
		rc = header_read(tr, block, err, errlen);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			if (have_pax)
				return err_set(-EBADMSG, err, errlen, "the pax header before "
					       "byte %llu applies to no entry",
					       (unsigned long long)at);
			rc = end_check(tr, err, errlen);
			return rc < 0 ? rc : 0;
		}
		ustar_path(block, ustar);
		if (octal_field(block + F_SIZE, F_SIZE_LEN, &size) < 0)
			return err_set(-EBADMSG, err, errlen, "entry %s at byte %llu: the size "
				       "field is not octal (base-256 sizes are not accepted; "
				       "use a pax size record)", ustar, (unsigned long long)at);
		if (block[F_TYPE] == '0')
			break;
		if (block[F_TYPE] != 'x')
			return err_set(-EBADMSG, err, errlen, "entry %s at byte %llu is %s; a "
				       "bundle holds only regular files", ustar,
				       (unsigned long long)at, type_name(block[F_TYPE]));
		if (have_pax)
			return err_set(-EBADMSG, err, errlen, "the pax header at byte %llu "
				       "follows another one", (unsigned long long)at);
		if (size > PAX_MAX)
			return err_set(-EBADMSG, err, errlen, "the pax header at byte %llu "
				       "claims %llu bytes; the limit is %d",
				       (unsigned long long)at, (unsigned long long)size, PAX_MAX);
		rc = pax_read(tr, &pax, size, at, err, errlen);
		if (rc < 0)
			return rc;
		have_pax = true;
	}

	if (pax.have_size)
		size = pax.size;
	name = pax.have_path ? pax.path : ustar;
	len = strnlen(name, sizeof(tr->path));
	memcpy(tr->path, name, len);
	tr->path[len < sizeof(tr->path) ? len : sizeof(tr->path) - 1] = '\0';
	if (len == sizeof(tr->path) || bundle_path_check(tr->path) < 0)
		return err_set(-EBADMSG, err, errlen, "entry %s at byte %llu: invalid path; "
			       "paths are relative, with components of A-Z a-z 0-9 . _ - + "
			       "that do not start with a dot", tr->path, (unsigned long long)at);

	memcpy(entry->path, tr->path, sizeof(entry->path));
	entry->size = size;
	entry->offset = at;
	entry->data_offset = tr->pos;
	tr->left = size;
	tr->pad = (BLOCK - size % BLOCK) % BLOCK;
	return 1;
}

ssize_t
tar_read(struct tar_reader *tr, void *buf, size_t len, char *err, size_t errlen)
{
	ssize_t n;

	if (tr->left == 0)
		return 0;
	if (len > tr->left)
		len = (size_t)tr->left;
	n = bundle_source_read(tr->src, buf, len, err, errlen);
	if (n < 0)
		return n;
	if (n == 0)
		return err_set(-EBADMSG, err, errlen, "entry %s: the archive is truncated with "
			       "%llu bytes of it missing", tr->path,
			       (unsigned long long)tr->left);
	tr->pos += (uint64_t)n;
	tr->left -= (uint64_t)n;
	return n;
}
