/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The deployment: ask Outpost for the image, choose the disk, then stream the image
 * once: every byte received is hashed and decompressed, and the output is written
 * to the disk as it comes, runs of zero blocks as zeroed ranges. The hash is checked
 * against the signed manifest's at the end, and on a mismatch the start of the disk
 * is wiped so that nothing half-written boots. Then the partition table is re-read
 * and cloud-init in the installed system is pointed at Outpost (configure.c).
 */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>


#define OUT_SIZE (4u << 20)     /* decompressed bytes gathered before a write */
#define ZERO_BLOCK 65536u       /* zero runs are found in blocks of this size */
#define WIPE_BYTES (1u << 20)

struct image {
	char url[AGENT_URL_MAX];
	char sha256[65];
	uint64_t size;              /* bytes of the image as served (compressed) */
	uint64_t raw_size;          /* bytes once decompressed; 0 when unknown */
	bool zstd;
	char cloud_init_url[AGENT_URL_MAX];
	int64_t deployment_id;
};

struct writer {
	int fd;
	bool block;                 /* a block device, so BLKZEROOUT applies */
	uint64_t capacity;          /* bytes the target holds */
	EVP_MD_CTX *sha;
	ZSTD_DStream *zstd;
	size_t zstd_ret;            /* the last ZSTD_decompressStream result */
	bool zstd_failed;           /* the rest is only hashed, to tell corruption apart */
	const int *status;          /* the reply's HTTP status, set before the body */
	unsigned char *out;
	size_t out_len;
	uint64_t offset;            /* disk bytes written so far */
	uint64_t received;          /* image bytes received */
	char err[512];
};

/* Read the deployment's image and seed from GET /agent/v1/deployment. */
static int
deployment_fetch(const struct agent_config *cfg, struct image *img)
{
	struct agent_request rq = { .method = "GET", .token = cfg->token, .timeout_seconds = 30 };
	char url[AGENT_URL_MAX], err[256];
	const json_t *image;
	const char *text, *sha, *seed;
	json_t *reply = NULL;
	int status = 0, rc;

	if (agent_url_join(cfg, "/agent/v1/deployment", url) < 0)
		return -ENAMETOOLONG;
	rq.url = url;
	/* Connection errors and 5xx are retried: the appliance may be restarting. */
	for (int attempt = 1;; attempt++) {
		rq.deadline = agent_now() + 60;
		rc = agent_http_json(&rq, &reply, &status, err, sizeof(err));
		if ((rc == 0 && status / 100 != 5) || attempt == 10)
			break;
		agent_log("GET /agent/v1/deployment failed (attempt %d of 10): %s", attempt,
			  rc < 0 ? err : "server error");
		json_decref(reply);
		reply = NULL;
		sleep(3);
	}
	if (rc < 0 || status != 200) {
		text = json_string_value(json_object_get(reply, "detail"));
		if (rc == 0)
			snprintf(err, sizeof(err), "HTTP %d: %.200s", status, text != NULL ? text : "");
		json_decref(reply);
		/* A deployment that is over needs no report; anything else ends it. */
		if (rc == 0 && status == 409)
			return -ESTALE;
		agent_report_failure(cfg, "ramdisk-up", "cannot read the deployment: %s", err);
		return rc < 0 ? rc : -EIO;
	}
	image = json_object_get(reply, "image");
	text = json_string_value(json_object_get(image, "url"));
	sha = json_string_value(json_object_get(image, "sha256"));
	seed = json_string_value(json_object_get(reply, "cloud_init_url"));
	if (text == NULL || sha == NULL || strlen(sha) != 64 ||
	    strspn(sha, "0123456789abcdef") != 64 || seed == NULL ||
	    strlen(text) >= sizeof(img->url) || strlen(seed) >= sizeof(img->cloud_init_url) ||
	    json_integer_value(json_object_get(image, "size")) <= 0) {
		json_decref(reply);
		agent_report_failure(cfg, "ramdisk-up", "the deployment reply lacks a valid image "
				     "url, sha256, size or cloud_init_url");
		return -EPROTO;
	}
	strcpy(img->url, text);
	strcpy(img->sha256, sha);
	strcpy(img->cloud_init_url, seed);
	img->size = (uint64_t)json_integer_value(json_object_get(image, "size"));
	img->raw_size = (uint64_t)json_integer_value(json_object_get(image, "raw_size"));
	text = json_string_value(json_object_get(image, "compression"));
	img->zstd = text != NULL && strcmp(text, "zstd") == 0;
	img->deployment_id = json_integer_value(json_object_get(reply, "deployment_id"));
	json_decref(reply);
	return 0;
}

