/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reproducible pax tar writer behind `bundle create`. Modes, owners and times are
 * fixed, pax records appear only when the ustar fields cannot hold a value, and the
 * archive is padded to whole 10,240-byte records. Compression is zstd level 3 on one
 * thread. So the same entries always give the same bytes.
 *
 * A compressed archive ends a zstd frame where each entry's data starts and where it
 * ends, and every BUNDLE_FRAME_DATA_MAX bytes within it, and a seek table after the
 * last frame lists them (frames.c). A loader can then find and decompress each
 * entry's data on its own.
 */
#include "bundle/bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#define BLOCK 512
#define RECORD 10240
#define OUT_BUF (1024 * 1024)
#define ZSTD_LEVEL 3
/* Largest size the 11 octal digits of a ustar size field hold. */
#define USTAR_SIZE_MAX 077777777777ULL
#define USTAR_NAME_MAX 100

struct tar_writer {
	int fd;                      /* not owned */
	uint64_t mtime;
	ZSTD_CCtx *cctx;             /* owned; NULL when not compressing */
	unsigned char *out;          /* owned; OUT_BUF bytes waiting for write(2) */
	size_t out_len;
	uint64_t tar_bytes;          /* tar stream bytes produced */
	uint64_t written;            /* bytes written to fd */
	uint64_t frame_start;        /* written + out_len where the current frame began */
	uint64_t frame_bytes;        /* tar stream bytes in the current frame */
	struct buf seek;             /* the seek table's entries */
	bool seek_full;              /* too many frames for a table: the file has none */
	uint64_t left;               /* bytes the current entry still expects */
	char path[BUNDLE_PATH_SIZE]; /* the current entry, for errors */
};

static int
flush_out(struct tar_writer *tw, char *err, size_t errlen)
{
	int rc = write_all(tw->fd, tw->out, tw->out_len);

	if (rc < 0)
		return err_set(rc, err, errlen, "cannot write the bundle: %s", strerror(-rc));
	tw->written += tw->out_len;
	tw->out_len = 0;
	return 0;
}

/* Copy bytes to the output buffer as they are. */
static int
out_append(struct tar_writer *tw, const void *data, size_t len, char *err, size_t errlen)
{
	size_t done = 0;
	int rc;

	while (done < len) {
		size_t take = len - done;

		if (take > OUT_BUF - tw->out_len)
			take = OUT_BUF - tw->out_len;
		memcpy(tw->out + tw->out_len, (const char *)data + done, take);
		tw->out_len += take;
		done += take;
		if (tw->out_len == OUT_BUF && (rc = flush_out(tw, err, errlen)) < 0)
			return rc;
	}
	return 0;
}

/* Compress `len` bytes into the output buffer; ZSTD_e_end also ends the frame. */
static int
compress(struct tar_writer *tw, const void *data, size_t len, ZSTD_EndDirective mode,
	 char *err, size_t errlen)
{
	ZSTD_inBuffer in = { .src = data, .size = len, .pos = 0 };
	int rc;

	for (;;) {
		ZSTD_outBuffer out = { .dst = tw->out, .size = OUT_BUF, .pos = tw->out_len };
		size_t remaining = ZSTD_compressStream2(tw->cctx, &out, &in, mode);

		if (ZSTD_isError(remaining))
			return err_set(-EIO, err, errlen, "zstd cannot compress the bundle: %s",
				       ZSTD_getErrorName(remaining));
		tw->out_len = out.pos;
		if (tw->out_len == OUT_BUF && (rc = flush_out(tw, err, errlen)) < 0)
			return rc;
		if (in.pos == in.size && (mode != ZSTD_e_end || remaining == 0))
			return 0;
	}
}

/* End the current zstd frame, unless it is empty, and add it to the seek table. */
static int
frame_end(struct tar_writer *tw, char *err, size_t errlen)
{
	int rc;

	if (tw->cctx == NULL || tw->frame_bytes == 0)
		return 0;
	rc = compress(tw, NULL, 0, ZSTD_e_end, err, errlen);
	if (rc < 0)
		return rc;
	if (!tw->seek_full && bundle_frames_add(&tw->seek, tw->written + tw->out_len -
						tw->frame_start, tw->frame_bytes) < 0) {
		tw->seek_full = true;
		buf_free(&tw->seek);
	}
	tw->frame_start = tw->written + tw->out_len;
	tw->frame_bytes = 0;
	return 0;
}

