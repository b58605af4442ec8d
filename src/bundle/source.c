/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bytes of a bundle file, decompressed on the fly when the file starts with the
 * magic number of a zstd frame or of a skippable frame. The decompressor's window is
 * capped, so a hostile frame cannot make the reader allocate more than about 16 MiB.
 *
 * With a seek table (frames.c), a compressed source reads span by span: zstd gets one
 * span's bytes at a time, and a zstd frame must end where the table puts the span's
 * end, after the table's count of bytes. A skip that starts and ends on frame
 * boundaries moves to the frame instead of decompressing what lies between. A source may also cover only
 * some frames, so that several threads each decompress an entry of their own.
 */
#include "bundle/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>
#include <zstd_errors.h>

/* 2^24 bytes: `bundle create` writes level 3 frames, whose window is at most 2^21. */
#define ZSTD_WINDOW_LOG_MAX 24

static const unsigned char zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

/*
 * True when a file starts as zstd data: a zstd frame, or a skippable frame (magic
 * numbers 0x184D2A50 to 0x184D2A5F, little-endian), as pzstd writes first.
 */
static bool
zstd_start(const unsigned char head[4])
{
	return memcmp(head, zstd_magic, sizeof(zstd_magic)) == 0 ||
	       ((head[0] & 0xf0) == 0x50 && head[1] == 0x2a && head[2] == 0x4d && head[3] == 0x18);
}

struct bundle_source {
	int fd;                      /* not owned */
	uint64_t file_bytes;
	bool eof;                    /* the file has no more bytes */
	bool seekable;               /* an uncompressed regular file */
	ZSTD_DCtx *dctx;             /* owned; NULL for a plain tar */
	ZSTD_inBuffer in;
	unsigned char *in_buf;       /* owned */
	size_t in_cap;
	size_t frame_left;           /* last ZSTD_decompressStream hint; 0 between frames */
	/* Framed reading, when frames is set. */
	const struct bundle_frames *frames;  /* not owned */
	size_t frame;                /* the first frame of the span being decoded */
	size_t frame_end;            /* the stream ends before this frame */
	bool whole_range;            /* one span up to frame_end, else a frame at a time */
	uint64_t frame_in_left;      /* bytes of the span not yet given to zstd */
	uint64_t frame_out;          /* bytes decoded from the span so far */
	uint64_t next_in;            /* file offset of the next byte to read */
	unsigned char head[4];       /* plain tar: the bytes read to detect the format */
	size_t head_len;
	size_t head_pos;
};

