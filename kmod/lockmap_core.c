// SPDX-License-Identifier: GPL-2.0
/*
 * lockmap core: sharded rhashtables of refcounted entries, one sleeping lock
 * per key.  See struct lockmap_entry (include/linux/lockmap.h) for the life
 * cycle of an entry.
 */
#include <linux/err.h>
#include <linux/export.h>
#include <linux/kcsan-checks.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

#include "lockmap_internal.h"

#define LOCKMAP_MAX_SHARDS	1024
/* Batches up to this many keys sort them on the stack, without kmalloc. */
#define LOCKMAP_BATCH_ON_STACK	8

#ifdef CONFIG_FAULT_INJECTION
struct fault_attr lockmap_fail_alloc = FAULT_ATTR_INITIALIZER;
EXPORT_SYMBOL_GPL(lockmap_fail_alloc);

static bool lockmap_should_fail_alloc(void)
{
	return should_fail(&lockmap_fail_alloc, 1);
}
#else
static bool lockmap_should_fail_alloc(void)
{
	return false;
}
#endif

void lockmap_dispose(struct lockmap *map, void *value)
{
	if (value && map->p.free_value)
		map->p.free_value(value, map->p.priv);
}

/*
 * A dead entry's RCU head takes the place of its value and first key bytes
 * (struct lockmap_entry): the lock must stay intact for readers that
 * try-lock it unreferenced, the count and hash for those that check them.
 */
static struct rcu_head *lockmap_entry_rcu(struct lockmap_entry *e)
{
	BUILD_BUG_ON(offsetof(struct lockmap_entry, key) !=
		     offsetof(struct lockmap_entry, value) + sizeof(void *));
	return (struct rcu_head *)&e->value;
}

/*
 * The callbacks that free a dead entry, one per prefix in front of it: the
 * entry has no room left to say where its memory starts.  kfree() takes the
 * objects of a kmem_cache too (SLUB and SLAB; documented since 6.4).
 */
#ifdef CONFIG_SLOB
#error "lockmap frees kmem_cache objects with kfree(), which SLOB cannot"
#endif

#define LOCKMAP_HEAD_SIZE	ALIGN(sizeof(struct lockmap_head), \
				      __alignof__(struct lockmap_entry))
#define LOCKMAP_LRU_SIZE	sizeof(struct list_head)

static void lockmap_free_dead(struct rcu_head *rcu, size_t prefix)
{
	kfree((char *)rcu - offsetof(struct lockmap_entry, value) - prefix);
}

static void lockmap_free_rcu(struct rcu_head *rcu)
{
	lockmap_free_dead(rcu, 0);
}

static void lockmap_free_rcu_head(struct rcu_head *rcu)
{
	lockmap_free_dead(rcu, LOCKMAP_HEAD_SIZE);
}

static void lockmap_free_rcu_lru(struct rcu_head *rcu)
{
	lockmap_free_dead(rcu, LOCKMAP_LRU_SIZE);
}

static void lockmap_free_rcu_head_lru(struct rcu_head *rcu)
{
	lockmap_free_dead(rcu, LOCKMAP_HEAD_SIZE + LOCKMAP_LRU_SIZE);
}

/*
 * Frees an entry nobody can reach any more but RCU readers of the table.
 * Its lock is not destroyed: such a reader may still try-lock it.
 */
void lockmap_entry_free(struct lockmap *map, struct lockmap_entry *e)
{
	/* The count reads zero before the head overwrites the value. */
	smp_wmb();	/* pairs with smp_rmb() in lockmap_live() */
	call_rcu(lockmap_entry_rcu(e), map->free_rcu);
}

static struct lockmap_entry *lockmap_entry_alloc(struct lockmap *map,
						 const struct lockmap_lookup *l)
{
	struct lockmap_entry *e;
	void *mem;

	if (lockmap_should_fail_alloc())
		return ERR_PTR(-ENOMEM);
	if (map->cache)
		mem = kmem_cache_alloc(map->cache, map->p.gfp);
	else
		mem = kmalloc(map->entry_size +
			      max_t(size_t, l->len, LOCKMAP_MIN_KEY_ROOM),
			      map->p.gfp);
	if (!mem)
		return ERR_PTR(-ENOMEM);

	e = mem + map->prefix;
	if (map->p.rcu_get)
		seqcount_init(lockmap_entry_seq(map, e));
	if (!map->p.key_len)
		lockmap_entry_head(map, e)->key_len = l->len;
	refcount_set(&e->users, 1);
	e->hash = l->hash;
	e->value = NULL;
	memcpy(e->key, l->key, l->len);
	if (map->p.lock_kind == LOCKMAP_LOCK_RT_MUTEX)
		__rt_mutex_init(&e->rt_mutex, map->p.name, &map->lock_key);
	else
		__mutex_init(&e->mutex, map->p.name, &map->lock_key);
	if (lockmap_is_lru(map))
		INIT_LIST_HEAD(lockmap_entry_lru(e));
	return e;
}

/* An entry that never became visible: no RCU grace period needed. */
static void lockmap_entry_free_unused(struct lockmap *map,
				      struct lockmap_entry *e)
{
	void *mem = (char *)e - map->prefix;

	if (map->p.lock_kind == LOCKMAP_LOCK_MUTEX)
		mutex_destroy(&e->mutex);
	if (map->cache)
		kmem_cache_free(map->cache, mem);
	else
		kfree(mem);
}

/* Waits until whoever is unlinking a dead entry of @s has finished. */
static void lockmap_wait_unlink(struct lockmap_shard *s)
{
	spin_lock(&s->lock);
	spin_unlock(&s->lock);
}

/*
 * Finds the entry of a key and takes a reference, or returns NULL.  Inlined,
 * like the lock and the put: every operation runs them, and a call per step
 * is a measurable part of one (make bench).
 */
static __always_inline struct lockmap_entry *
lockmap_find(struct lockmap_shard *s, const struct lockmap_lookup *l)
{
	struct lockmap_entry *e;

	for (;;) {
		rcu_read_lock();
		e = rhashtable_lookup(&s->ht, l, lockmap_rht_params);
		if (!e || refcount_inc_not_zero(&e->users)) {
			rcu_read_unlock();
			return e;
		}
		rcu_read_unlock();
		lockmap_wait_unlink(s);
	}
}

/* lockmap_put() of what may be the last reference: under the shard lock. */
static noinline void lockmap_put_last(struct lockmap *map,
				      struct lockmap_entry *e)
{
	struct lockmap_shard *s = lockmap_entry_shard(map, e);

	spin_lock(&s->lock);
	if (!refcount_dec_and_test(&e->users)) {
		spin_unlock(&s->lock);
		return;
	}
	WARN_ON_ONCE(e->value);
	rhashtable_remove_fast(&s->ht, &e->node, lockmap_rht_params);
	atomic_long_dec(&s->slots);
	spin_unlock(&s->lock);
	lockmap_entry_free(map, e);
}

/* Drops a reference; the last one of an empty entry unlinks and frees it. */
static __always_inline void lockmap_put(struct lockmap *map,
					struct lockmap_entry *e)
{
	/* refcount_dec_and_lock(), spelt out so that sparse can follow it */
	if (!refcount_dec_not_one(&e->users))
		lockmap_put_last(map, e);
}

/*
 * Keys with an entry, held ones included: what max_entries bounds.  Not the
 * tables' nelems, which an insertion raises before the entry is visible: an
 * entry counts here once it can be found, and stops under the shard lock,
 * as it leaves the table.
 */
static size_t lockmap_slots(struct lockmap *map)
{
	size_t slots = 0;
	u32 i;

	for (i = 0; i <= map->shard_mask; i++)
		slots += atomic_long_read(&map->shards[i].slots);
	return slots;
}

/*
 * A plain map at max_entries: -ENOSPC, unless the key is among the entries
 * that fill it (another task created it meanwhile), which is then returned
 * with a reference; NULL if there is room after all.  An entry is counted
 * only once it can be found, and leaves the table only under the shard
 * lock, in the section that drops its last reference: with that lock held,
 * an entry of the key that was counted is still there for the lookup, and
 * an entry found is live.
 */
