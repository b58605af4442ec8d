/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IP address management: which addresses a machine may hold, the next free one, and
 * the DNS names that go with an address.
 */
#include "ddi/ddi.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/util.h"

const struct ddi_subnet *
ddi_subnet_find(const struct ddi_settings *s, uint32_t addr)
{
	for (size_t i = 0; i < s->subnet_count; i++)
		if (addr >= s->subnets[i].network && addr <= s->subnets[i].broadcast)
			return &s->subnets[i];
	return NULL;
}

/* Return the reason `addr` of `subnet` is not for machines, or NULL when it is. */
static const char *
address_taken_by(const struct ddi_settings *s, const struct ddi_subnet *subnet, uint32_t addr)
{
	if (addr == subnet->network)
		return "the subnet's network address";
	if (addr == subnet->broadcast)
		return "the subnet's broadcast address";
	if (addr == subnet->gateway)
		return "the subnet's gateway";
	if (addr == s->server)
		return "the appliance's own address";
	for (size_t i = 0; i < subnet->dns_count; i++)
		if (addr == subnet->dns[i])
			return "a DNS server";
	if (ddi_in_pool(subnet, addr))
		return "inside the discovery pool";
	return NULL;
}

int
ddi_address_check(const struct ddi_settings *s, uint32_t addr, char *err, size_t errlen)
{
	const struct ddi_subnet *subnet = ddi_subnet_find(s, addr);
	char text[DDI_ADDR_TEXT];
	const char *reason;

	ddi_addr_format(addr, text);
	if (subnet == NULL) {
		snprintf(err, errlen, "address %s is in no configured subnet; pick one inside a "
			 "[subnet] network", text);
		return -EINVAL;
	}
	reason = address_taken_by(s, subnet, addr);
	if (reason != NULL) {
		snprintf(err, errlen, "address %s is %s of subnet %s; pick another address or "
			 "let Outpost allocate one", text, reason, subnet->name);
		return -EINVAL;
	}
	return 0;
}

int
ddi_address_allocate(const struct ddi_settings *s, const struct ddi_subnet *subnet,
		     const uint32_t *used, size_t used_count, uint32_t *ret)
{
	size_t next = 0;

	for (uint32_t addr = subnet->network + 1; addr < subnet->broadcast; addr++) {
		/* used[] is sorted, so one cursor walks it alongside the candidates. */
		while (next < used_count && used[next] < addr)
			next++;
		if (next < used_count && used[next] == addr)
			continue;
		if (address_taken_by(s, subnet, addr) == NULL) {
			*ret = addr;
			return 0;
		}
	}
	return -ENOSPC;
}

void
ddi_reverse_name(uint32_t addr, char out[DDI_NAME_SIZE])
{
	snprintf(out, DDI_NAME_SIZE, "%u.%u.%u.%u.in-addr.arpa.", addr & 0xff,
		 (addr >> 8) & 0xff, (addr >> 16) & 0xff, addr >> 24);
}

const struct ddi_zone *
ddi_reverse_zone(const struct ddi_settings *s, uint32_t addr)
{
	const struct ddi_zone *best = NULL;

	for (size_t i = 0; i < s->zone_count; i++) {
		const struct ddi_zone *zone = &s->zones[i];
		uint32_t mask = UINT32_MAX << (32 - zone->prefix);

		if ((addr & mask) == zone->network && (best == NULL || zone->prefix > best->prefix))
			best = zone;
	}
	return best;
}

int
ddi_fqdn(const struct ddi_settings *s, const char *hostname, char out[DDI_NAME_SIZE])
{
	size_t len = strlen(hostname), domain_len = strlen(s->domain);
	size_t n = 0;

	if (len > 0 && hostname[len - 1] == '.')
		len--;
	/* A DNS name has at most 253 characters, plus the root's dot. */
	if (len + 1 > DDI_NAME_MAX + 1)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < len; i++)
		out[n++] = (char)tolower((unsigned char)hostname[i]);
	out[n++] = '.';
	out[n] = '\0';

	/* s->domain ends with a dot, so "a.site.example." ends with ".site.example.". */
	if (n > domain_len && strcmp(out + n - domain_len, s->domain) == 0 &&
	    out[n - domain_len - 1] == '.')
		return 0;
	if (n + domain_len > DDI_NAME_MAX + 1)
		return -ENAMETOOLONG;
	memcpy(out + n, s->domain, domain_len + 1);
	return 0;
}

struct used_ctx {
	const struct ddi_subnet *subnet;
	int64_t self;
	uint32_t *addrs;
	size_t count;
	size_t capacity;
};

static int
used_add(const struct ddi_host *h, void *arg)
{
	struct used_ctx *ctx = arg;
	uint32_t addr, *addrs;

	if (h->id == ctx->self || h->ip[0] == '\0' || ddi_addr_parse(h->ip, &addr) < 0 ||
	    addr < ctx->subnet->network || addr > ctx->subnet->broadcast)
		return 0;
	addrs = array_grow(ctx->addrs, &ctx->capacity, ctx->count, sizeof(*addrs), 256);
	if (addrs == NULL)
		return -ENOMEM;
	ctx->addrs = addrs;
	ctx->addrs[ctx->count++] = addr;
	return 0;
}

static int
addr_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
ddi_address_assign(const struct ddi_settings *s, struct store *st, struct machine *m,
		   const char *requested, char *err, size_t errlen)
{
	struct used_ctx ctx = { .self = m->id };
	char text[DDI_ADDR_TEXT];
	uint32_t addr;
	int r;

	if (requested != NULL) {
		if (ddi_addr_parse(requested, &addr) < 0)
			return err_set(-EINVAL, err, errlen, "address \"%s\" is not an IPv4 address",
				       requested);
		r = ddi_address_check(s, addr, err, errlen);
		if (r == 0)
			ddi_addr_format(addr, m->ip);
		return r;
	}

	/* A machine seen on the network gets an address in the subnet it was leased from. */
	ctx.subnet = NULL;
	if (m->lease_ip[0] != '\0' && ddi_addr_parse(m->lease_ip, &addr) == 0)
		ctx.subnet = ddi_subnet_find(s, addr);
	if (ctx.subnet == NULL)
		ctx.subnet = ddi_subnet_find(s, s->server);

	r = store_ddi_hosts(st, used_add, &ctx);
	if (r < 0) {
		free(ctx.addrs);
		return err_set(r, err, errlen, "%s", store_error(st));
	}
	if (ctx.count > 1)
		qsort(ctx.addrs, ctx.count, sizeof(ctx.addrs[0]), addr_cmp);
	r = ddi_address_allocate(s, ctx.subnet, ctx.addrs, ctx.count, &addr);
	free(ctx.addrs);
	if (r < 0)
		return err_set(r, err, errlen, "subnet %s (%s/%u) has no free address outside its "
			       "pool; widen the subnet or shrink the pool", ctx.subnet->name,
			       ddi_addr_format(ctx.subnet->network, text), ctx.subnet->prefix);
	ddi_addr_format(addr, m->ip);
	return 0;
}
