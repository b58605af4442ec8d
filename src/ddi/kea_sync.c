/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bringing Kea to the generated configuration: compare what Kea runs with what it
 * should run, then config-test, config-set and, only after both succeeded,
 * config-write, so the file Kea starts from next time is the one it already runs.
 */
#include "ddi/ddi-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "util/util.h"

/*
 * config-set with 10,000 reservations took 0.25 s on the machine in
 * docs/benchmarks.md. A hung Kea holds up the DNS side and shutdown this long.
 */
#define KEA_TIMEOUT_MS 10000

/* True for a member Kea reports when it was not set: absent, "" or "0.0.0.0". */
static bool
unset(const char *value)
{
	return value == NULL || value[0] == '\0' || strcmp(value, "0.0.0.0") == 0;
}

/*
 * Compare one string member of two objects. config-get fills in defaults, such as
 * "next-server": "0.0.0.0" for a class that sets none, so those count as unset.
 */
static bool
member_differs(const json_t *want, const json_t *have, const char *key)
{
	const char *a = json_string_value(json_object_get(want, key));
	const char *b = json_string_value(json_object_get(have, key));

	if (unset(a))
		return !unset(b);
	return b == NULL || strcmp(a, b) != 0;
}

/* The members compared for each option and each client class. */
static const char *const option_members[] = { "data", NULL };
static const char *const class_members[] = { "test", "boot-file-name", "next-server", NULL };

/* Index an array of objects by a string member. */
static json_t *
index_by(const json_t *array, const char *key)
{
	json_t *index = json_object();
	size_t i;
	json_t *item;

	json_array_foreach(array, i, item) {
		const char *name = json_string_value(json_object_get(item, key));

		if (name != NULL)
			json_object_set(index, name, item);
	}
	return index;
}

/*
 * Compare two arrays of objects that carry a "name", such as option-data or client
 * classes: every object of `want` must have a match in `have` with the same `members`.
 * With `same_count`, `have` may hold no extra objects either. `what` names the kind in
 * `why`.
 */
static bool
named_differ(const json_t *want, const json_t *have, const char *const *members,
	     bool same_count, const char *what, char *why, size_t size)
{
	json_t *index = index_by(have, "name");
	bool differs = false;
	size_t i;
	json_t *item;

	json_array_foreach(want, i, item) {
		const char *name = json_string_value(json_object_get(item, "name"));
		json_t *other = json_object_get(index, name);

		for (size_t m = 0; !differs && members[m] != NULL; m++)
			differs = other == NULL || member_differs(item, other, members[m]);
		if (differs) {
			snprintf(why, size, "%s %s differs", what, name);
			break;
		}
	}
	if (!differs && same_count && json_array_size(want) != json_array_size(have)) {
		snprintf(why, size, "%zu %s entries, expected %zu", json_array_size(have), what,
			 json_array_size(want));
		differs = true;
	}
	json_decref(index);
	return differs;
}

static bool
reservations_differ(const json_t *want, const json_t *have, const char *subnet, char *why,
		    size_t size)
{
	json_t *index = index_by(have, "hw-address");
	bool differs = false;
	size_t i;
	json_t *r;

	json_array_foreach(want, i, r) {
		const char *mac = json_string_value(json_object_get(r, "hw-address"));
		json_t *other = json_object_get(index, mac);

		if (other == NULL) {
			snprintf(why, size, "subnet %s: reservation for %s is missing", subnet, mac);
			differs = true;
		} else if (member_differs(r, other, "ip-address") ||
			   member_differs(r, other, "hostname")) {
			snprintf(why, size, "subnet %s: reservation for %s differs", subnet, mac);
			differs = true;
		}
		if (differs)
			break;
	}
	if (!differs && json_array_size(want) != json_array_size(have)) {
		snprintf(why, size, "subnet %s: %zu reservations, expected %zu", subnet,
			 json_array_size(have), json_array_size(want));
		differs = true;
	}
	json_decref(index);
	return differs;
}

