/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the template engine: compile arbitrary bytes and, when they compile, render them
 * with a few variables into a bounded buffer. A compile error must name a byte offset
 * inside the input; a render may only fail with -E2BIG, leaving the buffer empty.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"

/* Small ceiling, so long inputs also reach the render's overflow path. */
#define FUZZ_RENDER_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct template_var fuzz_vars[] = {
	{ "mac", "52:54:00:ab:cd:ef" },
	{ "base_url", "http://10.0.0.1:8080" },
	{ "reason", "invalid mac parameter: ???" },
	{ "empty", "" },
	{ "none", NULL },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct template *t = NULL;
	char err[128] = "";
	struct buf out;
	int rc;

	if (size > TEMPLATE_MAX_BYTES)
		return 0;

	rc = template_compile((const char *)data, size, &t, err, sizeof(err));
	if (rc == -EINVAL) {
		const char *at = strstr(err, "at byte ");

		if (t != NULL || at == NULL || strtoull(at + 8, NULL, 10) >= size)
			abort();
		return 0;
	}
	if (rc != 0)
		return 0;

	buf_init(&out, FUZZ_RENDER_MAX);
	rc = template_render(t, fuzz_vars, sizeof(fuzz_vars) / sizeof(fuzz_vars[0]), &out);
	if (rc != 0 && (rc != -E2BIG || out.len != 0))
		abort();
	if (rc == 0 && out.data != NULL && strlen(out.data) != out.len)
		abort();

	buf_free(&out);
	template_free(t);
	return 0;
}
