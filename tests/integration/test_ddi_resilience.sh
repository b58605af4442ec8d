#!/bin/bash
# Nothing is lost when Kea, PowerDNS or the daemon itself stops or is killed in the
# middle of a batch of changes: once they are back, Kea contains every reservation and
# PowerDNS every record the store calls for. Runs the real servers in namespaces of
# the test's own, like test_ddi.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ddi_lib.sh"
. "$(dirname "$0")/dns_lib.sh"

BATCH=45
created=0

# Create machine number N with a host name and a reserved address.
add_machine() {
	local n=$1 mac id
	mac=$(printf '52:54:00:dd:%02x:%02x' $((n / 256)) $((n % 256)))
	id=$(api_unix POST /api/v1/machines -H 'Content-Type: application/json' \
		-d "{\"macs\": [\"$mac\"], \"hostname\": \"host$n\"}" | jq -r .id)
	api_unix POST "/api/v1/machines/$id/address" > /dev/null
	created=$((created + 1))
}

# Create machines FIRST..LAST, running HOOK (a command) after the one numbered AT.
add_batch() {
	local first=$1 last=$2 at=$3 hook=$4
	for n in $(seq "$first" "$last"); do
		add_machine "$n"
		if [ "$n" -eq "$at" ]; then
			$hook
		fi
	done
}

reservations() {
	ddi_kea_cmd "$WORK/kea.sock" '{"command": "config-get"}' 2>/dev/null |
		jq '[.arguments.Dhcp4.subnet4[].reservations[]] | length'
}

# A records of hosts in the forward zone, and PTR records in the reverse zone.
record_count() {
	pdns_api GET "/api/v1/servers/localhost/zones/$1" |
		jq "[.rrsets[] | select(.type == \"$2\" and (.name | startswith(\"host\") or
			test(\"^[0-9]\")))] | length"
}

# Wait until Kea and PowerDNS hold everything for $created machines, then check it.
converged() {
	local what=$1
	ddi_wait_status ".dhcp.in_sync and .dns.in_sync and .dhcp.items == $created and
		.dns.items == $((2 * created + 1))" 60
	check "$what: status in sync" test $? -eq 0
	expect_eq "$what: Kea reservations" "$(reservations)" "$created"
	expect_eq "$what: A records" "$(record_count lab.example. A)" "$created"
	expect_eq "$what: PTR records" "$(record_count 0.77.10.in-addr.arpa. PTR)" "$created"
}

kea_stop_now() {
	ddi_kea_stop > /dev/null
}

pdns_kill_now() {
	pdns_kill
}

daemon_kill_now() {
	kill_daemon
}

# A small pool leaves 197 addresses to reserve.
DDI_POOL=10.77.0.200-10.77.0.249 ddi_stack_up || exit 1
ddi_daemon_start
ddi_wait_status '.dhcp.in_sync and .dns.in_sync' 30
check "stack reaches sync" test $? -eq 0

# 1. Kea stopped in the middle of a batch, then started again from its last file.
add_batch 1 "$BATCH" 20 kea_stop_now
ddi_wait_status '.dhcp.in_sync == false and .dhcp.failures > 0' 20
check "Kea down is reported" test $? -eq 0
expect_contains "the error names Kea's socket" \
	"$(api_unix GET /api/v1/ddi/status | jq -r .dhcp.last_error)" "kea.sock"
ddi_kea_start "$DDI_KEA_CONFIG"
converged "after Kea restarted"

# 2. Kea killed after the last change of a batch and restarted from the bootstrap file:
# every reservation is gone from it, no change follows, and the manager must notice on
# its own when it next compares.
kea_kill_restart() {
	ddi_kea_kill
	ddi_kea_bootstrap
	ddi_kea_start "$DDI_KEA_CONFIG"
}
add_batch $((BATCH + 1)) $((2 * BATCH)) $((2 * BATCH)) kea_kill_restart
converged "after Kea lost its reservations"

# 3. PowerDNS killed mid-batch, then started again on the same database.
add_batch $((2 * BATCH + 1)) $((3 * BATCH)) $((2 * BATCH + 30)) pdns_kill_now
ddi_wait_status '.dns.in_sync == false' 20
check "PowerDNS down is reported" test $? -eq 0
pdns_start "$WORK/pdns" 8081 53 "$DDI_PDNS_KEY" "$DDI_SERVER_ADDR" \
	ip netns exec "$DDI_SERVER_NS"
converged "after PowerDNS restarted"

# 4. PowerDNS answering errors: a wrong API key gets 401 until the right one is back.
pdns_stop > /dev/null
pdns_start "$WORK/pdns" 8081 53 "wrong-key" "$DDI_SERVER_ADDR" ip netns exec "$DDI_SERVER_NS"
add_machine $((3 * BATCH + 1))
ddi_wait_status '.dns.last_error // "" | contains("HTTP 401")' 20
check "an API error is surfaced" test $? -eq 0
pdns_stop > /dev/null
pdns_start "$WORK/pdns" 8081 53 "$DDI_PDNS_KEY" "$DDI_SERVER_ADDR" \
	ip netns exec "$DDI_SERVER_NS"
converged "after the API key was fixed"

check "retries are logged" grep -q "retrying in" "$WORK/daemon.log"

# 5. The daemon killed mid-batch: the changes it committed reach the servers after a
# restart, and nothing it never committed appears.
add_batch $((3 * BATCH + 2)) $((4 * BATCH)) $((3 * BATCH + 20)) daemon_kill_now 2> /dev/null
ddi_daemon_start
created=$(api_unix GET "/api/v1/machines?limit=500" | jq '[.items[] | select(.ip != null)] | length')
check "machines survived the kill" test "$created" -gt $((3 * BATCH))
converged "after the daemon was killed"

stop_daemon
check "daemon stops cleanly" test $? -eq 0
finish
