/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The REST API's entry point: the route table, path matching, and authentication by
 * bearer token on HTTPS or by peer uid on the unix socket. It also maps store errors
 * to HTTP statuses and serves the two routes that belong to no resource, status and
 * the OpenAPI document. Resource handlers are in machines.c, profiles.c, artifacts.c
 * and audit.c.
 */
#include "api/api-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "log/log.h"

/* Maximum length of a routed path; longer paths match no route. */
#define API_PATH_MAX 1024
/* Maximum number of segments in a routed path ("/api/v1/machines/{ref}/profile" has 5). */
#define API_SEGMENTS_MAX 8

static void status_get(struct api_call *call);
static void openapi_get(struct api_call *call);

static const struct api_route routes[] = {
	{ "GET", API_PREFIX "/status", status_get, false, false },
	{ "GET", API_PREFIX "/openapi.json", openapi_get, false, true },
	{ "GET", API_PREFIX "/machines", api_machines_list, false, false },
	{ "POST", API_PREFIX "/machines", api_machines_create, true, false },
	{ "GET", API_PREFIX "/machines/{ref}", api_machines_get, false, false },
	{ "PATCH", API_PREFIX "/machines/{ref}", api_machines_patch, true, false },
	{ "DELETE", API_PREFIX "/machines/{ref}", api_machines_delete, true, false },
	{ "PUT", API_PREFIX "/machines/{ref}/profile", api_machines_assign_profile, true, false },
	{ "POST", API_PREFIX "/machines/{ref}/deploy", api_machines_deploy, true, false },
	{ "GET", API_PREFIX "/machines/{ref}/deployments", api_machines_deployments, false, false },
	{ "POST", API_PREFIX "/machines/{ref}/address", api_machines_address_set, true, false },
	{ "DELETE", API_PREFIX "/machines/{ref}/address", api_machines_address_release, true, false },
	{ "POST", API_PREFIX "/machines/{ref}/decommission", api_machines_decommission, true, false },
	{ "POST", API_PREFIX "/machines/{ref}/power", api_machines_power, true, false },
	{ "GET", API_PREFIX "/bmcs", api_bmcs_list, false, false },
	{ "POST", API_PREFIX "/bmcs", api_bmcs_create, true, false },
	{ "GET", API_PREFIX "/bmcs/{id}", api_bmcs_get, false, false },
	{ "PATCH", API_PREFIX "/bmcs/{id}", api_bmcs_patch, true, false },
	{ "DELETE", API_PREFIX "/bmcs/{id}", api_bmcs_delete, true, false },
	{ "POST", API_PREFIX "/bmcs/{id}/operations", api_bmcs_operate, true, false },
	{ "GET", API_PREFIX "/bmc-operations", api_bmc_operations_list, false, false },
	{ "POST", API_PREFIX "/bmc-operations", api_bmc_operations_batch, true, false },
	{ "GET", API_PREFIX "/bmc-operations/{id}", api_bmc_operations_get, false, false },
	{ "GET", API_PREFIX "/profiles", api_profiles_list, false, false },
	{ "POST", API_PREFIX "/profiles", api_profiles_create, true, false },
	{ "GET", API_PREFIX "/profiles/{name}", api_profiles_get, false, false },
	{ "PATCH", API_PREFIX "/profiles/{name}", api_profiles_patch, true, false },
	{ "DELETE", API_PREFIX "/profiles/{name}", api_profiles_delete, true, false },
	{ "GET", API_PREFIX "/bundles", api_bundles_list, false, false },
	{ "POST", API_PREFIX "/bundles", api_bundles_load, true, false },
	{ "POST", API_PREFIX "/bundles/check", api_bundles_check, true, false },
	{ "GET", API_PREFIX "/bundles/{name}/{version}", api_bundles_get, false, false },
	{ "DELETE", API_PREFIX "/bundles/{name}/{version}", api_bundles_delete, true, false },
	{ "GET", API_PREFIX "/artifacts", api_artifacts_list, false, false },
	{ "GET", API_PREFIX "/artifacts/{id}", api_artifacts_get, false, false },
	{ "GET", API_PREFIX "/jobs/{id}", api_jobs_get, false, false },
	{ "GET", API_PREFIX "/ddi/status", api_ddi_status, false, false },
	{ "GET", API_PREFIX "/ddi/conflicts", api_ddi_conflicts, false, false },
	{ "GET", API_PREFIX "/audit", api_audit_list, false, false },
	{ "GET", API_PREFIX "/audit/verify", api_audit_verify, false, false },
};

