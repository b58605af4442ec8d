/* SPDX-License-Identifier: Apache-2.0 */
/* The BMC manager's life cycle, its sealed credentials, and queueing operations. */
#include "bmcman/bmcman-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "util/util.h"

int
bmcman_new(const struct conf *conf, struct store_pool *pool, struct bmcman **ret)
{
	struct bmcman *m = calloc(1, sizeof(*m));
	int rc;

	if (m == NULL)
		return -ENOMEM;
	rc = bmc_secret_key_load(conf->state_dir, m->key);
	if (rc < 0) {
		log_err("failed to load the BMC secret key from %s: %s", conf->state_dir,
			strerror(-rc));
		free(m);
		return rc;
	}
	m->pool = pool;
	m->workers = (unsigned)conf->bmc_workers;
	m->timeout_ms = (int)conf->bmc_timeout_seconds * 1000;
	m->firmware_timeout_ms = (int)conf->bmc_firmware_timeout_seconds * 1000;
	m->operations_kept = (int64_t)conf->bmc_operations_kept;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->wake, NULL);
	*ret = m;
	return 0;
}

/* The operations a restart failed, for the audit entry that records it. */
struct abandoned {
	json_t *ids;                        /* those that were not reads */
	int64_t count;
	char detail[4096];
};

static void
abandoned_cb(int64_t id, const char *kind, void *arg)
{
	struct abandoned *a = arg;
	char err[64];

	a->count++;
	if (bmc_op_risk(bmc_op_kind_parse(kind), NULL, err, sizeof(err)) != RISK_READ &&
	    json_array_size(a->ids) < 256)
		json_array_append_new(a->ids, json_integer(id));
}

/* gov_execute operation: fail the interrupted operations and list them in the entry. */
static int
abandon_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct abandoned *a = arg;
	json_t *detail;
	int rc;

	rc = store_bmc_op_abandon(st, "interrupted: the daemon stopped before the operation "
				  "finished; queue it again", abandoned_cb, a);
	if (rc < 0)
		return err_set(rc, err, errlen, "%s", store_error(st));
	detail = json_pack("{s:I, s:O}", "failed", (json_int_t)a->count, "changes", a->ids);
	rc = bmcman_detail_write(detail, a->detail, sizeof(a->detail), err, errlen);
	json_decref(detail);
	return rc;
}

/*
 * Fail the operations a stop interrupted. When any of them would have changed a
 * server, an audit entry records the outcome their requests never got.
 */
static int
abandon_interrupted(struct store *st)
{
	struct abandoned a = { 0 };
	struct action act = { .actor = BMCMAN_ACTOR, .name = "bmc.operations.interrupted",
			      .target = "bmc-operations", .risk = RISK_CHANGE, .detail = a.detail };
	int64_t pending = 0;
	char err[256];
	int rc;

	/* A clean stop leaves nothing to fail, and the trail gets no entry. */
	rc = store_bmc_op_pending(st, &pending);
	if (rc < 0) {
		log_err("failed to count interrupted BMC operations: %s", store_error(st));
		return rc;
	}
	if (pending == 0)
		return 0;
	a.ids = json_array();
	snprintf(a.detail, sizeof(a.detail), "{}");
	rc = gov_execute(st, &act, abandon_op, &a, err, sizeof(err));
	json_decref(a.ids);
	if (rc < 0) {
		log_err("failed to fail interrupted BMC operations: %s", err);
		return rc;
	}
	if (a.count > 0)
		log_warning("failed %" PRId64 " BMC operations that a stop interrupted", a.count);
	return 0;
}

