/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The deploy module's set-up, request dispatch and watchdog. The watchdog fails a
 * running deployment that nothing has reported on for [deploy] phase_timeout_seconds,
 * so a server that hangs, or a deployment a daemon restart interrupted, ends in
 * `failed` with the phase it stopped in instead of staying `deploying`.
 */
#include "deploy/deploy-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ddi/ddi.h"
#include "log/log.h"
#include "util/util.h"

/* The watchdog looks at most this often, and at least every quarter of the timeout. */
#define WATCHDOG_MAX_SECONDS 30

int
deploy_new(const struct conf *conf, struct store_pool *pool, const struct ddi *ddi,
	   struct deploy **ret)
{
	struct deploy *dp = calloc(1, sizeof(*dp));
	size_t len;
	int rc;

	if (dp == NULL)
		return -ENOMEM;
	dp->pool = pool;
	dp->ddi = ddi;
	dp->poll_seconds = conf->deploy_poll_seconds;
	dp->phase_timeout_seconds = conf->deploy_phase_timeout_seconds;
	dp->base_url = strdup(conf->boot_url);
	dp->domain = strdup(ddi != NULL ? ddi_settings_get(ddi)->domain : "");
	pthread_mutex_init(&dp->lock, NULL);
	pthread_cond_init(&dp->wake, NULL);
	if (dp->base_url == NULL || dp->domain == NULL) {
		deploy_free(dp);
		return -ENOMEM;
	}
	len = strlen(dp->base_url);
	while (len > 0 && dp->base_url[len - 1] == '/')
		dp->base_url[--len] = '\0';
	/* The DDI domain is canonical, with a trailing dot that a host's FQDN does without. */
	len = strlen(dp->domain);
	if (len > 0 && dp->domain[len - 1] == '.')
		dp->domain[len - 1] = '\0';

	rc = deploy_key_load(conf->state_dir, dp->key);
	if (rc < 0) {
		deploy_free(dp);
		return rc;
	}
	*ret = dp;
	return 0;
}

void
deploy_set_media(struct deploy *dp, struct media *md)
{
	dp->media = md;
}

void
deploy_set_media_done(struct deploy *dp, deploy_media_done_fn fn, void *ctx)
{
	dp->media_done = fn;
	dp->media_done_ctx = ctx;
}

void
deploy_handle(struct deploy *dp, struct http_request *req)
{
	const char *path = http_path(req);

	if (strncmp(path, AGENT_PREFIX, strlen(AGENT_PREFIX)) == 0)
		deploy_agent(dp, req, path + strlen(AGENT_PREFIX));
	else if (strncmp(path, CLOUD_INIT_PREFIX, strlen(CLOUD_INIT_PREFIX)) == 0)
		deploy_cloud_init(dp, req, path + strlen(CLOUD_INIT_PREFIX));
	else
		http_reply_error(req, 404, "not_found", "no endpoint %s", path);
}

/* The token in "Bearer TOKEN", or in the path /cloud-init/TOKEN/phone-home. */
static bool
post_token_valid(struct deploy *dp, const char *path, const char *auth)
{
	char token[DEPLOY_TOKEN_SIZE], kind;
	const char *rest, *slash;
	int64_t id;

	if (strncmp(path, AGENT_PREFIX, strlen(AGENT_PREFIX)) == 0)
		return auth != NULL && strncmp(auth, "Bearer ", 7) == 0 &&
		       deploy_token_check(dp, auth + 7, &kind, &id) == 0;
	rest = path + strlen(CLOUD_INIT_PREFIX);
	slash = strchr(rest, '/');
	if (slash == NULL || (size_t)(slash - rest) >= sizeof(token) ||
	    strcmp(slash, "/phone-home") != 0)
		return false;
	memcpy(token, rest, (size_t)(slash - rest));
	token[slash - rest] = '\0';
	return deploy_token_check(dp, token, &kind, &id) == 0 && kind == 'd';
}

bool
deploy_log_allowed(struct deploy *dp)
{
	int64_t now = time_now();

	if (atomic_exchange(&dp->log_second, now) != now)
		atomic_store(&dp->log_count, 0);
	return atomic_fetch_add(&dp->log_count, 1) < DEPLOY_LOG_BURST;
}

/* Does the request announce a body, through Content-Length or Transfer-Encoding? */
static bool
has_body(struct http_request *req)
{
	const char *length = http_header(req, "Content-Length");

	return http_header(req, "Transfer-Encoding") != NULL ||
	       (length != NULL && strcmp(length, "0") != 0);
}

