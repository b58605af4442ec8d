/* SPDX-License-Identifier: Apache-2.0 */
/* Deployments: one row per deploy action, moved on by the agent's reports. */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define DEPLOYMENT_COLUMNS \
	"id, machine_id, profile_id, state, phase, reason, image_written, phases," \
	" started_at, updated_at, finished_at"

static const char *const state_names[] = {
	[DEPLOYMENT_RUNNING] = "running",
	[DEPLOYMENT_SUCCEEDED] = "succeeded",
	[DEPLOYMENT_FAILED] = "failed",
};

const char *
deployment_state_name(enum deployment_state state)
{
	if (state < 0 || (size_t)state >= sizeof(state_names) / sizeof(state_names[0]))
		return "invalid";
	return state_names[state];
}

static enum deployment_state
deployment_state_parse(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strcmp(name, state_names[i]) == 0)
			return (enum deployment_state)i;
	return DEPLOYMENT_STATE_INVALID;
}

void
deployment_clear(struct deployment *d)
{
	free(d->phases);
	d->phases = NULL;
}

/* Fill out from a row of DEPLOYMENT_COLUMNS; out->phases is allocated. */
static int
deployment_from_row(struct store *st, sqlite3_stmt *stmt, struct deployment *out)
{
	struct deployment d;
	int err;

	memset(&d, 0, sizeof(d));
	d.id = sqlite3_column_int64(stmt, 0);
	d.machine_id = sqlite3_column_int64(stmt, 1);
	d.profile_id = sqlite3_column_int64(stmt, 2);
	d.state = deployment_state_parse((const char *)sqlite3_column_text(stmt, 3));
	if (d.state == DEPLOYMENT_STATE_INVALID)
		return store_errorf(st, -EIO, "deployment %" PRId64 " has an unknown state", d.id);
	err = store_column_copy(st, stmt, 4, d.phase, sizeof(d.phase));
	if (err == 0)
		err = store_column_copy(st, stmt, 5, d.reason, sizeof(d.reason));
	d.image_written = sqlite3_column_int(stmt, 6) != 0;
	if (err == 0)
		err = store_column_dup(st, stmt, 7, &d.phases);
	if (err < 0)
		return err;
	d.started_at = sqlite3_column_int64(stmt, 8);
	d.updated_at = sqlite3_column_int64(stmt, 9);
	d.finished_at = sqlite3_column_int64(stmt, 10);
	*out = d;
	return 0;
}

/* Are the phase and reason NUL-terminated within their arrays, and the phase set? */
static bool
deployment_valid(const struct deployment *d)
{
	return store_text_fits(d->phase, sizeof(d->phase)) && d->phase[0] != '\0' &&
	       store_text_fits(d->reason, sizeof(d->reason));
}

static void
deployment_bind(sqlite3_stmt *stmt, const struct deployment *d, int64_t now, int *rc)
{
	store_bind_text(stmt, ":state", deployment_state_name(d->state), rc);
	store_bind_text(stmt, ":phase", d->phase, rc);
	store_bind_text(stmt, ":reason", d->reason, rc);
	store_bind_int(stmt, ":image_written", d->image_written ? 1 : 0, rc);
	store_bind_text(stmt, ":phases", d->phases != NULL ? d->phases : "[]", rc);
	store_bind_int(stmt, ":updated_at", now, rc);
	store_bind_int(stmt, ":finished_at", d->finished_at, rc);
}

int
store_deployment_insert(struct store *st, struct deployment *d)
{
	sqlite3_stmt *stmt;
	int64_t now = time_now();
	int rc = SQLITE_OK, err;

	if (!deployment_valid(d))
		return store_errorf(st, -EINVAL, "deployment phase or reason is empty or too long");

	err = store_stmt_acquire(st, STMT_DEPLOYMENT_INSERT,
				 "INSERT INTO deployments (machine_id, profile_id, state, phase,"
				 " reason, image_written, phases, started_at, updated_at, finished_at)"
				 " VALUES (:machine_id, :profile_id, :state, :phase, :reason,"
				 " :image_written, :phases, :updated_at, :updated_at, :finished_at)",
				 &stmt);
	if (err < 0)
		return err;

	store_bind_int(stmt, ":machine_id", d->machine_id, &rc);
	if (d->profile_id > 0)
		store_bind_int(stmt, ":profile_id", d->profile_id, &rc);
	else
		store_bind_text(stmt, ":profile_id", NULL, &rc);
	deployment_bind(stmt, d, now, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "inserting a deployment");
	else
		err = store_step_done(st, stmt, "inserting a deployment");
	if (err == 0) {
		d->id = sqlite3_last_insert_rowid(st->db);
		d->started_at = now;
		d->updated_at = now;
	}
	store_stmt_release(st, STMT_DEPLOYMENT_INSERT, stmt);
	return err;
}

