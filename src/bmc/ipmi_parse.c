/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The IPMI driver's record parsers: sensor data records, SEL entries and FRU data,
 * from bytes a BMC sent. They use libfreeipmi's parsing libraries with contexts that
 * have no session, and never touch the network, so tests/fuzz/fuzz_ipmi_records.c
 * runs them on arbitrary input.
 */
#include "bmc/ipmi_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* IPMI timestamps up to this value count seconds since the BMC started, not the epoch. */
#define SEL_TIMESTAMP_RELATIVE_MAX 0x20000000u
#define SEL_TIMESTAMP_UNSPECIFIED 0xffffffffu
#define SEL_MESSAGE_SIZE 256

int
ipmi_parsers_init(struct ipmi_parsers *parsers)
{
	memset(parsers, 0, sizeof(*parsers));
	parsers->sdr = ipmi_sdr_ctx_create();
	parsers->sel = ipmi_sel_ctx_create(NULL, NULL);
	parsers->fru = ipmi_fru_ctx_create(NULL);
	parsers->interpret = ipmi_interpret_ctx_create();
	if (parsers->sdr == NULL || parsers->sel == NULL || parsers->fru == NULL ||
	    parsers->interpret == NULL) {
		ipmi_parsers_free(parsers);
		return -ENOMEM;
	}
	return 0;
}

void
ipmi_parsers_free(struct ipmi_parsers *parsers)
{
	ipmi_sdr_ctx_destroy(parsers->sdr);
	ipmi_sel_ctx_destroy(parsers->sel);
	ipmi_fru_ctx_destroy(parsers->fru);
	ipmi_interpret_ctx_destroy(parsers->interpret);
	memset(parsers, 0, sizeof(*parsers));
}

/* Keep printable ASCII so names from the BMC are safe in JSON, logs and terminals. */
static void
copy_printable(char *out, size_t size, const char *in, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && in[i] != '\0' && n + 1 < size; i++)
		out[n++] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

static void
set_kind(struct bmc_sensor *sensor, enum bmc_sensor_kind kind, const char *unit)
{
	sensor->kind = kind;
	snprintf(sensor->unit, sizeof(sensor->unit), "%s", unit);
}

int
ipmi_parse_sensor_record(struct ipmi_parsers *parsers, const uint8_t *record, size_t len,
			 struct bmc_sensor *sensor)
{
	uint16_t id;
	uint8_t type, reading_type, sensor_type, percentage, modifier, rate, base, modifier_unit;
	char name[BMC_SENSOR_NAME_SIZE + 1] = "", unit[64];
	unsigned int n = (unsigned int)len;
	int name_len;

	memset(sensor, 0, sizeof(*sensor));
	if (ipmi_sdr_parse_record_id_and_type(parsers->sdr, record, n, &id, &type) < 0)
		return -EINVAL;
	if (type != IPMI_SDR_FORMAT_FULL_SENSOR_RECORD &&
	    type != IPMI_SDR_FORMAT_COMPACT_SENSOR_RECORD)
		return 0;
	if (ipmi_sdr_parse_event_reading_type_code(parsers->sdr, record, n, &reading_type) < 0 ||
	    ipmi_sdr_parse_sensor_type(parsers->sdr, record, n, &sensor_type) < 0 ||
	    ipmi_sdr_parse_sensor_units(parsers->sdr, record, n, &percentage, &modifier, &rate,
					&base, &modifier_unit) < 0)
		return -EINVAL;
	if (reading_type != IPMI_EVENT_READING_TYPE_CODE_THRESHOLD)
		return 0;

	name_len = ipmi_sdr_parse_id_string(parsers->sdr, record, n, name, sizeof(name) - 1);
	if (name_len < 0)
		return -EINVAL;
	copy_printable(sensor->name, sizeof(sensor->name), name, (size_t)name_len);
	if (sensor->name[0] == '\0')
		snprintf(sensor->name, sizeof(sensor->name), "sensor 0x%04x", id);

	if (percentage && sensor_type == IPMI_SENSOR_TYPE_FAN) {
		set_kind(sensor, BMC_SENSOR_FAN, "%");
		return 1;
	}
	switch (percentage || modifier != 0 || rate != 0 ? 0 : base) {
	case IPMI_SENSOR_UNIT_DEGREES_C:
	case IPMI_SENSOR_UNIT_DEGREES_F:
	case IPMI_SENSOR_UNIT_DEGREES_K:
		set_kind(sensor, BMC_SENSOR_TEMPERATURE, "Cel");
		break;
	case IPMI_SENSOR_UNIT_RPM: set_kind(sensor, BMC_SENSOR_FAN, "RPM"); break;
	case IPMI_SENSOR_UNIT_VOLTS: set_kind(sensor, BMC_SENSOR_VOLTAGE, "V"); break;
	case IPMI_SENSOR_UNIT_AMPS: set_kind(sensor, BMC_SENSOR_CURRENT, "A"); break;
	case IPMI_SENSOR_UNIT_WATTS: set_kind(sensor, BMC_SENSOR_POWER, "W"); break;
	default:
		/* The unit field is short: longer unit names are cut, as the bmc.h size allows. */
		if (ipmi_sensor_units_string(percentage, modifier, rate, base, modifier_unit, unit,
					     sizeof(unit), 1) < 0)
			unit[0] = '\0';
		sensor->kind = BMC_SENSOR_OTHER;
		copy_printable(sensor->unit, sizeof(sensor->unit), unit, sizeof(unit));
		break;
	}
	return 1;
}

