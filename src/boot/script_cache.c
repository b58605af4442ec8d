/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cache of whole /boot/ipxe replies (script_cache.h): an open-addressing table
 * keyed by the MAC as a number, with one entry per MAC. A request for the same MAC
 * with another UUID, architecture or platform replaces the entry.
 *
 * Entries removed from the table are freed after the mutex is released, so requests
 * on other threads do not wait while a whole table is freed. A reply that a
 * connection is still sending stays alive through MHD's own reference.
 *
 * The scripts of two machines rendered from one template differ in a few lines: the
 * machine's name, MAC or token. So each reply keeps only the bytes where it differs
 * from a base text of its script, and takes the rest from that text, which all of
 * them share (http_response_new_spliced). With thousands of machines, a request then
 * touches a hundred bytes or so of its own instead of a whole script, which matters
 * more than any other cost of a cached reply once the replies outgrow the CPU's
 * caches.
 */
#include "boot/script_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Slots of a new table; it doubles at half load while the byte limit allows. */
#define SCRIPT_CACHE_MIN_SLOTS 1024u
/* Scripts with a base text; boot.c's enum boot_script has fewer. */
#define SCRIPT_CACHE_SCRIPTS 8

struct script_entry {
	char uuid[UUID_TEXT_SIZE];
	const char *arch;
	const char *platform;
	struct script_info info;
	struct http_response *response;     /* one reference owned */
	size_t bytes;                       /* counted in script_cache.bytes */
};

struct script_slot {
	uint64_t key;                       /* mac_number(); 0: empty */
	struct script_entry *entry;         /* owned */
	struct http_response *response;     /* entry->response, to prefetch it early */
};

/* Entries taken out of the table under the lock, to be freed after it. */
struct script_garbage {
	struct script_slot *slots;          /* a whole table, or NULL */
	size_t capacity;
	struct script_entry *entry;         /* one replaced entry, or NULL */
};

struct script_cache {
	pthread_mutex_t lock;               /* guards every field below */
	size_t max_bytes;
	uint64_t generation;                /* the store generation of every entry */
	struct script_slot *slots;          /* NULL until the first entry */
	size_t capacity;                    /* a power of two, 0 without slots */
	size_t count;
	size_t bytes;                       /* entries plus the slot array */
	uint64_t hits, misses;
	struct http_text *bases[SCRIPT_CACHE_SCRIPTS];  /* one reference each, or NULL */
};

/* The slot that contains `key`, or the empty slot where it would go. */
static struct script_slot *
slot_find(struct script_slot *slots, size_t capacity, uint64_t key)
{
	/* Fibonacci hashing spreads sequential MACs over the table. */
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (capacity - 1);

	while (slots[i].key != 0 && slots[i].key != key)
		i = (i + 1) & (capacity - 1);
	return &slots[i];
}

static void
entry_free(struct script_entry *entry)
{
	if (entry == NULL)
		return;
	http_response_free(entry->response);
	free(entry);
}

static void
garbage_free(struct script_garbage *garbage)
{
	for (size_t i = 0; i < garbage->capacity; i++)
		entry_free(garbage->slots[i].entry);
	free(garbage->slots);
	entry_free(garbage->entry);
}

/* Take every entry out of the table, for garbage_free once the lock is released. */
static void
cache_detach(struct script_cache *cache, struct script_garbage *garbage)
{
	garbage->slots = cache->slots;
	garbage->capacity = cache->capacity;
	cache->slots = NULL;
	cache->capacity = 0;
	cache->count = 0;
	cache->bytes = 0;
}

/*
 * Make room in the table for one more entry: create it, or double it at half load.
 * Returns 0, or -ENOSPC when the larger table would pass the byte limit, or -ENOMEM.
 */
