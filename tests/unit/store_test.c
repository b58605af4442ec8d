/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store tests. Each test gets a fresh database file in a temporary directory; some
 * open the same file with sqlite3 directly to check what the store wrote.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "log/log.h"
#include "store/store.h"

static char test_dir[256];
static unsigned int test_counter;

struct fixture {
	char path[PATH_MAX];
	struct store *st;
};

static int
group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	log_setup(LOG_LEVEL_WARNING, LOG_TARGET_STDERR);
	snprintf(test_dir, sizeof(test_dir), "%s/outpost-store-test.XXXXXX", tmp ? tmp : "/tmp");
	return mkdtemp(test_dir) ? 0 : -1;
}

static void
remove_db(const char *path)
{
	char name[PATH_MAX + 8];

	unlink(path);
	snprintf(name, sizeof(name), "%s-wal", path);
	unlink(name);
	snprintf(name, sizeof(name), "%s-shm", path);
	unlink(name);
}

static int
remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Remove the directory with whatever a failed test left in it. */
static int
group_teardown(void **state)
{
	(void)state;
	return nftw(test_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int
test_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/test-%u.db", test_dir, test_counter++);
	if (store_open(f->path, false, &f->st) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
test_teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	remove_db(f->path);
	free(f);
	return 0;
}

/* Run SQL on the file through a connection of the test's own. */
static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	char *message = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK)
		fail_msg("%s: %s", sql, message);
	sqlite3_close(db);
}

/* The first column of the first row of `sql`, as text. */
static void
raw_query(const char *path, const char *sql, char *out, size_t size)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
		snprintf(out, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
	else
		out[0] = '\0';
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

static int64_t
raw_int(const char *path, const char *sql)
{
	char text[64];

	raw_query(path, sql, text, sizeof(text));
	return strtoll(text, NULL, 10);
}

/* A machine with one MAC derived from n, hostname "node<n>", state ready. */
static void
machine_fill(struct machine *m, unsigned int n)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->macs[0], MAC_TEXT_SIZE, "52:54:00:%02x:%02x:%02x", (n >> 16) & 0xff,
		 (n >> 8) & 0xff, n & 0xff);
	m->mac_count = 1;
	snprintf(m->hostname, sizeof(m->hostname), "node%u", n);
	snprintf(m->serial, sizeof(m->serial), "SN%u", n);
	snprintf(m->vendor, sizeof(m->vendor), "QEMU");
	snprintf(m->arch, sizeof(m->arch), "x86_64");
	snprintf(m->platform, sizeof(m->platform), "efi");
	m->state = MACHINE_READY;
}

static void
profile_fill(struct profile *p, const char *name)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->image, sizeof(p->image), "debian-12/disk.qcow2");
	snprintf(p->kernel, sizeof(p->kernel), "ramdisk/vmlinuz");
	snprintf(p->initrd, sizeof(p->initrd), "ramdisk/initrd.img");
	snprintf(p->cmdline, sizeof(p->cmdline), "console=ttyS0");
}

static void
open_creates_schema(void **state)
{
	struct fixture *f = *state;
	char text[64];

	assert_int_equal(store_schema_version(f->st), 7);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 7);

	raw_query(f->path, "PRAGMA journal_mode", text, sizeof(text));
	assert_string_equal(text, "wal");

	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
				 " AND name IN ('machines', 'machine_macs', 'profiles', 'artifacts', 'bundles',"
				 " 'events', 'audit', 'tokens', 'ddi_conflicts')"),
			 9);
}

static void
reopen_is_idempotent(void **state)
{
	struct fixture *f = *state;
	struct profile p, got;

	profile_fill(&p, "debian-12");
	assert_int_equal(store_profile_insert(f->st, &p), 0);

	f->st = store_close(f->st);
	assert_int_equal(store_open(f->path, false, &f->st), 0);
	assert_int_equal(store_schema_version(f->st), 7);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 7);

	assert_int_equal(store_profile_get(f->st, p.id, &got), 0);
	assert_string_equal(got.name, "debian-12");
	profile_clear(&got);
}

/* Undo migrations 7, 6, 5, 4 and 3, so a test can start from an older schema. */
#define UNDO_MIGRATION_3 \
	"DROP TABLE bmc_operations; DROP TABLE bmcs; DROP TABLE deployments;" \
	" DROP TABLE ddi_conflicts; ALTER TABLE machines DROP COLUMN lease_ip;" \
	" DROP TABLE artifacts; DROP TABLE bundles;" \
	" CREATE TABLE artifacts (id INTEGER PRIMARY KEY, name TEXT, version TEXT);" \
	" CREATE UNIQUE INDEX artifacts_name_version ON artifacts (name, version);"

static void
newer_version_rejected(void **state)
{
	struct fixture *f = *state;
	struct store *st = NULL;

	f->st = store_close(f->st);
	raw_exec(f->path, "PRAGMA user_version = 99");

	assert_int_equal(store_open(f->path, false, &st), -ENOTSUP);
	assert_null(st);
	assert_int_equal(store_open(f->path, true, &st), -ENOTSUP);
	assert_null(st);

	/* The rejected open must not have changed the file. */
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 99);
	raw_exec(f->path, UNDO_MIGRATION_3 " PRAGMA user_version = 2");
	assert_int_equal(store_open(f->path, false, &f->st), 0);
}

/* A version 1 database, with a unique index on machines.uuid, is upgraded in place. */
static void
migration_2_uuid_not_unique(void **state)
{
	struct fixture *f = *state;
	struct machine m, got;

	/* Turn the new file back into version 1 and give it a machine with a UUID. */
	f->st = store_close(f->st);
	raw_exec(f->path, UNDO_MIGRATION_3 " DROP INDEX machines_uuid;"
		 " CREATE UNIQUE INDEX machines_uuid ON machines (uuid);"
		 " INSERT INTO machines (uuid, serial, vendor, model, arch, platform, state,"
		 " created_at, updated_at) VALUES ('00000000-0000-0000-0000-000000000000', '', '',"
		 " '', 'x86_64', 'efi', 'discovered', 1, 1);"
		 " INSERT INTO machine_macs (mac, machine_id, position)"
		 " VALUES ('52:54:00:00:00:01', last_insert_rowid(), 0);"
		 " PRAGMA user_version = 1");
	assert_int_equal(raw_int(f->path, "SELECT \"unique\" FROM pragma_index_list('machines')"
				 " WHERE name = 'machines_uuid'"), 1);

	assert_int_equal(store_open(f->path, false, &f->st), 0);
	assert_int_equal(store_schema_version(f->st), 7);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 7);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM pragma_index_list('machines')"
				 " WHERE name = 'machines_uuid' AND \"unique\" = 0"), 1);

	/* The old row survived, and a second machine may now share its UUID. */
	assert_int_equal(store_machine_get_by_mac(f->st, "52:54:00:00:00:01", &got), 0);
	assert_string_equal(got.uuid, "00000000-0000-0000-0000-000000000000");
	machine_clear(&got);
	machine_fill(&m, 2);
	snprintf(m.uuid, sizeof(m.uuid), "00000000-0000-0000-0000-000000000000");
	assert_int_equal(store_machine_insert(f->st, &m), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM machines"
				 " WHERE uuid = '00000000-0000-0000-0000-000000000000'"), 2);
}

static int
deployment_state_collect(const struct deployment *d, void *arg)
{
	char *out = arg;

	strcat(out, deployment_state_name(d->state));
	strcat(out, ",");
	return 0;
}

/* Deployments: insert, read back, update, newest per machine, listings and checks. */
/* Count the BMCs a list passes to its callback. */
static int
bmc_count(const struct bmc_record *b, void *arg)
{
	(void)b;
	(*(int *)arg)++;
	return 0;
}

