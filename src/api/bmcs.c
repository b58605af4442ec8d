/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /api/v1/bmcs and /api/v1/bmc-operations: enrolling BMCs and queueing operations on
 * them. Every operation runs later on the BMC manager's workers, so these routes reply
 * 202 with the operation, which GET /bmc-operations/{id} follows to its end. The
 * password is write-only: no reply and no log line ever carries it.
 */
#include "api/api-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmcman/bmcman.h"
#include "log/log.h"

static json_t *
bmc_json(const struct bmc_record *b)
{
	return json_pack("{s:I, s:o, s:s, s:s, s:I, s:s, s:s, s:s, s:o, s:s, s:o, s:s, s:o,"
			 " s:o, s:o}",
			 "id", (json_int_t)b->id,
			 "machine", b->machine_id > 0 ? json_integer(b->machine_id) : json_null(),
			 "protocol", b->protocol, "address", b->address, "port", (json_int_t)b->port,
			 "username", b->username, "tls", b->tls, "ca_file", b->ca_file,
			 "fingerprint", api_json_string_or_null(b->fingerprint),
			 "status", b->status,
			 "status_detail", api_json_string_or_null(b->status_detail),
			 "power_state", b->power_state,
			 "checked_at", b->checked_at > 0 ? api_json_time(b->checked_at) : json_null(),
			 "created_at", api_json_time(b->created_at),
			 "updated_at", api_json_time(b->updated_at));
}

json_t *
api_bmc_op_json(const struct bmc_operation *op)
{
	return json_pack("{s:I, s:o, s:o, s:s, s:o, s:s, s:o, s:o, s:s, s:o, s:o, s:o}",
			 "id", (json_int_t)op->id,
			 "bmc", op->bmc_id > 0 ? json_integer(op->bmc_id) : json_null(),
			 "batch", op->batch > 0 ? json_integer(op->batch) : json_null(),
			 "operation", op->kind, "args", api_json_from_text(op->args, "operation args"),
			 "state", op->state,
			 "result", op->result != NULL ? api_json_from_text(op->result, "result") :
							json_null(),
			 "error", api_json_string_or_null(op->error), "actor", op->actor,
			 "created_at", api_json_time(op->created_at),
			 "started_at", op->started_at > 0 ? api_json_time(op->started_at) : json_null(),
			 "finished_at", op->finished_at > 0 ? api_json_time(op->finished_at) :
							      json_null());
}

struct bmcman *
api_bmcman(struct api_call *call)
{
	if (call->api->bmcman == NULL)
		http_reply_error(call->req, 503, "unavailable", "the BMC manager is not running");
	return call->api->bmcman;
}

/* Parse a positive id from the path, replying 400 when it is not one. */
static int
path_id(struct api_call *call, const char *what, int64_t *ret)
{
	char quoted[API_QUOTE_MAX + 4];
	uint64_t id;

	if (uint_parse(call->params[0], 1, INT64_MAX, &id) == 0) {
		*ret = (int64_t)id;
		return 0;
	}
	api_quote(call->params[0], quoted, sizeof(quoted));
	http_reply_error(call->req, 400, "invalid_field", "%s id \"%s\" must be a positive integer",
			 what, quoted);
	return -EINVAL;
}

/* Load the BMC the path names, replying on failure. */
static int
bmc_from_path(struct api_call *call, struct bmc_record *b)
{
	int64_t id;
	int rc;

	if (path_id(call, "BMC", &id) < 0)
		return -EINVAL;
	rc = store_bmc_get(call->st, id, b);
	if (rc == -ENOENT)
		http_reply_error(call->req, 404, "not_found", "BMC %" PRId64 " not found", id);
	else if (rc < 0)
		api_reply_errno(call, rc, NULL, "BMC lookup");
	return rc;
}

/* Lower-case hex of 64 digits; colons between byte pairs are dropped. */
static int
fingerprint_normalize(const char *in, char out[STORE_BMC_FINGERPRINT_SIZE])
{
	size_t n = 0;

	for (; *in != '\0'; in++) {
		if (*in == ':')
			continue;
		if (n == 64 || strchr("0123456789abcdefABCDEF", *in) == NULL)
			return -EINVAL;
		out[n++] = (char)(*in >= 'A' && *in <= 'F' ? *in - 'A' + 'a' : *in);
	}
	out[n] = '\0';
	return n == 64 || n == 0 ? 0 : -EINVAL;
}

