#!/bin/bash
# Benchmark 2, image serving: one 4 GiB artifact over GET /files/.
#   warm: file in the page cache, 1, 8 and 64 concurrent clients, against nginx with
#         sendfile serving the same file. Target: at least 0.95 of nginx's throughput.
#   cold: page cache dropped before each run, one client, against
#         `dd iflag=direct bs=1M` reading the same file. Target: at least 0.9 of dd.
#   memory: Outpost's peak RSS (VmHWM) over all of the above. Target: at most 64 MiB.
. "$(dirname "$0")/lib.sh"

IMAGE=image-4g.bin
IMAGE_BYTES=$((4 * 1024 * 1024 * 1024))
WARM_SECONDS=${BENCH_IMAGE_SECONDS:-5}
WARM_CLIENTS="1 8 64"

# The image is made once and kept under BENCH_DIR, because writing 4 GiB takes a while.
ensure_image() {
	mkdir -p "$ARTIFACTS"
	if [ "$(stat -c %s "$ARTIFACTS/$IMAGE" 2>/dev/null)" != "$IMAGE_BYTES" ]; then
		say "creating $ARTIFACTS/$IMAGE"
		"$BIN/mkfile" "$ARTIFACTS/$IMAGE" "$IMAGE_BYTES" || die "cannot create the image"
	fi
}

# Same image from both servers: check a range in the middle byte for byte.
start_servers() {
	# Up to 64 clients from 127.0.0.1, at the default limit per client address.
	start_outpost "threads = 1" "max_connections_per_ip = 0"
	start_nginx "		location /files/ {
			alias $ARTIFACTS/;
		}"
	local range=$((IMAGE_BYTES / 2))-$((IMAGE_BYTES / 2 + 65535))
	curl -sS --noproxy '*' -r "$range" -o "$WORK/outpost.part" \
		"http://127.0.0.1:$BOOT_PORT/files/$IMAGE" || die "range request to outpost failed"
	curl -sS --noproxy '*' -r "$range" -o "$WORK/nginx.part" \
		"http://127.0.0.1:$NGINX_PORT/files/$IMAGE" || die "range request to nginx failed"
	[ "$(stat -c %s "$WORK/outpost.part")" = 65536 ] || die "outpost's range is not 65536 bytes"
	cmp -s "$WORK/outpost.part" "$WORK/nginx.part" || die "outpost and nginx bytes differ"
}

# Read the whole image into the page cache and check that all of it stayed there.
warm_cache() {
	cat "$ARTIFACTS/$IMAGE" > /dev/null
	local cached
	cached=$(fincore -b -n -o RES "$ARTIFACTS/$IMAGE" | tr -d ' ')
	[ "$cached" = "$IMAGE_BYTES" ] || say "warning: only $cached of $IMAGE_BYTES bytes are cached"
}

# Drop the image from the page cache. Writing 3 to /proc/sys/vm/drop_caches drops all
# clean caches. Where that is not allowed, dd's nocache flag drops this file's pages
# with posix_fadvise(POSIX_FADV_DONTNEED). fincore checks the result.
drop_cache() {
	sync
	if [ -z "${DROP_METHOD:-}" ]; then
		if echo 3 2>/dev/null > /proc/sys/vm/drop_caches; then
			DROP_METHOD=drop_caches
		else
			DROP_METHOD=fadvise
		fi
		say "dropping the page cache with: $DROP_METHOD"
	fi
	if [ "$DROP_METHOD" = drop_caches ]; then
		echo 3 > /proc/sys/vm/drop_caches
	else
		dd if="$ARTIFACTS/$IMAGE" iflag=nocache count=0 status=none
	fi
	local cached
	cached=$(fincore -b -n -o RES "$ARTIFACTS/$IMAGE" | tr -d ' ')
	[ "$cached" -lt $((IMAGE_BYTES / 100)) ] ||
		say "warning: $cached bytes of the image are still cached after dropping"
}

