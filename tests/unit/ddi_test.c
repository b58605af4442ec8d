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

#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf/conf.h"
#include "ddi/ddi-internal.h"

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
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\n[subnet z]\nnetwork = 0.0.0.0/8\n",
		  "0.0.0.0/8 is not a unicast network" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\n[subnet l]\nnetwork = 127.0.0.0/8\n",
		  "127.0.0.0/8 is not a unicast network" },
		{ base, "[subnet prov]\nnetwork = 10.77.0.0/24\n[subnet m]\nnetwork = 224.1.0.0/16\n",
		  "224.1.0.0/16 is not a unicast network" },
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
		  "gateway: 10.78.0.1 is outside 10.77.0.0/24" },
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
		{ "[ddi]\ninterface = eth0,lo\nserver_address = 10.77.0.1\ndomain = lab.example\n",
		  subnet, "[ddi] interface: invalid name \"eth0,lo\"" },
		{ "[ddi]\ninterface = *\nserver_address = 10.77.0.1\ndomain = lab.example\n",
		  subnet, "[ddi] interface: invalid name \"*\"" },
		{ "[ddi]\ninterface = eth0\nserver_address = 10.77.0.1\ndomain = 10.77.0.1\n",
		  subnet, "looks like an address" },
		{ "[ddi]\ninterface = eth0\nserver_address = 10.77.0.1\ndomain = ip6.arpa\n",
		  subnet, "is a reverse zone" },
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

	/* 253 characters is the most a DNS name may have; the domain takes 12 here. */
	{
		char host[256];

		memset(host, 'a', 241);
		host[60] = host[121] = host[182] = '.';
		host[241] = '\0';
		assert_int_equal(ddi_fqdn(s, host, name), 0);
		assert_int_equal(strlen(name), 253 + 1);
		memset(host, 'a', 242);
		host[60] = host[121] = host[182] = '.';
		host[242] = '\0';
		assert_int_equal(ddi_fqdn(s, host, name), -ENAMETOOLONG);
	}
	free(s);
}


/* A stand-in for Kea's control socket: replies to each connection with the next reply. */
struct fake_kea {
	char path[108];
	int fd;
	const char *const *replies;
	size_t count;
	char commands[8][64];   /* the "command" of each request, in order */
	pthread_t thread;
};

static void *
fake_kea_main(void *arg)
{
	struct fake_kea *k = arg;

	for (size_t i = 0; i < k->count; i++) {
		char request[65536];
		ssize_t n;
		int c = accept(k->fd, NULL, NULL);
		char *name;

		if (c < 0)
			break;
		n = read(c, request, sizeof(request) - 1);
		request[n > 0 ? n : 0] = '\0';
		name = strstr(request, "\"command\":\"");
		if (name != NULL && i < 8)
			sscanf(name + 11, "%63[^\"]", k->commands[i]);
		if (write(c, k->replies[i], strlen(k->replies[i])) < 0)
			break;
		close(c);
	}
	return NULL;
}

static void
fake_kea_start(struct fake_kea *k, const char *const *replies, size_t count)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	memset(k, 0, sizeof(*k));
	snprintf(k->path, sizeof(k->path), "/tmp/outpost-fake-kea-%d.sock", (int)getpid());
	unlink(k->path);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", k->path);
	k->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(k->fd >= 0);
	assert_int_equal(bind(k->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(k->fd, 8), 0);
	k->replies = replies;
	k->count = count;
	assert_int_equal(pthread_create(&k->thread, NULL, fake_kea_main, k), 0);
}

static void
fake_kea_stop(struct fake_kea *k)
{
	shutdown(k->fd, SHUT_RDWR);
	pthread_join(k->thread, NULL);
	close(k->fd);
	unlink(k->path);
}

static void
test_kea_reply_parse(void **state)
{
	static const struct {
		const char *text;
		int rc;
		int result;
	} cases[] = {
		{ "{\"result\": 0, \"text\": \"ok\"}", 0, 0 },
		{ "[{\"result\": 3, \"text\": \"0 IPv4 lease(s) found.\"}]", 0, 3 },
		{ "{\"result\": 2, \"text\": \"'x' command not supported.\"}", 0, 2 },
		{ "[]", -EPROTO, 0 },
		{ "[{\"result\": 0}, {\"result\": 0}]", -EPROTO, 0 },
		{ "{\"text\": \"no result\"}", -EPROTO, 0 },
		{ "{\"result\": \"0\"}", -EPROTO, 0 },
		{ "{\"result\": 0, \"result\": 1}", -EPROTO, 0 },
		{ "not json", -EPROTO, 0 },
	};
	struct kea_reply reply;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = kea_reply_parse(cases[i].text, strlen(cases[i].text), &reply, err,
					 sizeof(err));

		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, expected %d (%s)", i, rc, cases[i].rc, err);
		if (rc == 0) {
			assert_int_equal(reply.result, cases[i].result);
			kea_reply_clear(&reply);
		}
	}
}

