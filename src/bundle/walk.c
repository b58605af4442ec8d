/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The walk over a bundle: one pass over the file that checks the manifest, its
 * signature and every payload entry, in the order docs/bundle-format.md gives, and
 * hands each payload's bytes to a sink while they are hashed. The signature is checked
 * before the first payload byte is read, so a sink is never given unsigned content. A
 * sink learns that an entry's bytes matched the manifest only at its `end` call.
 */
#include "bundle/bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>


struct walk {
	struct bundle_source *src;
	struct tar_reader *tr;
	const struct bundle_sink *sink;
	struct bundle_manifest *m;
	unsigned char *seen;         /* one byte per manifest file */
	unsigned char *chunk;        /* BUNDLE_CHUNK bytes */
	EVP_MD_CTX *md;
	char *err;
	size_t errlen;
};

/* Read a whole small entry (the manifest or the signature) into `out`. */
static int
entry_slurp(struct walk *w, const struct tar_entry *e, unsigned char *out)
{
	uint64_t done = 0;

	while (done < e->size) {
		ssize_t n = tar_read(w->tr, out + done, (size_t)(e->size - done), w->err,
				     w->errlen);

		if (n < 0)
			return (int)n;
		done += (uint64_t)n;
	}
	return 0;
}

/*
 * Read entries 1 and 2, the manifest and its signature, and parse the manifest into
 * w->m. Sets *ret_text (caller frees) and *ret_len to the manifest's exact bytes.
 */
static int
manifest_entries(struct walk *w, unsigned char **ret_text, size_t *ret_len,
		 unsigned char sig[BUNDLE_SIG_BYTES])
{
	unsigned char *text;
	struct tar_entry e;
	size_t text_len;
	int rc;

	rc = tar_next(w->tr, &e, w->err, w->errlen);
	if (rc == 0)
		rc = err_set(-EBADMSG, w->err, w->errlen, "the archive is empty: a bundle "
			     "starts with manifest.json");
	if (rc < 0)
		return rc;
	if (strcmp(e.path, "manifest.json") != 0)
		return err_set(-EBADMSG, w->err, w->errlen, "the first entry is %s; a bundle "
			       "starts with manifest.json", e.path);
	if (e.size > BUNDLE_MANIFEST_MAX)
		return err_set(-EFBIG, w->err, w->errlen, "manifest.json is %llu bytes, more "
			       "than the maximum of %d", (unsigned long long)e.size,
			       BUNDLE_MANIFEST_MAX);
	text_len = (size_t)e.size;
	text = malloc(text_len + 1);
	if (text == NULL)
		return -ENOMEM;
	rc = entry_slurp(w, &e, text);
	if (rc == 0)
		rc = bundle_manifest_parse((const char *)text, text_len, &w->m, w->err,
					   w->errlen);
	if (rc == 0)
		rc = tar_next(w->tr, &e, w->err, w->errlen);
	if (rc == 0)
		rc = err_set(-EBADMSG, w->err, w->errlen, "the archive ends after "
			     "manifest.json: manifest.sig is missing");
	if (rc > 0 && strcmp(e.path, "manifest.sig") != 0)
		rc = err_set(-EBADMSG, w->err, w->errlen, "the second entry is %s, not "
			     "manifest.sig: the bundle is not signed", e.path);
	if (rc > 0 && e.size != BUNDLE_SIG_BYTES)
		rc = err_set(-EBADMSG, w->err, w->errlen, "manifest.sig is %llu bytes; an "
			     "Ed25519 signature is %d", (unsigned long long)e.size,
			     BUNDLE_SIG_BYTES);
	if (rc > 0)
		rc = entry_slurp(w, &e, sig);
	if (rc < 0) {
		free(text);
		return rc;
	}
	*ret_text = text;
	*ret_len = text_len;
	return 0;
}

/* Entries 1 and 2, with the signature checked against the keyring. */
static int
manifest_read(struct walk *w, const struct bundle_keyring *ring)
{
	unsigned char sig[BUNDLE_SIG_BYTES];
	unsigned char *text;
	size_t len;
	int rc;

	rc = manifest_entries(w, &text, &len, sig);
	if (rc < 0)
		return rc;
	rc = bundle_keyring_verify(ring, w->m->key_id, text, len, sig, sizeof(sig), w->err,
				   w->errlen);
	free(text);
	return rc;
}

/*
 * Read up to BUNDLE_CHUNK bytes of the current entry, filling the buffer unless the
 * entry ends, so that every chunk but an entry's last is whole: a sink writing with
 * O_DIRECT needs aligned sizes. Returns the count, 0 at the entry's end, or < 0.
 */
