/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Offline bundles, as docs/bundle-format.md describes them: the manifest, Ed25519
 * keys and signatures, a strict streaming reader and a reproducible writer for the pax
 * tar container (optionally zstd-compressed), and the walk that checks a whole bundle
 * while reading it once.
 *
 * Everything here treats the bundle as hostile. Functions return 0 or a negative errno
 * and write the error to an `err` buffer as one sentence that names the entry, the
 * value and the reason.
 */
#ifndef OUTPOST_BUNDLE_H
#define OUTPOST_BUNDLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "store/store.h"
#include "util/util.h"

#define BUNDLE_FORMAT_VERSION 1
/* Largest manifest.json, in bytes. */
#define BUNDLE_MANIFEST_MAX (1024 * 1024)
/* Most payload files one bundle may list. */
#define BUNDLE_FILES_MAX 4096
/* Longest path inside a bundle, in bytes, plus the NUL. */
#define BUNDLE_PATH_SIZE 256
/* Name and version, plus the NUL. */
#define BUNDLE_NAME_SIZE 65
#define BUNDLE_VERSION_SIZE 72
/* A key id: 16 bytes in hex, plus the NUL. */
#define BUNDLE_KEY_ID_SIZE 33
#define BUNDLE_SIG_BYTES 64
/* Zero bytes accepted after the end-of-archive blocks. */
#define BUNDLE_TRAILER_MAX 10240
/* Error messages are cut at this many bytes. */
#define BUNDLE_ERR_SIZE 512

enum bundle_kind {
	BUNDLE_KIND_OS,
	BUNDLE_KIND_FIRMWARE,
	BUNDLE_KIND_RAMDISK,
	BUNDLE_KIND_PLATFORM,
	BUNDLE_KIND_MAX,
};

enum bundle_role {
	BUNDLE_ROLE_KERNEL,
	BUNDLE_ROLE_INITRD,
	BUNDLE_ROLE_DISK_IMAGE,
	BUNDLE_ROLE_ISO,
	BUNDLE_ROLE_FIRMWARE_IMAGE,
	BUNDLE_ROLE_TEMPLATE,
	BUNDLE_ROLE_BOOTLOADER,
	BUNDLE_ROLE_MAX,
};

const char *bundle_kind_name(enum bundle_kind kind);
const char *bundle_role_name(enum bundle_role role);

struct bundle_file {
	char path[BUNDLE_PATH_SIZE];
	uint64_t size;
	char sha256[SHA256_HEX_SIZE];
	enum bundle_role role;
	json_t *metadata;            /* owned; an object, NULL when absent */
};

struct bundle_manifest {
	int format_version;
	char name[BUNDLE_NAME_SIZE];
	char version[BUNDLE_VERSION_SIZE];
	enum bundle_kind kind;
	char key_id[BUNDLE_KEY_ID_SIZE];
	char sha256[SHA256_HEX_SIZE];   /* of the manifest's bytes; set by the parser */
	char *description;           /* owned; NULL when absent */
	size_t file_count;
	struct bundle_file *files;   /* owned; sorted by path */
};

/*
 * Parse and check a manifest (every rule of docs/bundle-format.md). Returns 0 and sets
 * *ret, or -EINVAL with the reason in err, or -ENOMEM.
 */
int bundle_manifest_parse(const char *text, size_t len, struct bundle_manifest **ret,
			  char *err, size_t errlen);
/*
 * Check a manifest built in memory and serialise it canonically: sorted keys, no
 * whitespace, a final newline. Returns the text (caller frees) with its length in *ret_len,
 * or NULL with the reason in err.
 */
char *bundle_manifest_dump(const struct bundle_manifest *m, size_t *ret_len, char *err,
			   size_t errlen);
/* The file listed at `path`, or NULL. Binary search: files are sorted. */
const struct bundle_file *bundle_manifest_find(const struct bundle_manifest *m,
					       const char *path);
/* Accepts NULL; returns NULL. */
struct bundle_manifest *bundle_manifest_free(struct bundle_manifest *m);

