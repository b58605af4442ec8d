/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Redfish virtual media. The virtual CD sits under a Manager on some BMCs and under
 * the System on others. Insert and eject use the device's InsertMedia and EjectMedia
 * actions where it has them, with the parameters their ActionInfo lists, and a PATCH
 * of Image and Inserted where it does not. Every change is read back.
 */
#include "bmc/bmc-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "util/util.h"

/* The maximum virtual media devices read under one owner. */
#define RF_MEDIA_MAX 64

static int
add_cd(const char *path, const json_t *media, void *arg)
{
	if (rf_media_is_cd(media))
		json_array_append_new(arg, json_string(path));
	return 0;
}

/* Append the CD-capable VirtualMedia members of the collection linked from `owner`. */
static int
media_candidates(struct rf *rf, const json_t *owner, json_t *out, char *err, size_t errlen)
{
	return rf_each_member(rf, rf_link(owner, "VirtualMedia"), RF_MEDIA_MAX, add_cd, out,
			      err, errlen);
}

/* The candidates under the BMC's Managers, in order. */
static int
manager_media(struct rf *rf, json_t *found, char *err, size_t errlen)
{
	const char *managers = rf_link(rf->root, "Managers");
	json_t *list, *path, *owner;
	size_t i;
	int r;

	if (managers == NULL)
		return 0;
	r = rf_members_all(rf, managers, &list, err, errlen);
	if (r < 0)
		return rf_missing(r) ? 0 : r;
	json_array_foreach(list, i, path) {
		if (json_array_size(found) > 0)
			break;
		r = rf_get(rf, json_string_value(path), &owner, err, errlen);
		if (r == 0) {
			r = media_candidates(rf, owner, found, err, errlen);
			json_decref(owner);
		}
		if (r < 0 && !rf_missing(r))
			break;
		r = 0;
	}
	json_decref(list);
	return r;
}

/* The virtual CD: under the first Manager that has one, else under the System. */
static int
media_path(struct rf *rf, char *out, size_t size, char *err, size_t errlen)
{
	json_t *found = json_array(), *owner;
	int r = manager_media(rf, found, err, errlen);

	if (r == 0 && json_array_size(found) == 0) {
		r = rf_system_path(rf, err, errlen);
		if (r == 0)
			r = rf_get(rf, rf->system, &owner, err, errlen);
		if (r == 0) {
			r = media_candidates(rf, owner, found, err, errlen);
			json_decref(owner);
		}
	}
	if ((r == 0 || rf_missing(r)) && json_array_size(found) == 0)
		r = bmc_fail(-EOPNOTSUPP, err, errlen, "%s has no virtual CD under its Managers or "
			     "its System", rf->bmc->target->address);
	else if (r == 0)
		snprintf(out, size, "%s", json_string_value(json_array_get(found, 0)));
	json_decref(found);
	return r;
}

/*
 * The parameters for InsertMedia: with `minimal`, the image alone; otherwise those its
 * ActionInfo lists, or the usual three without an ActionInfo.
 */
static json_t *
insert_body(struct rf *rf, const json_t *action, const char *url, bool minimal)
{
	const char *info_path = json_string_value(json_object_get(action, "@Redfish.ActionInfo"));
	json_t *body = json_pack("{s:s}", "Image", url), *info = NULL;
	char err[BMC_ERR_SIZE];

	if (minimal)
		return body;
	if (info_path != NULL && info_path[0] == '/' &&
	    rf_get(rf, info_path, &info, err, sizeof(err)) == 0) {
		if (rf_action_info_has(info, "Inserted"))
			json_object_set_new(body, "Inserted", json_true());
		if (rf_action_info_has(info, "WriteProtected"))
			json_object_set_new(body, "WriteProtected", json_true());
		if (rf_action_info_has(info, "TransferProtocolType"))
			json_object_set_new(body, "TransferProtocolType", json_string(
				strncmp(url, "https:", 6) == 0 ? "HTTPS" : "HTTP"));
		json_decref(info);
		return body;
	}
	json_object_set_new(body, "Inserted", json_true());
	json_object_set_new(body, "WriteProtected", json_true());
	return body;
}

static int
media_read(struct rf *rf, const char *path, bool *inserted, char *image, size_t size,
	   char *err, size_t errlen)
{
	json_t *media;
	const char *value;
	int r = rf_get(rf, path, &media, err, errlen);

	if (r < 0)
		return r;
	*inserted = json_is_true(json_object_get(media, "Inserted"));
	value = json_string_value(json_object_get(media, "Image"));
	snprintf(image, size, "%s", value != NULL ? value : "");
	json_decref(media);
	return 0;
}

static int
media_eject_at(struct rf *rf, const char *path, char *err, size_t errlen)
{
	json_t *media, *body, *action;
	struct rf_reply reply;
	const char *target;
	char etag[128];
	int r = rf_get_tagged(rf, path, &media, etag, sizeof(etag), err, errlen);

	if (r < 0)
		return r;
	action = json_object_get(json_object_get(media, "Actions"), "#VirtualMedia.EjectMedia");
	target = json_string_value(json_object_get(action, "target"));
	if (target != NULL && target[0] == '/') {
		body = json_object();
		r = rf_post_action(rf, target, body, err, errlen);
	} else {
		body = json_pack("{s:n, s:b}", "Image", "Inserted", 0);
		r = rf_patch(rf, path, body, etag, &reply, err, errlen);
		rf_reply_clear(&reply);
	}
	json_decref(body);
	json_decref(media);
	return r;
}

