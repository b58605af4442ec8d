/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Virtual-media ISOs: the boot CD a BMC inserts for a deployment that must not depend
 * on DHCP. Each ISO contains the deploy ramdisk's kernel and initrd, the two El Torito
 * images of the newest ramdisk bundle (GRUB for BIOS and for UEFI, from
 * bootenv/cdboot) and /outpost/grub.cfg, whose one menu entry boots the kernel with the
 * deployment's orders: Outpost's URL, the deployment's token, the boot NIC and the
 * machine's static network.
 *
 * ISOs are built with xorriso into STATE_DIR/media (mode 0700), named by deployment
 * id (d<id>.iso), and served on the boot listener as GET and HEAD
 * /media/<deployment token>.iso, with Range support, because BMCs read an ISO in
 * pieces. The token in the path authorises the read, so the file names never contain
 * it and nothing logs the path. An ISO is removed once its deployment has written the
 * image, succeeds, fails or is replaced (lifecycle.c, the deploy route), and a start
 * removes the ISOs that no deployment needs any more.
 */
#ifndef OUTPOST_MEDIA_H
#define OUTPOST_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "deploy/deploy.h"
#include "http/http.h"
#include "store/store.h"

/* The path prefix of ISOs on the boot listener. */
#define MEDIA_PREFIX "/media/"
/* The folder under state_dir that contains the ISOs. */
#define MEDIA_DIR_NAME "media"
/* Maximum length of a kernel command line: COMMAND_LINE_SIZE of Linux on x86, less its NUL. */
#define MEDIA_CMDLINE_MAX 2047
/* Seconds xorriso may take for one ISO before it is killed. */
#define MEDIA_BUILD_TIMEOUT_SECONDS 30
/* Size of an ISO's URL: the boot URL, the prefix, a token and ".iso". */
#define MEDIA_URL_SIZE 2048

/* The values on the kernel command line of one deployment's ISO. */
struct media_cmdline {
	const char *base_url;            /* the boot listener's URL, no trailing slash */
	const char *token;               /* the deployment's token */
	const char *mac;                 /* the boot NIC, canonical: lower case, colons */
	const struct deploy_network *net;
	const char *console;             /* [deploy] console, may be "" */
	const char *extra;               /* the profile's command line, may be "" */
};

/*
 * Build the command line into `out`: outpost.url, outpost.mode=deploy, outpost.token,
 * BOOTIF=01-<mac with hyphens>, outpost.ip=ADDRESS/PREFIX, outpost.gateway (when the
 * subnet has one) and outpost.dns (a comma list, when it has servers), then the
 * console and the profile's words. Every word must pass cmdline_check, because the
 * ISO's grub.cfg quotes each word only with single quotes. Returns 0, or -EINVAL
 * (a value with a character the check rejects, naming it) or -E2BIG (longer than
 * MEDIA_CMDLINE_MAX) with the reason in err.
 */
int media_cmdline_build(const struct media_cmdline *in, char *out, size_t size, char *err,
			size_t errlen);

/*
 * Parse the name after MEDIA_PREFIX: "<token>.iso", with a token of letters, digits
 * and '-' shorter than DEPLOY_TOKEN_SIZE. Only the form is checked here, not the
 * token. Returns 0 with the token in `token`, or -EINVAL.
 */
int media_name_parse(const char *name, char token[DEPLOY_TOKEN_SIZE]);

struct media;

/*
 * Create STATE_DIR/media (mode 0700) and remove what is stale there: temporary files
 * of builds a crash interrupted, and the ISOs of deployments that are not running.
 * Finds xorriso on PATH; without it the daemon starts and each build fails naming the
 * package. `dp` gives the tokens and static networks and must outlive the media; the
 * pool is read during this call only. Returns 0 or a negative errno, logged.
 */
int media_new(const struct conf *conf, struct store_pool *pool, struct deploy *dp,
	      struct media **ret);
/* Free. Accepts NULL; returns NULL. */
struct media *media_free(struct media *md);

/*
 * Build the ISO of deployment `d` of machine `m` (both as they will be committed), in
 * the caller's transaction on `st`, and write its URL to url. A previous ISO of the
 * deployment is replaced, and a failed build leaves no ISO under the final name.
 * Returns 0 or a negative errno with the reason in err. -EEXIST means that something
 * the ISO needs is missing: a MAC, a reserved address in a DHCP/DNS subnet, a ramdisk
 * bundle with the CD boot images, or the profile's kernel or initrd. -ENOEXEC means
 * xorriso is not installed, -ETIMEDOUT and -EIO that it timed out or failed (its
 * messages quoted), and -ENOSPC that the disk is full.
 */
int media_build(struct media *md, struct store *st, const struct machine *m,
		const struct deployment *d, char url[MEDIA_URL_SIZE], char *err, size_t errlen);

/*
 * Write the URL of deployment_id's ISO, which contains the deployment's token, so it is
 * a secret: never log or store it. Returns 0, or -E2BIG when it exceeds MEDIA_URL_SIZE.
 */
int media_url(struct media *md, int64_t deployment_id, char url[MEDIA_URL_SIZE]);

/*
 * Remove deployment_id's ISO, if any. Accepts a NULL md. Errors are logged. Returns
 * true when the deployment had an ISO, so it boots through virtual media.
 */
bool media_remove(struct media *md, int64_t deployment_id);

/*
 * The boot listener's handler for GET and HEAD under MEDIA_PREFIX: the ISO of the
 * deployment whose token the name carries, 404 for any other name.
 */
void media_serve(struct media *md, struct http_request *req);

#endif