int
bmcman_start(struct bmcman *m)
{
	struct store *st = store_pool_get(m->pool);
	int rc;

	if (st == NULL)
		return -EIO;
	rc = abandon_interrupted(st);
	if (rc < 0)
		return rc;

	m->threads = calloc(m->workers, sizeof(*m->threads));
	if (m->threads == NULL)
		return -ENOMEM;
	for (; m->started < m->workers; m->started++) {
		rc = pthread_create(&m->threads[m->started], NULL, bmcman_worker, m);
		if (rc != 0) {
			log_err("failed to start BMC worker %u: %s", m->started, strerror(rc));
			return -rc;
		}
	}
	log_info("BMC manager started workers=%u timeout_ms=%d", m->workers, m->timeout_ms);
	return 0;
}

struct bmcman *
bmcman_free(struct bmcman *m)
{
	if (m == NULL)
		return NULL;
	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
	/* A running operation stops at its next retry or poll, within one request's time. */
	atomic_store(&m->cancel, true);
	for (unsigned i = 0; i < m->started; i++)
		pthread_join(m->threads[i], NULL);
	if (m->started > 0)
		log_info("BMC manager stopped");
	free(m->threads);
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->lock);
	explicit_bzero(m->key, sizeof(m->key));
	free(m);
	return NULL;
}

void
bmcman_kick(struct bmcman *m, bool all)
{
	pthread_mutex_lock(&m->lock);
	m->kicks++;
	if (all)
		pthread_cond_broadcast(&m->wake);
	else
		pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->lock);
}

void
bmcman_context(const struct bmc_record *b, char *out, size_t size)
{
	snprintf(out, size, "%s:%s:%" PRId64 ":%s", b->protocol, b->address, b->port,
		 b->username);
}

int
bmcman_seal(const struct bmcman *m, struct bmc_record *b, const char *password, char *err,
	    size_t errlen)
{
	char context[BMC_ADDRESS_SIZE + BMC_USER_SIZE + 32];
	int rc;

	if (strlen(password) >= BMC_SECRET_SIZE)
		return err_set(-EINVAL, err, errlen, "the password is longer than %d bytes",
			       BMC_SECRET_SIZE - 1);
	bmcman_context(b, context, sizeof(context));
	rc = bmc_secret_seal(m->key, context, password, b->secret, sizeof(b->secret));
	if (rc < 0)
		return err_set(rc, err, errlen, "cannot seal the BMC password: %s", strerror(-rc));
	return 0;
}

int
bmcman_reseal(const struct bmcman *m, const struct bmc_record *old, struct bmc_record *b,
	      char *err, size_t errlen)
{
	char context[BMC_ADDRESS_SIZE + BMC_USER_SIZE + 32], password[BMC_SECRET_SIZE];
	int rc;

	bmcman_context(old, context, sizeof(context));
	rc = bmc_secret_open(m->key, context, old->secret, password, sizeof(password));
	if (rc < 0)
		return err_set(rc, err, errlen, "the stored password of BMC %" PRId64 " does not "
			       "open with this appliance's key; set the password again", old->id);
	rc = bmcman_seal(m, b, password, err, errlen);
	explicit_bzero(password, sizeof(password));
	return rc;
}

/* One queued operation: what gov_execute's operation inserts, and the entry's fields. */
struct queue_args {
	struct bmc_operation op;
	int64_t machine_id;                 /* queue on this machine's BMC when bmc_id is 0 */
	char target[48];
	char detail[BMCMAN_URL_MAX + 256];  /* JSON text, rewritten in place with the id */
};

/* The first BMC of a machine, for bmcman_queue_machine. */
static int
first_bmc(const struct bmc_record *b, void *arg)
{
	int64_t *id = arg;

	*id = b->id;
	return 1;
}

int
bmcman_detail_write(json_t *detail, char *out, size_t size, char *err, size_t errlen)
{
	size_t need = detail != NULL ? json_dumpb(detail, NULL, 0, JSON_COMPACT) : 0;

	if (need == 0 || need >= size)
		return err_set(-ENOMEM, err, errlen, "cannot record the operation's audit detail");
	json_dumpb(detail, out, size, JSON_COMPACT);
	out[need] = '\0';
	return 0;
}

