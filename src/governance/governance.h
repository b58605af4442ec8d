/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one gate every state change passes, from every front end: policy check, then
 * the operation, then a hash-chained audit entry, the operation and its entry written
 * in one transaction. Approvals plug in at the policy step.
 *
 * Each audit entry stores the SHA-256 of its predecessor, and its own hash covers its
 * fields and that predecessor hash, so editing, removing or reordering any entry
 * breaks the chain at that entry.
 */
#ifndef OUTPOST_GOVERNANCE_H
#define OUTPOST_GOVERNANCE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

enum risk {
	RISK_READ,
	RISK_CHANGE,
	RISK_DESTRUCTIVE,
	RISK_MAX,
	RISK_INVALID = -1,
};

const char *risk_name(enum risk risk);

struct action {
	const char *actor;   /* "token:admin", "local:uid=0", "boot:52:54:00:..." */
	const char *name;    /* "machine.create", "machine.deploy", ... */
	const char *target;  /* "machine:12", "profile:debian-12", ... (fn may fill it in) */
	enum risk risk;
	const char *detail;  /* JSON text recorded with the entry, or NULL (fn may fill it in) */
};

/*
 * The operation an action runs inside the gate's transaction. It returns 0 or a
 * negative errno and, on failure, writes a message for the caller to `err`. It may
 * set action-specific output through `arg`.
 */
typedef int (*action_fn)(struct store *st, void *arg, char *err, size_t errlen);

/*
 * Run `fn` as action `a`: check policy, begin a transaction, run fn, append the audit
 * entry, commit. When fn fails, its changes are rolled back and a "failed: <err>"
 * entry is recorded in a transaction of its own. Returns fn's result, -EPERM when
 * policy rejects the action, or a store error; `err` explains any failure.
 *
 * The entry's target and detail are read from a->target and a->detail after fn
 * returns, whether it succeeded or failed. So fn may fill in the text they point to,
 * such as the id of the row it inserted ("machine:new" becomes "machine:12") or the
 * row it deleted. The text must stay valid and NUL-terminated until gov_execute
 * returns. The detail must be JSON before fn runs and after it. When fn leaves it
 * invalid, a successful action fails with -EINVAL and its change is rolled back, and a
 * failure entry is recorded without the detail.
 */
int gov_execute(struct store *st, const struct action *a, action_fn fn, void *arg,
		char *err, size_t errlen);

/*
 * Compute an entry's hash from its fields and prev_hash into e->hash. Exposed so
 * verification and tests use the same encoding as the writer.
 */
void gov_audit_hash(const struct audit_entry *e, char out[SHA256_HEX_SIZE]);

struct audit_report {
	int64_t entries;     /* entries checked */
	int64_t bad_seq;     /* first entry that fails, 0 when the chain is intact */
	char reason[256];    /* why bad_seq fails: edited, removed, reordered */
};

/* Walk the whole chain. Returns 0 (read the report) or a store error. */
int gov_audit_verify(struct store *st, struct audit_report *report);

#endif
