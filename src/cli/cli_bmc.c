/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `outpost bmc` and `outpost machine power`: enrolling BMCs and running operations on
 * them through the daemon's BMC manager. The daemon queues each operation and replies
 * 202 at once, so every command that queues one polls GET /bmc-operations/ID until it
 * ends (or --wait-timeout passes) and then prints its result, unless --no-wait.
 *
 * This file sends the requests and waits for the operations. Argument parsing is in
 * cli_bmc_args.c, request bodies and the password in cli_bmc_body.c, rendering in
 * cli_bmc_format.c and the help in cli_bmc_help.c.
 */
#include "cli/cli_bmc-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

struct bmc_session {
	const struct cli_bmc_args *args;
	const char *name;            /* "bmc power", for messages */
	struct cli_client *client;
};

static void
sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Print a message of this command on stderr, with `text` sanitised. */
static void
print_error(const struct bmc_session *s, const char *prefix, const char *text)
{
	struct buf clean;

	buf_init(&clean, CLI_RESPONSE_MAX);
	if (cli_sanitize(text != NULL ? text : "no reason given", &clean) == 0)
		fprintf(stderr, "outpost %s: %s%s\n", s->name, prefix,
			clean.data != NULL ? clean.data : "");
	buf_free(&clean);
}

long
cli_bmc_poll_delay_ms(unsigned attempt)
{
	long delay = 50;

	for (unsigned i = 0; i < attempt && delay < 1000; i++)
		delay *= 2;
	return delay < 1000 ? delay : 1000;
}

/*
 * Poll operation `id` until it succeeds or fails, and return its JSON in *ret. Gives
 * up after --wait-timeout with a message, since the operation goes on in the daemon.
 * Returns the exit code.
 */
static int
operation_wait(struct bmc_session *s, json_int_t id, json_t **ret)
{
	int64_t deadline = time_monotonic_ms() + (int64_t)s->args->wait_seconds * 1000;
	char path[64];

	*ret = NULL;
	snprintf(path, sizeof(path), "/api/v1/bmc-operations/%" JSON_INTEGER_FORMAT, id);
	for (unsigned attempt = 0;; attempt++) {
		const char *state;
		json_t *op;
		int64_t left;
		long delay;
		int exit_code = cli_call(s->client, s->name, "GET", path, NULL, &op);

		if (exit_code != CLI_EXIT_OK) {
			fprintf(stderr, "outpost %s: stopped waiting for operation %" JSON_INTEGER_FORMAT
				"; it goes on in the daemon: 'outpost bmc operation %"
				JSON_INTEGER_FORMAT "' shows it\n", s->name, id, id);
			json_decref(op);
			return exit_code;
		}
		state = json_string_value(json_object_get(op, "state"));
		if (state != NULL && (strcmp(state, "succeeded") == 0 ||
				      strcmp(state, "failed") == 0)) {
			*ret = op;
			return CLI_EXIT_OK;
		}
		if (state == NULL || (strcmp(state, "queued") != 0 && strcmp(state, "running") != 0)) {
			print_error(s, "the operation has an unknown state: ",
				    state != NULL ? state : "(none)");
			json_decref(op);
			return CLI_EXIT_REJECTED;
		}
		left = deadline - time_monotonic_ms();
		if (left <= 0) {
			fprintf(stderr, "outpost %s: operation %" JSON_INTEGER_FORMAT " is still %s "
				"after %" PRIu64 " s; it goes on in the daemon: 'outpost bmc "
				"operation %" JSON_INTEGER_FORMAT "' shows it, and --wait-timeout "
				"sets how long to wait\n", s->name, id, state, s->args->wait_seconds,
				id);
			/* A script that asked for JSON gets the operation to follow. */
			if (s->args->json)
				cli_json_print(op);
			else
				json_decref(op);
			return CLI_EXIT_REJECTED;
		}
		json_decref(op);
		delay = cli_bmc_poll_delay_ms(attempt);
		sleep_ms(delay < left ? delay : (long)left);
	}
}

/* Print a finished operation: its result, or its error with exit code 1. */
static int
operation_print(struct bmc_session *s, json_t *op)
{
	const char *state = json_string_value(json_object_get(op, "state"));
	char prefix[96];

	if (state != NULL && strcmp(state, "succeeded") == 0)
		return cli_print_reply(s->name, s->args->json, op, cli_render_bmc_result);

	/* With --json the failed operation goes to stdout too, for scripts. */
	if (s->args->json)
		cli_print_reply(s->name, s->args->json, op, cli_render_bmc_result);
	snprintf(prefix, sizeof(prefix), "operation %" JSON_INTEGER_FORMAT " failed: ",
		 json_integer_value(json_object_get(op, "id")));
	print_error(s, prefix, json_string_value(json_object_get(op, "error")));
	return CLI_EXIT_REJECTED;
}

