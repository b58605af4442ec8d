#!/bin/bash
# DHCP, DNS and TFTP run by Outpost, with the real servers: kea-dhcp4, pdns_server and
# in.tftpd in a network namespace of the test's own, checked from a second namespace
# with busybox udhcpc, dig and tftp. Nothing is bound to the host's interfaces.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ddi_lib.sh"
. "$(dirname "$0")/dns_lib.sh"

PXE_BIOS="PXEClient:Arch:00000:UNDI:002001"
PXE_UEFI="PXEClient:Arch:00007:UNDI:003016"
HTTP_CLIENT="HTTPClient:Arch:00016:UNDI:003001"
SCRIPT_URL="http://10.77.0.1:8080/boot/start.ipxe"

# Print one key of the last DHCP client's result.
lease_value() {
	sed -n "s/^$1=//p" "$DDI_WORK/udhcpc.result"
}

dig_short() {
	ip netns exec "$DDI_CLIENT_NS" dig +short +time=2 +tries=1 @"$DDI_SERVER_ADDR" "$@"
}

# Wait until dig's short answer for "$@" equals EXPECTED, for at most 15 s.
wait_dig() {
	local expected=$1 deadline=$((SECONDS + 15))
	shift
	while [ "$SECONDS" -lt "$deadline" ]; do
		[ "$(dig_short "$@")" = "$expected" ] && return 0
		sleep 0.2
	done
	return 1
}

# A host outside the pool needs an address in the client namespace to query DNS.
client_address() {
	ip -n "$DDI_CLIENT_NS" -4 addr flush dev "$DDI_CLIENT_IF"
	ip -n "$DDI_CLIENT_NS" addr add 10.77.0.250/24 dev "$DDI_CLIENT_IF"
}

ddi_stack_up || exit 1
tftpd_start "$WORK/tftp" "$DDI_SERVER_ADDR" 69 ip netns exec "$DDI_SERVER_NS" || exit 1
ddi_daemon_start
ddi_wait_status '.dhcp.in_sync and .dns.in_sync' 30
check "Kea and PowerDNS reach sync" test $? -eq 0

# The TFTP root contains the ipxe package's binaries, byte for byte.
for file in undionly.kpxe snponly.efi ipxe.efi; do
	expect_eq "tftp root $file" "$(sha256sum < "$WORK/tftp/$file")" \
		"$(sha256sum < "/usr/lib/ipxe/$file")"
done

# A router solicitation gets an advertisement that configures nothing: no default
# router, no DHCPv6, no prefix. iPXE waits for one before its DHCP is done.
ra=$(ddi_router_solicit)
server_ll=$(ip -n "$DDI_SERVER_NS" -6 addr show dev "$DDI_SERVER_IF" scope link |
	sed -n 's|.*inet6 \([^/]*\)/.*|\1|p')
expect_contains "RA from the server's link-local address" "$ra" "from $server_ll"
expect_eq "RA router lifetime 0" "$(grep -c '^Router lifetime *: *0 ' <<< "$ra")" 1
expect_eq "RA without the managed flag" "$(grep -c '^Stateful address conf\. *: *No' <<< "$ra")" 1
expect_eq "RA without the other flag" "$(grep -c '^Stateful other conf\. *: *No' <<< "$ra")" 1
expect_eq "RA without a prefix" "$(grep -c '^ Prefix' <<< "$ra")" 0
expect_eq "client has no global IPv6 address" \
	"$(ip -n "$DDI_CLIENT_NS" -6 addr show dev "$DDI_CLIENT_IF" scope global)" ""

# Zones exist, with the appliance's own name server record.
client_address
expect_eq "name server A record" "$(dig_short outpost.lab.example A)" "10.77.0.1"
expect_contains "reverse zone SOA" "$(dig_short 0.77.10.in-addr.arpa SOA)" "outpost.lab.example."

# A machine with a host name gets the lowest free address outside the pool: .1 is the
# appliance, so .2.
out=$(api_unix POST /api/v1/machines -H 'Content-Type: application/json' \
	-d '{"macs": ["52:54:00:aa:00:01"], "hostname": "node1"}')
id=$(printf '%s' "$out" | jq -r .id)
out=$(api_unix POST /api/v1/machines/$id/address)
expect_eq "allocated address" "$(printf '%s' "$out" | jq -r .ip)" "10.77.0.2"

