/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The BMC manager: the only module that talks to BMCs. Front ends queue operations
 * (power, boot override, virtual media, reads), and a pool of worker threads runs
 * them through the drivers in src/bmc/. So a request never waits on a BMC, and a dead
 * or slow BMC occupies one worker, not the others.
 *
 * Each operation is a row in the store from the moment it is queued: the request is an
 * audited action (its risk class depends on the operation), the row and the audit
 * entry written in one transaction. A worker claims the oldest queued operation whose
 * BMC has none running, so the operations of one BMC run one at a time and in order.
 * It records the outcome in the row; the outcome of an operation that changes a
 * server is audited too. Operations that a stop or a crash interrupted are failed at
 * the next start, never run again: a power cycle requested yesterday must not run
 * today.
 *
 * Passwords are sealed (bmc_secret_seal) with a key in the state folder and opened
 * only by the worker that connects.
 */
#ifndef OUTPOST_BMCMAN_H
#define OUTPOST_BMCMAN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bmc/bmc.h"
#include "conf/conf.h"
#include "governance/governance.h"
#include "store/store.h"

struct bmcman;

enum bmc_op_kind {
	BMC_OP_VERIFY,          /* log in, learn a TOFU fingerprint, read the inventory, link */
	BMC_OP_POWER_STATE,
	BMC_OP_POWER,           /* args {"action": "on"|"off"|"shutdown"|"reset"|"cycle"} */
	BMC_OP_BOOT,            /* args {"device": ..., "mode": ...} */
	BMC_OP_MEDIA_INSERT,    /* args {"url": ...} */
	BMC_OP_MEDIA_EJECT,
	BMC_OP_MEDIA_STATUS,
	BMC_OP_INVENTORY,
	BMC_OP_SENSORS,
	BMC_OP_EVENTS,
	BMC_OP_FIRMWARE_UPDATE, /* args {"url": ...} */
	BMC_OP_VMEDIA_BOOT,     /* args {"url": ...} or {"deployment": id}: insert, boot once
				   from CD, reset or power on */
	BMC_OP_KIND_MAX,
	BMC_OP_KIND_INVALID = -1,
};

const char *bmc_op_kind_name(enum bmc_op_kind kind);
enum bmc_op_kind bmc_op_kind_parse(const char *name);

/*
 * Check an operation's arguments and return its risk class, which depends on them for
 * power (on: change; off, shutdown, reset, cycle: destructive). Returns RISK_INVALID
 * with the reason in err when the arguments are wrong.
 */
enum risk bmc_op_risk(enum bmc_op_kind kind, json_t *args, char *err, size_t errlen);

/*
 * Load the secret key from conf->state_dir (created on first start) and copy the
 * settings. The pool must outlive the manager. Returns 0 or a negative errno, logged.
 */
int bmcman_new(const struct conf *conf, struct store_pool *pool, struct bmcman **ret);

/*
 * The URL of a deployment's boot ISO, written to url (size bytes); 0 or a negative
 * errno. The URL carries the deployment's token, so operations store the deployment's
 * id, and the worker requests the URL only when it runs. The token then stays out of
 * the store and the audit trail.
 */
typedef int (*bmcman_media_url_fn)(void *ctx, int64_t deployment_id, char *url, size_t size);

/* Set how vmedia-boot operations on a deployment find its ISO's URL. Call before start. */
void bmcman_set_media_url(struct bmcman *m, bmcman_media_url_fn fn, void *ctx);

/* Fail the operations a stop or a crash interrupted, then start the workers. */
int bmcman_start(struct bmcman *m);

/* Stop the workers (each finishes or abandons its operation first) and free. */
struct bmcman *bmcman_free(struct bmcman *m);

/* Seal `password` for record b (its protocol, address, port and user name) into b->secret. */
int bmcman_seal(const struct bmcman *m, struct bmc_record *b, const char *password,
		char *err, size_t errlen);

/*
 * Re-seal b's secret after its endpoint or user name changed: open it with the
 * context of `old`, seal it for b. Returns -EBADMSG when the old secret does not open.
 */
int bmcman_reseal(const struct bmcman *m, const struct bmc_record *old, struct bmc_record *b,
		  char *err, size_t errlen);

/*
 * Enrol BMC b (its fields filled, secret empty) with `password`, as an audited action
 * of `actor`: seal the password, insert the row, queue a verify operation. Returns 0
 * with b->id and the verify's id in *ret_op, or a negative errno with err set (-EEXIST
 * when the endpoint is enrolled already).
 */
int bmcman_enrol(struct bmcman *m, struct store *st, const char *actor, struct bmc_record *b,
		 const char *password, int64_t *ret_op, char *err, size_t errlen);

/*
 * Replace BMC b->id's settings with b's; password NULL keeps the stored one, re-sealed
 * when the endpoint or user name changed. A change to how the BMC is reached queues a
 * verify, whose id is in *ret_op (0 when none was needed).
 */
int bmcman_update(struct bmcman *m, struct store *st, const char *actor, struct bmc_record *b,
		  const char *password, int64_t *ret_op, char *err, size_t errlen);

/* Remove BMC id; its operations stay as history. */
int bmcman_remove(struct bmcman *m, struct store *st, const char *actor, int64_t id,
		  char *err, size_t errlen);

/*
 * Queue operation `kind` with `args` (borrowed; NULL for none) on BMC bmc_id as an
 * audited action of `actor`, in its own transaction. Returns 0 with the operation's id
 * in *ret_id, -ENOENT when there is no such BMC, -EINVAL for bad arguments, -EPERM when
 * policy rejects it, or a store error, with the reason in err.
 */
int bmcman_queue(struct bmcman *m, struct store *st, const char *actor, int64_t bmc_id,
		 enum bmc_op_kind kind, json_t *args, int64_t *ret_id, char *err,
		 size_t errlen);

/*
 * Queue a read operation on each BMC in ids (count of them), or on every BMC when ids
 * is NULL, as one audited action. Returns 0 with the batch id and the number of
 * operations queued.
 */
int bmcman_queue_batch(struct bmcman *m, struct store *st, const char *actor,
		       enum bmc_op_kind kind, const int64_t *ids, size_t count,
		       int64_t *ret_batch, size_t *ret_count, char *err, size_t errlen);

/*
 * Queue `kind` on the first BMC linked to machine_id. Returns -ENODEV when the
 * machine has no BMC.
 */
int bmcman_queue_machine(struct bmcman *m, struct store *st, const char *actor,
			 int64_t machine_id, enum bmc_op_kind kind, json_t *args,
			 int64_t *ret_id, char *err, size_t errlen);

/*
 * Boot machine_id from the ISO of deployment_id through its BMC's virtual media: insert
 * it, set a one-time boot from CD, then reset the server (or power it on when it is off).
 */
int bmcman_vmedia_boot(struct bmcman *m, struct store *st, const char *actor,
		       int64_t machine_id, int64_t deployment_id, int64_t *ret_operation,
		       char *err, size_t errlen);

#endif