/* Check a bundle name, version or in-bundle path. Return 0 or -EINVAL. */
int bundle_name_check(const char *name);
int bundle_version_check(const char *version);
int bundle_path_check(const char *path);
/* Compare two valid versions: negative, 0 or positive, as strcmp. */
int bundle_version_compare(const char *a, const char *b);

/* Keys (keys.c). EVP_PKEY is OpenSSL's; callers free keys with EVP_PKEY_free. */
struct evp_pkey_st;
struct bundle_keyring;

/*
 * Write a new Ed25519 key pair: `prefix`.key (PKCS #8 PEM, mode 0600) and `prefix`.pub
 * (SubjectPublicKeyInfo PEM, mode 0644), refusing to replace either file. With
 * `test_only`, both files carry the outpost-test-key mark. Sets key_id.
 */
int bundle_keygen(const char *prefix, bool test_only, char key_id[BUNDLE_KEY_ID_SIZE],
		  char *err, size_t errlen);
/* Load a private key from a PEM file and compute its id. */
int bundle_key_load_private(const char *path, struct evp_pkey_st **ret,
			    char key_id[BUNDLE_KEY_ID_SIZE], char *err, size_t errlen);
/* Sign `len` bytes with an Ed25519 private key. */
int bundle_sign(struct evp_pkey_st *key, const void *data, size_t len,
		unsigned char sig[BUNDLE_SIG_BYTES], char *err, size_t errlen);

/* An empty keyring; add keys with bundle_keyring_add_file or _add_dir. */
int bundle_keyring_new(bool allow_test_keys, struct bundle_keyring **ret);
/* Add the public key in one PEM file. Refuses test keys unless the keyring allows them. */
int bundle_keyring_add_file(struct bundle_keyring *ring, const char *path, char *err,
			    size_t errlen);
/* Add every *.pub file of a directory. A missing directory adds nothing. */
int bundle_keyring_add_dir(struct bundle_keyring *ring, const char *dir, char *err,
			   size_t errlen);
size_t bundle_keyring_count(const struct bundle_keyring *ring);
/*
 * Check that `sig` is the signature of `data` by the keyring's key `key_id`. Returns
 * 0, -ENOKEY when no trusted key has that id, or -EBADMSG for a bad signature.
 */
int bundle_keyring_verify(const struct bundle_keyring *ring, const char *key_id,
			  const void *data, size_t len, const unsigned char *sig, size_t sig_len,
			  char *err, size_t errlen);
struct bundle_keyring *bundle_keyring_free(struct bundle_keyring *ring);

/*
 * Byte sources (source.c): the bundle file, decompressed on the fly when it starts
 * as zstd data (docs/bundle-format.md).
 */
struct bundle_source;

/*
 * Read up to len bytes into buf, retrying EINTR and short reads: with read(2) when
 * offset is negative, else with pread(2) at offset. Returns the bytes read, fewer only
 * at the end of the file, or -errno.
 */
ssize_t bundle_read_full(int fd, void *buf, size_t len, int64_t offset);

/* Read from `fd` (not owned). */
int bundle_source_open(int fd, struct bundle_source **ret, char *err, size_t errlen);
/*
 * Read up to `len` bytes. Returns the count, 0 at the end of the (decompressed)
 * stream, or a negative errno with the reason in err (a truncated or corrupt zstd
 * stream, a read error).
 */
ssize_t bundle_source_read(struct bundle_source *src, void *buf, size_t len, char *err,
			   size_t errlen);
/*
 * Skip `len` bytes of an uncompressed regular file with a seek, setting *ret_skipped to
 * the bytes skipped, fewer when the file ends first. Returns 0, -ESPIPE for a source
 * that is not seekable, or a negative errno with the reason in err.
 */
int bundle_source_skip(struct bundle_source *src, uint64_t len, uint64_t *ret_skipped,
		       char *err, size_t errlen);
