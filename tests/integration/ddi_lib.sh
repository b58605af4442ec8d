# Helpers for integration tests that run Kea DHCPv4 (kea-dhcp4 2.2.0 on Debian 12) in
# network namespaces. A bash test sources this file, after lib.sh or on its own, and
# may use `set -euo pipefail`. Needs root, iproute2, kea-dhcp4-server, socat and
# busybox (for udhcpc).
#
# ddi_netns_up creates a server and a client namespace joined by a veth pair. Kea and
# udhcpc run only inside them, so no host interface is touched.

. "$(dirname "${BASH_SOURCE[0]}")/trap_lib.sh"

DDI_SERVER_NS="outpost-ddi-s-$$"
DDI_CLIENT_NS="outpost-ddi-c-$$"
DDI_SERVER_IF="ddi-srv"
DDI_CLIENT_IF="ddi-cli"
DDI_SERVER_ADDR="10.77.0.1"
DDI_SERVER_PREFIX="24"

# Time limits in seconds: Kea start-up until its control socket responds, one control
# command, Kea's exit after SIGTERM, and one udhcpc run.
DDI_KEA_START_TIMEOUT="${DDI_KEA_START_TIMEOUT:-15}"
DDI_KEA_CMD_TIMEOUT="${DDI_KEA_CMD_TIMEOUT:-60}"
DDI_KEA_STOP_TIMEOUT="${DDI_KEA_STOP_TIMEOUT:-10}"
DDI_DHCP_CLIENT_TIMEOUT="${DDI_DHCP_CLIENT_TIMEOUT:-20}"

# Extra udhcpc arguments, split on spaces. For example "-a" makes udhcpc check the
# offered address with ARP and send DHCPDECLINE when another host replies.
# NOTE: "-R" sends no DHCPRELEASE here, because busybox 1.35 with -q exits before it
# enters the bound state.
DDI_UDHCPC_EXTRA="${DDI_UDHCPC_EXTRA:-}"

DDI_WORK=""
DDI_WORK_OWNED=""
DDI_NETNS_CREATED=""
DDI_KEA_PID=""
DDI_KEA_SOCKET=""
DDI_KEA_LOG=""
DDI_PREVIOUS_EXIT_TRAP=""

ddi_fail() {
	echo "ddi_lib: $*" >&2
	return 1
}

# Create the working directory: $WORK/ddi under lib.sh, else a new directory in /tmp
# that ddi_cleanup removes.
ddi_make_work_dir() {
	if [ -n "$DDI_WORK" ]; then
		return 0
	fi
	if [ -n "${WORK:-}" ] && [ -d "${WORK:-}" ]; then
		DDI_WORK="$WORK/ddi"
		mkdir -p "$DDI_WORK"
	else
		DDI_WORK=$(mktemp -d "/tmp/outpost-ddi-XXXXXX")
		DDI_WORK_OWNED=1
	fi
	mkdir -p "$DDI_WORK/run" "$DDI_WORK/lock"
	DDI_KEA_LOG="$DDI_WORK/kea-dhcp4.log"
}

# Kill Kea and every other process left in the two namespaces, delete the namespaces,
# then run the EXIT trap that was set before ddi_netns_up (lib.sh's cleanup removes
# $WORK).
ddi_cleanup() {
	local ns pid
	ddi_kea_kill
	if [ -n "$DDI_NETNS_CREATED" ]; then
		for ns in "$DDI_SERVER_NS" "$DDI_CLIENT_NS"; do
			for pid in $(ip netns pids "$ns" 2>/dev/null); do
				kill -KILL "$pid" 2>/dev/null || true
			done
			ip netns del "$ns" 2>/dev/null || true
		done
		DDI_NETNS_CREATED=""
	fi
	if [ -n "$DDI_WORK_OWNED" ]; then
		rm -rf "$DDI_WORK"
		DDI_WORK_OWNED=""
	fi
	if [ -n "$DDI_PREVIOUS_EXIT_TRAP" ]; then
		eval "$DDI_PREVIOUS_EXIT_TRAP"
	fi
}

# Install ddi_cleanup as the EXIT trap, keeping the test's own EXIT trap to run after it.
ddi_register_cleanup() {
	local previous
	previous=$(exit_trap_command)
	if [ -n "$previous" ] && [ "$previous" != "ddi_cleanup" ]; then
		DDI_PREVIOUS_EXIT_TRAP=$previous
	fi
	trap ddi_cleanup EXIT
	exit_on_signals
}

