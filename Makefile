# SPDX-License-Identifier: GPL-2.0
# lockmap: out-of-tree module build, plus the entry points of the test
# machinery.  The logic lives in tools/; this file only dispatches.
#
#   make [KDIR=...] [W=1] [C=1]   build lockmap.ko (+ lockmap_kunit.ko when
#                                 KDIR has CONFIG_KUNIT, lockmap_consumer.ko)
#   make check                    everything (tools/check.sh)
#   make kunit | check-lockdep | check-6.1 | check-kcsan   one part of it
#   make checkpatch | sparse | bench

KDIR ?= /lib/modules/$(shell uname -r)/build

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	@if [ -d $(KDIR) ]; then $(MAKE) -C $(KDIR) M=$(CURDIR) clean; else \
		find . -path ./.git -prune -o -type f \( -name '*.o' \
		-o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' \
		-o -name '.*.cmd' -o -name '*.order' -o -name '*.symvers' \) \
		-exec rm -f {} +; fi
	rm -rf build .checkpatch-camelcase.*

check:
	tools/check.sh all

kunit:
	tools/check.sh kunit

check-lockdep:
	tools/check.sh lockdep

check-6.1:
	tools/check.sh 6.1

check-kcsan:
	tools/check.sh kcsan

checkpatch:
	tools/check.sh checkpatch

sparse:
	tools/check.sh sparse

bench:
	tools/bench/run.sh

.PHONY: all modules clean check kunit check-lockdep check-6.1 check-kcsan \
	checkpatch sparse bench
