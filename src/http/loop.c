/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boot listener's own connection loop, used instead of libmicrohttpd there. Boot
 * clients send small GET requests on thousands of keep-alive connections. With MHD,
 * each request cleared and refilled a pool of several KiB that belongs to its
 * connection, so at a thousand connections most of a request's memory came from
 * outside the CPU's caches.
 *
 * Here each worker thread has one epoll set, with the shared listening socket and its
 * own connections, each registered once, edge-triggered, for input and output. A
 * request is read into the worker's buffer, parsed in place (wire.c) and handled, and
 * its reply goes out in one sendmsg, so a connection keeps no buffer between requests.
 * Only a request that does not arrive in one read, a body, or a reply the socket does
 * not take at once gets memory of the connection's own (struct loop_request).
 *
 * A connection is closed past the header deadline (the request head must be complete
 * header_timeout_seconds after the accept or the previous reply) and after
 * timeout_seconds without progress. Every worker checks its connections four times a
 * second.
 */
#include "http/http.h"
#include "http/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log/log.h"

/* Events taken from epoll per call. */
#define LOOP_EVENTS 256
/* Milliseconds between two checks of the connections' deadlines. */
#define LOOP_CHECK_MS 250
/*
 * Milliseconds a closing connection reads and drops what the client still sends.
 * Closing a socket with unread input makes the kernel send a reset, which can make
 * the client lose the reply it has not read yet.
 */
#define LOOP_LINGER_MS 2000
/* Bytes read at once while a body arrives. */
#define LOOP_BODY_READ 16384
/* Room for a reply's status line and headers; a larger head gets a 500. */
#define LOOP_HEAD_BYTES 4096
/* The maximum bytes of a chunk size line, extensions included, and of the trailer. */
#define LOOP_CHUNK_LINE_MAX 1024
#define LOOP_TRAILER_MAX 8192
/*
 * Bytes of a file reply sent before the connection yields to the others of its
 * worker. Without a turn, a client that reads fast (and whose socket buffer the
 * kernel grew) would take most of the worker's time while others wait.
 */
#define LOOP_FILE_TURN (512u * 1024)

/* The part of the exchange a connection waits for. */
enum loop_state {
	LOOP_HEAD,      /* the request head */
	LOOP_BODY,      /* the rest of a request body */
	LOOP_WRITE,     /* the socket to take the rest of a reply */
	LOOP_LINGER,    /* the client to close, after our last reply and shutdown */
};

/* The position in a chunked request body (RFC 9112 section 7.1). */
enum chunk_state {
	CHUNK_SIZE,     /* in the size line */
	CHUNK_DATA,     /* in chunk_left bytes of data */
	CHUNK_DATA_END, /* in the CRLF after the data */
	CHUNK_TRAILER,  /* in the trailer lines, up to the empty one */
};

/*
 * A request whose body is still coming: a copy of its head and the arrays that point
 * into it, then the state of the body.
 */
struct loop_request {
	struct http_request req;
	struct http_wire_head head;
	uint64_t body_left;             /* Content-Length bytes still to come */
	bool chunked;
	enum chunk_state chunk;
	uint64_t chunk_left;
	unsigned size_digits;           /* hex digits of the current size line */
	bool after_size;                /* whitespace followed the size */
	bool in_extension;              /* past the size, in a chunk extension */
	bool line_cr;                   /* the size line's CR came; its LF must be next */
	size_t line_len;                /* bytes of the current size or trailer line */
	size_t trailer_bytes;
	char text[];                    /* the head's bytes, then the arrays of `head` */
};

/* The reply being sent: its head, then body parts or a range of a file. */
struct loop_reply {
	const char *head;               /* the worker's buffer, or head_copy */
	size_t head_len, head_off;
	char *head_copy;                /* owned, once the reply outlives one write */
	struct iovec parts[3];
	unsigned part_first, part_count;
	struct http_response *shared;   /* one reference, or NULL */
	void (*release)(void *);        /* frees the body once sent, or NULL */
	void *release_arg;
	int fd;                         /* the file of a file reply, or -1 */
	uint64_t file_off, file_left;
};

struct loop_conn {
	struct loop_conn *prev, *next;  /* the worker's connections */
	struct loop_conn *turn_prev, *turn_next;  /* in the worker's turns, when waiting */
	bool in_turns;
	struct loop_worker *w;
	int fd;
	enum loop_state state;
	bool close_after;               /* close once the reply is sent */
	bool ip_counted;                /* counted in the listener's table of addresses */
	bool head_request;              /* HEAD: the reply has no body */
	bool peer_closed;               /* the client shut down its side */
	int64_t head_deadline_ms;       /* in LOOP_HEAD: when the head must be complete */
	int64_t active_ms;              /* the last read or write */
	char *in;                       /* owned: bytes of a request not handled yet */
	size_t in_len, in_cap;
	struct loop_request *lr;        /* owned, in LOOP_BODY */
	struct loop_reply reply;
	struct sockaddr_storage peer;
};

struct loop_worker {
	struct http_loop *loop;
	pthread_t thread;
	bool started;
	bool listening;                 /* the listening socket is in epfd */
	int epfd;
	int wake_fd;
	struct loop_conn *conns;
	int64_t resume_ms;              /* when to watch the listening socket again, or 0 */
	/* Connections that can still write but gave up their turn, oldest first. */
	struct loop_conn *turns_head, *turns_tail;
	int64_t next_check_ms;
	time_t date_second;
	char date[64];                  /* "Date: ...\r\n" */
	size_t date_len;
	/* The request being handled when its head and body came in one read. */
	struct http_request req;
	struct http_wire_head head;
	char *in;                       /* in_cap bytes */
	size_t in_cap;                  /* max_header_bytes, at least LOOP_BODY_READ */
	struct http_wire_arg *args;     /* max_fields */
	struct http_wire_field *fields; /* max_fields */
	char out[LOOP_HEAD_BYTES];
};

