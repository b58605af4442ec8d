/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Argument parsing of `outpost bmc` and `outpost machine power`: finding the command,
 * collecting its options, and checking every operand and value with the API's rules,
 * so that a mistake is reported before any request. No I/O.
 */
#include "cli/cli_bmc-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum bmc_option {
	OPT_PROTOCOL = CLI_LONG_OWN_FIRST,
	OPT_ADDRESS,
	OPT_PORT,
	OPT_USER,
	OPT_PASSWORD_FILE,
	OPT_TLS,
	OPT_CA_FILE,
	OPT_FINGERPRINT,
	OPT_MACHINE,
	OPT_MODE,
	OPT_WAIT_TIMEOUT,
	OPT_NO_WAIT,
	OPT_YES,
	OPT_JSON,
	OPT_PASSWORD,   /* rejected: a command line is readable by every user through ps */
	OPT_END,
};

/* The lowest getopt_long value here, because the connection options come first. */
#define OPT_FIRST CLI_LONG_SOCKET
#define OPT_COUNT (OPT_END - OPT_FIRST)
/* The index of option `o` in the arrays of parsed options. */
#define SLOT(o) ((o) - OPT_FIRST)
#define BIT(o) (UINT32_C(1) << SLOT(o))

/* Options every command accepts. */
#define GLOBAL_OPTIONS \
	(BIT(OPT_JSON) | BIT(CLI_LONG_SOCKET) | BIT(CLI_LONG_URL) | \
	 BIT(CLI_LONG_TOKEN_FILE) | BIT(CLI_LONG_CACERT) | BIT(CLI_LONG_INSECURE) | \
	 BIT(CLI_LONG_HELP))
#define FIELD_OPTIONS \
	(BIT(OPT_PROTOCOL) | BIT(OPT_ADDRESS) | BIT(OPT_PORT) | BIT(OPT_USER) | \
	 BIT(OPT_PASSWORD_FILE) | BIT(OPT_TLS) | BIT(OPT_CA_FILE) | BIT(OPT_FINGERPRINT) | \
	 BIT(OPT_MACHINE))
#define WAIT_OPTIONS (BIT(OPT_WAIT_TIMEOUT) | BIT(OPT_NO_WAIT))

static const struct option long_options[] = {
	{ "protocol", required_argument, NULL, OPT_PROTOCOL },
	{ "address", required_argument, NULL, OPT_ADDRESS },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "user", required_argument, NULL, OPT_USER },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "tls", required_argument, NULL, OPT_TLS },
	{ "ca-file", required_argument, NULL, OPT_CA_FILE },
	{ "fingerprint", required_argument, NULL, OPT_FINGERPRINT },
	{ "machine", required_argument, NULL, OPT_MACHINE },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "wait-timeout", required_argument, NULL, OPT_WAIT_TIMEOUT },
	{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
	{ "yes", no_argument, NULL, OPT_YES },
	{ "json", no_argument, NULL, OPT_JSON },
	CLI_CONNECTION_LONG_OPTIONS,
	/* Optional, so "--password=x" lands here too and its value is never echoed. */
	{ "password", optional_argument, NULL, OPT_PASSWORD },
	{ NULL, 0, NULL, 0 },
};

struct bmc_command_spec {
	const char *group;      /* "bmc" or "machine" */
	const char *verb;
	const char *name;       /* group and verb, for messages */
	const char *operands;   /* their usage, for messages */
	int min_operands;
	int max_operands;
	uint32_t options;       /* beyond GLOBAL_OPTIONS */
};

