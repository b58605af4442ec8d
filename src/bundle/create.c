/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `bundle create`. It reads a spec (the bundle's name, version, kind and files with
 * their source paths, roles and metadata) and hashes every source. Then it writes and
 * signs the manifest, writes the archive to a temporary file beside the output and
 * renames it into place. Each source is read twice: once to hash it for the manifest,
 * and once to copy it. The second read is hashed too, so a file that changes in
 * between fails the create instead of producing a bundle whose manifest is wrong.
 */
#include "bundle/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define CHUNK (1024 * 1024)

/* One payload: where it comes from and its manifest entry. */
struct source_file {
	char source[PATH_MAX];
	struct bundle_file *file;    /* in the manifest */
};

struct create {
	const struct bundle_create_opts *opts;
	struct bundle_manifest *m;
	struct source_file *sources; /* owned; in manifest order */
	unsigned char *chunk;        /* owned */
	uint64_t total;              /* payload bytes */
	uint64_t done;
	char *err;
	size_t errlen;
};

static int
spec_string(struct create *c, json_t *obj, const char *where, const char *key, bool required,
	    const char **ret)
{
	json_t *v = json_object_get(obj, key);

	*ret = NULL;
	if (v == NULL)
		return required ? err_set(-EINVAL, c->err, c->errlen, "spec %s: missing \"%s\"",
					  where, key) : 0;
	if (!json_is_string(v))
		return err_set(-EINVAL, c->err, c->errlen, "spec %s: \"%s\" must be a string",
			       where, key);
	*ret = json_string_value(v);
	return 0;
}

static int
spec_members_known(struct create *c, json_t *obj, const char *where,
		   const char *const *known)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		size_t i;

		(void)v;
		for (i = 0; known[i] != NULL && strcmp(known[i], key) != 0; i++)
			;
		if (known[i] == NULL)
			return err_set(-EINVAL, c->err, c->errlen, "spec %s: unknown member "
				       "\"%s\"", where, key);
	}
	return 0;
}

static int
source_cmp(const void *a, const void *b)
{
	return strcmp(((const struct source_file *)a)->file->path,
		      ((const struct source_file *)b)->file->path);
}

/*
 * Read a source file once, hashing it, and copy it into the archive when `tw` is not
 * NULL. Sets *ret_size and hex.
 */
static int
source_read(struct create *c, const char *path, struct tar_writer *tw, uint64_t *ret_size,
	    char hex[SHA256_HEX_SIZE])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[32];
	uint64_t size = 0;
	struct stat st;
	int fd, rc = 0;

	if (md == NULL)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = err_set(-errno, c->err, c->errlen, "cannot open %s: %s", path,
			     strerror(errno));
		goto done;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = err_set(-EINVAL, c->err, c->errlen, "%s is not a regular file", path);
		goto done;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (rc == 0) {
		ssize_t n = read(fd, c->chunk, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = err_set(-errno, c->err, c->errlen, "cannot read %s: %s", path,
				     strerror(errno));
		if (n <= 0)
			break;
		EVP_DigestUpdate(md, c->chunk, (size_t)n);
		size += (uint64_t)n;
		if (tw == NULL)
			continue;
		rc = tar_write(tw, c->chunk, (size_t)n, c->err, c->errlen);
		c->done += (uint64_t)n;
		if (c->opts->progress != NULL)
			c->opts->progress(c->opts->progress_ctx, c->done, c->total);
	}
	EVP_DigestFinal_ex(md, digest, NULL);
	hex_encode(digest, sizeof(digest), hex);
	*ret_size = size;
done:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(md);
	return rc;
}

static int
spec_file(struct create *c, json_t *obj, size_t i, const char *base)
{
	static const char *const known[] = { "source", "path", "role", "metadata", NULL };
	struct source_file *s = &c->sources[i];
	struct bundle_file *f = &c->m->files[i];
	const char *source, *path, *role;
	char where[32];
	int rc, r;

	snprintf(where, sizeof(where), "files[%zu]", i);
	if (!json_is_object(obj))
		return err_set(-EINVAL, c->err, c->errlen, "spec %s must be an object", where);
	rc = spec_members_known(c, obj, where, known);
	if (rc == 0)
		rc = spec_string(c, obj, where, "source", true, &source);
	if (rc == 0)
		rc = spec_string(c, obj, where, "path", true, &path);
	if (rc == 0)
		rc = spec_string(c, obj, where, "role", true, &role);
	if (rc < 0)
		return rc;

	if (snprintf(s->source, sizeof(s->source), "%s%s%s", source[0] == '/' ? "" : base,
		     source[0] == '/' ? "" : "/", source) >= (int)sizeof(s->source) ||
	    snprintf(f->path, sizeof(f->path), "%s", path) >= (int)sizeof(f->path))
		return err_set(-ENAMETOOLONG, c->err, c->errlen, "spec %s: source or path is "
			       "too long", where);
	for (r = 0; r < BUNDLE_ROLE_MAX; r++)
		if (strcmp(bundle_role_name((enum bundle_role)r), role) == 0)
			break;
	if (r == BUNDLE_ROLE_MAX)
		return err_set(-EINVAL, c->err, c->errlen, "spec %s: unknown role \"%s\"", where,
			       role);
	f->role = (enum bundle_role)r;
	f->metadata = json_incref(json_object_get(obj, "metadata"));
	s->file = f;
	rc = source_read(c, s->source, NULL, &f->size, f->sha256);
	c->total += f->size;
	return rc;
}

