/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command-line parsing for the CLI: the table of commands and the options each one
 * accepts, local validation of every value with the API's own rules, and the request
 * bodies and query strings built from the result. Nothing here does I/O, so the unit
 * tests call it directly.
 */
#include "cli/cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define OPT(o) (UINT64_C(1) << (o))

/* Options every command accepts. */
#define GLOBAL_OPTIONS \
	(OPT(CLI_OPT_HELP) | OPT(CLI_OPT_JSON) | OPT(CLI_OPT_SOCKET) | OPT(CLI_OPT_URL) | \
	 OPT(CLI_OPT_TOKEN_FILE) | OPT(CLI_OPT_CACERT) | OPT(CLI_OPT_INSECURE))

#define MACHINE_FIELDS \
	(OPT(CLI_OPT_MAC) | OPT(CLI_OPT_HOSTNAME) | OPT(CLI_OPT_UUID) | OPT(CLI_OPT_IP) | \
	 OPT(CLI_OPT_PROFILE) | OPT(CLI_OPT_SERIAL) | OPT(CLI_OPT_VENDOR) | \
	 OPT(CLI_OPT_MODEL) | OPT(CLI_OPT_ARCH) | OPT(CLI_OPT_PLATFORM))

#define PROFILE_FIELDS \
	(OPT(CLI_OPT_KERNEL) | OPT(CLI_OPT_INITRD) | OPT(CLI_OPT_IMAGE) | OPT(CLI_OPT_CMDLINE))

#define MACHINE_FILTERS \
	(OPT(CLI_OPT_STATE) | OPT(CLI_OPT_PROFILE) | OPT(CLI_OPT_MAC) | \
	 OPT(CLI_OPT_HOSTNAME) | OPT(CLI_OPT_LIMIT) | OPT(CLI_OPT_ALL))

struct option_spec {
	const char *name;  /* long name without the dashes */
	char short_name;   /* 0 when none */
	bool has_value;
};

static const struct option_spec option_specs[CLI_OPT_MAX] = {
	[CLI_OPT_HELP] = { "help", 'h', false },
	[CLI_OPT_JSON] = { "json", 0, false },
	[CLI_OPT_SOCKET] = { "socket", 0, true },
	[CLI_OPT_URL] = { "url", 0, true },
	[CLI_OPT_TOKEN_FILE] = { "token-file", 0, true },
	[CLI_OPT_CACERT] = { "cacert", 0, true },
	[CLI_OPT_INSECURE] = { "insecure", 0, false },
	[CLI_OPT_STATE] = { "state", 0, true },
	[CLI_OPT_LIMIT] = { "limit", 0, true },
	[CLI_OPT_AFTER] = { "after", 0, true },
	[CLI_OPT_ALL] = { "all", 0, false },
	[CLI_OPT_MAC] = { "mac", 0, true },
	[CLI_OPT_HOSTNAME] = { "hostname", 0, true },
	[CLI_OPT_UUID] = { "uuid", 0, true },
	[CLI_OPT_IP] = { "ip", 0, true },
	[CLI_OPT_PROFILE] = { "profile", 0, true },
	[CLI_OPT_SERIAL] = { "serial", 0, true },
	[CLI_OPT_VENDOR] = { "vendor", 0, true },
	[CLI_OPT_MODEL] = { "model", 0, true },
	[CLI_OPT_ARCH] = { "arch", 0, true },
	[CLI_OPT_PLATFORM] = { "platform", 0, true },
	[CLI_OPT_KERNEL] = { "kernel", 0, true },
	[CLI_OPT_INITRD] = { "initrd", 0, true },
	[CLI_OPT_IMAGE] = { "image", 0, true },
	[CLI_OPT_CMDLINE] = { "cmdline", 0, true },
	[CLI_OPT_BOOT] = { "boot", 0, true },
};

enum operand_kind {
	OPERAND_NONE,
	OPERAND_MACHINE,  /* REF: id or MAC */
	OPERAND_PROFILE,  /* NAME */
};

struct command_spec {
	const char *group;
	const char *verb;      /* NULL for a group without verbs */
	const char *name;      /* group and verb, for messages */
	enum operand_kind operand;
	uint64_t options;      /* beyond GLOBAL_OPTIONS */
};