static const struct bmc_command_spec command_specs[CLI_BMC_MAX] = {
	[CLI_BMC_ADD] = { "bmc", "add", "bmc add", "", 0, 0, FIELD_OPTIONS | WAIT_OPTIONS },
	[CLI_BMC_LIST] = { "bmc", "list", "bmc list", "", 0, 0, BIT(OPT_MACHINE) },
	[CLI_BMC_SHOW] = { "bmc", "show", "bmc show", "ID", 1, 1, 0 },
	[CLI_BMC_SET] = { "bmc", "set", "bmc set", "ID", 1, 1, FIELD_OPTIONS | WAIT_OPTIONS },
	[CLI_BMC_RM] = { "bmc", "rm", "bmc rm", "ID", 1, 1, 0 },
	[CLI_BMC_VERIFY] = { "bmc", "verify", "bmc verify", "ID", 1, 1, WAIT_OPTIONS },
	[CLI_BMC_POWER] = { "bmc", "power", "bmc power",
			    "ID on|off|shutdown|reset|cycle|status", 2, 2,
			    WAIT_OPTIONS | BIT(OPT_YES) },
	[CLI_BMC_BOOT] = { "bmc", "boot", "bmc boot", "ID pxe|http|cd|disk", 2, 2,
			   WAIT_OPTIONS | BIT(OPT_MODE) },
	[CLI_BMC_MEDIA] = { "bmc", "media", "bmc media", "ID insert URL | eject | status", 2, 3,
			    WAIT_OPTIONS },
	[CLI_BMC_SENSORS] = { "bmc", "sensors", "bmc sensors", "ID", 1, 1, WAIT_OPTIONS },
	[CLI_BMC_INVENTORY] = { "bmc", "inventory", "bmc inventory", "ID", 1, 1, WAIT_OPTIONS },
	[CLI_BMC_EVENTS] = { "bmc", "events", "bmc events", "ID", 1, 1, WAIT_OPTIONS },
	[CLI_BMC_FIRMWARE] = { "bmc", "firmware", "bmc firmware", "ID URL", 2, 2,
			       WAIT_OPTIONS | BIT(OPT_YES) },
	[CLI_BMC_OPERATION] = { "bmc", "operation", "bmc operation", "OPID", 1, 1, 0 },
	[CLI_BMC_MACHINE_POWER] = { "machine", "power", "machine power",
				    "REF on|off|shutdown|reset|cycle|status", 2, 2,
				    WAIT_OPTIONS | BIT(OPT_YES) },
};

static const char bmc_verbs[] =
	"add, list, show, set, rm, verify, power, boot, media, sensors, inventory, events, "
	"firmware, operation";

static const char *const power_actions[] = { "on", "off", "shutdown", "reset", "cycle",
					     "status", NULL };
static const char *const boot_devices[] = { "pxe", "http", "cd", "disk", NULL };
static const char *const boot_modes[] = { "uefi", "legacy", "keep", NULL };
static const char *const media_actions[] = { "insert", "eject", "status", NULL };
static const char *const protocols[] = { "redfish", "ipmi", NULL };
static const char *const tls_policies[] = { "ca", "pinned", "tofu", NULL };

const char *
cli_bmc_command_name(enum cli_bmc_command command)
{
	if (command <= CLI_BMC_INVALID || command >= CLI_BMC_MAX)
		return NULL;
	return command_specs[command].name;
}

unsigned
cli_bmc_option_groups(enum cli_bmc_command command)
{
	unsigned groups = 0;
	uint32_t options;

	if (command <= CLI_BMC_INVALID || command >= CLI_BMC_MAX)
		return 0;
	options = command_specs[command].options;
	if ((options & FIELD_OPTIONS) != 0)
		groups |= CLI_BMC_TAKES_FIELDS;
	if ((options & WAIT_OPTIONS) != 0)
		groups |= CLI_BMC_TAKES_WAIT;
	if ((options & BIT(OPT_YES)) != 0)
		groups |= CLI_BMC_TAKES_YES;
	return groups;
}

/* Power actions that take the server's workload down, so they need --yes. */
static bool
power_action_destructive(const char *action)
{
	return strcmp(action, "off") == 0 || strcmp(action, "shutdown") == 0 ||
	       strcmp(action, "reset") == 0 || strcmp(action, "cycle") == 0;
}

