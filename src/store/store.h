/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store: Outpost's state in one SQLite database in WAL mode. This is the only
 * module that runs SQL. Schema changes are numbered migrations applied in order at
 * open, each in its own transaction, and recorded in PRAGMA user_version.
 *
 * A `struct store` is one connection and belongs to one thread at a time; threads
 * that read concurrently open their own. Writers wait up to STORE_BUSY_TIMEOUT_MS for
 * the write lock. Functions return 0 or a negative errno:
 *   -ENOENT  no such row
 *   -EEXIST  a unique value (MAC, IP, hostname, name) already belongs to another row;
 *            store_error() names the value and the owner
 *   -EBUSY   the database stayed locked past the timeout
 *   -ENOSPC  the disk is full; the transaction was rolled back
 *   -EIO     any other SQLite failure; store_error() has SQLite's message
 * Output structs are written only on success.
 */
#ifndef OUTPOST_STORE_H
#define OUTPOST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define STORE_BUSY_TIMEOUT_MS 5000
#define MACHINE_MAX_MACS 8
#define STORE_NAME_SIZE 65      /* profile, bundle and token names */
#define STORE_VERSION_SIZE 72   /* bundle versions */
#define STORE_FIELD_SIZE 129    /* serial, vendor, model */
#define STORE_PATH_SIZE 1024
#define STORE_CMDLINE_SIZE 2048
#define IP_TEXT_SIZE 46

struct store;

enum machine_state {
	MACHINE_DISCOVERED,
	MACHINE_READY,
	MACHINE_DEPLOYING,
	MACHINE_DEPLOYED,
	MACHINE_FAILED,
	MACHINE_DECOMMISSIONING,
	MACHINE_STATE_MAX,
	MACHINE_STATE_INVALID = -1,
};

/* Return the lower-case name of a state, or "invalid". */
const char *machine_state_name(enum machine_state state);
/* Parse a state name; returns MACHINE_STATE_INVALID for anything else. */
enum machine_state machine_state_parse(const char *name);

struct machine {
	int64_t id;
	char macs[MACHINE_MAX_MACS][MAC_TEXT_SIZE]; /* canonical, the first is the boot MAC */
	size_t mac_count;
	char uuid[UUID_TEXT_SIZE];          /* empty when unknown */
	char serial[STORE_FIELD_SIZE];
	char vendor[STORE_FIELD_SIZE];
	char model[STORE_FIELD_SIZE];
	char arch[16];                      /* iPXE ${buildarch}: x86_64, i386, arm64 */
	char platform[16];                  /* iPXE ${platform}: pcbios, efi */
	enum machine_state state;
	int64_t profile_id;                 /* 0: none */
	char ip[IP_TEXT_SIZE];               /* reserved address, empty: none */
	char lease_ip[IP_TEXT_SIZE];         /* address last leased by DHCP, empty: none */
	char hostname[HOSTNAME_SIZE];
	char *inventory;                    /* owned JSON text, NULL when none */
	int64_t created_at;                 /* Unix seconds */
	int64_t updated_at;
};

/* Free the owned members; the struct itself is the caller's. Accepts a zeroed struct. */
void machine_clear(struct machine *m);

struct machine_filter {
	enum machine_state state;           /* MACHINE_STATE_INVALID: any */
	int64_t profile_id;                 /* 0: any */
	const char *mac;                    /* canonical; NULL: any */
	const char *hostname;               /* exact; NULL: any */
	int64_t after_id;                   /* paging cursor: rows with id > after_id */
	size_t limit;                       /* at most this many rows */
};

struct profile {
	int64_t id;
	char name[STORE_NAME_SIZE];
	char image[STORE_PATH_SIZE];        /* artifact reference for the disk image */
	char kernel[STORE_PATH_SIZE];       /* artifact reference for the deploy kernel */
	char initrd[STORE_PATH_SIZE];       /* artifact reference for the deploy initrd */
	char cmdline[STORE_CMDLINE_SIZE];   /* extra kernel arguments */
	char *templates;                    /* owned JSON object of config templates, or NULL */
	int64_t created_at;
	int64_t updated_at;
};

void profile_clear(struct profile *p);

/* A loaded bundle. */
struct bundle_info {
	int64_t id;
	char name[STORE_NAME_SIZE];
	char version[STORE_VERSION_SIZE];
	char kind[16];                      /* os, firmware, ramdisk, platform */
	char key_id[33];                    /* the signing key */
	char manifest_sha256[SHA256_HEX_SIZE];
	uint64_t size;                      /* payload bytes */
	int64_t file_count;
	int64_t loaded_at;
};

