/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the bundle manifest parser. Whatever it accepts must satisfy the format's
 * rules (valid name and version, sorted and valid paths). Its canonical dump must
 * parse again into the same dump, because `bundle create` signs that dump and the
 * reader must accept every manifest the writer produces.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_rules(const struct bundle_manifest *m)
{
	if (bundle_name_check(m->name) < 0 || bundle_version_check(m->version) < 0 ||
	    m->file_count == 0 || m->file_count > BUNDLE_FILES_MAX)
		abort();
	for (size_t i = 0; i < m->file_count; i++) {
		if (bundle_path_check(m->files[i].path) < 0)
			abort();
		if (i > 0 && strcmp(m->files[i - 1].path, m->files[i].path) >= 0)
			abort();
		if (bundle_manifest_find(m, m->files[i].path) != &m->files[i])
			abort();
	}
	if (bundle_version_compare(m->version, m->version) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_manifest *m = NULL, *again = NULL;
	char err[BUNDLE_ERR_SIZE] = "";
	char *dump, *dump2;
	size_t len, len2;
	int rc;

	rc = bundle_manifest_parse((const char *)data, size, &m, err, sizeof(err));
	if (rc < 0) {
		/* Every rejection comes with a reason. */
		if (rc != -ENOMEM && err[0] == '\0')
			abort();
		return 0;
	}
	check_rules(m);

	dump = bundle_manifest_dump(m, &len, err, sizeof(err));
	if (dump == NULL)
		abort();
	if (bundle_manifest_parse(dump, len, &again, err, sizeof(err)) < 0)
		abort();
	dump2 = bundle_manifest_dump(again, &len2, err, sizeof(err));
	if (dump2 == NULL || len2 != len || memcmp(dump, dump2, len) != 0)
		abort();
	free(dump2);
	free(dump);
	bundle_manifest_free(again);
	bundle_manifest_free(m);
	return 0;
}
