# shellcheck shell=bash disable=SC2034
# (SC2034: the settings below are used by the bench_*.sh scripts that source this.)
# Shared helpers for the benchmarks, sourced by each bench_*.sh.
#
# Every benchmark runs Outpost and its reference on the same bytes, BENCH_RUNS times
# (default 5), with the server pinned to SERVER_CPU and the load generator to
# CLIENT_CPU. It records the median, min and max of each measure in $RESULTS as one
# tab-separated row, and run.sh turns the rows into a table. Traffic stays on 127.0.0.1 and the
# unix socket in the benchmark's temporary directory.

set -u
: "${OUTPOST:?set OUTPOST to the outpost binary}"

BENCH_NAME=$(basename "$0" .sh)
TREE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Cached artifacts and helper binaries live beside the binary under test (build/bench
# for `make bench`).
BENCH_DIR=${BENCH_DIR:-$(dirname "$OUTPOST")/bench}
RESULTS=${RESULTS:-$BENCH_DIR/results.tsv}
RUNS=${BENCH_RUNS:-5}
SERVER_CPU=0
CLIENT_CPU=1
ARTIFACTS=$BENCH_DIR/artifacts
BIN=$BENCH_DIR/bin

WORK=$(mktemp -d "/tmp/outpost-$BENCH_NAME-XXXXXX")
# nginx's workers run as the user nobody and must be able to enter the directory.
chmod 755 "$WORK"
OUTPOST_PID=""
NGINX_PID=""

cleanup() {
	stop_outpost
	stop_nginx
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wrk, curl and the helpers keep one descriptor per connection.
ulimit -n "$(ulimit -Hn)"

say() {
	echo "[$BENCH_NAME] $*"
}

die() {
	echo "[$BENCH_NAME] error: $*" >&2
	exit 1
}

# Pick a TCP port on 127.0.0.1 that nothing listens on (nginx cannot report a port
# the kernel chose, unlike Outpost's ready line).
free_port() {
	local port
	for _ in $(seq 1 100); do
		port=$((20000 + RANDOM % 40000))
		if [ -z "$(ss -Htln "sport = :$port")" ]; then
			echo "$port"
			return 0
		fi
	done
	die "no free port found"
}

# Start Outpost on SERVER_CPU with a fresh state directory, serving ARTIFACTS, and
# wait for its ready line; sets OUTPOST_PID, BOOT_PORT and SOCKET. Extra
# configuration lines in "$@" go into the [http] section.
start_outpost() {
	local dir=$WORK/outpost
	rm -rf "$dir"
	mkdir -p "$dir/state" "$ARTIFACTS"
	{
		printf '[log]\nlevel = info\n'
		printf '[store]\nstate_dir = %s\nartifact_dir = %s\n' "$dir/state" \
			"${OUTPOST_ARTIFACTS:-$ARTIFACTS}"
		printf '[boot]\nlisten = 127.0.0.1:0\nurl = http://127.0.0.1:8080\n'
		printf 'templates = %s\n' "$TREE/bootenv/ipxe"
		printf '[api]\nlisten = 127.0.0.1:0\nsocket = %s\n' "$dir/outpost.sock"
		printf '[http]\n'
		printf '%s\n' "$@"
	} > "$dir/outpost.conf"

	: > "$dir/daemon.log"
	taskset -c "$SERVER_CPU" "$OUTPOST" serve --config "$dir/outpost.conf" \
		2>> "$dir/daemon.log" &
	OUTPOST_PID=$!
	for _ in $(seq 1 200); do
		grep -q "outpost ready" "$dir/daemon.log" && break
		if ! kill -0 "$OUTPOST_PID" 2>/dev/null; then
			OUTPOST_PID=""
			cat "$dir/daemon.log" >&2
			die "outpost exited during start-up"
		fi
		sleep 0.05
	done
	BOOT_PORT=$(sed -n 's/.*outpost ready.*boot_port=\([0-9]*\).*/\1/p' "$dir/daemon.log")
	SOCKET=$dir/outpost.sock
	[ -n "$BOOT_PORT" ] || die "no ready line from outpost; log: $(cat "$dir/daemon.log")"
	say "outpost pid=$OUTPOST_PID boot_port=$BOOT_PORT http settings: ${*:-defaults}"
}

# Stop the child whose pid the variable named $1 holds, and clear it.
stop_child() {
	local -n pid_var=$1
	if [ -n "$pid_var" ]; then
		kill -TERM "$pid_var" 2>/dev/null
		wait "$pid_var" 2>/dev/null
		pid_var=""
	fi
}

stop_outpost() {
	stop_child OUTPOST_PID
}

# Start nginx on SERVER_CPU from a configuration in WORK: one worker, no daemon, every
# path it writes inside WORK. "$1" is the body of the server block, the optional "$2"
# more lines for the http block. It listens on a free port of 127.0.0.1, or on
# NGINX_LISTEN (ADDRESS:PORT) inside the namespace NGINX_NETNS when those are set. Sets
# NGINX_PID and NGINX_PORT. The access log is off because Outpost, at its default log
# level (info), writes no line per request either.
start_nginx() {
	local dir=$WORK/nginx listen=${NGINX_LISTEN:-}
	local -a netns=()
	rm -rf "$dir"
	mkdir -p "$dir"
	chmod 755 "$dir"
	[ -n "$listen" ] || listen=127.0.0.1:$(free_port)
	[ -z "${NGINX_NETNS:-}" ] || netns=(ip netns exec "$NGINX_NETNS")
	NGINX_PORT=${listen##*:}
	cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 20000;
events {
	worker_connections 8192;
}
http {
	access_log off;
	client_body_temp_path $dir/client_body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
	sendfile on;
	tcp_nopush on;
	# Outpost keeps a connection for any number of requests; so does the reference.
	keepalive_requests 1000000;
	keepalive_timeout 60s;
	default_type application/octet-stream;
	${2:-}
	server {
		listen $listen;
$1
	}
}
CONF
	"${netns[@]}" taskset -c "$SERVER_CPU" nginx -p "$dir" -e "$dir/error.log" \
		-c "$dir/nginx.conf" &
	NGINX_PID=$!
	for _ in $(seq 1 100); do
		if "${netns[@]}" curl -s --noproxy '*' -o /dev/null "http://$listen/"; then
			say "nginx pid=$NGINX_PID port=$NGINX_PORT"
			return 0
		fi
		kill -0 "$NGINX_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$dir/error.log" >&2
	die "nginx did not start"
}

stop_nginx() {
	stop_child NGINX_PID
}

# Write COUNT machines as "MAC UUID" lines to FILE, the same ones on every run.
write_machines() {
	local count=$1 file=$2
	awk -v n="$count" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "52:54:00:%02x:%02x:%02x 00000000-0000-4000-8000-%012x\n",
				int(i / 65536) % 256, int(i / 256) % 256, i % 256, i
	}' > "$file"
}

# Create the machines in FILE through the API on the unix socket: one curl process
# with a config file of POSTs over one keep-alive connection. Dies unless every
# request got 201.
register_machines() {
	local file=$1 config=$WORK/register.curl
	local created count
	count=$(wc -l < "$file")
	# Each "next" starts a transfer with fresh options, so every block names the socket.
	awk -v socket="$SOCKET" '{
		if (NR > 1)
			printf "next\n"
		printf "unix-socket = \"%s\"\nnoproxy = \"*\"\nmax-time = 30\n", socket
		printf "url = \"http://localhost/api/v1/machines\"\n"
		printf "header = \"Content-Type: application/json\"\n"
		printf "data = \"{\\\"macs\\\": [\\\"%s\\\"], \\\"uuid\\\": \\\"%s\\\"}\"\n", $1, $2
		printf "output = \"/dev/null\"\n"
		printf "write-out = \"%%{http_code}\\\\n\"\n"
	}' "$file" > "$config"
	created=$(curl -sS -K "$config" | grep -c '^201$')
	[ "$created" -eq "$count" ] || die "registered $created of $count machines"
}

# Fetch the script of the first machine in FILE from Outpost, for nginx to return the
# same bytes; sets SCRIPT_BODY (a file) and CONTENT_TYPE.
capture_script() {
	local mac uuid
	read -r mac uuid < "$1"
	SCRIPT_BODY=$WORK/script.body
	curl -sS --noproxy '*' -D "$WORK/script.headers" -o "$SCRIPT_BODY" \
		"http://127.0.0.1:$BOOT_PORT/boot/ipxe?mac=$mac&uuid=$uuid&buildarch=x86_64&platform=efi" ||
		die "cannot fetch a script from outpost"
	grep -q '^HTTP/1.1 200' "$WORK/script.headers" || die "outpost did not return 200 for $mac"
	CONTENT_TYPE=$(sed -n 's/^[Cc]ontent-[Tt]ype: *\([^\r]*\).*/\1/p' "$WORK/script.headers")
	say "captured a $(wc -c < "$SCRIPT_BODY")-byte script, Content-Type $CONTENT_TYPE"
}

# Print an nginx location that returns SCRIPT_BODY from the configuration. A "$" would
# start an nginx variable inside the string, so it comes from the variable $dollar
# (NGINX_DOLLAR, for the http block), which holds a literal "$".
# shellcheck disable=SC2016 # $dollar is nginx's variable, not the shell's
NGINX_DOLLAR='geo $dollar { default "$"; }'
script_location() {
	local body
	body=$(perl -0777 -pe 's/\\/\\\\/g; s/"/\\"/g; s/\$/\${dollar}/g; s/\n/\\n/g' \
		"$SCRIPT_BODY")
	printf '\t\tlocation = /boot/ipxe {\n\t\t\tdefault_type "%s";\n' "$CONTENT_TYPE"
	printf '\t\t\treturn 200 "%s";\n\t\t}\n' "$body"
}

# Check that nginx returns exactly SCRIPT_BODY.
check_nginx_script() {
	curl -sS --noproxy '*' -o "$WORK/nginx.body" "http://127.0.0.1:$NGINX_PORT/boot/ipxe" ||
		die "cannot fetch the script from nginx"
	cmp -s "$SCRIPT_BODY" "$WORK/nginx.body" ||
		die "nginx does not return the same bytes as outpost"
}

# Print "median min max" of the numbers given as arguments.
stats() {
	printf '%s\n' "$@" | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s %s %s\n", m, v[1], v[NR]
		}'
}

