/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boot listener's handler. GET /boot/ipxe looks the machine up by the MAC iPXE
 * booted from, registers unknown MACs as discovered machines, and renders the script
 * for the machine's state; GET and HEAD /files/<path> serve artifacts, and
 * /media/<token>.iso a deployment's virtual-media ISO.
 *
 * Every reply to /boot/ipxe is HTTP 200 with an iPXE script, errors included. iPXE
 * stops at an HTTP error and leaves the server at a prompt, but retry.ipxe prints the
 * reason and requests the script again after the configured delay.
 *
 * This is the hot path of a fleet boot, so the templates are compiled once at start,
 * a request does one indexed store lookup and renders into one buffer sized up front.
 * A discovery or local-disk script is then kept as a whole reply (script_cache.h) and
 * sent again to the machine's next request, until the next commit to the store.
 */
#include "boot/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/script_cache.h"
#include "bundle/bundle.h"
#include "deploy/deploy.h"
#include "media/media.h"
#include "governance/governance.h"
#include "log/log.h"

/* Maximum length of the reason put into retry.ipxe, in bytes, after sanitising. */
#define BOOT_REASON_MAX 120
/* Room for a reason built from fixed text and a request value, before truncation. */
#define BOOT_REASON_SIZE 512
/* kernel_url and initrd_url: base URL, "/files/" and an artifact path. */
#define BOOT_URL_SIZE 4096
/* Extra room reserved past a template's own size for the values put into it. */
#define BOOT_RENDER_SLACK 2048
/* Bad-request and store-failure lines logged per second; the rest are only counted. */
#define BOOT_LOG_BURST 20

#define IPXE_PREFIX "/ipxe/"

enum boot_script {
	BOOT_SCRIPT_DISCOVERY,
	BOOT_SCRIPT_DEPLOY,
	BOOT_SCRIPT_LOCAL,
	BOOT_SCRIPT_RETRY,
	BOOT_SCRIPT_START,
	BOOT_SCRIPT_MAX,
};

static const char *const script_files[BOOT_SCRIPT_MAX] = {
	[BOOT_SCRIPT_DISCOVERY] = "discovery.ipxe",
	[BOOT_SCRIPT_DEPLOY] = "deploy.ipxe",
	[BOOT_SCRIPT_LOCAL] = "local.ipxe",
	[BOOT_SCRIPT_RETRY] = "retry.ipxe",
	[BOOT_SCRIPT_START] = "start.ipxe",
};

/* The variables templates may use; bootenv/README.md describes each. */
enum boot_var {
	VAR_MAC,
	VAR_UUID,
	VAR_HOSTNAME,
	VAR_MACHINE_ID,
	VAR_MACHINE_NAME,
	VAR_STATE,
	VAR_ARCH,
	VAR_PLATFORM,
	VAR_BASE_URL,
	VAR_KERNEL_URL,
	VAR_INITRD_URL,
	VAR_CMDLINE,
	VAR_RETRY_SECONDS,
	VAR_REASON,
	VAR_TOKEN,
	VAR_CONSOLE,
	VAR_LOCALBOOT_URL,
	VAR_MAX,
};

static const char *const var_names[VAR_MAX] = {
	[VAR_MAC] = "mac",
	[VAR_UUID] = "uuid",
	[VAR_HOSTNAME] = "hostname",
	[VAR_MACHINE_ID] = "machine_id",
	[VAR_MACHINE_NAME] = "machine_name",
	[VAR_STATE] = "state",
	[VAR_ARCH] = "arch",
	[VAR_PLATFORM] = "platform",
	[VAR_BASE_URL] = "base_url",
	[VAR_KERNEL_URL] = "kernel_url",
	[VAR_INITRD_URL] = "initrd_url",
	[VAR_CMDLINE] = "cmdline",
	[VAR_RETRY_SECONDS] = "retry_seconds",
	[VAR_REASON] = "reason",
	[VAR_TOKEN] = "token",
	[VAR_CONSOLE] = "console",
	[VAR_LOCALBOOT_URL] = "localboot_url",
};

/* iPXE ${buildarch} and ${platform} values this appliance serves. */
static const char *const known_arches[] = { "i386", "x86_64", "arm32", "arm64", "riscv64" };
static const char *const known_platforms[] = { "pcbios", "efi" };

struct boot {
	struct store_pool *pool;                     /* not owned */
	struct template *scripts[BOOT_SCRIPT_MAX];   /* owned */
	size_t script_sizes[BOOT_SCRIPT_MAX];        /* source bytes, to size the output */
	int artifact_fd;                             /* owned; -1 when closed */
	char *tftp_root;                             /* owned; the iPXE binaries served at /ipxe/ */
	char *start_script;                          /* owned; start.ipxe, rendered once */
	size_t start_len;
	char *base_url;                              /* owned; no trailing slash */
	char retry_seconds[24];
	char *console;                               /* owned; console= words for ramdisks */
	struct deploy *deploy;                       /* not owned; NULL: no agent endpoints */
	struct media *media;                         /* not owned; NULL: no ISOs */
	struct script_cache *cache;                  /* owned; NULL: replies are not reused */

	/* Log rate limit shared by the worker threads: the second counted and its lines. */
	_Atomic int64_t log_second;
	atomic_uint log_count;
	atomic_uint log_suppressed;
};

/* One /boot/ipxe request: its validated parameters and the variables to render. */
struct boot_request {
	struct boot *boot;
	struct http_request *req;
	char mac[MAC_TEXT_SIZE];      /* canonical, empty until validated */
	char uuid[UUID_TEXT_SIZE];    /* canonical, empty when not sent */
	const char *arch;             /* one of known_arches, or NULL */
	const char *platform;         /* one of known_platforms, or NULL */
	struct template_var vars[VAR_MAX];
	char reason[BOOT_REASON_SIZE];
	char machine_id[24];
	char machine_name[24 + HOSTNAME_SIZE];   /* "12 web1", or "12" without a host name */
	char kernel_url[BOOT_URL_SIZE];
	char initrd_url[BOOT_URL_SIZE];
	char token[DEPLOY_TOKEN_SIZE];
	/* A store read failed and the script left its value out, so no cache may keep it. */
	bool store_failed;
};

