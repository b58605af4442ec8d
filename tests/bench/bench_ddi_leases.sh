#!/bin/bash
# Benchmark 7, Kea's lease rate: the highest DHCPv4 rate at which at most 2.5% of the
# 4-way exchanges (DISCOVER, OFFER, REQUEST, ACK) fail. perfdhcp (kea-admin) runs in
# the client namespace and Kea in the server namespace. Target: Kea with the
# configuration Outpost pushed reaches at least 0.9 of its rate with a plain pool.
# That configuration has 10,000 reservations, client classes and the lease_cmds and
# run_script hooks, and the daemon runs, so every lease event reaches it. Four Kea
# configurations:
#   plain     Outpost's subnet and pool, with no reservations, client classes or hooks
#   outpost   the configuration Outpost pushed, read back with config-get
#   poll      the same without run_script, as Outpost pushes it with
#             [kea] lease_events = poll: only lease_cmds is loaded
#   true      outpost with run_script's "name" set to /bin/true, a program that does
#             nothing: what run_script itself costs, whatever program it runs, with no
#             event reaching the daemon
#
# perfdhcp's own limit (-D 2.5%) is not used: it counts every packet still in flight
# from the 11th DISCOVER on, so it stops the test at once. Each probe runs perfdhcp at
# one rate for a fixed period, and an exchange counts as failed when its DISCOVER got
# no ACK within perfdhcp's drop time (1 s). A probe restarts Kea with an empty lease
# file, so every exchange is a new client. A calibration search per configuration
# (not recorded) doubles the rate from a start value until a probe fails, then
# bisects between the last pass and that failure. Each recorded run starts at the
# calibrated rate and ends with a pass and a failure at most 6% apart.
#
# The period is 2 s for plain and poll and 5 s for outpost and true. Without hooks, Kea's
# socket buffer fills and drops packets as soon as the rate is over what Kea handles.
# With hooks, the backlog grows slowly a little over that rate, and exchanges only
# fail once responses take longer than the drop time, so they need a longer probe.
# NOTE: even a 5 s probe may pass a rate that Kea with hooks cannot sustain for
# longer, so treat that figure as an upper bound.
. "$(dirname "$0")/lib.sh"
. "$TREE/tests/integration/ddi_lib.sh"
. "$TREE/tests/integration/dns_lib.sh"

MACHINES=10000
# Probe periods in whole seconds (perfdhcp -p takes no fraction): plain and poll,
# and outpost (see above).
FAST_PERIOD=2
SLOW_PERIOD=5
# perfdhcp waits this long (microseconds) after the period for the last responses.
EXIT_WAIT_US=300000
MAX_LOSS=2.5
CALIBRATION_PROBES=5
PROBES=3
MAX_PROBES=7
# The pool holds 49,151 leases, and FAST_PERIOD * MAX_RATE must stay below that.
MAX_RATE=24000
TARGET=0.9

# Wait until the daemon has handled every lease event: no hook process is left in the
# server namespace and the daemon used less than 20 ms of CPU in the last 0.3 s.
wait_quiet() {
	local deadline=$((SECONDS + 60)) before after pid others
	while [ "$SECONDS" -lt "$deadline" ]; do
		others=0
		for pid in $(ip netns pids "$DDI_SERVER_NS"); do
			case " $PDNS_PID $DDI_KEA_PID $OUTPOST_PID " in
			*" $pid "*) ;;
			*) others=$((others + 1)) ;;
			esac
		done
		before=$(cpu_seconds "$OUTPOST_PID")
		sleep 0.3
		after=$(cpu_seconds "$OUTPOST_PID")
		if [ "$others" -eq 0 ] && awk -v a="$before" -v b="$after" 'BEGIN { exit !(b - a < 0.02) }'; then
			return 0
		fi
	done
	die "timed out: the daemon was still handling lease events 60 s after a probe;" \
		"see $OUTPOST_LOG"
}

