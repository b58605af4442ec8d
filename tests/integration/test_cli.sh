#!/bin/bash
# The CLI against a real daemon: every command over the unix socket and over HTTPS,
# table and JSON output, and the documented exit codes.
. "$(dirname "$0")/lib.sh"

start_daemon
export OUTPOST_SOCKET="$SOCKET"
op() { "$OUTPOST" "$@"; }

# Profiles and machines through their whole lifecycle. A deploy needs the artifacts the
# profile names.
mkdir -p "$WORK/store/deploy"
: > "$WORK/store/deploy/vmlinuz"
: > "$WORK/store/deploy/initrd.img"
op profile add debian-12 --kernel deploy/vmlinuz --initrd deploy/initrd.img --cmdline console=ttyS0 >/dev/null
expect_eq "profile add exit" "$?" 0
op machine add --mac 52-54-00-C0-00-01 --hostname node1 --ip 10.20.0.11 >/dev/null
expect_eq "machine add exit" "$?" 0
op machine add --mac 52:54:00:c0:00:02 --mac 52:54:00:c0:00:03 --hostname node2 >/dev/null

table=$(op machine list)
expect_contains "table header" "$(head -n 1 <<<"$table")" HOSTNAME
expect_contains "table row for node1" "$table" "52:54:00:c0:00:01"
expect_eq "table has a row per machine" "$(tail -n +2 <<<"$table" | wc -l)" 2
json=$(op machine list --json)
expect_eq "JSON list" "$(jq '.items | length' <<<"$json")" 2
expect_eq "JSON hostname" "$(jq -r '.items[0].hostname' <<<"$json")" node1

show=$(op machine show 52:54:00:c0:00:01)
expect_contains "show by MAC" "$show" "10.20.0.11"
op machine set 52:54:00:c0:00:01 --hostname node1b >/dev/null
expect_eq "set hostname" "$(op machine show 52:54:00:c0:00:01 --json | jq -r .hostname)" node1b
op machine deploy 52:54:00:c0:00:01 --profile debian-12 >/dev/null
expect_eq "deploy exit" "$?" 0
expect_eq "deploy state" "$(op machine show 52:54:00:c0:00:01 --json | jq -r .state)" deploying

# Exit codes: usage 2, not found 3, conflict 4, unreachable 5.
op machine show 52:54:00:ff:ff:ff 2>/dev/null
expect_eq "not found exit" "$?" 3
op machine add --mac 52:54:00:c0:00:02 2>"$WORK/err"
expect_eq "duplicate exit" "$?" 4
expect_contains "duplicate message names the MAC" "$(cat "$WORK/err")" "52:54:00:c0:00:02"
op machine deploy 52:54:00:c0:00:01 2>/dev/null
expect_eq "deploy while deploying exit" "$?" 4
op machine add --mac nonsense 2>"$WORK/err"
expect_eq "invalid MAC exit" "$?" 2
expect_contains "invalid MAC message" "$(cat "$WORK/err")" nonsense
op machine frobnicate 2>/dev/null
expect_eq "unknown verb exit" "$?" 2
op machine list --socket "$WORK/nowhere.sock" 2>/dev/null
expect_eq "unreachable exit" "$?" 5
op profile rm debian-12 2>/dev/null
expect_eq "profile in use exit" "$?" 4

# Remote use over HTTPS with a token file.
echo "$TOKEN" > "$WORK/token"
remote=$(env -u OUTPOST_SOCKET "$OUTPOST" machine list --json \
	--url "https://localhost:$API_PORT" --token-file "$WORK/token" --cacert "$WORK/state/tls/cert.pem")
expect_eq "HTTPS list" "$(jq '.items | length' <<<"$remote")" 2
echo "0000" > "$WORK/badtoken"
env -u OUTPOST_SOCKET "$OUTPOST" machine list --url "https://localhost:$API_PORT" \
	--token-file "$WORK/badtoken" --cacert "$WORK/state/tls/cert.pem" 2>/dev/null
expect_eq "bad token exit" "$?" 1

# Removal and the audit trail.
op machine rm 52:54:00:c0:00:02 >/dev/null
expect_eq "rm exit" "$?" 0
op machine show 52:54:00:c0:00:02 2>/dev/null
expect_eq "removed machine is gone" "$?" 3
audit=$(op audit show --json)
expect_eq "audit has the deploy" \
	"$(jq '[.items[] | select(.action == "machine.deploy" and .outcome == "ok")] | length' <<<"$audit")" 1
expect_eq "audit has the rejected deploy" \
	"$(jq '[.items[] | select(.action == "machine.deploy" and (.outcome | startswith("failed")))] | length' <<<"$audit")" 1
verify=$(op audit verify)
expect_eq "audit verify exit" "$?" 0
expect_contains "audit verify message" "$verify" "audit chain intact"

# Triggers reject edits, but whoever can write the file can drop them: an entry
# edited behind the daemon's back is still caught and named.
sqlite3 "$WORK/state/outpost.db" "UPDATE audit SET actor = 'mallory' WHERE seq = 3;" 2>/dev/null
expect_eq "trigger rejects an edit" "$?" 19
sqlite3 "$WORK/state/outpost.db" "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'mallory' WHERE seq = 3;"
verify=$(op audit verify)
expect_eq "broken chain exit" "$?" 6
expect_contains "broken chain names the entry" "$verify" "entry 3"

finish
