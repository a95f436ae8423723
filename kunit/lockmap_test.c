// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite for the lockmap core map: creation, the key/value calls, the
 * entry API, per-key serialisation, signals, batches, walks, variable-length
 * keys, allocation failure and limits.  Every case runs once per lock kind.
 *
 * Rules these cases keep so that the run stays free of splats: the test task
 * never sleeps on two keys of one map at once (only try-locks or a batch),
 * never calls lockmap_batch_lock() while it holds a key, releases whatever a
 * kthread waits for before asserting, and joins every kthread it starts.
 */
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/jiffies.h>
#include <linux/log2.h>
#include <linux/prandom.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>

#include <trace/events/kmem.h>

#include "lockmap_kunit.h"

/* Returned by lm_getv() when the key has no value. */
#define LM_NONE		U64_MAX

static struct lm_ctx *lm_ctx_new(struct kunit *test)
{
	struct lm_ctx *ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, ctx);
	return ctx;
}

/* A map with 8-byte keys, counted values and @nr_shards shards (0: default). */
static struct lockmap *lm_map(struct kunit *test, struct lm_ctx *ctx,
			      u32 nr_shards)
{
	struct lockmap_params p = {
		.key_len = sizeof(u64),
		.nr_shards = nr_shards,
		.free_value = lm_val_free,
	};

	return lm_create(test, ctx, &p);
}

/* Inserts a counted value @v under @key; the map owns it. */
static int lm_put(struct kunit *test, struct lm_ctx *ctx, u64 key, u64 v)
{
	struct lm_val *val = lm_val_new(test, ctx, v);
	int err;

	err = lockmap_insert(ctx->map, LM_KEY(key), LM_KLEN, val, NULL);
	if (err)
		lm_val_free(val, ctx);
	return err;
}

/* The value of @key, or LM_NONE. */
static u64 lm_getv(struct lockmap *map, u64 key)
{
	u64 v;

	if (lockmap_get(map, LM_KEY(key), LM_KLEN, lm_val_copy, &v))
		return LM_NONE;
	return v;
}

static size_t lm_slots(struct lockmap *map)
{
	struct lockmap_stats st;

	lockmap_get_stats(map, &st);
	return st.slots;
}

static u32 lm_key_hash(struct lockmap *map, u64 key)
{
	struct lockmap_lookup l;

	return lockmap_prepare(map, &key, sizeof(key), &l) ?: l.hash;
}

static struct lockmap_shard *lm_key_shard(struct lockmap *map, u64 key)
{
	return lockmap_shard_of(map, lm_key_hash(map, key));
}

/*
 * Keys 1, 2 and a third whose middle one sorts last in a batch (by hash:
 * lockmap_sort_unique()), so that a batch that finds it held has already
 * locked the other two: what it gives back can then be tested.
 */
static void lm_keys_held_last(struct kunit *test, struct lockmap *map,
			      u64 k[3])
{
	u32 lo;

	k[0] = 1;
	k[2] = 2;
	lo = max(lm_key_hash(map, k[0]), lm_key_hash(map, k[2]));
	for (k[1] = 3; k[1] < 1000; k[1]++)
		if (lm_key_hash(map, k[1]) > lo)
			return;
	KUNIT_FAIL(test, "no key sorts after keys 1 and 2");
}

/*
 * The first key from @from on that is (@same) or is not in @key's shard
 * (white box); fails @test if none of the next 64 Ki keys is.
 */
static u64 lm_key_near(struct kunit *test, struct lockmap *map, u64 key,
		       u64 from, bool same)
{
	struct lockmap_shard *s = lm_key_shard(map, key);
	u64 k;

	for (k = from; k < from + 64 * 1024; k++)
		if (k != key && (lm_key_shard(map, k) == s) == same)
			return k;
	KUNIT_ASSERT_TRUE_MSG(test, false, "no key %s key %llu's shard",
			      same ? "in" : "outside", key);
	return 0;
}

static void lm_destroy_fn(void *map)
{
	lockmap_destroy(map);
}

/* What a kthread does, and what it saw. */
struct lm_op {
	struct lm_ctx *ctx;
	u64 key;
	u64 out;		/* value read */
	u64 set;		/* lm_th_hold: value to store at unlock */
	struct lm_val *val;	/* lm_th_insert: the value to insert */
	enum lockmap_wait wait;
	const struct lockmap_key *keys;
	unsigned int nr_keys;
	unsigned int visits;
	u64 sum;
	bool locked;
	unsigned int busy;	/* lm_th_incr: keys found held */
	struct completion *start;	/* lm_th_incr: the start gate */
	struct completion held;
	struct completion release;
};

static void lm_op_init(struct lm_op *op, struct lm_ctx *ctx, u64 key)
{
	memset(op, 0, sizeof(*op));
	op->ctx = ctx;
	op->key = key;
	init_completion(&op->held);
	init_completion(&op->release);
}

static int lm_th_get(struct lm_thread *t)
{
	struct lm_op *op = t->arg;

	return lockmap_get(op->ctx->map, LM_KEY(op->key), LM_KLEN, lm_val_copy,
			   &op->out);
}

static int lm_th_contains(struct lm_thread *t)
{
	struct lm_op *op = t->arg;

	return lockmap_contains(op->ctx->map, LM_KEY(op->key), LM_KLEN);
}

static int lm_th_insert(struct lm_thread *t)
{
	struct lm_op *op = t->arg;
	int err;

	err = lockmap_insert(op->ctx->map, LM_KEY(op->key), LM_KLEN, op->val,
			     NULL);
	if (err)
		lm_val_free(op->val, op->ctx);
	return err;
}

static int lm_th_remove(struct lm_thread *t)
{
	struct lm_op *op = t->arg;

	return lockmap_remove(op->ctx->map, LM_KEY(op->key), LM_KLEN, NULL);
}

/* Locks a key as op->wait says (through the inline wrappers), unlocks it. */
static int lm_th_lock(struct lm_thread *t)
{
	struct lm_op *op = t->arg;
	struct lockmap *map = op->ctx->map;
	struct lockmap_entry *e;

	switch (op->wait) {
	case LOCKMAP_WAIT_INTERRUPTIBLE:
		e = lockmap_entry_interruptible(map, LM_KEY(op->key), LM_KLEN);
		break;
	case LOCKMAP_WAIT_KILLABLE:
		e = lockmap_entry_killable(map, LM_KEY(op->key), LM_KLEN);
		break;
	case LOCKMAP_NOWAIT:
		e = lockmap_try_entry(map, LM_KEY(op->key), LM_KLEN);
		break;
	default:
		e = lockmap_entry(map, LM_KEY(op->key), LM_KLEN);
		break;
	}
	if (IS_ERR(e))
		return PTR_ERR(e);
	lockmap_entry_unlock(op->ctx->map, e);
	return 0;
}

static int lm_th_try(struct lm_thread *t)
{
	struct lm_op *op = t->arg;

	op->wait = LOCKMAP_NOWAIT;
	return lm_th_lock(t);
}

/*
 * Locks a key and holds it until op->release; then, if the key has a value
 * and op->set is not 0, stores op->set in it before unlocking.
 */
static int lm_th_hold(struct lm_thread *t)
{
	struct lm_op *op = t->arg;
	struct lockmap_entry *e;
	struct lm_val *v;

	e = lockmap_entry(op->ctx->map, LM_KEY(op->key), LM_KLEN);
	op->locked = !IS_ERR(e);
	complete(&op->held);
	if (IS_ERR(e))
		return PTR_ERR(e);
	wait_for_completion(&op->release);
	v = lockmap_entry_value(e);
	if (v && op->set)
		v->v = op->set;
	lockmap_entry_unlock(op->ctx->map, e);
	return 0;
}

/* Starts a kthread holding @op->key; true once it holds it. */
static bool lm_hold(struct kunit *test, struct lm_thread *t, struct lm_op *op)
{
	lm_thread_start(test, t, lm_th_hold, op);
	return wait_for_completion_timeout(&op->held, 10 * HZ) && op->locked;
}

static void lm_release(struct kunit *test, struct lm_thread *t,
		       struct lm_op *op)
{
	complete(&op->release);
	lm_join(test, t);
}

static int lm_th_batch(struct lm_thread *t)
{
	struct lm_op *op = t->arg;
	struct lockmap_batch *b;

	b = lockmap_batch_lock(op->ctx->map, op->keys, op->nr_keys, op->wait);
	if (IS_ERR(b))
		return PTR_ERR(b);
	op->out = lockmap_batch_count(b);
	lockmap_batch_unlock(op->ctx->map, b);
	return 0;
}

static int lm_visit_sum(const void *key, size_t key_len, void *value,
			void *arg)
{
	struct lm_op *op = arg;

	op->visits++;
	op->sum += ((struct lm_val *)value)->v;
	return 0;
}

static int lm_th_walk(struct lm_thread *t)
{
	struct lm_op *op = t->arg;

	return lockmap_for_each(op->ctx->map, lm_visit_sum, op);
}

static int lm_th_clear(struct lm_thread *t)
{
	struct lm_op *op = t->arg;

	lockmap_clear(op->ctx->map);
	return 0;
}

#define LM_KEPT		BIT_ULL(40)

static bool lm_keep_even(const void *key, size_t key_len, void *value,
			 void *arg)
{
	struct lm_val *v = value;

	(*(unsigned int *)arg)++;
	if (v->v & 1)
		return false;
	/*
	 * The predicate may change what it keeps, idempotently: a resize
	 * during the walk may show a key twice.
	 */
	v->v |= LM_KEPT;
	return true;
}

/* Retains the even values; op->visits counts the predicate's calls. */
static int lm_th_retain(struct lm_thread *t)
{
	struct lm_op *op = t->arg;

	lockmap_retain(op->ctx->map, lm_keep_even, &op->visits);
	return 0;
}

/* Creation and destruction */

static void lm_test_create_default(struct kunit *test)
{
	struct lockmap_params p = { .lock_kind = lm_lock_kind(test) };
	u32 shards = min_t(u32, roundup_pow_of_two(4 * num_possible_cpus()),
			   1024);
	static u64 value = 42;
	struct lockmap_stats st;
	struct lockmap *map;
	char *key;
	u64 v = 0;

	key = kunit_kzalloc(test, LOCKMAP_MAX_KEY_LEN + 1, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, key);
	map = lockmap_create(&p);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, map);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, lm_destroy_fn,
							   map));

	lockmap_get_stats(map, &st);
	KUNIT_EXPECT_EQ(test, st.nr_shards, shards);
	KUNIT_EXPECT_EQ(test, st.len, 0);
	KUNIT_EXPECT_EQ(test, st.slots, 0);
	KUNIT_EXPECT_EQ(test, st.capacity, 0);

	/* Variable-length keys up to LOCKMAP_MAX_KEY_LEN; no destructor. */
	memset(key, 'k', LOCKMAP_MAX_KEY_LEN + 1);
	KUNIT_EXPECT_EQ(test, lockmap_insert(map, key, LOCKMAP_MAX_KEY_LEN,
					     &value, NULL), 0);
	KUNIT_EXPECT_EQ(test, lockmap_insert(map, key, LOCKMAP_MAX_KEY_LEN + 1,
					     &value, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, lockmap_insert(map, key, 1, &value, NULL), 0);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 2);
	KUNIT_EXPECT_EQ(test, lockmap_get(map, key, LOCKMAP_MAX_KEY_LEN,
					  lm_val_copy, &v), 0);
	KUNIT_EXPECT_EQ(test, v, 42);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, key, 2), 0);
	/* free_value NULL: the map drops values without touching them. */
	lockmap_clear(map);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 0);
	KUNIT_EXPECT_EQ(test, value, 42);
}

static void lm_expect_einval(struct kunit *test, const char *what,
			     const struct lockmap_params *p)
{
	struct lockmap *map = lockmap_create(p);

	KUNIT_EXPECT_EQ_MSG(test, PTR_ERR_OR_ZERO(map), -EINVAL, "%s", what);
	if (!IS_ERR(map))
		lockmap_destroy(map);
}

static void lm_test_create_invalid(struct kunit *test)
{
	enum lockmap_lock_kind kind = lm_lock_kind(test);
	struct lockmap_params p;
	struct lockmap *map;

	p = (struct lockmap_params){ .lock_kind = kind,
				     .key_len = LOCKMAP_MAX_KEY_LEN + 1 };
	lm_expect_einval(test, "key_len too long", &p);
	p = (struct lockmap_params){ .lock_kind = kind,
				     .max_key_len = LOCKMAP_MAX_KEY_LEN + 1 };
	lm_expect_einval(test, "max_key_len too long", &p);
	p = (struct lockmap_params){ .lock_kind = kind, .key_len = 8,
				     .max_key_len = 8 };
	lm_expect_einval(test, "key_len and max_key_len", &p);
	p = (struct lockmap_params){ .lock_kind = kind, .nr_shards = 3 };
	lm_expect_einval(test, "nr_shards 3", &p);
	p = (struct lockmap_params){ .lock_kind = kind, .nr_shards = 2048 };
	lm_expect_einval(test, "nr_shards 2048", &p);
	p = (struct lockmap_params){ .lock_kind = kind, .nr_shards = 1025 };
	lm_expect_einval(test, "nr_shards 1025", &p);
	p = (struct lockmap_params){ .lock_kind = LOCKMAP_LOCK_RT_MUTEX + 1 };
	lm_expect_einval(test, "lock_kind", &p);
	p = (struct lockmap_params){ .lock_kind = kind, .evict = lm_val_evict };
	lm_expect_einval(test, "evict without capacity", &p);
	p = (struct lockmap_params){ .lock_kind = kind, .shrinker = true };
	lm_expect_einval(test, "shrinker without capacity", &p);
	p = (struct lockmap_params){ .lock_kind = kind, .max_evict = 4 };
	lm_expect_einval(test, "max_evict without capacity", &p);
	lm_expect_einval(test, "NULL params", NULL);

	/* The limits themselves are fine. */
	p = (struct lockmap_params){ .lock_kind = kind,
				     .key_len = LOCKMAP_MAX_KEY_LEN };
	map = lockmap_create(&p);
	KUNIT_EXPECT_FALSE(test, IS_ERR_OR_NULL(map));
	lockmap_destroy(map);
	p = (struct lockmap_params){ .lock_kind = kind,
				     .max_key_len = LOCKMAP_MAX_KEY_LEN };
	map = lockmap_create(&p);
	KUNIT_EXPECT_FALSE(test, IS_ERR_OR_NULL(map));
	lockmap_destroy(map);

	/* Destroying nothing or an error is a no-op. */
	lockmap_destroy(NULL);
	lockmap_destroy(ERR_PTR(-EINVAL));
	lockmap_destroy(ERR_PTR(-ENOMEM));
}

static void lm_test_create_nr_shards(struct kunit *test)
{
	static const u32 counts[] = { 1, 2, 16, 1024 };
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap_params p = {
		.key_len = sizeof(u64),
		.free_value = lm_val_free,
		.priv = ctx,
		.lock_kind = lm_lock_kind(test),
	};
	struct lockmap_stats st;
	unsigned int i;
	u64 k;

	for (i = 0; i < ARRAY_SIZE(counts); i++) {
		p.nr_shards = counts[i];
		ctx->map = lockmap_create(&p);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ctx->map);
		KUNIT_ASSERT_EQ(test, 0,
				kunit_add_action_or_reset(test, lm_destroy_fn,
							  ctx->map));
		for (k = 0; k < 64; k++)
			KUNIT_EXPECT_EQ(test, lm_put(test, ctx, k, k), 0);
		lockmap_get_stats(ctx->map, &st);
		KUNIT_EXPECT_EQ(test, st.nr_shards, counts[i]);
		KUNIT_EXPECT_EQ(test, st.len, 64);
		KUNIT_EXPECT_EQ(test, st.slots, 64);
		for (k = 0; k < 64; k++)
			KUNIT_EXPECT_EQ(test, lm_getv(ctx->map, k), k);
		kunit_release_action(test, lm_destroy_fn, ctx->map);
	}
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 4 * 64);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live), 0);
}

/* Key/value calls */

/*
 * Hashing is seeded per map: two maps made alike hash the same keys
 * differently, for 8-byte keys (their own hash call) and others alike, and
 * the entries a map stores carry its own hash (white box).  16 keys whose
 * 32-bit hashes collide by chance in both maps: about 2^-60 for two.
 */
#define LM_SEED_KEYS	16

