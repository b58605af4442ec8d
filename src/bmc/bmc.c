/* SPDX-License-Identifier: Apache-2.0 */
/* The driver-independent half of bmc.h: names, parsing and dispatch to the driver. */
#include "bmc/bmc-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

static const char *const power_names[] = {
	[BMC_POWER_ON] = "on",
	[BMC_POWER_OFF] = "off",
	[BMC_POWER_SHUTDOWN] = "shutdown",
	[BMC_POWER_RESET] = "reset",
	[BMC_POWER_CYCLE] = "cycle",
};

static const char *const device_names[] = {
	[BMC_BOOT_PXE] = "pxe",
	[BMC_BOOT_HTTP] = "http",
	[BMC_BOOT_CD] = "cd",
	[BMC_BOOT_DISK] = "disk",
};

static const char *const mode_names[] = {
	[BMC_BOOT_MODE_KEEP] = "keep",
	[BMC_BOOT_MODE_UEFI] = "uefi",
	[BMC_BOOT_MODE_LEGACY] = "legacy",
};

static const char *const kind_names[] = {
	[BMC_SENSOR_TEMPERATURE] = "temperature",
	[BMC_SENSOR_FAN] = "fan",
	[BMC_SENSOR_POWER] = "power",
	[BMC_SENSOR_VOLTAGE] = "voltage",
	[BMC_SENSOR_CURRENT] = "current",
	[BMC_SENSOR_OTHER] = "other",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *
name_of(const char *const *names, size_t count, int value)
{
	return value >= 0 && (size_t)value < count ? names[value] : "unknown";
}

static int
parse_name(const char *const *names, size_t count, const char *name, int *ret)
{
	for (size_t i = 0; name != NULL && i < count; i++) {
		if (strcmp(names[i], name) == 0) {
			*ret = (int)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
bmc_power_name(enum bmc_power action)
{
	return name_of(power_names, COUNT(power_names), (int)action);
}

int
bmc_power_parse(const char *name, enum bmc_power *ret)
{
	int value, r = parse_name(power_names, COUNT(power_names), name, &value);

	if (r == 0)
		*ret = (enum bmc_power)value;
	return r;
}

const char *
bmc_boot_device_name(enum bmc_boot_device device)
{
	return name_of(device_names, COUNT(device_names), (int)device);
}

int
bmc_boot_device_parse(const char *name, enum bmc_boot_device *ret)
{
	int value, r = parse_name(device_names, COUNT(device_names), name, &value);

	if (r == 0)
		*ret = (enum bmc_boot_device)value;
	return r;
}

const char *
bmc_boot_mode_name(enum bmc_boot_mode mode)
{
	return name_of(mode_names, COUNT(mode_names), (int)mode);
}

int
bmc_boot_mode_parse(const char *name, enum bmc_boot_mode *ret)
{
	int value, r = parse_name(mode_names, COUNT(mode_names), name, &value);

	if (r == 0)
		*ret = (enum bmc_boot_mode)value;
	return r;
}

const char *
bmc_sensor_kind_name(enum bmc_sensor_kind kind)
{
	return name_of(kind_names, COUNT(kind_names), (int)kind);
}

int
bmc_fail(int r, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

int64_t
bmc_now_ms(void)
{
	return time_monotonic_ms();
}

/* The maximum step of bmc_wait: a cancel takes effect within it. */
#define BMC_WAIT_STEP_MS 100

bool
bmc_wait(const struct bmc_target *target, int64_t ms)
{
	int64_t until = bmc_now_ms() + ms;

	for (;;) {
		int64_t left = until - bmc_now_ms();
		int64_t step = left < BMC_WAIT_STEP_MS ? left : BMC_WAIT_STEP_MS;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)step * 1000000 };

		if (target->cancel != NULL && atomic_load(target->cancel))
			return false;
		if (left <= 0)
			return true;
		nanosleep(&ts, NULL);
	}
}

int
bmc_open(struct bmc_target *target, struct bmc **ret, char *err, size_t errlen)
{
	struct bmc *bmc = calloc(1, sizeof(*bmc));
	int r;

	if (bmc == NULL)
		return bmc_fail(-ENOMEM, err, errlen, "out of memory");
	bmc->target = target;
	switch (target->protocol) {
	case BMC_REDFISH:
		r = bmc_redfish_open(bmc, err, errlen);
		break;
	case BMC_IPMI:
		r = bmc_ipmi_open(bmc, err, errlen);
		break;
	default:
		r = bmc_fail(-EINVAL, err, errlen, "invalid BMC protocol %d", (int)target->protocol);
		break;
	}
	if (r < 0) {
		free(bmc);
		return r;
	}
	*ret = bmc;
	return 0;
}

struct bmc *
bmc_close(struct bmc *bmc)
{
	if (bmc == NULL)
		return NULL;
	if (bmc->ops != NULL)
		bmc->ops->close(bmc);
	free(bmc);
	return NULL;
}

/* An operation the driver does not offer, such as virtual media over IPMI. */
static int
unsupported(const struct bmc *bmc, const char *what, char *err, size_t errlen)
{
	return bmc_fail(-EOPNOTSUPP, err, errlen, "%s over %s is not supported by %s", what,
			bmc->ops->name, bmc->target->address);
}

int
bmc_power_state(struct bmc *bmc, char *state, size_t size, char *err, size_t errlen)
{
	if (bmc->ops->power_state == NULL)
		return unsupported(bmc, "reading the power state", err, errlen);
	return bmc->ops->power_state(bmc, state, size, err, errlen);
}

int
bmc_power_set(struct bmc *bmc, enum bmc_power action, char *err, size_t errlen)
{
	if (bmc->ops->power_set == NULL)
		return unsupported(bmc, "power control", err, errlen);
	return bmc->ops->power_set(bmc, action, err, errlen);
}

int
bmc_boot_once(struct bmc *bmc, enum bmc_boot_device device, enum bmc_boot_mode mode,
	      char *err, size_t errlen)
{
	if (bmc->ops->boot_once == NULL)
		return unsupported(bmc, "a boot override", err, errlen);
	return bmc->ops->boot_once(bmc, device, mode, err, errlen);
}

int
bmc_media_insert(struct bmc *bmc, const char *url, char *err, size_t errlen)
{
	if (bmc->ops->media_insert == NULL)
		return unsupported(bmc, "virtual media", err, errlen);
	return bmc->ops->media_insert(bmc, url, err, errlen);
}

int
bmc_media_eject(struct bmc *bmc, char *err, size_t errlen)
{
	if (bmc->ops->media_eject == NULL)
		return unsupported(bmc, "virtual media", err, errlen);
	return bmc->ops->media_eject(bmc, err, errlen);
}

int
bmc_media_status(struct bmc *bmc, json_t **ret, char *err, size_t errlen)
{
	if (bmc->ops->media_status == NULL)
		return unsupported(bmc, "virtual media", err, errlen);
	return bmc->ops->media_status(bmc, ret, err, errlen);
}

int
bmc_inventory(struct bmc *bmc, json_t **system, json_t **firmware, char *err, size_t errlen)
{
	if (bmc->ops->inventory == NULL)
		return unsupported(bmc, "inventory", err, errlen);
	return bmc->ops->inventory(bmc, system, firmware, err, errlen);
}

int
bmc_sensors(struct bmc *bmc, struct bmc_sensor **ret, size_t *count, char *err, size_t errlen)
{
	if (bmc->ops->sensors == NULL)
		return unsupported(bmc, "sensor readings", err, errlen);
	return bmc->ops->sensors(bmc, ret, count, err, errlen);
}

int
bmc_events(struct bmc *bmc, json_t **ret, char *err, size_t errlen)
{
	if (bmc->ops->events == NULL)
		return unsupported(bmc, "the event log", err, errlen);
	return bmc->ops->events(bmc, ret, err, errlen);
}

int
bmc_firmware_update(struct bmc *bmc, const char *url, char *err, size_t errlen)
{
	if (bmc->ops->firmware_update == NULL)
		return unsupported(bmc, "firmware update", err, errlen);
	return bmc->ops->firmware_update(bmc, url, err, errlen);
}
