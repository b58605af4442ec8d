/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Redfish readings: inventory, sensors and the event log. A part the BMC does not have
 * (404, 405, 501, no link) is left out; any other failure, a timeout included, fails
 * the whole reading, because a partial reading would look like parts that went missing.
 */
#include "bmc/bmc-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RF_CHASSIS_MAX 16
#define RF_MACS_MAX 32
#define RF_LOG_ENTRIES_MAX 1000
/* The maximum members one reading takes from a collection; rf_members_all stops at 4096. */
#define RF_ITEMS_MAX 4096

static int
add_mac(const char *path, const json_t *nic, void *arg)
{
	const char *mac = json_string_value(json_object_get(nic, "MACAddress"));
	(void)path;

	if (mac != NULL)
		json_array_append_new(arg, json_string(mac));
	return 0;
}

static int
add_firmware(const char *path, const json_t *item, void *arg)
{
	json_t *summary = rf_firmware_summary(item);
	(void)path;

	if (summary != NULL)
		json_array_append_new(arg, summary);
	return 0;
}

static int
firmware_list(struct rf *rf, json_t *out, char *err, size_t errlen)
{
	const char *service = rf_link(rf->root, "UpdateService");
	json_t *update;
	int r;

	if (service == NULL)
		return 0;
	r = rf_get(rf, service, &update, err, errlen);
	if (r < 0)
		return rf_missing(r) ? 0 : r;
	r = rf_each_member(rf, rf_link(update, "FirmwareInventory"), RF_ITEMS_MAX,
			add_firmware, out, err, errlen);
	json_decref(update);
	return r;
}

int
rf_inventory(struct bmc *bmc, json_t **system_ret, json_t **firmware, char *err,
	     size_t errlen)
{
	struct rf *rf = rf_begin(bmc);
	json_t *system, *summary, *list = json_array();
	int r = rf_system_path(rf, err, errlen);

	if (r == 0)
		r = rf_get(rf, rf->system, &system, err, errlen);
	if (r < 0) {
		json_decref(list);
		return r;
	}
	summary = rf_system_summary(system);
	r = rf_each_member(rf, rf_link(system, "EthernetInterfaces"), RF_MACS_MAX, add_mac,
			json_object_get(summary, "macs"), err, errlen);
	json_decref(system);
	if (r == 0)
		r = firmware_list(rf, list, err, errlen);
	if (r < 0) {
		json_decref(summary);
		json_decref(list);
		return r;
	}
	*system_ret = summary;
	*firmware = list;
	return 0;
}

struct sensor_list {
	struct bmc_sensor *items;
	size_t count;
	size_t cap;
};

static int
add_sensor(const char *path, const json_t *item, void *arg)
{
	struct sensor_list *out = arg;
	struct bmc_sensor s;
	(void)path;

	if (rf_sensor_parse(item, &s) < 0)
		return 0;
	return rf_sensor_append(&out->items, &out->count, &out->cap, &s);
}

static int
add_fan(const char *path, const json_t *item, void *arg)
{
	struct sensor_list *out = arg;
	struct bmc_sensor s;
	(void)path;

	if (rf_fan_parse(item, &s) < 0)
		return 0;
	return rf_sensor_append(&out->items, &out->count, &out->cap, &s);
}

/* The Sensors collection in one request, where the service expands it; false otherwise. */
static bool
sensors_expanded(struct rf *rf, const char *link, struct sensor_list *out)
{
	json_t *features = json_object_get(json_object_get(rf->root, "ProtocolFeaturesSupported"),
					   "ExpandQuery");
	size_t before = out->count, i;
	char path[BMC_PATH_SIZE], err[BMC_ERR_SIZE];
	json_t *expanded, *m;
	bool whole = true;

	if (!json_is_true(json_object_get(features, "Levels")))
		return false;
	snprintf(path, sizeof(path), "%s?$expand=.($levels=1)", link);
	if (rf_get(rf, path, &expanded, err, sizeof(err)) < 0)
		return false;
	/* A BMC that ignores $expand sends links only: read the members one by one. */
	json_array_foreach(json_object_get(expanded, "Members"), i, m)
		whole = whole && json_object_get(m, "Reading") != NULL;
	if (whole && rf_next_link(expanded) == NULL)
		json_array_foreach(json_object_get(expanded, "Members"), i, m)
			add_sensor(NULL, m, out);
	json_decref(expanded);
	return whole && out->count > before;
}

static int
get_and_parse(struct rf *rf, const char *link, int (*parse)(const json_t *doc,
	      struct bmc_sensor **list, size_t *count, size_t *cap), struct sensor_list *out,
	      char *err, size_t errlen)
{
	json_t *doc;
	int r = rf_get(rf, link, &doc, err, errlen);

	if (r < 0)
		return rf_missing(r) ? 0 : r;
	r = parse(doc, &out->items, &out->count, &out->cap);
	json_decref(doc);
	return r;
}