/* Run ddi_kea_push against replies; returns its result and fills err. */
static int
push_with(const char *const *replies, size_t count, struct fake_kea *k, char *err,
	  size_t errlen)
{
	struct ddi_config c = { 0 };
	int64_t steps[3];
	json_t *config = json_pack("{s:{}}", "Dhcp4");
	int rc;

	fake_kea_start(k, replies, count);
	snprintf(c.control_socket, sizeof(c.control_socket), "%s", k->path);
	rc = ddi_kea_push(&c, config, steps, err, errlen);
	fake_kea_stop(k);
	json_decref(config);
	return rc;
}

static void
test_kea_push_results(void **state)
{
	static const char *const ok[] = {
		"{\"result\": 0, \"text\": \"Configuration seems sane.\"}",
		"{\"result\": 0, \"text\": \"Configuration successful.\"}",
		"{\"result\": 0, \"text\": \"Configuration written\"}",
	};
	static const char *const test_fails[] = {
		"{\"result\": 1, \"text\": \"subnet overlaps\"}",
	};
	static const char *const set_unsupported[] = {
		"{\"result\": 0, \"text\": \"fine\"}",
		"{\"result\": 2, \"text\": \"'config-set' command not supported.\"}",
	};
	static const char *const write_empty[] = {
		"{\"result\": 0}", "{\"result\": 0}", "{\"result\": 3, \"text\": \"nothing\"}",
	};
	struct fake_kea k;
	char err[512];

	(void)state;
	err[0] = '\0';
	assert_int_equal(push_with(ok, 3, &k, err, sizeof(err)), 0);
	assert_string_equal(k.commands[0], "config-test");
	assert_string_equal(k.commands[1], "config-set");
	assert_string_equal(k.commands[2], "config-write");

	assert_int_equal(push_with(test_fails, 1, &k, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "Kea config-test returned 1 (error): subnet overlaps");

	assert_int_equal(push_with(set_unsupported, 2, &k, err, sizeof(err)), -EOPNOTSUPP);
	assert_non_null(strstr(err, "config-set returned 2 (unsupported)"));

	assert_int_equal(push_with(write_empty, 3, &k, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "config-write returned 3 (empty): nothing"));
}

static void
test_kea_unreachable(void **state)
{
	struct kea_reply reply;
	char err[256];

	(void)state;
	assert_int_equal(kea_command("/tmp/outpost-no-such-kea.sock", "config-get", NULL, 1000,
				     &reply, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/tmp/outpost-no-such-kea.sock"));
}

/* The generated configuration for two hosts in two subnets and one outside. */
static void
test_kea_config_generated(void **state)
{
	static const char extra[] =
		"[subnet prov]\n"
		"network = 10.77.0.0/24\n"
		"pool = 10.77.0.100-10.77.0.199\n"
		"[subnet rack2]\n"
		"network = 10.78.0.0/24\n"
		"pool = 10.78.0.100-10.78.0.199\n"
		"gateway = 10.78.0.1\n";
	struct ddi_settings *s = calloc(1, sizeof(*s));
	struct ddi_host items[3] = {
		{ .id = 1, .mac = "52:54:00:00:00:01", .ip = "10.77.0.2", .hostname = "a" },
		{ .id = 2, .mac = "52:54:00:00:00:02", .ip = "10.78.0.9", .hostname = "" },
		{ .id = 3, .mac = "52:54:00:00:00:03", .ip = "192.0.2.1", .hostname = "c" },
	};
	struct ddi_hosts hosts = { .items = items, .count = 3 };
	struct ddi_config c = { 0 };
	json_t *config, *dhcp4, *subnets, *classes, *r;
	char err[256] = "", why[256];

	(void)state;
	assert_int_equal(settings_from(base, extra, s, err, sizeof(err)), 0);
	c.settings = s;
	snprintf(c.boot_url, sizeof(c.boot_url), "http://10.77.0.1:8080");
	snprintf(c.control_socket, sizeof(c.control_socket), "/run/kea/kea4-ctrl-socket");
	snprintf(c.lease_file, sizeof(c.lease_file), "/var/lib/kea/leases.csv");
	snprintf(c.hooks_dir, sizeof(c.hooks_dir), "/usr/lib/kea/hooks");
	snprintf(c.hook_script, sizeof(c.hook_script), "/run/outpost/kea-events.sock.hook");

	config = ddi_kea_config(&c, &hosts);
	assert_non_null(config);
	dhcp4 = json_object_get(config, "Dhcp4");
	subnets = json_object_get(dhcp4, "subnet4");
	assert_int_equal(json_array_size(subnets), 2);

	/* Subnet ids are the network addresses, stable when subnets move. */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(subnets, 0), "id")),
			 0x0a4d0000);
	r = json_object_get(json_array_get(subnets, 0), "reservations");
	assert_int_equal(json_array_size(r), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "hw-address")),
			    "52:54:00:00:00:01");
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "hostname")),
			    "a");
	r = json_object_get(json_array_get(subnets, 1), "reservations");
	assert_int_equal(json_array_size(r), 1);
	assert_null(json_object_get(json_array_get(r, 0), "hostname"));
	/* The appliance's own subnet is tied to the interface; the relayed one is not. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(subnets, 0),
							      "interface")), "veth0");
	assert_null(json_object_get(json_array_get(subnets, 1), "interface"));

	/* iPXE's class comes first, so its boot file wins over the architecture classes. */
	classes = json_object_get(dhcp4, "client-classes");
	assert_int_equal(json_array_size(classes), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(classes, 0), "name")),
			    "outpost-ipxe");
	assert_string_equal(json_string_value(json_object_get(json_array_get(classes, 0),
							      "boot-file-name")),
			    "http://10.77.0.1:8080/boot/start.ipxe");
	for (size_t i = 1; i < 4; i++)
		assert_non_null(strstr(json_string_value(json_object_get(json_array_get(classes, i),
									 "test")),
				       "not member('outpost-ipxe')"));
	/* Option 175 with sub-option 176 = 1 stops iPXE waiting for a ProxyDHCP offer. */
	{
		json_t *opts = json_object_get(json_array_get(classes, 0), "option-data");
		json_t *defs = json_object_get(dhcp4, "option-def");

		assert_int_equal(json_array_size(opts), 1);
		assert_string_equal(json_string_value(json_object_get(json_array_get(opts, 0),
								      "name")), "ipxe-encap-opts");
		assert_string_equal(json_string_value(json_object_get(json_array_get(opts, 0),
								      "data")), "B00101");
		assert_int_equal(json_integer_value(json_object_get(json_array_get(defs, 0),
								    "code")), 175);
	}

	/* The configuration matches itself, and a lost reservation is drift. */
	assert_false(ddi_kea_drift(config, config, why, sizeof(why)));
	{
		/* config-get reports a class without a next server as 0.0.0.0. */
		json_t *copy = json_deep_copy(config);

		json_object_set_new(json_array_get(json_object_get(json_object_get(copy, "Dhcp4"),
								   "client-classes"), 0),
				    "next-server", json_string("0.0.0.0"));
		assert_false(ddi_kea_drift(config, copy, why, sizeof(why)));
		json_decref(copy);
	}
	{
		/* A Kea that does not tell iPXE to skip ProxyDHCP gets the new configuration. */
		json_t *copy = json_deep_copy(config);

		json_array_remove(json_object_get(json_array_get(json_object_get(json_object_get(copy,
						"Dhcp4"), "client-classes"), 0), "option-data"), 0);
		assert_true(ddi_kea_drift(config, copy, why, sizeof(why)));
		assert_non_null(strstr(why, "class option"));
		json_decref(copy);
	}
	{
		/* An option added by hand is drift too, and `why` names it. */
		json_t *copy = json_deep_copy(config);
		json_t *options = json_object_get(json_array_get(json_object_get(json_object_get(copy,
									"Dhcp4"), "subnet4"), 0),
						  "option-data");

		json_array_append_new(options, json_pack("{s:s, s:s}", "name", "ntp-servers",
							 "data", "10.77.0.1"));
		assert_true(ddi_kea_drift(config, copy, why, sizeof(why)));
		assert_string_equal(why, "3 option entries, expected 2");
		json_decref(copy);
	}
	{
		json_t *copy = json_deep_copy(config);
		json_t *list = json_object_get(json_array_get(json_object_get(json_object_get(copy,
									"Dhcp4"), "subnet4"), 1),
					       "reservations");

		json_array_clear(list);
		assert_true(ddi_kea_drift(config, copy, why, sizeof(why)));
		assert_string_equal(why, "subnet 10.78.0.0/24: reservation for 52:54:00:00:00:02 "
			    "is missing");
		json_decref(copy);
	}
	json_decref(config);
	free(s);
}

