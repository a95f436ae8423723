// SPDX-License-Identifier: GPL-2.0
/*
 * lockmap LRU policy: a map created with a capacity keeps each shard's valued
 * entries on a list, most recently used first, and evicts from the cold end.
 *
 * Eviction never waits.  It claims a victim by try-locking its key and
 * moving its reference count from 1 (the value's reference, which a holder
 * of the key borrows) to 0, which only succeeds when nobody holds or waits
 * for the key; anything else is stepped over, up to %LOCKMAP_LRU_MAX_SKIP
 * keys per shard and call for eviction on insertion and the shrinker.
 */
#include <linux/export.h>
#include <linux/list.h>
#include <linux/slab.h>

#include "lockmap_internal.h"

/* Called under the shard lock: the key just got a value. */
void lockmap_lru_add(struct lockmap *map, struct lockmap_shard *s,
		     struct lockmap_entry *e)
{
	list_add(lockmap_entry_lru(e), &s->lru);
}

/* Called under the shard lock: the key lost its value. */
void lockmap_lru_del(struct lockmap_entry *e)
{
	list_del_init(lockmap_entry_lru(e));
}

/*
 * Makes a valued key the most recently used of its shard.  The caller holds
 * the key, or only the RCU read lock (lockmap_read_rcu()): then the key may
 * have lost its value or been claimed by eviction meanwhile, which the shard
 * lock settles (off the list, or a count of zero).
 */
void lockmap_lru_touch(struct lockmap *map, struct lockmap_entry *e)
{
	struct lockmap_shard *s = lockmap_entry_shard(map, e);
	struct list_head *lru = lockmap_entry_lru(e);

	spin_lock(&s->lock);
	if (s->lru.next != lru && !list_empty(lru) &&
	    refcount_read(&e->users))
		list_move(lru, &s->lru);
	spin_unlock(&s->lock);
}

/*
 * Claims an entry nobody holds or waits for: moves its count from 1 (the
 * value's reference) to 0.  The lock only for the claim: once the count is
 * zero, a reader that try-locks the key finds it dead.  Its acquire orders
 * the last holder's writes before the claim.
 */
static bool lockmap_lru_try_claim(struct lockmap *map, struct lockmap_entry *e)
{
	bool claimed;

	if (!lockmap_trylock_free(map, e))
		return false;
	claimed = refcount_dec_if_one(&e->users);
	__lockmap_unlock(map, e);
	return claimed;
}

/*
 * Moves the held keys from @first to the cold end of @s's list to the warm
 * end, behind the most recent key (an insertion's own), in their order.
 */
static void lockmap_lru_rotate_held(struct lockmap_shard *s,
				    struct list_head *first)
{
	struct list_head *mru = s->lru.next;

	/* Unless they are the whole list, or already behind it. */
	if (mru != first && mru->next != first)
		list_bulk_move_tail(mru->next, first, s->lru.prev);
}

/*
 * Claims up to @nr cold, unused entries of @s (only while the shard is over
 * its share if @over_only), unlinks them and moves them to @victims.  Gives
 * up after stepping over @max_skip held keys, which then move to the warm
 * end (as list_lru rotates busy items), so that the next walk looks past
 * them: a walk with a bound stays short however many cold keys are held.
 */
static unsigned long lockmap_lru_claim(struct lockmap *map,
				       struct lockmap_shard *s,
				       unsigned long nr, bool over_only,
				       unsigned long max_skip,
				       struct list_head *victims)
{
	unsigned long claimed = 0, skipped = 0;
	struct list_head *pos, *prev;

	lockdep_assert_held(&s->lock);
	list_for_each_prev_safe(pos, prev, &s->lru) {
		struct lockmap_entry *e = lockmap_lru_entry(pos);

		if (claimed >= nr ||
		    (over_only &&
		     atomic_long_read(&s->len) <= READ_ONCE(s->capacity)))
			break;
		if (!lockmap_lru_try_claim(map, e)) {
			s->evict_skipped++;
			if (++skipped < max_skip)
				continue;
			/* Claims left the list: @pos to the cold end is held. */
			lockmap_lru_rotate_held(s, pos);
			break;
		}
		list_move(pos, victims);
		rhashtable_remove_fast(&s->ht, &e->node, lockmap_rht_params);
		atomic_long_dec(&s->slots);
		atomic_long_dec(&s->len);
		claimed++;
	}
	return claimed;
}