/* Find the command from argv[0] and argv[1]. */
static int
find_command(int argc, char **argv, struct cli_bmc_args *ret, char *err, size_t err_size)
{
	if (strcmp(argv[0], "machine") == 0) {
		if (argc < 2 || strcmp(argv[1], "power") != 0)
			return err_set(-EINVAL, err, err_size,
				       "expected 'machine power REF ACTION'");
		ret->command = CLI_BMC_MACHINE_POWER;
		return 0;
	}
	if (strcmp(argv[0], "bmc") != 0)
		return err_set(-EINVAL, err, err_size,
			       "unknown command '%s': expected bmc", argv[0]);
	if (argc < 2)
		return err_set(-EINVAL, err, err_size,
			       "missing command after 'bmc': expected one of %s", bmc_verbs);
	if (cli_is_help(argv[1])) {
		ret->help = true;
		return 0;
	}
	for (int c = CLI_BMC_INVALID + 1; c < CLI_BMC_MAX; c++) {
		if (strcmp(command_specs[c].group, "bmc") == 0 &&
		    strcmp(command_specs[c].verb, argv[1]) == 0) {
			ret->command = (enum cli_bmc_command)c;
			return 0;
		}
	}
	return err_set(-EINVAL, err, err_size,
		       "unknown command 'bmc %s': expected one of %s", argv[1], bmc_verbs);
}

/* The long name of option `o`, for messages. */
static const char *
option_name(int o)
{
	for (size_t i = 0; long_options[i].name != NULL; i++) {
		if (long_options[i].val == o)
			return long_options[i].name;
	}
	return "?";
}

/*
 * The argument getopt_long stopped at, cut before any "=value" so that a mistyped
 * password option does not print the password.
 */
static void
option_text(const char *arg, char *out, size_t size)
{
	size_t len = strcspn(arg, "=");

	snprintf(out, size, "%.*s", (int)(len < 64 ? len : 64), arg);
}

/* Collect the options into values[], checking that each applies and appears once. */
static int
collect_options(int argc, char **argv, const struct bmc_command_spec *spec,
		const char **values, bool *given, char *err, size_t err_size)
{
	char text[80];
	int c;

	/* optind 0 makes glibc start over, so the parser can run more than once. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
		if (c == 'h')
			c = CLI_LONG_HELP;

		/* optopt is the option's value when getopt_long knew it, else 0 or the letter. */
		if (c == ':' && optopt >= OPT_FIRST)
			return err_set(-EINVAL, err, err_size,
				       "option --%s requires a value", option_name(optopt));
		if (c == '?' && optopt >= OPT_FIRST)
			return err_set(-EINVAL, err, err_size,
				       "option --%s takes no value", option_name(optopt));
		if ((c == '?' || c == ':') && optopt > 0)
			return err_set(-EINVAL, err, err_size, "unknown option '-%c'", optopt);
		if (c == '?' || c == ':') {
			option_text(argv[optind - 1], text, sizeof(text));
			return err_set(-EINVAL, err, err_size,
				       "unknown or ambiguous option '%s'", text);
		}
		if (c == OPT_PASSWORD)
			return err_set(-EINVAL, err, err_size, "--password is not accepted, "
				       "because other users can read a command line: use "
				       "--password-file FILE, the OUTPOST_BMC_PASSWORD "
				       "environment variable or the prompt");
		if (((GLOBAL_OPTIONS | spec->options) & BIT(c)) == 0)
			return err_set(-EINVAL, err, err_size,
				       "option --%s does not apply to '%s'",
				       option_name(c), spec->name);
		if (given[SLOT(c)])
			return err_set(-EINVAL, err, err_size,
				       "option --%s is given more than once", option_name(c));
		given[SLOT(c)] = true;
		values[SLOT(c)] = optarg;
	}
	return 0;
}

