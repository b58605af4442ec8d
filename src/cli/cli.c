/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CLI commands: each one parses nothing itself (cli_args.c has done that), sends
 * one or more requests through the transport (cli_http.c) and prints the reply
 * through the formatters (cli_format.c). This file also contains the help texts, whose
 * exit status list matches enum cli_exit and docs/cli.md.
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

struct cli_session {
	const struct cli_args *args;
	struct cli_client *client;
	bool json;                   /* --json */
};

const char cli_help_connection[] =
	"\n"
	"Connection and output options (every command):\n"
	"  --json             print the server's JSON reply, indented, instead of text\n"
	"  --socket PATH      unix socket of the local daemon\n"
	"                     (default: $OUTPOST_SOCKET, else " CLI_DEFAULT_SOCKET ")\n"
	"  --url URL          base URL of a remote daemon, https://HOST[:PORT]; plain\n"
	"                     http:// is accepted only for 127.0.0.1, ::1 and localhost\n"
	"  --token-file FILE  file with the API token sent to --url\n"
	"                     (default: the OUTPOST_TOKEN environment variable)\n"
	"  --cacert FILE      PEM certificate(s) to verify the daemon's certificate\n"
	"                     against (default: the system trust store)\n"
	"  --insecure         do not verify the daemon's certificate (prints a warning)\n"
	"  -h, --help         print this help and exit\n";

static const char help_exit_status[] =
	"\n"
	"Exit status:\n"
	"  0  success\n"
	"  1  the server rejected the request (HTTP 4xx other than 404 and 409),\n"
	"     failed (HTTP 5xx) or sent a reply that is not valid\n"
	"  2  usage error, found before any request was sent\n"
	"  3  not found (HTTP 404)\n"
	"  4  conflict (HTTP 409): a duplicate value, or a state that does not\n"
	"     allow the action\n"
	"  5  cannot reach the daemon: no socket, connection refused, TLS failure\n"
	"     or time-out\n"
	"  6  audit verify found the audit chain broken\n";

static const char help_machine_fields[] =
	"  --mac M            MAC address, with colons, hyphens or no separator;\n"
	"                     repeat for up to 8\n"
	"  --hostname H       RFC 1123 host name\n"
	"  --uuid U           SMBIOS UUID in 8-4-4-4-12 hex form\n"
	"  --ip IP            IPv4 or IPv6 address of the machine\n"
	"  --profile P        name of the profile to assign\n"
	"  --serial S         serial number, up to 128 bytes\n"
	"  --vendor V         vendor name, up to 128 bytes\n"
	"  --model M          model name, up to 128 bytes\n"
	"  --arch A           CPU architecture: i386, x86_64, arm32, arm64 or riscv64\n"
	"  --platform P       boot firmware: pcbios or efi\n";

static const char help_profile_fields[] =
	"  --kernel K         deploy kernel, as an artifact reference\n"
	"  --initrd I         deploy initrd, as an artifact reference\n"
	"  --image IMG        disk image written to the machine, as an artifact reference\n"
	"  --cmdline C        extra kernel command-line arguments\n";

static const char *const group_help[] = {
	"Usage: outpost machine COMMAND [ARGUMENTS] [OPTIONS]\n"
	"\n"
	"Manage the machines registered with the daemon. REF is a machine id or one of\n"
	"its MACs.\n"
	"\n"
	"Commands:\n"
	"  list               list machines, optionally filtered\n"
	"  show REF           show one machine\n"
	"  add --mac M ...    register a machine\n"
	"  set REF ...        change a machine's fields or profile\n"
	"  deploy REF         install the machine's profile on it, erasing its disk\n"
	"  power REF ACTION   power on, off, shutdown, reset, cycle or status through its BMC\n"
	"  rm REF             delete a machine\n"
	"\n"
	"Run 'outpost machine COMMAND --help' for the options of each command.\n",

	"Usage: outpost profile COMMAND [NAME] [OPTIONS]\n"
	"\n"
	"Manage deployment profiles: what a machine boots and installs.\n"
	"\n"
	"Commands:\n"
	"  list               list profiles\n"
	"  show NAME          show one profile\n"
	"  add NAME ...       create a profile\n"
	"  set NAME ...       change a profile\n"
	"  rm NAME            delete a profile that no machine uses\n"
	"\n"
	"Run 'outpost profile COMMAND --help' for the options of each command.\n",

	"Usage: outpost audit COMMAND [OPTIONS]\n"
	"\n"
	"Read the hash-chained audit trail of every change.\n"
	"\n"
	"Commands:\n"
	"  show               list audit entries\n"
	"  verify             check the hash chain of every entry\n",
};

