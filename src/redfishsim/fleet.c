/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fleet mode of the Redfish emulator: one process serves COUNT BMCs without QEMU, for
 * benchmarks that need hundreds of BMCs at once. Each BMC is a struct rfsim of its own
 * with its own HTTPS listener, because the HTTP module passes a handler the context of
 * its listener and not the local address of the connection. The BMCs share the
 * certificate and the account, and run the single-BMC request handlers unchanged,
 * except that:
 *   - power is a flag in memory (rfsim_fleet_power), starting off;
 *   - the boot override, the inserted image and the BIOS version are not saved;
 *   - InsertMedia records an http or https URL without fetching the image.
 *
 * BMC number i (1 to COUNT) listens on the first address plus i - 1 (--step address)
 * or on the first port plus i - 1 (--step port). It reports the UUID
 * 00000000-0000-4000-8000-<i as 12 hex digits>, the serial number FLEET-<i> and sensor
 * readings scaled per BMC (readings_set), so a client that mixes BMCs up is caught.
 *
 * Each BMC costs one listening socket, one MHD thread with its epoll descriptor, and
 * its struct rfsim (19 KiB, mostly task slots that stay untouched). 500 idle BMCs
 * took 29 MiB resident (VmRSS) on an x86-64 Debian 12 machine.
 */
#include "redfishsim/sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log/log.h"
#include "util/util.h"

/* Above this many BMCs one process runs out of descriptors and threads first. */
#define FLEET_MAX_BMCS 4096
/* Pending connections a stalled BMC's socket queues before the kernel drops SYNs. */
#define FLEET_STALL_BACKLOG 8
#define FLEET_DEFAULT_DELAY_MS 2000

enum fleet_fault {
	FLEET_HEALTHY,
	FLEET_STALL,        /* listens and never accepts: connections get no byte back */
	FLEET_ABSENT,       /* nothing listens on its address or port */
	FLEET_SLOW,         /* every request waits delay_ms before it is handled */
};

struct fleet_bmc {
	struct rfsim sim;
	unsigned number;                 /* 1 to COUNT */
	enum fleet_fault fault;
	unsigned delay_ms;
	char listen[64];                 /* "address:port" */
	struct http_server *server;      /* FLEET_HEALTHY and FLEET_SLOW */
	int stall_fd;                    /* FLEET_STALL, else -1 */
};

struct fleet_options {
	const char *count, *listen, *step, *cert, *key, *user, *password_file;
	const char *stall, *absent, *slow, *delay_ms, *log_level;
};

static int
fleet_usage(void)
{
	fprintf(stderr,
		"usage: outpost-redfish-sim --fleet COUNT --listen IPV4:PORT --cert FILE --key FILE\n"
		"         --user NAME --password-file FILE [--step address|port]\n"
		"         [--stall LIST] [--absent LIST] [--slow LIST] [--delay-ms MS]\n"
		"         [--log-level info|debug|...]\n"
		"  LIST: BMC numbers from 1 to COUNT, such as 3,10-12\n");
	return 2;
}

bool
rfsim_fleet_requested(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--fleet") == 0)
			return true;
	return false;
}

static int
options_parse(int argc, char **argv, struct fleet_options *o)
{
	struct {
		const char *name;
		const char **value;
	} table[] = {
		{ "--fleet", &o->count }, { "--listen", &o->listen }, { "--step", &o->step },
		{ "--cert", &o->cert }, { "--key", &o->key }, { "--user", &o->user },
		{ "--password-file", &o->password_file }, { "--stall", &o->stall },
		{ "--absent", &o->absent }, { "--slow", &o->slow }, { "--delay-ms", &o->delay_ms },
		{ "--log-level", &o->log_level },
	};
	size_t count = sizeof(table) / sizeof(table[0]);

	for (int i = 1; i < argc; i += 2) {
		size_t j;

		for (j = 0; j < count && strcmp(argv[i], table[j].name) != 0; j++)
			;
		if (j == count) {
			fprintf(stderr, "outpost-redfish-sim: unknown fleet option %s\n", argv[i]);
			return -EINVAL;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "outpost-redfish-sim: option %s needs a value\n", argv[i]);
			return -EINVAL;
		}
		*table[j].value = argv[i + 1];
	}
	if (o->listen == NULL || o->cert == NULL || o->key == NULL || o->user == NULL ||
	    o->password_file == NULL) {
		fprintf(stderr, "outpost-redfish-sim: fleet mode requires --listen, --cert, --key, "
			"--user and --password-file\n");
		return -EINVAL;
	}
	return 0;
}

