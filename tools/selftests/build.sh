#!/usr/bin/env bash
# Builds the lockmap kselftests, the ioctl fuzzer and lockmapctl as static
# binaries (the test guests are busybox only) into OUT (build/selftests).
# The kselftests also get a 32-bit build (*_test32, through compat_ioctl),
# which needs gcc -m32 -static (gcc-multilib, which tools/check.sh installs):
# without it the 64-bit binaries are still built, but the build fails, so
# that the compat tests cannot vanish from a run unnoticed.
# LOCKMAP_SELFTESTS_NO_M32=1 builds without them on purpose (not for
# "make check").
#
# kselftest_harness.h comes from the Linux 6.12 source the test machinery
# extracts under ~/.cache/lockmap (tools/build-kernel.sh); KSELFTEST_DIR
# overrides, and without either the two headers are taken from
# /usr/src/linux-source-6.12.tar.xz.
#
# Usage: tools/selftests/build.sh [OUT]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/build/selftests}
cache=${LOCKMAP_CACHE:-$HOME/.cache/lockmap}
tarball=${LOCKMAP_KSRC_TAR:-/usr/src/linux-source-6.12.tar.xz}
CC=${CC:-gcc}

die() { echo "selftests/build: $*" >&2; exit 1; }

find_harness() {
	local d
	for d in ${KSELFTEST_DIR:+"$KSELFTEST_DIR"} \
		"$cache/src-6.12/tools/testing/selftests" \
		"$cache/linux-source-6.12/tools/testing/selftests"; do
		if [ -f "$d/kselftest_harness.h" ] && [ -f "$d/kselftest.h" ]; then
			echo "$d"
			return
		fi
	done
	# Last resort: just the two headers out of the source tarball.
	d="$cache/kselftest-harness-6.12"
	if [ ! -f "$d/kselftest_harness.h" ]; then
		[ -r "$tarball" ] || die "no kselftest_harness.h: set KSELFTEST_DIR" \
			"or install linux-source-6.12"
		mkdir -p "$d"
		tar -xf "$tarball" -C "$d" --strip-components=4 --wildcards \
			'*/tools/testing/selftests/kselftest_harness.h' \
			'*/tools/testing/selftests/kselftest.h' ||
			die "cannot extract the harness from $tarball"
	fi
	echo "$d"
}

mkdir -p "$out"
ks=$(find_harness)
cflags=(-static -O2 -g -Wall -Wextra -Werror -pthread
	-I"$repo/include/uapi" -I"$here")
# -isystem: the harness's own unused parameters are not our warnings.
tflags=("${cflags[@]}" -isystem "$ks")

m32=0
if echo 'int main(void) { return 0; }' |
	"$CC" -m32 -static -x c - -o "$out/.m32-probe" 2>/dev/null; then
	m32=1
fi
rm -f "$out/.m32-probe"

for src in "$here"/lockmap_*_test.c; do
	name=$(basename "$src" .c)
	"$CC" "${tflags[@]}" "$src" -o "$out/$name"
	if [ "$m32" = 1 ]; then
		"$CC" -m32 "${tflags[@]}" "$src" -o "$out/${name}32"
	fi
done
"$CC" "${cflags[@]}" "$here/lockmap_fuzz.c" -o "$out/lockmap_fuzz"
if [ -f "$repo/tools/lockmapctl/Makefile" ]; then
	make -s -C "$repo/tools/lockmapctl" O="$out" CC="$CC"
fi
for f in "$out"/*; do
	[ -f "$f" ] && printf '%s ' "${f##*/}"
done
echo
if [ "$m32" != 1 ]; then
	[ "${LOCKMAP_SELFTESTS_NO_M32:-0}" = 1 ] && exit 0
	die "no gcc -m32 -static (install gcc-multilib): the 32-bit" \
		"compat tests (*_test32) were not built"
fi
