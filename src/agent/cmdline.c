/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's orders from the kernel command line: outpost.url, outpost.mode,
 * outpost.token, BOOTIF and, on a virtual-media boot, outpost.ip. The line comes from
 * the iPXE script or the ISO Outpost rendered and from the profile's extra arguments,
 * so every value is length-checked.
 */
#include "agent/agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Is `text` ADDRESS/PREFIX with a dotted-quad IPv4 address and a prefix of 1 to 32? */
static bool
static_ip_valid(const char *text)
{
	const char *slash = strchr(text, '/');
	char address[INET_ADDRSTRLEN];
	struct in_addr parsed;
	char *end;
	long prefix;

	if (slash == NULL || (size_t)(slash - text) >= sizeof(address))
		return false;
	memcpy(address, text, (size_t)(slash - text));
	address[slash - text] = '\0';
	/* Digits only: strtol would also take a sign or leading spaces. */
	if (slash[1] < '1' || slash[1] > '9' || strspn(slash + 1, "0123456789") != strlen(slash + 1))
		return false;
	prefix = strtol(slash + 1, &end, 10);
	return *end == '\0' && prefix >= 1 && prefix <= 32 &&
	       inet_pton(AF_INET, address, &parsed) == 1;
}

int
agent_cmdline_parse(const char *cmdline, struct agent_config *cfg, char *err, size_t errlen)
{
	static const char *const keys[] = { "outpost.url=", "outpost.mode=", "outpost.token=",
					     "BOOTIF=", "outpost.ip=" };
	char bootif[32] = "";
	const char *p = cmdline;

	char *outs[] = { cfg->url, cfg->mode, cfg->token, bootif, cfg->static_ip };
	size_t sizes[] = { sizeof(cfg->url), sizeof(cfg->mode), sizeof(cfg->token),
			   sizeof(bootif), sizeof(cfg->static_ip) };

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
	if (cfg->static_ip[0] != '\0' && !static_ip_valid(cfg->static_ip)) {
		snprintf(err, errlen, "outpost.ip=%s is not an IPv4 ADDRESS/PREFIX with a prefix "
			 "of 1 to 32", cfg->static_ip);
		return -EINVAL;
	}
	return 0;
}
