/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /api/v1/audit: the hash-chained audit trail, paged by sequence number, and the
 * verification of the whole chain.
 */
#include "api/api-internal.h"

#include <errno.h>
#include <stdlib.h>

#include "log/log.h"

struct audit_page {
	json_t *items;
	size_t limit;    /* entries wanted; the store is asked for one more */
	size_t count;
	int64_t last_seq;
	bool more;
};

static json_t *
audit_entry_json(const struct audit_entry *entry)
{
	return json_pack("{s:I, s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s}",
			 "seq", (json_int_t)entry->seq,
			 "at", api_json_time(entry->at),
			 "actor", entry->actor != NULL ? entry->actor : "",
			 "action", entry->action != NULL ? entry->action : "",
			 "target", entry->target != NULL ? entry->target : "",
			 "risk", entry->risk != NULL ? entry->risk : "",
			 "outcome", entry->outcome != NULL ? entry->outcome : "",
			 "detail", api_json_from_text(entry->detail, "audit detail"),
			 "prev_hash", entry->prev_hash,
			 "hash", entry->hash);
}

static int
audit_page_add(const struct audit_entry *entry, void *arg)
{
	struct audit_page *page = arg;

	/* The extra entry is not returned: its presence means another page follows. */
	if (page->count == page->limit) {
		page->more = true;
		return 1;
	}
	if (json_array_append_new(page->items, audit_entry_json(entry)) < 0)
		return -ENOMEM;
	page->count++;
	page->last_seq = entry->seq;
	return 0;
}

void
api_audit_list(struct api_call *call)
{
	static const char *const params[] = { "after", "limit", NULL };
	struct audit_page page = { 0 };
	struct api_error e;
	int64_t after;
	json_t *next;
	int rc;

	rc = api_query_keys(call, params, &e);
	if (rc == 0)
		rc = api_query_page(call, &page.limit, &after, &e);
	if (rc < 0) {
		api_reply_error(call, &e);
		return;
	}

	page.items = json_array();
	if (page.items == NULL) {
		api_reply_json(call, 200, NULL);
		return;
	}
	rc = store_audit_list(call->st, after, page.limit + 1, audit_page_add, &page);
	if (rc < 0) {
		json_decref(page.items);
		api_reply_errno(call, rc, NULL, "audit list");
		return;
	}

	next = page.more ? json_integer(page.last_seq) : json_null();
	api_reply_json(call, 200, json_pack("{s:o, s:o}", "items", page.items, "next", next));
}

void
api_audit_verify(struct api_call *call)
{
	static const char *const params[] = { NULL };
	struct audit_report report = { 0 };
	struct api_error e;
	bool intact;
	int rc;

	if (api_query_keys(call, params, &e) < 0) {
		api_reply_error(call, &e);
		return;
	}

	rc = gov_audit_verify(call->st, &report);
	if (rc < 0) {
		api_reply_errno(call, rc, NULL, "audit verify");
		return;
	}

	intact = report.bad_seq == 0;
	if (!intact)
		log_warning("api: audit chain broken bad_seq=%lld: %s", (long long)report.bad_seq,
			    report.reason);
	api_reply_json(call, 200,
		       json_pack("{s:I, s:b, s:o, s:o}",
				 "entries", (json_int_t)report.entries,
				 "intact", intact,
				 "bad_seq", intact ? json_null() : json_integer(report.bad_seq),
				 "reason", intact ? json_null() : json_string(report.reason)));
}
