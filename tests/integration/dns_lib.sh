# Helpers for integration tests that run PowerDNS Authoritative (Debian 12: pdns-server
# 4.7.3 with pdns-backend-sqlite3) and tftpd-hpa 5.2 on loopback or inside a network
# namespace the test created. Sourced by a bash test after lib.sh or on its own. Needs
# root, sqlite3, curl, dig (bind9-dnsutils), tftp-hpa, socat, util-linux and iproute2.
# Safe under `set -euo pipefail`.
#
# Every start and stop waits a bounded time. Call the *_start functions from the test's
# own shell, not from a subshell or $(...), so the *_stop functions can wait for the
# server. Each start function also takes an optional command prefix, for example
# `ip netns exec NS`. The prefix must exec the next program (ip netns exec, nsenter,
# env), so that $! is the server's own PID.

# Seconds to wait for the API after start, for one API request, for a server to exit
# after SIGTERM, for tftpd to bind, and for one tftp transfer.
PDNS_START_TIMEOUT="${PDNS_START_TIMEOUT:-15}"
PDNS_API_TIMEOUT="${PDNS_API_TIMEOUT:-60}"
DNS_STOP_TIMEOUT="${DNS_STOP_TIMEOUT:-10}"
TFTPD_START_TIMEOUT="${TFTPD_START_TIMEOUT:-5}"
TFTP_CLIENT_TIMEOUT="${TFTP_CLIENT_TIMEOUT:-30}"
PDNS_SCHEMA="${PDNS_SCHEMA:-/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql}"

PDNS_PID=""
PDNS_DIR=""
PDNS_LOG=""
PDNS_ADDRESS=""
PDNS_DNS_PORT=""
PDNS_API_URL=""
PDNS_API_KEY=""
PDNS_PREFIX=()

TFTPD_PID=""
TFTPD_SYSLOG_PID=""
# Directory for tftpd's remap file, syslog socket and log. A test that sets TFTPD_DIR
# before tftpd_start owns that directory. Otherwise tftpd_start creates one in /tmp and
# tftpd_stop removes it, log included.
TFTPD_DIR="${TFTPD_DIR:-}"
TFTPD_DIR_OWNED=""
TFTPD_LOG=""
TFTPD_PREFIX=()

. "$(dirname "${BASH_SOURCE[0]}")/trap_lib.sh"
DNS_LIB_TREE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DNS_CLEANUP_REGISTERED=""
DNS_PREVIOUS_EXIT_TRAP=""

dns_fail() {
	echo "dns_lib: $*" >&2
	return 1
}

# Kill both servers, then run the EXIT trap that was set before the first start.
dns_cleanup() {
	pdns_kill || true
	tftpd_stop > /dev/null 2>&1 || true
	if [ -n "$DNS_PREVIOUS_EXIT_TRAP" ]; then
		eval "$DNS_PREVIOUS_EXIT_TRAP"
	fi
}

# Run dns_cleanup on exit, before whatever EXIT trap the test set already (lib.sh's
# cleanup removes $WORK).
dns_register_cleanup() {
	local previous
	if [ -n "$DNS_CLEANUP_REGISTERED" ]; then
		return 0
	fi
	previous=$(exit_trap_command)
	if [ -n "$previous" ] && [ "$previous" != "dns_cleanup" ]; then
		DNS_PREVIOUS_EXIT_TRAP=$previous
	fi
	trap dns_cleanup EXIT
	exit_on_signals
	DNS_CLEANUP_REGISTERED=1
}

# Send SIGTERM to PID and wait up to DNS_STOP_TIMEOUT seconds, then SIGKILL. Returns the
# exit status, or 1 when the process had to be killed. Usage: dns_stop_pid NAME PID
dns_stop_pid() {
	local name=$1 pid=$2 status=0 deadline
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + DNS_STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "dns_lib: $name (PID $pid) still runs ${DNS_STOP_TIMEOUT}s after SIGTERM;" \
			"killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		return 1
	fi
	wait "$pid" 2>/dev/null || status=$?
	return "$status"
}

