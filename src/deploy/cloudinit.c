/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cloud-init NoCloud seed of a deployment, at /cloud-init/TOKEN/: meta-data,
 * user-data, vendor-data and network-config, rendered from the machine and its
 * profile, and the phone-home endpoint that ends the deployment.
 *
 * The profile's templates give "ssh_authorized_keys" (one public key per line) and
 * "user-data" (a cloud-config or a script the site adds, sent as a second MIME part).
 * The network configuration is static when the machine has a reserved address in a
 * DDI subnet, and DHCP on the boot MAC otherwise.
 *
 * The seed stays readable for as long as the deployment is the machine's newest and
 * has not failed, because cloud-init reads it again on later boots.
 */
#include "deploy/deploy-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddi/ddi.h"
#include "log/log.h"
#include "util/util.h"

#define MIME_BOUNDARY "==outpost-seed-7f3a=="

_Static_assert(DEPLOY_DNS_MAX >= DDI_DNS_MAX,
	       "a static network lists every DNS server of a subnet");

struct seed {
	struct deploy *dp;
	struct http_request *req;
	struct store *st;
	char token[DEPLOY_TOKEN_SIZE];
	struct deployment d;
	struct machine m;
	struct profile p;
	char hostname[HOSTNAME_SIZE];
};

/* Append `text` as a YAML double-quoted scalar; control bytes were rejected before. */
static int
yaml_quoted(struct buf *out, const char *text)
{
	int rc = buf_puts(out, "\"");

	for (const char *c = text; rc == 0 && *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			rc = buf_append(out, "\\", 1);
		if (rc == 0)
			rc = buf_append(out, c, 1);
	}
	return rc == 0 ? buf_puts(out, "\"") : rc;
}

/* A template of the profile, or NULL. */
static const char *
profile_template(const struct profile *p, json_t **holder, const char *name)
{
	*holder = json_loads(p->templates != NULL ? p->templates : "{}", 0, NULL);
	return json_string_value(json_object_get(*holder, name));
}

/* The "ssh_authorized_keys:" list from the profile's template of that name. */
static int
render_keys(struct seed *s, struct buf *out)
{
	json_t *holder;
	const char *keys = profile_template(&s->p, &holder, "ssh_authorized_keys");
	int rc = 0;
	bool any = false;

	while (rc == 0 && keys != NULL && *keys != '\0') {
		size_t len = strcspn(keys, "\n");
		char line[8192];
		bool printable = len < sizeof(line);

		for (size_t i = 0; printable && i < len; i++)
			printable = keys[i] >= 0x20 && keys[i] < 0x7f;
		if (printable && len > 0 && keys[0] != '#') {
			memcpy(line, keys, len);
			line[len] = '\0';
			rc = buf_puts(out, any ? "  - " : "ssh_authorized_keys:\n  - ");
			if (rc == 0)
				rc = yaml_quoted(out, line);
			if (rc == 0)
				rc = buf_puts(out, "\n");
			any = true;
		} else if (!printable) {
			log_warning("deploy: profile %s has an SSH key line that is too long or not "
				    "printable ASCII; skipped", s->p.name);
		}
		keys += len;
		if (*keys == '\n')
			keys++;
	}
	json_decref(holder);
	return rc;
}

/* Outpost's own cloud-config part: host name, keys and phone-home. */
static int
render_cloud_config(struct seed *s, struct buf *out)
{
	int rc = buf_printf(out, "#cloud-config\nhostname: %s\n", s->hostname);

	if (rc == 0 && s->dp->domain[0] != '\0')
		rc = buf_printf(out, "fqdn: %s.%s\n", s->hostname, s->dp->domain);
	if (rc == 0)
		rc = buf_puts(out, "manage_etc_hosts: true\n");
	if (rc == 0)
		rc = render_keys(s, out);
	if (rc == 0)
		rc = buf_printf(out, "phone_home:\n  url: \"%s" CLOUD_INIT_PREFIX "%s/phone-home\"\n"
				"  post: [instance_id, hostname]\n  tries: 20\n",
				s->dp->base_url, s->token);
	return rc;
}

static int
render_user_data(struct seed *s, struct buf *out)
{
	json_t *holder;
	const char *extra = profile_template(&s->p, &holder, "user-data");
	int rc;

	if (extra == NULL || extra[0] == '\0') {
		json_decref(holder);
		return render_cloud_config(s, out);
	}
	/* cloud-init merges the parts; a script part runs once, late in the first boot. */
	rc = buf_puts(out, "Content-Type: multipart/mixed; boundary=\"" MIME_BOUNDARY "\"\n"
		      "MIME-Version: 1.0\n\n--" MIME_BOUNDARY "\n"
		      "Content-Type: text/cloud-config; charset=\"us-ascii\"\n\n");
	if (rc == 0)
		rc = render_cloud_config(s, out);
	if (rc == 0)
		rc = buf_printf(out, "\n--" MIME_BOUNDARY "\nContent-Type: %s\n\n",
				strncmp(extra, "#!", 2) == 0 ? "text/x-shellscript" :
				"text/cloud-config");
	if (rc == 0)
		rc = buf_puts(out, extra);
	if (rc == 0)
		rc = buf_puts(out, "\n--" MIME_BOUNDARY "--\n");
	json_decref(holder);
	return rc;
}

