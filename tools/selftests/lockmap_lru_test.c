// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/lockmap LRU caches from userspace: capacity and eviction order, peek
 * versus get, pop_lru, capacity changes, held keys skipped by eviction and
 * pop, and the shrinker reached through drop_caches.
 *
 * The caches use one shard, so that the capacity is exact and the LRU order
 * is one list (each shard has its own order and share of the capacity).
 */
#define _GNU_SOURCE
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lockmap_helpers.h"

static int lru_create(int fd, __u64 cap, __u32 max_evict, __u32 extra_flags)
{
	struct lockmap_ioc_create c;
	int ret;

	lm_create_init(&c, LOCKMAP_CREATE_LRU | extra_flags, cap, NULL);
	c.nr_shards = 1;
	c.max_evict = max_evict;
	ret = lm_ioctl(fd, LOCKMAP_IOC_CREATE, &c);
	return ret ? ret : (int)c.map_id;
}

static int put_keys(int fd, int id, int from, int to)
{
	char key[16];
	int i, ret;

	for (i = from; i < to; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ret = lm_puts(fd, id, key, key);
		if (ret)
			return ret;
	}
	return 0;
}

/* A bitmap of which keys k0..k31 are present. */
static unsigned int present(int fd, int id)
{
	unsigned int mask = 0;
	char key[16];
	int i;

	for (i = 0; i < 32; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		if (lm_contains(fd, id, key, 0) == 1)
			mask |= 1U << i;
	}
	return mask;
}

FIXTURE(lru) {
	int fd;
	int id;
};

/* A GET of an rcu_get map promotes the key without locking it. */
FIXTURE_VARIANT(lru) {
	__u32 flags;
};

FIXTURE_VARIANT_ADD(lru, locked) {
	.flags = 0,
};

FIXTURE_VARIANT_ADD(lru, rcu_get) {
	.flags = LOCKMAP_CREATE_RCU_GET,
};

FIXTURE_SETUP(lru)
{
	self->fd = lm_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", LM_DEV, strerror(-self->fd));
	self->id = lru_create(self->fd, 4, 0, variant->flags);
	ASSERT_LT(0, self->id);
}

FIXTURE_TEARDOWN(lru)
{
	close(self->fd);
}

TEST_F(lru, capacity_evicts_least_recent)
{
	struct lockmap_ioc_stats st;

	ASSERT_EQ(0, put_keys(self->fd, self->id, 0, 4));
	EXPECT_EQ(0xfU, present(self->fd, self->id));
	ASSERT_EQ(0, put_keys(self->fd, self->id, 4, 6));
	EXPECT_EQ(4, lm_len(self->fd, self->id));
	EXPECT_EQ(0x3cU, present(self->fd, self->id));
	ASSERT_EQ(0, lm_stats(self->fd, self->id, &st));
	EXPECT_EQ(LOCKMAP_CREATE_LRU | variant->flags, st.map_flags);
	EXPECT_EQ(4, st.capacity);
	EXPECT_EQ(2, st.evictions);
	EXPECT_EQ(1, st.nr_shards);
}

TEST_F(lru, get_makes_most_recent)
{
	char buf[8];

	ASSERT_EQ(0, put_keys(self->fd, self->id, 0, 4));
	ASSERT_EQ(2, lm_get(self->fd, self->id, "k0", buf, sizeof(buf)));
	ASSERT_EQ(0, put_keys(self->fd, self->id, 4, 5));
	/* k1 was the least recently used, not k0 */
	EXPECT_EQ(0x1dU, present(self->fd, self->id));
}

TEST_F(lru, insert_makes_most_recent)
{
	ASSERT_EQ(0, put_keys(self->fd, self->id, 0, 4));
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "k0", "again"));
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "k1", "again"));
	ASSERT_EQ(0, put_keys(self->fd, self->id, 4, 6));
	EXPECT_EQ(0x33U, present(self->fd, self->id));
}

