#!/usr/bin/env bash
# Builds (once per config) the Linux 6.12 debug kernel the tests boot: no
# distribution ships one with lockdep, KASAN, kmemleak and KUnit together;
# or a variant of it (kcsan: KCSAN in place of KASAN).  The output dir
# doubles as KDIR for out-of-tree modules.  Its name carries a hash of the
# fragment (tools/kernel.config, plus the variant's), the make arguments,
# the source package version and the compiler, so changing any of them
# builds a new kernel and nothing else does.
#
# Usage: tools/build-kernel.sh [--variant NAME] [LOG]
#                                  prints the build dir on stdout; NAME lays
#                                  tools/kernel-NAME.config over the base.
#        tools/build-kernel.sh --source  only extracts; prints the source dir.
# Env: LOCKMAP_CACHE (~/.cache/lockmap), LOCKMAP_KSRC_TAR (the 6.12 tarball).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${LOCKMAP_CACHE:-$HOME/.cache/lockmap}
tarball=${LOCKMAP_KSRC_TAR:-/usr/src/linux-source-6.12.tar.xz}
source_only='' variant=''
[ "${1:-}" != --source ] || { source_only=1; shift; }
[ "${1:-}" != --variant ] || { variant=$2; shift 2; }
log=${1:-/dev/null}
# Options the tests are meaningless without; checked on top of the fragment.
key_opts="PROVE_LOCKING DEBUG_KMEMLEAK DEBUG_ATOMIC_SLEEP KUNIT MODULES
PREEMPT KUNIT_DEFAULT_ENABLED"

die() { echo "build-kernel: $*" >&2; exit 1; }

# The fragment: the base, or the base with a variant's lines in place of
# the base's lines for the same symbols.
frag_text() {
	local over="$here/kernel-$variant.config"
	if [ -z "$variant" ]; then
		cat "$here/kernel.config"
		return
	fi
	[ -r "$over" ] || die "no $over"
	grep -vwFf <(grep -oE '^(# )?CONFIG_[A-Za-z0-9_]+' "$over" |
		sed 's/^# //') "$here/kernel.config"
	cat "$over"
}
# make_args: extra arguments of the kernel build.  KCSAN instruments only
# the modules built against the kernel, not the kernel itself, so that a
# report always involves lockmap's own accesses: a race inside the kernel
# (its workqueues, timers, rt_mutex internals all raise some) is not
# lockmap's to fix.  Races between lockmap and the kernel still show, as a
# value that changed under lockmap's watched read.
make_args=()
case "$variant" in
'') key_opts+=" KASAN" ;;
kcsan) key_opts+=" KCSAN"; make_args=(KCSAN_SANITIZE=n) ;;
esac

[ -r "$tarball" ] || die "missing $tarball (apt-get install linux-source-6.12)"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null ||
	stat -c %s-%Y "$tarball")
ccver=$(gcc --version | head -n1)
mkdir -p "$cache"
frag=$(frag_text)
hash=$(printf '%s\n' "$frag" "$srcver" "$ccver" ${make_args[@]+"${make_args[@]}"} |
	sha256sum | cut -c1-12)
src="$cache/src-6.12"
out="$cache/kernel-6.12${variant:+-$variant}-$hash"
# One builder at a time per cache; a second caller waits, then reuses.
exec 9>"$cache/.build.lock"
flock 9

if [ "$(cat "$src/.lockmap-srcver" 2>/dev/null)" != "$srcver" ]; then
	echo "build-kernel: extracting $tarball" >&2
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xf "$tarball" -C "$src.tmp" --strip-components=1
	echo "$srcver" >"$src.tmp/.lockmap-srcver"
	mv "$src.tmp" "$src"
fi
[ -z "$source_only" ] || { echo "$src"; exit 0; }

# Every line of the fragment must be in the final .config, as kunit.py checks.
verify_config() {
	local cfg="$out/.config" line sym bad=0 opt
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*)
			grep -qxF "$line" "$cfg" || {
				echo "  wanted $line, got:" \
					"$(grep "^${line%%=*}=" "$cfg" ||
						echo unset)" >&2
				bad=1
			} ;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			! grep -q "^$sym=" "$cfg" || {
				echo "  wanted $sym off, got on" >&2
				bad=1
			} ;;
		esac
	done <<<"$frag"
	for opt in $key_opts; do
		grep -qx "CONFIG_$opt=y" "$cfg" || {
			echo "  key option CONFIG_$opt is not =y" >&2
			bad=1
		}
	done
	[ "$bad" = 0 ] || die "tools/kernel.config did not survive olddefconfig" \
		"(missing dependencies?); see above"
}

if [ ! -e "$out/.lockmap-built" ]; then
	echo "build-kernel: building $out (log: $log)" >&2
	start=$(date +%s)
	mkdir -p "$out"
	printf '%s\n' "$frag" >"$out/lockmap.config"
	: >"$log"
	kmake() {
		make -C "$src" O="$out" ARCH=x86_64 \
			${make_args[@]+"${make_args[@]}"} "$@"
	}
	{
		kmake KCONFIG_ALLCONFIG="$out/lockmap.config" allnoconfig
		kmake olddefconfig
	} >>"$log" 2>&1 || die "configuring failed; see $log"
	verify_config
	if ! kmake -j"$(nproc)" all >>"$log" 2>&1; then
		grep -E -B2 -A8 'error|Error [0-9]' "$log" | tail -n 40 >&2
		die "kernel build failed; see $log"
	fi
	[ -s "$out/arch/x86/boot/bzImage" ] || die "no bzImage in $out"
	touch "$out/.lockmap-built"
	echo "build-kernel: built in $(($(date +%s) - start)) s" >&2
fi
echo "$out"
