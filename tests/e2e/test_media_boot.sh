#!/bin/bash
# A virtual-media deployment end to end, with no DHCP server anywhere: a UEFI server
# (QEMU q35 with OVMF) boots the ISO that POST .../deploy {"boot": "virtual-media"}
# built, given to QEMU as a CD as a BMC would insert it. The deploy ramdisk must bring
# up the static address from the ISO's command line, and the agent must write the
# debian-12 image and the static network. The installed system must then come up with
# that address, read its seed and phone home, so that the machine reaches `deployed`.
#
# Everything runs in one network namespace of the test's own: the server's tap device,
# whose end in the namespace holds the appliance's address, and `outpost serve`, whose
# DHCP and DNS settings give the subnet but whose Kea and PowerDNS never run. The
# disk has a lower boot index than the CD, so the empty disk is skipped on the first
# boot and the installed system boots after the agent's reboot, with the CD still in.
#
# Usage, as root: OUTPOST=$PWD/build/outpost BUNDLE_DIR=$PWD/build/bundles \
#   tests/e2e/test_media_boot.sh
# BUNDLE_DIR must hold a ramdisk bundle of revision r06 or later (make bundles); the
# debian-12 bundle may come from DEBIAN_BUNDLE_DIR instead (default: BUNDLE_DIR).
# Environment: MEDIA_ACCEL (kvm or tcg; by default a probe picks), RAMDISK_TIMEOUT
# (seconds until the agent reports, default 300), DEPLOY_TIMEOUT (seconds until the
# machine is deployed, default 1500).

# shellcheck source=SCRIPTDIR/../integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=SCRIPTDIR/../recipes/accel.sh
. "$TREE/tests/recipes/accel.sh"
# shellcheck source=SCRIPTDIR/../../qemu/scenario.sh
. "$TREE/qemu/scenario.sh"

BUNDLE_DIR=${BUNDLE_DIR:-$TREE/build/bundles}
DEBIAN_BUNDLE_DIR=${DEBIAN_BUNDLE_DIR:-$BUNDLE_DIR}
RAMDISK_TIMEOUT=${RAMDISK_TIMEOUT:-300}
DEPLOY_TIMEOUT=${DEPLOY_TIMEOUT:-1500}
NS=outpost-vmedia-$$
TAP=vmtap0
ADDR=10.80.0.1
MAC=52:54:00:80:00:01
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
QEMU_PID=""
json=(-H 'Content-Type: application/json')

media_cleanup() {
	if [ -n "$QEMU_PID" ]; then
		kill -TERM "$QEMU_PID" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$QEMU_PID" 2>/dev/null
	fi
	if [ "$FAILURES" -gt 0 ]; then
		echo "--- last lines of the server's console ---" >&2
		tr -d '\r' < "$WORK/console.log" 2>/dev/null | sed 's/\x1b\[[0-9;=?]*[A-Za-z]//g' |
			grep -av '^[[:space:]]*$' | tail -n 30 >&2
		echo "--- last lines of $WORK/daemon.log ---" >&2
		tail -n 30 "$WORK/daemon.log" >&2
	fi
	stop_daemon
	ip netns del "$NS" 2>/dev/null
	if [ -n "${KEEP_WORK:-}" ]; then
		echo "$TEST_NAME: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap media_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail_now() {
	echo "FAIL: $TEST_NAME: $*" >&2
	FAILURES=$((FAILURES + 1))
	exit 1
}

[ "$(id -u)" = 0 ] || fail_now "needs root to create a network namespace and a tap device"
for tool in qemu-system-x86_64 ip curl jq ssh ssh-keygen xorriso; do
	command -v "$tool" > /dev/null || fail_now "$tool is missing; run tools/deps.sh lab test"
done
[ -r "$OVMF_CODE" ] && [ -r "$OVMF_VARS" ] || fail_now "OVMF is missing; install the Debian package ovmf"
ramdisk_bundle=$(scenario_bundle_file "$BUNDLE_DIR" ramdisk)
debian_bundle=$(scenario_bundle_file "$DEBIAN_BUNDLE_DIR" debian-12)
[ -n "$ramdisk_bundle" ] && [ -n "$debian_bundle" ] ||
	fail_now "no ramdisk bundle in $BUNDLE_DIR or no debian-12 bundle in $DEBIAN_BUNDLE_DIR; run make bundles"