TEST_F(lru, peek_keeps_order)
{
	struct lockmap_ioc_op op;
	char buf[8];

	ASSERT_EQ(0, put_keys(self->fd, self->id, 0, 4));
	lm_op_str(&op, self->id, LOCKMAP_OP_PEEK, "k0");
	op.out = lm_ptr(buf);
	op.out_size = sizeof(buf);
	ASSERT_EQ(0, lm_op(self->fd, &op));
	EXPECT_EQ(2, op.out_len);
	EXPECT_EQ(0, memcmp(buf, "k0", 2));
	ASSERT_EQ(0, put_keys(self->fd, self->id, 4, 5));
	/* peeked k0 was still the least recently used */
	EXPECT_EQ(0x1eU, present(self->fd, self->id));
	/* peek of an absent key */
	lm_op_str(&op, self->id, LOCKMAP_OP_PEEK, "k0");
	EXPECT_EQ(-ENOENT, lm_op(self->fd, &op));
}

TEST_F(lru, iter_and_contains_keep_order)
{
	struct lockmap_ioc_iter it;
	unsigned char buf[512];

	ASSERT_EQ(0, put_keys(self->fd, self->id, 0, 4));
	memset(&it, 0, sizeof(it));
	it.size = sizeof(it);
	it.map_id = self->id;
	it.max_records = LOCKMAP_ITER_MAX_RECORDS;
	it.buf = lm_ptr(buf);
	it.buf_size = sizeof(buf);
	ASSERT_EQ(0, lm_ioctl(self->fd, LOCKMAP_IOC_ITER, &it));
	EXPECT_EQ(4, it.nr_records);
	EXPECT_EQ(1, lm_contains(self->fd, self->id, "k0", 0));
	ASSERT_EQ(0, put_keys(self->fd, self->id, 4, 5));
	EXPECT_EQ(0x1eU, present(self->fd, self->id));
}

TEST_F(lru, pop_returns_oldest_first)
{
	struct lockmap_ioc_pop p;
	char key[16], val[16], want[16];
	int i;

	ASSERT_EQ(0, put_keys(self->fd, self->id, 0, 4));
	ASSERT_EQ(2, lm_get(self->fd, self->id, "k1", val, sizeof(val)));
	/* order now k0 k2 k3 k1 */
	for (i = 0; i < 4; i++) {
		static const int order[] = { 0, 2, 3, 1 };

		memset(&p, 0, sizeof(p));
		p.size = sizeof(p);
		p.map_id = self->id;
		p.key = lm_ptr(key);
		p.key_size = sizeof(key);
		p.value = lm_ptr(val);
		p.value_size = sizeof(val);
		ASSERT_EQ(0, lm_ioctl(self->fd, LOCKMAP_IOC_POP_LRU, &p));
		EXPECT_EQ(LOCKMAP_OUT_FOUND, p.out_flags);
		snprintf(want, sizeof(want), "k%d", order[i]);
		ASSERT_EQ(strlen(want), p.key_len);
		ASSERT_EQ(strlen(want), p.value_len);
		EXPECT_EQ(0, memcmp(key, want, p.key_len));
		EXPECT_EQ(0, memcmp(val, want, p.value_len));
		EXPECT_EQ(3 - i, lm_len(self->fd, self->id));
	}
	EXPECT_EQ(-ENOENT, lm_ioctl(self->fd, LOCKMAP_IOC_POP_LRU, &p));
}

TEST_F(lru, pop_truncates_but_removes)
{
	struct lockmap_ioc_pop p;
	char key[2], val[2];

	ASSERT_EQ(0, lm_puts(self->fd, self->id, "longkey", "longvalue"));
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.map_id = self->id;
	p.key = lm_ptr(key);
	p.key_size = sizeof(key);
	p.value = lm_ptr(val);
	p.value_size = sizeof(val);
	ASSERT_EQ(0, lm_ioctl(self->fd, LOCKMAP_IOC_POP_LRU, &p));
	EXPECT_EQ(LOCKMAP_OUT_FOUND | LOCKMAP_OUT_TRUNCATED, p.out_flags);
	EXPECT_EQ(7, p.key_len);
	EXPECT_EQ(9, p.value_len);
	EXPECT_EQ(0, memcmp(key, "lo", 2));
	EXPECT_EQ(0, memcmp(val, "lo", 2));
	EXPECT_EQ(0, lm_len(self->fd, self->id));
	/* no value buffer at all */
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "k", "v"));
	p.value = 0;
	p.value_size = 0;
	ASSERT_EQ(0, lm_ioctl(self->fd, LOCKMAP_IOC_POP_LRU, &p));
	EXPECT_EQ(1, p.key_len);
	EXPECT_EQ(1, p.value_len);
	EXPECT_EQ(0, lm_len(self->fd, self->id));
}