/* A request path cut into NUL-terminated segments. */
struct api_path {
	char buf[API_PATH_MAX];
	const char *segments[API_SEGMENTS_MAX];
	size_t count;
};

const struct api_route *
api_routes(size_t *ret_count)
{
	*ret_count = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

void
api_set_ddi(struct api *api, struct ddi *ddi)
{
	api->ddi = ddi;
}

void
api_set_bmcman(struct api *api, struct bmcman *bmcman)
{
	api->bmcman = bmcman;
}

int
api_new(const struct conf *conf, struct store_pool *pool, struct api **ret)
{
	char err[BUNDLE_ERR_SIZE];
	struct api *api;
	int rc;

	api = calloc(1, sizeof(*api));
	if (api == NULL)
		return -ENOMEM;

	api->pool = pool;
	api->max_body_bytes = conf != NULL ? (size_t)conf->http_max_body_bytes : 0;
	api->started_at = time_now();
	api->euid = geteuid();
	api->artifact_dir = strdup(conf != NULL && conf->artifact_dir != NULL ?
				   conf->artifact_dir : "");
	if (api->artifact_dir == NULL) {
		free(api);
		return -ENOMEM;
	}

	rc = bundle_keyring_new(conf != NULL && conf->bundle_allow_test_keys, &api->keyring);
	if (rc == 0)
		rc = api_jobs_new(api, &api->job);
	if (rc == 0 && conf != NULL && conf->bundle_trusted_keys != NULL) {
		rc = bundle_keyring_add_dir(api->keyring, conf->bundle_trusted_keys, err,
					    sizeof(err));
		if (rc < 0)
			log_err("api: cannot read the trusted bundle keys: %s", err);
		else
			log_info("api: trusting %zu bundle keys from %s",
				 bundle_keyring_count(api->keyring), conf->bundle_trusted_keys);
	}
	if (rc < 0) {
		api_free(api);
		return rc;
	}
	*ret = api;
	return 0;
}

struct api *
api_free(struct api *api)
{
	if (api == NULL)
		return NULL;
	api_jobs_free(api->job);
	bundle_keyring_free(api->keyring);
	free(api->artifact_dir);
	free(api);
	return NULL;
}

const char *
api_openapi_json(void)
{
	return api_openapi_document;
}

/* Errors. */

int
api_fail(struct api_error *e, unsigned status, const char *code, const char *fmt, ...)
{
	va_list args;

	e->status = status;
	e->code = code;
	va_start(args, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, args);
	va_end(args);
	return -EINVAL;
}

void
api_reply_error(struct api_call *call, const struct api_error *e)
{
	if (e->status == 401)
		http_add_header(call->req, "WWW-Authenticate", "Bearer");
	http_reply_error(call->req, e->status, e->code, "%s", e->detail);
}

void
api_reply_errno(struct api_call *call, int rc, const char *detail, const char *what)
{
	if (detail == NULL || detail[0] == '\0')
		detail = call->st != NULL ? store_error(call->st) : "";

	switch (rc) {
	case -EINVAL:
		http_reply_error(call->req, 400, "invalid_field", "%s", detail);
		return;
	case -ENOENT:
		http_reply_error(call->req, 404, "not_found", "%s", detail);
		return;
	case -EEXIST:
		http_reply_error(call->req, 409, "conflict", "%s", detail);
		return;
	case -EPERM:
		http_reply_error(call->req, 403, "forbidden", "%s", detail);
		return;
	case -EBUSY:
		log_warning("api: store busy, %s actor=%s", what, call->actor);
		http_reply_error(call->req, 503, "unavailable",
				 "the store stayed locked for %d ms; retry the request",
				 STORE_BUSY_TIMEOUT_MS);
		return;
	case -ENOSPC:
		log_err("api: disk full, %s actor=%s", what, call->actor);
		http_reply_error(call->req, 507, "insufficient_storage",
				 "the disk holding the store is full; free space and retry");
		return;
	default:
		log_err("api: %s failed actor=%s: %s: %s", what, call->actor, strerror(-rc),
			detail);
		http_reply_error(call->req, 500, "internal",
				 "the request failed inside the daemon; its log has the cause");
		return;
	}
}

int
api_store_failed(struct store *st, int rc, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", store_error(st));
	return rc;
}

void
api_reply_json(struct api_call *call, unsigned status, json_t *json)
{
	if (json == NULL) {
		api_reply_errno(call, -ENOMEM, NULL, "building the reply");
		return;
	}
	http_reply_json(call->req, status, json);
}

int
api_execute(struct api_call *call, const char *name, const char *target, enum risk risk,
	    const char *detail, action_fn fn, void *arg, char *err, size_t errlen)
{
	struct action action = {
		.actor = call->actor,
		.name = name,
		.target = target,
		.risk = risk,
		.detail = detail,
	};
	int rc;

	err[0] = '\0';
	rc = gov_execute(call->st, &action, fn, arg, err, errlen);
	if (rc == 0)
		log_info("api: %s actor=%s target=%s", name, call->actor, target);
	else
		log_info("api: %s failed actor=%s target=%s: %s", name, call->actor, target,
			 err[0] != '\0' ? err : strerror(-rc));
	return rc;
}

/* Query parameters. */

struct query_check {
	const char *const *allowed;
	struct api_error *e;
};

static int
query_key_check(const char *key, const char *value, void *arg)
{
	struct query_check *check = arg;
	char quoted[API_QUOTE_MAX + 4];

	(void)value;
	for (size_t i = 0; check->allowed[i] != NULL; i++) {
		if (strcmp(key, check->allowed[i]) == 0)
			return 0;
	}
	api_quote(key, quoted, sizeof(quoted));
	return api_fail(check->e, 400, "unknown_field",
			"query parameter \"%s\" is not known here; remove it", quoted);
}

int
api_query_keys(struct api_call *call, const char *const *allowed, struct api_error *e)
{
	struct query_check check = { .allowed = allowed, .e = e };

	return http_query_each(call->req, query_key_check, &check);
}

int
api_query_page(struct api_call *call, size_t *ret_limit, int64_t *ret_after,
	       struct api_error *e)
{
	const char *text;
	uint64_t limit = API_PAGE_DEFAULT, after = 0;
	char quoted[API_QUOTE_MAX + 4];

	text = http_query(call->req, "limit");
	if (text != NULL && uint_parse(text, 1, API_PAGE_MAX, &limit) < 0) {
		api_quote(text, quoted, sizeof(quoted));
		return api_fail(e, 400, "invalid_field",
				"query parameter limit=\"%s\" must be an integer from 1 to %d",
				quoted, API_PAGE_MAX);
	}

	text = http_query(call->req, "after");
	if (text != NULL && uint_parse(text, 0, INT64_MAX, &after) < 0) {
		api_quote(text, quoted, sizeof(quoted));
		return api_fail(e, 400, "invalid_field",
				"query parameter after=\"%s\" must be a non-negative integer, "
				"the \"next\" value of the previous page", quoted);
	}

	*ret_limit = (size_t)limit;
	*ret_after = (int64_t)after;
	return 0;
}

/* Routing. */

/* Cut `path` into segments. Empty segments ("//", a trailing "/") match no route. */
static int
path_split(const char *path, struct api_path *p)
{
	size_t len = strlen(path);
	char *cursor;

	if (path[0] != '/' || len >= sizeof(p->buf))
		return -EINVAL;
	memcpy(p->buf, path, len + 1);

	p->count = 0;
	cursor = p->buf + 1;
	for (;;) {
		char *slash = strchr(cursor, '/');

		if (*cursor == '\0' || slash == cursor || p->count == API_SEGMENTS_MAX)
			return -EINVAL;
		p->segments[p->count++] = cursor;
		if (slash == NULL)
			return 0;
		*slash = '\0';
		cursor = slash + 1;
	}
}

/* Match a split path against a route pattern, collecting its {placeholders}. */
static bool
route_match(const char *pattern, const struct api_path *p, const char *params[API_MAX_PARAMS])
{
	const char *cursor = pattern + 1;
	size_t segment = 0, nparams = 0;

	while (*cursor != '\0') {
		const char *end = strchrnul(cursor, '/');
		size_t len = (size_t)(end - cursor);

		if (segment == p->count)
			return false;
		if (cursor[0] == '{') {
			if (nparams == API_MAX_PARAMS)
				return false;
			params[nparams++] = p->segments[segment];
		} else if (strlen(p->segments[segment]) != len ||
			   memcmp(p->segments[segment], cursor, len) != 0) {
			return false;
		}
		segment++;
		cursor = *end == '/' ? end + 1 : end;
	}
	return segment == p->count;
}

/*
 * Find the route for the request. Returns it, or NULL with `allow` listing the
 * methods of the path (empty when no route has that path).
 */
static const struct api_route *
route_find(struct api_call *call, struct api_path *p, char *allow, size_t allow_size)
{
	const char *method = http_method(call->req);
	size_t used = 0;

	allow[0] = '\0';
	if (path_split(http_path(call->req), p) < 0)
		return NULL;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *params[API_MAX_PARAMS] = { NULL, NULL };
		int n;

		if (!route_match(routes[i].pattern, p, params))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			memcpy(call->params, params, sizeof(call->params));
			return &routes[i];
		}
		n = snprintf(allow + used, allow_size - used, "%s%s", used > 0 ? ", " : "",
			     routes[i].method);
		if (n > 0 && (size_t)n < allow_size - used)
			used += (size_t)n;
	}
	return NULL;
}