/* ThermalSubsystem: its ThermalMetrics and its Fans' speeds. */
static int
thermal_subsystem(struct rf *rf, const char *link, struct sensor_list *out, char *err,
		  size_t errlen)
{
	json_t *sub;
	const char *metrics;
	int r = rf_get(rf, link, &sub, err, errlen);

	if (r < 0)
		return rf_missing(r) ? 0 : r;
	metrics = rf_link(sub, "ThermalMetrics");
	if (metrics != NULL)
		r = get_and_parse(rf, metrics, rf_thermal_metrics_parse, out, err, errlen);
	if (r == 0)
		r = rf_each_member(rf, rf_link(sub, "Fans"), RF_ITEMS_MAX, add_fan, out, err,
				errlen);
	json_decref(sub);
	return r;
}

/* One chassis: the Sensors collection where it has sensors, else Thermal and Power. */
static int
chassis_sensors(struct rf *rf, const char *path, struct sensor_list *out, char *err,
		size_t errlen)
{
	size_t before = out->count;
	const char *link;
	json_t *chassis;
	int r = rf_get(rf, path, &chassis, err, errlen);

	if (r < 0)
		return rf_missing(r) ? 0 : r;
	link = rf_link(chassis, "Sensors");
	if (link != NULL && !sensors_expanded(rf, link, out))
		r = rf_each_member(rf, link, RF_ITEMS_MAX, add_sensor, out, err, errlen);
	if (r == 0 && out->count == before) {
		if ((link = rf_link(chassis, "Thermal")) != NULL)
			r = get_and_parse(rf, link, rf_thermal_parse, out, err, errlen);
		else if ((link = rf_link(chassis, "ThermalSubsystem")) != NULL)
			r = thermal_subsystem(rf, link, out, err, errlen);
		if (r == 0 && (link = rf_link(chassis, "Power")) != NULL)
			r = get_and_parse(rf, link, rf_power_parse, out, err, errlen);
	}
	json_decref(chassis);
	return r;
}

int
rf_sensors(struct bmc *bmc, struct bmc_sensor **ret, size_t *count, char *err, size_t errlen)
{
	struct rf *rf = rf_begin(bmc);
	const char *link = rf_link(rf->root, "Chassis");
	struct sensor_list out = { 0 };
	json_t *list, *path;
	size_t i;
	int r;

	if (link == NULL)
		return bmc_fail(-EOPNOTSUPP, err, errlen, "the service root of %s has no Chassis "
				"link on its own service", bmc->target->address);
	r = rf_members_all(rf, link, &list, err, errlen);
	if (r < 0)
		return r;
	json_array_foreach(list, i, path) {
		if (i >= RF_CHASSIS_MAX)
			break;
		r = chassis_sensors(rf, json_string_value(path), &out, err, errlen);
		if (r < 0)
			break;
	}
	json_decref(list);
	if (r < 0) {
		free(out.items);
		return r;
	}
	*ret = out.items;
	*count = out.count;
	return 0;
}

static int
add_entry(const char *path, const json_t *item, void *arg)
{
	json_t *summary = rf_log_entry(item);
	(void)path;

	if (summary != NULL)
		json_array_append_new(arg, summary);
	return 0;
}

struct log_reading {
	struct rf *rf;
	json_t *out;
	char *err;
	size_t errlen;
};

static int
add_log_service(const char *path, const json_t *service, void *arg)
{
	struct log_reading *ctx = arg;
	(void)path;

	/* The first service with entries is the log; the others are left out. */
	if (json_array_size(ctx->out) > 0)
		return 0;
	return rf_each_member(ctx->rf, rf_link(service, "Entries"), RF_LOG_ENTRIES_MAX, add_entry,
			   ctx->out, ctx->err, ctx->errlen);
}

int
rf_events(struct bmc *bmc, json_t **ret, char *err, size_t errlen)
{
	struct rf *rf = rf_begin(bmc);
	json_t *system;
	struct log_reading ctx = { rf, json_array(), err, errlen };
	int r = rf_system_path(rf, err, errlen);

	if (r == 0)
		r = rf_get(rf, rf->system, &system, err, errlen);
	if (r == 0) {
		r = rf_each_member(rf, rf_link(system, "LogServices"), RF_CHASSIS_MAX,
				add_log_service, &ctx, err, errlen);
		json_decref(system);
	}
	if (r < 0) {
		json_decref(ctx.out);
		return r;
	}
	*ret = ctx.out;
	return 0;
}
