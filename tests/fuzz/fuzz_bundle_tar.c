/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the bundle archive reader: the zstd source and the strict tar reader over
 * arbitrary bytes, then the whole walk with an empty keyring. Every entry the reader
 * returns must have a valid path and exactly its announced size of data, and every
 * rejection must come with a reason.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "fuzz_memfd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read every entry; returns the reader's final status. */
static int
read_entries(int fd)
{
	char err[BUNDLE_ERR_SIZE] = "", buf[4096];
	struct bundle_source *src = NULL;
	struct tar_reader *tr = NULL;
	struct tar_entry e;
	int rc;

	rc = bundle_source_open(fd, &src, err, sizeof(err));
	if (rc < 0)
		return rc;
	if (tar_reader_new(src, &tr) < 0)
		abort();
	while ((rc = tar_next(tr, &e, err, sizeof(err))) > 0) {
		uint64_t got = 0;
		ssize_t n;

		if (bundle_path_check(e.path) < 0)
			abort();
		/* Read some entries whole and skip others, so both paths run. */
		if (e.size % 2 == 1)
			continue;
		while ((n = tar_read(tr, buf, sizeof(buf), err, sizeof(err))) > 0)
			got += (uint64_t)n;
		if (n == 0 && got != e.size)
			abort();
		if (n < 0) {
			rc = (int)n;
			break;
		}
	}
	if (rc < 0 && err[0] == '\0')
		abort();
	tar_reader_free(tr);
	bundle_source_free(src);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[BUNDLE_ERR_SIZE] = "";
	struct bundle_keyring *ring;
	struct bundle_manifest *m = NULL;
	int fd, rc;

	fd = fuzz_memfd(data, size);
	read_entries(fd);

	/* No key is trusted, so the walk must stop by the signature at the latest. */
	if (lseek(fd, 0, SEEK_SET) != 0 || bundle_keyring_new(false, &ring) < 0)
		abort();
	rc = bundle_walk(fd, ring, NULL, &m, err, sizeof(err));
	if (rc == 0 || err[0] == '\0')
		abort();
	bundle_keyring_free(ring);
	close(fd);
	return 0;
}