# Names that would collide in DNS are rejected.
out=$(api_unix POST /api/v1/machines -H 'Content-Type: application/json' \
	-d '{"macs": ["52:54:00:aa:00:0e"], "hostname": "outpost"}' -w ' %{http_code}')
expect_contains "the name server's name is taken" "$out" "is the name server's name"
expect_contains "the name server's name is 409" "$out" " 409"
out=$(api_unix POST /api/v1/machines -H 'Content-Type: application/json' \
	-d '{"macs": ["52:54:00:aa:00:0e"], "hostname": "node1.lab.example"}' -w ' %{http_code}')
expect_contains "a name with the domain is rejected" "$out" "give only the part before it, node1"
expect_contains "a name with the domain is 400" "$out" " 400"

# Requested addresses are checked against the settings.
out=$(api_unix POST /api/v1/machines -H 'Content-Type: application/json' \
	-d '{"macs": ["52:54:00:aa:00:02"], "hostname": "node2"}')
id2=$(printf '%s' "$out" | jq -r .id)
out=$(api_unix POST /api/v1/machines/$id2/address -H 'Content-Type: application/json' \
	-d '{"ip": "10.77.0.150"}' -w ' %{http_code}')
expect_contains "address in the pool rejected" "$out" "inside the discovery pool"
expect_contains "address in the pool is 400" "$out" " 400"
out=$(api_unix POST /api/v1/machines/$id2/address -H 'Content-Type: application/json' \
	-d '{"ip": "10.77.0.2"}' -w ' %{http_code}')
expect_contains "address of another machine rejected" "$out" "already belongs to machine $id"
expect_contains "address of another machine is 409" "$out" " 409"
out=$(api_unix PATCH /api/v1/machines/$id2 -H 'Content-Type: application/json' \
	-d '{"ip": "10.77.0.255"}' -w ' %{http_code}')
expect_contains "PATCH to the broadcast address rejected" "$out" "broadcast address"
expect_contains "PATCH to the broadcast address is 400" "$out" " 400"
out=$(api_unix POST /api/v1/machines -H 'Content-Type: application/json' \
	-d '{"macs": ["52:54:00:aa:00:03"], "ip": "192.0.2.7"}' -w ' %{http_code}')
expect_contains "create outside the subnets rejected" "$out" "in no configured subnet"
expect_contains "create outside the subnets is 400" "$out" " 400"
out=$(api_unix POST /api/v1/machines/$id2/address -H 'Content-Type: application/json' \
	-d '{"ip": "10.77.0.20"}')
expect_eq "requested address" "$(printf '%s' "$out" | jq -r .ip)" "10.77.0.20"

ddi_wait_status '.dhcp.items == 2 and .dns.items == 5' 15
check "two reservations and five records" test $? -eq 0

# DNS: A and PTR records, each PTR in the reverse zone.
check "A record of node1" wait_dig "10.77.0.2" node1.lab.example A
check "PTR record of node1" wait_dig "node1.lab.example." -x 10.77.0.2
check "A record of node2" wait_dig "10.77.0.20" node2.lab.example A

# DHCP: each PXE variant gets its address and boot file.
ddi_dhcp_client 52:54:00:aa:00:01 0 "$PXE_BIOS" "" > /dev/null
expect_eq "BIOS PXE address" "$(lease_value ip)" "10.77.0.2"
expect_eq "BIOS PXE boot file" "$(lease_value boot_file)" "undionly.kpxe"
expect_eq "BIOS PXE next server" "$(lease_value siaddr)" "10.77.0.1"
expect_eq "BIOS PXE host name" "$(lease_value hostname)" "node1"

ddi_dhcp_client 52:54:00:aa:00:02 7 "$PXE_UEFI" "" > /dev/null
expect_eq "UEFI PXE (7) address" "$(lease_value ip)" "10.77.0.20"
expect_eq "UEFI PXE (7) boot file" "$(lease_value boot_file)" "snponly.efi"
expect_eq "UEFI PXE (7) next server" "$(lease_value siaddr)" "10.77.0.1"

ddi_dhcp_client 52:54:00:bb:00:09 9 "PXEClient:Arch:00009:UNDI:003016" "" > /dev/null
expect_eq "UEFI PXE (9) boot file" "$(lease_value boot_file)" "snponly.efi"
pool_ip=$(lease_value ip)
check "unknown MAC gets a pool address" test "${pool_ip%.*}" = "10.77.0" -a \
	"${pool_ip##*.}" -ge 100 -a "${pool_ip##*.}" -le 199

