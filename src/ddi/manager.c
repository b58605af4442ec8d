/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DDI manager thread. It wakes when anything was committed to the store, when a
 * lease event arrives, when a failed pass is due for a retry, and every resync
 * period. Each pass reads the desired state from the store and brings Kea and
 * PowerDNS to it. A pass that fails is retried with exponential backoff, and the next
 * pass after a failure compares everything with what the servers hold instead of
 * trusting what was pushed before.
 */
#include "ddi/ddi-internal.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log.h"
#include "util/util.h"

/* How often the thread looks at the store's commit counter. */
#define POLL_MS 200
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

static int
copy_text(char *dst, size_t size, const char *src, const char *what, char *err, size_t errlen)
{
	if ((size_t)snprintf(dst, size, "%s", src) >= size)
		return err_set(-EINVAL, err, errlen, "%s: longer than %zu bytes", what, size - 1);
	return 0;
}

/* The configured hook program, or outpost-kea-hook beside the running binary. */
static int
hook_program_find(const char *configured, char *out, size_t size, char *err, size_t errlen)
{
	char self[DDI_PATH_SIZE];
	char *slash;
	ssize_t n;

	if (configured[0] != '\0')
		snprintf(out, size, "%s", configured);
	else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0)
			return err_set(-errno, err, errlen, "cannot find the outpost binary through "
				       "/proc/self/exe: %s; set [kea] hook_program", strerror(errno));
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL)
			*slash = '\0';
		if ((size_t)snprintf(out, size, "%s/outpost-kea-hook", self) >= size)
			return err_set(-ENAMETOOLONG, err, errlen, "[kea] hook_program: path too long");
	}
	if (out[0] != '/' || access(out, X_OK) < 0)
		return err_set(-EINVAL, err, errlen, "[kea] hook_program: %s is not an executable "
			       "file with an absolute path; install outpost-kea-hook or set the key",
			       out);
	return 0;
}

static int
config_fill(struct ddi *ddi, const struct conf *conf, char *err, size_t errlen)
{
	struct ddi_config *c = &ddi->config;
	size_t len;
	int r = 0;

	c->settings = &ddi->settings;
	if (strcmp(conf->kea_lease_events, "hook") == 0) {
		c->lease_hook = true;
	} else if (strcmp(conf->kea_lease_events, "poll") == 0) {
		ddi->lease_poll_ms = (int64_t)conf->kea_lease_poll_seconds * 1000;
	} else {
		return err_set(-EINVAL, err, errlen, "[kea] lease_events: invalid value \"%s\": "
			       "expected hook or poll", conf->kea_lease_events);
	}
	r = copy_text(c->boot_url, sizeof(c->boot_url), conf->boot_url, "[boot] url", err, errlen);
	len = strlen(c->boot_url);
	while (r == 0 && len > 0 && c->boot_url[len - 1] == '/')
		c->boot_url[--len] = '\0';
	for (size_t i = 0; r == 0 && i < len; i++)
		if (c->boot_url[i] <= ' ' || c->boot_url[i] > '~' || c->boot_url[i] == '"')
			r = err_set(-EINVAL, err, errlen, "[boot] url: \"%s\" contains a space, a "
				    "quote or a control character, which DHCP clients cannot use",
				    c->boot_url);
	if (r == 0 && len + sizeof(DDI_START_PATH) - 1 > DDI_BOOT_FILE_MAX)
		r = err_set(-EINVAL, err, errlen, "[boot] url: \"%s\" is too long for DHCP: with "
			    DDI_START_PATH " it must fit in %d bytes", c->boot_url,
			    DDI_BOOT_FILE_MAX);
	if (r == 0)
		r = copy_text(c->control_socket, sizeof(c->control_socket), conf->kea_control_socket,
			      "[kea] control_socket", err, errlen);
	if (r == 0)
		r = copy_text(c->lease_file, sizeof(c->lease_file), conf->kea_lease_file,
			      "[kea] lease_file", err, errlen);
	if (r == 0)
		r = copy_text(c->hooks_dir, sizeof(c->hooks_dir), conf->kea_hooks_dir,
			      "[kea] hooks_dir", err, errlen);
	if (r == 0)
		r = copy_text(ddi->event_socket, sizeof(ddi->event_socket), conf->kea_event_socket,
			      "[kea] event_socket", err, errlen);
	/* A unix socket path has at most 107 bytes. */
	if (r == 0 && strlen(ddi->event_socket) > 107)
		r = err_set(-EINVAL, err, errlen, "[kea] event_socket: \"%s\" is longer than 107 "
			    "bytes, the limit of a unix socket path; pick a shorter path",
			    ddi->event_socket);
	if (r == 0) {
		size_t socket_len = strlen(ddi->event_socket);

		memcpy(c->hook_script, ddi->event_socket, socket_len);
		memcpy(c->hook_script + socket_len, ".hook", sizeof(".hook"));
	}
	if (r == 0 && strcmp(conf->kea_lease_events, "poll") != 0)
		r = hook_program_find(conf->kea_hook_program, ddi->hook_program,
				      sizeof(ddi->hook_program), err, errlen);
	if (r == 0)
		r = copy_text(ddi->tftp_root, sizeof(ddi->tftp_root), conf->tftp_root,
			      "[tftp] root", err, errlen);
	if (r == 0)
		r = copy_text(ddi->ipxe_dir, sizeof(ddi->ipxe_dir), conf->tftp_ipxe_dir,
			      "[tftp] ipxe_dir", err, errlen);
	if (r < 0)
		return r;

	{
		const struct {
			const char *key;
			const char *value;
		} paths[] = {
			{ "[kea] control_socket", c->control_socket },
			{ "[kea] lease_file", c->lease_file },
			{ "[kea] hooks_dir", c->hooks_dir },
			{ "[kea] event_socket", ddi->event_socket },
			{ "[tftp] root", ddi->tftp_root },
			{ "[tftp] ipxe_dir", ddi->ipxe_dir },
		};

		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
			if (paths[i].value[0] != '/')
				return err_set(-EINVAL, err, errlen, "%s: \"%s\" is not an absolute "
					       "path; give it from /", paths[i].key, paths[i].value);
	}
	c->ttl = conf->pdns_ttl;
	ddi->pdns_rate = (int64_t)conf->pdns_max_rrsets_per_second;
	return ddi_pdns_setup(&ddi->pdns, conf, &ddi->settings, err, errlen);
}