/*
 * The operation id of a 202 reply, which is the operation itself, or for POST and
 * PATCH /bmcs an object with the operation in its "operation" member. Returns 0 when
 * there is none.
 */
static json_int_t
operation_id(json_t *reply)
{
	json_t *op = json_object_get(reply, "operation");

	if (!json_is_object(op))
		op = reply;
	return json_integer_value(json_object_get(op, "id"));
}

/* POST `body` to `path`, then wait for the queued operation and print it. */
static int
operation_run(struct bmc_session *s, const char *path, const json_t *body)
{
	json_t *reply, *op;
	json_int_t id;
	int exit_code;

	exit_code = cli_call(s->client, s->name, "POST", path, body, &reply);
	if (exit_code != CLI_EXIT_OK)
		return exit_code;
	id = operation_id(reply);
	if (id <= 0) {
		fprintf(stderr, "outpost %s: the server's reply names no operation\n", s->name);
		json_decref(reply);
		return CLI_EXIT_REJECTED;
	}
	if (s->args->no_wait) {
		if (s->args->json)
			exit_code = cli_print_reply(s->name, s->args->json, reply, NULL);
		else
			printf("%" JSON_INTEGER_FORMAT "\n", id);
		json_decref(reply);
		return exit_code;
	}
	json_decref(reply);

	exit_code = operation_wait(s, id, &op);
	if (exit_code == CLI_EXIT_OK)
		exit_code = operation_print(s, op);
	json_decref(op);
	return exit_code;
}

/*
 * Print BMC `bmc_id` after its verify operation `op` ended: the BMC as key: value
 * lines, or with --json {"bmc": ..., "operation": ...} as POST /bmcs replies. A
 * failed verify prints its error and returns 1, and the BMC stays enrolled.
 */
static int
bmc_print_verified(struct bmc_session *s, json_int_t bmc_id, json_t *op)
{
	const char *state = json_string_value(json_object_get(op, "state"));
	bool failed = state == NULL || strcmp(state, "succeeded") != 0;
	json_t *bmc, *both;
	char path[64], prefix[160];
	int exit_code;

	snprintf(path, sizeof(path), "/api/v1/bmcs/%" JSON_INTEGER_FORMAT, bmc_id);
	exit_code = cli_call(s->client, s->name, "GET", path, NULL, &bmc);
	if (exit_code != CLI_EXIT_OK)
		return exit_code;
	if (s->args->json) {
		both = json_pack("{s:o, s:O}", "bmc", bmc, "operation", op);
		exit_code = cli_print_reply(s->name, s->args->json, both, NULL);
		json_decref(both);
	} else if (!failed) {
		exit_code = cli_print_reply(s->name, s->args->json, bmc, cli_render_bmc);
		json_decref(bmc);
	} else {
		json_decref(bmc);
	}
	if (failed) {
		snprintf(prefix, sizeof(prefix), "BMC %" JSON_INTEGER_FORMAT " is enrolled, but "
			 "its verify operation %" JSON_INTEGER_FORMAT " failed: ", bmc_id,
			 json_integer_value(json_object_get(op, "id")));
		print_error(s, prefix, json_string_value(json_object_get(op, "error")));
		fprintf(stderr, "outpost %s: fix the settings with 'outpost bmc set %"
			JSON_INTEGER_FORMAT "' or remove it with 'outpost bmc rm %"
			JSON_INTEGER_FORMAT "'\n", s->name, bmc_id, bmc_id);
		return CLI_EXIT_REJECTED;
	}
	return exit_code;
}

/*
 * Follow the verify that bmc add, set or verify queued. With --no-wait print the
 * operation id (the reply with --json), else wait for the verify and print the BMC.
 */
static int
verify_follow(struct bmc_session *s, json_t *reply, json_int_t bmc_id, json_int_t op_id)
{
	json_t *op;
	int exit_code;

	if (s->args->no_wait) {
		if (s->args->json)
			return cli_print_reply(s->name, s->args->json, reply, NULL);
		fprintf(stderr, "outpost %s: BMC %" JSON_INTEGER_FORMAT ": verify operation %"
			JSON_INTEGER_FORMAT " queued\n", s->name, bmc_id, op_id);
		printf("%" JSON_INTEGER_FORMAT "\n", op_id);
		return CLI_EXIT_OK;
	}
	exit_code = operation_wait(s, op_id, &op);
	if (exit_code == CLI_EXIT_OK)
		exit_code = bmc_print_verified(s, bmc_id, op);
	json_decref(op);
	return exit_code;
}

