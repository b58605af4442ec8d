/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/media: the kernel command line of a virtual-media ISO and the
 * check of the names under /media/. Building and serving ISOs is covered by
 * tests/integration/test_media_iso.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "media/media.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char token[] =
	"d42-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* A /24 with a gateway and two DNS servers, as a DDI subnet gives it. */
static struct deploy_network
network_full(void)
{
	struct deploy_network net = { .address = "10.20.0.5", .prefix = 24,
				      .gateway = "10.20.0.1", .dns = { "10.20.0.2", "10.20.0.3" },
				      .dns_count = 2, .domain = "site.example" };

	return net;
}

static struct media_cmdline
cmdline_input(const struct deploy_network *net)
{
	struct media_cmdline in = { .base_url = "http://10.20.0.1:8080", .token = token,
				    .mac = "52:54:00:ab:cd:ef", .net = net,
				    .console = "console=ttyS0,115200n8", .extra = "quiet" };

	return in;
}

static void
cmdline_full_network(void **state)
{
	struct deploy_network net = network_full();
	struct media_cmdline in = cmdline_input(&net);
	char out[MEDIA_CMDLINE_MAX + 1], err[256] = "";

	(void)state;
	assert_int_equal(media_cmdline_build(&in, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out,
			    "outpost.url=http://10.20.0.1:8080 outpost.mode=deploy "
			    "outpost.token=d42-0123456789abcdef0123456789abcdef0123456789abcdef"
			    "0123456789abcdef BOOTIF=01-52-54-00-ab-cd-ef outpost.ip=10.20.0.5/24 "
			    "outpost.gateway=10.20.0.1 outpost.dns=10.20.0.2,10.20.0.3 "
			    "console=ttyS0,115200n8 quiet");
	assert_string_equal(err, "");
}

static void
cmdline_without_gateway_dns_extra(void **state)
{
	struct deploy_network net = { .address = "192.168.7.9", .prefix = 22, .domain = "" };
	struct media_cmdline in = cmdline_input(&net);
	char out[MEDIA_CMDLINE_MAX + 1], err[256];

	(void)state;
	in.console = "";
	in.extra = "";
	assert_int_equal(media_cmdline_build(&in, out, sizeof(out), err, sizeof(err)), 0);
	assert_non_null(strstr(out, " outpost.ip=192.168.7.9/22"));
	assert_null(strstr(out, "outpost.gateway="));
	assert_null(strstr(out, "outpost.dns="));
	/* Nothing follows the last word, and no word is empty. */
	assert_int_not_equal(out[strlen(out) - 1], ' ');
	assert_null(strstr(out, "  "));
}

static void
cmdline_eight_dns_servers(void **state)
{
	struct deploy_network net = network_full();
	struct media_cmdline in = cmdline_input(&net);
	char out[MEDIA_CMDLINE_MAX + 1], err[256];

	(void)state;
	net.dns_count = DEPLOY_DNS_MAX;
	for (size_t i = 0; i < DEPLOY_DNS_MAX; i++)
		snprintf(net.dns[i], sizeof(net.dns[i]), "10.20.%zu.%zu", i, 200 + i);
	assert_int_equal(media_cmdline_build(&in, out, sizeof(out), err, sizeof(err)), 0);
	assert_non_null(strstr(out, " outpost.dns=10.20.0.200,10.20.1.201,10.20.2.202,10.20.3.203,"
			       "10.20.4.204,10.20.5.205,10.20.6.206,10.20.7.207 "));
}

/* Values that GRUB's single quotes or the kernel's word splitting would break. */
static void
cmdline_rejects_unsafe_values(void **state)
{
	static const struct {
		const char *field;
		const char *value;
		const char *reason;
	} cases[] = {
		{ "extra", "quiet 'x", "0x27 at byte 6 of the profile's cmdline" },
		{ "extra", "init=/bin/sh${x}", "0x24 at byte 12 of the profile's cmdline" },
		{ "extra", "a\"b", "0x22 at byte 1 of the profile's cmdline" },
		{ "extra", "a\\b", "0x5c at byte 1 of the profile's cmdline" },
		{ "extra", "a\tb", "0x09 at byte 1 of the profile's cmdline" },
		{ "extra", "; reboot", "0x3b at byte 0 of the profile's cmdline" },
		{ "console", "console=tty0$", "0x24 at byte 12 of [deploy] console" },
		{ "base_url", "http://[fd00::1]:8080", "0x5b at byte 7 of the boot URL" },
		{ "base_url", "http://host:8080/a b", "a boot URL that is empty or has a space" },
	};
	struct deploy_network net = network_full();
	char out[MEDIA_CMDLINE_MAX + 1], err[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct media_cmdline in = cmdline_input(&net);

		if (strcmp(cases[i].field, "extra") == 0)
			in.extra = cases[i].value;
		else if (strcmp(cases[i].field, "console") == 0)
			in.console = cases[i].value;
		else
			in.base_url = cases[i].value;
		err[0] = '\0';
		if (media_cmdline_build(&in, out, sizeof(out), err, sizeof(err)) != -EINVAL)
			fail_msg("%s \"%s\" was accepted", cases[i].field, cases[i].value);
		if (strstr(err, cases[i].reason) == NULL)
			fail_msg("%s \"%s\": \"%s\" lacks \"%s\"", cases[i].field, cases[i].value,
				 err, cases[i].reason);
		/* The message never quotes the line, which contains the token. */
		assert_null(strstr(err, token));
	}
}

static void
cmdline_rejects_bad_mac(void **state)
{
	static const char *const macs[] = {
		"52:54:00:AB:CD:EF", "52-54-00-ab-cd-ef", "525400abcdef", "52:54:00:ab:cd",
		"52:54:00:ab:cd:ef:00", "52:54:00:ab:cd:eg", "",
	};
	struct deploy_network net = network_full();
	char out[MEDIA_CMDLINE_MAX + 1], err[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(macs); i++) {
		struct media_cmdline in = cmdline_input(&net);

		in.mac = macs[i];
		assert_int_equal(media_cmdline_build(&in, out, sizeof(out), err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "is not in the canonical form"));
	}
}

static void
cmdline_too_long(void **state)
{
	struct deploy_network net = network_full();
	struct media_cmdline in = cmdline_input(&net);
	char out[4096], err[256], *extra = malloc(MEDIA_CMDLINE_MAX);

	(void)state;
	assert_non_null(extra);
	/* What fits: the fixed words take about 250 bytes. */
	memset(extra, 'a', 1500);
	extra[1500] = '\0';
	in.extra = extra;
	assert_int_equal(media_cmdline_build(&in, out, sizeof(out), err, sizeof(err)), 0);
	assert_true(strlen(out) <= MEDIA_CMDLINE_MAX);
	memset(extra, 'a', MEDIA_CMDLINE_MAX - 1);
	extra[MEDIA_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(media_cmdline_build(&in, out, sizeof(out), err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "longer than 2047 bytes"));
	/* An output buffer that is too small fails the same way instead of cutting a word. */
	in.extra = "quiet";
	assert_int_equal(media_cmdline_build(&in, out, 100, err, sizeof(err)), -E2BIG);
	free(extra);
}

static void
name_parse_accepts_token_iso(void **state)
{
	char out[DEPLOY_TOKEN_SIZE], name[DEPLOY_TOKEN_SIZE + 8];

	(void)state;
	snprintf(name, sizeof(name), "%s.iso", token);
	assert_int_equal(media_name_parse(name, out), 0);
	assert_string_equal(out, token);
	/* The form only: the token itself is checked against its HMAC by the caller. */
	assert_int_equal(media_name_parse("m7-00.iso", out), 0);
	assert_string_equal(out, "m7-00");
}

static void
name_parse_rejects_other_names(void **state)
{
	static const char *const names[] = {
		"", ".iso", "iso", "d42-00", "d42-00.ISO", "d42-00.iso.tmp", "d42-00.img",
		"../d42-00.iso", "d42-00/x.iso", "sub/d42-00.iso", "D42-00.iso", "d42_00.iso",
		"d42-00 .iso", "d42-00%2e.iso", ".d42-00.iso", "d42-00..iso",
	};
	char out[DEPLOY_TOKEN_SIZE], longest[DEPLOY_TOKEN_SIZE + 8];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (media_name_parse(names[i], out) != -EINVAL)
			fail_msg("media_name_parse accepted \"%s\"", names[i]);
	}
	/* A token of DEPLOY_TOKEN_SIZE characters does not fit with its NUL. */
	memset(longest, 'a', DEPLOY_TOKEN_SIZE);
	strcpy(longest + DEPLOY_TOKEN_SIZE, ".iso");
	assert_int_equal(media_name_parse(longest, out), -EINVAL);
	longest[DEPLOY_TOKEN_SIZE - 1] = '\0';
	strcat(longest, ".iso");
	assert_int_equal(media_name_parse(longest, out), 0);
	assert_int_equal(strlen(out), DEPLOY_TOKEN_SIZE - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cmdline_full_network),
		cmocka_unit_test(cmdline_without_gateway_dns_extra),
		cmocka_unit_test(cmdline_eight_dns_servers),
		cmocka_unit_test(cmdline_rejects_unsafe_values),
		cmocka_unit_test(cmdline_rejects_bad_mac),
		cmocka_unit_test(cmdline_too_long),
		cmocka_unit_test(name_parse_accepts_token_iso),
		cmocka_unit_test(name_parse_rejects_other_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
