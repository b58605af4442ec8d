#!/bin/bash
# The Redfish BMC emulator, outpost-redfish-sim, on 127.0.0.1 with a self-signed
# certificate, checked with curl and jq. The checks cover sessions and their limit,
# 401s, ETag and If-Match, collection paging, sensor PATCH, update task progress,
# malformed bodies, both VirtualMedia profiles and state kept across a restart.
# test_qemu_power starts one small QEMU guest (no disk, -nic none) through the
# emulator and checks power and virtual media over QMP. It is skipped only when
# qemu-system-x86_64 is missing.
. "$(dirname "$0")/lib.sh"

SIM=${OUTPOST_REDFISH_SIM:-$(dirname "$OUTPOST")/outpost-redfish-sim}
PASSWORD="pw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
QMP="$WORK/qmp.sock"
SKIPS=0
PORT=""
STARTS=0
HTTP_PID=""
trap 'http_stop; cleanup' EXIT

if [ ! -x "$SIM" ]; then
	echo "FAIL: $TEST_NAME: $SIM is missing; build it with make" >&2
	exit 1
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 2>/dev/null
printf '%s\n' "$PASSWORD" > "$WORK/password"
# One QEMU argument per line, as the lab writes them. The NIC has no network backend
# and no option ROM; it is there for the boot order checks. The lab's -qmp and
# -daemonize must be dropped by the emulator.
printf '%s\n' -machine pc,graphics=off -accel tcg -m 256 -nodefaults -display none \
	-nic none -smbios type=1,serial=SIM-0001 \
	-device virtio-net-pci,mac=52:54:00:5e:00:01,romfile=,bootindex=1 \
	-qmp "unix:$WORK/lab-qmp.sock,server=on,wait=off" -daemonize > "$WORK/qemu.args"

# Start the emulator and wait for its ready line; sets PORT and SIM_LOG, a log file of
# its own for each start. Usage: sim_start [profile]
sim_start() {
	STARTS=$((STARTS + 1))
	SIM_LOG="$WORK/sim-$STARTS.log"
	"$SIM" --listen 127.0.0.1:0 --cert "$WORK/cert.pem" --key "$WORK/key.pem" \
		--user admin --password-file "$WORK/password" --qemu-args "$WORK/qemu.args" \
		--qmp "$QMP" --state-dir "$WORK/state" --profile "${1:-generic}" \
		2> "$SIM_LOG" &
	DAEMON_PID=$!
	for _ in $(seq 1 100); do
		grep -q "outpost-redfish-sim ready" "$SIM_LOG" && break
		if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			echo "FAIL: $TEST_NAME: emulator exited during start-up; log:" >&2
			cat "$SIM_LOG" >&2
			DAEMON_PID=""
			exit 1
		fi
		sleep 0.05
	done
	PORT=$(sed -n 's/.*ready port=\([0-9]*\).*/\1/p' "$SIM_LOG")
	if [ -z "$PORT" ]; then
		echo "FAIL: $TEST_NAME: no ready line; log:" >&2
		cat "$SIM_LOG" >&2
		exit 1
	fi
}

# One request; the body goes to $WORK/body, the headers to $WORK/headers and the status
# to stdout. Usage: req METHOD PATH [curl args...]
req() {
	local method=$1 path=$2
	shift 2
	curl -sS --cacert "$WORK/cert.pem" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' \
		-X "$method" "https://127.0.0.1:$PORT$path" "$@"
}

# req with HTTP Basic authentication as the configured user.
areq() {
	req "$@" -u "admin:$PASSWORD"
}

# A jq filter over the last reply's body.
body() {
	jq -r "$1" "$WORK/body"
}

# A header of the last reply, without its CR.
header() {
	sed -n "s/^$1: *//Ip" "$WORK/headers" | tr -d '\r'
}

# The MessageId of the last error reply, without the registry version.
message_id() {
	body '.error."@Message.ExtendedInfo"[0].MessageId' | sed 's/^Base\.[0-9]*\.[0-9]*\.//'
}

# Log in; sets AUTH_TOKEN to the X-Auth-Token and SESSION_URI to the Location, both
# empty when the login fails.
login() {
	local code
	AUTH_TOKEN=""
	SESSION_URI=""
	code=$(req POST /redfish/v1/SessionService/Sessions -H 'Content-Type: application/json' \
		-d "{\"UserName\": \"admin\", \"Password\": \"$PASSWORD\"}")
	[ "$code" = 201 ] || return 0
	SESSION_URI=$(header Location)
	AUTH_TOKEN=$(header X-Auth-Token)
}

# Invalid options stop the start with a message that names the value.
test_start_errors() {
	local out status
	out=$("$SIM" --listen 127.0.0.1:0 --cert "$WORK/cert.pem" --key "$WORK/key.pem" \
		--user admin --password-file "$WORK/password" --qemu-args "$WORK/qemu.args" \
		--qmp "$QMP" --state-dir "$WORK/state" --profile bogus 2>&1)
	status=$?
	expect_eq "invalid profile exit status" "$status" 1
	expect_contains "invalid profile message" "$out" "invalid --profile bogus"
	out=$("$SIM" --listen 127.0.0.1:0 --cert "$WORK/cert.pem" --key "$WORK/key.pem" \
		--user admin --password-file "$WORK/nothing" --qemu-args "$WORK/qemu.args" \
		--qmp "$QMP" --state-dir "$WORK/state" 2>&1)
	status=$?
	expect_eq "missing password file exit status" "$status" 1
	expect_contains "missing password file message" "$out" "$WORK/nothing"
	out=$("$SIM" --listen 127.0.0.1:0 2>&1)
	status=$?
	expect_eq "missing options exit status" "$status" 2
	expect_contains "missing options message" "$out" "usage: outpost-redfish-sim"
}

