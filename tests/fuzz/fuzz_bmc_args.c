/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the BMC manager's check of an operation's arguments, which come from API
 * bodies: arbitrary bytes are decoded as JSON and checked for every operation kind.
 * An accepted URL must be http or https with no byte a BMC could read as a separator
 * and no password, and an accepted power action must have a risk class that matches it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bmcman/bmcman.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort unless the accepted "url" of args is printable http or https. */
static void
url_check(const json_t *args)
{
	const char *url = json_string_value(json_object_get(args, "url"));

	if (url == NULL)
		abort();
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		abort();
	for (const char *p = url; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			abort();
	}
	url = strstr(url, "://") + 3;
	if (memchr(url, '@', strcspn(url, "/?#")) != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *args = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	char err[256];

	for (int kind = 0; kind < BMC_OP_KIND_MAX; kind++) {
		enum risk risk = bmc_op_risk((enum bmc_op_kind)kind, args, err, sizeof(err));
		const char *action;

		if (risk == RISK_INVALID) {
			if (strlen(err) == 0)
				abort();
			continue;
		}
		if (risk < 0 || risk >= RISK_MAX)
			abort();
		switch (kind) {
		case BMC_OP_MEDIA_INSERT:
		case BMC_OP_FIRMWARE_UPDATE:
			url_check(args);
			break;
		case BMC_OP_VMEDIA_BOOT:
			/* Either a URL, or a deployment id and no URL. */
			if (json_object_get(args, "url") != NULL)
				url_check(args);
			else if (json_integer_value(json_object_get(args, "deployment")) <= 0)
				abort();
			break;
		case BMC_OP_POWER:
			action = json_string_value(json_object_get(args, "action"));
			if (action == NULL || (strcmp(action, "on") == 0) != (risk == RISK_CHANGE))
				abort();
			break;
		default:
			break;
		}
	}
	json_decref(args);
	return 0;
}
