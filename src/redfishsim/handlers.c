/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request routing for the Redfish emulator: authentication (sessions from
 * SessionService or HTTP Basic), the access log line, and the handlers that change
 * state. The service root and the login POST need no authentication (DSP0266,
 * "Authentication requirements").
 */
#include "redfishsim/sim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log/log.h"
#include "util/util.h"

static const char *const reset_types[] = {
	"On", "ForceOn", "ForceOff", "GracefulShutdown", "ForceRestart", "PowerCycle", NULL,
};
static const char *const boot_enabled_values[] = { "Disabled", "Once", "Continuous", NULL };
static const char *const boot_target_values[] = { "None", "Pxe", "Cd", "Hdd", NULL };
static const char *const boot_mode_values[] = { "UEFI", "Legacy", NULL };
static const char *const transfer_protocols[] = { "HTTP", "HTTPS", NULL };
static const char *const media_protocols[] = { "HTTP", "HTTPS", "OEM", NULL };
static const char *const transfer_methods[] = { "Stream", NULL };

static const struct rfsim_property boot_schema[] = {
	{ "BootSourceOverrideEnabled", RFSIM_STRING, false, boot_enabled_values, NULL },
	{ "BootSourceOverrideTarget", RFSIM_STRING, false, boot_target_values, NULL },
	{ "BootSourceOverrideMode", RFSIM_STRING, false, boot_mode_values, NULL },
	{ NULL, RFSIM_STRING, false, NULL, NULL },
};
static const struct rfsim_property system_schema[] = {
	{ "Boot", RFSIM_OBJECT, false, NULL, boot_schema },
	{ NULL, RFSIM_STRING, false, NULL, NULL },
};
static const struct rfsim_property reset_schema[] = {
	{ "ResetType", RFSIM_STRING, true, reset_types, NULL },
	{ NULL, RFSIM_STRING, false, NULL, NULL },
};
static const struct rfsim_property sensor_schema[] = {
	{ "Reading", RFSIM_NUMBER, true, NULL, NULL },
	{ NULL, RFSIM_STRING, false, NULL, NULL },
};
static const struct rfsim_property login_schema[] = {
	{ "UserName", RFSIM_STRING, true, NULL, NULL },
	{ "Password", RFSIM_STRING, true, NULL, NULL },
	{ NULL, RFSIM_STRING, false, NULL, NULL },
};
static const struct rfsim_property insert_schema[] = {
	{ "Image", RFSIM_STRING, true, NULL, NULL },
	{ "Inserted", RFSIM_BOOLEAN, false, NULL, NULL },
	{ "WriteProtected", RFSIM_BOOLEAN, false, NULL, NULL },
	{ "TransferProtocolType", RFSIM_STRING, false, media_protocols, NULL },
	{ "TransferMethod", RFSIM_STRING, false, transfer_methods, NULL },
	{ "UserName", RFSIM_STRING, false, NULL, NULL },
	{ "Password", RFSIM_STRING, false, NULL, NULL },
	{ NULL, RFSIM_STRING, false, NULL, NULL },
};
static const struct rfsim_property eject_schema[] = {
	{ NULL, RFSIM_STRING, false, NULL, NULL },
};
static const struct rfsim_property update_schema[] = {
	{ "ImageURI", RFSIM_STRING, true, NULL, NULL },
	{ "TransferProtocol", RFSIM_STRING, false, transfer_protocols, NULL },
	{ "Targets", RFSIM_STRING_ARRAY, false, NULL, NULL },
	{ "Username", RFSIM_STRING, false, NULL, NULL },
	{ "Password", RFSIM_STRING, false, NULL, NULL },
	{ NULL, RFSIM_STRING, false, NULL, NULL },
};

static bool
is_get(const struct rfsim_call *call)
{
	return strcmp(call->method, "GET") == 0 || strcmp(call->method, "HEAD") == 0;
}

static bool
is_method(const struct rfsim_call *call, const char *method)
{
	return strcmp(call->method, method) == 0;
}

/*
 * Match the path against `prefix` followed by one more segment; the segment goes to
 * `child`. Returns false for any other path.
 */
static bool
path_child(const struct rfsim_call *call, const char *prefix, char *child, size_t size)
{
	size_t len = strlen(prefix);
	const char *rest;

	if (strncmp(call->path, prefix, len) != 0 || call->path[len] != '/')
		return false;
	rest = call->path + len + 1;
	if (rest[0] == '\0' || strchr(rest, '/') != NULL || strlen(rest) >= size)
		return false;
	snprintf(child, size, "%s", rest);
	return true;
}

