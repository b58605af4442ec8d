#!/bin/bash
# Benchmark 8, DNS sync under query load: 10,000 machines with host names and reserved
# addresses reach PowerDNS as 10,000 A and 10,000 PTR RRsets while dnsperf queries the
# server at full speed. Targets: at least 5,000 records per second (Outpost's log line
# "ddi: DNS records updated rrsets=N ... total_ms=T", N / T), and a query rate during
# the sync of at least 0.95 of the idle rate. The reference is the same 20,000 RRsets
# sent by curl in PATCHes of 5,000, under the same query load, into the same zones,
# followed by one rectify per zone as Outpost sends. The zones are the ones Outpost
# created, with api_rectify off, so neither side makes PowerDNS rectify a zone after
# each PATCH.
#
# The machines go into the store with sqlite3 while the daemon runs, which it does not
# notice, and one machine created through the API then starts the pass at a known
# time. That pass first pushes Kea's configuration and then updates PowerDNS. The
# query rate is taken over the DNS part only, from dnsperf's per-interval figures
# (-S) between the start (end minus total_ms) and the end of the log line. Between
# runs the machines are deleted the same way, and the daemon deletes their records.
. "$(dirname "$0")/lib.sh"
. "$TREE/tests/integration/ddi_lib.sh"
. "$TREE/tests/integration/dns_lib.sh"

MACHINES=10000
IDLE_SECONDS=3
# dnsperf's reporting interval in seconds, and the longest a sync run may take.
INTERVAL=0.05
SYNC_LIMIT=60
TARGET_RECORDS=5000
TARGET_QUERY_RATIO=0.95
DNS_LINE="ddi: DNS records updated"
API_URL=http://127.0.0.1:$DDI_PDNS_API_PORT/api/v1/servers/localhost/zones

# Write dnsperf's queries: names that exist before, during and after the sync in the
# two zones being written, so every response stays the same and only the load changes.
write_queries() {
	QUERIES=$WORK/queries.txt
	cat > "$QUERIES" <<QUERIES
outpost.$DDI_DOMAIN A
$DDI_DOMAIN SOA
$DDI_DOMAIN NS
$DDI_REVERSE_ZONE SOA
$DDI_REVERSE_ZONE NS
QUERIES
}

# Write the reference's requests: the RRsets Outpost writes (name, type, TTL 300, one
# record, its comment), in PATCHes of BATCH RRsets, and the DELETEs that undo them.
# One PATCH per zone does not fit: pdns_server 4.7 rejects request bodies over 2 MiB
# (webserver-max-bodysize=2), and 10,000 PTR RRsets with comments take 2.2 MB.
BATCH=5000
write_reference_bodies() {
	local file
	local -a bodies
	awk -v n="$MACHINES" -v batch="$BATCH" -v domain="$DDI_DOMAIN" -v dir="$WORK" '
	function flush(kind, part, body) {
		printf "{\"rrsets\":[%s]}", body > (dir "/" kind "-" part ".json")
		close(dir "/" kind "-" part ".json")
	}
	BEGIN {
		comment = "\"comments\":[{\"content\":\"managed by outpost\",\"account\":\"outpost\"}]"
		for (i = 1; i <= n; i++) {
			name = sprintf("node-%05d.%s.", i, domain)
			a = 256 + i
			ip = sprintf("10.77.%d.%d", int(a / 256), a % 256)
			ptr = sprintf("%d.%d.77.10.in-addr.arpa.", a % 256, int(a / 256))
			sep = (i - 1) % batch ? "," : ""
			fa = fa sep sprintf("{\"name\":\"%s\",\"type\":\"A\",\"ttl\":300,\"changetype\":\"REPLACE\",\"records\":[{\"content\":\"%s\",\"disabled\":false}],%s}", name, ip, comment)
			fp = fp sep sprintf("{\"name\":\"%s\",\"type\":\"PTR\",\"ttl\":300,\"changetype\":\"REPLACE\",\"records\":[{\"content\":\"%s\",\"disabled\":false}],%s}", ptr, name, comment)
			sep = i > 1 ? "," : ""
			da = da sep sprintf("{\"name\":\"%s\",\"type\":\"A\",\"changetype\":\"DELETE\"}", name)
			dp = dp sep sprintf("{\"name\":\"%s\",\"type\":\"PTR\",\"changetype\":\"DELETE\"}", ptr)
			if (i % batch == 0 || i == n) {
				part++
				flush("forward", part, fa)
				flush("reverse", part, fp)
				fa = fp = ""
			}
		}
		flush("forward-delete", 1, da)
		flush("reverse-delete", 1, dp)
	}'
	bodies=("$WORK"/forward-[0-9]*.json "$WORK"/reverse-[0-9]*.json)
	for file in "${bodies[@]}"; do
		[ "$(wc -c < "$file")" -le 2097152 ] ||
			die "$file is over PowerDNS's 2 MiB limit for a request body"
	done
	say "reference bodies: ${#bodies[@]} PATCHes of $BATCH RRsets," \
		"$(cat "${bodies[@]}" | wc -c) bytes in all"
}

