#!/bin/bash
# The REST API over HTTPS with the bootstrap token: the OpenAPI document, machine and
# profile routes, paging and error bodies, as a remote client sees them.
. "$(dirname "$0")/lib.sh"

start_daemon
json=(-H 'Content-Type: application/json')

# The OpenAPI document is served without a token and names every resource.
doc=$(curl -sS --cacert "$WORK/state/tls/cert.pem" "https://localhost:$API_PORT/api/v1/openapi.json")
expect_contains "OpenAPI version" "$(jq -r .openapi <<<"$doc")" "3.0"
for path in /machines /machines/{ref} /machines/{ref}/deploy /profiles /audit /audit/verify /status; do
	check "OpenAPI has $path" jq -e --arg p "$path" '.paths | to_entries | any(.key | endswith($p))' <<<"$doc" >/dev/null
done

# Create, read, update and delete over HTTPS.
headers=$(api_https POST /api/v1/machines "${json[@]}" -D - -o "$WORK/body" \
	-d '{"macs": ["52:54:00:d0:00:01"], "hostname": "web1", "arch": "x86_64", "platform": "pcbios"}')
expect_contains "create status" "$headers" "HTTP/1.1 201"
expect_contains "create Location" "$headers" "Location: /api/v1/machines/"
id=$(jq -r .id "$WORK/body")
expect_eq "created state" "$(jq -r .state "$WORK/body")" ready
reply=$(api_https PATCH "/api/v1/machines/$id" "${json[@]}" -d '{"ip": "10.20.0.5"}')
expect_eq "patched ip" "$(jq -r .ip <<<"$reply")" 10.20.0.5
reply=$(api_https PATCH "/api/v1/machines/$id" "${json[@]}" -d '{"state": "deployed"}' -w '\n%{http_code}')
expect_eq "state is not patchable" "$(tail -n 1 <<<"$reply")" 400
code=$(api_https DELETE "/api/v1/machines/$id" -o /dev/null -w '%{http_code}')
expect_eq "delete status" "$code" 204
code=$(api_https GET "/api/v1/machines/$id" -o "$WORK/body" -w '%{http_code}')
expect_eq "deleted machine status" "$code" 404
expect_eq "not found error" "$(jq -r .error "$WORK/body")" not_found

# Paging walks every machine exactly once.
for i in $(seq 1 25); do
	printf -v mac '52:54:00:d1:00:%02x' "$i"
	api_unix POST /api/v1/machines "${json[@]}" -d "{\"macs\": [\"$mac\"]}" -o /dev/null
done
after=0
seen=0
while :; do
	page=$(api_https GET "/api/v1/machines?limit=10&after=$after")
	seen=$((seen + $(jq '.items | length' <<<"$page")))
	next=$(jq -r .next <<<"$page")
	[ "$next" = null ] && break
	after=$next
done
expect_eq "paging sees every machine" "$seen" 25
code=$(api_https GET "/api/v1/machines?limit=5000" -o /dev/null -w '%{http_code}')
expect_eq "limit above 1000 rejected" "$code" 400

# Wrong method and unknown route.
code=$(api_https PUT /api/v1/status -o /dev/null -w '%{http_code}')
expect_eq "wrong method" "$code" 405
code=$(api_https GET /api/v1/nothing -o /dev/null -w '%{http_code}')
expect_eq "unknown route" "$code" 404

finish
