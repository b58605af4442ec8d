/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The emulator's Redfish resources, built from its state on each GET. Their shapes,
 * URIs and @odata.type values follow the DMTF schemas and the DMTF's public-rackmount1
 * mockup (DSP2043). Callers hold the state mutex.
 */
#include "redfishsim/sim.h"

#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "util/util.h"

static const char *const reset_types[] = {
	"On", "ForceOn", "ForceOff", "GracefulShutdown", "ForceRestart", "PowerCycle", NULL,
};

static json_t *
string_array(const char *const *values)
{
	json_t *array = json_array();

	for (; *values != NULL; values++)
		json_array_append_new(array, json_string(*values));
	return array;
}

static json_t *
status_ok(void)
{
	return json_pack("{s:s, s:s}", "State", "Enabled", "Health", "OK");
}

static json_t *
time_string(int64_t ms)
{
	char text[21];

	time_format(ms / 1000, text);
	return json_string(text);
}

const char *
rfsim_media_base(const struct rfsim *sim)
{
	return sim->profile == RFSIM_PROFILE_VM_UNDER_MANAGER ? RFSIM_MANAGER "/VirtualMedia"
							     : RFSIM_SYSTEM "/VirtualMedia";
}

void
rfsim_bios_version(const struct rfsim *sim, char *out, size_t size)
{
	snprintf(out, size, "1.0.%u", sim->bios_revision);
}

void
rfsim_sensors_init(struct rfsim *sim)
{
	static const struct rfsim_sensor defaults[RFSIM_SENSOR_COUNT] = {
		{ "CPU1Temp", "CPU #1 Temperature", "Cel", "Temperature", "CPU", 40 },
		{ "IntakeTemp", "Chassis Intake Temperature", "Cel", "Temperature", "Intake", 24 },
		{ "ExhaustTemp", "Chassis Exhaust Temperature", "Cel", "Temperature", "Exhaust",
		  33 },
		{ "CPUFan1", "CPU Fan #1", "RPM", "Rotational", "CPU", 3600 },
		{ "CPUFan2", "CPU Fan #2", "RPM", "Rotational", "CPU", 3550 },
		{ "PS1InputVoltage", "Power Supply #1 Input Voltage", "V", "Voltage",
		  "PowerSupply", 230 },
		{ "PS1InputCurrent", "Power Supply #1 Input Current", "A", "Current",
		  "PowerSupply", 0.8 },
		{ "TotalPower", "Total Power", "W", "Power", "Chassis", 180 },
		{ "CPU1Power", "CPU #1 Power", "W", "Power", "CPU", 65 },
	};

	memcpy(sim->sensors, defaults, sizeof(defaults));
}

json_t *
rfsim_service_root(struct rfsim *sim)
{
	(void)sim;
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o,"
			 " s:{s:o}}",
			 "@odata.id", "/redfish/v1", "@odata.type", "#ServiceRoot.v1_15_0.ServiceRoot",
			 "Id", "RootService", "Name", "Root Service", "RedfishVersion", "1.15.0",
			 "UUID", "6f7a6a10-5b1e-4c55-9d0c-0075747073696d",
			 "Product", "outpost-redfish-sim",
			 "Systems", rfsim_odata_id("/redfish/v1/Systems"),
			 "Chassis", rfsim_odata_id("/redfish/v1/Chassis"),
			 "Managers", rfsim_odata_id("/redfish/v1/Managers"),
			 "SessionService", rfsim_odata_id("/redfish/v1/SessionService"),
			 "UpdateService", rfsim_odata_id("/redfish/v1/UpdateService"),
			 "Tasks", rfsim_odata_id("/redfish/v1/TaskService"),
			 "Links", "Sessions", rfsim_odata_id("/redfish/v1/SessionService/Sessions"));
}

