/* SPDX-License-Identifier: Apache-2.0 */
/* The worker threads: claim the oldest runnable operation, run it, repeat. */
#include "bmcman/bmcman-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <time.h>

#include "log/log.h"
#include "util/util.h"

/* A worker with nothing to claim looks again this often, in case a kick was lost. */
#define IDLE_WAIT_MS 5000
/* Trim the finished operations after this many have run. */
#define TRIM_EVERY 256

/* Wait until a kick newer than `seen`, a stop, or IDLE_WAIT_MS. */
static void
idle_wait(struct bmcman *m, uint64_t seen)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += IDLE_WAIT_MS / 1000;
	pthread_mutex_lock(&m->lock);
	while (!m->stopping && m->kicks == seen) {
		if (pthread_cond_timedwait(&m->wake, &m->lock, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&m->lock);
}

static bool
stopping(struct bmcman *m, uint64_t *kicks)
{
	bool stop;

	pthread_mutex_lock(&m->lock);
	stop = m->stopping;
	*kicks = m->kicks;
	pthread_mutex_unlock(&m->lock);
	return stop;
}

void *
bmcman_worker(void *arg)
{
	struct bmcman *m = arg;
	struct store *st = store_pool_get(m->pool);
	unsigned ran = 0;
	uint64_t kicks;

	if (st == NULL) {
		log_err("BMC worker has no store connection; it stops");
		return NULL;
	}
	while (!stopping(m, &kicks)) {
		struct bmc_operation op;
		int rc = store_bmc_op_claim(st, &op);

		if (rc == -ENOENT) {
			idle_wait(m, kicks);
			continue;
		}
		if (rc < 0) {
			log_err("failed to claim a BMC operation: %s; retrying in %d ms",
				store_error(st), IDLE_WAIT_MS);
			idle_wait(m, kicks);
			continue;
		}
		bmcman_run(m, st, &op);
		bmc_operation_clear(&op);

		/* Another operation of the same BMC may be claimable now. */
		bmcman_kick(m, false);
		if (++ran % TRIM_EVERY == 0 && store_bmc_op_trim(st, m->operations_kept) < 0)
			log_warning("failed to trim finished BMC operations: %s", store_error(st));
	}
	return NULL;
}
