/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PowerDNS Authoritative HTTP API (4.7): zones and RRsets under
 * /api/v1/servers/SERVER/zones, authenticated with the X-API-Key header. The API must
 * listen on loopback: the key travels in clear text, and Outpost never reaches out to
 * another host.
 */
#include "ddi/ddi-internal.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "util/util.h"

#define PDNS_TIMEOUT_SECONDS 60L
#define PDNS_REPLY_MAX (256u << 20)

/* Outpost marks the RRsets it owns with this comment account. */
#define PDNS_ACCOUNT "outpost"

/* True when `host` (from a URL) is a loopback address or "localhost". */
static bool
host_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static int
url_check(const char *url, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int r = 0;

	if (u == NULL)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		r = err_set(-EINVAL, err, errlen, "[pdns] api_url: invalid URL \"%s\"; expected "
			    "http://127.0.0.1:PORT", url);
		goto done;
	}
	/* curl returns an IPv6 host in brackets. */
	if (host[0] == '[') {
		size_t len = strlen(host);

		memmove(host, host + 1, len - 2);
		host[len - 2] = '\0';
	}
	if (strcmp(scheme, "http") != 0 || !host_loopback(host))
		r = err_set(-EINVAL, err, errlen, "[pdns] api_url: \"%s\" is not an http:// URL on "
			    "loopback; run PowerDNS's API on 127.0.0.1 (webserver-address)", url);
done:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

int
ddi_pdns_setup(struct ddi_pdns *p, const struct conf *conf, const struct ddi_settings *s,
	       char *err, size_t errlen)
{
	const char *key = conf->pdns_api_key;
	size_t len;
	int r;

	r = url_check(conf->pdns_api_url, err, errlen);
	if (r < 0)
		return r;
	if (key[0] == '\0')
		return err_set(-EINVAL, err, errlen, "[pdns] api_key: missing; set it to "
			       "PowerDNS's api-key");
	for (size_t i = 0; key[i] != '\0'; i++)
		if (key[i] < 0x21 || key[i] > 0x7e)
			return err_set(-EINVAL, err, errlen, "[pdns] api_key: contains a space or "
				       "a control character");
	if (!hostname_valid(conf->pdns_server_id) || strchr(conf->pdns_server_id, '.') != NULL)
		return err_set(-EINVAL, err, errlen, "[pdns] server_id: invalid value \"%s\"; "
			       "PowerDNS calls itself localhost", conf->pdns_server_id);
	if (!hostname_valid(conf->pdns_nameserver) || strchr(conf->pdns_nameserver, '.') != NULL)
		return err_set(-EINVAL, err, errlen, "[pdns] nameserver: invalid value \"%s\": give "
			       "one label, such as outpost; the domain is added", conf->pdns_nameserver);
	if (ddi_fqdn(s, conf->pdns_nameserver, p->nameserver) < 0)
		return err_set(-EINVAL, err, errlen, "[ddi] domain: too long for the name server "
			       "%s.%s to fit in %d characters", conf->pdns_nameserver, s->domain,
			       DDI_NAME_MAX);

	p->api_url = strdup(conf->pdns_api_url);
	p->server_id = strdup(conf->pdns_server_id);
	len = strlen("X-API-Key: ") + strlen(key) + 1;
	p->key_header = malloc(len);
	if (p->api_url == NULL || p->server_id == NULL || p->key_header == NULL)
		return -ENOMEM;
	snprintf(p->key_header, len, "X-API-Key: %s", key);
	len = strlen(p->api_url);
	while (len > 0 && p->api_url[len - 1] == '/')
		p->api_url[--len] = '\0';
	return 0;
}

void
ddi_pdns_free(struct ddi_pdns *p)
{
	if (p->curl != NULL)
		curl_easy_cleanup(p->curl);
	if (p->key_header != NULL)
		explicit_bzero(p->key_header, strlen(p->key_header));
	free(p->key_header);
	free(p->api_url);
	free(p->server_id);
	memset(p, 0, sizeof(*p));
}

static size_t
reply_write(char *data, size_t size, size_t count, void *arg)
{
	return buf_append(arg, data, size * count) < 0 ? 0 : size * count;
}

