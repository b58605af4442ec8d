/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small shared helpers: a bounded growable buffer, parsers for the identifiers that
 * cross trust boundaries (MAC, SMBIOS UUID, RFC 1123 hostname, bounded integers) and
 * SHA-256 and random-token helpers over OpenSSL's libcrypto.
 *
 * Every parser takes untrusted bytes and either writes a canonical form or returns
 * -EINVAL; none of them touches its output on failure.
 */
#ifndef OUTPOST_UTIL_H
#define OUTPOST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "52:54:00:ab:cd:ef" plus NUL. */
#define MAC_TEXT_SIZE 18
/* "4c4c4544-0042-3510-8052-b4c04f4e3632" plus NUL. */
#define UUID_TEXT_SIZE 37
/* RFC 1123 fully qualified name: 253 characters plus NUL. */
#define HOSTNAME_SIZE 254
#define SHA256_HEX_SIZE 65

/*
 * A growable byte buffer with a hard ceiling. Appends that would pass `max` fail with
 * -E2BIG and leave the buffer as it was. The data is always NUL-terminated.
 */
struct buf {
	char *data; /* owned */
	size_t len;
	size_t cap;
	size_t max;
};

/* Initialise an empty buffer that may grow to `max` bytes. */
void buf_init(struct buf *b, size_t max);
/* Free the contents; the buffer may be reused after buf_init. Accepts a zeroed struct. */
void buf_free(struct buf *b);
/*
 * Make room for `extra` more bytes without changing the contents, so a caller that
 * knows the final size allocates once. Returns 0, -E2BIG past the ceiling, or -ENOMEM.
 */
int buf_reserve(struct buf *b, size_t extra);
/* Append bytes. Returns 0, -E2BIG past the ceiling, or -ENOMEM. */
int buf_append(struct buf *b, const void *data, size_t len);
/* Append a string. Same returns as buf_append. */
int buf_puts(struct buf *b, const char *s);
/* Append formatted text. Same returns as buf_append. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Detach the data; the caller frees it and the buffer is left empty. */
char *buf_steal(struct buf *b);

/*
 * Parse a MAC address written with colons, hyphens or no separator, in either case
 * ("52:54:00:AB:CD:EF", "52-54-00-ab-cd-ef", "525400abcdef"), into lower-case colon
 * form. Mixed separators are rejected, and so are addresses no NIC uses as its own:
 * multicast and broadcast (group bit, the lowest bit of the first octet, set) and
 * all zeros. Returns 0 or -EINVAL.
 */
int mac_parse(const char *text, char out[MAC_TEXT_SIZE]);
/* Return the value of the hex digit `c` (either case), or -1. */
int hex_value(char c);
/*
 * Convert a canonical MAC ("52:54:00:ab:cd:ef", as mac_parse writes it) to its 48-bit
 * number plus one, a key that is never 0. Returns 0 when the text is not canonical.
 */
uint64_t mac_number(const char *mac);

/*
 * Make room for one more item in an array of `count` items of `size` bytes whose
 * allocation holds *capacity items: when it is full, double it (to `initial` when
 * empty). Returns the array, moved or not, with *capacity updated, or NULL when out
 * of memory, in which case `items` and *capacity are unchanged.
 */
void *array_grow(void *items, size_t *capacity, size_t count, size_t size, size_t initial);

/*
 * Check extra kernel arguments that go into an iPXE "kernel" command line. The text
 * must be words separated by spaces, each made of letters, digits and the characters
 * . _ , : = / + @ % ~ ; - and no word may be ";" alone. iPXE splits a command line at
 * whitespace, runs "&&", "||" and ";" words as command separators, starts a comment at
 * a word that begins with "#" and expands "${...}" in each word (system() in iPXE's
 * src/core/exec.c), so none of that can get through.
 * Returns 0, or -EINVAL with the byte offset of the first rejected character, or of a
 * lone ";", in *ret_offset.
 */
int cmdline_check(const char *text, size_t *ret_offset);