# Write DIR/pdns.conf for pdns_start.
pdns_write_config() {
	local dir=$1 api_port=$2 dns_port=$3 api_key=$4 address=$5
	(
		umask 077
		cat > "$dir/pdns.conf" <<CONF
# Written by tests/integration/dns_lib.sh for pdns_server 4.7.
launch=gsqlite3
gsqlite3-database=$dir/pdns.sqlite3
local-address=$address
local-port=$dns_port
api=yes
api-key=$api_key
webserver-address=127.0.0.1
webserver-port=$api_port
webserver-allow-from=127.0.0.1
# The API purges the caches for a zone it changes, so DNS responses show API changes at
# once even with caches on. With these three caches off, they also show a record
# written straight into the database at once (with the defaults, after up to 20 s). A
# zone inserted straight into the database is served only after the zone cache refresh
# (zone-cache-refresh-interval, default 300 s) or \`pdns_control rediscover\`.
cache-ttl=0
query-cache-ttl=0
negquery-cache-ttl=0
# The default suffix makes pdns_server send a TXT query under secpoll.powerdns.com at
# start, to the resolver in /etc/resolv.conf. An empty value disables security polling.
security-poll-suffix=
# Run as the invoking user (root in the tests), in the foreground, with no guardian
# process, so \$! is the server. With setuid=pdns, gsqlite3 cannot open a database
# in a directory that only root can search.
daemon=no
guardian=no
# The control socket and pdns.pid go here, not to /run/pdns.
socket-dir=$dir
disable-syslog=yes
loglevel=4
CONF
	)
}

# Start pdns_server with a gsqlite3 database in DIR and wait until its API responds.
# DIR gets pdns.sqlite3 (created from the Debian schema unless it exists already, so a
# restart keeps the zones), pdns.conf, pdns.controlsocket, pdns.pid and pdns.log. DNS
# is served on ADDRESS:DNS_PORT (default address 127.0.0.1), the API on
# 127.0.0.1:API_PORT with the X-API-Key header API_KEY. Sets PDNS_PID, PDNS_LOG,
# PDNS_API_URL and the other PDNS_ variables that pdns_api and pdns_dig read.
# Usage: pdns_start DIR API_PORT DNS_PORT API_KEY [ADDRESS [PREFIX...]]
pdns_start() {
	local dir api_port dns_port api_key address deadline log_start log
	if [ "$#" -lt 4 ]; then
		dns_fail "usage: pdns_start DIR API_PORT DNS_PORT API_KEY [ADDRESS [PREFIX...]]"
		return 1
	fi
	dir=$1 api_port=$2 dns_port=$3 api_key=$4 address=${5:-127.0.0.1}
	shift 4
	if [ "$#" -gt 0 ]; then
		shift
	fi
	if [ -n "$PDNS_PID" ]; then
		dns_fail "pdns_start: pdns_server already runs as PID $PDNS_PID"
		return 1
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ ! -f "$dir/pdns.sqlite3" ]; then
		sqlite3 "$dir/pdns.sqlite3" < "$PDNS_SCHEMA"
	fi
	pdns_write_config "$dir" "$api_port" "$dns_port" "$api_key" "$address"

	# shellcheck disable=SC2034 # for the test, like PDNS_LOG
	PDNS_DIR=$dir
	PDNS_LOG="$dir/pdns.log"
	PDNS_ADDRESS=$address
	PDNS_DNS_PORT=$dns_port
	PDNS_API_URL="http://127.0.0.1:$api_port"
	PDNS_API_KEY=$api_key
	PDNS_PREFIX=("$@")
	dns_register_cleanup

	# A restart appends to the log, so only lines after this count belong to this start.
	touch "$PDNS_LOG"
	log_start=$(($(wc -l < "$PDNS_LOG") + 1))
	"${PDNS_PREFIX[@]}" pdns_server --config-dir="$dir" >> "$PDNS_LOG" 2>&1 &
	PDNS_PID=$!

	# pdns_server keeps running when it cannot bind the API port, and another server
	# may respond on that port, so read the log as well as sending an API request. The API
	# listener opens before the backend threads, so wait for both.
	deadline=$((SECONDS + PDNS_START_TIMEOUT))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if ! kill -0 "$PDNS_PID" 2>/dev/null; then
			wait "$PDNS_PID" 2>/dev/null || true
			PDNS_PID=""
			dns_fail "pdns_start: pdns_server exited during start-up; last log lines:"
			tail -n 20 "$PDNS_LOG" >&2
			return 1
		fi
		log=$(tail -n "+$log_start" "$PDNS_LOG")
		case "$log" in
		*"Listening on HTTP socket failed"*)
			dns_fail "pdns_start: pdns_server could not bind the API to" \
				"127.0.0.1:$api_port; last log lines:"
			tail -n 20 "$PDNS_LOG" >&2
			pdns_kill
			return 1
			;;
		*"Listening for HTTP requests on 127.0.0.1:$api_port"*"ready to distribute questions"*)
			if PDNS_API_TIMEOUT=2 pdns_api GET /api/v1/servers/localhost -f -o /dev/null \
				2>/dev/null; then
				return 0
			fi
			;;
		esac
		sleep 0.1
	done
	dns_fail "pdns_start: API on $PDNS_API_URL did not respond within" \
		"${PDNS_START_TIMEOUT}s; last log lines:"
	tail -n 20 "$PDNS_LOG" >&2
	pdns_kill
	return 1
}

