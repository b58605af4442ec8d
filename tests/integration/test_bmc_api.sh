#!/bin/bash
# The BMC manager through the REST API of `outpost serve`, against one ipmi_sim and one
# nginx serving the DMTF Redfish mockup on 127.0.0.1, 127.0.0.2 and 127.0.0.3
# (bmc_lib.sh). It checks enrolment and its verify under each TLS policy, linking to
# machines, and IPMI power and boot flags as the simulator's files show them. It also
# checks sensors from both protocols, batches, the audit trail and input checks. The
# last parts cover where passwords may appear, a dead BMC next to a live one,
# operations that a SIGKILL interrupts, and BMC removal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bmc_lib.sh"

require_programs ipmi_sim ipmitool nginx openssl jq

# A short timeout makes a dead BMC fail in seconds, and two workers let a live BMC's
# operations run beside it.
WORKERS=2
TIMEOUT_SECONDS=3
INTERRUPTED="interrupted: the daemon stopped before the operation finished; queue it again"
REPLIES="$WORK/replies.log"

# Print 16 random hex digits.
random_text() {
	head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n'
}
# IPMI passwords have at most 20 bytes.
WRONG_PASSWORD="wrong-$(random_text | cut -c1-12)"
RF_PASSWORDS=("rf-a-$(random_text)" "rf-b-$(random_text)" "rf-c-$(random_text)")

# Send an API request over HTTPS with the admin token. Sets STATUS and REPLY, and
# appends the reply to $REPLIES for the password checks.
# Usage: api METHOD PATH [JSON-BODY]
api() {
	local method=$1 path=$2 body=${3-}
	local -a args=()
	[ -z "$body" ] || args=(-H 'Content-Type: application/json' --data-binary "$body")
	STATUS=$(api_https "$method" "/api/v1$path" "${args[@]}" -o "$WORK/reply" \
		-w '%{http_code}')
	REPLY=$(cat "$WORK/reply")
	printf '%s\n' "$REPLY" >> "$REPLIES"
}

# Print jq filter $2 applied to JSON $1: strings raw, the rest compact.
# Usage: field JSON FILTER
field() {
	jq -rc "$2" <<< "$1"
}

# Return 1 with a message unless $1 is an operation id, as after a rejected request.
operation_id_valid() {
	case $1 in
	'' | *[!0-9]*)
		echo "FAIL: $TEST_NAME: no operation to wait for: '$1'" >&2
		return 1 ;;
	esac
}

# Poll operation $1 until it succeeded or failed, for about $2 seconds (20 when
# absent). Sets OP to its last reply, and returns 1 when it did not finish in time.
wait_op() {
	local id=$1 limit=${2:-20}
	operation_id_valid "$id" || return 1
	for _ in $(seq 1 $((limit * 10))); do
		api GET "/bmc-operations/$id"
		case $(field "$REPLY" .state) in
		succeeded | failed)
			OP=$REPLY
			return 0 ;;
		esac
		sleep 0.1
	done
	OP=$REPLY
	echo "FAIL: $TEST_NAME: operation $id did not finish within $limit s: $REPLY" >&2
	return 1
}

# Poll operation $1 until its state is $2, for about 10 s.
wait_state() {
	operation_id_valid "$1" || return 1
	for _ in $(seq 1 100); do
		api GET "/bmc-operations/$1"
		[ "$(field "$REPLY" .state)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# Queue an operation (JSON body $2) on BMC $1, expecting 202. Sets OP_ID.
queue_op() {
	api POST "/bmcs/$1/operations" "$2"
	expect_eq "queue $2 on BMC $1" "$STATUS" 202
	OP_ID=$(field "$REPLY" .id)
}

# Queue an operation on BMC $1 and wait for its end. Sets OP_ID and OP.
run_op() {
	queue_op "$1" "$2"
	check "operation $2 on BMC $1 finishes" wait_op "$OP_ID"
}

# Enrol a BMC described by JSON $1, expecting 202 and a queued verify, then wait for
# the verify. Sets BMC_ID, VERIFY_ID and OP.
enrol() {
	api POST /bmcs "$1"
	expect_eq "enrol $(field "$1" '.protocol + " " + .address') status" "$STATUS" 202
	BMC_ID=$(field "$REPLY" .bmc.id)
	VERIFY_ID=$(field "$REPLY" .operation.id)
	expect_eq "enrolled BMC $BMC_ID starts unverified" "$(field "$REPLY" .bmc.status)" \
		"unverified"
	expect_eq "enrolment queues a verify" "$(field "$REPLY" .operation.operation)" "verify"
	check "verify of BMC $BMC_ID finishes" wait_op "$VERIFY_ID"
}

# Expect a 400 whose detail names $5. Usage: expect_rejected WHAT METHOD PATH BODY NAME
expect_rejected() {
	api "$2" "$3" "$4"
	expect_eq "$1: status" "$STATUS" 400
	expect_contains "$1: detail names $5" "$(field "$REPLY" .detail)" "$5"
}

# Print every audit entry as one JSON array, following the pages.
audit_entries() {
	local after=0 next
	while :; do
		api GET "/audit?limit=1000&after=$after"
		field "$REPLY" '.items[]'
		next=$(field "$REPLY" .next)
		[ "$next" != null ] || break
		after=$next
	done | jq -s .
}

# Print every BMC operation as one JSON array, following the pages.
all_operations() {
	local after=0 next
	while :; do
		api GET "/bmc-operations?limit=1000&after=$after"
		field "$REPLY" '.items[]'
		next=$(field "$REPLY" .next)
		[ "$next" != null ] || break
		after=$next
	done | jq -s .
}

# The IPMI BMC's enrolment body. Usage: ipmi_body ADDRESS PORT PASSWORD
ipmi_body() {
	jq -nc --arg address "$1" --argjson port "$2" --arg password "$3" \
		'{protocol: "ipmi", address: $address, port: $port, username: "admin",
		  password: $password}'
}

# A Redfish enrolment body. Usage: redfish_body ADDRESS PASSWORD TLS [FINGERPRINT]
redfish_body() {
	jq -nc --arg address "$1" --argjson port "$MOCKUP_PORT" --arg password "$2" \
		--arg tls "$3" --arg fingerprint "${4-}" \
		'{protocol: "redfish", address: $address, port: $port, username: "admin",
		  password: $password, tls: $tls}
		 + if $fingerprint == "" then {} else {fingerprint: $fingerprint} end'
}

