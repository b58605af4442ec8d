/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DDI settings: the provisioning network as [ddi] and [subnet NAME] describe it,
 * checked as a whole before Kea or PowerDNS gets any of it.
 */
#include "ddi/ddi.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static uint32_t
prefix_mask(unsigned prefix)
{
	return prefix == 0 ? 0 : UINT32_MAX << (32 - prefix);
}

int
ddi_addr_parse(const char *text, uint32_t *ret)
{
	struct in_addr addr;

	if (inet_pton(AF_INET, text, &addr) != 1)
		return -EINVAL;
	*ret = ntohl(addr.s_addr);
	return 0;
}

char *
ddi_addr_format(uint32_t addr, char out[DDI_ADDR_TEXT])
{
	snprintf(out, DDI_ADDR_TEXT, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff,
		 (addr >> 8) & 0xff, addr & 0xff);
	return out;
}

/*
 * Split a comma-separated value into trimmed entries, calling `fn` on each. Empty
 * entries are errors. `what` names the key in messages.
 */
static int
list_walk(const char *value, const char *what, int (*fn)(const char *entry, void *arg),
	  void *arg, char *err, size_t errlen)
{
	char copy[4096];
	char *cursor = copy, *entry;
	int r;

	if ((size_t)snprintf(copy, sizeof(copy), "%s", value) >= sizeof(copy))
		return err_set(-EINVAL, err, errlen, "%s: longer than %zu bytes", what, sizeof(copy) - 1);
	if (copy[0] == '\0')
		return 0;
	while ((entry = strsep(&cursor, ",")) != NULL) {
		char *end;

		while (*entry == ' ' || *entry == '\t')
			entry++;
		end = entry + strlen(entry);
		while (end > entry && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*entry == '\0')
			return err_set(-EINVAL, err, errlen, "%s: empty entry in \"%s\"; separate entries with "
				    "single commas", what, value);
		r = fn(entry, arg);
		if (r < 0)
			return r;
	}
	return 0;
}

struct addr_list {
	uint32_t *addrs;
	size_t *count;
	const char *what;
	char *err;
	size_t errlen;
};

static int
addr_list_add(const char *entry, void *arg)
{
	struct addr_list *list = arg;

	if (*list->count == DDI_DNS_MAX)
		return err_set(-EINVAL, list->err, list->errlen, "%s: more than %d addresses", list->what,
			    DDI_DNS_MAX);
	if (ddi_addr_parse(entry, &list->addrs[*list->count]) < 0)
		return err_set(-EINVAL, list->err, list->errlen, "%s: invalid IPv4 address \"%s\"", list->what,
			    entry);
	(*list->count)++;
	return 0;
}

static int
addr_list_parse(const char *value, const char *what, uint32_t *addrs, size_t *count,
		char *err, size_t errlen)
{
	struct addr_list list = { addrs, count, what, err, errlen };

	*count = 0;
	return list_walk(value, what, addr_list_add, &list, err, errlen);
}

