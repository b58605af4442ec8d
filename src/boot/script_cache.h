/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boot listener's cache of whole /boot/ipxe replies, for boot.c only. A netbooting
 * server requests the same script again and again while nothing changes, so a rendered
 * script is kept as a ready reply (struct http_response) and queued again for the next
 * request with the same MAC, UUID, architecture and platform.
 *
 * Every entry was rendered under one store generation. The first request that reads a
 * newer generation, because something was committed, empties the cache, so a change to
 * a machine, its profile, its deployments or the loaded bundles shows on the next
 * request. One cache is shared by all worker threads behind a mutex, and its entries
 * take at most a configured number of bytes.
 */
#ifndef OUTPOST_BOOT_SCRIPT_CACHE_H
#define OUTPOST_BOOT_SCRIPT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "boot/boot.h"
#include "http/http.h"
#include "store/store.h"
#include "util/util.h"

/* The request values a script was rendered for. */
struct script_key {
	const char *mac;          /* canonical */
	const char *uuid;         /* canonical, "" when the request had none */
	const char *arch;         /* a string constant of boot.c, compared by address */
	const char *platform;     /* a string constant of boot.c, compared by address */
};

/* The script and machine named in the debug line of a served script. */
struct script_info {
	int script;               /* boot.c's enum boot_script */
	int64_t machine_id;
	enum machine_state state;
};

struct script_cache;

/*
 * Create a cache whose entries take at most max_bytes, estimated with
 * http_response_bytes plus the cache's own records. Returns 0 and sets *ret, or
 * -ENOMEM.
 */
int script_cache_new(size_t max_bytes, struct script_cache **ret);
/* Free every entry; stop the listener first. Accepts NULL; returns NULL. */
struct script_cache *script_cache_free(struct script_cache *cache);

/*
 * Queue the cached reply for `key` on req when the cache has one rendered under
 * `generation`, and fill *info. Returns 0, -ENOENT when there is none, or the error of
 * http_reply_response.
 */
int script_cache_reply(struct script_cache *cache, const struct script_key *key,
		       uint64_t generation, struct http_request *req, struct script_info *info);

/*
 * Keep `response`, rendered for `key` from store reads that all began after
 * `generation` was read. The cache takes over the caller's reference. Nothing is kept
 * when the store's generation has moved on since, or when the entry does not fit in
 * the cache's bytes.
 */
void script_cache_put(struct script_cache *cache, const struct script_key *key,
		      uint64_t generation, const struct script_info *info,
		      struct http_response *response);

/*
 * Create the reply, text/plain, for the `len` bytes of `text` rendered from script
 * `script` (boot.c's enum boot_script). The reply shares what it has in common with
 * the script's base text, which is kept for the life of the cache. A script that
 * shares less than half of its bytes with it becomes the new base. Returns 0 and sets
 * *ret, -EINVAL for a script number out of range, or -ENOMEM.
 */
int script_cache_response(struct script_cache *cache, int script, const char *text,
			  size_t len, struct http_response **ret);

void script_cache_stats(struct script_cache *cache, struct boot_cache_stats *ret);

#endif
