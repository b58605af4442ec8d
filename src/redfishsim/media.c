/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Virtual media images. Like a BMC, the emulator fetches an HTTP or HTTPS image itself
 * and gives QEMU the local copy, so QEMU needs no network block driver (Debian 12's
 * QEMU has its curl driver in the separate qemu-block-extra package). file:// URLs, for
 * tests, are used in place.
 */
#include "redfishsim/sim.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "log/log.h"
#include "util/util.h"

#define FETCH_CONNECT_TIMEOUT_S 10L
/* A whole image must arrive within this time. */
#define FETCH_TIMEOUT_S 900L
/* Far above a dual-layer DVD (8.5 GB), so a bigger download is a mistake in the URL. */
#define FETCH_MAX_BYTES (16LL * 1024 * 1024 * 1024)

bool
rfsim_media_remote(const char *image)
{
	return strncmp(image, "http://", 7) == 0 || strncmp(image, "https://", 8) == 0;
}

void
rfsim_media_local_path(const struct rfsim *sim, char *out, size_t size)
{
	if (rfsim_media_remote(sim->media_image))
		snprintf(out, size, "%s/media.iso", sim->state_dir);
	else if (strncmp(sim->media_image, "file://", 7) == 0)
		snprintf(out, size, "%s", sim->media_image + 7);
	else
		snprintf(out, size, "%s", sim->media_image);
}

int
rfsim_media_fetch(const char *url, const char *path, char *err, size_t errlen)
{
	char tmp[4200], curl_err[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode code;
	FILE *file;
	CURL *curl;
	int rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.part", path);
	file = fopen(tmp, "we");
	if (file == NULL)
		return err_set(-errno, err, errlen, "cannot create %s: %s", tmp, strerror(errno));
	curl = curl_easy_init();
	if (curl == NULL) {
		fclose(file);
		unlink(tmp);
		return err_set(-ENOMEM, err, errlen, "cannot start a download: out of memory");
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, file);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, FETCH_CONNECT_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, FETCH_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)FETCH_MAX_BYTES);
	code = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	if (fclose(file) != 0 && code == CURLE_OK)
		rc = err_set(-errno, err, errlen, "cannot write %s: %s", tmp, strerror(errno));
	else if (code != CURLE_OK)
		rc = err_set(-EIO, err, errlen, "cannot fetch the image %s: %s", url,
			     curl_err[0] != '\0' ? curl_err : curl_easy_strerror(code));
	else if (status != 200)
		rc = err_set(-EIO, err, errlen, "cannot fetch the image %s: HTTP status %ld; "
			     "check the URL", url, status);
	else if (rename(tmp, path) < 0)
		rc = err_set(-errno, err, errlen, "cannot rename %s to %s: %s", tmp, path,
			     strerror(errno));
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	{
		char shown[RFSIM_URL_LOG_SIZE];

		url_redact(url, shown, sizeof(shown));
		log_info("redfish media fetched image=\"%s\" to %s", shown, path);
	}
	return 0;
}
