/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The walk over a bundle, which reads each byte of the file once: it checks the
 * manifest, its signature and every payload entry, in the order docs/bundle-format.md
 * gives, and hands each payload's bytes to a sink while they are hashed. The signature
 * is checked before the first payload byte is read, so a sink is never given unsigned
 * content. A sink learns that an entry's bytes matched the manifest only at its `end`
 * call.
 *
 * Payloads are hashed in one of three ways:
 *
 *   - inline: for no sink, a sink without buffers or a sink of one lane (one CPU), the
 *     calling thread reads and hashes each chunk in turn.
 *   - stream: for a compressed bundle or one that is not a regular file, and a sink
 *     with buffers and several lanes. The calling thread reads (and decompresses) the
 *     archive into the sink's buffers, and one worker thread hashes them and hands
 *     them to the sink, so decompression and hashing run on two cores. The sink's
 *     bounded set of buffers bounds the bytes in flight.
 *   - parallel, for an uncompressed regular file and a sink with several lanes: the
 *     calling thread reads every header first, seeking over the data, and checks the
 *     archive's structure against the manifest. Then a worker per lane takes whole
 *     entries and reads each with pread into the sink's buffers while it hashes
 *     them. SHA-256 is sequential within an entry, so this is what spreads the
 *     hashing of one bundle over several cores. See jobs_order for the order.
 *     A compressed regular file with a seek table (frames.c) whose frames start and
 *     end with each entry's data goes the same way: the header pass moves from frame
 *     to frame, and each worker decompresses its entry's frames itself. When an
 *     entry's data does not start and end on frame boundaries, the walk starts over
 *     in stream mode.
 *
 * Each entry's bytes are hashed in the same buffer that the sink then writes, so what
 * the sink stores is what was hashed, even if the file changes during the walk.
 */
#include "bundle/bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Milliseconds between progress reports while the parallel workers run. */
#define PROGRESS_INTERVAL_MS 100
/*
 * Jobs queued for the stream worker. Few, so that the reading thread stays at most a
 * couple of chunks ahead of the hash: the rest of the sink's buffers then wait to be
 * written, not to be hashed, which keeps the disk busy.
 */
#define STREAM_QUEUE 2

/* A worker's state: one entry's hash at a time, and the error of its last job. */
struct lane {
	EVP_MD_CTX *md;
	struct bundle_source *src;   /* parallel over frames: this lane's decoder */
	char err[BUNDLE_ERR_SIZE];
};

enum job_kind {
	JOB_BEGIN,                   /* stream: an entry starts */
	JOB_DATA,                    /* stream: a chunk of its bytes */
	JOB_END,                     /* stream: its bytes ended */
	JOB_ENTRY,                   /* parallel: a whole entry, read from the file */
};

struct walk_job {
	enum job_kind kind;
	const struct bundle_file *file;
	uint64_t order;              /* the entry's header offset; earlier errors win */
	unsigned char *buf;          /* JOB_DATA: a sink buffer, or the walk's chunk */
	size_t len;                  /* JOB_DATA */
	uint64_t data_offset;        /* JOB_ENTRY: where its data starts in the file */
};

