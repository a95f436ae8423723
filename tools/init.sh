#!/bin/sh
# /init of the test guests (built by tools/mkinitramfs.sh): sets up the
# pseudo filesystems, sources /test.sh in a subshell, has kmemleak scan at
# the end, prints markers the host looks for, and powers off.  Everything
# the host parses goes through /dev/kmsg, so it arrives as whole log lines.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmp /tmp

say() { echo "$*" >/dev/kmsg; }
# check NAME CMD...: one boot-level result line, "LOCKMAP-CHECK: ok|FAIL NAME".
check() {
	_name=$1
	shift
	if "$@"; then
		say "LOCKMAP-CHECK: ok $_name"
	else
		say "LOCKMAP-CHECK: FAIL $_name"
	fi
}

kmemleak=/sys/kernel/debug/kmemleak
# Only the scans at the end: an automatic one would run into them.
[ -e "$kmemleak" ] && echo scan=off >"$kmemleak"

say "LOCKMAP-INIT: start $(uname -r)"
# lockmap_watchdog=SECONDS (kernel command line, so in our environment): show
# blocked tasks and held locks before the host's timeout kills a hung guest.
if [ -n "${lockmap_watchdog:-}" ]; then
	(
		sleep "$lockmap_watchdog"
		say "LOCKMAP-INIT: watchdog: still running after ${lockmap_watchdog}s"
		echo w >/proc/sysrq-trigger
		echo d >/proc/sysrq-trigger
	) &
fi
# shellcheck source=/dev/null
(. /test.sh)
say "LOCKMAP-INIT: test script exit $?"

if [ -e "$kmemleak" ]; then
	# Two scans: kmemleak reports neither objects younger than 5 s nor
	# ones that changed since the previous scan.  A scan takes seconds.
	say "LOCKMAP-INIT: kmemleak scan"
	echo scan >"$kmemleak"
	sleep 2
	echo scan >"$kmemleak"
	cat "$kmemleak"
fi
say "LOCKMAP-INIT: done"
poweroff -f
