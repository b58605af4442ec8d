#!/bin/bash
# Run every benchmark (bench_*.sh) against its reference and print the results table
# that docs/benchmarks.md records. Timings never fail the run: each target is printed
# with whether it was met. The exit status is nonzero only when a benchmark could not
# run to the end. On 2 cores the whole run takes about 20 minutes, and each benchmark is
# stopped by `timeout` (with everything it started) if it overruns its limit.
#
# Environment:
#   OUTPOST     the binary under test (required)
#   BENCH_DIR   helpers, cached artifacts, results.tsv and results.md (default: bench/
#               beside OUTPOST, so build/bench for `make bench`)
#   BENCH_RUNS  runs per measure (default 5)
#   BENCH_ONLY  the benchmarks to run, e.g. "render storm" (default: all ten)
#   BUNDLE_DIR  the ramdisk and debian-12 bundles for deploy (default: bundles/ beside
#               OUTPOST, which make bench builds)
set -u
: "${OUTPOST:?set OUTPOST to the outpost binary}"

HERE=$(cd "$(dirname "$0")" && pwd)
export OUTPOST
export BENCH_DIR=${BENCH_DIR:-$(cd "$(dirname "$OUTPOST")" && pwd)/bench}
export RESULTS=$BENCH_DIR/results.tsv
BENCHMARKS=${BENCH_ONLY:-render image storm idle_rss load ddi_kea ddi_leases ddi_dns bmc deploy}

# Seconds each benchmark may take before it is stopped: about twice what they took on
# the machine in docs/benchmarks.md.
declare -A LIMIT=([render]=660 [image]=330 [storm]=330 [idle_rss]=150 [load]=900
	[ddi_kea]=60 [ddi_leases]=1200 [ddi_dns]=180 [bmc]=300 [deploy]=7200)

# Pinning needs a core for the server and another for the load generator.
check_machine() {
	if [ "$(nproc)" -lt 2 ]; then
		echo "bench: needs at least 2 CPU cores (server on core 0, load on core 1)" >&2
		exit 1
	fi
	for tool in wrk nginx taskset curl fincore perl ss; do
		command -v "$tool" > /dev/null || {
			echo "bench: $tool not found; run 'make deps'" >&2
			exit 1
		}
	done
}

# The C load generators and reference clients, built with the project's warning flags.
build_helpers() {
	local tool packages
	mkdir -p "$BENCH_DIR/bin"
	for tool in fetch storm mkfile bmcref; do
		packages=libcurl
		# The BMC reference parses the Redfish replies, as the driver does.
		[ "$tool" = bmcref ] && packages="libcurl jansson"
		# shellcheck disable=SC2046,SC2086 # pkg-config's output is several words
		cc -std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow \
			-Wmissing-prototypes -Wcast-qual -Wsign-compare -Wformat=2 \
			-Wstrict-prototypes -Wvla -o "$BENCH_DIR/bin/$tool" "$HERE/$tool.c" \
			$(pkg-config --cflags --libs $packages) || exit 1
	done
}

machine_info() {
	echo "- date: $(date -u +%Y-%m-%d)"
	echo "- CPU: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "- memory: $(free -g | awk '/^Mem:/ { print $2 }') GiB"
	echo "- kernel: $(uname -r)"
	echo "- nginx: $(nginx -v 2>&1 | sed 's/.*nginx\///'), wrk: $(wrk -v 2>&1 | awk 'NR == 1 { print $2 }'), libmicrohttpd: $(pkg-config --modversion libmicrohttpd), SQLite: $(pkg-config --modversion sqlite3)"
	case " $BENCHMARKS " in
	*" ddi_"*)
		echo "- Kea: $(kea-dhcp4 -v 2>&1), PowerDNS: $(pdns_server --version 2>&1 |
			sed -n 's/.*PowerDNS Authoritative Server \([^ ]*\).*/\1/p' | head -n 1)," \
			"dnsperf: $(dnsperf -h 2>&1 | sed -n 's/^Version //p')" ;;
	esac
	echo "- runs per measure: ${BENCH_RUNS:-5}"
	echo "- load average before the run: $LOAD_BEFORE; after: $(cut -d ' ' -f 1-3 /proc/loadavg)"
}

# Markdown table of results.tsv: benchmark, measure, Outpost and reference as
# "median (min-max)", the ratio of the medians, the target and whether it was met.
print_table() {
	echo "| benchmark | measure | Outpost median (min-max) | reference median (min-max) | ratio | target | met |"
	echo "|---|---|---|---|---|---|---|"
	awk -F'\t' '{
		sub(/^bench_/, "", $1)
		unit = $3
		out = $4 " " unit " (" $5 "-" $6 ")"
		ref = $7 == "-" ? "-" : $7 ": " $8 " " unit " (" $9 "-" $10 ")"
		printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, out, ref, $11, $12, $13
	}' "$RESULTS"
}

run_benchmarks() {
	local name failed="" started
	for name in $BENCHMARKS; do
		echo "bench: $name (limit ${LIMIT[$name]:-300} s)"
		started=$(date +%s)
		if ! timeout --kill-after=15 "${LIMIT[$name]:-300}" bash "$HERE/bench_$name.sh"; then
			echo "bench: $name did not finish; its results are missing or partial" >&2
			failed="$failed $name"
		fi
		echo "bench: $name took $(( $(date +%s) - started )) s"
	done
	FAILED=$failed
}

check_machine
build_helpers
mkdir -p "$BENCH_DIR"
: > "$RESULTS"
# Other work on the machine skews every figure; the load average shows whether there was any.
LOAD_BEFORE=$(cut -d ' ' -f 1-3 /proc/loadavg)
started=$(date +%s)
run_benchmarks
{
	machine_info
	echo "- total time: $(( $(date +%s) - started )) s"
	echo
	print_table
} > "$BENCH_DIR/results.md"
echo
cat "$BENCH_DIR/results.md"
echo
echo "bench: results in $BENCH_DIR/results.md"
if [ -n "$FAILED" ]; then
	echo "bench: did not finish:$FAILED" >&2
	exit 1
fi
