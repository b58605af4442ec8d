/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loaded bundles and their artifacts. A bundle's row and its artifacts' rows are
 * written in one store operation, so a bundle is in the store whole or not at all.
 * The artifacts' bytes are files named by their SHA-256, which the bundle module
 * manages; the store records which hashes are in use.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define BUNDLE_COLUMNS \
	"b.id, b.name, b.version, b.kind, b.key_id, b.manifest_sha256, b.size, b.loaded_at," \
	" (SELECT count(*) FROM artifacts AS a WHERE a.bundle_id = b.id)"
/* An artifact's references: NAME/VERSION/PATH, NAME/VERSION/ROLE and sha256/ab/HASH. */
#define REF_NAME "b.name || '/' || b.version || '/' || a.path"
#define REF_ROLE "b.name || '/' || b.version || '/' || a.role"
#define REF_BLOB "'sha256/' || substr(a.sha256, 1, 2) || '/' || a.sha256"
#define ARTIFACT_COLUMNS \
	"a.id, a.bundle_id, b.name, b.version, a.path, a.role, a.sha256, a.size, a.metadata"

void
artifact_clear(struct artifact *a)
{
	free(a->metadata);
	a->metadata = NULL;
}

static int
bundle_from_row(struct store *st, sqlite3_stmt *stmt, struct bundle_info *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(stmt, 0);
	out->size = (uint64_t)sqlite3_column_int64(stmt, 6);
	out->loaded_at = sqlite3_column_int64(stmt, 7);
	out->file_count = sqlite3_column_int64(stmt, 8);
	err = store_column_copy(st, stmt, 1, out->name, sizeof(out->name));
	if (err == 0)
		err = store_column_copy(st, stmt, 2, out->version, sizeof(out->version));
	if (err == 0)
		err = store_column_copy(st, stmt, 3, out->kind, sizeof(out->kind));
	if (err == 0)
		err = store_column_copy(st, stmt, 4, out->key_id, sizeof(out->key_id));
	if (err == 0)
		err = store_column_copy(st, stmt, 5, out->manifest_sha256,
					sizeof(out->manifest_sha256));
	return err;
}

static int
artifact_from_row(struct store *st, sqlite3_stmt *stmt, struct artifact *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(stmt, 0);
	out->bundle_id = sqlite3_column_int64(stmt, 1);
	out->size = (uint64_t)sqlite3_column_int64(stmt, 7);
	err = store_column_copy(st, stmt, 2, out->bundle, sizeof(out->bundle));
	if (err == 0)
		err = store_column_copy(st, stmt, 3, out->version, sizeof(out->version));
	if (err == 0)
		err = store_column_copy(st, stmt, 4, out->path, sizeof(out->path));
	if (err == 0)
		err = store_column_copy(st, stmt, 5, out->role, sizeof(out->role));
	if (err == 0)
		err = store_column_copy(st, stmt, 6, out->sha256, sizeof(out->sha256));
	if (err == 0)
		err = store_column_dup(st, stmt, 8, &out->metadata);
	return err;
}

static int
artifact_insert(struct store *st, struct artifact *a)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_ARTIFACT_INSERT,
				 "INSERT INTO artifacts (bundle_id, path, role, sha256, size, metadata)"
				 " VALUES (:bundle, :path, :role, :sha256, :size, :metadata)",
				 &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":bundle", a->bundle_id, &rc);
	store_bind_text(stmt, ":path", a->path, &rc);
	store_bind_text(stmt, ":role", a->role, &rc);
	store_bind_text(stmt, ":sha256", a->sha256, &rc);
	store_bind_int(stmt, ":size", (int64_t)a->size, &rc);
	store_bind_text_or_null(stmt, ":metadata", a->metadata, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "inserting an artifact");
	else
		err = store_step_done(st, stmt, "inserting an artifact");
	if (err == 0)
		a->id = sqlite3_last_insert_rowid(st->db);
	store_stmt_release(st, STMT_ARTIFACT_INSERT, stmt);
	return err;
}

