/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keeping PowerDNS's A and PTR records in step with the machines. Each pass builds
 * the records the store calls for and compares them with what PowerDNS contains of
 * Outpost's: read back after a start, a failure or on resync, remembered otherwise.
 * Only the differences are sent, as batched RRset PATCH requests, because a request's
 * fixed cost dominates: PowerDNS 4.7.3 with gsqlite3 took 1.5 ms for one RRset, 2 ms
 * for 100 and 10 ms for 1,000 on the machine in docs/benchmarks.md. A request body
 * may be at most 2 MB, which 1,000 RRsets stay well under.
 *
 * An RRset is Outpost's when its comment account is "outpost". Outpost never changes
 * any other RRset: one at a name a machine wants is recorded as a conflict.
 *
 * The zones Outpost creates have api_rectify off, so a PATCH costs PowerDNS only the
 * RRsets it carries. Each zone a pass changed is rectified once at the end of the
 * pass, and every zone after a start or a failure, because one that was changed
 * before may not have been rectified. Until then, a query for an empty non-terminal
 * that a new PTR needs (such as 1.77.10.in-addr.arpa.) gets NXDOMAIN instead of
 * NODATA.
 */
#include "ddi/ddi-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "util/util.h"

/* RRsets per PATCH request. */
#define DNS_BATCH 500

int
ddi_records_add(struct ddi_records *records, const struct ddi_record *rec)
{
	struct ddi_record *items = array_grow(records->items, &records->capacity, records->count,
					      sizeof(*items), 256);

	if (items == NULL)
		return -ENOMEM;
	records->items = items;
	records->items[records->count++] = *rec;
	return 0;
}

void
ddi_records_free(struct ddi_records *records)
{
	free(records->items);
	memset(records, 0, sizeof(*records));
}

void
ddi_dns_state_free(struct ddi_dns_state *dns)
{
	ddi_records_free(&dns->mirror);
	dns->mirror_valid = false;
	dns->zones_ready = false;
}

static int
record_cmp(const void *a, const void *b)
{
	const struct ddi_record *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->type, y->type);
}

static void
records_sort(struct ddi_records *records)
{
	if (records->count > 1)
		qsort(records->items, records->count, sizeof(records->items[0]), record_cmp);
}

static int
record_push(struct ddi_records *want, size_t zone, const char *name, const char *type,
	    const char *content, uint64_t ttl, int64_t machine_id)
{
	struct ddi_record rec = { .zone = zone, .ttl = (int64_t)ttl, .ours = true,
				  .machine_id = machine_id };

	snprintf(rec.name, sizeof(rec.name), "%s", name);
	snprintf(rec.type, sizeof(rec.type), "%s", type);
	snprintf(rec.content, sizeof(rec.content), "%s", content);
	return ddi_records_add(want, &rec);
}

/* The records the store calls for, sorted, with no name and type twice. */
static int
desired_build(struct ddi *ddi, const struct ddi_hosts *hosts, bool resync,
	      struct ddi_records *want)
{
	const struct ddi_settings *s = &ddi->settings;
	uint64_t ttl = ddi->config.ttl;
	char server[DDI_ADDR_TEXT];
	size_t kept = 0;
	int r;

	r = record_push(want, 0, ddi->pdns.nameserver, "A", ddi_addr_format(s->server, server), ttl,
			0);
	for (size_t i = 0; r == 0 && i < hosts->count; i++) {
		const struct ddi_host *h = &hosts->items[i];
		char fqdn[DDI_NAME_SIZE], reverse[DDI_NAME_SIZE];
		const struct ddi_zone *zone;
		uint32_t addr;

		if (h->hostname[0] == '\0' || h->ip[0] == '\0' || ddi_addr_parse(h->ip, &addr) < 0)
			continue;
		/* The API rejects such names, but a longer domain can make one too long. */
		if (ddi_fqdn(s, h->hostname, fqdn) < 0) {
			if (resync)
				log_warning("ddi: machine=%" PRId64 " host name %s is too long with "
					    "the domain; it gets no DNS records", h->id, h->hostname);
			continue;
		}
		r = record_push(want, 0, fqdn, "A", h->ip, ttl, h->id);
		zone = ddi_reverse_zone(s, addr);
		if (r == 0 && zone != NULL) {
			ddi_reverse_name(addr, reverse);
			r = record_push(want, 1 + (size_t)(zone - s->zones), reverse, "PTR", fqdn, ttl,
					h->id);
		}
	}
	if (r < 0)
		return r;

