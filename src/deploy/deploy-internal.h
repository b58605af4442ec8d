/* SPDX-License-Identifier: Apache-2.0 */
/* Declarations shared by the deploy module's files and nothing else. */
#ifndef OUTPOST_DEPLOY_INTERNAL_H
#define OUTPOST_DEPLOY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "deploy/deploy.h"

#define DEPLOY_KEY_SIZE 32
/* Largest inventory accepted from an agent, in bytes of JSON. */
#define DEPLOY_INVENTORY_MAX DEPLOY_BODY_MAX
/* Phases a deployment records at most, and runs of the deploy ramdisk it allows. */
#define DEPLOY_PHASES_MAX 64
#define DEPLOY_MAX_RUNS 3
/* Longest detail or failure reason kept from an agent's report. */
#define DEPLOY_DETAIL_MAX 400

struct deploy {
	unsigned char key[DEPLOY_KEY_SIZE];
	struct store_pool *pool;
	const struct ddi *ddi;           /* NULL when DDI is off */
	struct media *media;             /* NULL when no ISO is ever built */
	deploy_media_done_fn media_done; /* NULL: leave the CD inserted */
	void *media_done_ctx;
	char *base_url;                  /* owned; boot URL without a trailing slash */
	char *domain;                    /* owned; DNS domain of host names, "" when none */
	uint64_t poll_seconds;
	uint64_t phase_timeout_seconds;

	/* Rate limit of rejected-request lines, shared by the worker threads. */
	_Atomic int64_t log_second;
	atomic_uint log_count;

	pthread_t watchdog;
	bool watchdog_running;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
};

/* Rejected-request lines logged per second. */
#define DEPLOY_LOG_BURST 20
/* True when one more rejected-request line may be logged this second. */
bool deploy_log_allowed(struct deploy *dp);

/* token.c */
int deploy_key_load(const char *state_dir, unsigned char key[DEPLOY_KEY_SIZE]);

/* lifecycle.c: each runs as an audited action in one transaction. */
struct phase_report {
	const char *phase;
	double seconds;                  /* < 0: not given */
	const char *detail;              /* sanitised, may be "" */
};
/* Append a phase to running deployment `id`. -ESTALE when it is not running. */
int deploy_phase_record(struct deploy *dp, struct store *st, const char *actor, int64_t id,
			const struct phase_report *report, char *err, size_t errlen);
/* End deployment `id` as failed in `phase` with `reason`; the machine goes to failed. */
int deploy_fail(struct deploy *dp, struct store *st, const char *actor, int64_t id,
		const char *phase, const char *reason, char *err, size_t errlen);
/* End deployment `id` as succeeded; the machine goes to deployed. */
int deploy_succeed(struct deploy *dp, struct store *st, const char *actor, int64_t id,
		   char *err, size_t errlen);
/* Is `phase` a phase name, and with `agent`, one the agent reports? */
bool deploy_phase_known(const char *phase, bool agent);
/* Copy printable ASCII of `in` into out (at most DEPLOY_DETAIL_MAX bytes), '?' for others. */
void deploy_sanitise(const char *in, char out[DEPLOY_DETAIL_MAX + 1]);

/* cloudinit.c */
void deploy_cloud_init(struct deploy *dp, struct http_request *req, const char *rest);

/* agent.c */
void deploy_agent(struct deploy *dp, struct http_request *req, const char *rest);

#endif
