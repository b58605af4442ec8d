/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rendering for `outpost bmc`: the BMC table, BMCs and operations as key: value lines,
 * and operation results (sensor, event and firmware tables). JSON in, text in a
 * struct buf out, with server text sanitised by cli_table and cli_render_fields.
 */
#include "cli/cli.h"

#include <errno.h>
#include <string.h>


/* Append the ADDRESS cell of the BMC table: the address, then ":PORT" when it is set. */
static int
bmc_address_cell(const json_t *bmc, size_t column, struct buf *out)
{
	json_int_t port = json_integer_value(json_object_get(bmc, "port"));
	int rc;

	(void)column;
	rc = cli_member_text(bmc, "address", out);
	if (rc == 0 && port > 0)
		rc = buf_printf(out, ":%" JSON_INTEGER_FORMAT, port);
	return rc;
}

/*
 * Append the VALUE cell of the sensor table. A real number gets 15 significant digits,
 * where cli_value_text's %g keeps 6 and would print an energy total of 1234567 kWh as
 * 1.23457e+06.
 */
static int
sensor_value_cell(const json_t *sensor, size_t column, struct buf *out)
{
	const json_t *value = json_object_get(sensor, "value");

	(void)column;
	if (json_is_real(value))
		return buf_printf(out, "%.15g", json_real_value(value));
	return cli_member_text(sensor, "value", out);
}

int
cli_render_bmcs(const json_t *items, struct buf *out)
{
	static const struct cli_column columns[] = {
		{ "ID", 10 }, { "PROTOCOL", 8 }, { "ADDRESS", 48 }, { "STATUS", 10 },
		{ "POWER", 12 }, { "MACHINE", 10 },
	};
	static const char *const keys[] = { "id", "protocol", NULL, "status", "power_state",
					    "machine" };

	return cli_render_items(items, columns, 6, keys, bmc_address_cell, out);
}

int
cli_render_bmc(json_t *bmc, struct buf *out)
{
	static const struct cli_field fields[] = {
		{ "id", "id" },
		{ "protocol", "protocol" },
		{ "address", "address" },
		{ "port", "port" },
		{ "username", "user" },
		{ "tls", "tls" },
		{ "ca_file", "ca file" },
		{ "fingerprint", "fingerprint" },
		{ "status", "status" },
		{ "status_detail", "status detail" },
		{ "power_state", "power" },
		{ "machine", "machine" },
		{ "checked_at", "checked" },
		{ "created_at", "created" },
		{ "updated_at", "updated" },
		{ NULL, NULL },
	};

	return cli_render_fields(bmc, fields, out);
}

int
cli_render_bmc_operation(json_t *operation, struct buf *out)
{
	static const struct cli_field fields[] = {
		{ "id", "id" },
		{ "bmc", "bmc" },
		{ "operation", "operation" },
		{ "args", "args" },
		{ "state", "state" },
		{ "error", "error" },
		{ "actor", "actor" },
		{ "batch", "batch" },
		{ "created_at", "created" },
		{ "started_at", "started" },
		{ "finished_at", "finished" },
		{ NULL, NULL },
	};
	json_t *result = json_object_get(operation, "result");
	json_t *copy;
	int rc;

	if (!json_is_object(operation))
		return -EINVAL;

	/* The result follows in its own form, so the listing leaves it out. */
	copy = json_copy(operation);
	if (copy == NULL)
		return -ENOMEM;
	json_object_del(copy, "result");
	rc = cli_render_fields(copy, fields, out);
	json_decref(copy);
	if (rc == 0 && json_is_object(result) && json_object_size(result) > 0) {
		rc = buf_puts(out, "\n");
		if (rc == 0)
			rc = cli_render_bmc_result(operation, out);
	}
	return rc;
}

/* The system of an inventory as key: value lines, then its firmware as a table. */
static int
render_inventory(json_t *result, struct buf *out)
{
	static const struct cli_field fields[] = {
		{ "manufacturer", "manufacturer" },
		{ "model", "model" },
		{ "serial", "serial" },
		{ "uuid", "uuid" },
		{ "bios_version", "bios version" },
		{ "power_state", "power" },
		{ "macs", "macs" },
		{ "boot", "boot" },
		{ NULL, NULL },
	};
	static const struct cli_column columns[] = {
		{ "ID", 32 }, { "NAME", 40 }, { "VERSION", 32 }, { "UPDATEABLE", 10 },
	};
	static const char *const keys[] = { "id", "name", "version", "updateable" };
	json_t *system = json_object_get(result, "system");
	json_t *firmware = json_object_get(result, "firmware");
	int rc = 0;

	if (json_is_object(system))
		rc = cli_render_fields(system, fields, out);
	if (rc == 0 && json_array_size(firmware) > 0) {
		rc = buf_puts(out, "\n");
		if (rc == 0)
			rc = cli_render_items(firmware, columns, 4, keys, NULL, out);
	}
	return rc;
}

/* What a verify learned: the machine it linked and the fingerprint. */
static int
render_verify(json_t *result, struct buf *out)
{
	static const struct cli_field fields[] = {
		{ "machine", "machine" },
		{ "machine_created", "machine created" },
		{ "fingerprint", "fingerprint" },
		{ NULL, NULL },
	};
	json_t *learned = json_object();
	int rc;

	if (learned == NULL)
		return -ENOMEM;
	for (size_t i = 0; fields[i].key != NULL; i++) {
		json_t *v = json_object_get(result, fields[i].key);

		if (v != NULL)
			json_object_set(learned, fields[i].key, v);
	}
	rc = cli_render_fields(learned, fields, out);
	json_decref(learned);
	return rc;
}

int
cli_render_bmc_result(json_t *operation, struct buf *out)
{
	static const struct cli_column sensor_columns[] = {
		{ "NAME", 40 }, { "KIND", 12 }, { "VALUE", 12 }, { "UNIT", 8 },
	};
	static const char *const sensor_keys[] = { "name", "kind", NULL, "unit" };
	static const struct cli_column event_columns[] = {
		{ "ID", 12 }, { "CREATED", 25 }, { "SEVERITY", 10 }, { "MESSAGE", 100 },
	};
	static const char *const event_keys[] = { "id", "created", "severity", "message" };
	static const struct cli_field no_fields[] = { { NULL, NULL } };
	const char *kind = json_string_value(json_object_get(operation, "operation"));
	json_t *result = json_object_get(operation, "result");
	struct buf clean;
	int rc;

	if (kind == NULL || !json_is_object(result))
		return -EINVAL;
	if (strcmp(kind, "sensors") == 0)
		return cli_render_items(json_object_get(result, "sensors"), sensor_columns, 4,
					sensor_keys, sensor_value_cell, out);
	if (strcmp(kind, "events") == 0)
		return cli_render_items(json_object_get(result, "events"), event_columns, 4,
					event_keys, NULL, out);
	if (strcmp(kind, "inventory") == 0)
		return render_inventory(result, out);
	if (strcmp(kind, "verify") == 0)
		return render_verify(result, out);
	if (json_object_size(result) > 0)
		return cli_render_fields(result, no_fields, out);

	/* Media insert and eject and firmware updates return nothing but success. */
	buf_init(&clean, CLI_ERROR_SIZE);
	rc = cli_sanitize(kind, &clean);
	if (rc == 0)
		rc = buf_printf(out, "operation %" JSON_INTEGER_FORMAT " (%s) succeeded\n",
				json_integer_value(json_object_get(operation, "id")), clean.data);
	buf_free(&clean);
	return rc;
}