# The namespace: its loopback and the tap device, whose end here is the appliance.
ip netns add "$NS" || fail_now "cannot create network namespace $NS"
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add dev "$TAP" mode tap
ip -n "$NS" addr add "$ADDR/24" dev "$TAP"
ip -n "$NS" link set "$TAP" up

# The daemon in the namespace. DDI is on for its subnet settings only: no Kea or
# PowerDNS listens, so its pushes fail and retry, and no DHCP server exists.
mkdir -p "$WORK/tftp"
write_config "[bundle]" "trusted_keys = $TREE/bundles/keys" "allow_test_keys = true" \
	"[deploy]" "phase_timeout_seconds = 900" \
	"[ddi]" "enabled = true" "interface = $TAP" "server_address = $ADDR" \
	"domain = vmedia.example" "router_advertisements = false" \
	"[subnet vmedia]" "network = 10.80.0.0/24" "pool = 10.80.0.100-10.80.0.199" \
	"gateway = 10.80.0.254" "dns_servers = $ADDR" \
	"[kea]" "control_socket = $WORK/kea.sock" "lease_file = $WORK/kea-leases.csv" \
	"event_socket = $WORK/kea-events.sock" \
	"[pdns]" "api_url = http://127.0.0.1:8081" "api_key = vmedia-test" \
	"[tftp]" "root = $WORK/tftp"
sed -i -e "0,/^listen = 127.0.0.1:0/s||listen = $ADDR:8080|" \
	-e "s|^url = .*|url = http://$ADDR:8080|" -e "s|^level = debug|level = info|" "$WORK/outpost.conf"
cat > "$WORK/outpost-in-netns" <<WRAP
#!/bin/sh
exec ip netns exec $NS $OUTPOST "\$@"
WRAP
chmod 755 "$WORK/outpost-in-netns"
real_outpost=$OUTPOST
OUTPOST="$WORK/outpost-in-netns" start_daemon
OUTPOST=$real_outpost
export OUTPOST_SOCKET=$SOCKET

ramdisk=$(scenario_bundle_load "$ramdisk_bundle" ramdisk) || fail_now "loading $ramdisk_bundle failed"
debian=$(scenario_bundle_load "$debian_bundle" debian-12) || fail_now "loading $debian_bundle failed"
ssh-keygen -q -t ed25519 -N '' -C "outpost-vmedia" -f "$WORK/id_ed25519"
scenario_profile debian-12 "$ramdisk" "$debian" "$WORK/id_ed25519.pub" || fail_now "creating the profile failed"
id=$(api_unix POST /api/v1/machines "${json[@]}" \
	-d "{\"macs\": [\"$MAC\"], \"hostname\": \"vm1\", \"profile\": \"debian-12\"}" | jq -r .id)
reply=$(api_unix POST "/api/v1/machines/$id/deploy" "${json[@]}" -d '{"boot": "virtual-media"}')
ip=$(jq -r .ip <<< "$reply")
url=$(jq -r .virtual_media.iso_url <<< "$reply")
deployment=$(jq -r .deployment.id <<< "$reply")
expect_eq "deploying" "$(jq -r .state <<< "$reply")" deploying
expect_contains "ISO URL on the boot listener" "$url" "http://$ADDR:8080/media/d$deployment-"

# The ISO as a BMC reads it: over HTTP from the boot listener.
ip netns exec "$NS" curl -sS -f -o "$WORK/boot.iso" "$url" || fail_now "GET of the ISO failed"
expect_eq "served ISO" "$(sha256sum < "$WORK/boot.iso")" "$(sha256sum < "$WORK/state/media/d$deployment.iso")"

# The server: UEFI, an empty 4 GiB disk (boot index 1), the CD (2) and a NIC without an
# option ROM, so nothing netboots.
if [ -n "${MEDIA_ACCEL:-}" ]; then
	accel=$MEDIA_ACCEL
else
	# The probe boots a kernel: the ramdisk's, from the ISO.
	xorriso -osirrox on -indev "$WORK/boot.iso" -extract /outpost/vmlinuz "$WORK/probe-kernel" > /dev/null 2>&1
	accel=$(accel_probe "$TEST_NAME" "$WORK/probe-kernel" "$WORK")
