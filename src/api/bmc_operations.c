/* SPDX-License-Identifier: Apache-2.0 */
/* /api/v1/bmc-operations: following operations, and batches of reads on many BMCs. */
#include "api/api-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmcman/bmcman.h"

/* The most BMCs a batch names one by one; "all" has no limit. */
#define BATCH_IDS_MAX 10000

/* GET /bmc-operations/{id} */
void
api_bmc_operations_get(struct api_call *call)
{
	char quoted[API_QUOTE_MAX + 4];
	struct bmc_operation op;
	uint64_t id;
	int rc;

	api_quote(call->params[0], quoted, sizeof(quoted));
	if (uint_parse(call->params[0], 1, INT64_MAX, &id) < 0) {
		http_reply_error(call->req, 400, "invalid_field",
				 "operation id \"%s\" must be a positive integer", quoted);
		return;
	}
	rc = store_bmc_op_get(call->st, (int64_t)id, &op);
	if (rc == -ENOENT) {
		http_reply_error(call->req, 404, "not_found", "BMC operation %s not found", quoted);
		return;
	}
	if (rc < 0) {
		api_reply_errno(call, rc, NULL, "BMC operation lookup");
		return;
	}
	api_reply_json(call, 200, api_bmc_op_json(&op));
	bmc_operation_clear(&op);
}

struct op_page {
	json_t *items;
	size_t limit;
	int64_t last_id;
	bool more;
};

static int
page_cb(const struct bmc_operation *op, void *arg)
{
	struct op_page *page = arg;

	if (json_array_size(page->items) == page->limit) {
		page->more = true;
		return 1;
	}
	page->last_id = op->id;
	return json_array_append_new(page->items, api_bmc_op_json(op)) == 0 ? 0 : -ENOMEM;
}

/* Read an optional positive id query parameter into *ret (0 when absent). */
static int
query_id(struct api_call *call, const char *name, int64_t *ret, struct api_error *e)
{
	const char *text = http_query(call->req, name);
	char quoted[API_QUOTE_MAX + 4];
	uint64_t v;

	*ret = 0;
	if (text == NULL)
		return 0;
	api_quote(text, quoted, sizeof(quoted));
	if (uint_parse(text, 1, INT64_MAX, &v) < 0)
		return api_fail(e, 400, "invalid_field", "%s \"%s\" must be a positive integer",
				name, quoted);
	*ret = (int64_t)v;
	return 0;
}

/* GET /bmc-operations[?bmc=ID][&batch=ID][&limit=N][&after=ID] */
void
api_bmc_operations_list(struct api_call *call)
{
	static const char *const keys[] = { "bmc", "batch", "limit", "after", NULL };
	struct bmc_op_filter f = { 0 };
	struct bmc_op_summary sum = { 0 };
	struct op_page page = { 0 };
	struct api_error e;
	json_t *reply, *summary = json_null();
	int rc;

	if (api_query_keys(call, keys, &e) < 0 || query_id(call, "bmc", &f.bmc_id, &e) < 0 ||
	    query_id(call, "batch", &f.batch, &e) < 0 ||
	    api_query_page(call, &page.limit, &f.after_id, &e) < 0) {
		api_reply_error(call, &e);
		return;
	}
	/* One row more than the page, to learn whether a next page exists. */
	f.limit = page.limit + 1;
	page.items = json_array();
	rc = page.items != NULL ? store_bmc_op_list(call->st, &f, page_cb, &page) : -ENOMEM;
	if (rc > 0)
		rc = 0;
	if (rc == 0 && f.batch > 0) {
		rc = store_bmc_op_summary(call->st, f.batch, &sum);
		summary = json_pack("{s:I, s:I, s:I, s:I}", "queued", (json_int_t)sum.queued,
				    "running", (json_int_t)sum.running, "succeeded",
				    (json_int_t)sum.succeeded, "failed", (json_int_t)sum.failed);
	}
	if (rc < 0) {
		json_decref(page.items);
		json_decref(summary);
		api_reply_errno(call, rc, NULL, "BMC operation list");
		return;
	}
	reply = json_pack("{s:o, s:o, s:o}", "items", page.items, "next",
			  page.more ? json_integer(page.last_id) : json_null(), "summary", summary);
	api_reply_json(call, 200, reply);
}

