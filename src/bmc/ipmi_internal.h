/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Declarations the IPMI driver's files share: the session state and its command
 * helpers (ipmi_session.c), the SDR, SEL and FRU readers (ipmi_sdr.c), and the record
 * parsers (ipmi_parse.c), which take bytes only so the fuzz target can call them.
 */
#ifndef OUTPOST_BMC_IPMI_INTERNAL_H
#define OUTPOST_BMC_IPMI_INTERNAL_H

#include <freeipmi/freeipmi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bmc/bmc-internal.h"

/* The IPMI network functions of the commands the driver sends. */
#define IPMI_NETFN_CHASSIS 0x00
#define IPMI_NETFN_APP 0x06
#define IPMI_NETFN_STORAGE 0x0a

/* The largest IPMI response the driver reads, command and completion code included. */
#define IPMI_RESPONSE_MAX 64
/* RAKP-HMAC-SHA1 authentication, HMAC-SHA1-96 integrity and AES-CBC-128 encryption. */
#define IPMI_CIPHER_SUITE 3

struct ipmi {
	struct bmc_target *target;
	ipmi_ctx_t ctx;             /* NULL while no session is open */
	char host[BMC_ADDRESS_SIZE + 8];    /* "address:port", as libfreeipmi takes it */
	uint16_t port;
	unsigned int workarounds;   /* libfreeipmi's IPMI_WORKAROUND_FLAGS_* for this BMC */
	int64_t deadline_ms;        /* the running operation's, on bmc_now_ms() */
	int64_t last_used_ms;       /* the last command's, to drop sessions the BMC closed */
};

static inline const char *
ipmi_address(const struct ipmi *ipmi)
{
	return ipmi->target->address;
}

/* Log out when a session is open, and free libfreeipmi's context. */
void ipmi_session_close(struct ipmi *ipmi);

/*
 * One attempt of an operation, run in an open session. It returns -EAGAIN with a
 * reason in err for a failure that a new session may fix, so ipmi_run retries it.
 */
typedef int (*ipmi_step)(struct ipmi *ipmi, void *arg, char *err, size_t errlen);

/*
 * Run `step` within the target's timeout: open a session when none is open, and on
 * -EAGAIN drop the session and retry with backoff until the deadline passes.
 */
int ipmi_run(struct ipmi *ipmi, const char *what, ipmi_step step, void *arg, char *err,
	     size_t errlen);

/*
 * Send one command and check its completion code. Copies the response data after the
 * completion code to `data` and returns its length, or a negative errno: -EAGAIN for a
 * lost session or a busy BMC, -ENOENT for completion code 0xCB (data not present),
 * -ESTALE for 0xC5 (reservation canceled), -EOPNOTSUPP for an unsupported command or
 * parameter, -EIO for other codes.
 */
int ipmi_command(struct ipmi *ipmi, uint8_t netfn, const uint8_t *request, size_t request_len,
		 uint8_t *data, size_t size, const char *what, char *err, size_t errlen);

/* Turn libfreeipmi's error on the session into a negative errno and a message. */
int ipmi_session_error(struct ipmi *ipmi, const char *what, char *err, size_t errlen);

/* The operations of ipmi_sdr.c. */
int ipmi_read_sensors(struct ipmi *ipmi, struct bmc_sensor **ret, size_t *count, char *err,
		      size_t errlen);
int ipmi_read_events(struct ipmi *ipmi, json_t **ret, char *err, size_t errlen);
/* Read FRU device 0 into *ret (malloc'd); -ENOENT when the BMC has none. */
int ipmi_read_fru(struct ipmi *ipmi, uint8_t **ret, size_t *len, char *err, size_t errlen);

/* The libfreeipmi parsing contexts, created once per operation. */
struct ipmi_parsers {
	ipmi_sdr_ctx_t sdr;
	ipmi_sel_ctx_t sel;
	ipmi_fru_ctx_t fru;
	ipmi_interpret_ctx_t interpret;
};

int ipmi_parsers_init(struct ipmi_parsers *parsers);
void ipmi_parsers_free(struct ipmi_parsers *parsers);

/*
 * Fill the name, kind and unit of `sensor` from a full or compact sensor record.
 * Returns 1 for a threshold sensor, whose reading is worth asking for, 0 for a record
 * to skip, or -EINVAL for a record that does not parse.
 */
int ipmi_parse_sensor_record(struct ipmi_parsers *parsers, const uint8_t *record, size_t len,
			     struct bmc_sensor *sensor);

/* Convert a reading in the record's unit to the sensor's (°F and K become Cel). */
double ipmi_sensor_value(struct ipmi_parsers *parsers, const uint8_t *record, size_t len,
			 double reading);

/* One SEL entry of 16 bytes as {"id", "created", "severity", "message"}. */
int ipmi_parse_sel_entry(struct ipmi_parsers *parsers, const uint8_t *record, size_t len,
			 json_t **ret);

#define IPMI_FRU_TEXT_SIZE 128

struct ipmi_fru_info {
	char manufacturer[IPMI_FRU_TEXT_SIZE];
	char model[IPMI_FRU_TEXT_SIZE];
	char serial[IPMI_FRU_TEXT_SIZE];
};

/* The product area's fields, or the board area's where the product area lacks them. */
int ipmi_parse_fru(struct ipmi_parsers *parsers, const uint8_t *data, size_t len,
		   struct ipmi_fru_info *info);

/*
 * Write the 16 bytes of Get System GUID as the RFC 4122 text that SMBIOS and the
 * operating system show. IPMI sends the GUID least significant byte first, so the
 * text is the bytes in reverse order.
 */
void ipmi_guid_text(const uint8_t guid[16], char out[37]);

#endif