static const char *const command_help[CLI_CMD_MAX] = {
	[CLI_CMD_MACHINE_LIST] =
		"Usage: outpost machine list [--state S] [--profile P] [--mac M] [--hostname H]\n"
		"                            [--limit N] [--all] [OPTIONS]\n"
		"\n"
		"List machines as a table: ID, STATE, HOSTNAME, IP, MACS, PROFILE and\n"
		"ARCH/PLATFORM. Without --all only the first page is listed.\n"
		"\n"
		"Options:\n"
		"  --state S          list only machines in state S: discovered, ready,\n"
		"                     deploying, deployed, failed or decommissioning\n"
		"  --profile P        list only machines assigned profile P\n"
		"  --mac M            list only the machine with MAC M\n"
		"  --hostname H       list only the machine with host name H\n"
		"  --limit N          machines per page, 1 to 1000 (server default: 100)\n"
		"  --all              fetch every page, following the server's \"next\" cursor\n",
	[CLI_CMD_MACHINE_SHOW] =
		"Usage: outpost machine show REF [OPTIONS]\n"
		"\n"
		"Show one machine as key: value lines. REF is its id or one of its MACs;\n"
		"a MAC made of digits only must be written with separators.\n",
	[CLI_CMD_MACHINE_ADD] =
		"Usage: outpost machine add --mac M [--mac M ...] [FIELD OPTIONS] [OPTIONS]\n"
		"\n"
		"Register a machine. It starts in state \"ready\". An empty value ('') leaves\n"
		"a field unset.\n"
		"\n"
		"Field options:\n",
	[CLI_CMD_MACHINE_SET] =
		"Usage: outpost machine set REF [FIELD OPTIONS] [OPTIONS]\n"
		"\n"
		"Change the fields given and leave the others as they are. --mac replaces\n"
		"the whole list of MACs. An empty value ('') clears a field, and\n"
		"--profile '' unassigns the profile.\n"
		"\n"
		"Field options:\n",
	[CLI_CMD_MACHINE_DEPLOY] =
		"Usage: outpost machine deploy REF [--profile P] [--boot B] [OPTIONS]\n"
		"\n"
		"Install the machine's profile on it at its next network boot. This erases\n"
		"its disk. Allowed from states discovered, ready, deployed and failed.\n"
		"\n"
		"Options:\n"
		"  --profile P        assign profile P first (default: the assigned profile)\n"
		"  --boot B           network (the default) or virtual-media: the daemon builds\n"
		"                     the machine's boot ISO and boots it through its BMC, with\n"
		"                     no DHCP; the machine needs a reserved address\n",
	[CLI_CMD_MACHINE_RM] =
		"Usage: outpost machine rm REF [OPTIONS]\n"
		"\n"
		"Delete a machine. The daemon refuses while the machine is deploying.\n",
	[CLI_CMD_PROFILE_LIST] =
		"Usage: outpost profile list [OPTIONS]\n"
		"\n"
		"List every profile as a table: NAME, KERNEL, INITRD, IMAGE and CMDLINE.\n",
	[CLI_CMD_PROFILE_SHOW] =
		"Usage: outpost profile show NAME [OPTIONS]\n"
		"\n"
		"Show one profile as key: value lines.\n",
	[CLI_CMD_PROFILE_ADD] =
		"Usage: outpost profile add NAME --kernel K --initrd I [--image IMG]\n"
		"                           [--cmdline C] [OPTIONS]\n"
		"\n"
		"Create a profile. NAME is a-z or 0-9, then up to 63 of a-z, 0-9, '.', '_'\n"
		"and '-'. --kernel and --initrd are required.\n"
		"\n"
		"Field options:\n",
	[CLI_CMD_PROFILE_SET] =
		"Usage: outpost profile set NAME [FIELD OPTIONS] [OPTIONS]\n"
		"\n"
		"Change the fields given. An empty --image or --cmdline ('') clears it.\n"
		"\n"
		"Field options:\n",
	[CLI_CMD_PROFILE_RM] =
		"Usage: outpost profile rm NAME [OPTIONS]\n"
		"\n"
		"Delete a profile. The daemon refuses while a machine uses it.\n",
	[CLI_CMD_AUDIT_SHOW] =
		"Usage: outpost audit show [--after N] [--limit N] [OPTIONS]\n"
		"\n"
		"List audit entries, oldest first, as a table: SEQ, AT, ACTOR, ACTION,\n"
		"TARGET, RISK, OUTCOME and DETAIL.\n"
		"\n"
		"Options:\n"
		"  --after N          start after entry sequence number N (default: 0)\n"
		"  --limit N          entries to list, 1 to 1000 (server default: 100)\n",
	[CLI_CMD_AUDIT_VERIFY] =
		"Usage: outpost audit verify [OPTIONS]\n"
		"\n"
		"Recompute the hash chain of the audit trail. Prints \"audit chain intact:\n"
		"N entries\", or \"audit chain broken at entry SEQ: REASON\" and exits 6.\n",
	[CLI_CMD_STATUS] =
		"Usage: outpost status [OPTIONS]\n"
		"\n"
		"Show the daemon's version, uptime, schema version, audit entry count and\n"
		"the number of machines in each state.\n",
};

