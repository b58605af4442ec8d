/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /api/v1/bundles, /api/v1/artifacts and /api/v1/jobs. Loading a bundle and checking
 * the installed blobs take seconds to minutes, so they run as a job on a thread of
 * their own, one at a time. The POST replies 202 with the job, and clients follow it
 * with GET /jobs/{id}. The job publishes bundle.load.progress events while it runs.
 */
#include "api/api-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "log/log.h"

/* Progress events per second, at most, while a job runs. */
#define PROGRESS_EVENT_SECONDS 1

enum job_kind {
	JOB_LOAD,
	JOB_CHECK,
};

/* The one job slot: the running job, or the last one that ended. */
struct api_job {
	pthread_mutex_t lock;        /* guards everything below */
	pthread_t thread;
	bool joinable;               /* thread was started and not joined */
	bool running;
	atomic_bool cancel;          /* set when the daemon stops */
	atomic_bool input_cut;       /* the upload feeding the load ended early */
	int64_t id;                  /* 0 before the first job */
	enum job_kind kind;
	char actor[API_ACTOR_SIZE];
	char path[PATH_MAX];         /* load: the bundle file, when fd is -1 */
	int fd;                      /* load: an upload's pipe, owned; -1 for a path */
	uint64_t size;               /* load: the upload's Content-Length, 0 when unknown */
	bool allow_downgrade;
	uint64_t done, total;        /* bytes read of the file, for a load */
	int64_t started_at, ended_at;
	int64_t event_at;            /* last progress event, Unix seconds */
	char error[BUNDLE_ERR_SIZE];
	json_t *result;              /* owned; set when the job succeeded */
	struct api *api;
};

static json_t *
bundle_json(const struct bundle_info *b)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o}",
			 "id", (json_int_t)b->id, "name", b->name, "version", b->version,
			 "kind", b->kind, "key_id", b->key_id, "manifest_sha256",
			 b->manifest_sha256, "size", (json_int_t)b->size, "files",
			 (json_int_t)b->file_count, "loaded_at", api_json_time(b->loaded_at));
}

static json_t *
artifact_json(const struct artifact *a)
{
	char blob[8 + SHA256_HEX_SIZE + 4], ref[sizeof(a->bundle) + sizeof(a->version) +
						  sizeof(a->path) + 2];

	snprintf(blob, sizeof(blob), "sha256/%.2s/%s", a->sha256, a->sha256);
	snprintf(ref, sizeof(ref), "%s/%s/%s", a->bundle, a->version, a->path);
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o}",
			 "id", (json_int_t)a->id, "bundle", a->bundle, "version", a->version,
			 "path", a->path, "role", a->role, "sha256", a->sha256,
			 "size", (json_int_t)a->size, "reference", ref, "blob", blob,
			 "metadata", a->metadata != NULL ?
				 api_json_from_text(a->metadata, "artifact metadata") :
				 json_null());
}

static int
json_append_bundle(const struct bundle_info *b, void *arg)
{
	return json_array_append_new(arg, bundle_json(b)) < 0 ? -ENOMEM : 0;
}

static int
json_append_artifact(const struct artifact *a, void *arg)
{
	return json_array_append_new(arg, artifact_json(a)) < 0 ? -ENOMEM : 0;
}

/* Reply {"items": [...]} from a store listing that appends to the array. */
static void
reply_items(struct api_call *call, int (*list)(struct api_call *, json_t *), const char *what)
{
	json_t *items = json_array();
	int rc;

	if (items == NULL) {
		api_reply_json(call, 200, NULL);
		return;
	}
	rc = list(call, items);
	if (rc < 0) {
		json_decref(items);
		api_reply_errno(call, rc, NULL, what);
		return;
	}
	api_reply_json(call, 200, json_pack("{s:o}", "items", items));
}

static int
list_bundles(struct api_call *call, json_t *items)
{
	return store_bundle_list(call->st, NULL, json_append_bundle, items);
}