/* True for an uncompressed regular file, whose tar offsets are file offsets. */
bool bundle_source_seekable(const struct bundle_source *src);
/* Bytes read from the file so far, compressed for a zstd bundle; skips do not count. */
uint64_t bundle_source_file_bytes(const struct bundle_source *src);
bool bundle_source_compressed(const struct bundle_source *src);
struct bundle_source *bundle_source_free(struct bundle_source *src);

/*
 * The seek table of a compressed bundle (frames.c), in the zstd seekable format: where
 * each zstd frame starts in the file and in the decompressed stream.
 */
#define BUNDLE_FRAMES_MAX 65536
#define BUNDLE_FRAME_DATA_MAX (1u << 30)
#define BUNDLE_FRAMES_FOOTER 9

struct bundle_frames {
	uint64_t base;               /* file offset of frame 0 */
	size_t count;
	uint64_t *in;                /* count + 1 offsets in the file, from base */
	uint64_t *out;               /* count + 1 offsets in the decompressed stream */
};

/* Append a frame's sizes to a table's entries; -ERANGE or -E2BIG past the limits. */
int bundle_frames_add(struct buf *entries, uint64_t in_bytes, uint64_t out_bytes);
/* Append the whole table, a skippable zstd frame, for `entries` to `out`. */
int bundle_frames_encode(const struct buf *entries, struct buf *out);
/* The table's size in bytes from its last BUNDLE_FRAMES_FOOTER bytes; 0 if not a table. */
size_t bundle_frames_table_size(const unsigned char footer[BUNDLE_FRAMES_FOOTER]);
/*
 * Parse a whole table of `len` bytes, for frames that take `data_len` bytes of the
 * file. Returns 0, -EBADMSG for a malformed table, or -ENOMEM.
 */
int bundle_frames_parse(const unsigned char *table, size_t len, uint64_t data_len,
			struct bundle_frames **ret);
/*
 * Read the table at the end of a regular file whose zstd data starts at `base`.
 * Returns 0, -ENOENT when the file has none, -EBADMSG for a malformed one, or < 0.
 */
int bundle_frames_read(int fd, uint64_t base, struct bundle_frames **ret);
/* The index of the first frame that starts at `out_offset`, or -1 if none does. */
ssize_t bundle_frames_find(const struct bundle_frames *f, uint64_t out_offset);
struct bundle_frames *bundle_frames_free(struct bundle_frames *f);

/*
 * Read a compressed source frame by frame, as `frames` lists them (not owned). The
 * source must not have read past the zstd magic number yet. Skips that start and end
 * on frame boundaries then move to the frame. Returns 0 or -EINVAL.
 */
int bundle_source_frames(struct bundle_source *src, const struct bundle_frames *frames);
/* A source over some frames of `fd`; bundle_source_range picks which. */
int bundle_source_open_frames(int fd, const struct bundle_frames *frames,
			      struct bundle_source **ret);
/*
 * Read `len` decompressed bytes from `offset` next, then the end of the stream. Both
 * ends must be frame boundaries, else -ESPIPE.
 */
int bundle_source_range(struct bundle_source *src, uint64_t offset, uint64_t len);

/* The strict pax tar reader (tar_read.c). */
struct tar_reader;

struct tar_entry {
	char path[BUNDLE_PATH_SIZE];
	uint64_t size;
	uint64_t offset;             /* of its header in the tar stream */
	uint64_t data_offset;        /* of its data in the tar stream */
};

int tar_reader_new(struct bundle_source *src, struct tar_reader **ret);
/*
 * Move to the next entry, skipping what is left of the current one. Returns 1 with
 * *entry filled, 0 at a well-formed end of the archive (trailer checked), or a
 * negative errno with the reason in err.
 */
int tar_next(struct tar_reader *tr, struct tar_entry *entry, char *err, size_t errlen);
/*
 * Read the current entry's data: up to `len` bytes, 0 when the entry is done, or a
 * negative errno (a truncated archive, a read error).
 */
ssize_t tar_read(struct tar_reader *tr, void *buf, size_t len, char *err, size_t errlen);
struct tar_reader *tar_reader_free(struct tar_reader *tr);

