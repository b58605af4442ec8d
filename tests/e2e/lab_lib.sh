# shellcheck shell=bash
# Set-up shared by the lab tests, sourced after tests/integration/lib.sh: a lab of the
# test's own (LAB_DIR under the test's folder, a LAB_NAME with the test's pid), and a
# cleanup that takes it down and, after a failure, prints the servers' consoles and
# the appliance's log. Set SERVERS (lines starting with the server's name) first.

LAB="$TREE/qemu/lab"
export LAB_DIR="$WORK/lab"
export OUTPOST
# shellcheck disable=SC2034 # lib.sh's api_unix reads it
SOCKET="$LAB_DIR/outpost.sock"

lab_cleanup() {
	local spec name
	"$LAB" down > /dev/null 2>&1 || echo "$TEST_NAME: qemu/lab down failed during cleanup" >&2
	if [ "$FAILURES" -gt 0 ] && [ -d "$LAB_DIR" ]; then
		for spec in "${SERVERS[@]}"; do
			name=${spec%% *}
			echo "--- last lines of $name's console ---" >&2
			"$LAB" console "$name" --print 2>/dev/null | grep -av '^[[:space:]]*$' | tail -n 25 >&2
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
