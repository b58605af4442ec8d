/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The action gate and the audit chain. gov_execute runs an action's operation and
 * appends its audit entry in one transaction, so the store never contains a change
 * without its entry or an entry without its change. gov_audit_verify recomputes the
 * chain and names the first entry that was edited, removed or moved.
 */
#include "governance/governance.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "log/log.h"
#include "util/util.h"

/* Room for the message an operation writes; longer ones are cut. */
#define GOV_FN_ERROR_SIZE 256
/* "failed: " followed by the operation's message. */
#define GOV_OUTCOME_SIZE (GOV_FN_ERROR_SIZE + 16)
/* Room for a store message with a few words of context. */
#define GOV_CAUSE_SIZE 640

/* A version tag hashed before the fields, so that a later encoding can use another tag. */
#define GOV_AUDIT_DOMAIN "outpost-audit-v1"

/* The prev_hash of the first entry: 64 zeros. */
static const char gov_genesis_hash[SHA256_HEX_SIZE] =
	"0000000000000000000000000000000000000000000000000000000000000000";

static const char *const risk_names[RISK_MAX] = {
	[RISK_READ] = "read",
	[RISK_CHANGE] = "change",
	[RISK_DESTRUCTIVE] = "destructive",
};

const char *
risk_name(enum risk risk)
{
	if (risk < 0 || risk >= RISK_MAX)
		return "invalid";
	return risk_names[risk];
}

/* Write a message to the caller's buffer, which may be NULL or empty. */
static void __attribute__((format(printf, 3, 4)))
gov_set_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list args;

	if (!err || errlen == 0)
		return;

	va_start(args, fmt);
	vsnprintf(err, errlen, fmt, args);
	va_end(args);
}

/* Check that an action's detail is absent or JSON text, explaining a failure in err. */
static bool
detail_valid(const struct action *a, char *err, size_t errlen)
{
	json_error_t json_error;
	json_t *detail;

	if (!a->detail)
		return true;
	detail = json_loads(a->detail, JSON_DECODE_ANY, &json_error);
	if (!detail) {
		gov_set_error(err, errlen, "detail is not valid JSON: %s", json_error.text);
		return false;
	}
	json_decref(detail);
	return true;
}

/*
 * Decide whether the action may run. Today this rejects malformed actions only.
 * TODO: approvals plug in here: ask the policy whether the action needs one (an
 * agent's destructive actions always do), check the kill switches, and return -EPERM
 * while the approval is pending or when it was denied.
 */
static int
policy_check(const struct action *a, char *err, size_t errlen)
{
	char why[GOV_FN_ERROR_SIZE];

	if (!a->actor || a->actor[0] == '\0') {
		gov_set_error(err, errlen, "the action has no actor");
		return -EINVAL;
	}
	if (!a->name || a->name[0] == '\0') {
		gov_set_error(err, errlen, "the action from %s has no name", a->actor);
		return -EINVAL;
	}
	if (a->risk < 0 || a->risk >= RISK_MAX) {
		gov_set_error(err, errlen, "action %s has invalid risk class %d", a->name, (int)a->risk);
		return -EINVAL;
	}

	/* The detail is stored as JSON text and read back by the API as JSON. */
	if (!detail_valid(a, why, sizeof(why))) {
		gov_set_error(err, errlen, "action %s: %s", a->name, why);
		return -EINVAL;
	}

	return 0;
}

/* Feed bytes to the digest. */
static bool
hash_bytes(EVP_MD_CTX *ctx, const void *data, size_t len)
{
	return EVP_DigestUpdate(ctx, data, len) == 1;
}

/* Feed a 64-bit integer as 8 big-endian bytes. */
static bool
hash_u64(EVP_MD_CTX *ctx, uint64_t value)
{
	unsigned char bytes[8];

	for (int i = 7; i >= 0; i--) {
		bytes[i] = (unsigned char)(value & 0xff);
		value >>= 8;
	}
	return hash_bytes(ctx, bytes, sizeof(bytes));
}

/* Feed a string as a presence byte (0 for NULL), then its length and bytes. */
static bool
hash_text(EVP_MD_CTX *ctx, const char *text)
{
	unsigned char present = text ? 1 : 0;
	size_t len;

	if (!hash_bytes(ctx, &present, 1))
		return false;
	if (!text)
		return true;

	len = strlen(text);
	return hash_u64(ctx, (uint64_t)len) && hash_bytes(ctx, text, len);
}

/*
 * The bytes hashed are, in order: the domain string, then seq and at as 8-byte
 * big-endian two's complement, then actor, action, target, risk, outcome, detail and
 * prev_hash. Each string is one byte (0 for NULL, 1 otherwise), followed for a
 * non-NULL string by its length as 8 big-endian bytes and its bytes. Because every
 * field carries its length, no two different entries encode alike. On allocation
 * failure out is "", which matches no stored hash.
 */