ipmi_sim_start
mockup_start 127.0.0.1 127.0.0.2 127.0.0.3
write_config "[bmc]" "workers = $WORKERS" "timeout_seconds = $TIMEOUT_SECONDS"
start_daemon

# ---- Input checks: each request names the field at fault and changes nothing ----

valid_ipmi=$(ipmi_body 127.0.0.1 "$IPMI_PORT" "$IPMI_PASSWORD")
expect_rejected "bad protocol" POST /bmcs "$(jq -c '.protocol = "snmp"' <<< "$valid_ipmi")" \
	protocol
expect_rejected "missing password" POST /bmcs "$(jq -c 'del(.password)' <<< "$valid_ipmi")" \
	password
expect_rejected "empty password" POST /bmcs "$(jq -c '.password = ""' <<< "$valid_ipmi")" \
	password
expect_rejected "IPMI password over 20 bytes" POST /bmcs \
	"$(jq -c '.password = "123456789012345678901"' <<< "$valid_ipmi")" password
expect_rejected "IPMI user name over 16 bytes" POST /bmcs \
	"$(jq -c '.username = "abcdefghijklmnopq"' <<< "$valid_ipmi")" username
expect_rejected "pinned without fingerprint" POST /bmcs \
	"$(redfish_body 127.0.0.1 "${RF_PASSWORDS[0]}" pinned)" fingerprint
expect_rejected "short fingerprint" POST /bmcs \
	"$(redfish_body 127.0.0.1 "${RF_PASSWORDS[0]}" pinned abcdef)" fingerprint
expect_rejected "fingerprint not hex" POST /bmcs \
	"$(redfish_body 127.0.0.1 "${RF_PASSWORDS[0]}" pinned "$(printf 'z%.0s' {1..64})")" \
	fingerprint
expect_rejected "port 70000" POST /bmcs "$(jq -c '.port = 70000' <<< "$valid_ipmi")" port
expect_rejected "negative port" POST /bmcs "$(jq -c '.port = -1' <<< "$valid_ipmi")" port
expect_rejected "port as text" POST /bmcs "$(jq -c '.port = "623"' <<< "$valid_ipmi")" port
expect_rejected "bad tls" POST /bmcs "$(jq -c '.tls = "none"' <<< "$valid_ipmi")" tls
expect_rejected "bad address" POST /bmcs "$(jq -c '.address = "10.0.0.1/24"' <<< "$valid_ipmi")" \
	address
expect_rejected "missing address" POST /bmcs "$(jq -c 'del(.address)' <<< "$valid_ipmi")" \
	address
expect_rejected "relative ca_file" POST /bmcs "$(jq -c '.ca_file = "ca.pem"' <<< "$valid_ipmi")" \
	ca_file
expect_rejected "unknown body key" POST /bmcs "$(jq -c '.colour = "blue"' <<< "$valid_ipmi")" \
	colour
expect_eq "unknown body key: error code" "$(field "$REPLY" .error)" "unknown_field"
expect_rejected "read-only body key" POST /bmcs "$(jq -c '.status = "ok"' <<< "$valid_ipmi")" \
	status
api POST /bmcs '{"protocol": "ipmi",'
expect_eq "malformed JSON: status" "$STATUS" 400
api POST /bmcs "$(jq -c '.machine = "52:54:00:00:00:99"' <<< "$valid_ipmi")"
expect_eq "unknown machine: status" "$STATUS" 404
api GET /bmcs
expect_eq "rejected enrolments store no BMC" "$(field "$REPLY" '.items | length')" 0
api GET /bmc-operations
expect_eq "rejected enrolments queue no operation" "$(field "$REPLY" '.items | length')" 0

api GET /bmcs/999999
expect_eq "GET unknown BMC" "$STATUS" 404
api PATCH /bmcs/999999 '{"username": "root"}'
expect_eq "PATCH unknown BMC" "$STATUS" 404
api DELETE /bmcs/999999
expect_eq "DELETE unknown BMC" "$STATUS" 404
api POST /bmcs/999999/operations '{"operation": "sensors"}'
expect_eq "operation on unknown BMC" "$STATUS" 404
api GET /bmc-operations/999999
expect_eq "GET unknown operation" "$STATUS" 404
api GET /bmcs/abc
expect_eq "BMC id not a number" "$STATUS" 400

# ---- IPMI enrolment ----

enrol "$valid_ipmi"
IPMI_ID=$BMC_ID
IPMI_VERIFY_ID=$VERIFY_ID
expect_eq "IPMI verify succeeded" "$(field "$OP" .state)" "succeeded"
expect_eq "IPMI verify reads the FRU manufacturer" "$(field "$OP" .result.system.manufacturer)" \
	"Outpost Labs"
expect_eq "IPMI verify reads the FRU serial" "$(field "$OP" .result.system.serial)" "SN-1234"
expect_eq "IPMI verify reads the system GUID" "$(field "$OP" .result.system.uuid)" \
	"efcdab89-6745-23a1-efcd-ab89674523a1"
expect_eq "IPMI verify links no machine (no MAC, unknown GUID)" \
	"$(field "$OP" .result.machine)" "null"
