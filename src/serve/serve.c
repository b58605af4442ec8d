/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's wiring. Start-up order matters: the store is migrated before any
 * listener accepts a request, and the admin token exists before the API listens.
 * Signals are blocked in every thread and taken with sigwait in the main thread, so
 * MHD's workers are never interrupted and shutdown runs in one place.
 */
#include "serve/serve.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "boot/boot.h"
#include "conf/conf.h"
#include "http/http.h"
#include "log/log.h"
#include "store/store.h"


struct daemon {
	struct conf conf;
	struct store *store;           /* the main thread's connection */
	struct store_pool *pool;       /* worker threads' connections */
	struct boot *boot;
	struct api *api;
	struct http_server *boot_http;
	struct http_server *api_http;
	struct http_server *unix_http;
	char *tls_cert;
	char *tls_key;
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

static unsigned
worker_threads(const struct conf *conf)
{
	long cpus;

	if (conf->http_threads > 0)
		return (unsigned)conf->http_threads;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus > 0 ? (unsigned)cpus : 1;
}

static int
start_listener(struct daemon *d, enum http_listener_kind kind, const char *listen,
	       http_handler handler, void *ctx, struct http_server **ret)
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
	};
	int r;

	/* The unix socket only serves the local CLI, so one thread is plenty. */
	if (kind == HTTP_LISTENER_UNIX)
		cfg.threads = 1;

	r = http_start(&cfg, ret);
	if (r < 0)
		log_err("failed to start listener on %s: %s", listen, strerror(-r));
	return r;
}

static int
daemon_start(struct daemon *d)
{
	char path[PATH_MAX];
	int r;

	r = ensure_dir(d->conf.state_dir, 0700);
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

	snprintf(path, sizeof(path), "%s/admin.token", d->conf.state_dir);
	r = api_bootstrap_token(d->store, path);
	if (r < 0) {
		log_err("failed to create the admin token in %s: %s", path, strerror(-r));
		return r;
	}

	r = http_tls_load(d->conf.state_dir, d->conf.tls_cert, d->conf.tls_key, &d->tls_cert,
			  &d->tls_key);
	if (r < 0)
		return r;

	r = boot_new(&d->conf, d->pool, &d->boot);
	if (r < 0)
		return r;
	r = api_new(&d->conf, d->pool, &d->api);
	if (r < 0)
		return r;

	r = start_listener(d, HTTP_LISTENER_BOOT, d->conf.boot_listen, boot_handle, d->boot,
			   &d->boot_http);
	if (r < 0)
		return r;
	r = start_listener(d, HTTP_LISTENER_API, d->conf.api_listen, api_handle, d->api,
			   &d->api_http);
	if (r < 0)
		return r;
	r = ensure_parent_dir(d->conf.api_socket);
	if (r < 0)
		return r;
	return start_listener(d, HTTP_LISTENER_UNIX, d->conf.api_socket, api_handle, d->api,
			      &d->unix_http);
}

/* Stop listeners first so no handler runs while the modules behind them are freed. */
static void
daemon_stop(struct daemon *d)
{
	d->unix_http = http_stop(d->unix_http);
	d->api_http = http_stop(d->api_http);
	d->boot_http = http_stop(d->boot_http);
	d->api = api_free(d->api);
	d->boot = boot_free(d->boot);
	d->pool = store_pool_free(d->pool);
	d->store = store_close(d->store);
	free(d->tls_cert);
	if (d->tls_key != NULL)
		explicit_bzero(d->tls_key, strlen(d->tls_key));
	free(d->tls_key);
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
	struct daemon d = { 0 };
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
