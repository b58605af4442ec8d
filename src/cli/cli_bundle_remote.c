/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `outpost bundle` commands that talk to the daemon: load (a job the command
 * follows with a progress line), list, show, remove, and verify --installed (a job
 * that re-hashes every blob).
 */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle/bundle.h"

/* How often a job is polled, in milliseconds. */
#define JOB_POLL_MS 50

struct remote {
	const struct cli_bundle_opts *o;
	struct cli_endpoint endpoint;
	struct cli_client *client;
	struct cli_response resp;
	char err[512];
};

/* Send a request; returns 0 when a reply came, or an exit code after a message. */
static int
request(struct remote *r, const char *method, const char *path, const json_t *body)
{
	int rc = cli_client_request(r->client, method, path, body, &r->resp, r->err,
				    sizeof(r->err));

	if (rc == 0)
		return 0;
	fprintf(stderr, "outpost bundle: %s\n", rc == -EIO ? r->err : strerror(-rc));
	return rc == -EIO ? CLI_EXIT_UNREACHABLE : CLI_EXIT_REJECTED;
}

/* Print the daemon's error reply and return its exit code. */
static int
reply_failed(struct remote *r)
{
	struct buf text;

	buf_init(&text, 4096);
	cli_error_text(r->resp.status, r->resp.body.data, r->resp.body.len, &text);
	fprintf(stderr, "outpost bundle: %s\n", text.data != NULL ? text.data : "request failed");
	buf_free(&text);
	return cli_exit_for_status(r->resp.status);
}

