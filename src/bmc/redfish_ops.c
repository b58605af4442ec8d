/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Redfish driver's operations. Real BMCs differ, so each operation reads what the
 * BMC advertises before it acts. Reset types come from the allowable values or the
 * ActionInfo, and action parameters from the ActionInfo. Virtual media may sit under a
 * Manager or under the System. The boot override mode is sent only where the BMC shows
 * it. A PATCH the BMC accepted is read back, because some accept a change they do not
 * apply. BMCs that apply settings at the next reset show this in @Redfish.Settings.
 */
#include "bmc/bmc-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "util/util.h"

/* Bounds on what one collection may hold, and the task polling interval. */
#define RF_PAGES_MAX 64
#define RF_MEMBERS_MAX 4096
#define RF_TASK_POLL_MS 1000

struct rf *
rf_begin(struct bmc *bmc)
{
	struct rf *rf = bmc->driver;
	int timeout = bmc->target->timeout_ms > 0 ? bmc->target->timeout_ms : 30000;

	rf->deadline_ms = bmc_now_ms() + timeout;
	return rf;
}

bool
rf_missing(int r)
{
	return r == -ENOENT || r == -EOPNOTSUPP;
}

int
rf_members_all(struct rf *rf, const char *path, json_t **ret, char *err, size_t errlen)
{
	char next[BMC_PATH_SIZE];
	json_t *out = json_array();
	int r = 0;

	snprintf(next, sizeof(next), "%s", path);
	for (int page = 0; r == 0 && next[0] != '\0'; page++) {
		json_t *collection;
		const char *link;

		if (page == RF_PAGES_MAX) {
			r = bmc_fail(-E2BIG, err, errlen, "the collection %s on %s has more than %d "
				     "pages", path, rf->bmc->target->address, RF_PAGES_MAX);
			break;
		}
		r = rf_get(rf, next, &collection, err, errlen);
		if (r < 0)
			break;
		if (rf_members(collection, out) < 0)
			r = bmc_fail(-EPROTO, err, errlen, "%s on %s is not a collection: it has no "
				     "Members", next, rf->bmc->target->address);
		else if (json_array_size(out) > RF_MEMBERS_MAX)
			r = bmc_fail(-E2BIG, err, errlen, "the collection %s on %s has more than %d "
				     "members", path, rf->bmc->target->address, RF_MEMBERS_MAX);
		link = rf_next_link(collection);
		snprintf(next, sizeof(next), "%s", link != NULL ? link : "");
		json_decref(collection);
	}
	if (r < 0) {
		json_decref(out);
		return r;
	}
	*ret = out;
	return 0;
}

int
rf_each_member(struct rf *rf, const char *link, size_t max, rf_member_fn fn, void *arg,
	       char *err, size_t errlen)
{
	json_t *list, *path;
	size_t i;
	int r;

	if (link == NULL)
		return 0;
	r = rf_members_all(rf, link, &list, err, errlen);
	if (r < 0)
		return rf_missing(r) ? 0 : r;
	json_array_foreach(list, i, path) {
		json_t *item = NULL;

		if (i >= max)
			break;
		r = rf_get(rf, json_string_value(path), &item, err, errlen);
		if (r == 0)
			r = fn(json_string_value(path), item, arg);
		json_decref(item);
		if (r < 0 && !rf_missing(r))
			break;
		r = 0;
	}
	json_decref(list);
	return r;
}

int
rf_system_path(struct rf *rf, char *err, size_t errlen)
{
	const char *systems = rf_link(rf->root, "Systems");
	json_t *list;
	int r;

	if (rf->system[0] != '\0')
		return 0;
	if (systems == NULL)
		return bmc_fail(-EOPNOTSUPP, err, errlen, "the service root of %s has no Systems "
				"link on its own service", rf->bmc->target->address);
	r = rf_members_all(rf, systems, &list, err, errlen);
	if (r < 0)
		return r;
	if (json_array_size(list) == 0)
		r = bmc_fail(-ENOENT, err, errlen, "%s lists no system", rf->bmc->target->address);
	else
		snprintf(rf->system, sizeof(rf->system), "%s",
			 json_string_value(json_array_get(list, 0)));
	json_decref(list);
	return r;
}

