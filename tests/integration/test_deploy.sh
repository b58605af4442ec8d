#!/bin/bash
# A deployment from Outpost's side with the real outpost-agent, without a VM: the agent
# runs on this host against a loop device that stands in for the server's disk, with
# the orders the deploy script puts on the kernel command line. Covers the lifecycle,
# the token checks, the image written and verified, the NoCloud seed in the installed
# root, cloud-init's endpoints and phone-home, and the failures: hash mismatch, disk
# too small, HTTP error, the watchdog, and a daemon restart mid-deployment.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/deploy_lib.sh"

AGENT=${AGENT:-$(dirname "$OUTPOST")/outpost-agent}
json=(-H 'Content-Type: application/json')
trap 'deploy_loops_free; cleanup' EXIT

port=$(deploy_free_port)
write_config "[bundle]" "trusted_keys = $TREE/bundles/keys" "allow_test_keys = true" \
	"[deploy]" "phase_timeout_seconds = 5"
sed -i -e "0,/^listen = 127.0.0.1:0/s||listen = 127.0.0.1:$port|" \
	-e "s|^url = .*|url = http://127.0.0.1:$port|" "$WORK/outpost.conf"
start_daemon
deploy_image_make || { echo "FAIL: cannot make the test image" >&2; exit 1; }
deploy_bundle_load || { echo "FAIL: cannot load the test bundle" >&2; exit 1; }

key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOutpostTestKeyOutpostTestKeyOutpostTest test@outpost"
api_unix POST /api/v1/profiles "${json[@]}" -o /dev/null -d "$(jq -n --arg key "$key" '{
	name: "test-os", image: "test-os/1.0.0/disk.raw.zst", kernel: "test-os/1.0.0/vmlinuz",
	initrd: "test-os/1.0.0/initrd.img", cmdline: "quiet",
	templates: {ssh_authorized_keys: ($key + "\n# a comment\n"),
		    "user-data": "#!/bin/sh\necho site script"}}')"
mac=52:54:00:aa:00:01
id=$(api_unix POST /api/v1/machines "${json[@]}" \
	-d "{\"macs\": [\"$mac\"], \"hostname\": \"web1\", \"profile\": \"test-os\"}" | jq -r .id)

# deploy_start: deploy the machine, fetch its script, set TOKEN and DEPLOYMENT.
deploy_start() {
	local reply script
	reply=$(api_unix POST "/api/v1/machines/$id/deploy" "${json[@]}" -d '{}')
	DEPLOYMENT=$(jq -r .deployment.id <<< "$reply")
	script=$(boot_get "/boot/ipxe?mac=$mac&buildarch=x86_64&platform=pcbios")
	TOKEN=$(sed -n 's/.*outpost\.token=\([^ ]*\).*/\1/p' <<< "$script")
	SCRIPT=$script
}

machine() { api_unix GET "/api/v1/machines/$id"; }

# 1. A deployment that goes all the way.
deploy_start
expect_eq "deploying" "$(machine | jq -r .state)" deploying
expect_contains "script boots the profile's kernel" "$SCRIPT" "/files/test-os/1.0.0/vmlinuz initrd=initrd outpost.url=http://127.0.0.1:$port outpost.mode=deploy outpost.token=d$DEPLOYMENT-"
expect_contains "script names the boot NIC" "$SCRIPT" 'BOOTIF=01-${netX/mac:hexhyp}'
expect_contains "script has the console and the profile's arguments" "$SCRIPT" "console=ttyS0,115200n8 quiet"
expect_eq "phase after the script" "$(machine | jq -r .deployment.phase)" ipxe-script

# Tokens: a forged one, none, and a machine token asking for the deployment.
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer d$DEPLOYMENT-$(printf '0%.0s' {1..64})" \
	"http://127.0.0.1:$port/agent/v1/deployment")
