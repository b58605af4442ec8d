#!/bin/bash
# Virtual-media provisioning end to end in the QEMU lab, with no DHCP server on the
# network: a UEFI server whose disk is empty is enrolled through its Redfish BMC, gets
# a reserved address, and is deployed with {"boot": "virtual-media"}. Outpost builds
# the machine's boot ISO, and the BMC manager inserts it through Redfish, sets a
# one-time boot from CD and powers the server on, and ejects it once the image is
# written. The ramdisk configures the static
# address from the ISO's command line, writes the debian-12 image, and the installed
# system comes up on the same address and phones home.
#
# Usage, as root: OUTPOST=$PWD/build/outpost BUNDLE_DIR=$PWD/build/bundles \
#   tests/e2e/test_lab_vmedia.sh
# BUNDLE_DIR must hold a debian-12 bundle and a ramdisk bundle with the CD boot images
# (r06 or newer; make bundles). Environment: DEPLOY_TIMEOUT (seconds, default 1200).

# shellcheck source=SCRIPTDIR/../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

BUNDLE_DIR=${BUNDLE_DIR:-$TREE/build/bundles}
DEPLOY_TIMEOUT=${DEPLOY_TIMEOUT:-1200}
export LAB_NAME="lab-vm-$$"
NS_APP="outpost-$LAB_NAME-app"
json=(-H 'Content-Type: application/json')
NAME=vm1
MAC=52:54:00:78:e0:01
ADDRESS=10.78.0.50

# shellcheck disable=SC2034 # lab_lib.sh reads it
SERVERS=("$NAME uefi $MAC")

# shellcheck source=SCRIPTDIR/lab_lib.sh
. "$(dirname "$0")/lab_lib.sh"

# shellcheck source=SCRIPTDIR/../../qemu/scenario.sh
. "$TREE/qemu/scenario.sh"
lab_bundles_find

"$LAB" up > "$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; exit 1; }
export OUTPOST_SOCKET=$SOCKET

# No DHCP on the network: stop Kea. The DDI manager keeps the address plan and DNS.
kill "$(cat "$LAB_DIR/run/kea.pid")"
for _ in $(seq 1 50); do
	ip netns exec "$NS_APP" pgrep -x kea-dhcp4 > /dev/null || break
	sleep 0.1
done
check "no DHCP server runs in the lab" sh -c "! ip netns exec $NS_APP pgrep -x kea-dhcp4"

ramdisk=$(scenario_bundle_load "$ramdisk_bundle" ramdisk) || exit 1
debian=$(scenario_bundle_load "$debian_bundle" debian-12) || exit 1
ssh-keygen -q -t ed25519 -N '' -C "outpost-e2e" -f "$WORK/id_ed25519"
scenario_profile debian-12 "$ramdisk" "$debian" "$WORK/id_ed25519.pub" || exit 1

"$LAB" server add "$NAME" --firmware uefi --mac "$MAC" --memory 1024 --disk-size 4 \
	> /dev/null || exit 1

# The machine, its address and its BMC, before it ever powers on.
id=$(api_unix POST /api/v1/machines "${json[@]}" \
	-d "{\"macs\": [\"$MAC\"], \"hostname\": \"$NAME\"}" | jq -r .id)
check "machine $id registered" test "$id" -gt 0
expect_eq "address reserved" "$(api_unix POST "/api/v1/machines/$id/address" "${json[@]}" \
	-d "{\"ip\": \"$ADDRESS\"}" | jq -r .ip)" "$ADDRESS"
bmc=$(scenario_bmc_enrol "$NAME" "$LAB") || exit 1
expect_eq "BMC verified" "$(api_unix GET "/api/v1/bmcs/$bmc" | jq -r .status)" ok
api_unix PATCH "/api/v1/bmcs/$bmc" "${json[@]}" -d "{\"machine\": $id}" -o /dev/null
expect_eq "BMC linked" "$(api_unix GET "/api/v1/bmcs/$bmc" | jq -r .machine)" "$id"
expect_eq "server powered off" "$(ip netns exec "$NS_APP" true && "$LAB" server list |
	awk -v n="$NAME" '$1 == n {print $4}')" stopped

# Deploy through virtual media.
reply=$(api_unix POST "/api/v1/machines/$id/deploy" "${json[@]}" \
	-d '{"profile": "debian-12", "boot": "virtual-media"}')
expect_eq "deploy accepted" "$(jq -r .state <<< "$reply")" deploying
op=$(jq -r '.virtual_media.operation // empty' <<< "$reply")
check "a vmedia-boot operation was queued" test -n "$op"
expect_contains "ISO URL" "$(jq -r .virtual_media.iso_url <<< "$reply")" "/media/"
result=$(scenario_bmc_wait "$op" 180)
expect_eq "vmedia-boot succeeded" "$(jq -r .state <<< "$result")" succeeded
expect_eq "server powered on, not reset" "$(jq -r .result.power_action <<< "$result")" on
expect_eq "the operation names the deployment, not the ISO's URL" \
	"$(jq -r '.args | keys | join(",")' <<< "$result")" deployment
scenario_bmc_op "$bmc" '{"operation": "media-status"}' || exit 1
media=$(api_unix GET "/api/v1/bmc-operations?bmc=$bmc" | jq -c '.items[-1].result')
expect_eq "the CD is inserted" "$(jq -r .inserted <<< "$media")" true
expect_eq "media status shows the ISO's URL redacted" \
	"$(jq -r .image <<< "$media" | sed -E 's|.*/media/d.{3}\*\*\*\.iso$|redacted|')" redacted

started=$SECONDS
state=""
while [ $((SECONDS - started)) -lt "$DEPLOY_TIMEOUT" ]; do
	state=$(api_unix GET "/api/v1/machines/$id" | jq -r .state)
	case "$state" in deployed | failed) break ;; esac
	sleep 10
done
echo "$TEST_NAME: $state after $((SECONDS - started)) s"
m=$(api_unix GET "/api/v1/machines/$id")
expect_eq "machine deployed" "$state" deployed
expect_eq "deployment phase" "$(jq -r .deployment.phase <<< "$m")" phone-home
expect_eq "machine address" "$(jq -r .ip <<< "$m")" "$ADDRESS"
expect_eq "no DHCP lease recorded" "$(jq -r '.lease_ip // ""' <<< "$m")" ""
eject=$(api_unix GET "/api/v1/bmc-operations?bmc=$bmc" |
	jq -c '[.items[] | select(.operation == "media-eject")] | last')
expect_eq "the CD was ejected once the image was written" "$(jq -r .state <<< "$eject")" \
	succeeded
expect_eq "the deployment ejected it" "$(jq -r .actor <<< "$eject")" system:deploy
scenario_bmc_op "$bmc" '{"operation": "media-status"}' || exit 1
expect_eq "no CD inserted after the deployment" \
	"$(api_unix GET "/api/v1/bmc-operations?bmc=$bmc" | jq -r '.items[-1].result.inserted')" false
console=$("$LAB" console "$NAME" --print)
expect_contains "ramdisk used the static address" "$console" "$ADDRESS"
check "the installed system answers ssh on its static address" \
	ip netns exec "$NS_APP" ssh -i "$WORK/id_ed25519" -o StrictHostKeyChecking=no \
	-o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 -o BatchMode=yes \
	"debian@$ADDRESS" true
check "the token is not in the daemon's log" sh -c \
	"! grep -aE '/media/d[0-9]+-[0-9a-f]{64}' '$LAB_DIR/outpost.log'"
check "the audit chain is intact" \
	sh -c "'$OUTPOST' audit verify --socket '$SOCKET' > /dev/null"

finish