	/* A host named like the zones' name server loses to it; the store keeps names unique. */
	records_sort(want);
	for (size_t i = 0; i < want->count; i++) {
		if (kept > 0 && record_cmp(&want->items[kept - 1], &want->items[i]) == 0) {
			log_warning("ddi: DNS name %s %s is wanted twice; keeping the first",
				    want->items[i].name, want->items[i].type);
			continue;
		}
		want->items[kept++] = want->items[i];
	}
	want->count = kept;
	return 0;
}

static const char *
zone_name(const struct ddi *ddi, size_t zone)
{
	return zone == 0 ? ddi->settings.domain : ddi->settings.zones[zone - 1].name;
}

/* Read what PowerDNS contains of Outpost's: RRsets it marked, or at names it wants. */
static int
current_read(struct ddi *ddi, const struct ddi_records *want, struct ddi_records *have,
	     char *err, size_t errlen)
{
	struct ddi_records all = { 0 };
	int r = 0;

	for (size_t zone = 0; r == 0 && zone <= ddi->settings.zone_count; zone++) {
		char path[DDI_NAME_SIZE + 16];
		struct buf reply;
		long status;

		snprintf(path, sizeof(path), "/zones/%s", zone_name(ddi, zone));
		r = ddi_pdns_request(&ddi->pdns, "GET", path, NULL, &status, &reply, err, errlen);
		if (r < 0)
			break;
		r = ddi_pdns_zone_parse(reply.data, reply.len, zone, &all, err, errlen);
		buf_free(&reply);
	}

	for (size_t i = 0; r == 0 && i < all.count; i++) {
		const struct ddi_record *rec = &all.items[i];

		if (rec->ours || bsearch(rec, want->items, want->count, sizeof(*rec), record_cmp))
			r = ddi_records_add(have, rec);
	}
	ddi_records_free(&all);
	if (r == 0)
		records_sort(have);
	return r;
}

/* Pending changes, one array of RRsets per zone. */
struct batch {
	struct ddi *ddi;
	struct store *st;                   /* for conflicts */
	int64_t rejected;                   /* RRsets PowerDNS rejected one by one */
	json_t *rrsets[1 + DDI_ZONES_MAX];
	bool patched[1 + DDI_ZONES_MAX];    /* a PATCH went to the zone, so it needs rectifying */
	int64_t changed;
	int64_t start_ms;                   /* monotonic, when the first PATCH went out */
	char *err;
	size_t errlen;
};

/*
 * Keep the RRsets sent in this pass under [pdns] max_rrsets_per_second. PowerDNS
 * answers queries and API writes on the same cores, so a burst of writes costs query
 * throughput; a steady rate spreads it. The wait ends early when the daemon stops.
 */
static void
pace(struct batch *b)
{
	int64_t limit = b->ddi->pdns_rate, now = ddi_now_ms(), due;
	struct pollfd wake = { .fd = b->ddi->wake_fd, .events = POLLIN };

	if (b->start_ms == 0)
		b->start_ms = now;
	if (limit <= 0 || b->changed == 0)
		return;
	due = b->start_ms + b->changed * 1000 / limit;
	if (due > now && !atomic_load(&b->ddi->stop))
		poll(&wake, 1, (int)(due - now));
}

