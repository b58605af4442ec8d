/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/bundle: the manifest rules, versions and paths, keys and
 * signatures, the tar writer, and the walk over hostile archives built byte by byte.
 * Each hostile archive must be rejected with an error that names the entry and the
 * reason.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zstd.h>

#include "bundle/bundle.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BLOCK 512

/* A key pair in a temporary folder, made once for the whole run. */
static char key_dir[] = "/tmp/outpost-bundle-test-XXXXXX";
static char key_path[300], pub_path[300];
static EVP_PKEY *sign_key;
static char sign_key_id[BUNDLE_KEY_ID_SIZE];

static const char kernel_data[] = "KERNEL";
static const char initrd_data[] = "INITRD-DATA";

/*********************************************************************************
 * Archive building blocks
 */

/* Append a ustar header; `size_field` overrides the octal size text when not NULL. */
static void
tar_header(struct buf *out, const char *name, uint64_t size, char type, const char *size_field)
{
	unsigned char h[BLOCK] = { 0 };
	unsigned sum = 0;

	memcpy(h, name, strnlen(name, 100));
	memcpy(h + 100, "0000644", 7);
	memcpy(h + 108, "0000000", 7);
	memcpy(h + 116, "0000000", 7);
	if (size_field != NULL)
		memcpy(h + 124, size_field, strnlen(size_field, 12));
	else
		snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	memcpy(h + 136, "00000000000", 11);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (size_t i = 0; i < BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	assert_int_equal(buf_append(out, h, BLOCK), 0);
}

/* Append data and pad it to a whole block. */
static void
tar_data(struct buf *out, const void *data, size_t len)
{
	static const unsigned char zeros[BLOCK];

	assert_int_equal(buf_append(out, data, len), 0);
	assert_int_equal(buf_append(out, zeros, (BLOCK - len % BLOCK) % BLOCK), 0);
}

static void
tar_file(struct buf *out, const char *name, const void *data, size_t len)
{
	tar_header(out, name, len, '0', NULL);
	tar_data(out, data, len);
}

static void
tar_end(struct buf *out)
{
	static const unsigned char zeros[2 * BLOCK];

	assert_int_equal(buf_append(out, zeros, sizeof(zeros)), 0);
}

static void
sha256_of(const void *data, size_t len, char hex[SHA256_HEX_SIZE])
{
	sha256_hex(data, len, hex);
}

/* The manifest of the standard test bundle: a/kernel and initrd. */
static char *
standard_manifest(size_t *len)
{
	struct bundle_file files[2] = { 0 };
	struct bundle_manifest m = {
		.format_version = BUNDLE_FORMAT_VERSION,
		.name = "test-os",
		.version = "1.0.0",
		.kind = BUNDLE_KIND_OS,
		.file_count = 2,
		.files = files,
	};
	char err[BUNDLE_ERR_SIZE];
	char *text;

	memcpy(m.key_id, sign_key_id, sizeof(m.key_id));
	snprintf(files[0].path, sizeof(files[0].path), "a/kernel");
	files[0].size = sizeof(kernel_data) - 1;
	sha256_of(kernel_data, files[0].size, files[0].sha256);
	files[0].role = BUNDLE_ROLE_KERNEL;
	snprintf(files[1].path, sizeof(files[1].path), "initrd");
	files[1].size = sizeof(initrd_data) - 1;
	sha256_of(initrd_data, files[1].size, files[1].sha256);
	files[1].role = BUNDLE_ROLE_INITRD;

	text = bundle_manifest_dump(&m, len, err, sizeof(err));
	assert_non_null(text);
	return text;
}

static void
manifest_entries(struct buf *out, const char *manifest, size_t len, bool corrupt_sig)
{
	char err[BUNDLE_ERR_SIZE];
	unsigned char sig[BUNDLE_SIG_BYTES];

	assert_int_equal(bundle_sign(sign_key, manifest, len, sig, err, sizeof(err)), 0);
	if (corrupt_sig)
		sig[10] ^= 0x01;
	tar_file(out, "manifest.json", manifest, len);
	tar_file(out, "manifest.sig", sig, sizeof(sig));
}

/*********************************************************************************
 * The walk over hostile archives
 */

enum mutation {
	MUT_NONE,
	MUT_NO_SIG,
	MUT_BAD_SIG,
	MUT_MANIFEST_NOT_FIRST,
	MUT_UNLISTED,
	MUT_MISSING,
	MUT_SIZE,
	MUT_HASH,
	MUT_ABSOLUTE,
	MUT_DOTDOT,
	MUT_SYMLINK,
	MUT_HARDLINK,
	MUT_CHARDEV,
	MUT_BLOCKDEV,
	MUT_DIRECTORY,
	MUT_FIFO,
	MUT_DUPLICATE,
	MUT_PAX_ABSURD,
	MUT_PAX_PATH,
	MUT_PAX_UNKNOWN,
	MUT_PAX_BAD_LENGTH,
	MUT_GNU_LONGNAME,
	MUT_TRUNCATED_DATA,
	MUT_TRUNCATED_END,
	MUT_ONE_ZERO_BLOCK,
	MUT_TRAILING_DATA,
	MUT_TRAILING_ZEROS,
	MUT_TOO_MANY_ZEROS,
	MUT_BIG_MANIFEST,
	MUT_FORMAT_VERSION,
	MUT_BAD_CHECKSUM,
	MUT_GNU_MAGIC,
	MUT_BASE256_SIZE,
	MUT_EMPTY,
	MUT_NONZERO_PADDING,
	MUT_CONTROL_PATH,
};

/* Append a pax header whose data is `records`. */
static void
pax_header(struct buf *out, const char *records)
{
	tar_header(out, "PaxHeader", strlen(records), 'x', NULL);
	tar_data(out, records, strlen(records));
}

static void
build_payload(struct buf *out, enum mutation mut)
{
	static const unsigned char zeros[20000];

	switch (mut) {
	case MUT_ABSOLUTE:
		tar_file(out, "/etc/passwd", kernel_data, sizeof(kernel_data) - 1);
		return;
	case MUT_DOTDOT:
		tar_file(out, "a/../initrd", initrd_data, sizeof(initrd_data) - 1);
		return;
	case MUT_SYMLINK:
	case MUT_HARDLINK:
	case MUT_CHARDEV:
	case MUT_BLOCKDEV:
	case MUT_DIRECTORY:
	case MUT_FIFO: {
		static const char types[] = { [MUT_SYMLINK] = '2', [MUT_HARDLINK] = '1',
					      [MUT_CHARDEV] = '3', [MUT_BLOCKDEV] = '4',
					      [MUT_DIRECTORY] = '5', [MUT_FIFO] = '6' };

		tar_header(out, "a", 0, types[mut], NULL);
		break;
	}
	case MUT_PAX_ABSURD:
		tar_header(out, "PaxHeader", 0, 'x', "07777777777");
		return;
	case MUT_PAX_UNKNOWN:
		pax_header(out, "17 linkpath=/etc\n");
		break;
	case MUT_PAX_BAD_LENGTH:
		pax_header(out, "99 path=initrd\n");
		break;
	case MUT_GNU_LONGNAME:
		tar_header(out, "././@LongLink", 1000000, 'L', NULL);
		return;
	case MUT_CONTROL_PATH:
		tar_file(out, "a\x1b[2Jb", kernel_data, sizeof(kernel_data) - 1);
		return;
	case MUT_BASE256_SIZE:
		tar_header(out, "a/kernel", 0, '0', "\x80\0\0\0\0\0\0\0\0\0\0\x06");
		return;
	default:
		break;
	}

	if (mut == MUT_SIZE)
		tar_header(out, "a/kernel", 5, '0', NULL), tar_data(out, kernel_data, 5);
	else if (mut == MUT_HASH)
		tar_file(out, "a/kernel", "KERNEX", 6);
	else
		tar_file(out, "a/kernel", kernel_data, sizeof(kernel_data) - 1);

	if (mut == MUT_PAX_PATH) {
		pax_header(out, "15 path=initrd\n");
		tar_file(out, "ignored-name", initrd_data, sizeof(initrd_data) - 1);
	} else if (mut != MUT_MISSING) {
		tar_file(out, "initrd", initrd_data, sizeof(initrd_data) - 1);
	}
	if (mut == MUT_UNLISTED)
		tar_file(out, "extra", "x", 1);
	if (mut == MUT_DUPLICATE)
		tar_file(out, "initrd", initrd_data, sizeof(initrd_data) - 1);

	if (mut == MUT_TRUNCATED_DATA) {
		out->len -= BLOCK - 4;
		return;
	}
	if (mut == MUT_TRUNCATED_END)
		return;
	if (mut == MUT_ONE_ZERO_BLOCK) {
		assert_int_equal(buf_append(out, zeros, BLOCK), 0);
		return;
	}
	tar_end(out);
	if (mut == MUT_TRAILING_DATA)
		assert_int_equal(buf_append(out, "\0\0\0x", 4), 0);
	if (mut == MUT_TRAILING_ZEROS)
		assert_int_equal(buf_append(out, zeros, BUNDLE_TRAILER_MAX), 0);
	if (mut == MUT_TOO_MANY_ZEROS)
		assert_int_equal(buf_append(out, zeros, sizeof(zeros)), 0);
}

/* The bytes of the standard bundle with one thing wrong. */
static void
build_bundle(struct buf *out, enum mutation mut)
{
	char *manifest;
	size_t len;

	buf_init(out, 64 * 1024 * 1024);
	if (mut == MUT_EMPTY) {
		tar_end(out);
		return;
	}
	manifest = standard_manifest(&len);
	if (mut == MUT_FORMAT_VERSION) {
		char *at = strstr(manifest, "\"format_version\":1");

		assert_non_null(at);
		at[strlen("\"format_version\":")] = '2';
	}
	if (mut == MUT_MANIFEST_NOT_FIRST)
		tar_file(out, "initrd", initrd_data, sizeof(initrd_data) - 1);
	if (mut == MUT_BIG_MANIFEST) {
		char *big = calloc(1, BUNDLE_MANIFEST_MAX + 1);

		assert_non_null(big);
		memset(big, ' ', BUNDLE_MANIFEST_MAX + 1);
		tar_file(out, "manifest.json", big, BUNDLE_MANIFEST_MAX + 1);
		free(big);
	} else if (mut == MUT_NO_SIG) {
		tar_file(out, "manifest.json", manifest, len);
	} else {
		manifest_entries(out, manifest, len, mut == MUT_BAD_SIG);
	}
	free(manifest);
	build_payload(out, mut);

	if (mut == MUT_NONZERO_PADDING)
		out->data[out->len - 2 * BLOCK - 1] = 'x';
	if (mut == MUT_BAD_CHECKSUM)
		out->data[BLOCK * 4 + 3] ^= 0x20;
	if (mut == MUT_GNU_MAGIC) {
		size_t at = out->len - 2 * BLOCK - 2 * BLOCK;

		/* The initrd header: "ustar  \0" is GNU tar's magic. Fix the checksum too. */
		memcpy(out->data + at + 257, "ustar  ", 8);
		memset(out->data + at + 148, ' ', 8);
		{
			unsigned sum = 0;

			for (size_t i = 0; i < BLOCK; i++)
				sum += (unsigned char)out->data[at + i];
			snprintf(out->data + at + 148, 8, "%06o", sum);
			out->data[at + 155] = ' ';
		}
	}
}

static int
memfd_with(const void *data, size_t len)
{
	int fd = memfd_create("bundle_test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* A pipe whose write end a thread fills with `data`, so that the walk reads a stream. */
struct feeder {
	int fd;                      /* the write end */
	const unsigned char *data;
	size_t len;
	pthread_t thread;
};

static void *
feeder_main(void *arg)
{
	struct feeder *f = arg;
	size_t done = 0;

	/* The walk may stop reading early; EPIPE then ends the feed (SIGPIPE is ignored). */
	while (done < f->len) {
		ssize_t n = write(f->fd, f->data + done, f->len - done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(f->fd);
	return NULL;
}

/* Start feeding `data` into a pipe; returns its read end. */
static int
feeder_start(struct feeder *f, const void *data, size_t len)
{
	int fds[2];

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	*f = (struct feeder){ .fd = fds[1], .data = data, .len = len };
	assert_int_equal(pthread_create(&f->thread, NULL, feeder_main, f), 0);
	return fds[0];
}

static struct bundle_keyring *
test_keyring(bool with_key)
{
	struct bundle_keyring *ring;
	char err[BUNDLE_ERR_SIZE];

	assert_int_equal(bundle_keyring_new(true, &ring), 0);
	if (with_key)
		assert_int_equal(bundle_keyring_add_file(ring, pub_path, err, sizeof(err)), 0);
	return ring;
}

/*
 * A sink that records each file's bytes, lends malloc'd buffers so that the walk hashes
 * on worker threads, and counts its begin and end calls. With `rendezvous`, an entry's
 * begin waits (up to 5 s) until two entries have begun, which only a walk that hashes
 * two entries at once on two lanes gets past in time.
 */
struct record_sink {
	const struct bundle_manifest *m; /* freed by a failed walk */
	size_t file_count;
	struct buf *files;           /* per manifest file */
	unsigned char *ended;        /* per manifest file */
	unsigned lanes_used;         /* bit per lane */
	bool saw_manifest;
	bool rendezvous;
	bool rendezvous_timed_out;
	unsigned begins;
	unsigned ends;
	pthread_t caller;            /* the thread that called bundle_walk */
	bool data_on_worker;         /* `data` ran on another thread */
	const struct bundle_file *current[BUNDLE_LANES_MAX];
	pthread_mutex_t lock;
	pthread_cond_t begun;
};

static int
rec_manifest(void *ctx, const struct bundle_manifest *m, char *err, size_t errlen)
{
	struct record_sink *s = ctx;

	(void)err, (void)errlen;
	s->saw_manifest = true;
	s->m = m;
	s->file_count = m->file_count;
	s->files = calloc(m->file_count, sizeof(*s->files));
	s->ended = calloc(m->file_count, 1);
	assert_non_null(s->files);
	assert_non_null(s->ended);
	for (size_t i = 0; i < m->file_count; i++)
		buf_init(&s->files[i], 64 * 1024 * 1024);
	return 0;
}

static int
rec_begin(void *ctx, unsigned lane, const struct bundle_file *f, char *err, size_t errlen)
{
	struct record_sink *s = ctx;
	struct timespec deadline;

	(void)err, (void)errlen;
	assert_true(s->saw_manifest);
	assert_true(lane < BUNDLE_LANES_MAX);
	s->current[lane] = f;
	pthread_mutex_lock(&s->lock);
	s->begins++;
	s->lanes_used |= 1u << lane;
	pthread_cond_broadcast(&s->begun);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	while (s->rendezvous && s->begins < 2 && !s->rendezvous_timed_out)
		if (pthread_cond_timedwait(&s->begun, &s->lock, &deadline) != 0)
			s->rendezvous_timed_out = true;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void *
rec_buffer(void *ctx, unsigned lane, char *err, size_t errlen)
{
	(void)ctx, (void)lane, (void)err, (void)errlen;
	return malloc(BUNDLE_CHUNK);
}

static int
rec_data(void *ctx, unsigned lane, const void *buf, size_t len, char *err, size_t errlen)
{
	struct record_sink *s = ctx;
	int rc = 0;

	(void)err, (void)errlen;
	if (!pthread_equal(pthread_self(), s->caller)) {
		pthread_mutex_lock(&s->lock);
		s->data_on_worker = true;
		pthread_mutex_unlock(&s->lock);
	}
	if (len > 0)
		rc = buf_append(&s->files[s->current[lane] - s->m->files], buf, len);
	free((void *)(uintptr_t)buf);
	return rc;
}

static int
rec_end(void *ctx, unsigned lane, const struct bundle_file *f, char *err, size_t errlen)
{
	struct record_sink *s = ctx;

	(void)err, (void)errlen;
	assert_ptr_equal(s->current[lane], f);
	pthread_mutex_lock(&s->lock);
	s->ends++;
	s->ended[f - s->m->files] = 1;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void
record_sink_init(struct record_sink *s, struct bundle_sink *sink, unsigned lanes)
{
	*s = (struct record_sink){ .caller = pthread_self() };
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->begun, NULL);
	*sink = (struct bundle_sink){ .begin = rec_begin, .data = rec_data, .end = rec_end,
				      .manifest = rec_manifest, .buffer = rec_buffer,
				      .lanes = lanes, .ctx = s };
}

static void
record_sink_free(struct record_sink *s)
{
	for (size_t i = 0; i < s->file_count; i++)
		buf_free(&s->files[i]);
	free(s->files);
	free(s->ended);
	pthread_cond_destroy(&s->begun);
	pthread_mutex_destroy(&s->lock);
}

/*
 * How a test walks a bundle. With no sink, or a sink of one lane that lends buffers,
 * the calling thread hashes. With a sink of two lanes over a pipe, one worker thread
 * hashes the stream. With a sink of two lanes over a regular file (a memfd), two
 * workers hash whole entries. WALK_FRAMES compresses the tar first, as `bundle create
 * --zstd` does, with a frame for each entry's data and a seek table, and two workers
 * each decompress and hash whole entries.
 */
enum walk_mode {
	WALK_INLINE,
	WALK_ONE_LANE,
	WALK_STREAM,
	WALK_PARALLEL,
	WALK_FRAMES,
};

static const char *const walk_mode_names[] = { "inline", "one lane", "stream", "parallel",
					       "frames" };

/* The octal size field of a ustar header; 0 when it is not octal. */
static uint64_t
header_size(const unsigned char *h)
{
	char field[13] = { 0 };

	memcpy(field, h + 124, 12);
	return strtoull(field, NULL, 8);
}

/* How zstd_framed cuts a tar into frames. */
enum framing {
	FRAMES_ENTRIES,              /* as `bundle create --zstd` does */
	FRAMES_WHOLE,                /* one frame for the whole tar */
	FRAMES_HALVES,               /* each entry's data in two frames, one in the table */
};

/*
 * Compress a tar with zstd and append the seek table. By default a frame ends where
 * each regular entry's data starts and where it ends, and `framing` can change that.
 */
static void
zstd_framed(const void *tar, size_t len, enum framing framing, struct buf *out)
{
	static const unsigned char zero_block[BLOCK];
	const unsigned char *bytes = tar;
	size_t cuts[256], count = 0, at = 0, start = 0, pending_in = 0, pending_out = 0;
	bool halves[256] = { false };
	struct buf entries;

	while (framing != FRAMES_WHOLE && at + BLOCK <= len && count + 4 < ARRAY_SIZE(cuts) &&
	       memcmp(bytes + at, zero_block, BLOCK) != 0) {
		uint64_t size = header_size(bytes + at);
		char type = (char)bytes[at + 156];

		at += BLOCK;
		if ((type == '0' || type == '\0') && size > 0 && size < len) {
			size_t end = at + size < len ? at + (size_t)size : len;

			cuts[count++] = at;
			/* The first half's frame goes into the table with the second's. */
			if (framing == FRAMES_HALVES && end - at >= 2) {
				halves[count] = true;
				cuts[count++] = at + (end - at) / 2;
			}
			cuts[count++] = end;
		}
		if (size >= len)
			break;
		at += ((size_t)size + BLOCK - 1) / BLOCK * BLOCK;
	}
	cuts[count++] = len;
	buf_init(out, 64 * 1024 * 1024);
	buf_init(&entries, 1024 * 1024);
	for (size_t i = 0; i < count; i++) {
		size_t part = cuts[i] - start, bound = ZSTD_compressBound(part), n;

		if (cuts[i] <= start)
			continue;
		assert_int_equal(buf_reserve(out, bound), 0);
		n = ZSTD_compress(out->data + out->len, bound, bytes + start, part, 3);
		assert_false(ZSTD_isError(n));
		out->len += n;
		pending_in += n;
		pending_out += part;
		start = cuts[i];
		if (halves[i])
			continue;
		assert_int_equal(bundle_frames_add(&entries, pending_in, pending_out), 0);
		pending_in = pending_out = 0;
	}
	assert_int_equal(bundle_frames_encode(&entries, out), 0);
	buf_free(&entries);
}

/* Open `data` as the walk in `mode` reads it: a pipe for the stream, else a memfd. */
static int
walk_input(const void *data, size_t len, enum walk_mode mode, struct feeder *f)
{
	struct buf framed;
	int fd;

	if (mode == WALK_STREAM)
		return feeder_start(f, data, len);
	if (mode != WALK_FRAMES)
		return memfd_with(data, len);
	zstd_framed(data, len, FRAMES_ENTRIES, &framed);
	fd = memfd_with(framed.data, framed.len);
	buf_free(&framed);
	return fd;
}

/* Close the input; a feeder thread ends once its pipe has no reader. */
static void
walk_input_close(int fd, enum walk_mode mode, struct feeder *f)
{
	close(fd);
	if (mode == WALK_STREAM)
		assert_int_equal(pthread_join(f->thread, NULL), 0);
}

/* Walk `data` with the test key trusted; returns the walk's result and its error. */
static int
walk_bytes_mode(const void *data, size_t len, bool trusted, enum walk_mode mode, char *err,
		size_t errlen)
{
	struct bundle_keyring *ring = test_keyring(trusted);
	struct bundle_manifest *m = NULL;
	struct record_sink s;
	struct bundle_sink sink;
	struct feeder f;
	int fd = walk_input(data, len, mode, &f);
	int rc;

	record_sink_init(&s, &sink, mode >= WALK_STREAM ? 2 : 1);
	rc = bundle_walk(fd, ring, mode == WALK_INLINE ? NULL : &sink, &m, err, errlen);
	if (rc == 0 && mode != WALK_INLINE) {
		assert_int_equal(s.ends, m->file_count);
		for (size_t i = 0; i < m->file_count; i++)
			assert_int_equal(s.files[i].len, m->files[i].size);
	}
	walk_input_close(fd, mode, &f);
	record_sink_free(&s);
	bundle_manifest_free(m);
	bundle_keyring_free(ring);
	return rc;
}

static int
walk_bytes(const void *data, size_t len, bool trusted, char *err, size_t errlen)
{
	return walk_bytes_mode(data, len, trusted, WALK_INLINE, err, errlen);
}

struct walk_case {
	enum mutation mut;
	const char *error;   /* expected in the message; NULL when the bundle is valid */
};

static const struct walk_case walk_cases[] = {
	{ MUT_NONE, NULL },
	{ MUT_PAX_PATH, NULL },
	{ MUT_TRAILING_ZEROS, NULL },
	{ MUT_NO_SIG, "the second entry is a/kernel, not manifest.sig" },
	{ MUT_BAD_SIG, "the signature does not match the manifest" },
	{ MUT_MANIFEST_NOT_FIRST, "the first entry is initrd" },
	{ MUT_UNLISTED, "entry extra is not listed in the manifest" },
	{ MUT_MISSING, "entry initrd is listed in the manifest but missing" },
	{ MUT_SIZE, "entry a/kernel is 5 bytes; the manifest says 6" },
	{ MUT_HASH, "entry a/kernel has SHA-256" },
	{ MUT_ABSOLUTE, "entry /etc/passwd at byte" },
	{ MUT_DOTDOT, "entry a/../initrd at byte" },
	{ MUT_SYMLINK, "is a symbolic link; a bundle holds only regular files" },
	{ MUT_HARDLINK, "is a hard link" },
	{ MUT_CHARDEV, "is a character device" },
	{ MUT_BLOCKDEV, "is a block device" },
	{ MUT_DIRECTORY, "is a directory" },
	{ MUT_FIFO, "is a FIFO" },
	{ MUT_DUPLICATE, "entry initrd appears twice" },
	{ MUT_PAX_ABSURD, "claims 1073741823 bytes; the limit is 65536" },
	{ MUT_PAX_UNKNOWN, "record \"linkpath\" is not accepted" },
	{ MUT_PAX_BAD_LENGTH, "a record length is not a number" },
	{ MUT_GNU_LONGNAME, "is a GNU long name header" },
	{ MUT_TRUNCATED_DATA, "entry initrd: the archive is truncated" },
	{ MUT_TRUNCATED_END, "without the end-of-archive blocks" },
	{ MUT_ONE_ZERO_BLOCK, "has one zero block, not two" },
	{ MUT_TRAILING_DATA, "the archive has data after its end" },
	{ MUT_TOO_MANY_ZEROS, "the archive has data after its end" },
	{ MUT_BIG_MANIFEST, "manifest.json is 1048577 bytes, more than the maximum" },
	{ MUT_FORMAT_VERSION, "unknown format_version 2" },
	{ MUT_BAD_CHECKSUM, "has a bad checksum" },
	{ MUT_GNU_MAGIC, "is not a POSIX ustar header" },
	{ MUT_BASE256_SIZE, "the size field is not octal" },
	{ MUT_EMPTY, "the archive is empty" },
	{ MUT_NONZERO_PADDING, "entry initrd: the padding at byte" },
	{ MUT_CONTROL_PATH, "entry a?[2Jb at byte" },
};

/* Every case gives the same result whichever way the payloads are hashed. */
static void
walk_rejections(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(walk_cases); i++) {
		const struct walk_case *c = &walk_cases[i];
		struct buf b;

		build_bundle(&b, c->mut);
		for (enum walk_mode mode = WALK_INLINE; mode <= WALK_FRAMES; mode++) {
			char err[BUNDLE_ERR_SIZE] = "";
			int rc = walk_bytes_mode(b.data, b.len, true, mode, err, sizeof(err));

			if (c->error == NULL) {
				if (rc != 0)
					fail_msg("case %zu, %s: expected valid, got \"%s\"", i,
						 walk_mode_names[mode], err);
			} else if (rc >= 0 || strstr(err, c->error) == NULL) {
				fail_msg("case %zu, %s: expected \"%s\", got rc=%d \"%s\"", i,
					 walk_mode_names[mode], c->error, rc, err);
			}
		}
		buf_free(&b);
	}
}

static void
walk_untrusted_key(void **state)
{
	char err[BUNDLE_ERR_SIZE] = "";
	struct buf b;

	(void)state;
	build_bundle(&b, MUT_NONE);
	assert_int_equal(walk_bytes(b.data, b.len, false, err, sizeof(err)), -ENOKEY);
	assert_non_null(strstr(err, sign_key_id));
	assert_non_null(strstr(err, "does not trust"));
	buf_free(&b);
}

/* Every prefix of a valid bundle is rejected: no truncation point passes. */
static void
walk_every_truncation(void **state)
{
	char err[BUNDLE_ERR_SIZE];
	struct buf b;

	(void)state;
	build_bundle(&b, MUT_NONE);
	for (size_t len = 0; len < b.len; len += 97) {
		for (enum walk_mode mode = WALK_INLINE; mode <= WALK_FRAMES; mode++) {
			err[0] = '\0';
			if (walk_bytes_mode(b.data, len, true, mode, err, sizeof(err)) >= 0)
				fail_msg("%s: a bundle cut to %zu bytes passed", walk_mode_names[mode],
					 len);
			assert_true(err[0] != '\0');
		}
	}
	buf_free(&b);
}

/*
 * A bundle of several files of different sizes, two of them larger than a chunk, so
 * that a parallel walk hashes the two largest at once. Paths are in manifest order.
 */
static const char *const sized_paths[] = { "a-fw", "b-fw", "c-disk", "d-disk" };
static const size_t sized_sizes[] = { 7, 70000, 3 * BUNDLE_CHUNK + 123, 5 * BUNDLE_CHUNK };

/* The bytes of sized file `i`, the same on every call. */
static unsigned char *
sized_data(size_t i)
{
	unsigned char *data = malloc(sized_sizes[i]);

	assert_non_null(data);
	for (size_t j = 0; j < sized_sizes[i]; j++)
		data[j] = (unsigned char)((j * 2654435761u) >> 13 ^ i);
	return data;
}

/* The sized bundle; each file whose bit is set in `corrupt` gets its last byte changed. */
static void
build_sized_bundle(struct buf *out, unsigned corrupt)
{
	struct bundle_file files[ARRAY_SIZE(sized_paths)] = { 0 };
	struct bundle_manifest m = {
		.format_version = BUNDLE_FORMAT_VERSION,
		.name = "test-os",
		.version = "2.0.0",
		.kind = BUNDLE_KIND_OS,
		.file_count = ARRAY_SIZE(sized_paths),
		.files = files,
	};
	char err[BUNDLE_ERR_SIZE];
	size_t len;
	char *text;

	memcpy(m.key_id, sign_key_id, sizeof(m.key_id));
	for (size_t i = 0; i < ARRAY_SIZE(sized_paths); i++) {
		unsigned char *data = sized_data(i);

		snprintf(files[i].path, sizeof(files[i].path), "%s", sized_paths[i]);
		files[i].size = sized_sizes[i];
		sha256_of(data, sized_sizes[i], files[i].sha256);
		files[i].role = BUNDLE_ROLE_DISK_IMAGE;
		free(data);
	}
	text = bundle_manifest_dump(&m, &len, err, sizeof(err));
	assert_non_null(text);
	buf_init(out, 64 * 1024 * 1024);
	manifest_entries(out, text, len, false);
	free(text);
	for (size_t i = 0; i < ARRAY_SIZE(sized_paths); i++) {
		unsigned char *data = sized_data(i);

		if (corrupt & (1u << i))
			data[sized_sizes[i] - 1] ^= 0x01;
		tar_file(out, sized_paths[i], data, sized_sizes[i]);
		free(data);
	}
	tar_end(out);
}

/*
 * Walk `b` with a recording sink, in a mode other than inline. WALK_PARALLEL gives
 * the bytes to two lanes as they are, so a compressed bundle keeps its own frames.
 */
static int
walk_sized(const struct buf *b, enum walk_mode mode, bool rendezvous, struct record_sink *s,
	   char *err, size_t errlen)
{
	struct bundle_keyring *ring = test_keyring(true);
	struct bundle_manifest *m = NULL;
	struct bundle_sink sink;
	struct feeder f;
	int fd = walk_input(b->data, b->len, mode, &f);
	int rc;

	record_sink_init(s, &sink, mode == WALK_ONE_LANE ? 1 : 2);
	s->rendezvous = rendezvous;
	rc = bundle_walk(fd, ring, &sink, &m, err, errlen);
	walk_input_close(fd, mode, &f);
	bundle_manifest_free(m);
	bundle_keyring_free(ring);
	return rc;
}

/* Each file reaches the sink whole and in order, whichever way it is hashed. */
static void
walk_sink_bytes(void **state)
{
	char err[BUNDLE_ERR_SIZE] = "";
	struct record_sink s;
	struct buf b;

	(void)state;
	build_sized_bundle(&b, 0);
	for (enum walk_mode mode = WALK_ONE_LANE; mode <= WALK_FRAMES; mode++) {
		assert_int_equal(walk_sized(&b, mode, false, &s, err, sizeof(err)), 0);
		assert_int_equal(s.begins, ARRAY_SIZE(sized_paths));
		assert_int_equal(s.ends, ARRAY_SIZE(sized_paths));
		for (size_t i = 0; i < ARRAY_SIZE(sized_paths); i++) {
			unsigned char *data = sized_data(i);

			assert_int_equal(s.files[i].len, sized_sizes[i]);
			assert_memory_equal(s.files[i].data, data, sized_sizes[i]);
			free(data);
		}
		/* One entry at a time, on lane 0. */
		if (mode < WALK_PARALLEL)
			assert_int_equal(s.lanes_used, 1);
		/* One lane hashes on the calling thread; two lanes on worker threads. */
		assert_int_equal(s.data_on_worker, mode != WALK_ONE_LANE);
		record_sink_free(&s);
	}
	buf_free(&b);
}

/* Two lanes hash two entries at the same time, from a tar and from zstd frames. */
static void
walk_parallel_lanes(void **state)
{
	char err[BUNDLE_ERR_SIZE] = "";
	struct record_sink s;
	struct buf b;

	(void)state;
	build_sized_bundle(&b, 0);
	for (enum walk_mode mode = WALK_PARALLEL; mode <= WALK_FRAMES; mode++) {
		assert_int_equal(walk_sized(&b, mode, true, &s, err, sizeof(err)), 0);
		assert_false(s.rendezvous_timed_out);
		assert_int_equal(s.lanes_used, 3);
		assert_int_equal(s.ends, ARRAY_SIZE(sized_paths));
		record_sink_free(&s);
	}
	buf_free(&b);
}

/*
 * A hash mismatch in an entry hashed while another lane hashes a larger one: the
 * entry is named, and the sink never hears that it ended.
 */
static void
walk_parallel_hash_mismatch(void **state)
{
	char err[BUNDLE_ERR_SIZE] = "";
	struct record_sink s;
	struct buf b;
	int rc;

	(void)state;
	build_sized_bundle(&b, 1u << 2);
	for (enum walk_mode mode = WALK_PARALLEL; mode <= WALK_FRAMES; mode++) {
		rc = walk_sized(&b, mode, true, &s, err, sizeof(err));
		assert_int_equal(rc, -EBADMSG);
		assert_false(s.rendezvous_timed_out);
		assert_int_equal(s.lanes_used, 3);
		if (strstr(err, "entry c-disk has SHA-256") == NULL)
			fail_msg("%s: expected the hash mismatch of c-disk, got \"%s\"",
				 walk_mode_names[mode], err);
		assert_int_equal(s.ended[2], 0);
		record_sink_free(&s);
	}
	buf_free(&b);
}

/*
 * Two bad entries: the one nearer the start of the archive is reported, although the
 * larger one after it is hashed first.
 */
static void
walk_parallel_earliest_error(void **state)
{
	char err[BUNDLE_ERR_SIZE] = "";
	struct record_sink s;
	struct buf b;

	(void)state;
	build_sized_bundle(&b, 1u << 0 | 1u << 3);
	for (int run = 0; run < 20; run++) {
		enum walk_mode mode = run % 2 == 0 ? WALK_PARALLEL : WALK_FRAMES;

		assert_int_equal(walk_sized(&b, mode, false, &s, err, sizeof(err)), -EBADMSG);
		if (strstr(err, "entry a-fw has SHA-256") == NULL)
			fail_msg("run %d: expected the mismatch of a-fw, got \"%s\"", run, err);
		record_sink_free(&s);
	}
	buf_free(&b);
}

struct pool_count {
	pthread_mutex_t lock;
	uint64_t sum;
	unsigned workers_seen;       /* bit per worker */
	uint64_t last;               /* one worker: the previous job */
	bool out_of_order;
};

static void
pool_add(void *ctx, unsigned worker, void *job)
{
	struct pool_count *c = ctx;
	uint64_t value = *(uint64_t *)job;

	pthread_mutex_lock(&c->lock);
	c->sum += value;
	c->workers_seen |= 1u << worker;
	if (value != c->last + 1)
		c->out_of_order = true;
	c->last = value;
	pthread_mutex_unlock(&c->lock);
}

/* Every job runs before the pool is freed; one worker runs them in order. */
static void
pool_runs_every_job(void **state)
{
	(void)state;
	for (unsigned workers = 1; workers <= 3; workers++) {
		struct pool_count c = { .sum = 0 };
		struct work_pool *pool;

		pthread_mutex_init(&c.lock, NULL);
		assert_int_equal(work_pool_new(workers, sizeof(uint64_t), 4, pool_add, &c, &pool),
				 0);
		for (uint64_t v = 1; v <= 1000; v++)
			work_pool_submit(pool, &v);
		assert_int_equal(work_pool_wait(pool, 5000), 0);
		assert_int_equal(c.sum, 500500);
		for (uint64_t v = 1001; v <= 1010; v++)
			work_pool_submit(pool, &v);
		work_pool_free(pool);
		assert_int_equal(c.sum, 500500 + 10055);
		if (workers == 1)
			assert_false(c.out_of_order);
		assert_true(c.workers_seen != 0);
		pthread_mutex_destroy(&c.lock);
	}
	assert_int_equal(work_pool_new(0, 8, 4, pool_add, NULL, &(struct work_pool *){ NULL }),
			 -EINVAL);
}

/* The same bundle compressed with zstd passes; cut short, it fails as truncated. */
static void
walk_zstd(void **state)
{
	char err[BUNDLE_ERR_SIZE] = "";
	unsigned char *skippable;
	struct buf b;
	size_t bound, len;
	void *z;

	(void)state;
	build_bundle(&b, MUT_NONE);
	bound = ZSTD_compressBound(b.len);
	z = malloc(bound);
	assert_non_null(z);
	len = ZSTD_compress(z, bound, b.data, b.len, 3);
	assert_false(ZSTD_isError(len));
	for (enum walk_mode mode = WALK_INLINE; mode <= WALK_PARALLEL; mode++) {
		assert_int_equal(walk_bytes_mode(z, len, true, mode, err, sizeof(err)), 0);
		assert_true(walk_bytes_mode(z, len - 5, true, mode, err, sizeof(err)) < 0);
		assert_non_null(strstr(err, "truncated"));
	}
	/* A skippable frame first, as pzstd writes: magic 0x184D2A50, 4 bytes of content. */
	skippable = malloc(len + 12);
	assert_non_null(skippable);
	memcpy(skippable, "\x50\x2a\x4d\x18\x04\x00\x00\x00" "abcd", 12);
	memcpy(skippable + 12, z, len);
	for (enum walk_mode mode = WALK_INLINE; mode <= WALK_PARALLEL; mode++)
		assert_int_equal(walk_bytes_mode(skippable, len + 12, true, mode, err, sizeof(err)),
				 0);
	free(skippable);
	free(z);
	buf_free(&b);
}

/* The offset of seek table entry `i` in a framed buffer of `count` frames. */
static size_t
table_entry(const struct buf *z, size_t count, size_t i)
{
	return z->len - BUNDLE_FRAMES_FOOTER - (count - i) * 8;
}

/*
 * A seek table whose frames do not start and end with the entries' data, such as one
 * frame for the whole tar, is read as a stream: one lane, the same bytes.
 */
static void
walk_frames_unaligned(void **state)
{
	char err[BUNDLE_ERR_SIZE] = "";
	struct record_sink s;
	struct buf b, z;

	(void)state;
	build_sized_bundle(&b, 0);
	zstd_framed(b.data, b.len, FRAMES_WHOLE, &z);
	assert_int_equal(walk_sized(&z, WALK_PARALLEL, false, &s, err, sizeof(err)), 0);
	assert_int_equal(s.lanes_used, 1);
	assert_int_equal(s.ends, ARRAY_SIZE(sized_paths));
	for (size_t i = 0; i < ARRAY_SIZE(sized_paths); i++)
		assert_int_equal(s.files[i].len, sized_sizes[i]);
	record_sink_free(&s);
	buf_free(&z);
	buf_free(&b);
}

/* Add `delta` to a 32-bit field, `field` bytes into seek table entry `i` of `z`. */
static void
table_add(struct buf *z, size_t count, size_t i, size_t field, int32_t delta)
{
	uint32_t value;

	memcpy(&value, z->data + table_entry(z, count, i) + field, 4);
	value += (uint32_t)delta;
	memcpy(z->data + table_entry(z, count, i) + field, &value, 4);
}

/*
 * A seek table that lies is not a damaged bundle: the table is not signed, and the
 * stream decides. Each lie below makes the header pass meet a frame that does not
 * match the table, and the walk reads the file again as one stream, on one lane.
 */
static void
walk_frames_bad_table(void **state)
{
	struct table_lie {
		size_t frame;        /* the entry whose field moves; the next one takes it back */
		size_t field;        /* 0: compressed size, 4: decompressed size */
		int32_t delta;
	};
	/* Frames: 2 for the manifest, 2 for the signature, 2 per file, then the end. */
	const size_t count = 4 + 2 * ARRAY_SIZE(sized_paths) + 1, data = 4 + 2 * 2 + 1;
	const struct table_lie lies[] = {
		{ data, 0, 1 },              /* one byte of c-disk's data frame moves on */
		{ data, 4, -BLOCK },         /* 512 of its decompressed bytes move on */
		{ 0, 4, 1 },                 /* the manifest's header frame claims a byte more */
	};
	char err[BUNDLE_ERR_SIZE] = "";
	struct bundle_frames *f;
	struct record_sink s;
	struct buf b, z;
	int fd;

	(void)state;
	build_sized_bundle(&b, 0);
	zstd_framed(b.data, b.len, FRAMES_ENTRIES, &z);
	fd = memfd_with(z.data, z.len);
	assert_int_equal(bundle_frames_read(fd, 0, &f), 0);
	close(fd);
	assert_int_equal(f->count, count);
	assert_int_equal(f->out[data + 1] - f->out[data], sized_sizes[2]);
	bundle_frames_free(f);
	buf_free(&z);

	for (size_t i = 0; i < ARRAY_SIZE(lies); i++) {
		zstd_framed(b.data, b.len, FRAMES_ENTRIES, &z);
		table_add(&z, count, lies[i].frame, lies[i].field, lies[i].delta);
		table_add(&z, count, lies[i].frame + 1, lies[i].field, -lies[i].delta);
		if (walk_sized(&z, WALK_PARALLEL, false, &s, err, sizeof(err)) != 0)
			fail_msg("lie %zu: expected a load as one stream, got \"%s\"", i, err);
		assert_int_equal(s.lanes_used, 1);
		for (size_t j = 0; j < ARRAY_SIZE(sized_paths); j++)
			assert_int_equal(s.files[j].len, sized_sizes[j]);
		record_sink_free(&s);
		buf_free(&z);
	}
	buf_free(&b);
}

/*
 * Each entry's data in two zstd frames that the table lists as one: a lane checks only
 * the ends of its entry's frames against the table, so the walk still uses two lanes.
 */
static void
walk_frames_inner_split(void **state)
{
	char err[BUNDLE_ERR_SIZE] = "";
	struct record_sink s;
	struct buf b, z;

	(void)state;
	build_sized_bundle(&b, 0);
	zstd_framed(b.data, b.len, FRAMES_HALVES, &z);
	if (walk_sized(&z, WALK_PARALLEL, false, &s, err, sizeof(err)) != 0)
		fail_msg("expected a load, got \"%s\"", err);
	assert_int_equal(s.lanes_used, 3);
	for (size_t i = 0; i < ARRAY_SIZE(sized_paths); i++) {
		unsigned char *data = sized_data(i);

		assert_int_equal(s.files[i].len, sized_sizes[i]);
		assert_memory_equal(s.files[i].data, data, sized_sizes[i]);
		free(data);
	}
	record_sink_free(&s);
	buf_free(&z);
	buf_free(&b);
}

/*
 * Seek tables that are not whole or not in the format: a loader finds none and reads
 * the stream. Each case changes one field of a valid table.
 */
static void
frames_parse_rejects(void **state)
{
	struct bundle_frames *f = NULL;
	struct buf entries, table;
	unsigned char copy[64];

	(void)state;
	buf_init(&entries, 1024);
	buf_init(&table, 1024);
	assert_int_equal(bundle_frames_add(&entries, 20, 100), 0);
	assert_int_equal(bundle_frames_add(&entries, 30, 0), 0);
	assert_int_equal(bundle_frames_add(&entries, 9, BUNDLE_FRAME_DATA_MAX + 1ull), -ERANGE);
	assert_int_equal(bundle_frames_encode(&entries, &table), 0);
	assert_int_equal(table.len, 8 + 2 * 8 + 9);
	assert_true(table.len <= sizeof(copy));

	assert_int_equal(bundle_frames_parse((unsigned char *)table.data, table.len, 50, &f), 0);
	assert_int_equal(f->count, 2);
	assert_int_equal(f->in[2], 50);
	assert_int_equal(f->out[1], 100);
	assert_int_equal(bundle_frames_find(f, 100), 1);
	assert_int_equal(bundle_frames_find(f, 0), 0);
	assert_int_equal(bundle_frames_find(f, 99), -1);
	f = bundle_frames_free(f);

	/* The frames take 49 bytes, not 50. */
	assert_int_equal(bundle_frames_parse((unsigned char *)table.data, table.len, 49, &f),
			 -EBADMSG);
	struct { size_t at; unsigned char value; } cases[] = {
		{ 0, 0x5f },                   /* the skippable frame's magic number */
		{ 4, 0x20 },                   /* its frame size */
		{ table.len - 9, 3 },          /* Number_Of_Frames */
		{ table.len - 5, 0x04 },       /* a reserved descriptor bit */
		{ table.len - 1, 0x8e },       /* the seekable magic number */
		{ 8, 4 },                      /* a frame smaller than any zstd frame */
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		memcpy(copy, table.data, table.len);
		copy[cases[i].at] = cases[i].value;
		if (bundle_frames_parse(copy, table.len, 50, &f) != -EBADMSG)
			fail_msg("case %zu: a changed table was accepted", i);
	}
	/* A table cut short. */
	assert_int_equal(bundle_frames_parse((unsigned char *)table.data + 1, table.len - 1, 50,
					     &f), -EBADMSG);
	buf_free(&entries);
	buf_free(&table);
}

/*********************************************************************************
 * Manifest, versions and paths
 */

struct manifest_case {
	const char *json;
	const char *error;   /* NULL: valid */
};

#define SHA_A "\"sha256\": \"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb\""
#define HEAD "\"format_version\": 1, \"name\": \"n\", \"version\": \"1\", \"kind\": \"os\", " \
	     "\"key_id\": \"0123456789abcdef0123456789abcdef\", "
#define FILE_A "{\"path\": \"a\", \"size\": 1, " SHA_A ", \"role\": \"kernel\"}"

static const struct manifest_case manifest_cases[] = {
	{ "{" HEAD "\"files\": [" FILE_A "]}", NULL },
	{ "{" HEAD "\"files\": [" FILE_A "], \"extra\": 1}", "unknown member \"extra\"" },
	{ "{\"format_version\": 2}", "unknown format_version 2" },
	{ "{" HEAD "\"files\": []}", "must be an array of 1 to" },
	{ "{" HEAD "\"files\": [" FILE_A ", " FILE_A "]}", "path a is listed twice" },
	{ "{" HEAD "\"files\": [{\"path\": \"b\", \"size\": 1, " SHA_A ", \"role\": "
	  "\"kernel\"}, " FILE_A "]}", "path a is out of order" },
	{ "{" HEAD "\"files\": [{\"path\": \"../a\", \"size\": 1, " SHA_A ", \"role\": "
	  "\"kernel\"}]}", "invalid path \"../a\"" },
	{ "{" HEAD "\"files\": [{\"path\": \"manifest.sig\", \"size\": 1, " SHA_A ", "
	  "\"role\": \"kernel\"}]}", "path manifest.sig is reserved" },
	{ "{" HEAD "\"files\": [{\"path\": \"a\", \"size\": -1, " SHA_A ", \"role\": "
	  "\"kernel\"}]}", "file a: size must be an integer" },
	{ "{" HEAD "\"files\": [{\"path\": \"a\", \"size\": 1.5, " SHA_A ", \"role\": "
	  "\"kernel\"}]}", "file a: size must be an integer" },
	{ "{" HEAD "\"files\": [{\"path\": \"a\", \"size\": 1, \"sha256\": \"AB\", \"role\": "
	  "\"kernel\"}]}", "sha256 must be 64 lowercase hex digits" },
	{ "{" HEAD "\"files\": [{\"path\": \"a\", \"size\": 1, " SHA_A ", \"role\": "
	  "\"shim\"}]}", "unknown role \"shim\"" },
	{ "{" HEAD "\"files\": [{\"path\": \"a\", \"size\": 1, " SHA_A ", \"role\": "
	  "\"kernel\", \"metadata\": {\"vendor\": \"x\"}}]}",
	  "metadata member \"vendor\" is not known for role kernel" },
	{ "{" HEAD "\"files\": [{\"path\": \"a\", \"size\": 1, " SHA_A ", \"role\": "
	  "\"firmware-image\", \"metadata\": {\"update_method\": \"ftp\"}}]}",
	  "unknown update_method \"ftp\"" },
	{ "{" HEAD "\"files\": [{\"path\": \"a\", \"size\": 1, " SHA_A ", \"role\": "
	  "\"firmware-image\", \"metadata\": {\"models\": []}}]}", "models must be an array" },
	{ "{\"format_version\": 1, \"name\": \"N\", \"version\": \"1\", \"kind\": \"os\", "
	  "\"key_id\": \"0123456789abcdef0123456789abcdef\", \"files\": [" FILE_A "]}",
	  "invalid name \"N\"" },
	{ "{\"format_version\": 1, \"name\": \"n\", \"version\": \"01\", \"kind\": \"os\", "
	  "\"key_id\": \"0123456789abcdef0123456789abcdef\", \"files\": [" FILE_A "]}",
	  "invalid version \"01\"" },
	{ "{\"format_version\": 1, \"name\": \"n\", \"version\": \"1\", \"kind\": \"bios\", "
	  "\"key_id\": \"0123456789abcdef0123456789abcdef\", \"files\": [" FILE_A "]}",
	  "unknown kind \"bios\"" },
	{ "{\"format_version\": 1, \"name\": \"n\", \"version\": \"1\", \"kind\": \"os\", "
	  "\"key_id\": \"short\", \"files\": [" FILE_A "]}", "key_id must be 32" },
	{ "{\"format_version\": 1, \"format_version\": 1}", "not valid JSON" },
	{ "[1, 2]", "must be a JSON object" },
	{ "{\"format_version\": 1, \"name\": \"staging\", \"version\": \"1\", \"kind\": \"os\", "
	  "\"key_id\": \"0123456789abcdef0123456789abcdef\", \"files\": [" FILE_A "]}",
	  "other than sha256 and staging" },
	{ "{" HEAD "\"description\": \"tab\\there\", \"files\": [" FILE_A "]}",
	  "description must be 1 to 1024 printable" },
};

static void
manifest_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(manifest_cases); i++) {
		const struct manifest_case *c = &manifest_cases[i];
		struct bundle_manifest *m = NULL;
		char err[BUNDLE_ERR_SIZE] = "";
		int rc;

		rc = bundle_manifest_parse(c->json, strlen(c->json), &m, err, sizeof(err));
		if (c->error == NULL && rc != 0)
			fail_msg("case %zu: expected valid, got \"%s\"", i, err);
		if (c->error != NULL && (rc != -EINVAL || strstr(err, c->error) == NULL))
			fail_msg("case %zu: expected \"%s\", got rc=%d \"%s\"", i, c->error, rc, err);
		bundle_manifest_free(m);
	}
}

static void
manifest_dump_canonical(void **state)
{
	struct bundle_manifest *m;
	char err[BUNDLE_ERR_SIZE];
	char *text, *again;
	size_t len, len2;

	(void)state;
	text = standard_manifest(&len);
	assert_int_equal(bundle_manifest_parse(text, len, &m, err, sizeof(err)), 0);
	again = bundle_manifest_dump(m, &len2, err, sizeof(err));
	assert_non_null(again);
	assert_int_equal(len, len2);
	assert_memory_equal(text, again, len);
	assert_int_equal(text[len - 1], '\n');
	assert_non_null(bundle_manifest_find(m, "initrd"));
	assert_null(bundle_manifest_find(m, "nope"));
	free(again);
	free(text);
	bundle_manifest_free(m);
}

static void
version_compare_table(void **state)
{
	static const struct {
		const char *a, *b;
		int sign;
	} cases[] = {
		{ "1", "1.0", 0 },          { "1.2", "1.10", -1 },   { "2", "1.99.99", 1 },
		{ "1.0-rc1", "1.0", -1 },   { "1.0", "1.0-rc1", 1 }, { "1.0-rc1", "1.0-rc2", -1 },
		{ "12.8.0", "12.8.0", 0 },  { "1.2.3.4", "1.2.3.5", -1 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int r = bundle_version_compare(cases[i].a, cases[i].b);

		if ((r > 0) - (r < 0) != cases[i].sign)
			fail_msg("%s vs %s gave %d", cases[i].a, cases[i].b, r);
	}
}

static void
version_check_table(void **state)
{
	static const char *const good[] = { "1", "12.8.0", "2.19.1-rc1", "0.0.0.1", "1-a.b" };
	static const char *const bad[] = { "", "v1", "1.", ".1", "01", "1.2.3.4.5", "1-",
					   "1-RC", "1_0", "1234567890", "1--a" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		if (bundle_version_check(good[i]) != 0)
			fail_msg("\"%s\" should be valid", good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (bundle_version_check(bad[i]) != -EINVAL)
			fail_msg("\"%s\" should be invalid", bad[i]);
}

static void
path_check_table(void **state)
{
	static const char *const good[] = { "a", "a/b", "os/debian-12.raw.zst", "A+B_c-d.e",
					    "1/2/3/4/5/6/7/8" };
	static const char *const bad[] = { "", "/a", "a/", "a//b", ".", "..", "a/../b",
					   ".hidden", "a/.b", "a b", "a\\b", "1/2/3/4/5/6/7/8/9",
					   "caf\xc3\xa9" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		if (bundle_path_check(good[i]) != 0)
			fail_msg("\"%s\" should be valid", good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (bundle_path_check(bad[i]) != -EINVAL)
			fail_msg("\"%s\" should be invalid", bad[i]);
}

/*********************************************************************************
 * Keys and the writer
 */

static void
keygen_files(void **state)
{
	char prefix[300], path[310], err[BUNDLE_ERR_SIZE], id[BUNDLE_KEY_ID_SIZE];
	struct stat st;

	(void)state;
	snprintf(prefix, sizeof(prefix), "%s/site", key_dir);
	assert_int_equal(bundle_keygen(prefix, false, id, err, sizeof(err)), 0);
	assert_int_equal(strlen(id), 32);
	snprintf(path, sizeof(path), "%s.key", prefix);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Never replaced. */
	assert_int_equal(bundle_keygen(prefix, false, id, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "site.key"));
}

static void
keyring_refuses_test_keys(void **state)
{
	struct bundle_keyring *ring;
	char err[BUNDLE_ERR_SIZE] = "";

	(void)state;
	assert_int_equal(bundle_keyring_new(false, &ring), 0);
	assert_int_equal(bundle_keyring_add_file(ring, pub_path, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "is a test key"));
	assert_int_equal(bundle_keyring_count(ring), 0);
	/* A private key is no public key. */
	assert_int_equal(bundle_keyring_add_dir(ring, "/nonexistent-dir", err, sizeof(err)), 0);
	bundle_keyring_free(ring);

	assert_int_equal(bundle_keyring_new(true, &ring), 0);
	assert_int_equal(bundle_keyring_add_file(ring, key_path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no PEM public key"));
	bundle_keyring_free(ring);
}

static const char long_path[] = "deep/a-path-long-enough-that-it-does-not-fit-into-the-"
				"hundred-byte-ustar-name-field-and-needs-a-pax-record";

/* Write entries with the tar writer into a memfd; return its bytes. */
static void
writer_output(bool zstd, struct buf *out)
{
	char err[BUNDLE_ERR_SIZE], chunk[4096];
	struct tar_writer *tw;
	ssize_t n;
	int fd = memfd_create("writer", MFD_CLOEXEC);

	assert_int_equal(tar_writer_new(fd, zstd, 0, &tw, err, sizeof(err)), 0);
	assert_int_equal(tar_begin(tw, "short", 3, err, sizeof(err)), 0);
	assert_int_equal(tar_write(tw, "abc", 3, err, sizeof(err)), 0);
	assert_int_equal(tar_begin(tw, long_path, 2, err, sizeof(err)), 0);
	/* Too many bytes for the entry's size. */
	assert_int_equal(tar_write(tw, "xyz", 3, err, sizeof(err)), -EINVAL);
	assert_int_equal(tar_write(tw, "xy", 2, err, sizeof(err)), 0);
	assert_int_equal(tar_writer_finish(tw, err, sizeof(err)), 0);
	tar_writer_free(tw);

	buf_init(out, 1024 * 1024);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		assert_int_equal(buf_append(out, chunk, (size_t)n), 0);
	close(fd);
}

/*
 * A compressed archive from the writer: its frames, skippable table included,
 * decompress to the plain archive, and each entry's data starts and ends a frame.
 */
static void
writer_frames_check(const struct buf *z)
{
	struct bundle_frames *f;
	struct buf plain;
	size_t n;
	void *out;
	int fd;

	writer_output(false, &plain);
	out = malloc(plain.len);
	assert_non_null(out);
	n = ZSTD_decompress(out, plain.len, z->data, z->len);
	assert_false(ZSTD_isError(n));
	assert_int_equal(n, plain.len);
	assert_memory_equal(out, plain.data, plain.len);

	fd = memfd_with(z->data, z->len);
	assert_int_equal(bundle_frames_read(fd, 0, &f), 0);
	close(fd);
	assert_int_equal(f->out[f->count], plain.len);
	/* "short": header at 0, data 512 to 515. The long path adds a pax header. */
	assert_int_equal(bundle_frames_find(f, 512), 1);
	assert_int_equal(bundle_frames_find(f, 515), 2);
	assert_int_equal(f->in[f->count] + 8 + f->count * 8 + 9, z->len);
	bundle_frames_free(f);
	free(out);
	buf_free(&plain);
}

static void
writer_roundtrip(void **state)
{
	char err[BUNDLE_ERR_SIZE], data[16];
	struct bundle_source *src;
	struct tar_reader *tr;
	struct tar_entry e;
	struct buf a, b;
	int fd;

	(void)state;
	writer_output(false, &a);
	writer_output(false, &b);
	/* Reproducible, padded to whole 10,240-byte records. */
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_int_equal(a.len % 10240, 0);

	fd = memfd_with(a.data, a.len);
	assert_int_equal(bundle_source_open(fd, &src, err, sizeof(err)), 0);
	assert_int_equal(tar_reader_new(src, &tr), 0);
	assert_int_equal(tar_next(tr, &e, err, sizeof(err)), 1);
	assert_string_equal(e.path, "short");
	assert_int_equal(tar_read(tr, data, sizeof(data), err, sizeof(err)), 3);
	assert_int_equal(tar_next(tr, &e, err, sizeof(err)), 1);
	assert_string_equal(e.path, long_path);
	assert_int_equal(e.size, 2);
	assert_int_equal(tar_next(tr, &e, err, sizeof(err)), 0);
	tar_reader_free(tr);
	bundle_source_free(src);
	close(fd);
	buf_free(&a);
	buf_free(&b);

	writer_output(true, &a);
	writer_output(true, &b);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_memory_equal(a.data, "\x28\xb5\x2f\xfd", 4);
	writer_frames_check(&a);
	buf_free(&a);
	buf_free(&b);
}

/* The number of descriptors this process has open. */
static int
fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	int count = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		count++;
	closedir(d);
	return count;
}

/* Queue `len` bytes of `byte` for the writer's open file. */
static void
writer_fill(struct stage_writer *sw, int byte, size_t len)
{
	char err[BUNDLE_ERR_SIZE];
	void *buf = stage_writer_buffer(sw, err, sizeof(err));

	assert_non_null(buf);
	memset(buf, byte, len);
	assert_int_equal(stage_writer_data(sw, buf, len, err, sizeof(err)), 0);
}

/*
 * A lane's file whose entry got no close, because the walk stopped it after an
 * earlier entry failed, is closed when the lane's next file opens: no descriptor leaks.
 */
static void
writer_abandoned_entry(void **state)
{
	char dir[] = "/tmp/outpost-writer-test-XXXXXX", err[BUNDLE_ERR_SIZE];
	struct bundle_file files[2] = { { .path = "a", .size = 8192 }, { .path = "b", .size = 10 } };
	struct bundle_manifest m = { .file_count = 2, .files = files };
	struct stage_writer *sw;
	struct stat st;
	int dir_fd, before;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dir_fd >= 0);
	assert_int_equal(stage_writer_new(dir_fd, &m, 2, &sw), 0);
	before = fd_count();

	assert_int_equal(stage_writer_open(sw, 0, err, sizeof(err)), 0);
	writer_fill(sw, 'a', 8192);
	assert_int_equal(stage_writer_open(sw, 1, err, sizeof(err)), 0);
	writer_fill(sw, 'b', 10);
	assert_int_equal(stage_writer_close(sw, 1, err, sizeof(err)), 0);
	assert_int_equal(stage_writer_finish(sw, false, err, sizeof(err)), 0);

	assert_int_equal(fd_count(), before);
	assert_int_equal(fstatat(dir_fd, "0", &st, 0), 0);
	assert_int_equal(st.st_size, 8192);
	assert_int_equal(fstatat(dir_fd, "1", &st, 0), 0);
	assert_int_equal(st.st_size, 10);
	assert_int_equal(unlinkat(dir_fd, "0", 0), 0);
	assert_int_equal(unlinkat(dir_fd, "1", 0), 0);
	close(dir_fd);
	assert_int_equal(rmdir(dir), 0);
}

static int
setup(void **state)
{
	char err[BUNDLE_ERR_SIZE], prefix[256];

	(void)state;
	/* A walk that stops early closes a pipe that a feeder thread still writes to. */
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(key_dir) == NULL)
		return -1;
	snprintf(prefix, sizeof(prefix), "%s/test", key_dir);
	snprintf(key_path, sizeof(key_path), "%s.key", prefix);
	snprintf(pub_path, sizeof(pub_path), "%s.pub", prefix);
	if (bundle_keygen(prefix, true, sign_key_id, err, sizeof(err)) < 0)
		return -1;
	return bundle_key_load_private(key_path, &sign_key, sign_key_id, err, sizeof(err));
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	EVP_PKEY_free(sign_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", key_dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(walk_rejections),
		cmocka_unit_test(walk_untrusted_key),
		cmocka_unit_test(walk_every_truncation),
		cmocka_unit_test(walk_sink_bytes),
		cmocka_unit_test(walk_parallel_lanes),
		cmocka_unit_test(walk_parallel_hash_mismatch),
		cmocka_unit_test(walk_parallel_earliest_error),
		cmocka_unit_test(pool_runs_every_job),
		cmocka_unit_test(walk_zstd),
		cmocka_unit_test(walk_frames_unaligned),
		cmocka_unit_test(walk_frames_bad_table),
		cmocka_unit_test(walk_frames_inner_split),
		cmocka_unit_test(frames_parse_rejects),
		cmocka_unit_test(manifest_parse_table),
		cmocka_unit_test(manifest_dump_canonical),
		cmocka_unit_test(version_compare_table),
		cmocka_unit_test(version_check_table),
		cmocka_unit_test(path_check_table),
		cmocka_unit_test(keygen_files),
		cmocka_unit_test(keyring_refuses_test_keys),
		cmocka_unit_test(writer_roundtrip),
		cmocka_unit_test(writer_abandoned_entry),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
