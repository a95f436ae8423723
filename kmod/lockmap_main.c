// SPDX-License-Identifier: GPL-2.0
/*
 * lockmap module: the map library (lockmap_core.c, lockmap_lru.c) needs no
 * set-up; loading the module creates /dev/lockmap (lockmap_dev.c).
 */
#include <linux/module.h>

#include "lockmap_dev.h"

static int __init lockmap_init(void)
{
	return lockmap_dev_init();
}
module_init(lockmap_init);

static void __exit lockmap_exit(void)
{
	lockmap_dev_exit();
	/* Entries of destroyed maps may still wait for their RCU callback. */
	rcu_barrier();
}
module_exit(lockmap_exit);

MODULE_DESCRIPTION("Concurrent hash map and LRU cache with per-key locks");
MODULE_LICENSE("GPL");
