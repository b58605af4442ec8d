#!/bin/bash
# The offline bundle commands as a user runs them: keygen, create (reproducible, plain
# and zstd), inspect and verify, against the test key and a key the check does not
# trust, and with bundles altered after signing. bsdtar must read what create writes.
. "$(dirname "$0")/lib.sh"

cd "$WORK" || exit 1
KEYS=$TREE/bundles/keys
TRUST=(--trusted-keys "$WORK/none" --trusted-key "$KEYS/test.pub" --allow-test-keys)

mkdir -p src/fw
head -c 300000 /dev/urandom > src/vmlinuz
head -c 1200000 /dev/urandom > src/initrd.img
printf '#cloud-config\n' > src/user-data
printf 'firmware' > src/fw/bios.bin
cat > spec.json <<'SPEC'
{
  "name": "demo-os",
  "version": "12.8.0",
  "kind": "os",
  "description": "Integration test bundle",
  "files": [
    {"source": "src/vmlinuz", "path": "vmlinuz", "role": "kernel",
     "metadata": {"os": "debian", "os_version": "12", "arch": "amd64"}},
    {"source": "src/initrd.img", "path": "initrd.img", "role": "initrd"},
    {"source": "src/user-data", "path": "templates/user-data", "role": "template",
     "metadata": {"format": "cloud-init"}},
    {"source": "src/fw/bios.bin", "path": "fw/bios.bin", "role": "firmware-image",
     "metadata": {"vendor": "QEMU", "models": ["pc-q35"], "component": "bios",
                  "version": "1.16.2", "update_method": "offline-flash"}}
  ]
}
SPEC

# keygen: mode 0600 for the private key, and an existing key is never replaced.
out=$("$OUTPOST" bundle keygen site 2>&1)
expect_contains "keygen reports the key id" "$out" "private key site.key"
expect_eq "private key mode" "$(stat -c %a site.key)" 600
expect_eq "public key mode" "$(stat -c %a site.pub)" 644
before=$(sha256sum site.key)
"$OUTPOST" bundle keygen site > /dev/null 2> err.txt
expect_eq "keygen over an existing key fails" "$?" 1
expect_contains "keygen names the file" "$(cat err.txt)" "site.key"
expect_eq "existing key unchanged" "$(sha256sum site.key)" "$before"

# create: the default name, then the same bytes again, with or without zstd.
"$OUTPOST" bundle create spec.json --key "$KEYS/test.key" > out.txt 2>&1
expect_eq "create exit" "$?" 0
expect_contains "create names its output" "$(cat out.txt)" "wrote demo-os-12.8.0.bundle"
first=$(sha256sum < demo-os-12.8.0.bundle)
"$OUTPOST" bundle create spec.json --key "$KEYS/test.key" --output again.bundle > /dev/null
expect_eq "create is reproducible" "$(sha256sum < again.bundle)" "$first"
"$OUTPOST" bundle create spec.json --key "$KEYS/test.key" > /dev/null 2> err.txt
expect_eq "create refuses to replace" "$?" 1
# A folder with its spec.json gives the same bytes.
"$OUTPOST" bundle create . --key "$KEYS/test.key" --output folder.bundle > /dev/null
expect_eq "create from a folder" "$(sha256sum < folder.bundle)" "$first"
expect_contains "create says how to replace" "$(cat err.txt)" "pass --force"
"$OUTPOST" bundle create spec.json --key "$KEYS/test.key" --zstd --output a.zst > /dev/null
"$OUTPOST" bundle create spec.json --key "$KEYS/test.key" --zstd --output b.zst > /dev/null
expect_eq "zstd create is reproducible" "$(sha256sum < a.zst)" "$(sha256sum < b.zst)"
expect_eq "zstd output starts with the magic" "$(head -c 4 a.zst | od -An -tx1 | tr -d ' ')" \
	"28b52ffd"
expect_eq "zstd output ends with a seek table" \
	"$(tail -c 4 a.zst | od -An -tx1 | tr -d ' ')" "b1ea928f"
expect_eq "zstd decompresses the frames to the tar" "$(zstd -dcq a.zst | sha256sum)" "$first"
SOURCE_DATE_EPOCH=1700000000 "$OUTPOST" bundle create spec.json --key "$KEYS/test.key" \
	--output dated.bundle > /dev/null
listing=$(bsdtar -tvf dated.bundle 2>&1)
expect_contains "bsdtar lists the manifest first" "$(bsdtar -tf dated.bundle | head -n 1)" \
	"manifest.json"
expect_contains "SOURCE_DATE_EPOCH sets the times" "$listing" "Nov 14  2023"
expect_eq "bsdtar extracts the payload" \
	"$(bsdtar -xOf demo-os-12.8.0.bundle initrd.img | sha256sum)" "$(sha256sum < src/initrd.img)"