static int
bundle_row_insert(struct store *st, struct bundle_info *b, const char *manifest)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_BUNDLE_INSERT,
				 "INSERT INTO bundles (name, version, kind, key_id, manifest_sha256,"
				 " manifest, size, loaded_at) VALUES (:name, :version, :kind, :key,"
				 " :sha256, :manifest, :size, :now)", &stmt);
	if (err < 0)
		return err;
	store_bind_text(stmt, ":name", b->name, &rc);
	store_bind_text(stmt, ":version", b->version, &rc);
	store_bind_text(stmt, ":kind", b->kind, &rc);
	store_bind_text(stmt, ":key", b->key_id, &rc);
	store_bind_text(stmt, ":sha256", b->manifest_sha256, &rc);
	store_bind_text(stmt, ":manifest", manifest, &rc);
	store_bind_int(stmt, ":size", (int64_t)b->size, &rc);
	store_bind_int(stmt, ":now", b->loaded_at, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "inserting a bundle");
	else
		err = store_step_done(st, stmt, "inserting a bundle");
	if (err == -EEXIST)
		err = store_errorf(st, -EEXIST, "bundle %s version %s is already loaded",
				   b->name, b->version);
	if (err == 0)
		b->id = sqlite3_last_insert_rowid(st->db);
	store_stmt_release(st, STMT_BUNDLE_INSERT, stmt);
	return err;
}

int
store_bundle_insert(struct store *st, struct bundle_info *b, const char *manifest,
		    struct artifact *files, size_t count)
{
	bool outer;
	int err;

	err = store_op_begin(st, &outer);
	if (err < 0)
		return err;
	b->loaded_at = time_now();
	b->file_count = (int64_t)count;
	err = bundle_row_insert(st, b, manifest);
	for (size_t i = 0; i < count && err == 0; i++) {
		files[i].bundle_id = b->id;
		err = artifact_insert(st, &files[i]);
	}
	return store_op_end(st, outer, err);
}

/* Step `stmt` and hand each bundle row to cb. */
static int
bundle_rows(struct store *st, sqlite3_stmt *stmt, bundle_cb cb, void *arg)
{
	struct bundle_info b;
	int rc, err = 0;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		err = bundle_from_row(st, stmt, &b);
		if (err == 0)
			err = cb(&b, arg);
		if (err != 0)
			return err;
	}
	return rc == SQLITE_DONE ? 0 : store_sqlite_error(st, rc, "reading bundles");
}

static int
bundle_copy(const struct bundle_info *b, void *arg)
{
	*(struct bundle_info *)arg = *b;
	return 1;
}

int
store_bundle_get(struct store *st, const char *name, const char *version,
		 struct bundle_info *ret)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_BUNDLE_GET,
				 "SELECT " BUNDLE_COLUMNS " FROM bundles AS b"
				 " WHERE b.name = :name AND b.version = :version", &stmt);
	if (err < 0)
		return err;
	store_bind_text(stmt, ":name", name, &rc);
	store_bind_text(stmt, ":version", version, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "reading a bundle");
	else
		err = bundle_rows(st, stmt, bundle_copy, ret);
	if (err == 0)
		err = store_errorf(st, -ENOENT, "bundle %s version %s is not loaded", name,
				   version);
	store_stmt_release(st, STMT_BUNDLE_GET, stmt);
	return err == 1 ? 0 : err;
}

int
store_bundle_list(struct store *st, const char *name, bundle_cb cb, void *arg)
{
	enum store_stmt id = name != NULL ? STMT_BUNDLE_LIST_NAME : STMT_BUNDLE_LIST;
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, id, name != NULL ?
				 "SELECT " BUNDLE_COLUMNS " FROM bundles AS b WHERE b.name = :name"
				 " ORDER BY b.id" :
				 "SELECT " BUNDLE_COLUMNS " FROM bundles AS b ORDER BY b.name, b.id",
				 &stmt);
	if (err < 0)
		return err;
	if (name != NULL)
		store_bind_text(stmt, ":name", name, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "listing bundles");
	else
		err = bundle_rows(st, stmt, cb, arg);
	store_stmt_release(st, id, stmt);
	return err;
}

