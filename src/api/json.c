/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict decoding of request bodies: the body must be one JSON object with no
 * duplicate keys, every key must be known, and each field has a type and a size cap.
 * Every failure fills a struct api_error whose detail names the field and what to
 * send instead. Also the small encoders the resource files share.
 */
#include "api/api-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log/log.h"

void
api_quote(const char *s, char *out, size_t out_size)
{
	size_t len = 0;

	/* Keep room for "..." and the NUL. */
	while (s[len] != '\0' && len < API_QUOTE_MAX && len + 4 < out_size) {
		unsigned char c = (unsigned char)s[len];

		out[len] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
		len++;
	}
	if (s[len] != '\0') {
		memcpy(out + len, "...", 3);
		len += 3;
	}
	out[len] = '\0';
}

/* The name jansson's typeof maps to, as the API documents it. */
static const char *
json_type_label(const json_t *value)
{
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "a value";
}

int
api_json_object(const char *body, size_t len, bool empty_ok, json_t **ret,
		struct api_error *e)
{
	json_error_t error;
	json_t *value;

	if (len == 0) {
		if (!empty_ok)
			return api_fail(e, 400, "invalid_json",
					"the request body is empty; send a JSON object");
		value = json_object();
		if (value == NULL)
			return api_fail(e, 500, "internal", "out of memory");
		*ret = value;
		return 0;
	}

	/* Duplicate keys would make "the value of a field" ambiguous. */
	value = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);
	if (value == NULL)
		return api_fail(e, 400, "invalid_json",
				"the request body is not valid JSON: %s at line %d, column %d",
				error.text, error.line, error.column);
	if (!json_is_object(value)) {
		api_fail(e, 400, "invalid_json",
			 "the request body is %s; send a JSON object", json_type_label(value));
		json_decref(value);
		return -EINVAL;
	}

	*ret = value;
	return 0;
}

/* Accept "application/json" with optional parameters such as "; charset=utf-8". */
static bool
content_type_is_json(const char *value)
{
	static const char json[] = "application/json";
	size_t len = sizeof(json) - 1;

	while (*value == ' ')
		value++;
	if (strncasecmp(value, json, len) != 0)
		return false;
	value += len;
	while (*value == ' ')
		value++;
	return *value == '\0' || *value == ';';
}

int
api_request_body(struct api_call *call, const char **ret_body, size_t *ret_len,
		 struct api_error *e)
{
	const char *body, *type;
	char quoted[API_QUOTE_MAX + 4];
	size_t len;

	body = http_body(call->req, &len);
	if (body == NULL) {
		body = "";
		len = 0;
	}

	/* The listener enforces its own ceiling too; this one holds for any listener. */
	if (call->api->max_body_bytes > 0 && len > call->api->max_body_bytes)
		return api_fail(e, 413, "too_large",
				"the request body is %zu bytes; the maximum is %zu", len,
				call->api->max_body_bytes);

	type = http_header(call->req, "Content-Type");
	if (len > 0 && (type == NULL || !content_type_is_json(type))) {
		api_quote(type != NULL ? type : "", quoted, sizeof(quoted));
		return api_fail(e, 415, "unsupported_media_type",
				"Content-Type \"%s\" is not accepted; send application/json",
				quoted);
	}

	*ret_body = body;
	*ret_len = len;
	return 0;
}

int
api_request_object(struct api_call *call, bool empty_ok, json_t **ret, struct api_error *e)
{
	const char *body;
	size_t len;
	int rc;

	rc = api_request_body(call, &body, &len, e);
	if (rc < 0)
		return rc;
	return api_json_object(body, len, empty_ok, ret, e);
}

static bool
name_listed(const char *key, const char *const *list)
{
	for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
		if (strcmp(key, list[i]) == 0)
			return true;
	}
	return false;
}

int
api_json_keys(json_t *obj, const char *const *allowed, const char *const *readonly,
	      struct api_error *e)
{
	const char *key;
	json_t *value;
	char quoted[API_QUOTE_MAX + 4];

	json_object_foreach(obj, key, value) {
		if (name_listed(key, allowed))
			continue;

		api_quote(key, quoted, sizeof(quoted));
		if (name_listed(key, readonly))
			return api_fail(e, 400, "invalid_field",
					"field \"%s\" cannot be set by this request; remove it",
					quoted);
		return api_fail(e, 400, "unknown_field",
				"field \"%s\" is not known; remove it or check its spelling",
				quoted);
	}
	return 0;
}

int
api_json_string(const json_t *obj, const char *key, size_t max_len, char *out,
		size_t out_size, struct api_error *e)
{
	const json_t *value = json_object_get(obj, key);
	const char *text;
	size_t len;

	if (value == NULL)
		return API_FIELD_ABSENT;
	if (json_is_null(value)) {
		out[0] = '\0';
		return API_FIELD_NULL;
	}
	if (!json_is_string(value))
		return api_fail(e, 400, "invalid_field",
				"field \"%s\" must be a string or null, not %s", key,
				json_type_label(value));

	text = json_string_value(value);
	len = json_string_length(value);
	if (len > max_len || len >= out_size)
		return api_fail(e, 400, "invalid_field",
				"field \"%s\" is %zu bytes long; the maximum is %zu", key, len,
				max_len);

	/* Control characters (NUL included) would end up in logs and boot scripts. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c == 0x7f)
			return api_fail(e, 400, "invalid_field",
					"field \"%s\" contains a control character at byte %zu; "
					"remove it", key, i);
	}

	memcpy(out, text, len + 1);
	return API_FIELD_VALUE;
}

int
api_json_object_text(const json_t *obj, const char *key, size_t max_bytes, char **ret,
		     struct api_error *e)
{
	const json_t *value = json_object_get(obj, key);
	char *text;
	size_t len;

	if (value == NULL)
		return API_FIELD_ABSENT;
	if (json_is_null(value)) {
		*ret = NULL;
		return API_FIELD_NULL;
	}
	if (!json_is_object(value))
		return api_fail(e, 400, "invalid_field",
				"field \"%s\" must be an object or null, not %s", key,
				json_type_label(value));

	text = json_dumps(value, JSON_COMPACT);
	if (text == NULL) {
		api_fail(e, 500, "internal", "field \"%s\" could not be encoded", key);
		return -ENOMEM;
	}
	len = strlen(text);
	if (len > max_bytes) {
		free(text);
		return api_fail(e, 400, "invalid_field",
				"field \"%s\" is %zu bytes as compact JSON; the maximum is %zu",
				key, len, max_bytes);
	}

	*ret = text;
	return API_FIELD_VALUE;
}

json_t *
api_json_from_text(const char *text, const char *what)
{
	json_error_t error;
	json_t *value;

	if (text == NULL || text[0] == '\0')
		return json_null();

	value = json_loads(text, 0, &error);
	if (value == NULL) {
		log_warning("api: stored JSON of %s is invalid, sending null: %s", what,
			    error.text);
		return json_null();
	}
	if (!json_is_object(value)) {
		log_warning("api: stored JSON of %s is not an object, sending null", what);
		json_decref(value);
		return json_null();
	}
	return value;
}

json_t *
api_json_time(int64_t seconds)
{
	char text[21];

	time_format(seconds, text);
	return json_string(text);
}

json_t *
api_json_string_or_null(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
}
