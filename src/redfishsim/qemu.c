/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The emulated server's QEMU: its command line, the power actions, the virtual CD and
 * a small QMP client. Callers hold the state mutex.
 *
 * The emulator adds a CD drive and the QMP socket to the lab's arguments, and puts
 * the device of a pending boot override first in the boot order. The lab gives its
 * disk and NIC a bootindex, which firmware reads before "-boot" (SeaBIOS and OVMF both
 * follow QEMU's "bootorder" file), so the override works by rewriting bootindex values.
 * For a one-time override the original values are set back over QMP right after the
 * start: QEMU regenerates the boot order file only at a reset, so the first boot still
 * uses the override and every later reboot does not.
 */
#include "redfishsim/sim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "util/util.h"

#define QEMU_BINARY "qemu-system-x86_64"
#define CD_DRIVE_ID "rfsim-cd"
#define CD_DEVICE_ID "rfsim-cd0"
#define QMP_LINE_MAX (256 * 1024)
#define MAX_BOOT_DEVICES 16
#define QEMU_EXIT_WAIT_MS 5000

/* A device whose bootindex the start changed, to be set back after a one-time boot. */
struct boot_restore {
	char id[64];
	long original;        /* -1: the device had no bootindex */
	long current;
};

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Copy the value of `key=` from a comma-separated option string, or "" when absent. */
static void
option_value(const char *options, const char *key, char *out, size_t size)
{
	size_t key_len = strlen(key);
	const char *p = options;

	out[0] = '\0';
	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, key_len) == 0 && p[key_len] == '=') {
			const char *value = p + key_len + 1;
			size_t len = strcspn(value, ",");

			snprintf(out, size, "%.*s", (int)len, value);
			return;
		}
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
}

static void
args_inspect(struct rfsim *sim)
{
	for (size_t i = 0; i + 1 < sim->qemu_arg_count; i++) {
		const char *arg = sim->qemu_args[i], *next = sim->qemu_args[i + 1];

		if (strcmp(arg, "-machine") == 0 || strcmp(arg, "-M") == 0)
			sim->q35 = strstr(next, "q35") != NULL;
		else if (strcmp(arg, "-uuid") == 0)
			snprintf(sim->uuid, sizeof(sim->uuid), "%s", next);
		else if (strcmp(arg, "-smbios") == 0 && strncmp(next, "type=1,", 7) == 0)
			option_value(next, "serial", sim->serial, sizeof(sim->serial));
		else if (strcmp(arg, "-drive") == 0 && strstr(next, "if=pflash") != NULL)
			sim->uefi = true;
		else if (strcmp(arg, "-device") == 0 && sim->mac[0] == '\0')
			option_value(next, "mac", sim->mac, sizeof(sim->mac));
	}
}

/*
 * The lab's arguments may start their own monitor, daemonize or set a boot order,
 * which the emulator does itself, so those options are dropped with a notice. Returns
 * how many arguments the option at `arg` spans (0 to keep it).
 */
static int
managed_option_span(const char *arg)
{
	if (strcmp(arg, "-qmp") == 0 || strcmp(arg, "-boot") == 0)
		return 2;
	if (strcmp(arg, "-daemonize") == 0)
		return 1;
	return 0;
}

/* Read the argument file, one argument per line; empty lines are skipped. */
static int
args_read(const char *path, char ***ret, size_t *ret_count, char *err, size_t errlen)
{
	size_t count = 0, capacity = 0, line_number = 0;
	char line[8192], **args = NULL;
	int rc = 0;
	FILE *file;

	file = fopen(path, "re");
	if (file == NULL)
		return err_set(-errno, err, errlen, "cannot open the QEMU argument file %s: %s",
			       path, strerror(errno));
	while (rc == 0 && fgets(line, sizeof(line), file) != NULL) {
		line_number++;
		if (strchr(line, '\n') == NULL && !feof(file)) {
			rc = err_set(-E2BIG, err, errlen, "line %zu of the QEMU argument file %s is "
				     "longer than %zu bytes; shorten it", line_number, path,
				     sizeof(line) - 2);
			break;
		}
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		/* Room for the terminating NULL too. */
		if (count + 1 >= capacity) {
			char **grown = array_grow(args, &capacity, count + 1, sizeof(*args), 64);

			if (grown == NULL) {
				rc = err_set(-ENOMEM, err, errlen, "out of memory reading %s", path);
				break;
			}
			args = grown;
		}
		args[count] = strdup(line);
		if (args[count] == NULL)
			rc = err_set(-ENOMEM, err, errlen, "out of memory reading %s", path);
		else
			count++;
	}
	fclose(file);
	if (rc == 0 && count == 0)
		rc = err_set(-EINVAL, err, errlen, "the QEMU argument file %s is empty; write one "
			     "QEMU argument per line", path);
	if (rc < 0) {
		for (size_t k = 0; k < count; k++)
			free(args[k]);
		free(args);
		return rc;
	}
	args[count] = NULL;
	*ret = args;
	*ret_count = count;
	return 0;
}

