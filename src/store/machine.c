/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Machines and their MAC addresses. Every call here writes a machine row and its
 * machine_macs rows atomically. A MAC, IP or hostname that already belongs to another
 * machine is -EEXIST, and store_error() names the owner. A UUID may be shared, because
 * some firmware reports the same placeholder UUID on every server.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static const char *const machine_state_names[MACHINE_STATE_MAX] = {
	[MACHINE_DISCOVERED] = "discovered",
	[MACHINE_READY] = "ready",
	[MACHINE_DEPLOYING] = "deploying",
	[MACHINE_DEPLOYED] = "deployed",
	[MACHINE_FAILED] = "failed",
	[MACHINE_DECOMMISSIONING] = "decommissioning",
};

/*
 * The columns every machine query selects, in the order machine_from_row reads them.
 * The MAC list comes back as "position=mac" pairs joined by commas, so one statement
 * reads the row and its MACs from the same snapshot. group_concat's order is not
 * defined, which is why each MAC carries its position.
 */
#define MACHINE_COLUMNS \
	"id, uuid, serial, vendor, model, arch, platform, state, profile_id, ip, hostname," \
	" inventory, created_at, updated_at, lease_ip," \
	" (SELECT group_concat(position || '=' || mac, ',') FROM machine_macs" \
	"  WHERE machine_id = machines.id)"

enum machine_column {
	COL_ID,
	COL_UUID,
	COL_SERIAL,
	COL_VENDOR,
	COL_MODEL,
	COL_ARCH,
	COL_PLATFORM,
	COL_STATE,
	COL_PROFILE_ID,
	COL_IP,
	COL_HOSTNAME,
	COL_INVENTORY,
	COL_CREATED_AT,
	COL_UPDATED_AT,
	COL_LEASE_IP,
	COL_MACS,
};

/* Filter bits; each combination has its own statement slot and plan. */
#define FILTER_STATE 0x1u
#define FILTER_PROFILE 0x2u
#define FILTER_MAC 0x4u
#define FILTER_HOSTNAME 0x8u

const char *
machine_state_name(enum machine_state state)
{
	if (state < 0 || state >= MACHINE_STATE_MAX)
		return "invalid";
	return machine_state_names[state];
}

enum machine_state
machine_state_parse(const char *name)
{
	for (int state = 0; state < MACHINE_STATE_MAX; state++) {
		if (strcmp(name, machine_state_names[state]) == 0)
			return (enum machine_state)state;
	}
	return MACHINE_STATE_INVALID;
}

void
machine_clear(struct machine *m)
{
	free(m->inventory);
	m->inventory = NULL;
}

/* Check what the schema cannot: canonical unicast, distinct MACs and terminated strings. */
static int
machine_validate(struct store *st, const struct machine *m)
{
	static const struct {
		const char *name;
		size_t offset;
		size_t size;
	} fields[] = {
		{ "uuid", offsetof(struct machine, uuid), UUID_TEXT_SIZE },
		{ "serial", offsetof(struct machine, serial), STORE_FIELD_SIZE },
		{ "vendor", offsetof(struct machine, vendor), STORE_FIELD_SIZE },
		{ "model", offsetof(struct machine, model), STORE_FIELD_SIZE },
		{ "arch", offsetof(struct machine, arch), sizeof(m->arch) },
		{ "platform", offsetof(struct machine, platform), sizeof(m->platform) },
		{ "ip", offsetof(struct machine, ip), IP_TEXT_SIZE },
		{ "lease_ip", offsetof(struct machine, lease_ip), IP_TEXT_SIZE },
		{ "hostname", offsetof(struct machine, hostname), HOSTNAME_SIZE },
	};
	char canonical[MAC_TEXT_SIZE];

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (!store_text_fits((const char *)m + fields[i].offset, fields[i].size))
			return store_errorf(st, -EINVAL, "machine %s is not NUL-terminated",
					    fields[i].name);
	}

	if (m->state < 0 || m->state >= MACHINE_STATE_MAX)
		return store_errorf(st, -EINVAL, "invalid machine state %d", (int)m->state);
	if (m->profile_id < 0)
		return store_errorf(st, -EINVAL, "invalid profile id %" PRId64, m->profile_id);
	if (m->mac_count > MACHINE_MAX_MACS)
		return store_errorf(st, -EINVAL, "a machine has at most %d MACs, not %zu",
				    MACHINE_MAX_MACS, m->mac_count);

	for (size_t i = 0; i < m->mac_count; i++) {
		if (!store_text_fits(m->macs[i], MAC_TEXT_SIZE))
			return store_errorf(st, -EINVAL, "MAC %zu is not NUL-terminated", i);
		if (mac_parse(m->macs[i], canonical) < 0 || strcmp(canonical, m->macs[i]) != 0)
			return store_errorf(st, -EINVAL,
					    "MAC \"%s\" is not a unicast MAC in canonical form",
					    m->macs[i]);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(m->macs[i], m->macs[j]) == 0)
				return store_errorf(st, -EINVAL, "MAC %s is listed twice", m->macs[i]);
		}
	}

	return 0;
}

