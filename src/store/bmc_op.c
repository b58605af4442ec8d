/* SPDX-License-Identifier: Apache-2.0 */
/* BMC operations: queued by the BMC manager, claimed and finished by its workers. */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define OP_COLUMNS \
	"id, coalesce(bmc_id, 0), batch, kind, args, state, result, error, actor," \
	" created_at, started_at, finished_at"

void
bmc_operation_clear(struct bmc_operation *op)
{
	free(op->args);
	free(op->result);
	op->args = NULL;
	op->result = NULL;
}

static int
op_from_row(struct store *st, sqlite3_stmt *stmt, struct bmc_operation *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(stmt, 0);
	out->bmc_id = sqlite3_column_int64(stmt, 1);
	out->batch = sqlite3_column_int64(stmt, 2);
	out->created_at = sqlite3_column_int64(stmt, 9);
	out->started_at = sqlite3_column_int64(stmt, 10);
	out->finished_at = sqlite3_column_int64(stmt, 11);
	err = store_column_copy(st, stmt, 3, out->kind, sizeof(out->kind));
	if (err == 0)
		err = store_column_copy(st, stmt, 5, out->state, sizeof(out->state));
	if (err == 0)
		err = store_column_copy(st, stmt, 7, out->error, sizeof(out->error));
	if (err == 0)
		err = store_column_copy(st, stmt, 8, out->actor, sizeof(out->actor));
	if (err == 0)
		err = store_column_dup(st, stmt, 4, &out->args);
	if (err == 0)
		err = store_column_dup(st, stmt, 6, &out->result);
	if (err < 0)
		bmc_operation_clear(out);
	return err;
}

/* Check the caller's text fields before they reach SQL. */
static int
op_validate(struct store *st, const struct bmc_operation *op)
{
	if (!store_text_fits(op->kind, sizeof(op->kind)) || op->kind[0] == '\0' ||
	    !store_text_fits(op->actor, sizeof(op->actor)) || op->args == NULL)
		return store_errorf(st, -EINVAL, "a BMC operation needs a kind, an actor and "
				    "arguments");
	return 0;
}

int
store_bmc_op_insert(struct store *st, struct bmc_operation *op)
{
	sqlite3_stmt *stmt;
	int64_t now = time_now();
	int rc = SQLITE_OK, err = op_validate(st, op);

	if (err < 0)
		return err;
	err = store_stmt_acquire(st, STMT_BMC_OP_INSERT,
				 "INSERT INTO bmc_operations (bmc_id, batch, kind, args, state, error,"
				 " actor, created_at, started_at, finished_at) VALUES (:bmc, :batch,"
				 " :kind, :args, 'queued', '', :actor, :now, 0, 0)", &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":bmc", op->bmc_id, &rc);
	store_bind_int(stmt, ":batch", op->batch, &rc);
	store_bind_text(stmt, ":kind", op->kind, &rc);
	store_bind_text(stmt, ":args", op->args, &rc);
	store_bind_text(stmt, ":actor", op->actor, &rc);
	store_bind_int(stmt, ":now", now, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "queueing a BMC operation");
	} else {
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE && sqlite3_extended_errcode(st->db) ==
					     SQLITE_CONSTRAINT_FOREIGNKEY)
			err = store_errorf(st, -ENOENT, "BMC %" PRId64 " not found", op->bmc_id);
		else if (rc != SQLITE_DONE)
			err = store_sqlite_error(st, rc, "queueing a BMC operation");
	}
	if (err == 0) {
		op->id = sqlite3_last_insert_rowid(st->db);
		op->created_at = now;
		snprintf(op->state, sizeof(op->state), "queued");
	}
	store_stmt_release(st, STMT_BMC_OP_INSERT, stmt);
	return err;
}

/* Run a statement that selects one integer into *ret. */
static int
select_int(struct store *st, enum store_stmt id, const char *sql, int64_t param, int64_t *ret,
	   const char *what)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, id, sql, &stmt);
	if (err < 0)
		return err;
	if (sqlite3_bind_parameter_count(stmt) > 0)
		store_bind_int(stmt, ":p", param, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, what);
	} else {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			*ret = sqlite3_column_int64(stmt, 0);
		else
			err = store_sqlite_error(st, rc, what);
	}
	store_stmt_release(st, id, stmt);
	return err;
}

