#!/bin/bash
# Loading bundles into a running daemon: load, list, show, shared blobs, downgrades,
# removal guarded by profiles, at-rest corruption found by verify --installed, and a
# tampered entry hashed on a second thread. Last, SIGKILL at random points of loads
# that hash two entries at once, after which the bundle is whole or absent.
. "$(dirname "$0")/lib.sh"

KEYS=$TREE/bundles/keys
write_config "[bundle]" "trusted_keys = $KEYS" "allow_test_keys = true"
start_daemon
export OUTPOST_SOCKET=$SOCKET
cd "$WORK" || exit 1

# make_bundle VERSION SIZE_MIB OUTPUT [--zstd]: a bundle whose kernel is the same in
# every version and whose disk image is random.
mkdir -p src
head -c 65536 /dev/urandom > src/vmlinuz
make_bundle() {
	head -c "$(($2 * 1048576))" /dev/urandom > "src/disk-$1.raw"
	cat > "spec-$1.json" <<SPEC
{"name": "test-os", "version": "$1", "kind": "os", "files": [
 {"source": "src/vmlinuz", "path": "vmlinuz", "role": "kernel"},
 {"source": "src/disk-$1.raw", "path": "disk.raw", "role": "disk-image",
  "metadata": {"os": "debian", "os_version": "12", "arch": "amd64"}}]}
SPEC
	"$OUTPOST" bundle create "spec-$1.json" --key "$KEYS/test.key" --output "$3" "${@:4}" \
		> /dev/null
}

# The SHA-256 of the bytes in the blob that stores file $1, read back from the store.
stored_sha256() {
	local sha
	sha=$(sha256sum < "$1" | cut -d ' ' -f 1)
	sha256sum < "$WORK/store/sha256/${sha:0:2}/$sha" | cut -d ' ' -f 1
}

blob_count() {
	find "$WORK/store/sha256" -type f 2> /dev/null | wc -l
}

make_bundle 1.0.0 2 one.bundle
make_bundle 1.1.0 2 two.bundle
make_bundle 0.9.0 1 old.bundle

out=$("$OUTPOST" bundle load one.bundle 2>&1)
expect_contains "load reports the bundle" "$out" "loaded test-os 1.0.0: 2 files"
expect_eq "two blobs after the first load" "$(blob_count)" 2
"$OUTPOST" bundle load one.bundle > /dev/null 2> err.txt
expect_eq "same version twice" "$?" 1
expect_contains "already loaded" "$(cat err.txt)" "is already loaded"
"$OUTPOST" bundle load two.bundle > /dev/null
expect_eq "the shared kernel is stored once" "$(blob_count)" 3
"$OUTPOST" bundle load old.bundle > /dev/null 2> err.txt
expect_eq "downgrade refused" "$?" 1
expect_contains "downgrade reason" "$(cat err.txt)" "older than the loaded version 1.1.0"
"$OUTPOST" bundle load old.bundle --allow-downgrade > /dev/null
expect_eq "downgrade allowed" "$?" 0

json=$("$OUTPOST" bundle list --json)
expect_eq "three bundles listed" "$(jq '.items | length' <<< "$json")" 3
json=$("$OUTPOST" bundle show test-os 1.0.0 --json)
expect_eq "show lists artifacts" "$(jq -r '.artifacts[] | select(.role == "kernel") | .reference' \
	<<< "$json")" "test-os/1.0.0/vmlinuz"
kernel_blob=$(jq -r '.artifacts[] | select(.role == "kernel") | .blob' <<< "$json")
expect_eq "blob file holds the kernel" "$(sha256sum < "$WORK/store/$kernel_blob")" \
	"$(sha256sum < src/vmlinuz)"
expect_eq "blobs are read-only" "$(stat -c %a "$WORK/store/$kernel_blob")" 444
expect_eq "load audited" "$(api_unix GET '/api/v1/audit?limit=100' |
	jq '[.items[] | select(.action == "bundle.load" and .outcome == "ok")] | length')" 3
expect_eq "progress events recorded" "$(sqlite3 "$WORK/state/outpost.db" \
	"SELECT count(*) FROM events WHERE type = 'bundle.job.done'")" 3

# A bundle that a profile names is kept unless forced; a blob another bundle uses stays.
api_unix POST /api/v1/profiles -H 'Content-Type: application/json' \
	-d '{"name": "web", "kernel": "test-os/1.0.0/vmlinuz", "initrd": "x/y"}' -o /dev/null
