/* SPDX-License-Identifier: Apache-2.0 */
/*
 * After the image is written: re-read the partition table so the kernel sees the new
 * partitions, mount the one that holds the installed system and write cloud-init's
 * NoCloud configuration into it, so that its first boot reads the seed from Outpost.
 *
 * The seed is read over the network, so on a network without DHCP (a virtual-media
 * deployment, outpost.ip= on the command line) the installed system needs its static
 * address first. The configuration then carries the deployment's network-config
 * under the `network:` key. cloud-init applies that key from /etc/cloud/cloud.cfg.d
 * in its init-local stage, before any network is up, and it takes precedence over
 * the datasource's network-config ("Network configuration sources" in cloud-init's
 * documentation; Debian 12 ships cloud-init 22.4.2).
 */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEED_FILE "etc/cloud/cloud.cfg.d/99_outpost_seed.cfg"

/* Ask the kernel to re-read the partition table; it is busy for a moment after writes. */
static int
partitions_reread(int fd)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		if (ioctl(fd, BLKRRPART) == 0)
			return 0;
		if (errno != EBUSY)
			return -errno;
		usleep(250000);
	}
	return -EBUSY;
}

/*
 * Open etc/cloud/cloud.cfg.d under the mounted root `dir`, one component at a time
 * with O_NOFOLLOW: the image decides what those paths are, and a symbolic link among
 * them must not lead the write out of the installed system. Returns an fd or -errno.
 */
static int
seed_dir_open(const char *dir)
{
	static const char *const parts[] = { "etc", "cloud", "cloud.cfg.d" };
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), next;

	for (size_t i = 0; fd >= 0 && i < sizeof(parts) / sizeof(parts[0]); i++) {
		next = openat(fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
	}
	if (fd >= 0)
		return fd;
	/* A component that is not a directory, or is a link, means no such directory. */
	if (errno == ENOTDIR || errno == ELOOP)
		return -ENOENT;
	return -errno;
}

int
agent_network_config_check(const char *text, size_t len, char *err, size_t errlen)
{
	if (len > AGENT_NETWORK_CONFIG_MAX) {
		snprintf(err, errlen, "the network-config has %zu bytes, more than %d", len,
			 AGENT_NETWORK_CONFIG_MAX);
		return -EINVAL;
	}
	if (!(len >= 11 && (memcmp(text, "version: 1\n", 11) == 0 ||
			    memcmp(text, "version: 2\n", 11) == 0))) {
		snprintf(err, errlen, "the network-config does not start with \"version: 1\" or "
			 "\"version: 2\"");
		return -EINVAL;
	}
	/* Tabs are rejected with the control bytes, because YAML forbids tabs in indentation. */
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '\n' && (text[i] < 0x20 || text[i] > 0x7e)) {
			snprintf(err, errlen, "the network-config has byte 0x%02x at offset %zu; "
				 "only printable ASCII lines are accepted", (unsigned char)text[i], i);
			return -EINVAL;
		}
	}
	return 0;
}

struct text_sink {
	char *data;                     /* AGENT_NETWORK_CONFIG_MAX + 1 bytes */
	size_t len;
};

static int
text_collect(void *arg, const void *data, size_t len)
{
	struct text_sink *s = arg;

	if (s->len + len > AGENT_NETWORK_CONFIG_MAX)
		return -EFBIG;
	memcpy(s->data + s->len, data, len);
	s->len += len;
	s->data[s->len] = '\0';
	return 0;
}

/*
 * Read the deployment's network-config, seed_url + "network-config", into `out`
 * (AGENT_NETWORK_CONFIG_MAX + 1 bytes) and check it. Connection errors and 5xx are
 * retried, up to 10 attempts 3 s apart, because the appliance may be restarting.
 */