/* The open connections of one peer address, for max_connections_per_ip. */
struct loop_ip {
	struct loop_ip *next;
	unsigned char addr[16];
	unsigned count;
};

struct http_loop {
	struct http_server *srv;
	unsigned threads;
	unsigned timeout_seconds;
	unsigned header_timeout_seconds;
	unsigned max_connections;
	unsigned max_per_ip;
	atomic_uint connections;
	pthread_mutex_t lock;           /* guards ips, paused and each worker's listening */
	struct loop_ip *ips;
	atomic_bool paused;             /* some worker stopped watching the listening socket */
	bool stopping;                  /* http_loop_stop is closing every connection */
	struct loop_worker workers[];
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The 16 bytes that identify the address of `peer` (IPv4 as IPv4-mapped IPv6). */
static void
peer_key(const struct sockaddr_storage *peer, unsigned char key[16])
{
	memset(key, 0, 16);
	if (peer->ss_family == AF_INET) {
		key[10] = 0xff;
		key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)peer)->sin_addr, 4);
	} else if (peer->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
	}
}

/* Count a new connection of `peer`; false when it already has max_per_ip. */
static bool
ip_acquire(struct http_loop *loop, const struct sockaddr_storage *peer)
{
	struct loop_ip *ip;
	unsigned char key[16];
	bool ok = true;

	peer_key(peer, key);
	pthread_mutex_lock(&loop->lock);
	for (ip = loop->ips; ip != NULL && memcmp(ip->addr, key, 16) != 0; ip = ip->next)
		;
	if (ip == NULL) {
		ip = calloc(1, sizeof(*ip));
		if (ip != NULL) {
			memcpy(ip->addr, key, 16);
			ip->next = loop->ips;
			loop->ips = ip;
		}
	}
	if (ip == NULL || ip->count >= loop->max_per_ip)
		ok = false;
	else
		ip->count++;
	pthread_mutex_unlock(&loop->lock);
	return ok;
}

static void
ip_release(struct http_loop *loop, const struct sockaddr_storage *peer)
{
	struct loop_ip **link, *ip;
	unsigned char key[16];

	peer_key(peer, key);
	pthread_mutex_lock(&loop->lock);
	for (link = &loop->ips; *link != NULL; link = &(*link)->next) {
		ip = *link;
		if (memcmp(ip->addr, key, 16) != 0)
			continue;
		if (--ip->count == 0) {
			*link = ip->next;
			free(ip);
		}
		break;
	}
	pthread_mutex_unlock(&loop->lock);
}

/* Refresh the worker's Date header line when the second has changed. */
static void
date_refresh(struct loop_worker *w)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec == w->date_second && w->date_len > 0)
		return;
	w->date_second = ts.tv_sec;
	gmtime_r(&ts.tv_sec, &tm);
	w->date_len = strftime(w->date, sizeof(w->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n",
			       &tm);
}

/* Drop what the reply holds: its head copy, its body and its file. */
static void
reply_release(struct loop_reply *r)
{
	free(r->head_copy);
	if (r->shared != NULL)
		http_response_free(r->shared);
	if (r->release != NULL)
		r->release(r->release_arg);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* Free a request that outlived one read, and what its handler attached. */
static void
loop_request_free(struct loop_request *lr)
{
	if (lr == NULL)
		return;
	http_request_clear(&lr->req);
	free(lr);
}

/* Queue a connection that yielded, for another turn after the current events. */
static void
turn_add(struct loop_conn *c)
{
	struct loop_worker *w = c->w;

	if (c->in_turns)
		return;
	c->in_turns = true;
	c->turn_next = NULL;
	c->turn_prev = w->turns_tail;
	if (w->turns_tail != NULL)
		w->turns_tail->turn_next = c;
	else
		w->turns_head = c;
	w->turns_tail = c;
}

static void
turn_remove(struct loop_conn *c)
{
	struct loop_worker *w = c->w;

	if (!c->in_turns)
		return;
	c->in_turns = false;
	if (c->turn_prev != NULL)
		c->turn_prev->turn_next = c->turn_next;
	else
		w->turns_head = c->turn_next;
	if (c->turn_next != NULL)
		c->turn_next->turn_prev = c->turn_prev;
	else
		w->turns_tail = c->turn_prev;
}

/*
 * Stop watching the listening socket while the listener is at max_connections, so
 * new clients wait in the kernel's backlog instead of being accepted and dropped.
 */
static void
listen_pause(struct loop_worker *w)
{
	struct http_loop *loop = w->loop;

	pthread_mutex_lock(&loop->lock);
	if (w->listening && epoll_ctl(w->epfd, EPOLL_CTL_DEL, loop->srv->listen_fd, NULL) == 0) {
		w->listening = false;
		atomic_store(&loop->paused, true);
	}
	pthread_mutex_unlock(&loop->lock);
}

/* Watch the listening socket again in every worker that stopped. */
static void
listen_resume(struct http_loop *loop)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = loop };

	pthread_mutex_lock(&loop->lock);
	for (unsigned i = 0; atomic_load(&loop->paused) && i < loop->threads; i++) {
		struct loop_worker *w = &loop->workers[i];

		if (!w->listening && epoll_ctl(w->epfd, EPOLL_CTL_ADD, loop->srv->listen_fd,
					       &ev) == 0)
			w->listening = true;
	}
	atomic_store(&loop->paused, false);
	pthread_mutex_unlock(&loop->lock);
}

