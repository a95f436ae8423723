#!/usr/bin/env bash
# The lockmap test run behind "make check".  The modules are built with W=1
# against each kernel and loaded in QEMU guests: the 6.12 debug kernel
# (lockdep, KASAN, UBSAN, kmemleak, KUnit; tools/kernel.config) and its
# KCSAN twin (tools/kernel-kcsan.config) run the KUnit suites, the consumer
# module and the kselftests; Debian's 6.1 kernels show that they also build
# and load on a distribution kernel.  Every check counts once,
# every log stays in build/, and the last line is "N passed, M failed".
#
# Usage: tools/check.sh [all|kunit|lockdep|kcsan|6.1|checkpatch|sparse]
# Env: LOCKMAP_BOOT_TIMEOUT (seconds per guest, default 600), plus
# LOCKMAP_SELFTESTS_TIMEOUT (default 900) for a guest that runs kselftests:
# the 6.12 debug guest took 1090 s of its 1200 on a day when the whole host
# ran 1.8x slower than the day before.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/build
boot_timeout=${LOCKMAP_BOOT_TIMEOUT:-600}

phase() { echo "== [$SECONDS s] $*"; }

# result GROUP ok|FAIL NAME: records one check in build/results.txt (the
# only tally, so checks may run in parallel); a failure is shown at once.
result() {
	echo "$2 $1: $3" >>"$out/results.txt"
	[ "$2" = ok ] || echo "  FAIL $1: $3"
}

count() { grep -c "^$1 " "$out/results.txt" || true; }

# Prints the numbers of GROUP's checks so far.
group_summary() {
	local ok bad
	ok=$(grep -c "^ok $1: " "$out/results.txt" || true)
	bad=$(grep -c "^FAIL $1: " "$out/results.txt" || true)
	printf '  %-40s %4d passed, %d failed\n' "$1" "$ok" "$bad"
}

finish() {
	echo "== [$SECONDS s] done; logs in $out/"
	echo "$(count ok) passed, $(count FAIL) failed"
	exec >&- 2>&-
	wait "$tee_pid" || true
	[ "$(count FAIL)" = 0 ]
}

# (a) Everything the run needs, installed only when something is missing.
deps() {
	local pkgs p missing=()
	pkgs="build-essential bc bison flex libelf-dev libssl-dev dwarves cpio
	      kmod sparse rsync xz-utils zstd python3 qemu-system-x86
	      busybox-static linux-source-6.12 linux-image-amd64
	      linux-headers-amd64 linux-image-rt-amd64 linux-headers-rt-amd64
	      gcc-multilib"
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed' || missing+=("$p")
	done
	[ "${#missing[@]}" -gt 0 ] || return 0
	phase "installing ${missing[*]} (log: $out/apt.log)"
	[ "$(id -u)" = 0 ] || { echo "missing packages; run as root"; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get update -q && apt-get install -y -q \
		--no-install-recommends "${missing[@]}"; } >"$out/apt.log" 2>&1
	then
		tail -n 20 "$out/apt.log"
		echo "apt-get failed; see $out/apt.log"
		exit 1
	fi
}

# (b) The cached 6.12 debug kernel; sets kdir612.
kernel612() {
	phase "6.12 debug kernel (cached in ~/.cache/lockmap)"
	if ! kdir612=$(tools/build-kernel.sh "$out/kernel-6.12-build.log"); then
		result kernel FAIL \
			"6.12 debug kernel builds (log: $out/kernel-6.12-build.log)"
		finish
		exit
	fi
	echo "  $kdir612"
}

# The 6.12 KCSAN kernel (tools/kernel-kcsan.config), cached the same way;
# sets kdirkcsan, or fails a check and leaves it empty.
kernelkcsan() {
	local log="$out/kernel-6.12-kcsan-build.log"
	phase "6.12 KCSAN kernel (cached in ~/.cache/lockmap)"
	if kdirkcsan=$(tools/build-kernel.sh --variant kcsan "$log"); then
		echo "  $kdirkcsan"
	else
		kdirkcsan=
		result kernel FAIL "6.12 KCSAN kernel builds (log: $log)"
	fi
}