void
api_bundles_list(struct api_call *call)
{
	static const char *const params[] = { NULL };
	struct api_error e;

	if (api_query_keys(call, params, &e) < 0) {
		api_reply_error(call, &e);
		return;
	}
	reply_items(call, list_bundles, "bundle list");
}

/* Load the bundle the route's {name}/{version} names, replying on failure. */
static int
bundle_from_path(struct api_call *call, struct bundle_info *b)
{
	char name[API_QUOTE_MAX + 4], version[API_QUOTE_MAX + 4];
	int rc;

	rc = store_bundle_get(call->st, call->params[0], call->params[1], b);
	if (rc == -ENOENT) {
		api_quote(call->params[0], name, sizeof(name));
		api_quote(call->params[1], version, sizeof(version));
		http_reply_error(call->req, 404, "not_found", "bundle %s version %s is not loaded",
				 name, version);
	} else if (rc < 0) {
		api_reply_errno(call, rc, NULL, "bundle lookup");
	}
	return rc;
}

void
api_bundles_get(struct api_call *call)
{
	struct bundle_info b;
	json_t *json, *items;
	int rc;

	if (bundle_from_path(call, &b) < 0)
		return;
	items = json_array();
	json = bundle_json(&b);
	rc = items != NULL && json != NULL ?
		store_artifact_list(call->st, b.id, json_append_artifact, items) : -ENOMEM;
	if (rc == 0 && json_object_set_new(json, "artifacts", items) == 0) {
		api_reply_json(call, 200, json);
		return;
	}
	if (rc == 0)
		items = NULL;
	json_decref(items);
	json_decref(json);
	api_reply_errno(call, rc < 0 ? rc : -ENOMEM, NULL, "bundle read");
}

void
api_bundles_delete(struct api_call *call)
{
	static const char *const params[] = { "force", NULL };
	const char *force = http_query(call->req, "force");
	char err[API_DETAIL_SIZE];
	struct bundle_info b;
	struct api_error e;
	int rc;

	if (api_query_keys(call, params, &e) < 0) {
		api_reply_error(call, &e);
		return;
	}
	if (force != NULL && strcmp(force, "true") != 0 && strcmp(force, "false") != 0) {
		http_reply_error(call->req, 400, "invalid_field", "force must be true or false");
		return;
	}
	if (bundle_from_path(call, &b) < 0)
		return;
	rc = bundle_remove(call->st, call->api->artifact_dir, b.name, b.version,
			   force != NULL && strcmp(force, "true") == 0, call->actor, err,
			   sizeof(err));
	if (rc == -EBUSY || rc == -EAGAIN) {
		http_reply_error(call->req, 409, "conflict", "%s", err);
		return;
	}
	if (rc < 0) {
		api_reply_errno(call, rc, err, "bundle.remove");
		return;
	}
	http_reply(call->req, 204, NULL, NULL, 0);
}

static int
list_artifacts(struct api_call *call, json_t *items)
{
	return store_artifact_list(call->st, 0, json_append_artifact, items);
}

void
api_artifacts_list(struct api_call *call)
{
	static const char *const params[] = { NULL };
	struct api_error e;

	if (api_query_keys(call, params, &e) < 0) {
		api_reply_error(call, &e);
		return;
	}
	reply_items(call, list_artifacts, "artifact list");
}

void
api_artifacts_get(struct api_call *call)
{
	char quoted[API_QUOTE_MAX + 4];
	struct artifact a;
	uint64_t id;
	int rc;

	api_quote(call->params[0], quoted, sizeof(quoted));
	if (uint_parse(call->params[0], 1, INT64_MAX, &id) < 0) {
		http_reply_error(call->req, 400, "invalid_field",
				 "artifact id \"%s\" must be a positive integer", quoted);
		return;
	}
	rc = store_artifact_get(call->st, (int64_t)id, &a);
	if (rc == -ENOENT) {
		http_reply_error(call->req, 404, "not_found", "artifact %s not found", quoted);
		return;
	}
	if (rc < 0) {
		api_reply_errno(call, rc, NULL, "artifact lookup");
		return;
	}
	api_reply_json(call, 200, artifact_json(&a));
	artifact_clear(&a);
}

