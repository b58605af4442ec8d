#!/bin/bash
# The QEMU lab's BMCs. One small BIOS server gets a Redfish BMC (outpost-redfish-sim,
# which owns its QEMU) and an IPMI BMC (ipmi_sim, attached to QEMU through
# ipmi-bmc-extern). bmc_tool drives both from the appliance namespace, as Outpost does.
# Power on, off, reset and cycle through either BMC must act on the one QEMU process,
# and each BMC must read the power state the other one left. Sensors, inventory and
# a PXE boot override must read back as set. Then `server stop/start/remove` and
# `down` must leave no BMC, QEMU process or namespace behind. The guest never gets
# past its firmware and the network boot, which is enough for power tests.
#
# Usage, as root: OUTPOST=$PWD/build/outpost tests/e2e/test_lab_bmc.sh
# bmc_tool ($BUILD/tests/bmc_tool) and outpost-redfish-sim must be built beside
# OUTPOST (make all $BUILD/tests/bmc_tool).
#
# Environment: WAIT_TIMEOUT (seconds for each power change to show, default 60). A
# non-empty KEEP_WORK keeps the test's folder with the lab's logs.

# shellcheck source=SCRIPTDIR/../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

WAIT_TIMEOUT=${WAIT_TIMEOUT:-60}
BMC_TOOL=${BMC_TOOL:-$(dirname "$OUTPOST")/tests/bmc_tool}
export LAB_NAME="lab-bmc-$$"
NS_APP="outpost-$LAB_NAME-app"
NS_NET="outpost-$LAB_NAME-net"
NAME=tiny1
SERVERS=("$NAME bios")

# shellcheck source=SCRIPTDIR/lab_lib.sh
. "$(dirname "$0")/lab_lib.sh"

if [ ! -x "$BMC_TOOL" ]; then
	echo "FAIL: $TEST_NAME: $BMC_TOOL is missing; build it with make" >&2
	exit 1
fi

# Poll a command every 0.2 s until it succeeds, for at most WAIT_TIMEOUT seconds.
# Usage: wait_for COMMAND...
wait_for() {
	local deadline=$((SECONDS + WAIT_TIMEOUT))
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# Print the PID of the server's QEMU, found by its serial log on its command line, or
# nothing. This does not use the lab's own bookkeeping.
qemu_pid() {
	pgrep -f -- "-serial file:$SERIAL_LOG" | head -n 1
}

qemu_running() {
	[ -n "$(qemu_pid)" ]
}

qemu_gone() {
	[ -z "$(qemu_pid)" ]
}

# Succeed when a QEMU other than PID runs.
qemu_replaced() {
	local pid
	pid=$(qemu_pid)
	[ -n "$pid" ] && [ "$pid" != "$1" ]
}

serial_size() {
	stat -c %s "$SERIAL_LOG" 2>/dev/null || echo 0
}

serial_grew_past() {
	[ "$(serial_size)" -gt "$1" ]
}

# How often SeaBIOS has started since QEMU started: once per boot. QEMU empties the
# serial log when it starts.
bios_boots() {
	grep -ac 'SeaBIOS (version' "$SERIAL_LOG" 2>/dev/null || echo 0
}

bios_boots_reach() {
	[ "$(bios_boots)" -ge "$1" ]
}

# bmc_tool in the appliance namespace; BMC_PASSWORD reaches it through the environment.
# Its stderr is appended to $WORK/tool.err. Usage: redfish|ipmi COMMAND [ARG...]
redfish() {
	BMC_PASSWORD=${PASSWORD_OVERRIDE:-$PASSWORD} ip netns exec "$NS_APP" "$BMC_TOOL" \
		--protocol redfish --address "$ADDRESS" --user admin \
		--fingerprint "${FINGERPRINT_OVERRIDE:-$FINGERPRINT}" --timeout 10000 "$@" \
		2>> "$WORK/tool.err"
}

ipmi() {
	BMC_PASSWORD=${PASSWORD_OVERRIDE:-$PASSWORD} ip netns exec "$NS_APP" "$BMC_TOOL" \
		--protocol ipmi --address "$ADDRESS" --port 623 --user admin --timeout 10000 "$@" \
		2>> "$WORK/tool.err"
}

redfish_power_is() {
	[ "$(redfish power-state | jq -r .power_state)" = "$1" ]
}

ipmi_power_is() {
	[ "$(ipmi power-state | jq -r .power_state)" = "$1" ]
}

# curl from the appliance namespace to the Redfish BMC, checked against its certificate;
# the credentials reach curl on stdin. The body goes to $WORK/body and the status to
# stdout. Usage: redfish_curl METHOD PATH [curl args...]
redfish_curl() {
	local method=$1 path=$2
	shift 2
	printf 'user = "admin:%s"\n' "$PASSWORD" |
		ip netns exec "$NS_APP" curl -sS --noproxy '*' -m 30 -K - --cacert "$CERTIFICATE" \
			-o "$WORK/body" -w '%{http_code}' -X "$method" "https://$ADDRESS$path" "$@"
}

# Succeed when PID exists and is not a zombie. The BMCs outlive the qemu/lab command
# that started them, so whichever process adopts them reaps them, maybe late.
process_alive() {
	local state
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d ' ' -f 1)
	[ -n "$state" ] && [ "$state" != Z ]
}

