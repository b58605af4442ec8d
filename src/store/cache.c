/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boot lookup and its per-connection cache. Netbooting servers ask for their
 * script far more often than anything changes, so each connection keeps the last
 * lookup result per MAC, tagged with the store generation it was read under. A commit
 * anywhere in the process bumps the generation, which retires every entry at once.
 *
 * Entries are packed (fixed fields, then the strings one after another) so that
 * 10,000 machines cost about a megabyte per connection, not the 4 KiB of a
 * struct machine_boot each.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Slots double up to this many; a full table is emptied and refilled. */
#define BOOT_CACHE_MAX_SLOTS (1u << 17)
#define BOOT_CACHE_MIN_SLOTS 1024u

struct boot_cache_slot {
	uint64_t key;                       /* MAC as a 48-bit number plus one; 0: empty */
	uint64_t generation;                /* store generation the entry was read under */
	char *entry;                        /* owned packed record */
};

struct boot_cache {
	struct boot_cache_slot *slots;      /* owned */
	size_t capacity;                    /* a power of two */
	size_t count;
};

/* The packed record; `text` contains the strings in the order of boot_strings(). */
struct boot_record {
	int64_t id;
	int64_t profile_id;
	int64_t deployment_id;
	int state;
	bool image_written;
	char text[];
};

#define BOOT_STRING_COUNT 8

/* The variable-length fields of a machine_boot, in packing order. */
static void
boot_strings(struct machine_boot *b, char *fields[BOOT_STRING_COUNT], size_t sizes[BOOT_STRING_COUNT])
{
	char *f[BOOT_STRING_COUNT] = { b->uuid, b->hostname, b->arch, b->platform,
				       b->profile_name, b->kernel, b->initrd, b->cmdline };
	size_t z[BOOT_STRING_COUNT] = { sizeof(b->uuid), sizeof(b->hostname), sizeof(b->arch),
					sizeof(b->platform), sizeof(b->profile_name),
					sizeof(b->kernel), sizeof(b->initrd), sizeof(b->cmdline) };

	memcpy(fields, f, sizeof(f));
	memcpy(sizes, z, sizeof(z));
}

static size_t
slot_index(const struct boot_cache *cache, uint64_t key)
{
	/* Fibonacci hashing spreads sequential MACs over the table. */
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (cache->capacity - 1);
}

/* The slot holding `key`, or the empty slot where it would go. */
static struct boot_cache_slot *
slot_find(struct boot_cache *cache, uint64_t key)
{
	size_t i = slot_index(cache, key);

	while (cache->slots[i].key != 0 && cache->slots[i].key != key)
		i = (i + 1) & (cache->capacity - 1);
	return &cache->slots[i];
}

static void
slots_free(struct boot_cache_slot *slots, size_t capacity)
{
	for (size_t i = 0; i < capacity; i++)
		free(slots[i].entry);
	free(slots);
}

void
boot_cache_free(struct boot_cache *cache)
{
	if (!cache)
		return;
	slots_free(cache->slots, cache->capacity);
	free(cache);
}

/* Move every entry into a table of `capacity` slots. Returns 0 or -ENOMEM. */
static int
cache_resize(struct boot_cache *cache, size_t capacity)
{
	struct boot_cache old = *cache;

	cache->slots = calloc(capacity, sizeof(*cache->slots));
	if (!cache->slots) {
		*cache = old;
		return -ENOMEM;
	}
	cache->capacity = capacity;
	for (size_t i = 0; i < old.capacity; i++)
		if (old.slots[i].key != 0)
			*slot_find(cache, old.slots[i].key) = old.slots[i];
	free(old.slots);
	return 0;
}

/* Make room for one more entry: grow at half load, or start over at the ceiling. */
static int
cache_reserve(struct store *st)
{
	struct boot_cache *cache = st->boot_cache;

	if (!cache) {
		cache = calloc(1, sizeof(*cache));
		if (!cache)
			return -ENOMEM;
		st->boot_cache = cache;
	}
	if (cache->capacity == 0)
		return cache_resize(cache, BOOT_CACHE_MIN_SLOTS);
	if ((cache->count + 1) * 2 <= cache->capacity)
		return 0;
	if (cache->capacity < BOOT_CACHE_MAX_SLOTS)
		return cache_resize(cache, cache->capacity * 2);

	slots_free(cache->slots, cache->capacity);
	cache->slots = NULL;
	cache->capacity = 0;
	cache->count = 0;
	return cache_resize(cache, BOOT_CACHE_MIN_SLOTS);
}