static void
bmcs_round_trip(void **state)
{
	struct fixture *f = *state;
	struct bmc_record b = { .protocol = "redfish", .address = "10.0.0.5", .port = 443,
				.username = "admin", .secret = "v1:c2VhbGVk", .tls = "pinned",
				.fingerprint = "" }, got, dup;
	struct machine m;
	int count = 0;

	memset(b.fingerprint, 'a', 64);
	assert_int_equal(store_bmc_insert(f->st, &b), 0);
	assert_true(b.id > 0);
	assert_int_equal(store_bmc_get(f->st, b.id, &got), 0);
	assert_string_equal(got.address, "10.0.0.5");
	assert_string_equal(got.secret, "v1:c2VhbGVk");
	assert_string_equal(got.fingerprint, b.fingerprint);
	assert_int_equal(got.machine_id, 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM bmcs WHERE endpoint = "
				 "'redfish:10.0.0.5:443'"), 1);

	/* The same protocol, address and port once only; the error names the owner. */
	dup = b;
	assert_int_equal(store_bmc_insert(f->st, &dup), -EEXIST);
	assert_non_null(strstr(store_error(f->st), "enrolled already as BMC"));
	dup.port = 8443;
	assert_int_equal(store_bmc_insert(f->st, &dup), 0);
	snprintf(dup.fingerprint, sizeof(dup.fingerprint), "%s", "not hex");
	assert_int_equal(store_bmc_update(f->st, &dup), -EINVAL);
	snprintf(dup.protocol, sizeof(dup.protocol), "%s", "snmp");
	dup.fingerprint[0] = '\0';
	assert_int_equal(store_bmc_update(f->st, &dup), -EINVAL);

	/* Linked to a machine, listed with it, unlinked when the machine goes. */
	machine_fill(&m, 3);
	assert_int_equal(store_machine_insert(f->st, &m), 0);
	b.machine_id = m.id;
	assert_int_equal(store_bmc_update(f->st, &b), 0);
	assert_int_equal(store_bmc_list(f->st, m.id, bmc_count, &count), 0);
	assert_int_equal(count, 1);
	count = 0;
	assert_int_equal(store_bmc_list(f->st, 0, bmc_count, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(store_machine_delete(f->st, m.id), 0);
	assert_int_equal(store_bmc_get(f->st, b.id, &got), 0);
	assert_int_equal(got.machine_id, 0);

	assert_int_equal(store_bmc_delete(f->st, b.id), 0);
	assert_int_equal(store_bmc_get(f->st, b.id, &got), -ENOENT);
	assert_int_equal(store_bmc_delete(f->st, b.id), -ENOENT);
}

/* Insert a BMC at 10.0.0.N for the operation tests; returns its id. */
static int64_t
bmc_add(struct store *st, int n)
{
	struct bmc_record b = { .protocol = "ipmi", .port = 623, .username = "admin",
				.secret = "v1:c2VhbGVk", .tls = "ca" };

	snprintf(b.address, sizeof(b.address), "10.0.0.%d", n);
	assert_int_equal(store_bmc_insert(st, &b), 0);
	return b.id;
}

static int64_t
op_add(struct store *st, int64_t bmc, const char *kind)
{
	struct bmc_operation op = { .bmc_id = bmc, .args = (char *)"{}", .actor = "test" };

	snprintf(op.kind, sizeof(op.kind), "%s", kind);
	assert_int_equal(store_bmc_op_insert(st, &op), 0);
	assert_string_equal(op.state, "queued");
	return op.id;
}

/* Claim the next operation and return its id, or 0 when none can be claimed. */
static int64_t
op_claim(struct store *st)
{
	struct bmc_operation op;
	int64_t id;
	int rc = store_bmc_op_claim(st, &op);

	if (rc == -ENOENT)
		return 0;
	assert_int_equal(rc, 0);
	assert_string_equal(op.state, "running");
	assert_true(op.started_at > 0);
	id = op.id;
	bmc_operation_clear(&op);
	return id;
}

/* Count the operations store_bmc_op_abandon fails. */
static void
count_abandoned(int64_t id, const char *kind, void *arg)
{
	assert_true(id > 0);
	assert_true(kind[0] != '\0');
	(*(int64_t *)arg)++;
}

/* Operations of one BMC run one at a time, in order; other BMCs' run beside them. */
static void
bmc_operations_claim_order(void **state)
{
	struct fixture *f = *state;
	int64_t a = bmc_add(f->st, 1), b = bmc_add(f->st, 2);
	int64_t a1 = op_add(f->st, a, "power"), a2 = op_add(f->st, a, "sensors");
	int64_t b1 = op_add(f->st, b, "sensors");
	struct bmc_operation got;
	struct bmc_op_summary sum;
	int64_t batch, n = 0;
	size_t count;

	assert_int_equal(op_claim(f->st), a1);
	/* a2 waits for a1 on the same BMC; b1 goes first. */
	assert_int_equal(op_claim(f->st), b1);
	assert_int_equal(op_claim(f->st), 0);
	assert_int_equal(store_bmc_op_finish(f->st, a1, "{\"power\":\"off\"}", NULL), 0);
	assert_int_equal(op_claim(f->st), a2);
	assert_int_equal(store_bmc_op_finish(f->st, a2, NULL, "timed out\nafter 5 s"), 0);
	/* Finishing twice, or an operation that is not running, is refused. */
	assert_int_equal(store_bmc_op_finish(f->st, a2, NULL, "again"), -ENOENT);

	assert_int_equal(store_bmc_op_get(f->st, a1, &got), 0);
	assert_string_equal(got.state, "succeeded");
	assert_string_equal(got.result, "{\"power\":\"off\"}");
	assert_true(got.finished_at >= got.started_at);
	bmc_operation_clear(&got);
	assert_int_equal(store_bmc_op_get(f->st, a2, &got), 0);
	assert_string_equal(got.state, "failed");
	assert_null(got.result);
	/* Control characters in an error never reach a reply or a log line. */
	assert_string_equal(got.error, "timed out?after 5 s");
	bmc_operation_clear(&got);

	/* A batch on every BMC, counted by state. */
	assert_int_equal(store_bmc_op_next_batch(f->st, &batch), 0);
	assert_int_equal(batch, 1);
	assert_int_equal(store_bmc_op_insert_all(f->st, batch, "sensors", "{}", "test", &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(store_bmc_op_summary(f->st, batch, &sum), 0);
	assert_int_equal(sum.queued, 2);
	assert_int_equal(store_bmc_op_next_batch(f->st, &batch), 0);
	assert_int_equal(batch, 2);

	/* A restart fails what was queued or running, and only that. */
	assert_int_equal(store_bmc_op_abandon(f->st, "interrupted", count_abandoned, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_bmc_op_summary(f->st, 1, &sum), 0);
	assert_int_equal(sum.failed, 2);
	assert_int_equal(sum.queued + sum.running, 0);
	assert_int_equal(op_claim(f->st), 0);

	/* Operations outlive their BMC, and one queued on no BMC is refused. */
	assert_int_equal(store_bmc_delete(f->st, a), 0);
	assert_int_equal(store_bmc_op_get(f->st, a1, &got), 0);
	assert_int_equal(got.bmc_id, 0);
	bmc_operation_clear(&got);
	struct bmc_operation bad = { .bmc_id = 999, .args = (char *)"{}", .kind = "power",
				     .actor = "test" };
	assert_int_equal(store_bmc_op_insert(f->st, &bad), -ENOENT);
	bad.bmc_id = b;
	bad.args = (char *)"{not json";
	assert_int_equal(store_bmc_op_insert(f->st, &bad), -EINVAL);

	/* Trimming keeps the newest finished operations. */
	assert_int_equal(store_bmc_op_trim(f->st, 1), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM bmc_operations"), 1);
}

/* What an operation saw of its BMC. */
static void
bmc_observe(void **state)
{
	struct fixture *f = *state;
	int64_t a = bmc_add(f->st, 1);
	struct bmc_record got;

	assert_int_equal(store_bmc_get(f->st, a, &got), 0);
	assert_string_equal(got.status, "unverified");
	assert_string_equal(got.power_state, "unknown");
	assert_int_equal(got.checked_at, 0);
	assert_int_equal(store_bmc_observe(f->st, a, "ok", "", "on"), 0);
	assert_int_equal(store_bmc_observe(f->st, a, "error", "no route\x1b[2J", NULL), 0);
	assert_int_equal(store_bmc_get(f->st, a, &got), 0);
	assert_string_equal(got.status, "error");
	assert_string_equal(got.status_detail, "no route?[2J");
	/* NULL keeps the power state seen before. */
	assert_string_equal(got.power_state, "on");
	assert_true(got.checked_at > 0);
	assert_int_equal(store_bmc_observe(f->st, a, "fine", "", NULL), -EINVAL);
	assert_int_equal(store_bmc_observe(f->st, 999, "ok", "", NULL), -ENOENT);
}

static void
deployments_round_trip(void **state)
{
	struct fixture *f = *state;
	struct deployment d = { .state = DEPLOYMENT_RUNNING, .phase = "pending" }, got = { 0 };
	struct deployment second = { .state = DEPLOYMENT_RUNNING, .phase = "pending" };
	struct machine m;
	char states[64] = "";

	machine_fill(&m, 1);
	assert_int_equal(store_machine_insert(f->st, &m), 0);
	d.machine_id = m.id;
	assert_int_equal(store_deployment_insert(f->st, &d), 0);
	assert_true(d.id > 0);
	assert_int_equal(store_deployment_get(f->st, d.id, &got), 0);
	assert_string_equal(got.phases, "[]");
	assert_string_equal(got.phase, "pending");
	assert_int_equal(got.state, DEPLOYMENT_RUNNING);
	assert_false(got.image_written);
	assert_int_equal(got.profile_id, 0);
	deployment_clear(&got);

	d.state = DEPLOYMENT_FAILED;
	snprintf(d.phase, sizeof(d.phase), "image-verified");
	snprintf(d.reason, sizeof(d.reason), "image hash mismatch");
	d.image_written = true;
	d.phases = strdup("[{\"phase\":\"image-verified\",\"at_ms\":1}]");
	d.finished_at = 42;
	assert_int_equal(store_deployment_update(f->st, &d), 0);
	deployment_clear(&d);
	assert_int_equal(store_deployment_get(f->st, d.id, &got), 0);
	assert_int_equal(got.state, DEPLOYMENT_FAILED);
	assert_string_equal(got.reason, "image hash mismatch");
	assert_true(got.image_written);
	assert_int_equal(got.finished_at, 42);
	assert_string_equal(got.phases, "[{\"phase\":\"image-verified\",\"at_ms\":1}]");
	deployment_clear(&got);

	/* The newest is the current one; running ones are listed, and a machine's newest first. */
	second.machine_id = m.id;
	assert_int_equal(store_deployment_insert(f->st, &second), 0);
	assert_int_equal(store_deployment_current(f->st, m.id, &got), 0);
	assert_int_equal(got.id, second.id);
	deployment_clear(&got);
	assert_int_equal(store_deployment_list(f->st, 0, 0, deployment_state_collect, states), 0);
	assert_string_equal(states, "running,");
	states[0] = '\0';
	assert_int_equal(store_deployment_list(f->st, m.id, 10, deployment_state_collect, states), 0);
	assert_string_equal(states, "running,failed,");

	/* Bad values are refused; a missing row is -ENOENT; deleting the machine removes them. */
	second.phase[0] = '\0';
	assert_int_equal(store_deployment_update(f->st, &second), -EINVAL);
	second.id = 999;
	snprintf(second.phase, sizeof(second.phase), "pending");
	assert_int_equal(store_deployment_update(f->st, &second), -ENOENT);
	assert_int_equal(store_deployment_get(f->st, 999, &got), -ENOENT);
	assert_int_equal(store_deployment_current(f->st, 999, &got), -ENOENT);
	assert_int_equal(store_machine_delete(f->st, m.id), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM deployments"), 0);
}

static void
readonly_open(void **state)
{
	struct fixture *f = *state;
	char missing[PATH_MAX + 16];
	struct store *ro = NULL;
	struct machine m, got;

	machine_fill(&m, 1);
	assert_int_equal(store_machine_insert(f->st, &m), 0);

	assert_int_equal(store_open(f->path, true, &ro), 0);
	assert_int_equal(store_machine_get(ro, m.id, &got), 0);
	assert_string_equal(got.hostname, "node1");
	machine_clear(&got);

	machine_fill(&m, 2);
	assert_int_not_equal(store_machine_insert(ro, &m), 0);
	store_close(ro);

	snprintf(missing, sizeof(missing), "%s.missing", f->path);
	assert_int_equal(store_open(missing, true, &ro), -ENOENT);
}

static void
machine_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct machine m, got;

	machine_fill(&m, 7);
	snprintf(m.macs[1], MAC_TEXT_SIZE, "52:54:00:aa:bb:cc");
	m.mac_count = 2;
	snprintf(m.uuid, sizeof(m.uuid), "4c4c4544-0042-3510-8052-b4c04f4e3632");
	snprintf(m.ip, sizeof(m.ip), "10.0.0.7");
	m.inventory = strdup("{\"cpus\":4}");
	assert_non_null(m.inventory);

	assert_int_equal(store_machine_insert(f->st, &m), 0);
	assert_true(m.id > 0);
	assert_true(m.created_at > 0);
	assert_int_equal(m.updated_at, m.created_at);

	assert_int_equal(store_machine_get(f->st, m.id, &got), 0);
	assert_int_equal(got.id, m.id);
	assert_int_equal(got.mac_count, 2);
	assert_string_equal(got.macs[0], "52:54:00:00:00:07");
	assert_string_equal(got.macs[1], "52:54:00:aa:bb:cc");
	assert_string_equal(got.uuid, m.uuid);
	assert_string_equal(got.serial, "SN7");
	assert_string_equal(got.vendor, "QEMU");
	assert_string_equal(got.arch, "x86_64");
	assert_string_equal(got.platform, "efi");
	assert_int_equal(got.state, MACHINE_READY);
	assert_int_equal(got.profile_id, 0);
	assert_string_equal(got.ip, "10.0.0.7");
	assert_string_equal(got.hostname, "node7");
	assert_string_equal(got.inventory, "{\"cpus\":4}");
	assert_int_equal(got.created_at, m.created_at);
	machine_clear(&got);

	/* Any of the machine's MACs finds it. */
	assert_int_equal(store_machine_get_by_mac(f->st, "52:54:00:aa:bb:cc", &got), 0);
	assert_int_equal(got.id, m.id);
	machine_clear(&got);

	/* Update replaces the columns and the MAC list. */
	snprintf(m.macs[0], MAC_TEXT_SIZE, "52:54:00:dd:ee:ff");
	m.mac_count = 1;
	m.state = MACHINE_DEPLOYING;
	m.ip[0] = '\0';
	snprintf(m.hostname, sizeof(m.hostname), "web7");
	free(m.inventory);
	m.inventory = NULL;
	assert_int_equal(store_machine_update(f->st, &m), 0);

	assert_int_equal(store_machine_get(f->st, m.id, &got), 0);
	assert_int_equal(got.mac_count, 1);
	assert_string_equal(got.macs[0], "52:54:00:dd:ee:ff");
	assert_int_equal(got.state, MACHINE_DEPLOYING);
	assert_string_equal(got.ip, "");
	assert_string_equal(got.hostname, "web7");
	assert_null(got.inventory);
	machine_clear(&got);
	assert_int_equal(store_machine_get_by_mac(f->st, "52:54:00:aa:bb:cc", &got), -ENOENT);

	assert_int_equal(store_machine_delete(f->st, m.id), 0);
	assert_int_equal(store_machine_get(f->st, m.id, &got), -ENOENT);
	assert_int_equal(store_machine_get_by_mac(f->st, "52:54:00:dd:ee:ff", &got), -ENOENT);
	assert_int_equal(store_machine_delete(f->st, m.id), -ENOENT);
	assert_int_equal(store_machine_update(f->st, &m), -ENOENT);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM machine_macs"), 0);
}

static void
machine_state_names(void **state)
{
	(void)state;
	for (int s = 0; s < MACHINE_STATE_MAX; s++)
		assert_int_equal(machine_state_parse(machine_state_name((enum machine_state)s)), s);
	assert_string_equal(machine_state_name(MACHINE_DECOMMISSIONING), "decommissioning");
	assert_string_equal(machine_state_name(MACHINE_STATE_INVALID), "invalid");
	assert_int_equal(machine_state_parse("Ready"), MACHINE_STATE_INVALID);
}

struct duplicate_case {
	const char *name;
	void (*change)(struct machine *m);
	const char *value;                  /* how the message names the value */
};

static void
same_mac(struct machine *m)
{
	snprintf(m->macs[1], MAC_TEXT_SIZE, "52:54:00:12:34:56");
	m->mac_count = 2;
}

static void
same_hostname_other_case(struct machine *m)
{
	snprintf(m->hostname, sizeof(m->hostname), "WEB1");
}

static void
same_ip(struct machine *m)
{
	snprintf(m->ip, sizeof(m->ip), "10.0.0.5");
}

static const struct duplicate_case duplicate_cases[] = {
	{ "mac", same_mac, "MAC 52:54:00:12:34:56" },
	{ "hostname", same_hostname_other_case, "hostname \"WEB1\"" },
	{ "ip", same_ip, "IP 10.0.0.5" },
};

static void
machine_duplicates(void **state)
{
	struct fixture *f = *state;
	struct machine owner, other, got;
	char expected[256];
	int64_t count;

	machine_fill(&owner, 1);
	snprintf(owner.macs[0], MAC_TEXT_SIZE, "52:54:00:12:34:56");
	snprintf(owner.hostname, sizeof(owner.hostname), "web1");
	snprintf(owner.uuid, sizeof(owner.uuid), "4c4c4544-0042-3510-8052-b4c04f4e3632");
	snprintf(owner.ip, sizeof(owner.ip), "10.0.0.5");
	assert_int_equal(store_machine_insert(f->st, &owner), 0);

	/* A second machine with none of those values, for the update cases. */
	machine_fill(&other, 2);
	assert_int_equal(store_machine_insert(f->st, &other), 0);

	for (size_t i = 0; i < sizeof(duplicate_cases) / sizeof(duplicate_cases[0]); i++) {
		const struct duplicate_case *c = &duplicate_cases[i];
		struct machine m;

		snprintf(expected, sizeof(expected), "%s already belongs to machine %lld", c->value,
			 (long long)owner.id);

		machine_fill(&m, 100 + (unsigned int)i);
		c->change(&m);
		assert_int_equal(store_machine_insert(f->st, &m), -EEXIST);
		assert_string_equal(store_error(f->st), expected);

		m = other;
		c->change(&m);
		assert_int_equal(store_machine_update(f->st, &m), -EEXIST);
		assert_string_equal(store_error(f->st), expected);
	}

	/* Failed inserts and updates left nothing behind. */
	assert_int_equal(store_machine_count(f->st, NULL, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM machine_macs"), 2);
	assert_int_equal(store_machine_get(f->st, other.id, &got), 0);
	assert_string_equal(got.hostname, "node2");
	assert_string_equal(got.macs[0], other.macs[0]);
	machine_clear(&got);

	/* Empty unique values never collide. */
	machine_fill(&other, 3);
	other.hostname[0] = '\0';
	assert_int_equal(store_machine_insert(f->st, &other), 0);
	machine_fill(&other, 4);
	other.hostname[0] = '\0';
	assert_int_equal(store_machine_insert(f->st, &other), 0);
}

/* Servers whose firmware reports one placeholder UUID are still separate machines. */
static void
machine_uuid_shared(void **state)
{
	struct fixture *f = *state;
	struct machine first, second, got;

	machine_fill(&first, 1);
	snprintf(first.uuid, sizeof(first.uuid), "4c4c4544-0042-3510-8052-b4c04f4e3632");
	assert_int_equal(store_machine_insert(f->st, &first), 0);

	machine_fill(&second, 2);
	snprintf(second.uuid, sizeof(second.uuid), "4c4c4544-0042-3510-8052-b4c04f4e3632");
	assert_int_equal(store_machine_insert(f->st, &second), 0);
	assert_int_not_equal(second.id, first.id);

	/* An update to a UUID another machine has is no conflict either. */
	machine_fill(&second, 3);
	assert_int_equal(store_machine_insert(f->st, &second), 0);
	snprintf(second.uuid, sizeof(second.uuid), "4c4c4544-0042-3510-8052-b4c04f4e3632");
	assert_int_equal(store_machine_update(f->st, &second), 0);
	assert_int_equal(store_machine_get(f->st, second.id, &got), 0);
	assert_string_equal(got.uuid, "4c4c4544-0042-3510-8052-b4c04f4e3632");
	machine_clear(&got);

	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM machines"
				 " WHERE uuid = '4c4c4544-0042-3510-8052-b4c04f4e3632'"), 3);
}

static void
machine_invalid_input(void **state)
{
	struct fixture *f = *state;
	struct machine m;

	machine_fill(&m, 1);
	snprintf(m.macs[0], MAC_TEXT_SIZE, "52:54:00:AB:CD:EF");
	assert_int_equal(store_machine_insert(f->st, &m), -EINVAL);

	/* Multicast, broadcast and all-zero MACs are no NIC's own address. */
	machine_fill(&m, 1);
	snprintf(m.macs[0], MAC_TEXT_SIZE, "01:00:5e:00:00:01");
	assert_int_equal(store_machine_insert(f->st, &m), -EINVAL);
	assert_string_equal(store_error(f->st),
			    "MAC \"01:00:5e:00:00:01\" is not a unicast MAC in canonical form");
	snprintf(m.macs[0], MAC_TEXT_SIZE, "ff:ff:ff:ff:ff:ff");
	assert_int_equal(store_machine_insert(f->st, &m), -EINVAL);
	snprintf(m.macs[0], MAC_TEXT_SIZE, "00:00:00:00:00:00");
	assert_int_equal(store_machine_insert(f->st, &m), -EINVAL);

	machine_fill(&m, 1);
	snprintf(m.macs[1], MAC_TEXT_SIZE, "%s", m.macs[0]);
	m.mac_count = 2;
	assert_int_equal(store_machine_insert(f->st, &m), -EINVAL);
	assert_string_equal(store_error(f->st), "MAC 52:54:00:00:00:01 is listed twice");

	machine_fill(&m, 1);
	m.mac_count = MACHINE_MAX_MACS + 1;
	assert_int_equal(store_machine_insert(f->st, &m), -EINVAL);

	machine_fill(&m, 1);
	m.state = MACHINE_STATE_MAX;
	assert_int_equal(store_machine_insert(f->st, &m), -EINVAL);

	machine_fill(&m, 1);
	memset(m.serial, 'x', sizeof(m.serial));
	assert_int_equal(store_machine_insert(f->st, &m), -EINVAL);

	machine_fill(&m, 1);
	m.inventory = strdup("{not json");
	assert_non_null(m.inventory);
	assert_int_equal(store_machine_insert(f->st, &m), -EINVAL);
	machine_clear(&m);

	machine_fill(&m, 1);
	m.profile_id = 42;
	assert_int_equal(store_machine_insert(f->st, &m), -ENOENT);
	assert_string_equal(store_error(f->st), "profile 42 not found");

	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM machines"), 0);
}

struct collect {
	int64_t ids[64];
	size_t count;
	int stop_after;                     /* stop with 7 after this many rows; 0: never */
};

static int
collect_machine(const struct machine *m, void *arg)
{
	struct collect *c = arg;

	assert_true(c->count < 64);
	c->ids[c->count++] = m->id;
	if (c->stop_after > 0 && c->count == (size_t)c->stop_after)
		return 7;
	return 0;
}

/* Run a filter and return how many rows it listed. */
static size_t
list_count(struct store *st, const struct machine_filter *filter)
{
	struct collect c = { 0 };

	assert_int_equal(store_machine_list(st, filter, collect_machine, &c), 0);
	return c.count;
}

static void
machine_list_filters(void **state)
{
	struct fixture *f = *state;
	static const size_t expected_pages[] = { 10, 10, 5, 0 };
	struct machine_filter filter = { .state = MACHINE_STATE_INVALID };
	struct profile p;
	struct machine m;
	struct collect c;
	int64_t ids[25], count;

	profile_fill(&p, "debian-12");
	assert_int_equal(store_profile_insert(f->st, &p), 0);

	/* 25 machines: every third deployed, every fifth with the profile. */
	for (unsigned int i = 0; i < 25; i++) {
		machine_fill(&m, i);
		m.state = i % 3 == 0 ? MACHINE_DEPLOYED : MACHINE_READY;
		m.profile_id = i % 5 == 0 ? p.id : 0;
		assert_int_equal(store_machine_insert(f->st, &m), 0);
		ids[i] = m.id;
	}

	/* Pages of 10 walk all 25 rows in id order, then an empty page. */
	filter.limit = 10;
	for (size_t page = 0, seen = 0; page < 4; page++) {
		memset(&c, 0, sizeof(c));
		assert_int_equal(store_machine_list(f->st, &filter, collect_machine, &c), 0);
		assert_int_equal(c.count, expected_pages[page]);
		for (size_t i = 0; i < c.count; i++)
			assert_int_equal(c.ids[i], ids[seen + i]);
		seen += c.count;
		if (c.count > 0)
			filter.after_id = c.ids[c.count - 1];
	}

	filter.after_id = 0;
	filter.limit = 0;
	assert_int_equal(list_count(f->st, &filter), 25);

	filter.state = MACHINE_DEPLOYED;
	assert_int_equal(list_count(f->st, &filter), 9);
	assert_int_equal(store_machine_count(f->st, &filter, &count), 0);
	assert_int_equal(count, 9);

	/* Paging with a filter: the first page of deployed machines, then the rest. */
	filter.limit = 4;
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_machine_list(f->st, &filter, collect_machine, &c), 0);
	assert_int_equal(c.count, 4);
	assert_int_equal(c.ids[3], ids[9]);
	filter.after_id = c.ids[3];
	filter.limit = 0;
	assert_int_equal(list_count(f->st, &filter), 5);
	/* Counting ignores the paging cursor. */
	assert_int_equal(store_machine_count(f->st, &filter, &count), 0);
	assert_int_equal(count, 9);

	filter = (struct machine_filter){ .state = MACHINE_STATE_INVALID, .profile_id = p.id };
	assert_int_equal(list_count(f->st, &filter), 5);
	filter.state = MACHINE_DEPLOYED;
	assert_int_equal(list_count(f->st, &filter), 2);     /* 0 and 15 */
	assert_int_equal(store_machine_count(f->st, &filter, &count), 0);
	assert_int_equal(count, 2);

	filter = (struct machine_filter){ .state = MACHINE_STATE_INVALID, .mac = "52:54:00:00:00:0c" };
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_machine_list(f->st, &filter, collect_machine, &c), 0);
	assert_int_equal(c.count, 1);
	assert_int_equal(c.ids[0], ids[12]);

	filter = (struct machine_filter){ .state = MACHINE_STATE_INVALID, .hostname = "NODE13" };
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_machine_list(f->st, &filter, collect_machine, &c), 0);
	assert_int_equal(c.count, 1);
	assert_int_equal(c.ids[0], ids[13]);

	filter.state = MACHINE_DEPLOYED;                     /* node13 is ready */
	assert_int_equal(list_count(f->st, &filter), 0);

	assert_int_equal(store_machine_count(f->st, NULL, &count), 0);
	assert_int_equal(count, 25);

	/* A callback's nonzero value stops the walk and comes back to the caller. */
	memset(&c, 0, sizeof(c));
	c.stop_after = 3;
	assert_int_equal(store_machine_list(f->st, NULL, collect_machine, &c), 7);
	assert_int_equal(c.count, 3);

	filter = (struct machine_filter){ .state = (enum machine_state)42 };
	assert_int_equal(store_machine_list(f->st, &filter, collect_machine, &c), -EINVAL);
}

struct nested {
	struct store *st;
	size_t outer;
	size_t inner;
};

static int
count_inner(const struct machine *m, void *arg)
{
	struct nested *n = arg;

	(void)m;
	n->inner++;
	return 0;
}

/* Lists again from inside the callback, which uses the same cached statement. */
static int
list_nested(const struct machine *m, void *arg)
{
	struct nested *n = arg;
	struct machine got;

	n->outer++;
	assert_int_equal(store_machine_get(n->st, m->id, &got), 0);
	assert_int_equal(got.id, m->id);
	machine_clear(&got);
	assert_int_equal(store_machine_list(n->st, NULL, count_inner, n), 0);
	return 0;
}

static void
machine_list_reentrant(void **state)
{
	struct fixture *f = *state;
	struct nested n = { .st = f->st };
	struct machine m;

	for (unsigned int i = 0; i < 3; i++) {
		machine_fill(&m, i);
		assert_int_equal(store_machine_insert(f->st, &m), 0);
	}

	assert_int_equal(store_machine_list(f->st, NULL, list_nested, &n), 0);
	assert_int_equal(n.outer, 3);
	assert_int_equal(n.inner, 9);
}

/* The detail column of every row of EXPLAIN QUERY PLAN, joined by "; ". */
static void
raw_plan(const char *path, const char *sql, char *out, size_t size)
{
	char query[1024];
	size_t len = 0;
	sqlite3_stmt *stmt;
	sqlite3 *db;

	snprintf(query, sizeof(query), "EXPLAIN QUERY PLAN %s", sql);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, query, -1, &stmt, NULL), SQLITE_OK);
	out[0] = '\0';
	while (sqlite3_step(stmt) == SQLITE_ROW && len < size)
		len += (size_t)snprintf(out + len, size - len, "%s; ",
					(const char *)sqlite3_column_text(stmt, 3));
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

/* The schema gives each hot lookup an index search, never a table scan. */
static void
lookups_use_indexes(void **state)
{
	struct fixture *f = *state;
	char plan[512];

	/* The shape of store_machine_get_by_mac: the MAC's row, then the machine's MACs. */
	raw_plan(f->path, "SELECT id, (SELECT group_concat(position || '=' || mac, ',')"
		 " FROM machine_macs WHERE machine_id = machines.id) FROM machines"
		 " WHERE id = (SELECT machine_id FROM machine_macs WHERE mac = 'x')",
		 plan, sizeof(plan));
	assert_non_null(strstr(plan, "SEARCH machine_macs USING PRIMARY KEY (mac=?)"));
	assert_non_null(strstr(plan, "SEARCH machines USING INTEGER PRIMARY KEY (rowid=?)"));
	assert_non_null(strstr(plan, "USING COVERING INDEX machine_macs_machine (machine_id=?)"));
	assert_null(strstr(plan, "SCAN"));

	raw_plan(f->path, "SELECT id FROM machines WHERE id > 0 AND state = 'ready'"
		 " ORDER BY id LIMIT 10", plan, sizeof(plan));
	assert_non_null(strstr(plan, "INDEX machines_state (state=? AND rowid>?)"));

	raw_plan(f->path, "SELECT id FROM machines WHERE id > 0 AND profile_id = 3"
		 " ORDER BY id LIMIT 10", plan, sizeof(plan));
	assert_non_null(strstr(plan, "INDEX machines_profile (profile_id=? AND rowid>?)"));

	raw_plan(f->path, "SELECT id FROM machines WHERE hostname = 'WEB1'", plan, sizeof(plan));
	assert_non_null(strstr(plan, "INDEX machines_hostname (hostname=?)"));
}

/*
 * 10,000 machines and 50,000 lookups by MAC. A table scan per lookup would visit
 * 500 million rows and take minutes; index searches take well under a second.
 */
static void
mac_lookup_at_scale(void **state)
{
	struct fixture *f = *state;
	struct timespec start, end;
	struct machine m, got;
	double seconds;

	assert_int_equal(store_begin(f->st), 0);
	for (unsigned int i = 0; i < 10000; i++) {
		machine_fill(&m, i);
		assert_int_equal(store_machine_insert(f->st, &m), 0);
	}
	assert_int_equal(store_commit(f->st), 0);

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned int i = 0; i < 50000; i++) {
		unsigned int n = (i * 7919u) % 10000u;

		machine_fill(&m, n);
		assert_int_equal(store_machine_get_by_mac(f->st, m.macs[0], &got), 0);
		assert_string_equal(got.hostname, m.hostname);
		machine_clear(&got);
	}
	clock_gettime(CLOCK_MONOTONIC, &end);

	seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
	print_message("50000 lookups by MAC among 10000 machines: %.3f s\n", seconds);
	assert_true(seconds < 20.0);
}

