/* SPDX-License-Identifier: Apache-2.0 */
/*
 * outpost-agent: reads its orders from the kernel command line and runs the
 * deployment or the discovery they name. The ramdisk's init starts it once the
 * network is up and reboots the server when it returns, whatever the outcome: a
 * failed deployment is Outpost's to handle, and the next netboot asks it again.
 *
 * Usage: outpost-agent [--cmdline FILE] [--disk PATH] [--root DIR] [--no-reboot]
 *   --cmdline  read the command line from FILE instead of /proc/cmdline
 *   --disk     write the image to PATH instead of choosing a disk
 *   --root     read the inventory from the tree DIR (tests)
 *   --no-reboot  exit instead of rebooting (tests)
 * Exit status: 0 deployed or told to reboot, 1 failed, 2 usage.
 */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <unistd.h>

/* Read at most size - 1 bytes of `path` as a string. */
static int
read_text(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, out, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	out[n] = '\0';
	return 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: outpost-agent [--cmdline FILE] [--disk PATH] [--root DIR] "
		"[--no-reboot]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct agent_config cfg = { .root = "", .reboot = true };
	const char *cmdline_path = "/proc/cmdline";
	char cmdline[8192], err[256];
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-reboot") == 0)
			cfg.reboot = false;
		else if (strcmp(argv[i], "--cmdline") == 0 && i + 1 < argc)
			cmdline_path = argv[++i];
		else if (strcmp(argv[i], "--disk") == 0 && i + 1 < argc)
			cfg.disk = argv[++i];
		else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
			cfg.root = argv[++i];
		else
			return usage();
	}
	rc = read_text(cmdline_path, cmdline, sizeof(cmdline));
	if (rc < 0) {
		agent_log("cannot read %s: %s", cmdline_path, strerror(-rc));
		return 2;
	}
	if (agent_cmdline_parse(cmdline, &cfg, err, sizeof(err)) < 0) {
		agent_log("%s; boot the ramdisk through Outpost's iPXE script", err);
		return 2;
	}
	agent_log("starting: mode=%s url=%s bootif=%s", cfg.mode, cfg.url,
		  cfg.bootif[0] != '\0' ? cfg.bootif : "(none)");

	rc = strcmp(cfg.mode, "deploy") == 0 ? agent_deploy(&cfg) : agent_discover(&cfg);
	if (!cfg.reboot)
		return rc == 0 ? 0 : 1;
	agent_log("rebooting");
	sync();
	reboot(RB_AUTOBOOT);
	agent_log("reboot failed: %s", strerror(errno));
	return 1;
}
