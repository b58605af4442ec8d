/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reserved addresses, decommissioning, and the state of DHCP and DNS. An address
 * change is an action like any other; the DDI manager notices the commit and carries it
 * to Kea and PowerDNS on its own thread, so these handlers never wait on either.
 */
#include "api/api-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ddi/ddi.h"

enum address_op {
	ADDRESS_SET,            /* the requested address, or the next free one */
	ADDRESS_RELEASE,
	DECOMMISSION,           /* release, and back to ready */
};

struct address_args {
	const struct ddi_settings *settings;
	int64_t id;
	enum address_op op;
	char requested[IP_TEXT_SIZE];       /* empty: allocate */
	char released[IP_TEXT_SIZE];        /* the address given up */
	struct machine machine;
};

/* Reply 409 when DHCP and DNS are off, since addresses then mean nothing. */
static bool
ddi_required(struct api_call *call)
{
	struct api_error e;

	if (call->api->ddi != NULL)
		return true;
	api_fail(&e, 409, "ddi_disabled", "DHCP and DNS are not run by this appliance; set "
		 "[ddi] enabled = true and restart it");
	api_reply_error(call, &e);
	return false;
}

static int
address_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct address_args *args = arg;
	struct machine *m = &args->machine;
	int rc;

	rc = api_machine_load(st, args->id, m, err, errlen);
	if (rc < 0)
		return rc;
	snprintf(args->released, sizeof(args->released), "%s", m->ip);

	switch (args->op) {
	case ADDRESS_SET:
		if (args->requested[0] == '\0' && m->ip[0] != '\0')
			return 0;
		rc = ddi_address_assign(args->settings, st, m,
					args->requested[0] != '\0' ? args->requested : NULL,
					err, errlen);
		if (rc < 0)
			return rc == -ENOSPC ? -EEXIST : rc;
		break;
	case DECOMMISSION:
		m->state = MACHINE_READY;
		/* fall through */
	case ADDRESS_RELEASE:
		m->ip[0] = '\0';
		break;
	}

	rc = store_machine_update(st, m);
	return rc < 0 ? api_store_failed(st, rc, err, errlen) : 0;
}

/* Read {"ip": "A.B.C.D"} or an empty body. */
static int
address_body_parse(struct api_call *call, char *out, struct api_error *e)
{
	static const char *const fields[] = { "ip", NULL };
	json_t *obj;
	int rc;

	rc = api_request_object(call, true, &obj, e);
	if (rc < 0)
		return rc;
	rc = api_json_keys(obj, fields, NULL, e);
	if (rc == 0)
		rc = api_json_string(obj, "ip", IP_TEXT_SIZE - 1, out, IP_TEXT_SIZE, e);
	json_decref(obj);
	return rc < 0 ? rc : 0;
}

static void
address_action(struct api_call *call, enum address_op op, const char *name, enum risk risk)
{
	struct address_args args = { .op = op };
	char err[API_DETAIL_SIZE], target[API_TARGET_SIZE], detail[128];
	struct machine m = { 0 };
	struct api_error e;
	int rc;

	if (!ddi_required(call) || api_machine_from_path(call, &m) < 0)
		return;
	args.id = m.id;
	args.settings = ddi_settings_get(call->api->ddi);
	machine_clear(&m);

	if (op == ADDRESS_SET && address_body_parse(call, args.requested, &e) < 0) {
		api_reply_error(call, &e);
		return;
	}

	/* The requested address was checked as IPv4 text by ddi_address_assign before use. */
	snprintf(target, sizeof(target), "machine:%lld", (long long)args.id);
	if (args.requested[0] != '\0' && strspn(args.requested, "0123456789.") ==
	    strlen(args.requested))
		snprintf(detail, sizeof(detail), "{\"ip\":\"%s\"}", args.requested);
	else
		snprintf(detail, sizeof(detail), "{}");
	rc = api_execute(call, name, target, risk, detail, address_op, &args, err, sizeof(err));
	if (rc < 0) {
		api_reply_errno(call, rc, err, name);
	} else {
		api_reply_machine(call, 200, &args.machine);
	}
	machine_clear(&args.machine);
}

void
api_machines_address_set(struct api_call *call)
{
	address_action(call, ADDRESS_SET, "machine.address_set", RISK_CHANGE);
}

void
api_machines_address_release(struct api_call *call)
{
	address_action(call, ADDRESS_RELEASE, "machine.address_release", RISK_CHANGE);
}

void
api_machines_decommission(struct api_call *call)
{
	address_action(call, DECOMMISSION, "machine.decommission", RISK_DESTRUCTIVE);
}