static void
transactions(void **state)
{
	struct fixture *f = *state;
	struct machine m, dup;
	int64_t count;

	assert_int_equal(store_commit(f->st), -EINVAL);
	store_rollback(f->st);

	/* Rolled back: gone. */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_begin(f->st), -EINVAL);
	machine_fill(&m, 1);
	assert_int_equal(store_machine_insert(f->st, &m), 0);
	store_rollback(f->st);
	assert_int_equal(store_machine_count(f->st, NULL, &count), 0);
	assert_int_equal(count, 0);

	/* A failed call inside a transaction undoes only its own writes. */
	assert_int_equal(store_begin(f->st), 0);
	machine_fill(&m, 1);
	assert_int_equal(store_machine_insert(f->st, &m), 0);
	machine_fill(&dup, 2);
	snprintf(dup.macs[1], MAC_TEXT_SIZE, "%s", m.macs[0]);
	dup.mac_count = 2;
	assert_int_equal(store_machine_insert(f->st, &dup), -EEXIST);
	assert_int_equal(store_commit(f->st), 0);

	assert_int_equal(store_machine_count(f->st, NULL, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM machine_macs"), 1);
}

static void
busy_times_out(void **state)
{
	struct fixture *f = *state;
	struct timespec start, end;
	sqlite3 *db;

	/* Another connection holds the write lock for longer than the timeout. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int_equal(store_begin(f->st), -EBUSY);
	clock_gettime(CLOCK_MONOTONIC, &end);
	assert_true(end.tv_sec - start.tv_sec >= STORE_BUSY_TIMEOUT_MS / 1000 - 1);

	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	assert_int_equal(store_begin(f->st), 0);
	store_rollback(f->st);
}

/*
 * A VFS that forwards to the default one but fails every write with SQLITE_FULL
 * while disk_full is set, the code SQLite returns when write() reports ENOSPC.
 */
static sqlite3_vfs *real_vfs;
static sqlite3_vfs full_vfs;
static sqlite3_io_methods full_io;
static int disk_full;

struct full_file {
	sqlite3_file base;
	sqlite3_file *real;                 /* real_vfs's file, allocated right after this */
};

#define REAL(file) (((struct full_file *)(file))->real)

static int
full_close(sqlite3_file *file)
{
	return REAL(file)->pMethods->xClose(REAL(file));
}

static int
full_read(sqlite3_file *file, void *buf, int amount, sqlite3_int64 offset)
{
	return REAL(file)->pMethods->xRead(REAL(file), buf, amount, offset);
}

static int
full_write(sqlite3_file *file, const void *buf, int amount, sqlite3_int64 offset)
{
	if (disk_full)
		return SQLITE_FULL;
	return REAL(file)->pMethods->xWrite(REAL(file), buf, amount, offset);
}

static int
full_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	return REAL(file)->pMethods->xTruncate(REAL(file), size);
}

static int
full_sync(sqlite3_file *file, int flags)
{
	return REAL(file)->pMethods->xSync(REAL(file), flags);
}

static int
full_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	return REAL(file)->pMethods->xFileSize(REAL(file), size);
}