expect_eq "IPMI verify actor" "$(field "$OP" .actor)" "token:admin"
api GET "/bmcs/$IPMI_ID"
expect_eq "IPMI BMC status" "$(field "$REPLY" .status)" "ok"
expect_eq "IPMI BMC status_detail" "$(field "$REPLY" .status_detail)" "null"
expect_eq "IPMI BMC power_state" "$(field "$REPLY" .power_state)" "on"
expect_eq "IPMI BMC has no fingerprint" "$(field "$REPLY" .fingerprint)" "null"
check "IPMI BMC checked_at set" test "$(field "$REPLY" .checked_at)" != null
check "BMC reply has no password member" test "$(field "$REPLY" 'has("password")')" = false
api POST /bmcs "$valid_ipmi"
expect_eq "same endpoint enrolled twice" "$STATUS" 409

# ---- Redfish enrolment: trust on first use, a right pin, a wrong pin ----

enrol "$(redfish_body 127.0.0.1 "${RF_PASSWORDS[0]}" tofu)"
RF_TOFU_ID=$BMC_ID
expect_eq "tofu verify succeeded" "$(field "$OP" .state)" "succeeded"
expect_eq "tofu verify learns the key" "$(field "$OP" .result.fingerprint)" "$MOCKUP_FINGERPRINT"
expect_eq "tofu verify registers a machine" "$(field "$OP" .result.machine_created)" "true"
MACHINE_ID=$(field "$OP" .result.machine)
api GET "/bmcs/$RF_TOFU_ID"
expect_eq "tofu BMC stores the learned key" "$(field "$REPLY" .fingerprint)" "$MOCKUP_FINGERPRINT"
expect_eq "tofu BMC status" "$(field "$REPLY" .status)" "ok"
expect_eq "tofu BMC status_detail" "$(field "$REPLY" .status_detail)" "null"
expect_eq "tofu BMC power_state" "$(field "$REPLY" .power_state)" \
	"$(jq -r .PowerState "$MOCKUP_SYSTEM/index.json" | tr 'A-Z' 'a-z')"
expect_eq "tofu BMC linked to the registered machine" "$(field "$REPLY" .machine)" "$MACHINE_ID"

api GET "/machines/$MACHINE_ID"
expect_eq "registered machine MACs" "$(field "$REPLY" '.macs | sort | join(" ")')" \
	"$(cat "$MOCKUP_SYSTEM"/EthernetInterfaces/*/index.json |
		jq -rs '[.[].MACAddress | ascii_downcase] | unique | join(" ")')"
expect_eq "registered machine UUID" "$(field "$REPLY" .uuid)" \
	"$(jq -r .UUID "$MOCKUP_SYSTEM/index.json")"
expect_eq "registered machine serial" "$(field "$REPLY" .serial)" \
	"$(jq -r .SerialNumber "$MOCKUP_SYSTEM/index.json")"
expect_eq "registered machine vendor" "$(field "$REPLY" .vendor)" \
	"$(jq -r .Manufacturer "$MOCKUP_SYSTEM/index.json")"
expect_eq "registered machine model" "$(field "$REPLY" .model)" \
	"$(jq -r .Model "$MOCKUP_SYSTEM/index.json")"
expect_eq "registered machine state" "$(field "$REPLY" .state)" "discovered"

enrol "$(redfish_body 127.0.0.2 "${RF_PASSWORDS[1]}" pinned "$MOCKUP_FINGERPRINT")"
RF_PINNED_ID=$BMC_ID
expect_eq "right pin verify succeeded" "$(field "$OP" .state)" "succeeded"
expect_eq "right pin links the same machine by MAC" "$(field "$OP" .result.machine)" "$MACHINE_ID"
expect_eq "right pin registers no second machine" "$(field "$OP" .result.machine_created)" \
	"false"
api GET "/bmcs/$RF_PINNED_ID"
expect_eq "pinned BMC status" "$(field "$REPLY" .status)" "ok"
expect_eq "pinned BMC keeps its pin" "$(field "$REPLY" .fingerprint)" "$MOCKUP_FINGERPRINT"
api GET /machines
expect_eq "one machine for two BMCs of one server" "$(field "$REPLY" '.items | length')" 1

wrong_pin=$(openssl x509 -in "$MOCKUP_DIR/other-ca.pem" -pubkey -noout |
	openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)
enrol "$(redfish_body 127.0.0.3 "${RF_PASSWORDS[2]}" pinned "$wrong_pin")"
RF_WRONG_ID=$BMC_ID
expect_eq "wrong pin verify failed" "$(field "$OP" .state)" "failed"
expect_contains "wrong pin error" "$(field "$OP" .error)" "does not match the BMC's trust policy"
expect_eq "wrong pin verify has no result" "$(field "$OP" .result)" "null"
api GET "/bmcs/$RF_WRONG_ID"
expect_eq "wrong pin BMC status" "$(field "$REPLY" .status)" "error"
expect_eq "wrong pin BMC status_detail is the error" "$(field "$REPLY" .status_detail)" \
	"$(field "$OP" .error)"
expect_eq "wrong pin BMC power_state" "$(field "$REPLY" .power_state)" "unknown"
expect_eq "wrong pin BMC keeps the configured pin" "$(field "$REPLY" .fingerprint)" "$wrong_pin"
expect_eq "wrong pin BMC linked to no machine" "$(field "$REPLY" .machine)" "null"

# Correcting the pin verifies again.
api PATCH "/bmcs/$RF_WRONG_ID" "$(jq -nc --arg f "$MOCKUP_FINGERPRINT" '{fingerprint: $f}')"
expect_eq "PATCH of the pin status" "$STATUS" 202
expect_eq "PATCH of the pin queues a verify" "$(field "$REPLY" .operation.operation)" "verify"
check "verify after the pin PATCH finishes" wait_op "$(field "$REPLY" .operation.id)"
expect_eq "verify with the corrected pin succeeded" "$(field "$OP" .state)" "succeeded"
api GET "/bmcs/$RF_WRONG_ID"
expect_eq "corrected pin BMC status" "$(field "$REPLY" .status)" "ok"
expect_eq "corrected pin BMC status_detail cleared" "$(field "$REPLY" .status_detail)" "null"

