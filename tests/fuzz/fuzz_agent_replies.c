/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the deploy agent's parsers of what reaches it from the network and the disk:
 * an HTTP reply head, a URL, the kernel command line and a GPT. The first byte picks
 * the parser, so one corpus covers all four.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "fuzz_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_reply_head head;
	struct agent_config cfg;
	struct agent_url url;
	struct gpt_partition part;
	char err[256], *text;

	if (size == 0 || size > (1u << 20))
		return 0;
	switch (data[0] % 4) {
	case 0:
		agent_reply_head_parse((const char *)data + 1, size - 1, &head);
		break;
	case 1:
	case 2:
		text = fuzz_text_copy(data, size);
		if (text == NULL)
			return 0;
		if (data[0] % 4 == 1) {
			agent_url_parse(text, &url);
		} else {
			memset(&cfg, 0, sizeof(cfg));
			agent_cmdline_parse(text, &cfg, err, sizeof(err));
		}
		free(text);
		break;
	case 3:
		/* A 512-byte header sector, then the entry array. */
		if (size > 513)
			gpt_parse(data + 1, data + 513, size - 513, (uint64_t)1 << 40, &part);
		break;
	}
	return 0;
}