ddi_create_netns() {
	ip netns add "$DDI_SERVER_NS" || return 1
	DDI_NETNS_CREATED=1
	ip netns add "$DDI_CLIENT_NS" &&
		ip -n "$DDI_SERVER_NS" link add "$DDI_SERVER_IF" type veth \
			peer name "$DDI_CLIENT_IF" netns "$DDI_CLIENT_NS" &&
		ip -n "$DDI_SERVER_NS" link set lo up &&
		ip -n "$DDI_CLIENT_NS" link set lo up &&
		ip -n "$DDI_SERVER_NS" addr add "$DDI_SERVER_ADDR/$DDI_SERVER_PREFIX" \
			dev "$DDI_SERVER_IF" &&
		ip -n "$DDI_SERVER_NS" link set "$DDI_SERVER_IF" up &&
		ip -n "$DDI_CLIENT_NS" link set "$DDI_CLIENT_IF" up
}

# Create the server and client namespaces and the veth pair between them. The server
# end gets 10.77.0.1/24 and the client end is up with no address. Both ends are created
# inside the namespaces, so the pair never appears among the host's interfaces.
ddi_netns_up() {
	if [ -n "$DDI_NETNS_CREATED" ]; then
		ddi_fail "ddi_netns_up: namespaces $DDI_SERVER_NS and $DDI_CLIENT_NS already exist"
		return 1
	fi
	ddi_make_work_dir
	ddi_register_cleanup
	if ! ddi_create_netns; then
		ddi_fail "ddi_netns_up: failed to create namespaces $DDI_SERVER_NS and" \
			"$DDI_CLIENT_NS; run as root with iproute2 installed"
		return 1
	fi
	ddi_write_udhcpc_script
}

# Send one command to Kea's control socket and print the JSON response. Returns 1 when
# the socket refuses the connection or closes it without a response.
# Usage: ddi_kea_cmd SOCKET JSON
ddi_kea_cmd() {
	local socket=$1 command=$2 response
	# Kea responds once it has read a whole JSON object, then closes the connection.
	# After sending the command, socat waits up to -t seconds for that response.
	if ! response=$(printf '%s' "$command" |
		timeout "$DDI_KEA_CMD_TIMEOUT" socat -t "$DDI_KEA_CMD_TIMEOUT" - \
			"UNIX-CONNECT:$socket"); then
		ddi_fail "ddi_kea_cmd: failed to send a command to $socket: connection failed or" \
			"timed out after ${DDI_KEA_CMD_TIMEOUT}s; check that kea-dhcp4 runs"
		return 1
	fi
	if [ -z "$response" ]; then
		ddi_fail "ddi_kea_cmd: $socket closed the connection without a response"
		return 1
	fi
	printf '%s\n' "$response"
}