static void
conn_close(struct loop_conn *c)
{
	struct loop_worker *w = c->w;
	struct http_loop *loop = w->loop;

	turn_remove(c);
	reply_release(&c->reply);
	loop_request_free(c->lr);
	free(c->in);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->ip_counted)
		ip_release(loop, &c->peer);
	close(c->fd);
	free(c);
	/* A closed connection frees a slot and a descriptor, whichever was short. */
	atomic_fetch_sub(&loop->connections, 1);
	if (atomic_load(&loop->paused) && !loop->stopping)
		listen_resume(loop);
}

/* Begin waiting for the next request head; its deadline counts from now. */
static void
conn_expect_head(struct loop_conn *c)
{
	struct http_loop *loop = c->w->loop;

	c->state = LOOP_HEAD;
	c->head_deadline_ms = 0;
	if (loop->header_timeout_seconds > 0)
		c->head_deadline_ms = now_ms() + (int64_t)loop->header_timeout_seconds * 1000;
}

/* Appender for a reply head in a fixed buffer; `failed` once something did not fit. */
struct head_text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void
head_add(struct head_text *h, const char *text, size_t len)
{
	if (h->failed || len > h->cap - h->len) {
		h->failed = true;
		return;
	}
	memcpy(h->buf + h->len, text, len);
	h->len += len;
}

static void
head_add_str(struct head_text *h, const char *text)
{
	head_add(h, text, strlen(text));
}

static void
head_add_field(struct head_text *h, const char *name, const char *value)
{
	head_add_str(h, name);
	head_add(h, ": ", 2);
	head_add_str(h, value);
	head_add(h, "\r\n", 2);
}

/* Whether a reply with `status` carries a body and Content-Length (RFC 9110 8.6). */
static bool
status_has_body(unsigned status)
{
	return status >= 200 && status != 204 && status != 304;
}

/*
 * Write the head of a reply into the worker's buffer: the status line, Date, `fields`,
 * the request's own headers, `more` (header lines already formatted), Content-Length
 * and Connection. Returns 0 or -E2BIG.
 */
static int
reply_head(struct http_request *req, unsigned status, const struct http_field *fields,
	   size_t count, const char *more, size_t more_len, uint64_t length)
{
	struct loop_conn *c = req->econn;
	struct loop_worker *w = c->w;
	struct head_text h = { .buf = w->out, .cap = sizeof(w->out) };
	const char *reason = MHD_get_reason_phrase_for(status);
	char line[64];

	date_refresh(w);
	snprintf(line, sizeof(line), "HTTP/1.1 %u ", status);
	head_add_str(&h, line);
	head_add_str(&h, reason != NULL && reason[0] != '\0' ? reason : "Unknown");
	head_add(&h, "\r\n", 2);
	head_add(&h, w->date, w->date_len);
	for (size_t i = 0; i < count; i++)
		head_add_field(&h, fields[i].name, fields[i].value);
	for (unsigned i = 0; i < req->header_count; i++) {
		const char *name = req->headers[i];

		head_add_field(&h, name, name + strlen(name) + 1);
	}
	head_add(&h, more, more_len);
	if (status_has_body(status)) {
		snprintf(line, sizeof(line), "Content-Length: %" PRIu64 "\r\n", length);
		head_add_str(&h, line);
	}
	if (c->close_after)
		head_add_str(&h, "Connection: close\r\n");
	else if (strcmp(req->version, "HTTP/1.0") == 0)
		head_add_str(&h, "Connection: keep-alive\r\n");
	head_add(&h, "\r\n", 2);
	if (h.failed)
		return -E2BIG;
	c->reply.head = w->out;
	c->reply.head_len = h.len;
	c->reply.head_off = 0;
	return 0;
}

int
http_loop_send(struct http_request *req, unsigned status, const struct http_field *fields,
	       size_t count, struct http_body *body)
{
	struct loop_conn *c = req->econn;
	struct loop_reply *r = &c->reply;
	int rc;

	rc = reply_head(req, status, fields, count, "", 0, body->len);
	if (rc < 0) {
		log_err("http reply head too large listener=boot status=%u", status);
		http_body_discard(body);
		return rc;
	}
	if (c->head_request || !status_has_body(status) || body->len == 0) {
		http_body_discard(body);
	} else if (body->fd >= 0) {
		r->fd = body->fd;
		r->file_off = body->offset;
		r->file_left = body->len;
	} else if (body->release != NULL) {
		r->parts[0] = (struct iovec){ (void *)(uintptr_t)body->data, body->len };
		r->part_count = 1;
		r->release = body->release;
		r->release_arg = body->release_arg;
	} else {
		char *copy = malloc(body->len);

		if (copy == NULL)
			return -ENOMEM;
		memcpy(copy, body->data, body->len);
		r->parts[0] = (struct iovec){ copy, body->len };
		r->part_count = 1;
		r->release = free;
		r->release_arg = copy;
	}
	req->status = status;
	return 0;
}

int
http_loop_send_response(struct http_request *req, unsigned status,
			struct http_response *response)
{
	struct loop_conn *c = req->econn;
	struct loop_reply *r = &c->reply;
	struct http_response_view view;
	uint64_t length = 0;
	int rc;

	http_response_view(response, &view);
	for (unsigned i = 0; i < view.part_count; i++)
		length += view.parts[i].iov_len;
	rc = reply_head(req, status, NULL, 0, view.head, view.head_len, length);
	if (rc < 0)
		return rc;
	if (!c->head_request && status_has_body(status) && length > 0) {
		memcpy(r->parts, view.parts, view.part_count * sizeof(view.parts[0]));
		r->part_count = view.part_count;
		r->shared = http_response_ref(response);
	}
	req->status = status;
	return 0;
}

