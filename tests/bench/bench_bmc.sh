#!/bin/bash
# Benchmark 10, BMC sensors: Outpost reads the sensors of 500 emulated Redfish BMCs in
# one batch (POST /api/v1/bmc-operations {"operation": "sensors", "bmcs": "all"}).
# Targets: the batch finishes within 10 s, and Outpost's peak RSS (VmHWM) stays at most
# 64 MiB. With 10 of the BMCs dead, the other 490 finish in about the same time (at
# most 1.2 times the all-live time), and the dead ones fail with a timeout error.
#
# The BMCs are outpost-redfish-sim in fleet mode (src/redfishsim/fleet.c) on core 1:
# BMC n listens on 10.201.0.0 + n, port 443, on the loopback interface of a network
# namespace that this script creates. Outpost runs in the same namespace on core 0 with
# [bmc] workers = 16, and the CLI side reaches it over its unix socket. The 500 BMCs
# are enrolled through POST /api/v1/bmcs with tls "pinned" to the emulator's key.
#
# The reference is bmcref (tests/bench/bmcref.c) on core 0 in the namespace: the
# requests the Redfish driver sends for one sensors operation, 17 per BMC, over
# libcurl's multi interface with 16 BMCs at a time, like Outpost's 16 workers. Its
# readings are the expected values: every reading Outpost returns is compared with
# them, and three BMCs' readings are also fetched from the emulator with curl.
#
# Each run takes both measures, all live and then with dead BMCs, restarting the
# emulator in between. Dead BMCs: 50, 100, ..., 250 accept TCP connections and never
# send a byte (--stall). SYNs to 300, 350, ..., 500 get no reply, because their
# addresses are removed from the loopback interface and the namespace routes
# 10.201.0.0/16 to a neighbour that does not exist.
. "$(dirname "$0")/lib.sh"

BMCS=500
WORKERS=16
# [bmc] timeout_seconds: a dead BMC's operation fails after this, retries included.
OPERATION_TIMEOUT_S=10
STALLED=50,100,150,200,250
ABSENT=300,350,400,450,500
DEAD_COUNT=10
# Failed operations each emulator mode must give.
declare -A EXPECT_FAILED=([live]=0 [dead]=$DEAD_COUNT)
TARGET_SECONDS=10
TARGET_RSS_MIB=64
# "About the same time": the 490 live BMCs with 10 dead, over all 500 live.
TARGET_DEAD_RATIO=1.2
# The maximum time a batch may take before the run is abandoned: three times the
# timeout of the dead operations plus a margin.
BATCH_LIMIT_S=$((OPERATION_TIMEOUT_S * 3 + 30))
ENROL_LIMIT_S=180

NETNS=outpost-bmc-$$
BMC_USER="admin"
SIM=$(dirname "$OUTPOST")/outpost-redfish-sim
REFERENCE=$BIN/bmcref
FLEET_PID=""
NETNS_CREATED=""

bmc_cleanup() {
	stop_fleet
	cleanup
	if [ -n "$NETNS_CREATED" ]; then
		ip netns del "$NETNS" 2>/dev/null
	fi
}
trap bmc_cleanup EXIT

check_tools() {
	local tool
	for tool in ip jq openssl curl taskset; do
		command -v "$tool" > /dev/null ||
			die "$tool not found; install the build, test and bench groups:" \
				"tools/deps.sh build test bench"
	done
	[ "$(id -u)" -eq 0 ] || die "must run as root, because it creates a network namespace"
	[ -x "$SIM" ] || die "$SIM is missing; build it with make (the all target)"
	[ -x "$REFERENCE" ] ||
		die "$REFERENCE is missing; run BENCH_ONLY=bmc tests/bench/run.sh, which builds it"
}

# BMC n's address, 10.201.0.0 + n.
bmc_address() {
	echo "10.201.$(($1 / 256)).$(($1 % 256))"
}