# Format a number with about three significant digits, without exponents; "-" stays.
fmt() {
	if [ "$1" = - ]; then
		echo -
		return
	fi
	awk -v x="$1" 'BEGIN {
		a = x < 0 ? -x : x
		if (x == int(x)) printf "%d", x; else if (a >= 100) printf "%.0f", x; else if (a >= 10) printf "%.1f", x
		else if (a >= 1) printf "%.2f", x; else printf "%.3f", x
	}'
}

# Record one measure and print its target line.
# Usage: record MEASURE UNIT "OUTPOST_VALUES" REF_NAME "REF_VALUES" KIND TARGET
#   KIND ratio_min: median(outpost) / median(ref) >= TARGET (higher is better)
#   KIND ratio_max: median(outpost) / median(ref) <= TARGET (lower is better)
#   KIND value_max: median(outpost) <= TARGET, in UNIT
#   KIND value_min: median(outpost) >= TARGET, in UNIT (higher is better)
#   KIND value_eq:  max(outpost) == TARGET, in UNIT (counts such as errors)
#   KIND none:      shown for context, no target
# REF_NAME and REF_VALUES may be "-" when there is no reference.
record() {
	local measure=$1 unit=$2 values=$3 ref=$4 ref_values=$5 kind=$6 target=$7
	local out_med out_min out_max ref_med="-" ref_min="-" ref_max="-" ratio="-"
	local target_text met