int
rf_get_tagged(struct rf *rf, const char *path, json_t **ret, char *etag, size_t size, char *err,
	   size_t errlen)
{
	struct rf_reply reply;
	int r = rf_call(rf, "GET", path, NULL, NULL, &reply, err, errlen);

	if (r == 0 && !json_is_object(reply.body))
		r = bmc_fail(-EPROTO, err, errlen, "GET %s on %s: the reply is not a JSON object",
			     path, rf->bmc->target->address);
	if (r == 0) {
		const char *body_tag = json_string_value(json_object_get(reply.body, "@odata.etag"));

		snprintf(etag, size, "%s", reply.etag[0] != '\0' ? reply.etag
					   : body_tag != NULL ? body_tag : "");
		/* The tag goes into a header: one with control characters is dropped. */
		for (const char *p = etag; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				etag[0] = '\0';
		*ret = reply.body;
		reply.body = NULL;
	}
	rf_reply_clear(&reply);
	return r;
}

/*
 * Wait for what a request started: a 202 with a task monitor in Location, or a Task in
 * the body. A 202 without either means the BMC accepted the action and gives no way
 * to follow it; any other success means the action is done.
 */
static int
task_wait(struct rf *rf, struct rf_reply *started, char *err, size_t errlen)
{
	const char *monitor = rf_location_path(started->location);
	char path[BMC_PATH_SIZE], message[256] = "";

	if (started->status != 202)
		return 0;
	if (monitor == NULL && started->location[0] != '\0')
		return bmc_fail(-EPROTO, err, errlen, "%s started a task at a location that cannot "
				"be followed", rf->bmc->target->address);
	if (monitor == NULL && json_object_get(started->body, "TaskState") != NULL)
		monitor = rf_odata_id(started->body);
	if (monitor == NULL) {
		log_info("bmc: %s accepted an action without a task to follow",
			 rf->bmc->target->address);
		return 0;
	}
	snprintf(path, sizeof(path), "%s", monitor);
	for (;;) {
		struct rf_reply reply;
		enum rf_task state = RF_TASK_RUNNING;
		int r = rf_call(rf, "GET", path, NULL, NULL, &reply, err, errlen);
		int64_t wait, left;

		if (r < 0) {
			rf_reply_clear(&reply);
			return r;
		}
		if (reply.status != 202)
			state = json_object_get(reply.body, "TaskState") != NULL ?
				rf_task_state(reply.body, message, sizeof(message)) : RF_TASK_DONE;
		wait = reply.retry_after_s > 0 ? (int64_t)reply.retry_after_s * 1000 : RF_TASK_POLL_MS;
		rf_reply_clear(&reply);
		if (state == RF_TASK_DONE)
			return 0;
		if (state == RF_TASK_FAILED)
			return bmc_fail(-EIO, err, errlen, "the task %s on %s failed: %s", path,
					rf->bmc->target->address, message[0] != '\0' ? message
					: "no message");
		left = rf->deadline_ms - bmc_now_ms();
		if (wait >= left)
			break;
		if (!bmc_wait(rf->bmc->target, wait))
			return bmc_fail(-ECANCELED, err, errlen, "stopped following the task %s on "
					"%s: the operation was cancelled", path,
					rf->bmc->target->address);
	}
	return bmc_fail(-ETIMEDOUT, err, errlen, "the task %s on %s did not finish in time%s%s",
			path, rf->bmc->target->address, message[0] != '\0' ? "; last message: " : "",
			message);
}

int
rf_post_action(struct rf *rf, const char *target, json_t *body, char *err, size_t errlen)
{
	struct rf_reply reply;
	int r = rf_call(rf, "POST", target, body, NULL, &reply, err, errlen);

	if (r == 0)
		r = task_wait(rf, &reply, err, errlen);
	rf_reply_clear(&reply);
	return r;
}

static int
rf_power_state(struct bmc *bmc, char *state, size_t size, char *err, size_t errlen)
{
	struct rf *rf = rf_begin(bmc);
	json_t *system;
	int r = rf_system_path(rf, err, errlen);

	if (r == 0)
		r = rf_get(rf, rf->system, &system, err, errlen);
	if (r < 0)
		return r;
	snprintf(state, size, "%s", rf_power_name(json_string_value(json_object_get(system,
									      "PowerState"))));
	json_decref(system);
	return 0;
}

/* The reset types the system's Reset action takes, from its values or its ActionInfo. */
static int
reset_action(struct rf *rf, const json_t *system, const char **target, unsigned *mask,
	     char *err, size_t errlen)
{
	json_t *action = json_object_get(json_object_get(system, "Actions"), "#ComputerSystem.Reset");
	const char *info_path = json_string_value(json_object_get(action, "@Redfish.ActionInfo"));
	json_t *info;

	*target = json_string_value(json_object_get(action, "target"));
	if (*target == NULL || (*target)[0] != '/')
		return bmc_fail(-EOPNOTSUPP, err, errlen, "the system %s on %s has no "
				"ComputerSystem.Reset action", rf->system, rf->bmc->target->address);
	*mask = rf_reset_types(action);
	if (*mask != 0 || info_path == NULL || info_path[0] != '/')
		return 0;
	if (rf_get(rf, info_path, &info, err, errlen) == 0) {
		*mask = rf_action_info_values(info, "ResetType");
		json_decref(info);
	}
	return 0;
}

static int
reset(struct rf *rf, const char *target, const char *type, char *err, size_t errlen)
{
	json_t *body = json_pack("{s:s}", "ResetType", type);
	int r = rf_post_action(rf, target, body, err, errlen);

	json_decref(body);
	if (r == 0)
		log_info("bmc: reset address=%s system=%s type=%s", rf->bmc->target->address,
			 rf->system, type);
	return r;
}

static int
rf_power_set(struct bmc *bmc, enum bmc_power action, char *err, size_t errlen)
{
	struct rf *rf = rf_begin(bmc);
	const char *target, *type;
	char path[BMC_PATH_SIZE];
	json_t *system;
	unsigned mask = 0;
	int r = rf_system_path(rf, err, errlen);

	if (r == 0)
		r = rf_get(rf, rf->system, &system, err, errlen);
	if (r < 0)
		return r;
	r = reset_action(rf, system, &target, &mask, err, errlen);
	if (r == 0)
		snprintf(path, sizeof(path), "%s", target);
	json_decref(system);
	if (r < 0)
		return r;

	type = rf_reset_name(mask, action);
	if (type != NULL)
		return reset(rf, path, type, err, errlen);
	/* No PowerCycle: off, then on, where the BMC offers both. */
	if (action == BMC_POWER_CYCLE && rf_reset_name(mask, BMC_POWER_OFF) != NULL &&
	    rf_reset_name(mask, BMC_POWER_ON) != NULL) {
		r = reset(rf, path, rf_reset_name(mask, BMC_POWER_OFF), err, errlen);
		return r < 0 ? r : reset(rf, path, rf_reset_name(mask, BMC_POWER_ON), err, errlen);
	}
	return bmc_fail(-EOPNOTSUPP, err, errlen, "the BMC at %s offers no reset type for power "
			"%s", bmc->target->address, bmc_power_name(action));
}

/* BMCs disagree on quoting ETags, so a 412 gets one more try with the other form. */
int
rf_patch(struct rf *rf, const char *path, json_t *body, const char *etag, struct rf_reply *reply,
      char *err, size_t errlen)
{
	char other[sizeof(reply->etag) + 2];
	int r = rf_call(rf, "PATCH", path, body, etag, reply, err, errlen);

	if (r == -ESTALE && etag[0] != '\0') {
		rf_reply_clear(reply);
		rf_etag_other_form(etag, other, sizeof(other));
		r = rf_call(rf, "PATCH", path, body, other, reply, err, errlen);
	}
	if (r == 0)
		r = task_wait(rf, reply, err, errlen);
	return r;
}

/* PATCH a boot override to `path`, without the mode when the BMC rejects that property. */
static int
boot_patch_send(struct rf *rf, const char *path, const json_t *boot, const char *etag,
		enum bmc_boot_device device, enum bmc_boot_mode mode, json_t **sent, char *err,
		size_t errlen)
{
	struct rf_reply reply;
	json_t *body;
	int r = rf_boot_patch(boot, device, mode, true, &body, err, errlen);

	if (r < 0)
		return r;
	r = rf_patch(rf, path, body, etag, &reply, err, errlen);
	if (r == -EPROTO && (rf_error_is(reply.body, ".PropertyUnknown") ||
			     rf_error_is(reply.body, ".PropertyNotWritable") ||
			     rf_error_is(reply.body, ".PropertyValueNotInList")) &&
	    json_object_get(json_object_get(body, "Boot"), "BootSourceOverrideMode") != NULL) {
		log_info("bmc: %s rejected BootSourceOverrideMode, sending the override without it",
			 rf->bmc->target->address);
		rf_reply_clear(&reply);
		json_decref(body);
		r = rf_boot_patch(boot, device, mode, false, &body, err, errlen);
		if (r < 0)
			return r;
		r = rf_patch(rf, path, body, etag, &reply, err, errlen);
	}
	rf_reply_clear(&reply);
	if (r < 0) {
		json_decref(body);
		return r;
	}
	*sent = body;
	return 0;
}

/* Read `path` back and check that its Boot object has what `sent` set. */
static int
boot_read_back(struct rf *rf, const char *path, json_t *sent, bool *matches, char *err,
	       size_t errlen)
{
	json_t *now;
	int r = rf_get(rf, path, &now, err, errlen);

	if (r == 0) {
		*matches = rf_boot_matches(json_object_get(now, "Boot"), sent);
		json_decref(now);
	}
	return r;
}

static int
rf_boot_once(struct bmc *bmc, enum bmc_boot_device device, enum bmc_boot_mode mode,
	     char *err, size_t errlen)
{
	struct rf *rf = rf_begin(bmc);
	char etag[128], settings[BMC_PATH_SIZE] = "";
	json_t *system, *sent = NULL;
	bool matches = false;
	const char *link;
	int r = rf_system_path(rf, err, errlen);

	if (r == 0)
		r = rf_get_tagged(rf, rf->system, &system, etag, sizeof(etag), err, errlen);
	if (r < 0)
		return r;
	link = rf_odata_id(json_object_get(json_object_get(system, "@Redfish.Settings"),
					   "SettingsObject"));
	snprintf(settings, sizeof(settings), "%s", link != NULL ? link : "");
	r = boot_patch_send(rf, rf->system, json_object_get(system, "Boot"), etag, device, mode,
			    &sent, err, errlen);
	if (r == 0)
		r = boot_read_back(rf, rf->system, sent, &matches, err, errlen);
	/* Accepted but not applied: such BMCs take the change through their settings object. */
	if (r == 0 && !matches && settings[0] != '\0') {
		json_t *pending;

		log_info("bmc: %s did not apply the boot override directly, using %s",
			 bmc->target->address, settings);
		json_decref(sent);
		sent = NULL;
		r = rf_get_tagged(rf, settings, &pending, etag, sizeof(etag), err, errlen);
		if (r == 0) {
			r = boot_patch_send(rf, settings, json_object_get(system, "Boot"), etag,
					    device, mode, &sent, err, errlen);
			json_decref(pending);
		}
		if (r == 0)
			r = boot_read_back(rf, settings, sent, &matches, err, errlen);
	}
	if (r == 0 && !matches)
		r = bmc_fail(-EIO, err, errlen, "the BMC at %s accepted the boot override to %s but "
			     "did not apply it (read back differs)", bmc->target->address,
			     bmc_boot_device_name(device));
	if (r == 0)
		log_info("bmc: boot override set address=%s device=%s mode=%s", bmc->target->address,
			 bmc_boot_device_name(device), bmc_boot_mode_name(mode));
	json_decref(sent);
	json_decref(system);
	return r;
}

static int
rf_firmware_update(struct bmc *bmc, const char *url, char *err, size_t errlen)
{
	struct rf *rf = rf_begin(bmc);
	const char *service = rf_link(rf->root, "UpdateService"), *target, *info_path;
	json_t *update, *action, *body, *info;
	int r;

	if (service == NULL)
		return bmc_fail(-EOPNOTSUPP, err, errlen, "%s has no UpdateService",
				bmc->target->address);
	r = rf_get(rf, service, &update, err, errlen);
	if (r < 0)
		return r;
	action = json_object_get(json_object_get(update, "Actions"), "#UpdateService.SimpleUpdate");
	target = json_string_value(json_object_get(action, "target"));
	if (target == NULL || target[0] != '/') {
		json_decref(update);
		return bmc_fail(-EOPNOTSUPP, err, errlen, "the UpdateService of %s has no "
				"SimpleUpdate action", bmc->target->address);
	}
	body = json_pack("{s:s}", "ImageURI", url);
	/* TransferProtocol only where the ActionInfo lists it: others reject it. */
	info_path = json_string_value(json_object_get(action, "@Redfish.ActionInfo"));
	if (info_path != NULL && info_path[0] == '/' &&
	    rf_get(rf, info_path, &info, err, errlen) == 0) {
		if (rf_action_info_has(info, "TransferProtocol"))
			json_object_set_new(body, "TransferProtocol", json_string(
				strncmp(url, "https:", 6) == 0 ? "HTTPS" : "HTTP"));
		json_decref(info);
	}
	r = rf_post_action(rf, target, body, err, errlen);
	if (r == 0) {
		char shown[BMC_PATH_SIZE];

		url_redact(url, shown, sizeof(shown));
		log_info("bmc: firmware update finished address=%s image=%s", bmc->target->address,
			 shown);
	}
	json_decref(body);
	json_decref(update);
	return r;
}

static void
rf_close_ops(struct bmc *bmc)
{
	rf_detach(bmc);
}

const struct bmc_ops rf_ops = {
	.name = "redfish",
	.close = rf_close_ops,
	.power_state = rf_power_state,
	.power_set = rf_power_set,
	.boot_once = rf_boot_once,
	.media_insert = rf_media_insert,
	.media_eject = rf_media_eject,
	.media_status = rf_media_status,
	.inventory = rf_inventory,
	.sensors = rf_sensors,
	.events = rf_events,
	.firmware_update = rf_firmware_update,
};
