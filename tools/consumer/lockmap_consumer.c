// SPDX-License-Identifier: GPL-2.0
/*
 * lockmap_consumer: a module built on lockmap's exported API.  On load it
 * runs each check once and prints "lockmap_consumer: <check>: ok|FAIL", then
 * "lockmap_consumer: N passed, M failed".  While loaded it pins lockmap.ko,
 * which the boot tests use to check that lockmap refuses to unload.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/err.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/lockmap.h>

static unsigned int passed, failed;

static void check(const char *what, bool ok)
{
	if (ok)
		passed++;
	else
		failed++;
	pr_info("%s: %s\n", what, ok ? "ok" : "FAIL");
}

static struct lockmap_blob *blob(const char *val)
{
	return lockmap_blob_new(val, strlen(val), GFP_KERNEL);
}

/* Stores a copy of the string @val under the string @key. */
static bool put(struct lockmap *map, const char *key, const char *val)
{
	struct lockmap_blob *b = blob(val);

	if (IS_ERR_OR_NULL(b))
		return false;
	if (lockmap_insert(map, key, strlen(key), b, NULL)) {
		lockmap_blob_free(b, NULL);	/* still ours */
		return false;
	}
	return true;
}

/* Whether @key holds the string @val, read through lockmap_get(). */
static bool has(struct lockmap *map, const char *key, const char *val)
{
	char data[16];
	struct lockmap_buf buf = { .data = data, .size = sizeof(data) };

	if (lockmap_get(map, key, strlen(key), lockmap_blob_copy, &buf))
		return false;
	return buf.len == strlen(val) && !memcmp(data, val, buf.len);
}

static int count_one(const void *key, size_t key_len, void *value, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

static void count_evict(const void *key, size_t key_len, void *value,
			void *priv)
{
	(*(size_t *)priv)++;
}

static void check_map(void)
{
	static const struct lockmap_key keys[] = {
		{ "b", 1 }, { "c", 1 }, { "d", 1 },
	};
	struct lockmap_params params = {
		.name = "lockmap_consumer",
		.free_value = lockmap_blob_free,
	};
	struct lockmap_entry *e, *busy;
	struct lockmap_batch *batch;
	struct lockmap *map;
	struct lockmap_blob *b;
	unsigned int i;
	size_t n = 0;
	bool ok;

	map = lockmap_create(&params);
	check("create", !IS_ERR_OR_NULL(map));
	if (IS_ERR_OR_NULL(map))
		return;

	check("insert", put(map, "a", "A1") && lockmap_len(map) == 1);
	check("get", has(map, "a", "A1") && !has(map, "zz", "A1"));

	e = lockmap_entry(map, "a", 1);
	ok = !IS_ERR(e);
	if (ok) {
		busy = lockmap_try_entry(map, "a", 1);
		check("try_entry on a held key is -EBUSY",
		      PTR_ERR_OR_ZERO(busy) == -EBUSY);
		if (!IS_ERR(busy))
			lockmap_entry_unlock(map, busy);
		b = blob("A2");
		ok = !IS_ERR_OR_NULL(b);
		if (ok)
			lockmap_entry_set(map, e, b);
		lockmap_entry_unlock(map, e);
	}
	check("entry lock/set/unlock", ok && has(map, "a", "A2"));

	batch = lockmap_batch_lock(map, keys, ARRAY_SIZE(keys), LOCKMAP_WAIT);
	ok = !IS_ERR_OR_NULL(batch) && lockmap_batch_count(batch) == 3;
	if (!IS_ERR_OR_NULL(batch)) {
		for (i = 0; i < lockmap_batch_count(batch); i++) {
			b = blob("B");
			if (IS_ERR_OR_NULL(b)) {
				ok = false;
				continue;
			}
			lockmap_entry_set(map, lockmap_batch_entry(batch, i), b);
		}
		lockmap_batch_unlock(map, batch);
	}
	check("batch lock of 3 keys", ok && has(map, "b", "B") &&
	      has(map, "c", "B") && has(map, "d", "B"));

	ok = !lockmap_for_each(map, count_one, &n);
	check("for_each counts 4", ok && n == 4);
	/* absent is 0: an error (-EINVAL for a bad key) is not "absent" */
	check("remove", !lockmap_remove(map, "a", 1, NULL) &&
	      lockmap_contains(map, "a", 1) == 0 &&
	      lockmap_contains(map, "b", 1) == 1);
	check("len", lockmap_len(map) == 3);
	lockmap_destroy(map);
}

static void check_lru(void)
{
	size_t evicted = 0;
	struct lockmap_params params = {
		.name = "lockmap_consumer_lru",
		.nr_shards = 1,
		.capacity = 4,
		.free_value = lockmap_blob_free,
		.evict = count_evict,
		.priv = &evicted,
	};
	struct lockmap *lru;
	char key[2] = "a";
	bool ok = true;

	lru = lockmap_create(&params);
	check("create lru", !IS_ERR_OR_NULL(lru));
	if (IS_ERR_OR_NULL(lru))
		return;
	for (; key[0] < 'a' + 8; key[0]++)
		ok &= put(lru, key, "v");
	check("lru evicts beyond its capacity",
	      ok && lockmap_len(lru) == 4 && evicted == 4 &&
	      lockmap_contains(lru, "a", 1) == 0 &&
	      lockmap_contains(lru, "h", 1) == 1);
	lockmap_destroy(lru);
}

static int __init lockmap_consumer_init(void)
{
	check_map();
	check_lru();
	pr_info("%u passed, %u failed\n", passed, failed);
	return 0;
}

static void __exit lockmap_consumer_exit(void)
{
}

module_init(lockmap_consumer_init);
module_exit(lockmap_consumer_exit);
MODULE_DESCRIPTION("Exercises the lockmap API from another module");
MODULE_LICENSE("GPL");
