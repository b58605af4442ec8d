/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The IPMI 2.0 over LAN driver: an RMCP+ session at ADMINISTRATOR privilege with
 * cipher suite 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128), and the chassis and
 * inventory operations. The session and its retries are in ipmi_session.c, sensors,
 * the SEL and the FRU in ipmi_sdr.c. IPMI has no virtual media or firmware update, so
 * those operations stay NULL and bmc.c reports them as unsupported.
 */
#include "bmc/ipmi_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"

#define IPMI_DEFAULT_PORT 623
/* The shortest timeout that leaves time for one login attempt. */
#define IPMI_TIMEOUT_MIN_MS 200

/* The actions of the IPMI 2.0 Chassis Control command. */
enum {
	CHASSIS_POWER_DOWN = 0x00,
	CHASSIS_POWER_UP = 0x01,
	CHASSIS_POWER_CYCLE = 0x02,
	CHASSIS_HARD_RESET = 0x03,
	CHASSIS_SOFT_SHUTDOWN = 0x05,
};

/* Boot flags: parameter 5 of the IPMI 2.0 system boot options. */
#define BOOT_PARAM_FLAGS 0x05
#define BOOT_FLAG_VALID 0x80
#define BOOT_FLAG_PERSISTENT 0x40
#define BOOT_FLAG_EFI 0x20
#define BOOT_DEVICE_PXE 0x1
#define BOOT_DEVICE_DISK 0x2
#define BOOT_DEVICE_CD 0x5


static struct ipmi *
ipmi_of(struct bmc *bmc)
{
	return bmc->driver;
}

/* Get Chassis Status: bit 0 of the current power state byte is "power is on". */
static int
read_power(struct ipmi *ipmi, bool *on, char *err, size_t errlen)
{
	const uint8_t request[] = { 0x01 };
	uint8_t data[8];
	int n = ipmi_command(ipmi, IPMI_NETFN_CHASSIS, request, sizeof(request), data,
			     sizeof(data), "reading the chassis status", err, errlen);

	if (n < 0)
		return n;
	if (n < 1)
		return bmc_fail(-EIO, err, errlen, "chassis status from %s has no power state",
				ipmi_address(ipmi));
	*on = (data[0] & 0x01) != 0;
	return 0;
}

struct power_state_arg {
	char *state;
	size_t size;
};

static int
power_state_step(struct ipmi *ipmi, void *arg, char *err, size_t errlen)
{
	struct power_state_arg *a = arg;
	bool on;
	int r = read_power(ipmi, &on, err, errlen);

	if (r < 0)
		return r;
	snprintf(a->state, a->size, "%s", on ? "on" : "off");
	return 0;
}

static int
ipmi_power_state(struct bmc *bmc, char *state, size_t size, char *err, size_t errlen)
{
	struct power_state_arg arg = { state, size };

	return ipmi_run(ipmi_of(bmc), "power state", power_state_step, &arg, err, errlen);
}

static int
power_set_step(struct ipmi *ipmi, void *arg, char *err, size_t errlen)
{
	enum bmc_power action = *(enum bmc_power *)arg;
	uint8_t request[2] = { 0x02, 0 };
	uint8_t data[4];
	bool on;
	int r;

	switch (action) {
	case BMC_POWER_ON: request[1] = CHASSIS_POWER_UP; break;
	case BMC_POWER_OFF: request[1] = CHASSIS_POWER_DOWN; break;
	case BMC_POWER_SHUTDOWN: request[1] = CHASSIS_SOFT_SHUTDOWN; break;
	case BMC_POWER_RESET: request[1] = CHASSIS_HARD_RESET; break;
	case BMC_POWER_CYCLE:
		/* IPMI defines a power cycle only with the power on, so an off server is started. */
		r = read_power(ipmi, &on, err, errlen);
		if (r < 0)
			return r;
		request[1] = on ? CHASSIS_POWER_CYCLE : CHASSIS_POWER_UP;
		break;
	default:
		return bmc_fail(-EINVAL, err, errlen, "invalid power action %d", (int)action);
	}
	r = ipmi_command(ipmi, IPMI_NETFN_CHASSIS, request, sizeof(request), data, sizeof(data),
			 "chassis control", err, errlen);
	return r < 0 ? r : 0;
}

