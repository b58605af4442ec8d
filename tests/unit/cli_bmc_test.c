/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for src/cli/cli_bmc*.c: argument parsing, request bodies, the password
 * sources and the renderers as pure functions, then cli_bmc_main against the canned
 * API server of cli_fixture.c. A route there can reply a fixed number of times, so an
 * operation can be "running" for a few polls and then end.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "cli/cli.h"

#include "cli_fixture.h"

#define FINGERPRINT "e0b95221e94b40aa6eb4eb4b0654412ad13d603d1f566d7fd01344f7fcf4fa79"

/* Parse argv into *args; returns the parser's result with its message in err. */
static int
parse(const char *const *argv, struct cli_bmc_args *args, char *err, size_t err_size)
{
	char **copy = argv_copy(argv);
	int rc = cli_bmc_args_parse(count_args(argv), copy, args, err, err_size);

	/* The parsed args point into the copy, so tests read only non-borrowed fields. */
	argv_free(copy);
	return rc;
}

/*********************************************************************************
 * Argument parsing
 */

struct valid_case {
	const char *argv[20];
	enum cli_bmc_command command;
	bool help;
};

static const struct valid_case valid_cases[] = {
	{ ARGS("bmc", "add", "--protocol", "redfish", "--address", "10.0.0.5", "--user", "admin"),
	  CLI_BMC_ADD, false },
	{ ARGS("bmc", "add", "--protocol", "ipmi", "--address", "bmc1.example", "--port", "623",
	       "--user", "admin", "--password-file", "/tmp/pw", "--machine", "52:54:00:12:34:56",
	       "--no-wait"),
	  CLI_BMC_ADD, false },
	{ ARGS("bmc", "add", "--protocol=redfish", "--address=[::1]", "--user=admin",
	       "--tls=pinned", "--fingerprint=" FINGERPRINT, "--ca-file=/etc/ca.pem"),
	  CLI_BMC_ADD, false },
	{ ARGS("bmc", "list"), CLI_BMC_LIST, false },
	{ ARGS("bmc", "list", "--machine", "7", "--json"), CLI_BMC_LIST, false },
	{ ARGS("bmc", "show", "3"), CLI_BMC_SHOW, false },
	{ ARGS("bmc", "show", "--", "3"), CLI_BMC_SHOW, false },
	{ ARGS("bmc", "set", "3", "--port", "8443"), CLI_BMC_SET, false },
	{ ARGS("bmc", "set", "3", "--machine", ""), CLI_BMC_SET, false },
	{ ARGS("bmc", "rm", "3"), CLI_BMC_RM, false },
	{ ARGS("bmc", "verify", "3", "--wait-timeout", "5"), CLI_BMC_VERIFY, false },
	{ ARGS("bmc", "power", "3", "on"), CLI_BMC_POWER, false },
	{ ARGS("bmc", "power", "3", "status"), CLI_BMC_POWER, false },
	{ ARGS("bmc", "power", "3", "off", "--yes"), CLI_BMC_POWER, false },
	{ ARGS("bmc", "power", "--yes", "3", "cycle"), CLI_BMC_POWER, false },
	{ ARGS("bmc", "boot", "3", "pxe", "--mode", "uefi"), CLI_BMC_BOOT, false },
	{ ARGS("bmc", "media", "3", "insert", "https://10.0.0.1/x.iso"), CLI_BMC_MEDIA, false },
	{ ARGS("bmc", "media", "3", "eject"), CLI_BMC_MEDIA, false },
	{ ARGS("bmc", "media", "3", "status"), CLI_BMC_MEDIA, false },
	{ ARGS("bmc", "sensors", "3", "--json"), CLI_BMC_SENSORS, false },
	{ ARGS("bmc", "inventory", "3"), CLI_BMC_INVENTORY, false },
	{ ARGS("bmc", "events", "3"), CLI_BMC_EVENTS, false },
	{ ARGS("bmc", "firmware", "3", "HTTP://10.0.0.1/fw.bin", "--yes"), CLI_BMC_FIRMWARE,
	  false },
	{ ARGS("bmc", "operation", "42"), CLI_BMC_OPERATION, false },
	{ ARGS("machine", "power", "52-54-00-12-34-56", "on"), CLI_BMC_MACHINE_POWER, false },
	{ ARGS("machine", "power", "7", "reset", "--yes", "--no-wait"), CLI_BMC_MACHINE_POWER,
	  false },
	{ ARGS("bmc", "--help"), CLI_BMC_INVALID, true },
	{ ARGS("bmc", "-h"), CLI_BMC_INVALID, true },
	{ ARGS("bmc", "power", "--help"), CLI_BMC_POWER, true },
	{ ARGS("bmc", "power", "3", "off", "-h"), CLI_BMC_POWER, true },
	{ ARGS("bmc", "add", "--bogus", "--help"), CLI_BMC_ADD, true },
	{ ARGS("machine", "power", "--help"), CLI_BMC_MACHINE_POWER, true },
};

static void
test_args_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++) {
		const struct valid_case *c = &valid_cases[i];
		struct cli_bmc_args args;
		char err[CLI_ERROR_SIZE];

		if (parse(c->argv, &args, err, sizeof(err)) != 0)
			fail_msg("case %zu (%s %s): %s", i, c->argv[0], c->argv[1], err);
		if (args.command != c->command || args.help != c->help)
			fail_msg("case %zu: command %d help %d, expected %d and %d", i, args.command,
				 args.help, c->command, c->help);
	}
}

struct error_case {
	const char *argv[20];
	const char *message;  /* expected in the error text */
};