/* Find the machine other than `self` whose reserved address is `ip`: 1, 0 or an error. */
static int
ip_owner(struct store *st, const char *ip, int64_t self, int64_t *ret)
{
	return store_find_owner(st, STMT_MACHINE_IP_OWNER,
				"SELECT id FROM machines WHERE ip = :value AND id <> :self", ip, self,
				ret);
}

int
store_machine_ip_owner(struct store *st, const char *ip, int64_t *ret_id)
{
	int found = ip_owner(st, ip, 0, ret_id);

	if (found < 0)
		return found;
	return found == 1 ? 0 : -ENOENT;
}

/*
 * After a unique-constraint failure, find which value collided and who owns it.
 * Leaves SQLite's message in place when no owner turns up.
 */
static int
machine_describe_conflict(struct store *st, const struct machine *m, int64_t self)
{
	int64_t owner;
	int found;

	for (size_t i = 0; i < m->mac_count; i++) {
		found = store_find_owner(st, STMT_MACHINE_MAC_OWNER,
					 "SELECT machine_id FROM machine_macs"
					 " WHERE mac = :value AND machine_id <> :self",
					 m->macs[i], self, &owner);
		if (found < 0)
			return found;
		if (found)
			return store_errorf(st, -EEXIST, "MAC %s already belongs to machine %" PRId64,
					    m->macs[i], owner);
	}

	if (m->hostname[0] != '\0') {
		found = store_find_owner(st, STMT_MACHINE_HOSTNAME_OWNER,
					 "SELECT id FROM machines WHERE hostname = :value AND id <> :self",
					 m->hostname, self, &owner);
		if (found < 0)
			return found;
		if (found)
			return store_errorf(st, -EEXIST,
					    "hostname \"%s\" already belongs to machine %" PRId64,
					    m->hostname, owner);
	}

	if (m->ip[0] != '\0') {
		found = ip_owner(st, m->ip, self, &owner);
		if (found < 0)
			return found;
		if (found)
			return store_errorf(st, -EEXIST, "IP %s already belongs to machine %" PRId64,
					    m->ip, owner);
	}

	return -EEXIST;
}

/* Map a failed write of machine m (row id `self`, 0 before insert) to its errno. */
static int
machine_write_error(struct store *st, int rc, const struct machine *m, int64_t self,
		    const char *what)
{
	int err = store_sqlite_error(st, rc, what);

	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return store_errorf(st, -ENOENT, "profile %" PRId64 " not found", m->profile_id);
	if (err == -EEXIST)
		return machine_describe_conflict(st, m, self);
	return err;
}