"$OUTPOST" bundle remove test-os 1.0.0 > /dev/null 2> err.txt
expect_eq "remove in use" "$?" 4
expect_contains "remove names the profile" "$(cat err.txt)" "profile web uses bundle test-os"
"$OUTPOST" bundle remove test-os 1.0.0 --force > /dev/null
expect_eq "forced remove" "$?" 0
check "shared kernel blob kept" test -f "$WORK/store/$kernel_blob"
expect_eq "blobs after the removal" "$(blob_count)" 3

# Corruption at rest.
out=$("$OUTPOST" bundle verify --installed 2>&1)
expect_contains "all blobs intact" "$out" "3 blobs checked, 0 damaged"
chmod u+w "$WORK/store/$kernel_blob"
flip_byte "$WORK/store/$kernel_blob" 100
out=$("$OUTPOST" bundle verify --installed 2>&1)
expect_eq "damage found" "$?" 1
expect_contains "damaged blob named" "$out" "damaged blob $(basename "$kernel_blob")"

# A bundle signed by a key the daemon does not trust, and a file that is not a bundle.
"$OUTPOST" bundle keygen other > /dev/null
"$OUTPOST" bundle create spec-1.0.0.json --key other.key --output other.bundle > /dev/null
"$OUTPOST" bundle load other.bundle > /dev/null 2> err.txt
expect_contains "untrusted signer" "$(cat err.txt)" "which this site does not trust"
"$OUTPOST" bundle load /etc/hostname > /dev/null 2> err.txt
expect_eq "not a bundle" "$?" 1
check "no staging left" test -z "$(ls -A "$WORK/store/staging")"

# Profiles name artifacts by reference; the boot listener serves them from their blob.
# deploy_script MAC PROFILE KERNEL: make a machine deploy with a new profile, print
# its boot script.
deploy_script() {
	local id
	id=$(api_unix POST /api/v1/machines -H 'Content-Type: application/json' \
		-d "{\"macs\": [\"$1\"]}" | jq -r .id)
	api_unix POST /api/v1/profiles -H 'Content-Type: application/json' -o /dev/null -d \
		"{\"name\": \"$2\", \"kernel\": \"$3\", \"initrd\": \"test-os/1.1.0/disk.raw\"}"
	api_unix POST "/api/v1/machines/$id/deploy" -H 'Content-Type: application/json' \
		-d "{\"profile\": \"$2\"}" -o /dev/null
	boot_get "/boot/ipxe?mac=$1&buildarch=x86_64&platform=efi"
}
script=$(deploy_script 52:54:00:aa:00:01 deploy test-os/1.1.0/vmlinuz)
expect_contains "deploy script names the reference" "$script" "/files/test-os/1.1.0/vmlinuz"
boot_get /files/test-os/1.1.0/disk.raw -D headers.txt -o served.raw
expect_eq "reference served byte for byte" "$(sha256sum < served.raw)" \
	"$(sha256sum < src/disk-1.1.0.raw)"
expect_contains "ETag is the hash" "$(cat headers.txt)" \
	"\"$(sha256sum < src/disk-1.1.0.raw | cut -d' ' -f1)\""
# A deploy whose profile names a missing artifact is refused; one whose bundle goes
# away later gets the retry script with the reason.
api_unix POST /api/v1/machines -H 'Content-Type: application/json' \
	-d '{"macs": ["52:54:00:aa:00:02"]}' -o /dev/null
api_unix POST /api/v1/profiles -H 'Content-Type: application/json' -o /dev/null \
	-d '{"name": "broken", "kernel": "test-os/9.9.9/vmlinuz", "initrd": "test-os/1.1.0/disk.raw"}'
out=$(api_unix POST /api/v1/machines/52:54:00:aa:00:02/deploy -H 'Content-Type: application/json' \
	-d '{"profile": "broken"}')
expect_contains "deploy refused for a missing artifact" "$out" "which no loaded bundle has"
"$OUTPOST" bundle remove test-os 1.1.0 --force > /dev/null
script=$(boot_get "/boot/ipxe?mac=52:54:00:aa:00:01&buildarch=x86_64&platform=efi")
expect_contains "removed bundle explained to the deploying machine" "$script" \
	"which no loaded bundle has"
expect_eq "staging is never served" \
	"$(boot_get /files/staging/x -o /dev/null -w '%{http_code}')" 404

# Over HTTPS the CLI uploads the file; the daemon streams it into the load.
make_bundle 1.2.0 3 three.bundle
REMOTE=(--url "https://127.0.0.1:$API_PORT" --token-file "$WORK/state/admin.token"
	--cacert "$WORK/state/tls/cert.pem")
