/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers: the bounded buffer, the identifier parsers and the libcrypto and
 * getrandom(2) wrappers declared in util.h. Nothing here logs; callers decide what a
 * failure means.
 */
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "log/log.h"

/* First allocation of a buffer; small enough for a log line, large enough for most. */
#define BUF_INITIAL_CAP 256

/* Largest time_format accepts: 9999-12-31T23:59:59Z, the last second with 4-digit years. */
#define TIME_FORMAT_MAX_SECONDS INT64_C(253402300799)

/* Bytes of random data read from the kernel per getrandom(2) call in random_hex. */
#define RANDOM_CHUNK_BYTES 256

void *
array_grow(void *items, size_t *capacity, size_t count, size_t size, size_t initial)
{
	size_t grown;

	if (count < *capacity)
		return items;
	grown = *capacity == 0 ? initial : *capacity * 2;
	items = reallocarray(items, grown, size);
	if (items != NULL)
		*capacity = grown;
	return items;
}

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	/* Keep max + 1 (the room for the NUL) from wrapping to zero. */
	b->max = max < SIZE_MAX ? max : SIZE_MAX - 1;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

int
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;
	char *data;

	if (extra > b->max || b->len > b->max - extra)
		return -E2BIG;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;

	/* Grow geometrically so appends cost amortised O(1), but never past max + 1. */
	cap = b->cap != 0 ? b->cap : BUF_INITIAL_CAP;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;

	data = realloc(b->data, cap);
	if (data == NULL)
		return -ENOMEM;
	b->data = data;
	b->cap = cap;
	return 0;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	int rc;

	rc = buf_reserve(b, len);
	if (rc < 0)
		return rc;

	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list args;
	int n, rc;

	/* Measure first, so a failed append leaves the buffer untouched. */
	va_start(args, fmt);
	n = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	if (n < 0)
		return -EINVAL;

	rc = buf_reserve(b, (size_t)n);
	if (rc < 0)
		return rc;

	va_start(args, fmt);
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, args);
	va_end(args);
	b->len += (size_t)n;
	return 0;
}

char *
buf_steal(struct buf *b)
{
	char *data = b->data;

	/* An empty buffer may never have allocated; hand out an empty string instead of NULL. */
	if (data == NULL)
		data = strdup("");

	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return data;
}

int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char
hex_lower(char c)
{
	return c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
}

int
mac_parse(const char *text, char out[MAC_TEXT_SIZE])
{
	char canonical[MAC_TEXT_SIZE];
	size_t len, step;
	char sep;

	/* The length picks the form: 12 bare digits, or 6 pairs with 5 separators. */
	len = strnlen(text, MAC_TEXT_SIZE);
	if (len == 12) {
		sep = '\0';
		step = 2;
	} else if (len == 17) {
		sep = text[2];
		step = 3;
		if (sep != ':' && sep != '-')
			return -EINVAL;
	} else {
		return -EINVAL;
	}

	/* Check each pair and each separator; the first separator fixes the rest. */
	for (size_t i = 0; i < 6; i++) {
		const char *pair = text + i * step;

		if (hex_value(pair[0]) < 0 || hex_value(pair[1]) < 0)
			return -EINVAL;
		if (sep != '\0' && i < 5 && pair[2] != sep)
			return -EINVAL;
		canonical[i * 3] = hex_lower(pair[0]);
		canonical[i * 3 + 1] = hex_lower(pair[1]);
		canonical[i * 3 + 2] = i < 5 ? ':' : '\0';
	}

	/*
	 * The group bit marks multicast and broadcast addresses, and all zeros is no
	 * address at all; neither can be the source address of a NIC.
	 */
	if (hex_value(canonical[1]) & 1)
		return -EINVAL;
	if (strcmp(canonical, "00:00:00:00:00:00") == 0)
		return -EINVAL;

	memcpy(out, canonical, MAC_TEXT_SIZE);
	return 0;
}

uint64_t
mac_number(const char *mac)
{
	uint64_t number = 0;

	for (size_t i = 0; i < MAC_TEXT_SIZE - 1; i++) {
		char c = mac[i];

		if (i % 3 == 2) {
			if (c != ':')
				return 0;
			continue;
		}
		if (c >= '0' && c <= '9')
			number = number << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			number = number << 4 | (uint64_t)(c - 'a' + 10);
		else
			return 0;
	}
	return mac[MAC_TEXT_SIZE - 1] == '\0' ? number + 1 : 0;
}

/* Characters a kernel argument may contain besides letters and digits. */
static bool
cmdline_char_allowed(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("._,:=/+@%~;-", c) != NULL);
}

int
cmdline_check(const char *text, size_t *ret_offset)
{
	size_t i, word = 0;

	for (i = 0; text[i] != '\0'; i++) {
		if (text[i] == ' ') {
			word = i + 1;
			continue;
		}
		if (!cmdline_char_allowed(text[i]))
			goto err_reject;

		/* ";" as a whole word separates two iPXE commands, but inside a word it is text. */
		if (text[i] == ';' && i == word && (text[i + 1] == ' ' || text[i + 1] == '\0'))
			goto err_reject;
	}
	return 0;

err_reject:
	*ret_offset = i;
	return -EINVAL;
}