/* Put PowerDNS's "error" member, or the start of the body, into err. */
static void
reply_error(const char *method, const char *path, long status, const struct buf *reply,
	    char *err, size_t errlen)
{
	json_t *root = reply->len > 0 ? json_loadb(reply->data, reply->len, 0, NULL) : NULL;
	const char *message = json_string_value(json_object_get(root, "error"));
	char text[256];

	if (message != NULL)
		snprintf(text, sizeof(text), "%s", message);
	else
		snprintf(text, sizeof(text), "%.*s", (int)(reply->len < 200 ? reply->len : 200),
			 reply->data != NULL ? reply->data : "");
	text_sanitize(text);
	snprintf(err, errlen, "PowerDNS %s %s returned HTTP %ld: %s", method, path, status,
		 text[0] != '\0' ? text : "no body");
	json_decref(root);
}

int
ddi_pdns_request(struct ddi_pdns *p, const char *method, const char *path, const char *body,
		 long *ret_status, struct buf *reply, char *err, size_t errlen)
{
	struct curl_slist *headers = NULL;
	char url[DDI_URL_SIZE + DDI_NAME_SIZE + 128];
	CURLcode code;
	long status = 0;

	if (p->curl == NULL && (p->curl = curl_easy_init()) == NULL)
		return err_set(-ENOMEM, err, errlen, "curl_easy_init failed");
	snprintf(url, sizeof(url), "%s/api/v1/servers/%s%s", p->api_url, p->server_id, path);
	headers = curl_slist_append(headers, p->key_header);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	/* Without this, curl sends "Expect: 100-continue" and waits before large bodies. */
	headers = curl_slist_append(headers, "Expect:");

	buf_init(reply, PDNS_REPLY_MAX);
	curl_easy_reset(p->curl);
	curl_easy_setopt(p->curl, CURLOPT_URL, url);
	curl_easy_setopt(p->curl, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(p->curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(p->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(p->curl, CURLOPT_TIMEOUT, PDNS_TIMEOUT_SECONDS);
	curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, reply_write);
	curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, reply);
	if (body != NULL)
		curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, body);

	code = curl_easy_perform(p->curl);
	curl_slist_free_all(headers);
	if (code != CURLE_OK) {
		buf_free(reply);
		return err_set(-ECONNREFUSED, err, errlen, "PowerDNS %s %s failed: %s", method,
			       path, curl_easy_strerror(code));
	}
	curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &status);
	*ret_status = status;
	if (status >= 200 && status < 300)
		return 0;
	if (status != 404)
		reply_error(method, path, status, reply, err, errlen);
	else
		snprintf(err, errlen, "PowerDNS %s %s: not found", method, path);
	buf_free(reply);
	return status == 404 ? -ENOENT : -EPROTO;
}

/* Create zone `name` unless it exists, with the SOA naming `domain`'s hostmaster. */
static int
zone_ensure(struct ddi_pdns *p, const char *name, const char *domain, char *err,
	    size_t errlen)
{
	char path[DDI_NAME_SIZE + 16], soa[3 * DDI_NAME_SIZE];
	struct buf reply;
	json_t *zone;
	char *body;
	long status;
	int r;

	snprintf(path, sizeof(path), "/zones/%s", name);
	r = ddi_pdns_request(p, "GET", path, NULL, &status, &reply, err, errlen);
	if (r == 0) {
		buf_free(&reply);
		return 0;
	}
	if (r != -ENOENT)
		return r;

	/*
	 * PowerDNS manages the serial, and the rest of the SOA uses common values. With
	 * api_rectify on (pdns_server 4.7's default-api-rectify=yes), PowerDNS rectifies
	 * the whole zone after every PATCH. With 4.7.3 and gsqlite3 that took two thirds
	 * of its CPU time for 10,000 PTRs sent 500 at a time (docs/benchmarks.md,
	 * benchmark 8), so Outpost rectifies each zone once per pass instead.
	 */
	snprintf(soa, sizeof(soa), "%s hostmaster.%s 1 10800 3600 604800 3600", p->nameserver,
		 domain);
	zone = json_pack("{s:s, s:s, s:[s], s:s, s:b, s:[{s:s, s:s, s:i, s:[{s:s, s:b}]}]}",
			 "name", name, "kind", "Native", "nameservers", p->nameserver,
			 "soa_edit_api", "DEFAULT", "api_rectify", 0,
			 "rrsets", "name", name, "type", "SOA", "ttl", 3600,
			 "records", "content", soa, "disabled", 0);
	body = zone != NULL ? json_dumps(zone, JSON_COMPACT) : NULL;
	json_decref(zone);
	if (body == NULL)
		return -ENOMEM;
	r = ddi_pdns_request(p, "POST", "/zones?rrsets=false", body, &status, &reply, err, errlen);
	free(body);
	if (r == 0) {
		buf_free(&reply);
		log_info("ddi: created DNS zone %s", name);
	}
	return r;
}

