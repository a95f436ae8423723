/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lockmap internals, shared by the core, the LRU policy, the char device and
 * the KUnit suites.  Not an API.
 */
#ifndef _LOCKMAP_INTERNAL_H
#define _LOCKMAP_INTERNAL_H

#include <linux/lockmap.h>
#include <linux/bitrev.h>
#include <linux/fault-inject.h>
#include <linux/lockdep.h>
#include <linux/mutex.h>
#include <linux/rhashtable.h>
#include <linux/rtmutex.h>
#include <linux/seqlock.h>
#include <linux/shrinker.h>
#include <linux/siphash.h>
#include <linux/spinlock.h>
#include <linux/string.h>

/* Key bytes every entry has room for: a dead entry's RCU head spills there. */
#define LOCKMAP_MIN_KEY_ROOM	(sizeof(struct rcu_head) - sizeof(void *))

/*
 * In front of the entry (and of an LRU map's list head), at the very start
 * of the allocation, for the maps that need either field.
 */
struct lockmap_head {
	seqcount_t seq;		/* rcu_get maps: see lockmap_entry_seq() */
	u16 key_len;		/* variable-length maps: the key's length */
};

/* A key as looked up: bytes plus the one hash computed for it. */
struct lockmap_lookup {
	const struct lockmap *map;
	const void *key;
	u32 len;
	u32 hash;
};

struct lockmap_shard {
	struct rhashtable ht;
	/* LRU list and counters; also held while unlinking a dead entry. */
	spinlock_t lock;
	struct list_head lru;		/* LRU maps: most recently used first */
	atomic_long_t len;		/* entries with a value */
	atomic_long_t slots;		/* entries in the table; see lockmap_slots() */
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
	size_t prefix;			/* bytes in front of each entry */
	rcu_callback_t free_rcu;	/* frees a dead entry of this map */
	size_t max_key_len;
	u32 shard_mask;
	atomic_t pop_cursor;		/* round-robin start of pop/shrink */
	hsiphash_key_t seed;
	struct lock_class_key lock_key;	/* per-map class of the key locks */
	struct lockdep_map key_class;	/* that class, for lockmap_might_lock() */
	struct lockmap_nest batch_nest;
#ifdef LOCKMAP_HAVE_SHRINKER_ALLOC
	struct shrinker *shrinker;
#else
	struct shrinker shrinker;
	bool shrinker_registered;
#endif
	struct lockmap_shard shards[];
};

#ifdef CONFIG_FAULT_INJECTION
/* Makes entry and batch allocations fail on demand (KUnit, debugfs). */
extern struct fault_attr lockmap_fail_alloc;
#endif

/* lockmap_set_capacity() changes the capacity, never to or from 0. */
static inline bool lockmap_is_lru(const struct lockmap *map)
{
	return READ_ONCE(map->p.capacity) != 0;
}

/* The shard of a hash: its high bits, as the table's buckets use the low. */
static inline struct lockmap_shard *lockmap_shard_of(struct lockmap *map,
						     u32 hash)
{
	return &map->shards[((u64)hash * (map->shard_mask + 1)) >> 32];
}

static inline struct lockmap_shard *
lockmap_entry_shard(struct lockmap *map, const struct lockmap_entry *e)
{
	return lockmap_shard_of(map, e->hash);
}

static inline bool lockmap_has_head(const struct lockmap_params *p)
{
	return p->rcu_get || !p->key_len;
}

/* The &struct lockmap_head of an entry of a map that has one. */
static inline struct lockmap_head *lockmap_entry_head(const struct lockmap *map,
						      const struct lockmap_entry *e)
{
	return (struct lockmap_head *)((char *)e - map->prefix);
}

/*
 * A variable-length map keeps the key's length in the head, not next to
 * the bytes, where a dead entry's RCU head would overwrite it: a reader that
 * compares a dying entry's key then reads garbage bytes, never past them.
 */
static inline u32 lockmap_key_len_of(const struct lockmap *map,
				     const struct lockmap_entry *e)
{
	return map->p.key_len ?: lockmap_entry_head(map, e)->key_len;
}

/* Reads an 8-byte key of any alignment; compiles to one load. */
static inline u64 lockmap_key_u64(const void *key)
{
	u64 k;

	memcpy(&k, key, sizeof(k));
	return k;
}

/*
 * Hashes a key once per operation (hsiphash with the map's seed: keys chosen
 * by userspace cannot force long chains); 8-byte keys skip the byte loop.
 */
