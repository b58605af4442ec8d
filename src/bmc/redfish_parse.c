/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading Redfish resources: the pure half of the Redfish driver. Each function takes
 * a JSON document a BMC sent and extracts one thing, without I/O, so the fuzz target
 * and the recorded-response tests exercise exactly the code the driver runs. A BMC is
 * untrusted: every member may be missing or of the wrong type, and then the function
 * reports "not found" instead of guessing.
 */
#include "bmc/bmc-internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
rf_odata_id(const json_t *obj)
{
	const char *id = json_string_value(json_object_get(obj, "@odata.id"));

	/* Only a path on the same service: never a URL that would send us elsewhere. */
	return id != NULL && id[0] == '/' && id[1] != '/' ? id : NULL;
}

const char *
rf_link(const json_t *obj, const char *name)
{
	const char *id = rf_odata_id(json_object_get(obj, name));

	return id != NULL ? id : rf_odata_id(json_object_get(json_object_get(obj, "Links"), name));
}

int
rf_members(const json_t *collection, json_t *out)
{
	json_t *members = json_object_get(collection, "Members");
	size_t i;
	json_t *m;

	if (!json_is_array(members))
		return -ENOENT;
	json_array_foreach(members, i, m) {
		const char *id = rf_odata_id(m);

		if (id != NULL)
			json_array_append_new(out, json_string(id));
	}
	return 0;
}

const char *
rf_next_link(const json_t *collection)
{
	const char *next = json_string_value(json_object_get(collection, "Members@odata.nextLink"));

	return next != NULL && next[0] == '/' && next[1] != '/' ? next : NULL;
}

const char *
rf_location_path(const char *location)
{
	const char *path;

	if (location[0] == '/')
		return location[1] != '/' ? location : NULL;
	/* "https://host/...": the path only; requests always go to the BMC's own address. */
	if (strncmp(location, "https://", 8) != 0 && strncmp(location, "http://", 7) != 0)
		return NULL;
	path = strchr(strstr(location, "://") + 3, '/');
	return path != NULL && path[1] != '/' ? path : NULL;
}

