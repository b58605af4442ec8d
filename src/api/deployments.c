/* SPDX-License-Identifier: Apache-2.0 */
/* GET /machines/{ref}/deployments and the deployment object of a machine's reply. */
#include "api/api-internal.h"

#include <errno.h>
#include <inttypes.h>

#include "log/log.h"

/* Deployments a listing returns at most, newest first. */
#define DEPLOYMENTS_MAX 20

/* The phases array; the store checked it is JSON, so anything else is logged. */
static json_t *
phases_json(const struct deployment *d)
{
	json_t *phases = json_loads(d->phases != NULL ? d->phases : "[]", 0, NULL);

	if (json_is_array(phases))
		return phases;
	log_warning("api: deployment %" PRId64 " has stored phases that are not an array",
		    d->id);
	json_decref(phases);
	return json_array();
}

json_t *
api_deployment_json(const struct deployment *d)
{
	return json_pack("{s:I, s:s, s:s, s:o, s:b, s:o, s:o, s:o}",
			 "id", (json_int_t)d->id,
			 "state", deployment_state_name(d->state),
			 "phase", d->phase,
			 "reason", api_json_string_or_null(d->reason),
			 "image_written", d->image_written,
			 "phases", phases_json(d),
			 "started_at", api_json_time(d->started_at),
			 "finished_at", d->finished_at > 0 ? api_json_time(d->finished_at) :
							     json_null());
}

static int
deployment_add(const struct deployment *d, void *arg)
{
	json_t *item = api_deployment_json(d);

	return item != NULL && json_array_append_new(arg, item) == 0 ? 0 : -ENOMEM;
}

void
api_machines_deployments(struct api_call *call)
{
	struct machine m = { 0 };
	json_t *items;
	int rc;

	if (api_machine_from_path(call, &m) < 0)
		return;
	items = json_array();
	rc = items != NULL ? store_deployment_list(call->st, m.id, DEPLOYMENTS_MAX, deployment_add,
						   items) : -ENOMEM;
	machine_clear(&m);
	if (rc < 0) {
		json_decref(items);
		api_reply_errno(call, rc, NULL, "deployment listing");
		return;
	}
	api_reply_json(call, 200, json_pack("{s:o}", "items", items));
}
