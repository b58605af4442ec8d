#!/bin/bash
# Build and sign bundles from the recipes in this folder.
#
# Usage: bundles/build.sh OUTDIR RECIPE...   (recipes: debian-12, firmware, ramdisk)
#
# Each recipe's build.sh writes a payload and spec.json in a work folder under
# OUTDIR. This script signs them into OUTDIR/NAME-VERSION.bundle with
# `outpost bundle create --zstd` and checks the result with `outpost bundle
# verify`. OUTDIR/RECIPE.stamp records a SHA-256 over the recipe's folder, the
# files its `inputs` file lists (paths relative to the checkout), this script,
# and the bundle's file name. A recipe is rebuilt only when that
# hash changes or its bundle is missing. Changes elsewhere, such as a newer
# Debian package, do not trigger a rebuild: set FORCE=1 for that.
#
# Environment:
#   OUTPOST   the outpost binary (default: build/outpost in this checkout)
#   KEY       the signing key (default: bundles/keys/test.key)
#   FORCE     1 rebuilds every named recipe, even when its stamp matches
#   KEEP_WORK 1 keeps each recipe's work folder, for debugging
set -euo pipefail

bundles_dir=$(cd "$(dirname "$0")" && pwd)
repo_dir=$(dirname "$bundles_dir")
outpost=${OUTPOST:-$repo_dir/build/outpost}
key=${KEY:-$bundles_dir/keys/test.key}

die() {
	echo "bundles/build.sh: $*" >&2
	exit 1
}

# Fail unless TOOL is on PATH, naming the Debian package that provides it.
need() {
	command -v "$1" >/dev/null 2>&1 || die "required tool '$1' not found; install the Debian package '$2' (apt-get install $2)"
}

# Print a SHA-256 over the paths and contents of the recipe's files and this script.
recipe_hash() {
	(
		cd "$bundles_dir"
		find "$1" -type f -print | LC_ALL=C sort | xargs -d '\n' sha256sum
		if [ -f "$1/inputs" ]; then
			(cd "$repo_dir" && grep -v '^#' "$bundles_dir/$1/inputs" | xargs -d '\n' sha256sum)
		fi
		sha256sum build.sh
	) | sha256sum | cut -d ' ' -f 1
}

# Build RECIPE into OUTDIR unless its stamp matches.
build_recipe() {
	local recipe=$1 recipe_dir=$bundles_dir/$1 stamp=$outdir/$1.stamp
	local hash old_hash="" old_bundle="" work spec bundle started

	[ -x "$recipe_dir/build.sh" ] || die "unknown recipe '$recipe': $recipe_dir/build.sh not found or not executable"
	hash=$(recipe_hash "$recipe")
	if [ -f "$stamp" ]; then
		{ read -r old_hash && read -r old_bundle; } <"$stamp" || true
	fi
	if [ "${FORCE:-0}" != 1 ] && [ "$old_hash" = "$hash" ] && [ -n "$old_bundle" ] && [ -f "$outdir/$old_bundle" ]; then
		echo "bundles/build.sh: $recipe: up to date ($outdir/$old_bundle)" >&2
		return 0
	fi

	started=$(date +%s)
	work=$(mktemp -d "$outdir/.$recipe.work.XXXXXX")
	# mktemp makes the folder 0700. mmdebstrap's downloads run as the _apt user.
	chmod 755 "$work"
	echo "bundles/build.sh: $recipe: building in $work" >&2
	"$recipe_dir/build.sh" "$work" || die "$recipe: $recipe_dir/build.sh failed; its work folder $work is left for inspection"

	spec=$work/spec.json
	[ -f "$spec" ] || die "$recipe: $recipe_dir/build.sh wrote no $spec"
	bundle=$(jq -r '.name + "-" + .version' "$spec").bundle
	"$outpost" bundle create "$spec" --key "$key" --output "$outdir/$bundle" --zstd --force
	if [ -f "${key%.key}.pub" ]; then
		"$outpost" bundle verify "$outdir/$bundle" --trusted-key "${key%.key}.pub" --allow-test-keys >/dev/null ||
			die "$recipe: $outdir/$bundle does not verify with ${key%.key}.pub"
	fi

	if [ -n "$old_bundle" ] && [ "$old_bundle" != "$bundle" ]; then
		rm -f "$outdir/$old_bundle"
	fi
	printf '%s\n%s\n' "$hash" "$bundle" >"$stamp.tmp"
	mv "$stamp.tmp" "$stamp"
	if [ "${KEEP_WORK:-0}" != 1 ]; then
		rm -rf "$work"
	fi
	echo "bundles/build.sh: $recipe: wrote $outdir/$bundle ($(stat -c %s "$outdir/$bundle") bytes) in $(($(date +%s) - started)) s" >&2
}

[ $# -ge 2 ] || die "usage: bundles/build.sh OUTDIR RECIPE... (recipes: debian-12, firmware, ramdisk)"
need jq jq
need sha256sum coreutils
need mktemp coreutils
[ -x "$outpost" ] || die "outpost binary '$outpost' not found; run make and set OUTPOST to its path (for example OUTPOST=build/outpost)"
[ -r "$key" ] || die "signing key '$key' not found or not readable; set KEY to an Ed25519 key from 'outpost bundle keygen'"

mkdir -p "$1"
outdir=$(cd "$1" && pwd)
shift
for recipe in "$@"; do
	build_recipe "$recipe"
done
