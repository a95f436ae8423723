// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/lockmap: per-key locking seen from userspace.  A key held by one
 * process (LOCKMAP_IOC_HOLD) blocks that key, and only that key, for
 * another; batches are atomic for concurrent readers; counters are exact
 * under contention; signals end waits with nothing held; closing or killing
 * a holder is safe.  Every case runs once per lock kind (mutex, rt_mutex),
 * plain and rcu_get: an rcu_get map's reads must wait for holds all the same.
 *
 * Ordering is proven by state, not by timing: the holder's operation runs
 * at the end of its hold, so a waiter that observes (or builds on) its
 * result ran after the hold; "not blocked" is proven by finishing while a
 * NOWAIT probe still reports the key busy and the holder has not returned.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lockmap_helpers.h"

#define SEC 1000000LL
/*
 * A hold that must outlast the checks made during it, however slow the
 * machine: the default max_hold_usec, ended early with a signal once they
 * are done (the hold then applies nothing).
 */
#define LONG_HOLD (5 * SEC)

FIXTURE(lk) {
	int fd;
	int id;
	char name[LOCKMAP_NAME_LEN];
};

FIXTURE_VARIANT(lk) {
	__u32 flags;
};

FIXTURE_VARIANT_ADD(lk, mutex) {
	.flags = 0,
};

FIXTURE_VARIANT_ADD(lk, rt_mutex) {
	.flags = LOCKMAP_CREATE_RT_MUTEX,
};

/* Lockless reads: they must still wait for (or with NOWAIT fail on) holds. */
FIXTURE_VARIANT_ADD(lk, rcu_get) {
	.flags = LOCKMAP_CREATE_RCU_GET,
};

FIXTURE_VARIANT_ADD(lk, rt_mutex_rcu_get) {
	.flags = LOCKMAP_CREATE_RT_MUTEX | LOCKMAP_CREATE_RCU_GET,
};

static void on_signal(int sig)
{
	(void)sig;
}

FIXTURE_SETUP(lk)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: waits see EINTR */
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	snprintf(self->name, sizeof(self->name), "lk-%d", getpid());
	self->fd = lm_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", LM_DEV, strerror(-self->fd));
	self->id = lm_create(self->fd, variant->flags, 0, self->name);
	ASSERT_LT(0, self->id);
}

FIXTURE_TEARDOWN(lk)
{
	close(self->fd);
}

/* State shared with forked helpers (lock-free atomics work across mmap). */
struct shared {
	atomic_int started;
	atomic_int done;
	atomic_int ret;
};

static struct shared *shared_new(void)
{
	struct shared *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (s == MAP_FAILED)
		return NULL;
	memset(s, 0, sizeof(*s));
	return s;
}

/* A helper process with its own open file: holds @key, then inserts @val. */
static pid_t spawn_holder(const char *name, __u32 id, const char *key,
			  long long usec, const char *val, struct shared *s)
{
	pid_t pid = fork();
	int fd, ret;

	if (pid)
		return pid;
	fd = lm_open();
	if (fd < 0 || lm_attach(fd, 0, name) != (int)id)
		_exit(2);
	atomic_store(&s->started, 1);
	ret = lm_hold(fd, id, key, usec, val);
	atomic_store(&s->ret, ret);
	atomic_store(&s->done, 1);
	_exit(ret ? 1 : 0);
}

