/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leases, read through Kea's lease_cmds hook. A lease for a MAC the store does not
 * know registers a discovered machine with that address. A lease for a known MAC
 * records the address on its machine. A lease of an address reserved for another
 * machine is a conflict, recorded and logged.
 */
#include "ddi/ddi-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "governance/governance.h"
#include "log/log.h"
#include "util/util.h"

/* A lease read is one lookup; a hung Kea must not hold up the passes for long. */
#define LEASE_TIMEOUT_MS 2000
/* Datagrams handled per wake-up, so a flood cannot stall the passes. */
#define EVENTS_PER_WAKE 256

struct lease_args {
	struct machine *machine;
	bool insert;
	char target[sizeof("machine:") + 20];
};

/* gov_execute operation: insert the discovered machine or record its new address. */
static int
lease_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct lease_args *args = arg;
	int rc;

	/* A known machine gets only its lease_ip written, never the row it was read from. */
	rc = args->insert ? store_machine_insert(st, args->machine)
			  : store_machine_lease_set(st, args->machine->id, args->machine->lease_ip);
	if (rc < 0) {
		snprintf(err, errlen, "%s", store_error(st));
		return rc;
	}
	snprintf(args->target, sizeof(args->target), "machine:%" PRId64, args->machine->id);
	return 0;
}

/* Record a lease of an address that is reserved for another machine. */
static void
conflict_check(struct store *st, const char *ip, const char *mac, int64_t holder)
{
	struct ddi_conflict c = { 0 };
	int64_t owner, count = 0;

	if (store_machine_ip_owner(st, ip, &owner) < 0 || owner == holder)
		return;
	snprintf(c.kind, sizeof(c.kind), "lease-reserved-elsewhere");
	snprintf(c.address, sizeof(c.address), "%s", ip);
	snprintf(c.mac, sizeof(c.mac), "%s", mac);
	c.machine_id = owner;
	snprintf(c.detail, sizeof(c.detail), "Kea leased %s to %s, but %s is reserved for "
		 "machine %" PRId64, ip, mac, ip, owner);
	if (store_ddi_conflict_record(st, &c, &count) < 0)
		log_err("ddi: failed to record a conflict: %s", store_error(st));
	/* A standing conflict is seen on every resync; log it the first time only. */
	if (count <= 1)
		log_warning("ddi: conflict: %s", c.detail);
}

/* Apply one active lease: MAC in Kea's text form, address checked by the caller. */
static void
lease_apply(struct ddi *ddi, struct store *st, const char *hw_address, const char *ip)
{
	struct machine m = { 0 };
	struct lease_args args = { .machine = &m, .target = "machine:new" };
	char mac[MAC_TEXT_SIZE], detail[128], err[256] = "";
	struct action action;
	int r;

	if (mac_parse(hw_address, mac) < 0) {
		log_warning("ddi: lease %s has an invalid hw-address, ignored", ip);
		return;
	}
	pthread_mutex_lock(&ddi->lock);
	ddi->status.leases_seen++;
	pthread_mutex_unlock(&ddi->lock);

	r = store_machine_get_by_mac(st, mac, &m);
	if (r == 0 && strcmp(m.lease_ip, ip) == 0) {
		conflict_check(st, ip, mac, m.id);
		machine_clear(&m);
		return;
	}
	if (r < 0 && r != -ENOENT) {
		log_err("ddi: failed to look up mac=%s: %s", mac, store_error(st));
		return;
	}
	if (r == -ENOENT) {
		memcpy(m.macs[0], mac, MAC_TEXT_SIZE);
		m.mac_count = 1;
		m.state = MACHINE_DISCOVERED;
		args.insert = true;
	} else {
		snprintf(args.target, sizeof(args.target), "machine:%" PRId64, m.id);
	}
	snprintf(m.lease_ip, sizeof(m.lease_ip), "%s", ip);

	snprintf(detail, sizeof(detail), "{\"mac\":\"%s\",\"lease_ip\":\"%s\"}", mac, ip);
	action = (struct action){
		.actor = "kea:lease",
		.name = args.insert ? "machine.discover" : "machine.lease",
		.target = args.target,
		.risk = RISK_CHANGE,
		.detail = detail,
	};
	r = gov_execute(st, &action, lease_op, &args, err, sizeof(err));
	if (r < 0)
		log_err("ddi: failed to record lease %s of mac=%s: %s", ip, mac, err);
	else if (args.insert)
		log_info("ddi: discovered machine=%" PRId64 " mac=%s lease=%s", m.id, mac, ip);
	else
		log_info("ddi: machine=%" PRId64 " mac=%s leased %s", m.id, mac, ip);
	if (r == 0)
		conflict_check(st, ip, mac, m.id);
	machine_clear(&m);
}