static int
full_lock(sqlite3_file *file, int lock)
{
	return REAL(file)->pMethods->xLock(REAL(file), lock);
}

static int
full_unlock(sqlite3_file *file, int lock)
{
	return REAL(file)->pMethods->xUnlock(REAL(file), lock);
}

static int
full_check_reserved(sqlite3_file *file, int *out)
{
	return REAL(file)->pMethods->xCheckReservedLock(REAL(file), out);
}

static int
full_file_control(sqlite3_file *file, int op, void *arg)
{
	return REAL(file)->pMethods->xFileControl(REAL(file), op, arg);
}

static int
full_sector_size(sqlite3_file *file)
{
	return REAL(file)->pMethods->xSectorSize(REAL(file));
}

static int
full_device_characteristics(sqlite3_file *file)
{
	return REAL(file)->pMethods->xDeviceCharacteristics(REAL(file));
}

static int
full_shm_map(sqlite3_file *file, int region, int size, int extend, void volatile **out)
{
	return REAL(file)->pMethods->xShmMap(REAL(file), region, size, extend, out);
}

static int
full_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	return REAL(file)->pMethods->xShmLock(REAL(file), offset, n, flags);
}

static void
full_shm_barrier(sqlite3_file *file)
{
	REAL(file)->pMethods->xShmBarrier(REAL(file));
}

