/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lockmap: a concurrent hash map with per-key locks, and an LRU cache built
 * on the same machinery.
 *
 * A key can be locked whether or not it has a value ("entry" API): lock it,
 * read-modify-write its value, unlock.  Several keys are locked together
 * without deadlock by lockmap_batch_lock().  A map created with a capacity
 * is an LRU cache whose eviction skips held keys and never sleeps.
 *
 * Everything that can sleep must be called from process context.
 * See Documentation in README.md for the full contract.
 */
#ifndef _LINUX_LOCKMAP_H
#define _LINUX_LOCKMAP_H

#include <linux/types.h>
#include <linux/gfp.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/rhashtable-types.h>
#include <linux/rtmutex.h>
#include <asm/barrier.h>

struct lockmap;
struct lockmap_batch;

/* Longest key a variable-length map accepts (and the default maximum). */
#define LOCKMAP_MAX_KEY_LEN	4096
/* Most keys one lockmap_batch_lock() call may lock (lockdep tracks 48). */
#define LOCKMAP_BATCH_MAX	32
/*
 * Most held keys an LRU cache's eviction on insertion (or a shrink) steps
 * over per shard before it gives up; they then move to the warm end, behind
 * the most recent key.  pop_lru and a cache at max_entries look at every key.
 */
#define LOCKMAP_LRU_MAX_SKIP	16

/**
 * enum lockmap_lock_kind - which sleeping lock guards each key
 * @LOCKMAP_LOCK_MUTEX: a struct mutex per key (the default)
 * @LOCKMAP_LOCK_RT_MUTEX: a struct rt_mutex per key, for priority inheritance
 */
enum lockmap_lock_kind {
	LOCKMAP_LOCK_MUTEX,
	LOCKMAP_LOCK_RT_MUTEX,
};

/**
 * enum lockmap_wait - how a lock operation waits for a held key
 * @LOCKMAP_WAIT: sleep uninterruptibly until the key is free
 * @LOCKMAP_WAIT_INTERRUPTIBLE: sleep; any signal ends the wait with -EINTR
 * @LOCKMAP_WAIT_KILLABLE: sleep; a fatal signal ends the wait with -EINTR
 * @LOCKMAP_NOWAIT: never sleep for the key; -EBUSY when it is held
 */
enum lockmap_wait {
	LOCKMAP_WAIT,
	LOCKMAP_WAIT_INTERRUPTIBLE,
	LOCKMAP_WAIT_KILLABLE,
	LOCKMAP_NOWAIT,
};

/**
 * typedef lockmap_free_t - disposes of a value the map owns
 * @value: the value; never NULL
 * @priv: &lockmap_params.priv
 *
 * Called exactly once for every value the map drops (replaced, removed,
 * cleared, evicted, or left at destroy), from process context, possibly with
 * the key's lock held.  It must not call back into the same map.  With
 * &lockmap_params.shrinker it is also called from memory reclaim, in
 * whichever task is allocating, which may hold locks of its own (keys of
 * other maps too): it must not take a lock that a task may hold while it
 * allocates, nor allocate with __GFP_DIRECT_RECLAIM.
 */
typedef void (*lockmap_free_t)(void *value, void *priv);

/**
 * typedef lockmap_evict_t - tells the owner that the cache evicted a value
 * @key: the evicted key
 * @key_len: its length in bytes
 * @value: its value, still valid; it is disposed of with &lockmap_free_t next
 * @priv: &lockmap_params.priv
 *
 * Called once per value evicted for capacity or by the shrinker (not for
 * lockmap_pop_lru(), which hands the value to its caller).  The key has left
 * the map by then: a new value may be inserted for it while this runs.  Same
 * context rules as &lockmap_free_t.
 */
typedef void (*lockmap_evict_t)(const void *key, size_t key_len, void *value,
				void *priv);

/**
 * typedef lockmap_visit_t - callback of lockmap_for_each()
 * @key: the key
 * @key_len: its length
 * @value: its value (never NULL); the key's lock is held
 * @arg: the caller's argument
 *
 * Return: 0 to go on, anything else to stop the walk and return it.
 */
typedef int (*lockmap_visit_t)(const void *key, size_t key_len, void *value,
			       void *arg);

/**
 * typedef lockmap_keep_t - predicate of lockmap_retain()
 * @key: the key
 * @key_len: its length
 * @value: its value; the key's lock is held, so it may be changed in place
 * @arg: the caller's argument
 *
 * Return: true to keep the value, false to remove and dispose of it.
 */
typedef bool (*lockmap_keep_t)(const void *key, size_t key_len, void *value,
			       void *arg);

