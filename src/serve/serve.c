/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's wiring. Start-up order matters: the store is migrated before any
 * listener accepts a request, and the admin token exists before the API listens.
 * Signals are blocked in every thread and taken with sigwait in the main thread, so
 * MHD's workers are never interrupted and shutdown runs in one place.
 */
#include "serve/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "bmcman/bmcman.h"
#include "boot/boot.h"
#include "bundle/bundle.h"
#include "conf/conf.h"
#include "ddi/ddi.h"
#include "deploy/deploy.h"
#include "http/http.h"
#include "log/log.h"
#include "media/media.h"
#include "store/store.h"
#include "util/util.h"

/* The file in state_dir whose lock marks the daemon that owns the directory. */
#define STATE_LOCK_FILE "outpost.lock"

struct daemon {
	struct conf conf;
	struct store *store;           /* the main thread's connection */
	struct store_pool *pool;       /* worker threads' connections */
	struct boot *boot;
	struct api *api;
	struct ddi *ddi;               /* NULL unless [ddi] enabled */
	struct deploy *deploy;
	struct media *media;           /* virtual-media ISOs */
	struct bmcman *bmcman;
	struct http_server *boot_http;
	struct http_server *api_http;
	struct http_server *unix_http;
	char *tls_cert;
	char *tls_key;
	int lock_fd;                   /* locked STATE_LOCK_FILE, or -1 */
};

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: outpost serve [--config PATH]\n"
		"\n"
		"Run the Outpost daemon in the foreground until SIGTERM or SIGINT.\n"
		"\n"
		"  -c, --config PATH  configuration file (default %s)\n"
		"  -h, --help         show this help\n",
		CONF_DEFAULT_PATH);
}

/* Create `path` with `mode` unless it exists as a directory. */
static int
ensure_dir(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST) {
		int r = -errno;

		log_err("failed to create directory %s: %s", path, strerror(errno));
		return r;
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_err("%s exists and is not a directory", path);
		return -ENOTDIR;
	}
	return 0;
}

/* Create the parent directory of a socket path, like `mkdir -p` for one level. */
static int
ensure_parent_dir(const char *path)
{
	char parent[PATH_MAX];
	char *slash;

	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (slash == NULL || slash == parent)
		return 0;
	*slash = '\0';
	return ensure_dir(parent, 0755);
}

/*
 * Check that the state directory belongs to the daemon's user or root. Its owner can
 * swap the store or the admin token, and a directory under a shared path such as
 * /tmp may have been created by another user first.
 */