# Send one PATCH to the PowerDNS API from SERVER_CPU inside the server namespace, as
# the daemon sends it (with an empty Expect header, see dns_lib.sh). Dies unless 204.
# Usage: pdns_patch ZONE BODY_FILE
pdns_patch() {
	local status
	status=$(taskset -c "$SERVER_CPU" ip netns exec "$DDI_SERVER_NS" curl -sS -m 60 \
		-o "$WORK/patch.out" -w '%{http_code}' -H "X-API-Key: $DDI_PDNS_KEY" \
		-H 'Content-Type: application/json' -H 'Expect:' -X PATCH \
		--data-binary "@$2" "$API_URL/$1.")
	[ "$status" = 204 ] || die "PATCH of zone $1 returned HTTP $status: $(head -c 300 "$WORK/patch.out")"
}

# Rectify one zone as the daemon does after its PATCHes. Dies unless 200.
# Usage: pdns_rectify ZONE
pdns_rectify() {
	local status
	status=$(taskset -c "$SERVER_CPU" ip netns exec "$DDI_SERVER_NS" curl -sS -m 60 \
		-o "$WORK/rectify.out" -w '%{http_code}' -H "X-API-Key: $DDI_PDNS_KEY" \
		-X PUT "$API_URL/$1./rectify")
	[ "$status" = 200 ] || die "rectify of zone $1 returned HTTP $status: $(head -c 300 "$WORK/rectify.out")"
}

