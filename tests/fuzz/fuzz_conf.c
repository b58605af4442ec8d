/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the configuration parser with arbitrary file contents. */
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf conf;
	char err[256];

	if (size > CONF_MAX_FILE_BYTES)
		return 0;
	if (conf_defaults(&conf) < 0)
		return 0;
	conf_parse(&conf, (const char *)data, size, err, sizeof(err));
	conf_free(&conf);
	return 0;
}
