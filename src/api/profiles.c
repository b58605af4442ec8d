/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /api/v1/profiles: deployment profiles, each naming the disk image, deploy kernel
 * and initrd, extra kernel arguments and the configuration templates a machine gets.
 * A profile is addressed by its name, which never changes.
 */
#include "api/api-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"

static const char *const create_fields[] = {
	"name", "image", "kernel", "initrd", "cmdline", "templates", NULL,
};
static const char *const patch_fields[] = {
	"image", "kernel", "initrd", "cmdline", "templates", NULL,
};
static const char *const readonly_fields[] = {
	"id", "created_at", "updated_at", NULL,
};

/* Body validation. */

void
api_profile_patch_clear(struct api_profile_patch *p)
{
	free(p->templates);
	memset(p, 0, sizeof(*p));
}

/*
 * An artifact reference: a path under the artifact store that the boot listener serves
 * at /files/<path>, so it must pass the listener's own check. Null clears the field
 * unless `required`: a deploy kernel and initrd are needed for every deployment.
 */
static int
parse_reference(const json_t *obj, const char *key, bool required, char *out, unsigned bit,
		struct api_profile_patch *p, struct api_error *e)
{
	char quoted[API_QUOTE_MAX + 4];
	int found;

	found = api_json_string(obj, key, STORE_PATH_SIZE - 1, out, STORE_PATH_SIZE, e);
	if (found < 0)
		return found;
	if (found == API_FIELD_ABSENT)
		return 0;

	if (found == API_FIELD_NULL && required)
		return api_fail(e, 400, "invalid_field",
				"field \"%s\" cannot be null: every deployment boots it; give "
				"an artifact reference instead", key);
	if (found == API_FIELD_VALUE && http_path_check(out) < 0) {
		api_quote(out, quoted, sizeof(quoted));
		out[0] = '\0';
		return api_fail(e, 400, "invalid_field",
				"field \"%s\" value \"%s\" is not an artifact reference: use a "
				"relative path in the artifact store, made of components of "
				"letters, digits, '.', '_' and '-' that do not start with '.'",
				key, quoted);
	}
	p->fields |= bit;
	return 0;
}

/*
 * "cmdline": extra kernel arguments, which the deploy script puts into an iPXE command
 * line, so cmdline_check limits them to what iPXE passes on as plain text.
 */
static int
parse_cmdline(const json_t *obj, struct api_profile_patch *p, struct api_error *e)
{
	size_t offset;
	unsigned char c;
	int found;

	found = api_json_string(obj, "cmdline", STORE_CMDLINE_SIZE - 1, p->cmdline,
				sizeof(p->cmdline), e);
	if (found < 0)
		return found;
	if (found == API_FIELD_ABSENT)
		return 0;

	if (cmdline_check(p->cmdline, &offset) < 0) {
		c = (unsigned char)p->cmdline[offset];
		p->cmdline[0] = '\0';
		if (c == ';')
			return api_fail(e, 400, "invalid_field",
					"field \"cmdline\" has \";\" as a word of its own at "
					"byte %zu, which iPXE runs as a command separator; join "
					"it to the argument it belongs to", offset);
		if (c > 0x20 && c < 0x7f)
			return api_fail(e, 400, "invalid_field",
					"field \"cmdline\" contains character 0x%02x ('%c') at "
					"byte %zu; use kernel arguments separated by spaces, made "
					"of letters, digits and . _ , : = / + @ %% ~ ; -", c, c,
					offset);
		return api_fail(e, 400, "invalid_field",
				"field \"cmdline\" contains character 0x%02x at byte %zu; use "
				"kernel arguments separated by spaces, made of letters, digits and "
				". _ , : = / + @ %% ~ ; -", c, offset);
	}
	p->fields |= API_PF_CMDLINE;
	return 0;
}

/* "templates": an object of template name to template text, or null. */
static int
parse_templates(const json_t *obj, struct api_profile_patch *p, struct api_error *e)
{
	json_t *templates = json_object_get(obj, "templates");
	char quoted[API_QUOTE_MAX + 4];
	const char *key;
	json_t *value;
	int found;

	if (json_is_object(templates)) {
		json_object_foreach(templates, key, value) {
			if (json_is_string(value))
				continue;
			api_quote(key, quoted, sizeof(quoted));
			return api_fail(e, 400, "invalid_field",
					"field \"templates\" member \"%s\" must be a string of "
					"template text", quoted);
		}
	}

	found = api_json_object_text(obj, "templates", API_JSON_OBJECT_MAX, &p->templates, e);
	if (found < 0)
		return found;
	if (found != API_FIELD_ABSENT)
		p->fields |= API_PF_TEMPLATES;
	return 0;
}