static const struct command_spec command_specs[CLI_CMD_MAX] = {
	[CLI_CMD_MACHINE_LIST] = { "machine", "list", "machine list", OPERAND_NONE,
				   MACHINE_FILTERS },
	[CLI_CMD_MACHINE_SHOW] = { "machine", "show", "machine show", OPERAND_MACHINE, 0 },
	[CLI_CMD_MACHINE_ADD] = { "machine", "add", "machine add", OPERAND_NONE,
				  MACHINE_FIELDS },
	[CLI_CMD_MACHINE_SET] = { "machine", "set", "machine set", OPERAND_MACHINE,
				  MACHINE_FIELDS },
	[CLI_CMD_MACHINE_DEPLOY] = { "machine", "deploy", "machine deploy", OPERAND_MACHINE,
				     OPT(CLI_OPT_PROFILE) | OPT(CLI_OPT_BOOT) },
	[CLI_CMD_MACHINE_RM] = { "machine", "rm", "machine rm", OPERAND_MACHINE, 0 },
	[CLI_CMD_PROFILE_LIST] = { "profile", "list", "profile list", OPERAND_NONE, 0 },
	[CLI_CMD_PROFILE_SHOW] = { "profile", "show", "profile show", OPERAND_PROFILE, 0 },
	[CLI_CMD_PROFILE_ADD] = { "profile", "add", "profile add", OPERAND_PROFILE,
				  PROFILE_FIELDS },
	[CLI_CMD_PROFILE_SET] = { "profile", "set", "profile set", OPERAND_PROFILE,
				  PROFILE_FIELDS },
	[CLI_CMD_PROFILE_RM] = { "profile", "rm", "profile rm", OPERAND_PROFILE, 0 },
	[CLI_CMD_AUDIT_SHOW] = { "audit", "show", "audit show", OPERAND_NONE,
				 OPT(CLI_OPT_AFTER) | OPT(CLI_OPT_LIMIT) },
	[CLI_CMD_AUDIT_VERIFY] = { "audit", "verify", "audit verify", OPERAND_NONE, 0 },
	[CLI_CMD_STATUS] = { "status", NULL, "status", OPERAND_NONE, 0 },
};

/* The verbs of each group, for "expected one of" messages. */
static const struct {
	const char *group;
	const char *verbs;
} group_verbs[] = {
	{ "machine", "list, show, add, set, deploy, rm" },
	{ "profile", "list, show, add, set, rm" },
	{ "audit", "show, verify" },
	{ "status", NULL },
};

/* Machine lifecycle states, as the API names them. */
static const char *const machine_states[] = {
	"discovered", "ready", "deploying", "deployed", "failed", "decommissioning", NULL,
};

static const char *const arch_names[] = {
	"i386", "x86_64", "arm32", "arm64", "riscv64", NULL,
};

static const char *const platform_names[] = { "pcbios", "efi", NULL };

static int __attribute__((format(printf, 3, 4)))
args_error(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

bool
cli_name_in(const char *name, const char *const *names)
{
	for (size_t i = 0; names[i] != NULL; i++) {
		if (strcmp(name, names[i]) == 0)
			return true;
	}
	return false;
}

bool
cli_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

const char *
cli_command_name(enum cli_command command)
{
	if (command <= CLI_CMD_INVALID || command >= CLI_CMD_MAX)
		return NULL;
	return command_specs[command].name;
}

int
cli_ref_parse(const char *text, char out[CLI_REF_SIZE])
{
	char mac[MAC_TEXT_SIZE];
	uint64_t id;

	/* Digits only make an id. Printing it back drops leading zeros. */
	if (text[0] != '\0' && strspn(text, "0123456789") == strlen(text)) {
		if (uint_parse(text, 1, INT64_MAX, &id) < 0)
			return -EINVAL;
		snprintf(out, CLI_REF_SIZE, "%" PRIu64, id);
		return 0;
	}

	if (mac_parse(text, mac) < 0)
		return -EINVAL;
	memcpy(out, mac, sizeof(mac));
	return 0;
}

bool
cli_profile_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > CLI_PROFILE_NAME_MAX)
		return false;
	if (strchr("abcdefghijklmnopqrstuvwxyz0123456789", name[0]) == NULL)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

