#!/bin/sh
# Guest side of the /dev/lockmap kselftests (busybox sh).  tools/check.sh
# packs this as /hooks/selftests.sh and the static binaries of
# tools/selftests/build.sh under /selftests; tools/guest-test.sh sources it
# with lockmap.ko loaded.
#
# Output is one KTAP document the host's tools/ktap.py counts: a top-level
# plan, then each binary's own TAP indented as a subtest named after it, then
# its "ok/not ok N name" line (by exit status).  Everything goes through
# /dev/kmsg, so that lines arrive whole among kernel messages.
#
# Order: the kselftests (64-bit, then the 32-bit compat builds), the fuzzer,
# then lockmapctl sessions, which also show that the device still works
# after the fuzzer.
#
# Env (kernel command line words become init's environment):
# lockmap_fuzz_calls (default 100000), lockmap_fuzz_seed (default the
# fuzzer's fixed seed).
st=/selftests
log=/dev/kmsg
[ -w "$log" ] || log=/dev/stdout

out() { echo "$*" >"$log"; }
# Copies stdin to the log, each line indented (a subtest's lines).
indent() {
	while IFS= read -r line || [ -n "$line" ]; do
		echo "    $line" >"$log"
	done
}

bins=""
for b in "$st"/lockmap_*_test "$st"/lockmap_*_test32 "$st"/lockmap_fuzz; do
	[ -x "$b" ] && bins="$bins $b"
done
n=0
for b in $bins; do n=$((n + 1)); done
[ -x $st/lockmapctl ] && n=$((n + 1))

out "TAP version 13"
out "1..$n"
i=0
for b in $bins; do
	i=$((i + 1))
	name=${b##*/}
	args=
	if [ "$name" = lockmap_fuzz ]; then
		args="-n ${lockmap_fuzz_calls:-100000}"
		[ -z "${lockmap_fuzz_seed:-}" ] || args="$args -s $lockmap_fuzz_seed"
	fi
	out "    # Subtest: $name"
	# The exit status crosses the pipe in a file.
	{
		# shellcheck disable=SC2086
		timeout 900 "$b" $args 2>&1
		echo $? >/tmp/selftest.rc
	} | indent
	rc=$(cat /tmp/selftest.rc 2>/dev/null || echo 1)
	if [ "$rc" = 0 ]; then
		out "ok $i $name"
	else
		out "not ok $i $name # exit status $rc"
	fi
done

# lockmapctl: a scripted session in one process, compared line by line.
ctl_check() {
	j=$((j + 1))
	if [ "$2" = "$3" ]; then
		out "    ok $j $1"
	else
		out "    not ok $j $1"
		out "    # expected: $(echo "$3" | tr '\n' '|')"
		out "    # got:      $(echo "$2" | tr '\n' '|')"
		ctl_bad=1
	fi
}

if [ -x $st/lockmapctl ]; then
	i=$((i + 1))
	j=0
	ctl_bad=0
	ctl=$st/lockmapctl
	out "    # Subtest: lockmapctl"
	out "    1..8"
	got=$($ctl --help 2>&1 | grep -cE '^  (create|put|get|del|cas|add|hold|batch|ls|stats|bench|shell) ')
	ctl_check "help lists every subcommand" "$got" 12
	got=$(printf '%s\n' 'create --name ctl-demo' 'put k hello' 'get k' \
		'add n 5' 'add n -2' 'cas k hello world' 'get k' 'len' \
		'del k' 'get k' | $ctl shell 2>&1 |
		sed 's/^created map [0-9]*/created map N/')
	ctl_check "shell session" "$got" "$(printf '%s\n' \
		'created map N ctl-demo' ok hello 5 3 ok world 2 ok \
		'get k: No such file or directory (ENOENT): no value, or no such map')"
	got=$($ctl -j -c 'create --name ctl-json' -c 'put a 1' -c 'get a' 2>&1 |
		tail -n 1)
	ctl_check "json output" "$got" '{"key":"a","value":"1","len":1}'
	got=$($ctl -c 'create --lru --capacity 2 --shards 1' -c 'put a 1' \
		-c 'put b 2' -c 'put c 3' -c 'len' -c 'peek b' -c 'has a' 2>&1 |
		tail -n 3 | tr '\n' ' ')
	ctl_check "lru capacity and peek" "$got" "2 2 0 "
	got=$($ctl -c 'create --rcu-get --name ctl-rcu' -c 'put a 1' -c 'get a' \
		-c ls 2>&1 | sed -n '/^1$/p; s/^[0-9]* *ctl-rcu *\([a-z_,]*\) .*/\1/p' |
		tr '\n' ' ')
	ctl_check "rcu_get map" "$got" "1 map,rcu_get "
	got=$($ctl -c 'create' -c 'cas k x y' 2>&1 | tail -n 1)
	ctl_check "errors name the errno" "$got" \
		'cas k: No such file or directory (ENOENT): no value, or no such map'
	# a named map kept alive by one process, used by others
	$ctl -c 'create --name ctl-keep' -c 'sleep 30' >/dev/null 2>&1 &
	keeper=$!
	n=0
	until $ctl ls 2>/dev/null | grep -q ctl-keep || [ $n -ge 100 ]; do
		n=$((n + 1))
		sleep 0.1
	done
	$ctl -m ctl-keep add c 1 >/dev/null 2>&1
	got=$($ctl -m ctl-keep -c 'add c 1' -c 'hold --ms 10 c -- add c 1' 2>&1 |
		tr '\n' ' ')
	kill $keeper 2>/dev/null
	wait $keeper 2>/dev/null
	ctl_check "named map shared between invocations" "$got" \
		"2 held 1 key for 10000 us 3 "
	got=$($ctl -c 'create --name ctl-bench' \
		-c 'bench --threads 2 --ops 200 --keys 4 --json' 2>&1 |
		grep -c '"ops":200,.*"errors":0')
	ctl_check "bench runs" "$got" 1
	if [ "$ctl_bad" = 0 ]; then
		out "ok $i lockmapctl"
	else
		out "not ok $i lockmapctl"
	fi
fi