int
uuid_parse(const char *text, char out[UUID_TEXT_SIZE])
{
	const size_t len = UUID_TEXT_SIZE - 1;
	char canonical[UUID_TEXT_SIZE];
	size_t total;

	/* Braces are optional but must come as a pair around the 36 characters. */
	total = strnlen(text, UUID_TEXT_SIZE + 2);
	if (total == len + 2 && text[0] == '{' && text[len + 1] == '}')
		text++;
	else if (total != len)
		return -EINVAL;

	/* 8-4-4-4-12: hyphens at fixed offsets, hex digits everywhere else. */
	for (size_t i = 0; i < len; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (text[i] != '-')
				return -EINVAL;
			canonical[i] = '-';
			continue;
		}
		if (hex_value(text[i]) < 0)
			return -EINVAL;
		canonical[i] = hex_lower(text[i]);
	}
	canonical[len] = '\0';

	memcpy(out, canonical, UUID_TEXT_SIZE);
	return 0;
}

static bool
hostname_char_valid(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

bool
hostname_valid(const char *text)
{
	size_t len, label = 0;

	if (text == NULL)
		return false;

	/* One trailing dot marks a fully qualified name and does not count toward 253. */
	len = strnlen(text, HOSTNAME_SIZE + 1);
	if (len > 0 && text[len - 1] == '.')
		len--;
	if (len == 0 || len > HOSTNAME_SIZE - 1)
		return false;

	for (size_t i = 0; i <= len; i++) {
		/* A dot or the end closes a label, which must be non-empty and end without '-'. */
		if (i == len || text[i] == '.') {
			if (label == 0 || text[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!hostname_char_valid(text[i]))
			return false;
		if (label == 0 && text[i] == '-')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

bool
host_address_valid(const char *text)
{
	unsigned char addr[sizeof(struct in6_addr)];
	char inner[INET6_ADDRSTRLEN];
	size_t len = strlen(text);

	if (len > 2 && text[0] == '[' && text[len - 1] == ']' && len - 2 < sizeof(inner)) {
		memcpy(inner, text + 1, len - 2);
		inner[len - 2] = '\0';
		return inet_pton(AF_INET6, inner, addr) == 1;
	}
	return inet_pton(AF_INET, text, addr) == 1 || hostname_valid(text);
}

int
uint_parse(const char *text, uint64_t min, uint64_t max, uint64_t *ret)
{
	uint64_t value = 0;
	bool overflow = false;
	size_t i;

	if (text[0] == '\0')
		return -EINVAL;

	/* Read every byte, so "99999999999999999999x" is -EINVAL rather than -ERANGE. */
	for (i = 0; text[i] != '\0'; i++) {
		unsigned digit;

		if (text[i] < '0' || text[i] > '9')
			return -EINVAL;
		digit = (unsigned)(text[i] - '0');
		if (value > (UINT64_MAX - digit) / 10)
			overflow = true;
		else
			value = value * 10 + digit;
	}

	if (overflow || value < min || value > max)
		return -ERANGE;
	*ret = value;
	return 0;
}

void
hex_encode(const unsigned char *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

void
sha256_hex(const void *data, size_t len, char out[SHA256_HEX_SIZE])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;

	/*
	 * EVP_Digest can fail, for instance when OpenSSL cannot allocate its context. The
	 * output is then an empty string, which never equals a real digest.
	 */
	if (EVP_Digest(data, len, digest, &digest_len, EVP_sha256(), NULL) != 1 ||
	    digest_len != 32) {
		out[0] = '\0';
		return;
	}
	hex_encode(digest, digest_len, out);
}

int
random_hex(size_t nbytes, char *out)
{
	unsigned char chunk[RANDOM_CHUNK_BYTES];
	size_t done = 0;

	while (done < nbytes) {
		size_t want = nbytes - done;
		ssize_t n;

		if (want > sizeof(chunk))
			want = sizeof(chunk);

		/* Blocks only until the kernel's pool is first initialised, early in boot. */
		n = getrandom(chunk, want, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = -errno;

			OPENSSL_cleanse(chunk, sizeof(chunk));
			return rc;
		}

		hex_encode(chunk, (size_t)n, out + 2 * done);
		done += (size_t)n;
	}

	OPENSSL_cleanse(chunk, sizeof(chunk));
	out[2 * nbytes] = '\0';
	return 0;
}

bool
secret_equal(const char *a, const char *b)
{
	size_t len = strlen(a);

	/* Lengths are not secret; the bytes are, so compare them with CRYPTO_memcmp. */
	if (len != strlen(b))
		return false;
	return CRYPTO_memcmp(a, b, len) == 0;
}

int64_t
time_now(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec;
}

int64_t
time_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int64_t
time_monotonic_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void
time_format(int64_t seconds, char out[21])
{
	struct tm utc;
	time_t t;

	/* Clamp to the years 1970 to 9999 so the text always has the fixed 20-byte form. */
	if (seconds < 0)
		seconds = 0;
	if (seconds > TIME_FORMAT_MAX_SECONDS)
		seconds = TIME_FORMAT_MAX_SECONDS;
	t = (time_t)seconds;

	gmtime_r(&t, &utc);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &utc);
}

int
err_set(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list args;

	if (err != NULL && errlen > 0) {
		va_start(args, fmt);
		vsnprintf(err, errlen, fmt, args);
		va_end(args);
	}
	return rc;
}

int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
file_write_new(const char *path, unsigned mode, const void *data, size_t len)
{
	int fd, rc;

	fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, data, len);
	/* The umask may have cleared bits of `mode`. */
	if (rc == 0 && (fchmod(fd, (mode_t)mode) < 0 || fsync(fd) < 0))
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		unlink(path);
	return rc;
}

void
text_sanitize(char *text)
{
	for (; *text != '\0'; text++)
		if ((unsigned char)*text < 0x20 || (unsigned char)*text > 0x7e)
			*text = '?';
}

/* Read exactly `size` bytes from `path`. Returns 0, -ENOENT or an error it logged. */
static int
key_file_read(const char *path, unsigned char *key, size_t size, const char *what,
	      const char *loss)
{
	struct stat info;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ELOOP)
			log_err("%s %s is a symbolic link; it must be a regular file", what, path);
		else if (rc != -ENOENT)
			log_err("%s %s cannot be opened: %s", what, path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &info) < 0 || !S_ISREG(info.st_mode) || info.st_size != (off_t)size) {
		log_err("%s %s is not a regular file of %zu bytes; remove it and restart to make "
			"a new key (%s)", what, path, size, loss);
		rc = -EINVAL;
	} else if ((info.st_mode & 077) != 0) {
		log_err("%s %s has mode %03o, so other users can read it; run chmod 600 on it",
			what, path, (unsigned)(info.st_mode & 0777));
		rc = -EPERM;
	} else if ((n = read(fd, key, size)) != (ssize_t)size) {
		rc = n < 0 ? -errno : -EIO;
		log_err("%s %s cannot be read: %s", what, path, strerror(-rc));
	}
	close(fd);
	return rc;
}

/* Write a new random key to `path` through a temporary file, so a crash leaves none. */
static int
key_file_create(const char *path, unsigned char *key, size_t size)
{
	char tmp[PATH_MAX];
	int fd, rc = 0;

	if (getrandom(key, size, 0) != (ssize_t)size)
		return -EIO;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, key, size) != (ssize_t)size || fsync(fd) < 0)
		rc = errno != 0 ? -errno : -EIO;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int
