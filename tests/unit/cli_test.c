/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/cli. Argument parsing, request bodies and the formatters are
 * tested as pure functions. cli_main is tested end to end against the canned API
 * server of cli_fixture.c, on a unix socket or on loopback TCP (plain and TLS).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "cli/cli.h"

#include "cli_fixture.h"

/* Canned API objects, shaped as the REST API contract describes them. */
#define MACHINE_1 \
	"{\"id\": 1, \"macs\": [\"52:54:00:12:34:56\"], \"uuid\": null, \"serial\": \"\", " \
	"\"vendor\": \"\", \"model\": \"\", \"arch\": \"x86_64\", \"platform\": \"efi\", " \
	"\"state\": \"ready\", \"profile\": \"debian12\", \"ip\": \"10.0.0.5\", " \
	"\"hostname\": \"web1\", \"inventory\": null, " \
	"\"created_at\": \"2026-12-04T20:09:23Z\", \"updated_at\": \"2026-12-04T20:09:23Z\"}"

#define MACHINE_2 \
	"{\"id\": 2, \"macs\": [\"52:54:00:aa:bb:01\", \"52:54:00:aa:bb:02\", " \
	"\"52:54:00:aa:bb:03\"], \"uuid\": \"4c4c4544-0042-3510-8052-b4c04f4e3632\", " \
	"\"serial\": \"SN1\", \"vendor\": \"Dell\", \"model\": \"R650\", \"arch\": \"arm64\", " \
	"\"platform\": null, \"state\": \"discovered\", \"profile\": null, \"ip\": null, " \
	"\"hostname\": null, \"inventory\": {\"cpus\": 2}, " \
	"\"created_at\": \"2026-12-04T20:09:23Z\", \"updated_at\": \"2026-12-04T20:10:00Z\"}"

#define PROFILE_1 \
	"{\"id\": 3, \"name\": \"debian12\", \"image\": \"debian-12.img\", " \
	"\"kernel\": \"vmlinuz\", \"initrd\": \"initrd.img\", \"cmdline\": \"console=ttyS0\", " \
	"\"templates\": null, \"created_at\": \"2026-12-04T20:09:23Z\", " \
	"\"updated_at\": \"2026-12-04T20:09:23Z\"}"

/*********************************************************************************
 * Running cli_main against the canned server of cli_fixture.c
 */

/* Run cli_main on the NULL-terminated argument list. */
static void
run_cli(struct run_output *result, const char *arg, ...)
{
	const char *argv[32];
	int argc = 0;
	va_list ap;

	va_start(ap, arg);
	for (const char *a = arg; a != NULL; a = va_arg(ap, const char *)) {
		assert_true(argc < (int)ARRAY_SIZE(argv) - 1);
		argv[argc++] = a;
	}
	va_end(ap);
	argv[argc] = NULL;
	run_main(cli_main, argv, result);
}

/*********************************************************************************
 * Argument parsing
 */

struct args_case {
	const char *argv[16];
	enum cli_command command;
	bool help;
};

static const struct args_case valid_cases[] = {
	{ ARGS("machine", "list"), CLI_CMD_MACHINE_LIST, false },
	{ ARGS("machine", "list", "--state", "ready", "--limit=10", "--all", "--json"),
	  CLI_CMD_MACHINE_LIST, false },
	{ ARGS("machine", "show", "12"), CLI_CMD_MACHINE_SHOW, false },
	{ ARGS("machine", "show", "--json", "--", "12"), CLI_CMD_MACHINE_SHOW, false },
	{ ARGS("machine", "add", "--mac", "52:54:00:12:34:56", "--hostname", "web1"),
	  CLI_CMD_MACHINE_ADD, false },
	{ ARGS("machine", "set", "7", "--hostname", ""), CLI_CMD_MACHINE_SET, false },
	{ ARGS("machine", "set", "7", "--profile", ""), CLI_CMD_MACHINE_SET, false },
	{ ARGS("machine", "deploy", "7", "--profile", "debian12"), CLI_CMD_MACHINE_DEPLOY,
	  false },
	{ ARGS("machine", "rm", "52-54-00-12-34-56"), CLI_CMD_MACHINE_RM, false },
	{ ARGS("profile", "list"), CLI_CMD_PROFILE_LIST, false },
	{ ARGS("profile", "add", "debian12", "--kernel", "vmlinuz", "--initrd", "initrd.img"),
	  CLI_CMD_PROFILE_ADD, false },
	{ ARGS("profile", "set", "debian12", "--image", ""), CLI_CMD_PROFILE_SET, false },
	{ ARGS("profile", "rm", "debian12"), CLI_CMD_PROFILE_RM, false },
	{ ARGS("audit", "show", "--after", "0", "--limit", "1000"), CLI_CMD_AUDIT_SHOW, false },
	{ ARGS("audit", "verify"), CLI_CMD_AUDIT_VERIFY, false },
	{ ARGS("status", "--url", "https://outpost.example"), CLI_CMD_STATUS, false },
	{ ARGS("machine", "-h"), CLI_CMD_INVALID, true },
	{ ARGS("machine", "--help"), CLI_CMD_INVALID, true },
	{ ARGS("machine", "list", "--bogus", "--help"), CLI_CMD_MACHINE_LIST, true },
	{ ARGS("machine", "show", "-h"), CLI_CMD_MACHINE_SHOW, true },
	{ ARGS("status", "-h"), CLI_CMD_STATUS, true },
};

static void
test_args_valid(void **state)
{
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++) {
		const struct args_case *c = &valid_cases[i];
		struct cli_args args;
		char err[CLI_ERROR_SIZE];
		int rc;

		rc = cli_args_parse(count_args(c->argv), (char *const *)(uintptr_t)c->argv, &args,
				    err, sizeof(err));
		if (rc != 0)
			fail_msg("case %zu (%s %s): %s", i, c->argv[0], c->argv[1], err);
		assert_int_equal(args.command, c->command);
		assert_int_equal(args.help, c->help);
	}
}

struct args_error_case {
	const char *argv[24];
	const char *message;  /* expected in the error text */
};

