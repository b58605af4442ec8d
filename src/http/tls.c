/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTPS listener's certificate and key. An operator may configure both files;
 * otherwise the first start generates a self-signed P-256 certificate under
 * <state_dir>/tls/ and later starts reuse it, until the caller asks for a name it
 * lacks. The key is written once, with mode 0600, and never replaced; the certificate
 * is replaced atomically.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "log/log.h"
#include "util/util.h"

/* A PEM file larger than this is not a certificate chain or key we can use. */
#define TLS_PEM_MAX_BYTES (1024 * 1024)
/* Ten years, counting the two or three leap days they contain. */
#define TLS_VALID_DAYS 3653
/* Random serial numbers of 16 bytes with the top bit clear (RFC 5280 allows 20). */
#define TLS_SERIAL_BYTES 16

/* Read a whole PEM file into a NUL-terminated string the caller frees. */
static int
pem_read(const char *path, bool secret, char **ret)
{
	char chunk[4096];
	struct buf b;
	struct stat st;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		log_err("http cannot open %s: %s", path, strerror(errno));
		return rc;
	}
	if (secret && fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
		log_warning("http private key %s is readable by group or others (mode %04o), "
			    "chmod 0600 it", path, (unsigned)(st.st_mode & 07777));

	buf_init(&b, TLS_PEM_MAX_BYTES);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			log_err("http cannot read %s: %s", path, strerror(errno));
			goto err_read;
		}
		if (n == 0)
			break;
		rc = buf_append(&b, chunk, (size_t)n);
		if (rc < 0) {
			log_err("http cannot read %s: %s", path,
				rc == -E2BIG ? "larger than 1 MiB" : strerror(-rc));
			goto err_read;
		}
	}
	OPENSSL_cleanse(chunk, sizeof(chunk));
	close(fd);

	if (b.len == 0) {
		log_err("http %s is empty", path);
		buf_free(&b);
		return -EINVAL;
	}
	*ret = buf_steal(&b);
	return 0;

err_read:
	OPENSSL_cleanse(chunk, sizeof(chunk));
	if (b.data != NULL)
		OPENSSL_cleanse(b.data, b.len);
	buf_free(&b);
	close(fd);
	return rc;
}

/*
 * Write `path` through "<path>.tmp" (created with O_EXCL and `mode`, then fsynced)
 * and a rename, so a crash never leaves a partial file. With `keep_existing` an
 * existing `path` wins and -EEXIST is returned.
 */
static int
file_write_atomic(const char *dir, const char *path, const char *data, size_t len,
		  mode_t mode, bool keep_existing)
{
	char tmp[PATH_MAX];
	int fd, dir_fd, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;

	/* A temporary file left by a crash is ours to remove. */
	if (unlink(tmp) < 0 && errno != ENOENT)
		return -errno;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, data, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		goto err_write;

	if (keep_existing)
		rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
	else
		rc = rename(tmp, path);
	if (rc < 0) {
		rc = -errno;
		goto err_write;
	}

	/* Make the rename itself durable. */
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd >= 0) {
		fsync(dir_fd);
		close(dir_fd);
	}
	return 0;

err_write:
	unlink(tmp);
	return rc;
}

/* Write the PEM form of a BIO's contents. Returns 0 or a negative errno. */
static int
bio_write_file(BIO *bio, const char *dir, const char *path, mode_t mode, bool keep_existing)
{
	char *data;
	long len;

	len = BIO_get_mem_data(bio, &data);
	if (len <= 0)
		return -EIO;
	return file_write_atomic(dir, path, data, (size_t)len, mode, keep_existing);
}

/* Generate a P-256 key and write it to `path` with mode 0600, never replacing a file. */
static int
key_create(const char *dir, const char *path)
{
	EVP_PKEY *pkey;
	BIO *bio;
	int rc;

	pkey = EVP_EC_gen("P-256");
	if (pkey == NULL)
		return -EIO;

	/* Secure-heap memory is wiped when freed, so the key leaves no copy behind. */
	bio = BIO_new(BIO_s_secmem());
	if (bio == NULL) {
		rc = -ENOMEM;
		goto err_bio;
	}
	if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		rc = -EIO;
		goto err_pem;
	}
	rc = bio_write_file(bio, dir, path, 0600, true);

err_pem:
	BIO_free(bio);
err_bio:
	EVP_PKEY_free(pkey);
	return rc;
}