static json_t *
reply_json(struct remote *r)
{
	return json_loadb(r->resp.body.data != NULL ? r->resp.body.data : "", r->resp.body.len,
			  0, NULL);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Follow job `id` until it ends; returns its final JSON (caller frees) or NULL. */
static json_t *
job_follow(struct remote *r, json_int_t id, const char *label)
{
	struct cli_progress p;
	char path[64];

	cli_progress_init(&p, label, 0);
	snprintf(path, sizeof(path), "/api/v1/jobs/%lld", (long long)id);
	for (;;) {
		json_t *job;
		const char *state;

		if (request(r, "GET", path, NULL) != 0) {
			fprintf(stderr, "outpost bundle %s: lost the daemon while job %lld ran; a "
				"stopped job leaves nothing behind, so run the command again once "
				"the daemon is back\n", label, (long long)id);
			return NULL;
		}
		if (r->resp.status != 200) {
			reply_failed(r);
			return NULL;
		}
		job = reply_json(r);
		state = json_string_value(json_object_get(job, "state"));
		p.total = (uint64_t)json_integer_value(json_object_get(job, "bytes_total"));
		if (state == NULL || strcmp(state, "running") != 0) {
			if (p.total > 0)
				cli_progress_draw(&p, p.total, true);
			return job;
		}
		if (p.total > 0)
			cli_progress_draw(&p, (uint64_t)json_integer_value(
						     json_object_get(job, "bytes_done")), false);
		json_decref(job);
		sleep_ms(JOB_POLL_MS);
	}
}

/* Follow the job that the last reply (202) started; returns the exit code. */
static int
job_run_started(struct remote *r, const char *label,
		int (*done)(struct remote *r, json_t *result))
{
	json_t *reply, *job;
	json_int_t id;
	int rc;

	if (r->resp.status != 202)
		return reply_failed(r);
	reply = reply_json(r);
	id = json_integer_value(json_object_get(json_object_get(reply, "job"), "id"));
	json_decref(reply);
	job = job_follow(r, id, label);
	if (job == NULL)
		return CLI_EXIT_REJECTED;
	if (json_object_get(job, "result") == NULL) {
		fprintf(stderr, "outpost bundle %s: %s\n", label,
			json_string_value(json_object_get(job, "error")));
		json_decref(job);
		return CLI_EXIT_REJECTED;
	}
	rc = done(r, json_object_get(job, "result"));
	json_decref(job);
	return rc;
}

/* Start a job with POST and follow it; returns the exit code. */
static int
job_run(struct remote *r, const char *path, json_t *body, const char *label,
	int (*done)(struct remote *r, json_t *result))
{
	int rc = request(r, "POST", path, body);

	return rc != 0 ? rc : job_run_started(r, label, done);
}

static int
load_done(struct remote *r, json_t *result)
{
	json_t *b = json_object_get(result, "bundle");
	char size[32];

	if (r->o->json)
		return cli_json_print(json_incref(result));
	cli_size_text((uint64_t)json_integer_value(json_object_get(b, "size")), size,
		      sizeof(size));
	printf("loaded %s %s: %lld files, %s\n", json_string_value(json_object_get(b, "name")),
	       json_string_value(json_object_get(b, "version")),
	       (long long)json_integer_value(json_object_get(b, "files")), size);
	return CLI_EXIT_OK;
}

static void
upload_progress(void *ctx, uint64_t done)
{
	cli_progress_draw(ctx, done, false);
}

/* Send a bundle file to a remote daemon, then follow the load job. */
static int
cmd_upload(struct remote *r, const char *file)
{
	char berr[BUNDLE_ERR_SIZE], path[64];
	struct cli_progress p;
	struct stat st;
	int fd, rc;

	fd = bundle_open_file(file, berr, sizeof(berr));
	if (fd < 0) {
		fprintf(stderr, "outpost bundle load: %s\n", berr);
		return CLI_EXIT_REJECTED;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return CLI_EXIT_REJECTED;
	}
	snprintf(path, sizeof(path), "/api/v1/bundles%s",
		 r->o->allow_downgrade ? "?allow_downgrade=true" : "");
	cli_progress_init(&p, "upload", (uint64_t)st.st_size);
	rc = cli_client_upload(r->client, path, fd, (uint64_t)st.st_size, upload_progress, &p,
			       &r->resp, r->err, sizeof(r->err));
	close(fd);
	if (rc < 0) {
		if (p.enabled)
			fputc('\n', stderr);
		fprintf(stderr, "outpost bundle load: %s\n", r->err);
		return rc == -EIO ? CLI_EXIT_UNREACHABLE : CLI_EXIT_REJECTED;
	}
	cli_progress_draw(&p, (uint64_t)st.st_size, true);
	return job_run_started(r, "load", load_done);
}

static int
check_done(struct remote *r, json_t *result)
{
	json_t *damaged = json_object_get(result, "damaged"), *item;
	size_t i;

	if (r->o->json)
		cli_json_print(json_incref(result));
	else
		printf("%lld blobs checked, %zu damaged\n",
		       (long long)json_integer_value(json_object_get(result, "blobs")),
		       json_array_size(damaged));
	json_array_foreach(damaged, i, item)
		fprintf(stderr, "damaged blob %s: %s\n",
			json_string_value(json_object_get(item, "sha256")),
			json_string_value(json_object_get(item, "reason")));
	return json_array_size(damaged) == 0 ? CLI_EXIT_OK : CLI_EXIT_REJECTED;
}

static int
cmd_load(struct remote *r, const char *file)
{
	char path[PATH_MAX];
	json_t *body;
	int rc;

	if (r->endpoint.base_url != NULL)
		return cmd_upload(r, file);
	/* The daemon opens the file, so it needs a path that does not depend on our cwd. */
	if (realpath(file, path) == NULL) {
		fprintf(stderr, "outpost bundle load: cannot open %s: %s\n", file, strerror(errno));
		return CLI_EXIT_REJECTED;
	}
	body = json_pack("{s:s, s:b}", "path", path, "allow_downgrade", r->o->allow_downgrade);
	rc = job_run(r, "/api/v1/bundles", body, "load", load_done);
	json_decref(body);
	return rc;
}

static int
cmd_list(struct remote *r)
{
	static const struct cli_column columns[] = {
		{ "NAME", 40 }, { "VERSION", 24 }, { "KIND", 10 }, { "FILES", 6 },
		{ "SIZE", 12 }, { "LOADED", 20 },
	};
	struct cli_table table;
	json_t *reply, *items, *b;
	struct buf out;
	size_t i;
	int rc;

	rc = request(r, "GET", "/api/v1/bundles", NULL);
	if (rc != 0)
		return rc;
	if (r->resp.status != 200)
		return reply_failed(r);
	reply = reply_json(r);
	if (r->o->json)
		return cli_json_print(reply);
	items = json_object_get(reply, "items");
	cli_table_init(&table, columns, sizeof(columns) / sizeof(columns[0]));
	json_array_foreach(items, i, b) {
		char files[24], size[32];
		const char *cells[6];

		snprintf(files, sizeof(files), "%lld",
			 (long long)json_integer_value(json_object_get(b, "files")));
		cli_size_text((uint64_t)json_integer_value(json_object_get(b, "size")), size,
			      sizeof(size));
		cells[0] = json_string_value(json_object_get(b, "name"));
		cells[1] = json_string_value(json_object_get(b, "version"));
		cells[2] = json_string_value(json_object_get(b, "kind"));
		cells[3] = files;
		cells[4] = size;
		cells[5] = json_string_value(json_object_get(b, "loaded_at"));
		cli_table_add_row(&table, cells);
	}
	buf_init(&out, CLI_RESPONSE_MAX);
	rc = cli_table_render(&table, &out);
	if (rc == 0)
		fputs(out.data != NULL ? out.data : "", stdout);
	buf_free(&out);
	cli_table_free(&table);
	json_decref(reply);
	return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_REJECTED;
}

/* "/api/v1/bundles/NAME/VERSION", with both checked so they cannot change the path. */
static int
bundle_path(const char *name, const char *version, char *out, size_t size)
{
	for (const char *p = name; *p != '\0'; p++)
		if (*p == '/' || *p == '?' || *p == '%' || *p == '#')
			return -EINVAL;
	for (const char *p = version; *p != '\0'; p++)
		if (*p == '/' || *p == '?' || *p == '%' || *p == '#')
			return -EINVAL;
	if (name[0] == '\0' || version[0] == '\0' ||
	    snprintf(out, size, "/api/v1/bundles/%s/%s", name, version) >= (int)size)
		return -EINVAL;
	return 0;
}

static int
cmd_show(struct remote *r, const char *name, const char *version)
{
	char path[512], size[32];
	json_t *b, *a;
	size_t i;
	int rc;

	if (bundle_path(name, version, path, sizeof(path)) < 0) {
		fprintf(stderr, "outpost bundle show: invalid bundle name or version\n");
		return CLI_EXIT_USAGE;
	}
	rc = request(r, "GET", path, NULL);
	if (rc != 0)
		return rc;
	if (r->resp.status != 200)
		return reply_failed(r);
	b = reply_json(r);
	if (r->o->json)
		return cli_json_print(b);
	printf("name:     %s\nversion:  %s\nkind:     %s\nkey:      %s\nmanifest: %s\nloaded:   %s\n",
	       json_string_value(json_object_get(b, "name")),
	       json_string_value(json_object_get(b, "version")),
	       json_string_value(json_object_get(b, "kind")),
	       json_string_value(json_object_get(b, "key_id")),
	       json_string_value(json_object_get(b, "manifest_sha256")),
	       json_string_value(json_object_get(b, "loaded_at")));
	json_array_foreach(json_object_get(b, "artifacts"), i, a) {
		cli_size_text((uint64_t)json_integer_value(json_object_get(a, "size")), size,
			      sizeof(size));
		printf("  %-15s %10s  %s\n", json_string_value(json_object_get(a, "role")), size,
		       json_string_value(json_object_get(a, "reference")));
	}
	json_decref(b);
	return CLI_EXIT_OK;
}

static int
cmd_remove(struct remote *r, const char *name, const char *version)
{
	char path[512];
	int rc;

	if (bundle_path(name, version, path, sizeof(path)) < 0) {
		fprintf(stderr, "outpost bundle remove: invalid bundle name or version\n");
		return CLI_EXIT_USAGE;
	}
	if (r->o->force)
		strcat(path, "?force=true");
	rc = request(r, "DELETE", path, NULL);
	if (rc != 0)
		return rc;
	if (r->resp.status != 204)
		return reply_failed(r);
	printf("removed %s %s\n", name, version);
	return CLI_EXIT_OK;
}

static int
cmd_check(struct remote *r)
{
	json_t *body = json_object();
	int rc;

	rc = job_run(r, "/api/v1/bundles/check", body, "verify", check_done);
	json_decref(body);
	return rc;
}

int
cli_bundle_remote(const char *verb, char *const *operands, size_t count,
		  const struct cli_bundle_opts *o)
{
	static const struct {
		const char *verb;
		size_t operands;
	} arity[] = { { "load", 1 }, { "list", 0 }, { "show", 2 }, { "remove", 2 },
		      { "verify", 0 } };
	struct remote r = { .o = o };
	int rc = CLI_EXIT_USAGE;

	for (size_t i = 0; i < sizeof(arity) / sizeof(arity[0]); i++)
		if (strcmp(verb, arity[i].verb) == 0 && count != arity[i].operands) {
			fprintf(stderr, "outpost bundle %s: expected %zu operands, got %zu\n", verb,
				arity[i].operands, count);
			return CLI_EXIT_USAGE;
		}
	if (cli_endpoint_resolve(&o->conn, getenv("OUTPOST_SOCKET"), getenv("OUTPOST_TOKEN"),
				 &r.endpoint, r.err, sizeof(r.err)) < 0) {
		fprintf(stderr, "outpost bundle: %s\n", r.err);
		return CLI_EXIT_USAGE;
	}
	if (cli_client_new(&r.endpoint, &r.client) < 0) {
		cli_endpoint_free(&r.endpoint);
		return CLI_EXIT_REJECTED;
	}
	if (strcmp(verb, "load") == 0)
		rc = cmd_load(&r, operands[0]);
	else if (strcmp(verb, "list") == 0)
		rc = cmd_list(&r);
	else if (strcmp(verb, "show") == 0)
		rc = cmd_show(&r, operands[0], operands[1]);
	else if (strcmp(verb, "remove") == 0)
		rc = cmd_remove(&r, operands[0], operands[1]);
	else if (strcmp(verb, "verify") == 0)
		rc = cmd_check(&r);
	buf_free(&r.resp.body);
	cli_client_free(r.client);
	cli_endpoint_free(&r.endpoint);
	return rc;
}