static const struct error_case error_cases[] = {
	{ ARGS("bmc"), "missing command after 'bmc'" },
	{ ARGS("bmc", "frob"), "unknown command 'bmc frob'" },
	{ ARGS("machine", "list"), "expected 'machine power REF ACTION'" },
	{ ARGS("bmc", "show"), "missing arguments: expected 'outpost bmc show ID'" },
	{ ARGS("bmc", "power", "3"), "expected 'outpost bmc power ID on|off|shutdown|" },
	{ ARGS("bmc", "show", "abc"), "invalid BMC id 'abc'" },
	{ ARGS("bmc", "show", "0"), "invalid BMC id '0'" },
	{ ARGS("bmc", "show", "-1"), "unknown option '-1'" },
	{ ARGS("bmc", "show", "1", "2"), "unexpected argument '2'" },
	{ ARGS("bmc", "operation", "x"), "invalid operation id 'x'" },
	{ ARGS("bmc", "power", "3", "explode"), "invalid power action 'explode'" },
	{ ARGS("bmc", "power", "3", "off"), "power off is destructive" },
	{ ARGS("bmc", "power", "3", "shutdown"), "Add --yes to confirm" },
	{ ARGS("bmc", "power", "3", "reset"), "power reset is destructive" },
	{ ARGS("bmc", "power", "3", "cycle"), "power cycle is destructive" },
	{ ARGS("machine", "power", "3", "reset"), "power reset is destructive" },
	{ ARGS("machine", "power", "web1", "on"), "invalid machine 'web1'" },
	{ ARGS("bmc", "boot", "3", "floppy"), "invalid boot device 'floppy'" },
	{ ARGS("bmc", "boot", "3", "pxe", "--mode", "bios"), "invalid --mode 'bios'" },
	{ ARGS("bmc", "power", "3", "on", "--mode", "uefi"),
	  "option --mode does not apply to 'bmc power'" },
	{ ARGS("bmc", "media", "3", "insert"), "bmc media insert needs the image URL" },
	{ ARGS("bmc", "media", "3", "insert", "file:///x.iso"), "invalid URL 'file:///x.iso'" },
	{ ARGS("bmc", "media", "3", "insert", "http:///x.iso"), "the host is missing" },
	{ ARGS("bmc", "media", "3", "insert", "http://a/b c.iso"), "at offset 10" },
	{ ARGS("bmc", "media", "3", "eject", "http://a/x"), "unexpected argument 'http://a/x'" },
	{ ARGS("bmc", "media", "3", "mount"), "invalid media action 'mount'" },
	{ ARGS("bmc", "firmware", "3", "ftp://a/fw"), "invalid URL 'ftp://a/fw'" },
	{ ARGS("bmc", "firmware", "3", "https://a/fw"), "a firmware update is destructive" },
	{ ARGS("bmc", "add", "--protocol", "redfish", "--address", "10.0.0.5"),
	  "bmc add needs --protocol, --address and --user" },
	{ ARGS("bmc", "add", "--protocol", "snmp", "--address", "10.0.0.5", "--user", "a"),
	  "invalid --protocol 'snmp'" },
	{ ARGS("bmc", "add", "--protocol", "redfish", "--address", "10.0.0.5:443", "--user", "a"),
	  "invalid --address '10.0.0.5:443'" },
	{ ARGS("bmc", "add", "--protocol", "redfish", "--address", "bad_host", "--user", "a"),
	  "invalid --address 'bad_host'" },
	{ ARGS("bmc", "set", "3", "--port", "0"), "invalid --port '0'" },
	{ ARGS("bmc", "set", "3", "--port", "65536"), "invalid --port '65536'" },
	{ ARGS("bmc", "set", "3", "--user", ""), "invalid --user ''" },
	{ ARGS("bmc", "set", "3", "--user",
	       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	  "expected 1 to 63 bytes" },
	{ ARGS("bmc", "set", "3", "--tls", "insecure"), "invalid --tls 'insecure'" },
	{ ARGS("bmc", "add", "--protocol", "redfish", "--address", "10.0.0.5", "--user", "a",
	       "--tls", "pinned"),
	  "--tls pinned needs --fingerprint" },
	{ ARGS("bmc", "set", "3", "--fingerprint", "abc"), "invalid --fingerprint 'abc'" },
	{ ARGS("bmc", "set", "3", "--fingerprint", FINGERPRINT "0"), "invalid --fingerprint" },
	{ ARGS("bmc", "set", "3", "--fingerprint", "zz" FINGERPRINT), "invalid --fingerprint" },
	{ ARGS("bmc", "set", "3", "--ca-file", "ca.pem"), "invalid --ca-file 'ca.pem'" },
	{ ARGS("bmc", "add", "--protocol", "ipmi", "--address", "10.0.0.5", "--user", "a", "--tls",
	       "tofu"),
	  "apply only to Redfish" },
	{ ARGS("bmc", "set", "3", "--machine", "web1"), "invalid --machine 'web1'" },
	{ ARGS("bmc", "list", "--machine", ""), "invalid --machine ''" },
	{ ARGS("bmc", "add", "--protocol", "redfish", "--address", "10.0.0.5", "--user", "a",
	       "--machine", ""),
	  "invalid --machine ''" },
	{ ARGS("bmc", "add", "--protocol", "redfish", "--address", "10.0.0.5", "--user", "a",
	       "--password-file", ""),
	  "empty --password-file" },
	{ ARGS("bmc", "set", "3"), "nothing to change" },
	{ ARGS("bmc", "show", "3", "--port", "1"), "option --port does not apply to 'bmc show'" },
	{ ARGS("bmc", "show", "3", "--json", "--json"), "option --json is given more than once" },
	{ ARGS("bmc", "sensors", "3", "--wait-timeout", "0"), "invalid --wait-timeout '0'" },
	{ ARGS("bmc", "sensors", "3", "--wait-timeout", "86401"), "invalid --wait-timeout" },
	{ ARGS("bmc", "sensors", "3", "--wait-timeout", "5", "--no-wait"),
	  "--wait-timeout and --no-wait exclude each other" },
	{ ARGS("bmc", "sensors", "3", "--no-wait=1"), "option --no-wait takes no value" },
	{ ARGS("bmc", "sensors", "3", "--wait-timeout"), "option --wait-timeout requires a value" },
	{ ARGS("bmc", "sensors", "3", "-x"), "unknown option '-x'" },
	{ ARGS("bmc", "sensors", "3", "--bogus=1"), "unknown or ambiguous option '--bogus'" },
	{ ARGS("bmc", "list", "--url", "https://a", "--socket", "/s"),
	  "--url and --socket exclude each other" },
	{ ARGS("bmc", "list", "--insecure", "--cacert", "c.pem"),
	  "--insecure and --cacert exclude each other" },
};

static void
test_args_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(error_cases); i++) {
		const struct error_case *c = &error_cases[i];
		struct cli_bmc_args args;
		char err[CLI_ERROR_SIZE];
		int rc = parse(c->argv, &args, err, sizeof(err));

		if (rc != -EINVAL || strstr(err, c->message) == NULL)
			fail_msg("case %zu: rc %d, message \"%s\", expected \"%s\"", i, rc, err,
				 c->message);
	}
}