/* The reproducible tar writer (tar_write.c), optionally compressing with zstd. */
struct tar_writer;

int tar_writer_new(int fd, bool zstd, uint64_t mtime, struct tar_writer **ret, char *err,
		   size_t errlen);
/* Start an entry of `size` bytes; then write exactly that many with tar_write. */
int tar_begin(struct tar_writer *tw, const char *path, uint64_t size, char *err,
	      size_t errlen);
int tar_write(struct tar_writer *tw, const void *data, size_t len, char *err, size_t errlen);
/* Write the end-of-archive blocks and padding and flush. */
int tar_writer_finish(struct tar_writer *tw, char *err, size_t errlen);
struct tar_writer *tar_writer_free(struct tar_writer *tw);

/*
 * The walk (walk.c): read a bundle once, check the manifest, its signature and every
 * payload entry, and hand each payload's bytes to a sink while they are hashed.
 *
 * A sink with a `buffer` callback and `lanes` of 2 or more gets its entries from worker
 * threads: one entry at a time on lane 0 when the bundle is compressed or not a regular
 * file, and otherwise up to `lanes` entries at once, each on its own lane. With fewer
 * lanes, the calling thread hashes, on lane 0.
 * Calls for one lane come from one thread at a time, in the order of that entry's
 * bytes. Calls for different lanes can run at the same time. `buffer` can be called
 * on any thread. `manifest` and `progress` are called on the thread that called
 * bundle_walk. Once an entry fails, the walk stops the entries after it without an
 * `end` call, and a lane's next `begin` then starts a new entry.
 */
struct bundle_sink {
	/* A payload entry starts on `lane`; `file` is its manifest entry. */
	int (*begin)(void *ctx, unsigned lane, const struct bundle_file *file, char *err,
		     size_t errlen);
	/* Its bytes, in order. */
	int (*data)(void *ctx, unsigned lane, const void *buf, size_t len, char *err,
		    size_t errlen);
	/* Its bytes ended and matched the manifest's size and hash. */
	int (*end)(void *ctx, unsigned lane, const struct bundle_file *file, char *err,
		   size_t errlen);
	/*
	 * The manifest is signed and checked; return nonzero to stop before any payload
	 * byte is read (a downgrade, no free space). Optional.
	 */
	int (*manifest)(void *ctx, const struct bundle_manifest *m, char *err, size_t errlen);
	/* Progress: bytes of the file read so far. Optional. */
	void (*progress)(void *ctx, uint64_t file_bytes);
	/*
	 * A buffer of BUNDLE_CHUNK bytes for the next read of payload bytes on `lane`,
	 * which `data` then receives and owns until the sink is done with it, or NULL with
	 * err set to stop the walk. `data` with a length of 0 gives a buffer back unused.
	 * Optional: without it the walk reads and hashes on the calling thread into a
	 * buffer of its own, and `data` must finish with the bytes before it returns.
	 */
	void *(*buffer)(void *ctx, unsigned lane, char *err, size_t errlen);
	/* Entries the sink takes at once, at most BUNDLE_LANES_MAX; 0 counts as 1. */
	unsigned lanes;
	void *ctx;
};

/* Most entries a walk hashes at once. */
#define BUNDLE_LANES_MAX 4

/* Payload bytes read per call. */
#define BUNDLE_CHUNK (1024 * 1024)

/*
 * Walk the bundle on `fd`. Returns 0 and sets *ret_manifest (caller frees) once every
 * rule holds, or a negative errno with the reason in err. A NULL sink checks only.
 *
 * When entries are hashed on several lanes, the walk first reads every header of the
 * archive (seeking over the data) and checks it, then hands whole entries to the
 * lanes. A bundle with several problems then gets the first problem of its headers
 * reported before any hash mismatch. Of several hash mismatches and write errors, the
 * one of the entry nearest the start of the archive is reported.
 */
int bundle_walk(int fd, const struct bundle_keyring *ring, const struct bundle_sink *sink,
		struct bundle_manifest **ret_manifest, char *err, size_t errlen);

