/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Governance tests: the action gate's transaction, the audit chain's hash and its
 * verification against entries tampered with through a raw sqlite3 connection, and a
 * crash test that SIGKILLs a writer at random moments.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "governance/governance.h"
#include "log/log.h"
#include "store/store.h"

#define GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"

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
	snprintf(test_dir, sizeof(test_dir), "%s/outpost-gov-test.XXXXXX", tmp ? tmp : "/tmp");
	return mkdtemp(test_dir) ? 0 : -1;
}

static int
remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

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
	free(f);
	return 0;
}

static void
raw_exec(const char *path, const char *sql)
{
	char *message = NULL;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK)
		fail_msg("%s: %s", sql, message);
	sqlite3_close(db);
}

static void
raw_query(const char *path, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *stmt;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
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

static void
machine_fill(struct machine *m, unsigned int n)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->macs[0], MAC_TEXT_SIZE, "52:54:00:%02x:%02x:%02x", (n >> 16) & 0xff,
		 (n >> 8) & 0xff, n & 0xff);
	m->mac_count = 1;
	m->state = MACHINE_DISCOVERED;
}

/* What the test operation does, and what it saw from inside the transaction. */
struct insert_op {
	struct machine m;
	int fail_with;                      /* fail after inserting; 0: succeed */
	const char *path;                   /* when set, look at the file from outside */
	int calls;
	int64_t seen_outside;
	int nested_begin;
};

static int
insert_machine(struct store *st, void *arg, char *err, size_t errlen)
{
	struct insert_op *op = arg;
	int rc;

	op->calls++;
	rc = store_machine_insert(st, &op->m);
	if (rc < 0) {
		snprintf(err, errlen, "%s", store_error(st));
		return rc;
	}

	if (op->path) {
		op->seen_outside = raw_int(op->path, "SELECT count(*) FROM machines");
		op->nested_begin = store_begin(st);
	}

	if (op->fail_with) {
		snprintf(err, errlen, "power controller did not answer");
		return op->fail_with;
	}
	return 0;
}

struct entries {
	struct audit_entry e[64];
	size_t count;
};

static int
collect_entry(const struct audit_entry *e, void *arg)
{
	struct entries *list = arg;
	struct audit_entry *copy = &list->e[list->count++];

	assert_true(list->count <= 64);
	*copy = *e;
	copy->actor = strdup(e->actor);
	copy->action = strdup(e->action);
	copy->target = strdup(e->target);
	copy->risk = strdup(e->risk);
	copy->outcome = strdup(e->outcome);
	copy->detail = e->detail ? strdup(e->detail) : NULL;
	return 0;
}

static void
entries_clear(struct entries *list)
{
	for (size_t i = 0; i < list->count; i++)
		audit_entry_clear(&list->e[i]);
	list->count = 0;
}

static const struct action create_action = {
	.actor = "token:admin",
	.name = "machine.create",
	.target = "machine:new",
	.risk = RISK_CHANGE,
	.detail = "{\"mac\":\"52:54:00:00:00:01\"}",
};

