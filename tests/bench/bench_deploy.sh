#!/bin/bash
# Deployment in the QEMU lab, one BIOS server and then four at once, against a
# reference on the same VMs, kernel, initrd and image: the ramdisk's init streaming the
# image with busybox wget into zstd into the disk (outpost.reference on the command
# line) and powering off. Measures, per server, from power-on:
#   - DHCP acknowledgement (Kea's log) to the deploy script fetched (ipxe-script)
#   - image streaming rate: the agent's image-written report against the reference's
#     own timing, both from the ramdisk's start of streaming to the data on disk
#   - time to the image on disk: image-verified for Outpost, the reference's end
#   - time to phone-home (Outpost only; the reference stops at the image)
# Servers run under the lab's accelerator (TCG here); QEMU threads are not pinned.
# Needs root, the lab's packages and BUNDLE_DIR with the ramdisk and debian-12 bundles.
. "$(dirname "$0")/lib.sh"

BUNDLE_DIR=${BUNDLE_DIR:-$(cd "$(dirname "$OUTPOST")" && pwd)/bundles}
export LAB_DIR=$WORK/lab LAB_NAME="lab-bench-$$" OUTPOST
SOCKET=$LAB_DIR/outpost.sock
LAB=$TREE/qemu/lab
# shellcheck source=qemu/scenario.sh
. "$TREE/qemu/scenario.sh"
DEPLOY_TIMEOUT=${DEPLOY_TIMEOUT:-900}