# Create the namespace with the BMC addresses on its loopback interface. The rest of
# 10.201.0.0/16 goes through a veth pair to a neighbour whose MAC address no interface
# has, so SYNs to a removed address are dropped without a reply.
netns_up() {
	local n
	ip netns add "$NETNS" || die "failed to create the network namespace $NETNS"
	NETNS_CREATED=1
	ip -n "$NETNS" link set lo up || die "failed to bring up lo in $NETNS"
	for n in $(seq 1 "$BMCS"); do
		echo "address add $(bmc_address "$n")/32 dev lo"
	done > "$WORK/addresses.batch"
	ip -n "$NETNS" -batch "$WORK/addresses.batch" ||
		die "failed to add the $BMCS BMC addresses in $NETNS"
	if ! ip -n "$NETNS" link add bh0 type veth peer name bh1 ||
		! ip -n "$NETNS" link set bh0 up || ! ip -n "$NETNS" link set bh1 up ||
		! ip -n "$NETNS" route add 10.201.0.0/16 via 10.202.0.2 dev bh0 onlink ||
		! ip -n "$NETNS" neigh replace 10.202.0.2 lladdr 02:00:00:00:00:02 dev bh0 \
			nud permanent; then
		die "failed to route 10.201.0.0/16 to a missing neighbour in $NETNS"
	fi
	say "namespace $NETNS: $BMCS BMC addresses from $(bmc_address 1) to $(bmc_address "$BMCS")"
}

# The emulator's P-256 certificate, its curl pin (sha256//base64) and the fingerprint
# Outpost pins (the SHA-256 of the public key, 64 hex digits).
make_certificate() {
	local dir=$WORK/fleet
	mkdir -p "$dir"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=outpost-bench-bmc -keyout "$dir/key.pem" -out "$dir/cert.pem" \
		2> "$dir/openssl.log" || die "openssl failed to make a certificate: $(cat "$dir/openssl.log")"
	openssl x509 -in "$dir/cert.pem" -pubkey -noout |
		openssl pkey -pubin -outform DER > "$dir/spki.der" ||
		die "openssl failed to extract the public key of $dir/cert.pem"
	PIN="sha256//$(openssl dgst -sha256 -binary "$dir/spki.der" | base64)"
	FINGERPRINT=$(sha256sum "$dir/spki.der" | cut -d ' ' -f 1)
	PASSWORD_FILE=$dir/password
	echo "bench-$$-$RANDOM" > "$PASSWORD_FILE"
	chmod 600 "$PASSWORD_FILE"
}

# Start the emulator on CLIENT_CPU with extra fleet options in "$@" and wait for its
# ready line. Sets FLEET_PID.
start_fleet() {
	local log=$WORK/fleet/fleet.log
	: > "$log"
	# taskset and ip netns exec both exec the next program, so $! is the emulator's PID.
	taskset -c "$CLIENT_CPU" ip netns exec "$NETNS" "$SIM" --fleet "$BMCS" \
		--listen "$(bmc_address 1):443" --cert "$WORK/fleet/cert.pem" \
		--key "$WORK/fleet/key.pem" --user "$BMC_USER" --password-file "$PASSWORD_FILE" \
		--log-level notice "$@" 2>> "$log" &
	FLEET_PID=$!
	for _ in $(seq 1 200); do
		grep -q "outpost-redfish-sim ready" "$log" && break
		if ! kill -0 "$FLEET_PID" 2>/dev/null; then
			FLEET_PID=""
			die "the emulator exited during start-up: $(tail -n 5 "$log")"
		fi
		sleep 0.05
	done
	grep -q "outpost-redfish-sim ready" "$log" ||
		die "timed out: no ready line from the emulator within 10 s; see $log"
	say "emulator pid=$FLEET_PID: $BMCS BMCs${*:+, $*}"
}

stop_fleet() {
	stop_child FLEET_PID
}