/* A file of a loaded bundle; its bytes are the content-addressed blob `sha256`. */
struct artifact {
	int64_t id;
	int64_t bundle_id;
	char bundle[STORE_NAME_SIZE];       /* the bundle's name */
	char version[STORE_VERSION_SIZE];   /* the bundle's version */
	char path[STORE_NAME_SIZE * 4];     /* inside the bundle */
	char role[24];
	char sha256[SHA256_HEX_SIZE];
	uint64_t size;                      /* bytes */
	char *metadata;                     /* owned JSON object text, or NULL */
};

void artifact_clear(struct artifact *a);

struct audit_entry {
	int64_t seq;                        /* 1, 2, 3 ... with no gaps */
	int64_t at;                         /* Unix seconds */
	char *actor;                        /* owned */
	char *action;                       /* owned */
	char *target;                       /* owned */
	char *risk;                         /* owned: read, change, destructive */
	char *outcome;                      /* owned: "ok" or "failed: reason" */
	char *detail;                       /* owned JSON text, may be NULL */
	char prev_hash[SHA256_HEX_SIZE];
	char hash[SHA256_HEX_SIZE];
};

void audit_entry_clear(struct audit_entry *e);

struct token {
	int64_t id;
	char name[STORE_NAME_SIZE];
	char role[16];                      /* admin, operator, viewer */
	int64_t created_at;
};

/* Called once per row; return 0 to go on, nonzero to stop (returned to the caller). */
typedef int (*machine_cb)(const struct machine *m, void *arg);
typedef int (*profile_cb)(const struct profile *p, void *arg);
typedef int (*artifact_cb)(const struct artifact *a, void *arg);
typedef int (*bundle_cb)(const struct bundle_info *b, void *arg);
typedef int (*audit_cb)(const struct audit_entry *e, void *arg);

/*
 * Open (creating if needed) the database at `path`, set WAL mode and apply pending
 * migrations. `readonly` connections skip migrations. Returns 0 and sets *ret.
 */
int store_open(const char *path, bool readonly, struct store **ret);
/*
 * A counter bumped after every commit through any connection of this process, so a
 * reader can tell cheaply whether anything changed since it last looked.
 */
uint64_t store_generation(void);
/* Close the connection. Accepts NULL; returns NULL. */
struct store *store_close(struct store *st);
/* The last error's text, naming the value and row on -EEXIST. */
const char *store_error(const struct store *st);
/* The schema version after migrations. */
int store_schema_version(struct store *st);

/* BEGIN IMMEDIATE, so the write lock is taken up front. */
int store_begin(struct store *st);
int store_commit(struct store *st);
/* Roll back; safe to call when no transaction is open. */
void store_rollback(struct store *st);

/*
 * A pool hands each thread its own connection, opened on first use and closed when
 * the thread exits or the pool is freed, so MHD's worker threads read concurrently.
 */
struct store_pool;
int store_pool_new(const char *path, struct store_pool **ret);
/* The calling thread's connection, or NULL (logged) when it cannot be opened. */
struct store *store_pool_get(struct store_pool *pool);
/* Close every connection. Accepts NULL; returns NULL. */
struct store_pool *store_pool_free(struct store_pool *pool);

/* Machines. Insert sets m->id and timestamps. */
int store_machine_insert(struct store *st, struct machine *m);
int store_machine_get(struct store *st, int64_t id, struct machine *ret);
int store_machine_get_by_mac(struct store *st, const char *mac, struct machine *ret);
/* Replace every column and the MAC list of row m->id; updates m->updated_at. */
int store_machine_update(struct store *st, struct machine *m);
int store_machine_delete(struct store *st, int64_t id);
/* The machine whose reserved address is `ip`: 0 with its id, or -ENOENT. */
int store_machine_ip_owner(struct store *st, const char *ip, int64_t *ret_id);
/* Rows matching the filter in id order; returns the callback's nonzero value if any. */
int store_machine_list(struct store *st, const struct machine_filter *f, machine_cb cb, void *arg);
int store_machine_count(struct store *st, const struct machine_filter *f, int64_t *ret);

/*
 * The fields the boot endpoint renders a machine's script from: the machine's identity
 * and state and, when it has one, its profile's boot references. They are read with
 * one query and served from a per-connection cache until the next commit.
 */
struct machine_boot {
	int64_t id;
	enum machine_state state;
	int64_t profile_id;                 /* 0: none; then the profile fields are empty */
	char uuid[UUID_TEXT_SIZE];
	char hostname[HOSTNAME_SIZE];
	char arch[16];
	char platform[16];
	char profile_name[STORE_NAME_SIZE];
	char kernel[STORE_PATH_SIZE];
	char initrd[STORE_PATH_SIZE];
	char cmdline[STORE_CMDLINE_SIZE];
	int64_t deployment_id;              /* the newest deployment, 0: none */
	bool image_written;                 /* of that deployment */
};

