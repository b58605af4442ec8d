/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Redfish driver's transport: HTTPS requests with libcurl, certificate checks by
 * the target's TLS policy, the session login (basic authentication when the service
 * offers no session or has none left), and retries within the operation's deadline.
 * The operations themselves are in redfish_ops.c.
 *
 * Only paths on the BMC's own service are ever requested: links in replies are
 * accepted as "/..." paths and joined to the target's address, so a BMC cannot send
 * Outpost to another host. Redirects are not followed and no proxy is used.
 */
#include "bmc/bmc-internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "util/util.h"

/* A reply body larger than this is an error: the largest real resources are far smaller. */
#define RF_BODY_MAX (8u << 20)
/* One request's cap within the operation's deadline. */
#define RF_REQUEST_MAX_MS 30000
#define RF_CONNECT_MAX_MS 5000
#define RF_BACKOFF_MIN_MS 250
#define RF_BACKOFF_MAX_MS 4000

struct curl_reply {
	struct buf body;
	struct rf_reply *reply;
	bool too_large;
};

static size_t
body_write(char *data, size_t size, size_t count, void *arg)
{
	struct curl_reply *c = arg;

	if (buf_append(&c->body, data, size * count) < 0) {
		c->too_large = true;
		return 0;
	}
	return size * count;
}

/* Copy a header's value without surrounding blanks, when its name is `name`. */
static bool
header_value(const char *line, size_t len, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);

	if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	line += n + 1;
	len -= n + 1;
	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	/* A value cut short or with control characters is worse than none: drop it. */
	out[0] = '\0';
	if (len >= size)
		return true;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] == 0x7f)
			return true;
	snprintf(out, size, "%.*s", (int)len, line);
	return true;
}

static size_t
header_write(char *data, size_t size, size_t count, void *arg)
{
	struct rf_reply *r = ((struct curl_reply *)arg)->reply;
	size_t len = size * count;
	char retry[16];

	if (!header_value(data, len, "ETag", r->etag, sizeof(r->etag)) &&
	    !header_value(data, len, "Location", r->location, sizeof(r->location)) &&
	    !header_value(data, len, "X-Auth-Token", r->token, sizeof(r->token)) &&
	    header_value(data, len, "Retry-After", retry, sizeof(retry))) {
		char *end;
		long seconds = strtol(retry, &end, 10);

		/* Seconds only; the HTTP-date form counts as absent. */
		r->retry_after_s = end != retry && *end == '\0' && seconds > 0 && seconds < 3600 ?
				   (int)seconds : 0;
	}
	return len;
}

/* SHA-256 of the certificate's SubjectPublicKeyInfo, from the PEM text curl reports. */
static int
spki_sha256(const char *pem, unsigned char digest[32])
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	int len = cert != NULL ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der) : -1;
	int r = len > 0 && EVP_Digest(der, (size_t)len, digest, NULL, EVP_sha256(), NULL) ? 0
									       : -EPROTO;

	OPENSSL_free(der);
	X509_free(cert);
	BIO_free(bio);
	return r;
}

/* Record the fingerprint of the certificate the last request saw (trust on first use). */
static int
learn_fingerprint(struct rf *rf)
{
	struct curl_certinfo *info = NULL;
	unsigned char digest[32];

	if (curl_easy_getinfo(rf->curl, CURLINFO_CERTINFO, &info) != CURLE_OK || info == NULL ||
	    info->num_of_certs < 1)
		return -EPROTO;
	for (struct curl_slist *l = info->certinfo[0]; l != NULL; l = l->next) {
		if (strncmp(l->data, "Cert:", 5) != 0)
			continue;
		if (spki_sha256(l->data + 5, digest) < 0)
			return -EPROTO;
		for (int i = 0; i < 32; i++)
			snprintf(rf->bmc->target->fingerprint + 2 * i, 3, "%02x", digest[i]);
		return 0;
	}
	return -EPROTO;
}

/* curl's pin: "sha256//" and the base64 of the digest the hex fingerprint spells. */
static int
pin_text(const char *hex, char *out, size_t size)
{
	unsigned char digest[32];

	if (strlen(hex) != 64 || size < 8 + 45)
		return -EINVAL;
	for (int i = 0; i < 32; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		digest[i] = (unsigned char)v;
	}
	memcpy(out, "sha256//", 8);
	EVP_EncodeBlock((unsigned char *)out + 8, digest, 32);
	return 0;
}

