/* SPDX-License-Identifier: Apache-2.0 */
/*
 * After the image is written: re-read the partition table so the kernel sees the new
 * partitions, mount the one that holds the installed system and write cloud-init's
 * NoCloud configuration into it, so that its first boot reads the seed from Outpost.
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

/* Write the seed configuration under the mounted root `dir`, atomically. */
static int
seed_write(const char *dir, const char *seed_url)
{
	static const char name[] = "99_outpost_seed.cfg", tmp[] = "99_outpost_seed.cfg.tmp";
	char text[AGENT_URL_MAX + 512];
	int dfd, fd, n, rc = 0;

	n = snprintf(text, sizeof(text),
		     "# Written by outpost-agent: cloud-init reads this machine's meta-data,\n"
		     "# user-data and network-config from Outpost.\n"
		     "datasource_list: [ NoCloud, None ]\n"
		     "datasource:\n  NoCloud:\n    seedfrom: %s\n", seed_url);
	dfd = seed_dir_open(dir);
	if (dfd < 0)
		return dfd;
	/* 0600: the URL holds the deployment's token, which only root needs to read. */
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	if (pwrite_all(fd, text, (size_t)n, 0) < 0 || fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && renameat(dfd, tmp, dfd, name) < 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(dfd, tmp, 0);
	close(dfd);
	return rc;
}

/* Mount the ext4 file system on `dev` at mnt, write the seed if it has cloud-init. */
static int
seed_install(const char *dev, const char *mnt, const char *seed_url)
{
	int rc;

	/* EINVAL from mount means the partition holds no ext4 file system. */
	if (mount(dev, mnt, "ext4", MS_NOATIME | MS_NOSUID | MS_NODEV, NULL) < 0)
		return errno == EINVAL ? -EMEDIUMTYPE : -errno;
	rc = seed_write(mnt, seed_url);
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

int
agent_configure(const struct agent_config *cfg, const char *disk, int fd, bool block,
		const char *seed_url, char *note, size_t size)
{
	const char *name = strrchr(disk, '/') != NULL ? strrchr(disk, '/') + 1 : disk;
	char dev[AGENT_PATH_MAX + 16], mnt[] = "/tmp/outpost-root-XXXXXX";
	struct gpt_partition part;
	uint64_t bytes = 0;
	struct stat st;
	int loop = -1, rc;

	(void)cfg;
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
		rc = seed_install(dev, mnt, seed_url);
		rmdir(mnt);
		if (rc == 0)
			snprintf(note, size, "NoCloud seed written to /" SEED_FILE " on partition %u "
				 "(%s)", part.number, dev);
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