# Start Outpost on SERVER_CPU inside the namespace with the [bmc] settings of the
# benchmark, and wait for its ready line. Sets OUTPOST_PID, SOCKET and OUTPOST_LOG.
start_bmc_outpost() {
	local dir=$WORK/outpost
	mkdir -p "$dir/state" "$dir/artifacts"
	cat > "$dir/outpost.conf" <<CONF
[log]
level = info
[store]
state_dir = $dir/state
artifact_dir = $dir/artifacts
[boot]
listen = 127.0.0.1:0
url = http://127.0.0.1:8080
templates = $TREE/bootenv/ipxe
[api]
listen = 127.0.0.1:0
socket = $dir/outpost.sock
[bmc]
workers = $WORKERS
timeout_seconds = $OPERATION_TIMEOUT_S
CONF
	OUTPOST_LOG=$dir/daemon.log
	SOCKET=$dir/outpost.sock
	: > "$OUTPOST_LOG"
	taskset -c "$SERVER_CPU" ip netns exec "$NETNS" "$OUTPOST" serve \
		--config "$dir/outpost.conf" 2>> "$OUTPOST_LOG" &
	OUTPOST_PID=$!
	for _ in $(seq 1 200); do
		grep -q "outpost ready" "$OUTPOST_LOG" && break
		if ! kill -0 "$OUTPOST_PID" 2>/dev/null; then
			OUTPOST_PID=""
			die "outpost exited during start-up: $(tail -n 20 "$OUTPOST_LOG")"
		fi
		sleep 0.05
	done
	grep -q "outpost ready" "$OUTPOST_LOG" ||
		die "timed out: no ready line from outpost within 10 s; see $OUTPOST_LOG"
	say "outpost pid=$OUTPOST_PID in $NETNS, [bmc] workers=$WORKERS" \
		"timeout_seconds=$OPERATION_TIMEOUT_S"
}

# One API request on the unix socket from CLIENT_CPU. The body goes to $WORK/api.out;
# dies unless the status is EXPECTED. Call it outside $(...), so that die ends the
# script. Usage: api EXPECTED METHOD PATH [JSON]
api() {
	local expected=$1 method=$2 path=$3 body=${4:-} status
	local -a data=()
	[ -z "$body" ] || data=(-H 'Content-Type: application/json' -d "$body")
	status=$(taskset -c "$CLIENT_CPU" curl -sS -m 30 --unix-socket "$SOCKET" \
		-o "$WORK/api.out" -w '%{http_code}' -X "$method" "${data[@]}" \
		"http://localhost$path") || die "$method $path failed: curl could not reach $SOCKET"
	[ "$status" = "$expected" ] ||
		die "$method $path returned HTTP $status, expected $expected: $(head -c 400 "$WORK/api.out")"
}

# Print the number of log lines after line AFTER that contain PATTERN.
log_count() {
	tail -n "+$(($1 + 1))" "$OUTPOST_LOG" | grep -c -- "$2"
}

# Enrol the BMCs with one curl process over one connection, then wait until every
# verify operation has succeeded. Writes $WORK/bmcs.json, {"ID": "ADDRESS:443"}.
enrol_bmcs() {
	local config=$WORK/enrol.curl n accepted before started=$SECONDS verified=0
	before=$(wc -l < "$OUTPOST_LOG")
	# The requests carry the password, so only root may read the file.
	(
		umask 077
		for n in $(seq 1 "$BMCS"); do
			[ "$n" -eq 1 ] || echo next
			printf 'unix-socket = "%s"\nurl = "http://localhost/api/v1/bmcs"\n' "$SOCKET"
			printf 'max-time = 30\nheader = "Content-Type: application/json"\n'
			printf 'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n'
			# A JSON string literal is also a valid quoted string in curl's config.
			jq -rn --arg address "$(bmc_address "$n")" --arg user "$BMC_USER" \
				--rawfile password "$PASSWORD_FILE" --arg fingerprint "$FINGERPRINT" \
				'{protocol: "redfish", address: $address, port: 443, username: $user,
				  password: ($password | rtrimstr("\n")), tls: "pinned",
				  fingerprint: $fingerprint} | "data = " + (tojson | tojson)'
		done > "$config"
	)
	accepted=$(taskset -c "$CLIENT_CPU" curl -sS -K "$config" | grep -c '^202$')
	[ "$accepted" -eq "$BMCS" ] || die "POST /api/v1/bmcs accepted $accepted of $BMCS BMCs"

	while [ $((SECONDS - started)) -lt "$ENROL_LIMIT_S" ]; do
		verified=$(log_count "$before" "BMC operation succeeded.*kind=verify")
		[ "$(log_count "$before" "BMC operation failed.*kind=verify")" -eq 0 ] ||
			die "a verify operation failed: $(tail -n "+$((before + 1))" "$OUTPOST_LOG" |
				grep -m 1 "BMC operation failed.*kind=verify")"
		[ "$verified" -eq "$BMCS" ] && break
		sleep 0.5
	done
	[ "$verified" -eq "$BMCS" ] ||
		die "timed out: $verified of $BMCS verify operations succeeded within $ENROL_LIMIT_S s"
	say "enrolled $BMCS BMCs; their verify operations took $((SECONDS - started)) s"
	api 200 GET /api/v1/bmcs
	jq -e --argjson n "$BMCS" '.items | length == $n' "$WORK/api.out" > /dev/null ||
		die "GET /api/v1/bmcs did not list the $BMCS BMCs: $(head -c 300 "$WORK/api.out")"
	jq '.items | map({key: (.id | tostring), value: "\(.address):\(.port)"}) | from_entries' \
		"$WORK/api.out" > "$WORK/bmcs.json"
}

