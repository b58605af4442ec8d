/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Upkeep of the content-addressed blob store: recovery at start (staging folders and
 * unreferenced blobs), removing a bundle and the blobs only it used, and re-hashing
 * every blob to find corruption at rest.
 */
#include "bundle/bundle.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "governance/governance.h"
#include "log/log.h"

#define CHUNK (1024 * 1024)

pthread_mutex_t bundle_store_lock = PTHREAD_MUTEX_INITIALIZER;

enum bundle_ref
bundle_ref_resolve(struct store *st, int artifact_fd, const char *ref,
		   char blob[BUNDLE_BLOB_PATH_SIZE], char sha256[SHA256_HEX_SIZE])
{
	char name[STORE_NAME_SIZE], version[STORE_VERSION_SIZE];
	const char *slash1 = strchr(ref, '/'), *slash2;
	struct artifact a;
	struct stat file;

	if (strncmp(ref, "staging/", 8) == 0 || strcmp(ref, "staging") == 0)
		return BUNDLE_REF_MISSING;
	slash2 = slash1 != NULL ? strchr(slash1 + 1, '/') : NULL;
	if (st != NULL && slash2 != NULL && (size_t)(slash1 - ref) < sizeof(name) &&
	    (size_t)(slash2 - slash1 - 1) < sizeof(version)) {
		memcpy(name, ref, (size_t)(slash1 - ref));
		name[slash1 - ref] = '\0';
		memcpy(version, slash1 + 1, (size_t)(slash2 - slash1 - 1));
		version[slash2 - slash1 - 1] = '\0';
		if (store_artifact_find(st, name, version, slash2 + 1, &a) == 0) {
			snprintf(blob, BUNDLE_BLOB_PATH_SIZE, "sha256/%.2s/%s", a.sha256, a.sha256);
			memcpy(sha256, a.sha256, SHA256_HEX_SIZE);
			artifact_clear(&a);
			return BUNDLE_REF_BLOB;
		}
	}
	if (fstatat(artifact_fd, ref, &file, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(file.st_mode) &&
	    faccessat(artifact_fd, ref, R_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return BUNDLE_REF_FILE;
	return BUNDLE_REF_MISSING;
}

int
bundle_open_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd, flags;

	/* O_NONBLOCK, so that opening a FIFO with no writer does not wait for one. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return err_set(-errno, err, errlen, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(-EINVAL, err, errlen, "%s is not a regular file; give the path of "
			       "a bundle file", path);
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		int rc = -errno;

		close(fd);
		return err_set(rc, err, errlen, "cannot read %s: %s", path, strerror(-rc));
	}
	return fd;
}

static bool
is_hash_name(const char *name)
{
	if (strlen(name) != SHA256_HEX_SIZE - 1)
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* Remove every entry of the folder `fd` (closed here) and, one level down, theirs. */
static unsigned
folder_empty(int fd)
{
	struct dirent *de;
	unsigned removed = 0;
	DIR *d = fdopendir(fd);

	if (d == NULL) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		int sub;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0) {
			removed += folder_empty(sub);
			unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
		} else {
			unlinkat(dirfd(d), de->d_name, 0);
		}
		removed++;
	}
	closedir(d);
	return removed;
}

/* Remove the blobs in one "ab" folder that no artifact refers to. */
static int
orphans_remove(struct store *st, int dir_fd, unsigned *removed)
{
	struct dirent *de;
	DIR *d = fdopendir(dir_fd);
	int rc = 0;

	if (d == NULL) {
		close(dir_fd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		int64_t users = 0;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (is_hash_name(de->d_name)) {
			rc = store_blob_users(st, de->d_name, &users);
			if (rc < 0)
				break;
			if (users > 0)
				continue;
		}
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			(*removed)++;
	}
	closedir(d);
	return rc;
}

int
bundle_store_recover(struct store *st, const char *artifact_dir)
{
	char path[4096];
	unsigned staged = 0, orphans = 0;
	struct dirent *de;
	DIR *cas;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/staging", artifact_dir);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		staged = folder_empty(fd);

	snprintf(path, sizeof(path), "%s/sha256", artifact_dir);
	cas = opendir(path);
	while (cas != NULL && rc == 0 && (de = readdir(cas)) != NULL) {
		if (strlen(de->d_name) != 2 || !isxdigit((unsigned char)de->d_name[0]))
			continue;
		fd = openat(dirfd(cas), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			    O_CLOEXEC);
		if (fd >= 0)
			rc = orphans_remove(st, fd, &orphans);
	}
	if (cas != NULL)
		closedir(cas);
	if (rc < 0) {
		log_err("bundle: cannot check blobs in %s: %s", path, store_error(st));
		return rc;
	}
	if (staged > 0 || orphans > 0)
		log_info("bundle: recovered the artifact store dir=%s staging_entries=%u "
			 "unreferenced_blobs=%u", artifact_dir, staged, orphans);
	return 0;
}

struct remove_args {
	struct bundle_info info;
	bool force;
	char **hashes;               /* owned; the bundle's blobs, to release after commit */
	size_t count;
};

static int
hash_collect(const struct artifact *a, void *arg)
{
	struct remove_args *args = arg;
	char **grown = reallocarray(args->hashes, args->count + 1, sizeof(*grown));

	if (grown == NULL)
		return -ENOMEM;
	args->hashes = grown;
	args->hashes[args->count] = strdup(a->sha256);
	if (args->hashes[args->count] == NULL)
		return -ENOMEM;
	args->count++;
	return 0;
}

/* gov_execute operation: refuse a bundle in use unless forced, then delete its rows. */
static int
rows_delete(struct store *st, void *arg, char *err, size_t errlen)
{
	struct remove_args *args = arg;
	char profile[STORE_NAME_SIZE];
	int rc;

	if (!args->force) {
		rc = store_bundle_user(st, args->info.id, profile, sizeof(profile));
		if (rc == 0)
			return err_set(-EBUSY, err, errlen, "profile %s uses bundle %s version %s; "
				       "change the profile first, or pass --force", profile,
				       args->info.name, args->info.version);
		if (rc != -ENOENT)
			return err_set(rc, err, errlen, "%s", store_error(st));
	}
	rc = store_artifact_list(st, args->info.id, hash_collect, args);
	if (rc == 0)
		rc = store_bundle_delete(st, args->info.id);
	if (rc < 0)
		err_set(rc, err, errlen, "%s", rc == -ENOMEM ? "out of memory" : store_error(st));
	return rc;
}

int
bundle_remove(struct store *st, const char *artifact_dir, const char *name, const char *version,
	      bool force, const char *actor, char *err, size_t errlen)
{
	struct remove_args args = { .force = force };
	char target[16 + STORE_NAME_SIZE + STORE_VERSION_SIZE], path[4096];
	struct action action;
	unsigned released = 0;
	int rc;

	/* A running load may be about to commit rows that name these blobs. */
	if (pthread_mutex_trylock(&bundle_store_lock) != 0)
		return err_set(-EAGAIN, err, errlen, "a bundle load or check is running; remove "
			       "bundle %s version %s when it has ended", name, version);
	rc = store_bundle_get(st, name, version, &args.info);
	if (rc < 0) {
		pthread_mutex_unlock(&bundle_store_lock);
		return err_set(rc, err, errlen, "%s", store_error(st));
	}
	snprintf(target, sizeof(target), "bundle:%s@%s", name, version);
	action = (struct action){
		.actor = actor,
		.name = force ? "bundle.remove.force" : "bundle.remove",
		.target = target,
		.risk = RISK_DESTRUCTIVE,
		.detail = NULL,
	};
	rc = gov_execute(st, &action, rows_delete, &args, err, errlen);

	/* After the commit: a crash before this leaves orphans for bundle_store_recover. */
	for (size_t i = 0; i < args.count; i++) {
		int64_t users = 1;

		if (rc == 0 && store_blob_users(st, args.hashes[i], &users) == 0 && users == 0) {
			snprintf(path, sizeof(path), "%s/sha256/%.2s/%s", artifact_dir,
				 args.hashes[i], args.hashes[i]);
			released += unlink(path) == 0;
		}
		free(args.hashes[i]);
	}
	free(args.hashes);
	pthread_mutex_unlock(&bundle_store_lock);
	if (rc == 0)
		log_info("bundle: removed name=%s version=%s id=%" PRId64 " blobs_freed=%u "
			 "actor=%s", name, version, args.info.id, released, actor);
	return rc;
}

struct check_args {
	const struct bundle_load_opts *o;
	int cas_fd;
	unsigned char *chunk;
	EVP_MD_CTX *md;
	uint64_t done, total;
	void (*cb)(const char *sha256, const char *reason, void *arg);
	void *arg;
	uint64_t blobs;
};

/* Hash one blob; report it when it is missing, of another size or another hash. */
static int
blob_check(const char *sha256, uint64_t size, void *arg)
{
	struct check_args *c = arg;
	char path[3 + SHA256_HEX_SIZE], hex[SHA256_HEX_SIZE], reason[160];
	unsigned char digest[32];
	struct stat st;
	uint64_t got = 0;
	ssize_t n;
	int fd;

	c->blobs++;
	snprintf(path, sizeof(path), "%.2s/%s", sha256, sha256);
	fd = openat(c->cas_fd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		c->cb(sha256, "the blob is not a regular file", c->arg);
		return 0;
	}
	if (fd < 0) {
		snprintf(reason, sizeof(reason), "cannot open the blob: %s", strerror(errno));
		c->cb(sha256, reason, c->arg);
		return 0;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	EVP_DigestInit_ex(c->md, EVP_sha256(), NULL);
	while ((n = read(fd, c->chunk, CHUNK)) > 0) {
		EVP_DigestUpdate(c->md, c->chunk, (size_t)n);
		got += (uint64_t)n;
		c->done += (uint64_t)n;
		if (c->o->progress != NULL)
			c->o->progress(c->o->progress_ctx, c->done, c->total);
		if (c->o->cancel != NULL && atomic_load(c->o->cancel)) {
			close(fd);
			return -ECANCELED;
		}
	}
	close(fd);
	EVP_DigestFinal_ex(c->md, digest, NULL);
	hex_encode(digest, sizeof(digest), hex);
	if (n < 0)
		snprintf(reason, sizeof(reason), "read error: %s", strerror(errno));
	else if (got != size)
		snprintf(reason, sizeof(reason), "the blob is %" PRIu64 " bytes, not %" PRIu64,
			 got, size);
	else if (strcmp(hex, sha256) != 0)
		snprintf(reason, sizeof(reason), "the blob's bytes hash to %s", hex);
	else
		return 0;
	c->cb(sha256, reason, c->arg);
	return 0;
}

static int
blob_size_add(const char *sha256, uint64_t size, void *arg)
{
	(void)sha256;
	*(uint64_t *)arg += size;
	return 0;
}

int
bundle_check_installed(struct store *st, const struct bundle_load_opts *o,
		       void (*cb)(const char *sha256, const char *reason, void *arg), void *arg,
		       uint64_t *ret_blobs, char *err, size_t errlen)
{
	struct check_args c = { .o = o, .cb = cb, .arg = arg };
	char path[4096];
	int rc;

	/* A removal during the check would show its blobs as missing. */
	pthread_mutex_lock(&bundle_store_lock);
	snprintf(path, sizeof(path), "%s/sha256", o->artifact_dir);
	c.cas_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	c.chunk = malloc(CHUNK);
	c.md = EVP_MD_CTX_new();
	if (c.cas_fd < 0 && errno != ENOENT)
		rc = err_set(-errno, err, errlen, "cannot open %s: %s", path, strerror(errno));
	else if (c.chunk == NULL || c.md == NULL)
		rc = err_set(-ENOMEM, err, errlen, "out of memory");
	else
		rc = store_blob_list(st, blob_size_add, &c.total);
	if (rc == 0)
		rc = store_blob_list(st, blob_check, &c);
	if (rc == -ECANCELED)
		err_set(rc, err, errlen, "the check was stopped: the daemon is shutting down");
	else if (rc < 0 && err != NULL && err[0] == '\0')
		err_set(rc, err, errlen, "%s", store_error(st));
	if (c.cas_fd >= 0)
		close(c.cas_fd);
	free(c.chunk);
	EVP_MD_CTX_free(c.md);
	pthread_mutex_unlock(&bundle_store_lock);
	*ret_blobs = c.blobs;
	return rc;
}