/*
 * Return true when one more bad-request or failure line may be logged this second.
 * At the start of a new second, logs how many lines the previous one suppressed.
 */
static bool
boot_log_allowed(struct boot *boot)
{
	int64_t now = time_now();
	int64_t second = atomic_load(&boot->log_second);

	if (now != second && atomic_compare_exchange_strong(&boot->log_second, &second, now)) {
		unsigned suppressed = atomic_exchange(&boot->log_suppressed, 0);

		atomic_store(&boot->log_count, 0);
		if (suppressed > 0)
			log_info("boot: %u log lines suppressed in the previous second",
				 suppressed);
	}

	if (atomic_fetch_add(&boot->log_count, 1) < BOOT_LOG_BURST)
		return true;
	atomic_fetch_add(&boot->log_suppressed, 1);
	return false;
}

/*
 * Copy `in` to `out` (BOOT_REASON_MAX + 1 bytes) so iPXE prints it as it is: bytes
 * outside printable ASCII and the characters iPXE's command line treats specially
 * (quotes, backslash, "$", braces of "${...}", "&", "|", ";" and "#") become '?'.
 * Longer text is cut at BOOT_REASON_MAX bytes and ends with "...".
 */
static void
reason_sanitise(const char *in, char *out)
{
	size_t len = strlen(in), i;

	for (i = 0; i < len && i < BOOT_REASON_MAX; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c > 0x7e || strchr("\"'`\\${}&|;#", c) != NULL)
			c = '?';
		out[i] = (char)c;
	}
	if (len > BOOT_REASON_MAX)
		memcpy(out + BOOT_REASON_MAX - 3, "...", 3);
	out[i] = '\0';
}

/* Set the reason for a retry script; the text is sanitised when the script is built. */
static void __attribute__((format(printf, 2, 3)))
request_fail(struct boot_request *r, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, args);
	va_end(args);
}

static void
var_set(struct boot_request *r, enum boot_var var, const char *value)
{
	r->vars[var].value = value;
}

static const char *
name_find(const char *const *names, size_t count, const char *value)
{
	for (size_t i = 0; i < count; i++) {
		if (strcmp(names[i], value) == 0)
			return names[i];
	}
	return NULL;
}

/*
 * Return true for a UUID that firmware reports when it has no real one: all zeros or
 * all ones. Many servers share such a value, so it identifies none of them.
 */
static bool
uuid_is_placeholder(const char *uuid)
{
	return strcmp(uuid, "00000000-0000-0000-0000-000000000000") == 0 ||
	       strcmp(uuid, "ffffffff-ffff-ffff-ffff-ffffffffffff") == 0;
}

/*
 * Validate the query: mac required, uuid optional (iPXE sends it empty when the
 * firmware has none, and a placeholder UUID counts as none), buildarch and platform
 * required and known. Returns 0, or -EINVAL with r->reason naming the bad value.
 */
static int
request_parse(struct boot_request *r)
{
	const char *mac, *uuid, *arch, *platform;

	mac = http_query(r->req, "mac");
	if (mac == NULL || mac[0] == '\0') {
		request_fail(r, "missing mac parameter");
		return -EINVAL;
	}
	if (mac_parse(mac, r->mac) < 0) {
		request_fail(r, "invalid mac parameter: %s", mac);
		return -EINVAL;
	}
	var_set(r, VAR_MAC, r->mac);

	uuid = http_query(r->req, "uuid");
	if (uuid != NULL && uuid[0] != '\0' && uuid_parse(uuid, r->uuid) < 0) {
		request_fail(r, "invalid uuid parameter: %s", uuid);
		return -EINVAL;
	}
	if (uuid_is_placeholder(r->uuid))
		r->uuid[0] = '\0';
	var_set(r, VAR_UUID, r->uuid);

	arch = http_query(r->req, "buildarch");
	if (arch == NULL || arch[0] == '\0') {
		request_fail(r, "missing buildarch parameter");
		return -EINVAL;
	}
	r->arch = name_find(known_arches, sizeof(known_arches) / sizeof(known_arches[0]), arch);
	if (r->arch == NULL) {
		request_fail(r, "unsupported buildarch: %s", arch);
		return -EINVAL;
	}
	var_set(r, VAR_ARCH, r->arch);

	platform = http_query(r->req, "platform");
	if (platform == NULL || platform[0] == '\0') {
		request_fail(r, "missing platform parameter");
		return -EINVAL;
	}
	r->platform = name_find(known_platforms,
				sizeof(known_platforms) / sizeof(known_platforms[0]), platform);
	if (r->platform == NULL) {
		request_fail(r, "unsupported platform: %s", platform);
		return -EINVAL;
	}
	var_set(r, VAR_PLATFORM, r->platform);
	return 0;
}

/* A discovery's row and the audit target its insert fills in. */
struct discover_args {
	struct machine *machine;
	char target[sizeof("machine:") + 20];
};

/* gov_execute operation: insert the machine and name it in the entry's target. */
static int
discover_insert(struct store *st, void *arg, char *err, size_t errlen)
{
	struct discover_args *args = arg;
	int rc;

	rc = store_machine_insert(st, args->machine);
	if (rc < 0) {
		snprintf(err, errlen, "%s", store_error(st));
		return rc;
	}
	snprintf(args->target, sizeof(args->target), "machine:%" PRId64, args->machine->id);
	return 0;
}

/* The boot view of a machine that was just inserted as discovered. */
static void
machine_boot_from(const struct machine *m, struct machine_boot *b)
{
	memset(b, 0, sizeof(*b));
	b->id = m->id;
	b->state = m->state;
	memcpy(b->uuid, m->uuid, sizeof(b->uuid));
	memcpy(b->arch, m->arch, sizeof(b->arch));
	memcpy(b->platform, m->platform, sizeof(b->platform));
}