# Debian's distribution kernel of a flavour (amd64, rt-amd64), named after
# its headers metapackage's target.
kver61() {
	dpkg-query -W -f='${Depends}' "linux-headers-$1" |
		grep -o 'linux-headers-[^ ,]*' | head -n1 |
		sed 's/^linux-headers-//'
}

# (c)/(e) build_modules NAME KDIR [MAKE ARGS]: builds a copy of the sources
# in build/mod-NAME (kernels must not share objects) with W=1.  Two checks:
# it builds, and without a single warning.
build_modules() {
	local name=$1 kdir=$2 dir="$out/mod-$1" log="$out/mod-$1.log"
	shift 2
	mkdir -p "$dir"
	rsync -a --delete --exclude=/.git --exclude=/build --exclude='*.o' \
		--exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
		--exclude='.*.cmd' --exclude='*.order' --exclude='*.symvers' \
		./ "$dir/"
	if ! make -C "$kdir" M="$dir" W=1 "$@" modules >"$log" 2>&1; then
		# Start over with -k: no stale .ko survives, and the modules
		# that do build still get tested.
		find "$dir" \( -name '*.o' -o -name '*.ko' \) -delete
		make -k -C "$kdir" M="$dir" W=1 "$@" modules >"$log" 2>&1 || true
		result "$name build" FAIL "modules build (log: $log)"
		grep -E -A3 'error|warning:|WARNING:' "$log" | head -n 40
		return 1
	fi
	result "$name build" ok "modules build"
	if grep -qE 'warning:|WARNING:|error:' "$log"; then
		result "$name build" FAIL "no warnings with W=1 $* (log: $log)"
		grep -E -A3 'warning:|WARNING:|error:' "$log" | head -n 40
		# Recompile everything next time, or the warning goes unseen.
		find "$dir" -name '*.o' -delete
	else
		result "$name build" ok "no warnings with W=1 $*"
	fi
}

# (f) Extension point: what else goes into the guests, as mkinitramfs
# arguments.  A suite adds a guest script as /hooks/NAME.sh (sourced with
# lockmap.ko loaded; it may call "check NAME CMD..." and print KTAP) and the
# files it needs.  Selftests: tools/selftests/run-guest.sh with the static
# binaries tools/selftests/build.sh (selftests_build) leaves in
# build/selftests/.
selftests_build() {
	[ -x tools/selftests/build.sh ] || return 0
	rm -rf "$out/selftests"		# no stale binary after a failed build
	if tools/selftests/build.sh "$out/selftests" \
		>"$out/selftests-build.log" 2>&1; then
		result selftests ok "static selftest binaries build"
	else
		result selftests FAIL "static selftest binaries build (log:\
 $out/selftests-build.log)"
		tail -n 20 "$out/selftests-build.log"
	fi
}

guest_extras() {
	local f
	[ "$with_selftests" = 1 ] && [ -f tools/selftests/run-guest.sh ] ||
		return 0
	echo "tools/selftests/run-guest.sh=/hooks/selftests.sh"
	for f in "$out"/selftests/*; do
		[ -f "$f" ] && echo "$f=/selftests/${f##*/}"
	done
	return 0
}

# ran_to_end LOG: whether the guest's test script (tools/init.sh) got to
# its end with status 0, so that no check line it should print went missing.
ran_to_end() {
	grep -qF 'LOCKMAP-INIT: test script exit 0' "$1"
}