int
store_bundle_delete(struct store *st, int64_t id)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_BUNDLE_DELETE, "DELETE FROM bundles WHERE id = :id",
				 &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":id", id, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "deleting a bundle");
	else
		err = store_step_done(st, stmt, "deleting a bundle");
	if (err == 0 && sqlite3_changes(st->db) == 0)
		err = store_errorf(st, -ENOENT, "bundle %" PRId64 " not found", id);
	store_stmt_release(st, STMT_BUNDLE_DELETE, stmt);
	return err;
}

int
store_bundle_user(struct store *st, int64_t id, char *profile, size_t size)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	/* A reference is NAME/VERSION/PATH or ROLE, or the blob path under the artifact store. */
	err = store_stmt_acquire(st, STMT_BUNDLE_USER,
				 "SELECT p.name FROM artifacts AS a JOIN bundles AS b"
				 " ON b.id = a.bundle_id JOIN profiles AS p ON"
				 " p.kernel IN (" REF_NAME ", " REF_ROLE ", " REF_BLOB ") OR"
				 " p.initrd IN (" REF_NAME ", " REF_ROLE ", " REF_BLOB ") OR"
				 " p.image IN (" REF_NAME ", " REF_ROLE ", " REF_BLOB ")"
				 " WHERE a.bundle_id = :id ORDER BY p.name LIMIT 1", &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":id", id, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "finding a bundle's users");
		goto done;
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		err = store_column_copy(st, stmt, 0, profile, size);
	else if (rc == SQLITE_DONE)
		err = -ENOENT;
	else
		err = store_sqlite_error(st, rc, "finding a bundle's users");
done:
	store_stmt_release(st, STMT_BUNDLE_USER, stmt);
	return err;
}

/* Step `stmt` and hand each artifact row to cb. */
static int
artifact_rows(struct store *st, sqlite3_stmt *stmt, artifact_cb cb, void *arg)
{
	struct artifact a;
	int rc, err = 0;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		err = artifact_from_row(st, stmt, &a);
		if (err == 0)
			err = cb(&a, arg);
		artifact_clear(&a);
		if (err != 0)
			return err;
	}
	return rc == SQLITE_DONE ? 0 : store_sqlite_error(st, rc, "reading artifacts");
}

int
store_artifact_list(struct store *st, int64_t bundle_id, artifact_cb cb, void *arg)
{
	enum store_stmt id = bundle_id != 0 ? STMT_ARTIFACT_LIST_BUNDLE : STMT_ARTIFACT_LIST;
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, id, bundle_id != 0 ?
				 "SELECT " ARTIFACT_COLUMNS " FROM artifacts AS a JOIN bundles AS b"
				 " ON b.id = a.bundle_id WHERE a.bundle_id = :bundle ORDER BY a.id" :
				 "SELECT " ARTIFACT_COLUMNS " FROM artifacts AS a JOIN bundles AS b"
				 " ON b.id = a.bundle_id ORDER BY a.id", &stmt);
	if (err < 0)
		return err;
	if (bundle_id != 0)
		store_bind_int(stmt, ":bundle", bundle_id, &rc);
	if (rc != SQLITE_OK)
		err = store_bind_error(st, rc, "listing artifacts");
	else
		err = artifact_rows(st, stmt, cb, arg);
	store_stmt_release(st, id, stmt);
	return err;
}

static int
artifact_take(const struct artifact *a, void *arg)
{
	struct artifact *out = arg;

	*out = *a;
	out->metadata = a->metadata != NULL ? strdup(a->metadata) : NULL;
	return a->metadata != NULL && out->metadata == NULL ? -ENOMEM : 1;
}

/* Run a one-row artifact query whose parameters are already bound. */
static int
artifact_one(struct store *st, sqlite3_stmt *stmt, int rc, struct artifact *ret,
	     const char *missing)
{
	int err;

	if (rc != SQLITE_OK)
		return store_bind_error(st, rc, "reading an artifact");
	err = artifact_rows(st, stmt, artifact_take, ret);
	if (err == 0)
		return store_errorf(st, -ENOENT, "%s", missing);
	return err == 1 ? 0 : err;
}

