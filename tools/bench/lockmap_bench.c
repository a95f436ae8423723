// SPDX-License-Identifier: GPL-2.0
/*
 * lockmap_bench: throughput of lockmap against what a kernel developer would
 * otherwise write, measured by kthreads inside the kernel, plus the memory an
 * entry costs.  Everything runs from module init and prints one line per
 * measurement, which tools/bench/report.py parses:
 *
 *   lockmap_bench: workload=get_hit impl=lockmap threads=2 run=3 ops=...
 *	ns=... ops_per_sec=... misses=0 oversubscribed=0
 *   lockmap_bench: mem impl=lockmap entries=... free_delta=... slab_delta=...
 *
 * Keys are u64s made by xorshift64 from a key number; values are u64s stored
 * directly as the map's void * (always odd, so never NULL), with no
 * destructor, so what is measured is the map, not an allocator for values.
 *
 * Implementations ("impl"), all with the same keys and values:
 *  - lockmap: the map under test, 8-byte fixed-length keys.
 *  - lockmap_rcu: the same with rcu_get (a lockless get; the values here are
 *    plain integers, which is what that option's contract asks for).
 *  - lru, lru_rcu: the same two with a capacity (an LRU cache).
 *  - rhashtable: a raw rhashtable of 24-byte nodes (jhash2 of the u64 key),
 *    RCU lookups, no per-key lock at all.  The floor: it cannot lock a key,
 *    so it only runs the workloads that need no lock.
 *  - global_mutex: the same rhashtable with every operation under one mutex.
 *  - striped_mutex: the same rhashtable with every operation under one of
 *    BENCH_STRIPES cacheline-aligned mutexes picked by a seeded jhash2 of the
 *    key, the usual hand-written pattern; several keys are locked in stripe
 *    order.
 *  - global_mutex on the cache workloads (lru_*): the hand-written cache,
 *    one mutex around that rhashtable and one LRU list_head, evicting from
 *    its tail.  A striped LRU would need a list per stripe, which is what
 *    lockmap's shards are, so striped_mutex has no cache counterpart.
 *
 * Module parameters select a smoke run (seconds in all), the number of runs,
 * the duration of a timed run, and subsets of workloads and impls.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/jhash.h>
#include <linux/kthread.h>
#include <linux/log2.h>
#include <linux/ktime.h>
#include <linux/lockmap.h>
#include <linux/math64.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/rhashtable.h>
#include <linux/sched.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/utsname.h>
#include <linux/vmalloc.h>
#include <linux/vmstat.h>

/* Only to print the breakdown next to the measured memory (object size). */
#include "lockmap_internal.h"

static bool smoke;
module_param(smoke, bool, 0444);
MODULE_PARM_DESC(smoke, "Quick run: one short run each, at most 16K keys");

static unsigned int runs = 5;
module_param(runs, uint, 0444);
MODULE_PARM_DESC(runs, "Runs of each workload, impl and thread count");

static unsigned int duration_ms = 300;
module_param(duration_ms, uint, 0444);
MODULE_PARM_DESC(duration_ms, "Length of one timed run in milliseconds");

static char *workloads;
module_param(workloads, charp, 0444);
MODULE_PARM_DESC(workloads, "Comma-separated workloads to run (default all)");

static char *impls;
module_param(impls, charp, 0444);
MODULE_PARM_DESC(impls, "Comma-separated impls to run (default all)");

static unsigned int mem_entries = 1 << 20;
module_param(mem_entries, uint, 0444);
MODULE_PARM_DESC(mem_entries, "Entries for the bytes-per-entry measurement (0: skip)");

static unsigned int profile;
module_param(profile, uint, 0444);
MODULE_PARM_DESC(profile, "Iterations of each single-thread cost probe (0: none)");

static unsigned int profile_keys = 1 << 16;
module_param(profile_keys, uint, 0444);
MODULE_PARM_DESC(profile_keys, "Keys the cost probes use, a power of two");

#define BENCH_MAX_THREADS	4
#define BENCH_SMOKE_KEYS	BIT(14)
#define BENCH_SMOKE_MS		20
#define BENCH_BATCH		32	/* operations between stop checks */
#define BENCH_STRIPES		256
#define BENCH_MAX_TABLES	1024	/* lockmap's most shards */

static const unsigned int bench_threads[] = { 1, 2, 4 };

/* Keys and values */

