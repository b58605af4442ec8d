/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Deploy tokens: "d12-<hex>" or "m7-<hex>", the HMAC-SHA256 of the kind and id under
 * a 32-byte key that lives in the state folder. Deriving tokens instead of storing
 * them keeps no secret in the database and lets a restarted daemon accept the tokens
 * it handed out before.
 */
#include "deploy/deploy-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log/log.h"
#include "util/util.h"

#define KEY_FILE "deploy-token.key"

int
deploy_key_load(const char *state_dir, unsigned char key[DEPLOY_KEY_SIZE])
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/" KEY_FILE, state_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return key_file_load(path, key, DEPLOY_KEY_SIZE, "deploy: the token key",
			     "tokens of running deployments then stop working");
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