# The same pin in upper case with colons, 95 characters, is the same setting.
colon_pin=$(tr 'a-f' 'A-F' <<< "$MOCKUP_FINGERPRINT" | sed 's/../&:/g; s/:$//')
api PATCH "/bmcs/$RF_WRONG_ID" "$(jq -nc --arg f "$colon_pin" '{fingerprint: $f}')"
expect_eq "PATCH of a pin with colons status" "$STATUS" 200
expect_eq "PATCH of a pin with colons normalizes it" "$(field "$REPLY" .bmc.fingerprint)" \
	"$MOCKUP_FINGERPRINT"
expect_eq "PATCH of an unchanged pin queues no verify" "$(field "$REPLY" .operation)" "null"

# ---- A wrong password: the verify fails, and a new password fixes it ----

enrol "$(ipmi_body "[::1]" "$IPMI_PORT" "$WRONG_PASSWORD")"
IPMI6_ID=$BMC_ID
IPMI6_VERIFIES=("$VERIFY_ID")
expect_eq "wrong password verify failed" "$(field "$OP" .state)" "failed"
expect_contains "wrong password error" "$(field "$OP" .error)" "invalid user name or password"
api GET "/bmcs/$IPMI6_ID"
expect_eq "wrong password BMC status" "$(field "$REPLY" .status)" "error"
expect_contains "wrong password BMC status_detail" "$(field "$REPLY" .status_detail)" \
	"invalid user name or password"
expect_rejected "PATCH with an empty password" PATCH "/bmcs/$IPMI6_ID" '{"password": ""}' \
	password
api PATCH "/bmcs/$IPMI6_ID" "$(jq -nc --arg p "$IPMI_PASSWORD" '{password: $p}')"
expect_eq "PATCH of the password status" "$STATUS" 202
IPMI6_VERIFIES+=("$(field "$REPLY" .operation.id)")
check "verify after the password PATCH finishes" wait_op "${IPMI6_VERIFIES[1]}"
expect_eq "verify with the right password succeeded" "$(field "$OP" .state)" "succeeded"
api GET "/bmcs/$IPMI6_ID"
expect_eq "IPv6 IPMI BMC status after the new password" "$(field "$REPLY" .status)" "ok"

# ---- Operation input checks ----

api GET /bmc-operations
ops_before=$(field "$REPLY" '.items | length')
expect_rejected "unknown operation" POST "/bmcs/$IPMI_ID/operations" '{"operation": "explode"}' \
	operation
expect_rejected "missing operation" POST "/bmcs/$IPMI_ID/operations" '{"action": "on"}' \
	operation
expect_rejected "power action explode" POST "/bmcs/$IPMI_ID/operations" \
	'{"operation": "power", "action": "explode"}' action
expect_rejected "power without action" POST "/bmcs/$IPMI_ID/operations" \
	'{"operation": "power"}' action
expect_rejected "boot device floppy" POST "/bmcs/$IPMI_ID/operations" \
	'{"operation": "boot", "device": "floppy"}' device
expect_rejected "boot mode bad" POST "/bmcs/$IPMI_ID/operations" \
	'{"operation": "boot", "device": "pxe", "mode": "efi2"}' mode
expect_rejected "media-insert file URL" POST "/bmcs/$RF_TOFU_ID/operations" \
	'{"operation": "media-insert", "url": "file:///etc/shadow"}' url
expect_rejected "firmware-update without URL" POST "/bmcs/$RF_TOFU_ID/operations" \
	'{"operation": "firmware-update"}' url
expect_rejected "unknown operation argument" POST "/bmcs/$IPMI_ID/operations" \
	'{"operation": "sensors", "colour": "blue"}' colour
expect_rejected "argument of another operation" POST "/bmcs/$IPMI_ID/operations" \
	'{"operation": "power", "action": "on", "device": "pxe"}' device
expect_rejected "vmedia-boot naming a deployment" POST "/bmcs/$RF_TOFU_ID/operations" \
	'{"operation": "vmedia-boot", "deployment": 1}' deployment
expect_rejected "media URL with a password" POST "/bmcs/$RF_TOFU_ID/operations" \
	'{"operation": "media-insert", "url": "http://u:pw@127.0.0.1/a.iso"}' url
expect_rejected "batch naming a BMC twice" POST /bmc-operations \
	"{\"operation\": \"sensors\", \"bmcs\": [$IPMI_ID, $IPMI_ID]}" "BMC $IPMI_ID"
api GET /bmc-operations
expect_eq "rejected operations queue nothing" "$(field "$REPLY" '.items | length')" \
	"$ops_before"

# ---- IPMI power and boot through the API, seen in the simulator's files ----

run_op "$IPMI_ID" '{"operation": "power", "action": "off"}'
POWER_OFF_ID=$OP_ID
expect_eq "power off succeeded" "$(field "$OP" .state)" "succeeded"
expect_eq "power off result" "$(field "$OP" .result)" '{"action":"off","power":"off"}'
expect_eq "power off reaches the simulator" "$(cat "$IPMI_DIR/power")" 0
expect_eq "power off in the chassis log" "$(tail -n 1 "$IPMI_DIR/chassis.log")" "power 0"
api GET "/bmcs/$IPMI_ID"
expect_eq "BMC power_state after off" "$(field "$REPLY" .power_state)" "off"

run_op "$IPMI_ID" '{"operation": "power", "action": "on"}'
POWER_ON_ID=$OP_ID
expect_eq "power on result" "$(field "$OP" .result.power)" "on"
expect_eq "power on reaches the simulator" "$(cat "$IPMI_DIR/power")" 1
api GET "/bmcs/$IPMI_ID"
expect_eq "BMC power_state after on" "$(field "$REPLY" .power_state)" "on"

: > "$IPMI_DIR/chassis.log"
run_op "$IPMI_ID" '{"operation": "power", "action": "cycle"}'
expect_eq "power cycle succeeded" "$(field "$OP" .state)" "succeeded"
# ipmi_sim powers off at once and on again one second later.
check "cycle powers off, then on" wait_chassis "power 1"
expect_eq "cycle sequence" "$(tr '\n' ' ' < "$IPMI_DIR/chassis.log")" "power 0 power 1 "
expect_eq "power after the cycle" "$(cat "$IPMI_DIR/power")" 1

