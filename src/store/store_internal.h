/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Declarations shared by the store's source files and nothing else: the connection
 * struct, the per-connection cache of prepared statements, error mapping and the
 * savepoint helpers that make one store call atomic inside or outside a transaction.
 */
#ifndef OUTPOST_STORE_INTERNAL_H
#define OUTPOST_STORE_INTERNAL_H

#include <stdarg.h>

#include <sqlite3.h>

#include "store/store.h"

#define STORE_ERROR_SIZE 512

/*
 * One slot per statement the store runs more than once. Machine listing and counting
 * have one slot per combination of filters, so each combination gets a plan that uses
 * its index: bit 0 state, bit 1 profile, bit 2 MAC, bit 3 hostname.
 */
enum store_stmt {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_SAVEPOINT,
	STMT_RELEASE,
	STMT_ROLLBACK_TO,

	STMT_MACHINE_INSERT,
	STMT_MACHINE_UPDATE,
	STMT_MACHINE_DELETE,
	STMT_MACHINE_GET,
	STMT_MACHINE_GET_BY_MAC,
	STMT_MACHINE_MACS_DELETE,
	STMT_MACHINE_MAC_INSERT,
	STMT_MACHINE_MAC_OWNER,
	STMT_MACHINE_IP_OWNER,
	STMT_MACHINE_HOSTNAME_OWNER,
	STMT_MACHINE_LIST,
	STMT_MACHINE_LIST_LAST = STMT_MACHINE_LIST + 15,
	STMT_MACHINE_COUNT,
	STMT_MACHINE_COUNT_LAST = STMT_MACHINE_COUNT + 15,

	STMT_PROFILE_INSERT,
	STMT_PROFILE_UPDATE,
	STMT_PROFILE_DELETE,
	STMT_PROFILE_GET,
	STMT_PROFILE_GET_BY_NAME,
	STMT_PROFILE_LIST,
	STMT_PROFILE_USERS,
	STMT_PROFILE_NAME_OWNER,

	STMT_BUNDLE_INSERT,
	STMT_BUNDLE_GET,
	STMT_BUNDLE_LIST,
	STMT_BUNDLE_LIST_NAME,
	STMT_BUNDLE_DELETE,
	STMT_BUNDLE_USER,
	STMT_ARTIFACT_INSERT,
	STMT_ARTIFACT_GET,
	STMT_ARTIFACT_FIND,
	STMT_ARTIFACT_LIST,
	STMT_ARTIFACT_LIST_BUNDLE,
	STMT_BLOB_LIST,
	STMT_BLOB_USERS,

	STMT_EVENT_APPEND,
	STMT_EVENT_TRIM,

	STMT_AUDIT_TAIL,
	STMT_AUDIT_APPEND,
	STMT_AUDIT_LIST,

	STMT_TOKEN_INSERT,
	STMT_TOKEN_FIND,
	STMT_TOKEN_COUNT,
	STMT_TOKEN_NAME_OWNER,
	STMT_TOKEN_HASH_OWNER,

	STMT_MACHINE_BOOT_GET,

	STMT_DDI_HOSTS,
	STMT_DDI_CONFLICT_RECORD,
	STMT_DDI_CONFLICT_LIST,
	STMT_DDI_LEASE_SET,

	STMT_DEPLOYMENT_INSERT,
	STMT_DEPLOYMENT_GET,
	STMT_DEPLOYMENT_CURRENT,
	STMT_DEPLOYMENT_UPDATE,
	STMT_DEPLOYMENT_LIST_RUNNING,
	STMT_DEPLOYMENT_LIST_MACHINE,

	STMT_BMC_INSERT,
	STMT_BMC_GET,
	STMT_BMC_UPDATE,
	STMT_BMC_DELETE,
	STMT_BMC_LIST,
	STMT_BMC_LIST_MACHINE,
	STMT_BMC_ENDPOINT_OWNER,
	STMT_BMC_OBSERVE,
	STMT_BMC_OP_INSERT,
	STMT_BMC_OP_NEXT_BATCH,
	STMT_BMC_OP_INSERT_ALL,
	STMT_BMC_OP_CLAIM,
	STMT_BMC_OP_FINISH,
	STMT_BMC_OP_GET,
	STMT_BMC_OP_LIST,
	STMT_BMC_OP_SUMMARY,
	STMT_BMC_OP_ABANDON,
	STMT_BMC_OP_PENDING,
	STMT_BMC_OP_TRIM,