test_service_root_and_auth() {
	expect_eq "service root without credentials" "$(req GET /redfish/v1)" 200
	expect_eq "service root Systems link" "$(body '.Systems."@odata.id"')" /redfish/v1/Systems
	expect_eq "service root Sessions link" "$(body '.Links.Sessions."@odata.id"')" \
		/redfish/v1/SessionService/Sessions
	expect_eq "service root with trailing slash" "$(req GET /redfish/v1/)" 200
	expect_eq "OData-Version header" "$(header OData-Version)" 4.0

	expect_eq "system without credentials" "$(req GET /redfish/v1/Systems/1)" 401
	expect_eq "401 message" "$(message_id)" NoValidSession
	expect_eq "401 error code" "$(body .error.code)" Base.1.16.GeneralError
	expect_eq "system with a wrong password" \
		"$(req GET /redfish/v1/Systems/1 -u admin:wrong)" 401
	expect_eq "system with a wrong user" \
		"$(req GET /redfish/v1/Systems/1 -u root:"$PASSWORD")" 401
	expect_eq "system with an unknown token" \
		"$(req GET /redfish/v1/Systems/1 -H 'X-Auth-Token: 0123456789abcdef')" 401
	expect_eq "system with basic authentication" "$(areq GET /redfish/v1/Systems/1)" 200
	expect_eq "system power state before any power on" "$(body .PowerState)" Off
	expect_eq "system serial from -smbios" "$(body .SerialNumber)" SIM-0001
	expect_eq "boot mode of a BIOS machine" "$(body .Boot.BootSourceOverrideMode)" Legacy
	areq GET "$(body '.EthernetInterfaces."@odata.id"')/1" > /dev/null
	expect_eq "NIC MAC from -device" "$(body .MACAddress)" 52:54:00:5e:00:01
	expect_contains "lab's -daemonize dropped" "$(cat "$SIM_LOG")" "dropping -daemonize"
	expect_contains "lab's -qmp dropped" "$(cat "$SIM_LOG")" "dropping -qmp unix:$WORK/lab-qmp.sock"
}

test_sessions() {
	local token code

	code=$(req POST /redfish/v1/SessionService/Sessions -H 'Content-Type: application/json' \
		-d '{"UserName": "admin", "Password": "wrong"}')
	expect_eq "login with a wrong password" "$code" 401
	expect_eq "login with a wrong password message" "$(message_id)" NoValidSession

	login
	token=$AUTH_TOKEN
	check "login succeeds" test -n "$token"
	expect_eq "token is 64 hex digits" "$(printf '%s' "$token" | grep -cE '^[0-9a-f]{64}$')" 1
	expect_contains "Location names the session" "$SESSION_URI" /redfish/v1/SessionService/Sessions/
	expect_eq "session body UserName" "$(body .UserName)" admin
	expect_eq "system with the token" \
		"$(req GET /redfish/v1/Systems/1 -H "X-Auth-Token: $token")" 200
	expect_eq "sessions collection" \
		"$(req GET /redfish/v1/SessionService/Sessions -H "X-Auth-Token: $token")" 200
	expect_eq "sessions collection count" "$(body '."Members@odata.count"')" 1
	expect_eq "sessions collection member" "$(body '.Members[0]."@odata.id"')" "$SESSION_URI"
	expect_eq "logout" "$(req DELETE "$SESSION_URI" -H "X-Auth-Token: $token")" 204
	expect_eq "token after logout" \
		"$(req GET /redfish/v1/Systems/1 -H "X-Auth-Token: $token")" 401
	expect_eq "deleted session is gone" "$(areq GET "$SESSION_URI")" 404

	# Four sessions fit; the fifth login gets SessionLimitExceeded until one logs out.
	local uris=()
	for i in 1 2 3 4; do
		login
		check "login $i of 4" test -n "$AUTH_TOKEN"
		uris+=("$SESSION_URI")
	done
	code=$(req POST /redfish/v1/SessionService/Sessions -H 'Content-Type: application/json' \
		-d "{\"UserName\": \"admin\", \"Password\": \"$PASSWORD\"}")
	expect_eq "login past the session limit" "$code" 503
	expect_eq "session limit message" "$(message_id)" SessionLimitExceeded
	expect_eq "logout frees a session" "$(areq DELETE "${uris[0]}")" 204
	login
	check "login after a logout" test -n "$AUTH_TOKEN"
	for uri in "${uris[@]:1}" "$SESSION_URI"; do
		areq DELETE "$uri" > /dev/null
	done
	areq GET /redfish/v1/SessionService/Sessions > /dev/null
	expect_eq "all sessions closed" "$(body '."Members@odata.count"')" 0
}

