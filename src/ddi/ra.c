/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Router advertisements that configure nothing, for netbooting clients.
 *
 * iPXE configures IPv6 alongside DHCPv4 and prints "Configuring (net0 ...) ok" only
 * once both are done. Without an IPv6 router on the link, it sends router solicitations
 * until its timer gives up, which delays every boot by about 13 s after the DHCP
 * acknowledgement. Outpost responds to each solicitation on the provisioning interface
 * with an advertisement that changes nothing for any host: router lifetime 0 (not a default
 * router), no prefix, neither the "managed" nor the "other" flag (no DHCPv6). iPXE goes
 * on at once. A site with its own IPv6 routers turns this off with
 * [ddi] router_advertisements = false.
 *
 * RFC 4861, section 6.2.6, shapes the replies. Each is sent after a random delay of up
 * to RA_MAX_DELAY_MS. A solicitation from a link-local address gets a unicast reply.
 * Any other source gets the multicast reply to all nodes, sent at most once per
 * RA_MULTICAST_GAP_MS. At most RA_PENDING_MAX unicast replies wait at a time, so a
 * flood of solicitations draws a bounded number of replies.
 */
#include "ddi/ddi-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log/log.h"

#define RA_MULTICAST_GAP_MS 3000
#define RA_MAX_DELAY_MS 500
#define RA_PENDING_MAX 32
/*
 * How often the thread checks that the interface is still the one its socket is bound
 * to, and how long a missing interface or a denied socket waits for the next attempt.
 */
#define RA_CHECK_MS 10000
/* At most one warning about failed sends per this period. */
#define RA_WARN_GAP_MS 60000
#define RA_HOP_LIMIT 255
/* Large enough for a solicitation on a link with jumbo frames. */
#define RA_RECEIVE_MAX 9216
#define NDP_OPTION_SOURCE_LINK_ADDR 1

struct ra_reply {
	struct sockaddr_in6 to;
	int64_t due_ms;
};

struct ddi_ra {
	char interface[IF_NAMESIZE];
	unsigned ifindex;               /* the interface the socket is bound to */
	int fd;                         /* raw ICMPv6 socket, -1 while closed */
	int wake_fd;                    /* eventfd that stops the thread */
	pthread_t thread;
	atomic_bool stop;
	bool opened;                    /* the socket was open at least once */

	struct ra_reply pending[RA_PENDING_MAX];   /* unicast replies to send */
	size_t pending_count;
	int64_t multicast_due_ms;       /* 0: no multicast reply scheduled */
	int64_t last_multicast_ms;

	uint64_t replied;
	uint64_t ignored;               /* invalid messages */
	uint64_t limited;               /* valid ones left without a reply of their own */
	uint64_t send_failures;         /* since the last warning */
	int64_t last_warning_ms;
};

bool
ddi_ra_solicitation_valid(const uint8_t *msg, size_t len, int hop_limit, bool from_unspecified)
{
	size_t off = 8;

	/* RFC 4861, section 6.1.1: hop limit 255, code 0, at least 8 bytes. */
	if (hop_limit != RA_HOP_LIMIT || len < 8 || msg[0] != ND_ROUTER_SOLICIT || msg[1] != 0)
		return false;
	/* Every option has a non-zero length within the message. */
	while (off < len) {
		size_t option_len;

		if (len - off < 2 || msg[off + 1] == 0)
			return false;
		option_len = (size_t)msg[off + 1] * 8;
		if (option_len > len - off)
			return false;
		/* A host without an address has no link-layer address to announce. */
		if (msg[off] == NDP_OPTION_SOURCE_LINK_ADDR && from_unspecified)
			return false;
		off += option_len;
	}
	return true;
}

/* The advertisement: header, then the interface's current MAC when it has one. */
static size_t
advertisement(const struct ddi_ra *ra, uint8_t *out)
{
	struct nd_router_advert header = { 0 };
	struct ifreq ifr = { 0 };

	/* Hop limit, flags, lifetime, reachable and retransmit time all 0: unspecified. */
	header.nd_ra_type = ND_ROUTER_ADVERT;
	memcpy(out, &header, sizeof(header));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ra->interface);
	if (ioctl(ra->fd, SIOCGIFHWADDR, &ifr) < 0)
		return sizeof(header);
	out[sizeof(header)] = NDP_OPTION_SOURCE_LINK_ADDR;
	out[sizeof(header) + 1] = 1;
	memcpy(out + sizeof(header) + 2, ifr.ifr_hwaddr.sa_data, 6);
	return sizeof(header) + 8;
}

static int
set_int(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value));
}