/* A password typed as an option is rejected without being repeated in the message. */
static void
test_args_password_option_rejected(void **state)
{
	static const struct error_case cases[] = {
		{ ARGS("bmc", "set", "3", "--password", "hunter2"), "--password is not accepted" },
		{ ARGS("bmc", "set", "3", "--password=hunter2"), "--password is not accepted" },
		{ ARGS("bmc", "show", "3", "--password=hunter2"), "--password is not accepted" },
		{ ARGS("bmc", "set", "3", "--passw=hunter2"), "unknown or ambiguous option '--passw'" },
		{ ARGS("bmc", "set", "3", "--secret=hunter2"), "unknown or ambiguous option '--secret'" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct cli_bmc_args args;
		char err[CLI_ERROR_SIZE];
		int rc = parse(cases[i].argv, &args, err, sizeof(err));

		if (rc != -EINVAL || strstr(err, cases[i].message) == NULL)
			fail_msg("case %zu: rc %d, message \"%s\"", i, rc, err);
		if (strstr(err, "hunter2") != NULL)
			fail_msg("case %zu: the message shows the password: %s", i, err);
	}
}

static void
test_args_canonical_values(void **state)
{
	const char *const argv[] = ARGS("bmc", "add", "--protocol", "redfish", "--address",
					"2001:DB8::5", "--user", "admin", "--tls", "pinned",
					"--fingerprint",
					"E0:B9:52:21:E9:4B:40:AA:6E:B4:EB:4B:06:54:41:2A:D1:3D:60:3D:"
					"1F:56:6D:7F:D0:13:44:F7:FC:F4:FA:79",
					"--machine", "525400ABCDEF", "--port", "8443");
	struct cli_bmc_args args;
	char err[CLI_ERROR_SIZE];

	(void)state;
	assert_int_equal(parse(argv, &args, err, sizeof(err)), 0);
	assert_string_equal(args.address, "[2001:DB8::5]");
	assert_string_equal(args.fingerprint, FINGERPRINT);
	assert_string_equal(args.machine, "52:54:00:ab:cd:ef");
	assert_true(args.machine_given);
	assert_int_equal(args.port, 8443);
	assert_int_equal(args.wait_seconds, CLI_BMC_WAIT_DEFAULT);
}

static void
test_args_bracketed_address_kept(void **state)
{
	const char *const argv[] = ARGS("bmc", "set", "3", "--address", "[fe80::1]");
	struct cli_bmc_args args;
	char err[CLI_ERROR_SIZE];

	(void)state;
	assert_int_equal(parse(argv, &args, err, sizeof(err)), 0);
	assert_string_equal(args.address, "[fe80::1]");
	assert_int_equal(args.id, 3);
}

static void
test_args_wait_seconds(void **state)
{
	const char *const firmware[] = ARGS("bmc", "firmware", "3", "https://a/fw", "--yes");
	const char *const given[] = ARGS("bmc", "verify", "3", "--wait-timeout", "7");
	const char *const no_wait[] = ARGS("machine", "power", "7", "on", "--no-wait");
	struct cli_bmc_args args;
	char err[CLI_ERROR_SIZE];

	(void)state;
	assert_int_equal(parse(firmware, &args, err, sizeof(err)), 0);
	assert_int_equal(args.wait_seconds, CLI_BMC_FIRMWARE_WAIT_DEFAULT);
	assert_int_equal(parse(given, &args, err, sizeof(err)), 0);
	assert_int_equal(args.wait_seconds, 7);
	assert_int_equal(parse(no_wait, &args, err, sizeof(err)), 0);
	assert_true(args.no_wait);
	assert_string_equal(args.machine, "7");
}

static void
test_command_name(void **state)
{
	(void)state;
	assert_string_equal(cli_bmc_command_name(CLI_BMC_POWER), "bmc power");
	assert_string_equal(cli_bmc_command_name(CLI_BMC_MACHINE_POWER), "machine power");
	assert_null(cli_bmc_command_name(CLI_BMC_INVALID));
	assert_null(cli_bmc_command_name(CLI_BMC_MAX));
}

/*********************************************************************************
 * Request bodies
 */

/* Parse argv and return the body `build` makes, as compact JSON text (caller frees). */
static char *
body_text(const char *const *argv, const char *password, bool operation)
{
	char **copy = argv_copy(argv);
	struct cli_bmc_args args;
	char err[CLI_ERROR_SIZE];
	json_t *body;
	char *text;

	if (cli_bmc_args_parse(count_args(argv), copy, &args, err, sizeof(err)) != 0)
		fail_msg("parse failed: %s", err);
	body = operation ? cli_bmc_operation_body(&args) : cli_bmc_body(&args, password);
	argv_free(copy);
	if (body == NULL)
		return NULL;
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return text;
}

static void
test_body_add(void **state)
{
	const char *const argv[] = ARGS("bmc", "add", "--protocol", "redfish", "--address",
					"10.0.0.5", "--port", "8443", "--user", "admin", "--tls",
					"pinned", "--fingerprint", FINGERPRINT, "--ca-file",
					"/etc/outpost/ca.pem", "--machine", "52-54-00-12-34-56");
	char *text;

	(void)state;
	text = body_text(argv, "s3cret", false);
	assert_json_equal(text, "{\"protocol\": \"redfish\", \"address\": \"10.0.0.5\", "
			  "\"port\": 8443, \"username\": \"admin\", \"password\": \"s3cret\", "
			  "\"tls\": \"pinned\", \"fingerprint\": \"" FINGERPRINT "\", "
			  "\"ca_file\": \"/etc/outpost/ca.pem\", "
			  "\"machine\": \"52:54:00:12:34:56\"}");
	free(text);
}

static void
test_body_set(void **state)
{
	const char *const unlink[] = ARGS("bmc", "set", "3", "--machine", "");
	const char *const link_id[] = ARGS("bmc", "set", "3", "--machine", "0012", "--tls", "tofu");
	const char *const password[] = ARGS("bmc", "set", "3", "--user", "root");
	char *text;

	(void)state;
	text = body_text(unlink, NULL, false);
	assert_json_equal(text, "{\"machine\": null}");
	free(text);
	text = body_text(link_id, "", false);
	assert_json_equal(text, "{\"machine\": 12, \"tls\": \"tofu\"}");
	free(text);
	text = body_text(password, "new-pw", false);
	assert_json_equal(text, "{\"username\": \"root\", \"password\": \"new-pw\"}");
	free(text);
}

static void
test_body_operations(void **state)
{
	static const struct {
		const char *argv[12];
		const char *body;
	} cases[] = {
		{ ARGS("bmc", "verify", "3"), "{\"operation\": \"verify\"}" },
		{ ARGS("bmc", "power", "3", "on"), "{\"operation\": \"power\", \"action\": \"on\"}" },
		{ ARGS("bmc", "power", "3", "cycle", "--yes"),
		  "{\"operation\": \"power\", \"action\": \"cycle\"}" },
		{ ARGS("bmc", "power", "3", "status"), "{\"operation\": \"power-state\"}" },
		{ ARGS("bmc", "boot", "3", "http"), "{\"operation\": \"boot\", \"device\": \"http\"}" },
		{ ARGS("bmc", "boot", "3", "cd", "--mode", "legacy"),
		  "{\"operation\": \"boot\", \"device\": \"cd\", \"mode\": \"legacy\"}" },
		{ ARGS("bmc", "media", "3", "insert", "http://10.0.0.1/a.iso"),
		  "{\"operation\": \"media-insert\", \"url\": \"http://10.0.0.1/a.iso\"}" },
		{ ARGS("bmc", "media", "3", "eject"), "{\"operation\": \"media-eject\"}" },
		{ ARGS("bmc", "media", "3", "status"), "{\"operation\": \"media-status\"}" },
		{ ARGS("bmc", "sensors", "3"), "{\"operation\": \"sensors\"}" },
		{ ARGS("bmc", "inventory", "3"), "{\"operation\": \"inventory\"}" },
		{ ARGS("bmc", "events", "3"), "{\"operation\": \"events\"}" },
		{ ARGS("bmc", "firmware", "3", "https://10.0.0.1/fw.bin", "--yes"),
		  "{\"operation\": \"firmware-update\", \"url\": \"https://10.0.0.1/fw.bin\"}" },
		{ ARGS("machine", "power", "7", "off", "--yes"), "{\"action\": \"off\"}" },
		{ ARGS("machine", "power", "7", "status"), "{\"action\": \"status\"}" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *text = body_text(cases[i].argv, NULL, true);

		if (text == NULL)
			fail_msg("case %zu: no body", i);
		assert_json_equal(text, cases[i].body);
		free(text);
	}
}

static void
test_body_operation_none(void **state)
{
	const char *const argv[] = ARGS("bmc", "show", "3");

	(void)state;
	assert_null(body_text(argv, NULL, true));
}

/*********************************************************************************
 * The password
 */

/* Write `content` to a new temporary file; returns its path (caller frees and unlinks). */
static char *
temp_file(const char *content)
{
	char *path = strdup("/tmp/outpost-cli-bmc-test.XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

static void
test_password_file(void **state)
{
	static const struct {
		const char *content;
		int rc;
		const char *password;   /* or the expected message */
	} cases[] = {
		{ "s3cret\nsecond line\n", 1, "s3cret" },
		{ "s3cret\r\n", 1, "s3cret" },
		{ "no line break", 1, "no line break" },
		{ " spaces kept \n", 1, " spaces kept " },
		{ "", -EINVAL, "is empty" },
		{ "\nsecond\n", -EINVAL, "is empty" },
	};
	char out[CLI_BMC_PASSWORD_MAX + 1], err[CLI_ERROR_SIZE];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *path = temp_file(cases[i].content);
		int rc = cli_bmc_password_read(path, "from-env", true, out, sizeof(out), err,
					       sizeof(err));

		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, expected %d (%s)", i, rc, cases[i].rc, err);
		if (rc == 1)
			assert_string_equal(out, cases[i].password);
		else
			assert_non_null(strstr(err, cases[i].password));
		unlink(path);
		free(path);
	}
}

static void
test_password_length(void **state)
{
	char line[CLI_BMC_PASSWORD_MAX + 3];
	char out[CLI_BMC_PASSWORD_MAX + 1], err[CLI_ERROR_SIZE];
	char *path;

	(void)state;
	memset(line, 'a', CLI_BMC_PASSWORD_MAX);
	strcpy(line + CLI_BMC_PASSWORD_MAX, "\n");
	path = temp_file(line);
	assert_int_equal(cli_bmc_password_read(path, NULL, false, out, sizeof(out), err,
					       sizeof(err)), 1);
	assert_int_equal(strlen(out), CLI_BMC_PASSWORD_MAX);
	unlink(path);
	free(path);

	memset(line, 'a', CLI_BMC_PASSWORD_MAX + 1);
	strcpy(line + CLI_BMC_PASSWORD_MAX + 1, "\n");
	path = temp_file(line);
	assert_int_equal(cli_bmc_password_read(path, NULL, false, out, sizeof(out), err,
					       sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is too long: the maximum is 127 bytes"));
	assert_null(strstr(err, "aaaa"));
	unlink(path);
	free(path);

	line[CLI_BMC_PASSWORD_MAX + 1] = '\0';
	assert_int_equal(cli_bmc_password_read(NULL, line, false, out, sizeof(out), err,
					       sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "OUTPOST_BMC_PASSWORD is longer than 127 bytes"));
}

static void
test_password_missing_file(void **state)
{
	char out[CLI_BMC_PASSWORD_MAX + 1], err[CLI_ERROR_SIZE];

	(void)state;
	assert_int_equal(cli_bmc_password_read("/nonexistent/pw", "env", true, out, sizeof(out),
					       err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open --password-file /nonexistent/pw"));
}

static void
test_password_env_and_none(void **state)
{
	char out[CLI_BMC_PASSWORD_MAX + 1], err[CLI_ERROR_SIZE];
	int saved = dup(STDIN_FILENO);
	int null_fd = open("/dev/null", O_RDONLY);

	(void)state;
	assert_true(saved >= 0 && null_fd >= 0);
	assert_int_equal(cli_bmc_password_read(NULL, "from-env", true, out, sizeof(out), err,
					       sizeof(err)), 1);
	assert_string_equal(out, "from-env");

	/* An empty variable counts as unset; without a terminal nothing is asked. */
	assert_true(dup2(null_fd, STDIN_FILENO) >= 0);
	assert_int_equal(cli_bmc_password_read(NULL, "", true, out, sizeof(out), err,
					       sizeof(err)), 0);
	assert_int_equal(cli_bmc_password_read(NULL, NULL, false, out, sizeof(out), err,
					       sizeof(err)), 0);
	assert_string_equal(out, "");
	assert_true(dup2(saved, STDIN_FILENO) >= 0);
	close(saved);
	close(null_fd);
}

static void
test_password_stdin_pipe(void **state)
{
	char out[CLI_BMC_PASSWORD_MAX + 1], err[CLI_ERROR_SIZE];
	int saved = dup(STDIN_FILENO);
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "piped-pw\nrest\n", 14), 14);
	close(fds[1]);
	assert_true(dup2(fds[0], STDIN_FILENO) >= 0);
	close(fds[0]);
	assert_int_equal(cli_bmc_password_read("-", "from-env", true, out, sizeof(out), err,
					       sizeof(err)), 1);
	assert_string_equal(out, "piped-pw");
	assert_true(dup2(saved, STDIN_FILENO) >= 0);
	close(saved);
}

/* The terminal's side of the prompt test: type the password once echo is off. */
struct typist {
	int master;
	int slave;
	bool echo_was_off;
};

static void *
type_password(void *arg)
{
	struct typist *t = arg;
	struct termios tio;

	for (int i = 0; i < 500; i++) {
		if (tcgetattr(t->slave, &tio) == 0 && (tio.c_lflag & ECHO) == 0) {
			t->echo_was_off = true;
			break;
		}
		usleep(2000);
	}
	if (write(t->master, "typed-pw\n", 9) != 9)
		t->echo_was_off = false;
	return NULL;
}

static void
test_password_prompt_without_echo(void **state)
{
	char out[CLI_BMC_PASSWORD_MAX + 1], err[CLI_ERROR_SIZE], echoed[256] = "";
	struct typist t = { .echo_was_off = false };
	int saved = dup(STDIN_FILENO);
	struct termios after;
	pthread_t thread;
	ssize_t n;
	int rc;

	(void)state;
	assert_int_equal(openpty(&t.master, &t.slave, NULL, NULL, NULL), 0);
	assert_true(dup2(t.slave, STDIN_FILENO) >= 0);
	assert_int_equal(pthread_create(&thread, NULL, type_password, &t), 0);
	rc = cli_bmc_password_read(NULL, NULL, true, out, sizeof(out), err, sizeof(err));
	pthread_join(thread, NULL);
	assert_int_equal(tcgetattr(STDIN_FILENO, &after), 0);
	assert_true(dup2(saved, STDIN_FILENO) >= 0);
	close(saved);

	assert_int_equal(rc, 1);
	assert_string_equal(out, "typed-pw");
	assert_true(t.echo_was_off);
	assert_true((after.c_lflag & ECHO) != 0);

	/* The terminal shows the line break (ECHONL) but never the password. */
	fcntl(t.master, F_SETFL, O_NONBLOCK);
	n = read(t.master, echoed, sizeof(echoed) - 1);
	echoed[n > 0 ? n : 0] = '\0';
	assert_null(strstr(echoed, "typed-pw"));
	close(t.master);
	close(t.slave);
}

static void
test_poll_delay(void **state)
{
	static const long expected[] = { 50, 100, 200, 400, 800, 1000, 1000 };

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(expected); i++)
		assert_int_equal(cli_bmc_poll_delay_ms(i), expected[i]);
	assert_int_equal(cli_bmc_poll_delay_ms(UINT32_MAX), 1000);
}

/*********************************************************************************
 * Rendering
 */

#define BMC_1 \
	"{\"id\": 1, \"machine\": 4, \"protocol\": \"redfish\", \"address\": \"10.0.0.5\", " \
	"\"port\": 8443, \"username\": \"admin\", \"tls\": \"tofu\", \"ca_file\": \"\", " \
	"\"fingerprint\": \"" FINGERPRINT "\", \"status\": \"ok\", \"status_detail\": null, " \
	"\"power_state\": \"on\", \"checked_at\": \"2026-12-05T09:57:44Z\", " \
	"\"created_at\": \"2026-12-05T09:57:44Z\", \"updated_at\": \"2026-12-05T09:57:44Z\"}"

#define BMC_2 \
	"{\"id\": 12, \"machine\": null, \"protocol\": \"ipmi\", " \
	"\"address\": \"bmc\\u001b[2J.example\", \"port\": 0, \"username\": \"root\", " \
	"\"tls\": \"ca\", \"ca_file\": \"\", \"fingerprint\": null, \"status\": \"error\", " \
	"\"status_detail\": \"timed out\", \"power_state\": \"unknown\", \"checked_at\": null, " \
	"\"created_at\": \"2026-12-05T09:57:44Z\", \"updated_at\": \"2026-12-05T09:57:44Z\"}"

/* Render `json_text` with `render` and compare the whole output. */
static void
assert_render(int (*render)(json_t *, struct buf *), const char *json_text,
	      const char *expected)
{
	json_t *json = json_loads(json_text, 0, NULL);
	struct buf out;

	assert_non_null(json);
	buf_init(&out, 1 << 20);
	assert_int_equal(render(json, &out), 0);
	assert_non_null(out.data);
	if (strcmp(out.data, expected) != 0)
		fail_msg("output differs:\n got:\n%s\nwant:\n%s", out.data, expected);
	buf_free(&out);
	json_decref(json);
}

static int
render_bmc_list(json_t *items, struct buf *out)
{
	return cli_render_bmcs(items, out);
}

static void
test_render_bmcs(void **state)
{
	(void)state;
	assert_render(render_bmc_list, "[" BMC_1 ", " BMC_2 "]",
		      "ID  PROTOCOL  ADDRESS          STATUS  POWER    MACHINE\n"
		      "1   redfish   10.0.0.5:8443    ok      on       4\n"
		      "12  ipmi      bmc?[2J.example  error   unknown  -\n");
	assert_render(render_bmc_list, "[]",
		      "ID  PROTOCOL  ADDRESS  STATUS  POWER  MACHINE\n");
}

static void
test_render_bmcs_rejects_non_array(void **state)
{
	json_t *json = json_loads("{\"items\": []}", 0, NULL);
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(cli_render_bmcs(json, &out), -EINVAL);
	buf_free(&out);
	json_decref(json);
}

static void
test_render_bmc(void **state)
{
	(void)state;
	assert_render(cli_render_bmc, BMC_1,
		      "id:            1\n"
		      "protocol:      redfish\n"
		      "address:       10.0.0.5\n"
		      "port:          8443\n"
		      "user:          admin\n"
		      "tls:           tofu\n"
		      "ca file:       -\n"
		      "fingerprint:   " FINGERPRINT "\n"
		      "status:        ok\n"
		      "status detail: -\n"
		      "power:         on\n"
		      "machine:       4\n"
		      "checked:       2026-12-05T09:57:44Z\n"
		      "created:       2026-12-05T09:57:44Z\n"
		      "updated:       2026-12-05T09:57:44Z\n");
}

/* An operation of `kind` that succeeded with `result` (JSON text). */
#define OPERATION(id, kind, result) \
	"{\"id\": " #id ", \"bmc\": 1, \"batch\": null, \"operation\": \"" kind "\", " \
	"\"args\": {}, \"state\": \"succeeded\", \"result\": " result ", \"error\": null, " \
	"\"actor\": \"local:uid=0\", \"created_at\": \"2026-12-05T10:00:00Z\", " \
	"\"started_at\": \"2026-12-05T10:00:01Z\", \"finished_at\": \"2026-12-05T10:00:02Z\"}"

#define SENSORS_RESULT \
	"{\"sensors\": [{\"name\": \"CPU1 Temp\", \"kind\": \"temperature\", \"value\": 37.0, " \
	"\"unit\": \"Cel\"}, {\"name\": \"PSU2 Input\", \"kind\": \"power\", \"value\": null, " \
	"\"unit\": \"W\"}, {\"name\": \"Fan\\u202e1\", \"kind\": \"fan\", \"value\": 12.5, " \
	"\"unit\": \"%\"}, {\"name\": \"Energy\", \"kind\": \"other\", " \
	"\"value\": 1234567.25, \"unit\": \"kW.h\"}]}"

static void
test_render_result_sensors(void **state)
{
	(void)state;
	assert_render(cli_render_bmc_result, OPERATION(5, "sensors", SENSORS_RESULT),
		      "NAME        KIND         VALUE       UNIT\n"
		      "CPU1 Temp   temperature  37          Cel\n"
		      "PSU2 Input  power        -           W\n"
		      "Fan?1       fan          12.5        %\n"
		      "Energy      other        1234567.25  kW.h\n");
}

static void
test_render_result_events(void **state)
{
	(void)state;
	assert_render(cli_render_bmc_result,
		      OPERATION(6, "events", "{\"events\": [{\"id\": \"1\", \"created\": "
				"\"2026-12-01T00:00:00Z\", \"severity\": \"Critical\", \"message\": "
				"\"Fan failed\\u001b]0;x\\u0007\"}, {\"id\": \"2\", \"created\": null, "
				"\"severity\": null, \"message\": \"Log cleared\"}]}"),
		      "ID  CREATED               SEVERITY  MESSAGE\n"
		      "1   2026-12-01T00:00:00Z  Critical  Fan failed?]0;x?\n"
		      "2   -                     -         Log cleared\n");
}

static void
test_render_result_inventory(void **state)
{
	(void)state;
	assert_render(cli_render_bmc_result,
		      OPERATION(7, "inventory", "{\"system\": {\"manufacturer\": \"Contoso\", "
				"\"model\": \"3500\", \"serial\": \"437XR1138R2\", \"uuid\": null, "
				"\"macs\": [\"12:44:6a:3b:04:11\", \"aa:bb:cc:dd:ee:00\"]}, "
				"\"firmware\": [{\"id\": \"BMC\", \"name\": \"Contoso BMC\", "
				"\"version\": \"1.45\", \"updateable\": true}]}"),
		      "manufacturer: Contoso\n"
		      "model:        3500\n"
		      "serial:       437XR1138R2\n"
		      "uuid:         -\n"
		      "macs:         12:44:6a:3b:04:11,aa:bb:cc:dd:ee:00\n"
		      "\n"
		      "ID   NAME         VERSION  UPDATEABLE\n"
		      "BMC  Contoso BMC  1.45     true\n");
}

static void
test_render_result_fields(void **state)
{
	(void)state;
	assert_render(cli_render_bmc_result,
		      OPERATION(8, "power", "{\"action\": \"off\", \"power\": \"off\"}"),
		      "action: off\n"
		      "power:  off\n");
	assert_render(cli_render_bmc_result,
		      OPERATION(9, "power-state", "{\"power\": \"on\"}"), "power: on\n");
	assert_render(cli_render_bmc_result, OPERATION(10, "media-insert", "{}"),
		      "operation 10 (media-insert) succeeded\n");
	assert_render(cli_render_bmc_result,
		      OPERATION(11, "verify", "{\"system\": {\"serial\": \"x\"}, \"firmware\": [], "
				"\"machine\": 4, \"machine_created\": false, \"fingerprint\": \"ab\"}"),
		      "machine:         4\n"
		      "machine created: false\n"
		      "fingerprint:     ab\n");
}

static void
test_render_result_missing(void **state)
{
	json_t *failed = json_loads("{\"id\": 3, \"operation\": \"sensors\", \"state\": "
				    "\"failed\", \"result\": null, \"error\": \"timed out\"}", 0,
				    NULL);
	struct buf out;

	(void)state;
	buf_init(&out, 4096);
	assert_int_equal(cli_render_bmc_result(failed, &out), -EINVAL);
	buf_free(&out);
	json_decref(failed);
}

static void
test_render_operation(void **state)
{
	(void)state;
	assert_render(cli_render_bmc_operation, OPERATION(5, "sensors", SENSORS_RESULT),
		      "id:        5\n"
		      "bmc:       1\n"
		      "operation: sensors\n"
		      "args:      {}\n"
		      "state:     succeeded\n"
		      "error:     -\n"
		      "actor:     local:uid=0\n"
		      "batch:     -\n"
		      "created:   2026-12-05T10:00:00Z\n"
		      "started:   2026-12-05T10:00:01Z\n"
		      "finished:  2026-12-05T10:00:02Z\n"
		      "\n"
		      "NAME        KIND         VALUE       UNIT\n"
		      "CPU1 Temp   temperature  37          Cel\n"
		      "PSU2 Input  power        -           W\n"
		      "Fan?1       fan          12.5        %\n"
		      "Energy      other        1234567.25  kW.h\n");
}

/*********************************************************************************
 * cli_bmc_main against a canned API server
 */

/*
 * Run cli_bmc_main on the NULL-terminated arguments plus --socket of the server. stdin
 * is /dev/null, so no prompt appears.
 */
static void
run_bmc(struct fake_server *srv, struct run_output *result, const char *arg, ...)
{
	const char *argv[40];
	int argc = 0;
	va_list ap;

	va_start(ap, arg);
	for (const char *a = arg; a != NULL; a = va_arg(ap, const char *)) {
		assert_true(argc < (int)ARRAY_SIZE(argv) - 3);
		argv[argc++] = a;
	}
	va_end(ap);
	argv[argc++] = "--socket";
	argv[argc++] = srv->socket_path;
	argv[argc] = NULL;
	run_main(cli_bmc_main, argv, result);
}

#define OP_QUEUED(id, kind) \
	"{\"id\": " #id ", \"bmc\": 3, \"batch\": null, \"operation\": \"" kind "\", " \
	"\"args\": {}, \"state\": \"queued\", \"result\": null, \"error\": null, " \
	"\"actor\": \"local:uid=0\", \"created_at\": \"2026-12-05T10:00:00Z\", " \
	"\"started_at\": null, \"finished_at\": null}"
#define OP_RUNNING(id, kind) \
	"{\"id\": " #id ", \"bmc\": 3, \"operation\": \"" kind "\", \"state\": \"running\", " \
	"\"result\": null, \"error\": null}"
#define OP_FAILED(id, kind, error) \
	"{\"id\": " #id ", \"bmc\": 3, \"operation\": \"" kind "\", \"state\": \"failed\", " \
	"\"result\": null, \"error\": \"" error "\"}"

static void
test_run_sensors_waits(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "POST", "/api/v1/bmcs/3/operations", 202, OP_QUEUED(5, "sensors"));
	server_route_times(srv, "GET", "/api/v1/bmc-operations/5", 200,
			   OP_RUNNING(5, "sensors"), 2);
	server_route(srv, "GET", "/api/v1/bmc-operations/5", 200,
		     OPERATION(5, "sensors", SENSORS_RESULT));
	run_bmc(srv, &r, "bmc", "sensors", "3", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(r.out, "NAME        KIND         VALUE       UNIT\n"
				   "CPU1 Temp   temperature  37          Cel\n"
				   "PSU2 Input  power        -           W\n"
				   "Fan?1       fan          12.5        %\n"
				   "Energy      other        1234567.25  kW.h\n");
	assert_string_equal(r.err, "");
	assert_int_equal(srv->n_requests, 4);
	assert_string_equal(srv->requests[0].method, "POST");
	assert_json_equal(srv->requests[0].body, "{\"operation\": \"sensors\"}");
	assert_string_equal(srv->requests[3].uri, "/api/v1/bmc-operations/5");
}

static void
test_run_json_prints_operation(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "POST", "/api/v1/bmcs/3/operations", 202,
		     OP_QUEUED(9, "power-state"));
	server_route(srv, "GET", "/api/v1/bmc-operations/9", 200,
		     OPERATION(9, "power-state", "{\"power\": \"on\"}"));
	run_bmc(srv, &r, "bmc", "power", "3", "status", "--json", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_json_equal(r.out, OPERATION(9, "power-state", "{\"power\": \"on\"}"));
	assert_json_equal(srv->requests[0].body, "{\"operation\": \"power-state\"}");
}

static void
test_run_failed_operation(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "POST", "/api/v1/bmcs/3/operations", 202, OP_QUEUED(6, "power"));
	server_route(srv, "GET", "/api/v1/bmc-operations/6", 200,
		     OP_FAILED(6, "power", "POST /Reset on 10.0.0.5: HTTP 404\\u001b[2J"));
	run_bmc(srv, &r, "bmc", "power", "3", "on", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_REJECTED);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "outpost bmc power: operation 6 failed: POST /Reset on "
				   "10.0.0.5: HTTP 404?[2J\n");
}

static void
test_run_no_wait_prints_id(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "POST", "/api/v1/bmcs/3/operations", 202, OP_QUEUED(7, "events"));
	run_bmc(srv, &r, "bmc", "events", "3", "--no-wait", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(r.out, "7\n");
	assert_int_equal(srv->n_requests, 1);
}

static void
test_run_wait_timeout(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;
	time_t started = time(NULL);

	server_route(srv, "POST", "/api/v1/bmcs/3/operations", 202, OP_QUEUED(8, "inventory"));
	server_route(srv, "GET", "/api/v1/bmc-operations/8", 200, OP_RUNNING(8, "inventory"));
	run_bmc(srv, &r, "bmc", "inventory", "3", "--wait-timeout", "1", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_REJECTED);
	assert_true(time(NULL) - started <= 3);
	assert_non_null(strstr(r.err, "operation 8 is still running after 1 s"));
	assert_non_null(strstr(r.err, "'outpost bmc operation 8' shows it"));
	assert_string_equal(r.out, "");
}

static void
test_run_machine_power(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "POST", "/api/v1/machines/52:54:00:12:34:56/power", 202,
		     OP_QUEUED(10, "power"));
	server_route(srv, "GET", "/api/v1/bmc-operations/10", 200,
		     OPERATION(10, "power", "{\"action\": \"off\", \"power\": \"off\"}"));
	run_bmc(srv, &r, "machine", "power", "525400123456x", "off", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_USAGE);
	assert_int_equal(srv->n_requests, 0);

	run_bmc(srv, &r, "machine", "power", "52-54-00-12-34-56", "off", "--yes", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(r.out, "action: off\npower:  off\n");
	assert_json_equal(srv->requests[0].body, "{\"action\": \"off\"}");
}

static void
test_run_machine_without_bmc(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "POST", "/api/v1/machines/7/power", 409,
		     "{\"error\": \"no_bmc\", \"detail\": \"machine 7 has no BMC\"}");
	run_bmc(srv, &r, "machine", "power", "7", "on", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_CONFLICT);
	assert_string_equal(r.err, "outpost machine power: machine 7 has no BMC\n");

	run_bmc(srv, &r, "machine", "power", "7", "status", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_CONFLICT);
	assert_string_equal(r.err, "outpost machine power: machine 7 has no BMC\n");
	assert_int_equal(srv->n_requests, 2);
	assert_string_equal(srv->requests[1].uri, "/api/v1/machines/7/power");
}

static void
test_run_machine_power_status(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "POST", "/api/v1/machines/7/power", 202,
		     OP_QUEUED(11, "power-state"));
	server_route(srv, "GET", "/api/v1/bmc-operations/11", 200,
		     OPERATION(11, "power-state", "{\"power\": \"off\"}"));
	run_bmc(srv, &r, "machine", "power", "7", "status", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(r.out, "power: off\n");
	assert_string_equal(r.err, "");
	assert_int_equal(srv->n_requests, 2);
	assert_string_equal(srv->requests[0].method, "POST");
	assert_string_equal(srv->requests[0].uri, "/api/v1/machines/7/power");
	assert_json_equal(srv->requests[0].body, "{\"action\": \"status\"}");
	assert_string_equal(srv->requests[1].uri, "/api/v1/bmc-operations/11");
}

#define ADD_REPLY \
	"{\"bmc\": " BMC_1 ", \"operation\": " OP_QUEUED(2, "verify") "}"

static void
test_run_add_verified(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "POST", "/api/v1/bmcs", 202, ADD_REPLY);
	server_route(srv, "GET", "/api/v1/bmc-operations/2", 200,
		     OPERATION(2, "verify", "{\"machine\": 4}"));
	server_route(srv, "GET", "/api/v1/bmcs/1", 200, BMC_1);
	setenv("OUTPOST_BMC_PASSWORD", "env-secret", 1);
	run_bmc(srv, &r, "bmc", "add", "--protocol", "redfish", "--address", "10.0.0.5", "--port",
		"8443", "--user", "admin", "--tls", "tofu", NULL);
	unsetenv("OUTPOST_BMC_PASSWORD");
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_non_null(strstr(r.out, "fingerprint:   " FINGERPRINT "\n"));
	assert_non_null(strstr(r.out, "status:        ok\n"));
	assert_non_null(strstr(r.out, "machine:       4\n"));
	assert_null(strstr(r.out, "env-secret"));
	assert_null(strstr(r.err, "env-secret"));
	assert_json_equal(srv->requests[0].body,
			  "{\"protocol\": \"redfish\", \"address\": \"10.0.0.5\", \"port\": 8443, "
			  "\"username\": \"admin\", \"password\": \"env-secret\", \"tls\": \"tofu\"}");
}