static json_t *
system_boot(struct rfsim *sim)
{
	static const char *const enabled[] = { "Disabled", "Once", "Continuous", NULL };
	static const char *const targets[] = { "None", "Pxe", "Cd", "Hdd", NULL };
	static const char *const modes[] = { "UEFI", "Legacy", NULL };

	return json_pack("{s:s, s:o, s:s, s:o, s:s, s:o}",
			 "BootSourceOverrideEnabled", sim->boot_enabled,
			 "BootSourceOverrideEnabled@Redfish.AllowableValues", string_array(enabled),
			 "BootSourceOverrideTarget", sim->boot_target,
			 "BootSourceOverrideTarget@Redfish.AllowableValues", string_array(targets),
			 "BootSourceOverrideMode", sim->boot_mode,
			 "BootSourceOverrideMode@Redfish.AllowableValues", string_array(modes));
}

json_t *
rfsim_system(struct rfsim *sim)
{
	char bios[32];
	json_t *system;

	rfsim_bios_version(sim, bios, sizeof(bios));
	system = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o,"
			   " s:{s:{s:s, s:s}}, s:{s:[o], s:[o]}}",
			   "@odata.id", RFSIM_SYSTEM, "@odata.type", "#ComputerSystem.v1_20_0.ComputerSystem",
			   "Id", "1", "Name", "QEMU lab server", "SystemType", "Physical",
			   "Manufacturer", "QEMU",
			   "Model", sim->q35 ? "Standard PC (Q35 + ICH9, 2009)"
					    : "Standard PC (i440FX + PIIX, 1996)",
			   "SerialNumber", sim->serial, "PowerState", rfsim_powered(sim) ? "On" : "Off",
			   "BiosVersion", bios, "Status", status_ok(), "Boot", system_boot(sim),
			   "Actions", "#ComputerSystem.Reset",
			   "target", RFSIM_SYSTEM "/Actions/ComputerSystem.Reset",
			   "@Redfish.ActionInfo", RFSIM_SYSTEM "/ResetActionInfo",
			   "Links", "Chassis", rfsim_odata_id(RFSIM_CHASSIS),
			   "ManagedBy", rfsim_odata_id(RFSIM_MANAGER));
	if (system == NULL)
		return NULL;
	if (sim->uuid[0] != '\0')
		json_object_set_new(system, "UUID", json_string(sim->uuid));
	if (sim->mac[0] != '\0')
		json_object_set_new(system, "EthernetInterfaces",
				    rfsim_odata_id(RFSIM_SYSTEM "/EthernetInterfaces"));
	if (sim->profile == RFSIM_PROFILE_GENERIC)
		json_object_set_new(system, "VirtualMedia", rfsim_odata_id("%s", rfsim_media_base(sim)));
	return system;
}

json_t *
rfsim_ethernet_interface(struct rfsim *sim)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s}",
			 "@odata.id", RFSIM_SYSTEM "/EthernetInterfaces/1",
			 "@odata.type", "#EthernetInterface.v1_6_0.EthernetInterface",
			 "Id", "1", "Name", "NIC 1", "MACAddress", sim->mac,
			 "PermanentMACAddress", sim->mac, "Status", status_ok(),
			 "LinkStatus", rfsim_powered(sim) ? "LinkUp" : "LinkDown");
}

json_t *
rfsim_reset_action_info(struct rfsim *sim)
{
	(void)sim;
	return json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:b, s:s, s:o}]}",
			 "@odata.id", RFSIM_SYSTEM "/ResetActionInfo",
			 "@odata.type", "#ActionInfo.v1_3_0.ActionInfo",
			 "Id", "ResetActionInfo", "Name", "Reset Action Info",
			 "Parameters", "Name", "ResetType", "Required", 1, "DataType", "String",
			 "AllowableValues", string_array(reset_types));
}

json_t *
rfsim_manager(struct rfsim *sim)
{
	json_t *manager;

	manager = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:{s:[o], s:[o]}}",
			    "@odata.id", RFSIM_MANAGER, "@odata.type", "#Manager.v1_17_0.Manager",
			    "Id", "BMC", "Name", "Manager", "ManagerType", "BMC",
			    "FirmwareVersion", "outpost-redfish-sim " OUTPOST_VERSION,
			    "Status", status_ok(), "PowerState", "On",
			    "Links", "ManagerForServers", rfsim_odata_id(RFSIM_SYSTEM),
			    "ManagerForChassis", rfsim_odata_id(RFSIM_CHASSIS));
	if (manager != NULL && sim->profile == RFSIM_PROFILE_VM_UNDER_MANAGER)
		json_object_set_new(manager, "VirtualMedia",
				    rfsim_odata_id("%s", rfsim_media_base(sim)));
	return manager;
}