# (d)/(e) boot NAME KERNEL FILES...: boots KERNEL with tools/guest-test.sh
# and FILES, then counts everything the console log says.  $boot_append:
# more kernel parameters, if set.
boot() {
	local name=$1 kernel=$2 log="$out/boot-$1.log" rc=0 st check
	local initrd="$out/initramfs-$1.cpio.gz" kunit=0 p f s suite
	local tmo=$boot_timeout
	shift 2
	# KTAP comes from KUnit and from the kselftests (run-guest.sh), whose
	# run (fuzzer included) gets LOCKMAP_SELFTESTS_TIMEOUT more seconds.
	case "$*" in *lockmap_kunit.ko* | */hooks/selftests.sh*) kunit=1 ;; esac
	case "$*" in
	*/hooks/selftests.sh*) tmo=$((tmo + ${LOCKMAP_SELFTESTS_TIMEOUT:-900})) ;;
	esac
	tools/mkinitramfs.sh "$initrd" tools/guest-test.sh "$@"
	tools/run-qemu.sh "$kernel" "$initrd" "$log" "$tmo" \
		"lockmap_watchdog=$((tmo - 30))" ${boot_append:-} || rc=$?
	case "$rc" in
	0) result "$name boot" ok "guest powered off in time" ;;
	124) result "$name boot" FAIL \
		"guest powered off in time (killed after ${tmo} s)" ;;
	*) result "$name boot" FAIL "guest powered off in time (QEMU exit $rc)"
	esac
	if tools/scan-splat.sh "$log" >"$out/splat-$name.txt"; then
		result "$name boot" ok "no splat in $name boot"
	else
		result "$name boot" FAIL "no splat in $name boot (log: $log)"
		sed 's/^/    /' "$out/splat-$name.txt" | head -n 150
	fi
	if ran_to_end "$log"; then
		result "$name boot" ok "guest test script ran to its end"
	else
		result "$name boot" FAIL \
			"guest test script ran to its end (log: $log)"
	fi
	while read -r st check; do
		result "$name boot" "$st" "$check"
		[ "$st" = ok ] || grep -B6 -F "LOCKMAP-CHECK: FAIL $check" \
			"$log" | sed 's/^/    /' || true
	done < <(sed -n 's/\r$//; s/^.*LOCKMAP-CHECK: \(ok\|FAIL\) /\1 /p' \
		"$log")
	group_summary "$name boot"
	while read -r st check; do
		result "$name consumer" "$st" "$check"
	done < <(sed -n 's/\r$//
		s/^.*lockmap_consumer: \(.*\): \(ok\|FAIL\)$/\2 \1/p' "$log")
	if grep -qE 'lockmap_consumer: [0-9]+ passed, [0-9]+ failed' "$log"
	then
		result "$name consumer" ok "ran to the end"
	else
		result "$name consumer" FAIL "ran to the end (log: $log)"
	fi
	group_summary "$name consumer"
	[ "$kunit" = 1 ] || { boot_logs "$name"; return 0; }
	tools/ktap.py "$log" >"$out/kunit-$name.txt" || true
	grep -v '^ktap-' "$out/kunit-$name.txt" || true
	sed -n "s/^ktap-case: \(ok\|FAIL\) \(.*\)/\1 $name KTAP: \2/p" \
		"$out/kunit-$name.txt" >>"$out/results.txt"
	read -r p f s < <(sed -n 's/^ktap-totals: //p' "$out/kunit-$name.txt")
	echo "  KTAP leaf cases (KUnit, kselftests): ${p:-0} passed," \
		"${f:-0} failed, ${s:-0} skipped (log: $log)"
	if [ $((${p:-0} + ${f:-0} + ${s:-0})) -gt 0 ]; then
		result "$name KTAP" ok "KTAP results printed"
	else
		result "$name KTAP" FAIL "KTAP results printed (log: $log)"
	fi
	# A suite that never ran, or a case skipped on the debug kernel (which
	# has everything a case may need), is a check that did not happen.
	for suite in $(expected_suites "$@"); do
		if awk -v s="$suite" '$1 == s && $2 + $4 > 0 { ok = 1 }
		    END { exit !ok }' "$out/kunit-$name.txt"; then
			result "$name KTAP" ok "suite $suite ran"
		else
			result "$name KTAP" FAIL "suite $suite ran (log: $log)"
		fi
	done
	if [ "${name#6.12}" != "$name" ]; then
		if [ "${s:-0}" = 0 ]; then
			result "$name KTAP" ok "no case skipped"
		else
			result "$name KTAP" FAIL \
				"no case skipped ($s were; $out/kunit-$name.txt)"
		fi
	fi
	boot_logs "$name"
}

# expected_suites FILES...: the KTAP suites a guest given FILES must print:
# those of lockmap_kunit.ko (each "static struct kunit_suite" of kunit/)
# and one per kselftest binary.
expected_suites() {
	local f
	for f in "$@"; do
		case "$f" in
		*/lockmap_kunit.ko)
			awk '/^static struct kunit_suite /{ s = 1 }
			     s && /\.name = "/ { match($0, /"[^"]*"/)
				print substr($0, RSTART + 1, RLENGTH - 2); s = 0 }' \
				kunit/*.c ;;
		*=/selftests/*) echo "${f##*/}" ;;
		esac
	done
}

