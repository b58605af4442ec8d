/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Discovery: report the inventory, then ask Outpost what to do until it says reboot
 * (a deployment is pending, and the next netboot runs it). The answer's poll_seconds
 * paces the questions; an unreachable appliance is asked again every 30 s at most.
 */
#include "agent/agent.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int
agent_discover(const struct agent_config *cfg)
{
	struct agent_request rq = { .method = "GET", .token = cfg->token, .timeout_seconds = 20 };
	char url[AGENT_URL_MAX], err[256];
	unsigned pause = 5;

	if (agent_url_join(cfg, "/agent/v1/instructions", url) < 0)
		return -ENAMETOOLONG;
	rq.url = url;
	while (agent_report_inventory(cfg) < 0)
		sleep(30);

	for (;;) {
		const char *action;
		json_t *reply = NULL;
		int status = 0, rc;

		rc = agent_http_json(&rq, &reply, &status, err, sizeof(err));
		action = json_string_value(json_object_get(reply, "action"));
		if (rc == 0 && status == 200 && action != NULL && strcmp(action, "reboot") == 0) {
			json_decref(reply);
			agent_log("Outpost says reboot: a deployment is pending");
			return 0;
		}
		if (rc == 0 && status == 200 && action != NULL && strcmp(action, "wait") == 0) {
			json_int_t poll = json_integer_value(json_object_get(reply, "poll_seconds"));

			pause = poll >= 1 && poll <= 600 ? (unsigned)poll : 5;
		} else if (rc < 0) {
			agent_log("asking for instructions failed: %s", err);
			pause = 30;
		} else {
			agent_log("asking for instructions: HTTP %d", status);
			pause = 30;
		}
		json_decref(reply);
		sleep(pause);
	}
}