int
deploy_precheck(struct deploy *dp, struct http_request *req)
{
	const char *path = http_path(req);
	bool agent = strncmp(path, AGENT_PREFIX, strlen(AGENT_PREFIX)) == 0;
	bool seed = strncmp(path, CLOUD_INIT_PREFIX, strlen(CLOUD_INIT_PREFIX)) == 0;
	size_t len = strlen(path);

	/* Only the POSTs below carry a body, so a GET cannot hold the listener's memory. */
	if (strcmp(http_method(req), "POST") != 0) {
		if (!has_body(req))
			return 0;
		http_reply_error(req, 400, "invalid", "%s requests carry no body", http_method(req));
		return 1;
	}
	if (!agent && !(seed && len > 11 && strcmp(path + len - 11, "/phone-home") == 0)) {
		http_add_header(req, "Allow", "GET, HEAD");
		http_reply_error(req, 405, "method_not_allowed", "POST is only for the deploy "
				 "agent's reports and cloud-init's phone-home");
		return 1;
	}
	if (!post_token_valid(dp, path, http_header(req, "Authorization"))) {
		if (deploy_log_allowed(dp))
			log_warning("deploy: rejected POST %s from %s before its body: missing or "
				    "invalid token", agent ? path : CLOUD_INIT_PREFIX, http_peer(req));
		http_reply_error(req, 401, "unauthorized", "a valid token is required");
		return 1;
	}
	return 0;
}

void
deploy_script_served(struct deploy *dp, int64_t id)
{
	struct phase_report report = { .phase = "ipxe-script", .seconds = -1, .detail = "" };
	struct deployment d = { 0 };
	struct store *st = store_pool_get(dp->pool);
	char err[512];
	int rc;

	if (st == NULL)
		return;
	rc = store_deployment_get(st, id, &d);
	if (rc == 0 && d.state == DEPLOYMENT_RUNNING && strcmp(d.phase, "pending") == 0) {
		rc = deploy_phase_record(dp, st, "boot", id, &report, err, sizeof(err));
		if (rc < 0 && rc != -ESTALE)
			log_warning("deploy: cannot record the ipxe-script phase of deployment=%"
				    PRId64 ": %s", id, err);
	}
	deployment_clear(&d);
}

struct overdue {
	int64_t ids[64];
	char phases[64][DEPLOYMENT_PHASE_SIZE];
	size_t count;
	int64_t before;                  /* updated_at older than this is overdue */
};

static int
overdue_collect(const struct deployment *d, void *arg)
{
	struct overdue *o = arg;

	if (d->updated_at >= o->before)
		return 0;
	o->ids[o->count] = d->id;
	memcpy(o->phases[o->count], d->phase, sizeof(o->phases[0]));
	return ++o->count == sizeof(o->ids) / sizeof(o->ids[0]);
}

/* Fail every running deployment that has been silent too long. */
static void
watchdog_sweep(struct deploy *dp, struct store *st)
{
	struct overdue o = { .before = time_now() - (int64_t)dp->phase_timeout_seconds };
	char reason[160], err[512];
	int rc;

	rc = store_deployment_list(st, 0, 0, overdue_collect, &o);
	if (rc < 0) {
		log_err("deploy: watchdog cannot list deployments: %s", store_error(st));
		return;
	}
	for (size_t i = 0; i < o.count; i++) {
		snprintf(reason, sizeof(reason), "timed out: no report for %" PRIu64 " s after "
			 "phase %s", dp->phase_timeout_seconds, o.phases[i]);
		rc = deploy_fail(dp, st, "outpost:watchdog", o.ids[i], o.phases[i], reason, err,
				 sizeof(err));
		if (rc < 0 && rc != -ESTALE)
			log_err("deploy: watchdog cannot fail deployment=%" PRId64 ": %s", o.ids[i],
				err);
	}
}

static void *
watchdog_main(void *arg)
{
	struct deploy *dp = arg;
	uint64_t period = dp->phase_timeout_seconds / 4;
	struct store *st = store_pool_get(dp->pool);

	if (period > WATCHDOG_MAX_SECONDS)
		period = WATCHDOG_MAX_SECONDS;
	if (period == 0)
		period = 1;
	log_info("deploy: watchdog started, phase timeout %" PRIu64 " s", dp->phase_timeout_seconds);
	pthread_mutex_lock(&dp->lock);
	while (!dp->stopping) {
		struct timespec until;

		pthread_mutex_unlock(&dp->lock);
		if (st != NULL)
			watchdog_sweep(dp, st);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)period;
		pthread_mutex_lock(&dp->lock);
		if (!dp->stopping)
			pthread_cond_timedwait(&dp->wake, &dp->lock, &until);
	}
	pthread_mutex_unlock(&dp->lock);
	log_info("deploy: watchdog stopped");
	return NULL;
}

int
deploy_start(struct deploy *dp)
{
	int rc = pthread_create(&dp->watchdog, NULL, watchdog_main, dp);

	if (rc != 0) {
		log_err("deploy: cannot start the watchdog thread: %s", strerror(rc));
		return -rc;
	}
	dp->watchdog_running = true;
	return 0;
}

struct deploy *
deploy_free(struct deploy *dp)
{
	if (dp == NULL)
		return NULL;
	if (dp->watchdog_running) {
		pthread_mutex_lock(&dp->lock);
		dp->stopping = true;
		pthread_cond_signal(&dp->wake);
		pthread_mutex_unlock(&dp->lock);
		pthread_join(dp->watchdog, NULL);
	}
	pthread_mutex_destroy(&dp->lock);
	pthread_cond_destroy(&dp->wake);
	explicit_bzero(dp->key, sizeof(dp->key));
	free(dp->base_url);
	free(dp->domain);
	free(dp);
	return NULL;
}
