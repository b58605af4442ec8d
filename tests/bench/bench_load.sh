#!/bin/bash
# Benchmark 5, bundle loading: a signed 4 GiB bundle (three disk images and 1,000
# small firmware files), once as .tar and once as .tar.zst, loaded by the daemon with
# the signature check, hashing, staging, fsync and the commit. The daemon runs on the
# CPUs in LOAD_DAEMON_CPUS, by default 0,1, because an appliance loads with all its
# cores and the CLI only waits for the job. LOAD_DAEMON_CPUS=0 pins it to one core.
# The references are single-threaded tools, on the same file, on core 0:
#   sequential: `openssl dgst -sha256` of the file, then `bsdtar -x` into a folder and
#               `sync -f` of it, so that both sides end with the bytes on disk.
#               Target: at most 0.6 of its time.
#   disk:       `dd oflag=direct bs=1M` copying the file. Target: at most 1.2 of its time.
#   memory:     the daemon's peak RSS (VmHWM) during a load. Target: at most 64 MiB.
# The bundle file is in the page cache for every run of every tool.
#
# Each tool writes into SCRATCH, a folder beside the cached bundles, not under /tmp.
# A run's files are emptied and kept, not deleted, until the benchmark ends. On ext4
# without a journal, as this machine's is, creating a file skips every inode of its
# block group that was freed in the last 60 s (360 s while the inode's table block is
# dirty). Deleting each run's 1,003 files made every later run slower: five .tar runs
# went from 1.95 s to 3.07 s. Under /tmp, where every test suite deletes its files,
# creating 1,003 files took 0.6 s of kernel CPU, against 0.05 s elsewhere on the disk.
. "$(dirname "$0")/lib.sh"

IMAGE_BYTES=$((1376 * 1024 * 1024))
DAEMON_CPUS=${LOAD_DAEMON_CPUS:-$SERVER_CPU,$CLIENT_CPU}
FIRMWARE_FILES=1000
KEYS=$TREE/bundles/keys
SRC=$ARTIFACTS/load-src
TAR=$ARTIFACTS/load-4g.bundle
ZST=$ARTIFACTS/load-4g.bundle.zst
mkdir -p "$BENCH_DIR"
SCRATCH=$(mktemp -d "$BENCH_DIR/scratch-load-XXXXXX")
trap 'rm -rf "$SCRATCH"; cleanup' EXIT
RETIRED=0

# Move a run's output folder aside and empty its files, which frees their blocks and
# keeps their inodes.
retire() {
	local dir=$1 to
	RETIRED=$((RETIRED + 1))
	to=$SCRATCH/retired-$RETIRED
	mv "$dir" "$to"
	# Blobs are read-only, and only root may truncate them as they are.
	chmod -R u+w "$to"
	find "$to" -type f -exec truncate -s 0 {} +
}

# The sources and both bundles are made once and kept under BENCH_DIR.
ensure_bundles() {
	local i
	mkdir -p "$SRC/fw"
	for i in 1 2 3; do
		[ "$(stat -c %s "$SRC/disk$i.raw" 2>/dev/null)" = $((IMAGE_BYTES + i * 4096)) ] ||
			"$BIN/mkfile" "$SRC/disk$i.raw" $((IMAGE_BYTES + i * 4096)) ||
			die "cannot create $SRC/disk$i.raw"
	done
	if [ ! -f "$SRC/fw/done" ]; then
		for i in $(seq 1 "$FIRMWARE_FILES"); do
			head -c $((4096 + (i * 7919) % 60000)) /dev/urandom > "$SRC/fw/fw$i.bin"
		done
		touch "$SRC/fw/done"
	fi
	{
		echo '{"name": "bench-load", "version": "1.0.0", "kind": "os", "files": ['
		for i in 1 2 3; do
			printf '{"source": "disk%d.raw", "path": "images/disk%d.raw", "role": "disk-image"},\n' "$i" "$i"
		done
		for i in $(seq 1 "$FIRMWARE_FILES"); do
			printf '{"source": "fw/fw%d.bin", "path": "firmware/fw%d.bin", "role": "firmware-image"}' "$i" "$i"
			[ "$i" = "$FIRMWARE_FILES" ] && echo || echo ,
		done
		echo ']}'
	} > "$SRC/spec.json"
	[ -f "$TAR" ] || "$OUTPOST" bundle create "$SRC/spec.json" --key "$KEYS/test.key" \
		--output "$TAR" > /dev/null || die "cannot create $TAR"
	# A .tar.zst made before `bundle create` wrote seek tables is made again.
	if [ -f "$ZST" ] && [ "$(tail -c 4 "$ZST" | od -An -tx1 | tr -d ' ')" != b1ea928f ]; then
		rm -f "$ZST"
	fi
	[ -f "$ZST" ] || "$OUTPOST" bundle create "$SRC/spec.json" --key "$KEYS/test.key" \
		--zstd --output "$ZST" > /dev/null || die "cannot create $ZST"
	say "bundles: $(stat -c %s "$TAR") bytes as .tar, $(stat -c %s "$ZST") as .tar.zst"
}

