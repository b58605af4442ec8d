/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ed25519 keys for bundles, over OpenSSL: key pairs written as PEM, the key id, signing
 * and a keyring of trusted public keys that verifies manifest signatures.
 */
#include "bundle/bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

/* Largest key file read, in bytes: a PEM Ed25519 key is about 120. */
#define KEY_FILE_MAX (16 * 1024)
#define RAW_KEY_BYTES 32
#define TEST_MARK "outpost-test-key"
#define TEST_BANNER \
	TEST_MARK ": this key is for tests only. Never put it in a trusted-keys directory.\n"

struct trusted_key {
	char id[BUNDLE_KEY_ID_SIZE];
	EVP_PKEY *key;               /* owned */
};

struct bundle_keyring {
	bool allow_test_keys;
	size_t count;
	size_t cap;
	struct trusted_key *keys;    /* owned */
};

/* The id of an Ed25519 key: the first 16 bytes of SHA-256 of its raw public key. */
static int
key_id(EVP_PKEY *key, char id[BUNDLE_KEY_ID_SIZE])
{
	unsigned char raw[RAW_KEY_BYTES], digest[32];
	size_t len = sizeof(raw);
	unsigned int dlen = sizeof(digest);

	if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != RAW_KEY_BYTES)
		return -EINVAL;
	if (EVP_Digest(raw, len, digest, &dlen, EVP_sha256(), NULL) != 1)
		return -EIO;
	hex_encode(digest, (BUNDLE_KEY_ID_SIZE - 1) / 2, id);
	return 0;
}

/* Write `len` bytes to a new file; never replaces an existing one. */
static int
file_create(const char *path, mode_t mode, const char *data, size_t len, char *err,
	    size_t errlen)
{
	int rc = file_write_new(path, mode, data, len);

	if (rc == -EEXIST)
		return err_set(rc, err, errlen, "cannot create %s: it exists; remove it or "
			       "choose another name", path);
	if (rc < 0)
		return err_set(rc, err, errlen, "cannot write %s: %s", path, strerror(-rc));
	return 0;
}

/* PEM text of a key from a PEM_write_bio_* function, with the test banner first. */
static char *
pem_text(EVP_PKEY *key, bool private, bool test_only, size_t *ret_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *text = NULL;
	long len;
	int ok;

	if (bio == NULL)
		return NULL;
	if (test_only)
		BIO_puts(bio, TEST_BANNER);
	ok = private ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
		     : PEM_write_bio_PUBKEY(bio, key);
	len = BIO_get_mem_data(bio, &data);
	if (ok == 1 && len > 0) {
		text = malloc((size_t)len);
		if (text != NULL) {
			memcpy(text, data, (size_t)len);
			*ret_len = (size_t)len;
		}
	}
	BIO_free(bio);
	return text;
}

int
bundle_keygen(const char *prefix, bool test_only, char id[BUNDLE_KEY_ID_SIZE], char *err,
	      size_t errlen)
{
	char key_path[4096], pub_path[4096];
	char *priv_pem = NULL, *pub_pem = NULL;
	size_t priv_len = 0, pub_len = 0;
	EVP_PKEY *key;
	int rc;

	if (snprintf(key_path, sizeof(key_path), "%s.key", prefix) >= (int)sizeof(key_path) ||
	    snprintf(pub_path, sizeof(pub_path), "%s.pub", prefix) >= (int)sizeof(pub_path))
		return err_set(-ENAMETOOLONG, err, errlen, "key path %s is too long", prefix);

	key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (key == NULL)
		return err_set(-EIO, err, errlen, "OpenSSL could not generate an Ed25519 key");
	rc = key_id(key, id);
	if (rc == 0) {
		priv_pem = pem_text(key, true, test_only, &priv_len);
		pub_pem = pem_text(key, false, test_only, &pub_len);
		if (priv_pem == NULL || pub_pem == NULL)
			rc = err_set(-ENOMEM, err, errlen, "out of memory writing the key");
	}
	EVP_PKEY_free(key);

	/* The private key first: a public key without it would be useless. */
	if (rc == 0)
		rc = file_create(key_path, 0600, priv_pem, priv_len, err, errlen);
	if (rc == 0) {
		rc = file_create(pub_path, 0644, pub_pem, pub_len, err, errlen);
		if (rc < 0)
			unlink(key_path);
	}
	if (priv_pem != NULL)
		OPENSSL_cleanse(priv_pem, priv_len);
	free(priv_pem);
	free(pub_pem);
	return rc;
}

