/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's connection: opening and configuring SQLite, the per-connection cache of
 * prepared statements, transactions, and the mapping from SQLite result codes to the
 * negative errno values every store function returns.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log/log.h"

/* Checkpoint the WAL into the database once it contains this many pages (SQLite's default). */
#define STORE_WAL_CHECKPOINT_PAGES 1000

static _Atomic uint64_t generation = 1;

uint64_t
store_generation(void)
{
	return atomic_load_explicit(&generation, memory_order_acquire);
}

/*
 * Called by SQLite after each commit of this connection, once the write lock is
 * released, so a read that starts after the bump sees the commit. It replaces
 * SQLite's own auto-checkpoint hook, which is why it checkpoints as that one would.
 */
static int
store_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)arg;
	atomic_fetch_add_explicit(&generation, 1, memory_order_release);
	if (pages >= STORE_WAL_CHECKPOINT_PAGES)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

/*
 * Turn off SQLite's allocation statistics before the library initialises: they take
 * a global mutex on every malloc and free, from every thread.
 */
static void
store_global_init(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* Run a PRAGMA and, when `expect` is set, check the text of its single result row. */
static int
store_pragma(struct store *st, const char *sql, const char *expect)
{
	sqlite3_stmt *stmt = NULL;
	const char *value;
	int rc, err = 0;

	rc = sqlite3_prepare_v3(st->db, sql, -1, 0, &stmt, NULL);
	if (rc != SQLITE_OK)
		return store_sqlite_error(st, rc, sql);

	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		err = store_sqlite_error(st, rc, sql);
		goto done;
	}

	/* journal_mode returns the mode in effect, which is not always the one requested. */
	if (expect) {
		value = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
		if (!value || strcmp(value, expect) != 0)
			err = store_errorf(st, -EIO, "%s: the database reports \"%s\", expected \"%s\"",
					   sql, value ? value : "", expect);
	}

done:
	sqlite3_finalize(stmt);
	return err;
}

/* The page cache of one connection, in KiB, as text for the PRAGMA. */
#define STORE_CACHE_KIB "512"

/*
 * Set up a fresh connection. WAL lets readers run while one writer commits.
 * synchronous=FULL makes each commit fsync the WAL, because with NORMAL a power cut
 * may lose the last commits and with them the tail of the audit trail. The cost is
 * one fsync per transaction.
 */
static int
store_configure(struct store *st)
{
	int err;

	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	/* Reject writable_schema and other ways of corrupting the file through SQL. */
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);

	if (!st->readonly) {
		err = store_pragma(st, "PRAGMA journal_mode = WAL", "wal");
		if (err < 0)
			return err;
		sqlite3_wal_hook(st->db, store_wal_hook, NULL);
	}

	err = store_pragma(st, "PRAGMA synchronous = FULL", NULL);
	if (err < 0)
		return err;

	/*
	 * Each thread has a connection with its own page cache (2 MiB by default), and the
	 * kernel caches the file anyway. STORE_CACHE_KIB bounds each connection's share.
	 */
	err = store_pragma(st, "PRAGMA cache_size = -" STORE_CACHE_KIB, NULL);
	if (err < 0)
		return err;

	return store_pragma(st, "PRAGMA foreign_keys = ON", NULL);
}

/* A read-only connection cannot migrate, so it takes only the current schema. */
static int
store_check_readonly_version(struct store *st)
{
	int version, err;

	err = store_user_version(st, &version);
	if (err < 0)
		return err;

	if (version != store_migration_latest())
		return store_errorf(st, -ENOTSUP,
				    "database schema version %d differs from version %d of this binary; open it read-write to migrate",
				    version, store_migration_latest());

	st->schema_version = version;
	return 0;
}

/*
 * SQLite reports a directory it cannot write as SQLITE_CANTOPEN with a stale errno
 * (often ENOENT from probing for the journal), so check the directory ourselves.
 */
static int
store_open_errno(struct store *st, const char *path)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	if (!st->readonly && access(dirname(dir), W_OK | X_OK) < 0)
		return -errno;
	if (st->db && sqlite3_system_errno(st->db))
		return -sqlite3_system_errno(st->db);
	return -EIO;
}

int
store_open(const char *path, bool readonly, struct store **ret)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct store *st;
	int flags, rc, err;

	pthread_once(&once, store_global_init);
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->readonly = readonly;

	/* NOMUTEX: a connection belongs to one thread at a time. */
	flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
	flags |= readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(path, &st->db, flags, NULL);
	if (rc != SQLITE_OK) {
		err = store_open_errno(st, path);
		log_err("store: cannot open database path=\"%s\": %s (%s)", path,
			st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc), strerror(-err));
		goto err_open;
	}

	err = store_configure(st);
	if (err < 0)
		goto err_configure;

	err = readonly ? store_check_readonly_version(st) : store_migrate(st);
	if (err < 0)
		goto err_configure;

	*ret = st;
	return 0;

