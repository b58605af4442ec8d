/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linking a verified BMC to its machine by what the BMC reports of the system: a MAC
 * of a stored machine, else a UUID that exactly one machine has. A BMC whose system
 * matches no machine registers one as discovered, so a server that never netboots
 * (virtual media) can be deployed all the same.
 */
#include "bmcman/bmcman-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "util/util.h"

/* The UUID search: the value sought, how many machines have it, the last one. */
struct uuid_match {
	const char *uuid;
	int count;
	int64_t id;
};

static int
uuid_cb(const struct machine *m, void *arg)
{
	struct uuid_match *u = arg;

	if (strcmp(m->uuid, u->uuid) == 0) {
		u->count++;
		u->id = m->id;
	}
	return 0;
}

/* Copy a string member of the system into a field, cut to fit; "" when absent. */
static void
field_copy(const json_t *system, const char *name, char *out, size_t size)
{
	const char *v = json_string_value(json_object_get(system, name));

	snprintf(out, size, "%s", v != NULL ? v : "");
	text_sanitize(out);
}

/* Find the machine by MAC, then by UUID. Returns 0 with *ret (0: none) or a store error. */
static int
find_machine(struct store *st, const json_t *system, const char *uuid, int64_t *ret)
{
	const json_t *macs = json_object_get(system, "macs");
	struct machine m = { 0 };
	size_t i;
	json_t *v;
	int rc;

	*ret = 0;
	json_array_foreach(macs, i, v) {
		char mac[MAC_TEXT_SIZE];

		if (!json_is_string(v) || mac_parse(json_string_value(v), mac) < 0)
			continue;
		rc = store_machine_get_by_mac(st, mac, &m);
		if (rc == 0) {
			*ret = m.id;
			machine_clear(&m);
			return 0;
		}
		if (rc != -ENOENT)
			return rc;
	}
	if (uuid[0] != '\0') {
		struct machine_filter f = { .state = MACHINE_STATE_INVALID };
		struct uuid_match u = { .uuid = uuid };

		rc = store_machine_list(st, &f, uuid_cb, &u);
		if (rc < 0)
			return rc;
		/* Two machines with one UUID: a firmware placeholder, so it names neither. */
		if (u.count == 1)
			*ret = u.id;
	}
	return 0;
}

/* True when `mac` is among the first mac_count MACs of m; BMCs may list one twice. */
static bool
mac_listed(const struct machine *m, const char *mac)
{
	for (size_t i = 0; i < m->mac_count; i++) {
		if (strcmp(m->macs[i], mac) == 0)
			return true;
	}
	return false;
}

/* Register the BMC's system as a discovered machine. Returns 0 with *ret (0: no MAC). */
static int
register_machine(struct store *st, const json_t *system, const char *uuid, int64_t *ret)
{
	const json_t *macs = json_object_get(system, "macs");
	struct machine m = { .state = MACHINE_DISCOVERED };
	size_t i;
	json_t *v;
	int rc;

	*ret = 0;
	json_array_foreach(macs, i, v) {
		if (m.mac_count == MACHINE_MAX_MACS)
			break;
		if (json_is_string(v) && mac_parse(json_string_value(v), m.macs[m.mac_count]) == 0 &&
		    !mac_listed(&m, m.macs[m.mac_count]))
			m.mac_count++;
	}
	if (m.mac_count == 0)
		return 0;
	snprintf(m.uuid, sizeof(m.uuid), "%s", uuid);
	field_copy(system, "serial", m.serial, sizeof(m.serial));
	field_copy(system, "manufacturer", m.vendor, sizeof(m.vendor));
	field_copy(system, "model", m.model, sizeof(m.model));
	rc = store_machine_insert(st, &m);
	if (rc == 0)
		*ret = m.id;
	machine_clear(&m);
	return rc;
}

int
bmcman_link(struct store *st, struct bmc_record *b, const json_t *system, int64_t *ret_machine,
	    bool *ret_created, char *err, size_t errlen)
{
	const char *uuid_text = json_string_value(json_object_get(system, "uuid"));
	char uuid[UUID_TEXT_SIZE] = "";
	int64_t id = 0;
	int rc;

	*ret_created = false;
	*ret_machine = b->machine_id;
	if (b->machine_id > 0)
		return 0;
	if (uuid_text != NULL && uuid_parse(uuid_text, uuid) < 0)
		uuid[0] = '\0';
	rc = find_machine(st, system, uuid, &id);
	if (rc == 0 && id == 0) {
		rc = register_machine(st, system, uuid, &id);
		*ret_created = rc == 0 && id > 0;
	}
	if (rc < 0)
		return err_set(rc, err, errlen, "cannot link BMC %" PRId64 " to its machine: %s",
			       b->id, store_error(st));
	b->machine_id = id;
	*ret_machine = id;
	if (id > 0)
		log_info("BMC linked bmc=%" PRId64 " machine=%" PRId64 " registered=%s", b->id, id,
			 *ret_created ? "yes" : "no");
	return 0;
}