static char *
record_pack(const struct machine_boot *b)
{
	struct machine_boot copy = *b;
	char *fields[BOOT_STRING_COUNT];
	size_t sizes[BOOT_STRING_COUNT], lengths[BOOT_STRING_COUNT], total = 0;
	struct boot_record *record;
	char *text;

	boot_strings(&copy, fields, sizes);
	for (size_t i = 0; i < BOOT_STRING_COUNT; i++) {
		lengths[i] = strlen(fields[i]) + 1;
		total += lengths[i];
	}

	record = malloc(sizeof(*record) + total);
	if (!record)
		return NULL;
	record->id = b->id;
	record->profile_id = b->profile_id;
	record->deployment_id = b->deployment_id;
	record->state = (int)b->state;
	record->image_written = b->image_written;
	text = record->text;
	for (size_t i = 0; i < BOOT_STRING_COUNT; i++) {
		memcpy(text, fields[i], lengths[i]);
		text += lengths[i];
	}
	return (char *)record;
}

static void
record_unpack(const char *packed, struct machine_boot *ret)
{
	const struct boot_record *record = (const struct boot_record *)(const void *)packed;
	char *fields[BOOT_STRING_COUNT];
	size_t sizes[BOOT_STRING_COUNT];
	const char *text = record->text;

	ret->id = record->id;
	ret->profile_id = record->profile_id;
	ret->deployment_id = record->deployment_id;
	ret->state = (enum machine_state)record->state;
	ret->image_written = record->image_written;
	boot_strings(ret, fields, sizes);
	for (size_t i = 0; i < BOOT_STRING_COUNT; i++) {
		size_t length = strlen(text) + 1;

		/* Packed from fields of the same sizes, so every string fits. */
		memcpy(fields[i], text, length);
		text += length;
	}
}

/* Remember `b` for `key`; a failed allocation only costs the next lookup a query. */
static void
cache_put(struct store *st, uint64_t key, uint64_t generation, const struct machine_boot *b)
{
	struct boot_cache_slot *slot;
	char *entry;

	if (cache_reserve(st) < 0)
		return;
	entry = record_pack(b);
	if (!entry)
		return;

	slot = slot_find(st->boot_cache, key);
	if (slot->key == 0)
		st->boot_cache->count++;
	free(slot->entry);
	slot->key = key;
	slot->generation = generation;
	slot->entry = entry;
}

/*
 * The query behind a cache miss: the machine, its profile and its newest deployment in
 * one statement.
 */
static int
boot_query(struct store *st, const char *mac, struct machine_boot *ret)
{
	static const char sql[] =
		"SELECT m.id, m.state, m.profile_id, m.uuid, m.hostname, m.arch, m.platform,"
		" p.name, p.kernel, p.initrd, p.cmdline, d.id, d.image_written"
		" FROM machine_macs AS mm JOIN machines AS m ON m.id = mm.machine_id"
		" LEFT JOIN profiles AS p ON p.id = m.profile_id"
		" LEFT JOIN deployments AS d ON d.id ="
		"  (SELECT max(id) FROM deployments WHERE machine_id = m.id)"
		" WHERE mm.mac = :mac";
	struct machine_boot b;
	char *fields[BOOT_STRING_COUNT];
	size_t sizes[BOOT_STRING_COUNT];
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_MACHINE_BOOT_GET, sql, &stmt);
	if (err < 0)
		return err;

	store_bind_text(stmt, ":mac", mac, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "looking up a machine to boot");
		goto done;
	}

	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		err = store_errorf(st, -ENOENT, "no machine has MAC %s", mac);
		goto done;
	}
	if (rc != SQLITE_ROW) {
		err = store_sqlite_error(st, rc, "looking up a machine to boot");
		goto done;
	}

	b.id = sqlite3_column_int64(stmt, 0);
	b.state = machine_state_parse((const char *)sqlite3_column_text(stmt, 1));
	b.profile_id = sqlite3_column_int64(stmt, 2);
	boot_strings(&b, fields, sizes);
	for (int i = 0; i < BOOT_STRING_COUNT && err == 0; i++)
		err = store_column_copy(st, stmt, i + 3, fields[i], sizes[i]);
	b.deployment_id = sqlite3_column_int64(stmt, BOOT_STRING_COUNT + 3);
	b.image_written = sqlite3_column_int(stmt, BOOT_STRING_COUNT + 4) != 0;
	if (err == 0)
		*ret = b;
done:
	store_stmt_release(st, STMT_MACHINE_BOOT_GET, stmt);
	return err;
}

int
store_machine_boot_get(struct store *st, const char *mac, struct machine_boot *ret)
{
	/* Read the generation first: a commit after this point retires what we read. */
	uint64_t generation = store_generation();
	uint64_t key = mac_number(mac);
	struct boot_cache_slot *slot = NULL;
	int err;

	if (key != 0 && st->boot_cache && st->boot_cache->capacity != 0) {
		slot = slot_find(st->boot_cache, key);
		if (slot->key == key && slot->generation == generation) {
			record_unpack(slot->entry, ret);
			return 0;
		}
	}

	/*
	 * Inside a transaction the query reads this connection's uncommitted writes, which
	 * a rollback would undo without bumping the generation, so nothing is cached.
	 */
	err = boot_query(st, mac, ret);
	if (err == 0 && key != 0 && sqlite3_get_autocommit(st->db))
		cache_put(st, key, generation, ret);
	return err;
}
