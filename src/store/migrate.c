/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schema migrations. Each migration is a script of SQL statements that ends by
 * setting PRAGMA user_version to its own number. store_migrate applies the pending
 * ones in order, each in a transaction of its own, so a crash leaves the database at
 * one version or the next. A database newer than this binary is rejected rather than
 * opened with a schema the code does not know.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <string.h>

#include "log/log.h"

struct migration {
	int version;
	const char *summary;
	const char *sql;
};

/*
 * Version 1, the first schema.
 *
 * Empty UUID, IP and hostname are stored as NULL, because UNIQUE treats NULLs as
 * distinct and so only real values collide. Hostnames and UUIDs compare without case.
 * machine_macs is WITHOUT ROWID with the MAC as its primary key, so the boot path's
 * lookup by MAC is one B-tree search with no second lookup through a rowid. Secondary
 * indexes in SQLite end with the rowid, so the index on state also serves "state = ?
 * AND id > ? ORDER BY id" for paged listing. AUTOINCREMENT never hands out the id of a
 * committed row again, even after it is deleted, so an audit entry naming "machine:12"
 * never points at a newer machine. The audit triggers reject a stray UPDATE or DELETE
 * from any connection. They cannot stop someone who edits the file or drops them, so
 * the hash chain is what detects tampering.
 */
static const char migration_1[] =
	"CREATE TABLE profiles ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),"
	"  image TEXT NOT NULL,"
	"  kernel TEXT NOT NULL,"
	"  initrd TEXT NOT NULL,"
	"  cmdline TEXT NOT NULL,"
	"  templates TEXT CHECK (templates IS NULL OR json_valid(templates)),"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	"CREATE UNIQUE INDEX profiles_name ON profiles (name);"

	"CREATE TABLE machines ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  uuid TEXT COLLATE NOCASE CHECK (uuid <> ''),"
	"  serial TEXT NOT NULL,"
	"  vendor TEXT NOT NULL,"
	"  model TEXT NOT NULL,"
	"  arch TEXT NOT NULL,"
	"  platform TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('discovered', 'ready', 'deploying',"
	"    'deployed', 'failed', 'decommissioning')),"
	"  profile_id INTEGER REFERENCES profiles (id),"
	"  ip TEXT CHECK (ip <> ''),"
	"  hostname TEXT COLLATE NOCASE CHECK (hostname <> ''),"
	"  inventory TEXT CHECK (inventory IS NULL OR json_valid(inventory)),"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	"CREATE UNIQUE INDEX machines_uuid ON machines (uuid);"
	"CREATE UNIQUE INDEX machines_ip ON machines (ip);"
	"CREATE UNIQUE INDEX machines_hostname ON machines (hostname);"
	"CREATE INDEX machines_state ON machines (state);"
	"CREATE INDEX machines_profile ON machines (profile_id);"

	"CREATE TABLE machine_macs ("
	"  mac TEXT NOT NULL PRIMARY KEY CHECK (length(mac) = 17),"
	"  machine_id INTEGER NOT NULL REFERENCES machines (id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL CHECK (position >= 0)"
	") WITHOUT ROWID;"
	"CREATE UNIQUE INDEX machine_macs_machine ON machine_macs (machine_id, position);"

	"CREATE TABLE artifacts ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),"
	"  version TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 64),"
	"  sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),"
	"  size INTEGER NOT NULL CHECK (size >= 0),"
	"  path TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE UNIQUE INDEX artifacts_name_version ON artifacts (name, version);"

	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"
	"  type TEXT NOT NULL CHECK (type <> ''),"
	"  target TEXT,"
	"  payload TEXT CHECK (payload IS NULL OR json_valid(payload))"
	");"

	"CREATE TABLE audit ("
	"  seq INTEGER PRIMARY KEY CHECK (seq > 0),"
	"  at INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  risk TEXT NOT NULL,"
	"  outcome TEXT NOT NULL,"
	"  detail TEXT,"
	"  prev_hash TEXT NOT NULL,"
	"  hash TEXT NOT NULL"
	");"
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	"  BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;"

	"CREATE TABLE tokens ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),"
	"  role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),"
	"  token_hash TEXT NOT NULL CHECK (length(token_hash) = 64),"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE UNIQUE INDEX tokens_name ON tokens (name);"
	"CREATE UNIQUE INDEX tokens_hash ON tokens (token_hash);"

	"PRAGMA user_version = 1;";

/*
 * Version 2: a machine's UUID is no longer unique. Firmware without a real SMBIOS UUID
 * reports a placeholder (all zeros or all ones) or the same value on every board of a
 * model, so several servers share it. With a unique index, the second of them could
 * never be registered. The index stays, without UNIQUE, for lookups by UUID.
 */
static const char migration_2[] =
	"DROP INDEX machines_uuid;"
	"CREATE INDEX machines_uuid ON machines (uuid);"

	"PRAGMA user_version = 2;";