/*
 * Look up the machine that owns `mac` (canonical form) for booting. Returns 0, -ENOENT
 * or a store error. Hits cost no SQLite call: every commit through any connection of
 * this process invalidates the cache.
 * NOTE: a change written by another process (the sqlite3 shell) is not seen until
 * this process commits something, so edit the database only through the daemon.
 */
int store_machine_boot_get(struct store *st, const char *mac, struct machine_boot *ret);

/* Profiles. Delete returns -EBUSY while a machine uses the profile. */
int store_profile_insert(struct store *st, struct profile *p);
int store_profile_get(struct store *st, int64_t id, struct profile *ret);
int store_profile_get_by_name(struct store *st, const char *name, struct profile *ret);
int store_profile_update(struct store *st, struct profile *p);
int store_profile_delete(struct store *st, int64_t id);
int store_profile_list(struct store *st, profile_cb cb, void *arg);

/* Artifacts. */
/*
 * Bundles and artifacts (bundle.c). store_bundle_insert writes the bundle and its
 * artifacts (bundle_id is filled in) atomically, -EEXIST when that name and version
 * is loaded. Deleting a bundle deletes its artifacts. The blob functions see each
 * SHA-256 once, however many artifacts share it.
 */
int store_bundle_insert(struct store *st, struct bundle_info *b, const char *manifest,
			struct artifact *files, size_t count);
int store_bundle_get(struct store *st, const char *name, const char *version,
		     struct bundle_info *ret);
/* Every bundle, by name then id; with `name`, only that name's versions. */
int store_bundle_list(struct store *st, const char *name, bundle_cb cb, void *arg);
/* The most recently loaded bundle of `kind` into *ret; -ENOENT when none is loaded. */
int store_bundle_newest(struct store *st, const char *kind, struct bundle_info *ret);
int store_bundle_delete(struct store *st, int64_t id);
/*
 * Find a profile whose kernel, initrd or image names one of the bundle's artifacts,
 * by its reference (NAME/VERSION/PATH) or its blob path (sha256/ab/HASH). Returns 0
 * with the profile's name in `profile`, or -ENOENT when none does.
 */
int store_bundle_user(struct store *st, int64_t id, char *profile, size_t size);
/* The artifacts of bundle `bundle_id`, or all of them when it is 0, by id. */
int store_artifact_list(struct store *st, int64_t bundle_id, artifact_cb cb, void *arg);
int store_artifact_get(struct store *st, int64_t id, struct artifact *ret);
/*
 * The artifact of bundle NAME VERSION whose path is `path`, or else the only one whose
 * role is `path` ("kernel" when the bundle has one kernel).
 */
int store_artifact_find(struct store *st, const char *name, const char *version,
			const char *path, struct artifact *ret);
/* Call cb with each distinct blob (sha256 and size) that an artifact refers to. */
int store_blob_list(struct store *st, int (*cb)(const char *sha256, uint64_t size, void *arg),
		    void *arg);
/* The number of artifacts whose bytes are blob `sha256`. */
int store_blob_users(struct store *st, const char *sha256, int64_t *ret);

/*
 * DHCP and DNS (ddi.c). A DDI host is what Kea and PowerDNS need of a machine that has
 * a reserved address or a host name: its boot MAC (the first), address and name.
 */
struct ddi_host {
	int64_t id;
	char mac[MAC_TEXT_SIZE];            /* empty when the machine has no MAC */
	char ip[IP_TEXT_SIZE];              /* empty: no reserved address */
	char hostname[HOSTNAME_SIZE];       /* empty: none */
	char lease_ip[IP_TEXT_SIZE];        /* the address last leased to it, empty: none */
};

/* A conflict the DDI manager saw: the same kind, address and MAC count as one. */
struct ddi_conflict {
	char kind[33];                      /* "lease-reserved-elsewhere", ... */
	char address[IP_TEXT_SIZE];
	char mac[MAC_TEXT_SIZE];
	int64_t machine_id;                 /* the machine holding the reservation, or 0 */
	char detail[256];
	int64_t first_seen;
	int64_t last_seen;
	int64_t count;
};

typedef int (*ddi_host_cb)(const struct ddi_host *h, void *arg);
typedef int (*ddi_conflict_cb)(const struct ddi_conflict *c, void *arg);