/* Insert through the device's action, or by a PATCH where it has none. */
static int
media_insert_at(struct rf *rf, const char *path, const char *url, char *err, size_t errlen)
{
	json_t *media, *action, *body;
	struct rf_reply reply;
	const char *target;
	char etag[128];
	int r = rf_get_tagged(rf, path, &media, etag, sizeof(etag), err, errlen);

	if (r < 0)
		return r;
	action = json_object_get(json_object_get(media, "Actions"), "#VirtualMedia.InsertMedia");
	target = json_string_value(json_object_get(action, "target"));
	if (target != NULL && target[0] == '/') {
		body = insert_body(rf, action, url, false);
		r = rf_post_action(rf, target, body, err, errlen);
		/* A BMC that accepts fewer parameters gets the image alone. */
		if (r == -EPROTO && json_object_size(body) > 1) {
			json_decref(body);
			body = insert_body(rf, action, url, true);
			r = rf_post_action(rf, target, body, err, errlen);
		}
	} else {
		body = json_pack("{s:s, s:b}", "Image", url, "Inserted", 1);
		r = rf_patch(rf, path, body, etag, &reply, err, errlen);
		rf_reply_clear(&reply);
	}
	json_decref(body);
	json_decref(media);
	return r;
}

int
rf_media_insert(struct bmc *bmc, const char *url, char *err, size_t errlen)
{
	struct rf *rf = rf_begin(bmc);
	char path[BMC_PATH_SIZE], image[BMC_PATH_SIZE], shown[BMC_PATH_SIZE], seen[BMC_PATH_SIZE];
	bool inserted;
	int r = media_path(rf, path, sizeof(path), err, errlen);

	/* The URL may carry a token (Outpost's own ISOs do), so messages show it redacted. */
	url_redact(url, shown, sizeof(shown));
	if (r == 0)
		r = media_read(rf, path, &inserted, image, sizeof(image), err, errlen);
	/* A BMC refuses to insert over another image; eject that one first. */
	if (r == 0 && inserted)
		r = media_eject_at(rf, path, err, errlen);
	rf->image = url;
	if (r == 0)
		r = media_insert_at(rf, path, url, err, errlen);
	rf->image = NULL;
	if (r == 0)
		r = media_read(rf, path, &inserted, image, sizeof(image), err, errlen);
	if (r == 0 && (!inserted || strcmp(image, url) != 0)) {
		url_redact(image, seen, sizeof(seen));
		r = bmc_fail(-EIO, err, errlen, "the BMC at %s accepted the image %s but reports "
			     "%s", bmc->target->address, shown, inserted ? seen : "no image inserted");
	}
	if (r == 0)
		log_info("bmc: virtual media inserted address=%s media=%s image=%s",
			 bmc->target->address, path, shown);
	return r;
}

int
rf_media_eject(struct bmc *bmc, char *err, size_t errlen)
{
	struct rf *rf = rf_begin(bmc);
	char path[BMC_PATH_SIZE], image[BMC_PATH_SIZE], shown[BMC_PATH_SIZE];
	bool inserted = false;
	int r = media_path(rf, path, sizeof(path), err, errlen);

	if (r == 0)
		r = media_read(rf, path, &inserted, image, sizeof(image), err, errlen);
	if (r == 0 && inserted)
		r = media_eject_at(rf, path, err, errlen);
	if (r == 0)
		r = media_read(rf, path, &inserted, image, sizeof(image), err, errlen);
	if (r == 0 && inserted) {
		url_redact(image, shown, sizeof(shown));
		r = bmc_fail(-EIO, err, errlen, "the BMC at %s accepted the eject but still reports "
			     "%s inserted", bmc->target->address, shown);
	}
	return r;
}

int
rf_media_status(struct bmc *bmc, json_t **ret, char *err, size_t errlen)
{
	struct rf *rf = rf_begin(bmc);
	char path[BMC_PATH_SIZE];
	json_t *media, *types;
	const char *image;
	int r = media_path(rf, path, sizeof(path), err, errlen);

	if (r == 0)
		r = rf_get(rf, path, &media, err, errlen);
	if (r < 0)
		return r;
	image = json_string_value(json_object_get(media, "Image"));
	types = json_object_get(media, "MediaTypes");
	*ret = json_pack("{s:s, s:b, s:o, s:o}", "path", path,
			 "inserted", json_is_true(json_object_get(media, "Inserted")),
			 "image", image != NULL ? json_string(image) : json_null(),
			 "devices", json_is_array(types) ? json_deep_copy(types) : json_array());
	json_decref(media);
	return *ret != NULL ? 0 : bmc_fail(-ENOMEM, err, errlen, "out of memory");
}