static void lm_test_hash_seeded(struct kunit *test)
{
	struct lm_ctx *ca = lm_ctx_new(test), *cb = lm_ctx_new(test);
	struct lm_ctx *cc = lm_ctx_new(test), *cd = lm_ctx_new(test);
	struct lockmap_params vp = {
		.max_key_len = 16,
		.free_value = lm_val_free,
	};
	struct lockmap *a = lm_map(test, ca, 0), *b = lm_map(test, cb, 0);
	struct lockmap *c = lm_create(test, cc, &vp);
	struct lockmap *d = lm_create(test, cd, &vp);
	unsigned int same = 0, same_var = 0;
	struct lockmap_lookup lc, ld;
	struct lockmap_entry *e;
	char key[24];
	u32 hash;
	u64 k;

	for (k = 0; k < LM_SEED_KEYS; k++) {
		same += lm_key_hash(a, k) == lm_key_hash(b, k);
		snprintf(key, sizeof(key), "key%02llu", k);
		KUNIT_ASSERT_EQ(test, lockmap_prepare(c, key, 5, &lc), 0);
		KUNIT_ASSERT_EQ(test, lockmap_prepare(d, key, 5, &ld), 0);
		same_var += lc.hash == ld.hash;
	}
	KUNIT_EXPECT_LE(test, same, 1);
	KUNIT_EXPECT_LE(test, same_var, 1);
	KUNIT_EXPECT_TRUE(test, a->seed.key[0] || a->seed.key[1]);
	KUNIT_EXPECT_TRUE(test, c->seed.key[0] || c->seed.key[1]);

	/* What the maps store and look up by is that hash. */
	e = lockmap_entry(a, LM_KEY(3), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	hash = e->hash;
	lockmap_entry_unlock(a, e);
	KUNIT_EXPECT_EQ(test, hash, lm_key_hash(a, 3));
	e = lockmap_entry(d, "key03", 5);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	hash = e->hash;
	lockmap_entry_unlock(d, e);
	KUNIT_ASSERT_EQ(test, lockmap_prepare(d, "key03", 5, &ld), 0);
	KUNIT_EXPECT_EQ(test, hash, ld.hash);
}

static void lm_test_insert_get_basic(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	u64 v = 0;
	u64 k;

	KUNIT_EXPECT_EQ(test, lockmap_len(map), 0);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(1), LM_KLEN), 0);
	KUNIT_EXPECT_EQ(test, lockmap_get(map, LM_KEY(1), LM_KLEN, lm_val_copy,
					  &v), -ENOENT);
	KUNIT_EXPECT_EQ(test, lockmap_remove(map, LM_KEY(1), LM_KLEN, NULL),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, lockmap_insert(map, LM_KEY(1), LM_KLEN, NULL,
					     NULL), -EINVAL);

	for (k = 1; k <= 10; k++)
		KUNIT_EXPECT_EQ(test, lm_put(test, ctx, k, 100 + k), 0);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 10);
	for (k = 1; k <= 10; k++) {
		KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(k), LM_KLEN),
				1);
		KUNIT_EXPECT_EQ(test, lm_getv(map, k), 100 + k);
	}
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(11), LM_KLEN), 0);
	KUNIT_EXPECT_EQ(test, lockmap_get(map, LM_KEY(11), LM_KLEN, lm_val_copy,
					  &v), -ENOENT);
	/* No copy function: just presence. */
	KUNIT_EXPECT_EQ(test, lockmap_get(map, LM_KEY(3), LM_KLEN, NULL, NULL),
			0);
	KUNIT_EXPECT_EQ(test, lockmap_get(map, LM_KEY(12), LM_KLEN, NULL, NULL),
			-ENOENT);
	/* A read leaves the value in place. */
	KUNIT_EXPECT_EQ(test, lm_getv(map, 3), 103);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 10);
}

static void lm_test_insert_replace(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_val *v1 = lm_val_new(test, ctx, 1);
	struct lm_val *v2 = lm_val_new(test, ctx, 2);
	struct lm_val *v3 = lm_val_new(test, ctx, 3);
	void *old = ERR_PTR(-EFAULT);

	KUNIT_ASSERT_EQ(test, lockmap_insert(map, LM_KEY(7), LM_KLEN, v1, &old),
			0);
	KUNIT_EXPECT_NULL(test, old);

	/* Replacing with @old hands the previous value back. */
	KUNIT_ASSERT_EQ(test, lockmap_insert(map, LM_KEY(7), LM_KLEN, v2, &old),
			0);
	KUNIT_EXPECT_PTR_EQ(test, old, (void *)v1);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 7), 2);
	if (old == v1)
		lm_val_free(old, ctx);

	/* Without @old the previous value is disposed of, once. */
	KUNIT_ASSERT_EQ(test, lockmap_insert(map, LM_KEY(7), LM_KLEN, v3, NULL),
			0);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 2);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 7), 3);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 1);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live), 1);
}

static void lm_test_remove(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_val *v1 = lm_val_new(test, ctx, 1);
	void *old = NULL;

	KUNIT_ASSERT_EQ(test, lockmap_insert(map, LM_KEY(1), LM_KLEN, v1, NULL),
			0);
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 2, 2), 0);
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 3, 3), 0);

	/* With @old: handed back, not disposed of. */
	KUNIT_EXPECT_EQ(test, lockmap_remove(map, LM_KEY(1), LM_KLEN, &old), 0);
	KUNIT_EXPECT_PTR_EQ(test, old, (void *)v1);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(1), LM_KLEN), 0);
	if (old == v1)
		lm_val_free(old, ctx);

	/* Without: disposed of once. */
	KUNIT_EXPECT_EQ(test, lockmap_remove(map, LM_KEY(2), LM_KLEN, NULL), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 2);
	KUNIT_EXPECT_EQ(test, lockmap_remove(map, LM_KEY(2), LM_KLEN, NULL),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, lockmap_remove(map, LM_KEY(2), LM_KLEN, &old),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 2);

	KUNIT_EXPECT_EQ(test, lockmap_len(map), 1);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 1);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 3), 3);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 1), 0);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 3), 1);
}

static int lm_copy_fail(const void *value, void *arg)
{
	(*(int *)arg)++;
	return -EIO;
}

static void lm_test_get_copy_error(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	int calls = 0;

	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 5, 55), 0);
	KUNIT_EXPECT_EQ(test, lockmap_get(map, LM_KEY(5), LM_KLEN, lm_copy_fail,
					  &calls), -EIO);
	KUNIT_EXPECT_EQ(test, calls, 1);
	/* An absent key never calls the copy function. */
	KUNIT_EXPECT_EQ(test, lockmap_get(map, LM_KEY(6), LM_KLEN, lm_copy_fail,
					  &calls), -ENOENT);
	KUNIT_EXPECT_EQ(test, calls, 1);
	/* The failed copy changed nothing. */
	KUNIT_EXPECT_EQ(test, lm_getv(map, 5), 55);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);
}

/* What a copy callback saw of key 1 while it ran. */
struct lm_seen {
	struct lockmap *map;
	u64 v;
	bool locked;
	unsigned int users;
};

static int lm_copy_seen(const void *value, void *arg)
{
	struct lm_seen *seen = arg;

	seen->v = ((const struct lm_val *)value)->v;
	seen->locked = lm_key_locked(seen->map, 1);
	seen->users = lm_key_users(seen->map, 1);
	return 0;
}

/* rcu_get reads a key nobody holds without its lock or a reference. */
static void lm_test_get_lockless(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	bool rcu_get = lm_rcu_get(test);
	struct lm_seen got = { .map = map }, peeked = { .map = map };

	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 5), 0);
	KUNIT_EXPECT_EQ(test, lockmap_get(map, LM_KEY(1), LM_KLEN, lm_copy_seen,
					  &got), 0);
	KUNIT_EXPECT_EQ(test, lockmap_peek(map, LM_KEY(1), LM_KLEN,
					   lm_copy_seen, &peeked), 0);
	KUNIT_EXPECT_EQ(test, got.v, 5);
	KUNIT_EXPECT_EQ(test, peeked.v, 5);
	KUNIT_EXPECT_EQ(test, got.locked, !rcu_get);
	KUNIT_EXPECT_EQ(test, peeked.locked, !rcu_get);
	/* the value's reference only: no reader takes one of its own */
	KUNIT_EXPECT_EQ(test, got.users, 1);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(1), LM_KLEN), 1);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(2), LM_KLEN), 0);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 1), 1);
	KUNIT_EXPECT_FALSE(test, lm_key_locked(map, 1));
}

/* A copy that, run under the key's lock, stops there until the test says. */
struct lm_gate {
	struct lockmap *map;
	struct completion inside;
	struct completion go;
	u64 v;
};

static int lm_copy_gated(const void *value, void *arg)
{
	struct lm_gate *g = arg;

	g->v = ((const struct lm_val *)value)->v;
	if (lm_key_locked(g->map, 1)) {
		complete(&g->inside);
		wait_for_completion(&g->go);
	}
	return 0;
}

static int lm_th_get_gated(struct lm_thread *t)
{
	return lockmap_get(((struct lm_gate *)t->arg)->map, LM_KEY(1), LM_KLEN,
			   lm_copy_gated, t->arg);
}

/*
 * A reader that had to wait for a holder reads under the key's lock; it
 * changes nothing, so in an rcu_get map it must not push the key's other
 * readers onto the lock too (a convoy).  Without rcu_get they queue.
 */
static void lm_test_get_beside_locked_reader(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_gate g = { .map = lm_map(test, ctx, 0) };
	struct lm_thread slow = {}, fast = {};
	struct lm_op op;
	struct lockmap_entry *e;
	bool blocked, inside, fast_done;
	int i;

	init_completion(&g.inside);
	init_completion(&g.go);
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 7), 0);
	e = lockmap_entry(g.map, LM_KEY(1), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	lm_thread_start(test, &slow, lm_th_get_gated, &g);
	blocked = lm_thread_wait_blocked(&slow);
	lockmap_entry_unlock(g.map, e);
	inside = wait_for_completion_timeout(&g.inside, 5 * HZ);

	lm_op_init(&op, ctx, 1);
	lm_thread_start(test, &fast, lm_th_get, &op);
	/* Polled: waiting would consume the completion lm_join() waits for. */
	for (i = 0; i < 50 && !completion_done(&fast.done); i++)
		msleep(20);
	fast_done = completion_done(&fast.done);
	complete(&g.go);
	lm_join(test, &slow);
	lm_join(test, &fast);

	KUNIT_EXPECT_TRUE(test, blocked);
	KUNIT_EXPECT_TRUE(test, inside);
	KUNIT_EXPECT_EQ(test, fast_done, lm_rcu_get(test));
	KUNIT_EXPECT_EQ(test, slow.ret, 0);
	KUNIT_EXPECT_EQ(test, g.v, 7);
	KUNIT_EXPECT_EQ(test, fast.ret, 0);
	KUNIT_EXPECT_EQ(test, op.out, 7);
}

/*
 * A holder that makes the value odd while it holds the key and even again
 * before it lets go: readers must only ever see even values, whether they
 * wait for the lock or read locklessly (rcu_get) beside the holder.
 */
#define LM_CHURN_HOLDS	2000

static int lm_th_churn_hold(struct lm_thread *t)
{
	struct lm_churn *c = t->arg;
	int i, ret = 0;

	for (i = 0; i < LM_CHURN_HOLDS; i++) {
		struct lockmap_entry *e;
		struct lm_val *v;

		e = lockmap_entry(c->map, LM_KEY(1), LM_KLEN);
		if (IS_ERR(e)) {
			ret = PTR_ERR(e);
			break;
		}
		v = lockmap_entry_value(e);
		WRITE_ONCE(v->v, v->v + 1);
		usleep_range(20, 40);
		WRITE_ONCE(v->v, v->v + 1);
		lockmap_entry_unlock(c->map, e);
		udelay(5);
	}
	WRITE_ONCE(c->stop, true);
	return ret;
}

static void lm_test_get_no_work_in_progress(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_churn c = {
		.map = lm_map(test, ctx, 0),
		.final = 2 * LM_CHURN_HOLDS,
	};
	struct lm_thread holder = {}, reader = {};

	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 0), 0);
	lm_thread_start(test, &reader, lm_th_churn_read, &c);
	lm_thread_start(test, &holder, lm_th_churn_hold, &c);
	lm_join(test, &holder);
	lm_join(test, &reader);

	KUNIT_EXPECT_EQ(test, holder.ret, 0);
	KUNIT_EXPECT_EQ(test, reader.ret, 0);
	KUNIT_EXPECT_GT(test, c.reads, 0);
	KUNIT_EXPECT_GT(test, c.mid, 0);	/* the reads met the holder */
	KUNIT_EXPECT_EQ(test, c.absent, 0);
	KUNIT_EXPECT_EQ(test, c.torn, 0);
	KUNIT_EXPECT_EQ(test, lm_getv(c.map, 1), 2 * LM_CHURN_HOLDS);
}

/* Entry API */

static void lm_test_entry_absent_then_set(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_val *v = lm_val_new(test, ctx, 42);
	const u64 key = 9;
	struct lockmap_entry *e;
	const void *kp;
	size_t len = 0;

	e = lockmap_entry_lock(map, &key, sizeof(key), LOCKMAP_WAIT);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	KUNIT_EXPECT_NULL(test, lockmap_entry_value(e));
	kp = lockmap_entry_key(map, e, &len);
	KUNIT_EXPECT_EQ(test, len, sizeof(u64));
	KUNIT_EXPECT_EQ(test, memcmp(kp, &key, sizeof(key)), 0);
	KUNIT_EXPECT_PTR_EQ(test, lockmap_entry_key(map, e, NULL), kp);
	/* Held but empty: a slot, not a value. */
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 0);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 1);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 9), 1);

	lockmap_entry_set(map, e, v);
	KUNIT_EXPECT_PTR_EQ(test, lockmap_entry_value(e), (void *)v);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 1);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 9), 1);
	lockmap_entry_unlock(map, e);

	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(9), LM_KLEN), 1);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 9), 42);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 9), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);

	/* The inline wrapper locks the same key, now with its value. */
	e = lockmap_entry(map, LM_KEY(9), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	KUNIT_EXPECT_PTR_EQ(test, lockmap_entry_value(e), (void *)v);
	lockmap_entry_unlock(map, e);
}

static void lm_test_entry_swap_set(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_val *v1 = lm_val_new(test, ctx, 1);
	struct lm_val *v2 = lm_val_new(test, ctx, 2);
	struct lm_val *v3 = lm_val_new(test, ctx, 3);
	struct lockmap_entry *e;
	void *old;

	KUNIT_ASSERT_EQ(test, lockmap_insert(map, LM_KEY(4), LM_KLEN, v1, NULL),
			0);
	e = lockmap_entry(map, LM_KEY(4), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);

	old = lockmap_entry_swap(map, e, v2);
	KUNIT_EXPECT_PTR_EQ(test, old, (void *)v1);
	KUNIT_EXPECT_PTR_EQ(test, lockmap_entry_value(e), (void *)v2);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);

	lockmap_entry_set(map, e, v3);	/* disposes of v2 */
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 1);
	KUNIT_EXPECT_PTR_EQ(test, lockmap_entry_value(e), (void *)v3);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 1);
	lockmap_entry_unlock(map, e);
	if (old == v1)
		lm_val_free(old, ctx);

	KUNIT_EXPECT_EQ(test, lm_getv(map, 4), 3);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 2);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live), 1);

	/* Swapping in NULL takes the value out: the key goes at unlock. */
	e = lockmap_entry(map, LM_KEY(4), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	old = lockmap_entry_swap(map, e, NULL);
	KUNIT_EXPECT_PTR_EQ(test, old, (void *)v3);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 0);
	lockmap_entry_unlock(map, e);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 2);
	if (old == v3)
		lm_val_free(old, ctx);
}

/* Setting the value a key already has (changed in place) frees nothing. */
static void lm_test_entry_set_same_value(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_val *v = lm_val_new(test, ctx, 1);
	struct lockmap_entry *e;

	KUNIT_ASSERT_EQ(test, lockmap_insert(map, LM_KEY(4), LM_KLEN, v, NULL),
			0);
	e = lockmap_entry(map, LM_KEY(4), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	v->v = 2;
	KUNIT_EXPECT_PTR_EQ(test, lockmap_entry_swap(map, e, v), NULL);
	lockmap_entry_set(map, e, v);
	KUNIT_EXPECT_PTR_EQ(test, lockmap_entry_value(e), (void *)v);
	lockmap_entry_unlock(map, e);
	KUNIT_EXPECT_EQ(test, lockmap_insert(map, LM_KEY(4), LM_KLEN, v, NULL),
			0);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 1);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 4), 2);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live), 1);
}