/* Zero [offset, offset + len) of the target, without writing the zeros when it can. */
static int
zero_range(struct writer *w, uint64_t offset, uint64_t len)
{
	static const unsigned char zeros[ZERO_BLOCK];
	uint64_t range[2] = { offset, len };

	if (w->block && ioctl(w->fd, BLKZEROOUT, range) == 0)
		return 0;
	if (!w->block && fallocate(w->fd, FALLOC_FL_ZERO_RANGE, (off_t)offset, (off_t)len) == 0)
		return 0;
	for (uint64_t done = 0; done < len; done += ZERO_BLOCK) {
		size_t n = len - done < ZERO_BLOCK ? (size_t)(len - done) : ZERO_BLOCK;

		if (pwrite_all(w->fd, zeros, n, offset + done) < 0)
			return -errno;
	}
	return 0;
}

static bool
block_is_zero(const unsigned char *p, size_t len)
{
	const uint64_t *words = (const uint64_t *)(const void *)p;

	for (size_t i = 0; i < len / 8; i++)
		if (words[i] != 0)
			return false;
	for (size_t i = len / 8 * 8; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* Write the gathered output: data runs with pwrite, zero runs as zeroed ranges. */
static int
writer_flush(struct writer *w)
{
	size_t pos = 0;

	if (w->offset + w->out_len > w->capacity) {
		snprintf(w->err, sizeof(w->err), "the image is larger than the disk (%" PRIu64
			 " bytes)", w->capacity);
		return -ENOSPC;
	}
	while (pos < w->out_len) {
		size_t len = w->out_len - pos < ZERO_BLOCK ? w->out_len - pos : ZERO_BLOCK;
		bool zero = block_is_zero(w->out + pos, len);
		size_t run = len;
		int rc;

		while (pos + run < w->out_len) {
			size_t next = w->out_len - pos - run < ZERO_BLOCK ? w->out_len - pos - run :
									     ZERO_BLOCK;

			if (block_is_zero(w->out + pos + run, next) != zero)
				break;
			run += next;
		}
		rc = zero ? zero_range(w, w->offset + pos, run) :
			    pwrite_all(w->fd, w->out + pos, run, w->offset + pos);
		if (rc < 0) {
			snprintf(w->err, sizeof(w->err), "writing %zu bytes at offset %" PRIu64
				 " failed: %s", run, w->offset + pos, strerror(errno));
			return -EIO;
		}
		pos += run;
	}
	w->offset += w->out_len;
	w->out_len = 0;
	return 0;
}

/* The body callback: hash, decompress and write. */
static int
writer_take(void *arg, const void *data, size_t len)
{
	struct writer *w = arg;
	ZSTD_inBuffer in = { data, len, 0 };
	int rc;

	/* An error page is not the image. */
	if (*w->status != 200) {
		snprintf(w->err, sizeof(w->err), "downloading the image: HTTP %d", *w->status);
		return -EIO;
	}
	w->received += len;
	EVP_DigestUpdate(w->sha, data, len);
	if (w->zstd_failed)
		return 0;
	if (w->zstd == NULL) {
		while (in.pos < in.size) {
			size_t n = in.size - in.pos < OUT_SIZE - w->out_len ? in.size - in.pos :
									       OUT_SIZE - w->out_len;

			memcpy(w->out + w->out_len, (const char *)data + in.pos, n);
			w->out_len += n;
			in.pos += n;
			if (w->out_len == OUT_SIZE && (rc = writer_flush(w)) < 0)
				return rc;
		}
		return 0;
	}
	while (in.pos < in.size) {
		ZSTD_outBuffer out = { w->out, OUT_SIZE, w->out_len };

		w->zstd_ret = ZSTD_decompressStream(w->zstd, &out, &in);
		if (ZSTD_isError(w->zstd_ret)) {
			/* Read on: a hash mismatch, if there is one, is the better reason. */
			snprintf(w->err, sizeof(w->err), "the image is not valid zstd: %s",
				 ZSTD_getErrorName(w->zstd_ret));
			w->zstd_failed = true;
			return 0;
		}
		w->out_len = out.pos;
		if (w->out_len == OUT_SIZE && (rc = writer_flush(w)) < 0)
			return rc;
	}
	return 0;
}

/* Open the target and size it; `path` is a block device or, in tests, a file. */
static int
target_open(const char *path, struct writer *w)
{
	struct stat st;

	w->fd = open(path, O_RDWR | O_CLOEXEC);
	if (w->fd < 0) {
		snprintf(w->err, sizeof(w->err), "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(w->fd, &st) < 0)
		return -errno;
	w->block = S_ISBLK(st.st_mode);
	if (w->block && ioctl(w->fd, BLKGETSIZE64, &w->capacity) < 0) {
		snprintf(w->err, sizeof(w->err), "cannot read the size of %s: %s", path,
			 strerror(errno));
		return -errno;
	}
	if (!w->block)
		w->capacity = (uint64_t)st.st_size;
	return 0;
}

/* Hex digest of the hash so far. */
static void
digest_hex(EVP_MD_CTX *sha, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_DigestFinal_ex(sha, md, &len);
	for (unsigned int i = 0; i < len && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

/* Stream the image to the disk. Returns 0, or a negative errno with w->err set. */
static int
image_stream(const struct agent_config *cfg, const struct image *img, struct writer *w)
{
	struct agent_request rq = { .method = "GET", .url = img->url, .timeout_seconds = 60 };
	char err[256];
	int status = 0, rc;

	(void)cfg;
	/* A stream slower than 1 MB/s on average, after 5 minutes of slack, is given up. */
	rq.deadline = agent_now() + 300 + (double)img->size / 1e6;
	w->status = &status;
	rc = agent_http(&rq, writer_take, w, &status, err, sizeof(err));
	if (rc < 0) {
		if (w->err[0] == '\0')
			snprintf(w->err, sizeof(w->err), "downloading %.120s: %s", img->url, err);
		return rc;
	}
	if (status != 200) {
		snprintf(w->err, sizeof(w->err), "downloading %.120s: HTTP %d", img->url, status);
		return -EIO;
	}
	if (w->zstd_failed)
		return 0;               /* deploy_write compares the hash, then reports */
	if (w->zstd != NULL && w->zstd_ret != 0) {
		snprintf(w->err, sizeof(w->err), "the image ends in the middle of a zstd frame");
		return -EBADMSG;
	}
	rc = writer_flush(w);
	if (rc == 0 && fdatasync(w->fd) < 0) {
		snprintf(w->err, sizeof(w->err), "flushing the disk failed: %s", strerror(errno));
		rc = -EIO;
	}
	return rc;
}

/*
 * Zero the first MiB of the disk, the last MiB and the MiB before where the image
 * ended, so that a rejected image cannot boot: the primary GPT and the backup GPTs a
 * tool or the firmware would rebuild the table from are all gone.
 */
static void
wipe_start(struct writer *w)
{
	uint64_t ends[2] = { w->capacity, w->offset };
	int rc = zero_range(w, 0, w->capacity < WIPE_BYTES ? w->capacity : WIPE_BYTES);

	for (int i = 0; i < 2 && rc == 0; i++)
		if (ends[i] > WIPE_BYTES)
			rc = zero_range(w, ends[i] - WIPE_BYTES, WIPE_BYTES);
	if (rc < 0 || fdatasync(w->fd) < 0)
		agent_log("wiping the disk's partition tables failed: %s", strerror(errno));
}

static int
deploy_write(const struct agent_config *cfg, const struct image *img, const char *disk,
	     struct writer *w)
{
	double start, seconds;
	bool mismatch;
	char got[65];
	int rc;

	rc = target_open(disk, w);
	if (rc < 0) {
		agent_report_failure(cfg, "disk-selected", "%s", w->err);
		return rc;
	}
	if (img->raw_size > w->capacity) {
		agent_report_failure(cfg, "disk-selected", "disk %s holds %" PRIu64 " bytes; the "
				     "image needs %" PRIu64, disk, w->capacity, img->raw_size);
		return -ENOSPC;
	}
	agent_report_phase(cfg, "disk-selected", 0, "%s, %" PRIu64 " bytes", disk, w->capacity);

	start = agent_now();
	rc = image_stream(cfg, img, w);
	if (rc < 0) {
		if (w->offset > 0)
			wipe_start(w);
		agent_report_failure(cfg, "image-written", "%s", w->err);
		return rc;
	}
	digest_hex(w->sha, got);
	seconds = agent_now() - start;
	mismatch = strcmp(got, img->sha256) != 0 || w->received != img->size;
	if (!w->zstd_failed || mismatch)
		agent_report_phase(cfg, "image-written", seconds, "%" PRIu64 " bytes written, %"
				   PRIu64 " received in %.1f s, %.1f MB/s", w->offset, w->received,
				   seconds, seconds > 0 ? (double)w->offset / seconds / 1e6 : 0);
	if (mismatch || w->zstd_failed)
		wipe_start(w);
	if (mismatch) {
		agent_report_failure(cfg, "image-verified", "image hash mismatch: expected sha256 "
				     "%s and %" PRIu64 " bytes, received sha256 %s and %" PRIu64
				     " bytes", img->sha256, img->size, got, w->received);
		return -EBADMSG;
	}
	if (w->zstd_failed) {
		agent_report_failure(cfg, "image-written", "%s", w->err);
		return -EBADMSG;
	}
	agent_report_phase(cfg, "image-verified", 0, "sha256 %s", got);
	return 0;
}

int
agent_deploy(const struct agent_config *cfg)
{
	struct writer w = { .fd = -1 };
	struct image img = { .size = 0 };
	char disk[AGENT_PATH_MAX];
	double uptime = agent_uptime(), start;
	int rc;

	agent_report_phase(cfg, "ramdisk-up", uptime, "kernel uptime %.1f s", uptime);
	rc = deployment_fetch(cfg, &img);
	if (rc < 0)
		return rc;
	rc = agent_disk_choose(cfg, img.raw_size, disk, w.err, sizeof(w.err));
	if (rc < 0) {
		agent_report_failure(cfg, "disk-selected", "%s", w.err);
		return rc;
	}

	w.sha = EVP_MD_CTX_new();
	w.out = malloc(OUT_SIZE);
	w.zstd = img.zstd ? ZSTD_createDStream() : NULL;
	if (w.sha == NULL || w.out == NULL || (img.zstd && w.zstd == NULL) ||
	    EVP_DigestInit_ex(w.sha, EVP_sha256(), NULL) != 1) {
		agent_report_failure(cfg, "image-written", "out of memory");
		rc = -ENOMEM;
		goto done;
	}
	rc = deploy_write(cfg, &img, disk, &w);
	if (rc < 0)
		goto done;

	start = agent_now();
	rc = agent_configure(cfg, disk, w.fd, w.block, img.cloud_init_url, w.err, sizeof(w.err));
	if (rc < 0) {
		agent_report_failure(cfg, "configured", "%s", w.err);
		goto done;
	}
	agent_report_phase(cfg, "configured", agent_now() - start, "%s", w.err);
	agent_report_phase(cfg, "rebooting", 0, "deployment %" PRId64 " written",
			   img.deployment_id);
done:
	if (w.fd >= 0)
		close(w.fd);
	EVP_MD_CTX_free(w.sha);
	ZSTD_freeDStream(w.zstd);
	free(w.out);
	return rc;
}
