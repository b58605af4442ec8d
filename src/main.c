/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `outpost` multi-call binary: the first argument picks the command.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "serve/serve.h"

static void
usage(FILE *out)
{
	fputs("usage: outpost COMMAND [ARGS]\n"
	      "\n"
	      "Commands:\n"
	      "  serve     run the daemon\n"
	      "  machine   list, show, add, set, deploy and remove machines\n"
	      "  profile   list, show, add, set and remove deployment profiles\n"
	      "  audit     show the audit trail or verify its hash chain\n"
	      "  status    show the daemon's status\n"
	      "  bundle    make keys, create, inspect and verify offline bundles\n"
	      "  bmc       enrol BMCs and run power, boot, media and sensor operations\n"

	      "\n"
	      "Run `outpost COMMAND --help` for a command's options.\n",
	      out);
}

int
main(int argc, char **argv)
{
	const char *command;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	command = argv[1];

	if (strcmp(command, "-h") == 0 || strcmp(command, "--help") == 0 ||
	    strcmp(command, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(command, "serve") == 0)
		return serve_main(argc - 1, argv + 1);
	/* `machine power` runs a BMC operation, so the BMC commands handle it. */
	if (strcmp(command, "bmc") == 0 ||
	    (strcmp(command, "machine") == 0 && argc > 2 && strcmp(argv[2], "power") == 0))
		return cli_bmc_main(argc - 1, argv + 1);
	if (strcmp(command, "machine") == 0 || strcmp(command, "profile") == 0 ||
	    strcmp(command, "audit") == 0 || strcmp(command, "status") == 0)
		return cli_main(argc - 1, argv + 1);
	if (strcmp(command, "bundle") == 0)
		return cli_bundle_main(argc - 1, argv + 1);

	fprintf(stderr, "outpost: unknown command \"%s\"\n", command);
	usage(stderr);
	return 2;
}
