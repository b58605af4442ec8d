#!/bin/bash
# The IPMI driver against OpenIPMI's BMC simulator, ipmi_sim, on 127.0.0.1 and ::1,
# through $BUILD/tests/bmc_tool. It checks an RMCP+ login, chassis power through a
# control script that keeps the power state in a file, and boot flags, read back with
# ipmitool and from the simulator's message dump. It also checks the sensors and FRU
# data defined below, one SEL entry, wrong credentials and a port where nothing listens.
. "$(dirname "$0")/lib.sh"

BMC_TOOL=${BMC_TOOL:-$(dirname "$OUTPOST")/tests/bmc_tool}
PASSWORD="pw-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PORT=""

for program in ipmi_sim ipmitool; do
	if ! command -v "$program" > /dev/null; then
		echo "FAIL: $TEST_NAME: $program is missing; run tools/deps.sh test" >&2
		exit 1
	fi
done
if [ ! -x "$BMC_TOOL" ]; then
	echo "FAIL: $TEST_NAME: $BMC_TOOL is missing; build it with make" >&2
	exit 1
fi

# The simulator's chassis control program: ipmi_sim runs it as
# "chassis DEVICE get PARAMETER..." and "chassis DEVICE set PARAMETER VALUE...".
# It keeps the power state in $WORK/power and logs every set to $WORK/chassis.log.
cat > "$WORK/chassis" <<EOF
#!/bin/sh
shift
op=\$1
shift
case \$op in
get)
	for parameter in "\$@"; do
		case \$parameter in
		power) echo "power:\$(cat "$WORK/power")" ;;
		boot) echo "boot:\$(cat "$WORK/boot")" ;;
		*) echo "invalid parameter \$parameter"; exit 1 ;;
		esac
	done ;;
set)
	while [ \$# -ge 2 ]; do
		echo "\$1 \$2" >> "$WORK/chassis.log"
		case \$1 in
		power) echo "\$2" > "$WORK/power" ;;
		boot) echo "\$2" > "$WORK/boot" ;;
		esac
		shift 2
	done ;;
*) exit 1 ;;
esac
EOF
chmod +x "$WORK/chassis"
echo 1 > "$WORK/power"
echo none > "$WORK/boot"
: > "$WORK/chassis.log"