static int
state_dir_check(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		int r = -errno;

		log_err("failed to stat state directory %s: %s", path, strerror(errno));
		return r;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		log_err("state directory %s is owned by uid %u, not by the daemon's uid %u; "
			"chown it or set another state_dir", path, (unsigned)st.st_uid,
			(unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

/* Log the daemon that holds the state lock, by the pid it wrote into the lock file. */
static void
state_lock_report(int fd, const char *state_dir)
{
	char text[32];
	uint64_t pid;
	ssize_t n;

	n = pread(fd, text, sizeof(text) - 1, 0);
	if (n > 0) {
		text[n] = '\0';
		text[strcspn(text, "\n")] = '\0';
	}

	/* The holder writes its pid just after it takes the lock, so the file may be empty. */
	if (n > 0 && uint_parse(text, 1, INT32_MAX, &pid) == 0)
		log_err("another outpost daemon (pid %llu) is using %s; stop it first",
			(unsigned long long)pid, state_dir);
	else
		log_err("another outpost daemon is using %s; stop it first", state_dir);
}

/*
 * Take an exclusive lock on <state_dir>/outpost.lock and keep it until the daemon
 * stops, so two daemons never share a store, a token or a socket. The lock belongs to
 * the open file, so the kernel releases it when the process dies, even on SIGKILL, and
 * the file is never removed. The file contains the holder's pid for a second daemon's
 * message.
 */
static int
state_dir_lock(struct daemon *d)
{
	char path[PATH_MAX], pid_text[32];
	int fd, len, r;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", d->conf.state_dir,
			     STATE_LOCK_FILE) >= sizeof(path)) {
		log_err("state directory path too long: %s", d->conf.state_dir);
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0) {
		r = -errno;
		log_err("failed to open lock file %s: %s", path, strerror(errno));
		return r;
	}

	/* Fail at once instead of waiting: the other daemon may run for months. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		if (r == -EWOULDBLOCK)
			state_lock_report(fd, d->conf.state_dir);
		else
			log_err("failed to lock %s: %s", path, strerror(errno));
		close(fd);
		return r == -EWOULDBLOCK ? -EBUSY : r;
	}

	/* Replace the pid that an earlier daemon left in the file. */
	len = snprintf(pid_text, sizeof(pid_text), "%ld\n", (long)getpid());
	errno = 0;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid_text, (size_t)len, 0) != len) {
		r = errno != 0 ? -errno : -EIO;
		log_err("failed to write lock file %s: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	d->lock_fd = fd;
	return 0;
}

/*
 * Copy the address of an "address:port" or "[address]:port" listen address to `out`
 * when it is one specific IP address, not the wildcard 0.0.0.0 or ::. A zone such as
 * "%eth0" is dropped, because certificates name addresses without one.
 */
static bool
listen_specific_address(const char *listen, char out[INET6_ADDRSTRLEN])
{
	const char *start = listen, *end, *zone;
	struct in6_addr addr6;
	struct in_addr addr4;
	size_t len;

	if (listen[0] == '[') {
		start = listen + 1;
		end = strchr(start, ']');
	} else {
		end = strrchr(listen, ':');
	}
	if (end == NULL)
		return false;
	len = (size_t)(end - start);
	zone = memchr(start, '%', len);
	if (zone != NULL)
		len = (size_t)(zone - start);
	if (len == 0 || len >= INET6_ADDRSTRLEN)
		return false;
	memcpy(out, start, len);
	out[len] = '\0';

	if (inet_pton(AF_INET, out, &addr4) == 1)
		return addr4.s_addr != htonl(INADDR_ANY);
	if (inet_pton(AF_INET6, out, &addr6) == 1)
		return !IN6_IS_ADDR_UNSPECIFIED(&addr6);
	return false;
}

/*
 * Load the API's certificate and key. A generated certificate also names the API
 * listen address, when it is a specific one, and every [api] tls_names entry, so
 * remote clients can verify it by the name or address they connect to.
 */
static int
tls_load(struct daemon *d)
{
	const char *names[CONF_NAMES_MAX + 2];
	char address[INET6_ADDRSTRLEN];
	size_t count = 0;

	if (listen_specific_address(d->conf.api_listen, address))
		names[count++] = address;
	for (size_t i = 0; d->conf.tls_names != NULL && d->conf.tls_names[i] != NULL &&
			   i < CONF_NAMES_MAX; i++)
		names[count++] = d->conf.tls_names[i];
	names[count] = NULL;

	return http_tls_load_names(d->conf.state_dir, d->conf.tls_cert, d->conf.tls_key,
				   names, &d->tls_cert, &d->tls_key);
}

static unsigned
worker_threads(const struct conf *conf)
{
	long cpus;

	if (conf->http_threads > 0)
		return (unsigned)conf->http_threads;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus > 0 ? (unsigned)cpus : 1;
}

/* Boot listener paths whose next segment is a deployment's token. */
static const char *const boot_secret_prefixes[] = { CLOUD_INIT_PREFIX, MEDIA_PREFIX, NULL };

static int
start_listener(struct daemon *d, enum http_listener_kind kind, const char *listen,
	       http_handler handler, http_precheck precheck, void *ctx, struct http_server **ret)
{
	struct http_listener_config cfg = {
		.kind = kind,
		.listen = listen,
		.cert_pem = d->tls_cert,
		.key_pem = d->tls_key,
		.threads = worker_threads(&d->conf),
		.max_connections = (unsigned)d->conf.http_max_connections,
		.max_header_bytes = d->conf.http_max_header_bytes,
		.max_body_bytes = d->conf.http_max_body_bytes,
		.timeout_seconds = (unsigned)d->conf.http_timeout_seconds,
		.handler = handler,
		.ctx = ctx,
		.methods = HTTP_METHODS_ALL,
		.max_buffered_body_bytes = d->conf.http_max_buffered_body_bytes,
		.header_timeout_seconds = (unsigned)d->conf.http_header_timeout_seconds,
		.max_connections_per_ip = (unsigned)d->conf.http_max_connections_per_ip,
		.precheck = precheck,
	};
	int r;

	/* The unix socket only serves the local CLI, so one thread is plenty. */
	if (kind == HTTP_LISTENER_UNIX)
		cfg.threads = 1;

	/*
	 * Boot clients mostly fetch scripts and files, and their requests are small: iPXE
	 * sends about 300 bytes in four query arguments and five headers, so smaller limits
	 * bound what a client can make the loop buffer. Only the deploy agent's reports and cloud-init's phone-home have a body,
	 * and boot_precheck turns away any POST without a valid token before it.
	 */
	if (kind == HTTP_LISTENER_BOOT) {
		cfg.methods = HTTP_METHOD_GET | HTTP_METHOD_HEAD | HTTP_METHOD_POST;
		if (cfg.max_body_bytes > DEPLOY_BODY_MAX)
			cfg.max_body_bytes = DEPLOY_BODY_MAX;
		cfg.max_header_bytes = d->conf.boot_max_header_bytes;
		cfg.max_fields = BOOT_MAX_FIELDS;
		cfg.secret_path_prefixes = boot_secret_prefixes;
	}

	r = http_start(&cfg, ret);
	if (r < 0)
		log_err("failed to start listener on %s: %s", listen, strerror(-r));
	return r;
}

/* Eject the CD of a virtual-media deployment whose image is written. */
static void
media_done(void *ctx, struct store *st, int64_t machine_id, int64_t deployment_id)
{
	char err[BMC_ERR_SIZE];
	int64_t op;

	if (machine_id <= 0)
		return;
	if (bmcman_queue_machine(ctx, st, "system:deploy", machine_id, BMC_OP_MEDIA_EJECT, NULL,
				 &op, err, sizeof(err)) < 0)
		log_warning("deploy: deployment=%" PRId64 " machine=%" PRId64 ": cannot eject "
			    "its virtual media: %s", deployment_id, machine_id, err);
}

/* The BMC manager's view of media_url: a deployment's ISO URL, for vmedia-boot. */
static int
media_url_of(void *ctx, int64_t deployment_id, char *url, size_t size)
{
	char full[MEDIA_URL_SIZE];
	int r = media_url(ctx, deployment_id, full);

	if (r == 0 && (size_t)snprintf(url, size, "%s", full) >= size)
		r = -E2BIG;
	explicit_bzero(full, sizeof(full));
	return r;
}

static int
daemon_start(struct daemon *d)
{
	char path[PATH_MAX];
	int r;

	/* Check the DHCP and DNS settings before anything is created. */
	if (d->conf.ddi_enabled) {
		char err[512];

		snprintf(path, sizeof(path), "%s/outpost.db", d->conf.state_dir);
		r = ddi_new(&d->conf, path, &d->ddi, err, sizeof(err));
		if (r < 0) {
			log_err("invalid DHCP and DNS settings: %s", err);
			return r;
		}
	}

	r = ensure_dir(d->conf.state_dir, 0700);
	if (r < 0)
		return r;
	r = state_dir_check(d->conf.state_dir);
	if (r < 0)
		return r;

	/* The lock comes before the store and the socket, which belong to its holder. */
	r = state_dir_lock(d);
	if (r < 0)
		return r;

	r = ensure_dir(d->conf.artifact_dir, 0755);
	if (r < 0)
		return r;

	/* Open the store and apply migrations before anything can read it. */
	snprintf(path, sizeof(path), "%s/outpost.db", d->conf.state_dir);
	r = store_open(path, false, &d->store);
	if (r < 0) {
		log_err("failed to open store %s: %s", path, strerror(-r));
		return r;
	}
	log_info("store open path=%s schema_version=%d", path, store_schema_version(d->store));
	r = store_pool_new(path, &d->pool);
	if (r < 0)
		return r;

	/* A load or removal that a crash interrupted leaves files that no row refers to. */
	r = bundle_store_recover(d->store, d->conf.artifact_dir);
	if (r < 0)
		return r;

	snprintf(path, sizeof(path), "%s/admin.token", d->conf.state_dir);
	r = api_bootstrap_token(d->store, path);
	if (r < 0) {
		log_err("failed to create the admin token in %s: %s", path, strerror(-r));
		return r;
	}

	r = tls_load(d);
	if (r < 0)
		return r;

	r = boot_new(&d->conf, d->pool, &d->boot);
	if (r < 0)
		return r;
	r = deploy_new(&d->conf, d->pool, d->ddi, &d->deploy);
	if (r < 0)
		return r;
	boot_set_deploy(d->boot, d->deploy);
	/* After the store: stale ISOs are found by their deployments' states. */
	r = media_new(&d->conf, d->pool, d->deploy, &d->media);
	if (r < 0)
		return r;
	deploy_set_media(d->deploy, d->media);
	boot_set_media(d->boot, d->media);
	r = api_new(&d->conf, d->pool, &d->api);
	if (r < 0)
		return r;
	api_set_ddi(d->api, d->ddi);
	api_set_media(d->api, d->media);

	/* Interrupted operations are failed before the API can queue new ones. */
	r = bmcman_new(&d->conf, d->pool, &d->bmcman);
	if (r == 0) {
		bmcman_set_media_url(d->bmcman, media_url_of, d->media);
		r = bmcman_start(d->bmcman);
	}
	if (r < 0)
		return r;
	api_set_bmcman(d->api, d->bmcman);
	deploy_set_media_done(d->deploy, media_done, d->bmcman);

	r = start_listener(d, HTTP_LISTENER_BOOT, d->conf.boot_listen, boot_handle, boot_precheck,
			   d->boot, &d->boot_http);
	if (r < 0)
		return r;
	r = start_listener(d, HTTP_LISTENER_API, d->conf.api_listen, api_handle, api_precheck,
			   d->api, &d->api_http);
	if (r < 0)
		return r;
	r = ensure_parent_dir(d->conf.api_socket);
	if (r < 0)
		return r;
	r = start_listener(d, HTTP_LISTENER_UNIX, d->conf.api_socket, api_handle, api_precheck,
			   d->api, &d->unix_http);
	if (r < 0)
		return r;
	r = deploy_start(d->deploy);
	if (r < 0 || d->ddi == NULL)
		return r;
	r = ensure_parent_dir(d->conf.kea_event_socket);
	if (r < 0)
		return r;
	return ddi_start(d->ddi);
}

/* Stop listeners first so no handler runs while the modules behind them are freed. */
static void
daemon_stop(struct daemon *d)
{
	d->unix_http = http_stop(d->unix_http);
	d->api_http = http_stop(d->api_http);
	d->boot_http = http_stop(d->boot_http);
	d->deploy = deploy_free(d->deploy);
	/* After the deploy module, whose watchdog removes the ISOs of deployments it fails. */
	d->media = media_free(d->media);
	d->bmcman = bmcman_free(d->bmcman);
	d->ddi = ddi_free(d->ddi);
	d->api = api_free(d->api);
	d->boot = boot_free(d->boot);
	d->pool = store_pool_free(d->pool);
	d->store = store_close(d->store);
	free(d->tls_cert);
	if (d->tls_key != NULL)
		explicit_bzero(d->tls_key, strlen(d->tls_key));
	free(d->tls_key);

	/* Released last, once the socket is gone and the store is closed. */
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	d->lock_fd = -1;
	conf_free(&d->conf);
}

int
serve_main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = CONF_DEFAULT_PATH;
	int config_required = 0;
	struct daemon d = { .lock_fd = -1 };
	char err[512];
	sigset_t signals;
	int opt, signo, r;

	while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			config_required = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "outpost serve: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	if (conf_load(&d.conf, config_path, config_required, err, sizeof(err)) < 0) {
		fprintf(stderr, "outpost serve: %s\n", err);
		conf_free(&d.conf);
		return 1;
	}
	log_setup(d.conf.log_level, d.conf.log_target);

	/* Block the signals before any thread starts, so every thread inherits the mask. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	log_notice("outpost %s starting config=%s", OUTPOST_VERSION, config_path);
	r = daemon_start(&d);
	if (r < 0) {
		log_err("start-up failed: %s", strerror(-r));
		daemon_stop(&d);
		return 1;
	}
	/* The bound ports, not the configured ones: tests listen on port 0. */
	log_notice("outpost ready boot_port=%u api_port=%u socket=%s", http_port(d.boot_http),
		   http_port(d.api_http), d.conf.api_socket);

	for (;;) {
		if (sigwait(&signals, &signo) != 0)
			continue;
		if (signo == SIGHUP) {
			/* NOTE: configuration reload is not implemented; a restart applies changes. */
			log_notice("SIGHUP received, ignoring: restart the daemon to apply changes");
			continue;
		}
		break;
	}

	log_notice("outpost stopping signal=%s", strsignal(signo));
	daemon_stop(&d);
	log_notice("outpost stopped");
	return 0;
}