err_configure:
	log_err("store: cannot open database path=\"%s\": %s", path, st->error);
err_open:
	store_close(st);
	return err;
}

struct store *
store_close(struct store *st)
{
	int rc;

	if (!st)
		return NULL;

	for (size_t i = 0; i < STMT_MAX; i++)
		sqlite3_finalize(st->stmts[i]);
	boot_cache_free(st->boot_cache);

	/* Every statement is finalized, so close cannot be left pending. */
	rc = sqlite3_close(st->db);
	if (rc != SQLITE_OK)
		log_warning("store: closing the database failed: %s, ignoring", sqlite3_errstr(rc));

	free(st);
	return NULL;
}

const char *
store_error(const struct store *st)
{
	return st->error;
}

int
store_schema_version(struct store *st)
{
	return st->schema_version;
}

int
store_user_version(struct store *st, int *ret)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err = 0;

	rc = sqlite3_prepare_v3(st->db, "PRAGMA user_version", -1, 0, &stmt, NULL);
	if (rc != SQLITE_OK)
		return store_sqlite_error(st, rc, "reading the schema version");

	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int(stmt, 0);
	else
		err = store_sqlite_error(st, rc, "reading the schema version");

	sqlite3_finalize(stmt);
	return err;
}

int
store_stmt_acquire(struct store *st, enum store_stmt id, const char *sql, sqlite3_stmt **ret)
{
	sqlite3_stmt *stmt = st->stmts[id];
	unsigned int flags = 0;
	int rc;

	if (stmt && !sqlite3_stmt_busy(stmt)) {
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
		*ret = stmt;
		return 0;
	}

	/* PERSISTENT marks the statement long-lived, so SQLite keeps it out of lookaside memory. */
	if (!stmt)
		flags = SQLITE_PREPARE_PERSISTENT;
	rc = sqlite3_prepare_v3(st->db, sql, -1, flags, &stmt, NULL);
	if (rc != SQLITE_OK)
		return store_sqlite_error(st, rc, "preparing a statement");

	if (!st->stmts[id])
		st->stmts[id] = stmt;
	*ret = stmt;
	return 0;
}

void
store_stmt_release(struct store *st, enum store_stmt id, sqlite3_stmt *stmt)
{
	if (!stmt)
		return;

	/* Resetting ends the statement's read transaction, so WAL checkpoints can proceed. */
	if (st->stmts[id] == stmt) {
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
	} else {
		sqlite3_finalize(stmt);
	}
}

int
store_errorf(struct store *st, int err, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(st->error, sizeof(st->error), fmt, args);
	va_end(args);
	return err;
}

int
store_sqlite_error(struct store *st, int rc, const char *what)
{
	int err;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		err = -EBUSY;
		break;
	case SQLITE_FULL:
		err = -ENOSPC;
		break;
	case SQLITE_NOMEM:
		err = -ENOMEM;
		break;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			err = -EEXIST;
		else
			err = -EINVAL;
		break;
	default:
		err = -EIO;
		break;
	}

	return store_errorf(st, err, "%s: %s", what, sqlite3_errmsg(st->db));
}

int
store_step_done(struct store *st, sqlite3_stmt *stmt, const char *what)
{
	int rc;

	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_ROW)
		return store_errorf(st, -EIO, "%s: the statement returned a row", what);
	return store_sqlite_error(st, rc, what);
}

/* Run one of the transaction-control statements. */
static int
store_control(struct store *st, enum store_stmt id, const char *sql)
{
	sqlite3_stmt *stmt;
	int err;

	err = store_stmt_acquire(st, id, sql, &stmt);
	if (err < 0)
		return err;

	err = store_step_done(st, stmt, sql);
	store_stmt_release(st, id, stmt);
	return err;
}

/*
 * Run a rollback statement after a failure. The failure's message in st->error is
 * what the caller needs, so a rollback error is logged instead of replacing it.
 */
static void
store_control_quiet(struct store *st, enum store_stmt id, const char *sql)
{
	char saved[STORE_ERROR_SIZE];
	int err;

	memcpy(saved, st->error, sizeof(saved));
	err = store_control(st, id, sql);
	if (err < 0)
		log_warning("store: \"%s\" failed: %s, ignoring", sql, st->error);
	memcpy(st->error, saved, sizeof(saved));
}

int
store_begin(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		return store_errorf(st, -EINVAL, "a transaction is already open");
	return store_control(st, STMT_BEGIN, "BEGIN IMMEDIATE");
}

int
store_commit(struct store *st)
{
	if (sqlite3_get_autocommit(st->db))
		return store_errorf(st, -EINVAL, "no transaction is open, or SQLite rolled it back after an error");
	return store_control(st, STMT_COMMIT, "COMMIT");
}

void
store_rollback(struct store *st)
{
	/* After SQLITE_FULL and some I/O errors SQLite has already rolled back. */
	if (sqlite3_get_autocommit(st->db))
		return;
	store_control_quiet(st, STMT_ROLLBACK, "ROLLBACK");
}