/* Every machine with a reserved address or a host name, by id. */
int store_ddi_hosts(struct store *st, ddi_host_cb cb, void *arg);
/*
 * Set only machine `id`'s lease_ip (NULL or "" clears it), so a lease never writes back
 * other columns it read earlier. Returns 0 or -ENOENT.
 */
int store_machine_lease_set(struct store *st, int64_t id, const char *ip);
/*
 * Insert the conflict, or count it again and refresh last_seen and the detail. Sets
 * *ret_count to the count after this call: 1 the first time.
 */
int store_ddi_conflict_record(struct store *st, const struct ddi_conflict *c,
			      int64_t *ret_count);
/* Every recorded conflict, newest first. */
int store_ddi_conflict_list(struct store *st, ddi_conflict_cb cb, void *arg);

/*
 * Deployments (deployment.c). A deploy action starts one; the agent's reports move its
 * phase, and it ends succeeded (the installed system phoned home) or failed.
 */
enum deployment_state {
	DEPLOYMENT_RUNNING,
	DEPLOYMENT_SUCCEEDED,
	DEPLOYMENT_FAILED,
	DEPLOYMENT_STATE_INVALID = -1,
};

#define DEPLOYMENT_PHASE_SIZE 33
#define DEPLOYMENT_REASON_SIZE 513

struct deployment {
	int64_t id;
	int64_t machine_id;
	int64_t profile_id;                 /* 0: the profile is gone */
	enum deployment_state state;
	char phase[DEPLOYMENT_PHASE_SIZE];  /* the last phase reached */
	char reason[DEPLOYMENT_REASON_SIZE]; /* why it failed; empty otherwise */
	bool image_written;                 /* netboot goes to the local disk from now on */
	char *phases;                       /* owned JSON array text, never NULL once read */
	int64_t started_at;                 /* Unix seconds */
	int64_t updated_at;
	int64_t finished_at;                /* 0 while running */
};

const char *deployment_state_name(enum deployment_state state);
void deployment_clear(struct deployment *d);
typedef int (*deployment_cb)(const struct deployment *d, void *arg);

/* Insert d (phases NULL means "[]"); sets d->id and the timestamps. */
int store_deployment_insert(struct store *st, struct deployment *d);
int store_deployment_get(struct store *st, int64_t id, struct deployment *ret);
/* The newest deployment of machine `machine_id`, or -ENOENT. */
int store_deployment_current(struct store *st, int64_t machine_id, struct deployment *ret);
/* Write state, phase, reason, image_written, phases and finished_at of row d->id. */
int store_deployment_update(struct store *st, struct deployment *d);
/* Running deployments by id, or a machine's newest first when machine_id > 0. */
int store_deployment_list(struct store *st, int64_t machine_id, size_t limit,
			  deployment_cb cb, void *arg);

/* Events: append-only, trimmed to the newest `keep` rows by store_event_trim. */
int store_event_append(struct store *st, const char *type, const char *target,
		       const char *payload_json, int64_t *ret_id);
int store_event_trim(struct store *st, int64_t keep);

/*
 * Audit entries. store_audit_tail returns seq 0 and an all-zero hash string when the
 * trail is empty. store_audit_append writes e as given (the caller computed its
 * hash); it must run inside the caller's transaction.
 */
int store_audit_tail(struct store *st, int64_t *ret_seq, char ret_hash[SHA256_HEX_SIZE]);
int store_audit_append(struct store *st, const struct audit_entry *e);
/* Entries with seq > after_seq in ascending storage order, at most `limit` (0: all). */
int store_audit_list(struct store *st, int64_t after_seq, size_t limit, audit_cb cb, void *arg);

/* API tokens, stored as SHA-256 of the secret. */
int store_token_insert(struct store *st, const char *name, const char *role,
		       const char token_hash[SHA256_HEX_SIZE], int64_t *ret_id);
int store_token_find(struct store *st, const char token_hash[SHA256_HEX_SIZE], struct token *ret);
int store_token_count(struct store *st, int64_t *ret);

/*
 * BMCs (bmc.c). The store keeps what the BMC module needs to connect; `secret` is the
 * password as the BMC module sealed it. Insert and update return -EEXIST when another
 * row has the same protocol, address and port, naming that row.
 */
#define STORE_BMC_SECRET_SIZE 256
#define STORE_BMC_FINGERPRINT_SIZE 65

