#!/bin/bash
# The main job end to end in the QEMU lab: a BIOS, a UEFI PXE and a UEFI HTTP boot
# server with empty disks netboot the discovery ramdisk, report an inventory that must
# match how QEMU started them, get deployed with the debian-12 bundle, boot it from
# their disks, phone home, and answer ssh with the profile's key at their reserved
# address, which PowerDNS resolves. Then a corrupted image fails with the hash error
# while the other servers stay deployed.
#
# Usage, as root: OUTPOST=$PWD/build/outpost BUNDLE_DIR=$PWD/build/bundles \
#   tests/e2e/test_lab_deploy.sh
# BUNDLE_DIR must hold a debian-12 and a ramdisk bundle (make bundles).
# Environment: DEPLOY_TIMEOUT (seconds for all three to be deployed, default 1500).

# shellcheck source=SCRIPTDIR/../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

BUNDLE_DIR=${BUNDLE_DIR:-$TREE/build/bundles}
DISCOVERY_TIMEOUT=${DISCOVERY_TIMEOUT:-300}
DEPLOY_TIMEOUT=${DEPLOY_TIMEOUT:-1500}
export LAB_NAME="lab-dep-$$"
NS_APP="outpost-$LAB_NAME-app"
json=(-H 'Content-Type: application/json')

# name, firmware, MAC, memory MiB, disk GiB, SMBIOS serial
SERVERS=(
	"bios1 bios 52:54:00:78:d0:01 1024 4 SN-BIOS-0001"
	"uefi1 uefi 52:54:00:78:d0:02 1024 5 SN-UEFI-0002"
	"http1 uefi-http 52:54:00:78:d0:03 1024 6 SN-HTTP-0003"
)

# shellcheck source=SCRIPTDIR/lab_lib.sh
. "$(dirname "$0")/lab_lib.sh"

# shellcheck source=SCRIPTDIR/../../qemu/scenario.sh
. "$TREE/qemu/scenario.sh"
lab_bundles_find

"$LAB" up > "$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; exit 1; }
export OUTPOST_SOCKET=$SOCKET
ramdisk=$(scenario_bundle_load "$ramdisk_bundle" ramdisk) || exit 1
debian=$(scenario_bundle_load "$debian_bundle" debian-12) || exit 1
ssh-keygen -q -t ed25519 -N '' -C "outpost-e2e" -f "$WORK/id_ed25519"
scenario_profile debian-12 "$ramdisk" "$debian" "$WORK/id_ed25519.pub" || exit 1

for spec in "${SERVERS[@]}"; do
	read -r name firmware mac memory disk serial <<< "$spec"
	"$LAB" server add "$name" --firmware "$firmware" --mac "$mac" --memory "$memory" \
		--disk-size "$disk" --serial "$serial" > /dev/null || exit 1
	"$LAB" server start "$name" > /dev/null || exit 1
done

machine_of() { scenario_machine "$1"; }

# Discovery: each server's inventory must match what QEMU was started with.
started=$SECONDS
for spec in "${SERVERS[@]}"; do
	read -r name firmware mac memory disk serial <<< "$spec"
	m=""
	while [ $((SECONDS - started)) -lt "$DISCOVERY_TIMEOUT" ]; do
		m=$(machine_of "$mac")
		[ -n "$m" ] && [ "$(jq -r '.inventory != null' <<< "$m")" = true ] && break
		sleep 3
	done
	echo "$TEST_NAME: $name inventory after $((SECONDS - started)) s"
	inv=$(jq -c .inventory <<< "$m")
	expect_eq "$name discovered" "$(jq -r .state <<< "$m")" discovered
	expect_eq "$name NIC MAC" "$(jq -r --arg mac "$mac" '[.nics[] | select(.mac == $mac)] | length' <<< "$inv")" 1
	expect_eq "$name disk size" "$(jq -r '.disks[0].size_bytes' <<< "$inv")" $((disk * 1073741824))
	expect_eq "$name SMBIOS serial" "$(jq -r .system.serial <<< "$inv")" "$serial"
	expect_eq "$name machine serial" "$(jq -r .serial <<< "$m")" "$serial"
	mem=$(jq -r .memory_bytes <<< "$inv")
	check "$name memory $mem within 80-100% of $memory MiB" \
		test "$mem" -le $((memory * 1048576)) -a "$mem" -ge $((memory * 1048576 * 8 / 10))
	expect_eq "$name CPU threads" "$(jq -r .cpus.threads <<< "$inv")" 1