# Start kea-dhcp4 with CONFIG_FILE in the server namespace and wait until version-get
# on its control socket succeeds. The socket path is the first "socket-name" in
# CONFIG_FILE. Sets DDI_KEA_PID, DDI_KEA_SOCKET and DDI_KEA_LOG, and appends Kea's
# output to the log. Call it from the test's own shell, not a subshell, so that
# ddi_kea_stop can wait for Kea.
# Usage: ddi_kea_start CONFIG_FILE
ddi_kea_start() {
	local config=$1 deadline response log_start
	if [ -n "$DDI_KEA_PID" ]; then
		ddi_fail "ddi_kea_start: kea-dhcp4 already runs as PID $DDI_KEA_PID"
		return 1
	fi
	if [ -z "$DDI_NETNS_CREATED" ]; then
		ddi_fail "ddi_kea_start: no namespaces; call ddi_netns_up first"
		return 1
	fi
	DDI_KEA_SOCKET=$(sed -n 's/.*"socket-name"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' \
		"$config" | head -n 1)
	if [ -z "$DDI_KEA_SOCKET" ]; then
		ddi_fail "ddi_kea_start: no \"socket-name\" in $config; add a unix control-socket"
		return 1
	fi

	touch "$DDI_KEA_LOG"
	log_start=$(($(wc -l < "$DDI_KEA_LOG") + 1))
	# ip netns exec and env both exec the next program, so $! is kea-dhcp4's own PID.
	ip netns exec "$DDI_SERVER_NS" env KEA_LOCKFILE_DIR="$DDI_WORK/lock" \
		KEA_PIDFILE_DIR="$DDI_WORK/run" kea-dhcp4 -c "$config" >> "$DDI_KEA_LOG" 2>&1 &
	DDI_KEA_PID=$!

	deadline=$((SECONDS + DDI_KEA_START_TIMEOUT))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if ! kill -0 "$DDI_KEA_PID" 2>/dev/null; then
			wait "$DDI_KEA_PID" 2>/dev/null || true
			DDI_KEA_PID=""
			ddi_fail "ddi_kea_start: kea-dhcp4 exited during start-up. Its log:"
			tail -n "+$log_start" "$DDI_KEA_LOG" | tail -n 20 >&2
			return 1
		fi
		if [ -S "$DDI_KEA_SOCKET" ]; then
			response=$(DDI_KEA_CMD_TIMEOUT=2 ddi_kea_cmd "$DDI_KEA_SOCKET" \
				'{"command": "version-get"}' 2>/dev/null || true)
			case "$response" in
			*'"result": 0'*) return 0 ;;
			esac
		fi
		sleep 0.1
	done
	ddi_fail "ddi_kea_start: control socket $DDI_KEA_SOCKET timed out: no response within" \
		"${DDI_KEA_START_TIMEOUT}s. Its log:"
	tail -n "+$log_start" "$DDI_KEA_LOG" | tail -n 20 >&2
	ddi_kea_kill
	return 1
}

# Stop Kea with SIGTERM and wait up to DDI_KEA_STOP_TIMEOUT seconds, then SIGKILL.
# Returns Kea's exit status, or 1 when it had to be killed.
ddi_kea_stop() {
	local pid=$DDI_KEA_PID status=0 deadline
	if [ -z "$pid" ]; then
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + DDI_KEA_STOP_TIMEOUT))
	while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "ddi_lib: kea-dhcp4 (PID $pid) still runs ${DDI_KEA_STOP_TIMEOUT}s after" \
			"SIGTERM; killing it" >&2
		ddi_kea_kill
		return 1
	fi
	wait "$pid" 2>/dev/null || status=$?
	DDI_KEA_PID=""
	return "$status"
}

# Kill Kea with SIGKILL, as a crash would, and wait for it.
ddi_kea_kill() {
	local pid=$DDI_KEA_PID
	if [ -z "$pid" ]; then
		return 0
	fi
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	DDI_KEA_PID=""
}

# Write the udhcpc event script, which receives the server's values as environment
# variables. On "bound" and "renew" it writes the values the tests need to
# $DDI_UDHCPC_RESULT and sets the address on the client interface, so that a test can
# reach the server from the client namespace.
ddi_write_udhcpc_script() {
	cat > "$DDI_WORK/udhcpc.script" <<'SCRIPT'
#!/bin/sh
case "$1" in
deconfig)
	ip -4 addr flush dev "$interface"
	;;
bound | renew)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	{
		echo "ip=${ip:-}"
		echo "siaddr=${siaddr:-}"
		echo "boot_file=${boot_file:-}"
		echo "vendor_class=${vendor:-}"
		echo "serverid=${serverid:-}"
		echo "hostname=${hostname:-}"
		echo "ipxe_options=${opt175:-}"
	} > "$DDI_UDHCPC_RESULT"
	;;
esac
exit 0
SCRIPT
	chmod 755 "$DDI_WORK/udhcpc.script"
}

# Print a string as hex digits, the form udhcpc's -x OPTION:HEX takes.
ddi_hex() {
	printf '%s' "$1" | od -An -tx1 | tr -d ' \n'
}

# Send a router solicitation from the client namespace with rdisc6 and print what it
# reports, errors included. Waits up to 5 s for the client's link-local address to pass
# duplicate address detection, without which no solicitation leaves.
ddi_router_solicit() {
	for _ in $(seq 1 50); do
		[ -z "$(ip -n "$DDI_CLIENT_NS" -6 addr show dev "$DDI_CLIENT_IF" tentative)" ] && break
		sleep 0.1
	done
	ip netns exec "$DDI_CLIENT_NS" timeout 10 rdisc6 -1 -r 3 -w 1000 "$DDI_CLIENT_IF" 2>&1
}

