/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the lockmap KUnit suites: counted values, the map-variant
 * parameter, and kthreads whose progress the test can observe.
 */
#ifndef _LOCKMAP_KUNIT_H
#define _LOCKMAP_KUNIT_H

#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/kthread.h>
#include <linux/lockmap.h>
#include <linux/sched.h>

#include "lockmap_internal.h"

/* A test's map plus counters its callbacks update. */
struct lm_ctx {
	struct lockmap *map;
	atomic_t frees;		/* values disposed of by free_value */
	atomic_t evicts;	/* eviction callbacks */
	atomic_t live;		/* values allocated and not yet freed */
};

/* A counted value: lm_val_new() allocates, the map's destructor frees. */
struct lm_val {
	u64 v;
	struct rcu_head rcu;
};

struct lm_val *lm_val_new(struct kunit *test, struct lm_ctx *ctx, u64 v);
void lm_val_free(void *value, void *priv);	/* a lockmap_free_t */
void lm_val_evict(const void *key, size_t key_len, void *value, void *priv);
int lm_val_copy(const void *value, void *arg);	/* copies .v to *(u64 *)arg */

/*
 * Creates a map for @test with the current variant parameter, counted
 * destructor (priv = ctx) and 8-byte keys unless @params says otherwise;
 * destroyed automatically at the end of the test.
 */
struct lockmap *lm_create(struct kunit *test, struct lm_ctx *ctx,
			  struct lockmap_params *params);
/* Destroys ctx->map now rather than at the end of the test. */
void lm_destroy(struct kunit *test, struct lm_ctx *ctx);
/* The lock kind and the rcu_get choice of the running parameterised case. */
enum lockmap_lock_kind lm_lock_kind(struct kunit *test);
bool lm_rcu_get(struct kunit *test);

/*
 * Generates the map variants {mutex, rt_mutex, rcu_get, rt_mutex_rcu_get}:
 * use with KUNIT_CASE_PARAM.
 */
const void *lm_variant_gen(const void *prev, char *desc);

/* A kthread running fn(arg); its progress is observable. */
struct lm_thread {
	struct task_struct *task;
	int (*fn)(struct lm_thread *t);
	void *arg;
	struct completion done;
	int ret;
	bool signals;		/* allow SIGKILL/SIGUSR1 (signal tests) */
	bool started;		/* set just before fn runs */
};

void lm_thread_start(struct kunit *test, struct lm_thread *t,
		     int (*fn)(struct lm_thread *t), void *arg);
/* Waits for fn to return (up to 10 s); returns false on timeout. */
bool lm_thread_join(struct lm_thread *t);
/*
 * Waits up to 60 s for a kthread that must finish: a stuck one (a bug) fails
 * @test, and is still waited for, as returning would leave it running on the
 * test's stack.
 */
void lm_join(struct kunit *test, struct lm_thread *t);
/*
 * True once fn has started and the thread sleeps (blocked on a lock), within
 * 5 s.  Sleeps of the kthread's own start-up do not count.
 */
bool lm_thread_wait_blocked(struct lm_thread *t);

/*
 * Readers of key 1 racing a task that changes its value in place, making it
 * odd and then even again: lm_th_churn_read() reads with a copy callback
 * that looks twice, 5 us apart, and counts the reads that saw an odd or a
 * changing value (torn) until @stop, and those that saw neither the first
 * value (0) nor @final (mid): proof that the reads overlapped the churn.
 */
struct lm_churn {
	struct lockmap *map;
	bool stop;
	u64 final;		/* the value when the churn is over */
	unsigned long reads;	/* returned 0 */
	unsigned long absent;	/* returned -ENOENT */
	unsigned long torn;
	unsigned long mid;	/* read 0 < value < final */
};

int lm_th_churn_read(struct lm_thread *t);	/* t->arg: a struct lm_churn */

/*
 * Reference count of a key's entry: 1 while it has a value or a holder (a
 * holder of a valued key borrows the value's), + 1 per waiter; 0 if none.
 */
unsigned int lm_key_users(struct lockmap *map, u64 key);
/* Whether a key's lock is taken (false when the key has no entry). */
bool lm_key_locked(struct lockmap *map, u64 key);

/* A u64 key as (pointer, length) arguments: lockmap_get(map, LM_KEY(7), LM_KLEN, ...) */
#define LM_KEY(k) ((const void *)&(const u64){ (k) })
#define LM_KLEN sizeof(u64)

#endif /* _LOCKMAP_KUNIT_H */