int
rfsim_qemu_args_load(struct rfsim *sim, const char *path, char *err, size_t errlen)
{
	size_t count, kept_count = 0;
	char **args;
	int rc;

	rc = args_read(path, &args, &count, err, errlen);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < count;) {
		int span = managed_option_span(args[i]);

		if (span == 0) {
			args[kept_count++] = args[i++];
			continue;
		}
		log_notice("redfish dropping %s%s%s from %s: the emulator sets it itself", args[i],
			   span == 2 && i + 1 < count ? " " : "",
			   span == 2 && i + 1 < count ? args[i + 1] : "", path);
		for (int k = 0; k < span && i < count; k++)
			free(args[i++]);
	}
	args[kept_count] = NULL;
	sim->qemu_args = args;
	sim->qemu_arg_count = kept_count;
	args_inspect(sim);
	return 0;
}

/* QEMU option values escape a comma by doubling it. */
static void
option_escape(const char *value, struct buf *out)
{
	for (const char *p = value; *p != '\0'; p++) {
		buf_append(out, p, 1);
		if (*p == ',')
			buf_append(out, p, 1);
	}
}

static bool
override_pending(const struct rfsim *sim)
{
	return strcmp(sim->boot_enabled, "Disabled") != 0 && strcmp(sim->boot_target, "None") != 0;
}

/* Whether a -device value is the kind of device the override target names. */
static bool
device_matches_target(const char *device, const char *target)
{
	static const char *const disks[] = { "virtio-blk", "scsi-hd", "ide-hd", "nvme", NULL };

	if (strcmp(target, "Pxe") == 0)
		return strstr(device, "mac=") != NULL || strstr(device, "netdev=") != NULL;
	if (strcmp(target, "Hdd") == 0) {
		for (size_t i = 0; disks[i] != NULL; i++) {
			if (strncmp(device, disks[i], strlen(disks[i])) == 0)
				return true;
		}
	}
	return false;
}