# Send one request to the PowerDNS API and print the response body. Extra arguments go
# to curl, for example -d @file.json or -w '%{http_code}'. curl returns 0 on HTTP
# errors unless -f is given. Usage: pdns_api METHOD PATH [curl args...]
#
# NOTE: with gsqlite3, a write request that overlaps another write fails with 500 and
# "database is locked" in pdns.log, and changes nothing. Send writes one at a time.
pdns_api() {
	local method=$1 path=$2
	shift 2
	# An empty Expect header stops curl from sending "Expect: 100-continue" for bodies
	# over 1 MiB. pdns_server 4.7 never sends 100 Continue, so curl would wait 1 s.
	"${PDNS_PREFIX[@]}" curl -sS -m "$PDNS_API_TIMEOUT" -H "X-API-Key: $PDNS_API_KEY" \
		-H "Content-Type: application/json" -H "Expect:" -X "$method" \
		"$PDNS_API_URL$path" "$@"
}

# Query the running pdns_server with dig +short and print its output.
# Usage: pdns_dig NAME TYPE [dig args...]
pdns_dig() {
	local name=$1 type=$2
	shift 2
	"${PDNS_PREFIX[@]}" dig +short +time=2 +tries=1 -p "$PDNS_DNS_PORT" \
		@"$PDNS_ADDRESS" "$name" "$type" "$@"
}

# Stop pdns_server with SIGTERM. Returns 0 when it exits, or 1 when it had to be killed.
# pdns_server 4.7 installs no SIGTERM handler, so the default action ends it and the
# shell reports status 143. gsqlite3 commits each API change before responding, so
# nothing is lost. `pdns_control quit` would exit with status 0 instead.
pdns_stop() {
	local pid=$PDNS_PID status=0
	if [ -z "$pid" ]; then
		return 0
	fi
	PDNS_PID=""
	dns_stop_pid pdns_server "$pid" || status=$?
	if [ "$status" -eq 143 ]; then
		status=0
	fi
	return "$status"
}