struct walk {
	int fd;                      /* not owned */
	uint64_t base;               /* the file offset where the archive starts */
	struct bundle_source *src;
	struct tar_reader *tr;
	const struct bundle_sink *sink;
	bool lent;                   /* the sink lends buffers, so workers can hash */
	struct bundle_manifest *m;
	struct bundle_frames *frames;        /* the seek table of a compressed file, or NULL */
	unsigned char manifest_sha256[32];   /* of the signed manifest bytes */
	unsigned char sig[BUNDLE_SIG_BYTES];
	unsigned char *seen;         /* one byte per manifest file */
	unsigned char *chunk;        /* BUNDLE_CHUNK bytes, when the sink lends none */
	char *err;
	size_t errlen;
	struct work_pool *pool;      /* NULL: inline */
	unsigned lane_count;
	struct lane lanes[BUNDLE_LANES_MAX];
	/* The failure of the entry nearest the start, from any lane. */
	pthread_mutex_t fail_lock;
	_Atomic uint64_t fail_order; /* UINT64_MAX while nothing failed */
	int fail_rc;
	char fail_err[BUNDLE_ERR_SIZE];
	_Atomic uint64_t data_bytes; /* read by parallel workers, for progress */
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
	if (rc == 0 && EVP_Digest(text, len, w->manifest_sha256, NULL, EVP_sha256(), NULL) != 1)
		rc = err_set(-EIO, w->err, w->errlen, "OpenSSL cannot hash the manifest");
	memcpy(w->sig, sig, sizeof(sig));
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

/*********************************************************************************
 * Hashing, on a lane: a worker thread, or the calling thread when inline
 */

/* Keep the failure of the entry nearest the start of the archive. */
static void
fail_record(struct walk *w, uint64_t order, int rc, const char *message)
{
	pthread_mutex_lock(&w->fail_lock);
	if (order < atomic_load(&w->fail_order)) {
		w->fail_rc = rc;
		snprintf(w->fail_err, sizeof(w->fail_err), "%s", message);
		atomic_store(&w->fail_order, order);
	}
	pthread_mutex_unlock(&w->fail_lock);
}

/* True when this entry or one before it failed, so its work can stop. */
static bool
failed_at_or_before(struct walk *w, uint64_t order)
{
	return atomic_load(&w->fail_order) <= order;
}

static bool
walk_failed(struct walk *w)
{
	return atomic_load(&w->fail_order) != UINT64_MAX;
}

/* Give a sink's buffer back unused. */
static void
buffer_release(struct walk *w, unsigned lane, void *buf)
{
	char scratch[BUNDLE_ERR_SIZE];

	if (w->lent)
		w->sink->data(w->sink->ctx, lane, buf, 0, scratch, sizeof(scratch));
}

static int
entry_begin(struct walk *w, unsigned lane, const struct bundle_file *f)
{
	struct lane *ln = &w->lanes[lane];

	if (EVP_DigestInit_ex(ln->md, EVP_sha256(), NULL) != 1)
		return err_set(-EIO, ln->err, sizeof(ln->err), "OpenSSL cannot start a SHA-256");
	if (w->sink == NULL)
		return 0;
	return w->sink->begin(w->sink->ctx, lane, f, ln->err, sizeof(ln->err));
}

/* Hash a chunk and hand it to the sink, which then owns a lent buffer. */
static int
entry_data(struct walk *w, unsigned lane, const struct bundle_file *f, unsigned char *buf,
	   size_t len)
{
	struct lane *ln = &w->lanes[lane];

	if (EVP_DigestUpdate(ln->md, buf, len) != 1) {
		buffer_release(w, lane, buf);
		return err_set(-EIO, ln->err, sizeof(ln->err), "OpenSSL cannot hash entry %s",
			       f->path);
	}
	if (w->sink == NULL)
		return 0;
	return w->sink->data(w->sink->ctx, lane, buf, len, ln->err, sizeof(ln->err));
}

/* Compare the entry's hash with the manifest's, then tell the sink it matched. */
static int
entry_end(struct walk *w, unsigned lane, const struct bundle_file *f)
{
	struct lane *ln = &w->lanes[lane];
	unsigned char digest[32];
	char hex[SHA256_HEX_SIZE];

	if (EVP_DigestFinal_ex(ln->md, digest, NULL) != 1)
		return err_set(-EIO, ln->err, sizeof(ln->err), "OpenSSL cannot finish the "
			       "SHA-256 of entry %s", f->path);
	hex_encode(digest, sizeof(digest), hex);
	if (strcmp(hex, f->sha256) != 0)
		return err_set(-EBADMSG, ln->err, sizeof(ln->err), "entry %s has SHA-256 %s; "
			       "the manifest says %s", f->path, hex, f->sha256);
	if (w->sink == NULL)
		return 0;
	return w->sink->end(w->sink->ctx, lane, f, ln->err, sizeof(ln->err));
}

/*
 * Read `want` bytes of entry f's data into buf: with pread at `offset` in the file, or
 * from the lane's frames. Returns the count, fewer when the data ends first, or < 0
 * with the lane's error set.
 */
static ssize_t
lane_fill(struct walk *w, struct lane *ln, const struct bundle_file *f, unsigned char *buf,
	  size_t want, uint64_t offset)
{
	char reason[BUNDLE_ERR_SIZE];
	size_t done = 0;
	ssize_t n;

	if (ln->src == NULL) {
		n = bundle_read_full(w->fd, buf, want, (int64_t)offset);
		if (n < 0)
			return err_set((int)n, ln->err, sizeof(ln->err), "entry %s: cannot read "
				       "the bundle: %s", f->path, strerror((int)-n));
		atomic_fetch_add(&w->data_bytes, (uint64_t)n);
		return n;
	}
	while (done < want) {
		uint64_t before = bundle_source_file_bytes(ln->src);

		n = bundle_source_read(ln->src, buf + done, want - done, reason, sizeof(reason));
		atomic_fetch_add(&w->data_bytes, bundle_source_file_bytes(ln->src) - before);
		if (n < 0)
			return err_set((int)n, ln->err, sizeof(ln->err), "entry %s: %s", f->path,
				       reason);
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* After an entry's data from frames: its last frame must end where the table puts it. */
static int
lane_frames_end(struct lane *ln, const struct bundle_file *f)
{
	char reason[BUNDLE_ERR_SIZE];
	unsigned char extra;
	ssize_t n;

	if (ln->src == NULL || f->size == 0)
		return 0;
	n = bundle_source_read(ln->src, &extra, 1, reason, sizeof(reason));
	if (n < 0)
		return err_set((int)n, ln->err, sizeof(ln->err), "entry %s: %s", f->path, reason);
	if (n > 0)
		return err_set(-EBADMSG, ln->err, sizeof(ln->err), "entry %s: its zstd frames "
			       "hold more bytes than the entry", f->path);
	return 0;
}

/* A parallel job: read, hash and hand over a whole entry at its offset in the file. */
static int
entry_read(struct walk *w, unsigned lane, const struct walk_job *job)
{
	const struct bundle_file *f = job->file;
	struct lane *ln = &w->lanes[lane];
	uint64_t done = 0;
	int rc;

	rc = entry_begin(w, lane, f);
	if (rc == 0 && ln->src != NULL && f->size > 0 &&
	    bundle_source_range(ln->src, job->data_offset, f->size) < 0)
		rc = err_set(-EBADMSG, ln->err, sizeof(ln->err), "entry %s: its data does not "
			     "start and end on zstd frames", f->path);
	while (rc == 0 && done < f->size) {
		size_t want = f->size - done < BUNDLE_CHUNK ? (size_t)(f->size - done) : BUNDLE_CHUNK;
		unsigned char *buf;
		ssize_t n;

		/* An entry before this one failed: the load is rejected whatever this holds. */
		if (failed_at_or_before(w, job->order))
			return 0;
		buf = w->sink->buffer(w->sink->ctx, lane, ln->err, sizeof(ln->err));
		if (buf == NULL)
			return -ECANCELED;
		n = lane_fill(w, ln, f, buf, want, job->data_offset + done);
		if (n < 0 || (size_t)n < want)
			buffer_release(w, lane, buf);
		if (n < 0)
			return (int)n;
		/* The file shrank after its headers were read. */
		if ((size_t)n < want)
			return err_set(-EBADMSG, ln->err, sizeof(ln->err), "entry %s: the archive "
				       "is truncated with %llu bytes of it missing", f->path,
				       (unsigned long long)(f->size - done - (uint64_t)n));
		done += (uint64_t)n;
		rc = entry_data(w, lane, f, buf, (size_t)n);
	}
	if (rc == 0)
		rc = lane_frames_end(ln, f);
	return rc == 0 ? entry_end(w, lane, f) : rc;
}

/* Run one job on `lane`; a work_pool callback, and called directly when inline. */
static void
job_run(void *ctx, unsigned lane, void *arg)
{
	struct walk *w = ctx;
	struct walk_job *job = arg;
	struct lane *ln = &w->lanes[lane];
	int rc = 0;

	if (failed_at_or_before(w, job->order)) {
		if (job->kind == JOB_DATA)
			buffer_release(w, lane, job->buf);
		return;
	}
	ln->err[0] = '\0';
	switch (job->kind) {
	case JOB_BEGIN:
		rc = entry_begin(w, lane, job->file);
		break;
	case JOB_DATA:
		rc = entry_data(w, lane, job->file, job->buf, job->len);
		break;
	case JOB_END:
		rc = entry_end(w, lane, job->file);
		break;
	case JOB_ENTRY:
		rc = entry_read(w, lane, job);
		break;
	}
	if (rc < 0)
		fail_record(w, job->order, rc, ln->err[0] != '\0' ? ln->err : strerror(-rc));
}

/*********************************************************************************
 * Reading the archive, on the calling thread
 */

/* Check a payload entry's header against the manifest; sets *ret to its file. */
static int
payload_check(struct walk *w, const struct tar_entry *e, const struct bundle_file **ret)
{
	const struct bundle_file *f = bundle_manifest_find(w->m, e->path);
	size_t index;

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
	*ret = f;
	return 0;
}

/* After the end of the archive: every listed file must have been seen. */
static int
missing_check(struct walk *w)
{
	for (size_t i = 0; i < w->m->file_count; i++)
		if (!w->seen[i])
			return err_set(-EBADMSG, w->err, w->errlen, "entry %s is listed in the "
				       "manifest but missing from the archive",
				       w->m->files[i].path);
	return 0;
}

static void
submit(struct walk *w, struct walk_job *job)
{
	if (w->pool != NULL)
		work_pool_submit(w->pool, job);
	else
		job_run(w, 0, job);
}

/* Read one payload entry in chunks and queue them to be hashed on lane 0. */
static int
payload_stream(struct walk *w, const struct tar_entry *e)
{
	const struct bundle_sink *sink = w->sink;
	struct walk_job job = { .kind = JOB_BEGIN, .order = e->offset };
	int rc;

	rc = payload_check(w, e, &job.file);
	if (rc < 0)
		return rc;
	submit(w, &job);
	for (;;) {
		unsigned char *buf = w->chunk;
		ssize_t n;

		if (failed_at_or_before(w, job.order))
			return 0;
		if (w->lent) {
			buf = sink->buffer(sink->ctx, 0, w->err, w->errlen);
			if (buf == NULL)
				return -ECANCELED;
		}
		n = chunk_fill(w, buf);
		/* A sink's buffer goes back to it even when nothing was read into it. */
		if (n <= 0)
			buffer_release(w, 0, buf);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		job.kind = JOB_DATA;
		job.buf = buf;
		job.len = (size_t)n;
		submit(w, &job);
		if (sink != NULL && sink->progress != NULL)
			sink->progress(sink->ctx, bundle_source_file_bytes(w->src));
	}
	job.kind = JOB_END;
	submit(w, &job);
	return 0;
}

static int
walk_stream(struct walk *w, bool threaded)
{
	struct tar_entry e;
	int rc = 0;

	if (threaded) {
		rc = work_pool_new(1, sizeof(struct walk_job), STREAM_QUEUE, job_run, w, &w->pool);
		if (rc < 0)
			return err_set(rc, w->err, w->errlen, "cannot start a thread to hash the "
				       "bundle: %s", strerror(-rc));
	}
	while (!walk_failed(w) && (rc = tar_next(w->tr, &e, w->err, w->errlen)) > 0) {
		rc = payload_stream(w, &e);
		if (rc < 0)
			return rc;
	}
	if (rc < 0 || walk_failed(w))
		return rc;
	return missing_check(w);
}

static int
job_compare(const void *a, const void *b)
{
	const struct walk_job *x = a, *y = b;

	if (x->file->size != y->file->size)
		return x->file->size > y->file->size ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Order the jobs: the lane_count - 1 largest entries, then the entries of at most one
 * chunk, then the other large ones, largest first. Large entries go largest first so
 * that the last to finish is a short one. A small entry costs more in creating its
 * file than in hashing it, so small ones run beside the largest entries and their file
 * creation overlaps that hashing instead of trailing after it.
 */
static int
jobs_order(struct walk *w, struct walk_job *jobs, size_t count)
{
	size_t large = 0, lead;
	struct walk_job *sorted;

	qsort(jobs, count, sizeof(*jobs), job_compare);
	while (large < count && jobs[large].file->size > BUNDLE_CHUNK)
		large++;
	lead = large < w->lane_count - 1 ? large : w->lane_count - 1;
	sorted = malloc(count * sizeof(*jobs) + 1);
	if (sorted == NULL)
		return -ENOMEM;
	memcpy(sorted, jobs, lead * sizeof(*jobs));
	memcpy(sorted + lead, jobs + large, (count - large) * sizeof(*jobs));
	memcpy(sorted + lead + count - large, jobs + lead, (large - lead) * sizeof(*jobs));
	memcpy(jobs, sorted, count * sizeof(*jobs));
	free(sorted);
	return 0;
}

static int
walk_parallel(struct walk *w)
{
	const struct bundle_sink *sink = w->sink;
	struct walk_job *jobs;
	struct tar_entry e;
	size_t count = 0;
	int rc;

	/* Every entry must be listed and seen once, so the manifest bounds the count. */
	jobs = calloc(w->m->file_count, sizeof(*jobs));
	if (jobs == NULL)
		return -ENOMEM;
	while ((rc = tar_next(w->tr, &e, w->err, w->errlen)) > 0) {
		struct walk_job *job = &jobs[count];

		rc = payload_check(w, &e, &job->file);
		if (rc < 0)
			break;
		job->kind = JOB_ENTRY;
		job->order = e.offset;
		/* With frames, lanes find the data by its offset in the decompressed stream. */
		job->data_offset = w->frames != NULL ? e.data_offset : w->base + e.data_offset;
		count++;
	}
	if (rc == 0)
		rc = missing_check(w);
	/*
	 * The seek table is not signed, and a wrong one can make the headers read by it
	 * differ from the archive's, so the stream decides: -ESPIPE makes walk_run read it.
	 */
	if (rc < 0 && w->frames != NULL) {
		free(jobs);
		return -ESPIPE;
	}
	if (rc == 0) {
		rc = work_pool_new(w->lane_count, sizeof(*jobs), count, job_run, w, &w->pool);
		if (rc < 0)
			err_set(rc, w->err, w->errlen, "cannot start threads to hash the bundle: %s",
				strerror(-rc));
	}
	if (rc == 0)
		rc = jobs_order(w, jobs, count);
	if (rc < 0) {
		free(jobs);
		return rc;
	}
	/* The queue has room for every job, so this does not wait. */
	for (size_t i = 0; i < count; i++)
		work_pool_submit(w->pool, &jobs[i]);
	while (work_pool_wait(w->pool, PROGRESS_INTERVAL_MS) < 0)
		if (sink->progress != NULL)
			sink->progress(sink->ctx, bundle_source_file_bytes(w->src) +
				       atomic_load(&w->data_bytes));
	if (sink->progress != NULL)
		sink->progress(sink->ctx, bundle_source_file_bytes(w->src) +
			       atomic_load(&w->data_bytes));
	free(jobs);
	return 0;
}

/*
 * Read a compressed regular file by its frames when it has a seek table. Without one,
 * or with one this reader cannot use, the file is read as one stream.
 */
static int
frames_setup(struct walk *w)
{
	int rc;

	if (!bundle_source_compressed(w->src))
		return 0;
	rc = bundle_frames_read(w->fd, w->base, &w->frames);
	if (rc == -ENOMEM)
		return rc;
	if (rc == 0 && bundle_source_frames(w->src, w->frames) < 0)
		w->frames = bundle_frames_free(w->frames);
	return 0;
}

/*
 * Give each lane a decoder of its own for the frames. NOTE: a decoder takes up to the
 * 16 MiB window cap for a frame whose header sets that window, so a crafted bundle can
 * add that much memory per lane, while `bundle create` writes 2 MiB windows.
 */
static int
lanes_frames(struct walk *w)
{
	for (unsigned i = 0; i < w->lane_count && w->frames != NULL; i++) {
		int rc = bundle_source_open_frames(w->fd, w->frames, &w->lanes[i].src);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Forget the message of a failure that a second reading made good. */
static void
err_clear(struct walk *w)
{
	if (w->err != NULL && w->errlen > 0)
		w->err[0] = '\0';
}

/* Drop the seek table and read the file again from its first byte, as one stream. */
static int
walk_reopen(struct walk *w)
{
	int rc;

	w->tr = tar_reader_free(w->tr);
	w->src = bundle_source_free(w->src);
	for (unsigned i = 0; i < BUNDLE_LANES_MAX; i++)
		w->lanes[i].src = bundle_source_free(w->lanes[i].src);
	w->frames = bundle_frames_free(w->frames);
	w->lane_count = 1;
	if (lseek(w->fd, (off_t)w->base, SEEK_SET) < 0)
		return err_set(-errno, w->err, w->errlen, "cannot read the bundle again: %s",
			       strerror(errno));
	rc = bundle_source_open(w->fd, &w->src, w->err, w->errlen);
	if (rc == 0)
		rc = tar_reader_new(w->src, &w->tr);
	return rc;
}

/*
 * Start over from the first byte in stream mode, after the header pass met an entry
 * whose data is not whole frames, or a problem the stream may not have. The manifest
 * and its signature are read again and must be the bytes already checked; the sink
 * keeps the manifest it was given.
 */
static int
walk_rewind(struct walk *w)
{
	struct bundle_manifest *checked = w->m;
	unsigned char sig[BUNDLE_SIG_BYTES], digest[32];
	unsigned char *text = NULL;
	size_t len;
	int rc;

	memset(w->seen, 0, checked->file_count);
	w->m = NULL;
	rc = walk_reopen(w);
	if (rc == 0)
		rc = manifest_entries(w, &text, &len, sig);
	if (rc == 0 && EVP_Digest(text, len, digest, NULL, EVP_sha256(), NULL) != 1)
		rc = err_set(-EIO, w->err, w->errlen, "OpenSSL cannot hash the manifest");
	if (rc == 0 && (memcmp(digest, w->manifest_sha256, sizeof(digest)) != 0 ||
			memcmp(sig, w->sig, sizeof(sig)) != 0))
		rc = err_set(-EBADMSG, w->err, w->errlen, "the bundle's manifest changed while "
			     "it was read");
	free(text);
	bundle_manifest_free(w->m);
	w->m = checked;
	return rc;
}

static int
walk_run(struct walk *w, int fd, const struct bundle_keyring *ring)
{
	const struct bundle_sink *sink = w->sink;
	unsigned lanes = sink != NULL && sink->lanes > 1 ? sink->lanes : 1;
	off_t base = lseek(fd, 0, SEEK_CUR);
	bool threaded;
	int rc;

	w->fd = fd;
	w->base = base > 0 ? (uint64_t)base : 0;
	w->lent = sink != NULL && sink->buffer != NULL;
	/* With one CPU, a thread of its own for the hash would only add context switches. */
	threaded = w->lent && lanes > 1;
	rc = bundle_source_open(fd, &w->src, w->err, w->errlen);
	if (rc == 0 && threaded)
		rc = frames_setup(w);
	if (rc == 0)
		rc = tar_reader_new(w->src, &w->tr);
	if (rc == 0)
		rc = manifest_read(w, ring);
	/* The first entries did not read by the seek table: read them as one stream. */
	if (rc < 0 && rc != -ENOMEM && w->frames != NULL) {
		w->m = bundle_manifest_free(w->m);
		rc = walk_reopen(w);
		if (rc == 0)
			rc = manifest_read(w, ring);
		if (rc == 0)
			err_clear(w);
	}
	if (rc < 0)
		return rc;
	if (sink != NULL && sink->manifest != NULL &&
	    (rc = sink->manifest(sink->ctx, w->m, w->err, w->errlen)) != 0)
		return rc < 0 ? rc : -ECANCELED;

	w->lane_count = threaded && bundle_source_seekable(w->src) ? lanes : 1;
	if (w->lane_count > BUNDLE_LANES_MAX)
		w->lane_count = BUNDLE_LANES_MAX;
	w->seen = calloc(w->m->file_count, 1);
	if (w->seen == NULL)
		return -ENOMEM;
	if (!w->lent && (w->chunk = malloc(BUNDLE_CHUNK)) == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < w->lane_count; i++)
		if ((w->lanes[i].md = EVP_MD_CTX_new()) == NULL)
			return -ENOMEM;
	rc = lanes_frames(w);
	if (rc < 0)
		return rc;

	rc = w->lane_count > 1 ? walk_parallel(w) : walk_stream(w, threaded);
	if (rc == -ESPIPE && w->frames != NULL) {
		rc = walk_rewind(w);
		if (rc == 0) {
			err_clear(w);
			rc = walk_stream(w, threaded);
		}
	}
	/* Every queued job runs (or gives its buffer back) before the result is known. */
	w->pool = work_pool_free(w->pool);
	if (walk_failed(w))
		return err_set(w->fail_rc, w->err, w->errlen, "%s", w->fail_err);
	return rc;
}

/* Free the walk's state; hand out the manifest when rc is 0. */
static int
walk_finish(struct walk *w, int rc, struct bundle_manifest **ret)
{
	w->pool = work_pool_free(w->pool);
	for (unsigned i = 0; i < BUNDLE_LANES_MAX; i++) {
		EVP_MD_CTX_free(w->lanes[i].md);
		bundle_source_free(w->lanes[i].src);
	}
	pthread_mutex_destroy(&w->fail_lock);
	free(w->chunk);
	free(w->seen);
	tar_reader_free(w->tr);
	bundle_source_free(w->src);
	bundle_frames_free(w->frames);
	if (rc < 0) {
		bundle_manifest_free(w->m);
		return rc;
	}
	*ret = w->m;
	return 0;
}

/* Set up the fields that every walk needs before walk_finish can run. */
static void
walk_init(struct walk *w, const struct bundle_sink *sink, char *err, size_t errlen)
{
	*w = (struct walk){ .sink = sink, .err = err, .errlen = errlen, .fd = -1 };
	pthread_mutex_init(&w->fail_lock, NULL);
	atomic_init(&w->fail_order, UINT64_MAX);
	atomic_init(&w->data_bytes, 0);
}

int
bundle_inspect(int fd, const struct bundle_keyring *ring, struct bundle_manifest **ret,
	       int *ret_sig, char *sig_err, size_t sig_errlen, char *err, size_t errlen)
{
	unsigned char sig[BUNDLE_SIG_BYTES];
	unsigned char *text = NULL;
	struct walk w;
	size_t len;
	int rc;

	walk_init(&w, NULL, err, errlen);
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
	struct walk w;
	int rc;

	walk_init(&w, sink, err, errlen);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	rc = walk_run(&w, fd, ring);
	if (rc == -ENOMEM && err != NULL && err[0] == '\0')
		snprintf(err, errlen, "out of memory reading the bundle");
	if (rc < 0 && err != NULL && errlen > 0)
		text_sanitize(err);
	return walk_finish(&w, rc, ret_manifest);
}