int
deploy_static_network(const struct deploy *dp, const char *ip, struct deploy_network *ret)
{
	const struct ddi_settings *set = dp->ddi != NULL ? ddi_settings_get(dp->ddi) : NULL;
	const struct ddi_subnet *subnet;
	uint32_t addr;

	memset(ret, 0, sizeof(*ret));
	if (set == NULL || ip[0] == '\0' || ddi_addr_parse(ip, &addr) < 0 ||
	    (subnet = ddi_subnet_find(set, addr)) == NULL)
		return -ENOENT;
	ddi_addr_format(addr, ret->address);
	ret->prefix = subnet->prefix;
	if (subnet->gateway != 0)
		ddi_addr_format(subnet->gateway, ret->gateway);
	for (size_t i = 0; i < subnet->dns_count && i < DEPLOY_DNS_MAX; i++)
		ddi_addr_format(subnet->dns[i], ret->dns[ret->dns_count++]);
	ret->domain = dp->domain;
	return 0;
}

/* The static subnet entry for the machine's address, or 0 bytes when it has none. */
static int
render_static(struct seed *s, struct buf *out)
{
	struct deploy_network net;
	int rc;

	if (deploy_static_network(s->dp, s->m.ip, &net) < 0)
		return 1;
	rc = buf_printf(out, "      - type: static\n        address: %s/%u\n", net.address,
			net.prefix);
	if (rc == 0 && net.gateway[0] != '\0')
		rc = buf_printf(out, "        gateway: %s\n", net.gateway);
	for (size_t i = 0; rc == 0 && i < net.dns_count; i++)
		rc = buf_printf(out, "%s%s\n", i == 0 ? "        dns_nameservers:\n          - " :
				"          - ", net.dns[i]);
	if (rc == 0 && net.domain[0] != '\0')
		rc = buf_printf(out, "        dns_search:\n          - %s\n", net.domain);
	return rc;
}

/*
 * Version 1 network configuration for the boot NIC. cloud-init renames the NIC with
 * that MAC to eth0 before the network is up, so the name does not depend on the
 * installed system's naming scheme.
 */
static int
render_network(struct seed *s, struct buf *out)
{
	int rc;

	if (s->m.mac_count == 0)
		return buf_puts(out, "version: 1\nconfig: []\n");
	rc = buf_printf(out, "version: 1\nconfig:\n  - type: physical\n    name: eth0\n"
			"    mac_address: \"%s\"\n    subnets:\n", s->m.macs[0]);
	if (rc == 0) {
		rc = render_static(s, out);
		if (rc == 1)
			rc = buf_puts(out, "      - type: dhcp\n");
	}
	return rc;
}

/* Load the deployment, machine and profile behind the token. Replies on failure. */
static int
seed_load(struct seed *s, const char *token)
{
	struct deployment current = { 0 };
	char kind;
	int64_t id;
	int rc;

	if (deploy_token_check(s->dp, token, &kind, &id) < 0 || kind != 'd') {
		if (deploy_log_allowed(s->dp))
			log_warning("deploy: rejected %s %s from %s: invalid token",
				    http_method(s->req), CLOUD_INIT_PREFIX, http_peer(s->req));
		http_reply_error(s->req, 401, "unauthorized", "this seed URL's token is not valid");
		return -EACCES;
	}
	snprintf(s->token, sizeof(s->token), "%s", token);
	rc = store_deployment_get(s->st, id, &s->d);
	if (rc == 0)
		rc = store_deployment_current(s->st, s->d.machine_id, &current);
	if (rc == 0 && (current.id != s->d.id || s->d.state == DEPLOYMENT_FAILED))
		rc = -ESTALE;
	deployment_clear(&current);
	if (rc == 0)
		rc = store_machine_get(s->st, s->d.machine_id, &s->m);
	if (rc == 0)
		rc = store_profile_get(s->st, s->d.profile_id, &s->p);
	if (rc < 0) {
		if (rc != -ESTALE && rc != -ENOENT) {
			log_err("deploy: cannot read the seed of deployment=%" PRId64 ": %s", id,
				store_error(s->st));
			http_reply_error(s->req, 500, "internal", "the store failed; see the server log");
		} else {
			http_reply_error(s->req, rc == -ESTALE ? 410 : 404,
					 rc == -ESTALE ? "gone" : "not_found",
					 "deployment %" PRId64 " is no longer the machine's current one, "
					 "or it failed", id);
		}
		return rc;
	}
	if (s->m.hostname[0] != '\0')
		snprintf(s->hostname, sizeof(s->hostname), "%s", s->m.hostname);
	else
		snprintf(s->hostname, sizeof(s->hostname), "machine-%" PRId64, s->m.id);
	return 0;
}

