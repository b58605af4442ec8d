#!/bin/bash
# Leases read by polling instead of Kea's run_script hook ([kea] lease_events = poll):
# Kea loads only lease_cmds, and a new MAC still becomes a discovered machine.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ddi_lib.sh"
. "$(dirname "$0")/dns_lib.sh"

DDI_KEA_OPTIONS="lease_events = poll;lease_poll_seconds = 1" ddi_stack_up || exit 1
sed -i '/^\[ddi\]$/a router_advertisements = false' "$WORK/outpost.conf"
ddi_daemon_start
ddi_wait_status '.dhcp.in_sync and .dns.in_sync' 30
check "stack reaches sync" test $? -eq 0

hooks=$(ddi_kea_cmd "$WORK/kea.sock" '{"command": "config-get"}' |
	jq -r '[.arguments.Dhcp4."hooks-libraries"[].library | split("/") | last] | join(" ")')
expect_eq "only lease_cmds is loaded" "$hooks" "libdhcp_lease_cmds.so"
check "no event socket" test ! -e "$WORK/kea-events.sock"

ddi_dhcp_client 52:54:00:ee:00:01 7 "PXEClient:Arch:00007:UNDI:003016" "" > /dev/null
leased=$(sed -n 's/^ip=//p' "$DDI_WORK/udhcpc.result")
expect_eq "polled lease discovered" "$(ddi_lease_ip 52:54:00:ee:00:01 "$leased" 10)" "$leased"
expect_eq "no hook events" "$(api_unix GET /api/v1/ddi/status | jq .lease_events)" "0"

# With router_advertisements off, a router solicitation gets no reply.
ra=$(ddi_router_solicit)
expect_contains "no RA when turned off" "$ra" "No response"

# A bad value is rejected at start with the key and the value.
stop_daemon
sed -i 's/^lease_events = poll$/lease_events = sometimes/' "$WORK/outpost.conf"
check "bad lease_events stops the start" sh -c "! '$OUTPOST' serve --config '$WORK/outpost.conf' 2> '$WORK/bad.log'"
expect_contains "bad lease_events named" "$(cat "$WORK/bad.log")" \
	'[kea] lease_events: invalid value "sometimes": expected hook or poll'
finish
