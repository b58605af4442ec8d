/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Virtual-media ISOs (media.h): the kernel command line, the ISO's grub.cfg, the
 * xorriso run that builds the ISO, the folder they live in and the route that
 * serves them.
 */
#include "media/media.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "log/log.h"
#include "util/util.h"

/* The bytes of xorriso's messages kept for an error: the last ones, where its reason is. */
#define XORRISO_MESSAGES_KEEP 2048
/* Rejected-request lines logged per second. */
#define MEDIA_LOG_BURST 20
/* PATH when the daemon's environment has none, and the one xorriso runs with. */
#define MEDIA_PATH "/usr/sbin:/usr/bin:/sbin:/bin"
/* Paths inside the ISO. GRUB's embedded configuration searches for ISO_GRUB_CFG. */
#define ISO_KERNEL "/outpost/vmlinuz"
#define ISO_INITRD "/outpost/initrd.img"
#define ISO_GRUB_CFG "/outpost/grub.cfg"
#define ISO_BIOS_IMAGE "boot/cdboot-bios.img"
#define ISO_EFI_IMAGE "boot/cdboot-efi.img"
/* The ramdisk bundle's files of the two El Torito images (bootenv/cdboot). */
#define BUNDLE_EFI_IMAGE "cdboot-efi.img"
#define BUNDLE_BIOS_IMAGE "cdboot-bios.img"

struct media {
	struct deploy *dp;
	char *dir;                       /* STATE_DIR/media */
	int dir_fd;
	char *artifact_dir;
	int artifact_fd;
	char *base_url;                  /* without a trailing slash */
	char *console;                   /* [deploy] console */
	char *xorriso;                   /* absolute path; NULL when not installed */

	/* Rate limit of rejected-request lines, shared by the worker threads. */
	_Atomic int64_t log_second;
	atomic_uint log_count;
};

/* The kernel command line. */

struct line {
	char *out;
	size_t size;
	size_t len;
	bool overflow;
};

/* Append one word, or several separated by spaces, after a space. */
static void __attribute__((format(printf, 2, 3)))
line_add(struct line *l, const char *fmt, ...)
{
	va_list args;
	int n;

	if (l->overflow)
		return;
	if (l->len > 0 && l->len + 1 < l->size)
		l->out[l->len++] = ' ';
	va_start(args, fmt);
	n = vsnprintf(l->out + l->len, l->size - l->len, fmt, args);
	va_end(args);
	if (n < 0 || (size_t)n >= l->size - l->len)
		l->overflow = true;
	else
		l->len += (size_t)n;
}

/*
 * Check one part of the command line with cmdline_check, so that the error names the
 * part and not the whole line, which contains the token.
 */
static int
part_check(const char *what, const char *text, char *err, size_t errlen)
{
	size_t offset;

	if (cmdline_check(text, &offset) == 0)
		return 0;
	return err_set(-EINVAL, err, errlen, "the kernel command line has character 0x%02x at "
		       "byte %zu of %s; use letters, digits and . _ , : = / + @ %% ~ ; - there",
		       (unsigned char)text[offset], offset, what);
}

/* Is `mac` the canonical form: six pairs of lower-case hex digits with colons? */
static bool
mac_canonical(const char *mac)
{
	if (strlen(mac) != MAC_TEXT_SIZE - 1)
		return false;
	for (size_t i = 0; i < MAC_TEXT_SIZE - 1; i++) {
		bool colon = i % 3 == 2;

		if (colon ? mac[i] != ':' : strchr("0123456789abcdef", mac[i]) == NULL)
			return false;
	}
	return true;
}