test_system_etag() {
	local etag new_etag

	expect_eq "system" "$(areq GET /redfish/v1/Systems/1)" 200
	etag=$(header ETag)
	expect_eq "ETag header equals @odata.etag" "$(body '."@odata.etag"')" "$etag"
	expect_eq "boot target allowable values" \
		"$(body '.Boot."BootSourceOverrideTarget@Redfish.AllowableValues" | join(",")')" \
		None,Pxe,Cd,Hdd
	expect_eq "boot enabled allowable values" \
		"$(body '.Boot."BootSourceOverrideEnabled@Redfish.AllowableValues" | join(",")')" \
		Disabled,Once,Continuous
	expect_eq "reset target" "$(body '.Actions."#ComputerSystem.Reset".target')" \
		/redfish/v1/Systems/1/Actions/ComputerSystem.Reset
	expect_eq "reset action info link" \
		"$(body '.Actions."#ComputerSystem.Reset"."@Redfish.ActionInfo"')" \
		/redfish/v1/Systems/1/ResetActionInfo
	expect_eq "reset action info" "$(areq GET /redfish/v1/Systems/1/ResetActionInfo)" 200
	expect_eq "reset types" "$(body '.Parameters[0].AllowableValues | join(",")')" \
		On,ForceOn,ForceOff,GracefulShutdown,ForceRestart,PowerCycle

	expect_eq "PATCH with a stale If-Match" "$(areq PATCH /redfish/v1/Systems/1 \
		-H 'If-Match: "0000000000000000"' \
		-d '{"Boot": {"BootSourceOverrideTarget": "Cd"}}')" 412
	expect_eq "412 message" "$(message_id)" PreconditionFailed
	areq GET /redfish/v1/Systems/1 > /dev/null
	expect_eq "a rejected PATCH changes nothing" "$(body .Boot.BootSourceOverrideTarget)" None

	expect_eq "PATCH with the current If-Match" "$(areq PATCH /redfish/v1/Systems/1 \
		-H "If-Match: $etag" -d '{"Boot": {"BootSourceOverrideEnabled": "Once",
		"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideMode": "UEFI"}}')" 200
	expect_eq "PATCH sets the target" "$(body .Boot.BootSourceOverrideTarget)" Pxe
	expect_eq "PATCH sets enabled" "$(body .Boot.BootSourceOverrideEnabled)" Once
	expect_eq "PATCH sets the mode" "$(body .Boot.BootSourceOverrideMode)" UEFI
	new_etag=$(header ETag)
	check "ETag changes with the resource" test "$new_etag" != "$etag"
	expect_eq "PATCH with the old ETag" "$(areq PATCH /redfish/v1/Systems/1 \
		-H "If-Match: $etag" -d '{"Boot": {"BootSourceOverrideTarget": "Hdd"}}')" 412
	expect_eq "PATCH without If-Match" "$(areq PATCH /redfish/v1/Systems/1 \
		-d '{"Boot": {"BootSourceOverrideEnabled": "Disabled"}}')" 200
	expect_eq "PATCH without If-Match applies" "$(body .Boot.BootSourceOverrideEnabled)" Disabled
}