static void
print_help(const struct cli_args *args)
{
	static const char *const groups[] = { "machine", "profile", "audit" };

	if (args->command == CLI_CMD_INVALID) {
		for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
			if (strcmp(args->group, groups[i]) == 0)
				fputs(group_help[i], stdout);
		}
	} else {
		fputs(command_help[args->command], stdout);
	}

	if (args->command == CLI_CMD_MACHINE_ADD || args->command == CLI_CMD_MACHINE_SET)
		fputs(help_machine_fields, stdout);
	if (args->command == CLI_CMD_PROFILE_ADD || args->command == CLI_CMD_PROFILE_SET)
		fputs(help_profile_fields, stdout);
	fputs(cli_help_connection, stdout);
	fputs(help_exit_status, stdout);
}

/* Write rendered text to stdout. */
static void
print_buf(const struct buf *out)
{
	if (out->len > 0)
		fwrite(out->data, 1, out->len, stdout);
}

/* Write the start of a message: "outpost NAME", or "outpost" when `name` is NULL. */
static void
message_origin(const char *name, char *out, size_t size)
{
	if (name != NULL)
		snprintf(out, size, "outpost %s", name);
	else
		snprintf(out, size, "outpost");
}

int
cli_call(struct cli_client *client, const char *name, const char *method, const char *path,
	 const json_t *body, json_t **ret)
{
	struct cli_response resp = { .status = 0 };
	struct buf message;
	json_error_t json_error;
	char err[CLI_ERROR_SIZE] = "";
	char origin[64];
	int exit_code;
	int rc;

	*ret = NULL;
	message_origin(name, origin, sizeof(origin));
	rc = cli_client_request(client, method, path, body, &resp, err, sizeof(err));
	if (rc < 0) {
		/* A request that fails before it is sent leaves `err` empty. */
		fprintf(stderr, "%s: %s\n", origin, err[0] != '\0' ? err : strerror(-rc));
		buf_free(&resp.body);
		return rc == -EIO ? CLI_EXIT_UNREACHABLE : CLI_EXIT_REJECTED;
	}

	/* Error replies contain {"error", "detail"}, and the detail names the value. */
	exit_code = cli_exit_for_status(resp.status);
	if (exit_code != CLI_EXIT_OK) {
		buf_init(&message, CLI_RESPONSE_MAX);
		if (cli_error_text(resp.status, resp.body.data, resp.body.len, &message) == 0)
			fprintf(stderr, "%s: %s\n", origin, message.data);
		else
			fprintf(stderr, "%s: server returned HTTP %ld\n", origin, resp.status);
		buf_free(&message);
		buf_free(&resp.body);
		return exit_code;
	}

	if (resp.body.len > 0) {
		*ret = json_loadb(resp.body.data, resp.body.len, 0, &json_error);
		if (*ret == NULL) {
			fprintf(stderr, "%s: the reply to %s %s is not valid JSON: %s\n", origin,
				method, path, json_error.text);
			exit_code = CLI_EXIT_REJECTED;
		}
	}
	buf_free(&resp.body);
	return exit_code;
}