/* Parse "A.B.C.D/P" with no host bits set. */
static int
network_parse(struct ddi_subnet *subnet, const char *text, char *err, size_t errlen)
{
	char addr_text[DDI_ADDR_TEXT + 4];
	const char *slash = strchr(text, '/');
	uint64_t prefix;
	uint32_t addr;
	char fixed[DDI_ADDR_TEXT];

	if (text[0] == '\0')
		return err_set(-EINVAL, err, errlen, "[subnet %s] network: missing; set it as ADDRESS/PREFIX, "
			    "such as 10.20.0.0/24", subnet->name);
	if (slash == NULL || (size_t)(slash - text) >= sizeof(addr_text) ||
	    uint_parse(slash + 1, 0, 32, &prefix) < 0)
		return err_set(-EINVAL, err, errlen, "[subnet %s] network: invalid value \"%s\"; expected "
			    "ADDRESS/PREFIX, such as 10.20.0.0/24", subnet->name, text);
	memcpy(addr_text, text, (size_t)(slash - text));
	addr_text[slash - text] = '\0';
	if (ddi_addr_parse(addr_text, &addr) < 0)
		return err_set(-EINVAL, err, errlen, "[subnet %s] network: invalid IPv4 address \"%s\"",
			    subnet->name, addr_text);
	if (prefix < 8 || prefix > 30)
		return err_set(-EINVAL, err, errlen, "[subnet %s] network: prefix /%u is outside /8 to /30",
			    subnet->name, (unsigned)prefix);
	if ((addr & ~prefix_mask((unsigned)prefix)) != 0)
		return err_set(-EINVAL, err, errlen, "[subnet %s] network: \"%s\" has host bits set; did you "
			    "mean %s/%u?", subnet->name, text,
			    ddi_addr_format(addr & prefix_mask((unsigned)prefix), fixed),
			    (unsigned)prefix);

	/* 0/8 is "this network", 127/8 loopback, 224/4 multicast and 240/4 reserved. */
	if ((addr >> 24) == 0 || (addr >> 24) == 127 || (addr >> 28) >= 14)
		return err_set(-EINVAL, err, errlen, "[subnet %s] network: %s is not a unicast "
			       "network that hosts can use", subnet->name, text);

	subnet->network = addr;
	subnet->prefix = (unsigned)prefix;
	subnet->broadcast = addr | ~prefix_mask((unsigned)prefix);
	return 0;
}

static bool
in_subnet(const struct ddi_subnet *subnet, uint32_t addr)
{
	return addr >= subnet->network && addr <= subnet->broadcast;
}

/* Also used to reject the network and broadcast addresses as hosts. */
static bool
host_address(const struct ddi_subnet *subnet, uint32_t addr)
{
	return addr > subnet->network && addr < subnet->broadcast;
}

struct pool_ctx {
	struct ddi_subnet *subnet;
	char *err;
	size_t errlen;
};

static int
pool_add(const char *entry, void *arg)
{
	struct pool_ctx *ctx = arg;
	struct ddi_subnet *subnet = ctx->subnet;
	char first_text[DDI_ADDR_TEXT + 8], last_text[DDI_ADDR_TEXT + 8];
	const char *dash = strchr(entry, '-');
	struct ddi_range range;
	size_t len;

	if (dash == NULL || (size_t)(dash - entry) >= sizeof(first_text) ||
	    strlen(dash + 1) >= sizeof(last_text))
		return err_set(-EINVAL, ctx->err, ctx->errlen, "[subnet %s] pool: invalid range \"%s\"; "
			    "expected FIRST-LAST, such as 10.20.0.100-10.20.0.199", subnet->name,
			    entry);
	len = (size_t)(dash - entry);
	memcpy(first_text, entry, len);
	while (len > 0 && first_text[len - 1] == ' ')
		len--;
	first_text[len] = '\0';
	snprintf(last_text, sizeof(last_text), "%s", dash + 1 + strspn(dash + 1, " "));

	if (ddi_addr_parse(first_text, &range.first) < 0 ||
	    ddi_addr_parse(last_text, &range.last) < 0)
		return err_set(-EINVAL, ctx->err, ctx->errlen, "[subnet %s] pool: invalid IPv4 address in "
			    "\"%s\"", subnet->name, entry);
	if (range.first > range.last)
		return err_set(-EINVAL, ctx->err, ctx->errlen, "[subnet %s] pool: range \"%s\" ends before it "
			    "starts; write the lower address first", subnet->name, entry);
	if (!host_address(subnet, range.first) || !host_address(subnet, range.last))
	{
		char lowest[DDI_ADDR_TEXT], highest[DDI_ADDR_TEXT];

		return err_set(-EINVAL, ctx->err, ctx->errlen, "[subnet %s] pool: range \"%s\" is "
			       "not inside the subnet's host addresses; keep it within %s-%s",
			       subnet->name, entry, ddi_addr_format(subnet->network + 1, lowest),
			       ddi_addr_format(subnet->broadcast - 1, highest));
	}
	for (size_t i = 0; i < subnet->pool_count; i++) {
		const struct ddi_range *other = &subnet->pools[i];

		if (range.first <= other->last && other->first <= range.last)
			return err_set(-EINVAL, ctx->err, ctx->errlen, "[subnet %s] pool: range \"%s\" overlaps "
				    "another range of the pool", subnet->name, entry);
	}
	if (subnet->pool_count == DDI_POOLS_MAX)
		return err_set(-EINVAL, ctx->err, ctx->errlen, "[subnet %s] pool: more than %d ranges",
			    subnet->name, DDI_POOLS_MAX);
	subnet->pools[subnet->pool_count++] = range;
	return 0;
}

