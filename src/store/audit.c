/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The append-only tables: events (trimmed to a retention count), the audit trail
 * (written only by governance, inside the transaction of the action it records) and
 * API tokens, which are stored as the SHA-256 of their secret.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define AUDIT_COLUMNS "seq, at, actor, action, target, risk, outcome, detail, prev_hash, hash"

/* The prev_hash of the first entry, and the tail hash of an empty trail. */
static const char audit_genesis_hash[SHA256_HEX_SIZE] =
	"0000000000000000000000000000000000000000000000000000000000000000";

/* True for exactly 64 lower-case hex digits. */
static bool
hash_valid(const char *hash)
{
	return store_text_fits(hash, SHA256_HEX_SIZE) && strlen(hash) == SHA256_HEX_SIZE - 1 &&
	       strspn(hash, "0123456789abcdef") == SHA256_HEX_SIZE - 1;
}

int
store_event_append(struct store *st, const char *type, const char *target,
		   const char *payload_json, int64_t *ret_id)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	if (!type || type[0] == '\0')
		return store_errorf(st, -EINVAL, "an event needs a type");

	err = store_stmt_acquire(st, STMT_EVENT_APPEND,
				 "INSERT INTO events (at, type, target, payload)"
				 " VALUES (:at, :type, :target, :payload)",
				 &stmt);
	if (err < 0)
		return err;

	store_bind_int(stmt, ":at", time_now(), &rc);
	store_bind_text(stmt, ":type", type, &rc);
	store_bind_text(stmt, ":target", target, &rc);
	store_bind_text(stmt, ":payload", payload_json, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "appending an event");
	else
		err = store_step_done(st, stmt, "appending an event");
	if (err == 0 && ret_id)
		*ret_id = sqlite3_last_insert_rowid(st->db);

	store_stmt_release(st, STMT_EVENT_APPEND, stmt);
	return err;
}

int
store_event_trim(struct store *st, int64_t keep)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	if (keep < 0)
		return store_errorf(st, -EINVAL, "cannot keep %" PRId64 " events", keep);

	/*
	 * The row at offset `keep` from the newest is the newest one to go; it and every
	 * older row are deleted. Ids only grow (AUTOINCREMENT), so id order is age order.
	 */
	err = store_stmt_acquire(st, STMT_EVENT_TRIM,
				 "DELETE FROM events WHERE id <= coalesce("
				 "(SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET :keep), 0)",
				 &stmt);
	if (err < 0)
		return err;

	store_bind_int(stmt, ":keep", keep, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "trimming events");
	else
		err = store_step_done(st, stmt, "trimming events");

	store_stmt_release(st, STMT_EVENT_TRIM, stmt);
	return err;
}

void
audit_entry_clear(struct audit_entry *e)
{
	free(e->actor);
	free(e->action);
	free(e->target);
	free(e->risk);
	free(e->outcome);
	free(e->detail);
	e->actor = NULL;
	e->action = NULL;
	e->target = NULL;
	e->risk = NULL;
	e->outcome = NULL;
	e->detail = NULL;
}

int
store_audit_tail(struct store *st, int64_t *ret_seq, char ret_hash[SHA256_HEX_SIZE])
{
	char hash[SHA256_HEX_SIZE];
	sqlite3_stmt *stmt;
	int64_t seq = 0;
	int rc, err;

	err = store_stmt_acquire(st, STMT_AUDIT_TAIL,
				 "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &stmt);
	if (err < 0)
		return err;

	memcpy(hash, audit_genesis_hash, sizeof(hash));
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		seq = sqlite3_column_int64(stmt, 0);
		err = store_column_copy(st, stmt, 1, hash, sizeof(hash));
	} else if (rc != SQLITE_DONE) {
		err = store_sqlite_error(st, rc, "reading the audit tail");
	}
	if (err == 0) {
		*ret_seq = seq;
		memcpy(ret_hash, hash, sizeof(hash));
	}

	store_stmt_release(st, STMT_AUDIT_TAIL, stmt);
	return err;
}