static void
reply_not_found(struct rfsim_call *call)
{
	rfsim_reply_error(call, 404, RFSIM_MSG_NOT_FOUND, call->path, NULL, NULL);
}

static void
reply_method_not_allowed(struct rfsim_call *call, const char *allow)
{
	rfsim_add_header(call, "Allow", allow);
	rfsim_reply_error(call, 405, RFSIM_MSG_METHOD_NOT_ALLOWED, NULL, NULL, NULL);
}

/* Parse the request body against `schema`; replies 400 and returns NULL on error. */
static json_t *
body_parse(struct rfsim_call *call, const struct rfsim_property *schema, bool action)
{
	struct rfsim_body_error err = { RFSIM_BODY_OK, "", "" };
	size_t len;
	const char *body = http_body(call->req, &len);
	json_t *object;

	object = rfsim_body_parse(body, len, schema, action, &err);
	if (object == NULL)
		rfsim_reply_body_error(call, &err, action);
	return object;
}

/* ---- Authentication ---- */

static void
sessions_expire(struct rfsim *sim)
{
	int64_t now = time_now();

	for (size_t i = 0; i < RFSIM_MAX_SESSIONS; i++) {
		struct rfsim_session *s = &sim->sessions[i];

		if (s->id != 0 && now - s->last_used > RFSIM_SESSION_TIMEOUT_S) {
			log_info("redfish session=%u expired", s->id);
			memset(s, 0, sizeof(*s));
		}
	}
}

static bool
basic_auth_valid(struct rfsim *sim, const char *header)
{
	unsigned char decoded[512];
	size_t in_len;
	int out_len;
	char *colon;
	bool ok;

	if (strncasecmp(header, "Basic ", 6) != 0)
		return false;
	header += 6;
	in_len = strlen(header);
	if (in_len == 0 || in_len % 4 != 0 || in_len / 4 * 3 >= sizeof(decoded))
		return false;
	out_len = EVP_DecodeBlock(decoded, (const unsigned char *)header, (int)in_len);
	if (out_len < 0)
		return false;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (header[in_len - 1] == '=')
		out_len--;
	if (header[in_len - 2] == '=')
		out_len--;
	decoded[out_len] = '\0';
	if (strlen((char *)decoded) != (size_t)out_len)
		return false;
	colon = strchr((char *)decoded, ':');
	if (colon == NULL)
		return false;
	*colon = '\0';
	ok = secret_equal((char *)decoded, sim->user) & secret_equal(colon + 1, sim->password);
	OPENSSL_cleanse(decoded, sizeof(decoded));
	return ok;
}

static bool
authenticated(struct rfsim_call *call)
{
	struct rfsim *sim = call->sim;
	const char *token = http_header(call->req, "X-Auth-Token");
	const char *authorization = http_header(call->req, "Authorization");

	sessions_expire(sim);
	if (token != NULL) {
		for (size_t i = 0; i < RFSIM_MAX_SESSIONS; i++) {
			struct rfsim_session *s = &sim->sessions[i];

			if (s->id != 0 && secret_equal(token, s->token)) {
				s->last_used = time_now();
				return true;
			}
		}
		return false;
	}
	return authorization != NULL && basic_auth_valid(sim, authorization);
}

/* ---- SessionService ---- */

static void
session_login(struct rfsim_call *call)
{
	struct rfsim *sim = call->sim;
	struct rfsim_session *slot = NULL;
	json_t *body = body_parse(call, login_schema, false);
	char location[128];
	bool valid;

	if (body == NULL)
		return;
	valid = secret_equal(json_string_value(json_object_get(body, "UserName")), sim->user) &
		secret_equal(json_string_value(json_object_get(body, "Password")), sim->password);
	json_decref(body);
	if (!valid) {
		log_info("redfish login rejected peer=%s: wrong user name or password",
			 http_peer(call->req));
		rfsim_reply_error(call, 401, RFSIM_MSG_NO_VALID_SESSION, NULL, NULL, NULL);
		return;
	}
	sessions_expire(sim);
	for (size_t i = 0; i < RFSIM_MAX_SESSIONS && slot == NULL; i++) {
		if (sim->sessions[i].id == 0)
			slot = &sim->sessions[i];
	}
	if (slot == NULL) {
		log_info("redfish login rejected peer=%s: %d sessions open", http_peer(call->req),
			 RFSIM_MAX_SESSIONS);
		/* NOTE: DSP0266 names no status for this; 503 is a guess at common BMCs. */
		rfsim_reply_error(call, 503, RFSIM_MSG_SESSION_LIMIT, NULL, NULL, NULL);
		return;
	}
	if (random_hex(32, slot->token) < 0) {
		rfsim_reply_error(call, 500, RFSIM_MSG_GENERAL_ERROR, NULL, NULL, NULL);
		return;
	}
	slot->id = ++sim->next_session_id;
	slot->last_used = time_now();
	log_info("redfish session=%u opened peer=%s", slot->id, http_peer(call->req));
	snprintf(location, sizeof(location), "/redfish/v1/SessionService/Sessions/%u", slot->id);
	rfsim_add_header(call, "X-Auth-Token", slot->token);
	rfsim_add_header(call, "Location", location);
	rfsim_reply_json(call, 201, rfsim_session(slot, sim->user));
}