/*
 * Register the request's MAC as a discovered machine through the governance gate and
 * fill *b with its boot view. When another request registered the MAC first
 * (-EEXIST), read that machine instead. Returns 0, or a negative errno with r->reason
 * set and the failure logged within the boot log rate limit.
 *
 * NOTE: a known machine that boots from a NIC the store does not list registers as a
 * second machine, with the same UUID when the firmware reports a real one. Matching
 * on the UUID instead would let any host on the provisioning network claim a machine
 * by sending its UUID, so an operator merges the two: PATCH the MAC onto the known
 * machine and delete the new one.
 */
static int
machine_discover(struct boot_request *r, struct store *st, struct machine_boot *b)
{
	struct machine m = { 0 };
	struct discover_args args = { .machine = &m, .target = "machine:new" };
	char actor[sizeof("boot:") + MAC_TEXT_SIZE];
	char detail[256];
	char err[256] = "";
	struct action action;
	int rc;

	memcpy(m.macs[0], r->mac, MAC_TEXT_SIZE);
	m.mac_count = 1;
	memcpy(m.uuid, r->uuid, UUID_TEXT_SIZE);
	snprintf(m.arch, sizeof(m.arch), "%s", r->arch);
	snprintf(m.platform, sizeof(m.platform), "%s", r->platform);
	m.state = MACHINE_DISCOVERED;

	/*
	 * The values below were validated above and contain no JSON special characters.
	 * discover_insert writes the new machine's id into the target.
	 */
	snprintf(actor, sizeof(actor), "boot:%s", r->mac);
	snprintf(detail, sizeof(detail),
		 "{\"mac\":\"%s\",\"uuid\":\"%s\",\"arch\":\"%s\",\"platform\":\"%s\","
		 "\"peer\":\"%s\"}", r->mac, r->uuid, r->arch, r->platform, http_peer(r->req));
	action = (struct action){
		.actor = actor,
		.name = "machine.discover",
		.target = args.target,
		.risk = RISK_CHANGE,
		.detail = detail,
	};

	rc = gov_execute(st, &action, discover_insert, &args, err, sizeof(err));
	if (rc == 0) {
		log_info("boot: discovered machine=%" PRId64 " mac=%s uuid=%s arch=%s "
			 "platform=%s peer=%s",
			 m.id, r->mac, r->uuid[0] != '\0' ? r->uuid : "none", r->arch,
			 r->platform, http_peer(r->req));
		machine_boot_from(&m, b);
		machine_clear(&m);
		return 0;
	}
	machine_clear(&m);

	/* A concurrent request for the same MAC won the insert: serve its row. */
	if (rc == -EEXIST) {
		rc = store_machine_boot_get(st, r->mac, b);
		if (rc == 0)
			return 0;
		snprintf(err, sizeof(err), "%s", store_error(st));
	}

	/* A client can repeat this as often as it likes, so the line is rate-limited. */
	if (boot_log_allowed(r->boot))
		log_err("boot: cannot register mac=%s: %s", r->mac,
			err[0] != '\0' ? err : strerror(-rc));
	request_fail(r, "could not register mac %s, see the server log", r->mac);
	return rc;
}

/* gov_execute operation: fill in the identity fields the machine lacks. */
static int
identify_update(struct store *st, void *arg, char *err, size_t errlen)
{
	const struct boot_request *r = arg;
	struct machine m = { 0 };
	int rc;

	rc = store_machine_get_by_mac(st, r->mac, &m);
	if (rc == 0) {
		if (m.arch[0] == '\0')
			snprintf(m.arch, sizeof(m.arch), "%s", r->arch);
		if (m.platform[0] == '\0')
			snprintf(m.platform, sizeof(m.platform), "%s", r->platform);
		if (m.uuid[0] == '\0')
			memcpy(m.uuid, r->uuid, UUID_TEXT_SIZE);
		rc = store_machine_update(st, &m);
	}
	if (rc < 0)
		snprintf(err, errlen, "%s", store_error(st));
	machine_clear(&m);
	return rc;
}

/* Return true when the machine has every identity field the request could fill in. */
static bool
identity_complete(const struct boot_request *r, const struct machine_boot *m)
{
	return (m->arch[0] != '\0' || r->arch == NULL) &&
	       (m->platform[0] != '\0' || r->platform == NULL) &&
	       (m->uuid[0] != '\0' || r->uuid[0] == '\0');
}

/*
 * A machine registered by its DHCP lease has no architecture, platform or UUID yet;
 * its first script request fills them in, once. Failures are logged only, because the
 * script can be served without them.
 */
static void
machine_identify(struct boot_request *r, struct store *st, struct machine_boot *m)
{
	char actor[sizeof("boot:") + MAC_TEXT_SIZE], target[32], detail[256], err[256] = "";
	struct action action = { .actor = actor, .name = "machine.identify", .target = target,
				 .risk = RISK_CHANGE, .detail = detail };

	if (identity_complete(r, m))
		return;
	snprintf(actor, sizeof(actor), "boot:%s", r->mac);
	snprintf(target, sizeof(target), "machine:%" PRId64, m->id);
	/* Validated values with no JSON special characters, as in machine_discover. */
	snprintf(detail, sizeof(detail), "{\"uuid\":\"%s\",\"arch\":\"%s\",\"platform\":\"%s\"}",
		 r->uuid, r->arch != NULL ? r->arch : "", r->platform != NULL ? r->platform : "");
	if (gov_execute(st, &action, identify_update, r, err, sizeof(err)) < 0) {
		if (boot_log_allowed(r->boot))
			log_warning("boot: cannot record the identity of machine=%" PRId64
				    " mac=%s: %s", m->id, r->mac, err);
		return;
	}
	if (m->arch[0] == '\0' && r->arch != NULL)
		snprintf(m->arch, sizeof(m->arch), "%s", r->arch);
	if (m->platform[0] == '\0' && r->platform != NULL)
		snprintf(m->platform, sizeof(m->platform), "%s", r->platform);
	if (m->uuid[0] == '\0')
		memcpy(m->uuid, r->uuid, UUID_TEXT_SIZE);
}

