/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The IPMI driver's repository readers: the SDR repository and each threshold sensor's
 * reading, the system event log, and FRU device 0. Records are fetched with raw
 * commands and parsed by ipmi_parse.c; readings come from libfreeipmi's sensor-read
 * library, which applies the record's conversion factors.
 */
#include "bmc/ipmi_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"

/* Upper bounds against a BMC whose record links loop or never end. */
#define SDR_RECORDS_MAX 1024
/* The SEL is walked from its first entry, so all are read and the newest kept. */
#define SEL_ENTRIES_MAX 65535
#define SEL_ENTRIES_KEPT 1000
/* A record header plus the largest body its one-byte length allows. */
#define SDR_RECORD_MAX (5 + 255)
/* Bytes per partial read: 16 fits the smallest message buffers BMCs have. */
#define READ_CHUNK 16
/* Product and board areas fit in far less; a larger FRU is read up to here. */
#define FRU_READ_MAX 4096
#define RESERVATION_RETRIES 3
#define RECORD_LAST 0xffff

static int
reserve_sdr(struct ipmi *ipmi, uint16_t *reservation, char *err, size_t errlen)
{
	const uint8_t request[] = { 0x22 };
	uint8_t data[4];
	int n = ipmi_command(ipmi, IPMI_NETFN_STORAGE, request, sizeof(request), data,
			     sizeof(data), "reserving the SDR repository", err, errlen);

	/* A BMC without reservations takes reservation ID 0. */
	if (n == -EOPNOTSUPP) {
		*reservation = 0;
		return 0;
	}
	if (n < 0)
		return n;
	if (n < 2)
		return bmc_fail(-EIO, err, errlen, "SDR reservation from %s is too short",
				ipmi->target->address);
	*reservation = (uint16_t)(data[0] | data[1] << 8);
	return 0;
}

/* One Get SDR call: `count` bytes of record `id` from `offset`, and the next record's ID. */
static int
get_sdr_part(struct ipmi *ipmi, uint16_t reservation, uint16_t id, uint8_t offset,
	     uint8_t count, uint8_t *out, uint16_t *next, char *err, size_t errlen)
{
	const uint8_t request[] = { 0x23, (uint8_t)reservation, (uint8_t)(reservation >> 8),
				    (uint8_t)id, (uint8_t)(id >> 8), offset, count };
	uint8_t data[2 + READ_CHUNK];
	int n = ipmi_command(ipmi, IPMI_NETFN_STORAGE, request, sizeof(request), data,
			     sizeof(data), "reading the SDR repository", err, errlen);

	if (n < 0)
		return n;
	if (n != 2 + count)
		return bmc_fail(-EIO, err, errlen, "SDR record 0x%04x from %s: %d bytes at offset "
				"%u, expected %u", id, ipmi->target->address, n - 2, offset, count);
	*next = (uint16_t)(data[0] | data[1] << 8);
	memcpy(out, data + 2, count);
	return 0;
}

static int
get_sdr_record(struct ipmi *ipmi, uint16_t reservation, uint16_t id, uint8_t *record,
	       size_t *len, uint16_t *next, char *err, size_t errlen)
{
	size_t total, offset;
	uint16_t ignored;
	int r = get_sdr_part(ipmi, reservation, id, 0, 5, record, next, err, errlen);

	if (r < 0)
		return r;
	total = 5 + (size_t)record[4];
	for (offset = 5; offset < total; offset += READ_CHUNK) {
		uint8_t count = (uint8_t)(total - offset > READ_CHUNK ? READ_CHUNK : total - offset);

		r = get_sdr_part(ipmi, reservation, id, (uint8_t)offset, count, record + offset,
				 &ignored, err, errlen);
		if (r < 0)
			return r;
	}
	*len = total;
	return 0;
}

/* Reserve again when another client's change cancels the reservation mid-record. */
static int
read_sdr_record(struct ipmi *ipmi, uint16_t *reservation, uint16_t id, uint8_t *record,
		size_t *len, uint16_t *next, char *err, size_t errlen)
{
	int r = -ESTALE;

	for (int attempt = 0; attempt < RESERVATION_RETRIES && r == -ESTALE; attempt++) {
		if (attempt > 0 && (r = reserve_sdr(ipmi, reservation, err, errlen)) < 0)
			return r;
		r = get_sdr_record(ipmi, *reservation, id, record, len, next, err, errlen);
	}
	return r == -ESTALE ? -EAGAIN : r;
}

struct sensor_list {
	struct bmc_sensor *items;
	size_t count;
	size_t size;
};

static int
sensor_add(struct sensor_list *list, const struct bmc_sensor *sensor)
{
	if (list->count == list->size) {
		size_t size = list->size == 0 ? 16 : list->size * 2;
		struct bmc_sensor *items = realloc(list->items, size * sizeof(*items));

		if (items == NULL)
			return -ENOMEM;
		list->items = items;
		list->size = size;
	}
	list->items[list->count++] = *sensor;
	return 0;
}