/**
 * typedef lockmap_copy_t - copies a value out for lockmap_get()
 * @value: the value (never NULL); the key's lock is held, so it may sleep,
 *	except in an rcu_get map (&lockmap_params.rcu_get)
 * @arg: the caller's argument
 *
 * In an rcu_get map it is first called under rcu_read_lock(), where it must
 * not sleep, while a holder may be changing the value: the call is then
 * discarded and made again under the key's lock if the key still has a
 * value.  So it must write nothing but @arg, tolerate reading a value
 * mid-update, and only follow pointers whose targets are freed after an RCU
 * grace period.  @arg is valid only when lockmap_get() returns 0.
 *
 * Return: 0 or a negative errno, passed back by lockmap_get().
 */
typedef int (*lockmap_copy_t)(const void *value, void *arg);

/**
 * struct lockmap_params - how to build a map
 * @name: lockdep class and shrinker name; a string that outlives the map
 *	(NULL: "lockmap")
 * @key_len: fixed key length in bytes; 0 for variable-length keys
 * @max_key_len: longest variable-length key (0: %LOCKMAP_MAX_KEY_LEN); must
 *	be 0 when @key_len is set
 * @nr_shards: number of shards, a power of two up to 1024 (0: four per
 *	possible CPU, rounded up to a power of two)
 * @lock_kind: the lock guarding each key
 * @gfp: allocation flags for entries (0: GFP_KERNEL); use
 *	GFP_KERNEL_ACCOUNT to charge them and the map's shards to the
 *	caller's memory cgroup (not the tables' bucket arrays, which
 *	rhashtable allocates)
 * @max_entries: most keys (with a value or held) at once; 0 for no limit.
 *	Past it, creating a key fails with -ENOSPC, unless an LRU cache can
 *	evict a cold unheld key to make room (once the new key is in, so a
 *	creation that fails costs no value).  The check takes no lock: tasks
 *	creating keys at the same moment may pass it by one each, and in a
 *	cache may each evict a value where one eviction would have done.
 * @capacity: 0 for a plain map; otherwise the map is an LRU cache holding
 *	about this many values, each shard its share rounded up
 * @max_evict: most evictions one insertion may do (0: 1); 2 or more lets a
 *	shard over its share (after lockmap_set_capacity() lowered it, or
 *	while keys were held) come back down under a stream of new keys.
 *	Held keys are stepped over, never waited for: an insertion gives up
 *	after %LOCKMAP_LRU_MAX_SKIP of them and moves them to the warm end,
 *	behind the key it inserted, so that the next one looks past them
 * @shrinker: LRU only: give cold values back under memory pressure (global
 *	reclaim; the shrinker is not memcg-aware)
 * @rcu_get: lockmap_get(), lockmap_peek() and lockmap_contains() read a key
 *	without locking it: no atomic operation and no write to the entry (but
 *	an LRU get still takes the shard lock to promote the key), checked by a
 *	sequence count that every hold able to change the value bumps, so they
 *	still never see a holder's work in progress and still wait for such a
 *	holder (not for another reader).  In exchange each entry is 8 bytes
 *	larger (more with lockdep), the &lockmap_copy_t must follow its rcu_get
 *	rules, and a value must stay readable for an RCU grace period after it
 *	leaves the map: @free_value and whoever takes a value out
 *	(lockmap_remove(), swaps, pops) free it with kfree_rcu() or after
 *	synchronize_rcu().
 * @free_value: disposes of values the map drops (NULL: nothing to do)
 * @evict: LRU only: told about each eviction before @free_value (optional)
 * @priv: passed to the callbacks
 */
struct lockmap_params {
	const char *name;
	u32 key_len;
	u32 max_key_len;
	u32 nr_shards;
	enum lockmap_lock_kind lock_kind;
	gfp_t gfp;
	size_t max_entries;
	size_t capacity;
	u32 max_evict;
	bool shrinker;
	bool rcu_get;
	lockmap_free_t free_value;
	lockmap_evict_t evict;
	void *priv;
};

/**
 * struct lockmap_key - one key of a batch
 * @key: the key bytes
 * @len: their length
 */
struct lockmap_key {
	const void *key;
	size_t len;
};

/**
 * struct lockmap_stats - a snapshot of a map's counters
 * @len: keys with a value
 * @slots: keys present in the table (with a value, or held while empty)
 * @capacity: the cache's capacity (0 for a plain map)
 * @evictions: values evicted for capacity or by the shrinker
 * @evict_skipped: held keys an eviction walk stepped over
 * @nr_shards: number of shards
 */
struct lockmap_stats {
	size_t len;
	size_t slots;
	size_t capacity;
	u64 evictions;
	u64 evict_skipped;
	u32 nr_shards;
};

