#!/bin/sh
# Guest side of both boot tests, sourced by /init (tools/init.sh provides
# say and check).  One script for every kernel: the modules packed into
# /modules decide what runs (lockmap_kunit.ko only where KUnit exists).
kv=$(uname -r | cut -d. -f1-2)
m=/modules

loaded() { grep -q "^$1 " /proc/modules; }
# rmmod must fail while a user pins the module, and leave it loaded.
unload_refused() { ! rmmod "$1" && loaded "$1"; }

check "$kv insmod lockmap" insmod $m/lockmap.ko
if [ -e $m/lockmap_kunit.ko ]; then
	# KUnit runs the suites during the load and prints KTAP to the console.
	check "$kv insmod lockmap_kunit" insmod $m/lockmap_kunit.ko
	check "$kv rmmod lockmap_kunit" rmmod lockmap_kunit
fi
check "$kv insmod lockmap_consumer" insmod $m/lockmap_consumer.ko
check "$kv lockmap unload refused while consumer loaded" \
	unload_refused lockmap
check "$kv rmmod lockmap_consumer" rmmod lockmap_consumer
# Extension point: suites packed as /hooks/*.sh run here, lockmap.ko loaded.
for hook in /hooks/*.sh; do
	# shellcheck source=/dev/null
	[ -e "$hook" ] && (. "$hook")
done
check "$kv rmmod lockmap" rmmod lockmap
check "$kv lockmap gone after rmmod" eval '! loaded lockmap'
