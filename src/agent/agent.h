/* SPDX-License-Identifier: Apache-2.0 */
/*
 * outpost-agent: the program the deploy/discovery ramdisk runs once its network is up.
 * It reads its orders from the kernel command line (outpost.url, outpost.mode,
 * outpost.token, BOOTIF), reports the hardware inventory to Outpost's boot listener
 * and, for a deployment, streams the disk image to the target disk. docs/agent.md
 * describes the protocol.
 *
 * The agent is a separate program and does not link liboutpost: it runs in a ramdisk
 * with busybox and the few shared libraries it needs (jansson, libcrypto, libzstd).
 */
#ifndef OUTPOST_AGENT_H
#define OUTPOST_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Inventory (inventory.c). Collect the hardware inventory from the file systems under
 * `root` ("" for the running system; tests pass a fixture tree holding sys/, proc/
 * and dev/). The result follows the inventory object in docs/agent.md: system, board,
 * cpus, memory_bytes, nics, disks and bmc. A source that is missing or unreadable
 * leaves its fields empty (or bmc null) and logs why; only -ENOMEM fails the call.
 * Returns 0 and sets *ret to a new object, or a negative errno.
 */
int inventory_collect(const char *root, json_t **ret);

/* Log a line to stderr (the console) with the "outpost-agent: " prefix. */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * HTTP client (http.c): plain HTTP/1.1 to the boot listener, one request per
 * connection. A URL is http://HOST[:PORT]/PATH with HOST an IPv4 address, a bracketed
 * IPv6 address or a name getaddrinfo resolves.
 */
#define AGENT_URL_MAX 2048
#define AGENT_HEADER_MAX 16384      /* status line and headers of a reply */

struct agent_url {
	char host[256];
	char port[8];
	char path[AGENT_URL_MAX];
};

/* Parse `text`; returns 0 or -EINVAL. */
int agent_url_parse(const char *text, struct agent_url *ret);

/* What a reply's head says; only the fields the agent uses. */
struct agent_reply_head {
	int status;                     /* 100 to 599 */
	int64_t content_length;         /* -1: not given, the body runs to the close */
	bool chunked;
};

/*
 * Parse a reply's status line and headers, `len` bytes ending with the blank line.
 * Returns 0, or -EINVAL for a malformed head (a bad status line, a header without a
 * colon, a bad or repeated Content-Length, a transfer coding other than chunked).
 */
int agent_reply_head_parse(const char *head, size_t len, struct agent_reply_head *ret);

/* Receives a reply body piece by piece; returns 0 to go on or a negative errno. */
typedef int (*agent_body_fn)(void *arg, const void *data, size_t len);

struct agent_request {
	const char *method;             /* "GET" or "POST" */
	const char *url;
	const char *token;              /* Authorization: Bearer, or NULL */
	const char *body;               /* POST: JSON text, or NULL */
	unsigned timeout_seconds;       /* per connect, send and read; 0: 30 */
	double deadline;                /* agent_now() by which it must end; 0: none */
};

/*
 * Send the request and hand the body of a 2xx reply to `fn`. Sets *ret_status to the
 * reply's status. Returns 0 (also for a non-2xx status, whose body goes to `fn` too so
 * the caller can show the error), or a negative errno with the reason in err: -ETIMEDOUT,
 * -ECONNREFUSED, -EPROTO (malformed reply), -EPIPE (the body ended early), or the
 * error `fn` returned.
 */
int agent_http(const struct agent_request *rq, agent_body_fn fn, void *arg, int *ret_status,
	       char *err, size_t errlen);

/*
 * A request whose reply is JSON of at most 1 MiB: *ret is the parsed reply (NULL when
 * it is not JSON). Same returns as agent_http.
 */
int agent_http_json(const struct agent_request *rq, json_t **ret, int *ret_status, char *err,
		    size_t errlen);

/* The agent's orders, from the kernel command line and the options tests use. */
struct agent_config {
	char url[AGENT_URL_MAX];        /* outpost.url: the boot listener's base URL */
	char mode[16];                  /* outpost.mode: deploy or discover */
	char token[128];                /* outpost.token */
	char bootif[18];                /* BOOTIF as a MAC with colons, "" when absent */
	/*
	 * outpost.ip: the static IPv4 ADDRESS/PREFIX of a virtual-media boot, "" when the
	 * ramdisk used DHCP. The installed system then needs the same static network.
	 */
	char static_ip[19];
	const char *disk;               /* --disk: the target, instead of choosing one */
	const char *root;               /* --root: inventory fixture tree, "" normally */
	bool reboot;                    /* false with --no-reboot */
};

