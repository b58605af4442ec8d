/* SPDX-License-Identifier: Apache-2.0 */
/*
 * outpost-redfish-sim: a Redfish BMC emulator for the QEMU lab. It serves one
 * server's Redfish service over HTTPS and starts, stops and resets that server's QEMU.
 *
 * Usage: outpost-redfish-sim --listen ADDR:PORT --cert FILE --key FILE --user NAME
 *          --password-file FILE --qemu-args FILE --qmp PATH --state-dir DIR
 *          [--profile generic|vm-under-manager] [--log-level LEVEL]
 *   --listen         address and port of the HTTPS listener (port 0: the kernel picks)
 *   --cert, --key    PEM certificate chain and private key
 *   --user, --password-file  the one account; the password is the file's first line
 *   --qemu-args      QEMU's arguments, one per line, without the program name; the
 *                    emulator drops -qmp, -boot and -daemonize because it sets them
 *   --qmp            path of the QMP unix socket the emulator gives QEMU
 *   --state-dir      state.json (boot override, inserted image, BIOS version),
 *                    qemu.log (QEMU's output) and media.iso (the fetched image)
 *   --profile        where VirtualMedia sits: under the ComputerSystem (generic, the
 *                    default) or under the Manager (vm-under-manager)
 * Once it listens it prints "outpost-redfish-sim ready port=N" to stderr. SIGTERM,
 * SIGINT, SIGHUP or SIGQUIT stops QEMU and the emulator. SIGUSR1 powers the server on,
 * as ComputerSystem.Reset with ResetType On does. The QEMU lab's IPMI BMC (ipmi_sim)
 * sends it for an IPMI power on, so both BMCs drive the one QEMU this emulator owns.
 * Every request is logged at info with its method, path and status, never a password
 * or token.
 *
 * Resources under /redfish/v1:
 *   - the service root, which needs no authentication;
 *   - SessionService/Sessions: at most 4 sessions at once; X-Auth-Token or HTTP Basic;
 *   - Systems/1: Boot with ETag and If-Match, and ComputerSystem.Reset (On, ForceOn,
 *     ForceOff, GracefulShutdown, ForceRestart, PowerCycle) with its ResetActionInfo;
 *   - Systems/1/EthernetInterfaces/1, the NIC with the mac= of QEMU's first -device
 *     that has one, so a client can link the BMC to the machine by its MAC;
 *   - Managers/BMC;
 *   - VirtualMedia/CD1 with InsertMedia (http, https or file URLs) and EjectMedia;
 *   - Chassis/1 with Sensors, Thermal and Power;
 *   - UpdateService with FirmwareInventory (BIOS, BMC) and SimpleUpdate, whose task
 *     completes after 3 s and raises the BIOS version;
 *   - TaskService with Tasks and task monitors.
 * Collections show 4 members a page and link the next page with
 * Members@odata.nextLink ($skip). Bodies over 64 KiB get 413.
 *
 * Emulator-only behaviour: PATCH /redfish/v1/Chassis/1/Sensors/{id} with
 * {"Reading": N} sets that sensor's reading, which Sensors, Thermal and Power then
 * report. Real BMCs reject it; tests use it to set the values a client must read.
 *
 * Fleet mode serves COUNT BMCs without QEMU, for benchmarks (details in fleet.c):
 *
 *        outpost-redfish-sim --fleet COUNT --listen IPV4:PORT --cert FILE --key FILE
 *          --user NAME --password-file FILE [--step address|port]
 *          [--stall LIST] [--absent LIST] [--slow LIST] [--delay-ms MS]
 *          [--log-level LEVEL]
 *   --fleet          the number of BMCs, at most 4096
 *   --listen         the first BMC's IPv4 address and port. BMC i (1 to COUNT) takes
 *                    the address i - 1 above it with --step address, the default,
 *                    or the port i - 1 above it with --step port. Every address must
 *                    be on an interface.
 *   --stall LIST     BMCs that listen but never accept: a client connects and gets
 *                    no byte back (LIST: BMC numbers such as 3,10-12)
 *   --absent LIST    BMCs with no listener. When their address is routed but not
 *                    assigned to an interface, a client's SYNs get no reply.
 *   --slow LIST      BMCs that wait --delay-ms (default 2000) before each reply
 * Each BMC has its own sessions, boot override and media. Power is a flag in memory
 * that starts off, and nothing is saved. The BMCs share the certificate and account.
 * Once all listen it prints "outpost-redfish-sim ready bmcs=COUNT first=ADDR:PORT".
 */