/*
 * Read only the manifest and its signature, for showing a bundle. Returns 0 and sets
 * *ret (caller frees) when both entries are well formed, and *ret_sig to the result
 * of bundle_keyring_verify, with its reason in sig_err.
 */
int bundle_inspect(int fd, const struct bundle_keyring *ring, struct bundle_manifest **ret,
		   int *ret_sig, char *sig_err, size_t sig_errlen, char *err, size_t errlen);

/*
 * The appliance's bundle store (load.c, blobs.c): blobs named by their SHA-256 under
 * <artifact_dir>/sha256/, staging folders under <artifact_dir>/staging/, and the rows
 * in the store. Every change goes through the governance gate as `actor`.
 */
struct bundle_load_opts {
	const char *artifact_dir;
	const struct bundle_keyring *ring;
	bool allow_downgrade;
	const char *actor;           /* for the audit entry: "token:admin", "local:uid=0" */
	/* Called as the file is read, with its bytes read and its size. Optional. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
	const atomic_bool *cancel;   /* when set, the load stops with -ECANCELED; optional */
	uint64_t size;               /* bytes to expect, for progress; 0: the file's size */
	/* When set at the end of the input, nothing is committed: an upload was cut off. */
	const atomic_bool *input_cut;
};

/*
 * Load the bundle on `fd` into the store. Returns 0 and fills *ret, or a negative
 * errno with the reason in err: -EEXIST when the version is loaded, -EPERM for an
 * older version without allow_downgrade, -ENOSPC, or a rejection from bundle_walk.
 * Nothing is imported on failure.
 */
int bundle_load(struct store *st, int fd, const struct bundle_load_opts *o,
		struct bundle_info *ret, char *err, size_t errlen);

/*
 * Run at start, before any load: remove staging folders that a stopped load left and
 * blobs that no artifact refers to. Returns 0 or a negative errno, logged.
 */
int bundle_store_recover(struct store *st, const char *artifact_dir);

/*
 * Remove bundle NAME VERSION and the blobs no other bundle uses. A bundle whose
 * artifacts a profile names is refused with -EBUSY unless `force`, and any removal
 * with -EAGAIN while a load or a check runs: they rely on the blobs they have seen.
 */
int bundle_remove(struct store *st, const char *artifact_dir, const char *name,
		  const char *version, bool force, const char *actor, char *err, size_t errlen);

/*
 * Hash every blob the store refers to and compare it with its name and size, using
 * o->artifact_dir, o->progress (bytes hashed of the total) and o->cancel. cb is
 * called for each one that is missing or differs, with the reason. Sets *ret_blobs to
 * the number checked. Returns 0, or a negative errno when the check could not run.
 */
int bundle_check_installed(struct store *st, const struct bundle_load_opts *o,
			   void (*cb)(const char *sha256, const char *reason, void *arg),
			   void *arg, uint64_t *ret_blobs, char *err, size_t errlen);

/* "sha256/ab/" and a hash: a blob's path under the artifact directory. */
#define BUNDLE_BLOB_PATH_SIZE (10 + SHA256_HEX_SIZE)

/* The kinds of target an artifact reference can name. */
enum bundle_ref {
	BUNDLE_REF_BLOB,             /* a loaded bundle's file: NAME/VERSION/PATH or ROLE */
	BUNDLE_REF_FILE,             /* a file under the artifact directory, by its path */
	BUNDLE_REF_MISSING,
};

/*
 * Resolve a profile's artifact reference: as NAME/VERSION/PATH (or ROLE) of a loaded
 * bundle, writing its blob path and hash, or else as a readable file under the
 * artifact directory `artifact_fd`. The staging folder never resolves: its files are
 * not checked yet. `st` may be NULL, which skips the bundle lookup.
 */
enum bundle_ref bundle_ref_resolve(struct store *st, int artifact_fd, const char *ref,
				   char blob[BUNDLE_BLOB_PATH_SIZE], char sha256[SHA256_HEX_SIZE]);

