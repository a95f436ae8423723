#!/usr/bin/env bash
# Packs a test guest's whole root file system: static busybox, tools/init.sh
# as /init, the test script as /test.sh, and the given files (modules, test
# binaries).  The guests have no disk, so this is all they see.
#
# Usage: tools/mkinitramfs.sh OUT.cpio.gz TEST_SCRIPT [FILE | FILE=/GUEST/PATH]...
# A plain FILE lands in /modules if it is a .ko, else in /bin.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=$1
test_script=$2
shift 2
busybox=${BUSYBOX:-/bin/busybox}

file "$busybox" 2>/dev/null | grep -q dynamically &&
	{ echo "mkinitramfs: $busybox is not static" >&2; exit 1; }

root=$(mktemp -d)
chmod 755 "$root"	# mktemp makes it 0700: non-root tests need /
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,modules}
install -m 0755 "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
install -m 0755 "$here/init.sh" "$root/init"
install -m 0755 "$test_script" "$root/test.sh"
for arg in "$@"; do
	src=${arg%%=*}
	case "$arg" in
	*=*) dest=${arg#*=} ;;
	*.ko) dest=/modules/$(basename "$src") ;;
	*) dest=/bin/$(basename "$src") ;;
	esac
	mkdir -p "$root$(dirname "$dest")"
	cp -L "$src" "$root$dest"
done
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
