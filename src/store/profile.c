/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Profiles: what to install on a machine. A profile cannot be deleted while a machine
 * uses it.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define PROFILE_COLUMNS \
	"id, name, image, kernel, initrd, cmdline, templates, created_at, updated_at"

void
profile_clear(struct profile *p)
{
	free(p->templates);
	p->templates = NULL;
}

static int
profile_validate(struct store *st, const struct profile *p)
{
	if (!store_text_fits(p->name, sizeof(p->name)) || p->name[0] == '\0')
		return store_errorf(st, -EINVAL, "a profile needs a name of 1 to %zu bytes",
				    sizeof(p->name) - 1);
	if (!store_text_fits(p->image, sizeof(p->image)) ||
	    !store_text_fits(p->kernel, sizeof(p->kernel)) ||
	    !store_text_fits(p->initrd, sizeof(p->initrd)) ||
	    !store_text_fits(p->cmdline, sizeof(p->cmdline)))
		return store_errorf(st, -EINVAL, "profile \"%s\" has a field that is not NUL-terminated",
				    p->name);
	return 0;
}

/* Map a failed write of profile p (row `self`, 0 before insert) to its errno. */
static int
profile_write_error(struct store *st, int rc, const struct profile *p, int64_t self,
		    const char *what)
{
	int64_t owner;
	int err = store_sqlite_error(st, rc, what);
	int found;

	if (err != -EEXIST)
		return err;

	found = store_find_owner(st, STMT_PROFILE_NAME_OWNER,
				 "SELECT id FROM profiles WHERE name = :value AND id <> :self",
				 p->name, self, &owner);
	if (found < 0)
		return found;
	if (found)
		return store_errorf(st, -EEXIST, "profile name \"%s\" already belongs to profile %" PRId64,
				    p->name, owner);
	return err;
}

static void
profile_bind(sqlite3_stmt *stmt, const struct profile *p, int64_t now, int *rc)
{
	store_bind_text(stmt, ":name", p->name, rc);
	store_bind_text(stmt, ":image", p->image, rc);
	store_bind_text(stmt, ":kernel", p->kernel, rc);
	store_bind_text(stmt, ":initrd", p->initrd, rc);
	store_bind_text(stmt, ":cmdline", p->cmdline, rc);
	store_bind_text(stmt, ":templates", p->templates, rc);
	store_bind_int(stmt, ":now", now, rc);
}

int
store_profile_insert(struct store *st, struct profile *p)
{
	sqlite3_stmt *stmt;
	int64_t now = time_now();
	int rc = SQLITE_OK, err;

	err = profile_validate(st, p);
	if (err < 0)
		return err;

	err = store_stmt_acquire(st, STMT_PROFILE_INSERT,
				 "INSERT INTO profiles (name, image, kernel, initrd, cmdline, templates,"
				 " created_at, updated_at)"
				 " VALUES (:name, :image, :kernel, :initrd, :cmdline, :templates, :now, :now)",
				 &stmt);
	if (err < 0)
		return err;

	profile_bind(stmt, p, now, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "inserting a profile");
	} else {
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE)
			err = profile_write_error(st, rc, p, 0, "inserting a profile");
	}
	if (err == 0) {
		p->id = sqlite3_last_insert_rowid(st->db);
		p->created_at = now;
		p->updated_at = now;
	}

	store_stmt_release(st, STMT_PROFILE_INSERT, stmt);
	return err;
}

int
store_profile_update(struct store *st, struct profile *p)
{
	sqlite3_stmt *stmt;
	int64_t now = time_now();
	int rc = SQLITE_OK, err;

	err = profile_validate(st, p);
	if (err < 0)
		return err;

	err = store_stmt_acquire(st, STMT_PROFILE_UPDATE,
				 "UPDATE profiles SET name = :name, image = :image, kernel = :kernel,"
				 " initrd = :initrd, cmdline = :cmdline, templates = :templates,"
				 " updated_at = :now WHERE id = :id",
				 &stmt);
	if (err < 0)
		return err;

	profile_bind(stmt, p, now, &rc);
	store_bind_int(stmt, ":id", p->id, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "updating a profile");
	} else {
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE)
			err = profile_write_error(st, rc, p, p->id, "updating a profile");
		else if (sqlite3_changes(st->db) == 0)
			err = store_errorf(st, -ENOENT, "profile %" PRId64 " not found", p->id);
	}
	if (err == 0)
		p->updated_at = now;

	store_stmt_release(st, STMT_PROFILE_UPDATE, stmt);
	return err;
}

/* Count the machines that use profile `id`. */
static int
profile_count_users(struct store *st, int64_t id, int64_t *ret)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_PROFILE_USERS,
				 "SELECT count(*) FROM machines WHERE profile_id = :id", &stmt);
	if (err < 0)
		return err;

	store_bind_int(stmt, ":id", id, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "counting a profile's machines");
	} else {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			*ret = sqlite3_column_int64(stmt, 0);
		else
			err = store_sqlite_error(st, rc, "counting a profile's machines");
	}

	store_stmt_release(st, STMT_PROFILE_USERS, stmt);
	return err;
}

