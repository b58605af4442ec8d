# Shared helpers for the integration tests, sourced by each test_*.sh.
# Each test gets its own temporary state directory and a daemon listening only on
# 127.0.0.1 with ports the kernel picks, so tests never collide or leave loopback.

set -u
: "${OUTPOST:?set OUTPOST to the outpost binary}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "/tmp/outpost-$TEST_NAME-XXXXXX")
TREE=$(cd "$(dirname "$0")/../.." && pwd)
DAEMON_PID=""
CHECKS=0
FAILURES=0

cleanup() {
	stop_daemon
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# Record one check. Usage: check "description" test-command...
check() {
	local what=$1
	shift
	CHECKS=$((CHECKS + 1))
	if "$@"; then
		return 0
	fi
	FAILURES=$((FAILURES + 1))
	echo "FAIL: $TEST_NAME: $what" >&2
	return 0
}

# Compare two values and print both on failure. Usage: expect_eq "description" actual expected
expect_eq() {
	CHECKS=$((CHECKS + 1))
	if [ "$2" = "$3" ]; then
		return 0
	fi
	FAILURES=$((FAILURES + 1))
	echo "FAIL: $TEST_NAME: $1: got '$2', expected '$3'" >&2
}

# Check that a string contains a substring. Usage: expect_contains "description" haystack needle
expect_contains() {
	CHECKS=$((CHECKS + 1))
	case "$2" in
	*"$3"*) return 0 ;;
	esac
	FAILURES=$((FAILURES + 1))
	echo "FAIL: $TEST_NAME: $1: '$3' not found in: $(printf '%s' "$2" | head -c 400)" >&2
}

# Write the test daemon's configuration; extra lines in "$@" are appended.
write_config() {
	mkdir -p "$WORK/state" "$WORK/store"
	cat > "$WORK/outpost.conf" <<CONF
[log]
level = debug
[store]
state_dir = $WORK/state
artifact_dir = $WORK/store
[boot]
listen = 127.0.0.1:0
url = http://outpost.test:8080
templates = $TREE/bootenv/ipxe
retry_seconds = 7
[api]
listen = 127.0.0.1:0
socket = $WORK/outpost.sock
[http]
threads = 2
CONF
	for line in "$@"; do
		echo "$line" >> "$WORK/outpost.conf"
	done
}

# Start the daemon and wait for its ready line; sets BOOT_PORT, API_PORT, SOCKET, TOKEN.
start_daemon() {
	[ -f "$WORK/outpost.conf" ] || write_config
	: > "$WORK/daemon.log"
	"$OUTPOST" serve --config "$WORK/outpost.conf" 2>> "$WORK/daemon.log" &
	DAEMON_PID=$!
	for _ in $(seq 1 200); do
		if grep -q "outpost ready" "$WORK/daemon.log"; then
			break
		fi
		if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			echo "FAIL: $TEST_NAME: daemon exited during start-up; log:" >&2
			cat "$WORK/daemon.log" >&2
			DAEMON_PID=""
			exit 1
		fi
		sleep 0.05
	done
	local ready
	ready=$(grep "outpost ready" "$WORK/daemon.log" | tail -n 1)
	BOOT_PORT=$(printf '%s' "$ready" | sed -n 's/.*boot_port=\([0-9]*\).*/\1/p')
	API_PORT=$(printf '%s' "$ready" | sed -n 's/.*api_port=\([0-9]*\).*/\1/p')
	SOCKET="$WORK/outpost.sock"
	TOKEN=$(cat "$WORK/state/admin.token")
	if [ -z "$BOOT_PORT" ] || [ -z "$API_PORT" ]; then
		echo "FAIL: $TEST_NAME: no ready line; log:" >&2
		cat "$WORK/daemon.log" >&2
		exit 1
	fi
}

# Stop the daemon with SIGTERM and wait; returns its exit status.
stop_daemon() {
	local status=0
	if [ -n "$DAEMON_PID" ]; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" || status=$?
		DAEMON_PID=""
	fi
	return "$status"
}

# Kill the daemon with SIGKILL, as a crash would.
kill_daemon() {
	if [ -n "$DAEMON_PID" ]; then
		kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=""
	fi
}

# Change one byte of FILE at OFFSET to its bitwise complement, so the file differs
# whatever the byte was. Usage: flip_byte FILE OFFSET
flip_byte() {
	local file=$1 offset=$2 byte
	byte=$(od -An -tu1 -j "$offset" -N 1 "$file" | tr -d ' ')
	if [ -z "$byte" ]; then
		echo "flip_byte: $file is shorter than $((offset + 1)) bytes" >&2
		return 1
	fi
	# shellcheck disable=SC2059 # the format is the escaped byte
	printf "\\$(printf '%03o' $((byte ^ 255)))" |
		dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
}

# curl against the unix socket. Usage: api_unix METHOD PATH [curl args...]
api_unix() {
	local method=$1 path=$2
	shift 2
	curl -sS --unix-socket "$SOCKET" -X "$method" "http://localhost$path" "$@"
}

# curl against the HTTPS listener with the admin token.
api_https() {
	local method=$1 path=$2
	shift 2
	curl -sS --cacert "$WORK/state/tls/cert.pem" -H "Authorization: Bearer $TOKEN" \
		-X "$method" "https://localhost:$API_PORT$path" "$@"
}

# curl against the boot listener.
boot_get() {
	local path=$1
	shift
	curl -sS "http://127.0.0.1:$BOOT_PORT$path" "$@"
}

# Print the summary line and exit with the test's status.
finish() {
	echo "$TEST_NAME: $((CHECKS - FAILURES)) passed, $FAILURES failed"
	[ "$FAILURES" -eq 0 ]
}