static void
test_run_add_verify_failed(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;
	char *path = temp_file("file-secret\n");

	server_route(srv, "POST", "/api/v1/bmcs", 202, ADD_REPLY);
	server_route(srv, "GET", "/api/v1/bmc-operations/2", 200,
		     OP_FAILED(2, "verify", "login to 10.0.0.5 failed: HTTP 401"));
	server_route(srv, "GET", "/api/v1/bmcs/1", 200, BMC_1);
	run_bmc(srv, &r, "bmc", "add", "--protocol", "redfish", "--address", "10.0.0.5", "--user",
		"admin", "--password-file", path, NULL);
	unlink(path);
	free(path);
	assert_int_equal(r.exit_code, CLI_EXIT_REJECTED);
	assert_string_equal(r.out, "");
	assert_non_null(strstr(r.err, "BMC 1 is enrolled, but its verify operation 2 failed: "
				      "login to 10.0.0.5 failed: HTTP 401\n"));
	assert_non_null(strstr(r.err, "'outpost bmc rm 1'"));
	assert_non_null(strstr(srv->requests[0].body, "\"password\":\"file-secret\""));
}

static void
test_run_add_no_wait_json(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "POST", "/api/v1/bmcs", 202, ADD_REPLY);
	setenv("OUTPOST_BMC_PASSWORD", "env-secret", 1);
	run_bmc(srv, &r, "bmc", "add", "--protocol", "ipmi", "--address", "10.0.0.6", "--user",
		"admin", "--no-wait", "--json", NULL);
	unsetenv("OUTPOST_BMC_PASSWORD");
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_json_equal(r.out, ADD_REPLY);
	assert_int_equal(srv->n_requests, 1);
}

