#!/bin/bash
# The daemon starts, creates its state, answers on all three listeners, stops cleanly
# on SIGTERM, and rejects a bad configuration with a message naming the line.
. "$(dirname "$0")/lib.sh"

start_daemon

# First start creates the admin token and TLS key readable by the owner only.
expect_eq "admin token mode" "$(stat -c %a "$WORK/state/admin.token")" 600
expect_eq "admin token length" "${#TOKEN}" 64
expect_eq "TLS key mode" "$(stat -c %a "$WORK/state/tls/key.pem")" 600
expect_eq "socket mode" "$(stat -c %a "$SOCKET")" 600
check "the log never contains the token" bash -c "! grep -q '$TOKEN' '$WORK/daemon.log'"

status=$(api_unix GET /api/v1/status)
expect_eq "status over the unix socket" "$(jq -r .schema_version <<<"$status")" \
	"$(sqlite3 "$WORK/state/outpost.db" 'PRAGMA user_version')"
status=$(api_https GET /api/v1/status)
expect_eq "status over HTTPS" "$(jq -r '.machines.discovered' <<<"$status")" 0
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$WORK/state/tls/cert.pem" \
	"https://localhost:$API_PORT/api/v1/status")
expect_eq "HTTPS without a token" "$code" 401
code=$(boot_get /api/v1/status -o /dev/null -w '%{http_code}')
expect_eq "API is not served on the boot listener" "$code" 404

# A restart keeps the token and the certificate.
fingerprint=$(openssl x509 -noout -fingerprint -in "$WORK/state/tls/cert.pem")
check "SIGTERM stops the daemon with status 0" stop_daemon
check "socket removed on stop" test ! -e "$SOCKET"
expect_contains "stop is logged" "$(cat "$WORK/daemon.log")" "outpost stopped"
start_daemon
expect_eq "token kept across restarts" "$(cat "$WORK/state/admin.token")" "$TOKEN"
expect_eq "certificate kept across restarts" \
	"$(openssl x509 -noout -fingerprint -in "$WORK/state/tls/cert.pem")" "$fingerprint"
check "SIGINT stops the daemon" bash -c "kill -INT $DAEMON_PID"
wait "$DAEMON_PID"
expect_eq "SIGINT exit status" "$?" 0
DAEMON_PID=""

# A bad configuration is rejected before anything starts.
printf '[http]\nthreads = lots\n' > "$WORK/bad.conf"
output=$("$OUTPOST" serve --config "$WORK/bad.conf" 2>&1)
expect_eq "bad config exit status" "$?" 1
expect_contains "bad config message" "$output" 'line 2: http.threads: invalid value "lots"'
output=$("$OUTPOST" serve --config "$WORK/missing.conf" 2>&1)
expect_contains "missing config message" "$output" "$WORK/missing.conf"

finish
