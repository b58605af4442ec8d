/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Declarations shared by the DDI module's files and its tests: the Kea and PowerDNS
 * clients and the generators the manager drives them with.
 */
#ifndef OUTPOST_DDI_INTERNAL_H
#define OUTPOST_DDI_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "ddi/ddi.h"
#include "store/store.h"
#include "util/util.h"

#define DDI_URL_SIZE 512
/* Boot file URLs below [boot] url; Kea's boot-file-name takes at most 127 bytes. */
#define DDI_START_PATH "/boot/start.ipxe"
#define DDI_HTTP_BOOT_PATH "/ipxe/ipxe.efi"
#define DDI_BOOT_FILE_MAX 127
#define DDI_PATH_SIZE 1024

/* The generators' inputs besides the settings, with every path absolute. */
struct ddi_config {
	const struct ddi_settings *settings;
	char boot_url[DDI_URL_SIZE];        /* [boot] url, without a trailing slash */
	char control_socket[DDI_PATH_SIZE];
	char lease_file[DDI_PATH_SIZE];
	char hooks_dir[DDI_PATH_SIZE];
	char hook_script[DDI_PATH_SIZE];    /* the run_script hook's program: a link named
					       EVENT_SOCKET.hook to outpost-kea-hook */
	bool lease_hook;                    /* load run_script; false: poll the leases */
	uint64_t ttl;                       /* DNS record TTL, seconds */
	char nameserver[DDI_NAME_SIZE];     /* the zones' NS host, canonical */
};

/* The desired state read from the store: hosts in id order. */
struct ddi_hosts {
	struct ddi_host *items;             /* owned */
	size_t count;
	size_t capacity;
};

int ddi_hosts_read(struct store *st, struct ddi_hosts *ret);
void ddi_hosts_free(struct ddi_hosts *hosts);

/* Kea's whole configuration, {"Dhcp4": {...}}, or NULL when out of memory. */
json_t *ddi_kea_config(const struct ddi_config *c, const struct ddi_hosts *hosts);

/*
 * Kea's control channel. Kea 2.2 replies to each command with {"result": N, "text": ...,
 * "arguments": ...} and closes the connection. Result codes: 0 success, 1 error,
 * 2 unsupported command, 3 empty (nothing found, nothing to do).
 */
enum kea_result {
	KEA_SUCCESS = 0,
	KEA_ERROR = 1,
	KEA_UNSUPPORTED = 2,
	KEA_EMPTY = 3,
};

struct kea_reply {
	int result;
	char text[512];                     /* Kea's message, printable ASCII only */
	json_t *arguments;                  /* owned, NULL when absent */
};

void kea_reply_clear(struct kea_reply *reply);

/*
 * Parse a reply: one object, or an array holding one (the form Kea's control agent
 * uses). Returns 0, or -EPROTO with the reason in `err`.
 */
int kea_reply_parse(const char *text, size_t len, struct kea_reply *ret, char *err,
		    size_t errlen);

/*
 * Send `command` with `arguments` (borrowed, may be NULL) to the control socket at
 * `path` and read the reply, all within `timeout_ms`. Returns 0 with the reply (read
 * its result), or a negative errno when Kea could not be reached or sent an invalid reply:
 * -ENOENT or -ECONNREFUSED (not running), -ETIMEDOUT, -EPROTO, -EMSGSIZE. `err` names
 * which.
 */
int kea_command(const char *path, const char *command, json_t *arguments, int timeout_ms,
		struct kea_reply *ret, char *err, size_t errlen);

/* PowerDNS API access (pdns.c). */
struct ddi_pdns {
	char *api_url;                      /* owned, without a trailing slash */
	char *server_id;                    /* owned */
	char *key_header;                   /* owned "X-API-Key: ..."; a secret, never logged */
	char nameserver[DDI_NAME_SIZE];     /* the zones' NS host, canonical */
	void *curl;                         /* CURL *, created on first use */
};

/* One DNS record Outpost keeps, A or PTR. */
struct ddi_record {
	size_t zone;                        /* index: 0 the forward zone, 1 + i reverse zone i */
	char name[DDI_NAME_SIZE];
	char type[4];                       /* "A" or "PTR" */
	char content[DDI_NAME_SIZE];        /* empty for an RRset Outpost cannot have written */
	int64_t ttl;
	bool ours;                          /* carries Outpost's comment account */
	int64_t machine_id;                 /* the machine a wanted record is for, or 0 */
};