/*********************************************************************************
 * Jobs
 */

static const char *
job_kind_name(enum job_kind kind)
{
	return kind == JOB_LOAD ? "bundle.load" : "bundle.check";
}

static const char *
job_state(const struct api_job *job)
{
	if (job->running)
		return "running";
	return job->result != NULL ? "done" : "failed";
}

/* The job as JSON; the caller holds the lock. */
static json_t *
job_json(const struct api_job *job)
{
	json_t *json = json_pack("{s:I, s:s, s:s, s:I, s:I, s:o, s:o}", "id", (json_int_t)job->id,
				 "kind", job_kind_name(job->kind), "state", job_state(job),
				 "bytes_done", (json_int_t)job->done, "bytes_total",
				 (json_int_t)job->total, "started_at",
				 api_json_time(job->started_at), "ended_at",
				 job->running ? json_null() : api_json_time(job->ended_at));

	if (json == NULL)
		return NULL;
	if (!job->running && job->result == NULL)
		json_object_set_new(json, "error", json_string(job->error));
	if (job->result != NULL)
		json_object_set(json, "result", job->result);
	return json;
}

static void
job_event(struct api_job *job, struct store *st, const char *type)
{
	char target[32], *payload;
	json_t *json;

	pthread_mutex_lock(&job->lock);
	json = job_json(job);
	pthread_mutex_unlock(&job->lock);
	payload = json != NULL ? json_dumps(json, JSON_COMPACT) : NULL;
	snprintf(target, sizeof(target), "job:%" PRId64, job->id);
	if (payload != NULL && store_event_append(st, type, target, payload, NULL) < 0)
		log_warning("api: cannot record event type=%s job=%" PRId64 ": %s", type, job->id,
			    store_error(st));
	free(payload);
	json_decref(json);
}

struct progress_ctx {
	struct api_job *job;
	struct store *st;
};

static void
job_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress_ctx *p = ctx;
	int64_t now = time_now();
	bool publish;

	pthread_mutex_lock(&p->job->lock);
	p->job->done = done;
	p->job->total = total;
	publish = now - p->job->event_at >= PROGRESS_EVENT_SECONDS;
	if (publish)
		p->job->event_at = now;
	pthread_mutex_unlock(&p->job->lock);
	if (publish)
		job_event(p->job, p->st, "bundle.load.progress");
}

struct check_result {
	json_t *bad;
};

static void
check_bad(const char *sha256, const char *reason, void *arg)
{
	struct check_result *r = arg;

	log_err("bundle: blob sha256=%s is damaged: %s", sha256, reason);
	json_array_append_new(r->bad, json_pack("{s:s, s:s}", "sha256", sha256, "reason",
						reason));
}

/* Run the job's work; returns its result, or NULL with job->error set. */
static json_t *
job_work(struct api_job *job, struct store *st, struct bundle_keyring *ring)
{
	struct progress_ctx progress = { .job = job, .st = st };
	struct bundle_load_opts o = {
		.artifact_dir = job->api->artifact_dir,
		.ring = ring,
		.allow_downgrade = job->allow_downgrade,
		.actor = job->actor,
		.progress = job_progress,
		.progress_ctx = &progress,
		.cancel = &job->cancel,
		.input_cut = &job->input_cut,
		.size = job->size,
	};
	struct check_result check = { .bad = json_array() };
	struct bundle_info info;
	uint64_t blobs = 0;
	json_t *result = NULL;
	int fd;

	if (job->kind == JOB_CHECK) {
		if (check.bad != NULL &&
		    bundle_check_installed(st, &o, check_bad, &check, &blobs, job->error,
					   sizeof(job->error)) == 0)
			return json_pack("{s:I, s:o}", "blobs", (json_int_t)blobs, "damaged",
					 check.bad);
		json_decref(check.bad);
		return NULL;
	}
	json_decref(check.bad);
	fd = job->fd;
	job->fd = -1;
	if (fd < 0)
		fd = bundle_open_file(job->path, job->error, sizeof(job->error));
	if (fd < 0)
		return NULL;
	if (bundle_load(st, fd, &o, &info, job->error, sizeof(job->error)) == 0)
		result = json_pack("{s:o}", "bundle", bundle_json(&info));
	close(fd);
	return result;
}

