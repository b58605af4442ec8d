#!/bin/bash
# Bad input at the HTTP layer gets a clear error and loses nothing: malformed
# requests, oversized headers and bodies, invalid JSON, unknown fields, duplicates.
. "$(dirname "$0")/lib.sh"

write_config "max_header_bytes = 4096" "max_body_bytes = 2048"
start_daemon
json=(-H 'Content-Type: application/json')

# Oversized header and body.
big=$(head -c 8000 /dev/zero | tr '\0' a)
code=$(boot_get /boot/ipxe -H "X-Big: $big" -o /dev/null -w '%{http_code}')
check "oversized header rejected ($code)" test "$code" -ge 400 -a "$code" -lt 500
body=$(printf '{"macs": ["52:54:00:00:00:01"], "serial": "%s"}' "$(head -c 4000 /dev/zero | tr '\0' b)")
reply=$(api_unix POST /api/v1/machines "${json[@]}" -d "$body" -w '\n%{http_code}')
expect_eq "oversized body status" "$(tail -n 1 <<<"$reply")" 413
expect_eq "oversized body error" "$(head -n 1 <<<"$reply" | jq -r .error)" too_large

# Malformed HTTP gets 400 or a closed connection, never a crash. libmicrohttpd
# closes a connection whose request line has a single token without replying.
raw_request() {
	printf "$1" | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$BOOT_PORT; cat >&3; cat <&3" \
		> "$WORK/raw" 2>/dev/null || true
}
raw_request 'GARBAGE\r\n\r\n'
check "garbage gets no 2xx reply" bash -c "! grep -q '^HTTP/1.1 2' '$WORK/raw'"
raw_request 'GET /boot/ipxe\r\n\r\n'
check "request line without version gets 400" grep -q '^HTTP/1.1 400' "$WORK/raw"
raw_request 'GET /boot/ipxe HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'
check "negative Content-Length gets 400" grep -q '^HTTP/1.1 400' "$WORK/raw"
raw_request 'GET /boot/ipxe HTTP/9.9\r\nHost: x\r\n\r\n'
check "unknown HTTP version gets 505" grep -q '^HTTP/1.1 505' "$WORK/raw"
raw_request 'GET /boot/ipxe HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n'
check "header without colon gets 400" grep -q '^HTTP/1.1 400' "$WORK/raw"

# Invalid JSON, unknown fields and wrong types name the problem.
reply=$(api_unix POST /api/v1/machines "${json[@]}" -d '{"macs": [' -w '\n%{http_code}')
expect_eq "invalid JSON status" "$(tail -n 1 <<<"$reply")" 400
expect_eq "invalid JSON error" "$(head -n 1 <<<"$reply" | jq -r .error)" invalid_json
reply=$(api_unix POST /api/v1/machines "${json[@]}" -d '{"macs": ["52:54:00:00:00:02"], "colour": "red"}')
expect_eq "unknown field error" "$(jq -r .error <<<"$reply")" unknown_field
expect_contains "unknown field named" "$(jq -r .detail <<<"$reply")" colour
reply=$(api_unix POST /api/v1/machines "${json[@]}" -d '{"macs": "52:54:00:00:00:02"}')
expect_eq "wrong type error" "$(jq -r .error <<<"$reply")" invalid_field
reply=$(api_unix POST /api/v1/machines "${json[@]}" -d '{"macs": ["52:54:00:00:00:02"], "hostname": "-bad"}')
expect_contains "bad hostname named" "$(jq -r .detail <<<"$reply")" -bad

# Duplicates are rejected and name the owner; the first machine is untouched.
api_unix POST /api/v1/machines "${json[@]}" -d '{"macs": ["52:54:00:00:00:03"], "hostname": "node3"}' -o /dev/null
reply=$(api_unix POST /api/v1/machines "${json[@]}" -d '{"macs": ["52-54-00-00-00-03"]}' -w '\n%{http_code}')
expect_eq "duplicate MAC status" "$(tail -n 1 <<<"$reply")" 409
expect_contains "duplicate MAC named" "$(head -n 1 <<<"$reply" | jq -r .detail)" 52:54:00:00:00:03
reply=$(api_unix POST /api/v1/machines "${json[@]}" -d '{"macs": ["52:54:00:00:00:04"], "hostname": "NODE3"}' -w '\n%{http_code}')
expect_eq "duplicate hostname status" "$(tail -n 1 <<<"$reply")" 409
expect_eq "only the first machine exists" "$(api_unix GET /api/v1/machines | jq '.items | length')" 1

check "daemon still running" kill -0 "$DAEMON_PID"
check "daemon stops cleanly" stop_daemon
finish