static void lm_test_entry_set_if_absent(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_val *v1 = lm_val_new(test, ctx, 1);
	struct lm_val *v2 = lm_val_new(test, ctx, 2);
	struct lockmap_entry *e;
	int ret;

	e = lockmap_entry(map, LM_KEY(5), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	KUNIT_EXPECT_EQ(test, lockmap_entry_set_if_absent(map, e, NULL),
			-EINVAL);
	KUNIT_EXPECT_NULL(test, lockmap_entry_value(e));
	KUNIT_EXPECT_EQ(test, lockmap_entry_set_if_absent(map, e, v1), 0);
	KUNIT_EXPECT_PTR_EQ(test, lockmap_entry_value(e), (void *)v1);
	ret = lockmap_entry_set_if_absent(map, e, v2);
	KUNIT_EXPECT_EQ(test, ret, -EEXIST);
	KUNIT_EXPECT_PTR_EQ(test, lockmap_entry_value(e), (void *)v1);
	lockmap_entry_unlock(map, e);

	/* v2 was not consumed, v1 not disposed of. */
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 5), 1);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 1);
	if (ret == -EEXIST)
		lm_val_free(v2, ctx);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live), 1);
}

static void lm_test_entry_remove(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_val *v = lm_val_new(test, ctx, 3);
	struct lockmap_entry *e;
	void *got;

	KUNIT_ASSERT_EQ(test, lockmap_insert(map, LM_KEY(3), LM_KLEN, v, NULL),
			0);
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 4, 4), 0);

	e = lockmap_entry(map, LM_KEY(3), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	got = lockmap_entry_remove(map, e);
	KUNIT_EXPECT_PTR_EQ(test, got, (void *)v);
	KUNIT_EXPECT_NULL(test, lockmap_entry_value(e));
	KUNIT_EXPECT_NULL(test, lockmap_entry_remove(map, e));
	/* Still held, so still a slot, but no longer a value. */
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 1);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 2);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 3), 1);
	lockmap_entry_unlock(map, e);

	KUNIT_EXPECT_EQ(test, lm_key_users(map, 3), 0);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 1);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(3), LM_KLEN), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);
	if (got == v)
		lm_val_free(got, ctx);

	/* set(NULL) removes and disposes of the value. */
	e = lockmap_entry(map, LM_KEY(4), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	lockmap_entry_set(map, e, NULL);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 2);
	KUNIT_EXPECT_NULL(test, lockmap_entry_value(e));
	lockmap_entry_unlock(map, e);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(4), LM_KLEN), 0);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 0);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live), 0);
}

/* Serialisation of one key */

static void lm_test_held_empty_invisible(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_thread tg = {}, tc = {};
	struct lm_op og, oc;
	struct lockmap_entry *e;
	bool blocked_g, blocked_c;
	unsigned int users_g, users_c;
	size_t len, slots;

	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 2, 2), 0);
	lm_op_init(&og, ctx, 1);
	lm_op_init(&oc, ctx, 1);
	e = lockmap_entry(map, LM_KEY(1), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);

	lm_thread_start(test, &tg, lm_th_get, &og);
	blocked_g = lm_thread_wait_blocked(&tg);
	users_g = lm_key_users(map, 1);
	lm_thread_start(test, &tc, lm_th_contains, &oc);
	blocked_c = lm_thread_wait_blocked(&tc);
	users_c = lm_key_users(map, 1);
	len = lockmap_len(map);
	slots = lm_slots(map);
	lockmap_entry_unlock(map, e);	/* still without a value */
	lm_join(test, &tg);
	lm_join(test, &tc);

	KUNIT_EXPECT_TRUE(test, blocked_g);
	KUNIT_EXPECT_TRUE(test, blocked_c);
	KUNIT_EXPECT_EQ(test, users_g, 2);	/* holder + reader */
	KUNIT_EXPECT_EQ(test, users_c, 3);	/* + second reader */
	KUNIT_EXPECT_EQ(test, len, 1);		/* only key 2 */
	KUNIT_EXPECT_EQ(test, slots, 2);
	KUNIT_EXPECT_EQ(test, tg.ret, -ENOENT);
	KUNIT_EXPECT_EQ(test, tc.ret, 0);
	/* Nobody holds it and it has no value: its slot is gone. */
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 1), 0);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 1);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 1);
}

/*
 * The other key is one in the held key's shard: holding a key must not hold
 * its shard (or the map) too.
 */
static void lm_test_held_blocks_same_key_only(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_val *x = lm_val_new(test, ctx, 1000);
	struct lm_thread t1 = {}, t2 = {};
	struct lm_op o1, o2;
	struct lockmap_entry *e;
	bool blocked, other_done, still_waiting;
	unsigned int users;
	u64 other;

	KUNIT_ASSERT_GT(test, map->shard_mask, 0);
	other = lm_key_near(test, map, 1, 2, true);
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 1), 0);
	lm_op_init(&o1, ctx, 1);
	lm_op_init(&o2, ctx, other);
	o2.val = lm_val_new(test, ctx, 2);
	e = lockmap_entry(map, LM_KEY(1), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);

	lm_thread_start(test, &t1, lm_th_get, &o1);
	blocked = lm_thread_wait_blocked(&t1);
	users = lm_key_users(map, 1);
	/* Another key of the same shard goes on while key 1 is held. */
	lm_thread_start(test, &t2, lm_th_insert, &o2);
	other_done = lm_thread_join(&t2);
	still_waiting = !completion_done(&t1.done);
	/* The reader must see what the holder leaves behind. */
	lockmap_entry_set(map, e, x);
	lockmap_entry_unlock(map, e);
	lm_join(test, &t1);
	if (!other_done)
		lm_join(test, &t2);

	KUNIT_EXPECT_TRUE(test, blocked);
	KUNIT_EXPECT_EQ(test, users, 2);	/* value (lent to holder) + reader */
	KUNIT_EXPECT_TRUE(test, other_done);
	KUNIT_EXPECT_EQ(test, t2.ret, 0);
	KUNIT_EXPECT_TRUE(test, still_waiting);
	KUNIT_EXPECT_EQ(test, t1.ret, 0);
	KUNIT_EXPECT_EQ(test, o1.out, 1000);
	KUNIT_EXPECT_EQ(test, lm_getv(map, other), 2);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 1);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 1), 1);
}

static void lm_test_held_serialises_insert_remove(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_val *mid = lm_val_new(test, ctx, 2);
	struct lm_val *last = lm_val_new(test, ctx, 7);
	struct lm_thread ti = {}, tr = {};
	struct lm_op oi, orm;
	struct lockmap_entry *e;
	bool blocked_i, blocked_r;
	unsigned int users_i, users_r;

	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 1), 0);
	lm_op_init(&oi, ctx, 1);
	lm_op_init(&orm, ctx, 1);
	oi.val = lm_val_new(test, ctx, 5);

	/* An insert waits for the holder: its value lands last. */
	e = lockmap_entry(map, LM_KEY(1), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	lm_thread_start(test, &ti, lm_th_insert, &oi);
	blocked_i = lm_thread_wait_blocked(&ti);
	users_i = lm_key_users(map, 1);
	lockmap_entry_set(map, e, mid);
	lockmap_entry_unlock(map, e);
	lm_join(test, &ti);

	KUNIT_EXPECT_TRUE(test, blocked_i);
	KUNIT_EXPECT_EQ(test, users_i, 2);
	KUNIT_EXPECT_EQ(test, ti.ret, 0);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 1), 5);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 2);

	/* A remove waits too, and removes what the holder stored. */
	e = lockmap_entry(map, LM_KEY(1), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	lm_thread_start(test, &tr, lm_th_remove, &orm);
	blocked_r = lm_thread_wait_blocked(&tr);
	users_r = lm_key_users(map, 1);
	lockmap_entry_set(map, e, last);
	lockmap_entry_unlock(map, e);
	lm_join(test, &tr);

	KUNIT_EXPECT_TRUE(test, blocked_r);
	KUNIT_EXPECT_EQ(test, users_r, 2);
	KUNIT_EXPECT_EQ(test, tr.ret, 0);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(1), LM_KLEN), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 4);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live), 0);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 0);
}

static void lm_test_try_entry(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_thread ta = {}, tb = {};
	struct lm_op oa, ob;
	struct lockmap_entry *e, *e2;
	unsigned int users;
	size_t slots;

	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 1), 0);
	lm_op_init(&oa, ctx, 1);
	lm_op_init(&ob, ctx, 2);

	e = lockmap_entry(map, LM_KEY(1), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	/* Busy from this task (a failed try-lock is fine for lockdep)... */
	e2 = lockmap_try_entry(map, LM_KEY(1), LM_KLEN);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(e2), -EBUSY);
	if (!IS_ERR(e2))
		lockmap_entry_unlock(map, e2);
	/* ...and from another; a free key is not. */
	lm_thread_start(test, &ta, lm_th_try, &oa);
	lm_join(test, &ta);
	lm_thread_start(test, &tb, lm_th_try, &ob);
	lm_join(test, &tb);
	users = lm_key_users(map, 1);
	slots = lm_slots(map);
	lockmap_entry_unlock(map, e);

	KUNIT_EXPECT_EQ(test, ta.ret, -EBUSY);
	KUNIT_EXPECT_EQ(test, tb.ret, 0);
	KUNIT_EXPECT_EQ(test, users, 1);	/* failed tries left no ref */
	KUNIT_EXPECT_EQ(test, slots, 1);	/* key 2 came and went */

	/* Free again: the try succeeds, on a present and an absent key. */
	e = lockmap_try_entry(map, LM_KEY(1), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	KUNIT_EXPECT_NOT_NULL(test, lockmap_entry_value(e));
	lockmap_entry_unlock(map, e);
	e = lockmap_try_entry(map, LM_KEY(3), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	KUNIT_EXPECT_NULL(test, lockmap_entry_value(e));
	lockmap_entry_unlock(map, e);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 1);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 1), 1);
}

/* lockdep (white box) */

#ifdef CONFIG_DEBUG_LOCK_ALLOC
static struct lockdep_map *lm_dep_map(struct lockmap *map,
				      struct lockmap_entry *e)
{
	if (map->p.lock_kind == LOCKMAP_LOCK_RT_MUTEX)
		return &e->rt_mutex.dep_map;
	return &e->mutex.dep_map;
}

/* The lock class key of a key's lock, read while this task holds it. */
static struct lock_class_key *lm_key_class(struct kunit *test,
					   struct lockmap *map, u64 key)
{
	struct lockmap_entry *e = lockmap_entry(map, LM_KEY(key), LM_KLEN);
	struct lock_class_key *class;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	class = lm_dep_map(map, e)->key;
	lockmap_entry_unlock(map, e);
	return class;
}
#endif

/*
 * Each map has a lock class of its own, shared by all its keys, whether
 * they had a value or not, and validated (not lockdep's no-validate class):
 * what lets lockdep report a key locked twice, two keys of a map locked
 * outside a batch, and an ABBA across maps.
 */
static void lm_test_lockdep_class(struct kunit *test)
{
#ifdef CONFIG_DEBUG_LOCK_ALLOC
	struct lm_ctx *ca = lm_ctx_new(test), *cb = lm_ctx_new(test);
	struct lockmap *a = lm_map(test, ca, 0), *b = lm_map(test, cb, 0);
	struct lock_class_key *novalidate = &__lockdep_no_validate__;
	struct lock_class_key *a1, *a2, *a9, *b1;

	KUNIT_ASSERT_EQ(test, lm_put(test, ca, 1, 1), 0);
	KUNIT_ASSERT_EQ(test, lm_put(test, ca, 2, 2), 0);
	KUNIT_ASSERT_EQ(test, lm_put(test, cb, 1, 1), 0);
	a1 = lm_key_class(test, a, 1);
	a2 = lm_key_class(test, a, 2);
	a9 = lm_key_class(test, a, 9);		/* no value: a new entry */
	b1 = lm_key_class(test, b, 1);

	KUNIT_EXPECT_NOT_NULL(test, a1);
	KUNIT_EXPECT_PTR_EQ(test, a1, a2);
	KUNIT_EXPECT_PTR_EQ(test, a1, a9);
	KUNIT_EXPECT_PTR_NE(test, a1, b1);
	KUNIT_EXPECT_PTR_NE(test, a1, novalidate);
	KUNIT_EXPECT_PTR_NE(test, b1, novalidate);
#else
	kunit_skip(test, "needs CONFIG_DEBUG_LOCK_ALLOC");
#endif
}

/*
 * lockdep tracks a key as held by this task from every way of locking it:
 * the try-lock fast path (lockmap_entry() and lockmap_try_entry() of a
 * valued key nobody holds), the slow path (a new key) and a batch; and as
 * free after the unlock.  Only valued keys are probed after the unlock:
 * an empty key's entry goes away with it.
 */
static void lm_test_lockdep_held(struct kunit *test)
{
#ifdef CONFIG_DEBUG_LOCK_ALLOC
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lockmap_key keys[2];
	struct lockmap_entry *e, *e2;
	struct lockdep_map *dm, *dm2;
	struct lockmap_batch *b;
	u64 k1 = 1, k2 = 2;

	KUNIT_ASSERT_TRUE_MSG(test, debug_locks, "lockdep is off");
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 1), 0);
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 2, 2), 0);

	e = lockmap_entry(map, LM_KEY(1), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	dm = lm_dep_map(map, e);
	KUNIT_EXPECT_EQ_MSG(test, lock_is_held(dm), 1, "lockmap_entry()");
	lockmap_entry_unlock(map, e);
	KUNIT_EXPECT_EQ(test, lock_is_held(dm), 0);

	e = lockmap_try_entry(map, LM_KEY(1), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	KUNIT_EXPECT_EQ_MSG(test, lock_is_held(dm), 1, "lockmap_try_entry()");
	lockmap_entry_unlock(map, e);
	KUNIT_EXPECT_EQ(test, lock_is_held(dm), 0);

	e = lockmap_entry_interruptible(map, LM_KEY(1), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	KUNIT_EXPECT_EQ_MSG(test, lock_is_held(dm), 1,
			    "lockmap_entry_interruptible()");
	lockmap_entry_unlock(map, e);
	KUNIT_EXPECT_EQ(test, lock_is_held(dm), 0);

	/* An absent key: created, then locked on the slow path. */
	e = lockmap_entry(map, LM_KEY(9), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	KUNIT_EXPECT_EQ_MSG(test, lock_is_held(lm_dep_map(map, e)), 1,
			    "lockmap_entry() of a new key");
	lockmap_entry_unlock(map, e);

	keys[0] = (struct lockmap_key){ &k1, sizeof(k1) };
	keys[1] = (struct lockmap_key){ &k2, sizeof(k2) };
	b = lockmap_batch_lock(map, keys, ARRAY_SIZE(keys), LOCKMAP_WAIT);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	e = lockmap_batch_find(b, &k1, sizeof(k1));
	e2 = lockmap_batch_find(b, &k2, sizeof(k2));
	KUNIT_ASSERT_NOT_NULL(test, e);
	KUNIT_ASSERT_NOT_NULL(test, e2);
	dm = lm_dep_map(map, e);
	dm2 = lm_dep_map(map, e2);
	KUNIT_EXPECT_EQ_MSG(test, lock_is_held(dm), 1, "batch, first key");
	KUNIT_EXPECT_EQ_MSG(test, lock_is_held(dm2), 1, "batch, second key");
	lockmap_batch_unlock(map, b);
	KUNIT_EXPECT_EQ(test, lock_is_held(dm), 0);
	KUNIT_EXPECT_EQ(test, lock_is_held(dm2), 0);
#else
	kunit_skip(test, "needs CONFIG_DEBUG_LOCK_ALLOC");
#endif
}

/* Priority inheritance */

/* lm_th_hold(), then op->out = the task's priority just after the unlock. */
static int lm_th_hold_prio(struct lm_thread *t)
{
	struct lm_op *op = t->arg;
	int ret = lm_th_hold(t);

	op->out = READ_ONCE(current->prio);
	return ret;
}

/* Becomes SCHED_FIFO, then locks op->key. */
static int lm_th_lock_fifo(struct lm_thread *t)
{
	sched_set_fifo(current);
	return lm_th_lock(t);
}

/* Waits up to 5 s for @task's priority to become real-time. */
static int lm_wait_boost(struct task_struct *task)
{
	int i, prio = READ_ONCE(task->prio);

	for (i = 0; i < 5000 && prio >= MAX_RT_PRIO; i++) {
		usleep_range(500, 1000);
		prio = READ_ONCE(task->prio);
	}
	return prio;
}

/*
 * A SCHED_NORMAL kthread holds a key; a SCHED_FIFO one waits for it.  An
 * rt_mutex map's holder runs at the waiter's priority until it unlocks (the
 * reason for the lock kind); a mutex map's holder is not boosted, except on
 * PREEMPT_RT, where a mutex is an rt_mutex too.
 */
static void lm_test_priority_inheritance(struct kunit *test)
{
	bool pi = lm_lock_kind(test) == LOCKMAP_LOCK_RT_MUTEX ||
		  IS_ENABLED(CONFIG_PREEMPT_RT);
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_thread th = {}, tw = {};
	int normal, boosted, waiter;
	struct lm_op oh, ow;
	bool held, blocked;

	lm_map(test, ctx, 0);
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 1), 0);
	lm_op_init(&oh, ctx, 1);
	lm_op_init(&ow, ctx, 1);
	lm_thread_start(test, &th, lm_th_hold_prio, &oh);
	held = wait_for_completion_timeout(&oh.held, 10 * HZ) && oh.locked;
	normal = READ_ONCE(th.task->prio);
	lm_thread_start(test, &tw, lm_th_lock_fifo, &ow);
	blocked = lm_thread_wait_blocked(&tw);
	waiter = READ_ONCE(tw.task->prio);
	if (pi) {
		boosted = lm_wait_boost(th.task);
	} else {
		msleep(20);
		boosted = READ_ONCE(th.task->prio);
	}
	lm_release(test, &th, &oh);
	lm_join(test, &tw);

	KUNIT_EXPECT_TRUE(test, held);
	KUNIT_EXPECT_TRUE(test, blocked);
	KUNIT_EXPECT_GE(test, normal, MAX_RT_PRIO);
	KUNIT_EXPECT_LT(test, waiter, MAX_RT_PRIO);
	if (pi)
		KUNIT_EXPECT_EQ_MSG(test, boosted, waiter, "holder not boosted");
	else
		KUNIT_EXPECT_EQ_MSG(test, boosted, normal, "holder boosted");
	/* Back to normal as soon as it let go. */
	KUNIT_EXPECT_EQ(test, (int)oh.out, normal);
	KUNIT_EXPECT_EQ(test, th.ret, 0);
	KUNIT_EXPECT_EQ(test, tw.ret, 0);
}

/* Runs a kthread waiting with @wait for key 1, which this task holds. */
static void lm_signal_case(struct kunit *test, enum lockmap_wait wait)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_thread t = { .signals = true };
	struct lockmap_entry *e;
	bool blocked, blocked2 = true, alive = true, joined;
	unsigned int users, users2 = 2, users_after;
	struct lm_op op;

	lm_op_init(&op, ctx, 1);
	op.wait = wait;
	e = lockmap_entry(map, LM_KEY(1), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);

	lm_thread_start(test, &t, lm_th_lock, &op);
	blocked = lm_thread_wait_blocked(&t);
	users = lm_key_users(map, 1);
	if (wait == LOCKMAP_WAIT_KILLABLE) {
		/* A signal that is not fatal does not end a killable wait. */
		send_sig(SIGUSR1, t.task, 1);
		msleep(50);
		alive = !completion_done(&t.done);
		blocked2 = lm_thread_wait_blocked(&t);
		users2 = lm_key_users(map, 1);
		send_sig(SIGKILL, t.task, 1);
	} else {
		send_sig(SIGUSR1, t.task, 1);
	}
	joined = lm_thread_join(&t);	/* while the key is still held */
	users_after = lm_key_users(map, 1);
	lockmap_entry_unlock(map, e);
	if (!joined)
		lm_join(test, &t);

	KUNIT_EXPECT_TRUE(test, blocked);
	KUNIT_EXPECT_EQ(test, users, 2);
	KUNIT_EXPECT_TRUE(test, alive);
	KUNIT_EXPECT_TRUE(test, blocked2);
	KUNIT_EXPECT_EQ(test, users2, 2);
	KUNIT_EXPECT_TRUE(test, joined);
	KUNIT_EXPECT_EQ(test, t.ret, -EINTR);
	KUNIT_EXPECT_EQ(test, users_after, 1);	/* only this task */
	/* Nothing left behind: the empty key went, and locks again. */
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 1), 0);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 0);
	e = lockmap_entry_lock(map, LM_KEY(1), LM_KLEN, wait);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	lockmap_entry_unlock(map, e);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 0);
}

