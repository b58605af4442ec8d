/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DDI: the site's DHCP (Kea), DNS (PowerDNS) and TFTP (tftpd-hpa), run by Outpost.
 *
 * The store contains the desired state: each machine's reserved address, MACs and host
 * name. The DDI manager, a thread of its own, turns it into Kea's whole configuration,
 * pushed over Kea's control socket, and into A and PTR records, pushed through the
 * PowerDNS HTTP API. Each pass also repairs whatever drifted in the servers.
 * Only this module talks to Kea and PowerDNS.
 *
 * Addresses are IPv4 and kept as uint32_t in host byte order, so ranges are plain
 * integer comparisons.
 */
#ifndef OUTPOST_DDI_H
#define OUTPOST_DDI_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

#define DDI_POOLS_MAX 16        /* pool ranges per subnet */
#define DDI_DNS_MAX 8           /* DNS servers per list */
#define DDI_ZONES_MAX 64        /* reverse zones */
#define DDI_NAME_SIZE 256       /* a DNS name in text, with its trailing dot */
#define DDI_NAME_MAX 253        /* characters of a DNS name without the trailing dot */
#define DDI_ADDR_TEXT 16        /* "255.255.255.255" plus NUL */

struct ddi_range {
	uint32_t first;
	uint32_t last;                  /* inclusive */
};

struct ddi_subnet {
	char name[CONF_SUBNET_NAME_MAX + 1];
	uint32_t network;
	uint32_t broadcast;
	unsigned prefix;                /* 8 to 30 */
	struct ddi_range pools[DDI_POOLS_MAX];
	size_t pool_count;
	uint32_t gateway;               /* 0: none */
	uint32_t dns[DDI_DNS_MAX];      /* the subnet's own list, or the [ddi] one */
	size_t dns_count;
};

/* A reverse zone: the in-addr.arpa name of a network whose prefix is 8, 16 or 24. */
struct ddi_zone {
	char name[DDI_NAME_SIZE];       /* canonical: lower case, trailing dot */
	uint32_t network;
	unsigned prefix;
};

/* The checked [ddi] and [subnet] settings. */
struct ddi_settings {
	char interface[IF_NAMESIZE];
	uint32_t server;                /* the appliance's address on the interface */
	char domain[DDI_NAME_SIZE];     /* forward zone, canonical */
	uint32_t dns[DDI_DNS_MAX];
	size_t dns_count;
	struct ddi_subnet subnets[CONF_SUBNETS_MAX];
	size_t subnet_count;
	struct ddi_zone zones[DDI_ZONES_MAX];   /* reverse zones */
	size_t zone_count;
	uint64_t lease_seconds;
};

/*
 * Check the [ddi] and [subnet NAME] settings of `conf` and fill `out`. Returns 0, or
 * -EINVAL with a message naming the key and the value. Rejected are: malformed
 * addresses and networks, host bits set in a network, overlapping subnets or pools,
 * pools and gateways outside their subnet, and gateways, DNS servers or the
 * appliance's address inside a pool. So are an appliance address in no subnet, and
 * reverse zones that are malformed, duplicated, cover no subnet or leave one uncovered.
 */
int ddi_settings_parse(const struct conf *conf, struct ddi_settings *out, char *err,
		       size_t errlen);

/* Parse dotted-quad IPv4 text. Returns 0 or -EINVAL. */
int ddi_addr_parse(const char *text, uint32_t *ret);
/* Format an address; returns `out`. */
char *ddi_addr_format(uint32_t addr, char out[DDI_ADDR_TEXT]);

/* The subnet that contains `addr`, or NULL. */
const struct ddi_subnet *ddi_subnet_find(const struct ddi_settings *s, uint32_t addr);
/* True when `addr` lies in one of the subnet's pools. */
bool ddi_in_pool(const struct ddi_subnet *subnet, uint32_t addr);

/*
 * Check that `addr` may be reserved for a machine: inside a subnet, outside its pools,
 * and none of its network, broadcast, gateway or DNS server addresses or the
 * appliance's own. Returns 0, or -EINVAL with the reason in `err`.
 */
int ddi_address_check(const struct ddi_settings *s, uint32_t addr, char *err, size_t errlen);

/*
 * Pick the lowest address of `subnet` that ddi_address_check accepts and `used` does
 * not hold. `used` is sorted ascending. Returns 0, or -ENOSPC when the subnet has none.
 */
int ddi_address_allocate(const struct ddi_settings *s, const struct ddi_subnet *subnet,
			 const uint32_t *used, size_t used_count, uint32_t *ret);

/*
 * Give machine `m` a reserved address in m->ip (the caller writes the row, inside the
 * same transaction): `requested` when ddi_address_check accepts it, otherwise the
 * lowest free address of the subnet m->lease_ip lies in, or of the appliance's own
 * subnet. Returns 0, -EINVAL, -ENOSPC (subnet full) or a store error, with `err` set.
 */
struct store;
struct machine;
int ddi_address_assign(const struct ddi_settings *s, struct store *st, struct machine *m,
		       const char *requested, char *err, size_t errlen);

/* Write the PTR owner name of `addr`, such as "5.0.77.10.in-addr.arpa.". */
void ddi_reverse_name(uint32_t addr, char out[DDI_NAME_SIZE]);
/* The longest reverse zone that contains `addr`, or NULL. */
const struct ddi_zone *ddi_reverse_zone(const struct ddi_settings *s, uint32_t addr);

/*
 * Write the fully qualified, lower-case name of a machine's host name, with the
 * trailing dot: the name itself when it already ends in the domain, otherwise
 * NAME.DOMAIN. Returns 0, or -ENAMETOOLONG past DDI_NAME_MAX characters.
 */
int ddi_fqdn(const struct ddi_settings *s, const char *hostname, char out[DDI_NAME_SIZE]);

/* The DDI manager: a thread that keeps Kea, PowerDNS and the TFTP root in step. */
struct ddi;

/* One server's side of the last passes, for the status endpoint. */
struct ddi_service_status {
	bool in_sync;                   /* the last pass succeeded */
	int64_t last_sync_at;           /* Unix seconds of the last success, 0: never */
	int64_t failures;               /* failed passes in a row */
	char last_error[512];           /* why the last pass failed, empty after a success */
	int64_t items;                  /* reservations or records in the last good pass */
};

struct ddi_status {
	struct ddi_service_status kea;
	struct ddi_service_status dns;
	int64_t lease_events;           /* hook events received */
	int64_t leases_seen;            /* leases read through lease_cmds */
};

/*
 * Check the settings of `conf` (ddi_settings_parse) and prepare the manager; nothing
 * starts yet. Returns 0, -EINVAL with the reason in `err`, or -ENOMEM.
 */
int ddi_new(const struct conf *conf, const char *db_path, struct ddi **ret, char *err,
	    size_t errlen);
/*
 * Fill the TFTP root, write the run_script hook program, bind the event socket and
 * start the thread. Returns 0 or a negative errno (logged).
 */
int ddi_start(struct ddi *ddi);
/* Stop the thread and free everything. Accepts NULL; returns NULL. */
struct ddi *ddi_free(struct ddi *ddi);
/* The checked settings. */
const struct ddi_settings *ddi_settings_get(const struct ddi *ddi);
/* The zones' name server, fully qualified, which no machine may be named. */
const char *ddi_nameserver_get(const struct ddi *ddi);
/* A copy of the current status. */
void ddi_status_get(struct ddi *ddi, struct ddi_status *out);

#endif
