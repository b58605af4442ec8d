#!/bin/bash
# Deployment in the QEMU lab, one BIOS server and then four at once, against a
# reference on the same VMs, kernel, initrd, image and cloud-init seed, served by nginx
# with a static iPXE script and a static Kea configuration. Measures, per server, from
# power-on:
#   - DHCP acknowledgement (Kea's log) to the deploy script fetched (ipxe-script)
#   - image streaming rate: the agent's image-written report against the reference's
#     own timing, both from the ramdisk's start of streaming to the data on disk
#   - time to the image on disk: image-verified for Outpost, the reference's end
#   - time to phone-home: cloud-init in the installed system reporting to Outpost, or
#     to nginx for the reference
# The reference runs after every Outpost run, because it needs Outpost stopped. Its
# ramdisk's init streams the image with busybox wget into zstd into the disk, writes
# the NoCloud seed and reboots. The servers boot from their disk first, so the written
# image starts without another netboot. Outpost renders the seeds beforehand, and their
# phone-home URL is changed to nginx's. radvd answers IPv6 router solicitations as
# Outpost does, and Kea keeps the option that spares iPXE a ProxyDHCP wait.
# Servers run under the lab's accelerator (TCG here); QEMU threads are not pinned, nor
# are Outpost and nginx.
# Needs root, the lab's packages, radvd and BUNDLE_DIR with the ramdisk and debian-12
# bundles.
. "$(dirname "$0")/lib.sh"

BUNDLE_DIR=${BUNDLE_DIR:-$(cd "$(dirname "$OUTPOST")" && pwd)/bundles}
export LAB_DIR=$WORK/lab LAB_NAME="lab-bench-$$" OUTPOST
SOCKET=$LAB_DIR/outpost.sock
LAB=$TREE/qemu/lab
NS_APP="outpost-$LAB_NAME-app"
BOOT_URL=http://10.78.0.1:8080
REF_URL=http://10.78.0.1:8090
# Outpost runs unpinned in the lab, so nginx does too (start_nginx reads this).
# shellcheck disable=SC2034
SERVER_CPU=0-1
RADVD_PID=""
# shellcheck source=qemu/scenario.sh
. "$TREE/qemu/scenario.sh"
DEPLOY_TIMEOUT=${DEPLOY_TIMEOUT:-900}

cleanup_lab() {
	[ -z "$RADVD_PID" ] || kill "$RADVD_PID" 2> /dev/null
	stop_nginx
	"$LAB" down > /dev/null 2>&1
	cleanup
}
trap cleanup_lab EXIT

ms_of_kea_line() { # "2026-12-05 04:42:51.194 ..." as Unix milliseconds
	local stamp
	stamp=$(cut -c1-23 <<< "$1")
	echo $(( $(date -u -d "${stamp% *} ${stamp#* }" +%s%3N) ))
}

# The last DHCP4_LEASE_ALLOC of MAC in Kea's log before Unix ms BEFORE, in ms.
dhcp_ack_ms() {
	local mac=$1 before=$2 line ms last=0
	while read -r line; do
		ms=$(ms_of_kea_line "$line")
		[ "$ms" -le "$before" ] && last=$ms
	done < <(grep -a "DHCP4_LEASE_ALLOC \[hwtype=1 $mac\]" "$LAB_DIR/kea-dhcp4.log")
	echo "$last"
}

server_mac() {
	printf '52:54:00:78:be:%02x' "$1"
}

# Recreate servers 1..N with empty disks; with a PROFILE, as machines that deploy it
# once on. The reference's servers boot from their disk first. Usage:
# servers_prepare N [PROFILE]
servers_prepare() {
	local n=$1 profile=${2:-} i mac id first=disk
	[ -z "$profile" ] || first=net
	for i in $(seq 1 "$n"); do
		mac=$(server_mac "$i")
		"$LAB" server remove "bench$i" > /dev/null 2>&1
		"$LAB" server add "bench$i" --firmware bios --mac "$mac" --disk-size 3 \
			--boot-first "$first" > /dev/null || die "cannot add server bench$i"
		[ -n "$profile" ] || continue
		id=$(scenario_machine "$mac" | jq -r '.id // empty')
		[ -n "$id" ] || id=$(scenario_api POST /api/v1/machines "${SCENARIO_JSON[@]}" \
			-d "{\"macs\": [\"$mac\"], \"hostname\": \"bench$i\"}" | jq -r .id)
		scenario_api POST "/api/v1/machines/$id/deploy" "${SCENARIO_JSON[@]}" -f -o /dev/null \
			-d "{\"profile\": \"$profile\", \"force\": true}" || die "cannot deploy bench$i"
	done
}