/* Read a whole key file of at most KEY_FILE_MAX bytes, NUL-terminated. */
static int
key_file_read(const char *path, char **ret, size_t *ret_len, char *err, size_t errlen)
{
	struct buf text;
	char chunk[4096];
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		return err_set(rc, err, errlen, "cannot open key file %s: %s", path,
			       strerror(-rc));
	}
	buf_init(&text, KEY_FILE_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(-errno, err, errlen, "cannot read key file %s: %s", path,
				     strerror(errno));
			break;
		}
		rc = buf_append(&text, chunk, (size_t)n);
		if (rc < 0) {
			rc = err_set(rc, err, errlen, "key file %s is larger than %d bytes; it "
				     "is not a key", path, KEY_FILE_MAX);
			break;
		}
	}
	close(fd);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	if (rc < 0) {
		if (text.data != NULL)
			OPENSSL_cleanse(text.data, text.len);
		buf_free(&text);
		return rc;
	}
	*ret_len = text.len;
	*ret = buf_steal(&text);
	return *ret != NULL ? 0 : -ENOMEM;
}

/* Parse a PEM key of either kind and check that it is Ed25519. */
static int
key_parse(const char *path, const char *text, size_t len, bool private, EVP_PKEY **ret,
	  char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(text, (int)len);
	EVP_PKEY *key;

	if (bio == NULL)
		return -ENOMEM;
	key = private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
		      : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (key == NULL)
		return err_set(-EINVAL, err, errlen, "%s holds no PEM %s key", path,
			       private ? "private" : "public");
	if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(key);
		return err_set(-EINVAL, err, errlen, "%s is not an Ed25519 key; make one with "
			       "outpost bundle keygen", path);
	}
	*ret = key;
	return 0;
}

int
bundle_key_load_private(const char *path, EVP_PKEY **ret, char id[BUNDLE_KEY_ID_SIZE],
			char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc;

	rc = key_file_read(path, &text, &len, err, errlen);
	if (rc < 0)
		return rc;
	rc = key_parse(path, text, len, true, ret, err, errlen);
	OPENSSL_cleanse(text, len);
	free(text);
	if (rc == 0 && key_id(*ret, id) < 0) {
		EVP_PKEY_free(*ret);
		return err_set(-EINVAL, err, errlen, "cannot read the public half of %s", path);
	}
	return rc;
}

int
bundle_sign(EVP_PKEY *key, const void *data, size_t len, unsigned char sig[BUNDLE_SIG_BYTES],
	    char *err, size_t errlen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t sig_len = BUNDLE_SIG_BYTES;
	int ok;

	if (ctx == NULL)
		return -ENOMEM;
	ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
	     EVP_DigestSign(ctx, sig, &sig_len, data, len) == 1 && sig_len == BUNDLE_SIG_BYTES;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : err_set(-EIO, err, errlen, "OpenSSL could not sign the manifest");
}

int
bundle_keyring_new(bool allow_test_keys, struct bundle_keyring **ret)
{
	struct bundle_keyring *ring = calloc(1, sizeof(*ring));

	if (ring == NULL)
		return -ENOMEM;
	ring->allow_test_keys = allow_test_keys;
	*ret = ring;
	return 0;
}

static const struct trusted_key *
keyring_find(const struct bundle_keyring *ring, const char *id)
{
	for (size_t i = 0; i < ring->count; i++)
		if (strcmp(ring->keys[i].id, id) == 0)
			return &ring->keys[i];
	return NULL;
}

