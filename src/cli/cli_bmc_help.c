/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Help of `outpost bmc` and `outpost machine power`: the group's command list, each
 * command's usage, and the blocks of the option groups that cli_bmc_option_groups
 * returns for the command.
 */
#include "cli/cli_bmc-internal.h"

#include <stdio.h>

static const char help_group[] =
	"Usage: outpost bmc COMMAND [ARGUMENTS] [OPTIONS]\n"
	"       outpost machine power REF ACTION [OPTIONS]\n"
	"\n"
	"Enrol servers' BMCs (Redfish or IPMI) and run operations on them. The daemon\n"
	"queues each operation; these commands wait for it and print its result.\n"
	"\n"
	"Commands:\n"
	"  add --protocol P --address A --user U ...   enrol a BMC and verify it\n"
	"  list [--machine REF]          list BMCs\n"
	"  show ID                       show one BMC\n"
	"  set ID ...                    change a BMC's settings\n"
	"  rm ID                         remove a BMC; its operations stay as history\n"
	"  verify ID                     log in again, read the inventory, link the machine\n"
	"  power ID ACTION               on, off, shutdown, reset, cycle or status\n"
	"  boot ID DEVICE [--mode M]     boot once from pxe, http, cd or disk\n"
	"  media ID insert URL | eject | status   virtual media\n"
	"  sensors ID                    read the sensors\n"
	"  inventory ID                  read the system and its firmware versions\n"
	"  events ID                     read the system event log\n"
	"  firmware ID URL               update the firmware from an image URL\n"
	"  operation OPID                show one operation\n"
	"\n"
	"Run 'outpost bmc COMMAND --help' for the options of each command.\n";

static const char help_fields[] =
	"  --protocol P       redfish or ipmi\n"
	"  --address A        host name, IPv4 or IPv6 address of the BMC, without a port\n"
	"  --port N           TCP port for Redfish, UDP port for IPMI, 1 to 65535\n"
	"                     (default: 443 for Redfish, 623 for IPMI)\n"
	"  --user U           user name on the BMC\n"
	"  --password-file F  file whose first line is the password; - reads standard\n"
	"                     input. Else OUTPOST_BMC_PASSWORD is used, else add asks\n"
	"                     on the terminal. The password is never an argument,\n"
	"                     because other users can read a command line\n"
	"  --tls T            Redfish certificate check: ca (the chain verifies against\n"
	"                     --ca-file or the system store; the default), pinned (the\n"
	"                     key's SHA-256 equals --fingerprint) or tofu (the first\n"
	"                     connection records the fingerprint)\n"
	"  --ca-file F        absolute path of a PEM CA file on the daemon's host\n"
	"  --fingerprint HEX  SHA-256 of the certificate's public key, 64 hex digits\n"
	"  --machine REF      machine id or MAC to link; verify links by MAC or UUID\n"
	"                     when it is not given\n";

static const char help_wait[] =
	"  --wait-timeout S   seconds to wait for the operation (default: 120; 3900\n"
	"                     for firmware). The operation goes on after a time-out\n"
	"  --no-wait          print the operation id and return at once\n";

static const char help_yes[] =
	"  --yes              confirm a destructive action: power off, shutdown, reset,\n"
	"                     cycle, and firmware updates. Required, on a terminal and\n"
	"                     in scripts alike\n";

static const char help_exit_status[] =
	"\n"
	"Exit status:\n"
	"  0  success\n"
	"  1  the operation failed or is still running after --wait-timeout, or the\n"
	"     server rejected the request (HTTP 4xx other than 404 and 409) or failed\n"
	"  2  usage error, found before any request was sent\n"
	"  3  not found (HTTP 404)\n"
	"  4  conflict (HTTP 409), such as a machine without a BMC\n"
	"  5  cannot reach the daemon\n";