# Power on servers 1..N; sets T0 (Unix ms).
servers_start() {
	local i
	T0=$(now_ms)
	for i in $(seq 1 "$1"); do
		"$LAB" server start "bench$i" > /dev/null || die "cannot start bench$i"
	done
}

# Outpost: deploy N servers and append per-server figures to the arrays below.
run_outpost() {
	local n=$1 i mac id m deadline done_count
	servers_prepare "$n" bench
	servers_start "$n"
	deadline=$((SECONDS + DEPLOY_TIMEOUT))
	while [ "$SECONDS" -lt "$deadline" ]; do
		done_count=$(scenario_api GET '/api/v1/machines?state=deployed' | jq '.items | length')
		[ "$done_count" -ge "$n" ] && break
		[ "$(scenario_api GET '/api/v1/machines?state=failed' | jq '.items | length')" -gt 0 ] &&
			die "a deployment failed; see $LAB_DIR/outpost.log"
		sleep 2
	done
	[ "$done_count" -ge "$n" ] || die "$n deployments did not end in $DEPLOY_TIMEOUT s"
	for i in $(seq 1 "$n"); do
		mac=$(server_mac "$i")
		id=$(scenario_machine "$mac" | jq -r .id)
		m=$(scenario_api GET "/api/v1/machines/$id")
		local script verified home rate
		script=$(jq -r '.deployment.phases[] | select(.phase == "ipxe-script") | .at_ms' <<< "$m")
		verified=$(jq -r '.deployment.phases[] | select(.phase == "image-verified") | .at_ms' <<< "$m")
		home=$(jq -r '.deployment.phases[] | select(.phase == "phone-home") | .at_ms' <<< "$m")
		rate=$(jq -r '.deployment.phases[] | select(.phase == "image-written") | .detail' <<< "$m" |
			sed -n 's/.*, \([0-9.]*\) MB\/s$/\1/p')
		OUT_DHCP[$n]+=" $(awk -v a="$script" -v b="$(dhcp_ack_ms "$mac" "$script")" 'BEGIN { print (a - b) / 1000 }')"
		OUT_RATE[$n]+=" $rate"
		OUT_IMAGE[$n]+=" $(awk -v a="$verified" -v b="$T0" 'BEGIN { print (a - b) / 1000 }')"
		OUT_HOME[$n]+=" $(awk -v a="$home" -v b="$T0" 'BEGIN { print (a - b) / 1000 }')"
		"$LAB" server stop "bench$i" > /dev/null
	done
}

# Seconds from T0 to the reference's phone-home of MAC in nginx's log, or nothing.
reference_home() {
	local ms
	ms=$(awk -v uri="/phone-home/${1//:/-}" '$3 == uri { printf "%.0f", $1 * 1000; exit }' \
		"$WORK/nginx-access.log" 2> /dev/null)
	[ -z "$ms" ] || awk -v a="$ms" -v b="$T0" 'BEGIN { print (a - b) / 1000 }'
}

