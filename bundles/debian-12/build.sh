#!/bin/bash
# Build the payload and spec of the debian-12 bundle in WORKDIR: a Debian 12 amd64
# raw disk image that boots under BIOS and UEFI, compressed with zstd, and the
# image's kernel and initrd. bundles/build.sh runs this and signs the result.
#
# Usage: bundles/debian-12/build.sh WORKDIR   (as root)
# Writes WORKDIR/spec.json, whose sources are relative to WORKDIR.
#
# Environment:
#   DEBIAN_MIRROR           default http://deb.debian.org/debian
#   DEBIAN_SECURITY_MIRROR  default http://deb.debian.org/debian-security
#   IMAGE_SIZE_MIB          raw image size in MiB, default 2048
#   ZSTD_LEVEL              zstd level for the image, default 12
#
# The image is assembled in plain files, without loop devices or mounts.
# mkfs.ext4 -d fills the root file system from a directory, and mkfs.vfat and
# mtools make the EFI system partition. sgdisk writes the GPT. In place of
# grub-install, this script writes GRUB's boot.img and core.img to the image.
set -euo pipefail

recipe_dir=$(cd "$(dirname "$0")" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
image_size_mib=${IMAGE_SIZE_MIB:-2048}
zstd_level=${ZSTD_LEVEL:-12}

# Packages on top of mmdebstrap's minbase variant (required-priority packages and apt).
# grub-pc-bin and grub-efi-amd64-bin give the BIOS and UEFI GRUB platform files
# without the grub-pc and grub-efi-amd64 maintainer scripts, which run
# grub-install and grub-probe and so need a mounted block device.
packages=linux-image-amd64,systemd-sysv,udev,cloud-init,cloud-guest-utils,openssh-server
packages=$packages,sudo,ifupdown,isc-dhcp-client,iproute2,netbase,dosfstools
packages=$packages,grub-pc-bin,grub-efi-amd64-bin,grub2-common

# Partition layout in 512-byte sectors. The root partition comes last so that
# cloud-init's growpart can grow it to fill a larger disk.
bios_boot_start=2048 # 1 MiB BIOS boot partition for GRUB's core.img
esp_start=4096       # EFI system partition, up to 128 MiB
root_start=262144    # root file system, to the end of the disk

die() {
	echo "debian-12: $*" >&2
	exit 1
}

# Fail unless TOOL is on PATH, naming the Debian package that provides it.
need() {
	command -v "$1" >/dev/null 2>&1 || die "required tool '$1' not found; install the Debian package '$2' (apt-get install $2)"
}

# Write VALUE as COUNT little-endian bytes at byte OFFSET of FILE.
write_le() {
	local file=$1 offset=$2 value=$3 count=$4 bytes="" i
	for ((i = 0; i < count; i++)); do
		bytes+=$(printf '\\x%02x' $((value & 255)))
		value=$((value >> 8))
	done
	printf '%b' "$bytes" | dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
}

# Print the unsigned little-endian integer of COUNT bytes at byte OFFSET of FILE.
read_le() {
	local file=$1 offset=$2 count=$3 value=0 i
	local -a bytes
	read -r -a bytes < <(od -A n -t u1 -j "$offset" -N "$count" "$file")
	for ((i = count - 1; i >= 0; i--)); do
		value=$((value * 256 + bytes[i]))
	done
	echo "$value"
}

[ $# -eq 1 ] || die "usage: $0 WORKDIR"
work=$1
[ "$(id -u)" = 0 ] || die "must run as root: mmdebstrap's root mode and mkfs.ext4 -d need the image's files owned by their real users"

need mmdebstrap mmdebstrap
need sgdisk gdisk
need mkfs.ext4 e2fsprogs
need mkfs.vfat dosfstools
need mmd mtools
need mcopy mtools
need zstd zstd
need sha256sum coreutils
need chroot coreutils
[ -r /usr/share/keyrings/debian-archive-keyring.gpg ] ||
	die "Debian's archive keyring /usr/share/keyrings/debian-archive-keyring.gpg not found; install the Debian package 'debian-archive-keyring'"

mkdir -p "$work"
work=$(cd "$work" && pwd)
rootfs=$work/rootfs
raw=$work/disk.raw
rm -rf "$rootfs" "$raw" "$work/esp.img" "$work/root.img" "$work/payload"
mkdir -p "$work/payload"

root_uuid=$(cat /proc/sys/kernel/random/uuid)
esp_serial=$(od -A n -t x4 -N 4 /dev/urandom | tr -d ' \n' | tr a-f A-F)
esp_uuid=${esp_serial:0:4}-${esp_serial:4:4}

echo "debian-12: bootstrapping Debian 12 from $mirror" >&2
# The path-exclude options drop manual pages and documentation other than the
# copyright files. mmdebstrap also writes them to /etc/dpkg/dpkg.cfg.d/ in the
# image, so packages installed later are trimmed the same way.
mmdebstrap --variant=minbase --arch=amd64 --include="$packages" \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	bookworm "$rootfs" \
	"deb $mirror bookworm main" \
	"deb $mirror bookworm-updates main" \
	"deb $security_mirror bookworm-security main"

debian_version=$(cat "$rootfs/etc/debian_version")
case "$debian_version" in
12.*) ;;
*) die "unexpected /etc/debian_version '$debian_version' in the bootstrapped system; expected 12.N" ;;
esac
kernel_file=$(readlink "$rootfs/vmlinuz")
kernel_version=${kernel_file##*/vmlinuz-}

echo "debian-12: configuring Debian $debian_version, kernel $kernel_version" >&2
# mmdebstrap copies the build machine's hostname and resolv.conf into the image.
echo debian >"$rootfs/etc/hostname"
rm -f "$rootfs/etc/resolv.conf"
cat >"$rootfs/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
mkdir -p "$rootfs/boot/efi"
cat >"$rootfs/etc/fstab" <<EOF
UUID=$root_uuid	/	ext4	errors=remount-ro	0	1
UUID=$esp_uuid	/boot/efi	vfat	umask=0077,nofail	0	2
EOF
# Every machine made from the image would share these keys. cloud-init's ssh
# module makes new ones on first boot, before ssh.service starts.
rm -f "$rootfs"/etc/ssh/ssh_host_*
cat >"$rootfs/etc/cloud/cloud.cfg.d/90_outpost.cfg" <<'EOF'
# Outpost provisions machines with NoCloud seeds (a local cidata volume or a
# ds=nocloud-net URL on the kernel command line). Listing only NoCloud keeps
# cloud-init from probing the network metadata services of other clouds.
datasource_list: [ NoCloud, None ]
# cloud-init's default locale on Debian, en_US.UTF-8, is not generated in this
# image, so its locale module would fail. C.UTF-8 is built into libc.
locale: C.UTF-8
EOF

# GRUB: one grub.cfg in the root file system serves both platforms. The
# /vmlinuz and /initrd.img symbolic links follow kernel upgrades.
kernel_cmdline="root=UUID=$root_uuid ro console=tty0 console=ttyS0,115200n8"
mkdir -p "$rootfs/boot/grub"
cp -r "$rootfs/usr/lib/grub/i386-pc" "$rootfs/usr/lib/grub/x86_64-efi" "$rootfs/boot/grub/"
cat >"$rootfs/boot/grub/grub.cfg" <<EOF
set default=0
set timeout=3
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
insmod part_gpt
insmod ext2
insmod all_video
search --no-floppy --fs-uuid --set=root $root_uuid
menuentry 'Debian GNU/Linux 12' {
	linux /vmlinuz $kernel_cmdline
	initrd /initrd.img
}
EOF
# The config built into core.img and BOOTX64.EFI finds the root file system by
# UUID, so the image boots whatever the disk's number is.
cat >"$rootfs/tmp/grub-early.cfg" <<EOF
search --no-floppy --fs-uuid --set=root $root_uuid
set prefix=(\$root)/boot/grub
EOF
core_modules="part_gpt ext2 search search_fs_uuid normal configfile"
# shellcheck disable=SC2086
chroot "$rootfs" grub-mkimage -O i386-pc -o /tmp/core.img -c /tmp/grub-early.cfg \
	-p /boot/grub biosdisk $core_modules
# shellcheck disable=SC2086
chroot "$rootfs" grub-mkimage -O x86_64-efi -o /tmp/bootx64.efi -c /tmp/grub-early.cfg \
	-p /boot/grub fat $core_modules
mv "$rootfs/tmp/core.img" "$rootfs/tmp/bootx64.efi" "$work/"
cp "$rootfs/usr/lib/grub/i386-pc/boot.img" "$work/boot.img"
rm -f "$rootfs/tmp/grub-early.cfg"

cp -L "$rootfs/vmlinuz" "$work/payload/vmlinuz"
cp -L "$rootfs/initrd.img" "$work/payload/initrd.img"

echo "debian-12: writing the ${image_size_mib} MiB disk image" >&2
truncate -s "${image_size_mib}M" "$raw"
sgdisk --clear \
	--new=1:$bios_boot_start:$((esp_start - 1)) --typecode=1:EF02 --change-name=1:bios-boot \
	--new=2:$esp_start:$((root_start - 1)) --typecode=2:EF00 --change-name=2:esp \
	--new=3:$root_start:0 --typecode=3:8304 --change-name=3:root \
	"$raw" >/dev/null
root_end=$(sgdisk --info=3 "$raw" | sed -n 's/^Last sector: \([0-9]*\).*/\1/p')
[ -n "$root_end" ] || die "sgdisk --info=3 printed no last sector for the root partition"

# EFI system partition: GRUB at the removable-media path, which UEFI firmware
# boots without a boot entry in its NVRAM.
mkfs.vfat -F 32 -n ESP -i "$esp_serial" -C "$work/esp.img" $(((root_start - esp_start) / 2)) >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "$work/esp.img" "$work/bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
dd if="$work/esp.img" of="$raw" bs=512 seek=$esp_start conv=notrunc,sparse status=none

# Root file system, as large as the partition. mke2fs rounds the size down to
# whole 4 KiB blocks.
truncate -s $(((root_end - root_start + 1) * 512)) "$work/root.img"
mkfs.ext4 -q -F -L root -U "$root_uuid" -d "$rootfs" "$work/root.img"
dd if="$work/root.img" of="$raw" bs=1M seek=$((root_start / 2048)) conv=notrunc,sparse status=none
rm -f "$work/root.img" "$work/esp.img"

# BIOS boot, as grub-bios-setup does it for a GPT disk with a BIOS boot
# partition. core.img's first sector (diskboot.img) ends with a block list
# {u64 start sector, u16 sector count, u16 load segment} for the rest of
# core.img. grub-mkimage sets the count; the start sector is set here.
core_sectors=$((($(stat -c %s "$work/core.img") + 511) / 512))
[ "$core_sectors" -le $((esp_start - bios_boot_start)) ] ||
	die "core.img is $core_sectors sectors, larger than the BIOS boot partition ($((esp_start - bios_boot_start)) sectors)"
[ "$(read_le "$work/core.img" 508 2)" = $((core_sectors - 1)) ] ||
	die "core.img's block list at byte 500 does not contain the expected sector count $((core_sectors - 1)); check grub-mkimage's diskboot.img layout"
write_le "$work/core.img" 500 $((bios_boot_start + 1)) 8
dd if="$work/core.img" of="$raw" bs=512 seek=$bios_boot_start conv=notrunc status=none
# boot.img is the MBR boot code. Byte 0x5c contains the u64 sector of core.img.
# The 2-byte jump at 0x66 skips a fix for BIOSes that pass a wrong boot drive
# number; grub-bios-setup replaces it with two NOPs for hard disks, and so does
# this script. Only bytes 0 to 439 are written, so the protective MBR's disk
# signature and partition table stay as sgdisk wrote them.
write_le "$work/boot.img" $((0x5c)) $bios_boot_start 8
write_le "$work/boot.img" $((0x66)) $((0x9090)) 2
dd if="$work/boot.img" of="$raw" bs=440 count=1 conv=notrunc status=none

echo "debian-12: compressing the disk image with zstd -$zstd_level" >&2
raw_size=$(stat -c %s "$raw")
raw_sha256=$(sha256sum "$raw" | cut -d ' ' -f 1)
zstd -q -T0 "-$zstd_level" --rm -f "$raw" -o "$work/payload/disk.raw.zst"

# The bundle version is the Debian point release and the build date (UTC):
# 12.15.20250520. SOURCE_DATE_EPOCH, when set, gives the date.
build_date=$(date -u ${SOURCE_DATE_EPOCH:+-d "@$SOURCE_DATE_EPOCH"} +%Y%m%d)
version=$debian_version.$build_date
sed -e "s/@VERSION@/$version/g" \
	-e "s/@DEBIAN_VERSION@/$debian_version/g" \
	-e "s/@KERNEL_VERSION@/$kernel_version/g" \
	-e "s/@RAW_SIZE@/$raw_size/g" \
	-e "s/@RAW_SHA256@/$raw_sha256/g" \
	"$recipe_dir/spec.json.in" >"$work/spec.json"

rm -rf "$rootfs" "$work/core.img" "$work/boot.img" "$work/bootx64.efi"
echo "debian-12: payload ready: version $version, raw image $raw_size bytes" >&2
