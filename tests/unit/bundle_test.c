/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/bundle: the manifest rules, versions and paths, keys and
 * signatures, the tar writer, and the walk over hostile archives built byte by byte.
 * Each hostile archive must be rejected with an error that names the entry and the
 * reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

/* Walk `data` with the test key trusted; returns the walk's result and its error. */
static int
walk_bytes(const void *data, size_t len, bool trusted, char *err, size_t errlen)
{
	struct bundle_keyring *ring = test_keyring(trusted);
	struct bundle_manifest *m = NULL;
	int fd = memfd_with(data, len);
	int rc;

	rc = bundle_walk(fd, ring, NULL, &m, err, errlen);
	close(fd);
	bundle_manifest_free(m);
	bundle_keyring_free(ring);
	return rc;
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

static void
walk_rejections(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(walk_cases); i++) {
		const struct walk_case *c = &walk_cases[i];
		char err[BUNDLE_ERR_SIZE] = "";
		struct buf b;
		int rc;

		build_bundle(&b, c->mut);
		rc = walk_bytes(b.data, b.len, true, err, sizeof(err));
		if (c->error == NULL) {
			if (rc != 0)
				fail_msg("case %zu: expected valid, got \"%s\"", i, err);
		} else if (rc >= 0 || strstr(err, c->error) == NULL) {
			fail_msg("case %zu: expected \"%s\", got rc=%d \"%s\"", i, c->error, rc,
				 err);
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
		err[0] = '\0';
		assert_true(walk_bytes(b.data, len, true, err, sizeof(err)) < 0);
		assert_true(err[0] != '\0');
	}
	buf_free(&b);
}

/* A sink that records the bytes it is handed. */
struct record_sink {
	struct buf bytes;
	unsigned begins;
	unsigned ends;
	bool saw_manifest;
};

static int
rec_begin(void *ctx, const struct bundle_file *f, char *err, size_t errlen)
{
	struct record_sink *s = ctx;

	(void)f, (void)err, (void)errlen;
	assert_true(s->saw_manifest);
	s->begins++;
	return 0;
}

static int
rec_data(void *ctx, const void *buf, size_t len, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	return buf_append(&((struct record_sink *)ctx)->bytes, buf, len);
}

static int
rec_end(void *ctx, const struct bundle_file *f, char *err, size_t errlen)
{
	(void)f, (void)err, (void)errlen;
	((struct record_sink *)ctx)->ends++;
	return 0;
}

static int
rec_manifest(void *ctx, const struct bundle_manifest *m, char *err, size_t errlen)
{
	(void)m, (void)err, (void)errlen;
	((struct record_sink *)ctx)->saw_manifest = true;
	return 0;
}

static void
walk_sink_order(void **state)
{
	struct record_sink s = { .begins = 0 };
	struct bundle_sink sink = { .begin = rec_begin, .data = rec_data, .end = rec_end,
				    .manifest = rec_manifest, .ctx = &s };
	struct bundle_keyring *ring = test_keyring(true);
	struct bundle_manifest *m = NULL;
	char err[BUNDLE_ERR_SIZE];
	struct buf b;
	int fd;

	(void)state;
	buf_init(&s.bytes, 1024);
	build_bundle(&b, MUT_NONE);
	fd = memfd_with(b.data, b.len);
	assert_int_equal(bundle_walk(fd, ring, &sink, &m, err, sizeof(err)), 0);
	assert_int_equal(s.begins, 2);
	assert_int_equal(s.ends, 2);
	assert_string_equal(s.bytes.data, "KERNELINITRD-DATA");
	assert_string_equal(m->name, "test-os");
	close(fd);
	bundle_manifest_free(m);
	bundle_keyring_free(ring);
	buf_free(&b);
	buf_free(&s.bytes);
}

/* The same bundle compressed with zstd passes; cut short, it fails as truncated. */
static void
walk_zstd(void **state)
{
	char err[BUNDLE_ERR_SIZE] = "";
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
	assert_int_equal(walk_bytes(z, len, true, err, sizeof(err)), 0);
	assert_true(walk_bytes(z, len - 5, true, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "truncated"));
	free(z);
	buf_free(&b);
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
	buf_free(&a);
	buf_free(&b);
}

static int
setup(void **state)
{
	char err[BUNDLE_ERR_SIZE], prefix[256];

	(void)state;
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
		cmocka_unit_test(walk_sink_order),
		cmocka_unit_test(walk_zstd),
		cmocka_unit_test(manifest_parse_table),
		cmocka_unit_test(manifest_dump_canonical),
		cmocka_unit_test(version_compare_table),
		cmocka_unit_test(version_check_table),
		cmocka_unit_test(path_check_table),
		cmocka_unit_test(keygen_files),
		cmocka_unit_test(keyring_refuses_test_keys),
		cmocka_unit_test(writer_roundtrip),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
