#!/bin/bash
# Virtual-media deployments without a VM: POST .../deploy with {"boot": "virtual-media"}
# builds the machine's ISO, which must hold the deploy kernel and initrd, a grub.cfg
# with the deployment's static network on the kernel command line and both El Torito
# entries. The boot listener serves it with HEAD and Range and hides it from a wrong
# token. The agent, run on this host against a loop device with the ISO's command line,
# writes the static network into the installed system's cloud-init configuration. The
# ISO goes when its deployment ends, and a restart removes stale ones. Checks as well
# the ramdisk init's validation of the static values, under busybox sh.
#
# DHCP and DNS are enabled for their subnet settings only: no Kea or PowerDNS runs,
# and the DDI manager's pushes to them fail and retry on loopback.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/deploy_lib.sh"

AGENT=${AGENT:-$(dirname "$OUTPOST")/outpost-agent}
json=(-H 'Content-Type: application/json')
trap 'deploy_loops_free; cleanup' EXIT

for tool in xorriso isoinfo busybox grub-mkimage mkfs.fat mcopy losetup; do
	command -v "$tool" > /dev/null || { echo "FAIL: $TEST_NAME: $tool is missing; run tools/deps.sh test ramdisk" >&2; exit 1; }
done

port=$(deploy_free_port)
dead_port=$(deploy_free_port)
# Usage: media_config [CONFIG_LINE...]: the base configuration, boot listener on $port.
media_config() {
	write_config "[bundle]" "trusted_keys = $TREE/bundles/keys" "allow_test_keys = true" "$@"
	sed -i -e "0,/^listen = 127.0.0.1:0/s||listen = 127.0.0.1:$port|" \
		-e "s|^url = .*|url = http://127.0.0.1:$port|" "$WORK/outpost.conf"
}
ddi_lines=("[ddi]" "enabled = true" "interface = lo" "server_address = 10.79.0.1"
	"domain = media.example" "router_advertisements = false"
	"[subnet media]" "network = 10.79.0.0/24" "pool = 10.79.0.100-10.79.0.199"
	"gateway = 10.79.0.254" "dns_servers = 10.79.0.1, 10.79.0.2"
	"[kea]" "control_socket = $WORK/kea.sock" "lease_file = $WORK/kea-leases.csv"
	"event_socket = $WORK/kea-events.sock"
	"[pdns]" "api_url = http://127.0.0.1:$dead_port" "api_key = media-test"
	"[tftp]" "root = $WORK/tftp")
media_config "${ddi_lines[@]}"
start_daemon
deploy_image_make || { echo "FAIL: cannot make the test image" >&2; exit 1; }
deploy_bundle_load || { echo "FAIL: cannot load the test bundle" >&2; exit 1; }

# A ramdisk bundle: random kernel and initrd bytes, and, from r06 on, the CD boot images
# bootenv/cdboot builds. Usage: ramdisk_bundle_load VERSION [with-cdboot]
mkdir -p "$WORK/ramdisk"
head -c 8192 /dev/urandom > "$WORK/ramdisk/vmlinuz"
head -c 8192 /dev/urandom > "$WORK/ramdisk/initrd.img"
head -c 4096 /dev/urandom > "$WORK/ramdisk/localboot.efi"
"$TREE/bootenv/cdboot/build.sh" "$WORK/ramdisk" || { echo "FAIL: bootenv/cdboot/build.sh failed" >&2; exit 1; }
ramdisk_bundle_load() {
	local version=$1 files
	files='{"source": "'"$WORK"'/ramdisk/vmlinuz", "path": "vmlinuz", "role": "kernel"},
	 {"source": "'"$WORK"'/ramdisk/initrd.img", "path": "initrd.img", "role": "initrd"},
	 {"source": "'"$WORK"'/ramdisk/localboot.efi", "path": "localboot.efi", "role": "bootloader"}'
	if [ "${2:-}" = with-cdboot ]; then
		files="$files"',
	 {"source": "'"$WORK"'/ramdisk/cdboot-efi.img", "path": "cdboot-efi.img", "role": "bootloader"},
	 {"source": "'"$WORK"'/ramdisk/cdboot-bios.img", "path": "cdboot-bios.img", "role": "bootloader"}'
	fi
	echo '{"name": "ramdisk", "version": "'"$version"'", "kind": "ramdisk", "files": ['"$files"']}' \
		> "$WORK/ramdisk/spec-$version.json"
	"$OUTPOST" bundle create "$WORK/ramdisk/spec-$version.json" --key "$TREE/bundles/keys/test.key" \
		--output "$WORK/ramdisk/ramdisk-$version.bundle" > /dev/null &&
		OUTPOST_SOCKET=$SOCKET "$OUTPOST" bundle load "$WORK/ramdisk/ramdisk-$version.bundle" > /dev/null
}
ramdisk_bundle_load 6.1.0-r05 || { echo "FAIL: cannot load the r05 ramdisk bundle" >&2; exit 1; }

