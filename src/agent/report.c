/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reports to Outpost: phases, failures and the inventory. A report is retried with a
 * growing pause for about two minutes, because the appliance may be restarting; after
 * that the agent goes on without it and Outpost's watchdog decides.
 */
#include "agent/agent.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REPORT_ATTEMPTS 12

void
agent_log(const char *fmt, ...)
{
	char line[1024];
	va_list args;

	va_start(args, fmt);
	vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);
	fprintf(stderr, "outpost-agent: %s\n", line);
}

double
agent_now(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

int
agent_url_join(const struct agent_config *cfg, const char *path, char out[AGENT_URL_MAX])
{
	size_t len = strlen(cfg->url);

	while (len > 0 && cfg->url[len - 1] == '/')
		len--;
	if (snprintf(out, AGENT_URL_MAX, "%.*s%s", (int)len, cfg->url, path) >= AGENT_URL_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * POST body to path until Outpost answers. A 409 (the deployment is over) or another
 * 4xx is final; connection errors and 5xx are retried.
 */
static int
post_report(const struct agent_config *cfg, const char *path, const char *body)
{
	struct agent_request rq = { .method = "POST", .token = cfg->token, .body = body,
				    .timeout_seconds = 20 };
	char url[AGENT_URL_MAX], err[256];
	unsigned pause = 1;
	json_t *reply;
	int status = 0, rc = -EIO;

	if (agent_url_join(cfg, path, url) < 0)
		return -ENAMETOOLONG;
	rq.url = url;
	for (int attempt = 1; attempt <= REPORT_ATTEMPTS; attempt++) {
		rc = agent_http_json(&rq, &reply, &status, err, sizeof(err));
		if (rc == 0 && status / 100 == 2) {
			json_decref(reply);
			return 0;
		}
		if (rc == 0) {
			const char *detail = json_string_value(json_object_get(reply, "detail"));

			agent_log("POST %s: HTTP %d: %s", path, status, detail != NULL ? detail : "");
			json_decref(reply);
			if (status / 100 == 4)
				return status == 409 ? -ESTALE : -EINVAL;
			rc = -EIO;
		} else {
			agent_log("POST %s failed (attempt %d of %d): %s", path, attempt,
				  REPORT_ATTEMPTS, err);
		}
		sleep(pause);
		if (pause < 16)
			pause *= 2;
	}
	return rc;
}

/* Send {"phase", key: text, "seconds"} to path. */
static int
report(const struct agent_config *cfg, const char *path, const char *phase, const char *key,
       const char *text, double seconds)
{
	json_t *obj = json_pack("{s:s, s:s}", "phase", phase, key, text);
	char *body;
	int rc;

	if (obj != NULL && seconds >= 0)
		json_object_set_new(obj, "seconds", json_real(seconds));
	body = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (body == NULL)
		return -ENOMEM;
	rc = post_report(cfg, path, body);
	free(body);
	return rc;
}

int
agent_report_phase(const struct agent_config *cfg, const char *phase, double seconds,
		   const char *detail_fmt, ...)
{
	char detail[256];
	va_list args;

	va_start(args, detail_fmt);
	vsnprintf(detail, sizeof(detail), detail_fmt, args);
	va_end(args);
	agent_log("phase %s (%.3f s) %s", phase, seconds, detail);
	return report(cfg, "/agent/v1/phase", phase, "detail", detail, seconds);
}

int
agent_report_failure(const struct agent_config *cfg, const char *phase, const char *reason_fmt,
		     ...)
{
	char reason[400];
	va_list args;

	va_start(args, reason_fmt);
	vsnprintf(reason, sizeof(reason), reason_fmt, args);
	va_end(args);
	agent_log("FAILED in phase %s: %s", phase, reason);
	return report(cfg, "/agent/v1/failure", phase, "reason", reason, -1);
}

int
agent_report_inventory(const struct agent_config *cfg)
{
	json_t *inventory = NULL, *obj;
	char *body;
	int rc;

	rc = inventory_collect(cfg->root, &inventory);
	if (rc < 0) {
		agent_log("cannot collect the inventory: %s", strerror(-rc));
		return rc;
	}
	obj = json_pack("{s:o}", "inventory", inventory);
	body = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (body == NULL)
		return -ENOMEM;
	rc = post_report(cfg, "/agent/v1/inventory", body);
	free(body);
	if (rc == 0)
		agent_log("inventory reported");
	return rc;
}