static struct rfsim_session *
session_find(struct rfsim *sim, const char *id_text)
{
	uint64_t id;

	if (uint_parse(id_text, 1, UINT32_MAX, &id) < 0)
		return NULL;
	for (size_t i = 0; i < RFSIM_MAX_SESSIONS; i++) {
		if (sim->sessions[i].id == id)
			return &sim->sessions[i];
	}
	return NULL;
}

static void
sessions_route(struct rfsim_call *call)
{
	struct rfsim *sim = call->sim;
	struct rfsim_session *session;
	char child[32];
	json_t *members;

	if (strcmp(call->path, "/redfish/v1/SessionService") == 0) {
		if (!is_get(call)) {
			reply_method_not_allowed(call, "GET, HEAD");
			return;
		}
		rfsim_reply_json(call, 200, rfsim_session_service(sim));
		return;
	}
	if (strcmp(call->path, "/redfish/v1/SessionService/Sessions") == 0) {
		if (!is_get(call)) {
			reply_method_not_allowed(call, "GET, HEAD, POST");
			return;
		}
		members = json_array();
		for (size_t i = 0; i < RFSIM_MAX_SESSIONS; i++) {
			if (sim->sessions[i].id != 0)
				json_array_append_new(members, rfsim_odata_id(
					"/redfish/v1/SessionService/Sessions/%u", sim->sessions[i].id));
		}
		rfsim_reply_collection(call, "#SessionCollection.SessionCollection",
				       "Session Collection", members);
		return;
	}
	if (!path_child(call, "/redfish/v1/SessionService/Sessions", child, sizeof(child)) ||
	    (session = session_find(sim, child)) == NULL) {
		reply_not_found(call);
		return;
	}
	if (is_get(call)) {
		rfsim_reply_json(call, 200, rfsim_session(session, sim->user));
		return;
	}
	if (!is_method(call, "DELETE")) {
		reply_method_not_allowed(call, "GET, HEAD, DELETE");
		return;
	}
	log_info("redfish session=%u closed", session->id);
	memset(session, 0, sizeof(*session));
	rfsim_reply_empty(call, 204);
}

/* ---- ComputerSystem ---- */

/* The system with its @odata.etag, and the ETag header value in `etag`. */
static json_t *
system_with_etag(struct rfsim *sim, char *etag, size_t size)
{
	json_t *system = rfsim_system(sim);
	char hash[SHA256_HEX_SIZE], *text;

	if (system == NULL)
		return NULL;
	text = json_dumps(system, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL) {
		json_decref(system);
		return NULL;
	}
	sha256_hex(text, strlen(text), hash);
	free(text);
	snprintf(etag, size, "\"%.16s\"", hash);
	json_object_set_new(system, "@odata.etag", json_string(etag));
	return system;
}

static void
system_reply(struct rfsim_call *call)
{
	char etag[24];
	json_t *system = system_with_etag(call->sim, etag, sizeof(etag));

	rfsim_add_header(call, "ETag", etag);
	rfsim_reply_json(call, 200, system);
}

/* If-Match: "*" or the current ETag lets a PATCH through. */
static bool
if_match_passes(struct rfsim_call *call)
{
	const char *if_match = http_header(call->req, "If-Match");
	char etag[24];
	json_t *system;

	if (if_match == NULL || strcmp(if_match, "*") == 0)
		return true;
	system = system_with_etag(call->sim, etag, sizeof(etag));
	json_decref(system);
	return strcmp(if_match, etag) == 0;
}

static void
copy_member(json_t *object, const char *name, char *out, size_t size)
{
	const char *value = json_string_value(json_object_get(object, name));

	if (value != NULL)
		snprintf(out, size, "%s", value);
}

