#!/bin/bash
# A daemon killed with SIGKILL in the middle of writes restarts with a consistent
# store and an intact audit chain, and every machine it kept has its audit entry.
. "$(dirname "$0")/lib.sh"

ROUNDS=5
WRITERS=4

# Create machines over the socket until the daemon dies or 400 requests are sent.
write_machines() {
	local writer=$1
	for i in $(seq 1 100); do
		printf -v mac '52:54:%02x:00:%02x:%02x' "$writer" $((i / 256)) $((i % 256))
		api_unix POST /api/v1/machines -H 'Content-Type: application/json' \
			-d "{\"macs\": [\"$mac\"]}" -o /dev/null 2>/dev/null || return 0
	done
}

for round in $(seq 1 $ROUNDS); do
	start_daemon
	for writer in $(seq 1 $WRITERS); do
		write_machines $((round * 16 + writer)) &
	done
	# Kill at a different moment each round, between 50 and 450 ms in.
	sleep "0.$((RANDOM % 4 + 1))$((RANDOM % 10))"
	kill_daemon
	wait

	# The store must be intact before the daemon touches it again.
	integrity=$(sqlite3 "$WORK/state/outpost.db" 'PRAGMA integrity_check;')
	expect_eq "round $round: integrity_check" "$integrity" ok

	start_daemon
	verify=$(api_unix GET /api/v1/audit/verify)
	expect_eq "round $round: audit chain intact" "$(jq -r .intact <<<"$verify")" true
	machines=$(sqlite3 "$WORK/state/outpost.db" 'SELECT count(*) FROM machines;')
	audited=$(sqlite3 "$WORK/state/outpost.db" \
		"SELECT count(*) FROM audit WHERE action = 'machine.create' AND outcome = 'ok';")
	expect_eq "round $round: one audit entry per machine" "$audited" "$machines"
	stop_daemon
done
check "some machines were written before the kills" test "$machines" -gt 0
echo "$TEST_NAME: $machines machines survived $ROUNDS kills"

finish
