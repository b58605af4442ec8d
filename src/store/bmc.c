/* SPDX-License-Identifier: Apache-2.0 */
/* BMCs: where each one is, how to reach it, and the machine it belongs to. */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

#define BMC_COLUMNS \
	"id, machine_id, protocol, address, port, username, secret, tls, ca_file," \
	" fingerprint, created_at, updated_at, status, status_detail, power_state, checked_at"

static bool
one_of(const char *value, const char *a, const char *b, const char *c)
{
	return strcmp(value, a) == 0 || strcmp(value, b) == 0 || (c != NULL && strcmp(value, c) == 0);
}

static int
bmc_validate(struct store *st, const struct bmc_record *b)
{
	if (!store_text_fits(b->protocol, sizeof(b->protocol)) ||
	    !one_of(b->protocol, "redfish", "ipmi", NULL))
		return store_errorf(st, -EINVAL, "invalid BMC protocol: expected redfish or ipmi");
	if (!store_text_fits(b->address, sizeof(b->address)) || b->address[0] == '\0')
		return store_errorf(st, -EINVAL, "a BMC needs an address of 1 to %zu bytes",
				    sizeof(b->address) - 1);
	if (b->port < 0 || b->port > 65535)
		return store_errorf(st, -EINVAL, "invalid BMC port %" PRId64 ": expected 0 to 65535",
				    b->port);
	if (!store_text_fits(b->tls, sizeof(b->tls)) || !one_of(b->tls, "ca", "pinned", "tofu"))
		return store_errorf(st, -EINVAL, "invalid BMC TLS policy: expected ca, pinned or tofu");
	if (!store_text_fits(b->username, sizeof(b->username)) ||
	    !store_text_fits(b->secret, sizeof(b->secret)) || b->secret[0] == '\0' ||
	    !store_text_fits(b->ca_file, sizeof(b->ca_file)) ||
	    !store_text_fits(b->fingerprint, sizeof(b->fingerprint)))
		return store_errorf(st, -EINVAL, "BMC %s has a field that is not NUL-terminated, "
				    "or no sealed secret", b->address);
	if (b->fingerprint[0] != '\0' && (strlen(b->fingerprint) != 64 ||
					  strspn(b->fingerprint, "0123456789abcdef") != 64))
		return store_errorf(st, -EINVAL, "invalid fingerprint for BMC %s: expected 64 "
				    "lower-case hex digits", b->address);
	return 0;
}

static void
endpoint_of(const struct bmc_record *b, char *out, size_t size)
{
	snprintf(out, size, "%s:%s:%" PRId64, b->protocol, b->address, b->port);
}

/* Map a failed write of BMC b (row `self`, 0 before insert) to its errno. */
static int
bmc_write_error(struct store *st, int rc, const struct bmc_record *b, int64_t self,
		const char *what)
{
	char endpoint[300];
	int64_t owner;
	int err = store_sqlite_error(st, rc, what);
	int found;

	if (err != -EEXIST)
		return err;
	endpoint_of(b, endpoint, sizeof(endpoint));
	found = store_find_owner(st, STMT_BMC_ENDPOINT_OWNER,
				 "SELECT id FROM bmcs WHERE endpoint = :value AND id <> :self",
				 endpoint, self, &owner);
	if (found < 0)
		return found;
	if (found)
		return store_errorf(st, -EEXIST, "the %s BMC at %s port %" PRId64 " is enrolled "
				    "already as BMC %" PRId64, b->protocol, b->address, b->port, owner);
	return err;
}

/* Bound text is not copied, so `endpoint` must live until the statement has run. */
static void
bmc_bind(sqlite3_stmt *stmt, const struct bmc_record *b, const char *endpoint, int64_t now,
	 int *rc)
{
	if (b->machine_id > 0)
		store_bind_int(stmt, ":machine_id", b->machine_id, rc);
	store_bind_text(stmt, ":protocol", b->protocol, rc);
	store_bind_text(stmt, ":address", b->address, rc);
	store_bind_int(stmt, ":port", b->port, rc);
	store_bind_text(stmt, ":endpoint", endpoint, rc);
	store_bind_text(stmt, ":username", b->username, rc);
	store_bind_text(stmt, ":secret", b->secret, rc);
	store_bind_text(stmt, ":tls", b->tls, rc);
	store_bind_text(stmt, ":ca_file", b->ca_file, rc);
	store_bind_text(stmt, ":fingerprint", b->fingerprint, rc);
	store_bind_int(stmt, ":now", now, rc);
}