static int
full_shm_unmap(sqlite3_file *file, int delete_flag)
{
	return REAL(file)->pMethods->xShmUnmap(REAL(file), delete_flag);
}

static int
full_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
	struct full_file *ff = (struct full_file *)file;
	int rc;

	(void)vfs;
	ff->real = (sqlite3_file *)(ff + 1);
	rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
	ff->base.pMethods = rc == SQLITE_OK && ff->real->pMethods ? &full_io : NULL;
	return rc;
}

static void
full_vfs_register(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	full_vfs = *real_vfs;
	full_vfs.zName = "outpost-test-full";
	full_vfs.szOsFile = (int)sizeof(struct full_file) + real_vfs->szOsFile;
	full_vfs.xOpen = full_open;

	/* Version 2 methods: no memory-mapped I/O, which the store does not turn on. */
	full_io = (sqlite3_io_methods){
		.iVersion = 2,
		.xClose = full_close,
		.xRead = full_read,
		.xWrite = full_write,
		.xTruncate = full_truncate,
		.xSync = full_sync,
		.xFileSize = full_file_size,
		.xLock = full_lock,
		.xUnlock = full_unlock,
		.xCheckReservedLock = full_check_reserved,
		.xFileControl = full_file_control,
		.xSectorSize = full_sector_size,
		.xDeviceCharacteristics = full_device_characteristics,
		.xShmMap = full_shm_map,
		.xShmLock = full_shm_lock,
		.xShmBarrier = full_shm_barrier,
		.xShmUnmap = full_shm_unmap,
	};
	assert_int_equal(sqlite3_vfs_register(&full_vfs, 1), SQLITE_OK);
}