static struct lockmap_entry *lockmap_full(struct lockmap *map,
					  struct lockmap_shard *s,
					  const struct lockmap_lookup *l)
{
	struct lockmap_entry *e = NULL;

	/* The common case, room, without the lock. */
	if (lockmap_slots(map) < map->p.max_entries)
		return NULL;
	spin_lock(&s->lock);
	if (lockmap_slots(map) >= map->p.max_entries) {
		rcu_read_lock();
		e = rhashtable_lookup(&s->ht, l, lockmap_rht_params);
		if (!e || !refcount_inc_not_zero(&e->users))
			e = ERR_PTR(-ENOSPC);
		rcu_read_unlock();
	}
	spin_unlock(&s->lock);
	return e;
}

/*
 * lockmap_find_or_create() for a key without an entry: inserts a new one.
 * A full LRU cache evicts a cold unheld key (of @s first: its shares,
 * rounded up, may add up to more than max_entries, or be set so) only once
 * the new entry is in: a failed insert, or another task's entry for the
 * same key, must not cost a value.  Meanwhile the map is one over, as it
 * may be by one per task creating a key (&lockmap_params.max_entries).
 */
static noinline struct lockmap_entry *
lockmap_create_entry(struct lockmap *map, struct lockmap_shard *s,
		     const struct lockmap_lookup *l)
{
	size_t max = map->p.max_entries;
	bool lru = lockmap_is_lru(map);
	struct lockmap_entry *e, *new;

	new = lockmap_entry_alloc(map, l);
	if (IS_ERR(new))
		return new;
	if (max && !lru) {
		e = lockmap_full(map, s, l);
		if (e)
			goto drop_new;
	}
	for (;;) {
		rcu_read_lock();
		/* The _key variant: the _fast one BUGs on an obj_hashfn. */
		e = rhashtable_lookup_get_insert_key(&s->ht, l, &new->node,
						     lockmap_rht_params);
		if (!e) {
			rcu_read_unlock();
			break;
		}
		/* Another task's entry won; a dying one is waited out. */
		if (!IS_ERR(e) && refcount_inc_not_zero(&e->users)) {
			rcu_read_unlock();
			goto drop_new;
		}
		rcu_read_unlock();
		/*
		 * The table could not take it: out of memory mid-resize, or
		 * (-EBUSY) a chain too long to grow out of now, or (-E2BIG) at
		 * rhashtable's size limit.  Callers are promised -ENOMEM or
		 * -ENOSPC, and -EBUSY only for LOCKMAP_NOWAIT.
		 */
		if (IS_ERR(e)) {
			e = ERR_PTR(PTR_ERR(e) == -E2BIG ? -ENOSPC : -ENOMEM);
			goto drop_new;
		}
		lockmap_wait_unlink(s);
	}
	/* Before anyone can drop it: the creator's reference keeps it. */
	atomic_long_inc(&s->slots);
	if (max && lru && lockmap_slots(map) > max &&
	    !lockmap_lru_make_room(map, s)) {
		/* Every other key is held.  A task that found @new keeps it. */
		lockmap_put(map, new);
		return ERR_PTR(-ENOSPC);
	}
	return new;

drop_new:
	lockmap_entry_free_unused(map, new);
	return e;
}

/* Finds or creates the entry of a key and takes a reference. */
static __always_inline struct lockmap_entry *
lockmap_find_or_create(struct lockmap *map, struct lockmap_shard *s,
		       const struct lockmap_lookup *l)
{
	return lockmap_find(s, l) ?: lockmap_create_entry(map, s, l);
}

/*
 * Every hold of an rcu_get map's key that may change its value (all but the
 * locked read, lockmap_read_locked()) bumps its count at lock and unlock, so
 * that it is odd exactly while such a holder has the key (lockmap_read_rcu()).
 * The raw seqcount calls: the "write section" is the whole hold, which may
 * sleep, and readers never spin on it; they take the key's lock instead.
 * Nor is the hold one of KCSAN's atomic regions, which a write section is:
 * KCSAN would stop watching the holder's accesses for as long as it holds.
 */
static void lockmap_seq_locked(struct lockmap *map, struct lockmap_entry *e)
{
	if (map->p.rcu_get) {
		raw_write_seqcount_begin(lockmap_entry_seq(map, e));
		kcsan_nestable_atomic_end();
	}
}

static void lockmap_seq_unlocking(struct lockmap *map, struct lockmap_entry *e)
{
	if (map->p.rcu_get) {
		kcsan_nestable_atomic_begin();
		raw_write_seqcount_end(lockmap_entry_seq(map, e));
	}
}

/* The key's lock alone; lockmap_lock() also bumps the count. */
static __always_inline int __lockmap_lock(struct lockmap *map,
					  struct lockmap_entry *e,
					  enum lockmap_wait wait)
{
	bool rt = map->p.lock_kind == LOCKMAP_LOCK_RT_MUTEX;

	switch (wait) {
	case LOCKMAP_NOWAIT:
		return lockmap_trylock(map, e) ? 0 : -EBUSY;
	case LOCKMAP_WAIT_INTERRUPTIBLE:
		return rt ? rt_mutex_lock_interruptible(&e->rt_mutex) :
			    mutex_lock_interruptible(&e->mutex);
	case LOCKMAP_WAIT_KILLABLE:
		return rt ? rt_mutex_lock_killable(&e->rt_mutex) :
			    mutex_lock_killable(&e->mutex);
	default:
		if (rt)
			rt_mutex_lock(&e->rt_mutex);
		else
			mutex_lock(&e->mutex);
		return 0;
	}
}

/* Locks one entry on its own (not as part of a batch). */
static __always_inline int lockmap_lock(struct lockmap *map,
					struct lockmap_entry *e,
					enum lockmap_wait wait)
{
	int err = __lockmap_lock(map, e, wait);

	if (!err)
		lockmap_seq_locked(map, e);
	return err;
}

/*
 * Locks one entry of an uninterruptible batch.  Every key of the batch,
 * the first included, is annotated with the batch's nest lock so that lockdep
 * counts them as one held lock rather than reporting recursion.
 */
static void lockmap_lock_nested(struct lockmap *map, struct lockmap_entry *e)
{
	if (map->p.lock_kind == LOCKMAP_LOCK_RT_MUTEX)
		rt_mutex_lock_nest_lock(&e->rt_mutex, &map->batch_nest);
	else
		mutex_lock_nest_lock(&e->mutex, &map->batch_nest);
	lockmap_seq_locked(map, e);
}

static void lockmap_unlock(struct lockmap *map, struct lockmap_entry *e)
{
	lockmap_seq_unlocking(map, e);
	__lockmap_unlock(map, e);
}

static void lockmap_assert_held(struct lockmap *map,
				const struct lockmap_entry *e)
{
	if (map->p.lock_kind == LOCKMAP_LOCK_RT_MUTEX)
		lockdep_assert_held(&e->rt_mutex);
	else
		lockdep_assert_held(&e->mutex);
}

/*
 * A hold starts: the task that just locked @e has a reference of its own.
 * A key with a value lends the value's reference to its holder, so that
 * one goes (never the last: the value's stays); an empty key keeps it as
 * the holder's, given back by lockmap_release().
 */
static __always_inline void lockmap_hold_pinned(struct lockmap_entry *e)
{
	if (e->value)
		refcount_dec(&e->users);
}

/*
 * A hold ends: unlocks @e, and if it is left empty, drops its holder's
 * reference, after the unlock: whoever locks it next has a reference of its
 * own by then, and the last reference may free it.  lockmap_entry_swap()
 * passes the reference between holder and value as the value comes and
 * goes.  A key with a value is held on the value's reference, which the
 * unlock itself covers (__lockmap_unlock()).
 */
static __always_inline void lockmap_release(struct lockmap *map,
					    struct lockmap_entry *e)
{
	bool empty = !e->value;

	lockmap_unlock(map, e);
	if (empty)
		lockmap_put(map, e);
}