	# shellcheck disable=SC2086
	read -r out_med out_min out_max <<<"$(stats $values)"
	if [ "$ref_values" != "-" ]; then
		# shellcheck disable=SC2086
		read -r ref_med ref_min ref_max <<<"$(stats $ref_values)"
		ratio=$(awk -v a="$out_med" -v b="$ref_med" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')
	fi

	case "$kind" in
	ratio_min)
		target_text="ratio >= $target"
		met=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print ((r >= t) ? "yes" : "no") }') ;;
	ratio_max)
		target_text="ratio <= $target"
		met=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print ((r <= t) ? "yes" : "no") }') ;;
	value_max)
		target_text="<= $target $unit"
		met=$(awk -v v="$out_med" -v t="$target" 'BEGIN { print ((v <= t) ? "yes" : "no") }') ;;
	value_min)
		target_text=">= $target $unit"
		met=$(awk -v v="$out_med" -v t="$target" 'BEGIN { print ((v >= t) ? "yes" : "no") }') ;;
	value_eq)
		target_text="= $target"
		met=$(awk -v v="$out_max" -v t="$target" 'BEGIN { print ((v == t) ? "yes" : "no") }') ;;
	*)
		target_text="-"
		met="-" ;;
	esac

	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$BENCH_NAME" "$measure" "$unit" \
		"$(fmt "$out_med")" "$(fmt "$out_min")" "$(fmt "$out_max")" "$ref" \
		"$(fmt "$ref_med")" "$(fmt "$ref_min")" "$(fmt "$ref_max")" \
		"$ratio" "$target_text" "$met" >> "$RESULTS"
	local line
	line="$measure: outpost $(fmt "$out_med") $unit ($(fmt "$out_min")-$(fmt "$out_max"))"
	[ "$ref" = - ] || line="$line, $ref $(fmt "$ref_med") $unit, ratio $ratio"
	case "$met" in
	yes) line="$line; target $target_text: met" ;;
	no) line="$line; target $target_text: NOT MET" ;;
	esac
	say "$line"
}