static inline int lockmap_prepare(const struct lockmap *map, const void *key,
				  size_t len, struct lockmap_lookup *l)
{
	if (!key || !len || len > map->max_key_len ||
	    (map->p.key_len && len != map->p.key_len))
		return -EINVAL;
	l->map = map;
	l->key = key;
	l->len = len;
	if (len == sizeof(u64)) {
		u64 k = lockmap_key_u64(key);

		l->hash = hsiphash_2u32(lower_32_bits(k), upper_32_bits(k),
					&map->seed);
	} else {
		l->hash = hsiphash(key, len, &map->seed);
	}
	return 0;
}

/*
 * The table hashes nothing itself: the lookup carries the hash computed once
 * per operation and each entry keeps its own, so rehashing is free too.
 */
static inline u32 lockmap_rht_hashfn(const void *data, u32 len, u32 seed)
{
	return ((const struct lockmap_lookup *)data)->hash;
}

static inline u32 lockmap_rht_obj_hashfn(const void *data, u32 len, u32 seed)
{
	return ((const struct lockmap_entry *)data)->hash;
}

static inline int lockmap_rht_cmpfn(struct rhashtable_compare_arg *arg,
				    const void *obj)
{
	const struct lockmap_lookup *l = arg->key;
	const struct lockmap_entry *e = obj;
	const u8 *key = e->key;

	if (e->hash != l->hash || lockmap_key_len_of(l->map, e) != l->len)
		return 1;
	/*
	 * A dead entry's RCU head may be being written over its first key
	 * bytes (lockmap_entry_rcu()) while a reader that found it before it
	 * was unlinked compares them: data_race().  Whether the garbage
	 * matches or not, the entry is dead, which the reader checks next as
	 * for any dead entry it finds.  The common fixed-size key compares
	 * without a call.
	 */
	return data_race(l->len == sizeof(u64) ?
			 lockmap_key_u64(key) != lockmap_key_u64(l->key) :
			 memcmp(key, l->key, l->len));
}

/* In this header so that each lookup inlines the functions above. */
static const struct rhashtable_params lockmap_rht_params __maybe_unused = {
	.head_offset = offsetof(struct lockmap_entry, node),
	.hashfn = lockmap_rht_hashfn,
	.obj_hashfn = lockmap_rht_obj_hashfn,
	.obj_cmpfn = lockmap_rht_cmpfn,
	.automatic_shrinking = true,
};

/* The entry of a key, or NULL; the caller holds the RCU read lock. */
static inline struct lockmap_entry *
lockmap_find_rcu(struct lockmap *map, const struct lockmap_lookup *l)
{
	return rhashtable_lookup(&lockmap_shard_of(map, l->hash)->ht, l,
				 lockmap_rht_params);
}

/* Try-locks a key: never sleeps (lockmap_try_entry()). */
static __always_inline bool lockmap_trylock(struct lockmap *map,
					    struct lockmap_entry *e)
{
	if (map->p.lock_kind == LOCKMAP_LOCK_RT_MUTEX)
		return rt_mutex_trylock(&e->rt_mutex);
	return mutex_trylock(&e->mutex);
}

/*
 * Try-locks a key that nobody holds or waits for, for the fast path and
 * eviction, which have a slower way or another key to go to.  An rt_mutex
 * (and on PREEMPT_RT a mutex too) that has waiters but no owner is being
 * handed to the first of them, and try-locking it takes its wait_lock, so
 * a stream of try-locks delays the waiter the key is waiting for: with two
 * guests on two host cores, the rt_mutex variants of a churn case took a
 * median of 7 to 10 s without this check, about 2 s with it.  A plain
 * mutex's try-lock fails on the owner word alone, so it needs no check (and
 * mutex_is_locked() is a call there).
 */
static __always_inline bool lockmap_trylock_free(struct lockmap *map,
						 struct lockmap_entry *e)
{
	if (map->p.lock_kind == LOCKMAP_LOCK_RT_MUTEX)
		return !rt_mutex_base_is_locked(&e->rt_mutex.rtmutex) &&
		       rt_mutex_trylock(&e->rt_mutex);
	if (IS_ENABLED(CONFIG_PREEMPT_RT) && mutex_is_locked(&e->mutex))
		return false;
	return mutex_trylock(&e->mutex);
}

/*
 * The key's lock alone (lockmap_unlock() also ends an rcu_get hold).  A
 * holder of a key with a value has no reference of its own: the value's
 * stops keeping the entry the moment the lock is free, when another task
 * may lock the key, take the value and drop the last reference while
 * mutex_unlock() still touches the mutex (which must outlive the call:
 * mutex-design.rst).  Entries are freed after an RCU grace period, so an
 * RCU read section around the unlock keeps the entry until the call has
 * returned: the sched flavour, preempt_disable() and no call.
 */