/*
 * What lockdep would check if the fast path below waited for the lock,
 * which, being a try-lock, it skips: that a key of this map is not taken
 * while the task holds another outside a batch, nor in an order that
 * deadlocks against another map's keys.  Done before the RCU lookup, where
 * a lock that may sleep could not be taken either.
 */
static __always_inline void lockmap_might_lock(struct lockmap *map)
{
	lock_map_acquire(&map->key_class);
	lock_map_release(&map->key_class);
}

/*
 * The fast path of every lock: the entry found under RCU and try-locked
 * there, with no reference taken when the key has a value (lockmap_live():
 * the value's reference keeps a held key, since only its holder may take
 * the value away and eviction try-locks first).  An empty key's holder takes
 * one.  Returns the locked entry, or NULL when the key has no entry, is held,
 * or its entry is dying.
 */
static __always_inline struct lockmap_entry *
lockmap_trylock_rcu(struct lockmap *map, const struct lockmap_lookup *l)
{
	struct lockmap_entry *e;

	rcu_read_lock();
	e = lockmap_find_rcu(map, l);
	if (e && lockmap_trylock_free(map, e)) {
		if (READ_ONCE(e->value) ? lockmap_live(e) :
					  refcount_inc_not_zero(&e->users)) {
			rcu_read_unlock();
			return e;
		}
		__lockmap_unlock(map, e);	/* dead: a reader's stale find */
	}
	rcu_read_unlock();
	return NULL;
}

/* lockmap_take() when the fast path failed: reference, lock, maybe sleep. */
static noinline struct lockmap_entry *
lockmap_take_slow(struct lockmap *map, const struct lockmap_lookup *l,
		  enum lockmap_wait wait, bool create)
{
	struct lockmap_shard *s = lockmap_shard_of(map, l->hash);
	struct lockmap_entry *e;
	int err;

	e = create ? lockmap_find_or_create(map, s, l) : lockmap_find(s, l);
	if (IS_ERR_OR_NULL(e))
		return e ?: ERR_PTR(-ENOENT);
	err = __lockmap_lock(map, e, wait);
	if (err) {
		lockmap_put(map, e);
		return ERR_PTR(err);
	}
	lockmap_hold_pinned(e);
	return e;
}

/*
 * Locks a key's entry, creating it if @create, else -ENOENT for a key
 * without one; promotes a valued key in an LRU if @promote.
 */
static __always_inline struct lockmap_entry *
lockmap_take(struct lockmap *map, const struct lockmap_lookup *l,
	     enum lockmap_wait wait, bool create, bool promote)
{
	struct lockmap_entry *e;

	if (wait != LOCKMAP_NOWAIT) {
		might_sleep();
		lockmap_might_lock(map);
	}
	e = lockmap_trylock_rcu(map, l);
	if (!e) {
		e = lockmap_take_slow(map, l, wait, create);
		if (IS_ERR(e))
			return e;
	}
	lockmap_seq_locked(map, e);
	if (promote && lockmap_is_lru(map) && e->value)
		lockmap_lru_touch(map, e);
	return e;
}

/**
 * lockmap_entry_lock() - lock a key, present or not
 * @map: the map
 * @key: the key bytes
 * @key_len: their length
 * @wait: how to wait while another task holds the key
 *
 * The key stays locked until lockmap_entry_unlock(); meanwhile every other
 * operation on it waits (or fails with -EBUSY if it does not wait), and
 * operations on other keys go on.  In an LRU cache a key with a value becomes
 * the most recently used.  Locks are not recursive: locking a key twice, or
 * two keys of one map outside lockmap_batch_lock(), may deadlock and lockdep
 * reports it.  Allocating the entry may sleep even with %LOCKMAP_NOWAIT.
 *
 * Context: Process context.
 * Return: the locked entry, or ERR_PTR() of -EINVAL (bad key), -ENOMEM,
 * -ENOSPC (&lockmap_params.max_entries reached), -EBUSY (%LOCKMAP_NOWAIT and
 * held) or -EINTR (a signal ended the wait; nothing is held).
 */
struct lockmap_entry *lockmap_entry_lock(struct lockmap *map, const void *key,
					 size_t key_len, enum lockmap_wait wait)
{
	struct lockmap_lookup l;
	int err;

	err = lockmap_prepare(map, key, key_len, &l);
	if (err)
		return ERR_PTR(err);
	return lockmap_take(map, &l, wait, true, true);
}
EXPORT_SYMBOL_GPL(lockmap_entry_lock);

/**
 * lockmap_entry_unlock() - unlock a key locked by lockmap_entry_lock()
 * @map: the map of the entry
 * @entry: the entry
 *
 * If the key has no value and nobody else wants it, its slot disappears.
 * @entry must not be used afterwards.
 *
 * Context: Process context.
 */
void lockmap_entry_unlock(struct lockmap *map, struct lockmap_entry *entry)
{
	lockmap_release(map, entry);
}
EXPORT_SYMBOL_GPL(lockmap_entry_unlock);

/**
 * lockmap_entry_key() - the key of an entry
 * @map: the map of the entry
 * @entry: a locked entry
 * @key_len: set to the key's length (may be NULL)
 *
 * Return: the key bytes, valid while the key is locked.
 */
const void *lockmap_entry_key(const struct lockmap *map,
			      const struct lockmap_entry *entry,
			      size_t *key_len)
{
	if (key_len)
		*key_len = lockmap_key_len_of(map, entry);
	return entry->key;
}
EXPORT_SYMBOL_GPL(lockmap_entry_key);

/*
 * A key gained (@value set) or lost its value.  Its reference needs no
 * change: the holder's becomes the value's, or the value's the holder's.
 */
static void lockmap_count_value(struct lockmap_shard *s, const void *value)
{
	if (value)
		atomic_long_inc(&s->len);
	else
		atomic_long_dec(&s->len);
}

/**
 * __lockmap_entry_recount() - a locked key just gained or lost its value
 * @map: the map of the entry
 * @entry: the entry, locked, whose value lockmap_entry_swap() just set
 *
 * The shard's count, and in an LRU cache its list, follow what @entry's
 * value now is; a cache that gained a value may evict cold unheld keys of
 * the shard.  For lockmap_entry_swap() only.
 *
 * Context: Process context, @entry locked.
 */
void __lockmap_entry_recount(struct lockmap *map, struct lockmap_entry *entry)
{
	struct lockmap_shard *s = lockmap_entry_shard(map, entry);
	void *value = entry->value;

	if (!lockmap_is_lru(map)) {
		lockmap_count_value(s, value);
		return;
	}
	/* Eviction walks the list under the shard lock; it skips held keys. */
	spin_lock(&s->lock);
	if (value)
		lockmap_lru_add(map, s, entry);
	else
		lockmap_lru_del(entry);
	lockmap_count_value(s, value);
	spin_unlock(&s->lock);
	if (value)
		lockmap_lru_evict_over(map, s);
}
EXPORT_SYMBOL_GPL(__lockmap_entry_recount);

#ifdef CONFIG_LOCKDEP
/**
 * lockmap_entry_assert_held() - lockdep's check that a key is locked
 * @map: the map of the entry
 * @entry: the entry, which the caller must hold
 *
 * For the inline lockmap_entry_swap(): which lock to check depends on the
 * map's &lockmap_params.lock_kind.
 */
void lockmap_entry_assert_held(struct lockmap *map,
			       const struct lockmap_entry *entry)
{
	lockmap_assert_held(map, entry);
}
EXPORT_SYMBOL_GPL(lockmap_entry_assert_held);
#endif

/**
 * lockmap_entry_set() - set the value of a locked key
 * @map: the map of the entry
 * @entry: a locked entry
 * @value: the new value, or NULL to remove the value
 *
 * Like lockmap_entry_swap(), but the old value is disposed of through
 * &lockmap_params.free_value.
 *
 * Context: Process context, @entry locked.
 */
void lockmap_entry_set(struct lockmap *map, struct lockmap_entry *entry,
		       void *value)
{
	lockmap_dispose(map, lockmap_entry_swap(map, entry, value));
}
EXPORT_SYMBOL_GPL(lockmap_entry_set);

