#!/bin/bash
# The IPMI driver against OpenIPMI's BMC simulator, ipmi_sim, on 127.0.0.1 and ::1,
# through $BUILD/tests/bmc_tool. It checks an RMCP+ login, chassis power through a
# control script that keeps the power state in a file, and boot flags, read back with
# ipmitool and from the simulator's message dump. It also checks the sensors and FRU
# data that bmc_lib.sh defines, one SEL entry, wrong credentials and a port where nothing
# listens.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bmc_lib.sh"

BMC_TOOL=${BMC_TOOL:-$(dirname "$OUTPOST")/tests/bmc_tool}

require_programs ipmi_sim ipmitool
if [ ! -x "$BMC_TOOL" ]; then
	echo "FAIL: $TEST_NAME: $BMC_TOOL is missing; build it with make" >&2
	exit 1
fi

# Run bmc_tool against the simulator; its stderr is appended to $WORK/tool.err.
bmc() {
	BMC_PASSWORD=${BMC_PASSWORD_OVERRIDE:-$IPMI_PASSWORD} "$BMC_TOOL" --protocol ipmi \
		--address "${BMC_ADDRESS:-127.0.0.1}" --port "${BMC_PORT:-$IPMI_PORT}" \
		--user "${BMC_USER:-admin}" --timeout "${BMC_TIMEOUT:-5000}" "$@" 2>> "$WORK/tool.err"
}

# Run bmc_tool, expecting a failure, and print its error line.
bmc_error() {
	bmc "$@" > /dev/null
	tail -n 1 "$WORK/tool.err"
}

ipmi_sim_start

# A system event, added once the SEL clock is set because the BMC stamps each entry
# with its own time: temperature sensor 1, threshold event "upper critical going high"
# with trigger reading 0x5a and threshold 0x55.
# Set SEL Time to 1600000000 (2020-09-13T12:26:40Z), least significant byte first.
ipmitool_sim raw 0x0a 0x49 0x00 0x10 0x5e 0x5f > /dev/null
ipmitool_sim raw 0x0a 0x44 0x00 0x00 0x02 0x00 0x00 0x00 0x00 0x20 0x00 0x04 0x01 0x01 \
	0x01 0x59 0x5a 0x55 > /dev/null

# Power: the state read back is the control script's, which records each action.
expect_eq "initial power state" "$(bmc power-state | jq -r .power_state)" "on"
expect_eq "power off reply" "$(bmc power off | jq -r .power)" "off"
expect_eq "power off reaches the chassis" "$(tail -n 1 "$IPMI_DIR/chassis.log")" "power 0"
expect_eq "power state after off" "$(bmc power-state | jq -r .power_state)" "off"
expect_eq "power on reply" "$(bmc power on | jq -r .power)" "on"
expect_eq "power on reaches the chassis" "$(tail -n 1 "$IPMI_DIR/chassis.log")" "power 1"
expect_eq "power state after on" "$(bmc power-state | jq -r .power_state)" "on"
bmc power reset > /dev/null
expect_eq "reset is a hard reset" "$(tail -n 1 "$IPMI_DIR/chassis.log")" "reset 1"
bmc power shutdown > /dev/null
expect_eq "shutdown is a soft shutdown" "$(tail -n 1 "$IPMI_DIR/chassis.log")" "shutdown 1"
: > "$IPMI_DIR/chassis.log"
bmc power cycle > /dev/null
# ipmi_sim powers off at once and on again one second later.
check "cycle powers off, then on" wait_chassis "power 1"
expect_eq "cycle sequence" "$(tr '\n' ' ' < "$IPMI_DIR/chassis.log")" "power 0 power 1 "
: > "$IPMI_DIR/chassis.log"
bmc power off > /dev/null
bmc power cycle > /dev/null
expect_eq "cycle of an off server powers it on" "$(tr '\n' ' ' < "$IPMI_DIR/chassis.log")" \
	"power 0 power 1 "

# Boot once: request byte 1 is valid (0x80), not persistent, EFI (0x20) for uefi;
# byte 2 is the device << 2: PXE 1, disk 2, CD 5. ipmi_sim keeps only the device.
expect_eq "boot pxe uefi reply" "$(bmc boot pxe uefi | jq -r '.boot + " " + .mode')" "pxe uefi"
expect_eq "boot pxe uefi request" "$(last_boot_request)" "05 a0 04 00 00 00"
expect_eq "boot pxe reaches the chassis" "$(tail -n 1 "$IPMI_DIR/chassis.log")" "boot pxe"
expect_contains "ipmitool reads PXE back" "$(ipmitool_sim chassis bootparam get 5)" \
	"Boot Device Selector : Force PXE"
bmc boot disk legacy > /dev/null
expect_eq "boot disk legacy request" "$(last_boot_request)" "05 80 08 00 00 00"
expect_eq "boot disk reaches the chassis" "$(tail -n 1 "$IPMI_DIR/chassis.log")" "boot default"
expect_contains "ipmitool reads the disk back" "$(ipmitool_sim chassis bootparam get 5)" \
	"Force Boot from default Hard-Drive"