static int wait_exit(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * One shard, so that the other key shares the held key's shard: holding a
 * key must not hold its shard (or anything wider) either.
 */
TEST_F(lk, hold_blocks_same_key_for_another_process)
{
	struct shared *s = shared_new();
	struct lockmap_ioc_create c;
	struct lockmap_ioc_stats st;
	char buf[16], name[LOCKMAP_NAME_LEN];
	__u32 id;
	pid_t pid;

	ASSERT_NE(NULL, s);
	snprintf(name, sizeof(name), "lk1-%d", getpid());
	lm_create_init(&c, variant->flags, 0, name);
	c.nr_shards = 1;
	ASSERT_EQ(0, lm_ioctl(self->fd, LOCKMAP_IOC_CREATE, &c));
	id = c.map_id;
	ASSERT_EQ(0, lm_stats(self->fd, id, &st));
	ASSERT_EQ(1, st.nr_shards);
	pid = spawn_holder(name, id, "K", 2 * SEC, "A", s);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, lm_wait_held(self->fd, id, "K", 20 * SEC));

	/* another key, same shard: completes while A still holds K */
	ASSERT_EQ(0, lm_puts(self->fd, id, "other", "B"));
	EXPECT_EQ(0, atomic_load(&s->done));
	EXPECT_EQ(1, lm_contains(self->fd, id, "other", 0));
	EXPECT_EQ(0, lm_del(self->fd, id, "other"));
	EXPECT_EQ(0, atomic_load(&s->done));
	EXPECT_EQ(-EBUSY, lm_contains(self->fd, id, "K", LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(0, atomic_load(&s->done));

	/*
	 * K itself: the append waits for A's hold, whose insert of "A" runs at
	 * its very end; "AB" proves B's operation ran after it.
	 */
	{
		struct lockmap_ioc_op op;

		lm_op_str(&op, id, LOCKMAP_OP_APPEND, "K");
		op.value = lm_ptr("B");
		op.value_len = 1;
		ASSERT_EQ(0, lm_op(self->fd, &op));
		EXPECT_EQ(2, op.result);
	}
	EXPECT_EQ(2, lm_get(self->fd, id, "K", buf, sizeof(buf)));
	EXPECT_STREQ("AB", buf);
	EXPECT_EQ(0, wait_exit(pid));
	EXPECT_EQ(0, atomic_load(&s->ret));
}

TEST_F(lk, get_waits_for_holder_and_sees_its_write)
{
	struct shared *s = shared_new();
	char buf[16];
	pid_t pid;

	ASSERT_NE(NULL, s);
	pid = spawn_holder(self->name, self->id, "K", SEC, "1", s);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, lm_wait_held(self->fd, self->id, "K", 20 * SEC));
	EXPECT_EQ(-EBUSY, lm_contains(self->fd, self->id, "K", LOCKMAP_OPF_NOWAIT));
	/*
	 * K has no value before the hold ends; a GET that did not wait would
	 * fail with -ENOENT.  It must observe the value set at the hold's end.
	 */
	ASSERT_EQ(1, lm_get(self->fd, self->id, "K", buf, sizeof(buf)));
	EXPECT_STREQ("1", buf);
	EXPECT_EQ(0, wait_exit(pid));
}

struct thr {
	int fd;
	__u32 id;
	const char *key;
	long long usec;
	const char *val;
	atomic_int done;
	int ret;
	pthread_t tid;
	atomic_int task;	/* its thread id, for lm_wait_blocked() */
};

static void *hold_thread(void *arg)
{
	struct thr *t = arg;

	atomic_store(&t->task, gettid());
	t->ret = lm_hold(t->fd, t->id, t->key, t->usec, t->val);
	atomic_store(&t->done, 1);
	return NULL;
}

static void *get_thread(void *arg)
{
	struct thr *t = arg;
	char buf[16];
	long long n;

	atomic_store(&t->task, gettid());
	n = lm_get(t->fd, t->id, t->key, buf, sizeof(buf));

	t->ret = n < 0 ? (int)n : 0;
	atomic_store(&t->done, 1);
	return NULL;
}

TEST_F(lk, threads_of_one_file_contend_per_key)
{
	struct thr h = { self->fd, self->id, "K", 2 * SEC, "T", 0, 0, 0, 0 };
	struct lockmap_ioc_op op;
	char buf[8];

	ASSERT_EQ(0, pthread_create(&h.tid, NULL, hold_thread, &h));
	ASSERT_EQ(0, lm_wait_held(self->fd, self->id, "K", 20 * SEC));
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "L", "x"));
	/*
	 * The hold was still in force when L's put returned.  h.done alone
	 * would not show it: the holder sets it a moment after its ioctl
	 * returns, so it still reads 0 right after a put the hold blocked.
	 */
	EXPECT_EQ(-EBUSY, lm_contains(self->fd, self->id, "K",
				      LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(0, atomic_load(&h.done));
	lm_op_str(&op, self->id, LOCKMAP_OP_APPEND, "K");
	op.value = lm_ptr("U");
	op.value_len = 1;
	ASSERT_EQ(0, lm_op(self->fd, &op));
	EXPECT_EQ(2, lm_get(self->fd, self->id, "K", buf, sizeof(buf)));
	EXPECT_STREQ("TU", buf);
	pthread_join(h.tid, NULL);
	EXPECT_EQ(0, h.ret);
}

TEST_F(lk, batch_waits_for_any_held_key)
{
	struct lockmap_ioc_op ops[2];
	struct lockmap_ioc_batch b;
	struct shared *s = shared_new();
	char buf[8];
	pid_t pid;

	ASSERT_NE(NULL, s);
	pid = spawn_holder(self->name, self->id, "k2", SEC, "h", s);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, lm_wait_held(self->fd, self->id, "k2", 20 * SEC));
	lm_op_str(&ops[0], self->id, LOCKMAP_OP_INSERT, "k1");
	ops[0].value = lm_ptr("b");
	ops[0].value_len = 1;
	lm_op_str(&ops[1], self->id, LOCKMAP_OP_APPEND, "k2");
	ops[1].value = lm_ptr("b");
	ops[1].value_len = 1;
	lm_batch_init(&b, self->id, NULL, 0, ops, 2);
	ASSERT_EQ(0, lm_batch(self->fd, &b));
	EXPECT_EQ(2, lm_get(self->fd, self->id, "k2", buf, sizeof(buf)));
	EXPECT_STREQ("hb", buf);
	EXPECT_EQ(0, wait_exit(pid));
}

/* Writers move amounts between two counters; readers check their sum. */
struct inv {
	int fd;
	__u32 id;
	int iters;
	int seed;
	int errors;
	int broken;
};

#define INV_TOTAL 1000ULL

static void *inv_writer(void *arg)
{
	struct inv *v = arg;
	struct lockmap_ioc_op ops[2];
	struct lockmap_ioc_batch b;
	unsigned int seed = v->seed;
	int i;

	for (i = 0; i < v->iters; i++) {
		__s64 d = (__s64)(rand_r(&seed) % 201) - 100;

		lm_op_str(&ops[0], v->id, LOCKMAP_OP_ADD, "a");
		ops[0].num = (__u64)d;
		lm_op_str(&ops[1], v->id, LOCKMAP_OP_ADD, "b");
		ops[1].num = (__u64)-d;
		lm_batch_init(&b, v->id, NULL, 0, ops, 2);
		if (lm_batch(v->fd, &b))
			v->errors++;
	}
	return NULL;
}

static void *inv_reader(void *arg)
{
	struct inv *v = arg;
	struct lockmap_ioc_op ops[2];
	struct lockmap_ioc_batch b;
	__u64 a, bb;
	int i;

	for (i = 0; i < v->iters; i++) {
		lm_op_str(&ops[0], v->id, LOCKMAP_OP_GET, "a");
		ops[0].out = lm_ptr(&a);
		ops[0].out_size = sizeof(a);
		lm_op_str(&ops[1], v->id, LOCKMAP_OP_GET, "b");
		ops[1].out = lm_ptr(&bb);
		ops[1].out_size = sizeof(bb);
		lm_batch_init(&b, v->id, NULL, 0, ops, 2);
		if (lm_batch(v->fd, &b)) {
			v->errors++;
			continue;
		}
		if (a + bb != INV_TOTAL)
			v->broken++;
	}
	return NULL;
}

TEST_F_TIMEOUT(lk, batch_is_atomic_for_concurrent_readers, 120)
{
	struct inv v[6];
	pthread_t t[6];
	__u64 a, b;
	int i;

	ASSERT_EQ(0, lm_add(self->fd, self->id, "a", 600, NULL));
	ASSERT_EQ(0, lm_add(self->fd, self->id, "b", 400, NULL));
	for (i = 0; i < 6; i++) {
		v[i] = (struct inv){ self->fd, self->id, 300, i + 1, 0, 0 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL,
					    i < 3 ? inv_writer : inv_reader, &v[i]));
	}
	for (i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, v[i].errors);
		EXPECT_EQ(0, v[i].broken)
			TH_LOG("reader %d saw a + b != %llu %d times", i,
			       INV_TOTAL, v[i].broken);
	}
	ASSERT_EQ(0, lm_counter(self->fd, self->id, "a", &a));
	ASSERT_EQ(0, lm_counter(self->fd, self->id, "b", &b));
	EXPECT_EQ(INV_TOTAL, a + b);
}

