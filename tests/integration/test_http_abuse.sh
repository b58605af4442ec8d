#!/bin/bash
# Hostile HTTP input that the boot and API listeners must survive: NUL bytes in
# paths, many query arguments, bodies sent before authentication, and connections
# that trickle their headers to hold every connection slot.
. "$(dirname "$0")/lib.sh"

write_config "max_connections = 16" "timeout_seconds = 4"
start_daemon
mkdir -p "$WORK/store/deploy"
echo kernel > "$WORK/store/deploy/k"
api_unix POST /api/v1/machines -H 'Content-Type: application/json' \
	-d '{"macs": ["52:54:00:ab:00:01"]}' -o /dev/null

# A %00 in a path must not cut the path short: "k%00.txt" is not "k", and
# "1%00x" is not machine 1. The http module rejects an encoded NUL anywhere in the
# request target with 400 before any handler runs, so 400 here, not the 404 of a
# missing file.
code=$(boot_get '/files/deploy/k%00.txt' -o /dev/null -w '%{http_code}')
expect_eq "file path %00 not truncated" "$code" 400
code=$(api_unix GET '/api/v1/machines/1%00x' -o /dev/null -w '%{http_code}')
check "machine ref %00 not truncated ($code)" test "$code" != 200

# A request whose headers nearly fill the boot listener's max_header_bytes (2048), with
# 30 fields, still gets its whole reply: the connection's pool keeps room for the
# reply's headers, here those of a file.
mkdir -p "$WORK/store/deploy"
head -c 10000 /dev/urandom > "$WORK/store/deploy/pool.bin"
extra=()
for i in $(seq 1 26); do
	extra+=(-H "X-Field-$i: v")
done
pad=$(head -c 1500 /dev/zero | tr '\0' a)
reply=$(boot_get /files/deploy/pool.bin -H "X-Pad: $pad" "${extra[@]}" --max-time 5 \
	-o "$WORK/pool.got" -w '%{http_code} %{size_download}')
expect_eq "full headers get the whole file" "$reply" "200 10000"
check "the file arrives intact" cmp -s "$WORK/pool.got" "$WORK/store/deploy/pool.bin"

# Query arguments far below max_header_bytes: up to the boot listener's field limit
# (32 query arguments plus headers) they get a reply. Past it libmicrohttpd cannot
# store them and would hold the connection silently until the timeout, so the
# listener closes it at once instead.
many=$(printf 'a=1&%.0s' $(seq 1 20))
code=$(boot_get "/boot/ipxe?${many}mac=52:54:00:ab:00:02&buildarch=x86_64&platform=efi" \
	--max-time 3 -o /dev/null -w '%{http_code}' 2>/dev/null)
expect_eq "20 query arguments get a reply" "$code" 200
many=$(printf 'a=1&%.0s' $(seq 1 40))
started=$(date +%s%N)
boot_get "/boot/ipxe?${many}mac=52:54:00:ab:00:02&buildarch=x86_64&platform=efi" \
	--max-time 5 -o /dev/null 2>/dev/null
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
check "40 query arguments closed at once (${elapsed_ms} ms)" test "$elapsed_ms" -lt 2000
many=$(printf 'a=1&%.0s' $(seq 1 500))
started=$(date +%s%N)
boot_get "/boot/ipxe?${many}mac=52:54:00:ab:00:02&buildarch=x86_64&platform=efi" \
	--max-time 5 -o /dev/null 2>/dev/null
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
check "500 query arguments closed at once (${elapsed_ms} ms)" test "$elapsed_ms" -lt 2000

# Send headers that announce a body, then nothing. The reply that does not depend
# on the body (401 without a token, 405 for POST on the boot listener) must come
# before the body, so an unauthenticated client cannot make the daemon buffer
# max_body_bytes per connection.
headers='POST /api/v1/machines HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n'
reply=$( (printf "$headers"; sleep 2) | timeout 3 openssl s_client -quiet \
	-connect "127.0.0.1:$API_PORT" 2>/dev/null | head -n 1)
expect_contains "HTTPS 401 before body" "$reply" "HTTP/1.1 401"
headers='POST /boot/ipxe HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n'
reply=$( (printf "$headers"; sleep 2) | timeout 3 bash -c \
	"exec 3<>/dev/tcp/127.0.0.1/$BOOT_PORT; exec 4<&0; cat <&4 >&3 & head -n 1 <&3" \
	2>/dev/null)
expect_contains "boot POST 405 before body" "$reply" "HTTP/1.1 405"

# Slow headers: 16 connections (max_connections) each send a byte every 2 seconds,
# so none is ever idle for timeout_seconds. After twice timeout_seconds a normal
# request must still be served.
send_slow_headers() {
	exec 3<>"/dev/tcp/127.0.0.1/$BOOT_PORT" || return 0
	printf 'GET /boot/ipxe HTTP/1.1\r\nHost: x\r\nX-Slow: ' >&3
	for _ in $(seq 1 10); do
		sleep 2
		printf 'a' >&3 2>/dev/null || return 0
	done
}
pids=()
for _ in $(seq 1 16); do
	send_slow_headers &
	pids+=($!)
done
sleep 8
code=$(boot_get '/boot/ipxe?mac=52:54:00:ab:00:03&buildarch=x86_64&platform=efi' \
	--max-time 4 -o /dev/null -w '%{http_code}' 2>/dev/null)
expect_eq "boot served despite slow headers" "$code" 200
kill "${pids[@]}" 2>/dev/null
wait "${pids[@]}" 2>/dev/null

check "daemon still running" kill -0 "$DAEMON_PID"
finish
