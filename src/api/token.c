/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The first admin token. On a fresh store the daemon creates one and writes its
 * secret to a file only root can read, so the operator can reach the HTTPS API at
 * all. The store keeps only the secret's SHA-256, and the secret is never logged.
 */
#include "api/api-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log.h"

/* Random bytes in a bootstrap secret; 256 bits, written as 64 hex digits. */
#define API_TOKEN_BYTES 32

/* Create the directory that will hold `path`, mode 0700, when it is missing. */
static int
parent_dir_make(const char *path)
{
	char copy[PATH_MAX];
	const char *dir;

	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return -ENAMETOOLONG;
	dir = dirname(copy);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Flush a directory entry change (a rename) to disk. */
static void
parent_dir_sync(const char *path)
{
	char copy[PATH_MAX];
	int fd;

	snprintf(copy, sizeof(copy), "%s", path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fsync(fd) < 0)
		log_warning("api: fsync of the directory of %s failed, ignoring: %s", path,
			    strerror(errno));
	close(fd);
}

/*
 * Write "secret\n" to a new file at `path`, mode 0600. O_EXCL and O_NOFOLLOW make
 * sure it is a file this call created and not a link planted in its place.
 */
static int
secret_file_write(const char *path, const char *secret)
{
	char line[2 * API_TOKEN_BYTES + 2];
	size_t len;
	int rc;

	len = (size_t)snprintf(line, sizeof(line), "%s\n", secret);
	rc = file_write_new(path, 0600, line, len);
	explicit_bzero(line, sizeof(line));
	return rc;
}

struct bootstrap_args {
	const char *hash;      /* of the secret */
	const char *tmp_path;  /* the written secret */
	const char *path;      /* where it goes once the row exists */
	int64_t id;
};

/*
 * Insert the token row, then move the secret file into place while the transaction
 * is still open, so a failed rename rolls the row back with it.
 */
static int
bootstrap_op(struct store *st, void *arg, char *err, size_t errlen)
{
	struct bootstrap_args *args = arg;
	int rc;

	rc = store_token_insert(st, "admin", "admin", args->hash, &args->id);
	if (rc < 0)
		return api_store_failed(st, rc, err, errlen);

	if (rename(args->tmp_path, args->path) < 0) {
		rc = -errno;
		snprintf(err, errlen, "rename to %s failed: %s", args->path, strerror(-rc));
		return rc;
	}
	return 0;
}

int
api_bootstrap_token(struct store *st, const char *path)
{
	char secret[2 * API_TOKEN_BYTES + 1], hash[SHA256_HEX_SIZE], tmp_path[PATH_MAX];
	char err[API_DETAIL_SIZE];
	struct bootstrap_args args = { .hash = hash, .tmp_path = tmp_path, .path = path };
	struct action action = {
		.actor = "daemon",
		.name = "token.create",
		.target = "token:admin",
		.risk = RISK_CHANGE,
		.detail = "{\"role\":\"admin\",\"bootstrap\":true}",
	};
	int64_t count;
	int rc;

	rc = store_token_count(st, &count);
	if (rc < 0) {
		log_err("api: token count failed: %s", store_error(st));
		return rc;
	}
	if (count > 0) {
		if (access(path, F_OK) < 0 && errno == ENOENT)
			log_notice("api: tokens exist, so no bootstrap token is written to %s",
				   path);
		return 0;
	}

	if (snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", path) >= (int)sizeof(tmp_path))
		return -ENAMETOOLONG;
	rc = parent_dir_make(path);
	if (rc < 0) {
		log_err("api: cannot create the directory of %s: %s", path, strerror(-rc));
		return rc;
	}

	rc = random_hex(API_TOKEN_BYTES, secret);
	if (rc < 0) {
		log_err("api: no random bytes for the bootstrap token: %s", strerror(-rc));
		return rc;
	}
	sha256_hex(secret, strlen(secret), hash);

	/* A crash during an earlier attempt may have left the temporary file behind. */
	if (unlink(tmp_path) < 0 && errno != ENOENT) {
		rc = -errno;
		log_err("api: cannot remove %s: %s", tmp_path, strerror(-rc));
		goto err_secret;
	}
	rc = secret_file_write(tmp_path, secret);
	explicit_bzero(secret, sizeof(secret));
	if (rc < 0) {
		log_err("api: cannot write %s: %s", tmp_path, strerror(-rc));
		return rc;
	}

	rc = gov_execute(st, &action, bootstrap_op, &args, err, sizeof(err));
	if (rc < 0) {
		log_err("api: bootstrap token not created: %s", err);
		/* Whichever file exists contains a secret that matches no stored token. */
		unlink(tmp_path);
		unlink(path);
		return rc;
	}
	parent_dir_sync(path);

	log_notice("api: created admin token token=%lld, secret written to %s",
		   (long long)args.id, path);
	return 0;

err_secret:
	explicit_bzero(secret, sizeof(secret));
	return rc;
}