static const struct args_error_case error_cases[] = {
	{ ARGS("machine"), "missing command after 'machine'" },
	{ ARGS("machine", "frob"), "unknown command 'machine frob'" },
	{ ARGS("fleet", "list"), "unknown command 'fleet'" },
	{ ARGS("machine", "--json"), "unknown command 'machine --json'" },
	{ ARGS("machine", "list", "--kernel", "k"), "option --kernel does not apply to 'machine list'" },
	{ ARGS("machine", "list", "-x"), "unknown option '-x'" },
	{ ARGS("machine", "list", "--bogus"), "unknown option '--bogus'" },
	{ ARGS("machine", "list", "--state", "bogus"), "invalid --state 'bogus'" },
	{ ARGS("machine", "list", "--limit", "0"), "invalid --limit '0'" },
	{ ARGS("machine", "list", "--limit", "1001"), "invalid --limit '1001'" },
	{ ARGS("machine", "list", "--limit", "ten"), "invalid --limit 'ten'" },
	{ ARGS("machine", "list", "--mac", "52:54:00:12:34"), "invalid --mac '52:54:00:12:34'" },
	{ ARGS("machine", "list", "--mac", "52:54:00:12:34:56", "--mac", "52:54:00:12:34:57"),
	  "option --mac is given more than once" },
	{ ARGS("machine", "list", "--hostname", ""), "empty --hostname" },
	{ ARGS("machine", "list", "--json=yes"), "option --json takes no value" },
	{ ARGS("machine", "list", "--state"), "option --state requires a value" },
	{ ARGS("machine", "list", "extra"), "unexpected argument 'extra'" },
	{ ARGS("machine", "add"), "machine add needs at least one --mac" },
	{ ARGS("machine", "add", "--mac", "52:54:00:12:34:56", "--mac", "525400123456"),
	  "MAC 52:54:00:12:34:56 is given twice" },
	{ ARGS("machine", "add", "--mac", "52:54:00:00:00:01", "--mac", "52:54:00:00:00:02",
	       "--mac", "52:54:00:00:00:03", "--mac", "52:54:00:00:00:04", "--mac",
	       "52:54:00:00:00:05", "--mac", "52:54:00:00:00:06", "--mac", "52:54:00:00:00:07",
	       "--mac", "52:54:00:00:00:08", "--mac", "52:54:00:00:00:09"),
	  "too many --mac options" },
	{ ARGS("machine", "add", "--mac", "52:54:00:12:34:56", "--uuid", "nope"),
	  "invalid --uuid 'nope'" },
	{ ARGS("machine", "add", "--mac", "52:54:00:12:34:56", "--hostname", "bad_host"),
	  "invalid --hostname 'bad_host'" },
	{ ARGS("machine", "add", "--mac", "52:54:00:12:34:56", "--ip", "10.0.0.256"),
	  "invalid --ip '10.0.0.256'" },
	{ ARGS("machine", "add", "--mac", "52:54:00:12:34:56", "--arch", "sparc"),
	  "invalid --arch 'sparc'" },
	{ ARGS("machine", "add", "--mac", "52:54:00:12:34:56", "--platform", "uefi"),
	  "invalid --platform 'uefi'" },
	{ ARGS("machine", "add", "--mac", "52:54:00:12:34:56", "--profile", "Debian"),
	  "invalid --profile 'Debian'" },
	{ ARGS("machine", "add", "--mac", "52:54:00:12:34:56", "--serial",
	       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	  "--serial is 129 bytes long: the maximum is 128" },
	{ ARGS("machine", "show"), "machine show needs a machine id or MAC" },
	{ ARGS("machine", "show", "web1"), "invalid machine 'web1'" },
	{ ARGS("machine", "show", "0"), "invalid machine '0'" },
	{ ARGS("machine", "show", "1", "2"), "unexpected argument '2'" },
	{ ARGS("machine", "set", "1"), "nothing to change" },
	{ ARGS("machine", "deploy", "1", "--profile", ""), "empty --profile" },
	{ ARGS("machine", "deploy", "1", "--boot", "cdrom"),
	  "invalid --boot 'cdrom': expected network or virtual-media" },
	{ ARGS("machine", "set", "1", "--boot", "network"), "--boot" },
	{ ARGS("profile", "show", "Debian"), "invalid profile name 'Debian'" },
	{ ARGS("profile", "add", "debian12", "--kernel", "vmlinuz"),
	  "profile add needs --kernel and --initrd" },
	{ ARGS("profile", "set", "debian12", "--kernel", ""), "empty --kernel" },
	{ ARGS("profile", "set", "debian12"), "nothing to change" },
	{ ARGS("audit", "show", "--after", "-1"), "invalid --after '-1'" },
	{ ARGS("status", "--url", "https://a", "--socket", "/s"), "--url and --socket exclude" },
	{ ARGS("status", "--insecure", "--cacert", "ca.pem"), "--insecure and --cacert exclude" },
	{ ARGS("status", "--all"), "option --all does not apply to 'status'" },
};

static void
test_args_errors(void **state)
{
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(error_cases); i++) {
		const struct args_error_case *c = &error_cases[i];
		struct cli_args args;
		char err[CLI_ERROR_SIZE];
		int rc;

		rc = cli_args_parse(count_args(c->argv), (char *const *)(uintptr_t)c->argv, &args,
				    err, sizeof(err));
		if (rc != -EINVAL || strstr(err, c->message) == NULL)
			fail_msg("case %zu: rc %d, message \"%s\", expected \"%s\"", i, rc, err,
				 c->message);
	}
}

static void
test_args_canonical_values(void **state)
{
	const char *argv[] = ARGS("machine", "add", "--mac", "525400ABCDEF", "--mac=52-54-00-00-00-01",
				  "--uuid", "{4C4C4544-0042-3510-8052-B4C04F4E3632}", "--ip",
				  "2001:DB8:0:0::1");
	struct cli_args args;
	char err[CLI_ERROR_SIZE];

	(void)state;
	assert_int_equal(cli_args_parse(count_args(argv), (char *const *)(uintptr_t)argv, &args,
					err, sizeof(err)), 0);
	assert_int_equal(args.n_macs, 2);
	assert_string_equal(args.macs[0], "52:54:00:ab:cd:ef");
	assert_string_equal(args.macs[1], "52:54:00:00:00:01");
	assert_string_equal(args.uuid, "4c4c4544-0042-3510-8052-b4c04f4e3632");
	assert_string_equal(args.ip, "2001:db8::1");
}

static void
test_args_limit_and_after(void **state)
{
	const char *argv[] = ARGS("audit", "show", "--limit", "25", "--after", "900");
	struct cli_args args;
	char err[CLI_ERROR_SIZE];

	(void)state;
	assert_int_equal(cli_args_parse(count_args(argv), (char *const *)(uintptr_t)argv, &args,
					err, sizeof(err)), 0);
	assert_int_equal(args.limit, 25);
	assert_int_equal(args.after, 900);
}

struct ref_case {
	const char *text;
	int rc;
	const char *ref;
};

static const struct ref_case ref_cases[] = {
	{ "12", 0, "12" },
	{ "0012", 0, "12" },
	{ "9223372036854775807", 0, "9223372036854775807" },
	{ "9223372036854775808", -EINVAL, NULL },
	{ "0", -EINVAL, NULL },
	{ "52:54:00:AB:CD:EF", 0, "52:54:00:ab:cd:ef" },
	{ "52-54-00-ab-cd-ef", 0, "52:54:00:ab:cd:ef" },
	{ "525400abcdef", 0, "52:54:00:ab:cd:ef" },
	/* Digits only is an id, even when it would also be a MAC. */
	{ "525400123456", 0, "525400123456" },
	{ "web1", -EINVAL, NULL },
	{ "", -EINVAL, NULL },
	{ "-1", -EINVAL, NULL },
};

static void
test_ref_parse(void **state)
{
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(ref_cases); i++) {
		char ref[CLI_REF_SIZE] = "";
		int rc = cli_ref_parse(ref_cases[i].text, ref);

		if (rc != ref_cases[i].rc)
			fail_msg("'%s': rc %d, expected %d", ref_cases[i].text, rc, ref_cases[i].rc);
		if (rc == 0)
			assert_string_equal(ref, ref_cases[i].ref);
	}
}

