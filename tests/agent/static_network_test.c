/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for what the agent reads of a virtual-media boot: outpost.ip= on the
 * kernel command line and the network-config it writes into the installed system.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/agent.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BASE "outpost.url=http://10.20.0.1:8080 outpost.mode=deploy outpost.token=d1-ab "

static void
cmdline_static_ip_read(void **state)
{
	struct agent_config cfg = { .root = "" };
	char err[256];

	(void)state;
	assert_int_equal(agent_cmdline_parse(BASE "outpost.ip=10.20.0.5/24 outpost.gateway=10.20.0.1",
					     &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.static_ip, "10.20.0.5/24");
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(agent_cmdline_parse(BASE "outpost.ip=255.255.255.255/32", &cfg, err,
					     sizeof(err)), 0);
	assert_string_equal(cfg.static_ip, "255.255.255.255/32");
}

static void
cmdline_without_static_ip(void **state)
{
	struct agent_config cfg = { .root = "" };
	char err[256];

	(void)state;
	assert_int_equal(agent_cmdline_parse(BASE "BOOTIF=01-52-54-00-ab-cd-ef", &cfg, err,
					     sizeof(err)), 0);
	assert_string_equal(cfg.static_ip, "");
}

static void
cmdline_static_ip_rejected(void **state)
{
	static const char *const values[] = {
		"10.20.0.5", "10.20.0.5/", "10.20.0.5/0", "10.20.0.5/33", "10.20.0.5/024",
		"10.20.0.5/+4", "10.20.0.5/ 4", "10.20.0.256/24", "010.20.0.5/24", "10.20.5/24",
		"fd00::5/64", "/24", "10.20.0.5/24/1", "10.20.0.5/2x",
	};
	char line[256], err[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		struct agent_config cfg = { .root = "" };

		snprintf(line, sizeof(line), BASE "outpost.ip=%s", values[i]);
		err[0] = '\0';
		if (agent_cmdline_parse(line, &cfg, err, sizeof(err)) != -EINVAL)
			fail_msg("outpost.ip=%s was accepted", values[i]);
	}
	/* The message names the rejected word, here the last case's. */
	assert_non_null(strstr(err, "outpost.ip=10.20.0.5/2x is not an IPv4 ADDRESS/PREFIX"));
	/* Longer than "255.255.255.255/32" does not fit the field at all. */
	{
		struct agent_config cfg = { .root = "" };

		assert_int_equal(agent_cmdline_parse(BASE "outpost.ip=100.200.100.200/32x", &cfg,
						     err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "outpost.ip= value is too long"));
	}
}

static void
network_config_accepted(void **state)
{
	static const char text[] = "version: 1\nconfig:\n  - type: physical\n    name: eth0\n";
	char err[256] = "";

	(void)state;
	assert_int_equal(agent_network_config_check(text, strlen(text), err, sizeof(err)), 0);
	assert_int_equal(agent_network_config_check("version: 2\nethernets: {}\n", 25, err,
						    sizeof(err)), 0);
}

static void
network_config_rejected(void **state)
{
	static const struct {
		const char *text;
		const char *reason;
	} cases[] = {
		{ "", "does not start with" },
		{ "version: 3\n", "does not start with" },
		{ "config: []\nversion: 1\n", "does not start with" },
		{ "version: 1", "does not start with" },
		{ "version: 1\n\tconfig: []\n", "byte 0x09 at offset 11" },
		{ "version: 1\nconfig: []\r\n", "byte 0x0d at offset 21" },
		{ "version: 1\nname: \x1b[2J\n", "byte 0x1b at offset 17" },
		{ "version: 1\nname: \xc3\xa9\n", "byte 0xc3 at offset 17" },
	};
	char err[256], *large;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		err[0] = '\0';
		assert_int_equal(agent_network_config_check(cases[i].text, strlen(cases[i].text),
							    err, sizeof(err)), -EINVAL);
		if (strstr(err, cases[i].reason) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].reason);
	}
	/* A NUL inside the document is a control byte too. */
	assert_int_equal(agent_network_config_check("version: 1\n\0x\n", 14, err, sizeof(err)),
			 -EINVAL);
	large = malloc(AGENT_NETWORK_CONFIG_MAX + 2);
	assert_non_null(large);
	memset(large, 'a', AGENT_NETWORK_CONFIG_MAX + 1);
	memcpy(large, "version: 1\n", 11);
	assert_int_equal(agent_network_config_check(large, AGENT_NETWORK_CONFIG_MAX + 1, err,
						    sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "more than 16384"));
	assert_int_equal(agent_network_config_check(large, AGENT_NETWORK_CONFIG_MAX, err,
						    sizeof(err)), 0);
	free(large);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cmdline_static_ip_read),
		cmocka_unit_test(cmdline_without_static_ip),
		cmocka_unit_test(cmdline_static_ip_rejected),
		cmocka_unit_test(network_config_accepted),
		cmocka_unit_test(network_config_rejected),
	};

	return cmocka_run_group_tests_name("agent_static_network", tests, NULL, NULL);
}
