/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Run one BMC operation through src/bmc directly, for the BMC integration tests and
 * for trying a driver against a real BMC. The password comes from the environment
 * variable BMC_PASSWORD, never from the command line.
 *
 * Usage: bmc_tool [options] COMMAND [ARG]
 *   options: --protocol redfish|ipmi  --address HOST  --port N  --user NAME
 *            --ca FILE | --fingerprint HEX | --tofu  --timeout MS
 *   commands: power-state, power on|off|shutdown|reset|cycle,
 *             boot pxe|http|cd|disk [uefi|legacy], media-insert URL, media-eject,
 *             media-status, inventory, sensors, events, firmware-update URL
 * Prints JSON on stdout; on failure prints the error on stderr and exits 1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmc/bmc.h"

static void
usage(void)
{
	fprintf(stderr, "usage: bmc_tool [--protocol redfish|ipmi] --address HOST [--port N] "
		"[--user NAME] [--ca FILE | --fingerprint HEX | --tofu] [--timeout MS] "
		"COMMAND [ARG...]\n");
	exit(2);
}

static void
copy(char *out, size_t size, const char *value, const char *option)
{
	if (strlen(value) >= size) {
		fprintf(stderr, "bmc_tool: %s is too long: at most %zu bytes\n", option, size - 1);
		exit(2);
	}
	strcpy(out, value);
}

static int
print_json(json_t *value)
{
	char *text = json_dumps(value, JSON_INDENT(2) | JSON_SORT_KEYS);

	json_decref(value);
	if (text == NULL)
		return -ENOMEM;
	printf("%s\n", text);
	free(text);
	return 0;
}

static int
print_sensors(struct bmc *bmc, char *err, size_t errlen)
{
	struct bmc_sensor *sensors = NULL;
	size_t count = 0;
	json_t *list;
	int r = bmc_sensors(bmc, &sensors, &count, err, errlen);

	if (r < 0)
		return r;
	list = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:o, s:s}",
			"name", sensors[i].name, "kind", bmc_sensor_kind_name(sensors[i].kind),
			"value", sensors[i].has_value ? json_real(sensors[i].value) : json_null(),
			"unit", sensors[i].unit));
	free(sensors);
	return print_json(list);
}

static int
run(struct bmc *bmc, int argc, char **argv, char *err, size_t errlen)
{
	const char *cmd = argv[0], *arg = argc > 1 ? argv[1] : NULL;
	json_t *a = NULL, *b = NULL;
	char state[32];
	int r;

	if (strcmp(cmd, "power-state") == 0) {
		r = bmc_power_state(bmc, state, sizeof(state), err, errlen);
		return r < 0 ? r : print_json(json_pack("{s:s}", "power_state", state));
	}
	if (strcmp(cmd, "power") == 0) {
		enum bmc_power action;

		if (bmc_power_parse(arg, &action) < 0)
			usage();
		r = bmc_power_set(bmc, action, err, errlen);
		return r < 0 ? r : print_json(json_pack("{s:s}", "power", arg));
	}
	if (strcmp(cmd, "boot") == 0) {
		enum bmc_boot_device device;
		enum bmc_boot_mode mode = BMC_BOOT_MODE_KEEP;

		if (bmc_boot_device_parse(arg, &device) < 0 ||
		    (argc > 2 && bmc_boot_mode_parse(argv[2], &mode) < 0))
			usage();
		r = bmc_boot_once(bmc, device, mode, err, errlen);
		return r < 0 ? r : print_json(json_pack("{s:s, s:s}", "boot", arg, "mode",
							bmc_boot_mode_name(mode)));
	}
	if (strcmp(cmd, "media-insert") == 0 && arg != NULL) {
		r = bmc_media_insert(bmc, arg, err, errlen);
		return r < 0 ? r : print_json(json_pack("{s:s}", "inserted", arg));
	}
	if (strcmp(cmd, "media-eject") == 0) {
		r = bmc_media_eject(bmc, err, errlen);
		return r < 0 ? r : print_json(json_pack("{s:b}", "ejected", 1));
	}
	if (strcmp(cmd, "media-status") == 0) {
		r = bmc_media_status(bmc, &a, err, errlen);
		return r < 0 ? r : print_json(a);
	}
	if (strcmp(cmd, "inventory") == 0) {
		r = bmc_inventory(bmc, &a, &b, err, errlen);
		return r < 0 ? r : print_json(json_pack("{s:o, s:o}", "system", a, "firmware", b));
	}
	if (strcmp(cmd, "sensors") == 0)
		return print_sensors(bmc, err, errlen);
	if (strcmp(cmd, "events") == 0) {
		r = bmc_events(bmc, &a, err, errlen);
		return r < 0 ? r : print_json(a);
	}
	if (strcmp(cmd, "firmware-update") == 0 && arg != NULL) {
		r = bmc_firmware_update(bmc, arg, err, errlen);
		return r < 0 ? r : print_json(json_pack("{s:s}", "updated", arg));
	}
	usage();
	return -EINVAL;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "protocol", required_argument, NULL, 'P' },
		{ "address", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "ca", required_argument, NULL, 'c' },
		{ "fingerprint", required_argument, NULL, 'f' },
		{ "tofu", no_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct bmc_target target = { .protocol = BMC_REDFISH, .tls = BMC_TLS_CA,
				     .timeout_ms = 30000 };
	const char *password = getenv("BMC_PASSWORD");
	char err[BMC_ERR_SIZE] = "";
	struct bmc *bmc;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'P':
			if (strcmp(optarg, "redfish") != 0 && strcmp(optarg, "ipmi") != 0)
				usage();
			target.protocol = strcmp(optarg, "ipmi") == 0 ? BMC_IPMI : BMC_REDFISH;
			break;
		case 'a': copy(target.address, sizeof(target.address), optarg, "--address"); break;
		case 'p': target.port = (uint16_t)atoi(optarg); break;
		case 'u': copy(target.username, sizeof(target.username), optarg, "--user"); break;
		case 'c': copy(target.ca_file, sizeof(target.ca_file), optarg, "--ca"); break;
		case 'f':
			copy(target.fingerprint, sizeof(target.fingerprint), optarg, "--fingerprint");
			target.tls = BMC_TLS_PINNED;
			break;
		case 't': target.tls = BMC_TLS_TOFU; break;
		case 'T': target.timeout_ms = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind >= argc || target.address[0] == '\0')
		usage();
	if (password != NULL)
		copy(target.password, sizeof(target.password), password, "BMC_PASSWORD");

	r = bmc_open(&target, &bmc, err, sizeof(err));
	if (r == 0) {
		if (target.tls == BMC_TLS_TOFU)
			fprintf(stderr, "bmc_tool: fingerprint %s\n", target.fingerprint);
		r = run(bmc, argc - optind, argv + optind, err, sizeof(err));
		bmc_close(bmc);
	}
	if (r < 0) {
		fprintf(stderr, "bmc_tool: %s\n", err[0] != '\0' ? err : strerror(-r));
		return 1;
	}
	return 0;
}