json_t *
rfsim_virtual_media(struct rfsim *sim, const char *base)
{
	char uri[256], insert[320], eject[320];

	snprintf(uri, sizeof(uri), "%s/CD1", base);
	snprintf(insert, sizeof(insert), "%s/Actions/VirtualMedia.InsertMedia", uri);
	snprintf(eject, sizeof(eject), "%s/Actions/VirtualMedia.EjectMedia", uri);
	return json_pack("{s:s, s:s, s:s, s:s, s:[s, s], s:s?, s:b, s:s, s:b,"
			 " s:{s:{s:s}, s:{s:s}}}",
			 "@odata.id", uri, "@odata.type", "#VirtualMedia.v1_6_0.VirtualMedia",
			 "Id", "CD1", "Name", "Virtual CD", "MediaTypes", "CD", "DVD",
			 "Image", sim->media_inserted ? sim->media_image : NULL,
			 "Inserted", sim->media_inserted,
			 "ConnectedVia", sim->media_inserted ? "URI" : "NotConnected",
			 "WriteProtected", 1,
			 "Actions",
			 "#VirtualMedia.InsertMedia", "target", insert,
			 "#VirtualMedia.EjectMedia", "target", eject);
}

json_t *
rfsim_chassis(struct rfsim *sim)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o,"
			 " s:{s:[o], s:[o]}}",
			 "@odata.id", RFSIM_CHASSIS, "@odata.type", "#Chassis.v1_21_0.Chassis",
			 "Id", "1", "Name", "Computer System Chassis", "ChassisType", "RackMount",
			 "PowerState", rfsim_powered(sim) ? "On" : "Off", "Status", status_ok(),
			 "Sensors", rfsim_odata_id(RFSIM_CHASSIS "/Sensors"),
			 "Thermal", rfsim_odata_id(RFSIM_CHASSIS "/Thermal"),
			 "Power", rfsim_odata_id(RFSIM_CHASSIS "/Power"),
			 "Links", "ComputerSystems", rfsim_odata_id(RFSIM_SYSTEM),
			 "ManagedBy", rfsim_odata_id(RFSIM_MANAGER));
}

json_t *
rfsim_sensor(struct rfsim *sim, const struct rfsim_sensor *sensor)
{
	char uri[256];

	(void)sim;
	snprintf(uri, sizeof(uri), RFSIM_CHASSIS "/Sensors/%s", sensor->id);
	return json_pack("{s:s, s:s, s:s, s:s, s:f, s:s, s:s, s:s, s:o}",
			 "@odata.id", uri, "@odata.type", "#Sensor.v1_6_0.Sensor",
			 "Id", sensor->id, "Name", sensor->name, "Reading", sensor->reading,
			 "ReadingUnits", sensor->units, "ReadingType", sensor->reading_type,
			 "PhysicalContext", sensor->context, "Status", status_ok());
}

/* The legacy Thermal and Power resources carry the same readings as the Sensors. */
static json_t *
legacy_member(const char *resource, const char *array, size_t index,
	      const struct rfsim_sensor *sensor)
{
	char uri[256], member_id[16];

	snprintf(uri, sizeof(uri), RFSIM_CHASSIS "/%s#/%s/%zu", resource, array, index);
	snprintf(member_id, sizeof(member_id), "%zu", index);
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "@odata.id", uri, "MemberId", member_id,
			 "Name", sensor->name, "PhysicalContext", sensor->context,
			 "Status", status_ok());
}

json_t *
rfsim_thermal(struct rfsim *sim)
{
	json_t *temperatures = json_array(), *fans = json_array(), *member;

	for (size_t i = 0; i < RFSIM_SENSOR_COUNT; i++) {
		const struct rfsim_sensor *sensor = &sim->sensors[i];

		if (strcmp(sensor->units, "Cel") == 0) {
			member = legacy_member("Thermal", "Temperatures",
					       json_array_size(temperatures), sensor);
			json_object_set_new(member, "ReadingCelsius", json_real(sensor->reading));
			json_array_append_new(temperatures, member);
		} else if (strcmp(sensor->units, "RPM") == 0) {
			member = legacy_member("Thermal", "Fans", json_array_size(fans), sensor);
			json_object_set_new(member, "Reading", json_real(sensor->reading));
			json_object_set_new(member, "ReadingUnits", json_string("RPM"));
			json_array_append_new(fans, member);
		}
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}",
			 "@odata.id", RFSIM_CHASSIS "/Thermal", "@odata.type", "#Thermal.v1_7_1.Thermal",
			 "Id", "Thermal", "Name", "Thermal", "Temperatures", temperatures, "Fans", fans);
}