int
cli_print_reply(const char *name, bool json, json_t *reply, cli_render_fn render)
{
	struct buf out;
	char origin[64];
	int rc;

	message_origin(name, origin, sizeof(origin));
	if (reply == NULL) {
		fprintf(stderr, "%s: the server's reply is empty\n", origin);
		return CLI_EXIT_REJECTED;
	}

	buf_init(&out, CLI_RESPONSE_MAX * 2);
	if (json)
		rc = cli_render_json(reply, &out);
	else
		rc = render(reply, &out);

	if (rc == -EINVAL)
		fprintf(stderr, "%s: the server's reply does not have the expected fields\n",
			origin);
	else if (rc < 0)
		fprintf(stderr, "%s: cannot format the reply: %s\n", origin, strerror(-rc));
	else
		print_buf(&out);

	buf_free(&out);
	return rc < 0 ? CLI_EXIT_REJECTED : CLI_EXIT_OK;
}

int
cli_get_and_print(struct cli_client *client, const char *name, bool json, const char *path,
		  cli_render_fn render)
{
	json_t *reply;
	int exit_code;

	exit_code = cli_call(client, name, "GET", path, NULL, &reply);
	if (exit_code == CLI_EXIT_OK)
		exit_code = cli_print_reply(name, json, reply, render);
	json_decref(reply);
	return exit_code;
}

/*
 * GET a list route from `after`, one page or (all) every page, and return the list
 * reply in *ret: the server's own reply when one page is read, else {"items": every
 * item, "next": null}. A reply that is a bare array is taken as one page of items.
 * Returns the exit code.
 */