/*
 * Parse an SMBIOS UUID in the 8-4-4-4-12 form, either case, optionally in braces, into
 * lower case. Returns 0 or -EINVAL.
 */
int uuid_parse(const char *text, char out[UUID_TEXT_SIZE]);

/*
 * Check a host name against RFC 1123: labels of 1 to 63 letters, digits and hyphens,
 * not starting or ending with a hyphen, 253 characters in all, one trailing dot
 * allowed. Returns true when valid.
 */
bool hostname_valid(const char *text);

/*
 * Check a host address in the form the API stores for a BMC: a host name that
 * hostname_valid accepts, an IPv4 address in dotted-decimal form, or an IPv6 address
 * in brackets ("[fe80::1]"). A bare IPv6 address, or any address with a port, is
 * rejected. Returns true when valid.
 */
bool host_address_valid(const char *text);

/*
 * Parse a decimal unsigned integer within [min, max], with no sign, spaces or trailing
 * bytes. Returns 0, or -EINVAL (not a number) or -ERANGE (outside the bounds).
 */
int uint_parse(const char *text, uint64_t min, uint64_t max, uint64_t *ret);

/* Write the lower-case hex form of `len` bytes to `out`, which holds 2*len+1 bytes. */
void hex_encode(const unsigned char *data, size_t len, char *out);

/* SHA-256 of `len` bytes, as 64 hex digits plus NUL. */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_SIZE]);

/*
 * Fill `out` with `nbytes` random bytes from the kernel, hex-encoded (2*nbytes+1 bytes).
 * Returns 0 or a negative errno.
 */
int random_hex(size_t nbytes, char *out);

/*
 * Load the secret key of `size` bytes in the file `path`, or create it with random
 * bytes (mode 0600, through a temporary file so a crash leaves none). A key file that
 * is a link, has another size or can be read by others is refused. `what` names the
 * key in log lines ("deploy: the token key"), and `loss` names what a new key breaks.
 */
int key_file_load(const char *path, unsigned char *key, size_t size, const char *what,
		  const char *loss);

/* Compare two strings in time that depends only on their lengths. */
bool secret_equal(const char *a, const char *b);

/*
 * Copy `url` for a log line with the parts that may carry a secret replaced by three
 * asterisks: a user name and password before the host ("http://u:p@host/x"), the query
 * string, and a last path segment of URL_SECRET_SEGMENT characters or more, such as a
 * token (its first four characters and its extension stay, to tell URLs apart).
 */
#define URL_SECRET_SEGMENT 40
void url_redact(const char *url, char *out, size_t size);

/* Return the current time as Unix seconds. */
int64_t time_now(void);
/* Return the current time as Unix milliseconds. */
int64_t time_now_ms(void);
/* Return milliseconds on the monotonic clock, for deadlines and intervals. */
int64_t time_monotonic_ms(void);

/* Format Unix seconds as RFC 3339 UTC ("2026-12-04T20:09:23Z"); out holds 21 bytes. */
void time_format(int64_t seconds, char out[21]);

/* Write all `len` bytes, retrying after EINTR and short writes. Returns 0 or -errno. */
int write_all(int fd, const void *data, size_t len);

/*
 * Create the file `path` with `mode` and write `len` bytes to it, then fsync it.
 * O_EXCL and O_NOFOLLOW make sure it is a file this call created and not a link
 * planted in its place. On error the file is removed. Returns 0 or -errno (-EEXIST
 * when the path exists).
 */
int file_write_new(const char *path, unsigned mode, const void *data, size_t len);

/*
 * Replace every byte outside printable ASCII in `text` with '?', in place, so that a
 * message quoting untrusted bytes cannot move the cursor, clear a terminal or add a
 * line to a log.
 */
void text_sanitize(char *text);

/*
 * Write a formatted message to `err` when it is not NULL and errlen > 0, and return
 * rc, so that an error path reads `return err_set(-EINVAL, err, errlen, "...")`.
 */
int err_set(int rc, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
