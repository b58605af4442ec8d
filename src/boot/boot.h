/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boot endpoints that netbooting servers call, on the boot listener only:
 *   GET /boot/ipxe?mac=&uuid=&buildarch=&platform=   the machine's iPXE script
 *   GET|HEAD /files/<path>                             artifact content
 *   GET|HEAD /media/<deployment token>.iso             a virtual-media ISO (media.h)
 * and the small template engine the scripts are rendered with.
 *
 * No authentication: the only write is registering an unknown MAC as a discovered
 * machine. A request that cannot be served still gets a valid iPXE script that
 * prints the reason and retries after the configured delay, so a misconfigured
 * server never loops at full speed.
 */
#ifndef OUTPOST_BOOT_H
#define OUTPOST_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "http/http.h"
#include "store/store.h"
#include "util/util.h"

/*
 * Query arguments plus header fields a request to the boot listener may have: iPXE
 * sends four arguments and about five headers, curl and wget fewer than ten.
 */
#define BOOT_MAX_FIELDS 32

/* The path prefix of artifacts on the boot listener: FILES_PREFIX + a profile's reference. */
#define FILES_PREFIX "/files/"

/* Largest template file read, in bytes. */
#define TEMPLATE_MAX_BYTES (64 * 1024)
/* Largest rendered script, in bytes. */
#define TEMPLATE_MAX_OUTPUT (256 * 1024)

/*
 * A compiled template: literal text with {{name}} placeholders. Names are 1 to 64
 * letters, digits and underscores; "{{" with no matching "}}", a bad name or a NUL
 * byte is a compile error. There is no escape for a literal "{{", which iPXE scripts
 * never need. A compiled template is read-only, so threads may render it at once.
 */
struct template;

struct template_var {
	const char *name;
	const char *value;
};

/*
 * Compile `len` bytes; the template keeps its own copy. Returns 0 and sets *ret, or
 * -EINVAL with a message naming the byte offset in err (when err is not NULL), or
 * -ENOMEM.
 */
int template_compile(const char *text, size_t len, struct template **ret, char *err,
		     size_t errlen);
/*
 * Append the rendering to out. A placeholder with no variable, or a NULL value, renders
 * empty. Values are inserted as they are: callers pass only validated values. Returns
 * 0 or a buf error, and on error leaves out as it was.
 */
int template_render(const struct template *t, const struct template_var *vars, size_t count,
		    struct buf *out);
/* Accepts NULL; returns NULL. */
struct template *template_free(struct template *t);

struct boot;

/*
 * Load the templates (discovery.ipxe, deploy.ipxe, local.ipxe, retry.ipxe) from
 * conf->template_dir, open conf->artifact_dir and create a reply cache of
 * conf->boot_script_cache_bytes (none when 0). Copies what it needs from conf; the
 * pool stays the caller's and must outlive the boot. Returns 0 or a negative errno
 * with the failing file logged.
 */
int boot_new(const struct conf *conf, struct store_pool *pool, struct boot **ret);
/* Free; stop the listener that uses it first. Accepts NULL; returns NULL. */
struct boot *boot_free(struct boot *boot);
/*
 * Serve the deploy module's agent and cloud-init endpoints and put its tokens into the
 * deploy and discovery scripts. Without it, deploying machines get retry.ipxe.
 */
struct deploy;
void boot_set_deploy(struct boot *boot, struct deploy *dp);
/* Serve the virtual-media ISOs under /media/. Without it, /media/ paths get 404. */
struct media;
void boot_set_media(struct boot *boot, struct media *md);
/*
 * The cache of /boot/ipxe replies: requests served from it and requests that found
 * nothing to reuse since boot_new, and the entries held now with their estimated
 * bytes. Without a cache ([boot] script_cache_bytes = 0) all four stay 0.
 */
struct boot_cache_stats {
	uint64_t hits;
	uint64_t misses;
	size_t entries;
	size_t bytes;
};
void boot_cache_stats(struct boot *boot, struct boot_cache_stats *ret);
/* The boot listener's handler; ctx is the struct boot. */
void boot_handle(struct http_request *req, void *ctx);
/* The boot listener's precheck: POST only with a deploy token (deploy_precheck). */
int boot_precheck(struct http_request *req, void *ctx);

#endif