# power-state reads the simulator: change its file behind the BMC's back.
echo 0 > "$IPMI_DIR/power"
run_op "$IPMI_ID" '{"operation": "power-state"}'
expect_eq "power-state reads off" "$(field "$OP" .result.power)" "off"
api GET "/bmcs/$IPMI_ID"
expect_eq "BMC power_state follows power-state" "$(field "$REPLY" .power_state)" "off"
echo 1 > "$IPMI_DIR/power"
run_op "$IPMI_ID" '{"operation": "power-state"}'
expect_eq "power-state reads on" "$(field "$OP" .result.power)" "on"

# Boot once from PXE in UEFI mode: byte 1 valid (0x80) + EFI (0x20), byte 2 PXE 1 << 2.
run_op "$IPMI_ID" '{"operation": "boot", "device": "pxe", "mode": "uefi"}'
expect_eq "boot pxe succeeded" "$(field "$OP" .state)" "succeeded"
expect_eq "boot pxe result" "$(field "$OP" .result)" '{"device":"pxe","mode":"uefi"}'
expect_eq "boot pxe request bytes" "$(last_boot_request)" "05 a0 04 00 00 00"
expect_eq "boot pxe reaches the chassis" "$(tail -n 1 "$IPMI_DIR/chassis.log")" "boot pxe"
expect_contains "ipmitool reads PXE back" "$(ipmitool_sim chassis bootparam get 5)" \
	"Boot Device Selector : Force PXE"
run_op "$IPMI_ID" '{"operation": "boot", "device": "disk", "mode": "legacy"}'
expect_eq "boot disk legacy request bytes" "$(last_boot_request)" "05 80 08 00 00 00"
run_op "$IPMI_ID" '{"operation": "boot", "device": "http"}'
expect_eq "boot http over IPMI fails" "$(field "$OP" .state)" "failed"
expect_contains "boot http error" "$(field "$OP" .error)" "UEFI HTTP boot over IPMI is not supported"
api GET "/bmcs/$IPMI_ID"
expect_eq "a rejected request leaves a reachable BMC ok" "$(field "$REPLY" .status)" ok

# Each operation opens one session: ipmi_sim lists no half-open ones afterwards.
for _ in 1 2 3 4 5; do
	run_op "$IPMI_ID" '{"operation": "power-state"}'
done
expect_eq "no half-open IPMI sessions left" \
	"$(ipmitool_sim session info all | grep -c 'user id *: 0$')" 0

# A read-only Redfish service rejects the reset, and the failure is recorded and audited.
run_op "$RF_TOFU_ID" '{"operation": "power", "action": "off"}'
RF_POWER_ID=$OP_ID
expect_eq "Redfish power off on a read-only mockup failed" "$(field "$OP" .state)" "failed"
expect_contains "Redfish power off error" "$(field "$OP" .error)" \
	"ComputerSystem.Reset on 127.0.0.1: HTTP 404"

# ---- Machine power through the machine's linked BMC ----

api POST /machines '{"macs": ["52:54:00:ab:00:01"], "hostname": "ipmi-node"}'
expect_eq "machine for the IPMI BMC created" "$STATUS" 201
IPMI_MACHINE_ID=$(field "$REPLY" .id)
api POST /machines/52:54:00:ab:00:01/power '{"action": "off"}'
expect_eq "machine power without a BMC" "$STATUS" 409
expect_eq "machine power without a BMC: error code" "$(field "$REPLY" .error)" "no_bmc"
api PATCH "/bmcs/$IPMI_ID" '{"machine": "52:54:00:ab:00:01"}'
expect_eq "PATCH machine link status" "$STATUS" 200
expect_eq "PATCH machine link queues no verify" "$(field "$REPLY" .operation)" "null"
expect_eq "PATCH machine link sets the machine" "$(field "$REPLY" .bmc.machine)" "$IPMI_MACHINE_ID"
api GET "/bmcs?machine=$IPMI_MACHINE_ID"
expect_eq "BMCs of the machine" "$(field "$REPLY" '[.items[].id | tostring] | join(",")')" "$IPMI_ID"

api POST /machines/52:54:00:ab:00:01/power '{"action": "off"}'
expect_eq "machine power off status" "$STATUS" 202
expect_eq "machine power off runs on its BMC" "$(field "$REPLY" .bmc)" "$IPMI_ID"
MACHINE_OFF_ID=$(field "$REPLY" .id)
check "machine power off finishes" wait_op "$MACHINE_OFF_ID"
expect_eq "machine power off succeeded" "$(field "$OP" .state)" "succeeded"
expect_eq "machine power off reaches the simulator" "$(cat "$IPMI_DIR/power")" 0
api POST "/machines/$IPMI_MACHINE_ID/power" '{"action": "on"}'
expect_eq "machine power on by id status" "$STATUS" 202
check "machine power on finishes" wait_op "$(field "$REPLY" .id)"
expect_eq "machine power on reaches the simulator" "$(cat "$IPMI_DIR/power")" 1
expect_rejected "machine power explode" POST "/machines/$IPMI_MACHINE_ID/power" \
	'{"action": "explode"}' action
expect_rejected "machine power unknown key" POST "/machines/$IPMI_MACHINE_ID/power" \
	'{"action": "on", "force": true}' force
api POST /machines/52:54:00:ab:00:99/power '{"action": "on"}'
expect_eq "power of an unknown machine" "$STATUS" 404

# ---- Sensors through both protocols ----