/* A positive decimal id, named `what` in the message. */
static int
id_parse(const char *text, const char *what, uint64_t *ret, char *err, size_t err_size)
{
	if (uint_parse(text, 1, INT64_MAX, ret) < 0)
		return err_set(-EINVAL, err, err_size,
			       "invalid %s id '%s': expected a positive integer", what, text);
	return 0;
}

/*
 * Host name, IPv4 address or IPv6 address, written as the API takes it: an IPv6
 * address in brackets.
 */
static int
address_normalize(const char *text, char out[CLI_BMC_ADDRESS_SIZE], char *err,
		  size_t err_size)
{
	unsigned char addr[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET6, text, addr) == 1) {
		snprintf(out, CLI_BMC_ADDRESS_SIZE, "[%s]", text);
		return 0;
	}
	/* A valid address is at most 254 bytes long, so it fits in `out`. */
	if (host_address_valid(text)) {
		snprintf(out, CLI_BMC_ADDRESS_SIZE, "%s", text);
		return 0;
	}
	return err_set(-EINVAL, err, err_size, "invalid --address '%s': expected a host name, an "
		       "IPv4 address or an IPv6 address, without a port (give that with --port)",
		       text);
}

/* 64 hex digits, colons between byte pairs allowed, written in lower case without them. */
static int
fingerprint_normalize(const char *text, char out[CLI_BMC_FINGERPRINT_SIZE], char *err,
		      size_t err_size)
{
	size_t n = 0;

	for (const char *p = text; *p != '\0' && n <= 64; p++) {
		if (*p == ':')
			continue;
		if (strchr("0123456789abcdefABCDEF", *p) == NULL)
			break;
		if (n < 64)
			out[n] = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
		n++;
	}
	out[n < 64 ? n : 64] = '\0';
	if (n == 64 && strspn(text, "0123456789abcdefABCDEF:") == strlen(text))
		return 0;
	out[0] = '\0';
	return err_set(-EINVAL, err, err_size, "invalid --fingerprint '%s': expected the SHA-256 "
		       "of the certificate's public key, 64 hex digits, colons allowed", text);
}

/*
 * An image URL that the BMC fetches: http:// or https:// with a host, printable ASCII
 * without spaces, at most CLI_BMC_URL_MAX bytes, as the daemon requires.
 */
static int
url_check(const char *url, char *err, size_t err_size)
{
	size_t len = strlen(url);
	size_t scheme = strncasecmp(url, "http://", 7) == 0 ? 7 :
			strncasecmp(url, "https://", 8) == 0 ? 8 : 0;

	if (scheme == 0)
		return err_set(-EINVAL, err, err_size, "invalid URL '%s': expected http:// or "
			       "https://, because the BMC fetches the image itself", url);
	if (url[scheme] == '\0' || url[scheme] == '/')
		return err_set(-EINVAL, err, err_size,
			       "invalid URL '%s': the host is missing", url);
	if (len > CLI_BMC_URL_MAX)
		return err_set(-EINVAL, err, err_size,
			       "the URL is %zu bytes long: the maximum is %d",
			       len, CLI_BMC_URL_MAX);
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return err_set(-EINVAL, err, err_size, "invalid URL '%s': it has a space "
				       "or a byte outside printable ASCII at offset %zu; "
				       "percent-encode it", url, i);
	}
	return 0;
}

/* Check a value that must be one of `names`, which `expected` lists for the message. */
static int
choice_check(const char *value, const char *what, const char *const *names,
	     const char *expected, char *err, size_t err_size)
{
	if (cli_name_in(value, names))
		return 0;
	return err_set(-EINVAL, err, err_size,
		       "invalid %s '%s': expected %s", what, value, expected);
}