# Kill pdns_server with SIGKILL, as a crash would, and wait for it.
pdns_kill() {
	local pid=$PDNS_PID
	if [ -z "$pid" ]; then
		return 0
	fi
	PDNS_PID=""
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# Start the syslog receiver for in.tftpd: socat writes each datagram that arrives on
# $TFTPD_DIR/dev/log to $TFTPD_LOG, unchanged.
tftpd_start_syslog() {
	local deadline
	mkdir -p "$TFTPD_DIR/dev"
	rm -f "$TFTPD_DIR/dev/log"
	: > "$TFTPD_DIR/dev/null"
	TFTPD_LOG="$TFTPD_DIR/tftpd.syslog"
	: > "$TFTPD_LOG"
	socat -u "UNIX-RECV:$TFTPD_DIR/dev/log,mode=0600" \
		"OPEN:$TFTPD_LOG,creat,append" 2>> "$TFTPD_DIR/socat.err" &
	TFTPD_SYSLOG_PID=$!
	deadline=$((SECONDS + TFTPD_START_TIMEOUT))
	until [ -S "$TFTPD_DIR/dev/log" ]; do
		if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$TFTPD_SYSLOG_PID" 2>/dev/null; then
			dns_fail "tftpd_start: socat did not create $TFTPD_DIR/dev/log:" \
				"$(cat "$TFTPD_DIR/socat.err")"
			return 1
		fi
		sleep 0.05
	done
}

# Start in.tftpd in the foreground (-L) serving ROOT read-only on ADDRESS:PORT (UDP),
# and wait until the port is bound.
#
# -s chroots each request's process to ROOT and -u nobody drops root after that, so
# ROOT must be searchable by others (o+x) and each file readable by others (o+r).
# Without -c tftpd creates no file, but a write request still overwrites an existing
# file that is writable by others, and with -s a path with ".." is not rejected but
# only kept inside ROOT by the chroot. The remap file therefore rejects every write
# request and every path with a ".." component; the client gets "Access denied".
#
# tftpd logs only to syslog, through /dev/log. It runs in a private mount namespace
# (unshare) where /dev is $TFTPD_DIR/dev, whose "log" socket socat reads, so tftpd_log
# prints what it logged; that mount is never visible to the host.
# Usage: tftpd_start ROOT ADDRESS PORT [PREFIX...]
tftpd_start() {
	local root address port bind deadline
	if [ "$#" -lt 3 ]; then
		dns_fail "usage: tftpd_start ROOT ADDRESS PORT [PREFIX...]"
		return 1
	fi
	root=$1 address=$2 port=$3
	shift 3
	if [ -n "$TFTPD_PID" ]; then
		dns_fail "tftpd_start: in.tftpd already runs as PID $TFTPD_PID"
		return 1
	fi
	if [ ! -d "$root" ]; then
		dns_fail "tftpd_start: TFTP root $root is not a directory"
		return 1
	fi
	root=$(cd "$root" && pwd)
	if [ -z "$(find "$root" -maxdepth 0 -perm -o+x)" ]; then
		dns_fail "tftpd_start: TFTP root $root is not searchable by others; in.tftpd" \
			"serves files as user nobody, so run chmod o+rx on it"
		return 1
	fi
	case "$address" in
	*:*) bind="[$address]:$port" ;;
	*) bind="$address:$port" ;;
	esac

	if [ -z "$TFTPD_DIR" ]; then
		TFTPD_DIR=$(mktemp -d /tmp/outpost-tftpd-XXXXXX)
		TFTPD_DIR_OWNED=1
	fi
	mkdir -p "$TFTPD_DIR"
	TFTPD_PREFIX=("$@")
	dns_register_cleanup
	# The appliance's own remap rules: no write request, no ".." component.
	cp "$DNS_LIB_TREE/rootfs/etc/outpost/tftpd.map" "$TFTPD_DIR/remap"
	tftpd_start_syslog

	# unshare and sh exec the next program, so $! is in.tftpd's own PID. The bind
	# mounts exist only in the new mount namespace.
	# shellcheck disable=SC2016 # $1 and $@ belong to the inner sh
	"${TFTPD_PREFIX[@]}" unshare --mount --propagation private sh -c '
		mount --bind /dev/null "$1/dev/null" && mount --bind "$1/dev" /dev || exit 1
		shift
		exec "$@"' sh "$TFTPD_DIR" \
		in.tftpd --foreground --secure --user nobody --verbosity 3 \
		--map-file "$TFTPD_DIR/remap" --address "$bind" "$root" \
		>> "$TFTPD_DIR/tftpd.out" 2>&1 &
	TFTPD_PID=$!

	deadline=$((SECONDS + TFTPD_START_TIMEOUT))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if ! kill -0 "$TFTPD_PID" 2>/dev/null; then
			wait "$TFTPD_PID" 2>/dev/null || true
			TFTPD_PID=""
			dns_fail "tftpd_start: in.tftpd exited during start-up; its output and log:"
			cat "$TFTPD_DIR/tftpd.out" >&2
			tftpd_log >&2
			return 1
		fi
		if "${TFTPD_PREFIX[@]}" ss -Hlnup "( sport = :$port )" |
			grep -q "pid=$TFTPD_PID,"; then
			return 0
		fi
		sleep 0.05
	done
	dns_fail "tftpd_start: in.tftpd did not bind $bind within ${TFTPD_START_TIMEOUT}s"
	tftpd_log >&2
	tftpd_stop || true
	return 1
}

