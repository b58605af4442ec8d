/* SPDX-License-Identifier: Apache-2.0 */
/*
 * outpost-kea-hook: the program Kea's run_script hook runs for every lease event.
 *
 * Kea 2.2 starts one process per event, on the same core as its packet processing,
 * so this program is small, static and does one thing: it sends the hook point and
 * the lease addresses from Kea's environment as one datagram,
 *
 *     HOOK ADDRESS [ADDRESS ...]\n
 *
 * to the daemon's event socket, and exits 0 whatever happens, because Kea ignores a
 * failing script and the daemon's periodic lease read catches up.
 *
 * Kea passes only the hook point as an argument, so the socket is found from the
 * program's own name: the daemon installs a link named EVENT_SOCKET.hook to this
 * program and configures Kea with that path.
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DATAGRAM_MAX 2048
#define ADDRESSES_MAX 64
#define LINK_SUFFIX ".hook"

extern char **environ;

/* True for the names run_script gives a lease's address (Kea 2.2). */
static int
address_variable(const char *name, size_t len)
{
	static const char *const prefixes[] = { "LEASES4_AT", "DELETED_LEASES4_AT" };

	if (len == 14 && memcmp(name, "LEASE4_ADDRESS", 14) == 0)
		return 1;
	if (len < 8 || memcmp(name + len - 8, "_ADDRESS", 8) != 0)
		return 0;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t plen = strlen(prefixes[i]), digits = 0;

		if (len <= plen + 8 || memcmp(name, prefixes[i], plen) != 0)
			continue;
		while (plen + digits < len - 8 && name[plen + digits] >= '0' &&
		       name[plen + digits] <= '9')
			digits++;
		if (plen + digits == len - 8)
			return 1;
	}
	return 0;
}

/* Append " VALUE" for every lease address in the environment. */
static size_t
addresses_append(char *out, size_t used, size_t size)
{
	size_t count = 0;

	for (char **env = environ; *env != NULL && count < ADDRESSES_MAX; env++) {
		const char *eq = strchr(*env, '=');
		struct in_addr addr;
		size_t value_len;

		if (eq == NULL || !address_variable(*env, (size_t)(eq - *env)) ||
		    inet_pton(AF_INET, eq + 1, &addr) != 1)
			continue;
		value_len = strlen(eq + 1);
		if (used + 1 + value_len + 1 > size)
			break;
		out[used++] = ' ';
		memcpy(out + used, eq + 1, value_len);
		used += value_len;
		count++;
	}
	return used;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char datagram[DATAGRAM_MAX];
	size_t name_len, hook_len, used;
	int fd;

	if (argc != 2 || argv[0] == NULL)
		return 0;
	name_len = strlen(argv[0]);
	hook_len = strlen(argv[1]);
	if (name_len <= strlen(LINK_SUFFIX) ||
	    strcmp(argv[0] + name_len - strlen(LINK_SUFFIX), LINK_SUFFIX) != 0 ||
	    name_len - strlen(LINK_SUFFIX) >= sizeof(addr.sun_path) || hook_len == 0 ||
	    hook_len >= 32)
		return 0;
	memcpy(addr.sun_path, argv[0], name_len - strlen(LINK_SUFFIX));

	memcpy(datagram, argv[1], hook_len);
	used = addresses_append(datagram, hook_len, sizeof(datagram));
	datagram[used++] = '\n';

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0) {
		/* A full queue or a stopped daemon drops the event; the resync reads it. */
		(void)sendto(fd, datagram, used, 0, (struct sockaddr *)&addr, sizeof(addr));
		close(fd);
	}
	return 0;
}
