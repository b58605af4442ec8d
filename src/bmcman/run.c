/* SPDX-License-Identifier: Apache-2.0 */
/* Running one operation: connect to its BMC, call the driver, record the outcome. */
#include "bmcman/bmcman-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "util/util.h"

/* The outcome of a run, for the transaction that records it. */
struct outcome {
	const struct bmc_operation *op;
	enum bmc_op_kind kind;
	json_t *args;                       /* owned, parsed op->args */
	json_t *result;                     /* owned; NULL when the run failed */
	char error[BMC_ERR_SIZE];           /* "" when it succeeded */
	char power[16];                     /* power state seen, "" when none */
	char fingerprint[BMC_FINGERPRINT_SIZE];   /* learned on first use, or "" */
	bool connected;                     /* the BMC replied, so its status is known */
	char reach[BMC_ADDRESS_SIZE + BMC_USER_SIZE + BMC_FINGERPRINT_SIZE + 48];
					    /* the settings the run connected with */
	char target[48];
	char detail[BMC_ERR_SIZE + 128];
};

/* Fill the driver's target from record b, opening its password. */
static int
target_from(struct bmcman *m, const struct bmc_record *b, int timeout_ms, struct bmc_target *t,
	    char *err, size_t errlen)
{
	char context[BMC_ADDRESS_SIZE + BMC_USER_SIZE + 32];

	memset(t, 0, sizeof(*t));
	t->protocol = strcmp(b->protocol, "ipmi") == 0 ? BMC_IPMI : BMC_REDFISH;
	snprintf(t->address, sizeof(t->address), "%s", b->address);
	t->port = (uint16_t)b->port;
	snprintf(t->username, sizeof(t->username), "%s", b->username);
	t->tls = strcmp(b->tls, "ca") == 0 ? BMC_TLS_CA :
		 strcmp(b->tls, "pinned") == 0 ? BMC_TLS_PINNED : BMC_TLS_TOFU;
	snprintf(t->ca_file, sizeof(t->ca_file), "%s", b->ca_file);
	snprintf(t->fingerprint, sizeof(t->fingerprint), "%s", b->fingerprint);
	t->timeout_ms = timeout_ms;
	t->cancel = &m->cancel;
	bmcman_context(b, context, sizeof(context));
	if (bmc_secret_open(m->key, context, b->secret, t->password, sizeof(t->password)) < 0)
		return err_set(-EBADMSG, err, errlen, "the stored password of BMC %" PRId64
			       " does not open with this appliance's key; set it again with "
			       "PATCH /api/v1/bmcs/%" PRId64, b->id, b->id);
	return 0;
}

static json_t *
sensors_json(const struct bmc_sensor *s, size_t count)
{
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < count; i++) {
		json_t *v = s[i].has_value ? json_real(s[i].value) : json_null();

		json_array_append_new(list, json_pack("{s:s%, s:s, s:o, s:s}", "name", s[i].name,
						      strnlen(s[i].name, sizeof(s[i].name)),
						      "kind", bmc_sensor_kind_name(s[i].kind),
						      "value", v, "unit", s[i].unit));
	}
	return json_pack("{s:o}", "sensors", list);
}

static int
run_power(struct bmc *bmc, struct outcome *o, char *err, size_t errlen)
{
	enum bmc_power action;
	int rc;

	bmc_power_parse(json_string_value(json_object_get(o->args, "action")), &action);
	rc = bmc_power_set(bmc, action, err, errlen);
	if (rc == 0)
		rc = bmc_power_state(bmc, o->power, sizeof(o->power), err, errlen);
	if (rc == 0)
		o->result = json_pack("{s:s, s:s}", "action", bmc_power_name(action), "power",
				      o->power);
	return rc;
}

static int
run_boot(struct bmc *bmc, struct outcome *o, char *err, size_t errlen)
{
	const char *mode_text = json_string_value(json_object_get(o->args, "mode"));
	enum bmc_boot_mode mode = BMC_BOOT_MODE_KEEP;
	enum bmc_boot_device device;
	int rc;

	bmc_boot_device_parse(json_string_value(json_object_get(o->args, "device")), &device);
	if (mode_text != NULL)
		bmc_boot_mode_parse(mode_text, &mode);
	rc = bmc_boot_once(bmc, device, mode, err, errlen);
	if (rc == 0)
		o->result = json_pack("{s:s, s:s}", "device", bmc_boot_device_name(device), "mode",
				      bmc_boot_mode_name(mode));
	return rc;
}

/*
 * The image a vmedia-boot inserts: its "url", or the URL of its deployment's ISO, which
 * is asked for only now because it contains the deployment's token.
 */
