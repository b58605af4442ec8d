#!/bin/bash
# The Redfish driver against the DMTF public-rackmount1 mockup (tests/bmc/mockup, BSD
# 3-Clause), served read-only by nginx over HTTPS on 127.0.0.1. Every expected value is
# read from the mockup's own files with jq, and bmc_tool (tests/bmc/bmc_tool.c) runs
# the driver. nginx rejects POST and PATCH, so writes must fail with its status, and
# the driver must fall back to basic authentication when it cannot create a session.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bmc_lib.sh"

TOOL=$(dirname "$OUTPOST")/tests/bmc_tool
[ -x "$TOOL" ] || { echo "missing $TOOL; run make"; exit 1; }
require_programs nginx openssl

mockup_start
PORT=$MOCKUP_PORT
FINGERPRINT=$MOCKUP_FINGERPRINT
MOCK=$MOCKUP
SYSTEM=$MOCKUP_SYSTEM

export BMC_PASSWORD=secret-password-1
tool() {
	"$TOOL" --address 127.0.0.1 --port "$PORT" --user admin --timeout 10000 "$@"
}
pinned() {
	tool --fingerprint "$FINGERPRINT" "$@"
}

# Trust: the site's CA, a pinned key, trust on first use; a wrong CA or key fails.
out=$(tool --ca "$MOCKUP_DIR/ca.pem" power-state 2> "$WORK/err")
expect_eq "CA-verified power state" "$(jq -r .power_state <<< "$out")" \
	"$(jq -r .PowerState "$SYSTEM/index.json" | tr 'A-Z' 'a-z')"
check "another CA is rejected" sh -c "! '$TOOL' --address 127.0.0.1 --port $PORT --user admin \
	--ca '$MOCKUP_DIR/other-ca.pem' power-state 2> '$WORK/err-ca'"
expect_contains "CA failure named" "$(cat "$WORK/err-ca")" "127.0.0.1"
expect_eq "pinned key works" "$(pinned power-state | jq -r .power_state)" "on"
check "wrong pin rejected" sh -c "! '$TOOL' --address 127.0.0.1 --port $PORT --user admin \
	--fingerprint $(printf '%064d' 0) power-state 2> '$WORK/err-pin'"
expect_contains "wrong pin explained" "$(cat "$WORK/err-pin")" "does not match the BMC's trust policy"
tool --tofu power-state > /dev/null 2> "$WORK/tofu"
expect_eq "trust on first use learns the key" "$(sed -n 's/^bmc_tool: fingerprint //p' "$WORK/tofu")" \
	"$FINGERPRINT"

# Without a session (POST gets 405), basic authentication carries the password.
expect_contains "session login tried" "$(cat "$MOCKUP_DIR/nginx/access.log")" \
	'"POST /redfish/v1/SessionService/Sessions HTTP/1.1" 405'
expect_contains "basic authentication used" "$(cat "$WORK/err")" "using basic authentication"
check "password not in the error output" sh -c "! grep -rq '$BMC_PASSWORD' '$WORK/err' \
	'$WORK/err-ca' '$WORK/err-pin' '$WORK/tofu'"

# Inventory: the system's identity, its MACs and every firmware item.
inv=$(pinned inventory)
expect_eq "manufacturer" "$(jq -r .system.manufacturer <<< "$inv")" \
	"$(jq -r .Manufacturer "$SYSTEM/index.json")"
expect_eq "serial" "$(jq -r .system.serial <<< "$inv")" "$(jq -r .SerialNumber "$SYSTEM/index.json")"
expect_eq "uuid" "$(jq -r .system.uuid <<< "$inv")" "$(jq -r .UUID "$SYSTEM/index.json")"
expect_eq "bios version" "$(jq -r .system.bios_version <<< "$inv")" \
	"$(jq -r .BiosVersion "$SYSTEM/index.json")"
expect_eq "boot override" "$(jq -r .system.boot.override <<< "$inv")" \
	"$(jq -r .Boot.BootSourceOverrideTarget "$SYSTEM/index.json")"
expect_eq "MACs" "$(jq -r '.system.macs | sort | join(" ")' <<< "$inv")" \
	"$(cat "$SYSTEM"/EthernetInterfaces/*/index.json | jq -rs '[.[].MACAddress] | sort | join(" ")')"
# The collection lists three of the four items the mockup has; only members count.
expected=""
for id in $(jq -r '.Members[]."@odata.id" | split("/") | last' \
	"$MOCK/UpdateService/FirmwareInventory/index.json"); do
	expected+="$id=$(jq -r .Version "$MOCK/UpdateService/FirmwareInventory/$id/index.json")"$'\n'
done
expect_eq "firmware items" "$(jq -r '.firmware[] | "\(.id)=\(.version)"' <<< "$inv" | sort)" \
	"$(sort <<< "${expected%$'\n'}")"

# Sensors: every member of the chassis's Sensors collection, with its reading.
sensors=$(pinned sensors)
expect_eq "sensor count" "$(jq length <<< "$sensors")" \
	"$(jq '.Members | length' "$MOCK/Chassis/1U/Sensors/index.json")"
expect_eq "CPU1 temperature" \
	"$(jq -r '.[] | select(.name == "CPU #1 Temperature" or .name == "CPU1 Temp") | "\(.kind) \(.value) \(.unit)"' <<< "$sensors" | head -n 1)" \
	"temperature $(jq -r .Reading "$MOCK/Chassis/1U/Sensors/CPU1Temp/index.json") Cel"
expect_eq "fan percent" \
	"$(jq -r --arg n "$(jq -r .Name "$MOCK/Chassis/1U/Sensors/CPUFan1/index.json")" '.[] | select(.name == $n) | "\(.kind) \(.value) \(.unit)"' <<< "$sensors")" \
	"fan $(jq -r .Reading "$MOCK/Chassis/1U/Sensors/CPUFan1/index.json") %"

# Virtual media: the mockup's CD sits under the System, with an image inserted.
media=$(pinned media-status)
expect_eq "virtual CD found under the system" "$(jq -r .path <<< "$media")" \
	"/redfish/v1/Systems/437XR1138R2/VirtualMedia/CD1"
expect_eq "virtual CD image" "$(jq -r .image <<< "$media")" \
	"$(jq -r .Image "$SYSTEM/VirtualMedia/CD1/index.json")"

# Writes reach the BMC and fail with its status, named in the error (nginx has no file
# for an action's target, so 404).
check "reset refused by a read-only service" sh -c "! '$TOOL' --address 127.0.0.1 --port $PORT \
	--user admin --fingerprint $FINGERPRINT power off 2> '$WORK/err-off'"
expect_contains "reset error names the action and status" "$(cat "$WORK/err-off")" \
	"POST /redfish/v1/Systems/437XR1138R2/Actions/ComputerSystem.Reset on 127.0.0.1: HTTP 404"

# A closed port fails within the timeout, with the address.
start=$SECONDS
check "closed port fails" sh -c "! '$TOOL' --address 127.0.0.1 --port 1 --user admin \
	--fingerprint $FINGERPRINT --timeout 3000 power-state 2> '$WORK/err-closed'"
check "closed port within the timeout" test $((SECONDS - start)) -le 6
expect_contains "closed port error" "$(cat "$WORK/err-closed")" "GET /redfish/v1/ on 127.0.0.1"

finish