process_gone() {
	! process_alive "$1"
}

parent_of() {
	ps -o ppid= -p "$1" | tr -d ' '
}

in_namespace() {
	ip netns identify "$1" 2>/dev/null | tr ' ' '\n' | grep -qx -- "$2"
}

mode_of() {
	stat -c %a "$1" 2>/dev/null
}

# --- up, add, the BMC record -----------------------------------------------------------
"$LAB" up > "$WORK/up.log" 2>&1
status=$?
check "qemu/lab up exits 0 (see $WORK/up.log)" test "$status" -eq 0
if [ "$status" -ne 0 ]; then
	cat "$WORK/up.log" >&2
	finish
	exit 1
fi
"$LAB" server add "$NAME" --firmware bios --memory 256 --disk-size 1 > "$WORK/add.log" 2>&1
check "server add $NAME exits 0" test $? -eq 0
expect_contains "server add names the BMC address" "$(cat "$WORK/add.log")" \
	"BMCs running on 10.79.0.2"

SERIAL_LOG="$LAB_DIR/$NAME.serial.log"
bmc=$("$LAB" server bmc "$NAME" --json)
ADDRESS=$(jq -r .address <<< "$bmc")
FINGERPRINT=$(jq -r .fingerprint <<< "$bmc")
CERTIFICATE=$(jq -r .certificate <<< "$bmc")
PASSWORD_FILE=$(jq -r .password_file <<< "$bmc")
PASSWORD=$(head -n 1 "$PASSWORD_FILE")
REDFISH_PID=$(jq -r .redfish.pid <<< "$bmc")
IPMI_PID=$(jq -r .ipmi.pid <<< "$bmc")
UUID=$(sed -n 's/^uuid=//p' "$LAB_DIR/servers/$NAME/server.env")

expect_eq "BMC address of server 1" "$ADDRESS" 10.79.0.2
expect_eq "BMC user" "$(jq -r .user <<< "$bmc")" admin
expect_eq "fingerprint is 64 lower-case hex digits" \
	"$(grep -cE '^[0-9a-f]{64}$' <<< "$FINGERPRINT")" 1
expect_eq "password is 16 hex digits" "$(grep -cE '^[0-9a-f]{16}$' <<< "$PASSWORD")" 1
expect_eq "password file mode" "$(mode_of "$PASSWORD_FILE")" 600
expect_eq "certificate mode" "$(mode_of "$CERTIFICATE")" 600
expect_eq "key mode" "$(mode_of "$(dirname "$CERTIFICATE")/key.pem")" 600
expect_eq "ipmi_sim configuration mode" "$(mode_of "$(dirname "$CERTIFICATE")/lan.conf")" 600
expect_contains "certificate names the BMC address" \
	"$(openssl x509 -in "$CERTIFICATE" -noout -ext subjectAltName)" "IP Address:10.79.0.2"
check "Redfish emulator runs in $NS_NET" in_namespace "$REDFISH_PID" "$NS_NET"
check "ipmi_sim runs in $NS_NET" in_namespace "$IPMI_PID" "$NS_NET"
expect_eq "BMC address on no host interface" \
	"$(ip -o addr show | grep -cF " $ADDRESS/")" 0
expect_eq "BMC address on the lab bridge" \
	"$(ip -n "$NS_NET" -o -4 addr show dev lab-br0 | grep -cF " $ADDRESS/24 ")" 1
expect_eq "server text shows the fingerprint" \
	"$("$LAB" server bmc "$NAME" | sed -n 's/^fingerprint *//p')" "$FINGERPRINT"

# --- power through both BMCs ---------------------------------------------------------------
expect_eq "Redfish power state before power on" "$(redfish power-state | jq -r .power_state)" off
expect_eq "IPMI power state before power on" "$(ipmi power-state | jq -r .power_state)" off
check "no QEMU before power on" qemu_gone

expect_eq "Redfish power on" "$(redfish power on | jq -r .power)" on
check "QEMU runs after a Redfish power on" wait_for qemu_running
pid=$(qemu_pid)
expect_eq "QEMU is the Redfish emulator's child" "$(parent_of "$pid")" "$REDFISH_PID"
check "QEMU runs in $NS_NET" in_namespace "$pid" "$NS_NET"
expect_contains "QEMU has the IPMI BMC attached" "$(tr '\0' ' ' < "/proc/$pid/cmdline")" \
	"-device ipmi-bmc-extern,id=bmc0,chardev=ipmi0"
