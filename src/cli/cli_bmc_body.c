/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The request bodies of `outpost bmc` and `outpost machine power`, built from the
 * parsed arguments, and the BMC password that bmc add and set send: read from a file,
 * standard input, OUTPOST_BMC_PASSWORD or a prompt without echo.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* The JSON of a machine REF: an id as a number, a MAC as a string, "" as null. */
static json_t *
machine_json(const char *ref)
{
	uint64_t id;

	if (ref[0] == '\0')
		return json_null();
	if (uint_parse(ref, 1, INT64_MAX, &id) == 0)
		return json_integer((json_int_t)id);
	return json_string(ref);
}

json_t *
cli_bmc_body(const struct cli_bmc_args *args, const char *password)
{
	json_t *body = json_object();
	int rc = 0;

	if (body == NULL)
		return NULL;
	if (args->protocol != NULL)
		rc |= json_object_set_new(body, "protocol", json_string(args->protocol));
	if (args->address[0] != '\0')
		rc |= json_object_set_new(body, "address", json_string(args->address));
	if (args->port != 0)
		rc |= json_object_set_new(body, "port", json_integer((json_int_t)args->port));
	if (args->user != NULL)
		rc |= json_object_set_new(body, "username", json_string(args->user));
	if (password != NULL && password[0] != '\0')
		rc |= json_object_set_new(body, "password", json_string(password));
	if (args->tls != NULL)
		rc |= json_object_set_new(body, "tls", json_string(args->tls));
	if (args->ca_file != NULL)
		rc |= json_object_set_new(body, "ca_file", json_string(args->ca_file));
	if (args->fingerprint[0] != '\0')
		rc |= json_object_set_new(body, "fingerprint", json_string(args->fingerprint));
	if (args->machine_given)
		rc |= json_object_set_new(body, "machine", machine_json(args->machine));
	if (rc != 0) {
		json_decref(body);
		return NULL;
	}
	return body;
}

json_t *
cli_bmc_operation_body(const struct cli_bmc_args *args)
{
	const char *action = args->action;

	switch (args->command) {
	case CLI_BMC_VERIFY:
		return json_pack("{s:s}", "operation", "verify");
	case CLI_BMC_MACHINE_POWER:
		return json_pack("{s:s}", "action", action);
	case CLI_BMC_POWER:
		if (strcmp(action, "status") == 0)
			return json_pack("{s:s}", "operation", "power-state");
		return json_pack("{s:s, s:s}", "operation", "power", "action", action);
	case CLI_BMC_BOOT:
		if (args->mode != NULL)
			return json_pack("{s:s, s:s, s:s}", "operation", "boot", "device",
					 args->device, "mode", args->mode);
		return json_pack("{s:s, s:s}", "operation", "boot", "device", args->device);
	case CLI_BMC_MEDIA:
		if (strcmp(action, "insert") == 0)
			return json_pack("{s:s, s:s}", "operation", "media-insert", "url", args->url);
		return json_pack("{s:s}", "operation",
				 strcmp(action, "eject") == 0 ? "media-eject" : "media-status");
	case CLI_BMC_SENSORS:
		return json_pack("{s:s}", "operation", "sensors");
	case CLI_BMC_INVENTORY:
		return json_pack("{s:s}", "operation", "inventory");
	case CLI_BMC_EVENTS:
		return json_pack("{s:s}", "operation", "events");
	case CLI_BMC_FIRMWARE:
		return json_pack("{s:s, s:s}", "operation", "firmware-update", "url", args->url);
	default:
		return NULL;
	}
}

/*
 * Read one line from fd into out (at most `max` bytes), without its line break.
 * `what` names the source in messages, which never show the line itself.
 */
static int
password_line(int fd, const char *what, char *out, size_t max, char *err, size_t err_size)
{
	size_t len = 0;
	char c;

	for (;;) {
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			explicit_bzero(out, len);
			return err_set(-errno, err, err_size, "cannot read the password from %s: %s",
				       what, strerror(errno));
		}
		if (n == 0 || c == '\n')
			break;
		if (c == '\0' || len == max) {
			explicit_bzero(out, len);
			explicit_bzero(&c, sizeof(c));
			return err_set(-EINVAL, err, err_size, "the password in %s %s", what,
				       len == max ? "is too long: the maximum is 127 bytes" :
						    "contains a NUL byte");
		}
		out[len++] = c;
	}
	explicit_bzero(&c, sizeof(c));
	if (len > 0 && out[len - 1] == '\r')
		len--;
	out[len] = '\0';
	if (len == 0)
		return err_set(-EINVAL, err, err_size, "the first line of %s is empty: it must "
			       "contain the password", what);
	return 1;
}

/* The terminal settings to put back when a signal ends the prompt. */
static struct termios prompt_saved;

static void
prompt_signal(int sig)
{
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &prompt_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Ask for the password on the terminal with echo off, restoring it on a signal too. */
static int
password_prompt(char *out, size_t max, char *err, size_t err_size)
{
	static const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction quiet_action = { .sa_handler = prompt_signal };
	struct sigaction saved_actions[4];
	struct termios quiet;
	int rc;

	if (tcgetattr(STDIN_FILENO, &prompt_saved) < 0)
		return err_set(-errno, err, err_size, "cannot read the terminal settings: %s",
			       strerror(errno));
	for (size_t i = 0; i < 4; i++)
		sigaction(signals[i], &quiet_action, &saved_actions[i]);
	quiet = prompt_saved;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	fputs("BMC password: ", stderr);
	fflush(stderr);
	rc = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	if (rc == 0)
		rc = password_line(STDIN_FILENO, "the terminal", out, max, err, err_size);
	else
		rc = err_set(-errno, err, err_size, "cannot turn off the terminal echo: %s",
			     strerror(errno));
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &prompt_saved);
	for (size_t i = 0; i < 4; i++)
		sigaction(signals[i], &saved_actions[i], NULL);
	return rc;
}

int
cli_bmc_password_read(const char *path, const char *env_value, bool prompt, char *out,
		      size_t size, char *err, size_t err_size)
{
	size_t max = size - 1 < CLI_BMC_PASSWORD_MAX ? size - 1 : CLI_BMC_PASSWORD_MAX;
	int fd, rc;

	out[0] = '\0';
	if (path != NULL && strcmp(path, "-") == 0) {
		if (isatty(STDIN_FILENO))
			return password_prompt(out, max, err, err_size);
		return password_line(STDIN_FILENO, "standard input", out, max, err, err_size);
	}
	if (path != NULL) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return err_set(-errno, err, err_size, "cannot open --password-file %s: %s",
				       path, strerror(errno));
		rc = password_line(fd, path, out, max, err, err_size);
		close(fd);
		return rc;
	}
	if (env_value != NULL && env_value[0] != '\0') {
		if (strlen(env_value) > max)
			return err_set(-EINVAL, err, err_size, "OUTPOST_BMC_PASSWORD is longer than "
				       "%zu bytes", max);
		snprintf(out, size, "%s", env_value);
		return 1;
	}
	if (prompt && isatty(STDIN_FILENO))
		return password_prompt(out, max, err, err_size);
	return 0;
}
