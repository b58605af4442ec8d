/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The staging writer: a thread that writes a load's payload files while the walk reads
 * and hashes the next bytes, so a load takes about as long as the slower of hashing
 * and writing rather than both. The walk reads into one of a few fixed buffers, hands
 * it over, and waits for a free one when all are queued. So memory stays at the
 * writer's buffer count, fixed when it is made, whatever the bundle's size. The first
 * error stops the writing and is returned by the next call.
 *
 * Files are written with O_DIRECT where the file system allows it: the disk reads the
 * buffers directly, with no copy into the page cache, and the page cache keeps what
 * the boot listener serves. Nothing is synced here: the loader syncs the whole file
 * system once, which costs one flush instead of one per file.
 */
#include "bundle/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Alignment of O_DIRECT buffers and sizes; 4096 covers every common block size. */
#define DIRECT_ALIGN 4096
/* Queued operations: every buffer's write, plus opens and closes of small files. */
#define STAGE_QUEUE 64

enum op_kind {
	OP_OPEN,
	OP_DATA,
	OP_CLOSE,
};

struct op {
	enum op_kind kind;
	size_t index;                /* manifest file */
	int slot;                    /* OP_DATA: the buffer */
	size_t len;
};

struct stage_writer {
	int dir_fd;                  /* not owned; the staging folder */
	const struct bundle_manifest *m;     /* not owned; names the files in errors */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t queued;       /* an op was queued or stop was set */
	pthread_cond_t freed;        /* a buffer or a queue place was freed */
	struct op ops[STAGE_QUEUE];
	size_t head, count;
	unsigned char *bufs[STAGE_BUFFERS_MAX];
	bool busy[STAGE_BUFFERS_MAX];
	unsigned buffers;            /* of bufs */
	bool stop;
	int error;                   /* first failure, sticky */
	char message[BUNDLE_ERR_SIZE];
	int out_fd;                  /* writer thread only */
	bool out_direct;             /* out_fd has O_DIRECT */
	size_t out_index;
};

static void
fail_locked(struct stage_writer *sw, int rc, const char *action, size_t index)
{
	if (sw->error != 0)
		return;
	sw->error = rc;
	snprintf(sw->message, sizeof(sw->message), "entry %s: cannot %s its staging file: %s%s",
		 index < sw->m->file_count ? sw->m->files[index].path : "?", action, strerror(-rc),
		 rc == -ENOSPC ? "; make room or remove bundles" : "");
}

/* Create a staging file, with O_DIRECT when the file system supports it. */
static int
file_open(struct stage_writer *sw, size_t index)
{
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	char name[24];

	/* A walk that stops an entry because an earlier one failed sends no close for it. */
	if (sw->out_fd >= 0)
		close(sw->out_fd);
	snprintf(name, sizeof(name), "%zu", index);
	sw->out_index = index;
	sw->out_direct = true;
	sw->out_fd = openat(sw->dir_fd, name, flags | O_DIRECT, 0444);
	/* tmpfs and some others refuse O_DIRECT; the file must not exist yet either way. */
	if (sw->out_fd < 0 && errno == EINVAL) {
		sw->out_direct = false;
		sw->out_fd = openat(sw->dir_fd, name, flags, 0444);
	}
	return sw->out_fd < 0 ? -errno : 0;
}

/* Write a chunk; only an entry's last chunk may have an unaligned size. */
static int
file_write(struct stage_writer *sw, const unsigned char *buf, size_t len)
{
	size_t aligned = sw->out_direct ? len - len % DIRECT_ALIGN : 0;
	int rc;

	if (aligned > 0) {
		rc = write_all(sw->out_fd, buf, aligned);
		if (rc < 0)
			return rc;
	}
	if (aligned == len)
		return 0;
	/* The tail goes through the page cache, which takes any size. */
	if (sw->out_direct) {
		int flags = fcntl(sw->out_fd, F_GETFL);

		if (flags < 0 || fcntl(sw->out_fd, F_SETFL, flags & ~O_DIRECT) < 0)
			return -errno;
		sw->out_direct = false;
	}
	return write_all(sw->out_fd, buf + aligned, len - aligned);
}

/* Run one op on the writer thread; returns 0 or -errno with `action` set. */
static int
op_run(struct stage_writer *sw, const struct op *op, const char **action)
{
	int rc;

	switch (op->kind) {
	case OP_OPEN:
		*action = "create";
		return file_open(sw, op->index);
	case OP_DATA:
		*action = "write";
		return file_write(sw, sw->bufs[op->slot], op->len);
	case OP_CLOSE:
		*action = "close";
		rc = close(sw->out_fd) < 0 ? -errno : 0;
		sw->out_fd = -1;
		return rc;
	}
	return -EINVAL;
}

static void *
writer_main(void *arg)
{
	struct stage_writer *sw = arg;

	pthread_mutex_lock(&sw->lock);
	for (;;) {
		struct op op;
		const char *action = "";
		int rc = 0;

		while (sw->count == 0 && !sw->stop)
			pthread_cond_wait(&sw->queued, &sw->lock);
		if (sw->count == 0)
			break;
		op = sw->ops[sw->head];
		sw->head = (sw->head + 1) % STAGE_QUEUE;
		sw->count--;
		/* After a failure, queued ops only give their buffers back. */
		if (sw->error == 0) {
			pthread_mutex_unlock(&sw->lock);
			rc = op_run(sw, &op, &action);
			pthread_mutex_lock(&sw->lock);
		}
		if (rc < 0)
			fail_locked(sw, rc, action, op.kind == OP_OPEN ? op.index : sw->out_index);
		if (op.kind == OP_DATA)
			sw->busy[op.slot] = false;
		pthread_cond_broadcast(&sw->freed);
	}
	pthread_mutex_unlock(&sw->lock);
	if (sw->out_fd >= 0)
		close(sw->out_fd);
	sw->out_fd = -1;
	return NULL;
}

