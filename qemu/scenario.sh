# shellcheck shell=bash
# Steps of a provisioning run in the lab, shared by qemu/demo and the end-to-end tests:
# load the bundles, make a profile, wait for machines and print their phases. Sourced
# after LAB_DIR, OUTPOST and SOCKET are set; needs curl and jq.

SCENARIO_JSON=(-H 'Content-Type: application/json')

# curl against the daemon's unix socket. Usage: scenario_api METHOD PATH [curl args...]
scenario_api() {
	local method=$1 path=$2
	shift 2
	curl -sS -m 30 --unix-socket "$SOCKET" -X "$method" "http://localhost$path" "$@"
}

# The newest NAME-*.bundle in DIR. Usage: scenario_bundle_file DIR NAME
scenario_bundle_file() {
	find "$1" -maxdepth 1 -name "$2-*.bundle" -printf '%f\n' 2> /dev/null | sort -V |
		tail -n 1 | sed "s|^|$1/|"
}

# Load FILE unless its name and version are loaded; print NAME/VERSION.
# Usage: scenario_bundle_load FILE NAME
scenario_bundle_load() {
	local file=$1 name=$2 version
	version=$(basename "$file" .bundle)
	version=${version#"$name"-}
	if ! scenario_api GET "/api/v1/bundles/$name/$version" -f -o /dev/null 2> /dev/null; then
		OUTPOST_SOCKET=$SOCKET "$OUTPOST" bundle load "$file" > /dev/null || return 1
	fi
	echo "$name/$version"
}

# Create profile NAME, or update it when it exists (a store kept from an earlier run,
# whose machines may still use it): boot RAMDISK (NAME/VERSION of a ramdisk bundle),
# write the disk image of OS (NAME/VERSION of an os bundle), authorize KEYFILE.
# Usage: scenario_profile NAME RAMDISK OS KEYFILE
scenario_profile() {
	local body
	body=$(jq -n --arg r "$2" --arg os "$3" --arg key "$(cat "$4")" \
		'{image: ($os + "/disk.raw.zst"), kernel: ($r + "/kernel"),
		  initrd: ($r + "/initrd"), cmdline: "", templates: {ssh_authorized_keys: $key}}')
	if scenario_api GET "/api/v1/profiles/$1" -f -o /dev/null 2> /dev/null; then
		scenario_api PATCH "/api/v1/profiles/$1" "${SCENARIO_JSON[@]}" -f -d "$body" \
			-o /dev/null
	else
		scenario_api POST /api/v1/profiles "${SCENARIO_JSON[@]}" -f \
			-d "$(jq -c --arg name "$1" '. + {name: $name}' <<< "$body")" -o /dev/null
	fi
}

# The machine with MAC as compact JSON, or nothing. Listings leave out the deployment.
scenario_machine() {
	scenario_api GET "/api/v1/machines?mac=$1" | jq -c '.items[0] // empty'
}

# The machine with MAC with its newest deployment, or nothing.
scenario_machine_full() {
	local id
	id=$(scenario_machine "$1" | jq -r '.id // empty')
	[ -z "$id" ] || scenario_api GET "/api/v1/machines/$id" | jq -c .
}

# One line per phase of MAC's newest deployment: the phase, the seconds since the
# deploy action and the agent's own duration.
scenario_phases() {
	scenario_machine_full "$1" | jq -r '
		.deployment as $d | ($d.phases[0].at_ms) as $t0 |
		$d.phases[] | "    \(.phase | . + " " * (16 - length)) +\((.at_ms - $t0) / 1000 |
		. * 10 | floor / 10)s" + (if .seconds then "  (agent: \(.seconds * 10 | floor / 10)s)"
		else "" end) + (if .reason then "  " + .reason else "" end)'
}

# Wait until BMC operation ID ends; print its JSON. Fails when it failed or took
# longer than TIMEOUT seconds (default 120). Usage: scenario_bmc_wait ID [TIMEOUT]
scenario_bmc_wait() {
	local id=$1 deadline=$((SECONDS + ${2:-120})) op state
	while :; do
		op=$(scenario_api GET "/api/v1/bmc-operations/$id") || return 1
		state=$(jq -r .state <<< "$op")
		case "$state" in
		succeeded) echo "$op"; return 0 ;;
		failed) echo "$op"; return 1 ;;
		esac
		[ "$SECONDS" -lt "$deadline" ] || { echo "$op"; return 1; }
		sleep 0.5
	done
}

# Enrol lab server NAME's Redfish BMC, pinned to the certificate the lab made for it,
# and wait for its verify operation. Prints the BMC's id.
# Usage: scenario_bmc_enrol NAME LAB
scenario_bmc_enrol() {
	local info body reply op id
	info=$("$2" server bmc "$1" --json) || return 1
	body=$(jq -c --rawfile password "$(jq -r .password_file <<< "$info")" \
		'{protocol: "redfish", address: .address, port: .redfish.port, username: .user,
		  password: ($password | rtrimstr("\n")), tls: "pinned", fingerprint: .fingerprint}' \
		<<< "$info")
	reply=$(scenario_api POST /api/v1/bmcs "${SCENARIO_JSON[@]}" -d "$body") || return 1
	id=$(jq -r '.bmc.id // empty' <<< "$reply")
	op=$(jq -r '.operation.id // empty' <<< "$reply")
	if [ -z "$id" ] || [ -z "$op" ]; then
		echo "enrolling the BMC of $1 failed: $(jq -r '.detail // .' <<< "$reply")" >&2
		return 1
	fi
	if ! reply=$(scenario_bmc_wait "$op"); then
		echo "verifying the BMC of $1 failed: $(jq -r '.error // .state' <<< "$reply")" >&2
		return 1
	fi
	echo "$id"
}

# Queue operation BODY (JSON) on BMC ID and wait for it. Usage: scenario_bmc_op ID BODY
scenario_bmc_op() {
	local reply op
	reply=$(scenario_api POST "/api/v1/bmcs/$1/operations" "${SCENARIO_JSON[@]}" -d "$2") ||
		return 1
	op=$(jq -r '.id // empty' <<< "$reply")
	[ -n "$op" ] || { echo "$(jq -r '.detail // .' <<< "$reply")" >&2; return 1; }
	if ! reply=$(scenario_bmc_wait "$op"); then
		echo "$(jq -r '.error // .state' <<< "$reply")" >&2
		return 1
	fi
}

# Forget lab server NAME with MAC from a store kept from an earlier run: delete its
# machine and the BMCs enrolled at its BMC address, so the run starts as on a new site.
# Usage: scenario_forget NAME MAC LAB
scenario_forget() {
	local id address
	id=$(scenario_machine "$2" | jq -r '.id // empty')
	if [ -n "$id" ]; then
		scenario_api DELETE "/api/v1/machines/$id" -f -o /dev/null || return 1
	fi
	address=$("$3" server bmc "$1" --json 2> /dev/null | jq -r '.address // empty')
	[ -n "$address" ] || return 0
	for id in $(scenario_api GET /api/v1/bmcs |
		jq -r --arg a "$address" '.items[] | select(.address == $a) | .id'); do
		scenario_api DELETE "/api/v1/bmcs/$id" -f -o /dev/null || return 1
	done
}
