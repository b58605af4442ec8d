# shellcheck shell=bash
# Set-up shared by the lab tests, sourced after tests/integration/lib.sh: a lab of the
# test's own (LAB_DIR under the test's folder, a LAB_NAME with the test's pid), and a
# cleanup that takes it down and, after a failure, prints the servers' consoles and
# the appliance's log, and the logs of the servers' BMCs. Set SERVERS (lines starting
# with the server's name) first.

LAB="$TREE/qemu/lab"
export LAB_DIR="$WORK/lab"
export OUTPOST
# shellcheck disable=SC2034 # lib.sh's api_unix reads it
SOCKET="$LAB_DIR/outpost.sock"

lab_cleanup() {
	local spec name log
	"$LAB" down > /dev/null 2>&1 || echo "$TEST_NAME: qemu/lab down failed during cleanup" >&2
	if [ "$FAILURES" -gt 0 ] && [ -d "$LAB_DIR" ]; then
		for spec in "${SERVERS[@]}"; do
			name=${spec%% *}
			echo "--- last lines of $name's console ---" >&2
			"$LAB" console "$name" --print 2>/dev/null | grep -av '^[[:space:]]*$' | tail -n 25 >&2
			for log in redfish.log ipmi_sim.log; do
				[ -s "$LAB_DIR/servers/$name/bmc/$log" ] || continue
				echo "--- last lines of $name's bmc/$log ---" >&2
				tail -n 15 "$LAB_DIR/servers/$name/bmc/$log" >&2
			done
		done
		echo "--- last lines of $LAB_DIR/outpost.log ---" >&2
		tail -n 30 "$LAB_DIR/outpost.log" >&2
	fi
	if [ -n "${KEEP_WORK:-}" ]; then
		echo "$TEST_NAME: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap lab_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(id -u)" != 0 ]; then
	echo "FAIL: $TEST_NAME: needs root to create network namespaces and tap devices" >&2
	exit 1
fi

# Set ramdisk_bundle and debian_bundle to the newest such bundles in BUNDLE_DIR, or end
# the test with a message. Needs qemu/scenario.sh.
lab_bundles_find() {
	ramdisk_bundle=$(scenario_bundle_file "$BUNDLE_DIR" ramdisk)
	debian_bundle=$(scenario_bundle_file "$BUNDLE_DIR" debian-12)
	if [ -z "$ramdisk_bundle" ] || [ -z "$debian_bundle" ]; then
		echo "FAIL: $TEST_NAME: $BUNDLE_DIR lacks a ramdisk or debian-12 bundle; run make" \
			"bundles" >&2
		exit 1
	fi
}
