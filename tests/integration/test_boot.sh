#!/bin/bash
# The boot listener as netbooting servers see it: iPXE scripts per machine state,
# MAC forms, retry scripts for bad requests, and artifact files with ranges and ETags.
. "$(dirname "$0")/lib.sh"

start_daemon
query='uuid=4C4C4544-0042-3510-8052-B4C04F4E3632&buildarch=x86_64&platform=efi'

# An unknown MAC is registered as discovered and gets the discovery script.
script=$(boot_get "/boot/ipxe?mac=52:54:00:AA:BB:01&$query")
expect_contains "discovery script is iPXE" "$(head -n 1 <<<"$script")" "#!ipxe"
machine=$(api_unix GET /api/v1/machines/52:54:00:aa:bb:01)
expect_eq "registered state" "$(jq -r .state <<<"$machine")" discovered
expect_eq "registered MAC is canonical" "$(jq -r '.macs[0]' <<<"$machine")" 52:54:00:aa:bb:01
expect_eq "registered UUID is lower case" "$(jq -r .uuid <<<"$machine")" \
	4c4c4544-0042-3510-8052-b4c04f4e3632
expect_eq "registered platform" "$(jq -r .platform <<<"$machine")" efi
id=$(jq -r .id <<<"$machine")

# Every accepted MAC form maps to the same machine.
for form in 52-54-00-aa-bb-01 525400AABB01 52:54:00:aa:bb:01; do
	boot_get "/boot/ipxe?mac=$form&$query" -o /dev/null
done
count=$(api_unix GET '/api/v1/machines?mac=52:54:00:aa:bb:01' | jq '.items | length')
expect_eq "one machine for every MAC form" "$count" 1
total=$(api_unix GET /api/v1/machines | jq '.items | length')
expect_eq "no duplicate machines" "$total" 1
audit=$(api_unix GET /api/v1/audit)
expect_eq "discovery audited once" \
	"$(jq '[.items[] | select(.action == "machine.discover")] | length' <<<"$audit")" 1

# Bad requests get HTTP 200 and a retry script that names the value.
for bad in "mac=zz:zz" "buildarch=sparc&mac=52:54:00:aa:bb:02" "" "mac=52:54:00:aa:bb:03&platform=bios"; do
	code=$(boot_get "/boot/ipxe?$bad" -o "$WORK/retry" -w '%{http_code}')
	expect_eq "bad request '$bad' status" "$code" 200
	expect_contains "bad request '$bad' retries" "$(cat "$WORK/retry")" "sleep 7"
done
expect_contains "invalid MAC is named" "$(boot_get '/boot/ipxe?mac=zz:zz')" "zz:zz"
hostile=$(boot_get '/boot/ipxe?mac=%24%7Bnet0%2Fmac%7D%22')
check "hostile value cannot inject iPXE expansions" bash -c '! grep -q "\${net0" <<<"$1"' _ "$hostile"

# A repeated request gets the same bytes, from the reply cache. The deploy action below
# must still show on the very next request.
first=$(boot_get "/boot/ipxe?mac=52:54:00:aa:bb:01&$query")
second=$(boot_get "/boot/ipxe?mac=52:54:00:aa:bb:01&$query")
expect_contains "discovery script before the deploy" "$first" "is registered as discovered"
expect_eq "repeated script is the same" "$second" "$first"

# A deploying machine gets the deploy script; a deployed one boots its disk.
mkdir -p "$WORK/store/deploy"
head -c 1000 /dev/urandom > "$WORK/store/deploy/vmlinuz"
head -c 1000 /dev/urandom > "$WORK/store/deploy/initrd.img"
api_unix POST /api/v1/profiles -H 'Content-Type: application/json' -d \
	'{"name": "debian-12", "kernel": "deploy/vmlinuz", "initrd": "deploy/initrd.img", "cmdline": "console=ttyS0"}' \
	-o /dev/null
api_unix POST "/api/v1/machines/$id/deploy" -H 'Content-Type: application/json' \
	-d '{"profile": "debian-12"}' -o /dev/null
script=$(boot_get "/boot/ipxe?mac=52:54:00:aa:bb:01&$query")
expect_contains "deploy script kernel" "$script" "http://outpost.test:8080/files/deploy/vmlinuz"
expect_contains "deploy script initrd" "$script" "http://outpost.test:8080/files/deploy/initrd.img"
expect_contains "deploy script cmdline" "$script" "console=ttyS0"

# Files: whole, HEAD, ranges, ETag.
file="$WORK/store/deploy/vmlinuz"
boot_get /files/deploy/vmlinuz -o "$WORK/got"
check "whole file matches" cmp -s "$WORK/got" "$file"
headers=$(boot_get /files/deploy/vmlinuz -I)
expect_contains "HEAD Content-Length" "$headers" "Content-Length: 1000"
expect_contains "HEAD Accept-Ranges" "$headers" "Accept-Ranges: bytes"
etag=$(sed -n 's/^ETag: \(.*\)\r$/\1/p' <<<"$headers")
check "ETag present" test -n "$etag"
code=$(boot_get /files/deploy/vmlinuz -H "If-None-Match: $etag" -o /dev/null -w '%{http_code}')
expect_eq "If-None-Match gives 304" "$code" 304
code=$(boot_get /files/deploy/vmlinuz -r 100-199 -o "$WORK/part" -w '%{http_code}')
expect_eq "range status" "$code" 206
check "range bytes match" cmp -s "$WORK/part" <(tail -c +101 "$file" | head -c 100)
code=$(boot_get /files/deploy/vmlinuz -r 5000-6000 -o /dev/null -w '%{http_code}')
expect_eq "unsatisfiable range" "$code" 416

# Nothing outside the artifact store is ever served.
ln -s /etc/passwd "$WORK/store/deploy/passwd"
for path in "../outpost.conf" "deploy/../../outpost.conf" "%2e%2e/outpost.conf" \
	"%252e%252e%252foutpost.conf" "/etc/passwd" "deploy/passwd" ".hidden" "deploy//vmlinuz"; do
	code=$(curl -sS --path-as-is -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$BOOT_PORT/files/$path")
	expect_eq "traversal '$path'" "$code" 404
done

finish
