#!/bin/bash
# Build the Outpost deploy/discovery ramdisk: OUTDIR/vmlinuz, the kernel of
# Debian 12's linux-image-amd64, and OUTDIR/initrd.img, a newc cpio holding
# busybox, the kernel modules in RAMDISK_MODULES and bootenv/ramdisk/init.
#
# Usage: bootenv/ramdisk/build.sh OUTDIR
#
# The kernel and busybox-static packages are fetched with `apt-get download` and
# unpacked with `dpkg-deb -x` under OUTDIR/.cache, so nothing is installed on the
# host. The versions are apt's candidates, so `apt-get update` moves the ramdisk
# to the current kernel. The build is skipped when the package versions, this
# script, init and SOURCE_DATE_EPOCH are unchanged.
#
# Environment:
#   SOURCE_DATE_EPOCH  mtime of every file in the initramfs (default: the mtime
#                      of the kernel image in its package)
#   OUTPOST_AGENT      the outpost-agent binary to install as /sbin/outpost-agent,
#                      with the shared libraries it links (make ramdisk sets it)
#
# Sourcing this file only defines its functions, so tests can call copy_exec.
# Root is not needed: cpio -R 0:0 makes root the owner of every entry.

ramdisk_src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Modules loaded at boot, with their dependencies from modules.dep. They cover
# the disks and NICs of a QEMU guest (virtio, e1000, e1000e, AHCI) and of common
# servers (NVMe, LSI/Broadcom SAS and MegaRAID, Intel and Broadcom NICs).
# ext4 and jbd2 look up "crc32c" through the crypto API, and sd_mod's T10-PI
# support looks up crct10dif and crc64-rocksoft, so their implementations are
# listed too. Names not built as modules, such as built-in ones, are skipped.
RAMDISK_MODULES=(
	virtio_pci virtio_blk virtio_scsi virtio_net virtio_rng
	ahci sd_mod nvme megaraid_sas mpt3sas
	e1000 e1000e igb ixgbe i40e tg3 bnxt_en
	ext4 vfat nls_cp437 nls_ascii nls_utf8
	crc32c_generic crc32c_intel crct10dif_generic crct10dif_pclmul crc64_rocksoft_generic
	ipmi_devintf
)
# Modules whose hardware a server may lack: ipmi_si fails with ENODEV without a BMC.
# init loads them from /etc/modules.optional and reports a failure as a note.
RAMDISK_OPTIONAL_MODULES=(ipmi_si)

ramdisk_log() {
	echo "ramdisk: $*" >&2
}

ramdisk_die() {
	ramdisk_log "$*"
	exit 1
}

