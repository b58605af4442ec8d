/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replies of the Redfish emulator: JSON with the OData-Version header, the error body
 * of DSP0266 ("Error responses") with one Base registry message, and paged
 * collections.
 */
#include "redfishsim/sim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "util/util.h"

#define BASE_REGISTRY "Base.1.16"

struct message_entry {
	const char *id;
	const char *text;         /* %1, %2 and %3 stand for the arguments */
	const char *severity;
	const char *resolution;
};

static const struct message_entry messages[] = {
	[RFSIM_MSG_GENERAL_ERROR] = { "GeneralError",
		"A general error has occurred. See Resolution for information on how to "
		"resolve the error.", "Critical", "None." },
	[RFSIM_MSG_MALFORMED_JSON] = { "MalformedJSON",
		"The request body submitted was malformed JSON and could not be parsed by the "
		"receiving service.", "Critical",
		"Ensure that the request body is valid JSON and resubmit the request." },
	[RFSIM_MSG_EMPTY_JSON] = { "EmptyJSON",
		"The request body submitted contained an empty JSON object and the service is "
		"unable to process it.", "Warning",
		"Add properties in the JSON object and resubmit the request." },
	[RFSIM_MSG_PROPERTY_UNKNOWN] = { "PropertyUnknown",
		"The property %1 is not in the list of valid properties for the resource.",
		"Warning", "Remove the unknown property from the request body and resubmit "
		"the request if the operation failed." },
	[RFSIM_MSG_PROPERTY_TYPE] = { "PropertyValueTypeError",
		"The value %1 for the property %2 is of a different type than the property "
		"can accept.", "Warning", "Correct the value for the property in the request "
		"body and resubmit the request if the operation failed." },
	[RFSIM_MSG_PROPERTY_NOT_IN_LIST] = { "PropertyValueNotInList",
		"The value %1 for the property %2 is not in the list of acceptable values.",
		"Warning", "Choose a value from the enumeration list that the implementation "
		"can support and resubmit the request if the operation failed." },
	[RFSIM_MSG_PROPERTY_MISSING] = { "PropertyMissing",
		"The property %1 is a required property and must be included in the request.",
		"Warning", "Ensure that the property is in the request body and has a valid "
		"value and resubmit the request if the operation failed." },
	[RFSIM_MSG_STRING_TOO_LONG] = { "StringValueTooLong",
		"The string %1 exceeds the length limit %2.", "Warning",
		"Resubmit the request with an appropriate string length." },
	[RFSIM_MSG_ACTION_UNKNOWN] = { "ActionParameterUnknown",
		"The action %1 was submitted with the invalid parameter %2.", "Warning",
		"Correct the invalid parameter and resubmit the request if the operation "
		"failed." },
	[RFSIM_MSG_ACTION_TYPE] = { "ActionParameterValueTypeError",
		"The value %1 for the parameter %2 in the action %3 is of a different type "
		"than the parameter can accept.", "Warning", "Correct the value for the "
		"parameter in the request body and resubmit the request if the operation "
		"failed." },
	[RFSIM_MSG_ACTION_NOT_IN_LIST] = { "ActionParameterValueNotInList",
		"The value %1 for the parameter %2 in the action %3 is not in the list of "
		"acceptable values.", "Warning", "Choose a value from the enumeration list "
		"that the implementation can support and resubmit the request if the "
		"operation failed." },
	[RFSIM_MSG_ACTION_FORMAT] = { "ActionParameterValueFormatError",
		"The value %1 for the parameter %2 in the action %3 is of a different format "
		"than the parameter can accept.", "Warning", "Correct the value for the "
		"parameter in the request body and resubmit the request if the operation "
		"failed." },
	[RFSIM_MSG_ACTION_MISSING] = { "ActionParameterMissing",
		"The action %1 requires the parameter %2 to be present in the request body.",
		"Critical", "Supply the action with the required parameter in the request "
		"body when the request is resubmitted." },
	[RFSIM_MSG_NO_VALID_SESSION] = { "NoValidSession",
		"There is no valid session established with the implementation.", "Critical",
		"Establish a session before attempting any operations." },
	[RFSIM_MSG_SESSION_LIMIT] = { "SessionLimitExceeded",
		"The session establishment failed due to the number of simultaneous sessions "
		"exceeding the limit of the implementation.", "Critical",
		"Reduce the number of other sessions before trying to establish the session "
		"or increase the limit of simultaneous sessions, if supported." },
	[RFSIM_MSG_NOT_FOUND] = { "ResourceMissingAtURI",
		"The resource at the URI %1 was not found.", "Critical",
		"Place a valid resource at the URI or correct the URI and resubmit the "
		"request." },
	[RFSIM_MSG_METHOD_NOT_ALLOWED] = { "OperationNotAllowed",
		"The HTTP method is not allowed on this resource.", "Critical",
		"None." },
	[RFSIM_MSG_PRECONDITION_FAILED] = { "PreconditionFailed",
		"The ETag supplied did not match the ETag required to change this resource.",
		"Critical", "Try the operation again using the appropriate ETag." },
	[RFSIM_MSG_PAYLOAD_TOO_LARGE] = { "GeneralError",
		"The request body is larger than the limit of %1 bytes.", "Critical",
		"Send a smaller request body." },
	[RFSIM_MSG_QUERY_VALUE] = { "QueryParameterValueTypeError",
		"The value %1 for the query parameter %2 is of a different type than the "
		"parameter can accept.", "Warning", "Correct the value for the query "
		"parameter in the request and resubmit the request if the operation failed." },
	[RFSIM_MSG_OPERATION_FAILED] = { "GeneralError",
		"%1", "Critical", "Check the emulator's log and the QEMU log in its state "
		"directory, then resubmit the request." },
	[RFSIM_MSG_NOT_WRITABLE] = { "PropertyNotWritable",
		"The property %1 is a read-only property and cannot be assigned a value.",
		"Warning", "Remove the property from the request body and resubmit the "
		"request if the operation failed." },
};