/*
 * The IPv4 address an A or PTR RRset is about, the key of its conflicts: an A
 * record's content, or the address a PTR owner name spells backwards.
 */
static void
record_address(const char *name, const char *type, const char *content,
	       char out[IP_TEXT_SIZE])
{
	unsigned a, b, c, d;
	char rest[16];

	out[0] = '\0';
	if (type != NULL && strcmp(type, "A") == 0 && content != NULL && strlen(content) < IP_TEXT_SIZE)
		snprintf(out, IP_TEXT_SIZE, "%s", content);
	else if (type != NULL && strcmp(type, "PTR") == 0 && name != NULL &&
		 sscanf(name, "%u.%u.%u.%u.%15s", &d, &c, &b, &a, rest) == 5 &&
		 strcmp(rest, "in-addr.arpa.") == 0 && (a | b | c | d) <= 255)
		snprintf(out, IP_TEXT_SIZE, "%u.%u.%u.%u", a, b, c, d);
}

/* Record an RRset PowerDNS rejected, logging it the first time only. */
static void
rejected_record(struct batch *b, const json_t *rrset, const char *why)
{
	struct ddi_conflict c = { 0 };
	int64_t count = 0;

	const char *name = json_string_value(json_object_get(rrset, "name"));
	const char *type = json_string_value(json_object_get(rrset, "type"));
	const json_t *records = json_object_get(rrset, "records");

	snprintf(c.kind, sizeof(c.kind), "dns-rejected");
	record_address(name, type,
		       json_string_value(json_object_get(json_array_get(records, 0), "content")),
		       c.address);
	snprintf(c.detail, sizeof(c.detail), "PowerDNS rejected %.200s %s: %s",
		 name != NULL ? name : "?", type != NULL ? type : "?", why);
	text_sanitize(c.detail);
	if (store_ddi_conflict_record(b->st, &c, &count) < 0)
		log_err("ddi: failed to record a conflict: %s", store_error(b->st));
	if (count <= 1)
		log_warning("ddi: conflict: %s", c.detail);
	b->rejected++;
}

/* Send a rejected batch's RRsets one by one, recording each that PowerDNS rejects. */
static int
batch_split(struct batch *b, size_t zone, const char *path)
{
	size_t i;
	json_t *rrset;

	json_array_foreach(b->rrsets[zone], i, rrset) {
		struct buf reply;
		json_t *body = json_pack("{s:[O]}", "rrsets", rrset);
		char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
		long status = 0;
		int r;

		json_decref(body);
		if (text == NULL)
			return -ENOMEM;
		r = ddi_pdns_request(&b->ddi->pdns, "PATCH", path, text, &status, &reply, b->err,
				     b->errlen);
		free(text);
		if (r == 0)
			buf_free(&reply);
		else if (r == -EPROTO && status == 422)
			rejected_record(b, rrset, b->err);
		else
			return r;
	}
	b->err[0] = '\0';
	return 0;
}

static int
batch_flush(struct batch *b, size_t zone)
{
	char path[DDI_NAME_SIZE + 16];
	struct buf reply;
	json_t *body;
	char *text;
	long status;
	int r;

	if (b->rrsets[zone] == NULL || json_array_size(b->rrsets[zone]) == 0)
		return 0;
	body = json_pack("{s:O}", "rrsets", b->rrsets[zone]);
	text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL)
		return -ENOMEM;

	pace(b);
	b->patched[zone] = true;
	snprintf(path, sizeof(path), "/zones/%s", zone_name(b->ddi, zone));
	r = ddi_pdns_request(&b->ddi->pdns, "PATCH", path, text, &status, &reply, b->err,
			     b->errlen);
	free(text);
	/* A PATCH is all or nothing, so one RRset PowerDNS rejects must not hold up the rest. */
	if (r == -EPROTO && status == 422)
		r = batch_split(b, zone, path);
	if (r < 0)
		return r;
	if (status != 422)
		buf_free(&reply);
	b->changed += (int64_t)json_array_size(b->rrsets[zone]);
	json_array_clear(b->rrsets[zone]);
	return 0;
}