static ssize_t
chunk_fill(struct walk *w, unsigned char *buf)
{
	size_t done = 0;

	while (done < BUNDLE_CHUNK) {
		ssize_t n = tar_read(w->tr, buf + done, BUNDLE_CHUNK - done, w->err, w->errlen);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Read one payload entry, hash it, pass it to the sink, and compare with the manifest. */
static int
payload_read(struct walk *w, const struct tar_entry *e)
{
	const struct bundle_file *f = bundle_manifest_find(w->m, e->path);
	unsigned char digest[32];
	char hex[SHA256_HEX_SIZE];
	const struct bundle_sink *sink = w->sink;
	size_t index;
	int rc;

	if (f == NULL)
		return err_set(-EBADMSG, w->err, w->errlen, "entry %s is not listed in the "
			       "manifest", e->path);
	index = (size_t)(f - w->m->files);
	if (w->seen[index])
		return err_set(-EBADMSG, w->err, w->errlen, "entry %s appears twice in the "
			       "archive", e->path);
	w->seen[index] = 1;
	if (e->size != f->size)
		return err_set(-EBADMSG, w->err, w->errlen, "entry %s is %llu bytes; the "
			       "manifest says %llu", e->path, (unsigned long long)e->size,
			       (unsigned long long)f->size);

	if (EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1)
		return err_set(-EIO, w->err, w->errlen, "OpenSSL cannot start a SHA-256");
	if (sink != NULL && (rc = sink->begin(sink->ctx, f, w->err, w->errlen)) < 0)
		return rc;
	for (;;) {
		unsigned char *buf = w->chunk;
		ssize_t n;

		if (sink != NULL && sink->buffer != NULL) {
			buf = sink->buffer(sink->ctx, w->err, w->errlen);
			if (buf == NULL)
				return -ECANCELED;
		}
		n = chunk_fill(w, buf);
		/* A sink's buffer goes back to it even when nothing was read into it. */
		if (n <= 0 && buf != w->chunk)
			sink->data(sink->ctx, buf, 0, w->err, w->errlen);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		if (EVP_DigestUpdate(w->md, buf, (size_t)n) != 1)
			return err_set(-EIO, w->err, w->errlen, "OpenSSL cannot hash entry %s",
				       e->path);
		if (sink != NULL && (rc = sink->data(sink->ctx, buf, (size_t)n, w->err,
						     w->errlen)) < 0)
			return rc;
		if (sink != NULL && sink->progress != NULL)
			sink->progress(sink->ctx, bundle_source_file_bytes(w->src));
	}
	if (EVP_DigestFinal_ex(w->md, digest, NULL) != 1)
		return err_set(-EIO, w->err, w->errlen, "OpenSSL cannot finish the SHA-256 of "
			       "entry %s", e->path);
	hex_encode(digest, sizeof(digest), hex);
	if (strcmp(hex, f->sha256) != 0)
		return err_set(-EBADMSG, w->err, w->errlen, "entry %s has SHA-256 %s; the "
			       "manifest says %s", e->path, hex, f->sha256);
	return sink != NULL ? sink->end(sink->ctx, f, w->err, w->errlen) : 0;
}

static int
walk_run(struct walk *w, int fd, const struct bundle_keyring *ring)
{
	struct tar_entry e;
	int rc;

	rc = bundle_source_open(fd, &w->src, w->err, w->errlen);
	if (rc == 0)
		rc = tar_reader_new(w->src, &w->tr);
	if (rc == 0)
		rc = manifest_read(w, ring);
	if (rc < 0)
		return rc;
	if (w->sink != NULL && w->sink->manifest != NULL &&
	    (rc = w->sink->manifest(w->sink->ctx, w->m, w->err, w->errlen)) != 0)
		return rc < 0 ? rc : -ECANCELED;

	w->seen = calloc(w->m->file_count, 1);
	w->chunk = malloc(BUNDLE_CHUNK);
	w->md = EVP_MD_CTX_new();
	if (w->seen == NULL || w->chunk == NULL || w->md == NULL)
		return -ENOMEM;
	while ((rc = tar_next(w->tr, &e, w->err, w->errlen)) > 0) {
		rc = payload_read(w, &e);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < w->m->file_count; i++)
		if (!w->seen[i])
			return err_set(-EBADMSG, w->err, w->errlen, "entry %s is listed in the "
				       "manifest but missing from the archive",
				       w->m->files[i].path);
	return 0;
}

/* Free the walk's state; hand out the manifest when rc is 0. */
static int
walk_finish(struct walk *w, int rc, struct bundle_manifest **ret)
{
	EVP_MD_CTX_free(w->md);
	free(w->chunk);
	free(w->seen);
	tar_reader_free(w->tr);
	bundle_source_free(w->src);
	if (rc < 0) {
		bundle_manifest_free(w->m);
		return rc;
	}
	*ret = w->m;
	return 0;
}

int
bundle_inspect(int fd, const struct bundle_keyring *ring, struct bundle_manifest **ret,
	       int *ret_sig, char *sig_err, size_t sig_errlen, char *err, size_t errlen)
{
	struct walk w = { .err = err, .errlen = errlen };
	unsigned char sig[BUNDLE_SIG_BYTES];
	unsigned char *text = NULL;
	size_t len;
	int rc;

	rc = bundle_source_open(fd, &w.src, err, errlen);
	if (rc == 0)
		rc = tar_reader_new(w.src, &w.tr);
	if (rc == 0)
		rc = manifest_entries(&w, &text, &len, sig);
	if (rc == 0)
		*ret_sig = bundle_keyring_verify(ring, w.m->key_id, text, len, sig, sizeof(sig),
						 sig_err, sig_errlen);
	free(text);
	if (rc < 0 && err != NULL && errlen > 0)
		text_sanitize(err);
	if (rc == 0 && *ret_sig < 0 && sig_err != NULL && sig_errlen > 0)
		text_sanitize(sig_err);
	return walk_finish(&w, rc, ret);
}

int
bundle_walk(int fd, const struct bundle_keyring *ring, const struct bundle_sink *sink,
	    struct bundle_manifest **ret_manifest, char *err, size_t errlen)
{
	struct walk w = { .sink = sink, .err = err, .errlen = errlen };
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	rc = walk_run(&w, fd, ring);
	if (rc == -ENOMEM && err != NULL && err[0] == '\0')
		snprintf(err, errlen, "out of memory reading the bundle");
	if (rc < 0 && err != NULL && errlen > 0)
		text_sanitize(err);
	return walk_finish(&w, rc, ret_manifest);
}
