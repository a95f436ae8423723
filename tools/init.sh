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
# The first memory cgroup turns kmem accounting on, which patches the
# memcg_kmem_enabled() jump on every page free.  Once, a plain 6.1 guest
# froze right after the selftests' first memcg: both vCPUs sat for 20
# minutes on that jump (free_pcp_prepare+0x77) with their registers
# unchanged; suspected to be TCG running code the other vCPU was patching
# (40 boots that flip it under page churn did not reproduce it).  Flipping
# it here, while nothing else runs, keeps that patch away from the tests,
# which find cgroup2 mounted.
if mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null; then
	echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null &&
		mkdir /sys/fs/cgroup/lockmap-boot &&
		rmdir /sys/fs/cgroup/lockmap-boot
fi
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
	# ones that changed since the previous scan.  The second starts 5 s
	# after the first ended, so a leak from the script's last step (the
	# rmmod) is old enough by then.
	say "LOCKMAP-INIT: kmemleak scan"
	echo scan >"$kmemleak"
	sleep 5
	echo scan >"$kmemleak"
	cat "$kmemleak"
fi
say "LOCKMAP-INIT: done"
poweroff -f