/**
 * lockmap_entry_set_if_absent() - give a locked key a value unless it has one
 * @map: the map of the entry
 * @entry: a locked entry
 * @value: the new value (not NULL)
 *
 * Context: Process context, @entry locked.
 * Return: 0 if @value was stored, -EEXIST if the key already had a value
 * (@value stays the caller's), -EINVAL if @value is NULL.
 */
int lockmap_entry_set_if_absent(struct lockmap *map,
				struct lockmap_entry *entry, void *value)
{
	lockmap_assert_held(map, entry);
	if (!value)
		return -EINVAL;
	if (entry->value)
		return -EEXIST;
	lockmap_entry_swap(map, entry, value);
	return 0;
}
EXPORT_SYMBOL_GPL(lockmap_entry_set_if_absent);

/**
 * lockmap_entry_remove() - take the value out of a locked key
 * @map: the map of the entry
 * @entry: a locked entry
 *
 * The key stays locked; it disappears at unlock unless it gets a value again.
 *
 * Context: Process context, @entry locked.
 * Return: the value (now owned by the caller), or NULL.
 */
void *lockmap_entry_remove(struct lockmap *map, struct lockmap_entry *entry)
{
	return lockmap_entry_swap(map, entry, NULL);
}
EXPORT_SYMBOL_GPL(lockmap_entry_remove);

/**
 * lockmap_insert() - set the value of a key
 * @map: the map
 * @key: the key bytes
 * @key_len: their length
 * @value: the value (not NULL); the map owns it once the call succeeds
 * @old: if not NULL, receives the previous value (or NULL) and its
 *	ownership; if NULL, the previous value is disposed of
 *
 * Waits while another task holds the key.  In an LRU cache the key becomes
 * the most recently used and cold unheld keys may be evicted.
 *
 * Context: Process context.
 * Return: 0, or -EINVAL, -ENOMEM or -ENOSPC with the map unchanged and
 * @value still the caller's.
 */
int lockmap_insert(struct lockmap *map, const void *key, size_t key_len,
		   void *value, void **old)
{
	struct lockmap_entry *e;
	void *prev;

	if (!value)
		return -EINVAL;
	e = lockmap_entry_lock(map, key, key_len, LOCKMAP_WAIT);
	if (IS_ERR(e))
		return PTR_ERR(e);
	prev = lockmap_entry_swap(map, e, value);
	lockmap_entry_unlock(map, e);
	if (old)
		*old = prev;
	else
		lockmap_dispose(map, prev);
	return 0;
}
EXPORT_SYMBOL_GPL(lockmap_insert);

/*
 * Locks a key that has a value, never creating its entry, for remove (and
 * the char device, which waits interruptibly).  Does not promote it in an
 * LRU cache.  Returns the locked entry, or ERR_PTR() of -ENOENT (no value),
 * -EINVAL, -EBUSY or -EINTR.
 */
struct lockmap_entry *lockmap_take_existing(struct lockmap *map,
					    const void *key, size_t key_len,
					    enum lockmap_wait wait)
{
	struct lockmap_lookup l;
	struct lockmap_entry *e;
	int err;

	might_sleep();
	err = lockmap_prepare(map, key, key_len, &l);
	if (err)
		return ERR_PTR(err);
	/* A key nobody holds and without a value has no entry at all. */
	e = lockmap_take(map, &l, wait, false, false);
	if (!IS_ERR(e) && !e->value) {
		lockmap_release(map, e);
		return ERR_PTR(-ENOENT);
	}
	return e;
}

/* Copies a locked key's value out; promotes it in an LRU if @promote. */
static int lockmap_copy_locked(struct lockmap *map, struct lockmap_entry *e,
			       lockmap_copy_t copy, void *arg, bool promote)
{
	int ret = copy ? copy(e->value, arg) : 0;

	if (promote && lockmap_is_lru(map))
		lockmap_lru_touch(map, e);
	return ret;
}

/*
 * get, peek and contains under the key's lock.  They change nothing, so
 * they leave an rcu_get map's count alone: lockless readers of the key go on
 * beside them instead of queueing behind them.  They never take the holder's
 * reference of an empty key either: the fast path reads an empty or dying
 * key as absent without one (under RCU until unlocked), and the slow path
 * keeps the reference it waited with.
 */
static int lockmap_read_locked(struct lockmap *map,
			       const struct lockmap_lookup *l,
			       lockmap_copy_t copy, void *arg, bool promote,
			       enum lockmap_wait wait)
{
	struct lockmap_entry *e;
	void *value;
	int ret;

	rcu_read_lock();
	e = lockmap_find_rcu(map, l);
	if (!e) {
		rcu_read_unlock();
		return -ENOENT;
	}
	if (lockmap_trylock_free(map, e)) {
		value = READ_ONCE(e->value);
		if (value && lockmap_live(e)) {
			rcu_read_unlock();	/* @copy may sleep */
			ret = lockmap_copy_locked(map, e, copy, arg, promote);
			__lockmap_unlock(map, e);
			return ret;
		}
		__lockmap_unlock(map, e);
		if (!value) {
			rcu_read_unlock();
			return -ENOENT;
		}
	}
	rcu_read_unlock();

	e = lockmap_find(lockmap_shard_of(map, l->hash), l);
	if (!e)
		return -ENOENT;
	ret = __lockmap_lock(map, e, wait);
	if (!ret) {
		ret = e->value ? lockmap_copy_locked(map, e, copy, arg, promote) :
				 -ENOENT;
		__lockmap_unlock(map, e);
	}
	lockmap_put(map, e);
	return ret;
}

/*
 * The read of an rcu_get map: copies the value without touching the entry's
 * lock or count, and keeps the copy only if no holder that may change the
 * value had the key at any time around it, and eviction or pop did not take
 * the value (its sequence count was even and did not move).  So a reader
 * never sees a holder's work in progress, and waits for such a holder as
 * usual.  Returns false when the count said no: the caller then reads under
 * the key's lock.  The value stays readable because the map's owner frees
 * values only after an RCU grace period.
 */
static bool lockmap_read_rcu(struct lockmap *map,
			     const struct lockmap_lookup *l,
			     lockmap_copy_t copy, void *arg, bool promote,
			     int *ret)
{
	struct lockmap_entry *e;
	unsigned int seq;
	void *value;
	bool done = false;

	rcu_read_lock();
	e = lockmap_find_rcu(map, l);
	if (!e) {
		*ret = -ENOENT;
		done = true;
		goto out;
	}
	seq = raw_read_seqcount(lockmap_entry_seq(map, e));
	if (seq & 1)
		goto out;
	value = READ_ONCE(e->value);
	if (value && !lockmap_live(e))
		goto out;
	*ret = !value ? -ENOENT : copy ? copy(value, arg) : 0;
	if (read_seqcount_retry(lockmap_entry_seq(map, e), seq))
		goto out;
	done = true;
	if (value && promote && lockmap_is_lru(map))
		lockmap_lru_touch(map, e);
out:
	rcu_read_unlock();
	return done;
}

/*
 * get, peek and contains, waiting for a held key as @wait says (the char
 * device's waits are interruptible, or it does not wait).  Returns what
 * @copy returned, -ENOENT, -EINVAL, or -EBUSY or -EINTR from the wait.
 */
int lockmap_read(struct lockmap *map, const void *key, size_t key_len,
		 lockmap_copy_t copy, void *arg, bool promote,
		 enum lockmap_wait wait)
{
	struct lockmap_lookup l;
	int ret;

	if (wait != LOCKMAP_NOWAIT) {
		might_sleep();
		/* An rcu_get read too: it waits for a holder that may write. */
		lockmap_might_lock(map);
	}
	ret = lockmap_prepare(map, key, key_len, &l);
	if (ret)
		return ret;
	if (map->p.rcu_get && lockmap_read_rcu(map, &l, copy, arg, promote, &ret))
		return ret;
	return lockmap_read_locked(map, &l, copy, arg, promote, wait);
}

