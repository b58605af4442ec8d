/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kea's whole DHCPv4 configuration, generated from the DDI settings and the hosts in
 * the store. Outpost owns every key, so the same inputs always give the same text and
 * a hash of it shows whether Kea needs a new configuration.
 *
 * The client classes pick the boot file from what the client sends (Kea 2.2 evaluates
 * classes in the order they are defined, and for boot-file-name and next-server the
 * first matching class that sets them wins):
 *   iPXE (user class "iPXE" in option 77, or option 175)  the URL of /boot/start.ipxe
 *   option 93 = 0, legacy BIOS PXE                         undionly.kpxe over TFTP
 *   option 93 = 7 or 9, x86-64 UEFI PXE                    snponly.efi over TFTP
 *   option 93 = 16 with vendor class HTTPClient            http://.../ipxe/ipxe.efi,
 *                                                           and option 60 HTTPClient back
 * The last three also require "not member('outpost-ipxe')", so iPXE never gets a
 * boot loader again, whatever architecture or vendor class it reports.
 *
 * iPXE also gets its option 175 with "no-pxedhcp" set: without it, iPXE keeps the
 * first offer for about three seconds in case a ProxyDHCP server answers too, and
 * Outpost never runs one.
 */
#include "ddi/ddi-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static json_t *
option_data(const char *name, const char *data)
{
	return json_pack("{s:s, s:s}", "name", name, "data", data);
}