static void *
job_thread(void *arg)
{
	struct api_job *job = arg;
	struct store *st = store_pool_get(job->api->pool);
	json_t *result = NULL;

	if (st == NULL)
		snprintf(job->error, sizeof(job->error), "the store is unavailable");
	else
		result = job_work(job, st, job->api->keyring);

	pthread_mutex_lock(&job->lock);
	job->result = result;
	job->running = false;
	job->ended_at = time_now();
	pthread_mutex_unlock(&job->lock);
	if (st != NULL)
		job_event(job, st, result != NULL ? "bundle.job.done" : "bundle.job.failed");
	log_info("api: job=%" PRId64 " kind=%s actor=%s %s%s", job->id, job_kind_name(job->kind),
		 job->actor, result != NULL ? "done" : "failed: ", result != NULL ? "" : job->error);
	return NULL;
}

/*
 * Start a job in the slot. A load reads `path`, or the pipe `fd` (taken over, even on
 * failure) of an upload. Returns the job as JSON, or NULL after replying 409 when a
 * job is running or 500.
 */
static json_t *
job_start(struct api_call *call, enum job_kind kind, const char *path, int fd, uint64_t size,
	  bool allow_downgrade)
{
	struct api_job *job = call->api->job;
	json_t *json;
	int rc;

	pthread_mutex_lock(&job->lock);
	if (job->running) {
		pthread_mutex_unlock(&job->lock);
		if (fd >= 0)
			close(fd);
		http_reply_error(call->req, 409, "conflict", "job %" PRId64 " is still running; "
				 "wait for it to end", job->id);
		return NULL;
	}
	if (job->joinable) {
		pthread_join(job->thread, NULL);
		job->joinable = false;
	}
	json_decref(job->result);
	job->result = NULL;
	job->id++;
	job->kind = kind;
	snprintf(job->actor, sizeof(job->actor), "%s", call->actor);
	snprintf(job->path, sizeof(job->path), "%s", path != NULL ? path : "(upload)");
	job->fd = fd;
	job->size = size;
	job->allow_downgrade = allow_downgrade;
	job->done = job->total = 0;
	atomic_store(&job->input_cut, false);
	job->started_at = time_now();
	job->event_at = 0;
	job->error[0] = '\0';
	job->running = true;
	rc = -pthread_create(&job->thread, NULL, job_thread, job);
	if (rc < 0) {
		job->running = false;
		if (job->fd >= 0)
			close(job->fd);
		job->fd = -1;
		pthread_mutex_unlock(&job->lock);
		api_reply_errno(call, rc, "cannot start a thread for the job", "job start");
		return NULL;
	}
	job->joinable = true;
	json = job_json(job);
	pthread_mutex_unlock(&job->lock);
	log_info("api: job=%" PRId64 " kind=%s started actor=%s path=%s", job->id,
		 job_kind_name(kind), call->actor, job->path);
	return json;
}

/* Start a job and reply 202 with it. */
static void
job_reply(struct api_call *call, enum job_kind kind, const char *path, bool allow_downgrade)
{
	json_t *json = job_start(call, kind, path, -1, 0, allow_downgrade);

	if (json != NULL)
		api_reply_json(call, 202, json_pack("{s:o}", "job", json));
}