int
store_bmc_op_next_batch(struct store *st, int64_t *ret)
{
	int64_t last = 0;
	int err = select_int(st, STMT_BMC_OP_NEXT_BATCH,
			     "SELECT coalesce(max(batch), 0) FROM bmc_operations", 0, &last,
			     "choosing a batch id");

	if (err == 0)
		*ret = last + 1;
	return err;
}

int
store_bmc_op_insert_all(struct store *st, int64_t batch, const char *kind, const char *args,
			const char *actor, size_t *ret_count)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_BMC_OP_INSERT_ALL,
				 "INSERT INTO bmc_operations (bmc_id, batch, kind, args, state, error,"
				 " actor, created_at, started_at, finished_at) SELECT id, :batch,"
				 " :kind, :args, 'queued', '', :actor, :now, 0, 0 FROM bmcs ORDER BY id",
				 &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":batch", batch, &rc);
	store_bind_text(stmt, ":kind", kind, &rc);
	store_bind_text(stmt, ":args", args, &rc);
	store_bind_text(stmt, ":actor", actor, &rc);
	store_bind_int(stmt, ":now", time_now(), &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "queueing BMC operations");
	else
		err = store_step_done(st, stmt, "queueing BMC operations");
	if (err == 0)
		*ret_count = (size_t)sqlite3_changes(st->db);
	store_stmt_release(st, STMT_BMC_OP_INSERT_ALL, stmt);
	return err;
}

int
store_bmc_op_claim(struct store *st, struct bmc_operation *ret)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	/* A queued operation of a removed BMC (bmc_id NULL) is claimed to be failed. */
	err = store_stmt_acquire(st, STMT_BMC_OP_CLAIM,
				 "UPDATE bmc_operations SET state = 'running', started_at = :now"
				 " WHERE id = (SELECT q.id FROM bmc_operations q WHERE q.state = 'queued'"
				 " AND NOT EXISTS (SELECT 1 FROM bmc_operations r WHERE"
				 " r.state = 'running' AND r.bmc_id = q.bmc_id) ORDER BY q.id LIMIT 1)"
				 " RETURNING " OP_COLUMNS, &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":now", time_now(), &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "claiming a BMC operation");
	} else {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			err = op_from_row(st, stmt, ret);
		else if (rc == SQLITE_DONE)
			err = -ENOENT;
		else
			err = store_sqlite_error(st, rc, "claiming a BMC operation");
		/* Step to the end so the statement's write completes before the reset. */
		if (rc == SQLITE_ROW && (rc = sqlite3_step(stmt)) != SQLITE_DONE && err == 0) {
			bmc_operation_clear(ret);
			err = store_sqlite_error(st, rc, "claiming a BMC operation");
		}
	}
	store_stmt_release(st, STMT_BMC_OP_CLAIM, stmt);
	return err;
}

int
store_bmc_op_finish(struct store *st, int64_t id, const char *result, const char *error)
{
	char error_cut[STORE_BMC_OP_ERROR_SIZE];
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	snprintf(error_cut, sizeof(error_cut), "%s", error != NULL ? error : "");
	text_sanitize(error_cut);
	err = store_stmt_acquire(st, STMT_BMC_OP_FINISH,
				 "UPDATE bmc_operations SET state = :state, result = :result,"
				 " error = :error, finished_at = :now WHERE id = :id"
				 " AND state = 'running'", &stmt);
	if (err < 0)
		return err;
	store_bind_text(stmt, ":state", error == NULL ? "succeeded" : "failed", &rc);
	if (error == NULL && result != NULL)
		store_bind_text(stmt, ":result", result, &rc);
	store_bind_text(stmt, ":error", error_cut, &rc);
	store_bind_int(stmt, ":now", time_now(), &rc);
	store_bind_int(stmt, ":id", id, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "finishing a BMC operation");
	} else {
		err = store_step_done(st, stmt, "finishing a BMC operation");
		if (err == 0 && sqlite3_changes(st->db) == 0)
			err = store_errorf(st, -ENOENT, "BMC operation %" PRId64 " is not running",
					   id);
	}
	store_stmt_release(st, STMT_BMC_OP_FINISH, stmt);
	return err;
}