/* Disposes of claimed entries: tell the owner, free value and entry. */
static void lockmap_lru_release(struct lockmap *map, struct list_head *victims)
{
	struct list_head *pos, *next;

	list_for_each_safe(pos, next, victims) {
		struct lockmap_entry *e = lockmap_lru_entry(pos);
		size_t len;
		const void *key = lockmap_entry_key(map, e, &len);
		void *value = e->value;

		list_del(pos);
		lockmap_entry_clear_value(map, e);
		if (map->p.evict)
			map->p.evict(key, len, value, map->p.priv);
		lockmap_dispose(map, value);
		lockmap_entry_free(map, e);
	}
}

static unsigned long lockmap_lru_evict(struct lockmap *map,
				       struct lockmap_shard *s,
				       unsigned long nr, bool over_only,
				       unsigned long max_skip)
{
	unsigned long claimed;
	LIST_HEAD(victims);

	spin_lock(&s->lock);
	claimed = lockmap_lru_claim(map, s, nr, over_only, max_skip, &victims);
	s->evictions += claimed;
	spin_unlock(&s->lock);
	lockmap_lru_release(map, &victims);
	return claimed;
}

/* After an insertion: bring the shard back to its share, if it can. */
void lockmap_lru_evict_over(struct lockmap *map, struct lockmap_shard *s)
{
	if (atomic_long_read(&s->len) > READ_ONCE(s->capacity))
		lockmap_lru_evict(map, s, map->p.max_evict, true,
				  LOCKMAP_LRU_MAX_SKIP);
}

/*
 * Evicts up to @nr values, shards taken round robin, each pass asking each
 * shard for an equal share of what is left, so that one call does not empty
 * one shard and spare the cold keys of the others.
 */
static unsigned long lockmap_lru_shrink(struct lockmap *map, unsigned long nr,
					unsigned long max_skip)
{
	u32 n = map->shard_mask + 1, i, start;
	unsigned long freed = 0, before, share;
	struct lockmap_shard *s;

	start = atomic_inc_return(&map->pop_cursor);
	do {
		share = (nr - freed) / n ?: 1;
		before = freed;
		for (i = 0; i < n && freed < nr; i++) {
			s = &map->shards[(start + i) & map->shard_mask];
			freed += lockmap_lru_evict(map, s, min(share, nr - freed),
						   false, max_skip);
		}
	} while (freed != before && freed < nr);
	return freed;
}

/*
 * The map is at max_entries: one eviction, of @s if it can, for a new key.
 * Fails only when every key is held, so the walks here are not bounded.
 */
bool lockmap_lru_make_room(struct lockmap *map, struct lockmap_shard *s)
{
	return lockmap_lru_evict(map, s, 1, false, ULONG_MAX) ||
	       lockmap_lru_shrink(map, 1, ULONG_MAX);
}

/**
 * lockmap_shrink() - evict cold values from an LRU cache
 * @map: an LRU cache
 * @nr: at most this many
 *
 * Evicts least recently used values that nobody holds, never waiting: an
 * equal share from each shard's cold end (shards taken round robin), then
 * shares of what is left while that frees any.  Each time it asks a shard,
 * it steps over at most %LOCKMAP_LRU_MAX_SKIP held keys, which then move to
 * the warm end (behind the most recent key), so a call may evict fewer than
 * it could; the next looks further.
 * The shrinker's scan calls this.
 *
 * Context: Process context.
 * Return: the number evicted (0 for a plain map).
 */
unsigned long lockmap_shrink(struct lockmap *map, unsigned long nr)
{
	if (!lockmap_is_lru(map))
		return 0;
	return lockmap_lru_shrink(map, nr, LOCKMAP_LRU_MAX_SKIP);
}
EXPORT_SYMBOL_GPL(lockmap_shrink);

/**
 * lockmap_pop_lru() - remove a least recently used key and its value
 * @map: an LRU cache
 * @key_buf: receives the key; must hold the map's longest key
 * @key_len: in: the size of @key_buf; out: the key's length
 * @value: receives the value, now owned by the caller
 *
 * Each call starts at the next shard (round robin) and takes the coldest key
 * nobody holds; held keys are skipped, never waited for.  The eviction
 * callback is not called: the value is handed over, not evicted.
 *
 * Context: Process context.
 * Return: 0, -ENOENT if every shard is empty or held, -EINVAL for a plain
 * map or a short @key_buf.
 */