static void
test_profile_name_valid(void **state)
{
	static const struct {
		const char *name;
		bool valid;
	} cases[] = {
		{ "debian12", true },
		{ "0day", true },
		{ "a.b_c-d", true },
		{ "a", true },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
		{ "", false },
		{ "Debian", false },
		{ "-debian", false },
		{ ".debian", false },
		{ "deb ian", false },
		{ "deb/ian", false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (cli_profile_name_valid(cases[i].name) != cases[i].valid)
			fail_msg("'%s': expected %s", cases[i].name, cases[i].valid ? "valid" : "invalid");
	}
}

/* Parse argv and build a request body with `build`; returns it as compact JSON text. */
static char *
body_for(const char *const *argv, json_t *(*build)(const struct cli_args *, bool), bool patch)
{
	struct cli_args args;
	char err[CLI_ERROR_SIZE];
	json_t *body;
	char *text;

	if (cli_args_parse(count_args(argv), (char *const *)(uintptr_t)argv, &args, err,
			   sizeof(err)) != 0)
		fail_msg("parse failed: %s", err);
	body = build(&args, patch);
	assert_non_null(body);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return text;
}

static void
test_machine_body_create(void **state)
{
	const char *argv[] = ARGS("machine", "add", "--mac", "52:54:00:12:34:56", "--mac",
				  "52:54:00:12:34:57", "--hostname", "web1", "--uuid",
				  "4C4C4544-0042-3510-8052-B4C04F4E3632", "--ip", "10.0.0.5",
				  "--profile", "debian12", "--serial", "SN1", "--vendor", "Dell",
				  "--model", "R650", "--arch", "x86_64", "--platform", "efi");
	char *text;

	(void)state;
	text = body_for(argv, cli_machine_body, false);
	assert_json_equal(text,
			  "{\"macs\": [\"52:54:00:12:34:56\", \"52:54:00:12:34:57\"], "
			  "\"hostname\": \"web1\", \"uuid\": \"4c4c4544-0042-3510-8052-b4c04f4e3632\", "
			  "\"ip\": \"10.0.0.5\", \"profile\": \"debian12\", \"serial\": \"SN1\", "
			  "\"vendor\": \"Dell\", \"model\": \"R650\", \"arch\": \"x86_64\", "
			  "\"platform\": \"efi\"}");
	free(text);
}

static void
test_machine_body_create_skips_empty(void **state)
{
	const char *argv[] = ARGS("machine", "add", "--mac", "52:54:00:12:34:56", "--hostname", "",
				  "--ip", "");
	char *text;

	(void)state;
	text = body_for(argv, cli_machine_body, false);
	assert_json_equal(text, "{\"macs\": [\"52:54:00:12:34:56\"]}");
	free(text);
}

static void
test_machine_body_patch(void **state)
{
	const char *argv[] = ARGS("machine", "set", "3", "--hostname", "", "--uuid", "",
				  "--vendor", "HPE", "--mac", "52:54:00:12:34:56", "--profile",
				  "debian12");
	char *text;

	(void)state;
	text = body_for(argv, cli_machine_body, true);
	/* --profile is not part of the patch: set assigns it through its own route. */
	assert_json_equal(text, "{\"macs\": [\"52:54:00:12:34:56\"], \"hostname\": null, "
				"\"uuid\": null, \"vendor\": \"HPE\"}");
	free(text);
}

static void
test_profile_body(void **state)
{
	const char *create[] = ARGS("profile", "add", "debian12", "--kernel", "vmlinuz",
				    "--initrd", "initrd.img", "--cmdline", "console=ttyS0");
	const char *patch[] = ARGS("profile", "set", "debian12", "--image", "", "--kernel",
				   "vmlinuz-6.1");
	char *text;

	(void)state;
	text = body_for(create, cli_profile_body, false);
	assert_json_equal(text, "{\"name\": \"debian12\", \"kernel\": \"vmlinuz\", "
				"\"initrd\": \"initrd.img\", \"cmdline\": \"console=ttyS0\"}");
	free(text);

	text = body_for(patch, cli_profile_body, true);
	assert_json_equal(text, "{\"kernel\": \"vmlinuz-6.1\", \"image\": null}");
	free(text);
}

static void
test_list_query(void **state)
{
	const char *argv[] = ARGS("machine", "list", "--state", "ready", "--profile", "deb.12",
				  "--mac", "525400123456AB", "--limit", "5");
	const char *good[] = ARGS("machine", "list", "--state", "ready", "--profile", "deb.12",
				  "--mac", "52-54-00-12-34-56", "--hostname", "web1.lab", "--limit",
				  "5");
	const char *none[] = ARGS("machine", "list");
	struct cli_args args;
	char err[CLI_ERROR_SIZE];
	struct buf query;

	(void)state;
	/* A 7-byte MAC is rejected before any query is built. */
	assert_int_equal(cli_args_parse(count_args(argv), (char *const *)(uintptr_t)argv, &args,
					err, sizeof(err)), -EINVAL);

	assert_int_equal(cli_args_parse(count_args(good), (char *const *)(uintptr_t)good, &args,
					err, sizeof(err)), 0);
	buf_init(&query, 4096);
	assert_int_equal(cli_list_query(&args, 10, &query), 0);
	assert_string_equal(query.data, "?state=ready&profile=deb.12&hostname=web1.lab"
					"&mac=52%3A54%3A00%3A12%3A34%3A56&limit=5&after=10");
	buf_free(&query);

	assert_int_equal(cli_args_parse(count_args(none), (char *const *)(uintptr_t)none, &args,
					err, sizeof(err)), 0);
	buf_init(&query, 4096);
	assert_int_equal(cli_list_query(&args, 0, &query), 0);
	assert_null(query.data);
	buf_free(&query);
}

struct url_case {
	const char *url;
	const char *base;     /* NULL when rejected */
	const char *message;  /* expected in the error when rejected */
};

static const struct url_case url_cases[] = {
	{ "https://outpost.example:8443", "https://outpost.example:8443", NULL },
	{ "https://outpost.example/", "https://outpost.example", NULL },
	{ "https://outpost.example/prefix//", "https://outpost.example/prefix", NULL },
	{ "http://127.0.0.1:8080", "http://127.0.0.1:8080", NULL },
	{ "http://127.1.2.3", "http://127.1.2.3", NULL },
	{ "http://[::1]:8080/", "http://[::1]:8080", NULL },
	{ "http://localhost:9000", "http://localhost:9000", NULL },
	{ "http://outpost.example", NULL, "refusing to send the API token over plain http" },
	{ "http://10.0.0.1:8080", NULL, "refusing to send the API token over plain http" },
	{ "http://127.0.0.1.example.com", NULL, "refusing to send the API token" },
	{ "http://[::2]", NULL, "refusing to send the API token" },
	{ "ftp://outpost.example", NULL, "expected an https:// URL" },
	{ "https://admin:secret@outpost.example", NULL, "contains a user name or password" },
	{ "https://outpost.example/?x=1", NULL, "remove the query" },
	{ "https://outpost.example/#top", NULL, "remove the query" },
	{ "outpost.example", NULL, "invalid --url 'outpost.example'" },
	{ "", NULL, "invalid --url" },
};

static void
test_url_check(void **state)
{
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(url_cases); i++) {
		const struct url_case *c = &url_cases[i];
		char err[CLI_ERROR_SIZE] = "";
		char *base = NULL;
		int rc = cli_url_check(c->url, &base, err, sizeof(err));

		if (c->base != NULL && (rc != 0 || strcmp(base, c->base) != 0))
			fail_msg("'%s': rc %d base '%s' err '%s'", c->url, rc, base ? base : "", err);
		if (c->base == NULL && (rc != -EINVAL || strstr(err, c->message) == NULL))
			fail_msg("'%s': rc %d err '%s', expected '%s'", c->url, rc, err, c->message);
		/* A rejected URL with credentials must not be echoed. */
		assert_null(strstr(err, "secret"));
		free(base);
	}
}

/* Write `text` to a new file in `dir` and return its path in `path`. */
static void
write_file(const char *dir, const char *name, const char *text, char *path, size_t size)
{
	FILE *file;

	snprintf(path, size, "%s/%s", dir, name);
	file = fopen(path, "w");
	assert_non_null(file);
	assert_int_equal(fputs(text, file) >= 0, 1);
	assert_int_equal(fclose(file), 0);
}

