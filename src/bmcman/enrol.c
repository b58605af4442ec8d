/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Enrolling, changing and removing BMCs, each one audited action. Enrolling, and any
 * change to how Outpost reaches a BMC, queues a verify operation in the same
 * transaction, so the BMC's status follows its current settings.
 */
#include "bmcman/bmcman-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "util/util.h"

struct enrol_args {
	struct bmcman *m;
	const char *actor;
	struct bmc_record *b;               /* the new values; id set for an update */
	const char *password;               /* NULL: keep the sealed one (update) */
	int64_t op_id;                      /* the verify queued, 0 when none */
	char target[48];
	char detail[512];
};

/* Queue a verify of args->b inside the action's transaction. */
static int
queue_verify(struct store *st, struct enrol_args *a, char *err, size_t errlen)
{
	struct bmc_operation op = { .bmc_id = a->b->id, .args = (char *)"{}" };
	int rc;

	snprintf(op.kind, sizeof(op.kind), "%s", bmc_op_kind_name(BMC_OP_VERIFY));
	snprintf(op.actor, sizeof(op.actor), "%s", a->actor);
	rc = store_bmc_op_insert(st, &op);
	if (rc < 0)
		return err_set(rc, err, errlen, "%s", store_error(st));
	a->op_id = op.id;
	return 0;
}

/* The entry's detail: where the BMC is and how it is checked, never the secret. */
static int
enrol_detail(struct enrol_args *a, char *err, size_t errlen)
{
	json_t *d = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I}", "protocol", a->b->protocol,
			      "address", a->b->address, "port", (json_int_t)a->b->port, "username",
			      a->b->username, "tls", a->b->tls, "verify_operation",
			      (json_int_t)a->op_id);
	int rc = bmcman_detail_write(d, a->detail, sizeof(a->detail), err, errlen);

	json_decref(d);
	return rc;
}

static int
enrol_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct enrol_args *a = arg;
	int rc;

	rc = bmcman_seal(a->m, a->b, a->password, err, errlen);
	if (rc < 0)
		return rc;
	rc = store_bmc_insert(st, a->b);
	if (rc < 0)
		return err_set(rc, err, errlen, "%s", store_error(st));
	snprintf(a->target, sizeof(a->target), "bmc:%" PRId64, a->b->id);
	rc = queue_verify(st, a, err, errlen);
	return rc < 0 ? rc : enrol_detail(a, err, errlen);
}

/*
 * Run enrol_op or update_op as action `name` on b, then wipe the sealed secret from b
 * and wake a worker for the verify it queued. Sets *ret_op (0: no verify).
 */
static int
enrol_run(struct bmcman *m, struct store *st, const char *actor, const char *name,
	  action_fn fn, struct bmc_record *b, const char *password, int64_t *ret_op,
	  char *err, size_t errlen)
{
	struct enrol_args a = { .m = m, .actor = actor, .b = b, .password = password };
	struct action act = { .actor = actor, .name = name, .target = a.target,
			      .risk = RISK_CHANGE, .detail = a.detail };
	int rc;

	err[0] = '\0';
	if (b->id > 0)
		snprintf(a.target, sizeof(a.target), "bmc:%" PRId64, b->id);
	else
		snprintf(a.target, sizeof(a.target), "bmc:new");
	snprintf(a.detail, sizeof(a.detail), "{}");
	rc = gov_execute(st, &act, fn, &a, err, errlen);
	explicit_bzero(b->secret, sizeof(b->secret));
	if (rc < 0)
		return rc;
	*ret_op = a.op_id;
	if (a.op_id > 0)
		bmcman_kick(m, false);
	return 0;
}

int
bmcman_enrol(struct bmcman *m, struct store *st, const char *actor, struct bmc_record *b,
	     const char *password, int64_t *ret_op, char *err, size_t errlen)
{
	int rc = enrol_run(m, st, actor, "bmc.enrol", enrol_op, b, password, ret_op, err,
			   errlen);

	if (rc < 0)
		return rc;
	log_info("BMC enrolled id=%" PRId64 " protocol=%s address=%s port=%" PRId64
		 " verify_operation=%" PRId64 " actor=%s", b->id, b->protocol, b->address, b->port,
		 *ret_op, actor);
	return 0;
}

/* True when the change alters how Outpost reaches or trusts the BMC. */
static bool
reach_changed(const struct bmc_record *old, const struct bmc_record *b, const char *password)
{
	return password != NULL || strcmp(old->protocol, b->protocol) != 0 ||
	       strcmp(old->address, b->address) != 0 || old->port != b->port ||
	       strcmp(old->username, b->username) != 0 || strcmp(old->tls, b->tls) != 0 ||
	       strcmp(old->ca_file, b->ca_file) != 0 || strcmp(old->fingerprint, b->fingerprint) != 0;
}

static int
update_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct enrol_args *a = arg;
	struct bmc_record old;
	int rc;

	rc = store_bmc_get(st, a->b->id, &old);
	if (rc < 0)
		return err_set(rc, err, errlen, "%s", store_error(st));
	if (a->password != NULL)
		rc = bmcman_seal(a->m, a->b, a->password, err, errlen);
	else
		rc = bmcman_reseal(a->m, &old, a->b, err, errlen);
	if (rc == 0)
		rc = store_bmc_update(st, a->b);
	if (rc < 0 && err[0] == '\0')
		err_set(rc, err, errlen, "%s", store_error(st));
	if (rc == 0 && reach_changed(&old, a->b, a->password))
		rc = queue_verify(st, a, err, errlen);
	explicit_bzero(old.secret, sizeof(old.secret));
	return rc < 0 ? rc : enrol_detail(a, err, errlen);
}

int
bmcman_update(struct bmcman *m, struct store *st, const char *actor, struct bmc_record *b,
	      const char *password, int64_t *ret_op, char *err, size_t errlen)
{
	return enrol_run(m, st, actor, "bmc.update", update_op, b, password, ret_op, err,
			 errlen);
}

static int
remove_op(struct store *st, void *arg, char *err, size_t errlen)
{
	int64_t *id = arg;
	int rc = store_bmc_delete(st, *id);

	return rc < 0 ? err_set(rc, err, errlen, "%s", store_error(st)) : 0;
}

int
bmcman_remove(struct bmcman *m, struct store *st, const char *actor, int64_t id, char *err,
	      size_t errlen)
{
	char target[48];
	struct action act = { .actor = actor, .name = "bmc.remove", .target = target,
			      .risk = RISK_CHANGE };
	int rc;

	snprintf(target, sizeof(target), "bmc:%" PRId64, id);
	rc = gov_execute(st, &act, remove_op, &id, err, errlen);
	/* Its queued operations fail now, not at a worker's next idle wake-up. */
	if (rc == 0)
		bmcman_kick(m, true);
	return rc;
}