api_unix POST /api/v1/profiles "${json[@]}" -o /dev/null -d '{
	"name": "test-os", "image": "test-os/1.0.0/disk.raw.zst", "kernel": "test-os/1.0.0/vmlinuz",
	"initrd": "test-os/1.0.0/initrd.img", "cmdline": "quiet"}'
mac=52:54:00:bb:00:01
id=$(api_unix POST /api/v1/machines "${json[@]}" \
	-d "{\"macs\": [\"$mac\"], \"hostname\": \"node1\", \"profile\": \"test-os\"}" | jq -r .id)
machine() { api_unix GET "/api/v1/machines/$id"; }
deploy() { api_unix POST "/api/v1/machines/$id/deploy" "${json[@]}" -d "$1" -w '\n%{http_code}'; }
status_of() { tail -n 1 <<< "$1"; }
body_of() { sed '$d' <<< "$1"; }
media_dir=$WORK/state/media

# 1. The request fails whole when the ISO cannot be built.
state=$(machine | jq -r .state)
reply=$(deploy '{"boot": "virtual-media"}')
expect_eq "ramdisk bundle without CD images: status" "$(status_of "$reply")" 409
expect_contains "ramdisk bundle without CD images: reason" "$(body_of "$reply" | jq -r .detail)" \
	"the newest ramdisk bundle, ramdisk 6.1.0-r05, lacks the CD boot images"
m=$(machine)
expect_eq "no deployment left behind" "$(jq -r .deployment <<< "$m")" null
expect_eq "machine state unchanged" "$(jq -r .state <<< "$m")" "$state"
expect_eq "address reservation rolled back" "$(jq -r .ip <<< "$m")" null
expect_eq "no ISO left behind" "$(ls -A "$media_dir")" ""
expect_eq "media folder mode" "$(stat -c %a "$media_dir")" 700
reply=$(deploy '{"boot": "cdrom"}')
expect_eq "unknown boot method" "$(status_of "$reply")" 400
expect_contains "unknown boot method reason" "$(body_of "$reply" | jq -r .detail)" '"virtual-media"'