/* The checks on a whole record after a body was applied to it. */
static int
bmc_check(const struct bmc_record *b, struct api_error *e)
{
	if (strcmp(b->protocol, "redfish") != 0 && strcmp(b->protocol, "ipmi") != 0)
		return api_fail(e, 400, "invalid_field", "protocol must be redfish or ipmi");
	if (!host_address_valid(b->address))
		return api_fail(e, 400, "invalid_field", "address must be a host name, an IPv4 "
				"address or an IPv6 address in brackets");
	if (strcmp(b->tls, "ca") != 0 && strcmp(b->tls, "pinned") != 0 &&
	    strcmp(b->tls, "tofu") != 0)
		return api_fail(e, 400, "invalid_field", "tls must be ca, pinned or tofu");
	if (strcmp(b->tls, "pinned") == 0 && b->fingerprint[0] == '\0')
		return api_fail(e, 400, "invalid_field", "tls pinned needs a fingerprint: the "
				"SHA-256 of the BMC certificate's public key, 64 hex digits");
	if (b->ca_file[0] != '\0' && b->ca_file[0] != '/')
		return api_fail(e, 400, "invalid_field", "ca_file must be an absolute path");
	return 0;
}

/*
 * Store the protocol's port for port 0, so "port": 0 and "port": 623 name one BMC
 * and the store's unique endpoint catches the second.
 */
static void
bmc_default_port(struct bmc_record *b)
{
	if (b->port == 0)
		b->port = strcmp(b->protocol, "ipmi") == 0 ? 623 : 443;
}

/*
 * IPMI 2.0 user names are at most 16 bytes and passwords 20: reject longer ones before
 * they are stored, not at the first login.
 */
static int
password_check(const struct bmc_record *b, const char *password, struct api_error *e)
{
	if (strcmp(b->protocol, "ipmi") != 0)
		return 0;
	if (strlen(b->username) > 16)
		return api_fail(e, 400, "invalid_field", "username is %zu bytes long; IPMI 2.0 "
				"allows at most 16", strlen(b->username));
	if (strlen(password) > 20)
		return api_fail(e, 400, "invalid_field", "password is %zu bytes long; IPMI 2.0 "
				"allows at most 20", strlen(password));
	return 0;
}

/* Apply a body's string fields to b, each checked. Returns 0 or -EINVAL. */
static int
bmc_apply(const json_t *body, struct bmc_record *b, char *password, struct api_error *e)
{
	struct {
		const char *key;
		char *out;
		size_t size;
	} fields[] = {
		{ "protocol", b->protocol, sizeof(b->protocol) },
		{ "address", b->address, sizeof(b->address) },
		{ "username", b->username, sizeof(b->username) },
		{ "tls", b->tls, sizeof(b->tls) },
		{ "ca_file", b->ca_file, sizeof(b->ca_file) },
		{ "password", password, BMC_SECRET_SIZE },
	};
	char fingerprint[128] = "";	/* 64 hex digits, with up to 31 colons */
	const json_t *port = json_object_get(body, "port");
	int rc;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		rc = api_json_string(body, fields[i].key, fields[i].size - 1, fields[i].out,
				     fields[i].size, e);
		if (rc < 0)
			return rc;
	}
	rc = api_json_string(body, "fingerprint", sizeof(fingerprint) - 1, fingerprint,
			     sizeof(fingerprint), e);
	if (rc < 0)
		return rc;
	if (rc != API_FIELD_ABSENT && fingerprint_normalize(fingerprint, b->fingerprint) < 0)
		return api_fail(e, 400, "invalid_field", "fingerprint must be 64 hex digits (the "
				"SHA-256 of the certificate's public key), colons allowed");
	if (port != NULL) {
		if (!json_is_integer(port) || json_integer_value(port) < 0 ||
		    json_integer_value(port) > 65535)
			return api_fail(e, 400, "invalid_field", "port must be an integer from 0 to "
					"65535 (0: 443 for Redfish, 623 for IPMI)");
		b->port = json_integer_value(port);
	}
	return 0;
}