int
store_audit_append(struct store *st, const struct audit_entry *e)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	/* Outside a transaction the entry could commit without the change it records. */
	if (sqlite3_get_autocommit(st->db))
		return store_errorf(st, -EINVAL, "an audit entry must be appended inside a transaction");
	if (e->seq <= 0 || !e->actor || !e->action || !e->target || !e->risk || !e->outcome)
		return store_errorf(st, -EINVAL, "audit entry %" PRId64 " is incomplete", e->seq);
	if (!hash_valid(e->prev_hash) || !hash_valid(e->hash))
		return store_errorf(st, -EINVAL, "audit entry %" PRId64 " has a malformed hash", e->seq);

	err = store_stmt_acquire(st, STMT_AUDIT_APPEND,
				 "INSERT INTO audit (" AUDIT_COLUMNS ") VALUES (:seq, :at, :actor,"
				 " :action, :target, :risk, :outcome, :detail, :prev_hash, :hash)",
				 &stmt);
	if (err < 0)
		return err;

	store_bind_int(stmt, ":seq", e->seq, &rc);
	store_bind_int(stmt, ":at", e->at, &rc);
	store_bind_text(stmt, ":actor", e->actor, &rc);
	store_bind_text(stmt, ":action", e->action, &rc);
	store_bind_text(stmt, ":target", e->target, &rc);
	store_bind_text(stmt, ":risk", e->risk, &rc);
	store_bind_text(stmt, ":outcome", e->outcome, &rc);
	store_bind_text(stmt, ":detail", e->detail, &rc);
	store_bind_text(stmt, ":prev_hash", e->prev_hash, &rc);
	store_bind_text(stmt, ":hash", e->hash, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "appending an audit entry");
	else
		err = store_step_done(st, stmt, "appending an audit entry");
	if (err == -EEXIST)
		err = store_errorf(st, err, "audit entry %" PRId64 " already exists", e->seq);

	store_stmt_release(st, STMT_AUDIT_APPEND, stmt);
	return err;
}

/* Read the current row of an AUDIT_COLUMNS query into *out; out is cleared on failure. */
static int
audit_from_row(struct store *st, sqlite3_stmt *stmt, struct audit_entry *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	out->seq = sqlite3_column_int64(stmt, 0);
	out->at = sqlite3_column_int64(stmt, 1);

	err = store_column_dup(st, stmt, 2, &out->actor);
	if (err == 0)
		err = store_column_dup(st, stmt, 3, &out->action);
	if (err == 0)
		err = store_column_dup(st, stmt, 4, &out->target);
	if (err == 0)
		err = store_column_dup(st, stmt, 5, &out->risk);
	if (err == 0)
		err = store_column_dup(st, stmt, 6, &out->outcome);
	if (err == 0)
		err = store_column_dup(st, stmt, 7, &out->detail);
	if (err == 0)
		err = store_column_copy(st, stmt, 8, out->prev_hash, sizeof(out->prev_hash));
	if (err == 0)
		err = store_column_copy(st, stmt, 9, out->hash, sizeof(out->hash));

	if (err < 0)
		audit_entry_clear(out);
	return err;
}

int
store_audit_list(struct store *st, int64_t after_seq, size_t limit, audit_cb cb, void *arg)
{
	struct audit_entry e;
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	/* seq is the rowid, so seq order is the order rows are stored in. */
	err = store_stmt_acquire(st, STMT_AUDIT_LIST,
				 "SELECT " AUDIT_COLUMNS " FROM audit WHERE seq > :after"
				 " ORDER BY seq LIMIT :limit",
				 &stmt);
	if (err < 0)
		return err;

	store_bind_int(stmt, ":after", after_seq, &rc);
	store_bind_int(stmt, ":limit", limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "listing audit entries");
		goto done;
	}

	for (;;) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			err = store_sqlite_error(st, rc, "listing audit entries");
			break;
		}

		err = audit_from_row(st, stmt, &e);
		if (err < 0)
			break;
		err = cb(&e, arg);
		audit_entry_clear(&e);
		if (err != 0)
			break;
	}

done:
	store_stmt_release(st, STMT_AUDIT_LIST, stmt);
	return err;
}