static void
test_token_read(void **state)
{
	struct fake_server *srv = *state;
	static const struct {
		const char *content;
		int rc;
		const char *token;
	} cases[] = {
		{ "tok-123\n", 0, "tok-123" },
		{ "tok-123  \r\nsecond line\n", 0, "tok-123" },
		{ "tok-123", 0, "tok-123" },
		{ "", -EINVAL, NULL },
		{ "\n", -EINVAL, NULL },
		{ "two words\n", -EINVAL, NULL },
		{ "tab\there\n", -EINVAL, NULL },
		{ "caf\xc3\xa9\n", -EINVAL, NULL },
	};
	char path[256];
	char err[CLI_ERROR_SIZE];
	char *token;
	char *long_token;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int rc;

		token = NULL;
		write_file(srv->dir, "token", cases[i].content, path, sizeof(path));
		rc = cli_token_read(path, &token, err, sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, expected %d (%s)", i, rc, cases[i].rc, err);
		if (rc == 0)
			assert_string_equal(token, cases[i].token);
		free(token);
		unlink(path);
	}

	/* 4096 bytes fit; one more does not. */
	long_token = malloc(4098);
	assert_non_null(long_token);
	memset(long_token, 'a', 4096);
	long_token[4096] = '\0';
	write_file(srv->dir, "token", long_token, path, sizeof(path));
	assert_int_equal(cli_token_read(path, &token, err, sizeof(err)), 0);
	assert_int_equal(strlen(token), 4096);
	free(token);
	long_token[4096] = 'a';
	long_token[4097] = '\0';
	write_file(srv->dir, "token", long_token, path, sizeof(path));
	assert_int_equal(cli_token_read(path, &token, err, sizeof(err)), -EINVAL);
	unlink(path);
	free(long_token);

	assert_int_equal(cli_token_read("/nonexistent/outpost-token", &token, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "cannot open token file '/nonexistent/outpost-token'"));
}

/* Parse argv and resolve its endpoint with the given environment values. */
static int
resolve(const char *const *argv, const char *env_socket, const char *env_token,
	struct cli_endpoint *endpoint, char *err)
{
	struct cli_args args;

	if (cli_args_parse(count_args(argv), (char *const *)(uintptr_t)argv, &args, err,
			   CLI_ERROR_SIZE) != 0)
		fail_msg("parse failed: %s", err);
	return cli_endpoint_resolve(&args, env_socket, env_token, endpoint, err, CLI_ERROR_SIZE);
}

static void
test_endpoint_resolve(void **state)
{
	const char *plain[] = ARGS("status");
	const char *socket[] = ARGS("status", "--socket", "/tmp/x.sock");
	const char *url[] = ARGS("status", "--url", "https://outpost.example:8443/",
				 "--cacert", "/etc/outpost/ca.pem");
	const char *cacert_alone[] = ARGS("status", "--cacert", "ca.pem");
	struct cli_endpoint endpoint;
	char err[CLI_ERROR_SIZE];

	(void)state;
	assert_int_equal(resolve(plain, NULL, NULL, &endpoint, err), 0);
	assert_string_equal(endpoint.socket_path, CLI_DEFAULT_SOCKET);
	assert_null(endpoint.token);
	cli_endpoint_free(&endpoint);

	assert_int_equal(resolve(plain, "/run/other.sock", "tok", &endpoint, err), 0);
	assert_string_equal(endpoint.socket_path, "/run/other.sock");
	assert_null(endpoint.token);
	cli_endpoint_free(&endpoint);

	assert_int_equal(resolve(socket, "/run/other.sock", NULL, &endpoint, err), 0);
	assert_string_equal(endpoint.socket_path, "/tmp/x.sock");
	cli_endpoint_free(&endpoint);

	assert_int_equal(resolve(url, "/run/other.sock", "env-token", &endpoint, err), 0);
	assert_null(endpoint.socket_path);
	assert_string_equal(endpoint.base_url, "https://outpost.example:8443");
	assert_string_equal(endpoint.token, "env-token");
	assert_string_equal(endpoint.cacert, "/etc/outpost/ca.pem");
	assert_false(endpoint.insecure);
	cli_endpoint_free(&endpoint);

	assert_int_equal(resolve(url, NULL, NULL, &endpoint, err), -EINVAL);
	assert_non_null(strstr(err, "--url needs an API token"));

	assert_int_equal(resolve(url, NULL, "bad token", &endpoint, err), -EINVAL);
	assert_non_null(strstr(err, "OUTPOST_TOKEN does not contain a token"));
	assert_null(strstr(err, "bad token"));

	assert_int_equal(resolve(cacert_alone, NULL, NULL, &endpoint, err), -EINVAL);
	assert_non_null(strstr(err, "apply only to a daemon named with --url"));
}

/*********************************************************************************
 * Formatting
 */

static void
test_table_alignment(void **state)
{
	static const struct cli_column columns[] = { { "A", 10 }, { "BB", 4 }, { "C", 0 } };
	const char *row1[] = { "x", "long-cell", "end" };
	const char *row2[] = { "yyy", "", NULL };
	struct cli_table table;
	struct buf out;

	(void)state;
	cli_table_init(&table, columns, ARRAY_SIZE(columns));
	assert_int_equal(cli_table_add_row(&table, row1), 0);
	assert_int_equal(cli_table_add_row(&table, row2), 0);
	buf_init(&out, 4096);
	assert_int_equal(cli_table_render(&table, &out), 0);
	assert_string_equal(out.data, "A    BB    C\n"
				      "x    lon\xe2\x80\xa6  end\n"
				      "yyy  -     -\n");
	buf_free(&out);
	cli_table_free(&table);
}

static void
test_table_counts_characters(void **state)
{
	static const struct cli_column columns[] = { { "NAME", 5 }, { "N", 0 } };
	/* "café" is 5 bytes but 4 characters; "naïveté" is 7 characters, cut to 5. */
	const char *row1[] = { "caf\xc3\xa9", "1" };
	const char *row2[] = { "na\xc3\xafvet\xc3\xa9", "2" };
	struct cli_table table;
	struct buf out;

	(void)state;
	cli_table_init(&table, columns, ARRAY_SIZE(columns));
	assert_int_equal(cli_table_add_row(&table, row1), 0);
	assert_int_equal(cli_table_add_row(&table, row2), 0);
	buf_init(&out, 4096);
	assert_int_equal(cli_table_render(&table, &out), 0);
	assert_string_equal(out.data, "NAME   N\n"
				      "caf\xc3\xa9   1\n"
				      "na\xc3\xafv\xe2\x80\xa6  2\n");
	buf_free(&out);
	cli_table_free(&table);
}

static void
test_table_header_only(void **state)
{
	static const struct cli_column columns[] = { { "ID", 10 }, { "STATE", 15 } };
	struct cli_table table;
	struct buf out;

	(void)state;
	cli_table_init(&table, columns, ARRAY_SIZE(columns));
	buf_init(&out, 4096);
	assert_int_equal(cli_table_render(&table, &out), 0);
	assert_string_equal(out.data, "ID  STATE\n");
	buf_free(&out);
	cli_table_free(&table);
}