/* Bind the columns insert and update share. */
static void
machine_bind(sqlite3_stmt *stmt, const struct machine *m, int64_t now, int *rc)
{
	store_bind_text_or_null(stmt, ":uuid", m->uuid, rc);
	store_bind_text(stmt, ":serial", m->serial, rc);
	store_bind_text(stmt, ":vendor", m->vendor, rc);
	store_bind_text(stmt, ":model", m->model, rc);
	store_bind_text(stmt, ":arch", m->arch, rc);
	store_bind_text(stmt, ":platform", m->platform, rc);
	store_bind_text(stmt, ":state", machine_state_name(m->state), rc);
	if (m->profile_id > 0)
		store_bind_int(stmt, ":profile_id", m->profile_id, rc);
	else
		store_bind_text(stmt, ":profile_id", NULL, rc);
	store_bind_text_or_null(stmt, ":ip", m->ip, rc);
	store_bind_text_or_null(stmt, ":lease_ip", m->lease_ip, rc);
	store_bind_text_or_null(stmt, ":hostname", m->hostname, rc);
	store_bind_text(stmt, ":inventory", m->inventory, rc);
	store_bind_int(stmt, ":now", now, rc);
}

/* Write m's MACs for machine `id`; the caller has removed the old ones. */
static int
machine_insert_macs(struct store *st, const struct machine *m, int64_t id)
{
	sqlite3_stmt *stmt;
	int rc, err = 0;

	for (size_t i = 0; i < m->mac_count && err == 0; i++) {
		err = store_stmt_acquire(st, STMT_MACHINE_MAC_INSERT,
					 "INSERT INTO machine_macs (mac, machine_id, position)"
					 " VALUES (:mac, :machine_id, :position)",
					 &stmt);
		if (err < 0)
			return err;

		rc = SQLITE_OK;
		store_bind_text(stmt, ":mac", m->macs[i], &rc);
		store_bind_int(stmt, ":machine_id", id, &rc);
		store_bind_int(stmt, ":position", (int64_t)i, &rc);
		if (rc != SQLITE_OK) {
			err = store_bind_error(st, rc, "inserting a MAC");
		} else {
			rc = sqlite3_step(stmt);
			if (rc != SQLITE_DONE)
				err = machine_write_error(st, rc, m, id, "inserting a MAC");
		}

		store_stmt_release(st, STMT_MACHINE_MAC_INSERT, stmt);
	}

	return err;
}

int
store_machine_insert(struct store *st, struct machine *m)
{
	sqlite3_stmt *stmt;
	int64_t now = time_now(), id = 0;
	bool outer;
	int rc = SQLITE_OK, err;

	err = machine_validate(st, m);
	if (err < 0)
		return err;

	err = store_op_begin(st, &outer);
	if (err < 0)
		return err;

	err = store_stmt_acquire(st, STMT_MACHINE_INSERT,
				 "INSERT INTO machines (uuid, serial, vendor, model, arch, platform, state,"
				 " profile_id, ip, lease_ip, hostname, inventory, created_at,"
				 " updated_at)"
				 " VALUES (:uuid, :serial, :vendor, :model, :arch, :platform, :state,"
				 " :profile_id, :ip, :lease_ip, :hostname, :inventory, :now, :now)",
				 &stmt);
	if (err < 0)
		goto done;

	machine_bind(stmt, m, now, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "inserting a machine");
	} else {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE)
			id = sqlite3_last_insert_rowid(st->db);
		else
			err = machine_write_error(st, rc, m, 0, "inserting a machine");
	}
	store_stmt_release(st, STMT_MACHINE_INSERT, stmt);
	if (err < 0)
		goto done;

	err = machine_insert_macs(st, m, id);

done:
	err = store_op_end(st, outer, err);
	if (err < 0)
		return err;

	m->id = id;
	m->created_at = now;
	m->updated_at = now;
	return 0;
}