int
ddi_new(const struct conf *conf, const char *db_path, struct ddi **ret, char *err,
	size_t errlen)
{
	struct ddi *ddi;
	int r;

	ddi = calloc(1, sizeof(*ddi));
	if (ddi == NULL)
		return -ENOMEM;
	ddi->wake_fd = -1;
	ddi->event_fd = -1;
	pthread_mutex_init(&ddi->lock, NULL);
	ddi->resync_ms = (int64_t)conf->ddi_resync_seconds * 1000;
	ddi->ra_enabled = conf->ddi_router_advertisements;

	r = ddi_settings_parse(conf, &ddi->settings, err, errlen);
	if (r == 0)
		r = config_fill(ddi, conf, err, errlen);
	if (r == 0)
		r = copy_text(ddi->db_path, sizeof(ddi->db_path), db_path, "database path", err,
			      errlen);
	if (r < 0) {
		ddi_free(ddi);
		return r;
	}
	*ret = ddi;
	return 0;
}

const struct ddi_settings *
ddi_settings_get(const struct ddi *ddi)
{
	return &ddi->settings;
}

const char *
ddi_nameserver_get(const struct ddi *ddi)
{
	return ddi->pdns.nameserver;
}

void
ddi_status_get(struct ddi *ddi, struct ddi_status *out)
{
	pthread_mutex_lock(&ddi->lock);
	*out = ddi->status;
	pthread_mutex_unlock(&ddi->lock);
}

/* Record the outcome of one side's pass; `err` is NULL on success. */
void
ddi_service_update(struct ddi *ddi, struct ddi_service_status *s, const char *err,
		   int64_t items)
{
	pthread_mutex_lock(&ddi->lock);
	if (err == NULL) {
		s->in_sync = true;
		s->last_sync_at = time_now();
		s->failures = 0;
		s->last_error[0] = '\0';
		s->items = items;
	} else {
		s->in_sync = false;
		s->failures++;
		snprintf(s->last_error, sizeof(s->last_error), "%s", err);
	}
	pthread_mutex_unlock(&ddi->lock);
}

int64_t
ddi_now_ms(void)
{
	return time_monotonic_ms();
}

/* Schedule a retry of a failed side: 0.5 s, 1 s, 2 s ... up to 30 s. */
void
ddi_retry_schedule(struct ddi_retry *retry)
{
	retry->backoff_ms = retry->backoff_ms == 0 ? BACKOFF_MIN_MS
			    : retry->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
			    : retry->backoff_ms * 2;
	retry->due_ms = ddi_now_ms() + retry->backoff_ms;
	retry->pending = true;
}

void
ddi_retry_reset(struct ddi_retry *retry)
{
	retry->backoff_ms = 0;
	retry->pending = false;
}

/* Milliseconds until the earliest pending retry, resync or poll tick. */
static int
next_timeout(const struct ddi *ddi, int64_t now)
{
	int64_t wait = POLL_MS;

	if (ddi->kea_retry.pending && ddi->kea_retry.due_ms - now < wait)
		wait = ddi->kea_retry.due_ms - now;
	if (ddi->dns_retry.pending && ddi->dns_retry.due_ms - now < wait)
		wait = ddi->dns_retry.due_ms - now;
	return wait < 0 ? 0 : (int)wait;
}