/* Mark the BMCs a list such as "3,10-12" names with `fault`. */
static int
faults_parse(const char *list, enum fleet_fault fault, const char *option,
	     struct fleet_bmc *bmcs, unsigned count)
{
	char *copy, *item, *save = NULL;
	int rc = 0;

	if (list == NULL)
		return 0;
	copy = strdup(list);
	if (copy == NULL)
		return -ENOMEM;
	for (item = strtok_r(copy, ",", &save); item != NULL && rc == 0;
	     item = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(item, '-');
		uint64_t first, last;

		if (dash != NULL)
			*dash = '\0';
		if (uint_parse(item, 1, count, &first) < 0 ||
		    uint_parse(dash != NULL ? dash + 1 : item, first, count, &last) < 0) {
			fprintf(stderr, "outpost-redfish-sim: invalid %s entry in \"%s\": use BMC "
				"numbers from 1 to %u, single or as FIRST-LAST\n", option, list, count);
			rc = -EINVAL;
			break;
		}
		for (uint64_t n = first; n <= last; n++) {
			if (bmcs[n - 1].fault != FLEET_HEALTHY) {
				fprintf(stderr, "outpost-redfish-sim: BMC %llu is in more than one of "
					"--stall, --absent and --slow\n", (unsigned long long)n);
				rc = -EINVAL;
				break;
			}
			bmcs[n - 1].fault = fault;
		}
	}
	free(copy);
	return rc;
}

/* Parse "A.B.C.D:PORT" into host-order parts. */
static int
listen_parse(const char *text, uint32_t *address, uint16_t *port)
{
	const char *colon = strrchr(text, ':');
	char host[INET_ADDRSTRLEN];
	struct in_addr in;
	uint64_t value;

	if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
		return -EINVAL;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
	if (inet_pton(AF_INET, host, &in) != 1 || uint_parse(colon + 1, 1, 65535, &value) < 0)
		return -EINVAL;
	*address = ntohl(in.s_addr);
	*port = (uint16_t)value;
	return 0;
}

/* Write each BMC's "address:port", checking that the last one still exists. */
static int
listen_assign(struct fleet_bmc *bmcs, unsigned count, const char *first, bool by_port)
{
	uint32_t address;
	uint16_t port;

	if (listen_parse(first, &address, &port) < 0) {
		fprintf(stderr, "outpost-redfish-sim: invalid --listen %s in fleet mode: use an "
			"IPv4 address and a port from 1 to 65535, such as 10.201.0.1:443\n", first);
		return -EINVAL;
	}
	if ((by_port && (uint64_t)port + count - 1 > 65535) ||
	    (!by_port && (uint64_t)address + count - 1 > UINT32_MAX)) {
		fprintf(stderr, "outpost-redfish-sim: %u BMCs from %s run past the last %s; start "
			"lower\n", count, first, by_port ? "port" : "IPv4 address");
		return -EINVAL;
	}
	for (unsigned i = 0; i < count; i++) {
		struct in_addr in = { htonl(by_port ? address : address + i) };
		char host[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &in, host, sizeof(host));
		snprintf(bmcs[i].listen, sizeof(bmcs[i].listen), "%s:%u", host,
			 (unsigned)(by_port ? port + i : port));
	}
	return 0;
}