/* Open the socket: bound to the interface, solicitations only, in the all-routers group. */
static int
ra_open(struct ddi_ra *ra)
{
	struct icmp6_filter filter;
	struct ipv6_mreq group = { 0 };
	int fd, r;

	fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMPV6);
	if (fd < 0)
		return -errno;
	ICMP6_FILTER_SETBLOCKALL(&filter);
	ICMP6_FILTER_SETPASS(ND_ROUTER_SOLICIT, &filter);
	group.ipv6mr_interface = if_nametoindex(ra->interface);
	inet_pton(AF_INET6, "ff02::2", &group.ipv6mr_multiaddr);
	if (group.ipv6mr_interface == 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ra->interface, strlen(ra->interface)) < 0 ||
	    setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter)) < 0 ||
	    set_int(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1) < 0 ||
	    set_int(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, RA_HOP_LIMIT) < 0 ||
	    set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, RA_HOP_LIMIT) < 0 ||
	    set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0) < 0 ||
	    set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, (int)group.ipv6mr_interface) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &group, sizeof(group)) < 0) {
		r = group.ipv6mr_interface == 0 ? -ENODEV : -errno;
		close(fd);
		return r;
	}
	ra->ifindex = group.ipv6mr_interface;
	ra->fd = fd;
	ra->opened = true;
	return 0;
}

/* Receive one solicitation; its hop limit comes from the control message. */
static ssize_t
receive(struct ddi_ra *ra, uint8_t *buf, size_t size, struct sockaddr_in6 *from, int *hop_limit)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr msg = {
		.msg_name = from, .msg_namelen = sizeof(*from), .msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	ssize_t n = recvmsg(ra->fd, &msg, 0);

	*hop_limit = -1;
	if (n < 0)
		return n;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)
			memcpy(hop_limit, CMSG_DATA(c), sizeof(*hop_limit));
	/* A truncated solicitation gets no reply. */
	return (msg.msg_flags & MSG_TRUNC) != 0 ? 0 : n;
}

static void
send_failed(struct ddi_ra *ra, const char *to, int error)
{
	int64_t now = ddi_now_ms();

	ra->send_failures++;
	if (ra->last_warning_ms != 0 && now - ra->last_warning_ms < RA_WARN_GAP_MS)
		return;
	log_warning("ddi: router advertisement to %s on %s failed: %s (%" PRIu64 " failed "
		    "sends since the last warning)", to, ra->interface, strerror(error),
		    ra->send_failures);
	ra->send_failures = 0;
	ra->last_warning_ms = now;
}

static void
send_advertisement(struct ddi_ra *ra, const struct sockaddr_in6 *to)
{
	uint8_t out[sizeof(struct nd_router_advert) + 8];
	char text[INET6_ADDRSTRLEN];
	size_t len = advertisement(ra, out);

	inet_ntop(AF_INET6, &to->sin6_addr, text, sizeof(text));
	if (sendto(ra->fd, out, len, 0, (const struct sockaddr *)to, sizeof(*to)) < 0) {
		send_failed(ra, text, errno);
		return;
	}
	ra->replied++;
	log_debug("ddi: sent a router advertisement to=%s interface=%s", text, ra->interface);
}

/* Schedule the reply to a valid solicitation from `from`. */
static void
schedule(struct ddi_ra *ra, const struct sockaddr_in6 *from)
{
	int64_t due = ddi_now_ms() + (int64_t)arc4random_uniform(RA_MAX_DELAY_MS + 1);

	/* Only a link-local source gets a reply of its own (RFC 4861, 6.1.2). */
	if (!IN6_IS_ADDR_LINKLOCAL(&from->sin6_addr)) {
		if (ra->multicast_due_ms != 0) {
			ra->limited++;
			return;
		}
		if (ra->last_multicast_ms != 0 && due < ra->last_multicast_ms + RA_MULTICAST_GAP_MS)
			due = ra->last_multicast_ms + RA_MULTICAST_GAP_MS;
		ra->multicast_due_ms = due;
		return;
	}
	for (size_t i = 0; i < ra->pending_count; i++) {
		if (IN6_ARE_ADDR_EQUAL(&ra->pending[i].to.sin6_addr, &from->sin6_addr)) {
			ra->limited++;
			return;
		}
	}
	if (ra->pending_count == RA_PENDING_MAX) {
		ra->limited++;
		return;
	}
	ra->pending[ra->pending_count].to = *from;
	ra->pending[ra->pending_count].due_ms = due;
	ra->pending_count++;
}

/* Send the replies that are due; return the milliseconds until the next one, or -1. */
static int
send_due(struct ddi_ra *ra)
{
	int64_t now = ddi_now_ms(), next = -1;
	size_t i = 0;

	if (ra->multicast_due_ms != 0 && now >= ra->multicast_due_ms) {
		struct sockaddr_in6 all = { .sin6_family = AF_INET6, .sin6_scope_id = ra->ifindex };

		inet_pton(AF_INET6, "ff02::1", &all.sin6_addr);
		send_advertisement(ra, &all);
		ra->last_multicast_ms = now;
		ra->multicast_due_ms = 0;
	}
	if (ra->multicast_due_ms != 0)
		next = ra->multicast_due_ms - now;
	while (i < ra->pending_count) {
		if (now >= ra->pending[i].due_ms) {
			send_advertisement(ra, &ra->pending[i].to);
			ra->pending[i] = ra->pending[--ra->pending_count];
			continue;
		}
		if (next < 0 || ra->pending[i].due_ms - now < next)
			next = ra->pending[i].due_ms - now;
		i++;
	}
	return (int)next;
}