static void
test_event_parse(void **state)
{
	struct ddi_event e;
	char text[DDI_ADDR_TEXT];

	(void)state;
	assert_int_equal(ddi_event_parse("leases4_committed 10.77.0.100 10.77.0.101\n", 42, &e),
			 0);
	assert_string_equal(e.hook, "leases4_committed");
	assert_int_equal(e.count, 2);
	assert_string_equal(ddi_addr_format(e.addrs[1], text), "10.77.0.101");
	assert_int_equal(ddi_event_parse("lease4_renew", 12, &e), 0);
	assert_int_equal(e.count, 0);
	assert_int_equal(ddi_event_parse("Lease4 10.0.0.1", 15, &e), -EINVAL);
	assert_int_equal(ddi_event_parse("lease4_renew 10.0.0.1  10.0.0.2", 31, &e), -EINVAL);
	assert_int_equal(ddi_event_parse("lease4_renew 10.0.0.256", 23, &e), -EINVAL);
	assert_int_equal(ddi_event_parse("lease4_renew\0x", 14, &e), -EINVAL);
	assert_int_equal(ddi_event_parse("", 0, &e), -EINVAL);
}

static void
test_pdns_zone_parse(void **state)
{
	static const char zone[] =
		"{\"rrsets\": ["
		"{\"name\": \"a.lab.example.\", \"type\": \"A\", \"ttl\": 300,"
		" \"records\": [{\"content\": \"10.77.0.2\"}],"
		" \"comments\": [{\"content\": \"managed by outpost\", \"account\": \"outpost\"}]},"
		"{\"name\": \"www.lab.example.\", \"type\": \"A\", \"ttl\": 60,"
		" \"records\": [{\"content\": \"10.77.0.9\"}, {\"content\": \"10.77.0.8\"}],"
		" \"comments\": []},"
		"{\"name\": \"lab.example.\", \"type\": \"SOA\", \"ttl\": 3600,"
		" \"records\": [{\"content\": \"x\"}]}]}";
	struct ddi_records records = { 0 };
	char err[256];

	(void)state;
	assert_int_equal(ddi_pdns_zone_parse(zone, strlen(zone), 0, &records, err, sizeof(err)), 0);
	assert_int_equal(records.count, 2);
	assert_string_equal(records.items[0].content, "10.77.0.2");
	assert_true(records.items[0].ours);
	assert_int_equal(records.items[0].ttl, 300);
	/* Two records in one RRset can never be Outpost's, so the content is cleared. */
	assert_string_equal(records.items[1].content, "");
	assert_false(records.items[1].ours);
	ddi_records_free(&records);

	assert_int_equal(ddi_pdns_zone_parse("{}", 2, 0, &records, err, sizeof(err)), -EPROTO);
	ddi_records_free(&records);
}