# Reference: the same servers boot the same ramdisk from nginx, which streams the image
# itself and reboots into it. The serial logs have no clock, so each server's image is
# on disk when its line is first seen.
run_reference() {
	local n=$1 i line deadline start end size status pending mac
	local -a seen home
	size=$(jq -r '.artifacts[] | select(.role == "disk-image") | .metadata.raw_size' \
		"$WORK/debian.json")
	: > "$WORK/nginx-access.log"
	servers_prepare "$n"
	servers_start "$n"
	deadline=$((SECONDS + DEPLOY_TIMEOUT))
	pending=$n
	while [ "$pending" -gt 0 ]; do
		[ "$SECONDS" -lt "$deadline" ] || die "the reference did not finish on $pending servers"
		for i in $(seq 1 "$n"); do
			if [ -z "${seen[i]:-}" ] &&
				grep -aq "outpost-reference: status" "$LAB_DIR/bench$i.serial.log" 2> /dev/null; then
				seen[i]=$(now_ms)
			fi
			[ -z "${home[i]:-}" ] || continue
			home[i]=$(reference_home "$(server_mac "$i")")
			[ -z "${home[i]}" ] || pending=$((pending - 1))
		done
		sleep 0.2
	done
	for i in $(seq 1 "$n"); do
		line=$(grep -a -m1 "outpost-reference: status" "$LAB_DIR/bench$i.serial.log")
		read -r _ _ status _ start _ end <<< "$line"
		[ "$status" = 0 ] || die "the reference on bench$i failed with status $status"
		REF_RATE[$n]+=" $(awk -v s="$size" -v a="$start" -v b="$end" 'BEGIN { print s / (b - a) / 1e6 }')"
		REF_IMAGE[$n]+=" $(awk -v a="${seen[i]}" -v b="$T0" 'BEGIN { print (a - b) / 1000 }')"
		REF_HOME[$n]+=" ${home[i]}"
		"$LAB" server stop "bench$i" > /dev/null
	done
}