/* Run a bound INSERT or UPDATE of b and map its errors. */
static int
bmc_write(struct store *st, enum store_stmt id, const char *sql, struct bmc_record *b,
	  const char *what)
{
	sqlite3_stmt *stmt;
	int64_t now = time_now();
	char endpoint[300];
	int rc = SQLITE_OK, err = bmc_validate(st, b);

	if (err < 0)
		return err;
	err = store_stmt_acquire(st, id, sql, &stmt);
	if (err < 0)
		return err;
	endpoint_of(b, endpoint, sizeof(endpoint));
	bmc_bind(stmt, b, endpoint, now, &rc);
	if (id == STMT_BMC_UPDATE)
		store_bind_int(stmt, ":id", b->id, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, what);
	} else {
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE)
			err = bmc_write_error(st, rc, b, id == STMT_BMC_UPDATE ? b->id : 0, what);
		else if (id == STMT_BMC_UPDATE && sqlite3_changes(st->db) == 0)
			err = store_errorf(st, -ENOENT, "BMC %" PRId64 " not found", b->id);
	}
	if (err == 0 && id == STMT_BMC_INSERT) {
		b->id = sqlite3_last_insert_rowid(st->db);
		b->created_at = now;
	}
	if (err == 0)
		b->updated_at = now;
	store_stmt_release(st, id, stmt);
	return err;
}

int
store_bmc_insert(struct store *st, struct bmc_record *b)
{
	return bmc_write(st, STMT_BMC_INSERT,
			 "INSERT INTO bmcs (machine_id, protocol, address, port, endpoint, username,"
			 " secret, tls, ca_file, fingerprint, created_at, updated_at)"
			 " VALUES (:machine_id, :protocol, :address, :port, :endpoint, :username,"
			 " :secret, :tls, :ca_file, :fingerprint, :now, :now)",
			 b, "inserting a BMC");
}

int
store_bmc_update(struct store *st, struct bmc_record *b)
{
	return bmc_write(st, STMT_BMC_UPDATE,
			 "UPDATE bmcs SET machine_id = :machine_id, protocol = :protocol,"
			 " address = :address, port = :port, endpoint = :endpoint,"
			 " username = :username, secret = :secret, tls = :tls, ca_file = :ca_file,"
			 " fingerprint = :fingerprint, updated_at = :now WHERE id = :id",
			 b, "updating a BMC");
}

static int
bmc_from_row(struct store *st, sqlite3_stmt *stmt, struct bmc_record *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(stmt, 0);
	out->machine_id = sqlite3_column_int64(stmt, 1);
	out->port = sqlite3_column_int64(stmt, 4);
	out->created_at = sqlite3_column_int64(stmt, 10);
	out->updated_at = sqlite3_column_int64(stmt, 11);
	err = store_column_copy(st, stmt, 2, out->protocol, sizeof(out->protocol));
	if (err == 0)
		err = store_column_copy(st, stmt, 3, out->address, sizeof(out->address));
	if (err == 0)
		err = store_column_copy(st, stmt, 5, out->username, sizeof(out->username));
	if (err == 0)
		err = store_column_copy(st, stmt, 6, out->secret, sizeof(out->secret));
	if (err == 0)
		err = store_column_copy(st, stmt, 7, out->tls, sizeof(out->tls));
	if (err == 0)
		err = store_column_copy(st, stmt, 8, out->ca_file, sizeof(out->ca_file));
	if (err == 0)
		err = store_column_copy(st, stmt, 9, out->fingerprint, sizeof(out->fingerprint));
	if (err == 0)
		err = store_column_copy(st, stmt, 12, out->status, sizeof(out->status));
	if (err == 0)
		err = store_column_copy(st, stmt, 13, out->status_detail, sizeof(out->status_detail));
	if (err == 0)
		err = store_column_copy(st, stmt, 14, out->power_state, sizeof(out->power_state));
	out->checked_at = sqlite3_column_int64(stmt, 15);
	return err;
}

