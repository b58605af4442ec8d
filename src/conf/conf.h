/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's configuration file: INI-style sections of `key = value` lines, `#`
 * comments, no continuation lines. Every key, its default and unit is listed in
 * docs/configuration.md; unknown sections and keys are errors, so a typo never
 * silently falls back to a default.
 */
#ifndef OUTPOST_CONF_H
#define OUTPOST_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/log.h"

#define CONF_DEFAULT_PATH "/etc/outpost/outpost.conf"
/* Largest configuration file read, in bytes. */
#define CONF_MAX_FILE_BYTES (256 * 1024)
/* Maximum number of entries in a list of names such as [api] tls_names. */
#define CONF_NAMES_MAX 32
/* Maximum number of [subnet NAME] sections. */
#define CONF_SUBNETS_MAX 64
/* Maximum length of a subnet name, in bytes. */
#define CONF_SUBNET_NAME_MAX 32

/*
 * One [subnet NAME] section, as written. The DDI module checks the values (ddi.h), so
 * these are the raw texts, empty when the key is absent.
 */
struct conf_subnet {
	char *name;          /* owned */
	char *network;       /* owned; CIDR, such as 10.20.0.0/24 */
	char *pool;          /* owned; discovery pool ranges, such as 10.20.0.100-10.20.0.199 */
	char *gateway;       /* owned; router option, empty for none */
	char *dns_servers;   /* owned; overrides [ddi] dns_servers for this subnet */
};

struct conf {
	/* [log] */
	enum log_level log_level;
	enum log_target log_target;

	/* [store] */
	char *state_dir;     /* owned; database, tokens, generated TLS files */
	char *artifact_dir;  /* owned; content-addressed artifact store */

	/* [boot] */
	char *boot_listen;   /* owned; "address:port" of the plain-HTTP boot listener */
	char *boot_url;      /* owned; base URL servers use to reach the boot listener */
	char *template_dir;  /* owned; iPXE script templates, absolute after conf_load */
	uint64_t boot_retry_seconds;
	uint64_t boot_max_header_bytes;
	uint64_t boot_script_cache_bytes;   /* ceiling of the /boot/ipxe reply cache, 0: off */

	/* [deploy] */
	uint64_t deploy_phase_timeout_seconds;  /* a running deployment silent this long fails */
	uint64_t deploy_poll_seconds;           /* how often a waiting agent asks for orders */
	char *deploy_console;                   /* owned; console= arguments for the ramdisk */

	/* [bmc]: the BMC manager */
	uint64_t bmc_workers;                   /* operations run at once */
	uint64_t bmc_timeout_seconds;           /* one operation, retries included */
	uint64_t bmc_firmware_timeout_seconds;  /* a firmware update, until its task ends */
	uint64_t bmc_operations_kept;           /* finished operations kept in the store */

	/* [api] */
	char *api_listen;    /* owned; "address:port" of the HTTPS API listener */
	char *api_socket;    /* owned; unix socket path for the local CLI */
	char *tls_cert;      /* owned; PEM file, empty: generate under state_dir */
	char *tls_key;       /* owned; PEM file, empty: generate under state_dir */
	char **tls_names;    /* owned, NULL-terminated; extra DNS names and IP addresses
				for the generated certificate, each checked */

	/* [bundle] */
	char *bundle_trusted_keys;  /* owned; folder of trusted public keys (*.pub) */
	bool bundle_allow_test_keys;   /* trust keys marked outpost-test-key */

	/* [ddi]: DHCP, DNS and TFTP run by Outpost; checked by ddi_settings_parse */
	bool ddi_enabled;
	char *ddi_interface;         /* owned; provisioning interface Kea listens on */
	char *ddi_server_address;    /* owned; the appliance's IPv4 address on it */
	char *ddi_domain;            /* owned; forward DNS zone */
	char *ddi_dns_servers;       /* owned; comma-separated IPv4, empty: server_address */
	char *ddi_reverse_zones;     /* owned; comma-separated, empty: derived from subnets */
	uint64_t ddi_lease_seconds;
	uint64_t ddi_resync_seconds;
	bool ddi_router_advertisements;   /* respond to IPv6 router solicitations, see ddi/ra.c */

	/* [kea] */
	char *kea_control_socket;    /* owned; Kea's unix control socket */
	char *kea_lease_file;        /* owned; memfile lease database written into Kea's config */
	char *kea_hooks_dir;         /* owned; folder of libdhcp_lease_cmds.so and run_script */
	char *kea_event_socket;      /* owned; datagram socket the run_script hook sends to */
	char *kea_hook_program;      /* owned; outpost-kea-hook, empty: beside the binary */
	char *kea_lease_events;      /* owned; "hook" or "poll", checked by the DDI module */
	uint64_t kea_lease_poll_seconds;

	/* [pdns] */
	char *pdns_api_url;          /* owned; PowerDNS HTTP API base URL, loopback only */
	char *pdns_api_key;          /* owned; secret, never logged */
	char *pdns_server_id;        /* owned; server id in API paths */
	char *pdns_nameserver;       /* owned; host label of the zones' NS record */
	uint64_t pdns_ttl;
	uint64_t pdns_max_rrsets_per_second;   /* 0: no limit */

	/* [tftp] */
	char *tftp_root;             /* owned; folder tftpd-hpa serves */
	char *tftp_ipxe_dir;         /* owned; iPXE binaries to copy into it */

	/* [subnet NAME] sections, in file order */
	struct conf_subnet subnets[CONF_SUBNETS_MAX];
	size_t subnet_count;

	/* [http] */
	uint64_t http_threads;            /* 0: one per online CPU */
	uint64_t http_max_connections;
	uint64_t http_max_header_bytes;
	uint64_t http_max_body_bytes;
	uint64_t http_timeout_seconds;
	uint64_t http_header_timeout_seconds;  /* to receive a request line and headers */
	uint64_t http_max_connections_per_ip;  /* 0: no limit */
	uint64_t http_max_buffered_body_bytes; /* request bodies held at once, per listener */
};

/* Fill every field with its default. Returns 0 or -ENOMEM. */
int conf_defaults(struct conf *conf);

/*
 * Parse configuration text over the values already in `conf`. A key set twice in the
 * text is an error. On error, writes a message naming the line and key to `err` and
 * returns -EINVAL (or -ENOMEM); fields parsed before the bad line keep their new
 * values, so callers discard `conf`. Relative paths are left as written.
 */
int conf_parse(struct conf *conf, const char *text, size_t len, char *err, size_t errlen);

/*
 * Load defaults, then the file at `path`. A missing file is an error only when
 * `required` is nonzero (the operator named it with --config). A relative
 * [boot] templates path is resolved against the directory that contains the file,
 * so it does not depend on the daemon's working directory.
 */
int conf_load(struct conf *conf, const char *path, int required, char *err, size_t errlen);

/* Free the owned strings. Accepts a zeroed struct. */
void conf_free(struct conf *conf);

#endif
