/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Static files for the boot listener: kernels, ramdisks and disk images that servers
 * fetch while they netboot. A file is opened beneath its root directory with
 * openat2(2) and no symlink, and sent with sendfile through MHD's descriptor responses.
 * GET and HEAD, one byte range, ETag with If-None-Match and If-Range, and
 * Last-Modified are supported (RFC 9110).
 */
#include "http/http.h"
#include "http/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log/log.h"

/* Room for a quoted ETag: ours is three 64-bit hex numbers; a caller's is a hash. */
#define HTTP_ETAG_MAX 160
/*
 * An IMF-fixdate of RFC 9110 ("Sun, 06 Nov 1994 08:49:37 GMT") is 29 bytes; the
 * buffer also has room for the widest int fields, so snprintf never truncates.
 */
#define HTTP_DATE_SIZE 80
/* Retries when openat2 returns EAGAIN because a rename raced with the lookup. */
#define HTTP_OPENAT2_RETRIES 4

/* Set once openat2(2) turned out to be missing, so later opens skip straight to the walk. */
static atomic_bool openat2_missing;

static bool
path_char_allowed(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '+';
}

/*
 * '%' is rejected like any other byte outside the set. MHD has already decoded the URL
 * once, so "%2e%2e" here came from a double-encoded "%252e%252e" and must not be
 * decoded a second time.
 */
int
http_path_check(const char *relpath)
{
	size_t component = 0;
	const char *p;

	if (relpath == NULL)
		return -EINVAL;

	for (p = relpath;; p++) {
		if ((size_t)(p - relpath) > HTTP_PATH_MAX)
			return -EINVAL;

		/* A separator or the end closes a component, which must not be empty. */
		if (*p == '/' || *p == '\0') {
			if (component == 0)
				return -EINVAL;
			if (*p == '\0')
				return 0;
			component = 0;
			continue;
		}

		/* No ".", "..", or hidden file can start a component. */
		if (component == 0 && *p == '.')
			return -EINVAL;
		if (!path_char_allowed(*p))
			return -EINVAL;
		if (++component > HTTP_NAME_MAX)
			return -EINVAL;
	}
}

/*
 * Parse decimal digits at *p, saturating at UINT64_MAX (any such offset is past the end
 * of any file). Returns false when there is no digit.
 */
static bool
parse_position(const char **p, uint64_t *ret)
{
	uint64_t value = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned digit = (unsigned)(*s - '0');

		if (value > (UINT64_MAX - digit) / 10)
			value = UINT64_MAX;
		else
			value = value * 10 + digit;
	}
	*p = s;
	*ret = value;
	return true;
}

static const char *
skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/*
 * Range = "bytes" "=" range-spec, where range-spec is "first-last", "first-" or
 * "-suffix" (RFC 9110 section 14.1). A list of several ranges gets the whole file,
 * which the RFC allows and which spares us multipart/byteranges.
 */
int
http_range_parse(const char *value, uint64_t size, uint64_t *first, uint64_t *last)
{
	uint64_t a, b;
	const char *p;

	if (value == NULL)
		return 0;
	p = skip_ows(value);
	if (strncasecmp(p, "bytes", 5) != 0)
		return 0;
	p = skip_ows(p + 5);
	if (*p != '=')
		return 0;
	p = skip_ows(p + 1);
	if (strchr(p, ',') != NULL)
		return 0;

	/* "-suffix": the last `suffix` bytes. A zero suffix or an empty file has none. */
	if (*p == '-') {
		p++;
		if (!parse_position(&p, &b) || *skip_ows(p) != '\0')
			return 0;
		if (b == 0 || size == 0)
			return -ERANGE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}

	if (!parse_position(&p, &a) || *p != '-')
		return 0;
	p++;

	/* "first-": from `first` to the end. */
	if (*skip_ows(p) == '\0') {
		if (a >= size)
			return -ERANGE;
		*first = a;
		*last = size - 1;
		return 1;
	}

	/* "first-last": a last before first makes the header invalid, so it is ignored. */
	if (!parse_position(&p, &b) || *skip_ows(p) != '\0' || b < a)
		return 0;
	if (a >= size)
		return -ERANGE;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return 1;
}