/* Resolve the body's "machine" reference, if any, into b->machine_id. */
static int
bmc_machine(struct api_call *call, const json_t *body, struct bmc_record *b,
	    struct api_error *e)
{
	const json_t *ref = json_object_get(body, "machine");
	struct machine m = { 0 };
	char text[32];
	int rc;

	if (ref == NULL)
		return 0;
	if (json_is_null(ref)) {
		b->machine_id = 0;
		return 0;
	}
	if (json_is_integer(ref))
		snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(ref));
	else if (json_is_string(ref) && strlen(json_string_value(ref)) < sizeof(text))
		snprintf(text, sizeof(text), "%s", json_string_value(ref));
	else
		return api_fail(e, 400, "invalid_field", "machine must be a machine id or MAC");
	rc = api_machine_resolve(call, text, &m, e);
	if (rc == 0)
		b->machine_id = m.id;
	machine_clear(&m);
	return rc;
}

static const char *const bmc_fields[] = { "protocol", "address", "port", "username", "password",
					  "tls", "ca_file", "fingerprint", "machine", NULL };
static const char *const bmc_readonly[] = { "id", "status", "status_detail", "power_state",
					    "checked_at", "created_at", "updated_at", NULL };

/*
 * Read the request's body onto b: every field checked, the password into `password`,
 * the machine resolved. A create needs an address and a password; a PATCH may leave
 * any field out, but not give an empty password. Returns 0 or a negative errno with e
 * filled for -EINVAL.
 */
static int
bmc_body(struct api_call *call, bool create, struct bmc_record *b, char *password,
	 struct api_error *e)
{
	json_t *body = NULL;
	int rc;

	rc = api_request_object(call, false, &body, e);
	if (rc == 0)
		rc = api_json_keys(body, bmc_fields, bmc_readonly, e);
	if (rc == 0)
		rc = bmc_apply(body, b, password, e);
	if (rc == 0 && create && password[0] == '\0')
		rc = api_fail(e, 400, "invalid_field", "password is required");
	if (rc == 0 && create && b->address[0] == '\0')
		rc = api_fail(e, 400, "invalid_field", "address is required");
	if (rc == 0 && !create && json_object_get(body, "password") != NULL && password[0] == '\0')
		rc = api_fail(e, 400, "invalid_field", "password cannot be empty");
	if (rc == 0)
		rc = bmc_check(b, e);
	if (rc == 0)
		rc = password_check(b, password, e);
	bmc_default_port(b);
	if (rc == 0)
		rc = bmc_machine(call, body, b, e);
	json_decref(body);
	return rc;
}

/* Reply 202 with the BMC and the verify operation queued for it, if any. */
static void
reply_bmc_op(struct api_call *call, unsigned status, int64_t bmc_id, int64_t op_id)
{
	struct bmc_operation op = { 0 };
	struct bmc_record b;
	json_t *reply;

	if (store_bmc_get(call->st, bmc_id, &b) < 0) {
		api_reply_errno(call, -EIO, NULL, "BMC read-back");
		return;
	}
	explicit_bzero(b.secret, sizeof(b.secret));
	if (op_id > 0 && store_bmc_op_get(call->st, op_id, &op) < 0) {
		api_reply_errno(call, -EIO, NULL, "BMC operation read-back");
		return;
	}
	reply = json_pack("{s:o, s:o}", "bmc", bmc_json(&b), "operation",
			  op_id > 0 ? api_bmc_op_json(&op) : json_null());
	bmc_operation_clear(&op);
	api_reply_json(call, status, reply);
}

/* POST /bmcs */
void
api_bmcs_create(struct api_call *call)
{
	struct bmc_record b = { .tls = "ca" };
	char password[BMC_SECRET_SIZE] = "", err[API_DETAIL_SIZE], location[64];
	struct bmcman *m = api_bmcman(call);
	struct api_error e;
	int64_t op_id = 0;
	int rc;

	if (m == NULL)
		return;
	rc = bmc_body(call, true, &b, password, &e);
	if (rc < 0) {
		explicit_bzero(password, sizeof(password));
		if (rc == -EINVAL)
			api_reply_error(call, &e);
		else
			api_reply_errno(call, rc, NULL, "BMC enrolment");
		return;
	}
	rc = bmcman_enrol(m, call->st, call->actor, &b, password, &op_id, err, sizeof(err));
	explicit_bzero(password, sizeof(password));
	if (rc < 0) {
		api_reply_errno(call, rc, err, "bmc.enrol");
		return;
	}
	snprintf(location, sizeof(location), API_PREFIX "/bmcs/%" PRId64, b.id);
	http_add_header(call->req, "Location", location);
	reply_bmc_op(call, 202, b.id, op_id);
}