/*
 * An upload must average this many bytes per second once UPLOAD_GRACE_SECONDS have
 * passed, so that a client trickling bytes cannot hold the job slot for ever.
 */
#define UPLOAD_MIN_RATE (64 * 1024)
#define UPLOAD_GRACE_SECONDS 30

/* An upload being streamed into a load job through a pipe. */
struct upload {
	int pipe_w;                  /* owned; the job reads the other end, -1 once closed */
	json_t *job;                 /* owned; the job as it started, for the reply */
	struct api_job *slot;        /* not owned */
	int64_t started_at;
	uint64_t received;
};

/* End the job's input; with `cut`, the load must not commit what it read. */
static void
upload_close(struct upload *u, bool cut)
{
	if (u->pipe_w < 0)
		return;
	/* Set before the close, because the load reaches the end of its input only after it. */
	if (cut)
		atomic_store(&u->slot->input_cut, true);
	close(u->pipe_w);
	u->pipe_w = -1;
}

static int
upload_data(void *ctx, const void *data, size_t len)
{
	struct upload *u = ctx;
	int64_t elapsed = time_now() - u->started_at;
	int rc;

	u->received += len;
	if (elapsed > UPLOAD_GRACE_SECONDS && u->received / (uint64_t)elapsed < UPLOAD_MIN_RATE) {
		log_warning("api: upload for job=%" PRId64 " stopped: %" PRIu64 " bytes in %" PRId64
			    " s is below %d bytes/s", u->slot->id, u->received, elapsed,
			    UPLOAD_MIN_RATE);
		upload_close(u, true);
		return -ETIMEDOUT;
	}
	/* EPIPE: the load stopped early (a bad signature), so the rest is not needed. */
	rc = write_all(u->pipe_w, data, len);
	if (rc < 0)
		upload_close(u, false);
	return rc;
}

static void
upload_end(void *ctx, bool complete)
{
	struct upload *u = ctx;

	/* The job reads to the end of the pipe, and commits only a complete upload. */
	upload_close(u, !complete);
	if (!complete) {
		json_decref(u->job);
		free(u);
	}
}

void
api_bundles_upload_drop(struct http_request *req)
{
	struct upload *u = http_stream_ctx(req);

	if (u == NULL)
		return;
	upload_close(u, true);
	json_decref(u->job);
	free(u);
}

static bool
is_upload(struct api_call *call)
{
	const char *type = http_header(call->req, "Content-Type");

	return type != NULL && strncmp(type, "application/octet-stream", 24) == 0;
}

int
api_bundles_upload_begin(struct api_call *call)
{
	static const char *const params[] = { "allow_downgrade", NULL };
	const char *downgrade = http_query(call->req, "allow_downgrade");
	const char *length = http_header(call->req, "Content-Length");
	struct upload *u;
	struct api_error e;
	uint64_t size = 0;
	int fds[2];

	if (!is_upload(call))
		return 0;
	if (api_query_keys(call, params, &e) < 0) {
		api_reply_error(call, &e);
		return 1;
	}
	if (downgrade != NULL && strcmp(downgrade, "true") != 0 && strcmp(downgrade, "false") != 0) {
		http_reply_error(call->req, 400, "invalid_field",
				 "allow_downgrade must be true or false");
		return 1;
	}
	if (length != NULL)
		(void)uint_parse(length, 0, UINT64_MAX, &size);
	u = calloc(1, sizeof(*u));
	if (u == NULL || pipe2(fds, O_CLOEXEC) < 0) {
		free(u);
		api_reply_errno(call, -ENOMEM, "cannot start the upload", "bundle upload");
		return 1;
	}
	u->pipe_w = fds[1];
	u->slot = call->api->job;
	u->started_at = time_now();
	u->job = job_start(call, JOB_LOAD, NULL, fds[0], size,
			   downgrade != NULL && strcmp(downgrade, "true") == 0);
	if (u->job == NULL || http_request_stream(call->req, upload_data, upload_end, u) < 0) {
		upload_close(u, true);
		json_decref(u->job);
		free(u);
		return 1;
	}
	return 0;
}

