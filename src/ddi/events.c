/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lease events from Kea. Kea's run_script hook runs a program for each lease event
 * with the hook point as its argument and the lease in environment variables. That
 * program is outpost-kea-hook (src/keahook/), which sends one datagram to the daemon:
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log/log.h"
#include "util/util.h"

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
ddi_hook_install(const char *path, const char *program)
{
	char tmp[DDI_PATH_SIZE + 8];
	int r = 0;

	/* Replace the link in one rename, so Kea never finds it missing. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	if (symlink(program, tmp) < 0 || rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		log_err("ddi: failed to link the Kea hook %s to %s: %s", path, program,
			strerror(-r));
		return r;
	}
	log_info("ddi: Kea hook ready link=%s program=%s", path, program);
	return 0;
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

/* True when a process is bound to the datagram socket at `addr`. */
static bool
socket_live(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0;
	close(fd);
	return live;
}

int
ddi_event_socket_open(const char *path, int *ret_fd, ino_t *ret_inode)
{
	struct sockaddr_un addr;
	struct stat st;
	int fd, r;

	r = socket_address(path, &addr);
	if (r < 0) {
		log_err("ddi: event socket path too long: %s", path);
		return r;
	}
	/*
	 * A socket left by an earlier run is replaced. One that a live daemon is bound to,
	 * or any other file, is not.
	 */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("ddi: %s exists and is not a socket; remove it or change "
				"[kea] event_socket", path);
			return -EEXIST;
		}
		if (socket_live(&addr)) {
			log_err("ddi: another process listens on %s; give each daemon its own "
				"[kea] event_socket", path);
			return -EADDRINUSE;
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
	*ret_inode = lstat(path, &st) == 0 ? st.st_ino : 0;
	log_info("ddi: listening for lease events socket=%s", path);
	return 0;
}
