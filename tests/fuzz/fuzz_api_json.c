/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the API's request body validators: arbitrary bytes go through the machine
 * create and PATCH decoders and the profile create and PATCH decoders. Each must
 * accept or reject without crashing or leaking. An accepted machine body must hold only
 * canonical values, and an accepted profile body only artifact references the boot
 * listener serves and a kernel command line iPXE cannot run as a command.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs are cut to this size, because past the 64 KiB object cap size changes nothing. */
#define FUZZ_MAX_BYTES (256 * 1024)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct api_machine_patch machine;
	struct api_profile_patch profile;
	struct api_error e;

	if (size > FUZZ_MAX_BYTES)
		size = FUZZ_MAX_BYTES;

	for (int create = 0; create <= 1; create++) {
		if (api_machine_body_parse(body, size, create, &machine, &e) == 0) {
			char mac[MAC_TEXT_SIZE];

			/* Accepted MACs are canonical, so parsing them again is the identity. */
			for (size_t i = 0; i < machine.mac_count; i++) {
				if (mac_parse(machine.macs[i], mac) < 0 ||
				    strcmp(mac, machine.macs[i]) != 0)
					abort();
			}
			if (create && machine.mac_count == 0)
				abort();

			/* IPv4-mapped IPv6 addresses are stored in their IPv4 form. */
			if (strncmp(machine.ip, "::ffff:", 7) == 0 && strchr(machine.ip, '.') != NULL)
				abort();
			api_machine_patch_clear(&machine);
		} else if (e.status < 400 || e.status > 599 || e.code == NULL) {
			abort();
		}

		if (api_profile_body_parse(body, size, create, &profile, &e) == 0) {
			size_t offset;

			if (create && !api_profile_name_valid(profile.name))
				abort();

			/* The image may be cleared; the kernel and initrd may not. */
			if ((profile.fields & API_PF_IMAGE) && profile.image[0] != '\0' &&
			    http_path_check(profile.image) < 0)
				abort();
			if ((profile.fields & API_PF_KERNEL) && http_path_check(profile.kernel) < 0)
				abort();
			if ((profile.fields & API_PF_INITRD) && http_path_check(profile.initrd) < 0)
				abort();
			if (cmdline_check(profile.cmdline, &offset) < 0)
				abort();
			api_profile_patch_clear(&profile);
		} else if (e.status < 400 || e.status > 599 || e.code == NULL) {
			abort();
		}
	}
	return 0;
}
