/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drivers for servers' baseboard management controllers: Redfish over HTTPS and IPMI
 * 2.0 over LAN, behind one interface. A `struct bmc` is a connection to one BMC, and
 * one thread at a time uses it. Operations on different BMCs run in parallel, so a
 * dead BMC delays only its own.
 *
 * Every call is bounded by the target's timeout and retries transient failures
 * (connection refused or reset, timeouts, HTTP 5xx, 429) with backoff inside that
 * bound. On failure a call returns a negative errno and writes one line for the
 * operator to `err`: what failed, at which address and URI, and the BMC's own
 * message when it sent one. Credentials never appear in `err` or in the log.
 */
#ifndef OUTPOST_BMC_H
#define OUTPOST_BMC_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bmc_protocol {
	BMC_REDFISH,
	BMC_IPMI,
};

/* The check of a Redfish BMC's certificate. IPMI has no TLS. */
enum bmc_tls {
	BMC_TLS_CA,        /* the chain verifies against `ca_file` and names the address */
	BMC_TLS_PINNED,    /* the SHA-256 of the certificate's public key (SubjectPublicKeyInfo,
			      DER) equals `fingerprint`; the chain and name are not checked */
	BMC_TLS_TOFU,      /* trust on first use: record the fingerprint, then as PINNED */
};

#define BMC_ADDRESS_SIZE 256
#define BMC_USER_SIZE 64
#define BMC_SECRET_SIZE 128
#define BMC_PATH_SIZE 1024
#define BMC_FINGERPRINT_SIZE 65    /* SHA-256 in lower-case hex */
#define BMC_ERR_SIZE 512

struct bmc_target {
	enum bmc_protocol protocol;
	char address[BMC_ADDRESS_SIZE];     /* host name, IPv4 or [IPv6] */
	uint16_t port;                      /* 0: 443 for Redfish, 623 for IPMI */
	char username[BMC_USER_SIZE];
	char password[BMC_SECRET_SIZE];     /* secret: never logged */
	enum bmc_tls tls;
	char ca_file[BMC_PATH_SIZE];        /* BMC_TLS_CA: PEM bundle */
	char fingerprint[BMC_FINGERPRINT_SIZE]; /* PINNED, or TOFU once learned */
	int timeout_ms;                     /* whole operation, retries included */
	const atomic_bool *cancel;          /* NULL, or true to stop retrying and waiting */
};

struct bmc;

/*
 * Connect to the BMC. For Redfish, read the service root and log in: a session when
 * the service offers one, else basic authentication. For IPMI, open a LAN session.
 * With BMC_TLS_TOFU and no fingerprint yet, the key's fingerprint is written to
 * target->fingerprint for the caller to store.
 */
int bmc_open(struct bmc_target *target, struct bmc **ret, char *err, size_t errlen);

/* Log out (the Redfish session is deleted) and free. Returns NULL. */
struct bmc *bmc_close(struct bmc *bmc);

enum bmc_power {
	BMC_POWER_ON,
	BMC_POWER_OFF,          /* immediate: destructive */
	BMC_POWER_SHUTDOWN,     /* graceful, through the operating system */
	BMC_POWER_RESET,        /* immediate warm or hard reset: destructive */
	BMC_POWER_CYCLE,        /* off, then on: destructive */
};

const char *bmc_power_name(enum bmc_power action);
int bmc_power_parse(const char *name, enum bmc_power *ret);

/* The power state: "on", "off", "powering-on", "powering-off" or "unknown". */
int bmc_power_state(struct bmc *bmc, char *state, size_t size, char *err, size_t errlen);
int bmc_power_set(struct bmc *bmc, enum bmc_power action, char *err, size_t errlen);

enum bmc_boot_device {
	BMC_BOOT_PXE,
	BMC_BOOT_HTTP,          /* UEFI HTTP boot */
	BMC_BOOT_CD,            /* virtual media or a real drive */
	BMC_BOOT_DISK,
};

