/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A worker pool: a fixed set of threads that run jobs from a bounded FIFO queue. Jobs
 * are fixed-size structs copied into the queue, so submitting allocates nothing, and a
 * full queue makes the submitter wait, which bounds the work in flight. With one
 * worker, jobs run in the order they were submitted.
 */
#include "bundle/bundle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pool_worker {
	struct work_pool *pool;
	unsigned index;
	pthread_t thread;
	void *job;                   /* the job being run, copied out of the queue */
};

struct work_pool {
	pthread_mutex_t lock;
	pthread_cond_t queued;       /* a job was queued, or stop was set */
	pthread_cond_t dequeued;     /* a job left the queue */
	pthread_cond_t idle;         /* a job finished */
	void (*run)(void *ctx, unsigned worker, void *job);
	void *ctx;
	size_t job_size;
	size_t capacity;             /* the queue's length, in jobs */
	unsigned char *jobs;         /* capacity * job_size bytes, a ring */
	size_t head, count;
	size_t running;              /* jobs taken and not finished */
	bool stop;
	unsigned started;
	struct pool_worker *workers;
	unsigned char *scratch;      /* each worker's job, workers * job_size bytes */
};

static void *
worker_main(void *arg)
{
	struct pool_worker *w = arg;
	struct work_pool *p = w->pool;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->count == 0 && !p->stop)
			pthread_cond_wait(&p->queued, &p->lock);
		if (p->count == 0)
			break;
		memcpy(w->job, p->jobs + p->head * p->job_size, p->job_size);
		p->head = (p->head + 1) % p->capacity;
		p->count--;
		p->running++;
		pthread_cond_signal(&p->dequeued);
		pthread_mutex_unlock(&p->lock);
		p->run(p->ctx, w->index, w->job);
		pthread_mutex_lock(&p->lock);
		p->running--;
		pthread_cond_broadcast(&p->idle);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int
work_pool_new(unsigned workers, size_t job_size, size_t capacity,
	      void (*run)(void *ctx, unsigned worker, void *job), void *ctx,
	      struct work_pool **ret)
{
	struct work_pool *p;
	int rc = 0;

	if (workers == 0 || job_size == 0 || capacity == 0)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->run = run;
	p->ctx = ctx;
	p->job_size = job_size;
	p->capacity = capacity;
	p->jobs = calloc(capacity, job_size);
	p->workers = calloc(workers, sizeof(*p->workers));
	p->scratch = calloc(workers, job_size);
	if (p->jobs == NULL || p->workers == NULL || p->scratch == NULL) {
		free(p->jobs);
		free(p->workers);
		free(p->scratch);
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->queued, NULL);
	pthread_cond_init(&p->dequeued, NULL);
	pthread_cond_init(&p->idle, NULL);
	for (; p->started < workers && rc == 0; p->started++) {
		struct pool_worker *w = &p->workers[p->started];

		*w = (struct pool_worker){ .pool = p, .index = p->started,
					   .job = p->scratch + p->started * job_size };
		rc = -pthread_create(&w->thread, NULL, worker_main, w);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		work_pool_free(p);
		return rc;
	}
	*ret = p;
	return 0;
}

void
work_pool_submit(struct work_pool *p, const void *job)
{
	pthread_mutex_lock(&p->lock);
	while (p->count == p->capacity)
		pthread_cond_wait(&p->dequeued, &p->lock);
	memcpy(p->jobs + (p->head + p->count) % p->capacity * p->job_size, job, p->job_size);
	p->count++;
	pthread_cond_signal(&p->queued);
	pthread_mutex_unlock(&p->lock);
}

int
work_pool_wait(struct work_pool *p, int timeout_ms)
{
	struct timespec deadline;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->lock);
	while ((p->count > 0 || p->running > 0) && rc == 0)
		rc = pthread_cond_timedwait(&p->idle, &p->lock, &deadline);
	if (p->count == 0 && p->running == 0)
		rc = 0;
	pthread_mutex_unlock(&p->lock);
	return rc == 0 ? 0 : -ETIMEDOUT;
}

struct work_pool *
work_pool_free(struct work_pool *p)
{
	if (p == NULL)
		return NULL;
	/* The workers run what is queued before they see stop with an empty queue. */
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->queued);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->started; i++)
		pthread_join(p->workers[i].thread, NULL);
	pthread_cond_destroy(&p->queued);
	pthread_cond_destroy(&p->dequeued);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->lock);
	free(p->jobs);
	free(p->workers);
	free(p->scratch);
	free(p);
	return NULL;
}
