/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-thread connections. Each thread that calls store_pool_get gets its own
 * connection, kept in thread-specific data and closed by the key's destructor when the
 * thread exits. The pool also links every connection it opened, so store_pool_free
 * closes the ones whose threads are still alive.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"

struct pool_conn {
	struct store_pool *pool;
	struct store *st;                   /* owned */
	struct pool_conn *prev;
	struct pool_conn *next;
};

struct store_pool {
	char *path;                         /* owned */
	pthread_key_t key;
	pthread_mutex_t lock;               /* guards conns */
	struct pool_conn *conns;            /* owned, every open connection */
};

static void
pool_unlink(struct store_pool *pool, struct pool_conn *conn)
{
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		pool->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
}

/* The key's destructor: runs in an exiting thread that still has a connection. */
static void
pool_thread_exit(void *value)
{
	struct pool_conn *conn = value;
	struct store_pool *pool = conn->pool;

	pthread_mutex_lock(&pool->lock);
	pool_unlink(pool, conn);
	pthread_mutex_unlock(&pool->lock);

	store_close(conn->st);
	free(conn);
}

/* Open a connection for the calling thread and register it. store_open logs failures. */
static int
pool_open(struct store_pool *pool, struct pool_conn **ret)
{
	struct pool_conn *conn;
	int err;

	conn = calloc(1, sizeof(*conn));
	if (!conn)
		return -ENOMEM;
	conn->pool = pool;

	err = store_open(pool->path, false, &conn->st);
	if (err < 0)
		goto err_open;

	err = -pthread_setspecific(pool->key, conn);
	if (err < 0)
		goto err_setspecific;

	pthread_mutex_lock(&pool->lock);
	conn->next = pool->conns;
	if (pool->conns)
		pool->conns->prev = conn;
	pool->conns = conn;
	pthread_mutex_unlock(&pool->lock);

	*ret = conn;
	return 0;

err_setspecific:
	store_close(conn->st);
err_open:
	free(conn);
	return err;
}

int
store_pool_new(const char *path, struct store_pool **ret)
{
	struct store_pool *pool;
	struct pool_conn *conn;
	int err;

	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;

	pool->path = strdup(path);
	if (!pool->path) {
		err = -ENOMEM;
		goto err_path;
	}

	err = -pthread_key_create(&pool->key, pool_thread_exit);
	if (err < 0)
		goto err_path;

	err = -pthread_mutex_init(&pool->lock, NULL);
	if (err < 0)
		goto err_mutex;

	/*
	 * Open the calling thread's connection now: it runs the migrations once, and a
	 * database that cannot be opened fails here rather than in a worker thread.
	 */
	err = pool_open(pool, &conn);
	if (err < 0)
		goto err_first;

	*ret = pool;
	return 0;

err_first:
	pthread_mutex_destroy(&pool->lock);
err_mutex:
	pthread_key_delete(pool->key);
err_path:
	free(pool->path);
	free(pool);
	return err;
}

struct store *
store_pool_get(struct store_pool *pool)
{
	struct pool_conn *conn;
	int err;

	conn = pthread_getspecific(pool->key);
	if (conn)
		return conn->st;

	err = pool_open(pool, &conn);
	if (err < 0) {
		log_err("store: cannot open a connection for this thread path=\"%s\": %s",
			pool->path, strerror(-err));
		return NULL;
	}
	return conn->st;
}

/*
 * The worker threads must have stopped using the pool: a thread still inside
 * store_pool_get or exiting concurrently would touch freed memory. Deleting the key
 * first means no destructor runs for it afterwards, and the values left in live
 * threads are never read again.
 */
struct store_pool *
store_pool_free(struct store_pool *pool)
{
	struct pool_conn *conn, *next;

	if (!pool)
		return NULL;

	pthread_key_delete(pool->key);

	pthread_mutex_lock(&pool->lock);
	for (conn = pool->conns; conn; conn = next) {
		next = conn->next;
		store_close(conn->st);
		free(conn);
	}
	pool->conns = NULL;
	pthread_mutex_unlock(&pool->lock);

	pthread_mutex_destroy(&pool->lock);
	free(pool->path);
	free(pool);
	return NULL;
}
