#!/usr/bin/env bash
# Boots a kernel with an initramfs in QEMU and records the serial console in a
# log.  TCG only (KVM hangs on the CI hosts); -no-reboot with panic=-1 turns a
# panic into a QEMU exit, and timeout bounds a hung guest.
#
# Usage: tools/run-qemu.sh KERNEL INITRAMFS LOG [TIMEOUT_SECONDS] [APPEND...]
# Exit status: QEMU's, or 124 when the guest ran out of time.
# Env: LOCKMAP_QEMU_MEM (guest RAM, default 1G: the debug kernel boots and
# kmemleak scans twice as fast as with 2G).
set -euo pipefail

kernel=$1
initrd=$2
log=$3
limit=${4:-600}
shift $(($# < 4 ? $# : 4))

# -vga none and -net none: nothing to show, and no option ROMs to load.
# tsc=unstable: on a busy host the guest may calibrate its TSC against the
# PIT ten times too slow and then run every clock (hung task, lockup and
# RCU stall timeouts, sleep) ten times too fast; HPET keeps real time.
timeout -k 10 "$limit" qemu-system-x86_64 \
	-accel tcg,thread=multi -smp 2 -m "${LOCKMAP_QEMU_MEM:-1G}" \
	-nographic -no-reboot -vga none -net none \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 printk.devkmsg=on tsc=unstable $*" \
	</dev/null >"$log" 2>&1
