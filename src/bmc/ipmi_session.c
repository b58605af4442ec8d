/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The IPMI driver's session: an RMCP+ login with libfreeipmi, commands with their
 * completion codes mapped to errno values, and retries with backoff within the
 * operation's deadline, logging in again after a lost session.
 */
#include "bmc/ipmi_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log.h"

/* libfreeipmi's session timeout bounds each command, so it is kept below the deadline. */
#define IPMI_ATTEMPT_MIN_MS 1000
#define IPMI_ATTEMPT_MAX_MS 20000
#define IPMI_BACKOFF_MIN_MS 250
#define IPMI_BACKOFF_MAX_MS 2000
/*
 * The IPMI 2.0 specification's default session inactivity timeout is 60 s, so a
 * session idle for longer than this is dropped before use instead of timing out.
 */
#define IPMI_IDLE_MAX_MS 30000

void
ipmi_session_close(struct ipmi *ipmi)
{
	if (ipmi->ctx == NULL)
		return;
	ipmi_ctx_close(ipmi->ctx);
	ipmi_ctx_destroy(ipmi->ctx);
	ipmi->ctx = NULL;
}

/* Map login errors that need the operator to fix something; 1 for transient ones. */
static int
open_error(struct ipmi *ipmi, int errnum, char *err, size_t errlen)
{
	const struct bmc_target *t = ipmi->target;

	switch (errnum) {
	case IPMI_ERR_USERNAME_INVALID:
	case IPMI_ERR_PASSWORD_INVALID:
	case IPMI_ERR_K_G_INVALID:
		return bmc_fail(-EACCES, err, errlen,
				"IPMI login to %s as '%s' failed: invalid user name or password; "
				"check the BMC credentials", t->address, t->username);
	case IPMI_ERR_PASSWORD_VERIFICATION_TIMEOUT:
		return bmc_fail(-EACCES, err, errlen,
				"IPMI login to %s as '%s' failed: the BMC did not confirm the "
				"password, which some BMCs do for a wrong one; check the BMC "
				"credentials", t->address, t->username);
	case IPMI_ERR_PRIVILEGE_LEVEL_INSUFFICIENT:
	case IPMI_ERR_PRIVILEGE_LEVEL_CANNOT_BE_OBTAINED:
		return bmc_fail(-EACCES, err, errlen,
				"IPMI login to %s as '%s' failed: the user cannot get ADMINISTRATOR "
				"privilege; give the user that privilege on the LAN channel",
				t->address, t->username);
	case IPMI_ERR_IPMI_2_0_UNAVAILABLE:
		return bmc_fail(-EPROTONOSUPPORT, err, errlen,
				"the BMC at %s does not offer IPMI 2.0 (RMCP+) on UDP port %u; "
				"enable IPMI 2.0 over LAN on the BMC, or use Redfish", t->address,
				ipmi->port);
	case IPMI_ERR_CIPHER_SUITE_ID_UNAVAILABLE:
	case IPMI_ERR_AUTHENTICATION_TYPE_UNAVAILABLE:
		return bmc_fail(-EPROTONOSUPPORT, err, errlen,
				"the BMC at %s does not offer IPMI cipher suite %d for ADMINISTRATOR; "
				"enable cipher suite %d on its LAN channel", t->address,
				IPMI_CIPHER_SUITE, IPMI_CIPHER_SUITE);
	case IPMI_ERR_HOSTNAME_INVALID:
		return bmc_fail(-EHOSTUNREACH, err, errlen,
				"invalid BMC address '%s': the name does not resolve; check the "
				"address", t->address);
	default:
		return 1;
	}
}

/* Classify libfreeipmi's error: -EAGAIN for a lost session or a busy BMC. */
int
ipmi_session_error(struct ipmi *ipmi, const char *what, char *err, size_t errlen)
{
	int errnum = ipmi->ctx != NULL ? ipmi_ctx_errnum(ipmi->ctx) : IPMI_ERR_DEVICE_NOT_OPEN;
	const char *text = ipmi_ctx_strerror(errnum);

	switch (errnum) {
	case IPMI_ERR_SESSION_TIMEOUT:
	case IPMI_ERR_CONNECTION_TIMEOUT:
	case IPMI_ERR_MESSAGE_TIMEOUT:
		return bmc_fail(-EAGAIN, err, errlen, "%s: no answer from %s on UDP port %u",
				what, ipmi_address(ipmi), ipmi->port);
	case IPMI_ERR_BMC_BUSY:
	case IPMI_ERR_DRIVER_BUSY:
	case IPMI_ERR_SYSTEM_ERROR:
	case IPMI_ERR_DEVICE_NOT_OPEN:
		return bmc_fail(-EAGAIN, err, errlen, "%s on %s failed: %s", what,
				ipmi_address(ipmi), text);
	case IPMI_ERR_OUT_OF_MEMORY:
		return bmc_fail(-ENOMEM, err, errlen, "%s: out of memory", what);
	default:
		return bmc_fail(-EIO, err, errlen, "%s on %s failed: %s", what, ipmi_address(ipmi),
				text);
	}
}

