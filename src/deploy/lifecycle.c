/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A deployment's transitions: a phase reached, failed, succeeded. Each is an audited
 * action that writes the deployment and, when it ends, the machine's state in one
 * transaction, after checking that the deployment is still running and is still the
 * machine's newest; a report for anything else is stale and changes nothing.
 */
#include "deploy/deploy-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "governance/governance.h"
#include "log/log.h"
#include "media/media.h"
#include "util/util.h"

/* Phases in the order a deployment reaches them; docs/agent.md describes each. */
static const struct {
	const char *name;
	bool agent;                      /* reported by the agent, else by Outpost */
} phases[] = {
	{ "pending", false },            /* the deploy action */
	{ "ipxe-script", false },        /* the deploy script served */
	{ "ramdisk-up", true },          /* the agent runs; seconds: the kernel's uptime */
	{ "disk-selected", true },       /* the target disk chosen */
	{ "image-written", true },       /* the image streamed, hashed and written */
	{ "image-verified", true },      /* the hash matched the manifest's */
	{ "configured", true },          /* partitions re-read, NoCloud configuration written */
	{ "rebooting", true },           /* about to reboot into the installed system */
	{ "first-boot", false },         /* the installed system fetched its meta-data */
	{ "phone-home", false },         /* cloud-init phoned home */
};

/* The phase's place in the order above, or -1. */
static int
phase_index(const char *phase)
{
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
		if (strcmp(phase, phases[i].name) == 0)
			return (int)i;
	return -1;
}

bool
deploy_phase_known(const char *phase, bool agent)
{
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
		if (strcmp(phase, phases[i].name) == 0)
			return !agent || phases[i].agent;
	return false;
}