/* NOTE: a retry after a lost reply sends the action again; a cycle may then run twice. */
static int
ipmi_power_set(struct bmc *bmc, enum bmc_power action, char *err, size_t errlen)
{
	struct ipmi *ipmi = ipmi_of(bmc);
	int r = ipmi_run(ipmi, "power control", power_set_step, &action, err, errlen);

	if (r == 0)
		log_info("bmc: ipmi power %s address=%s", bmc_power_name(action),
			 ipmi_address(ipmi));
	return r;
}

/* The first data byte of the boot flags, or -ENOENT when the BMC has none to read. */
static int
read_boot_flags(struct ipmi *ipmi, uint8_t flags[5], char *err, size_t errlen)
{
	const uint8_t request[] = { 0x09, BOOT_PARAM_FLAGS, 0x00, 0x00 };
	uint8_t data[16];
	int n = ipmi_command(ipmi, IPMI_NETFN_CHASSIS, request, sizeof(request), data,
			     sizeof(data), "reading the boot flags", err, errlen);

	if (n < 0)
		return n == -EOPNOTSUPP ? -ENOENT : n;
	/* Parameter version, then the parameter selector, then its 5 data bytes. */
	if (n < 7 || (data[1] & 0x7f) != BOOT_PARAM_FLAGS)
		return bmc_fail(-EIO, err, errlen, "boot flags from %s are %d bytes, expected 7",
				ipmi_address(ipmi), n);
	memcpy(flags, data + 2, 5);
	return 0;
}

struct boot_arg {
	uint8_t device;
	enum bmc_boot_mode mode;
};

static int
boot_once_step(struct ipmi *ipmi, void *arg, char *err, size_t errlen)
{
	const struct boot_arg *a = arg;
	uint8_t current[5] = { 0 }, data[4];
	uint8_t request[7] = { 0x08, BOOT_PARAM_FLAGS, BOOT_FLAG_VALID, 0, 0, 0, 0 };
	int r;

	if (a->mode == BMC_BOOT_MODE_KEEP) {
		r = read_boot_flags(ipmi, current, err, errlen);
		if (r == -ENOENT)
			log_info("bmc: ipmi boot flags unreadable, BIOS boot type left at legacy "
				 "address=%s", ipmi_address(ipmi));
		else if (r < 0)
			return r;
		request[2] |= current[0] & BOOT_FLAG_EFI;
	} else if (a->mode == BMC_BOOT_MODE_UEFI) {
		request[2] |= BOOT_FLAG_EFI;
	}
	request[3] = (uint8_t)(a->device << 2);

	/*
	 * NOTE: the IPMI 2.0 specification lets BMCs clear the valid bit when the server
	 * does not restart within 60 s, so the caller resets or powers on right after.
	 */
	r = ipmi_command(ipmi, IPMI_NETFN_CHASSIS, request, sizeof(request), data, sizeof(data),
			 "setting the boot flags", err, errlen);
	return r < 0 ? r : 0;
}