static int
vmedia_url(struct bmcman *m, const struct outcome *o, char *url, size_t size, char *err,
	   size_t errlen)
{
	const char *given_url = json_string_value(json_object_get(o->args, "url"));
	json_int_t deployment = json_integer_value(json_object_get(o->args, "deployment"));

	if (given_url != NULL) {
		snprintf(url, size, "%s", given_url);
		return 0;
	}
	if (m->media_url == NULL || m->media_url(m->media_ctx, deployment, url, size) < 0)
		return err_set(-ENOENT, err, errlen, "no boot ISO URL for deployment %" PRId64
			       "; deploy the machine again", (int64_t)deployment);
	return 0;
}

/* Insert the ISO (ejecting what is inserted), boot once from CD, then reset or power on. */
static int
run_vmedia_boot(struct bmcman *m, struct bmc *bmc, struct outcome *o, char *err,
		size_t errlen)
{
	char url[BMCMAN_URL_MAX + 1024];
	bool ejected = false;
	const char *power_action;
	json_t *status = NULL;
	int rc;

	rc = vmedia_url(m, o, url, sizeof(url), err, errlen);
	if (rc == 0)
		rc = bmc_media_status(bmc, &status, err, errlen);
	if (rc == 0 && json_is_true(json_object_get(status, "inserted"))) {
		rc = bmc_media_eject(bmc, err, errlen);
		ejected = rc == 0;
	}
	json_decref(status);
	if (rc == 0)
		rc = bmc_media_insert(bmc, url, err, errlen);
	explicit_bzero(url, sizeof(url));
	if (rc == 0)
		rc = bmc_boot_once(bmc, BMC_BOOT_CD, BMC_BOOT_MODE_KEEP, err, errlen);
	if (rc == 0)
		rc = bmc_power_state(bmc, o->power, sizeof(o->power), err, errlen);
	if (rc < 0)
		return rc;
	power_action = strcmp(o->power, "off") == 0 ? "on" : "reset";
	rc = bmc_power_set(bmc, strcmp(power_action, "on") == 0 ? BMC_POWER_ON : BMC_POWER_RESET,
			   err, errlen);
	if (rc == 0) {
		snprintf(o->power, sizeof(o->power), "on");
		o->result = json_pack("{s:b, s:s}", "ejected", ejected, "power_action", power_action);
	}
	return rc;
}

/* Redact the "image" of a media status: the URL of an Outpost ISO carries a token. */
static void
image_redact(json_t *status)
{
	const char *image = json_string_value(json_object_get(status, "image"));
	char shown[BMCMAN_URL_MAX + 64];

	if (image == NULL)
		return;
	url_redact(image, shown, sizeof(shown));
	json_object_set_new(status, "image", json_string(shown));
}

/* Call the driver for the operation's kind; on success o->result is set. */
static int
run_kind(struct bmcman *m, struct bmc *bmc, struct outcome *o, char *err, size_t errlen)
{
	const char *url = json_string_value(json_object_get(o->args, "url"));
	json_t *a = NULL, *b = NULL;
	struct bmc_sensor *sensors = NULL;
	size_t count = 0;
	int rc;

	switch (o->kind) {
	case BMC_OP_VERIFY:
	case BMC_OP_INVENTORY:
		rc = bmc_inventory(bmc, &a, &b, err, errlen);
		if (rc == 0) {
			snprintf(o->power, sizeof(o->power), "%s",
				 json_string_value(json_object_get(a, "power_state")) ?: "");
			o->result = json_pack("{s:o, s:o}", "system", a, "firmware", b);
		}
		return rc;
	case BMC_OP_POWER_STATE:
		rc = bmc_power_state(bmc, o->power, sizeof(o->power), err, errlen);
		if (rc == 0)
			o->result = json_pack("{s:s}", "power", o->power);
		return rc;
	case BMC_OP_POWER:
		return run_power(bmc, o, err, errlen);
	case BMC_OP_BOOT:
		return run_boot(bmc, o, err, errlen);
	case BMC_OP_MEDIA_INSERT:
		rc = bmc_media_insert(bmc, url, err, errlen);
		if (rc == 0)
			o->result = json_object();
		return rc;
	case BMC_OP_MEDIA_EJECT:
		rc = bmc_media_eject(bmc, err, errlen);
		if (rc == 0)
			o->result = json_object();
		return rc;
	case BMC_OP_MEDIA_STATUS:
		rc = bmc_media_status(bmc, &o->result, err, errlen);
		if (rc == 0)
			image_redact(o->result);
		return rc;
	case BMC_OP_SENSORS:
		rc = bmc_sensors(bmc, &sensors, &count, err, errlen);
		if (rc == 0)
			o->result = sensors_json(sensors, count);
		free(sensors);
		return rc;
	case BMC_OP_EVENTS:
		rc = bmc_events(bmc, &a, err, errlen);
		if (rc == 0)
			o->result = json_pack("{s:o}", "events", a);
		return rc;
	case BMC_OP_FIRMWARE_UPDATE:
		rc = bmc_firmware_update(bmc, url, err, errlen);
		if (rc == 0)
			o->result = json_object();
		return rc;
	case BMC_OP_VMEDIA_BOOT:
		return run_vmedia_boot(m, bmc, o, err, errlen);
	default:
		return err_set(-EINVAL, err, errlen, "unknown operation %s", o->op->kind);
	}
}