# Restart Kea from CONFIG and run perfdhcp at RATE for PERIOD seconds. Sets LOSS
# (percent of exchanges without an ACK), ACKED (ACKs per second of the period) and
# PASSED (yes or no).
probe() {
	local config=$1 rate=$2 out=$WORK/perfdhcp.out status=0 discovers acks
	ddi_kea_fresh "$WORK/kea-$config.json"
	# -R: clients drawn from a million MACs, so almost every exchange is a new client.
	taskset -c "$CLIENT_CPU" ip netns exec "$DDI_CLIENT_NS" timeout 30 \
		perfdhcp -4 -l "$DDI_CLIENT_ADDR" -r "$rate" -R 1000000 -p "$PERIOD" \
		-W "$EXIT_WAIT_US" "$DDI_SERVER_ADDR" > "$out" 2>&1 || status=$?
	# Exit status 3 means that some exchanges did not complete, while 1 and 2 are errors.
	if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then
		cat "$out" >&2
		die "perfdhcp failed with status $status at $rate/s against $config"
	fi
	# The first "sent packets" line counts DISCOVERs, the second "received packets"
	# line ACKs (the DISCOVER-OFFER and REQUEST-ACK sections, in that order).
	discovers=$(awk '/^sent packets:/ { n++; if (n == 1) print $3 }' "$out")
	acks=$(awk '/^received packets:/ { n++; if (n == 2) print $3 }' "$out")
	[ -n "$discovers" ] && [ "$discovers" -gt 0 ] && [ -n "$acks" ] ||
		die "no statistics from perfdhcp at $rate/s against $config: $(tail -n 5 "$out")"
	read -r LOSS ACKED PASSED <<<"$(awk -v d="$discovers" -v a="$acks" -v p="$PERIOD" \
		-v max="$MAX_LOSS" 'BEGIN {
			loss = 100 * (d - a) / d
			printf "%.2f %.1f %s\n", loss, a / p, loss <= max ? "yes" : "no"
		}')"
	say "  $config at $rate/s for $PERIOD s: $discovers DISCOVERs, $acks ACKs," \
		"${LOSS}% failed: $PASSED; Kea's VmRSS $(kea_rss_mib) MiB"
	if [ "$config" = outpost ]; then
		wait_quiet
	fi
}

# Print Kea's resident memory in MiB, or "?" when Kea is gone.
kea_rss_mib() {
	local status=/proc/$DDI_KEA_PID/status
	if [ -n "$DDI_KEA_PID" ] && [ -r "$status" ]; then
		awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "$status"
	else
		echo "?"
	fi
}

# Run one probe and update the search state: BEST_RATE and BEST_ACKED (the highest
# passing rate and its ACKs per second, 0 if none) and FAILED_RATE (the lowest failing
# rate, 0 if none).
probe_and_note() {
	probe "$1" "$2"
	if [ "$PASSED" = yes ]; then
		if [ "$2" -gt "$BEST_RATE" ]; then
			BEST_RATE=$2 BEST_ACKED=$ACKED
		fi
	elif [ "$FAILED_RATE" -eq 0 ] || [ "$2" -lt "$FAILED_RATE" ]; then
		FAILED_RATE=$2
	fi
}

# Print the next rate to probe: halfway between the best pass and the lowest failure,
# or half the failure when nothing passed yet. Prints nothing once they are 1/s apart.
next_rate() {
	local next
	if [ "$BEST_RATE" -eq 0 ]; then
		next=$((FAILED_RATE / 2))
	else
		next=$(((BEST_RATE + FAILED_RATE) / 2))
	fi
	if [ "$next" -gt "$BEST_RATE" ] && [ "$next" -ge 1 ]; then
		echo "$next"
	fi
}

# Search the rate to center the recorded runs on: double from START until a probe
# fails or MAX_RATE passes, then bisect, CALIBRATION_PROBES probes in all.
calibrate() {
	local config=$1 rate=$2 count=0
	BEST_RATE=0 BEST_ACKED=0 FAILED_RATE=0
	while [ "$count" -lt "$CALIBRATION_PROBES" ] && [ -n "$rate" ]; do
		probe_and_note "$config" "$rate"
		count=$((count + 1))
		if [ "$FAILED_RATE" -eq 0 ]; then
			[ "$rate" -ge "$MAX_RATE" ] && break
			rate=$((rate * 2 > MAX_RATE ? MAX_RATE : rate * 2))
		else
			rate=$(next_rate)
		fi
	done
	[ "$BEST_RATE" -gt 0 ] ||
		die "no rate passed for $config in calibration, down from $2/s; see Kea's log $DDI_KEA_LOG"
}

# One recorded run, starting at the calibrated rate CENTER: the rate steps up or down
# by a tenth until a pass and a failure bracket it, then bisects. It stops once the
# failure is within 6% of the pass, after at least PROBES and at most MAX_PROBES
# probes. BEST_RATE stays 0 when nothing passed.
search() {
	local config=$1 rate=$2 count=0
	BEST_RATE=0 BEST_ACKED=0 FAILED_RATE=0
	while [ -n "$rate" ] && [ "$count" -lt "$MAX_PROBES" ]; do
		probe_and_note "$config" "$rate"
		count=$((count + 1))
		if [ "$FAILED_RATE" -eq 0 ]; then
			[ "$rate" -ge "$MAX_RATE" ] && break
			rate=$((rate * 11 / 10 > MAX_RATE ? MAX_RATE : rate * 11 / 10))
		elif [ "$BEST_RATE" -eq 0 ]; then
			rate=$((FAILED_RATE * 9 / 10))
		elif [ "$count" -ge "$PROBES" ] && [ $((FAILED_RATE * 100)) -le $((BEST_RATE * 106)) ]; then
			break
		else
			rate=$(next_rate)
		fi
	done
}

