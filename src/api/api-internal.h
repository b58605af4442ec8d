/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared between the api module's files: the per-request call context, the route
 * table, error replies and the strict JSON body helpers. Not part of the module's
 * interface; unit tests and the fuzz target include it to reach the route table and
 * the body validators.
 */
#ifndef OUTPOST_API_INTERNAL_H
#define OUTPOST_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "api/api.h"
#include "governance/governance.h"
#include "http/http.h"
#include "store/store.h"
#include "util/util.h"

#ifndef OUTPOST_VERSION
#error "OUTPOST_VERSION must be defined by the build (see the Makefile)"
#endif

#define API_PREFIX "/api/v1"
/* Detail sentences stay short enough to read in a terminal. */
#define API_DETAIL_SIZE 512
/* User values quoted in details and logs are cut to this many bytes. */
#define API_QUOTE_MAX 64
#define API_PAGE_DEFAULT 100
#define API_PAGE_MAX 1000
/* Largest inventory or templates object, serialised compactly, in bytes. */
#define API_JSON_OBJECT_MAX (64 * 1024)
/* Largest bearer token accepted before hashing; bootstrap tokens are 64 hex digits. */
#define API_TOKEN_MAX 256
#define API_ACTOR_SIZE 96
#define API_TARGET_SIZE 96
#define API_MAX_PARAMS 2

struct api_job;
struct bundle_keyring;

struct api {
	struct store_pool *pool;    /* borrowed */
	char *artifact_dir;         /* owned copy of the configuration's */
	struct bundle_keyring *keyring;  /* owned; the trusted bundle keys */
	struct api_job *job;        /* owned; the bundle job slot */
	size_t max_body_bytes;      /* 0: the listener's ceiling alone applies */
	int64_t started_at;         /* Unix seconds */
	uid_t euid;                 /* the daemon's own uid, allowed on the unix socket */
	struct ddi *ddi;            /* borrowed; NULL when [ddi] enabled is false */
	struct bmcman *bmcman;      /* borrowed; NULL in tests without one */
	struct media *media;        /* borrowed; NULL: virtual-media deploys fail with 503 */
};

/* An error reply being built: status, short code and a sentence naming the value. */
struct api_error {
	unsigned status;
	const char *code;           /* static string: "invalid_field", ... */
	char detail[API_DETAIL_SIZE];
};

/* The request context passed to a route handler. */
struct api_call {
	struct api *api;
	struct http_request *req;
	struct store *st;                   /* the worker thread's connection */
	const char *params[API_MAX_PARAMS]; /* {placeholders} of the matched route, in order */
	char actor[API_ACTOR_SIZE];         /* "token:<name>" or "local:uid=<n>" */
	char role[16];                      /* admin, operator, viewer */
};

typedef void (*api_route_fn)(struct api_call *call);

/* A row of the route table that api_handle dispatches on and the OpenAPI test checks. */
struct api_route {
	const char *method;
	const char *pattern;  /* path with {name} placeholders matching one segment */
	api_route_fn fn;
	bool changes;         /* changes state: needs the admin or operator role */
	bool public;          /* served without authentication */
};

/* The route table and its length. */
const struct api_route *api_routes(size_t *ret_count);

/* The OpenAPI document, assembled from openapi.json by openapi.S. */
extern const char api_openapi_document[];

/* Error replies (api.c). */