# One fetch run on CLIENT_CPU; prints the throughput in GB/s (10^9 bytes per second).
run_fetch() {
	local url=$1 clients=$2 seconds=${3:-}
	local line
	line=$(taskset -c "$CLIENT_CPU" "$BIN/fetch" "$url" "$clients" ${seconds:+"$seconds"}) ||
		die "fetch $url with $clients clients failed: $line"
	awk -v line="$line" 'BEGIN {
		n = split(line, kv, " ")
		for (i = 1; i <= n; i++) { split(kv[i], p, "="); r[p[1]] = p[2] }
		printf "%.3f\n", r["bytes"] / r["seconds"] / 1e9
	}'
}

# dd reads the image with O_DIRECT on the server's core; prints GB/s from dd's report.
run_dd() {
	LC_ALL=C taskset -c "$SERVER_CPU" dd if="$ARTIFACTS/$IMAGE" of=/dev/null bs=1M \
		iflag=direct 2>&1 | awk '/copied/ {
			for (i = 1; i <= NF; i++) if ($i == "s,") s = $(i - 1)
			printf "%.3f\n", $1 / s / 1e9
		}'
}

measure_warm() {
	local clients run
	warm_cache
	for clients in $WARM_CLIENTS; do
		local out="" ref="" order server rate label
		for run in $(seq 1 "$RUNS"); do
			order="outpost nginx"
			[ $((run % 2)) -eq 0 ] && order="nginx outpost"
			for server in $order; do
				if [ "$server" = outpost ]; then
					rate=$(run_fetch "http://127.0.0.1:$BOOT_PORT/files/$IMAGE" \
						"$clients" "$WARM_SECONDS")
					out="$out $rate"
				else
					rate=$(run_fetch "http://127.0.0.1:$NGINX_PORT/files/$IMAGE" \
						"$clients" "$WARM_SECONDS")
					ref="$ref $rate"
				fi
				[ -n "$rate" ] || die "fetch from $server failed"
				say "warm clients=$clients run=$run $server: $rate GB/s"
			done
		done
		label="$clients clients"
		[ "$clients" = 1 ] && label="1 client"
		record "warm throughput, $label" GB/s "$out" nginx "$ref" ratio_min 0.95
	done
}

# Each run reads the whole image once from disk: Outpost, dd and, for context, nginx.
measure_cold() {
	local run out="" ref="" ngx="" rate
	for run in $(seq 1 "$RUNS"); do
		drop_cache
		rate=$(run_fetch "http://127.0.0.1:$BOOT_PORT/files/$IMAGE" 1)
		[ -n "$rate" ] || die "cold fetch from outpost failed"
		out="$out $rate"
		drop_cache
		rate=$(run_dd)
		[ -n "$rate" ] || die "dd failed"
		ref="$ref $rate"
		drop_cache
		rate=$(run_fetch "http://127.0.0.1:$NGINX_PORT/files/$IMAGE" 1)
		[ -n "$rate" ] || die "cold fetch from nginx failed"
		ngx="$ngx $rate"
		say "cold run=$run: outpost $(echo "$out" | awk '{ print $NF }') GB/s," \
			"dd $(echo "$ref" | awk '{ print $NF }') GB/s, nginx $rate GB/s"
	done
	record "cold throughput, 1 client (cache dropped with $DROP_METHOD)" GB/s "$out" \
		"dd iflag=direct" "$ref" ratio_min 0.9
	record "cold throughput, 1 client, nginx for comparison" GB/s "$ngx" \
		"dd iflag=direct" "$ref" none -
}

# VmHWM is the peak since the daemon started, so one reading covers every run.
measure_memory() {
	local peak
	peak=$(mem_mib "$OUTPOST_PID" VmHWM)
	record "outpost peak RSS (VmHWM) while serving" MiB "$peak" - - value_max 64
}

ensure_image
start_servers
measure_warm
measure_cold
measure_memory