/*
 * Set the reason a deploying machine cannot get deploy.ipxe and log it: the fix is
 * the operator's, in the machine's profile.
 */
static void __attribute__((format(printf, 3, 4)))
deploy_fail(struct boot_request *r, const struct machine_boot *m, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, args);
	va_end(args);

	if (boot_log_allowed(r->boot))
		log_warning("boot: cannot deploy machine=%" PRId64 " mac=%s: %s", m->id, r->mac,
			    r->reason);
}

/*
 * Build kernel_url, initrd_url and cmdline from the machine's profile. Returns 0, or a
 * negative errno with r->reason set and the failure logged.
 */
static int
deploy_vars(struct boot_request *r, struct store *st, const struct machine_boot *m)
{
	char blob[BUNDLE_BLOB_PATH_SIZE], sha256[SHA256_HEX_SIZE];
	size_t offset;
	int n;

	if (m->profile_id == 0) {
		deploy_fail(r, m, "machine %" PRId64 " is deploying but has no profile", m->id);
		return -ENOENT;
	}
	/* The lookup joins the profile, so an empty name means the row is gone. */
	if (m->profile_name[0] == '\0') {
		deploy_fail(r, m, "profile %" PRId64 " of machine %" PRId64 " not found",
			    m->profile_id, m->id);
		return -ENOENT;
	}

	/* Artifact references are paths under the artifact store for now. */
	if (http_path_check(m->kernel) < 0) {
		deploy_fail(r, m, "profile %s has an invalid kernel reference", m->profile_name);
		return -EINVAL;
	}
	if (http_path_check(m->initrd) < 0) {
		deploy_fail(r, m, "profile %s has an invalid initrd reference", m->profile_name);
		return -EINVAL;
	}
	if (bundle_ref_resolve(st, r->boot->artifact_fd, m->kernel, blob, sha256) == BUNDLE_REF_MISSING) {
		deploy_fail(r, m, "profile %s names kernel %s, which no loaded bundle has",
			    m->profile_name, m->kernel);
		return -ENOENT;
	}
	if (bundle_ref_resolve(st, r->boot->artifact_fd, m->initrd, blob, sha256) == BUNDLE_REF_MISSING) {
		deploy_fail(r, m, "profile %s names initrd %s, which no loaded bundle has",
			    m->profile_name, m->initrd);
		return -ENOENT;
	}

	/* The API rejects such a command line, but a row it never checked may have one. */
	if (cmdline_check(m->cmdline, &offset) < 0) {
		/* In hex, because retry.ipxe would print most rejected characters as '?'. */
		deploy_fail(r, m, "profile %s has an invalid kernel command line: "
			    "character 0x%02x at byte %zu", m->profile_name,
			    (unsigned char)m->cmdline[offset], offset);
		return -EINVAL;
	}

	n = snprintf(r->kernel_url, sizeof(r->kernel_url), "%s" FILES_PREFIX "%s",
		     r->boot->base_url, m->kernel);
	if (n < 0 || (size_t)n >= sizeof(r->kernel_url)) {
		deploy_fail(r, m, "kernel URL of profile %s is too long", m->profile_name);
		return -ENAMETOOLONG;
	}
	n = snprintf(r->initrd_url, sizeof(r->initrd_url), "%s" FILES_PREFIX "%s",
		     r->boot->base_url, m->initrd);
	if (n < 0 || (size_t)n >= sizeof(r->initrd_url)) {
		deploy_fail(r, m, "initrd URL of profile %s is too long", m->profile_name);
		return -ENAMETOOLONG;
	}

	if (r->boot->deploy == NULL || m->deployment_id == 0) {
		deploy_fail(r, m, "machine %" PRId64 " is deploying but has no deployment; deploy "
			    "it again", m->id);
		return -ENOENT;
	}
	deploy_token(r->boot->deploy, 'd', m->deployment_id, r->token);

	var_set(r, VAR_KERNEL_URL, r->kernel_url);
	var_set(r, VAR_INITRD_URL, r->initrd_url);
	var_set(r, VAR_CMDLINE, m->cmdline);
	var_set(r, VAR_TOKEN, r->token);
	return 0;
}

/*
 * Point the discovery script at the kernel and initrd of the newest ramdisk bundle,
 * with a machine token for the agent. Without one, the script waits and asks again.
 */
static void
discovery_vars(struct boot_request *r, struct store *st, const struct machine_boot *m)
{
	struct bundle_info pick;
	int n1, n2, rc;

	if (r->boot->deploy == NULL)
		return;
	rc = store_bundle_newest(st, "ramdisk", &pick);
	if (rc < 0) {
		r->store_failed = rc != -ENOENT;
		return;
	}
	n1 = snprintf(r->kernel_url, sizeof(r->kernel_url), "%s" FILES_PREFIX "%s/%s/kernel",
		      r->boot->base_url, pick.name, pick.version);
	n2 = snprintf(r->initrd_url, sizeof(r->initrd_url), "%s" FILES_PREFIX "%s/%s/initrd",
		      r->boot->base_url, pick.name, pick.version);
	if (n1 < 0 || (size_t)n1 >= sizeof(r->kernel_url) || n2 < 0 ||
	    (size_t)n2 >= sizeof(r->initrd_url))
		return;
	deploy_token(r->boot->deploy, 'm', m->id, r->token);
	var_set(r, VAR_KERNEL_URL, r->kernel_url);
	var_set(r, VAR_INITRD_URL, r->initrd_url);
	var_set(r, VAR_TOKEN, r->token);
}