#include "redfishsim/sim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "log/log.h"
#include "util/util.h"

/* How often the main thread reaps QEMU and completes tasks when no signal arrives. */
#define TICK_MS 200

struct options {
	const char *listen, *cert, *key, *user, *password_file, *qemu_args, *qmp, *state_dir;
	const char *profile, *log_level;
};

static int
usage(void)
{
	fprintf(stderr,
		"usage: outpost-redfish-sim --listen ADDR:PORT --cert FILE --key FILE --user NAME\n"
		"         --password-file FILE --qemu-args FILE --qmp PATH --state-dir DIR\n"
		"         [--profile generic|vm-under-manager] [--log-level info|debug|...]\n"
		"   or: outpost-redfish-sim --fleet COUNT ... (--fleet alone lists its options)\n");
	return 2;
}

static int
options_parse(int argc, char **argv, struct options *o)
{
	struct {
		const char *name;
		const char **value;
	} table[] = {
		{ "--listen", &o->listen }, { "--cert", &o->cert }, { "--key", &o->key },
		{ "--user", &o->user }, { "--password-file", &o->password_file },
		{ "--qemu-args", &o->qemu_args }, { "--qmp", &o->qmp },
		{ "--state-dir", &o->state_dir }, { "--profile", &o->profile },
		{ "--log-level", &o->log_level },
	};

	for (int i = 1; i < argc; i += 2) {
		size_t j;

		for (j = 0; j < sizeof(table) / sizeof(table[0]); j++) {
			if (strcmp(argv[i], table[j].name) == 0)
				break;
		}
		if (j == sizeof(table) / sizeof(table[0])) {
			fprintf(stderr, "outpost-redfish-sim: unknown option %s\n", argv[i]);
			return -EINVAL;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "outpost-redfish-sim: option %s needs a value\n", argv[i]);
			return -EINVAL;
		}
		*table[j].value = argv[i + 1];
	}
	if (o->listen == NULL || o->cert == NULL || o->key == NULL || o->user == NULL ||
	    o->password_file == NULL || o->qemu_args == NULL || o->qmp == NULL ||
	    o->state_dir == NULL) {
		fprintf(stderr, "outpost-redfish-sim: every option but --profile and "
			"--log-level is required\n");
		return -EINVAL;
	}
	return 0;
}

/* Read the first line of the password file; the password is never printed. */
static int
password_load(struct rfsim *sim, const char *path)
{
	FILE *file = fopen(path, "re");

	if (file == NULL) {
		fprintf(stderr, "outpost-redfish-sim: cannot open the password file %s: %s\n", path,
			strerror(errno));
		return -errno;
	}
	if (fgets(sim->password, sizeof(sim->password), file) == NULL)
		sim->password[0] = '\0';
	fclose(file);
	sim->password[strcspn(sim->password, "\r\n")] = '\0';
	if (sim->password[0] == '\0') {
		fprintf(stderr, "outpost-redfish-sim: the password file %s is empty; write the "
			"password on its first line\n", path);
		return -EINVAL;
	}
	return 0;
}

static void
state_path(const struct rfsim *sim, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", sim->state_dir, name);
}