/* Connect to the operation's BMC and run it. Fills o->result or o->error. */
static void
run_on_bmc(struct bmcman *m, struct store *st, struct outcome *o)
{
	struct bmc_record rec;
	struct bmc_target t;
	struct bmc *bmc = NULL;
	int rc;

	if (o->op->bmc_id == 0 || store_bmc_get(st, o->op->bmc_id, &rec) < 0) {
		snprintf(o->error, sizeof(o->error), "the BMC was removed before the operation ran");
		return;
	}
	bmcman_context(&rec, o->reach, sizeof(o->reach));
	snprintf(o->reach + strlen(o->reach), sizeof(o->reach) - strlen(o->reach), ":%s:%s",
		 rec.tls, rec.fingerprint);
	rc = target_from(m, &rec, o->kind == BMC_OP_FIRMWARE_UPDATE ? m->firmware_timeout_ms :
				  m->timeout_ms, &t, o->error, sizeof(o->error));
	explicit_bzero(rec.secret, sizeof(rec.secret));
	if (rc == 0)
		rc = bmc_open(&t, &bmc, o->error, sizeof(o->error));
	explicit_bzero(t.password, sizeof(t.password));
	if (rc < 0)
		return;
	o->connected = true;
	if (rec.fingerprint[0] == '\0' && t.fingerprint[0] != '\0')
		snprintf(o->fingerprint, sizeof(o->fingerprint), "%s", t.fingerprint);
	rc = run_kind(m, bmc, o, o->error, sizeof(o->error));
	if (rc == 0 && o->result == NULL)
		snprintf(o->error, sizeof(o->error), "out of memory building the result");
	if (rc < 0) {
		json_decref(o->result);
		o->result = NULL;
	}
	if (rc == 0)
		o->error[0] = '\0';
	bmc = bmc_close(bmc);
}

/* Record a verify operation's learning: the TOFU fingerprint and the machine link. */
static int
record_verify(struct store *st, struct outcome *o, char *err, size_t errlen)
{
	struct bmc_record b;
	int64_t machine = 0;
	bool created = false;
	int rc;

	char now[sizeof(o->reach)];

	rc = store_bmc_get(st, o->op->bmc_id, &b);
	if (rc < 0)
		return err_set(rc, err, errlen, "%s", store_error(st));

	/* A PATCH while the run connected: what it learned belongs to the old settings. */
	bmcman_context(&b, now, sizeof(now));
	snprintf(now + strlen(now), sizeof(now) - strlen(now), ":%s:%s", b.tls, b.fingerprint);
	if (strcmp(now, o->reach) != 0) {
		explicit_bzero(b.secret, sizeof(b.secret));
		return err_set(-ESTALE, err, errlen, "the BMC's settings changed while it was "
			       "verified; the verify queued by that change checks the new ones");
	}
	if (o->fingerprint[0] != '\0' && b.fingerprint[0] == '\0' && strcmp(b.tls, "tofu") == 0)
		snprintf(b.fingerprint, sizeof(b.fingerprint), "%s", o->fingerprint);
	rc = bmcman_link(st, &b, json_object_get(o->result, "system"), &machine, &created, err,
			 errlen);
	if (rc == 0)
		rc = store_bmc_update(st, &b);
	if (rc < 0 && err[0] == '\0')
		err_set(rc, err, errlen, "%s", store_error(st));
	explicit_bzero(b.secret, sizeof(b.secret));
	if (rc == 0) {
		json_object_set_new(o->result, "machine", machine > 0 ? json_integer(machine) :
							   json_null());
		json_object_set_new(o->result, "machine_created", json_boolean(created));
		if (b.fingerprint[0] != '\0')
			json_object_set_new(o->result, "fingerprint", json_string(b.fingerprint));
	}
	return rc;
}

/* Write the outcome: the operation's row, the BMC's status, and what a verify learned. */
static int
record(struct store *st, void *arg, char *err, size_t errlen)
{
	struct outcome *o = arg;
	char *text = NULL;
	int rc = 0;