struct ddi_records {
	struct ddi_record *items;           /* owned, sorted by name then type */
	size_t count;
	size_t capacity;
};

/* The DNS side's state between passes. */
struct ddi_dns_state {
	bool zones_ready;                   /* every zone exists in PowerDNS */
	bool mirror_valid;                  /* `mirror` is what PowerDNS contains of ours */
	struct ddi_records mirror;
};

/* A lease event datagram (events.c). */
#define DDI_EVENT_MAX 2048
#define DDI_EVENT_ADDRS_MAX 64

struct ddi_event {
	char hook[32];                      /* Kea's hook point, such as leases4_committed */
	uint32_t addrs[DDI_EVENT_ADDRS_MAX];
	size_t count;
};

/*
 * Parse "HOOK ADDRESS ...\n": a hook name of lower-case letters, digits and '_', then
 * at most DDI_EVENT_ADDRS_MAX IPv4 addresses separated by single spaces. Returns 0 or
 * -EINVAL.
 */
int ddi_event_parse(const char *data, size_t len, struct ddi_event *ret);

/* Append a copy of `rec`. Returns 0 or -ENOMEM. */
int ddi_records_add(struct ddi_records *records, const struct ddi_record *rec);
void ddi_records_free(struct ddi_records *records);

/*
 * Send one request to the PowerDNS API: `path` is below /api/v1/servers/SERVER, `body`
 * JSON or NULL. On a 2xx status returns 0 with the body in `reply` (caller frees).
 * Otherwise returns -ENOENT (404), -EPROTO (another status, PowerDNS's error in
 * `err`) or -ECONNREFUSED (no answer), with `reply` freed.
 */
int ddi_pdns_request(struct ddi_pdns *p, const char *method, const char *path,
		     const char *body, long *ret_status, struct buf *reply, char *err,
		     size_t errlen);
/* Create the forward zone and every reverse zone that PowerDNS lacks. */
int ddi_pdns_zones_ensure(struct ddi_pdns *p, const struct ddi_settings *s, char *err,
			  size_t errlen);
/*
 * Rectify zone `name` (PUT /zones/NAME/rectify): PowerDNS adds the empty non-terminals
 * that new names need and, in a signed zone, the NSEC or NSEC3 ordering. Zones that
 * Outpost creates have api_rectify off, so their PATCHes leave this to the caller.
 */
int ddi_pdns_zone_rectify(struct ddi_pdns *p, const char *name, char *err, size_t errlen);
/*
 * Add the A and PTR RRsets of a zone reply (GET /zones/NAME) to `ret`, tagged with
 * zone index `zone`. Returns 0, -EPROTO for a reply without an rrsets array, or -ENOMEM.
 */
int ddi_pdns_zone_parse(const char *text, size_t len, size_t zone, struct ddi_records *ret,
			char *err, size_t errlen);
/* Append a REPLACE (with Outpost's comment) or DELETE change for `rec` to `rrsets`. */
int ddi_pdns_rrset_append(json_t *rrsets, const struct ddi_record *rec, bool replace,
			  uint64_t ttl);

/* Retry timing of one side after a failed pass. */
struct ddi_retry {
	bool pending;
	int64_t due_ms;                     /* monotonic */
	int64_t backoff_ms;
};

struct ddi {
	struct ddi_settings settings;
	struct ddi_config config;
	char db_path[DDI_PATH_SIZE];
	char event_socket[DDI_PATH_SIZE];
	char hook_program[DDI_PATH_SIZE];   /* outpost-kea-hook */
	char tftp_root[DDI_PATH_SIZE];
	char ipxe_dir[DDI_PATH_SIZE];
	int64_t resync_ms;
	int64_t lease_poll_ms;              /* 0: lease events come from the hook */
	int64_t pdns_rate;                  /* max RRsets per second sent, 0: no limit */

	pthread_t thread;
	bool running;
	atomic_bool stop;
	int wake_fd;                        /* eventfd that interrupts the thread's poll */
	int event_fd;                       /* datagram socket of the run_script hook */
	ino_t event_inode;                  /* its file's inode */
	int64_t malformed_events;           /* datagrams ignored, logged the first time */