test_malformed_input() {
	local big

	expect_eq "malformed JSON" "$(areq PATCH /redfish/v1/Systems/1 -d '{"Boot": ')" 400
	expect_eq "malformed JSON message" "$(message_id)" MalformedJSON
	expect_eq "JSON array body" "$(areq PATCH /redfish/v1/Systems/1 -d '[1]')" 400
	expect_eq "JSON array body message" "$(message_id)" MalformedJSON
	expect_eq "empty object" "$(areq PATCH /redfish/v1/Systems/1 -d '{}')" 400
	expect_eq "empty object message" "$(message_id)" EmptyJSON
	expect_eq "unknown property" "$(areq PATCH /redfish/v1/Systems/1 -d '{"AssetTag": "x"}')" 400
	expect_eq "unknown property message" "$(message_id)" PropertyUnknown
	expect_eq "unknown property named" \
		"$(body '.error."@Message.ExtendedInfo"[0].RelatedProperties[0]')" "#/AssetTag"
	expect_eq "unknown nested property" \
		"$(areq PATCH /redfish/v1/Systems/1 -d '{"Boot": {"Colour": "red"}}')" 400
	expect_eq "unknown nested property argument" \
		"$(body '.error."@Message.ExtendedInfo"[0].MessageArgs[0]')" Boot/Colour
	expect_eq "wrong type" "$(areq PATCH /redfish/v1/Systems/1 \
		-d '{"Boot": {"BootSourceOverrideTarget": 5}}')" 400
	expect_eq "wrong type message" "$(message_id)" PropertyValueTypeError
	expect_eq "wrong type arguments" \
		"$(body '.error."@Message.ExtendedInfo"[0].MessageArgs | join(" ")')" \
		"5 Boot/BootSourceOverrideTarget"
	expect_eq "object where a string belongs" \
		"$(areq PATCH /redfish/v1/Systems/1 -d '{"Boot": "Cd"}')" 400
	expect_eq "value not in the list" "$(areq PATCH /redfish/v1/Systems/1 \
		-d '{"Boot": {"BootSourceOverrideTarget": "Floppy"}}')" 400
	expect_eq "value not in the list message" "$(message_id)" PropertyValueNotInList
	expect_eq "duplicate key" "$(areq PATCH /redfish/v1/Systems/1 \
		-d '{"Boot": {}, "Boot": {}}')" 400
	expect_eq "duplicate key message" "$(message_id)" MalformedJSON

	expect_eq "reset type not in the list" "$(areq POST \
		/redfish/v1/Systems/1/Actions/ComputerSystem.Reset -d '{"ResetType": "Explode"}')" 400
	expect_eq "reset type not in the list message" "$(message_id)" ActionParameterValueNotInList
	expect_eq "reset without ResetType" \
		"$(areq POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset -d '{}')" 400
	expect_eq "reset without ResetType message" "$(message_id)" ActionParameterMissing
	expect_eq "reset with an unknown parameter" "$(areq POST \
		/redfish/v1/Systems/1/Actions/ComputerSystem.Reset \
		-d '{"ResetType": "On", "Delay": 5}')" 400
	expect_eq "reset with an unknown parameter message" "$(message_id)" ActionParameterUnknown
	expect_eq "reset type of the wrong type" "$(areq POST \
		/redfish/v1/Systems/1/Actions/ComputerSystem.Reset -d '{"ResetType": true}')" 400
	expect_eq "reset type of the wrong type message" "$(message_id)" ActionParameterValueTypeError

	# 70 KiB: past the 64 KiB limit, rejected before the body is read.
	big=$(head -c 71680 /dev/zero | tr '\0' 'a')
	expect_eq "body over 64 KiB" "$(areq PATCH /redfish/v1/Systems/1 \
		-d "{\"Boot\": {\"BootSourceOverrideTarget\": \"$big\"}}")" 413
	expect_contains "body over 64 KiB message" "$(body .error.message)" "65536 bytes"
	expect_eq "string over 1024 bytes" "$(areq PATCH /redfish/v1/Systems/1 \
		-d "{\"Boot\": {\"BootSourceOverrideTarget\": \"${big:0:2000}\"}}")" 400
	expect_eq "string over 1024 bytes message" "$(message_id)" StringValueTooLong

	expect_eq "unknown resource" "$(areq GET /redfish/v1/Systems/2)" 404
	expect_eq "unknown resource message" "$(message_id)" ResourceMissingAtURI
	expect_eq "unknown resource argument" \
		"$(body '.error."@Message.ExtendedInfo"[0].MessageArgs[0]')" /redfish/v1/Systems/2
	expect_eq "path outside /redfish" "$(areq GET /index.html)" 404
	expect_eq "unknown path without credentials" "$(req GET /redfish/v1/Nothing)" 401
	expect_eq "DELETE on the system" "$(areq DELETE /redfish/v1/Systems/1)" 405
	expect_eq "405 Allow header" "$(header Allow)" "GET, HEAD, PATCH"
	expect_eq "unknown sensor" "$(areq PATCH /redfish/v1/Chassis/1/Sensors/Nope \
		-d '{"Reading": 1}')" 404
}

test_collection_paging() {
	local next ids="" pages=0

	expect_eq "sensors first page" "$(areq GET /redfish/v1/Chassis/1/Sensors)" 200
	expect_eq "sensors count" "$(body '."Members@odata.count"')" 9
	expect_eq "sensors first page size" "$(body '.Members | length')" 4
	expect_eq "sensors next link" "$(body '."Members@odata.nextLink"')" \
		'/redfish/v1/Chassis/1/Sensors?$skip=4'
	# Follow every next link, as a client must, and collect the members.
	next=/redfish/v1/Chassis/1/Sensors
	while [ -n "$next" ] && [ "$next" != null ] && [ "$pages" -lt 10 ]; do
		areq GET "$next" > /dev/null
		ids="$ids $(body '.Members[]."@odata.id"' | sed 's|.*/||' | tr '\n' ' ')"
		next=$(body '."Members@odata.nextLink"')
		pages=$((pages + 1))
	done
	expect_eq "sensor pages" "$pages" 3
	expect_eq "sensor members over all pages" "$(printf '%s\n' $ids | sort -u | wc -l)" 9
	expect_contains "sensor members include CPU1Temp" "$ids" CPU1Temp
	expect_eq "last page has no next link" "$(body '."Members@odata.nextLink"')" null
	expect_eq "last page size" "$(body '.Members | length')" 1
	expect_eq "\$skip that is not a number" "$(areq GET '/redfish/v1/Chassis/1/Sensors?$skip=x')" 400
	expect_eq "\$skip message" "$(message_id)" QueryParameterValueTypeError
	expect_eq "\$skip past the end" "$(areq GET '/redfish/v1/Chassis/1/Sensors?$skip=50')" 200
	expect_eq "\$skip past the end is empty" "$(body '.Members | length')" 0
	expect_eq "firmware inventory" "$(areq GET /redfish/v1/UpdateService/FirmwareInventory)" 200
	expect_eq "firmware inventory members" \
		"$(body '[.Members[]."@odata.id"] | join(" ")')" \
		"/redfish/v1/UpdateService/FirmwareInventory/BIOS /redfish/v1/UpdateService/FirmwareInventory/BMC"
}