static void
run_pass(struct ddi *ddi, struct store *st, bool resync)
{
	struct ddi_hosts hosts = { 0 };
	int64_t now = ddi_now_ms();
	bool kea_due = resync || !ddi->kea_retry.pending || now >= ddi->kea_retry.due_ms;
	bool dns_due = resync || !ddi->dns_retry.pending || now >= ddi->dns_retry.due_ms;
	int r;

	r = ddi_hosts_read(st, &hosts);
	if (r < 0) {
		log_err("ddi: failed to read hosts from the store: %s", store_error(st));
		return;
	}
	if (kea_due)
		ddi_kea_pass(ddi, st, &hosts, resync);
	/* Leases missed while Outpost or its event socket was down are read on resync. */
	if (resync && ddi->kea_verified)
		ddi_lease_resync(ddi, st);
	if (dns_due)
		ddi_dns_pass(ddi, st, &hosts, resync);
	ddi_hosts_free(&hosts);
}

static void *
manager_main(void *arg)
{
	struct ddi *ddi = arg;
	struct store *st = NULL;
	uint64_t seen = UINT64_MAX;
	int64_t next_resync = 0, next_poll = 0;
	int r;

	r = store_open(ddi->db_path, false, &st);
	if (r < 0) {
		log_err("ddi: failed to open the store %s: %s", ddi->db_path, strerror(-r));
		return NULL;
	}
	log_info("ddi manager started interface=%s subnets=%zu zones=%zu",
		 ddi->settings.interface, ddi->settings.subnet_count, ddi->settings.zone_count);

	while (!atomic_load(&ddi->stop)) {
		struct pollfd fds[2] = {
			{ .fd = ddi->wake_fd, .events = POLLIN },
			{ .fd = ddi->event_fd, .events = POLLIN },
		};
		int64_t now = ddi_now_ms();
		uint64_t generation;
		bool resync = now >= next_resync;
		bool retry_due = (ddi->kea_retry.pending && now >= ddi->kea_retry.due_ms) ||
				 (ddi->dns_retry.pending && now >= ddi->dns_retry.due_ms);

		/* Leases are read before the pass, so a new machine is in its hosts. */
		if (ddi->event_fd >= 0)
			ddi_lease_events(ddi, st);
		if (ddi->lease_poll_ms > 0 && now >= next_poll && ddi->kea_verified) {
			ddi_lease_resync(ddi, st);
			next_poll = ddi_now_ms() + ddi->lease_poll_ms;
		}

		generation = store_generation();
		if (resync || retry_due || generation != seen) {
			seen = generation;
			run_pass(ddi, st, resync);
			if (resync)
				next_resync = ddi_now_ms() + ddi->resync_ms;
		}

		if (poll(fds, 2, next_timeout(ddi, ddi_now_ms())) < 0 && errno != EINTR) {
			log_err("ddi: poll failed: %s", strerror(errno));
			break;
		}
	}

	store_close(st);
	log_info("ddi manager stopped");
	return NULL;
}

int
ddi_start(struct ddi *ddi)
{
	int r;

	if (if_nametoindex(ddi->settings.interface) == 0)
		log_warning("ddi: interface %s does not exist here; Kea serves no client on it "
			    "until it does", ddi->settings.interface);
	r = ddi_tftp_fill(ddi->ipxe_dir, ddi->tftp_root);
	if (r < 0)
		return r;
	if (ddi->config.lease_hook) {
		r = ddi_hook_install(ddi->config.hook_script, ddi->hook_program);
		if (r < 0)
			return r;
		r = ddi_event_socket_open(ddi->event_socket, &ddi->event_fd, &ddi->event_inode);
		if (r < 0)
			return r;
	}
	if (ddi->ra_enabled) {
		r = ddi_ra_start(ddi->settings.interface, &ddi->ra);
		if (r < 0)
			return r;
	}
	ddi->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ddi->wake_fd < 0) {
		r = -errno;
		log_err("ddi: eventfd failed: %s", strerror(errno));
		return r;
	}
	r = pthread_create(&ddi->thread, NULL, manager_main, ddi);
	if (r != 0) {
		log_err("ddi: failed to start the manager thread: %s", strerror(r));
		return -r;
	}
	ddi->running = true;
	return 0;
}

struct ddi *
ddi_free(struct ddi *ddi)
{
	if (ddi == NULL)
		return NULL;
	if (ddi->running) {
		uint64_t one = 1;

		atomic_store(&ddi->stop, true);
		if (write(ddi->wake_fd, &one, sizeof(one)) < 0)
			log_warning("ddi: failed to wake the manager thread: %s", strerror(errno));
		pthread_join(ddi->thread, NULL);
	}
	ddi->ra = ddi_ra_stop(ddi->ra);
	if (ddi->wake_fd >= 0)
		close(ddi->wake_fd);
	if (ddi->event_fd >= 0) {
		struct stat st;

		close(ddi->event_fd);
		/* Another daemon may have replaced a file this one thought stale. */
		if (lstat(ddi->event_socket, &st) == 0 && st.st_ino == ddi->event_inode)
			unlink(ddi->event_socket);
	}
	ddi_dns_state_free(&ddi->dns);
	ddi_pdns_free(&ddi->pdns);
	pthread_mutex_destroy(&ddi->lock);
	free(ddi);
	return NULL;
}
