/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The deploy agent's endpoints under /agent/v1/. Every request carries a token in
 * "Authorization: Bearer ..."; a machine token (discovery ramdisk) may post the
 * inventory and ask for instructions, a deployment token may also read its deployment
 * and report phases and failures. Errors are JSON {"error", "detail"} with the status
 * the agent acts on: 401 bad token, 404 gone, 409 stale, 400 bad report.
 */
#include "deploy/deploy-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "bundle/bundle.h"
#include "governance/governance.h"
#include "log/log.h"
#include "util/util.h"

struct agent_call {
	struct deploy *dp;
	struct http_request *req;
	struct store *st;
	char kind;                       /* 'd' or 'm' */
	int64_t id;                      /* deployment or machine id */
	int64_t machine_id;
	char actor[48];
};

/* The reply for each errno an agent request can end with; anything else is a 500. */
static const struct {
	int rc;
	unsigned status;
	const char *error;
} errno_replies[] = {
	{ -ENOENT, 404, "not_found" },
	{ -ESTALE, 409, "stale" },
	{ -EINVAL, 400, "invalid" },
	{ -EACCES, 403, "forbidden" },
};

/* Reply with the errno's status and error code, logging the ones that are Outpost's fault. */
static void
reply_errno(struct agent_call *c, int rc, const char *err)
{
	const char *detail = err[0] != '\0' ? err : strerror(-rc);

	for (size_t i = 0; i < sizeof(errno_replies) / sizeof(errno_replies[0]); i++) {
		if (errno_replies[i].rc == rc) {
			http_reply_error(c->req, errno_replies[i].status, errno_replies[i].error, "%s",
					 detail);
			return;
		}
	}
	log_err("deploy: %s %s from %s failed: %s", http_method(c->req), http_path(c->req),
		http_peer(c->req), detail);
	http_reply_error(c->req, 500, "internal", "%s", detail);
}

/* Check the bearer token and find the machine it is for. Replies on failure. */
static int
call_authenticate(struct agent_call *c)
{
	const char *auth = http_header(c->req, "Authorization");
	struct deployment d = { 0 };
	int rc;

	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 ||
	    deploy_token_check(c->dp, auth + 7, &c->kind, &c->id) < 0) {
		if (deploy_log_allowed(c->dp))
			log_warning("deploy: rejected %s %s from %s: missing or invalid token",
				    http_method(c->req), http_path(c->req), http_peer(c->req));
		http_add_header(c->req, "WWW-Authenticate", "Bearer");
		http_reply_error(c->req, 401, "unauthorized", "a valid agent token is required");
		return -EACCES;
	}
	if (c->kind == 'm') {
		c->machine_id = c->id;
		snprintf(c->actor, sizeof(c->actor), "agent:machine:%" PRId64, c->id);
		return 0;
	}
	rc = store_deployment_get(c->st, c->id, &d);
	if (rc < 0) {
		reply_errno(c, rc, store_error(c->st));
		return rc;
	}
	c->machine_id = d.machine_id;
	deployment_clear(&d);
	snprintf(c->actor, sizeof(c->actor), "agent:deployment:%" PRId64, c->id);
	return 0;
}

/* Parse the JSON object body. Replies 400 on failure. */
static json_t *
body_object(struct agent_call *c)
{
	json_error_t error;
	size_t len;
	const char *body = http_body(c->req, &len);
	json_t *obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);

	if (!json_is_object(obj)) {
		json_decref(obj);
		http_reply_error(c->req, 400, "invalid", "the body must be a JSON object: %s",
				 error.text);
		return NULL;
	}
	return obj;
}

/* Copy a string member of `obj` through deploy_sanitise; "" when absent. */
static void
member_text(const json_t *obj, const char *key, char out[DEPLOY_DETAIL_MAX + 1])
{
	deploy_sanitise(json_string_value(json_object_get(obj, key)), out);
}

/* The deepest nesting an inventory may have; the agent's is 3 levels deep. */
#define INVENTORY_DEPTH_MAX 6

/* Is every value of `v` nested at most `depth` levels? */
static bool
depth_ok(json_t *v, int depth)
{
	const char *key;
	json_t *item;
	size_t i;

	if (depth < 0)
		return false;
	if (json_is_object(v)) {
		json_object_foreach(v, key, item)
			if (!depth_ok(item, depth - 1))
				return false;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			if (!depth_ok(item, depth - 1))
				return false;
	}
	return true;
}

/*
 * A deployment token may post an inventory only while its deployment runs and is the
 * machine's newest: the token stays in the installed system's seed configuration.
 */
