/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The declarations the BMC module's drivers share. Each driver fills a `struct
 * bmc_ops` table, and bmc.c dispatches every call of bmc.h through it.
 */
#ifndef OUTPOST_BMC_INTERNAL_H
#define OUTPOST_BMC_INTERNAL_H

#include "bmc/bmc.h"

struct bmc_ops {
	const char *name;       /* "redfish", "ipmi" */
	void (*close)(struct bmc *bmc);
	int (*power_state)(struct bmc *bmc, char *state, size_t size, char *err, size_t errlen);
	int (*power_set)(struct bmc *bmc, enum bmc_power action, char *err, size_t errlen);
	int (*boot_once)(struct bmc *bmc, enum bmc_boot_device device, enum bmc_boot_mode mode,
			 char *err, size_t errlen);
	int (*media_insert)(struct bmc *bmc, const char *url, char *err, size_t errlen);
	int (*media_eject)(struct bmc *bmc, char *err, size_t errlen);
	int (*media_status)(struct bmc *bmc, json_t **ret, char *err, size_t errlen);
	int (*inventory)(struct bmc *bmc, json_t **system, json_t **firmware, char *err,
			 size_t errlen);
	int (*sensors)(struct bmc *bmc, struct bmc_sensor **ret, size_t *count, char *err,
		       size_t errlen);
	int (*events)(struct bmc *bmc, json_t **ret, char *err, size_t errlen);
	int (*firmware_update)(struct bmc *bmc, const char *url, char *err, size_t errlen);
};

struct bmc {
	const struct bmc_ops *ops;
	struct bmc_target *target;  /* the caller's, valid until bmc_close */
	void *driver;               /* the driver's own state */
};

/*
 * Each driver's open: connect and log in, then set bmc->ops and bmc->driver. On
 * failure it frees what it allocated and leaves both NULL.
 */
int bmc_redfish_open(struct bmc *bmc, char *err, size_t errlen);
int bmc_ipmi_open(struct bmc *bmc, char *err, size_t errlen);

/*
 * Write "what failed: why" to err and return `r`, a negative errno. Drivers use it
 * for every error they report.
 */
int bmc_fail(int r, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Milliseconds on the monotonic clock, for deadlines. */
int64_t bmc_now_ms(void);
/*
 * Sleep `ms` milliseconds before a retry or a poll, in short steps so that a set
 * target->cancel ends the wait. Returns false when the operation was cancelled.
 */
bool bmc_wait(const struct bmc_target *target, int64_t ms);

/* One reply of a Redfish service. */
struct rf_reply {
	long status;
	json_t *body;                       /* NULL when empty or not JSON */
	char etag[128];
	char location[BMC_PATH_SIZE];
	char token[256];                    /* X-Auth-Token: secret */
	int retry_after_s;
};

struct rf;

/*
 * Send one request and fill `reply`; 0 when an HTTP status came back, else a negative
 * errno with `err` set. curl_send in redfish.c is the real one; tests pass recorded
 * replies through their own.
 */
typedef int (*rf_send_fn)(struct rf *rf, const char *method, const char *path,
			  const char *body, const char *if_match, struct rf_reply *reply,
			  char *err, size_t errlen);

/* The Redfish driver's state for one BMC. */
struct rf {
	struct bmc *bmc;
	rf_send_fn send;
	void *send_arg;                     /* for a test's transport */
	void *curl;                         /* CURL handle, or NULL */
	char base[BMC_ADDRESS_SIZE + 16];   /* "https://host:port" */
	char token[256];                    /* session token: secret */
	char session[BMC_PATH_SIZE];        /* the session to delete, "" without one */
	char sessions[BMC_PATH_SIZE];       /* the SessionService's Sessions collection */
	bool basic;                         /* basic authentication instead of a session */
	json_t *root;                       /* the service root */
	char system[BMC_PATH_SIZE];         /* the first ComputerSystem, once found */
	int64_t deadline_ms;                /* of the operation in progress */
	const char *image;                  /* an image URL being sent, which may carry a
					       token: kept out of errors like the password */
};

extern const struct bmc_ops rf_ops;

/*
 * Attach the Redfish driver to `bmc` with transport `send`: read the service root and
 * log in. On failure, everything is freed, `curl` included.
 */
int rf_attach(struct bmc *bmc, rf_send_fn send, void *send_arg, void *curl, char *err,
	      size_t errlen);
/* Delete the session, if any, and free the driver's state. */
void rf_detach(struct bmc *bmc);
int rf_login(struct rf *rf, char *err, size_t errlen);
/*
 * One request with retries of transient failures and one login again after a 401,
 * within rf->deadline_ms. An HTTP error status becomes a negative errno with the BMC's
 * message in `err`: -EACCES (401, 403), -ENOENT, -EOPNOTSUPP (405, 501), -ESTALE
 * (412), -EPROTO. The caller clears `reply` in every case.
 */
int rf_call(struct rf *rf, const char *method, const char *path, json_t *body,
	    const char *if_match, struct rf_reply *reply, char *err, size_t errlen);
/*
 * The operations' shared steps (redfish_ops.c). rf_begin sets the deadline of an
 * operation from the target's timeout.
 */
struct rf *rf_begin(struct bmc *bmc);
/* Every member path of the collection at `path`, across its pages, into a new array. */
int rf_members_all(struct rf *rf, const char *path, json_t **ret, char *err, size_t errlen);
/*
 * GET each member of the collection at `link` (none when NULL), at most `max`, and
 * pass its path and body to `fn`. A member or collection that is missing is skipped
 * (rf_missing); another error, or one from `fn`, ends the walk and is returned.
 */
typedef int (*rf_member_fn)(const char *path, const json_t *item, void *arg);
int rf_each_member(struct rf *rf, const char *link, size_t max, rf_member_fn fn, void *arg,
		   char *err, size_t errlen);
/* Find the first ComputerSystem once and keep its path in rf->system. */
int rf_system_path(struct rf *rf, char *err, size_t errlen);
/* GET a resource with its ETag, from the header or else from @odata.etag. */
int rf_get_tagged(struct rf *rf, const char *path, json_t **ret, char *etag, size_t size,
		  char *err, size_t errlen);
/* POST an action and wait for the task it may start. */
int rf_post_action(struct rf *rf, const char *target, json_t *body, char *err, size_t errlen);
/* PATCH with If-Match, trying the other ETag form once after a 412. */
int rf_patch(struct rf *rf, const char *path, json_t *body, const char *etag,
	     struct rf_reply *reply, char *err, size_t errlen);
/*
 * Whether a sub-resource's error only means it is not there: such parts are left out
 * of a reading, while any other error fails the whole operation.
 */
bool rf_missing(int r);

/* Virtual media (redfish_media.c) and readings (redfish_read.c), for rf_ops. */
int rf_media_insert(struct bmc *bmc, const char *url, char *err, size_t errlen);
int rf_media_eject(struct bmc *bmc, char *err, size_t errlen);
int rf_media_status(struct bmc *bmc, json_t **ret, char *err, size_t errlen);
int rf_inventory(struct bmc *bmc, json_t **system, json_t **firmware, char *err,
		 size_t errlen);
int rf_sensors(struct bmc *bmc, struct bmc_sensor **ret, size_t *count, char *err,
	       size_t errlen);
int rf_events(struct bmc *bmc, json_t **ret, char *err, size_t errlen);

/* GET a resource that must be a JSON object; *ret is the caller's. */
int rf_get(struct rf *rf, const char *path, json_t **ret, char *err, size_t errlen);
void rf_reply_clear(struct rf_reply *reply);

/*
 * Reading Redfish resources (redfish_parse.c): pure functions over the JSON a BMC
 * sent. Links are only accepted as paths on the same service ("/redfish/v1/..."),
 * never as URLs, and NULL means the member is missing or not of the expected type.
 */
const char *rf_odata_id(const json_t *obj);
/* obj.NAME["@odata.id"], else obj.Links.NAME["@odata.id"]. */
const char *rf_link(const json_t *obj, const char *name);
/* Append the collection's member paths to the array `out`; -ENOENT without Members. */
int rf_members(const json_t *collection, json_t *out);
const char *rf_next_link(const json_t *collection);
/*
 * The path of a Location header, or NULL. Of a full URL only the path counts, since
 * requests always go to the BMC's own address.
 */
const char *rf_location_path(const char *location);

/* Reset types as a bit mask, bit n for the n-th standard name in redfish_parse.c. */
unsigned rf_reset_types(const json_t *reset_action);
unsigned rf_action_info_values(const json_t *action_info, const char *parameter);
bool rf_action_info_has(const json_t *action_info, const char *parameter);
/* The ResetType to send for `action` given the BMC's mask (0: none listed), or NULL. */
const char *rf_reset_name(unsigned mask, enum bmc_power action);

/*
 * The PATCH body that sets a one-time boot override on a system whose Boot object is
 * `boot`; BootSourceOverrideMode is included only with `with_mode` and where `boot`
 * shows it. -EOPNOTSUPP names what the BMC does not offer.
 */
int rf_boot_patch(const json_t *boot, enum bmc_boot_device device, enum bmc_boot_mode mode,
		  bool with_mode, json_t **ret, char *err, size_t errlen);
/* Whether `boot` has every value the PATCH body `patch` set. */
bool rf_boot_matches(const json_t *boot, json_t *patch);

enum rf_task {
	RF_TASK_UNKNOWN,
	RF_TASK_RUNNING,
	RF_TASK_DONE,
	RF_TASK_FAILED,
};

/* A Task's state, with its first message copied to `message`. */
enum rf_task rf_task_state(const json_t *task, char *message, size_t size);
/*
 * The message of a Redfish error body, with its MessageId, or "". Control characters
 * become spaces, here and in rf_task_state's message.
 */
void rf_error_text(const json_t *body, char *out, size_t size);
/* Whether an error body has a MessageId ending in `suffix`, such as ".PropertyUnknown". */
bool rf_error_is(const json_t *body, const char *suffix);
/*
 * The ETag form to try when a BMC rejects the first: a bare x becomes "x", a quoted
 * "x" becomes x, and a weak W/"x" becomes the strong "x".
 */
void rf_etag_other_form(const char *etag, char *out, size_t size);

/* A Sensor resource as a bmc_sensor; -EINVAL when it is not an object. */
int rf_sensor_parse(const json_t *sensor, struct bmc_sensor *out);
int rf_sensor_append(struct bmc_sensor **list, size_t *count, size_t *cap,
		     const struct bmc_sensor *s);
/* Append the readings of a Thermal, Power or ThermalMetrics resource. */
int rf_thermal_parse(const json_t *thermal, struct bmc_sensor **list, size_t *count,
		     size_t *cap);
/* The interface's name of a Redfish PowerState: "on", "off", ..., "unknown". */
const char *rf_power_name(const char *value);
int rf_power_parse(const json_t *power, struct bmc_sensor **list, size_t *count, size_t *cap);
int rf_thermal_metrics_parse(const json_t *metrics, struct bmc_sensor **list, size_t *count,
			     size_t *cap);
/* A Fan of a ThermalSubsystem; -ENOENT without a SpeedPercent excerpt. */
int rf_fan_parse(const json_t *fan, struct bmc_sensor *out);

/* The summaries bmc_inventory and bmc_events return, built from one resource each. */
json_t *rf_system_summary(const json_t *system);
json_t *rf_firmware_summary(const json_t *item);
json_t *rf_log_entry(const json_t *entry);
/* Whether a VirtualMedia resource takes CD or DVD images. */
bool rf_media_is_cd(const json_t *media);

#endif