static EVP_PKEY *
key_load(const char *path)
{
	EVP_PKEY *pkey;
	FILE *file;

	file = fopen(path, "re");
	if (file == NULL)
		return NULL;
	pkey = PEM_read_PrivateKey(file, NULL, NULL, NULL);
	fclose(file);
	return pkey;
}

static int
cert_add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext;
	int ok;

	ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (ext == NULL)
		return -EIO;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -EIO;
}

/* Set a random positive serial number. */
static int
cert_set_serial(X509 *cert)
{
	unsigned char serial[TLS_SERIAL_BYTES];
	BIGNUM *bn;
	int rc = 0;

	if (RAND_bytes(serial, sizeof(serial)) != 1)
		return -EIO;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL)
		return -ENOMEM;
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL)
		rc = -EIO;
	BN_free(bn);
	return rc;
}

/*
 * Write `name` for a certificate: lower case, without the root's trailing dot. Returns
 * false when it is neither a DNS name nor an IP address.
 */
static bool
name_normalize(const char *name, char out[HOSTNAME_SIZE])
{
	unsigned char addr[sizeof(struct in6_addr)];
	size_t len;

	if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1) {
		snprintf(out, HOSTNAME_SIZE, "%s", name);
		return true;
	}
	if (!hostname_valid(name))
		return false;

	len = strlen(name);
	if (name[len - 1] == '.')
		len--;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[len] = '\0';
	return true;
}

/*
 * Append `name` (a normalised DNS name or IP address) to `names` as a DNS or IP
 * subject alternative name, unless it is there already. Returns 0 or -ENOMEM.
 */
static int
san_add(GENERAL_NAMES *names, const char *name)
{
	unsigned char addr[sizeof(struct in6_addr)];
	ASN1_OCTET_STRING *ip;
	ASN1_IA5STRING *dns;
	GENERAL_NAME *gen;
	int addr_len = 0;

	gen = GENERAL_NAME_new();
	if (gen == NULL)
		return -ENOMEM;

	/* Addresses go in binary form, so "::1" and "0:0::1" are the same entry. */
	if (inet_pton(AF_INET, name, addr) == 1)
		addr_len = 4;
	else if (inet_pton(AF_INET6, name, addr) == 1)
		addr_len = 16;
	if (addr_len > 0) {
		ip = ASN1_OCTET_STRING_new();
		if (ip == NULL || ASN1_OCTET_STRING_set(ip, addr, addr_len) != 1) {
			ASN1_OCTET_STRING_free(ip);
			goto err_value;
		}
		GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
	} else {
		dns = ASN1_IA5STRING_new();
		if (dns == NULL || ASN1_STRING_set(dns, name, -1) != 1) {
			ASN1_IA5STRING_free(dns);
			goto err_value;
		}
		GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
	}

	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(names, i), gen) == 0) {
			GENERAL_NAME_free(gen);
			return 0;
		}
	}
	if (sk_GENERAL_NAME_push(names, gen) <= 0)
		goto err_value;
	return 0;

err_value:
	GENERAL_NAME_free(gen);
	return -ENOMEM;
}

/*
 * Add the subject alternative names: a DNS name for the host, localhost and 127.0.0.1
 * for the local CLI and tests, then each of `names` (NULL-terminated; -EINVAL for an
 * entry that is neither a DNS name nor an IP address). They are encoded directly
 * instead of through OpenSSL's "DNS:a,IP:b" text form, so no name can add entries of
 * its own.
 */
static int
cert_add_san(X509 *cert, const char *hostname, const char *const *names)
{
	char normalized[HOSTNAME_SIZE];
	GENERAL_NAMES *sans;
	int rc;

	sans = sk_GENERAL_NAME_new_null();
	if (sans == NULL)
		return -ENOMEM;

	rc = san_add(sans, hostname);
	if (rc == 0)
		rc = san_add(sans, "localhost");
	if (rc == 0)
		rc = san_add(sans, "127.0.0.1");
	for (size_t i = 0; rc == 0 && names != NULL && names[i] != NULL; i++) {
		if (!name_normalize(names[i], normalized))
			rc = -EINVAL;
		else
			rc = san_add(sans, normalized);
	}
	if (rc == 0 && X509_add1_ext_i2d(cert, NID_subject_alt_name, sans, 0,
					 X509V3_ADD_DEFAULT) != 1)
		rc = -EIO;

	GENERAL_NAMES_free(sans);
	return rc;
}