TEST(set_capacity_shrinks_lazily)
{
	struct lockmap_ioc_stats st;
	int fd = lm_open(), id;
	__u64 cap = 2;

	ASSERT_LE(0, fd);
	id = lru_create(fd, 8, 16, 0);
	ASSERT_LT(0, id);
	ASSERT_EQ(0, put_keys(fd, id, 0, 8));
	ASSERT_EQ(0, lm_map_cmd(fd, LOCKMAP_IOC_SET_CAPACITY, id, &cap));
	ASSERT_EQ(0, lm_stats(fd, id, &st));
	EXPECT_EQ(2, st.capacity);
	/* lazily: nothing evicted until the next insertion */
	EXPECT_EQ(8, lm_len(fd, id));
	ASSERT_EQ(0, put_keys(fd, id, 8, 9));
	EXPECT_EQ(2, lm_len(fd, id));
	EXPECT_EQ(0x180U, present(fd, id));
	/* growing again keeps more */
	cap = 5;
	ASSERT_EQ(0, lm_map_cmd(fd, LOCKMAP_IOC_SET_CAPACITY, id, &cap));
	ASSERT_EQ(0, put_keys(fd, id, 9, 14));
	EXPECT_EQ(5, lm_len(fd, id));
	EXPECT_EQ(0x3e00U, present(fd, id));
	cap = 0;
	EXPECT_EQ(-EINVAL, lm_map_cmd(fd, LOCKMAP_IOC_SET_CAPACITY, id, &cap));
	close(fd);
}

TEST(max_evict_bounds_one_insertion)
{
	int fd = lm_open(), id;
	__u64 cap = 2;

	ASSERT_LE(0, fd);
	id = lru_create(fd, 6, 1, 0);
	ASSERT_LT(0, id);
	ASSERT_EQ(0, put_keys(fd, id, 0, 6));
	ASSERT_EQ(0, lm_map_cmd(fd, LOCKMAP_IOC_SET_CAPACITY, id, &cap));
	/* at most one eviction per insertion: the shard shrinks step by step */
	ASSERT_EQ(0, put_keys(fd, id, 6, 7));
	EXPECT_EQ(6, lm_len(fd, id));
	ASSERT_EQ(0, put_keys(fd, id, 7, 8));
	EXPECT_EQ(6, lm_len(fd, id));
	close(fd);
}

/*
 * The holds of hold_keys(): the default max_hold_usec, so that they outlast
 * the checks made under them on the slowest guest; end_hold() ends them as
 * soon as those are done.
 */
#define LONG_HOLD 5000000LL

static void on_signal(int sig)
{
	(void)sig;
}

/*
 * A child with its own file holds @nr keys "k<i>" of map @id for @usec, or
 * until SIGUSR1 (caught without SA_RESTART: the hold ends with -EINTR);
 * it exits 0 either way.
 */
static pid_t hold_keys(int id, int nr, long long usec)
{
	struct lockmap_ioc_key keys[8];
	struct lockmap_ioc_batch b;
	static char names[8][8];
	struct sigaction sa;
	pid_t pid = fork();
	int fd, i, ret;

	if (pid)
		return pid;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		_exit(3);
	fd = lm_open();
	if (fd < 0 || lm_attach(fd, id, NULL) != id)
		_exit(2);
	for (i = 0; i < nr; i++) {
		snprintf(names[i], sizeof(names[i]), "k%d", i);
		keys[i].key = lm_ptr(names[i]);
		keys[i].len = strlen(names[i]);
	}
	lm_batch_init(&b, id, keys, nr, NULL, 0);
	b.hold_usec = usec;
	ret = lm_batch(fd, &b);
	_exit(ret && ret != -EINTR ? 1 : 0);
}

/* Ends the hold of hold_keys() early; returns the child's exit status. */
static int end_hold(pid_t pid)
{
	return lm_end_child(pid, SIGUSR1, 10000000);
}