/* bmc add and bmc set: send the BMC's settings, then follow the verify, if any. */
static int
bmc_write(struct bmc_session *s)
{
	const struct cli_bmc_args *args = s->args;
	bool add = args->command == CLI_BMC_ADD;
	char password[CLI_BMC_PASSWORD_MAX + 1], err[CLI_ERROR_SIZE], path[64];
	json_t *body, *reply, *bmc;
	json_int_t bmc_id, op_id;
	int exit_code, rc;

	rc = cli_bmc_password_read(args->password_file, getenv("OUTPOST_BMC_PASSWORD"), add,
				   password, sizeof(password), err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "outpost %s: %s\n", s->name, err);
		return CLI_EXIT_USAGE;
	}
	if (rc == 0 && add) {
		fprintf(stderr, "outpost %s: missing password: give --password-file FILE, set "
			"OUTPOST_BMC_PASSWORD, or run on a terminal to be asked for it\n", s->name);
		return CLI_EXIT_USAGE;
	}
	body = cli_bmc_body(args, password);
	explicit_bzero(password, sizeof(password));
	if (body == NULL) {
		fprintf(stderr, "outpost %s: out of memory\n", s->name);
		return CLI_EXIT_REJECTED;
	}
	if (add)
		snprintf(path, sizeof(path), "/api/v1/bmcs");
	else
		snprintf(path, sizeof(path), "/api/v1/bmcs/%" PRIu64, args->id);
	exit_code = cli_call(s->client, s->name, add ? "POST" : "PATCH", path, body, &reply);
	json_decref(body);
	if (exit_code != CLI_EXIT_OK)
		return exit_code;

	bmc = json_object_get(reply, "bmc");
	bmc_id = json_integer_value(json_object_get(bmc, "id"));
	op_id = json_integer_value(json_object_get(json_object_get(reply, "operation"), "id"));
	if (bmc_id <= 0) {
		fprintf(stderr, "outpost %s: the server's reply names no BMC\n", s->name);
		exit_code = CLI_EXIT_REJECTED;
	} else if (op_id > 0) {
		exit_code = verify_follow(s, reply, bmc_id, op_id);
	} else {
		/* A change that does not alter how the BMC is reached queues no verify. */
		exit_code = cli_print_reply(s->name, s->args->json, s->args->json ? reply : bmc,
					    cli_render_bmc);
	}
	json_decref(reply);
	return exit_code;
}

static int
bmc_verify(struct bmc_session *s)
{
	json_t *body = cli_bmc_operation_body(s->args), *reply;
	char path[64];
	int exit_code;

	snprintf(path, sizeof(path), "/api/v1/bmcs/%" PRIu64 "/operations", s->args->id);
	exit_code = cli_call(s->client, s->name, "POST", path, body, &reply);
	json_decref(body);
	if (exit_code == CLI_EXIT_OK && operation_id(reply) <= 0) {
		fprintf(stderr, "outpost %s: the server's reply names no operation\n", s->name);
		exit_code = CLI_EXIT_REJECTED;
	}
	if (exit_code == CLI_EXIT_OK)
		exit_code = verify_follow(s, reply, (json_int_t)s->args->id, operation_id(reply));
	json_decref(reply);
	return exit_code;
}

static int
render_bmc_items(json_t *reply, struct buf *out)
{
	return cli_render_bmcs(json_object_get(reply, "items"), out);
}

static int
bmc_rm(struct bmc_session *s)
{
	char path[64];
	json_t *reply;
	int exit_code;

	snprintf(path, sizeof(path), "/api/v1/bmcs/%" PRIu64, s->args->id);
	exit_code = cli_call(s->client, s->name, "DELETE", path, NULL, &reply);
	if (exit_code == CLI_EXIT_OK && !s->args->json)
		printf("BMC %" PRIu64 " removed\n", s->args->id);
	json_decref(reply);
	return exit_code;
}