run_op "$IPMI_ID" '{"operation": "sensors"}'
ipmi_sensors=$(field "$OP" .result.sensors)
# Print "kind value unit" of the IPMI sensor named $1, the value rounded to 2 places.
ipmi_sensor() {
	jq -r --arg name "$1" '.[] | select(.name == $name) |
		"\(.kind) \(if .value == null then "null" else (.value * 100 | round) / 100 end) \(.unit)"' \
		<<< "$ipmi_sensors"
}
expect_eq "IPMI sensor count" "$(jq length <<< "$ipmi_sensors")" 6
expect_eq "IPMI temperature" "$(ipmi_sensor "CPU Temp")" "temperature 45 Cel"
expect_eq "IPMI fan" "$(ipmi_sensor "Fan 1")" "fan 3000 RPM"
expect_eq "IPMI voltage" "$(ipmi_sensor "12V Rail")" "voltage 12 V"
expect_eq "IPMI current" "$(ipmi_sensor "PSU Current")" "current 8.5 A"
expect_eq "IPMI power" "$(ipmi_sensor "PSU Power")" "power 300 W"
expect_eq "IPMI sensor without a reading" "$(ipmi_sensor "Inlet Temp")" "temperature null Cel"

run_op "$RF_PINNED_ID" '{"operation": "sensors"}'
rf_sensors=$(field "$OP" .result.sensors)
sensor_dir=$MOCKUP/Chassis/1U/Sensors
mockup_sensors=$(for id in $(jq -r '.Members[]."@odata.id" | split("/") | last' \
	"$sensor_dir/index.json"); do
	cat "$sensor_dir/$id/index.json"
done | jq -sc '[.[] | {name: .Name, value: .Reading, unit: .ReadingUnits}]')
expect_eq "Redfish sensor count" "$(jq length <<< "$rf_sensors")" \
	"$(jq '.Members | length' "$sensor_dir/index.json")"
expect_eq "Redfish sensor readings" "$(jq -r '.[] | "\(.name)=\(.value)"' <<< "$rf_sensors" | sort)" \
	"$(jq -r '.[] | "\(.name)=\(.value)"' <<< "$mockup_sensors" | sort)"
# A sensor without ReadingUnits gets its unit from ReadingType, so only the others count.
expect_eq "Redfish sensor units" \
	"$(jq -r --argjson mockup "$mockup_sensors" \
		'($mockup | map(select(.unit != null) | .name)) as $named
		 | .[] | select(.name as $n | $named | index($n)) | "\(.name)=\(.unit)"' \
		<<< "$rf_sensors" | sort)" \
	"$(jq -r '.[] | select(.unit != null) | "\(.name)=\(.unit)"' <<< "$mockup_sensors" | sort)"

# ---- A dead BMC occupies one worker, so a live BMC's later operation finishes first ----

DEAD_PORT=$(free_port)
enrol_started=$(date +%s%N)
api POST /bmcs "$(ipmi_body 127.0.0.1 "$DEAD_PORT" "$IPMI_PASSWORD")"
expect_eq "enrol the dead BMC" "$STATUS" 202
DEAD_ID=$(field "$REPLY" .bmc.id)
DEAD_VERIFY_ID=$(field "$REPLY" .operation.id)
check "dead BMC's verify starts" wait_state "$DEAD_VERIFY_ID" running
queue_op "$IPMI_ID" '{"operation": "power-state"}'
LIVE_ID=$OP_ID
check "live operation queued after the dead one" test "$LIVE_ID" -gt "$DEAD_VERIFY_ID"
check "live operation finishes" wait_op "$LIVE_ID" 10
expect_eq "live operation succeeded" "$(field "$OP" .state)" "succeeded"
api GET "/bmc-operations/$DEAD_VERIFY_ID"
expect_eq "dead BMC still running when the live one finished" "$(field "$REPLY" .state)" \
	"running"
check "dead BMC's verify finishes" wait_op "$DEAD_VERIFY_ID" 20
elapsed_ms=$((($(date +%s%N) - enrol_started) / 1000000))
expect_eq "dead BMC's verify failed" "$(field "$OP" .state)" "failed"
expect_contains "dead BMC timed out" "$(field "$OP" .error)" \
	"timed out: no valid answer on UDP port $DEAD_PORT"
expect_contains "dead BMC names the timeout" "$(field "$OP" .error)" \
	"gave up after $((TIMEOUT_SECONDS * 1000)) ms"
check "dead BMC waited for the timeout (${elapsed_ms} ms)" \
	test "$elapsed_ms" -ge $((TIMEOUT_SECONDS * 1000 - 500))
api GET "/bmcs/$DEAD_ID"
expect_eq "dead BMC status" "$(field "$REPLY" .status)" "error"
expect_contains "dead BMC status_detail" "$(field "$REPLY" .status_detail)" "timed out"
expect_eq "dead BMC power_state" "$(field "$REPLY" .power_state)" "unknown"

# ---- Batches: reads on many BMCs at once, and every other kind rejected ----

api GET /bmcs
bmc_count=$(field "$REPLY" '.items | length')
expect_eq "BMCs enrolled" "$bmc_count" 6
api POST /bmc-operations '{"operation": "sensors", "bmcs": "all"}'
expect_eq "batch of sensors status" "$STATUS" 202
BATCH=$(field "$REPLY" .batch)
expect_eq "batch covers every BMC" "$(field "$REPLY" .operations)" "$bmc_count"
summary=""
for _ in $(seq 1 200); do
	api GET "/bmc-operations?batch=$BATCH"
	summary=$(field "$REPLY" .summary)
	[ "$(field "$summary" '.queued + .running')" = 0 ] && break
	sleep 0.1
done
expect_eq "batch summary" "$summary" '{"queued":0,"running":0,"succeeded":5,"failed":1}'
expect_eq "batch items" "$(field "$REPLY" '[.items[] | select(.batch == '"$BATCH"' and .operation == "sensors")] | length')" \
	"$bmc_count"
expect_eq "the dead BMC's item failed" \
	"$(field "$REPLY" '[.items[] | select(.state == "failed") | .bmc | tostring] | join(",")')" "$DEAD_ID"

api POST /bmc-operations "$(jq -nc --argjson a "$IPMI_ID" --argjson b "$RF_TOFU_ID" \
	'{operation: "power-state", bmcs: [$a, $b]}')"