/**
 * lockmap_get() - copy out the value of a key
 * @map: the map
 * @key: the key bytes
 * @key_len: their length
 * @copy: called with the value while the key is locked, or for an rcu_get
 *	map first under rcu_read_lock() (see &lockmap_params.rcu_get); may be
 *	NULL
 * @arg: passed to @copy
 *
 * Waits while another task holds the key.  In an LRU cache the key becomes
 * the most recently used.  An rcu_get map reads a key without taking its lock
 * or writing to the entry (an LRU cache still takes the shard lock to
 * promote it), and waits only for a holder that may change the value, not
 * for another reader.
 *
 * Context: Process context.
 * Return: what @copy returned (0 without @copy), -ENOENT if the key has no
 * value, or -EINVAL.
 */
int lockmap_get(struct lockmap *map, const void *key, size_t key_len,
		lockmap_copy_t copy, void *arg)
{
	return lockmap_read(map, key, key_len, copy, arg, true, LOCKMAP_WAIT);
}
EXPORT_SYMBOL_GPL(lockmap_get);

/**
 * lockmap_peek() - copy out the value of a key without promoting it
 * @map: the map
 * @key: the key bytes
 * @key_len: their length
 * @copy: as for lockmap_get()
 * @arg: passed to @copy
 *
 * As lockmap_get(), but an LRU cache's order does not change.
 *
 * Context: Process context.
 * Return: as lockmap_get().
 */
int lockmap_peek(struct lockmap *map, const void *key, size_t key_len,
		 lockmap_copy_t copy, void *arg)
{
	return lockmap_read(map, key, key_len, copy, arg, false, LOCKMAP_WAIT);
}
EXPORT_SYMBOL_GPL(lockmap_peek);

/**
 * lockmap_contains() - tell whether a key has a value
 * @map: the map
 * @key: the key bytes
 * @key_len: their length
 *
 * Waits while another task holds the key (in an rcu_get map, only for a
 * holder that may change its value); does not promote it.
 *
 * Context: Process context.
 * Return: 1 if it has a value, 0 if not, -EINVAL for a bad key.
 */
int lockmap_contains(struct lockmap *map, const void *key, size_t key_len)
{
	int ret = lockmap_peek(map, key, key_len, NULL, NULL);

	return ret == -ENOENT ? 0 : ret ?: 1;
}
EXPORT_SYMBOL_GPL(lockmap_contains);

/**
 * lockmap_remove() - remove the value of a key
 * @map: the map
 * @key: the key bytes
 * @key_len: their length
 * @old: if not NULL, receives the value and its ownership; if NULL, the
 *	value is disposed of
 *
 * Context: Process context.
 * Return: 0, -ENOENT if the key had no value, or -EINVAL.
 */
int lockmap_remove(struct lockmap *map, const void *key, size_t key_len,
		   void **old)
{
	struct lockmap_entry *e;
	void *value;

	e = lockmap_take_existing(map, key, key_len, LOCKMAP_WAIT);
	if (IS_ERR(e))
		return PTR_ERR(e);
	value = lockmap_entry_remove(map, e);
	lockmap_entry_unlock(map, e);
	if (old)
		*old = value;
	else
		lockmap_dispose(map, value);
	return 0;
}
EXPORT_SYMBOL_GPL(lockmap_remove);

/**
 * lockmap_len() - number of keys with a value
 * @map: the map
 *
 * Held keys without a value do not count.  Exact when nothing changes the map
 * concurrently.
 *
 * Context: Any context.
 * Return: the count.
 */
size_t lockmap_len(struct lockmap *map)
{
	long len = 0;
	u32 i;

	for (i = 0; i <= map->shard_mask; i++)
		len += atomic_long_read(&map->shards[i].len);
	return len > 0 ? len : 0;
}
EXPORT_SYMBOL_GPL(lockmap_len);

/**
 * lockmap_get_stats() - snapshot a map's counters
 * @map: the map
 * @stats: filled in
 *
 * Context: Process context.
 */
void lockmap_get_stats(struct lockmap *map, struct lockmap_stats *stats)
{
	u32 i;

	memset(stats, 0, sizeof(*stats));
	stats->len = lockmap_len(map);
	stats->capacity = READ_ONCE(map->p.capacity);
	stats->nr_shards = map->shard_mask + 1;
	stats->slots = lockmap_slots(map);
	for (i = 0; i <= map->shard_mask; i++) {
		struct lockmap_shard *s = &map->shards[i];

		spin_lock(&s->lock);
		stats->evictions += s->evictions;
		stats->evict_skipped += s->evict_skipped;
		spin_unlock(&s->lock);
	}
}
EXPORT_SYMBOL_GPL(lockmap_get_stats);

/* Batches */

struct lockmap_batch {
	struct lockmap *map;
	unsigned int nr;
	struct lockmap_entry *entries[];
};

/*
 * The one order every batch locks in: hash, length, bytes.  The shard is
 * the hash's high bits, so this also goes shard by shard.
 */
static int lockmap_lookup_cmp(const struct lockmap_lookup *x,
			      const struct lockmap_lookup *y)
{
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->key, y->key, x->len);
}

/*
 * Sorts @l into locking order and drops duplicates; returns how many are
 * left.  Batches are short, so an insertion sort beats sort()'s heapsort.
 */
static unsigned int lockmap_sort_unique(struct lockmap_lookup *l,
					unsigned int nr)
{
	unsigned int i, j, n = 0;

	for (i = 0; i < nr; i++) {
		struct lockmap_lookup x = l[i];
		int c = 1;

		for (j = n; j; j--) {
			c = lockmap_lookup_cmp(&l[j - 1], &x);
			if (c <= 0)
				break;
		}
		if (j && !c)
			continue;	/* the same key as l[j - 1] */
		memmove(&l[j + 1], &l[j], (n - j) * sizeof(*l));
		l[j] = x;
		n++;
	}
	return n;
}

static void lockmap_batch_put(struct lockmap *map, struct lockmap_batch *b)
{
	while (b->nr)
		lockmap_put(map, b->entries[--b->nr]);
	kfree(b);
}

static void lockmap_unlock_range(struct lockmap *map, struct lockmap_batch *b,
				 unsigned int nr)
{
	while (nr)
		lockmap_unlock(map, b->entries[--nr]);
}

/*
 * Locks every entry of @b in order; on error nothing stays locked.  The
 * kernel has no interruptible nest-lock primitive, so an interruptible or
 * killable batch sleeps only for its first key; a later key that is busy
 * makes it release everything, wait for that key alone and start over.
 */
static int lockmap_batch_acquire(struct lockmap *map, struct lockmap_batch *b,
				 enum lockmap_wait wait)
{
	unsigned int i = 0;
	int err;

	if (wait == LOCKMAP_WAIT) {
		for (i = 0; i < b->nr; i++)
			lockmap_lock_nested(map, b->entries[i]);
		return 0;
	}
	while (i < b->nr) {
		err = lockmap_lock(map, b->entries[i], i ? LOCKMAP_NOWAIT : wait);
		if (!err) {
			i++;
			continue;
		}
		lockmap_unlock_range(map, b, i);
		if (err != -EBUSY || wait == LOCKMAP_NOWAIT)
			return err;
		err = lockmap_lock(map, b->entries[i], wait);
		if (err)
			return err;
		lockmap_unlock(map, b->entries[i]);
		i = 0;
	}
	return 0;
}

/**
 * lockmap_batch_lock() - lock several keys without deadlock
 * @map: the map
 * @keys: the keys; duplicates are locked once
 * @nr_keys: how many, 1 to %LOCKMAP_BATCH_MAX
 * @wait: how to wait for held keys
 *
 * Every batch locks its keys in one order (by hash, which goes shard by
 * shard, then length and bytes), so two batches with overlapping keys never
 * deadlock.  An interruptible or killable batch that finds a key held
 * releases what it holds, waits for that key alone, and starts over.
 * lockdep sees the keys of one batch as nested under the map's batch lock,
 * not as recursion.  Do not hold another key of the map while calling this.
 * In an LRU cache every key with a value becomes the most recently used.
 * The keys without an entry get one before any key is locked: at
 * &lockmap_params.max_entries an LRU cache evicts a cold value for each, and
 * keeps those evictions if the batch then fails.
 *
 * Context: Process context.
 * Return: the batch, to be released with lockmap_batch_unlock(), or ERR_PTR()
 * of -EINVAL, -ENOMEM, -ENOSPC, -EBUSY (%LOCKMAP_NOWAIT) or -EINTR; on error
 * nothing is held.
 */