static int
cache_reserve(struct script_cache *cache)
{
	size_t capacity = cache->capacity == 0 ? SCRIPT_CACHE_MIN_SLOTS : cache->capacity * 2;
	size_t old_bytes = cache->capacity * sizeof(*cache->slots);
	size_t new_bytes = capacity * sizeof(*cache->slots);
	struct script_slot *slots;

	if (cache->capacity != 0 && (cache->count + 1) * 2 <= cache->capacity)
		return 0;
	if (cache->bytes - old_bytes + new_bytes > cache->max_bytes)
		return -ENOSPC;
	slots = calloc(capacity, sizeof(*slots));
	if (slots == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cache->capacity; i++) {
		if (cache->slots[i].key != 0)
			*slot_find(slots, capacity, cache->slots[i].key) = cache->slots[i];
	}
	free(cache->slots);
	cache->slots = slots;
	cache->capacity = capacity;
	cache->bytes = cache->bytes - old_bytes + new_bytes;
	return 0;
}

int
script_cache_new(size_t max_bytes, struct script_cache **ret)
{
	struct script_cache *cache = calloc(1, sizeof(*cache));

	if (cache == NULL)
		return -ENOMEM;
	if (pthread_mutex_init(&cache->lock, NULL) != 0) {
		free(cache);
		return -ENOMEM;
	}
	cache->max_bytes = max_bytes;
	*ret = cache;
	return 0;
}

struct script_cache *
script_cache_free(struct script_cache *cache)
{
	struct script_garbage garbage = { 0 };

	if (cache == NULL)
		return NULL;
	cache_detach(cache, &garbage);
	garbage_free(&garbage);
	for (size_t i = 0; i < SCRIPT_CACHE_SCRIPTS; i++)
		http_text_unref(cache->bases[i]);
	pthread_mutex_destroy(&cache->lock);
	free(cache);
	return NULL;
}

int
script_cache_reply(struct script_cache *cache, const struct script_key *key,
		   uint64_t generation, struct http_request *req, struct script_info *info)
{
	struct script_garbage garbage = { 0 };
	uint64_t number = mac_number(key->mac);
	struct script_entry *entry = NULL;
	int rc = -ENOENT;

	pthread_mutex_lock(&cache->lock);

	/* A commit since the entries were rendered retires all of them. */
	if (generation > cache->generation) {
		cache_detach(cache, &garbage);
		cache->generation = generation;
	}

	if (number != 0 && generation == cache->generation && cache->slots != NULL) {
		struct script_slot *slot = slot_find(cache->slots, cache->capacity, number);

		entry = slot->entry;
		if (entry != NULL)
			http_response_prefetch(slot->response);
	}
	if (entry != NULL && entry->arch == key->arch && entry->platform == key->platform &&
	    strcmp(entry->uuid, key->uuid) == 0) {
		/*
		 * Queued under the lock: once it is released, another thread may drop the
		 * cache's reference, and MHD's own is taken only by the queueing.
		 */
		rc = http_reply_response(req, 200, entry->response);
		if (rc == 0)
			*info = entry->info;
	}
	if (rc == 0)
		cache->hits++;
	else if (rc == -ENOENT)
		cache->misses++;

	pthread_mutex_unlock(&cache->lock);
	garbage_free(&garbage);
	return rc;
}

/* Insert or replace the entry of `number`. Returns 0, -ENOSPC or -ENOMEM. */
static int
cache_insert(struct script_cache *cache, uint64_t number, struct script_entry *entry,
	     struct script_garbage *garbage)
{
	struct script_slot *slot = NULL;
	size_t freed = 0;
	int rc;

	if (cache->slots != NULL) {
		slot = slot_find(cache->slots, cache->capacity, number);
		if (slot->key == number)
			freed = slot->entry->bytes;
	}
	if (cache->bytes - freed + entry->bytes > cache->max_bytes)
		return -ENOSPC;

	if (freed == 0) {
		rc = cache_reserve(cache);
		if (rc < 0)
			return rc;
		if (cache->bytes + entry->bytes > cache->max_bytes)
			return -ENOSPC;
		slot = slot_find(cache->slots, cache->capacity, number);
		cache->count++;
	}

	garbage->entry = slot->entry;
	cache->bytes = cache->bytes - freed + entry->bytes;
	slot->key = number;
	slot->entry = entry;
	slot->response = entry->response;
	return 0;
}