const struct sockaddr_storage *
http_loop_peer(const struct http_request *req)
{
	return &req->econn->peer;
}

/* Account for `sent` bytes of the head and the parts. */
static void
reply_advance(struct loop_reply *r, size_t sent)
{
	size_t head_left = r->head_len - r->head_off;

	if (sent <= head_left) {
		r->head_off += sent;
		return;
	}
	r->head_off = r->head_len;
	sent -= head_left;
	while (sent > 0 && r->part_first < r->part_count) {
		struct iovec *part = &r->parts[r->part_first];

		if (sent < part->iov_len) {
			part->iov_base = (char *)part->iov_base + sent;
			part->iov_len -= sent;
			return;
		}
		sent -= part->iov_len;
		r->part_first++;
	}
}

/*
 * Send what the socket takes, up to one turn of a file. Returns 1 when all is sent,
 * 0 to wait for the socket, 2 after a turn with more to send, or -1 on error.
 */
static int
reply_flush(struct loop_conn *c)
{
	struct loop_reply *r = &c->reply;
	uint64_t turn = LOOP_FILE_TURN;

	while (r->head_off < r->head_len || r->part_first < r->part_count) {
		struct iovec iov[4];
		struct msghdr msg = { .msg_iov = iov };
		ssize_t sent;

		if (r->head_off < r->head_len)
			iov[msg.msg_iovlen++] = (struct iovec){ (char *)(uintptr_t)r->head + r->head_off,
								r->head_len - r->head_off };
		for (unsigned i = r->part_first; i < r->part_count; i++)
			iov[msg.msg_iovlen++] = r->parts[i];
		sent = sendmsg(c->fd, &msg, MSG_NOSIGNAL | (r->file_left > 0 ? MSG_MORE : 0));
		if (sent < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		reply_advance(r, (size_t)sent);
	}
	while (r->file_left > 0) {
		off_t off = (off_t)r->file_off;
		size_t chunk = r->file_left < turn ? (size_t)r->file_left : (size_t)turn;
		ssize_t sent;

		if (chunk == 0)
			return 2;
		sent = sendfile(c->fd, r->fd, &off, chunk);
		if (sent < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		/* The file got shorter than the Content-Length already sent. */
		if (sent == 0)
			return -1;
		r->file_off += (uint64_t)sent;
		r->file_left -= (uint64_t)sent;
		turn -= (uint64_t)sent;
	}
	return 1;
}

/* Read and drop what a lingering connection's client sends; close at its end. */
static void
conn_drain(struct loop_conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->w->in, c->w->in_cap, 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
	}
}

/*
 * Close a connection whose last reply is sent: shut down our side, then drop the
 * client's input until it closes or LOOP_LINGER_MS pass (see LOOP_LINGER_MS).
 */
static void
conn_linger(struct loop_conn *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_close(c);
		return;
	}
	c->state = LOOP_LINGER;
	c->head_deadline_ms = now_ms() + LOOP_LINGER_MS;
	conn_drain(c);
}

/*
 * Send the reply of a finished request, then wait for the next head, or for the socket
 * when it did not take everything. Returns 0, or -1 when the connection is closed or
 * closing.
 */
static int
conn_reply(struct loop_conn *c)
{
	struct loop_reply *r = &c->reply;
	int rc;

	rc = reply_flush(c);
	if (rc < 0) {
		conn_close(c);
		return -1;
	}
	if (rc == 0 || rc == 2) {
		/* The head is in the worker's buffer, which the next request reuses. */
		if (r->head_copy == NULL && r->head_off < r->head_len) {
			r->head_copy = malloc(r->head_len - r->head_off);
			if (r->head_copy == NULL) {
				conn_close(c);
				return -1;
			}
			memcpy(r->head_copy, r->head + r->head_off, r->head_len - r->head_off);
			r->head_len -= r->head_off;
			r->head_off = 0;
			r->head = r->head_copy;
		}
		c->state = LOOP_WRITE;
		if (rc == 2)
			turn_add(c);
		return 0;
	}
	reply_release(r);
	if (c->close_after) {
		/* The caller stops here, as if the connection were closed. */
		conn_linger(c);
		return -1;
	}
	conn_expect_head(c);
	return 0;
}

/* Log and clear a request whose reply is set, then send the reply. */
static int
request_done(struct loop_conn *c, struct http_request *req)
{
	if (req->status == 0) {
		/* Not even an error reply could be made. */
		http_request_clear(req);
		conn_close(c);
		return -1;
	}
	http_request_log(req, 0);
	http_request_clear(req);
	return conn_reply(c);
}

/* Set up `req` for the request whose head is `head`. */
static void
request_init(struct http_request *req, struct loop_conn *c, const struct http_wire_head *head)
{
	struct http_server *srv = c->w->loop->srv;

	memset(req, 0, sizeof(*req));
	req->srv = srv;
	req->econn = c;
	req->wire = head;
	req->method = head->method;
	req->path = head->path;
	req->version = head->version;
	req->peer_uid = -1;
	buf_init(&req->body, srv->max_body_bytes);
}

/* Whether the comma-separated list `value` has `token` (without case). */
static bool
token_listed(const char *value, const char *token)
{
	size_t len = strlen(token);

	while (*value != '\0') {
		size_t n;

		while (*value == ' ' || *value == '\t' || *value == ',')
			value++;
		n = strcspn(value, ", \t");
		if (n == len && strncasecmp(value, token, len) == 0)
			return true;
		value += n;
		while (*value != '\0' && *value != ',')
			value++;
	}
	return false;
}

/*
 * Whether the connection closes after this request's reply (RFC 9112 section 9.3),
 * from every Connection header of the request.
 */