static int
get_pages(struct cli_session *s, const char *route, uint64_t after, bool all, json_t **ret)
{
	json_t *merged = NULL;
	json_t *reply = NULL;
	struct buf path;
	int exit_code;

	*ret = NULL;
	for (;;) {
		json_t *items;
		json_t *next;

		buf_init(&path, CLI_ERROR_SIZE * 4);
		if (buf_puts(&path, route) < 0 || cli_list_query(s->args, after, &path) < 0) {
			fprintf(stderr, "outpost: the request path is too long\n");
			buf_free(&path);
			exit_code = CLI_EXIT_USAGE;
			goto err_page;
		}
		exit_code = cli_call(s->client, NULL, "GET", path.data, NULL, &reply);
		buf_free(&path);
		if (exit_code != CLI_EXIT_OK)
			goto err_page;

		items = json_is_array(reply) ? reply : json_object_get(reply, "items");
		next = json_is_array(reply) ? NULL : json_object_get(reply, "next");
		if (!json_is_array(items) || (next != NULL && !json_is_null(next) &&
					      !json_is_integer(next))) {
			fprintf(stderr, "outpost: the server's list reply lacks an \"items\" array or has an invalid \"next\"\n");
			exit_code = CLI_EXIT_REJECTED;
			goto err_page;
		}

		/* One page: hand back the reply unchanged, so --json prints what the server sent. */
		if (merged == NULL && (!all || !json_is_integer(next))) {
			*ret = reply;
			return CLI_EXIT_OK;
		}

		if (merged == NULL) {
			merged = json_pack("{s:[],s:n}", "items", "next");
			if (merged == NULL)
				goto err_memory;
		}
		if (json_array_extend(json_object_get(merged, "items"), items) < 0)
			goto err_memory;
		if (!json_is_integer(next))
			break;

		/* The cursor must move forward, or a faulty server would keep us here. */
		if (json_integer_value(next) <= 0 || (uint64_t)json_integer_value(next) <= after) {
			fprintf(stderr, "outpost: the server's \"next\" cursor %" JSON_INTEGER_FORMAT
				" does not move past %" PRIu64 "\n",
				json_integer_value(next), after);
			exit_code = CLI_EXIT_REJECTED;
			goto err_page;
		}
		after = (uint64_t)json_integer_value(next);
		json_decref(reply);
		reply = NULL;
	}

	json_decref(reply);
	*ret = merged;
	return CLI_EXIT_OK;

err_memory:
	fprintf(stderr, "outpost: out of memory\n");
	exit_code = CLI_EXIT_REJECTED;
err_page:
	json_decref(reply);
	json_decref(merged);
	return exit_code;
}

/* Print a list reply with --json, else its items (the reply itself if it is an array). */
static int
print_items(const struct cli_session *s, json_t *reply, cli_render_fn render)
{
	if (s->args->given[CLI_OPT_JSON] || json_is_array(reply))
		return cli_print_reply(NULL, s->json, reply, render);
	return cli_print_reply(NULL, s->json, json_object_get(reply, "items"), render);
}

/* The "next" cursor of a list reply, or 0 when the list is complete. */
static json_int_t
next_cursor(const json_t *reply)
{
	const json_t *next = json_object_get(reply, "next");

	return json_is_integer(next) ? json_integer_value(next) : 0;
}

static int
render_machines(json_t *items, struct buf *out)
{
	return cli_render_machines(items, out);
}

static int
render_profiles(json_t *items, struct buf *out)
{
	return cli_render_profiles(items, out);
}

static int
render_audit(json_t *items, struct buf *out)
{
	return cli_render_audit(items, out);
}

static int
machine_list(struct cli_session *s)
{
	bool all = s->args->given[CLI_OPT_ALL];
	json_t *reply;
	int exit_code;

	exit_code = get_pages(s, "/api/v1/machines", 0, all, &reply);
	if (exit_code != CLI_EXIT_OK)
		return exit_code;

	exit_code = print_items(s, reply, render_machines);
	if (exit_code == CLI_EXIT_OK && !s->args->given[CLI_OPT_JSON] && next_cursor(reply) > 0)
		fprintf(stderr, "outpost: more machines follow: add --all to list every page\n");
	json_decref(reply);
	return exit_code;
}

static int
machine_show(struct cli_session *s)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v1/machines/%s", s->args->ref);
	return cli_get_and_print(s->client, NULL, s->json, path, cli_render_machine);
}

static int
machine_add(struct cli_session *s)
{
	json_t *body = cli_machine_body(s->args, false);
	json_t *reply;
	int exit_code;

	if (body == NULL) {
		fprintf(stderr, "outpost: out of memory\n");
		return CLI_EXIT_REJECTED;
	}

	exit_code = cli_call(s->client, NULL, "POST", "/api/v1/machines", body, &reply);
	if (exit_code == CLI_EXIT_OK)
		exit_code = cli_print_reply(NULL, s->json, reply, cli_render_machine);
	json_decref(reply);
	json_decref(body);
	return exit_code;
}

