# shellcheck shell=bash
# The accelerator choice of the recipe boot tests, sourced by them.

# Print kvm when a guest really boots under KVM, else tcg. /dev/kvm can exist and QEMU
# can start with -accel kvm while guests still hang (seen under nested
# virtualization), so the probe boots KERNEL without an initrd or root file system
# and requires its panic within 30 s. NAME prefixes the message printed when KVM fails.
# Usage: accel_probe NAME KERNEL WORKDIR
accel_probe() {
	local name=$1 kernel=$2 work=$3
	if [ ! -w /dev/kvm ]; then
		echo tcg
		return 0
	fi
	# QEMU aborts where KVM cannot set up the CPU. The subshell, whose stderr goes to
	# /dev/null, then prints bash's "Aborted" message there.
	(timeout 30 qemu-system-x86_64 -accel kvm -cpu host -machine pc -m 256 -nodefaults \
		-display none -monitor none -serial "file:$work/probe.log" -no-reboot \
		-kernel "$kernel" -append "console=ttyS0 panic=-1" || true) >/dev/null 2>&1
	if grep -aq 'Kernel panic - not syncing' "$work/probe.log" 2>/dev/null; then
		echo kvm
		return 0
	fi
	echo "$name: KVM probe failed: $kernel did not run to its panic under -accel kvm -cpu host within 30 s; using TCG" >&2
	echo tcg
}
