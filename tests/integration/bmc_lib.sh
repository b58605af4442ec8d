# BMC test servers for the integration tests, sourced after lib.sh: OpenIPMI's
# simulator, ipmi_sim, with a chassis whose power and boot flags live in files, and
# nginx serving the DMTF public-rackmount1 Redfish mockup read-only over HTTPS. Each
# runs on loopback ports picked at random, with its own PID variable, so a test can run
# both next to `outpost serve`. Both are stopped when the test exits.

IPMI_DIR="$WORK/ipmi"
IPMI_PASSWORD=${IPMI_PASSWORD:-"pw-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"}
IPMI_PORT=""
IPMI_SIM_PID=""

MOCKUP=$TREE/tests/bmc/mockup/public-rackmount1
MOCKUP_SYSTEM=$MOCKUP/Systems/437XR1138R2
MOCKUP_DIR="$WORK/mockup"
MOCKUP_PORT=""
MOCKUP_FINGERPRINT=""
NGINX_PID=""

bmc_lib_cleanup() {
	ipmi_sim_stop
	mockup_stop
	cleanup
}
trap bmc_lib_cleanup EXIT

# Exit the test unless every named program is installed.
require_programs() {
	local program
	for program in "$@"; do
		if ! command -v "$program" > /dev/null; then
			echo "FAIL: $TEST_NAME: $program is missing; run tools/deps.sh test" >&2
			exit 1
		fi
	done
}

# Print a random port from 20000 to 59999 on which nothing listens over UDP or TCP.
free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 40000))
		if ! ss -Hlntu "sport = :$port" | grep -q .; then
			echo "$port"
			return
		fi
	done
}

# ---- ipmi_sim ----

# Write the simulator's chassis control program: ipmi_sim runs it as
# "chassis DEVICE get PARAMETER..." and "chassis DEVICE set PARAMETER VALUE...".
# It keeps the power state (1 on, 0 off) in $IPMI_DIR/power and the boot device in
# $IPMI_DIR/boot, and logs every set to $IPMI_DIR/chassis.log.
ipmi_chassis_write() {
	cat > "$IPMI_DIR/chassis" <<EOF
#!/bin/sh
shift
op=\$1
shift
case \$op in
get)
	for parameter in "\$@"; do
		case \$parameter in
		power) echo "power:\$(cat "$IPMI_DIR/power")" ;;
		boot) echo "boot:\$(cat "$IPMI_DIR/boot")" ;;
		*) echo "invalid parameter \$parameter"; exit 1 ;;
		esac
	done ;;
set)
	while [ \$# -ge 2 ]; do
		echo "\$1 \$2" >> "$IPMI_DIR/chassis.log"
		case \$1 in
		power) echo "\$2" > "$IPMI_DIR/power" ;;
		boot) echo "\$2" > "$IPMI_DIR/boot" ;;
		esac
		shift 2
	done ;;
*) exit 1 ;;
esac
EOF
	chmod +x "$IPMI_DIR/chassis"
	echo 1 > "$IPMI_DIR/power"
	echo none > "$IPMI_DIR/boot"
	: > "$IPMI_DIR/chassis.log"
}

