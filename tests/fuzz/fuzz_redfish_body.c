/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the Redfish emulator's request body parser with a schema that has every
 * property type. Arbitrary bytes must be accepted or rejected without crashing or
 * leaking. An accepted body must contain the required string and only listed values,
 * and a rejected one must carry an error status.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redfishsim/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_BYTES (128 * 1024)

static const char *const targets[] = { "None", "Pxe", "Cd", "Hdd", NULL };
static const struct rfsim_property inner[] = {
	{ "BootSourceOverrideTarget", RFSIM_STRING, false, targets, NULL },
	{ "Flag", RFSIM_BOOLEAN, false, NULL, NULL },
	{ NULL, RFSIM_STRING, false, NULL, NULL },
};
static const struct rfsim_property schema[] = {
	{ "Boot", RFSIM_OBJECT, false, NULL, inner },
	{ "Reading", RFSIM_NUMBER, false, NULL, NULL },
	{ "Image", RFSIM_STRING, true, NULL, NULL },
	{ "Targets", RFSIM_STRING_ARRAY, false, NULL, NULL },
	{ NULL, RFSIM_STRING, false, NULL, NULL },
};

static void
check_accepted(const json_t *body)
{
	const json_t *boot = json_object_get(body, "Boot");
	const json_t *target = json_object_get(boot, "BootSourceOverrideTarget");
	const json_t *image = json_object_get(body, "Image");

	if (!json_is_object(body) || !json_is_string(image))
		abort();
	if (json_string_length(image) > RFSIM_STRING_MAX)
		abort();
	if (boot != NULL && !json_is_object(boot))
		abort();
	if (target != NULL) {
		const char *value = json_string_value(target);
		bool listed = false;

		for (size_t i = 0; targets[i] != NULL && value != NULL; i++)
			listed |= strcmp(targets[i], value) == 0;
		if (!listed)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rfsim_body_error err;
	json_t *body;

	if (size > FUZZ_MAX_BYTES)
		size = FUZZ_MAX_BYTES;
	for (int allow_empty = 0; allow_empty <= 1; allow_empty++) {
		memset(&err, 0, sizeof(err));
		body = rfsim_body_parse((const char *)data, size, schema, allow_empty, &err);
		if (body != NULL) {
			check_accepted(body);
			json_decref(body);
		} else if (err.status == RFSIM_BODY_OK) {
			abort();
		}
	}
	return 0;
}