void
gov_audit_hash(const struct audit_entry *e, char out[SHA256_HEX_SIZE])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	EVP_MD_CTX *ctx;
	bool ok;

	out[0] = '\0';
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return;

	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	ok = ok && hash_text(ctx, GOV_AUDIT_DOMAIN);
	ok = ok && hash_u64(ctx, (uint64_t)e->seq);
	ok = ok && hash_u64(ctx, (uint64_t)e->at);
	ok = ok && hash_text(ctx, e->actor);
	ok = ok && hash_text(ctx, e->action);
	ok = ok && hash_text(ctx, e->target);
	ok = ok && hash_text(ctx, e->risk);
	ok = ok && hash_text(ctx, e->outcome);
	ok = ok && hash_text(ctx, e->detail);
	ok = ok && hash_text(ctx, e->prev_hash);
	ok = ok && EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1;

	if (ok && digest_len == (SHA256_HEX_SIZE - 1) / 2)
		hex_encode(digest, digest_len, out);
	EVP_MD_CTX_free(ctx);
}

/* Duplicate a string that may be NULL; false when the copy fails. */
static bool
dup_text(const char *text, char **ret)
{
	*ret = NULL;
	if (!text)
		return true;
	*ret = strdup(text);
	return *ret != NULL;
}

/*
 * Append the entry for action `a` with `outcome` after the current tail, explaining
 * a failure in `err`. Must run in the transaction that made the change, whose write
 * lock keeps the tail from moving.
 */
static int
gov_record(struct store *st, const struct action *a, const char *outcome, char *err,
	   size_t errlen)
{
	struct audit_entry e = { 0 };
	int64_t tail_seq;
	int rc;

	/* The operation may have rewritten the detail since policy_check read it. */
	if (!detail_valid(a, err, errlen))
		return -EINVAL;

	rc = store_audit_tail(st, &tail_seq, e.prev_hash);
	if (rc < 0) {
		gov_set_error(err, errlen, "cannot read the audit tail: %s", store_error(st));
		return rc;
	}

	e.seq = tail_seq + 1;
	e.at = time_now();
	if (!dup_text(a->actor, &e.actor) || !dup_text(a->name, &e.action) ||
	    !dup_text(a->target ? a->target : "", &e.target) ||
	    !dup_text(risk_name(a->risk), &e.risk) || !dup_text(outcome, &e.outcome) ||
	    !dup_text(a->detail, &e.detail)) {
		rc = -ENOMEM;
		goto err_memory;
	}

	gov_audit_hash(&e, e.hash);
	if (e.hash[0] == '\0') {
		rc = -ENOMEM;
		goto err_memory;
	}

	rc = store_audit_append(st, &e);
	if (rc < 0)
		gov_set_error(err, errlen, "cannot append audit entry %" PRId64 ": %s", e.seq,
			      store_error(st));
	audit_entry_clear(&e);
	return rc;

err_memory:
	gov_set_error(err, errlen, "cannot build audit entry %" PRId64 ": out of memory", e.seq);
	audit_entry_clear(&e);
	return rc;
}

/*
 * Record a failed action in a transaction of its own. Its own failure is logged
 * rather than returned, because the caller needs the action's error.
 */
static void
gov_record_failure(struct store *st, const struct action *a, const char *reason)
{
	char outcome[GOV_OUTCOME_SIZE], cause[GOV_CAUSE_SIZE];
	struct action recorded = *a;
	int rc;

	snprintf(outcome, sizeof(outcome), "failed: %s", reason);

	/* A detail the failed operation left invalid is dropped rather than the entry. */
	if (!detail_valid(&recorded, NULL, 0)) {
		log_warning("governance: action=%s target=\"%s\" left an invalid detail, "
			    "recording the failure without it", a->name,
			    a->target ? a->target : "");
		recorded.detail = NULL;
	}

	rc = store_begin(st);
	if (rc < 0) {
		snprintf(cause, sizeof(cause), "cannot begin a transaction: %s", store_error(st));
		goto err_record;
	}

	rc = gov_record(st, &recorded, outcome, cause, sizeof(cause));
	if (rc < 0)
		goto err_rollback;

	rc = store_commit(st);
	if (rc < 0) {
		snprintf(cause, sizeof(cause), "commit failed: %s", store_error(st));
		goto err_rollback;
	}
	return;

err_rollback:
	store_rollback(st);
err_record:
	log_err("governance: cannot record failed action=%s actor=\"%s\" target=\"%s\": %s",
		a->name, a->actor, a->target ? a->target : "", cause);
}

