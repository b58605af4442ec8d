/* SPDX-License-Identifier: Apache-2.0 */
/* Choosing the target disk, and the small file helpers the deployment shares. */
#include "agent/agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
pwrite_all(int fd, const void *data, size_t len, uint64_t offset)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

/* Read a small sysfs or procfs file as text; "" when unreadable. */
static void
read_small(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, out, size - 1) : -1;

	if (fd >= 0)
		close(fd);
	out[n > 0 ? n : 0] = '\0';
}

double
agent_uptime(void)
{
	char text[64];

	read_small("/proc/uptime", text, sizeof(text));
	return text[0] != '\0' ? strtod(text, NULL) : -1;
}

/* Whole disks only: no loop, RAM, compressed-RAM, mapper, RAID, optical or floppy. */
static bool
disk_candidate(const char *name)
{
	static const char *const skip[] = { "loop", "ram", "zram", "dm-", "md", "sr", "fd" };

	if (name[0] == '.')
		return false;
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (strncmp(name, skip[i], strlen(skip[i])) == 0)
			return false;
	return true;
}

static int
name_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Bytes disk `name` holds if it may be written, else 0. */
static uint64_t
disk_usable_bytes(const char *name)
{
	char path[AGENT_PATH_MAX + 32], text[32];

	snprintf(path, sizeof(path), "/sys/block/%s/removable", name);
	read_small(path, text, sizeof(text));
	if (text[0] == '1')
		return 0;
	snprintf(path, sizeof(path), "/sys/block/%s/ro", name);
	read_small(path, text, sizeof(text));
	if (text[0] == '1')
		return 0;
	snprintf(path, sizeof(path), "/sys/block/%s/size", name);
	read_small(path, text, sizeof(text));
	return strtoull(text, NULL, 10) * 512;
}

int
agent_disk_choose(const struct agent_config *cfg, uint64_t need, char out[AGENT_PATH_MAX],
		  char *err, size_t errlen)
{
	char *names[64], seen[160] = "";
	size_t count = 0, used = 0;
	struct dirent *entry;
	int rc = -ENODEV;
	DIR *dir;

	if (cfg->disk != NULL) {
		snprintf(out, AGENT_PATH_MAX, "%s", cfg->disk);
		return 0;
	}
	dir = opendir("/sys/block");
	if (dir == NULL) {
		snprintf(err, errlen, "cannot list /sys/block: %s", strerror(errno));
		return -ENODEV;
	}
	while ((entry = readdir(dir)) != NULL && count < sizeof(names) / sizeof(names[0]))
		if (disk_candidate(entry->d_name) && strlen(entry->d_name) < 64 &&
		    (names[count] = strdup(entry->d_name)) != NULL)
			count++;
	closedir(dir);
	qsort(names, count, sizeof(names[0]), name_compare);

	for (size_t i = 0; i < count; i++) {
		uint64_t bytes = disk_usable_bytes(names[i]);

		if (rc != 0 && bytes > 0 && bytes >= need) {
			snprintf(out, AGENT_PATH_MAX, "/dev/%s", names[i]);
			rc = 0;
		} else if (rc != 0 && bytes > 0) {
			rc = -ENOSPC;
		}
		if (used < sizeof(seen) - 1)
			used += (size_t)snprintf(seen + used, sizeof(seen) - used, "%s%s (%" PRIu64
						 " bytes)", used > 0 ? ", " : "", names[i], bytes);
		free(names[i]);
	}
	if (rc == -ENODEV)
		snprintf(err, errlen, "no disk found to write the image to (disks seen: %s)",
			 seen[0] != '\0' ? seen : "none");
	else if (rc == -ENOSPC)
		snprintf(err, errlen, "disk too small: the image needs %" PRIu64 " bytes; disks "
			 "seen: %s", need, seen);
	return rc;
}