/* gov_execute operation: insert the operation and name it in the entry. */
static int
queue_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct queue_args *q = arg;
	json_t *detail;
	int rc;

	if (q->op.bmc_id == 0) {
		rc = store_bmc_list(st, q->machine_id, first_bmc, &q->op.bmc_id);
		if (rc < 0)
			return err_set(rc, err, errlen, "%s", store_error(st));
		if (q->op.bmc_id == 0)
			return err_set(-ENODEV, err, errlen, "machine %" PRId64 " has no BMC; enrol "
				       "one with POST /api/v1/bmcs", q->machine_id);
		snprintf(q->target, sizeof(q->target), "bmc:%" PRId64, q->op.bmc_id);
	}
	rc = store_bmc_op_insert(st, &q->op);
	if (rc < 0)
		return err_set(rc, err, errlen, "%s", store_error(st));

	detail = json_pack("{s:I, s:s, s:o}", "operation", (json_int_t)q->op.id, "kind",
			   q->op.kind, "args", json_loads(q->op.args, 0, NULL));
	rc = bmcman_detail_write(detail, q->detail, sizeof(q->detail), err, errlen);
	json_decref(detail);
	return rc;
}

/* Queue one operation as an audited action; the BMC is bmc_id, or machine_id's first. */
static int
queue_one(struct bmcman *m, struct store *st, const char *actor, int64_t bmc_id,
	  int64_t machine_id, enum bmc_op_kind kind, json_t *args, int64_t *ret_id,
	  char *err, size_t errlen)
{
	struct queue_args q = { .op = { .bmc_id = bmc_id }, .machine_id = machine_id };
	struct action a = { .actor = actor };
	char name[48];
	enum risk risk;
	int rc;

	risk = bmc_op_risk(kind, args, err, errlen);
	if (risk == RISK_INVALID)
		return -EINVAL;
	snprintf(q.op.kind, sizeof(q.op.kind), "%s", bmc_op_kind_name(kind));
	snprintf(q.op.actor, sizeof(q.op.actor), "%s", actor);
	q.op.args = args != NULL ? json_dumps(args, JSON_COMPACT) : strdup("{}");
	snprintf(q.detail, sizeof(q.detail), "{}");
	if (q.op.args == NULL) {
		rc = err_set(-ENOMEM, err, errlen, "out of memory");
		goto out;
	}
	if (bmc_id > 0)
		snprintf(q.target, sizeof(q.target), "bmc:%" PRId64, bmc_id);
	else
		snprintf(q.target, sizeof(q.target), "machine:%" PRId64, machine_id);
	snprintf(name, sizeof(name), "bmc.%s", q.op.kind);
	a.name = name;
	a.target = q.target;
	a.risk = risk;
	a.detail = q.detail;

	rc = gov_execute(st, &a, queue_op, &q, err, errlen);
	if (rc == 0) {
		*ret_id = q.op.id;
		log_info("BMC operation queued id=%" PRId64 " bmc=%" PRId64 " kind=%s actor=%s",
			 q.op.id, q.op.bmc_id, q.op.kind, actor);
		bmcman_kick(m, false);
	}
out:
	free(q.op.args);
	return rc;
}

int
bmcman_queue(struct bmcman *m, struct store *st, const char *actor, int64_t bmc_id,
	     enum bmc_op_kind kind, json_t *args, int64_t *ret_id, char *err,
	     size_t errlen)
{
	if (bmc_id <= 0)
		return err_set(-ENOENT, err, errlen, "BMC %" PRId64 " not found", bmc_id);
	return queue_one(m, st, actor, bmc_id, 0, kind, args, ret_id, err, errlen);
}

int
bmcman_queue_machine(struct bmcman *m, struct store *st, const char *actor,
		     int64_t machine_id, enum bmc_op_kind kind, json_t *args,
		     int64_t *ret_id, char *err, size_t errlen)
{
	return queue_one(m, st, actor, 0, machine_id, kind, args, ret_id, err, errlen);
}