# Epoch milliseconds of a daemon log line's UTC timestamp, such as
# 2026-12-05T01:25:58.929Z.
log_ms() {
	date -d "${1%% *}" +%s%3N
}

# Compare the readings in TSV file $1 (ADDRESS:PORT, name, value) with the reference's
# in $2: the same sensors of the same BMCs with the same values. Dies on a difference.
readings_compare() {
	awk -F'\t' '
		NR == FNR { want[$1 FS $2] = $3; count++; next }
		{
			got++
			key = $1 FS $2
			if (!(key in want)) { print "unexpected reading " $1 " " $2; bad++; next }
			d = $3 - want[key]
			if (d > 1e-9 || d < -1e-9) { print "reading " key ": " $3 ", expected " want[key]; bad++ }
			seen[key] = 1
		}
		END {
			for (key in want) if (!(key in seen)) { print "missing reading " key; bad++ }
			if (bad) exit 1
		}' "$2" "$1" > "$WORK/compare.out" ||
		die "Outpost's readings differ from the reference's ($(wc -l < "$WORK/compare.out")" \
			"differences): $(head -n 3 "$WORK/compare.out")"
}

# Check three BMCs' readings in the reference's file against the emulator itself,
# fetched with curl and HTTP Basic authentication.
spot_check() {
	local n address sensor name reading expected
	for n in 1 137 499; do
		address=$(bmc_address "$n")
		for sensor in CPU1Temp CPUFan2 PS1InputCurrent; do
			taskset -c "$CLIENT_CPU" ip netns exec "$NETNS" curl -sS -m 10 -k \
				-u "$BMC_USER:$(cat "$PASSWORD_FILE")" -o "$WORK/sensor.json" \
				"https://$address/redfish/v1/Chassis/1/Sensors/$sensor" ||
				die "cannot read $sensor from BMC $n at $address"
			IFS=$'\t' read -r name reading < <(jq -r '[.Name, .Reading] | @tsv' "$WORK/sensor.json")
			expected=$(awk -F'\t' -v k="$address:443" -v n="$name" \
				'$1 == k && $2 == n { print $3 }' "$WORK/reference-live.tsv")
			awk -v a="$reading" -v b="$expected" \
				'BEGIN { exit !(b != "" && a - b < 1e-9 && b - a < 1e-9) }' ||
				die "BMC $n reports $sensor=$reading, the reference read \"$expected\""
		done
	done
	say "spot check: 9 readings from the emulator match the reference's"
}