# Copy SOURCE to DEST, an absolute path inside the tree $DESTDIR, creating
# parent directories. A symlink is copied as the file it points to.
copy_file() {
	local source=$1 dest=$2

	case "$dest" in
	/*) ;;
	*) ramdisk_log "copy_file: destination '$dest' is not an absolute path"; return 1 ;;
	esac
	mkdir -p "$DESTDIR$(dirname "$dest")" || return 1
	cp -L --preserve=mode "$source" "$DESTDIR$dest"
}

# Copy the executable FILE into the tree $DESTDIR as DEST, with every shared
# library that ldd lists and the program loader. DEST defaults to FILE's own
# path, and a DEST ending in / is a directory. Each library goes to the path ldd
# prints, where the loader finds it without /etc/ld.so.cache. A statically
# linked FILE is copied alone. Returns 1 when FILE or a library is not found.
# NOTE: ldd may run FILE's loader on FILE, so FILE must be trusted.
copy_exec() {
	local file=$1 dest=${2:-$1} ldd_output line path

	if [ -z "${DESTDIR:-}" ] || [ ! -d "$DESTDIR" ]; then
		ramdisk_log "copy_exec: DESTDIR '${DESTDIR:-}' is not a directory"
		return 1
	fi
	if [ ! -f "$file" ]; then
		ramdisk_log "copy_exec: '$file' not found"
		return 1
	fi
	case "$dest" in
	*/) dest=$dest$(basename "$file") ;;
	esac
	copy_file "$file" "$dest" || return 1

	# ldd exits 1 for a static executable or a script, and prints why.
	if ! ldd_output=$(LC_ALL=C ldd -- "$file" 2>&1); then
		case "$ldd_output" in
		*"not a dynamic executable"* | *"statically linked"*) return 0 ;;
		*) ramdisk_log "copy_exec: ldd $file failed: $ldd_output"; return 1 ;;
		esac
	fi

	while read -r line; do
		case "$line" in
		*"=> not found"*)
			ramdisk_log "copy_exec: $file needs ${line%% *}, which ldd did not find"
			return 1
			;;
		*" => /"*) path=${line#* => } ;;  # libc.so.6 => /lib/.../libc.so.6 (0x...)
		/*) path=$line ;;                 # /lib64/ld-linux-x86-64.so.2 (0x...)
		*) continue ;;                    # linux-vdso.so.1 (0x...) has no file
		esac
		path=${path%% (0x*}
		copy_file "$path" "$path" || return 1
	done <<<"$ldd_output"
}

# Print the binary package that linux-image-amd64's candidate version depends
# on, such as linux-image-6.1.0-57-amd64.
kernel_package_name() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.1\.0-[0-9]+-amd64$/ { print $2; exit }'
}

# Print apt's candidate version of package NAME.
candidate_version() {
	apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }'
}

# Download package NAME at VERSION with apt-get download and unpack it into
# CACHE/NAME_VERSION, unless that is already done. Of the unpacked files only
# the paths KEEP... (relative to the package root) stay. Prints the tree's path.
fetch_package() {
	local name=$1 version=$2 cache=$3
	local tree=$cache/${name}_${version//:/%3a} download debs path
	shift 3

	if [ "$(cat "$tree/.unpacked" 2>/dev/null)" = "$*" ]; then
		echo "$tree"
		return 0
	fi

	download=$(mktemp -d "$cache/download.XXXXXX")
	# apt-get download, run as root, fetches as the user _apt, which needs to
	# write here. Without root, chown fails and apt fetches as the caller.
	chmod 0755 "$download"
	chown _apt "$download" 2>/dev/null || true
	ramdisk_log "downloading $name $version"
	if ! (cd "$download" && apt-get download -q "$name=$version" >/dev/null); then
		rm -rf "$download"
		ramdisk_die "apt-get download $name=$version failed; if the mirror no longer has that version, run apt-get update"
	fi
	debs=("$download"/*.deb)
	if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ]; then
		ramdisk_die "apt-get download $name=$version left no single .deb in $download"
	fi
	rm -rf "$tree"
	dpkg-deb -x "${debs[0]}" "$download/root"

	# The rest of the package goes, because the Makefile includes every file
	# or directory under $(BUILD) whose name ends in .d, and busybox-static
	# ships usr/share/initramfs-tools/conf-hooks.d.
	mkdir -p "$tree"
	for path in "$@"; do
		[ -e "$download/root/$path" ] || ramdisk_die "$name $version has no $path"
		mkdir -p "$tree/$(dirname "$path")"
		mv "$download/root/$path" "$tree/$path"
	done
	rm -rf "$download"
	# The marker lists the kept paths, so a tree unpacked with others is redone.
	echo "$*" >"$tree/.unpacked"
	echo "$tree"
}

# Print the module files (paths relative to the kernel's module directory
# MODDIR) of the modules named on the command line, followed by their
# dependencies from MODDIR/modules.dep. Hyphens and underscores in names match.
resolve_modules() {
	local moddir=$1
	shift
	awk -v wanted="$*" '
		function modname(path) {
			sub(/.*\//, "", path)
			sub(/\.ko(\.(xz|zst|gz))?$/, "", path)
			gsub(/-/, "_", path)
			return path
		}
		FILENAME ~ /modules\.builtin$/ { builtin[modname($1)] = 1; next }
		{
			file = $1
			sub(/:$/, "", file)
			line[modname(file)] = $0
		}
		END {
			count = split(wanted, names, " ")
			for (i = 1; i <= count; i++) {
				name = names[i]
				gsub(/-/, "_", name)
				if (!(name in line)) {
					if (name in builtin)
						printf "ramdisk: %s is built into the kernel; skipped\n", name > "/dev/stderr"
					else {
						printf "ramdisk: module %s not found in modules.dep; remove it from RAMDISK_MODULES\n", name > "/dev/stderr"
						failed = 1
					}
					continue
				}
				fields = split(line[name], files, " ")
				for (j = 1; j <= fields; j++) {
					sub(/:$/, "", files[j])
					if (!(files[j] in seen)) {
						seen[files[j]] = 1
						print files[j]
					}
				}
			}
			exit failed
		}' "$moddir/modules.builtin" "$moddir/modules.dep"
}

# Print the hash of everything the outputs depend on: the package versions,
# this script, init, the udhcpc script, the GRUB programs' scripts and
# configurations, the agent and SOURCE_DATE_EPOCH.
inputs_hash() {
	{
		printf '%s\n' "$@" "${SOURCE_DATE_EPOCH:-}"
		sha256sum "$ramdisk_src_dir/build.sh" "$ramdisk_src_dir/init" \
			"$ramdisk_src_dir/udhcpc.script" "$ramdisk_src_dir/../localboot/grub.cfg" \
			"$ramdisk_src_dir/../localboot/build.sh" "$ramdisk_src_dir/../cdboot/grub.cfg" \
			"$ramdisk_src_dir/../cdboot/build.sh" ${OUTPOST_AGENT:+"$OUTPOST_AGENT"} |
			cut -d ' ' -f 1
	} | sha256sum | cut -d ' ' -f 1
}

# Fill the initramfs tree DESTDIR from the unpacked kernel package KERNEL_TREE
# (kernel version KVER) and busybox-static package BUSYBOX_TREE.
populate_tree() {
	local kernel_tree=$1 kver=$2 busybox_tree=$3
	local moddir=$kernel_tree/lib/modules/$kver applet file dir

	mkdir -p "$DESTDIR"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,lib/modules/"$kver"}
	chmod 1777 "$DESTDIR/tmp"
	chmod 0700 "$DESTDIR/root"

	# busybox-static is linked statically, so copy_exec copies it alone. Every
	# applet gets a link, so the console shell has the usual commands, and
	# /sbin/modprobe is the path the kernel runs to load modules on demand.
	copy_exec "$busybox_tree/bin/busybox" /bin/busybox
	for applet in $("$DESTDIR/bin/busybox" --list); do
		case "$applet" in
		busybox) continue ;;
		init | linuxrc) continue ;;  # /init is PID 1, so no second init is linked
		modprobe | insmod | rmmod | lsmod | depmod | modinfo | poweroff | reboot | halt | switch_root)
			dir=sbin ;;
		*) dir=bin ;;
		esac
		ln -sf ../bin/busybox "$DESTDIR/$dir/$applet"
	done

	# The package ships no modules.dep (its postinst runs depmod), so depmod
	# runs on the unpacked tree in the cache first, then on the initramfs tree.
	if [ ! -f "$moddir/modules.dep" ]; then
		depmod -b "$kernel_tree" "$kver"
	fi
	resolve_modules "$moddir" "${RAMDISK_MODULES[@]}" "${RAMDISK_OPTIONAL_MODULES[@]}" \
		>"$DESTDIR/.modules" ||
		ramdisk_die "some modules in RAMDISK_MODULES are missing from $kver"
	while read -r file; do
		mkdir -p "$DESTDIR/lib/modules/$kver/$(dirname "$file")"
		cp --preserve=mode "$moddir/$file" "$DESTDIR/lib/modules/$kver/$file"
	done <"$DESTDIR/.modules"
	rm "$DESTDIR/.modules"
	cp "$moddir/modules.order" "$moddir/modules.builtin" "$moddir/modules.builtin.modinfo" \
		"$DESTDIR/lib/modules/$kver/"
	depmod -b "$DESTDIR" "$kver"
	# /etc/modules lists the modules init loads, one a line, as on Debian.
	printf '%s\n' "${RAMDISK_MODULES[@]}" >"$DESTDIR/etc/modules"
	printf '%s\n' "${RAMDISK_OPTIONAL_MODULES[@]}" >"$DESTDIR/etc/modules.optional"

	install -m 0755 "$ramdisk_src_dir/init" "$DESTDIR/init"
	install -m 0755 "$ramdisk_src_dir/udhcpc.script" "$DESTDIR/etc/udhcpc.script"
	# zstd, for the deploy benchmark's reference (bootenv/ramdisk/init, outpost.reference).
	copy_exec "$(command -v zstd)" /bin/zstd || ramdisk_die "cannot copy zstd into the ramdisk"
	# The agent and its libraries (libc, jansson, libcrypto, libzstd) from the host.
	if [ -n "${OUTPOST_AGENT:-}" ]; then
		copy_exec "$OUTPOST_AGENT" /sbin/outpost-agent ||
			ramdisk_die "cannot copy $OUTPOST_AGENT and its libraries into the ramdisk"
	else
		ramdisk_log "OUTPOST_AGENT is not set; the ramdisk has no agent and can only boot to a shell"
	fi
}

# Write the tree DESTDIR as a newc cpio to stdout: entries sorted, owned by
# root, every mtime SOURCE_DATE_EPOCH, inode and device numbers zeroed by
# --reproducible, so the same inputs give the same bytes.
write_cpio() {
	find "$DESTDIR" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	(cd "$DESTDIR" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0 --reproducible)
}

build_ramdisk() {
	local outdir=$1 cache kernel_package kernel_version busybox_version
	local hash stamp kernel_tree busybox_tree kver vmlinuz compressor started tool stale

	[ "$(dpkg --print-architecture)" = amd64 ] ||
		ramdisk_die "the host's dpkg architecture is $(dpkg --print-architecture); only amd64 is supported"
	for tool in apt-get apt-cache dpkg-deb depmod cpio zstd gzip sha256sum; do
		command -v "$tool" >/dev/null 2>&1 ||
			ramdisk_die "required tool '$tool' not found; run 'tools/deps.sh ramdisk' as root"
	done
	started=$(date +%s)

	kernel_package=$(kernel_package_name)
	[ -n "$kernel_package" ] ||
		ramdisk_die "apt-cache depends linux-image-amd64 names no linux-image-6.1.0-*-amd64 package; run apt-get update"
	kernel_version=$(candidate_version "$kernel_package")
	busybox_version=$(candidate_version busybox-static)
	case "$kernel_version" in
	"" | "(none)") ramdisk_die "apt has no candidate version of $kernel_package; run apt-get update" ;;
	esac
	case "$busybox_version" in
	"" | "(none)") ramdisk_die "apt has no candidate version of busybox-static; run apt-get update" ;;
	esac

	cache=$outdir/.cache
	stamp=$cache/inputs.sha256
	hash=$(inputs_hash "$kernel_package" "$kernel_version" "$busybox_version")
	if [ -f "$outdir/vmlinuz" ] && [ -f "$outdir/initrd.img" ] && [ -f "$outdir/localboot.efi" ] &&
		[ -f "$outdir/cdboot-efi.img" ] && [ -f "$outdir/cdboot-bios.img" ] && [ -f "$stamp" ] &&
		[ "$(cat "$stamp")" = "$hash" ]; then
		ramdisk_log "up to date: $kernel_package $kernel_version, busybox-static $busybox_version"
		return 0
	fi
	mkdir -p "$cache"
	rm -f "$stamp"

	kver=${kernel_package#linux-image-}
	kernel_tree=$(fetch_package "$kernel_package" "$kernel_version" "$cache" boot lib/modules)
	busybox_tree=$(fetch_package busybox-static "$busybox_version" "$cache" bin/busybox)
	# Remove unpacked packages of other versions, because an unpacked 6.1 kernel
	# package takes about 400 MB.
	for stale in "$cache"/*/; do
		stale=${stale%/}
		[ "$stale" = "$kernel_tree" ] || [ "$stale" = "$busybox_tree" ] || rm -rf "$stale"
	done
	vmlinuz=$kernel_tree/boot/vmlinuz-$kver
	[ -f "$vmlinuz" ] || ramdisk_die "$kernel_package has no boot/vmlinuz-$kver"
	SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$vmlinuz")}

	DESTDIR=$cache/tree
	rm -rf "$DESTDIR"
	mkdir -p "$DESTDIR"
	populate_tree "$kernel_tree" "$kver" "$busybox_tree"

	# Debian's 6.1 kernels have CONFIG_RD_ZSTD=y. Every Debian kernel can unpack
	# gzip, the fallback.
	if grep -qx 'CONFIG_RD_ZSTD=y' "$kernel_tree/boot/config-$kver"; then
		compressor="zstd -q -19 -T0"
	else
		compressor="gzip -9 -n"
	fi
	write_cpio | $compressor >"$outdir/initrd.img.tmp"
	cp --preserve=mode "$vmlinuz" "$outdir/vmlinuz.tmp"
	touch -d "@$SOURCE_DATE_EPOCH" "$outdir/vmlinuz.tmp" "$outdir/initrd.img.tmp"
	mv "$outdir/vmlinuz.tmp" "$outdir/vmlinuz"
	mv "$outdir/initrd.img.tmp" "$outdir/initrd.img"
	# The UEFI local-disk boot program that local.ipxe chains to; see bootenv/localboot.
	"$ramdisk_src_dir/../localboot/build.sh" "$outdir/localboot.efi"
	# The El Torito images that virtual-media ISOs boot from; see bootenv/cdboot.
	SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH "$ramdisk_src_dir/../cdboot/build.sh" "$outdir"
	rm -rf "$DESTDIR"
	echo "$hash" >"$stamp"

	ramdisk_log "built $outdir/vmlinuz ($kernel_package $kernel_version) and" \
		"$outdir/initrd.img ($(stat -c %s "$outdir/initrd.img") bytes, ${compressor%% *}," \
		"busybox-static $busybox_version) in $(($(date +%s) - started)) s"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	[ $# -eq 1 ] || ramdisk_die "usage: $0 OUTDIR"
	mkdir -p "$1"
	build_ramdisk "$(cd "$1" && pwd)"
fi