/* The commands that queue one operation and print its result. */
static int
bmc_operate(struct bmc_session *s)
{
	json_t *body = cli_bmc_operation_body(s->args);
	char path[96];
	int exit_code;

	if (body == NULL) {
		fprintf(stderr, "outpost %s: out of memory\n", s->name);
		return CLI_EXIT_REJECTED;
	}
	if (s->args->command == CLI_BMC_MACHINE_POWER)
		snprintf(path, sizeof(path), "/api/v1/machines/%s/power", s->args->machine);
	else
		snprintf(path, sizeof(path), "/api/v1/bmcs/%" PRIu64 "/operations", s->args->id);
	exit_code = operation_run(s, path, body);
	json_decref(body);
	return exit_code;
}

static int
run_command(struct bmc_session *s)
{
	char path[96];

	switch (s->args->command) {
	case CLI_BMC_ADD:
	case CLI_BMC_SET:
		return bmc_write(s);
	case CLI_BMC_LIST:
		if (s->args->machine_given)
			snprintf(path, sizeof(path), "/api/v1/bmcs?machine=%s", s->args->machine);
		else
			snprintf(path, sizeof(path), "/api/v1/bmcs");
		return cli_get_and_print(s->client, s->name, s->args->json, path, render_bmc_items);
	case CLI_BMC_SHOW:
		snprintf(path, sizeof(path), "/api/v1/bmcs/%" PRIu64, s->args->id);
		return cli_get_and_print(s->client, s->name, s->args->json, path, cli_render_bmc);
	case CLI_BMC_RM:
		return bmc_rm(s);
	case CLI_BMC_VERIFY:
		return bmc_verify(s);
	case CLI_BMC_OPERATION:
		snprintf(path, sizeof(path), "/api/v1/bmc-operations/%" PRIu64, s->args->id);
		return cli_get_and_print(s->client, s->name, s->args->json, path,
					 cli_render_bmc_operation);
	case CLI_BMC_POWER:
	case CLI_BMC_BOOT:
	case CLI_BMC_MEDIA:
	case CLI_BMC_SENSORS:
	case CLI_BMC_INVENTORY:
	case CLI_BMC_EVENTS:
	case CLI_BMC_FIRMWARE:
	case CLI_BMC_MACHINE_POWER:
		return bmc_operate(s);
	case CLI_BMC_INVALID:
	case CLI_BMC_MAX:
		break;
	}
	fprintf(stderr, "outpost: no command to run\n");
	return CLI_EXIT_USAGE;
}

int
cli_bmc_main(int argc, char **argv)
{
	struct cli_bmc_args args;
	struct cli_endpoint endpoint = { .socket_path = NULL };
	struct bmc_session session = { .args = &args };
	char err[CLI_ERROR_SIZE];
	int exit_code, rc;

	rc = cli_bmc_args_parse(argc, argv, &args, err, sizeof(err));
	if (rc < 0) {
		const char *name = cli_bmc_command_name(args.command);

		fprintf(stderr, "outpost: %s\n", err);
		fprintf(stderr, "Try 'outpost %s --help'.\n", name != NULL ? name : "bmc");
		return CLI_EXIT_USAGE;
	}
	if (args.help) {
		cli_bmc_help_print(args.command);
		return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_REJECTED;
	}
	session.name = cli_bmc_command_name(args.command);

	rc = cli_endpoint_resolve(&args.conn, getenv("OUTPOST_SOCKET"), getenv("OUTPOST_TOKEN"),
				  &endpoint, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "outpost: %s\n", rc == -ENOMEM ? "out of memory" : err);
		return rc == -ENOMEM ? CLI_EXIT_REJECTED : CLI_EXIT_USAGE;
	}
	if (endpoint.insecure)
		fprintf(stderr, "outpost: warning: --insecure: the daemon's certificate is not "
			"verified, so anyone on the network path can read the token and the BMC "
			"password\n");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "outpost: cannot initialise libcurl\n");
		cli_endpoint_free(&endpoint);
		return CLI_EXIT_REJECTED;
	}
	if (cli_client_new(&endpoint, &session.client) < 0) {
		fprintf(stderr, "outpost: out of memory\n");
		exit_code = CLI_EXIT_REJECTED;
	} else {
		exit_code = run_command(&session);
		session.client = cli_client_free(session.client);
	}
	if (fflush(stdout) != 0 && exit_code == CLI_EXIT_OK) {
		fprintf(stderr, "outpost: cannot write the output: %s\n", strerror(errno));
		exit_code = CLI_EXIT_REJECTED;
	}
	curl_global_cleanup();
	cli_endpoint_free(&endpoint);
	return exit_code;
}