/* The device value without its bootindex option, in `out`; returns the old index or -1. */
static long
bootindex_strip(const char *device, struct buf *out)
{
	const char *p = device;
	long index = -1;

	while (*p != '\0') {
		size_t len = strcspn(p, ",");

		if (strncmp(p, "bootindex=", 10) == 0 && len > 10) {
			index = strtol(p + 10, NULL, 10);
		} else {
			if (out->len > 0)
				buf_puts(out, ",");
			buf_append(out, p, len);
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return index;
}

/*
 * Rewrite one -device value for the pending override: the matching device gets
 * bootindex 0 and the others move one place down. Records what changed in `restore`.
 */
static char *
device_rewrite(const char *device, const char *target, bool *target_taken,
	       struct boot_restore *restore, size_t *restore_count, unsigned serial)
{
	struct buf b;
	char id[64];
	long original, index;

	buf_init(&b, 8192);
	original = bootindex_strip(device, &b);
	if (!*target_taken && device_matches_target(device, target)) {
		index = 0;
		*target_taken = true;
	} else if (original >= 0) {
		index = original + 1;
	} else {
		buf_free(&b);
		return strdup(device);
	}
	option_value(device, "id", id, sizeof(id));
	if (id[0] == '\0') {
		snprintf(id, sizeof(id), "rfsim-boot%u", serial);
		buf_printf(&b, ",id=%s", id);
	}
	buf_printf(&b, ",bootindex=%ld", index);
	if (*restore_count < MAX_BOOT_DEVICES) {
		struct boot_restore *r = &restore[(*restore_count)++];

		snprintf(r->id, sizeof(r->id), "%s", id);
		r->original = original;
		r->current = index;
	}
	return buf_steal(&b);
}

static void
argv_free(char **argv)
{
	for (size_t i = 0; argv != NULL && argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/* Build QEMU's argv for a start, with the CD, QMP and the pending boot override. */
static char **
argv_build(struct rfsim *sim, struct boot_restore *restore, size_t *restore_count)
{
	size_t n = 0, max = sim->qemu_arg_count + 16;
	bool pending = override_pending(sim), target_taken = false;
	const char *target = sim->boot_target;
	char **argv = calloc(max, sizeof(*argv));
	struct buf b;

	*restore_count = 0;
	if (argv == NULL)
		return NULL;
	argv[n++] = strdup(QEMU_BINARY);
	for (size_t i = 0; i < sim->qemu_arg_count; i++) {
		const char *arg = sim->qemu_args[i];

		if (pending && i > 0 && strcmp(sim->qemu_args[i - 1], "-device") == 0)
			argv[n++] = device_rewrite(arg, target, &target_taken, restore,
						   restore_count, (unsigned)i);
		else
			argv[n++] = strdup(arg);
	}

	argv[n++] = strdup("-qmp");
	buf_init(&b, 8192);
	buf_puts(&b, "unix:");
	option_escape(sim->qmp_path, &b);
	buf_puts(&b, ",server=on,wait=off");
	argv[n++] = buf_steal(&b);

	/* The CD drive, empty unless an image is inserted. */
	argv[n++] = strdup("-drive");
	buf_init(&b, 8192);
	buf_puts(&b, "if=none,id=" CD_DRIVE_ID ",media=cdrom,readonly=on");
	if (sim->media_inserted) {
		char path[4096];

		rfsim_media_local_path(sim, path, sizeof(path));
		buf_puts(&b, ",format=raw,file=");
		option_escape(path, &b);
	}
	argv[n++] = buf_steal(&b);
	argv[n++] = strdup("-device");
	buf_init(&b, 512);
	/* pc has PIIX IDE buses ide.0 and ide.1; q35 has the ICH9 AHCI ports ide.0 to ide.5. */
	buf_printf(&b, "ide-cd,drive=" CD_DRIVE_ID ",id=" CD_DEVICE_ID ",bus=%s",
		   sim->q35 ? "ide.2" : "ide.1");
	if (pending && strcmp(target, "Cd") == 0 && *restore_count < MAX_BOOT_DEVICES) {
		struct boot_restore *r = &restore[(*restore_count)++];

		buf_puts(&b, ",bootindex=0");
		snprintf(r->id, sizeof(r->id), "%s", CD_DEVICE_ID);
		r->original = -1;
		r->current = 0;
		target_taken = true;
	}
	argv[n++] = buf_steal(&b);

	/* Firmware without a bootorder file (no bootindex anywhere) follows -boot. */
	if (pending) {
		const char *letter = strcmp(target, "Pxe") == 0 ? "n" :
				     strcmp(target, "Cd") == 0 ? "d" : "c";

		argv[n++] = strdup("-boot");
		buf_init(&b, 64);
		buf_printf(&b, "%s=%s", strcmp(sim->boot_enabled, "Once") == 0 ? "once" : "order",
			   letter);
		argv[n++] = buf_steal(&b);
	}
	argv[n] = NULL;
	for (size_t i = 0; i < n; i++) {
		if (argv[i] == NULL) {
			argv_free(argv);
			return NULL;
		}
	}
	return argv;
}

/* Read one line from the QMP socket into `line`, within the deadline. */
static int
qmp_read_line(int fd, struct buf *pending, int64_t deadline_ms, char **line)
{
	for (;;) {
		char *newline = pending->data != NULL ? memchr(pending->data, '\n', pending->len)
						      : NULL;
		char chunk[4096];
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline_ms - time_now_ms();
		ssize_t got;

		if (newline != NULL) {
			size_t len = (size_t)(newline - pending->data);

			*line = strndup(pending->data, len);
			memmove(pending->data, newline + 1, pending->len - len - 1);
			pending->len -= len + 1;
			pending->data[pending->len] = '\0';
			return *line != NULL ? 0 : -ENOMEM;
		}
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		got = recv(fd, chunk, sizeof(chunk), 0);
		if (got <= 0)
			return got == 0 ? -ECONNRESET : -errno;
		if (buf_append(pending, chunk, (size_t)got) < 0)
			return -E2BIG;
	}
}

/* Read until a reply ("return" or "error"), skipping asynchronous events. */
static json_t *
qmp_read_reply(int fd, struct buf *pending, int64_t deadline_ms, char *err, size_t errlen)
{
	for (;;) {
		char *line = NULL;
		json_t *reply;
		int rc = qmp_read_line(fd, pending, deadline_ms, &line);

		if (rc < 0) {
			err_set(rc, err, errlen, "no reply from QEMU's QMP socket: %s", strerror(-rc));
			return NULL;
		}
		reply = json_loads(line, 0, NULL);
		free(line);
		if (reply == NULL || json_object_get(reply, "event") != NULL ||
		    json_object_get(reply, "QMP") != NULL) {
			json_decref(reply);
			continue;
		}
		return reply;
	}
}

static int
qmp_connect(const char *path, int64_t deadline_ms)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return fd;
		close(fd);
		if (time_now_ms() >= deadline_ms)
			return -ETIMEDOUT;
		sleep_ms(50);
	}
}

static json_t *
qmp_execute(int fd, struct buf *pending, int64_t deadline_ms, const char *command,
	    json_t *arguments, char *err, size_t errlen)
{
	json_t *request = json_pack("{s:s}", "execute", command), *reply, *result;
	char *text;
	int rc;

	if (arguments != NULL)
		json_object_set(request, "arguments", arguments);
	text = json_dumps(request, JSON_COMPACT);
	json_decref(request);
	if (text == NULL) {
		err_set(-ENOMEM, err, errlen, "out of memory");
		return NULL;
	}
	rc = write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = write_all(fd, "\n", 1);
	free(text);
	if (rc < 0) {
		err_set(rc, err, errlen, "cannot send %s to QEMU: %s", command, strerror(-rc));
		return NULL;
	}
	reply = qmp_read_reply(fd, pending, deadline_ms, err, errlen);
	if (reply == NULL)
		return NULL;
	result = json_object_get(reply, "return");
	if (result == NULL) {
		const char *desc = json_string_value(
			json_object_get(json_object_get(reply, "error"), "desc"));

		err_set(-EIO, err, errlen, "QEMU rejected %s: %s", command,
			desc != NULL ? desc : "no description");
		json_decref(reply);
		return NULL;
	}
	json_incref(result);
	json_decref(reply);
	return result;
}

json_t *
rfsim_qmp(struct rfsim *sim, const char *command, json_t *arguments, char *err, size_t errlen)
{
	int64_t deadline = time_now_ms() + RFSIM_QMP_TIMEOUT_MS;
	json_t *result = NULL, *caps;
	struct buf pending;
	int fd;

	fd = qmp_connect(sim->qmp_path, deadline);
	if (fd < 0) {
		err_set(fd, err, errlen, "cannot connect to QEMU's QMP socket %s: %s",
			sim->qmp_path, strerror(-fd));
		return NULL;
	}
	buf_init(&pending, QMP_LINE_MAX);
	caps = qmp_execute(fd, &pending, deadline, "qmp_capabilities", NULL, err, errlen);
	if (caps != NULL) {
		json_decref(caps);
		result = qmp_execute(fd, &pending, deadline, command, arguments, err, errlen);
	}
	buf_free(&pending);
	close(fd);
	if (result != NULL)
		log_info("redfish qmp command=%s ok", command);
	else
		log_warning("redfish qmp command=%s failed: %s", command, err);
	return result;
}

static void
qemu_exited(struct rfsim *sim, int status)
{
	if (WIFEXITED(status))
		log_info("redfish qemu pid=%d exited status=%d; power is off", (int)sim->qemu_pid,
			 WEXITSTATUS(status));
	else
		log_info("redfish qemu pid=%d killed by signal %d; power is off",
			 (int)sim->qemu_pid, WTERMSIG(status));
	sim->qemu_pid = 0;
}

void
rfsim_qemu_reap(struct rfsim *sim)
{
	int status;

	if (sim->qemu_pid > 0 && waitpid(sim->qemu_pid, &status, WNOHANG) == sim->qemu_pid)
		qemu_exited(sim, status);
}

/* Wait for QEMU to exit, for at most `timeout_ms`. Returns true once it has. */
static bool
qemu_wait_exit(struct rfsim *sim, long timeout_ms)
{
	int64_t deadline = time_now_ms() + timeout_ms;

	while (sim->qemu_pid > 0) {
		rfsim_qemu_reap(sim);
		if (sim->qemu_pid == 0)
			return true;
		if (time_now_ms() >= deadline)
			return false;
		sleep_ms(20);
	}
	return true;
}

static int
power_off(struct rfsim *sim, char *err, size_t errlen)
{
	json_t *result;

	if (sim->qemu_pid == 0)
		return 0;
	result = rfsim_qmp(sim, "quit", NULL, err, errlen);
	json_decref(result);
	if (qemu_wait_exit(sim, QEMU_EXIT_WAIT_MS))
		return 0;
	log_warning("redfish qemu pid=%d still runs %d ms after quit; sending SIGKILL",
		    (int)sim->qemu_pid, QEMU_EXIT_WAIT_MS);
	kill(sim->qemu_pid, SIGKILL);
	if (qemu_wait_exit(sim, QEMU_EXIT_WAIT_MS))
		return 0;
	return err_set(-EBUSY, err, errlen, "QEMU pid %d does not exit; kill it by hand",
		       (int)sim->qemu_pid);
}

/* Ascending original bootindex, so each device moves into a place already freed. */
static int
restore_compare(const void *a, const void *b)
{
	const struct boot_restore *x = a, *y = b;

	return (x->original > y->original) - (x->original < y->original);
}

/* Set the bootindex values changed for a one-time override back, in an order without clashes. */
static void
boot_restore_apply(struct rfsim *sim, struct boot_restore *restore, size_t count)
{
	char err[256], path[128];
	json_t *result, *arguments;

	/* First the override device leaves index 0, then the others move up one by one. */
	qsort(restore, count, sizeof(*restore), restore_compare);
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < count; i++) {
			struct boot_restore *r = &restore[i];
			long value;

			if (pass == 0 && r->current != 0)
				continue;
			if (pass == 1 && r->current == 0)
				continue;
			if (pass == 2 && (r->current != 0 || r->original < 0))
				continue;
			value = pass == 0 ? -1 : r->original;
			snprintf(path, sizeof(path), "/machine/peripheral/%.63s", r->id);
			arguments = json_pack("{s:s, s:s, s:I}", "path", path, "property",
					      "bootindex", "value", (json_int_t)value);
			result = rfsim_qmp(sim, "qom-set", arguments, err, sizeof(err));
			json_decref(arguments);
			json_decref(result);
		}
	}
}