/* Authentication. */

/* The unix socket: the peer must be root or the daemon's own user. */
static int
authenticate_peer(struct api_call *call, struct api_error *e)
{
	int64_t uid = http_peer_uid(call->req);

	if (uid < 0)
		return api_fail(e, 401, "unauthorized",
				"the peer of the local socket could not be identified");
	if (uid != 0 && uid != (int64_t)call->api->euid) {
		log_info("api: local peer rejected uid=%lld", (long long)uid);
		return api_fail(e, 403, "forbidden",
				"uid %lld may not use the local socket; run the command as root "
				"or as uid %lld", (long long)uid, (long long)call->api->euid);
	}

	snprintf(call->actor, sizeof(call->actor), "local:uid=%lld", (long long)uid);
	snprintf(call->role, sizeof(call->role), "admin");
	return 0;
}

/*
 * HTTPS: "Authorization: Bearer <token>", looked up by its SHA-256. Returns 0, -EACCES
 * with `e` filled, or a store error.
 */
static int
authenticate_token(struct api_call *call, struct api_error *e)
{
	static const char scheme[] = "Bearer ";
	const char *header = http_header(call->req, "Authorization");
	const char *secret;
	char hash[SHA256_HEX_SIZE];
	char name[API_QUOTE_MAX + 4];
	struct token token;
	size_t len, end;
	int rc;

	/* Two credentials are ambiguous: a proxy and the daemon might each use another one. */
	if (http_header_count(call->req, "Authorization") > 1) {
		api_fail(e, 400, "bad_request", "the request has more than one Authorization "
			 "header; send one");
		return -EACCES;
	}
	if (header == NULL) {
		api_fail(e, 401, "unauthorized",
			 "this request needs an \"Authorization: Bearer <token>\" header");
		return -EACCES;
	}

	/* RFC 7235: the scheme name is case-insensitive. */
	if (strncasecmp(header, scheme, sizeof(scheme) - 1) != 0) {
		api_fail(e, 401, "unauthorized",
			 "the Authorization header must use the Bearer scheme");
		return -EACCES;
	}
	secret = header + sizeof(scheme) - 1;
	while (*secret == ' ')
		secret++;

	/* The token is one word; trailing spaces and tabs are optional whitespace (RFC 9110). */
	len = strcspn(secret, " \t");
	end = len + strspn(secret + len, " \t");
	if (len == 0 || len > API_TOKEN_MAX || secret[end] != '\0')
		goto err_invalid;

	sha256_hex(secret, len, hash);
	rc = store_token_find(call->st, hash, &token);
	if (rc == -ENOENT)
		goto err_invalid;
	if (rc < 0)
		return rc;

	api_quote(token.name, name, sizeof(name));
	snprintf(call->actor, sizeof(call->actor), "token:%s", name);
	snprintf(call->role, sizeof(call->role), "%s", token.role);
	return 0;

err_invalid:
	log_info("api: invalid bearer token peer=%s", http_peer(call->req));
	api_fail(e, 401, "unauthorized",
		 "the bearer token is not valid; check it or ask an admin for a new one");
	return -EACCES;
}

