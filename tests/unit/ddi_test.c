/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the DDI settings and address management. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "ddi/ddi.h"

static const char base[] =
	"[ddi]\n"
	"enabled = true\n"
	"interface = veth0\n"
	"server_address = 10.77.0.1\n"
	"domain = Lab.Example\n";

static const char subnet[] =
	"[subnet prov]\n"
	"network = 10.77.0.0/24\n"
	"pool = 10.77.0.100-10.77.0.199\n"
	"gateway = 10.77.0.254\n";

/* Parse base + extra as a configuration, then the DDI settings. */
static int
settings_from(const char *head, const char *extra, struct ddi_settings *s, char *err,
	      size_t errlen)
{
	char text[4096];
	struct conf conf;
	int r;

	snprintf(text, sizeof(text), "%s%s", head, extra);
	assert_int_equal(conf_defaults(&conf), 0);
	r = conf_parse(&conf, text, strlen(text), err, errlen);
	if (r == 0)
		r = ddi_settings_parse(&conf, s, err, errlen);
	conf_free(&conf);
	return r;
}

static void
test_settings_valid(void **state)
{
	struct ddi_settings *s = calloc(1, sizeof(*s));
	char err[256] = "";
	char text[DDI_ADDR_TEXT];

	(void)state;
	assert_int_equal(settings_from(base, subnet, s, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(s->interface, "veth0");
	assert_string_equal(s->domain, "lab.example.");
	assert_int_equal(s->subnet_count, 1);
	assert_string_equal(s->subnets[0].name, "prov");
	assert_int_equal(s->subnets[0].prefix, 24);
	assert_int_equal(s->subnets[0].pool_count, 1);
	assert_string_equal(ddi_addr_format(s->subnets[0].pools[0].first, text), "10.77.0.100");
	assert_string_equal(ddi_addr_format(s->subnets[0].pools[0].last, text), "10.77.0.199");
	assert_string_equal(ddi_addr_format(s->subnets[0].gateway, text), "10.77.0.254");
	/* DNS servers default to the appliance itself. */
	assert_int_equal(s->subnets[0].dns_count, 1);
	assert_string_equal(ddi_addr_format(s->subnets[0].dns[0], text), "10.77.0.1");
	/* The reverse zone is derived from the /24. */
	assert_int_equal(s->zone_count, 1);
	assert_string_equal(s->zones[0].name, "0.77.10.in-addr.arpa.");
	assert_int_equal(s->lease_seconds, 3600);
	free(s);
}

static void
test_settings_two_subnets(void **state)
{
	static const char extra[] =
		"[subnet prov]\n"
		"network = 10.77.0.0/24\n"
		"pool = 10.77.0.100-10.77.0.149, 10.77.0.160 - 10.77.0.169\n"
		"[subnet rack2]\n"
		"network = 10.77.4.0/22\n"
		"pool = 10.77.5.0-10.77.5.255\n"
		"gateway = 10.77.4.1\n"
		"dns_servers = 10.77.4.2, 10.77.4.3\n";
	struct ddi_settings *s = calloc(1, sizeof(*s));
	char err[256] = "";

	(void)state;
	assert_int_equal(settings_from(base, extra, s, err, sizeof(err)), 0);
	assert_int_equal(s->subnet_count, 2);
	assert_int_equal(s->subnets[0].pool_count, 2);
	assert_int_equal(s->subnets[1].dns_count, 2);
	/* A /22 rounds down to its /16 zone. */
	assert_int_equal(s->zone_count, 2);
	assert_string_equal(s->zones[1].name, "77.10.in-addr.arpa.");
	free(s);
}

static void
test_settings_rejected(void **state)
{
	static const struct {
		const char *head;
		const char *extra;
		const char *message;
	} cases[] = {
		{ base, "", "no [subnet NAME] section" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.5/24\n", "did you mean 10.77.0.0/24?" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/31\n", "prefix /31 is outside" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0\n", "expected ADDRESS/PREFIX" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\npool = 10.77.1.1-10.77.1.9\n",
		  "not inside the subnet's host addresses" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\npool = 10.77.0.9-10.77.0.1\n",
		  "ends before it starts" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\n"
		  "pool = 10.77.0.10-10.77.0.20, 10.77.0.20-10.77.0.30\n",
		  "overlaps another range" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\npool = 10.77.0.0-10.77.0.9\n",
		  "not inside the subnet's host addresses" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\npool = 10.77.0.10-10.77.0.20\n"
		  "gateway = 10.77.0.15\n", "gateway 10.77.0.15 is inside the pool" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\ngateway = 10.78.0.1\n",
		  "is outside 10.77.0.0/24" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\npool = 10.77.0.1-10.77.0.20\n",
		  "server_address 10.77.0.1 is inside the pool" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\n[subnet b]\nnetwork = 10.77.0.128/25\n",
		  "[subnet prov] and [subnet b] overlap" },
		{ base, "[subnet prov]\nnetwork = 10.78.0.0/24\n", "10.77.0.1 is in no [subnet]" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\npool = 10.77.0.50-10.77.0.60\n"
		  "dns_servers = 10.77.0.55\n", "DNS server 10.77.0.55 is inside the pool" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\ndns_servers = 10.77.0.300\n",
		  "invalid IPv4 address \"10.77.0.300\"" },
		{ base, "[ddi]\ndomain = x.example\n", "duplicate key \"domain\" in [ddi]" },
		{ "[ddi]\ninterface = veth0\nserver_address = 10.77.0.1\ndomain = lab\n", subnet,
		  "invalid DNS domain \"lab\"" },
		{ "[ddi]\ninterface = a/b\nserver_address = 10.77.0.1\ndomain = lab.example\n",
		  subnet, "[ddi] interface: invalid name \"a/b\"" },
		{ "[ddi]\ninterface = veth0\nserver_address = 10.77.0.1\ndomain = lab.example\n"
		  "reverse_zones = 0.78.10.in-addr.arpa, 0.77.10.in-addr.arpa\n", subnet,
		  "0.78.10.in-addr.arpa. covers no [subnet]" },
		{ "[ddi]\ninterface = veth0\nserver_address = 10.77.0.1\ndomain = lab.example\n"
		  "reverse_zones = 5.0.77.10.in-addr.arpa\n", subnet, "invalid zone" },
		{ "[ddi]\ninterface = veth0\nserver_address = 10.77.0.1\ndomain = lab.example\n"
		  "reverse_zones = 77.10.in-addr.arpa, 77.10.in-addr.arpa.\n", subnet,
		  "listed twice" },
		{ "[ddi]\ninterface = veth0\nserver_address = 10.77.0.1\ndomain = lab.example\n"
		  "reverse_zones = 1.77.10.in-addr.arpa\n", subnet,
		  "no zone covers all of [subnet prov]; add 0.77.10.in-addr.arpa." },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\n[subnet prov]\n", "duplicate section" },
		{ base, "[subnet]\n", "needs a name" },
		{ base, "[subnet bad name!]\n", "invalid subnet name" },
		{ base, "[subnet prov]\nrange = x\n", "unknown key \"range\" in [subnet prov]" },
		{ base, "[subnet prov]\npool = a\npool = b\n", "first set on line" },
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ddi_settings *s = calloc(1, sizeof(*s));

		err[0] = '\0';
		assert_int_equal(settings_from(cases[i].head, cases[i].extra, s, err, sizeof(err)),
				 -EINVAL);
		if (strstr(err, cases[i].message) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].message);
		free(s);
	}
}

static void
test_reverse_zone_longest(void **state)
{
	static const char head[] =
		"[ddi]\ninterface = veth0\nserver_address = 10.77.0.1\ndomain = lab.example\n"
		"reverse_zones = 77.10.in-addr.arpa, 0.77.10.in-addr.arpa.\n"
		"[subnet prov]\nnetwork = 10.77.0.0/16\n";
	struct ddi_settings *s = calloc(1, sizeof(*s));
	char err[256] = "", name[DDI_NAME_SIZE];
	uint32_t addr;

	(void)state;
	assert_int_equal(settings_from(head, "", s, err, sizeof(err)), 0);
	assert_int_equal(ddi_addr_parse("10.77.0.5", &addr), 0);
	assert_string_equal(ddi_reverse_zone(s, addr)->name, "0.77.10.in-addr.arpa.");
	ddi_reverse_name(addr, name);
	assert_string_equal(name, "5.0.77.10.in-addr.arpa.");
	assert_int_equal(ddi_addr_parse("10.77.9.5", &addr), 0);
	assert_string_equal(ddi_reverse_zone(s, addr)->name, "77.10.in-addr.arpa.");
	assert_int_equal(ddi_addr_parse("10.78.0.5", &addr), 0);
	assert_null(ddi_reverse_zone(s, addr));
	free(s);
}

static void
test_address_check_and_allocate(void **state)
{
	static const char extra[] =
		"[subnet prov]\n"
		"network = 10.77.0.0/29\n"
		"pool = 10.77.0.5-10.77.0.6\n"
		"gateway = 10.77.0.2\n";
	struct ddi_settings *s = calloc(1, sizeof(*s));
	char err[256] = "", text[DDI_ADDR_TEXT];
	uint32_t addr, used[1];

	(void)state;
	assert_int_equal(settings_from(base, extra, s, err, sizeof(err)), 0);

	assert_int_equal(ddi_addr_parse("10.77.0.3", &addr), 0);
	assert_int_equal(ddi_address_check(s, addr, err, sizeof(err)), 0);
	assert_int_equal(ddi_addr_parse("10.77.0.5", &addr), 0);
	assert_int_equal(ddi_address_check(s, addr, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "inside the discovery pool"));
	assert_int_equal(ddi_addr_parse("10.77.0.2", &addr), 0);
	assert_int_equal(ddi_address_check(s, addr, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gateway"));
	assert_int_equal(ddi_addr_parse("10.77.0.7", &addr), 0);
	assert_int_equal(ddi_address_check(s, addr, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "broadcast"));
	assert_int_equal(ddi_addr_parse("10.9.0.7", &addr), 0);
	assert_int_equal(ddi_address_check(s, addr, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "in no configured subnet"));

	/* .1 is the appliance, .2 the gateway, .5 and .6 the pool: .3 then .4, then none. */
	assert_int_equal(ddi_address_allocate(s, &s->subnets[0], NULL, 0, &addr), 0);
	assert_string_equal(ddi_addr_format(addr, text), "10.77.0.3");
	used[0] = addr;
	assert_int_equal(ddi_address_allocate(s, &s->subnets[0], used, 1, &addr), 0);
	assert_string_equal(ddi_addr_format(addr, text), "10.77.0.4");
	{
		uint32_t both[2] = { used[0], addr };

		assert_int_equal(ddi_address_allocate(s, &s->subnets[0], both, 2, &addr), -ENOSPC);
	}
	free(s);
}

static void
test_fqdn(void **state)
{
	struct ddi_settings *s = calloc(1, sizeof(*s));
	char err[256] = "", name[DDI_NAME_SIZE];

	(void)state;
	assert_int_equal(settings_from(base, subnet, s, err, sizeof(err)), 0);
	assert_int_equal(ddi_fqdn(s, "Node1", name), 0);
	assert_string_equal(name, "node1.lab.example.");
	assert_int_equal(ddi_fqdn(s, "node1.lab.example", name), 0);
	assert_string_equal(name, "node1.lab.example.");
	assert_int_equal(ddi_fqdn(s, "node1.rack.lab.example.", name), 0);
	assert_string_equal(name, "node1.rack.lab.example.");
	assert_int_equal(ddi_fqdn(s, "node1.other.example", name), 0);
	assert_string_equal(name, "node1.other.example.lab.example.");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings_valid),
		cmocka_unit_test(test_settings_two_subnets),
		cmocka_unit_test(test_settings_rejected),
		cmocka_unit_test(test_reverse_zone_longest),
		cmocka_unit_test(test_address_check_and_allocate),
		cmocka_unit_test(test_fqdn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