int
store_machine_update(struct store *st, struct machine *m)
{
	sqlite3_stmt *stmt;
	int64_t now = time_now();
	bool outer;
	int rc = SQLITE_OK, err;

	err = machine_validate(st, m);
	if (err < 0)
		return err;

	err = store_op_begin(st, &outer);
	if (err < 0)
		return err;

	err = store_stmt_acquire(st, STMT_MACHINE_UPDATE,
				 "UPDATE machines SET uuid = :uuid, serial = :serial, vendor = :vendor,"
				 " model = :model, arch = :arch, platform = :platform, state = :state,"
				 " profile_id = :profile_id, ip = :ip, lease_ip = :lease_ip,"
				 " hostname = :hostname,"
				 " inventory = :inventory, updated_at = :now WHERE id = :id",
				 &stmt);
	if (err < 0)
		goto done;

	machine_bind(stmt, m, now, &rc);
	store_bind_int(stmt, ":id", m->id, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "updating a machine");
	} else {
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE)
			err = machine_write_error(st, rc, m, m->id, "updating a machine");
		else if (sqlite3_changes(st->db) == 0)
			err = store_errorf(st, -ENOENT, "machine %" PRId64 " not found", m->id);
	}
	store_stmt_release(st, STMT_MACHINE_UPDATE, stmt);
	if (err < 0)
		goto done;

	/* Replace the MAC list: remove the old rows, then write the new ones in order. */
	err = store_stmt_acquire(st, STMT_MACHINE_MACS_DELETE,
				 "DELETE FROM machine_macs WHERE machine_id = :id", &stmt);
	if (err < 0)
		goto done;
	rc = SQLITE_OK;
	store_bind_int(stmt, ":id", m->id, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "removing a machine's MACs");
	else
		err = store_step_done(st, stmt, "removing a machine's MACs");
	store_stmt_release(st, STMT_MACHINE_MACS_DELETE, stmt);
	if (err < 0)
		goto done;

	err = machine_insert_macs(st, m, m->id);

done:
	err = store_op_end(st, outer, err);
	if (err < 0)
		return err;

	m->updated_at = now;
	return 0;
}

int
store_machine_delete(struct store *st, int64_t id)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_MACHINE_DELETE, "DELETE FROM machines WHERE id = :id",
				 &stmt);
	if (err < 0)
		return err;

	/* ON DELETE CASCADE removes the MACs in the same statement. */
	store_bind_int(stmt, ":id", id, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "deleting a machine");
	else
		err = store_step_done(st, stmt, "deleting a machine");
	if (err == 0 && sqlite3_changes(st->db) == 0)
		err = store_errorf(st, -ENOENT, "machine %" PRId64 " not found", id);

	store_stmt_release(st, STMT_MACHINE_DELETE, stmt);
	return err;
}

/* Positions are parsed as one digit. */
_Static_assert(MACHINE_MAX_MACS <= 10, "MAC positions must stay single digits");

/* Parse the "position=mac,..." column into m->macs. */
static int
machine_parse_macs(struct store *st, const char *text, struct machine *m)
{
	bool seen[MACHINE_MAX_MACS] = { false };
	const char *p = text;
	size_t position;

	m->mac_count = 0;
	if (!text)
		return 0;

	while (*p != '\0') {
		if (*p < '0' || *p > '9')
			goto err_corrupt;
		position = (size_t)(*p - '0');
		p++;

		if (position >= MACHINE_MAX_MACS || seen[position] || *p != '=' ||
		    strnlen(p + 1, MAC_TEXT_SIZE) < MAC_TEXT_SIZE - 1)
			goto err_corrupt;
		memcpy(m->macs[position], p + 1, MAC_TEXT_SIZE - 1);
		m->macs[position][MAC_TEXT_SIZE - 1] = '\0';
		seen[position] = true;
		m->mac_count++;
		p += MAC_TEXT_SIZE;

		if (*p == ',')
			p++;
		else if (*p != '\0')
			goto err_corrupt;
	}

	/* Positions run 0, 1, 2 ... with no gap, the first being the boot MAC. */
	for (size_t i = 0; i < m->mac_count; i++) {
		if (!seen[i])
			goto err_corrupt;
	}
	return 0;

err_corrupt:
	return store_errorf(st, -EIO, "machine %" PRId64 " has a malformed MAC list \"%s\"", m->id,
			    text);
}