/* Find the command named by argv[0] and argv[1], and set *first to the index after them. */
static int
find_command(int argc, char *const *argv, struct cli_args *ret, int *first, char *err,
	     size_t err_size)
{
	const char *verbs = NULL;
	bool known = false;

	for (size_t i = 0; i < sizeof(group_verbs) / sizeof(group_verbs[0]); i++) {
		if (strcmp(argv[0], group_verbs[i].group) == 0) {
			known = true;
			verbs = group_verbs[i].verbs;
		}
	}
	if (!known)
		return args_error(err, err_size,
				  "unknown command '%s': expected machine, profile, audit or status",
				  argv[0]);
	ret->group = argv[0];

	/* A group without verbs is its own command. */
	if (verbs == NULL) {
		ret->command = CLI_CMD_STATUS;
		*first = 1;
		return 0;
	}

	if (argc < 2 || cli_is_help(argv[1])) {
		if (argc >= 2) {
			ret->help = true;
			return 0;
		}
		return args_error(err, err_size, "missing command after '%s': expected one of %s",
				  argv[0], verbs);
	}

	for (int command = CLI_CMD_INVALID + 1; command < CLI_CMD_MAX; command++) {
		const struct command_spec *spec = &command_specs[command];

		if (spec->verb != NULL && strcmp(spec->group, argv[0]) == 0 &&
		    strcmp(spec->verb, argv[1]) == 0) {
			ret->command = (enum cli_command)command;
			*first = 2;
			return 0;
		}
	}
	return args_error(err, err_size, "unknown command '%s %s': expected one of %s",
			  argv[0], argv[1], verbs);
}

/* Add one --mac value, rejecting a repeat of the same address. */
static int
add_mac(struct cli_args *ret, const char *value, char *err, size_t err_size)
{
	char mac[MAC_TEXT_SIZE];

	if (mac_parse(value, mac) < 0)
		return args_error(err, err_size,
				  "invalid --mac '%s': expected six hex bytes such as 52:54:00:12:34:56",
				  value);

	if (ret->n_macs == CLI_MACS_MAX)
		return args_error(err, err_size, "too many --mac options: a machine has at most %d MACs",
				  CLI_MACS_MAX);

	for (size_t i = 0; i < ret->n_macs; i++) {
		if (strcmp(ret->macs[i], mac) == 0)
			return args_error(err, err_size, "MAC %s is given twice", mac);
	}

	memcpy(ret->macs[ret->n_macs++], mac, sizeof(mac));
	return 0;
}

/* Parse the option at argv[*i], consuming its value from argv[*i + 1] when needed. */
static int
parse_option(const struct command_spec *spec, int argc, char *const *argv, int *i,
	     struct cli_args *ret, char *err, size_t err_size)
{
	const char *arg = argv[*i];
	const char *value = NULL;
	const char *equals;
	size_t name_len;
	int option = -1;

	/* Match "--name", "--name=value" or a one-letter "-x". */
	if (arg[1] == '-') {
		equals = strchr(arg + 2, '=');
		name_len = equals != NULL ? (size_t)(equals - (arg + 2)) : strlen(arg + 2);
		for (int o = 0; o < CLI_OPT_MAX; o++) {
			if (strlen(option_specs[o].name) == name_len &&
			    strncmp(option_specs[o].name, arg + 2, name_len) == 0)
				option = o;
		}
		if (equals != NULL)
			value = equals + 1;
	} else if (arg[2] == '\0') {
		for (int o = 0; o < CLI_OPT_MAX; o++) {
			if (option_specs[o].short_name != 0 && option_specs[o].short_name == arg[1])
				option = o;
		}
	}
	if (option < 0)
		return args_error(err, err_size, "unknown option '%s'", arg);

	if (((GLOBAL_OPTIONS | spec->options) & OPT(option)) == 0)
		return args_error(err, err_size, "option --%s does not apply to '%s'",
				  option_specs[option].name, spec->name);