/* Each client class of `want` must carry the same options in `have` as well. */
static bool
class_options_differ(const json_t *want, const json_t *have, char *why, size_t size)
{
	json_t *index = index_by(have, "name");
	bool differs = false;
	size_t i;
	json_t *class;

	json_array_foreach(want, i, class) {
		json_t *other = json_object_get(index, json_string_value(json_object_get(class,
										     "name")));

		differs = named_differ(json_object_get(class, "option-data"),
				       json_object_get(other, "option-data"), option_members, true,
				       "class option", why, size);
		if (differs)
			break;
	}
	json_decref(index);
	return differs;
}

static bool
pools_differ(const json_t *want, const json_t *have)
{
	if (json_array_size(want) != json_array_size(have))
		return true;
	for (size_t i = 0; i < json_array_size(want); i++)
		if (member_differs(json_array_get(want, i), json_array_get(have, i), "pool"))
			return true;
	return false;
}

static bool
subnets_differ(const json_t *want, const json_t *have, char *why, size_t size)
{
	size_t i;
	json_t *subnet;

	if (json_array_size(want) != json_array_size(have)) {
		snprintf(why, size, "%zu subnets, expected %zu", json_array_size(have),
			 json_array_size(want));
		return true;
	}
	json_array_foreach(want, i, subnet) {
		json_int_t id = json_integer_value(json_object_get(subnet, "id"));
		const char *name = json_string_value(json_object_get(subnet, "subnet"));
		json_t *other = NULL, *candidate;
		size_t j;

		json_array_foreach(have, j, candidate)
			if (json_integer_value(json_object_get(candidate, "id")) == id)
				other = candidate;
		if (other == NULL || member_differs(subnet, other, "subnet")) {
			snprintf(why, size, "subnet %s is missing", name);
			return true;
		}
		if (!json_equal(json_object_get(subnet, "match-client-id"),
				json_object_get(other, "match-client-id"))) {
			snprintf(why, size, "subnet %s: match-client-id differs", name);
			return true;
		}
		if (pools_differ(json_object_get(subnet, "pools"), json_object_get(other, "pools"))) {
			snprintf(why, size, "subnet %s: pools differ", name);
			return true;
		}
		if (named_differ(json_object_get(subnet, "option-data"),
				 json_object_get(other, "option-data"), option_members, true,
				 "option", why, size))
			return true;
		if (reservations_differ(json_object_get(subnet, "reservations"),
					json_object_get(other, "reservations"), name, why, size))
			return true;
	}
	return false;
}

bool
ddi_kea_drift(const json_t *want, const json_t *have, char *why, size_t size)
{
	const json_t *w = json_object_get(want, "Dhcp4"), *h = json_object_get(have, "Dhcp4");
	json_t *wi, *hi;

	if (h == NULL) {
		snprintf(why, size, "Kea's configuration has no Dhcp4 object");
		return true;
	}
	wi = json_object_get(json_object_get(w, "interfaces-config"), "interfaces");
	hi = json_object_get(json_object_get(h, "interfaces-config"), "interfaces");
	if (!json_equal(wi, hi)) {
		snprintf(why, size, "interfaces differ");
		return true;
	}
	if (!json_equal(json_object_get(w, "valid-lifetime"), json_object_get(h, "valid-lifetime"))) {
		snprintf(why, size, "valid-lifetime differs");
		return true;
	}
	if (json_array_size(json_object_get(h, "hooks-libraries")) !=
	    json_array_size(json_object_get(w, "hooks-libraries"))) {
		snprintf(why, size, "hooks-libraries differ");
		return true;
	}
	if (named_differ(json_object_get(w, "client-classes"), json_object_get(h, "client-classes"),
			 class_members, false, "client class", why, size) ||
	    class_options_differ(json_object_get(w, "client-classes"),
				 json_object_get(h, "client-classes"), why, size))
		return true;
	return subnets_differ(json_object_get(w, "subnet4"), json_object_get(h, "subnet4"), why,
			      size);
}

/* Run one command and require result 0; anything else is an error naming the result. */
static int
command_ok(const struct ddi_config *c, const char *command, json_t *arguments,
	   struct kea_reply *reply, char *err, size_t errlen)
{
	static const char *const names[] = { "success", "error", "unsupported", "empty" };
	int r, result;