/* Copy a BMC's text for a message: control characters become spaces. */
static void
copy_printable(char *out, size_t size, const char *text)
{
	snprintf(out, size, "%s", text);
	for (char *p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* Standard ResetType names, in the order of enum rf_reset. */
static const char *const reset_names[] = {
	"On", "ForceOn", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart",
	"PowerCycle", "PushPowerButton",
};

static unsigned
reset_mask_of(const json_t *values)
{
	unsigned mask = 0;
	size_t i;
	json_t *v;

	json_array_foreach(values, i, v) {
		for (size_t n = 0; n < sizeof(reset_names) / sizeof(reset_names[0]); n++)
			if (json_is_string(v) && strcmp(json_string_value(v), reset_names[n]) == 0)
				mask |= 1u << n;
	}
	return mask;
}

unsigned
rf_reset_types(const json_t *action)
{
	return reset_mask_of(json_object_get(action, "ResetType@Redfish.AllowableValues"));
}

unsigned
rf_action_info_values(const json_t *info, const char *parameter)
{
	json_t *params = json_object_get(info, "Parameters");
	size_t i;
	json_t *p;

	json_array_foreach(params, i, p) {
		const char *name = json_string_value(json_object_get(p, "Name"));

		if (name != NULL && strcmp(name, parameter) == 0)
			return reset_mask_of(json_object_get(p, "AllowableValues"));
	}
	return 0;
}

bool
rf_action_info_has(const json_t *info, const char *parameter)
{
	json_t *params = json_object_get(info, "Parameters");
	size_t i;
	json_t *p;

	json_array_foreach(params, i, p) {
		const char *name = json_string_value(json_object_get(p, "Name"));

		if (name != NULL && strcmp(name, parameter) == 0)
			return true;
	}
	return false;
}

const char *
rf_reset_name(unsigned mask, enum bmc_power action)
{
	/*
	 * Preference per action; a BMC that lists no values gets the first choice. A cycle
	 * is a cold restart, so without PowerCycle the caller turns the power off and on.
	 */
	static const int choices[][3] = {
		[BMC_POWER_ON] = { 0, 1, 7 },
		[BMC_POWER_OFF] = { 2, 7, -1 },
		[BMC_POWER_SHUTDOWN] = { 3, 7, -1 },
		[BMC_POWER_RESET] = { 5, 6, 4 },
		[BMC_POWER_CYCLE] = { 6, -1, -1 },
	};

	if ((unsigned)action >= sizeof(choices) / sizeof(choices[0]))
		return NULL;
	if (mask == 0)
		return reset_names[choices[action][0]];
	for (int i = 0; i < 3; i++) {
		int n = choices[action][i];

		if (n >= 0 && (mask & (1u << n)) != 0)
			return reset_names[n];
	}
	return NULL;
}

static bool
allowed(const json_t *obj, const char *property, const char *value)
{
	char key[128];
	json_t *values;
	size_t i;
	json_t *v;

	snprintf(key, sizeof(key), "%s@Redfish.AllowableValues", property);
	values = json_object_get(obj, key);
	if (!json_is_array(values))
		return true;
	json_array_foreach(values, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
			return true;
	return false;
}

int
rf_boot_patch(const json_t *boot, enum bmc_boot_device device, enum bmc_boot_mode mode,
	      bool with_mode, json_t **ret, char *err, size_t errlen)
{
	static const char *const targets[] = {
		[BMC_BOOT_PXE] = "Pxe", [BMC_BOOT_HTTP] = "UefiHttp", [BMC_BOOT_CD] = "Cd",
		[BMC_BOOT_DISK] = "Hdd",
	};
	const char *target, *mode_name = NULL;
	json_t *patch;

	if (!json_is_object(boot))
		return bmc_fail(-EOPNOTSUPP, err, errlen, "the system has no Boot property, so no "
				"boot override can be set");
	if ((unsigned)device >= sizeof(targets) / sizeof(targets[0]))
		return bmc_fail(-EINVAL, err, errlen, "invalid boot device %d", (int)device);
	target = targets[device];
	if (!allowed(boot, "BootSourceOverrideTarget", target))
		return bmc_fail(-EOPNOTSUPP, err, errlen, "the BMC does not offer boot target %s "
				"(see BootSourceOverrideTarget@Redfish.AllowableValues)", target);
	if (mode == BMC_BOOT_MODE_UEFI)
		mode_name = "UEFI";
	else if (mode == BMC_BOOT_MODE_LEGACY)
		mode_name = "Legacy";
	if (mode_name != NULL && !allowed(boot, "BootSourceOverrideMode", mode_name))
		return bmc_fail(-EOPNOTSUPP, err, errlen, "the BMC does not offer boot mode %s",
				mode_name);

	patch = json_pack("{s:{s:s, s:s}}", "Boot", "BootSourceOverrideEnabled", "Once",
			  "BootSourceOverrideTarget", target);
	if (patch == NULL)
		return bmc_fail(-ENOMEM, err, errlen, "out of memory");
	/* Some BMCs reject BootSourceOverrideMode: send it only where the BMC shows it. */
	if (mode_name != NULL && with_mode && json_object_get(boot, "BootSourceOverrideMode") != NULL)
		json_object_set_new(json_object_get(patch, "Boot"), "BootSourceOverrideMode",
				    json_string(mode_name));
	*ret = patch;
	return 0;
}

bool
rf_boot_matches(const json_t *boot, json_t *patch)
{
	const char *key;
	json_t *want;

	json_object_foreach(json_object_get(patch, "Boot"), key, want) {
		const char *have = json_string_value(json_object_get(boot, key));

		if (have == NULL || json_string_value(want) == NULL ||
		    strcmp(have, json_string_value(want)) != 0)
			return false;
	}
	return true;
}

enum rf_task
rf_task_state(const json_t *task, char *message, size_t size)
{
	const char *state = json_string_value(json_object_get(task, "TaskState"));
	json_t *messages = json_object_get(task, "Messages");
	const char *text = json_string_value(json_object_get(json_array_get(messages, 0),
							      "Message"));

	copy_printable(message, size, text != NULL ? text : "");
	if (state == NULL)
		return RF_TASK_UNKNOWN;
	if (strcmp(state, "Completed") == 0)
		return RF_TASK_DONE;
	if (strcmp(state, "Exception") == 0 || strcmp(state, "Killed") == 0 ||
	    strcmp(state, "Cancelled") == 0)
		return RF_TASK_FAILED;
	return RF_TASK_RUNNING;
}

void
rf_error_text(const json_t *body, char *out, size_t size)
{
	json_t *error = json_object_get(body, "error");
	json_t *info = json_object_get(error, "@Message.ExtendedInfo");
	const char *text = json_string_value(json_object_get(json_array_get(info, 0), "Message"));
	const char *id = json_string_value(json_object_get(json_array_get(info, 0), "MessageId"));

	if (text == NULL)
		text = json_string_value(json_object_get(error, "message"));
	if (id == NULL)
		id = json_string_value(json_object_get(error, "code"));
	char line[400];

	if (text == NULL && id == NULL)
		snprintf(line, sizeof(line), "%s", "");
	else if (id == NULL)
		snprintf(line, sizeof(line), "%.300s", text);
	else
		snprintf(line, sizeof(line), "%.200s (%.100s)", text != NULL ? text : "no message", id);
	copy_printable(out, size, line);
}

bool
rf_error_is(const json_t *body, const char *message_id_suffix)
{
	json_t *info = json_object_get(json_object_get(body, "error"), "@Message.ExtendedInfo");
	size_t i, n = strlen(message_id_suffix);
	json_t *m;

	json_array_foreach(info, i, m) {
		const char *id = json_string_value(json_object_get(m, "MessageId"));
		size_t len = id != NULL ? strlen(id) : 0;

		if (len >= n && strcmp(id + len - n, message_id_suffix) == 0)
			return true;
	}
	return false;
}

void
rf_etag_other_form(const char *etag, char *out, size_t size)
{
	size_t len = strlen(etag);

	if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"')
		snprintf(out, size, "%.*s", (int)(len - 2), etag + 1);
	else if (strncmp(etag, "W/", 2) == 0)
		snprintf(out, size, "%s", etag + 2);
	else
		snprintf(out, size, "\"%s\"", etag);
}

static void
sensor_name(struct bmc_sensor *s, const json_t *obj)
{
	const char *name = json_string_value(json_object_get(obj, "Name"));

	if (name == NULL)
		name = json_string_value(json_object_get(obj, "Id"));
	if (name == NULL)
		name = json_string_value(json_object_get(obj, "MemberId"));
	snprintf(s->name, sizeof(s->name), "%s", name != NULL ? name : "unnamed");
}

/* A reading: a JSON number that is finite. */
static void
sensor_value(struct bmc_sensor *s, const json_t *value)
{
	double v = json_number_value(value);

	s->has_value = json_is_number(value) && isfinite(v);
	s->value = s->has_value ? v : 0;
}

int
rf_sensor_parse(const json_t *sensor, struct bmc_sensor *out)
{
	static const struct {
		const char *type;
		enum bmc_sensor_kind kind;
		const char *unit;
	} types[] = {
		{ "Temperature", BMC_SENSOR_TEMPERATURE, "Cel" },
		{ "Rotational", BMC_SENSOR_FAN, "RPM" },
		{ "Percent", BMC_SENSOR_FAN, "%" },
		{ "Power", BMC_SENSOR_POWER, "W" },
		{ "Voltage", BMC_SENSOR_VOLTAGE, "V" },
		{ "Current", BMC_SENSOR_CURRENT, "A" },
	};
	const char *type = json_string_value(json_object_get(sensor, "ReadingType"));
	const char *units = json_string_value(json_object_get(sensor, "ReadingUnits"));

	if (!json_is_object(sensor))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	sensor_name(out, sensor);
	out->kind = BMC_SENSOR_OTHER;
	snprintf(out->unit, sizeof(out->unit), "%s", units != NULL ? units : "");
	/* Some BMCs leave ReadingType null and give only the units. */
	for (size_t i = 0; type == NULL && units != NULL && i < sizeof(types) / sizeof(types[0]);
	     i++)
		if (strcmp(units, types[i].unit) == 0 && strcmp(types[i].type, "Percent") != 0)
			type = types[i].type;
	for (size_t i = 0; type != NULL && i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(type, types[i].type) == 0) {
			out->kind = types[i].kind;
			snprintf(out->unit, sizeof(out->unit), "%s", types[i].unit);
			break;
		}
	}
	/* A "Percent" reading is a fan only when the sensor sits on a fan. */
	if (type != NULL && strcmp(type, "Percent") == 0) {
		const char *context = json_string_value(json_object_get(sensor, "PhysicalContext"));
		const char *name = out->name;

		if ((context == NULL || strcmp(context, "Fan") != 0) && strstr(name, "Fan") == NULL)
			out->kind = BMC_SENSOR_OTHER;
	}
	sensor_value(out, json_object_get(sensor, "Reading"));
	return 0;
}

/* Append one sensor from an array entry of Thermal or Power. */
static int
push(struct bmc_sensor **list, size_t *count, size_t *cap, const json_t *entry,
     enum bmc_sensor_kind kind, const char *unit, const json_t *value)
{
	struct bmc_sensor *s;

	if (*count == *cap) {
		size_t cap2 = *cap == 0 ? 16 : *cap * 2;
		struct bmc_sensor *bigger = realloc(*list, cap2 * sizeof(**list));

		if (bigger == NULL)
			return -ENOMEM;
		*list = bigger;
		*cap = cap2;
	}
	s = &(*list)[(*count)++];
	memset(s, 0, sizeof(*s));
	sensor_name(s, entry);
	s->kind = kind;
	snprintf(s->unit, sizeof(s->unit), "%s", unit);
	sensor_value(s, value);
	return 0;
}

int
rf_sensor_append(struct bmc_sensor **list, size_t *count, size_t *cap,
		 const struct bmc_sensor *s)
{
	int r = push(list, count, cap, NULL, s->kind, s->unit, NULL);

	if (r == 0)
		(*list)[*count - 1] = *s;
	return r;
}

/* One array of Thermal or Power: its entries' reading member, kind and unit. */
struct reading_array {
	const char *array;
	const char *value;
	enum bmc_sensor_kind kind;
	const char *unit;
};

static int
arrays_parse(const json_t *doc, const struct reading_array *arrays, size_t n,
	     struct bmc_sensor **list, size_t *count, size_t *cap)
{
	json_t *entry;
	size_t i;
	int r = 0;

	for (size_t a = 0; a < n && r == 0; a++) {
		json_array_foreach(json_object_get(doc, arrays[a].array), i, entry) {
			const char *units = json_string_value(json_object_get(entry, "ReadingUnits"));
			const char *unit = arrays[a].unit;

			if (r != 0 || !json_is_object(entry))
				continue;
			/* Fans report RPM unless their ReadingUnits is Percent. */
			if (arrays[a].kind == BMC_SENSOR_FAN && units != NULL &&
			    strcmp(units, "Percent") == 0)
				unit = "%";
			r = push(list, count, cap, entry, arrays[a].kind, unit,
				 json_object_get(entry, arrays[a].value));
		}
	}
	return r;
}

int
rf_thermal_parse(const json_t *thermal, struct bmc_sensor **list, size_t *count, size_t *cap)
{
	static const struct reading_array arrays[] = {
		{ "Temperatures", "ReadingCelsius", BMC_SENSOR_TEMPERATURE, "Cel" },
		{ "Fans", "Reading", BMC_SENSOR_FAN, "RPM" },
	};

	return arrays_parse(thermal, arrays, 2, list, count, cap);
}

int
rf_power_parse(const json_t *power, struct bmc_sensor **list, size_t *count, size_t *cap)
{
	static const struct reading_array arrays[] = {
		{ "PowerControl", "PowerConsumedWatts", BMC_SENSOR_POWER, "W" },
		{ "Voltages", "ReadingVolts", BMC_SENSOR_VOLTAGE, "V" },
	};

	return arrays_parse(power, arrays, 2, list, count, cap);
}

int
rf_thermal_metrics_parse(const json_t *metrics, struct bmc_sensor **list, size_t *count,
			 size_t *cap)
{
	json_t *entry;
	size_t i;
	int r = 0;

	json_array_foreach(json_object_get(metrics, "TemperatureReadingsCelsius"), i, entry) {
		struct bmc_sensor s = { .kind = BMC_SENSOR_TEMPERATURE, .unit = "Cel" };
		const char *name = json_string_value(json_object_get(entry, "DeviceName"));

		if (r != 0 || !json_is_object(entry))
			continue;
		snprintf(s.name, sizeof(s.name), "%s", name != NULL ? name : "temperature");
		sensor_value(&s, json_object_get(entry, "Reading"));
		r = rf_sensor_append(list, count, cap, &s);
	}
	return r;
}

int
rf_fan_parse(const json_t *fan, struct bmc_sensor *out)
{
	json_t *speed = json_object_get(fan, "SpeedPercent");

	if (!json_is_object(fan) || !json_is_object(speed))
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	sensor_name(out, fan);
	out->kind = BMC_SENSOR_FAN;
	snprintf(out->unit, sizeof(out->unit), "%s",
		 json_object_get(speed, "SpeedRPM") != NULL ? "RPM" : "%");
	sensor_value(out, json_object_get(speed, json_object_get(speed, "SpeedRPM") != NULL ?
					  "SpeedRPM" : "Reading"));
	return 0;
}

const char *
rf_power_name(const char *value)
{
	static const char *const states[][2] = {
		{ "On", "on" }, { "Off", "off" }, { "PoweringOn", "powering-on" },
		{ "PoweringOff", "powering-off" },
	};

	for (size_t i = 0; value != NULL && i < sizeof(states) / sizeof(states[0]); i++) {
		if (strcmp(value, states[i][0]) == 0)
			return states[i][1];
	}
	return "unknown";
}

json_t *
rf_system_summary(const json_t *system)
{
	static const char *const keys[][2] = {
		{ "manufacturer", "Manufacturer" }, { "model", "Model" },
		{ "serial", "SerialNumber" }, { "uuid", "UUID" },
		{ "bios_version", "BiosVersion" },
	};
	json_t *out = json_object(), *boot = json_object_get(system, "Boot");

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = json_string_value(json_object_get(system, keys[i][1]));

		json_object_set_new(out, keys[i][0], v != NULL ? json_string(v) : json_null());
	}
	json_object_set_new(out, "power_state", json_string(rf_power_name(
		json_string_value(json_object_get(system, "PowerState")))));
	json_object_set_new(out, "boot", json_pack("{s:o, s:o, s:o}",
		"mode", json_is_string(json_object_get(boot, "BootSourceOverrideMode")) ?
			json_copy(json_object_get(boot, "BootSourceOverrideMode")) : json_null(),
		"override", json_is_string(json_object_get(boot, "BootSourceOverrideTarget")) ?
			json_copy(json_object_get(boot, "BootSourceOverrideTarget")) : json_null(),
		"enabled", json_is_string(json_object_get(boot, "BootSourceOverrideEnabled")) ?
			json_copy(json_object_get(boot, "BootSourceOverrideEnabled")) : json_null()));
	json_object_set_new(out, "macs", json_array());
	return out;
}

json_t *
rf_firmware_summary(const json_t *item)
{
	const char *id = json_string_value(json_object_get(item, "Id"));
	const char *name = json_string_value(json_object_get(item, "Name"));
	const char *version = json_string_value(json_object_get(item, "Version"));

	if (id == NULL)
		return NULL;
	return json_pack("{s:s, s:s, s:o, s:b}", "id", id, "name", name != NULL ? name : id,
			 "version", version != NULL ? json_string(version) : json_null(),
			 "updateable", json_is_true(json_object_get(item, "Updateable")));
}

json_t *
rf_log_entry(const json_t *entry)
{
	const char *id = json_string_value(json_object_get(entry, "Id"));
	const char *created = json_string_value(json_object_get(entry, "Created"));
	const char *severity = json_string_value(json_object_get(entry, "Severity"));
	const char *message = json_string_value(json_object_get(entry, "Message"));

	if (id == NULL)
		return NULL;
	return json_pack("{s:s, s:o, s:o, s:o}", "id", id,
			 "created", created != NULL ? json_string(created) : json_null(),
			 "severity", severity != NULL ? json_string(severity) : json_null(),
			 "message", message != NULL ? json_string(message) : json_null());
}

bool
rf_media_is_cd(const json_t *media)
{
	json_t *types = json_object_get(media, "MediaTypes");
	size_t i;
	json_t *t;

	json_array_foreach(types, i, t) {
		const char *type = json_string_value(t);

		if (type != NULL && (strcmp(type, "CD") == 0 || strcmp(type, "DVD") == 0))
			return true;
	}
	return false;
}