static int
network_config_fetch(const char *seed_url, char *out, char *err, size_t errlen)
{
	struct agent_request rq = { .method = "GET", .timeout_seconds = 30 };
	struct text_sink sink = { .data = out };
	char url[AGENT_URL_MAX], detail[256];
	int status = 0, rc;

	if ((size_t)snprintf(url, sizeof(url), "%snetwork-config", seed_url) >= sizeof(url)) {
		snprintf(err, errlen, "the seed URL is too long");
		return -ENAMETOOLONG;
	}
	rq.url = url;
	for (int attempt = 1;; attempt++) {
		sink.len = 0;
		out[0] = '\0';
		rq.deadline = agent_now() + 60;
		rc = agent_http(&rq, text_collect, &sink, &status, detail, sizeof(detail));
		if ((rc == 0 && status / 100 != 5) || rc == -EFBIG || attempt == 10)
			break;
		agent_log("GET network-config failed (attempt %d of 10): %s", attempt,
			  rc < 0 ? detail : "server error");
		sleep(3);
	}
	if (rc == -EFBIG) {
		snprintf(err, errlen, "the network-config is larger than %d bytes",
			 AGENT_NETWORK_CONFIG_MAX);
		return rc;
	}
	if (rc < 0 || status != 200) {
		snprintf(err, errlen, "cannot read the network-config: %s", rc < 0 ? detail :
			 status / 100 == 5 ? "server error" : "unexpected HTTP status");
		if (rc == 0)
			snprintf(err + strlen(err), errlen - strlen(err), " %d", status);
		return rc < 0 ? rc : -EIO;
	}
	return agent_network_config_check(out, sink.len, err, errlen);
}

/*
 * Render the seed configuration: the NoCloud datasource at seed_url and, when
 * `network` is not NULL, that network-config under the `network:` key, each of its
 * lines indented by two spaces so that all of them stay inside the key. Returns a
 * string to free, or NULL when out of memory.
 */
static char *
seed_render(const char *seed_url, const char *network)
{
	size_t lines = 1, size;
	char *text, *at;
	int n;

	for (const char *c = network; c != NULL && *c != '\0'; c++)
		lines += *c == '\n';
	size = strlen(seed_url) + 1024 + (network != NULL ? strlen(network) + 2 * lines : 0);
	text = malloc(size);
	if (text == NULL)
		return NULL;
	n = snprintf(text, size,
		     "# Written by outpost-agent: cloud-init reads this machine's meta-data,\n"
		     "# user-data and network-config from Outpost.\n"
		     "datasource_list: [ NoCloud, None ]\n"
		     "datasource:\n  NoCloud:\n    seedfrom: %s\n", seed_url);
	if (network == NULL)
		return text;
	at = text + n;
	at += sprintf(at, "# The deployment's static network, applied before the seed is read,\n"
		      "# because the installed system's network has no DHCP.\nnetwork:\n");
	while (*network != '\0') {
		size_t len = strcspn(network, "\n");

		if (len > 0) {
			memcpy(at, "  ", 2);
			memcpy(at + 2, network, len);
			at += len + 2;
		}
		*at++ = '\n';
		network += len;
		if (*network == '\n')
			network++;
	}
	*at = '\0';
	return text;
}

/* Write the seed configuration under the mounted root `dir`, atomically. */
static int
seed_write(const char *dir, const char *seed_url, const char *network)
{
	static const char name[] = "99_outpost_seed.cfg", tmp[] = "99_outpost_seed.cfg.tmp";
	char *text = seed_render(seed_url, network);
	int dfd, fd, rc = 0;

	if (text == NULL)
		return -ENOMEM;
	dfd = seed_dir_open(dir);
	if (dfd < 0) {
		free(text);
		return dfd;
	}
	/* 0600: the URL holds the deployment's token, which only root needs to read. */
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		close(dfd);
		free(text);
		return rc;
	}
	if (pwrite_all(fd, text, strlen(text), 0) < 0 || fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && renameat(dfd, tmp, dfd, name) < 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(dfd, tmp, 0);
	close(dfd);
	free(text);
	return rc;
}