key_file_load(const char *path, unsigned char *key, size_t size, const char *what,
	      const char *loss)
{
	int rc = key_file_read(path, key, size, what, loss);

	if (rc != -ENOENT)
		return rc;
	rc = key_file_create(path, key, size);
	if (rc < 0)
		log_err("%s %s cannot be created: %s", what, path, strerror(-rc));
	else
		log_info("created %s %s", what, path);
	return rc;
}

void
url_redact(const char *url, char *out, size_t size)
{
	const char *scheme = strstr(url, "://");
	const char *host = scheme != NULL ? scheme + 3 : NULL;
	const char *end = host != NULL ? host + strcspn(host, "/?#") : NULL;
	const char *at = NULL;

	/* The last '@' before the path ends the user part, as URL parsers read it. */
	for (const char *p = host; p != NULL && p < end; p++)
		if (*p == '@')
			at = p;
	struct buf b;
	const char *path, *query, *segment, *dot;
	size_t seg_len;

	buf_init(&b, size > 0 ? size : 1);
	if (at == NULL)
		buf_printf(&b, "%.*s", end != NULL ? (int)(end - url) : (int)strlen(url), url);
	else
		buf_printf(&b, "%.*s***%.*s", (int)(host - url), url, (int)(end - at), at);
	if (end == NULL)
		goto done;

	/* The path, its last segment shortened when it is long enough to be a token. */
	path = end;
	query = path + strcspn(path, "?#");
	segment = path;
	for (const char *p = path; p < query; p++)
		if (*p == '/')
			segment = p + 1;
	seg_len = (size_t)(query - segment);
	if (seg_len >= URL_SECRET_SEGMENT) {
		dot = memrchr(segment, '.', seg_len);
		buf_printf(&b, "%.*s***%.*s", (int)(segment + 4 - path), path,
			   dot != NULL && query - dot <= 8 ? (int)(query - dot) : 0,
			   dot != NULL ? dot : "");
	} else {
		buf_printf(&b, "%.*s", (int)(query - path), path);
	}
	if (*query == '?')
		buf_puts(&b, "?***");
done:
	snprintf(out, size, "%s", b.data != NULL ? b.data : "");
	buf_free(&b);
}