expect_eq "forged token" "$status" 401
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/agent/v1/deployment")
expect_eq "no token" "$status" 401
reply=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/agent/v1/deployment")
expect_eq "deployment image url" "$(jq -r .image.url <<< "$reply")" "http://127.0.0.1:$port/files/test-os/1.0.0/disk.raw.zst"
expect_eq "deployment image hash" "$(jq -r .image.sha256 <<< "$reply")" "$(sha256sum < "$WORK/image/disk.raw.zst" | cut -d ' ' -f 1)"
expect_eq "deployment raw size" "$(jq -r .image.raw_size <<< "$reply")" "$(stat -c %s "$WORK/image/disk.raw")"
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
	"${json[@]}" -d '{"phase": "phone-home"}' "http://127.0.0.1:$port/agent/v1/phase")
expect_eq "the agent cannot claim an Outpost phase" "$status" 400

# Reports that do not move the deployment forward are stale.
post_phase() {
	curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $1" "${json[@]}" \
		-d "{\"phase\": \"$2\", \"seconds\": 1}" "http://127.0.0.1:$port/agent/v1/phase"
}
expect_eq "phone-home before the image is written" "$(curl -s -o /dev/null -w '%{http_code}' \
	-X POST "http://127.0.0.1:$port/cloud-init/$TOKEN/phone-home")" 409
expect_eq "seconds must be a number" "$(curl -s -o /dev/null -w '%{http_code}' -X POST \
	-H "Authorization: Bearer $TOKEN" "${json[@]}" -d '{"phase": "ramdisk-up", "seconds": "x"}' \
	"http://127.0.0.1:$port/agent/v1/phase")" 400
expect_eq "a GET with a body" "$(curl -s -o /dev/null -w '%{http_code}' -X GET -d x \
	"http://127.0.0.1:$port/boot/start.ipxe")" 400

# A POST without a valid token is turned away before its body is read.
headers='POST /agent/v1/inventory HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n'
reply=$( (printf "$headers"; sleep 2) | timeout 3 bash -c \
	"exec 3<>/dev/tcp/127.0.0.1/$port; exec 4<&0; cat <&4 >&3 & head -n 1 <&3" 2>/dev/null)
expect_contains "agent POST without a token: 401 before the body" "$reply" "HTTP/1.1 401"
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/cloud-init/d1-00/phone-home")
expect_eq "phone-home with a bad token" "$status" 401
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$port/boot/ipxe")
expect_eq "POST elsewhere on the boot listener" "$status" 405
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
	"${json[@]}" --data-binary @<(head -c 300000 /dev/zero | tr '\0' ' ') \
	"http://127.0.0.1:$port/agent/v1/inventory")
expect_eq "inventory over 256 KiB" "$status" 413

disk=$(deploy_loop_new 64M)
deploy_agent_run deploy "$TOKEN" "$disk"
expect_eq "agent exit status" "$?" 0
m=$(machine)
expect_eq "agent phases in order" "$(jq -c '[.deployment.phases[].phase]' <<< "$m")" \
	'["ipxe-script","ramdisk-up","disk-selected","image-written","image-verified","configured","rebooting"]'
expect_eq "image written flag" "$(jq -r .deployment.image_written <<< "$m")" true
expect_contains "image-written detail" "$(jq -r '.deployment.phases[] | select(.phase == "image-written") | .detail' <<< "$m")" "33554432 bytes written"
raw_size=$(stat -c %s "$WORK/image/disk.raw")
expect_eq "disk holds the image's GPT and boot partition" "$(head -c 2097152 "$disk" | sha256sum)" \
	"$(head -c 2097152 "$WORK/image/disk.raw" | sha256sum)"
# Partition 2 starts at sector 4096; a loop device over it works without kernel
# partition table support.
mkdir -p "$WORK/mnt"
mount -o ro,offset=$((4096 * 512)) "$disk" "$WORK/mnt"
seed=$(cat "$WORK/mnt/etc/cloud/cloud.cfg.d/99_outpost_seed.cfg" 2>&1)
expect_eq "disk holds the image's root file system" "$(sha256sum < "$WORK/mnt/etc/random-content")" \
	"$(sha256sum < "$WORK/image/root/etc/random-content")"