static int
deployment_running(struct agent_call *c, char *err, size_t errlen)
{
	struct deployment d = { 0 }, current = { 0 };
	int rc;

	rc = store_deployment_get(c->st, c->id, &d);
	if (rc == 0)
		rc = store_deployment_current(c->st, d.machine_id, &current);
	if (rc == 0 && (d.state != DEPLOYMENT_RUNNING || current.id != d.id))
		rc = err_set(-ESTALE, err, errlen, "deployment %" PRId64 " is over; its token "
			     "no longer reports an inventory", d.id);
	else if (rc < 0)
		err_set(rc, err, errlen, "%s", store_error(c->st));
	deployment_clear(&d);
	deployment_clear(&current);
	return rc;
}

struct inventory_args {
	int64_t machine_id;
	json_t *inventory;
	char target[48];
};

/* Take the SMBIOS identity from the inventory's system object. */
static void
inventory_identity(const json_t *inventory, struct machine *m)
{
	const json_t *system = json_object_get(inventory, "system");
	char text[DEPLOY_DETAIL_MAX + 1], uuid[UUID_TEXT_SIZE];

	member_text(system, "serial", text);
	if (text[0] != '\0')
		snprintf(m->serial, sizeof(m->serial), "%.128s", text);
	member_text(system, "vendor", text);
	if (text[0] != '\0')
		snprintf(m->vendor, sizeof(m->vendor), "%.128s", text);
	member_text(system, "product", text);
	if (text[0] != '\0')
		snprintf(m->model, sizeof(m->model), "%.128s", text);
	member_text(system, "uuid", text);
	if (uuid_parse(text, uuid) == 0 && strcmp(uuid, "00000000-0000-0000-0000-000000000000") != 0)
		memcpy(m->uuid, uuid, sizeof(uuid));
}

static int
inventory_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct inventory_args *a = arg;
	struct machine m = { 0 };
	char *text;
	int rc;

	rc = store_machine_get(st, a->machine_id, &m);
	if (rc < 0)
		return err_set(rc, err, errlen, "%s", store_error(st));
	text = json_dumps(a->inventory, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL) {
		machine_clear(&m);
		return err_set(-ENOMEM, err, errlen, "out of memory");
	}
	free(m.inventory);
	m.inventory = text;
	inventory_identity(a->inventory, &m);
	rc = store_machine_update(st, &m);
	if (rc < 0)
		err_set(rc, err, errlen, "%s", store_error(st));
	machine_clear(&m);
	return rc;
}

/* POST /agent/v1/inventory {"inventory": {...}} */
static void
agent_inventory(struct agent_call *c)
{
	struct inventory_args a = { .machine_id = c->machine_id };
	struct action act = { .actor = c->actor, .name = "machine.inventory",
			      .target = a.target, .risk = RISK_CHANGE };
	char err[512];
	size_t len;
	json_t *body;
	int rc;

	http_body(c->req, &len);
	if (len > DEPLOY_INVENTORY_MAX) {
		http_reply_error(c->req, 413, "too_large", "the inventory is %zu bytes; at most %d "
				 "are accepted", len, DEPLOY_INVENTORY_MAX);
		return;
	}
	body = body_object(c);
	if (body == NULL)
		return;
	a.inventory = json_object_get(body, "inventory");
	if (!json_is_object(a.inventory) || !depth_ok(a.inventory, INVENTORY_DEPTH_MAX)) {
		json_decref(body);
		http_reply_error(c->req, 400, "invalid", "field \"inventory\" must be an object "
				 "nested at most %d levels deep", INVENTORY_DEPTH_MAX);
		return;
	}
	if (c->kind == 'd' && (rc = deployment_running(c, err, sizeof(err))) < 0) {
		json_decref(body);
		reply_errno(c, rc, err);
		return;
	}
	snprintf(a.target, sizeof(a.target), "machine:%" PRId64, c->machine_id);
	rc = gov_execute(c->st, &act, inventory_op, &a, err, sizeof(err));
	json_decref(body);
	if (rc < 0) {
		reply_errno(c, rc, err);
		return;
	}
	log_info("deploy: inventory recorded machine=%" PRId64 " from %s", c->machine_id,
		 http_peer(c->req));
	http_reply_json(c->req, 200, json_pack("{s:I}", "machine_id", (json_int_t)c->machine_id));
}

