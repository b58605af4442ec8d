#!/bin/bash
# docs/examples/dev.conf runs the daemon from a source checkout: its relative templates
# path resolves against the file's own directory, whatever the working directory is.
# The copy here changes only the ports and /tmp/outpost-dev, so tests never collide.
. "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/tree/docs/examples"
ln -s "$TREE/bootenv" "$WORK/tree/bootenv"
sed -e "s#127\.0\.0\.1:8080#127.0.0.1:0#; s#127\.0\.0\.1:8443#127.0.0.1:0#" \
	-e "s#/tmp/outpost-dev#$WORK/dev#g" \
	"$TREE/docs/examples/dev.conf" > "$WORK/tree/docs/examples/dev.conf"

# Start from / so a path resolved against the working directory would fail.
: > "$WORK/daemon.log"
(cd / && exec "$OUTPOST" serve --config "$WORK/tree/docs/examples/dev.conf") \
	2>> "$WORK/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 1 200); do
	grep -q "outpost ready" "$WORK/daemon.log" && break
	kill -0 "$DAEMON_PID" 2>/dev/null || break
	sleep 0.05
done
ready=$(grep "outpost ready" "$WORK/daemon.log")
expect_contains "daemon starts from another directory" "$ready" "outpost ready"
BOOT_PORT=$(printf '%s' "$ready" | sed -n 's/.*boot_port=\([0-9]*\).*/\1/p')

script=$(boot_get "/boot/ipxe?mac=52:54:00:12:34:56&buildarch=x86_64&platform=efi")
expect_contains "discovery script from the tree's templates" "$script" \
	"Outpost discovery script"
SOCKET="$WORK/dev/outpost.sock"
expect_eq "CLI on the dev socket" \
	"$(OUTPOST_SOCKET=$SOCKET "$OUTPOST" status --json | jq -r '.schema_version | type')" \
	number

finish