int
media_cmdline_build(const struct media_cmdline *in, char *out, size_t size, char *err,
		    size_t errlen)
{
	struct line l = { .out = out, .size = size };
	char bootif[MAC_TEXT_SIZE], dns[DEPLOY_DNS_MAX * DEPLOY_ADDR_TEXT] = "";
	size_t offset;
	int rc;

	if (!mac_canonical(in->mac))
		return err_set(-EINVAL, err, errlen, "boot MAC \"%s\" is not in the canonical "
			       "form aa:bb:cc:dd:ee:ff", in->mac);
	/* One word each, because cmdline_check takes a space as a word boundary. */
	if (in->base_url[0] == '\0' || strchr(in->base_url, ' ') != NULL)
		return err_set(-EINVAL, err, errlen, "the kernel command line has a boot URL "
			       "that is empty or has a space; fix [boot] url");
	if (in->token[0] == '\0' || strchr(in->token, ' ') != NULL)
		return err_set(-EINVAL, err, errlen, "the kernel command line has an empty or "
			       "malformed token");
	rc = part_check("the boot URL, [boot] url", in->base_url, err, errlen);
	if (rc == 0)
		rc = part_check("[deploy] console", in->console, err, errlen);
	if (rc == 0)
		rc = part_check("the profile's cmdline", in->extra, err, errlen);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < MAC_TEXT_SIZE; i++)
		bootif[i] = in->mac[i] == ':' ? '-' : in->mac[i];

	out[0] = '\0';
	line_add(&l, "outpost.url=%s", in->base_url);
	line_add(&l, "outpost.mode=deploy");
	line_add(&l, "outpost.token=%s", in->token);
	line_add(&l, "BOOTIF=01-%s", bootif);
	line_add(&l, "outpost.ip=%s/%u", in->net->address, in->net->prefix);
	if (in->net->gateway[0] != '\0')
		line_add(&l, "outpost.gateway=%s", in->net->gateway);
	for (size_t i = 0; i < in->net->dns_count && i < DEPLOY_DNS_MAX; i++) {
		size_t used = strlen(dns);

		snprintf(dns + used, sizeof(dns) - used, "%s%s", i > 0 ? "," : "", in->net->dns[i]);
	}
	if (dns[0] != '\0')
		line_add(&l, "outpost.dns=%s", dns);
	if (in->console[0] != '\0')
		line_add(&l, "%s", in->console);
	if (in->extra[0] != '\0')
		line_add(&l, "%s", in->extra);

	if (l.overflow || l.len > MEDIA_CMDLINE_MAX)
		return err_set(-E2BIG, err, errlen, "the kernel command line would be longer than "
			       "%d bytes; shorten the profile's cmdline or [deploy] console",
			       MEDIA_CMDLINE_MAX);
	/*
	 * GRUB quotes each word with single quotes, which the check never lets through.
	 * The parts were checked above; this covers the words built from the others.
	 */
	if (cmdline_check(out, &offset) < 0)
		return err_set(-EINVAL, err, errlen, "the kernel command line has character "
			       "0x%02x at byte %zu", (unsigned char)out[offset], offset);
	return 0;
}

int
media_name_parse(const char *name, char token[DEPLOY_TOKEN_SIZE])
{
	size_t len = strlen(name);

	if (len <= 4 || len - 4 >= DEPLOY_TOKEN_SIZE || strcmp(name + len - 4, ".iso") != 0)
		return -EINVAL;
	for (size_t i = 0; i < len - 4; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return -EINVAL;
	}
	memcpy(token, name, len - 4);
	token[len - 4] = '\0';
	return 0;
}

/* The folder and its clean-up. */

/* The ISO's file name of a deployment; never the token, so paths in logs reveal nothing. */
static void
iso_name(int64_t deployment_id, char out[32])
{
	snprintf(out, 32, "d%" PRId64 ".iso", deployment_id);
}

/* The deployment id of an ISO's file name "d<id>.iso", or 0 for any other name. */
static int64_t
iso_name_id(const char *name)
{
	size_t len = strlen(name);
	uint64_t id;
	char digits[24];

	if (len < 6 || len - 5 >= sizeof(digits) || name[0] != 'd' ||
	    strcmp(name + len - 4, ".iso") != 0)
		return 0;
	memcpy(digits, name + 1, len - 5);
	digits[len - 5] = '\0';
	if (digits[0] == '0' || uint_parse(digits, 1, INT64_MAX, &id) < 0)
		return 0;
	return (int64_t)id;
}

/*
 * Is the ISO of deployment `id` stale: the deployment is gone, has ended, has written
 * its image or is no longer its machine's newest? A store error keeps the ISO.
 */
static bool
deployment_iso_stale(struct store *st, int64_t id)
{
	struct deployment d = { 0 }, current = { 0 };
	bool stale = false;
	int rc;

	rc = store_deployment_get(st, id, &d);
	if (rc == -ENOENT)
		stale = true;
	else if (rc == 0 && (d.state != DEPLOYMENT_RUNNING || d.image_written))
		stale = true;
	else if (rc == 0 && store_deployment_current(st, d.machine_id, &current) == 0)
		stale = current.id != d.id;
	deployment_clear(&d);
	deployment_clear(&current);
	return stale;
}

/*
 * Remove the temporary files of builds a crash interrupted (their names start with a
 * dot) and the ISOs of deployments that ended while the daemon was down.
 */
