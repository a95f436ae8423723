#!/bin/sh
# Guest side of the lockdep boots (tools/check.sh), sourced by /init: loads
# lockmap and lockmap_provoke with the order given as lockmap_provoke= on
# the kernel command line (so in our environment), which lockdep must
# report.  The host reads the report from the console.
m=/modules

check "insmod lockmap" insmod $m/lockmap.ko
check "lockmap_provoke order=$lockmap_provoke" \
	insmod $m/lockmap_provoke.ko "order=$lockmap_provoke"
check "rmmod lockmap_provoke" rmmod lockmap_provoke
check "rmmod lockmap" rmmod lockmap