ddi_dhcp_client 52:54:00:bb:00:10 16 "$HTTP_CLIENT" "" > /dev/null
expect_eq "UEFI HTTP boot URL" "$(lease_value boot_file)" "http://10.77.0.1:8080/ipxe/ipxe.efi"
expect_eq "UEFI HTTP boot vendor class" "$(lease_value vendor_class)" "HTTPClient"
expect_eq "no iPXE options for firmware" "$(lease_value ipxe_options)" ""

ddi_dhcp_client 52:54:00:aa:00:01 0 "$PXE_BIOS" "iPXE" > /dev/null
expect_eq "iPXE gets the script URL" "$(lease_value boot_file)" "$SCRIPT_URL"
expect_eq "iPXE keeps its reservation" "$(lease_value ip)" "10.77.0.2"
# Option 175 contains sub-option 176 (no-pxedhcp), length 1, value 1.
expect_eq "iPXE told to skip ProxyDHCP" "$(lease_value ipxe_options)" "b00101"

ddi_dhcp_client 52:54:00:bb:00:10 16 "$HTTP_CLIENT" "iPXE" > /dev/null
expect_eq "iPXE as HTTP client gets the script URL" "$(lease_value boot_file)" "$SCRIPT_URL"
expect_eq "iPXE as HTTP client gets no HTTPClient" "$(lease_value vendor_class)" ""

# Lease events: the unknown MACs are now discovered machines with their addresses.
expect_eq "leased MAC discovered with its address" \
	"$(ddi_lease_ip 52:54:00:bb:00:09 "$pool_ip" 15)" "$pool_ip"
expect_eq "discovered state" \
	"$(api_unix GET "/api/v1/machines?mac=52:54:00:bb:00:09" | jq -r '.items[0].state')" \
	"discovered"
check "lease event received" ddi_wait_status '.lease_events > 0' 5
check "discovery audited" sh -c "'$OUTPOST' audit show --socket '$SOCKET' 2>/dev/null | grep -q 'kea:lease'"

