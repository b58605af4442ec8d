#!/bin/bash
# Benchmark 6, Kea configuration push: 10,000 machines with reserved addresses and host
# names reach Kea through Outpost's config-test, config-set and config-write. Target:
# the whole push (Outpost's total_ms) within 1 s. The reference is the same
# configuration, byte for byte as Outpost sends it, as one config-set through socat.
#
# Two cases, each run BENCH_RUNS times:
#   cold  Kea restarted from its bootstrap configuration (no subnets) and the daemon
#         restarted, so its first pass reads Kea's configuration, finds it differs,
#         and pushes the whole configuration.
#   warm  one machine renamed through the API while Kea runs the previous 10,000
#         reservations; Outpost pushes the whole configuration again.
. "$(dirname "$0")/lib.sh"
. "$TREE/tests/integration/ddi_lib.sh"
. "$TREE/tests/integration/dns_lib.sh"

MACHINES=10000
TARGET_MS=1000
PUSH_LINE="ddi: Kea configuration applied"

# Start a stand-in for Kea's control socket that stores each command it receives in
# $WORK/captured/COMMAND.json and replies with success. Its config-get reply is an
# empty Dhcp4, so Outpost pushes. A request is complete when the daemon has sent
# nothing for 0.3 s. The stand-in exits after config-write, or after 60 s.
start_capture() {
	mkdir -p "$WORK/captured"
	rm -f "$KEA_SOCKET"
	perl -MIO::Socket::UNIX -MIO::Select -e '
		my ($path, $dir) = @ARGV;
		alarm 60;
		my $server = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $path,
			Listen => 8) or die "capture: failed to listen on $path: $!\n";
		while (my $conn = $server->accept) {
			my ($text, $chunk) = ("", "");
			my $select = IO::Select->new($conn);
			while ($select->can_read(0.3)) {
				last unless sysread($conn, $chunk, 1 << 20);
				$text .= $chunk;
			}
			my ($command) = $text =~ /^\{"command":"([a-z0-9-]+)"/
				or die "capture: invalid request, no command: " . substr($text, 0, 80) . "\n";
			open(my $out, ">", "$dir/$command.json")
				or die "capture: failed to write $dir/$command.json: $!\n";
			print $out $text;
			close($out);
			syswrite($conn, $command eq "config-get"
				? "{\"result\": 0, \"arguments\": {\"Dhcp4\": {}}}"
				: "{\"result\": 0, \"text\": \"captured\"}");
			close($conn);
			exit 0 if $command eq "config-write";
		}' "$KEA_SOCKET" "$WORK/captured" &
	CAPTURE_PID=$!
	for _ in $(seq 1 100); do
		[ -S "$KEA_SOCKET" ] && return 0
		sleep 0.05
	done
	die "timed out: the stand-in did not create $KEA_SOCKET within 5 s"
}

# Let the daemon push its configuration to the stand-in once, and keep the config-set
# request as the reference's input. Sets CONFIG_SET.
capture_config() {
	ddi_kea_stop || true
	start_capture
	start_ddi_outpost
	wait "$CAPTURE_PID" ||
		die "capturing the configuration failed; log: $(tail -n 5 "$OUTPOST_LOG")"
	stop_outpost
	rm -f "$KEA_SOCKET"
	CONFIG_SET=$WORK/captured/config-set.json
	[ -s "$CONFIG_SET" ] || die "no config-set request captured"
	say "captured Outpost's config-set request: $(wc -c < "$CONFIG_SET") bytes," \
		"$(grep -o '"hw-address"' "$CONFIG_SET" | wc -l) reservations"
}