done

# Deployment.
for spec in "${SERVERS[@]}"; do
	read -r name firmware mac _ <<< "$spec"
	id=$(machine_of "$mac" | jq -r .id)
	api_unix PATCH "/api/v1/machines/$id" "${json[@]}" -d "{\"hostname\": \"$name\"}" -o /dev/null
	state=$(api_unix POST "/api/v1/machines/$id/deploy" "${json[@]}" -d '{"profile": "debian-12"}' | jq -r .state)
	expect_eq "$name deploy accepted" "$state" deploying
done
started=$SECONDS
pending=3
while [ "$pending" -gt 0 ] && [ $((SECONDS - started)) -lt "$DEPLOY_TIMEOUT" ]; do
	sleep 10
	pending=0
	for spec in "${SERVERS[@]}"; do
		read -r name firmware mac _ <<< "$spec"
		case "$(machine_of "$mac" | jq -r .state)" in
		deployed | failed) ;;
		*) pending=$((pending + 1)) ;;
		esac
	done
done
echo "$TEST_NAME: deployments ended after $((SECONDS - started)) s"

for spec in "${SERVERS[@]}"; do
	read -r name firmware mac _ <<< "$spec"
	m=$(api_unix GET "/api/v1/machines/$(machine_of "$mac" | jq -r .id)")
	ip=$(jq -r .ip <<< "$m")
	expect_eq "$name deployed" "$(jq -r .state <<< "$m")" deployed
	echo "$TEST_NAME: $name phases: $(jq -r '[.deployment.phases[] | .phase + (if .seconds then "(" + (.seconds * 10 | floor / 10 | tostring) + "s)" else "" end)] | join(" ")' <<< "$m")"
	expect_eq "$name phases" "$(jq -c '[.deployment.phases[].phase]' <<< "$m")" \
		'["ipxe-script","ramdisk-up","disk-selected","image-written","image-verified","configured","rebooting","first-boot","phone-home"]'
	out=$(ip netns exec "$NS_APP" ssh -i "$WORK/id_ed25519" -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=20 \
		"debian@$ip" 'hostname; ip -4 -o addr show' 2>&1)
	expect_contains "$name ssh with the profile's key" "$out" "$name"
	expect_contains "$name has its reserved address" "$out" "inet $ip/24"
	expect_eq "$name A record" "$(ip netns exec "$NS_APP" dig +short "@10.78.0.1" "$name.lab.example" A)" "$ip"
done

# A corrupted image: the hash error, and nothing else breaks.
m=$(machine_of 52:54:00:78:d0:01)
id=$(jq -r .id <<< "$m")
sha=$("$OUTPOST" bundle show debian-12 "${debian#debian-12/}" --json | jq -r '.artifacts[] | select(.role == "disk-image") | .sha256')
blob="$LAB_DIR/store/sha256/${sha:0:2}/$sha"
cp "$blob" "$WORK/image.good"
chmod u+w "$blob"
flip_byte "$blob" $((64 * 1048576))
api_unix POST "/api/v1/machines/$id/deploy" "${json[@]}" -d '{}' -o /dev/null
# The installed system runs until the server is power-cycled, as a BMC would do it.
"$LAB" server stop bios1 > /dev/null
"$LAB" server start bios1 > /dev/null
started=$SECONDS
while [ $((SECONDS - started)) -lt 600 ] && [ "$(machine_of 52:54:00:78:d0:01 | jq -r .state)" = deploying ]; do
	sleep 5
done
m=$(api_unix GET "/api/v1/machines/$id")
expect_eq "corrupted image fails" "$(jq -r .state <<< "$m")" failed
expect_eq "corrupted image phase" "$(jq -r .deployment.phase <<< "$m")" image-verified
expect_contains "corrupted image reason" "$(jq -r .deployment.reason <<< "$m")" "image hash mismatch"
cp "$WORK/image.good" "$blob"
expect_eq "the others stay deployed" "$(api_unix GET '/api/v1/machines?state=deployed' | jq '.items | length')" 2
expect_eq "DHCP and DNS in sync" "$(api_unix GET /api/v1/ddi/status | jq -c '[.dhcp.in_sync, .dns.in_sync]')" "[true,true]"

finish