# Copy what Outpost serves into nginx's root while Outpost still runs: the kernel,
# initrd and image, and the seed of servers 1..MAX for their newest deployment, whose
# token the kernel printed on the serial console. The seeds' phone-home goes to nginx
# instead. Usage: reference_files MAX
reference_files() {
	local www=$WORK/www i mac token dir file max=$1
	mkdir -p "$www/seed"
	chmod -R 755 "$www"
	for file in "$RAMDISK/kernel" "$RAMDISK/initrd" "$DEBIAN/disk.raw.zst"; do
		ip netns exec "$NS_APP" curl -sSf -o "$www/$(basename "$file")" \
			"$BOOT_URL/files/$file" || die "cannot copy $file from Outpost"
	done
	for i in $(seq 1 "$max"); do
		mac=$(server_mac "$i")
		token=$(grep -a -o 'outpost\.token=[^ ]*' "$LAB_DIR/bench$i.serial.log" | tail -n 1)
		token=${token#outpost.token=}
		[ -n "$token" ] || die "no deployment token in $LAB_DIR/bench$i.serial.log"
		dir=$www/seed/${mac//:/-}
		mkdir -p "$dir"
		for file in meta-data user-data vendor-data network-config; do
			ip netns exec "$NS_APP" curl -sSf -o "$dir/$file" \
				"$BOOT_URL/cloud-init/$token/$file" || die "cannot copy the $file of bench$i"
		done
		sed -i "s|$BOOT_URL/cloud-init/$token/phone-home|$REF_URL/phone-home/${mac//:/-}|" \
			"$dir/user-data"
		grep -q "$REF_URL/phone-home/" "$dir/user-data" ||
			die "the user-data of bench$i has no phone-home URL to replace"
	done
	# The static script: the deploy script's kernel command line, with the reference's
	# arguments in place of Outpost's.
	cat > "$www/ref.ipxe" <<SCRIPT
#!ipxe
kernel --name kernel $REF_URL/kernel initrd=initrd outpost.reference=$REF_URL/disk.raw.zst outpost.reference_seed=$REF_URL/seed/\${netX/mac:hexhyp}/ BOOTIF=01-\${netX/mac:hexhyp} console=tty0 console=ttyS0,115200n8
initrd --name initrd $REF_URL/initrd
boot
SCRIPT
	chmod -R a+rX "$www"
}

# Stop Outpost and leave Kea with what it ran, pointing iPXE at the static script, with
# the lease events hook removed. Start radvd and nginx.
reference_up() {
	local pid config
	config=$(echo '{"command": "config-get"}' | socat - "UNIX-CONNECT:$LAB_DIR/kea.sock" |
		jq -c --arg script "$REF_URL/ref.ipxe" '.arguments |
			.Dhcp4."hooks-libraries" |= map(select(.library | endswith("lease_cmds.so"))) |
			(.Dhcp4."client-classes"[] | select(.name == "outpost-ipxe") |
				."boot-file-name") = $script')
	[ -n "$config" ] || die "cannot read Kea's configuration"
	pid=$(cat "$LAB_DIR/run/outpost.pid")
	kill -TERM "$pid"
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.1
	done
	! kill -0 "$pid" 2> /dev/null || die "Outpost did not stop"
	echo "{\"command\": \"config-set\", \"arguments\": $config}" |
		socat - "UNIX-CONNECT:$LAB_DIR/kea.sock" | jq -e '.result == 0' > /dev/null ||
		die "Kea refused the static configuration"

	cat > "$WORK/radvd.conf" <<CONF
interface prov0 {
	AdvSendAdvert on;
	AdvDefaultLifetime 0;
};
CONF
	ip netns exec "$NS_APP" radvd -n -C "$WORK/radvd.conf" -p "$WORK/radvd.pid" \
		-m logfile -l "$WORK/radvd.log" &
	RADVD_PID=$!
	sleep 1
	kill -0 "$RADVD_PID" 2> /dev/null || die "radvd did not start: $(cat "$WORK/radvd.log")"

	# shellcheck disable=SC2016 # nginx's variables, not the shell's
	NGINX_NETNS=$NS_APP NGINX_LISTEN=${REF_URL#http://} start_nginx "
		root $WORK/www;
		access_log $WORK/nginx-access.log reference;
		location /phone-home/ { return 204; }" \
		'log_format reference "$msec $request_method $uri $status";'
}

ramdisk_file=$(scenario_bundle_file "$BUNDLE_DIR" ramdisk)
debian_file=$(scenario_bundle_file "$BUNDLE_DIR" debian-12)
[ -n "$ramdisk_file" ] && [ -n "$debian_file" ] || die "$BUNDLE_DIR lacks the bundles; run make bundles"
command -v radvd > /dev/null || die "radvd is missing; run tools/deps.sh bench"
"$LAB" up > "$WORK/up.log" 2>&1 || die "qemu/lab up failed: $(tail -n 5 "$WORK/up.log")"
RAMDISK=$(scenario_bundle_load "$ramdisk_file" ramdisk) || die "cannot load $ramdisk_file"
DEBIAN=$(scenario_bundle_load "$debian_file" debian-12) || die "cannot load $debian_file"
OUTPOST_SOCKET=$SOCKET "$OUTPOST" bundle show debian-12 "${DEBIAN#debian-12/}" --json \
	> "$WORK/debian.json" || die "cannot read the debian-12 bundle"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/key"
scenario_profile bench "$RAMDISK" "$DEBIAN" "$WORK/key.pub" || die "cannot create the profile"
say "lab up, accelerator $(cat "$LAB_DIR/accel")"

declare -A OUT_DHCP OUT_RATE OUT_IMAGE OUT_HOME REF_RATE REF_IMAGE REF_HOME
COUNTS="${BENCH_DEPLOY_COUNTS:-1 4}"
for n in $COUNTS; do
	for run in $(seq 1 "$RUNS"); do
		say "$n server(s), run $run of $RUNS: Outpost"
		run_outpost "$n"
	done
done
# Each server now has a deployment, so Outpost renders its seed.
reference_files "$(tr ' ' '\n' <<< "$COUNTS" | sort -n | tail -n 1)"
reference_up
for n in $COUNTS; do
	for run in $(seq 1 "$RUNS"); do
		say "$n server(s), run $run of $RUNS: reference"
		run_reference "$n"
	done
done

for n in $COUNTS; do
	# shellcheck disable=SC2086 # lists of numbers
	{
		record "$n VM: DHCP ack to script" s "${OUT_DHCP[$n]}" - - value_max 6
		record "$n VM: image streaming per VM" MB/s "${OUT_RATE[$n]}" "wget|zstd" "${REF_RATE[$n]}" ratio_min 0.9
		record "$n VM: image streaming per VM, absolute" MB/s "${OUT_RATE[$n]}" - - value_min 100
		record "$n VM: power-on to image on disk" s "${OUT_IMAGE[$n]}" "wget|zstd" "${REF_IMAGE[$n]}" none -
		record "$n VM: power-on to phone-home" s "${OUT_HOME[$n]}" "nginx, static" "${REF_HOME[$n]}" ratio_max 1.05
	}
done