/*
 * Build the self-signed certificate: CN for the host, the subject alternative names
 * of cert_add_san, signed with SHA-256.
 */
static X509 *
cert_build(EVP_PKEY *pkey, const char *hostname, const char *const *names)
{
	X509V3_CTX ctx;
	X509_NAME *name;
	X509 *cert;

	cert = X509_new();
	if (cert == NULL)
		return NULL;
	if (X509_set_version(cert, X509_VERSION_3) != 1 || cert_set_serial(cert) < 0 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), TLS_VALID_DAYS, 0, NULL) == NULL ||
	    X509_set_pubkey(cert, pkey) != 1)
		goto err_build;

	name = X509_get_subject_name(cert);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				       (const unsigned char *)hostname, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(cert, name) != 1)
		goto err_build;

	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	if (cert_add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    cert_add_ext(cert, &ctx, NID_ext_key_usage, "serverAuth") < 0 ||
	    cert_add_ext(cert, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    cert_add_san(cert, hostname, names) < 0)
		goto err_build;

	if (X509_sign(cert, pkey, EVP_sha256()) <= 0)
		goto err_build;
	return cert;

err_build:
	X509_free(cert);
	return NULL;
}

/*
 * Generate a certificate for the key at `key_path` that also names each of `names`,
 * and write it to `cert_path`.
 */
static int
cert_create(const char *dir, const char *cert_path, const char *key_path,
	    const char *const *names)
{
	char hostname[HOSTNAME_SIZE] = "";
	EVP_PKEY *pkey;
	X509 *cert;
	size_t len;
	BIO *bio;
	int rc;

	/* A name that is not a valid DNS name cannot go in the certificate. */
	if (gethostname(hostname, sizeof(hostname) - 1) < 0 || !hostname_valid(hostname)) {
		log_warning("http host name \"%s\" is not a valid DNS name, using localhost in "
			    "the certificate", hostname);
		snprintf(hostname, sizeof(hostname), "localhost");
	}

	/* Certificates name hosts without the root's trailing dot. */
	len = strlen(hostname);
	if (len > 1 && hostname[len - 1] == '.')
		hostname[len - 1] = '\0';

	pkey = key_load(key_path);
	if (pkey == NULL) {
		log_err("http cannot read the private key %s", key_path);
		return -EINVAL;
	}
	cert = cert_build(pkey, hostname, names);
	if (cert == NULL) {
		rc = -EIO;
		log_err("http cannot build a certificate for %s", hostname);
		goto err_build;
	}

	bio = BIO_new(BIO_s_mem());
	if (bio == NULL) {
		rc = -ENOMEM;
		goto err_bio;
	}
	rc = -EIO;
	if (PEM_write_bio_X509(bio, cert) == 1)
		rc = bio_write_file(bio, dir, cert_path, 0644, false);
	if (rc < 0)
		log_err("http cannot write %s: %s", cert_path, strerror(-rc));
	else
		log_notice("http generated a self-signed certificate path=%s cn=%s valid_days=%d",
			   cert_path, hostname, TLS_VALID_DAYS);
	BIO_free(bio);
err_bio:
	X509_free(cert);
err_build:
	EVP_PKEY_free(pkey);
	return rc;
}

/* True when `cert` has a subject alternative name that matches `name`. */
static bool
cert_names(X509 *cert, const char *name)
{
	unsigned char addr[sizeof(struct in6_addr)];
	char normalized[HOSTNAME_SIZE];

	if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
		return X509_check_ip_asc(cert, name, 0) == 1;
	if (!name_normalize(name, normalized))
		return false;
	return X509_check_host(cert, normalized, 0,
			       X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_WILDCARDS,
			       NULL) == 1;
}

/*
 * Generate the certificate at `cert_path` again when it lacks one of `names`, for
 * the same key. A certificate that the key at `key_path` did not sign is not ours to
 * replace: it is left as it is, with a warning.
 */