int
store_op_begin(struct store *st, bool *outer)
{
	int err;

	if (sqlite3_get_autocommit(st->db)) {
		err = store_control(st, STMT_BEGIN, "BEGIN IMMEDIATE");
		if (err == 0)
			*outer = true;
		return err;
	}

	err = store_control(st, STMT_SAVEPOINT, "SAVEPOINT store_op");
	if (err == 0)
		*outer = false;
	return err;
}

int
store_op_end(struct store *st, bool outer, int rc)
{
	int err;

	if (rc == 0) {
		if (outer)
			err = store_control(st, STMT_COMMIT, "COMMIT");
		else
			err = store_control(st, STMT_RELEASE, "RELEASE store_op");
		if (err == 0)
			return 0;
		rc = err;
	}

	if (outer) {
		store_rollback(st);
		return rc;
	}

	/* Undo this call's writes only; the caller's transaction stays open. */
	if (!sqlite3_get_autocommit(st->db)) {
		store_control_quiet(st, STMT_ROLLBACK_TO, "ROLLBACK TO store_op");
		store_control_quiet(st, STMT_RELEASE, "RELEASE store_op");
	}
	return rc;
}

int
store_column_copy(struct store *st, sqlite3_stmt *stmt, int col, char *dst, size_t size)
{
	const unsigned char *text;
	size_t len;

	if (sqlite3_column_type(stmt, col) == SQLITE_NULL) {
		dst[0] = '\0';
		return 0;
	}

	/* A non-NULL value read as NULL text means the conversion ran out of memory. */
	text = sqlite3_column_text(stmt, col);
	if (!text)
		return store_errorf(st, -ENOMEM, "reading column %s: out of memory",
				    sqlite3_column_name(stmt, col));

	len = (size_t)sqlite3_column_bytes(stmt, col);
	if (len >= size)
		return store_errorf(st, -EIO, "column %s holds %zu bytes, more than the %zu this field takes",
				    sqlite3_column_name(stmt, col), len, size - 1);

	memcpy(dst, text, len + 1);
	return 0;
}

int
store_column_dup(struct store *st, sqlite3_stmt *stmt, int col, char **ret)
{
	const unsigned char *text;
	char *copy;

	if (sqlite3_column_type(stmt, col) == SQLITE_NULL) {
		*ret = NULL;
		return 0;
	}

	text = sqlite3_column_text(stmt, col);
	if (!text)
		return store_errorf(st, -ENOMEM, "reading column %s: out of memory",
				    sqlite3_column_name(stmt, col));

	copy = strdup((const char *)text);
	if (!copy)
		return store_errorf(st, -ENOMEM, "reading column %s: out of memory",
				    sqlite3_column_name(stmt, col));
	*ret = copy;
	return 0;
}

/* The index of a named parameter, recording SQLITE_RANGE when the name is missing. */
static int
store_bind_index(sqlite3_stmt *stmt, const char *name, int *rc)
{
	int index;

	if (*rc != SQLITE_OK)
		return 0;

	index = sqlite3_bind_parameter_index(stmt, name);
	if (index == 0)
		*rc = SQLITE_RANGE;
	return index;
}

void
store_bind_text(sqlite3_stmt *stmt, const char *name, const char *text, int *rc)
{
	int index = store_bind_index(stmt, name, rc);

	if (index == 0)
		return;
	if (text)
		*rc = sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
	else
		*rc = sqlite3_bind_null(stmt, index);
}

void
store_bind_text_or_null(sqlite3_stmt *stmt, const char *name, const char *text, int *rc)
{
	store_bind_text(stmt, name, text && text[0] != '\0' ? text : NULL, rc);
}

void
store_bind_int(sqlite3_stmt *stmt, const char *name, int64_t value, int *rc)
{
	int index = store_bind_index(stmt, name, rc);

	if (index == 0)
		return;
	*rc = sqlite3_bind_int64(stmt, index, value);
}

int
store_bind_error(struct store *st, int rc, const char *what)
{
	int err = rc == SQLITE_NOMEM ? -ENOMEM : -EIO;

	return store_errorf(st, err, "%s: binding a parameter failed: %s", what, sqlite3_errstr(rc));
}

int
store_find_owner(struct store *st, enum store_stmt id, const char *sql, const char *value,
		 int64_t self, int64_t *ret)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err, found = 0;

	err = store_stmt_acquire(st, id, sql, &stmt);
	if (err < 0)
		return err;

	store_bind_text(stmt, ":value", value, &rc);
	store_bind_int(stmt, ":self", self, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "looking up a value's owner");
		goto done;
	}

	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(stmt, 0);
		found = 1;
	} else if (rc != SQLITE_DONE) {
		err = store_sqlite_error(st, rc, "looking up a value's owner");
	}

done:
	store_stmt_release(st, id, stmt);
	return err < 0 ? err : found;
}

bool
store_text_fits(const char *text, size_t size)
{
	return memchr(text, '\0', size) != NULL;
}