/* One batch: the BMCs it covers, and the entry's fields. */
struct batch_args {
	const char *kind;
	const char *actor;
	const int64_t *ids;                 /* NULL: every BMC */
	size_t count;
	int64_t batch;
	size_t queued;
	char target[48];
	char detail[256];
};

/* gov_execute operation: queue the batch's operations and name the batch in the entry. */
static int
batch_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct batch_args *b = arg;
	json_t *detail;
	int rc;

	rc = store_bmc_op_next_batch(st, &b->batch);
	if (rc == 0 && b->ids == NULL)
		rc = store_bmc_op_insert_all(st, b->batch, b->kind, "{}", b->actor, &b->queued);
	for (size_t i = 0; rc == 0 && b->ids != NULL && i < b->count; i++) {
		struct bmc_operation op = { .bmc_id = b->ids[i], .batch = b->batch,
					    .args = (char *)"{}" };

		snprintf(op.kind, sizeof(op.kind), "%s", b->kind);
		snprintf(op.actor, sizeof(op.actor), "%s", b->actor);
		rc = store_bmc_op_insert(st, &op);
		b->queued += rc == 0;
	}
	if (rc < 0)
		return err_set(rc, err, errlen, "%s", store_error(st));
	snprintf(b->target, sizeof(b->target), "bmc-batch:%" PRId64, b->batch);
	detail = json_pack("{s:I, s:s, s:I}", "batch", (json_int_t)b->batch, "kind", b->kind,
			   "operations", (json_int_t)b->queued);
	rc = bmcman_detail_write(detail, b->detail, sizeof(b->detail), err, errlen);
	json_decref(detail);
	return rc;
}

int
bmcman_queue_batch(struct bmcman *m, struct store *st, const char *actor,
		   enum bmc_op_kind kind, const int64_t *ids, size_t count, int64_t *ret_batch,
		   size_t *ret_count, char *err, size_t errlen)
{
	struct batch_args b = { .kind = bmc_op_kind_name(kind), .actor = actor, .ids = ids,
				.count = count };
	struct action a = { .actor = actor };
	char name[48];
	int rc;

	/* A batch runs one thing on many servers, so only reads are allowed. */
	if (bmc_op_risk(kind, NULL, err, errlen) != RISK_READ)
		return err_set(-EINVAL, err, errlen, "operation %s cannot run as a batch: only "
			       "power-state, media-status, inventory, sensors and events can",
			       bmc_op_kind_name(kind));
	snprintf(b.target, sizeof(b.target), "bmc-batch:new");
	snprintf(b.detail, sizeof(b.detail), "{}");
	snprintf(name, sizeof(name), "bmc.%s", b.kind);
	a.name = name;
	a.target = b.target;
	a.risk = RISK_READ;
	a.detail = b.detail;
	rc = gov_execute(st, &a, batch_op, &b, err, errlen);
	if (rc < 0)
		return rc;
	log_info("BMC batch queued batch=%" PRId64 " kind=%s operations=%zu actor=%s", b.batch,
		 b.kind, b.queued, actor);
	*ret_batch = b.batch;
	*ret_count = b.queued;
	bmcman_kick(m, true);
	return 0;
}

void
bmcman_set_media_url(struct bmcman *m, bmcman_media_url_fn fn, void *ctx)
{
	m->media_url = fn;
	m->media_ctx = ctx;
}

int
bmcman_vmedia_boot(struct bmcman *m, struct store *st, const char *actor, int64_t machine_id,
		   int64_t deployment_id, int64_t *ret_operation, char *err, size_t errlen)
{
	json_t *args = json_pack("{s:I}", "deployment", (json_int_t)deployment_id);
	int rc;

	if (args == NULL)
		return err_set(-ENOMEM, err, errlen, "out of memory");
	rc = bmcman_queue_machine(m, st, actor, machine_id, BMC_OP_VMEDIA_BOOT, args,
				  ret_operation, err, errlen);
	json_decref(args);
	return rc;
}