static void
media_clean(struct media *md, struct store *st)
{
	int fd = dup(md->dir_fd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *entry;
	int64_t id;

	if (dir == NULL) {
		log_warning("media: cannot list %s to remove stale ISOs: %s", md->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((entry = readdir(dir)) != NULL) {
		const char *name = entry->d_name;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		id = name[0] == '.' ? 0 : iso_name_id(name);
		if (name[0] != '.' && id == 0) {
			log_warning("media: %s/%s is not an ISO Outpost built; left alone", md->dir, name);
			continue;
		}
		if (id > 0 && (st == NULL || !deployment_iso_stale(st, id)))
			continue;
		if (unlinkat(md->dir_fd, name, 0) < 0)
			log_warning("media: cannot remove stale %s/%s: %s", md->dir, name,
				    strerror(errno));
		else if (id == 0)
			log_info("media: removed %s/%s, left by an interrupted build", md->dir, name);
		else
			log_info("media: removed the ISO of deployment=%" PRId64 ", which no longer "
				 "needs it", id);
	}
	closedir(dir);
}

/* Create and open STATE_DIR/media, mode 0700 because the ISOs carry tokens. */
static int
media_dir_open(struct media *md)
{
	struct stat st;

	int rc;

	if (mkdir(md->dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		log_err("media: cannot create %s: %s", md->dir, strerror(-rc));
		return rc;
	}
	md->dir_fd = open(md->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (md->dir_fd < 0) {
		rc = -errno;
		log_err("media: cannot open %s: %s; it must be a directory, not a link",
			md->dir, strerror(-rc));
		return rc;
	}
	if (fstat(md->dir_fd, &st) < 0 || (st.st_uid != geteuid() && st.st_uid != 0)) {
		log_err("media: %s is not owned by the daemon's user or root; chown it", md->dir);
		return -EPERM;
	}
	if ((st.st_mode & 077) != 0 && fchmod(md->dir_fd, 0700) < 0) {
		rc = -errno;
		log_err("media: cannot set mode 0700 on %s: %s", md->dir, strerror(-rc));
		return rc;
	}
	return 0;
}

/* The absolute path of `program` on PATH, or NULL. */
static char *
program_find(const char *program)
{
	const char *path = getenv("PATH");
	char candidate[PATH_MAX];

	if (path == NULL || path[0] == '\0')
		path = MEDIA_PATH;
	while (*path != '\0') {
		size_t len = strcspn(path, ":");

		if (len > 0 && path[0] == '/' &&
		    (size_t)snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)len, path,
				     program) < sizeof(candidate) &&
		    access(candidate, X_OK) == 0)
			return strdup(candidate);
		path += len;
		if (*path == ':')
			path++;
	}
	return NULL;
}

int
media_new(const struct conf *conf, struct store_pool *pool, struct deploy *dp,
	  struct media **ret)
{
	struct media *md = calloc(1, sizeof(*md));
	size_t len;
	int rc;

	if (md == NULL)
		return -ENOMEM;
	md->dp = dp;
	md->dir_fd = -1;
	md->artifact_fd = -1;
	md->base_url = strdup(conf->boot_url);
	md->console = strdup(conf->deploy_console != NULL ? conf->deploy_console : "");
	md->artifact_dir = strdup(conf->artifact_dir);
	if (md->base_url == NULL || md->console == NULL || md->artifact_dir == NULL ||
	    asprintf(&md->dir, "%s/" MEDIA_DIR_NAME, conf->state_dir) < 0) {
		md->dir = NULL;
		media_free(md);
		return -ENOMEM;
	}
	len = strlen(md->base_url);
	while (len > 0 && md->base_url[len - 1] == '/')
		md->base_url[--len] = '\0';

	rc = media_dir_open(md);
	if (rc < 0) {
		media_free(md);
		return rc;
	}
	md->artifact_fd = open(md->artifact_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (md->artifact_fd < 0) {
		rc = -errno;
		log_err("media: cannot open artifact directory=%s: %s", md->artifact_dir,
			strerror(errno));
		media_free(md);
		return rc;
	}
	md->xorriso = program_find("xorriso");
	if (md->xorriso == NULL)
		log_warning("media: xorriso not found on PATH; virtual-media deployments fail "
			    "until the Debian package xorriso is installed and the daemon restarted");
	media_clean(md, store_pool_get(pool));
	*ret = md;
	return 0;
}

struct media *
media_free(struct media *md)
{
	if (md == NULL)
		return NULL;
	if (md->dir_fd >= 0)
		close(md->dir_fd);
	if (md->artifact_fd >= 0)
		close(md->artifact_fd);
	free(md->dir);
	free(md->artifact_dir);
	free(md->base_url);
	free(md->console);
	free(md->xorriso);
	free(md);
	return NULL;
}

bool
media_remove(struct media *md, int64_t deployment_id)
{
	char name[32];

	if (md == NULL)
		return false;
	iso_name(deployment_id, name);
	if (unlinkat(md->dir_fd, name, 0) == 0) {
		log_info("media: removed the ISO of deployment=%" PRId64, deployment_id);
		return true;
	}
	if (errno != ENOENT)
		log_warning("media: cannot remove %s/%s: %s", md->dir, name, strerror(errno));
	return errno != ENOENT;
}

/* Serving. */

static bool
media_log_allowed(struct media *md)
{
	int64_t now = time_now();

	if (atomic_exchange(&md->log_second, now) != now)
		atomic_store(&md->log_count, 0);
	return atomic_fetch_add(&md->log_count, 1) < MEDIA_LOG_BURST;
}

void
media_serve(struct media *md, struct http_request *req)
{
	const char *method = http_method(req);
	char token[DEPLOY_TOKEN_SIZE], name[32], kind = 0;
	struct stat st;
	int64_t id = 0;
	bool valid;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		http_add_header(req, "Allow", "GET, HEAD");
		http_reply_error(req, 405, "method_not_allowed", "ISOs are read with GET or HEAD");
		return;
	}
	valid = md != NULL &&
		media_name_parse(http_path(req) + strlen(MEDIA_PREFIX), token) == 0 &&
		deploy_token_check(md->dp, token, &kind, &id) == 0 && kind == 'd';
	explicit_bzero(token, sizeof(token));
	if (!valid) {
		/* The path is not logged: a token one character off is still mostly a secret. */
		if (md != NULL && media_log_allowed(md))
			log_info("media: rejected %s " MEDIA_PREFIX "... from %s: not the ISO of a "
				 "deployment", method, http_peer(req));
		http_reply_error(req, 404, "not_found", "no such ISO");
		return;
	}
	iso_name(id, name);
	if (fstatat(md->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
		http_reply_error(req, 404, "not_found", "deployment %" PRId64 " has no ISO: its "
				 "image is written, it ended, or it boots from the network", id);
		return;
	}
	log_debug("media: serving the ISO of deployment=%" PRId64 " to %s range=%s", id,
		  http_peer(req), http_header(req, "Range") != NULL ? "yes" : "no");
	http_reply_file(req, md->dir_fd, name, "application/octet-stream", NULL);
}

/* Building. */

struct build {
	struct media *md;
	struct store *st;
	const struct machine *m;
	const struct deployment *d;
	struct profile p;
	struct deploy_network net;
	char token[DEPLOY_TOKEN_SIZE];
	char cmdline[MEDIA_CMDLINE_MAX + 1];
	/* Paths of the sources relative to the artifact directory. */
	char kernel[STORE_PATH_SIZE];
	char initrd[STORE_PATH_SIZE];
	char efi_image[STORE_PATH_SIZE];
	char bios_image[STORE_PATH_SIZE];
	char ramdisk[STORE_NAME_SIZE + STORE_VERSION_SIZE + 1];  /* "NAME VERSION" */
	/* Names in the media folder. */
	char iso[32];
	char tmp_iso[64];
	char tmp_cfg[64];
};

/*
 * Resolve artifact reference `ref` to a regular file under the artifact directory and
 * copy its relative path to out. `what` names it in the error.
 */
static int
source_resolve(struct build *b, const char *ref, const char *what, char out[STORE_PATH_SIZE],
	       char *err, size_t errlen)
{
	char blob[BUNDLE_BLOB_PATH_SIZE], sha256[SHA256_HEX_SIZE];
	const char *path;
	struct stat st;

	if (http_path_check(ref) < 0)
		return err_set(-EEXIST, err, errlen, "%s reference \"%.200s\" is not a valid "
			       "artifact path; fix the profile", what, ref);
	switch (bundle_ref_resolve(b->st, b->md->artifact_fd, ref, blob, sha256)) {
	case BUNDLE_REF_BLOB:
		path = blob;
		break;
	case BUNDLE_REF_FILE:
		path = ref;
		break;
	default:
		return err_set(-EEXIST, err, errlen, "%s %s is in no loaded bundle; load the "
			       "bundle or change the profile", what, ref);
	}
	/* xorriso would record a link as a link, which GRUB cannot boot. */
	if (fstatat(b->md->artifact_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return err_set(-EEXIST, err, errlen, "%s %s is not a regular file in the artifact "
			       "store; run outpost bundle check", what, ref);
	snprintf(out, STORE_PATH_SIZE, "%s", path);
	return 0;
}

/* The machine's boot MAC and static network, without which the ISO cannot deploy. */
static int
build_check_machine(struct build *b, char *err, size_t errlen)
{
	if (b->m->mac_count == 0)
		return err_set(-EEXIST, err, errlen, "machine %" PRId64 " has no MAC address, which "
			       "the ISO names as its boot NIC; add one with PATCH /api/v1/machines/%"
			       PRId64, b->m->id, b->m->id);
	if (deploy_static_network(b->md->dp, b->m->ip, &b->net) < 0)
		return err_set(-EEXIST, err, errlen, "machine %" PRId64 " has no reserved address in "
			       "a DHCP/DNS subnet, and a virtual-media boot needs one for its static "
			       "network; enable [ddi] with a subnet and reserve an address with POST "
			       "/api/v1/machines/%" PRId64 "/address", b->m->id, b->m->id);
	return 0;
}

/*
 * Find the files: the El Torito images of the newest ramdisk bundle, and the kernel and
 * initrd of the machine's profile, the deploy ramdisk that a netboot would boot.
 */
static int
build_sources(struct build *b, char *err, size_t errlen)
{
	struct bundle_info pick;
	char ref[STORE_PATH_SIZE + STORE_NAME_SIZE + STORE_VERSION_SIZE];
	int rc;

	rc = store_profile_get(b->st, b->m->profile_id, &b->p);
	if (rc < 0)
		return err_set(rc == -ENOENT ? -EEXIST : rc, err, errlen, "profile %" PRId64
			       " of machine %" PRId64 " cannot be read: %s", b->m->profile_id,
			       b->m->id, store_error(b->st));
	rc = store_bundle_newest(b->st, "ramdisk", &pick);
	if (rc == -ENOENT)
		return err_set(-EEXIST, err, errlen, "no ramdisk bundle is loaded, and the ISO "
			       "boots from its CD boot images; load one (make bundles builds it)");
	if (rc < 0)
		return err_set(rc, err, errlen, "listing bundles failed: %s", store_error(b->st));
	snprintf(b->ramdisk, sizeof(b->ramdisk), "%s %s", pick.name, pick.version);

	snprintf(ref, sizeof(ref), "%s/%s/" BUNDLE_EFI_IMAGE, pick.name, pick.version);
	rc = source_resolve(b, ref, "UEFI CD boot image", b->efi_image, err, errlen);
	if (rc == 0) {
		snprintf(ref, sizeof(ref), "%s/%s/" BUNDLE_BIOS_IMAGE, pick.name, pick.version);
		rc = source_resolve(b, ref, "BIOS CD boot image", b->bios_image, err, errlen);
	}
	if (rc < 0)
		return err_set(rc, err, errlen, "the newest ramdisk bundle, %s %s, lacks the CD boot "
			       "images " BUNDLE_EFI_IMAGE " and " BUNDLE_BIOS_IMAGE "; load a "
			       "ramdisk bundle of revision r06 or later", pick.name, pick.version);

	rc = source_resolve(b, b->p.kernel, "kernel", b->kernel, err, errlen);
	if (rc < 0)
		return rc;
	return source_resolve(b, b->p.initrd, "initrd", b->initrd, err, errlen);
}

/*
 * Write the ISO's grub.cfg to the temporary file b->tmp_cfg in the media folder, dated
 * `epoch`: xorriso dates each file of the ISO by its source's modification time.
 */
static int
build_grub_cfg(struct build *b, int64_t epoch, char *err, size_t errlen)
{
	struct timespec dates[2] = { { .tv_sec = (time_t)epoch }, { .tv_sec = (time_t)epoch } };
	struct buf cfg;
	const char *word = b->cmdline;
	int fd, rc;

	buf_init(&cfg, 16 * 1024);
	rc = buf_printf(&cfg, "# Outpost virtual-media boot: deployment %" PRId64 " of machine %"
			PRId64 ".\n# Each kernel argument is in single quotes, so GRUB expands "
			"nothing in it.\nset timeout=3\nset default=0\n"
			"menuentry 'Outpost: deploy machine %" PRId64 "%s%s' {\n"
			"\techo 'Outpost: loading the deploy ramdisk'\n\tlinux " ISO_KERNEL,
			b->d->id, b->m->id, b->m->id, b->m->hostname[0] != '\0' ? " " : "",
			b->m->hostname);
	while (rc == 0 && *word != '\0') {
		size_t len = strcspn(word, " ");

		if (len > 0)
			rc = buf_printf(&cfg, " '%.*s'", (int)len, word);
		word += len;
		word += strspn(word, " ");
	}
	if (rc == 0)
		rc = buf_puts(&cfg, "\n\tinitrd " ISO_INITRD "\n}\n");
	if (rc < 0) {
		buf_free(&cfg);
		return err_set(rc, err, errlen, "rendering grub.cfg failed: %s", strerror(-rc));
	}

	/* 0600: the file contains the deployment's token. */
	fd = openat(b->md->dir_fd, b->tmp_cfg, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600);
	if (fd < 0) {
		rc = -errno;
	} else {
		rc = write_all(fd, cfg.data, cfg.len);
		if (rc == 0 && futimens(fd, dates) < 0)
			rc = -errno;
		if (close(fd) < 0 && rc == 0)
			rc = -errno;
	}
	explicit_bzero(cfg.data, cfg.len);
	buf_free(&cfg);
	if (rc < 0)
		return err_set(rc, err, errlen, "writing %s/%s failed: %s", b->md->dir, b->tmp_cfg,
			       strerror(-rc));
	return 0;
}

/*
 * A graft point "ISO_PATH=DISK_DIR/DISK_PATH" for xorriso's -graft-points, with '\' and
 * '=' in the disk path escaped by '\' as xorriso requires. Returns NULL when out of
 * memory.
 */
static char *
graft_point(const char *iso_path, const char *dir, const char *path)
{
	size_t size = strlen(iso_path) + 2 * (strlen(dir) + strlen(path)) + 3;
	char *out = malloc(size), *at;
	const char *parts[2] = { dir, path };

	if (out == NULL)
		return NULL;
	at = out + sprintf(out, "%s=", iso_path);
	for (int i = 0; i < 2; i++) {
		for (const char *c = parts[i]; *c != '\0'; c++) {
			if (*c == '\\' || *c == '=')
				*at++ = '\\';
			*at++ = *c;
		}
		if (i == 0)
			*at++ = '/';
	}
	*at = '\0';
	return out;
}

/*
 * Keep the lines of xorriso's messages that give a reason (FAILURE, SORRY, FATAL), or
 * else the last bytes, as one printable line in out.
 */
static void
xorriso_reason(const char *messages, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (const char *line = messages; *line != '\0' && len + 1 < size;) {
		size_t line_len = strcspn(line, "\n");

		if ((memmem(line, line_len, " : FAILURE : ", 13) != NULL ||
		     memmem(line, line_len, " : SORRY : ", 11) != NULL ||
		     memmem(line, line_len, " : FATAL : ", 11) != NULL)) {
			int n = snprintf(out + len, size - len, "%s%.*s", len > 0 ? "; " : "",
					 (int)line_len, line);

			len = n < 0 ? len : len + (size_t)n < size ? len + (size_t)n : size - 1;
		}
		line += line_len;
		if (*line == '\n')
			line++;
	}
	if (len == 0) {
		size_t total = strlen(messages), keep = total < size - 1 ? total : size - 1;

		memcpy(out, messages + total - keep, keep);
		out[keep] = '\0';
	}
	for (char *c = out; *c != '\0'; c++)
		if (*c == '\n')
			*c = ' ';
	text_sanitize(out);
}

/* Append what the pipe `fd` has to messages, keeping the last XORRISO_MESSAGES_KEEP bytes. */
static bool
messages_read(int fd, char *messages, size_t *len)
{
	char chunk[1024];
	ssize_t n = read(fd, chunk, sizeof(chunk));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	if (*len + (size_t)n > XORRISO_MESSAGES_KEEP) {
		size_t drop = *len + (size_t)n - XORRISO_MESSAGES_KEEP;

		drop = drop > *len ? *len : drop;
		memmove(messages, messages + drop, *len - drop);
		*len -= drop;
	}
	if ((size_t)n > XORRISO_MESSAGES_KEEP)
		n = XORRISO_MESSAGES_KEEP;
	memcpy(messages + *len, chunk, (size_t)n);
	*len += (size_t)n;
	messages[*len] = '\0';
	return true;
}

/* Start `argv` with stdin and stdout on /dev/null, stderr into `pipe_write`. */
static int
child_spawn(const char *program, char *const argv[], char *const envp[], int pipe_write,
	    pid_t *ret_pid)
{
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	int rc;

	/*
	 * The daemon blocks SIGTERM and its kin in every thread and ignores SIGPIPE, and a
	 * child would inherit both, so they are reset. posix_spawn forks and executes in
	 * one call, because only async-signal-safe calls may follow a fork in a threaded
	 * program.
	 */
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGHUP);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&actions, pipe_write, 2);
	/* Not every descriptor of the daemon is close-on-exec; none belongs to the child. */
	posix_spawn_file_actions_addclosefrom_np(&actions, 3);
	rc = posix_spawn(ret_pid, program, &actions, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&actions);
	posix_spawnattr_destroy(&attr);
	return -rc;
}

/*
 * Run xorriso with `argv` for at most MEDIA_BUILD_TIMEOUT_SECONDS, its messages
 * collected from its stderr. Returns 0 when it exited with status 0, or -ETIMEDOUT or
 * -EIO with the reason in err.
 */
static int
xorriso_run(struct media *md, char *const argv[], int64_t epoch, char *err, size_t errlen)
{
	char messages[XORRISO_MESSAGES_KEEP + 1] = "", reason[512], epoch_env[48];
	char *envp[] = { "PATH=" MEDIA_PATH, "LC_ALL=C", epoch_env, NULL };
	int64_t deadline = time_monotonic_ms() + MEDIA_BUILD_TIMEOUT_SECONDS * 1000;
	int pipefd[2], status = 0, rc;
	bool open = true, timed_out = false;
	size_t len = 0;
	pid_t pid;

	/*
	 * The ISO's own dates. With the files' dates, they make a rebuild from the same
	 * files give the same bytes.
	 */
	snprintf(epoch_env, sizeof(epoch_env), "SOURCE_DATE_EPOCH=%" PRId64, epoch);
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return err_set(-errno, err, errlen, "cannot create a pipe for xorriso: %s",
			       strerror(errno));
	rc = child_spawn(md->xorriso, argv, envp, pipefd[1], &pid);
	close(pipefd[1]);
	if (rc < 0) {
		close(pipefd[0]);
		return err_set(-EIO, err, errlen, "cannot start %s: %s", md->xorriso, strerror(-rc));
	}

	for (;;) {
		int64_t left = deadline - time_monotonic_ms();
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };

		if (left <= 0) {
			kill(pid, SIGKILL);
			timed_out = true;
			break;
		}
		if (open) {
			if (poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) > 0)
				open = messages_read(pipefd[0], messages, &len);
			continue;
		}
		/* stderr is closed; the process may still be finishing. */
		rc = waitpid(pid, &status, WNOHANG);
		if (rc == pid)
			break;
		if (rc < 0 && errno != EINTR) {
			status = -1;
			break;
		}
		usleep(20000);
	}
	close(pipefd[0]);
	if (timed_out || !WIFEXITED(status) || open)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	if (timed_out)
		return err_set(-ETIMEDOUT, err, errlen, "xorriso did not finish within %d s and was "
			       "killed; check the disk holding the state folder",
			       MEDIA_BUILD_TIMEOUT_SECONDS);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	xorriso_reason(messages, reason, sizeof(reason));
	if (WIFEXITED(status))
		return err_set(-EIO, err, errlen, "xorriso failed with exit status %d: %s",
			       WEXITSTATUS(status), reason);
	return err_set(-EIO, err, errlen, "xorriso was killed by signal %d: %s",
		       WIFSIGNALED(status) ? WTERMSIG(status) : 0, reason);
}

struct args {
	char *items[40];
	size_t count;
	bool failed;                     /* out of memory, or more than fit */
};

/* Append an owned string; NULL records a failed allocation. */
static void
args_take(struct args *a, char *item)
{
	if (item == NULL || a->count + 1 >= sizeof(a->items) / sizeof(a->items[0])) {
		free(item);
		a->failed = true;
		return;
	}
	a->items[a->count++] = item;
}

static void
args_free(struct args *a)
{
	for (size_t i = 0; i < a->count; i++)
		free(a->items[i]);
	a->count = 0;
}

/* Fill the argument list of the xorriso run. Returns 0 or -ENOMEM. */
static int
xorriso_args(struct build *b, struct args *a)
{
	static const char *const options[] = {
		"xorriso", "-no_rc", "-report_about", "SORRY", "-abort_on", "FAILURE",
		"-as", "mkisofs", "-V", "OUTPOST", "-R", "-graft-points",
		/* BIOS: GRUB's El Torito image needs its own location patched in (boot info table). */
		"-b", ISO_BIOS_IMAGE, "-no-emul-boot", "-boot-load-size", "4",
		"-boot-info-table", "--grub2-boot-info",
		/* UEFI: a second El Torito entry, the FAT image holding EFI/BOOT/BOOTX64.EFI. */
		"-eltorito-alt-boot", "-e", ISO_EFI_IMAGE, "-no-emul-boot",
	};
	char *output = NULL;

	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		args_take(a, strdup(options[i]));
	args_take(a, strdup("-o"));
	if (asprintf(&output, "%s/%s", b->md->dir, b->tmp_iso) < 0)
		output = NULL;
	args_take(a, output);
	args_take(a, graft_point(ISO_KERNEL, b->md->artifact_dir, b->kernel));
	args_take(a, graft_point(ISO_INITRD, b->md->artifact_dir, b->initrd));
	args_take(a, graft_point(ISO_GRUB_CFG, b->md->dir, b->tmp_cfg));
	args_take(a, graft_point("/" ISO_BIOS_IMAGE, b->md->artifact_dir, b->bios_image));
	args_take(a, graft_point("/" ISO_EFI_IMAGE, b->md->artifact_dir, b->efi_image));
	a->items[a->count] = NULL;
	return a->failed ? -ENOMEM : 0;
}

/* Make the finished temporary ISO durable and give it its final name. */
static int
build_commit(struct build *b, char *err, size_t errlen)
{
	int fd = openat(b->md->dir_fd, b->tmp_iso, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int rc = 0;

	if (fd < 0 || fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	/* rename replaces an ISO an earlier build of the deployment left. */
	if (rc == 0 && renameat(b->md->dir_fd, b->tmp_iso, b->md->dir_fd, b->iso) < 0)
		rc = -errno;
	if (rc == 0 && fsync(b->md->dir_fd) < 0)
		rc = -errno;
	if (rc < 0)
		return err_set(rc, err, errlen, "storing %s/%s failed: %s", b->md->dir, b->iso,
			       strerror(-rc));
	return 0;
}

/* Build the ISO from the checked sources, through the temporary names. */
static int
build_iso(struct build *b, char *err, size_t errlen)
{
	struct media_cmdline line = { .base_url = b->md->base_url, .token = b->token,
				      .mac = b->m->macs[0], .net = &b->net,
				      .console = b->md->console, .extra = b->p.cmdline };
	struct args a = { .count = 0 };
	int64_t epoch = b->d->started_at > 0 ? b->d->started_at : time_now();
	char suffix[17];
	int rc;

	if (b->md->xorriso == NULL)
		return err_set(-ENOEXEC, err, errlen, "xorriso is not installed (not found on PATH "
			       "at start); install the Debian package xorriso and restart outpost");
	deploy_token(b->md->dp, 'd', b->d->id, b->token);
	rc = media_cmdline_build(&line, b->cmdline, sizeof(b->cmdline), err, errlen);
	if (rc < 0)
		return rc == -E2BIG || rc == -EINVAL ? -EEXIST : rc;

	rc = random_hex(8, suffix);
	if (rc < 0)
		return err_set(rc, err, errlen, "cannot read random bytes: %s", strerror(-rc));
	iso_name(b->d->id, b->iso);
	/* A leading dot marks a temporary file, which media_new removes after a crash. */
	snprintf(b->tmp_iso, sizeof(b->tmp_iso), ".d%" PRId64 "-%s.iso.tmp", b->d->id, suffix);
	snprintf(b->tmp_cfg, sizeof(b->tmp_cfg), ".d%" PRId64 "-%s.cfg.tmp", b->d->id, suffix);

	rc = build_grub_cfg(b, epoch, err, errlen);
	if (rc == 0) {
		rc = xorriso_args(b, &a);
		if (rc < 0)
			err_set(rc, err, errlen, "out of memory");
	}
	if (rc == 0)
		rc = xorriso_run(b->md, a.items, epoch, err, errlen);
	args_free(&a);
	if (rc == 0)
		rc = build_commit(b, err, errlen);
	unlinkat(b->md->dir_fd, b->tmp_cfg, 0);
	if (rc < 0)
		unlinkat(b->md->dir_fd, b->tmp_iso, 0);
	return rc;
}

int
media_url(struct media *md, int64_t deployment_id, char url[MEDIA_URL_SIZE])
{
	char token[DEPLOY_TOKEN_SIZE];
	int n;

	deploy_token(md->dp, 'd', deployment_id, token);
	n = snprintf(url, MEDIA_URL_SIZE, "%s" MEDIA_PREFIX "%s.iso", md->base_url, token);
	explicit_bzero(token, sizeof(token));
	return n < 0 || n >= MEDIA_URL_SIZE ? -E2BIG : 0;
}

int
media_build(struct media *md, struct store *st, const struct machine *m,
	    const struct deployment *d, char url[MEDIA_URL_SIZE], char *err, size_t errlen)
{
	struct build b = { .md = md, .st = st, .m = m, .d = d };
	int64_t started = time_monotonic_ms();
	int rc, n;

	rc = build_check_machine(&b, err, errlen);
	if (rc == 0)
		rc = build_sources(&b, err, errlen);
	if (rc == 0)
		rc = build_iso(&b, err, errlen);
	if (rc == 0) {
		n = media_url(md, d->id, url);
		if (n < 0) {
			media_remove(md, d->id);
			rc = err_set(-EEXIST, err, errlen, "the ISO's URL would be longer than %d bytes; "
				     "shorten [boot] url", MEDIA_URL_SIZE - 1);
		}
	}
	if (rc == 0)
		log_info("media: built the ISO of deployment=%" PRId64 " machine=%" PRId64 " from "
			 "ramdisk bundle %s in %" PRId64 " ms", d->id, m->id, b.ramdisk,
			 time_monotonic_ms() - started);
	else
		log_warning("media: cannot build the ISO of deployment=%" PRId64 " machine=%" PRId64
			    ": %s", d->id, m->id, err);
	explicit_bzero(b.token, sizeof(b.token));
	explicit_bzero(b.cmdline, sizeof(b.cmdline));
	profile_clear(&b.p);
	return rc;
}
