/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the parsers of what Kea and PowerDNS send back and of lease event datagrams.
 * The first byte picks the parser, so one corpus covers all three.
 */
#include <stddef.h>
#include <stdint.h>

#include "ddi/ddi-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ddi_records records = { 0 };
	struct kea_reply reply;
	struct ddi_event event;
	char err[256];

	if (size == 0 || size > (1u << 20))
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (kea_reply_parse((const char *)data + 1, size - 1, &reply, err, sizeof(err)) == 0)
			kea_reply_clear(&reply);
		break;
	case 1:
		ddi_pdns_zone_parse((const char *)data + 1, size - 1, 0, &records, err, sizeof(err));
		ddi_records_free(&records);
		break;
	case 2:
		ddi_event_parse((const char *)data + 1, size - 1, &event);
		break;
	}
	return 0;
}
