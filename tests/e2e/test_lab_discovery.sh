#!/bin/bash
# Discovery in the QEMU lab. One BIOS, one UEFI PXE and one UEFI HTTP boot server
# netboot from the appliance, which runs Kea, tftpd-hpa, PowerDNS and outpost serve in
# a network namespace. After iPXE fetched /boot/ipxe, each server must be in the
# daemon's store as a discovered machine with its MAC and platform. Each must also
# hold a Kea lease from the discovery pool. Then `qemu/lab down` must leave no
# namespace and no process behind.
#
# Usage, as root: OUTPOST=$PWD/build/outpost tests/e2e/test_lab_discovery.sh
#
# Environment: DISCOVERY_TIMEOUT (seconds each server may take to reach the discovery
# script, default 180, enough for TCG). A non-empty KEEP_WORK keeps the test's folder
# with the lab's logs, as in the integration tests.

# shellcheck source=SCRIPTDIR/../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

DISCOVERY_TIMEOUT="${DISCOVERY_TIMEOUT:-180}"
export LAB_NAME="lab-e2e-$$"
APPLIANCE=10.78.0.1

# name, firmware, MAC, expected iPXE ${platform} and ${buildarch}
SERVERS=(
	"bios1 bios 52:54:00:78:e2:01 pcbios i386"
	"uefi1 uefi 52:54:00:78:e2:02 efi x86_64"
	"http1 uefi-http 52:54:00:78:e2:03 efi x86_64"
)

# shellcheck source=SCRIPTDIR/lab_lib.sh
. "$(dirname "$0")/lab_lib.sh"

# Milliseconds since the epoch.
now_ms() {
	echo $((${EPOCHREALTIME/./} / 1000))
}

seconds_since() {
	local ms=$(($(now_ms) - $1))
	printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# Succeed when dotted-quad ADDRESS lies in 10.78.0.100-10.78.0.199, the lab's pool.
in_pool() {
	local last=${1##*.}
	case "$1" in
	10.78.0.*) ;;
	*) return 1 ;;
	esac
	[[ "$last" =~ ^[0-9]+$ ]] && [ "$last" -ge 100 ] && [ "$last" -le 199 ]
}

# Print MAC's lease address as Kea's control socket returns it, or nothing.
kea_lease_ip() {
	printf '{"command": "lease4-get-by-hw-address", "arguments": {"hw-address": "%s"}}' "$1" |
		timeout 10 socat -t 10 - "UNIX-CONNECT:$LAB_DIR/kea.sock" 2>/dev/null |
		jq -r 'select(.result == 0) | .arguments.leases[0]["ip-address"] // empty'
}

console_text() {
	"$LAB" console "$1" --print 2>/dev/null
}

# --- up ---------------------------------------------------------------------------
started=$(now_ms)
"$LAB" up > "$WORK/up.log" 2>&1
status=$?
up_seconds=$(seconds_since "$started")
check "qemu/lab up exits 0 (see $LAB_DIR)" test "$status" -eq 0
if [ "$status" -ne 0 ]; then
	cat "$WORK/up.log" >&2
	finish
	exit 1
fi

for entry in "${SERVERS[@]}"; do
	read -r name firmware mac _ <<< "$entry"
	"$LAB" server add "$name" --firmware "$firmware" --mac "$mac" > /dev/null
	check "server add $name" test $? -eq 0
done

declare -A start_ms lease_seconds discovery_seconds
for entry in "${SERVERS[@]}"; do
	read -r name _ <<< "$entry"
	start_ms[$name]=$(now_ms)
	"$LAB" server start "$name" > /dev/null
	check "server start $name" test $? -eq 0
done

# --- wait for every server to reach the discovery script ---------------------------
# Discovery is reached when the console shows the discovery script's first line, which
# iPXE prints only after it fetched /boot/ipxe. The lease is seen in the API first.
deadline=$((SECONDS + DISCOVERY_TIMEOUT))
pending=3
while [ "$pending" -gt 0 ] && [ "$SECONDS" -lt "$deadline" ]; do
	pending=0
	for entry in "${SERVERS[@]}"; do
		read -r name _ mac _ <<< "$entry"
		if [ -z "${lease_seconds[$name]:-}" ] &&
			[ "$(api_unix GET "/api/v1/machines?mac=$mac" 2>/dev/null |
				jq -r '.items[0].lease_ip // empty')" != "" ]; then
			lease_seconds[$name]=$(seconds_since "${start_ms[$name]}")
		fi
		if [ -z "${discovery_seconds[$name]:-}" ]; then
			if console_text "$name" | grep -aq "Outpost: machine [0-9]* ($mac) is registered as discovered"; then
				discovery_seconds[$name]=$(seconds_since "${start_ms[$name]}")
			else
				pending=$((pending + 1))
			fi
		fi
	done
	[ "$pending" -gt 0 ] && sleep 1
