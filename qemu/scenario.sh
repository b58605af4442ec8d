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

# Create or replace profile NAME: boot RAMDISK (NAME/VERSION of a ramdisk bundle),
# write the disk image of OS (NAME/VERSION of an os bundle), authorize KEYFILE.
# Usage: scenario_profile NAME RAMDISK OS KEYFILE
scenario_profile() {
	local body
	body=$(jq -n --arg name "$1" --arg r "$2" --arg os "$3" --arg key "$(cat "$4")" \
		'{name: $name, image: ($os + "/disk.raw.zst"), kernel: ($r + "/kernel"),
		  initrd: ($r + "/initrd"), cmdline: "", templates: {ssh_authorized_keys: $key}}')
	scenario_api DELETE "/api/v1/profiles/$1" -o /dev/null 2> /dev/null
	scenario_api POST /api/v1/profiles "${SCENARIO_JSON[@]}" -f -d "$body" -o /dev/null
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