	/* A verify whose link cannot be written fails as a whole, through the caller. */
	if (o->result != NULL && o->kind == BMC_OP_VERIFY) {
		rc = record_verify(st, o, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (o->result != NULL) {
		text = json_dumps(o->result, JSON_COMPACT);
		if (text == NULL || strlen(text) > BMCMAN_RESULT_MAX) {
			snprintf(o->error, sizeof(o->error), "the result is larger than %d bytes",
				 BMCMAN_RESULT_MAX);
			free(text);
			text = NULL;
		}
	}
	rc = store_bmc_op_finish(st, o->op->id, text, text != NULL ? NULL : o->error);
	free(text);
	/*
	 * The BMC's status shows whether Outpost can reach it and log in. A BMC that
	 * replied stays "ok" when it rejected one request, such as HTTP boot over IPMI.
	 */
	if (rc == 0 && o->op->bmc_id > 0 && (o->connected || o->error[0] != '\0'))
		rc = store_bmc_observe(st, o->op->bmc_id, o->connected ? "ok" : "error",
				       o->connected ? "" : o->error,
				       o->power[0] != '\0' ? o->power : NULL);
	/* The BMC may have been removed meanwhile; its operation is recorded all the same. */
	if (rc == -ENOENT)
		rc = 0;
	if (rc < 0)
		return err_set(rc, err, errlen, "%s", store_error(st));
	return 0;
}

/* Record the outcome of a read in a plain transaction: reads leave no audit entry. */
static int
record_read(struct store *st, struct outcome *o, char *err, size_t errlen)
{
	int rc = store_begin(st);

	if (rc < 0)
		return err_set(rc, err, errlen, "%s", store_error(st));
	rc = record(st, o, err, errlen);
	if (rc == 0)
		rc = store_commit(st);
	if (rc < 0) {
		if (err[0] == '\0')
			err_set(rc, err, errlen, "%s", store_error(st));
		store_rollback(st);
	}
	return rc;
}

/* Record the outcome of a change as an audited action of the manager's own. */
static int
record_change(struct store *st, struct outcome *o, char *err, size_t errlen)
{
	struct action a = { .actor = BMCMAN_ACTOR, .target = o->target, .risk = RISK_CHANGE,
			    .detail = o->detail };
	char name[48];
	json_t *detail;

	snprintf(name, sizeof(name), "bmc.%s.finished", o->op->kind);
	a.name = name;
	snprintf(o->target, sizeof(o->target), "bmc:%" PRId64, o->op->bmc_id);
	detail = json_pack("{s:I, s:s, s:s?}", "operation", (json_int_t)o->op->id, "state",
			   o->result != NULL ? "succeeded" : "failed", "error",
			   o->result != NULL ? NULL : o->error);
	if (bmcman_detail_write(detail, o->detail, sizeof(o->detail), err, errlen) < 0)
		snprintf(o->detail, sizeof(o->detail), "{\"operation\": %" PRId64 "}", o->op->id);
	json_decref(detail);
	return gov_execute(st, &a, record, o, err, errlen);
}

void
bmcman_run(struct bmcman *m, struct store *st, const struct bmc_operation *op)
{
	struct outcome o = { .op = op, .kind = bmc_op_kind_parse(op->kind) };
	char err[BMC_ERR_SIZE + 64] = "";
	int64_t started = time_monotonic_ms();
	enum risk risk;
	int rc;

	o.args = json_loads(op->args, 0, NULL);
	log_info("BMC operation started id=%" PRId64 " bmc=%" PRId64 " kind=%s", op->id,
		 op->bmc_id, op->kind);
	risk = bmc_op_risk(o.kind, o.args, o.error, sizeof(o.error));
	if (risk == RISK_INVALID) {
		if (o.kind == BMC_OP_KIND_INVALID || o.error[0] == '\0')
			snprintf(o.error, sizeof(o.error), "unknown operation %s", op->kind);
	} else {
		run_on_bmc(m, st, &o);
	}

	/* An operation of no known kind changed nothing, so it is recorded as a read. */
	if (o.kind == BMC_OP_KIND_INVALID || risk == RISK_READ)
		rc = record_read(st, &o, err, sizeof(err));
	else
		rc = record_change(st, &o, err, sizeof(err));
	if (rc < 0) {
		log_err("failed to record BMC operation id=%" PRId64 ": %s", op->id, err);
		/* Leave no operation running: fail it on its own, without the result. */
		if (store_bmc_op_finish(st, op->id, NULL, err) < 0)
			log_err("failed to fail BMC operation id=%" PRId64 ": %s", op->id,
				store_error(st));
	}
	if (o.result != NULL)
		log_info("BMC operation succeeded id=%" PRId64 " bmc=%" PRId64 " kind=%s ms=%" PRId64,
			 op->id, op->bmc_id, op->kind, time_monotonic_ms() - started);
	else
		log_warning("BMC operation failed id=%" PRId64 " bmc=%" PRId64 " kind=%s ms=%"
			    PRId64 ": %s", op->id, op->bmc_id, op->kind,
			    time_monotonic_ms() - started, o.error);
	json_decref(o.result);
	json_decref(o.args);
}