int
store_bmc_get(struct store *st, int64_t id, struct bmc_record *ret)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_BMC_GET,
				 "SELECT " BMC_COLUMNS " FROM bmcs WHERE id = :id", &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":id", id, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "reading a BMC");
	} else {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			err = bmc_from_row(st, stmt, ret);
		else if (rc == SQLITE_DONE)
			err = store_errorf(st, -ENOENT, "BMC %" PRId64 " not found", id);
		else
			err = store_sqlite_error(st, rc, "reading a BMC");
	}
	store_stmt_release(st, STMT_BMC_GET, stmt);
	return err;
}

int
store_bmc_delete(struct store *st, int64_t id)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_BMC_DELETE, "DELETE FROM bmcs WHERE id = :id", &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":id", id, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "deleting a BMC");
	} else {
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE)
			err = store_sqlite_error(st, rc, "deleting a BMC");
		else if (sqlite3_changes(st->db) == 0)
			err = store_errorf(st, -ENOENT, "BMC %" PRId64 " not found", id);
	}
	store_stmt_release(st, STMT_BMC_DELETE, stmt);
	return err;
}

int
store_bmc_list(struct store *st, int64_t machine_id, bmc_record_cb cb, void *arg)
{
	enum store_stmt id = machine_id > 0 ? STMT_BMC_LIST_MACHINE : STMT_BMC_LIST;
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, id, machine_id > 0 ?
				 "SELECT " BMC_COLUMNS " FROM bmcs WHERE machine_id = :machine_id"
				 " ORDER BY id" :
				 "SELECT " BMC_COLUMNS " FROM bmcs ORDER BY id", &stmt);
	if (err < 0)
		return err;
	if (machine_id > 0)
		store_bind_int(stmt, ":machine_id", machine_id, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "listing BMCs");
	while (err == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct bmc_record b;

		err = bmc_from_row(st, stmt, &b);
		if (err == 0)
			err = cb(&b, arg);
		explicit_bzero(b.secret, sizeof(b.secret));
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = store_sqlite_error(st, rc, "listing BMCs");
	store_stmt_release(st, id, stmt);
	return err;
}

int
store_bmc_observe(struct store *st, int64_t id, const char *status, const char *detail,
		  const char *power_state)
{
	char detail_cut[sizeof(((struct bmc_record *)0)->status_detail)];
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	if (strcmp(status, "ok") != 0 && strcmp(status, "error") != 0)
		return store_errorf(st, -EINVAL, "invalid BMC status %s: expected ok or error",
				    status);
	if (power_state != NULL && strlen(power_state) >= sizeof(((struct bmc_record *)0)->power_state))
		return store_errorf(st, -EINVAL, "BMC power state is too long");
	/* Printable ASCII only, so a cut never splits a UTF-8 sequence. */
	snprintf(detail_cut, sizeof(detail_cut), "%s", detail);
	text_sanitize(detail_cut);
	err = store_stmt_acquire(st, STMT_BMC_OBSERVE,
				 "UPDATE bmcs SET status = :status, status_detail = :detail,"
				 " power_state = coalesce(:power, power_state), checked_at = :now"
				 " WHERE id = :id", &stmt);
	if (err < 0)
		return err;
	store_bind_text(stmt, ":status", status, &rc);
	store_bind_text(stmt, ":detail", detail_cut, &rc);
	if (power_state != NULL)
		store_bind_text(stmt, ":power", power_state, &rc);
	store_bind_int(stmt, ":now", time_now(), &rc);
	store_bind_int(stmt, ":id", id, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "recording a BMC's status");
	} else {
		err = store_step_done(st, stmt, "recording a BMC's status");
		if (err == 0 && sqlite3_changes(st->db) == 0)
			err = store_errorf(st, -ENOENT, "BMC %" PRId64 " not found", id);
	}
	store_stmt_release(st, STMT_BMC_OBSERVE, stmt);
	return err;
}
