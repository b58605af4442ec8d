/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request body checks for the Redfish emulator. Redfish services reply to a body they
 * cannot use with 400 and a message naming the property (DSP0266, "Modification
 * requests" and "Actions"), so the checks stop at the first bad property and report
 * its path and value.
 */
#include "redfishsim/body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
error_set(struct rfsim_body_error *err, enum rfsim_body_status status, const char *path,
	  const json_t *value)
{
	char *text = NULL;

	err->status = status;
	snprintf(err->property, sizeof(err->property), "%s", path);
	err->value[0] = '\0';
	if (value != NULL)
		text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	if (text != NULL) {
		snprintf(err->value, sizeof(err->value), "%s", text);
		free(text);
	}
}

static const struct rfsim_property *
schema_find(const struct rfsim_property *schema, const char *name)
{
	for (; schema->name != NULL; schema++) {
		if (strcmp(schema->name, name) == 0)
			return schema;
	}
	return NULL;
}

static bool
string_allowed(const char *const *allowed, const char *value)
{
	if (allowed == NULL)
		return true;
	for (; *allowed != NULL; allowed++) {
		if (strcmp(*allowed, value) == 0)
			return true;
	}
	return false;
}

static bool check_object(json_t *object, const struct rfsim_property *schema,
			 const char *prefix, struct rfsim_body_error *err);

/* Check one value against its property; `path` names it in errors. */
static bool
check_value(json_t *value, const struct rfsim_property *property, const char *path,
	    struct rfsim_body_error *err)
{
	size_t i;
	const json_t *item;

	switch (property->type) {
	case RFSIM_STRING:
		if (!json_is_string(value))
			break;
		if (json_string_length(value) > RFSIM_STRING_MAX) {
			error_set(err, RFSIM_BODY_TOO_LONG, path, NULL);
			return false;
		}
		/* An embedded NUL would cut the value short in every C string use. */
		if (strlen(json_string_value(value)) != json_string_length(value)) {
			error_set(err, RFSIM_BODY_TYPE, path, value);
			return false;
		}
		if (!string_allowed(property->allowed, json_string_value(value))) {
			error_set(err, RFSIM_BODY_NOT_IN_LIST, path, value);
			return false;
		}
		return true;
	case RFSIM_NUMBER:
		if (json_is_number(value))
			return true;
		break;
	case RFSIM_BOOLEAN:
		if (json_is_boolean(value))
			return true;
		break;
	case RFSIM_OBJECT:
		if (json_is_object(value))
			return check_object(value, property->members, path, err);
		break;
	case RFSIM_STRING_ARRAY:
		if (!json_is_array(value))
			break;
		json_array_foreach(value, i, item) {
			if (!json_is_string(item) || json_string_length(item) > RFSIM_STRING_MAX ||
			    strlen(json_string_value(item)) != json_string_length(item)) {
				error_set(err, RFSIM_BODY_TYPE, path, item);
				return false;
			}
		}
		return true;
	}
	error_set(err, RFSIM_BODY_TYPE, path, value);
	return false;
}

static bool
check_object(json_t *object, const struct rfsim_property *schema, const char *prefix,
	     struct rfsim_body_error *err)
{
	const struct rfsim_property *property;
	const char *name;
	json_t *value;
	char path[128];

	json_object_foreach(object, name, value) {
		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] != '\0' ? "/" : "", name);
		property = schema_find(schema, name);
		if (property == NULL) {
			error_set(err, RFSIM_BODY_UNKNOWN, path, NULL);
			return false;
		}
		if (!check_value(value, property, path, err))
			return false;
	}
	for (property = schema; property->name != NULL; property++) {
		if (property->required && json_object_get(object, property->name) == NULL) {
			snprintf(path, sizeof(path), "%s%s%s", prefix,
				 prefix[0] != '\0' ? "/" : "", property->name);
			error_set(err, RFSIM_BODY_MISSING, path, NULL);
			return false;
		}
	}
	return true;
}

static bool
text_blank(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (strchr(" \t\r\n", text[i]) == NULL)
			return false;
	}
	return true;
}

json_t *
rfsim_body_parse(const char *body, size_t len, const struct rfsim_property *schema,
		 bool allow_empty, struct rfsim_body_error *err)
{
	json_error_t json_err;
	json_t *object;

	if (text_blank(body, len)) {
		if (!allow_empty) {
			error_set(err, RFSIM_BODY_EMPTY, "", NULL);
			return NULL;
		}
		object = json_object();
	} else {
		object = json_loadb(body, len, JSON_REJECT_DUPLICATES, &json_err);
	}
	if (object == NULL || !json_is_object(object)) {
		json_decref(object);
		error_set(err, RFSIM_BODY_MALFORMED, "", NULL);
		return NULL;
	}
	if (json_object_size(object) == 0 && !allow_empty) {
		json_decref(object);
		error_set(err, RFSIM_BODY_EMPTY, "", NULL);
		return NULL;
	}
	if (!check_object(object, schema, "", err)) {
		json_decref(object);
		return NULL;
	}
	return object;
}