static void lm_test_entry_interruptible(struct kunit *test)
{
	lm_signal_case(test, LOCKMAP_WAIT_INTERRUPTIBLE);
}

static void lm_test_entry_killable(struct kunit *test)
{
	lm_signal_case(test, LOCKMAP_WAIT_KILLABLE);
}

/* Batches */

static void lm_test_batch_basic(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	static const u64 k[] = { 3, 1, 2, 3, 1, 4 };
	struct lockmap_key keys[ARRAY_SIZE(k)];
	struct lm_val *vals[4];
	struct lockmap_batch *b;
	struct lockmap_entry *e;
	unsigned int i, n;
	u64 seen = 0;

	for (i = 0; i < ARRAY_SIZE(k); i++)
		keys[i] = (struct lockmap_key){ &k[i], sizeof(u64) };
	for (i = 0; i < ARRAY_SIZE(vals); i++)
		vals[i] = lm_val_new(test, ctx, 10 * (i + 1));
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 4, 4), 0);

	b = lockmap_batch_lock(map, keys, ARRAY_SIZE(keys), LOCKMAP_WAIT);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	n = lockmap_batch_count(b);
	KUNIT_EXPECT_EQ(test, n, 4);
	KUNIT_EXPECT_NULL(test, lockmap_batch_entry(b, n));
	KUNIT_EXPECT_NULL(test, lockmap_batch_entry(b, UINT_MAX));
	/* Every distinct key exactly once among the entries. */
	for (i = 0; i < n && i < 4; i++) {
		const void *kp;
		size_t len = 0;
		u64 key = 0;

		e = lockmap_batch_entry(b, i);
		if (!e) {
			KUNIT_FAIL(test, "no entry %u", i);
			continue;
		}
		kp = lockmap_entry_key(map, e, &len);
		KUNIT_EXPECT_EQ(test, len, sizeof(u64));
		memcpy(&key, kp, sizeof(key));
		if (key >= 1 && key <= 4)
			seen |= BIT_ULL(key);
		KUNIT_EXPECT_PTR_EQ(test, lockmap_batch_find(b, kp, len), e);
	}
	KUNIT_EXPECT_EQ(test, seen, 0x1e);
	KUNIT_EXPECT_NULL(test, lockmap_batch_find(b, LM_KEY(5), LM_KLEN));
	KUNIT_EXPECT_NULL(test, lockmap_batch_find(b, NULL, sizeof(u64)));
	KUNIT_EXPECT_NULL(test, lockmap_batch_find(b, &k[0], 4));
	/*
	 * Each key of the batch is locked, with or without a value: the empty
	 * key with the batch's reference, the valued one with the value's.
	 */
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 1), 1);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 4), 1);

	/* Values set through the batch (one replaces key 4's). */
	for (i = 0; i < 4; i++) {
		e = lockmap_batch_find(b, LM_KEY(i + 1), LM_KLEN);
		if (e)
			lockmap_entry_set(map, e, vals[i]);
		else
			lm_val_free(vals[i], ctx);
	}
	e = lockmap_batch_find(b, LM_KEY(4), LM_KLEN);
	KUNIT_EXPECT_PTR_EQ(test, e ? lockmap_entry_value(e) : NULL,
			    (void *)vals[3]);
	lockmap_batch_unlock(map, b);

	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_EQ(test, lm_getv(map, i + 1), 10 * (i + 1));
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 4);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 4);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 1);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 1), 1);

	/* Keys left empty vanish with the batch. */
	b = lockmap_batch_lock(map, keys, 1, LOCKMAP_WAIT);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	KUNIT_EXPECT_EQ(test, lockmap_batch_count(b), 1);
	e = lockmap_batch_entry(b, 0);
	KUNIT_ASSERT_NOT_NULL(test, e);
	lockmap_entry_set(map, e, NULL);
	lockmap_batch_unlock(map, b);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(3), LM_KLEN), 0);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 3);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 2);
}

static void lm_test_batch_invalid(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lockmap_key keys[LOCKMAP_BATCH_MAX + 1];
	u64 k[LOCKMAP_BATCH_MAX + 1];
	struct lockmap_batch *b;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(k); i++) {
		k[i] = i;
		keys[i] = (struct lockmap_key){ &k[i], sizeof(u64) };
	}
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 0, 0), 0);

	b = lockmap_batch_lock(map, keys, 0, LOCKMAP_WAIT);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(b), -EINVAL);
	b = lockmap_batch_lock(map, keys, LOCKMAP_BATCH_MAX + 1, LOCKMAP_WAIT);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(b), -EINVAL);
	b = lockmap_batch_lock(map, NULL, 1, LOCKMAP_WAIT);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(b), -EINVAL);
	/* One bad key spoils the batch: nothing is locked or created. */
	keys[2].len = 4;
	b = lockmap_batch_lock(map, keys, 3, LOCKMAP_WAIT);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(b), -EINVAL);
	keys[2] = (struct lockmap_key){ NULL, sizeof(u64) };
	b = lockmap_batch_lock(map, keys, 3, LOCKMAP_WAIT);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(b), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 1);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 0), 1);

	/* Exactly LOCKMAP_BATCH_MAX keys is fine. */
	keys[2] = (struct lockmap_key){ &k[2], sizeof(u64) };
	b = lockmap_batch_lock(map, keys, LOCKMAP_BATCH_MAX, LOCKMAP_WAIT);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	KUNIT_EXPECT_EQ(test, lockmap_batch_count(b), LOCKMAP_BATCH_MAX);
	KUNIT_EXPECT_EQ(test, lm_slots(map), LOCKMAP_BATCH_MAX);
	lockmap_batch_unlock(map, b);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 1);
}

static void lm_test_batch_nowait_busy(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	u64 k[3];
	struct lockmap_key keys[3];
	struct lockmap_batch *b;
	struct lm_thread th = {};
	struct lm_op oh;
	unsigned int i, users1, users3, users2;
	size_t slots;
	bool held;
	int err;

	lm_keys_held_last(test, map, k);
	for (i = 0; i < 3; i++)
		keys[i] = (struct lockmap_key){ &k[i], sizeof(u64) };
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, k[0], 1), 0);
	lm_op_init(&oh, ctx, k[1]);

	held = lm_hold(test, &th, &oh);
	b = lockmap_batch_lock(map, keys, 3, LOCKMAP_NOWAIT);
	err = PTR_ERR_OR_ZERO(b);
	if (!IS_ERR(b))
		lockmap_batch_unlock(map, b);
	users1 = lm_key_users(map, k[0]);
	users2 = lm_key_users(map, k[1]);
	users3 = lm_key_users(map, k[2]);
	slots = lm_slots(map);
	/* The keys that are free can be locked together right away. */
	keys[1] = keys[2];
	b = lockmap_batch_lock(map, keys, 2, LOCKMAP_NOWAIT);
	KUNIT_EXPECT_FALSE(test, IS_ERR_OR_NULL(b));
	if (!IS_ERR_OR_NULL(b)) {
		KUNIT_EXPECT_EQ(test, lockmap_batch_count(b), 2);
		lockmap_batch_unlock(map, b);
	}
	lm_release(test, &th, &oh);

	KUNIT_EXPECT_TRUE(test, held);
	KUNIT_EXPECT_EQ(test, err, -EBUSY);
	KUNIT_EXPECT_EQ(test, users1, 1);	/* just its value */
	KUNIT_EXPECT_EQ(test, users2, 1);	/* just the holder */
	KUNIT_EXPECT_EQ(test, users3, 0);
	KUNIT_EXPECT_EQ(test, slots, 2);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 1);
}

#define LM_BATCH_THREADS	4
#define LM_BATCH_ITERS		300
#define LM_BATCH_KEYS		6
#define LM_BATCH_SPAN		4

struct lm_batch_worker {
	struct lm_ctx *ctx;
	u64 k[LM_BATCH_SPAN + 1];
	struct lockmap_key keys[LM_BATCH_SPAN + 1];
	unsigned int bad;
	unsigned int busy;	/* batches that found a key held */
	struct completion *start;
};

static int lm_th_batch_incr(struct lm_thread *t)
{
	struct lm_batch_worker *w = t->arg;
	struct lockmap *map = w->ctx->map;
	unsigned int i, j;

	wait_for_completion(w->start);
	for (i = 0; i < LM_BATCH_ITERS; i++) {
		struct lockmap_batch *b;

		b = lockmap_batch_lock(map, w->keys, ARRAY_SIZE(w->keys),
				       LOCKMAP_NOWAIT);
		if (PTR_ERR_OR_ZERO(b) == -EBUSY) {
			w->busy++;
			b = lockmap_batch_lock(map, w->keys,
					       ARRAY_SIZE(w->keys),
					       LOCKMAP_WAIT);
		}
		if (IS_ERR(b))
			return PTR_ERR(b);
		if (lockmap_batch_count(b) != LM_BATCH_SPAN)
			w->bad++;
		for (j = 0; j < LM_BATCH_SPAN; j++) {
			struct lockmap_entry *e;
			struct lm_val *v;
			u64 old;

			e = lockmap_batch_find(b, &w->k[j], sizeof(u64));
			v = e ? lockmap_entry_value(e) : NULL;
			if (!v) {
				w->bad++;
				continue;
			}
			/* Widen the read-modify-write window; sleep in it. */
			old = READ_ONCE(v->v);
			udelay(2);
			if (!(i % 16) && !j)
				usleep_range(10, 20);
			WRITE_ONCE(v->v, old + 1);
		}
		lockmap_batch_unlock(map, b);
	}
	return 0;
}

static void lm_test_batch_concurrent(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	u64 expect[LM_BATCH_KEYS] = {};
	DECLARE_COMPLETION_ONSTACK(start);
	struct lm_batch_worker *w;
	unsigned int i, j, busy = 0;
	struct lm_thread *t;

	w = kunit_kcalloc(test, LM_BATCH_THREADS, sizeof(*w), GFP_KERNEL);
	t = kunit_kcalloc(test, LM_BATCH_THREADS, sizeof(*t), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, w);
	KUNIT_ASSERT_NOT_NULL(test, t);
	for (i = 0; i < LM_BATCH_KEYS; i++)
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, i, 0), 0);
	/* Overlapping windows of keys; odd threads list them backwards. */
	for (i = 0; i < LM_BATCH_THREADS; i++) {
		w[i].ctx = ctx;
		w[i].start = &start;
		for (j = 0; j < LM_BATCH_SPAN; j++) {
			unsigned int pos = i & 1 ? LM_BATCH_SPAN - 1 - j : j;

			w[i].k[pos] = (i + j) % LM_BATCH_KEYS;
			expect[(i + j) % LM_BATCH_KEYS] += LM_BATCH_ITERS;
		}
		w[i].k[LM_BATCH_SPAN] = w[i].k[1];	/* a duplicate */
		for (j = 0; j <= LM_BATCH_SPAN; j++)
			w[i].keys[j] = (struct lockmap_key){ &w[i].k[j],
							      sizeof(u64) };
	}
	for (i = 0; i < LM_BATCH_THREADS; i++)
		lm_thread_start(test, &t[i], lm_th_batch_incr, &w[i]);
	complete_all(&start);
	for (i = 0; i < LM_BATCH_THREADS; i++)
		lm_join(test, &t[i]);

	for (i = 0; i < LM_BATCH_THREADS; i++) {
		KUNIT_EXPECT_EQ(test, t[i].ret, 0);
		KUNIT_EXPECT_EQ(test, w[i].bad, 0);
		busy += w[i].busy;
	}
	/* The batches did contend: they locked keys others held. */
	KUNIT_EXPECT_GT(test, busy, 0);
	for (i = 0; i < LM_BATCH_KEYS; i++) {
		KUNIT_EXPECT_EQ(test, lm_getv(map, i), expect[i]);
		KUNIT_EXPECT_EQ(test, lm_key_users(map, i), 1);
	}
	KUNIT_EXPECT_EQ(test, lm_slots(map), LM_BATCH_KEYS);
}