static const struct rfsim_sensor *
sensor_get(const struct rfsim *sim, const char *id)
{
	for (size_t i = 0; i < RFSIM_SENSOR_COUNT; i++) {
		if (strcmp(sim->sensors[i].id, id) == 0)
			return &sim->sensors[i];
	}
	return NULL;
}

json_t *
rfsim_power_resource(struct rfsim *sim)
{
	const struct rfsim_sensor *total = sensor_get(sim, "TotalPower");
	const struct rfsim_sensor *volts = sensor_get(sim, "PS1InputVoltage");
	json_t *voltages = json_array(), *member;

	for (size_t i = 0; i < RFSIM_SENSOR_COUNT; i++) {
		const struct rfsim_sensor *sensor = &sim->sensors[i];

		if (strcmp(sensor->units, "V") != 0)
			continue;
		member = legacy_member("Power", "Voltages", json_array_size(voltages), sensor);
		json_object_set_new(member, "ReadingVolts", json_real(sensor->reading));
		json_array_append_new(voltages, member);
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:f, s:o}], s:o,"
			 " s:[{s:s, s:s, s:s, s:f, s:o}]}",
			 "@odata.id", RFSIM_CHASSIS "/Power", "@odata.type", "#Power.v1_7_1.Power",
			 "Id", "Power", "Name", "Power",
			 "PowerControl", "@odata.id", RFSIM_CHASSIS "/Power#/PowerControl/0",
			 "MemberId", "0", "Name", "System Input Power",
			 "PowerConsumedWatts", total->reading, "Status", status_ok(),
			 "Voltages", voltages,
			 "PowerSupplies", "@odata.id", RFSIM_CHASSIS "/Power#/PowerSupplies/0",
			 "MemberId", "0", "Name", "Power Supply #1",
			 "LineInputVoltage", volts->reading, "Status", status_ok());
}

json_t *
rfsim_session_service(struct rfsim *sim)
{
	(void)sim;
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:i, s:o, s:o}",
			 "@odata.id", "/redfish/v1/SessionService",
			 "@odata.type", "#SessionService.v1_1_8.SessionService",
			 "Id", "SessionService", "Name", "Session Service", "ServiceEnabled", 1,
			 "SessionTimeout", RFSIM_SESSION_TIMEOUT_S, "Status", status_ok(),
			 "Sessions", rfsim_odata_id("/redfish/v1/SessionService/Sessions"));
}

json_t *
rfsim_session(const struct rfsim_session *session, const char *user)
{
	char uri[128], id[16];

	snprintf(uri, sizeof(uri), "/redfish/v1/SessionService/Sessions/%u", session->id);
	snprintf(id, sizeof(id), "%u", session->id);
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "@odata.id", uri,
			 "@odata.type", "#Session.v1_6_0.Session", "Id", id,
			 "Name", "User Session", "UserName", user);
}

json_t *
rfsim_update_service(struct rfsim *sim)
{
	(void)sim;
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:{s:{s:s, s:s}}}",
			 "@odata.id", "/redfish/v1/UpdateService",
			 "@odata.type", "#UpdateService.v1_11_2.UpdateService",
			 "Id", "UpdateService", "Name", "Update Service", "ServiceEnabled", 1,
			 "Status", status_ok(),
			 "FirmwareInventory", rfsim_odata_id("/redfish/v1/UpdateService/FirmwareInventory"),
			 "Actions", "#UpdateService.SimpleUpdate",
			 "target", "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
			 "@Redfish.ActionInfo", "/redfish/v1/UpdateService/SimpleUpdateActionInfo");
}