/* Read the batch's "bmcs": "all" (NULL ids) or an array of ids. Returns 0 or -EINVAL. */
static int
batch_ids(const json_t *bmcs, int64_t **ret, size_t *ret_count, struct api_error *e)
{
	size_t i, n = json_array_size(bmcs);
	json_t *v;

	*ret = NULL;
	*ret_count = 0;
	if (json_is_string(bmcs) && strcmp(json_string_value(bmcs), "all") == 0)
		return 0;
	if (!json_is_array(bmcs) || n == 0 || n > BATCH_IDS_MAX)
		return api_fail(e, 400, "invalid_field", "bmcs must be \"all\" or an array of 1 "
				"to %d BMC ids", BATCH_IDS_MAX);
	*ret = calloc(n, sizeof(**ret));
	if (*ret == NULL)
		return api_fail(e, 500, "internal", "out of memory");
	json_array_foreach(bmcs, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0) {
			free(*ret);
			*ret = NULL;
			return api_fail(e, 400, "invalid_field", "bmcs[%zu] is not a BMC id", i);
		}
		(*ret)[i] = json_integer_value(v);
		/* A BMC named twice would queue its reads twice, ahead of its other work. */
		for (size_t j = 0; j < i; j++) {
			if ((*ret)[j] == (*ret)[i]) {
				free(*ret);
				*ret = NULL;
				return api_fail(e, 400, "invalid_field", "bmcs[%zu] repeats BMC %"
						JSON_INTEGER_FORMAT "; name each BMC once", i,
						json_integer_value(v));
			}
		}
	}
	*ret_count = n;
	return 0;
}

/* POST /bmc-operations {"operation": "sensors", "bmcs": "all" | [ids]} */
void
api_bmc_operations_batch(struct api_call *call)
{
	static const char *const keys[] = { "operation", "bmcs", NULL };
	char name[32] = "", quoted[API_QUOTE_MAX + 4], err[API_DETAIL_SIZE] = "";
	struct bmcman *m = api_bmcman(call);
	enum bmc_op_kind kind = BMC_OP_KIND_INVALID;
	int64_t *ids = NULL, batch = 0;
	size_t count = 0, queued = 0;
	struct api_error e;
	json_t *body = NULL;
	int rc;

	if (m == NULL)
		return;
	rc = api_request_object(call, false, &body, &e);
	if (rc == 0)
		rc = api_json_keys(body, keys, NULL, &e);
	if (rc == 0)
		rc = api_json_string(body, "operation", sizeof(name) - 1, name, sizeof(name), &e);
	if (rc >= 0) {
		kind = bmc_op_kind_parse(name);
		api_quote(name, quoted, sizeof(quoted));
		rc = kind == BMC_OP_KIND_INVALID ?
			     api_fail(&e, 400, "invalid_field", "unknown operation \"%s\"", quoted) :
			     batch_ids(json_object_get(body, "bmcs"), &ids, &count, &e);
	}
	json_decref(body);
	if (rc < 0) {
		api_reply_error(call, &e);
		return;
	}
	rc = bmcman_queue_batch(m, call->st, call->actor, kind, ids, count, &batch, &queued, err,
				sizeof(err));
	free(ids);
	if (rc == -ENOENT)
		http_reply_error(call->req, 404, "not_found", "%s", err);
	else if (rc < 0)
		api_reply_errno(call, rc, err, "BMC batch");
	else
		api_reply_json(call, 202, json_pack("{s:I, s:I}", "batch", (json_int_t)batch,
						    "operations", (json_int_t)queued));
}