# Check that the reverse zone was rectified after the PTRs went in. 1.77.10.in-addr.arpa.
# has no records of its own but names below it, so a query for it must get NOERROR
# with no records, not NXDOMAIN. Usage: check_rectified SIDE
check_rectified() {
	local status
	status=$(ip netns exec "$DDI_CLIENT_NS" dig +time=2 +tries=1 @"$DDI_SERVER_ADDR" \
		"1.$DDI_REVERSE_ZONE" PTR | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
	[ "$status" = NOERROR ] ||
		die "after $1's update, the empty non-terminal 1.$DDI_REVERSE_ZONE returned" \
			"${status:-nothing} instead of NOERROR: the zone was not rectified"
}

# Run dnsperf from the client namespace on CLIENT_CPU against 10.77.0.1:53.
# Usage: run_dnsperf SECONDS OUTPUT [EXTRA...]
run_dnsperf() {
	local seconds=$1 out=$2
	shift 2
	taskset -c "$CLIENT_CPU" ip netns exec "$DDI_CLIENT_NS" dnsperf -s "$DDI_SERVER_ADDR" \
		-d "$QUERIES" -l "$seconds" "$@" > "$out" 2>&1
}

# Print dnsperf's overall queries per second from its output.
overall_qps() {
	awk '/Queries per second:/ { print $4 }' "$1"
}

# Start dnsperf in the background with per-interval figures. Sets DNSPERF_PID.
start_load() {
	LOAD_OUT=$WORK/dnsperf-load.out
	taskset -c "$CLIENT_CPU" ip netns exec "$DDI_CLIENT_NS" dnsperf -s "$DDI_SERVER_ADDR" \
		-d "$QUERIES" -l "$SYNC_LIMIT" -S "$INTERVAL" > "$LOAD_OUT" 2>&1 &
	DNSPERF_PID=$!
	# Let it reach its steady rate.
	sleep 0.5
}

stop_load() {
	kill -INT "$DNSPERF_PID" 2>/dev/null
	wait "$DNSPERF_PID" 2>/dev/null
	DNSPERF_PID=""
}

# Print the mean query rate between two epoch times (seconds, with fractions). Each
# interval line "END: QPS" of dnsperf -S counts with its overlap with the window.
window_qps() {
	awk -v from="$1" -v to="$2" -v len="$INTERVAL" -F': ' '
		/^[0-9]+\.[0-9]+: [0-9.]+$/ {
			end = $1 + 0; start = end - len
			lo = start > from ? start : from
			hi = end < to ? end : to
			if (hi > lo) { sum += $2 * (hi - lo); span += hi - lo }
		}
		END { if (span > 0) printf "%.1f\n", sum / span; else print "" }' "$LOAD_OUT"
}

# Print the epoch seconds of a daemon log line's UTC timestamp, such as
# 2026-12-05T01:25:58.929Z.
log_epoch() {
	date -d "${1%% *}" +%s.%N
}

now_epoch() {
	date +%s.%N
}

# Create a machine without host name or address through the API: a commit that wakes
# the DDI manager and changes nothing it serves.
trigger_pass() {
	local status
	TRIGGERS=$((TRIGGERS + 1))
	status=$(curl -sS --unix-socket "$SOCKET" -o /dev/null -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' \
		-d "$(printf '{"macs": ["52:54:01:00:%02x:%02x"]}' $((TRIGGERS / 256)) $((TRIGGERS % 256)))" \
		http://localhost/api/v1/machines)
	[ "$status" = 201 ] || die "creating a machine to start a pass returned HTTP $status"
}

# Wait for the next DNS line after line AFTER and check its RRset count. Sets
# DNS_LINE_TEXT. It reads the log every 0.25 s. wait_log_line (lib.sh) reads it every
# 20 ms, and its tail and grep then took about 3% of core 0 during Outpost's update
# (perf record -C 0), a cost the reference does not pay. The line's own timestamp
# marks the end of the update, so the later read changes no figure.
wait_dns_line() {
	local after=$1 expected=$2 rrsets deadline=$((SECONDS + SYNC_LIMIT))
	DNS_LINE_TEXT=""
	while [ -z "$DNS_LINE_TEXT" ] && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.25
		DNS_LINE_TEXT=$(tail -n "+$((after + 1))" "$OUTPOST_LOG" | grep -m 1 -- "$DNS_LINE")
	done
	[ -n "$DNS_LINE_TEXT" ] ||
		die "timed out: no \"$DNS_LINE\" line within $SYNC_LIMIT s; log: $(tail -n 5 "$OUTPOST_LOG")"
	rrsets=$(log_value "$DNS_LINE_TEXT" rrsets)
	[ "$rrsets" = "$expected" ] || die "the pass changed $rrsets RRsets, expected $expected"
}

# Measure Outpost once: the idle rate, then the machines in and the pass started under
# load, and the machines out again. Sets RECORDS_RATE, IDLE and LOADED (queries/s).
outpost_run() {
	local before triggered end total rrsets pass_qps
	run_dnsperf "$IDLE_SECONDS" "$WORK/idle.out"
	IDLE=$(overall_qps "$WORK/idle.out")

	ddi_store_insert "$MACHINES"
	start_load
	before=$(wc -l < "$OUTPOST_LOG")
	triggered=$(now_epoch)
	trigger_pass
	wait_dns_line "$before" $((2 * MACHINES))
	sleep 0.2
	stop_load
	check_rectified Outpost

	total=$(log_value "$DNS_LINE_TEXT" total_ms)
	rrsets=$(log_value "$DNS_LINE_TEXT" rrsets)
	end=$(log_epoch "$DNS_LINE_TEXT")
	LOADED=$(window_qps "$(awk -v e="$end" -v t="$total" 'BEGIN { printf "%.3f", e - t / 1000 }')" "$end")
	pass_qps=$(window_qps "$triggered" "$end")
	RECORDS_RATE=$(awk -v n="$rrsets" -v t="$total" 'BEGIN { printf "%.0f", 1000 * n / t }')
	[ -n "$LOADED" ] || die "no dnsperf interval in the DNS pass; see $LOAD_OUT"
	say "  outpost: $rrsets RRsets in $total ms (rectify $(log_value "$DNS_LINE_TEXT" rectify_ms) ms)," \
		"$RECORDS_RATE records/s; queries/s idle $IDLE," \
		"during the DNS update $LOADED, during the whole pass (Kea push first) $pass_qps"

	sqlite3 "$OUTPOST_DB" > /dev/null <<SQL || die "deleting the machines from $OUTPOST_DB failed"
.timeout 10000
BEGIN;
DELETE FROM machine_macs WHERE machine_id IN
	(SELECT id FROM machines WHERE hostname GLOB 'node-[0-9][0-9][0-9][0-9][0-9]*');
DELETE FROM machines WHERE hostname GLOB 'node-[0-9][0-9][0-9][0-9][0-9]*';
COMMIT;
SQL
	before=$(wc -l < "$OUTPOST_LOG")
	trigger_pass
	wait_dns_line "$before" $((2 * MACHINES))
	ddi_wait_in_sync
}

# Measure the reference once: the idle rate, then the PATCHes under load, then the
# DELETEs. Sets RECORDS_RATE, IDLE and LOADED.
reference_run() {
	local started rectify_start ended file
	run_dnsperf "$IDLE_SECONDS" "$WORK/idle.out"
	IDLE=$(overall_qps "$WORK/idle.out")

	start_load
	started=$(now_epoch)
	for file in "$WORK"/forward-[0-9]*.json; do
		pdns_patch "$DDI_DOMAIN" "$file"
	done
	for file in "$WORK"/reverse-[0-9]*.json; do
		pdns_patch "$DDI_REVERSE_ZONE" "$file"
	done
	rectify_start=$(now_epoch)
	pdns_rectify "$DDI_DOMAIN"
	pdns_rectify "$DDI_REVERSE_ZONE"
	ended=$(now_epoch)
	sleep 0.2
	stop_load
	check_rectified curl

	LOADED=$(window_qps "$started" "$ended")
	RECORDS_RATE=$(awk -v n=$((2 * MACHINES)) -v a="$started" -v b="$ended" \
		'BEGIN { printf "%.0f", n / (b - a) }')
	[ -n "$LOADED" ] || die "no dnsperf interval in the reference's PATCHes; see $LOAD_OUT"
	say "  curl: $((2 * MACHINES)) RRsets in $(awk -v a="$started" -v b="$ended" \
		'BEGIN { printf "%.0f", 1000 * (b - a) }') ms (rectify $(awk -v a="$rectify_start" \
		-v b="$ended" 'BEGIN { printf "%.0f", 1000 * (b - a) }') ms), $RECORDS_RATE records/s;" \
		"queries/s idle $IDLE, during the PATCHes $LOADED"

	pdns_patch "$DDI_DOMAIN" "$WORK/forward-delete-1.json"
	pdns_patch "$DDI_REVERSE_ZONE" "$WORK/reverse-delete-1.json"
	# Drop the empty non-terminals too, so the next side's check_rectified tests its own
	# rectify.
	pdns_rectify "$DDI_DOMAIN"
	pdns_rectify "$DDI_REVERSE_ZONE"
}

setup() {
	ddi_bench_up
	ddi_store_create
	ddi_outpost_config
	ddi_kea_fresh
	start_ddi_outpost
	ddi_wait_in_sync
	TRIGGERS=0
	write_queries
	write_reference_bodies
	run_dnsperf 1 "$WORK/check.out"
	grep -q 'NOERROR' "$WORK/check.out" && ! grep -q 'NXDOMAIN\|SERVFAIL\|REFUSED' "$WORK/check.out" ||
		die "dnsperf's queries did not all succeed: $(grep -A 3 'Response codes' "$WORK/check.out")"
}

# Measure both sides RUNS times, alternating which side goes first, and record the
# results. The query ratio is taken per run: the loaded rate over the idle rate
# measured just before it.
measure() {
	local run side ratio
	local out_records="" out_ratio="" out_idle="" out_loaded="" ref_records="" ref_ratio=""
	for run in $(seq 1 "$RUNS"); do
		local order="outpost reference"
		[ $((run % 2)) -eq 0 ] && order="reference outpost"
		say "run=$run"
		for side in $order; do
			"${side}_run"
			ratio=$(awk -v a="$LOADED" -v b="$IDLE" 'BEGIN { printf "%.3f", a / b }')
			if [ "$side" = outpost ]; then
				out_records="$out_records $RECORDS_RATE" out_ratio="$out_ratio $ratio"
				out_idle="$out_idle $IDLE" out_loaded="$out_loaded $LOADED"
			else
				ref_records="$ref_records $RECORDS_RATE" ref_ratio="$ref_ratio $ratio"
			fi
		done
	done
	record "A and PTR RRsets into PowerDNS under query load, $MACHINES machines" \
		"records/s" "$out_records" "curl, PATCHes of $BATCH" "$ref_records" \
		value_min "$TARGET_RECORDS"
	record "query rate while the records arrive, over the idle rate" x "$out_ratio" \
		"curl, PATCHes of $BATCH" "$ref_ratio" value_min "$TARGET_QUERY_RATIO"
	record "queries/s during Outpost's DNS update, against idle" "queries/s" "$out_loaded" \
		"idle" "$out_idle" none -
}

ddi_check_tools pdns_server dnsperf dig kea-dhcp4 socat jq sqlite3 curl
setup
measure
stop_outpost