umount "$WORK/mnt"
expect_contains "NoCloud seed in the installed root" "$seed" "seedfrom: http://127.0.0.1:$port/cloud-init/$TOKEN/"
expect_contains "next netboot goes to the local disk" \
	"$(boot_get "/boot/ipxe?mac=$mac&buildarch=x86_64&platform=pcbios")" "booting from the local disk"

# cloud-init reads its seed and phones home.
seed_url="http://127.0.0.1:$port/cloud-init/$TOKEN"
meta=$(curl -sS "$seed_url/meta-data")
expect_eq "meta-data" "$meta" "instance-id: outpost-d$DEPLOYMENT
local-hostname: web1"
expect_eq "first-boot recorded" "$(machine | jq -r .deployment.phase)" first-boot
user=$(curl -sS "$seed_url/user-data")
expect_contains "user-data is multipart with the site's script" "$user" 'Content-Type: text/x-shellscript'
expect_contains "user-data has the key" "$user" "  - \"$key\""
expect_contains "user-data phones home" "$user" "url: \"$seed_url/phone-home\""
net=$(curl -sS "$seed_url/network-config")
expect_contains "network-config matches the boot MAC" "$net" "mac_address: \"$mac\""
expect_contains "network-config without DDI is DHCP" "$net" "type: dhcp"
expect_eq "unknown seed file" "$(curl -s -o /dev/null -w '%{http_code}' "$seed_url/other")" 404
reply=$(curl -sS -X POST -d 'instance_id=outpost-d1&hostname=web1' "$seed_url/phone-home")
expect_eq "phone-home" "$(jq -r .state <<< "$reply")" deployed
m=$(machine)
expect_eq "machine deployed" "$(jq -r .state <<< "$m")" deployed
expect_eq "deployment succeeded" "$(jq -r .deployment.state <<< "$m")" succeeded
expect_eq "phone-home twice" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$seed_url/phone-home")" 200
expect_eq "a report after the end is stale" "$(post_phase "$TOKEN" configured)" 409
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
	"${json[@]}" -d '{"inventory": {"system": {"serial": "FORGED"}}}' \
	"http://127.0.0.1:$port/agent/v1/inventory")
expect_eq "an ended deployment's token posts no inventory" "$status" 409
audit=$(api_unix GET '/api/v1/audit?limit=200' | jq -r '[.items[] | select(.target == "machine:'"$id"'") | .action] | join(",")')
expect_contains "deploy audited" "$audit" "machine.deploy,"
expect_contains "phases audited" "$audit" "deployment.phase,"
expect_contains "deployed audited" "$audit" "machine.deployed"
expect_eq "audit chain intact" "$(api_unix GET /api/v1/audit/verify | jq -r .intact)" true
first_token=$TOKEN
deploy_loops_free

# 2. A corrupted image fails with the hash error and wipes the disk's start.
deploy_start
expect_eq "the old token is refused" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/cloud-init/$first_token/meta-data")" 410
sha=$(sha256sum < "$WORK/image/disk.raw.zst" | cut -d ' ' -f 1)
blob=$WORK/store/sha256/${sha:0:2}/$sha
cp "$blob" "$WORK/blob.good"
chmod u+w "$blob"
flip_byte "$blob" 5000
disk=$(deploy_loop_new 64M)
deploy_agent_run deploy "$TOKEN" "$disk"
expect_eq "agent fails" "$?" 1
m=$(machine)
expect_eq "machine failed" "$(jq -r .state <<< "$m")" failed
expect_eq "failed phase" "$(jq -r .deployment.phase <<< "$m")" image-verified
expect_contains "hash reason" "$(jq -r .deployment.reason <<< "$m")" "image hash mismatch"
expect_eq "disk start wiped" "$(head -c 1048576 "$disk" | tr -d '\0' | wc -c)" 0
expect_contains "failed machines get the discovery script" \
	"$(boot_get "/boot/ipxe?mac=$mac&buildarch=x86_64&platform=pcbios")" "registered as failed"