static void
drain(struct ddi_ra *ra)
{
	static uint8_t buf[RA_RECEIVE_MAX];
	struct sockaddr_in6 from;
	int hop_limit;
	ssize_t n;

	while ((n = receive(ra, buf, sizeof(buf), &from, &hop_limit)) >= 0) {
		if (!ddi_ra_solicitation_valid(buf, (size_t)n, hop_limit,
					       IN6_IS_ADDR_UNSPECIFIED(&from.sin6_addr))) {
			ra->ignored++;
			continue;
		}
		schedule(ra, &from);
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		log_warning("ddi: reading router solicitations on %s failed: %s", ra->interface,
			    strerror(errno));
}

/* Close the socket when the interface is gone or is another one with the same name. */
static void
check_interface(struct ddi_ra *ra)
{
	if (ra->fd < 0 || if_nametoindex(ra->interface) == ra->ifindex)
		return;
	log_info("ddi: interface %s was removed or replaced; reopening the router "
		 "solicitation socket", ra->interface);
	close(ra->fd);
	ra->fd = -1;
	ra->pending_count = 0;
	ra->multicast_due_ms = 0;
}

/* Log a failure to open once until it changes, and the recovery after one. */
static void
report_open(struct ddi_ra *ra, int r, int *last_error)
{
	if (r < 0 && r != *last_error && r == -ENODEV)
		log_warning("ddi: interface %s not found; IPv6 router solicitations get no reply "
			    "until it exists, so iPXE waits about 13 s longer at each boot. Check "
			    "[ddi] interface", ra->interface);
	else if (r < 0 && r != *last_error)
		log_warning("ddi: failed to open the router solicitation socket on %s: %s. "
			    "iPXE then waits about 13 s longer at each boot. Give Outpost "
			    "CAP_NET_RAW, or set [ddi] router_advertisements = false", ra->interface,
			    strerror(-r));
	else if (r == 0 && *last_error != 0)
		log_info("ddi: responding to IPv6 router solicitations on %s", ra->interface);
	*last_error = r;
}

static void *
ra_main(void *arg)
{
	struct ddi_ra *ra = arg;
	int64_t next_check = ddi_now_ms() + RA_CHECK_MS;
	int last_error = 0;

	while (!atomic_load(&ra->stop)) {
		struct pollfd fds[2] = { { .fd = ra->wake_fd, .events = POLLIN } };
		int timeout, due;

		if (ra->fd < 0)
			report_open(ra, ra_open(ra), &last_error);
		due = ra->fd >= 0 ? send_due(ra) : -1;
		timeout = (int)(next_check - ddi_now_ms());
		if (timeout < 0)
			timeout = 0;
		if (due >= 0 && due < timeout)
			timeout = due;
		fds[1].fd = ra->fd;
		fds[1].events = POLLIN;
		if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
			log_err("ddi: router advertisement poll failed: %s", strerror(errno));
			break;
		}
		if (ra->fd >= 0 && (fds[1].revents & POLLIN) != 0)
			drain(ra);
		if (ddi_now_ms() >= next_check) {
			check_interface(ra);
			next_check = ddi_now_ms() + RA_CHECK_MS;
		}
	}
	return NULL;
}

int
ddi_ra_start(const char *interface, struct ddi_ra **ret)
{
	struct ddi_ra *ra = calloc(1, sizeof(*ra));
	int r;

	if (ra == NULL)
		return -ENOMEM;
	snprintf(ra->interface, sizeof(ra->interface), "%s", interface);
	ra->fd = -1;
	ra->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ra->wake_fd < 0) {
		r = -errno;
		free(ra);
		return r;
	}
	/* Open here first, so the usual outcome is logged before the daemon is ready. */
	r = ra_open(ra);
	if (r == 0)
		log_info("ddi: responding to IPv6 router solicitations on %s", interface);
	r = pthread_create(&ra->thread, NULL, ra_main, ra);
	if (r != 0) {
		log_err("ddi: failed to start the router advertisement thread: %s", strerror(r));
		if (ra->fd >= 0)
			close(ra->fd);
		close(ra->wake_fd);
		free(ra);
		return -r;
	}
	*ret = ra;
	return 0;
}

struct ddi_ra *
ddi_ra_stop(struct ddi_ra *ra)
{
	uint64_t one = 1;

	if (ra == NULL)
		return NULL;
	atomic_store(&ra->stop, true);
	if (write(ra->wake_fd, &one, sizeof(one)) < 0)
		log_warning("ddi: failed to wake the router advertisement thread: %s",
			    strerror(errno));
	pthread_join(ra->thread, NULL);
	if (ra->opened)
		log_info("ddi: stopped responding to router solicitations on %s replied=%" PRIu64
			 " ignored=%" PRIu64 " limited=%" PRIu64, ra->interface, ra->replied,
			 ra->ignored, ra->limited);
	if (ra->fd >= 0)
		close(ra->fd);
	close(ra->wake_fd);
	free(ra);
	return NULL;
}