/* Render `script` into out, sized once from the template's own length. */
static int
script_render(struct boot_request *r, enum boot_script script, struct buf *out)
{
	int rc;

	rc = buf_reserve(out, r->boot->script_sizes[script] + BOOT_RENDER_SLACK);
	if (rc < 0)
		return rc;
	return template_render(r->boot->scripts[script], r->vars, VAR_MAX, out);
}

/* The debug line of every script served to a machine, rendered or reused. */
static void
serving_log(const struct boot_request *r, const struct script_info *info)
{
	log_debug("boot: serving %s machine=%" PRId64 " mac=%s state=%s",
		  script_files[info->script], info->machine_id, r->mac,
		  machine_state_name(info->state));
}

/*
 * Send the rendered script. The reply takes over out's buffer. The script follows live
 * state, so no cache may reuse it.
 */
static void
script_reply(struct boot_request *r, struct buf *out)
{
	size_t len;
	char *body;
	int rc;

	/* The script is correct without the header, so a failure to add it is ignored. */
	http_add_header(r->req, "Cache-Control", "no-store");
	len = out->len;
	body = buf_steal(out);
	rc = body != NULL ? http_reply_take(r->req, 200, "text/plain", body, len) : -ENOMEM;
	if (rc < 0 && boot_log_allowed(r->boot))
		log_warning("boot: cannot queue the reply mac=%s peer=%s: %s", r->mac,
			    http_peer(r->req), strerror(-rc));
}

/*
 * Send the rendered script as script_reply does, as a reply that the cache then keeps
 * for the next request with the same values. `generation` was read before the store
 * reads the script was rendered from.
 */
static void
script_reply_cached(struct boot_request *r, struct buf *out, const struct script_info *info,
		    uint64_t generation)
{
	struct script_key key = { .mac = r->mac, .uuid = r->uuid, .arch = r->arch,
				  .platform = r->platform };
	struct http_response *response = NULL;
	bool keep = true;
	int rc;

	rc = script_cache_response(r->boot->cache, info->script,
				   out->data != NULL ? out->data : "", out->len, &response);
	/* As in script_reply, the header may be missing, but such a reply is not kept. */
	if (rc == 0 && http_response_add_header(response, "Cache-Control", "no-store") < 0)
		keep = false;
	if (rc == 0)
		rc = http_reply_response(r->req, 200, response);
	if (rc == 0 && keep)
		script_cache_put(r->boot->cache, &key, generation, info, response);
	else
		http_response_free(response);

	if (rc < 0 && boot_log_allowed(r->boot))
		log_warning("boot: cannot queue the reply mac=%s peer=%s: %s", r->mac,
			    http_peer(r->req), strerror(-rc));
}

/*
 * Queue the cached reply for the request when there is one. Returns true when the
 * request is dealt with: replied to, or logged when queueing the reply failed.
 */
static bool
cached_reply(struct boot_request *r, uint64_t generation)
{
	struct script_key key = { .mac = r->mac, .uuid = r->uuid, .arch = r->arch,
				  .platform = r->platform };
	struct script_info info;
	int rc;

	rc = script_cache_reply(r->boot->cache, &key, generation, r->req, &info);
	if (rc == -ENOENT)
		return false;
	if (rc < 0) {
		if (boot_log_allowed(r->boot))
			log_warning("boot: cannot queue the reply mac=%s peer=%s: %s", r->mac,
				    http_peer(r->req), strerror(-rc));
		return true;
	}
	serving_log(r, &info);
	return true;
}

/* Reply with retry.ipxe and the sanitised r->reason. */
static void
retry_reply(struct boot_request *r, struct buf *out)
{
	char reason[BOOT_REASON_MAX + 1];
	static const char failed[] = "internal error: cannot render the retry script\n";

	reason_sanitise(r->reason, reason);
	var_set(r, VAR_REASON, reason);

	out->len = 0;
	if (out->data != NULL)
		out->data[0] = '\0';
	if (script_render(r, BOOT_SCRIPT_RETRY, out) < 0) {
		log_err("boot: cannot render %s mac=%s", script_files[BOOT_SCRIPT_RETRY],
			r->mac);
		http_reply(r->req, 500, "text/plain", failed, sizeof(failed) - 1);
		return;
	}
	script_reply(r, out);
}

/*
 * The UEFI local-disk boot program of the newest ramdisk bundle, for local.ipxe: some
 * firmware does not go on to the disk when iPXE returns to it. Empty without one.
 * Bundles from r06 on carry three boot loaders, so the program is found by its path;
 * older ones have only it, found by its role.
 */
static void
local_vars(struct boot_request *r, struct store *st)
{
	struct bundle_info pick;
	struct artifact a = { 0 };
	int n, rc;

	rc = store_bundle_newest(st, "ramdisk", &pick);
	if (rc < 0) {
		r->store_failed = rc != -ENOENT;
		return;
	}
	rc = store_artifact_find(st, pick.name, pick.version, "localboot.efi", &a);
	if (rc < 0) {
		r->store_failed = rc != -ENOENT;
		rc = store_artifact_find(st, pick.name, pick.version, "bootloader", &a);
	}
	if (rc < 0) {
		r->store_failed = r->store_failed || rc != -ENOENT;
		return;
	}
	n = snprintf(r->kernel_url, sizeof(r->kernel_url), "%s" FILES_PREFIX "%s/%s/%s",
		     r->boot->base_url, pick.name, pick.version, a.path);
	artifact_clear(&a);
	if (n > 0 && (size_t)n < sizeof(r->kernel_url))
		var_set(r, VAR_LOCALBOOT_URL, r->kernel_url);
}

/*
 * Pick the script for the machine's state, fill the machine variables and render it
 * into out. Sets *info to what the debug line names.
 */
static int
machine_render(struct boot_request *r, struct store *st, const struct machine_boot *m,
	       struct buf *out, struct script_info *info)
{
	enum boot_script script;
	int rc;