/* Join addresses as Kea's option data wants them: "10.0.0.1, 10.0.0.2". */
static void
addr_list_text(const uint32_t *addrs, size_t count, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < count && used < size; i++) {
		char text[DDI_ADDR_TEXT];
		int n = snprintf(out + used, size - used, "%s%s", i > 0 ? ", " : "",
				 ddi_addr_format(addrs[i], text));

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/*
 * Option 175 contains iPXE's own options. Kea defines none of them, so it is defined as
 * binary and sent as bytes: sub-option 176 (no-pxedhcp), length 1, value 1. Kea reports
 * binary data back in upper case, so the drift check compares it as written here.
 */
#define IPXE_OPTIONS_NO_PXEDHCP "B00101"

static json_t *
option_defs(void)
{
	return json_pack("[{s:s, s:i, s:s, s:s}]", "name", "ipxe-encap-opts", "code", 175,
			 "space", "dhcp4", "type", "binary");
}

static json_t *
client_classes(const struct ddi_config *c)
{
	char server[DDI_ADDR_TEXT], script[DDI_URL_SIZE + 32], http_boot[DDI_URL_SIZE + 32];

	ddi_addr_format(c->settings->server, server);
	snprintf(script, sizeof(script), "%s" DDI_START_PATH, c->boot_url);
	snprintf(http_boot, sizeof(http_boot), "%s" DDI_HTTP_BOOT_PATH, c->boot_url);

	return json_pack(
		"[{s:s, s:s, s:s, s:[{s:s, s:s, s:b, s:b}]},"
		" {s:s, s:s, s:s, s:s},"
		" {s:s, s:s, s:s, s:s},"
		" {s:s, s:s, s:s, s:[{s:s, s:s, s:b}]}]",
		"name", "outpost-ipxe",
		"test", "substring(option[77].hex,0,4) == 'iPXE' or option[175].exists",
		"boot-file-name", script,
		"option-data", "name", "ipxe-encap-opts", "data", IPXE_OPTIONS_NO_PXEDHCP,
		"csv-format", 0, "always-send", 1,

		"name", "outpost-bios",
		"test", "option[93].hex == 0x0000 and not member('outpost-ipxe')",
		"next-server", server,
		"boot-file-name", "undionly.kpxe",

		"name", "outpost-uefi",
		"test", "(option[93].hex == 0x0007 or option[93].hex == 0x0009)"
			" and not member('outpost-ipxe')",
		"next-server", server,
		"boot-file-name", "snponly.efi",

		"name", "outpost-http-boot",
		"test", "option[93].hex == 0x0010 and substring(option[60].hex,0,10) == 'HTTPClient'"
			" and not member('outpost-ipxe')",
		"boot-file-name", http_boot,
		/* Without always-send, clients that do not request option 60 get none. */
		"option-data", "name", "vendor-class-identifier", "data", "HTTPClient",
		"always-send", 1);
}

/* Add one host's reservation to the subnet that contains its address. */
static int
reservation_add(const struct ddi_config *c, json_t *subnets, const struct ddi_host *h)
{
	const struct ddi_subnet *subnet;
	json_t *reservation, *list;
	uint32_t addr;

	if (h->mac[0] == '\0' || h->ip[0] == '\0' || ddi_addr_parse(h->ip, &addr) < 0)
		return 0;
	subnet = ddi_subnet_find(c->settings, addr);
	if (subnet == NULL)
		return 0;

	list = json_object_get(json_array_get(subnets, (size_t)(subnet - c->settings->subnets)),
			       "reservations");
	/*
	 * A reservation inside the pool (the pool was widened over it) is legal for Kea,
	 * but only when it checks reservations for dynamic addresses too; without that it
	 * would lease the address to another client.
	 */
	if (ddi_in_pool(subnet, addr))
		json_object_set_new(json_array_get(subnets, (size_t)(subnet - c->settings->subnets)),
				    "reservations-out-of-pool", json_false());
	reservation = json_pack("{s:s, s:s}", "hw-address", h->mac, "ip-address", h->ip);
	if (reservation == NULL)
		return -ENOMEM;
	if (h->hostname[0] != '\0')
		json_object_set_new(reservation, "hostname", json_string(h->hostname));
	return json_array_append_new(list, reservation) < 0 ? -ENOMEM : 0;
}

static json_t *
subnet_json(const struct ddi_config *c, const struct ddi_subnet *subnet)
{
	char network[DDI_ADDR_TEXT + 4], text[DDI_ADDR_TEXT], dns[DDI_DNS_MAX * DDI_ADDR_TEXT + 16];
	char domain[DDI_NAME_SIZE];
	json_t *out, *pools, *options;

	snprintf(network, sizeof(network), "%s/%u", ddi_addr_format(subnet->network, text),
		 subnet->prefix);
	pools = json_array();
	for (size_t i = 0; i < subnet->pool_count; i++) {
		char first[DDI_ADDR_TEXT], last[DDI_ADDR_TEXT], range[2 * DDI_ADDR_TEXT + 4];

		snprintf(range, sizeof(range), "%s-%s", ddi_addr_format(subnet->pools[i].first, first),
			 ddi_addr_format(subnet->pools[i].last, last));
		json_array_append_new(pools, json_pack("{s:s}", "pool", range));
	}

	/* Kea wants the domain without the root's trailing dot. */
	snprintf(domain, sizeof(domain), "%s", c->settings->domain);
	domain[strlen(domain) - 1] = '\0';
	addr_list_text(subnet->dns, subnet->dns_count, dns, sizeof(dns));
	options = json_pack("[o, o]", option_data("domain-name-servers", dns),
			    option_data("domain-name", domain));
	if (subnet->gateway != 0)
		json_array_append_new(options, option_data("routers",
							   ddi_addr_format(subnet->gateway, text)));

	/*
	 * The network address is the subnet id, so ids (which Kea's leases refer to) stay
	 * the same when subnets are reordered or added. Reservations all lie outside the
	 * pools, so "reservations-out-of-pool" spares Kea a reservation lookup for every
	 * dynamic allocation. A server sends a different client identifier from its
	 * firmware, the ramdisk and the installed system, or none; "match-client-id" off
	 * makes Kea know it by its MAC throughout, so its reserved address follows it.
	 */
	out = json_pack("{s:I, s:s, s:o, s:o, s:[], s:b, s:b, s:b, s:b}",
			"id", (json_int_t)subnet->network,
			"subnet", network,
			"pools", pools,
			"option-data", options,
			"reservations",
			"reservations-global", 0,
			"reservations-in-subnet", 1,
			"reservations-out-of-pool", 1,
			"match-client-id", 0);
	if (out != NULL && subnet->network <= c->settings->server &&
	    c->settings->server <= subnet->broadcast)
		json_object_set_new(out, "interface", json_string(c->settings->interface));
	return out;
}

static json_t *
hooks_json(const struct ddi_config *c)
{
	char lease_cmds[DDI_PATH_SIZE + 32], run_script[DDI_PATH_SIZE + 32];

	snprintf(lease_cmds, sizeof(lease_cmds), "%s/libdhcp_lease_cmds.so", c->hooks_dir);
	snprintf(run_script, sizeof(run_script), "%s/libdhcp_run_script.so", c->hooks_dir);
	if (!c->lease_hook)
		return json_pack("[{s:s}]", "library", lease_cmds);
	return json_pack("[{s:s}, {s:s, s:{s:s, s:b}}]",
			 "library", lease_cmds,
			 "library", run_script,
			 "parameters", "name", c->hook_script, "sync", 0);
}

static int
hosts_add(const struct ddi_host *h, void *arg)
{
	struct {
		const struct ddi_config *c;
		json_t *subnets;
	} *ctx = arg;

	return reservation_add(ctx->c, ctx->subnets, h);
}

json_t *
ddi_kea_config(const struct ddi_config *c, const struct ddi_hosts *hosts)
{
	struct {
		const struct ddi_config *c;
		json_t *subnets;
	} ctx = { c, json_array() };
	json_t *dhcp4;

	for (size_t i = 0; i < c->settings->subnet_count; i++)
		json_array_append_new(ctx.subnets, subnet_json(c, &c->settings->subnets[i]));
	for (size_t i = 0; i < hosts->count; i++) {
		if (hosts_add(&hosts->items[i], &ctx) < 0) {
			json_decref(ctx.subnets);
			return NULL;
		}
	}

	dhcp4 = json_pack(
		"{s:{s:[s], s:s}, s:{s:s, s:s}, s:{s:s, s:b, s:s, s:i}, s:I, s:o, s:o, s:o, s:o,"
		" s:[{s:s, s:[{s:s}], s:s}]}",
		"interfaces-config", "interfaces", c->settings->interface,
		"dhcp-socket-type", "raw",
		"control-socket", "socket-type", "unix", "socket-name", c->control_socket,
		"lease-database", "type", "memfile", "persist", 1, "name", c->lease_file,
		"lfc-interval", 3600,
		"valid-lifetime", (json_int_t)c->settings->lease_seconds,
		"hooks-libraries", hooks_json(c),
		"option-def", option_defs(),
		"client-classes", client_classes(c),
		"subnet4", ctx.subnets,
		"loggers", "name", "kea-dhcp4", "output_options", "output", "stdout",
		"severity", "INFO");
	return dhcp4 == NULL ? NULL : json_pack("{s:o}", "Dhcp4", dhcp4);
}