# A process's memory figure from /proc/PID/status in MiB (VmRSS now, VmHWM peak).
mem_mib() {
	awk -v key="$2:" '$1 == key { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status"
}

# CPU seconds (user + system) a process and its threads have used so far.
cpu_seconds() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$1/stat"
}

# ---------------------------------------------------------------------------------------
# DDI benchmarks (bench_ddi_*.sh). They source tests/integration/ddi_lib.sh and
# dns_lib.sh after this file, and run Kea, PowerDNS and Outpost in the server network
# namespace that ddi_netns_up creates (10.77.0.1/24 on ddi-srv), with the load
# generators in the client namespace (10.77.0.2/24 on ddi-cli). Nothing is bound to the
# host's interfaces. The servers run on SERVER_CPU, the load generators on CLIENT_CPU.

DDI_CLIENT_ADDR=10.77.0.2
# A /16, so 10,000 reserved addresses (10.77.1.1 to 10.77.40.16) fit below the pool,
# and the pool holds 49,151 leases for perfdhcp.
DDI_BENCH_NETWORK=10.77.0.0/16
DDI_BENCH_POOL=10.77.64.0-10.77.255.254
DDI_DOMAIN=lab.example
DDI_REVERSE_ZONE=77.10.in-addr.arpa
DDI_PDNS_API_PORT=8081
DDI_PDNS_KEY=bench-key-$$
# The CPUs this shell may use at start, restored by on_cpu.
ALL_CPUS=$(taskset -c -p $$ | sed 's/.*: //')

# Run a command, usually a shell function that starts a server and keeps its $!, with
# this shell pinned to CPU, so that every process it starts inherits the pin.
# Usage: on_cpu CPU COMMAND [ARGS...]
on_cpu() {
	local cpu=$1 status=0
	shift
	taskset -c -p "$cpu" $$ > /dev/null
	"$@" || status=$?
	taskset -c -p "$ALL_CPUS" $$ > /dev/null
	return "$status"
}

# Check that the DDI servers and tools are installed, because the `bench` group of
# tools/deps.sh leaves the servers out, and that the shell runs as root.
ddi_check_tools() {
	local tool
	for tool in "$@"; do
		command -v "$tool" > /dev/null ||
			die "$tool not found; install the ddi and bench groups: tools/deps.sh ddi bench"
	done
	[ "$(id -u)" -eq 0 ] || die "must run as root, because it creates network namespaces"
}

