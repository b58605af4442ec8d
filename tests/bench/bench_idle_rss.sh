#!/bin/bash
# Benchmark 4, idle memory: Outpost's resident set (VmRSS) with 10,000 machines
# registered through the API, after a few idle seconds. Each run starts a fresh daemon
# with its default [http] settings, so the figure is what an operator's daemon holds.
# Target: at most 32 MiB. There is no reference server; the registration rate is shown
# for context.
. "$(dirname "$0")/lib.sh"

MACHINES=10000
IDLE_SECONDS=5

# One run: fresh daemon, registrations, idle wait; sets RSS (MiB) and RATE
# (registrations per second). It runs in the main shell, not a subshell, so the cleanup
# trap can stop the daemon.
run_once() {
	local started elapsed
	# shellcheck disable=SC2119 # no extra settings: the daemon's defaults
	start_outpost
	started=$(date +%s.%N)
	register_machines "$WORK/machines.txt"
	elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
	sleep "$IDLE_SECONDS"
	RSS=$(mem_mib "$OUTPOST_PID" VmRSS)
	RATE=$(awk -v n="$MACHINES" -v s="$elapsed" 'BEGIN { printf "%.0f", n / s }')
	stop_outpost
}

measure() {
	local run all_rss="" all_rate=""
	write_machines "$MACHINES" "$WORK/machines.txt"
	for run in $(seq 1 "$RUNS"); do
		run_once
		say "run=$run: VmRSS $RSS MiB after registering $MACHINES machines at $RATE per second"
		all_rss="$all_rss $RSS" all_rate="$all_rate $RATE"
	done
	record "idle RSS (VmRSS), $MACHINES machines" MiB "$all_rss" - - value_max 32
	record "registrations over the unix socket, one connection" "machines/s" "$all_rate" \
		- - none -
}

measure