static int
password_load(char *out, size_t size, const char *path)
{
	FILE *file = fopen(path, "re");

	if (file == NULL) {
		fprintf(stderr, "outpost-redfish-sim: cannot open the password file %s: %s\n", path,
			strerror(errno));
		return -errno;
	}
	if (fgets(out, (int)size, file) == NULL)
		out[0] = '\0';
	fclose(file);
	out[strcspn(out, "\r\n")] = '\0';
	if (out[0] == '\0') {
		fprintf(stderr, "outpost-redfish-sim: the password file %s is empty; write the "
			"password on its first line\n", path);
		return -EINVAL;
	}
	return 0;
}

/*
 * Scale BMC i's readings by 1 + (i mod 20) / 100, rounded to 0.1, so neighbouring BMCs
 * report different values: CPU1Temp is 40.0 on BMC 20 and 40.4 on BMC 1.
 */
static void
readings_set(struct rfsim *sim, unsigned number)
{
	double scale = 1.0 + (double)(number % 20) / 100.0;

	rfsim_sensors_init(sim);
	/* The readings are positive, so adding 0.5 and truncating rounds; no libm needed. */
	for (size_t i = 0; i < RFSIM_SENSOR_COUNT; i++)
		sim->sensors[i].reading =
			(double)(long)(sim->sensors[i].reading * scale * 10.0 + 0.5) / 10.0;
}

static void
bmc_init(struct fleet_bmc *bmc, unsigned number, const char *user, const char *password,
	 unsigned delay_ms)
{
	struct rfsim *sim = &bmc->sim;

	pthread_mutex_init(&sim->lock, NULL);
	sim->fleet = true;
	sim->listen = bmc->listen;
	sim->user = user;
	snprintf(sim->password, sizeof(sim->password), "%s", password);
	sim->qmp_path = "";
	sim->state_dir = "";
	sim->profile = RFSIM_PROFILE_GENERIC;
	sim->q35 = true;
	sim->uefi = true;
	snprintf(sim->serial, sizeof(sim->serial), "FLEET-%05u", number);
	snprintf(sim->uuid, sizeof(sim->uuid), "00000000-0000-4000-8000-%012x", number);
	snprintf(sim->boot_enabled, sizeof(sim->boot_enabled), "Disabled");
	snprintf(sim->boot_target, sizeof(sim->boot_target), "None");
	snprintf(sim->boot_mode, sizeof(sim->boot_mode), "UEFI");
	readings_set(sim, number);
	bmc->number = number;
	bmc->stall_fd = -1;
	bmc->delay_ms = bmc->fault == FLEET_SLOW ? delay_ms : 0;
}

static void
fleet_handle(struct http_request *req, void *ctx)
{
	struct fleet_bmc *bmc = ctx;

	/* Without the state mutex, so a slow BMC holds only its own MHD thread. */
	if (bmc->delay_ms > 0) {
		struct timespec wait = { bmc->delay_ms / 1000,
					 (long)(bmc->delay_ms % 1000) * 1000000L };

		nanosleep(&wait, NULL);
	}
	rfsim_handle(req, &bmc->sim);
}

static int
fleet_precheck(struct http_request *req, void *ctx)
{
	return rfsim_precheck(req, &((struct fleet_bmc *)ctx)->sim);
}

/* Open a socket that listens and is never accepted, for a BMC that never replies. */
static int
stall_open(struct fleet_bmc *bmc)
{
	uint32_t address;
	uint16_t port;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd, one = 1;

	if (listen_parse(bmc->listen, &address, &port) < 0)
		return -EINVAL;
	sa.sin_addr.s_addr = htonl(address);
	sa.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, FLEET_STALL_BACKLOG) < 0) {
		int rc = -errno;

		close(fd);
		log_err("redfish fleet bmc=%u cannot listen on %s: %s", bmc->number, bmc->listen,
			strerror(-rc));
		return rc;
	}
	bmc->stall_fd = fd;
	return 0;
}