/*
 * One entry per key, present in its shard's table while it has a value or
 * somebody holds or waits for it.  Private to lockmap: other code uses the
 * lockmap_entry_*() calls.  It is defined here only so that the two a holder
 * makes on every hold, lockmap_entry_value() and replacing one value with
 * another (lockmap_entry_swap()), are inline.  The helpers named below are
 * in kmod/lockmap_internal.h.
 *
 * @users counts one reference for the key while it has a value or a holder
 * (the value's, which a holder of a valued key borrows instead of taking its
 * own: "lock, update, unlock" of a valued key writes nothing but the lock),
 * plus one for each task waiting for the lock, and transiently one for a
 * holder that left an empty key and drops it just after unlocking.  Whoever
 * takes it to zero does so under the shard lock and unlinks the entry before
 * dropping that lock, so an RCU lookup that fails refcount_inc_not_zero()
 * waits for the shard lock and looks again.  Nothing but a holder changes a
 * value, and eviction claims an entry only with its lock try-locked and
 * @users moved from 1 (the value's reference) to 0: a held or awaited key is
 * skipped, and eviction never waits.
 *
 * A dead entry (unlinked, @users zero) stays readable by RCU readers for a
 * grace period, with its table link, @users, @hash and lock intact, so a
 * reader may try-lock it and then see that it is dead: see lockmap_live().
 * Its RCU head takes the place of @value and the first key bytes, which is
 * why an entry always has room for 8 key bytes, and why a reader that found
 * an entry without a reference checks @users after reading those.
 *
 * @hash is the key's hash: its low bits pick the bucket, its high bits the
 * shard (lockmap_shard_of()).  @key holds the key bytes.  What only some
 * maps need goes in front of the entry, so the others do not pay for it:
 * LRU maps put a list_head there (lockmap_entry_lru()), and &lockmap_params.
 * rcu_get or variable-length maps a &struct lockmap_head before that.
 */
struct lockmap_entry {
	struct rhash_head node;
	refcount_t users;
	u32 hash;
	union {
		/* the key's lock: which one is &lockmap_params.lock_kind */
		struct mutex mutex;
		struct rt_mutex rt_mutex;
	};
	void *value;
	u8 key[];
};

struct lockmap *lockmap_create(const struct lockmap_params *params);
void lockmap_destroy(struct lockmap *map);

int lockmap_insert(struct lockmap *map, const void *key, size_t key_len,
		   void *value, void **old);
int lockmap_get(struct lockmap *map, const void *key, size_t key_len,
		lockmap_copy_t copy, void *arg);
int lockmap_peek(struct lockmap *map, const void *key, size_t key_len,
		 lockmap_copy_t copy, void *arg);
int lockmap_remove(struct lockmap *map, const void *key, size_t key_len,
		   void **old);
int lockmap_contains(struct lockmap *map, const void *key, size_t key_len);
size_t lockmap_len(struct lockmap *map);
void lockmap_get_stats(struct lockmap *map, struct lockmap_stats *stats);

struct lockmap_entry *lockmap_entry_lock(struct lockmap *map, const void *key,
					 size_t key_len, enum lockmap_wait wait);
void lockmap_entry_unlock(struct lockmap *map, struct lockmap_entry *entry);
const void *lockmap_entry_key(const struct lockmap *map,
			      const struct lockmap_entry *entry,
			      size_t *key_len);
void __lockmap_entry_recount(struct lockmap *map, struct lockmap_entry *entry);
void lockmap_entry_set(struct lockmap *map, struct lockmap_entry *entry,
		       void *value);
int lockmap_entry_set_if_absent(struct lockmap *map,
				struct lockmap_entry *entry, void *value);
void *lockmap_entry_remove(struct lockmap *map, struct lockmap_entry *entry);

struct lockmap_batch *lockmap_batch_lock(struct lockmap *map,
					 const struct lockmap_key *keys,
					 unsigned int nr_keys,
					 enum lockmap_wait wait);
unsigned int lockmap_batch_count(const struct lockmap_batch *batch);
struct lockmap_entry *lockmap_batch_entry(const struct lockmap_batch *batch,
					  unsigned int index);
struct lockmap_entry *lockmap_batch_find(const struct lockmap_batch *batch,
					 const void *key, size_t key_len);
void lockmap_batch_unlock(struct lockmap *map, struct lockmap_batch *batch);

void lockmap_clear(struct lockmap *map);
int lockmap_for_each(struct lockmap *map, lockmap_visit_t visit, void *arg);
void lockmap_retain(struct lockmap *map, lockmap_keep_t keep, void *arg);

/* LRU caches (maps created with a capacity). */
int lockmap_pop_lru(struct lockmap *map, void *key_buf, size_t *key_len,
		    void **value);