test_sensor_patch() {
	expect_eq "sensor PATCH" "$(areq PATCH /redfish/v1/Chassis/1/Sensors/CPU1Temp \
		-d '{"Reading": 71.5}')" 200
	expect_eq "sensor PATCH reply" "$(body .Reading)" 71.5
	areq GET /redfish/v1/Chassis/1/Sensors/CPU1Temp > /dev/null
	expect_eq "sensor reading" "$(body .Reading)" 71.5
	expect_eq "sensor units" "$(body .ReadingUnits)" Cel
	areq GET /redfish/v1/Chassis/1/Thermal > /dev/null
	expect_eq "Thermal shows the reading" \
		"$(body '.Temperatures[] | select(.Name == "CPU #1 Temperature") | .ReadingCelsius')" 71.5
	areq PATCH /redfish/v1/Chassis/1/Sensors/CPUFan2 -d '{"Reading": 1200}' > /dev/null
	areq GET /redfish/v1/Chassis/1/Thermal > /dev/null
	expect_eq "Thermal fan reading" \
		"$(body '.Fans[] | select(.Name == "CPU Fan #2") | .Reading')" 1200

	areq PATCH /redfish/v1/Chassis/1/Sensors/TotalPower -d '{"Reading": 250}' > /dev/null
	areq PATCH /redfish/v1/Chassis/1/Sensors/PS1InputVoltage -d '{"Reading": 228}' > /dev/null
	areq GET /redfish/v1/Chassis/1/Power > /dev/null
	expect_eq "Power consumed watts" "$(body '.PowerControl[0].PowerConsumedWatts')" 250
	expect_eq "Power voltage" "$(body '.Voltages[0].ReadingVolts')" 228
	expect_eq "Power supply input voltage" "$(body '.PowerSupplies[0].LineInputVoltage')" 228

	expect_eq "sensor PATCH with a string" "$(areq PATCH \
		/redfish/v1/Chassis/1/Sensors/CPU1Temp -d '{"Reading": "hot"}')" 400
	expect_eq "sensor PATCH with a string message" "$(message_id)" PropertyValueTypeError
	expect_eq "sensor PATCH of another property" "$(areq PATCH \
		/redfish/v1/Chassis/1/Sensors/CPU1Temp -d '{"Reading": 1, "ReadingUnits": "K"}')" 400
	expect_eq "sensor PATCH of another property message" "$(message_id)" PropertyUnknown
	areq GET /redfish/v1/Chassis/1/Sensors/CPU1Temp > /dev/null
	expect_eq "rejected sensor PATCH changes nothing" "$(body .Reading)" 71.5
}

test_update_task() {
	local monitor state=""

	areq GET /redfish/v1/UpdateService/FirmwareInventory/BIOS > /dev/null
	expect_eq "BIOS version before the update" "$(body .Version)" 1.0.0
	expect_eq "SimpleUpdate without ImageURI" "$(areq POST \
		/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate -d '{}')" 400
	expect_eq "SimpleUpdate without ImageURI message" "$(message_id)" ActionParameterMissing
	expect_eq "SimpleUpdate" "$(areq POST \
		/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate \
		-d '{"ImageURI": "http://192.0.2.1/bios.bin", "TransferProtocol": "HTTP"}')" 202
	monitor=$(header Location)
	expect_eq "SimpleUpdate task monitor" "$monitor" /redfish/v1/TaskService/TaskMonitors/1
	expect_eq "task state at start" "$(body .TaskState)" Running
	expect_eq "task monitor while running" "$(areq GET "$monitor")" 202
	expect_eq "task while running" "$(areq GET /redfish/v1/TaskService/Tasks/1)" 200
	expect_eq "task state while running" "$(body .TaskState)" Running
	# The task completes after 3 s; wait at most 10 s.
	for _ in $(seq 1 50); do
		areq GET /redfish/v1/TaskService/Tasks/1 > /dev/null
		state=$(body .TaskState)
		[ "$state" = Completed ] && break
		sleep 0.2
	done
	expect_eq "task completes" "$state" Completed
	expect_eq "task percent" "$(body .PercentComplete)" 100
	expect_eq "task monitor once completed" "$(areq GET "$monitor")" 200
	areq GET /redfish/v1/UpdateService/FirmwareInventory/BIOS > /dev/null
	expect_eq "BIOS version after the update" "$(body .Version)" 1.0.1
	areq GET /redfish/v1/Systems/1 > /dev/null
	expect_eq "system BIOS version after the update" "$(body .BiosVersion)" 1.0.1
	areq GET /redfish/v1/TaskService/Tasks > /dev/null
	expect_eq "task collection" "$(body '.Members[0]."@odata.id"')" /redfish/v1/TaskService/Tasks/1
}