int
store_deployment_update(struct store *st, struct deployment *d)
{
	sqlite3_stmt *stmt;
	int64_t now = time_now();
	int rc = SQLITE_OK, err;

	if (!deployment_valid(d))
		return store_errorf(st, -EINVAL, "deployment phase or reason is empty or too long");

	err = store_stmt_acquire(st, STMT_DEPLOYMENT_UPDATE,
				 "UPDATE deployments SET state = :state, phase = :phase,"
				 " reason = :reason, image_written = :image_written,"
				 " phases = :phases, updated_at = :updated_at,"
				 " finished_at = :finished_at WHERE id = :id",
				 &stmt);
	if (err < 0)
		return err;

	deployment_bind(stmt, d, now, &rc);
	store_bind_int(stmt, ":id", d->id, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "updating a deployment");
	else
		err = store_step_done(st, stmt, "updating a deployment");
	if (err == 0 && sqlite3_changes(st->db) == 0)
		err = store_errorf(st, -ENOENT, "deployment %" PRId64 " not found", d->id);
	if (err == 0)
		d->updated_at = now;
	store_stmt_release(st, STMT_DEPLOYMENT_UPDATE, stmt);
	return err;
}

/* Step a statement with one int parameter :id that returns at most one row. */
static int
deployment_fetch(struct store *st, enum store_stmt id, const char *sql, int64_t value,
		 struct deployment *ret)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, id, sql, &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":id", value, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "reading a deployment");
		goto done;
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		err = deployment_from_row(st, stmt, ret);
	else if (rc == SQLITE_DONE)
		err = store_errorf(st, -ENOENT, "no deployment found for %" PRId64, value);
	else
		err = store_sqlite_error(st, rc, "reading a deployment");
done:
	store_stmt_release(st, id, stmt);
	return err;
}

int
store_deployment_get(struct store *st, int64_t id, struct deployment *ret)
{
	return deployment_fetch(st, STMT_DEPLOYMENT_GET,
				"SELECT " DEPLOYMENT_COLUMNS " FROM deployments WHERE id = :id",
				id, ret);
}

int
store_deployment_current(struct store *st, int64_t machine_id, struct deployment *ret)
{
	return deployment_fetch(st, STMT_DEPLOYMENT_CURRENT,
				"SELECT " DEPLOYMENT_COLUMNS " FROM deployments"
				" WHERE machine_id = :id ORDER BY id DESC LIMIT 1",
				machine_id, ret);
}

int
store_deployment_list(struct store *st, int64_t machine_id, size_t limit, deployment_cb cb,
		      void *arg)
{
	enum store_stmt id = machine_id > 0 ? STMT_DEPLOYMENT_LIST_MACHINE :
					      STMT_DEPLOYMENT_LIST_RUNNING;
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, id,
				 machine_id > 0 ?
				 "SELECT " DEPLOYMENT_COLUMNS " FROM deployments"
				 " WHERE machine_id = :machine_id ORDER BY id DESC LIMIT :limit" :
				 "SELECT " DEPLOYMENT_COLUMNS " FROM deployments"
				 " WHERE state = 'running' ORDER BY id LIMIT :limit",
				 &stmt);
	if (err < 0)
		return err;
	if (machine_id > 0)
		store_bind_int(stmt, ":machine_id", machine_id, &rc);
	store_bind_int(stmt, ":limit", limit > 0 && limit < INT64_MAX ? (int64_t)limit : -1, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "listing deployments");
		goto done;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct deployment d;

		err = deployment_from_row(st, stmt, &d);
		if (err == 0) {
			err = cb(&d, arg);
			deployment_clear(&d);
		}
		if (err != 0)
			break;
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = store_sqlite_error(st, rc, "listing deployments");
done:
	store_stmt_release(st, id, stmt);
	return err;
}