/* A batch waiting with @wait for key 2, which this task holds. */
static void lm_batch_signal_case(struct kunit *test, enum lockmap_wait wait)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	u64 k[3];
	struct lm_thread t = { .signals = true };
	struct lockmap_entry *e, *e1 = NULL, *e3 = NULL;
	unsigned int users1, users2, users3, users_after;
	bool blocked, joined, alive = true;
	struct lockmap_key keys[3];
	struct lockmap_batch *b;
	struct lm_op op;
	int try1, try3;
	unsigned int i;

	lm_keys_held_last(test, map, k);
	for (i = 0; i < 3; i++)
		keys[i] = (struct lockmap_key){ &k[i], sizeof(u64) };
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, k[0], 1), 0);
	lm_op_init(&op, ctx, 0);
	op.keys = keys;
	op.nr_keys = 3;
	op.wait = wait;
	e = lockmap_entry(map, &k[1], LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);

	lm_thread_start(test, &t, lm_th_batch, &op);
	blocked = lm_thread_wait_blocked(&t);
	users1 = lm_key_users(map, k[0]);
	users2 = lm_key_users(map, k[1]);
	users3 = lm_key_users(map, k[2]);
	/* The waiting batch holds none of its other keys. */
	e1 = lockmap_try_entry(map, &k[0], LM_KLEN);
	try1 = PTR_ERR_OR_ZERO(e1);
	if (!IS_ERR(e1))
		lockmap_entry_unlock(map, e1);
	e3 = lockmap_try_entry(map, &k[2], LM_KLEN);
	try3 = PTR_ERR_OR_ZERO(e3);
	if (!IS_ERR(e3))
		lockmap_entry_unlock(map, e3);
	if (wait == LOCKMAP_WAIT_KILLABLE) {
		send_sig(SIGUSR1, t.task, 1);
		msleep(50);
		alive = !completion_done(&t.done);
		send_sig(SIGKILL, t.task, 1);
	} else {
		send_sig(SIGUSR1, t.task, 1);
	}
	joined = lm_thread_join(&t);
	users_after = lm_key_users(map, k[1]);
	lockmap_entry_unlock(map, e);
	if (!joined)
		lm_join(test, &t);

	KUNIT_EXPECT_TRUE(test, blocked);
	KUNIT_EXPECT_EQ(test, users2, 2);
	KUNIT_EXPECT_EQ(test, try1, 0);
	KUNIT_EXPECT_EQ(test, try3, 0);
	/* At most a reference from the batch, never a lock. */
	KUNIT_EXPECT_LE(test, users1, 2);
	KUNIT_EXPECT_LE(test, users3, 1);
	KUNIT_EXPECT_TRUE(test, alive);
	KUNIT_EXPECT_TRUE(test, joined);
	KUNIT_EXPECT_EQ(test, t.ret, -EINTR);
	KUNIT_EXPECT_EQ(test, users_after, 1);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, k[0]), 1);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, k[2]), 0);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 1);

	/* Nothing stayed held: the same batch now goes through. */
	b = lockmap_batch_lock(map, keys, 3, wait);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	KUNIT_EXPECT_EQ(test, lockmap_batch_count(b), 3);
	lockmap_batch_unlock(map, b);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 1);
}

static void lm_test_batch_interruptible(struct kunit *test)
{
	lm_batch_signal_case(test, LOCKMAP_WAIT_INTERRUPTIBLE);
}

static void lm_test_batch_killable(struct kunit *test)
{
	lm_batch_signal_case(test, LOCKMAP_WAIT_KILLABLE);
}

/* Many tasks, few keys */

#define LM_INC_THREADS	4
#define LM_INC_ITERS	2000
#define LM_INC_KEYS	3

static int lm_th_incr(struct lm_thread *t)
{
	struct lm_op *op = t->arg;
	struct lockmap *map = op->ctx->map;
	unsigned int i;

	wait_for_completion(op->start);
	for (i = 0; i < LM_INC_ITERS; i++) {
		u64 key = (i + op->key) % LM_INC_KEYS;
		struct lockmap_entry *e;
		struct lm_val *v;
		u64 old;

		e = lockmap_try_entry(map, LM_KEY(key), LM_KLEN);
		if (PTR_ERR_OR_ZERO(e) == -EBUSY) {
			op->busy++;
			e = lockmap_entry(map, LM_KEY(key), LM_KLEN);
		}
		if (IS_ERR(e))
			return PTR_ERR(e);
		v = lockmap_entry_value(e);
		if (!v) {
			lockmap_entry_unlock(map, e);
			return -ENOENT;
		}
		/* Widen the read-modify-write window; sleep in it. */
		old = READ_ONCE(v->v);
		udelay(1);
		if (!(i % 64))
			usleep_range(10, 20);
		WRITE_ONCE(v->v, old + 1);
		lockmap_entry_unlock(map, e);
	}
	return 0;
}

static void lm_test_concurrent_increments(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	u64 expect[LM_INC_KEYS] = {};
	DECLARE_COMPLETION_ONSTACK(start);
	unsigned int i, j, busy = 0;
	struct lm_thread *t;
	struct lm_op *op;
	u64 total = 0;

	t = kunit_kcalloc(test, LM_INC_THREADS, sizeof(*t), GFP_KERNEL);
	op = kunit_kcalloc(test, LM_INC_THREADS, sizeof(*op), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t);
	KUNIT_ASSERT_NOT_NULL(test, op);
	for (i = 0; i < LM_INC_KEYS; i++)
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, i, 0), 0);
	for (i = 0; i < LM_INC_THREADS; i++) {
		lm_op_init(&op[i], ctx, i);
		op[i].start = &start;
		for (j = 0; j < LM_INC_ITERS; j++)
			expect[(j + i) % LM_INC_KEYS]++;
	}
	for (i = 0; i < LM_INC_THREADS; i++)
		lm_thread_start(test, &t[i], lm_th_incr, &op[i]);
	complete_all(&start);
	for (i = 0; i < LM_INC_THREADS; i++)
		lm_join(test, &t[i]);

	for (i = 0; i < LM_INC_THREADS; i++) {
		KUNIT_EXPECT_EQ(test, t[i].ret, 0);
		busy += op[i].busy;
	}
	/* The tasks did contend: they found keys others held. */
	KUNIT_EXPECT_GT(test, busy, 0);
	for (i = 0; i < LM_INC_KEYS; i++) {
		u64 v = lm_getv(map, i);

		KUNIT_EXPECT_EQ(test, v, expect[i]);
		total += v;
		KUNIT_EXPECT_EQ(test, lm_key_users(map, i), 1);
	}
	KUNIT_EXPECT_EQ(test, total, (u64)LM_INC_THREADS * LM_INC_ITERS);
}

/*
 * A reader that found an entry under RCU just before it died may still
 * try-lock it: a dead entry keeps its table link, lock, count and hash until
 * the grace period ends (its RCU head takes the value and first key bytes),
 * so the try-lock is safe and the count says the entry is dead.  Checked for
 * each layout of entry, as each has its own free callback: plain and LRU,
 * fixed and variable-length keys.
 */
struct lm_killer {
	struct lockmap *map;
	bool go;
	int ret;
	bool done;
};

static int lm_th_kill(struct lm_thread *t)
{
	struct lm_killer *k = t->arg;
	int i;

	for (i = 0; i < 5000 && !READ_ONCE(k->go); i++)
		usleep_range(200, 400);
	k->ret = lockmap_remove(k->map, LM_KEY(1), LM_KLEN, NULL);
	smp_store_release(&k->done, true);	/* after the remove */
	return 0;
}

static void lm_test_dead_entry_lockable(struct kunit *test)
{
	static const struct {
		u32 key_len;
		size_t capacity;
	} layouts[] = { { LM_KLEN, 0 }, { 0, 0 }, { LM_KLEN, 64 }, { 0, 64 } };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(layouts); i++) {
		struct lm_ctx *ctx = lm_ctx_new(test);
		struct lockmap_params p = {
			.key_len = layouts[i].key_len,
			.capacity = layouts[i].capacity,
			.free_value = lm_val_free,
		};
		struct lm_killer k = {};
		struct lm_thread t = {};
		bool found, died = false, locked = false, live = true;
		bool same_hash = false, unlinked = false, done;
		struct lockmap_lookup l;
		struct lockmap_entry *e;
		unsigned long timeout;
		struct lockmap *map;

		map = lm_create(test, ctx, &p);
		k.map = map;
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 11), 0);
		KUNIT_ASSERT_EQ(test, lockmap_prepare(map, LM_KEY(1), LM_KLEN,
						      &l), 0);
		lm_thread_start(test, &t, lm_th_kill, &k);

		/* No sleeping, and no KUNIT_EXPECT, under rcu_read_lock(). */
		rcu_read_lock();
		e = lockmap_find_rcu(map, &l);
		found = e;
		WRITE_ONCE(k.go, true);
		timeout = jiffies + 5 * HZ;
		/* Acquire: the entry as the remove left it. */
		while (!(done = smp_load_acquire(&k.done)) &&
		       time_before(jiffies, timeout))
			cpu_relax();
		if (e && done) {
			died = !refcount_read(&e->users);
			same_hash = e->hash == l.hash;
			locked = lockmap_trylock(map, e);
			if (locked) {
				(void)READ_ONCE(e->value);
				live = lockmap_live(e);
				__lockmap_unlock(map, e);
			}
			unlinked = !lockmap_find_rcu(map, &l);
		}
		rcu_read_unlock();
		lm_join(test, &t);

		KUNIT_EXPECT_TRUE_MSG(test, found, "layout %u", i);
		KUNIT_EXPECT_EQ_MSG(test, k.ret, 0, "layout %u", i);
		KUNIT_EXPECT_TRUE_MSG(test, died, "layout %u", i);
		KUNIT_EXPECT_TRUE_MSG(test, same_hash, "layout %u", i);
		KUNIT_EXPECT_TRUE_MSG(test, locked, "layout %u", i);
		KUNIT_EXPECT_FALSE_MSG(test, live, "layout %u", i);
		KUNIT_EXPECT_TRUE_MSG(test, unlinked, "layout %u", i);
		/* The key lives again in a new entry. */
		KUNIT_EXPECT_EQ(test, lm_getv(map, 1), LM_NONE);
		KUNIT_EXPECT_EQ(test, lm_put(test, ctx, 1, 12), 0);
		KUNIT_EXPECT_EQ(test, lm_getv(map, 1), 12);
		KUNIT_EXPECT_EQ(test, lm_key_users(map, 1), 1);
		lm_destroy(test, ctx);
		KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live), 0);
	}
}

/*
 * Entries come and go under every kind of operation at once, on few keys:
 * a held empty key's holder reference, the fast path's unreferenced
 * try-lock of a key with a value, the waiters' references and the entries
 * that die under readers must all add up.  Each value names its key.
 */
#define LM_LIVES_THREADS	4
#define LM_LIVES_KEYS		4
#define LM_LIVES_OPS		4000	/* each, unless 2 s pass first */
#define LM_LIVES_MIN_OPS	100	/* each, or the run proved nothing */
#define LM_LIVES_VAL(k, n)	((k) << 32 | (n))

struct lm_lives {
	struct lm_ctx *ctx;
	unsigned long deadline;
	atomic_t errors;
};

struct lm_lives_thread {
	struct lm_thread t;
	struct lm_lives *l;
	u32 seed;
	u32 done;
};

/* A counted value naming key @k (NULL when out of memory: a skipped step). */
static struct lm_val *lm_lives_val(struct lm_lives *l, u64 k, u32 n)
{
	struct lm_val *v = kmalloc(sizeof(*v), GFP_KERNEL);

	if (v) {
		v->v = LM_LIVES_VAL(k, n);
		atomic_inc(&l->ctx->live);
	}
	return v;
}

static int lm_lives_entry(struct lm_lives *l, u64 k, u32 r, u32 n)
{
	struct lockmap *map = l->ctx->map;
	struct lockmap_entry *e;
	struct lm_val *v;

	e = (r & BIT(9)) ? lockmap_try_entry(map, LM_KEY(k), LM_KLEN) :
			   lockmap_entry(map, LM_KEY(k), LM_KLEN);
	if (IS_ERR(e))
		return PTR_ERR(e) == -EBUSY ? 0 : PTR_ERR(e);
	v = lockmap_entry_value(e);
	if (v && LM_LIVES_VAL(k, 0) != (v->v & ~0xffffffffULL))
		atomic_inc(&l->errors);
	switch ((r >> 10) & 3) {
	case 0:		/* set, or replace */
		v = lm_lives_val(l, k, n);
		if (v)
			lockmap_entry_set(map, e, v);
		break;
	case 1:		/* remove, maybe set again in the same hold */
		lockmap_entry_set(map, e, NULL);
		v = (r & BIT(12)) ? lm_lives_val(l, k, n) : NULL;
		if (v)
			lockmap_entry_set(map, e, v);
		break;
	default:	/* look, sometimes sleeping with the key held */
		if (r & BIT(13))
			usleep_range(10, 20);
		break;
	}
	lockmap_entry_unlock(map, e);
	return 0;
}

static int lm_th_lives(struct lm_thread *t)
{
	struct lm_lives_thread *lt = t->arg;
	struct lm_lives *l = lt->l;
	struct lockmap *map = l->ctx->map;
	struct rnd_state rnd;
	u32 n;
	int ret = 0;

	prandom_seed_state(&rnd, lt->seed);
	for (n = 0; n < LM_LIVES_OPS && !ret &&
	     time_before(jiffies, l->deadline); n++) {
		u32 r = prandom_u32_state(&rnd);
		u64 k = r % LM_LIVES_KEYS, got;
		struct lm_val *v;

		switch ((r >> 4) & 7) {
		case 0:
			v = lm_lives_val(l, k, n);
			if (v)
				ret = lockmap_insert(map, LM_KEY(k), LM_KLEN, v,
						     NULL);
			break;
		case 1:
			ret = lockmap_remove(map, LM_KEY(k), LM_KLEN, NULL);
			ret = ret == -ENOENT ? 0 : ret;
			break;
		case 2:
		case 3:
			ret = lockmap_get(map, LM_KEY(k), LM_KLEN, lm_val_copy,
					  &got);
			if (!ret && got >> 32 != k)
				atomic_inc(&l->errors);
			ret = ret == -ENOENT ? 0 : ret;
			break;
		case 4:
			ret = lockmap_contains(map, LM_KEY(k), LM_KLEN);
			ret = ret == 1 ? 0 : ret;
			break;
		default:
			ret = lm_lives_entry(l, k, r, n);
			break;
		}
		if (!(n % 64))
			cond_resched();
	}
	lt->done = n;
	return ret;
}

static void lm_test_entry_lives(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 1);
	struct lm_lives_thread *lt;
	struct lm_lives l = { .ctx = ctx };
	size_t valued = 0;
	unsigned int i;

	lt = kunit_kcalloc(test, LM_LIVES_THREADS, sizeof(*lt), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, lt);
	/* Bounded in time too: rt_mutex waits are slow under emulation. */
	l.deadline = jiffies + 2 * HZ;
	for (i = 0; i < LM_LIVES_THREADS; i++) {
		lt[i].l = &l;
		lt[i].seed = 0x11fe0000 + i;
		lm_thread_start(test, &lt[i].t, lm_th_lives, &lt[i]);
	}
	for (i = 0; i < LM_LIVES_THREADS; i++) {
		lm_join(test, &lt[i].t);
		KUNIT_EXPECT_EQ(test, lt[i].t.ret, 0);
		KUNIT_EXPECT_GE(test, lt[i].done, LM_LIVES_MIN_OPS);
	}

	KUNIT_EXPECT_EQ(test, atomic_read(&l.errors), 0);
	for (i = 0; i < LM_LIVES_KEYS; i++) {
		int has = lockmap_contains(map, LM_KEY(i), LM_KLEN);

		/* Nobody holds or waits: a valued key's count is its value's. */
		KUNIT_EXPECT_EQ(test, lm_key_users(map, i), has);
		valued += has;
	}
	KUNIT_EXPECT_EQ(test, lockmap_len(map), valued);
	KUNIT_EXPECT_EQ(test, lm_slots(map), valued);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live), valued);
}

/* Walks */

#define LM_WALK_KEYS	8

static void lm_test_walk_waits_for_held(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_thread th = {}, tw = {};
	struct lm_op oh, ow;
	bool held, blocked, waiting;
	unsigned int users;
	u64 k, sum = 0;

	for (k = 0; k < LM_WALK_KEYS; k++) {
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, k, 10 * k), 0);
		sum += 10 * k;
	}
	lm_op_init(&oh, ctx, 5);
	oh.set = 1000;		/* the holder changes key 5 before leaving */
	lm_op_init(&ow, ctx, 0);

	held = lm_hold(test, &th, &oh);
	lm_thread_start(test, &tw, lm_th_walk, &ow);
	blocked = lm_thread_wait_blocked(&tw);
	users = lm_key_users(map, 5);
	waiting = !completion_done(&tw.done);
	lm_release(test, &th, &oh);
	lm_join(test, &tw);

	KUNIT_EXPECT_TRUE(test, held);
	KUNIT_EXPECT_TRUE(test, blocked);
	KUNIT_EXPECT_TRUE(test, waiting);
	KUNIT_EXPECT_EQ(test, users, 2);	/* value (lent to holder) + walker */
	KUNIT_EXPECT_EQ(test, tw.ret, 0);
	/* Every key visited once; key 5 after the holder changed it. */
	KUNIT_EXPECT_EQ(test, ow.visits, LM_WALK_KEYS);
	KUNIT_EXPECT_EQ(test, ow.sum, sum - 50 + 1000);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), LM_WALK_KEYS);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);
}

struct lm_walk {
	u64 seen;		/* bit per key visited */
	unsigned int visits;
	unsigned int stop_at;
	bool bad;
};

static int lm_visit_check(const void *key, size_t key_len, void *value,
			  void *arg)
{
	struct lm_walk *w = arg;
	u64 k;

	if (key_len != sizeof(k) || !value) {
		w->bad = true;
		return -EINVAL;
	}
	memcpy(&k, key, sizeof(k));
	if (k >= 64 || ((struct lm_val *)value)->v != 10 * k) {
		w->bad = true;
		return -EINVAL;
	}
	w->seen |= BIT_ULL(k);
	if (++w->visits == w->stop_at)
		return 42;
	return 0;
}