# Read the sensors of all BMCs once with Outpost, with the emulator in MODE. Sets ALL_S
# (batch start to its last operation's end) and LIVE_S (to the last successful
# operation's end), in seconds, and TIMEOUTS (failed operations that name a timeout).
outpost_run() {
	local expect_failed=${EXPECT_FAILED[$MODE]} before start batch summary state line
	local last_ok last_any
	local deadline=$((SECONDS + BATCH_LIMIT_S))
	before=$(wc -l < "$OUTPOST_LOG")
	start=$(now_ms)
	api 202 POST /api/v1/bmc-operations '{"operation": "sensors", "bmcs": "all"}'
	batch=$(jq -r --argjson n "$BMCS" 'if .operations == $n then .batch else empty end' \
		"$WORK/api.out")
	[ -n "$batch" ] || die "the sensors batch did not queue $BMCS operations: $(cat "$WORK/api.out")"
	while :; do
		api 200 GET "/api/v1/bmc-operations?batch=$batch&limit=1"
		summary=$(jq -c .summary "$WORK/api.out")
		state=$(jq -r '"\(.queued) \(.running)"' <<<"$summary")
		[ "$state" = "0 0" ] && break
		[ "$SECONDS" -lt "$deadline" ] ||
			die "timed out: batch $batch unfinished after $BATCH_LIMIT_S s: $summary"
		sleep 0.05
	done
	jq -e --argjson ok $((BMCS - expect_failed)) --argjson failed "$expect_failed" \
		'.succeeded == $ok and .failed == $failed' <<<"$summary" > /dev/null ||
		die "batch $batch: expected $((BMCS - expect_failed)) succeeded and" \
			"$expect_failed failed operations, got $summary; see $OUTPOST_LOG"

	line=$(tail -n "+$((before + 1))" "$OUTPOST_LOG" | grep "BMC operation succeeded.*kind=sensors" |
		tail -n 1)
	last_ok=$(log_ms "$line")
	line=$(tail -n "+$((before + 1))" "$OUTPOST_LOG" |
		grep -E "BMC operation (succeeded|failed).*kind=sensors" | tail -n 1)
	last_any=$(log_ms "$line")
	LIVE_S=$(awk -v a="$start" -v b="$last_ok" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
	ALL_S=$(awk -v a="$start" -v b="$last_any" 'BEGIN { printf "%.3f", (b - a) / 1000 }')

	api 200 GET "/api/v1/bmc-operations?batch=$batch&limit=1000"
	mv "$WORK/api.out" "$WORK/batch.json"
	jq -e --argjson n "$BMCS" '.items | length == $n' "$WORK/batch.json" > /dev/null ||
		die "GET /api/v1/bmc-operations?batch=$batch did not list $BMCS operations"
	jq -r --slurpfile map "$WORK/bmcs.json" '.items[] | select(.state == "succeeded") |
		$map[0][(.bmc | tostring)] as $address | .result.sensors[] |
		[$address, .name, .value] | @tsv' "$WORK/batch.json" > "$WORK/outpost.tsv" ||
		die "cannot read the sensors from batch $batch's operations; see $WORK/batch.json"
	readings_compare "$WORK/outpost.tsv" "$WORK/reference-$MODE.tsv"
	TIMEOUTS=$(jq '[.items[] | select(.state == "failed") |
		select(.error | test("timed out|timeout"; "i"))] | length' "$WORK/batch.json")
	[ "$TIMEOUTS" -eq "$expect_failed" ] ||
		die "batch $batch: $TIMEOUTS of $expect_failed failed operations name a timeout:" \
			"$(jq -c '[.items[] | select(.state == "failed") | .error] | .[:3]' "$WORK/batch.json")"
	say "  outpost: batch $batch, live BMCs done after $LIVE_S s, all after $ALL_S s," \
		"$(wc -l < "$WORK/outpost.tsv") readings as the reference's; VmRSS" \
		"$(mem_mib "$OUTPOST_PID" VmRSS) MiB, VmHWM $(mem_mib "$OUTPOST_PID" VmHWM) MiB"
}

# Read the sensors of all BMCs once with the reference, with the emulator in MODE. Sets
# ALL_S and LIVE_S, and writes the readings, which are the expected values for
# Outpost's, to $WORK/reference-MODE.tsv.
reference_run() {
	local expect_failed=${EXPECT_FAILED[$MODE]} out
	out=$(taskset -c "$SERVER_CPU" ip netns exec "$NETNS" timeout "$BATCH_LIMIT_S" \
		"$REFERENCE" "$WORK/bmc-list.txt" "$BMC_USER" "$PASSWORD_FILE" "$PIN" "$WORKERS" \
		$((OPERATION_TIMEOUT_S * 1000)) "$WORK/reference-$MODE.tsv" \
		2> "$WORK/reference.err")
	case "$out" in
	*" failed=$expect_failed "*) ;;
	*) die "the reference expected $expect_failed failed BMCs: $out $(head -n 3 "$WORK/reference.err")" ;;
	esac
	ALL_S=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"$out")
	LIVE_S=$(sed -n 's/.*last_success_seconds=\([0-9.]*\).*/\1/p' <<<"$out")
	say "  bmcref: $out"
}