int
bundle_keyring_add_file(struct bundle_keyring *ring, const char *path, char *err,
			size_t errlen)
{
	struct trusted_key tk;
	char *text;
	size_t len;
	int rc;

	rc = key_file_read(path, &text, &len, err, errlen);
	if (rc < 0)
		return rc;
	if (!ring->allow_test_keys && strstr(text, TEST_MARK) != NULL) {
		free(text);
		return err_set(-EPERM, err, errlen, "%s is a test key (it carries the %s "
			       "mark), and a site trusts only its own keys. On a test system, "
			       "pass --allow-test-keys or set [bundle] allow_test_keys = true",
			       path, TEST_MARK);
	}
	rc = key_parse(path, text, len, false, &tk.key, err, errlen);
	free(text);
	if (rc < 0)
		return rc;
	if (key_id(tk.key, tk.id) < 0) {
		EVP_PKEY_free(tk.key);
		return err_set(-EINVAL, err, errlen, "cannot read the public key in %s", path);
	}

	/* The same key in two files is trusted once. */
	if (keyring_find(ring, tk.id) != NULL) {
		EVP_PKEY_free(tk.key);
		return 0;
	}
	if (ring->count == ring->cap) {
		size_t cap = ring->cap != 0 ? ring->cap * 2 : 4;
		struct trusted_key *keys = reallocarray(ring->keys, cap, sizeof(*keys));

		if (keys == NULL) {
			EVP_PKEY_free(tk.key);
			return -ENOMEM;
		}
		ring->keys = keys;
		ring->cap = cap;
	}
	ring->keys[ring->count++] = tk;
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
bundle_keyring_add_dir(struct bundle_keyring *ring, const char *dir, char *err, size_t errlen)
{
	char **names = NULL, path[4096];
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	d = opendir(dir);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		return err_set(rc, err, errlen, "cannot open the trusted keys directory %s: %s",
			       dir, strerror(-rc));
	}
	/* Sorted, so the first bad file named is the same on every run. */
	while (rc == 0 && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 5 ||
		    strcmp(de->d_name + len - 4, ".pub") != 0)
			continue;
		if (count == cap) {
			char **grown = reallocarray(names, cap ? cap * 2 : 8, sizeof(*names));

			if (grown == NULL) {
				rc = -ENOMEM;
				break;
			}
			names = grown;
			cap = cap ? cap * 2 : 8;
		}
		names[count] = strdup(de->d_name);
		if (names[count] == NULL)
			rc = -ENOMEM;
		else
			count++;
	}
	closedir(d);
	if (count > 0)
		qsort(names, count, sizeof(*names), name_cmp);
	for (size_t i = 0; i < count; i++) {
		if (rc == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			rc = bundle_keyring_add_file(ring, path, err, errlen);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

size_t
bundle_keyring_count(const struct bundle_keyring *ring)
{
	return ring->count;
}

int
bundle_keyring_verify(const struct bundle_keyring *ring, const char *id, const void *data,
		      size_t len, const unsigned char *sig, size_t sig_len, char *err,
		      size_t errlen)
{
	const struct trusted_key *tk = keyring_find(ring, id);
	EVP_MD_CTX *ctx;
	int ok;

	if (tk == NULL)
		return err_set(-ENOKEY, err, errlen, "manifest.sig: the bundle is signed by "
			       "key %s, which this site does not trust; add its public key to "
			       "the trusted keys directory if it should", id);
	if (sig_len != BUNDLE_SIG_BYTES)
		return err_set(-EBADMSG, err, errlen, "manifest.sig: %zu bytes, an Ed25519 "
			       "signature is %d", sig_len, BUNDLE_SIG_BYTES);
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -ENOMEM;
	ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, tk->key) == 1 &&
	     EVP_DigestVerify(ctx, sig, sig_len, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return err_set(-EBADMSG, err, errlen, "manifest.sig: the signature does not "
			       "match the manifest for key %s; the bundle was altered or "
			       "signed by another key", id);
	return 0;
}

struct bundle_keyring *
bundle_keyring_free(struct bundle_keyring *ring)
{
	if (ring == NULL)
		return NULL;
	for (size_t i = 0; i < ring->count; i++)
		EVP_PKEY_free(ring->keys[i].key);
	free(ring->keys);
	free(ring);
	return NULL;
}
