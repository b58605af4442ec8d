/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz what virtual-media deployments parse or build from outside values. These are
 * the name under /media/ (from any HTTP client), the kernel command line of an ISO
 * (from the profile's cmdline and [deploy] console), and the network-config the agent
 * writes into the installed system (from the boot listener). The first byte picks
 * the target, so one corpus covers all three.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "fuzz_text.h"
#include "media/media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* The command line with the input as the profile's words and, after a NUL, the console. */
static void
cmdline_fuzz(const char *text, size_t len)
{
	struct deploy_network net = { .address = "10.20.0.5", .prefix = 24,
				      .gateway = "10.20.0.1", .dns = { "10.20.0.2" },
				      .dns_count = 1, .domain = "" };
	size_t extra_len = strlen(text);
	struct media_cmdline in = { .base_url = "http://10.20.0.1:8080", .token = "d1-00",
				    .mac = "52:54:00:ab:cd:ef", .net = &net, .extra = text,
				    .console = extra_len < len ? text + extra_len + 1 : "" };
	char out[MEDIA_CMDLINE_MAX + 1], err[256];

	if (media_cmdline_build(&in, out, sizeof(out), err, sizeof(err)) == 0 &&
	    (strlen(out) > MEDIA_CMDLINE_MAX || strchr(out, '\'') != NULL))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char token[DEPLOY_TOKEN_SIZE], err[256], *text;

	if (size == 0 || size > (1u << 20))
		return 0;
	text = fuzz_text_copy(data, size);
	if (text == NULL)
		return 0;
	switch (data[0] % 3) {
	case 0:
		/* An accepted name is a token and ".iso"; the token has no path character. */
		if (media_name_parse(text, token) == 0 &&
		    (strchr(token, '/') != NULL || strchr(token, '.') != NULL))
			abort();
		break;
	case 1:
		agent_network_config_check(text, size - 1, err, sizeof(err));
		break;
	case 2:
		cmdline_fuzz(text, size - 1);
		break;
	}
	free(text);
	return 0;
}