	/* Take the value from "=value" or from the next argument. */
	if (!option_specs[option].has_value && value != NULL)
		return args_error(err, err_size, "option --%s takes no value",
				  option_specs[option].name);
	if (option_specs[option].has_value && value == NULL) {
		if (*i + 1 >= argc)
			return args_error(err, err_size, "option --%s requires a value",
					  option_specs[option].name);
		*i += 1;
		value = argv[*i];
	}

	/* Only machine add and set take a list of MACs. Every other option may appear once. */
	if (option == CLI_OPT_MAC &&
	    (ret->command == CLI_CMD_MACHINE_ADD || ret->command == CLI_CMD_MACHINE_SET)) {
		ret->given[option] = true;
		ret->value[option] = value;
		return add_mac(ret, value, err, err_size);
	}
	if (ret->given[option])
		return args_error(err, err_size, "option --%s is given more than once",
				  option_specs[option].name);

	ret->given[option] = true;
	ret->value[option] = value;
	return 0;
}

/* Check a value that names one of `names`, listed in the message. */
static int
check_name(const struct cli_args *ret, enum cli_option option, const char *const *names,
	   const char *expected, char *err, size_t err_size)
{
	const char *value = ret->value[option];

	if (!ret->given[option] || cli_name_in(value, names))
		return 0;
	return args_error(err, err_size, "invalid --%s '%s': expected one of %s",
			  option_specs[option].name, value, expected);
}

/* True when the command stores values, where an empty value clears or omits a field. */
static bool
command_writes_fields(enum cli_command command)
{
	return command == CLI_CMD_MACHINE_ADD || command == CLI_CMD_MACHINE_SET ||
	       command == CLI_CMD_PROFILE_ADD || command == CLI_CMD_PROFILE_SET;
}

/* Validate the values of options that describe a machine or filter machines. */
static int
check_machine_values(struct cli_args *ret, char *err, size_t err_size)
{
	bool writes = command_writes_fields(ret->command);
	const char *value;
	struct in6_addr addr6;
	struct in_addr addr4;
	static const enum cli_option text_options[] = {
		CLI_OPT_SERIAL, CLI_OPT_VENDOR, CLI_OPT_MODEL,
	};
	int rc;

	/* Only add and set accept an empty value, which clears or leaves out a field. */
	for (int o = CLI_OPT_STATE; o < CLI_OPT_MAX; o++) {
		if (ret->given[o] && option_specs[o].has_value && ret->value[o][0] == '\0' &&
		    !writes && o != CLI_OPT_MAC)
			return args_error(err, err_size, "empty --%s: give a value",
					  option_specs[o].name);
	}

	/* machine list takes one --mac filter. Add and set collected theirs while parsing. */
	if (ret->given[CLI_OPT_MAC] && ret->n_macs == 0) {
		rc = add_mac(ret, ret->value[CLI_OPT_MAC], err, err_size);
		if (rc < 0)
			return rc;
	}

	value = ret->value[CLI_OPT_HOSTNAME];
	if (ret->given[CLI_OPT_HOSTNAME] && value[0] != '\0' && !hostname_valid(value))
		return args_error(err, err_size,
				  "invalid --hostname '%s': expected an RFC 1123 name, dot-separated labels of letters, digits and hyphens",
				  value);

	value = ret->value[CLI_OPT_UUID];
	if (ret->given[CLI_OPT_UUID] && value[0] != '\0' && uuid_parse(value, ret->uuid) < 0)
		return args_error(err, err_size,
				  "invalid --uuid '%s': expected the 8-4-4-4-12 hex form such as 4c4c4544-0042-3510-8052-b4c04f4e3632",
				  value);

	/* Write the address back in canonical form, as the server stores it. */
	value = ret->value[CLI_OPT_IP];
	if (ret->given[CLI_OPT_IP] && value[0] != '\0') {
		if (inet_pton(AF_INET, value, &addr4) == 1)
			inet_ntop(AF_INET, &addr4, ret->ip, sizeof(ret->ip));
		else if (inet_pton(AF_INET6, value, &addr6) == 1)
			inet_ntop(AF_INET6, &addr6, ret->ip, sizeof(ret->ip));
		else
			return args_error(err, err_size,
					  "invalid --ip '%s': expected an IPv4 or IPv6 address",
					  value);
	}

	value = ret->value[CLI_OPT_BOOT];
	if (ret->given[CLI_OPT_BOOT] && strcmp(value, "network") != 0 &&
	    strcmp(value, "virtual-media") != 0)
		return args_error(err, err_size,
				  "invalid --boot '%s': expected network or virtual-media", value);

	value = ret->value[CLI_OPT_PROFILE];
	if (ret->given[CLI_OPT_PROFILE] && value[0] != '\0' && !cli_profile_name_valid(value))
		return args_error(err, err_size,
				  "invalid --profile '%s': expected a-z or 0-9, then up to 63 of a-z, 0-9, '.', '_' and '-'",
				  value);

	for (size_t i = 0; i < sizeof(text_options) / sizeof(text_options[0]); i++) {
		enum cli_option o = text_options[i];

		if (ret->given[o] && strlen(ret->value[o]) > CLI_TEXT_FIELD_MAX)
			return args_error(err, err_size, "--%s is %zu bytes long: the maximum is %d",
					  option_specs[o].name, strlen(ret->value[o]),
					  CLI_TEXT_FIELD_MAX);
	}

	/* Empty arch and platform values clear or leave out the field. Others must be known names. */
	if (ret->given[CLI_OPT_ARCH] && ret->value[CLI_OPT_ARCH][0] != '\0') {
		rc = check_name(ret, CLI_OPT_ARCH, arch_names,
				"i386, x86_64, arm32, arm64, riscv64", err, err_size);
		if (rc < 0)
			return rc;
	}
	if (ret->given[CLI_OPT_PLATFORM] && ret->value[CLI_OPT_PLATFORM][0] != '\0') {
		rc = check_name(ret, CLI_OPT_PLATFORM, platform_names, "pcbios, efi", err,
				err_size);
		if (rc < 0)
			return rc;
	}

	return check_name(ret, CLI_OPT_STATE, machine_states,
			  "discovered, ready, deploying, deployed, failed, decommissioning", err,
			  err_size);
}