expect_eq "batch by ids status" "$STATUS" 202
ID_BATCH=$(field "$REPLY" .batch)
expect_eq "batch by ids size" "$(field "$REPLY" .operations)" 2
check "batch ids differ" test "$ID_BATCH" != "$BATCH"
for _ in $(seq 1 100); do
	api GET "/bmc-operations?batch=$ID_BATCH"
	summary=$(field "$REPLY" .summary)
	[ "$(field "$summary" '.queued + .running')" = 0 ] && break
	sleep 0.1
done
expect_eq "batch by ids summary" "$summary" '{"queued":0,"running":0,"succeeded":2,"failed":0}'

api GET /bmc-operations?limit=1000
ops_before=$(field "$REPLY" '.items | length')
expect_rejected "batch of power" POST /bmc-operations '{"operation": "power", "bmcs": "all"}' \
	"power"
expect_rejected "batch of boot" POST /bmc-operations \
	'{"operation": "boot", "bmcs": "all"}' "boot"
expect_rejected "batch with bmcs some" POST /bmc-operations \
	'{"operation": "sensors", "bmcs": "some"}' bmcs
expect_rejected "batch with an empty list" POST /bmc-operations \
	'{"operation": "sensors", "bmcs": []}' bmcs
expect_rejected "batch with an unknown key" POST /bmc-operations \
	'{"operation": "sensors", "bmcs": "all", "action": "off"}' action
api POST /bmc-operations '{"operation": "sensors", "bmcs": [999999]}'
expect_eq "batch naming an unknown BMC" "$STATUS" 404
api GET /bmc-operations?limit=1000
expect_eq "refused batches queue nothing" "$(field "$REPLY" '.items | length')" "$ops_before"
api GET "/bmc-operations?batch=abc"
expect_eq "batch id not a number" "$STATUS" 400

# ---- Audit trail ----

audit=$(audit_entries)
# Print the audit entry of action $1 whose detail.operation is $2.
audit_of_operation() {
	jq -c --arg action "$1" --argjson op "$2" \
		'[.[] | select(.action == $action and .detail.operation == $op)] | first' \
		<<< "$audit"
}
entry=$(jq -c --arg t "bmc:$IPMI_ID" '[.[] | select(.action == "bmc.enrol" and .target == $t)] | first' \
	<<< "$audit")
expect_eq "bmc.enrol entry risk" "$(field "$entry" .risk)" "change"
expect_eq "bmc.enrol entry actor" "$(field "$entry" .actor)" "token:admin"
expect_eq "bmc.enrol entry outcome" "$(field "$entry" .outcome)" "ok"
expect_eq "bmc.enrol entry names the verify" "$(field "$entry" .detail.verify_operation)" \
	"$IPMI_VERIFY_ID"
expect_eq "bmc.enrol detail has no password" "$(field "$entry" '.detail | has("password")')" false

entry=$(audit_of_operation bmc.power "$POWER_OFF_ID")
expect_eq "bmc.power off risk" "$(field "$entry" .risk)" "destructive"
expect_eq "bmc.power off target" "$(field "$entry" .target)" "bmc:$IPMI_ID"
expect_eq "bmc.power off args" "$(field "$entry" .detail.args)" '{"action":"off"}'
entry=$(audit_of_operation bmc.power "$POWER_ON_ID")
expect_eq "bmc.power on risk" "$(field "$entry" .risk)" "change"
entry=$(audit_of_operation bmc.power "$MACHINE_OFF_ID")
expect_eq "machine power off audited on its BMC" "$(field "$entry" .target)" "bmc:$IPMI_ID"
expect_eq "machine power off risk" "$(field "$entry" .risk)" "destructive"

entry=$(audit_of_operation bmc.power.finished "$POWER_OFF_ID")
expect_eq "bmc.power.finished actor" "$(field "$entry" .actor)" "system:bmc-manager"
expect_eq "bmc.power.finished outcome" "$(field "$entry" .detail.state)" "succeeded"
expect_eq "bmc.power.finished entry recorded" "$(field "$entry" .outcome)" "ok"
entry=$(audit_of_operation bmc.power.finished "$RF_POWER_ID")
expect_eq "failed power audited as failed" "$(field "$entry" .detail.state)" "failed"
expect_contains "failed power audited with its error" "$(field "$entry" .detail.error)" "HTTP 404"
entry=$(jq -c --arg t "bmc-batch:$BATCH" '[.[] | select(.target == $t)] | first' <<< "$audit")
expect_eq "batch audited as one read" "$(field "$entry" '.action + " " + .risk')" "bmc.sensors read"
expect_eq "batch entry counts its operations" "$(field "$entry" .detail.operations)" "$bmc_count"
expect_eq "sensor reads leave no finished entry" \
	"$(jq '[.[] | select(.action == "bmc.sensors.finished")] | length' <<< "$audit")" 0
expect_eq "password PATCH audited once" \
	"$(jq --arg t "bmc:$IPMI6_ID" '[.[] | select(.action == "bmc.update" and .target == $t)] | length' \
		<<< "$audit")" 1

api GET /audit/verify
expect_eq "audit chain intact" "$(field "$REPLY" .intact)" "true"
expect_eq "audit verify counts every entry" "$(field "$REPLY" .entries)" "$(jq length <<< "$audit")"
cli_out=$(OUTPOST_SOCKET=$SOCKET "$OUTPOST" audit verify 2>&1)
check "outpost audit verify exits 0" test $? = 0
expect_contains "outpost audit verify output" "$cli_out" "intact"

# ---- SIGKILL with operations running and queued, which the restart fails ----