fi
case "$accel" in
kvm) cpu=host ;;
*) accel=tcg cpu=max ;;
esac
echo "$TEST_NAME: accelerator $accel"
cp "$OVMF_VARS" "$WORK/OVMF_VARS.fd"
truncate -s 4G "$WORK/disk.raw"
started=$SECONDS
ip netns exec "$NS" qemu-system-x86_64 -name vm1 -machine q35 -accel "$accel" -cpu "$cpu" \
	-smp 2 -m 1024 -nodefaults -display none -monitor none -serial "file:$WORK/console.log" \
	-drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE" \
	-drive "if=pflash,format=raw,unit=1,file=$WORK/OVMF_VARS.fd" \
	-netdev "tap,id=net0,ifname=$TAP,script=no,downscript=no" \
	-device "virtio-net-pci,netdev=net0,mac=$MAC,romfile=" \
	-drive "if=none,id=disk0,file=$WORK/disk.raw,format=raw" \
	-device "virtio-blk-pci,drive=disk0,bootindex=1" \
	-drive "if=none,id=cd0,file=$WORK/boot.iso,format=raw,media=cdrom,readonly=on" \
	-device "ide-cd,drive=cd0,bootindex=2" \
	-pidfile "$WORK/qemu.pid" -daemonize ||
	fail_now "QEMU did not start"
QEMU_PID=$(cat "$WORK/qemu.pid")

phase() { api_unix GET "/api/v1/machines/$id" | jq -r '.state + " " + .deployment.phase'; }

# The agent reaches Outpost only over the static address.
state=""
while [ $((SECONDS - started)) -lt "$RAMDISK_TIMEOUT" ]; do
	state=$(phase)
	case "$state" in
	"deploying pending" | "deploying ipxe-script") sleep 5 ;;
	*) break ;;
	esac
done
echo "$TEST_NAME: agent reported after $((SECONDS - started)) s: $state"
console=$(tr -d '\r' < "$WORK/console.log")
expect_contains "GRUB found the ISO's grub.cfg" "$console" "Outpost: loading the deploy ramdisk"
expect_contains "ramdisk set the static address" "$console" "static $ip/24 via 10.80.0.254 dns $ADDR"
check "the ramdisk asked for no DHCP lease" test "$(grep -c 'outpost-ramdisk: DHCP' <<< "$console")" = 0
check "the agent reported its phase" test "$state" != "deploying pending"

# Deployed: the installed system came up on the static address and phoned home.
while [ $((SECONDS - started)) -lt "$DEPLOY_TIMEOUT" ]; do
	case "$(phase)" in
	deployed* | failed*) break ;;
	esac
	sleep 10
done
echo "$TEST_NAME: deployment ended after $((SECONDS - started)) s"
m=$(api_unix GET "/api/v1/machines/$id")
echo "$TEST_NAME: phases: $(jq -r '[.deployment.phases[] | .phase + (if .seconds then "(" + (.seconds * 10 | floor / 10 | tostring) + "s)" else "" end)] | join(" ")' <<< "$m")"
expect_eq "machine deployed" "$(jq -r .state <<< "$m")" deployed
expect_eq "deployment reason" "$(jq -r .deployment.reason <<< "$m")" null
expect_eq "phases" "$(jq -c '[.deployment.phases[].phase]' <<< "$m")" \
	'["pending","ramdisk-up","disk-selected","image-written","image-verified","configured","rebooting","first-boot","phone-home"]'
expect_eq "ISO removed once deployed" "$(ls -A "$WORK/state/media")" ""

out=$(ip netns exec "$NS" ssh -i "$WORK/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
	-o UserKnownHostsFile=/dev/null -o ConnectTimeout=20 "debian@$ip" \
	'hostname; ip -4 -o addr show; echo "dhclients: $(pgrep -c dhclient)"; sudo grep -c "^network:" /etc/cloud/cloud.cfg.d/99_outpost_seed.cfg' 2>&1)
expect_contains "ssh with the profile's key" "$out" "vm1"
expect_contains "installed system has the static address" "$out" "inet $ip/24"
expect_contains "installed system runs no DHCP client" "$out" "dhclients: 0"
check "seed configuration carries the network" grep -qx 1 <<< "$(tail -n 1 <<< "$out")"

# Nothing but the daemon and the server ran in the namespace: no DHCP server at all.
others=$(for pid in $(ip netns pids "$NS"); do cat "/proc/$pid/comm"; done | sort -u | tr '\n' ' ')
expect_eq "processes in the namespace" "$others" "outpost qemu-system-x86 "

finish