static void
tls_options(struct rf *rf, bool learning)
{
	const struct bmc_target *t = rf->bmc->target;
	char pin[64];

	if (t->tls == BMC_TLS_CA) {
		curl_easy_setopt(rf->curl, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(rf->curl, CURLOPT_SSL_VERIFYHOST, 2L);
		if (t->ca_file[0] != '\0')
			curl_easy_setopt(rf->curl, CURLOPT_CAINFO, t->ca_file);
		return;
	}
	/* Pinned or learned: the key is what is trusted, so the chain and name are not. */
	curl_easy_setopt(rf->curl, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(rf->curl, CURLOPT_SSL_VERIFYHOST, 0L);
	if (learning) {
		curl_easy_setopt(rf->curl, CURLOPT_CERTINFO, 1L);
	} else if (pin_text(t->fingerprint, pin, sizeof(pin)) == 0) {
		curl_easy_setopt(rf->curl, CURLOPT_PINNEDPUBLICKEY, pin);
	} else {
		/* bmc_redfish_open checked the fingerprint; without a pin, fail closed. */
		curl_easy_setopt(rf->curl, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(rf->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	}
}

/*
 * The errno for a failed transfer: -ECONNREFUSED when no request reached the BMC (so
 * it may be sent again), -ETIMEDOUT, -EPERM for a certificate the policy rejects,
 * -EMSGSIZE, and -EIO for the rest, such as TLS to a plain HTTP port.
 */
static int
transfer_errno(CURLcode code, bool too_large)
{
	if (too_large)
		return -EMSGSIZE;
	switch (code) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_PEER_FAILED_VERIFICATION:
		return -EPERM;
	default:
		return -EIO;
	}
}

/* Why the certificate failed, from OpenSSL's verification result. */
static const char *
verify_reason(struct rf *rf, int r)
{
	long result = 0;

	if (r != -EPERM)
		return "";
	if (curl_easy_getinfo(rf->curl, CURLINFO_SSL_VERIFYRESULT, &result) == CURLE_OK &&
	    result != 0)
		return X509_verify_cert_error_string(result);
	return "the public key differs from the pinned fingerprint";
}

/* One HTTPS exchange with libcurl: the driver's default transport. */
static int
curl_send(struct rf *rf, const char *method, const char *path, const char *body,
	  const char *if_match, struct rf_reply *reply, char *err, size_t errlen)
{
	const struct bmc_target *t = rf->bmc->target;
	struct curl_reply c = { .reply = reply };
	struct curl_slist *headers = NULL;
	bool learning = t->tls == BMC_TLS_TOFU && t->fingerprint[0] == '\0';
	int64_t left = rf->deadline_ms - bmc_now_ms();
	char url[BMC_ADDRESS_SIZE + BMC_PATH_SIZE + 16], line[BMC_PATH_SIZE];
	CURLcode code;
	int r = 0;

	if (left <= 0)
		return bmc_fail(-ETIMEDOUT, err, errlen, "%s %s on %s: timed out", method, path,
				t->address);
	snprintf(url, sizeof(url), "%s%s", rf->base, path);
	buf_init(&c.body, RF_BODY_MAX);
	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, "OData-Version: 4.0");
	headers = curl_slist_append(headers, "Expect:");
	if (body != NULL)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	if (rf->token[0] != '\0') {
		snprintf(line, sizeof(line), "X-Auth-Token: %s", rf->token);
		headers = curl_slist_append(headers, line);
		explicit_bzero(line, sizeof(line));
	}
	if (if_match != NULL && if_match[0] != '\0') {
		snprintf(line, sizeof(line), "If-Match: %s", if_match);
		headers = curl_slist_append(headers, line);
	}

	curl_easy_reset(rf->curl);
	curl_easy_setopt(rf->curl, CURLOPT_URL, url);
	curl_easy_setopt(rf->curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(rf->curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(rf->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(rf->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(rf->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(rf->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(rf->curl, CURLOPT_TIMEOUT_MS, (long)(left < RF_REQUEST_MAX_MS ? left
								    : RF_REQUEST_MAX_MS));
	curl_easy_setopt(rf->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(left < RF_CONNECT_MAX_MS ? left
									   : RF_CONNECT_MAX_MS));
	curl_easy_setopt(rf->curl, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(rf->curl, CURLOPT_WRITEDATA, &c);
	curl_easy_setopt(rf->curl, CURLOPT_HEADERFUNCTION, header_write);
	curl_easy_setopt(rf->curl, CURLOPT_HEADERDATA, &c);
	if (body != NULL)
		curl_easy_setopt(rf->curl, CURLOPT_POSTFIELDS, body);
	if (rf->basic) {
		curl_easy_setopt(rf->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(rf->curl, CURLOPT_USERNAME, t->username);
		curl_easy_setopt(rf->curl, CURLOPT_PASSWORD, t->password);
	}
	tls_options(rf, learning);

	code = curl_easy_perform(rf->curl);
	curl_slist_free_all(headers);
	if (code != CURLE_OK) {
		r = transfer_errno(code, c.too_large);
		bmc_fail(r, err, errlen, "%s %s on %s failed: %s%s%s", method, path, t->address,
			 c.too_large ? "the reply is larger than 8 MiB" : curl_easy_strerror(code),
			 r == -EPERM ? ": " : "", verify_reason(rf, r));
		if (r == -EPERM)
			snprintf(err + strlen(err), errlen - strlen(err), ". The certificate does not "
				 "match the BMC's trust policy: check its CA file or fingerprint");
	} else {
		curl_easy_getinfo(rf->curl, CURLINFO_RESPONSE_CODE, &reply->status);
		if (learning && learn_fingerprint(rf) < 0)
			r = bmc_fail(-EPROTO, err, errlen, "cannot read the certificate of %s to "
				     "trust it on first use", t->address);
		if (r == 0 && c.body.len > 0)
			reply->body = json_loadb(c.body.data, c.body.len, 0, NULL);
	}
	buf_free(&c.body);
	return r;
}

void
rf_reply_clear(struct rf_reply *reply)
{
	json_decref(reply->body);
	memset(reply, 0, sizeof(*reply));
}

/*
 * Whether to send the request again. 429 and 503 mean the BMC did not act on it, and
 * -ECONNREFUSED that it never arrived. A timeout or another 5xx leaves that open, so
 * only requests that may run twice (not POST: a reset or an update) are sent again.
 */
static bool
transient(const char *method, int r, long status)
{
	bool repeatable = strcmp(method, "POST") != 0;

	if (r == -ECONNREFUSED || (r == 0 && (status == 429 || status == 503)))
		return true;
	return repeatable && (r == -ETIMEDOUT ||
			      (r == 0 && (status == 500 || status == 502 || status == 504)));
}

/*
 * Sleep before the next attempt and log it; false, without sleeping, when the wait
 * would pass the deadline.
 */
static bool
back_off(struct rf *rf, int *backoff_ms, int retry_after_s, const char *why)
{
	int64_t left = rf->deadline_ms - bmc_now_ms();
	int64_t wait = retry_after_s > 0 ? (int64_t)retry_after_s * 1000 : *backoff_ms;

	if (wait >= left)
		return false;
	log_warning("bmc: %s; retrying in %" PRId64 " ms", why, wait);
	if (!bmc_wait(rf->bmc->target, wait)) {
		log_info("bmc: stopped retrying, the operation was cancelled address=%s",
			 rf->bmc->target->address);
		return false;
	}
	*backoff_ms = *backoff_ms * 2 > RF_BACKOFF_MAX_MS ? RF_BACKOFF_MAX_MS : *backoff_ms * 2;
	return true;
}

/* Replace each occurrence of `secret` in `text` with asterisks. */
static void
scrub(char *text, const char *secret)
{
	size_t n = strlen(secret);
	char *at;

	while (n > 0 && (at = strstr(text, secret)) != NULL)
		memset(at, '*', n);
}

/* A path from a reply: printable ASCII without spaces, '#' or '\\'. */
static bool
path_valid(const char *path)
{
	if (path[0] != '/' || path[1] == '/')
		return false;
	for (const char *p = path; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '#' || *p == '\\')
			return false;
	return true;
}

static int
status_errno(long status)
{
	switch (status) {
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 405:
	case 501:
		return -EOPNOTSUPP;
	case 412:
		return -ESTALE;
	default:
		return -EPROTO;
	}
}

/* The attempts of one request: retries, and one login again after a 401. */
static int
attempts(struct rf *rf, const char *method, const char *path, const char *text,
	 const char *if_match, struct rf_reply *reply, char *err, size_t errlen)
{
	int backoff_ms = RF_BACKOFF_MIN_MS, r;
	bool relogged = false;

	for (;;) {
		memset(reply, 0, sizeof(*reply));
		r = rf->send(rf, method, path, text, if_match, reply, err, errlen);
		/* An expired or deleted session: log in again, once. */
		if (r == 0 && reply->status == 401 && rf->token[0] != '\0' && !relogged) {
			rf_reply_clear(reply);
			relogged = true;
			log_info("bmc: redfish session expired, logging in again address=%s",
				 rf->bmc->target->address);
			rf->token[0] = '\0';
			rf->session[0] = '\0';
			r = rf_login(rf, err, errlen);
			if (r < 0)
				return r;
			continue;
		}
		if (!transient(method, r, reply->status))
			return r;
		if (r == 0)
			snprintf(err, errlen, "%s %s on %s: HTTP %ld", method, path,
				 rf->bmc->target->address, reply->status);
		if (!back_off(rf, &backoff_ms, reply->retry_after_s, err))
			return r;
		rf_reply_clear(reply);
	}
}

int
rf_call(struct rf *rf, const char *method, const char *path, json_t *body,
	const char *if_match, struct rf_reply *reply, char *err, size_t errlen)
{
	char *text = NULL;
	int r;

	memset(reply, 0, sizeof(*reply));
	if (!path_valid(path))
		return bmc_fail(-EPROTO, err, errlen, "%s on %s: the BMC gave an invalid path",
				method, rf->bmc->target->address);
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
		return bmc_fail(-ENOMEM, err, errlen, "out of memory");
	r = attempts(rf, method, path, text, if_match, reply, err, errlen);
	if (text != NULL) {
		/* The login body carries the password. */
		explicit_bzero(text, strlen(text));
		free(text);
	}
	if (r == 0 && reply->status >= 300) {
		char message[400];

		rf_error_text(reply->body, message, sizeof(message));
		r = status_errno(reply->status);
		bmc_fail(r, err, errlen, "%s %s on %s: HTTP %ld%s%s", method, path,
			 rf->bmc->target->address, reply->status, message[0] != '\0' ? ": " :
			 reply->status < 400 ? ": redirects are not followed" : "", message);
	}
	/* A BMC may quote what it was sent, the password or an image URL included. */
	if (r < 0) {
		scrub(err, rf->bmc->target->password);
		scrub(err, rf->token);
		if (rf->image != NULL) {
			scrub(err, rf->image);
			scrub(err, strrchr(rf->image, '/') != NULL ? strrchr(rf->image, '/') + 1 : "");
		}
	}
	return r;
}

int
rf_get(struct rf *rf, const char *path, json_t **ret, char *err, size_t errlen)
{
	char etag[128];

	return rf_get_tagged(rf, path, ret, etag, sizeof(etag), err, errlen);
}

int
rf_login(struct rf *rf, char *err, size_t errlen)
{
	const struct bmc_target *t = rf->bmc->target;
	struct rf_reply reply;
	json_t *body;
	int r;

	rf->basic = false;
	if (rf->sessions[0] == '\0') {
		rf->basic = true;
		return 0;
	}
	body = json_pack("{s:s, s:s}", "UserName", t->username, "Password", t->password);
	r = rf_call(rf, "POST", rf->sessions, body, NULL, &reply, err, errlen);
	json_decref(body);
	if (r == 0 && reply.token[0] != '\0') {
		const char *id = rf_odata_id(reply.body);

		snprintf(rf->token, sizeof(rf->token), "%s", reply.token);
		if (id == NULL)
			id = rf_location_path(reply.location);
		snprintf(rf->session, sizeof(rf->session), "%s", id != NULL ? id : "");
		if (id == NULL)
			log_warning("bmc: %s created a session without saying where; it is not "
				    "deleted at close and expires on the BMC's timeout", t->address);
		explicit_bzero(reply.token, sizeof(reply.token));
		rf_reply_clear(&reply);
		return 0;
	}
	if (r == -EACCES) {
		rf_reply_clear(&reply);
		return bmc_fail(r, err, errlen, "login to %s as %s failed: the BMC rejected the "
				"credentials", t->address, t->username);
	}
	/*
	 * No token, no session service, or no session left: basic authentication still
	 * works on BMCs that limit sessions, and the next call shows whether it does.
	 */
	/* The status only: the BMC's message may quote the request. */
	if (reply.status != 0)
		log_info("bmc: redfish sessions unavailable on %s (HTTP %ld), using basic "
			 "authentication", t->address, reply.status);
	else
		log_info("bmc: redfish sessions unavailable on %s (%s), using basic "
			 "authentication", t->address, r < 0 ? err : "no usable X-Auth-Token");
	rf_reply_clear(&reply);
	rf->basic = true;
	return 0;
}

void
rf_detach(struct bmc *bmc)
{
	struct rf *rf = bmc->driver;
	struct rf_reply reply;
	char err[BMC_ERR_SIZE];

	if (rf == NULL)
		return;
	if (rf->session[0] != '\0') {
		int timeout = bmc->target->timeout_ms;

		/* Logging out is polite, not required: the BMC expires the session anyway. */
		rf->deadline_ms = bmc_now_ms() + (timeout > 0 && timeout < RF_CONNECT_MAX_MS ?
						  timeout : RF_CONNECT_MAX_MS);
		if (rf_call(rf, "DELETE", rf->session, NULL, NULL, &reply, err, sizeof(err)) < 0)
			log_warning("bmc: failed to delete the redfish session on %s: %s",
				    bmc->target->address, err);
		rf_reply_clear(&reply);
	}
	explicit_bzero(rf->token, sizeof(rf->token));
	json_decref(rf->root);
	if (rf->curl != NULL)
		curl_easy_cleanup(rf->curl);
	free(rf);
	bmc->driver = NULL;
}

int
rf_attach(struct bmc *bmc, rf_send_fn send, void *send_arg, void *curl, char *err,
	  size_t errlen)
{
	struct bmc_target *t = bmc->target;
	struct rf *rf = calloc(1, sizeof(*rf));
	const char *sessions;
	int r;

	if (rf == NULL) {
		if (curl != NULL)
			curl_easy_cleanup(curl);
		return bmc_fail(-ENOMEM, err, errlen, "out of memory");
	}
	rf->bmc = bmc;
	rf->send = send;
	rf->send_arg = send_arg;
	rf->curl = curl;
	bmc->driver = rf;
	bmc->ops = &rf_ops;
	rf->deadline_ms = bmc_now_ms() + (t->timeout_ms > 0 ? t->timeout_ms : 30000);
	snprintf(rf->base, sizeof(rf->base), strchr(t->address, ':') != NULL &&
		 t->address[0] != '[' ? "https://[%s]:%u" : "https://%s:%u", t->address,
		 t->port != 0 ? t->port : 443);

	r = rf_get(rf, "/redfish/v1/", &rf->root, err, errlen);
	if (r == 0) {
		sessions = rf_link(rf->root, "Sessions");
		snprintf(rf->sessions, sizeof(rf->sessions), "%s", sessions != NULL ? sessions : "");
		r = rf_login(rf, err, errlen);
	}
	if (r < 0) {
		rf_detach(bmc);
		bmc->ops = NULL;
		return r;
	}
	log_info("bmc: redfish connected address=%s auth=%s", t->address,
		 rf->basic ? "basic" : "session");
	return 0;
}

/* A host name, an IPv4 address, or an IPv6 address with or without brackets. */
static bool
address_valid(const char *address)
{
	size_t len = strlen(address);
	bool v6 = strchr(address, ':') != NULL;

	if (len == 0 || len >= BMC_ADDRESS_SIZE)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = address[i];
		bool bracket = v6 && ((i == 0 && c == '[') || (i == len - 1 && c == ']'));

		if (!bracket && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '.' && c != '-' && !(v6 && c == ':'))
			return false;
	}
	return true;
}

int
bmc_redfish_open(struct bmc *bmc, char *err, size_t errlen)
{
	struct bmc_target *t = bmc->target;
	char pin[64];
	CURL *curl;

	if (!address_valid(t->address))
		return bmc_fail(-EINVAL, err, errlen, "invalid BMC address \"%s\": use a host name, "
				"an IPv4 address or an IPv6 address, without a port or path "
				"(the port is a setting of its own)", t->address);
	/* A pinned key, or one learned before, must be valid: without it nothing is checked. */
	if ((t->tls == BMC_TLS_PINNED || (t->tls == BMC_TLS_TOFU && t->fingerprint[0] != '\0')) &&
	    pin_text(t->fingerprint, pin, sizeof(pin)) < 0)
		return bmc_fail(-EINVAL, err, errlen, "invalid fingerprint \"%.64s\": expected the "
				"SHA-256 of the certificate's public key in 64 hex digits",
				t->fingerprint);
	if (t->tls == BMC_TLS_CA && t->ca_file[0] != '\0' && access(t->ca_file, R_OK) < 0)
		return bmc_fail(-errno, err, errlen, "cannot read the CA file %s for %s: %s",
				t->ca_file, t->address, strerror(errno));
	curl = curl_easy_init();
	if (curl == NULL)
		return bmc_fail(-ENOMEM, err, errlen, "curl_easy_init failed");
	return rf_attach(bmc, curl_send, NULL, curl, err, errlen);
}