static void
test_sanitize(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "plain text", "plain text" },
		{ "a\x1b[31mred", "a?[31mred" },
		{ "line\nbreak\ttab\r", "line?break?tab?" },
		{ "del\x7f", "del?" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "next\xc2\x85line", "next?line" },           /* C1 control NEL */
		{ "rl\xe2\x80\xaeo", "rl?o" },                 /* right-to-left override */
		{ "lre\xe2\x80\xaax", "lre?x" },               /* U+202A, first embedding */
		{ "fsi\xe2\x81\xa8x", "fsi?x" },               /* U+2068, first strong isolate */
		{ "pdi\xe2\x81\xa9x", "pdi?x" },               /* U+2069, last isolate */
		{ "zw\xe2\x80\x8bsp", "zw?sp" },               /* U+200B zero-width space */
		{ "lrm\xe2\x80\x8ex", "lrm?x" },               /* U+200E left-to-right mark */
		{ "rlm\xe2\x80\x8fx", "rlm?x" },               /* U+200F right-to-left mark */
		{ "alm\xd8\x9cx", "alm?x" },                    /* U+061C Arabic letter mark */
		{ "ls\xe2\x80\xa8x", "ls?x" },                 /* U+2028 line separator */
		{ "ps\xe2\x80\xa9x", "ps?x" },                 /* U+2029 paragraph separator */
		{ "\xef\xbb\xbf" "bom", "?bom" },                /* U+FEFF byte order mark */
		{ "zwnj\xe2\x80\x8cx", "zwnj\xe2\x80\x8cx" }, /* U+200C joins scripts, kept */
		{ "arabic\xd8\x9bx", "arabic\xd8\x9bx" },       /* U+061B semicolon, kept */
		{ "ellipsis\xe2\x80\xa6", "ellipsis\xe2\x80\xa6" }, /* U+2026, kept */
		{ "bad\xff", "bad?" },
		{ "overlong\xc0\xaf", "overlong??" },
		{ "surrogate\xed\xa0\x80", "surrogate???" },
		{ "cut\xe2\x80", "cut??" },
		{ "emoji\xf0\x9f\x98\x80", "emoji\xf0\x9f\x98\x80" },
		{ "", "" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf out;

		buf_init(&out, 4096);
		assert_int_equal(cli_sanitize(cases[i].in, &out), 0);
		assert_string_equal(out.data != NULL ? out.data : "", cases[i].out);
		buf_free(&out);
	}
}

/* Parse `text` as JSON and render it with `render`; returns the output. */
static char *
render_text(const char *text, int (*render)(json_t *, struct buf *))
{
	json_t *json = json_loads(text, 0, NULL);
	struct buf out;

	assert_non_null(json);
	buf_init(&out, 1024 * 1024);
	assert_int_equal(render(json, &out), 0);
	json_decref(json);
	return buf_steal(&out);
}

static int
render_machines_mutable(json_t *items, struct buf *out)
{
	return cli_render_machines(items, out);
}

static int
render_audit_mutable(json_t *items, struct buf *out)
{
	return cli_render_audit(items, out);
}

static void
test_render_machines(void **state)
{
	char *text;

	(void)state;
	text = render_text("[" MACHINE_1 ", " MACHINE_2 "]", render_machines_mutable);
	assert_string_equal(text,
		"ID  STATE       HOSTNAME  IP        MACS                                 PROFILE   ARCH/PLATFORM\n"
		"1   ready       web1      10.0.0.5  52:54:00:12:34:56                    debian12  x86_64/efi\n"
		"2   discovered  -         -         52:54:00:aa:bb:01,52:54:00:aa:bb:0\xe2\x80\xa6  -         arm64/-\n");
	free(text);
}

static void
test_render_machines_rejects_non_array(void **state)
{
	json_t *json = json_loads("{\"items\": []}", 0, NULL);
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(cli_render_machines(json, &out), -EINVAL);
	buf_free(&out);
	json_decref(json);
}

static void
test_render_machine_fields(void **state)
{
	char *text;

	(void)state;
	text = render_text(MACHINE_2, cli_render_machine);
	assert_string_equal(text,
			    "id:        2\n"
			    "state:     discovered\n"
			    "hostname:  -\n"
			    "ip:        -\n"
			    "macs:      52:54:00:aa:bb:01,52:54:00:aa:bb:02,52:54:00:aa:bb:03\n"
			    "uuid:      4c4c4544-0042-3510-8052-b4c04f4e3632\n"
			    "profile:   -\n"
			    "arch:      arm64\n"
			    "platform:  -\n"
			    "serial:    SN1\n"
			    "vendor:    Dell\n"
			    "model:     R650\n"
			    "inventory: {\"cpus\":2}\n"
			    "created:   2026-12-04T20:09:23Z\n"
			    "updated:   2026-12-04T20:10:00Z\n");
	free(text);
}

static void
test_render_fields_extra_keys(void **state)
{
	static const struct cli_field fields[] = { { "b", "bee" }, { NULL, NULL } };
	json_t *json = json_loads("{\"a\": \"x\\u001b\", \"b\": 2, \"long_key\": [1, \"two\"]}", 0,
				  NULL);
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(cli_render_fields(json, fields, &out), 0);
	/* Listed fields first, then the others in the server's order, sanitised. */
	assert_string_equal(out.data, "bee:      2\n"
				      "a:        x?\n"
				      "long_key: 1,two\n");
	buf_free(&out);
	json_decref(json);
}

