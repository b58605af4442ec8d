/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by fuzz targets that feed their input to code that reads a file descriptor. */
#ifndef OUTPOST_FUZZ_MEMFD_H
#define OUTPOST_FUZZ_MEMFD_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Return a memory-backed file that contains the input, positioned at its start. */
static inline int
fuzz_memfd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	return fd;
}

#endif