static bool
request_closes(const struct http_request *req)
{
	const struct http_wire_head *head = req->wire;
	bool keep_alive = false;

	for (unsigned i = 0; i < head->field_count; i++) {
		if (strcasecmp(head->fields[i].name, "Connection") != 0)
			continue;
		if (token_listed(head->fields[i].value, "close"))
			return true;
		keep_alive = keep_alive || token_listed(head->fields[i].value, "keep-alive");
	}
	return strcmp(req->version, "HTTP/1.0") == 0 && !keep_alive;
}

/*
 * Move the request whose head starts at `start` out of the worker's buffers into one
 * block of the connection's own, for a body that may take several reads.
 */
static struct loop_request *
request_detach(struct loop_conn *c, const struct http_wire_head *head, const char *start)
{
	struct http_server *srv = c->w->loop->srv;
	size_t arrays = (size_t)srv->max_fields * (sizeof(struct http_wire_arg) +
						   sizeof(struct http_wire_field));
	struct loop_request *lr = calloc(1, sizeof(*lr) + head->head_len + arrays + 16);
	char *text;

	if (lr == NULL)
		return NULL;
	text = lr->text;
	memcpy(text, start, head->head_len);
	lr->head = *head;
	/* The arrays start at the first multiple of 16 after the text: the 16 spare bytes. */
	lr->head.args = (struct http_wire_arg *)(((uintptr_t)(text + head->head_len) + 15) &
						 ~(uintptr_t)15);
	lr->head.fields = (struct http_wire_field *)(lr->head.args + srv->max_fields);
#define REBASE(p) ((p) != NULL ? text + ((p) - start) : NULL)
	lr->head.method = REBASE(head->method);
	lr->head.path = REBASE(head->path);
	for (unsigned i = 0; i < head->arg_count; i++) {
		lr->head.args[i].key = REBASE(head->args[i].key);
		lr->head.args[i].value = REBASE(head->args[i].value);
	}
	for (unsigned i = 0; i < head->field_count; i++) {
		lr->head.fields[i].name = REBASE(head->fields[i].name);
		lr->head.fields[i].value = REBASE(head->fields[i].value);
	}
#undef REBASE
	request_init(&lr->req, c, &lr->head);
	return lr;
}

/*
 * Send "100 Continue" to a client that waits for it before the body (RFC 9110
 * 10.1.1). Returns 0, or -1 when the line went out only in part and the connection
 * must close.
 */
static int
continue_if_expected(struct loop_conn *c, const struct http_request *req)
{
	static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
	const char *expect = http_header(req, "Expect");
	ssize_t sent;

	if (expect == NULL || strcasecmp(expect, "100-continue") != 0 ||
	    strcmp(req->version, "HTTP/1.1") != 0)
		return 0;
	/* An empty socket takes 25 bytes; a client that gets none sends the body anyway. */
	sent = send(c->fd, line, sizeof(line) - 1, MSG_NOSIGNAL);
	if (sent < 0 && errno != EAGAIN && errno != EINTR)
		return -1;
	return sent > 0 && sent < (ssize_t)sizeof(line) - 1 ? -1 : 0;
}

/*
 * Feed the bytes of a chunked body (RFC 9112 section 7.1) to the request. Sets *used.
 * Returns 1 once the last chunk and the trailer are in, 0 for more, or -1 for a
 * malformed body.
 */
static int
chunk_feed(struct loop_request *lr, const char *data, size_t len, size_t *used)
{
	size_t i = 0;

	while (i < len) {
		char ch = data[i];

		switch (lr->chunk) {
		case CHUNK_SIZE:
			i++;
			if (++lr->line_len > LOOP_CHUNK_LINE_MAX)
				return -1;
			if (lr->line_cr && ch != '\n')
				return -1;
			if (ch == '\n') {
				if (lr->size_digits == 0)
					return -1;
				lr->chunk = lr->chunk_left == 0 ? CHUNK_TRAILER : CHUNK_DATA;
				lr->line_len = 0;
				lr->size_digits = 0;
				lr->line_cr = false;
				lr->after_size = false;
				lr->in_extension = false;
			} else if (ch == '\r') {
				/* A CR must come right before the LF, even across two reads. */
				lr->line_cr = true;
			} else if (lr->in_extension) {
				/* Extensions are ignored. */
			} else if (ch == ';') {
				lr->in_extension = true;
			} else if (ch == ' ' || ch == '\t') {
				/* Only whitespace or an extension may follow the size. */
				lr->after_size = true;
			} else if (lr->after_size || hex_value(ch) < 0 ||
				   lr->chunk_left > UINT64_MAX >> 4) {
				return -1;
			} else {
				lr->chunk_left = lr->chunk_left << 4 | (uint64_t)hex_value(ch);
				lr->size_digits++;
			}
			break;
		case CHUNK_DATA: {
			size_t take = len - i < lr->chunk_left ? len - i : (size_t)lr->chunk_left;

			http_request_body_add(&lr->req, data + i, take);
			i += take;
			lr->chunk_left -= take;
			if (lr->chunk_left == 0)
				lr->chunk = CHUNK_DATA_END;
			break;
		}
		case CHUNK_DATA_END:
			i++;
			if (ch == '\n') {
				lr->chunk = CHUNK_SIZE;
				lr->line_len = 0;
			} else if (ch != '\r' || lr->line_len++ > 0) {
				return -1;
			}
			break;
		case CHUNK_TRAILER:
			i++;
			if (++lr->trailer_bytes > LOOP_TRAILER_MAX)
				return -1;
			if (ch == '\n') {
				if (lr->line_len == 0) {
					*used = i;
					return 1;
				}
				lr->line_len = 0;
			} else if (ch != '\r') {
				lr->line_len++;
			}
			break;
		}
	}
	*used = i;
	return 0;
}