/* Errors of the session itself, as opposed to this one sensor having no reading. */
static bool
session_lost(struct ipmi *ipmi)
{
	switch (ipmi_ctx_errnum(ipmi->ctx)) {
	case IPMI_ERR_SESSION_TIMEOUT:
	case IPMI_ERR_CONNECTION_TIMEOUT:
	case IPMI_ERR_MESSAGE_TIMEOUT:
	case IPMI_ERR_BMC_BUSY:
	case IPMI_ERR_SYSTEM_ERROR:
		return true;
	default:
		return false;
	}
}

static int
read_sensor_value(struct ipmi *ipmi, ipmi_sensor_read_ctx_t reader,
		  struct ipmi_parsers *parsers, const uint8_t *record, size_t len,
		  struct bmc_sensor *sensor, char *err, size_t errlen)
{
	uint8_t raw = 0;
	uint16_t events = 0;
	double *reading = NULL;
	int r, errnum;

	if (bmc_now_ms() >= ipmi->deadline_ms)
		return bmc_fail(-EAGAIN, err, errlen, "reading sensors on %s: the operation's "
				"time ran out", ipmi->target->address);
	r = ipmi_sensor_read(reader, record, (unsigned int)len, 0, &raw, &reading, &events);
	if (r > 0 && reading != NULL) {
		sensor->value = ipmi_sensor_value(parsers, record, len, *reading);
		sensor->has_value = true;
		ipmi->last_used_ms = bmc_now_ms();
	}
	free(reading);
	if (r >= 0)
		return 0;

	errnum = ipmi_sensor_read_ctx_errnum(reader);
	if (errnum == IPMI_SENSOR_READ_ERR_OUT_OF_MEMORY)
		return bmc_fail(-ENOMEM, err, errlen, "out of memory");
	if (errnum == IPMI_SENSOR_READ_ERR_NODE_BUSY ||
	    (errnum == IPMI_SENSOR_READ_ERR_IPMI_ERROR && session_lost(ipmi)))
		return ipmi_session_error(ipmi, "reading sensors", err, errlen);
	log_debug("bmc: ipmi sensor '%s' has no reading address=%s: %s", sensor->name,
		  ipmi->target->address, ipmi_sensor_read_ctx_strerror(errnum));
	return 0;
}

static int
sensors_step(struct ipmi *ipmi, void *arg, char *err, size_t errlen)
{
	struct sensor_list *list = arg;
	struct ipmi_parsers parsers;
	ipmi_sensor_read_ctx_t reader;
	uint8_t record[SDR_RECORD_MAX];
	uint16_t reservation, id = 0, next;
	size_t len;
	int r, parsed;

	list->count = 0;
	if (ipmi_parsers_init(&parsers) < 0)
		return bmc_fail(-ENOMEM, err, errlen, "out of memory");
	reader = ipmi_sensor_read_ctx_create(ipmi->ctx);
	if (reader == NULL) {
		ipmi_parsers_free(&parsers);
		return bmc_fail(-ENOMEM, err, errlen, "out of memory");
	}

	r = reserve_sdr(ipmi, &reservation, err, errlen);
	for (int i = 0; r == 0 && id != RECORD_LAST; i++) {
		struct bmc_sensor sensor;

		if (i == SDR_RECORDS_MAX) {
			log_warning("bmc: ipmi SDR repository longer than %d records, rest skipped "
				    "address=%s", SDR_RECORDS_MAX, ipmi->target->address);
			break;
		}
		r = read_sdr_record(ipmi, &reservation, id, record, &len, &next, err, errlen);
		/* An empty repository returns "not present" (0xCB) for the first record. */
		if (r == -ENOENT && i == 0) {
			r = 0;
			break;
		}
		if (r < 0)
			break;
		parsed = ipmi_parse_sensor_record(&parsers, record, len, &sensor);
		if (parsed == 1) {
			r = read_sensor_value(ipmi, reader, &parsers, record, len, &sensor, err,
					      errlen);
			if (r == 0 && sensor_add(list, &sensor) < 0)
				r = bmc_fail(-ENOMEM, err, errlen, "out of memory");
		} else if (parsed < 0) {
			log_warning("bmc: ipmi SDR record 0x%04x does not parse, left out address=%s",
				    id, ipmi->target->address);
		}
		if (next == id)
			break;
		id = next;
	}

	ipmi_sensor_read_ctx_destroy(reader);
	ipmi_parsers_free(&parsers);
	return r;
}

int
ipmi_read_sensors(struct ipmi *ipmi, struct bmc_sensor **ret, size_t *count, char *err,
		  size_t errlen)
{
	struct sensor_list list = { NULL, 0, 0 };
	int r = ipmi_run(ipmi, "sensors", sensors_step, &list, err, errlen);

	if (r < 0) {
		free(list.items);
		return r;
	}
	*ret = list.items;
	*count = list.count;
	return 0;
}