static int
session_open(struct ipmi *ipmi, char *err, size_t errlen)
{
	const struct bmc_target *t = ipmi->target;
	int64_t remaining = ipmi->deadline_ms - bmc_now_ms();
	int64_t attempt = t->timeout_ms / 2;
	unsigned int session_ms, retransmit_ms;
	int errnum, r;

	if (attempt < IPMI_ATTEMPT_MIN_MS)
		attempt = IPMI_ATTEMPT_MIN_MS;
	if (attempt > IPMI_ATTEMPT_MAX_MS)
		attempt = IPMI_ATTEMPT_MAX_MS;
	/* libfreeipmi 1.6.10 ends a timeout at its next resend, measured up to 1/8 late. */
	if (attempt > remaining - remaining / 8)
		attempt = remaining - remaining / 8;
	if (attempt < 100)
		return bmc_fail(-EAGAIN, err, errlen, "no time left to log in to %s", t->address);
	session_ms = (unsigned int)attempt;
	/* libfreeipmi resends a request each retransmission timeout, which must be shorter. */
	retransmit_ms = session_ms / 8 > 500 ? 500 : session_ms / 8;

	for (;;) {
		ipmi->ctx = ipmi_ctx_create();
		if (ipmi->ctx == NULL)
			return bmc_fail(-ENOMEM, err, errlen, "out of memory");
		r = ipmi_ctx_open_outofband_2_0(ipmi->ctx, ipmi->host, t->username, t->password,
						NULL, 0, IPMI_PRIVILEGE_LEVEL_ADMIN,
						IPMI_CIPHER_SUITE, session_ms, retransmit_ms,
						ipmi->workarounds, IPMI_FLAGS_DEFAULT);
		if (r == 0) {
			ipmi->last_used_ms = bmc_now_ms();
			return 0;
		}
		errnum = ipmi_ctx_errnum(ipmi->ctx);
		ipmi_ctx_destroy(ipmi->ctx);
		ipmi->ctx = NULL;

		/*
		 * The Open Session request names ADMINISTRATOR, as ipmitool sends it. Without
		 * the workaround flag libfreeipmi requests "the highest privilege", which some
		 * BMCs (OpenIPMI's ipmi_sim among them) grant none of. A BMC that rejects the
		 * named level gets that form once. Every rejected open leaves a half-open
		 * session on the BMC until it times out, so the order matters.
		 */
		if (errnum != IPMI_ERR_PRIVILEGE_LEVEL_CANNOT_BE_OBTAINED ||
		    ipmi->workarounds == IPMI_WORKAROUND_FLAGS_DEFAULT)
			break;
		log_info("bmc: ipmi BMC rejected an open request for ADMINISTRATOR, retrying "
			 "with the highest privilege address=%s", t->address);
		ipmi->workarounds = IPMI_WORKAROUND_FLAGS_DEFAULT;
	}
	r = open_error(ipmi, errnum, err, errlen);
	if (r <= 0)
		return r;
	if (errnum == IPMI_ERR_SESSION_TIMEOUT || errnum == IPMI_ERR_CONNECTION_TIMEOUT)
		return bmc_fail(-EAGAIN, err, errlen,
				"IPMI login to %s timed out: no valid answer on UDP port %u; check that "
				"the BMC is reachable and IPMI over LAN is enabled", t->address,
				ipmi->port);
	if (errnum == IPMI_ERR_BMC_BUSY || errnum == IPMI_ERR_SYSTEM_ERROR)
		return bmc_fail(-EAGAIN, err, errlen, "IPMI login to %s failed: %s", t->address,
				ipmi_ctx_strerror(errnum));
	return bmc_fail(-EIO, err, errlen, "IPMI login to %s failed: %s", t->address,
			ipmi_ctx_strerror(errnum));
}