struct lockmap_batch *lockmap_batch_lock(struct lockmap *map,
					 const struct lockmap_key *keys,
					 unsigned int nr_keys,
					 enum lockmap_wait wait)
{
	struct lockmap_lookup on_stack[LOCKMAP_BATCH_ON_STACK], *l = on_stack;
	struct lockmap_batch *b = NULL;
	unsigned int i, n;
	int err = -EINVAL;

	if (!keys || !nr_keys || nr_keys > LOCKMAP_BATCH_MAX)
		return ERR_PTR(-EINVAL);
	if (wait != LOCKMAP_NOWAIT) {
		might_sleep();
		/*
		 * Before the batch lock: under it, lockdep would take a key
		 * of a batch already held for nesting, not for recursion.
		 */
		lockmap_might_lock(map);
	}
	if (nr_keys > ARRAY_SIZE(on_stack)) {
		l = kmalloc_array(nr_keys, sizeof(*l), GFP_KERNEL);
		if (!l)
			return ERR_PTR(-ENOMEM);
	}
	for (i = 0; i < nr_keys; i++) {
		err = lockmap_prepare(map, keys[i].key, keys[i].len, &l[i]);
		if (err)
			goto out;
	}
	n = lockmap_sort_unique(l, nr_keys);

	if (!lockmap_should_fail_alloc())
		b = kmalloc(struct_size(b, entries, n), map->p.gfp);
	if (!b) {
		err = -ENOMEM;
		goto out;
	}
	b->map = map;
	b->nr = 0;
	for (i = 0; i < n; i++) {
		struct lockmap_entry *e;

		e = lockmap_find_or_create(map, lockmap_shard_of(map, l[i].hash),
					   &l[i]);
		if (IS_ERR(e)) {
			lockmap_batch_put(map, b);
			err = PTR_ERR(e);
			goto out;
		}
		b->entries[b->nr++] = e;
	}

	lock_map_acquire_read(&map->batch_nest.dep_map);
	err = lockmap_batch_acquire(map, b, wait);
	if (err) {
		lock_map_release(&map->batch_nest.dep_map);
		lockmap_batch_put(map, b);
		goto out;
	}
	for (i = 0; i < b->nr; i++) {
		struct lockmap_entry *e = b->entries[i];

		lockmap_hold_pinned(e);
		if (lockmap_is_lru(map) && e->value)
			lockmap_lru_touch(map, e);
	}
out:
	if (l != on_stack)
		kfree(l);
	return err ? ERR_PTR(err) : b;
}
EXPORT_SYMBOL_GPL(lockmap_batch_lock);

/**
 * lockmap_batch_count() - number of distinct keys a batch holds
 * @batch: a locked batch
 *
 * Return: the count (duplicates folded).
 */
unsigned int lockmap_batch_count(const struct lockmap_batch *batch)
{
	return batch->nr;
}
EXPORT_SYMBOL_GPL(lockmap_batch_count);

/**
 * lockmap_batch_entry() - the entries of a batch, in locking order
 * @batch: a locked batch
 * @index: 0 to lockmap_batch_count() - 1
 *
 * Return: the locked entry, usable with the lockmap_entry_*() calls until
 * lockmap_batch_unlock(), or NULL if @index is out of range.
 */
struct lockmap_entry *lockmap_batch_entry(const struct lockmap_batch *batch,
					  unsigned int index)
{
	return index < batch->nr ? batch->entries[index] : NULL;
}
EXPORT_SYMBOL_GPL(lockmap_batch_entry);

/**
 * lockmap_batch_find() - the entry of a key in a batch
 * @batch: a locked batch
 * @key: the key bytes
 * @key_len: their length
 *
 * Return: the locked entry, or NULL if the batch does not hold @key.
 */
struct lockmap_entry *lockmap_batch_find(const struct lockmap_batch *batch,
					 const void *key, size_t key_len)
{
	unsigned int i;

	if (!key)
		return NULL;
	for (i = 0; i < batch->nr; i++) {
		struct lockmap_entry *e = batch->entries[i];
		size_t len;
		const void *k = lockmap_entry_key(batch->map, e, &len);

		if (len == key_len && !memcmp(k, key, key_len))
			return e;
	}
	return NULL;
}
EXPORT_SYMBOL_GPL(lockmap_batch_find);

/**
 * lockmap_batch_unlock() - unlock every key of a batch and free it
 * @map: the map
 * @batch: a batch from lockmap_batch_lock()
 *
 * Context: Process context.
 */
void lockmap_batch_unlock(struct lockmap *map, struct lockmap_batch *batch)
{
	while (batch->nr)
		lockmap_release(map, batch->entries[--batch->nr]);
	lock_map_release(&map->batch_nest.dep_map);
	kfree(batch);
}
EXPORT_SYMBOL_GPL(lockmap_batch_unlock);

/* Walks */

/*
 * Walks go in position order: a key's position is its hash with the bits
 * reversed.  A table bucket holds the keys whose hash ends in the bucket's
 * index, one range of positions, so walking a table's buckets in
 * bit-reversed order of their index visits positions in increasing order,
 * in a table of any size.  A place in a walk, a position and an entry (keys
 * of one position in the order of their entries' addresses), thus stays
 * valid while the table is resized, and a chunk starts at the bucket of
 * that place and stops one bucket past what it keeps: a walk of the whole
 * map visits each key about once, however the tables change meanwhile.
 */
static int lockmap_walk_cmp(u32 pos, const struct lockmap_entry *e,
			    u32 wpos, const struct lockmap_entry *we)
{
	if (pos != wpos)
		return pos < wpos ? -1 : 1;
	if (e == we)
		return 0;
	return (unsigned long)e < (unsigned long)we ? -1 : 1;
}

/* An entry left out of a full chunk, or the first of those not looked at. */
static void lockmap_walk_cut(struct lockmap_walk *w, u64 pos)
{
	w->cut = min(w->cut, pos);
}

/* Puts @e in the chunk if it is among the @w->max first after the place. */
static void lockmap_walk_add(struct lockmap_walk *w, struct lockmap_entry *e)
{
	u32 pos = lockmap_walk_pos(e);
	unsigned int lo = 0, hi = w->nr;

	if (lockmap_walk_cmp(pos, e, w->pos, w->after) <= 0)
		return;
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		struct lockmap_entry *m = w->e[mid];
		int r = lockmap_walk_cmp(pos, e, lockmap_walk_pos(m), m);

		if (!r)
			return;		/* met again in the next table */
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (w->nr == w->max) {
		if (lo == w->nr) {
			lockmap_walk_cut(w, pos);
			return;
		}
		/* the last one falls out */
		lockmap_walk_cut(w, lockmap_walk_pos(w->e[--w->nr]));
	}
	memmove(&w->e[lo + 1], &w->e[lo], (w->nr - lo) * sizeof(*w->e));
	w->e[lo] = e;
	w->nr++;
}

/*
 * One table's part of a chunk.  Under RCU a chain may lead into another
 * bucket's chain when a resize moves its last entry: meeting a key twice or
 * in another bucket is harmless, and a chain that did not end at its own
 * bucket is walked again, as rhashtable's lookups do.
 */