/* Open the QEMU log in the state directory for QEMU's stdout and stderr. */
static int
qemu_log_open(const struct rfsim *sim)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/qemu.log", sim->state_dir);
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

/* Wait until QMP replies, or QEMU exits, or RFSIM_QMP_TIMEOUT_MS passes. */
static int
qemu_wait_ready(struct rfsim *sim, char *err, size_t errlen)
{
	int64_t deadline = time_now_ms() + RFSIM_QMP_TIMEOUT_MS;
	json_t *status;

	while (time_now_ms() < deadline) {
		rfsim_qemu_reap(sim);
		if (sim->qemu_pid == 0)
			return err_set(-ECHILD, err, errlen, "QEMU exited at start; read %s/qemu.log "
				       "and fix the QEMU argument file", sim->state_dir);
		if (access(sim->qmp_path, F_OK) == 0) {
			status = rfsim_qmp(sim, "query-status", NULL, err, errlen);
			if (status != NULL) {
				json_decref(status);
				return 0;
			}
		}
		sleep_ms(50);
	}
	return err_set(-ETIMEDOUT, err, errlen, "QEMU's QMP socket %s did not answer within "
		       "%d ms; read %s/qemu.log", sim->qmp_path, RFSIM_QMP_TIMEOUT_MS, sim->state_dir);
}

