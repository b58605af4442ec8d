/* SPDX-License-Identifier: Apache-2.0 */
/*
 * outpost-redfish-sim: a Redfish service that emulates one server's BMC for the QEMU
 * lab and the BMC tests, and powers that server's QEMU on and off.
 *
 * One mutex guards all state: the HTTP worker threads take it for each request, and
 * the main thread takes it to reap QEMU and to move tasks along. QMP commands run with
 * the mutex held; each is bounded by RFSIM_QMP_TIMEOUT_MS.
 */
#ifndef OUTPOST_REDFISHSIM_SIM_H
#define OUTPOST_REDFISHSIM_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "http/http.h"
#include "redfishsim/body.h"

#define RFSIM_SYSTEM "/redfish/v1/Systems/1"
#define RFSIM_CHASSIS "/redfish/v1/Chassis/1"
#define RFSIM_MANAGER "/redfish/v1/Managers/BMC"

/* Sessions open at once; one more login gets SessionLimitExceeded. */
#define RFSIM_MAX_SESSIONS 4
/* Collections longer than this are split into pages linked by Members@odata.nextLink. */
#define RFSIM_PAGE_SIZE 4
#define RFSIM_MAX_TASKS 16
/* A firmware update task runs this long before it completes. */
#define RFSIM_TASK_MS 3000
#define RFSIM_QMP_TIMEOUT_MS 5000
/* Request bodies larger than this get 413. */
#define RFSIM_MAX_BODY_BYTES (64 * 1024)
/* Idle seconds after which a session ends (the SessionTimeout property). */
#define RFSIM_SESSION_TIMEOUT_S 1800
#define RFSIM_TOKEN_SIZE 65
/* A URL as logged, its user part hidden by url_redact. */
#define RFSIM_URL_LOG_SIZE 2048
#define RFSIM_SENSOR_COUNT 9

enum rfsim_profile {
	RFSIM_PROFILE_GENERIC,           /* VirtualMedia under the ComputerSystem */
	RFSIM_PROFILE_VM_UNDER_MANAGER,  /* VirtualMedia under the Manager */
};

struct rfsim_session {
	unsigned id;                     /* 0: slot free */
	char token[RFSIM_TOKEN_SIZE];    /* secret: never logged */
	int64_t last_used;
};

struct rfsim_sensor {
	const char *id;
	const char *name;
	const char *units;               /* UCUM, as ReadingUnits */
	const char *reading_type;        /* Sensor ReadingType */
	const char *context;             /* PhysicalContext */
	double reading;
};

enum rfsim_task_state {
	RFSIM_TASK_RUNNING,
	RFSIM_TASK_COMPLETED,
};

struct rfsim_task {
	unsigned id;                     /* 0: slot free */
	enum rfsim_task_state state;
	int64_t start_ms;
	int64_t end_ms;
	char image[RFSIM_STRING_MAX + 1];
};

struct rfsim {
	pthread_mutex_t lock;

	/* Options, fixed after start. */
	const char *listen;
	const char *user;
	char password[256];              /* secret: never logged */
	const char *qmp_path;
	const char *state_dir;
	enum rfsim_profile profile;
	char **qemu_args;                /* from --qemu-args, NULL-terminated */
	size_t qemu_arg_count;
	bool q35;                        /* the machine is q35: its CD sits on the AHCI bus */
	bool uefi;                       /* pflash firmware (OVMF) in the arguments */
	char serial[64];                 /* from -smbios type=1,serial=..., or "" */
	char uuid[40];                   /* from -uuid, or "" */
	char mac[18];                    /* the first -device's mac=, or "" */

	struct rfsim_session sessions[RFSIM_MAX_SESSIONS];
	unsigned next_session_id;

	/* ComputerSystem.Boot */
	char boot_enabled[16];           /* Disabled, Once, Continuous */
	char boot_target[16];            /* None, Pxe, Cd, Hdd */
	char boot_mode[16];              /* UEFI, Legacy */

	/* VirtualMedia CD1 */
	bool media_inserted;
	bool media_busy;                 /* an insert is downloading, without the mutex */
	char media_image[RFSIM_STRING_MAX + 1];

	pid_t qemu_pid;                  /* 0: powered off */
	/* Fleet mode (fleet.c): no QEMU, power is power_on, and no state is saved. */
	bool fleet;
	bool power_on;                   /* fleet mode only */
	unsigned bios_revision;          /* the last number of the BIOS version */

	struct rfsim_sensor sensors[RFSIM_SENSOR_COUNT];
	struct rfsim_task tasks[RFSIM_MAX_TASKS];
	unsigned next_task_id;
};

/* One request being handled, with what the access log line needs. */
struct rfsim_call {
	struct rfsim *sim;
	struct http_request *req;
	const char *method;
	const char *path;                /* without a trailing slash, except "/" */
	unsigned status;                 /* of the reply sent, 0 before */
};

/* main.c */
int rfsim_state_save(struct rfsim *sim);

/* fleet.c */
/* Whether the arguments ask for fleet mode (--fleet COUNT). */
bool rfsim_fleet_requested(int argc, char **argv);
/* Run fleet mode until a signal stops it; returns the exit status. */
int rfsim_fleet_main(int argc, char **argv);
/* ComputerSystem.Reset for a fleet BMC: sets the in-memory power flag. */
int rfsim_fleet_power(struct rfsim *sim, const char *reset_type, char *err, size_t errlen);

static inline bool
rfsim_powered(const struct rfsim *sim)
{
	return sim->fleet ? sim->power_on : sim->qemu_pid > 0;
}

