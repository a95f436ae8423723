#!/usr/bin/env bash
# Boots a kernel with an initramfs in QEMU and records the serial console in a
# log.  TCG only (KVM hangs on the CI hosts); -no-reboot with panic=-1 turns a
# panic into a QEMU exit, and timeout bounds a hung guest.
#
# Usage: tools/run-qemu.sh KERNEL INITRAMFS LOG [TIMEOUT_SECONDS] [APPEND...]
# Exit status: QEMU's, or 124 when the guest ran out of time.
set -euo pipefail

kernel=$1
initrd=$2
log=$3
limit=${4:-600}
shift $(($# < 4 ? $# : 4))

# -vga none and -net none: nothing to show, and no option ROMs to load.
timeout -k 10 "$limit" qemu-system-x86_64 \
	-accel tcg,thread=multi -smp 2 -m "${LOCKMAP_QEMU_MEM:-2G}" \
	-nographic -no-reboot -vga none -net none \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 printk.devkmsg=on $*" \
	</dev/null >"$log" 2>&1
