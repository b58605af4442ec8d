/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's orders from the kernel command line: outpost.url, outpost.mode,
 * outpost.token and BOOTIF. The line comes from the iPXE script Outpost rendered and
 * from the profile's extra arguments, so every value is length-checked.
 */
#include "agent/agent.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Copy a word's value after its "key=" into out. */
static int
word_value(const char *word, size_t len, const char *key, char *out, size_t size)
{
	size_t key_len = strlen(key);

	if (len < key_len || memcmp(word, key, key_len) != 0)
		return 0;
	if (len - key_len >= size)
		return -EINVAL;
	memcpy(out, word + key_len, len - key_len);
	out[len - key_len] = '\0';
	return 1;
}

int
agent_cmdline_parse(const char *cmdline, struct agent_config *cfg, char *err, size_t errlen)
{
	static const char *const keys[] = { "outpost.url=", "outpost.mode=", "outpost.token=",
					     "BOOTIF=" };
	char bootif[32] = "";
	const char *p = cmdline;

	char *outs[] = { cfg->url, cfg->mode, cfg->token, bootif };
	size_t sizes[] = { sizeof(cfg->url), sizeof(cfg->mode), sizeof(cfg->token), sizeof(bootif) };

	while (*p != '\0') {
		size_t len;

		p += strspn(p, " \t\n");
		len = strcspn(p, " \t\n");
		if (len == 0)
			break;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (word_value(p, len, keys[i], outs[i], sizes[i]) < 0) {
				snprintf(err, errlen, "%s value is too long", keys[i]);
				return -EINVAL;
			}
		}
		p += len;
	}
	if (cfg->url[0] == '\0' || cfg->token[0] == '\0') {
		snprintf(err, errlen, "the kernel command line lacks outpost.url= or outpost.token=");
		return -EINVAL;
	}
	if (strcmp(cfg->mode, "deploy") != 0 && strcmp(cfg->mode, "discover") != 0) {
		snprintf(err, errlen, "outpost.mode=%s is neither deploy nor discover", cfg->mode);
		return -EINVAL;
	}
	/* BOOTIF=01-52-54-00-12-34-56: hardware type 1 (Ethernet), then the MAC. */
	if (bootif[0] != '\0') {
		if (strlen(bootif) != 20 || strncmp(bootif, "01-", 3) != 0) {
			snprintf(err, errlen, "BOOTIF=%s is not 01- and a MAC with hyphens", bootif);
			return -EINVAL;
		}
		for (size_t i = 0; i < 17; i++)
			cfg->bootif[i] = bootif[3 + i] == '-' ? ':' : bootif[3 + i];
		cfg->bootif[17] = '\0';
	}
	return 0;
}