static void
test_render_fields_cuts_objects(void **state)
{
	static const struct cli_field fields[] = { { NULL, NULL } };
	json_t *json = json_pack("{s:{s:s}}", "inventory", "k",
				 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	struct buf out;
	const char *value;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(cli_render_fields(json, fields, &out), 0);
	value = out.data + strlen("inventory: ");
	/* 159 characters and the three-byte ellipsis, then the newline. */
	assert_int_equal(strlen(value), 159 + 3 + 1);
	assert_memory_equal(value + 159, "\xe2\x80\xa6\n", 4);
	buf_free(&out);
	json_decref(json);
}

static void
test_render_audit(void **state)
{
	char *text;

	(void)state;
	text = render_text("[{\"seq\": 1, \"at\": \"2026-12-04T20:09:23Z\", \"actor\": "
			   "\"local:uid=0\", \"action\": \"machine.create\", \"target\": "
			   "\"machine:1\", \"risk\": \"change\", \"outcome\": \"ok\", "
			   "\"detail\": null, \"prev_hash\": \"00\", \"hash\": \"ab\"}]",
			   render_audit_mutable);
	assert_string_equal(text,
		"SEQ  AT                    ACTOR        ACTION          TARGET     RISK    OUTCOME  DETAIL\n"
		"1    2026-12-04T20:09:23Z  local:uid=0  machine.create  machine:1  change  ok       -\n");
	free(text);
}

static void
test_render_status(void **state)
{
	char *text;

	(void)state;
	text = render_text("{\"version\": \"0.1.0\", \"uptime_seconds\": 93784, "
			   "\"schema_version\": 3, \"machines\": {\"discovered\": 2, \"ready\": 5}, "
			   "\"audit_entries\": 41}",
			   cli_render_status);
	assert_string_equal(text, "version:        0.1.0\n"
				  "uptime:         1d 2h 3m 4s\n"
				  "schema version: 3\n"
				  "audit entries:  41\n"
				  "machines:\n"
				  "  discovered:   2\n"
				  "  ready:        5\n");
	free(text);
}

static void
test_render_verify(void **state)
{
	static const struct {
		const char *json;
		int rc;
		bool intact;
		const char *text;
	} cases[] = {
		{ "{\"entries\": 3, \"intact\": true, \"bad_seq\": null, \"reason\": null}", 0, true,
		  "audit chain intact: 3 entries\n" },
		{ "{\"entries\": 1, \"intact\": true, \"bad_seq\": null, \"reason\": null}", 0, true,
		  "audit chain intact: 1 entry\n" },
		{ "{\"entries\": 3, \"intact\": false, \"bad_seq\": 2, \"reason\": \"hash mismatch\"}",
		  0, false, "audit chain broken at entry 2: hash mismatch\n" },
		{ "{\"entries\": 3, \"intact\": false, \"bad_seq\": null, \"reason\": null}", 0, false,
		  "audit chain broken: the server gave no reason\n" },
		{ "{\"entries\": 3}", -EINVAL, false, NULL },
		{ "{\"intact\": true}", -EINVAL, false, NULL },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *json = json_loads(cases[i].json, 0, NULL);
		bool intact = !cases[i].intact;
		struct buf out;

		buf_init(&out, 4096);
		assert_int_equal(cli_render_verify(json, &out, &intact), cases[i].rc);
		if (cases[i].rc == 0) {
			assert_int_equal(intact, cases[i].intact);
			assert_string_equal(out.data, cases[i].text);
		}
		buf_free(&out);
		json_decref(json);
	}
}

static void
test_error_text(void **state)
{
	static const struct {
		long status;
		const char *body;
		const char *text;
	} cases[] = {
		{ 404, "{\"error\": \"not_found\", \"detail\": \"machine 9 not found\"}",
		  "machine 9 not found" },
		{ 409, "{\"error\": \"conflict\"}", "conflict" },
		{ 400, "{\"error\": \"invalid_field\", \"detail\": \"\"}", "invalid_field" },
		{ 502, "<html>Bad Gateway</html>", "server returned HTTP 502" },
		{ 500, "", "server returned HTTP 500" },
		{ 400, "{\"detail\": \"bad\\u001b[2J\"}", "bad?[2J" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf out;

		buf_init(&out, 4096);
		assert_int_equal(cli_error_text(cases[i].status, cases[i].body,
						strlen(cases[i].body), &out), 0);
		assert_string_equal(out.data, cases[i].text);
		buf_free(&out);
	}
}

static void
test_exit_for_status(void **state)
{
	static const struct {
		long status;
		int exit_code;
	} cases[] = {
		{ 200, CLI_EXIT_OK }, { 201, CLI_EXIT_OK }, { 202, CLI_EXIT_OK },
		{ 204, CLI_EXIT_OK }, { 301, CLI_EXIT_REJECTED }, { 400, CLI_EXIT_REJECTED },
		{ 401, CLI_EXIT_REJECTED }, { 403, CLI_EXIT_REJECTED },
		{ 404, CLI_EXIT_NOT_FOUND }, { 409, CLI_EXIT_CONFLICT },
		{ 413, CLI_EXIT_REJECTED }, { 500, CLI_EXIT_REJECTED },
		{ 503, CLI_EXIT_REJECTED }, { 507, CLI_EXIT_REJECTED },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (cli_exit_for_status(cases[i].status) != cases[i].exit_code)
			fail_msg("HTTP %ld: expected exit %d", cases[i].status, cases[i].exit_code);
	}
}

/*********************************************************************************
 * cli_main against the canned server
 */

static void
test_run_status_ok(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/status", 200,
		     "{\"version\": \"0.1.0\", \"uptime_seconds\": 5, \"schema_version\": 1, "
		     "\"machines\": {\"ready\": 1}, \"audit_entries\": 0}");
	run_cli(&r, "status", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_non_null(strstr(r.out, "version:        0.1.0\n"));
	assert_non_null(strstr(r.out, "  ready:        1\n"));
	assert_string_equal(r.err, "");
	assert_int_equal(srv->n_requests, 1);
	assert_string_equal(srv->requests[0].authorization, "");
}

static void
test_run_env_socket(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/status", 200, "{\"version\": \"0.1.0\"}");
	setenv("OUTPOST_SOCKET", srv->socket_path, 1);
	run_cli(&r, "status", NULL);
	unsetenv("OUTPOST_SOCKET");
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(r.out, "version: 0.1.0\n");
}

static void
test_run_add_created(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "POST", "/api/v1/machines", 201, MACHINE_1);
	run_cli(&r, "machine", "add", "--mac", "52-54-00-12-34-56", "--hostname", "web1",
		"--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_int_equal(srv->n_requests, 1);
	assert_string_equal(srv->requests[0].method, "POST");
	assert_json_equal(srv->requests[0].body,
			  "{\"macs\": [\"52:54:00:12:34:56\"], \"hostname\": \"web1\"}");
	assert_non_null(strstr(r.out, "id:        1\n"));
	assert_non_null(strstr(r.out, "state:     ready\n"));
}

static void
test_run_show_not_found(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/machines/99", 404,
		     "{\"error\": \"not_found\", \"detail\": \"machine 99 not found\"}");
	run_cli(&r, "machine", "show", "99", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_NOT_FOUND);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "outpost: machine 99 not found\n");
}

static void
test_run_show_by_mac(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/machines/52:54:00:12:34:56", 200, MACHINE_1);
	run_cli(&r, "machine", "show", "525400123456", "--socket", srv->socket_path, NULL);
	/* All digits: read as id 525400123456, which the server does not know. */
	assert_int_equal(r.exit_code, CLI_EXIT_NOT_FOUND);
	assert_string_equal(srv->requests[0].uri, "/api/v1/machines/525400123456");

	run_cli(&r, "machine", "show", "52-54-00-12-34-56", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(srv->requests[1].uri, "/api/v1/machines/52:54:00:12:34:56");
	assert_non_null(strstr(r.out, "hostname:  web1\n"));
}

static void
test_run_add_conflict(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "POST", "/api/v1/machines", 409,
		     "{\"error\": \"conflict\", \"detail\": \"MAC 52:54:00:12:34:56 is already "
		     "used by machine 1\"}");
	run_cli(&r, "machine", "add", "--mac", "52:54:00:12:34:56", "--socket", srv->socket_path,
		NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_CONFLICT);
	assert_string_equal(r.err,
			    "outpost: MAC 52:54:00:12:34:56 is already used by machine 1\n");
}

static void
test_run_server_error(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/status", 500,
		     "{\"error\": \"internal\", \"detail\": \"internal error; see the daemon's log\"}");
	run_cli(&r, "status", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_REJECTED);
	assert_string_equal(r.err, "outpost: internal error; see the daemon's log\n");
}

static void
test_run_bad_request(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "PATCH", "/api/v1/machines/4", 400,
		     "{\"error\": \"invalid_field\", \"detail\": \"field vendor: expected a string\"}");
	run_cli(&r, "machine", "set", "4", "--vendor", "x", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_REJECTED);
	assert_string_equal(r.err, "outpost: field vendor: expected a string\n");
}

static void
test_run_invalid_json_reply(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/status", 200, "not json");
	run_cli(&r, "status", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_REJECTED);
	assert_non_null(strstr(r.err, "is not valid JSON"));
}

static void
test_run_empty_reply(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/machines/1", 200, NULL);
	run_cli(&r, "machine", "show", "1", "--json", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_REJECTED);
	assert_string_equal(r.err, "outpost: the server's reply is empty\n");
	assert_string_equal(r.out, "");
}

static void
test_run_refused(void **state)
{
	struct fake_server *srv = *state;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char path[96];
	struct run_output r;
	int fd;

	/* A bound socket without a listener refuses connections. */
	snprintf(path, sizeof(path), "%s/refusing.sock", srv->dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);

	run_cli(&r, "status", "--socket", path, NULL);
	close(fd);
	unlink(path);
	assert_int_equal(r.exit_code, CLI_EXIT_UNREACHABLE);
	assert_non_null(strstr(r.err, "cannot reach the daemon at"));
	assert_non_null(strstr(r.err, "Connection refused"));
}