void
rfsim_add_header(struct rfsim_call *call, const char *name, const char *value)
{
	if (http_add_header(call->req, name, value) < 0)
		log_warning("redfish cannot add header %s to the reply path=\"%s\"", name,
			    call->path);
}

void
rfsim_reply_json(struct rfsim_call *call, unsigned status, json_t *body)
{
	rfsim_add_header(call, "OData-Version", "4.0");
	if (body == NULL) {
		rfsim_reply_empty(call, 500);
		return;
	}
	if (http_reply_json(call->req, status, body) == 0)
		call->status = status;
}

void
rfsim_reply_empty(struct rfsim_call *call, unsigned status)
{
	if (http_reply(call->req, status, NULL, "", 0) == 0)
		call->status = status;
}

/* Replace %1, %2 and %3 in `text` with the arguments. */
static void
message_format(const char *text, const char *const args[3], char *out, size_t size)
{
	struct buf b;

	buf_init(&b, size - 1);
	for (const char *p = text; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] >= '1' && p[1] <= '3') {
			const char *arg = args[p[1] - '1'];

			buf_puts(&b, arg != NULL ? arg : "");
			p++;
			continue;
		}
		buf_append(&b, p, 1);
	}
	snprintf(out, size, "%s", b.data != NULL ? b.data : "");
	buf_free(&b);
}

/* A JSON string from client text, with bytes past ASCII replaced when not UTF-8. */
static json_t *
string_lossy(const char *text)
{
	char copy[1024];
	json_t *value = json_string(text);
	size_t len = strnlen(text, sizeof(copy) - 1);

	if (value != NULL)
		return value;
	memcpy(copy, text, len);
	copy[len] = '\0';
	for (char *p = copy; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	}
	return json_string(copy);
}

void
rfsim_reply_error_args(struct rfsim_call *call, unsigned status, enum rfsim_message id,
		       const char *const args[3], const char *property)
{
	const struct message_entry *entry = &messages[id];
	char text[1024], message_id[96], pointer[160];
	json_t *info, *message_args, *error;

	message_format(entry->text, args, text, sizeof(text));
	snprintf(message_id, sizeof(message_id), "%s.%s", BASE_REGISTRY, entry->id);
	message_args = json_array();
	for (int i = 0; i < 3; i++) {
		char placeholder[3] = { '%', (char)('1' + i), '\0' };

		if (args[i] != NULL && strstr(entry->text, placeholder) != NULL)
			json_array_append_new(message_args, string_lossy(args[i]));
	}
	info = json_pack("{s:s, s:s, s:o?, s:o, s:s, s:s, s:s}",
			 "@odata.type", "#Message.v1_1_1.Message",
			 "MessageId", message_id,
			 "Message", string_lossy(text),
			 "MessageArgs", message_args,
			 "MessageSeverity", entry->severity,
			 "Severity", entry->severity,
			 "Resolution", entry->resolution);
	if (info != NULL && property != NULL) {
		snprintf(pointer, sizeof(pointer), "#/%s", property);
		json_object_set_new(info, "RelatedProperties",
				    json_pack("[o?]", string_lossy(pointer)));
	}
	error = json_pack("{s:{s:s, s:o?, s:[o?]}}", "error",
			  "code", BASE_REGISTRY ".GeneralError",
			  "message", string_lossy(text),
			  "@Message.ExtendedInfo", info);
	if (status == 401)
		rfsim_add_header(call, "WWW-Authenticate", "Basic realm=\"Redfish\"");
	rfsim_reply_json(call, status, error);
}