/* Reply 400 to a malformed request, then close. Returns as request_done does. */
static int
request_malformed(struct loop_conn *c, struct http_request *req, const char *detail)
{
	c->close_after = true;
	http_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", detail);
	return request_done(c, req);
}

/*
 * Feed body bytes to the connection's request; once the body is whole, run the
 * handler and send the reply. Returns the bytes used, or -1 when the connection is
 * closed.
 */
static ssize_t
body_feed(struct loop_conn *c, const char *data, size_t len)
{
	struct loop_request *lr = c->lr;
	size_t used;
	int rc;

	if (lr->chunked) {
		rc = chunk_feed(lr, data, len, &used);
		if (rc < 0) {
			c->lr = NULL;
			rc = request_malformed(c, &lr->req, "the chunked body is malformed");
			free(lr);
			return rc < 0 ? -1 : (ssize_t)len;
		}
	} else {
		used = len < lr->body_left ? len : (size_t)lr->body_left;
		http_request_body_add(&lr->req, data, used);
		lr->body_left -= used;
		rc = lr->body_left == 0;
	}
	if (rc == 0)
		return (ssize_t)used;

	c->lr = NULL;
	c->state = LOOP_HEAD;
	http_request_dispatch(&lr->req);
	rc = request_done(c, &lr->req);
	free(lr);
	return rc < 0 ? -1 : (ssize_t)used;
}

/*
 * Start the request whose head was just parsed at `start`. The `len` bytes at `rest`
 * follow the head. Returns the bytes of rest used, or -1 when the connection is closed.
 */
static ssize_t
request_start(struct loop_conn *c, struct http_wire_head *head, const char *start,
	      const char *rest, size_t len)
{
	struct http_request *req = &c->w->req;
	struct loop_request *lr = NULL;
	uint64_t length = 0;
	const char *value;
	bool chunked, keep_open;

	request_init(req, c, head);
	c->head_request = strcmp(head->method, "HEAD") == 0;
	keep_open = !request_closes(req);
	chunked = http_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
	value = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	/*
	 * A request that announces a body, even of length 0, and is rejected before it is
	 * read ends its connection, because what follows could be its body or the next
	 * request, depending on who reads it. So any reply before the body carries
	 * Connection: close.
	 */
	c->close_after = !keep_open || chunked || value != NULL;
	if (!chunked && value != NULL && uint_parse(value, 0, UINT64_MAX, &length) < 0)
		return request_malformed(c, req, "Content-Length is not a number") < 0 ? -1 :
											  (ssize_t)len;

	/* A request with a body keeps its head where the next read cannot overwrite it. */
	if (chunked || length > 0) {
		lr = request_detach(c, head, start);
		if (lr == NULL) {
			log_warning("http out of memory for a request listener=boot, closing");
			http_request_clear(req);
			conn_close(c);
			return -1;
		}
		req = &lr->req;
		lr->chunked = chunked;
		lr->body_left = length;
	}

	if (http_request_begin(req, false) < 0 || req->status != 0) {
		int rc = -1;

		if (req->status != 0) {
			rc = request_done(c, req);
		} else {
			http_request_clear(req);
			conn_close(c);
		}
		free(lr);
		if (rc < 0)
			return -1;
		return c->close_after ? (ssize_t)len : 0;
	}
	/* The request passed every check, so its body is read and the connection may go on. */
	c->close_after = !keep_open;
	if (lr == NULL) {
		http_request_dispatch(req);
		return request_done(c, req) < 0 ? -1 : 0;
	}

	c->lr = lr;
	c->state = LOOP_BODY;
	if (len == 0 && continue_if_expected(c, req) < 0) {
		conn_close(c);
		return -1;
	}
	return len > 0 ? body_feed(c, rest, len) : 0;
}

/* Reply to a head the parser rejected, then close. Returns as request_done does. */
static int
head_rejected(struct loop_conn *c, int rc)
{
	struct http_request *req = &c->w->req;
	struct http_wire_head empty = { .method = "GET", .path = "", .version = "HTTP/1.1" };
	struct http_server *srv = c->w->loop->srv;

	request_init(req, c, &empty);
	c->head_request = false;
	c->close_after = true;
	if (rc == -E2BIG)
		http_reply_error(req, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large",
				 "the request line and headers pass the limit of %zu bytes",
				 srv->max_header_bytes);
	else if (rc == -ENOSPC)
		http_reply_error(req, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large",
				 "the request has more than %u query arguments and headers",
				 srv->max_fields);
	else if (rc == -EPROTONOSUPPORT)
		http_reply_error(req, MHD_HTTP_HTTP_VERSION_NOT_SUPPORTED, "version_not_supported",
				 "only HTTP/1.0 and HTTP/1.1 are served");
	else
		http_reply_error(req, MHD_HTTP_BAD_REQUEST, "bad_request",
				 "the request line or a header is malformed");
	return request_done(c, req);
}

/*
 * Handle the requests in the `len` bytes at `buf`, which the connection owns or the
 * worker lends. Returns the bytes used, or -1 when the connection is closed.
 */
static ssize_t
conn_handle(struct loop_conn *c, char *buf, size_t len)
{
	struct loop_worker *w = c->w;
	struct http_server *srv = w->loop->srv;
	size_t used = 0;

	while (used < len && c->state != LOOP_WRITE) {
		ssize_t n;

		if (c->state == LOOP_BODY) {
			n = body_feed(c, buf + used, len - used);
		} else {
			struct http_wire_head *head = &w->head;
			int rc;

			head->args = w->args;
			head->fields = w->fields;
			rc = http_wire_parse(buf + used, len - used, srv->max_header_bytes,
					     srv->max_fields, head);
			if (rc == -EAGAIN)
				break;
			if (rc < 0)
				return head_rejected(c, rc) < 0 ? -1 : (ssize_t)len;
			n = request_start(c, head, buf + used, buf + used + head->head_len,
					  len - used - head->head_len);
			if (n >= 0)
				n += (ssize_t)head->head_len;
		}
		if (n < 0)
			return -1;
		used += (size_t)n;
	}
	return (ssize_t)used;
}