cp "$WORK/blob.good" "$blob"
deploy_loops_free

# 3. A disk too small, and an HTTP error, each fail in their phase; then a deploy works.
deploy_start
disk=$(deploy_loop_new 8M)
deploy_agent_run deploy "$TOKEN" "$disk"
m=$(machine)
expect_eq "small disk phase" "$(jq -r .deployment.phase <<< "$m")" disk-selected
expect_contains "small disk reason" "$(jq -r .deployment.reason <<< "$m")" "the image needs $raw_size"
deploy_loops_free
deploy_start
mv "$blob" "$WORK/blob.moved"
disk=$(deploy_loop_new 64M)
deploy_agent_run deploy "$TOKEN" "$disk"
m=$(machine)
expect_eq "HTTP error phase" "$(jq -r .deployment.phase <<< "$m")" image-written
expect_contains "HTTP error reason" "$(jq -r .deployment.reason <<< "$m")" "HTTP 404"
mv "$WORK/blob.moved" "$blob"
deploy_loops_free

# 4. A daemon killed mid-deployment: the agent's reports retry, and the token still works.
deploy_start
kill_daemon
disk=$(deploy_loop_new 64M)
deploy_agent_run deploy "$TOKEN" "$disk" &
agent_pid=$!
sleep 2
start_daemon
wait "$agent_pid"
expect_eq "agent finishes after the restart" "$?" 0
expect_eq "deployment carried on" "$(machine | jq -r .deployment.phase)" rebooting
deploy_loops_free

# 5. The watchdog fails a deployment that nothing reports on (timeout 5 s here).
sleep 8
m=$(machine)
expect_eq "watchdog failed the silent deployment" "$(jq -r .state <<< "$m")" failed
expect_contains "watchdog reason" "$(jq -r .deployment.reason <<< "$m")" "timed out: no report for 5 s after phase rebooting"
expect_eq "deployments listed newest first" \
	"$(api_unix GET "/api/v1/machines/$id/deployments" | jq -r '[.items[].state] | join(",")')" \
	"failed,failed,failed,failed,succeeded"

# 6. A ramdisk that keeps restarting ends the deployment; phases never go back.
deploy_start
expect_eq "first run" "$(post_phase "$TOKEN" ramdisk-up)" 200
expect_eq "disk chosen" "$(post_phase "$TOKEN" disk-selected)" 200
expect_eq "a phase cannot go back" "$(post_phase "$TOKEN" disk-selected)" 409
expect_eq "second run" "$(post_phase "$TOKEN" ramdisk-up)" 200
expect_eq "third run" "$(post_phase "$TOKEN" ramdisk-up)" 200
expect_eq "fourth run" "$(post_phase "$TOKEN" ramdisk-up)" 409
m=$(machine)
expect_eq "restart loop fails the machine" "$(jq -r .state <<< "$m")" failed
expect_contains "restart loop reason" "$(jq -r .deployment.reason <<< "$m")" "started 4 times"

# 7. A deployment in flight is replaced only with force, and its token stops working.
deploy_start
old_token=$TOKEN
status=$(api_unix POST "/api/v1/machines/$id/deploy" "${json[@]}" -d '{}' -o /dev/null -w '%{http_code}')
expect_eq "deploy while deploying" "$status" 409
status=$(api_unix POST "/api/v1/machines/$id/deploy" "${json[@]}" -d '{"force": true}' -o /dev/null -w '%{http_code}')
expect_eq "forced deploy while deploying" "$status" 202
expect_eq "replaced deployment" "$(api_unix GET "/api/v1/machines/$id/deployments" |
	jq -r '.items[1] | .state + ": " + .reason')" "failed: replaced by a forced deploy action"
expect_eq "the replaced deployment's token" "$(post_phase "$old_token" ramdisk-up)" 409

finish