	snprintf(r->machine_id, sizeof(r->machine_id), "%" PRId64, m->id);
	var_set(r, VAR_MACHINE_ID, r->machine_id);
	var_set(r, VAR_STATE, machine_state_name(m->state));
	if (r->uuid[0] == '\0')
		var_set(r, VAR_UUID, m->uuid);

	/* Host names come from the API, which validates them; check again before use. */
	if (hostname_valid(m->hostname)) {
		var_set(r, VAR_HOSTNAME, m->hostname);
		snprintf(r->machine_name, sizeof(r->machine_name), "%" PRId64 " %s", m->id,
			 m->hostname);
	} else {
		memcpy(r->machine_name, r->machine_id, sizeof(r->machine_id));
	}
	var_set(r, VAR_MACHINE_NAME, r->machine_name);

	switch (m->state) {
	case MACHINE_DEPLOYING:
		/* Once the agent has written the disk, the next boot is the installed system. */
		if (m->image_written) {
			script = BOOT_SCRIPT_LOCAL;
			local_vars(r, st);
			break;
		}
		script = BOOT_SCRIPT_DEPLOY;
		rc = deploy_vars(r, st, m);
		if (rc < 0)
			return rc;
		break;
	case MACHINE_DEPLOYED:
		script = BOOT_SCRIPT_LOCAL;
		local_vars(r, st);
		break;
	case MACHINE_DISCOVERED:
	case MACHINE_READY:
	case MACHINE_FAILED:
	case MACHINE_DECOMMISSIONING:
		script = BOOT_SCRIPT_DISCOVERY;
		discovery_vars(r, st, m);
		break;
	default:
		log_err("boot: machine=%" PRId64 " mac=%s has unknown state=%d", m->id, r->mac,
			(int)m->state);
		request_fail(r, "machine %" PRId64 " is in an unknown state", m->id);
		return -EINVAL;
	}

	rc = script_render(r, script, out);
	if (rc < 0) {
		log_err("boot: cannot render %s machine=%" PRId64 ": %s", script_files[script],
			m->id, strerror(-rc));
		request_fail(r, "could not render %s, see the server log", script_files[script]);
		return rc;
	}

	info->script = (int)script;
	info->machine_id = m->id;
	info->state = m->state;
	serving_log(r, info);
	if (script == BOOT_SCRIPT_DEPLOY)
		deploy_script_served(r->boot->deploy, m->deployment_id);
	return 0;
}

/* GET /boot/ipxe: the machine's script, or retry.ipxe with the reason. */
static void
boot_ipxe(struct boot *boot, struct http_request *req)
{
	struct boot_request r;
	struct machine_boot m;
	struct script_info info;
	struct buf out;
	struct store *st;
	uint64_t generation;
	bool cacheable;
	int rc;

	/* Set fields one by one: zeroing the whole request would clear 8 KiB of URLs. */
	r.boot = boot;
	r.req = req;
	r.mac[0] = '\0';
	r.uuid[0] = '\0';
	r.arch = NULL;
	r.platform = NULL;
	r.reason[0] = '\0';
	r.store_failed = false;
	for (size_t i = 0; i < VAR_MAX; i++) {
		r.vars[i].name = var_names[i];
		r.vars[i].value = NULL;
	}

	buf_init(&out, TEMPLATE_MAX_OUTPUT);
	var_set(&r, VAR_BASE_URL, boot->base_url);
	var_set(&r, VAR_RETRY_SECONDS, boot->retry_seconds);
	var_set(&r, VAR_CONSOLE, boot->console);

	/* A bad request is the client's fault, so it is logged at info and rate-limited. */
	rc = request_parse(&r);
	if (rc < 0) {
		char reason[BOOT_REASON_MAX + 1];

		if (boot_log_allowed(boot)) {
			reason_sanitise(r.reason, reason);
			log_info("boot: bad request peer=%s: %s", http_peer(req), reason);
		}
		goto err_request;
	}

	/*
	 * Read before anything the script is rendered from: a commit after this point
	 * retires both the cached reply served now and the one rendered below.
	 */
	generation = store_generation();
	if (boot->cache != NULL && cached_reply(&r, generation)) {
		buf_free(&out);
		return;
	}

	st = store_pool_get(boot->pool);
	if (st == NULL) {
		request_fail(&r, "the store is unavailable, see the server log");
		goto err_request;
	}

	/*
	 * One cached lookup on the hot path; unknown MACs register as discovered. A reply
	 * rendered after a write (a registration or an identity update) is not kept: the
	 * write retires it anyway, and after a failed write the next request must try again.
	 */
	rc = store_machine_boot_get(st, r.mac, &m);
	cacheable = rc == 0 && identity_complete(&r, &m);
	if (rc == -ENOENT) {
		rc = machine_discover(&r, st, &m);
	} else if (rc == 0) {
		machine_identify(&r, st, &m);
	} else if (rc < 0) {
		if (boot_log_allowed(boot))
			log_err("boot: cannot look up mac=%s: %s", r.mac, store_error(st));
		request_fail(&r, "could not look up mac %s, see the server log", r.mac);
	}
	if (rc < 0)
		goto err_request;

	rc = machine_render(&r, st, &m, &out, &info);
	if (rc < 0)
		goto err_request;

	/*
	 * deploy.ipxe is not kept: it also depends on files in the artifact directory,
	 * which no commit announces, and serving it is recorded on the deployment.
	 */
	if (boot->cache != NULL && cacheable && !r.store_failed &&
	    info.script != BOOT_SCRIPT_DEPLOY)
		script_reply_cached(&r, &out, &info, generation);
	else
		script_reply(&r, &out);
	buf_free(&out);
	return;

err_request:
	retry_reply(&r, &out);
	buf_free(&out);
}

/*
 * GET or HEAD /files/REF: a bundle artifact by its reference, served from its blob with
 * the hash as ETag, or else a file under the artifact directory by its path.
 */