int lockmap_set_capacity(struct lockmap *map, size_t capacity);
unsigned long lockmap_shrink(struct lockmap *map, unsigned long nr);

/* Byte-blob values, as the char device stores them. */

/**
 * struct lockmap_blob - a length-prefixed byte string value
 * @len: number of bytes in @data
 * @data: the bytes
 */
struct lockmap_blob {
	size_t len;
	u8 data[];
};

/**
 * struct lockmap_buf - where lockmap_blob_copy() copies a blob to
 * @data: the destination
 * @size: its size in bytes
 * @len: set to the blob's full length (may exceed @size: truncated copy)
 */
struct lockmap_buf {
	void *data;
	size_t size;
	size_t len;
};

struct lockmap_blob *lockmap_blob_new(const void *data, size_t len, gfp_t gfp);
void lockmap_blob_free(void *blob, void *priv);
int lockmap_blob_copy(const void *blob, void *buf);

/**
 * lockmap_entry_value() - the value of a locked key
 * @entry: a locked entry
 *
 * Return: the value, or NULL if the key has none.  It stays valid while the
 * key is locked and the value is not replaced.
 */
static inline void *lockmap_entry_value(const struct lockmap_entry *entry)
{
	return entry->value;
}

#ifdef CONFIG_LOCKDEP
void lockmap_entry_assert_held(struct lockmap *map,
			       const struct lockmap_entry *entry);
#else
static inline void lockmap_entry_assert_held(struct lockmap *map,
					     const struct lockmap_entry *entry)
{
}
#endif

/**
 * lockmap_entry_swap() - replace the value of a locked key
 * @map: the map of the entry
 * @entry: a locked entry
 * @value: the new value, or NULL to remove the value
 *
 * A key that gains a value counts in lockmap_len() and, in an LRU cache,
 * becomes the most recently used; the cache may then evict cold unheld keys
 * of the same shard.  Setting the value the key already has (say, one
 * changed in place) changes nothing and returns NULL: the map still owns it.
 * Replacing one value with another changes nothing but the value, inline;
 * only a key that gains or loses its value makes a call.
 *
 * Context: Process context, @entry locked.
 * Return: the old value (now owned by the caller), or NULL.
 */
static inline void *lockmap_entry_swap(struct lockmap *map,
				       struct lockmap_entry *entry,
				       void *value)
{
	void *old = entry->value;

	lockmap_entry_assert_held(map, entry);
	if (old == value)
		return NULL;
	/* A value built under the key's lock, published to rcu_get readers. */
	smp_store_release(&entry->value, value);
	if (!old != !value)
		__lockmap_entry_recount(map, entry);
	return old;
}

/**
 * lockmap_entry() - lock a key, sleeping uninterruptibly while it is held
 * @map: the map
 * @key: the key bytes
 * @key_len: their length
 *
 * Return: the locked entry, or ERR_PTR(-EINVAL/-ENOMEM/-ENOSPC).
 */
static inline struct lockmap_entry *lockmap_entry(struct lockmap *map,
						  const void *key,
						  size_t key_len)
{
	return lockmap_entry_lock(map, key, key_len, LOCKMAP_WAIT);
}

/**
 * lockmap_entry_interruptible() - lock a key; a signal ends the wait
 * @map: the map
 * @key: the key bytes
 * @key_len: their length
 *
 * Return: the locked entry, or ERR_PTR(-EINTR) with nothing held, or as
 * lockmap_entry().
 */
static inline struct lockmap_entry *
lockmap_entry_interruptible(struct lockmap *map, const void *key,
			    size_t key_len)
{
	return lockmap_entry_lock(map, key, key_len,
				  LOCKMAP_WAIT_INTERRUPTIBLE);
}

/**
 * lockmap_entry_killable() - lock a key; a fatal signal ends the wait
 * @map: the map
 * @key: the key bytes
 * @key_len: their length
 *
 * Return: the locked entry, or ERR_PTR(-EINTR) with nothing held, or as
 * lockmap_entry().
 */
static inline struct lockmap_entry *
lockmap_entry_killable(struct lockmap *map, const void *key, size_t key_len)
{
	return lockmap_entry_lock(map, key, key_len, LOCKMAP_WAIT_KILLABLE);
}

/**
 * lockmap_try_entry() - lock a key only if nobody holds it
 * @map: the map
 * @key: the key bytes
 * @key_len: their length
 *
 * Return: the locked entry, or ERR_PTR(-EBUSY) if the key is held, or as
 * lockmap_entry().
 */
static inline struct lockmap_entry *lockmap_try_entry(struct lockmap *map,
						      const void *key,
						      size_t key_len)
{
	return lockmap_entry_lock(map, key, key_len, LOCKMAP_NOWAIT);
}

#endif /* _LINUX_LOCKMAP_H */