# Print in.tftpd's syslog messages one a line, without the <priority> prefix.
tftpd_log() {
	if [ -z "$TFTPD_LOG" ] || [ ! -f "$TFTPD_LOG" ]; then
		return 0
	fi
	# glibc sends each message as one datagram that begins with "<PRI>" and may or may
	# not end in a newline, so split on the prefix.
	{
		sed 's/<[0-9]\{1,3\}>/\n/g' "$TFTPD_LOG"
		echo
	} | sed '/^$/d'
}

# Stop in.tftpd and its per-request children with SIGTERM, then the syslog receiver.
# Removes TFTPD_DIR when tftpd_start created it. Returns in.tftpd's exit status (0
# after SIGTERM), or 1 when it had to be killed.
tftpd_stop() {
	local pid=$TFTPD_PID status=0 child
	if [ -n "$pid" ]; then
		TFTPD_PID=""
		for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
			kill -TERM "$child" 2>/dev/null || true
		done
		dns_stop_pid in.tftpd "$pid" || status=$?
	fi
	if [ -n "$TFTPD_SYSLOG_PID" ]; then
		kill -TERM "$TFTPD_SYSLOG_PID" 2>/dev/null || true
		wait "$TFTPD_SYSLOG_PID" 2>/dev/null || true
		TFTPD_SYSLOG_PID=""
	fi
	if [ -n "$TFTPD_DIR_OWNED" ]; then
		rm -rf "$TFTPD_DIR"
		TFTPD_DIR=""
		TFTPD_DIR_OWNED=""
		TFTPD_LOG=""
	fi
	return "$status"
}

# Run one tftp-hpa client command in binary mode. tftp-hpa exits 0 even when the server
# sends an error, and prints nothing on success, so any output is a failure: it goes to
# stderr and the function returns 1. Usage: tftp_client ADDRESS PORT COMMAND [PREFIX...]
tftp_client() {
	local address=$1 port=$2 command=$3 output status=0
	shift 3
	# COMMAND is split into words on purpose: tftp -c takes the command as arguments.
	# shellcheck disable=SC2086
	output=$("$@" timeout "$TFTP_CLIENT_TIMEOUT" tftp -m binary "$address" "$port" \
		-c $command 2>&1) || status=$?
	if [ "$status" -ne 0 ] || [ -n "$output" ]; then
		echo "dns_lib: tftp $command from $address:$port failed (status $status): $output" >&2
		return 1
	fi
}

# Download REMOTE from the TFTP server to LOCAL. On failure LOCAL is removed, because
# the client creates it before the transfer. Paths must not contain spaces.
# Usage: tftp_get ADDRESS PORT REMOTE LOCAL [PREFIX...]
tftp_get() {
	local address=$1 port=$2 remote=$3 local_file=$4
	shift 4
	if ! tftp_client "$address" "$port" "get $remote $local_file" "$@"; then
		rm -f "$local_file"
		return 1
	fi
}

# Upload LOCAL to the TFTP server as REMOTE. Paths must not contain spaces.
# Usage: tftp_put ADDRESS PORT LOCAL REMOTE [PREFIX...]
tftp_put() {
	local address=$1 port=$2 local_file=$3 remote=$4
	shift 4
	tftp_client "$address" "$port" "put $local_file $remote" "$@"
}