static void
files_reply(struct boot *boot, struct http_request *req, const char *ref)
{
	static const char not_found[] = "not found\n";
	char blob[BUNDLE_BLOB_PATH_SIZE], sha256[SHA256_HEX_SIZE], etag[SHA256_HEX_SIZE + 2];
	struct store *st = store_pool_get(boot->pool);

	switch (bundle_ref_resolve(st, boot->artifact_fd, ref, blob, sha256)) {
	case BUNDLE_REF_BLOB:
		snprintf(etag, sizeof(etag), "\"%s\"", sha256);
		http_reply_file(req, boot->artifact_fd, blob, "application/octet-stream", etag);
		return;
	case BUNDLE_REF_FILE:
		http_reply_file(req, boot->artifact_fd, ref, "application/octet-stream", NULL);
		return;
	case BUNDLE_REF_MISSING:
		break;
	}
	/* Staging files are not checked yet; anything else gets http_reply_file's 404. */
	if (strcmp(ref, "staging") == 0 || strncmp(ref, "staging/", 8) == 0)
		http_reply(req, 404, "text/plain", not_found, sizeof(not_found) - 1);
	else
		http_reply_file(req, boot->artifact_fd, ref, "application/octet-stream", NULL);
}

/*
 * GET or HEAD /ipxe/NAME: the iPXE binaries the DDI manager copied into the TFTP root,
 * for UEFI HTTP boot. Only the three names Kea's client classes hand out are served.
 */
static void
ipxe_reply(struct boot *boot, struct http_request *req, const char *name)
{
	static const char *const names[] = { "undionly.kpxe", "snponly.efi", "ipxe.efi" };
	static const char not_found[] = "not found\n";
	int dir_fd;

	for (size_t i = 0; boot->tftp_root != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) != 0)
			continue;
		dir_fd = open(boot->tftp_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dir_fd < 0)
			break;
		http_reply_file(req, dir_fd, name, "application/efi", NULL);
		close(dir_fd);
		return;
	}
	http_reply(req, 404, "text/plain", not_found, sizeof(not_found) - 1);
}

int
boot_precheck(struct http_request *req, void *ctx)
{
	struct boot *boot = ctx;
	static const char not_allowed[] = "method not allowed\n";

	if (boot->deploy != NULL)
		return deploy_precheck(boot->deploy, req);
	if (strcmp(http_method(req), "POST") != 0)
		return 0;
	http_add_header(req, "Allow", "GET, HEAD");
	http_reply(req, 405, "text/plain", not_allowed, sizeof(not_allowed) - 1);
	return 1;
}

void
boot_handle(struct http_request *req, void *ctx)
{
	static const char not_found[] = "not found\n";
	static const char not_allowed[] = "method not allowed\n";
	struct boot *boot = ctx;
	const char *method = http_method(req);
	const char *path = http_path(req);

	if (boot->deploy != NULL && (strncmp(path, AGENT_PREFIX, strlen(AGENT_PREFIX)) == 0 ||
				     strncmp(path, CLOUD_INIT_PREFIX, strlen(CLOUD_INIT_PREFIX)) == 0)) {
		deploy_handle(boot->deploy, req);
		return;
	}

	/* GET only: this request may register a machine, which HEAD must not do. */
	if (strcmp(path, "/boot/ipxe") == 0) {
		if (strcmp(method, "GET") != 0) {
			http_add_header(req, "Allow", "GET");
			goto err_method;
		}
		boot_ipxe(boot, req);
		return;
	}

	/* The same script for every machine, so caches may keep it. */
	if (strcmp(path, "/boot/start.ipxe") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
			http_add_header(req, "Allow", "GET, HEAD");
			goto err_method;
		}
		http_reply(req, 200, "text/plain", boot->start_script, boot->start_len);
		return;
	}

	if (strncmp(path, IPXE_PREFIX, strlen(IPXE_PREFIX)) == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
			http_add_header(req, "Allow", "GET, HEAD");
			goto err_method;
		}
		ipxe_reply(boot, req, path + strlen(IPXE_PREFIX));
		return;
	}

	/* The token in the name authorises the read; media_serve never logs it. */
	if (strncmp(path, MEDIA_PREFIX, strlen(MEDIA_PREFIX)) == 0) {
		if (boot->media == NULL)
			http_reply(req, 404, "text/plain", not_found, sizeof(not_found) - 1);
		else
			media_serve(boot->media, req);
		return;
	}

	/* http_reply_file rejects anything but a plain relative path under the store. */
	if (strncmp(path, FILES_PREFIX, strlen(FILES_PREFIX)) == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
			http_add_header(req, "Allow", "GET, HEAD");
			goto err_method;
		}
		files_reply(boot, req, path + strlen(FILES_PREFIX));
		return;
	}

	http_reply(req, 404, "text/plain", not_found, sizeof(not_found) - 1);
	return;

err_method:
	http_reply(req, 405, "text/plain", not_allowed, sizeof(not_allowed) - 1);
}

/*
 * Read and compile one template from dir_fd. Returns 0, or a negative errno with the
 * file named in the log.
 */
static int
script_load(struct boot *boot, int dir_fd, const char *dir, enum boot_script script)
{
	const char *name = script_files[script];
	char *text = NULL;
	char err[256];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, rc;

	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = -errno;
		log_err("boot: cannot open template file=%s/%s: %s", dir, name, strerror(-rc));
		return rc;
	}

	if (fstat(fd, &st) < 0) {
		rc = -errno;
		log_err("boot: cannot stat template file=%s/%s: %s", dir, name, strerror(-rc));
		goto err_stat;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("boot: template file=%s/%s is not a regular file", dir, name);
		rc = -EINVAL;
		goto err_stat;
	}
	if (st.st_size > TEMPLATE_MAX_BYTES) {
		log_err("boot: template file=%s/%s is %jd bytes, more than the maximum of %d",
			dir, name, (intmax_t)st.st_size, TEMPLATE_MAX_BYTES);
		rc = -EFBIG;
		goto err_stat;
	}

	/* Read one byte past the limit, so a file that grew since fstat is still caught. */
	text = malloc(TEMPLATE_MAX_BYTES + 1);
	if (text == NULL) {
		rc = -ENOMEM;
		goto err_stat;
	}
	while (len <= TEMPLATE_MAX_BYTES) {
		n = read(fd, text + len, TEMPLATE_MAX_BYTES + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			log_err("boot: cannot read template file=%s/%s: %s", dir, name,
				strerror(-rc));
			goto err_read;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > TEMPLATE_MAX_BYTES) {
		log_err("boot: template file=%s/%s is more than the maximum of %d bytes", dir,
			name, TEMPLATE_MAX_BYTES);
		rc = -EFBIG;
		goto err_read;
	}

	rc = template_compile(text, len, &boot->scripts[script], err, sizeof(err));
	if (rc < 0) {
		log_err("boot: invalid template file=%s/%s: %s", dir, name, err);
		goto err_read;
	}
	boot->script_sizes[script] = len;

	free(text);
	close(fd);
	return 0;

err_read:
	free(text);
err_stat:
	close(fd);
	return rc;
}