bool
ddi_in_pool(const struct ddi_subnet *subnet, uint32_t addr)
{
	for (size_t i = 0; i < subnet->pool_count; i++)
		if (addr >= subnet->pools[i].first && addr <= subnet->pools[i].last)
			return true;
	return false;
}

/* Check that a host address of the subnet, named `what`, is usable and outside the pool. */
static int
host_check(const struct ddi_subnet *subnet, uint32_t addr, const char *what, char *err,
	   size_t errlen)
{
	char text[DDI_ADDR_TEXT];

	ddi_addr_format(addr, text);
	if (!host_address(subnet, addr))
		return err_set(-EINVAL, err, errlen, "%s %s is the network or broadcast address of subnet %s",
			    what, text, subnet->name);
	if (ddi_in_pool(subnet, addr))
		return err_set(-EINVAL, err, errlen, "%s %s is inside the pool of subnet %s; move it out of "
			    "the pool or shrink the pool", what, text, subnet->name);
	return 0;
}

static int
subnet_parse(const struct conf *conf, const struct conf_subnet *in, struct ddi_subnet *out,
	     char *err, size_t errlen)
{
	struct pool_ctx pool = { out, err, errlen };
	char what[64];
	int r;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", in->name);
	r = network_parse(out, in->network, err, errlen);
	if (r < 0)
		return r;
	r = list_walk(in->pool, "pool", pool_add, &pool, err, errlen);
	if (r < 0)
		return r;

	if (in->gateway[0] != '\0') {
		if (ddi_addr_parse(in->gateway, &out->gateway) < 0)
			return err_set(-EINVAL, err, errlen, "[subnet %s] gateway: invalid IPv4 address \"%s\"",
				    out->name, in->gateway);
		if (!in_subnet(out, out->gateway))
			return err_set(-EINVAL, err, errlen, "[subnet %s] gateway: %s is outside %s",
				    out->name, in->gateway, in->network);
		r = host_check(out, out->gateway, "gateway", err, errlen);
		if (r < 0) {
			char detail[256];

			snprintf(detail, sizeof(detail), "%s", err);
			return err_set(r, err, errlen, "[subnet %s] gateway: %s", out->name, detail);
		}
		if (r < 0)
			return r;
	}

	/* An error in the [ddi] list is reported there, not on the subnet that took it. */
	if (in->dns_servers[0] != '\0')
		snprintf(what, sizeof(what), "[subnet %s] dns_servers", out->name);
	else
		snprintf(what, sizeof(what), "[ddi] dns_servers");
	return addr_list_parse(in->dns_servers[0] != '\0' ? in->dns_servers : conf->ddi_dns_servers,
			       what, out->dns, &out->dns_count, err, errlen);
}

/* Reject subnets that share addresses, naming both. */
static int
subnets_disjoint(const struct ddi_settings *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < s->subnet_count; i++) {
		for (size_t j = i + 1; j < s->subnet_count; j++) {
			const struct ddi_subnet *a = &s->subnets[i], *b = &s->subnets[j];

			if (a->network <= b->broadcast && b->network <= a->broadcast)
				return err_set(-EINVAL, err, errlen, "[subnet %s] and [subnet %s] overlap; give "
					    "each a network of its own", a->name, b->name);
		}
	}
	return 0;
}

