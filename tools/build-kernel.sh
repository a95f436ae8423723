#!/usr/bin/env bash
# Builds (once per config) the Linux 6.12 debug kernel the tests boot: no
# distribution ships one with lockdep, KASAN, kmemleak and KUnit together.
# The output dir doubles as KDIR for out-of-tree modules.  Its name carries a
# hash of tools/kernel.config, the source package version and the compiler,
# so changing any of them builds a new kernel and nothing else does.
#
# Usage: tools/build-kernel.sh [LOG]   prints the build dir on stdout.
#        tools/build-kernel.sh --source  only extracts; prints the source dir.
# Env: LOCKMAP_CACHE (~/.cache/lockmap), LOCKMAP_KSRC_TAR (the 6.12 tarball).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${LOCKMAP_CACHE:-$HOME/.cache/lockmap}
tarball=${LOCKMAP_KSRC_TAR:-/usr/src/linux-source-6.12.tar.xz}
frag="$here/kernel.config"
source_only=
[ "${1:-}" != --source ] || { source_only=1; shift; }
log=${1:-/dev/null}
# Options the tests are meaningless without; checked on top of the fragment.
key_opts="PROVE_LOCKING KASAN DEBUG_KMEMLEAK DEBUG_ATOMIC_SLEEP KUNIT MODULES
PREEMPT KUNIT_DEFAULT_ENABLED"

die() { echo "build-kernel: $*" >&2; exit 1; }

[ -r "$tarball" ] || die "missing $tarball (apt-get install linux-source-6.12)"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null ||
	stat -c %s-%Y "$tarball")
ccver=$(gcc --version | head -n1)
hash=$(printf '%s\n' "$(cat "$frag")" "$srcver" "$ccver" | sha256sum |
	cut -c1-12)
src="$cache/src-6.12"
out="$cache/kernel-6.12-$hash"

mkdir -p "$cache"
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
	done <"$frag"
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
	: >"$log"
	kmake() { make -C "$src" O="$out" ARCH=x86_64 "$@"; }
	{
		kmake KCONFIG_ALLCONFIG="$frag" allnoconfig
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
