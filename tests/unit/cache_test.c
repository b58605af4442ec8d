/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the boot lookup and its per-connection cache. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log/log.h"
#include "store/store.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *reader;               /* the connection whose cache is tested */
	struct store *writer;               /* changes rows, as another thread would */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	log_setup(LOG_LEVEL_WARNING, LOG_TARGET_STDERR);
	snprintf(f->dir, sizeof(f->dir), "/tmp/outpost-cache-test.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/outpost.db", f->dir);
	if (store_open(f->path, false, &f->writer) < 0 || store_open(f->path, false, &f->reader) < 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char name[160];

	store_close(f->reader);
	store_close(f->writer);
	unlink(f->path);
	snprintf(name, sizeof(name), "%s-wal", f->path);
	unlink(name);
	snprintf(name, sizeof(name), "%s-shm", f->path);
	unlink(name);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Insert a machine with one MAC and return it. */
static struct machine
machine_add(struct store *st, const char *mac, const char *hostname, int64_t profile_id)
{
	struct machine m = { 0 };

	snprintf(m.macs[0], sizeof(m.macs[0]), "%s", mac);
	m.mac_count = 1;
	snprintf(m.hostname, sizeof(m.hostname), "%s", hostname);
	snprintf(m.arch, sizeof(m.arch), "x86_64");
	snprintf(m.platform, sizeof(m.platform), "efi");
	m.state = MACHINE_READY;
	m.profile_id = profile_id;
	assert_int_equal(store_machine_insert(st, &m), 0);
	return m;
}

static void
boot_lookup_fields(void **state)
{
	struct fixture *f = *state;
	struct profile p = { 0 };
	struct machine_boot b;
	struct machine m;

	snprintf(p.name, sizeof(p.name), "debian-12");
	snprintf(p.kernel, sizeof(p.kernel), "deploy/vmlinuz");
	snprintf(p.initrd, sizeof(p.initrd), "deploy/initrd.img");
	snprintf(p.cmdline, sizeof(p.cmdline), "console=ttyS0");
	assert_int_equal(store_profile_insert(f->writer, &p), 0);
	m = machine_add(f->writer, "52:54:00:00:00:01", "node1", p.id);

	assert_int_equal(store_machine_boot_get(f->reader, "52:54:00:00:00:01", &b), 0);
	assert_int_equal(b.id, m.id);
	assert_int_equal(b.state, MACHINE_READY);
	assert_int_equal(b.profile_id, p.id);
	assert_string_equal(b.hostname, "node1");
	assert_string_equal(b.arch, "x86_64");
	assert_string_equal(b.platform, "efi");
	assert_string_equal(b.profile_name, "debian-12");
	assert_string_equal(b.kernel, "deploy/vmlinuz");
	assert_string_equal(b.initrd, "deploy/initrd.img");
	assert_string_equal(b.cmdline, "console=ttyS0");

	/* The second lookup is a cache hit and returns the same fields. */
	memset(&b, 0xaa, sizeof(b));
	assert_int_equal(store_machine_boot_get(f->reader, "52:54:00:00:00:01", &b), 0);
	assert_int_equal(b.id, m.id);
	assert_string_equal(b.hostname, "node1");
	assert_string_equal(b.cmdline, "console=ttyS0");
	assert_string_equal(b.uuid, "");
}

static void
boot_lookup_unknown_mac(void **state)
{
	struct fixture *f = *state;
	struct machine_boot b;

	assert_int_equal(store_machine_boot_get(f->reader, "52:54:00:00:00:09", &b), -ENOENT);
	assert_non_null(strstr(store_error(f->reader), "52:54:00:00:00:09"));
}

static void
boot_lookup_without_profile(void **state)
{
	struct fixture *f = *state;
	struct machine_boot b;

	machine_add(f->writer, "52:54:00:00:00:02", "", 0);
	assert_int_equal(store_machine_boot_get(f->reader, "52:54:00:00:00:02", &b), 0);
	assert_int_equal(b.profile_id, 0);
	assert_string_equal(b.hostname, "");
	assert_string_equal(b.kernel, "");
}

/* A commit on another connection retires the cached entry. */
static void
boot_cache_sees_other_commits(void **state)
{
	struct fixture *f = *state;
	struct machine_boot b;
	struct machine m = machine_add(f->writer, "52:54:00:00:00:03", "before", 0);

	assert_int_equal(store_machine_boot_get(f->reader, "52:54:00:00:00:03", &b), 0);
	assert_string_equal(b.hostname, "before");

	snprintf(m.hostname, sizeof(m.hostname), "after");
	m.state = MACHINE_DEPLOYING;
	assert_int_equal(store_machine_update(f->writer, &m), 0);
	assert_int_equal(store_machine_boot_get(f->reader, "52:54:00:00:00:03", &b), 0);
	assert_string_equal(b.hostname, "after");
	assert_int_equal(b.state, MACHINE_DEPLOYING);

	assert_int_equal(store_machine_delete(f->writer, m.id), 0);
	assert_int_equal(store_machine_boot_get(f->reader, "52:54:00:00:00:03", &b), -ENOENT);
	machine_clear(&m);
}

/* A rolled-back write never reaches the cache. */
static void
boot_cache_skips_transactions(void **state)
{
	struct fixture *f = *state;
	struct machine_boot b;
	struct machine m = machine_add(f->reader, "52:54:00:00:00:04", "committed", 0);

	assert_int_equal(store_begin(f->reader), 0);
	snprintf(m.hostname, sizeof(m.hostname), "uncommitted");
	assert_int_equal(store_machine_update(f->reader, &m), 0);
	assert_int_equal(store_machine_boot_get(f->reader, "52:54:00:00:00:04", &b), 0);
	assert_string_equal(b.hostname, "uncommitted");
	store_rollback(f->reader);

	assert_int_equal(store_machine_boot_get(f->reader, "52:54:00:00:00:04", &b), 0);
	assert_string_equal(b.hostname, "committed");
	machine_clear(&m);
}

/* Enough machines to grow the table several times; every one still resolves. */
static void
boot_cache_many_machines(void **state)
{
	struct fixture *f = *state;
	enum { COUNT = 5000 };
	struct machine_boot b;
	int64_t ids[COUNT];
	char mac[MAC_TEXT_SIZE], name[32];

	assert_int_equal(store_begin(f->writer), 0);
	for (int i = 0; i < COUNT; i++) {
		snprintf(mac, sizeof(mac), "52:54:00:01:%02x:%02x", i / 256, i % 256);
		snprintf(name, sizeof(name), "n%d", i);
		ids[i] = machine_add(f->writer, mac, name, 0).id;
	}
	assert_int_equal(store_commit(f->writer), 0);

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < COUNT; i++) {
			snprintf(mac, sizeof(mac), "52:54:00:01:%02x:%02x", i / 256, i % 256);
			snprintf(name, sizeof(name), "n%d", i);
			assert_int_equal(store_machine_boot_get(f->reader, mac, &b), 0);
			if (b.id != ids[i] || strcmp(b.hostname, name) != 0)
				fail_msg("pass %d: %s resolved to machine %" PRId64 " \"%s\", expected %" PRId64 " \"%s\"",
					 pass, mac, b.id, b.hostname, ids[i], name);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(boot_lookup_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(boot_lookup_unknown_mac, setup, teardown),
		cmocka_unit_test_setup_teardown(boot_lookup_without_profile, setup, teardown),
		cmocka_unit_test_setup_teardown(boot_cache_sees_other_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(boot_cache_skips_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(boot_cache_many_machines, setup, teardown),
	};

	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
