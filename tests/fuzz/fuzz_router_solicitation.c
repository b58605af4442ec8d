/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the router solicitation check of the DDI module. The first byte picks the hop
 * limit and whether the source is unspecified; the rest is the ICMPv6 message. An
 * accepted message must meet the checks the reply relies on.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "ddi/ddi-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *msg;
	bool unspecified;
	int hop_limit;
	size_t len;

	if (size < 1)
		return 0;
	hop_limit = (data[0] & 0x80) != 0 ? 255 : data[0];
	unspecified = (data[0] & 0x40) != 0;
	msg = data + 1;
	len = size - 1;
	if (!ddi_ra_solicitation_valid(msg, len, hop_limit, unspecified))
		return 0;
	if (hop_limit != 255 || len < 8 || msg[0] != 133 || msg[1] != 0 || (len - 8) % 8 != 0)
		abort();
	return 0;
}
