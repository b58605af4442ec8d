#!/bin/bash
# `outpost bmc` and `outpost machine power` against `outpost serve` and a Redfish BMC:
# nginx serving the DMTF public-rackmount1 mockup read-only over HTTPS (bmc_lib.sh).
# Expected values come from the mockup's files with jq. nginx rejects POST and PATCH,
# so every write operation fails with the status nginx returns.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bmc_lib.sh"

require_programs nginx jq openssl curl ps

write_config "[bmc]" "workers = 2" "timeout_seconds = 10"
start_daemon
mockup_start
export OUTPOST_SOCKET=$SOCKET
unset OUTPOST_BMC_PASSWORD OUTPOST_TOKEN

PASSWORD="cli-pw-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$PASSWORD" > "$WORK/password"
chmod 600 "$WORK/password"
OUT=$WORK/out
mkdir -p "$OUT"

# Run the CLI with stdout in $OUT/NAME.out and stderr in $OUT/NAME.err; sets RC.
run() {
	local name=$1
	shift
	"$OUTPOST" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
	RC=$?
}

# Lines of the table in $OUT/NAME.out after the header, as "COLUMN1=COLUMN3" with the
# columns split at two or more spaces. Usage: table_pairs NAME
table_pairs() {
	tail -n +2 "$OUT/$1.out" | awk -F'  +' '{ print $1 "=" $3 }' | sort
}

# bmc add with trust on first use, while ps is sampled for the password.
"$OUTPOST" bmc add --protocol redfish --address 127.0.0.1 --port "$MOCKUP_PORT" \
	--user admin --password-file "$WORK/password" --tls tofu \
	> "$OUT/add.out" 2> "$OUT/add.err" &
add_pid=$!
: > "$OUT/ps"
while kill -0 "$add_pid" 2> /dev/null; do
	ps -eo args >> "$OUT/ps"
done
wait "$add_pid"
expect_eq "bmc add exit code" "$?" 0
expect_contains "add shows the learned fingerprint" "$(cat "$OUT/add.out")" \
	"fingerprint:   $MOCKUP_FINGERPRINT"
expect_contains "add shows status ok" "$(cat "$OUT/add.out")" "status:        ok"
BMC_ID=$(sed -n 's/^id: *//p' "$OUT/add.out")
MACHINE_ID=$(sed -n 's/^machine: *//p' "$OUT/add.out")
check "add shows the BMC id" test -n "$BMC_ID"
check "verify linked a machine" test "$MACHINE_ID" -gt 0

# The machine that verify linked has the mockup's serial.
expect_eq "linked machine's serial" \
	"$(api_unix GET "/api/v1/machines/$MACHINE_ID" | jq -r .serial)" \
	"$(jq -r .SerialNumber "$MOCKUP_SYSTEM/index.json")"

# show and list read back what add stored and what verify learned.
run show bmc show "$BMC_ID" --json
expect_eq "show exit code" "$RC" 0
expect_eq "show fingerprint" "$(jq -r .fingerprint "$OUT/show.out")" "$MOCKUP_FINGERPRINT"
expect_eq "show port" "$(jq -r .port "$OUT/show.out")" "$MOCKUP_PORT"
expect_eq "show tls" "$(jq -r .tls "$OUT/show.out")" "tofu"
expect_eq "show power" "$(jq -r .power_state "$OUT/show.out")" \
	"$(jq -r .PowerState "$MOCKUP_SYSTEM/index.json" | tr 'A-Z' 'a-z')"
check "show has no password field" sh -c "! jq -e 'has(\"password\")' '$OUT/show.out' > /dev/null"
run list bmc list
expect_eq "list exit code" "$RC" 0
expect_eq "list header" "$(head -n 1 "$OUT/list.out" | tr -s ' ')" \
	"ID PROTOCOL ADDRESS STATUS POWER MACHINE"
expect_eq "list row" "$(sed -n 2p "$OUT/list.out" | tr -s ' ')" \
	"$BMC_ID redfish 127.0.0.1:$MOCKUP_PORT ok on $MACHINE_ID"