	/* The manager thread's own state. */
	struct ddi_retry kea_retry;
	struct ddi_retry dns_retry;
	bool kea_verified;                  /* Kea runs the configuration hashed below */
	char kea_hash[SHA256_HEX_SIZE];
	struct ddi_pdns pdns;
	struct ddi_dns_state dns;

	bool ra_enabled;                    /* [ddi] router_advertisements */
	struct ddi_ra *ra;                  /* NULL unless running */

	pthread_mutex_t lock;               /* guards status */
	struct ddi_status status;
};

/*
 * Respond to IPv6 router solicitations on `interface` with advertisements that
 * configure nothing, so that iPXE stops waiting for a router (ra.c). Starts a thread
 * that retries opening its socket while the interface is missing or the socket is
 * denied, and logs why. ddi_ra_stop joins it and returns NULL.
 */
struct ddi_ra;
int ddi_ra_start(const char *interface, struct ddi_ra **ret);
struct ddi_ra *ddi_ra_stop(struct ddi_ra *ra);
/*
 * Whether the ICMPv6 message `msg` is a router solicitation to respond to (RFC 4861,
 * section 6.1.1): `hop_limit` is the IPv6 hop limit it arrived with, and
 * `from_unspecified` whether its source was "::".
 */
bool ddi_ra_solicitation_valid(const uint8_t *msg, size_t len, int hop_limit,
			       bool from_unspecified);

int64_t ddi_now_ms(void);
void ddi_retry_schedule(struct ddi_retry *retry);
void ddi_retry_reset(struct ddi_retry *retry);
/* Record a pass's outcome in the status: `err` NULL for success. */
void ddi_service_update(struct ddi *ddi, struct ddi_service_status *s, const char *err,
			int64_t items);

/* One pass of each side; `resync` compares with the server instead of trusting memory. */
void ddi_kea_pass(struct ddi *ddi, struct store *st, const struct ddi_hosts *hosts,
		  bool resync);
void ddi_dns_pass(struct ddi *ddi, struct store *st, const struct ddi_hosts *hosts,
		  bool resync);
void ddi_dns_state_free(struct ddi_dns_state *dns);

/* Read the PowerDNS settings of `conf`. */
int ddi_pdns_setup(struct ddi_pdns *p, const struct conf *conf, const struct ddi_settings *s,
		   char *err, size_t errlen);
void ddi_pdns_free(struct ddi_pdns *p);

/*
 * Copy undionly.kpxe, snponly.efi and ipxe.efi from `ipxe_dir` into `root` (created
 * when missing), each through a temporary file and a rename, so tftpd never serves a
 * half-written file. A file already there with the same bytes is left alone.
 */
int ddi_tftp_fill(const char *ipxe_dir, const char *root);
/*
 * Point the link `path` (EVENT_SOCKET.hook) at the outpost-kea-hook program, which
 * finds the socket from the link's name. Returns 0 or a negative errno (logged).
 */
int ddi_hook_install(const char *path, const char *program);
/*
 * Bind the datagram socket lease events arrive on, replacing a stale one but not one a
 * live process is bound to (-EADDRINUSE). Sets the socket file's inode, so the daemon
 * removes only its own file at exit.
 */
int ddi_event_socket_open(const char *path, int *ret_fd, ino_t *ret_inode);
/* Drain the event socket and read the leases it names through lease_cmds. */
void ddi_lease_events(struct ddi *ddi, struct store *st);
/* Read every lease with lease4-get-all, as after missed events. */
void ddi_lease_resync(struct ddi *ddi, struct store *st);

/*
 * True when the configuration Kea runs (`have`, from config-get) differs from `want`
 * in anything Outpost sets: interfaces, lease time, hooks, client classes, subnets,
 * pools, options or reservations. `why` names the first difference.
 */
bool ddi_kea_drift(const json_t *want, const json_t *have, char *why, size_t size);
/* Read Kea's running configuration with config-get. */
int ddi_kea_read(const struct ddi_config *c, json_t **ret, char *err, size_t errlen);
/*
 * Apply `config` with config-test, config-set and then config-write, stopping at the
 * first result other than 0, which `err` names with Kea's text. Returns 0, a
 * transport error from kea_command, -EOPNOTSUPP (result 2) or -EPROTO (results 1, 3).
 * step_ms receives each command's time in milliseconds.
 */
int ddi_kea_push(const struct ddi_config *c, json_t *config, int64_t step_ms[3], char *err,
		 size_t errlen);

#endif
