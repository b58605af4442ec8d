#!/bin/sh
# Build localboot.efi: a GRUB EFI program from Debian's grub-efi-amd64-bin with
# bootenv/localboot/grub.cfg embedded, which starts the boot loader on a deployed
# machine's EFI system partition. The ramdisk bundle carries it.
# Usage: bootenv/localboot/build.sh OUTFILE
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 OUTFILE" >&2; exit 2; }
modules=/usr/lib/grub/x86_64-efi
command -v grub-mkimage >/dev/null 2>&1 && [ -d "$modules" ] || {
	echo "localboot: grub-mkimage or $modules is missing; run 'tools/deps.sh ramdisk' as root" >&2
	exit 1
}
# SOURCE_DATE_EPOCH is not read by grub-mkimage, but nothing in the image is dated.
grub-mkimage -O x86_64-efi -d "$modules" -p /EFI/BOOT -c "$dir/grub.cfg" -o "$1.tmp" \
	part_gpt part_msdos fat search search_fs_file chain echo sleep
mv "$1.tmp" "$1"