check "serial log starts" wait_for serial_grew_past 0
size=$(serial_size)
check "serial log grows past $size bytes" wait_for serial_grew_past "$size"
check "IPMI power state reads on" wait_for ipmi_power_is on
expect_eq "lab lists the server running" \
	"$("$LAB" server list | awk -v name="$NAME" '$1 == name {print $4, $5}')" "running $pid"

# A reset keeps the QEMU process and starts the firmware again.
check "firmware booted once" wait_for bios_boots_reach 1
expect_eq "firmware boots before the Redfish reset" "$(bios_boots)" 1
expect_eq "Redfish reset" "$(redfish power reset | jq -r .power)" reset
check "firmware boots again after the Redfish reset" wait_for bios_boots_reach 2
expect_eq "Redfish reset keeps QEMU" "$(qemu_pid)" "$pid"
expect_eq "IPMI reset" "$(ipmi power reset | jq -r .power)" reset
check "firmware boots again after the IPMI reset" wait_for bios_boots_reach 3
expect_eq "IPMI reset keeps QEMU" "$(qemu_pid)" "$pid"

expect_eq "IPMI power off" "$(ipmi power off | jq -r .power)" off
check "QEMU exits after an IPMI power off" wait_for qemu_gone
check "Redfish reads off after the IPMI power off" wait_for redfish_power_is off
expect_eq "IPMI power state after power off" "$(ipmi power-state | jq -r .power_state)" off

expect_eq "IPMI power on" "$(ipmi power on | jq -r .power)" on
check "QEMU runs after an IPMI power on" wait_for qemu_running
pid=$(qemu_pid)
expect_eq "IPMI power on starts QEMU as the Redfish emulator's child" \
	"$(parent_of "$pid")" "$REDFISH_PID"
check "Redfish reads on after the IPMI power on" wait_for redfish_power_is on
check "IPMI reads on after its power on" wait_for ipmi_power_is on

# ipmi_sim powers off, then on again once QEMU has gone: a new QEMU process.
expect_eq "IPMI power cycle" "$(ipmi power cycle | jq -r .power)" cycle
check "IPMI power cycle starts a new QEMU" wait_for qemu_replaced "$pid"
pid=$(qemu_pid)
check "Redfish reads on after the IPMI power cycle" wait_for redfish_power_is on

# --- sensors and inventory ---------------------------------------------------------------
sensors=$(redfish sensors)
sensor_line() {
	jq -r --arg name "$1" '.[] | select(.name == $name) | "\(.kind) \(.value) \(.unit)"' \
		<<< "$sensors"
}
expect_eq "Redfish sensor count" "$(jq length <<< "$sensors")" 9
expect_eq "CPU temperature" "$(sensor_line "CPU #1 Temperature")" "temperature 40 Cel"
expect_eq "CPU fan" "$(sensor_line "CPU Fan #1")" "fan 3600 RPM"
expect_eq "input voltage" "$(sensor_line "Power Supply #1 Input Voltage")" "voltage 230 V"
expect_eq "input current" "$(sensor_line "Power Supply #1 Input Current")" "current 0.8 A"
expect_eq "total power" "$(sensor_line "Total Power")" "power 180 W"
# The emulator lets a test set a reading; the client must read the new value.
expect_eq "set the CPU temperature" "$(redfish_curl PATCH /redfish/v1/Chassis/1/Sensors/CPU1Temp \
	-H 'Content-Type: application/json' -d '{"Reading": 71.5}')" 200
sensors=$(redfish sensors)
expect_eq "CPU temperature after the change" "$(sensor_line "CPU #1 Temperature")" \
	"temperature 71.5 Cel"

inventory=$(redfish inventory)
expect_eq "Redfish system UUID is the server's" "$(jq -r .system.uuid <<< "$inventory")" "$UUID"
expect_eq "Redfish serial" "$(jq -r .system.serial <<< "$inventory")" "lab-$NAME"
expect_eq "Redfish manufacturer" "$(jq -r .system.manufacturer <<< "$inventory")" QEMU
expect_eq "Redfish model" "$(jq -r .system.model <<< "$inventory")" \
	"Standard PC (i440FX + PIIX, 1996)"
expect_eq "Redfish firmware" "$(jq -r '[.firmware[].id] | join(",")' <<< "$inventory")" BIOS,BMC
ipmi_inventory=$(ipmi inventory)
expect_eq "IPMI system GUID is the server's UUID" \
	"$(jq -r .system.uuid <<< "$ipmi_inventory")" "$UUID"
expect_eq "IPMI inventory power state" "$(jq -r .system.power_state <<< "$ipmi_inventory")" on