# Run busybox udhcpc once in the client namespace with the client interface's MAC set
# to MAC. It sends option 93 (client system architecture) = ARCH unless ARCH is empty,
# option 60 (vendor class) = VENDOR unless empty, and option 77 (user class) = USERCLASS
# as raw bytes, the way iPXE sends "iPXE", unless empty. Its option 55 requests 60 and 175.
# Prints key=value lines from the DHCPACK: ip, siaddr, boot_file, vendor_class,
# serverid, hostname and ipxe_options (option 175 in hex); a value the server did not
# send is empty (siaddr 0.0.0.0 too).
# Returns 1 when no lease was obtained.
# Usage: ddi_dhcp_client MAC ARCH VENDOR USERCLASS
ddi_dhcp_client() {
	local mac=$1 arch=$2 vendor=$3 user_class=$4 status=0
	local -a args
	case "$arch" in
	*[!0-9]*)
		ddi_fail "ddi_dhcp_client: invalid ARCH '$arch'; use a decimal number such as 0, 7," \
			"9 or 16, or an empty string"
		return 1
		;;
	esac
	DDI_UDHCPC_RESULT="$DDI_WORK/udhcpc.result"
	rm -f "$DDI_UDHCPC_RESULT"

	if ! { ip -n "$DDI_CLIENT_NS" -4 addr flush dev "$DDI_CLIENT_IF" &&
		ip -n "$DDI_CLIENT_NS" link set dev "$DDI_CLIENT_IF" down &&
		ip -n "$DDI_CLIENT_NS" link set dev "$DDI_CLIENT_IF" address "$mac" &&
		ip -n "$DDI_CLIENT_NS" link set dev "$DDI_CLIENT_IF" up; }; then
		ddi_fail "ddi_dhcp_client: failed to set MAC '$mac' on $DDI_CLIENT_IF"
		return 1
	fi

	# -n and -q: exit once a lease is bound, or after three DHCPDISCOVERs 1 s apart.
	# An empty -V makes udhcpc send no option 60.
	args=(-f -n -q -t 3 -T 1 -A 1 -i "$DDI_CLIENT_IF" -s "$DDI_WORK/udhcpc.script"
		-O 60 -O 175 -V "$vendor")
	if [ -n "$arch" ]; then
		args+=(-x "0x5d:$(printf '%04x' "$arch")")
	fi
	if [ -n "$user_class" ]; then
		args+=(-x "0x4d:$(ddi_hex "$user_class")")
	fi
	# shellcheck disable=SC2206 # split on purpose: one word per udhcpc argument
	args+=($DDI_UDHCPC_EXTRA)

	DDI_UDHCPC_RESULT=$DDI_UDHCPC_RESULT ip netns exec "$DDI_CLIENT_NS" \
		timeout "$DDI_DHCP_CLIENT_TIMEOUT" busybox udhcpc "${args[@]}" \
		>> "$DDI_WORK/udhcpc.log" 2>&1 || status=$?
	if [ "$status" -ne 0 ] || [ ! -s "$DDI_UDHCPC_RESULT" ]; then
		ddi_fail "ddi_dhcp_client: no lease for $mac (udhcpc exit status $status);" \
			"see $DDI_WORK/udhcpc.log"
		return 1
	fi
	cat "$DDI_UDHCPC_RESULT"
}

# Write Kea's bootstrap configuration to $DDI_KEA_CONFIG: the interface and the control
# socket, no subnets, as the appliance starts Kea before Outpost pushes the rest.
ddi_kea_bootstrap() {
	cat > "$DDI_KEA_CONFIG" <<KEA
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "$DDI_SERVER_IF" ] },
  "control-socket": { "socket-type": "unix", "socket-name": "$WORK/kea.sock" },
  "lease-database": { "type": "memfile", "persist": true, "name": "$WORK/kea-leases.csv" },
  "subnet4": []
} }
KEA
}