	STMT_MAX,
};

struct boot_cache;

struct store {
	sqlite3 *db;
	bool readonly;
	int schema_version;
	sqlite3_stmt *stmts[STMT_MAX];      /* owned, prepared on first use */
	char error[STORE_ERROR_SIZE];
	struct boot_cache *boot_cache;      /* owned, created on first boot lookup */
};

/* Free a connection's boot cache. Accepts NULL. */
void boot_cache_free(struct boot_cache *cache);

/*
 * Return in *ret the statement for slot `id`, compiled from `sql` on first use and
 * kept for the connection's life. When the cached statement is still stepping (a
 * callback of a listing calls back into the store), a one-off statement is compiled
 * instead. Hand either kind back with store_stmt_release. Returns 0 or a store error.
 */
int store_stmt_acquire(struct store *st, enum store_stmt id, const char *sql,
		       sqlite3_stmt **ret);
/* Reset a cached statement, or finalize a one-off one. Accepts NULL. */
void store_stmt_release(struct store *st, enum store_stmt id, sqlite3_stmt *stmt);

/*
 * Record SQLite's message for the failed call `what` and return the errno for `rc`:
 * -EBUSY, -ENOSPC, -EEXIST (unique or primary key), -EINVAL (other constraints), -EIO.
 * Call it before the statement is reset, which may change the connection's message.
 */
int store_sqlite_error(struct store *st, int rc, const char *what);
/* Record a formatted message and return `err` unchanged. */
int store_errorf(struct store *st, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Step a statement that returns no rows. Returns 0 or the mapped error. */
int store_step_done(struct store *st, sqlite3_stmt *stmt, const char *what);

/*
 * Make the following writes atomic: a transaction of their own (BEGIN IMMEDIATE) when
 * none is open, a savepoint inside the caller's transaction otherwise. *outer records
 * which one was opened, for store_op_end.
 */
int store_op_begin(struct store *st, bool *outer);
/*
 * Finish what store_op_begin opened: commit or release when rc is 0, roll back
 * otherwise, leaving the caller's transaction open. Returns rc, or the commit's error.
 */
int store_op_end(struct store *st, bool outer, int rc);

/*
 * Copy text column `col` into a buffer of `size` bytes; NULL becomes "". A value that
 * does not fit means the row was not written by this store, so it is -EIO.
 */
int store_column_copy(struct store *st, sqlite3_stmt *stmt, int col, char *dst, size_t size);
/* Duplicate text column `col` into *ret (NULL stays NULL). Returns 0 or -ENOMEM. */
int store_column_dup(struct store *st, sqlite3_stmt *stmt, int col, char **ret);
/*
 * Bind helpers by parameter name (":mac"). Each does nothing once *rc contains an error
 * and otherwise stores the bind's result there, so a run of binds is checked once.
 * A name missing from the statement is SQLITE_RANGE. Text is bound without a copy,
 * so it must stay unchanged until the statement is released.
 */
void store_bind_text(sqlite3_stmt *stmt, const char *name, const char *text, int *rc);
/* Bind a string, or NULL when it is empty, so empty unique columns do not collide. */
void store_bind_text_or_null(sqlite3_stmt *stmt, const char *name, const char *text, int *rc);
void store_bind_int(sqlite3_stmt *stmt, const char *name, int64_t value, int *rc);
/* Record a failed bind and return its errno, as store_sqlite_error does. */
int store_bind_error(struct store *st, int rc, const char *what);
/* True when `text` ends with a NUL within its field of `size` bytes. */
bool store_text_fits(const char *text, size_t size);

/*
 * Find the row that owns a unique value, to name it in an -EEXIST message. `sql`
 * selects one id with parameters :value and :self; rows with id :self are skipped.
 * Returns 1 and sets *ret when found, 0 when not, or a store error.
 */
int store_find_owner(struct store *st, enum store_stmt id, const char *sql, const char *value,
		     int64_t self, int64_t *ret);

/* Apply the pending migrations; called by store_open on read-write connections. */
int store_migrate(struct store *st);
/* The schema version this binary migrates to. */
int store_migration_latest(void);
/* Read PRAGMA user_version into *ret. */
int store_user_version(struct store *st, int *ret);

#endif
