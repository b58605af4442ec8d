/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Redfish driver tests with recorded responses: each test lists the exchanges a BMC
 * of one kind has with the driver, in order, and a transport in place of libcurl
 * plays them back. The transport checks each request's method and path, and keeps
 * what the driver sent, so a test asserts the bodies and headers too. Every case is a
 * difference between real BMCs that the driver must read instead of assume.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bmc/bmc-internal.h"

/* A recorded exchange lists only the fields it uses; the others are NULL. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct exchange {
	const char *method;
	const char *path;
	long status;
	const char *body;       /* JSON text, or NULL */
	const char *etag;
	const char *location;
	const char *token;
};

#define SENT_MAX 32

struct playback {
	const struct exchange *script;
	size_t count;
	size_t next;
	char sent_body[SENT_MAX][512];
	char sent_if_match[SENT_MAX][128];
};

static int
play(struct rf *rf, const char *method, const char *path, const char *body, const char *if_match,
     struct rf_reply *reply, char *err, size_t errlen)
{
	struct playback *p = rf->send_arg;
	const struct exchange *e;

	if (p->next >= p->count)
		return bmc_fail(-ECONNREFUSED, err, errlen, "unexpected %s %s", method, path);
	e = &p->script[p->next];
	if (strcmp(e->method, method) != 0 || strcmp(e->path, path) != 0) {
		print_error("exchange %zu: expected %s %s, got %s %s\n", p->next, e->method, e->path,
			    method, path);
		fail();
	}
	if (p->next < SENT_MAX) {
		snprintf(p->sent_body[p->next], sizeof(p->sent_body[0]), "%s", body != NULL ? body : "");
		snprintf(p->sent_if_match[p->next], sizeof(p->sent_if_match[0]), "%s",
			 if_match != NULL ? if_match : "");
	}
	p->next++;
	reply->status = e->status;
	reply->body = e->body != NULL ? json_loads(e->body, 0, NULL) : NULL;
	snprintf(reply->etag, sizeof(reply->etag), "%s", e->etag != NULL ? e->etag : "");
	snprintf(reply->location, sizeof(reply->location), "%s", e->location != NULL ? e->location : "");
	snprintf(reply->token, sizeof(reply->token), "%s", e->token != NULL ? e->token : "");
	return 0;
}

/* The service root and login every script starts with: a session is created. */
#define ROOT_BODY "{\"Systems\": {\"@odata.id\": \"/redfish/v1/Systems\"}," \
	"\"Managers\": {\"@odata.id\": \"/redfish/v1/Managers\"}," \
	"\"Chassis\": {\"@odata.id\": \"/redfish/v1/Chassis\"}," \
	"\"UpdateService\": {\"@odata.id\": \"/redfish/v1/UpdateService\"}," \
	"\"Links\": {\"Sessions\": {\"@odata.id\": \"/redfish/v1/SessionService/Sessions\"}}}"
#define OPEN \
	{ "GET", "/redfish/v1/", 200, ROOT_BODY, NULL, NULL, NULL }, \
	{ "POST", "/redfish/v1/SessionService/Sessions", 201, \
	  "{\"@odata.id\": \"/redfish/v1/SessionService/Sessions/7\"}", NULL, \
	  "/redfish/v1/SessionService/Sessions/7", "token-7" }
#define SYSTEMS \
	{ "GET", "/redfish/v1/Systems", 200, \
	  "{\"Members\": [{\"@odata.id\": \"/redfish/v1/Systems/1\"}]}", NULL, NULL, NULL }
#define CLOSE { "DELETE", "/redfish/v1/SessionService/Sessions/7", 204, NULL, NULL, NULL, NULL }

static struct bmc_target target = {
	.protocol = BMC_REDFISH, .address = "bmc.test", .username = "admin",
	.password = "pw", .tls = BMC_TLS_CA, .timeout_ms = 5000,
};

static struct bmc *
open_with(struct playback *p)
{
	static struct bmc bmc;
	char err[BMC_ERR_SIZE];

	memset(&bmc, 0, sizeof(bmc));
	bmc.target = &target;
	if (rf_attach(&bmc, play, p, NULL, err, sizeof(err)) != 0) {
		print_error("open failed: %s\n", err);
		fail();
	}
	return &bmc;
}

/* Close, and check that every recorded exchange was used. */
static void
finish(struct bmc *bmc, struct playback *p)
{
	bmc->ops->close(bmc);
	assert_int_equal(p->next, p->count);
}