# Wait for the next push line after line AFTER and set TOTAL and SET (ms), checking that
# it carries every reservation.
read_push() {
	local line count
	line=$(wait_log_line "$PUSH_LINE" "$1" 60) ||
		die "timed out: no \"$PUSH_LINE\" line within 60 s; log: $(tail -n 5 "$OUTPOST_LOG")"
	count=$(log_value "$line" reservations)
	[ "$count" = "$MACHINES" ] || die "the push carried $count reservations, expected $MACHINES"
	TOTAL=$(log_value "$line" total_ms)
	SET=$(log_value "$line" set_ms)
	STEPS="generate_ms=$(log_value "$line" generate_ms) test_ms=$(log_value "$line" test_ms)"
	STEPS="$STEPS set_ms=$SET write_ms=$(log_value "$line" write_ms)"
}

# Send the captured request as one config-set with socat on SERVER_CPU, where the
# daemon runs too. Sets REF (ms, from socat's start to Kea's reply).
reference_push() {
	local started reply
	started=$(now_ms)
	reply=$(taskset -c "$SERVER_CPU" timeout 60 socat -t 60 - "UNIX-CONNECT:$KEA_SOCKET" \
		< "$CONFIG_SET")
	REF=$(($(now_ms) - started))
	case "$reply" in
	*'"result": 0'*) ;;
	*) die "the reference config-set failed: $(printf '%s' "$reply" | head -c 300)" ;;
	esac
}

outpost_cold() {
	local before
	stop_outpost
	ddi_kea_fresh
	before=$(wc -l < "$OUTPOST_LOG")
	start_ddi_outpost
	read_push "$before"
	ddi_wait_in_sync
}

reference_cold() {
	ddi_kea_fresh
	reference_push
}

reference_warm() {
	reference_push
}

outpost_warm() {
	local before status
	before=$(wc -l < "$OUTPOST_LOG")
	status=$(curl -sS --unix-socket "$SOCKET" -o /dev/null -w '%{http_code}' -X PATCH \
		-H 'Content-Type: application/json' -d "{\"hostname\": \"node-00001-r$1\"}" \
		http://localhost/api/v1/machines/1)
	[ "$status" = 200 ] || die "renaming machine 1 returned HTTP $status"
	read_push "$before"
	# The DNS pass that follows renames the records, and must end before the next run.
	wait_log_line "ddi: DNS records updated" "$before" 60 > /dev/null ||
		die "timed out: no DNS update for the rename within 60 s; see $OUTPOST_LOG"
}

# Measure CASE (cold or warm) RUNS times on each side, alternating which side goes
# first, and record it under the description DESCRIPTION.
# Usage: measure_case CASE DESCRIPTION
measure_case() {
	local case=$1 run side out_total="" out_set="" ref_all=""
	for run in $(seq 1 "$RUNS"); do
		local order="outpost reference"
		[ $((run % 2)) -eq 0 ] && order="reference outpost"
		for side in $order; do
			if [ "$side" = outpost ]; then
				"outpost_$case" "$run"
				out_total="$out_total $TOTAL" out_set="$out_set $SET"
				say "$case run=$run outpost: total_ms=$TOTAL ($STEPS)"
			else
				"reference_$case"
				ref_all="$ref_all $REF"
				say "$case run=$run socat config-set: $REF ms"
			fi
		done
	done
	# The warm case needs the daemon up and Kea on Outpost's configuration.
	if [ "$case" = cold ]; then
		outpost_cold
	fi
	record "Kea push, $MACHINES reservations, $2 (total_ms)" ms "$out_total" \
		"socat config-set" "$ref_all" value_max "$TARGET_MS"
	record "Kea push, $MACHINES reservations, $2: config-set step (set_ms)" ms "$out_set" \
		"socat config-set" "$ref_all" none -
}

ddi_check_tools kea-dhcp4 pdns_server socat jq sqlite3 perl curl
ddi_bench_up
ddi_store_create
ddi_store_insert "$MACHINES"
say "inserted $MACHINES machines into $OUTPOST_DB with sqlite3"
ddi_outpost_config
capture_config
measure_case cold "Kea started from its bootstrap configuration"
measure_case warm "one machine renamed"
stop_outpost