	r = kea_command(c->control_socket, command, arguments, KEA_TIMEOUT_MS, reply, err, errlen);
	if (r < 0)
		return r;
	if (reply->result == KEA_SUCCESS)
		return 0;
	result = reply->result;
	snprintf(err, errlen, "Kea %s returned %d (%s): %s", command, result,
		 result >= 0 && result <= 3 ? names[result] : "unknown",
		 reply->text[0] != '\0' ? reply->text : "no text");
	kea_reply_clear(reply);
	return result == KEA_UNSUPPORTED ? -EOPNOTSUPP : -EPROTO;
}

int
ddi_kea_read(const struct ddi_config *c, json_t **ret, char *err, size_t errlen)
{
	struct kea_reply reply;
	int r;

	r = command_ok(c, "config-get", NULL, &reply, err, errlen);
	if (r < 0)
		return r;
	*ret = reply.arguments;
	reply.arguments = NULL;
	kea_reply_clear(&reply);
	return 0;
}

int
ddi_kea_push(const struct ddi_config *c, json_t *config, int64_t step_ms[3], char *err,
	     size_t errlen)
{
	static const char *const steps[] = { "config-test", "config-set", "config-write" };
	struct kea_reply reply;
	int r;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int64_t start = ddi_now_ms();

		r = command_ok(c, steps[i], i < 2 ? config : NULL, &reply, err, errlen);
		if (r < 0)
			return r;
		step_ms[i] = ddi_now_ms() - start;
		log_debug("kea %s ok: %s", steps[i], reply.text);
		kea_reply_clear(&reply);
	}
	return 0;
}

static int64_t
reservation_count(const json_t *config)
{
	json_t *subnets = json_object_get(json_object_get(config, "Dhcp4"), "subnet4");
	int64_t count = 0;
	size_t i;
	json_t *subnet;

	json_array_foreach(subnets, i, subnet)
		count += (int64_t)json_array_size(json_object_get(subnet, "reservations"));
	return count;
}

/*
 * Compare with what Kea runs. Returns true when Kea already runs `want`; on false,
 * `why` names what differs or why Kea could not be read.
 */
static bool
kea_matches(struct ddi *ddi, const json_t *want, char *why, size_t size)
{
	json_t *have = NULL;
	bool drift;

	if (ddi_kea_read(&ddi->config, &have, why, size) < 0)
		return false;
	drift = ddi_kea_drift(want, have, why, size);
	json_decref(have);
	return !drift;
}

/*
 * List reserved addresses the settings no longer allow: in no subnet (Kea gets no
 * reservation) or inside a pool (Kea keeps it, checking every pool address against
 * the reservations). Each is a conflict, logged the first time.
 */
static void
reservations_check(struct ddi *ddi, struct store *st, const struct ddi_hosts *hosts)
{
	for (size_t i = 0; i < hosts->count; i++) {
		const struct ddi_host *h = &hosts->items[i];
		struct ddi_conflict c = { 0 };
		const struct ddi_subnet *subnet;
		int64_t count = 0;
		uint32_t addr;

		if (h->ip[0] == '\0' || ddi_addr_parse(h->ip, &addr) < 0)
			continue;
		subnet = ddi_subnet_find(&ddi->settings, addr);
		if (subnet != NULL && !ddi_in_pool(subnet, addr))
			continue;
		snprintf(c.kind, sizeof(c.kind), subnet == NULL ? "reservation-outside-subnets"
								 : "reservation-in-pool");
		snprintf(c.address, sizeof(c.address), "%s", h->ip);
		snprintf(c.mac, sizeof(c.mac), "%s", h->mac);
		c.machine_id = h->id;
		snprintf(c.detail, sizeof(c.detail), subnet == NULL
			 ? "machine %" PRId64 " has reserved address %s, which is in no subnet; "
			   "Kea gets no reservation for it"
			 : "machine %" PRId64 " has reserved address %s inside the pool of subnet "
			   "%s; release it or shrink the pool", h->id, h->ip,
			 subnet != NULL ? subnet->name : "");
		if (store_ddi_conflict_record(st, &c, &count) < 0)
			log_err("ddi: failed to record a conflict: %s", store_error(st));
		if (count <= 1)
			log_warning("ddi: conflict: %s", c.detail);
	}
}

/*
 * Delete the pool lease of each machine that has since got a reservation. Kea's
 * reservations are all out of its pools ("reservations-out-of-pool"), so Kea renews a
 * client's existing pool lease without looking for a reservation, and a machine
 * discovered with a pool address would keep it after it is given its own.
 */
