#!/bin/bash
# Build the payload and spec of the firmware bundle in WORKDIR: the OVMF (UEFI)
# and SeaBIOS (BIOS) builds that Debian ships for QEMU, taken from the ovmf and
# seabios packages installed on this machine. bundles/build.sh runs this and
# signs the result.
#
# Usage: bundles/firmware/build.sh WORKDIR
# Writes WORKDIR/spec.json, whose sources are relative to WORKDIR.
set -euo pipefail

recipe_dir=$(cd "$(dirname "$0")" && pwd)
ovmf_code=/usr/share/OVMF/OVMF_CODE_4M.fd
seabios_image=/usr/share/seabios/bios-256k.bin

die() {
	echo "firmware: $*" >&2
	exit 1
}

# Print the installed version of Debian package NAME, or fail naming it.
package_version() {
	local status
	status=$(dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null || true)
	case "$status" in
	"install ok installed "*) echo "${status##* }" ;;
	*) die "the Debian package '$1' is not installed; install it (apt-get install $1)" ;;
	esac
}

# Print the numbers of an OVMF Debian version as a bundle version:
# 2022.11-6+deb12u2 becomes 2022.11.6.2 (upstream, Debian revision, stable
# update), 2022.11-6 becomes 2022.11.6.0. Leading zeros are dropped, as the
# bundle format requires: 2023.05 becomes 2023.5.
ovmf_bundle_numbers() {
	local version=${1#*:} upstream revision update=0 numbers="" part
	upstream=${version%-*}
	revision=${version##*-}
	if [[ $revision =~ \+deb[0-9]+u([0-9]+) ]]; then
		update=${BASH_REMATCH[1]}
	fi
	revision=${revision%%[!0-9]*}
	for part in ${upstream//./ } "${revision:-0}" "$update"; do
		[[ $part =~ ^[0-9]+$ ]] || die "cannot turn the ovmf version '$1' into bundle version numbers: '$part' is not a number"
		numbers+=.$((10#$part))
	done
	echo "${numbers#.}"
}

[ $# -eq 1 ] || die "usage: $0 WORKDIR"
work=$1
command -v dpkg-query >/dev/null 2>&1 || die "required tool 'dpkg-query' not found; install the Debian package 'dpkg'"

ovmf_version=$(package_version ovmf)
seabios_version=$(package_version seabios)
[ -r "$ovmf_code" ] || die "$ovmf_code not found; reinstall the Debian package 'ovmf'"
[ -r "$seabios_image" ] || die "$seabios_image not found; reinstall the Debian package 'seabios'"

# The bundle version follows both packages: OVMF's numbers, and a tag with
# SeaBIOS's version, for example 2022.11.6.2-seabios1.16.2.1.
# NOTE: the format orders tags as byte strings, so a SeaBIOS update changes
# the tag but is not always ordered as newer (seabios1.9 sorts after seabios1.16).
seabios_tag=seabios$(echo "${seabios_version#*:}" | tr -c 'a-z0-9.\n' '.')
version=$(ovmf_bundle_numbers "$ovmf_version")-$seabios_tag
[[ $version =~ ^[0-9]+(\.[0-9]+){0,3}-[a-z0-9.]{1,32}$ ]] ||
	die "bundle version '$version' from ovmf $ovmf_version and seabios $seabios_version is not a valid bundle version"

mkdir -p "$work/payload"
cp "$ovmf_code" "$seabios_image" "$work/payload/"
sed -e "s/@VERSION@/$version/g" \
	-e "s/@OVMF_VERSION@/$ovmf_version/g" \
	-e "s/@SEABIOS_VERSION@/$seabios_version/g" \
	"$recipe_dir/spec.json.in" >"$work/spec.json"
echo "firmware: payload ready: version $version (ovmf $ovmf_version, seabios $seabios_version)" >&2