int
store_profile_delete(struct store *st, int64_t id)
{
	sqlite3_stmt *stmt;
	int64_t users = 0;
	bool outer;
	int rc = SQLITE_OK, err;

	/* Count and delete under one write lock, so no machine takes the profile between. */
	err = store_op_begin(st, &outer);
	if (err < 0)
		return err;

	err = profile_count_users(st, id, &users);
	if (err < 0)
		goto done;
	if (users > 0) {
		err = store_errorf(st, -EBUSY, "profile %" PRId64 " is used by %" PRId64 " machine%s",
				   id, users, users == 1 ? "" : "s");
		goto done;
	}

	err = store_stmt_acquire(st, STMT_PROFILE_DELETE, "DELETE FROM profiles WHERE id = :id",
				 &stmt);
	if (err < 0)
		goto done;

	store_bind_int(stmt, ":id", id, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "deleting a profile");
	} else {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			err = store_errorf(st, -EBUSY, "profile %" PRId64 " is used by a machine", id);
		else if (rc != SQLITE_DONE)
			err = store_sqlite_error(st, rc, "deleting a profile");
		else if (sqlite3_changes(st->db) == 0)
			err = store_errorf(st, -ENOENT, "profile %" PRId64 " not found", id);
	}
	store_stmt_release(st, STMT_PROFILE_DELETE, stmt);

done:
	return store_op_end(st, outer, err);
}

/* Read the current row of a PROFILE_COLUMNS query into *out; out is cleared on failure. */
static int
profile_from_row(struct store *st, sqlite3_stmt *stmt, struct profile *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(stmt, 0);
	out->created_at = sqlite3_column_int64(stmt, 7);
	out->updated_at = sqlite3_column_int64(stmt, 8);

	err = store_column_copy(st, stmt, 1, out->name, sizeof(out->name));
	if (err == 0)
		err = store_column_copy(st, stmt, 2, out->image, sizeof(out->image));
	if (err == 0)
		err = store_column_copy(st, stmt, 3, out->kernel, sizeof(out->kernel));
	if (err == 0)
		err = store_column_copy(st, stmt, 4, out->initrd, sizeof(out->initrd));
	if (err == 0)
		err = store_column_copy(st, stmt, 5, out->cmdline, sizeof(out->cmdline));
	if (err == 0)
		err = store_column_dup(st, stmt, 6, &out->templates);

	if (err < 0)
		profile_clear(out);
	return err;
}

/* Run a single-row profile query whose key is already bound. */
static int
profile_fetch_one(struct store *st, sqlite3_stmt *stmt, struct profile *ret)
{
	struct profile p;
	int rc, err;

	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_sqlite_error(st, rc, "reading a profile");

	err = profile_from_row(st, stmt, &p);
	if (err < 0)
		return err;

	*ret = p;
	return 0;
}

int
store_profile_get(struct store *st, int64_t id, struct profile *ret)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_PROFILE_GET,
				 "SELECT " PROFILE_COLUMNS " FROM profiles WHERE id = :id", &stmt);
	if (err < 0)
		return err;

	store_bind_int(stmt, ":id", id, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "reading a profile");
	else
		err = profile_fetch_one(st, stmt, ret);
	if (err == -ENOENT)
		store_errorf(st, err, "profile %" PRId64 " not found", id);

	store_stmt_release(st, STMT_PROFILE_GET, stmt);
	return err;
}

int
store_profile_get_by_name(struct store *st, const char *name, struct profile *ret)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_PROFILE_GET_BY_NAME,
				 "SELECT " PROFILE_COLUMNS " FROM profiles WHERE name = :name", &stmt);
	if (err < 0)
		return err;

	store_bind_text(stmt, ":name", name, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "reading a profile");
	else
		err = profile_fetch_one(st, stmt, ret);
	if (err == -ENOENT)
		store_errorf(st, err, "profile \"%s\" not found", name);

	store_stmt_release(st, STMT_PROFILE_GET_BY_NAME, stmt);
	return err;
}

int
store_profile_list(struct store *st, profile_cb cb, void *arg)
{
	sqlite3_stmt *stmt;
	struct profile p;
	int rc, err;

	err = store_stmt_acquire(st, STMT_PROFILE_LIST,
				 "SELECT " PROFILE_COLUMNS " FROM profiles ORDER BY id", &stmt);
	if (err < 0)
		return err;

	for (;;) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			err = store_sqlite_error(st, rc, "listing profiles");
			break;
		}

		err = profile_from_row(st, stmt, &p);
		if (err < 0)
			break;
		err = cb(&p, arg);
		profile_clear(&p);
		if (err != 0)
			break;
	}

	store_stmt_release(st, STMT_PROFILE_LIST, stmt);
	return err;
}