static void
stale_leases_drop(struct ddi *ddi, struct store *st, const struct ddi_hosts *hosts)
{
	struct kea_reply reply;
	char err[512];

	for (size_t i = 0; i < hosts->count; i++) {
		const struct ddi_host *h = &hosts->items[i];
		int r;

		if (h->ip[0] == '\0' || h->lease_ip[0] == '\0' || strcmp(h->ip, h->lease_ip) == 0)
			continue;
		json_t *arguments = json_pack("{s:s}", "ip-address", h->lease_ip);

		r = arguments != NULL ? kea_command(ddi->config.control_socket, "lease4-del",
						    arguments, KEA_TIMEOUT_MS, &reply, err,
						    sizeof(err)) : -ENOMEM;
		json_decref(arguments);
		if (r == -ENOMEM)
			snprintf(err, sizeof(err), "out of memory");
		if (r < 0) {
			log_warning("ddi: cannot delete the pool lease %s of machine=%" PRId64
				    ": %s", h->lease_ip, h->id, err);
			continue;
		}
		/* KEA_EMPTY, no such lease, leaves nothing to delete either. */
		if (reply.result == KEA_SUCCESS || reply.result == KEA_EMPTY) {
			log_info("ddi: deleted pool lease %s of machine=%" PRId64 ", reserved %s",
				 h->lease_ip, h->id, h->ip);
			if (store_machine_lease_set(st, h->id, NULL) < 0)
				log_err("ddi: cannot clear lease_ip of machine=%" PRId64 ": %s", h->id,
					store_error(st));
		} else {
			log_warning("ddi: Kea lease4-del %s of machine=%" PRId64 " returned %d: %s",
				    h->lease_ip, h->id, reply.result, reply.text);
		}
		kea_reply_clear(&reply);
	}
}

void
ddi_kea_pass(struct ddi *ddi, struct store *st, const struct ddi_hosts *hosts, bool resync)
{
	char hash[SHA256_HEX_SIZE], why[512], err[1024];
	int64_t start = ddi_now_ms(), generate_ms, step_ms[3] = { 0 };
	json_t *want;
	char *text;
	int64_t count;
	int r;

	want = ddi_kea_config(&ddi->config, hosts);
	text = want != NULL ? json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (text == NULL) {
		log_err("ddi: out of memory generating Kea's configuration");
		json_decref(want);
		ddi_retry_schedule(&ddi->kea_retry);
		return;
	}
	sha256_hex(text, strlen(text), hash);
	free(text);
	count = reservation_count(want);
	generate_ms = ddi_now_ms() - start;

	if (resync)
		reservations_check(ddi, st, hosts);
	if (!resync && ddi->kea_verified && strcmp(hash, ddi->kea_hash) == 0)
		goto done;

	/* After a start, a failure or on resync, trust only what Kea itself reports. */
	if (!ddi->kea_verified || resync) {
		if (kea_matches(ddi, want, why, sizeof(why))) {
			log_debug("ddi: Kea runs the expected configuration reservations=%" PRId64,
				  count);
			goto applied;
		}
		log_notice("ddi: Kea's configuration needs an update: %s", why);
	}

	r = ddi_kea_push(&ddi->config, want, step_ms, err, sizeof(err));
	if (r < 0) {
		ddi->kea_verified = false;
		ddi_retry_schedule(&ddi->kea_retry);
		log_warning("ddi: Kea update failed, retrying in %" PRId64 " ms: %s",
			    ddi->kea_retry.backoff_ms, err);
		ddi_service_update(ddi, &ddi->status.kea, err, 0);
		goto done;
	}
	log_info("ddi: Kea configuration applied reservations=%" PRId64 " generate_ms=%" PRId64
		 " test_ms=%" PRId64 " set_ms=%" PRId64 " write_ms=%" PRId64 " total_ms=%" PRId64,
		 count, generate_ms, step_ms[0], step_ms[1], step_ms[2], ddi_now_ms() - start);

applied:
	stale_leases_drop(ddi, st, hosts);
	ddi->kea_verified = true;
	memcpy(ddi->kea_hash, hash, sizeof(hash));
	ddi_retry_reset(&ddi->kea_retry);
	ddi_service_update(ddi, &ddi->status.kea, NULL, count);
done:
	json_decref(want);
}