static int
power_on(struct rfsim *sim, char *err, size_t errlen)
{
	struct boot_restore restore[MAX_BOOT_DEVICES];
	posix_spawn_file_actions_t actions;
	size_t restore_count = 0;
	bool once = override_pending(sim) && strcmp(sim->boot_enabled, "Once") == 0;
	char **argv;
	pid_t pid;
	int log_fd, rc;

	if (sim->qemu_pid > 0)
		return 0;
	argv = argv_build(sim, restore, &restore_count);
	if (argv == NULL)
		return err_set(-ENOMEM, err, errlen, "out of memory building QEMU's arguments");
	log_fd = qemu_log_open(sim);
	if (log_fd < 0) {
		rc = -errno;
		argv_free(argv);
		return err_set(rc, err, errlen, "cannot open %s/qemu.log: %s", sim->state_dir,
			       strerror(-rc));
	}
	unlink(sim->qmp_path);
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
	posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
	rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	close(log_fd);
	argv_free(argv);
	if (rc != 0)
		return err_set(-rc, err, errlen, "cannot start %s: %s; install qemu-system-x86",
			       QEMU_BINARY, strerror(rc));
	sim->qemu_pid = pid;
	log_info("redfish qemu started pid=%d boot_override=%s/%s", (int)pid,
		 override_pending(sim) ? sim->boot_enabled : "Disabled", sim->boot_target);
	rc = qemu_wait_ready(sim, err, errlen);
	if (rc < 0)
		return rc;
	if (once) {
		boot_restore_apply(sim, restore, restore_count);
		snprintf(sim->boot_enabled, sizeof(sim->boot_enabled), "Disabled");
		rfsim_state_save(sim);
	}
	return 0;
}

