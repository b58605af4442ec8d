/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hardware inventory the agent reports: DMI strings from sysfs, CPUs and memory
 * from /proc, network interfaces and disks from sysfs, and the BMC's LAN address,
 * which the BMC itself reports through the kernel's IPMI device. Every path is read
 * under a root folder so that tests can point it at a fixture tree. The web UI and
 * the logs show these strings, so any value with a byte outside printable ASCII is
 * reported as "".
 */
#include "agent/agent.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/ipmi.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Maximum bytes read from one sysfs attribute, which the kernel fills from one page. */
#define ATTR_MAX 4096
/*
 * Maximum bytes read from /proc/cpuinfo or /proc/meminfo.
 * NOTE: an AMD EPYC guest's cpuinfo takes about 1.4 KiB per logical CPU, so on
 * machines with more than roughly 700 CPUs the file is cut at this limit, a line is
 * logged and the thread count falls short.
 */
#define PROC_MAX (1u << 20)
/* Maximum entries listed from sys/class/net or sys/block. */
#define ENTRIES_MAX 4096
/* Maximum distinct "physical id" values counted in cpuinfo. */
#define SOCKETS_MAX 256
/* sysfs reports a block device's size in 512-byte sectors, whatever its block size. */
#define SECTOR_BYTES 512

/* Get LAN Configuration Parameters, a command of the IPMI transport network function. */
#define IPMI_NETFN_TRANSPORT 0x0c
#define IPMI_CMD_GET_LAN_CONFIG 0x02
#define LAN_PARAM_IPV4 3
#define LAN_PARAM_MAC 5
/* Channel numbers a BMC may give its LAN interfaces. */
#define LAN_CHANNEL_FIRST 1
#define LAN_CHANNEL_LAST 8
/* How long one reply may take, and the whole BMC query, in milliseconds. */
#define BMC_REPLY_MS 2000
#define BMC_TOTAL_MS 10000

static void inv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
inv_log(const char *fmt, ...)
{
	char line[PATH_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "outpost-agent: inventory: %s\n", line);
}

/*************************************************************************************
 * Files under the root
 */