# Create the two namespaces, give the client end DDI_CLIENT_ADDR, and start PowerDNS
# on SERVER_CPU: DNS on 10.77.0.1:53, the API on the server namespace's loopback.
ddi_bench_up() {
	ddi_netns_up || die "failed to create the network namespaces"
	ip -n "$DDI_CLIENT_NS" addr add "$DDI_CLIENT_ADDR/24" dev "$DDI_CLIENT_IF" ||
		die "failed to add $DDI_CLIENT_ADDR to $DDI_CLIENT_IF"
	mkdir -p "$WORK/pdns"
	on_cpu "$SERVER_CPU" pdns_start "$WORK/pdns" "$DDI_PDNS_API_PORT" 53 "$DDI_PDNS_KEY" \
		"$DDI_SERVER_ADDR" ip netns exec "$DDI_SERVER_NS" ||
		die "failed to start PowerDNS; see $WORK/pdns/pdns.log"
	say "pdns_server pid=$PDNS_PID, DNS on $DDI_SERVER_ADDR:53 in $DDI_SERVER_NS"
}

# Kea's files. ddi_kea_bootstrap (ddi_lib.sh) writes the bootstrap configuration, which
# only opens the control socket that Outpost then sends its configuration to.
KEA_SOCKET=$WORK/kea.sock
KEA_LEASES=$WORK/kea-leases.csv
DDI_KEA_CONFIG=$WORK/kea-dhcp4.conf

# Start Kea on SERVER_CPU from CONFIG (default: the bootstrap configuration, rewritten
# first, because Outpost's config-write replaces the file) with an empty lease file.
# Usage: ddi_kea_fresh [CONFIG]
ddi_kea_fresh() {
	ddi_kea_stop || true
	if [ "$#" -eq 0 ]; then
		ddi_kea_bootstrap
		set -- "$DDI_KEA_CONFIG"
	fi
	rm -f "$KEA_LEASES" "$KEA_LEASES".*
	on_cpu "$SERVER_CPU" ddi_kea_start "$1" || die "failed to start Kea from $1"
}

# Write the daemon's configuration with [ddi] enabled, or disabled when DDI_ENABLED is
# "false". The resync runs once at start and then not again within a benchmark.
ddi_outpost_config() {
	local dir=$WORK/outpost
	mkdir -p "$dir/state" "$dir/artifacts" "$WORK/tftp"
	cat > "$dir/outpost.conf" <<CONF
[log]
level = info
[store]
state_dir = $dir/state
artifact_dir = $dir/artifacts
[boot]
listen = 127.0.0.1:0
url = http://$DDI_SERVER_ADDR:8080
templates = $TREE/bootenv/ipxe
[api]
listen = 127.0.0.1:0
socket = $dir/outpost.sock
[ddi]
enabled = ${DDI_ENABLED:-true}
interface = $DDI_SERVER_IF
server_address = $DDI_SERVER_ADDR
domain = $DDI_DOMAIN
resync_seconds = 86400
[kea]
control_socket = $KEA_SOCKET
lease_file = $KEA_LEASES
event_socket = $WORK/kea-events.sock
[pdns]
api_url = http://127.0.0.1:$DDI_PDNS_API_PORT
api_key = $DDI_PDNS_KEY
[tftp]
root = $WORK/tftp
[subnet bench]
network = $DDI_BENCH_NETWORK
pool = $DDI_BENCH_POOL
CONF
}

# Start Outpost on SERVER_CPU inside the server namespace, where it reaches PowerDNS's
# API on loopback, and wait for its ready line. The state directory of earlier starts
# is kept. Sets OUTPOST_PID, SOCKET and OUTPOST_LOG, which every start appends to.
start_ddi_outpost() {
	local dir=$WORK/outpost before
	OUTPOST_LOG=$dir/daemon.log
	SOCKET=$dir/outpost.sock
	touch "$OUTPOST_LOG"
	before=$(grep -c "outpost ready" "$OUTPOST_LOG")
	# taskset and ip netns exec both exec the next program, so $! is outpost's PID.
	taskset -c "$SERVER_CPU" ip netns exec "$DDI_SERVER_NS" "$OUTPOST" serve \
		--config "$dir/outpost.conf" 2>> "$OUTPOST_LOG" &
	OUTPOST_PID=$!
	for _ in $(seq 1 200); do
		[ "$(grep -c "outpost ready" "$OUTPOST_LOG")" -gt "$before" ] && return 0
		if ! kill -0 "$OUTPOST_PID" 2>/dev/null; then
			OUTPOST_PID=""
			tail -n 20 "$OUTPOST_LOG" >&2
			die "outpost exited during start-up"
		fi
		sleep 0.05
	done
	die "timed out: no ready line from outpost within 10 s; log: $(tail -n 20 "$OUTPOST_LOG")"
}