static void
test_run_missing_socket(void **state)
{
	struct fake_server *srv = *state;
	char path[96];
	struct run_output r;

	snprintf(path, sizeof(path), "%s/absent.sock", srv->dir);
	run_cli(&r, "machine", "list", "--socket", path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_UNREACHABLE);
	assert_non_null(strstr(r.err, "No such file or directory"));
	assert_string_equal(r.out, "");
}

static void
test_run_json_passthrough(void **state)
{
	struct fake_server *srv = *state;
	const char *body = "{\"items\": [" MACHINE_1 "], \"next\": null}";
	json_t *json = json_loads(body, 0, NULL);
	char *pretty = json_dumps(json, JSON_INDENT(2));
	struct run_output r;

	server_route(srv, "GET", "/api/v1/machines", 200, body);
	run_cli(&r, "machine", "list", "--json", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_json_equal(r.out, body);
	/* Indented, and in the server's key order. */
	assert_int_equal(strncmp(r.out, pretty, strlen(pretty)), 0);
	assert_string_equal(r.out + strlen(pretty), "\n");
	assert_true(strstr(r.out, "\"id\"") < strstr(r.out, "\"macs\""));
	free(pretty);
	json_decref(json);
}

static void
test_run_list_table(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/machines?state=ready&limit=1", 200,
		     "{\"items\": [" MACHINE_1 "], \"next\": 1}");
	run_cli(&r, "machine", "list", "--state", "ready", "--limit", "1", "--socket",
		srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(r.out,
		"ID  STATE  HOSTNAME  IP        MACS               PROFILE   ARCH/PLATFORM\n"
		"1   ready  web1      10.0.0.5  52:54:00:12:34:56  debian12  x86_64/efi\n");
	assert_string_equal(r.err, "outpost: more machines follow: add --all to list every page\n");
}

static void
test_run_list_all_pages(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/machines?limit=1", 200,
		     "{\"items\": [" MACHINE_1 "], \"next\": 1}");
	server_route(srv, "GET", "/api/v1/machines?limit=1&after=1", 200,
		     "{\"items\": [" MACHINE_2 "], \"next\": null}");
	run_cli(&r, "machine", "list", "--all", "--limit", "1", "--json", "--socket",
		srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_int_equal(srv->n_requests, 2);
	assert_json_equal(r.out, "{\"items\": [" MACHINE_1 ", " MACHINE_2 "], \"next\": null}");
	assert_string_equal(r.err, "");
}

static void
test_run_list_cursor_must_advance(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/machines", 200,
		     "{\"items\": [" MACHINE_1 "], \"next\": 1}");
	server_route(srv, "GET", "/api/v1/machines?after=1", 200,
		     "{\"items\": [" MACHINE_1 "], \"next\": 1}");
	run_cli(&r, "machine", "list", "--all", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_REJECTED);
	assert_int_equal(srv->n_requests, 2);
	assert_non_null(strstr(r.err, "does not move past 1"));
}

static void
test_run_set_with_profile(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "PATCH", "/api/v1/machines/52:54:00:12:34:56", 200, MACHINE_1);
	server_route(srv, "PUT", "/api/v1/machines/1/profile", 200, MACHINE_1);
	run_cli(&r, "machine", "set", "52:54:00:12:34:56", "--hostname", "", "--profile",
		"debian12", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_int_equal(srv->n_requests, 2);
	assert_string_equal(srv->requests[0].method, "PATCH");
	assert_json_equal(srv->requests[0].body, "{\"hostname\": null}");
	/* The profile goes to the id the patch returned. */
	assert_string_equal(srv->requests[1].method, "PUT");
	assert_string_equal(srv->requests[1].uri, "/api/v1/machines/1/profile");
	assert_json_equal(srv->requests[1].body, "{\"profile\": \"debian12\"}");
}

static void
test_run_set_profile_only(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "PUT", "/api/v1/machines/1/profile", 200, MACHINE_2);
	run_cli(&r, "machine", "set", "1", "--profile", "", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_int_equal(srv->n_requests, 1);
	assert_json_equal(srv->requests[0].body, "{\"profile\": null}");
}

