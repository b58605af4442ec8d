/* SPDX-License-Identifier: Apache-2.0 */
/* The TFTP root: the iPXE binaries that PXE ROMs fetch, copied from the ipxe package. */
#include "ddi/ddi-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log.h"
#include "util/util.h"

/* The files the Kea client classes name; none is larger than a few MiB. */
static const char *const ipxe_files[] = { "undionly.kpxe", "snponly.efi", "ipxe.efi" };
#define IPXE_FILE_MAX (16u << 20)

/*
 * Read a whole regular file under `dir_fd` into *ret, which the caller frees on
 * success. The ipxe package links some files elsewhere, so `follow` allows that for
 * the source, while a link planted in the TFTP root is never followed.
 */
static int
file_read(int dir_fd, const char *name, bool follow, struct buf *ret)
{
	char chunk[65536];
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	buf_init(ret, IPXE_FILE_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 && r == 0)
		r = buf_append(ret, chunk, (size_t)n);
	if (n < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		buf_free(ret);
	return r;
}

/* True when `name` under dir_fd contains exactly `data`. */
static bool
file_same(int dir_fd, const char *name, const struct buf *data)
{
	struct buf have;
	bool same;

	if (file_read(dir_fd, name, false, &have) < 0)
		return false;
	same = have.len == data->len && (have.len == 0 || memcmp(have.data, data->data, have.len) == 0);
	buf_free(&have);
	return same;
}

/* Write data to NAME.tmp, sync it and rename it over NAME. */
static int
file_replace(int dir_fd, const char *name, const struct buf *data)
{
	char tmp[64];
	int fd, r;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	unlinkat(dir_fd, tmp, 0);
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data->data, data->len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dir_fd, tmp, 0);
	return r;
}

int
ddi_tftp_fill(const char *ipxe_dir, const char *root)
{
	int src = -1, dst = -1, r = 0, copied = 0;

	if (mkdir(root, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		log_err("tftp: failed to create [tftp] root %s: %s; create its parent folder or "
			"change the key", root, strerror(errno));
		return r;
	}
	src = open(ipxe_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dst = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (src < 0 || dst < 0) {
		r = -errno;
		log_err("tftp: failed to open [tftp] %s %s: %s; check the key, and for ipxe_dir "
			"install Debian's ipxe package", src < 0 ? "ipxe_dir" : "root",
			src < 0 ? ipxe_dir : root, strerror(errno));
		goto done;
	}

	for (size_t i = 0; i < sizeof(ipxe_files) / sizeof(ipxe_files[0]) && r == 0; i++) {
		struct buf data;

		r = file_read(src, ipxe_files[i], true, &data);
		if (r < 0) {
			log_err("tftp: failed to read %s/%s: %s; install Debian's ipxe package",
				ipxe_dir, ipxe_files[i], strerror(-r));
			break;
		}
		if (!file_same(dst, ipxe_files[i], &data)) {
			r = file_replace(dst, ipxe_files[i], &data);
			if (r < 0)
				log_err("tftp: failed to write %s/%s: %s", root, ipxe_files[i],
					strerror(-r));
			else
				copied++;
		}
		buf_free(&data);
	}
	if (r == 0)
		log_info("tftp root ready root=%s copied=%d", root, copied);
done:
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	return r;
}