static int path_vformat(char *path, const char *root, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Format ROOT/REL into path (PATH_MAX bytes). Returns 0 or -ENAMETOOLONG. */
static int
path_vformat(char *path, const char *root, const char *fmt, va_list ap)
{
	int n, m;

	n = snprintf(path, PATH_MAX, "%s/", root);
	if (n < 0 || n >= PATH_MAX)
		return -ENAMETOOLONG;
	m = vsnprintf(path + n, (size_t)(PATH_MAX - n), fmt, ap);
	if (m < 0 || m >= PATH_MAX - n)
		return -ENAMETOOLONG;
	return 0;
}

static int path_format(char *path, const char *root, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
path_format(char *path, const char *root, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = path_vformat(path, root, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * Read at most `max` bytes of the regular file at path into buf, which has room for
 * max + 1 bytes, and end them with a NUL. Returns the length read or a negative errno.
 */
static ssize_t
file_read(const char *path, char *buf, size_t max)
{
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd, r = 0;

	/* O_NONBLOCK keeps a FIFO planted in a fixture from blocking the open. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;

	while (r == 0 && len < max) {
		n = read(fd, buf + len, max - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (r < 0)
		return r;
	buf[len] = '\0';
	return (ssize_t)len;
}

/* Drop the trailing whitespace of text[0..len) and end it there. Returns the new length. */
static size_t
text_trim(char *text, size_t len)
{
	while (len > 0 && isspace((unsigned char)text[len - 1]))
		len--;
	text[len] = '\0';
	return len;
}

/* True when every byte of text[0..len) is printable ASCII, so a NUL byte fails. */
static bool
text_printable(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c > 0x7e)
			return false;
	}
	return true;
}

static void
text_lower(char *text)
{
	for (; *text != '\0'; text++)
		*text = (char)tolower((unsigned char)*text);
}

/* Parse a decimal integer that makes up the whole text and lies in [min, max]. */
static bool
number_parse(const char *text, long long min, long long max, long long *ret)
{
	char *end;
	long long value;

	errno = 0;
	value = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
		return false;
	*ret = value;
	return true;
}

static int attr_vread(const char *root, bool optional, char *text, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

/*
 * Read the sysfs attribute ROOT/REL into text (ATTR_MAX + 1 bytes) without its
 * trailing whitespace. A value with a byte outside printable ASCII is logged and
 * becomes "". A read failure leaves text "" and is logged unless `optional`, which
 * is for attributes that are absent or unreadable in normal operation.
 * Returns 0 or a negative errno.
 */
static int
attr_vread(const char *root, bool optional, char *text, const char *fmt, va_list ap)
{
	char path[PATH_MAX];
	ssize_t n;
	size_t len;
	int r;

	text[0] = '\0';
	r = path_vformat(path, root, fmt, ap);
	if (r < 0) {
		inv_log("%s/...: path longer than %d bytes, ignoring", root, PATH_MAX);
		return r;
	}
	n = file_read(path, text, ATTR_MAX);
	if (n < 0) {
		if (!optional)
			inv_log("%s: %s, ignoring", path, strerror((int)-n));
		return (int)n;
	}

	len = text_trim(text, (size_t)n);
	if (!text_printable(text, len)) {
		inv_log("%s: value has bytes outside printable ASCII, ignoring", path);
		text[0] = '\0';
		return -EILSEQ;
	}
	return 0;
}

static int attr_read(const char *root, char *text, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int attr_read_optional(const char *root, char *text, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
attr_read(const char *root, char *text, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = attr_vread(root, false, text, fmt, ap);
	va_end(ap);
	return r;
}

static int
attr_read_optional(const char *root, char *text, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = attr_vread(root, true, text, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * Read a /proc file of at most PROC_MAX bytes into *ret, which the caller frees.
 * A read failure is logged and gives "". Returns 1 when the file was read, 0 after a
 * read failure, or -ENOMEM.
 */
static int
proc_read(const char *root, const char *rel, char **ret)
{
	char path[PATH_MAX];
	char *text;
	ssize_t n = -ENAMETOOLONG;

	text = malloc(PROC_MAX + 1);
	if (text == NULL)
		return -ENOMEM;
	text[0] = '\0';

	if (path_format(path, root, "%s", rel) == 0)
		n = file_read(path, text, PROC_MAX);
	if (n < 0)
		inv_log("%s/%s: %s, ignoring", root, rel, strerror((int)-n));
	else if ((size_t)n == PROC_MAX)
		inv_log("%s: longer than %u bytes, reading only those", path, PROC_MAX);
	*ret = text;
	return n < 0 ? 0 : 1;
}

/* True when ROOT/REL exists, following symbolic links. */
static bool path_exists(const char *root, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool
path_exists(const char *root, const char *fmt, ...)
{
	char path[PATH_MAX];
	struct stat st;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = path_vformat(path, root, fmt, ap);
	va_end(ap);
	return r == 0 && stat(path, &st) == 0;
}

/* Set parent[key] to a new empty object and return it, borrowed, in *ret. */
static int
object_add(json_t *parent, const char *key, json_t **ret)
{
	json_t *child = json_object();

	if (json_object_set_new(parent, key, child) < 0)
		return -ENOMEM;
	*ret = child;
	return 0;
}

/*************************************************************************************
 * System and board (DMI)
 */

static const struct dmi_field {
	const char *section;	/* "system" or "board" */
	const char *key;
	const char *file;	/* under sys/class/dmi/id */
	bool lower;		/* reported in lower case */
} dmi_fields[] = {
	{ "system", "vendor", "sys_vendor", false },
	{ "system", "product", "product_name", false },
	{ "system", "serial", "product_serial", false },
	{ "system", "uuid", "product_uuid", true },
	{ "system", "sku", "product_sku", false },
	{ "board", "vendor", "board_vendor", false },
	{ "board", "product", "board_name", false },
	{ "board", "serial", "board_serial", false },
};

static int
dmi_collect(const char *root, json_t *inv)
{
	char text[ATTR_MAX + 1] = "";
	json_t *system, *board;
	bool present;

	if (object_add(inv, "system", &system) < 0 || object_add(inv, "board", &board) < 0)
		return -ENOMEM;

	/* Device-tree machines without SMBIOS, such as many ARM boards, have no DMI folder. */
	present = path_exists(root, "sys/class/dmi/id");
	if (!present)
		inv_log("%s/sys/class/dmi/id: not found, leaving system and board empty", root);

	for (size_t i = 0; i < ARRAY_SIZE(dmi_fields); i++) {
		const struct dmi_field *field = &dmi_fields[i];
		json_t *section = strcmp(field->section, "board") == 0 ? board : system;

		text[0] = '\0';
		if (present)
			attr_read(root, text, "sys/class/dmi/id/%s", field->file);
		if (field->lower)
			text_lower(text);
		if (json_object_set_new(section, field->key, json_string(text)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/*************************************************************************************
 * CPUs and memory
 */

struct cpu_socket {
	long long id;		/* "physical id", or -1 for processors without one */
	long long cores;	/* "cpu cores", or 0 when not given */
};

/* The cpuinfo counts, gathered one processor block at a time. */
struct cpu_count {
	const char *model;	/* the first "model name", pointing into the cpuinfo text */
	long long threads;	/* "processor" entries */
	struct cpu_socket sockets[SOCKETS_MAX];
	size_t socket_count;
	bool sockets_full;	/* a physical id beyond SOCKETS_MAX was not counted */
	bool in_block;		/* a "processor" line was seen */
	long long block_id;	/* physical id of the current processor block, or -1 */
	long long block_cores;	/* cpu cores of the current processor block, or 0 */
};

/* Count the processor block that just ended towards its socket. */
static void
cpu_block_end(struct cpu_count *c)
{
	struct cpu_socket *socket = NULL;

	if (!c->in_block)
		return;
	for (size_t i = 0; i < c->socket_count && socket == NULL; i++)
		if (c->sockets[i].id == c->block_id)
			socket = &c->sockets[i];
	if (socket == NULL) {
		if (c->socket_count == SOCKETS_MAX) {
			c->sockets_full = true;
			return;
		}
		socket = &c->sockets[c->socket_count++];
		socket->id = c->block_id;
		socket->cores = 0;
	}
	if (socket->cores == 0)
		socket->cores = c->block_cores;
}

/* Parse one "key<tabs>: value" line of cpuinfo. */
static void
cpu_line(struct cpu_count *c, char *line)
{
	char *colon = strchr(line, ':');
	char *value;
	long long n;

	if (colon == NULL)
		return;
	*colon = '\0';
	text_trim(line, strlen(line));
	value = colon + 1 + strspn(colon + 1, " \t");
	text_trim(value, strlen(value));

	if (strcmp(line, "processor") == 0) {
		cpu_block_end(c);
		c->in_block = true;
		c->threads++;
		c->block_id = -1;
		c->block_cores = 0;
	} else if (strcmp(line, "physical id") == 0 && number_parse(value, 0, INT_MAX, &n)) {
		c->block_id = n;
	} else if (strcmp(line, "cpu cores") == 0 && number_parse(value, 1, INT_MAX, &n)) {
		c->block_cores = n;
	} else if (strcmp(line, "model name") == 0 && c->model == NULL) {
		c->model = value;
	}
}

/* Count the distinct physical ids as sockets and add up their "cpu cores" as cores. */
static void
cpu_totals(const struct cpu_count *c, long long *sockets, long long *cores)
{
	bool cores_known = c->socket_count > 0;
	long long id_count = 0, core_sum = 0;

	for (size_t i = 0; i < c->socket_count; i++) {
		if (c->sockets[i].id >= 0)
			id_count++;
		if (c->sockets[i].cores == 0)
			cores_known = false;
		core_sum += c->sockets[i].cores;
	}
	*sockets = id_count > 0 ? id_count : 1;
	*cores = cores_known ? core_sum : c->threads;
}

static int
cpus_collect(const char *root, json_t *inv)
{
	struct cpu_count *c;
	long long sockets, cores;
	char *text, *cursor, *line;
	const char *model = "";
	json_t *cpus;
	int r;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	r = proc_read(root, "proc/cpuinfo", &text);
	if (r < 0) {
		free(c);
		return r;
	}

	cursor = text;
	while ((line = strsep(&cursor, "\n")) != NULL)
		cpu_line(c, line);
	cpu_block_end(c);

	if (r > 0 && c->threads == 0)
		inv_log("%s/proc/cpuinfo: no \"processor\" entries", root);
	if (c->sockets_full)
		inv_log("%s/proc/cpuinfo: more than %d physical ids, counting the first %d", root,
			SOCKETS_MAX, SOCKETS_MAX);
	if (c->model != NULL && text_printable(c->model, strlen(c->model)))
		model = c->model;
	else if (c->model != NULL)
		inv_log("%s/proc/cpuinfo: model name has bytes outside printable ASCII, ignoring",
			root);

	cpu_totals(c, &sockets, &cores);
	cpus = json_pack("{s:s, s:I, s:I, s:I}", "model", model, "sockets", (json_int_t)sockets,
			 "cores", (json_int_t)cores, "threads", (json_int_t)c->threads);
	free(text);
	free(c);
	return json_object_set_new(inv, "cpus", cpus) < 0 ? -ENOMEM : 0;
}

/* Return the "MemTotal:   N kB" line of meminfo in bytes, or 0 when it is missing or invalid. */
static long long
meminfo_total(const char *root, char *text)
{
	static const char key[] = "MemTotal:";
	char *cursor = text, *line;
	long long kib;
	size_t len;

	while ((line = strsep(&cursor, "\n")) != NULL) {
		if (strncmp(line, key, strlen(key)) != 0)
			continue;
		line += strlen(key);
		len = text_trim(line, strlen(line));
		if (len > 3 && strcmp(line + len - 3, " kB") == 0)
			line[len - 3] = '\0';
		if (number_parse(line, 0, LLONG_MAX / 1024, &kib))
			return kib * 1024;
		break;
	}
	inv_log("%s/proc/meminfo: no valid MemTotal line, reporting 0", root);
	return 0;
}

static int
memory_collect(const char *root, json_t *inv)
{
	long long bytes;
	char *text;
	int r;

	r = proc_read(root, "proc/meminfo", &text);
	if (r < 0)
		return r;
	bytes = r > 0 ? meminfo_total(root, text) : 0;
	free(text);
	return json_object_set_new(inv, "memory_bytes", json_integer(bytes)) < 0 ? -ENOMEM : 0;
}

/*************************************************************************************
 * Network interfaces and disks
 */

struct name_list {
	char **names;	/* owned, each owned */
	size_t count;
	size_t capacity;
};

static void
name_list_free(struct name_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->names[i]);
	free(list->names);
	memset(list, 0, sizeof(*list));
}

static int
name_list_add(struct name_list *list, const char *name)
{
	if (list->count == list->capacity) {
		size_t capacity = list->capacity == 0 ? 16 : list->capacity * 2;
		char **names = reallocarray(list->names, capacity, sizeof(*names));

		if (names == NULL)
			return -ENOMEM;
		list->names = names;
		list->capacity = capacity;
	}
	list->names[list->count] = strdup(name);
	if (list->names[list->count] == NULL)
		return -ENOMEM;
	list->count++;
	return 0;
}

static int
name_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Accept a directory entry as a path component. Hidden names, "." and ".." are
 * skipped so that no built path leaves the folder. A name with a byte outside
 * printable ASCII is skipped because it would end up in the JSON and the logs.
 */
static bool
entry_name_valid(const char *dir, const char *name)
{
	if (name[0] == '.' || strchr(name, '/') != NULL)
		return false;
	if (!text_printable(name, strlen(name))) {
		inv_log("%s: skipping an entry whose name has bytes outside printable ASCII", dir);
		return false;
	}
	return true;
}

/*
 * List the entries of ROOT/REL that `keep` accepts, sorted by name, into *ret, which
 * the caller frees with name_list_free(). An unreadable folder is logged and gives an
 * empty list. Returns 0 or -ENOMEM.
 */
static int
name_list_read(const char *root, const char *rel, bool (*keep)(const char *name),
	       struct name_list *ret)
{
	char path[PATH_MAX];
	struct dirent *entry;
	DIR *dir = NULL;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	errno = ENAMETOOLONG;
	if (path_format(path, root, "%s", rel) == 0)
		dir = opendir(path);
	if (dir == NULL) {
		inv_log("%s/%s: %s, reporting none", root, rel, strerror(errno));
		return 0;
	}

	while (r == 0 && (entry = readdir(dir)) != NULL) {
		if (!entry_name_valid(path, entry->d_name) || !keep(entry->d_name))
			continue;
		if (ret->count == ENTRIES_MAX) {
			inv_log("%s: more than %d entries, listing the first %d", path, ENTRIES_MAX,
				ENTRIES_MAX);
			break;
		}
		r = name_list_add(ret, entry->d_name);
	}
	closedir(dir);

	if (r < 0) {
		name_list_free(ret);
		return r;
	}
	if (ret->count > 1)
		qsort(ret->names, ret->count, sizeof(*ret->names), name_compare);
	return 0;
}

/*
 * Store the last component of the symbolic link ROOT/REL in name (PATH_MAX bytes),
 * or "" after logging why not. This is how sysfs names a device's driver.
 */
static void link_basename(const char *root, char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
link_basename(const char *root, char *name, const char *fmt, ...)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	va_list ap;
	ssize_t n;
	int r;

	name[0] = '\0';
	va_start(ap, fmt);
	r = path_vformat(path, root, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;

	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		inv_log("%s: %s, ignoring", path, strerror(errno));
		return;
	}
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base == NULL ? target : base + 1;
	if (!text_printable(base, strlen(base))) {
		inv_log("%s: link target has bytes outside printable ASCII, ignoring", path);
		return;
	}
	memcpy(name, base, strlen(base) + 1);
}

static bool
nic_listed(const char *name)
{
	return strcmp(name, "lo") != 0;
}

/* Append the interface `name` to nics unless it is virtual. */
static int
nic_add(const char *root, const char *name, json_t *nics)
{
	char mac[ATTR_MAX + 1], text[ATTR_MAX + 1], driver[PATH_MAX];
	long long speed;
	bool link;
	json_t *nic;

	/* Bridges, bonds, VLANs, tunnels and other virtual interfaces have no device. */
	if (!path_exists(root, "sys/class/net/%s/device", name))
		return 0;

	attr_read(root, mac, "sys/class/net/%s/address", name);
	text_lower(mac);
	link_basename(root, driver, "sys/class/net/%s/device/driver", name);

	/* Reading carrier or speed of an interface that is down fails with EINVAL. */
	link = attr_read_optional(root, text, "sys/class/net/%s/carrier", name) == 0 &&
	       strcmp(text, "1") == 0;
	if (attr_read_optional(root, text, "sys/class/net/%s/speed", name) < 0 ||
	    !number_parse(text, 0, INT_MAX, &speed))
		speed = -1;

	nic = json_pack("{s:s, s:s, s:s, s:b, s:I}", "name", name, "mac", mac, "driver", driver,
			"link", link, "speed_mbps", (json_int_t)speed);
	return json_array_append_new(nics, nic) < 0 ? -ENOMEM : 0;
}

/* Block devices that are not disks: loop, RAM, zram, device-mapper, optical, md, floppy. */
static const char *const disk_skipped_prefixes[] = { "loop", "ram", "zram", "dm-", "sr", "md",
						     "fd" };

static bool
disk_listed(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(disk_skipped_prefixes); i++)
		if (strncmp(name, disk_skipped_prefixes[i], strlen(disk_skipped_prefixes[i])) == 0)
			return false;
	return true;
}

/*
 * Read the serial number from the Unit Serial Number VPD page (0x80) that SCSI and
 * SATA disks expose as device/vpd_pg80: a 4-byte header whose bytes 2-3 give the
 * length, then the serial, which drives often pad with spaces.
 */
static void
disk_vpd_serial(const char *root, const char *name, char *serial)
{
	char path[PATH_MAX], page[ATTR_MAX + 1];
	size_t start = 4, len;
	ssize_t n;

	serial[0] = '\0';
	if (path_format(path, root, "sys/block/%s/device/vpd_pg80", name) < 0)
		return;
	n = file_read(path, page, ATTR_MAX);
	if (n < 4 || (unsigned char)page[1] != 0x80)
		return;

	len = (size_t)((unsigned char)page[2] << 8 | (unsigned char)page[3]);
	if (len > (size_t)n - start)
		len = (size_t)n - start;
	while (len > 0 && page[start] == ' ') {
		start++;
		len--;
	}
	memcpy(serial, page + start, len);
	len = text_trim(serial, len);
	if (!text_printable(serial, len)) {
		inv_log("%s: serial has bytes outside printable ASCII, ignoring", path);
		serial[0] = '\0';
	}
}

/*
 * Read a disk's serial number into serial (ATTR_MAX + 1 bytes): device/serial for
 * NVMe controllers, serial for virtio-blk, then the SCSI VPD page. "" when none has one.
 */
static void
disk_serial(const char *root, const char *name, char *serial)
{
	if (attr_read_optional(root, serial, "sys/block/%s/device/serial", name) == 0 &&
	    serial[0] != '\0')
		return;
	if (attr_read_optional(root, serial, "sys/block/%s/serial", name) == 0 && serial[0] != '\0')
		return;
	disk_vpd_serial(root, name, serial);
}

/* True when the attribute ROOT/sys/block/NAME/FILE reads "1". */
static bool
disk_flag(const char *root, const char *name, const char *file)
{
	char text[ATTR_MAX + 1];

	return attr_read(root, text, "sys/block/%s/%s", name, file) == 0 && strcmp(text, "1") == 0;
}

static int
disk_add(const char *root, const char *name, json_t *disks)
{
	char model[ATTR_MAX + 1], serial[ATTR_MAX + 1], text[ATTR_MAX + 1];
	bool rotational, removable, read_only;
	long long sectors = 0;
	json_t *disk;

	attr_read_optional(root, model, "sys/block/%s/device/model", name);
	disk_serial(root, name, serial);
	if (attr_read(root, text, "sys/block/%s/size", name) == 0 &&
	    !number_parse(text, 0, LLONG_MAX / SECTOR_BYTES, &sectors)) {
		inv_log("%s/sys/block/%s/size: invalid sector count \"%s\", reporting 0", root,
			name, text);
		sectors = 0;
	}
	rotational = disk_flag(root, name, "queue/rotational");
	removable = disk_flag(root, name, "removable");
	read_only = disk_flag(root, name, "ro");

	disk = json_pack("{s:s, s:s, s:s, s:I, s:b, s:b, s:b}", "name", name, "model", model,
			 "serial", serial, "size_bytes", (json_int_t)(sectors * SECTOR_BYTES),
			 "rotational", rotational, "removable", removable, "read_only", read_only);
	return json_array_append_new(disks, disk) < 0 ? -ENOMEM : 0;
}

/* Set inv[key] to an array of the entries of ROOT/REL that `keep` and `add` accept. */
static int
devices_collect(const char *root, json_t *inv, const char *key, const char *rel,
		bool (*keep)(const char *name),
		int (*add)(const char *root, const char *name, json_t *array))
{
	struct name_list list;
	json_t *array = json_array();
	int r;

	if (json_object_set_new(inv, key, array) < 0)
		return -ENOMEM;
	r = name_list_read(root, rel, keep, &list);
	for (size_t i = 0; i < list.count && r == 0; i++)
		r = add(root, list.names[i], array);
	name_list_free(&list);
	return r;
}

/*************************************************************************************
 * BMC address over the in-band IPMI interface
 */

/* The first IPMI interface's device node, under the names that udev and older devfs give it. */
static const char *const ipmi_devices[] = { "dev/ipmi0", "dev/ipmi/0", "dev/ipmidev/0" };

struct bmc_session {
	int fd;
	char path[PATH_MAX];	/* the device, for log lines */
	long msgid;		/* of the last request sent */
	long long deadline_ms;	/* CLOCK_MONOTONIC time at which the query gives up */
	bool failed;		/* an ioctl or poll failed and was logged */
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Log a failed system call on the device, mark the session failed and return -errno. */
static int
bmc_fail(struct bmc_session *s, const char *call)
{
	int r = -errno;

	inv_log("%s: %s failed: %s, reporting bmc as null", s->path, call, strerror(-r));
	s->failed = true;
	return r;
}

/* Open the first IPMI device found under root, starting the query's deadline. */
static int
bmc_open(const char *root, struct bmc_session *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(ipmi_devices); i++) {
		if (path_format(s->path, root, "%s", ipmi_devices[i]) < 0)
			continue;
		s->fd = open(s->path, O_RDWR | O_CLOEXEC | O_NOCTTY);
		if (s->fd >= 0) {
			s->deadline_ms = now_ms() + BMC_TOTAL_MS;
			return 0;
		}
		if (errno != ENOENT)
			inv_log("%s: %s, ignoring", s->path, strerror(errno));
	}
	inv_log("%s/dev: no ipmi0, ipmi/0 or ipmidev/0, reporting bmc as null (a BMC needs the "
		"ipmi_si and ipmi_devintf modules loaded)", root);
	return -ENOENT;
}

/* Send Get LAN Configuration Parameters for one channel and parameter to the BMC. */
static int
bmc_send(struct bmc_session *s, int channel, int param)
{
	struct ipmi_system_interface_addr addr = {
		.addr_type = IPMI_SYSTEM_INTERFACE_ADDR_TYPE,
		.channel = IPMI_BMC_CHANNEL,
		.lun = 0,
	};
	/* Channel, parameter selector, set selector, block selector. */
	unsigned char request[4] = { (unsigned char)channel, (unsigned char)param, 0, 0 };
	struct ipmi_req req = {
		.addr = (unsigned char *)&addr,
		.addr_len = sizeof(addr),
		.msgid = ++s->msgid,
		.msg = {
			.netfn = IPMI_NETFN_TRANSPORT,
			.cmd = IPMI_CMD_GET_LAN_CONFIG,
			.data_len = sizeof(request),
			.data = request,
		},
	};

	if (ioctl(s->fd, IPMICTL_SEND_COMMAND, &req) < 0)
		return bmc_fail(s, "IPMICTL_SEND_COMMAND");
	return 0;
}

/*
 * Wait for the reply to the last request and copy it into reply (IPMI_MAX_MSG_LENGTH
 * bytes). Replies to earlier, timed-out requests are dropped. Returns the reply's
 * length, -ETIMEDOUT after BMC_REPLY_MS or at the deadline, or -errno on failure.
 */
static int
bmc_receive(struct bmc_session *s, unsigned char *reply)
{
	long long until = now_ms() + BMC_REPLY_MS;
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };

	if (until > s->deadline_ms)
		until = s->deadline_ms;
	for (;;) {
		struct ipmi_system_interface_addr addr;
		struct ipmi_recv recv = {
			.addr = (unsigned char *)&addr,
			.addr_len = sizeof(addr),
			.msg = { .data = reply, .data_len = IPMI_MAX_MSG_LENGTH },
		};
		long long left = until - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return bmc_fail(s, "poll");
		if (n == 0)
			return -ETIMEDOUT;

		/*
		 * EAGAIN means the queue is empty again, so wait on. EMSGSIZE means the
		 * message was cut to fit the buffer and was still received.
		 */
		if (ioctl(s->fd, IPMICTL_RECEIVE_MSG_TRUNC, &recv) < 0 && errno != EMSGSIZE) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return bmc_fail(s, "IPMICTL_RECEIVE_MSG_TRUNC");
		}
		if (recv.recv_type == IPMI_RESPONSE_RECV_TYPE && recv.msgid == s->msgid)
			return recv.msg.data_len;
	}
}

/*
 * Query one LAN configuration parameter and copy up to `size` bytes of its data to
 * data. The reply contains the completion code, the parameter revision, then the data.
 * Returns the data length, -ENODATA for a completion code other than 0 or a reply
 * too short to hold data, -ETIMEDOUT, or another negative errno when s->failed.
 */
static int
bmc_lan_param(struct bmc_session *s, int channel, int param, unsigned char *data, size_t size)
{
	unsigned char reply[IPMI_MAX_MSG_LENGTH];
	size_t len;
	int r;

	r = bmc_send(s, channel, param);
	if (r < 0)
		return r;
	r = bmc_receive(s, reply);
	if (r < 0)
		return r;
	if (r <= 2 || reply[0] != 0)
		return -ENODATA;

	len = (size_t)r - 2;
	if (len > size)
		len = size;
	memcpy(data, reply + 2, len);
	return (int)len;
}

static int
bmc_object(const unsigned char ipv4[4], const unsigned char *mac, int channel, json_t **ret)
{
	char ipv4_text[16], mac_text[18] = "";

	snprintf(ipv4_text, sizeof(ipv4_text), "%u.%u.%u.%u", ipv4[0], ipv4[1], ipv4[2], ipv4[3]);
	if (mac != NULL)
		snprintf(mac_text, sizeof(mac_text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
			 mac[1], mac[2], mac[3], mac[4], mac[5]);
	*ret = json_pack("{s:s, s:s, s:s, s:i}", "ipv4", ipv4_text, "mac", mac_text, "source",
			 "ipmi", "channel", channel);
	return *ret == NULL ? -ENOMEM : 0;
}

/*
 * Ask channels LAN_CHANNEL_FIRST to LAN_CHANNEL_LAST in turn for their IPv4 address
 * and report the first that has one other than 0.0.0.0, which means unset. Channels
 * that are not LAN channels reply with a completion code other than 0. Leaves *ret
 * NULL when no channel has an address. Returns 0 or -ENOMEM.
 */
static int
bmc_query(struct bmc_session *s, json_t **ret)
{
	static const unsigned char unset[4] = { 0, 0, 0, 0 };
	unsigned char ipv4[4], mac[6];
	int r;

	for (int channel = LAN_CHANNEL_FIRST; channel <= LAN_CHANNEL_LAST; channel++) {
		if (now_ms() >= s->deadline_ms) {
			inv_log("%s: no address within %d ms, reporting bmc as null", s->path,
				BMC_TOTAL_MS);
			return 0;
		}
		r = bmc_lan_param(s, channel, LAN_PARAM_IPV4, ipv4, sizeof(ipv4));
		if (s->failed)
			return 0;
		if (r == -ETIMEDOUT)
			inv_log("%s: no reply for channel %d, ignoring", s->path, channel);
		if (r != (int)sizeof(ipv4) || memcmp(ipv4, unset, sizeof(ipv4)) == 0)
			continue;

		r = bmc_lan_param(s, channel, LAN_PARAM_MAC, mac, sizeof(mac));
		if (s->failed)
			return 0;
		return bmc_object(ipv4, r == (int)sizeof(mac) ? mac : NULL, channel, ret);
	}
	inv_log("%s: no LAN channel from %d to %d has an IPv4 address, reporting bmc as null",
		s->path, LAN_CHANNEL_FIRST, LAN_CHANNEL_LAST);
	return 0;
}

static int
bmc_collect(const char *root, json_t *inv)
{
	struct bmc_session s = { .fd = -1 };
	json_t *bmc = NULL;
	int r = 0;

	if (bmc_open(root, &s) == 0) {
		r = bmc_query(&s, &bmc);
		close(s.fd);
	}
	if (r < 0)
		return r;
	return json_object_set_new(inv, "bmc", bmc != NULL ? bmc : json_null()) < 0 ? -ENOMEM : 0;
}

/*************************************************************************************
 * Inventory
 */

int
inventory_collect(const char *root, json_t **ret)
{
	json_t *inv = json_object();
	int r;

	if (inv == NULL)
		return -ENOMEM;
	r = dmi_collect(root, inv);
	if (r == 0)
		r = cpus_collect(root, inv);
	if (r == 0)
		r = memory_collect(root, inv);
	if (r == 0)
		r = devices_collect(root, inv, "nics", "sys/class/net", nic_listed, nic_add);
	if (r == 0)
		r = devices_collect(root, inv, "disks", "sys/block", disk_listed, disk_add);
	if (r == 0)
		r = bmc_collect(root, inv);
	if (r < 0) {
		json_decref(inv);
		return r;
	}
	*ret = inv;
	return 0;
}