void
script_cache_put(struct script_cache *cache, const struct script_key *key,
		 uint64_t generation, const struct script_info *info,
		 struct http_response *response)
{
	struct script_garbage garbage = { 0 };
	uint64_t number = mac_number(key->mac);
	struct script_entry *entry;
	int rc = -ESTALE;

	entry = malloc(sizeof(*entry));
	if (number == 0 || entry == NULL) {
		free(entry);
		http_response_free(response);
		return;
	}
	snprintf(entry->uuid, sizeof(entry->uuid), "%s", key->uuid);
	entry->arch = key->arch;
	entry->platform = key->platform;
	entry->info = *info;
	entry->response = response;
	entry->bytes = sizeof(*entry) + http_response_bytes(response);

	pthread_mutex_lock(&cache->lock);
	/*
	 * A commit after `generation` was read may have changed what the script was
	 * rendered from, so such a script is not kept.
	 */
	if (generation == store_generation() && generation >= cache->generation) {
		if (generation > cache->generation) {
			cache_detach(cache, &garbage);
			cache->generation = generation;
		}
		rc = cache_insert(cache, number, entry, &garbage);
	}
	pthread_mutex_unlock(&cache->lock);

	if (rc < 0)
		entry_free(entry);
	garbage_free(&garbage);
}

/* The length of the longest common prefix of a and b, at most `max` bytes. */
static size_t
common_prefix(const char *a, const char *b, size_t max)
{
	size_t n = 0;

	while (n < max && a[n] == b[n])
		n++;
	return n;
}

/* The length of the longest common suffix of a and b, at most `max` bytes. */
static size_t
common_suffix(const char *a, size_t a_len, const char *b, size_t b_len, size_t max)
{
	size_t n = 0;

	while (n < max && a[a_len - 1 - n] == b[b_len - 1 - n])
		n++;
	return n;
}

/* Make `len` bytes of `text` the base of `script`; returns a reference for the caller. */
static struct http_text *
base_replace(struct script_cache *cache, int script, const char *text, size_t len)
{
	struct http_text *base = http_text_new(text, len), *old;

	if (base == NULL)
		return NULL;
	pthread_mutex_lock(&cache->lock);
	old = cache->bases[script];
	cache->bases[script] = http_text_ref(base);
	pthread_mutex_unlock(&cache->lock);
	http_text_unref(old);
	return base;
}

int
script_cache_response(struct script_cache *cache, int script, const char *text, size_t len,
		      struct http_response **ret)
{
	size_t base_len = 0, prefix = 0, suffix = 0;
	struct http_text *base = NULL;
	int rc;

	if (script < 0 || script >= SCRIPT_CACHE_SCRIPTS)
		return -EINVAL;
	pthread_mutex_lock(&cache->lock);
	if (cache->bases[script] != NULL)
		base = http_text_ref(cache->bases[script]);
	pthread_mutex_unlock(&cache->lock);

	if (base != NULL) {
		const char *base_data = http_text_data(base, &base_len);
		size_t shorter = len < base_len ? len : base_len;

		prefix = common_prefix(text, base_data, shorter);
		suffix = common_suffix(text, len, base_data, base_len, shorter - prefix);
	}

	/*
	 * When less than half is shared, the templates' output has moved on (a bundle or
	 * the settings changed), and this script becomes the base. Replies made from the
	 * old base keep it alive until they are gone.
	 */
	if (base == NULL || (len - prefix - suffix) * 2 > len) {
		http_text_unref(base);
		base = base_replace(cache, script, text, len);
		if (base == NULL)
			return -ENOMEM;
		base_len = len;
		prefix = len;
		suffix = 0;
	}
	rc = http_response_new_spliced("text/plain", base, prefix, text + prefix,
				       len - prefix - suffix, suffix, ret);
	http_text_unref(base);
	return rc;
}

void
script_cache_stats(struct script_cache *cache, struct boot_cache_stats *ret)
{
	pthread_mutex_lock(&cache->lock);
	ret->hits = cache->hits;
	ret->misses = cache->misses;
	ret->entries = cache->count;
	ret->bytes = cache->bytes;
	pthread_mutex_unlock(&cache->lock);
}