/* GET /agent/v1/instructions: reboot once a deployment is pending, else wait. */
static void
agent_instructions(struct agent_call *c)
{
	struct machine m = { 0 };
	int rc;

	rc = store_machine_get(c->st, c->machine_id, &m);
	if (rc < 0) {
		reply_errno(c, rc, store_error(c->st));
		return;
	}
	if (m.state == MACHINE_DEPLOYING) {
		log_info("deploy: telling machine=%" PRId64 " to reboot into its deployment", m.id);
		http_reply_json(c->req, 200, json_pack("{s:s}", "action", "reboot"));
	} else {
		http_reply_json(c->req, 200, json_pack("{s:s, s:I, s:s}", "action", "wait",
						       "poll_seconds",
						       (json_int_t)c->dp->poll_seconds,
						       "state", machine_state_name(m.state)));
	}
	machine_clear(&m);
}

/*
 * The image object of a deployment: where to fetch the profile's image, its SHA-256
 * and size as the signed manifest gives them, and its compression.
 */
static int
image_describe(struct agent_call *c, const struct profile *p, json_t **ret, char *err,
	       size_t errlen)
{
	char name[STORE_NAME_SIZE], version[STORE_VERSION_SIZE];
	const char *slash1 = strchr(p->image, '/'), *slash2;
	struct artifact a = { 0 };
	json_t *meta, *image;
	const char *compression;
	size_t len;
	int rc;

	slash2 = slash1 != NULL ? strchr(slash1 + 1, '/') : NULL;
	if (slash2 == NULL || (size_t)(slash1 - p->image) >= sizeof(name) ||
	    (size_t)(slash2 - slash1 - 1) >= sizeof(version))
		return err_set(-EINVAL, err, errlen, "profile %s names image \"%s\", which is not "
			       "NAME/VERSION/PATH of a loaded bundle", p->name, p->image);
	memcpy(name, p->image, (size_t)(slash1 - p->image));
	name[slash1 - p->image] = '\0';
	memcpy(version, slash1 + 1, (size_t)(slash2 - slash1 - 1));
	version[slash2 - slash1 - 1] = '\0';
	rc = store_artifact_find(c->st, name, version, slash2 + 1, &a);
	if (rc < 0)
		return err_set(rc, err, errlen, "profile %s names image %s, which no loaded "
			       "bundle has", p->name, p->image);

	meta = json_loads(a.metadata != NULL ? a.metadata : "{}", 0, NULL);
	compression = json_string_value(json_object_get(meta, "compression"));
	len = strlen(a.path);
	if (compression == NULL)
		compression = len > 4 && strcmp(a.path + len - 4, ".zst") == 0 ? "zstd" : "none";
	image = json_pack("{s:s++, s:s, s:I, s:s, s:I}",
			  "url", c->dp->base_url, FILES_PREFIX, p->image,
			  "sha256", a.sha256, "size", (json_int_t)a.size,
			  "compression", compression,
			  "raw_size", json_integer_value(json_object_get(meta, "raw_size")));
	json_decref(meta);
	artifact_clear(&a);
	if (image == NULL)
		return err_set(-ENOMEM, err, errlen, "out of memory");
	*ret = image;
	return 0;
}

/* GET /agent/v1/deployment */
static void
agent_deployment(struct agent_call *c)
{
	struct deployment d = { 0 };
	struct machine m = { 0 };
	struct profile p = { 0 };
	char token[DEPLOY_TOKEN_SIZE], err[512];
	json_t *image = NULL;
	int rc;

	rc = store_deployment_get(c->st, c->id, &d);
	if (rc == 0 && d.state != DEPLOYMENT_RUNNING)
		rc = err_set(-ESTALE, err, sizeof(err), "deployment %" PRId64 " has already %s",
			     d.id, deployment_state_name(d.state));
	/*
	 * A netboot goes to the disk once the image is written, but a server may boot a
	 * virtual-media CD again. Its ramdisk must not write the disk a second time.
	 */
	else if (rc == 0 && d.image_written)
		rc = err_set(-ESTALE, err, sizeof(err), "deployment %" PRId64 " has written its "
			     "image already; boot the server from its disk, or eject its "
			     "virtual-media CD", d.id);
	else if (rc < 0)
		snprintf(err, sizeof(err), "%s", store_error(c->st));
	if (rc == 0 && (rc = store_machine_get(c->st, d.machine_id, &m)) < 0)
		snprintf(err, sizeof(err), "%s", store_error(c->st));
	if (rc == 0 && (rc = store_profile_get(c->st, d.profile_id, &p)) < 0)
		snprintf(err, sizeof(err), "the profile of deployment %" PRId64 " is gone", d.id);
	if (rc == 0)
		rc = image_describe(c, &p, &image, err, sizeof(err));
	if (rc < 0) {
		reply_errno(c, rc, err);
		goto done;
	}

	deploy_token(c->dp, 'd', d.id, token);
	http_reply_json(c->req, 200,
			json_pack("{s:I, s:I, s:s, s:o, s:s+++}",
				  "machine_id", (json_int_t)m.id,
				  "deployment_id", (json_int_t)d.id,
				  "hostname", m.hostname,
				  "image", image,
				  "cloud_init_url", c->dp->base_url, CLOUD_INIT_PREFIX, token, "/"));
	explicit_bzero(token, sizeof(token));
done:
	deployment_clear(&d);
	machine_clear(&m);
	profile_clear(&p);
}

