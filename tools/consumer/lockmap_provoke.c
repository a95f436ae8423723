// SPDX-License-Identifier: GPL-2.0
/*
 * lockmap_provoke: takes keys in an order lockdep must report, for the boot
 * test that checks it still does (tools/check.sh).  order=recursion locks
 * two keys of one map outside a batch; order=abba locks a key of map A and
 * then one of map B, and later the other way round.  Neither deadlocks in
 * one task, but both could between two.  On a lockdep kernel, loading it is
 * meant to splat; the boot test passes only if it does.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/err.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/lockmap.h>

static char *order = "recursion";
module_param(order, charp, 0444);
MODULE_PARM_DESC(order, "The order to provoke: recursion or abba");

static struct lockmap *provoke_map(const char *name)
{
	struct lockmap_params p = { .name = name, .key_len = sizeof(u64) };

	return lockmap_create(&p);
}

/* Locks @k1 of @m1, then @k2 of @m2 while holding it; unlocks both. */
static int lock_pair(struct lockmap *m1, u64 k1, struct lockmap *m2, u64 k2)
{
	struct lockmap_entry *e1, *e2;

	e1 = lockmap_entry(m1, &k1, sizeof(k1));
	if (IS_ERR(e1))
		return PTR_ERR(e1);
	e2 = lockmap_entry(m2, &k2, sizeof(k2));
	if (!IS_ERR(e2))
		lockmap_entry_unlock(m2, e2);
	lockmap_entry_unlock(m1, e1);
	return PTR_ERR_OR_ZERO(e2);
}

static int __init provoke_init(void)
{
	struct lockmap *a, *b = NULL;
	int err;

	a = provoke_map("lockmap-provoke-a");
	if (IS_ERR(a))
		return PTR_ERR(a);
	if (!strcmp(order, "recursion")) {
		err = lock_pair(a, 1, a, 2);
	} else if (!strcmp(order, "abba")) {
		b = provoke_map("lockmap-provoke-b");
		err = PTR_ERR_OR_ZERO(b);
		if (!err)
			err = lock_pair(a, 1, b, 1) ?: lock_pair(b, 1, a, 1);
	} else {
		err = -EINVAL;
	}
	if (!IS_ERR_OR_NULL(b))
		lockmap_destroy(b);
	lockmap_destroy(a);
	pr_info("order=%s: %d\n", order, err);
	return err;
}

static void __exit provoke_exit(void)
{
}

module_init(provoke_init);
module_exit(provoke_exit);
MODULE_DESCRIPTION("Takes lockmap keys in orders lockdep must report");
MODULE_LICENSE("GPL");
