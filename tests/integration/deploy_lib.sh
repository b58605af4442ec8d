# Helpers for the deploy tests: a small GPT disk image with an ext4 root that has
# /etc/cloud, packed with a kernel and initrd into a signed os bundle, and loop
# devices that stand in for a server's disk. Sourced after lib.sh; needs root,
# sgdisk, mkfs.ext4, zstd and losetup.

# Make $WORK/image/disk.raw (32 MiB: a BIOS boot partition and an ext4 root holding
# /etc/os-release and /etc/cloud/cloud.cfg.d) and disk.raw.zst.
deploy_image_make() {
	local dir=$WORK/image
	mkdir -p "$dir/root/etc/cloud/cloud.cfg.d"
	printf 'ID=debian\nVERSION_ID="12"\n' > "$dir/root/etc/os-release"
	head -c 65536 /dev/urandom > "$dir/root/etc/random-content"
	truncate -s 32M "$dir/disk.raw"
	sgdisk -n 1:2048:+1M -t 1:ef02 -n 2:0:0 -t 2:8304 -c 2:root "$dir/disk.raw" > /dev/null || return 1
	# Partition 2 starts at sector 4096 and ends 34 sectors before the end (backup GPT).
	truncate -s $((32 * 1048576 - 4096 * 512 - 34 * 512)) "$dir/root.ext4"
	mkfs.ext4 -q -F -L root -d "$dir/root" "$dir/root.ext4" || return 1
	dd if="$dir/root.ext4" of="$dir/disk.raw" bs=512 seek=4096 conv=notrunc,sparse status=none
	zstd -q -f -10 "$dir/disk.raw" -o "$dir/disk.raw.zst"
}

# Make and load the bundle test-os 1.0.0 with the image, a kernel and an initrd.
deploy_bundle_load() {
	local dir=$WORK/image
	head -c 4096 /dev/urandom > "$dir/vmlinuz"
	head -c 4096 /dev/urandom > "$dir/initrd.img"
	cat > "$dir/spec.json" <<SPEC
{"name": "test-os", "version": "1.0.0", "kind": "os", "files": [
 {"source": "$dir/vmlinuz", "path": "vmlinuz", "role": "kernel"},
 {"source": "$dir/initrd.img", "path": "initrd.img", "role": "initrd"},
 {"source": "$dir/disk.raw.zst", "path": "disk.raw.zst", "role": "disk-image",
  "metadata": {"os": "debian", "os_version": "12", "arch": "amd64", "compression": "zstd",
   "raw_size": $(stat -c %s "$dir/disk.raw")}}]}
SPEC
	"$OUTPOST" bundle create "$dir/spec.json" --key "$TREE/bundles/keys/test.key" \
		--output "$dir/test-os.bundle" > /dev/null || return 1
	OUTPOST_SOCKET=$SOCKET "$OUTPOST" bundle load "$dir/test-os.bundle" > /dev/null
}

# Print a free TCP port on 127.0.0.1.
deploy_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Attach a new sparse file of SIZE as a loop device with partition scanning; prints it.
# The device is listed in $WORK/loops, because callers run this in a subshell.
deploy_loop_new() {
	local file dev
	file=$(mktemp "$WORK/disk-XXXXXX")
	truncate -s "$1" "$file"
	dev=$(losetup -f --show -P "$file") || return 1
	echo "$dev" >> "$WORK/loops"
	echo "$dev"
}

# Detach every loop device deploy_loop_new attached.
deploy_loops_free() {
	local dev
	[ -f "$WORK/loops" ] || return 0
	while read -r dev; do
		losetup -d "$dev" 2> /dev/null
	done < "$WORK/loops"
	rm -f "$WORK/loops"
}

# Run the agent as the ramdisk would, with TOKEN against DISK; extra args follow.
# Usage: deploy_agent_run MODE TOKEN DISK [agent args...]
deploy_agent_run() {
	local mode=$1 token=$2 disk=$3
	shift 3
	printf 'console=ttyS0 outpost.url=http://127.0.0.1:%s outpost.mode=%s outpost.token=%s BOOTIF=01-52-54-00-aa-00-01\n' \
		"$BOOT_PORT" "$mode" "$token" > "$WORK/cmdline"
	"$AGENT" --cmdline "$WORK/cmdline" --disk "$disk" --no-reboot "$@" 2>> "$WORK/agent.log"
}