static int
ipmi_boot_once(struct bmc *bmc, enum bmc_boot_device device, enum bmc_boot_mode mode,
	       char *err, size_t errlen)
{
	struct ipmi *ipmi = ipmi_of(bmc);
	struct boot_arg arg = { .mode = mode };
	int r;

	switch (device) {
	case BMC_BOOT_PXE: arg.device = BOOT_DEVICE_PXE; break;
	case BMC_BOOT_DISK: arg.device = BOOT_DEVICE_DISK; break;
	case BMC_BOOT_CD: arg.device = BOOT_DEVICE_CD; break;
	case BMC_BOOT_HTTP:
		return bmc_fail(-EOPNOTSUPP, err, errlen,
				"UEFI HTTP boot over IPMI is not supported by %s: the IPMI boot "
				"flags have no HTTP device; use pxe, or Redfish", ipmi_address(ipmi));
	default:
		return bmc_fail(-EINVAL, err, errlen, "invalid boot device %d", (int)device);
	}
	r = ipmi_run(ipmi, "boot override", boot_once_step, &arg, err, errlen);
	if (r == 0)
		log_info("bmc: ipmi boot once device=%s mode=%s address=%s",
			 bmc_boot_device_name(device), bmc_boot_mode_name(mode), ipmi_address(ipmi));
	return r;
}

static json_t *
text_or_null(const char *text)
{
	return text != NULL && text[0] != '\0' ? json_string(text) : json_null();
}

/*
 * The inventory's optional parts return -EAGAIN when the session is lost, so the
 * inventory is retried whole; any other failure only leaves their fields out.
 */
static int
optional_part(struct ipmi *ipmi, int r, const char *what, const char *err)
{
	if (r == -EAGAIN)
		return r;
	log_debug("bmc: ipmi %s unavailable address=%s: %s", what, ipmi_address(ipmi), err);
	return 0;
}

