/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The deadline for a connection's request headers. MHD's own timeout only closes a
 * connection that is idle, so a client that sends one header byte every few seconds
 * could hold a connection slot for ever. Each connection that is waiting for its
 * request line and headers sits in a list ordered by deadline, from MHD's
 * MHD_CONNECTION_NOTIFY_STARTED (or the end of the previous reply on a keep-alive
 * connection) until MHD first calls the access handler. A thread per listener shuts
 * down the sockets of those past their deadline, and MHD then closes them as if the
 * client had gone.
 *
 * Calling shutdown(2) from another thread is only safe while the descriptor still
 * belongs to the connection. libmicrohttpd calls MHD_CONNECTION_NOTIFY_CLOSED before it
 * closes a connection's socket: MHD_cleanup_connections and the failure path of
 * new_connection_process_ in src/microhttpd/daemon.c do so in this order. The
 * notification removes the connection from the list under the lock that the thread
 * keeps while it calls shutdown, so the thread never touches a closed descriptor.
 *
 * NOTE: the daemon.c read for this was from a libmicrohttpd release after 0.9.75,
 * because the 0.9.75 file was not at hand. The unit test deadline_fd_open_at_close
 * checks the same order against the installed library.
 */
#include "http/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "log/log.h"

/* Longest sleep of the deadline thread with no connection waiting, in milliseconds. */
#define HTTP_DEADLINE_IDLE_MS 1000

static int64_t
monotonic_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Append `c` to the list with a deadline from now. Called with the lock held. */
static void
waiting_append(struct http_deadline *dl, struct http_conn *c)
{
	c->deadline_ms = monotonic_ms() + (int64_t)dl->timeout_seconds * 1000;
	c->waiting = true;
	c->next = NULL;
	c->prev = dl->tail;
	if (dl->tail != NULL)
		dl->tail->next = c;
	else
		dl->head = c;
	dl->tail = c;
}

/* Take `c` out of the list when it is in it. Called with the lock held. */
static void
waiting_remove(struct http_deadline *dl, struct http_conn *c)
{
	if (!c->waiting)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		dl->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		dl->tail = c->prev;
	c->prev = c->next = NULL;
	c->waiting = false;
}

/*
 * Shut down every connection past its deadline. Every deadline has the same length
 * and is set when the connection is appended, so the list is in deadline order.
 * Returns how many were shut down. Called with the lock held.
 */
static unsigned
waiting_expire(struct http_deadline *dl, int64_t now)
{
	unsigned count = 0;

	while (dl->head != NULL && dl->head->deadline_ms <= now) {
		struct http_conn *c = dl->head;

		/* MHD sees end of file or an error on its next read and closes the connection. */
		shutdown(c->fd, SHUT_RDWR);
		waiting_remove(dl, c);
		count++;
	}
	return count;
}

static void *
deadline_main(void *arg)
{
	struct http_server *srv = arg;
	struct http_deadline *dl = &srv->deadline;

	pthread_mutex_lock(&dl->lock);
	while (!dl->stopping) {
		int64_t now = monotonic_ms(), wake_ms;
		unsigned closed = waiting_expire(dl, now);
		struct timespec until;

		/* One line per sweep, so a flood of slow clients costs one line a second at most. */
		if (closed > 0)
			log_info("http closed %u connections without complete request headers "
				 "after %u seconds listener=%s", closed, dl->timeout_seconds,
				 dl->kind_name);

		wake_ms = dl->head != NULL ? dl->head->deadline_ms : now + HTTP_DEADLINE_IDLE_MS;
		until.tv_sec = (time_t)(wake_ms / 1000);
		until.tv_nsec = (long)(wake_ms % 1000) * 1000000;
		pthread_cond_timedwait(&dl->wake, &dl->lock, &until);
	}
	pthread_mutex_unlock(&dl->lock);
	return NULL;
}

int
http_deadline_start(struct http_server *srv)
{
	struct http_deadline *dl = &srv->deadline;
	pthread_condattr_t attr;
	int rc;

	dl->kind_name = http_kind_names[srv->kind];
	if (dl->timeout_seconds == 0)
		return 0;

	/* The thread sleeps until a CLOCK_MONOTONIC deadline, so its condition uses that clock. */
	rc = pthread_condattr_init(&attr);
	if (rc != 0)
		return -rc;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&dl->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		return -rc;
	rc = pthread_mutex_init(&dl->lock, NULL);
	if (rc != 0)
		goto err_mutex;

	dl->stopping = false;
	dl->head = dl->tail = NULL;
	rc = pthread_create(&dl->thread, NULL, deadline_main, srv);
	if (rc != 0)
		goto err_thread;
	dl->started = true;
	return 0;

err_thread:
	pthread_mutex_destroy(&dl->lock);
err_mutex:
	pthread_cond_destroy(&dl->wake);
	log_err("http cannot start the header deadline thread listener=%s: %s", dl->kind_name,
		strerror(rc));
	return -rc;
}

void
http_deadline_stop(struct http_server *srv)
{
	struct http_deadline *dl = &srv->deadline;

	if (!dl->started)
		return;
	pthread_mutex_lock(&dl->lock);
	dl->stopping = true;
	pthread_cond_signal(&dl->wake);
	pthread_mutex_unlock(&dl->lock);
	pthread_join(dl->thread, NULL);
	pthread_mutex_destroy(&dl->lock);
	pthread_cond_destroy(&dl->wake);
	dl->started = false;
}

void
http_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		     enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	struct http_deadline *dl = &srv->deadline;
	const union MHD_ConnectionInfo *info;
	struct http_conn *c;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		c = *socket_context;
		if (c == NULL)
			return;
		pthread_mutex_lock(&dl->lock);
		waiting_remove(dl, c);
		pthread_mutex_unlock(&dl->lock);
		free(c);
		*socket_context = NULL;
		return;
	}

	/* MHD_CONNECTION_NOTIFY_STARTED: the connection is accepted, no byte read yet. */
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	c = calloc(1, sizeof(*c));
	if (info == NULL || c == NULL) {
		/* Only the deadline is lost; MHD's idle timeout still applies. */
		log_warning("http cannot track a new connection listener=%s: %s, ignoring",
			    dl->kind_name, c == NULL ? "out of memory" : "no descriptor");
		free(c);
		return;
	}
	c->fd = info->connect_fd;
	pthread_mutex_lock(&dl->lock);
	waiting_append(dl, c);
	pthread_mutex_unlock(&dl->lock);
	*socket_context = c;
}

/* The connection's tracking state, or NULL when the deadline is off or it has none. */
static struct http_conn *
conn_of(struct http_server *srv, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;

	if (!srv->deadline.started)
		return NULL;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info != NULL ? info->socket_context : NULL;
}

void
http_deadline_disarm(struct http_server *srv, struct MHD_Connection *conn)
{
	struct http_conn *c = conn_of(srv, conn);

	if (c == NULL)
		return;
	pthread_mutex_lock(&srv->deadline.lock);
	waiting_remove(&srv->deadline, c);
	pthread_mutex_unlock(&srv->deadline.lock);
}

void
http_deadline_rearm(struct http_server *srv, struct MHD_Connection *conn)
{
	struct http_conn *c = conn_of(srv, conn);

	if (c == NULL)
		return;
	pthread_mutex_lock(&srv->deadline.lock);
	waiting_remove(&srv->deadline, c);
	waiting_append(&srv->deadline, c);
	pthread_mutex_unlock(&srv->deadline.lock);
}