int
gov_execute(struct store *st, const struct action *a, action_fn fn, void *arg,
	    char *err, size_t errlen)
{
	char fn_error[GOV_FN_ERROR_SIZE] = "", cause[GOV_CAUSE_SIZE];
	int rc;

	rc = policy_check(a, err, errlen);
	if (rc < 0)
		return rc;

	rc = store_begin(st);
	if (rc < 0) {
		gov_set_error(err, errlen, "action %s: cannot begin a transaction: %s", a->name,
			      store_error(st));
		return rc;
	}

	/* The operation and its entry commit together or not at all. */
	rc = fn(st, arg, fn_error, sizeof(fn_error));
	if (rc != 0)
		goto err_operation;

	rc = gov_record(st, a, "ok", cause, sizeof(cause));
	if (rc < 0) {
		gov_set_error(err, errlen, "action %s: %s", a->name, cause);
		goto err_rollback;
	}

	rc = store_commit(st);
	if (rc < 0) {
		gov_set_error(err, errlen, "action %s: commit failed: %s", a->name, store_error(st));
		goto err_rollback;
	}

	log_debug("governance: action=%s actor=\"%s\" target=\"%s\" outcome=ok", a->name,
		  a->actor, a->target ? a->target : "");
	return 0;

err_rollback:
	store_rollback(st);
	return rc;

err_operation:
	/* Undo whatever the operation wrote before it failed, then record the failure. */
	store_rollback(st);
	if (fn_error[0] == '\0')
		snprintf(fn_error, sizeof(fn_error), "%s",
			 rc < 0 ? strerror(-rc) : "the operation returned a positive code");
	gov_set_error(err, errlen, "%s", fn_error);
	gov_record_failure(st, a, fn_error);
	return rc;
}