/* Compress (or copy) `len` bytes of tar stream into the output buffer. */
static int
emit(struct tar_writer *tw, const void *data, size_t len, char *err, size_t errlen)
{
	size_t done = 0;
	int rc;

	tw->tar_bytes += len;
	if (tw->cctx == NULL)
		return out_append(tw, data, len, err, errlen);
	while (done < len) {
		size_t take = len - done;

		if (take > BUNDLE_FRAME_DATA_MAX - tw->frame_bytes)
			take = (size_t)(BUNDLE_FRAME_DATA_MAX - tw->frame_bytes);
		rc = compress(tw, (const char *)data + done, take, ZSTD_e_continue, err, errlen);
		if (rc < 0)
			return rc;
		done += take;
		tw->frame_bytes += take;
		if (tw->frame_bytes == BUNDLE_FRAME_DATA_MAX && (rc = frame_end(tw, err, errlen)) < 0)
			return rc;
	}
	return 0;
}

int
tar_writer_new(int fd, bool zstd, uint64_t mtime, struct tar_writer **ret, char *err,
	       size_t errlen)
{
	struct tar_writer *tw = calloc(1, sizeof(*tw));

	if (tw == NULL)
		return -ENOMEM;
	tw->fd = fd;
	tw->mtime = mtime;
	buf_init(&tw->seek, (size_t)BUNDLE_FRAMES_MAX * 8);
	tw->out = malloc(OUT_BUF);
	if (tw->out == NULL)
		goto err_alloc;
	if (zstd) {
		tw->cctx = ZSTD_createCCtx();
		if (tw->cctx == NULL ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(tw->cctx, ZSTD_c_compressionLevel,
							ZSTD_LEVEL)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(tw->cctx, ZSTD_c_checksumFlag, 1)))
			goto err_alloc;
	}
	*ret = tw;
	return 0;

err_alloc:
	tar_writer_free(tw);
	return err_set(-ENOMEM, err, errlen, "out of memory starting the bundle");
}

/* Build a ustar header block with the fixed fields and its checksum. */
static void
header_build(unsigned char block[BLOCK], const char *name, uint64_t size, char type,
	     uint64_t mtime)
{
	unsigned sum = 0;

	memset(block, 0, BLOCK);
	memcpy(block, name, strnlen(name, USTAR_NAME_MAX));
	snprintf((char *)block + 100, 8, "%07o", 0644);
	snprintf((char *)block + 108, 8, "%07o", 0);
	snprintf((char *)block + 116, 8, "%07o", 0);
	snprintf((char *)block + 124, 12, "%011llo",
		 (unsigned long long)(size <= USTAR_SIZE_MAX ? size : 0));
	snprintf((char *)block + 136, 12, "%011llo",
		 (unsigned long long)(mtime <= USTAR_SIZE_MAX ? mtime : 0));
	memset(block + 148, ' ', 8);
	block[156] = (unsigned char)type;
	memcpy(block + 257, "ustar", 6);
	memcpy(block + 263, "00", 2);
	for (size_t i = 0; i < BLOCK; i++)
		sum += block[i];
	snprintf((char *)block + 148, 8, "%06o", sum);
	block[155] = ' ';
}

/* Zero bytes up to the next multiple of `unit` in the tar stream. */
static int
pad_to(struct tar_writer *tw, uint64_t unit, char *err, size_t errlen)
{
	static const unsigned char zeros[BLOCK];
	uint64_t n = (unit - tw->tar_bytes % unit) % unit;
	int rc = 0;

	while (n > 0 && rc == 0) {
		size_t take = n < BLOCK ? (size_t)n : BLOCK;

		rc = emit(tw, zeros, take, err, errlen);
		n -= take;
	}
	return rc;
}

/* Append one pax record "LEN key=value\n", where LEN counts its own digits too. */
static int
pax_append(struct buf *pax, const char *key, const char *value)
{
	size_t body = strlen(key) + strlen(value) + 3; /* ' ', '=', '\n' */
	size_t len = body + 1;

	while (len != body + (size_t)snprintf(NULL, 0, "%zu", len))
		len = body + (size_t)snprintf(NULL, 0, "%zu", len);
	return buf_printf(pax, "%zu %s=%s\n", len, key, value);
}

