/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's HTTP client: one request per connection ("Connection: close"), bodies
 * by Content-Length, chunked coding or the close. Small on purpose, because the
 * ramdisk carries no curl, and strict, because the reply crosses the network.
 */
#include "agent/agent.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (256 * 1024)
#define JSON_REPLY_MAX (1024 * 1024)

static int __attribute__((format(printf, 4, 5)))
fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(err, errlen, fmt, args);
	va_end(args);
	return rc;
}

int
agent_url_parse(const char *text, struct agent_url *ret)
{
	const char *host = text + 7, *end, *port = NULL, *path;
	size_t host_len;

	if (strncmp(text, "http://", 7) != 0)
		return -EINVAL;
	if (*host == '[') {
		end = strchr(host, ']');
		if (end == NULL)
			return -EINVAL;
		host++;
		host_len = (size_t)(end - host);
		end++;
	} else {
		end = host + strcspn(host, ":/");
		host_len = (size_t)(end - host);
	}
	if (*end == ':')
		port = end + 1;
	path = strchr(end, '/');
	if (path == NULL)
		path = "/";
	if (host_len == 0 || host_len >= sizeof(ret->host) || strlen(path) >= sizeof(ret->path))
		return -EINVAL;
	for (size_t i = 0; i < host_len; i++)
		if (!isalnum((unsigned char)host[i]) && strchr(".-:", host[i]) == NULL)
			return -EINVAL;
	memcpy(ret->host, host, host_len);
	ret->host[host_len] = '\0';
	if (port != NULL) {
		size_t len = strspn(port, "0123456789");

		if (len == 0 || len > 5 || (port[len] != '/' && port[len] != '\0') ||
		    atoi(port) == 0 || atoi(port) > 65535)
			return -EINVAL;
		memcpy(ret->port, port, len);
		ret->port[len] = '\0';
	} else {
		strcpy(ret->port, "80");
	}
	for (const char *c = path; *c != '\0'; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return -EINVAL;
	strcpy(ret->path, path);
	return 0;
}

/* Compare header name `name` (len bytes) without case. */
static bool
header_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

int
agent_reply_head_parse(const char *head, size_t len, struct agent_reply_head *ret)
{
	const char *p = head, *end = head + len, *eol;
	struct agent_reply_head h = { .status = 0, .content_length = -1, .chunked = false };
	bool have_length = false;

	/* "HTTP/1.x NNN reason" */
	eol = memchr(p, '\n', (size_t)(end - p));
	if (eol == NULL || eol - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' ||
	    !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
	    !isdigit((unsigned char)p[11]) || (eol - p > 12 && p[12] != ' ' && p[12] != '\r'))
		return -EINVAL;
	h.status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (h.status < 100 || h.status > 599)
		return -EINVAL;

	for (p = eol + 1; p < end; p = eol + 1) {
		const char *colon, *value, *vend;

		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			return -EINVAL;
		vend = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if (vend == p)
			break;                  /* the blank line */
		colon = memchr(p, ':', (size_t)(vend - p));
		if (colon == NULL || colon == p)
			return -EINVAL;
		for (value = colon + 1; value < vend && (*value == ' ' || *value == '\t'); value++)
			;
		while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		if (header_is(p, (size_t)(colon - p), "Content-Length")) {
			int64_t n = 0;

			if (have_length || value == vend || vend - value > 15)
				return -EINVAL;
			for (const char *d = value; d < vend; d++) {
				if (!isdigit((unsigned char)*d))
					return -EINVAL;
				n = n * 10 + (*d - '0');
			}
			h.content_length = n;
			have_length = true;
		} else if (header_is(p, (size_t)(colon - p), "Transfer-Encoding")) {
			if ((size_t)(vend - value) != 7 || strncasecmp(value, "chunked", 7) != 0)
				return -EINVAL;
			h.chunked = true;
		}
	}
	if (h.chunked && have_length)
		return -EINVAL;
	*ret = h;
	return 0;
}

/* Connect to url's host and port within timeout_ms. Returns the socket or -errno. */
static int
dial(const struct agent_url *url, int timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *list, *ai;
	int fd = -1, rc;

	rc = getaddrinfo(url->host, url->port, &hints, &list);
	if (rc != 0)
		return fail(-EHOSTUNREACH, err, errlen, "cannot resolve %s: %s", url->host,
			    gai_strerror(rc));
	rc = -EHOSTUNREACH;
	for (ai = list; ai != NULL; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t len = sizeof(rc);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
			pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
			if (poll(&pfd, 1, timeout_ms) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &len) == 0 && rc == 0)
				break;
			rc = rc > 0 ? -rc : -ETIMEDOUT;
		} else {
			rc = -errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(list);
	if (fd < 0)
		return fail(rc, err, errlen, "cannot connect to %s port %s: %s", url->host,
			    url->port, strerror(-rc));
	return fd;
}

/* One connection's buffered reader. */
struct conn {
	int fd;
	int timeout_ms;
	double deadline;            /* agent_now() by which the request must end; 0: none */
	char *buf;
	size_t start, end;              /* unread bytes are buf[start, end) */
};

/* Read more into the buffer; returns bytes read, 0 at the close, or -errno. */
static ssize_t
conn_fill(struct conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	ssize_t n;

	if (c->start == c->end)
		c->start = c->end = 0;
	if (c->end == READ_SIZE) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	for (;;) {
		int wait = c->timeout_ms;

		if (c->deadline > 0) {
			double left = c->deadline - agent_now();

			if (left <= 0)
				return -ETIMEDOUT;
			if (left * 1000 < wait)
				wait = (int)(left * 1000) + 1;
		}
		n = recv(c->fd, c->buf + c->end, READ_SIZE - c->end, 0);
		if (n >= 0) {
			c->end += (size_t)n;
			return n;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		n = poll(&pfd, 1, wait);
		if (n == 0)
			return -ETIMEDOUT;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int
send_all(int fd, const char *data, size_t len, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n > 0) {
			data += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			if (poll(&pfd, 1, timeout_ms) == 0)
				return -ETIMEDOUT;
		} else if (n < 0 && errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

/* Read until the blank line ending the head and parse it. */
static int
read_head(struct conn *c, struct agent_reply_head *h, char *err, size_t errlen)
{
	const char *blank;
	ssize_t n;

	for (;;) {
		blank = memmem(c->buf + c->start, c->end - c->start, "\r\n\r\n", 4);
		if (blank != NULL && blank + 4 - (c->buf + c->start) > AGENT_HEADER_MAX)
			blank = NULL;
		if (blank != NULL)
			break;
		if (c->end - c->start >= AGENT_HEADER_MAX)
			return fail(-EPROTO, err, errlen, "the reply's head is over %d bytes",
				    AGENT_HEADER_MAX);
		n = conn_fill(c);
		if (n <= 0)
			return fail(n == 0 ? -EPROTO : (int)n, err, errlen,
				    "reading the reply's head: %s",
				    n == 0 ? "the server closed the connection" : strerror((int)-n));
	}
	blank += 4;
	if (agent_reply_head_parse(c->buf + c->start, (size_t)(blank - (c->buf + c->start)), h) < 0)
		return fail(-EPROTO, err, errlen, "the reply's status line or headers are malformed");
	c->start = (size_t)(blank - c->buf);
	return 0;
}

/* Hand `want` body bytes (-1: up to the close) to fn. */
static int
read_body(struct conn *c, int64_t want, agent_body_fn fn, void *arg, char *err, size_t errlen)
{
	ssize_t n;
	int rc;

	while (want != 0) {
		size_t have = c->end - c->start;

		if (have == 0) {
			n = conn_fill(c);
			if (n == 0 && want < 0)
				return 0;
			if (n <= 0)
				return fail(n == 0 ? -EPIPE : (int)n, err, errlen, "reading the body: %s",
					    n == 0 ? "the server closed the connection early" :
					    strerror((int)-n));
			continue;
		}
		if (want > 0 && (int64_t)have > want)
			have = (size_t)want;
		rc = fn(arg, c->buf + c->start, have);
		if (rc < 0)
			return fail(rc, err, errlen, "%s", err[0] != '\0' ? err : strerror(-rc));
		c->start += have;
		if (want > 0)
			want -= (int64_t)have;
	}
	return 0;
}

/* Read one line of a chunked body ("SIZE[;ext]\r\n" or the final "\r\n"). */
static int
read_line(struct conn *c, char *line, size_t size)
{
	for (;;) {
		char *eol = memchr(c->buf + c->start, '\n', c->end - c->start);
		ssize_t n;

		if (eol != NULL) {
			size_t len = (size_t)(eol - (c->buf + c->start));

			if (len >= size)
				return -EPROTO;
			memcpy(line, c->buf + c->start, len);
			line[len] = '\0';
			if (len > 0 && line[len - 1] == '\r')
				line[len - 1] = '\0';
			c->start += len + 1;
			return 0;
		}
		if (c->end - c->start >= size)
			return -EPROTO;
		n = conn_fill(c);
		if (n <= 0)
			return n == 0 ? -EPIPE : (int)n;
	}
}

static int
read_chunked(struct conn *c, agent_body_fn fn, void *arg, char *err, size_t errlen)
{
	char line[128], *end;
	int rc;

	for (;;) {
		unsigned long long size;

		rc = read_line(c, line, sizeof(line));
		if (rc < 0)
			return fail(rc, err, errlen, "reading a chunk size: %s", strerror(-rc));
		/* Hex digits only: strtoull would also take a sign, spaces and "0x". */
		size = 0;
		for (end = line; isxdigit((unsigned char)*end) && end - line < 11; end++)
			size = size * 16 + (unsigned long long)(isdigit((unsigned char)*end) ?
				*end - '0' : (tolower((unsigned char)*end) - 'a' + 10));
		if (end == line || (*end != '\0' && *end != ';'))
			return fail(-EPROTO, err, errlen, "malformed chunk size line");
		if (size == 0)
			break;
		rc = read_body(c, (int64_t)size, fn, arg, err, errlen);
		if (rc == 0)
			rc = read_line(c, line, sizeof(line));
		if (rc < 0)
			return rc;
		if (line[0] != '\0')
			return fail(-EPROTO, err, errlen, "a chunk does not end with CRLF");
	}
	/* Trailer fields, up to the blank line. */
	do {
		rc = read_line(c, line, sizeof(line));
	} while (rc == 0 && line[0] != '\0');
	return rc < 0 ? fail(rc, err, errlen, "reading the chunked trailer: %s", strerror(-rc)) : 0;
}

int
agent_http(const struct agent_request *rq, agent_body_fn fn, void *arg, int *ret_status,
	   char *err, size_t errlen)
{
	struct conn c = { .fd = -1, .deadline = rq->deadline,
			  .timeout_ms = (int)(rq->timeout_seconds ? rq->timeout_seconds : 30) * 1000 };
	struct agent_reply_head h;
	struct agent_url url;
	char *head = NULL;
	size_t body_len = rq->body != NULL ? strlen(rq->body) : 0;
	int n, rc;

	err[0] = '\0';
	if (agent_url_parse(rq->url, &url) < 0)
		return fail(-EINVAL, err, errlen, "invalid URL %.200s", rq->url);
	c.buf = malloc(READ_SIZE);
	head = malloc(AGENT_HEADER_MAX);
	if (c.buf == NULL || head == NULL) {
		rc = fail(-ENOMEM, err, errlen, "out of memory");
		goto done;
	}
	n = snprintf(head, AGENT_HEADER_MAX,
		     "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: outpost-agent\r\n"
		     "Connection: close\r\n%s%s%s%s%zu\r\n\r\n",
		     rq->method, url.path, url.host, url.port,
		     rq->token != NULL ? "Authorization: Bearer " : "",
		     rq->token != NULL ? rq->token : "", rq->token != NULL ? "\r\n" : "",
		     rq->body != NULL ? "Content-Type: application/json\r\nContent-Length: " :
		     "Content-Length: ", body_len);
	if (n < 0 || n >= AGENT_HEADER_MAX) {
		rc = fail(-EINVAL, err, errlen, "the request head is too long");
		goto done;
	}
	c.fd = dial(&url, c.timeout_ms, err, errlen);
	if (c.fd < 0) {
		rc = c.fd;
		goto done;
	}
	rc = send_all(c.fd, head, (size_t)n, c.timeout_ms);
	if (rc == 0 && body_len > 0)
		rc = send_all(c.fd, rq->body, body_len, c.timeout_ms);
	if (rc < 0) {
		rc = fail(rc, err, errlen, "sending the request: %s", strerror(-rc));
		goto done;
	}
	rc = read_head(&c, &h, err, errlen);
	if (rc < 0)
		goto done;
	*ret_status = h.status;
	if (h.chunked)
		rc = read_chunked(&c, fn, arg, err, errlen);
	else
		rc = read_body(&c, h.content_length, fn, arg, err, errlen);
done:
	if (c.fd >= 0)
		close(c.fd);
	if (head != NULL)
		explicit_bzero(head, AGENT_HEADER_MAX);
	free(head);
	free(c.buf);
	return rc;
}

struct json_sink {
	char *data;
	size_t len;
};

static int
json_collect(void *arg, const void *data, size_t len)
{
	struct json_sink *s = arg;
	char *grown;

	if (s->len + len > JSON_REPLY_MAX)
		return -EFBIG;
	grown = realloc(s->data, s->len + len + 1);
	if (grown == NULL)
		return -ENOMEM;
	memcpy(grown + s->len, data, len);
	s->data = grown;
	s->len += len;
	s->data[s->len] = '\0';
	return 0;
}

int
agent_http_json(const struct agent_request *rq, json_t **ret, int *ret_status, char *err,
		size_t errlen)
{
	struct json_sink sink = { NULL, 0 };
	int rc = agent_http(rq, json_collect, &sink, ret_status, err, errlen);

	*ret = NULL;
	if (rc == 0 && sink.data != NULL)
		*ret = json_loadb(sink.data, sink.len, 0, NULL);
	free(sink.data);
	return rc;
}
