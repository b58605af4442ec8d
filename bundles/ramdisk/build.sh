#!/bin/bash
# Build the payload and spec of the ramdisk bundle in WORKDIR: the netboot kernel and
# initramfs that bootenv/ramdisk/build.sh makes from Debian 12's linux-image-amd64 and
# busybox-static, the UEFI local-disk boot program and the two El Torito images of
# virtual-media ISOs. bundles/build.sh runs this and signs the result.
#
# Usage: bundles/ramdisk/build.sh WORKDIR
# Writes WORKDIR/spec.json, whose sources are relative to WORKDIR. The ramdisk itself is
# built, and cached, in the folder beside WORKDIR named ramdisk.
set -euo pipefail

recipe_dir=$(cd "$(dirname "$0")" && pwd)
repo_dir=$(dirname "$(dirname "$recipe_dir")")
# Raise this when bootenv/ramdisk changes while the kernel stays the same, so the new
# bundle's version is higher than the one a site has loaded.
# NOTE: the format orders tags as byte strings, so r10 sorts before r9; use r01 to r99.
revision=r06

die() {
	echo "ramdisk: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: $0 WORKDIR"
work=$1
cache=$(dirname "$work")/ramdisk

"$repo_dir/bootenv/ramdisk/build.sh" "$cache" || die "bootenv/ramdisk/build.sh failed"
for file in vmlinuz initrd.img localboot.efi cdboot-efi.img cdboot-bios.img; do
	[ -r "$cache/$file" ] || die "$cache lacks $file; bootenv/ramdisk/build.sh should have written it"
done

# The kernel's Debian version, such as 6.1.192-3, from the image's build string
# ("... #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26) ...").
kernel=$(file -b "$cache/vmlinuz" | sed -n 's/.* Debian \([0-9][0-9.]*-[0-9][^ ]*\) .*/\1/p')
[ -n "$kernel" ] || die "cannot read the kernel version of $cache/vmlinuz"
numbers=$(echo "$kernel" | grep -oE '^[0-9]+\.[0-9]+\.[0-9]+')
version=$numbers-$revision
[[ $version =~ ^[0-9]+(\.[0-9]+){0,3}-[a-z0-9.]{1,32}$ ]] ||
	die "bundle version '$version' from kernel $kernel is not a valid bundle version"

mkdir -p "$work/payload"
cp "$cache/vmlinuz" "$cache/initrd.img" "$cache/localboot.efi" "$cache/cdboot-efi.img" \
	"$cache/cdboot-bios.img" "$work/payload/"
sed -e "s/@VERSION@/$version/g" -e "s/@KERNEL@/$kernel/g" \
	"$recipe_dir/spec.json.in" >"$work/spec.json"
echo "ramdisk: payload ready: version $version (kernel $kernel)" >&2