# Restart the emulator with every BMC live, or with the dead ones of the second measure.
# Sets MODE to live or dead.
fleet_mode() {
	local n
	MODE=$1
	stop_fleet
	for n in ${ABSENT//,/ }; do
		if [ "$MODE" = dead ]; then
			ip -n "$NETNS" address del "$(bmc_address "$n")/32" dev lo
		else
			ip -n "$NETNS" address replace "$(bmc_address "$n")/32" dev lo
		fi || die "failed to change the address of BMC $n for the $MODE BMCs"
	done
	if [ "$MODE" = dead ]; then
		start_fleet --stall "$STALLED" --absent "$ABSENT"
	else
		start_fleet
	fi
}

# Each run's times, per emulator mode (live or dead), as space-separated lists.
declare -A OUT_ALL=() OUT_LIVE=() OUT_TIMEOUTS=() REF_ALL=() REF_LIVE=()

# Run both sides once with the emulator in MODE, in ORDER, and append their times.
# Usage: measure_pair MODE ORDER
measure_pair() {
	local side
	fleet_mode "$1"
	for side in $2; do
		"${side}_run"
		if [ "$side" = outpost ]; then
			OUT_ALL[$MODE]+=" $ALL_S"
			OUT_LIVE[$MODE]+=" $LIVE_S"
			OUT_TIMEOUTS[$MODE]+=" $TIMEOUTS"
		else
			REF_ALL[$MODE]+=" $ALL_S"
			REF_LIVE[$MODE]+=" $LIVE_S"
		fi
	done
}

setup() {
	local n
	check_tools
	netns_up
	make_certificate
	for n in $(seq 1 "$BMCS"); do
		echo "$(bmc_address "$n") 443"
	done > "$WORK/bmc-list.txt"
	MODE=live
	start_fleet
	start_bmc_outpost
	enrol_bmcs
	HWM_ENROLMENT=$(mem_mib "$OUTPOST_PID" VmHWM)
	say "outpost VmHWM after the enrolment: $HWM_ENROLMENT MiB"
	# Expected values for each mode, before Outpost's first run in it.
	reference_run
	spot_check
	fleet_mode dead
	reference_run
}

# Run the all-live and the dead measure in turns, so that a drift over the runs (the
# store grows by 500 operations a batch) weighs on both alike. Within each, the side
# that goes first alternates from run to run.
measure() {
	local run order dead=$DEAD_COUNT live=$((BMCS - DEAD_COUNT))
	local reference_name="bmcref, libcurl multi, $WORKERS BMCs at a time"
	for run in $(seq 1 "$RUNS"); do
		order="outpost reference"
		[ $((run % 2)) -eq 0 ] && order="reference outpost"
		say "run=$run"
		measure_pair live "$order"
		measure_pair dead "$order"
	done

	record "sensors of $BMCS BMCs, batch start to last operation" s "${OUT_ALL[live]}" \
		"$reference_name" "${REF_ALL[live]}" value_max "$TARGET_SECONDS"
	record "sensors of the $live live BMCs with $dead dead" s "${OUT_LIVE[dead]}" \
		"$reference_name" "${REF_LIVE[dead]}" value_max "$TARGET_SECONDS"
	record "the $live live BMCs with $dead dead, against all $BMCS live" s \
		"${OUT_LIVE[dead]}" "all live" "${OUT_ALL[live]}" ratio_max "$TARGET_DEAD_RATIO"
	record "dead BMCs whose operation failed with a timeout error" BMCs \
		"${OUT_TIMEOUTS[dead]}" - - value_eq "$dead"
	record "whole batch with $dead dead (ends with their ${OPERATION_TIMEOUT_S} s timeout)" \
		s "${OUT_ALL[dead]}" "$reference_name" "${REF_ALL[dead]}" none -
	record "outpost peak RSS (VmHWM) after enrolling the $BMCS BMCs" MiB \
		"$HWM_ENROLMENT" - - none -
	record "outpost peak RSS (VmHWM), enrolment and all $((2 * RUNS)) batches" MiB \
		"$(mem_mib "$OUTPOST_PID" VmHWM)" - - value_max "$TARGET_RSS_MIB"
}

setup
measure
stop_outpost