/* The end of an upload: reply with the job it started. */
static void
upload_reply(struct api_call *call)
{
	struct upload *u = http_stream_ctx(call->req);

	if (u == NULL) {
		http_reply_error(call->req, 500, "internal", "the upload did not start a job");
		return;
	}
	api_reply_json(call, 202, json_pack("{s:o}", "job", u->job));
	free(u);
}

void
api_bundles_load(struct api_call *call)
{
	static const char *const allowed[] = { "path", "allow_downgrade", NULL };
	char path[PATH_MAX];
	struct api_error e;
	json_t *body, *downgrade;
	int rc;

	if (is_upload(call)) {
		upload_reply(call);
		return;
	}

	/*
	 * The daemon opens the path itself, so only a local caller, who can read the file
	 * anyway, may name one: error messages quote bytes of the file.
	 */
	if (http_listener(call->req) != HTTP_LISTENER_UNIX) {
		http_reply_error(call->req, 403, "forbidden", "loading a bundle by path is only "
				 "allowed on the daemon's unix socket; run outpost bundle load on "
				 "the appliance");
		return;
	}
	if (api_request_object(call, false, &body, &e) < 0) {
		api_reply_error(call, &e);
		return;
	}
	rc = api_json_keys(body, allowed, NULL, &e);
	if (rc == 0)
		rc = api_json_string(body, "path", sizeof(path) - 1, path, sizeof(path), &e);
	if (rc >= 0 && (rc != API_FIELD_VALUE || path[0] != '/'))
		rc = api_fail(&e, 400, "invalid_field", "path must be the absolute path of a "
			      "bundle file");
	downgrade = json_object_get(body, "allow_downgrade");
	if (rc >= 0 && downgrade != NULL && !json_is_boolean(downgrade))
		rc = api_fail(&e, 400, "invalid_field", "allow_downgrade must be true or false");
	if (rc < 0) {
		json_decref(body);
		api_reply_error(call, &e);
		return;
	}
	job_reply(call, JOB_LOAD, path, downgrade != NULL && json_is_true(downgrade));
	json_decref(body);
}

void
api_bundles_check(struct api_call *call)
{
	job_reply(call, JOB_CHECK, NULL, false);
}

void
api_jobs_get(struct api_call *call)
{
	struct api_job *job = call->api->job;
	char quoted[API_QUOTE_MAX + 4];
	uint64_t id;
	json_t *json = NULL;

	api_quote(call->params[0], quoted, sizeof(quoted));
	if (uint_parse(call->params[0], 1, INT64_MAX, &id) < 0) {
		http_reply_error(call->req, 400, "invalid_field",
				 "job id \"%s\" must be a positive integer", quoted);
		return;
	}
	pthread_mutex_lock(&job->lock);
	if ((int64_t)id == job->id)
		json = job_json(job);
	pthread_mutex_unlock(&job->lock);
	if (json == NULL) {
		http_reply_error(call->req, 404, "not_found", "job %s not found; the daemon "
				 "keeps only the latest job", quoted);
		return;
	}
	api_reply_json(call, 200, json);
}

int
api_jobs_new(struct api *api, struct api_job **ret)
{
	struct api_job *job = calloc(1, sizeof(*job));

	if (job == NULL || pthread_mutex_init(&job->lock, NULL) != 0) {
		free(job);
		return -ENOMEM;
	}
	atomic_init(&job->cancel, false);
	job->fd = -1;
	job->api = api;
	*ret = job;
	return 0;
}

void
api_jobs_free(struct api_job *job)
{
	if (job == NULL)
		return;
	atomic_store(&job->cancel, true);
	if (job->joinable)
		pthread_join(job->thread, NULL);
	json_decref(job->result);
	pthread_mutex_destroy(&job->lock);
	free(job);
}
