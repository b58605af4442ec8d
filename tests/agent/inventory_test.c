/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the agent's inventory. Each test builds a fixture tree of sys/, proc/
 * and dev/ files in a temporary folder and checks the JSON that inventory_collect()
 * returns for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent.h"

struct fixture {
	char root[256];
	json_t *inv;		/* owned; the result of collect() */
};

static int
fixture_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");

	if (fx == NULL)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "%s/outpost-inventory-test.XXXXXX",
		 tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(fx->root) == NULL) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int
remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Remove the fixture tree with whatever a failed test left in it. */
static int
fixture_teardown(void **state)
{
	struct fixture *fx = *state;
	int r;

	json_decref(fx->inv);
	r = nftw(fx->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return r;
}

/* Create the parent folders of ROOT/REL, like mkdir -p. */
static void
make_parents(const char *root, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *slash = strchr(path + strlen(root) + 1, '/'); slash != NULL;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", path, strerror(errno));
		*slash = '/';
	}
}

static void
write_bytes(const char *root, const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	make_parents(root, rel);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
write_text(const char *root, const char *rel, const char *text)
{
	write_bytes(root, rel, text, strlen(text));
}

static void
make_dir(const char *root, const char *rel)
{
	char path[PATH_MAX];

	make_parents(root, rel);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void
make_link(const char *root, const char *rel, const char *target)
{
	char path[PATH_MAX];

	make_parents(root, rel);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(symlink(target, path), 0);
}

/* Run inventory_collect() on the fixture tree and keep the result in fx->inv. */
static json_t *
collect(struct fixture *fx)
{
	assert_int_equal(inventory_collect(fx->root, &fx->inv), 0);
	assert_true(json_is_object(fx->inv));
	return fx->inv;
}

static json_t *
get_member(json_t *obj, const char *key)
{
	json_t *value = json_object_get(obj, key);

	if (value == NULL)
		fail_msg("member \"%s\" is missing", key);
	return value;
}

static const char *
get_string(json_t *obj, const char *key)
{
	json_t *value = get_member(obj, key);

	if (!json_is_string(value))
		fail_msg("member \"%s\" is not a string", key);
	return json_string_value(value);
}

static long long
get_integer(json_t *obj, const char *key)
{
	json_t *value = get_member(obj, key);

	if (!json_is_integer(value))
		fail_msg("member \"%s\" is not an integer", key);
	return json_integer_value(value);
}

static bool
get_bool(json_t *obj, const char *key)
{
	json_t *value = get_member(obj, key);

	if (!json_is_boolean(value))
		fail_msg("member \"%s\" is not a boolean", key);
	return json_is_true(value);
}

static json_t *
get_object(json_t *obj, const char *key)
{
	json_t *value = get_member(obj, key);

	if (!json_is_object(value))
		fail_msg("member \"%s\" is not an object", key);
	return value;
}

static json_t *
get_array(json_t *obj, const char *key)
{
	json_t *value = get_member(obj, key);

	if (!json_is_array(value))
		fail_msg("member \"%s\" is not an array", key);
	return value;
}

/* Two sockets of two cores of two threads each, as an x86 kernel lists them. */
static void
write_cpuinfo_2x2x2(const char *root)
{
	char text[8192];
	size_t len = 0;

	for (int cpu = 0; cpu < 8; cpu++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"processor\t: %d\n"
					"vendor_id\t: GenuineIntel\n"
					"model name\t: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz\n"
					"physical id\t: %d\n"
					"siblings\t: 4\n"
					"core id\t\t: %d\n"
					"cpu cores\t: 2\n"
					"flags\t\t: fpu vme de pse\n"
					"\n",
					cpu, cpu / 4, cpu / 2 % 2);
	write_text(root, "proc/cpuinfo", text);
}

static void
write_dmi(const char *root)
{
	write_text(root, "sys/class/dmi/id/sys_vendor", "Acme Computers  \n");
	write_text(root, "sys/class/dmi/id/product_name", "R640\n");
	write_text(root, "sys/class/dmi/id/product_serial", "SER-123\n");
	write_text(root, "sys/class/dmi/id/product_uuid", "3F2504E0-4F89-11D3-9A0C-0305E82C3301\n");
	write_text(root, "sys/class/dmi/id/product_sku", "SKU-7\n");
	write_text(root, "sys/class/dmi/id/board_vendor", "Acme Boards\n");
	write_text(root, "sys/class/dmi/id/board_name", "X99-Board\n");
	write_text(root, "sys/class/dmi/id/board_serial", "BRD-9\n");
}

/*
 * eth0 and eth1 are physical (eth1 reached through a symbolic link, as sysfs does);
 * lo, the bridge br0 and the hidden .eth9 must not be listed.
 */
static void
write_nics(const char *root)
{
	static const char eth1[] = "sys/devices/pci0000:00/0000:00:03.0/virtio2/net/eth1";
	char rel[256];

	write_text(root, "sys/class/net/eth0/address", "52:54:00:AB:CD:EF\n");
	write_text(root, "sys/class/net/eth0/carrier", "1\n");
	write_text(root, "sys/class/net/eth0/speed", "10000\n");
	make_dir(root, "sys/class/net/eth0/device");
	make_link(root, "sys/class/net/eth0/device/driver", "../../../../bus/pci/drivers/ixgbe");

	snprintf(rel, sizeof(rel), "%s/address", eth1);
	write_text(root, rel, "52:54:00:12:34:56\n");
	snprintf(rel, sizeof(rel), "%s/carrier", eth1);
	write_text(root, rel, "0\n");
	snprintf(rel, sizeof(rel), "%s/speed", eth1);
	write_text(root, rel, "-1\n");
	snprintf(rel, sizeof(rel), "%s/device", eth1);
	make_link(root, rel, "../..");
	make_link(root, "sys/devices/pci0000:00/0000:00:03.0/virtio2/driver",
		  "../../../../bus/virtio/drivers/virtio_net");
	make_link(root, "sys/class/net/eth1",
		  "../../devices/pci0000:00/0000:00:03.0/virtio2/net/eth1");

	write_text(root, "sys/class/net/lo/address", "00:00:00:00:00:00\n");
	make_dir(root, "sys/class/net/lo/device");
	write_text(root, "sys/class/net/br0/address", "5a:00:00:00:00:01\n");
	write_text(root, "sys/class/net/br0/carrier", "1\n");
	write_text(root, "sys/class/net/.eth9/address", "52:54:00:00:00:09\n");
	make_dir(root, "sys/class/net/.eth9/device");
}

/* Write the size, queue/rotational, removable and ro attributes of sys/block/NAME. */
static void
write_disk(const char *root, const char *name, const char *sectors, int rotational,
	   int removable, int read_only)
{
	char rel[256], value[8];

	snprintf(rel, sizeof(rel), "sys/block/%s/size", name);
	write_text(root, rel, sectors);
	snprintf(rel, sizeof(rel), "sys/block/%s/queue/rotational", name);
	snprintf(value, sizeof(value), "%d\n", rotational);
	write_text(root, rel, value);
	snprintf(rel, sizeof(rel), "sys/block/%s/removable", name);
	snprintf(value, sizeof(value), "%d\n", removable);
	write_text(root, rel, value);
	snprintf(rel, sizeof(rel), "sys/block/%s/ro", name);
	snprintf(value, sizeof(value), "%d\n", read_only);
	write_text(root, rel, value);
}

/*
 * Write vda (virtio-blk, with its serial beside size and no model), sda (SATA, with its
 * serial in the VPD page), nvme0n1 (NVMe, with the controller's serial and model padded
 * with spaces) and block devices that are not disks.
 */
static void
write_disks(const char *root)
{
	static const char vpd[] = "\x00\x80\x00\x0c  ZA1B2C3D  ";
	static const char *const skipped[] = { "loop0", "sr0", "dm-0", "md127", "zram0", "ram0",
					       "fd0" };

	write_disk(root, "vda", "41943040\n", 0, 0, 0);
	write_text(root, "sys/block/vda/serial", "vda-serial-1");
	make_dir(root, "sys/block/vda/device");

	write_disk(root, "sda", "1953525168\n", 1, 0, 1);
	write_text(root, "sys/block/sda/device/model", "QEMU HARDDISK   \n");
	write_bytes(root, "sys/block/sda/device/vpd_pg80", vpd, sizeof(vpd) - 1);

	write_disk(root, "nvme0n1", "1953525168\n", 0, 0, 0);
	write_text(root, "sys/block/nvme0n1/device/model",
		   "Samsung SSD 970 EVO Plus 1TB            \n");
	write_text(root, "sys/block/nvme0n1/device/serial", "S4EWNX0N123456A     \n");

	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
		write_disk(root, skipped[i], "2048\n", 0, 1, 0);
}

static void
test_inventory_full_tree(void **state)
{
	struct fixture *fx = *state;
	json_t *inv, *system, *board, *cpus, *nics, *disks, *nic, *disk;

	write_dmi(fx->root);
	write_cpuinfo_2x2x2(fx->root);
	write_text(fx->root, "proc/meminfo", "MemTotal:       16318436 kB\nMemFree:  1024 kB\n");
	write_nics(fx->root);
	write_disks(fx->root);
	inv = collect(fx);
	assert_int_equal(json_object_size(inv), 7);

	system = get_object(inv, "system");
	assert_int_equal(json_object_size(system), 5);
	assert_string_equal(get_string(system, "vendor"), "Acme Computers");
	assert_string_equal(get_string(system, "product"), "R640");
	assert_string_equal(get_string(system, "serial"), "SER-123");
	assert_string_equal(get_string(system, "uuid"), "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
	assert_string_equal(get_string(system, "sku"), "SKU-7");

	board = get_object(inv, "board");
	assert_int_equal(json_object_size(board), 3);
	assert_string_equal(get_string(board, "vendor"), "Acme Boards");
	assert_string_equal(get_string(board, "product"), "X99-Board");
	assert_string_equal(get_string(board, "serial"), "BRD-9");

	cpus = get_object(inv, "cpus");
	assert_int_equal(json_object_size(cpus), 4);
	assert_string_equal(get_string(cpus, "model"), "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz");
	assert_int_equal(get_integer(cpus, "sockets"), 2);
	assert_int_equal(get_integer(cpus, "cores"), 4);
	assert_int_equal(get_integer(cpus, "threads"), 8);

	assert_int_equal(get_integer(inv, "memory_bytes"), 16318436LL * 1024);

	nics = get_array(inv, "nics");
	assert_int_equal(json_array_size(nics), 2);
	nic = json_array_get(nics, 0);
	assert_int_equal(json_object_size(nic), 5);
	assert_string_equal(get_string(nic, "name"), "eth0");
	assert_string_equal(get_string(nic, "mac"), "52:54:00:ab:cd:ef");
	assert_string_equal(get_string(nic, "driver"), "ixgbe");
	assert_true(get_bool(nic, "link"));
	assert_int_equal(get_integer(nic, "speed_mbps"), 10000);
	nic = json_array_get(nics, 1);
	assert_string_equal(get_string(nic, "name"), "eth1");
	assert_string_equal(get_string(nic, "mac"), "52:54:00:12:34:56");
	assert_string_equal(get_string(nic, "driver"), "virtio_net");
	assert_false(get_bool(nic, "link"));
	assert_int_equal(get_integer(nic, "speed_mbps"), -1);

	disks = get_array(inv, "disks");
	assert_int_equal(json_array_size(disks), 3);
	disk = json_array_get(disks, 0);
	assert_int_equal(json_object_size(disk), 7);
	assert_string_equal(get_string(disk, "name"), "nvme0n1");
	assert_string_equal(get_string(disk, "model"), "Samsung SSD 970 EVO Plus 1TB");
	assert_string_equal(get_string(disk, "serial"), "S4EWNX0N123456A");
	assert_int_equal(get_integer(disk, "size_bytes"), 1953525168LL * 512);
	assert_false(get_bool(disk, "rotational"));
	assert_false(get_bool(disk, "removable"));
	assert_false(get_bool(disk, "read_only"));
	disk = json_array_get(disks, 1);
	assert_string_equal(get_string(disk, "name"), "sda");
	assert_string_equal(get_string(disk, "model"), "QEMU HARDDISK");
	assert_string_equal(get_string(disk, "serial"), "ZA1B2C3D");
	assert_int_equal(get_integer(disk, "size_bytes"), 1953525168LL * 512);
	assert_true(get_bool(disk, "rotational"));
	assert_false(get_bool(disk, "removable"));
	assert_true(get_bool(disk, "read_only"));
	disk = json_array_get(disks, 2);
	assert_string_equal(get_string(disk, "name"), "vda");
	assert_string_equal(get_string(disk, "model"), "");
	assert_string_equal(get_string(disk, "serial"), "vda-serial-1");
	assert_int_equal(get_integer(disk, "size_bytes"), 41943040LL * 512);
	assert_false(get_bool(disk, "rotational"));
	assert_false(get_bool(disk, "removable"));
	assert_false(get_bool(disk, "read_only"));

	/* No dev/ipmi0 in the tree. */
	assert_true(json_is_null(get_member(inv, "bmc")));
}

static void
test_inventory_missing_files(void **state)
{
	struct fixture *fx = *state;
	static const char *const system_keys[] = { "vendor", "product", "serial", "uuid", "sku" };
	static const char *const board_keys[] = { "vendor", "product", "serial" };
	json_t *inv, *system, *board, *cpus;

	inv = collect(fx);
	assert_int_equal(json_object_size(inv), 7);
	system = get_object(inv, "system");
	for (size_t i = 0; i < sizeof(system_keys) / sizeof(system_keys[0]); i++)
		assert_string_equal(get_string(system, system_keys[i]), "");
	board = get_object(inv, "board");
	for (size_t i = 0; i < sizeof(board_keys) / sizeof(board_keys[0]); i++)
		assert_string_equal(get_string(board, board_keys[i]), "");

	cpus = get_object(inv, "cpus");
	assert_string_equal(get_string(cpus, "model"), "");
	assert_int_equal(get_integer(cpus, "sockets"), 1);
	assert_int_equal(get_integer(cpus, "cores"), 0);
	assert_int_equal(get_integer(cpus, "threads"), 0);
	assert_int_equal(get_integer(inv, "memory_bytes"), 0);
	assert_int_equal(json_array_size(get_array(inv, "nics")), 0);
	assert_int_equal(json_array_size(get_array(inv, "disks")), 0);
	assert_true(json_is_null(get_member(inv, "bmc")));
}

static void
test_inventory_dmi_non_printable(void **state)
{
	static const char nul_inside[] = "AB\0CD\n";
	struct fixture *fx = *state;
	json_t *system, *board;
	char long_value[5000];

	write_text(fx->root, "sys/class/dmi/id/sys_vendor", "Acme\x01\n");
	write_text(fx->root, "sys/class/dmi/id/product_name", "Caf\xc3\xa9\n");
	write_bytes(fx->root, "sys/class/dmi/id/product_serial", nul_inside,
		    sizeof(nul_inside) - 1);
	write_text(fx->root, "sys/class/dmi/id/product_uuid", "   \n");
	memset(long_value, 'A', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	write_text(fx->root, "sys/class/dmi/id/product_sku", long_value);
	write_text(fx->root, "sys/class/dmi/id/board_vendor", "\x7f");
	write_text(fx->root, "sys/class/dmi/id/board_name", "Board 1\t\r\n");
	/* board_serial is missing, as it is when only root may read it. */

	system = get_object(collect(fx), "system");
	assert_string_equal(get_string(system, "vendor"), "");
	assert_string_equal(get_string(system, "product"), "");
	assert_string_equal(get_string(system, "serial"), "");
	assert_string_equal(get_string(system, "uuid"), "");
	/* Only the first 4 KiB of an attribute are read. */
	assert_int_equal(strlen(get_string(system, "sku")), 4096);
	assert_int_equal(strspn(get_string(system, "sku"), "A"), 4096);
	board = get_object(fx->inv, "board");
	assert_string_equal(get_string(board, "vendor"), "");
	assert_string_equal(get_string(board, "product"), "Board 1");
	assert_string_equal(get_string(board, "serial"), "");
}

/* A FIFO where an attribute should be is skipped without blocking the read. */
static void
test_inventory_fifo_attribute(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	time_t start = time(NULL);

	write_dmi(fx->root);
	snprintf(path, sizeof(path), "%s/sys/class/dmi/id/sys_vendor", fx->root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);

	assert_string_equal(get_string(get_object(collect(fx), "system"), "vendor"), "");
	assert_string_equal(get_string(get_object(fx->inv, "system"), "product"), "R640");
	assert_true(time(NULL) - start < 5);
}

static void
test_inventory_cpuinfo_empty(void **state)
{
	struct fixture *fx = *state;
	json_t *cpus;

	write_text(fx->root, "proc/cpuinfo", "");
	cpus = get_object(collect(fx), "cpus");
	assert_string_equal(get_string(cpus, "model"), "");
	assert_int_equal(get_integer(cpus, "sockets"), 1);
	assert_int_equal(get_integer(cpus, "cores"), 0);
	assert_int_equal(get_integer(cpus, "threads"), 0);
}

/* arm64 lists processors without model name, physical id or cpu cores. */
static void
test_inventory_cpuinfo_without_topology(void **state)
{
	struct fixture *fx = *state;
	json_t *cpus;

	write_text(fx->root, "proc/cpuinfo",
		   "processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n\n"
		   "processor\t: 1\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n\n"
		   "processor\t: 2\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n");
	cpus = get_object(collect(fx), "cpus");
	assert_string_equal(get_string(cpus, "model"), "");
	assert_int_equal(get_integer(cpus, "sockets"), 1);
	assert_int_equal(get_integer(cpus, "cores"), 3);
	assert_int_equal(get_integer(cpus, "threads"), 3);
}

/* A VM with one socket of four single-thread cores and a model name in UTF-8. */
static void
test_inventory_cpuinfo_one_socket(void **state)
{
	struct fixture *fx = *state;
	char text[2048];
	size_t len = 0;
	json_t *cpus;

	for (int cpu = 0; cpu < 4; cpu++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"processor\t: %d\nmodel name\t: Cort\xc3\xa9x\n"
					"physical id\t: 0\ncpu cores\t: 4\n\n", cpu);
	write_text(fx->root, "proc/cpuinfo", text);
	cpus = get_object(collect(fx), "cpus");
	assert_string_equal(get_string(cpus, "model"), "");
	assert_int_equal(get_integer(cpus, "sockets"), 1);
	assert_int_equal(get_integer(cpus, "cores"), 4);
	assert_int_equal(get_integer(cpus, "threads"), 4);
}

static void
test_inventory_meminfo_invalid(void **state)
{
	struct fixture *fx = *state;

	write_text(fx->root, "proc/meminfo", "MemTotal:       99999999999999999999 kB\n");
	assert_int_equal(get_integer(collect(fx), "memory_bytes"), 0);
}

/* An interface without driver link, carrier or valid speed still gets listed. */
static void
test_inventory_nic_unreadable_attributes(void **state)
{
	struct fixture *fx = *state;
	json_t *nics, *nic;

	write_text(fx->root, "sys/class/net/enp1s0/address", "AA:BB:CC:DD:EE:FF\n");
	write_text(fx->root, "sys/class/net/enp1s0/speed", "4294967295\n");
	make_dir(fx->root, "sys/class/net/enp1s0/device");
	write_text(fx->root, "sys/class/net/enp2s0/address", "aa:bb:cc:dd:ee:00\n");
	write_text(fx->root, "sys/class/net/enp2s0/carrier", "yes\n");
	write_text(fx->root, "sys/class/net/enp2s0/speed", "fast\n");
	make_dir(fx->root, "sys/class/net/enp2s0/device");

	nics = get_array(collect(fx), "nics");
	assert_int_equal(json_array_size(nics), 2);
	nic = json_array_get(nics, 0);
	assert_string_equal(get_string(nic, "name"), "enp1s0");
	assert_string_equal(get_string(nic, "mac"), "aa:bb:cc:dd:ee:ff");
	assert_string_equal(get_string(nic, "driver"), "");
	assert_false(get_bool(nic, "link"));
	assert_int_equal(get_integer(nic, "speed_mbps"), -1);
	nic = json_array_get(nics, 1);
	assert_string_equal(get_string(nic, "name"), "enp2s0");
	assert_false(get_bool(nic, "link"));
	assert_int_equal(get_integer(nic, "speed_mbps"), -1);
}

/* Invalid or overflowing sizes report 0, and a disk without attributes is still listed. */
static void
test_inventory_disk_invalid_size(void **state)
{
	struct fixture *fx = *state;
	json_t *disks, *disk;

	write_disk(fx->root, "sda", "many\n", 1, 0, 0);
	write_disk(fx->root, "sdb", "99999999999999999999\n", 1, 0, 0);
	make_dir(fx->root, "sys/block/sdc");

	disks = get_array(collect(fx), "disks");
	assert_int_equal(json_array_size(disks), 3);
	assert_int_equal(get_integer(json_array_get(disks, 0), "size_bytes"), 0);
	assert_int_equal(get_integer(json_array_get(disks, 1), "size_bytes"), 0);
	disk = json_array_get(disks, 2);
	assert_string_equal(get_string(disk, "name"), "sdc");
	assert_string_equal(get_string(disk, "model"), "");
	assert_string_equal(get_string(disk, "serial"), "");
	assert_int_equal(get_integer(disk, "size_bytes"), 0);
	assert_false(get_bool(disk, "rotational"));
	assert_false(get_bool(disk, "removable"));
	assert_false(get_bool(disk, "read_only"));
}

/*
 * A regular file at dev/ipmi/0 opens but rejects the IPMI ioctls, so bmc is null and
 * one line names the device and the error.
 */
static void
test_inventory_bmc_ioctl_failure(void **state)
{
	struct fixture *fx = *state;
	char log_path[PATH_MAX + 8], log[4096] = "";
	int saved, fd;
	ssize_t n;

	write_text(fx->root, "dev/ipmi/0", "");
	snprintf(log_path, sizeof(log_path), "%s/log", fx->root);
	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);

	collect(fx);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	close(fd);

	assert_true(json_is_null(get_member(fx->inv, "bmc")));
	fd = open(log_path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, log, sizeof(log) - 1);
	close(fd);
	assert_true(n > 0);
	log[n] = '\0';
	assert_non_null(strstr(log, "/dev/ipmi/0: IPMICTL_SEND_COMMAND failed: "));
	assert_non_null(strstr(log, strerror(ENOTTY)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inventory_full_tree, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_inventory_missing_files, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_inventory_dmi_non_printable, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_inventory_fifo_attribute, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_inventory_cpuinfo_empty, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_inventory_cpuinfo_without_topology,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_inventory_cpuinfo_one_socket, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_inventory_meminfo_invalid, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_inventory_nic_unreadable_attributes,
						fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_inventory_disk_invalid_size, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_inventory_bmc_ioctl_failure, fixture_setup,
						fixture_teardown),
	};

	return cmocka_run_group_tests_name("agent_inventory", tests, NULL, NULL);
}