static int
batch_add(struct batch *b, const struct ddi_record *rec, bool replace)
{
	int r;

	if (b->rrsets[rec->zone] == NULL && (b->rrsets[rec->zone] = json_array()) == NULL)
		return -ENOMEM;
	r = ddi_pdns_rrset_append(b->rrsets[rec->zone], rec, replace, b->ddi->config.ttl);
	if (r == 0 && json_array_size(b->rrsets[rec->zone]) >= DNS_BATCH)
		r = batch_flush(b, rec->zone);
	return r;
}

static bool
record_differs(const struct ddi_record *want, const struct ddi_record *have)
{
	return want->zone != have->zone || want->ttl != have->ttl ||
	       strcmp(want->content, have->content) != 0;
}

/* Record a wanted name that an RRset the operator made already uses. */
static void
taken_record(struct batch *b, const struct ddi_record *want)
{
	struct ddi_conflict c = { 0 };
	int64_t count = 0;

	snprintf(c.kind, sizeof(c.kind), "dns-name-taken");
	record_address(want->name, want->type, want->content, c.address);
	c.machine_id = want->machine_id;
	snprintf(c.detail, sizeof(c.detail), "%.150s %s exists in PowerDNS without Outpost's "
		 "mark; it is left alone, so machine %" PRId64 " gets no %s record there",
		 want->name, want->type, want->machine_id, want->type);
	if (store_ddi_conflict_record(b->st, &c, &count) < 0)
		log_err("ddi: failed to record a conflict: %s", store_error(b->st));
	if (count <= 1)
		log_warning("ddi: conflict: %s", c.detail);
}

/*
 * Send what it takes to turn `have` into `want`; both are sorted. RRsets without
 * Outpost's mark are never changed: one at a wanted name is a conflict and stays in
 * `next`, the new mirror, as it is. `patched` gets true for each zone a PATCH went to.
 */
static int
changes_push(struct ddi *ddi, struct store *st, const struct ddi_records *want,
	     const struct ddi_records *have, struct ddi_records *next,
	     bool patched[1 + DDI_ZONES_MAX], int64_t *ret_changed, int64_t *ret_rejected,
	     char *err, size_t errlen)
{
	struct batch b = { .ddi = ddi, .st = st, .err = err, .errlen = errlen };
	size_t i = 0, j = 0;
	int r = 0;

	while (r == 0 && (i < want->count || j < have->count)) {
		int c = i == want->count ? 1
			: j == have->count ? -1
			: record_cmp(&want->items[i], &have->items[j]);

		if (c < 0) {
			r = batch_add(&b, &want->items[i], true);
			if (r == 0)
				r = ddi_records_add(next, &want->items[i]);
			i++;
		} else if (c > 0) {
			if (have->items[j].ours)
				r = batch_add(&b, &have->items[j], false);
			j++;
		} else if (!have->items[j].ours) {
			taken_record(&b, &want->items[i]);
			r = ddi_records_add(next, &have->items[j]);
			i++;
			j++;
		} else {
			if (record_differs(&want->items[i], &have->items[j]))
				r = batch_add(&b, &want->items[i], true);
			if (r == 0)
				r = ddi_records_add(next, &want->items[i]);
			i++;
			j++;
		}
	}
	for (size_t zone = 0; r == 0 && zone <= ddi->settings.zone_count; zone++)
		r = batch_flush(&b, zone);
	for (size_t zone = 0; zone <= DDI_ZONES_MAX; zone++) {
		json_decref(b.rrsets[zone]);
		patched[zone] = b.patched[zone];
	}
	*ret_changed = b.changed;
	*ret_rejected = b.rejected;
	return r;
}

