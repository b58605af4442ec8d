/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading a bundle into the appliance's store, in one pass over the file:
 *
 *   1. bundle_walk checks the manifest and its signature; then the loader refuses a
 *      version already loaded or older than one loaded, checks free space, and makes
 *      a staging folder under <artifact_dir>/staging.
 *   2. Each payload is written to a new staging file (O_EXCL, O_NOFOLLOW, under the
 *      staging folder's descriptor) by a staging writer's thread while the walk
 *      hashes the next bytes. The walk hashes up to one entry per CPU at once (see
 *      walk.c), and each of its lanes has a writer of its own. A payload whose blob
 *      the store already has is hashed but not written.
 *   3. Once every entry has matched the manifest, the file system is synced, the
 *      staged files are renamed to <artifact_dir>/sha256/ab/HASH (never over an
 *      existing file), the file system is synced again, and the bundle's rows and
 *      audit entry are written in one transaction.
 *
 * A crash before the transaction leaves staging folders and blobs no row refers to.
 * bundle_store_recover removes both at the next start, so a bundle is either fully
 * present or absent.
 */
#include "bundle/bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "governance/governance.h"
#include "log/log.h"

/* Space kept free on the artifact file system after a load, in bytes. */
#define FREE_SPACE_RESERVE (64ULL * 1024 * 1024)
/*
 * Buffers of BUNDLE_CHUNK bytes per staging writer: 8 MiB keeps the disk busy while
 * the hash runs, and all lanes together get at most LOAD_BUFFERS_TOTAL, which bounds
 * the load's memory.
 */
#define LOAD_BUFFERS_PER_LANE 8
#define LOAD_BUFFERS_TOTAL 16

struct loader {
	const struct bundle_load_opts *o;
	struct store *st;
	int cas_fd;                  /* <artifact_dir>/sha256 */
	int staging_root_fd;         /* <artifact_dir>/staging */
	int staging_fd;              /* this load's folder, -1 until the manifest is in */
	char staging_name[48];
	const struct bundle_manifest *m;
	unsigned char *staged;       /* per manifest file: 1 when written to staging */
	unsigned lanes;              /* entries the walk may hash at once */
	/* Per lane: the writer of its staged files, made at its first entry (lane 0's
	 * once the manifest is in), and whether its entry's blob is already stored. */
	struct stage_writer *writers[BUNDLE_LANES_MAX];
	bool skipping[BUNDLE_LANES_MAX];
	uint64_t file_size;          /* of the bundle file, for progress */
};

/* "ab" and the blob's path "sha256/ab/HASH" for a hash. */
static void
blob_dir(const char *sha256, char out[3])
{
	out[0] = sha256[0];
	out[1] = sha256[1];
	out[2] = '\0';
}

/* Create the blob's folder <artifact_dir>/sha256/ab unless it exists. */
static int
blob_dir_create(struct loader *l, const char *sha256, char *err, size_t errlen)
{
	char dir[3];

	blob_dir(sha256, dir);
	if (mkdirat(l->cas_fd, dir, 0755) < 0 && errno != EEXIST)
		return err_set(-errno, err, errlen, "cannot create %s/sha256/%s: %s",
			       l->o->artifact_dir, dir, strerror(errno));
	return 0;
}

/* Return true when the blob exists as a regular file of `size` bytes. */
static bool
blob_present(int cas_fd, const char *sha256, uint64_t size)
{
	char path[3 + SHA256_HEX_SIZE];
	struct stat st;

	snprintf(path, sizeof(path), "%.2s/%s", sha256, sha256);
	return fstatat(cas_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	       (uint64_t)st.st_size == size;
}

struct version_scan {
	const char *version;
	char newest[STORE_VERSION_SIZE];
	bool same;
};

static int
version_scan_one(const struct bundle_info *b, void *arg)
{
	struct version_scan *scan = arg;

	if (strcmp(b->version, scan->version) == 0)
		scan->same = true;
	if (scan->newest[0] == '\0' || bundle_version_compare(b->version, scan->newest) > 0)
		snprintf(scan->newest, sizeof(scan->newest), "%s", b->version);
	return 0;
}

/* Refuse a version already loaded, or older than the newest one loaded. */
static int
version_check(struct loader *l, const struct bundle_manifest *m, char *err, size_t errlen)
{
	struct version_scan scan = { .version = m->version };
	int rc;

	rc = store_bundle_list(l->st, m->name, version_scan_one, &scan);
	if (rc < 0)
		return err_set(rc, err, errlen, "cannot read the loaded bundles: %s",
			       store_error(l->st));
	if (scan.same)
		return err_set(-EEXIST, err, errlen, "bundle %s version %s is already loaded",
			       m->name, m->version);
	if (scan.newest[0] != '\0' && bundle_version_compare(m->version, scan.newest) < 0 &&
	    !l->o->allow_downgrade)
		return err_set(-EPERM, err, errlen, "bundle %s version %s is older than the "
			       "loaded version %s; pass --allow-downgrade to load it anyway",
			       m->name, m->version, scan.newest);
	return 0;
}

/* Check that the payloads the store does not have yet fit, with a reserve. */
static int
space_check(struct loader *l, const struct bundle_manifest *m, char *err, size_t errlen)
{
	uint64_t needed = FREE_SPACE_RESERVE, available;
	struct statvfs vfs;

	for (size_t i = 0; i < m->file_count; i++)
		if (!blob_present(l->cas_fd, m->files[i].sha256, m->files[i].size))
			needed += m->files[i].size;
	if (fstatvfs(l->cas_fd, &vfs) < 0)
		return err_set(-errno, err, errlen, "cannot read the free space of %s: %s",
			       l->o->artifact_dir, strerror(errno));
	available = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (available < needed)
		return err_set(-ENOSPC, err, errlen, "bundle %s needs %" PRIu64 " MiB on %s, "
			       "with a reserve of %llu MiB, and %" PRIu64 " MiB are free; make room "
			       "or remove bundles", m->name, needed >> 20, l->o->artifact_dir,
			       FREE_SPACE_RESERVE >> 20, available >> 20);
	return 0;
}

/* Count the CPUs this thread may run on, up to BUNDLE_LANES_MAX: the walk's lanes. */
static unsigned
lanes_available(void)
{
	cpu_set_t set;
	int count;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	count = CPU_COUNT(&set);
	if (count < 1)
		return 1;
	return count > BUNDLE_LANES_MAX ? BUNDLE_LANES_MAX : (unsigned)count;
}

/*
 * Start the staging writer of `lane`. Lane 0's starts with the manifest, because the
 * walk's reading thread takes buffers from it. The others start on their first entry,
 * on their own thread, so lanes that a walk does not use cost nothing.
 */
static int
writer_start(struct loader *l, unsigned lane, char *err, size_t errlen)
{
	unsigned buffers = LOAD_BUFFERS_TOTAL / l->lanes;
	int rc;

	if (l->writers[lane] != NULL)
		return 0;
	if (buffers > LOAD_BUFFERS_PER_LANE)
		buffers = LOAD_BUFFERS_PER_LANE;
	rc = stage_writer_new(l->staging_fd, l->m, buffers, &l->writers[lane]);
	if (rc < 0)
		return err_set(rc, err, errlen, "cannot start a staging writer: %s",
			       strerror(-rc));
	return 0;
}

static int
load_manifest(void *ctx, const struct bundle_manifest *m, char *err, size_t errlen)
{
	struct loader *l = ctx;
	char suffix[17];
	int rc;

	l->m = m;
	rc = version_check(l, m, err, errlen);
	if (rc == 0)
		rc = space_check(l, m, err, errlen);
	if (rc < 0)
		return rc;
	l->staged = calloc(m->file_count, 1);
	if (l->staged == NULL || random_hex(sizeof(suffix) / 2, suffix) < 0)
		return err_set(-ENOMEM, err, errlen, "out of memory starting the load");
	snprintf(l->staging_name, sizeof(l->staging_name), "load-%s", suffix);
	if (mkdirat(l->staging_root_fd, l->staging_name, 0700) < 0)
		return err_set(-errno, err, errlen, "cannot create a staging folder in %s/staging: "
			       "%s", l->o->artifact_dir, strerror(errno));
	l->staging_fd = openat(l->staging_root_fd, l->staging_name,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (l->staging_fd < 0)
		return err_set(-errno, err, errlen, "cannot open the staging folder: %s",
			       strerror(errno));
	rc = writer_start(l, 0, err, errlen);
	if (rc < 0)
		return rc;
	log_info("bundle: loading name=%s version=%s files=%zu key=%s staging=%s lanes=%u",
		 m->name, m->version, m->file_count, m->key_id, l->staging_name, l->lanes);
	return 0;
}

static int
load_begin(void *ctx, unsigned lane, const struct bundle_file *f, char *err, size_t errlen)
{
	struct loader *l = ctx;
	size_t index = (size_t)(f - l->m->files);
	int rc;

	/* The walk takes buffers from this lane's writer even for a blob it skips. */
	rc = writer_start(l, lane, err, errlen);
	if (rc < 0)
		return rc;
	l->skipping[lane] = blob_present(l->cas_fd, f->sha256, f->size);
	if (l->skipping[lane])
		return 0;
	/*
	 * The blob's folder is made now, while other lanes hash, rather than in the commit,
	 * which waits for it. An empty folder left by a failed load is harmless.
	 */
	rc = blob_dir_create(l, f->sha256, err, errlen);
	if (rc < 0)
		return rc;
	l->staged[index] = 1;
	return stage_writer_open(l->writers[lane], index, err, errlen);
}

/* Called on the walk's reading thread for lane 0, and on the lane's worker otherwise. */
static void *
load_buffer(void *ctx, unsigned lane, char *err, size_t errlen)
{
	struct loader *l = ctx;

	if (l->o->cancel != NULL && atomic_load(l->o->cancel)) {
		err_set(-ECANCELED, err, errlen, "the load was stopped: the daemon is shutting "
			"down");
		return NULL;
	}
	return stage_writer_buffer(l->writers[lane], err, errlen);
}

static int
load_data(void *ctx, unsigned lane, const void *buf, size_t len, char *err, size_t errlen)
{
	struct loader *l = ctx;

	if (len == 0 || l->skipping[lane]) {
		stage_writer_release(l->writers[lane], buf);
		return 0;
	}
	return stage_writer_data(l->writers[lane], buf, len, err, errlen);
}

static int
load_end(void *ctx, unsigned lane, const struct bundle_file *f, char *err, size_t errlen)
{
	struct loader *l = ctx;

	if (l->skipping[lane])
		return 0;
	return stage_writer_close(l->writers[lane], (size_t)(f - l->m->files), err, errlen);
}

static void
load_progress(void *ctx, uint64_t done)
{
	struct loader *l = ctx;

	if (l->o->progress != NULL)
		l->o->progress(l->o->progress_ctx, done, l->file_size);
}

/*
 * Flush the artifact file system: the staged bytes before they move, the renames
 * before the rows that name them. One syncfs costs one flush of the disk, where an
 * fsync per file and folder of a bundle with 1,000 small files costs 2,000.
 */
static int
store_sync(struct loader *l, const char *what, char *err, size_t errlen)
{
	if (syncfs(l->cas_fd) == 0)
		return 0;
	return err_set(-errno, err, errlen, "cannot sync %s to disk (%s): %s",
		       l->o->artifact_dir, what, strerror(errno));
}

/* Rename the synced staged files into the blob store, then sync the renames. */
static int
blobs_commit(struct loader *l, char *err, size_t errlen)
{
	const struct bundle_manifest *m = l->m;
	int rc;

	rc = store_sync(l, "the staged files", err, errlen);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < m->file_count; i++) {
		char dir[3], name[24], target[3 + SHA256_HEX_SIZE];

		if (!l->staged[i])
			continue;
		/* load_begin made it, so this is a lookup unless it was removed since. */
		rc = blob_dir_create(l, m->files[i].sha256, err, errlen);
		if (rc < 0)
			return rc;
		blob_dir(m->files[i].sha256, dir);
		snprintf(name, sizeof(name), "%zu", i);
		snprintf(target, sizeof(target), "%s/%s", dir, m->files[i].sha256);
		/* The same bytes may have arrived meanwhile, or twice in this bundle. */
		if (renameat2(l->staging_fd, name, l->cas_fd, target, RENAME_NOREPLACE) < 0) {
			if (errno != EEXIST)
				return err_set(-errno, err, errlen, "entry %s: cannot move it into "
					       "the store: %s", m->files[i].path, strerror(errno));
			unlinkat(l->staging_fd, name, 0);
		}
	}
	return store_sync(l, "the moved files", err, errlen);
}

struct insert_args {
	const struct bundle_manifest *m;
	struct bundle_info *info;
	char *manifest_json;
};

/* gov_execute operation: the bundle's row and its artifacts' rows. */
static int
rows_insert(struct store *st, void *arg, char *err, size_t errlen)
{
	struct insert_args *args = arg;
	const struct bundle_manifest *m = args->m;
	struct artifact *files;
	int rc;

	files = calloc(m->file_count, sizeof(*files));
	if (files == NULL)
		return err_set(-ENOMEM, err, errlen, "out of memory");
	for (size_t i = 0; i < m->file_count; i++) {
		snprintf(files[i].path, sizeof(files[i].path), "%s", m->files[i].path);
		snprintf(files[i].role, sizeof(files[i].role), "%s",
			 bundle_role_name(m->files[i].role));
		memcpy(files[i].sha256, m->files[i].sha256, SHA256_HEX_SIZE);
		files[i].size = m->files[i].size;
		files[i].metadata = m->files[i].metadata != NULL ?
			json_dumps(m->files[i].metadata, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	}
	rc = store_bundle_insert(st, args->info, args->manifest_json, files, m->file_count);
	if (rc < 0)
		err_set(rc, err, errlen, "%s", store_error(st));
	for (size_t i = 0; i < m->file_count; i++)
		free(files[i].metadata);
	free(files);
	return rc;
}

/* Write the rows and the audit entry for a bundle whose blobs are in place. */
static int
rows_commit(struct loader *l, struct bundle_info *info, char *err, size_t errlen)
{
	const struct bundle_manifest *m = l->m;
	struct insert_args args = { .m = m, .info = info };
	char target[16 + BUNDLE_NAME_SIZE + BUNDLE_VERSION_SIZE], detail[512];
	struct action action;
	uint64_t size = 0;
	json_t *json;
	int rc;

	memset(info, 0, sizeof(*info));
	for (size_t i = 0; i < m->file_count; i++)
		size += m->files[i].size;
	snprintf(info->name, sizeof(info->name), "%s", m->name);
	snprintf(info->version, sizeof(info->version), "%s", m->version);
	snprintf(info->kind, sizeof(info->kind), "%s", bundle_kind_name(m->kind));
	snprintf(info->key_id, sizeof(info->key_id), "%s", m->key_id);
	memcpy(info->manifest_sha256, m->sha256, SHA256_HEX_SIZE);
	info->size = size;

	/* The canonical form of what was signed: the same members, parsed and checked. */
	args.manifest_json = bundle_manifest_dump(m, &(size_t){ 0 }, err, errlen);
	if (args.manifest_json == NULL)
		return -EINVAL;
	snprintf(target, sizeof(target), "bundle:%s@%s", m->name, m->version);
	json = json_pack("{s:s, s:s, s:I, s:I}", "manifest_sha256", m->sha256, "key_id",
			 m->key_id, "files", (json_int_t)m->file_count, "bytes", (json_int_t)size);
	snprintf(detail, sizeof(detail), "%s", "{}");
	if (json != NULL) {
		char *text = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS);

		if (text != NULL)
			snprintf(detail, sizeof(detail), "%s", text);
		free(text);
		json_decref(json);
	}
	action = (struct action){
		.actor = l->o->actor,
		.name = "bundle.load",
		.target = target,
		.risk = RISK_CHANGE,
		.detail = detail,
	};
	rc = gov_execute(l->st, &action, rows_insert, &args, err, errlen);
	free(args.manifest_json);
	return rc;
}

/* Remove blobs this load moved into the store that no row refers to. */
static void
blobs_release(struct loader *l)
{
	for (size_t i = 0; i < l->m->file_count; i++) {
		char path[3 + SHA256_HEX_SIZE];
		int64_t users = 1;

		if (!l->staged[i] || store_blob_users(l->st, l->m->files[i].sha256, &users) < 0 ||
		    users > 0)
			continue;
		snprintf(path, sizeof(path), "%.2s/%s", l->m->files[i].sha256,
			 l->m->files[i].sha256);
		unlinkat(l->cas_fd, path, 0);
	}
}

/* Remove a staging folder and the files in it. */
static void
staging_remove(int root_fd, const char *name)
{
	int fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd >= 0 && (d = fdopendir(fd)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	unlinkat(root_fd, name, AT_REMOVEDIR);
}

/* Open <dir>/<name> as a folder, creating it first. Returns the descriptor or -errno. */
static int
subdir_open(const char *dir, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int
bundle_load(struct store *st, int fd, const struct bundle_load_opts *o, struct bundle_info *ret,
	    char *err, size_t errlen)
{
	struct loader l = { .o = o, .st = st, .staging_fd = -1 };
	struct bundle_sink sink = {
		.begin = load_begin,
		.data = load_data,
		.end = load_end,
		.manifest = load_manifest,
		.progress = load_progress,
		.buffer = load_buffer,
		.ctx = &l,
	};
	struct bundle_manifest *m = NULL;
	int64_t started = time_monotonic_ms(), walked = 0;
	struct stat file_st;
	int rc;

	l.lanes = lanes_available();
	sink.lanes = l.lanes;
	l.file_size = o->size;
	if (l.file_size == 0 && fstat(fd, &file_st) == 0)
		l.file_size = (uint64_t)file_st.st_size;
	pthread_mutex_lock(&bundle_store_lock);
	l.cas_fd = subdir_open(o->artifact_dir, "sha256");
	l.staging_root_fd = subdir_open(o->artifact_dir, "staging");
	if (l.cas_fd < 0 || l.staging_root_fd < 0) {
		rc = err_set(l.cas_fd < 0 ? l.cas_fd : l.staging_root_fd, err, errlen,
			     "cannot open the artifact store %s: %s", o->artifact_dir,
			     strerror(-(l.cas_fd < 0 ? l.cas_fd : l.staging_root_fd)));
		goto done;
	}

	rc = bundle_walk(fd, o->ring, &sink, &m, err, errlen);
	walked = time_monotonic_ms();
	/* Every staged file must be written before it moves. */
	for (unsigned i = 0; i < BUNDLE_LANES_MAX; i++) {
		int wrc = stage_writer_finish(l.writers[i], rc < 0, rc < 0 ? NULL : err, errlen);

		l.writers[i] = NULL;
		if (rc == 0)
			rc = wrc;
	}
	/* A cut-off upload is the reason, whatever the walk made of the bytes it got. */
	if (o->input_cut != NULL && atomic_load(o->input_cut))
		rc = err_set(-ECANCELED, err, errlen, "the upload ended before all of its bytes "
			     "arrived, or was too slow; nothing was loaded");
	if (rc == 0)
		rc = blobs_commit(&l, err, errlen);
	if (rc == 0)
		rc = rows_commit(&l, ret, err, errlen);
	/* Only after a complete walk can blobs have moved; l.m is valid then. */
	if (rc < 0 && m != NULL)
		blobs_release(&l);
done:
	if (l.staging_fd >= 0) {
		close(l.staging_fd);
		staging_remove(l.staging_root_fd, l.staging_name);
	}
	/* walk_ms: reading, hashing and writing; commit_ms: syncs, moves and rows. */
	if (rc == 0)
		log_info("bundle: loaded name=%s version=%s id=%" PRId64 " files=%zu bytes=%" PRIu64
			 " walk_ms=%" PRId64 " commit_ms=%" PRId64, m->name, m->version, ret->id,
			 m->file_count, ret->size, walked - started, time_monotonic_ms() - walked);
	else
		log_warning("bundle: load failed: %s", err);
	bundle_manifest_free(m);
	free(l.staged);
	if (l.cas_fd >= 0)
		close(l.cas_fd);
	if (l.staging_root_fd >= 0)
		close(l.staging_root_fd);
	pthread_mutex_unlock(&bundle_store_lock);
	return rc;
}