# verify and inspect with the test key trusted.
out=$("$OUTPOST" bundle verify demo-os-12.8.0.bundle "${TRUST[@]}" 2>&1)
expect_eq "verify exit" "$?" 0
expect_contains "verify summary" "$out" "valid, demo-os 12.8.0 (os), 4 files"
json=$("$OUTPOST" bundle verify a.zst "${TRUST[@]}" --json)
expect_eq "verify --json valid" "$(jq -r .valid <<< "$json")" true
expect_eq "verify --json payload bytes" "$(jq -r .payload_bytes <<< "$json")" 1500022
expect_eq "verify --json firmware vendor" \
	"$(jq -r '.files[] | select(.path == "fw/bios.bin") | .metadata.vendor' <<< "$json")" QEMU
json=$("$OUTPOST" bundle inspect a.zst "${TRUST[@]}" --json)
expect_eq "inspect signature" "$(jq -r .signature <<< "$json")" valid
expect_eq "inspect name" "$(jq -r .name <<< "$json")" demo-os

# The test key is refused unless allowed, and other keys are not trusted.
"$OUTPOST" bundle verify demo-os-12.8.0.bundle --trusted-keys "$KEYS" > /dev/null 2> err.txt
expect_eq "test key refused by default" "$?" 1
expect_contains "test key refusal says why" "$(cat err.txt)" "is a test key"
"$OUTPOST" bundle verify demo-os-12.8.0.bundle --trusted-keys "$WORK/none" \
	--trusted-key site.pub > /dev/null 2> err.txt
expect_eq "untrusted signer" "$?" 1
expect_contains "untrusted signer named" "$(cat err.txt)" "which this site does not trust"
out=$("$OUTPOST" bundle inspect demo-os-12.8.0.bundle --trusted-keys "$WORK/none" 2>&1)
expect_contains "inspect shows the untrusted signature" "$out" "does not trust"
expect_contains "inspect lists files" "$out" "templates/user-data"

# Bundles altered after signing.
cp demo-os-12.8.0.bundle tampered.bundle
offset=$(($(grep -boa 'firmware' tampered.bundle | tail -n 1 | cut -d: -f1)))
printf 'X' | dd of=tampered.bundle bs=1 seek="$offset" conv=notrunc status=none
"$OUTPOST" bundle verify tampered.bundle "${TRUST[@]}" > /dev/null 2> err.txt
expect_eq "payload byte changed" "$?" 1
expect_contains "hash mismatch names the entry" "$(cat err.txt)" "entry fw/bios.bin has SHA-256"

cp demo-os-12.8.0.bundle manifest-edit.bundle
offset=$(($(grep -boa '"12.8.0"' manifest-edit.bundle | head -n 1 | cut -d: -f1) + 1))
printf '9' | dd of=manifest-edit.bundle bs=1 seek="$offset" conv=notrunc status=none
"$OUTPOST" bundle verify manifest-edit.bundle "${TRUST[@]}" > /dev/null 2> err.txt
expect_eq "manifest edited" "$?" 1
expect_contains "bad signature reported" "$(cat err.txt)" "the signature does not match"

head -c 700000 demo-os-12.8.0.bundle > cut.bundle
"$OUTPOST" bundle verify cut.bundle "${TRUST[@]}" > /dev/null 2> err.txt
expect_eq "truncated bundle" "$?" 1
expect_contains "truncation reported" "$(cat err.txt)" "truncated"
head -c 300000 a.zst > cut.zst
"$OUTPOST" bundle verify cut.zst "${TRUST[@]}" > /dev/null 2> err.txt
expect_eq "truncated zstd bundle" "$?" 1
expect_contains "zstd truncation reported" "$(cat err.txt)" "truncated"

# An archive made by another tool is not a bundle: bsdtar adds directory entries.
mkdir -p other && cp src/vmlinuz other/
bsdtar -cf other.tar --format pax other
"$OUTPOST" bundle verify other.tar "${TRUST[@]}" > /dev/null 2> err.txt
expect_eq "foreign archive rejected" "$?" 1
expect_contains "foreign archive reason" "$(cat err.txt)" "is a directory"

# Bad command lines.
"$OUTPOST" bundle create spec.json > /dev/null 2> err.txt
expect_eq "create without a key" "$?" 2
expect_contains "missing key named" "$(cat err.txt)" "--key KEY is required"
"$OUTPOST" bundle frobnicate x > /dev/null 2>&1
expect_eq "unknown verb" "$?" 2
printf '{"name": "x", "version": "1", "kind": "os", "files": [{"source": "nope", "path": "a", "role": "kernel"}]}' > bad.json
"$OUTPOST" bundle create bad.json --key "$KEYS/test.key" --output bad.bundle > /dev/null 2> err.txt
expect_eq "missing source" "$?" 1
expect_contains "missing source named" "$(cat err.txt)" "nope"
check "no partial output" test ! -e bad.bundle

finish