static int
bmc_start(struct fleet_bmc *bmc, const char *cert, const char *key)
{
	struct http_listener_config cfg = {
		.kind = HTTP_LISTENER_API,
		.listen = bmc->listen,
		.cert_pem = cert,
		.key_pem = key,
		.threads = 1,
		.max_connections = 16,
		.max_header_bytes = 16 * 1024,
		.max_body_bytes = RFSIM_MAX_BODY_BYTES,
		.max_buffered_body_bytes = 4 * RFSIM_MAX_BODY_BYTES,
		.timeout_seconds = 60,
		/*
		 * No header deadline, because it costs a thread per listener. A client that
		 * sends nothing occupies one of the 16 connections until the idle timeout.
		 */
		.header_timeout_seconds = 0,
		.handler = fleet_handle,
		.precheck = fleet_precheck,
		.ctx = bmc,
	};

	switch (bmc->fault) {
	case FLEET_ABSENT:
		return 0;
	case FLEET_STALL:
		return stall_open(bmc);
	default:
		return http_start(&cfg, &bmc->server);
	}
}

static void
bmcs_stop(struct fleet_bmc *bmcs, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		bmcs[i].server = http_stop(bmcs[i].server);
		if (bmcs[i].stall_fd >= 0)
			close(bmcs[i].stall_fd);
		bmcs[i].stall_fd = -1;
		OPENSSL_cleanse(bmcs[i].sim.password, sizeof(bmcs[i].sim.password));
	}
}

/* Load the shared settings into every BMC and start their listeners. */
static int
fleet_start(struct fleet_bmc *bmcs, unsigned count, const struct fleet_options *o)
{
	char password[sizeof(bmcs[0].sim.password)];
	char *cert = NULL, *key = NULL;
	uint64_t delay_ms = FLEET_DEFAULT_DELAY_MS;
	int rc = 0;

	if (o->delay_ms != NULL && uint_parse(o->delay_ms, 1, 600000, &delay_ms) < 0) {
		fprintf(stderr, "outpost-redfish-sim: invalid --delay-ms %s: use milliseconds "
			"from 1 to 600000\n", o->delay_ms);
		return -EINVAL;
	}
	rc = password_load(password, sizeof(password), o->password_file);
	if (rc < 0)
		return rc;
	rc = http_tls_load("", o->cert, o->key, &cert, &key);
	if (rc < 0) {
		fprintf(stderr, "outpost-redfish-sim: cannot read the certificate %s or key %s: "
			"%s\n", o->cert, o->key, strerror(-rc));
		OPENSSL_cleanse(password, sizeof(password));
		return rc;
	}
	for (unsigned i = 0; i < count; i++)
		bmc_init(&bmcs[i], i + 1, o->user, password, (unsigned)delay_ms);
	OPENSSL_cleanse(password, sizeof(password));
	for (unsigned i = 0; i < count && rc == 0; i++) {
		rc = bmc_start(&bmcs[i], cert, key);
		if (rc < 0)
			fprintf(stderr, "outpost-redfish-sim: BMC %u cannot listen on %s: %s; on an "
				"address, add it to an interface first\n", i + 1, bmcs[i].listen,
				strerror(-rc));
	}
	OPENSSL_cleanse(key, strlen(key));
	free(key);
	free(cert);
	return rc;
}

static unsigned
fault_count(const struct fleet_bmc *bmcs, unsigned count, enum fleet_fault fault)
{
	unsigned n = 0;

	for (unsigned i = 0; i < count; i++)
		n += bmcs[i].fault == fault;
	return n;
}