static const char *const command_help[CLI_BMC_MAX] = {
	[CLI_BMC_ADD] =
		"Usage: outpost bmc add --protocol redfish|ipmi --address A [--port N] --user U\n"
		"                       [--password-file F] [--tls ca|pinned|tofu] [--ca-file F]\n"
		"                       [--fingerprint HEX] [--machine REF] [OPTIONS]\n"
		"\n"
		"Enrol a BMC, wait for the verify operation the daemon queues, and print the\n"
		"BMC: its status, the machine it is linked to and the learned fingerprint.\n"
		"When the verify fails, the BMC stays enrolled with status \"error\".\n"
		"\n"
		"Options:\n",
	[CLI_BMC_LIST] =
		"Usage: outpost bmc list [--machine REF] [OPTIONS]\n"
		"\n"
		"List BMCs as a table: ID, PROTOCOL, ADDRESS, STATUS, POWER and MACHINE.\n"
		"\n"
		"Options:\n"
		"  --machine REF      list only the BMCs of this machine (id or MAC)\n",
	[CLI_BMC_SHOW] =
		"Usage: outpost bmc show ID [OPTIONS]\n"
		"\n"
		"Show one BMC as key: value lines. The password is never shown.\n",
	[CLI_BMC_SET] =
		"Usage: outpost bmc set ID [FIELD OPTIONS] [OPTIONS]\n"
		"\n"
		"Change the settings given. A new password is sent only with --password-file\n"
		"or OUTPOST_BMC_PASSWORD. --machine '' unlinks the machine. When the change\n"
		"alters how the BMC is reached, the daemon verifies it again and this command\n"
		"waits for that.\n"
		"\n"
		"Options:\n",
	[CLI_BMC_RM] =
		"Usage: outpost bmc rm ID [OPTIONS]\n"
		"\n"
		"Remove a BMC. Its operations stay readable with 'outpost bmc operation'.\n",
	[CLI_BMC_VERIFY] =
		"Usage: outpost bmc verify ID [OPTIONS]\n"
		"\n"
		"Log in to the BMC, read its inventory and link it to its machine, then print\n"
		"the BMC.\n"
		"\n"
		"Options:\n",
	[CLI_BMC_POWER] =
		"Usage: outpost bmc power ID on|off|shutdown|reset|cycle|status [--yes] [OPTIONS]\n"
		"\n"
		"Change or read the server's power. off cuts the power at once, shutdown asks\n"
		"the operating system to stop, reset restarts at once, cycle turns the power\n"
		"off and on. These four need --yes.\n"
		"\n"
		"Options:\n",
	[CLI_BMC_BOOT] =
		"Usage: outpost bmc boot ID pxe|http|cd|disk [--mode uefi|legacy|keep] [OPTIONS]\n"
		"\n"
		"Boot once from the device at the next start (http is UEFI HTTP boot).\n"
		"\n"
		"Options:\n"
		"  --mode M           firmware boot mode: uefi, legacy or keep (the default)\n",
	[CLI_BMC_MEDIA] =
		"Usage: outpost bmc media ID insert URL | eject | status [OPTIONS]\n"
		"\n"
		"Insert an image as a virtual CD, eject it, or show what is inserted. The BMC\n"
		"fetches the image from URL, which must be http:// or https://.\n"
		"\n"
		"Options:\n",
	[CLI_BMC_SENSORS] =
		"Usage: outpost bmc sensors ID [OPTIONS]\n"
		"\n"
		"Read every sensor, as a table: NAME, KIND, VALUE and UNIT.\n"
		"\n"
		"Options:\n",
	[CLI_BMC_INVENTORY] =
		"Usage: outpost bmc inventory ID [OPTIONS]\n"
		"\n"
		"Read the system (manufacturer, model, serial, UUID, MACs) and a table of\n"
		"its firmware versions.\n"
		"\n"
		"Options:\n",
	[CLI_BMC_EVENTS] =
		"Usage: outpost bmc events ID [OPTIONS]\n"
		"\n"
		"Read the system event log, as a table: ID, CREATED, SEVERITY and MESSAGE.\n"
		"\n"
		"Options:\n",
	[CLI_BMC_FIRMWARE] =
		"Usage: outpost bmc firmware ID URL --yes [OPTIONS]\n"
		"\n"
		"Have the BMC fetch the firmware image at URL (http:// or https://) and apply\n"
		"it, and wait for the update to finish. Needs --yes.\n"
		"\n"
		"Options:\n",
	[CLI_BMC_OPERATION] =
		"Usage: outpost bmc operation OPID [OPTIONS]\n"
		"\n"
		"Show one operation: its state, arguments, error or result, and times.\n",
	[CLI_BMC_MACHINE_POWER] =
		"Usage: outpost machine power REF on|off|shutdown|reset|cycle|status [--yes]\n"
		"                             [OPTIONS]\n"
		"\n"
		"Change or read a machine's power through its first BMC. REF is the machine's\n"
		"id or one of its MACs. off, shutdown, reset and cycle need --yes.\n"
		"\n"
		"Options:\n",
};

void
cli_bmc_help_print(enum cli_bmc_command command)
{
	unsigned groups;

	if (command == CLI_BMC_INVALID) {
		fputs(help_group, stdout);
		return;
	}
	fputs(command_help[command], stdout);
	groups = cli_bmc_option_groups(command);
	if ((groups & CLI_BMC_TAKES_FIELDS) != 0)
		fputs(help_fields, stdout);
	if ((groups & CLI_BMC_TAKES_WAIT) != 0)
		fputs(help_wait, stdout);
	if ((groups & CLI_BMC_TAKES_YES) != 0)
		fputs(help_yes, stdout);
	fputs(cli_help_connection, stdout);
	fputs(help_exit_status, stdout);
}