static int
list_cb(const struct bmc_record *b, void *arg)
{
	return json_array_append_new(arg, bmc_json(b)) == 0 ? 0 : -ENOMEM;
}

/* GET /bmcs[?machine=REF] */
void
api_bmcs_list(struct api_call *call)
{
	static const char *const keys[] = { "machine", NULL };
	const char *ref = http_query(call->req, "machine");
	struct machine m = { 0 };
	struct api_error e;
	json_t *items;
	int rc;

	if (api_query_keys(call, keys, &e) < 0) {
		api_reply_error(call, &e);
		return;
	}
	if (ref != NULL && api_machine_resolve(call, ref, &m, &e) < 0) {
		api_reply_error(call, &e);
		return;
	}
	items = json_array();
	rc = items != NULL ? store_bmc_list(call->st, ref != NULL ? m.id : 0, list_cb, items) :
			     -ENOMEM;
	machine_clear(&m);
	if (rc < 0) {
		json_decref(items);
		api_reply_errno(call, rc, NULL, "BMC list");
		return;
	}
	api_reply_json(call, 200, json_pack("{s:o}", "items", items));
}

/* GET /bmcs/{id} */
void
api_bmcs_get(struct api_call *call)
{
	struct bmc_record b;

	if (bmc_from_path(call, &b) < 0)
		return;
	explicit_bzero(b.secret, sizeof(b.secret));
	api_reply_json(call, 200, bmc_json(&b));
}

/* PATCH /bmcs/{id} */
void
api_bmcs_patch(struct api_call *call)
{
	char password[BMC_SECRET_SIZE] = "", err[API_DETAIL_SIZE] = "";
	struct bmcman *m = api_bmcman(call);
	struct bmc_record b;
	struct api_error e;
	int64_t op_id = 0;
	int rc;

	if (m == NULL || bmc_from_path(call, &b) < 0)
		return;
	rc = bmc_body(call, false, &b, password, &e);
	if (rc == 0)
		rc = bmcman_update(m, call->st, call->actor, &b, password[0] != '\0' ? password : NULL,
				   &op_id, err, sizeof(err));
	explicit_bzero(password, sizeof(password));
	explicit_bzero(b.secret, sizeof(b.secret));
	if (rc == -EINVAL && err[0] == '\0')
		api_reply_error(call, &e);
	else if (rc < 0)
		api_reply_errno(call, rc, err, "bmc.update");
	else
		reply_bmc_op(call, op_id > 0 ? 202 : 200, b.id, op_id);
}

/* DELETE /bmcs/{id} */
void
api_bmcs_delete(struct api_call *call)
{
	char err[API_DETAIL_SIZE];
	struct bmcman *m = api_bmcman(call);
	int64_t id;
	int rc;

	if (m == NULL || path_id(call, "BMC", &id) < 0)
		return;
	rc = bmcman_remove(m, call->st, call->actor, id, err, sizeof(err));
	if (rc < 0) {
		api_reply_errno(call, rc, err, "bmc.remove");
		return;
	}
	http_reply(call->req, 204, NULL, "", 0);
}

/* Reply 202 with operation id. */
static void
reply_op(struct api_call *call, int64_t id)
{
	struct bmc_operation op;
	char location[64];
	int rc = store_bmc_op_get(call->st, id, &op);

	if (rc < 0) {
		api_reply_errno(call, rc, NULL, "BMC operation read-back");
		return;
	}
	snprintf(location, sizeof(location), API_PREFIX "/bmc-operations/%" PRId64, id);
	http_add_header(call->req, "Location", location);
	api_reply_json(call, 202, api_bmc_op_json(&op));
	bmc_operation_clear(&op);
}

/*
 * Read a queue request's body: "operation" and its arguments, which are the other
 * members. Returns the kind with *ret_args (caller frees), or BMC_OP_KIND_INVALID after
 * replying.
 */