/*
 * Version 3: bundles and the artifacts they brought in. An artifact is a file of a
 * loaded bundle. Its bytes are stored once per SHA-256 in the content-addressed
 * store, so several artifacts may share a hash. Version 1's artifacts table had no loader, so
 * it held no rows and is replaced.
 */
static const char migration_3[] =
	"DROP INDEX artifacts_name_version;"
	"DROP TABLE artifacts;"
	"CREATE TABLE bundles ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),"
	"  version TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 71),"
	"  kind TEXT NOT NULL CHECK (kind IN ('os', 'firmware', 'ramdisk', 'platform')),"
	"  key_id TEXT NOT NULL CHECK (length(key_id) = 32),"
	"  manifest_sha256 TEXT NOT NULL CHECK (length(manifest_sha256) = 64),"
	"  manifest TEXT NOT NULL CHECK (json_valid(manifest)),"
	"  size INTEGER NOT NULL CHECK (size >= 0),"
	"  loaded_at INTEGER NOT NULL"
	");"
	"CREATE UNIQUE INDEX bundles_name_version ON bundles (name, version);"
	"CREATE TABLE artifacts ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  bundle_id INTEGER NOT NULL REFERENCES bundles (id) ON DELETE CASCADE,"
	"  path TEXT NOT NULL CHECK (length(path) BETWEEN 1 AND 255),"
	"  role TEXT NOT NULL CHECK (role <> ''),"
	"  sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),"
	"  size INTEGER NOT NULL CHECK (size >= 0),"
	"  metadata TEXT CHECK (metadata IS NULL OR json_valid(metadata))"
	");"
	"CREATE UNIQUE INDEX artifacts_bundle_path ON artifacts (bundle_id, path);"
	"CREATE INDEX artifacts_sha256 ON artifacts (sha256);"

	"PRAGMA user_version = 3;";

/*
 * Version 4: DHCP and DNS. A machine's lease_ip is the address Kea last leased to one
 * of its MACs, which may differ from its reserved ip. ddi_conflicts records each
 * conflict the DDI manager finds, once per kind, address and MAC, counting repeats, so
 * a client that retries every few seconds adds no rows.
 */
static const char migration_4[] =
	"ALTER TABLE machines ADD COLUMN lease_ip TEXT CHECK (lease_ip <> '');"
	"CREATE TABLE ddi_conflicts ("
	"  kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),"
	"  address TEXT NOT NULL,"
	"  mac TEXT NOT NULL,"
	"  machine_id INTEGER,"
	"  detail TEXT NOT NULL,"
	"  first_seen INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL,"
	"  count INTEGER NOT NULL CHECK (count > 0),"
	"  PRIMARY KEY (kind, address, mac)"
	") WITHOUT ROWID;"

	"PRAGMA user_version = 4;";

/*
 * Version 5: deployments. Each deploy action starts a row; a machine's current
 * deployment is its newest. `phases` is a JSON array of the phases reached, in order.
 * `image_written` is set once the agent has written the disk, so that the machine's
 * next netboot goes to the local disk even before the installed system phones home.
 */
static const char migration_5[] =
	"CREATE TABLE deployments ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  machine_id INTEGER NOT NULL REFERENCES machines (id) ON DELETE CASCADE,"
	"  profile_id INTEGER,"
	"  state TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),"
	"  phase TEXT NOT NULL CHECK (length(phase) BETWEEN 1 AND 32),"
	"  reason TEXT NOT NULL,"
	"  image_written INTEGER NOT NULL CHECK (image_written IN (0, 1)),"
	"  phases TEXT NOT NULL CHECK (json_valid(phases)),"
	"  started_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  finished_at INTEGER NOT NULL"
	");"
	"CREATE INDEX deployments_machine ON deployments (machine_id, id);"
	"CREATE INDEX deployments_running ON deployments (state) WHERE state = 'running';"

	"PRAGMA user_version = 5;";

/*
 * BMCs: `endpoint` ("protocol:address:port") is unique, so one BMC is enrolled once.
 * `secret` contains the password sealed by the BMC module, never the password itself. A
 * BMC outlives its machine's row: deleting the machine unlinks it.
 */
static const char migration_6[] =
	"CREATE TABLE bmcs ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  machine_id INTEGER REFERENCES machines (id) ON DELETE SET NULL,"
	"  protocol TEXT NOT NULL CHECK (protocol IN ('redfish', 'ipmi')),"
	"  address TEXT NOT NULL CHECK (length(address) BETWEEN 1 AND 255),"
	"  port INTEGER NOT NULL CHECK (port BETWEEN 0 AND 65535),"
	"  endpoint TEXT NOT NULL UNIQUE,"
	"  username TEXT NOT NULL,"
	"  secret TEXT NOT NULL CHECK (length(secret) > 0),"
	"  tls TEXT NOT NULL CHECK (tls IN ('ca', 'pinned', 'tofu')),"
	"  ca_file TEXT NOT NULL,"
	"  fingerprint TEXT NOT NULL CHECK (length(fingerprint) IN (0, 64)),"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	"CREATE INDEX bmcs_machine ON bmcs (machine_id);"

	"PRAGMA user_version = 6;";

