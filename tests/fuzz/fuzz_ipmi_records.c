/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the IPMI driver's record parsers in src/bmc/ipmi_parse.c. The first input byte
 * picks the parser: 0 a sensor data record, 1 a SEL entry, 2 FRU data, 3 a system
 * GUID; the rest is the record. Each result must be NUL-terminated, printable ASCII
 * and of the documented form, whatever bytes the BMC sent.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bmc/ipmi_internal.h"

/* FRU data is read up to 4096 bytes, other records are at most 260. */
#define FUZZ_MAX_BYTES 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_text(const char *text, size_t size)
{
	size_t len = strnlen(text, size);

	if (len == size)
		abort();
	for (size_t i = 0; i < len; i++)
		if (text[i] < 0x20 || text[i] > 0x7e)
			abort();
}

static void
check_sensor(struct ipmi_parsers *parsers, const uint8_t *record, size_t len)
{
	struct bmc_sensor sensor;
	int r = ipmi_parse_sensor_record(parsers, record, len, &sensor);

	if (r != 1 && r != 0 && r != -EINVAL)
		abort();
	if (r != 1)
		return;
	check_text(sensor.name, sizeof(sensor.name));
	check_text(sensor.unit, sizeof(sensor.unit));
	if (sensor.name[0] == '\0' || sensor.has_value || (int)sensor.kind < 0 ||
	    sensor.kind > BMC_SENSOR_OTHER)
		abort();
	(void)ipmi_sensor_value(parsers, record, len, 1.0);
}

static void
check_sel(struct ipmi_parsers *parsers, const uint8_t *record, size_t len)
{
	json_t *entry = NULL, *created, *severity;
	const char *id, *message, *level;

	if (ipmi_parse_sel_entry(parsers, record, len, &entry) < 0)
		return;
	id = json_string_value(json_object_get(entry, "id"));
	message = json_string_value(json_object_get(entry, "message"));
	created = json_object_get(entry, "created");
	severity = json_object_get(entry, "severity");
	if (id == NULL || id[0] == '\0' || strspn(id, "0123456789") != strlen(id) ||
	    message == NULL)
		abort();
	check_text(message, strlen(message) + 1);
	/* "YYYY-MM-DDTHH:MM:SSZ" or null */
	if (!json_is_null(created) &&
	    (!json_is_string(created) || json_string_length(created) != 20))
		abort();
	level = json_string_value(severity);
	if (!json_is_null(severity) && (level == NULL || (strcmp(level, "OK") != 0 &&
	    strcmp(level, "Warning") != 0 && strcmp(level, "Critical") != 0)))
		abort();
	json_decref(entry);
}

static void
check_fru(struct ipmi_parsers *parsers, const uint8_t *data, size_t len)
{
	struct ipmi_fru_info info;

	if (ipmi_parse_fru(parsers, data, len, &info) < 0)
		return;
	check_text(info.manufacturer, sizeof(info.manufacturer));
	check_text(info.model, sizeof(info.model));
	check_text(info.serial, sizeof(info.serial));
}

static void
check_guid(const uint8_t *data, size_t len)
{
	char text[37];

	if (len < 16)
		return;
	ipmi_guid_text(data, text);
	if (strlen(text) != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' ||
	    text[23] != '-')
		abort();
	for (size_t i = 0; i < 36; i++)
		if (text[i] != '-' && !isxdigit((unsigned char)text[i]))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ipmi_parsers parsers;
	static bool ready;

	if (size < 1 || size > FUZZ_MAX_BYTES)
		return 0;
	if (!ready) {
		if (ipmi_parsers_init(&parsers) < 0)
			abort();
		ready = true;
	}
	switch (data[0] % 4) {
	case 0: check_sensor(&parsers, data + 1, size - 1); break;
	case 1: check_sel(&parsers, data + 1, size - 1); break;
	case 2: check_fru(&parsers, data + 1, size - 1); break;
	default: check_guid(data + 1, size - 1); break;
	}
	return 0;
}