/* True when set changes fields through PATCH, which are all field options but --profile. */
static bool
set_needs_patch(const struct cli_args *args)
{
	for (int o = CLI_OPT_MAC; o <= CLI_OPT_PLATFORM; o++) {
		if (o != CLI_OPT_PROFILE && args->given[o])
			return true;
	}
	return false;
}

static int
machine_set(struct cli_session *s)
{
	const struct cli_args *args = s->args;
	char ref[CLI_REF_SIZE];
	char path[128];
	json_t *reply = NULL;
	json_t *body;
	int exit_code = CLI_EXIT_OK;

	memcpy(ref, args->ref, sizeof(ref));

	if (set_needs_patch(args)) {
		body = cli_machine_body(args, true);
		if (body == NULL)
			goto err_memory;
		snprintf(path, sizeof(path), "/api/v1/machines/%s", ref);
		exit_code = cli_call(s->client, NULL, "PATCH", path, body, &reply);
		json_decref(body);
		if (exit_code != CLI_EXIT_OK)
			return exit_code;

		/* The patch may have replaced the MAC that REF named, so go on by id. */
		if (json_is_integer(json_object_get(reply, "id")))
			snprintf(ref, sizeof(ref), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(json_object_get(reply, "id")));
	}

	/* Profiles are assigned through their own route, where null unassigns. */
	if (args->given[CLI_OPT_PROFILE]) {
		const char *profile = args->value[CLI_OPT_PROFILE];

		json_decref(reply);
		reply = NULL;
		body = json_pack("{s:o}", "profile",
				 profile[0] != '\0' ? json_string(profile) : json_null());
		if (body == NULL)
			goto err_memory;
		snprintf(path, sizeof(path), "/api/v1/machines/%s/profile", ref);
		exit_code = cli_call(s->client, NULL, "PUT", path, body, &reply);
		json_decref(body);
	}

	if (exit_code == CLI_EXIT_OK)
		exit_code = cli_print_reply(NULL, s->json, reply, cli_render_machine);
	json_decref(reply);
	return exit_code;

err_memory:
	fprintf(stderr, "outpost: out of memory\n");
	json_decref(reply);
	return CLI_EXIT_REJECTED;
}

static int
machine_deploy(struct cli_session *s)
{
	const struct cli_args *args = s->args;
	char path[128];
	json_t *reply;
	json_t *body;
	int exit_code;

	body = args->given[CLI_OPT_PROFILE]
		       ? json_pack("{s:s}", "profile", args->value[CLI_OPT_PROFILE])
		       : json_object();
	if (body != NULL && args->given[CLI_OPT_BOOT] &&
	    json_object_set_new(body, "boot", json_string(args->value[CLI_OPT_BOOT])) < 0) {
		json_decref(body);
		body = NULL;
	}
	if (body == NULL) {
		fprintf(stderr, "outpost: out of memory\n");
		return CLI_EXIT_REJECTED;
	}

	snprintf(path, sizeof(path), "/api/v1/machines/%s/deploy", args->ref);
	exit_code = cli_call(s->client, NULL, "POST", path, body, &reply);
	if (exit_code == CLI_EXIT_OK)
		exit_code = cli_print_reply(NULL, s->json, reply, cli_render_machine);
	json_decref(reply);
	json_decref(body);
	return exit_code;
}

/* Send DELETE to `path`, then print "`what` deleted", or with --json the reply body if any. */
static int
delete_and_report(struct cli_session *s, const char *path, const char *what)
{
	json_t *reply;
	int exit_code;

	exit_code = cli_call(s->client, NULL, "DELETE", path, NULL, &reply);
	if (exit_code == CLI_EXIT_OK && s->args->given[CLI_OPT_JSON] && reply != NULL)
		exit_code = cli_print_reply(NULL, s->json, reply, NULL);
	else if (exit_code == CLI_EXIT_OK && !s->args->given[CLI_OPT_JSON])
		printf("%s deleted\n", what);
	json_decref(reply);
	return exit_code;
}