static void
system_patch(struct rfsim_call *call)
{
	struct rfsim *sim = call->sim;
	json_t *body, *boot;

	if (!if_match_passes(call)) {
		rfsim_reply_error(call, 412, RFSIM_MSG_PRECONDITION_FAILED, NULL, NULL, NULL);
		return;
	}
	body = body_parse(call, system_schema, false);
	if (body == NULL)
		return;
	boot = json_object_get(body, "Boot");
	copy_member(boot, "BootSourceOverrideEnabled", sim->boot_enabled, sizeof(sim->boot_enabled));
	copy_member(boot, "BootSourceOverrideTarget", sim->boot_target, sizeof(sim->boot_target));
	copy_member(boot, "BootSourceOverrideMode", sim->boot_mode, sizeof(sim->boot_mode));
	json_decref(body);
	log_info("redfish boot override enabled=%s target=%s mode=%s", sim->boot_enabled,
		 sim->boot_target, sim->boot_mode);
	rfsim_state_save(sim);
	system_reply(call);
}

static void
system_reset(struct rfsim_call *call)
{
	json_t *body = body_parse(call, reset_schema, true);
	char err[512];

	if (body == NULL)
		return;
	if (rfsim_power(call->sim, json_string_value(json_object_get(body, "ResetType")), err,
			sizeof(err)) < 0) {
		log_warning("redfish reset failed: %s", err);
		rfsim_reply_error(call, 500, RFSIM_MSG_OPERATION_FAILED, err, NULL, NULL);
	} else {
		rfsim_reply_empty(call, 204);
	}
	json_decref(body);
}

static void
systems_route(struct rfsim_call *call)
{
	if (strcmp(call->path, "/redfish/v1/Systems") == 0) {
		if (!is_get(call)) {
			reply_method_not_allowed(call, "GET, HEAD");
			return;
		}
		rfsim_reply_collection(call, "#ComputerSystemCollection.ComputerSystemCollection",
				       "Computer System Collection",
				       json_pack("[o]", rfsim_odata_id(RFSIM_SYSTEM)));
		return;
	}
	if (strcmp(call->path, RFSIM_SYSTEM) == 0) {
		if (is_get(call)) {
			system_reply(call);
			return;
		}
		if (is_method(call, "PATCH")) {
			system_patch(call);
			return;
		}
		reply_method_not_allowed(call, "GET, HEAD, PATCH");
		return;
	}
	if (call->sim->mac[0] != '\0' &&
	    strcmp(call->path, RFSIM_SYSTEM "/EthernetInterfaces") == 0 && is_get(call)) {
		rfsim_reply_collection(call, "#EthernetInterfaceCollection.EthernetInterfaceCollection",
				       "Ethernet Interface Collection",
				       json_pack("[o]", rfsim_odata_id(RFSIM_SYSTEM
								     "/EthernetInterfaces/1")));
		return;
	}
	if (call->sim->mac[0] != '\0' &&
	    strcmp(call->path, RFSIM_SYSTEM "/EthernetInterfaces/1") == 0 && is_get(call)) {
		rfsim_reply_json(call, 200, rfsim_ethernet_interface(call->sim));
		return;
	}
	if (strcmp(call->path, RFSIM_SYSTEM "/ResetActionInfo") == 0) {
		if (!is_get(call)) {
			reply_method_not_allowed(call, "GET, HEAD");
			return;
		}
		rfsim_reply_json(call, 200, rfsim_reset_action_info(call->sim));
		return;
	}
	if (strcmp(call->path, RFSIM_SYSTEM "/Actions/ComputerSystem.Reset") == 0) {
		if (!is_method(call, "POST")) {
			reply_method_not_allowed(call, "POST");
			return;
		}
		system_reset(call);
		return;
	}
	reply_not_found(call);
}

/* ---- Manager and VirtualMedia ---- */

static bool
local_image_readable(const char *path)
{
	struct stat info;

	return stat(path, &info) == 0 && S_ISREG(info.st_mode) && access(path, R_OK) == 0;
}

static bool
image_scheme_valid(const char *image)
{
	return strncmp(image, "http://", 7) == 0 || strncmp(image, "https://", 8) == 0 ||
	       strncmp(image, "file:///", 8) == 0;
}

/*
 * Download an http:// or https:// image to the state directory. The download runs
 * without the state mutex, so other requests go on meanwhile; media_busy keeps a
 * second insert out until it ends. Returns 0, or replies and returns -1.
 */