out=$(env -u OUTPOST_SOCKET "$OUTPOST" bundle load three.bundle "${REMOTE[@]}" 2>&1)
expect_contains "upload over HTTPS" "$out" "loaded test-os 1.2.0: 2 files"
expect_eq "uploaded bundle listed" "$("$OUTPOST" bundle show test-os 1.2.0 --json | jq -r .files)" 2
# A .tar.zst loads by path, each entry decompressed on a thread of its own from the
# frames its seek table lists, and over HTTPS as one stream.
make_bundle 1.2.1 3 three-z.bundle --zstd
out=$("$OUTPOST" bundle load three-z.bundle 2>&1)
expect_contains "zstd load by path" "$out" "loaded test-os 1.2.1: 2 files"
expect_eq "zstd disk image stored" "$(stored_sha256 src/disk-1.2.1.raw)" \
	"$(sha256sum < src/disk-1.2.1.raw | cut -d ' ' -f 1)"
make_bundle 1.2.2 3 three-zz.bundle --zstd
out=$(env -u OUTPOST_SOCKET "$OUTPOST" bundle load three-zz.bundle "${REMOTE[@]}" 2>&1)
expect_contains "zstd upload over HTTPS" "$out" "loaded test-os 1.2.2: 2 files"
expect_eq "uploaded zstd disk image stored" "$(stored_sha256 src/disk-1.2.2.raw)" \
	"$(sha256sum < src/disk-1.2.2.raw | cut -d ' ' -f 1)"
# An upload cut off halfway imports nothing.
make_bundle 1.3.0 3 four.bundle
head -c 2000000 four.bundle > half.bundle
code=$(curl -sS --cacert "$WORK/state/tls/cert.pem" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/octet-stream' -H "Content-Length: $(stat -c %s four.bundle)" \
	--data-binary @half.bundle --max-time 3 -o /dev/null -w '%{http_code}' \
	"https://localhost:$API_PORT/api/v1/bundles" 2>/dev/null)
check "cut upload gets no success ($code)" test "$code" != 202
for _ in $(seq 1 50); do
	[ "$(api_unix GET /api/v1/bundles | jq '[.items[] | select(.version == "1.3.0")] | length')" = 0 ] &&
		[ -z "$(ls -A "$WORK/store/staging")" ] && break
	sleep 0.1
done
expect_eq "cut upload not imported" \
	"$(api_unix GET /api/v1/bundles | jq '[.items[] | select(.version == "1.3.0")] | length')" 0
check "cut upload left no staging" test -z "$(ls -A "$WORK/store/staging")"
# The whole bundle sent with a longer Content-Length, then the connection closed: the
# bytes form a valid bundle, but the upload was cut off, so nothing is committed.
failed_jobs() {
	sqlite3 "$WORK/state/outpost.db" "SELECT count(*) FROM events WHERE type = 'bundle.job.failed'"
}
before=$(failed_jobs)
curl -sS --cacert "$WORK/state/tls/cert.pem" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/octet-stream' \
	-H "Content-Length: $(($(stat -c %s four.bundle) + 1000))" \
	--data-binary @four.bundle --max-time 3 -o /dev/null "https://localhost:$API_PORT/api/v1/bundles" \
	2> /dev/null
for _ in $(seq 1 50); do
	[ "$(failed_jobs)" -gt "$before" ] && break
	sleep 0.1
done
expect_eq "the cut upload's job failed" "$(failed_jobs)" $((before + 1))
expect_eq "whole bytes of a cut upload not committed" \
	"$(api_unix GET /api/v1/bundles | jq '[.items[] | select(.version == "1.3.0")] | length')" 0
"$OUTPOST" bundle load four.bundle > /dev/null
expect_eq "the same bundle loads whole afterwards" "$?" 0

# A FIFO is not a bundle, and must not hold the job slot.
mkfifo fifo
started=$(date +%s%N)
"$OUTPOST" bundle load fifo > /dev/null 2> err.txt
expect_eq "FIFO refused" "$?" 1
expect_contains "FIFO reason" "$(cat err.txt)" "is not a regular file"
check "FIFO refused at once" test $((($(date +%s%N) - started) / 1000000)) -lt 3000

# make_pair_bundle VERSION SIZE_MIB OUTPUT: a bundle "pair-os" with two random disk
# images, disk-a one MiB larger than disk-b, so that a load by path on two or more
# CPUs hashes them at once (largest first), and the kernel. disk-b ends with a
# marker, so a test can find and change its last bytes.
make_pair_bundle() {
	head -c "$((($2 + 1) * 1048576))" /dev/urandom > "src/pair-a-$1.raw"
	{ head -c "$(($2 * 1048576))" /dev/urandom; printf 'END-OF-DISK-B'; } > "src/pair-b-$1.raw"
	cat > "spec-pair-$1.json" <<SPEC
{"name": "pair-os", "version": "$1", "kind": "os", "files": [
 {"source": "src/vmlinuz", "path": "vmlinuz", "role": "kernel"},
 {"source": "src/pair-a-$1.raw", "path": "disk-a.raw", "role": "disk-image"},
 {"source": "src/pair-b-$1.raw", "path": "disk-b.raw", "role": "disk-image"}]}
SPEC
	"$OUTPOST" bundle create "spec-pair-$1.json" --key "$KEYS/test.key" --output "$3" > /dev/null
}

# The last entry of a bundle loaded by path changed after signing: its hash, taken on
# the lane that did not start with the largest entry, rejects the load by name.
make_pair_bundle 1.0.0 24 pair.bundle
cp pair.bundle tampered.bundle
mark=$(grep -obUaF 'END-OF-DISK-B' tampered.bundle | head -n 1 | cut -d: -f1)
check "marker found in the bundle" test -n "$mark"
printf 'X' | dd of=tampered.bundle bs=1 seek="$mark" conv=notrunc status=none
blobs_before=$(blob_count)
"$OUTPOST" bundle load tampered.bundle > /dev/null 2> err.txt
expect_eq "tampered entry rejected" "$?" 1
expect_contains "tampered entry named" "$(cat err.txt)" "entry disk-b.raw has SHA-256"
expect_eq "tampered bundle not listed" "$("$OUTPOST" bundle list --json |
	jq '[.items[] | select(.name == "pair-os")] | length')" 0