# --- one-time PXE boot override ------------------------------------------------------------
expect_eq "boot override to PXE" "$(redfish boot pxe | jq -r .boot)" pxe
expect_eq "boot override read back by the driver" \
	"$(redfish inventory | jq -c '.system.boot | [.enabled, .override]')" '["Once","Pxe"]'
expect_eq "read the system" "$(redfish_curl GET /redfish/v1/Systems/1)" 200
expect_eq "boot target read back" "$(jq -r .Boot.BootSourceOverrideTarget "$WORK/body")" Pxe
expect_eq "boot enabled read back" "$(jq -r .Boot.BootSourceOverrideEnabled "$WORK/body")" Once
# A reset with the override pending starts QEMU again with the NIC first, once.
redfish power reset > /dev/null
check "reset with the override starts a new QEMU" wait_for qemu_replaced "$pid"
pid=$(qemu_pid)
expect_contains "new QEMU boots the network once" "$(tr '\0' ' ' < "/proc/$pid/cmdline")" \
	"-boot once=n"
expect_eq "one-time override cleared after the reset" \
	"$(redfish inventory | jq -r .system.boot.enabled)" Disabled

# --- credentials ---------------------------------------------------------------------------
PASSWORD_OVERRIDE=wrong-password redfish power-state > /dev/null
check "Redfish rejects a wrong password" test $? -eq 1
PASSWORD_OVERRIDE=wrong-password ipmi power-state > /dev/null
check "IPMI rejects a wrong password" test $? -eq 1
FINGERPRINT_OVERRIDE=$(printf '%064d' 0) redfish power-state > /dev/null
check "Redfish with a wrong pinned fingerprint fails" test $? -eq 1
check "password never printed by bmc_tool" test "$(grep -c -- "$PASSWORD" "$WORK/tool.err")" = 0

# --- the lab's own commands ----------------------------------------------------------------
"$LAB" server stop "$NAME" > /dev/null
check "server stop exits 0" test $? -eq 0
check "QEMU gone after server stop" qemu_gone
expect_eq "Redfish reads off after server stop" "$(redfish power-state | jq -r .power_state)" off
"$LAB" server start "$NAME" > /dev/null
check "server start exits 0" test $? -eq 0
check "QEMU runs after server start" qemu_running
expect_eq "server start goes through the Redfish emulator" "$(parent_of "$(qemu_pid)")" \
	"$REDFISH_PID"
check "IPMI reads on after server start" wait_for ipmi_power_is on

# down stops the BMCs with the lab; the next up starts them again, powered off.
"$LAB" down > "$WORK/down.log" 2>&1
check "qemu/lab down with a server exits 0" test $? -eq 0
check "QEMU gone after down" qemu_gone
check "Redfish emulator gone after down" process_gone "$REDFISH_PID"
check "ipmi_sim gone after down" process_gone "$IPMI_PID"
"$LAB" up > "$WORK/up2.log" 2>&1
check "second qemu/lab up exits 0 (see $WORK/up2.log)" test $? -eq 0
bmc=$("$LAB" server bmc "$NAME" --json)
REDFISH_PID=$(jq -r .redfish.pid <<< "$bmc")
IPMI_PID=$(jq -r .ipmi.pid <<< "$bmc")
check "up starts the Redfish emulator again" process_alive "$REDFISH_PID"
check "up starts ipmi_sim again" process_alive "$IPMI_PID"
expect_eq "fingerprint kept across down and up" "$(jq -r .fingerprint <<< "$bmc")" \
	"$FINGERPRINT"
expect_eq "Redfish power state after up" "$(redfish power-state | jq -r .power_state)" off
expect_eq "IPMI power on after up" "$(ipmi power on | jq -r .power)" on
check "QEMU runs after an IPMI power on after up" wait_for qemu_running

"$LAB" server remove "$NAME" > /dev/null
check "server remove exits 0" test $? -eq 0
check "QEMU gone after server remove" qemu_gone
check "Redfish emulator gone after server remove" process_gone "$REDFISH_PID"
check "ipmi_sim gone after server remove" process_gone "$IPMI_PID"
expect_eq "BMC address removed from the lab bridge" \
	"$(ip -n "$NS_NET" -o -4 addr show dev lab-br0 | grep -cF " $ADDRESS/")" 0

"$LAB" down > "$WORK/down.log" 2>&1
check "qemu/lab down exits 0" test $? -eq 0
netns=$(ip netns list | awk '{print $1}')
check "namespace $NS_NET deleted" test -z "$(grep -x "$NS_NET" <<< "$netns")"
check "namespace $NS_APP deleted" test -z "$(grep -x "$NS_APP" <<< "$netns")"
# Every process the lab starts names LAB_DIR on its command line.
expect_eq "processes left after down" "$(pgrep -af -- "$LAB_DIR" || true)" ""

finish