/* Fill `e` and return -EINVAL, so validators can `return api_fail(...)`. */
int api_fail(struct api_error *e, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Send e as {"error": code, "detail": detail}. */
void api_reply_error(struct api_call *call, const struct api_error *e);
/*
 * Send the reply for a failed store or governance call: -EINVAL 400, -ENOENT 404, -EEXIST 409,
 * -EPERM 403, -EBUSY 503, -ENOSPC 507, anything else 500 (logged at err with `what`,
 * the ids of the request). `detail` is the failing step's message, used for the
 * 4xx replies; NULL falls back to store_error() of the call's connection.
 */
void api_reply_errno(struct api_call *call, int rc, const char *detail, const char *what);
/*
 * Copy store_error() into `err` and return `rc`: the tail of an action_fn that failed
 * on a store call.
 */
int api_store_failed(struct store *st, int rc, char *err, size_t errlen);
/* Send `json` (owned) with `status`; a NULL json (allocation failed) becomes a 500. */
void api_reply_json(struct api_call *call, unsigned status, json_t *json);
/*
 * Run `fn` through the governance gate as action `name` on `target` by the call's
 * actor, and log the change at info when it succeeded. `detail` is JSON text for the
 * audit entry or NULL. Returns gov_execute's result; `err` explains a failure.
 */
int api_execute(struct api_call *call, const char *name, const char *target, enum risk risk,
		const char *detail, action_fn fn, void *arg, char *err, size_t errlen);

/* Strict JSON decoding (json.c). */

/* Result of a field getter: absent, a value, or null. Errors are negative. */
enum api_field {
	API_FIELD_ABSENT = 0,
	API_FIELD_VALUE = 1,
	API_FIELD_NULL = 2,
};

/*
 * Copy `s` into `out` for quoting in a detail or a log line: bytes outside printable
 * ASCII become '?', and text past API_QUOTE_MAX bytes is cut and ends in "...".
 */
void api_quote(const char *s, char *out, size_t out_size);
/*
 * Decode a request body that must be one JSON object. An empty body gives an empty
 * object when `empty_ok` and a 400 invalid_json otherwise. Duplicate keys are
 * rejected. Returns 0 and sets *ret (caller frees), or -EINVAL with `e` filled.
 */
int api_json_object(const char *body, size_t len, bool empty_ok, json_t **ret,
		    struct api_error *e);
/*
 * Return the request body after checking its size (413) and, when it is not empty,
 * its Content-Type (415). The body stays owned by the request.
 */
int api_request_body(struct api_call *call, const char **ret_body, size_t *ret_len,
		     struct api_error *e);
/* Run api_request_body, then decode the body as api_json_object does. */
int api_request_object(struct api_call *call, bool empty_ok, json_t **ret, struct api_error *e);
/*
 * Check every key of `obj`: keys in `readonly` give 400 invalid_field (the field
 * exists but cannot be written here), keys in neither list 400 unknown_field.
 * Both lists end with NULL.
 */
int api_json_keys(json_t *obj, const char *const *allowed, const char *const *readonly,
		  struct api_error *e);
/*
 * Read string field `key`: absent, null, or a string of at most `max_len` bytes with
 * no control characters, copied to `out` (out_size > max_len). Returns an
 * enum api_field or -EINVAL with a 400 invalid_field in `e`.
 */
int api_json_string(const json_t *obj, const char *key, size_t max_len, char *out,
		    size_t out_size, struct api_error *e);
/*
 * Read object field `key`: absent, null, or an object whose compact serialisation
 * fits `max_bytes`, returned in *ret (caller frees). Returns an enum api_field or
 * -EINVAL / -ENOMEM with `e` filled.
 */
int api_json_object_text(const json_t *obj, const char *key, size_t max_bytes, char **ret,
			 struct api_error *e);
/*
 * Decode JSON object text from the store. Returns the object, or JSON null when the
 * text is absent, invalid or not an object (logged), as the OpenAPI schemas promise.
 */
json_t *api_json_from_text(const char *text, const char *what);
/* A JSON string of the RFC 3339 form of `seconds`. */
json_t *api_json_time(int64_t seconds);
/* A JSON string of `s`, or null when `s` is empty. */
json_t *api_json_string_or_null(const char *s);

/* Query parameters. */

/*
 * Reject any query parameter not named in `allowed` (NULL-terminated) with 400
 * unknown_field. Returns 0 or -EINVAL.
 */
int api_query_keys(struct api_call *call, const char *const *allowed, struct api_error *e);
/*
 * Read the limit and after parameters for paged lists: limit 1..API_PAGE_MAX (default
 * API_PAGE_DEFAULT), after 0..INT64_MAX (default 0). Returns 0 or -EINVAL.
 */
int api_query_page(struct api_call *call, size_t *ret_limit, int64_t *ret_after,
		   struct api_error *e);

/* Machines (machines.c). */

/* Fields a machine body may set; each bit marks a field present in the body. */
enum api_machine_field {
	API_MF_MACS = 1u << 0,
	API_MF_UUID = 1u << 1,
	API_MF_SERIAL = 1u << 2,
	API_MF_VENDOR = 1u << 3,
	API_MF_MODEL = 1u << 4,
	API_MF_ARCH = 1u << 5,
	API_MF_PLATFORM = 1u << 6,
	API_MF_HOSTNAME = 1u << 7,
	API_MF_IP = 1u << 8,
	API_MF_INVENTORY = 1u << 9,
	API_MF_PROFILE = 1u << 10,
};

/* A validated machine create or PATCH body; null values are stored as empty. */
struct api_machine_patch {
	unsigned fields;                              /* enum api_machine_field bits */
	char macs[MACHINE_MAX_MACS][MAC_TEXT_SIZE];   /* canonical */
	size_t mac_count;
	char uuid[UUID_TEXT_SIZE];
	char serial[STORE_FIELD_SIZE];
	char vendor[STORE_FIELD_SIZE];
	char model[STORE_FIELD_SIZE];
	char arch[16];
	char platform[16];
	char hostname[HOSTNAME_SIZE];                 /* lower case, no trailing dot */
	char ip[IP_TEXT_SIZE];                        /* canonical inet_ntop form */
	char *inventory;                              /* owned compact JSON, NULL clears */
	char profile[STORE_NAME_SIZE];                /* create only; empty: none */
};

/* Free the owned members. Accepts a zeroed struct. */
void api_machine_patch_clear(struct api_machine_patch *p);
/*
 * Validate a machine body: `create` for POST /machines (macs required, profile
 * allowed), else PATCH. On success fills *ret (clear it with api_machine_patch_clear);
 * on failure returns a negative errno with `e` filled and leaves *ret zeroed.
 */
int api_machine_body_parse(const char *body, size_t len, bool create,
			   struct api_machine_patch *ret, struct api_error *e);
/* Check a profile name: [a-z0-9][a-z0-9._-]{0,63}. */
bool api_profile_name_valid(const char *name);

/* Route handlers for /machines; each replies exactly once. */
void api_machines_list(struct api_call *call);
void api_machines_create(struct api_call *call);
void api_machines_get(struct api_call *call);
void api_machines_patch(struct api_call *call);
void api_machines_delete(struct api_call *call);
void api_machines_assign_profile(struct api_call *call);
void api_machines_deploy(struct api_call *call);
/*
 * Load the machine `ref` names: a numeric id, or a MAC in any form mac_parse accepts.
 * Returns 0, -EINVAL with `e` filled (400 or 404), or a store error.
 */
int api_machine_resolve(struct api_call *call, const char *ref, struct machine *ret,
			struct api_error *e);
/* Resolve the route's {ref}, replying on failure. Returns 0 when `m` is loaded. */
int api_machine_from_path(struct api_call *call, struct machine *m);
/* Load machine `id` inside an action, explaining -ENOENT in err. */
int api_machine_load(struct store *st, int64_t id, struct machine *m, char *err, size_t errlen);
/* Reply with the machine's JSON and `status`. */
void api_reply_machine(struct api_call *call, unsigned status, const struct machine *m);

/* BMCs and their operations (bmcs.c, bmc_operations.c). */
struct bmc_operation;
json_t *api_bmc_op_json(const struct bmc_operation *op);
/* The BMC manager, or NULL after replying 503 when the daemon runs without one. */
struct bmcman *api_bmcman(struct api_call *call);
void api_bmcs_create(struct api_call *call);
void api_bmcs_list(struct api_call *call);
void api_bmcs_get(struct api_call *call);
void api_bmcs_patch(struct api_call *call);
void api_bmcs_delete(struct api_call *call);
void api_bmcs_operate(struct api_call *call);
void api_machines_power(struct api_call *call);
void api_bmc_operations_get(struct api_call *call);
void api_bmc_operations_list(struct api_call *call);
void api_bmc_operations_batch(struct api_call *call);

/* Deployments (deployments.c). */
json_t *api_deployment_json(const struct deployment *d);
void api_machines_deployments(struct api_call *call);

/* Addresses, decommissioning and DHCP/DNS status (ddi.c). */
void api_machines_address_set(struct api_call *call);
void api_machines_address_release(struct api_call *call);
void api_machines_decommission(struct api_call *call);
void api_ddi_status(struct api_call *call);
/*
 * Inside a machine action: when DHCP and DNS are on, check m's host name fits a DNS
 * name with the domain, and its reserved address, if any, against the subnets
 * (ddi_address_check). Returns 0 or -EINVAL with err set.
 */
int api_ddi_address_valid(const struct api *api, const struct machine *m, char *err,
			  size_t errlen);
/*
 * Inside a machine action: when DHCP and DNS are on and m has no reserved address,
 * allocate one into m->ip (the caller writes the row). Returns 0, or -EEXIST when the
 * subnet is full, with err set.
 */
int api_ddi_address_reserve(const struct api *api, struct store *st, struct machine *m,
			    char *err, size_t errlen);
void api_ddi_conflicts(struct api_call *call);

/* Profiles (profiles.c). */

enum api_profile_field {
	API_PF_NAME = 1u << 0,
	API_PF_IMAGE = 1u << 1,
	API_PF_KERNEL = 1u << 2,
	API_PF_INITRD = 1u << 3,
	API_PF_CMDLINE = 1u << 4,
	API_PF_TEMPLATES = 1u << 5,
};

/* A validated profile create or PATCH body. */
struct api_profile_patch {
	unsigned fields;                    /* enum api_profile_field bits */
	char name[STORE_NAME_SIZE];
	char image[STORE_PATH_SIZE];
	char kernel[STORE_PATH_SIZE];
	char initrd[STORE_PATH_SIZE];
	char cmdline[STORE_CMDLINE_SIZE];
	char *templates;                    /* owned compact JSON, NULL clears */
};

void api_profile_patch_clear(struct api_profile_patch *p);
/* Validate a profile body, as api_machine_body_parse does for machines. */
int api_profile_body_parse(const char *body, size_t len, bool create,
			   struct api_profile_patch *ret, struct api_error *e);

/* Route handlers for /profiles. */
void api_profiles_list(struct api_call *call);
void api_profiles_create(struct api_call *call);
void api_profiles_get(struct api_call *call);
void api_profiles_patch(struct api_call *call);
void api_profiles_delete(struct api_call *call);

/* Route handlers for /bundles, /artifacts and /jobs (bundles.c) and /audit (audit.c). */
void api_bundles_list(struct api_call *call);
void api_bundles_get(struct api_call *call);
void api_bundles_load(struct api_call *call);
/*
 * From the precheck of POST /bundles: when the body is a bundle file
 * (application/octet-stream), start a load job that reads the body as it arrives.
 * Returns 0 to go on, or 1 after replying (409 when a job runs, 400).
 */
int api_bundles_upload_begin(struct api_call *call);
/* Free an upload whose request ends without its handler; stops the load it feeds. */
void api_bundles_upload_drop(struct http_request *req);
void api_bundles_delete(struct api_call *call);
void api_bundles_check(struct api_call *call);
void api_artifacts_list(struct api_call *call);
void api_artifacts_get(struct api_call *call);
void api_jobs_get(struct api_call *call);
/* The job slot: created empty; freeing it waits for a running job to stop. */
int api_jobs_new(struct api *api, struct api_job **ret);
void api_jobs_free(struct api_job *job);
void api_audit_list(struct api_call *call);
void api_audit_verify(struct api_call *call);

#endif