/* POST /agent/v1/phase and /agent/v1/failure */
static void
agent_report(struct agent_call *c, bool failure)
{
	char phase[DEPLOY_DETAIL_MAX + 1], detail[DEPLOY_DETAIL_MAX + 1], err[512];
	struct phase_report report = { .phase = phase, .seconds = -1, .detail = detail };
	const json_t *seconds;
	json_t *body;
	int rc;

	body = body_object(c);
	if (body == NULL)
		return;
	member_text(body, "phase", phase);
	member_text(body, failure ? "reason" : "detail", detail);
	seconds = json_object_get(body, "seconds");
	if (seconds != NULL && (!json_is_number(seconds) || json_number_value(seconds) < 0 ||
				json_number_value(seconds) >= 1e7)) {
		json_decref(body);
		http_reply_error(c->req, 400, "invalid", "field \"seconds\" must be a number "
				 "from 0 to 10000000");
		return;
	}
	if (seconds != NULL)
		report.seconds = json_number_value(seconds);
	if (!json_is_string(json_object_get(body, "phase")) ||
	    (json_object_get(body, failure ? "reason" : "detail") != NULL &&
	     !json_is_string(json_object_get(body, failure ? "reason" : "detail")))) {
		json_decref(body);
		http_reply_error(c->req, 400, "invalid", "fields \"phase\" and \"%s\" must be "
				 "strings", failure ? "reason" : "detail");
		return;
	}
	json_decref(body);

	/* A failure may name any phase; a report only one the agent reaches itself. */
	if (!deploy_phase_known(phase, !failure)) {
		http_reply_error(c->req, 400, "invalid", "phase \"%s\" is not a phase the agent "
				 "reports; docs/agent.md lists them", phase);
		return;
	}
	if (failure && detail[0] == '\0') {
		http_reply_error(c->req, 400, "invalid", "field \"reason\" must say why the "
				 "deployment failed");
		return;
	}
	rc = failure ? deploy_fail(c->dp, c->st, c->actor, c->id, phase, detail, err, sizeof(err)) :
		       deploy_phase_record(c->dp, c->st, c->actor, c->id, &report, err, sizeof(err));
	if (rc < 0) {
		reply_errno(c, rc, err);
		return;
	}
	http_reply_json(c->req, 200, json_pack("{s:s}", "phase", phase));
}

void
deploy_agent(struct deploy *dp, struct http_request *req, const char *rest)
{
	struct agent_call c = { .dp = dp, .req = req };
	const char *method = http_method(req);
	bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;

	c.st = store_pool_get(dp->pool);
	if (c.st == NULL) {
		http_reply_error(req, 503, "unavailable", "the store cannot be opened; see the "
				 "server log");
		return;
	}
	if ((strcmp(rest, "inventory") == 0 || strcmp(rest, "phase") == 0 ||
	     strcmp(rest, "failure") == 0) && !post) {
		http_add_header(req, "Allow", "POST");
		http_reply_error(req, 405, "method_not_allowed", "use POST");
		return;
	}
	if ((strcmp(rest, "instructions") == 0 || strcmp(rest, "deployment") == 0) && !get) {
		http_add_header(req, "Allow", "GET");
		http_reply_error(req, 405, "method_not_allowed", "use GET");
		return;
	}
	if (!get && !post) {
		http_reply_error(req, 404, "not_found", "no agent endpoint %s", http_path(req));
		return;
	}
	if (call_authenticate(&c) < 0)
		return;

	if (strcmp(rest, "inventory") == 0)
		agent_inventory(&c);
	else if (strcmp(rest, "instructions") == 0)
		agent_instructions(&c);
	else if (c.kind != 'd' && (strcmp(rest, "deployment") == 0 || strcmp(rest, "phase") == 0 ||
				   strcmp(rest, "failure") == 0))
		http_reply_error(req, 403, "forbidden", "a machine token cannot report on a "
				 "deployment; use the deployment's token");
	else if (strcmp(rest, "deployment") == 0)
		agent_deployment(&c);
	else if (strcmp(rest, "phase") == 0)
		agent_report(&c, false);
	else if (strcmp(rest, "failure") == 0)
		agent_report(&c, true);
	else
		http_reply_error(req, 404, "not_found", "no agent endpoint %s", http_path(req));
}