/* Validate paging, profile fields and the combinations of connection options. */
static int
check_other_values(struct cli_args *ret, char *err, size_t err_size)
{
	static const enum cli_option required[] = { CLI_OPT_KERNEL, CLI_OPT_INITRD };

	if (ret->given[CLI_OPT_LIMIT] &&
	    uint_parse(ret->value[CLI_OPT_LIMIT], 1, CLI_LIMIT_MAX, &ret->limit) < 0)
		return args_error(err, err_size, "invalid --limit '%s': expected a number from 1 to %d",
				  ret->value[CLI_OPT_LIMIT], CLI_LIMIT_MAX);

	if (ret->given[CLI_OPT_AFTER] &&
	    uint_parse(ret->value[CLI_OPT_AFTER], 0, INT64_MAX, &ret->after) < 0)
		return args_error(err, err_size,
				  "invalid --after '%s': expected an audit sequence number (0 or more)",
				  ret->value[CLI_OPT_AFTER]);

	/* A profile always has a kernel and an initrd, so neither can be cleared. */
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		enum cli_option o = required[i];

		if (ret->given[o] && ret->value[o][0] == '\0')
			return args_error(err, err_size, "empty --%s: a profile needs one",
					  option_specs[o].name);
	}

	if (ret->given[CLI_OPT_URL] && ret->given[CLI_OPT_SOCKET])
		return args_error(err, err_size, "--url and --socket exclude each other: give one");
	if (ret->given[CLI_OPT_INSECURE] && ret->given[CLI_OPT_CACERT])
		return args_error(err, err_size, "--insecure and --cacert exclude each other: give one");

	return 0;
}

