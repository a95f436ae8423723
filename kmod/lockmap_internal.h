/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lockmap internals, shared by the core, the LRU policy, the char device and
 * the KUnit suites.  Not an API.
 */
#ifndef _LOCKMAP_INTERNAL_H
#define _LOCKMAP_INTERNAL_H

#include <linux/lockmap.h>
#include <linux/fault-inject.h>
#include <linux/lockdep.h>
#include <linux/mutex.h>
#include <linux/rhashtable.h>
#include <linux/rtmutex.h>
#include <linux/shrinker.h>
#include <linux/siphash.h>
#include <linux/spinlock.h>

/*
 * One entry per key, present in its shard's table while it has a value or
 * somebody holds or waits for it.
 *
 * @users counts holders and waiters, plus one while @value is set.  Whoever
 * takes it to zero does so under the shard lock and unlinks the entry before
 * dropping that lock, so an RCU lookup that fails refcount_inc_not_zero()
 * waits for the shard lock and looks again.  The LRU eviction claims an
 * unused valued entry by moving @users from 1 to 0, which is why eviction
 * never waits: a held or awaited key has @users > 1 and is skipped.
 *
 * LRU maps allocate a list_head just in front of the entry (see
 * lockmap_entry_lru()), so plain maps do not pay for it.
 */
struct lockmap_entry {
	struct rhash_head node;
	refcount_t users;
	u32 hash;
	void *value;
	union {
		/* the key's lock: which one is &lockmap_params.lock_kind */
		struct mutex mutex;
		struct rt_mutex rt_mutex;
		/* once dead (users == 0, unlinked), until RCU readers leave */
		struct {
			struct rcu_head rcu;
			struct kmem_cache *cache;
			void *mem;
		} dead;
	};
	u16 key_len;
	u16 shard;
	u8 key[];
};

/* A key as looked up: bytes plus the one hash computed for it. */
struct lockmap_lookup {
	const void *key;
	u32 len;
	u32 hash;
	u32 shard;
};

struct lockmap_shard {
	struct rhashtable ht;
	/* LRU list and counters; also held while unlinking a dead entry. */
	spinlock_t lock;
	struct list_head lru;		/* LRU maps: most recently used first */
	atomic_long_t len;		/* entries with a value */
	size_t capacity;		/* LRU maps: this shard's share */
	u64 evictions;
	u64 evict_skipped;
} ____cacheline_aligned_in_smp;

/* lockdep's nest-lock macros want a struct with a dep_map member. */
struct lockmap_nest {
	struct lockdep_map dep_map;
};

struct lockmap {
	struct lockmap_params p;
	struct kmem_cache *cache;	/* fixed-length keys; else kmalloc */
	size_t entry_size;		/* allocation size without the key */
	size_t lru_prefix;		/* bytes in front of each entry */
	size_t max_key_len;
	u32 shard_mask;
	atomic_t pop_cursor;		/* round-robin start of pop/shrink */
	siphash_key_t seed;
	struct lock_class_key lock_key;	/* per-map class of the key locks */
	struct lockmap_nest batch_nest;
#ifdef LOCKMAP_HAVE_SHRINKER_ALLOC
	struct shrinker *shrinker;
#else
	struct shrinker shrinker;
	bool shrinker_registered;
#endif
	struct lockmap_shard shards[];
};

extern const struct rhashtable_params lockmap_rht_params;

#ifdef CONFIG_FAULT_INJECTION
/* Makes entry and batch allocations fail on demand (KUnit, debugfs). */
extern struct fault_attr lockmap_fail_alloc;
#endif

static inline bool lockmap_is_lru(const struct lockmap *map)
{
	return map->p.capacity != 0;
}

static inline struct lockmap_shard *
lockmap_entry_shard(struct lockmap *map, const struct lockmap_entry *e)
{
	return &map->shards[e->shard];
}

static inline struct list_head *lockmap_entry_lru(struct lockmap_entry *e)
{
	return (struct list_head *)e - 1;
}

static inline struct lockmap_entry *lockmap_lru_entry(struct list_head *lru)
{
	return (struct lockmap_entry *)(lru + 1);
}

void lockmap_dispose(struct lockmap *map, void *value);
struct lockmap_entry *lockmap_take_existing(struct lockmap *map,
					    const void *key, size_t key_len,
					    enum lockmap_wait wait);
void lockmap_entry_free(struct lockmap *map, struct lockmap_entry *e);

/* The LRU policy (lockmap_lru.c), called by the core under the shard lock. */
void lockmap_lru_add(struct lockmap *map, struct lockmap_shard *s,
		     struct lockmap_entry *e);
void lockmap_lru_del(struct lockmap_entry *e);
void lockmap_lru_touch(struct lockmap *map, struct lockmap_entry *e);
void lockmap_lru_evict_over(struct lockmap *map, struct lockmap_shard *s);
int lockmap_lru_init(struct lockmap *map);
void lockmap_lru_exit(struct lockmap *map);

#endif /* _LOCKMAP_INTERNAL_H */