struct adder {
	int fd;
	__u32 id;
	int iters;
	int idx;
	int errors;
};

static void *add_thread(void *arg)
{
	struct adder *a = arg;
	char own[16];
	int i;

	snprintf(own, sizeof(own), "own%d", a->idx);
	for (i = 0; i < a->iters; i++) {
		if (lm_add(a->fd, a->id, "ctr", 1, NULL))
			a->errors++;
		if (lm_add(a->fd, a->id, own, 2, NULL))
			a->errors++;
	}
	return NULL;
}

TEST_F_TIMEOUT(lk, counter_exact_threads, 120)
{
	enum { N = 4, M = 500 };
	struct adder a[N];
	pthread_t t[N];
	char own[16];
	__u64 v;
	int i;

	for (i = 0; i < N; i++) {
		a[i] = (struct adder){ self->fd, self->id, M, i, 0 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, add_thread, &a[i]));
	}
	for (i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, a[i].errors);
	}
	ASSERT_EQ(0, lm_counter(self->fd, self->id, "ctr", &v));
	EXPECT_EQ(N * M, v);
	for (i = 0; i < N; i++) {
		snprintf(own, sizeof(own), "own%d", i);
		ASSERT_EQ(0, lm_counter(self->fd, self->id, own, &v));
		EXPECT_EQ(2 * M, v);
	}
}

TEST_F_TIMEOUT(lk, counter_exact_processes, 120)
{
	enum { N = 3, M = 400 };
	pid_t pid[N];
	__u64 v;
	int i;

	for (i = 0; i < N; i++) {
		pid[i] = fork();
		ASSERT_LE(0, pid[i]);
		if (pid[i] == 0) {
			int fd = lm_open(), j, bad = 0;

			if (fd < 0 || lm_attach(fd, 0, self->name) != self->id)
				_exit(2);
			for (j = 0; j < M; j++)
				bad += !!lm_add(fd, self->id, "ctr", 3, NULL);
			_exit(bad ? 1 : 0);
		}
	}
	for (i = 0; i < N; i++)
		EXPECT_EQ(0, wait_exit(pid[i]));
	ASSERT_EQ(0, lm_counter(self->fd, self->id, "ctr", &v));
	EXPECT_EQ(3 * N * M, v);
}

static void *cas_thread(void *arg)
{
	struct adder *a = arg;
	int i;

	for (i = 0; i < a->iters; i++) {
		for (;;) {
			struct lockmap_ioc_op op;
			__u64 old, new;
			int ret;

			if (lm_counter(a->fd, a->id, "cas", &old)) {
				a->errors++;
				break;
			}
			new = old + 1;
			lm_op_str(&op, a->id, LOCKMAP_OP_CAS, "cas");
			op.expected = lm_ptr(&old);
			op.expected_len = sizeof(old);
			op.value = lm_ptr(&new);
			op.value_len = sizeof(new);
			ret = lm_op(a->fd, &op);
			if (!ret)
				break;
			if (ret != -ECANCELED) {
				a->errors++;
				break;
			}
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(lk, cas_loop_exact, 120)
{
	enum { N = 3, M = 200 };
	struct adder a[N];
	pthread_t t[N];
	__u64 v = 0;
	int i;

	ASSERT_EQ(0, lm_put(self->fd, self->id, "cas", &v, sizeof(v)));
	for (i = 0; i < N; i++) {
		a[i] = (struct adder){ self->fd, self->id, M, i, 0 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, cas_thread, &a[i]));
	}
	for (i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, a[i].errors);
	}
	ASSERT_EQ(0, lm_counter(self->fd, self->id, "cas", &v));
	EXPECT_EQ(N * M, v);
}

struct order {
	int fd;
	__u32 id;
	int iters;
	int reverse;
	int errors;
};

static void *order_thread(void *arg)
{
	struct order *o = arg;
	const char *k[3] = { "x", "y", "z" };
	struct lockmap_ioc_key keys[3];
	struct lockmap_ioc_op ops[3];
	struct lockmap_ioc_batch b;
	int i, j;

	for (i = 0; i < o->iters; i++) {
		for (j = 0; j < 3; j++) {
			const char *key = k[o->reverse ? 2 - j : j];

			keys[j].key = lm_ptr(key);
			keys[j].len = 1;
			lm_op_str(&ops[j], o->id, LOCKMAP_OP_ADD, key);
			ops[j].num = 1;
		}
		lm_batch_init(&b, o->id, keys, 3, ops, 3);
		b.hold_usec = i % 4 ? 0 : 100;
		if (lm_batch(o->fd, &b))
			o->errors++;
	}
	return NULL;
}

/*
 * Overlapping batches that list their keys in opposite orders all apply,
 * each exactly once.  An ioctl batch never sleeps holding a key (it backs
 * off and waits for the busy one alone), so no order could deadlock here;
 * the lock order itself is KUnit's lm_test_batch_concurrent.
 */
TEST_F_TIMEOUT(lk, batches_in_opposite_orders_all_apply, 120)
{
	static const char * const ctr[] = { "x", "y", "z" };
	struct order o[4];
	pthread_t t[4];
	__u64 v;
	int i;

	for (i = 0; i < 4; i++) {
		o[i] = (struct order){ self->fd, self->id, 150, i & 1, 0 };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, order_thread, &o[i]));
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, o[i].errors);
	}
	/* every batch added 1 to each of its keys, whatever its order */
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, lm_counter(self->fd, self->id, ctr[i], &v));
		EXPECT_EQ(4 * 150, v) TH_LOG("counter %s", ctr[i]);
	}
}

/* Sends SIGUSR1 to @t every 20 ms until it is done (at most @usec). */
static void poke_until_done(struct thr *t, long long usec)
{
	long long end = lm_now_us() + usec;

	while (!atomic_load(&t->done) && lm_now_us() < end) {
		pthread_kill(t->tid, SIGUSR1);
		lm_sleep_us(20000);
	}
}