# Calibrate CONFIG from START with probes of PERIOD seconds, then run the recorded
# searches. Sets RATES to the ACK rates of the runs and CENTER to the calibrated rate.
measure_config() {
	local config=$1 start=$2 run all=""
	PERIOD=$3
	say "calibrating $config from $start/s"
	calibrate "$config" "$start"
	CENTER=$BEST_RATE
	say "calibrated $config: $CENTER/s passed, lowest failure ${FAILED_RATE}/s (0: none)"
	for run in $(seq 1 "$RUNS"); do
		search "$config" "$CENTER"
		say "$config run=$run: highest rate with at most ${MAX_LOSS}% failed exchanges:" \
			"$BEST_RATE/s requested, $BEST_ACKED ACKs/s"
		all="$all $BEST_ACKED"
	done
	RATES=$all
}

# Read the configuration Outpost pushed and derive the other three from it.
write_configs() {
	local reservations hooks
	ddi_kea_cmd "$KEA_SOCKET" '{"command": "config-get"}' |
		jq '{Dhcp4: .arguments.Dhcp4}' > "$WORK/kea-outpost.json" ||
		die "config-get on $KEA_SOCKET failed"
	reservations=$(jq '[.Dhcp4.subnet4[].reservations | length] | add' "$WORK/kea-outpost.json")
	hooks=$(jq '.Dhcp4."hooks-libraries" | length' "$WORK/kea-outpost.json")
	[ "$reservations" = "$MACHINES" ] && [ "$hooks" = 2 ] ||
		die "Kea runs $reservations reservations and $hooks hook libraries, expected $MACHINES and 2"
	jq '.Dhcp4."hooks-libraries" |= map(select(.library | endswith("lease_cmds.so")))' \
		"$WORK/kea-outpost.json" > "$WORK/kea-poll.json"
	jq 'del(.Dhcp4."hooks-libraries", .Dhcp4."client-classes") |
		.Dhcp4.subnet4[].reservations = []' "$WORK/kea-outpost.json" > "$WORK/kea-plain.json"
	jq '.Dhcp4."hooks-libraries" |= map(if (.library | endswith("run_script.so"))
		then .parameters.name = "/bin/true" else . end)' \
		"$WORK/kea-outpost.json" > "$WORK/kea-true.json"
	[ "$(jq -r '.Dhcp4."hooks-libraries"[].parameters.name // empty' "$WORK/kea-true.json")" = \
		/bin/true ] || die "no run_script hook to point at /bin/true in $WORK/kea-true.json"
	say "Kea configurations: outpost $(wc -c < "$WORK/kea-outpost.json") bytes," \
		"poll $(wc -c < "$WORK/kea-poll.json"), plain $(wc -c < "$WORK/kea-plain.json")," \
		"true $(wc -c < "$WORK/kea-true.json")"
}

# Check that the lease events reached the daemon during the outpost probes.
check_events() {
	local status events
	status=$(curl -sS --unix-socket "$SOCKET" http://localhost/api/v1/ddi/status) ||
		die "reading the daemon's DDI status from $SOCKET failed"
	events=$(printf '%s' "$status" | jq -r '.lease_events')
	[ "$events" -gt 0 ] || die "no lease event reached the daemon; check Kea's log for" \
		"HOOKS_CALLOUT_EXCEPTION and the hook link $WORK/kea-events.sock.hook"
	say "the daemon received $events lease events and read $(printf '%s' "$status" |
		jq -r '.leases_seen') leases back from Kea"
}

setup() {
	local before
	ddi_bench_up
	ddi_store_create
	ddi_store_insert "$MACHINES"
	ddi_outpost_config
	ddi_kea_fresh
	before=$(wc -l < "$OUTPOST_LOG")
	start_ddi_outpost
	wait_log_line "ddi: Kea configuration applied" "$before" 60 > /dev/null ||
		die "Outpost did not push Kea's configuration within 60 s"
	write_configs
}

ddi_check_tools kea-dhcp4 perfdhcp pdns_server socat jq sqlite3 curl
setup
measure_config plain 8000 "$FAST_PERIOD"
PLAIN=$RATES
measure_config poll 8000 "$FAST_PERIOD"
POLL=$RATES
measure_config outpost 50 "$SLOW_PERIOD"
OUTPOST_RATES=$RATES
# true starts from outpost's calibrated rate, which it is expected to be near, so that
# its calibration spends fewer probes below it.
measure_config true "$CENTER" "$SLOW_PERIOD"
TRUE_RATES=$RATES
check_events
stop_outpost

record "lease rate, Outpost's configuration, lease_events = hook, daemon running" \
	"leases/s" "$OUTPOST_RATES" "plain pool" "$PLAIN" ratio_min "$TARGET"
record "lease rate, Outpost's configuration, lease_events = poll" "leases/s" \
	"$POLL" "plain pool" "$PLAIN" ratio_min "$TARGET"
# The same hook-mode rates against run_script running /bin/true: a ratio near 1 means
# that Kea starting a process per event costs the rate, not outpost-kea-hook or the
# daemon's work per event.
record "lease rate, lease_events = hook, against run_script running /bin/true" \
	"leases/s" "$OUTPOST_RATES" "run_script running /bin/true" "$TRUE_RATES" none -
