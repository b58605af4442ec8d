/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deployments, from Outpost's side: the tokens that authenticate the deploy agent and
 * the installed system, the agent's endpoints and the cloud-init NoCloud endpoints on
 * the boot listener, and the watchdog that fails a deployment whose agent went quiet.
 *
 *   POST /agent/v1/inventory     the agent's hardware inventory
 *   GET  /agent/v1/instructions  what a waiting (discovery) agent does next
 *   GET  /agent/v1/deployment    what a deploy agent writes, and where
 *   POST /agent/v1/phase         a phase reached, with its duration
 *   POST /agent/v1/failure       the deployment failed, with the phase and reason
 *   GET  /cloud-init/TOKEN/{meta-data,user-data,vendor-data,network-config}
 *   POST /cloud-init/TOKEN/phone-home
 *
 * A token is "d<deployment id>-<hex>" for a deployment or "m<machine id>-<hex>" for a
 * machine running the discovery ramdisk, where hex is the HMAC-SHA256 of the kind and
 * id under a key kept in the state folder. Nothing is stored per token, so tokens
 * survive a daemon restart; a deployment token stops working for the agent's reports
 * once its deployment has ended or a newer one has started. docs/agent.md has the
 * protocol and the phases.
 */
#ifndef OUTPOST_DEPLOY_H
#define OUTPOST_DEPLOY_H

#include <stdint.h>

#include "conf/conf.h"
#include "http/http.h"
#include "store/store.h"

/* "d" + 19 digits + "-" + 64 hex digits + NUL */
#define DEPLOY_TOKEN_SIZE 88

/* Largest request body on the boot listener: an agent's inventory. */
#define DEPLOY_BODY_MAX (256 * 1024)

#define AGENT_PREFIX "/agent/v1/"
#define CLOUD_INIT_PREFIX "/cloud-init/"

struct deploy;
struct ddi;

/*
 * Load the token key from conf->state_dir (creating it, mode 0600, on first start) and
 * copy what the endpoints need from conf. `ddi` (may be NULL) gives the subnets the
 * network configuration is rendered from; it and the pool must outlive the deploy.
 * Returns 0 or a negative errno with the reason logged.
 */
int deploy_new(const struct conf *conf, struct store_pool *pool, const struct ddi *ddi,
	       struct deploy **ret);
/* Start the watchdog thread. Returns 0 or a negative errno. */
int deploy_start(struct deploy *dp);
/* Stop the watchdog and free. Accepts NULL; returns NULL. */
struct deploy *deploy_free(struct deploy *dp);

/* The token for deployment `id` ('d') or for discovery of machine `id` ('m'). */
void deploy_token(const struct deploy *dp, char kind, int64_t id, char out[DEPLOY_TOKEN_SIZE]);
/* Check a token; sets its kind ('d' or 'm') and id. Returns 0 or -EACCES. */
int deploy_token_check(const struct deploy *dp, const char *token, char *ret_kind,
		       int64_t *ret_id);

/* Most DNS servers a static network lists, as many as a DDI subnet has. */
#define DEPLOY_DNS_MAX 8
/* "255.255.255.255" and a NUL. */
#define DEPLOY_ADDR_TEXT 16

/* The static IPv4 network of a machine's reserved address, from its DDI subnet. */
struct deploy_network {
	char address[DEPLOY_ADDR_TEXT];
	unsigned prefix;
	char gateway[DEPLOY_ADDR_TEXT];         /* "" when the subnet has none */
	char dns[DEPLOY_DNS_MAX][DEPLOY_ADDR_TEXT];
	size_t dns_count;
	const char *domain;                     /* the DNS search domain, "" when none */
};

/*
 * Fill `ret` with the static network of reserved address `ip`: its DDI subnet's
 * prefix, gateway and DNS servers, and the DDI domain. The installed system's
 * network-config and the virtual-media ISO's command line are both rendered from it.
 * Returns 0, or -ENOENT when DDI is off, `ip` is empty or it lies in no subnet.
 */
int deploy_static_network(const struct deploy *dp, const char *ip, struct deploy_network *ret);

/*
 * Give the deploy module the virtual-media ISOs, so that a deployment's ISO is removed
 * when the deployment succeeds or fails. NULL (the default) removes nothing.
 */
struct media;
void deploy_set_media(struct deploy *dp, struct media *md);

/*
 * Called once the image of a virtual-media deployment is written, after its phase was
 * committed, with the worker thread's store connection: the daemon ejects the CD
 * through the machine's BMC, so the server never boots the ISO again.
 */
typedef void (*deploy_media_done_fn)(void *ctx, struct store *st, int64_t machine_id,
				     int64_t deployment_id);
void deploy_set_media_done(struct deploy *dp, deploy_media_done_fn fn, void *ctx);

/*
 * Record that the boot listener served the deploy script of deployment `id`: the
 * first time, the deployment's phase becomes "ipxe-script". Errors are logged only.
 */
void deploy_script_served(struct deploy *dp, int64_t id);

/*
 * The boot listener's early check of a POST, before any body byte is read: only the
 * agent's reports with a valid token and cloud-init's phone-home with a valid seed
 * token may send a body. Returns 0 to go on, or 1 after replying 401, 404 or 405.
 */
int deploy_precheck(struct deploy *dp, struct http_request *req);

/* The boot listener's handler for paths under AGENT_PREFIX and CLOUD_INIT_PREFIX. */
void deploy_handle(struct deploy *dp, struct http_request *req);

#endif