/* Apply one lease object from lease4-get or lease4-get-all. */
static void
lease_json_apply(struct ddi *ddi, struct store *st, const json_t *lease)
{
	const char *ip = json_string_value(json_object_get(lease, "ip-address"));
	const char *hw = json_string_value(json_object_get(lease, "hw-address"));
	json_int_t state = json_integer_value(json_object_get(lease, "state"));
	uint32_t addr;

	/* State 0 is an active lease; 1 is declined and 2 expired and reclaimed. */
	if (ip == NULL || hw == NULL || state != 0 || ddi_addr_parse(ip, &addr) < 0)
		return;
	lease_apply(ddi, st, hw, ip);
}

/* Read one lease back. Returns 0, or a negative errno when Kea could not be reached. */
static int
lease_refresh(struct ddi *ddi, struct store *st, uint32_t addr)
{
	char ip[DDI_ADDR_TEXT], err[512];
	struct kea_reply reply;
	json_t *args;
	int r;

	args = json_pack("{s:s}", "ip-address", ddi_addr_format(addr, ip));
	r = kea_command(ddi->config.control_socket, "lease4-get", args, LEASE_TIMEOUT_MS, &reply,
			err, sizeof(err));
	json_decref(args);
	if (r < 0) {
		log_warning("ddi: cannot read lease %s: %s", ip, err);
		return r;
	}
	if (reply.result == KEA_SUCCESS)
		lease_json_apply(ddi, st, reply.arguments);
	else if (reply.result != KEA_EMPTY)
		log_warning("ddi: Kea lease4-get %s returned %d: %s", ip, reply.result, reply.text);
	kea_reply_clear(&reply);
	return 0;
}

void
ddi_lease_events(struct ddi *ddi, struct store *st)
{
	for (int i = 0; i < EVENTS_PER_WAKE; i++) {
		char data[DDI_EVENT_MAX + 1];
		struct ddi_event event;
		ssize_t n = recv(ddi->event_fd, data, sizeof(data), MSG_DONTWAIT);

		if (n < 0)
			break;
		if (ddi_event_parse(data, (size_t)n, &event) < 0) {
			/* Anyone can send to the socket, so only the first of a run is logged. */
			if (ddi->malformed_events++ == 0)
				log_warning("ddi: ignored a malformed lease event of %zd bytes; "
					    "further ones are counted, not logged", n);
			continue;
		}
		pthread_mutex_lock(&ddi->lock);
		ddi->status.lease_events++;
		pthread_mutex_unlock(&ddi->lock);
		log_debug("ddi: lease event hook=%s addresses=%zu", event.hook, event.count);
		/* When Kea does not reply, the rest waits for the next lease read. */
		for (size_t j = 0; j < event.count; j++)
			if (lease_refresh(ddi, st, event.addrs[j]) < 0)
				return;
	}
}

void
ddi_lease_resync(struct ddi *ddi, struct store *st)
{
	struct kea_reply reply;
	char err[512];
	json_t *lease;
	size_t i;
	int r;

	r = kea_command(ddi->config.control_socket, "lease4-get-all", NULL, LEASE_TIMEOUT_MS,
			&reply, err, sizeof(err));
	if (r < 0) {
		log_warning("ddi: cannot read leases: %s", err);
		return;
	}
	if (reply.result == KEA_SUCCESS) {
		json_array_foreach(json_object_get(reply.arguments, "leases"), i, lease)
			lease_json_apply(ddi, st, lease);
	} else if (reply.result != KEA_EMPTY) {
		log_warning("ddi: Kea lease4-get-all returned %d: %s", reply.result, reply.text);
	}
	kea_reply_clear(&reply);
}