/*
 * Keep the bytes of `buf` from `used` to `len` for the next request, in the
 * connection's own buffer. Returns 0, or -1 when the connection is closed.
 */
static int
conn_keep(struct loop_conn *c, char *buf, size_t len, size_t used)
{
	size_t rest = len - used, cap = c->w->loop->srv->max_header_bytes;

	if (buf == c->in) {
		memmove(c->in, c->in + used, rest);
		c->in_len = rest;
		if (rest == 0) {
			free(c->in);
			c->in = NULL;
		}
		return 0;
	}
	if (rest == 0)
		return 0;
	c->in = malloc((rest > cap ? rest : cap) + 1);
	if (c->in == NULL) {
		conn_close(c);
		return -1;
	}
	c->in_cap = rest > cap ? rest : cap;
	memcpy(c->in, buf + used, rest);
	c->in_len = rest;
	return 0;
}

static void
conn_readable(struct loop_conn *c)
{
	struct loop_worker *w = c->w;

	if (c->state == LOOP_LINGER) {
		conn_drain(c);
		return;
	}
	while (c->state != LOOP_WRITE) {
		char *buf = w->in;
		size_t have = 0, space = w->in_cap;
		ssize_t n, used;

		if (c->in != NULL) {
			buf = c->in;
			have = c->in_len;
			space = c->in_cap - have;
		} else if (c->state == LOOP_HEAD) {
			space = w->loop->srv->max_header_bytes;
		}
		if (space == 0) {
			conn_close(c);
			return;
		}
		n = recv(c->fd, buf + have, space, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(c);
			return;
		}
		if (n < 0)
			return;
		c->active_ms = now_ms();
		used = conn_handle(c, buf, have + (size_t)n);
		if (used < 0 || conn_keep(c, buf, have + (size_t)n, (size_t)used) < 0)
			return;
		/*
		 * A read that did not fill the space emptied the socket, unless the client
		 * also closed its side: that raises no new event, so read on to the end.
		 */
		if ((size_t)n < space && !c->peer_closed)
			return;
	}
}

static void
conn_writable(struct loop_conn *c)
{
	ssize_t used;

	if (c->state != LOOP_WRITE)
		return;
	c->active_ms = now_ms();
	if (conn_reply(c) < 0 || c->state == LOOP_WRITE)
		return;
	if (c->in != NULL) {
		used = conn_handle(c, c->in, c->in_len);
		if (used < 0 || conn_keep(c, c->in, c->in_len, (size_t)used) < 0)
			return;
	}
	/* Bytes that came while the reply was waiting raised no new edge. */
	conn_readable(c);
}