int
stage_writer_new(int dir_fd, const struct bundle_manifest *m, unsigned buffers,
		 struct stage_writer **ret)
{
	struct stage_writer *sw;
	int rc = -ENOMEM;

	if (buffers == 0 || buffers > STAGE_BUFFERS_MAX)
		return -EINVAL;
	sw = calloc(1, sizeof(*sw));
	if (sw == NULL)
		return -ENOMEM;
	sw->dir_fd = dir_fd;
	sw->m = m;
	sw->out_fd = -1;
	sw->buffers = buffers;
	for (unsigned i = 0; i < buffers; i++) {
		if (posix_memalign((void **)&sw->bufs[i], DIRECT_ALIGN, BUNDLE_CHUNK) != 0)
			goto err;
	}
	if (pthread_mutex_init(&sw->lock, NULL) != 0)
		goto err;
	if (pthread_cond_init(&sw->queued, NULL) != 0 || pthread_cond_init(&sw->freed, NULL) != 0)
		goto err;
	rc = -pthread_create(&sw->thread, NULL, writer_main, sw);
	if (rc < 0)
		goto err;
	*ret = sw;
	return 0;
err:
	for (unsigned i = 0; i < buffers; i++)
		free(sw->bufs[i]);
	free(sw);
	return rc;
}

/* Copy the sticky error into err; returns it. The caller holds the lock. */
static int
error_locked(struct stage_writer *sw, char *err, size_t errlen)
{
	if (sw->error != 0)
		err_set(sw->error, err, errlen, "%s", sw->message);
	return sw->error;
}

/* Queue an op, waiting for a place. Returns 0 or the writer's error. */
static int
enqueue(struct stage_writer *sw, struct op op, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&sw->lock);
	while (sw->count == STAGE_QUEUE && sw->error == 0)
		pthread_cond_wait(&sw->freed, &sw->lock);
	rc = error_locked(sw, err, errlen);
	if (rc == 0) {
		sw->ops[(sw->head + sw->count) % STAGE_QUEUE] = op;
		sw->count++;
		pthread_cond_signal(&sw->queued);
	} else if (op.kind == OP_DATA) {
		sw->busy[op.slot] = false;
	}
	pthread_mutex_unlock(&sw->lock);
	return rc;
}

void *
stage_writer_buffer(struct stage_writer *sw, char *err, size_t errlen)
{
	void *buf = NULL;

	pthread_mutex_lock(&sw->lock);
	for (;;) {
		if (error_locked(sw, err, errlen) != 0)
			break;
		for (unsigned i = 0; i < sw->buffers && buf == NULL; i++) {
			if (!sw->busy[i]) {
				sw->busy[i] = true;
				buf = sw->bufs[i];
			}
		}
		if (buf != NULL)
			break;
		pthread_cond_wait(&sw->freed, &sw->lock);
	}
	pthread_mutex_unlock(&sw->lock);
	return buf;
}

static int
slot_of(const struct stage_writer *sw, const void *buf)
{
	for (unsigned i = 0; i < sw->buffers; i++)
		if (sw->bufs[i] == buf)
			return (int)i;
	return -1;
}

void
stage_writer_release(struct stage_writer *sw, const void *buf)
{
	int slot = slot_of(sw, buf);

	if (slot < 0)
		return;
	pthread_mutex_lock(&sw->lock);
	sw->busy[slot] = false;
	pthread_cond_broadcast(&sw->freed);
	pthread_mutex_unlock(&sw->lock);
}

int
stage_writer_open(struct stage_writer *sw, size_t index, char *err, size_t errlen)
{
	return enqueue(sw, (struct op){ .kind = OP_OPEN, .index = index }, err, errlen);
}

int
stage_writer_data(struct stage_writer *sw, const void *buf, size_t len, char *err,
		  size_t errlen)
{
	int slot = slot_of(sw, buf);

	if (slot < 0)
		return err_set(-EINVAL, err, errlen, "a payload buffer the writer did not lend");
	return enqueue(sw, (struct op){ .kind = OP_DATA, .slot = slot, .len = len }, err, errlen);
}

int
stage_writer_close(struct stage_writer *sw, size_t index, char *err, size_t errlen)
{
	return enqueue(sw, (struct op){ .kind = OP_CLOSE, .index = index }, err, errlen);
}

int
stage_writer_finish(struct stage_writer *sw, bool abort, char *err, size_t errlen)
{
	int rc;

	if (sw == NULL)
		return 0;
	pthread_mutex_lock(&sw->lock);
	if (abort && sw->error == 0) {
		sw->error = -ECANCELED;
		snprintf(sw->message, sizeof(sw->message), "the load stopped");
	}
	sw->stop = true;
	pthread_cond_signal(&sw->queued);
	pthread_mutex_unlock(&sw->lock);
	pthread_join(sw->thread, NULL);
	rc = error_locked(sw, err, errlen);
	pthread_mutex_destroy(&sw->lock);
	pthread_cond_destroy(&sw->queued);
	pthread_cond_destroy(&sw->freed);
	for (unsigned i = 0; i < sw->buffers; i++)
		free(sw->bufs[i]);
	free(sw);
	return rc;
}