void
deploy_sanitise(const char *in, char out[DEPLOY_DETAIL_MAX + 1])
{
	size_t i;

	for (i = 0; in != NULL && in[i] != '\0' && i < DEPLOY_DETAIL_MAX; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
}

enum transition_kind {
	TRANSITION_PHASE,
	TRANSITION_FAIL,
	TRANSITION_SUCCEED,
};

struct transition {
	enum transition_kind kind;
	int64_t id;
	const char *phase;
	double seconds;
	const char *detail;              /* phase detail or failure reason */
	char target[48];
	char audit[2048];                /* the audit entry's detail, JSON */
};

/* Append {"phase", "at_ms", "seconds", "detail"} to d->phases. */
static int
phases_append(struct deployment *d, const struct transition *t)
{
	json_t *list, *entry;
	char *text;

	list = json_loads(d->phases != NULL ? d->phases : "[]", 0, NULL);
	if (!json_is_array(list)) {
		json_decref(list);
		list = json_array();
	}
	entry = json_pack("{s:s, s:I}", "phase", t->phase, "at_ms", (json_int_t)time_now_ms());
	if (list == NULL || entry == NULL) {
		json_decref(list);
		json_decref(entry);
		return -ENOMEM;
	}
	if (t->seconds >= 0)
		json_object_set_new(entry, "seconds", json_real(t->seconds));
	if (t->detail != NULL && t->detail[0] != '\0')
		json_object_set_new(entry, t->kind == TRANSITION_FAIL ? "reason" : "detail",
				    json_string(t->detail));
	json_array_append_new(list, entry);
	text = json_dumps(list, JSON_COMPACT);
	json_decref(list);
	if (text == NULL)
		return -ENOMEM;
	free(d->phases);
	d->phases = text;
	return 0;
}

/* Load deployment t->id and its machine; -ESTALE unless it is running and newest. */
static int
transition_load(struct store *st, const struct transition *t, struct deployment *d,
		struct machine *m, char *err, size_t errlen)
{
	struct deployment current = { 0 };
	int rc;

	rc = store_deployment_get(st, t->id, d);
	if (rc < 0)
		return err_set(rc, err, errlen, "%s", store_error(st));
	rc = store_deployment_current(st, d->machine_id, &current);
	deployment_clear(&current);
	if (rc == 0 && current.id != d->id)
		return err_set(-ESTALE, err, errlen, "deployment %" PRId64 " was replaced by "
			       "deployment %" PRId64, d->id, current.id);
	if (d->state != DEPLOYMENT_RUNNING)
		return err_set(-ESTALE, err, errlen, "deployment %" PRId64 " has already %s",
			       d->id, deployment_state_name(d->state));
	rc = store_machine_get(st, d->machine_id, m);
	if (rc < 0)
		return err_set(rc, err, errlen, "%s", store_error(st));
	if (m->state != MACHINE_DEPLOYING)
		return err_set(-ESTALE, err, errlen, "machine %" PRId64 " is %s, not deploying",
			       m->id, machine_state_name(m->state));
	return 0;
}

/* How many times `phase` appears in the deployment's phases. */
static int
phase_count(const json_t *list, const char *phase)
{
	const json_t *entry;
	size_t i;
	int count = 0;

	json_array_foreach(list, i, entry) {
		const char *name = json_string_value(json_object_get(entry, "phase"));

		if (name != NULL && strcmp(name, phase) == 0)
			count++;
	}
	return count;
}

/*
 * Check that a report moves the deployment forward. Phases only advance, except that
 * a new run of the ramdisk (a reboot before the image was written) reports ramdisk-up
 * again, which ends the deployment after DEPLOY_MAX_RUNS runs (-ELOOP). A phone-home
 * needs the image written. Returns 0 or -ESTALE / -ELOOP with err set.
 */
static int
transition_check(const struct deployment *d, const struct transition *t, char *err,
		 size_t errlen)
{
	json_t *list = json_loads(d->phases != NULL ? d->phases : "[]", 0, NULL);
	size_t count = json_array_size(list);
	int runs = phase_count(list, "ramdisk-up");

	json_decref(list);
	if (t->kind == TRANSITION_SUCCEED && !d->image_written)
		return err_set(-ESTALE, err, errlen, "deployment %" PRId64 " cannot phone home "
			       "in phase %s: the image is not written yet", d->id, d->phase);
	if (t->kind != TRANSITION_PHASE)
		return 0;
	if (count >= DEPLOY_PHASES_MAX)
		return err_set(-ESTALE, err, errlen, "deployment %" PRId64 " already has %zu "
			       "phases", d->id, count);
	if (strcmp(t->phase, "ramdisk-up") == 0 && !d->image_written && runs > 0) {
		if (runs >= DEPLOY_MAX_RUNS)
			return err_set(-ELOOP, err, errlen, "the deploy ramdisk started %d times "
				       "without writing the image; read the server's console", runs + 1);
		return 0;
	}
	if (phase_index(t->phase) <= phase_index(d->phase))
		return err_set(-ESTALE, err, errlen, "phase %s does not follow phase %s of "
			       "deployment %" PRId64, t->phase, d->phase, d->id);
	return 0;
}

static int
transition_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct transition *t = arg;
	struct deployment d = { 0 };
	struct machine m = { 0 };
	int rc;

	rc = transition_load(st, t, &d, &m, err, errlen);
	if (rc == 0)
		rc = transition_check(&d, t, err, errlen);
	if (rc < 0)
		goto done;
	snprintf(t->target, sizeof(t->target), "machine:%" PRId64, m.id);
	rc = phases_append(&d, t);
	if (rc < 0)
		goto done;
	snprintf(d.phase, sizeof(d.phase), "%s", t->phase);
	if (strcmp(t->phase, "rebooting") == 0)
		d.image_written = true;
	if (t->kind != TRANSITION_PHASE) {
		d.state = t->kind == TRANSITION_FAIL ? DEPLOYMENT_FAILED : DEPLOYMENT_SUCCEEDED;
		d.finished_at = time_now();
		if (t->kind == TRANSITION_FAIL)
			snprintf(d.reason, sizeof(d.reason), "%s", t->detail);
	}
	rc = store_deployment_update(st, &d);
	if (rc == 0 && t->kind != TRANSITION_PHASE) {
		m.state = t->kind == TRANSITION_FAIL ? MACHINE_FAILED : MACHINE_DEPLOYED;
		rc = store_machine_update(st, &m);
	}
	if (rc < 0)
		err_set(rc, err, errlen, "%s", store_error(st));
done:
	deployment_clear(&d);
	machine_clear(&m);
	return rc;
}

