/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /api/v1/artifacts: the files bundles brought in (kernels, initrds, disk images),
 * listed, read and deleted by id. Loading artifacts is the bundle module's job.
 */
#include "api/api-internal.h"

#include <errno.h>
#include <stdio.h>

static json_t *
artifact_json(const struct artifact *a)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:o}",
			 "id", (json_int_t)a->id,
			 "name", a->name,
			 "version", a->version,
			 "sha256", a->sha256,
			 "size", (json_int_t)a->size,
			 "path", a->path,
			 "created_at", api_json_time(a->created_at));
}

/* Load the artifact the route's {id} names, replying on failure. Returns 0 or < 0. */
static int
artifact_from_path(struct api_call *call, struct artifact *a)
{
	char quoted[API_QUOTE_MAX + 4];
	uint64_t id;
	int rc;

	api_quote(call->params[0], quoted, sizeof(quoted));
	if (uint_parse(call->params[0], 1, INT64_MAX, &id) < 0) {
		http_reply_error(call->req, 400, "invalid_field",
				 "artifact id \"%s\" must be a positive integer", quoted);
		return -EINVAL;
	}

	rc = store_artifact_get(call->st, (int64_t)id, a);
	if (rc == -ENOENT)
		http_reply_error(call->req, 404, "not_found", "artifact %s not found", quoted);
	else if (rc < 0)
		api_reply_errno(call, rc, NULL, "artifact lookup");
	return rc;
}

static int
list_add(const struct artifact *a, void *arg)
{
	return json_array_append_new(arg, artifact_json(a)) < 0 ? -ENOMEM : 0;
}

void
api_artifacts_list(struct api_call *call)
{
	static const char *const params[] = { NULL };
	struct api_error e;
	json_t *items;
	int rc;

	if (api_query_keys(call, params, &e) < 0) {
		api_reply_error(call, &e);
		return;
	}

	items = json_array();
	if (items == NULL) {
		api_reply_json(call, 200, NULL);
		return;
	}
	rc = store_artifact_list(call->st, list_add, items);
	if (rc < 0) {
		json_decref(items);
		api_reply_errno(call, rc, NULL, "artifact list");
		return;
	}
	api_reply_json(call, 200, json_pack("{s:o}", "items", items));
}

void
api_artifacts_get(struct api_call *call)
{
	struct artifact a;

	if (artifact_from_path(call, &a) < 0)
		return;
	api_reply_json(call, 200, artifact_json(&a));
}

static int
delete_op(struct store *st, void *arg, char *err, size_t errlen)
{
	int64_t id = *(const int64_t *)arg;
	int rc;

	rc = store_artifact_delete(st, id);
	if (rc == -ENOENT) {
		snprintf(err, errlen, "artifact %lld not found", (long long)id);
		return rc;
	}
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);
	return 0;
}

void
api_artifacts_delete(struct api_call *call)
{
	char err[API_DETAIL_SIZE], target[API_TARGET_SIZE];
	struct artifact a;
	int rc;

	if (artifact_from_path(call, &a) < 0)
		return;

	/* NOTE: only the row goes; the content-addressed file stays until a sweep removes it. */
	snprintf(target, sizeof(target), "artifact:%lld", (long long)a.id);
	rc = api_execute(call, "artifact.delete", target, RISK_DESTRUCTIVE, NULL, delete_op,
			 &a.id, err, sizeof(err));
	if (rc < 0) {
		api_reply_errno(call, rc, err, "artifact.delete");
		return;
	}
	http_reply(call->req, 204, NULL, NULL, 0);
}