static int
parse_profile_fields(json_t *obj, bool create, struct api_profile_patch *p,
		     struct api_error *e)
{
	char quoted[API_QUOTE_MAX + 4];
	const json_t *name;
	int rc;

	if (create) {
		name = json_object_get(obj, "name");
		if (name == NULL)
			return api_fail(e, 400, "missing_field",
					"field \"name\" is required: 1 to 64 of a-z, 0-9, '.', '_' "
					"and '-'");
		if (!json_is_string(name))
			return api_fail(e, 400, "invalid_field", "field \"name\" must be a string");
		if (!api_profile_name_valid(json_string_value(name))) {
			api_quote(json_string_value(name), quoted, sizeof(quoted));
			return api_fail(e, 400, "invalid_field",
					"field \"name\" value \"%s\" is not a profile name: use 1 to "
					"64 of a-z, 0-9, '.', '_' and '-', starting with a letter or "
					"digit", quoted);
		}
		snprintf(p->name, sizeof(p->name), "%s", json_string_value(name));
		p->fields |= API_PF_NAME;
	}

	rc = parse_reference(obj, "image", false, p->image, API_PF_IMAGE, p, e);
	if (rc == 0)
		rc = parse_reference(obj, "kernel", true, p->kernel, API_PF_KERNEL, p, e);
	if (rc == 0)
		rc = parse_reference(obj, "initrd", true, p->initrd, API_PF_INITRD, p, e);
	if (rc == 0)
		rc = parse_cmdline(obj, p, e);
	if (rc < 0)
		return rc;

	return parse_templates(obj, p, e);
}

int
api_profile_body_parse(const char *body, size_t len, bool create,
		       struct api_profile_patch *ret, struct api_error *e)
{
	json_t *obj;
	int rc;

	memset(ret, 0, sizeof(*ret));
	rc = api_json_object(body, len, false, &obj, e);
	if (rc < 0)
		return rc;

	if (!create && json_object_get(obj, "name") != NULL)
		rc = api_fail(e, 400, "invalid_field",
			      "field \"name\" cannot be patched; create a profile with the new "
			      "name and assign it to the machines");
	if (rc == 0)
		rc = api_json_keys(obj, create ? create_fields : patch_fields, readonly_fields, e);
	if (rc == 0)
		rc = parse_profile_fields(obj, create, ret, e);
	/* A profile without a deploy kernel and initrd could never boot a deployment. */
	if (rc == 0 && create && !(ret->fields & API_PF_KERNEL))
		rc = api_fail(e, 400, "missing_field",
			      "field \"kernel\" is required: the artifact reference of the deploy kernel");
	if (rc == 0 && create && !(ret->fields & API_PF_INITRD))
		rc = api_fail(e, 400, "missing_field",
			      "field \"initrd\" is required: the artifact reference of the deploy initrd");
	json_decref(obj);

	if (rc < 0)
		api_profile_patch_clear(ret);
	return rc;
}

/* Write the patch's fields into `p`. Returns 0 or -ENOMEM. */
static int
profile_patch_apply(const struct api_profile_patch *patch, struct profile *p)
{
	if (patch->fields & API_PF_NAME)
		memcpy(p->name, patch->name, sizeof(p->name));
	if (patch->fields & API_PF_IMAGE)
		memcpy(p->image, patch->image, sizeof(p->image));
	if (patch->fields & API_PF_KERNEL)
		memcpy(p->kernel, patch->kernel, sizeof(p->kernel));
	if (patch->fields & API_PF_INITRD)
		memcpy(p->initrd, patch->initrd, sizeof(p->initrd));
	if (patch->fields & API_PF_CMDLINE)
		memcpy(p->cmdline, patch->cmdline, sizeof(p->cmdline));

	if (patch->fields & API_PF_TEMPLATES) {
		char *copy = NULL;

		if (patch->templates != NULL) {
			copy = strdup(patch->templates);
			if (copy == NULL)
				return -ENOMEM;
		}
		free(p->templates);
		p->templates = copy;
	}
	return 0;
}