/* After a unique failure, name the token that already has this name or secret. */
static int
token_describe_conflict(struct store *st, const char *name, const char *token_hash)
{
	int64_t owner;
	int found;

	found = store_find_owner(st, STMT_TOKEN_NAME_OWNER,
				 "SELECT id FROM tokens WHERE name = :value AND id <> :self", name, 0,
				 &owner);
	if (found < 0)
		return found;
	if (found)
		return store_errorf(st, -EEXIST, "token name \"%s\" already belongs to token %" PRId64,
				    name, owner);

	/* The hash is not secret, but the message has no use for it. */
	found = store_find_owner(st, STMT_TOKEN_HASH_OWNER,
				 "SELECT id FROM tokens WHERE token_hash = :value AND id <> :self",
				 token_hash, 0, &owner);
	if (found < 0)
		return found;
	if (found)
		return store_errorf(st, -EEXIST, "the same token secret already belongs to token %" PRId64,
				    owner);
	return -EEXIST;
}

int
store_token_insert(struct store *st, const char *name, const char *role,
		   const char token_hash[SHA256_HEX_SIZE], int64_t *ret_id)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	if (!name || name[0] == '\0' || strlen(name) >= STORE_NAME_SIZE)
		return store_errorf(st, -EINVAL, "a token needs a name of 1 to %d bytes",
				    STORE_NAME_SIZE - 1);
	if (!role || (strcmp(role, "admin") != 0 && strcmp(role, "operator") != 0 &&
		      strcmp(role, "viewer") != 0))
		return store_errorf(st, -EINVAL, "invalid token role \"%s\"; expected admin, operator or viewer",
				    role ? role : "");
	if (!hash_valid(token_hash))
		return store_errorf(st, -EINVAL, "a token hash is 64 lower-case hex digits");

	err = store_stmt_acquire(st, STMT_TOKEN_INSERT,
				 "INSERT INTO tokens (name, role, token_hash, created_at)"
				 " VALUES (:name, :role, :token_hash, :now)",
				 &stmt);
	if (err < 0)
		return err;

	store_bind_text(stmt, ":name", name, &rc);
	store_bind_text(stmt, ":role", role, &rc);
	store_bind_text(stmt, ":token_hash", token_hash, &rc);
	store_bind_int(stmt, ":now", time_now(), &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "inserting a token");
	} else {
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE)
			err = store_sqlite_error(st, rc, "inserting a token");
		if (err == -EEXIST)
			err = token_describe_conflict(st, name, token_hash);
	}
	if (err == 0 && ret_id)
		*ret_id = sqlite3_last_insert_rowid(st->db);

	store_stmt_release(st, STMT_TOKEN_INSERT, stmt);
	return err;
}

int
store_token_find(struct store *st, const char token_hash[SHA256_HEX_SIZE], struct token *ret)
{
	struct token t;
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_TOKEN_FIND,
				 "SELECT id, name, role, created_at FROM tokens WHERE token_hash = :hash",
				 &stmt);
	if (err < 0)
		return err;

	store_bind_text(stmt, ":hash", token_hash, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "looking up a token");
		goto done;
	}

	memset(&t, 0, sizeof(t));
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		err = store_errorf(st, -ENOENT, "no token has this secret");
	} else if (rc != SQLITE_ROW) {
		err = store_sqlite_error(st, rc, "looking up a token");
	} else {
		t.id = sqlite3_column_int64(stmt, 0);
		t.created_at = sqlite3_column_int64(stmt, 3);
		err = store_column_copy(st, stmt, 1, t.name, sizeof(t.name));
		if (err == 0)
			err = store_column_copy(st, stmt, 2, t.role, sizeof(t.role));
	}
	if (err == 0)
		*ret = t;

done:
	store_stmt_release(st, STMT_TOKEN_FIND, stmt);
	return err;
}

int
store_token_count(struct store *st, int64_t *ret)
{
	sqlite3_stmt *stmt;
	int rc, err;

	err = store_stmt_acquire(st, STMT_TOKEN_COUNT, "SELECT count(*) FROM tokens", &stmt);
	if (err < 0)
		return err;

	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(stmt, 0);
	else
		err = store_sqlite_error(st, rc, "counting tokens");

	store_stmt_release(st, STMT_TOKEN_COUNT, stmt);
	return err;
}