ssize_t
bundle_read_full(int fd, void *buf, size_t len, int64_t offset)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = offset < 0 ? read(fd, (char *)buf + done, len - done) :
					 pread(fd, (char *)buf + done, len - done,
					       (off_t)offset + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Set up zstd decompression with the capped window. Returns 0 or -ENOMEM. */
static int
decoder_new(struct bundle_source *src)
{
	src->dctx = ZSTD_createDCtx();
	src->in_cap = ZSTD_DStreamInSize();
	src->in_buf = malloc(src->in_cap);
	if (src->dctx == NULL || src->in_buf == NULL ||
	    ZSTD_isError(ZSTD_DCtx_setParameter(src->dctx, ZSTD_d_windowLogMax,
						ZSTD_WINDOW_LOG_MAX)))
		return -ENOMEM;
	return 0;
}

int
bundle_source_open(int fd, struct bundle_source **ret, char *err, size_t errlen)
{
	struct bundle_source *src;
	struct stat st;
	ssize_t n;

	src = calloc(1, sizeof(*src));
	if (src == NULL)
		return -ENOMEM;
	src->fd = fd;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	n = bundle_read_full(fd, src->head, sizeof(src->head), -1);
	if (n < 0) {
		free(src);
		return err_set((int)n, err, errlen, "cannot read the bundle: %s",
			       strerror((int)-n));
	}
	src->file_bytes = (uint64_t)n;
	src->head_len = (size_t)n;
	if ((size_t)n < sizeof(src->head))
		src->eof = true;
	if ((size_t)n < sizeof(zstd_magic) || !zstd_start(src->head)) {
		src->seekable = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
		*ret = src;
		return 0;
	}

	if (decoder_new(src) < 0) {
		bundle_source_free(src);
		return -ENOMEM;
	}
	/* The magic number is the start of the first frame, skippable or not. */
	memcpy(src->in_buf, src->head, sizeof(src->head));
	src->in = (ZSTD_inBuffer){ .src = src->in_buf, .size = sizeof(src->head), .pos = 0 };
	src->head_len = 0;
	src->frame_left = 1;
	*ret = src;
	return 0;
}

static ssize_t
plain_read(struct bundle_source *src, void *buf, size_t len, char *err, size_t errlen)
{
	ssize_t n;

	if (src->head_pos < src->head_len) {
		size_t take = src->head_len - src->head_pos;

		if (take > len)
			take = len;
		memcpy(buf, src->head + src->head_pos, take);
		src->head_pos += take;
		return (ssize_t)take;
	}
	if (src->eof)
		return 0;
	for (;;) {
		n = read(src->fd, buf, len);
		if (n >= 0)
			break;
		if (errno != EINTR)
			return err_set(-errno, err, errlen, "cannot read the bundle: %s",
				       strerror(errno));
	}
	if (n == 0)
		src->eof = true;
	src->file_bytes += (uint64_t)n;
	return n;
}

/*
 * Refill the zstd input buffer with up to `want` bytes, read at `offset`, or at the file
 * position when `offset` is negative. Returns bytes read, 0 at the end of the file, or
 * -errno.
 */
static ssize_t
zstd_refill(struct bundle_source *src, size_t want, int64_t offset, char *err, size_t errlen)
{
	ssize_t n = bundle_read_full(src->fd, src->in_buf, want, offset);

	if (n < 0)
		return err_set((int)n, err, errlen, "cannot read the bundle: %s",
			       strerror((int)-n));
	if (n == 0)
		src->eof = true;
	if (offset >= 0)
		src->next_in = (uint64_t)offset + (uint64_t)n;
	src->file_bytes += (uint64_t)n;
	src->in = (ZSTD_inBuffer){ .src = src->in_buf, .size = (size_t)n, .pos = 0 };
	return n;
}

/* A message for a zstd error, at `at` in the file; returns -EBADMSG. */
static int
zstd_fail(size_t code, uint64_t at, char *err, size_t errlen)
{
	if (ZSTD_getErrorCode(code) == ZSTD_error_frameParameter_windowTooLarge)
		return err_set(-EBADMSG, err, errlen, "the bundle's zstd frame needs a window "
			       "larger than %d MiB; compress it again with bundle create --zstd",
			       1 << (ZSTD_WINDOW_LOG_MAX - 20));
	return err_set(-EBADMSG, err, errlen, "the bundle's zstd data is corrupt (found after "
		       "reading %llu bytes of the file): %s", (unsigned long long)at,
		       ZSTD_getErrorName(code));
}

static ssize_t
zstd_read(struct bundle_source *src, void *buf, size_t len, char *err, size_t errlen)
{
	ZSTD_outBuffer out = { .dst = buf, .size = len, .pos = 0 };

	while (out.pos == 0) {
		size_t hint;

		if (src->in.pos == src->in.size) {
			ssize_t n;

			if (src->eof)
				break;
			n = zstd_refill(src, src->in_cap, -1, err, errlen);
			if (n < 0)
				return n;
			if (n == 0)
				break;
		}
		hint = ZSTD_decompressStream(src->dctx, &out, &src->in);
		if (ZSTD_isError(hint))
			return zstd_fail(hint, src->file_bytes, err, errlen);
		src->frame_left = hint;
	}
	if (out.pos == 0 && src->frame_left != 0)
		return err_set(-EBADMSG, err, errlen, "the bundle's zstd data ends in the "
			       "middle of a frame after %llu bytes: the file is truncated",
			       (unsigned long long)src->file_bytes);
	return (ssize_t)out.pos;
}

/*********************************************************************************
 * Framed reading, with a seek table
 */

/*
 * The frame after the span that starts at `index`. A span is one frame of the table,
 * or for a range all of its frames. Only a span's ends must be zstd frame boundaries,
 * so a lane needs only its range's ends to match the table.
 */
static size_t
span_end(const struct bundle_source *src, size_t index)
{
	return src->whole_range ? src->frame_end : index + 1;
}

/* Start decoding the span that starts at frame `index`, whose first byte is read next. */
static void
frame_start(struct bundle_source *src, size_t index)
{
	const struct bundle_frames *f = src->frames;

	src->frame = index;
	src->frame_out = 0;
	src->frame_in_left = index < src->frame_end ?
			     f->in[span_end(src, index)] - f->in[index] : 0;
	ZSTD_DCtx_reset(src->dctx, ZSTD_reset_session_only);
}

static int
frame_mismatch(struct bundle_source *src, char *err, size_t errlen)
{
	return err_set(-EBADMSG, err, errlen, "the zstd data from frame %zu does not match "
		       "the seek table at the end of the file; the seek table or the data is "
		       "damaged", src->frame);
}

/*
 * Give zstd the current span's next bytes, at most what `out` has room for. Moves to
 * the next span when this one ends where the table puts its end. Returns 0 or < 0.
 */
static int
frame_step(struct bundle_source *src, ZSTD_outBuffer *out, char *err, size_t errlen)
{
	const struct bundle_frames *f = src->frames;
	size_t next = span_end(src, src->frame);
	uint64_t expected = f->out[next] - f->out[src->frame];
	size_t before_in, before_out, hint;
	ZSTD_inBuffer view;

	/* Reads stop at the span's end: after a skip, what follows is not needed. */
	if (src->in.pos == src->in.size && src->frame_in_left > 0) {
		size_t want = src->frame_in_left < src->in_cap ? (size_t)src->frame_in_left :
								 src->in_cap;
		ssize_t n = zstd_refill(src, want, (int64_t)src->next_in, err, errlen);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return err_set(-EBADMSG, err, errlen, "the bundle ends inside zstd frame "
				       "%zu: the file is truncated", src->frame);
	}
	/* zstd gets no byte past the span, so a frame longer than the table's is caught. */
	view = src->in;
	if (view.size - view.pos > src->frame_in_left)
		view.size = view.pos + (size_t)src->frame_in_left;
	before_in = view.pos;
	before_out = out->pos;
	hint = ZSTD_decompressStream(src->dctx, out, &view);
	if (ZSTD_isError(hint))
		return zstd_fail(hint, src->next_in - (src->in.size - view.pos), err, errlen);
	src->in.pos = view.pos;
	src->frame_in_left -= view.pos - before_in;
	src->frame_out += out->pos - before_out;
	if (src->frame_out > expected)
		return frame_mismatch(src, err, errlen);
	/* hint 0: a zstd frame ended. Within a span, the next one follows. */
	if (hint == 0 && src->frame_in_left == 0) {
		if (src->frame_out != expected)
			return frame_mismatch(src, err, errlen);
		frame_start(src, next);
	} else if (src->frame_in_left == 0 && view.pos == before_in && out->pos == before_out) {
		/* The span needs more bytes than the table gives it. */
		return frame_mismatch(src, err, errlen);
	}
	return 0;
}

static ssize_t
framed_read(struct bundle_source *src, void *buf, size_t len, char *err, size_t errlen)
{
	ZSTD_outBuffer out = { .dst = buf, .size = len, .pos = 0 };

	while (out.pos == 0 && src->frame < src->frame_end) {
		int rc = frame_step(src, &out, err, errlen);

		if (rc < 0)
			return rc;
	}
	return (ssize_t)out.pos;
}

/* Read what is left of a frame whose bytes have all been decoded, up to its end. */
static int
frame_finish(struct bundle_source *src, char *err, size_t errlen)
{
	size_t frame = src->frame;
	unsigned char scratch[1];

	while (src->frame == frame) {
		ZSTD_outBuffer out = { .dst = scratch, .size = sizeof(scratch), .pos = 0 };
		int rc = frame_step(src, &out, err, errlen);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * Skip `len` bytes by moving to the frame where they end. Both ends must be frame
 * boundaries, else -ESPIPE: the caller reads the stream in order instead.
 */
static int
framed_skip(struct bundle_source *src, uint64_t len, char *err, size_t errlen)
{
	const struct bundle_frames *f = src->frames;
	ssize_t target;
	int rc;

	if (src->frame < src->frame_end && src->frame_out > 0 &&
	    src->frame_out == f->out[src->frame + 1] - f->out[src->frame]) {
		rc = frame_finish(src, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (src->frame_out > 0 || src->frame >= src->frame_end ||
	    src->frame_in_left != f->in[src->frame + 1] - f->in[src->frame])
		return -ESPIPE;
	target = bundle_frames_find(f, f->out[src->frame] + len);
	if (target < 0 || (size_t)target > src->frame_end)
		return -ESPIPE;
	src->next_in = f->base + f->in[target];
	src->in = (ZSTD_inBuffer){ .src = src->in_buf, .size = 0, .pos = 0 };
	frame_start(src, (size_t)target);
	return 0;
}

int
bundle_source_frames(struct bundle_source *src, const struct bundle_frames *frames)
{
	off_t at = lseek(src->fd, 0, SEEK_CUR);

	/* Only a source that has read nothing past the zstd magic number can switch. */
	if (src->dctx == NULL || at < 0 || (uint64_t)at != frames->base + src->in.size ||
	    src->in.pos != 0)
		return -EINVAL;
	src->frames = frames;
	src->frame_end = frames->count;
	src->next_in = (uint64_t)at;
	src->seekable = true;
	frame_start(src, 0);
	return 0;
}

int
bundle_source_open_frames(int fd, const struct bundle_frames *frames,
			  struct bundle_source **ret)
{
	struct bundle_source *src = calloc(1, sizeof(*src));

	if (src == NULL)
		return -ENOMEM;
	src->fd = fd;
	src->frames = frames;
	src->seekable = true;
	if (decoder_new(src) < 0) {
		bundle_source_free(src);
		return -ENOMEM;
	}
	*ret = src;
	return 0;
}

int
bundle_source_range(struct bundle_source *src, uint64_t offset, uint64_t len)
{
	const struct bundle_frames *f = src->frames;
	ssize_t first = bundle_frames_find(f, offset), end = bundle_frames_find(f, offset + len);

	if (first < 0 || end < first)
		return -ESPIPE;
	src->frame_end = (size_t)end;
	src->whole_range = true;
	src->next_in = f->base + f->in[first];
	src->in = (ZSTD_inBuffer){ .src = src->in_buf, .size = 0, .pos = 0 };
	frame_start(src, (size_t)first);
	return 0;
}

ssize_t
bundle_source_read(struct bundle_source *src, void *buf, size_t len, char *err, size_t errlen)
{
	if (len == 0)
		return 0;
	if (src->frames != NULL)
		return framed_read(src, buf, len, err, errlen);
	return src->dctx != NULL ? zstd_read(src, buf, len, err, errlen)
				 : plain_read(src, buf, len, err, errlen);
}

int
bundle_source_skip(struct bundle_source *src, uint64_t len, uint64_t *ret_skipped, char *err,
		   size_t errlen)
{
	uint64_t skipped = 0, left;
	struct stat st;
	off_t at;

	if (!src->seekable)
		return -ESPIPE;
	if (src->frames != NULL) {
		int rc = framed_skip(src, len, err, errlen);

		if (rc == 0)
			*ret_skipped = len;
		return rc;
	}
	while (len > 0 && src->head_pos < src->head_len) {
		src->head_pos++;
		skipped++;
		len--;
	}
	at = lseek(src->fd, 0, SEEK_CUR);
	if (at < 0 || fstat(src->fd, &st) < 0)
		return err_set(-errno, err, errlen, "cannot read the bundle: %s", strerror(errno));
	/* A seek past the end succeeds, so the bytes left are computed from the file size. */
	left = st.st_size > at ? (uint64_t)(st.st_size - at) : 0;
	if (len > left) {
		len = left;
		src->eof = true;
	}
	if (len > 0 && lseek(src->fd, (off_t)len, SEEK_CUR) < 0)
		return err_set(-errno, err, errlen, "cannot read the bundle: %s", strerror(errno));
	skipped += len;
	*ret_skipped = skipped;
	return 0;
}

bool
bundle_source_seekable(const struct bundle_source *src)
{
	return src->seekable;
}

uint64_t
bundle_source_file_bytes(const struct bundle_source *src)
{
	return src->file_bytes;
}

bool
bundle_source_compressed(const struct bundle_source *src)
{
	return src->dctx != NULL;
}

struct bundle_source *
bundle_source_free(struct bundle_source *src)
{
	if (src == NULL)
		return NULL;
	ZSTD_freeDCtx(src->dctx);
	free(src->in_buf);
	free(src);
	return NULL;
}