struct bmc_record {
	int64_t id;
	int64_t machine_id;                 /* 0: not linked to a machine */
	char protocol[8];                   /* "redfish" or "ipmi" */
	char address[256];
	int64_t port;                       /* 0: the protocol's default */
	char username[64];
	char secret[STORE_BMC_SECRET_SIZE];
	char tls[8];                        /* "ca", "pinned" or "tofu" */
	char ca_file[STORE_PATH_SIZE];
	char fingerprint[STORE_BMC_FINGERPRINT_SIZE];   /* "" or 64 hex digits */
	int64_t created_at;
	int64_t updated_at;
	/* What the last operation saw; insert and update leave these alone. */
	char status[16];                    /* "unverified", "ok" or "error" */
	char status_detail[512];            /* the last error, "" when ok */
	char power_state[16];               /* "on", "off", ..., "unknown" */
	int64_t checked_at;                 /* Unix seconds of the last operation, 0: never */
};

typedef int (*bmc_record_cb)(const struct bmc_record *b, void *arg);

int store_bmc_insert(struct store *st, struct bmc_record *b);
int store_bmc_get(struct store *st, int64_t id, struct bmc_record *ret);
int store_bmc_update(struct store *st, struct bmc_record *b);
int store_bmc_delete(struct store *st, int64_t id);
/* Every BMC by id, or those of one machine when machine_id > 0. */
int store_bmc_list(struct store *st, int64_t machine_id, bmc_record_cb cb, void *arg);
/*
 * Record what an operation saw of BMC id: status "ok" or "error" with its detail, and
 * the power state unless power_state is NULL.
 */
int store_bmc_observe(struct store *st, int64_t id, const char *status, const char *detail,
		      const char *power_state);

/*
 * BMC operations (bmc_op.c), queued by the BMC manager and claimed by its workers.
 * `args` and `result` are JSON text; the store checks they are valid JSON.
 */
#define STORE_BMC_OP_KIND_SIZE 24
#define STORE_BMC_OP_ERROR_SIZE 512
#define STORE_ACTOR_SIZE 96

struct bmc_operation {
	int64_t id;
	int64_t bmc_id;                     /* 0 once the BMC was removed */
	int64_t batch;                      /* 0: not part of a batch */
	char kind[STORE_BMC_OP_KIND_SIZE];
	char *args;                         /* owned JSON text */
	char state[12];                     /* queued, running, succeeded, failed */
	char *result;                       /* owned JSON text, NULL until it succeeded */
	char error[STORE_BMC_OP_ERROR_SIZE];
	char actor[STORE_ACTOR_SIZE];
	int64_t created_at, started_at, finished_at;    /* Unix seconds, 0: not yet */
};

void bmc_operation_clear(struct bmc_operation *op);

struct bmc_op_filter {
	int64_t bmc_id;                     /* 0: any */
	int64_t batch;                      /* 0: any */
	int64_t after_id;                   /* list ids greater than this */
	size_t limit;                       /* 0: all */
};

struct bmc_op_summary {
	int64_t queued, running, succeeded, failed;
};

typedef int (*bmc_op_cb)(const struct bmc_operation *op, void *arg);

/* Queue op (state "queued"); sets op->id and op->created_at. */
int store_bmc_op_insert(struct store *st, struct bmc_operation *op);
/* A batch id no operation uses yet; call it inside the transaction that inserts. */
int store_bmc_op_next_batch(struct store *st, int64_t *ret);
/*
 * Queue one operation `kind` with `args` on every BMC, in batch `batch`, in one
 * statement. Returns 0 with the number queued in *ret_count.
 */
int store_bmc_op_insert_all(struct store *st, int64_t batch, const char *kind, const char *args,
			    const char *actor, size_t *ret_count);
/*
 * Claim the oldest queued operation whose BMC has no running one: it becomes
 * "running". Returns 0 with it in *ret, or -ENOENT when there is none to claim.
 */
int store_bmc_op_claim(struct store *st, struct bmc_operation *ret);
/* Finish running operation id as "succeeded" with result (JSON) or "failed" with error. */
int store_bmc_op_finish(struct store *st, int64_t id, const char *result, const char *error);
int store_bmc_op_get(struct store *st, int64_t id, struct bmc_operation *ret);
int store_bmc_op_list(struct store *st, const struct bmc_op_filter *f, bmc_op_cb cb, void *arg);
int store_bmc_op_summary(struct store *st, int64_t batch, struct bmc_op_summary *ret);
/* The number of queued or running operations into *ret. */
int store_bmc_op_pending(struct store *st, int64_t *ret);
/*
 * Fail every queued or running operation with `reason`, passing each one's id and kind
 * to cb (may be NULL). Run it in a transaction: cb must not call the store.
 */
int store_bmc_op_abandon(struct store *st, const char *reason,
			 void (*cb)(int64_t id, const char *kind, void *arg), void *arg);
/* Delete finished operations beyond the newest `keep`. */
int store_bmc_op_trim(struct store *st, int64_t keep);

#endif