static void lockmap_walk_table(struct lockmap_walk *w,
			       const struct bucket_table *tbl)
{
	unsigned int shift = 32 - ilog2(tbl->size);
	u64 p;

	for (p = (u64)w->pos >> shift; p < tbl->size; p++) {
		unsigned int b = (u64)bitrev32(p) >> shift;
		struct rhash_lock_head __rcu *const *bkt = rht_bucket(tbl, b);
		struct rhash_head *link;
		struct lockmap_entry *e;

		if (w->nr == w->max &&
		    (p << shift) > lockmap_walk_pos(w->e[w->nr - 1])) {
			lockmap_walk_cut(w, p << shift);
			break;
		}
		do {
			rht_for_each_entry_rcu_from(e, link, rht_ptr_rcu(bkt),
						    tbl, b, node) {
				if (refcount_read(&e->users) &&
				    READ_ONCE(e->value))
					lockmap_walk_add(w, e);
			}
		} while (link != RHT_NULLS_MARKER(bkt));
	}
}

/**
 * lockmap_walk_collect() - the next chunk of a walk
 * @map: the map
 * @w: the walk, where the chunk starts
 *
 * Fills @w->e with the first @w->max live entries with a value of
 * @w->shard after the place @w says, in position order, each pinned
 * (lockmap_walk_put()), and moves the place past them: to the next shard if
 * nothing was left out (@w->shard then past the map's last at the end of
 * the walk).  @w->cut is the lowest position left out: a chunk that keeps
 * entries at it has only some of that position's.
 * During a resize keys move from a table to a later one, never back, and
 * each is linked there before it leaves the old one: walking the tables in
 * that order misses none.  The last table goes first too, so that a nearly
 * emptied old one is walked only as far as the keys found there.  A key
 * that has a value during the whole walk is in exactly one chunk.
 */
void lockmap_walk_collect(struct lockmap *map, struct lockmap_walk *w)
{
	struct rhashtable *ht = &map->shards[w->shard].ht;
	const struct bucket_table *first, *last, *tbl;
	unsigned int i, n = 0;

	w->nr = 0;
	w->cut = U64_MAX;
	rcu_read_lock();
	first = rht_dereference_rcu(ht->tbl, ht);
	last = first;
	while ((tbl = rht_dereference_rcu(last->future_tbl, ht)))
		last = tbl;
	if (last != first)
		lockmap_walk_table(w, last);
	for (tbl = first; tbl; tbl = rht_dereference_rcu(tbl->future_tbl, ht)) {
		lockmap_walk_table(w, tbl);
		smp_rmb();	/* see the future table of a finished move */
	}
	if (w->cut != U64_MAX) {
		w->after = w->e[w->nr - 1];
		w->pos = lockmap_walk_pos(w->after);
	} else {
		w->shard++;
		w->pos = 0;
		w->after = NULL;
	}
	for (i = 0; i < w->nr; i++)
		if (refcount_inc_not_zero(&w->e[i]->users))
			w->e[n++] = w->e[i];	/* the dying are gone */
	rcu_read_unlock();
	w->nr = n;
}

/*
 * Locks a pinned entry of a chunk: a hold like any other, with a reference
 * of its own if the key is empty; the pin stays.
 */
static int lockmap_walk_lock(struct lockmap *map, struct lockmap_entry *e,
			     enum lockmap_wait wait)
{
	int err = lockmap_lock(map, e, wait);

	if (!err && !e->value)
		refcount_inc(&e->users);
	return err;
}

/* Unpins the entries of a chunk from the @from'th on. */
void lockmap_walk_put(struct lockmap *map, struct lockmap_walk *w,
		      unsigned int from)
{
	while (w->nr > from)
		lockmap_put(map, w->e[--w->nr]);
}

/**
 * lockmap_walk() - call a function on every key with a value
 * @map: the map
 * @fn: called with each key locked (it may have lost its value meanwhile);
 *	non-zero stops the walk
 * @arg: passed to @fn
 * @wait: how to wait for a held key
 *
 * A chunk at a time (lockmap_walk_collect()), one key at a time, sleeping
 * between keys.  The keys of the chunk not visited yet stay pinned, so that
 * eviction skips them as it skips awaited keys.
 *
 * Return: 0, the first non-zero value of @fn, or -EBUSY or -EINTR from a
 * wait.
 */
int lockmap_walk(struct lockmap *map,
		 int (*fn)(struct lockmap *map, struct lockmap_entry *e,
			   void *arg),
		 void *arg, enum lockmap_wait wait)
{
	struct lockmap_entry *chunk[16];
	struct lockmap_walk w = { .e = chunk, .max = ARRAY_SIZE(chunk) };
	unsigned int i;
	int ret = 0;

	might_sleep();
	while (!ret && w.shard <= map->shard_mask) {
		lockmap_walk_collect(map, &w);
		for (i = 0; i < w.nr; i++) {
			struct lockmap_entry *e = w.e[i];

			if (!ret)
				ret = lockmap_walk_lock(map, e, wait);
			if (!ret) {
				ret = fn(map, e, arg);
				lockmap_release(map, e);
			}
			lockmap_put(map, e);
			cond_resched();
		}
	}
	return ret;
}

struct lockmap_visit_arg {
	lockmap_visit_t visit;
	lockmap_keep_t keep;
	void *arg;
};

static int lockmap_visit_one(struct lockmap *map, struct lockmap_entry *e,
			     void *arg)
{
	struct lockmap_visit_arg *v = arg;
	const void *key;
	size_t len;

	if (!e->value)
		return 0;
	key = lockmap_entry_key(map, e, &len);
	return v->visit(key, len, e->value, v->arg);
}

/**
 * lockmap_for_each() - call a function on every value
 * @map: the map
 * @visit: called with each key locked; non-zero stops the walk
 * @arg: passed to @visit
 *
 * Walks shard by shard, never under a map-wide lock; waits for held keys
 * rather than skipping them.  Every key that has a value during the whole
 * walk is seen exactly once, however the tables resize meanwhile; keys
 * added or removed meanwhile may or may not be.  The walk pins the keys of
 * its current chunk (up to 15) that it has yet to visit, which eviction
 * skips as it skips awaited keys.  Does not change an LRU cache's order.
 * @visit must not lock keys of @map.
 *
 * Context: Process context.
 * Return: 0, or the first non-zero value @visit returned.
 */
int lockmap_for_each(struct lockmap *map, lockmap_visit_t visit, void *arg)
{
	struct lockmap_visit_arg v = { .visit = visit, .arg = arg };

	return lockmap_walk(map, lockmap_visit_one, &v, LOCKMAP_WAIT);
}
EXPORT_SYMBOL_GPL(lockmap_for_each);

static int lockmap_retain_one(struct lockmap *map, struct lockmap_entry *e,
			      void *arg)
{
	struct lockmap_visit_arg *v = arg;
	const void *key;
	size_t len;

	if (!e->value)
		return 0;
	key = lockmap_entry_key(map, e, &len);
	if (!v->keep || !v->keep(key, len, e->value, v->arg))
		lockmap_entry_set(map, e, NULL);
	return 0;
}

/**
 * lockmap_retain() - keep only the values a predicate accepts
 * @map: the map
 * @keep: called with each key locked; false removes and disposes of the value
 * @arg: passed to @keep
 *
 * Walks like lockmap_for_each().
 *
 * Context: Process context.
 */
void lockmap_retain(struct lockmap *map, lockmap_keep_t keep, void *arg)
{
	struct lockmap_visit_arg v = { .keep = keep, .arg = arg };

	lockmap_walk(map, lockmap_retain_one, &v, LOCKMAP_WAIT);
}
EXPORT_SYMBOL_GPL(lockmap_retain);

/**
 * lockmap_clear() - remove and dispose of every value
 * @map: the map
 *
 * Walks like lockmap_for_each(), waiting for held keys.
 *
 * Context: Process context.
 */
void lockmap_clear(struct lockmap *map)
{
	lockmap_retain(map, NULL, NULL);
}
EXPORT_SYMBOL_GPL(lockmap_clear);

/* Creation and destruction */

static bool lockmap_params_valid(const struct lockmap_params *p)
{
	if (p->key_len > LOCKMAP_MAX_KEY_LEN ||
	    p->max_key_len > LOCKMAP_MAX_KEY_LEN ||
	    (p->key_len && p->max_key_len))
		return false;
	if (p->nr_shards > LOCKMAP_MAX_SHARDS ||
	    (p->nr_shards && !is_power_of_2(p->nr_shards)))
		return false;
	if (p->lock_kind != LOCKMAP_LOCK_MUTEX &&
	    p->lock_kind != LOCKMAP_LOCK_RT_MUTEX)
		return false;
	/* Only an LRU cache can evict, or give memory back. */
	if (!p->capacity && (p->evict || p->shrinker || p->max_evict))
		return false;
	return true;
}