int
ddi_pdns_zones_ensure(struct ddi_pdns *p, const struct ddi_settings *s, char *err,
		      size_t errlen)
{
	int r = zone_ensure(p, s->domain, s->domain, err, errlen);

	for (size_t i = 0; r == 0 && i < s->zone_count; i++)
		r = zone_ensure(p, s->zones[i].name, s->domain, err, errlen);
	return r;
}

int
ddi_pdns_zone_rectify(struct ddi_pdns *p, const char *name, char *err, size_t errlen)
{
	char path[DDI_NAME_SIZE + 32];
	struct buf reply;
	long status;
	int r;

	snprintf(path, sizeof(path), "/zones/%s/rectify", name);
	r = ddi_pdns_request(p, "PUT", path, NULL, &status, &reply, err, errlen);
	if (r == 0)
		buf_free(&reply);
	return r;
}

/* True when an RRset's comments carry Outpost's account. */
static bool
rrset_ours(const json_t *rrset)
{
	size_t i;
	json_t *comment;

	json_array_foreach(json_object_get(rrset, "comments"), i, comment) {
		const char *account = json_string_value(json_object_get(comment, "account"));

		if (account != NULL && strcmp(account, PDNS_ACCOUNT) == 0)
			return true;
	}
	return false;
}

int
ddi_pdns_zone_parse(const char *text, size_t len, size_t zone, struct ddi_records *ret,
		    char *err, size_t errlen)
{
	json_t *root, *rrsets, *rrset;
	json_error_t jerr;
	size_t i;
	int r = 0;

	root = json_loadb(text, len, 0, &jerr);
	rrsets = json_object_get(root, "rrsets");
	if (!json_is_array(rrsets)) {
		json_decref(root);
		return err_set(-EPROTO, err, errlen, "PowerDNS zone reply has no rrsets array");
	}
	json_array_foreach(rrsets, i, rrset) {
		const char *name = json_string_value(json_object_get(rrset, "name"));
		const char *type = json_string_value(json_object_get(rrset, "type"));
		json_t *records = json_object_get(rrset, "records");
		const char *content = json_string_value(json_object_get(json_array_get(records, 0),
									"content"));
		struct ddi_record rec = { .zone = zone };

		if (name == NULL || type == NULL || content == NULL ||
		    (strcmp(type, "A") != 0 && strcmp(type, "PTR") != 0))
			continue;
		if (strlen(name) >= sizeof(rec.name) || strlen(content) >= sizeof(rec.content))
			continue;
		memcpy(rec.name, name, strlen(name) + 1);
		memcpy(rec.type, type, strlen(type) + 1);
		memcpy(rec.content, content, strlen(content) + 1);
		/* Several records in one RRset never match what Outpost writes. */
		if (json_array_size(records) != 1)
			rec.content[0] = '\0';
		rec.ttl = json_integer_value(json_object_get(rrset, "ttl"));
		rec.ours = rrset_ours(rrset);
		r = ddi_records_add(ret, &rec);
		if (r < 0)
			break;
	}
	json_decref(root);
	return r;
}

/* Append one RRset change to `rrsets`: REPLACE with `rec`, or DELETE when replace is false. */
int
ddi_pdns_rrset_append(json_t *rrsets, const struct ddi_record *rec, bool replace, uint64_t ttl)
{
	json_t *rrset;

	if (!replace)
		rrset = json_pack("{s:s, s:s, s:s}", "name", rec->name, "type", rec->type,
				  "changetype", "DELETE");
	else
		rrset = json_pack("{s:s, s:s, s:I, s:s, s:[{s:s, s:b}], s:[{s:s, s:s}]}",
				  "name", rec->name, "type", rec->type, "ttl", (json_int_t)ttl,
				  "changetype", "REPLACE",
				  "records", "content", rec->content, "disabled", 0,
				  "comments", "content", "managed by outpost", "account", PDNS_ACCOUNT);
	return rrset == NULL ? -ENOMEM : json_array_append_new(rrsets, rrset) < 0 ? -ENOMEM : 0;
}