/* Run transition t as an audited action by `actor`. */
static int
transition_run(struct store *st, const char *actor, const char *name, struct transition *t,
	       char *err, size_t errlen)
{
	struct action a = { .actor = actor, .name = name, .target = t->target,
			    .risk = RISK_CHANGE, .detail = t->audit };
	json_t *detail;
	char *text;

	snprintf(t->target, sizeof(t->target), "deployment:%" PRId64, t->id);
	detail = json_pack("{s:I, s:s}", "deployment", (json_int_t)t->id, "phase", t->phase);
	if (detail != NULL && t->seconds >= 0)
		json_object_set_new(detail, "seconds", json_real(t->seconds));
	if (detail != NULL && t->detail != NULL && t->detail[0] != '\0')
		json_object_set_new(detail, t->kind == TRANSITION_FAIL ? "reason" : "detail",
				    json_string(t->detail));
	text = detail != NULL ? json_dumps(detail, JSON_COMPACT) : NULL;
	json_decref(detail);
	snprintf(t->audit, sizeof(t->audit), "%s", text != NULL && strlen(text) < sizeof(t->audit) ?
		 text : "{}");
	free(text);
	return gov_execute(st, &a, transition_op, t, err, errlen);
}

/* The machine of a transition, from its audit target "machine:ID". */
static int64_t
machine_of(const struct transition *t)
{
	return strncmp(t->target, "machine:", 8) == 0 ? strtoll(t->target + 8, NULL, 10) : 0;
}

int
deploy_phase_record(struct deploy *dp, struct store *st, const char *actor, int64_t id,
		    const struct phase_report *report, char *err, size_t errlen)
{
	struct transition t = { .kind = TRANSITION_PHASE, .id = id, .phase = report->phase,
				.seconds = report->seconds, .detail = report->detail };
	int rc;

	rc = transition_run(st, actor, "deployment.phase", &t, err, errlen);
	if (rc == 0)
		log_info("deploy: deployment=%" PRId64 " %s phase=%s seconds=%.3f", id, t.target,
			 report->phase, report->seconds);
	/*
	 * With the image written, a virtual-media ISO has done its work. Without it, a BMC
	 * that still has the CD inserted fails to read it, and the server boots its disk.
	 */
	if (rc == 0 && strcmp(report->phase, "rebooting") == 0 && media_remove(dp->media, id) &&
	    dp->media_done != NULL)
		dp->media_done(dp->media_done_ctx, st, machine_of(&t), id);
	/* A ramdisk that keeps restarting ends the deployment instead of looping. */
	if (rc == -ELOOP) {
		char reason[DEPLOY_DETAIL_MAX + 1];

		snprintf(reason, sizeof(reason), "%s", err);
		rc = deploy_fail(dp, st, actor, id, "ramdisk-up", reason, err, errlen);
		if (rc == 0)
			rc = err_set(-ESTALE, err, errlen, "%s", reason);
	}
	return rc;
}

int
deploy_fail(struct deploy *dp, struct store *st, const char *actor, int64_t id,
	    const char *phase, const char *reason, char *err, size_t errlen)
{
	struct transition t = { .kind = TRANSITION_FAIL, .id = id, .phase = phase,
				.seconds = -1, .detail = reason };
	int rc;

	rc = transition_run(st, actor, "machine.deploy_failed", &t, err, errlen);
	if (rc == 0) {
		log_warning("deploy: deployment=%" PRId64 " %s failed in phase=%s: %s", id,
			    t.target, phase, reason);
		media_remove(dp->media, id);
	}
	return rc;
}

int
deploy_succeed(struct deploy *dp, struct store *st, const char *actor, int64_t id,
	       char *err, size_t errlen)
{
	struct transition t = { .kind = TRANSITION_SUCCEED, .id = id, .phase = "phone-home",
				.seconds = -1 };
	int rc;

	rc = transition_run(st, actor, "machine.deployed", &t, err, errlen);
	if (rc == 0) {
		log_info("deploy: deployment=%" PRId64 " %s succeeded, machine deployed", id,
			 t.target);
		media_remove(dp->media, id);
	}
	return rc;
}