# A minimal HTTP server on 127.0.0.1 for the images: socat runs $WORK/httpd.sh for
# each connection, which serves a file from $WORK/www or sends 404. It picks a random
# port and retries when the port is taken. Sets HTTP_PORT and HTTP_PID.
http_start() {
	mkdir -p "$WORK/www"
	cat > "$WORK/httpd.sh" <<'HTTPD'
#!/bin/bash
read -r method path _
while read -r line && [ "${line%$'\r'}" != "" ]; do :; done
file="$WWW/${path#/}"
if [ "$method" = GET ] && [ -f "$file" ] && [ "${path#*..}" = "$path" ]; then
	printf 'HTTP/1.0 200 OK\r\nContent-Length: %s\r\n\r\n' "$(stat -c %s "$file")"
	cat "$file"
else
	printf 'HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n'
fi
HTTPD
	chmod +x "$WORK/httpd.sh"
	for _ in 1 2 3 4 5; do
		HTTP_PORT=$((20000 + RANDOM % 40000))
		WWW="$WORK/www" socat "TCP-LISTEN:$HTTP_PORT,bind=127.0.0.1,reuseaddr,fork" \
			"EXEC:$WORK/httpd.sh" 2> /dev/null &
		HTTP_PID=$!
		sleep 0.3
		kill -0 "$HTTP_PID" 2> /dev/null && return 0
	done
	echo "FAIL: $TEST_NAME: cannot start socat as an HTTP server on 127.0.0.1" >&2
	exit 1
}

http_stop() {
	[ -n "$HTTP_PID" ] || return 0
	kill "$HTTP_PID" 2> /dev/null
	wait "$HTTP_PID" 2> /dev/null
	HTTP_PID=""
}

# A tiny ISO 9660 image at $ISO, also served as /tiny.iso.
make_iso() {
	ISO="$WORK/www/tiny.iso"
	mkdir -p "$WORK/iso" "$WORK/www"
	echo "outpost redfish emulator test" > "$WORK/iso/README.TXT"
	genisoimage -quiet -V OUTPOSTTEST -o "$ISO" "$WORK/iso"
}

# Usage: test_media_profile PROFILE MEDIA_BASE OTHER_BASE
test_media_profile() {
	local profile=$1 base=$2 other=$3 url="http://127.0.0.1:$HTTP_PORT/tiny.iso"

	expect_eq "$profile: CD1" "$(areq GET "$base/CD1")" 200
	expect_eq "$profile: CD1 empty" "$(body .Inserted)" false
	expect_eq "$profile: CD1 not connected" "$(body .ConnectedVia)" NotConnected
	expect_eq "$profile: insert action target" \
		"$(body '.Actions."#VirtualMedia.InsertMedia".target')" \
		"$base/CD1/Actions/VirtualMedia.InsertMedia"
	expect_eq "$profile: no CD1 at the other place" "$(areq GET "$other/CD1")" 404
	expect_eq "$profile: collection" "$(areq GET "$base")" 200
	expect_eq "$profile: collection member" "$(body '.Members[0]."@odata.id"')" "$base/CD1"
	expect_eq "$profile: insert with an ftp URL" "$(areq POST \
		"$base/CD1/Actions/VirtualMedia.InsertMedia" -d '{"Image": "ftp://127.0.0.1/a.iso"}')" 400
	expect_eq "$profile: ftp URL message" "$(message_id)" ActionParameterValueFormatError
	expect_eq "$profile: insert a missing image" "$(areq POST \
		"$base/CD1/Actions/VirtualMedia.InsertMedia" \
		-d "{\"Image\": \"http://127.0.0.1:$HTTP_PORT/missing.iso\"}")" 500
	expect_contains "$profile: missing image message" "$(body .error.message)" "HTTP status 404"
	areq GET "$base/CD1" > /dev/null
	expect_eq "$profile: failed insert leaves CD1 empty" "$(body .Inserted)" false

	expect_eq "$profile: insert while off" "$(areq POST \
		"$base/CD1/Actions/VirtualMedia.InsertMedia" \
		-d "{\"Image\": \"$url\", \"Inserted\": true}")" 204
	expect_eq "$profile: image fetched" "$(sha256sum < "$WORK/state/media.iso")" \
		"$(sha256sum < "$ISO")"
	areq GET "$base/CD1" > /dev/null
	expect_eq "$profile: inserted" "$(body .Inserted)" true
	expect_eq "$profile: image" "$(body .Image)" "$url"
	expect_eq "$profile: connected" "$(body .ConnectedVia)" URI
	expect_eq "$profile: eject" "$(areq POST "$base/CD1/Actions/VirtualMedia.EjectMedia" \
		-d '{}')" 204
	areq GET "$base/CD1" > /dev/null
	expect_eq "$profile: ejected" "$(body .Inserted)" false
	expect_eq "$profile: image after eject" "$(body .Image)" null
}