/*
 * Open a bundle file for reading. Only a regular file is accepted, because a FIFO
 * can block a load and a device can feed it bytes without end. Returns the descriptor, or -errno with the
 * reason in err.
 */
int bundle_open_file(const char *path, char *err, size_t errlen);

/*
 * Internal to the bundle module: the staging writer (writer.c), a thread that writes a
 * load's payload files into the staging folder `dir_fd` while the walk hashes. Files
 * are named by their manifest index. Every call after a failure returns it.
 */
struct stage_writer;

/*
 * Lock that serialises changes to the blob store. A load takes it from its first look
 * at the stored blobs to its commit, a check for its whole run, a removal while it
 * deletes.
 */
extern pthread_mutex_t bundle_store_lock;

/* A writer with `buffers` buffers of BUNDLE_CHUNK bytes, 1 to STAGE_BUFFERS_MAX. */
int stage_writer_new(int dir_fd, const struct bundle_manifest *m, unsigned buffers,
		     struct stage_writer **ret);
#define STAGE_BUFFERS_MAX 16
/* A free BUNDLE_CHUNK buffer, waiting for one; NULL with err set after a failure. */
void *stage_writer_buffer(struct stage_writer *sw, char *err, size_t errlen);
/* Give back a buffer without writing it. */
void stage_writer_release(struct stage_writer *sw, const void *buf);
/* Queue the creation of staging file `index`, closing a file that got no close. */
int stage_writer_open(struct stage_writer *sw, size_t index, char *err, size_t errlen);
/* Queue `len` bytes of a lent buffer for the open file; the buffer returns when written. */
int stage_writer_data(struct stage_writer *sw, const void *buf, size_t len, char *err,
		      size_t errlen);
/* Queue the sync and close of the open file. */
int stage_writer_close(struct stage_writer *sw, size_t index, char *err, size_t errlen);
/*
 * Finish the queued work (or, with `abort`, drop it), stop the thread and free. Returns
 * 0 when every file was written and synced, or the first error. Accepts NULL.
 */
int stage_writer_finish(struct stage_writer *sw, bool abort, char *err, size_t errlen);

/*
 * Internal to the bundle module: a worker pool (pool.c). `workers` threads run
 * run(ctx, worker index, job) for each job submitted, taken from a FIFO queue of
 * `capacity` jobs of `job_size` bytes each. Submitting copies the job.
 */
struct work_pool;

int work_pool_new(unsigned workers, size_t job_size, size_t capacity,
		  void (*run)(void *ctx, unsigned worker, void *job), void *ctx,
		  struct work_pool **ret);
/* Queue a copy of `job`, waiting while the queue is full. */
void work_pool_submit(struct work_pool *pool, const void *job);
/* Wait up to timeout_ms until every job submitted has run. Returns 0 or -ETIMEDOUT. */
int work_pool_wait(struct work_pool *pool, int timeout_ms);
/* Run every job still queued, stop the threads and free. Accepts NULL; returns NULL. */
struct work_pool *work_pool_free(struct work_pool *pool);

/* `bundle create` (create.c). */
struct bundle_create_opts {
	const char *spec_path;       /* JSON: name, version, kind, description, files */
	const char *base_dir;        /* sources are relative to it; NULL: the spec's folder */
	const char *key_path;        /* the Ed25519 private key, PEM */
	const char *output_path;     /* NULL: NAME-VERSION.bundle in the working folder */
	bool zstd;                   /* compress the whole archive */
	bool replace;                /* replace an existing output file */
	uint64_t mtime;              /* modification time of every entry */
	/* Called after each chunk copied into the archive. Optional. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
};

/*
 * Build a signed bundle from a spec. The output appears whole or not at all. Returns
 * 0 and sets *ret_manifest when not NULL (caller frees), or a negative errno with the
 * reason in err.
 */
int bundle_create(const struct bundle_create_opts *opts, struct bundle_manifest **ret_manifest,
		  char *err, size_t errlen);

#endif