static int
power_command(struct rfsim *sim, const char *command, char *err, size_t errlen)
{
	json_t *result = rfsim_qmp(sim, command, NULL, err, errlen);

	if (result == NULL)
		return -EIO;
	json_decref(result);
	return 0;
}

int
rfsim_power(struct rfsim *sim, const char *reset_type, char *err, size_t errlen)
{
	bool on = sim->qemu_pid > 0;
	int rc;

	if (sim->fleet)
		return rfsim_fleet_power(sim, reset_type, err, errlen);
	log_info("redfish reset type=%s power=%s", reset_type, on ? "on" : "off");
	if (strcmp(reset_type, "On") == 0 || strcmp(reset_type, "ForceOn") == 0)
		return power_on(sim, err, errlen);
	if (strcmp(reset_type, "ForceOff") == 0)
		return power_off(sim, err, errlen);
	if (strcmp(reset_type, "GracefulShutdown") == 0)
		return on ? power_command(sim, "system_powerdown", err, errlen) : 0;
	if (strcmp(reset_type, "ForceRestart") == 0) {
		/* A reset cannot change the boot order QEMU started with, so a pending override restarts QEMU. */
		if (on && !override_pending(sim))
			return power_command(sim, "system_reset", err, errlen);
		rc = power_off(sim, err, errlen);
		return rc < 0 ? rc : power_on(sim, err, errlen);
	}
	if (strcmp(reset_type, "PowerCycle") == 0) {
		rc = power_off(sim, err, errlen);
		return rc < 0 ? rc : power_on(sim, err, errlen);
	}
	return err_set(-EINVAL, err, errlen, "unsupported reset type %s", reset_type);
}

int
rfsim_media_apply(struct rfsim *sim, const char *path, char *err, size_t errlen)
{
	json_t *arguments, *result;

	if (sim->qemu_pid == 0)
		return 0;
	if (path != NULL)
		arguments = json_pack("{s:s, s:s, s:s, s:s}", "id", CD_DEVICE_ID, "filename", path,
				      "format", "raw", "read-only-mode", "read-only");
	else
		arguments = json_pack("{s:s, s:b}", "id", CD_DEVICE_ID, "force", 1);
	result = rfsim_qmp(sim, path != NULL ? "blockdev-change-medium" : "eject", arguments,
			   err, errlen);
	json_decref(arguments);
	if (result == NULL)
		return -EIO;
	json_decref(result);
	return 0;
}

void
rfsim_qemu_stop(struct rfsim *sim)
{
	char err[256];

	if (power_off(sim, err, sizeof(err)) < 0)
		log_err("redfish cannot stop QEMU: %s", err);
}