/* Render start.ipxe, which depends on the configuration only. */
static int
start_render(struct boot *boot)
{
	struct template_var vars[VAR_MAX];
	struct buf out;
	int rc;

	for (size_t i = 0; i < VAR_MAX; i++) {
		vars[i].name = var_names[i];
		vars[i].value = NULL;
	}
	vars[VAR_BASE_URL].value = boot->base_url;
	vars[VAR_RETRY_SECONDS].value = boot->retry_seconds;

	buf_init(&out, TEMPLATE_MAX_OUTPUT);
	rc = template_render(boot->scripts[BOOT_SCRIPT_START], vars, VAR_MAX, &out);
	if (rc < 0) {
		buf_free(&out);
		log_err("boot: cannot render %s: %s", script_files[BOOT_SCRIPT_START],
			strerror(-rc));
		return rc;
	}
	boot->start_len = out.len;
	boot->start_script = buf_steal(&out);
	return boot->start_script != NULL ? 0 : -ENOMEM;
}

int
boot_new(const struct conf *conf, struct store_pool *pool, struct boot **ret)
{
	struct boot *boot;
	size_t url_len, offset;
	int dir_fd, rc;

	boot = calloc(1, sizeof(*boot));
	if (boot == NULL)
		return -ENOMEM;
	boot->pool = pool;
	boot->artifact_fd = -1;
	snprintf(boot->retry_seconds, sizeof(boot->retry_seconds), "%" PRIu64,
		 conf->boot_retry_seconds);

	/* Scripts append "/boot/ipxe" and "/files/..." to the base URL. */
	url_len = strlen(conf->boot_url);
	while (url_len > 0 && conf->boot_url[url_len - 1] == '/')
		url_len--;
	boot->base_url = strndup(conf->boot_url, url_len);
	boot->console = strdup(conf->deploy_console != NULL ? conf->deploy_console : "");
	if (boot->base_url == NULL || boot->console == NULL) {
		rc = -ENOMEM;
		goto err_alloc;
	}
	/* It goes into iPXE kernel lines, so it passes the profile command line's check. */
	if (cmdline_check(boot->console, &offset) < 0) {
		log_err("boot: [deploy] console has character 0x%02x at byte %zu, which iPXE "
			"would misread; use words of letters, digits and . _ , : = / + @ %% ~ -",
			(unsigned char)boot->console[offset], offset);
		rc = -EINVAL;
		goto err_alloc;
	}

	dir_fd = open(conf->template_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		rc = -errno;
		log_err("boot: cannot open template directory=%s: %s", conf->template_dir,
			strerror(-rc));
		goto err_alloc;
	}
	for (int i = 0; i < BOOT_SCRIPT_MAX; i++) {
		rc = script_load(boot, dir_fd, conf->template_dir, (enum boot_script)i);
		if (rc < 0) {
			close(dir_fd);
			goto err_alloc;
		}
	}
	close(dir_fd);

	/* Without a TFTP root, /ipxe/ serves nothing. */
	if (conf->tftp_root != NULL && (boot->tftp_root = strdup(conf->tftp_root)) == NULL) {
		rc = -ENOMEM;
		goto err_alloc;
	}
	rc = start_render(boot);
	if (rc < 0)
		goto err_alloc;
	if (conf->boot_script_cache_bytes > 0) {
		rc = script_cache_new(conf->boot_script_cache_bytes, &boot->cache);
		if (rc < 0)
			goto err_alloc;
	}

	/*
	 * A read-only directory descriptor rather than O_PATH, so it works with every *at
	 * call http_reply_file may use; openat2(RESOLVE_BENEATH) accepts either kind.
	 */
	boot->artifact_fd = open(conf->artifact_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (boot->artifact_fd < 0) {
		rc = -errno;
		log_err("boot: cannot open artifact directory=%s: %s", conf->artifact_dir,
			strerror(-rc));
		goto err_alloc;
	}

	*ret = boot;
	return 0;

err_alloc:
	boot_free(boot);
	return rc;
}

void
boot_set_deploy(struct boot *boot, struct deploy *dp)
{
	boot->deploy = dp;
}

void
boot_set_media(struct boot *boot, struct media *md)
{
	boot->media = md;
}

struct boot *
boot_free(struct boot *boot)
{
	if (boot == NULL)
		return NULL;
	for (int i = 0; i < BOOT_SCRIPT_MAX; i++)
		template_free(boot->scripts[i]);
	if (boot->artifact_fd >= 0)
		close(boot->artifact_fd);
	free(boot->base_url);
	free(boot->console);
	free(boot->tftp_root);
	free(boot->start_script);
	script_cache_free(boot->cache);
	free(boot);
	return NULL;
}

void
boot_cache_stats(struct boot *boot, struct boot_cache_stats *ret)
{
	if (boot->cache == NULL) {
		memset(ret, 0, sizeof(*ret));
		return;
	}
	script_cache_stats(boot->cache, ret);
}