/*
 * Parse a kernel command line into cfg. Returns 0 or -EINVAL naming the word in err:
 * a value too long, a missing outpost.url or outpost.token, an unknown mode, or a
 * malformed BOOTIF or outpost.ip.
 */
int agent_cmdline_parse(const char *cmdline, struct agent_config *cfg, char *err,
			size_t errlen);

/* Reports to Outpost (report.c). Each retries for a while, then logs and returns. */
int agent_report_phase(const struct agent_config *cfg, const char *phase, double seconds,
		       const char *detail_fmt, ...) __attribute__((format(printf, 4, 5)));
int agent_report_failure(const struct agent_config *cfg, const char *phase,
			 const char *reason_fmt, ...) __attribute__((format(printf, 3, 4)));
/* POST the inventory with the config's token. Returns 0 or a negative errno. */
int agent_report_inventory(const struct agent_config *cfg);
/* A URL under the base: base + path. Returns 0 or -ENAMETOOLONG. */
int agent_url_join(const struct agent_config *cfg, const char *path, char out[AGENT_URL_MAX]);
/* Seconds on CLOCK_MONOTONIC. */
double agent_now(void);

#define AGENT_PATH_MAX 256

/* Write all of `len` bytes at `offset`, retrying short writes. Returns 0 or -1 (errno). */
int pwrite_all(int fd, const void *data, size_t len, uint64_t offset);
/* The kernel's uptime in seconds, from /proc/uptime; -1 when unreadable. */
double agent_uptime(void);

/*
 * Disks (disk.c). The target is cfg->disk when given; otherwise the first disk by
 * name under /sys/block that is not removable, read-only or virtual and holds at
 * least `need` bytes. Writes /dev/NAME to out. Returns 0, or -ENODEV (no disk) or
 * -ENOSPC (every disk too small) with the disks seen named in err.
 */
int agent_disk_choose(const struct agent_config *cfg, uint64_t need, char out[AGENT_PATH_MAX],
		      char *err, size_t errlen);

/*
 * After the image is written (configure.c): re-read the partition table of the disk
 * open as fd, find the partition holding the installed system (the ext4 one with
 * /etc/cloud) and write cloud-init's NoCloud configuration pointing at seed_url into
 * it. With cfg->static_ip set, the deployment's network-config (seed_url +
 * "network-config") is fetched first and written into the same file as the `network:`
 * key, so the installed system brings up its static address before it reads the seed.
 * On success `note` names where it was written, and on failure it gives the reason.
 */
int agent_configure(const struct agent_config *cfg, const char *disk, int fd, bool block,
		    const char *seed_url, char *note, size_t size);

/* GPT (gpt.c): the partition holding the installed system. */
struct gpt_partition {
	unsigned number;                /* 1-based */
	uint64_t offset;                /* bytes from the start of the disk */
	uint64_t size;                  /* bytes */
};
/*
 * Parse a GPT header (one 512-byte sector) and its entry array: the first Linux root
 * (x86-64) partition, else the first Linux data partition, that lies inside
 * disk_bytes. Returns 0, -EINVAL (not a valid table) or -ENOENT (no such partition).
 */
int gpt_parse(const unsigned char *header, const unsigned char *entries, size_t entries_len,
	      uint64_t disk_bytes, struct gpt_partition *ret);
/* Read the primary GPT from fd and call gpt_parse. Also -EIO for a short read. */
int gpt_find_root(int fd, uint64_t disk_bytes, struct gpt_partition *ret);

/*
 * Check a network-config document that Outpost served before it goes into the seed
 * configuration: at most AGENT_NETWORK_CONFIG_MAX bytes of printable ASCII lines,
 * starting with "version: 1" or "version: 2". Returns 0 or -EINVAL with the reason.
 */
#define AGENT_NETWORK_CONFIG_MAX 16384
int agent_network_config_check(const char *text, size_t len, char *err, size_t errlen);

/* The deployment (deploy.c). Returns 0 once the disk is written and configured. */
int agent_deploy(const struct agent_config *cfg);
/* Discovery (discover.c): report, then wait for orders. Returns when told to reboot. */
int agent_discover(const struct agent_config *cfg);

#endif