/* Lower-case `name` into `out` with one trailing dot. */
static int
name_canonical(const char *name, char out[DDI_NAME_SIZE])
{
	size_t len = strlen(name);

	if (len == 0 || len + 2 > DDI_NAME_SIZE)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	if (out[len - 1] != '.')
		out[len++] = '.';
	out[len] = '\0';
	return 0;
}

/*
 * Parse "C.B.A.in-addr.arpa" (one to three numeric labels, most specific first) into
 * the zone's network and prefix.
 */
static int
zone_parse(const char *text, struct ddi_zone *zone)
{
	static const char suffix[] = "in-addr.arpa.";
	unsigned octets[3];
	size_t labels = 0;
	const char *p;

	if (!hostname_valid(text) || name_canonical(text, zone->name) < 0)
		return -EINVAL;
	p = zone->name;
	while (strcmp(p, suffix) != 0) {
		char *end;
		unsigned long value;

		if (labels == 3 || !isdigit((unsigned char)*p))
			return -EINVAL;
		value = strtoul(p, &end, 10);
		if (*end != '.' || value > 255 || (end - p > 1 && *p == '0'))
			return -EINVAL;
		octets[labels++] = (unsigned)value;
		p = end + 1;
	}
	if (labels == 0)
		return -EINVAL;

	zone->prefix = (unsigned)labels * 8;
	zone->network = 0;
	for (size_t i = 0; i < labels; i++)
		zone->network |= (uint32_t)octets[labels - 1 - i] << (24 - 8 * i);
	return 0;
}

/* The zone of `prefix` bits (8, 16 or 24) that contains `addr`. */
static void
zone_for(uint32_t addr, unsigned prefix, struct ddi_zone *zone)
{
	char *p = zone->name;
	size_t left = sizeof(zone->name);

	zone->prefix = prefix;
	zone->network = addr & prefix_mask(prefix);
	for (unsigned bits = prefix; bits >= 8; bits -= 8) {
		int n = snprintf(p, left, "%u.", (zone->network >> (32 - bits)) & 0xff);

		p += n;
		left -= (size_t)n;
	}
	snprintf(p, left, "in-addr.arpa.");
}

static bool
zone_contains(const struct ddi_zone *zone, uint32_t addr)
{
	return (addr & prefix_mask(zone->prefix)) == zone->network;
}

struct zone_ctx {
	struct ddi_settings *s;
	char *err;
	size_t errlen;
};

static int
zone_add(const char *entry, void *arg)
{
	struct zone_ctx *ctx = arg;
	struct ddi_settings *s = ctx->s;
	struct ddi_zone zone;

	if (zone_parse(entry, &zone) < 0)
		return err_set(-EINVAL, ctx->err, ctx->errlen, "[ddi] reverse_zones: invalid zone \"%s\"; "
			    "expected one to three octets then in-addr.arpa, such as "
			    "0.20.10.in-addr.arpa", entry);
	for (size_t i = 0; i < s->zone_count; i++)
		if (strcmp(s->zones[i].name, zone.name) == 0)
			return err_set(-EINVAL, ctx->err, ctx->errlen, "[ddi] reverse_zones: \"%s\" is listed "
				    "twice", entry);
	if (s->zone_count == DDI_ZONES_MAX)
		return err_set(-EINVAL, ctx->err, ctx->errlen, "[ddi] reverse_zones: more than %d zones",
			    DDI_ZONES_MAX);
	s->zones[s->zone_count++] = zone;
	return 0;
}

/*
 * Without reverse_zones, each subnet gets the zone of its prefix rounded down to a
 * whole octet, so 10.20.0.0/24 gets 0.20.10.in-addr.arpa. and 10.20.0.0/22 gets
 * 20.10.in-addr.arpa.
 */
