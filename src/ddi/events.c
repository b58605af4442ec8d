/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lease events from Kea. Kea's run_script hook runs a program for each lease event
 * with the hook point as its argument and the lease in environment variables. That
 * program is `outpost kea-hook`, which sends one datagram to the daemon:
 *
 *     HOOK ADDRESS [ADDRESS ...]\n
 *
 * The datagram is only a hint that these addresses changed. The daemon reads each
 * lease back through lease_cmds, so a forged datagram can make it ask Kea, nothing
 * more. Datagrams never block Kea: when the daemon is down or its queue is full, the
 * send fails, the event is dropped, and the next lease resync catches up.
 */
#include "ddi/ddi-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log/log.h"
#include "util/util.h"

extern char **environ;

int
ddi_event_parse(const char *data, size_t len, struct ddi_event *ret)
{
	char text[DDI_EVENT_MAX + 1];
	char *cursor = text, *word;

	memset(ret, 0, sizeof(*ret));
	if (len == 0 || len > DDI_EVENT_MAX || memchr(data, '\0', len) != NULL)
		return -EINVAL;
	memcpy(text, data, len);
	text[len] = '\0';
	if (text[len - 1] == '\n')
		text[len - 1] = '\0';

	word = strsep(&cursor, " ");
	if (word == NULL || word[0] == '\0' || strlen(word) >= sizeof(ret->hook) ||
	    strspn(word, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(word))
		return -EINVAL;
	memcpy(ret->hook, word, strlen(word) + 1);

	while ((word = strsep(&cursor, " ")) != NULL) {
		if (ret->count == DDI_EVENT_ADDRS_MAX || ddi_addr_parse(word, &ret->addrs[ret->count]) < 0)
			return -EINVAL;
		ret->count++;
	}
	return 0;
}

int
ddi_hook_install(const char *path, const char *socket_path)
{
	char self[DDI_PATH_SIZE], tmp[DDI_PATH_SIZE + 8];
	struct buf script;
	ssize_t n;
	int r;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0 || (size_t)n >= sizeof(self) - 1) {
		log_err("ddi: cannot find the outpost binary through /proc/self/exe: %s",
			n < 0 ? strerror(errno) : "path too long");
		return n < 0 ? -errno : -ENAMETOOLONG;
	}
	self[n] = '\0';
	if (strchr(self, '\'') != NULL) {
		log_err("ddi: the outpost binary's path %s contains a single quote", self);
		return -EINVAL;
	}

	buf_init(&script, 8192);
	buf_printf(&script,
		   "#!/bin/sh\n"
		   "# Written by outpost serve at every start. Kea's run_script hook runs this\n"
		   "# for each lease event; it forwards the event to the daemon.\n"
		   "exec '%s' kea-hook --socket '%s' \"$@\"\n", self, socket_path);

	/* Replace the file whole, so Kea never runs a half-written script. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	r = file_write_new(tmp, 0755, script.data, script.len);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		log_err("ddi: failed to write the Kea hook program %s: %s", path, strerror(-r));
	}
	buf_free(&script);
	return r;
}

static int
socket_address(const char *path, struct sockaddr_un *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr->sun_path))
		return -ENAMETOOLONG;
	memcpy(addr->sun_path, path, strlen(path) + 1);
	return 0;
}

int
ddi_event_socket_open(const char *path, int *ret_fd)
{
	struct sockaddr_un addr;
	struct stat st;
	int fd, r;

	r = socket_address(path, &addr);
	if (r < 0) {
		log_err("ddi: event socket path too long: %s", path);
		return r;
	}
	/* A socket left by an earlier run is replaced; any other file is not. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("ddi: %s exists and is not a socket; remove it or change "
				"[kea] event_socket", path);
			return -EEXIST;
		}
		unlink(path);
	}

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		r = -errno;
		log_err("ddi: failed to bind event socket %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	/*
	 * Kea runs as its own user on an appliance. An event only makes the daemon read a
	 * lease back from Kea, so anyone who can reach the socket can do no more than that.
	 */
	if (chmod(path, 0666) < 0)
		log_warning("ddi: failed to open up %s to Kea's user: %s", path, strerror(errno));
	*ret_fd = fd;
	log_info("ddi: listening for lease events socket=%s", path);
	return 0;
}

/* True for the names run_script gives a lease's address (Kea 2.2). */
static bool
address_variable(const char *name)
{
	static const char *const prefixes[] = { "LEASES4_AT", "DELETED_LEASES4_AT" };
	size_t len = strlen(name);

	if (strcmp(name, "LEASE4_ADDRESS") == 0)
		return true;
	if (len < 8 || strcmp(name + len - 8, "_ADDRESS") != 0)
		return false;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t plen = strlen(prefixes[i]);

		if (strncmp(name, prefixes[i], plen) == 0 &&
		    strspn(name + plen, "0123456789") == len - 8 - plen && len - 8 > plen)
			return true;
	}
	return false;
}

/* Build the datagram from the environment: the hook point and every lease address. */
static int
event_compose(const char *hook, char *out, size_t size, size_t *ret_len)
{
	size_t used;
	size_t count = 0;

	used = (size_t)snprintf(out, size, "%s", hook);
	for (char **env = environ; *env != NULL; env++) {
		const char *eq = strchr(*env, '=');
		char name[64];
		uint32_t addr;

		if (eq == NULL || (size_t)(eq - *env) >= sizeof(name))
			continue;
		memcpy(name, *env, (size_t)(eq - *env));
		name[eq - *env] = '\0';
		if (!address_variable(name) || ddi_addr_parse(eq + 1, &addr) < 0)
			continue;
		if (count == DDI_EVENT_ADDRS_MAX || used + 1 + strlen(eq + 1) + 2 > size)
			break;
		used += (size_t)snprintf(out + used, size - used, " %s", eq + 1);
		count++;
	}
	out[used++] = '\n';
	*ret_len = used;
	return 0;
}

int
ddi_hook_main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *socket_path = NULL;
	char datagram[DDI_EVENT_MAX];
	struct sockaddr_un addr;
	struct ddi_event check;
	size_t len;
	int fd, opt;

	while ((opt = getopt_long(argc, argv, "s:", options, NULL)) != -1) {
		if (opt != 's') {
			fprintf(stderr, "usage: outpost kea-hook --socket PATH HOOK\n");
			return 2;
		}
		socket_path = optarg;
	}
	if (socket_path == NULL || optind + 1 != argc) {
		fprintf(stderr, "usage: outpost kea-hook --socket PATH HOOK\n"
			"Run by Kea's run_script hook; forwards a lease event to outpost serve.\n");
		return 2;
	}
	if (socket_address(socket_path, &addr) < 0) {
		fprintf(stderr, "outpost kea-hook: socket path too long: %s\n", socket_path);
		return 2;
	}

	event_compose(argv[optind], datagram, sizeof(datagram), &len);
	if (ddi_event_parse(datagram, len, &check) < 0) {
		fprintf(stderr, "outpost kea-hook: invalid hook point \"%s\"\n", argv[optind]);
		return 2;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || sendto(fd, datagram, len, 0, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		/* Exit 0 all the same: Kea logs a failed script, and the resync catches up. */
		fprintf(stderr, "outpost kea-hook: cannot reach %s: %s\n", socket_path,
			strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return 0;
}