enum bmc_boot_mode {
	BMC_BOOT_MODE_KEEP,     /* leave the BMC's mode as it is */
	BMC_BOOT_MODE_UEFI,
	BMC_BOOT_MODE_LEGACY,
};

const char *bmc_boot_device_name(enum bmc_boot_device device);
int bmc_boot_device_parse(const char *name, enum bmc_boot_device *ret);
const char *bmc_boot_mode_name(enum bmc_boot_mode mode);
int bmc_boot_mode_parse(const char *name, enum bmc_boot_mode *ret);

/* Boot from `device` once, at the next boot. */
int bmc_boot_once(struct bmc *bmc, enum bmc_boot_device device, enum bmc_boot_mode mode,
		  char *err, size_t errlen);

/* Insert the image at `url` (HTTP or HTTPS, reachable by the BMC) as a virtual CD. */
int bmc_media_insert(struct bmc *bmc, const char *url, char *err, size_t errlen);
int bmc_media_eject(struct bmc *bmc, char *err, size_t errlen);
/* {"inserted": bool, "image": "URL" or null, "devices": ["CD", ...]} */
int bmc_media_status(struct bmc *bmc, json_t **ret, char *err, size_t errlen);

/*
 * The system: {"manufacturer", "model", "serial", "uuid", "bios_version",
 * "power_state", "macs": [...], "boot": {"mode", "override"}} with what the BMC
 * reports, and the firmware: [{"id", "name", "version", "updateable"}].
 */
int bmc_inventory(struct bmc *bmc, json_t **system, json_t **firmware, char *err,
		  size_t errlen);

enum bmc_sensor_kind {
	BMC_SENSOR_TEMPERATURE,   /* Cel */
	BMC_SENSOR_FAN,           /* RPM, or % when the BMC reports only that */
	BMC_SENSOR_POWER,         /* W */
	BMC_SENSOR_VOLTAGE,       /* V */
	BMC_SENSOR_CURRENT,       /* A */
	BMC_SENSOR_OTHER,
};

#define BMC_SENSOR_NAME_SIZE 64

struct bmc_sensor {
	char name[BMC_SENSOR_NAME_SIZE];
	enum bmc_sensor_kind kind;
	double value;
	char unit[8];
	bool has_value;           /* false: the BMC lists the sensor without a reading */
};

const char *bmc_sensor_kind_name(enum bmc_sensor_kind kind);

/* Every sensor with its reading; *ret is freed by the caller. */
int bmc_sensors(struct bmc *bmc, struct bmc_sensor **ret, size_t *count, char *err,
		size_t errlen);

/*
 * The system event log, in the order the BMC keeps it, at most 1000 entries (over
 * IPMI the newest, over Redfish the first the BMC lists):
 * [{"id", "created", "severity", "message"}].
 */
int bmc_events(struct bmc *bmc, json_t **ret, char *err, size_t errlen);

/*
 * Ask the BMC to fetch and apply the firmware image at `url` (Redfish
 * UpdateService.SimpleUpdate), and wait for the task it starts to finish.
 */
int bmc_firmware_update(struct bmc *bmc, const char *url, char *err, size_t errlen);

/*
 * Credentials at rest (secret.c). The key is BMC_KEY_SIZE random bytes in
 * STATE_DIR/bmc-secret.key, created on first use. A sealed secret is text of at most
 * BMC_SEALED_SIZE bytes, bound to `context` (protocol, address, port and user name of
 * its BMC): opening it with another context or key fails with -EBADMSG.
 */
#define BMC_KEY_SIZE 32
#define BMC_SEALED_SIZE (3 + ((12 + BMC_SECRET_SIZE + 16 + 2) / 3) * 4 + 1)

int bmc_secret_key_load(const char *state_dir, unsigned char key[BMC_KEY_SIZE]);
int bmc_secret_seal(const unsigned char key[BMC_KEY_SIZE], const char *context,
		    const char *secret, char *out, size_t size);
int bmc_secret_open(const unsigned char key[BMC_KEY_SIZE], const char *context,
		    const char *sealed, char *out, size_t size);

#endif
