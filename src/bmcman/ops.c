/* SPDX-License-Identifier: Apache-2.0 */
/* The operations the manager runs: their names, arguments and risk classes. */
#include "bmcman/bmcman-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

static const char *const kind_names[BMC_OP_KIND_MAX] = {
	[BMC_OP_VERIFY] = "verify",
	[BMC_OP_POWER_STATE] = "power-state",
	[BMC_OP_POWER] = "power",
	[BMC_OP_BOOT] = "boot",
	[BMC_OP_MEDIA_INSERT] = "media-insert",
	[BMC_OP_MEDIA_EJECT] = "media-eject",
	[BMC_OP_MEDIA_STATUS] = "media-status",
	[BMC_OP_INVENTORY] = "inventory",
	[BMC_OP_SENSORS] = "sensors",
	[BMC_OP_EVENTS] = "events",
	[BMC_OP_FIRMWARE_UPDATE] = "firmware-update",
	[BMC_OP_VMEDIA_BOOT] = "vmedia-boot",
};

const char *
bmc_op_kind_name(enum bmc_op_kind kind)
{
	if (kind < 0 || kind >= BMC_OP_KIND_MAX)
		return "invalid";
	return kind_names[kind];
}

enum bmc_op_kind
bmc_op_kind_parse(const char *name)
{
	for (int i = 0; i < BMC_OP_KIND_MAX; i++) {
		if (strcmp(name, kind_names[i]) == 0)
			return (enum bmc_op_kind)i;
	}
	return BMC_OP_KIND_INVALID;
}

/* The names every kind accepts in its arguments; any other member is refused. */
static bool
member_allowed(enum bmc_op_kind kind, const char *name)
{
	switch (kind) {
	case BMC_OP_POWER:
		return strcmp(name, "action") == 0;
	case BMC_OP_BOOT:
		return strcmp(name, "device") == 0 || strcmp(name, "mode") == 0;
	case BMC_OP_MEDIA_INSERT:
	case BMC_OP_FIRMWARE_UPDATE:
		return strcmp(name, "url") == 0;
	case BMC_OP_VMEDIA_BOOT:
		return strcmp(name, "url") == 0 || strcmp(name, "deployment") == 0;
	default:
		return false;
	}
}

/* A string member of args, or NULL with err set when it is missing or not a string. */
static const char *
arg_string(const json_t *args, const char *name, char *err, size_t errlen)
{
	const json_t *v = args != NULL ? json_object_get(args, name) : NULL;

	if (!json_is_string(v)) {
		snprintf(err, errlen, "\"%s\" is required and must be a string", name);
		return NULL;
	}
	return json_string_value(v);
}

/*
 * The image URL a BMC fetches: http or https, printable, at most BMCMAN_URL_MAX bytes.
 * The BMC fetches it, not Outpost, so a file: or other scheme is never sent.
 */
static int
url_check(const char *url, char *err, size_t errlen)
{
	size_t len = strlen(url);
	const char *authority;

	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return err_set(-EINVAL, err, errlen, "\"url\" must start with http:// or https://");
	if (len > BMCMAN_URL_MAX)
		return err_set(-EINVAL, err, errlen, "\"url\" is %zu bytes; the limit is %d", len,
			       BMCMAN_URL_MAX);
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return err_set(-EINVAL, err, errlen, "\"url\" has a space or a byte outside "
				       "printable ASCII at offset %zu; percent-encode it", i);
	}
	/* The operation and its audit entry keep the URL, so it must carry no password. */
	authority = strstr(url, "://") + 3;
	if (memchr(authority, '@', strcspn(authority, "/?#")) != NULL)
		return err_set(-EINVAL, err, errlen, "\"url\" has a user name or password; "
			       "operations and the audit trail keep URLs, so serve the image "
			       "without credentials");
	return 0;
}