int
tar_begin(struct tar_writer *tw, const char *path, uint64_t size, char *err, size_t errlen)
{
	unsigned char block[BLOCK];
	char size_text[24];
	struct buf pax;
	int rc;

	if (tw->left != 0)
		return err_set(-EINVAL, err, errlen, "entry %s: %llu bytes were not written",
			       tw->path, (unsigned long long)tw->left);
	if (bundle_path_check(path) < 0)
		return err_set(-EINVAL, err, errlen, "invalid path in a bundle: %s", path);
	rc = frame_end(tw, err, errlen);
	if (rc == 0)
		rc = pad_to(tw, BLOCK, err, errlen);
	if (rc < 0)
		return rc;

	buf_init(&pax, 4096);
	if (strlen(path) > USTAR_NAME_MAX)
		rc = pax_append(&pax, "path", path);
	if (rc == 0 && size > USTAR_SIZE_MAX) {
		snprintf(size_text, sizeof(size_text), "%llu", (unsigned long long)size);
		rc = pax_append(&pax, "size", size_text);
	}
	if (rc == 0 && pax.len > 0) {
		header_build(block, "PaxHeader", pax.len, 'x', tw->mtime);
		rc = emit(tw, block, BLOCK, err, errlen);
		if (rc == 0)
			rc = emit(tw, pax.data, pax.len, err, errlen);
		if (rc == 0)
			rc = pad_to(tw, BLOCK, err, errlen);
	}
	buf_free(&pax);
	if (rc < 0)
		return rc;

	header_build(block, path, size, '0', tw->mtime);
	rc = emit(tw, block, BLOCK, err, errlen);
	if (rc == 0)
		rc = frame_end(tw, err, errlen);
	if (rc < 0)
		return rc;
	snprintf(tw->path, sizeof(tw->path), "%s", path);
	tw->left = size;
	return 0;
}

int
tar_write(struct tar_writer *tw, const void *data, size_t len, char *err, size_t errlen)
{
	if (len > tw->left)
		return err_set(-EINVAL, err, errlen, "entry %s: more bytes than its size; the "
			       "file changed while the bundle was written", tw->path);
	tw->left -= len;
	return emit(tw, data, len, err, errlen);
}

static int
seek_table_write(struct tar_writer *tw, char *err, size_t errlen)
{
	struct buf table;
	int rc;

	buf_init(&table, tw->seek.len + 64);
	rc = bundle_frames_encode(&tw->seek, &table);
	if (rc < 0)
		rc = err_set(rc, err, errlen, "out of memory writing the seek table");
	else
		rc = out_append(tw, table.data, table.len, err, errlen);
	buf_free(&table);
	return rc;
}

int
tar_writer_finish(struct tar_writer *tw, char *err, size_t errlen)
{
	static const unsigned char zeros[2 * BLOCK];
	int rc;

	if (tw->left != 0)
		return err_set(-EINVAL, err, errlen, "entry %s: %llu bytes were not written; "
			       "the file changed while the bundle was written", tw->path,
			       (unsigned long long)tw->left);
	rc = frame_end(tw, err, errlen);
	if (rc == 0)
		rc = pad_to(tw, BLOCK, err, errlen);
	if (rc == 0)
		rc = emit(tw, zeros, sizeof(zeros), err, errlen);
	if (rc == 0)
		rc = pad_to(tw, RECORD, err, errlen);
	if (rc == 0)
		rc = frame_end(tw, err, errlen);
	if (rc == 0 && tw->cctx != NULL && !tw->seek_full)
		rc = seek_table_write(tw, err, errlen);
	if (rc == 0)
		rc = flush_out(tw, err, errlen);
	return rc;
}

struct tar_writer *
tar_writer_free(struct tar_writer *tw)
{
	if (tw == NULL)
		return NULL;
	ZSTD_freeCCtx(tw->cctx);
	buf_free(&tw->seek);
	free(tw->out);
	free(tw);
	return NULL;
}
