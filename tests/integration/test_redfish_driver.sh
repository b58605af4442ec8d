#!/bin/bash
# Outpost's Redfish driver (src/bmc, through bmc_tool) against the BMC emulator,
# outpost-redfish-sim, in both of its layouts: virtual media under the System and
# under the Manager. Unlike the read-only DMTF mockup, the emulator keeps state, so
# the driver's writes are read back from it. The checks cover the boot override, an
# inserted and ejected image, a firmware update task, sensor values a test sets, and
# the session the driver opens and deletes. No QEMU guest is started here, since
# test_redfish_sim.sh covers power.
. "$(dirname "$0")/lib.sh"

SIM=$(dirname "$OUTPOST")/outpost-redfish-sim
TOOL=$(dirname "$OUTPOST")/tests/bmc_tool
export BMC_PASSWORD="pw-$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')"
for program in "$SIM" "$TOOL"; do
	[ -x "$program" ] || { echo "FAIL: $TEST_NAME: $program is missing; run make" >&2; exit 1; }
done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 2> /dev/null
printf '%s\n' "$BMC_PASSWORD" > "$WORK/password"
printf '%s\n' -machine pc -nodefaults -display none > "$WORK/qemu.args"
mkdir -p "$WORK/iso"
echo "outpost" > "$WORK/iso/hello.txt"
genisoimage -quiet -o "$WORK/boot.iso" "$WORK/iso"

# Start the emulator with PROFILE and a fresh state; sets PORT and SIM_LOG.
sim_start() {
	stop_daemon
	rm -rf "$WORK/state"
	SIM_LOG="$WORK/sim-$1.log"
	"$SIM" --listen 127.0.0.1:0 --cert "$WORK/cert.pem" --key "$WORK/key.pem" \
		--user admin --password-file "$WORK/password" --qemu-args "$WORK/qemu.args" \
		--qmp "$WORK/qmp.sock" --state-dir "$WORK/state" --profile "$1" 2> "$SIM_LOG" &
	DAEMON_PID=$!
	for _ in $(seq 1 100); do
		PORT=$(sed -n 's/.*ready port=\([0-9]*\).*/\1/p' "$SIM_LOG")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	echo "FAIL: $TEST_NAME: the emulator did not start; see $SIM_LOG" >&2
	exit 1
}

tool() {
	"$TOOL" --address 127.0.0.1 --port "$PORT" --user admin --ca "$WORK/cert.pem" \
		--timeout 15000 "$@" 2>> "$WORK/tool.log"
}

for profile in generic vm-under-manager; do
	sim_start "$profile"

	expect_eq "$profile: power state" "$(tool power-state | jq -r .power_state)" "off"
	check "$profile: session deleted at close" grep -q \
		'method=DELETE path="/redfish/v1/SessionService/Sessions/1" status=204' "$SIM_LOG"

	tool boot pxe uefi > /dev/null
	inv=$(tool inventory)
	expect_eq "$profile: boot override read back" \
		"$(jq -r '"\(.system.boot.override) \(.system.boot.enabled) \(.system.boot.mode)"' <<< "$inv")" \
		"Pxe Once UEFI"
	expect_eq "$profile: firmware items" "$(jq -r '[.firmware[].id] | join(" ")' <<< "$inv")" "BIOS BMC"

	# Sensors come in pages of four; a value set through the emulator reads back.
	curl -sS --cacert "$WORK/cert.pem" -u "admin:$BMC_PASSWORD" -X PATCH \
		-H 'Content-Type: application/json' -d '{"Reading": 71.5}' -o /dev/null \
		"https://127.0.0.1:$PORT/redfish/v1/Chassis/1/Sensors/CPU1Temp"
	sensors=$(tool sensors)
	expect_eq "$profile: sensor set by the test" \
		"$(jq -r '.[] | select(.name == "CPU #1 Temperature") | "\(.value) \(.unit)"' <<< "$sensors")" \
		"71.5 Cel"
	check "$profile: more sensors than one page" test "$(jq length <<< "$sensors")" -gt 4

	# Virtual media: the layout decides where the driver finds the CD.
	expected_media=/redfish/v1/Systems/1/VirtualMedia/CD1
	[ "$profile" = generic ] || expected_media=/redfish/v1/Managers/BMC/VirtualMedia/CD1
	tool media-insert "file://$WORK/boot.iso" > /dev/null
	media=$(tool media-status)
	expect_eq "$profile: media path" "$(jq -r .path <<< "$media")" "$expected_media"
	expect_eq "$profile: media inserted" "$(jq -r '"\(.inserted) \(.image)"' <<< "$media")" \
		"true file://$WORK/boot.iso"
	tool media-eject > /dev/null
	expect_eq "$profile: media ejected" "$(tool media-status | jq -r .inserted)" "false"
	check "$profile: missing image refused" sh -c "! '$TOOL' --address 127.0.0.1 --port $PORT \
		--user admin --ca '$WORK/cert.pem' media-insert 'file://$WORK/missing.iso' \
		2> '$WORK/missing.err'"
	expect_contains "$profile: missing image named" "$(cat "$WORK/missing.err")" \
		"must be a readable regular file"

	# SimpleUpdate starts a task; the driver waits for it, then the version has moved.
	before=$(tool inventory | jq -r '.firmware[] | select(.id == "BIOS") | .version')
	tool firmware-update "http://127.0.0.1/bios.bin" > /dev/null
	expect_eq "$profile: firmware task finished" \
		"$(tool inventory | jq -r '.firmware[] | select(.id == "BIOS") | .version')" \
		"1.0.$((${before##*.} + 1))"
done

# With every session taken, the driver still works through basic authentication.
for _ in 1 2 3 4; do
	curl -sS --cacert "$WORK/cert.pem" -o /dev/null -H 'Content-Type: application/json' \
		-d "{\"UserName\": \"admin\", \"Password\": \"$BMC_PASSWORD\"}" \
		"https://127.0.0.1:$PORT/redfish/v1/SessionService/Sessions"
done
expect_eq "session limit: basic authentication" "$(tool power-state | jq -r .power_state)" "off"
expect_contains "session limit: fallback logged" "$(cat "$WORK/tool.log")" "using basic authentication"
check "password in no log" sh -c "! grep -q '$BMC_PASSWORD' '$WORK/tool.log' '$WORK'/sim-*.log"

finish