# A discovered machine given an address loses its pool lease, so its next DHCP request
# gets the reserved address instead of renewing the pool one.
found_id=$(api_unix GET "/api/v1/machines?mac=52:54:00:bb:00:09" | jq -r '.items[0].id')
reserved=$(api_unix POST "/api/v1/machines/$found_id/address" | jq -r .ip)
for _ in $(seq 1 50); do
	ddi_kea_cmd "$WORK/kea.sock" "{\"command\": \"lease4-get\", \"arguments\":
		{\"ip-address\": \"$pool_ip\"}}" | jq -e '.result == 3' > /dev/null && break
	sleep 0.2
done
expect_eq "pool lease deleted once reserved" "$(ddi_kea_cmd "$WORK/kea.sock" \
	"{\"command\": \"lease4-get\", \"arguments\": {\"ip-address\": \"$pool_ip\"}}" |
	jq -r '.result')" 3
ddi_dhcp_client 52:54:00:bb:00:09 9 "PXEClient:Arch:00009:UNDI:003016" "" > /dev/null
expect_eq "next lease is the reserved address" "$(lease_value ip)" "$reserved"
api_unix DELETE "/api/v1/machines/$found_id/address" -o /dev/null
ddi_wait_status '.dhcp.items == 2' 15 || true

# TFTP: a PXE ROM fetches undionly.kpxe from the client namespace.
client_address
tftp_get "$DDI_SERVER_ADDR" 69 undionly.kpxe "$WORK/fetched.kpxe" ip netns exec "$DDI_CLIENT_NS"
expect_eq "tftp undionly.kpxe" "$(sha256sum < "$WORK/fetched.kpxe")" \
	"$(sha256sum < /usr/lib/ipxe/undionly.kpxe)"
echo "not an iPXE binary" > "$WORK/upload"
chmod 666 "$WORK/tftp/ipxe.efi"
uploaded=yes
tftp_put "$DDI_SERVER_ADDR" 69 "$WORK/upload" ipxe.efi ip netns exec "$DDI_CLIENT_NS" \
	2>/dev/null || uploaded=no
expect_eq "tftp upload rejected" "$uploaded" "no"
chmod 644 "$WORK/tftp/ipxe.efi"
expect_eq "tftp root unchanged by the upload" "$(sha256sum < "$WORK/tftp/ipxe.efi")" \
	"$(sha256sum < /usr/lib/ipxe/ipxe.efi)"
tftp_get "$DDI_SERVER_ADDR" 69 ../kea-dhcp4.conf "$WORK/escaped" \
	ip netns exec "$DDI_CLIENT_NS" 2>/dev/null
check "tftp path with .. rejected" test ! -e "$WORK/escaped"

# UEFI HTTP boot and iPXE fetch from the boot listener: the binary, the start script.
client_get() {
	ip netns exec "$DDI_CLIENT_NS" curl -sS -m 10 "http://$DDI_SERVER_ADDR:8080$1" "${@:2}"
}
expect_eq "HTTP boot ipxe.efi" "$(client_get /ipxe/ipxe.efi | sha256sum)" \
	"$(sha256sum < /usr/lib/ipxe/ipxe.efi)"
expect_eq "only the three binaries" "$(client_get /ipxe/ipxe.lkrn -o /dev/null -w '%{http_code}')" \
	"404"
expect_eq "no path out of the TFTP root" \
	"$(client_get /ipxe/..%2fkea-dhcp4.conf -o /dev/null -w '%{http_code}')" "404"
start=$(client_get /boot/start.ipxe)
expect_contains "start script chains to the machine's script" "$start" \
	'chain --autofree http://10.77.0.1:8080/boot/ipxe?mac=${netX/mac:hexhyp}'

# Rename: the old name's A and PTR go, the new ones come.
api_unix PATCH /api/v1/machines/$id -H 'Content-Type: application/json' \
	-d '{"hostname": "node1b"}' > /dev/null
check "renamed A record" wait_dig "10.77.0.2" node1b.lab.example A
check "old A record removed" wait_dig "" node1.lab.example A
check "PTR follows the rename" wait_dig "node1b.lab.example." -x 10.77.0.2

# Drift: a record deleted by hand and a reservation lost are repaired by the resync.
pdns_api PATCH /api/v1/servers/localhost/zones/lab.example. -d '{"rrsets": [{"name": "node2.lab.example.",
	"type": "A", "changetype": "DELETE"}]}'
expect_eq "record deleted by hand" "$(dig_short node2.lab.example A)" ""
ddi_kea_cmd "$WORK/kea.sock" '{"command": "config-get"}' |
	jq -c '{command: "config-set", arguments: {Dhcp4: (.arguments.Dhcp4 |
		.subnet4[0].reservations = [] | del(."hooks-libraries"))}}' > "$WORK/drift.json"
ddi_kea_cmd "$WORK/kea.sock" "$(cat "$WORK/drift.json")" > /dev/null
reservations() {
	ddi_kea_cmd "$WORK/kea.sock" '{"command": "config-get"}' |
		jq '.arguments.Dhcp4.subnet4[0].reservations | length'
}
expect_eq "reservations lost by hand" "$(reservations)" "0"
check "deleted record restored" wait_dig "10.77.0.20" node2.lab.example A
deadline=$((SECONDS + 15))
while [ "$SECONDS" -lt "$deadline" ] && [ "$(reservations)" != "2" ]; do
	sleep 0.3
done
expect_eq "lost reservations restored" "$(reservations)" "2"
expect_contains "drift logged" "$(cat "$WORK/daemon.log")" "Kea's configuration needs an update"

# Decommission releases the address: the reservation and both records go.
out=$(api_unix POST /api/v1/machines/$id/decommission)
expect_eq "decommissioned state" "$(printf '%s' "$out" | jq -r .state)" "ready"
expect_eq "decommission releases the address" "$(printf '%s' "$out" | jq -r .ip)" "null"
check "A record removed on decommission" wait_dig "" node1b.lab.example A
check "PTR removed on decommission" wait_dig "" -x 10.77.0.2
ddi_wait_status '.dhcp.items == 1' 15
check "reservation removed on decommission" test $? -eq 0

# A lease of an address reserved for another machine is a conflict. Kea never makes
# one itself, so the test hands node2's lease to another MAC.
ddi_kea_cmd "$WORK/kea.sock" '{"command": "lease4-update", "arguments": {"ip-address":
	"10.77.0.20", "hw-address": "52:54:00:cc:00:01"}}' > /dev/null
