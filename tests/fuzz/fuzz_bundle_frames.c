/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the seek table of compressed bundles and the framed reading behind it. A table
 * that parses must describe frames that fill the file before it. Then the frames are
 * read whole on one source, and the tar reader walks them with skips from frame to
 * frame. Every failure except a skip that does not land on frames must come with a
 * reason, and a read that ends without one must return the table's count of bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "fuzz_memfd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The table's frames follow one another and end where the table starts. */
static void
frames_check(const struct bundle_frames *f, size_t size)
{
	for (size_t i = 0; i < f->count; i++)
		if (f->in[i + 1] < f->in[i] + 8 || f->out[i + 1] < f->out[i])
			abort();
	if (f->in[f->count] + 8 + f->count * 8 + BUNDLE_FRAMES_FOOTER > size)
		abort();
}

/* Read every frame on a source of its own. */
static void
frames_read_all(int fd, const struct bundle_frames *f)
{
	char err[BUNDLE_ERR_SIZE] = "", buf[4096];
	struct bundle_source *src;
	uint64_t got = 0;
	ssize_t n;

	if (bundle_source_open_frames(fd, f, &src) < 0)
		abort();
	if (bundle_source_range(src, 0, f->out[f->count]) < 0)
		abort();
	while ((n = bundle_source_read(src, buf, sizeof(buf), err, sizeof(err))) > 0)
		got += (uint64_t)n;
	if (n < 0 && err[0] == '\0')
		abort();
	if (n == 0 && got != f->out[f->count])
		abort();
	bundle_source_free(src);
}

/* Walk the entries as the loader's header pass does, skipping data by frames. */
static void
frames_walk(int fd, const struct bundle_frames *f)
{
	char err[BUNDLE_ERR_SIZE] = "";
	struct bundle_source *src = NULL;
	struct tar_reader *tr = NULL;
	struct tar_entry e;
	int rc;

	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	if (bundle_source_open(fd, &src, err, sizeof(err)) < 0)
		return;
	if (bundle_source_frames(src, f) < 0 || tar_reader_new(src, &tr) < 0) {
		bundle_source_free(src);
		return;
	}
	while ((rc = tar_next(tr, &e, err, sizeof(err))) > 0)
		if (bundle_path_check(e.path) < 0)
			abort();
	if (rc < 0 && rc != -ESPIPE && err[0] == '\0')
		abort();
	tar_reader_free(tr);
	bundle_source_free(src);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_frames *f = NULL;
	int fd = fuzz_memfd(data, size);

	if (bundle_frames_read(fd, 0, &f) == 0) {
		frames_check(f, size);
		frames_read_all(fd, f);
		frames_walk(fd, f);
		bundle_frames_free(f);
	}
	close(fd);
	return 0;
}