/* Get System Info Parameters, parameter 1: the system firmware (BIOS) version. */
static int
read_bios_version(struct ipmi *ipmi, json_t *system, char *err, size_t errlen)
{
	const uint8_t request[] = { 0x59, 0x00, 0x01, 0x00, 0x00 };
	uint8_t data[32];
	char text[20];
	int n = ipmi_command(ipmi, IPMI_NETFN_APP, request, sizeof(request), data, sizeof(data),
			     "reading the BIOS version", err, errlen);
	size_t len;

	if (n < 0)
		return optional_part(ipmi, n, "BIOS version", err);
	/* Revision, set selector, encoding, string length, then up to 14 bytes of text. */
	if (n < 4)
		return optional_part(ipmi, -EIO, "BIOS version", "short response");
	len = data[3];
	if (len > (size_t)n - 4)
		len = (size_t)n - 4;
	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	memcpy(text, data + 4, len);
	text[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (text[i] < 0x20 || text[i] > 0x7e)
			text[i] = '?';
	if (len > 0)
		json_object_set_new(system, "bios_version", json_string(text));
	return 0;
}

static int
add_fru(struct ipmi *ipmi, json_t *system, char *err, size_t errlen)
{
	struct ipmi_parsers parsers;
	struct ipmi_fru_info info = { "", "", "" };
	uint8_t *fru = NULL;
	size_t len = 0;
	int r = ipmi_read_fru(ipmi, &fru, &len, err, errlen);

	if (r < 0)
		return optional_part(ipmi, r, "FRU", err);
	if (ipmi_parsers_init(&parsers) == 0) {
		if (ipmi_parse_fru(&parsers, fru, len, &info) < 0)
			log_warning("bmc: ipmi FRU 0 does not parse address=%s", ipmi_address(ipmi));
		ipmi_parsers_free(&parsers);
	}
	free(fru);
	if (info.manufacturer[0] != '\0')
		json_object_set_new(system, "manufacturer", json_string(info.manufacturer));
	if (info.model[0] != '\0')
		json_object_set_new(system, "model", json_string(info.model));
	if (info.serial[0] != '\0')
		json_object_set_new(system, "serial", json_string(info.serial));
	return 0;
}

/* "boot": {"mode", "override"} from the boot flags, null when they are unreadable. */
static int
add_boot(struct ipmi *ipmi, json_t *system, char *err, size_t errlen)
{
	static const char *const devices[16] = {
		[BOOT_DEVICE_PXE] = "pxe", [BOOT_DEVICE_DISK] = "disk", [BOOT_DEVICE_CD] = "cd",
	};
	uint8_t flags[5];
	const char *override = "none";
	int r = read_boot_flags(ipmi, flags, err, errlen);

	if (r < 0) {
		json_object_set_new(system, "boot", json_null());
		return optional_part(ipmi, r, "boot flags", err);
	}
	if ((flags[0] & BOOT_FLAG_VALID) != 0) {
		override = devices[(flags[1] >> 2) & 0x0f];
		if (override == NULL)
			override = "other";
	}
	json_object_set_new(system, "boot", json_pack("{s:s, s:s}", "mode",
			    (flags[0] & BOOT_FLAG_EFI) != 0 ? "uefi" : "legacy", "override",
			    override));
	return 0;
}

struct inventory_arg {
	json_t *system;
	json_t *firmware;
};

static int
inventory_step(struct ipmi *ipmi, void *arg, char *err, size_t errlen)
{
	struct inventory_arg *a = arg;
	const uint8_t device_id[] = { 0x01 }, system_guid[] = { 0x37 };
	uint8_t data[32];
	char version[16], name[128] = "", uuid[37];
	uint32_t manufacturer;
	bool on;
	int n, r;

	/* Get Device ID: firmware revision in bytes 3 and 4, manufacturer in 7 to 9. */
	n = ipmi_command(ipmi, IPMI_NETFN_APP, device_id, sizeof(device_id), data, sizeof(data),
			 "reading the device ID", err, errlen);
	if (n < 0)
		return n;
	if (n < 11)
		return bmc_fail(-EIO, err, errlen, "device ID from %s is %d bytes, expected 11",
				ipmi_address(ipmi), n);
	snprintf(version, sizeof(version), "%u.%02x", data[2] & 0x7f, data[3]);
	manufacturer = data[6] | (uint32_t)data[7] << 8 | (uint32_t)(data[8] & 0x0f) << 16;
	if (ipmi_iana_enterprise_numbers_string(manufacturer, name, sizeof(name)) < 0)
		name[0] = '\0';

	r = read_power(ipmi, &on, err, errlen);
	if (r < 0)
		return r;

	json_decref(a->system);
	json_decref(a->firmware);
	a->system = json_pack("{s:o, s:n, s:n, s:n, s:s}", "manufacturer", text_or_null(name),
			      "model", "serial", "uuid", "power_state", on ? "on" : "off");
	a->firmware = json_pack("[{s:s, s:s, s:s, s:b}]", "id", "bmc", "name", "BMC", "version",
				version, "updateable", 0);
	if (a->system == NULL || a->firmware == NULL)
		return bmc_fail(-ENOMEM, err, errlen, "out of memory");

	n = ipmi_command(ipmi, IPMI_NETFN_APP, system_guid, sizeof(system_guid), data,
			 sizeof(data), "reading the system GUID", err, errlen);
	if (n >= 16) {
		ipmi_guid_text(data, uuid);
		json_object_set_new(a->system, "uuid", json_string(uuid));
	} else if (optional_part(ipmi, n < 0 ? n : -EIO, "system GUID",
				 n < 0 ? err : "short response") < 0) {
		return -EAGAIN;
	}

	r = add_fru(ipmi, a->system, err, errlen);
	if (r == 0)
		r = read_bios_version(ipmi, a->system, err, errlen);
	if (r == 0)
		r = add_boot(ipmi, a->system, err, errlen);
	return r;
}

static int
ipmi_inventory(struct bmc *bmc, json_t **system, json_t **firmware, char *err, size_t errlen)
{
	struct inventory_arg arg = { NULL, NULL };
	int r = ipmi_run(ipmi_of(bmc), "inventory", inventory_step, &arg, err, errlen);

	if (r < 0) {
		json_decref(arg.system);
		json_decref(arg.firmware);
		return r;
	}
	*system = arg.system;
	*firmware = arg.firmware;
	return 0;
}

static int
ipmi_sensors(struct bmc *bmc, struct bmc_sensor **ret, size_t *count, char *err, size_t errlen)
{
	return ipmi_read_sensors(ipmi_of(bmc), ret, count, err, errlen);
}

static int
ipmi_events(struct bmc *bmc, json_t **ret, char *err, size_t errlen)
{
	return ipmi_read_events(ipmi_of(bmc), ret, err, errlen);
}

static void
ipmi_close(struct bmc *bmc)
{
	struct ipmi *ipmi = ipmi_of(bmc);

	if (ipmi == NULL)
		return;
	ipmi_session_close(ipmi);
	free(ipmi);
	bmc->driver = NULL;
}

static const struct bmc_ops ipmi_ops = {
	.name = "ipmi",
	.close = ipmi_close,
	.power_state = ipmi_power_state,
	.power_set = ipmi_power_set,
	.boot_once = ipmi_boot_once,
	.inventory = ipmi_inventory,
	.sensors = ipmi_sensors,
	.events = ipmi_events,
};

/* Logging in is the whole step: a session that opens proves the credentials. */
static int
login_step(struct ipmi *ipmi, void *arg, char *err, size_t errlen)
{
	(void)ipmi;
	(void)arg;
	(void)err;
	(void)errlen;
	return 0;
}

int
bmc_ipmi_open(struct bmc *bmc, char *err, size_t errlen)
{
	struct bmc_target *t = bmc->target;
	struct ipmi *ipmi;
	size_t len = strlen(t->address);
	int r;

	if (len == 0)
		return bmc_fail(-EINVAL, err, errlen, "missing BMC address; set the address");
	/* libfreeipmi takes "host:port" and "[IPv6]:port", so an IPv6 address needs brackets. */
	if (strchr(t->address, ':') != NULL &&
	    (t->address[0] != '[' || t->address[len - 1] != ']'))
		return bmc_fail(-EINVAL, err, errlen,
				"invalid BMC address '%s': write an IPv6 address in brackets, "
				"as [%s]", t->address, t->address);
	/* Below this, no login attempt fits in the time. */
	if (t->timeout_ms < IPMI_TIMEOUT_MIN_MS)
		return bmc_fail(-EINVAL, err, errlen, "invalid BMC timeout %d ms; use at least %d "
				"ms", t->timeout_ms, IPMI_TIMEOUT_MIN_MS);
	/* IPMI 2.0 carries at most 16 bytes of user name and 20 of password. */
	if (strlen(t->username) > 16)
		return bmc_fail(-EINVAL, err, errlen, "invalid IPMI user name '%s': IPMI allows at "
				"most 16 bytes", t->username);
	if (strlen(t->password) > 20)
		return bmc_fail(-EINVAL, err, errlen, "the IPMI password for %s is %zu bytes long; "
				"IPMI allows at most 20", t->address, strlen(t->password));

	ipmi = calloc(1, sizeof(*ipmi));
	if (ipmi == NULL)
		return bmc_fail(-ENOMEM, err, errlen, "out of memory");
	ipmi->target = t;
	/* Name ADMINISTRATOR in the Open Session request (session_open explains why). */
	ipmi->workarounds = IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE;
	ipmi->port = t->port != 0 ? t->port : IPMI_DEFAULT_PORT;
	snprintf(ipmi->host, sizeof(ipmi->host), "%s:%u", t->address, ipmi->port);

	r = ipmi_run(ipmi, "login", login_step, NULL, err, errlen);
	if (r < 0) {
		free(ipmi);
		return r;
	}
	bmc->driver = ipmi;
	bmc->ops = &ipmi_ops;
	log_info("bmc: ipmi connected address=%s port=%u user='%s' cipher_suite=%d", t->address,
		 ipmi->port, t->username, IPMI_CIPHER_SUITE);
	return 0;
}