static void lm_test_walk_stop(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_walk w = {};
	u64 k;

	KUNIT_EXPECT_EQ(test, lockmap_for_each(map, lm_visit_check, &w), 0);
	KUNIT_EXPECT_EQ(test, w.visits, 0);
	for (k = 0; k < LM_WALK_KEYS; k++)
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, k, 10 * k), 0);

	w = (struct lm_walk){};
	KUNIT_EXPECT_EQ(test, lockmap_for_each(map, lm_visit_check, &w), 0);
	KUNIT_EXPECT_FALSE(test, w.bad);
	KUNIT_EXPECT_EQ(test, w.visits, LM_WALK_KEYS);
	KUNIT_EXPECT_EQ(test, w.seen, BIT_ULL(LM_WALK_KEYS) - 1);

	w = (struct lm_walk){ .stop_at = 3 };
	KUNIT_EXPECT_EQ(test, lockmap_for_each(map, lm_visit_check, &w), 42);
	KUNIT_EXPECT_FALSE(test, w.bad);
	KUNIT_EXPECT_EQ(test, w.visits, 3);
	KUNIT_EXPECT_EQ(test, hweight64(w.seen), 3);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), LM_WALK_KEYS);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);
}

/*
 * Keys LM_RESIZE_FIRST on come and go, LM_RESIZE_KEYS at a time, growing
 * and shrinking the table of a one-shard map again and again.
 */
#define LM_RESIZE_STABLE	64
#define LM_RESIZE_FIRST		1000
#define LM_RESIZE_KEYS		1024

struct lm_resize {
	struct lm_ctx *ctx;
	bool stop;
	unsigned long cycles;
};

static int lm_th_resize(struct lm_thread *t)
{
	struct lm_resize *r = t->arg;
	struct lockmap *map = r->ctx->map;
	u64 k, last = LM_RESIZE_FIRST + LM_RESIZE_KEYS;

	while (!READ_ONCE(r->stop)) {
		for (k = LM_RESIZE_FIRST; k < last; k++) {
			struct lm_val *val = kmalloc(sizeof(*val), GFP_KERNEL);

			if (!val)
				return -ENOMEM;
			val->v = k;
			atomic_inc(&r->ctx->live);
			if (lockmap_insert(map, LM_KEY(k), LM_KLEN, val, NULL)) {
				lm_val_free(val, r->ctx);
				return -EIO;
			}
		}
		for (k = LM_RESIZE_FIRST; k < last; k++)
			if (lockmap_remove(map, LM_KEY(k), LM_KLEN, NULL))
				return -EIO;
		WRITE_ONCE(r->cycles, r->cycles + 1);
		cond_resched();
	}
	return 0;
}

/* What a walk saw: its stable keys, and the table sizes it met. */
struct lm_resize_walk {
	struct lockmap *map;
	unsigned int seen[LM_RESIZE_STABLE];
	unsigned int min_size, max_size;
};

static int lm_visit_count(const void *key, size_t key_len, void *value,
			  void *arg)
{
	struct lm_resize_walk *rw = arg;
	struct rhashtable *ht = &rw->map->shards[0].ht;
	unsigned int size;
	u64 k;

	memcpy(&k, key, sizeof(k));
	if (k < LM_RESIZE_STABLE)
		rw->seen[k]++;
	rcu_read_lock();
	size = rht_dereference_rcu(ht->tbl, ht)->size;
	rcu_read_unlock();
	rw->min_size = min(rw->min_size, size);
	rw->max_size = max(rw->max_size, size);
	return 0;
}

/*
 * A walk sees each key that keeps its value exactly once while the table
 * keeps resizing: its place (a position, the bit-reversed hash) holds in a
 * table of any size, where rhashtable's own walker would start over.
 */
static void lm_test_walk_across_resizes(struct kunit *test)
{
	static struct lm_resize_walk rw;
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 1);
	struct lm_resize r = { .ctx = ctx };
	unsigned long end = jiffies + 2 * HZ;
	unsigned int wrong = 0;
	struct lm_thread t = {};
	int round, ret = 0;
	u64 k;

	for (k = 0; k < LM_RESIZE_STABLE; k++)
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, k, k), 0);
	/* No assertion from here to the join: @r is on this stack. */
	lm_thread_start(test, &t, lm_th_resize, &r);
	rw = (struct lm_resize_walk){ .map = map, .min_size = UINT_MAX };
	for (round = 0; time_before(jiffies, end) || READ_ONCE(r.cycles) < 2;
	     round++) {
		memset(rw.seen, 0, sizeof(rw.seen));
		ret = lockmap_for_each(map, lm_visit_count, &rw);
		if (ret)
			break;
		for (k = 0; k < LM_RESIZE_STABLE; k++)
			wrong += rw.seen[k] != 1;
		if (time_after(jiffies, end + 20 * HZ))
			break;		/* the churn is stuck: fails below */
	}
	WRITE_ONCE(r.stop, true);
	lm_join(test, &t);
	KUNIT_EXPECT_EQ(test, ret, 0);
	KUNIT_EXPECT_EQ(test, t.ret, 0);
	KUNIT_EXPECT_GE(test, r.cycles, 2);
	KUNIT_EXPECT_GE(test, rw.max_size, 4 * rw.min_size);
	KUNIT_EXPECT_EQ_MSG(test, wrong, 0, "in %d walks", round);
}

static void lm_test_clear_waits_for_held(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_thread th = {}, tc = {};
	struct lm_op oh, oc;
	bool held, blocked, waiting;
	unsigned int users;
	u64 k;

	for (k = 0; k < LM_WALK_KEYS; k++)
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, k, k), 0);
	lm_op_init(&oh, ctx, 5);
	lm_op_init(&oc, ctx, 0);

	held = lm_hold(test, &th, &oh);
	lm_thread_start(test, &tc, lm_th_clear, &oc);
	blocked = lm_thread_wait_blocked(&tc);
	users = lm_key_users(map, 5);
	waiting = !completion_done(&tc.done);
	lm_release(test, &th, &oh);
	lm_join(test, &tc);

	KUNIT_EXPECT_TRUE(test, held);
	KUNIT_EXPECT_TRUE(test, blocked);
	KUNIT_EXPECT_TRUE(test, waiting);
	KUNIT_EXPECT_EQ(test, users, 2);
	/* Every value disposed of exactly once, the held one included. */
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 0);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), LM_WALK_KEYS);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live), 0);
	for (k = 0; k < LM_WALK_KEYS; k++)
		KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(k), LM_KLEN),
				0);

	/* The map is usable afterwards; clearing an empty map is a no-op. */
	KUNIT_EXPECT_EQ(test, lm_put(test, ctx, 1, 1), 0);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 1), 1);
	lockmap_clear(map);
	lockmap_clear(map);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), LM_WALK_KEYS + 1);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 0);
}

/* retain() from a kthread while another holds key 5, which must go. */
static void lm_test_retain(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_thread th = {}, tr = {};
	bool held, blocked, waiting;
	struct lm_op oh, orr;
	unsigned int users;
	u64 k;

	for (k = 0; k < 16; k++)
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, k, k), 0);
	lm_op_init(&oh, ctx, 5);
	lm_op_init(&orr, ctx, 0);

	held = lm_hold(test, &th, &oh);
	lm_thread_start(test, &tr, lm_th_retain, &orr);
	blocked = lm_thread_wait_blocked(&tr);
	users = lm_key_users(map, 5);
	waiting = !completion_done(&tr.done);
	lm_release(test, &th, &oh);
	lm_join(test, &tr);

	KUNIT_EXPECT_TRUE(test, held);
	KUNIT_EXPECT_TRUE(test, blocked);
	KUNIT_EXPECT_TRUE(test, waiting);
	KUNIT_EXPECT_EQ(test, users, 2);
	KUNIT_EXPECT_GE(test, orr.visits, 16);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 8);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 8);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 8);
	for (k = 0; k < 16; k++) {
		if (k & 1)
			KUNIT_EXPECT_EQ(test,
					lockmap_contains(map, LM_KEY(k),
							 LM_KLEN), 0);
		else
			KUNIT_EXPECT_EQ(test, lm_getv(map, k), k | LM_KEPT);
	}
}

/*
 * What a walk waiting for a held key leaves free: lm_th_others() inserts,
 * reads and removes two new keys, one in the held key's shard and one in
 * another, and reads an old key of each.
 */
struct lm_others {
	struct lm_ctx *ctx;
	u64 k[2];		/* new keys */
	u64 old[2];		/* present keys, values 10 * key */
	bool read_old;		/* not while a clear() may take them */
};

static int lm_th_others(struct lm_thread *t)
{
	struct lm_others *o = t->arg;
	struct lockmap *map = o->ctx->map;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(o->k); i++) {
		struct lm_val *val = kmalloc(sizeof(*val), GFP_KERNEL);

		if (!val)
			return -ENOMEM;
		val->v = 77;
		atomic_inc(&o->ctx->live);
		if (lockmap_insert(map, LM_KEY(o->k[i]), LM_KLEN, val, NULL)) {
			lm_val_free(val, o->ctx);
			return 1;
		}
		if (lm_getv(map, o->k[i]) != 77)
			return 2;
		/* retain() may have marked it kept already */
		if (o->read_old &&
		    (lm_getv(map, o->old[i]) & ~LM_KEPT) != 10 * o->old[i])
			return 3;
	}
	for (i = 0; i < ARRAY_SIZE(o->k); i++)
		if (lockmap_remove(map, LM_KEY(o->k[i]), LM_KLEN, NULL))
			return 4;
	return 0;
}

enum lm_walk_kind { LM_FOR_EACH, LM_RETAIN, LM_CLEAR };

/*
 * A walk waiting for held key 5 holds nothing else: neither the map nor key
 * 5's shard (its keys included), for each kind of walk.  Keys 0..7 and one
 * more of key 5's shard hold 10 * key; then the walk ends as it would have
 * without the detour.
 */
static void lm_walk_others_case(struct kunit *test, enum lm_walk_kind kind)
{
	static int (*const fn[])(struct lm_thread *t) = {
		[LM_FOR_EACH] = lm_th_walk,
		[LM_RETAIN] = lm_th_retain,
		[LM_CLEAR] = lm_th_clear,
	};
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_thread th = {}, tw = {}, to = {};
	struct lm_others o = { .ctx = ctx, .read_old = kind != LM_CLEAR };
	bool held, blocked, others_done, waiting;
	const int nr_old = LM_WALK_KEYS + 1;
	struct lm_op oh, ow;
	u64 k;

	KUNIT_ASSERT_GT(test, map->shard_mask, 0);
	for (k = 0; k < LM_WALK_KEYS; k++)
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, k, 10 * k), 0);
	o.k[0] = lm_key_near(test, map, 5, 100, true);
	o.k[1] = lm_key_near(test, map, 5, 100, false);
	o.old[0] = lm_key_near(test, map, 5, o.k[0] + 1, true);
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, o.old[0], 10 * o.old[0]), 0);
	o.old[1] = lm_key_near(test, map, 5, 0, false);
	KUNIT_ASSERT_LT(test, o.old[1], LM_WALK_KEYS);
	lm_op_init(&oh, ctx, 5);
	lm_op_init(&ow, ctx, 0);

	held = lm_hold(test, &th, &oh);
	lm_thread_start(test, &tw, fn[kind], &ow);
	blocked = lm_thread_wait_blocked(&tw);
	lm_thread_start(test, &to, lm_th_others, &o);
	others_done = lm_thread_join(&to);
	waiting = !completion_done(&tw.done);
	lm_release(test, &th, &oh);
	lm_join(test, &tw);
	if (!others_done)
		lm_join(test, &to);

	KUNIT_EXPECT_TRUE(test, held);
	KUNIT_EXPECT_TRUE(test, blocked);
	KUNIT_EXPECT_TRUE_MSG(test, others_done,
			      "other keys waited for the walk");
	KUNIT_EXPECT_EQ(test, to.ret, 0);
	KUNIT_EXPECT_TRUE(test, waiting);
	KUNIT_EXPECT_EQ(test, tw.ret, 0);
	for (k = 0; k < ARRAY_SIZE(o.k); k++)
		KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(o.k[k]),
						       LM_KLEN), 0);
	switch (kind) {
	case LM_FOR_EACH:
		/* Each old key once, and the new ones if they were there. */
		KUNIT_EXPECT_GE(test, ow.visits, nr_old);
		KUNIT_EXPECT_EQ(test, lockmap_len(map), nr_old);
		KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 2);
		break;
	case LM_RETAIN:
		KUNIT_EXPECT_GE(test, ow.visits, nr_old);
		KUNIT_EXPECT_EQ(test, lockmap_len(map), nr_old);
		KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 2);
		for (k = 0; k < LM_WALK_KEYS; k++)
			KUNIT_EXPECT_EQ(test, lm_getv(map, k),
					(10 * k) | LM_KEPT);
		KUNIT_EXPECT_EQ(test, lm_getv(map, o.old[0]),
				(10 * o.old[0]) | LM_KEPT);
		break;
	case LM_CLEAR:
		KUNIT_EXPECT_EQ(test, lockmap_len(map), 0);
		KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), nr_old + 2);
		break;
	}
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live) +
			atomic_read(&ctx->frees), nr_old + 2);
}

static void lm_test_walk_others_go_on(struct kunit *test)
{
	lm_walk_others_case(test, LM_FOR_EACH);
}

static void lm_test_retain_others_go_on(struct kunit *test)
{
	lm_walk_others_case(test, LM_RETAIN);
}

static void lm_test_clear_others_go_on(struct kunit *test)
{
	lm_walk_others_case(test, LM_CLEAR);
}

struct lm_reject {
	u64 a, b;
};

static bool lm_keep_not_ab(const void *key, size_t key_len, void *value,
			   void *arg)
{
	struct lm_reject *r = arg;
	u64 k;

	memcpy(&k, key, sizeof(k));
	return k != r->a && k != r->b;
}

/*
 * Two keys that share a hash bucket, both rejected by retain(): the walk
 * must dispose of both, whatever their order in the bucket's chain.  Enough
 * other keys stay in the shard that its table is not resized meanwhile, so
 * that the two stay in one bucket.  The keys are chosen with the map's own
 * hash function (white box).
 */
static void lm_test_retain_same_bucket(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 1);
	struct lm_reject r = {};
	const u32 mask = 1023;	/* same bucket in any table up to 1024 */
	u32 h;
	u64 k;

	r.b = 1000;
	h = lm_key_hash(map, r.b) & mask;
	for (k = r.b + 1; k < r.b + 64 * 1024 && !r.a; k++)
		if ((lm_key_hash(map, k) & mask) == h)
			r.a = k;
	KUNIT_ASSERT_NE(test, r.a, 0);
	for (k = 0; k < 28; k++)
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, k, k), 0);
	/* b then a: a heads the chain, b follows it. */
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, r.b, r.b), 0);
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, r.a, r.a), 0);

	lockmap_retain(map, lm_keep_not_ab, &r);

	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(r.a), LM_KLEN), 0);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(r.b), LM_KLEN), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 2);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 28);
	for (k = 0; k < 28; k++)
		KUNIT_EXPECT_EQ(test, lm_getv(map, k), k);
}

static void lm_test_destructor_once(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap_params p = {
		.key_len = sizeof(u64),
		.free_value = lm_val_free,
		.priv = ctx,
		.lock_kind = lm_lock_kind(test),
	};
	unsigned int calls = 0;
	u64 k;

	ctx->map = lockmap_create(&p);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ctx->map);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, lm_destroy_fn,
							   ctx->map));
	for (k = 0; k < 10; k++)
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, k, 2 * k), 0);

	/* insert over, remove */
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 0, 100), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 1);
	KUNIT_EXPECT_EQ(test, lockmap_remove(ctx->map, LM_KEY(1), LM_KLEN,
					     NULL), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 2);
	/* Make key 2 odd so that retain drops exactly it. */
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 2, 3), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 3);
	lockmap_retain(ctx->map, lm_keep_even, &calls);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 4);
	KUNIT_EXPECT_EQ(test, lockmap_len(ctx->map), 8);
	lockmap_clear(ctx->map);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 12);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live), 0);

	for (k = 0; k < 5; k++)
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, k, k), 0);
	/* Destroy disposes of what is left, once each. */
	kunit_release_action(test, lm_destroy_fn, ctx->map);
	ctx->map = NULL;
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 17);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->live), 0);
}

/* Keys */