static void
zones_derive(struct ddi_settings *s)
{
	for (size_t i = 0; i < s->subnet_count; i++) {
		struct ddi_zone zone;
		bool seen = false;

		zone_for(s->subnets[i].network, s->subnets[i].prefix / 8 * 8, &zone);
		for (size_t j = 0; j < s->zone_count; j++)
			seen = seen || strcmp(s->zones[j].name, zone.name) == 0;
		if (!seen && s->zone_count < DDI_ZONES_MAX)
			s->zones[s->zone_count++] = zone;
	}
}

/* Each subnet needs a zone that covers all of it, and each zone must serve a subnet. */
static int
zones_check(const struct ddi_settings *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < s->subnet_count; i++) {
		const struct ddi_subnet *subnet = &s->subnets[i];
		bool covered = false;

		for (size_t j = 0; j < s->zone_count; j++)
			covered = covered || (s->zones[j].prefix <= subnet->prefix &&
					      zone_contains(&s->zones[j], subnet->network));
		if (!covered) {
			struct ddi_zone zone;

			zone_for(subnet->network, subnet->prefix / 8 * 8, &zone);
			return err_set(-EINVAL, err, errlen, "[ddi] reverse_zones: no zone covers all of [subnet "
				    "%s]; add %s", subnet->name, zone.name);
		}
	}
	for (size_t j = 0; j < s->zone_count; j++) {
		bool used = false;

		for (size_t i = 0; i < s->subnet_count; i++) {
			const struct ddi_subnet *subnet = &s->subnets[i];

			used = used || zone_contains(&s->zones[j], subnet->network) ||
			       (s->zones[j].prefix > subnet->prefix &&
				in_subnet(subnet, s->zones[j].network));
		}
		if (!used)
			return err_set(-EINVAL, err, errlen, "[ddi] reverse_zones: %s covers no [subnet]; remove "
				    "it", s->zones[j].name);
	}
	return 0;
}

/* True when canonical `name` is `suffix` or ends with "." + suffix. */
static bool
name_ends_with(const char *name, const char *suffix)
{
	size_t len = strlen(name), slen = strlen(suffix);

	return len >= slen && strcmp(name + len - slen, suffix) == 0 &&
	       (len == slen || name[len - slen - 1] == '.');
}

/* True when the last label of canonical `name` is all digits (RFC 1123, section 2.1). */
static bool
last_label_numeric(const char *name)
{
	size_t len = strlen(name) - 1;        /* without the trailing dot */
	size_t start = len;

	while (start > 0 && name[start - 1] != '.')
		start--;
	return strspn(name + start, "0123456789") == len - start;
}