/* Check the options of add and set, and store their values in ret. */
static int
check_fields(struct cli_bmc_args *ret, const char **values, char *err, size_t err_size)
{
	const char *v;
	int rc;

	v = values[SLOT(OPT_PROTOCOL)];
	if (v != NULL) {
		rc = choice_check(v, "--protocol", protocols, "redfish or ipmi", err, err_size);
		if (rc < 0)
			return rc;
		ret->protocol = v;
	}
	v = values[SLOT(OPT_ADDRESS)];
	if (v != NULL && address_normalize(v, ret->address, err, err_size) < 0)
		return -EINVAL;
	v = values[SLOT(OPT_PORT)];
	if (v != NULL && uint_parse(v, 1, 65535, &ret->port) < 0)
		return err_set(-EINVAL, err, err_size,
			       "invalid --port '%s': expected a number from 1 to 65535", v);
	v = values[SLOT(OPT_USER)];
	if (v != NULL && (v[0] == '\0' || strlen(v) >= CLI_BMC_USER_SIZE))
		return err_set(-EINVAL, err, err_size,
			       "invalid --user '%s': expected 1 to %d bytes",
			       v, CLI_BMC_USER_SIZE - 1);
	ret->user = v;
	v = values[SLOT(OPT_PASSWORD_FILE)];
	if (v != NULL && v[0] == '\0')
		return err_set(-EINVAL, err, err_size,
			       "empty --password-file: give a file, or - for standard input");
	ret->password_file = v;
	v = values[SLOT(OPT_TLS)];
	if (v != NULL) {
		rc = choice_check(v, "--tls", tls_policies, "ca, pinned or tofu", err, err_size);
		if (rc < 0)
			return rc;
		ret->tls = v;
	}
	v = values[SLOT(OPT_CA_FILE)];
	if (v != NULL && (v[0] != '/' || strlen(v) >= CLI_BMC_PATH_SIZE))
		return err_set(-EINVAL, err, err_size, "invalid --ca-file '%s': expected an "
			       "absolute path on the daemon's host, shorter than %d bytes",
			       v, CLI_BMC_PATH_SIZE);
	ret->ca_file = v;
	v = values[SLOT(OPT_FINGERPRINT)];
	if (v != NULL && fingerprint_normalize(v, ret->fingerprint, err, err_size) < 0)
		return -EINVAL;

	/* --machine '' unlinks in set. Elsewhere a REF is required. */
	v = values[SLOT(OPT_MACHINE)];
	if (v != NULL && !(v[0] == '\0' && ret->command == CLI_BMC_SET) &&
	    cli_ref_parse(v, ret->machine) < 0)
		return err_set(-EINVAL, err, err_size,
			       "invalid --machine '%s': expected a numeric id or a MAC address", v);
	return 0;
}

/* Check what add and set need beyond valid values. */
static int
check_add_set(const struct cli_bmc_args *ret, const bool *given, char *err, size_t err_size)
{
	bool any = false;

	if (ret->command == CLI_BMC_SET) {
		for (int o = OPT_PROTOCOL; o <= OPT_MACHINE; o++)
			any = any || given[SLOT(o)];
		if (!any)
			return err_set(-EINVAL, err, err_size, "nothing to change: give at least "
				       "one of --protocol, --address, --port, --user, "
				       "--password-file, --tls, --ca-file, --fingerprint or "
				       "--machine");
		return 0;
	}
	if (ret->protocol == NULL || ret->address[0] == '\0' || ret->user == NULL)
		return err_set(-EINVAL, err, err_size,
			       "bmc add needs --protocol, --address and --user");
	if (strcmp(ret->protocol, "ipmi") == 0 &&
	    (ret->tls != NULL || ret->ca_file != NULL || ret->fingerprint[0] != '\0'))
		return err_set(-EINVAL, err, err_size, "--tls, --ca-file and --fingerprint apply "
			       "only to Redfish: IPMI has no TLS");
	if (ret->tls != NULL && strcmp(ret->tls, "pinned") == 0 && ret->fingerprint[0] == '\0')
		return err_set(-EINVAL, err, err_size, "--tls pinned needs --fingerprint: the "
			       "SHA-256 of the BMC certificate's public key");
	return 0;
}