/* Waits until @t's thread sleeps in ioctl(..., @cmd, ...) (a key wait). */
static int thr_wait_blocked(struct thr *t, unsigned long cmd, long long usec)
{
	long long end = lm_now_us() + usec;

	while (!atomic_load(&t->task) && lm_now_us() < end)
		lm_sleep_us(1000);
	return lm_wait_blocked(atomic_load(&t->task), cmd, end - lm_now_us());
}

TEST_F(lk, signal_ends_wait_with_nothing_held)
{
	struct thr w = { self->fd, self->id, "K", 0, NULL, 0, 0, 0, 0 };
	struct shared *s = shared_new();
	char buf[8];
	pid_t pid;

	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "K", "H"));
	pid = spawn_holder(self->name, self->id, "K", LONG_HOLD, "never", s);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, lm_wait_held(self->fd, self->id, "K", 20 * SEC));
	ASSERT_EQ(0, pthread_create(&w.tid, NULL, get_thread, &w));
	ASSERT_EQ(0, thr_wait_blocked(&w, LOCKMAP_IOC_OP, 20 * SEC));
	EXPECT_EQ(0, atomic_load(&w.done));
	poke_until_done(&w, 10 * SEC);
	pthread_join(w.tid, NULL);
	EXPECT_EQ(-EINTR, w.ret);
	/* interrupted while the holder still held K */
	EXPECT_EQ(0, atomic_load(&s->done));
	EXPECT_EQ(-EBUSY, lm_contains(self->fd, self->id, "K", LOCKMAP_OPF_NOWAIT));
	/* the hold, ended early by a signal too, applied nothing */
	EXPECT_EQ(1, lm_end_child(pid, SIGUSR1, 10 * SEC));
	EXPECT_EQ(-EINTR, atomic_load(&s->ret));
	/* the waiter left nothing behind: K is free and keeps its value */
	EXPECT_EQ(1, lm_contains(self->fd, self->id, "K", LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(1, lm_get(self->fd, self->id, "K", buf, sizeof(buf)));
	EXPECT_STREQ("H", buf);
	EXPECT_EQ(0, lm_hold(self->fd, self->id, "K", 1000, "me"));
	EXPECT_EQ(2, lm_get(self->fd, self->id, "K", buf, sizeof(buf)));
	EXPECT_STREQ("me", buf);
}

TEST_F(lk, signal_ends_hold_without_applying)
{
	struct thr h = { self->fd, self->id, "K", 4 * SEC, "never", 0, 0, 0, 0 };
	long long t0;

	t0 = lm_now_us();
	ASSERT_EQ(0, pthread_create(&h.tid, NULL, hold_thread, &h));
	ASSERT_EQ(0, lm_wait_held(self->fd, self->id, "K", 20 * SEC));
	poke_until_done(&h, 10 * SEC);
	pthread_join(h.tid, NULL);
	EXPECT_EQ(-EINTR, h.ret);
	EXPECT_GT(4 * SEC, lm_now_us() - t0);
	/* nothing applied, nothing held */
	EXPECT_EQ(0, lm_contains(self->fd, self->id, "K", LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(0, lm_len(self->fd, self->id));
}

struct bthr {
	struct thr t;
	struct lockmap_ioc_batch b;
	struct lockmap_ioc_key keys[LOCKMAP_DEFAULT_MAX_BATCH_KEYS];
	char names[LOCKMAP_DEFAULT_MAX_BATCH_KEYS][8];
	struct lockmap_ioc_op ops[2];
};

static void *batch_thread(void *arg)
{
	struct bthr *bt = arg;

	atomic_store(&bt->t.task, gettid());
	bt->t.ret = lm_batch(bt->t.fd, &bt->b);
	atomic_store(&bt->t.done, 1);
	return NULL;
}

/*
 * A batch of 31 free keys and a held one: while it waits for the held key
 * it holds none of the others (it released them to wait for that key
 * alone), and a signal ends it with nothing held or inserted.  The keys
 * are taken in the map's (seeded) hash order: a batch that kept the keys
 * it had taken would show none of them busy only when "held" came first,
 * with probability 1/32.
 */
TEST_F(lk, signal_ends_batch_wait_releasing_taken_keys)
{
	struct shared *s = shared_new();
	struct bthr *bt = calloc(1, sizeof(*bt));
	int i, busy, nr;
	pid_t pid;

	ASSERT_NE(NULL, s);
	ASSERT_NE(NULL, bt);
	nr = lm_param("max_batch_keys", LOCKMAP_DEFAULT_MAX_BATCH_KEYS);
	if (nr > LOCKMAP_DEFAULT_MAX_BATCH_KEYS)
		nr = LOCKMAP_DEFAULT_MAX_BATCH_KEYS;
	ASSERT_LE(2, nr);
	pid = spawn_holder(self->name, self->id, "held", LONG_HOLD, NULL, s);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, lm_wait_held(self->fd, self->id, "held", 20 * SEC));
	bt->t.fd = self->fd;
	for (i = 0; i < nr; i++) {
		if (i < nr - 1)
			snprintf(bt->names[i], sizeof(bt->names[i]), "free%d", i);
		else
			snprintf(bt->names[i], sizeof(bt->names[i]), "held");
		bt->keys[i].key = lm_ptr(bt->names[i]);
		bt->keys[i].len = strlen(bt->names[i]);
	}
	lm_op_str(&bt->ops[0], self->id, LOCKMAP_OP_INSERT, "free0");
	lm_op_str(&bt->ops[1], self->id, LOCKMAP_OP_INSERT, "held");
	lm_batch_init(&bt->b, self->id, bt->keys, nr, bt->ops, 2);
	ASSERT_EQ(0, pthread_create(&bt->t.tid, NULL, batch_thread, bt));
	ASSERT_EQ(0, thr_wait_blocked(&bt->t, LOCKMAP_IOC_BATCH, 20 * SEC));
	/* blocked on "held": every other key of the batch is free */
	for (i = 0, busy = 0; i < nr - 1; i++)
		busy += lm_contains(self->fd, self->id, bt->names[i],
				    LOCKMAP_OPF_NOWAIT) == -EBUSY;
	EXPECT_EQ(0, busy);
	EXPECT_EQ(-EBUSY, lm_contains(self->fd, self->id, "held",
				      LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(0, atomic_load(&bt->t.done));
	poke_until_done(&bt->t, 10 * SEC);
	pthread_join(bt->t.tid, NULL);
	EXPECT_EQ(-EINTR, bt->t.ret);
	EXPECT_EQ(0, atomic_load(&s->done));
	/* after the signal too: nothing held, nothing inserted */
	for (i = 0, busy = 0; i < nr - 1; i++)
		busy += lm_contains(self->fd, self->id, bt->names[i],
				    LOCKMAP_OPF_NOWAIT) == -EBUSY;
	EXPECT_EQ(0, busy);
	EXPECT_EQ(0, lm_contains(self->fd, self->id, "free0", 0));
	EXPECT_EQ(-EBUSY, lm_contains(self->fd, self->id, "held",
				      LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(1, lm_end_child(pid, SIGUSR1, 10 * SEC));
	EXPECT_EQ(-EINTR, atomic_load(&s->ret));
	EXPECT_EQ(0, lm_len(self->fd, self->id));
	free(bt);
}

/* A whole-map walk with ITER, keeping the records (keys and values short). */
#define WALK_MAX	32

struct walk {
	struct thr t;		/* t.ret: 0, or the first ITER error */
	int nr;			/* records returned */
	int bad;		/* records too long for keys[] and vals[] */
	char keys[WALK_MAX][8];	/* in the order returned */
	char vals[WALK_MAX][8];
	long long end_us;	/* when the walk was over */
	unsigned char buf[1024];
};

/* Copies @len bytes at @src into the string @dst of 8 bytes: 0, or -1. */
static int walk_str(char *dst, const unsigned char *src, __u64 len)
{
	if (len >= 8)
		return -1;
	memcpy(dst, src, len);
	dst[len] = 0;
	return 0;
}

static int walk_map(struct walk *x)
{
	struct lockmap_ioc_iter it;
	struct lockmap_ioc_record rec;
	int ret = 0, calls = 0;
	size_t off;
	__u32 r;

	memset(&it, 0, sizeof(it));
	it.size = sizeof(it);
	it.map_id = x->t.id;
	it.max_records = LOCKMAP_ITER_MAX_RECORDS;
	it.buf = lm_ptr(x->buf);
	it.buf_size = sizeof(x->buf);
	while (!ret && it.cursor != LOCKMAP_ITER_END) {
		ret = lm_ioctl(x->t.fd, LOCKMAP_IOC_ITER, &it);
		if (!ret && (++calls > 10000 || it.buf_len > sizeof(x->buf)))
			ret = -ERANGE;
		for (r = 0, off = 0; !ret && r < it.nr_records; r++) {
			if (off + sizeof(rec) > it.buf_len) {
				ret = -ERANGE;
				break;
			}
			memcpy(&rec, x->buf + off, sizeof(rec));
			off += sizeof(rec);
			if (rec.key_len > it.buf_len - off ||
			    rec.value_len > it.buf_len - off - rec.key_len) {
				ret = -ERANGE;
				break;
			}
			if (x->nr >= WALK_MAX ||
			    walk_str(x->keys[x->nr], x->buf + off, rec.key_len) ||
			    walk_str(x->vals[x->nr], x->buf + off + rec.key_len,
				     rec.value_len))
				x->bad++;
			else
				x->nr++;
			off = (off + rec.key_len + rec.value_len + 7) & ~(size_t)7;
		}
	}
	x->end_us = lm_now_us();
	return ret;
}

static void *walk_thread(void *arg)
{
	struct walk *x = arg;

	atomic_store(&x->t.task, gettid());
	x->t.ret = walk_map(x);
	atomic_store(&x->t.done, 1);
	return NULL;
}

/* How many records of @x have the key @key; *@val: the last one's value. */
static int walk_count(const struct walk *x, const char *key, const char **val)
{
	int i, n = 0;

	for (i = 0; i < x->nr; i++) {
		if (strcmp(x->keys[i], key))
			continue;
		n++;
		if (val)
			*val = x->vals[i];
	}
	return n;
}

/*
 * ITER waits for a held key like any reader: it is seen asleep in the
 * ioctl while the hold lasts, then returns K exactly once, with the value
 * the holder set at the very end of its hold, so it copied K after the
 * hold (and the other keys once each, unchanged).
 */
TEST_F(lk, iter_waits_for_held_key)
{
	struct thr h = { self->fd, self->id, "K", 2 * SEC, "new", 0, 0, 0, 0 };
	struct walk *x = calloc(1, sizeof(*x));
	const char *val = NULL;
	char key[8];
	long long t0;
	int i;

	ASSERT_NE(NULL, x);
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "K", "old"));
	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "o%d", i);
		ASSERT_EQ(0, lm_puts(self->fd, self->id, key, key));
	}
	t0 = lm_now_us();
	ASSERT_EQ(0, pthread_create(&h.tid, NULL, hold_thread, &h));
	ASSERT_EQ(0, lm_wait_held(self->fd, self->id, "K", 20 * SEC));
	x->t.fd = self->fd;
	x->t.id = self->id;
	ASSERT_EQ(0, pthread_create(&x->t.tid, NULL, walk_thread, x));
	ASSERT_EQ(0, thr_wait_blocked(&x->t, LOCKMAP_IOC_ITER, 20 * SEC));
	/* asleep in ITER while K is still held */
	EXPECT_EQ(-EBUSY, lm_contains(self->fd, self->id, "K",
				      LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(0, atomic_load(&x->t.done));
	pthread_join(x->t.tid, NULL);
	pthread_join(h.tid, NULL);
	EXPECT_EQ(0, h.ret);
	ASSERT_EQ(0, x->t.ret);
	EXPECT_EQ(0, x->bad);
	EXPECT_EQ(5, x->nr);
	EXPECT_EQ(1, walk_count(x, "K", &val));
	EXPECT_STREQ("new", val ? val : "(none)");
	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "o%d", i);
		val = NULL;
		EXPECT_EQ(1, walk_count(x, key, &val)) TH_LOG("key %s", key);
		EXPECT_STREQ(key, val ? val : "(none)");
	}
	/* done no sooner than the hold's sleep */
	EXPECT_LE(2 * SEC, x->end_us - t0);
	free(x);
}

/*
 * Signals @t once and waits (at most 3 s) for it to be done; returns the
 * microseconds from the signal to the end its thread recorded in *@end_us,
 * or -1 if it was not done by then (it is poked until done).
 */
static long long signal_once(struct thr *t, long long *end_us)
{
	long long t0 = lm_now_us();

	pthread_kill(t->tid, SIGUSR1);
	while (!atomic_load(&t->done) && lm_now_us() - t0 < 3 * SEC)
		lm_sleep_us(1000);
	if (!atomic_load(&t->done)) {
		poke_until_done(t, 10 * SEC);
		return -1;
	}
	return *end_us - t0;
}

/*
 * A signal ends an ITER waiting for a held key with -EINTR (nothing was
 * copied yet: K is the map's only key), at once, not when the hold ends;
 * the holder keeps K, whose value nothing changed.
 */
TEST_F(lk, signal_ends_iter_wait)
{
	struct thr h = { self->fd, 0, "K", LONG_HOLD, "never", 0, 0, 0, 0 };
	struct walk *x = calloc(1, sizeof(*x));
	char buf[8];
	int id;

	ASSERT_NE(NULL, x);
	id = lm_create(self->fd, variant->flags, 0, NULL);
	ASSERT_LT(0, id);
	ASSERT_EQ(0, lm_puts(self->fd, id, "K", "old"));
	h.id = id;
	ASSERT_EQ(0, pthread_create(&h.tid, NULL, hold_thread, &h));
	ASSERT_EQ(0, lm_wait_held(self->fd, id, "K", 20 * SEC));
	x->t.fd = self->fd;
	x->t.id = id;
	ASSERT_EQ(0, pthread_create(&x->t.tid, NULL, walk_thread, x));
	ASSERT_EQ(0, thr_wait_blocked(&x->t, LOCKMAP_IOC_ITER, 20 * SEC));
	EXPECT_EQ(0, atomic_load(&x->t.done));
	{
		long long us = signal_once(&x->t, &x->end_us);

		EXPECT_LE(0, us) TH_LOG("ITER still waiting 3 s after SIGUSR1");
		EXPECT_GT(SEC, us);
	}
	pthread_join(x->t.tid, NULL);
	EXPECT_EQ(-EINTR, x->t.ret);
	EXPECT_EQ(0, x->nr);
	/* the holder still holds K */
	EXPECT_EQ(-EBUSY, lm_contains(self->fd, id, "K", LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(0, atomic_load(&h.done));
	poke_until_done(&h, 10 * SEC);
	pthread_join(h.tid, NULL);
	EXPECT_EQ(-EINTR, h.ret);
	EXPECT_EQ(1, lm_contains(self->fd, id, "K", LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(3, lm_get(self->fd, id, "K", buf, sizeof(buf)));
	EXPECT_STREQ("old", buf);
	free(x);
}

struct clr {
	struct thr t;
	__u64 removed;
	long long end_us;
};

static void *clear_thread(void *arg)
{
	struct clr *c = arg;

	atomic_store(&c->t.task, gettid());
	c->t.ret = lm_map_cmd(c->t.fd, LOCKMAP_IOC_CLEAR, c->t.id, &c->removed);
	c->end_us = lm_now_us();
	atomic_store(&c->t.done, 1);
	return NULL;
}

#define CLEAR_KEYS 16

/*
 * A signal ends a CLEAR waiting for a held key with -EINTR at once.  The
 * values it removed before stay removed, and it removes none after: the
 * keys gone are exactly those gone while it waited, K is still held and
 * keeps its value, and LEN counts the rest, which a second CLEAR reports
 * removing.  The order of CLEAR is unspecified: K is the key ITER returns
 * in the middle, so that with the walk order of ITER about half the keys
 * come before K and half after it.  One shard, so that the keys after K
 * are in its shard: a CLEAR that went on past the signal to the end of the
 * shard (or of its chunk of keys) would go unseen if K came last in its
 * shard.
 */
TEST_F(lk, signal_ends_clear_wait_keeping_progress)
{
	struct thr h = { self->fd, 0, NULL, LONG_HOLD, "never", 0, 0, 0, 0 };
	int was[CLEAR_KEYS], now, i, nr_gone = 0, id;
	struct clr c = { { self->fd, 0, NULL, 0, NULL, 0, 0, 0, 0 }, 0, 0 };
	struct walk *x = calloc(1, sizeof(*x));
	struct lockmap_ioc_create cr;
	char key[8], k[8], buf[8];

	ASSERT_NE(NULL, x);
	lm_create_init(&cr, variant->flags, 0, NULL);
	cr.nr_shards = 1;
	ASSERT_EQ(0, lm_ioctl(self->fd, LOCKMAP_IOC_CREATE, &cr));
	id = cr.map_id;
	for (i = 0; i < CLEAR_KEYS; i++) {
		snprintf(key, sizeof(key), "c%d", i);
		ASSERT_EQ(0, lm_puts(self->fd, id, key, key));
	}
	x->t.fd = self->fd;
	x->t.id = id;
	ASSERT_EQ(0, walk_map(x));
	ASSERT_EQ(CLEAR_KEYS, x->nr);
	memcpy(k, x->keys[CLEAR_KEYS / 2], sizeof(k));
	h.id = id;
	h.key = k;
	ASSERT_EQ(0, pthread_create(&h.tid, NULL, hold_thread, &h));
	ASSERT_EQ(0, lm_wait_held(self->fd, id, k, 20 * SEC));
	c.t.id = id;
	ASSERT_EQ(0, pthread_create(&c.t.tid, NULL, clear_thread, &c));
	ASSERT_EQ(0, thr_wait_blocked(&c.t, LOCKMAP_IOC_CLEAR, 20 * SEC));
	/* what CLEAR has removed while it waits for K */
	for (i = 0; i < CLEAR_KEYS; i++) {
		snprintf(key, sizeof(key), "c%d", i);
		was[i] = lm_contains(self->fd, id, key, LOCKMAP_OPF_NOWAIT);
		/* K busy, every other key present (1) or removed (0) */
		EXPECT_EQ(!strcmp(key, k), was[i] == -EBUSY)
			TH_LOG("key %s: %d", key, was[i]);
		EXPECT_TRUE(was[i] == -EBUSY || was[i] == 0 || was[i] == 1);
		nr_gone += !was[i];
	}
	TH_LOG("CLEAR removed %d of %d values before it waited for %s",
	       nr_gone, CLEAR_KEYS, k);
	EXPECT_EQ(0, atomic_load(&c.t.done));
	{
		long long us = signal_once(&c.t, &c.end_us);

		EXPECT_LE(0, us) TH_LOG("CLEAR still waiting 3 s after SIGUSR1");
		EXPECT_GT(SEC, us);
	}
	pthread_join(c.t.tid, NULL);
	EXPECT_EQ(-EINTR, c.t.ret);
	/* the same keys gone, no more, no fewer; K still held */
	for (i = 0; i < CLEAR_KEYS; i++) {
		snprintf(key, sizeof(key), "c%d", i);
		now = lm_contains(self->fd, id, key, LOCKMAP_OPF_NOWAIT);
		EXPECT_EQ(was[i], now) TH_LOG("key %s", key);
	}
	EXPECT_EQ(0, atomic_load(&h.done));
	EXPECT_EQ(CLEAR_KEYS - nr_gone, lm_len(self->fd, id));
	poke_until_done(&h, 10 * SEC);
	pthread_join(h.tid, NULL);
	EXPECT_EQ(-EINTR, h.ret);
	/* K kept its value; a CLEAR with nothing held removes the rest */
	EXPECT_EQ((long long)strlen(k), lm_get(self->fd, id, k, buf, sizeof(buf)));
	EXPECT_STREQ(k, buf);
	EXPECT_EQ(CLEAR_KEYS - nr_gone, lm_len(self->fd, id));
	c.removed = 0;
	ASSERT_EQ(0, lm_map_cmd(self->fd, LOCKMAP_IOC_CLEAR, id, &c.removed));
	EXPECT_EQ(CLEAR_KEYS - nr_gone, c.removed);
	EXPECT_EQ(0, lm_len(self->fd, id));
	free(x);
}

TEST_F(lk, close_while_holding)
{
	int fd2 = lm_open();
	struct thr h = { fd2, self->id, "K", SEC, "late", 0, 0, 0, 0 };
	struct lockmap_ioc_stats st;
	char buf[8];

	ASSERT_LE(0, fd2);
	ASSERT_EQ(self->id, lm_attach(fd2, self->id, NULL));
	ASSERT_EQ(0, pthread_create(&h.tid, NULL, hold_thread, &h));
	ASSERT_EQ(0, lm_wait_held(self->fd, self->id, "K", 20 * SEC));
	EXPECT_EQ(0, close(fd2));
	EXPECT_EQ(0, atomic_load(&h.done));
	pthread_join(h.tid, NULL);
	/* the ioctl in flight finished its work on the closed file */
	EXPECT_EQ(0, h.ret);
	EXPECT_EQ(4, lm_get(self->fd, self->id, "K", buf, sizeof(buf)));
	EXPECT_EQ(1, lm_contains(self->fd, self->id, "K", LOCKMAP_OPF_NOWAIT));
	ASSERT_EQ(0, lm_stats(self->fd, self->id, &st));
	EXPECT_EQ(1, st.nr_files);
	EXPECT_EQ(0, lm_hold(self->fd, self->id, "K", 1000, "again"));
}

TEST_F(lk, close_last_file_while_holding)
{
	/* the map lives only in fd2, which is closed under the hold */
	int fd2 = lm_open(), id2;
	struct thr h = { fd2, 0, "K", SEC, "late", 0, 0, 0, 0 };
	struct lockmap_ioc_stats st;
	long long t_end;

	ASSERT_LE(0, fd2);
	id2 = lm_create(fd2, variant->flags, 0, NULL);
	ASSERT_LT(0, id2);
	h.id = id2;
	ASSERT_EQ(0, pthread_create(&h.tid, NULL, hold_thread, &h));
	ASSERT_EQ(0, lm_wait_held(fd2, id2, "K", 20 * SEC));
	EXPECT_EQ(0, close(fd2));
	EXPECT_EQ(-EBADF, lm_len(fd2, id2));
	pthread_join(h.tid, NULL);
	EXPECT_EQ(0, h.ret);
	/* the map went with its last file, once the ioctl was done */
	t_end = lm_now_us() + 5 * SEC;
	while (lm_stats(self->fd, id2, &st) == 0 && lm_now_us() < t_end)
		lm_sleep_us(10000);
	EXPECT_EQ(-ENOENT, lm_stats(self->fd, id2, &st));
	/* and everything else still works */
	EXPECT_EQ(0, lm_hold(self->fd, self->id, "K", 1000, "ok"));
}

TEST_F(lk, close_while_waiting)
{
	int fd2 = lm_open();
	struct thr w = { fd2, self->id, "K", 0, NULL, 0, 0, 0, 0 };
	struct shared *s = shared_new();
	pid_t pid;

	ASSERT_NE(NULL, s);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(self->id, lm_attach(fd2, self->id, NULL));
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "K", "H"));
	pid = spawn_holder(self->name, self->id, "K", LONG_HOLD, "never", s);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, lm_wait_held(self->fd, self->id, "K", 20 * SEC));
	ASSERT_EQ(0, pthread_create(&w.tid, NULL, get_thread, &w));
	ASSERT_EQ(0, thr_wait_blocked(&w, LOCKMAP_IOC_OP, 20 * SEC));
	EXPECT_EQ(0, close(fd2));
	/* still held, and nobody flagged the waiter done */
	EXPECT_EQ(-EBUSY, lm_contains(self->fd, self->id, "K", LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(0, atomic_load(&w.done));
	/* the hold ends early (a signal: it applies nothing) */
	EXPECT_EQ(1, lm_end_child(pid, SIGUSR1, 10 * SEC));
	EXPECT_EQ(-EINTR, atomic_load(&s->ret));
	pthread_join(w.tid, NULL);
	/* the waiter got the value once the holder was done */
	EXPECT_EQ(0, w.ret);
	EXPECT_EQ(1, lm_contains(self->fd, self->id, "K", LOCKMAP_OPF_NOWAIT));
}

TEST_F(lk, kill_holder_frees_key)
{
	struct shared *s = shared_new();
	long long t0;
	pid_t pid;

	ASSERT_NE(NULL, s);
	pid = spawn_holder(self->name, self->id, "K", 5 * SEC, "never", s);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, lm_wait_held(self->fd, self->id, "K", 20 * SEC));
	t0 = lm_now_us();
	ASSERT_EQ(0, kill(pid, SIGKILL));
	EXPECT_EQ(128 + SIGKILL, wait_exit(pid));
	/* the key is free long before the hold would have ended */
	EXPECT_EQ(0, lm_contains(self->fd, self->id, "K", LOCKMAP_OPF_NOWAIT));
	EXPECT_GT(4 * SEC, lm_now_us() - t0);
	EXPECT_EQ(0, lm_len(self->fd, self->id));
}

TEST_F(lk, kill_waiter_leaves_key_usable)
{
	struct shared *s = shared_new(), *s2 = shared_new();
	pid_t holder, waiter;
	char buf[8];

	ASSERT_NE(NULL, s);
	ASSERT_NE(NULL, s2);
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "K", "H"));
	holder = spawn_holder(self->name, self->id, "K", LONG_HOLD, "never", s);
	ASSERT_LT(0, holder);
	ASSERT_EQ(0, lm_wait_held(self->fd, self->id, "K", 20 * SEC));
	/* the waiter wants K too (a zero-length hold that would insert "W") */
	waiter = spawn_holder(self->name, self->id, "K", 0, "W", s2);
	ASSERT_LT(0, waiter);
	/* killed while it waits for K in the kernel, not before */
	ASSERT_EQ(0, lm_wait_blocked(waiter, LOCKMAP_IOC_HOLD, 20 * SEC));
	EXPECT_EQ(0, atomic_load(&s2->done));
	EXPECT_EQ(0, atomic_load(&s->done));
	ASSERT_EQ(0, kill(waiter, SIGKILL));
	EXPECT_EQ(128 + SIGKILL, wait_exit(waiter));
	EXPECT_EQ(0, atomic_load(&s2->done));
	/* the dead waiter took nothing from the holder: K is still held */
	EXPECT_EQ(-EBUSY, lm_contains(self->fd, self->id, "K", LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(0, atomic_load(&s->done));
	EXPECT_EQ(1, lm_end_child(holder, SIGUSR1, 10 * SEC));
	EXPECT_EQ(-EINTR, atomic_load(&s->ret));
	/* neither the waiter's "W" nor the ended hold's value */
	EXPECT_EQ(1, lm_get(self->fd, self->id, "K", buf, sizeof(buf)));
	EXPECT_STREQ("H", buf);
	EXPECT_EQ(0, lm_hold(self->fd, self->id, "K", 1000, "me"));
}

/*
 * Writers replace and remove the values of a few keys while readers GET
 * them: every value read must be one that was written, whole.  A value of
 * byte c is VAL_LEN(c) bytes of c.  In an rcu_get map the readers copy
 * values that writers are replacing and freeing: one freed before a grace
 * period has passed is a KASAN report on the debug kernel, or a torn read.
 */
#define CHURN_KEYS	4
#define VAL_LEN(c)	(8 * ((c) - 'a' + 1))

struct churn {
	int fd;
	__u32 id;
	unsigned int seed;
	long long until;
	atomic_int *errors;
	long reads;		/* values read and checked */
	long writes;
};

static void churn_key(char *key, unsigned int n)
{
	snprintf(key, 8, "c%u", n % CHURN_KEYS);
}

static void *churn_writer(void *arg)
{
	struct churn *w = arg;
	char key[8], val[VAL_LEN('z')];
	int ret;

	while (lm_now_us() < w->until) {
		unsigned int r = rand_r(&w->seed);
		char c = 'a' + r % 26;

		churn_key(key, r >> 8);
		memset(val, c, VAL_LEN(c));
		ret = r % 8 ? lm_put(w->fd, w->id, key, val, VAL_LEN(c)) :
			      lm_del(w->fd, w->id, key);
		if (ret && ret != -ENOENT)
			atomic_fetch_add(w->errors, 1);
		w->writes++;
	}
	return NULL;
}

static void *churn_reader(void *arg)
{
	struct churn *w = arg;
	char key[8], buf[VAL_LEN('z') + 1];
	long long n, i;

	while (lm_now_us() < w->until) {
		churn_key(key, rand_r(&w->seed));
		n = lm_get(w->fd, w->id, key, buf, sizeof(buf));
		if (n == -ENOENT)
			continue;
		if (n <= 0 || buf[0] < 'a' || buf[0] > 'z' ||
		    n != VAL_LEN(buf[0])) {
			atomic_fetch_add(w->errors, 1);
			continue;
		}
		for (i = 1; i < n; i++)
			if (buf[i] != buf[0])
				break;
		if (i < n)
			atomic_fetch_add(w->errors, 1);
		w->reads++;
	}
	return NULL;
}

TEST_F(lk, get_sees_whole_values_under_churn)
{
	struct churn w[4];
	atomic_int errors = 0;
	long long until = lm_now_us() + SEC;
	pthread_t tid[4];
	int i;

	for (i = 0; i < 4; i++) {
		w[i] = (struct churn){ self->fd, self->id, 1 + i, until,
				       &errors, 0, 0 };
		ASSERT_EQ(0, pthread_create(&tid[i], NULL,
					    i < 2 ? churn_writer : churn_reader,
					    &w[i]));
	}
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, pthread_join(tid[i], NULL));
	EXPECT_EQ(0, atomic_load(&errors));
	/* Each did some work (under 100 a second on the debug kernel). */
	for (i = 0; i < 4; i++) {
		long done = i < 2 ? w[i].writes : w[i].reads;

		EXPECT_LT(10, done) TH_LOG("thread %d did %ld", i, done);
	}
}

TEST_HARNESS_MAIN