static void lm_test_varlen_keys(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap_params p = {
		.max_key_len = 64,
		.free_value = lm_val_free,
	};
	static const char *const names[] = { "a", "ab", "abc" };
	struct lockmap_key keys[3];
	struct lockmap_batch *b;
	struct lockmap_entry *e;
	struct lockmap *map;
	struct lm_val *val;
	char big[65];
	unsigned int i;
	size_t len = 0;
	u64 v;

	map = lm_create(test, ctx, &p);
	for (i = 0; i < 3; i++) {
		val = lm_val_new(test, ctx, i + 1);
		KUNIT_EXPECT_EQ(test, lockmap_insert(map, names[i], i + 1, val,
						     NULL), 0);
	}
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 3);
	for (i = 0; i < 3; i++) {
		v = 0;
		KUNIT_EXPECT_EQ(test, lockmap_get(map, names[i], i + 1,
						  lm_val_copy, &v), 0);
		KUNIT_EXPECT_EQ(test, v, i + 1);
	}
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, "abcd", 4), 0);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, "b", 1), 0);

	KUNIT_EXPECT_EQ(test, lockmap_remove(map, "ab", 2, NULL), 0);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, "a", 1), 1);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, "ab", 2), 0);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, "abc", 3), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 1);

	e = lockmap_entry(map, "abc", 3);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	KUNIT_EXPECT_EQ(test, memcmp(lockmap_entry_key(map, e, &len), "abc", 3), 0);
	KUNIT_EXPECT_EQ(test, len, 3);
	lockmap_entry_unlock(map, e);

	/* The longest key the map allows, and one byte more. */
	memset(big, 'z', sizeof(big));
	val = lm_val_new(test, ctx, 64);
	e = lockmap_entry(map, big, 64);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	lockmap_entry_set(map, e, val);
	lockmap_entry_unlock(map, e);
	v = 0;
	KUNIT_EXPECT_EQ(test, lockmap_get(map, big, 64, lm_val_copy, &v), 0);
	KUNIT_EXPECT_EQ(test, v, 64);
	KUNIT_EXPECT_EQ(test, lockmap_get(map, big, 63, lm_val_copy, &v),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, lockmap_get(map, big, 65, lm_val_copy, &v),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, big, 65), -EINVAL);
	KUNIT_EXPECT_EQ(test, lockmap_remove(map, big, 65, NULL), -EINVAL);
	e = lockmap_entry(map, big, 65);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(e), -EINVAL);
	/* No key at all. */
	e = lockmap_entry(map, "a", 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(e), -EINVAL);
	e = lockmap_try_entry(map, NULL, 1);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(e), -EINVAL);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, "a", 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, lockmap_get(map, NULL, 1, NULL, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, lockmap_remove(map, NULL, 1, NULL), -EINVAL);

	/* Prefixes are distinct in a batch too. */
	for (i = 0; i < 3; i++)
		keys[i] = (struct lockmap_key){ names[i % 2], i % 2 + 1 };
	b = lockmap_batch_lock(map, keys, 3, LOCKMAP_WAIT);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	KUNIT_EXPECT_EQ(test, lockmap_batch_count(b), 2);
	e = lockmap_batch_find(b, "a", 1);
	KUNIT_EXPECT_NOT_NULL(test, e ? lockmap_entry_value(e) : NULL);
	e = lockmap_batch_find(b, "ab", 2);
	KUNIT_EXPECT_NOT_NULL(test, e);
	KUNIT_EXPECT_NULL(test, e ? lockmap_entry_value(e) : NULL);
	KUNIT_EXPECT_NULL(test, lockmap_batch_find(b, "abc", 3));
	lockmap_batch_unlock(map, b);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 3);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 3);
}

struct lm_key_check {
	const char *bytes;	/* every key is a prefix of these */
	unsigned int seen;	/* bit n: the key of length n was visited */
	unsigned int wrong;
};

static int lm_check_prefix_key(const void *key, size_t key_len, void *value,
			       void *arg)
{
	struct lm_key_check *c = arg;

	if (key_len >= 32 || memcmp(key, c->bytes, key_len) ||
	    ((struct lm_val *)value)->v != key_len || c->seen & BIT(key_len))
		c->wrong++;
	else
		c->seen |= BIT(key_len);
	return 0;
}

/*
 * Every key length a variable-length map stores its own way (the length in
 * front of the bytes), across the 8-byte hashing shortcut: keys that are
 * prefixes of one another stay distinct and come back whole.
 */
static void lm_test_key_lengths(struct kunit *test)
{
	static const char bytes[] = "0123456789abcdefghij";	/* 20 + NUL */
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap_params p = {
		.max_key_len = 24,
		.free_value = lm_val_free,
	};
	struct lm_key_check c = { .bytes = bytes };
	struct lockmap *map = lm_create(test, ctx, &p);
	struct lockmap_entry *e;
	const void *kp;
	size_t len;
	u64 v;

	for (len = 1; len <= 20; len++)
		KUNIT_ASSERT_EQ(test, lockmap_insert(map, bytes, len,
						     lm_val_new(test, ctx, len),
						     NULL), 0);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 20);
	for (len = 1; len <= 20; len++) {
		v = 0;
		KUNIT_EXPECT_EQ(test, lockmap_get(map, bytes, len, lm_val_copy,
						  &v), 0);
		KUNIT_EXPECT_EQ_MSG(test, v, len, "key length %zu", len);
	}
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, bytes, 21), 0);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, "01234567X", 9), 0);

	e = lockmap_entry(map, bytes, 8);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	kp = lockmap_entry_key(map, e, &len);
	KUNIT_EXPECT_EQ(test, len, 8);
	KUNIT_EXPECT_EQ(test, memcmp(kp, bytes, 8), 0);
	lockmap_entry_unlock(map, e);

	KUNIT_EXPECT_EQ(test, lockmap_for_each(map, lm_check_prefix_key, &c),
			0);
	KUNIT_EXPECT_EQ(test, c.wrong, 0);
	KUNIT_EXPECT_EQ(test, c.seen, GENMASK(20, 1));
}

/*
 * A batch longer than what it sorts on the stack: duplicates still fold,
 * the entries come in locking (hash) order, and a bad key late in the
 * batch leaves nothing behind.
 */
static void lm_test_batch_long(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lockmap_key keys[20];
	struct lockmap_batch *b;
	unsigned int i, n;
	u64 k[20];

	for (i = 0; i < ARRAY_SIZE(k); i++) {
		k[i] = i % 12;
		keys[i] = (struct lockmap_key){ &k[i], sizeof(u64) };
	}
	b = lockmap_batch_lock(map, keys, ARRAY_SIZE(keys), LOCKMAP_WAIT);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	n = lockmap_batch_count(b);
	KUNIT_EXPECT_EQ(test, n, 12);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 12);
	for (i = 1; i < n; i++)
		KUNIT_EXPECT_LE_MSG(test, lockmap_batch_entry(b, i - 1)->hash,
				    lockmap_batch_entry(b, i)->hash,
				    "entries %u and %u out of order", i - 1, i);
	for (i = 0; i < 12; i++)
		KUNIT_EXPECT_NOT_NULL(test, lockmap_batch_find(b, &k[i],
							       sizeof(u64)));
	lockmap_batch_unlock(map, b);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 0);

	keys[15].len = 3;
	b = lockmap_batch_lock(map, keys, ARRAY_SIZE(keys), LOCKMAP_WAIT);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(b), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 0);
}

static void lm_test_fixed_len_keys(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_val *v = lm_val_new(test, ctx, 1);
	u8 key[16] = { 1 };
	struct lockmap_entry *e;
	static const size_t bad[] = { 0, 1, 4, 7, 9, 16 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		KUNIT_EXPECT_EQ(test, lockmap_insert(map, key, bad[i], v, NULL),
				-EINVAL);
		KUNIT_EXPECT_EQ(test, lockmap_get(map, key, bad[i], NULL, NULL),
				-EINVAL);
		KUNIT_EXPECT_EQ(test, lockmap_contains(map, key, bad[i]),
				-EINVAL);
		KUNIT_EXPECT_EQ(test, lockmap_remove(map, key, bad[i], NULL),
				-EINVAL);
		e = lockmap_try_entry(map, key, bad[i]);
		KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(e), -EINVAL);
	}
	KUNIT_EXPECT_EQ(test, lockmap_insert(map, NULL, 8, v, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 0);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);
	/* The right length works; v was never taken. */
	KUNIT_EXPECT_EQ(test, lockmap_insert(map, key, 8, v, NULL), 0);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, key, 8), 1);
}

/* Failures and limits */

#ifdef CONFIG_FAULT_INJECTION
struct lm_fail_saved {
	unsigned long probability, interval, verbose, count;
	int times;
};

static struct lm_fail_saved lm_fail_saved;

static void lm_fail_disarm(void *unused)
{
	lockmap_fail_alloc.probability = lm_fail_saved.probability;
	lockmap_fail_alloc.interval = lm_fail_saved.interval;
	lockmap_fail_alloc.verbose = lm_fail_saved.verbose;
	lockmap_fail_alloc.count = lm_fail_saved.count;
	atomic_set(&lockmap_fail_alloc.times, lm_fail_saved.times);
}

/* Makes the @nth next lockmap allocation fail, once, silently. */
static void lm_fail_arm(struct kunit *test, unsigned long nth)
{
	lm_fail_saved = (struct lm_fail_saved){
		.probability = lockmap_fail_alloc.probability,
		.interval = lockmap_fail_alloc.interval,
		.verbose = lockmap_fail_alloc.verbose,
		.count = lockmap_fail_alloc.count,
		.times = atomic_read(&lockmap_fail_alloc.times),
	};
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test,
							   lm_fail_disarm,
							   NULL));
	lockmap_fail_alloc.verbose = 0;	/* a stack dump is a splat */
	lockmap_fail_alloc.count = 0;
	lockmap_fail_alloc.interval = nth;
	atomic_set(&lockmap_fail_alloc.times, 1);
	lockmap_fail_alloc.probability = 100;
}

static void lm_fail_done(struct kunit *test)
{
	kunit_release_action(test, lm_fail_disarm, NULL);
}
#endif

static void lm_test_alloc_failure_insert(struct kunit *test)
{
#ifdef CONFIG_FAULT_INJECTION
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	struct lm_val *v = lm_val_new(test, ctx, 3);
	struct lockmap_entry *e;
	int err;

	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 1), 0);
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 2, 2), 0);

	lm_fail_arm(test, 1);
	err = lockmap_insert(map, LM_KEY(3), LM_KLEN, v, NULL);
	lm_fail_done(test);
	KUNIT_EXPECT_EQ(test, err, -ENOMEM);
	if (err)
		lm_val_free(v, ctx);	/* not consumed */
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 2);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 2);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(3), LM_KLEN), 0);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 1), 1);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 2), 2);

	lm_fail_arm(test, 1);
	e = lockmap_entry(map, LM_KEY(4), LM_KLEN);
	lm_fail_done(test);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(e), -ENOMEM);
	if (!IS_ERR(e))
		lockmap_entry_unlock(map, e);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 2);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), err ? 1 : 0);

	/* Disarmed, the same insert works. */
	KUNIT_EXPECT_EQ(test, lm_put(test, ctx, 3, 3), 0);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 3), 3);
#else
	kunit_skip(test, "needs CONFIG_FAULT_INJECTION");
#endif
}

static void lm_test_alloc_failure_batch(struct kunit *test)
{
#ifdef CONFIG_FAULT_INJECTION
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	static const u64 k[] = { 1, 5, 6, 7 };
	struct lockmap_key keys[ARRAY_SIZE(k)];
	struct lockmap_batch *b;
	unsigned int i;
	int err;

	for (i = 0; i < ARRAY_SIZE(k); i++)
		keys[i] = (struct lockmap_key){ &k[i], sizeof(u64) };
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 1), 0);
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 2, 2), 0);

	/* The batch's own allocation. */
	lm_fail_arm(test, 1);
	b = lockmap_batch_lock(map, keys, ARRAY_SIZE(keys), LOCKMAP_WAIT);
	lm_fail_done(test);
	err = PTR_ERR_OR_ZERO(b);
	if (!IS_ERR(b))
		lockmap_batch_unlock(map, b);
	KUNIT_EXPECT_EQ(test, err, -ENOMEM);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 2);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 1), 1);

	/*
	 * The second new key's entry (third allocation): one new entry was
	 * made already and must go again, key 1 must be let go.
	 */
	lm_fail_arm(test, 3);
	b = lockmap_batch_lock(map, keys, ARRAY_SIZE(keys), LOCKMAP_WAIT);
	lm_fail_done(test);
	err = PTR_ERR_OR_ZERO(b);
	if (!IS_ERR(b))
		lockmap_batch_unlock(map, b);
	KUNIT_EXPECT_EQ(test, err, -ENOMEM);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 2);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 2);
	for (i = 0; i < ARRAY_SIZE(k); i++)
		KUNIT_EXPECT_EQ(test, lm_key_users(map, k[i]), i ? 0 : 1);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 1), 1);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 2), 2);

	/* Nothing is held: the batch now goes through. */
	b = lockmap_batch_lock(map, keys, ARRAY_SIZE(keys), LOCKMAP_NOWAIT);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	KUNIT_EXPECT_EQ(test, lockmap_batch_count(b), ARRAY_SIZE(k));
	lockmap_batch_unlock(map, b);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 2);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);
#else
	kunit_skip(test, "needs CONFIG_FAULT_INJECTION");
#endif
}

/* A full cache evicts for a new key only once its entry is allocated. */
static void lm_test_alloc_failure_full_cache(struct kunit *test)
{
#ifdef CONFIG_FAULT_INJECTION
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap_params p = {
		.key_len = sizeof(u64),
		.nr_shards = 1,
		.capacity = 8,
		.max_entries = 2,
		.free_value = lm_val_free,
	};
	struct lockmap *map = lm_create(test, ctx, &p);
	struct lockmap_stats st;
	int err;

	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 1), 0);
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 2, 2), 0);

	lm_fail_arm(test, 1);
	err = lm_put(test, ctx, 3, 3);
	lm_fail_done(test);
	KUNIT_EXPECT_EQ(test, err, -ENOMEM);
	lockmap_get_stats(map, &st);
	KUNIT_EXPECT_EQ(test, st.evictions, 0);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 2);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 1), 1);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 2), 2);

	/* Disarmed, the insert evicts the coldest key, 1. */
	KUNIT_EXPECT_EQ(test, lm_put(test, ctx, 3, 3), 0);
	lockmap_get_stats(map, &st);
	KUNIT_EXPECT_EQ(test, st.evictions, 1);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 1), LM_NONE);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 3), 3);
#else
	kunit_skip(test, "needs CONFIG_FAULT_INJECTION");
#endif
}

static void lm_test_max_entries(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap_params p = {
		.key_len = sizeof(u64),
		.max_entries = 2,
		.free_value = lm_val_free,
	};
	static const u64 k[] = { 1, 3 };
	struct lockmap_key keys[2] = {
		{ &k[0], sizeof(u64) }, { &k[1], sizeof(u64) },
	};
	struct lockmap *map = lm_create(test, ctx, &p);
	struct lockmap_batch *b;
	struct lockmap_entry *e, *e3;
	int err3;

	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 1), 0);
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 2, 2), 0);
	KUNIT_EXPECT_EQ(test, lm_put(test, ctx, 3, 3), -ENOSPC);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 2);
	KUNIT_EXPECT_EQ(test, lm_slots(map), 2);
	KUNIT_EXPECT_EQ(test, lockmap_contains(map, LM_KEY(3), LM_KLEN), 0);
	e = lockmap_entry(map, LM_KEY(3), LM_KLEN);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(e), -ENOSPC);
	if (!IS_ERR(e))
		lockmap_entry_unlock(map, e);
	b = lockmap_batch_lock(map, keys, 2, LOCKMAP_WAIT);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(b), -ENOSPC);
	if (!IS_ERR(b))
		lockmap_batch_unlock(map, b);
	KUNIT_EXPECT_EQ(test, lm_key_users(map, 1), 1);
	/* Existing keys still take new values. */
	KUNIT_EXPECT_EQ(test, lm_put(test, ctx, 1, 10), 0);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 1), 10);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 2), 2);

	/* A held empty key takes a slot as well. */
	KUNIT_EXPECT_EQ(test, lockmap_remove(map, LM_KEY(2), LM_KLEN, NULL),
			0);
	e = lockmap_entry(map, LM_KEY(4), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	e3 = lockmap_try_entry(map, LM_KEY(3), LM_KLEN);
	err3 = PTR_ERR_OR_ZERO(e3);
	if (!IS_ERR(e3))
		lockmap_entry_unlock(map, e3);
	lockmap_entry_unlock(map, e);
	KUNIT_EXPECT_EQ(test, err3, -ENOSPC);

	/* Room again. */
	KUNIT_EXPECT_EQ(test, lm_put(test, ctx, 3, 3), 0);
	KUNIT_EXPECT_EQ(test, lm_getv(map, 3), 3);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 2);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 3);
}

/* Tasks locking one absent key of a full map, each as often as it can. */
struct lm_full_race {
	struct lockmap *map;
	struct completion *start;
	atomic_t enospc;	/* the key refused although it was the key */
	atomic_t other;		/* any other error */
	atomic_t locked;
};