static int
machine_rm(struct cli_session *s)
{
	char path[128];
	char what[64];

	snprintf(path, sizeof(path), "/api/v1/machines/%s", s->args->ref);
	snprintf(what, sizeof(what), "machine %s", s->args->ref);
	return delete_and_report(s, path, what);
}

static int
profile_list(struct cli_session *s)
{
	json_t *reply;
	int exit_code;

	exit_code = get_pages(s, "/api/v1/profiles", 0, true, &reply);
	if (exit_code != CLI_EXIT_OK)
		return exit_code;
	exit_code = print_items(s, reply, render_profiles);
	json_decref(reply);
	return exit_code;
}

static int
profile_show(struct cli_session *s)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v1/profiles/%s", s->args->operand);
	return cli_get_and_print(s->client, NULL, s->json, path, cli_render_profile);
}

static int
profile_write(struct cli_session *s, bool patch)
{
	json_t *body = cli_profile_body(s->args, patch);
	json_t *reply;
	char path[128];
	int exit_code;

	if (body == NULL) {
		fprintf(stderr, "outpost: out of memory\n");
		return CLI_EXIT_REJECTED;
	}

	if (patch)
		snprintf(path, sizeof(path), "/api/v1/profiles/%s", s->args->operand);
	else
		snprintf(path, sizeof(path), "/api/v1/profiles");
	exit_code = cli_call(s->client, NULL, patch ? "PATCH" : "POST", path, body, &reply);
	if (exit_code == CLI_EXIT_OK)
		exit_code = cli_print_reply(NULL, s->json, reply, cli_render_profile);
	json_decref(reply);
	json_decref(body);
	return exit_code;
}

static int
profile_rm(struct cli_session *s)
{
	char path[128];
	char what[128];

	snprintf(path, sizeof(path), "/api/v1/profiles/%s", s->args->operand);
	snprintf(what, sizeof(what), "profile %s", s->args->operand);
	return delete_and_report(s, path, what);
}

static int
audit_show(struct cli_session *s)
{
	json_t *reply;
	int exit_code;

	exit_code = get_pages(s, "/api/v1/audit", s->args->after, false, &reply);
	if (exit_code != CLI_EXIT_OK)
		return exit_code;

	exit_code = print_items(s, reply, render_audit);
	if (exit_code == CLI_EXIT_OK && !s->args->given[CLI_OPT_JSON] && next_cursor(reply) > 0)
		fprintf(stderr, "outpost: more entries follow: outpost audit show --after %"
			JSON_INTEGER_FORMAT "\n", next_cursor(reply));
	json_decref(reply);
	return exit_code;
}

static int
audit_verify(struct cli_session *s)
{
	json_t *reply;
	struct buf out;
	bool intact = false;
	int exit_code;
	int rc;

	exit_code = cli_call(s->client, NULL, "GET", "/api/v1/audit/verify", NULL, &reply);
	if (exit_code != CLI_EXIT_OK)
		return exit_code;

	/* Render even with --json, to learn whether the chain is intact. */
	buf_init(&out, CLI_ERROR_SIZE * 4);
	rc = cli_render_verify(reply, &out, &intact);
	if (rc < 0) {
		fprintf(stderr, "outpost: the server's verify reply lacks \"entries\" or \"intact\"\n");
		exit_code = CLI_EXIT_REJECTED;
	} else if (s->args->given[CLI_OPT_JSON]) {
		exit_code = cli_print_reply(NULL, s->json, reply, NULL);
	} else {
		print_buf(&out);
	}
	if (exit_code == CLI_EXIT_OK && !intact)
		exit_code = CLI_EXIT_AUDIT_BROKEN;

	buf_free(&out);
	json_decref(reply);
	return exit_code;
}