TEST(eviction_skips_held_keys)
{
	struct lockmap_ioc_stats st;
	int fd = lm_open(), id;
	pid_t pid;

	ASSERT_LE(0, fd);
	id = lru_create(fd, 2, 4, 0);
	ASSERT_LT(0, id);
	ASSERT_EQ(0, put_keys(fd, id, 0, 2));
	pid = hold_keys(id, 2, LONG_HOLD);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, lm_wait_held(fd, id, "k0", 20000000));
	ASSERT_EQ(0, lm_wait_held(fd, id, "k1", 20000000));
	/* every candidate is held: the shard may go over capacity */
	ASSERT_EQ(0, put_keys(fd, id, 2, 3));
	EXPECT_EQ(3, lm_len(fd, id));
	ASSERT_EQ(0, lm_stats(fd, id, &st));
	EXPECT_EQ(3, st.evict_skipped);	/* k0, k1 and the inserter's own k2 */
	EXPECT_EQ(0, st.evictions);
	/* the checks above ran under the hold */
	EXPECT_EQ(-EBUSY, lm_contains(fd, id, "k0", LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(-EBUSY, lm_contains(fd, id, "k1", LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(0, end_hold(pid));
	/* held keys were never evicted; once free, the shard catches up */
	EXPECT_EQ(0x7U, present(fd, id));
	ASSERT_EQ(0, put_keys(fd, id, 3, 4));
	EXPECT_EQ(2, lm_len(fd, id));
	close(fd);
}

TEST(pop_skips_held_keys)
{
	struct lockmap_ioc_pop p;
	int fd = lm_open(), id;
	char key[8];
	pid_t pid;

	ASSERT_LE(0, fd);
	id = lru_create(fd, 4, 0, 0);
	ASSERT_LT(0, id);
	ASSERT_EQ(0, put_keys(fd, id, 0, 2));
	pid = hold_keys(id, 2, LONG_HOLD);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, lm_wait_held(fd, id, "k0", 20000000));
	ASSERT_EQ(0, lm_wait_held(fd, id, "k1", 20000000));
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.map_id = id;
	p.key = lm_ptr(key);
	p.key_size = sizeof(key);
	/* both keys held: nothing to pop, and pop does not wait */
	EXPECT_EQ(-ENOENT, lm_ioctl(fd, LOCKMAP_IOC_POP_LRU, &p));
	EXPECT_EQ(2, lm_len(fd, id));
	ASSERT_EQ(0, put_keys(fd, id, 2, 3));
	ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_POP_LRU, &p));
	EXPECT_EQ(0, memcmp(key, "k2", 2));
	/* the checks above ran under the hold */
	EXPECT_EQ(-EBUSY, lm_contains(fd, id, "k0", LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(-EBUSY, lm_contains(fd, id, "k1", LOCKMAP_OPF_NOWAIT));
	EXPECT_EQ(0, end_hold(pid));
	ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_POP_LRU, &p));
	close(fd);
}

/*
 * Each shard keeps its own share of the capacity (64 / 8 = 8): 64 new keys
 * fill a cache of capacity 64 exactly, yet they spread unevenly over the 8
 * shards, so the fuller shards evict.  One global capacity would keep all
 * 64 (all 8 shards getting exactly 8 keys has probability 3e-6).
 */
TEST(lru_with_many_shards)
{
	struct lockmap_ioc_create c;
	struct lockmap_ioc_stats st;
	int fd = lm_open();

	ASSERT_LE(0, fd);
	lm_create_init(&c, LOCKMAP_CREATE_LRU, 64, NULL);
	c.nr_shards = 8;
	ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_CREATE, &c));
	ASSERT_EQ(0, put_keys(fd, c.map_id, 0, 64));
	ASSERT_EQ(0, lm_stats(fd, c.map_id, &st));
	EXPECT_EQ(8, st.nr_shards);
	EXPECT_EQ(64, st.len + st.evictions);
	EXPECT_LT(0, st.evictions);
	EXPECT_GT(64, lm_len(fd, c.map_id));
	/* many more keys: every shard full at its share, 64 in all */
	ASSERT_EQ(0, put_keys(fd, c.map_id, 64, 400));
	EXPECT_GE(64, lm_len(fd, c.map_id));
	EXPECT_LE(32, lm_len(fd, c.map_id));
	ASSERT_EQ(0, lm_stats(fd, c.map_id, &st));
	EXPECT_EQ(400, st.len + st.evictions);
	close(fd);
}