/* The appliance's own address, the interface and the DNS servers. */
static int
site_check(const struct conf *conf, struct ddi_settings *s, char *err, size_t errlen)
{
	const struct ddi_subnet *home;
	int r;

	/* Kea reads a list of names and "*" for all, so only plain names get through. */
	if (conf->ddi_interface[0] == '\0')
		return err_set(-EINVAL, err, errlen, "[ddi] interface: missing; give the "
			       "provisioning interface, such as eth1");
	if (strlen(conf->ddi_interface) >= IF_NAMESIZE ||
	    strspn(conf->ddi_interface, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789._-") != strlen(conf->ddi_interface))
		return err_set(-EINVAL, err, errlen, "[ddi] interface: invalid name \"%s\"; give the "
			    "provisioning interface, such as eth1", conf->ddi_interface);
	snprintf(s->interface, sizeof(s->interface), "%s", conf->ddi_interface);

	if (ddi_addr_parse(conf->ddi_server_address, &s->server) < 0)
		return err_set(-EINVAL, err, errlen, "[ddi] server_address: invalid IPv4 address \"%s\"; give "
			    "the appliance's address on the provisioning interface",
			    conf->ddi_server_address);
	home = ddi_subnet_find(s, s->server);
	if (home == NULL)
		return err_set(-EINVAL, err, errlen, "[ddi] server_address: %s is in no [subnet]; add the "
			    "provisioning interface's subnet", conf->ddi_server_address);
	r = host_check(home, s->server, "[ddi] server_address", err, errlen);
	if (r < 0)
		return r;

	if (!hostname_valid(conf->ddi_domain) || strchr(conf->ddi_domain, '.') == NULL ||
	    name_canonical(conf->ddi_domain, s->domain) < 0)
		return err_set(-EINVAL, err, errlen, "[ddi] domain: invalid DNS domain \"%s\"; give the site's "
			    "zone, such as site.example", conf->ddi_domain);
	if (name_ends_with(s->domain, "arpa."))
		return err_set(-EINVAL, err, errlen, "[ddi] domain: \"%s\" is a reverse zone; give the "
			    "forward domain", conf->ddi_domain);
	if (last_label_numeric(s->domain))
		return err_set(-EINVAL, err, errlen, "[ddi] domain: \"%s\" looks like an address; "
			    "give a DNS domain, such as site.example", conf->ddi_domain);

	if (conf->ddi_dns_servers[0] == '\0') {
		s->dns[0] = s->server;
		s->dns_count = 1;
		return 0;
	}
	return addr_list_parse(conf->ddi_dns_servers, "[ddi] dns_servers", s->dns,
			       &s->dns_count, err, errlen);
}

/*
 * Give subnets without a list of their own the site's DNS servers, and keep every DNS
 * server out of the pools.
 */
static int
dns_check(struct ddi_settings *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < s->subnet_count; i++) {
		struct ddi_subnet *subnet = &s->subnets[i];

		if (subnet->dns_count == 0) {
			memcpy(subnet->dns, s->dns, sizeof(s->dns));
			subnet->dns_count = s->dns_count;
		}
		for (size_t j = 0; j < subnet->dns_count; j++) {
			const struct ddi_subnet *home = ddi_subnet_find(s, subnet->dns[j]);
			int r;

			if (home == NULL)
				continue;
			r = host_check(home, subnet->dns[j], "DNS server", err, errlen);
			if (r < 0) {
				char detail[256];

				snprintf(detail, sizeof(detail), "%s", err);
				return err_set(r, err, errlen, "dns_servers: %s; list another server",
					       detail);
			}
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int
ddi_settings_parse(const struct conf *conf, struct ddi_settings *out, char *err,
		   size_t errlen)
{
	struct ddi_settings *s;
	struct zone_ctx zones;
	int r;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	zones = (struct zone_ctx){ s, err, errlen };

	if (conf->subnet_count == 0) {
		r = err_set(-EINVAL, err, errlen, "no [subnet NAME] section; describe the provisioning "
			 "network, such as [subnet provisioning] with network = 10.20.0.0/24");
		goto done;
	}
	for (size_t i = 0; i < conf->subnet_count; i++) {
		r = subnet_parse(conf, &conf->subnets[i], &s->subnets[i], err, errlen);
		if (r < 0)
			goto done;
		s->subnet_count++;
	}
	r = subnets_disjoint(s, err, errlen);
	if (r < 0)
		goto done;
	r = site_check(conf, s, err, errlen);
	if (r < 0)
		goto done;
	r = dns_check(s, err, errlen);
	if (r < 0)
		goto done;

	r = list_walk(conf->ddi_reverse_zones, "[ddi] reverse_zones", zone_add, &zones, err,
		      errlen);
	if (r < 0)
		goto done;
	if (s->zone_count == 0)
		zones_derive(s);
	r = zones_check(s, err, errlen);
	if (r < 0)
		goto done;

	s->lease_seconds = conf->ddi_lease_seconds;
	*out = *s;
done:
	free(s);
	return r;
}