double
ipmi_sensor_value(struct ipmi_parsers *parsers, const uint8_t *record, size_t len,
		  double reading)
{
	uint8_t percentage, modifier, rate, base, modifier_unit;

	if (ipmi_sdr_parse_sensor_units(parsers->sdr, record, (unsigned int)len, &percentage,
					&modifier, &rate, &base, &modifier_unit) < 0 || percentage)
		return reading;
	if (base == IPMI_SENSOR_UNIT_DEGREES_F)
		return (reading - 32.0) * 5.0 / 9.0;
	if (base == IPMI_SENSOR_UNIT_DEGREES_K)
		return reading - 273.15;
	return reading;
}

static json_t *
sel_created(struct ipmi_parsers *parsers, const uint8_t *record, size_t len)
{
	uint32_t timestamp;
	time_t seconds;
	struct tm tm;
	char text[32];

	if (ipmi_sel_parse_read_timestamp(parsers->sel, record, (unsigned int)len, &timestamp) < 0 ||
	    timestamp <= SEL_TIMESTAMP_RELATIVE_MAX || timestamp == SEL_TIMESTAMP_UNSPECIFIED)
		return json_null();
	seconds = (time_t)timestamp;
	if (gmtime_r(&seconds, &tm) == NULL ||
	    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_null();
	return json_string(text);
}

/* Redfish's LogEntry severities, so both drivers report the same words. */
static json_t *
sel_severity(struct ipmi_parsers *parsers, const uint8_t *record, size_t len)
{
	unsigned int state;

	if (ipmi_interpret_sel(parsers->interpret, record, (unsigned int)len, &state) < 0)
		return json_null();
	switch (state) {
	case IPMI_INTERPRET_STATE_NOMINAL: return json_string("OK");
	case IPMI_INTERPRET_STATE_WARNING: return json_string("Warning");
	case IPMI_INTERPRET_STATE_CRITICAL: return json_string("Critical");
	default: return json_null();
	}
}

int
ipmi_parse_sel_entry(struct ipmi_parsers *parsers, const uint8_t *record, size_t len,
		     json_t **ret)
{
	const unsigned int flags = IPMI_SEL_STRING_FLAGS_IGNORE_UNAVAILABLE_FIELD |
				   IPMI_SEL_STRING_FLAGS_VERBOSE;
	uint16_t id;
	uint8_t type;
	char raw[SEL_MESSAGE_SIZE] = "", message[SEL_MESSAGE_SIZE], key[8];

	if (ipmi_sel_parse_read_record_id(parsers->sel, record, (unsigned int)len, &id) < 0 ||
	    ipmi_sel_parse_read_record_type(parsers->sel, record, (unsigned int)len, &type) < 0)
		return -EINVAL;

	if (ipmi_sel_record_type_class(type) == IPMI_SEL_RECORD_TYPE_CLASS_SYSTEM_EVENT_RECORD) {
		/* Sensor type and number, then the event's text with its trigger reading. */
		if (ipmi_sel_parse_read_record_string(parsers->sel, "%T %s: %E", record,
						      (unsigned int)len, raw, sizeof(raw),
						      flags) < 0)
			snprintf(raw, sizeof(raw), "system event (undecoded)");
	} else {
		char oem[SEL_MESSAGE_SIZE - 32] = "";

		if (ipmi_sel_parse_read_record_string(parsers->sel, "%o", record,
						      (unsigned int)len, oem, sizeof(oem),
						      flags) < 0)
			oem[0] = '\0';
		snprintf(raw, sizeof(raw), "OEM record 0x%02x: %s", type, oem);
	}
	copy_printable(message, sizeof(message), raw, sizeof(raw));

	snprintf(key, sizeof(key), "%u", id);
	*ret = json_pack("{s:s, s:o, s:o, s:s}", "id", key, "created",
			 sel_created(parsers, record, len), "severity",
			 sel_severity(parsers, record, len), "message", message);
	return *ret != NULL ? 0 : -ENOMEM;
}

/* One FRU type/length field as text; empty when the field is empty or unreadable. */
static void
fru_text(struct ipmi_parsers *parsers, const ipmi_fru_field_t *field, uint8_t language,
	 char *out, size_t size)
{
	char text[IPMI_FRU_AREA_STRING_MAX + 1];
	unsigned int len = IPMI_FRU_AREA_STRING_MAX;

	memset(text, 0, sizeof(text));
	if (field->type_length_field_length == 0 ||
	    ipmi_fru_type_length_field_to_string(parsers->fru, field->type_length_field,
						 field->type_length_field_length, language,
						 text, &len) < 0)
		return;
	copy_printable(out, size, text, len);
}

static void
fill_if_empty(char *out, const char *value)
{
	if (out[0] == '\0')
		snprintf(out, IPMI_FRU_TEXT_SIZE, "%s", value);
}

static void
parse_product_area(struct ipmi_parsers *parsers, const uint8_t *area, unsigned int len,
		   struct ipmi_fru_info *info)
{
	ipmi_fru_field_t manufacturer, name, part, version, serial, asset, file_id;
	char text[IPMI_FRU_TEXT_SIZE];
	uint8_t language;

	memset(&manufacturer, 0, sizeof(manufacturer));
	name = part = version = serial = asset = file_id = manufacturer;
	if (ipmi_fru_product_info_area(parsers->fru, area, len, &language, &manufacturer, &name,
				       &part, &version, &serial, &asset, &file_id, NULL, 0) < 0)
		return;
	/* The product area names the system as sold, so it is preferred to the board's. */
	text[0] = '\0';
	fru_text(parsers, &manufacturer, language, text, sizeof(text));
	if (text[0] != '\0')
		snprintf(info->manufacturer, sizeof(info->manufacturer), "%s", text);
	text[0] = '\0';
	fru_text(parsers, &name, language, text, sizeof(text));
	if (text[0] != '\0')
		snprintf(info->model, sizeof(info->model), "%s", text);
	text[0] = '\0';
	fru_text(parsers, &serial, language, text, sizeof(text));
	if (text[0] != '\0')
		snprintf(info->serial, sizeof(info->serial), "%s", text);
}

static void
parse_board_area(struct ipmi_parsers *parsers, const uint8_t *area, unsigned int len,
		 struct ipmi_fru_info *board)
{
	ipmi_fru_field_t manufacturer, name, serial, part, file_id;
	uint32_t manufactured;
	uint8_t language;

	memset(&manufacturer, 0, sizeof(manufacturer));
	name = serial = part = file_id = manufacturer;
	if (ipmi_fru_board_info_area(parsers->fru, area, len, &language, &manufactured,
				     &manufacturer, &name, &serial, &part, &file_id, NULL, 0) < 0)
		return;
	fru_text(parsers, &manufacturer, language, board->manufacturer,
		 sizeof(board->manufacturer));
	fru_text(parsers, &name, language, board->model, sizeof(board->model));
	fru_text(parsers, &serial, language, board->serial, sizeof(board->serial));
}

int
ipmi_parse_fru(struct ipmi_parsers *parsers, const uint8_t *data, size_t len,
	       struct ipmi_fru_info *info)
{
	struct ipmi_fru_info board = { "", "", "" };
	uint8_t *area;
	int more;

	memset(info, 0, sizeof(*info));
	if (len == 0 || len > IPMI_FRU_AREA_SIZE_MAX)
		return -EINVAL;
	if (ipmi_fru_open_device_id_with_buffer(parsers->fru, data, (unsigned int)len) < 0)
		return -EINVAL;
	if (ipmi_fru_first(parsers->fru) < 0) {
		ipmi_fru_close_device_id(parsers->fru);
		return -EINVAL;
	}
	area = malloc(IPMI_FRU_AREA_SIZE_MAX);
	if (area == NULL) {
		ipmi_fru_close_device_id(parsers->fru);
		return -ENOMEM;
	}

	do {
		unsigned int type = 0, area_len = 0;

		if (ipmi_fru_read_data_area(parsers->fru, &type, &area_len, area,
					    IPMI_FRU_AREA_SIZE_MAX) < 0)
			break;
		if (type == IPMI_FRU_AREA_TYPE_PRODUCT_INFO_AREA && area_len > 0)
			parse_product_area(parsers, area, area_len, info);
		else if (type == IPMI_FRU_AREA_TYPE_BOARD_INFO_AREA && area_len > 0)
			parse_board_area(parsers, area, area_len, &board);
		more = ipmi_fru_next(parsers->fru);
	} while (more == 1);
	ipmi_fru_close_device_id(parsers->fru);
	free(area);

	fill_if_empty(info->manufacturer, board.manufacturer);
	fill_if_empty(info->model, board.model);
	fill_if_empty(info->serial, board.serial);
	return 0;
}

void
ipmi_guid_text(const uint8_t guid[16], char out[37])
{
	static const char digits[] = "0123456789abcdef";
	size_t n = 0;

	for (int i = 15; i >= 0; i--) {
		if (i == 11 || i == 9 || i == 7 || i == 5)
			out[n++] = '-';
		out[n++] = digits[guid[i] >> 4];
		out[n++] = digits[guid[i] & 0x0f];
	}
	out[n] = '\0';
}