static int
run_command(struct cli_session *s)
{
	switch (s->args->command) {
	case CLI_CMD_MACHINE_LIST:
		return machine_list(s);
	case CLI_CMD_MACHINE_SHOW:
		return machine_show(s);
	case CLI_CMD_MACHINE_ADD:
		return machine_add(s);
	case CLI_CMD_MACHINE_SET:
		return machine_set(s);
	case CLI_CMD_MACHINE_DEPLOY:
		return machine_deploy(s);
	case CLI_CMD_MACHINE_RM:
		return machine_rm(s);
	case CLI_CMD_PROFILE_LIST:
		return profile_list(s);
	case CLI_CMD_PROFILE_SHOW:
		return profile_show(s);
	case CLI_CMD_PROFILE_ADD:
		return profile_write(s, false);
	case CLI_CMD_PROFILE_SET:
		return profile_write(s, true);
	case CLI_CMD_PROFILE_RM:
		return profile_rm(s);
	case CLI_CMD_AUDIT_SHOW:
		return audit_show(s);
	case CLI_CMD_AUDIT_VERIFY:
		return audit_verify(s);
	case CLI_CMD_STATUS:
		return cli_get_and_print(s->client, NULL, s->json, "/api/v1/status",
					 cli_render_status);
	case CLI_CMD_INVALID:
	case CLI_CMD_MAX:
		break;
	}
	fprintf(stderr, "outpost: no command to run\n");
	return CLI_EXIT_USAGE;
}

int
cli_main(int argc, char **argv)
{
	struct cli_args args;
	struct cli_endpoint endpoint = { .socket_path = NULL };
	struct cli_session session = { .args = &args };
	char err[CLI_ERROR_SIZE];
	int exit_code;
	int rc;

	rc = cli_args_parse(argc, argv, &args, err, sizeof(err));
	if (rc < 0) {
		const char *name = cli_command_name(args.command);

		/* Point at the help of the command, or of the group when the verb is wrong. */
		fprintf(stderr, "outpost: %s\n", err);
		if (name != NULL || args.group != NULL)
			fprintf(stderr, "Try 'outpost %s --help'.\n", name != NULL ? name : args.group);
		return CLI_EXIT_USAGE;
	}
	if (args.help) {
		print_help(&args);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_REJECTED;
	}
	session.json = args.given[CLI_OPT_JSON];

	rc = cli_endpoint_resolve(&args, getenv("OUTPOST_SOCKET"), getenv("OUTPOST_TOKEN"),
				  &endpoint, err, sizeof(err));
	if (rc == -ENOMEM) {
		fprintf(stderr, "outpost: out of memory\n");
		return CLI_EXIT_REJECTED;
	}
	if (rc < 0) {
		fprintf(stderr, "outpost: %s\n", err);
		return CLI_EXIT_USAGE;
	}
	if (endpoint.insecure)
		fprintf(stderr, "outpost: warning: --insecure: the daemon's certificate is not verified, so anyone on the network path can read the token\n");

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "outpost: cannot initialise libcurl\n");
		exit_code = CLI_EXIT_REJECTED;
		goto err_curl;
	}
	if (cli_client_new(&endpoint, &session.client) < 0) {
		fprintf(stderr, "outpost: out of memory\n");
		exit_code = CLI_EXIT_REJECTED;
		goto err_client;
	}

	exit_code = run_command(&session);

	/* A full disk or closed pipe on stdout is a failure too. */
	if (fflush(stdout) != 0 && exit_code == CLI_EXIT_OK) {
		fprintf(stderr, "outpost: cannot write the output: %s\n", strerror(errno));
		exit_code = CLI_EXIT_REJECTED;
	}

	session.client = cli_client_free(session.client);
err_client:
	curl_global_cleanup();
err_curl:
	cli_endpoint_free(&endpoint);
	return exit_code;
}