int lockmap_pop_lru(struct lockmap *map, void *key_buf, size_t *key_len,
		    void **value)
{
	u32 i, start;

	if (!lockmap_is_lru(map) || !key_buf || !key_len || !value ||
	    *key_len < map->max_key_len)
		return -EINVAL;
	start = atomic_inc_return(&map->pop_cursor);
	for (i = 0; i <= map->shard_mask; i++) {
		struct lockmap_shard *s;
		struct lockmap_entry *e;
		const void *key;
		LIST_HEAD(victims);

		s = &map->shards[(start + i) & map->shard_mask];
		spin_lock(&s->lock);
		lockmap_lru_claim(map, s, 1, false, ULONG_MAX, &victims);
		spin_unlock(&s->lock);
		if (list_empty(&victims))
			continue;
		e = lockmap_lru_entry(victims.next);
		key = lockmap_entry_key(map, e, key_len);
		memcpy(key_buf, key, *key_len);
		*value = e->value;
		lockmap_entry_clear_value(map, e);
		lockmap_entry_free(map, e);
		return 0;
	}
	return -ENOENT;
}
EXPORT_SYMBOL_GPL(lockmap_pop_lru);

static void lockmap_lru_set_shares(struct lockmap *map, size_t capacity)
{
	u32 n = map->shard_mask + 1;
	/* Rounded up, without DIV_ROUND_UP()'s overflow near SIZE_MAX. */
	size_t share = capacity / n + !!(capacity % n);
	u32 i;

	WRITE_ONCE(map->p.capacity, capacity);
	for (i = 0; i <= map->shard_mask; i++)
		WRITE_ONCE(map->shards[i].capacity, share);
}

/**
 * lockmap_set_capacity() - change an LRU cache's capacity
 * @map: an LRU cache
 * @capacity: the new capacity, not 0
 *
 * Shrinking takes effect lazily: each later insertion of a new value into an
 * over-full shard evicts at most &lockmap_params.max_evict values, so a
 * shard converges to its new share only with max_evict >= 2 (with 1, a
 * stream of new keys keeps it at its size; removals and lockmap_shrink()
 * still bring it down).
 *
 * Context: Any context.
 * Return: 0, or -EINVAL for a plain map or a zero capacity.
 */
int lockmap_set_capacity(struct lockmap *map, size_t capacity)
{
	if (!lockmap_is_lru(map) || !capacity)
		return -EINVAL;
	lockmap_lru_set_shares(map, capacity);
	return 0;
}
EXPORT_SYMBOL_GPL(lockmap_set_capacity);

/* The shrinker: count what could be evicted, evict on request. */

static struct lockmap *lockmap_from_shrinker(struct shrinker *sh)
{
#ifdef LOCKMAP_HAVE_SHRINKER_ALLOC
	return sh->private_data;
#else
	return container_of(sh, struct lockmap, shrinker);
#endif
}

static unsigned long lockmap_shrinker_count(struct shrinker *sh,
					    struct shrink_control *sc)
{
	return lockmap_len(lockmap_from_shrinker(sh)) ?: SHRINK_EMPTY;
}

static unsigned long lockmap_shrinker_scan(struct shrinker *sh,
					   struct shrink_control *sc)
{
	return lockmap_shrink(lockmap_from_shrinker(sh), sc->nr_to_scan) ?:
	       SHRINK_STOP;
}

int lockmap_lru_init(struct lockmap *map)
{
	lockmap_lru_set_shares(map, map->p.capacity);
	if (!map->p.shrinker)
		return 0;
#ifdef LOCKMAP_HAVE_SHRINKER_ALLOC
	map->shrinker = shrinker_alloc(0, "lockmap-%s", map->p.name);
	if (!map->shrinker)
		return -ENOMEM;
	map->shrinker->count_objects = lockmap_shrinker_count;
	map->shrinker->scan_objects = lockmap_shrinker_scan;
	map->shrinker->private_data = map;
	shrinker_register(map->shrinker);
	return 0;
#else
	map->shrinker.count_objects = lockmap_shrinker_count;
	map->shrinker.scan_objects = lockmap_shrinker_scan;
	map->shrinker.seeks = DEFAULT_SEEKS;
	if (register_shrinker(&map->shrinker, "lockmap-%s", map->p.name))
		return -ENOMEM;
	map->shrinker_registered = true;
	return 0;
#endif
}

void lockmap_lru_exit(struct lockmap *map)
{
#ifdef LOCKMAP_HAVE_SHRINKER_ALLOC
	shrinker_free(map->shrinker);
#else
	if (map->shrinker_registered)
		unregister_shrinker(&map->shrinker);
#endif
}