static int
cert_refresh(const char *dir, const char *cert_path, const char *key_path,
	     const char *const *names)
{
	const char *missing = NULL;
	EVP_PKEY *pkey;
	FILE *file;
	X509 *cert;
	bool ours;

	file = fopen(cert_path, "re");
	if (file == NULL) {
		int rc = -errno;

		log_err("http cannot open %s: %s", cert_path, strerror(errno));
		return rc;
	}
	cert = PEM_read_X509(file, NULL, NULL, NULL);
	fclose(file);
	if (cert == NULL) {
		log_err("http %s is not a PEM certificate; remove it to generate a new one",
			cert_path);
		return -EINVAL;
	}

	for (size_t i = 0; missing == NULL && names != NULL && names[i] != NULL; i++) {
		if (!cert_names(cert, names[i]))
			missing = names[i];
	}
	if (missing == NULL) {
		X509_free(cert);
		return 0;
	}

	pkey = key_load(key_path);
	ours = pkey != NULL && X509_check_private_key(cert, pkey) == 1 &&
	       X509_verify(cert, pkey) == 1;
	EVP_PKEY_free(pkey);
	X509_free(cert);
	if (!ours) {
		log_warning("http certificate %s does not name \"%s\" but is not self-signed by "
			    "%s, so it is left as it is, ignoring", cert_path, missing, key_path);
		return 0;
	}

	/* Clients that pinned the old certificate with --cacert need the new one. */
	log_notice("http certificate path=%s does not name \"%s\", generating a new one for "
		   "the same key", cert_path, missing);
	return cert_create(dir, cert_path, key_path, names);
}

/*
 * Make sure <state_dir>/tls/key.pem and cert.pem exist and the certificate names each
 * of `names`; fill the two paths.
 */
static int
tls_generated_ensure(const char *state_dir, const char *const *names, char *cert_path,
		     char *key_path, size_t size)
{
	char dir[PATH_MAX];
	bool key_new = false;
	int rc;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/tls", state_dir) >= sizeof(dir) ||
	    (size_t)snprintf(cert_path, size, "%s/cert.pem", dir) >= size ||
	    (size_t)snprintf(key_path, size, "%s/key.pem", dir) >= size) {
		log_err("http state directory path too long: %s", state_dir);
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		log_err("http cannot create %s: %s", dir, strerror(errno));
		return rc;
	}

	/* The key is created once and never replaced: losing it would change identity. */
	if (access(key_path, F_OK) < 0) {
		rc = key_create(dir, key_path);
		if (rc < 0 && rc != -EEXIST) {
			log_err("http cannot create the private key %s: %s", key_path,
				strerror(-rc));
			return rc;
		}
		key_new = rc == 0;
	}

	/* A new key needs a new certificate, even if an old certificate is still there. */
	if (key_new || access(cert_path, F_OK) < 0)
		return cert_create(dir, cert_path, key_path, names);
	return cert_refresh(dir, cert_path, key_path, names);
}

int
http_tls_load(const char *state_dir, const char *cert_path, const char *key_path,
	      char **ret_cert, char **ret_key)
{
	return http_tls_load_names(state_dir, cert_path, key_path, NULL, ret_cert, ret_key);
}

int
http_tls_load_names(const char *state_dir, const char *cert_path, const char *key_path,
		    const char *const *names, char **ret_cert, char **ret_key)
{
	char generated_cert[PATH_MAX], generated_key[PATH_MAX];
	bool have_cert = cert_path != NULL && cert_path[0] != '\0';
	bool have_key = key_path != NULL && key_path[0] != '\0';
	char *cert, *key;
	int rc;

	if (have_cert != have_key) {
		log_err("http tls_cert and tls_key must be set together (tls_cert=\"%s\" "
			"tls_key=\"%s\")", have_cert ? cert_path : "", have_key ? key_path : "");
		return -EINVAL;
	}
	for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
		char normalized[HOSTNAME_SIZE];

		if (!name_normalize(names[i], normalized)) {
			log_err("http invalid certificate name \"%s\": expected a DNS name or an "
				"IP address", names[i]);
			return -EINVAL;
		}
	}

	/* Configured files are only read; generating them is the operator's business. */
	if (!have_cert) {
		rc = tls_generated_ensure(state_dir, names, generated_cert, generated_key,
					  sizeof(generated_cert));
		if (rc < 0)
			return rc;
		cert_path = generated_cert;
		key_path = generated_key;
	}

	rc = pem_read(cert_path, false, &cert);
	if (rc < 0)
		return rc;
	rc = pem_read(key_path, true, &key);
	if (rc < 0) {
		free(cert);
		return rc;
	}
	*ret_cert = cert;
	*ret_key = key;
	return 0;
}