static void
execute_commits_change_and_entry(void **state)
{
	struct fixture *f = *state;
	struct insert_op op = { .path = f->path };
	struct entries list = { 0 };
	char hash[SHA256_HEX_SIZE];
	struct machine got;
	char err[256] = "";

	machine_fill(&op.m, 1);
	assert_int_equal(gov_execute(f->st, &create_action, insert_machine, &op, err, sizeof(err)), 0);
	assert_int_equal(op.calls, 1);

	/* Inside the gate the change was not visible to other connections yet. */
	assert_int_equal(op.seen_outside, 0);
	assert_int_equal(op.nested_begin, -EINVAL);

	assert_int_equal(store_machine_get_by_mac(f->st, op.m.macs[0], &got), 0);
	machine_clear(&got);

	assert_int_equal(store_audit_list(f->st, 0, 0, collect_entry, &list), 0);
	assert_int_equal(list.count, 1);
	assert_int_equal(list.e[0].seq, 1);
	assert_true(list.e[0].at > 0);
	assert_string_equal(list.e[0].actor, "token:admin");
	assert_string_equal(list.e[0].action, "machine.create");
	assert_string_equal(list.e[0].target, "machine:new");
	assert_string_equal(list.e[0].risk, "change");
	assert_string_equal(list.e[0].outcome, "ok");
	assert_string_equal(list.e[0].detail, create_action.detail);
	assert_string_equal(list.e[0].prev_hash, GENESIS_HASH);
	gov_audit_hash(&list.e[0], hash);
	assert_string_equal(list.e[0].hash, hash);

	/* The next entry links to this one. */
	machine_fill(&op.m, 2);
	op.path = NULL;
	assert_int_equal(gov_execute(f->st, &create_action, insert_machine, &op, err, sizeof(err)), 0);
	entries_clear(&list);
	assert_int_equal(store_audit_list(f->st, 1, 0, collect_entry, &list), 0);
	assert_int_equal(list.count, 1);
	assert_int_equal(list.e[0].seq, 2);
	assert_string_equal(list.e[0].prev_hash, hash);
	entries_clear(&list);
}

