// SPDX-License-Identifier: GPL-2.0
/*
 * lockmap_provoke: takes keys in an order lockdep must report, for the boot
 * tests that check it still does (tools/check.sh), one order per boot, as
 * lockdep reports only its first finding:
 *
 *   recursion        two keys of one map, outside a batch
 *   abba             a key of map A, then one of map B; later the reverse
 *   recursion-valued
 *   abba-valued      the same with keys that have values, which the fast
 *                    path try-locks (lockdep checks no try-lock: only
 *                    lockmap's own annotation can see these)
 *   batch-abba       a batch of map A, then a key of map B; later the reverse
 *   batch-under-key  a batch of map A while holding another key of map A
 *   atomic           lockmap_get() of a valued key under a spinlock, which
 *                    never sleeps there but may: might_sleep() must say so
 *
 * None of them deadlocks in one task, but all could between two.  On a
 * lockdep kernel, loading it is meant to splat; the boot test passes only
 * if it does.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/err.h>
#include <linux/module.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/lockmap.h>

static char *order = "recursion";
module_param(order, charp, 0444);
MODULE_PARM_DESC(order, "The order to provoke (see the source's comment)");

/* Any non-NULL pointer will do: the maps have no destructor. */
static int provoke_value;

static struct lockmap *provoke_map(const char *name)
{
	struct lockmap_params p = { .name = name, .key_len = sizeof(u64) };

	return lockmap_create(&p);
}

/* Gives keys 1 to 3 of @map a value, so that their locks take the fast path. */
static int provoke_fill(struct lockmap *map)
{
	u64 k;
	int err = 0;

	for (k = 1; k <= 3 && !err; k++)
		err = lockmap_insert(map, &k, sizeof(k), &provoke_value, NULL);
	return err;
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

static const u64 batch_keys[] = { 2, 3 };

static struct lockmap_batch *lock_batch(struct lockmap *map)
{
	struct lockmap_key keys[ARRAY_SIZE(batch_keys)];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		keys[i].key = &batch_keys[i];
		keys[i].len = sizeof(batch_keys[i]);
	}
	return lockmap_batch_lock(map, keys, ARRAY_SIZE(keys), LOCKMAP_WAIT);
}

/* Locks keys 2 and 3 of @a as a batch, then @k of @b while holding them. */
static int batch_then_key(struct lockmap *a, struct lockmap *b, u64 k)
{
	struct lockmap_batch *batch = lock_batch(a);
	struct lockmap_entry *e;

	if (IS_ERR(batch))
		return PTR_ERR(batch);
	e = lockmap_entry(b, &k, sizeof(k));
	if (!IS_ERR(e))
		lockmap_entry_unlock(b, e);
	lockmap_batch_unlock(a, batch);
	return PTR_ERR_OR_ZERO(e);
}

/* Locks @k of @b, then keys 2 and 3 of @a as a batch while holding it. */
static int key_then_batch(struct lockmap *b, u64 k, struct lockmap *a)
{
	struct lockmap_batch *batch;
	struct lockmap_entry *e;

	e = lockmap_entry(b, &k, sizeof(k));
	if (IS_ERR(e))
		return PTR_ERR(e);
	batch = lock_batch(a);
	if (!IS_ERR(batch))
		lockmap_batch_unlock(a, batch);
	lockmap_entry_unlock(b, e);
	return PTR_ERR_OR_ZERO(batch);
}

static int copy_nothing(const void *value, void *arg)
{
	return 0;
}

static int get_under_spinlock(struct lockmap *map)
{
	static DEFINE_SPINLOCK(lock);
	u64 k = 1;
	int err;

	spin_lock(&lock);
	err = lockmap_get(map, &k, sizeof(k), copy_nothing, NULL);
	spin_unlock(&lock);
	return err;
}

static int provoke(struct lockmap *a, struct lockmap *b)
{
	if (!strcmp(order, "recursion"))
		return lock_pair(a, 1, a, 2);
	if (!strcmp(order, "abba"))
		return lock_pair(a, 1, b, 1) ?: lock_pair(b, 1, a, 1);
	if (!strcmp(order, "recursion-valued"))
		return provoke_fill(a) ?: lock_pair(a, 1, a, 2);
	if (!strcmp(order, "abba-valued"))
		return provoke_fill(a) ?: provoke_fill(b) ?:
		       lock_pair(a, 1, b, 1) ?: lock_pair(b, 1, a, 1);
	if (!strcmp(order, "batch-abba"))
		return batch_then_key(a, b, 1) ?: key_then_batch(b, 1, a);
	if (!strcmp(order, "batch-under-key"))
		return key_then_batch(a, 1, a);
	if (!strcmp(order, "atomic"))
		return provoke_fill(a) ?: get_under_spinlock(a);
	return -EINVAL;
}

static int __init provoke_init(void)
{
	struct lockmap *a, *b;
	int err;

	a = provoke_map("lockmap-provoke-a");
	if (IS_ERR(a))
		return PTR_ERR(a);
	b = provoke_map("lockmap-provoke-b");
	err = PTR_ERR_OR_ZERO(b);
	if (!err) {
		err = provoke(a, b);
		lockmap_destroy(b);
	}
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
