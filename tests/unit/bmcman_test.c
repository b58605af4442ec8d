/* SPDX-License-Identifier: Apache-2.0 */
/* The BMC manager's operations: names, argument checks and risk classes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bmcman/bmcman.h"

/* The risk class of kind with args given as JSON text; err receives the reason. */
static enum risk
risk_of(enum bmc_op_kind kind, const char *args_text, char *err, size_t errlen)
{
	json_t *args = args_text != NULL ? json_loads(args_text, 0, NULL) : NULL;
	enum risk risk;

	err[0] = '\0';
	risk = bmc_op_risk(kind, args, err, errlen);
	json_decref(args);
	return risk;
}

static void
kind_names_round_trip(void **state)
{
	(void)state;
	for (int k = 0; k < BMC_OP_KIND_MAX; k++)
		assert_int_equal(bmc_op_kind_parse(bmc_op_kind_name((enum bmc_op_kind)k)), k);
	assert_int_equal(bmc_op_kind_parse("Power"), BMC_OP_KIND_INVALID);
	assert_int_equal(bmc_op_kind_parse(""), BMC_OP_KIND_INVALID);
	assert_string_equal(bmc_op_kind_name(BMC_OP_KIND_MAX), "invalid");
}

/* Power on changes a server; every other power action takes it down. */
static void
power_risk_classes(void **state)
{
	static const struct {
		const char *args;
		enum risk risk;
	} cases[] = {
		{ "{\"action\": \"on\"}", RISK_CHANGE },
		{ "{\"action\": \"off\"}", RISK_DESTRUCTIVE },
		{ "{\"action\": \"shutdown\"}", RISK_DESTRUCTIVE },
		{ "{\"action\": \"reset\"}", RISK_DESTRUCTIVE },
		{ "{\"action\": \"cycle\"}", RISK_DESTRUCTIVE },
		{ "{\"action\": \"explode\"}", RISK_INVALID },
		{ "{\"action\": 1}", RISK_INVALID },
		{ "{}", RISK_INVALID },
		{ NULL, RISK_INVALID },
		{ "{\"action\": \"on\", \"force\": true}", RISK_INVALID },
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum risk risk = risk_of(BMC_OP_POWER, cases[i].args, err, sizeof(err));

		if (risk != cases[i].risk)
			fail_msg("power %s: risk %d, expected %d", cases[i].args, risk, cases[i].risk);
		if (risk == RISK_INVALID && err[0] == '\0')
			fail_msg("power %s: rejected without a reason", cases[i].args);
	}
	risk_of(BMC_OP_POWER, "{\"action\": \"explode\"}", err, sizeof(err));
	assert_non_null(strstr(err, "\"explode\""));
}

static void
reads_and_changes(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(risk_of(BMC_OP_SENSORS, NULL, err, sizeof(err)), RISK_READ);
	assert_int_equal(risk_of(BMC_OP_POWER_STATE, "{}", err, sizeof(err)), RISK_READ);
	assert_int_equal(risk_of(BMC_OP_INVENTORY, NULL, err, sizeof(err)), RISK_READ);
	assert_int_equal(risk_of(BMC_OP_EVENTS, NULL, err, sizeof(err)), RISK_READ);
	assert_int_equal(risk_of(BMC_OP_MEDIA_STATUS, NULL, err, sizeof(err)), RISK_READ);
	assert_int_equal(risk_of(BMC_OP_VERIFY, NULL, err, sizeof(err)), RISK_CHANGE);
	assert_int_equal(risk_of(BMC_OP_MEDIA_EJECT, NULL, err, sizeof(err)), RISK_CHANGE);
	/* A read takes no arguments at all. */
	assert_int_equal(risk_of(BMC_OP_SENSORS, "{\"all\": true}", err, sizeof(err)),
			 RISK_INVALID);
	assert_non_null(strstr(err, "\"all\""));
	assert_int_equal(risk_of(BMC_OP_SENSORS, "[]", err, sizeof(err)), RISK_INVALID);
}