static enum bmc_op_kind
op_body(struct api_call *call, json_t **ret_args)
{
	enum bmc_op_kind kind = BMC_OP_KIND_INVALID;
	char name[32] = "", quoted[API_QUOTE_MAX + 4];
	struct api_error e;
	json_t *body = NULL;
	int rc;

	rc = api_request_object(call, false, &body, &e);
	if (rc == 0)
		rc = api_json_string(body, "operation", sizeof(name) - 1, name, sizeof(name), &e);
	if (rc == API_FIELD_ABSENT || rc == API_FIELD_NULL)
		rc = api_fail(&e, 400, "invalid_field", "operation is required");
	if (rc >= 0) {
		kind = bmc_op_kind_parse(name);
		api_quote(name, quoted, sizeof(quoted));
		if (kind == BMC_OP_KIND_INVALID)
			rc = api_fail(&e, 400, "invalid_field", "unknown operation \"%s\"; GET "
				      API_PREFIX "/openapi.json lists them", quoted);
	}
	if (rc < 0) {
		json_decref(body);
		api_reply_error(call, &e);
		return BMC_OP_KIND_INVALID;
	}
	json_object_del(body, "operation");
	*ret_args = body;
	return kind;
}

/* Queue on one BMC (bmc_id) or on a machine's first BMC (machine_id), replying. */
static void
queue_reply(struct api_call *call, int64_t bmc_id, int64_t machine_id, enum bmc_op_kind kind,
	    json_t *args)
{
	char err[API_DETAIL_SIZE] = "";
	struct bmcman *m = api_bmcman(call);
	int64_t op_id = 0;
	int rc;

	if (m == NULL)
		return;
	if (bmc_id > 0)
		rc = bmcman_queue(m, call->st, call->actor, bmc_id, kind, args, &op_id, err,
				  sizeof(err));
	else
		rc = bmcman_queue_machine(m, call->st, call->actor, machine_id, kind, args, &op_id,
					  err, sizeof(err));
	if (rc == -ENODEV)
		http_reply_error(call->req, 409, "no_bmc", "%s", err);
	else if (rc == -ENOENT && bmc_id > 0)
		http_reply_error(call->req, 404, "not_found", "BMC %" PRId64 " not found", bmc_id);
	else if (rc < 0)
		api_reply_errno(call, rc, err, "BMC operation");
	else
		reply_op(call, op_id);
}

/* POST /bmcs/{id}/operations */
void
api_bmcs_operate(struct api_call *call)
{
	enum bmc_op_kind kind;
	json_t *args = NULL;
	int64_t id;

	if (path_id(call, "BMC", &id) < 0)
		return;
	kind = op_body(call, &args);
	if (kind == BMC_OP_KIND_INVALID)
		return;
	/* Only the deploy route names a deployment: its ISO is for its own machine. */
	if (kind == BMC_OP_VMEDIA_BOOT && json_object_get(args, "deployment") != NULL) {
		http_reply_error(call->req, 400, "invalid_field", "\"deployment\" is set by POST "
				 API_PREFIX "/machines/{ref}/deploy with \"boot\": \"virtual-media\"; "
				 "give an image \"url\" here");
		json_decref(args);
		return;
	}
	queue_reply(call, id, 0, kind, args);
	json_decref(args);
}

/* POST /machines/{ref}/power {"action": "on"|"off"|"shutdown"|"reset"|"cycle"|"status"} */
void
api_machines_power(struct api_call *call)
{
	static const char *const keys[] = { "action", NULL };
	struct machine m = { 0 };
	struct api_error e;
	json_t *body = NULL;

	if (api_machine_from_path(call, &m) < 0)
		return;
	if (api_request_object(call, false, &body, &e) < 0 ||
	    api_json_keys(body, keys, NULL, &e) < 0) {
		json_decref(body);
		machine_clear(&m);
		api_reply_error(call, &e);
		return;
	}
	/* "status" reads the power state, so the CLI needs no second route for it. */
	if (json_is_string(json_object_get(body, "action")) &&
	    strcmp(json_string_value(json_object_get(body, "action")), "status") == 0)
		queue_reply(call, 0, m.id, BMC_OP_POWER_STATE, NULL);
	else
		queue_reply(call, 0, m.id, BMC_OP_POWER, body);
	json_decref(body);
	machine_clear(&m);
}