struct events_arg {
	json_t *list;
};

static int
events_step(struct ipmi *ipmi, void *arg, char *err, size_t errlen)
{
	struct events_arg *a = arg;
	struct ipmi_parsers parsers;
	uint16_t id = 0, next;
	int r = 0;

	json_array_clear(a->list);
	if (ipmi_parsers_init(&parsers) < 0)
		return bmc_fail(-ENOMEM, err, errlen, "out of memory");

	/* Reads of whole entries need no reservation, so the reservation ID is 0. */
	for (int i = 0; id != RECORD_LAST; i++) {
		const uint8_t request[] = { 0x43, 0x00, 0x00, (uint8_t)id, (uint8_t)(id >> 8),
					    0x00, 0xff };
		uint8_t data[2 + 16];
		json_t *entry;
		int n;

		if (i == SEL_ENTRIES_MAX) {
			log_warning("bmc: ipmi SEL longer than %d entries, rest skipped address=%s",
				    SEL_ENTRIES_MAX, ipmi->target->address);
			break;
		}
		n = ipmi_command(ipmi, IPMI_NETFN_STORAGE, request, sizeof(request), data,
				 sizeof(data), "reading the SEL", err, errlen);
		if (n == -ENOENT && i == 0)
			break;
		if (n < 0) {
			r = n;
			break;
		}
		if (n != (int)sizeof(data)) {
			r = bmc_fail(-EIO, err, errlen, "SEL entry 0x%04x from %s is %d bytes, "
				     "expected 16", id, ipmi->target->address, n - 2);
			break;
		}
		if (ipmi_parse_sel_entry(&parsers, data + 2, 16, &entry) == 0) {
			json_array_append_new(a->list, entry);
			if (json_array_size(a->list) > SEL_ENTRIES_KEPT)
				json_array_remove(a->list, 0);
		} else
			log_warning("bmc: ipmi SEL entry 0x%04x does not parse address=%s", id,
				    ipmi->target->address);
		next = (uint16_t)(data[0] | data[1] << 8);
		if (next == id)
			break;
		id = next;
	}

	ipmi_parsers_free(&parsers);
	return r;
}

int
ipmi_read_events(struct ipmi *ipmi, json_t **ret, char *err, size_t errlen)
{
	struct events_arg arg = { json_array() };
	int r;

	if (arg.list == NULL)
		return bmc_fail(-ENOMEM, err, errlen, "out of memory");
	r = ipmi_run(ipmi, "event log", events_step, &arg, err, errlen);
	if (r < 0) {
		json_decref(arg.list);
		return r;
	}
	*ret = arg.list;
	return 0;
}

/* Read FRU device 0 with Get FRU Inventory Area Info and Read FRU Data, in the session. */
int
ipmi_read_fru(struct ipmi *ipmi, uint8_t **ret, size_t *len, char *err, size_t errlen)
{
	const uint8_t info[] = { 0x10, 0x00 };
	uint8_t data[2 + READ_CHUNK], *fru;
	size_t size, offset;
	int n = ipmi_command(ipmi, IPMI_NETFN_STORAGE, info, sizeof(info), data, sizeof(data),
			     "reading the FRU area size", err, errlen);

	if (n < 0)
		return n;
	if (n < 3)
		return bmc_fail(-EIO, err, errlen, "FRU area info from %s is too short",
				ipmi->target->address);
	/* NOTE: FRU devices addressed by words (bit 0 of byte 3) are read as bytes. */
	size = (size_t)(data[0] | data[1] << 8);
	if (size > FRU_READ_MAX)
		size = FRU_READ_MAX;
	if (size == 0)
		return bmc_fail(-ENOENT, err, errlen, "FRU 0 on %s is empty", ipmi->target->address);

	fru = malloc(size);
	if (fru == NULL)
		return bmc_fail(-ENOMEM, err, errlen, "out of memory");
	for (offset = 0; offset < size;) {
		uint8_t count = (uint8_t)(size - offset > READ_CHUNK ? READ_CHUNK : size - offset);
		const uint8_t request[] = { 0x11, 0x00, (uint8_t)offset, (uint8_t)(offset >> 8),
					    count };

		n = ipmi_command(ipmi, IPMI_NETFN_STORAGE, request, sizeof(request), data,
				 sizeof(data), "reading the FRU", err, errlen);
		if (n < 0) {
			free(fru);
			return n;
		}
		/* Byte 0 is the count returned; a BMC may return fewer bytes than asked. */
		if (n < 2 || data[0] == 0 || data[0] > count || data[0] > n - 1) {
			free(fru);
			return bmc_fail(-EIO, err, errlen, "FRU read at offset %zu from %s returned "
					"no data", offset, ipmi->target->address);
		}
		memcpy(fru + offset, data + 1, data[0]);
		offset += data[0];
	}
	*ret = fru;
	*len = size;
	return 0;
}