/* Walk `relpath` one component at a time with O_NOFOLLOW, for kernels before 5.6. */
static int
open_beneath_walk(int root_fd, const char *relpath)
{
	char component[HTTP_NAME_MAX + 1];
	const char *p = relpath, *slash;
	int dir_fd = root_fd, fd;

	/* http_path_check rules out "..", so each step stays below the previous one. */
	while ((slash = strchr(p, '/')) != NULL) {
		size_t len = (size_t)(slash - p);

		if (len == 0 || len > HTTP_NAME_MAX) {
			fd = -EINVAL;
			goto out;
		}
		memcpy(component, p, len);
		component[len] = '\0';

		fd = openat(dir_fd, component, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			fd = -errno;
			goto out;
		}
		if (dir_fd != root_fd)
			close(dir_fd);
		dir_fd = fd;
		p = slash + 1;
	}

	fd = openat(dir_fd, p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
out:
	if (dir_fd != root_fd)
		close(dir_fd);
	return fd;
}

int
http_open_beneath(int root_fd, const char *relpath, bool use_openat2)
{
	struct open_how how = {
		.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = -1;

	if (!use_openat2 || atomic_load_explicit(&openat2_missing, memory_order_relaxed))
		return open_beneath_walk(root_fd, relpath);

	for (int attempt = 0; attempt < HTTP_OPENAT2_RETRIES; attempt++) {
		fd = syscall(SYS_openat2, root_fd, relpath, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	if (fd >= 0)
		return (int)fd;

	/* Kernels before 5.6 have no openat2, and some seccomp filters return EPERM for it. */
	if (errno == ENOSYS || errno == EPERM) {
		log_info("http openat2 unavailable (%s), opening files component by component",
			 strerror(errno));
		atomic_store_explicit(&openat2_missing, true, memory_order_relaxed);
		return open_beneath_walk(root_fd, relpath);
	}
	return -errno;
}

static bool
etag_has_quotes(const char *etag)
{
	size_t len = strlen(etag);

	if (strncmp(etag, "W/", 2) == 0) {
		etag += 2;
		len -= 2;
	}
	return len >= 2 && etag[0] == '"' && etag[len - 1] == '"';
}

/*
 * Write the quoted ETag: the caller's (quoted when it is not already) or
 * "inode-size-mtime" in hex, mtime in nanoseconds. Returns false when the caller's
 * tag does not fit or contains a quote or control byte inside.
 */
static bool
etag_format(const struct stat *st, const char *given, char out[HTTP_ETAG_MAX])
{
	uint64_t mtime_ns;
	int n;

	if (given == NULL) {
		mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000u +
			   (uint64_t)st->st_mtim.tv_nsec;
		snprintf(out, HTTP_ETAG_MAX, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"",
			 (uint64_t)st->st_ino, (uint64_t)st->st_size, mtime_ns);
		return true;
	}

	for (const char *p = given; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x21 || *p == 0x7f)
			return false;
	}
	if (etag_has_quotes(given))
		n = snprintf(out, HTTP_ETAG_MAX, "%s", given);
	else if (strchr(given, '"') == NULL)
		n = snprintf(out, HTTP_ETAG_MAX, "\"%s\"", given);
	else
		return false;
	return n > 0 && n < HTTP_ETAG_MAX;
}

/* Format Unix seconds as an IMF-fixdate, independent of the process locale. */
static void
http_date_format(time_t seconds, char out[HTTP_DATE_SIZE])
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&seconds, &tm);
	snprintf(out, HTTP_DATE_SIZE, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
		 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
}

/* Compare two entity tags with or without the W/ prefix (weak comparison). */
static bool
etag_weak_equal(const char *a, size_t a_len, const char *b)
{
	if (a_len >= 2 && a[0] == 'W' && a[1] == '/') {
		a += 2;
		a_len -= 2;
	}
	if (strncmp(b, "W/", 2) == 0)
		b += 2;
	return strlen(b) == a_len && memcmp(a, b, a_len) == 0;
}

/*
 * Return true when an If-None-Match value ("*" or a list of entity tags) matches
 * `etag` (RFC 9110 section 13.1.2). Parsing stops at the first malformed element,
 * which with everything after it matches nothing, so a broken header gets the full
 * reply rather than a 304.
 */
static bool
if_none_match(const char *header, const char *etag)
{
	const char *p = skip_ows(header);

	if (*p == '*')
		return *skip_ows(p + 1) == '\0';

	while (*p != '\0') {
		const char *tag = p, *end;

		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (*p != '"')
			return false;
		end = strchr(p + 1, '"');
		if (end == NULL)
			return false;
		if (etag_weak_equal(tag, (size_t)(end + 1 - tag), etag))
			return true;

		/* Step over the separator: OWS "," OWS, or the end. */
		p = skip_ows(end + 1);
		if (*p == ',')
			p = skip_ows(p + 1);
		else if (*p != '\0')
			return false;
	}
	return false;
}

/*
 * Return true when a Range header may be honoured under If-Range: absent, the same
 * strong ETag, or exactly our Last-Modified date (RFC 9110 section 13.1.5).
 */
static bool
if_range_allows(const char *header, const char *etag, const char *last_modified)
{
	if (header == NULL)
		return true;
	header = skip_ows(header);
	if (header[0] == '"' || (header[0] == 'W' && header[1] == '/'))
		return header[0] == '"' && strcmp(header, etag) == 0;
	return strcmp(header, last_modified) == 0;
}

/* Fill the first three fields with the validators of 200, 206 and 304 replies. */
static void
file_fields(struct http_field *fields, const char *etag, const char *last_modified)
{
	fields[0] = (struct http_field){ MHD_HTTP_HEADER_ETAG, etag };
	fields[1] = (struct http_field){ MHD_HTTP_HEADER_LAST_MODIFIED, last_modified };
	fields[2] = (struct http_field){ MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes" };
}

/*
 * Reply 304 with the validators and no body.
 * NOTE: MHD 0.9.75 adds "Content-Length: 0" to every bodyless reply, 304 included,
 * and adds it again next to one of ours. RFC 9110 section 8.6 wants either none or the
 * 200's length. A 304 ends at the blank line after its headers whatever Content-Length
 * says (RFC 9112 section 6.3), so this is left as MHD sends it.
 */
static int
reply_not_modified(struct http_request *req, const char *etag, const char *last_modified)
{
	struct http_body none = { .fd = -1 };
	struct http_field fields[3];

	file_fields(fields, etag, last_modified);
	return http_send(req, MHD_HTTP_NOT_MODIFIED, fields, 3, &none);
}

/* Reply 416 with Content-Range: bytes * / size and a JSON error body. */
static int
reply_unsatisfiable(struct http_request *req, uint64_t size)
{
	char range[48];
	int rc;

	snprintf(range, sizeof(range), "bytes */%" PRIu64, size);
	rc = http_add_header(req, MHD_HTTP_HEADER_CONTENT_RANGE, range);
	if (rc < 0)
		return rc;
	return http_reply_error(req, MHD_HTTP_RANGE_NOT_SATISFIABLE, "range_not_satisfiable",
				"the file is %" PRIu64 " bytes", size);
}

/*
 * Reply 200 with the whole file, or 206 with bytes first..last. Takes ownership of
 * `fd`, which MHD closes with the response.
 */
static int
reply_content(struct http_request *req, int fd, const struct stat *st, bool partial,
	      uint64_t first, uint64_t last, const char *content_type, const char *etag,
	      const char *last_modified)
{
	struct http_body body = { .fd = fd };
	uint64_t size = (uint64_t)st->st_size;
	struct http_field fields[5];
	size_t count = 3;
	char range[80];

	if (!partial) {
		first = 0;
		last = size - 1;
	}

	/* An empty file has no byte range, so it gets a zero-length body at offset 0. */
	body.len = size == 0 ? 0 : last - first + 1;
	body.offset = first;
	file_fields(fields, etag, last_modified);
	fields[count++] = (struct http_field){
		MHD_HTTP_HEADER_CONTENT_TYPE,
		content_type != NULL ? content_type : "application/octet-stream"
	};
	if (partial) {
		snprintf(range, sizeof(range), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first,
			 last, size);
		fields[count++] = (struct http_field){ MHD_HTTP_HEADER_CONTENT_RANGE, range };
	}
	return http_send(req, partial ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, fields, count,
			 &body);
}

/* Reply 404 and log why at a level that suits who caused it. */
static int
reply_not_found(struct http_request *req, const char *relpath, const char *reason)
{
	char path[256];

	http_printable(relpath, path, sizeof(path));
	log_debug("http file not served peer=%s path=\"%s\": %s", http_peer(req), path,
		  reason);
	return http_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", "no such file");
}

int
http_reply_file(struct http_request *req, int root_fd, const char *relpath,
		const char *content_type, const char *etag)
{
	char etag_text[HTTP_ETAG_MAX], last_modified[HTTP_DATE_SIZE], path[256];
	const char *method = http_method(req), *header;
	uint64_t first = 0, last = 0;
	struct stat st;
	int fd, flags, range;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		if (http_add_header(req, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") < 0)
			return -ENOMEM;
		return http_reply_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
					"files are served with GET and HEAD only");
	}

	/* A path that breaks the rules is a probe or a broken client, not our error. */
	if (http_path_check(relpath) < 0) {
		http_printable(relpath != NULL ? relpath : "", path, sizeof(path));
		log_info("http invalid file path rejected peer=%s path=\"%s\"", http_peer(req),
			 path);
		return http_reply_error(req, MHD_HTTP_NOT_FOUND, "not_found", "no such file");
	}

	fd = http_open_beneath(root_fd, relpath, true);
	if (fd < 0) {
		switch (-fd) {
		case ENOENT:
		case ENOTDIR:
		case ELOOP:  /* a symlink on the way */
		case EXDEV:  /* the path would leave the root */
		case EACCES:
		case ENXIO:
			return reply_not_found(req, relpath, strerror(-fd));
		default:
			http_printable(relpath, path, sizeof(path));
			log_warning("http cannot open file path=\"%s\": %s", path, strerror(-fd));
			return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
						"internal", "the file could not be opened");
		}
	}

	/* Only regular files: no directories, FIFOs, sockets or devices. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return reply_not_found(req, relpath, "not a regular file");
	}

	/* MHD expects a blocking descriptor; O_NONBLOCK was only there for the open. */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		close(fd);
		return http_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
					"the file could not be opened");
	}

	if (!etag_format(&st, etag, etag_text)) {
		log_warning("http invalid ETag given for a file, using the computed one");
		etag_format(&st, NULL, etag_text);
	}
	http_date_format(st.st_mtim.tv_sec, last_modified);

	header = http_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (header != NULL && if_none_match(header, etag_text)) {
		close(fd);
		return reply_not_modified(req, etag_text, last_modified);
	}

	range = 0;
	header = http_header(req, MHD_HTTP_HEADER_RANGE);
	if (header != NULL &&
	    if_range_allows(http_header(req, MHD_HTTP_HEADER_IF_RANGE), etag_text,
			    last_modified))
		range = http_range_parse(header, (uint64_t)st.st_size, &first, &last);
	if (range == -ERANGE) {
		close(fd);
		return reply_unsatisfiable(req, (uint64_t)st.st_size);
	}

	return reply_content(req, fd, &st, range == 1, first, last, content_type, etag_text,
			     last_modified);
}