run list_machine bmc list --machine "$MACHINE_ID" --json
expect_eq "list --machine" "$(jq -r '[.items[].id] | join(",")' "$OUT/list_machine.out")" "$BMC_ID"

# Sensors: every member of the chassis's Sensors collection, with its reading.
expected=""
for member in $(jq -r '.Members[]."@odata.id"' "$MOCKUP/Chassis/1U/Sensors/index.json"); do
	expected+=$(jq -r '"\(.Name)=\(.Reading)"' "$MOCKUP/${member#/redfish/v1/}/index.json")
	expected+=$'\n'
done
expected=$(sort <<< "${expected%$'\n'}")
run sensors_json bmc sensors "$BMC_ID" --json
expect_eq "sensors --json exit code" "$RC" 0
expect_eq "sensors --json state" "$(jq -r .state "$OUT/sensors_json.out")" "succeeded"
expect_eq "sensor readings equal the mockup's" \
	"$(jq -r '.result.sensors[] | "\(.name)=\(.value)"' "$OUT/sensors_json.out" | sort)" \
	"$expected"
run sensors bmc sensors "$BMC_ID"
expect_eq "sensors exit code" "$RC" 0
expect_eq "sensors table header" "$(head -n 1 "$OUT/sensors.out" | tr -s ' ')" "NAME KIND VALUE UNIT"
expect_eq "sensor table equals the mockup's" "$(table_pairs sensors)" \
	"$(sed 's/=null$/=-/' <<< "$expected" | sort)"

# Power state through the BMC and through the machine.
power=$(jq -r .PowerState "$MOCKUP_SYSTEM/index.json" | tr 'A-Z' 'a-z')
run power_status bmc power "$BMC_ID" status
expect_eq "power status exit code" "$RC" 0
expect_eq "power status" "$(cat "$OUT/power_status.out")" "power: $power"
run machine_status machine power "$MACHINE_ID" status
expect_eq "machine power status exit code" "$RC" 0
expect_eq "machine power status" "$(cat "$OUT/machine_status.out")" "power: $power"

# Inventory and virtual media read back the mockup's values.
run inventory bmc inventory "$BMC_ID"
expect_eq "inventory exit code" "$RC" 0
expect_contains "inventory serial" "$(cat "$OUT/inventory.out")" \
	"serial:       $(jq -r .SerialNumber "$MOCKUP_SYSTEM/index.json")"
run media bmc media "$BMC_ID" status
expect_eq "media status exit code" "$RC" 0
expect_contains "media image" "$(cat "$OUT/media.out")" \
	"image:    $(jq -r .Image "$MOCKUP_SYSTEM/VirtualMedia/CD1/index.json")"

# An operation that fails: nginx serves no Reset action, so power on gets HTTP 404.
run power_on bmc power "$BMC_ID" on
expect_eq "failed power on exits 1" "$RC" 1
expect_eq "failed power on prints nothing on stdout" "$(cat "$OUT/power_on.out")" ""
expect_contains "failed power on names the BMC's error" "$(cat "$OUT/power_on.err")" \
	"POST /redfish/v1/Systems/437XR1138R2/Actions/ComputerSystem.Reset on 127.0.0.1: HTTP 404"
op_id=$(sed -n 's/.*operation \([0-9]*\) failed.*/\1/p' "$OUT/power_on.err")
run power_on_op bmc operation "$op_id" --json
expect_eq "failed operation's state" "$(jq -r .state "$OUT/power_on_op.out")" "failed"
expect_eq "failed operation's action" "$(jq -r .args.action "$OUT/power_on_op.out")" "on"
run machine_off machine power "$MACHINE_ID" off --yes
expect_eq "failed machine power off exits 1" "$RC" 1
expect_contains "machine power off names the BMC's error" "$(cat "$OUT/machine_off.err")" \
	"ComputerSystem.Reset on 127.0.0.1: HTTP 404"
run boot bmc boot "$BMC_ID" pxe --mode uefi
expect_eq "failed boot exits 1" "$RC" 1
expect_contains "boot names the BMC's error" "$(cat "$OUT/boot.err")" "HTTP 405"