/* Check the operands of the command and store them in ret. */
static int
check_operands(struct cli_bmc_args *ret, char **operands, int count, char *err,
	       size_t err_size)
{
	const struct bmc_command_spec *spec = &command_specs[ret->command];
	int rc;

	if (count < spec->min_operands)
		return err_set(-EINVAL, err, err_size,
			       "missing arguments: expected 'outpost %s %s'",
			       spec->name, spec->operands);
	if (count > spec->max_operands)
		return err_set(-EINVAL, err, err_size,
			       "unexpected argument '%s'", operands[spec->max_operands]);
	if (count == 0)
		return 0;

	if (ret->command == CLI_BMC_MACHINE_POWER) {
		if (cli_ref_parse(operands[0], ret->machine) < 0)
			return err_set(-EINVAL, err, err_size, "invalid machine '%s': expected a "
				       "numeric id or a MAC address", operands[0]);
		ret->machine_given = true;
	} else {
		rc = id_parse(operands[0], ret->command == CLI_BMC_OPERATION ? "operation" : "BMC",
			      &ret->id, err, err_size);
		if (rc < 0)
			return rc;
	}

	switch (ret->command) {
	case CLI_BMC_POWER:
	case CLI_BMC_MACHINE_POWER:
		ret->action = operands[1];
		return choice_check(operands[1], "power action", power_actions,
				    "on, off, shutdown, reset, cycle or status", err, err_size);
	case CLI_BMC_BOOT:
		ret->device = operands[1];
		return choice_check(operands[1], "boot device", boot_devices,
				    "pxe, http, cd or disk", err, err_size);
	case CLI_BMC_MEDIA:
		ret->action = operands[1];
		rc = choice_check(operands[1], "media action", media_actions,
				  "insert URL, eject or status", err, err_size);
		if (rc < 0)
			return rc;
		if (strcmp(operands[1], "insert") == 0 && count != 3)
			return err_set(-EINVAL, err, err_size,
				       "bmc media insert needs the image URL");
		if (strcmp(operands[1], "insert") != 0 && count == 3)
			return err_set(-EINVAL, err, err_size,
				       "unexpected argument '%s'", operands[2]);
		ret->url = count == 3 ? operands[2] : NULL;
		return ret->url != NULL ? url_check(ret->url, err, err_size) : 0;
	case CLI_BMC_FIRMWARE:
		ret->url = operands[1];
		return url_check(ret->url, err, err_size);
	default:
		return 0;
	}
}

/* Check the options that control waiting, confirmation and the connection. */
static int
check_other(struct cli_bmc_args *ret, const char **values, const bool *given, char *err,
	    size_t err_size)
{
	const char *v = values[SLOT(OPT_WAIT_TIMEOUT)];
	bool power = ret->command == CLI_BMC_POWER || ret->command == CLI_BMC_MACHINE_POWER;

	ret->wait_seconds = ret->command == CLI_BMC_FIRMWARE ? CLI_BMC_FIRMWARE_WAIT_DEFAULT :
							       CLI_BMC_WAIT_DEFAULT;
	if (v != NULL && uint_parse(v, 1, CLI_BMC_WAIT_MAX, &ret->wait_seconds) < 0)
		return err_set(-EINVAL, err, err_size,
			       "invalid --wait-timeout '%s': expected seconds from 1 to %d",
			       v, CLI_BMC_WAIT_MAX);
	if (v != NULL && ret->no_wait)
		return err_set(-EINVAL, err, err_size,
			       "--wait-timeout and --no-wait exclude each other: give one");

	v = values[SLOT(OPT_MODE)];
	if (v != NULL && choice_check(v, "--mode", boot_modes, "uefi, legacy or keep", err,
				      err_size) < 0)
		return -EINVAL;
	ret->mode = v;

	if (!ret->yes && power && power_action_destructive(ret->action))
		return err_set(-EINVAL, err, err_size, "power %s is destructive: it stops what "
			       "the server runs. Add --yes to confirm (scripts must pass --yes "
			       "too)", ret->action);
	if (!ret->yes && ret->command == CLI_BMC_FIRMWARE)
		return err_set(-EINVAL, err, err_size, "a firmware update is destructive: the "
			       "server may restart. Add --yes to confirm (scripts must pass "
			       "--yes too)");

	if (given[SLOT(CLI_LONG_URL)] && given[SLOT(CLI_LONG_SOCKET)])
		return err_set(-EINVAL, err, err_size,
			       "--url and --socket exclude each other: give one");
	if (given[SLOT(CLI_LONG_INSECURE)] && given[SLOT(CLI_LONG_CACERT)])
		return err_set(-EINVAL, err, err_size,
			       "--insecure and --cacert exclude each other: give one");
	return 0;
}