static int
media_download(struct rfsim_call *call, const char *image)
{
	struct rfsim *sim = call->sim;
	char path[4096], err[1024];
	int rc;

	if (sim->media_busy) {
		rfsim_reply_error(call, 503, RFSIM_MSG_OPERATION_FAILED,
				  "another InsertMedia is downloading its image; retry once it "
				  "completes", NULL, NULL);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/media.iso", sim->state_dir);
	sim->media_busy = true;
	pthread_mutex_unlock(&sim->lock);
	rc = rfsim_media_fetch(image, path, err, sizeof(err));
	pthread_mutex_lock(&sim->lock);
	sim->media_busy = false;
	if (rc < 0) {
		log_warning("redfish media insert failed: %s", err);
		rfsim_reply_error(call, 500, RFSIM_MSG_OPERATION_FAILED, err, NULL, NULL);
		return -1;
	}
	return 0;
}

static void
media_insert(struct rfsim_call *call)
{
	struct rfsim *sim = call->sim;
	json_t *body = body_parse(call, insert_schema, true);
	char previous[sizeof(sim->media_image)], path[4096], err[1024];
	const char *args[3] = { NULL, "Image", "VirtualMedia.InsertMedia" };
	const char *image;

	if (body == NULL)
		return;
	image = json_string_value(json_object_get(body, "Image"));
	if (!image_scheme_valid(image)) {
		args[0] = image;
		rfsim_reply_error_args(call, 400, RFSIM_MSG_ACTION_FORMAT, args, "Image");
		json_decref(body);
		return;
	}
	/* A local image is checked now, not when QEMU first opens it at power-on. */
	if (!rfsim_media_remote(image) && !local_image_readable(image + 7)) {
		rfsim_reply_error(call, 400, RFSIM_MSG_OPERATION_FAILED, "the image file of a "
				  "file:// URL must be a readable regular file", NULL, NULL);
		json_decref(body);
		return;
	}
	/* A fleet BMC has no state directory and no QEMU to give the image to. */
	if (rfsim_media_remote(image) && !sim->fleet && media_download(call, image) < 0) {
		json_decref(body);
		return;
	}

	snprintf(previous, sizeof(previous), "%s", sim->media_image);
	snprintf(sim->media_image, sizeof(sim->media_image), "%s", image);
	json_decref(body);
	rfsim_media_local_path(sim, path, sizeof(path));
	if (rfsim_media_apply(sim, path, err, sizeof(err)) < 0) {
		snprintf(sim->media_image, sizeof(sim->media_image), "%s", previous);
		rfsim_reply_error(call, 500, RFSIM_MSG_OPERATION_FAILED, err, NULL, NULL);
		return;
	}
	sim->media_inserted = true;
	{
		char shown[RFSIM_URL_LOG_SIZE];

		url_redact(sim->media_image, shown, sizeof(shown));
		log_info("redfish media inserted image=\"%s\"", shown);
	}
	rfsim_state_save(sim);
	rfsim_reply_empty(call, 204);
}

static void
media_eject(struct rfsim_call *call)
{
	struct rfsim *sim = call->sim;
	json_t *body = body_parse(call, eject_schema, true);
	char err[512];

	if (body == NULL)
		return;
	json_decref(body);
	if (sim->media_inserted && rfsim_media_apply(sim, NULL, err, sizeof(err)) < 0) {
		rfsim_reply_error(call, 500, RFSIM_MSG_OPERATION_FAILED, err, NULL, NULL);
		return;
	}
	sim->media_inserted = false;
	sim->media_image[0] = '\0';
	log_info("redfish media ejected");
	rfsim_state_save(sim);
	rfsim_reply_empty(call, 204);
}

/* Returns false when the path is not under the VirtualMedia collection. */
static bool
media_route(struct rfsim_call *call)
{
	const char *base = rfsim_media_base(call->sim);
	char cd[256], insert[320], eject[320];

	snprintf(cd, sizeof(cd), "%s/CD1", base);
	snprintf(insert, sizeof(insert), "%s/Actions/VirtualMedia.InsertMedia", cd);
	snprintf(eject, sizeof(eject), "%s/Actions/VirtualMedia.EjectMedia", cd);
	if (strcmp(call->path, base) == 0) {
		if (!is_get(call))
			reply_method_not_allowed(call, "GET, HEAD");
		else
			rfsim_reply_collection(call, "#VirtualMediaCollection.VirtualMediaCollection",
					       "Virtual Media Collection",
					       json_pack("[o]", rfsim_odata_id("%s", cd)));
	} else if (strcmp(call->path, cd) == 0) {
		if (!is_get(call))
			reply_method_not_allowed(call, "GET, HEAD");
		else
			rfsim_reply_json(call, 200, rfsim_virtual_media(call->sim, base));
	} else if (strcmp(call->path, insert) == 0 || strcmp(call->path, eject) == 0) {
		if (!is_method(call, "POST"))
			reply_method_not_allowed(call, "POST");
		else if (strcmp(call->path, insert) == 0)
			media_insert(call);
		else
			media_eject(call);
	} else {
		return false;
	}
	return true;
}

static void
managers_route(struct rfsim_call *call)
{
	if (!is_get(call)) {
		reply_method_not_allowed(call, "GET, HEAD");
		return;
	}
	if (strcmp(call->path, "/redfish/v1/Managers") == 0) {
		rfsim_reply_collection(call, "#ManagerCollection.ManagerCollection",
				       "Manager Collection",
				       json_pack("[o]", rfsim_odata_id(RFSIM_MANAGER)));
		return;
	}
	if (strcmp(call->path, RFSIM_MANAGER) == 0) {
		rfsim_reply_json(call, 200, rfsim_manager(call->sim));
		return;
	}
	reply_not_found(call);
}

/* ---- Chassis and sensors ---- */

/*
 * PATCH of a sensor's Reading is emulator-only: real sensors are read-only. Tests use
 * it to set the values that Sensors, Thermal and Power report.
 */
static void
sensor_patch(struct rfsim_call *call, struct rfsim_sensor *sensor)
{
	json_t *body = body_parse(call, sensor_schema, false);

	if (body == NULL)
		return;
	sensor->reading = json_number_value(json_object_get(body, "Reading"));
	json_decref(body);
	log_info("redfish sensor=%s reading=%g set by a client", sensor->id, sensor->reading);
	rfsim_reply_json(call, 200, rfsim_sensor(call->sim, sensor));
}

static void
chassis_route(struct rfsim_call *call)
{
	struct rfsim *sim = call->sim;
	char child[64];
	json_t *members;

	if (path_child(call, RFSIM_CHASSIS "/Sensors", child, sizeof(child))) {
		for (size_t i = 0; i < RFSIM_SENSOR_COUNT; i++) {
			if (strcmp(sim->sensors[i].id, child) != 0)
				continue;
			if (is_get(call)) {
				rfsim_reply_json(call, 200, rfsim_sensor(sim, &sim->sensors[i]));
				return;
			}
			if (is_method(call, "PATCH")) {
				sensor_patch(call, &sim->sensors[i]);
				return;
			}
			reply_method_not_allowed(call, "GET, HEAD, PATCH");
			return;
		}
		reply_not_found(call);
		return;
	}
	if (!is_get(call)) {
		reply_method_not_allowed(call, "GET, HEAD");
		return;
	}
	if (strcmp(call->path, "/redfish/v1/Chassis") == 0) {
		rfsim_reply_collection(call, "#ChassisCollection.ChassisCollection",
				       "Chassis Collection",
				       json_pack("[o]", rfsim_odata_id(RFSIM_CHASSIS)));
		return;
	}
	if (strcmp(call->path, RFSIM_CHASSIS) == 0) {
		rfsim_reply_json(call, 200, rfsim_chassis(sim));
		return;
	}
	if (strcmp(call->path, RFSIM_CHASSIS "/Thermal") == 0) {
		rfsim_reply_json(call, 200, rfsim_thermal(sim));
		return;
	}
	if (strcmp(call->path, RFSIM_CHASSIS "/Power") == 0) {
		rfsim_reply_json(call, 200, rfsim_power_resource(sim));
		return;
	}
	if (strcmp(call->path, RFSIM_CHASSIS "/Sensors") == 0) {
		members = json_array();
		for (size_t i = 0; i < RFSIM_SENSOR_COUNT; i++)
			json_array_append_new(members, rfsim_odata_id(RFSIM_CHASSIS "/Sensors/%s",
								      sim->sensors[i].id));
		rfsim_reply_collection(call, "#SensorCollection.SensorCollection",
				       "Chassis Sensors", members);
		return;
	}
	reply_not_found(call);
}

/* ---- UpdateService and TaskService ---- */

static struct rfsim_task *
task_slot(struct rfsim *sim)
{
	struct rfsim_task *oldest = NULL;

	for (size_t i = 0; i < RFSIM_MAX_TASKS; i++) {
		struct rfsim_task *task = &sim->tasks[i];

		if (task->id == 0)
			return task;
		/* CompletedTaskOverWritePolicy "Oldest": reuse the oldest completed task. */
		if (task->state == RFSIM_TASK_COMPLETED && (oldest == NULL || task->id < oldest->id))
			oldest = task;
	}
	return oldest;
}

static void
simple_update(struct rfsim_call *call)
{
	struct rfsim *sim = call->sim;
	json_t *body = body_parse(call, update_schema, true);
	struct rfsim_task *task;
	char monitor[128];

	if (body == NULL)
		return;
	task = task_slot(sim);
	if (task == NULL) {
		json_decref(body);
		rfsim_reply_error(call, 503, RFSIM_MSG_OPERATION_FAILED,
				  "every task slot holds a running task; retry once one completes",
				  NULL, NULL);
		return;
	}
	memset(task, 0, sizeof(*task));
	task->id = ++sim->next_task_id;
	task->state = RFSIM_TASK_RUNNING;
	task->start_ms = time_now_ms();
	snprintf(task->image, sizeof(task->image), "%s",
		 json_string_value(json_object_get(body, "ImageURI")));
	json_decref(body);
	{
		char shown[RFSIM_URL_LOG_SIZE];

		url_redact(task->image, shown, sizeof(shown));
		log_info("redfish task=%u started: firmware update image=\"%s\"", task->id,
			 shown);
	}
	snprintf(monitor, sizeof(monitor), "/redfish/v1/TaskService/TaskMonitors/%u", task->id);
	rfsim_add_header(call, "Location", monitor);
	rfsim_reply_json(call, 202, rfsim_task(task));
}

static struct rfsim_task *
task_find(struct rfsim *sim, const char *id_text)
{
	uint64_t id;

	if (uint_parse(id_text, 1, UINT32_MAX, &id) < 0)
		return NULL;
	for (size_t i = 0; i < RFSIM_MAX_TASKS; i++) {
		if (sim->tasks[i].id == id)
			return &sim->tasks[i];
	}
	return NULL;
}

static void
update_route(struct rfsim_call *call)
{
	struct rfsim *sim = call->sim;
	char child[32];
	json_t *firmware;

	if (strcmp(call->path, "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate") == 0) {
		if (!is_method(call, "POST")) {
			reply_method_not_allowed(call, "POST");
			return;
		}
		simple_update(call);
		return;
	}
	if (!is_get(call)) {
		reply_method_not_allowed(call, "GET, HEAD");
		return;
	}
	if (strcmp(call->path, "/redfish/v1/UpdateService") == 0) {
		rfsim_reply_json(call, 200, rfsim_update_service(sim));
		return;
	}
	if (strcmp(call->path, "/redfish/v1/UpdateService/SimpleUpdateActionInfo") == 0) {
		rfsim_reply_json(call, 200, rfsim_simple_update_action_info(sim));
		return;
	}
	if (strcmp(call->path, "/redfish/v1/UpdateService/FirmwareInventory") == 0) {
		rfsim_reply_collection(call, "#SoftwareInventoryCollection.SoftwareInventoryCollection",
				       "Firmware Inventory Collection",
				       json_pack("[o, o]",
						 rfsim_odata_id("%s/BIOS", call->path),
						 rfsim_odata_id("%s/BMC", call->path)));
		return;
	}
	if (path_child(call, "/redfish/v1/UpdateService/FirmwareInventory", child, sizeof(child)) &&
	    (firmware = rfsim_firmware(sim, child)) != NULL) {
		rfsim_reply_json(call, 200, firmware);
		return;
	}
	reply_not_found(call);
}

static void
tasks_route(struct rfsim_call *call)
{
	struct rfsim *sim = call->sim;
	struct rfsim_task *task;
	char child[32];
	json_t *members;

	if (!is_get(call)) {
		reply_method_not_allowed(call, "GET, HEAD");
		return;
	}
	if (strcmp(call->path, "/redfish/v1/TaskService") == 0) {
		rfsim_reply_json(call, 200, rfsim_task_service(sim));
		return;
	}
	if (strcmp(call->path, "/redfish/v1/TaskService/Tasks") == 0) {
		members = json_array();
		for (size_t i = 0; i < RFSIM_MAX_TASKS; i++) {
			if (sim->tasks[i].id != 0)
				json_array_append_new(members, rfsim_odata_id(
					"/redfish/v1/TaskService/Tasks/%u", sim->tasks[i].id));
		}
		rfsim_reply_collection(call, "#TaskCollection.TaskCollection",
				       "Task Collection", members);
		return;
	}
	if (path_child(call, "/redfish/v1/TaskService/Tasks", child, sizeof(child)) &&
	    (task = task_find(sim, child)) != NULL) {
		rfsim_reply_json(call, 200, rfsim_task(task));
		return;
	}
	/* A task monitor returns 202 while the task runs and 200 once it has completed. */
	if (path_child(call, "/redfish/v1/TaskService/TaskMonitors", child, sizeof(child)) &&
	    (task = task_find(sim, child)) != NULL) {
		if (task->state == RFSIM_TASK_RUNNING) {
			rfsim_add_header(call, "Location", call->path);
			rfsim_add_header(call, "Retry-After", "1");
			rfsim_reply_json(call, 202, rfsim_task(task));
			return;
		}
		rfsim_reply_json(call, 200, rfsim_task(task));
		return;
	}
	reply_not_found(call);
}

/* ---- Dispatch ---- */

static bool
path_under(const char *path, const char *prefix)
{
	size_t len = strlen(prefix);

	return strncmp(path, prefix, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

static void
route(struct rfsim_call *call)
{
	const char *path = call->path;

	if (strcmp(path, "/redfish") == 0) {
		if (!is_get(call)) {
			reply_method_not_allowed(call, "GET, HEAD");
			return;
		}
		rfsim_reply_json(call, 200, json_pack("{s:s}", "v1", "/redfish/v1/"));
		return;
	}
	if (strcmp(path, "/redfish/v1") == 0) {
		if (!is_get(call)) {
			reply_method_not_allowed(call, "GET, HEAD");
			return;
		}
		rfsim_reply_json(call, 200, rfsim_service_root(call->sim));
		return;
	}
	if (strcmp(path, "/redfish/v1/SessionService/Sessions") == 0 && is_method(call, "POST")) {
		session_login(call);
		return;
	}
	if (!path_under(path, "/redfish/v1")) {
		reply_not_found(call);
		return;
	}
	if (!authenticated(call)) {
		rfsim_reply_error(call, 401, RFSIM_MSG_NO_VALID_SESSION, NULL, NULL, NULL);
		return;
	}

	if (media_route(call))
		return;
	if (path_under(path, "/redfish/v1/SessionService")) {
		sessions_route(call);
		return;
	}
	if (path_under(path, "/redfish/v1/Systems")) {
		systems_route(call);
		return;
	}
	if (path_under(path, "/redfish/v1/Managers")) {
		managers_route(call);
		return;
	}
	if (path_under(path, "/redfish/v1/Chassis")) {
		chassis_route(call);
		return;
	}
	if (path_under(path, "/redfish/v1/UpdateService")) {
		update_route(call);
		return;
	}
	if (path_under(path, "/redfish/v1/TaskService")) {
		tasks_route(call);
		return;
	}
	reply_not_found(call);
}

static void
access_log(struct rfsim_call *call)
{
	char path[256];

	snprintf(path, sizeof(path), "%s", call->path);
	text_sanitize(path);
	log_info("redfish request peer=%s method=%s path=\"%s\" status=%u", http_peer(call->req),
		 call->method, path, call->status);
}

static void
call_init(struct rfsim_call *call, struct rfsim *sim, struct http_request *req, char *path,
	  size_t size)
{
	size_t len;

	snprintf(path, size, "%s", http_path(req));
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	call->sim = sim;
	call->req = req;
	call->method = http_method(req);
	call->path = path;
	call->status = 0;
}

void
rfsim_handle(struct http_request *req, void *ctx)
{
	struct rfsim *sim = ctx;
	struct rfsim_call call;
	char path[1024];

	call_init(&call, sim, req, path, sizeof(path));
	pthread_mutex_lock(&sim->lock);
	rfsim_qemu_reap(sim);
	rfsim_tasks_advance(sim);
	if (strlen(http_path(req)) >= sizeof(path))
		reply_not_found(&call);
	else
		route(&call);
	pthread_mutex_unlock(&sim->lock);
	access_log(&call);
}

/*
 * Reject a body declared larger than RFSIM_MAX_BODY_BYTES before it is read, with the
 * Redfish error body. A chunked body past the limit gets the HTTP module's own 413.
 */
int
rfsim_precheck(struct http_request *req, void *ctx)
{
	const char *length = http_header(req, "Content-Length");
	struct rfsim_call call;
	char path[1024], limit[24];
	uint64_t bytes;

	if (length == NULL || (uint_parse(length, 0, UINT64_MAX, &bytes) == 0 &&
			       bytes <= RFSIM_MAX_BODY_BYTES))
		return 0;
	call_init(&call, ctx, req, path, sizeof(path));
	snprintf(limit, sizeof(limit), "%d", RFSIM_MAX_BODY_BYTES);
	rfsim_reply_error(&call, 413, RFSIM_MSG_PAYLOAD_TOO_LARGE, limit, NULL, NULL);
	access_log(&call);
	return 1;
}