/* Persist the boot override, the inserted image and the BIOS version across restarts. */
int
rfsim_state_save(struct rfsim *sim)
{
	char path[4096], tmp[4200];
	json_t *state;
	int rc;

	if (sim->fleet)
		return 0;
	state = json_pack("{s:{s:s, s:s, s:s}, s:{s:b, s:s}, s:I}",
			  "boot", "enabled", sim->boot_enabled, "target", sim->boot_target,
			  "mode", sim->boot_mode,
			  "media", "inserted", sim->media_inserted, "image", sim->media_image,
			  "bios_revision", (json_int_t)sim->bios_revision);
	state_path(sim, "state.json", path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	rc = state != NULL ? json_dump_file(state, tmp, JSON_INDENT(1)) : -1;
	json_decref(state);
	if (rc == 0 && rename(tmp, path) == 0)
		return 0;
	log_err("redfish cannot write %s: %s; state changes will not survive a restart", path,
		strerror(errno));
	return -EIO;
}

static void
copy_string(json_t *object, const char *key, char *out, size_t size)
{
	const char *value = json_string_value(json_object_get(object, key));

	if (value != NULL)
		snprintf(out, size, "%s", value);
}

static void
state_load(struct rfsim *sim)
{
	char path[4096];
	json_error_t err;
	json_t *state, *boot, *media;

	state_path(sim, "state.json", path, sizeof(path));
	state = json_load_file(path, 0, &err);
	if (state == NULL) {
		if (access(path, F_OK) == 0)
			log_warning("redfish ignoring %s, which is not valid JSON: %s", path, err.text);
		return;
	}
	boot = json_object_get(state, "boot");
	copy_string(boot, "enabled", sim->boot_enabled, sizeof(sim->boot_enabled));
	copy_string(boot, "target", sim->boot_target, sizeof(sim->boot_target));
	copy_string(boot, "mode", sim->boot_mode, sizeof(sim->boot_mode));
	media = json_object_get(state, "media");
	sim->media_inserted = json_is_true(json_object_get(media, "inserted"));
	copy_string(media, "image", sim->media_image, sizeof(sim->media_image));
	sim->bios_revision = (unsigned)json_integer_value(json_object_get(state, "bios_revision"));
	json_decref(state);
}

static int
sim_init(struct rfsim *sim, const struct options *o)
{
	char err[512];
	int rc;

	pthread_mutex_init(&sim->lock, NULL);
	sim->listen = o->listen;
	sim->user = o->user;
	sim->qmp_path = o->qmp;
	sim->state_dir = o->state_dir;
	if (o->profile == NULL || strcmp(o->profile, "generic") == 0) {
		sim->profile = RFSIM_PROFILE_GENERIC;
	} else if (strcmp(o->profile, "vm-under-manager") == 0) {
		sim->profile = RFSIM_PROFILE_VM_UNDER_MANAGER;
	} else {
		fprintf(stderr, "outpost-redfish-sim: invalid --profile %s; use generic or "
			"vm-under-manager\n", o->profile);
		return -EINVAL;
	}
	snprintf(sim->boot_enabled, sizeof(sim->boot_enabled), "Disabled");
	snprintf(sim->boot_target, sizeof(sim->boot_target), "None");
	rfsim_sensors_init(sim);
	if (mkdir(o->state_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "outpost-redfish-sim: cannot create the state directory %s: %s\n",
			o->state_dir, strerror(errno));
		return -errno;
	}
	rc = password_load(sim, o->password_file);
	if (rc < 0)
		return rc;
	rc = rfsim_qemu_args_load(sim, o->qemu_args, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "outpost-redfish-sim: %s\n", err);
		return rc;
	}
	/* The firmware in the arguments decides the mode until a client sets one. */
	snprintf(sim->boot_mode, sizeof(sim->boot_mode), "%s", sim->uefi ? "UEFI" : "Legacy");
	state_load(sim);
	return 0;
}

/* Power on for SIGUSR1. Failures are logged, because the sender cannot receive them. */
static void
power_on_signaled(struct rfsim *sim)
{
	char err[512];

	pthread_mutex_lock(&sim->lock);
	/*
	 * In an IPMI power cycle, QEMU exits just before the power on, maybe before this
	 * thread has reaped it. An unreaped QEMU would make the power on a no-op.
	 */
	rfsim_qemu_reap(sim);
	log_info("redfish power on requested by SIGUSR1");
	if (rfsim_power(sim, "On", err, sizeof(err)) < 0)
		log_err("redfish power on requested by SIGUSR1 failed: %s", err);
	pthread_mutex_unlock(&sim->lock);
}

