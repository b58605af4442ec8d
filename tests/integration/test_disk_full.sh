#!/bin/bash
# A full disk makes writes fail with 507 and loses nothing: after space comes back,
# the store is intact, the audit chain verifies and writes work again.
# The state directory is a small tmpfs in a private mount namespace of this test.
if [ -z "${OUTPOST_IN_MOUNT_NS:-}" ]; then
	OUTPOST_IN_MOUNT_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/state"
mount -t tmpfs -o size=4m tmpfs "$WORK/state"
start_daemon
json=(-H 'Content-Type: application/json')
inventory=$(printf '{"notes": "%s"}' "$(head -c 30000 /dev/zero | tr '\0' n)")

# Fill the disk, then keep writing machines until the store reports it full.
fallocate -l 3m "$WORK/state/filler" 2>/dev/null || head -c 3000000 /dev/zero > "$WORK/state/filler"
full=0
for i in $(seq 1 200); do
	printf -v mac '52:54:00:10:%02x:%02x' $((i / 256)) $((i % 256))
	code=$(api_unix POST /api/v1/machines "${json[@]}" -o "$WORK/reply" -w '%{http_code}' \
		-d "{\"macs\": [\"$mac\"], \"inventory\": $inventory}")
	if [ "$code" = 507 ]; then
		full=1
		break
	fi
	[ "$code" = 201 ] || { echo "unexpected status $code: $(cat "$WORK/reply")" >&2; break; }
done
expect_eq "a full disk gives 507" "$full" 1
expect_eq "507 error code" "$(jq -r .error "$WORK/reply")" insufficient_storage
check "daemon survives a full disk" kill -0 "$DAEMON_PID"

# Free the space: the store is consistent and writable again.
rm -f "$WORK/state/filler"
code=$(api_unix POST /api/v1/machines "${json[@]}" -o /dev/null -w '%{http_code}' \
	-d '{"macs": ["52:54:00:10:ff:ff"]}')
expect_eq "write after space returns" "$code" 201
expect_eq "audit chain intact" "$(api_unix GET /api/v1/audit/verify | jq -r .intact)" true
check "daemon stops cleanly" stop_daemon
expect_eq "integrity_check" "$(sqlite3 "$WORK/state/outpost.db" 'PRAGMA integrity_check;')" ok
machines=$(sqlite3 "$WORK/state/outpost.db" 'SELECT count(*) FROM machines;')
audited=$(sqlite3 "$WORK/state/outpost.db" \
	"SELECT count(*) FROM audit WHERE action = 'machine.create' AND outcome = 'ok';")
expect_eq "one audit entry per machine" "$audited" "$machines"
umount "$WORK/state"
finish