/* Accept every waiting connection that the limits allow. */
static void
accept_all(struct loop_worker *w)
{
	struct http_loop *loop = w->loop;
	int listen_fd = loop->srv->listen_fd;

	for (;;) {
		struct sockaddr_storage peer;
		socklen_t peer_len = sizeof(peer);
		struct epoll_event ev;
		struct loop_conn *c;
		int fd, one = 1;

		if (atomic_load(&loop->connections) >= loop->max_connections) {
			listen_pause(w);
			/* A connection may have closed before the pause took effect. */
			if (atomic_load(&loop->connections) < loop->max_connections)
				listen_resume(loop);
			return;
		}
		fd = accept4(listen_fd, (struct sockaddr *)&peer, &peer_len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/*
			 * The connection stays in the backlog, so the socket stays ready: stop
			 * watching it until a connection closes or a moment has passed.
			 */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				log_warning("http cannot accept a connection listener=boot: %s; "
					    "pausing new connections (raise the open-file limit or "
					    "lower max_connections)", strerror(errno));
				listen_pause(w);
				w->resume_ms = now_ms() + LOOP_CHECK_MS;
			}
			return;
		}
		if (atomic_fetch_add(&loop->connections, 1) >= loop->max_connections) {
			atomic_fetch_sub(&loop->connections, 1);
			log_info("http connection limit reached listener=boot max_connections=%u",
				 loop->max_connections);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			atomic_fetch_sub(&loop->connections, 1);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->w = w;
		c->peer = peer;
		c->reply.fd = -1;
		c->next = w->conns;
		if (w->conns != NULL)
			w->conns->prev = c;
		w->conns = c;
		if (loop->max_per_ip > 0 && peer.ss_family != AF_UNIX) {
			if (!ip_acquire(loop, &peer)) {
				log_info("http per-address connection limit reached listener=boot "
					 "max_connections_per_ip=%u", loop->max_per_ip);
				conn_close(c);
				continue;
			}
			c->ip_counted = true;
		}
		/* Replies go out whole in one write, so Nagle's delay would only hold them. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->active_ms = now_ms();
		conn_expect_head(c);
		ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
		ev.data.ptr = c;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			log_warning("http cannot watch a connection listener=boot: %s",
				    strerror(errno));
			conn_close(c);
		}
	}
}

/* Close the connections past their header deadline or idle for timeout_seconds. */
static void
deadlines_check(struct loop_worker *w, int64_t now)
{
	int64_t idle_limit = now - (int64_t)w->loop->timeout_seconds * 1000;
	struct loop_conn *c = w->conns, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		if (c->state == LOOP_LINGER && now >= c->head_deadline_ms) {
			conn_close(c);
		} else if (c->state == LOOP_HEAD && c->head_deadline_ms != 0 &&
			   now >= c->head_deadline_ms) {
			log_debug("http request headers not in time listener=boot, closing");
			conn_close(c);
		} else if (w->loop->timeout_seconds > 0 && c->active_ms < idle_limit) {
			log_debug("http connection idle for too long listener=boot, closing");
			conn_close(c);
		}
	}
	w->next_check_ms = now + LOOP_CHECK_MS;
}

/* Give each connection that yielded before this round one more turn. */
static void
turns_run(struct loop_worker *w)
{
	struct loop_conn *last = w->turns_tail;

	while (w->turns_head != NULL) {
		struct loop_conn *c = w->turns_head;
		bool was_last = c == last;

		turn_remove(c);
		conn_writable(c);
		if (was_last)
			break;
	}
}

static void *
worker_main(void *arg)
{
	struct loop_worker *w = arg;
	struct epoll_event events[LOOP_EVENTS];

	for (;;) {
		int n = epoll_wait(w->epfd, events, LOOP_EVENTS,
				   w->turns_head != NULL ? 0 : LOOP_CHECK_MS);
		int64_t now;

		for (int i = 0; i < n; i++) {
			void *p = events[i].data.ptr;
			struct loop_conn *c = p;
			uint32_t ev = events[i].events;

			if (p == w)
				return NULL;
			if (p == w->loop) {
				accept_all(w);
				continue;
			}
			if (ev & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
				c->peer_closed = true;
			if (c->state == LOOP_WRITE && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
				conn_writable(c);
			else if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
				conn_readable(c);
		}
		if (n < 0 && errno != EINTR)
			log_warning("http epoll_wait failed listener=boot: %s", strerror(errno));
		turns_run(w);
		now = now_ms();
		if (w->resume_ms != 0 && now >= w->resume_ms) {
			w->resume_ms = 0;
			listen_resume(w->loop);
		}
		if (now >= w->next_check_ms)
			deadlines_check(w, now);
	}
}

/* Free a worker's buffers, sockets and connections; its thread has stopped. */
static void
worker_free(struct loop_worker *w)
{
	while (w->conns != NULL)
		conn_close(w->conns);
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	free(w->in);
	free(w->args);
	free(w->fields);
}

/* Create a worker's epoll set, wake-up descriptor and buffers, and start its thread. */
static int
worker_start(struct loop_worker *w, struct http_loop *loop, int listen_fd)
{
	struct http_server *srv = loop->srv;
	struct epoll_event ev;
	int rc;

	w->loop = loop;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->in_cap = srv->max_header_bytes > LOOP_BODY_READ ? srv->max_header_bytes :
							     LOOP_BODY_READ;
	w->in = malloc(w->in_cap + 1);
	w->args = calloc(srv->max_fields, sizeof(*w->args));
	w->fields = calloc(srv->max_fields, sizeof(*w->fields));
	if (w->epfd < 0 || w->wake_fd < 0)
		return -errno;
	if (w->in == NULL || w->args == NULL || w->fields == NULL)
		return -ENOMEM;

	/* EPOLLEXCLUSIVE wakes one waiting worker per new connection, not all of them. */
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.ptr = loop;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
		return -errno;
	w->listening = true;
	ev.events = EPOLLIN;
	ev.data.ptr = w;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0)
		return -errno;
	rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc != 0)
		return -rc;
	w->started = true;
	return 0;
}

/* Wake every started worker, join it and free all. */
static void
loop_free(struct http_loop *loop)
{
	uint64_t one = 1;

	for (unsigned i = 0; i < loop->threads; i++) {
		struct loop_worker *w = &loop->workers[i];

		if (w->started && write(w->wake_fd, &one, sizeof(one)) < 0)
			log_err("http cannot wake a worker listener=boot: %s", strerror(errno));
	}
	for (unsigned i = 0; i < loop->threads; i++) {
		if (loop->workers[i].started)
			pthread_join(loop->workers[i].thread, NULL);
	}
	/* Only this thread is left, and the workers' epoll sets close one by one. */
	loop->stopping = true;
	for (unsigned i = 0; i < loop->threads; i++)
		worker_free(&loop->workers[i]);
	while (loop->ips != NULL) {
		struct loop_ip *next = loop->ips->next;

		free(loop->ips);
		loop->ips = next;
	}
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

int
http_loop_start(struct http_server *srv, const struct http_listener_config *cfg)
{
	struct http_loop *loop;
	int rc = 0;

	loop = calloc(1, sizeof(*loop) + cfg->threads * sizeof(loop->workers[0]));
	if (loop == NULL)
		return -ENOMEM;
	loop->srv = srv;
	loop->threads = cfg->threads;
	loop->timeout_seconds = cfg->timeout_seconds;
	loop->header_timeout_seconds = cfg->header_timeout_seconds;
	loop->max_connections = cfg->max_connections;
	loop->max_per_ip = cfg->max_connections_per_ip;
	atomic_init(&loop->connections, 0);
	atomic_init(&loop->paused, false);
	pthread_mutex_init(&loop->lock, NULL);
	for (unsigned i = 0; i < loop->threads; i++) {
		loop->workers[i].epfd = -1;
		loop->workers[i].wake_fd = -1;
	}
	for (unsigned i = 0; i < loop->threads && rc == 0; i++)
		rc = worker_start(&loop->workers[i], loop, srv->listen_fd);
	if (rc < 0) {
		log_err("http cannot start the boot listener's workers: %s", strerror(-rc));
		loop_free(loop);
		return rc;
	}
	srv->loop = loop;
	return 0;
}

void
http_loop_stop(struct http_server *srv)
{
	loop_free(srv->loop);
	srv->loop = NULL;
	close(srv->listen_fd);
}