/* Read the current row of a MACHINE_COLUMNS query into *out; out is cleared on failure. */
static int
machine_from_row(struct store *st, sqlite3_stmt *stmt, struct machine *out)
{
	const char *state;
	int err;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(stmt, COL_ID);
	out->profile_id = sqlite3_column_int64(stmt, COL_PROFILE_ID);
	out->created_at = sqlite3_column_int64(stmt, COL_CREATED_AT);
	out->updated_at = sqlite3_column_int64(stmt, COL_UPDATED_AT);

	state = (const char *)sqlite3_column_text(stmt, COL_STATE);
	out->state = state ? machine_state_parse(state) : MACHINE_STATE_INVALID;
	if (out->state == MACHINE_STATE_INVALID)
		return store_errorf(st, -EIO, "machine %" PRId64 " has an invalid state", out->id);

	err = store_column_copy(st, stmt, COL_UUID, out->uuid, sizeof(out->uuid));
	if (err == 0)
		err = store_column_copy(st, stmt, COL_SERIAL, out->serial, sizeof(out->serial));
	if (err == 0)
		err = store_column_copy(st, stmt, COL_VENDOR, out->vendor, sizeof(out->vendor));
	if (err == 0)
		err = store_column_copy(st, stmt, COL_MODEL, out->model, sizeof(out->model));
	if (err == 0)
		err = store_column_copy(st, stmt, COL_ARCH, out->arch, sizeof(out->arch));
	if (err == 0)
		err = store_column_copy(st, stmt, COL_PLATFORM, out->platform,
					sizeof(out->platform));
	if (err == 0)
		err = store_column_copy(st, stmt, COL_IP, out->ip, sizeof(out->ip));
	if (err == 0)
		err = store_column_copy(st, stmt, COL_LEASE_IP, out->lease_ip,
					sizeof(out->lease_ip));
	if (err == 0)
		err = store_column_copy(st, stmt, COL_HOSTNAME, out->hostname,
					sizeof(out->hostname));
	if (err == 0)
		err = machine_parse_macs(st, (const char *)sqlite3_column_text(stmt, COL_MACS), out);
	if (err == 0)
		err = store_column_dup(st, stmt, COL_INVENTORY, &out->inventory);

	if (err < 0)
		machine_clear(out);
	return err;
}

/* Run a single-row machine query whose key is already bound. */
static int
machine_fetch_one(struct store *st, sqlite3_stmt *stmt, struct machine *ret, const char *what)
{
	struct machine m;
	int rc, err;

	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_sqlite_error(st, rc, what);

	err = machine_from_row(st, stmt, &m);
	if (err < 0)
		return err;

	*ret = m;
	return 0;
}

int
store_machine_get(struct store *st, int64_t id, struct machine *ret)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_MACHINE_GET,
				 "SELECT " MACHINE_COLUMNS " FROM machines WHERE id = :id", &stmt);
	if (err < 0)
		return err;

	store_bind_int(stmt, ":id", id, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "reading a machine");
	else
		err = machine_fetch_one(st, stmt, ret, "reading a machine");
	if (err == -ENOENT)
		store_errorf(st, err, "machine %" PRId64 " not found", id);

	store_stmt_release(st, STMT_MACHINE_GET, stmt);
	return err;
}

/*
 * The boot path's lookup: iPXE sends its MAC on every request. The statement is
 * cached, and both steps are primary-key searches (machine_macs by MAC, then
 * machines by rowid).
 */
int
store_machine_get_by_mac(struct store *st, const char *mac, struct machine *ret)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_MACHINE_GET_BY_MAC,
				 "SELECT " MACHINE_COLUMNS " FROM machines"
				 " WHERE id = (SELECT machine_id FROM machine_macs WHERE mac = :mac)",
				 &stmt);
	if (err < 0)
		return err;

	store_bind_text(stmt, ":mac", mac, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "looking up a machine by MAC");
	else
		err = machine_fetch_one(st, stmt, ret, "looking up a machine by MAC");
	if (err == -ENOENT)
		store_errorf(st, err, "no machine has MAC %s", mac);

	store_stmt_release(st, STMT_MACHINE_GET_BY_MAC, stmt);
	return err;
}

/*
 * Build the statement for one filter combination from constant pieces; values are
 * bound by name afterwards. Listing pages by id; counting ignores after_id and limit,
 * so it returns the total a paged listing walks through.
 */
