#!/usr/bin/env bash
# Fails when a guest console log shows a kernel splat (lockdep, KASAN, KCSAN,
# UBSAN, kmemleak, hung task, RCU stall, lockup, WARN/BUG/Oops/panic) or lost
# lines that could have hidden one, or when the guest never got to the end of
# its run: a test that "passed" on a kernel that complained, or that never
# finished, has not passed.
#
# Usage: tools/scan-splat.sh LOG [END_MARKER]
set -euo pipefail
# Bytes, not characters, and -a: a NUL or a stray byte in a console log
# makes grep call the file binary and print no matching line.
export LC_ALL=C

log=$1
marker=${2:-LOCKMAP-INIT: done}

# Case-sensitive on purpose: boot logs say "kasan:", "kmemleak:", "lockdep"
# and "panic=" harmlessly.  "Call Trace" catches whatever else dumps a stack.
splat_re='WARNING:|BUG:|Oops|Kernel panic|kernel BUG at|general protection fault'
splat_re+='|possible recursive locking|possible circular locking'
splat_re+='|inconsistent lock state|INFO: possible|INFO: lockdep'
splat_re+='|INFO: trying to register non-static key|DEBUG_LOCKS_WARN_ON'
splat_re+='|turning off the locking correctness validator'
splat_re+='|KASAN:|KCSAN:|UBSAN:|unreferenced object|kmemleak: .*suspected memory leak'
splat_re+='|kmemleak: Kernel memory leak detector disabled'
splat_re+='|INFO: task .* blocked for more than|detected stall|RCU stall'
splat_re+='|detected expedited stall|rcu: INFO:|INFO: rcu_'
# A console that dropped lines may have dropped a splat with them.
splat_re+='|printk messages dropped'
splat_re+='|soft lockup|hard LOCKUP|Call Trace|list_(add|del) corruption'
splat_re+='|ODEBUG:|refcount_t:'
# SLUB's own debugging (slub_debug): "BUG kmalloc-64 (Not tainted): ...".
splat_re+='|BUG [^ :]+ \([^)]*\): '

[ -r "$log" ] || { echo "scan-splat: no log $log" >&2; exit 1; }
bad=0
hits=$(grep -anE "$splat_re" "$log" | cut -d: -f1 || true)
if [ -n "$hits" ]; then
	bad=1
	echo "scan-splat: $(echo "$hits" | wc -l) suspicious line(s) in $log:"
	grep -anE "$splat_re" "$log" | head -n 20
	shown=0 splats=0
	for line in $hits; do
		[ "$line" -gt "$shown" ] || continue
		splats=$((splats + 1))
		[ "$splats" -le 3 ] || break
		echo "--- $log:$line"
		sed -n "$((line > 3 ? line - 3 : 1)),$((line + 40))p" "$log"
		shown=$((line + 40))
	done
fi
if ! grep -aqF "$marker" "$log"; then
	bad=1
	echo "scan-splat: the guest never printed \"$marker\"; the log ends:"
	tail -n 30 "$log"
fi
exit "$bad"