/*
 * BMC operations and what the last one saw of each BMC. An operation is a row from the
 * moment it is queued until it is trimmed, so its outcome can be read after it ran. A
 * BMC's removal leaves its operations as history. `batch` groups the operations of one
 * request on many BMCs.
 */
static const char migration_7[] =
	"ALTER TABLE bmcs ADD COLUMN status TEXT NOT NULL DEFAULT 'unverified'"
	"  CHECK (status IN ('unverified', 'ok', 'error'));"
	"ALTER TABLE bmcs ADD COLUMN status_detail TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE bmcs ADD COLUMN power_state TEXT NOT NULL DEFAULT 'unknown';"
	"ALTER TABLE bmcs ADD COLUMN checked_at INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE bmc_operations ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  bmc_id INTEGER REFERENCES bmcs (id) ON DELETE SET NULL,"
	"  batch INTEGER NOT NULL CHECK (batch >= 0),"
	"  kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 23),"
	"  args TEXT NOT NULL CHECK (json_valid(args)),"
	"  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),"
	"  result TEXT CHECK (result IS NULL OR json_valid(result)),"
	"  error TEXT NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  started_at INTEGER NOT NULL,"
	"  finished_at INTEGER NOT NULL"
	");"
	"CREATE INDEX bmc_operations_pending ON bmc_operations (state, id)"
	"  WHERE state IN ('queued', 'running');"
	"CREATE INDEX bmc_operations_batch ON bmc_operations (batch) WHERE batch > 0;"
	"CREATE INDEX bmc_operations_bmc ON bmc_operations (bmc_id, id);"

	"PRAGMA user_version = 7;";

static const struct migration migrations[] = {
	{ 1, "initial schema", migration_1 },
	{ 2, "machines.uuid not unique", migration_2 },
	{ 3, "bundles and their artifacts", migration_3 },
	{ 4, "DHCP leases and conflicts", migration_4 },
	{ 5, "deployments", migration_5 },
	{ 6, "BMCs", migration_6 },
	{ 7, "BMC operations and status", migration_7 },
};

#define MIGRATION_COUNT (sizeof(migrations) / sizeof(migrations[0]))

int
store_migration_latest(void)
{
	return migrations[MIGRATION_COUNT - 1].version;
}

/* Run every statement of a script. Scripts are constants, so nothing is bound. */
static int
store_run_script(struct store *st, const char *sql)
{
	const char *next = sql;
	sqlite3_stmt *stmt;
	int rc, err;

	while (*next != '\0') {
		rc = sqlite3_prepare_v3(st->db, next, -1, 0, &stmt, &next);
		if (rc != SQLITE_OK)
			return store_sqlite_error(st, rc, "preparing a migration statement");

		/* Trailing whitespace compiles to no statement. */
		if (!stmt)
			continue;

		err = store_step_done(st, stmt, "running a migration statement");
		sqlite3_finalize(stmt);
		if (err < 0)
			return err;
	}

	return 0;
}

/*
 * Apply one migration in its own transaction. The version is read again under the
 * write lock, because another process may have migrated since this one looked.
 */
static int
store_apply(struct store *st, const struct migration *m)
{
	int version, err;

	err = store_begin(st);
	if (err < 0)
		return err;

	err = store_user_version(st, &version);
	if (err < 0)
		goto err_apply;
	if (version >= m->version) {
		store_rollback(st);
		return 0;
	}

	err = store_run_script(st, m->sql);
	if (err < 0)
		goto err_apply;

	/* Each script sets its own version; one that did not would be applied at every open. */
	err = store_user_version(st, &version);
	if (err < 0)
		goto err_apply;
	if (version != m->version) {
		err = store_errorf(st, -EIO, "migration %d left the schema at version %d", m->version,
				   version);
		goto err_apply;
	}

	err = store_commit(st);
	if (err < 0)
		goto err_apply;

	log_info("store: applied migration version=%d summary=\"%s\"", m->version, m->summary);
	return 0;

err_apply:
	store_rollback(st);
	return err;
}

int
store_migrate(struct store *st)
{
	int version, latest = store_migration_latest();
	int err;

	err = store_user_version(st, &version);
	if (err < 0)
		return err;

	if (version > latest)
		return store_errorf(st, -ENOTSUP,
				    "database schema version %d is newer than version %d of this binary; run a newer outpost",
				    version, latest);

	for (size_t i = 0; i < MIGRATION_COUNT; i++) {
		if (migrations[i].version <= version)
			continue;

		err = store_apply(st, &migrations[i]);
		if (err < 0) {
			char reason[STORE_ERROR_SIZE];

			memcpy(reason, st->error, sizeof(reason));
			return store_errorf(st, err, "migration %d failed: %s", migrations[i].version,
					    reason);
		}
	}

	st->schema_version = latest;
	return 0;
}