int
ipmi_run(struct ipmi *ipmi, const char *what, ipmi_step step, void *arg, char *err,
	 size_t errlen)
{
	int64_t backoff = IPMI_BACKOFF_MIN_MS, remaining;
	int r;

	ipmi->deadline_ms = bmc_now_ms() + ipmi->target->timeout_ms;
	if (ipmi->ctx != NULL && bmc_now_ms() - ipmi->last_used_ms > IPMI_IDLE_MAX_MS) {
		log_debug("bmc: ipmi session idle, logging in again address=%s",
			  ipmi_address(ipmi));
		ipmi_session_close(ipmi);
	}

	for (;;) {
		r = ipmi->ctx == NULL ? session_open(ipmi, err, errlen) : 0;
		if (r == 0)
			r = step(ipmi, arg, err, errlen);
		if (r != -EAGAIN)
			return r;

		ipmi_session_close(ipmi);
		remaining = ipmi->deadline_ms - bmc_now_ms();
		if (remaining <= backoff) {
			char reason[BMC_ERR_SIZE];

			log_warning("bmc: ipmi %s timed out address=%s timeout_ms=%d: %s", what,
				    ipmi_address(ipmi), ipmi->target->timeout_ms, err);
			/* The last attempt's reason names what did not respond. */
			snprintf(reason, sizeof(reason), "%s", err);
			return bmc_fail(-ETIMEDOUT, err, errlen, "%s (gave up after %d ms)", reason,
					ipmi->target->timeout_ms);
		}
		log_warning("bmc: ipmi %s failed, retrying in %lld ms address=%s: %s", what,
			    (long long)backoff, ipmi_address(ipmi), err);
		if (!bmc_wait(ipmi->target, backoff)) {
			char reason[BMC_ERR_SIZE];

			snprintf(reason, sizeof(reason), "%s", err);
			return bmc_fail(-ECANCELED, err, errlen, "%s (stopped retrying: the "
					"operation was cancelled)", reason);
		}
		backoff = backoff * 2 > IPMI_BACKOFF_MAX_MS ? IPMI_BACKOFF_MAX_MS : backoff * 2;
	}
}

/* Completion codes that a later attempt may not get: busy, timeout, no resources. */
static bool
completion_transient(uint8_t cc)
{
	return cc == 0xc0 || cc == 0xc3 || cc == 0xce || cc == 0xd2;
}

static int
completion_errno(uint8_t cc)
{
	switch (cc) {
	case 0xcb: return -ENOENT;
	case 0xc5: return -ESTALE;
	case 0x80:
	case 0xc1: return -EOPNOTSUPP;
	default: return -EIO;
	}
}

int
ipmi_command(struct ipmi *ipmi, uint8_t netfn, const uint8_t *request, size_t request_len,
	     uint8_t *data, size_t size, const char *what, char *err, size_t errlen)
{
	uint8_t response[IPMI_RESPONSE_MAX];
	char reason[128];
	uint8_t cc;
	int n;

	/*
	 * NOTE: the session's timeout, fixed at login, bounds this command, so a BMC that
	 * stops responding late in a long operation can overrun the deadline by that much.
	 */
	if (bmc_now_ms() >= ipmi->deadline_ms)
		return bmc_fail(-EAGAIN, err, errlen, "%s on %s: the operation's time ran out",
				what, ipmi_address(ipmi));
	n = ipmi_cmd_raw(ipmi->ctx, IPMI_BMC_IPMB_LUN_BMC, netfn, request,
			 (unsigned int)request_len, response, sizeof(response));
	if (n < 0)
		return ipmi_session_error(ipmi, what, err, errlen);
	ipmi->last_used_ms = bmc_now_ms();
	if (n < 2)
		return bmc_fail(-EIO, err, errlen, "%s on %s: response of %d bytes is too short",
				what, ipmi_address(ipmi), n);

	cc = response[1];
	if (cc != 0) {
		if (ipmi_completion_code_strerror_r(request[0], netfn, cc, reason,
						    sizeof(reason)) < 0)
			snprintf(reason, sizeof(reason), "unknown error");
		if (completion_transient(cc))
			return bmc_fail(-EAGAIN, err, errlen, "%s on %s: BMC busy (0x%02x %s)",
					what, ipmi_address(ipmi), cc, reason);
		return bmc_fail(completion_errno(cc), err, errlen,
				"%s on %s failed: completion code 0x%02x (%s)", what,
				ipmi_address(ipmi), cc, reason);
	}

	n -= 2;
	if ((size_t)n > size)
		n = (int)size;
	memcpy(data, response + 2, (size_t)n);
	return n;
}