/* Encoding and lookup. */

static json_t *
profile_json(const struct profile *p)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}",
			 "id", (json_int_t)p->id,
			 "name", p->name,
			 "image", p->image,
			 "kernel", p->kernel,
			 "initrd", p->initrd,
			 "cmdline", p->cmdline,
			 "templates", api_json_from_text(p->templates, "profile templates"),
			 "created_at", api_json_time(p->created_at),
			 "updated_at", api_json_time(p->updated_at));
}

/* Load the profile the route's {name} names, replying on failure. Returns 0 or < 0. */
static int
profile_from_path(struct api_call *call, struct profile *p)
{
	const char *name = call->params[0];
	char quoted[API_QUOTE_MAX + 4];
	int rc;

	api_quote(name, quoted, sizeof(quoted));
	if (!api_profile_name_valid(name)) {
		http_reply_error(call->req, 400, "invalid_field",
				 "\"%s\" is not a profile name: use 1 to 64 of a-z, 0-9, '.', '_' "
				 "and '-'", quoted);
		return -EINVAL;
	}

	rc = store_profile_get_by_name(call->st, name, p);
	if (rc == -ENOENT)
		http_reply_error(call->req, 404, "not_found", "profile \"%s\" not found", quoted);
	else if (rc < 0)
		api_reply_errno(call, rc, NULL, "profile lookup");
	return rc;
}

/* GET /profiles */

static int
list_add(const struct profile *p, void *arg)
{
	return json_array_append_new(arg, profile_json(p)) < 0 ? -ENOMEM : 0;
}

void
api_profiles_list(struct api_call *call)
{
	static const char *const params[] = { NULL };
	struct api_error e;
	json_t *items;
	int rc;

	if (api_query_keys(call, params, &e) < 0) {
		api_reply_error(call, &e);
		return;
	}

	items = json_array();
	if (items == NULL) {
		api_reply_json(call, 200, NULL);
		return;
	}
	rc = store_profile_list(call->st, list_add, items);
	if (rc < 0) {
		json_decref(items);
		api_reply_errno(call, rc, NULL, "profile list");
		return;
	}
	api_reply_json(call, 200, json_pack("{s:o}", "items", items));
}

/* POST /profiles */

struct create_args {
	const struct api_profile_patch *patch;
	struct profile profile;
};

static int
create_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct create_args *args = arg;
	int rc;

	rc = profile_patch_apply(args->patch, &args->profile);
	if (rc < 0)
		return rc;
	rc = store_profile_insert(st, &args->profile);
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);
	return 0;
}

void
api_profiles_create(struct api_call *call)
{
	struct api_profile_patch patch;
	struct create_args args = { .patch = &patch };
	char err[API_DETAIL_SIZE], target[API_TARGET_SIZE], location[128];
	struct api_error e;
	const char *body;
	size_t len;
	int rc;

	rc = api_request_body(call, &body, &len, &e);
	if (rc == 0)
		rc = api_profile_body_parse(body, len, true, &patch, &e);
	if (rc < 0) {
		api_reply_error(call, &e);
		return;
	}

	snprintf(target, sizeof(target), "profile:%s", patch.name);
	rc = api_execute(call, "profile.create", target, RISK_CHANGE, NULL, create_op, &args,
			 err, sizeof(err));
	if (rc < 0) {
		api_reply_errno(call, rc, err, "profile.create");
		goto out;
	}

	snprintf(location, sizeof(location), API_PREFIX "/profiles/%s", args.profile.name);
	http_add_header(call->req, "Location", location);
	api_reply_json(call, 201, profile_json(&args.profile));

out:
	profile_clear(&args.profile);
	api_profile_patch_clear(&patch);
}

/* GET /profiles/{name} */

void
api_profiles_get(struct api_call *call)
{
	struct profile p = { 0 };

	if (profile_from_path(call, &p) < 0)
		return;
	api_reply_json(call, 200, profile_json(&p));
	profile_clear(&p);
}

/* PATCH /profiles/{name} */

struct update_args {
	int64_t id;
	const struct api_profile_patch *patch;
	struct profile profile;
};

