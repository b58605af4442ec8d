#!/bin/bash
# The generated certificate names the API listen address and every [api] tls_names
# entry, so a remote CLI can verify it by the name or address it connects to. A new
# name regenerates the certificate for the same key; an invalid name stops the start.
. "$(dirname "$0")/lib.sh"

# 127.0.0.2 is a loopback address on Linux, but not one every certificate names.
write_config "[api]" "tls_names = outpost.site.example, 192.0.2.10"
sed -i '/^\[api\]/,/^\[/ s#^listen = .*#listen = 127.0.0.2:0#' "$WORK/outpost.conf"
start_daemon

sans=$(openssl x509 -noout -ext subjectAltName -in "$WORK/state/tls/cert.pem")
expect_contains "certificate names the listen address" "$sans" "IP Address:127.0.0.2"
expect_contains "certificate names tls_names DNS entry" "$sans" "DNS:outpost.site.example"
expect_contains "certificate names tls_names IP entry" "$sans" "IP Address:192.0.2.10"
expect_contains "certificate keeps localhost" "$sans" "DNS:localhost"

# curl verifies the certificate against the address and the name it connects to.
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$WORK/state/tls/cert.pem" \
	"https://127.0.0.2:$API_PORT/api/v1/status")
expect_eq "HTTPS by listen address verifies" "$code" 401
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$WORK/state/tls/cert.pem" \
	--resolve "outpost.site.example:$API_PORT:127.0.0.2" \
	"https://outpost.site.example:$API_PORT/api/v1/status")
expect_eq "HTTPS by tls_names entry verifies" "$code" 401
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$WORK/state/tls/cert.pem" \
	--resolve "unnamed.site.example:$API_PORT:127.0.0.2" \
	"https://unnamed.site.example:$API_PORT/api/v1/status" 2>/dev/null)
expect_eq "HTTPS by another name fails verification" "$code" 000

# The same names on restart keep the certificate.
fingerprint=$(openssl x509 -noout -fingerprint -in "$WORK/state/tls/cert.pem")
key=$(cat "$WORK/state/tls/key.pem")
check "stop" stop_daemon
start_daemon
expect_eq "same names keep the certificate" \
	"$(openssl x509 -noout -fingerprint -in "$WORK/state/tls/cert.pem")" "$fingerprint"

# A new name gives a new certificate for the same key, with a notice.
check "stop before adding a name" stop_daemon
sed -i "s#^tls_names = .*#tls_names = outpost.site.example, 192.0.2.10, new.site.example#" \
	"$WORK/outpost.conf"
start_daemon
check "new name gives a new certificate" test \
	"$(openssl x509 -noout -fingerprint -in "$WORK/state/tls/cert.pem")" != "$fingerprint"
expect_eq "new certificate keeps the key" "$(cat "$WORK/state/tls/key.pem")" "$key"
expect_contains "new name is in the certificate" \
	"$(openssl x509 -noout -ext subjectAltName -in "$WORK/state/tls/cert.pem")" \
	"DNS:new.site.example"
expect_contains "regeneration is logged" "$(cat "$WORK/daemon.log")" \
	'does not name "new.site.example", generating a new one for the same key'
check "stop after the new name" stop_daemon

# An invalid entry stops the start with the line and the entry named.
sed -i "s#^tls_names = .*#tls_names = outpost.site.example, bad_name#" "$WORK/outpost.conf"
output=$("$OUTPOST" serve --config "$WORK/outpost.conf" 2>&1)
expect_eq "invalid tls_names exit status" "$?" 1
expect_contains "invalid tls_names message" "$output" \
	'api.tls_names: invalid entry "bad_name": expected a DNS name or an IP address'

finish