static void
test_run_deploy_accepted(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "POST", "/api/v1/machines/1/deploy", 202, MACHINE_1);
	run_cli(&r, "machine", "deploy", "1", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_json_equal(srv->requests[0].body, "{}");

	run_cli(&r, "machine", "deploy", "1", "--profile", "debian12", "--socket",
		srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_json_equal(srv->requests[1].body, "{\"profile\": \"debian12\"}");

	run_cli(&r, "machine", "deploy", "1", "--boot", "virtual-media", "--socket",
		srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_json_equal(srv->requests[2].body, "{\"boot\": \"virtual-media\"}");
}

static void
test_run_deploy_conflict(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "POST", "/api/v1/machines/1/deploy", 409,
		     "{\"error\": \"conflict\", \"detail\": \"machine 1 is deploying\"}");
	run_cli(&r, "machine", "deploy", "1", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_CONFLICT);
	assert_string_equal(r.err, "outpost: machine 1 is deploying\n");
}

static void
test_run_rm_no_content(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "DELETE", "/api/v1/machines/5", 204, NULL);
	run_cli(&r, "machine", "rm", "5", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(r.out, "machine 5 deleted\n");
	assert_string_equal(srv->requests[0].method, "DELETE");
}

static void
test_run_profiles(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/profiles", 200, "{\"items\": [" PROFILE_1 "], \"next\": null}");
	server_route(srv, "POST", "/api/v1/profiles", 201, PROFILE_1);
	server_route(srv, "GET", "/api/v1/profiles/debian12", 200, PROFILE_1);
	run_cli(&r, "profile", "list", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(r.out, "NAME      KERNEL   INITRD      IMAGE          CMDLINE\n"
				   "debian12  vmlinuz  initrd.img  debian-12.img  console=ttyS0\n");

	run_cli(&r, "profile", "add", "debian12", "--kernel", "vmlinuz", "--initrd", "initrd.img",
		"--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_json_equal(srv->requests[1].body, "{\"name\": \"debian12\", \"kernel\": \"vmlinuz\", "
						 "\"initrd\": \"initrd.img\"}");

	run_cli(&r, "profile", "show", "debian12", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_non_null(strstr(r.out, "cmdline:   console=ttyS0\n"));
}

static void
test_run_audit(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/audit?limit=1&after=4", 200,
		     "{\"items\": [{\"seq\": 5, \"at\": \"2026-12-04T20:09:23Z\", \"actor\": "
		     "\"token:ops\", \"action\": \"machine.deploy\", \"target\": \"machine:1\", "
		     "\"risk\": \"destructive\", \"outcome\": \"ok\", \"detail\": \"\", "
		     "\"prev_hash\": \"aa\", \"hash\": \"bb\"}], \"next\": 5}");
	run_cli(&r, "audit", "show", "--after", "4", "--limit", "1", "--socket", srv->socket_path,
		NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_non_null(strstr(r.out, "5    2026-12-04T20:09:23Z  token:ops  machine.deploy"));
	assert_string_equal(r.err, "outpost: more entries follow: outpost audit show --after 5\n");
}

static void
test_run_verify(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/audit/verify", 200,
		     "{\"entries\": 7, \"intact\": true, \"bad_seq\": null, \"reason\": null}");
	run_cli(&r, "audit", "verify", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(r.out, "audit chain intact: 7 entries\n");
}

static void
test_run_verify_broken(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/audit/verify", 200,
		     "{\"entries\": 7, \"intact\": false, \"bad_seq\": 4, "
		     "\"reason\": \"prev_hash does not match entry 3\"}");
	run_cli(&r, "audit", "verify", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_AUDIT_BROKEN);
	assert_string_equal(r.out, "audit chain broken at entry 4: prev_hash does not match entry 3\n");

	/* --json prints the reply and keeps the exit code. */
	run_cli(&r, "audit", "verify", "--json", "--socket", srv->socket_path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_AUDIT_BROKEN);
	assert_json_equal(r.out, "{\"entries\": 7, \"intact\": false, \"bad_seq\": 4, "
				 "\"reason\": \"prev_hash does not match entry 3\"}");
}

static void
test_run_usage_error_sends_nothing(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	run_cli(&r, "machine", "add", "--mac", "52:54:00:12:34:5g", "--socket", srv->socket_path,
		NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_USAGE);
	assert_string_equal(r.err, "outpost: invalid --mac '52:54:00:12:34:5g': expected six hex "
				   "bytes such as 52:54:00:12:34:56\n"
				   "Try 'outpost machine add --help'.\n");
	assert_int_equal(srv->n_requests, 0);
}

static void
test_run_help(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	run_cli(&r, "machine", "list", "--help", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_non_null(strstr(r.out, "Usage: outpost machine list"));
	assert_non_null(strstr(r.out, "--all"));
	assert_non_null(strstr(r.out, "  6  audit verify found the audit chain broken\n"));

	run_cli(&r, "machine", "add", "-h", NULL);
	assert_non_null(strstr(r.out, "--platform P"));

	run_cli(&r, "profile", "--help", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_non_null(strstr(r.out, "Usage: outpost profile COMMAND"));
	assert_int_equal(srv->n_requests, 0);
}

static void
test_run_token_over_loopback_http(void **state)
{
	struct fake_server *srv = *state;
	char url[64];
	char path[256];
	struct run_output r;

	server_listen_tcp(srv, false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", srv->port);
	server_route(srv, "GET", "/api/v1/status", 200, "{\"version\": \"0.1.0\"}");
	server_route(srv, "GET", "/api/v1/machines/1", 401,
		     "{\"error\": \"unauthorized\", \"detail\": \"the token is not valid\"}");
	write_file(srv->dir, "token", "s3cret-token-value\n", path, sizeof(path));

	run_cli(&r, "status", "--url", url, "--token-file", path, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(srv->requests[0].authorization, "Bearer s3cret-token-value");

	/* OUTPOST_TOKEN replaces --token-file, and no message contains the token. */
	setenv("OUTPOST_TOKEN", "s3cret-token-value", 1);
	run_cli(&r, "machine", "show", "1", "--url", url, NULL);
	unsetenv("OUTPOST_TOKEN");
	unlink(path);
	assert_int_equal(r.exit_code, CLI_EXIT_REJECTED);
	assert_string_equal(srv->requests[1].authorization, "Bearer s3cret-token-value");
	assert_string_equal(r.err, "outpost: the token is not valid\n");
	assert_null(strstr(r.out, "s3cret"));
}

static void
test_run_plain_http_refused(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	setenv("OUTPOST_TOKEN", "s3cret-token-value", 1);
	run_cli(&r, "status", "--url", "http://192.0.2.1:8443", NULL);
	unsetenv("OUTPOST_TOKEN");
	assert_int_equal(r.exit_code, CLI_EXIT_USAGE);
	assert_non_null(strstr(r.err, "refusing to send the API token over plain http"));
	assert_null(strstr(r.err, "s3cret"));
	assert_int_equal(srv->n_requests, 0);
}

static void
test_run_https(void **state)
{
	struct fake_server *srv = *state;
	char url[64];
	char cacert[256];
	struct run_output r;

	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		skip();

	server_listen_tcp(srv, true);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/", srv->port);
	server_route(srv, "GET", "/api/v1/status", 200, "{\"version\": \"0.1.0\"}");
	write_file(srv->dir, "ca.pem", test_cert_pem, cacert, sizeof(cacert));
	setenv("OUTPOST_TOKEN", "s3cret-token-value", 1);

	run_cli(&r, "status", "--url", url, "--cacert", cacert, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(r.out, "version: 0.1.0\n");
	assert_string_equal(srv->requests[0].authorization, "Bearer s3cret-token-value");

	/* The system store does not know the test certificate. */
	run_cli(&r, "status", "--url", url, NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_UNREACHABLE);
	assert_non_null(strstr(r.err, "cannot reach the daemon at https://127.0.0.1:"));
	assert_non_null(strstr(r.err, "pass the daemon's CA or certificate with --cacert"));

	run_cli(&r, "status", "--url", url, "--insecure", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_non_null(strstr(r.err, "warning: --insecure"));
	assert_null(strstr(r.err, "s3cret"));

	unsetenv("OUTPOST_TOKEN");
	unlink(cacert);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_valid),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_args_canonical_values),
		cmocka_unit_test(test_args_limit_and_after),
		cmocka_unit_test(test_ref_parse),
		cmocka_unit_test(test_profile_name_valid),
		cmocka_unit_test(test_machine_body_create),
		cmocka_unit_test(test_machine_body_create_skips_empty),
		cmocka_unit_test(test_machine_body_patch),
		cmocka_unit_test(test_profile_body),
		cmocka_unit_test(test_list_query),
		cmocka_unit_test(test_url_check),
		SERVER_TEST(test_token_read),
		cmocka_unit_test(test_endpoint_resolve),
		cmocka_unit_test(test_table_alignment),
		cmocka_unit_test(test_table_counts_characters),
		cmocka_unit_test(test_table_header_only),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_render_machines),
		cmocka_unit_test(test_render_machines_rejects_non_array),
		cmocka_unit_test(test_render_machine_fields),
		cmocka_unit_test(test_render_fields_extra_keys),
		cmocka_unit_test(test_render_fields_cuts_objects),
		cmocka_unit_test(test_render_audit),
		cmocka_unit_test(test_render_status),
		cmocka_unit_test(test_render_verify),
		cmocka_unit_test(test_error_text),
		cmocka_unit_test(test_exit_for_status),
		SERVER_TEST(test_run_status_ok),
		SERVER_TEST(test_run_env_socket),
		SERVER_TEST(test_run_add_created),
		SERVER_TEST(test_run_show_not_found),
		SERVER_TEST(test_run_show_by_mac),
		SERVER_TEST(test_run_add_conflict),
		SERVER_TEST(test_run_server_error),
		SERVER_TEST(test_run_bad_request),
		SERVER_TEST(test_run_invalid_json_reply),
		SERVER_TEST(test_run_empty_reply),
		SERVER_TEST(test_run_refused),
		SERVER_TEST(test_run_missing_socket),
		SERVER_TEST(test_run_json_passthrough),
		SERVER_TEST(test_run_list_table),
		SERVER_TEST(test_run_list_all_pages),
		SERVER_TEST(test_run_list_cursor_must_advance),
		SERVER_TEST(test_run_set_with_profile),
		SERVER_TEST(test_run_set_profile_only),
		SERVER_TEST(test_run_deploy_accepted),
		SERVER_TEST(test_run_deploy_conflict),
		SERVER_TEST(test_run_rm_no_content),
		SERVER_TEST(test_run_profiles),
		SERVER_TEST(test_run_audit),
		SERVER_TEST(test_run_verify),
		SERVER_TEST(test_run_verify_broken),
		SERVER_TEST(test_run_usage_error_sends_nothing),
		SERVER_TEST(test_run_help),
		SERVER_TEST(test_run_token_over_loopback_http),
		SERVER_TEST(test_run_plain_http_refused),
		SERVER_TEST(test_run_https),
	};

	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