test_profiles() {
	make_iso
	http_start
	areq GET /redfish/v1/Systems/1 > /dev/null
	expect_eq "generic: system links VirtualMedia" "$(body '.VirtualMedia."@odata.id"')" \
		/redfish/v1/Systems/1/VirtualMedia
	areq GET /redfish/v1/Managers/BMC > /dev/null
	expect_eq "generic: manager has no VirtualMedia" "$(body .VirtualMedia)" null
	test_media_profile generic /redfish/v1/Systems/1/VirtualMedia /redfish/v1/Managers/BMC/VirtualMedia

	check "stop for the vm-under-manager profile" stop_daemon
	sim_start vm-under-manager
	areq GET /redfish/v1/Managers/BMC > /dev/null
	expect_eq "vm-under-manager: manager links VirtualMedia" "$(body '.VirtualMedia."@odata.id"')" \
		/redfish/v1/Managers/BMC/VirtualMedia
	areq GET /redfish/v1/Systems/1 > /dev/null
	expect_eq "vm-under-manager: system has no VirtualMedia" "$(body .VirtualMedia)" null
	test_media_profile vm-under-manager /redfish/v1/Managers/BMC/VirtualMedia \
		/redfish/v1/Systems/1/VirtualMedia

	# The BIOS version and the boot override survive the restart.
	areq GET /redfish/v1/UpdateService/FirmwareInventory/BIOS > /dev/null
	expect_eq "BIOS version after a restart" "$(body .Version)" 1.0.1
	areq GET /redfish/v1/Systems/1 > /dev/null
	expect_eq "boot mode after a restart" "$(body .Boot.BootSourceOverrideMode)" UEFI
	http_stop
}

# 20 clients at once, each with 5 requests, all get 200: the workers share one mutex.
test_parallel_clients() {
	local ok pids=()
	for i in $(seq 1 20); do
		curl -sS --cacert "$WORK/cert.pem" -u "admin:$PASSWORD" \
			-w '%{http_code}\n' --max-time 20 \
			-o /dev/null "https://127.0.0.1:$PORT/redfish/v1/Systems/1" \
			-o /dev/null "https://127.0.0.1:$PORT/redfish/v1/Chassis/1/Thermal" \
			-o /dev/null "https://127.0.0.1:$PORT/redfish/v1/Chassis/1/Sensors?\$skip=4" \
			-o /dev/null "https://127.0.0.1:$PORT/redfish/v1/UpdateService/FirmwareInventory/BIOS" \
			-o /dev/null "https://127.0.0.1:$PORT/redfish/v1/Managers/BMC" \
			> "$WORK/parallel-$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	ok=$(cat "$WORK"/parallel-* | grep -c '^200$')
	expect_eq "parallel requests all succeed" "$ok" 100
}

test_access_log() {
	local log
	log=$(cat "$WORK"/sim-*.log)
	expect_contains "access log line" "$log" \
		'method=GET path="/redfish/v1/Systems/1" status=200'
	expect_contains "access log of a 401" "$log" \
		'method=GET path="/redfish/v1/Systems/1" status=401'
	expect_contains "access log of a 413" "$log" 'method=PATCH path="/redfish/v1/Systems/1" status=413'
	expect_eq "log without the password" "$(grep -c -- "$PASSWORD" <<< "$log")" 0
	expect_eq "log without any token" "$(grep -cE '[0-9a-f]{64}' <<< "$log")" 0
}

# ---- QEMU ----

# Send QMP commands to the guest's socket and print the reply to the last one.
qmp() {
	local input='{"execute": "qmp_capabilities"}'
	for command in "$@"; do
		input="$input"$'\n'"$command"
	done
	printf '%s\n' "$input" | timeout 10 socat -t 1 - "UNIX-CONNECT:$QMP" |
		grep '"return"' | tail -n 1
}

qemu_pid() {
	pgrep -P "$DAEMON_PID" -x qemu-system-x86 || pgrep -P "$DAEMON_PID" qemu-system
}

power_state() {
	areq GET /redfish/v1/Systems/1 > /dev/null
	body .PowerState
}

# Wait at most 10 s for the system's PowerState to become $1.
wait_power_state() {
	for _ in $(seq 1 50); do
		[ "$(power_state)" = "$1" ] && return 0
		sleep 0.2
	done
	return 1
}

reset() {
	areq POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset -d "{\"ResetType\": \"$1\"}"
}