/* Rectify each zone marked in `patched`, or every zone when `all` is true. */
static int
zones_rectify(struct ddi *ddi, const bool patched[1 + DDI_ZONES_MAX], bool all, char *err,
	      size_t errlen)
{
	int r = 0;

	for (size_t zone = 0; r == 0 && zone <= ddi->settings.zone_count; zone++)
		if (all || patched[zone])
			r = ddi_pdns_zone_rectify(&ddi->pdns, zone_name(ddi, zone), err, errlen);
	return r;
}

/* True when `want` has a name and type that `mirror` lacks; both are sorted. */
static bool
names_new(const struct ddi_records *want, const struct ddi_records *mirror)
{
	size_t j = 0;

	for (size_t i = 0; i < want->count; i++) {
		int c = 1;

		while (j < mirror->count && (c = record_cmp(&mirror->items[j], &want->items[i])) < 0)
			j++;
		if (j == mirror->count || c != 0)
			return true;
	}
	return false;
}

void
ddi_dns_pass(struct ddi *ddi, struct store *st, const struct ddi_hosts *hosts, bool resync)
{
	struct ddi_dns_state *dns = &ddi->dns;
	struct ddi_records want = { 0 }, have = { 0 }, next = { 0 };
	const struct ddi_records *base = &dns->mirror;
	/* After a start or a failure, a zone may have been changed and not rectified. */
	bool rectify_all = !dns->mirror_valid, patched[1 + DDI_ZONES_MAX] = { false };
	int64_t changed = 0, rejected = 0, start = ddi_now_ms(), rectify_ms = 0;
	char err[1024] = "";
	int r;

	r = desired_build(ddi, hosts, resync, &want);
	if (r == 0 && !dns->zones_ready)
		r = ddi_pdns_zones_ensure(&ddi->pdns, &ddi->settings, err, sizeof(err));
	/*
	 * The mirror covers Outpost's own RRsets only, so a name new to it may be one the
	 * operator made since the last read: read PowerDNS again before writing one.
	 */
	if (r == 0 && (resync || !dns->mirror_valid || names_new(&want, &dns->mirror))) {
		r = current_read(ddi, &want, &have, err, sizeof(err));
		base = &have;
	}
	if (r == 0)
		r = changes_push(ddi, st, &want, base, &next, patched, &changed, &rejected, err,
				 sizeof(err));
	if (r == 0) {
		rectify_ms = ddi_now_ms();
		r = zones_rectify(ddi, patched, rectify_all, err, sizeof(err));
		rectify_ms = ddi_now_ms() - rectify_ms;
	}

	if (r < 0) {
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "%s", strerror(-r));
		dns->zones_ready = false;
		dns->mirror_valid = false;
		ddi_retry_schedule(&ddi->dns_retry);
		log_warning("ddi: DNS update failed, retrying in %" PRId64 " ms: %s",
			    ddi->dns_retry.backoff_ms, err);
		ddi_service_update(ddi, &ddi->status.dns, err, 0);
		ddi_records_free(&want);
		ddi_records_free(&have);
		ddi_records_free(&next);
		return;
	}

	if (changed > 0)
		log_info("ddi: DNS records updated rrsets=%" PRId64 " rejected=%" PRId64
			 " records=%zu rectify_ms=%" PRId64 " total_ms=%" PRId64, changed, rejected,
			 want.count, rectify_ms, ddi_now_ms() - start);
	ddi_records_free(&dns->mirror);
	/*
	 * `next` lists rejected RRsets as sent, so they are tried again on resync only: a
	 * retry on every pass would record the conflict, commit, and so start another pass.
	 */
	dns->mirror = next;
	dns->mirror_valid = true;
	dns->zones_ready = true;
	ddi_retry_reset(&ddi->dns_retry);
	ddi_service_update(ddi, &ddi->status.dns, NULL, (int64_t)want.count);
	ddi_records_free(&want);
	ddi_records_free(&have);
}
