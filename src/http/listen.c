/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listening sockets for the http module. We create, bind and listen ourselves instead
 * of letting MHD do it, so TCP and unix sockets take the same path into MHD
 * (MHD_OPTION_LISTEN_SOCKET), errors name the address, and the unix socket gets its
 * mode before any client can connect.
 */
#include "http/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log/log.h"
#include "util/util.h"

/* Descriptors kept free beyond max_connections for files being served and the store. */
#define HTTP_FD_RESERVE 64

void
http_raise_fd_limit(unsigned max_connections)
{
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim) < 0) {
		log_warning("http cannot read RLIMIT_NOFILE: %s, ignoring", strerror(errno));
		return;
	}
	if (lim.rlim_cur < lim.rlim_max) {
		rlim_t old = lim.rlim_cur;

		lim.rlim_cur = lim.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &lim) < 0) {
			log_warning("http cannot raise RLIMIT_NOFILE from %llu to %llu: %s, ignoring",
				    (unsigned long long)old, (unsigned long long)lim.rlim_max,
				    strerror(errno));
			lim.rlim_cur = old;
		}
	}
	if (lim.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)max_connections + HTTP_FD_RESERVE > lim.rlim_cur)
		log_warning("http max_connections=%u exceeds the descriptor limit %llu, "
			    "connections past it will be refused",
			    max_connections, (unsigned long long)lim.rlim_cur);
}

/*
 * Split "address:port" or "[v6]:port" into `host` (of `size` bytes) and `port`.
 * Returns 0 or -EINVAL.
 */
static int
split_host_port(const char *address, char *host, size_t size, uint16_t *port)
{
	const char *colon, *host_start, *host_end;
	uint64_t value;
	size_t len;

	if (address[0] == '[') {
		host_start = address + 1;
		host_end = strchr(host_start, ']');
		if (host_end == NULL || host_end[1] != ':')
			return -EINVAL;
		colon = host_end + 1;
	} else {
		host_start = address;
		colon = strrchr(address, ':');
		if (colon == NULL)
			return -EINVAL;
		host_end = colon;
		/* An IPv6 address needs brackets, or its last group would read as the port. */
		if (memchr(host_start, ':', (size_t)(host_end - host_start)) != NULL)
			return -EINVAL;
	}

	len = (size_t)(host_end - host_start);
	if (len == 0 || len >= size)
		return -EINVAL;
	memcpy(host, host_start, len);
	host[len] = '\0';

	if (uint_parse(colon + 1, 0, UINT16_MAX, &value) < 0)
		return -EINVAL;
	*port = (uint16_t)value;
	return 0;
}

int
http_listen_tcp(const char *address, uint16_t *ret_port)
{
	struct addrinfo hints = {
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
	};
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	struct addrinfo *ai = NULL;
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 1], service[8];
	uint16_t port;
	int fd = -1, one = 1, zero = 0, rc;

	/* Parse the address; names are not resolved, so no lookup leaves the host. */
	if (split_host_port(address, host, sizeof(host), &port) < 0) {
		log_err("http invalid listen address \"%s\": expected address:port or "
			"[v6-address]:port with a numeric address", address);
		return -EINVAL;
	}
	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(host, service, &hints, &ai);
	if (rc != 0) {
		log_err("http invalid listen address \"%s\": %s", address, gai_strerror(rc));
		return -EINVAL;
	}

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		log_err("http socket for %s failed: %s", address, strerror(errno));
		goto err_socket;
	}

	/* Restarts must not wait for TIME_WAIT connections of the previous run. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		rc = -errno;
		log_err("http SO_REUSEADDR on %s failed: %s", address, strerror(errno));
		goto err_setsockopt;
	}

	/* "[::]:port" serves IPv4 too, whatever the net.ipv6.bindv6only sysctl is. */
	if (ai->ai_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0) {
		rc = -errno;
		log_err("http IPV6_V6ONLY on %s failed: %s", address, strerror(errno));
		goto err_setsockopt;
	}

	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		rc = -errno;
		log_err("http bind to %s failed: %s", address, strerror(errno));
		goto err_bind;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		rc = -errno;
		log_err("http listen on %s failed: %s", address, strerror(errno));
		goto err_bind;
	}

	/* With port 0 the kernel picks a free port, so read back which one it chose. */
	if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) < 0) {
		rc = -errno;
		log_err("http getsockname on %s failed: %s", address, strerror(errno));
		goto err_bind;
	}
	if (bound.ss_family == AF_INET6)
		*ret_port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
	else
		*ret_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);

	freeaddrinfo(ai);
	return fd;

err_bind:
err_setsockopt:
	close(fd);
err_socket:
	freeaddrinfo(ai);
	return rc;
}

/*
 * Remove a socket file left by a previous run. A path that is not a socket is left
 * alone (-EEXIST), and so is a socket some process still accepts on (-EADDRINUSE).
 */
static int
unlink_stale_socket(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("http %s exists and is not a socket, not replacing it", sun->sun_path);
		return -EEXIST;
	}

	/* A refused connection means no process listens there any more. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		log_err("http another process is listening on %s", sun->sun_path);
		return -EADDRINUSE;
	}

	if (unlink(sun->sun_path) < 0 && errno != ENOENT)
		return -errno;
	log_info("http removed stale socket path=%s", sun->sun_path);
	return 0;
}

int
http_listen_unix(const char *path, struct stat *ret_st)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, rc;

	if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
		log_err("http invalid unix socket path \"%s\": empty or longer than %zu bytes",
			path, sizeof(sun.sun_path) - 1);
		return -EINVAL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);

	rc = unlink_stale_socket(&sun);
	if (rc < 0) {
		if (rc != -EEXIST && rc != -EADDRINUSE)
			log_err("http cannot replace socket %s: %s", path, strerror(-rc));
		return rc;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		log_err("http unix socket for %s failed: %s", path, strerror(errno));
		return rc;
	}
	if (bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		log_err("http bind to %s failed: %s", path, strerror(errno));
		goto err_bind;
	}

	/* Until listen() below, connections are refused, so no client sees a wider mode. */
	if (chmod(path, 0600) < 0 || lstat(path, ret_st) < 0) {
		rc = -errno;
		log_err("http chmod 0600 on %s failed: %s", path, strerror(errno));
		goto err_chmod;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		rc = -errno;
		log_err("http listen on %s failed: %s", path, strerror(errno));
		goto err_chmod;
	}

	return fd;

err_chmod:
	unlink(path);
err_bind:
	close(fd);
	return rc;
}

void
http_unlink_socket(const char *path, const struct stat *created)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return;
	if (st.st_dev != created->st_dev || st.st_ino != created->st_ino)
		return;
	if (unlink(path) < 0)
		log_warning("http cannot remove socket %s: %s, ignoring", path, strerror(errno));
}