test_qemu_power() {
	local pid new_pid block iso nic_id

	if ! command -v qemu-system-x86_64 > /dev/null; then
		echo "SKIP: $TEST_NAME: test_qemu_power: qemu-system-x86_64 is not installed" \
			"(install qemu-system-x86); power and virtual media are untested" >&2
		SKIPS=$((SKIPS + 1))
		return
	fi
	make_iso
	http_start
	iso="$WORK/state/media.iso"

	expect_eq "power on" "$(reset On)" 204
	expect_eq "power state on" "$(power_state)" On
	pid=$(qemu_pid)
	check "QEMU runs as the emulator's child" test -n "$pid"
	expect_eq "guest is running" "$(qmp '{"execute": "query-status"}' | jq -r .return.status)" running
	expect_eq "second power on is a no-op" "$(reset On)" 204
	expect_eq "second power on keeps QEMU" "$(qemu_pid)" "$pid"

	expect_eq "insert media while on" "$(areq POST \
		/redfish/v1/Systems/1/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia \
		-d "{\"Image\": \"http://127.0.0.1:$HTTP_PORT/tiny.iso\"}")" 204
	block=$(qmp '{"execute": "query-block"}')
	expect_eq "ISO in query-block" "$(printf '%s' "$block" |
		jq -r '.return[] | select(.qdev | test("rfsim-cd0")) | .inserted.file')" "$iso"
	expect_eq "CD is read-only" "$(printf '%s' "$block" |
		jq -r '.return[] | select(.qdev | test("rfsim-cd0")) | .inserted.ro')" true

	expect_eq "ForceRestart without override" "$(reset ForceRestart)" 204
	expect_eq "ForceRestart keeps QEMU" "$(qemu_pid)" "$pid"
	expect_eq "power state after ForceRestart" "$(power_state)" On

	# A pending one-time override restarts QEMU with the CD first, then clears it.
	areq PATCH /redfish/v1/Systems/1 -d '{"Boot": {"BootSourceOverrideEnabled": "Once",
		"BootSourceOverrideTarget": "Cd"}}' > /dev/null
	expect_eq "ForceRestart with a CD override" "$(reset ForceRestart)" 204
	new_pid=$(qemu_pid)
	check "ForceRestart with an override starts a new QEMU" test -n "$new_pid" -a "$new_pid" != "$pid"
	expect_contains "new QEMU boots the CD once" "$(tr '\0' ' ' < /proc/"$new_pid"/cmdline)" \
		"-boot once=d"
	expect_contains "CD has bootindex 0 at start" "$(tr '\0' ' ' < /proc/"$new_pid"/cmdline)" \
		"id=rfsim-cd0,bus=ide.1,bootindex=0"
	expect_contains "NIC moves behind the CD at start" \
		"$(tr '\0' ' ' < /proc/"$new_pid"/cmdline)" ",romfile=,id=rfsim-boot"
	nic_id=$(tr '\0' '\n' < /proc/"$new_pid"/cmdline | sed -n 's/^virtio-net-pci,.*id=\(rfsim-boot[0-9]*\),bootindex=2$/\1/p')
	check "NIC has bootindex 2 at start" test -n "$nic_id"
	expect_eq "NIC bootindex is back to 1 for later reboots" "$(qmp "{\"execute\": \"qom-get\",
		\"arguments\": {\"path\": \"/machine/peripheral/$nic_id\", \"property\": \"bootindex\"}}" |
		jq -r .return)" 1
	expect_eq "CD bootindex is back to none for later reboots" "$(qmp '{"execute": "qom-get",
		"arguments": {"path": "/machine/peripheral/rfsim-cd0", "property": "bootindex"}}' |
		jq -r .return)" -1
	areq GET /redfish/v1/Systems/1 > /dev/null
	expect_eq "one-time override is cleared" "$(body .Boot.BootSourceOverrideEnabled)" Disabled
	block=$(qmp '{"execute": "query-block"}')
	expect_eq "ISO still inserted after the restart" "$(printf '%s' "$block" |
		jq -r '.return[] | select(.qdev | test("rfsim-cd0")) | .inserted.file')" "$iso"

	expect_eq "eject while on" "$(areq POST \
		/redfish/v1/Systems/1/VirtualMedia/CD1/Actions/VirtualMedia.EjectMedia -d '{}')" 204
	block=$(qmp '{"execute": "query-block"}')
	expect_eq "no medium after eject" "$(printf '%s' "$block" |
		jq -r '.return[] | select(.qdev | test("rfsim-cd0")) | .inserted')" null

	expect_eq "insert a file:// image while on" "$(areq POST \
		/redfish/v1/Systems/1/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia \
		-d "{\"Image\": \"file://$ISO\"}")" 204
	block=$(qmp '{"execute": "query-block"}')
	expect_eq "file:// image in query-block" "$(printf '%s' "$block" |
		jq -r '.return[] | select(.qdev | test("rfsim-cd0")) | .inserted.file')" "$ISO"

	expect_eq "GracefulShutdown" "$(reset GracefulShutdown)" 204

	# The guest powering itself off ends QEMU; the emulator notices.
	pid=$(qemu_pid)
	qmp '{"execute": "quit"}' > /dev/null
	check "guest power-off is noticed" wait_power_state Off
	check "QEMU is reaped" test -z "$(qemu_pid)"

	expect_eq "power on again" "$(reset On)" 204
	pid=$(qemu_pid)
	expect_eq "PowerCycle" "$(reset PowerCycle)" 204
	new_pid=$(qemu_pid)
	check "PowerCycle starts a new QEMU" test -n "$new_pid" -a "$new_pid" != "$pid"
	expect_eq "ForceOff" "$(reset ForceOff)" 204
	expect_eq "power state off" "$(power_state)" Off
	check "QEMU is gone after ForceOff" test ! -e "/proc/$new_pid"
	expect_eq "ForceOff when off" "$(reset ForceOff)" 204

	# Stopping the emulator stops its QEMU.
	expect_eq "power on before stopping" "$(reset On)" 204
	pid=$(qemu_pid)
	check "stop the emulator" stop_daemon
	check "QEMU stops with the emulator" test ! -e "/proc/$pid"
	http_stop
	sim_start
}

test_start_errors
sim_start
test_service_root_and_auth
test_sessions
test_system_etag
test_malformed_input
test_collection_paging
test_sensor_patch
test_update_task
test_profiles
test_parallel_clients
check "stop for the QEMU tests" stop_daemon
sim_start
test_qemu_power
test_access_log

if [ "$SKIPS" -gt 0 ]; then
	echo "$TEST_NAME: $SKIPS test function(s) skipped, which counts as not passed"
fi
finish