static bool
role_can_change(const char *role)
{
	return strcmp(role, "admin") == 0 || strcmp(role, "operator") == 0;
}

/*
 * Route the request and, for a route that is not public, authenticate the caller and
 * check its role, replying on failure. Returns 0 and sets *ret_route when the route's
 * function may run, or -EACCES after a reply. call->params point into `path`, so it
 * must outlive the call. Needs nothing of the body, so it can run from api_precheck
 * before the body is read.
 */
static int
dispatch_check(struct api_call *call, struct api_path *path, const struct api_route **ret_route)
{
	struct http_request *req = call->req;
	const struct api_route *route;
	struct api_error e;
	char allow[64];
	int rc;

	/* Route first, so an unknown path is a 404 and a known one with the wrong method a 405. */
	route = route_find(call, path, allow, sizeof(allow));
	if (route == NULL && allow[0] != '\0') {
		http_add_header(req, "Allow", allow);
		http_reply_error(req, 405, "method_not_allowed",
				 "%s is not allowed on this path; use %s", http_method(req), allow);
		return -EACCES;
	}
	if (route == NULL) {
		http_reply_error(req, 404, "not_found",
				 "no API route has this path; GET %s/openapi.json lists them",
				 API_PREFIX);
		return -EACCES;
	}

	*ret_route = route;
	if (route->public)
		return 0;

	call->st = store_pool_get(call->api->pool);
	if (call->st == NULL) {
		http_reply_error(req, 503, "unavailable",
				 "the store cannot be opened; the daemon log has the cause");
		return -EACCES;
	}

	/* Identify the caller, then check that its role may run this route. */
	if (http_listener(req) == HTTP_LISTENER_UNIX)
		rc = authenticate_peer(call, &e);
	else
		rc = authenticate_token(call, &e);
	if (rc == -EINVAL || rc == -EACCES) {
		api_reply_error(call, &e);
		return -EACCES;
	}
	if (rc < 0) {
		api_reply_errno(call, rc, NULL, "token lookup");
		return -EACCES;
	}
	if (route->changes && !role_can_change(call->role)) {
		log_info("api: change rejected actor=%s role=%s route=\"%s %s\"", call->actor,
			 call->role, route->method, route->pattern);
		http_reply_error(req, 403, "forbidden",
				 "role %s may only read; this request needs an admin or operator "
				 "token", call->role);
		return -EACCES;
	}
	return 0;
}