/* Router solicitations: RFC 4861 section 6.1.1's checks. */
static void
test_router_solicitation_valid(void **state)
{
	/* Header, then a source link-layer address option of 8 bytes. */
	uint8_t rs[16] = { 133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x52, 0x54, 0, 0x78, 0, 1 };
	uint8_t bad[16];

	(void)state;
	assert_true(ddi_ra_solicitation_valid(rs, 16, 255, false));
	assert_true(ddi_ra_solicitation_valid(rs, 8, 255, true));
	/* Forwarded by a router, or any hop limit but 255. */
	assert_false(ddi_ra_solicitation_valid(rs, 16, 254, false));
	assert_false(ddi_ra_solicitation_valid(rs, 16, -1, false));
	/* Too short, another type, a non-zero code. */
	assert_false(ddi_ra_solicitation_valid(rs, 7, 255, false));
	memcpy(bad, rs, sizeof(bad));
	bad[0] = 134;
	assert_false(ddi_ra_solicitation_valid(bad, 16, 255, false));
	memcpy(bad, rs, sizeof(bad));
	bad[1] = 1;
	assert_false(ddi_ra_solicitation_valid(bad, 16, 255, false));
	/* An option of length 0, one past the end, a lone trailing byte. */
	memcpy(bad, rs, sizeof(bad));
	bad[9] = 0;
	assert_false(ddi_ra_solicitation_valid(bad, 16, 255, false));
	bad[9] = 2;
	assert_false(ddi_ra_solicitation_valid(bad, 16, 255, false));
	assert_false(ddi_ra_solicitation_valid(rs, 9, 255, false));
	/* The unspecified source announcing a link-layer address. */
	assert_false(ddi_ra_solicitation_valid(rs, 16, 255, true));
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
		cmocka_unit_test(test_kea_reply_parse),
		cmocka_unit_test(test_kea_push_results),
		cmocka_unit_test(test_kea_unreachable),
		cmocka_unit_test(test_kea_config_generated),
		cmocka_unit_test(test_event_parse),
		cmocka_unit_test(test_router_solicitation_valid),
		cmocka_unit_test(test_pdns_zone_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
