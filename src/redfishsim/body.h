/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request bodies of the Redfish emulator: JSON objects checked against a small schema
 * of the properties each PATCH or action accepts. Kept apart from the rest of the
 * emulator so the fuzz target links only this file.
 */
#ifndef OUTPOST_REDFISHSIM_BODY_H
#define OUTPOST_REDFISHSIM_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Maximum length of a string value in any property, in bytes. */
#define RFSIM_STRING_MAX 1024

enum rfsim_type {
	RFSIM_STRING,
	RFSIM_NUMBER,         /* integer or real */
	RFSIM_BOOLEAN,
	RFSIM_OBJECT,
	RFSIM_STRING_ARRAY,
};

/* One property a body may contain. Arrays of them end with a NULL name. */
struct rfsim_property {
	const char *name;
	enum rfsim_type type;
	bool required;
	const char *const *allowed;              /* RFSIM_STRING: NULL-terminated, or NULL for any */
	const struct rfsim_property *members;    /* RFSIM_OBJECT: its properties */
};

enum rfsim_body_status {
	RFSIM_BODY_OK,
	RFSIM_BODY_MALFORMED,      /* not JSON, or not an object */
	RFSIM_BODY_EMPTY,          /* an empty object where something is required */
	RFSIM_BODY_UNKNOWN,        /* a property the schema does not list */
	RFSIM_BODY_TYPE,           /* a value of the wrong JSON type */
	RFSIM_BODY_NOT_IN_LIST,    /* a string outside the allowed values */
	RFSIM_BODY_TOO_LONG,       /* a string longer than RFSIM_STRING_MAX */
	RFSIM_BODY_MISSING,        /* a required property is absent */
};

struct rfsim_body_error {
	enum rfsim_body_status status;
	char property[128];  /* path of the property, such as "Boot/BootSourceOverrideTarget" */
	char value[128];     /* the rejected value, as JSON text cut to fit */
};

/*
 * Parse `len` bytes as a JSON object and check it against `schema`. Returns the object
 * (the caller owns it) or NULL with `err` filled. With `allow_empty`, an empty body or
 * an object without members is accepted, as for actions without parameters. Without
 * it they give RFSIM_BODY_EMPTY, because a PATCH that changes nothing is a mistake.
 */
json_t *rfsim_body_parse(const char *body, size_t len, const struct rfsim_property *schema,
			 bool allow_empty, struct rfsim_body_error *err);

#endif