static inline u64 xorshift64(u64 *state)
{
	u64 x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/*
 * Key number @i.  Each xorshift64 step is an invertible linear map of the
 * u64s, so distinct numbers give distinct, well-scattered keys.
 */
static inline u64 bench_key(u64 i)
{
	u64 x = i + 0x9e3779b97f4a7c15ULL;

	xorshift64(&x);
	return xorshift64(&x);
}

static inline u64 bench_val(u64 key)
{
	return key | 1;
}

/* Implementations */

enum bench_impl_id {
	IMPL_LOCKMAP,
	IMPL_LOCKMAP_RCU,
	IMPL_LRU,
	IMPL_LRU_RCU,
	IMPL_RHT,
	IMPL_GLOBAL,
	IMPL_STRIPED,
	IMPL_GLOBAL_LRU,
	NR_IMPLS,
};

/*
 * One implementation.  @get and @peek return 0 or -ENOENT; @update locks a
 * key, adds 2 to its value and unlocks it; @update4 does the same to four
 * keys locked together.  A NULL operation means "does not apply".
 */
struct bench_impl {
	const char *name;
	void *(*create)(size_t nkeys, size_t capacity);
	void (*destroy)(void *m);
	int (*insert)(void *m, u64 key, u64 val);
	int (*get)(void *m, u64 key, u64 *val);
	int (*peek)(void *m, u64 key, u64 *val);
	int (*update)(void *m, u64 key);
	int (*update4)(void *m, const u64 *keys);
};

/* lockmap and lru */

static bool bench_is_lockmap(enum bench_impl_id id)
{
	return id <= IMPL_LRU_RCU;
}

static void *bench_lockmap_create(size_t capacity, bool rcu_get)
{
	struct lockmap_params p = {
		.name = "lockmap_bench",
		.key_len = sizeof(u64),
		.capacity = capacity,
		.rcu_get = rcu_get,
	};
	struct lockmap *map = lockmap_create(&p);

	return IS_ERR(map) ? NULL : map;
}

static void *bench_plain_create(size_t nkeys, size_t capacity)
{
	return bench_lockmap_create(0, false);
}

static void *bench_plain_rcu_create(size_t nkeys, size_t capacity)
{
	return bench_lockmap_create(0, true);
}

static void *bench_lru_create(size_t nkeys, size_t capacity)
{
	return bench_lockmap_create(capacity, false);
}

static void *bench_lru_rcu_create(size_t nkeys, size_t capacity)
{
	return bench_lockmap_create(capacity, true);
}

static void bench_lockmap_destroy(void *m)
{
	lockmap_destroy(m);
}

static int bench_lockmap_insert(void *m, u64 key, u64 val)
{
	return lockmap_insert(m, &key, sizeof(key), (void *)(uintptr_t)val,
			      NULL);
}

static int bench_copy(const void *value, void *arg)
{
	*(u64 *)arg = (uintptr_t)value;
	return 0;
}

static int bench_lockmap_get(void *m, u64 key, u64 *val)
{
	return lockmap_get(m, &key, sizeof(key), bench_copy, val);
}

static int bench_lockmap_peek(void *m, u64 key, u64 *val)
{
	return lockmap_peek(m, &key, sizeof(key), bench_copy, val);
}

static int bench_lockmap_update(void *m, u64 key)
{
	struct lockmap_entry *e;
	uintptr_t v;

	e = lockmap_entry(m, &key, sizeof(key));
	if (IS_ERR(e))
		return PTR_ERR(e);
	v = (uintptr_t)lockmap_entry_value(e);
	if (v)
		lockmap_entry_swap(m, e, (void *)(v + 2));
	lockmap_entry_unlock(m, e);
	return v ? 0 : -ENOENT;
}

static int bench_lockmap_update4(void *m, const u64 *keys)
{
	struct lockmap_key ks[4];
	struct lockmap_batch *b;
	unsigned int i, n;
	int ret = 0;

	for (i = 0; i < 4; i++) {
		ks[i].key = &keys[i];
		ks[i].len = sizeof(u64);
	}
	b = lockmap_batch_lock(m, ks, 4, LOCKMAP_WAIT);
	if (IS_ERR(b))
		return PTR_ERR(b);
	n = lockmap_batch_count(b);
	for (i = 0; i < n; i++) {
		struct lockmap_entry *e = lockmap_batch_entry(b, i);
		uintptr_t v = (uintptr_t)lockmap_entry_value(e);

		if (v)
			lockmap_entry_swap(m, e, (void *)(v + 2));
		else
			ret = -ENOENT;
	}
	lockmap_batch_unlock(m, b);
	return ret;
}

/* The baselines' common table: an rhashtable of u64 keys, jhash2-hashed. */

struct bench_node {
	struct rhash_head node;
	u64 key;
	u64 value;
};

static const struct rhashtable_params bench_rht_params = {
	.head_offset = offsetof(struct bench_node, node),
	.key_offset = offsetof(struct bench_node, key),
	.key_len = sizeof(u64),
	.automatic_shrinking = true,
};

static struct kmem_cache *bench_node_cache;

struct bench_rht {
	struct rhashtable ht;
};

static int bench_rht_init(struct rhashtable *ht)
{
	struct rhashtable_params p = bench_rht_params;

	return rhashtable_init(ht, &p);
}

static void bench_node_free(void *ptr, void *arg)
{
	kmem_cache_free(bench_node_cache, ptr);
}

/* Finds @key; the caller holds the RCU read lock or the key's mutex. */
static struct bench_node *bench_rht_find(struct rhashtable *ht, u64 key)
{
	return rhashtable_lookup(ht, &key, bench_rht_params);
}

/* Sets @key's value, adding a node if the key has none. */
static int bench_rht_set(struct rhashtable *ht, u64 key, u64 val)
{
	struct bench_node *n, *old;

	rcu_read_lock();
	n = bench_rht_find(ht, key);
	if (n)
		WRITE_ONCE(n->value, val);
	rcu_read_unlock();
	if (n)
		return 0;

	n = kmem_cache_alloc(bench_node_cache, GFP_KERNEL);
	if (!n)
		return -ENOMEM;
	n->key = key;
	n->value = val;
	rcu_read_lock();
	old = rhashtable_lookup_get_insert_fast(ht, &n->node, bench_rht_params);
	if (old && !IS_ERR(old))
		WRITE_ONCE(old->value, val);
	rcu_read_unlock();
	if (old)
		kmem_cache_free(bench_node_cache, n);
	return IS_ERR(old) ? PTR_ERR(old) : 0;
}

static int bench_rht_get_locked(struct rhashtable *ht, u64 key, u64 *val)
{
	struct bench_node *n;
	int ret = -ENOENT;

	rcu_read_lock();
	n = bench_rht_find(ht, key);
	if (n) {
		*val = READ_ONCE(n->value);
		ret = 0;
	}
	rcu_read_unlock();
	return ret;
}

static int bench_rht_add2(struct rhashtable *ht, u64 key)
{
	struct bench_node *n;

	rcu_read_lock();
	n = bench_rht_find(ht, key);
	if (n)
		n->value += 2;
	rcu_read_unlock();
	return n ? 0 : -ENOENT;
}

/* rhashtable: no per-key lock */

static void *bench_rht_create(size_t nkeys, size_t capacity)
{
	struct bench_rht *b = kzalloc(sizeof(*b), GFP_KERNEL);

	if (b && bench_rht_init(&b->ht)) {
		kfree(b);
		b = NULL;
	}
	return b;
}

static void bench_rht_destroy(void *m)
{
	struct bench_rht *b = m;

	rhashtable_free_and_destroy(&b->ht, bench_node_free, NULL);
	kfree(b);
}

static int bench_rht_insert(void *m, u64 key, u64 val)
{
	return bench_rht_set(&((struct bench_rht *)m)->ht, key, val);
}

static int bench_rht_get(void *m, u64 key, u64 *val)
{
	return bench_rht_get_locked(&((struct bench_rht *)m)->ht, key, val);
}

/* global_mutex: one mutex around the table */

struct bench_global {
	struct mutex lock;	/* guards every operation on @ht */
	struct rhashtable ht;
};

static int bench_global_init(struct bench_global *g)
{
	mutex_init(&g->lock);
	return bench_rht_init(&g->ht);
}

static void bench_global_fini(struct bench_global *g,
			      void (*free_fn)(void *ptr, void *arg))
{
	rhashtable_free_and_destroy(&g->ht, free_fn, NULL);
	mutex_destroy(&g->lock);
}

static void *bench_global_create(size_t nkeys, size_t capacity)
{
	struct bench_global *g = kzalloc(sizeof(*g), GFP_KERNEL);

	if (g && bench_global_init(g)) {
		kfree(g);
		g = NULL;
	}
	return g;
}

static void bench_global_destroy(void *m)
{
	bench_global_fini(m, bench_node_free);
	kfree(m);
}

static int bench_global_insert(void *m, u64 key, u64 val)
{
	struct bench_global *g = m;
	int ret;

	mutex_lock(&g->lock);
	ret = bench_rht_set(&g->ht, key, val);
	mutex_unlock(&g->lock);
	return ret;
}

static int bench_global_get(void *m, u64 key, u64 *val)
{
	struct bench_global *g = m;
	int ret;

	mutex_lock(&g->lock);
	ret = bench_rht_get_locked(&g->ht, key, val);
	mutex_unlock(&g->lock);
	return ret;
}

static int bench_global_update(void *m, u64 key)
{
	struct bench_global *g = m;
	int ret;

	mutex_lock(&g->lock);
	ret = bench_rht_add2(&g->ht, key);
	mutex_unlock(&g->lock);
	return ret;
}

static int bench_global_update4(void *m, const u64 *keys)
{
	struct bench_global *g = m;
	int i, ret = 0;

	mutex_lock(&g->lock);
	for (i = 0; i < 4; i++)
		ret = bench_rht_add2(&g->ht, keys[i]) ?: ret;
	mutex_unlock(&g->lock);
	return ret;
}

/*
 * global_mutex for the cache workloads: one mutex around the table and its
 * LRU list.  Every lookup holds the mutex, so an evicted node is freed at
 * once, with no RCU grace period.
 */

struct bench_lru_node {
	struct bench_node n;	/* first: the table sees a struct bench_node */
	struct list_head lru;
};

struct bench_global_lru {
	struct bench_global g;	/* g.lock also guards @lru and @count */
	struct list_head lru;	/* most recently used first */
	size_t count;
	size_t capacity;
};

static struct kmem_cache *bench_lru_node_cache;

static void bench_lru_node_free(void *ptr, void *arg)
{
	kmem_cache_free(bench_lru_node_cache, ptr);
}

static void *bench_glru_create(size_t nkeys, size_t capacity)
{
	struct bench_global_lru *c = kzalloc(sizeof(*c), GFP_KERNEL);

	if (!c)
		return NULL;
	if (bench_global_init(&c->g)) {
		kfree(c);
		return NULL;
	}
	INIT_LIST_HEAD(&c->lru);
	c->capacity = capacity;
	return c;
}

static void bench_glru_destroy(void *m)
{
	struct bench_global_lru *c = m;

	bench_global_fini(&c->g, bench_lru_node_free);
	kfree(c);
}

/* Finds @key; the caller holds the mutex, so the node stays. */
static struct bench_lru_node *bench_glru_find(struct bench_global_lru *c,
					      u64 key)
{
	struct bench_node *n;

	rcu_read_lock();
	n = bench_rht_find(&c->g.ht, key);
	rcu_read_unlock();
	return n ? container_of(n, struct bench_lru_node, n) : NULL;
}

static int bench_glru_add(struct bench_global_lru *c, u64 key, u64 val)
{
	struct bench_lru_node *n, *old;
	int err;

	n = kmem_cache_alloc(bench_lru_node_cache, GFP_KERNEL);
	if (!n)
		return -ENOMEM;
	n->n.key = key;
	n->n.value = val;
	err = rhashtable_insert_fast(&c->g.ht, &n->n.node, bench_rht_params);
	if (err) {
		kmem_cache_free(bench_lru_node_cache, n);
		return err;
	}
	list_add(&n->lru, &c->lru);
	if (++c->count <= c->capacity)
		return 0;
	old = list_last_entry(&c->lru, struct bench_lru_node, lru);
	rhashtable_remove_fast(&c->g.ht, &old->n.node, bench_rht_params);
	list_del(&old->lru);
	c->count--;
	kmem_cache_free(bench_lru_node_cache, old);
	return 0;
}

static int bench_glru_insert(void *m, u64 key, u64 val)
{
	struct bench_global_lru *c = m;
	struct bench_lru_node *n;
	int ret = 0;

	mutex_lock(&c->g.lock);
	n = bench_glru_find(c, key);
	if (n) {
		n->n.value = val;
		list_move(&n->lru, &c->lru);
	} else {
		ret = bench_glru_add(c, key, val);
	}
	mutex_unlock(&c->g.lock);
	return ret;
}

static int bench_glru_lookup(void *m, u64 key, u64 *val, bool promote)
{
	struct bench_global_lru *c = m;
	struct bench_lru_node *n;

	mutex_lock(&c->g.lock);
	n = bench_glru_find(c, key);
	if (n) {
		*val = n->n.value;
		if (promote)
			list_move(&n->lru, &c->lru);
	}
	mutex_unlock(&c->g.lock);
	return n ? 0 : -ENOENT;
}

static int bench_glru_get(void *m, u64 key, u64 *val)
{
	return bench_glru_lookup(m, key, val, true);
}

static int bench_glru_peek(void *m, u64 key, u64 *val)
{
	return bench_glru_lookup(m, key, val, false);
}

/* striped_mutex: a hashed array of mutexes around the table */

struct bench_stripe {
	struct mutex lock;	/* guards the keys hashed to this stripe */
} ____cacheline_aligned_in_smp;

struct bench_striped {
	struct rhashtable ht;
	u32 seed;
	struct bench_stripe stripes[BENCH_STRIPES];
};

static inline unsigned int bench_stripe_of(const struct bench_striped *s,
					   u64 key)
{
	return jhash2((const u32 *)&key, 2, s->seed) & (BENCH_STRIPES - 1);
}

static void *bench_striped_create(size_t nkeys, size_t capacity)
{
	struct bench_striped *s = kvzalloc(sizeof(*s), GFP_KERNEL);
	unsigned int i;

	if (!s)
		return NULL;
	s->seed = get_random_u32();
	for (i = 0; i < BENCH_STRIPES; i++)
		mutex_init(&s->stripes[i].lock);
	if (bench_rht_init(&s->ht)) {
		kvfree(s);
		return NULL;
	}
	return s;
}

static void bench_striped_destroy(void *m)
{
	struct bench_striped *s = m;
	unsigned int i;

	rhashtable_free_and_destroy(&s->ht, bench_node_free, NULL);
	for (i = 0; i < BENCH_STRIPES; i++)
		mutex_destroy(&s->stripes[i].lock);
	kvfree(s);
}

static int bench_striped_insert(void *m, u64 key, u64 val)
{
	struct bench_striped *s = m;
	struct mutex *lock = &s->stripes[bench_stripe_of(s, key)].lock;
	int ret;

	mutex_lock(lock);
	ret = bench_rht_set(&s->ht, key, val);
	mutex_unlock(lock);
	return ret;
}

static int bench_striped_get(void *m, u64 key, u64 *val)
{
	struct bench_striped *s = m;
	struct mutex *lock = &s->stripes[bench_stripe_of(s, key)].lock;
	int ret;

	mutex_lock(lock);
	ret = bench_rht_get_locked(&s->ht, key, val);
	mutex_unlock(lock);
	return ret;
}

static int bench_striped_update(void *m, u64 key)
{
	struct bench_striped *s = m;
	struct mutex *lock = &s->stripes[bench_stripe_of(s, key)].lock;
	int ret;

	mutex_lock(lock);
	ret = bench_rht_add2(&s->ht, key);
	mutex_unlock(lock);
	return ret;
}

static int bench_striped_update4(void *m, const u64 *keys)
{
	struct bench_striped *s = m;
	unsigned int idx[4], n = 0, i, j;
	int ret = 0;

	/* Distinct stripes in ascending order: the deadlock-free order. */
	for (i = 0; i < 4; i++) {
		unsigned int x = bench_stripe_of(s, keys[i]);

		for (j = 0; j < n && idx[j] < x; j++)
			;
		if (j < n && idx[j] == x)
			continue;
		memmove(&idx[j + 1], &idx[j], (n - j) * sizeof(idx[0]));
		idx[j] = x;
		n++;
	}
	for (i = 0; i < n; i++)
		mutex_lock_nested(&s->stripes[idx[i]].lock, i);
	for (i = 0; i < 4; i++)
		ret = bench_rht_add2(&s->ht, keys[i]) ?: ret;
	while (n)
		mutex_unlock(&s->stripes[idx[--n]].lock);
	return ret;
}

/* The four lockmap impls differ only in how the map is made. */
#define BENCH_LOCKMAP_IMPL(impl_name, create_fn)			\
	{								\
		.name = impl_name,					\
		.create = create_fn,					\
		.destroy = bench_lockmap_destroy,			\
		.insert = bench_lockmap_insert,				\
		.get = bench_lockmap_get,				\
		.peek = bench_lockmap_peek,				\
		.update = bench_lockmap_update,				\
		.update4 = bench_lockmap_update4,			\
	}

static const struct bench_impl bench_impls[NR_IMPLS] = {
	[IMPL_LOCKMAP] = BENCH_LOCKMAP_IMPL("lockmap", bench_plain_create),
	[IMPL_LOCKMAP_RCU] = BENCH_LOCKMAP_IMPL("lockmap_rcu",
						bench_plain_rcu_create),
	[IMPL_LRU] = BENCH_LOCKMAP_IMPL("lru", bench_lru_create),
	[IMPL_LRU_RCU] = BENCH_LOCKMAP_IMPL("lru_rcu", bench_lru_rcu_create),
	[IMPL_RHT] = {
		.name = "rhashtable",
		.create = bench_rht_create,
		.destroy = bench_rht_destroy,
		.insert = bench_rht_insert,
		.get = bench_rht_get,
	},
	[IMPL_GLOBAL] = {
		.name = "global_mutex",
		.create = bench_global_create,
		.destroy = bench_global_destroy,
		.insert = bench_global_insert,
		.get = bench_global_get,
		.update = bench_global_update,
		.update4 = bench_global_update4,
	},
	[IMPL_STRIPED] = {
		.name = "striped_mutex",
		.create = bench_striped_create,
		.destroy = bench_striped_destroy,
		.insert = bench_striped_insert,
		.get = bench_striped_get,
		.update = bench_striped_update,
		.update4 = bench_striped_update4,
	},
	[IMPL_GLOBAL_LRU] = {
		.name = "global_mutex",
		.create = bench_glru_create,
		.destroy = bench_glru_destroy,
		.insert = bench_glru_insert,
		.get = bench_glru_get,
		.peek = bench_glru_peek,
	},
};

/* Workloads */

enum bench_op {
	OP_INSERT_ALL,		/* insert every key into an empty map, timed */
	OP_GET,			/* get random present keys */
	OP_PEEK,		/* peek random present keys */
	OP_MIXED,		/* 90% get, 10% insert (overwrite) */
	OP_UPDATE,		/* lock a random key, update, unlock */
	OP_HOT,			/* the same with every thread on one key */
	OP_BATCH4,		/* lock 4 random keys together, update, unlock */
	OP_INSERT_EVICT,	/* insert new keys into a full cache */
};

#define B(impl) BIT(IMPL_##impl)
#define LOCKMAPS (B(LOCKMAP) | B(LOCKMAP_RCU))
#define LRUS (B(LRU) | B(LRU_RCU))
#define CACHES (LRUS | B(GLOBAL_LRU))
#define LOCKING (LOCKMAPS | B(GLOBAL) | B(STRIPED))
#define ALL_MAPS (LOCKING | B(RHT))

struct bench_workload {
	const char *name;
	enum bench_op op;
	u32 nkeys;		/* a power of two */
	u32 impls;		/* mask of enum bench_impl_id */
};

static const struct bench_workload bench_workloads[] = {
	{ "insert_1m", OP_INSERT_ALL, 1 << 20, ALL_MAPS },
	{ "get_hit", OP_GET, 1 << 16, ALL_MAPS | LRUS },
	{ "mixed_90_10", OP_MIXED, 1 << 16, ALL_MAPS },
	{ "entry_update", OP_UPDATE, 1 << 16, LOCKING },
	{ "entry_hot_key", OP_HOT, 1 << 16, LOCKING },
	{ "batch_lock_4", OP_BATCH4, 1 << 16, LOCKING },
	{ "lru_get", OP_GET, 1 << 16, CACHES },
	{ "lru_peek", OP_PEEK, 1 << 16, CACHES },
	{ "lru_insert_evict", OP_INSERT_EVICT, 1 << 16, CACHES },
	{ "get_1k", OP_GET, 1 << 10, ALL_MAPS },
	{ "get_64k", OP_GET, 1 << 16, ALL_MAPS },
	{ "get_1m", OP_GET, 1 << 20, ALL_MAPS },
};

/* Runs */

struct bench_run;

struct bench_thread {
	struct task_struct *task;
	struct bench_run *run;
	unsigned int id;
	u64 ops;
	u64 misses;
};

struct bench_run {
	const struct bench_workload *w;
	const struct bench_impl *impl;
	void *map;
	u32 nkeys;
	unsigned int nr_threads;
	atomic_t ready;
	atomic_t running;
	struct completion all_ready;
	struct completion go;
	struct completion all_done;
	bool stop;
	struct bench_thread threads[BENCH_MAX_THREADS];
};

/* Key numbers at and above this are never populated: for new keys. */
#define BENCH_NEW_KEYS	BIT_ULL(40)

static void bench_one(struct bench_thread *t, const struct bench_run *r,
		      u64 *rnd, u64 *seq)
{
	const struct bench_impl *impl = r->impl;
	u64 x = xorshift64(rnd), mask = r->nkeys - 1, keys[4], v;
	int err = 0;

	switch (r->w->op) {
	case OP_GET:
		err = impl->get(r->map, bench_key(x & mask), &v);
		break;
	case OP_PEEK:
		err = impl->peek(r->map, bench_key(x & mask), &v);
		break;
	case OP_MIXED:
		/* The top 32 bits below 2^32 / 10: one operation in ten. */
		if ((u32)(x >> 32) < 0x1999999aU)
			err = impl->insert(r->map, bench_key(x & mask),
					   bench_val(x));
		else
			err = impl->get(r->map, bench_key(x & mask), &v);
		break;
	case OP_UPDATE:
		err = impl->update(r->map, bench_key(x & mask));
		break;
	case OP_HOT:
		err = impl->update(r->map, bench_key(0));
		break;
	case OP_BATCH4:
		keys[0] = bench_key(x & mask);
		keys[1] = bench_key((x >> 20) & mask);
		keys[2] = bench_key((x >> 40) & mask);
		keys[3] = bench_key(xorshift64(rnd) & mask);
		err = impl->update4(r->map, keys);
		break;
	case OP_INSERT_EVICT:
		v = bench_key(BENCH_NEW_KEYS * (t->id + 1) + (*seq)++);
		err = impl->insert(r->map, v, bench_val(v));
		break;
	case OP_INSERT_ALL:
		break;
	}
	if (err)
		t->misses++;
}

/* OP_INSERT_ALL: thread i of n inserts key numbers i, i + n, i + 2n... */
static void bench_insert_share(struct bench_thread *t,
			       const struct bench_run *r)
{
	u64 i;

	for (i = t->id; i < r->nkeys; i += r->nr_threads) {
		u64 key = bench_key(i);

		if (r->impl->insert(r->map, key, bench_val(key)))
			t->misses++;
		t->ops++;
		if (!(i % (BENCH_BATCH * r->nr_threads)))
			cond_resched();
	}
}

static int bench_thread_fn(void *arg)
{
	struct bench_thread *t = arg;
	struct bench_run *r = t->run;
	u64 rnd = bench_key(t->id + 12345) | 1, seq = 0;
	unsigned int i;

	if (atomic_inc_return(&r->ready) == r->nr_threads)
		complete(&r->all_ready);
	wait_for_completion(&r->go);
	if (r->w->op == OP_INSERT_ALL) {
		if (!READ_ONCE(r->stop))
			bench_insert_share(t, r);
	} else {
		while (!READ_ONCE(r->stop)) {
			for (i = 0; i < BENCH_BATCH; i++)
				bench_one(t, r, &rnd, &seq);
			t->ops += BENCH_BATCH;
			cond_resched();
		}
	}
	if (atomic_dec_and_test(&r->running))
		complete(&r->all_done);

	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

/*
 * One measurement: @nr threads, bound round robin to the online CPUs, start
 * together; a timed workload runs for @ms, OP_INSERT_ALL until every key is
 * in.  Returns the operations done and the wall time they took.
 */
static int bench_measure(struct bench_run *r, unsigned int nr,
			 unsigned int ms, u64 *ops, u64 *ns, u64 *misses)
{
	unsigned int i, cpu = cpumask_first(cpu_online_mask);
	u64 t0, t1;
	int err = 0;

	memset(r->threads, 0, sizeof(r->threads));
	r->nr_threads = nr;
	r->stop = false;
	atomic_set(&r->ready, 0);
	atomic_set(&r->running, nr);
	init_completion(&r->all_ready);
	init_completion(&r->go);
	init_completion(&r->all_done);

	for (i = 0; i < nr; i++) {
		struct bench_thread *t = &r->threads[i];

		t->run = r;
		t->id = i;
		t->task = kthread_create(bench_thread_fn, t, "lockmap_bench/%u",
					 i);
		if (IS_ERR(t->task)) {
			err = PTR_ERR(t->task);
			t->task = NULL;
			break;
		}
		kthread_bind(t->task, cpu);
		cpu = cpumask_next(cpu, cpu_online_mask);
		if (cpu >= nr_cpu_ids)
			cpu = cpumask_first(cpu_online_mask);
	}
	if (err) {
		/* Let the threads that exist run through and stop. */
		WRITE_ONCE(r->stop, true);
		r->nr_threads = i;
		atomic_set(&r->running, i);
		for (i = 0; i < r->nr_threads; i++)
			wake_up_process(r->threads[i].task);
		complete_all(&r->go);
		for (i = 0; i < r->nr_threads; i++)
			kthread_stop(r->threads[i].task);
		return err;
	}
	for (i = 0; i < nr; i++)
		wake_up_process(r->threads[i].task);

	wait_for_completion(&r->all_ready);
	t0 = ktime_get_ns();
	complete_all(&r->go);
	if (r->w->op != OP_INSERT_ALL) {
		msleep(ms);
		WRITE_ONCE(r->stop, true);
	}
	wait_for_completion(&r->all_done);
	t1 = ktime_get_ns();

	*ops = 0;
	*misses = 0;
	for (i = 0; i < nr; i++) {
		kthread_stop(r->threads[i].task);
		*ops += r->threads[i].ops;
		*misses += r->threads[i].misses;
	}
	*ns = t1 - t0;
	return 0;
}

/* Selection by module parameter: a comma-separated list, or everything. */
static bool bench_selected(const char *list, const char *name)
{
	size_t len = strlen(name);
	const char *p = list;

	if (!list || !*list)
		return true;
	while (p && *p) {
		if (!strncmp(p, name, len) && (p[len] == ',' || !p[len]))
			return true;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return false;
}

static u32 bench_nkeys(const struct bench_workload *w)
{
	return smoke ? min_t(u32, w->nkeys, BENCH_SMOKE_KEYS) : w->nkeys;
}

static void *bench_create(const struct bench_impl *impl,
			  const struct bench_workload *w, u32 nkeys)
{
	/* A cache that holds every key, except when eviction is the point. */
	size_t capacity = w->op == OP_INSERT_EVICT ? nkeys : 2 * (size_t)nkeys;

	return impl->create(nkeys, capacity);
}

static int bench_populate(const struct bench_impl *impl, void *map, u32 n)
{
	u32 i;
	int err;

	for (i = 0; i < n; i++) {
		u64 key = bench_key(i);

		err = impl->insert(map, key, bench_val(key));
		if (err)
			return err;
		if (!(i % 1024))
			cond_resched();
	}
	return 0;
}

/* Lets deferred table resizes and RCU frees finish. */
static void bench_settle(void)
{
	msleep(200);
	rcu_barrier();
	msleep(50);
	rcu_barrier();
}

/* True while a table is being resized, or is due to be. */
static bool bench_table_busy(struct rhashtable *ht)
{
	struct bucket_table *tbl;
	bool busy;

	rcu_read_lock();
	tbl = rcu_dereference(ht->tbl);
	busy = rcu_access_pointer(tbl->future_tbl) ||
	       rht_grow_above_75(ht, tbl) || rht_shrink_below_30(ht, tbl);
	rcu_read_unlock();
	return busy;
}

/* The tables of a map of @id (a lockmap's shards, or the one table). */
static unsigned int bench_tables(enum bench_impl_id id, void *map,
				 struct rhashtable **tables, unsigned int max)
{
	struct lockmap *lm = map;
	unsigned int i;

	switch (id) {
	case IMPL_RHT:
		tables[0] = &((struct bench_rht *)map)->ht;
		return 1;
	case IMPL_GLOBAL:
		tables[0] = &((struct bench_global *)map)->ht;
		return 1;
	case IMPL_STRIPED:
		tables[0] = &((struct bench_striped *)map)->ht;
		return 1;
	case IMPL_GLOBAL_LRU:
		tables[0] = &((struct bench_global_lru *)map)->g.ht;
		return 1;
	default:
		for (i = 0; i <= lm->shard_mask && i < max; i++)
			tables[i] = &lm->shards[i].ht;
		return i;
	}
}

/*
 * Waits (up to 10 s) until no table of @map is being resized or due to be,
 * then for the RCU frees: after bench_populate(), so that neither the
 * deferred resizes nor the frees of outgrown bucket arrays run beside a
 * measurement.  Returns false if a table was still busy.
 */
static bool bench_quiesce(enum bench_impl_id id, void *map)
{
	struct rhashtable **tables;
	unsigned int nr, i, tries;

	tables = kcalloc(BENCH_MAX_TABLES, sizeof(*tables), GFP_KERNEL);
	if (!tables)
		return false;
	nr = bench_tables(id, map, tables, BENCH_MAX_TABLES);
	for (tries = 0; tries < 200; tries++) {
		for (i = 0; i < nr; i++)
			if (bench_table_busy(tables[i]))
				break;
		if (i == nr)
			break;
		msleep(50);
	}
	kfree(tables);
	bench_settle();
	return tries < 200;
}

static unsigned int bench_errors;

static void bench_report(const struct bench_run *r, unsigned int threads,
			 unsigned int run, u64 ops, u64 ns, u64 misses)
{
	pr_info("workload=%s impl=%s threads=%u run=%u ops=%llu ns=%llu ops_per_sec=%llu misses=%llu oversubscribed=%d\n",
		r->w->name, r->impl->name, threads, run, ops, ns,
		ns ? div64_u64(ops * NSEC_PER_SEC, ns) : 0, misses,
		threads > num_online_cpus());
	/* Every populated key is present, and no insert may fail. */
	if (misses)
		bench_errors++;
}

static bool bench_runs(const struct bench_workload *w, unsigned int i)
{
	return (w->impls & BIT(i)) && bench_selected(impls, bench_impls[i].name);
}

/* One measurement of impl @i with bench_threads[@ti]; @run 0: warm-up. */
static int bench_one_run(const struct bench_workload *w, struct bench_run *r,
			 void **maps, unsigned int i, unsigned int ti,
			 unsigned int run)
{
	u64 ops, ns, misses;
	int err;

	r->impl = &bench_impls[i];
	r->map = maps[i];
	if (w->op == OP_INSERT_ALL) {
		r->map = bench_create(r->impl, w, r->nkeys);
		if (!r->map)
			return -ENOMEM;
	}
	err = bench_measure(r, bench_threads[ti],
			    run ? duration_ms : max(duration_ms / 2, 1U),
			    &ops, &ns, &misses);
	if (w->op == OP_INSERT_ALL)
		r->impl->destroy(r->map);
	if (!err && run)
		bench_report(r, bench_threads[ti], run, ops, ns, misses);
	return err;
}

static int bench_workload(const struct bench_workload *w,
			  struct bench_run *r)
{
	unsigned int order[NR_IMPLS], n = 0, ti, run, i, k;
	void *maps[NR_IMPLS] = { };
	int err = 0;

	r->w = w;
	r->nkeys = bench_nkeys(w);
	/* Timed workloads: every impl's map is built once and reused. */
	for (i = 0; i < NR_IMPLS && w->op != OP_INSERT_ALL; i++) {
		if (!bench_runs(w, i))
			continue;
		maps[i] = bench_create(&bench_impls[i], w, r->nkeys);
		if (!maps[i]) {
			err = -ENOMEM;
			goto out;
		}
		err = bench_populate(&bench_impls[i], maps[i], r->nkeys);
		if (err)
			goto out;
	}
	/* No resize or RCU free left over from the filling runs beside them. */
	for (i = 0; i < NR_IMPLS; i++)
		if (maps[i] && !bench_quiesce(i, maps[i]))
			pr_warn("workload=%s impl=%s: tables still resizing\n",
				w->name, bench_impls[i].name);

	/*
	 * Each round measures every thread count and, within it, every impl
	 * in turn, so a change of load on the host hits them all alike; the
	 * impl that goes first moves on each round.  Round 0, a shorter one,
	 * is not reported: it warms the emulator's code and TLB caches up,
	 * which would otherwise slow the first runs of each impl down.
	 * OP_INSERT_ALL builds a map per run, which a warm-up would double.
	 */
	for (i = 0; i < NR_IMPLS; i++)
		if (bench_runs(w, i))
			order[n++] = i;
	for (run = w->op == OP_INSERT_ALL; run <= runs; run++) {
		for (ti = 0; ti < ARRAY_SIZE(bench_threads); ti++) {
			for (k = 0; k < n; k++) {
				err = bench_one_run(w, r, maps,
						    order[(k + run) % n], ti, run);
				if (err)
					goto out;
			}
		}
	}
out:
	for (i = 0; i < NR_IMPLS; i++)
		if (maps[i])
			bench_impls[i].destroy(maps[i]);
	if (err)
		pr_err("workload=%s failed: %d\n", w->name, err);
	return err;
}

/* Memory */

static unsigned long bench_slab_pages(void)
{
	return global_node_page_state_pages(NR_SLAB_UNRECLAIMABLE_B) +
	       global_node_page_state_pages(NR_SLAB_RECLAIMABLE_B);
}

/*
 * VmallocUsed of /proc/meminfo in bytes, or -1: vmalloc_nr_pages(), which
 * it prints, is not exported to modules.
 */
static long bench_vmalloc_bytes(void)
{
	struct file *f = filp_open("/proc/meminfo", O_RDONLY, 0);
	long kb = -1;
	loff_t pos = 0;
	char *buf, *p;
	ssize_t n;

	if (IS_ERR(f))
		return -1;
	buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (buf) {
		n = kernel_read(f, buf, PAGE_SIZE - 1, &pos);
		if (n > 0) {
			buf[n] = '\0';
			p = strstr(buf, "VmallocUsed:");
			if (!p || sscanf(p, "VmallocUsed: %ld kB", &kb) != 1)
				kb = -1;
		}
		kfree(buf);
	}
	filp_close(f, NULL);
	return kb < 0 ? -1 : kb * 1024;
}

static size_t bench_table_bytes(struct rhashtable *ht)
{
	struct bucket_table *tbl;
	size_t bytes;

	rcu_read_lock();
	tbl = rcu_dereference(ht->tbl);
	bytes = struct_size(tbl, buckets, tbl->size);
	rcu_read_unlock();
	return bytes;
}

/*
 * Bytes per entry, measured: the system's slab pages (NR_SLAB_*: every slab
 * page of every cache, so the entry cache with its per-slab waste, plus the
 * pages of large kmalloc()s, where rhashtable bucket arrays up to a few MiB
 * come from) and vmalloc pages (VmallocUsed: the larger bucket arrays) are
 * read with @n keys in a new map, and again once the map is destroyed, with
 * deferred rhashtable resizes and RCU frees settled each time.  What the
 * destruction gave back, divided by the entries the map held, is the figure
 * reported: everything the map held, allocator waste included.  The growth
 * from before the map was created is printed beside it; it is larger by the
 * kmalloc slabs that the bucket arrays outgrown on the way left partly
 * empty.  The guest is otherwise idle; per-CPU counter deltas not yet folded
 * in leave an error of a few dozen pages (0.2 bytes per entry at 1M keys).
 * The drop in free pages (noisier: per-CPU page lists), the entry cache's
 * object size and the bucket arrays' size are printed as cross-checks.
 * This runs first, before the workloads fragment memory.
 */
static int bench_memory(enum bench_impl_id id, u32 n)
{
	const struct bench_impl *impl = &bench_impls[id];
	long vmalloc0, vmalloc1, vmalloc2, free_delta;
	size_t entries = n, objsize, table = 0;
	unsigned long free0, slab0, slab1, slab2;
	unsigned int nr_tables, i;
	struct rhashtable **tables;
	bool settled;
	void *map;
	int err;

	bench_settle();
	vmalloc0 = bench_vmalloc_bytes();
	free0 = global_zone_page_state(NR_FREE_PAGES);
	slab0 = bench_slab_pages();
	/* A cache big enough for every key: nothing is evicted. */
	map = impl->create(n, 2 * (size_t)n);
	if (!map)
		return -ENOMEM;
	err = bench_populate(impl, map, n);
	if (err) {
		impl->destroy(map);
		return err;
	}
	/* The deferred resizes still to come, then the RCU frees. */
	settled = bench_quiesce(id, map);
	tables = kcalloc(BENCH_MAX_TABLES, sizeof(*tables), GFP_KERNEL);
	if (!tables) {
		impl->destroy(map);
		return -ENOMEM;
	}
	nr_tables = bench_tables(id, map, tables, BENCH_MAX_TABLES);
	slab1 = bench_slab_pages();
	free_delta = (long)(free0 - global_zone_page_state(NR_FREE_PAGES)) *
		     PAGE_SIZE;
	vmalloc1 = bench_vmalloc_bytes();
	for (i = 0; i < nr_tables; i++)
		table += bench_table_bytes(tables[i]);
	if (bench_is_lockmap(id)) {
		entries = lockmap_len(map);
		objsize = kmem_cache_size(((struct lockmap *)map)->cache);
	} else {
		objsize = kmem_cache_size(bench_node_cache);
	}
	kfree(tables);
	impl->destroy(map);
	bench_settle();
	slab2 = bench_slab_pages();
	vmalloc2 = bench_vmalloc_bytes();
	if (vmalloc0 < 0 || vmalloc1 < 0 || vmalloc2 < 0)
		return -EIO;
	pr_info("mem impl=%s entries=%zu bytes=%ld slab_delta=%ld vmalloc_delta=%ld growth=%ld free_delta=%ld object_size=%zu table_bytes=%zu\n",
		impl->name, entries,
		(long)(slab1 - slab2) * (long)PAGE_SIZE + vmalloc1 - vmalloc2,
		(long)(slab1 - slab2) * (long)PAGE_SIZE, vmalloc1 - vmalloc2,
		(long)(slab1 - slab0) * (long)PAGE_SIZE + vmalloc1 - vmalloc0,
		free_delta, objsize, table);
	if (!settled)
		pr_warn("mem impl=%s: tables still resizing\n", impl->name);
	return 0;
}

/*
 * Cost probes (profile=N): single-thread nanoseconds per operation of the
 * pieces an operation is made of, to see where the time of a lockmap call
 * goes: the key loop alone, hashing, a table lookup, the atomics of the
 * reference count and the mutex, allocation, indirect calls, and whole
 * calls of each impl.  Results go to bench_sink so nothing is optimised out.
 */
static u64 bench_sink;

static noinline u64 bench_indirect_target(u64 x)
{
	return x + 1;
}

static int bench_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* lockmap's own table lookup (lockmap_internal.h), without pin or lock. */
static struct lockmap_entry *bench_lm_lookup(struct lockmap *map, u64 key)
{
	struct lockmap_lookup l;

	if (lockmap_prepare(map, &key, sizeof(key), &l))
		return NULL;
	return lockmap_find_rcu(map, &l);
}

/*
 * rhashtable_get's table with nodes padded to lockmap's 64-byte entry: how
 * much of lockmap's lookup cost is only the larger footprint.
 */
struct bench_node64 {
	struct bench_node n;
	u8 pad[64 - sizeof(struct bench_node)];
};

static void bench_node64_free(void *ptr, void *cache)
{
	kmem_cache_free(cache, ptr);
}

static int bench_rht64_fill(struct rhashtable *ht, struct kmem_cache *cache,
			    u32 n)
{
	u32 i;
	int err;

	for (i = 0; i < n; i++) {
		struct bench_node64 *x = kmem_cache_zalloc(cache, GFP_KERNEL);

		if (!x)
			return -ENOMEM;
		x->n.key = bench_key(i);
		x->n.value = bench_val(x->n.key);
		err = rhashtable_insert_fast(ht, &x->n.node, bench_rht_params);
		if (err) {
			kmem_cache_free(cache, x);
			return err;
		}
		cond_resched();
	}
	return 0;
}

#define BENCH_PROBE(name, ...)						\
	do {								\
		u64 rnd_ = 88172645463325252ULL, t0_, i_;		\
									\
		t0_ = ktime_get_ns();					\
		for (i_ = 0; i_ < profile; i_++) {			\
			u64 x __maybe_unused = xorshift64(&rnd_);	\
									\
			__VA_ARGS__;					\
			if (!(i_ & 1023))				\
				cond_resched();				\
		}							\
		pr_info("profile probe=%s ps_per_op=%llu\n", name,	\
			div64_u64((ktime_get_ns() - t0_) * 1000,	\
				  profile));				\
	} while (0)

/* A probe of one impl's get of a random key of @map. */
#define BENCH_PROBE_GET(name, get, map)					\
	BENCH_PROBE(name, {						\
		u64 v;							\
									\
		get(map, bench_key(x & mask), &v);			\
		bench_sink += v;					\
	})

/*
 * The life of a new key's entry replayed inline, without its lock: lookup
 * (a miss), allocation, insertion, removal, and a free that is immediate or,
 * as lockmap must for its RCU readers, after a grace period.
 */
static void bench_lm_entry_life(struct lockmap *map, u64 key, bool rcu_free)
{
	struct lockmap_shard *s;
	struct lockmap_lookup l;
	struct lockmap_entry *e;
	void *mem;

	if (lockmap_prepare(map, &key, sizeof(key), &l))
		return;
	s = lockmap_shard_of(map, l.hash);
	rcu_read_lock();
	bench_sink += !!lockmap_find_rcu(map, &l);
	rcu_read_unlock();
	mem = kmem_cache_alloc(map->cache, GFP_KERNEL);
	if (!mem)
		return;
	e = mem + map->prefix;
	e->hash = l.hash;
	memcpy(e->key, &key, sizeof(key));
	rcu_read_lock();
	if (!rhashtable_lookup_get_insert_key(&s->ht, &l, &e->node,
					      lockmap_rht_params)) {
		spin_lock(&s->lock);
		rhashtable_remove_fast(&s->ht, &e->node, lockmap_rht_params);
		spin_unlock(&s->lock);
	}
	rcu_read_unlock();
	if (!rcu_free) {
		kmem_cache_free(map->cache, mem);
		return;
	}
	/* As lockmap_entry_free(): the RCU head over the value and key. */
	call_rcu((struct rcu_head *)&e->value, map->free_rcu);
}

/* The RCU-freed probe's objects are bare memory, an rcu_head laid over. */
static void bench_lru_node_free_rcu(struct rcu_head *rh)
{
	BUILD_BUG_ON(sizeof(struct bench_lru_node) < sizeof(*rh));
	kmem_cache_free(bench_lru_node_cache, rh);
}

static int bench_profile(void)
{
	const u32 n = roundup_pow_of_two(max(profile_keys, 2U)), mask = n - 1;
	u64 (*indirect)(u64 x) = bench_indirect_target;
	void *lm, *lmr, *rht, *striped, *lru, *glru;
	struct kmem_cache *cache64;
	struct rhashtable rht64;
	siphash_key_t seed;
	hsiphash_key_t hseed;
	struct mutex mutex;	/* probed alone, never contended */
	spinlock_t lock;	/* likewise */
	refcount_t rc;
	atomic_t a;
	int err = -ENOMEM;

	get_random_bytes(&seed, sizeof(seed));
	get_random_bytes(&hseed, sizeof(hseed));
	mutex_init(&mutex);
	spin_lock_init(&lock);
	refcount_set(&rc, 1);
	atomic_set(&a, 0);
	cache64 = KMEM_CACHE(bench_node64, 0);
	if (!cache64)
		return -ENOMEM;
	err = bench_rht_init(&rht64);
	if (err) {
		kmem_cache_destroy(cache64);
		return err;
	}
	lm = bench_impls[IMPL_LOCKMAP].create(n, 0);
	lmr = bench_impls[IMPL_LOCKMAP_RCU].create(n, 0);
	rht = bench_impls[IMPL_RHT].create(n, 0);
	striped = bench_impls[IMPL_STRIPED].create(n, 0);
	lru = bench_impls[IMPL_LRU].create(n, n);
	glru = bench_impls[IMPL_GLOBAL_LRU].create(n, n);
	err = -ENOMEM;
	if (!lm || !lmr || !rht || !striped || !lru || !glru)
		goto out;
	err = bench_populate(&bench_impls[IMPL_LOCKMAP], lm, n) ?:
	      bench_populate(&bench_impls[IMPL_LOCKMAP_RCU], lmr, n) ?:
	      bench_populate(&bench_impls[IMPL_RHT], rht, n) ?:
	      bench_populate(&bench_impls[IMPL_STRIPED], striped, n) ?:
	      bench_populate(&bench_impls[IMPL_LRU], lru, n) ?:
	      bench_populate(&bench_impls[IMPL_GLOBAL_LRU], glru, n) ?:
	      bench_rht64_fill(&rht64, cache64, n);
	if (err)
		goto out;

	BENCH_PROBE("loop", bench_sink += bench_key(x & mask));
	BENCH_PROBE("siphash_8", {
		u64 k = bench_key(x & mask);

		bench_sink += siphash(&k, sizeof(k), &seed);
	});
	BENCH_PROBE("hsiphash_8", {
		u64 k = bench_key(x & mask);

		bench_sink += hsiphash(&k, sizeof(k), &hseed);
	});
	BENCH_PROBE("hsiphash_2u32", {
		u64 k = bench_key(x & mask);

		bench_sink += hsiphash_2u32(k, k >> 32, &hseed);
	});
	BENCH_PROBE("jhash2_8", {
		u64 k = bench_key(x & mask);

		bench_sink += jhash2((u32 *)&k, 2, 1);
	});
	BENCH_PROBE("atomic_inc", atomic_inc(&a));
	BENCH_PROBE("refcount_inc_not_zero+dec_and_lock", {
		bench_sink += refcount_inc_not_zero(&rc);
		bench_sink += refcount_dec_and_lock(&rc, &lock);
	});
	BENCH_PROBE("mutex_lock+unlock", {
		mutex_lock(&mutex);
		mutex_unlock(&mutex);
	});
	BENCH_PROBE("spin_lock+unlock", {
		spin_lock(&lock);
		spin_unlock(&lock);
	});
	BENCH_PROBE("rcu_read_lock+unlock", {
		rcu_read_lock();
		rcu_read_unlock();
	});
	/* What lockmap_release() puts around the unlock of a valued key. */
	BENCH_PROBE("rcu_read_lock_sched+unlock", {
		rcu_read_lock_sched();
		rcu_read_unlock_sched();
	});
	BENCH_PROBE("kmalloc+kfree_64", kfree(kmalloc(64, GFP_KERNEL)));
	BENCH_PROBE("indirect_call", bench_sink += READ_ONCE(indirect)(x));
	BENCH_PROBE("sort_4_u64", {
		u64 v[4] = { x, x >> 16, x >> 32, x >> 48 };

		sort(v, 4, sizeof(v[0]), bench_cmp_u64, NULL);
		bench_sink += v[0];
	});
	BENCH_PROBE_GET("rhashtable_get", bench_rht_get, rht);
	BENCH_PROBE_GET("rhashtable_get_64B_nodes", bench_rht_get_locked, &rht64);
	BENCH_PROBE_GET("striped_mutex_get", bench_striped_get, striped);
	BENCH_PROBE("striped_mutex_update",
		    bench_striped_update(striped, bench_key(x & mask)));
	/* A get without atomics: the floor of lockmap_rcu's get. */
	BENCH_PROBE("lockmap_lookup_rcu", {
		struct lockmap_entry *e;

		rcu_read_lock();
		e = bench_lm_lookup(lm, bench_key(x & mask));
		bench_sink += (uintptr_t)READ_ONCE(e->value);
		rcu_read_unlock();
	});
	BENCH_PROBE("lockmap_lookup_pin_refcount", {
		struct lockmap_entry *e;

		rcu_read_lock();
		e = bench_lm_lookup(lm, bench_key(x & mask));
		if (e && refcount_inc_not_zero(&e->users))
			bench_sink += refcount_dec_and_lock(&e->users, &lock);
		rcu_read_unlock();
	});
	/* lockmap_get()'s slow path inline: lookup, pin, lock, read, unlock. */
	BENCH_PROBE("lockmap_get_replayed", {
		struct lockmap_entry *e;

		rcu_read_lock();
		e = bench_lm_lookup(lm, bench_key(x & mask));
		if (e && !refcount_inc_not_zero(&e->users))
			e = NULL;
		rcu_read_unlock();
		if (e) {
			mutex_lock(&e->mutex);
			bench_sink += (uintptr_t)READ_ONCE(e->value);
			mutex_unlock(&e->mutex);
			bench_sink += refcount_dec_and_lock(&e->users, &lock);
		}
	});
	/* Its fast path inline: try-lock under RCU, read, check, unlock. */
	BENCH_PROBE("lockmap_get_trylock_replayed", {
		struct lockmap_entry *e;

		rcu_read_lock();
		e = bench_lm_lookup(lm, bench_key(x & mask));
		if (e && mutex_trylock(&e->mutex)) {
			bench_sink += (uintptr_t)READ_ONCE(e->value);
			smp_rmb();	/* value before users, as a real reader */
			bench_sink += refcount_read(&e->users);
			mutex_unlock(&e->mutex);
		}
		rcu_read_unlock();
	});
	BENCH_PROBE_GET("lockmap_get", bench_lockmap_get, lm);
	BENCH_PROBE_GET("lockmap_rcu_get", bench_lockmap_get, lmr);
	BENCH_PROBE("lockmap_rcu_update",
		    bench_lockmap_update(lmr, bench_key(x & mask)));
	BENCH_PROBE("lockmap_contains", {
		u64 k = bench_key(x & mask);

		bench_sink += lockmap_contains(lm, &k, sizeof(k));
	});
	BENCH_PROBE("lockmap_entry+unlock", {
		u64 k = bench_key(x & mask);
		struct lockmap_entry *e = lockmap_entry(lm, &k, sizeof(k));

		if (!IS_ERR(e))
			lockmap_entry_unlock(lm, e);
	});
	BENCH_PROBE("lockmap_update",
		    bench_lockmap_update(lm, bench_key(x & mask)));
	BENCH_PROBE("lockmap_batch4", {
		u64 k[4] = { bench_key(x & mask), bench_key((x >> 16) & mask),
			     bench_key((x >> 32) & mask),
			     bench_key((x >> 48) & mask) };

		bench_lockmap_update4(lm, k);
	});
	/* The life of a key's entry against that of a raw table's node. */
	BENCH_PROBE("lockmap_new_key_entry+unlock", {
		u64 k = bench_key(BENCH_NEW_KEYS + i_);
		struct lockmap_entry *e = lockmap_entry(lm, &k, sizeof(k));

		if (!IS_ERR(e))
			lockmap_entry_unlock(lm, e);
	});
	BENCH_PROBE("rhashtable_node_insert+remove", {
		struct rhashtable *ht = &((struct bench_rht *)rht)->ht;
		struct bench_node *nd;

		nd = kmem_cache_alloc(bench_node_cache, GFP_KERNEL);
		if (nd) {
			nd->key = bench_key(BENCH_NEW_KEYS + i_);
			if (!rhashtable_insert_fast(ht, &nd->node,
						    bench_rht_params))
				rhashtable_remove_fast(ht, &nd->node,
						       bench_rht_params);
			kmem_cache_free(bench_node_cache, nd);
		}
	});
	BENCH_PROBE("kmem_cache_alloc+free", {
		kmem_cache_free(bench_lru_node_cache,
				kmem_cache_alloc(bench_lru_node_cache,
						 GFP_KERNEL));
	});
	BENCH_PROBE("kmem_cache_alloc+call_rcu_free", {
		struct rcu_head *rh;

		rh = kmem_cache_alloc(bench_lru_node_cache, GFP_KERNEL);
		if (rh)
			call_rcu(rh, bench_lru_node_free_rcu);
	});
	BENCH_PROBE("lockmap_entry_life_replayed",
		    bench_lm_entry_life(lm, bench_key(BENCH_NEW_KEYS + i_),
					false));
	BENCH_PROBE("lockmap_entry_life_replayed_rcu_free",
		    bench_lm_entry_life(lm, bench_key(BENCH_NEW_KEYS + i_),
					true));
	BENCH_PROBE("global_mutex_lru_insert_evict",
		    bench_glru_insert(glru, bench_key(BENCH_NEW_KEYS + i_), 1));
	BENCH_PROBE("lru_insert_evict",
		    bench_lockmap_insert(lru, bench_key(BENCH_NEW_KEYS + i_), 1));
	BENCH_PROBE("striped_mutex_batch4", {
		u64 k[4] = { bench_key(x & mask), bench_key((x >> 16) & mask),
			     bench_key((x >> 32) & mask),
			     bench_key((x >> 48) & mask) };

		bench_striped_update4(striped, k);
	});
out:
	if (glru)
		bench_impls[IMPL_GLOBAL_LRU].destroy(glru);
	if (lru)
		bench_impls[IMPL_LRU].destroy(lru);
	if (striped)
		bench_impls[IMPL_STRIPED].destroy(striped);
	if (rht)
		bench_impls[IMPL_RHT].destroy(rht);
	if (lmr)
		bench_impls[IMPL_LOCKMAP_RCU].destroy(lmr);
	if (lm)
		bench_impls[IMPL_LOCKMAP].destroy(lm);
	rhashtable_free_and_destroy(&rht64, bench_node64_free, cache64);
	kmem_cache_destroy(cache64);
	mutex_destroy(&mutex);
	return err;
}

static void bench_destroy_caches(void)
{
	/* The call_rcu() probes' frees, which also run this module's code. */
	rcu_barrier();
	kmem_cache_destroy(bench_lru_node_cache);
	kmem_cache_destroy(bench_node_cache);
}

static int __init lockmap_bench_init(void)
{
	struct bench_run *r;
	unsigned int i;
	int err = 0;

	if (smoke) {
		runs = 1;
		duration_ms = BENCH_SMOKE_MS;
		mem_entries = min_t(u32, mem_entries, BENCH_SMOKE_KEYS);
	}
	if (!runs || !duration_ms)
		return -EINVAL;
	bench_node_cache = KMEM_CACHE(bench_node, 0);
	bench_lru_node_cache = KMEM_CACHE(bench_lru_node, 0);
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!bench_node_cache || !bench_lru_node_cache || !r) {
		kfree(r);
		bench_destroy_caches();
		return -ENOMEM;
	}

	pr_info("start kernel=%s cpus=%u runs=%u duration_ms=%u smoke=%d\n",
		init_utsname()->release, num_online_cpus(), runs, duration_ms,
		smoke);
	if (mem_entries) {
		/* The other baselines hold rhashtable's table. */
		for (i = 0; i < NR_IMPLS && !err; i++)
			if (bench_is_lockmap(i) || i == IMPL_RHT)
				err = bench_memory(i, mem_entries);
	}
	if (profile && !err)
		err = bench_profile();
	for (i = 0; i < ARRAY_SIZE(bench_workloads) && !err; i++)
		if (bench_selected(workloads, bench_workloads[i].name))
			err = bench_workload(&bench_workloads[i], r);
	pr_info("done errors=%u status=%d\n", bench_errors, err);
	kfree(r);
	if (err)
		bench_destroy_caches();
	return err;
}

static void __exit lockmap_bench_exit(void)
{
	bench_destroy_caches();
}

module_init(lockmap_bench_init);
module_exit(lockmap_bench_exit);

MODULE_DESCRIPTION("Throughput and memory benchmarks of lockmap and its alternatives");
MODULE_LICENSE("GPL");