static void
boot_arguments(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(risk_of(BMC_OP_BOOT, "{\"device\": \"pxe\"}", err, sizeof(err)),
			 RISK_CHANGE);
	assert_int_equal(risk_of(BMC_OP_BOOT, "{\"device\": \"cd\", \"mode\": \"uefi\"}", err,
				 sizeof(err)), RISK_CHANGE);
	assert_int_equal(risk_of(BMC_OP_BOOT, "{\"device\": \"floppy\"}", err, sizeof(err)),
			 RISK_INVALID);
	assert_non_null(strstr(err, "floppy"));
	assert_int_equal(risk_of(BMC_OP_BOOT, "{\"device\": \"cd\", \"mode\": \"bios\"}", err,
				 sizeof(err)), RISK_INVALID);
	assert_int_equal(risk_of(BMC_OP_BOOT, "{\"mode\": \"uefi\"}", err, sizeof(err)),
			 RISK_INVALID);
}

/* The BMC fetches the URL, so only printable http and https URLs pass. */
static void
url_arguments(void **state)
{
	static const char *const bad[] = {
		"{\"url\": \"file:///etc/shadow\"}",
		"{\"url\": \"ftp://10.0.0.1/a.iso\"}",
		"{\"url\": \"http://10.0.0.1/a b.iso\"}",
		"{\"url\": \"http://10.0.0.1/a.iso\\nX-Injected: 1\"}",
		"{\"url\": \"http://10.0.0.1/\\u00e9.iso\"}",
		"{\"url\": \"http://admin:pw@10.0.0.1/a.iso\"}",
		"{\"url\": \"https://pw@10.0.0.1/a.iso\"}",
		"{\"url\": 5}",
		"{}",
	};
	char err[256], big[1200 + 32];

	(void)state;
	assert_int_equal(risk_of(BMC_OP_MEDIA_INSERT, "{\"url\": \"http://10.0.0.1/a.iso\"}", err,
				 sizeof(err)), RISK_CHANGE);
	assert_int_equal(risk_of(BMC_OP_VMEDIA_BOOT, "{\"url\": \"HTTPS://h/a.iso\"}", err,
				 sizeof(err)), RISK_DESTRUCTIVE);
	assert_int_equal(risk_of(BMC_OP_FIRMWARE_UPDATE, "{\"url\": \"https://h/fw.bin\"}", err,
				 sizeof(err)), RISK_DESTRUCTIVE);
	/* An '@' after the host is part of the path, not a password. */
	assert_int_equal(risk_of(BMC_OP_MEDIA_INSERT, "{\"url\": \"http://h/a@b.iso\"}", err,
				 sizeof(err)), RISK_CHANGE);
	/* A deployment's ISO is named by the deployment, never by its URL and token. */
	assert_int_equal(risk_of(BMC_OP_VMEDIA_BOOT, "{\"deployment\": 12}", err, sizeof(err)),
			 RISK_DESTRUCTIVE);
	assert_int_equal(risk_of(BMC_OP_VMEDIA_BOOT, "{\"deployment\": 0}", err, sizeof(err)),
			 RISK_INVALID);
	assert_int_equal(risk_of(BMC_OP_VMEDIA_BOOT, "{\"deployment\": 12, \"url\": \"http://h/a\"}",
				 err, sizeof(err)), RISK_INVALID);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (risk_of(BMC_OP_MEDIA_INSERT, bad[i], err, sizeof(err)) != RISK_INVALID)
			fail_msg("accepted %s", bad[i]);
	}
	snprintf(big, sizeof(big), "{\"url\": \"http://h/%01200d\"}", 0);
	assert_int_equal(risk_of(BMC_OP_MEDIA_INSERT, big, err, sizeof(err)), RISK_INVALID);
	assert_non_null(strstr(err, "limit"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kind_names_round_trip),
		cmocka_unit_test(power_risk_classes),
		cmocka_unit_test(reads_and_changes),
		cmocka_unit_test(boot_arguments),
		cmocka_unit_test(url_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
