/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deploy tokens: "d12-<hex>" or "m7-<hex>", the HMAC-SHA256 of the kind and id under
 * a 32-byte key that lives in the state folder. Deriving tokens instead of storing
 * them keeps no secret in the database and lets a restarted daemon accept the tokens
 * it handed out before.
 */
#include "deploy/deploy-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log/log.h"

#define KEY_FILE "deploy-token.key"

/* Read exactly DEPLOY_KEY_SIZE bytes from `path`. Returns 0, -ENOENT or an error. */
static int
key_read(const char *path, unsigned char key[DEPLOY_KEY_SIZE])
{
	struct stat info;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &info) < 0 || !S_ISREG(info.st_mode) || info.st_size != DEPLOY_KEY_SIZE) {
		log_err("deploy: %s is not a regular file of %d bytes; remove it and restart to "
			"make a new key (tokens of running deployments then stop working)",
			path, DEPLOY_KEY_SIZE);
		rc = -EINVAL;
	} else if ((info.st_mode & 077) != 0) {
		log_err("deploy: %s has mode %03o, so other users can read the token key; "
			"run chmod 600 on it", path, (unsigned)(info.st_mode & 0777));
		rc = -EPERM;
	} else if ((n = read(fd, key, DEPLOY_KEY_SIZE)) != DEPLOY_KEY_SIZE) {
		rc = n < 0 ? -errno : -EIO;
		log_err("deploy: cannot read %s: %s", path, strerror(-rc));
	}
	close(fd);
	return rc;
}

/* Write a new random key to `path` through a temporary file, so a crash leaves none. */
static int
key_create(const char *path, unsigned char key[DEPLOY_KEY_SIZE])
{
	char tmp[PATH_MAX];
	int fd, rc = 0;

	if (getrandom(key, DEPLOY_KEY_SIZE, 0) != DEPLOY_KEY_SIZE)
		return -EIO;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, key, DEPLOY_KEY_SIZE) != DEPLOY_KEY_SIZE || fsync(fd) < 0)
		rc = errno != 0 ? -errno : -EIO;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int
deploy_key_load(const char *state_dir, unsigned char key[DEPLOY_KEY_SIZE])
{
	char path[PATH_MAX];
	int rc;

	if (snprintf(path, sizeof(path), "%s/" KEY_FILE, state_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	rc = key_read(path, key);
	if (rc == -ELOOP)
		log_err("deploy: %s is a symbolic link; the token key must be a regular file",
			path);
	else if (rc < 0 && rc != -ENOENT && rc != -EINVAL && rc != -EPERM && rc != -EIO)
		log_err("deploy: cannot open %s: %s", path, strerror(-rc));
	if (rc != -ENOENT)
		return rc;
	rc = key_create(path, key);
	if (rc < 0)
		log_err("deploy: cannot create the token key %s: %s", path, strerror(-rc));
	else
		log_info("deploy: created the token key %s", path);
	return rc;
}

/* The hex HMAC of "KIND:ID" into out (65 bytes). */
static void
token_mac(const unsigned char key[DEPLOY_KEY_SIZE], char kind, int64_t id, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char msg[32];
	int n;

	n = snprintf(msg, sizeof(msg), "%c:%" PRId64, kind, id);
	HMAC(EVP_sha256(), key, DEPLOY_KEY_SIZE, (const unsigned char *)msg, (size_t)n, mac, &len);
	for (unsigned int i = 0; i < 32 && i < len; i++) {
		out[2 * i] = digits[mac[i] >> 4];
		out[2 * i + 1] = digits[mac[i] & 15];
	}
	out[64] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
}

void
deploy_token(const struct deploy *dp, char kind, int64_t id, char out[DEPLOY_TOKEN_SIZE])
{
	char mac[65];

	token_mac(dp->key, kind, id, mac);
	snprintf(out, DEPLOY_TOKEN_SIZE, "%c%" PRId64 "-%s", kind, id, mac);
	OPENSSL_cleanse(mac, sizeof(mac));
}

int
deploy_token_check(const struct deploy *dp, const char *token, char *ret_kind, int64_t *ret_id)
{
	const char *p = token;
	char expected[65];
	int64_t id = 0;
	size_t digits = 0;
	int diff;

	if (token == NULL || (p[0] != 'd' && p[0] != 'm'))
		return -EACCES;
	for (p++; *p >= '0' && *p <= '9' && digits < 18; p++, digits++)
		id = id * 10 + (*p - '0');
	if (digits == 0 || token[1] == '0' || *p != '-' || strlen(p + 1) != 64)
		return -EACCES;

	token_mac(dp->key, token[0], id, expected);
	diff = CRYPTO_memcmp(expected, p + 1, 64);
	OPENSSL_cleanse(expected, sizeof(expected));
	if (diff != 0)
		return -EACCES;
	*ret_kind = token[0];
	*ret_id = id;
	return 0;
}