/* store_machine_list callback: keep the first machine's id and stop. */
static int
first_machine_id(const struct machine *m, void *arg)
{
	*(int64_t *)arg = m->id;
	return 1;
}

static int
update_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct update_args *args = arg;
	struct machine_filter deploying = {
		.state = MACHINE_DEPLOYING,
		.profile_id = args->id,
		.limit = 1,
	};
	int64_t machine_id = 0;
	int rc;

	rc = store_profile_get(st, args->id, &args->profile);
	if (rc == -ENOENT) {
		snprintf(err, errlen, "profile %lld not found", (long long)args->id);
		return rc;
	}
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);

	/*
	 * A deploying machine fetches the kernel, initrd and image this profile names, so
	 * the profile stays as it is until no deployment uses it. NOTE: nothing moves a
	 * machine out of deploying yet (the deploy agent's reports will), so for now a
	 * profile stays locked once a machine deploys it.
	 */
	rc = store_machine_list(st, &deploying, first_machine_id, &machine_id);
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);
	if (machine_id != 0) {
		snprintf(err, errlen, "profile \"%s\" is used by machine %lld, which is deploying; "
			 "change the profile once the machine is deployed or failed",
			 args->profile.name, (long long)machine_id);
		return -EEXIST;
	}

	rc = profile_patch_apply(args->patch, &args->profile);
	if (rc < 0)
		return rc;
	rc = store_profile_update(st, &args->profile);
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);
	return 0;
}

void
api_profiles_patch(struct api_call *call)
{
	struct api_profile_patch patch = { 0 };
	struct update_args args = { .patch = &patch };
	char err[API_DETAIL_SIZE], target[API_TARGET_SIZE];
	struct profile current = { 0 };
	struct api_error e;
	const char *body;
	size_t len;
	int rc;

	if (profile_from_path(call, &current) < 0)
		return;
	args.id = current.id;
	snprintf(target, sizeof(target), "profile:%s", current.name);
	profile_clear(&current);

	rc = api_request_body(call, &body, &len, &e);
	if (rc == 0)
		rc = api_profile_body_parse(body, len, false, &patch, &e);
	if (rc < 0) {
		api_reply_error(call, &e);
		return;
	}

	rc = api_execute(call, "profile.update", target, RISK_CHANGE, NULL, update_op, &args,
			 err, sizeof(err));
	if (rc < 0)
		api_reply_errno(call, rc, err, "profile.update");
	else
		api_reply_json(call, 200, profile_json(&args.profile));

	profile_clear(&args.profile);
	api_profile_patch_clear(&patch);
}

/* DELETE /profiles/{name} */

struct delete_args {
	int64_t id;
	const char *name;
};

static int
delete_op(struct store *st, void *arg, char *err, size_t errlen)
{
	const struct delete_args *args = arg;
	struct machine_filter filter = {
		.state = MACHINE_STATE_INVALID,
		.profile_id = args->id,
	};
	int64_t users;
	int rc;

	/*
	 * Count the users first, because the store's delete returns -EBUSY for a profile in
	 * use and that errno means a locked database here. The transaction keeps the count
	 * true until the delete.
	 */
	rc = store_machine_count(st, &filter, &users);
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);
	if (users > 0) {
		snprintf(err, errlen, "profile \"%s\" is used by %lld machine%s; assign %s "
			 "another profile first", args->name, (long long)users,
			 users == 1 ? "" : "s", users == 1 ? "it" : "them");
		return -EEXIST;
	}

	rc = store_profile_delete(st, args->id);
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);
	return 0;
}

void
api_profiles_delete(struct api_call *call)
{
	char err[API_DETAIL_SIZE], target[API_TARGET_SIZE];
	struct profile p = { 0 };
	struct delete_args args;
	char name[STORE_NAME_SIZE];
	int rc;

	if (profile_from_path(call, &p) < 0)
		return;
	memcpy(name, p.name, sizeof(name));
	args.id = p.id;
	args.name = name;
	profile_clear(&p);

	snprintf(target, sizeof(target), "profile:%s", name);
	rc = api_execute(call, "profile.delete", target, RISK_DESTRUCTIVE, NULL, delete_op,
			 &args, err, sizeof(err));
	if (rc < 0) {
		api_reply_errno(call, rc, err, "profile.delete");
		return;
	}
	http_reply(call->req, 204, NULL, NULL, 0);
}