/* Check the operand and what each command needs beyond valid values. */
static int
check_command(struct cli_args *ret, const struct command_spec *spec, char *err,
	      size_t err_size)
{
	bool any_field = false;

	if (spec->operand == OPERAND_MACHINE && cli_ref_parse(ret->operand, ret->ref) < 0)
		return args_error(err, err_size,
				  "invalid machine '%s': expected a numeric id or a MAC address",
				  ret->operand);
	if (spec->operand == OPERAND_PROFILE && !cli_profile_name_valid(ret->operand))
		return args_error(err, err_size,
				  "invalid profile name '%s': expected a-z or 0-9, then up to 63 of a-z, 0-9, '.', '_' and '-'",
				  ret->operand);

	for (int o = CLI_OPT_MAC; o < CLI_OPT_MAX; o++)
		any_field = any_field || ret->given[o];

	switch (ret->command) {
	case CLI_CMD_MACHINE_ADD:
		if (ret->n_macs == 0)
			return args_error(err, err_size, "machine add needs at least one --mac");
		break;
	case CLI_CMD_PROFILE_ADD:
		if (!ret->given[CLI_OPT_KERNEL] || !ret->given[CLI_OPT_INITRD])
			return args_error(err, err_size, "profile add needs --kernel and --initrd");
		break;
	case CLI_CMD_MACHINE_SET:
	case CLI_CMD_PROFILE_SET:
		if (!any_field)
			return args_error(err, err_size, "nothing to change: give at least one field option");
		break;
	default:
		break;
	}
	return 0;
}

int
cli_args_parse(int argc, char *const *argv, struct cli_args *ret, char *err,
	       size_t err_size)
{
	const struct command_spec *spec;
	bool operands_only = false;
	int first = 1;
	int rc;

	memset(ret, 0, sizeof(*ret));
	err[0] = '\0';
	if (argc < 1 || argv[0] == NULL)
		return args_error(err, err_size, "missing command: expected machine, profile, audit or status");

	rc = find_command(argc, argv, ret, &first, err, err_size);
	if (rc < 0 || ret->help)
		return rc;
	spec = &command_specs[ret->command];

	/* Help wins over every other argument, valid or not. */
	for (int i = first; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (cli_is_help(argv[i])) {
			ret->help = true;
			return 0;
		}
	}

	/* Options may come before or after the operand, and "--" ends the options. */
	for (int i = first; i < argc; i++) {
		const char *arg = argv[i];

		if (!operands_only && strcmp(arg, "--") == 0) {
			operands_only = true;
			continue;
		}
		if (!operands_only && arg[0] == '-' && arg[1] != '\0') {
			rc = parse_option(spec, argc, argv, &i, ret, err, err_size);
			if (rc < 0)
				return rc;
			continue;
		}
		if (spec->operand == OPERAND_NONE || ret->operand != NULL)
			return args_error(err, err_size, "unexpected argument '%s'", arg);
		ret->operand = arg;
	}

	if (spec->operand != OPERAND_NONE && ret->operand == NULL)
		return args_error(err, err_size, "%s needs a %s", spec->name,
				  spec->operand == OPERAND_MACHINE ? "machine id or MAC"
								   : "profile name");

	rc = check_machine_values(ret, err, err_size);
	if (rc < 0)
		return rc;
	rc = check_other_values(ret, err, err_size);
	if (rc < 0)
		return rc;
	return check_command(ret, spec, err, err_size);
}

/*
 * Set body[key] from an option: a string, or null for an empty value in a patch.
 * An absent option, or an empty one in a create, sets nothing. Returns 0 or -ENOMEM.
 */
static int
body_set(json_t *body, const char *key, bool given, const char *value, bool patch)
{
	json_t *json;

	if (!given || (value[0] == '\0' && !patch))
		return 0;

	json = value[0] == '\0' ? json_null() : json_string(value);
	if (json_object_set_new(body, key, json) < 0)
		return -ENOMEM;
	return 0;
}

