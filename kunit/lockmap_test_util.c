// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the lockmap KUnit suites; see lockmap_kunit.h.
 */
#include <linux/delay.h>
#include <linux/module.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>

#include "lockmap_kunit.h"

struct lm_val *lm_val_new(struct kunit *test, struct lm_ctx *ctx, u64 v)
{
	struct lm_val *val = kmalloc(sizeof(*val), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, val);
	val->v = v;
	atomic_inc(&ctx->live);
	return val;
}

/* After a grace period: rcu_get maps may still be reading the value. */
void lm_val_free(void *value, void *priv)
{
	struct lm_ctx *ctx = priv;
	struct lm_val *val = value;

	atomic_inc(&ctx->frees);
	atomic_dec(&ctx->live);
	kfree_rcu(val, rcu);
}

void lm_val_evict(const void *key, size_t key_len, void *value, void *priv)
{
	struct lm_ctx *ctx = priv;

	atomic_inc(&ctx->evicts);
}

int lm_val_copy(const void *value, void *arg)
{
	*(u64 *)arg = ((const struct lm_val *)value)->v;
	return 0;
}

static const struct lm_variant {
	enum lockmap_lock_kind kind;
	bool rcu_get;
	const char *desc;
} lm_variants[] = {
	{ LOCKMAP_LOCK_MUTEX, false, "mutex" },
	{ LOCKMAP_LOCK_RT_MUTEX, false, "rt_mutex" },
	{ LOCKMAP_LOCK_MUTEX, true, "rcu_get" },
	{ LOCKMAP_LOCK_RT_MUTEX, true, "rt_mutex_rcu_get" },
};

const void *lm_variant_gen(const void *prev, char *desc)
{
	const struct lm_variant *v = prev ? prev : lm_variants - 1;

	if (++v >= lm_variants + ARRAY_SIZE(lm_variants))
		return NULL;
	strscpy(desc, v->desc, KUNIT_PARAM_DESC_SIZE);
	return v;
}

enum lockmap_lock_kind lm_lock_kind(struct kunit *test)
{
	const struct lm_variant *v = test->param_value;

	return v ? v->kind : LOCKMAP_LOCK_MUTEX;
}

bool lm_rcu_get(struct kunit *test)
{
	const struct lm_variant *v = test->param_value;

	return v && v->rcu_get;
}

static void lm_destroy_action(void *map)
{
	lockmap_destroy(map);
}

struct lockmap *lm_create(struct kunit *test, struct lm_ctx *ctx,
			  struct lockmap_params *params)
{
	struct lockmap_params p = {
		.key_len = sizeof(u64),
		.free_value = lm_val_free,
	};

	if (params)
		p = *params;
	p.lock_kind = lm_lock_kind(test);
	p.rcu_get = lm_rcu_get(test);
	p.priv = ctx;
	ctx->map = lockmap_create(&p);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ctx->map);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test,
							   lm_destroy_action,
							   ctx->map));
	return ctx->map;
}

void lm_destroy(struct kunit *test, struct lm_ctx *ctx)
{
	kunit_release_action(test, lm_destroy_action, ctx->map);
	ctx->map = NULL;
}

/*
 * Reads the value twice, a few microseconds apart (busy: an rcu_get copy
 * runs under rcu_read_lock()): a change in between shows.
 */
static int lm_copy_twice(const void *value, void *arg)
{
	const struct lm_val *val = value;
	u64 *v = arg;

	v[0] = READ_ONCE(val->v);
	udelay(5);
	v[1] = READ_ONCE(val->v);
	return 0;
}

int lm_th_churn_read(struct lm_thread *t)
{
	struct lm_churn *c = t->arg;

	while (!READ_ONCE(c->stop)) {
		u64 v[2];
		int ret = lockmap_get(c->map, LM_KEY(1), LM_KLEN, lm_copy_twice,
				      v);

		if (ret && ret != -ENOENT)
			return ret;
		if (ret) {
			c->absent++;
		} else {
			c->reads++;
			c->torn += (v[0] & 1) || v[0] != v[1];
			c->mid += v[0] && v[0] < c->final;
		}
		cond_resched();
	}
	return 0;
}

static int lm_thread_main(void *data)
{
	struct lm_thread *t = data;

	if (t->signals) {
		allow_signal(SIGKILL);
		allow_signal(SIGUSR1);
	}
	WRITE_ONCE(t->started, true);
	t->ret = t->fn(t);
	complete(&t->done);
	return 0;
}

static void lm_put_task(void *task)
{
	put_task_struct(task);
}

void lm_thread_start(struct kunit *test, struct lm_thread *t,
		     int (*fn)(struct lm_thread *t), void *arg)
{
	t->fn = fn;
	t->arg = arg;
	t->started = false;
	init_completion(&t->done);
	t->task = kthread_create(lm_thread_main, t, "lockmap-test");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, t->task);
	get_task_struct(t->task);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, lm_put_task,
							   t->task));
	wake_up_process(t->task);
}

bool lm_thread_join(struct lm_thread *t)
{
	return wait_for_completion_timeout(&t->done, 10 * HZ);
}

/*
 * A minute, not lm_thread_join()'s 10 s: make check runs the 6.1 guests and
 * their builds beside this one on two host cores, and an rt_mutex hands a
 * released key to one chosen waiter, which then waits for its vCPU to be
 * scheduled.  There, the rt_mutex variant of a churn case took 16 s where
 * the mutex one, in the same seconds, took 0.3 s (0.8 s and 0.2 s alone).
 */
void lm_join(struct kunit *test, struct lm_thread *t)
{
	if (wait_for_completion_timeout(&t->done, 60 * HZ))
		return;
	KUNIT_FAIL(test, "kthread still running after 60 s");
	wait_for_completion(&t->done);
}

bool lm_thread_wait_blocked(struct lm_thread *t)
{
	int i;

	for (i = 0; i < 5000; i++) {
		if (completion_done(&t->done))
			return false;
		if (READ_ONCE(t->started) && !task_is_running(t->task))
			return true;
		usleep_range(500, 1000);
	}
	return false;
}

unsigned int lm_key_users(struct lockmap *map, u64 key)
{
	unsigned int users = 0;
	u32 i;

	for (i = 0; i <= map->shard_mask && !users; i++) {
		struct rhashtable_iter iter;
		struct lockmap_entry *e;

		rhashtable_walk_enter(&map->shards[i].ht, &iter);
		rhashtable_walk_start(&iter);
		while ((e = rhashtable_walk_next(&iter))) {
			const void *k;
			size_t len;

			if (IS_ERR(e))
				continue;
			k = lockmap_entry_key(map, e, &len);
			if (len == sizeof(key) && !memcmp(k, &key, len)) {
				users = refcount_read(&e->users);
				break;
			}
		}
		rhashtable_walk_stop(&iter);
		rhashtable_walk_exit(&iter);
	}
	return users;
}

bool lm_key_locked(struct lockmap *map, u64 key)
{
	struct lockmap_lookup l;
	struct lockmap_entry *e;
	bool locked = false;

	if (lockmap_prepare(map, &key, sizeof(key), &l))
		return false;
	rcu_read_lock();
	e = lockmap_find_rcu(map, &l);
	if (e && map->p.lock_kind == LOCKMAP_LOCK_RT_MUTEX)
		locked = rt_mutex_base_is_locked(&e->rt_mutex.rtmutex);
	else if (e)
		locked = mutex_is_locked(&e->mutex);
	rcu_read_unlock();
	return locked;
}

MODULE_DESCRIPTION("KUnit suites for lockmap");
MODULE_LICENSE("GPL");
