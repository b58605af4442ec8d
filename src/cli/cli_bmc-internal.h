/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Declarations shared by the files of `outpost bmc` (src/cli/cli_bmc*.c) and used
 * nowhere else. The functions that tests call are in cli/cli.h.
 */
#ifndef OUTPOST_CLI_BMC_INTERNAL_H
#define OUTPOST_CLI_BMC_INTERNAL_H

#include "cli/cli.h"

/* Option groups that a command accepts beyond the connection options. */
#define CLI_BMC_TAKES_FIELDS 1u  /* the BMC settings of add and set, --protocol to --machine */
#define CLI_BMC_TAKES_WAIT 2u    /* --wait-timeout and --no-wait */
#define CLI_BMC_TAKES_YES 4u     /* --yes */

/* The CLI_BMC_TAKES_* bits of `command`, 0 for CLI_BMC_INVALID (cli_bmc_args.c). */
unsigned cli_bmc_option_groups(enum cli_bmc_command command);

/*
 * Print the help of `command` on stdout, with the options it accepts, or the help of
 * the group for CLI_BMC_INVALID (cli_bmc_help.c).
 */
void cli_bmc_help_print(enum cli_bmc_command command);

#endif