/* The precheck's findings for a request, kept for its handler. */
struct api_dispatch {
	struct api_path path;               /* call.params point into it */
	const struct api_route *route;
	const char *params[API_MAX_PARAMS];
	char actor[API_ACTOR_SIZE];
	char role[16];
};

int
api_precheck(struct http_request *req, void *ctx)
{
	struct api_call call = { .api = ctx, .req = req };
	struct api_dispatch *d = malloc(sizeof(*d));

	/* Without memory the handler repeats the checks, as on a listener with no precheck. */
	if (d == NULL)
		return 0;
	if (dispatch_check(&call, &d->path, &d->route) < 0) {
		free(d);
		return 1;
	}
	memcpy(d->params, call.params, sizeof(d->params));
	memcpy(d->actor, call.actor, sizeof(d->actor));
	memcpy(d->role, call.role, sizeof(d->role));
	http_request_set_data(req, d, free);
	/* A bundle upload streams into its load job instead of being buffered. */
	if (d->route->fn == api_bundles_load)
		return api_bundles_upload_begin(&call);
	return 0;
}

void
api_handle(struct http_request *req, void *ctx)
{
	struct api_call call = { .api = ctx, .req = req };
	const struct api_dispatch *d = http_request_data(req);
	const struct api_route *route;
	struct api_path path;

	/*
	 * The precheck routed and authenticated the request before its body. A listener
	 * without it, or a precheck that ran out of memory, gets the checks here.
	 */
	if (d != NULL) {
		route = d->route;
		memcpy(call.params, d->params, sizeof(call.params));
		memcpy(call.actor, d->actor, sizeof(call.actor));
		memcpy(call.role, d->role, sizeof(call.role));
		call.st = route->public ? NULL : store_pool_get(call.api->pool);
		if (!route->public && call.st == NULL) {
			api_bundles_upload_drop(req);
			http_reply_error(req, 503, "unavailable",
					 "the store cannot be opened; the daemon log has the cause");
			return;
		}
	} else if (dispatch_check(&call, &path, &route) < 0) {
		api_bundles_upload_drop(req);
		return;
	}
	route->fn(&call);
}