# After a boot with failures: where to look.
boot_logs() {
	grep -q "^FAIL $1 " "$out/results.txt" || return 0
	echo "  $1 logs: $out/boot-$1.log (console), $out/splat-$1.txt," \
		"$out/kunit-$1.txt"
}

# modules NAME KO...: sets mods to the .ko files build/mod-NAME has; a
# missing one (say, kunit/Kbuild not building a module) fails a check.
# False without lockmap.ko: nothing to boot then.
modules() {
	local name=$1 ko
	shift
	mods=()
	for ko in "$@"; do
		if [ -f "$out/mod-$name/$ko" ]; then
			mods+=("$out/mod-$name/$ko")
		else
			result "$name build" FAIL "$ko was built"
		fi
	done
	[ -f "$out/mod-$name/kmod/lockmap.ko" ]
}

# test612 NAME KDIR: a 6.12 kernel (the debug kernel, 6.12, or its KCSAN
# twin, 6.12-kcsan, whose data-race reports fail the boot's splat check:
# they say "BUG:") boots with the KUnit suites, the consumer and the
# kselftests.
test612() {
	local name=$1 kdir=$2
	[ -n "$kdir" ] || return 0
	phase "$name: build the modules"
	build_modules "$name" "$kdir" || true
	modules "$name" kmod/lockmap.ko kunit/lockmap_kunit.ko \
		tools/consumer/lockmap_consumer.ko || return 0
	mapfile -t -O "${#mods[@]}" mods < <(guest_extras)
	phase "$name: boot (KUnit, consumer, kselftests; log:" \
		"$out/boot-$name.log)"
	boot "$name" "$kdir/arch/x86/boot/bzImage" "${mods[@]}"
}

# lockdep must still report what a batch does not excuse: a 6.12 guest per
# order loads lockmap_provoke, which takes keys in that order, and passes
# only if lockdep reports it for lockmap's keys (might_sleep() for atomic).
# These guests are meant to splat, so they are not scanned for splats.
lockdep612() {
	local order re who log initrd
	modules 6.12 kmod/lockmap.ko tools/consumer/lockmap_provoke.ko ||
		return 0
	for order in recursion abba recursion-valued abba-valued batch-abba \
		batch-under-key atomic; do
		# The report names both locks' classes: the maps' names.
		who='lockmap-provoke-'
		case $order in
		recursion*|batch-under-key)
			re='possible recursive locking detected' ;;
		*abba*) re='possible circular locking dependency detected' ;;
		atomic) re='sleeping function called from invalid context'
			who='[lockmap_provoke]' ;;
		esac
		log="$out/boot-6.12-$order.log"
		initrd="$out/initramfs-6.12-$order.cpio.gz"
		phase "6.12: boot (lockdep must report $order; log: $log)"
		tools/mkinitramfs.sh "$initrd" tools/guest-lockdep.sh "${mods[@]}"
		tools/run-qemu.sh "$kdir612/arch/x86/boot/bzImage" "$initrd" \
			"$log" "$boot_timeout" "lockmap_provoke=$order" || true
		if grep -A20 -F "$re" "$log" | grep -qF "$who"; then
			result "6.12 lockdep" ok "lockdep reports $order of keys"
		else
			result "6.12 lockdep" FAIL \
				"lockdep reports $order of keys (log: $log)"
		fi
		if grep -qF "LOCKMAP-CHECK: ok lockmap_provoke order=$order" \
			"$log" &&
		   ran_to_end "$log"; then
			result "6.12 lockdep" ok "$order guest ran to its end"
		else
			result "6.12 lockdep" FAIL \
				"$order guest ran to its end (log: $log)"
		fi
	done
}