# Print the decimal bytes of a FRU type/length field of 8-bit ASCII text.
fru_field() {
	printf '%d ' $((0xc0 | ${#1}))
	printf '%s' "$1" | od -An -tu1 -v | tr -s ' \n' ' '
}

# Print a FRU info area from its fields' bytes: version 1, the length in 8-byte units,
# the fields, the end marker 0xC1, zero padding and the checksum that makes the sum 0.
fru_area() {
	local -a bytes=(1 0 $* 193)
	local sum=0 byte
	while [ $(((${#bytes[@]} + 1) % 8)) -ne 0 ]; do
		bytes+=(0)
	done
	bytes[1]=$(((${#bytes[@]} + 1) / 8))
	for byte in "${bytes[@]}"; do
		sum=$((sum + byte))
	done
	bytes+=($(((256 - sum % 256) % 256)))
	echo "${bytes[*]}"
}

# Print an IPMI 2.0 full sensor record for a threshold sensor owned by the
# BMC at 0x20, reading = M * raw * 10^R. Usage: full_sdr NUMBER TYPE UNIT M R NAME
full_sdr() {
	local number=$1 type=$2 unit=$3 m=$4 r=$5 name=$6
	local -a bytes=(0 0 0x51 0x01 $((43 + ${#name})) 0x20 0 "$number" 0x07 1 0x7f 0x40
		"$type" 0x01 0 0 0 0 0 0 0 "$unit" 0 0 "$m" 0 0 0 0 $(((r & 15) << 4))
		0 0 0 0 255 0 0 0 0 0 0 0 0 0 0 0 0 $((0xc0 | ${#name})))
	printf 'main_sdr_add 0x20'
	printf ' 0x%02x' "${bytes[@]}" $(printf '%s' "$name" | od -An -tu1 -v)
	echo
}

# A sensor the simulator reads, with scanning on so its reading counts as valid.
# Usage: sensor NUMBER TYPE RAW
sensor() {
	echo "sensor_add 0x20 0 $1 $2 0x01"
	echo "sensor_set_value 0x20 0 $1 $3 0"
	echo "sensor_set_event_support 0x20 0 $1 enable scanning per-state" \
		"000000000000000 000000000000000 000000000000000 000000000000000"
}

# Write the simulator's emulation commands to $IPMI_DIR/sim.emu: the BMC at 0x20,
# a SEL, five sensors with their records, one record without a sensor, and FRU 0.
#
# FRU 0 has a board area and a product area: manufacturer "Outpost Labs", product
# "Sim Server", serial "SN-1234". With M and R from the records, the readings are
# CPU Temp 45 Cel, Fan 1 3000 RPM, 12V Rail 12 V, PSU Current 8.5 A, PSU Power 300 W,
# and Inlet Temp has none.
ipmi_emulation_write() {
	local board product board_units header header_sum=0 byte fru
	board=$(fru_area 0 0 0 0 $(fru_field "Board Maker") $(fru_field "Board X") \
		$(fru_field "BRD-1") $(fru_field "P-1") $(fru_field ""))
	product=$(fru_area 0 $(fru_field "Outpost Labs") $(fru_field "Sim Server") \
		$(fru_field "OS-1") $(fru_field "1.0") $(fru_field "SN-1234") $(fru_field "") \
		$(fru_field ""))
	board_units=$(($(wc -w <<< "$board") / 8))
	header="1 0 0 1 $((1 + board_units)) 0 0"
	for byte in $header; do
		header_sum=$((header_sum + byte))
	done
	fru="$header $(((256 - header_sum % 256) % 256)) $board $product"

	# Types: 0x01 temperature, 0x02 voltage, 0x03 current, 0x04 fan, 0x08 power supply.
	# Units: 1 degrees C, 4 volts, 5 amperes, 6 watts, 18 RPM.
	{
		echo "mc_setbmc 0x20"
		echo "mc_add 0x20 0 no-device-sdrs 0x23 2 0x15 0x9f 0x1291 0xf02"
		echo "sel_enable 0x20 64 0x0a"
		sensor 1 0x01 45
		sensor 2 0x04 100
		sensor 3 0x02 240
		sensor 4 0x03 85
		sensor 5 0x08 150
		full_sdr 1 0x01 1 1 0 "CPU Temp"
		full_sdr 2 0x04 18 30 0 "Fan 1"
		full_sdr 3 0x02 4 5 -2 "12V Rail"
		full_sdr 4 0x03 5 1 -1 "PSU Current"
		full_sdr 5 0x08 6 2 0 "PSU Power"
		full_sdr 6 0x01 1 1 0 "Inlet Temp"
		printf 'mc_add_fru_data 0x20 0 %d data' "$(wc -w <<< "$fru")"
		printf ' 0x%02x' $fru
		echo
		echo "mc_enable 0x20"
		# Dump every message, so the boot flags' request bytes can be checked.
		echo "debug msg"
	} > "$IPMI_DIR/sim.emu"
}

# Print a LAN channel of the simulator's lan.conf. Usage: ipmi_lan_channel NUMBER ADDRESS
ipmi_lan_channel() {
	cat <<EOF
  startlan $1
    addr $2 $IPMI_PORT
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid a123456789abcdefa123456789abcdef
  endlan
EOF
}

# Start the simulator on 127.0.0.1 and ::1 at a free UDP port, user "admin" with
# $IPMI_PASSWORD. Sets IPMI_PORT and IPMI_SIM_PID. Without -n ipmi_sim reads commands
# from stdin, so stdin is a FIFO that stays open on descriptor 7. Its message dump goes
# to $IPMI_DIR/sim.log, line by line. Exits the test when the simulator does not reply.
ipmi_sim_start() {
	mkdir -p "$IPMI_DIR/sim-state"
	ipmi_chassis_write
	ipmi_emulation_write
	[ -p "$IPMI_DIR/sim.in" ] || mkfifo "$IPMI_DIR/sim.in"
	exec 7<> "$IPMI_DIR/sim.in"
	for _ in 1 2 3 4 5; do
		IPMI_PORT=$(free_port)
		# One LAN channel per address: this ipmi_sim takes one address per channel.
		cat > "$IPMI_DIR/lan.conf" <<EOF
name "outpost-test"
set_working_mc 0x20
$(ipmi_lan_channel 1 127.0.0.1)
$(ipmi_lan_channel 2 ::1)
  chassis_control "$IPMI_DIR/chassis 0x20"
  user 2 true "admin" "$IPMI_PASSWORD" admin 10 md5
EOF
		stdbuf -oL ipmi_sim -c "$IPMI_DIR/lan.conf" -f "$IPMI_DIR/sim.emu" \
			-s "$IPMI_DIR/sim-state" <&7 > "$IPMI_DIR/sim.log" 2>&1 &
		IPMI_SIM_PID=$!
		for _ in $(seq 1 50); do
			if ipmitool -I lanplus -C 3 -N 1 -R 1 -H 127.0.0.1 -p "$IPMI_PORT" -U admin \
				-P "$IPMI_PASSWORD" chassis power status > /dev/null 2>&1; then
				return 0
			fi
			kill -0 "$IPMI_SIM_PID" 2>/dev/null || break
			sleep 0.1
		done
		ipmi_sim_stop
		exec 7<> "$IPMI_DIR/sim.in"
	done
	echo "FAIL: $TEST_NAME: ipmi_sim did not start; log:" >&2
	cat "$IPMI_DIR/sim.log" >&2
	exit 1
}

# Stop the simulator and close its FIFO.
ipmi_sim_stop() {
	if [ -n "$IPMI_SIM_PID" ]; then
		kill -TERM "$IPMI_SIM_PID" 2>/dev/null
		wait "$IPMI_SIM_PID" 2>/dev/null
		IPMI_SIM_PID=""
		exec 7>&-
	fi
}

# Run ipmitool against the simulator as admin.
ipmitool_sim() {
	ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$IPMI_PORT" -U admin -P "$IPMI_PASSWORD" "$@"
}

# Print the data bytes of the last Set System Boot Options request in the message
# dump, whose lines start with a carriage return.
last_boot_request() {
	tr -d '\r' < "$IPMI_DIR/sim.log" | grep -A2 "netfn=0x0 cmd=0x8 " | grep -E '^ *05 ' |
		tail -n 1 | sed 's/^ *//; s/ *$//'
}

# Wait up to 5 s for a line in the chassis control log. Usage: wait_chassis LINE
wait_chassis() {
	for _ in $(seq 1 50); do
		grep -qx "$1" "$IPMI_DIR/chassis.log" && return 0
		sleep 0.1
	done
	return 1
}

# ---- nginx with the Redfish mockup ----

# Print a self-signed certificate for CN $2 into $MOCKUP_DIR/$1.pem with key $1.key.
mockup_ca_write() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$2" -keyout "$MOCKUP_DIR/$1.key" -out "$MOCKUP_DIR/$1.pem" 2> /dev/null
}

# Write the mockup's certificates: bmc.pem for 127.0.0.1 signed by the test CA ca.pem,
# and other-ca.pem, a CA that did not sign it. Sets MOCKUP_FINGERPRINT, the SHA-256 of
# bmc.pem's public key in lower-case hex.
mockup_certs_write() {
	mockup_ca_write ca "Outpost test CA"
	mockup_ca_write other-ca "Another CA"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bmc \
		-keyout "$MOCKUP_DIR/bmc.key" -out "$MOCKUP_DIR/bmc.csr" 2> /dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' > "$MOCKUP_DIR/san.ext"
	openssl x509 -req -in "$MOCKUP_DIR/bmc.csr" -CA "$MOCKUP_DIR/ca.pem" \
		-CAkey "$MOCKUP_DIR/ca.key" -CAcreateserial -days 2 \
		-extfile "$MOCKUP_DIR/san.ext" -out "$MOCKUP_DIR/bmc.pem" 2> /dev/null
	MOCKUP_FINGERPRINT=$(openssl x509 -in "$MOCKUP_DIR/bmc.pem" -pubkey -noout |
		openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)
}

# Write nginx.conf: /redfish/v1/X is the mockup's X/index.json, over HTTPS on port
# $MOCKUP_PORT of each address given. nginx rejects POST and PATCH on static files.
mockup_nginx_conf_write() {
	local address listen=""
	for address in "$@"; do
		listen+="		listen $address:$MOCKUP_PORT ssl;"$'\n'
	done
	cat > "$MOCKUP_DIR/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $MOCKUP_DIR/nginx/nginx.pid;
error_log $MOCKUP_DIR/nginx/error.log warn;
events { worker_connections 64; }
http {
	access_log $MOCKUP_DIR/nginx/access.log;
	client_body_temp_path $MOCKUP_DIR/nginx/body;
	proxy_temp_path $MOCKUP_DIR/nginx/proxy;
	fastcgi_temp_path $MOCKUP_DIR/nginx/fastcgi;
	uwsgi_temp_path $MOCKUP_DIR/nginx/uwsgi;
	scgi_temp_path $MOCKUP_DIR/nginx/scgi;
	default_type application/json;
	server {
$listen		ssl_certificate $MOCKUP_DIR/bmc.pem;
		ssl_certificate_key $MOCKUP_DIR/bmc.key;
		root $MOCKUP_DIR/www;
		disable_symlinks off;
		location / { try_files \$uri/index.json \$uri =404; }
	}
}
CONF
}

# Serve the mockup with nginx on the loopback addresses given (127.0.0.1 when none)
# at one free TCP port. Sets MOCKUP_PORT, NGINX_PID and, through mockup_certs_write,
# MOCKUP_FINGERPRINT. Exits the test when nginx does not reply.
# Usage: mockup_start [ADDRESS...]
mockup_start() {
	local -a addresses=("$@")
	[ ${#addresses[@]} -gt 0 ] || addresses=(127.0.0.1)
	mkdir -p "$MOCKUP_DIR/www/redfish" "$MOCKUP_DIR/nginx"
	ln -sfn "$MOCKUP" "$MOCKUP_DIR/www/redfish/v1"
	# nginx's worker runs as nobody and must reach the document root.
	chmod 755 "$WORK" "$MOCKUP_DIR"
	mockup_certs_write
	for _ in 1 2 3 4 5; do
		MOCKUP_PORT=$(free_port)
		mockup_nginx_conf_write "${addresses[@]}"
		nginx -p "$MOCKUP_DIR/nginx" -e "$MOCKUP_DIR/nginx/error.log" \
			-c "$MOCKUP_DIR/nginx/nginx.conf" &
		NGINX_PID=$!
		for _ in $(seq 1 50); do
			if curl -sk -o /dev/null "https://${addresses[0]}:$MOCKUP_PORT/redfish/v1/"; then
				return 0
			fi
			kill -0 "$NGINX_PID" 2>/dev/null || break
			sleep 0.1
		done
		mockup_stop
	done
	echo "FAIL: $TEST_NAME: nginx did not start; log:" >&2
	cat "$MOCKUP_DIR/nginx/error.log" >&2
	exit 1
}

# Stop nginx.
mockup_stop() {
	if [ -n "$NGINX_PID" ]; then
		kill "$NGINX_PID" 2> /dev/null
		wait "$NGINX_PID" 2> /dev/null
		NGINX_PID=""
	fi
}
