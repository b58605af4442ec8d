#!/bin/sh
# Install the Debian 12 packages Outpost needs, by group, with apt-get.
# Usage: tools/deps.sh [build] [test] [bench] [recipes] [ddi] [lab] [ramdisk] ... (default: all groups)
# Idempotent: packages already installed are left as they are. Needs root.
set -eu

# xorriso is a runtime dependency too: the daemon runs it to build virtual-media ISOs.
build="build-essential pkg-config libmicrohttpd-dev libsqlite3-dev libjansson-dev
libssl-dev libcurl4-openssl-dev libsystemd-dev libzstd-dev libfreeipmi-dev xorriso"
test="libcmocka-dev clang libclang-rt-14-dev curl jq openssl sqlite3 util-linux
iproute2 procps libarchive-tools gdisk e2fsprogs zstd nginx-light openipmi ipmitool
genisoimage socat qemu-system-x86 xorriso busybox grub-efi-amd64-bin grub-pc-bin
grub-common dosfstools mtools"
bench="wrk nginx-light dnsperf kea-admin radvd curl jq openssl iproute2"
recipes="mmdebstrap gdisk e2fsprogs dosfstools mtools zstd debian-archive-keyring jq ovmf
seabios qemu-system-x86 cloud-image-utils"
ddi="kea-dhcp4-server kea-common pdns-server pdns-backend-sqlite3 tftpd-hpa tftp-hpa ipxe
bind9-dnsutils socat busybox ndisc6"
lab="$ddi qemu-system-x86 ovmf openssh-client openipmi openssl curl jq xorriso"
# The ramdisk builder fetches its kernel and busybox with apt-get download and
# installs neither. kmod provides depmod; grub-pc-bin, dosfstools and mtools build
# the El Torito images of virtual-media ISOs (bootenv/cdboot).
ramdisk="cpio zstd kmod file qemu-system-x86 grub-efi-amd64-bin grub-pc-bin grub-common
dosfstools mtools"

groups="${*:-build test bench recipes ddi lab ramdisk}"
wanted=""
for group in $groups; do
	case "$group" in
	build) wanted="$wanted $build" ;;
	test) wanted="$wanted $test" ;;
	bench) wanted="$wanted $bench" ;;
	recipes) wanted="$wanted $recipes" ;;
	ddi) wanted="$wanted $ddi" ;;
	lab) wanted="$wanted $lab" ;;
	ramdisk) wanted="$wanted $ramdisk" ;;
	*) echo "deps.sh: unknown group '$group'; use build, test, bench, recipes, ddi, lab or ramdisk" >&2; exit 2 ;;
	esac
done

missing=""
for package in $wanted; do
	status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $package" ;;
	esac
done

if [ -z "$missing" ]; then
	echo "deps.sh: all packages for '$groups' are installed"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages:$missing; run 'make deps' as root" >&2
	exit 1
fi

echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