/* Copy the connection options into the struct cli_endpoint_resolve reads. */
static void
connection_options(struct cli_bmc_args *ret, const char **values, const bool *given)
{
	static const struct {
		int option;
		enum cli_option conn;
	} map[] = {
		{ CLI_LONG_SOCKET, CLI_OPT_SOCKET }, { CLI_LONG_URL, CLI_OPT_URL },
		{ CLI_LONG_TOKEN_FILE, CLI_OPT_TOKEN_FILE }, { CLI_LONG_CACERT, CLI_OPT_CACERT },
		{ CLI_LONG_INSECURE, CLI_OPT_INSECURE }, { OPT_JSON, CLI_OPT_JSON },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		ret->conn.given[map[i].conn] = given[SLOT(map[i].option)];
		ret->conn.value[map[i].conn] = values[SLOT(map[i].option)];
	}
}

int
cli_bmc_args_parse(int argc, char **argv, struct cli_bmc_args *ret, char *err,
		   size_t err_size)
{
	const char *values[OPT_COUNT] = { NULL };
	bool given[OPT_COUNT] = { false };
	const struct bmc_command_spec *spec;
	int rc;

	memset(ret, 0, sizeof(*ret));
	err[0] = '\0';
	if (argc < 1 || argv[0] == NULL)
		return err_set(-EINVAL, err, err_size, "missing command: expected bmc");
	rc = find_command(argc, argv, ret, err, err_size);
	if (rc < 0 || ret->help)
		return rc;
	spec = &command_specs[ret->command];

	/* Help wins over every other argument, valid or not. */
	for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (cli_is_help(argv[i])) {
			ret->help = true;
			return 0;
		}
	}

	/* getopt_long takes the verb as the program name and moves the operands to the end. */
	rc = collect_options(argc - 1, argv + 1, spec, values, given, err, err_size);
	if (rc < 0)
		return rc;
	ret->json = given[SLOT(OPT_JSON)];
	ret->no_wait = given[SLOT(OPT_NO_WAIT)];
	ret->yes = given[SLOT(OPT_YES)];
	ret->machine_given = given[SLOT(OPT_MACHINE)];
	connection_options(ret, values, given);

	rc = check_operands(ret, argv + 1 + optind, argc - 1 - optind, err, err_size);
	if (rc == 0 && (spec->options & FIELD_OPTIONS) != 0)
		rc = check_fields(ret, values, err, err_size);
	if (rc == 0 && (ret->command == CLI_BMC_ADD || ret->command == CLI_BMC_SET))
		rc = check_add_set(ret, given, err, err_size);
	if (rc == 0 && ret->command == CLI_BMC_LIST && ret->machine_given) {
		const char *v = values[SLOT(OPT_MACHINE)];

		if (cli_ref_parse(v, ret->machine) < 0)
			rc = err_set(-EINVAL, err, err_size, "invalid --machine '%s': expected a "
				     "numeric id or a MAC address", v);
	}
	if (rc == 0)
		rc = check_other(ret, values, given, err, err_size);
	return rc;
}