/* Fill the manifest and the sources from the spec file. */
static int
spec_load(struct create *c)
{
	static const char *const known[] = { "name", "version", "kind", "description", "files",
					     NULL };
	const char *name, *version, *kind, *description;
	char base[PATH_MAX], copy[PATH_MAX];
	json_error_t jerr;
	json_t *root, *files;
	int rc, k;

	root = json_load_file(c->opts->spec_path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return err_set(-EINVAL, c->err, c->errlen, "cannot read spec %s: %s at line %d",
			       c->opts->spec_path, jerr.text, jerr.line);
	snprintf(copy, sizeof(copy), "%s", c->opts->spec_path);
	snprintf(base, sizeof(base), "%s",
		 c->opts->base_dir != NULL ? c->opts->base_dir : dirname(copy));

	rc = json_is_object(root) ? spec_members_known(c, root, "", known)
				  : err_set(-EINVAL, c->err, c->errlen, "spec must be a JSON "
					    "object");
	if (rc == 0)
		rc = spec_string(c, root, "", "name", true, &name);
	if (rc == 0)
		rc = spec_string(c, root, "", "version", true, &version);
	if (rc == 0)
		rc = spec_string(c, root, "", "kind", true, &kind);
	if (rc == 0)
		rc = spec_string(c, root, "", "description", false, &description);
	files = json_object_get(root, "files");
	if (rc == 0 && (!json_is_array(files) || json_array_size(files) == 0 ||
			json_array_size(files) > BUNDLE_FILES_MAX))
		rc = err_set(-EINVAL, c->err, c->errlen, "spec: \"files\" must be an array of "
			     "1 to %d files", BUNDLE_FILES_MAX);
	if (rc < 0)
		goto done;

	c->m->format_version = BUNDLE_FORMAT_VERSION;
	snprintf(c->m->name, sizeof(c->m->name), "%s", name);
	snprintf(c->m->version, sizeof(c->m->version), "%s", version);
	for (k = 0; k < BUNDLE_KIND_MAX; k++)
		if (strcmp(bundle_kind_name((enum bundle_kind)k), kind) == 0)
			break;
	if (k == BUNDLE_KIND_MAX) {
		rc = err_set(-EINVAL, c->err, c->errlen, "spec: unknown kind \"%s\"; use os, "
			     "firmware, ramdisk or platform", kind);
		goto done;
	}
	c->m->kind = (enum bundle_kind)k;
	if (description != NULL && (c->m->description = strdup(description)) == NULL) {
		rc = -ENOMEM;
		goto done;
	}
	c->m->file_count = json_array_size(files);
	c->m->files = calloc(c->m->file_count, sizeof(*c->m->files));
	c->sources = calloc(c->m->file_count, sizeof(*c->sources));
	if (c->m->files == NULL || c->sources == NULL) {
		rc = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < c->m->file_count && rc == 0; i++)
		rc = spec_file(c, json_array_get(files, i), i, base);
done:
	json_decref(root);
	return rc;
}

/* Sort the files by path, keeping each source with its manifest entry. */
static int
files_sort(struct create *c)
{
	size_t n = c->m->file_count;
	struct bundle_file *sorted = calloc(n, sizeof(*sorted));

	if (sorted == NULL)
		return -ENOMEM;
	qsort(c->sources, n, sizeof(*c->sources), source_cmp);
	for (size_t i = 0; i < n; i++) {
		sorted[i] = *c->sources[i].file;
		c->sources[i].file = &sorted[i];
	}
	free(c->m->files);
	c->m->files = sorted;
	return 0;
}

/* Copy one source into the archive, hashing it again to catch a change since. */
static int
payload_copy(struct create *c, struct tar_writer *tw, const struct source_file *s)
{
	char hex[SHA256_HEX_SIZE];
	uint64_t size;
	int rc;

	rc = tar_begin(tw, s->file->path, s->file->size, c->err, c->errlen);
	if (rc == 0)
		rc = source_read(c, s->source, tw, &size, hex);
	if (rc == 0 && (size != s->file->size || strcmp(hex, s->file->sha256) != 0))
		rc = err_set(-EAGAIN, c->err, c->errlen, "%s changed while the bundle was "
			     "written; run create again", s->source);
	return rc;
}

/* Write the whole archive to `fd`. */
static int
archive_write(struct create *c, int fd, const char *manifest, size_t manifest_len,
	      const unsigned char *sig)
{
	struct tar_writer *tw;
	int rc;

	rc = tar_writer_new(fd, c->opts->zstd, c->opts->mtime, &tw, c->err, c->errlen);
	if (rc < 0)
		return rc;
	rc = tar_begin(tw, "manifest.json", manifest_len, c->err, c->errlen);
	if (rc == 0)
		rc = tar_write(tw, manifest, manifest_len, c->err, c->errlen);
	if (rc == 0)
		rc = tar_begin(tw, "manifest.sig", BUNDLE_SIG_BYTES, c->err, c->errlen);
	if (rc == 0)
		rc = tar_write(tw, sig, BUNDLE_SIG_BYTES, c->err, c->errlen);
	for (size_t i = 0; i < c->m->file_count && rc == 0; i++)
		rc = payload_copy(c, tw, &c->sources[i]);
	if (rc == 0)
		rc = tar_writer_finish(tw, c->err, c->errlen);
	tar_writer_free(tw);
	return rc;
}

/* Write to a temporary file beside `out`, then fsync and rename it into place. */
static int
output_write(struct create *c, const char *manifest, size_t manifest_len,
	     const unsigned char *sig)
{
	const char *out = c->opts->output_path;
	char tmp[PATH_MAX], fallback[BUNDLE_NAME_SIZE + BUNDLE_VERSION_SIZE + 8];
	int fd, rc;

	if (out == NULL) {
		snprintf(fallback, sizeof(fallback), "%s-%s.bundle", c->m->name, c->m->version);
		out = fallback;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-%d", out, (int)getpid()) >= (int)sizeof(tmp))
		return err_set(-ENAMETOOLONG, c->err, c->errlen, "output path %s is too long",
			       out);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_set(-errno, c->err, c->errlen, "cannot create %s: %s", tmp,
			       strerror(errno));
	rc = archive_write(c, fd, manifest, manifest_len, sig);
	if (rc == 0 && fsync(fd) < 0)
		rc = err_set(-errno, c->err, c->errlen, "cannot write %s: %s", tmp,
			     strerror(errno));
	close(fd);
	if (rc == 0 && !c->opts->replace && access(out, F_OK) == 0)
		rc = err_set(-EEXIST, c->err, c->errlen, "%s already exists; remove it or pass "
			     "--force", out);
	if (rc == 0 && rename(tmp, out) < 0)
		rc = err_set(-errno, c->err, c->errlen, "cannot rename %s to %s: %s", tmp, out,
			     strerror(errno));
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int
bundle_create(const struct bundle_create_opts *opts, struct bundle_manifest **ret_manifest,
	      char *err, size_t errlen)
{
	struct create c = { .opts = opts, .err = err, .errlen = errlen };
	unsigned char sig[BUNDLE_SIG_BYTES];
	char *manifest = NULL;
	size_t manifest_len = 0;
	EVP_PKEY *key = NULL;
	int rc;

	c.m = calloc(1, sizeof(*c.m));
	c.chunk = malloc(CHUNK);
	if (c.m == NULL || c.chunk == NULL) {
		rc = err_set(-ENOMEM, err, errlen, "out of memory");
		goto done;
	}
	rc = bundle_key_load_private(opts->key_path, &key, c.m->key_id, err, errlen);
	if (rc == 0)
		rc = spec_load(&c);
	if (rc == 0)
		rc = files_sort(&c);
	if (rc == 0) {
		manifest = bundle_manifest_dump(c.m, &manifest_len, err, errlen);
		if (manifest == NULL)
			rc = -EINVAL;
	}
	if (rc == 0)
		rc = bundle_sign(key, manifest, manifest_len, sig, err, errlen);
	if (rc == 0)
		rc = output_write(&c, manifest, manifest_len, sig);
done:
	EVP_PKEY_free(key);
	free(manifest);
	free(c.chunk);
	free(c.sources);
	if (rc == 0 && ret_manifest != NULL)
		*ret_manifest = c.m;
	else
		bundle_manifest_free(c.m);
	return rc;
}