queue_op "$DEAD_ID" '{"operation": "power-state"}'
crash_ops=("$OP_ID")
queue_op "$DEAD_ID" '{"operation": "power", "action": "off"}'
crash_ops+=("$OP_ID")
queue_op "$DEAD_ID" '{"operation": "inventory"}'
crash_ops+=("$OP_ID")
check "first interrupted operation runs" wait_state "${crash_ops[0]}" running
api GET "/bmc-operations/${crash_ops[1]}"
expect_eq "second interrupted operation waits" "$(field "$REPLY" .state)" "queued"
kill_daemon
cp "$WORK/daemon.log" "$WORK/daemon-before-crash.log"
start_daemon
for id in "${crash_ops[@]}"; do
	api GET "/bmc-operations/$id"
	expect_eq "interrupted operation $id failed" "$(field "$REPLY" .state)" "failed"
	expect_eq "interrupted operation $id error" "$(field "$REPLY" .error)" "$INTERRUPTED"
	check "interrupted operation $id has finished_at" \
		test "$(field "$REPLY" .finished_at)" != null
done
expect_contains "restart logs the interrupted operations" "$(cat "$WORK/daemon.log")" \
	"failed 3 BMC operations that a stop interrupted"
interrupted=$(audit_entries | jq -c '[.[] | select(.action == "bmc.operations.interrupted")] | last')
expect_eq "restart audits the interrupted operations" "$(field "$interrupted" .detail.failed)" 3
expect_eq "the audit entry lists the interrupted power off" \
	"$(field "$interrupted" '.detail.changes | map(tostring) | join(",")')" "${crash_ops[1]}"
expect_eq "nothing queued or running after the restart" \
	"$(all_operations | jq '[.[] | select(.state == "queued" or .state == "running")] | length')" 0
run_op "$IPMI_ID" '{"operation": "power-state"}'
expect_eq "new operation after the restart succeeded" "$(field "$OP" .state)" "succeeded"
api GET /audit/verify
expect_eq "audit chain intact after the crash" "$(field "$REPLY" .intact)" "true"

# ---- Removing BMCs: their operations stay readable without a BMC ----

api DELETE "/bmcs/$IPMI6_ID"
expect_eq "DELETE status" "$STATUS" 204
api GET "/bmcs/$IPMI6_ID"
expect_eq "removed BMC is gone" "$STATUS" 404
api DELETE "/bmcs/$IPMI6_ID"
expect_eq "second DELETE" "$STATUS" 404
for id in "${IPMI6_VERIFIES[@]}"; do
	api GET "/bmc-operations/$id"
	expect_eq "operation $id of a removed BMC readable" "$STATUS" 200
	expect_eq "operation $id of a removed BMC has bmc null" "$(field "$REPLY" .bmc)" "null"
	expect_eq "operation $id keeps its kind" "$(field "$REPLY" .operation)" "verify"
done
api GET "/bmc-operations/${IPMI6_VERIFIES[0]}"
expect_eq "removed BMC's failed verify stays failed" "$(field "$REPLY" .state)" "failed"
api GET "/bmc-operations/${IPMI6_VERIFIES[1]}"
expect_eq "removed BMC's verify keeps its result" "$(field "$REPLY" .result.system.serial)" \
	"SN-1234"
expect_eq "removal audited" \
	"$(audit_entries | jq -r --arg t "bmc:$IPMI6_ID" '[.[] | select(.target == $t)] | last | .action')" \
	"bmc.remove"

# Removing a BMC while one operation runs and one waits: the waiting one fails without
# running, and the running one is recorded when it ends.
queue_op "$DEAD_ID" '{"operation": "power-state"}'
running_id=$OP_ID
queue_op "$DEAD_ID" '{"operation": "events"}'
waiting_id=$OP_ID
check "operation of the BMC to remove runs" wait_state "$running_id" running
api DELETE "/bmcs/$DEAD_ID"
expect_eq "DELETE of a busy BMC" "$STATUS" 204
check "waiting operation of a removed BMC finishes" wait_op "$waiting_id" 10
expect_eq "waiting operation of a removed BMC failed" "$(field "$OP" .state)" "failed"
expect_contains "waiting operation names the removal" "$(field "$OP" .error)" "was removed"
check "running operation of a removed BMC finishes" wait_op "$running_id" 10
expect_eq "running operation of a removed BMC failed" "$(field "$OP" .state)" "failed"
expect_contains "running operation of a removed BMC timed out" "$(field "$OP" .error)" "timed out"
expect_eq "running operation of a removed BMC has bmc null" "$(field "$OP" .bmc)" "null"

# ---- Passwords never leave the seal: store, WAL, logs, replies ----

# Each password with a name for the failure message, never the password itself.
declare -A passwords=(["IPMI password"]=$IPMI_PASSWORD ["wrong IPMI password"]=$WRONG_PASSWORD
	["Redfish password 1"]=${RF_PASSWORDS[0]} ["Redfish password 2"]=${RF_PASSWORDS[1]}
	["Redfish password 3"]=${RF_PASSWORDS[2]})

# Check that no password is in any of the files that exist. Usage: passwords_absent WHEN
passwords_absent() {
	local name file
	for name in "${!passwords[@]}"; do
		for file in "$WORK/state/outpost.db" "$WORK/state/outpost.db-wal" \
			"$WORK/daemon-before-crash.log" "$WORK/daemon.log" "$REPLIES"; do
			[ -e "$file" ] || continue
			check "$name not in $(basename "$file") $1" \
				test "$(grep -acF -- "${passwords[$name]}" "$file")" = 0
		done
	done
}

check "password search finds a password where it is" \
	grep -aqF -- "$IPMI_PASSWORD" "$IPMI_DIR/lan.conf"
check "the store file exists" test -s "$WORK/state/outpost.db"
check "the WAL file exists while the daemon runs" test -s "$WORK/state/outpost.db-wal"
passwords_absent "while the daemon runs"

api GET /audit/verify
expect_eq "audit chain intact at the end" "$(field "$REPLY" .intact)" "true"

check "daemon stops cleanly" stop_daemon
check "no sanitizer report in the daemon log" \
	sh -c "! grep -qE 'Sanitizer|runtime error' '$WORK/daemon-before-crash.log' '$WORK/daemon.log'"
passwords_absent "after the stop"

finish