done

# --- check each server --------------------------------------------------------------
for entry in "${SERVERS[@]}"; do
	read -r name firmware mac platform arch <<< "$entry"
	console=$(console_text "$name")
	check "$name ($firmware) fetched /boot/ipxe within ${DISCOVERY_TIMEOUT}s" \
		test -n "${discovery_seconds[$name]:-}"

	machine=$(api_unix GET "/api/v1/machines?mac=$mac" | jq -c '.items[0] // {}')
	expect_eq "$name machine count for its MAC" \
		"$(api_unix GET "/api/v1/machines?mac=$mac" | jq '.items | length')" 1
	expect_eq "$name MAC" "$(jq -r '.macs[0] // empty' <<< "$machine")" "$mac"
	expect_eq "$name state" "$(jq -r '.state // empty' <<< "$machine")" discovered
	expect_eq "$name platform" "$(jq -r '.platform // empty' <<< "$machine")" "$platform"
	expect_eq "$name arch" "$(jq -r '.arch // empty' <<< "$machine")" "$arch"

	lease_ip=$(jq -r '.lease_ip // empty' <<< "$machine")
	check "$name lease_ip '$lease_ip' in the pool 10.78.0.100-10.78.0.199" in_pool "$lease_ip"
	expect_eq "$name lease in Kea" "$(kea_lease_ip "$mac")" "$lease_ip"
	expect_contains "$name iPXE got its address" "$console" "net0: $lease_ip/255.255.255.0"
	expect_contains "$name iPXE chained to start.ipxe" "$console" \
		"Filename: http://$APPLIANCE:8080/boot/start.ipxe"

	# How each firmware reached iPXE.
	case "$firmware" in
	bios)
		expect_contains "$name SeaBIOS ran the NIC's iPXE ROM" "$console" \
			"iPXE (PCI 00:02.0) starting execution"
		;;
	uefi)
		expect_contains "$name OVMF PXE over IPv4" "$console" ">>Start PXE over IPv4"
		expect_contains "$name OVMF got snponly.efi" "$console" "NBP filename is snponly.efi"
		expect_contains "$name tftpd served snponly.efi" \
			"$(sed 's/<[0-9]*>/\n/g' "$LAB_DIR/tftpd/tftpd.syslog")" \
			"RRQ from $lease_ip filename snponly.efi"
		;;
	uefi-http)
		expect_contains "$name OVMF HTTP boot over IPv4" "$console" ">>Start HTTP Boot over IPv4"
		expect_contains "$name OVMF fetched ipxe.efi" "$console" \
			"URI: http://$APPLIANCE:8080/ipxe/ipxe.efi"
		;;
	esac
done

# --- down ---------------------------------------------------------------------------
"$LAB" down > "$WORK/down.log" 2>&1
check "qemu/lab down exits 0" test $? -eq 0
netns=$(ip netns list | awk '{print $1}')
check "namespace outpost-$LAB_NAME-net deleted" \
	test -z "$(grep -x "outpost-$LAB_NAME-net" <<< "$netns")"
check "namespace outpost-$LAB_NAME-app deleted" \
	test -z "$(grep -x "outpost-$LAB_NAME-app" <<< "$netns")"
# Every process the lab starts names LAB_DIR on its command line. Exited processes
# not reaped yet have an empty command line and are not counted.
leftover=$(pgrep -af -- "$LAB_DIR" || true)
expect_eq "processes left after down" "$leftover" ""
"$LAB" down > /dev/null 2>&1
check "a second qemu/lab down exits 0" test $? -eq 0

echo "$TEST_NAME: up took ${up_seconds}s"
for entry in "${SERVERS[@]}"; do
	read -r name firmware _ <<< "$entry"
	echo "$TEST_NAME: $name ($firmware): lease seen after ${lease_seconds[$name]:-never}s," \
		"/boot/ipxe fetched after ${discovery_seconds[$name]:-never}s"
done
finish