/* vmedia-boot takes an image URL, or the deployment whose ISO it boots; not both. */
static int
vmedia_args_check(json_t *args, char *err, size_t errlen)
{
	const json_t *deployment = json_object_get(args, "deployment");
	const char *url;

	if (deployment == NULL) {
		url = arg_string(args, "url", err, errlen);
		return url == NULL ? -EINVAL : url_check(url, err, errlen);
	}
	if (json_object_get(args, "url") != NULL)
		return err_set(-EINVAL, err, errlen, "give \"url\" or \"deployment\", not both");
	if (!json_is_integer(deployment) || json_integer_value(deployment) <= 0)
		return err_set(-EINVAL, err, errlen, "\"deployment\" must be a deployment id");
	return 0;
}

/* Check the arguments of kind. Returns 0 or -EINVAL with err set. */
static int
args_check(enum bmc_op_kind kind, json_t *args, enum bmc_power *power, char *err,
	   size_t errlen)
{
	const char *key, *text;
	enum bmc_boot_device device;
	enum bmc_boot_mode mode;
	json_t *value;

	if (args != NULL && !json_is_object(args))
		return err_set(-EINVAL, err, errlen, "the arguments must be a JSON object");
	json_object_foreach(args, key, value) {
		if (!member_allowed(kind, key))
			return err_set(-EINVAL, err, errlen, "operation %s takes no \"%.64s\" argument",
				       bmc_op_kind_name(kind), key);
	}
	switch (kind) {
	case BMC_OP_POWER:
		text = arg_string(args, "action", err, errlen);
		if (text == NULL)
			return -EINVAL;
		if (bmc_power_parse(text, power) < 0)
			return err_set(-EINVAL, err, errlen, "unknown power action \"%.32s\": use on, "
				       "off, shutdown, reset or cycle", text);
		return 0;
	case BMC_OP_BOOT:
		text = arg_string(args, "device", err, errlen);
		if (text == NULL)
			return -EINVAL;
		if (bmc_boot_device_parse(text, &device) < 0)
			return err_set(-EINVAL, err, errlen, "unknown boot device \"%.32s\": use pxe, "
				       "http, cd or disk", text);
		if (json_object_get(args, "mode") == NULL)
			return 0;
		text = arg_string(args, "mode", err, errlen);
		if (text == NULL)
			return -EINVAL;
		if (bmc_boot_mode_parse(text, &mode) < 0)
			return err_set(-EINVAL, err, errlen, "unknown boot mode \"%.32s\": use uefi, "
				       "legacy or keep", text);
		return 0;
	case BMC_OP_MEDIA_INSERT:
	case BMC_OP_FIRMWARE_UPDATE:
		text = arg_string(args, "url", err, errlen);
		return text == NULL ? -EINVAL : url_check(text, err, errlen);
	case BMC_OP_VMEDIA_BOOT:
		return vmedia_args_check(args, err, errlen);
	default:
		return 0;
	}
}

enum risk
bmc_op_risk(enum bmc_op_kind kind, json_t *args, char *err, size_t errlen)
{
	enum bmc_power power = BMC_POWER_ON;

	if (kind < 0 || kind >= BMC_OP_KIND_MAX) {
		snprintf(err, errlen, "unknown BMC operation");
		return RISK_INVALID;
	}
	if (args_check(kind, args, &power, err, errlen) < 0)
		return RISK_INVALID;
	switch (kind) {
	case BMC_OP_POWER_STATE:
	case BMC_OP_MEDIA_STATUS:
	case BMC_OP_INVENTORY:
	case BMC_OP_SENSORS:
	case BMC_OP_EVENTS:
		return RISK_READ;
	case BMC_OP_POWER:
		/* A graceful shutdown still takes the server's workload down. */
		return power == BMC_POWER_ON ? RISK_CHANGE : RISK_DESTRUCTIVE;
	case BMC_OP_FIRMWARE_UPDATE:
	case BMC_OP_VMEDIA_BOOT:
		return RISK_DESTRUCTIVE;
	default:
		return RISK_CHANGE;
	}
}