# Create the store's schema by starting and stopping the daemon with [ddi] off.
ddi_store_create() {
	DDI_ENABLED=false ddi_outpost_config
	start_ddi_outpost
	stop_outpost
	OUTPOST_DB=$WORK/outpost/state/outpost.db
	[ -f "$OUTPOST_DB" ] || die "the daemon did not create $OUTPOST_DB"
}

# Insert COUNT machines straight into the store with sqlite3, in one transaction, with
# the schema the daemon created. Machine i (1 to COUNT, at most 16,127) gets MAC
# 52:54:00 plus i in hex, host name node-NNNNN and the reserved address 10.77.0.0 + 256
# + i, below the pool. The rows bypass the API, so they get no audit entries, and a
# running daemon notices them only at its next pass.
# Usage: ddi_store_insert COUNT
ddi_store_insert() {
	local count=$1
	sqlite3 "$OUTPOST_DB" > /dev/null <<SQL || die "inserting $count machines into $OUTPOST_DB failed"
.timeout 10000
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $count)
INSERT INTO machines (uuid, serial, vendor, model, arch, platform, state, ip, hostname,
	created_at, updated_at)
SELECT printf('00000000-0000-4000-8000-%012x', i), '', '', '', '', '', 'ready',
	printf('10.77.%d.%d', (256 + i) / 256, (256 + i) % 256), printf('node-%05d', i),
	unixepoch(), unixepoch()
FROM n;
INSERT INTO machine_macs (mac, machine_id, position)
SELECT printf('52:54:00:%02x:%02x:%02x', (i >> 16) & 255, (i >> 8) & 255, i & 255), id, 0
FROM (SELECT id, CAST(substr(hostname, 6, 5) AS INTEGER) AS i FROM machines m
	WHERE hostname GLOB 'node-[0-9][0-9][0-9][0-9][0-9]*'
	AND NOT EXISTS (SELECT 1 FROM machine_macs WHERE machine_id = m.id));
COMMIT;
SQL
}

# Wait until the daemon reports Kea and PowerDNS in sync. After a start the status is
# out of sync until both passes are done. Later it keeps the last pass's outcome, so
# wait for a log line of the new pass instead.
ddi_wait_in_sync() {
	local deadline=$((SECONDS + 60))
	while [ "$SECONDS" -lt "$deadline" ]; do
		curl -sS --unix-socket "$SOCKET" http://localhost/api/v1/ddi/status 2>/dev/null |
			jq -e '.dhcp.in_sync and .dns.in_sync' > /dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "timed out: the daemon did not report Kea and PowerDNS in sync within 60 s;" \
		"see $OUTPOST_LOG"
}

# Print the first line of OUTPOST_LOG after line AFTER that contains PATTERN, waiting up
# to SECONDS for it. Returns 1 on timeout.
# Usage: wait_log_line PATTERN AFTER SECONDS
wait_log_line() {
	local pattern=$1 after=$2 deadline=$((SECONDS + $3)) line
	while [ "$SECONDS" -lt "$deadline" ]; do
		line=$(tail -n "+$((after + 1))" "$OUTPOST_LOG" | grep -m 1 -- "$pattern")
		if [ -n "$line" ]; then
			printf '%s\n' "$line"
			return 0
		fi
		sleep 0.02
	done
	return 1
}

# Print the value of KEY=VALUE in a log line. Usage: log_value LINE KEY
log_value() {
	printf '%s\n' "$1" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"
}

# Print the milliseconds since the epoch, for timing a reference command.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}