static __always_inline void __lockmap_unlock(struct lockmap *map,
					     struct lockmap_entry *e)
{
	rcu_read_lock_sched();
	if (map->p.lock_kind == LOCKMAP_LOCK_RT_MUTEX)
		rt_mutex_unlock(&e->rt_mutex);
	else
		mutex_unlock(&e->mutex);
	rcu_read_unlock_sched();
}

static inline struct list_head *lockmap_entry_lru(struct lockmap_entry *e)
{
	return (struct list_head *)e - 1;
}

static inline struct lockmap_entry *lockmap_lru_entry(struct list_head *lru)
{
	return (struct lockmap_entry *)(lru + 1);
}

/*
 * An rcu_get map's entry count: odd while a holder that may change the value
 * has the key (see lockmap_seq_locked()), and bumped when eviction or pop
 * takes the value, so a lockless reader that finds it even before and
 * unchanged after its copy of the value saw neither.
 */
static inline seqcount_t *lockmap_entry_seq(const struct lockmap *map,
					    struct lockmap_entry *e)
{
	return &lockmap_entry_head(map, e)->seq;
}

/*
 * Whether an entry found under RCU without a reference, whose @value was
 * just read, is alive, and so whether that read is its value: the dead are
 * dead for good, and the RCU head that overwrites a dead entry's value is
 * written only after its count reached zero.  A value read with the key
 * try-locked then stays the key's until the lock is dropped.
 */
static inline bool lockmap_live(const struct lockmap_entry *e)
{
	smp_rmb();	/* pairs with smp_wmb() in lockmap_entry_free() */
	return refcount_read(&e->users);
}

/*
 * A claimed entry (eviction, pop: nobody holds it, nobody can) loses its
 * value for good before the value goes to whoever may change or free it: a
 * lockless reader that already has the old value then fails its retry.
 */
static inline void lockmap_entry_clear_value(struct lockmap *map,
					     struct lockmap_entry *e)
{
	WRITE_ONCE(e->value, NULL);
	if (map->p.rcu_get)
		raw_write_seqcount_barrier(lockmap_entry_seq(map, e));
}

/*
 * A walk in position order, a chunk of pinned entries at a time: see
 * lockmap_walk_collect().  Starts zeroed but for @e and @max.
 */
struct lockmap_walk {
	u32 shard;			/* the next chunk's shard and, in it, */
	u32 pos;			/* the position... */
	const struct lockmap_entry *after; /* ...after this entry; NULL: at it */
	u64 cut;			/* lowest position left out, or U64_MAX */
	unsigned int nr;		/* entries in the chunk */
	unsigned int max;		/* room in @e */
	struct lockmap_entry **e;	/* the chunk, each pinned */
};

/* A key's place in a walk: its hash with the bits reversed. */
static inline u32 lockmap_walk_pos(const struct lockmap_entry *e)
{
	return bitrev32(e->hash);
}

void lockmap_walk_collect(struct lockmap *map, struct lockmap_walk *w);
void lockmap_walk_put(struct lockmap *map, struct lockmap_walk *w,
		      unsigned int from);
int lockmap_walk(struct lockmap *map,
		 int (*fn)(struct lockmap *map, struct lockmap_entry *e,
			   void *arg),
		 void *arg, enum lockmap_wait wait);

void lockmap_dispose(struct lockmap *map, void *value);
struct lockmap_entry *lockmap_take_existing(struct lockmap *map,
					    const void *key, size_t key_len,
					    enum lockmap_wait wait);
void lockmap_entry_free(struct lockmap *map, struct lockmap_entry *e);
int lockmap_read(struct lockmap *map, const void *key, size_t key_len,
		 lockmap_copy_t copy, void *arg, bool promote,
		 enum lockmap_wait wait);

/* The LRU policy (lockmap_lru.c), called by the core under the shard lock. */
void lockmap_lru_add(struct lockmap *map, struct lockmap_shard *s,
		     struct lockmap_entry *e);
void lockmap_lru_del(struct lockmap_entry *e);
void lockmap_lru_touch(struct lockmap *map, struct lockmap_entry *e);
void lockmap_lru_evict_over(struct lockmap *map, struct lockmap_shard *s);
bool lockmap_lru_make_room(struct lockmap *map, struct lockmap_shard *s);
int lockmap_lru_init(struct lockmap *map);
void lockmap_lru_exit(struct lockmap *map);

#endif /* _LOCKMAP_INTERNAL_H */