json_t *
rfsim_simple_update_action_info(struct rfsim *sim)
{
	(void)sim;
	return json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:b, s:s}, {s:s, s:b, s:s, s:[s, s]}]}",
			 "@odata.id", "/redfish/v1/UpdateService/SimpleUpdateActionInfo",
			 "@odata.type", "#ActionInfo.v1_3_0.ActionInfo",
			 "Id", "SimpleUpdateActionInfo", "Name", "Simple Update Action Info",
			 "Parameters",
			 "Name", "ImageURI", "Required", 1, "DataType", "String",
			 "Name", "TransferProtocol", "Required", 0, "DataType", "String",
			 "AllowableValues", "HTTP", "HTTPS");
}

/* FirmwareInventory members: "BIOS" and "BMC"; NULL for any other id. */
json_t *
rfsim_firmware(struct rfsim *sim, const char *id)
{
	char uri[128], version[32];
	const char *name;

	if (strcmp(id, "BIOS") == 0) {
		rfsim_bios_version(sim, version, sizeof(version));
		name = "System BIOS";
	} else if (strcmp(id, "BMC") == 0) {
		snprintf(version, sizeof(version), "%s", "outpost-redfish-sim " OUTPOST_VERSION);
		name = "BMC Firmware";
	} else {
		return NULL;
	}
	snprintf(uri, sizeof(uri), "/redfish/v1/UpdateService/FirmwareInventory/%s", id);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "@odata.id", uri,
			 "@odata.type", "#SoftwareInventory.v1_9_0.SoftwareInventory",
			 "Id", id, "Name", name, "Version", version, "Updateable", 1,
			 "Status", status_ok());
}

json_t *
rfsim_task_service(struct rfsim *sim)
{
	(void)sim;
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:o, s:o}",
			 "@odata.id", "/redfish/v1/TaskService",
			 "@odata.type", "#TaskService.v1_2_0.TaskService",
			 "Id", "TaskService", "Name", "Task Service", "ServiceEnabled", 1,
			 "CompletedTaskOverWritePolicy", "Oldest", "Status", status_ok(),
			 "Tasks", rfsim_odata_id("/redfish/v1/TaskService/Tasks"));
}

json_t *
rfsim_task(const struct rfsim_task *task)
{
	bool done = task->state == RFSIM_TASK_COMPLETED;
	int64_t elapsed = time_now_ms() - task->start_ms;
	char uri[128], monitor[128], id[16];
	json_int_t percent;
	json_t *body;

	snprintf(uri, sizeof(uri), "/redfish/v1/TaskService/Tasks/%u", task->id);
	snprintf(monitor, sizeof(monitor), "/redfish/v1/TaskService/TaskMonitors/%u", task->id);
	snprintf(id, sizeof(id), "%u", task->id);
	percent = done ? 100 : (json_int_t)(elapsed * 100 / RFSIM_TASK_MS);
	if (percent > 99 && !done)
		percent = 99;
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:s, s:[]}",
			 "@odata.id", uri, "@odata.type", "#Task.v1_7_1.Task", "Id", id,
			 "Name", "Firmware update", "TaskState", done ? "Completed" : "Running",
			 "TaskStatus", "OK", "PercentComplete", percent,
			 "StartTime", time_string(task->start_ms), "TaskMonitor", monitor,
			 "Messages");
	if (body != NULL && done)
		json_object_set_new(body, "EndTime", time_string(task->end_ms));
	return body;
}

/*
 * Complete the tasks whose time is up. A completed firmware update raises the BIOS
 * version, as flashing a new image would.
 */
void
rfsim_tasks_advance(struct rfsim *sim)
{
	int64_t now = time_now_ms();
	bool changed = false;

	for (size_t i = 0; i < RFSIM_MAX_TASKS; i++) {
		struct rfsim_task *task = &sim->tasks[i];

		if (task->id == 0 || task->state != RFSIM_TASK_RUNNING ||
		    now - task->start_ms < RFSIM_TASK_MS)
			continue;
		task->state = RFSIM_TASK_COMPLETED;
		task->end_ms = now;
		sim->bios_revision++;
		changed = true;
		log_info("redfish task=%u completed bios_version=1.0.%u", task->id,
			 sim->bios_revision);
	}
	if (changed)
		rfsim_state_save(sim);
}
