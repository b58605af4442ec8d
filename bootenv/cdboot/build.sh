#!/bin/sh
# Build the two El Torito boot images that Outpost's virtual-media ISOs start from,
# both with bootenv/cdboot/grub.cfg embedded, from Debian's GRUB packages:
#   OUTDIR/cdboot-efi.img   a FAT image (the EFI system partition of the CD) holding
#                           EFI/BOOT/BOOTX64.EFI, GRUB from grub-efi-amd64-bin
#   OUTDIR/cdboot-bios.img  GRUB for BIOS from grub-pc-bin, in the i386-pc-eltorito
#                           format, which the BIOS loads with no emulation
# The ramdisk bundle carries both. Two builds from the same GRUB packages and the
# same SOURCE_DATE_EPOCH give the same bytes.
# Usage: bootenv/cdboot/build.sh OUTDIR
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
efi_modules=/usr/lib/grub/x86_64-efi
bios_modules=/usr/lib/grub/i386-pc

fail() {
	echo "cdboot: $*" >&2
	exit 1
}

for tool in grub-mkimage mkfs.fat mmd mcopy; do
	command -v "$tool" >/dev/null 2>&1 ||
		fail "required tool '$tool' not found; run 'tools/deps.sh ramdisk' as root"
done
[ -d "$efi_modules" ] || fail "$efi_modules is missing; install grub-efi-amd64-bin ('tools/deps.sh ramdisk')"
[ -d "$bios_modules" ] || fail "$bios_modules is missing; install grub-pc-bin ('tools/deps.sh ramdisk')"
# The FAT image's dates: SOURCE_DATE_EPOCH, else 2000-01-01, because FAT cannot
# store dates before 1980.
epoch=${SOURCE_DATE_EPOCH:-946684800}

# Modules both programs need: read the ISO, find it by its file, read its grub.cfg
# and its menu, and boot a Linux kernel with an initrd.
common="iso9660 search search_fs_file configfile normal linux echo sleep reboot test"

# UEFI: the firmware starts EFI/BOOT/BOOTX64.EFI from the FAT image that the ISO's
# EFI El Torito entry points at. all_video lets GRUB hand the kernel the GOP frame
# buffer, so a BMC's remote console shows the kernel's messages.
grub-mkimage -O x86_64-efi -d "$efi_modules" -p /outpost -c "$dir/grub.cfg" \
	-o "$out/cdboot.efi.tmp" $common all_video
# The image is the EFI program plus 64 KiB for FAT's tables and directories, rounded up
# to whole 32 KiB, as mkfs.fat counts in KiB.
kib=$((($(stat -c %s "$out/cdboot.efi.tmp") / 1024 + 64 + 31) / 32 * 32))
rm -f "$out/cdboot-efi.img.tmp"
# --invariant and a fixed volume id replace mkfs.fat's random and clock-based fields.
mkfs.fat --invariant -i 4f555450 -n OUTPOSTCD -C "$out/cdboot-efi.img.tmp" "$kib" >/dev/null
touch -d "@$epoch" "$out/cdboot.efi.tmp"
# mtools dates new directories by the clock unless SOURCE_DATE_EPOCH is set (Debian
# 12's mtools 4.0.32 reads it), and mcopy -m keeps the program's own date.
SOURCE_DATE_EPOCH=$epoch MTOOLS_SKIP_CHECK=1 mmd -i "$out/cdboot-efi.img.tmp" ::/EFI ::/EFI/BOOT
SOURCE_DATE_EPOCH=$epoch MTOOLS_SKIP_CHECK=1 mcopy -m -i "$out/cdboot-efi.img.tmp" \
	"$out/cdboot.efi.tmp" ::/EFI/BOOT/BOOTX64.EFI
rm -f "$out/cdboot.efi.tmp"

# BIOS: the El Torito image is cdboot.img followed by GRUB's core; biosdisk reads
# the CD through the BIOS.
grub-mkimage -O i386-pc-eltorito -d "$bios_modules" -p /outpost -c "$dir/grub.cfg" \
	-o "$out/cdboot-bios.img.tmp" biosdisk $common

touch -d "@$epoch" "$out/cdboot-efi.img.tmp" "$out/cdboot-bios.img.tmp"
mv "$out/cdboot-efi.img.tmp" "$out/cdboot-efi.img"
mv "$out/cdboot-bios.img.tmp" "$out/cdboot-bios.img"