int
store_artifact_get(struct store *st, int64_t id, struct artifact *ret)
{
	char missing[64];
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_ARTIFACT_GET,
				 "SELECT " ARTIFACT_COLUMNS " FROM artifacts AS a JOIN bundles AS b"
				 " ON b.id = a.bundle_id WHERE a.id = :id", &stmt);
	if (err < 0)
		return err;
	store_bind_int(stmt, ":id", id, &rc);
	snprintf(missing, sizeof(missing), "artifact %" PRId64 " not found", id);
	err = artifact_one(st, stmt, rc, ret, missing);
	store_stmt_release(st, STMT_ARTIFACT_GET, stmt);
	return err;
}

int
store_artifact_find(struct store *st, const char *name, const char *version, const char *path,
		    struct artifact *ret)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_ARTIFACT_FIND,
				 "SELECT " ARTIFACT_COLUMNS " FROM artifacts AS a JOIN bundles AS b"
				 " ON b.id = a.bundle_id WHERE b.name = :name AND b.version = :version"
				 " AND (a.path = :path OR (a.role = :path AND (SELECT count(*)"
				 " FROM artifacts AS r WHERE r.bundle_id = a.bundle_id"
				 " AND r.role = :path) = 1))"
				 " ORDER BY a.path = :path DESC LIMIT 1", &stmt);
	if (err < 0)
		return err;
	store_bind_text(stmt, ":name", name, &rc);
	store_bind_text(stmt, ":version", version, &rc);
	store_bind_text(stmt, ":path", path, &rc);
	err = artifact_one(st, stmt, rc, ret, "no such artifact");
	store_stmt_release(st, STMT_ARTIFACT_FIND, stmt);
	return err;
}

int
store_blob_list(struct store *st, int (*cb)(const char *sha256, uint64_t size, void *arg),
		void *arg)
{
	char sha256[SHA256_HEX_SIZE];
	sqlite3_stmt *stmt;
	int rc, err;

	err = store_stmt_acquire(st, STMT_BLOB_LIST,
				 "SELECT DISTINCT sha256, size FROM artifacts ORDER BY sha256", &stmt);
	if (err < 0)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		err = store_column_copy(st, stmt, 0, sha256, sizeof(sha256));
		if (err == 0)
			err = cb(sha256, (uint64_t)sqlite3_column_int64(stmt, 1), arg);
		if (err != 0)
			break;
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = store_sqlite_error(st, rc, "listing blobs");
	store_stmt_release(st, STMT_BLOB_LIST, stmt);
	return err;
}

int
store_blob_users(struct store *st, const char *sha256, int64_t *ret)
{
	sqlite3_stmt *stmt;
	int rc = SQLITE_OK, err;

	err = store_stmt_acquire(st, STMT_BLOB_USERS,
				 "SELECT count(*) FROM artifacts WHERE sha256 = :sha256", &stmt);
	if (err < 0)
		return err;
	store_bind_text(stmt, ":sha256", sha256, &rc);
	if (rc != SQLITE_OK) {
		err = store_bind_error(st, rc, "counting a blob's users");
	} else {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			*ret = sqlite3_column_int64(stmt, 0);
		else
			err = store_sqlite_error(st, rc, "counting a blob's users");
	}
	store_stmt_release(st, STMT_BLOB_USERS, stmt);
	return err;
}

/* The newest bundle of one kind, for store_bundle_newest. */
struct newest {
	const char *kind;
	struct bundle_info found;
};

static int
newest_cb(const struct bundle_info *b, void *arg)
{
	struct newest *n = arg;

	if (strcmp(b->kind, n->kind) == 0 && b->id > n->found.id)
		n->found = *b;
	return 0;
}

int
store_bundle_newest(struct store *st, const char *kind, struct bundle_info *ret)
{
	struct newest n = { .kind = kind };
	int err = store_bundle_list(st, NULL, newest_cb, &n);

	if (err < 0)
		return err;
	if (n.found.id == 0)
		return store_errorf(st, -ENOENT, "no %s bundle is loaded", kind);
	*ret = n.found;
	return 0;
}
