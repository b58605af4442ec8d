/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the BMC manager's files; not part of the module's interface. */
#ifndef OUTPOST_BMCMAN_INTERNAL_H
#define OUTPOST_BMCMAN_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "bmcman/bmcman.h"

/* The actor of the entries the manager writes itself. */
#define BMCMAN_ACTOR "system:bmc-manager"
/* The largest result an operation stores, serialised. */
#define BMCMAN_RESULT_MAX (1024 * 1024)
/* Longest URL an operation takes. */
#define BMCMAN_URL_MAX 1024

struct bmcman {
	struct store_pool *pool;            /* borrowed */
	unsigned char key[BMC_KEY_SIZE];    /* seals the BMCs' passwords */
	unsigned workers;
	int timeout_ms;
	int firmware_timeout_ms;
	int64_t operations_kept;
	bmcman_media_url_fn media_url;      /* NULL: vmedia-boot takes a URL only */
	void *media_ctx;

	pthread_mutex_t lock;               /* guards the fields below */
	pthread_cond_t wake;
	uint64_t kicks;                     /* counts queue changes, so a worker never misses one */
	bool stopping;
	atomic_bool cancel;                 /* set at stop: running operations stop retrying */
	pthread_t *threads;
	unsigned started;                   /* threads started */
};

/* Wake the workers after operations were queued or one finished. */
void bmcman_kick(struct bmcman *m, bool all);

/* The worker thread's body (worker.c). */
void *bmcman_worker(void *arg);

/*
 * Run operation op on its BMC (run.c): connect, do the work, record the outcome in
 * the operation's row, as a failure when the result cannot be recorded.
 */
void bmcman_run(struct bmcman *m, struct store *st, const struct bmc_operation *op);

/*
 * After a verify operation (link.c): link BMC b to the machine its inventory names,
 * by MAC and then by UUID, or register a new machine when none matches and the BMC
 * reports MACs. Runs inside the caller's transaction; sets *ret_machine and
 * *ret_created. Returns 0 or a store error with err set.
 */
int bmcman_link(struct store *st, struct bmc_record *b, const json_t *system,
		int64_t *ret_machine, bool *ret_created, char *err, size_t errlen);

/*
 * Write `detail` (NULL: out of memory) into an audit entry's buffer in place, because
 * gov_execute reads the detail through the pointer it was given after the operation
 * returns. Returns 0, or -ENOMEM with err set when it does not fit.
 */
int bmcman_detail_write(json_t *detail, char *out, size_t size, char *err, size_t errlen);

/* The sealing context of record b: "protocol:address:port:user". */
void bmcman_context(const struct bmc_record *b, char *out, size_t size);

#endif