/* Mount the ext4 file system on `dev` at mnt, write the seed if it has cloud-init. */
static int
seed_install(const char *dev, const char *mnt, const char *seed_url, const char *network)
{
	int rc;

	/* EINVAL from mount means the partition holds no ext4 file system. */
	if (mount(dev, mnt, "ext4", MS_NOATIME | MS_NOSUID | MS_NODEV, NULL) < 0)
		return errno == EINVAL ? -EMEDIUMTYPE : -errno;
	rc = seed_write(mnt, seed_url, network);
	if (umount(mnt) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* The partition's device node, waiting up to 5 s for devtmpfs to create it. */
static bool
partition_node(const char *name, unsigned number, char *out, size_t size)
{
	struct stat st;

	for (int tries = 0; tries < 20; tries++) {
		/* sda3 and vda3, but nvme0n1p3 and loop0p3 after a name ending in a digit. */
		snprintf(out, size, "/dev/%s%u", name, number);
		if (stat(out, &st) == 0 && S_ISBLK(st.st_mode))
			return true;
		snprintf(out, size, "/dev/%sp%u", name, number);
		if (stat(out, &st) == 0 && S_ISBLK(st.st_mode))
			return true;
		usleep(250000);
	}
	return false;
}

/*
 * Attach a loop device over the partition's bytes, for a kernel without partition
 * table support or a target that is a plain file. Returns the loop fd or -errno.
 */
static int
loop_attach(int fd, const struct gpt_partition *part, char *dev, size_t size)
{
	struct loop_config config = { .fd = (uint32_t)fd };
	int control, loop, number;

	control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (control < 0)
		return -errno;
	number = ioctl(control, LOOP_CTL_GET_FREE);
	close(control);
	if (number < 0)
		return -errno;
	snprintf(dev, size, "/dev/loop%d", number);
	loop = open(dev, O_RDWR | O_CLOEXEC);
	if (loop < 0)
		return -errno;
	config.info.lo_offset = part->offset;
	config.info.lo_sizelimit = part->size;
	config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	if (ioctl(loop, LOOP_CONFIGURE, &config) < 0) {
		int rc = -errno;

		close(loop);
		return rc;
	}
	return loop;
}

/* Find the installed system on the disk and write the seed configuration into it. */
static int
configure_root(const char *disk, int fd, bool block, const char *seed_url, const char *network,
	       char *note, size_t size)
{
	const char *name = strrchr(disk, '/') != NULL ? strrchr(disk, '/') + 1 : disk;
	char dev[AGENT_PATH_MAX + 16], mnt[] = "/tmp/outpost-root-XXXXXX";
	struct gpt_partition part;
	uint64_t bytes = 0;
	struct stat st;
	int loop = -1, rc;

	if (block ? ioctl(fd, BLKGETSIZE64, &bytes) < 0 : fstat(fd, &st) < 0) {
		snprintf(note, size, "cannot read the size of %s: %s", disk, strerror(errno));
		return -errno;
	}
	if (!block)
		bytes = (uint64_t)st.st_size;
	rc = gpt_find_root(fd, bytes, &part);
	if (rc < 0) {
		snprintf(note, size, "the image on %s has %s", disk, rc == -ENOENT ?
			 "no Linux root or data partition in its GPT" : rc == -EINVAL ?
			 "no valid GPT" : "an unreadable GPT");
		return rc;
	}
	/* The kernel may lack partition table support; then a loop device stands in. */
	if (!block || partitions_reread(fd) < 0 || !partition_node(name, part.number, dev,
								       sizeof(dev))) {
		loop = loop_attach(fd, &part, dev, sizeof(dev));
		if (loop < 0) {
			snprintf(note, size, "partition %u of %s has no device node, and a loop "
				 "device over it failed: %s", part.number, disk, strerror(-loop));
			return loop;
		}
	}
	if (mkdtemp(mnt) == NULL) {
		rc = -errno;
		snprintf(note, size, "cannot make a mount point: %s", strerror(-rc));
	} else {
		rc = seed_install(dev, mnt, seed_url, network);
		rmdir(mnt);
		if (rc == 0)
			snprintf(note, size, "NoCloud seed%s written to /" SEED_FILE " on "
				 "partition %u (%s)", network != NULL ? " and static network" : "",
				 part.number, dev);
		else
			snprintf(note, size, "partition %u of %s (%s): %s", part.number, disk, dev,
				 rc == -ENOENT ? "no /etc/cloud/cloud.cfg.d directory, so the image "
				 "has no cloud-init to configure" : rc == -EMEDIUMTYPE ?
				 "not an ext4 file system; only ext4 roots are configured" :
				 strerror(-rc));
	}
	if (loop >= 0)
		close(loop);
	return rc;
}

int
agent_configure(const struct agent_config *cfg, const char *disk, int fd, bool block,
		const char *seed_url, char *note, size_t size)
{
	char *network = NULL;
	int rc;

	/* Read first, because without it the installed system cannot reach Outpost. */
	if (cfg->static_ip[0] != '\0') {
		network = malloc(AGENT_NETWORK_CONFIG_MAX + 1);
		if (network == NULL) {
			snprintf(note, size, "out of memory");
			return -ENOMEM;
		}
		rc = network_config_fetch(seed_url, network, note, size);
		if (rc < 0) {
			free(network);
			return rc;
		}
	}
	rc = configure_root(disk, fd, block, seed_url, network, note, size);
	free(network);
	return rc;
}