static int
server_start(struct rfsim *sim, const struct options *o, struct http_server **ret)
{
	struct http_listener_config cfg = {
		.kind = HTTP_LISTENER_API,
		.listen = o->listen,
		.threads = 2,
		.max_connections = 64,
		.max_header_bytes = 16 * 1024,
		.max_body_bytes = RFSIM_MAX_BODY_BYTES,
		.max_buffered_body_bytes = 4 * RFSIM_MAX_BODY_BYTES,
		.timeout_seconds = 60,
		.header_timeout_seconds = 10,
		.handler = rfsim_handle,
		.precheck = rfsim_precheck,
		.ctx = sim,
	};
	char *cert = NULL, *key = NULL;
	int rc;

	rc = http_tls_load(o->state_dir, o->cert, o->key, &cert, &key);
	if (rc < 0) {
		fprintf(stderr, "outpost-redfish-sim: cannot read the certificate %s or key %s: "
			"%s\n", o->cert, o->key, strerror(-rc));
		return rc;
	}
	cfg.cert_pem = cert;
	cfg.key_pem = key;
	rc = http_start(&cfg, ret);
	if (key != NULL) {
		OPENSSL_cleanse(key, strlen(key));
		free(key);
	}
	free(cert);
	return rc;
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	static struct rfsim sim;
	struct http_server *server = NULL;
	enum log_level level = LOG_LEVEL_INFO;
	sigset_t signals;
	int sig, rc;

	if (rfsim_fleet_requested(argc, argv))
		return rfsim_fleet_main(argc, argv);
	if (options_parse(argc, argv, &o) < 0)
		return usage();
	if (o.log_level != NULL && log_level_parse(o.log_level, &level) < 0) {
		fprintf(stderr, "outpost-redfish-sim: invalid --log-level %s; use err, warning, "
			"notice, info or debug\n", o.log_level);
		return 2;
	}
	log_setup(level, LOG_TARGET_STDERR);
	/* Before any thread starts, as libcurl requires. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (sim_init(&sim, &o) < 0)
		return 1;

	/* Blocked before the HTTP threads start, so only sigtimedwait below receives them. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGHUP);
	sigaddset(&signals, SIGQUIT);
	sigaddset(&signals, SIGCHLD);
	sigaddset(&signals, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = server_start(&sim, &o, &server);
	if (rc < 0)
		return 1;
	log_info("redfish emulator listening listen=%s profile=%s qmp=%s", o.listen,
		 sim.profile == RFSIM_PROFILE_GENERIC ? "generic" : "vm-under-manager", o.qmp);
	fprintf(stderr, "outpost-redfish-sim ready port=%u\n", (unsigned)http_port(server));

	for (;;) {
		struct timespec tick = { 0, TICK_MS * 1000000L };

		sig = sigtimedwait(&signals, NULL, &tick);
		/* Any of these would otherwise end the emulator and leave QEMU running. */
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT)
			break;
		if (sig == SIGUSR1) {
			power_on_signaled(&sim);
			continue;
		}
		pthread_mutex_lock(&sim.lock);
		rfsim_qemu_reap(&sim);
		rfsim_tasks_advance(&sim);
		pthread_mutex_unlock(&sim.lock);
	}

	log_info("redfish emulator stopping on signal %d", sig);
	http_stop(server);
	pthread_mutex_lock(&sim.lock);
	rfsim_qemu_stop(&sim);
	pthread_mutex_unlock(&sim.lock);
	for (size_t i = 0; i < sim.qemu_arg_count; i++)
		free(sim.qemu_args[i]);
	free(sim.qemu_args);
	curl_global_cleanup();
	return 0;
}
