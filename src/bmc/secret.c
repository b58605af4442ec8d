/* SPDX-License-Identifier: Apache-2.0 */
/*
 * BMC credentials at rest: AES-256-GCM under a key in the state folder, so the store
 * holds only ciphertext and a copy of the database alone reveals no password. Each
 * sealed secret is bound to its BMC by the additional data (the caller's `context`,
 * such as "redfish:10.0.0.5:443:admin"): moved to another row, it no longer opens.
 * The sealed form is text: "v1:" and the base64 of nonce, ciphertext and tag.
 */
#include "bmc/bmc-internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "util/util.h"

#define KEY_FILE "bmc-secret.key"
#define NONCE_SIZE 12
#define TAG_SIZE 16
#define SEALED_PREFIX "v1:"
#define RAW_MAX (NONCE_SIZE + BMC_SECRET_SIZE + TAG_SIZE)

int
bmc_secret_key_load(const char *state_dir, unsigned char key[BMC_KEY_SIZE])
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/" KEY_FILE, state_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return key_file_load(path, key, BMC_KEY_SIZE, "bmc: the credential key",
			     "every enrolled BMC then needs its password again");
}

/* AES-256-GCM over `in` in one direction; returns the output length or -1. */
static int
gcm(bool seal, const unsigned char key[BMC_KEY_SIZE], const unsigned char *nonce,
    const char *context, const unsigned char *in, int len, unsigned char *out,
    unsigned char *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, done = 0, ok;

	ok = ctx != NULL &&
	     EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, seal ? 1 : 0) == 1 &&
	     EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)context,
			      (int)strlen(context)) == 1 &&
	     EVP_CipherUpdate(ctx, out, &n, in, len) == 1 &&
	     (seal || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_SIZE, tag) == 1) &&
	     EVP_CipherFinal_ex(ctx, out + n, &done) == 1 &&
	     (!seal || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_SIZE, tag) == 1);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? n + done : -1;
}

int
bmc_secret_seal(const unsigned char key[BMC_KEY_SIZE], const char *context,
		const char *secret, char *out, size_t size)
{
	unsigned char raw[RAW_MAX];
	size_t len = strlen(secret);
	int n;

	if (len >= BMC_SECRET_SIZE)
		return -E2BIG;
	if (size < BMC_SEALED_SIZE)
		return -ENOSPC;
	if (getrandom(raw, NONCE_SIZE, 0) != NONCE_SIZE)
		return -EIO;
	n = gcm(true, key, raw, context, (const unsigned char *)secret, (int)len,
		raw + NONCE_SIZE, raw + NONCE_SIZE + len);
	if (n != (int)len)
		return -EIO;
	memcpy(out, SEALED_PREFIX, sizeof(SEALED_PREFIX) - 1);
	EVP_EncodeBlock((unsigned char *)out + sizeof(SEALED_PREFIX) - 1, raw,
			(int)(NONCE_SIZE + len + TAG_SIZE));
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

int
bmc_secret_open(const unsigned char key[BMC_KEY_SIZE], const char *context,
		const char *sealed, char *out, size_t size)
{
	unsigned char raw[RAW_MAX + 3];
	size_t text_len = strlen(sealed), pad = 0;
	int n, len;

	if (strncmp(sealed, SEALED_PREFIX, sizeof(SEALED_PREFIX) - 1) != 0)
		return -EINVAL;
	sealed += sizeof(SEALED_PREFIX) - 1;
	text_len -= sizeof(SEALED_PREFIX) - 1;
	if (text_len == 0 || text_len % 4 != 0 || text_len / 4 * 3 > sizeof(raw))
		return -EINVAL;
	n = EVP_DecodeBlock(raw, (const unsigned char *)sealed, (int)text_len);
	/* DecodeBlock counts the padding as data; take it off again. */
	while (pad < 2 && sealed[text_len - 1 - pad] == '=')
		pad++;
	n -= (int)pad;
	len = n - NONCE_SIZE - TAG_SIZE;
	if (n < 0 || len < 0 || (size_t)len >= size || len >= BMC_SECRET_SIZE)
		return -EINVAL;
	if (gcm(false, key, raw, context, raw + NONCE_SIZE, len, (unsigned char *)out,
		raw + NONCE_SIZE + len) != len) {
		explicit_bzero(out, size);
		return -EBADMSG;
	}
	out[len] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
}