static void
test_run_add_without_password(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	run_bmc(srv, &r, "bmc", "add", "--protocol", "redfish", "--address", "10.0.0.5", "--user",
		"admin", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_USAGE);
	assert_non_null(strstr(r.err, "missing password: give --password-file FILE"));
	assert_int_equal(srv->n_requests, 0);
}

static void
test_run_set_without_verify(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "PATCH", "/api/v1/bmcs/1", 200,
		     "{\"bmc\": " BMC_1 ", \"operation\": null}");
	setenv("OUTPOST_BMC_PASSWORD", "env-secret", 1);
	run_bmc(srv, &r, "bmc", "set", "1", "--machine", "4", NULL);
	unsetenv("OUTPOST_BMC_PASSWORD");
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_non_null(strstr(r.out, "machine:       4\n"));
	/* OUTPOST_BMC_PASSWORD applies to set too, as documented. */
	assert_json_equal(srv->requests[0].body, "{\"password\": \"env-secret\", \"machine\": 4}");
	assert_int_equal(srv->n_requests, 1);
}

static void
test_run_list_and_rm(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/bmcs?machine=52:54:00:12:34:56", 200,
		     "{\"items\": [" BMC_1 "]}");
	server_route(srv, "DELETE", "/api/v1/bmcs/1", 204, NULL);
	run_bmc(srv, &r, "bmc", "list", "--machine", "525400123456x", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_USAGE);
	run_bmc(srv, &r, "bmc", "list", "--machine", "52-54-00-12-34-56", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(r.out, "ID  PROTOCOL  ADDRESS        STATUS  POWER  MACHINE\n"
				   "1   redfish   10.0.0.5:8443  ok      on     4\n");
	run_bmc(srv, &r, "bmc", "rm", "1", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_string_equal(r.out, "BMC 1 removed\n");
}

static void
test_run_not_found(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	server_route(srv, "GET", "/api/v1/bmcs/99", 404,
		     "{\"error\": \"not_found\", \"detail\": \"BMC 99 not found\"}");
	run_bmc(srv, &r, "bmc", "show", "99", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_NOT_FOUND);
	assert_string_equal(r.err, "outpost bmc show: BMC 99 not found\n");
	assert_string_equal(r.out, "");
}

static void
test_run_usage_error_sends_nothing(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	run_bmc(srv, &r, "bmc", "power", "3", "off", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_USAGE);
	assert_non_null(strstr(r.err, "power off is destructive"));
	assert_non_null(strstr(r.err, "Try 'outpost bmc power --help'."));
	run_bmc(srv, &r, "bmc", "media", "3", "insert", "file:///etc/passwd", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_USAGE);
	assert_int_equal(srv->n_requests, 0);
}

static void
test_run_help(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	run_bmc(srv, &r, "bmc", "power", "--help", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_non_null(strstr(r.out, "Usage: outpost bmc power ID"));
	assert_non_null(strstr(r.out, "--yes"));
	assert_non_null(strstr(r.out, "in scripts alike"));
	assert_non_null(strstr(r.out, "Exit status:"));
	run_bmc(srv, &r, "bmc", "--help", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_OK);
	assert_non_null(strstr(r.out, "operation OPID"));
	assert_int_equal(srv->n_requests, 0);
}

static void
test_run_unreachable(void **state)
{
	struct fake_server *srv = *state;
	struct run_output r;

	MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	unlink(srv->socket_path);
	run_bmc(srv, &r, "bmc", "list", NULL);
	assert_int_equal(r.exit_code, CLI_EXIT_UNREACHABLE);
	assert_non_null(strstr(r.err, "outpost bmc list: "));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_valid),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_args_password_option_rejected),
		cmocka_unit_test(test_args_canonical_values),
		cmocka_unit_test(test_args_bracketed_address_kept),
		cmocka_unit_test(test_args_wait_seconds),
		cmocka_unit_test(test_command_name),
		cmocka_unit_test(test_body_add),
		cmocka_unit_test(test_body_set),
		cmocka_unit_test(test_body_operations),
		cmocka_unit_test(test_body_operation_none),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_password_length),
		cmocka_unit_test(test_password_missing_file),
		cmocka_unit_test(test_password_env_and_none),
		cmocka_unit_test(test_password_stdin_pipe),
		cmocka_unit_test(test_password_prompt_without_echo),
		cmocka_unit_test(test_poll_delay),
		cmocka_unit_test(test_render_bmcs),
		cmocka_unit_test(test_render_bmcs_rejects_non_array),
		cmocka_unit_test(test_render_bmc),
		cmocka_unit_test(test_render_result_sensors),
		cmocka_unit_test(test_render_result_events),
		cmocka_unit_test(test_render_result_inventory),
		cmocka_unit_test(test_render_result_fields),
		cmocka_unit_test(test_render_result_missing),
		cmocka_unit_test(test_render_operation),
		SERVER_TEST(test_run_sensors_waits),
		SERVER_TEST(test_run_json_prints_operation),
		SERVER_TEST(test_run_failed_operation),
		SERVER_TEST(test_run_no_wait_prints_id),
		SERVER_TEST(test_run_wait_timeout),
		SERVER_TEST(test_run_machine_power),
		SERVER_TEST(test_run_machine_without_bmc),
		SERVER_TEST(test_run_machine_power_status),
		SERVER_TEST(test_run_add_verified),
		SERVER_TEST(test_run_add_verify_failed),
		SERVER_TEST(test_run_add_no_wait_json),
		SERVER_TEST(test_run_add_without_password),
		SERVER_TEST(test_run_set_without_verify),
		SERVER_TEST(test_run_list_and_rm),
		SERVER_TEST(test_run_not_found),
		SERVER_TEST(test_run_usage_error_sends_nothing),
		SERVER_TEST(test_run_help),
		SERVER_TEST(test_run_unreachable),
	};

	return cmocka_run_group_tests_name("cli_bmc", tests, NULL, NULL);
}