cleanup_lab() {
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

# Recreate servers 1..N with empty disks and machines that deploy PROFILE once on.
# Usage: servers_prepare N PROFILE
servers_prepare() {
	local n=$1 profile=$2 i mac id
	for i in $(seq 1 "$n"); do
		mac=$(printf '52:54:00:78:be:%02x' "$i")
		"$LAB" server remove "bench$i" > /dev/null 2>&1
		"$LAB" server add "bench$i" --firmware bios --mac "$mac" --disk-size 3 > /dev/null ||
			die "cannot add server bench$i"
		id=$(scenario_machine "$mac" | jq -r '.id // empty')
		[ -n "$id" ] || id=$(scenario_api POST /api/v1/machines "${SCENARIO_JSON[@]}" \
			-d "{\"macs\": [\"$mac\"], \"hostname\": \"bench$i\"}" | jq -r .id)
		# force: the reference leaves its deployment running, and this replaces it.
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
		mac=$(printf '52:54:00:78:be:%02x' "$i")
		id=$(scenario_machine "$mac" | jq -r .id)
		m=$(scenario_api GET "/api/v1/machines/$id")
		local script verified home rate
		script=$(jq -r '.deployment.phases[] | select(.phase == "ipxe-script") | .at_ms' <<< "$m")
		verified=$(jq -r '.deployment.phases[] | select(.phase == "image-verified") | .at_ms' <<< "$m")
		home=$(jq -r '.deployment.phases[] | select(.phase == "phone-home") | .at_ms' <<< "$m")
		rate=$(jq -r '.deployment.phases[] | select(.phase == "image-written") | .detail' <<< "$m" |
			sed -n 's/.*, \([0-9.]*\) MB\/s$/\1/p')
		OUT_DHCP+=" $(awk -v a="$script" -v b="$(dhcp_ack_ms "$mac" "$script")" 'BEGIN { print (a - b) / 1000 }')"
		OUT_RATE+=" $rate"
		OUT_IMAGE+=" $(awk -v a="$verified" -v b="$T0" 'BEGIN { print (a - b) / 1000 }')"
		OUT_HOME+=" $(awk -v a="$home" -v b="$T0" 'BEGIN { print (a - b) / 1000 }')"
		"$LAB" server stop "bench$i" > /dev/null
	done
}

# Reference: the same servers boot the same ramdisk, which streams the image itself.
# The serial logs have no clock, so each server's end is when its line is first seen.
run_reference() {
	local n=$1 i line deadline start end size status pending
	local -a seen
	size=$(OUTPOST_SOCKET=$SOCKET "$OUTPOST" bundle show debian-12 "${DEBIAN#debian-12/}" --json |
		jq -r '.artifacts[] | select(.role == "disk-image") | .metadata.raw_size')
	servers_prepare "$n" bench-reference
	servers_start "$n"
	deadline=$((SECONDS + DEPLOY_TIMEOUT))
	pending=$n
	while [ "$pending" -gt 0 ]; do
		[ "$SECONDS" -lt "$deadline" ] || die "the reference did not finish on $pending servers"
		for i in $(seq 1 "$n"); do
			[ -z "${seen[i]:-}" ] || continue
			grep -aq "outpost-reference: status" "$LAB_DIR/bench$i.serial.log" 2> /dev/null ||
				continue
			seen[i]=$(now_ms)
			pending=$((pending - 1))
		done
		sleep 0.2
	done
	for i in $(seq 1 "$n"); do
		line=$(grep -a -m1 "outpost-reference: status" "$LAB_DIR/bench$i.serial.log")
		read -r _ _ status _ start _ end <<< "$line"
		[ "$status" = 0 ] || die "the reference on bench$i failed with status $status"
		REF_RATE+=" $(awk -v s="$size" -v a="$start" -v b="$end" 'BEGIN { print s / (b - a) / 1e6 }')"
		REF_IMAGE+=" $(awk -v a="${seen[i]}" -v b="$T0" 'BEGIN { print (a - b) / 1000 }')"
		"$LAB" server stop "bench$i" > /dev/null
	done
}

ramdisk_file=$(scenario_bundle_file "$BUNDLE_DIR" ramdisk)
debian_file=$(scenario_bundle_file "$BUNDLE_DIR" debian-12)
[ -n "$ramdisk_file" ] && [ -n "$debian_file" ] || die "$BUNDLE_DIR lacks the bundles; run make bundles"
"$LAB" up > "$WORK/up.log" 2>&1 || die "qemu/lab up failed: $(tail -n 5 "$WORK/up.log")"
RAMDISK=$(scenario_bundle_load "$ramdisk_file" ramdisk) || die "cannot load $ramdisk_file"
DEBIAN=$(scenario_bundle_load "$debian_file" debian-12) || die "cannot load $debian_file"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/key"
scenario_profile bench "$RAMDISK" "$DEBIAN" "$WORK/key.pub" || die "cannot create the profile"
scenario_profile bench-reference "$RAMDISK" "$DEBIAN" "$WORK/key.pub" || die "cannot create the profile"
scenario_api PATCH /api/v1/profiles/bench-reference "${SCENARIO_JSON[@]}" -o /dev/null \
	-d "{\"cmdline\": \"outpost.reference=http://10.78.0.1:8080/files/$DEBIAN/disk.raw.zst\"}"
say "lab up, accelerator $(cat "$LAB_DIR/accel")"

for n in 1 4; do
	OUT_DHCP="" OUT_RATE="" OUT_IMAGE="" OUT_HOME="" REF_RATE="" REF_IMAGE=""
	for run in $(seq 1 "$RUNS"); do
		say "$n server(s), run $run of $RUNS: Outpost"
		run_outpost "$n"
		say "$n server(s), run $run of $RUNS: reference"
		run_reference "$n"
	done
	# shellcheck disable=SC2086 # lists of numbers
	{
		record "$n VM: DHCP ack to script" s "$OUT_DHCP" - - value_max 6
		record "$n VM: image streaming per VM" MB/s "$OUT_RATE" "wget|zstd" "$REF_RATE" ratio_min 0.9
		record "$n VM: image streaming per VM, absolute" MB/s "$OUT_RATE" - - value_min 100
		record "$n VM: power-on to image on disk" s "$OUT_IMAGE" "wget|zstd" "$REF_IMAGE" ratio_max 1.05
		record "$n VM: power-on to phone-home" s "$OUT_HOME" - - none -
	}
done
