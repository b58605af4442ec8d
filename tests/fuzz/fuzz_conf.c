/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the configuration parser with arbitrary file contents, then the DDI settings
 * check over whatever parsed.
 */
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "ddi/ddi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ddi_settings settings;
	struct conf conf;
	char err[256];

	if (size > CONF_MAX_FILE_BYTES)
		return 0;
	if (conf_defaults(&conf) < 0)
		return 0;
	if (conf_parse(&conf, (const char *)data, size, err, sizeof(err)) == 0)
		ddi_settings_parse(&conf, &settings, err, sizeof(err));
	conf_free(&conf);
	return 0;
}