/* Routes that belong to no resource. */

static void
status_get(struct api_call *call)
{
	json_t *reply, *machines;
	int64_t audit_seq;
	char audit_hash[SHA256_HEX_SIZE];
	int rc;

	machines = json_object();
	if (machines == NULL) {
		api_reply_json(call, 200, NULL);
		return;
	}

	/* One count per state, so the reply lists every state even when it has none. */
	for (int state = 0; state < MACHINE_STATE_MAX; state++) {
		struct machine_filter filter = {
			.state = (enum machine_state)state,
			.limit = 0,
		};
		int64_t count;

		rc = store_machine_count(call->st, &filter, &count);
		if (rc < 0)
			goto err_store;
		json_object_set_new(machines, machine_state_name(filter.state),
				    json_integer(count));
	}

	rc = store_audit_tail(call->st, &audit_seq, audit_hash);
	if (rc < 0)
		goto err_store;

	reply = json_pack("{s:s, s:I, s:i, s:o, s:I}",
			  "version", OUTPOST_VERSION,
			  "uptime_seconds", (json_int_t)(time_now() - call->api->started_at),
			  "schema_version", store_schema_version(call->st),
			  "machines", machines,
			  "audit_entries", (json_int_t)audit_seq);
	api_reply_json(call, 200, reply);
	return;

err_store:
	json_decref(machines);
	api_reply_errno(call, rc, NULL, "status");
}

static void
openapi_get(struct api_call *call)
{
	http_reply(call->req, 200, "application/json", api_openapi_document,
		   strlen(api_openapi_document));
}