# --no-wait prints the operation id, which bmc operation then follows.
run no_wait bmc sensors "$BMC_ID" --no-wait
expect_eq "--no-wait exit code" "$RC" 0
no_wait_id=$(cat "$OUT/no_wait.out")
check "--no-wait prints an operation id" grep -qxE '[0-9]+' "$OUT/no_wait.out"
state=""
for _ in $(seq 1 100); do
	"$OUTPOST" bmc operation "$no_wait_id" --json > "$OUT/no_wait_op.out" 2>&1
	state=$(jq -r .state "$OUT/no_wait_op.out")
	[ "$state" = succeeded ] || [ "$state" = failed ] && break
	sleep 0.1
done
expect_eq "--no-wait operation succeeded" "$state" "succeeded"
expect_eq "--no-wait operation kind" "$(jq -r .operation "$OUT/no_wait_op.out")" "sensors"

# Local checks: nothing is sent, exit code 2, and the message names the value.
audit_before=$(api_unix GET /api/v1/status | jq .audit_entries)
run destructive bmc power "$BMC_ID" off
expect_eq "power off without --yes exits 2" "$RC" 2
expect_contains "power off without --yes says why" "$(cat "$OUT/destructive.err")" "Add --yes"
run file_url bmc media "$BMC_ID" insert file:///etc/passwd
expect_eq "file URL exits 2" "$RC" 2
expect_contains "file URL named" "$(cat "$OUT/file_url.err")" "'file:///etc/passwd'"
run bad_id bmc show one
expect_eq "bad id exits 2" "$RC" 2
expect_contains "bad id named" "$(cat "$OUT/bad_id.err")" "invalid BMC id 'one'"
run password_arg bmc set "$BMC_ID" --password "$PASSWORD"
expect_eq "--password exits 2" "$RC" 2
expect_eq "no request for local errors" "$(api_unix GET /api/v1/status | jq .audit_entries)" \
	"$audit_before"

# A duplicate endpoint conflicts; an unknown BMC is not found.
OUTPOST_BMC_PASSWORD=$PASSWORD run duplicate bmc add --protocol redfish \
	--address 127.0.0.1 --port "$MOCKUP_PORT" --user admin --tls tofu
expect_eq "duplicate add exits 4" "$RC" 4
run unknown bmc show 999999
expect_eq "unknown BMC exits 3" "$RC" 3

# bmc set with a pinned wrong fingerprint: the verify fails, and the error names it.
run set_pin bmc set "$BMC_ID" --tls pinned --fingerprint "$(printf '%064d' 0)"
expect_eq "verify with a wrong pin exits 1" "$RC" 1
expect_contains "wrong pin explained" "$(cat "$OUT/set_pin.err")" "its verify operation"
run set_back bmc set "$BMC_ID" --tls pinned --fingerprint "$MOCKUP_FINGERPRINT"
expect_eq "verify with the right pin exits 0" "$RC" 0
expect_contains "status ok again" "$(cat "$OUT/set_back.out")" "status:        ok"

# The password appears in no command line, log or output.
check "password not in ps" sh -c "! grep -qF -- '$PASSWORD' '$OUT/ps'"
check "ps was sampled while add ran" grep -q "bmc add" "$OUT/ps"
check "password not in the daemon log" sh -c "! grep -qF -- '$PASSWORD' '$WORK/daemon.log'"
check "password not in any output" sh -c "! grep -rqF -- '$PASSWORD' '$OUT'/*.out '$OUT'/*.err"

# rm removes the BMC; its operations stay readable.
run rm bmc rm "$BMC_ID"
expect_eq "rm exit code" "$RC" 0
expect_eq "rm output" "$(cat "$OUT/rm.out")" "BMC $BMC_ID removed"
run list_empty bmc list --json
expect_eq "list after rm" "$(jq '.items | length' "$OUT/list_empty.out")" 0
run op_after_rm bmc operation "$no_wait_id" --json
expect_eq "operation readable after rm" "$(jq -r .state "$OUT/op_after_rm.out")" "succeeded"
run machine_no_bmc machine power "$MACHINE_ID" on
expect_eq "machine without a BMC exits 4" "$RC" 4

finish