static void
disk_full_is_enospc(void **state)
{
	struct fixture *f = *state;
	struct machine m;
	char text[64];
	int64_t count = -1;

	/* Reopen through the failing VFS, now the default. */
	f->st = store_close(f->st);
	full_vfs_register();
	assert_int_equal(store_open(f->path, false, &f->st), 0);

	machine_fill(&m, 1);
	assert_int_equal(store_machine_insert(f->st, &m), 0);

	disk_full = 1;
	machine_fill(&m, 2);
	assert_int_equal(store_machine_insert(f->st, &m), -ENOSPC);
	assert_non_null(strstr(store_error(f->st), "database or disk is full"));

	/* Inside the caller's transaction the failure comes at commit. */
	disk_full = 0;
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_machine_insert(f->st, &m), 0);
	disk_full = 1;
	assert_int_equal(store_commit(f->st), -ENOSPC);
	store_rollback(f->st);
	disk_full = 0;

	/* Both failed writes were rolled back and the connection works on. */
	assert_int_equal(store_machine_count(f->st, NULL, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(store_machine_insert(f->st, &m), 0);

	f->st = store_close(f->st);
	assert_int_equal(sqlite3_vfs_unregister(&full_vfs), SQLITE_OK);
	raw_query(f->path, "PRAGMA integrity_check", text, sizeof(text));
	assert_string_equal(text, "ok");
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM machines"), 2);
	assert_int_equal(store_open(f->path, false, &f->st), 0);
}

static int
collect_profile(const struct profile *p, void *arg)
{
	struct collect *c = arg;

	c->ids[c->count++] = p->id;
	return 0;
}

static void
profile_crud(void **state)
{
	struct fixture *f = *state;
	struct profile p, other, got;
	struct collect c = { 0 };
	struct machine m;
	char expected[128];

	profile_fill(&p, "debian-12");
	p.templates = strdup("{\"user-data\":\"#cloud-config\\n\"}");
	assert_non_null(p.templates);
	assert_int_equal(store_profile_insert(f->st, &p), 0);
	assert_true(p.id > 0);

	profile_fill(&other, "debian-12");
	assert_int_equal(store_profile_insert(f->st, &other), -EEXIST);
	snprintf(expected, sizeof(expected), "profile name \"debian-12\" already belongs to profile %lld",
		 (long long)p.id);
	assert_string_equal(store_error(f->st), expected);

	profile_fill(&other, "rocky-9");
	assert_int_equal(store_profile_insert(f->st, &other), 0);

	assert_int_equal(store_profile_get_by_name(f->st, "debian-12", &got), 0);
	assert_int_equal(got.id, p.id);
	assert_string_equal(got.kernel, "ramdisk/vmlinuz");
	assert_string_equal(got.cmdline, "console=ttyS0");
	assert_string_equal(got.templates, p.templates);
	profile_clear(&got);
	assert_int_equal(store_profile_get_by_name(f->st, "ubuntu", &got), -ENOENT);

	snprintf(p.cmdline, sizeof(p.cmdline), "console=ttyS1 quiet");
	assert_int_equal(store_profile_update(f->st, &p), 0);
	assert_int_equal(store_profile_get(f->st, p.id, &got), 0);
	assert_string_equal(got.cmdline, "console=ttyS1 quiet");
	profile_clear(&got);

	/* Renaming onto another profile's name is a conflict naming that profile. */
	snprintf(p.name, sizeof(p.name), "rocky-9");
	assert_int_equal(store_profile_update(f->st, &p), -EEXIST);
	snprintf(expected, sizeof(expected), "profile name \"rocky-9\" already belongs to profile %lld",
		 (long long)other.id);
	assert_string_equal(store_error(f->st), expected);
	snprintf(p.name, sizeof(p.name), "debian-12");

	assert_int_equal(store_profile_list(f->st, collect_profile, &c), 0);
	assert_int_equal(c.count, 2);
	assert_int_equal(c.ids[0], p.id);
	assert_int_equal(c.ids[1], other.id);

	/* In use: refused until the machine lets go of it. */
	machine_fill(&m, 1);
	m.profile_id = p.id;
	assert_int_equal(store_machine_insert(f->st, &m), 0);
	assert_int_equal(store_profile_delete(f->st, p.id), -EBUSY);
	snprintf(expected, sizeof(expected), "profile %lld is used by 1 machine", (long long)p.id);
	assert_string_equal(store_error(f->st), expected);

	m.profile_id = 0;
	assert_int_equal(store_machine_update(f->st, &m), 0);
	assert_int_equal(store_profile_delete(f->st, p.id), 0);
	assert_int_equal(store_profile_get(f->st, p.id, &got), -ENOENT);
	assert_int_equal(store_profile_delete(f->st, p.id), -ENOENT);

	p.id = 9999;
	assert_int_equal(store_profile_update(f->st, &p), -ENOENT);
	profile_clear(&p);

	profile_fill(&p, "");
	assert_int_equal(store_profile_insert(f->st, &p), -EINVAL);
}

static int
collect_artifact(const struct artifact *a, void *arg)
{
	struct collect *c = arg;

	c->ids[c->count++] = a->id;
	return 0;
}

static int
collect_bundle(const struct bundle_info *b, void *arg)
{
	struct collect *c = arg;

	c->ids[c->count++] = b->id;
	return 0;
}

static int
count_blob(const char *sha256, uint64_t size, void *arg)
{
	(void)sha256;
	(void)size;
	(*(int *)arg)++;
	return 0;
}

/* A bundle with a kernel and an initrd whose hashes are made of `k` and `i`. */
static void
bundle_fill(struct bundle_info *b, struct artifact files[2], const char *version, char k,
	    char i)
{
	memset(b, 0, sizeof(*b));
	memset(files, 0, 2 * sizeof(*files));
	snprintf(b->name, sizeof(b->name), "debian-12");
	snprintf(b->version, sizeof(b->version), "%s", version);
	snprintf(b->kind, sizeof(b->kind), "os");
	memset(b->key_id, 'c', sizeof(b->key_id) - 1);
	memset(b->manifest_sha256, 'd', SHA256_HEX_SIZE - 1);
	b->size = 5368709120ULL + 10;
	snprintf(files[0].path, sizeof(files[0].path), "vmlinuz");
	snprintf(files[0].role, sizeof(files[0].role), "kernel");
	memset(files[0].sha256, k, SHA256_HEX_SIZE - 1);
	files[0].size = 10;
	files[0].metadata = (char *)"{\"os\":\"debian\"}";
	snprintf(files[1].path, sizeof(files[1].path), "images/disk.raw.zst");
	snprintf(files[1].role, sizeof(files[1].role), "disk-image");
	memset(files[1].sha256, i, SHA256_HEX_SIZE - 1);
	files[1].size = 5368709120ULL;
}

static void
bundles_and_artifacts(void **state)
{
	struct fixture *f = *state;
	struct bundle_info a, b, got;
	struct artifact fa[2], fb[2], art;
	struct collect c = { 0 };
	struct profile p;
	char owner[STORE_NAME_SIZE], sha[SHA256_HEX_SIZE];
	int64_t users;
	int blobs = 0;

	bundle_fill(&a, fa, "12.8.0", 'a', 'b');
	assert_int_equal(store_bundle_insert(f->st, &a, "{}", fa, 2), 0);
	assert_true(fa[0].bundle_id == a.id && fa[1].id > fa[0].id);
	/* The second version shares the kernel's bytes. */
	bundle_fill(&b, fb, "12.9.0", 'a', 'e');
	assert_int_equal(store_bundle_insert(f->st, &b, "{}", fb, 2), 0);
	bundle_fill(&got, fb, "12.9.0", 'a', 'e');
	assert_int_equal(store_bundle_insert(f->st, &got, "{}", fb, 2), -EEXIST);
	assert_string_equal(store_error(f->st), "bundle debian-12 version 12.9.0 is already loaded");

	assert_int_equal(store_bundle_get(f->st, "debian-12", "12.8.0", &got), 0);
	assert_int_equal(got.id, a.id);
	assert_int_equal(got.file_count, 2);
	assert_true(got.size == 5368709120ULL + 10);
	assert_string_equal(got.kind, "os");
	assert_int_equal(store_bundle_get(f->st, "debian-12", "1", &got), -ENOENT);
	assert_int_equal(store_bundle_list(f->st, "debian-12", collect_bundle, &c), 0);
	assert_int_equal(c.count, 2);

	c.count = 0;
	assert_int_equal(store_artifact_list(f->st, a.id, collect_artifact, &c), 0);
	assert_int_equal(c.count, 2);
	assert_int_equal(store_artifact_find(f->st, "debian-12", "12.8.0", "vmlinuz", &art), 0);
	assert_string_equal(art.role, "kernel");
	assert_string_equal(art.bundle, "debian-12");
	assert_string_equal(art.metadata, "{\"os\":\"debian\"}");
	artifact_clear(&art);
	/* By role, when the bundle has one file of that role. */
	assert_int_equal(store_artifact_find(f->st, "debian-12", "12.8.0", "disk-image", &art), 0);
	assert_string_equal(art.path, "images/disk.raw.zst");
	artifact_clear(&art);
	assert_int_equal(store_artifact_find(f->st, "debian-12", "12.8.0", "initrd", &art),
			 -ENOENT);

	memset(sha, 'a', SHA256_HEX_SIZE - 1);
	sha[SHA256_HEX_SIZE - 1] = '\0';
	assert_int_equal(store_blob_users(f->st, sha, &users), 0);
	assert_int_equal(users, 2);
	assert_int_equal(store_blob_list(f->st, count_blob, &blobs), 0);
	assert_int_equal(blobs, 3);

	/* A profile naming an artifact keeps its bundle in use. */
	profile_fill(&p, "web");
	snprintf(p.kernel, sizeof(p.kernel), "debian-12/12.8.0/vmlinuz");
	assert_int_equal(store_profile_insert(f->st, &p), 0);
	assert_int_equal(store_bundle_user(f->st, a.id, owner, sizeof(owner)), 0);
	assert_string_equal(owner, "web");
	assert_int_equal(store_bundle_user(f->st, b.id, owner, sizeof(owner)), -ENOENT);
	profile_clear(&p);

	assert_int_equal(store_bundle_delete(f->st, a.id), 0);
	assert_int_equal(store_bundle_delete(f->st, a.id), -ENOENT);
	assert_int_equal(store_artifact_get(f->st, fa[0].id, &art), -ENOENT);
	assert_int_equal(store_blob_users(f->st, sha, &users), 0);
	assert_int_equal(users, 1);

	bundle_fill(&got, fb, "13", 'a', 'e');
	fb[1].sha256[3] = 'G';
	assert_int_equal(store_bundle_insert(f->st, &got, "{}", fb, 2), -EINVAL);
	assert_int_equal(store_bundle_get(f->st, "debian-12", "13", &got), -ENOENT);
}

static void
events_trim(void **state)
{
	struct fixture *f = *state;
	int64_t id = 0, last = 0;

	for (int i = 0; i < 10; i++) {
		assert_int_equal(store_event_append(f->st, "machine.discovered", "machine:1",
						    "{\"n\":1}", &id), 0);
		assert_true(id > last);
		last = id;
	}
	assert_int_equal(store_event_append(f->st, "", NULL, NULL, &id), -EINVAL);
	assert_int_equal(store_event_append(f->st, "x", NULL, "{bad", &id), -EINVAL);

	assert_int_equal(store_event_trim(f->st, 3), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM events"), 3);
	assert_int_equal(raw_int(f->path, "SELECT min(id) FROM events"), last - 2);
	assert_int_equal(raw_int(f->path, "SELECT max(id) FROM events"), last);

	/* Keeping more than there are deletes nothing. */
	assert_int_equal(store_event_trim(f->st, 100), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM events"), 3);

	assert_int_equal(store_event_trim(f->st, 0), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM events"), 0);
	assert_int_equal(store_event_trim(f->st, -1), -EINVAL);

	/* Ids keep growing after a trim, so event cursors stay valid. */
	assert_int_equal(store_event_append(f->st, "machine.deployed", NULL, NULL, &id), 0);
	assert_true(id > last);
}

static void
audit_tail_and_append(void **state)
{
	struct fixture *f = *state;
	char hash[SHA256_HEX_SIZE];
	struct audit_entry e = { 0 };
	int64_t seq = -1;
	sqlite3 *db;

	assert_int_equal(store_audit_tail(f->st, &seq, hash), 0);
	assert_int_equal(seq, 0);
	assert_string_equal(hash, "0000000000000000000000000000000000000000000000000000000000000000");

	e.seq = 1;
	e.actor = strdup("token:admin");
	e.action = strdup("machine.create");
	e.target = strdup("machine:1");
	e.risk = strdup("change");
	e.outcome = strdup("ok");
	memcpy(e.prev_hash, hash, sizeof(hash));
	memset(e.hash, 'b', SHA256_HEX_SIZE - 1);

	/* Only inside a transaction. */
	assert_int_equal(store_audit_append(f->st, &e), -EINVAL);

	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_audit_append(f->st, &e), 0);
	assert_int_equal(store_audit_append(f->st, &e), -EEXIST);
	assert_int_equal(store_commit(f->st), 0);

	assert_int_equal(store_audit_tail(f->st, &seq, hash), 0);
	assert_int_equal(seq, 1);
	assert_string_equal(hash, e.hash);
	audit_entry_clear(&e);

	/* The triggers reject UPDATE and DELETE on the trail from any connection. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE audit SET actor = 'x'", NULL, NULL, NULL),
			 SQLITE_CONSTRAINT);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM audit", NULL, NULL, NULL), SQLITE_CONSTRAINT);
	sqlite3_close(db);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE actor = 'token:admin'"), 1);
}

static void
tokens(void **state)
{
	struct fixture *f = *state;
	char hash[SHA256_HEX_SIZE], other[SHA256_HEX_SIZE];
	struct token t;
	int64_t id = 0, count = -1;
	char expected[128];

	memset(hash, 'c', SHA256_HEX_SIZE - 1);
	hash[SHA256_HEX_SIZE - 1] = '\0';
	memset(other, 'd', SHA256_HEX_SIZE - 1);
	other[SHA256_HEX_SIZE - 1] = '\0';

	assert_int_equal(store_token_count(f->st, &count), 0);
	assert_int_equal(count, 0);

	assert_int_equal(store_token_insert(f->st, "ci", "operator", hash, &id), 0);
	assert_true(id > 0);

	assert_int_equal(store_token_find(f->st, hash, &t), 0);
	assert_int_equal(t.id, id);
	assert_string_equal(t.name, "ci");
	assert_string_equal(t.role, "operator");
	assert_true(t.created_at > 0);
	assert_int_equal(store_token_find(f->st, other, &t), -ENOENT);

	assert_int_equal(store_token_insert(f->st, "ci", "viewer", other, NULL), -EEXIST);
	snprintf(expected, sizeof(expected), "token name \"ci\" already belongs to token %lld",
		 (long long)id);
	assert_string_equal(store_error(f->st), expected);

	assert_int_equal(store_token_insert(f->st, "ci2", "viewer", hash, NULL), -EEXIST);
	snprintf(expected, sizeof(expected), "the same token secret already belongs to token %lld",
		 (long long)id);
	assert_string_equal(store_error(f->st), expected);

	assert_int_equal(store_token_insert(f->st, "ci2", "root", other, NULL), -EINVAL);
	assert_int_equal(store_token_insert(f->st, "", "viewer", other, NULL), -EINVAL);
	other[0] = 'X';
	assert_int_equal(store_token_insert(f->st, "ci2", "viewer", other, NULL), -EINVAL);

	assert_int_equal(store_token_count(f->st, &count), 0);
	assert_int_equal(count, 1);
}

struct pool_thread {
	struct store_pool *pool;
	pthread_barrier_t *alive;           /* when set, wait here holding the connection */
	struct store *first;
	struct store *second;
	int64_t count;
	int count_err;
};

static void *
pool_thread_main(void *arg)
{
	struct pool_thread *t = arg;

	t->first = store_pool_get(t->pool);
	t->second = store_pool_get(t->pool);
	t->count_err = t->first ? store_machine_count(t->first, NULL, &t->count) : -1;
	if (t->alive)
		pthread_barrier_wait(t->alive);
	return NULL;
}

static void
pool_per_thread(void **state)
{
	struct fixture *f = *state;
	struct pool_thread a = { 0 }, b = { 0 }, c = { 0 };
	struct store_pool *pool = NULL;
	pthread_barrier_t alive;
	pthread_t ta, tb, tc;
	struct machine m;

	machine_fill(&m, 1);
	assert_int_equal(store_machine_insert(f->st, &m), 0);

	assert_int_equal(store_pool_new(f->path, &pool), 0);
	a.pool = b.pool = c.pool = pool;

	/*
	 * Two threads alive at once get two connections. The barrier keeps both alive
	 * until each has its connection, so neither can reuse the other's freed memory.
	 */
	assert_int_equal(pthread_barrier_init(&alive, NULL, 2), 0);
	a.alive = &alive;
	b.alive = &alive;
	assert_int_equal(pthread_create(&ta, NULL, pool_thread_main, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, pool_thread_main, &b), 0);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	pthread_barrier_destroy(&alive);

	assert_non_null(a.first);
	assert_non_null(b.first);
	assert_ptr_equal(a.first, a.second);
	assert_ptr_equal(b.first, b.second);
	assert_ptr_not_equal(a.first, b.first);
	assert_int_equal(a.count_err, 0);
	assert_int_equal(a.count, 1);
	assert_int_equal(b.count_err, 0);
	assert_int_equal(b.count, 1);

	/* The calling thread has its own connection too, kept until the pool is freed. */
	assert_non_null(store_pool_get(pool));
	assert_ptr_equal(store_pool_get(pool), store_pool_get(pool));

	/* A thread left running keeps its connection; store_pool_free closes it. */
	assert_int_equal(pthread_create(&tc, NULL, pool_thread_main, &c), 0);
	assert_int_equal(pthread_join(tc, NULL), 0);
	assert_non_null(c.first);

	assert_null(store_pool_free(pool));
	assert_null(store_pool_free(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(open_creates_schema, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(bmcs_round_trip, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(bmc_operations_claim_order, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(bmc_observe, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(reopen_is_idempotent, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(newer_version_rejected, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(migration_2_uuid_not_unique, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(readonly_open, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(deployments_round_trip, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(machine_roundtrip, test_setup, test_teardown),
		cmocka_unit_test(machine_state_names),
		cmocka_unit_test_setup_teardown(machine_duplicates, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(machine_uuid_shared, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(machine_invalid_input, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(machine_list_filters, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(machine_list_reentrant, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(lookups_use_indexes, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(mac_lookup_at_scale, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(transactions, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(busy_times_out, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(disk_full_is_enospc, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(profile_crud, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(bundles_and_artifacts, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(events_trim, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(audit_tail_and_append, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(tokens, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(pool_per_thread, test_setup, test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