expect_eq "tampered bundle left no blob" "$(blob_count)" "$blobs_before"
check "tampered bundle left no staging" test -z "$(ls -A "$WORK/store/staging")"
if [ "$(nproc)" -ge 2 ]; then
	check "the load hashed on two lanes or more" \
		grep -q 'bundle: loading name=pair-os.* lanes=[2-9]' "$WORK/daemon.log"
fi
"$OUTPOST" bundle load pair.bundle > /dev/null
expect_eq "the intact pair loads" "$?" 0
expect_eq "both disk images served byte for byte" \
	"$(boot_get /files/pair-os/1.0.0/disk-a.raw | sha256sum)$(boot_get \
		/files/pair-os/1.0.0/disk-b.raw | sha256sum)" \
	"$(sha256sum < src/pair-a-1.0.0.raw)$(sha256sum < src/pair-b-1.0.0.raw)"

# SIGKILL during loads of a bigger bundle, at random points. Its two disk images are
# hashed and written at the same time when the daemon has two CPUs or more.
stop_daemon
rm -rf "$WORK/state" "$WORK/store"
write_config "[bundle]" "trusted_keys = $KEYS" "allow_test_keys = true"
make_pair_bundle 2.0.0 48 big.bundle
# Time one load, so the kills spread over the whole of it, start to commit.
start_daemon
started=$(date +%s%N)
"$OUTPOST" bundle load big.bundle > /dev/null
load_ms=$((($(date +%s%N) - started) / 1000000 + 1))
"$OUTPOST" bundle remove pair-os 2.0.0 > /dev/null
stop_daemon
KILLS=${BUNDLE_KILLS:-16}
present=0 absent=0
for i in $(seq 1 "$KILLS"); do
	start_daemon
	"$OUTPOST" bundle load big.bundle > /dev/null 2>&1 &
	loader=$!
	delay_ms=$((RANDOM % (load_ms + load_ms / 4)))
	sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
	kill_daemon
	wait "$loader" 2> /dev/null
	start_daemon
	listed=$("$OUTPOST" bundle list --json | jq '.items | length')
	blobs=$(blob_count)
	if [ "$listed" = 1 ]; then
		present=$((present + 1))
		expect_eq "kill $i: whole bundle has all three blobs" "$blobs" 3
		expect_contains "kill $i: blobs intact" "$("$OUTPOST" bundle verify --installed 2>&1)" \
			"3 blobs checked, 0 damaged"
		"$OUTPOST" bundle remove pair-os 2.0.0 > /dev/null
	else
		absent=$((absent + 1))
		expect_eq "kill $i: nothing listed" "$listed" 0
		expect_eq "kill $i: no blob left" "$blobs" 0
	fi
	check "kill $i: staging cleaned" test -z "$(ls -A "$WORK/store/staging" 2> /dev/null)"
	expect_eq "kill $i: store intact" \
		"$(sqlite3 "$WORK/state/outpost.db" 'PRAGMA integrity_check')" ok
	expect_contains "kill $i: audit chain intact" "$("$OUTPOST" audit verify)" "intact"
	stop_daemon
done
echo "test_bundle_load: a load took $load_ms ms; after $KILLS kills at random points the" \
	"bundle was present $present times and absent $absent times"
start_daemon
"$OUTPOST" bundle load big.bundle > /dev/null
expect_eq "load after the kills" "$?" 0

finish