/* media.c */
/* Whether the image URL is one the emulator downloads (http:// or https://). */
bool rfsim_media_remote(const char *image);
/* The local file QEMU opens for the inserted image. */
void rfsim_media_local_path(const struct rfsim *sim, char *out, size_t size);
/* Download `url` to `path`, replacing it only once the whole image has arrived. */
int rfsim_media_fetch(const char *url, const char *path, char *err, size_t errlen);

/* handlers.c */
void rfsim_handle(struct http_request *req, void *ctx);
int rfsim_precheck(struct http_request *req, void *ctx);

/* reply.c */
void rfsim_reply_json(struct rfsim_call *call, unsigned status, json_t *body);
void rfsim_reply_empty(struct rfsim_call *call, unsigned status);
void rfsim_add_header(struct rfsim_call *call, const char *name, const char *value);

enum rfsim_message {
	RFSIM_MSG_GENERAL_ERROR,
	RFSIM_MSG_MALFORMED_JSON,
	RFSIM_MSG_EMPTY_JSON,
	RFSIM_MSG_PROPERTY_UNKNOWN,
	RFSIM_MSG_PROPERTY_TYPE,
	RFSIM_MSG_PROPERTY_NOT_IN_LIST,
	RFSIM_MSG_PROPERTY_MISSING,
	RFSIM_MSG_STRING_TOO_LONG,
	RFSIM_MSG_ACTION_UNKNOWN,
	RFSIM_MSG_ACTION_TYPE,
	RFSIM_MSG_ACTION_NOT_IN_LIST,
	RFSIM_MSG_ACTION_FORMAT,
	RFSIM_MSG_ACTION_MISSING,
	RFSIM_MSG_NO_VALID_SESSION,
	RFSIM_MSG_SESSION_LIMIT,
	RFSIM_MSG_NOT_FOUND,
	RFSIM_MSG_METHOD_NOT_ALLOWED,
	RFSIM_MSG_PRECONDITION_FAILED,
	RFSIM_MSG_PAYLOAD_TOO_LARGE,
	RFSIM_MSG_QUERY_VALUE,
	RFSIM_MSG_OPERATION_FAILED,
	RFSIM_MSG_NOT_WRITABLE,
};

/*
 * Reply with the Redfish error body: {"error": {"code", "message",
 * "@Message.ExtendedInfo": [one Base registry message]}}. `arg1` and `arg2` fill the
 * message's arguments (NULL when it has fewer); `property` goes to RelatedProperties
 * as a JSON pointer when not NULL.
 */
void rfsim_reply_error(struct rfsim_call *call, unsigned status, enum rfsim_message id,
		       const char *arg1, const char *arg2, const char *property);
/* As rfsim_reply_error, for messages with three arguments. */
void rfsim_reply_error_args(struct rfsim_call *call, unsigned status, enum rfsim_message id,
			    const char *const args[3], const char *property);
/* Reply 400 for a body rfsim_body_parse rejected; `action` picks the Action* messages. */
void rfsim_reply_body_error(struct rfsim_call *call, const struct rfsim_body_error *err,
			    bool action);
/*
 * Reply with one page of a resource collection: `members` (taken over) is the whole
 * list; the page starts at the request's $skip and contains RFSIM_PAGE_SIZE members.
 */
void rfsim_reply_collection(struct rfsim_call *call, const char *type, const char *name,
			    json_t *members);
json_t *rfsim_odata_id(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* qemu.c */
int rfsim_qemu_args_load(struct rfsim *sim, const char *path, char *err, size_t errlen);
/*
 * Run a ComputerSystem.Reset type ("On", "ForceOff", ...). Returns 0, or a negative
 * errno with `err` written for the client.
 */
int rfsim_power(struct rfsim *sim, const char *reset_type, char *err, size_t errlen);
/* Load or eject the CD on a running QEMU. `path` NULL ejects. */
int rfsim_media_apply(struct rfsim *sim, const char *path, char *err, size_t errlen);
/* Reap QEMU if it exited, on SIGCHLD or a timer. */
void rfsim_qemu_reap(struct rfsim *sim);
/* Stop QEMU on exit, with QMP quit and then SIGKILL. */
void rfsim_qemu_stop(struct rfsim *sim);
/* Send one QMP command and return its "return" value, or NULL with `err` written. */
json_t *rfsim_qmp(struct rfsim *sim, const char *command, json_t *arguments, char *err,
		  size_t errlen);

/* resources.c */
json_t *rfsim_service_root(struct rfsim *sim);
json_t *rfsim_system(struct rfsim *sim);
/* The server's NIC, from the MAC QEMU gives it; only when sim->mac is set. */
json_t *rfsim_ethernet_interface(struct rfsim *sim);
json_t *rfsim_reset_action_info(struct rfsim *sim);
json_t *rfsim_manager(struct rfsim *sim);
json_t *rfsim_virtual_media(struct rfsim *sim, const char *base);
json_t *rfsim_chassis(struct rfsim *sim);
json_t *rfsim_sensor(struct rfsim *sim, const struct rfsim_sensor *sensor);
json_t *rfsim_thermal(struct rfsim *sim);
json_t *rfsim_power_resource(struct rfsim *sim);
json_t *rfsim_session_service(struct rfsim *sim);
json_t *rfsim_session(const struct rfsim_session *session, const char *user);
json_t *rfsim_simple_update_action_info(struct rfsim *sim);
json_t *rfsim_update_service(struct rfsim *sim);
json_t *rfsim_firmware(struct rfsim *sim, const char *id);
json_t *rfsim_task_service(struct rfsim *sim);
json_t *rfsim_task(const struct rfsim_task *task);
void rfsim_bios_version(const struct rfsim *sim, char *out, size_t size);
void rfsim_tasks_advance(struct rfsim *sim);
void rfsim_sensors_init(struct rfsim *sim);
/* The base path of the VirtualMedia collection for the profile. */
const char *rfsim_media_base(const struct rfsim *sim);

#endif