int
rfsim_fleet_main(int argc, char **argv)
{
	struct fleet_options o = { 0 };
	enum log_level level = LOG_LEVEL_INFO;
	struct fleet_bmc *bmcs;
	uint64_t count;
	sigset_t signals;
	int sig = 0, rc;

	if (options_parse(argc, argv, &o) < 0)
		return fleet_usage();
	if (uint_parse(o.count, 1, FLEET_MAX_BMCS, &count) < 0) {
		fprintf(stderr, "outpost-redfish-sim: invalid --fleet %s: use a count from 1 to "
			"%d\n", o.count, FLEET_MAX_BMCS);
		return 2;
	}
	if (o.step != NULL && strcmp(o.step, "address") != 0 && strcmp(o.step, "port") != 0) {
		fprintf(stderr, "outpost-redfish-sim: invalid --step %s: use address or port\n",
			o.step);
		return 2;
	}
	if (o.log_level != NULL && log_level_parse(o.log_level, &level) < 0) {
		fprintf(stderr, "outpost-redfish-sim: invalid --log-level %s; use err, warning, "
			"notice, info or debug\n", o.log_level);
		return 2;
	}
	log_setup(level, LOG_TARGET_STDERR);

	/* calloc's zeroed pages stay untouched until a BMC writes to them. */
	bmcs = calloc(count, sizeof(*bmcs));
	if (bmcs == NULL) {
		fprintf(stderr, "outpost-redfish-sim: out of memory for %llu BMCs\n",
			(unsigned long long)count);
		return 1;
	}
	rc = listen_assign(bmcs, (unsigned)count, o.listen,
			   o.step != NULL && strcmp(o.step, "port") == 0);
	if (rc == 0)
		rc = faults_parse(o.stall, FLEET_STALL, "--stall", bmcs, (unsigned)count);
	if (rc == 0)
		rc = faults_parse(o.absent, FLEET_ABSENT, "--absent", bmcs, (unsigned)count);
	if (rc == 0)
		rc = faults_parse(o.slow, FLEET_SLOW, "--slow", bmcs, (unsigned)count);
	if (rc < 0) {
		free(bmcs);
		return 2;
	}

	/* Blocked before the HTTP threads start, so only sigwait below receives them. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGHUP);
	sigaddset(&signals, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = fleet_start(bmcs, (unsigned)count, &o);
	if (rc == 0) {
		log_info("redfish fleet listening bmcs=%llu first=%s last=%s stalled=%u absent=%u "
			 "slow=%u", (unsigned long long)count, bmcs[0].listen,
			 bmcs[count - 1].listen, fault_count(bmcs, (unsigned)count, FLEET_STALL),
			 fault_count(bmcs, (unsigned)count, FLEET_ABSENT),
			 fault_count(bmcs, (unsigned)count, FLEET_SLOW));
		fprintf(stderr, "outpost-redfish-sim ready bmcs=%llu first=%s\n",
			(unsigned long long)count, bmcs[0].listen);
		sigwait(&signals, &sig);
		log_info("redfish fleet stopping on signal %d", sig);
	}
	bmcs_stop(bmcs, (unsigned)count);
	free(bmcs);
	return rc < 0 ? 1 : 0;
}

int
rfsim_fleet_power(struct rfsim *sim, const char *reset_type, char *err, size_t errlen)
{
	bool was_on = sim->power_on;
	bool boots;

	if (strcmp(reset_type, "On") == 0 || strcmp(reset_type, "ForceOn") == 0) {
		boots = !was_on;
	} else if (strcmp(reset_type, "ForceOff") == 0 ||
		   strcmp(reset_type, "GracefulShutdown") == 0) {
		sim->power_on = false;
		boots = false;
	} else if (strcmp(reset_type, "ForceRestart") == 0 ||
		   strcmp(reset_type, "PowerCycle") == 0) {
		boots = true;
	} else {
		return err_set(-EINVAL, err, errlen, "unsupported reset type %s", reset_type);
	}
	if (boots) {
		sim->power_on = true;
		/* A one-time override is used up by the boot it applies to. */
		if (strcmp(sim->boot_enabled, "Once") == 0)
			snprintf(sim->boot_enabled, sizeof(sim->boot_enabled), "Disabled");
	}
	log_info("redfish reset type=%s power=%s", reset_type, sim->power_on ? "on" : "off");
	return 0;
}