# Print the decimal bytes of a FRU type/length field of 8-bit ASCII text.
fru_field() {
	printf '%d ' $((0xc0 | ${#1}))
	printf '%s' "$1" | od -An -tu1 -v | tr -s ' \n' ' '
}

# Print a FRU info area from its fields' bytes: version 1, the length in 8-byte units,
# the fields, the end marker 0xC1, zero padding and the checksum that makes the sum 0.
fru_area() {
	local -a bytes=(1 0 $* 193)
	local sum=0 byte
	while [ $(((${#bytes[@]} + 1) % 8)) -ne 0 ]; do
		bytes+=(0)
	done
	bytes[1]=$(((${#bytes[@]} + 1) / 8))
	for byte in "${bytes[@]}"; do
		sum=$((sum + byte))
	done
	bytes+=($(((256 - sum % 256) % 256)))
	echo "${bytes[*]}"
}

# Print an IPMI 2.0 full sensor record for a threshold sensor owned by the
# BMC at 0x20, reading = M * raw * 10^R. Usage: full_sdr NUMBER TYPE UNIT M R NAME
full_sdr() {
	local number=$1 type=$2 unit=$3 m=$4 r=$5 name=$6
	local -a bytes=(0 0 0x51 0x01 $((43 + ${#name})) 0x20 0 "$number" 0x07 1 0x7f 0x40
		"$type" 0x01 0 0 0 0 0 0 0 "$unit" 0 0 "$m" 0 0 0 0 $(((r & 15) << 4))
		0 0 0 0 255 0 0 0 0 0 0 0 0 0 0 0 0 $((0xc0 | ${#name})))
	printf 'main_sdr_add 0x20'
	printf ' 0x%02x' "${bytes[@]}" $(printf '%s' "$name" | od -An -tu1 -v)
	echo
}

# A sensor the simulator reads, with scanning on so its reading counts as valid.
# Usage: sensor NUMBER TYPE RAW
sensor() {
	echo "sensor_add 0x20 0 $1 $2 0x01"
	echo "sensor_set_value 0x20 0 $1 $3 0"
	echo "sensor_set_event_support 0x20 0 $1 enable scanning per-state" \
		"000000000000000 000000000000000 000000000000000 000000000000000"
}

board=$(fru_area 0 0 0 0 $(fru_field "Board Maker") $(fru_field "Board X") \
	$(fru_field "BRD-1") $(fru_field "P-1") $(fru_field ""))
product=$(fru_area 0 $(fru_field "Outpost Labs") $(fru_field "Sim Server") \
	$(fru_field "OS-1") $(fru_field "1.0") $(fru_field "SN-1234") $(fru_field "") \
	$(fru_field ""))
board_units=$(($(wc -w <<< "$board") / 8))
header="1 0 0 1 $((1 + board_units)) 0 0"
header_sum=0
for byte in $header; do
	header_sum=$((header_sum + byte))
done
fru="$header $(((256 - header_sum % 256) % 256)) $board $product"

# Types: 0x01 temperature, 0x02 voltage, 0x03 current, 0x04 fan, 0x08 power supply.
# Units: 1 degrees C, 4 volts, 5 amperes, 6 watts, 18 RPM. "Inlet Temp" has a record
# but no sensor, so the simulator has no reading for it.
{
	echo "mc_setbmc 0x20"
	echo "mc_add 0x20 0 no-device-sdrs 0x23 2 0x15 0x9f 0x1291 0xf02"
	echo "sel_enable 0x20 64 0x0a"
	sensor 1 0x01 45
	sensor 2 0x04 100
	sensor 3 0x02 240
	sensor 4 0x03 85
	sensor 5 0x08 150
	full_sdr 1 0x01 1 1 0 "CPU Temp"
	full_sdr 2 0x04 18 30 0 "Fan 1"
	full_sdr 3 0x02 4 5 -2 "12V Rail"
	full_sdr 4 0x03 5 1 -1 "PSU Current"
	full_sdr 5 0x08 6 2 0 "PSU Power"
	full_sdr 6 0x01 1 1 0 "Inlet Temp"
	printf 'mc_add_fru_data 0x20 0 %d data' "$(wc -w <<< "$fru")"
	printf ' 0x%02x' $fru
	echo
	echo "mc_enable 0x20"
	# Dump every message, so the boot flags' request bytes can be checked.
	echo "debug msg"
} > "$WORK/sim.emu"

# Print a LAN channel of the simulator's lan.conf. Usage: lan_channel NUMBER ADDRESS
lan_channel() {
	cat <<EOF
  startlan $1
    addr $2 $PORT
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid a123456789abcdefa123456789abcdef
  endlan
EOF
}

# Start the simulator on a free UDP port. Without -n it reads commands from stdin, so
# stdin is a FIFO that stays open; its message dump goes to $WORK/sim.log, line by line.
sim_start() {
	mkfifo "$WORK/sim.in"
	exec 7<> "$WORK/sim.in"
	for _ in 1 2 3 4 5; do
		PORT=$((20000 + RANDOM % 30000))
		# One LAN channel per address: this ipmi_sim takes one address per channel.
		cat > "$WORK/lan.conf" <<EOF
name "outpost-test"
set_working_mc 0x20
$(lan_channel 1 127.0.0.1)
$(lan_channel 2 ::1)
  chassis_control "$WORK/chassis 0x20"
  user 2 true "admin" "$PASSWORD" admin 10 md5
EOF
		mkdir -p "$WORK/sim-state"
		stdbuf -oL ipmi_sim -c "$WORK/lan.conf" -f "$WORK/sim.emu" \
			-s "$WORK/sim-state" <&7 > "$WORK/sim.log" 2>&1 &
		DAEMON_PID=$!
		for _ in $(seq 1 50); do
			if ipmitool -I lanplus -C 3 -N 1 -R 1 -H 127.0.0.1 -p "$PORT" -U admin \
				-P "$PASSWORD" chassis power status > /dev/null 2>&1; then
				return 0
			fi
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			sleep 0.1
		done
		stop_daemon
	done
	echo "FAIL: $TEST_NAME: ipmi_sim did not start; log:" >&2
	cat "$WORK/sim.log" >&2
	exit 1
}

# Run bmc_tool against the simulator; its stderr is appended to $WORK/tool.err.
bmc() {
	BMC_PASSWORD=${BMC_PASSWORD_OVERRIDE:-$PASSWORD} "$BMC_TOOL" --protocol ipmi \
		--address "${BMC_ADDRESS:-127.0.0.1}" --port "${BMC_PORT:-$PORT}" \
		--user "${BMC_USER:-admin}" --timeout "${BMC_TIMEOUT:-5000}" "$@" 2>> "$WORK/tool.err"
}

# Run bmc_tool, expecting a failure, and print its error line.
bmc_error() {
	bmc "$@" > /dev/null
	tail -n 1 "$WORK/tool.err"
}

ipmitool_sim() {
	ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$PORT" -U admin -P "$PASSWORD" "$@"
}

# The data bytes of the last Set System Boot Options request in the message dump,
# whose lines start with a carriage return.
last_boot_request() {
	tr -d '\r' < "$WORK/sim.log" | grep -A2 "netfn=0x0 cmd=0x8 " | grep -E '^ *05 ' |
		tail -n 1 | sed 's/^ *//; s/ *$//'
}

# Wait up to 5 s for a line in the chassis control log. Usage: wait_chassis LINE
wait_chassis() {
	for _ in $(seq 1 50); do
		grep -qx "$1" "$WORK/chassis.log" && return 0
		sleep 0.1
	done
	return 1
}

sim_start

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
expect_eq "power off reaches the chassis" "$(tail -n 1 "$WORK/chassis.log")" "power 0"
expect_eq "power state after off" "$(bmc power-state | jq -r .power_state)" "off"
expect_eq "power on reply" "$(bmc power on | jq -r .power)" "on"
expect_eq "power on reaches the chassis" "$(tail -n 1 "$WORK/chassis.log")" "power 1"
expect_eq "power state after on" "$(bmc power-state | jq -r .power_state)" "on"
bmc power reset > /dev/null
expect_eq "reset is a hard reset" "$(tail -n 1 "$WORK/chassis.log")" "reset 1"
bmc power shutdown > /dev/null
expect_eq "shutdown is a soft shutdown" "$(tail -n 1 "$WORK/chassis.log")" "shutdown 1"
: > "$WORK/chassis.log"
bmc power cycle > /dev/null
# ipmi_sim powers off at once and on again one second later.
check "cycle powers off, then on" wait_chassis "power 1"
expect_eq "cycle sequence" "$(tr '\n' ' ' < "$WORK/chassis.log")" "power 0 power 1 "
: > "$WORK/chassis.log"
bmc power off > /dev/null
bmc power cycle > /dev/null
expect_eq "cycle of an off server powers it on" "$(tr '\n' ' ' < "$WORK/chassis.log")" \
	"power 0 power 1 "

# Boot once: request byte 1 is valid (0x80), not persistent, EFI (0x20) for uefi;
# byte 2 is the device << 2: PXE 1, disk 2, CD 5. ipmi_sim keeps only the device.
expect_eq "boot pxe uefi reply" "$(bmc boot pxe uefi | jq -r '.boot + " " + .mode')" "pxe uefi"
expect_eq "boot pxe uefi request" "$(last_boot_request)" "05 a0 04 00 00 00"
expect_eq "boot pxe reaches the chassis" "$(tail -n 1 "$WORK/chassis.log")" "boot pxe"
expect_contains "ipmitool reads PXE back" "$(ipmitool_sim chassis bootparam get 5)" \
	"Boot Device Selector : Force PXE"
bmc boot disk legacy > /dev/null
expect_eq "boot disk legacy request" "$(last_boot_request)" "05 80 08 00 00 00"
expect_eq "boot disk reaches the chassis" "$(tail -n 1 "$WORK/chassis.log")" "boot default"
expect_contains "ipmitool reads the disk back" "$(ipmitool_sim chassis bootparam get 5)" \
	"Force Boot from default Hard-Drive"
# keep: ipmi_sim reports the legacy BIOS boot type, so the EFI bit stays clear.
bmc boot cd > /dev/null
expect_eq "boot cd keep request" "$(last_boot_request)" "05 80 14 00 00 00"
expect_eq "boot cd reaches the chassis" "$(tail -n 1 "$WORK/chassis.log")" "boot cdrom"
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
start=$(date +%s%N)
err=$(BMC_PORT=$((PORT + 1)) BMC_TIMEOUT=2000 bmc_error power-state)
elapsed=$((($(date +%s%N) - start) / 1000000))
expect_contains "closed port times out" "$err" "timed out: no valid answer on UDP port $((PORT + 1))"
expect_contains "closed port names the timeout" "$err" "gave up after 2000 ms"
check "closed port gives up within the timeout (${elapsed} ms)" test "$elapsed" -lt 2600
check "closed port waits for the timeout (${elapsed} ms)" test "$elapsed" -ge 1500
expect_contains "closed port retries are logged" "$(cat "$WORK/tool.err")" "retrying in 250 ms"

check "password never printed" test "$(grep -c -- "$PASSWORD" "$WORK/tool.err")" = 0

finish