# test61 NAME FLAVOUR: Debian's 6.1 kernel, plain (amd64) or PREEMPT_RT.
test61() {
	local name=$1 ver
	ver=$(kver61 "$2")
	phase "$name ($ver): build the modules"
	build_modules "$name" "/usr/src/linux-headers-$ver" || true
	modules "$name" kmod/lockmap.ko tools/consumer/lockmap_consumer.ko ||
		return 0
	mapfile -t -O "${#mods[@]}" mods < <(guest_extras)
	phase "$name: boot (consumer, unload refusal, kselftests; log:" \
		"$out/boot-$name.log)"
	# Debian's kernels have no KASAN, but SLUB's own checks: poison freed
	# objects (a use after free, such as a shrinker left registered on a
	# freed map, then faults), red zones, and sanity checks on free.
	boot_append="slub_debug=FZP" boot "$name" "/boot/vmlinuz-$ver" "${mods[@]}"
}

# (f) Extension point: a short benchmark run, once tools/bench has one.
bench_smoke() {
	[ -x tools/bench/run.sh ] || return 0
	phase "bench smoke run (log: $out/bench-smoke.log)"
	if tools/bench/run.sh --smoke >"$out/bench-smoke.log" 2>&1; then
		result bench ok "bench smoke run"
	else
		result bench FAIL "bench smoke run (log: $out/bench-smoke.log)"
		tail -n 20 "$out/bench-smoke.log"
	fi
	# report.py's own checks: every workload and impl, no failed operation.
	while read -r st check; do
		result bench "$st" "$check"
	done < <(sed -n 's/^bench-check: \(ok\|FAIL\) /\1 /p' \
		"$out/bench-smoke.log")
}

checkpatch() {
	local src f
	src=$(tools/build-kernel.sh --source)
	phase "checkpatch --strict (log: $out/checkpatch.log)"
	: >"$out/checkpatch.log"
	while IFS= read -r f; do
		if "$src/scripts/checkpatch.pl" --strict --no-tree --quiet \
			-f "$f" >>"$out/checkpatch.log" 2>&1; then
			result checkpatch ok "$f"
		else
			result checkpatch FAIL "$f"
		fi
	done < <(find kmod include kunit tools -name '*.[ch]' \
		! -name '*.mod.c' 2>/dev/null | sort)
	[ "$(count FAIL)" = 0 ] || cat "$out/checkpatch.log"
}

main() {
	local mode=${1:-all}
	with_selftests=1
	case "$mode" in
	all | kunit | lockdep | kcsan | 6.1 | checkpatch | sparse) ;;
	*) echo "usage: $0 [all|kunit|lockdep|kcsan|6.1|checkpatch|sparse]"
		return 2 ;;
	esac
	cd "$repo"
	mkdir -p "$out"
	# One run at a time: runs share build/.
	exec 8>"$out/.check.lock"
	flock -n 8 || { echo "waiting for another check run"; flock 8; }
	: >"$out/results.txt"
	exec > >(tee "$out/check-$mode.log") 2>&1
	tee_pid=$!
	deps
	case "$mode" in
	all)
		# Both kernels first: a build would slow the guests.
		kernel612
		kernelkcsan
		selftests_build		# every guest runs them
		# The 6.1 builds and guests run alongside the 6.12 ones.
		{ test61 6.1 amd64; test61 6.1-rt rt-amd64; } \
			>"$out/test-6.1.out" 2>&1 &
		local pid61=$!
		test612 6.12 "$kdir612"
		lockdep612
		test612 6.12-kcsan "$kdirkcsan"
		wait "$pid61" || true
		cat "$out/test-6.1.out"
		bench_smoke
		checkpatch
		build_modules sparse "$kdir612" C=2 || true
		;;
	# The quick loop after a module change: KUnit and the consumer only.
	kunit) with_selftests=0; kernel612; test612 6.12 "$kdir612" ;;
	lockdep) kernel612; build_modules 6.12 "$kdir612" || true; lockdep612 ;;
	kcsan)
		selftests_build
		kernelkcsan
		test612 6.12-kcsan "$kdirkcsan"
		;;
	6.1) selftests_build; test61 6.1 amd64; test61 6.1-rt rt-amd64 ;;
	checkpatch) checkpatch ;;
	sparse) kernel612; build_modules sparse "$kdir612" C=2 || true ;;
	esac
	finish
}

# On one line, so that bash has read it all before running: editing this
# file during a run cannot derail the run.
main "$@"; exit
