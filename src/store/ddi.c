/* SPDX-License-Identifier: Apache-2.0 */
/* The store's side of DHCP and DNS: the hosts Kea and PowerDNS serve, and conflicts. */
#include "store/store_internal.h"

#include <errno.h>
#include <string.h>

#include "util/util.h"

int
store_ddi_hosts(struct store *st, ddi_host_cb cb, void *arg)
{
	sqlite3_stmt *stmt;
	int rc, err;

	err = store_stmt_acquire(st, STMT_DDI_HOSTS,
				 "SELECT m.id, mm.mac, m.ip, m.hostname, m.lease_ip FROM machines m"
				 " LEFT JOIN machine_macs mm ON mm.machine_id = m.id AND mm.position = 0"
				 " WHERE m.ip IS NOT NULL OR m.hostname IS NOT NULL ORDER BY m.id",
				 &stmt);
	if (err < 0)
		return err;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct ddi_host h;

		memset(&h, 0, sizeof(h));
		h.id = sqlite3_column_int64(stmt, 0);
		err = store_column_copy(st, stmt, 1, h.mac, sizeof(h.mac));
		if (err == 0)
			err = store_column_copy(st, stmt, 2, h.ip, sizeof(h.ip));
		if (err == 0)
			err = store_column_copy(st, stmt, 3, h.hostname, sizeof(h.hostname));
		if (err == 0)
			err = store_column_copy(st, stmt, 4, h.lease_ip, sizeof(h.lease_ip));
		if (err == 0)
			err = cb(&h, arg);
		if (err != 0)
			break;
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = store_sqlite_error(st, rc, "listing DDI hosts");
	store_stmt_release(st, STMT_DDI_HOSTS, stmt);
	return err;
}

int
store_ddi_conflict_record(struct store *st, const struct ddi_conflict *c, int64_t *ret_count)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_DDI_CONFLICT_RECORD,
				 "INSERT INTO ddi_conflicts (kind, address, mac, machine_id, detail,"
				 " first_seen, last_seen, count)"
				 " VALUES (:kind, :address, :mac, :machine_id, :detail, :now, :now, 1)"
				 " ON CONFLICT (kind, address, mac) DO UPDATE SET count = count + 1,"
				 " last_seen = excluded.last_seen, detail = excluded.detail,"
				 " machine_id = excluded.machine_id RETURNING count",
				 &stmt);
	if (err < 0)
		return err;

	store_bind_text(stmt, ":kind", c->kind, &rc);
	store_bind_text(stmt, ":address", c->address, &rc);
	store_bind_text(stmt, ":mac", c->mac, &rc);
	if (c->machine_id > 0)
		store_bind_int(stmt, ":machine_id", c->machine_id, &rc);
	else
		store_bind_text(stmt, ":machine_id", NULL, &rc);
	store_bind_text(stmt, ":detail", c->detail, &rc);
	store_bind_int(stmt, ":now", time_now(), &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "recording a DDI conflict");
	} else {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			*ret_count = sqlite3_column_int64(stmt, 0);
			rc = sqlite3_step(stmt);
		}
		if (rc != SQLITE_DONE)
			err = store_sqlite_error(st, rc, "recording a DDI conflict");
	}
	store_stmt_release(st, STMT_DDI_CONFLICT_RECORD, stmt);
	return err;
}

int
store_ddi_conflict_list(struct store *st, ddi_conflict_cb cb, void *arg)
{
	sqlite3_stmt *stmt;
	int rc, err;

	err = store_stmt_acquire(st, STMT_DDI_CONFLICT_LIST,
				 "SELECT kind, address, mac, machine_id, detail, first_seen, last_seen,"
				 " count FROM ddi_conflicts ORDER BY last_seen DESC, kind, address, mac",
				 &stmt);
	if (err < 0)
		return err;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct ddi_conflict c;

		memset(&c, 0, sizeof(c));
		err = store_column_copy(st, stmt, 0, c.kind, sizeof(c.kind));
		if (err == 0)
			err = store_column_copy(st, stmt, 1, c.address, sizeof(c.address));
		if (err == 0)
			err = store_column_copy(st, stmt, 2, c.mac, sizeof(c.mac));
		if (err == 0)
			err = store_column_copy(st, stmt, 4, c.detail, sizeof(c.detail));
		c.machine_id = sqlite3_column_int64(stmt, 3);
		c.first_seen = sqlite3_column_int64(stmt, 5);
		c.last_seen = sqlite3_column_int64(stmt, 6);
		c.count = sqlite3_column_int64(stmt, 7);
		if (err == 0)
			err = cb(&c, arg);
		if (err != 0)
			break;
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = store_sqlite_error(st, rc, "listing DDI conflicts");
	store_stmt_release(st, STMT_DDI_CONFLICT_LIST, stmt);
	return err;
}

int
store_machine_lease_set(struct store *st, int64_t id, const char *ip)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_DDI_LEASE_SET,
				 "UPDATE machines SET lease_ip = :ip, updated_at = :now WHERE id = :id",
				 &stmt);
	if (err < 0)
		return err;
	store_bind_text_or_null(stmt, ":ip", ip, &rc);
	store_bind_int(stmt, ":now", time_now(), &rc);
	store_bind_int(stmt, ":id", id, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "recording a lease");
	else
		err = store_step_done(st, stmt, "recording a lease");
	if (err == 0 && sqlite3_changes(st->db) == 0)
		err = store_errorf(st, -ENOENT, "machine %lld not found", (long long)id);
	store_stmt_release(st, STMT_DDI_LEASE_SET, stmt);
	return err;
}