/* Deep copy of an entry, kept past the listing callback that saw it. */
static int
audit_entry_copy(const struct audit_entry *src, struct audit_entry *dst)
{
	*dst = *src;
	if (!dup_text(src->actor, &dst->actor) || !dup_text(src->action, &dst->action) ||
	    !dup_text(src->target, &dst->target) || !dup_text(src->risk, &dst->risk) ||
	    !dup_text(src->outcome, &dst->outcome) || !dup_text(src->detail, &dst->detail)) {
		audit_entry_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

struct verify_walk {
	struct audit_report *report;
	int64_t prev_seq;
	char prev_hash[SHA256_HEX_SIZE];
	struct audit_entry suspect;         /* owned copy of an entry whose link is broken */
	bool have_suspect;
	int err;
};

/* Returned by the walk's callback to stop the listing; not an error. */
#define VERIFY_STOP 1

/* Check one entry against the one before it; stop at the first that fails. */
static int
verify_entry(const struct audit_entry *e, void *arg)
{
	struct verify_walk *w = arg;
	struct audit_report *r = w->report;
	char hash[SHA256_HEX_SIZE];
	bool hash_ok, link_ok;

	r->entries++;

	if (e->seq <= w->prev_seq) {
		r->bad_seq = e->seq;
		snprintf(r->reason, sizeof(r->reason), "reordered: entry %" PRId64
			 " is stored after entry %" PRId64, e->seq, w->prev_seq);
		return VERIFY_STOP;
	}

	if (e->seq > w->prev_seq + 1) {
		char missing[96], context[96];

		r->bad_seq = w->prev_seq + 1;
		if (e->seq == w->prev_seq + 2)
			snprintf(missing, sizeof(missing), "entry %" PRId64 " is missing", r->bad_seq);
		else
			snprintf(missing, sizeof(missing), "entries %" PRId64 " to %" PRId64
				 " are missing", r->bad_seq, e->seq - 1);
		if (w->prev_seq == 0)
			snprintf(context, sizeof(context), "the trail starts at entry %" PRId64, e->seq);
		else
			snprintf(context, sizeof(context), "entry %" PRId64 " follows entry %" PRId64,
				 e->seq, w->prev_seq);
		snprintf(r->reason, sizeof(r->reason), "removed: %s, %s", missing, context);
		return VERIFY_STOP;
	}

	gov_audit_hash(e, hash);
	if (hash[0] == '\0') {
		w->err = -ENOMEM;
		return VERIFY_STOP;
	}
	hash_ok = strcmp(hash, e->hash) == 0;
	link_ok = strcmp(e->prev_hash, w->prev_hash) == 0;

	if (hash_ok && link_ok) {
		w->prev_seq = e->seq;
		memcpy(w->prev_hash, e->hash, sizeof(w->prev_hash));
		return 0;
	}

	if (link_ok) {
		r->bad_seq = e->seq;
		snprintf(r->reason, sizeof(r->reason), "edited: entry %" PRId64
			 " does not match its stored hash", e->seq);
		return VERIFY_STOP;
	}

	/* The link is broken: find out where the entry came from once the walk stops. */
	w->err = audit_entry_copy(e, &w->suspect);
	w->have_suspect = w->err == 0;
	return VERIFY_STOP;
}

struct hash_search {
	const char *hash;
	int64_t found_seq;                  /* 0 when not found */
};

static int
find_hash(const struct audit_entry *e, void *arg)
{
	struct hash_search *s = arg;

	if (strcmp(e->hash, s->hash) != 0)
		return 0;
	s->found_seq = e->seq;
	return VERIFY_STOP;
}

/*
 * Find the seq an entry was written with: the one its stored hash verifies under.
 * Returns 0 when none in 1..max_seq does, which means its fields were edited.
 */
static int64_t
written_seq(const struct audit_entry *e, int64_t max_seq)
{
	struct audit_entry probe = *e;
	char hash[SHA256_HEX_SIZE];

	for (int64_t seq = 1; seq <= max_seq; seq++) {
		probe.seq = seq;
		gov_audit_hash(&probe, hash);
		if (strcmp(hash, e->hash) == 0)
			return seq;
	}
	return 0;
}

/*
 * Explain an entry whose prev_hash does not match the entry before it. When the entry
 * verifies under another seq and its predecessor is still in the trail, entries were
 * moved. When the predecessor is gone, entries were removed and the rest renumbered.
 * This costs one hash per entry in the trail, paid only when the chain is broken.
 */
static int
diagnose_broken_link(struct store *st, const struct audit_entry *e, struct audit_report *r)
{
	struct hash_search search = { .hash = e->prev_hash };
	char tail_hash[SHA256_HEX_SIZE];
	int64_t tail_seq, origin;
	int err;

	err = store_audit_tail(st, &tail_seq, tail_hash);
	if (err < 0)
		return err;

	origin = written_seq(e, tail_seq > e->seq ? tail_seq + 1 : e->seq + 1);
	r->bad_seq = e->seq;
	if (origin == 0) {
		snprintf(r->reason, sizeof(r->reason), "edited: entry %" PRId64
			 " matches neither its hash nor the hash of entry %" PRId64,
			 e->seq, e->seq - 1);
		return 0;
	}

	if (strcmp(e->prev_hash, gov_genesis_hash) != 0) {
		err = store_audit_list(st, 0, 0, find_hash, &search);
		if (err < 0)
			return err;
	}

	if (search.found_seq == 0 && strcmp(e->prev_hash, gov_genesis_hash) != 0) {
		/* The entry's predecessor is nowhere in the trail. */
		r->bad_seq = origin - 1;
		if (origin == e->seq)
			snprintf(r->reason, sizeof(r->reason), "edited: entry %" PRId64
				 " was rewritten with a new hash, entry %" PRId64
				 " was written after a different one", origin - 1, e->seq);
		else
			snprintf(r->reason, sizeof(r->reason), "removed: the entry written as seq %"
				 PRId64 " is missing, and entry %" PRId64 " was written as seq %" PRId64,
				 origin - 1, e->seq, origin);
		return 0;
	}

	if (origin != e->seq)
		snprintf(r->reason, sizeof(r->reason), "reordered: entry %" PRId64
			 " was written as seq %" PRId64, e->seq, origin);
	else
		snprintf(r->reason, sizeof(r->reason), "reordered: entry %" PRId64
			 " was written after entry %" PRId64 ", not after entry %" PRId64,
			 e->seq, search.found_seq, e->seq - 1);
	return 0;
}

/*
 * NOTE: the chain proves that entries were not changed in place. Someone who can
 * write the file can still cut entries off the end, or rewrite every entry from
 * the first edited one onwards, because the hash has no key. Catching that needs the
 * tail hash kept somewhere the attacker cannot write.
 */
int
gov_audit_verify(struct store *st, struct audit_report *report)
{
	struct verify_walk w = { 0 };
	struct audit_report r = { 0 };
	int err;

	w.report = &r;
	memcpy(w.prev_hash, gov_genesis_hash, sizeof(w.prev_hash));

	err = store_audit_list(st, 0, 0, verify_entry, &w);
	if (err < 0)
		goto done;
	if (w.err < 0) {
		err = w.err;
		goto done;
	}

	if (w.have_suspect) {
		err = diagnose_broken_link(st, &w.suspect, &r);
		if (err < 0)
			goto done;
	}

	if (r.bad_seq == 0)
		snprintf(r.reason, sizeof(r.reason), "intact");
	*report = r;
	err = 0;

done:
	if (w.have_suspect)
		audit_entry_clear(&w.suspect);
	return err;
}
