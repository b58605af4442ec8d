/* SPDX-License-Identifier: Apache-2.0 */
/* Kea's control channel: one command per connection over its unix socket. */
#include "ddi/ddi-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

/* Largest reply read; lease4-get-all for 100,000 leases is about 30 MB. */
#define KEA_REPLY_MAX (64u << 20)

void
kea_reply_clear(struct kea_reply *reply)
{
	json_decref(reply->arguments);
	memset(reply, 0, sizeof(*reply));
}

int
kea_reply_parse(const char *text, size_t len, struct kea_reply *ret, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *reply, *result, *message;
	int r = -EPROTO;

	memset(ret, 0, sizeof(*ret));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "Kea's reply is not JSON: %s at byte %d", jerr.text,
			 jerr.position);
		text_sanitize(err);
		return -EPROTO;
	}

	reply = root;
	if (json_is_array(root)) {
		if (json_array_size(root) != 1) {
			snprintf(err, errlen, "Kea's reply is an array of %zu objects; expected one",
				 json_array_size(root));
			goto done;
		}
		reply = json_array_get(root, 0);
	}
	result = json_object_get(reply, "result");
	if (!json_is_object(reply) || !json_is_integer(result)) {
		snprintf(err, errlen, "Kea's reply has no integer \"result\"");
		goto done;
	}

	ret->result = (int)json_integer_value(result);
	message = json_object_get(reply, "text");
	if (json_is_string(message)) {
		snprintf(ret->text, sizeof(ret->text), "%s", json_string_value(message));
		text_sanitize(ret->text);
	}
	ret->arguments = json_incref(json_object_get(reply, "arguments"));
	r = 0;
done:
	json_decref(root);
	return r;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for `events` or the deadline passes. */
static int
wait_ready(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left = deadline - now_ms();
	int n;

	if (left <= 0)
		return -ETIMEDOUT;
	do
		n = poll(&p, 1, (int)left);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

static int
connect_socket(const char *path, int *ret)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A unix socket connects at once or fails; there is no EINPROGRESS to wait on. */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int r = errno == EAGAIN ? -ECONNREFUSED : -errno;

		close(fd);
		return r;
	}
	*ret = fd;
	return 0;
}

static int
send_all(int fd, const char *data, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = wait_ready(fd, POLLOUT, deadline);

			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read until Kea closes the connection. */
static int
receive_all(int fd, struct buf *reply, int64_t deadline)
{
	char chunk[65536];

	for (;;) {
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = wait_ready(fd, POLLIN, deadline);

			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (buf_append(reply, chunk, (size_t)n) < 0)
			return -EMSGSIZE;
	}
}

int
kea_command(const char *path, const char *command, json_t *arguments, int timeout_ms,
	    struct kea_reply *ret, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct buf reply;
	json_t *request;
	char *text;
	int fd = -1, r;

	request = json_pack("{s:s}", "command", command);
	if (request != NULL && arguments != NULL)
		json_object_set(request, "arguments", arguments);
	text = request != NULL ? json_dumps(request, JSON_COMPACT) : NULL;
	json_decref(request);
	if (text == NULL) {
		snprintf(err, errlen, "out of memory building Kea command %s", command);
		return -ENOMEM;
	}

	buf_init(&reply, KEA_REPLY_MAX);
	r = connect_socket(path, &fd);
	if (r < 0) {
		snprintf(err, errlen, "cannot connect to Kea's control socket %s: %s", path,
			 strerror(-r));
		goto done;
	}
	r = send_all(fd, text, strlen(text), deadline);
	if (r == 0)
		r = receive_all(fd, &reply, deadline);
	if (r < 0) {
		snprintf(err, errlen, "Kea command %s on %s failed: %s", command, path,
			 r == -EMSGSIZE ? "reply larger than 64 MiB" : strerror(-r));
		goto done;
	}
	r = kea_reply_parse(reply.data != NULL ? reply.data : "", reply.len, ret, err, errlen);
done:
	if (fd >= 0)
		close(fd);
	buf_free(&reply);
	free(text);
	return r;
}