LEASE4_ADDRESS=10.77.0.20 "$WORK/kea-events.sock.hook" lease4_renew
deadline=$((SECONDS + 10))
while [ "$SECONDS" -lt "$deadline" ]; do
	conflicts=$(api_unix GET /api/v1/ddi/conflicts | jq -r '.items[0].kind // empty')
	[ -n "$conflicts" ] && break
	sleep 0.2
done
expect_eq "conflict recorded" "$conflicts" "lease-reserved-elsewhere"
expect_eq "conflict names the holder" \
	"$(api_unix GET /api/v1/ddi/conflicts | jq -r '.items[0].machine_id')" "$id2"

# Records the operator made stay as they are: an A record at a name a machine then
# takes is a conflict, and a CNAME that makes PowerDNS reject a machine's A record
# holds up no other machine.
pdns_api PATCH /api/v1/servers/localhost/zones/lab.example. -d '{"rrsets": [
	{"name": "printer.lab.example.", "type": "A", "ttl": 60, "changetype": "REPLACE",
	 "records": [{"content": "10.77.0.240", "disabled": false},
		     {"content": "10.77.0.241", "disabled": false}]},
	{"name": "alias.lab.example.", "type": "CNAME", "ttl": 60, "changetype": "REPLACE",
	 "records": [{"content": "printer.lab.example.", "disabled": false}]}]}'
number=0
for name in printer alias other; do
	number=$((number + 1))
	mac=$(printf '52:54:00:ab:00:%02x' $number)
	mid=$(api_unix POST /api/v1/machines -H 'Content-Type: application/json' \
		-d "{\"macs\": [\"$mac\"], \"hostname\": \"$name\"}" | jq -r .id)
	api_unix POST /api/v1/machines/$mid/address > /dev/null
	eval "id_$name=$mid"
done
other_ip=$(api_unix GET "/api/v1/machines/$id_other" | jq -r .ip)
check "a machine beside the conflicts gets its A record" wait_dig "$other_ip" other.lab.example A
passes=$(grep -c "DNS records updated" "$WORK/daemon.log")
sleep 1
expect_eq "a conflict starts no further passes" \
	"$(grep -c "DNS records updated" "$WORK/daemon.log")" "$passes"
expect_eq "the operator's A record is untouched" \
	"$(dig_short printer.lab.example A | sort | tr '\n' ' ')" "10.77.0.240 10.77.0.241 "
kinds=$(api_unix GET /api/v1/ddi/conflicts | jq -r '[.items[].kind] | sort | join(" ")')
expect_contains "name taken is a conflict" "$kinds" "dns-name-taken"
expect_contains "rejected record is a conflict" "$kinds" "dns-rejected"
api_unix DELETE /api/v1/machines/$id_printer > /dev/null
sleep 1
expect_eq "deleting the machine leaves the operator's record" \
	"$(dig_short printer.lab.example A | sort | tr '\n' ' ')" "10.77.0.240 10.77.0.241 "

# A resync that finds nothing to repair sends Kea nothing (resync_seconds is 5).
pushes=$(grep -c "Kea configuration applied" "$WORK/daemon.log")
sleep 6
expect_eq "resync without drift pushes nothing" \
	"$(grep -c "Kea configuration applied" "$WORK/daemon.log")" "$pushes"

# The daemon's log never shows the API key.
check "API key never logged" sh -c "! grep -q '$DDI_PDNS_KEY' '$WORK/daemon.log'"

# A second daemon on the same event socket is rejected and leaves the first one's alone.
mkdir -p "$WORK/second"
sed -e "s|^state_dir = .*|state_dir = $WORK/second|" -e "s|^socket = .*|socket = $WORK/second.sock|" \
	-e "s|^listen = $DDI_SERVER_ADDR:8080|listen = 127.0.0.1:0|" "$WORK/outpost.conf" > "$WORK/second.conf"
check "second daemon on the event socket fails" sh -c "! ip netns exec '$DDI_SERVER_NS' \
	'$OUTPOST' serve --config '$WORK/second.conf' 2> '$WORK/second.log'"
expect_contains "the clash is named" "$(cat "$WORK/second.log")" "another process listens on"
check "the first daemon's event socket stays" test -S "$WORK/kea-events.sock"

stop_daemon
check "daemon stops cleanly" test $? -eq 0
check "the event socket is removed at exit" test ! -e "$WORK/kea-events.sock"
finish