/* Fills an LRU cache of capacity 1000 with 1000 values of 512 bytes. */
static int fill_1000(int fd, int id)
{
	char key[16], val[512];
	int i, ret;

	memset(val, 'v', sizeof(val));
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ret = lm_put(fd, id, key, val, sizeof(val));
		if (ret)
			return ret;
	}
	return 0;
}

/* Asks every registered shrinker to scan (drop_caches 2: slab objects). */
static int lru_drop_caches(void)
{
	int dc = open("/proc/sys/vm/drop_caches", O_WRONLY), i, bad = 0;

	if (dc < 0)
		return -errno;
	for (i = 0; i < 3; i++)
		bad += write(dc, "2\n", 2) != 2;
	close(dc);
	return bad ? -EIO : 0;
}

/*
 * Under memory pressure (drop_caches scans at priority 0, so everything
 * it counts) a cache created with LOCKMAP_CREATE_SHRINKER gives its values
 * back, and one created without keeps them all.  Once the caches are
 * destroyed, drop_caches runs again: a shrinker left registered on a freed
 * map is a use-after-free, which KASAN reports (the splat scan fails).
 */
TEST(shrinker_gives_values_back)
{
	struct lockmap_ioc_stats st, ctl;
	int fd = lm_open(), id, ctl_id;
	long long t_end;

	ASSERT_LE(0, fd);
	if (access("/proc/sys/vm/drop_caches", W_OK))
		SKIP(close(fd); return, "no /proc/sys/vm/drop_caches");
	id = lru_create(fd, 1000, 0, LOCKMAP_CREATE_SHRINKER);
	ASSERT_LT(0, id);
	/* the control: the same cache without a shrinker */
	ctl_id = lru_create(fd, 1000, 0, 0);
	ASSERT_LT(0, ctl_id);
	ASSERT_EQ(0, fill_1000(fd, id));
	ASSERT_EQ(0, fill_1000(fd, ctl_id));
	ASSERT_EQ(0, lm_stats(fd, id, &st));
	ASSERT_EQ(1000, st.len);
	ASSERT_EQ(0, st.evictions);

	ASSERT_EQ(0, lru_drop_caches());
	ASSERT_EQ(0, lm_stats(fd, id, &st));
	ASSERT_EQ(0, lm_stats(fd, ctl_id, &ctl));
	TH_LOG("after drop_caches: %llu values kept, %llu given back",
	       (unsigned long long)st.len, (unsigned long long)st.evictions);
	TH_LOG("control without a shrinker: %llu kept, %llu given back",
	       (unsigned long long)ctl.len, (unsigned long long)ctl.evictions);
	/* values were given back, nearly all of them (nobody held any) */
	EXPECT_LT(0, st.evictions);
	EXPECT_GT(1000, st.len);
	EXPECT_LE(900, st.evictions);
	EXPECT_EQ(1000, st.len + st.evictions);
	/* no shrinker, nothing given back */
	EXPECT_EQ(1000, ctl.len);
	EXPECT_EQ(0, ctl.evictions);
	EXPECT_EQ(1000, lm_len(fd, ctl_id));

	/* the map still works */
	EXPECT_EQ(0, lm_puts(fd, id, "after", "shrink"));
	EXPECT_EQ(1, lm_contains(fd, id, "after", 0));

	/* destroyed with its last file: its shrinker must be gone too */
	ASSERT_EQ(0, close(fd));
	fd = lm_open();
	ASSERT_LE(0, fd);
	t_end = lm_now_us() + 5000000;
	while (lm_stats(fd, id, &st) == 0 && lm_now_us() < t_end)
		lm_sleep_us(10000);
	ASSERT_EQ(-ENOENT, lm_stats(fd, id, &st));
	EXPECT_EQ(0, lru_drop_caches());
	close(fd);
}

TEST_HARNESS_MAIN
