#!/bin/bash
# Benchmark 3, boot storm: 1,000 clients at once, each fetching its iPXE script, an
# 8 MiB kernel and a 32 MiB initrd; 5% of them cut one download off part-way and
# resume it with a Range request (tests/bench/storm.c). The same clients run against
# nginx serving the same files and one of the same scripts. Targets: makespan at most
# 1.05 of nginx's, no errors, slowest client at most 1.5 times the fastest.
. "$(dirname "$0")/lib.sh"

CLIENTS=1000
KERNEL=kernel-8m.bin
KERNEL_BYTES=$((8 * 1024 * 1024))
INITRD=initrd-32m.bin
INITRD_BYTES=$((32 * 1024 * 1024))
STORM_TIMEOUT=120

# The kernel and initrd carry the offset marks storm.c checks; made once and kept.
ensure_files() {
	mkdir -p "$ARTIFACTS"
	if [ "$(stat -c %s "$ARTIFACTS/$KERNEL" 2>/dev/null)" != "$KERNEL_BYTES" ]; then
		"$BIN/mkfile" "$ARTIFACTS/$KERNEL" "$KERNEL_BYTES" || die "cannot create the kernel"
	fi
	if [ "$(stat -c %s "$ARTIFACTS/$INITRD" 2>/dev/null)" != "$INITRD_BYTES" ]; then
		"$BIN/mkfile" "$ARTIFACTS/$INITRD" "$INITRD_BYTES" || die "cannot create the initrd"
	fi
	# The storm measures serving, not the disk: both files start in the page cache.
	cat "$ARTIFACTS/$KERNEL" "$ARTIFACTS/$INITRD" > /dev/null
}

# One worker thread, because the daemon is pinned to one core; room for 1,000 clients,
# all from 127.0.0.1, so no limit per client address.
start_daemon() {
	start_outpost "threads = 1" "max_connections = 4096" "max_connections_per_ip = 0"
	write_machines "$CLIENTS" "$WORK/machines.txt"
	register_machines "$WORK/machines.txt"
	say "registered $CLIENTS machines"
}

# nginx returns one real rendered script from its configuration and serves the files
# from the same directory.
start_reference() {
	capture_script "$WORK/machines.txt"
	start_nginx "$(script_location)
		location /files/ {
			alias $ARTIFACTS/;
		}" "$NGINX_DOLLAR"
	check_nginx_script
}

# One storm on CLIENT_CPU; prints "makespan errors spread".
run_storm() {
	local port=$1 line
	line=$(taskset -c "$CLIENT_CPU" "$BIN/storm" --base "http://127.0.0.1:$port" \
		--machines "$WORK/machines.txt" --clients "$CLIENTS" --connections "$CLIENTS" \
		--kernel "/files/$KERNEL" --kernel-bytes "$KERNEL_BYTES" \
		--initrd "/files/$INITRD" --initrd-bytes "$INITRD_BYTES" \
		--cut-percent 5 --timeout "$STORM_TIMEOUT" 2> "$WORK/storm.err")
	[ -s "$WORK/storm.err" ] && sed "s/^/[$BENCH_NAME] /" "$WORK/storm.err" >&2
	awk -v line="$line" 'BEGIN {
		n = split(line, kv, " ")
		for (i = 1; i <= n; i++) { split(kv[i], p, "="); r[p[1]] = p[2] }
		if (r["makespan"] != "") printf "%s %s %s\n", r["makespan"], r["errors"], r["spread"]
	}'
}

measure() {
	local run order server makespan errors spread
	local out_make="" out_err="" out_spread="" ref_make="" ref_err="" ref_spread=""
	for run in $(seq 1 "$RUNS"); do
		order="outpost nginx"
		[ $((run % 2)) -eq 0 ] && order="nginx outpost"
		for server in $order; do
			if [ "$server" = outpost ]; then
				read -r makespan errors spread <<<"$(run_storm "$BOOT_PORT")"
				[ -n "$makespan" ] || die "storm against outpost printed no result"
				out_make="$out_make $makespan" out_err="$out_err $errors"
				out_spread="$out_spread $spread"
			else
				read -r makespan errors spread <<<"$(run_storm "$NGINX_PORT")"
				[ -n "$makespan" ] || die "storm against nginx printed no result"
				ref_make="$ref_make $makespan" ref_err="$ref_err $errors"
				ref_spread="$ref_spread $spread"
			fi
			say "run=$run $server: makespan $makespan s, $errors errors," \
				"slowest/fastest $spread"
		done
	done
	record "makespan, $CLIENTS clients" s "$out_make" nginx "$ref_make" ratio_max 1.05
	record "failed clients" clients "$out_err" nginx "$ref_err" value_eq 0
	record "slowest / fastest client time" x "$out_spread" nginx "$ref_spread" value_max 1.5
	record "outpost peak RSS (VmHWM) during the storms" MiB \
		"$(mem_mib "$OUTPOST_PID" VmHWM)" - - value_max 64
}

ensure_files
start_daemon
start_reference
measure