# Seconds since the epoch with nanoseconds, and the difference of two of them.
now() {
	date +%s.%N
}
elapsed() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'
}

# One load with a fresh daemon and an empty store; sets LOAD_SECONDS and LOAD_RSS.
run_outpost() {
	local file=$1 started ended
	mkdir -p "$SCRATCH/store"
	OUTPOST_ARTIFACTS=$SCRATCH/store SERVER_CPU=$DAEMON_CPUS start_outpost "[bundle]" \
		"trusted_keys = $KEYS" "allow_test_keys = true" > /dev/null
	cat "$file" > /dev/null
	started=$(now)
	OUTPOST_SOCKET=$SOCKET taskset -c "$CLIENT_CPU" "$OUTPOST" bundle load "$file" \
		> /dev/null || die "outpost could not load $file"
	ended=$(now)
	LOAD_RSS=$(mem_mib "$OUTPOST_PID" VmHWM)
	LOAD_SECONDS=$(elapsed "$started" "$ended")
	stop_outpost
	retire "$SCRATCH/store"
}

# openssl dgst, then bsdtar -x and sync -f, on the server's core; prints seconds.
run_sequential() {
	local file=$1 dir=$SCRATCH/extract started ended
	rm -rf "$dir"
	mkdir -p "$dir"
	cat "$file" > /dev/null
	started=$(now)
	taskset -c "$SERVER_CPU" openssl dgst -sha256 "$file" > /dev/null || die "openssl failed"
	taskset -c "$SERVER_CPU" bsdtar -xf "$file" -C "$dir" || die "bsdtar failed"
	sync -f "$dir"
	ended=$(now)
	retire "$dir"
	elapsed "$started" "$ended"
}

# dd with O_DIRECT writes, on the server's core; prints seconds.
run_dd() {
	local file=$1 out=$SCRATCH/dd.out started ended
	cat "$file" > /dev/null
	started=$(now)
	taskset -c "$SERVER_CPU" dd if="$file" of="$out" bs=1M oflag=direct status=none ||
		die "dd failed"
	ended=$(now)
	rm -f "$out"
	elapsed "$started" "$ended"
}

measure() {
	local label=$1 file=$2 run out_s="" seq_s="" dd_s="" rss="" seconds hwm s
	for run in $(seq 1 "$RUNS"); do
		run_outpost "$file"
		seconds=$LOAD_SECONDS hwm=$LOAD_RSS
		out_s="$out_s $seconds" rss="$rss $hwm"
		s=$(run_sequential "$file")
		seq_s="$seq_s $s"
		dd_s="$dd_s $(run_dd "$file")"
		say "$label run=$run: outpost ${seconds} s (peak RSS $hwm MiB), sequential $s s"
	done
	record "load time, $label, daemon on CPUs $DAEMON_CPUS, against openssl dgst + bsdtar -x + sync" \
		s "$out_s" "dgst+bsdtar" "$seq_s" ratio_max 0.6
	record "load time, $label, daemon on CPUs $DAEMON_CPUS, against dd oflag=direct" s \
		"$out_s" dd "$dd_s" ratio_max 1.2
	record "daemon peak RSS (VmHWM) during the load, $label" MiB "$rss" - - value_max 64
}

for tool in openssl bsdtar dd sync; do
	command -v "$tool" > /dev/null || die "$tool not found; run 'make deps'"
done
say "the daemon runs on CPUs $DAEMON_CPUS, the references on CPU $SERVER_CPU"
ensure_bundles
measure ".tar" "$TAR"
measure ".tar.zst" "$ZST"