# The whole DDI stack for a test that sources lib.sh and dns_lib.sh as well: the two
# namespaces, PowerDNS (DNS on 10.77.0.1:53, API on the server namespace's loopback),
# tftpd on 10.77.0.1:69, Kea started from a bootstrap configuration that only opens its
# control socket, and the daemon's configuration, written but not started. Extra
# configuration lines in "$@" are appended, and DDI_POOL replaces the discovery pool of
# the one subnet, 10.77.0.0/24, and DDI_KEA_OPTIONS adds lines to [kea]. Sets
# DDI_PDNS_KEY and DDI_KEA_CONFIG.
# Usage: ddi_stack_up [CONFIG_LINE...]
ddi_stack_up() {
	DDI_PDNS_KEY="test-key-$$"
	DDI_KEA_CONFIG="$WORK/kea-dhcp4.conf"
	ddi_netns_up || return 1
	mkdir -p "$WORK/pdns" "$WORK/tftp"
	chmod 755 "$WORK/tftp"
	pdns_start "$WORK/pdns" 8081 53 "$DDI_PDNS_KEY" "$DDI_SERVER_ADDR" \
		ip netns exec "$DDI_SERVER_NS" || return 1

	ddi_kea_bootstrap
	ddi_kea_start "$DDI_KEA_CONFIG" || return 1

	write_config \
		"[ddi]" \
		"enabled = true" \
		"interface = $DDI_SERVER_IF" \
		"server_address = $DDI_SERVER_ADDR" \
		"domain = lab.example" \
		"resync_seconds = 5" \
		"[kea]" \
		"control_socket = $WORK/kea.sock" \
		"lease_file = $WORK/kea-leases.csv" \
		"event_socket = $WORK/kea-events.sock" \
		"[pdns]" \
		"api_url = http://127.0.0.1:8081" \
		"api_key = $DDI_PDNS_KEY" \
		"[tftp]" \
		"root = $WORK/tftp" \
		"[subnet prov]" \
		"network = 10.77.0.0/24" \
		"pool = ${DDI_POOL:-10.77.0.100-10.77.0.199}" \
		"gateway = 10.77.0.254" \
		"$@"
	# DDI_KEA_OPTIONS: extra "key = value" lines for [kea], separated by semicolons.
	if [ -n "${DDI_KEA_OPTIONS:-}" ]; then
		sed -i "/^\[kea\]\$/a ${DDI_KEA_OPTIONS//;/\\n}" "$WORK/outpost.conf"
	fi
	# Clients reach the boot listener on the server end of the veth pair.
	sed -i -e "s|^url = .*|url = http://$DDI_SERVER_ADDR:8080|" \
		-e "0,/^listen = .*/s||listen = $DDI_SERVER_ADDR:8080|" "$WORK/outpost.conf"
}

# Start the daemon inside the server namespace, where it reaches PowerDNS's API on
# loopback. Its unix socket is a file, so api_unix works from the test's namespace.
ddi_daemon_start() {
	local real=$OUTPOST
	cat > "$WORK/outpost-in-netns" <<WRAP
#!/bin/sh
exec ip netns exec $DDI_SERVER_NS $real "\$@"
WRAP
	chmod 755 "$WORK/outpost-in-netns"
	OUTPOST="$WORK/outpost-in-netns" start_daemon
	OUTPOST=$real
}

# Wait up to SECONDS until the machine with MAC has lease_ip EXPECTED, then print the
# lease_ip it has ("null" when it is unknown), so the caller compares the last value.
# Usage: ddi_lease_ip MAC EXPECTED SECONDS
ddi_lease_ip() {
	local mac=$1 expected=$2 deadline=$((SECONDS + $3)) found=""
	while [ "$SECONDS" -lt "$deadline" ]; do
		found=$(api_unix GET "/api/v1/machines?mac=$mac" | jq -r '.items[0].lease_ip')
		[ "$found" = "$expected" ] && break
		sleep 0.2
	done
	printf '%s' "$found"
}

# Wait until a jq filter over GET /api/v1/ddi/status is true, for at most SECONDS.
# Usage: ddi_wait_status FILTER SECONDS
ddi_wait_status() {
	local filter=$1 deadline=$((SECONDS + $2))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if api_unix GET /api/v1/ddi/status 2>/dev/null | jq -e "$filter" > /dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	echo "ddi_lib: status never matched $filter; last status:" >&2
	api_unix GET /api/v1/ddi/status >&2 || true
	return 1
}