static int lm_th_lock_new_key(struct lm_thread *t)
{
	struct lm_full_race *r = t->arg;
	unsigned long end;
	unsigned int i;

	wait_for_completion(r->start);
	end = jiffies + HZ / 2;
	for (i = 0; i < 20000 && time_before(jiffies, end); i++) {
		struct lockmap_entry *e = lockmap_entry(r->map, LM_KEY(2),
							LM_KLEN);

		if (IS_ERR(e)) {
			atomic_inc(PTR_ERR(e) == -ENOSPC ? &r->enospc :
							   &r->other);
			continue;
		}
		atomic_inc(&r->locked);
		lockmap_entry_unlock(r->map, e);	/* empty: it goes */
	}
	return 0;
}

/*
 * One slot left and two tasks creating the same key in it: whichever loses
 * the insertion locks the winner's entry, never -ENOSPC, though the winner's
 * entry filled the map while the loser got ready to insert its own.
 */
static void lm_test_max_entries_same_new_key(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap_params p = {
		.key_len = sizeof(u64),
		.max_entries = 2,
		.free_value = lm_val_free,
	};
	struct lm_full_race *r = kunit_kzalloc(test, sizeof(*r), GFP_KERNEL);
	struct lm_thread *t = kunit_kcalloc(test, 2, sizeof(*t), GFP_KERNEL);
	DECLARE_COMPLETION_ONSTACK(start);
	int i;

	KUNIT_ASSERT_NOT_NULL(test, r);
	KUNIT_ASSERT_NOT_NULL(test, t);
	r->map = lm_create(test, ctx, &p);
	r->start = &start;
	KUNIT_ASSERT_EQ(test, lm_put(test, ctx, 1, 1), 0);
	for (i = 0; i < 2; i++)
		lm_thread_start(test, &t[i], lm_th_lock_new_key, r);
	complete_all(&start);
	for (i = 0; i < 2; i++)
		lm_join(test, &t[i]);
	KUNIT_EXPECT_EQ(test, atomic_read(&r->enospc), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&r->other), 0);
	KUNIT_EXPECT_GT(test, atomic_read(&r->locked), 0);
	KUNIT_EXPECT_EQ(test, lm_slots(r->map), 1);
	/* The map is still full for any other key. */
	KUNIT_EXPECT_EQ(test, lm_put(test, ctx, 2, 2), 0);
	KUNIT_EXPECT_EQ(test, lm_put(test, ctx, 3, 3), -ENOSPC);
}

/*
 * Which allocations ask for memcg accounting, seen through the slab
 * tracepoints: a map made with __GFP_ACCOUNT in &lockmap_params.gfp charges
 * itself (its shards), its entries (keys inline) and its batches to the
 * caller's memcg; one made without charges none of them.  (The entry cache
 * has no SLAB_ACCOUNT: entries are charged per allocation, by the gfp.)
 * Records only this task's allocations in task context.
 */
#define LM_ALLOCS	512

struct lm_allocs {
	struct task_struct *task;
	unsigned int nr;
	bool lost;
	struct {
		const void *ptr;
		gfp_t gfp;
	} a[LM_ALLOCS];
};

static void lm_note_alloc(struct lm_allocs *r, const void *ptr, gfp_t gfp)
{
	if (current != r->task || !in_task() || !ptr)
		return;
	if (r->nr == LM_ALLOCS) {
		r->lost = true;
		return;
	}
	r->a[r->nr].ptr = ptr;
	r->a[r->nr].gfp = gfp;
	r->nr++;
}

static void lm_probe_kmalloc(void *data, unsigned long call_site,
			     const void *ptr, size_t bytes_req,
			     size_t bytes_alloc, gfp_t gfp_flags, int node)
{
	lm_note_alloc(data, ptr, gfp_flags);
}

static void lm_probe_cache_alloc(void *data, unsigned long call_site,
				 const void *ptr, struct kmem_cache *s,
				 gfp_t gfp_flags, int node)
{
	lm_note_alloc(data, ptr, gfp_flags);
}

static void lm_unprobe_kmalloc(void *data)
{
	unregister_trace_kmalloc(lm_probe_kmalloc, data);
	tracepoint_synchronize_unregister();
}

static void lm_unprobe_cache_alloc(void *data)
{
	unregister_trace_kmem_cache_alloc(lm_probe_cache_alloc, data);
	tracepoint_synchronize_unregister();
}

/*
 * 1 if the latest allocation recorded at @ptr asked for accounting, 0 if it
 * did not, -1 if none was recorded there.
 */
static int lm_accounted(struct lm_allocs *r, const void *ptr)
{
	unsigned int i = r->nr;

	while (i--)
		if (r->a[i].ptr == ptr)
			return !!(r->a[i].gfp & __GFP_ACCOUNT);
	return -1;
}

/*
 * Creates a map as @p says, inserts and locks a key, locks a batch, and
 * checks that the map, the entry and the batch were allocated with
 * accounting iff @p asks for it.
 */
static void lm_check_account(struct kunit *test, struct lm_allocs *r,
			     struct lockmap_params *p)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	int want = !!(p->gfp & __GFP_ACCOUNT);
	struct lockmap_key keys[2];
	const char *k1 = "key-one!", *k2 = "key-two!";
	int acct_map, acct_entry, acct_batch;
	struct lockmap_batch *b;
	struct lockmap_entry *e;
	struct lockmap *map;
	u64 v = 0;

	keys[0] = (struct lockmap_key){ k1, 8 };
	keys[1] = (struct lockmap_key){ k2, 8 };
	map = lm_create(test, ctx, p);
	acct_map = lm_accounted(r, map);
	KUNIT_EXPECT_EQ(test, lockmap_insert(map, k1, 8,
					     lm_val_new(test, ctx, 1), NULL),
			0);
	e = lockmap_entry(map, k1, 8);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	acct_entry = lm_accounted(r, (char *)e - map->prefix);
	lockmap_entry_unlock(map, e);
	b = lockmap_batch_lock(map, keys, ARRAY_SIZE(keys), LOCKMAP_WAIT);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	acct_batch = lm_accounted(r, b);
	KUNIT_EXPECT_EQ(test, lockmap_batch_count(b), 2);
	e = lockmap_batch_find(b, k2, 8);
	KUNIT_ASSERT_NOT_NULL(test, e);
	lockmap_entry_set(map, e, lm_val_new(test, ctx, 2));
	lockmap_batch_unlock(map, b);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 2);
	KUNIT_EXPECT_EQ(test, lockmap_get(map, k2, 8, lm_val_copy, &v), 0);
	KUNIT_EXPECT_EQ(test, v, 2);

	KUNIT_EXPECT_FALSE(test, r->lost);
	KUNIT_EXPECT_EQ_MSG(test, acct_map, want, "the map (key_len %u)",
			    p->key_len);
	KUNIT_EXPECT_EQ_MSG(test, acct_entry, want, "an entry (key_len %u)",
			    p->key_len);
	KUNIT_EXPECT_EQ_MSG(test, acct_batch, want, "a batch (key_len %u)",
			    p->key_len);
}

static void lm_test_gfp_account(struct kunit *test)
{
	struct lm_allocs *r = kunit_kzalloc(test, sizeof(*r), GFP_KERNEL);
	struct lockmap_params p = { .free_value = lm_val_free };
	int err;

	if (!IS_ENABLED(CONFIG_TRACEPOINTS))
		kunit_skip(test, "needs CONFIG_TRACEPOINTS");
	KUNIT_ASSERT_NOT_NULL(test, r);
	r->task = current;
	err = register_trace_kmalloc(lm_probe_kmalloc, r);
	KUNIT_ASSERT_EQ(test, err, 0);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test,
							   lm_unprobe_kmalloc,
							   r));
	err = register_trace_kmem_cache_alloc(lm_probe_cache_alloc, r);
	KUNIT_ASSERT_EQ(test, err, 0);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, lm_unprobe_cache_alloc,
						  r));

	/* Fixed-length keys (an entry cache) and variable (kmalloc). */
	p.key_len = 8;
	p.gfp = GFP_KERNEL_ACCOUNT;
	lm_check_account(test, r, &p);
	p.gfp = 0;
	lm_check_account(test, r, &p);
	p.key_len = 0;
	p.max_key_len = 32;
	p.gfp = GFP_KERNEL_ACCOUNT;
	lm_check_account(test, r, &p);
	p.gfp = GFP_KERNEL;
	lm_check_account(test, r, &p);
}

static void lm_test_stats(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 4);
	struct lockmap_stats st;
	struct lockmap_entry *e;
	u64 k;

	lockmap_get_stats(map, &st);
	KUNIT_EXPECT_EQ(test, st.len, 0);
	KUNIT_EXPECT_EQ(test, st.slots, 0);
	KUNIT_EXPECT_EQ(test, st.nr_shards, 4);
	for (k = 0; k < 3; k++)
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, k, k), 0);
	e = lockmap_entry(map, LM_KEY(10), LM_KLEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, e);
	memset(&st, 0xff, sizeof(st));
	lockmap_get_stats(map, &st);
	lockmap_entry_unlock(map, e);
	KUNIT_EXPECT_EQ(test, st.len, 3);
	KUNIT_EXPECT_EQ(test, st.slots, 4);
	KUNIT_EXPECT_EQ(test, st.nr_shards, 4);
	KUNIT_EXPECT_EQ(test, st.capacity, 0);
	KUNIT_EXPECT_EQ(test, st.evictions, 0);
	KUNIT_EXPECT_EQ(test, st.evict_skipped, 0);

	KUNIT_EXPECT_EQ(test, lockmap_remove(map, LM_KEY(0), LM_KLEN, NULL), 0);
	lockmap_get_stats(map, &st);
	KUNIT_EXPECT_EQ(test, st.len, 2);
	KUNIT_EXPECT_EQ(test, st.slots, 2);
}

static void lm_test_lru_calls_on_plain_map(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap *map = lm_map(test, ctx, 0);
	void *value = NULL;
	size_t len = sizeof(u64);
	u64 kbuf = 0;
	u64 k;

	for (k = 0; k < 4; k++)
		KUNIT_ASSERT_EQ(test, lm_put(test, ctx, k, k), 0);
	KUNIT_EXPECT_EQ(test, lockmap_pop_lru(map, &kbuf, &len, &value),
			-EINVAL);
	KUNIT_EXPECT_NULL(test, value);
	KUNIT_EXPECT_EQ(test, lockmap_set_capacity(map, 2), -EINVAL);
	KUNIT_EXPECT_EQ(test, lockmap_shrink(map, 100), 0);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 4);
	KUNIT_EXPECT_EQ(test, atomic_read(&ctx->frees), 0);
	for (k = 0; k < 4; k++)
		KUNIT_EXPECT_EQ(test, lm_getv(map, k), k);
}

static void lm_test_blob(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lockmap_params p = { .free_value = lockmap_blob_free };
	static const char text[] = "hello, lockmap";
	const size_t n = sizeof(text) - 1;
	struct lockmap *map = lm_create(test, ctx, &p);
	struct lockmap_blob *blob, *empty, *spare;
	u8 out[32];
	struct lockmap_buf buf = { .data = out };
	unsigned int i;

	blob = lockmap_blob_new(text, n, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, blob);
	KUNIT_EXPECT_EQ(test, blob->len, n);
	KUNIT_EXPECT_EQ(test, memcmp(blob->data, text, n), 0);
	if (lockmap_insert(map, "k", 1, blob, NULL)) {
		lockmap_blob_free(blob, NULL);
		KUNIT_FAIL(test, "insert failed");
	}

	/* Whole copy. */
	memset(out, 0xa5, sizeof(out));
	buf.size = sizeof(out);
	KUNIT_EXPECT_EQ(test, lockmap_get(map, "k", 1, lockmap_blob_copy, &buf),
			0);
	KUNIT_EXPECT_EQ(test, buf.len, n);
	KUNIT_EXPECT_EQ(test, memcmp(out, text, n), 0);
	KUNIT_EXPECT_EQ(test, out[n], 0xa5);

	/* Truncated copy: size bytes, but the full length reported. */
	memset(out, 0xa5, sizeof(out));
	buf.size = 5;
	buf.len = 0;
	KUNIT_EXPECT_EQ(test, lockmap_get(map, "k", 1, lockmap_blob_copy, &buf),
			0);
	KUNIT_EXPECT_EQ(test, buf.len, n);
	KUNIT_EXPECT_EQ(test, memcmp(out, text, 5), 0);
	for (i = 5; i < sizeof(out); i++)
		KUNIT_EXPECT_EQ(test, out[i], 0xa5);

	/* An empty blob. */
	empty = lockmap_blob_new(NULL, 0, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, empty);
	KUNIT_EXPECT_EQ(test, empty->len, 0);
	if (lockmap_insert(map, "e", 1, empty, NULL)) {
		lockmap_blob_free(empty, NULL);
		KUNIT_FAIL(test, "insert failed");
	}
	buf.size = sizeof(out);
	buf.len = 99;
	KUNIT_EXPECT_EQ(test, lockmap_get(map, "e", 1, lockmap_blob_copy, &buf),
			0);
	KUNIT_EXPECT_EQ(test, buf.len, 0);

	/* Replacing a blob frees the old one through lockmap_blob_free. */
	spare = lockmap_blob_new("xy", 2, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, spare);
	if (lockmap_insert(map, "k", 1, spare, NULL)) {
		lockmap_blob_free(spare, NULL);
		KUNIT_FAIL(test, "insert failed");
	}
	buf.size = sizeof(out);
	KUNIT_EXPECT_EQ(test, lockmap_get(map, "k", 1, lockmap_blob_copy, &buf),
			0);
	KUNIT_EXPECT_EQ(test, buf.len, 2);
	KUNIT_EXPECT_EQ(test, memcmp(out, "xy", 2), 0);
	KUNIT_EXPECT_EQ(test, lockmap_len(map), 2);
}

static struct kunit_case lm_map_cases[] = {
	KUNIT_CASE_PARAM(lm_test_create_default, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_create_invalid, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_create_nr_shards, lm_variant_gen),
	KUNIT_CASE(lm_test_hash_seeded),
	KUNIT_CASE_PARAM(lm_test_insert_get_basic, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_insert_replace, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_remove, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_get_copy_error, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_get_lockless, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_get_no_work_in_progress, lm_variant_gen),
	KUNIT_CASE_PARAM_ATTR(lm_test_get_beside_locked_reader, lm_variant_gen,
			      { .speed = KUNIT_SPEED_SLOW }),
	KUNIT_CASE_PARAM(lm_test_entry_absent_then_set, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_entry_swap_set, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_entry_set_same_value, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_entry_set_if_absent, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_entry_remove, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_held_empty_invisible, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_held_blocks_same_key_only, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_held_serialises_insert_remove,
			 lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_try_entry, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_lockdep_class, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_lockdep_held, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_priority_inheritance, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_entry_interruptible, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_entry_killable, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_batch_basic, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_batch_invalid, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_batch_long, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_batch_nowait_busy, lm_variant_gen),
	KUNIT_CASE_PARAM_ATTR(lm_test_batch_concurrent, lm_variant_gen,
			      { .speed = KUNIT_SPEED_SLOW }),
	KUNIT_CASE_PARAM(lm_test_batch_interruptible, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_batch_killable, lm_variant_gen),
	KUNIT_CASE_PARAM_ATTR(lm_test_concurrent_increments, lm_variant_gen,
			      { .speed = KUNIT_SPEED_SLOW }),
	KUNIT_CASE_PARAM(lm_test_dead_entry_lockable, lm_variant_gen),
	KUNIT_CASE_PARAM_ATTR(lm_test_entry_lives, lm_variant_gen,
			      { .speed = KUNIT_SPEED_SLOW }),
	KUNIT_CASE_PARAM(lm_test_walk_waits_for_held, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_walk_stop, lm_variant_gen),
	KUNIT_CASE_PARAM_ATTR(lm_test_walk_across_resizes, lm_variant_gen,
			      { .speed = KUNIT_SPEED_SLOW }),
	KUNIT_CASE_PARAM(lm_test_clear_waits_for_held, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_retain, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_walk_others_go_on, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_retain_others_go_on, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_clear_others_go_on, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_retain_same_bucket, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_destructor_once, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_varlen_keys, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_fixed_len_keys, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_key_lengths, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_alloc_failure_insert, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_alloc_failure_batch, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_alloc_failure_full_cache, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_max_entries, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_max_entries_same_new_key, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_gfp_account, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_stats, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_lru_calls_on_plain_map, lm_variant_gen),
	KUNIT_CASE_PARAM(lm_test_blob, lm_variant_gen),
	{}
};

static struct kunit_suite lm_map_suite = {
	.name = "lockmap_map",
	.test_cases = lm_map_cases,
};

kunit_test_suites(&lm_map_suite);