#define PLAYBACK(s) { .script = (s), .count = sizeof(s) / sizeof((s)[0]) }

/* A BMC that lists its reset types only in an ActionInfo, without PowerCycle. */
static void
test_cycle_without_power_cycle(void **state)
{
	static const struct exchange s[] = {
		OPEN, SYSTEMS,
		{ "GET", "/redfish/v1/Systems/1", 200, "{\"Actions\": {\"#ComputerSystem.Reset\": "
		  "{\"target\": \"/redfish/v1/Systems/1/Actions/ComputerSystem.Reset\", "
		  "\"@Redfish.ActionInfo\": \"/redfish/v1/Systems/1/ResetActionInfo\"}}}" },
		{ "GET", "/redfish/v1/Systems/1/ResetActionInfo", 200, "{\"Parameters\": [{\"Name\": "
		  "\"ResetType\", \"AllowableValues\": [\"On\", \"ForceOff\", \"GracefulShutdown\", "
		  "\"ForceRestart\"]}]}" },
		{ "POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", 204 },
		{ "POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", 204 },
		CLOSE,
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	char err[BMC_ERR_SIZE];

	(void)state;
	assert_int_equal(bmc_power_set(bmc, BMC_POWER_CYCLE, err, sizeof(err)), 0);
	assert_string_equal(p.sent_body[5], "{\"ResetType\":\"ForceOff\"}");
	assert_string_equal(p.sent_body[6], "{\"ResetType\":\"On\"}");
	finish(bmc, &p);
}

/* A BMC whose allowable values name GracefulRestart but no ForceRestart. */
static void
test_reset_from_allowable_values(void **state)
{
	static const struct exchange s[] = {
		OPEN, SYSTEMS,
		{ "GET", "/redfish/v1/Systems/1", 200, "{\"Actions\": {\"#ComputerSystem.Reset\": "
		  "{\"target\": \"/redfish/v1/Systems/1/Actions/ComputerSystem.Reset\", "
		  "\"ResetType@Redfish.AllowableValues\": [\"On\", \"ForceOff\", \"PowerCycle\", "
		  "\"GracefulRestart\"]}}}" },
		{ "POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", 200 },
		CLOSE,
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	char err[BMC_ERR_SIZE];

	(void)state;
	assert_int_equal(bmc_power_set(bmc, BMC_POWER_RESET, err, sizeof(err)), 0);
	assert_string_equal(p.sent_body[4], "{\"ResetType\":\"PowerCycle\"}");
	finish(bmc, &p);
}

#define BOOT_SYSTEM(target, extra) \
	"{\"Boot\": {\"BootSourceOverrideEnabled\": \"Disabled\", \"BootSourceOverrideTarget\": \"" \
	target "\", \"BootSourceOverrideMode\": \"UEFI\", " \
	"\"BootSourceOverrideTarget@Redfish.AllowableValues\": [\"None\", \"Pxe\", \"Cd\", \"Hdd\", " \
	"\"UefiHttp\"]}" extra "}"
#define BOOT_ONCE(target) \
	"{\"Boot\": {\"BootSourceOverrideEnabled\": \"Once\", \"BootSourceOverrideTarget\": \"" \
	target "\", \"BootSourceOverrideMode\": \"UEFI\"}}"

/* A BMC that rejects BootSourceOverrideMode and sends an ETag without quotes. */
static void
test_boot_without_mode_and_bare_etag(void **state)
{
	static const struct exchange s[] = {
		OPEN, SYSTEMS,
		{ "GET", "/redfish/v1/Systems/1", 200, BOOT_SYSTEM("None", ""), "abc123" },
		/* If-Match with the bare tag: this BMC compares the quoted form. */
		{ "PATCH", "/redfish/v1/Systems/1", 412 },
		{ "PATCH", "/redfish/v1/Systems/1", 400, "{\"error\": {\"code\": \"Base.1.8.GeneralError\", "
		  "\"@Message.ExtendedInfo\": [{\"MessageId\": \"Base.1.8.PropertyUnknown\", "
		  "\"Message\": \"The property BootSourceOverrideMode is not in the list of valid "
		  "properties for the resource.\"}]}}" },
		{ "PATCH", "/redfish/v1/Systems/1", 412 },
		{ "PATCH", "/redfish/v1/Systems/1", 204 },
		{ "GET", "/redfish/v1/Systems/1", 200, BOOT_ONCE("Pxe") },
		CLOSE,
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	char err[BMC_ERR_SIZE];

	(void)state;
	assert_int_equal(bmc_boot_once(bmc, BMC_BOOT_PXE, BMC_BOOT_MODE_UEFI, err, sizeof(err)), 0);
	assert_string_equal(p.sent_if_match[4], "abc123");
	assert_string_equal(p.sent_if_match[5], "\"abc123\"");
	assert_non_null(strstr(p.sent_body[5], "\"BootSourceOverrideMode\":\"UEFI\""));
	assert_null(strstr(p.sent_body[7], "BootSourceOverrideMode"));
	assert_non_null(strstr(p.sent_body[7], "\"BootSourceOverrideTarget\":\"Pxe\""));
	assert_non_null(strstr(p.sent_body[7], "\"BootSourceOverrideEnabled\":\"Once\""));
	finish(bmc, &p);
}

/* A BMC that returns success for the PATCH and applies it through its settings object. */
static void
test_boot_through_settings_object(void **state)
{
	static const struct exchange s[] = {
		OPEN, SYSTEMS,
		{ "GET", "/redfish/v1/Systems/1", 200, BOOT_SYSTEM("None", ", \"@Redfish.Settings\": "
		  "{\"SettingsObject\": {\"@odata.id\": \"/redfish/v1/Systems/1/Settings\"}}"),
		  "W/\"1\"" },
		{ "PATCH", "/redfish/v1/Systems/1", 200 },
		{ "GET", "/redfish/v1/Systems/1", 200, BOOT_SYSTEM("None", "") },
		{ "GET", "/redfish/v1/Systems/1/Settings", 200, "{\"Boot\": {}}", "\"s1\"" },
		{ "PATCH", "/redfish/v1/Systems/1/Settings", 204 },
		{ "GET", "/redfish/v1/Systems/1/Settings", 200, BOOT_ONCE("Cd") },
		CLOSE,
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	char err[BMC_ERR_SIZE];

	(void)state;
	assert_int_equal(bmc_boot_once(bmc, BMC_BOOT_CD, BMC_BOOT_MODE_UEFI, err, sizeof(err)), 0);
	assert_string_equal(p.sent_if_match[4], "W/\"1\"");
	assert_string_equal(p.sent_if_match[7], "\"s1\"");
	assert_non_null(strstr(p.sent_body[7], "\"BootSourceOverrideTarget\":\"Cd\""));
	finish(bmc, &p);
}

/* A BMC that accepts the PATCH and keeps the old value, with no settings object. */
static void
test_boot_not_applied(void **state)
{
	static const struct exchange s[] = {
		OPEN, SYSTEMS,
		{ "GET", "/redfish/v1/Systems/1", 200, BOOT_SYSTEM("None", "") },
		{ "PATCH", "/redfish/v1/Systems/1", 204 },
		{ "GET", "/redfish/v1/Systems/1", 200, BOOT_SYSTEM("None", "") },
		CLOSE,
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	char err[BMC_ERR_SIZE];

	(void)state;
	assert_int_equal(bmc_boot_once(bmc, BMC_BOOT_DISK, BMC_BOOT_MODE_KEEP, err, sizeof(err)),
			 -EIO);
	assert_non_null(strstr(err, "accepted the boot override to disk but did not apply it"));
	assert_non_null(strstr(p.sent_body[4], "\"BootSourceOverrideTarget\":\"Hdd\""));
	assert_null(strstr(p.sent_body[4], "BootSourceOverrideMode"));
	finish(bmc, &p);
}

/* A boot target the BMC does not list is refused before any PATCH. */
static void
test_boot_target_not_offered(void **state)
{
	static const struct exchange s[] = {
		OPEN, SYSTEMS,
		{ "GET", "/redfish/v1/Systems/1", 200, "{\"Boot\": {\"BootSourceOverrideTarget\": "
		  "\"None\", \"BootSourceOverrideTarget@Redfish.AllowableValues\": [\"Pxe\", \"Hdd\"]}}" },
		CLOSE,
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	char err[BMC_ERR_SIZE];

	(void)state;
	assert_int_equal(bmc_boot_once(bmc, BMC_BOOT_HTTP, BMC_BOOT_MODE_UEFI, err, sizeof(err)),
			 -EOPNOTSUPP);
	assert_non_null(strstr(err, "UefiHttp"));
	finish(bmc, &p);
}

/* Virtual media under the Manager, with an InsertMedia ActionInfo naming two parameters. */
static void
test_media_under_manager_with_action_info(void **state)
{
	static const struct exchange s[] = {
		OPEN,
		{ "GET", "/redfish/v1/Managers", 200,
		  "{\"Members\": [{\"@odata.id\": \"/redfish/v1/Managers/1\"}]}" },
		{ "GET", "/redfish/v1/Managers/1", 200,
		  "{\"VirtualMedia\": {\"@odata.id\": \"/redfish/v1/Managers/1/VirtualMedia\"}}" },
		{ "GET", "/redfish/v1/Managers/1/VirtualMedia", 200, "{\"Members\": ["
		  "{\"@odata.id\": \"/redfish/v1/Managers/1/VirtualMedia/Floppy\"},"
		  "{\"@odata.id\": \"/redfish/v1/Managers/1/VirtualMedia/CD\"}]}" },
		{ "GET", "/redfish/v1/Managers/1/VirtualMedia/Floppy", 200,
		  "{\"MediaTypes\": [\"Floppy\", \"USBStick\"]}" },
		{ "GET", "/redfish/v1/Managers/1/VirtualMedia/CD", 200, "{\"MediaTypes\": [\"CD\"]}" },
		{ "GET", "/redfish/v1/Managers/1/VirtualMedia/CD", 200, "{\"Inserted\": false}" },
		{ "GET", "/redfish/v1/Managers/1/VirtualMedia/CD", 200, "{\"Inserted\": false, "
		  "\"Actions\": {\"#VirtualMedia.InsertMedia\": {\"target\": "
		  "\"/redfish/v1/Managers/1/VirtualMedia/CD/Actions/VirtualMedia.InsertMedia\", "
		  "\"@Redfish.ActionInfo\": \"/redfish/v1/Managers/1/VirtualMedia/CD/InsertMediaActionInfo\"}}}" },
		{ "GET", "/redfish/v1/Managers/1/VirtualMedia/CD/InsertMediaActionInfo", 200,
		  "{\"Parameters\": [{\"Name\": \"Image\", \"Required\": true}, {\"Name\": \"Inserted\"}]}" },
		{ "POST", "/redfish/v1/Managers/1/VirtualMedia/CD/Actions/VirtualMedia.InsertMedia", 204 },
		{ "GET", "/redfish/v1/Managers/1/VirtualMedia/CD", 200, "{\"Inserted\": true, "
		  "\"Image\": \"http://10.0.0.1:8080/media/m1.iso\"}" },
		CLOSE,
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	char err[BMC_ERR_SIZE];

	(void)state;
	assert_int_equal(bmc_media_insert(bmc, "http://10.0.0.1:8080/media/m1.iso", err,
					  sizeof(err)), 0);
	assert_string_equal(p.sent_body[10],
			    "{\"Image\":\"http://10.0.0.1:8080/media/m1.iso\",\"Inserted\":true}");
	finish(bmc, &p);
}

/* Virtual media under the System, without actions: a PATCH, after ejecting the old image. */
static void
test_media_under_system_by_patch(void **state)
{
	static const struct exchange s[] = {
		OPEN,
		{ "GET", "/redfish/v1/Managers", 200, "{\"Members\": []}" },
		SYSTEMS,
		{ "GET", "/redfish/v1/Systems/1", 200,
		  "{\"VirtualMedia\": {\"@odata.id\": \"/redfish/v1/Systems/1/VirtualMedia\"}}" },
		{ "GET", "/redfish/v1/Systems/1/VirtualMedia", 200,
		  "{\"Members\": [{\"@odata.id\": \"/redfish/v1/Systems/1/VirtualMedia/1\"}]}" },
		{ "GET", "/redfish/v1/Systems/1/VirtualMedia/1", 200, "{\"MediaTypes\": [\"DVD\"]}" },
		{ "GET", "/redfish/v1/Systems/1/VirtualMedia/1", 200,
		  "{\"Inserted\": true, \"Image\": \"http://old/x.iso\"}" },
		{ "GET", "/redfish/v1/Systems/1/VirtualMedia/1", 200,
		  "{\"Inserted\": true, \"Image\": \"http://old/x.iso\"}", "\"e1\"" },
		{ "PATCH", "/redfish/v1/Systems/1/VirtualMedia/1", 204 },
		{ "GET", "/redfish/v1/Systems/1/VirtualMedia/1", 200, "{\"Inserted\": false}", "\"e2\"" },
		{ "PATCH", "/redfish/v1/Systems/1/VirtualMedia/1", 204 },
		{ "GET", "/redfish/v1/Systems/1/VirtualMedia/1", 200,
		  "{\"Inserted\": true, \"Image\": \"http://new/y.iso\"}" },
		CLOSE,
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	char err[BMC_ERR_SIZE];

	(void)state;
	assert_int_equal(bmc_media_insert(bmc, "http://new/y.iso", err, sizeof(err)), 0);
	assert_string_equal(p.sent_body[9], "{\"Image\":null,\"Inserted\":false}");
	assert_string_equal(p.sent_if_match[9], "\"e1\"");
	assert_string_equal(p.sent_body[11], "{\"Image\":\"http://new/y.iso\",\"Inserted\":true}");
	assert_string_equal(p.sent_if_match[11], "\"e2\"");
	finish(bmc, &p);
}

/* A BMC with all its sessions taken: basic authentication, and no session to delete. */
static void
test_session_limit_uses_basic_auth(void **state)
{
	static const struct exchange s[] = {
		{ "GET", "/redfish/v1/", 200, ROOT_BODY },
		{ "POST", "/redfish/v1/SessionService/Sessions", 503, "{\"error\": {\"code\": "
		  "\"Base.1.8.SessionLimitExceeded\", \"message\": \"The session establishment "
		  "failed due to the number of simultaneous sessions exceeding the limit.\"}}" },
		{ "POST", "/redfish/v1/SessionService/Sessions", 400, "{\"error\": {"
		  "\"@Message.ExtendedInfo\": [{\"MessageId\": \"Base.1.8.SessionLimitExceeded\"}]}}" },
		SYSTEMS,
		{ "GET", "/redfish/v1/Systems/1", 200, "{\"PowerState\": \"Off\"}" },
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	struct rf *rf = bmc->driver;
	char err[BMC_ERR_SIZE], power[16];

	(void)state;
	assert_true(rf->basic);
	assert_int_equal(bmc_power_state(bmc, power, sizeof(power), err, sizeof(err)), 0);
	assert_string_equal(power, "off");
	finish(bmc, &p);
}

/* An expired session mid-operation: one login again, then the request again. */
static void
test_expired_session_logs_in_again(void **state)
{
	static const struct exchange s[] = {
		OPEN, SYSTEMS,
		{ "GET", "/redfish/v1/Systems/1", 401 },
		{ "POST", "/redfish/v1/SessionService/Sessions", 201, NULL, NULL,
		  "https://bmc.test/redfish/v1/SessionService/Sessions/8", "token-8" },
		{ "GET", "/redfish/v1/Systems/1", 200, "{\"PowerState\": \"PoweringOn\"}" },
		{ "DELETE", "/redfish/v1/SessionService/Sessions/8", 204 },
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	char err[BMC_ERR_SIZE], power[16];

	(void)state;
	assert_int_equal(bmc_power_state(bmc, power, sizeof(power), err, sizeof(err)), 0);
	assert_string_equal(power, "powering-on");
	finish(bmc, &p);
}

/* SimpleUpdate: a task monitor that runs, then a Task that completes or fails. */
static void
test_firmware_update_task(void **state)
{
	static const struct exchange s[] = {
		OPEN,
		{ "GET", "/redfish/v1/UpdateService", 200, "{\"Actions\": {\"#UpdateService.SimpleUpdate\": "
		  "{\"target\": \"/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate\"}}}" },
		{ "POST", "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate", 202, NULL, NULL,
		  "/redfish/v1/TaskService/TaskMonitors/3" },
		{ "GET", "/redfish/v1/TaskService/TaskMonitors/3", 202, "{\"TaskState\": \"Running\"}" },
		{ "GET", "/redfish/v1/TaskService/TaskMonitors/3", 200,
		  "{\"TaskState\": \"Exception\", \"Messages\": [{\"Message\": \"Image signature "
		  "invalid\"}]}" },
		CLOSE,
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	char err[BMC_ERR_SIZE];

	(void)state;
	assert_int_equal(bmc_firmware_update(bmc, "http://10.0.0.1/fw.bin", err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "Image signature invalid"));
	assert_string_equal(p.sent_body[3], "{\"ImageURI\":\"http://10.0.0.1/fw.bin\"}");
	finish(bmc, &p);
}

/* Sensors: a paged collection, and a chassis with only Thermal and Power. */
static void
test_sensors_paged_and_legacy(void **state)
{
	static const struct exchange s[] = {
		OPEN,
		{ "GET", "/redfish/v1/Chassis", 200, "{\"Members\": [{\"@odata.id\": \"/redfish/v1/Chassis/A\"}, "
		  "{\"@odata.id\": \"/redfish/v1/Chassis/B\"}]}" },
		{ "GET", "/redfish/v1/Chassis/A", 200,
		  "{\"Sensors\": {\"@odata.id\": \"/redfish/v1/Chassis/A/Sensors\"}}" },
		{ "GET", "/redfish/v1/Chassis/A/Sensors", 200, "{\"Members\": [{\"@odata.id\": "
		  "\"/redfish/v1/Chassis/A/Sensors/T1\"}], \"Members@odata.nextLink\": "
		  "\"/redfish/v1/Chassis/A/Sensors?$skip=1\"}" },
		{ "GET", "/redfish/v1/Chassis/A/Sensors?$skip=1", 200, "{\"Members\": [{\"@odata.id\": "
		  "\"/redfish/v1/Chassis/A/Sensors/F1\"}]}" },
		{ "GET", "/redfish/v1/Chassis/A/Sensors/T1", 200, "{\"Name\": \"Inlet\", "
		  "\"ReadingType\": \"Temperature\", \"Reading\": 23.5}" },
		{ "GET", "/redfish/v1/Chassis/A/Sensors/F1", 200, "{\"Name\": \"Fan 1\", "
		  "\"ReadingType\": \"Rotational\", \"Reading\": 7200, \"ReadingUnits\": \"RPM\"}" },
		{ "GET", "/redfish/v1/Chassis/B", 200, "{\"Thermal\": {\"@odata.id\": "
		  "\"/redfish/v1/Chassis/B/Thermal\"}, \"Power\": {\"@odata.id\": \"/redfish/v1/Chassis/B/Power\"}}" },
		{ "GET", "/redfish/v1/Chassis/B/Thermal", 200, "{\"Temperatures\": [{\"Name\": \"CPU\", "
		  "\"ReadingCelsius\": 61}, {\"Name\": \"Absent\", \"ReadingCelsius\": null}]}" },
		{ "GET", "/redfish/v1/Chassis/B/Power", 200, "{\"PowerControl\": [{\"Name\": \"System\", "
		  "\"PowerConsumedWatts\": 344}], \"Voltages\": [{\"Name\": \"12V\", \"ReadingVolts\": 12.1}]}" },
		CLOSE,
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	struct bmc_sensor *sensors = NULL;
	char err[BMC_ERR_SIZE];
	size_t count = 0;

	(void)state;
	assert_int_equal(bmc_sensors(bmc, &sensors, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 6);
	assert_string_equal(sensors[0].name, "Inlet");
	assert_int_equal(sensors[0].kind, BMC_SENSOR_TEMPERATURE);
	assert_true(sensors[0].value == 23.5);
	assert_int_equal(sensors[1].kind, BMC_SENSOR_FAN);
	assert_true(sensors[1].value == 7200);
	assert_string_equal(sensors[1].unit, "RPM");
	assert_true(sensors[2].value == 61);
	assert_false(sensors[3].has_value);
	assert_int_equal(sensors[4].kind, BMC_SENSOR_POWER);
	assert_true(sensors[4].value == 344);
	assert_int_equal(sensors[5].kind, BMC_SENSOR_VOLTAGE);
	free(sensors);
	finish(bmc, &p);
}

/* Links that leave the service are not followed. */
static void
test_links_stay_on_the_service(void **state)
{
	json_t *obj = json_loads("{\"A\": {\"@odata.id\": \"//evil.example/x\"}, "
				 "\"B\": {\"@odata.id\": \"https://evil.example/x\"}, "
				 "\"C\": {\"@odata.id\": \"/redfish/v1/C\"}}", 0, NULL);

	(void)state;
	assert_null(rf_link(obj, "A"));
	assert_null(rf_link(obj, "B"));
	assert_string_equal(rf_link(obj, "C"), "/redfish/v1/C");
	assert_null(rf_location_path("https://evil.example"));
	assert_string_equal(rf_location_path("https://bmc/redfish/v1/T/1"), "/redfish/v1/T/1");
	assert_null(rf_location_path("//evil.example/redfish/v1/T/1"));
	json_decref(obj);
}


/* A destructive POST that fails with 500 is not sent again: the BMC may have acted. */
static void
test_post_not_repeated(void **state)
{
	static const struct exchange s[] = {
		OPEN, SYSTEMS,
		{ "GET", "/redfish/v1/Systems/1", 200, "{\"Actions\": {\"#ComputerSystem.Reset\": "
		  "{\"target\": \"/redfish/v1/Systems/1/Actions/ComputerSystem.Reset\"}}}" },
		{ "POST", "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", 500 },
		CLOSE,
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	char err[BMC_ERR_SIZE];

	(void)state;
	assert_int_equal(bmc_power_set(bmc, BMC_POWER_OFF, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "HTTP 500"));
	finish(bmc, &p);
}

/* A redirect is an error, not a success, and a GET that gets 503 is sent again. */
static void
test_redirect_is_an_error(void **state)
{
	static const struct exchange s[] = {
		OPEN, SYSTEMS,
		{ "GET", "/redfish/v1/Systems/1", 503 },
		{ "GET", "/redfish/v1/Systems/1", 302, NULL, NULL, "https://elsewhere/login" },
		CLOSE,
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	char err[BMC_ERR_SIZE], power[16];

	(void)state;
	assert_int_equal(bmc_power_state(bmc, power, sizeof(power), err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "HTTP 302: redirects are not followed"));
	finish(bmc, &p);
}

/* A BMC's message that quotes the password, or a control character, reaches no message. */
static void
test_errors_hide_the_password(void **state)
{
	static const struct exchange s[] = {
		OPEN, SYSTEMS,
		{ "GET", "/redfish/v1/Systems/1", 400, "{\"error\": {\"message\": \"The value "
		  "'pw' is invalid\\nforged: line\"}}" },
		CLOSE,
	};
	struct playback p = PLAYBACK(s);
	struct bmc *bmc = open_with(&p);
	char err[BMC_ERR_SIZE], power[16];

	(void)state;
	assert_int_equal(bmc_power_state(bmc, power, sizeof(power), err, sizeof(err)), -EPROTO);
	assert_null(strstr(err, "'pw'"));
	assert_non_null(strstr(err, "'**'"));
	assert_null(strchr(err, '\n'));
	finish(bmc, &p);
}

/* A fingerprint that is not 64 hex digits is refused before any connection. */
static void
test_bad_fingerprint_refused(void **state)
{
	struct bmc_target t = target;
	char err[BMC_ERR_SIZE];
	struct bmc *bmc = NULL;

	(void)state;
	t.tls = BMC_TLS_TOFU;
	snprintf(t.fingerprint, sizeof(t.fingerprint), "zz");
	assert_int_equal(bmc_open(&t, &bmc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid fingerprint"));
	t.tls = BMC_TLS_PINNED;
	t.fingerprint[0] = '\0';
	assert_int_equal(bmc_open(&t, &bmc, err, sizeof(err)), -EINVAL);
	t.tls = BMC_TLS_CA;
	snprintf(t.address, sizeof(t.address), "10.0.0.1/x");
	assert_int_equal(bmc_open(&t, &bmc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid BMC address"));
	assert_null(bmc);
}

/* Credentials at rest: a round trip, and every way a sealed secret must fail to open. */
static void
test_secret_seal_and_open(void **state)
{
	unsigned char key[BMC_KEY_SIZE] = { 1, 2, 3 }, other[BMC_KEY_SIZE] = { 9 };
	char sealed[BMC_SEALED_SIZE], opened[BMC_SECRET_SIZE], again[BMC_SEALED_SIZE];
	char longest[BMC_SECRET_SIZE + 1];

	(void)state;
	assert_int_equal(bmc_secret_seal(key, "redfish:10.0.0.5:443:admin", "hunter2", sealed,
					 sizeof(sealed)), 0);
	assert_null(strstr(sealed, "hunter2"));
	assert_int_equal(strncmp(sealed, "v1:", 3), 0);
	assert_int_equal(bmc_secret_open(key, "redfish:10.0.0.5:443:admin", sealed, opened,
					 sizeof(opened)), 0);
	assert_string_equal(opened, "hunter2");
	/* A new nonce each time: the same secret seals differently. */
	assert_int_equal(bmc_secret_seal(key, "redfish:10.0.0.5:443:admin", "hunter2", again,
					 sizeof(again)), 0);
	assert_string_not_equal(sealed, again);
	/* Another BMC, another key, a changed byte, a cut copy. */
	assert_int_equal(bmc_secret_open(key, "redfish:10.0.0.6:443:admin", sealed, opened,
					 sizeof(opened)), -EBADMSG);
	assert_int_equal(bmc_secret_open(other, "redfish:10.0.0.5:443:admin", sealed, opened,
					 sizeof(opened)), -EBADMSG);
	sealed[10] = sealed[10] == 'A' ? 'B' : 'A';
	assert_int_equal(bmc_secret_open(key, "redfish:10.0.0.5:443:admin", sealed, opened,
					 sizeof(opened)), -EBADMSG);
	sealed[8] = '\0';
	assert_int_equal(bmc_secret_open(key, "redfish:10.0.0.5:443:admin", sealed, opened,
					 sizeof(opened)), -EINVAL);
	assert_int_equal(bmc_secret_open(key, "x", "plain text", opened, sizeof(opened)), -EINVAL);
	/* A secret of the maximum length fits; one byte more does not. */
	memset(longest, 'p', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	assert_int_equal(bmc_secret_seal(key, "c", longest, sealed, sizeof(sealed)), -E2BIG);
	longest[sizeof(longest) - 2] = '\0';
	assert_int_equal(bmc_secret_seal(key, "c", longest, sealed, sizeof(sealed)), 0);
	assert_int_equal(bmc_secret_open(key, "c", sealed, opened, sizeof(opened)), 0);
	assert_string_equal(opened, longest);
}

/* The key file: created once with mode 0600, then read back; a link is refused. */
static void
test_secret_key_file(void **state)
{
	char dir[] = "/tmp/outpost-bmc-key-XXXXXX", path[256], link_dir[300];
	unsigned char first[BMC_KEY_SIZE], second[BMC_KEY_SIZE];
	struct stat info;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(bmc_secret_key_load(dir, first), 0);
	snprintf(path, sizeof(path), "%s/bmc-secret.key", dir);
	assert_int_equal(stat(path, &info), 0);
	assert_int_equal(info.st_mode & 0777, 0600);
	assert_int_equal(info.st_size, BMC_KEY_SIZE);
	assert_int_equal(bmc_secret_key_load(dir, second), 0);
	assert_memory_equal(first, second, BMC_KEY_SIZE);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(bmc_secret_key_load(dir, second), -EPERM);
	snprintf(link_dir, sizeof(link_dir), "%s/sub", dir);
	assert_int_equal(mkdir(link_dir, 0700), 0);
	snprintf(link_dir, sizeof(link_dir), "%s/sub/bmc-secret.key", dir);
	assert_int_equal(symlink(path, link_dir), 0);
	snprintf(link_dir, sizeof(link_dir), "%s/sub", dir);
	assert_int_equal(bmc_secret_key_load(link_dir, second), -ELOOP);
	snprintf(link_dir, sizeof(link_dir), "%s/sub/bmc-secret.key", dir);
	unlink(link_dir);
	snprintf(link_dir, sizeof(link_dir), "%s/sub", dir);
	rmdir(link_dir);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cycle_without_power_cycle),
		cmocka_unit_test(test_reset_from_allowable_values),
		cmocka_unit_test(test_boot_without_mode_and_bare_etag),
		cmocka_unit_test(test_boot_through_settings_object),
		cmocka_unit_test(test_boot_not_applied),
		cmocka_unit_test(test_boot_target_not_offered),
		cmocka_unit_test(test_media_under_manager_with_action_info),
		cmocka_unit_test(test_media_under_system_by_patch),
		cmocka_unit_test(test_session_limit_uses_basic_auth),
		cmocka_unit_test(test_expired_session_logs_in_again),
		cmocka_unit_test(test_firmware_update_task),
		cmocka_unit_test(test_sensors_paged_and_legacy),
		cmocka_unit_test(test_links_stay_on_the_service),
		cmocka_unit_test(test_post_not_repeated),
		cmocka_unit_test(test_redirect_is_an_error),
		cmocka_unit_test(test_errors_hide_the_password),
		cmocka_unit_test(test_bad_fingerprint_refused),
		cmocka_unit_test(test_secret_seal_and_open),
		cmocka_unit_test(test_secret_key_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
