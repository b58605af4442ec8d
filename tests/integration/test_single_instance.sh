#!/bin/bash
# One state directory belongs to one daemon. A second daemon started on it, even
# with its own socket and ports, must stop at start-up and leave the first alone.
. "$(dirname "$0")/lib.sh"

start_daemon
sed "s#^socket = .*#socket = $WORK/second.sock#" "$WORK/outpost.conf" > "$WORK/second.conf"

"$OUTPOST" serve --config "$WORK/second.conf" 2> "$WORK/second.log" &
second=$!
for _ in $(seq 1 40); do
	kill -0 "$second" 2>/dev/null || break
	sleep 0.05
done
if kill -0 "$second" 2>/dev/null; then
	FAILURES=$((FAILURES + 1))
	echo "FAIL: $TEST_NAME: second daemon still running on the same state directory" >&2
	kill -TERM "$second"
fi
CHECKS=$((CHECKS + 1))
wait "$second"
second_status=$?
check "second daemon exit status" test "$second_status" -ne 0
expect_eq "second daemon exit code" "$second_status" 1
expect_contains "second daemon names the first and the directory" "$(cat "$WORK/second.log")" \
	"another outpost daemon (pid $DAEMON_PID) is using $WORK/state; stop it first"
check "second daemon made no socket" test ! -e "$WORK/second.sock"
expect_eq "lock file mode" "$(stat -c %a "$WORK/state/outpost.lock")" 600
expect_eq "lock file holds the pid" "$(cat "$WORK/state/outpost.lock")" "$DAEMON_PID"

status=$(api_unix GET /api/v1/status | jq -r .schema_version)
expect_eq "first daemon still serves" "$status" \
	"$(sqlite3 "$WORK/state/outpost.db" 'PRAGMA user_version')"
check "first daemon socket kept" test -S "$SOCKET"

# A stopped daemon releases the lock, so the next start succeeds.
check "first daemon stops" stop_daemon
start_daemon
expect_eq "restart after stop serves" \
	"$(api_unix GET /api/v1/status | jq -r '.schema_version | type')" number
check "restart stops" stop_daemon

# A state directory that another user owns, as one made first under /tmp may be, is
# refused. Only root can hand a directory to another user, so others skip this check.
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$WORK/foreign"
	chown nobody "$WORK/foreign"
	sed -e "s#^state_dir = .*#state_dir = $WORK/foreign#" \
		-e "s#^socket = .*#socket = $WORK/foreign.sock#" \
		"$WORK/outpost.conf" > "$WORK/foreign.conf"
	output=$("$OUTPOST" serve --config "$WORK/foreign.conf" 2>&1)
	expect_eq "foreign state directory exit status" "$?" 1
	expect_contains "foreign state directory message" "$output" \
		"state directory $WORK/foreign is owned by uid $(id -u nobody), not by the daemon's uid 0"
	check "nothing written to a foreign state directory" test -z "$(ls -A "$WORK/foreign")"
fi

# Two daemons started together on a fresh state directory and one socket: exactly one
# keeps running, and its socket serves requests.
for trial in 1 2 3 4 5; do
	rm -rf "$WORK/race"
	mkdir -p "$WORK/race"
	sed -e "s#^state_dir = .*#state_dir = $WORK/race/state#" \
		-e "s#^artifact_dir = .*#artifact_dir = $WORK/race/store#" \
		-e "s#^socket = .*#socket = $WORK/race/outpost.sock#" \
		"$WORK/outpost.conf" > "$WORK/race.conf"
	"$OUTPOST" serve --config "$WORK/race.conf" 2> "$WORK/race-a.log" &
	a=$!
	"$OUTPOST" serve --config "$WORK/race.conf" 2> "$WORK/race-b.log" &
	b=$!
	for _ in $(seq 1 100); do
		grep -q "outpost ready" "$WORK/race-a.log" "$WORK/race-b.log" && break
		sleep 0.05
	done
	# Give the loser time to fail, as the first check above does.
	for _ in $(seq 1 40); do
		kill -0 "$a" 2>/dev/null && kill -0 "$b" 2>/dev/null || break
		sleep 0.05
	done
	alive=0
	kill -0 "$a" 2>/dev/null && alive=$((alive + 1))
	kill -0 "$b" 2>/dev/null && alive=$((alive + 1))
	expect_eq "race trial $trial: daemons running" "$alive" 1
	status=$(curl -sS --unix-socket "$WORK/race/outpost.sock" http://localhost/api/v1/status |
		jq -r '.schema_version | type')
	expect_eq "race trial $trial: the winner's socket serves" "$status" number
	kill -TERM "$a" "$b" 2>/dev/null
	wait "$a" "$b"
done

finish