# 2. A deploy that builds the ISO.
ramdisk_bundle_load 6.1.0-r06 with-cdboot || { echo "FAIL: cannot load the r06 ramdisk bundle" >&2; exit 1; }
reply=$(deploy '{"boot": "virtual-media"}')
expect_eq "virtual-media deploy status" "$(status_of "$reply")" 202
reply=$(body_of "$reply")
deployment=$(jq -r .deployment.id <<< "$reply")
ip=$(jq -r .ip <<< "$reply")
url=$(jq -r .virtual_media.iso_url <<< "$reply")
token=$(sed -n 's|.*/media/\(.*\)\.iso$|\1|p' <<< "$url")
expect_eq "machine deploying" "$(jq -r .state <<< "$reply")" deploying
expect_eq "address reserved in the subnet" "${ip%.*}" 10.79.0
expect_contains "ISO URL" "$url" "http://127.0.0.1:$port/media/d$deployment-"
expect_eq "token length" "${#token}" $((2 + ${#deployment} + 64))
expect_eq "no BMC, so no operation" "$(jq -r .virtual_media.operation <<< "$reply")" null
expect_contains "no BMC reason" "$(jq -r .virtual_media.detail <<< "$reply")" "has no BMC"
expect_eq "boot method recorded" "$(jq -c '.deployment.phases[0] | [.phase, .boot]' <<< "$reply")" \
	'["pending","virtual-media"]'
iso=$media_dir/d$deployment.iso
expect_eq "the ISO is the only file" "$(ls -A "$media_dir")" "d$deployment.iso"

# 3. The ISO's contents.
eltorito=$(xorriso -indev "$iso" -report_el_torito plain 2>/dev/null)
expect_contains "BIOS El Torito entry" "$eltorito" "El Torito img path :   1  /boot/cdboot-bios.img"
expect_contains "UEFI El Torito entry" "$eltorito" "El Torito img path :   2  /boot/cdboot-efi.img"
expect_eq "El Torito platforms" "$(awk '/El Torito boot img :/ {print $7}' <<< "$eltorito" | tr '\n' ' ')" "BIOS UEFI "
expect_contains "BIOS entry patched with a boot info table" "$eltorito" "1  boot-info-table"
files=$(isoinfo -R -f -i "$iso" | sort | tr '\n' ' ')
expect_eq "ISO files" "$files" "/boot /boot.catalog /boot/cdboot-bios.img /boot/cdboot-efi.img /outpost /outpost/grub.cfg /outpost/initrd.img /outpost/vmlinuz "
extract() { xorriso -osirrox on -indev "$iso" -extract "$1" "$2" > /dev/null 2>&1; }
mkdir -p "$WORK/iso"
for file in outpost/grub.cfg outpost/vmlinuz outpost/initrd.img boot/cdboot-efi.img boot/cdboot-bios.img; do
	extract "/$file" "$WORK/iso/${file##*/}"
done
check "ISO kernel is the profile's" cmp -s "$WORK/iso/vmlinuz" "$WORK/image/vmlinuz"
check "ISO initrd is the profile's" cmp -s "$WORK/iso/initrd.img" "$WORK/image/initrd.img"
check "UEFI image is the bundle's" cmp -s "$WORK/iso/cdboot-efi.img" "$WORK/ramdisk/cdboot-efi.img"
expect_eq "UEFI image holds the GRUB program" \
	"$(MTOOLS_SKIP_CHECK=1 mdir -b -i "$WORK/iso/cdboot-efi.img" ::/EFI/BOOT)" "::/EFI/BOOT/BOOTX64.EFI"
grub=$(cat "$WORK/iso/grub.cfg")
linux_line="	linux /outpost/vmlinuz 'outpost.url=http://127.0.0.1:$port' 'outpost.mode=deploy' 'outpost.token=$token' 'BOOTIF=01-52-54-00-bb-00-01' 'outpost.ip=$ip/24' 'outpost.gateway=10.79.0.254' 'outpost.dns=10.79.0.1,10.79.0.2' 'console=tty0' 'console=ttyS0,115200n8' 'quiet'"
expect_eq "grub.cfg kernel line" "$(grep '^	linux ' <<< "$grub")" "$linux_line"
expect_contains "grub.cfg initrd line" "$grub" "	initrd /outpost/initrd.img"
expect_contains "grub.cfg menu entry" "$grub" "menuentry 'Outpost: deploy machine $id node1' {"

# 4. Serving: HEAD, Range, whole file, and nothing for a wrong name or token.
size=$(stat -c %s "$iso")
head_reply=$(curl -sS -I "$url")
expect_contains "HEAD status" "$head_reply" "HTTP/1.1 200"
expect_contains "HEAD length" "$head_reply" "Content-Length: $size"
# The primary volume descriptor is sector 16: type 1, then "CD001".
expect_eq "Range of the volume descriptor" "$(curl -sS -r 32768-32773 "$url" | od -An -c | tr -s ' ')" " 001 C D 0 0 1"
expect_eq "Range status" "$(curl -s -o /dev/null -w '%{http_code}' -r 32768-32773 "$url")" 206
expect_eq "whole ISO" "$(curl -sS "$url" | sha256sum)" "$(sha256sum < "$iso")"
wrong=${token%?}$( [ "${token: -1}" = 0 ] && echo 1 || echo 0)
media_status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
expect_eq "wrong token" "$(media_status "http://127.0.0.1:$port/media/$wrong.iso")" 404
expect_eq "token without .iso" "$(media_status "http://127.0.0.1:$port/media/$token")" 404
expect_eq "the file name itself" "$(media_status "http://127.0.0.1:$port/media/d$deployment.iso")" 404
expect_eq "a machine-style token" "$(media_status "http://127.0.0.1:$port/media/m$id-${token#*-}.iso")" 404
expect_eq "a path outside" "$(media_status --path-as-is "http://127.0.0.1:$port/media/../state/outpost.db")" 404
expect_eq "POST" "$(media_status -X POST -d x "$url")" 405
expect_eq "the token is not logged" "$(grep -c -F "${token#*-}" "$WORK/daemon.log")" 0
expect_contains "the access line hides it" "$(cat "$WORK/daemon.log")" 'path="/media/..."'

# 5. The agent with the ISO's command line writes the static network into the seed.
cmdline=$(grep '^	linux ' <<< "$grub" | cut -d ' ' -f 3- | tr -d "'")
printf '%s\n' "$cmdline" > "$WORK/cmdline"
disk=$(deploy_loop_new 64M)
"$AGENT" --cmdline "$WORK/cmdline" --disk "$disk" --no-reboot 2>> "$WORK/agent.log"
expect_eq "agent exit status" "$?" 0
m=$(machine)
expect_eq "agent phases" "$(jq -c '[.deployment.phases[].phase]' <<< "$m")" \
	'["pending","ramdisk-up","disk-selected","image-written","image-verified","configured","rebooting"]'
expect_contains "configured detail" "$(jq -r '.deployment.phases[] | select(.phase == "configured") | .detail' <<< "$m")" \
	"NoCloud seed and static network written"
mkdir -p "$WORK/mnt"
mount -o ro,offset=$((4096 * 512)) "$disk" "$WORK/mnt"
seed=$(cat "$WORK/mnt/etc/cloud/cloud.cfg.d/99_outpost_seed.cfg" 2>&1)
umount "$WORK/mnt"
expect_contains "seed URL" "$seed" "    seedfrom: http://127.0.0.1:$port/cloud-init/$token/"
expected_network="network:
  version: 1
  config:
    - type: physical
      name: eth0
      mac_address: \"$mac\"
      subnets:
        - type: static
          address: $ip/24
          gateway: 10.79.0.254
          dns_nameservers:
            - 10.79.0.1
            - 10.79.0.2
          dns_search:
            - media.example"
expect_eq "static network in the seed" "$(sed -n '/^network:/,$p' <<< "$seed")" "$expected_network"
deploy_loops_free

# 6. The ISO goes once the image is written, and a ramdisk booted again from a CD the
# BMC kept gets no image to write the disk with again.
expect_eq "ISO removed once the image is written" "$(ls -A "$media_dir")" ""
expect_eq "ISO URL after the image is written" "$(media_status "$url")" 404
expect_eq "deployment read after the image is written" "$(media_status -H "Authorization: Bearer $token" \
	"http://127.0.0.1:$port/agent/v1/deployment")" 409
curl -sS -X POST "http://127.0.0.1:$port/cloud-init/$token/phone-home" -o /dev/null
expect_eq "deployed" "$(machine | jq -r .state)" deployed
# An r06 bundle has three boot loaders; the local-disk one is found by its path.
expect_contains "local boot program of an r06 bundle" \
	"$(boot_get "/boot/ipxe?mac=$mac&buildarch=x86_64&platform=efi")" \
	"http://127.0.0.1:$port/files/ramdisk/6.1.0-r06/localboot.efi"

reply=$(body_of "$(deploy '{"boot": "virtual-media"}')")
second=$(jq -r .deployment.id <<< "$reply")
expect_eq "second ISO built" "$(ls -A "$media_dir")" "d$second.iso"
reply=$(deploy '{"force": true}')
expect_eq "forced network deploy" "$(status_of "$reply")" 202
expect_eq "replaced deployment's ISO removed" "$(ls -A "$media_dir")" ""

reply=$(body_of "$(deploy '{"boot": "virtual-media", "force": true}')")
third=$(jq -r .deployment.id <<< "$reply")
third_token=$(jq -r .virtual_media.iso_url <<< "$reply" | sed -n 's|.*/media/\(.*\)\.iso$|\1|p')
curl -sS -X POST -H "Authorization: Bearer $third_token" "${json[@]}" \
	-d '{"phase": "ramdisk-up", "reason": "test failure"}' "http://127.0.0.1:$port/agent/v1/failure" -o /dev/null
expect_eq "failed" "$(machine | jq -r .state)" failed
expect_eq "ISO removed once failed" "$(ls -A "$media_dir")" ""

# 7. A second machine, without a host name.
id2=$(api_unix POST /api/v1/machines "${json[@]}" -d '{"macs": ["52:54:00:bb:00:02"], "profile": "test-os"}' | jq -r .id)
reply=$(api_unix POST "/api/v1/machines/$id2/deploy" "${json[@]}" -d '{"boot": "virtual-media"}')
iso=$media_dir/d$(jq -r .deployment.id <<< "$reply").iso
extract /outpost/grub.cfg "$WORK/iso/grub-2.cfg"
expect_contains "menu entry without a host name" "$(cat "$WORK/iso/grub-2.cfg")" "menuentry 'Outpost: deploy machine $id2' {"
expect_contains "second machine's own address" "$(cat "$WORK/iso/grub-2.cfg")" "'outpost.ip=$(jq -r .ip <<< "$reply")/24'"

# 8. A restart removes stale files and keeps the ISO of a running deployment.
head -c 100 /dev/zero > "$media_dir/.d$id2-0123456789abcdef.iso.tmp"
head -c 100 /dev/zero > "$media_dir/d99999.iso"
stop_daemon
start_daemon
expect_eq "stale files removed at start" "$(ls -A "$media_dir")" "${iso##*/}"
expect_contains "stale removal logged" "$(cat "$WORK/daemon.log")" "removed the ISO of deployment=99999"

# 9. Without DHCP and DNS settings a machine has no static network to boot with.
stop_daemon
media_config
start_daemon
reply=$(api_unix POST "/api/v1/machines/$id2/deploy" "${json[@]}" -d '{"boot": "virtual-media", "force": true}' -w '\n%{http_code}')
expect_eq "no reserved address: status" "$(status_of "$reply")" 409
expect_contains "no reserved address: reason" "$(body_of "$reply" | jq -r .detail)" \
	"has no reserved address in a DHCP/DNS subnet"
expect_eq "the running deployment stays" "$(ls -A "$media_dir")" "${iso##*/}"
audit=$(api_unix GET '/api/v1/audit?limit=500' | jq -c '[.items[] | select(.action == "machine.deploy" and .outcome == "ok") | .detail.boot]')
expect_eq "boot method audited" "$audit" '["virtual-media","virtual-media","network","virtual-media","virtual-media"]'
expect_eq "audit chain intact" "$(api_unix GET /api/v1/audit/verify | jq -r .intact)" true

# 10. xorriso failing, and missing: the daemon finds it on its PATH at start.
mkdir -p "$WORK/failbin" "$WORK/emptybin"
cat > "$WORK/failbin/xorriso" <<'FAKE'
#!/bin/sh
echo "xorriso 1.5.4 : RockRidge filesystem manipulator, libburnia project." >&2
echo "xorriso : FAILURE : a failure for the test" >&2
exit 32
FAKE
chmod 755 "$WORK/failbin/xorriso"
# Usage: start_with_path DIR: start the daemon with PATH=DIR.
start_with_path() {
	local real=$OUTPOST
	printf '#!/bin/sh\nPATH=%s exec %s "$@"\n' "$1" "$real" > "$WORK/outpost-path"
	chmod 755 "$WORK/outpost-path"
	OUTPOST="$WORK/outpost-path" start_daemon
	OUTPOST=$real
}
stop_daemon
media_config "${ddi_lines[@]}"
start_with_path "$WORK/failbin"
reply=$(api_unix POST "/api/v1/machines/$id2/deploy" "${json[@]}" -d '{"boot": "virtual-media", "force": true}' -w '\n%{http_code}')
expect_eq "xorriso fails: status" "$(status_of "$reply")" 500
expect_eq "xorriso fails: code" "$(body_of "$reply" | jq -r .error)" iso_build_failed
expect_eq "xorriso fails: reason" "$(body_of "$reply" | jq -r .detail)" \
	"xorriso failed with exit status 32: xorriso : FAILURE : a failure for the test"
expect_eq "xorriso fails: nothing left behind" "$(ls -A "$media_dir")" "${iso##*/}"
stop_daemon
start_with_path "$WORK/emptybin"
expect_contains "missing xorriso logged at start" "$(cat "$WORK/daemon.log")" "xorriso not found on PATH"
reply=$(api_unix POST "/api/v1/machines/$id2/deploy" "${json[@]}" -d '{"boot": "virtual-media", "force": true}' -w '\n%{http_code}')
expect_eq "xorriso missing: status" "$(status_of "$reply")" 503
expect_contains "xorriso missing: reason" "$(body_of "$reply" | jq -r .detail)" "install the Debian package xorriso"
expect_eq "deployments of the second machine" \
	"$(api_unix GET "/api/v1/machines/$id2/deployments" | jq -r '[.items[].state] | join(",")')" running

# 11. The ramdisk init's checks of the static values, run under busybox sh.
sed -n '/^ipv4_valid()/,/^# Give interface/p' "$TREE/bootenv/ramdisk/init" > "$WORK/init-functions.sh"
init_parse() {
	busybox sh -c '. "$1"; cmdline=$2; static_parse; echo "$? $static_ip $static_gateway $static_dns"' \
		sh "$WORK/init-functions.sh" "$1" 2>&1 | tail -n 1
}
expect_eq "init: full static network" \
	"$(init_parse "quiet outpost.ip=10.79.0.5/24 outpost.gateway=10.79.0.254 outpost.dns=10.79.0.1,10.79.0.2")" \
	"0 10.79.0.5/24 10.79.0.254 10.79.0.1,10.79.0.2"
expect_eq "init: no outpost.ip" "$(init_parse "quiet BOOTIF=01-52-54-00-bb-00-01")" "1   "
while read -r bad; do
	expect_eq "init rejects '$bad'" "$(init_parse "$bad" | cut -d ' ' -f 1)" 2
done <<'CASES'
outpost.ip=10.79.0.5
outpost.ip=10.79.0.5/33
outpost.ip=10.79.0.5/0
outpost.ip=10.79.0.256/24
outpost.ip=010.79.0.5/24
outpost.ip=10.79.0/24
outpost.ip=10.79.0.5/24;reboot
outpost.ip=$(reboot)/24
outpost.ip=10.79.0.5/24 outpost.gateway=10.79.0
outpost.ip=10.79.0.5/24 outpost.dns=10.79.0.1,*
outpost.ip=10.79.0.5/24 outpost.dns=1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,1.1.1.9
CASES

finish