static void
machine_filter_sql(unsigned int mask, bool count, char *out, size_t size)
{
	snprintf(out, size, "SELECT %s FROM machines WHERE %s%s%s%s%s%s",
		 count ? "count(*)" : MACHINE_COLUMNS,
		 count ? "1 = 1" : "id > :after_id",
		 mask & FILTER_STATE ? " AND state = :state" : "",
		 mask & FILTER_PROFILE ? " AND profile_id = :profile_id" : "",
		 mask & FILTER_MAC ?
			 " AND id IN (SELECT machine_id FROM machine_macs WHERE mac = :mac)" : "",
		 mask & FILTER_HOSTNAME ? " AND hostname = :hostname" : "",
		 count ? "" : " ORDER BY id LIMIT :limit");
}

/* Pick the statement slot for a filter and bind its values. */
static int
machine_filter_prepare(struct store *st, const struct machine_filter *f, bool count,
		       enum store_stmt *ret_id, sqlite3_stmt **ret)
{
	char sql[1024];
	unsigned int mask = 0;
	enum store_stmt id;
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	if (f->state != MACHINE_STATE_INVALID && (f->state < 0 || f->state >= MACHINE_STATE_MAX))
		return store_errorf(st, -EINVAL, "invalid machine state %d in filter", (int)f->state);

	if (f->state != MACHINE_STATE_INVALID)
		mask |= FILTER_STATE;
	if (f->profile_id != 0)
		mask |= FILTER_PROFILE;
	if (f->mac)
		mask |= FILTER_MAC;
	if (f->hostname)
		mask |= FILTER_HOSTNAME;

	id = (enum store_stmt)((count ? STMT_MACHINE_COUNT : STMT_MACHINE_LIST) + (int)mask);
	machine_filter_sql(mask, count, sql, sizeof(sql));
	err = store_stmt_acquire(st, id, sql, &stmt);
	if (err < 0)
		return err;

	if (mask & FILTER_STATE)
		store_bind_text(stmt, ":state", machine_state_name(f->state), &rc);
	if (mask & FILTER_PROFILE)
		store_bind_int(stmt, ":profile_id", f->profile_id, &rc);
	if (mask & FILTER_MAC)
		store_bind_text(stmt, ":mac", f->mac, &rc);
	if (mask & FILTER_HOSTNAME)
		store_bind_text(stmt, ":hostname", f->hostname, &rc);
	if (!count) {
		store_bind_int(stmt, ":after_id", f->after_id, &rc);
		/* A limit of 0 means no limit, which SQLite spells -1. */
		store_bind_int(stmt, ":limit",
			       f->limit == 0 || f->limit > INT64_MAX ? -1 : (int64_t)f->limit, &rc);
	}
	if (rc != SQLITE_OK) {
		store_stmt_release(st, id, stmt);
		return store_bind_error(st, rc, "filtering machines");
	}

	*ret_id = id;
	*ret = stmt;
	return 0;
}

static const struct machine_filter machine_filter_all = {
	.state = MACHINE_STATE_INVALID,
};

int
store_machine_list(struct store *st, const struct machine_filter *f, machine_cb cb, void *arg)
{
	enum store_stmt id;
	sqlite3_stmt *stmt;
	struct machine m;
	int rc, err;

	err = machine_filter_prepare(st, f ? f : &machine_filter_all, false, &id, &stmt);
	if (err < 0)
		return err;

	for (;;) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			err = store_sqlite_error(st, rc, "listing machines");
			break;
		}

		err = machine_from_row(st, stmt, &m);
		if (err < 0)
			break;
		err = cb(&m, arg);
		machine_clear(&m);
		if (err != 0)
			break;
	}

	store_stmt_release(st, id, stmt);
	return err;
}

int
store_machine_count(struct store *st, const struct machine_filter *f, int64_t *ret)
{
	enum store_stmt id;
	sqlite3_stmt *stmt;
	int rc, err;

	err = machine_filter_prepare(st, f ? f : &machine_filter_all, true, &id, &stmt);
	if (err < 0)
		return err;

	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(stmt, 0);
	else
		err = store_sqlite_error(st, rc, "counting machines");

	store_stmt_release(st, id, stmt);
	return err;
}