/* The installed system's first request: record the first-boot phase once. */
static void
seed_first_boot(struct seed *s)
{
	struct phase_report report = { .phase = "first-boot", .seconds = -1, .detail = "" };
	char err[512];

	if (s->d.state != DEPLOYMENT_RUNNING || !s->d.image_written ||
	    strcmp(s->d.phase, "rebooting") != 0)
		return;
	if (deploy_phase_record(s->dp, s->st, "cloud-init", s->d.id, &report, err,
				sizeof(err)) < 0)
		log_warning("deploy: cannot record first-boot deployment=%" PRId64 ": %s",
			    s->d.id, err);
}

static void
seed_phone_home(struct seed *s)
{
	char err[512];
	int rc;

	if (s->d.state == DEPLOYMENT_SUCCEEDED) {
		http_reply_json(s->req, 200, json_pack("{s:s}", "state", "deployed"));
		return;
	}
	rc = deploy_succeed(s->dp, s->st, "cloud-init", s->d.id, err, sizeof(err));
	if (rc < 0) {
		http_reply_error(s->req, rc == -ESTALE ? 409 : 500, "not_deployed", "%s", err);
		return;
	}
	http_reply_json(s->req, 200, json_pack("{s:s}", "state", "deployed"));
}

void
deploy_cloud_init(struct deploy *dp, struct http_request *req, const char *rest)
{
	struct seed s = { .dp = dp, .req = req };
	const char *slash = strchr(rest, '/'), *name;
	char token[DEPLOY_TOKEN_SIZE];
	struct buf out;
	int rc = 0;

	if (slash == NULL) {
		http_reply_error(req, 404, "not_found", "use " CLOUD_INIT_PREFIX "TOKEN/meta-data");
		return;
	}
	if ((size_t)(slash - rest) >= sizeof(token)) {
		http_reply_error(req, 401, "unauthorized", "this seed URL's token is not valid");
		return;
	}
	memcpy(token, rest, (size_t)(slash - rest));
	token[slash - rest] = '\0';
	name = slash + 1;
	s.st = store_pool_get(dp->pool);
	if (s.st == NULL) {
		http_reply_error(req, 503, "unavailable", "the store cannot be opened");
		return;
	}
	if (seed_load(&s, token) < 0)
		goto done;

	if (strcmp(name, "phone-home") == 0) {
		if (strcmp(http_method(req), "POST") != 0) {
			http_add_header(req, "Allow", "POST");
			http_reply_error(req, 405, "method_not_allowed", "use POST");
		} else {
			seed_phone_home(&s);
		}
		goto done;
	}
	if (strcmp(http_method(req), "GET") != 0 && strcmp(http_method(req), "HEAD") != 0) {
		http_add_header(req, "Allow", "GET, HEAD");
		http_reply_error(req, 405, "method_not_allowed", "use GET");
		goto done;
	}

	buf_init(&out, 1024 * 1024);
	if (strcmp(name, "meta-data") == 0) {
		seed_first_boot(&s);
		rc = buf_printf(&out, "instance-id: outpost-d%" PRId64 "\nlocal-hostname: %s\n",
				s.d.id, s.hostname);
	} else if (strcmp(name, "user-data") == 0) {
		rc = render_user_data(&s, &out);
	} else if (strcmp(name, "vendor-data") == 0) {
		rc = buf_puts(&out, "");
	} else if (strcmp(name, "network-config") == 0) {
		rc = render_network(&s, &out);
	} else {
		buf_free(&out);
		http_reply_error(req, 404, "not_found", "the seed has meta-data, user-data, "
				 "vendor-data and network-config");
		goto done;
	}
	if (rc == 0) {
		size_t len = out.len;
		char *body = buf_steal(&out);

		http_add_header(req, "Cache-Control", "no-store");
		if (len == 0) {
			free(body);
			rc = http_reply(req, 200, "text/plain", "", 0);
		}
		else {
			rc = body != NULL ? http_reply_take(req, 200, "text/plain", body, len) :
					    -ENOMEM;
		}
	}
	if (rc < 0)
		http_reply_error(req, 500, "internal", "cannot render %s", name);
	buf_free(&out);
done:
	explicit_bzero(s.token, sizeof(s.token));
	explicit_bzero(token, sizeof(token));
	deployment_clear(&s.d);
	machine_clear(&s.m);
	profile_clear(&s.p);
}
