/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `outpost serve`: the daemon. Loads the configuration, opens the store, starts the
 * boot, API and unix-socket listeners, and runs until SIGTERM or SIGINT.
 */
#ifndef OUTPOST_SERVE_H
#define OUTPOST_SERVE_H

/* Run the daemon with `outpost serve` arguments; returns the process exit code. */
int serve_main(int argc, char **argv);

#endif