static void
execute_failure_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct insert_op op = { .fail_with = -EIO };
	struct entries list = { 0 };
	struct machine got;
	char err[256] = "", expected[128];
	int64_t count = -1;

	machine_fill(&op.m, 1);
	assert_int_equal(gov_execute(f->st, &create_action, insert_machine, &op, err, sizeof(err)),
			 -EIO);
	assert_string_equal(err, "power controller did not answer");

	/* The insert the operation made before failing is gone... */
	assert_int_equal(store_machine_count(f->st, NULL, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(store_machine_get_by_mac(f->st, op.m.macs[0], &got), -ENOENT);

	/* ...and the failure is on the record. */
	assert_int_equal(store_audit_list(f->st, 0, 0, collect_entry, &list), 0);
	assert_int_equal(list.count, 1);
	assert_string_equal(list.e[0].outcome, "failed: power controller did not answer");
	assert_string_equal(list.e[0].action, "machine.create");
	entries_clear(&list);

	/* A store error inside the operation is recorded with the store's message. */
	op.fail_with = 0;
	assert_int_equal(gov_execute(f->st, &create_action, insert_machine, &op, err, sizeof(err)), 0);
	snprintf(expected, sizeof(expected), "MAC 52:54:00:00:00:01 already belongs to machine %lld",
		 (long long)op.m.id);
	assert_int_equal(gov_execute(f->st, &create_action, insert_machine, &op, err, sizeof(err)),
			 -EEXIST);
	assert_string_equal(err, expected);
	assert_int_equal(store_audit_list(f->st, 2, 0, collect_entry, &list), 0);
	assert_int_equal(list.count, 1);
	assert_memory_equal(list.e[0].outcome, "failed: ", 8);
	assert_string_equal(list.e[0].outcome + 8, expected);
	entries_clear(&list);
}

/* An operation that inserts a machine, then writes its id into the action's target. */
struct rewrite_op {
	struct insert_op insert;
	char target[64];
	char detail[128];
	const char *new_detail;             /* written to detail after the insert */
};

static int
insert_and_rewrite(struct store *st, void *arg, char *err, size_t errlen)
{
	struct rewrite_op *op = arg;
	int rc;

	rc = insert_machine(st, &op->insert, err, errlen);
	if (op->insert.m.id > 0)
		snprintf(op->target, sizeof(op->target), "machine:%lld", (long long)op->insert.m.id);
	if (op->new_detail)
		snprintf(op->detail, sizeof(op->detail), "%s", op->new_detail);
	return rc;
}

static void
execute_reads_rewritten_target(void **state)
{
	struct fixture *f = *state;
	struct rewrite_op op = { .target = "machine:new", .detail = "{}" };
	struct action action = create_action;
	struct entries list = { 0 };
	char err[256] = "", expected[64];
	int64_t count = -1;

	action.target = op.target;
	action.detail = op.detail;

	/* Success: the entry has what the operation left in the target and detail. */
	machine_fill(&op.insert.m, 1);
	op.new_detail = "{\"macs\":[\"52:54:00:00:00:01\"]}";
	assert_int_equal(gov_execute(f->st, &action, insert_and_rewrite, &op, err, sizeof(err)), 0);
	snprintf(expected, sizeof(expected), "machine:%lld", (long long)op.insert.m.id);
	assert_int_equal(store_audit_list(f->st, 0, 0, collect_entry, &list), 0);
	assert_int_equal(list.count, 1);
	assert_string_equal(list.e[0].target, expected);
	assert_string_equal(list.e[0].detail, "{\"macs\":[\"52:54:00:00:00:01\"]}");
	entries_clear(&list);

	/* Failure after the rewrite: the failure entry has the rewritten target too. */
	machine_fill(&op.insert.m, 2);
	op.insert.fail_with = -EIO;
	snprintf(op.target, sizeof(op.target), "machine:new");
	assert_int_equal(gov_execute(f->st, &action, insert_and_rewrite, &op, err, sizeof(err)),
			 -EIO);
	snprintf(expected, sizeof(expected), "machine:%lld", (long long)op.insert.m.id);
	assert_int_equal(store_audit_list(f->st, 1, 0, collect_entry, &list), 0);
	assert_int_equal(list.count, 1);
	assert_string_equal(list.e[0].target, expected);
	assert_string_equal(list.e[0].outcome, "failed: power controller did not answer");
	entries_clear(&list);

	/* An invalid detail left by a successful operation fails it and rolls it back. */
	machine_fill(&op.insert.m, 3);
	op.insert.fail_with = 0;
	op.new_detail = "{not json";
	snprintf(op.detail, sizeof(op.detail), "{}");
	assert_int_equal(gov_execute(f->st, &action, insert_and_rewrite, &op, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "detail is not valid JSON"));
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM machines"
				 " WHERE id IN (SELECT machine_id FROM machine_macs"
				 " WHERE mac = '52:54:00:00:00:03')"), 0);
	assert_int_equal(store_machine_count(f->st, NULL, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit"), 2);

	/* A failed operation that left an invalid detail is recorded without it. */
	machine_fill(&op.insert.m, 4);
	op.insert.fail_with = -EIO;
	snprintf(op.detail, sizeof(op.detail), "{}");
	assert_int_equal(gov_execute(f->st, &action, insert_and_rewrite, &op, err, sizeof(err)),
			 -EIO);
	assert_int_equal(store_audit_list(f->st, 2, 0, collect_entry, &list), 0);
	assert_int_equal(list.count, 1);
	assert_null(list.e[0].detail);
	assert_string_equal(list.e[0].outcome, "failed: power controller did not answer");
	entries_clear(&list);
}

struct policy_case {
	const char *name;
	struct action action;
};

static const struct policy_case policy_cases[] = {
	{ "no actor", { NULL, "machine.create", "machine:1", RISK_CHANGE, NULL } },
	{ "empty actor", { "", "machine.create", "machine:1", RISK_CHANGE, NULL } },
	{ "no name", { "token:admin", NULL, "machine:1", RISK_CHANGE, NULL } },
	{ "empty name", { "token:admin", "", "machine:1", RISK_CHANGE, NULL } },
	{ "risk too high", { "token:admin", "machine.create", "machine:1", RISK_MAX, NULL } },
	{ "risk invalid", { "token:admin", "machine.create", "machine:1", RISK_INVALID, NULL } },
	{ "detail not JSON", { "token:admin", "machine.create", "machine:1", RISK_CHANGE, "{x" } },
};

static void
policy_rejects_malformed(void **state)
{
	struct fixture *f = *state;
	struct insert_op op = { 0 };
	char err[256];
	int64_t seq;
	char hash[SHA256_HEX_SIZE];

	machine_fill(&op.m, 1);
	for (size_t i = 0; i < sizeof(policy_cases) / sizeof(policy_cases[0]); i++) {
		err[0] = '\0';
		print_message("case: %s\n", policy_cases[i].name);
		assert_int_equal(gov_execute(f->st, &policy_cases[i].action, insert_machine, &op, err,
					     sizeof(err)),
				 -EINVAL);
		assert_true(err[0] != '\0');
	}

	assert_int_equal(op.calls, 0);
	assert_int_equal(store_audit_tail(f->st, &seq, hash), 0);
	assert_int_equal(seq, 0);

	/* A NULL target is recorded as empty; a NULL error buffer is allowed. */
	struct action no_target = create_action;

	no_target.target = NULL;
	assert_int_equal(gov_execute(f->st, &no_target, insert_machine, &op, NULL, 0), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM audit WHERE target = ''"), 1);
}

static void
risk_names(void **state)
{
	(void)state;
	assert_string_equal(risk_name(RISK_READ), "read");
	assert_string_equal(risk_name(RISK_CHANGE), "change");
	assert_string_equal(risk_name(RISK_DESTRUCTIVE), "destructive");
	assert_string_equal(risk_name(RISK_MAX), "invalid");
	assert_string_equal(risk_name(RISK_INVALID), "invalid");
}

static void
hash_is_unambiguous(void **state)
{
	struct audit_entry a = {
		.seq = 4, .at = 1700000000, .actor = (char[]){ "ab" }, .action = (char[]){ "c" },
		.target = (char[]){ "machine:1" }, .risk = (char[]){ "change" },
		.outcome = (char[]){ "ok" }, .detail = NULL, .prev_hash = GENESIS_HASH,
	};
	struct audit_entry b = a;
	char ha[SHA256_HEX_SIZE], hb[SHA256_HEX_SIZE];

	(void)state;
	gov_audit_hash(&a, ha);
	assert_int_equal(strlen(ha), 64);
	assert_int_equal(strspn(ha, "0123456789abcdef"), 64);

	/* The same entry hashes the same. */
	gov_audit_hash(&b, hb);
	assert_string_equal(ha, hb);

	/* Moving a byte from one field to the next changes the hash. */
	b.actor = (char[]){ "a" };
	b.action = (char[]){ "bc" };
	gov_audit_hash(&b, hb);
	assert_string_not_equal(ha, hb);

	/* NULL and empty detail differ. */
	b = a;
	b.detail = (char[]){ "" };
	gov_audit_hash(&b, hb);
	assert_string_not_equal(ha, hb);

	/* Every field is covered. */
	b = a;
	b.seq = 5;
	gov_audit_hash(&b, hb);
	assert_string_not_equal(ha, hb);
	b = a;
	b.at++;
	gov_audit_hash(&b, hb);
	assert_string_not_equal(ha, hb);
	b = a;
	b.prev_hash[0] = '1';
	gov_audit_hash(&b, hb);
	assert_string_not_equal(ha, hb);
	b = a;
	b.outcome = (char[]){ "failed: x" };
	gov_audit_hash(&b, hb);
	assert_string_not_equal(ha, hb);
}

/* Run `count` actions, every third one failing. */
static void
run_actions(struct store *st, unsigned int count)
{
	struct insert_op op = { 0 };
	char err[256];

	for (unsigned int i = 0; i < count; i++) {
		machine_fill(&op.m, 1000 + i);
		op.fail_with = i % 3 == 2 ? -EIO : 0;
		assert_int_equal(gov_execute(st, &create_action, insert_machine, &op, err, sizeof(err)),
				 op.fail_with);
	}
}

static void
verify_intact_chain(void **state)
{
	struct fixture *f = *state;
	struct audit_report report;

	assert_int_equal(gov_audit_verify(f->st, &report), 0);
	assert_int_equal(report.entries, 0);
	assert_int_equal(report.bad_seq, 0);

	run_actions(f->st, 20);
	memset(&report, 0xff, sizeof(report));
	assert_int_equal(gov_audit_verify(f->st, &report), 0);
	assert_int_equal(report.entries, 20);
	assert_int_equal(report.bad_seq, 0);
	assert_string_equal(report.reason, "intact");
}

struct tamper_case {
	const char *name;
	const char *sql;
	int64_t bad_seq;
	const char *reason;                 /* expected start of the reason */
};

static const struct tamper_case tamper_cases[] = {
	{ "edit actor", "UPDATE audit SET actor = 'mallory' WHERE seq = 3", 3,
	  "edited: entry 3 does not match its stored hash" },
	{ "edit outcome", "UPDATE audit SET outcome = 'ok' WHERE seq = 3", 3, "edited: " },
	{ "edit time", "UPDATE audit SET at = at + 1 WHERE seq = 5", 5, "edited: " },
	{ "null detail", "UPDATE audit SET detail = NULL WHERE seq = 2", 2, "edited: " },
	{ "edit hash", "UPDATE audit SET hash = '" GENESIS_HASH "' WHERE seq = 4", 4, "edited: " },
	{ "edit prev_hash", "UPDATE audit SET prev_hash = '" GENESIS_HASH "' WHERE seq = 4", 4,
	  "edited: entry 4 matches neither its hash nor the hash of entry 3" },
	{ "delete middle", "DELETE FROM audit WHERE seq = 3", 3,
	  "removed: entry 3 is missing, entry 4 follows entry 2" },
	{ "delete two", "DELETE FROM audit WHERE seq IN (3, 4)", 3,
	  "removed: entries 3 to 4 are missing, entry 5 follows entry 2" },
	{ "delete first", "DELETE FROM audit WHERE seq = 1", 1,
	  "removed: entry 1 is missing, the trail starts at entry 2" },
	{ "delete and renumber",
	  "DELETE FROM audit WHERE seq = 3;"
	  " UPDATE audit SET seq = 3 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = 5;"
	  " UPDATE audit SET seq = 5 WHERE seq = 6",
	  3, "removed: the entry written as seq 3 is missing, and entry 3 was written as seq 4" },
	{ "swap neighbours",
	  "UPDATE audit SET seq = 100 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 4;"
	  " UPDATE audit SET seq = 4 WHERE seq = 100",
	  3, "reordered: entry 3 was written as seq 4" },
	{ "swap apart",
	  "UPDATE audit SET seq = 100 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 5;"
	  " UPDATE audit SET seq = 5 WHERE seq = 100",
	  2, "reordered: entry 2 was written as seq 5" },
};

static void
verify_detects_tampering(void **state)
{
	struct fixture *f = *state;
	struct audit_report report;
	char path[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(tamper_cases) / sizeof(tamper_cases[0]); i++) {
		const struct tamper_case *c = &tamper_cases[i];
		struct store *st;

		snprintf(path, sizeof(path), "%s-tamper-%zu", f->path, i);
		assert_int_equal(store_open(path, false, &st), 0);
		run_actions(st, 6);

		/* Anyone who can write the file can drop the triggers, so the chain must detect it. */
		raw_exec(path, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete");
		raw_exec(path, c->sql);

		memset(&report, 0, sizeof(report));
		assert_int_equal(gov_audit_verify(st, &report), 0);
		print_message("case: %s: bad_seq=%" PRId64 " reason=\"%s\"\n", c->name, report.bad_seq,
			      report.reason);
		assert_int_equal(report.bad_seq, c->bad_seq);
		assert_memory_equal(report.reason, c->reason, strlen(c->reason));
		store_close(st);
	}
}

static int
find_entry_3(const struct audit_entry *e, void *arg)
{
	struct audit_entry *out = arg;

	if (e->seq != 3)
		return 0;
	*out = *e;
	out->actor = strdup("mallory");
	out->action = strdup(e->action);
	out->target = strdup(e->target);
	out->risk = strdup(e->risk);
	out->outcome = strdup(e->outcome);
	out->detail = e->detail ? strdup(e->detail) : NULL;
	return 1;
}

/* An edit with a recomputed hash passes at its own entry and breaks the next link. */
static void
verify_detects_rehashed_edit(void **state)
{
	struct fixture *f = *state;
	struct audit_entry forged = { 0 };
	struct audit_report report;
	char sql[512];

	run_actions(f->st, 6);
	assert_int_equal(store_audit_list(f->st, 0, 0, find_entry_3, &forged), 1);
	gov_audit_hash(&forged, forged.hash);

	snprintf(sql, sizeof(sql), "DROP TRIGGER audit_no_update;"
		 " UPDATE audit SET actor = 'mallory', hash = '%s' WHERE seq = 3", forged.hash);
	raw_exec(f->path, sql);
	audit_entry_clear(&forged);

	assert_int_equal(gov_audit_verify(f->st, &report), 0);
	assert_int_equal(report.entries, 4);
	assert_int_equal(report.bad_seq, 3);
	assert_string_equal(report.reason, "edited: entry 3 was rewritten with a new hash,"
			    " entry 4 was written after a different one");
}

/* Crash test: a child runs actions until it is killed, at a random moment. */
#define CRASH_ROUNDS 6
#define CRASH_MAX_ACTIONS 20000
#define CRASH_MAX_RUN_US 80000

static int
crash_insert(struct store *st, void *arg, char *err, size_t errlen)
{
	struct insert_op *op = arg;
	int rc;

	rc = store_machine_insert(st, &op->m);
	if (rc < 0) {
		snprintf(err, errlen, "%s", store_error(st));
		return rc;
	}
	if (op->fail_with) {
		snprintf(err, errlen, "injected failure");
		return op->fail_with;
	}
	return 0;
}

/* Open the store, tell the parent through `ready_fd`, then run actions until killed. */
static void __attribute__((noreturn))
crash_child(const char *path, unsigned int round, int ready_fd)
{
	struct insert_op op = { 0 };
	struct action a = create_action;
	char target[64], err[256];
	struct store *st;

	if (store_open(path, false, &st) < 0)
		_exit(2);
	if (write(ready_fd, "r", 1) != 1)
		_exit(2);
	close(ready_fd);

	a.detail = NULL;
	a.target = target;
	for (unsigned int i = 0; i < CRASH_MAX_ACTIONS; i++) {
		machine_fill(&op.m, round << 16 | i);
		op.fail_with = i % 4 == 3 ? -EIO : 0;
		snprintf(target, sizeof(target), "mac:%s", op.m.macs[0]);
		if (gov_execute(st, &a, crash_insert, &op, err, sizeof(err)) != op.fail_with)
			_exit(3);
	}
	_exit(0);
}

struct name_list {
	char names[CRASH_ROUNDS * CRASH_MAX_ACTIONS][MAC_TEXT_SIZE + 8];
	size_t count;
};

static int
collect_machine_target(const struct machine *m, void *arg)
{
	struct name_list *list = arg;

	assert_true(list->count < CRASH_ROUNDS * CRASH_MAX_ACTIONS);
	snprintf(list->names[list->count++], MAC_TEXT_SIZE + 8, "mac:%s", m->macs[0]);
	return 0;
}

struct audit_targets {
	struct name_list *ok;
	struct name_list *failed;
};

static int
collect_audit_target(const struct audit_entry *e, void *arg)
{
	struct audit_targets *t = arg;
	struct name_list *list = strcmp(e->outcome, "ok") == 0 ? t->ok : t->failed;

	assert_true(list->count < CRASH_ROUNDS * CRASH_MAX_ACTIONS);
	snprintf(list->names[list->count++], MAC_TEXT_SIZE + 8, "%s", e->target);
	return 0;
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The state after a kill: intact file, intact chain, one entry per machine and back. */
static void
check_after_crash(const char *path, int64_t *ret_machines)
{
	struct name_list *machines, *ok, *failed;
	struct audit_targets targets;
	struct audit_report report;
	struct store *st;
	char text[64];

	machines = calloc(1, sizeof(*machines));
	ok = calloc(1, sizeof(*ok));
	failed = calloc(1, sizeof(*failed));
	assert_non_null(machines);
	assert_non_null(ok);
	assert_non_null(failed);

	assert_int_equal(store_open(path, false, &st), 0);
	raw_query(path, "PRAGMA integrity_check", text, sizeof(text));
	assert_string_equal(text, "ok");

	assert_int_equal(gov_audit_verify(st, &report), 0);
	if (report.bad_seq != 0)
		fail_msg("chain broken: %s", report.reason);

	targets.ok = ok;
	targets.failed = failed;
	assert_int_equal(store_machine_list(st, NULL, collect_machine_target, machines), 0);
	assert_int_equal(store_audit_list(st, 0, 0, collect_audit_target, &targets), 0);
	assert_int_equal(report.entries, (int64_t)(ok->count + failed->count));

	/* Every machine has an "ok" entry and every "ok" entry its machine. */
	qsort(machines->names, machines->count, sizeof(machines->names[0]), compare_names);
	qsort(ok->names, ok->count, sizeof(ok->names[0]), compare_names);
	assert_int_equal(machines->count, ok->count);
	for (size_t i = 0; i < ok->count; i++)
		assert_string_equal(machines->names[i], ok->names[i]);

	/* A failed action left no machine behind. */
	for (size_t i = 0; i < failed->count; i++)
		assert_null(bsearch(failed->names[i], machines->names, machines->count,
				    sizeof(machines->names[0]), compare_names));

	*ret_machines = (int64_t)machines->count;
	store_close(st);
	free(machines);
	free(ok);
	free(failed);
}

static void
crash_keeps_chain_intact(void **state)
{
	struct fixture *f = *state;
	unsigned int seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	int64_t machines = 0, killed = 0;

	/* The child opens its own connection; none may cross the fork. */
	f->st = store_close(f->st);
	print_message("crash test seed %u\n", seed);

	for (unsigned int round = 1; round <= CRASH_ROUNDS; round++) {
		useconds_t run_us = 5000 + (useconds_t)(rand_r(&seed) % CRASH_MAX_RUN_US);
		int status, ready[2];
		pid_t pid;
		char byte;

		assert_int_equal(pipe(ready), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(ready[0]);
			crash_child(f->path, round, ready[1]);
		}

		/* Start the clock once the child is in its loop, so sanitizer start-up does not eat it. */
		close(ready[1]);
		assert_int_equal(read(ready[0], &byte, 1), 1);
		close(ready[0]);
		usleep(run_us);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFSIGNALED(status))
			killed++;
		else
			assert_int_equal(WEXITSTATUS(status), 0);

		check_after_crash(f->path, &machines);
	}

	print_message("%" PRId64 " of %d rounds killed, %" PRId64 " machines committed\n", killed,
		      CRASH_ROUNDS, machines);
	assert_true(killed > 0);
	assert_true(machines > 0);
	assert_int_equal(store_open(f->path, false, &f->st), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(execute_commits_change_and_entry, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(execute_failure_rolls_back, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(execute_reads_rewritten_target, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(policy_rejects_malformed, test_setup, test_teardown),
		cmocka_unit_test(risk_names),
		cmocka_unit_test(hash_is_unambiguous),
		cmocka_unit_test_setup_teardown(verify_intact_chain, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(verify_detects_tampering, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(verify_detects_rehashed_edit, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(crash_keeps_chain_intact, test_setup, test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