static void lockmap_destroy_entry(void *ptr, void *arg)
{
	struct lockmap_entry *e = ptr;
	struct lockmap *map = arg;

	/* Only the value's own reference may be left. */
	WARN_ON(refcount_read(&e->users) != !!e->value);
	lockmap_dispose(map, e->value);
	lockmap_entry_free(map, e);
}

/*
 * kmem_cache_destroy() takes a cache's directory out of sysfs only after it
 * has let go of slab_mutex, and a cache created meanwhile with the same
 * size and flags, which SLUB names after those, fails to get its own
 * ("cannot create duplicate filename '/kernel/slab/:0000088'": the fuzzer
 * creating and destroying maps from four threads on Debian's 6.1-rt).
 * lockmap creates and destroys its entry caches one at a time.
 */
static DEFINE_MUTEX(lockmap_cache_lock);

static void lockmap_free(struct lockmap *map, u32 nr_tables)
{
	while (nr_tables)
		rhashtable_free_and_destroy(&map->shards[--nr_tables].ht,
					    lockmap_destroy_entry, map);
	/*
	 * Entries are freed by RCU callbacks: a cache can only go once they
	 * have run.  Without one, module exit waits for them instead.
	 */
	if (map->cache) {
		rcu_barrier();
		mutex_lock(&lockmap_cache_lock);
		kmem_cache_destroy(map->cache);
		mutex_unlock(&lockmap_cache_lock);
	}
	lockdep_unregister_key(&map->lock_key);
	kvfree(map);
}

static atomic_t lockmap_ids = ATOMIC_INIT(0);

/*
 * One class for every map's batch nest lock (a dynamic key per map would
 * cost two more RCU grace periods at destroy).  Batches take it as a
 * recursive read lock, so batches of two maps may be held together.
 */
static struct lock_class_key lockmap_batch_key;

/**
 * lockmap_create() - create a map or an LRU cache
 * @params: how; see &struct lockmap_params (copied, may be on the stack)
 *
 * Context: Process context.
 * Return: the map, or ERR_PTR() of -EINVAL (bad parameters) or -ENOMEM.
 */
struct lockmap *lockmap_create(const struct lockmap_params *params)
{
	u32 nr_shards, i;
	struct lockmap *map;
	int err;

	might_sleep();
	if (!params || !lockmap_params_valid(params))
		return ERR_PTR(-EINVAL);
	nr_shards = params->nr_shards ?:
		    min_t(u32, roundup_pow_of_two(4 * num_possible_cpus()),
			  LOCKMAP_MAX_SHARDS);

	/* Charged like the entries; rhashtable's bucket arrays cannot be. */
	map = kvzalloc(struct_size(map, shards, nr_shards),
		       GFP_KERNEL | (params->gfp & __GFP_ACCOUNT));
	if (!map)
		return ERR_PTR(-ENOMEM);
	map->p = *params;
	map->p.name = params->name ?: "lockmap";
	map->p.gfp = params->gfp ?: GFP_KERNEL;
	map->p.max_evict = params->max_evict ?: 1;
	map->shard_mask = nr_shards - 1;
	map->max_key_len = params->key_len ?:
			   params->max_key_len ?: LOCKMAP_MAX_KEY_LEN;
	/* What lockmap_entry_head() and lockmap_entry_lru() find in front. */
	if (lockmap_has_head(params))
		map->prefix = LOCKMAP_HEAD_SIZE;
	if (lockmap_is_lru(map))
		map->prefix += LOCKMAP_LRU_SIZE;
	map->entry_size = map->prefix + offsetof(struct lockmap_entry, key);
	map->free_rcu = lockmap_is_lru(map) ?
			(lockmap_has_head(params) ? lockmap_free_rcu_head_lru :
						    lockmap_free_rcu_lru) :
			(lockmap_has_head(params) ? lockmap_free_rcu_head :
						    lockmap_free_rcu);
	get_random_bytes(&map->seed, sizeof(map->seed));
	lockdep_register_key(&map->lock_key);
	/* The name and wait type of the key locks' class (__mutex_init()). */
	lockdep_init_map_wait(&map->key_class, map->p.name,
			      &map->lock_key, 0, LD_WAIT_SLEEP);
	lockdep_init_map(&map->batch_nest.dep_map, "lockmap_batch",
			 &lockmap_batch_key, 0);

	if (params->key_len) {
		char name[32];

		snprintf(name, sizeof(name), "lockmap-%d",
			 atomic_inc_return(&lockmap_ids));
		mutex_lock(&lockmap_cache_lock);
		map->cache = kmem_cache_create(name,
					       map->entry_size +
					       max_t(size_t, params->key_len,
						     LOCKMAP_MIN_KEY_ROOM),
					       __alignof__(struct lockmap_entry),
					       0, NULL);
		mutex_unlock(&lockmap_cache_lock);
		if (!map->cache) {
			lockmap_free(map, 0);
			return ERR_PTR(-ENOMEM);
		}
	}

	for (i = 0; i < nr_shards; i++) {
		struct lockmap_shard *s = &map->shards[i];

		spin_lock_init(&s->lock);
		INIT_LIST_HEAD(&s->lru);
		err = rhashtable_init(&s->ht, &lockmap_rht_params);
		if (err) {
			lockmap_free(map, i);
			return ERR_PTR(err);
		}
	}

	if (lockmap_is_lru(map)) {
		err = lockmap_lru_init(map);
		if (err) {
			lockmap_free(map, nr_shards);
			return ERR_PTR(err);
		}
	}
	return map;
}
EXPORT_SYMBOL_GPL(lockmap_create);

/**
 * lockmap_destroy() - dispose of every value and free the map
 * @map: the map (NULL or an error pointer is ignored)
 *
 * Nobody may use the map any more, or hold any of its keys.
 *
 * Context: Process context.
 */
void lockmap_destroy(struct lockmap *map)
{
	if (IS_ERR_OR_NULL(map))
		return;
	if (lockmap_is_lru(map))
		lockmap_lru_exit(map);
	lockmap_free(map, map->shard_mask + 1);
}
EXPORT_SYMBOL_GPL(lockmap_destroy);

/* Byte blobs */

/**
 * lockmap_blob_new() - allocate a byte-string value
 * @data: the bytes to copy (may be NULL when @len is 0)
 * @len: their number
 * @gfp: allocation flags
 *
 * Return: the blob, or NULL when out of memory.
 */
struct lockmap_blob *lockmap_blob_new(const void *data, size_t len, gfp_t gfp)
{
	struct lockmap_blob *blob;

	blob = kmalloc(struct_size(blob, data, len), gfp);
	if (!blob)
		return NULL;
	blob->len = len;
	if (len)
		memcpy(blob->data, data, len);
	return blob;
}
EXPORT_SYMBOL_GPL(lockmap_blob_new);

/**
 * lockmap_blob_free() - a &lockmap_free_t for blobs
 * @blob: a blob from lockmap_blob_new()
 * @priv: unused
 */
void lockmap_blob_free(void *blob, void *priv)
{
	kfree(blob);
}
EXPORT_SYMBOL_GPL(lockmap_blob_free);

/**
 * lockmap_blob_copy() - a &lockmap_copy_t for blobs
 * @blob: the blob value
 * @buf: a &struct lockmap_buf to copy into
 *
 * Copies at most @buf->size bytes and sets @buf->len to the blob's length.
 *
 * Return: 0.
 */
int lockmap_blob_copy(const void *blob, void *buf)
{
	const struct lockmap_blob *b = blob;
	struct lockmap_buf *dst = buf;

	dst->len = b->len;
	memcpy(dst->data, b->data, min(b->len, dst->size));
	return 0;
}
EXPORT_SYMBOL_GPL(lockmap_blob_copy);