void
rfsim_reply_error(struct rfsim_call *call, unsigned status, enum rfsim_message id,
		  const char *arg1, const char *arg2, const char *property)
{
	const char *args[3] = { arg1, arg2, NULL };

	rfsim_reply_error_args(call, status, id, args, property);
}

/* The action's name, such as "ComputerSystem.Reset", from the request path. */
static const char *
action_name(const struct rfsim_call *call)
{
	const char *slash = strrchr(call->path, '/');

	return slash != NULL ? slash + 1 : call->path;
}

void
rfsim_reply_body_error(struct rfsim_call *call, const struct rfsim_body_error *err,
		       bool action)
{
	const char *args[3] = { NULL, NULL, NULL };
	char limit[16];
	enum rfsim_message id;

	switch (err->status) {
	case RFSIM_BODY_MALFORMED:
		rfsim_reply_error(call, 400, RFSIM_MSG_MALFORMED_JSON, NULL, NULL, NULL);
		return;
	case RFSIM_BODY_EMPTY:
		rfsim_reply_error(call, 400, RFSIM_MSG_EMPTY_JSON, NULL, NULL, NULL);
		return;
	case RFSIM_BODY_TOO_LONG:
		snprintf(limit, sizeof(limit), "%d", RFSIM_STRING_MAX);
		rfsim_reply_error(call, 400, RFSIM_MSG_STRING_TOO_LONG, err->property, limit,
				  err->property);
		return;
	case RFSIM_BODY_UNKNOWN:
		if (action) {
			args[0] = action_name(call);
			args[1] = err->property;
			id = RFSIM_MSG_ACTION_UNKNOWN;
		} else {
			args[0] = err->property;
			id = RFSIM_MSG_PROPERTY_UNKNOWN;
		}
		break;
	case RFSIM_BODY_MISSING:
		if (action) {
			args[0] = action_name(call);
			args[1] = err->property;
			id = RFSIM_MSG_ACTION_MISSING;
		} else {
			args[0] = err->property;
			id = RFSIM_MSG_PROPERTY_MISSING;
		}
		break;
	case RFSIM_BODY_TYPE:
	case RFSIM_BODY_NOT_IN_LIST:
		args[0] = err->value;
		args[1] = err->property;
		args[2] = action_name(call);
		if (err->status == RFSIM_BODY_TYPE)
			id = action ? RFSIM_MSG_ACTION_TYPE : RFSIM_MSG_PROPERTY_TYPE;
		else
			id = action ? RFSIM_MSG_ACTION_NOT_IN_LIST : RFSIM_MSG_PROPERTY_NOT_IN_LIST;
		break;
	case RFSIM_BODY_OK:
	default:
		id = RFSIM_MSG_GENERAL_ERROR;
		break;
	}
	rfsim_reply_error_args(call, 400, id, args, err->property);
}

json_t *
rfsim_odata_id(const char *fmt, ...)
{
	char uri[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(uri, sizeof(uri), fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "@odata.id", uri);
}

void
rfsim_reply_collection(struct rfsim_call *call, const char *type, const char *name,
		       json_t *members)
{
	const char *skip_text = http_query(call->req, "$skip");
	size_t total = json_array_size(members);
	uint64_t skip = 0;
	json_t *page, *body;
	char next[512];

	if (skip_text != NULL && uint_parse(skip_text, 0, UINT32_MAX, &skip) < 0) {
		json_decref(members);
		rfsim_reply_error(call, 400, RFSIM_MSG_QUERY_VALUE, skip_text, "$skip", NULL);
		return;
	}
	page = json_array();
	for (size_t i = skip; i < total && i < skip + RFSIM_PAGE_SIZE; i++)
		json_array_append(page, json_array_get(members, i));
	json_decref(members);

	body = json_pack("{s:s, s:s, s:s, s:I, s:o}", "@odata.id", call->path,
			 "@odata.type", type, "Name", name,
			 "Members@odata.count", (json_int_t)total, "Members", page);
	if (body != NULL && skip + RFSIM_PAGE_SIZE < total) {
		snprintf(next, sizeof(next), "%s?$skip=%llu", call->path,
			 (unsigned long long)(skip + RFSIM_PAGE_SIZE));
		json_object_set_new(body, "Members@odata.nextLink", json_string(next));
	}
	rfsim_reply_json(call, 200, body);
}