int
api_ddi_address_valid(const struct api *api, const struct machine *m, char *err, size_t errlen)
{
	char fqdn[DDI_NAME_SIZE];
	uint32_t addr;

	const struct ddi_settings *s;
	size_t len, domain_len;

	if (api->ddi == NULL)
		return 0;
	s = ddi_settings_get(api->ddi);
	if (m->hostname[0] != '\0' && ddi_fqdn(s, m->hostname, fqdn) < 0)
		return err_set(-EINVAL, err, errlen, "host name %s with the domain %s is longer than "
			       "%d characters; use a shorter host name", m->hostname, s->domain,
			       DDI_NAME_MAX);
	if (m->hostname[0] != '\0' && strcmp(fqdn, ddi_nameserver_get(api->ddi)) == 0)
		return err_set(-EEXIST, err, errlen, "host name %s is the name server's name %s; "
			       "pick another", m->hostname, fqdn);

	/*
	 * "node7" and "node7.site.example" would both be node7.site.example., which the
	 * store's unique index cannot see, so the domain is never written out.
	 */
	len = strlen(m->hostname);
	domain_len = strlen(s->domain) - 1;
	if (len > domain_len && strncasecmp(m->hostname + len - domain_len, s->domain,
					    domain_len) == 0 &&
	    m->hostname[len - domain_len - 1] == '.')
		return err_set(-EINVAL, err, errlen, "host name %s ends with the domain %.*s; give "
			       "only the part before it, %.*s", m->hostname, (int)domain_len,
			       s->domain, (int)(len - domain_len - 1), m->hostname);
	if (m->ip[0] == '\0')
		return 0;
	if (ddi_addr_parse(m->ip, &addr) < 0)
		return err_set(-EINVAL, err, errlen, "address %s is not IPv4; DHCP here serves "
			       "IPv4 only", m->ip);
	return ddi_address_check(ddi_settings_get(api->ddi), addr, err, errlen);
}

int
api_ddi_address_reserve(const struct api *api, struct store *st, struct machine *m, char *err,
			size_t errlen)
{
	int rc;

	if (api->ddi == NULL || m->ip[0] != '\0')
		return 0;
	rc = ddi_address_assign(ddi_settings_get(api->ddi), st, m, NULL, err, errlen);
	return rc == -ENOSPC ? -EEXIST : rc;
}

static json_t *
service_json(const struct ddi_service_status *s)
{
	return json_pack("{s:b, s:o, s:I, s:o, s:I}",
			 "in_sync", s->in_sync,
			 "last_sync_at", s->last_sync_at > 0 ? api_json_time(s->last_sync_at)
							     : json_null(),
			 "failures", (json_int_t)s->failures,
			 "last_error", api_json_string_or_null(s->last_error),
			 "items", (json_int_t)s->items);
}

void
api_ddi_status(struct api_call *call)
{
	struct ddi_status status;
	const struct ddi_settings *s;
	char server[DDI_ADDR_TEXT];
	json_t *subnets, *zones;

	if (!ddi_required(call))
		return;
	s = ddi_settings_get(call->api->ddi);
	ddi_status_get(call->api->ddi, &status);

	subnets = json_array();
	for (size_t i = 0; i < s->subnet_count; i++) {
		char network[DDI_ADDR_TEXT];

		json_array_append_new(subnets, json_pack("{s:s, s:s, s:i}", "name", s->subnets[i].name,
							 "network",
							 ddi_addr_format(s->subnets[i].network, network),
							 "prefix", (int)s->subnets[i].prefix));
	}
	zones = json_array();
	for (size_t i = 0; i < s->zone_count; i++)
		json_array_append_new(zones, json_string(s->zones[i].name));

	api_reply_json(call, 200, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:I}",
					    "interface", s->interface,
					    "server_address", ddi_addr_format(s->server, server),
					    "domain", s->domain,
					    "subnets", subnets,
					    "reverse_zones", zones,
					    "dhcp", service_json(&status.kea),
					    "dns", service_json(&status.dns),
					    "lease_events", (json_int_t)status.lease_events,
					    "leases_seen", (json_int_t)status.leases_seen));
}

static int
conflict_add(const struct ddi_conflict *c, void *arg)
{
	return json_array_append_new(arg, json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:I}",
						    "kind", c->kind, "address", c->address,
						    "mac", c->mac,
						    "machine_id", c->machine_id > 0
							? json_integer(c->machine_id) : json_null(),
						    "detail", c->detail,
						    "first_seen", api_json_time(c->first_seen),
						    "last_seen", api_json_time(c->last_seen),
						    "count", (json_int_t)c->count));
}

void
api_ddi_conflicts(struct api_call *call)
{
	json_t *items;
	int rc;

	if (!ddi_required(call))
		return;
	items = json_array();
	rc = store_ddi_conflict_list(call->st, conflict_add, items);
	if (rc < 0) {
		json_decref(items);
		api_reply_errno(call, rc, NULL, "conflict list");
		return;
	}
	api_reply_json(call, 200, json_pack("{s:o}", "items", items));
}
