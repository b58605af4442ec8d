/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the Redfish driver's readers (src/bmc/redfish_parse.c) with whatever a BMC
 * could send. The input is parsed as JSON and given to every reader. The raw bytes,
 * as a string, also go to the ETag and Location helpers and to the opener of sealed
 * credentials (src/bmc/secret.c), which must reject what it did not seal. A link a
 * reader accepts must stay a path on the same service.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bmc/bmc-internal.h"

#define FUZZ_MAX_BYTES 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_path(const char *path)
{
	if (path != NULL && (path[0] != '/' || path[1] == '/'))
		abort();
}

static void
read_sensors(const json_t *doc)
{
	struct bmc_sensor *list = NULL, one;
	size_t count = 0, cap = 0;

	rf_thermal_parse(doc, &list, &count, &cap);
	rf_power_parse(doc, &list, &count, &cap);
	rf_thermal_metrics_parse(doc, &list, &count, &cap);
	if (rf_sensor_parse(doc, &one) == 0)
		rf_sensor_append(&list, &count, &cap, &one);
	if (rf_fan_parse(doc, &one) == 0)
		rf_sensor_append(&list, &count, &cap, &one);
	for (size_t i = 0; i < count; i++)
		if (memchr(list[i].name, '\0', sizeof(list[i].name)) == NULL ||
		    memchr(list[i].unit, '\0', sizeof(list[i].unit)) == NULL)
			abort();
	free(list);
}

static void
read_boot(const json_t *doc)
{
	char err[BMC_ERR_SIZE];

	for (int d = BMC_BOOT_PXE; d <= BMC_BOOT_DISK; d++) {
		for (int m = BMC_BOOT_MODE_KEEP; m <= BMC_BOOT_MODE_LEGACY; m++) {
			json_t *patch = NULL;

			if (rf_boot_patch(json_object_get(doc, "Boot"), (enum bmc_boot_device)d,
					  (enum bmc_boot_mode)m, true, &patch, err, sizeof(err)) == 0) {
				rf_boot_matches(json_object_get(doc, "Boot"), patch);
				json_decref(patch);
			}
		}
	}
}

static void
read_document(const json_t *doc)
{
	char text[512];
	json_t *list = json_array(), *out;
	unsigned mask;

	check_path(rf_odata_id(doc));
	check_path(rf_link(doc, "Systems"));
	check_path(rf_link(doc, "Sessions"));
	check_path(rf_next_link(doc));
	rf_members(doc, list);
	for (size_t i = 0; i < json_array_size(list); i++)
		check_path(json_string_value(json_array_get(list, i)));
	json_decref(list);

	mask = rf_reset_types(json_object_get(json_object_get(doc, "Actions"),
					      "#ComputerSystem.Reset"));
	mask |= rf_action_info_values(doc, "ResetType");
	for (int a = BMC_POWER_ON; a <= BMC_POWER_CYCLE; a++)
		rf_reset_name(mask, (enum bmc_power)a);
	rf_action_info_has(doc, "Image");

	read_boot(doc);
	read_sensors(doc);
	rf_task_state(doc, text, sizeof(text));
	rf_error_text(doc, text, sizeof(text));
	rf_error_is(doc, ".PropertyUnknown");
	rf_media_is_cd(doc);
	json_decref(rf_system_summary(doc));
	out = rf_firmware_summary(doc);
	json_decref(out);
	out = rf_log_entry(doc);
	json_decref(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[FUZZ_MAX_BYTES + 1], etag[256];
	json_t *doc;

	if (size > FUZZ_MAX_BYTES)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (strlen(text) < 200) {
		static const unsigned char key[BMC_KEY_SIZE];
		char opened[BMC_SECRET_SIZE];

		rf_etag_other_form(text, etag, sizeof(etag));
		check_path(rf_location_path(text));
		if (bmc_secret_open(key, "fuzz", text, opened, sizeof(opened)) == 0 &&
		    strlen(opened) >= BMC_SECRET_SIZE)
			abort();
	}
	doc = json_loadb((const char *)data, size, 0, NULL);
	if (doc != NULL)
		read_document(doc);
	json_decref(doc);
	return 0;
}