json_t *
cli_machine_body(const struct cli_args *args, bool patch)
{
	json_t *body = json_object();
	json_t *macs = NULL;
	int rc = 0;

	if (body == NULL)
		return NULL;

	/* The canonical MACs, which replace the whole list in a patch. */
	if (args->given[CLI_OPT_MAC]) {
		macs = json_array();
		if (json_object_set_new(body, "macs", macs) < 0)
			goto err_build;
		for (size_t i = 0; i < args->n_macs; i++) {
			if (json_array_append_new(macs, json_string(args->macs[i])) < 0)
				goto err_build;
		}
	}

	rc |= body_set(body, "uuid", args->given[CLI_OPT_UUID], args->uuid, patch);
	rc |= body_set(body, "serial", args->given[CLI_OPT_SERIAL], args->value[CLI_OPT_SERIAL],
		       patch);
	rc |= body_set(body, "vendor", args->given[CLI_OPT_VENDOR], args->value[CLI_OPT_VENDOR],
		       patch);
	rc |= body_set(body, "model", args->given[CLI_OPT_MODEL], args->value[CLI_OPT_MODEL],
		       patch);
	rc |= body_set(body, "arch", args->given[CLI_OPT_ARCH], args->value[CLI_OPT_ARCH], patch);
	rc |= body_set(body, "platform", args->given[CLI_OPT_PLATFORM],
		       args->value[CLI_OPT_PLATFORM], patch);
	rc |= body_set(body, "hostname", args->given[CLI_OPT_HOSTNAME],
		       args->value[CLI_OPT_HOSTNAME], patch);
	rc |= body_set(body, "ip", args->given[CLI_OPT_IP], args->ip, patch);
	if (!patch)
		rc |= body_set(body, "profile", args->given[CLI_OPT_PROFILE],
			       args->value[CLI_OPT_PROFILE], patch);
	if (rc != 0)
		goto err_build;

	return body;

err_build:
	json_decref(body);
	return NULL;
}

json_t *
cli_profile_body(const struct cli_args *args, bool patch)
{
	json_t *body = json_object();
	int rc = 0;

	if (body == NULL)
		return NULL;

	if (!patch)
		rc |= body_set(body, "name", true, args->operand, patch);
	rc |= body_set(body, "kernel", args->given[CLI_OPT_KERNEL], args->value[CLI_OPT_KERNEL],
		       patch);
	rc |= body_set(body, "initrd", args->given[CLI_OPT_INITRD], args->value[CLI_OPT_INITRD],
		       patch);
	rc |= body_set(body, "image", args->given[CLI_OPT_IMAGE], args->value[CLI_OPT_IMAGE],
		       patch);
	rc |= body_set(body, "cmdline", args->given[CLI_OPT_CMDLINE],
		       args->value[CLI_OPT_CMDLINE], patch);
	if (rc != 0) {
		json_decref(body);
		return NULL;
	}
	return body;
}

/* Append "?key=value" or "&key=value", percent-encoding all but RFC 3986 unreserved bytes. */
static int
query_add(struct buf *out, bool *first, const char *key, const char *value)
{
	static const char unreserved[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
	int rc;

	rc = buf_printf(out, "%c%s=", *first ? '?' : '&', key);
	*first = false;
	for (const unsigned char *p = (const unsigned char *)value; rc == 0 && *p != '\0'; p++) {
		if (strchr(unreserved, *p) != NULL)
			rc = buf_append(out, p, 1);
		else
			rc = buf_printf(out, "%%%02X", *p);
	}
	return rc;
}

int
cli_list_query(const struct cli_args *args, uint64_t after, struct buf *out)
{
	static const enum cli_option filters[] = {
		CLI_OPT_STATE, CLI_OPT_PROFILE, CLI_OPT_HOSTNAME,
	};
	char number[24];
	bool first = true;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < sizeof(filters) / sizeof(filters[0]); i++) {
		if (args->given[filters[i]])
			rc = query_add(out, &first, option_specs[filters[i]].name,
				       args->value[filters[i]]);
	}

	/* The MAC filter goes out in canonical form. */
	if (rc == 0 && args->given[CLI_OPT_MAC] && args->n_macs > 0)
		rc = query_add(out, &first, "mac", args->macs[0]);

	if (rc == 0 && args->given[CLI_OPT_LIMIT]) {
		snprintf(number, sizeof(number), "%" PRIu64, args->limit);
		rc = query_add(out, &first, "limit", number);
	}

	if (rc == 0 && after != 0) {
		snprintf(number, sizeof(number), "%" PRIu64, after);
		rc = query_add(out, &first, "after", number);
	}
	return rc;
}