# keep: ipmi_sim reports the legacy BIOS boot type, so the EFI bit stays clear.
bmc boot cd > /dev/null
expect_eq "boot cd keep request" "$(last_boot_request)" "05 80 14 00 00 00"
expect_eq "boot cd reaches the chassis" "$(tail -n 1 "$IPMI_DIR/chassis.log")" "boot cdrom"
err=$(bmc_error boot http)
expect_contains "boot http is unsupported" "$err" "UEFI HTTP boot over IPMI is not supported"

# Sensors: value = M * raw * 10^R from the records above.
sensors=$(bmc sensors | tee "$WORK/sensors.json")
sensor_line() {
	jq -r --arg name "$1" '.[] | select(.name == $name) |
		"\(.kind) \(if .value == null then "null" else (.value * 100 | round) / 100 end) \(.unit)"' \
		<<< "$sensors"
}
expect_eq "sensor count" "$(jq length <<< "$sensors")" 6
expect_eq "temperature sensor" "$(sensor_line "CPU Temp")" "temperature 45 Cel"
expect_eq "fan sensor" "$(sensor_line "Fan 1")" "fan 3000 RPM"
expect_eq "voltage sensor" "$(sensor_line "12V Rail")" "voltage 12 V"
expect_eq "current sensor" "$(sensor_line "PSU Current")" "current 8.5 A"
expect_eq "power sensor" "$(sensor_line "PSU Power")" "power 300 W"
expect_eq "sensor without a reading" "$(sensor_line "Inlet Temp")" "temperature null Cel"

# The SEL entry, decoded.
events=$(bmc events | tee "$WORK/events.json")
expect_eq "one SEL entry" "$(jq length <<< "$events")" 1
expect_contains "SEL entry time" "$(jq -r '.[0].created' <<< "$events")" "2020-09-13T12:2"
expect_eq "SEL entry ID" "$(jq -r '.[0].id' <<< "$events")" "1"
expect_eq "SEL entry severity" "$(jq -r '.[0].severity' <<< "$events")" "Critical"
expect_contains "SEL entry message" "$(jq -r '.[0].message' <<< "$events")" \
	"Upper Critical - going high"
expect_contains "SEL entry sensor type" "$(jq -r '.[0].message' <<< "$events")" "Temperature"

# Inventory: Get Device ID, Get System GUID (IPMI sends it byte-reversed) and FRU 0.
inventory=$(bmc inventory | tee "$WORK/inventory.json")
expect_eq "manufacturer from the FRU product area" \
	"$(jq -r .system.manufacturer <<< "$inventory")" "Outpost Labs"
expect_eq "model" "$(jq -r .system.model <<< "$inventory")" "Sim Server"
expect_eq "serial" "$(jq -r .system.serial <<< "$inventory")" "SN-1234"
expect_eq "system GUID" "$(jq -r .system.uuid <<< "$inventory")" \
	"efcdab89-6745-23a1-efcd-ab89674523a1"
expect_eq "inventory power state" "$(jq -r .system.power_state <<< "$inventory")" "on"
# ipmi_sim returns the boot device without the valid and EFI bits it was sent.
expect_eq "boot flags in the inventory" "$(jq -c '.system.boot' <<< "$inventory")" \
	'{"mode":"legacy","override":"none"}'
expect_eq "BMC firmware" "$(jq -c '.firmware' <<< "$inventory")" \
	'[{"id":"bmc","name":"BMC","updateable":false,"version":"2.15"}]'

# IPv6 in brackets, as bmc.h writes it; without brackets it is rejected.
expect_eq "power state over IPv6" \
	"$(BMC_ADDRESS="[::1]" bmc power-state | jq -r .power_state)" "on"
err=$(BMC_ADDRESS="::1" bmc_error power-state)
expect_contains "IPv6 without brackets" "$err" "write an IPv6 address in brackets, as [::1]"

# What IPMI cannot do is reported as unsupported.
err=$(bmc_error media-status)
expect_contains "virtual media is unsupported" "$err" "virtual media over ipmi is not supported"

# Wrong credentials name the user and what to check, and never the password.
err=$(BMC_PASSWORD_OVERRIDE=wrong-secret bmc_error power-state)
expect_contains "wrong password" "$err" "as 'admin' failed: invalid user name or password"
err=$(BMC_USER=nobody bmc_error power-state)
expect_contains "unknown user" "$err" "as 'nobody' failed: invalid user name or password"
BMC_PASSWORD_OVERRIDE=x bmc power-state > /dev/null
check "wrong password exits 1" test $? = 1

# A port where nothing listens fails within the timeout, after retries.
closed_port=$(free_port)
start=$(date +%s%N)
err=$(BMC_PORT=$closed_port BMC_TIMEOUT=2000 bmc_error power-state)
elapsed=$((($(date +%s%N) - start) / 1000000))
expect_contains "closed port times out" "$err" "timed out: no valid answer on UDP port $closed_port"
expect_contains "closed port names the timeout" "$err" "gave up after 2000 ms"
check "closed port gives up within the timeout (${elapsed} ms)" test "$elapsed" -lt 2600
check "closed port waits for the timeout (${elapsed} ms)" test "$elapsed" -ge 1500
expect_contains "closed port retries are logged" "$(cat "$WORK/tool.err")" "retrying in 250 ms"

check "password never printed" test "$(grep -c -- "$IPMI_PASSWORD" "$WORK/tool.err")" = 0

finish