int
store_bmc_op_get(struct store *st, int64_t id, struct bmc_operation *ret)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_BMC_OP_GET,
				 "SELECT " OP_COLUMNS " FROM bmc_operations WHERE id = :id", &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":id", id, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "reading a BMC operation");
	} else {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			err = op_from_row(st, stmt, ret);
		else if (rc == SQLITE_DONE)
			err = store_errorf(st, -ENOENT, "BMC operation %" PRId64 " not found", id);
		else
			err = store_sqlite_error(st, rc, "reading a BMC operation");
	}
	store_stmt_release(st, STMT_BMC_OP_GET, stmt);
	return err;
}

int
store_bmc_op_list(struct store *st, const struct bmc_op_filter *f, bmc_op_cb cb, void *arg)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_BMC_OP_LIST,
				 "SELECT " OP_COLUMNS " FROM bmc_operations WHERE id > :after"
				 " AND (:bmc = 0 OR bmc_id = :bmc) AND (:batch = 0 OR batch = :batch)"
				 " ORDER BY id LIMIT :limit", &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":after", f->after_id, &rc);
	store_bind_int(stmt, ":bmc", f->bmc_id, &rc);
	store_bind_int(stmt, ":batch", f->batch, &rc);
	store_bind_int(stmt, ":limit", f->limit > 0 ? (int64_t)f->limit : -1, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "listing BMC operations");
	while (err == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct bmc_operation op;

		err = op_from_row(st, stmt, &op);
		if (err == 0)
			err = cb(&op, arg);
		bmc_operation_clear(&op);
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = store_sqlite_error(st, rc, "listing BMC operations");
	store_stmt_release(st, STMT_BMC_OP_LIST, stmt);
	return err;
}

int
store_bmc_op_summary(struct store *st, int64_t batch, struct bmc_op_summary *ret)
{
	struct bmc_op_summary sum = { 0 };
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_BMC_OP_SUMMARY,
				 "SELECT state, count(*) FROM bmc_operations WHERE batch = :batch"
				 " GROUP BY state", &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":batch", batch, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "counting BMC operations");
	while (err == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(stmt, 0);
		int64_t n = sqlite3_column_int64(stmt, 1);

		if (state == NULL)
			continue;
		if (strcmp(state, "queued") == 0)
			sum.queued = n;
		else if (strcmp(state, "running") == 0)
			sum.running = n;
		else if (strcmp(state, "succeeded") == 0)
			sum.succeeded = n;
		else if (strcmp(state, "failed") == 0)
			sum.failed = n;
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = store_sqlite_error(st, rc, "counting BMC operations");
	if (err == 0)
		*ret = sum;
	store_stmt_release(st, STMT_BMC_OP_SUMMARY, stmt);
	return err;
}

int
store_bmc_op_pending(struct store *st, int64_t *ret)
{
	return select_int(st, STMT_BMC_OP_PENDING, "SELECT count(*) FROM bmc_operations"
			  " WHERE state IN ('queued', 'running')", 0, ret,
			  "counting pending BMC operations");
}

int
store_bmc_op_abandon(struct store *st, const char *reason,
		     void (*cb)(int64_t id, const char *kind, void *arg), void *arg)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_BMC_OP_ABANDON,
				 "UPDATE bmc_operations SET state = 'failed', error = :reason,"
				 " finished_at = :now WHERE state IN ('queued', 'running')"
				 " RETURNING id, kind", &stmt);
	if (err < 0)
		return err;
	store_bind_text(stmt, ":reason", reason, &rc);
	store_bind_int(stmt, ":now", time_now(), &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "failing interrupted BMC operations");
	while (err == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(stmt, 1);

		if (cb != NULL)
			cb(sqlite3_column_int64(stmt, 0), kind != NULL ? kind : "", arg);
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = store_sqlite_error(st, rc, "failing interrupted BMC operations");
	store_stmt_release(st, STMT_BMC_OP_ABANDON, stmt);
	return err;
}

int
store_bmc_op_trim(struct store *st, int64_t keep)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_BMC_OP_TRIM,
				 "DELETE FROM bmc_operations WHERE state IN ('succeeded', 'failed')"
				 " AND id <= (SELECT max(id) FROM bmc_operations) - :keep", &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":keep", keep, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "trimming BMC operations");
	else
		err = store_step_done(st, stmt, "trimming BMC operations");
	store_stmt_release(st, STMT_BMC_OP_TRIM, stmt);
	return err;
}
