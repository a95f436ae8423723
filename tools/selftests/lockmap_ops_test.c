// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/lockmap: every ioctl and every operation, one behaviour per case.
 * Contention, signals and the LRU policy have their own binaries.
 */
#define _GNU_SOURCE
#include <linux/userfaultfd.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lockmap_helpers.h"

FIXTURE(map) {
	int fd;
	int id;
};

/* Single GET, PEEK and CONTAINS of an rcu_get map take no key lock. */
FIXTURE_VARIANT(map) {
	__u32 flags;
};

FIXTURE_VARIANT_ADD(map, locked) {
	.flags = 0,
};

FIXTURE_VARIANT_ADD(map, rcu_get) {
	.flags = LOCKMAP_CREATE_RCU_GET,
};

FIXTURE_SETUP(map)
{
	self->fd = lm_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", LM_DEV, strerror(-self->fd));
	self->id = lm_create(self->fd, variant->flags, 0, NULL);
	ASSERT_LT(0, self->id);
}

FIXTURE_TEARDOWN(map)
{
	close(self->fd);
}

TEST(create_reports_limits)
{
	struct lockmap_ioc_create c;
	struct lockmap_ioc_stats st;
	int fd = lm_open();

	ASSERT_LE(0, fd);
	lm_create_init(&c, 0, 0, "ops-limits");
	c.max_value_len = 100;
	c.max_entries = 50;
	c.nr_shards = 4;
	ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_CREATE, &c));
	ASSERT_NE(0, c.map_id);
	ASSERT_EQ(0, lm_stats(fd, c.map_id, &st));
	EXPECT_STREQ("ops-limits", (char *)st.name);
	EXPECT_EQ(0, st.map_flags);
	EXPECT_EQ(0, st.len);
	EXPECT_EQ(0, st.slots);
	EXPECT_EQ(0, st.capacity);
	EXPECT_EQ(50, st.max_entries);
	EXPECT_EQ(4, st.nr_shards);
	EXPECT_EQ(0, st.key_len);
	EXPECT_EQ(lm_param("max_key_len", LOCKMAP_DEFAULT_MAX_KEY_LEN),
		  st.max_key_len);
	EXPECT_EQ(100, st.max_value_len);
	EXPECT_EQ(1, st.nr_files);
	EXPECT_EQ(0, st.reserved[0] | st.reserved[1] | st.reserved[2] |
		  st.reserved[3]);
	close(fd);
}

TEST(create_defaults)
{
	struct lockmap_ioc_stats st;
	int fd = lm_open(), id;

	ASSERT_LE(0, fd);
	id = lm_create(fd, LOCKMAP_CREATE_RT_MUTEX, 0, NULL);
	ASSERT_LT(0, id);
	ASSERT_EQ(0, lm_stats(fd, id, &st));
	EXPECT_EQ(LOCKMAP_CREATE_RT_MUTEX, st.map_flags);
	EXPECT_EQ(0, st.name[0]);
	EXPECT_EQ(lm_param("max_entries", LOCKMAP_DEFAULT_MAX_ENTRIES),
		  st.max_entries);
	EXPECT_EQ(lm_param("max_value_len", LOCKMAP_DEFAULT_MAX_VALUE_LEN),
		  st.max_value_len);
	/* nr_shards defaults to a power of two */
	EXPECT_NE(0, st.nr_shards);
	EXPECT_EQ(0, st.nr_shards & (st.nr_shards - 1));
	ASSERT_EQ(0, lm_puts(fd, id, "k", "v"));
	close(fd);
}

TEST(name_unique_while_alive)
{
	int a = lm_open(), b = lm_open();

	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_LT(0, lm_create(a, 0, 0, "ops-uniq"));
	EXPECT_EQ(-EEXIST, lm_create(b, 0, 0, "ops-uniq"));
	EXPECT_EQ(-EEXIST, lm_create(a, 0, 0, "ops-uniq"));
	close(a);
	/* the last file closed: the name is free again */
	EXPECT_LT(0, lm_create(b, 0, 0, "ops-uniq"));
	close(b);
}

TEST(attach_by_name_and_id)
{
	struct lockmap_ioc_stats st;
	int a = lm_open(), b = lm_open(), c = lm_open(), id;
	char buf[16];

	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_LE(0, c);
	id = lm_create(a, 0, 0, "ops-attach");
	ASSERT_LT(0, id);
	ASSERT_EQ(0, lm_puts(a, id, "hello", "world"));
	/* not attached yet: unusable, but STATS tells about any map */
	EXPECT_EQ(-ENOENT, lm_get(b, id, "hello", buf, sizeof(buf)));
	EXPECT_EQ(0, lm_stats(b, id, &st));
	EXPECT_EQ(id, lm_attach(b, 0, "ops-attach"));
	EXPECT_EQ(id, lm_attach(c, id, NULL));
	EXPECT_EQ(-EEXIST, lm_attach(b, id, NULL));
	EXPECT_EQ(-EEXIST, lm_attach(a, 0, "ops-attach"));
	EXPECT_EQ(-ENOENT, lm_attach(b, 0, "ops-nosuch"));
	EXPECT_EQ(-ENOENT, lm_attach(b, 0x7ffffff0, NULL));
	ASSERT_EQ(0, lm_stats(a, id, &st));
	EXPECT_EQ(3, st.nr_files);
	EXPECT_EQ(5, lm_get(b, id, "hello", buf, sizeof(buf)));
	EXPECT_STREQ("world", buf);
	EXPECT_EQ(0, lm_puts(c, id, "from-c", "1"));
	EXPECT_EQ(2, lm_len(a, id));
	close(a);
	close(b);
	close(c);
}

TEST(detach_and_last_close_free_the_map)
{
	struct lockmap_ioc_stats st;
	int a = lm_open(), b = lm_open(), id;

	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	id = lm_create(a, 0, 0, "ops-detach");
	ASSERT_LT(0, id);
	ASSERT_EQ(id, lm_attach(b, id, NULL));
	ASSERT_EQ(0, lm_puts(a, id, "k", "v"));
	ASSERT_EQ(0, lm_detach(a, id));
	EXPECT_EQ(-ENOENT, lm_detach(a, id));
	EXPECT_EQ(-ENOENT, lm_puts(a, id, "k", "w"));
	EXPECT_EQ(-ENOENT, lm_len(a, id));
	/* still alive through b, with its content */
	EXPECT_EQ(1, lm_len(b, id));
	EXPECT_EQ(id, lm_attach(a, id, NULL));
	ASSERT_EQ(0, lm_stats(a, id, &st));
	EXPECT_EQ(2, st.nr_files);
	close(b);
	ASSERT_EQ(0, lm_stats(a, id, &st));
	EXPECT_EQ(1, st.nr_files);
	ASSERT_EQ(0, lm_detach(a, id));
	/* no file has it: gone */
	EXPECT_EQ(-ENOENT, lm_stats(a, id, &st));
	EXPECT_EQ(-ENOENT, lm_attach(a, 0, "ops-detach"));
	EXPECT_EQ(-ENOENT, lm_attach(a, id, NULL));
	close(a);
}

/* A CREATE whose reply lands on a page of its own. */
struct stalled_create {
	int fd;
	struct lockmap_ioc_create *c;
	int ret;
};

static void *stalled_create_run(void *arg)
{
	struct stalled_create *sc = arg;

	sc->ret = lm_ioctl(sc->fd, LOCKMAP_IOC_CREATE, sc->c);
	return NULL;
}

/*
 * Write-protects @page through a new userfaultfd: the next write to it,
 * the kernel's copy-out included, waits until the test lets it go.  Returns
 * the descriptor, or -errno when this kernel cannot (no CONFIG_USERFAULTFD).
 */
static int uffd_write_protect(void *page, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)page, .len = len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
		.range = reg.range,
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	int uffd, err;

	/* Non-blocking: a blocking userfaultfd polls as an error at once. */
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		return -errno;
	if (ioctl(uffd, UFFDIO_API, &api) || ioctl(uffd, UFFDIO_REGISTER, &reg) ||
	    ioctl(uffd, UFFDIO_WRITEPROTECT, &wp)) {
		err = -errno;
		close(uffd);
		return err;
	}
	return uffd;
}

/* Waits for the write fault on the protected page: 0, or -1. */
static int uffd_wait_fault(int uffd)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	struct uffd_msg msg;

	if (poll(&pfd, 1, 10000) != 1 || !(pfd.revents & POLLIN) ||
	    read(uffd, &msg, sizeof(msg)) != sizeof(msg))
		return -1;
	return msg.event == UFFD_EVENT_PAGEFAULT &&
	       (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) ? 0 : -1;
}

/* The ids LIST reports; how many. */
static int list_count(int fd)
{
	__u32 ids[LOCKMAP_LIST_MAX];
	struct lockmap_ioc_list l;

	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.ids = lm_ptr(ids);
	l.nr = LOCKMAP_LIST_MAX;
	return lm_ioctl(fd, LOCKMAP_IOC_LIST, &l) ?: (int)l.nr;
}

/* Whether LIST reports map @id. */
static bool list_has(int fd, __u32 id)
{
	__u32 ids[LOCKMAP_LIST_MAX];
	struct lockmap_ioc_list l;
	__u32 i;

	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.ids = lm_ptr(ids);
	l.nr = LOCKMAP_LIST_MAX;
	l.start_id = id;
	if (lm_ioctl(fd, LOCKMAP_IOC_LIST, &l))
		return false;
	for (i = 0; i < l.nr; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/*
 * A CREATE whose reply is still on its way: the name is taken, but nobody
 * can find the map yet.  @fail makes the reply fault: the map is gone.
 */
static void create_while_reply_stalls(struct __test_metadata *_metadata,
				      bool fail, const char *name)
{
	long pg = sysconf(_SC_PAGESIZE);
	int a = lm_open(), b = lm_open(), uffd, listed;
	struct stalled_create sc = { .fd = a };
	pthread_t thread;

	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	sc.c = mmap(NULL, pg, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sc.c);
	lm_create_init(sc.c, 0, 0, name);
	uffd = uffd_write_protect(sc.c, pg);
	if (uffd < 0)
		SKIP(return, "no userfaultfd write-protect: %s", strerror(-uffd));
	listed = list_count(b);
	ASSERT_LE(0, listed);

	ASSERT_EQ(0, pthread_create(&thread, NULL, stalled_create_run, &sc));
	ASSERT_EQ(0, uffd_wait_fault(uffd));
	EXPECT_EQ(-ENOENT, lm_attach(b, 0, name));
	EXPECT_EQ(-EEXIST, lm_create(b, 0, 0, name));
	EXPECT_EQ(listed, list_count(b));
	if (fail) {
		/* the retried write meets a read-only page */
		ASSERT_EQ(0, mprotect(sc.c, pg, PROT_READ));
		close(uffd);
	} else {
		struct uffdio_writeprotect wp = {
			.range = { .start = (uintptr_t)sc.c, .len = pg },
		};

		ASSERT_EQ(0, ioctl(uffd, UFFDIO_WRITEPROTECT, &wp));
		close(uffd);
	}
	ASSERT_EQ(0, pthread_join(thread, NULL));

	if (fail) {
		EXPECT_EQ(-EFAULT, sc.ret);
		EXPECT_EQ(-ENOENT, lm_attach(b, 0, name));
		EXPECT_EQ(listed, list_count(b));
		/* the name is free again */
		EXPECT_LT(0, lm_create(b, 0, 0, name));
	} else {
		EXPECT_EQ(0, sc.ret);
		EXPECT_LT(0, (int)sc.c->map_id);
		EXPECT_EQ((int)sc.c->map_id, lm_attach(b, 0, name));
		EXPECT_EQ(listed + 1, list_count(b));
	}
	munmap(sc.c, pg);
	close(a);
	close(b);
}

TEST(create_hidden_until_reply_lands)
{
	create_while_reply_stalls(_metadata, false, "ops-stall-ok");
}

TEST(create_reply_fault_takes_map_along)
{
	create_while_reply_stalls(_metadata, true, "ops-stall-fault");
}

/*
 * The last detach retires a map at once, even while an ioctl of the
 * detaching file (a hold, here in a child sharing the file) still uses it:
 * nobody can find it again and its name is free.
 */
TEST(last_detach_retires_map_in_use)
{
	struct lockmap_ioc_stats st;
	int a = lm_open(), b = lm_open(), id, id2, status;
	pid_t pid;

	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	id = lm_create(a, 0, 0, "ops-retire");
	ASSERT_LT(0, id);
	ASSERT_EQ(0, lm_puts(a, id, "k", "v"));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(lm_hold(a, id, "held", 3000000, "x") ? 1 : 0);
	ASSERT_EQ(id, lm_attach(b, id, NULL));
	ASSERT_EQ(0, lm_wait_held(b, id, "held", 5000000));
	ASSERT_EQ(0, lm_detach(b, id));
	ASSERT_EQ(0, lm_detach(a, id));
	/* The hold still uses the map, but no file has it. */
	EXPECT_EQ(-ENOENT, lm_attach(b, 0, "ops-retire"));
	EXPECT_EQ(-ENOENT, lm_attach(b, id, NULL));
	EXPECT_EQ(-ENOENT, lm_stats(b, id, &st));
	EXPECT_FALSE(list_has(b, id));
	id2 = lm_create(b, 0, 0, "ops-retire");
	EXPECT_LT(0, id2);
	EXPECT_NE(id, id2);
	EXPECT_EQ(-ENOENT, lm_len(b, id));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	close(a);
	close(b);
}

TEST(list_pages_ascending)
{
	__u32 ids[4], all[LOCKMAP_LIST_MAX], got = 0;
	struct lockmap_ioc_list l;
	int fd = lm_open(), i, j, found;

	ASSERT_LE(0, fd);
	for (i = 0; i < 4; i++) {
		ids[i] = lm_create(fd, 0, 0, NULL);
		ASSERT_LT(0, (int)ids[i]);
	}
	/* two ids a call, continuing after the last one */
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	for (;;) {
		__u32 page[2];

		l.ids = lm_ptr(page);
		l.nr = 2;
		ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_LIST, &l));
		ASSERT_LE(l.nr, 2);
		for (j = 0; j < (int)l.nr; j++) {
			ASSERT_LT(got, LOCKMAP_LIST_MAX);
			if (got)
				EXPECT_LT(all[got - 1], page[j]);
			all[got++] = page[j];
		}
		if (l.nr < 2)
			break;
		l.start_id = page[1] + 1;
	}
	for (i = 0; i < 4; i++) {
		for (found = 0, j = 0; j < (int)got; j++)
			found += all[j] == ids[i];
		EXPECT_EQ(1, found) TH_LOG("map %u listed %d times", ids[i], found);
	}
	close(fd);
}

TEST_F(map, insert_get_remove)
{
	struct lockmap_ioc_op op;
	char buf[32];

	EXPECT_EQ(-ENOENT, lm_get(self->fd, self->id, "k", buf, sizeof(buf)));
	lm_op_str(&op, self->id, LOCKMAP_OP_INSERT, "k");
	op.value = lm_ptr("one");
	op.value_len = 3;
	op.out = lm_ptr(buf);
	op.out_size = sizeof(buf);
	ASSERT_EQ(0, lm_op(self->fd, &op));
	EXPECT_EQ(0, op.out_flags);
	EXPECT_EQ(0, op.out_len);
	/* a second insert replaces and hands back the old value */
	op.value = lm_ptr("two!");
	op.value_len = 4;
	ASSERT_EQ(0, lm_op(self->fd, &op));
	EXPECT_EQ(LOCKMAP_OUT_FOUND, op.out_flags);
	EXPECT_EQ(3, op.out_len);
	EXPECT_EQ(0, memcmp(buf, "one", 3));
	EXPECT_EQ(4, lm_get(self->fd, self->id, "k", buf, sizeof(buf)));
	EXPECT_STREQ("two!", buf);
	EXPECT_EQ(1, lm_len(self->fd, self->id));
	/* remove returns the value */
	lm_op_str(&op, self->id, LOCKMAP_OP_REMOVE, "k");
	op.out = lm_ptr(buf);
	op.out_size = sizeof(buf);
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(0, lm_op(self->fd, &op));
	EXPECT_EQ(LOCKMAP_OUT_FOUND, op.out_flags);
	EXPECT_EQ(4, op.out_len);
	EXPECT_STREQ("two!", buf);
	EXPECT_EQ(-ENOENT, lm_del(self->fd, self->id, "k"));
	EXPECT_EQ(0, lm_len(self->fd, self->id));
}

TEST_F(map, absent_ok)
{
	struct lockmap_ioc_op op;
	static const __u32 codes[] = {
		LOCKMAP_OP_GET, LOCKMAP_OP_PEEK, LOCKMAP_OP_REMOVE,
	};
	char buf[8];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(codes); i++) {
		lm_op_str(&op, self->id, codes[i], "nope");
		op.out = lm_ptr(buf);
		op.out_size = sizeof(buf);
		EXPECT_EQ(-ENOENT, lm_op(self->fd, &op));
		op.flags = LOCKMAP_OPF_ABSENT_OK;
		EXPECT_EQ(0, lm_op(self->fd, &op)) TH_LOG("op %u", codes[i]);
		EXPECT_EQ(0, op.out_flags);
		EXPECT_EQ(0, op.out_len);
	}
	/* the failed and absent-ok operations left nothing behind */
	EXPECT_EQ(0, lm_len(self->fd, self->id));
	{
		struct lockmap_ioc_stats st;

		ASSERT_EQ(0, lm_stats(self->fd, self->id, &st));
		EXPECT_EQ(0, st.slots);
	}
}

TEST_F(map, get_truncates)
{
	struct lockmap_ioc_op op;
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "k", "0123456789"));
	lm_op_str(&op, self->id, LOCKMAP_OP_GET, "k");
	op.out = lm_ptr(buf);
	op.out_size = 4;
	ASSERT_EQ(0, lm_op(self->fd, &op));
	EXPECT_EQ(LOCKMAP_OUT_FOUND | LOCKMAP_OUT_TRUNCATED, op.out_flags);
	EXPECT_EQ(10, op.out_len);
	EXPECT_EQ(0, memcmp(buf, "0123xxxx", 8));
	/* no output buffer: just the length */
	op.out = 0;
	op.out_size = 0;
	ASSERT_EQ(0, lm_op(self->fd, &op));
	EXPECT_EQ(10, op.out_len);
	EXPECT_TRUE(op.out_flags & LOCKMAP_OUT_FOUND);
}

TEST_F(map, empty_value_is_present)
{
	char buf[4];

	ASSERT_EQ(0, lm_put(self->fd, self->id, "e", NULL, 0));
	EXPECT_EQ(1, lm_contains(self->fd, self->id, "e", 0));
	EXPECT_EQ(0, lm_get(self->fd, self->id, "e", buf, sizeof(buf)));
	EXPECT_EQ(1, lm_len(self->fd, self->id));
	/* a pointer with no bytes behind it is not read: "e" is empty again */
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "e", "xyz"));
	ASSERT_EQ(0, lm_put(self->fd, self->id, "e", (void *)-4096L, 0));
	EXPECT_EQ(0, lm_get(self->fd, self->id, "e", buf, sizeof(buf)));
}

TEST_F(map, binary_keys_and_values)
{
	unsigned char key[300], val[1000], out[1000];
	struct lockmap_ioc_op op;
	unsigned int i;

	for (i = 0; i < sizeof(key); i++)
		key[i] = i * 7;
	for (i = 0; i < sizeof(val); i++)
		val[i] = i * 13 + 1;
	lm_op_init(&op, self->id, LOCKMAP_OP_INSERT, key, sizeof(key));
	op.value = lm_ptr(val);
	op.value_len = sizeof(val);
	ASSERT_EQ(0, lm_op(self->fd, &op));
	/* a prefix of the key is another key */
	lm_op_init(&op, self->id, LOCKMAP_OP_CONTAINS, key, sizeof(key) - 1);
	ASSERT_EQ(0, lm_op(self->fd, &op));
	EXPECT_EQ(0, op.result);
	lm_op_init(&op, self->id, LOCKMAP_OP_GET, key, sizeof(key));
	op.out = lm_ptr(out);
	op.out_size = sizeof(out);
	ASSERT_EQ(0, lm_op(self->fd, &op));
	EXPECT_EQ(sizeof(val), op.out_len);
	EXPECT_EQ(0, memcmp(val, out, sizeof(val)));
}

TEST_F(map, contains)
{
	EXPECT_EQ(0, lm_contains(self->fd, self->id, "c", 0));
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "c", "1"));
	EXPECT_EQ(1, lm_contains(self->fd, self->id, "c", 0));
	EXPECT_EQ(1, lm_contains(self->fd, self->id, "c", LOCKMAP_OPF_NOWAIT));
	ASSERT_EQ(0, lm_del(self->fd, self->id, "c"));
	EXPECT_EQ(0, lm_contains(self->fd, self->id, "c", 0));
}

TEST_F(map, set_if_absent)
{
	struct lockmap_ioc_op op;
	char buf[8];

	lm_op_str(&op, self->id, LOCKMAP_OP_SET_IF_ABSENT, "s");
	op.value = lm_ptr("first");
	op.value_len = 5;
	ASSERT_EQ(0, lm_op(self->fd, &op));
	op.value = lm_ptr("second");
	op.value_len = 6;
	op.out = lm_ptr(buf);
	op.out_size = sizeof(buf);
	EXPECT_EQ(-EEXIST, lm_op(self->fd, &op));
	EXPECT_EQ(5, lm_get(self->fd, self->id, "s", buf, sizeof(buf)));
	EXPECT_STREQ("first", buf);
}

TEST_F(map, compare_and_set)
{
	struct lockmap_ioc_op op;
	char buf[8];

	lm_op_str(&op, self->id, LOCKMAP_OP_CAS, "c");
	op.expected = lm_ptr("old");
	op.expected_len = 3;
	op.value = lm_ptr("new");
	op.value_len = 3;
	EXPECT_EQ(-ENOENT, lm_op(self->fd, &op));
	/* absent-ok cannot make a CAS of an absent key succeed: refused */
	op.flags = LOCKMAP_OPF_ABSENT_OK;
	EXPECT_EQ(-EINVAL, lm_op(self->fd, &op));
	op.flags = 0;
	EXPECT_EQ(0, lm_contains(self->fd, self->id, "c", 0));
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "c", "other"));
	EXPECT_EQ(-ECANCELED, lm_op(self->fd, &op));
	EXPECT_EQ(5, lm_get(self->fd, self->id, "c", buf, sizeof(buf)));
	EXPECT_STREQ("other", buf);
	/* a prefix is not equal */
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "c", "old!"));
	EXPECT_EQ(-ECANCELED, lm_op(self->fd, &op));
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "c", "old"));
	op.out = lm_ptr(buf);
	op.out_size = sizeof(buf);
	ASSERT_EQ(0, lm_op(self->fd, &op));
	EXPECT_EQ(3, lm_get(self->fd, self->id, "c", buf, sizeof(buf)));
	EXPECT_STREQ("new", buf);
	/* CAS from and to the empty value */
	lm_op_str(&op, self->id, LOCKMAP_OP_CAS, "c");
	op.expected = lm_ptr("new");
	op.expected_len = 3;
	ASSERT_EQ(0, lm_op(self->fd, &op));
	EXPECT_EQ(0, lm_get(self->fd, self->id, "c", buf, sizeof(buf)));
}

TEST_F(map, add_counter)
{
	__u64 r = 0, v = 0;

	EXPECT_EQ(0, lm_add(self->fd, self->id, "n", 5, &r));
	EXPECT_EQ(5, r);
	EXPECT_EQ(0, lm_add(self->fd, self->id, "n", -2, &r));
	EXPECT_EQ(3, r);
	EXPECT_EQ(0, lm_counter(self->fd, self->id, "n", &v));
	EXPECT_EQ(3, v);
	/* modulo 2^64 */
	EXPECT_EQ(0, lm_add(self->fd, self->id, "n", -4, &r));
	EXPECT_EQ(~0ULL, r);
	EXPECT_EQ(0, lm_add(self->fd, self->id, "n", 1, &r));
	EXPECT_EQ(0, r);
	/* a value that is not 8 bytes is no counter */
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "s", "abc"));
	EXPECT_EQ(-EINVAL, lm_add(self->fd, self->id, "s", 1, &r));
	EXPECT_EQ(3, lm_get(self->fd, self->id, "s", NULL, 0));
}

TEST(append_and_limit)
{
	struct lockmap_ioc_create c;
	struct lockmap_ioc_op op;
	int fd = lm_open();
	char buf[32];

	ASSERT_LE(0, fd);
	lm_create_init(&c, 0, 0, NULL);
	c.max_value_len = 10;
	ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_CREATE, &c));
	lm_op_str(&op, c.map_id, LOCKMAP_OP_APPEND, "a");
	op.value = lm_ptr("abcd");
	op.value_len = 4;
	ASSERT_EQ(0, lm_op(fd, &op));
	EXPECT_EQ(4, op.result);
	ASSERT_EQ(0, lm_op(fd, &op));
	EXPECT_EQ(8, op.result);
	/* 12 > max_value_len: refused, value unchanged */
	EXPECT_EQ(-E2BIG, lm_op(fd, &op));
	EXPECT_EQ(8, lm_get(fd, c.map_id, "a", buf, sizeof(buf)));
	EXPECT_STREQ("abcdabcd", buf);
	EXPECT_EQ(-E2BIG, lm_puts(fd, c.map_id, "b", "0123456789X"));
	EXPECT_EQ(0, lm_puts(fd, c.map_id, "b", "0123456789"));
	close(fd);
}

/*
 * A counter is 8 bytes, more than this map's max_value_len: ADD refuses
 * (-E2BIG, as the UAPI says) and ITER still works.  (Found by lockmap_fuzz:
 * ITER's bounce buffer was sized by max_value_len.)
 */
TEST(add_in_map_with_small_values)
{
	unsigned char buf[256];
	struct lockmap_ioc_create c;
	struct lockmap_ioc_iter it;
	struct lockmap_ioc_record rec;
	int fd = lm_open();

	ASSERT_LE(0, fd);
	lm_create_init(&c, 0, 0, NULL);
	c.max_value_len = 4;
	ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_CREATE, &c));
	EXPECT_EQ(-E2BIG, lm_add(fd, c.map_id, "n", 7, NULL));
	EXPECT_EQ(0, lm_len(fd, c.map_id));
	ASSERT_EQ(0, lm_puts(fd, c.map_id, "s", "abc"));
	memset(&it, 0, sizeof(it));
	it.size = sizeof(it);
	it.map_id = c.map_id;
	it.max_records = 8;
	it.buf = lm_ptr(buf);
	it.buf_size = sizeof(buf);
	ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_ITER, &it));
	EXPECT_EQ(1, it.nr_records);
	memcpy(&rec, buf, sizeof(rec));
	EXPECT_EQ(3, rec.value_len);
	close(fd);
}

TEST_F(map, len_and_clear)
{
	struct lockmap_ioc_map m;
	char key[16];
	int i;

	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ASSERT_EQ(0, lm_puts(self->fd, self->id, key, key));
	}
	EXPECT_EQ(100, lm_len(self->fd, self->id));
	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.map_id = self->id;
	ASSERT_EQ(0, lm_ioctl(self->fd, LOCKMAP_IOC_CLEAR, &m));
	EXPECT_EQ(100, m.value);
	EXPECT_EQ(0, lm_len(self->fd, self->id));
	EXPECT_EQ(0, lm_contains(self->fd, self->id, "k5", 0));
	m.value = 0;
	ASSERT_EQ(0, lm_ioctl(self->fd, LOCKMAP_IOC_CLEAR, &m));
	EXPECT_EQ(0, m.value);
}

/*
 * CLEAR takes a shard's keys a chunk (64) at a time.  Here four batches of
 * other processes hold and remove 128 of a one-shard map's 129 keys while
 * CLEAR runs, so a chunk can turn out all removed; the 129th key, there
 * all along, must still go.  Whether it is in the first chunk depends on the
 * map's hash seed, so each round uses a new map.
 */
TEST(clear_goes_past_chunks_emptied_meanwhile)
{
	enum { KEYS = 129, PER_BATCH = 32, BATCHES = 4, ROUNDS = 6 };
	struct lockmap_ioc_create c;
	struct lockmap_ioc_map m;
	int fd = lm_open(), round, i, j, status;
	char key[16];

	ASSERT_LE(0, fd);
	for (round = 0; round < ROUNDS; round++) {
		pid_t pids[BATCHES];
		int id;

		lm_create_init(&c, 0, 0, NULL);
		c.nr_shards = 1;
		ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_CREATE, &c));
		id = c.map_id;
		for (i = 0; i < KEYS; i++) {
			snprintf(key, sizeof(key), "k%d", i);
			ASSERT_EQ(0, lm_puts(fd, id, key, key));
		}
		for (j = 0; j < BATCHES; j++) {
			pids[j] = fork();
			ASSERT_LE(0, pids[j]);
			if (!pids[j]) {
				struct lockmap_ioc_op ops[PER_BATCH];
				char keys[PER_BATCH][16];
				struct lockmap_ioc_batch b;

				for (i = 0; i < PER_BATCH; i++) {
					snprintf(keys[i], sizeof(keys[i]), "k%d",
						 j * PER_BATCH + i);
					lm_op_str(&ops[i], id, LOCKMAP_OP_REMOVE,
						  keys[i]);
				}
				lm_batch_init(&b, id, NULL, 0, ops, PER_BATCH);
				b.hold_usec = 1000000;
				_exit(lm_batch(fd, &b) ? 1 : 0);
			}
		}
		/* Every batch key held, so CLEAR cannot take one first. */
		for (i = 0; i < BATCHES * PER_BATCH; i++) {
			snprintf(key, sizeof(key), "k%d", i);
			ASSERT_EQ(0, lm_wait_held(fd, id, key, 5000000));
		}
		memset(&m, 0, sizeof(m));
		m.size = sizeof(m);
		m.map_id = id;
		ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_CLEAR, &m));
		for (j = 0; j < BATCHES; j++) {
			ASSERT_EQ(pids[j], waitpid(pids[j], &status, 0));
			EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
		}
		snprintf(key, sizeof(key), "k%d", KEYS - 1);
		EXPECT_EQ(0, lm_contains(fd, id, key, 0))
			TH_LOG("round %d: CLEAR left %s", round, key);
		EXPECT_EQ(1, m.value);
		EXPECT_EQ(0, lm_len(fd, id));
		ASSERT_EQ(0, lm_detach(fd, id));
	}
	close(fd);
}

/* Walks the whole map with ITER; counts[i] += 1 for each key "k<i>". */
static int iter_all(int fd, __u32 id, __u32 max_records, size_t buf_size,
		    int *counts, int nr, int *calls)
{
	struct lockmap_ioc_iter it;
	unsigned char *buf = malloc(buf_size);
	int ret = 0;

	memset(&it, 0, sizeof(it));
	it.size = sizeof(it);
	it.map_id = id;
	it.max_records = max_records;
	it.buf = lm_ptr(buf);
	it.buf_size = buf_size;
	*calls = 0;
	while (it.cursor != LOCKMAP_ITER_END) {
		size_t off = 0;
		__u32 r;

		ret = lm_ioctl(fd, LOCKMAP_IOC_ITER, &it);
		if (ret)
			break;
		if (++*calls > 100000 || it.nr_records > max_records ||
		    it.buf_len > buf_size) {
			ret = -ERANGE;
			break;
		}
		for (r = 0; r < it.nr_records; r++) {
			struct lockmap_ioc_record rec;
			char key[32], val[32];
			int i;

			memcpy(&rec, buf + off, sizeof(rec));
			if (rec.key_len >= sizeof(key) ||
			    rec.value_len >= sizeof(val)) {
				ret = -ERANGE;
				goto out;
			}
			memcpy(key, buf + off + sizeof(rec), rec.key_len);
			key[rec.key_len] = 0;
			memcpy(val, buf + off + sizeof(rec) + rec.key_len,
			       rec.value_len);
			val[rec.value_len] = 0;
			off += sizeof(rec) + rec.key_len + rec.value_len;
			off = (off + 7) & ~(size_t)7;
			if (sscanf(key, "k%d", &i) != 1 || i < 0 || i >= nr ||
			    strcmp(key, val)) {
				ret = -EBADMSG;
				goto out;
			}
			counts[i]++;
		}
		if (off > it.buf_len + 7) {
			ret = -ERANGE;
			break;
		}
	}
out:
	free(buf);
	return ret;
}

TEST_F(map, iter_returns_each_key_once)
{
	int counts[300] = { 0 }, i, calls;
	char key[16];

	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ASSERT_EQ(0, lm_puts(self->fd, self->id, key, key));
	}
	ASSERT_EQ(0, iter_all(self->fd, self->id, 7, 4096, counts, 300, &calls));
	EXPECT_LE(300 / 7, calls);
	for (i = 0; i < 300; i++) {
		/* braces: TH_LOG() is a loop of its own after the check */
		EXPECT_EQ(1, counts[i]) TH_LOG("key k%d seen %d times", i, counts[i]);
	}
	/* one record per call */
	memset(counts, 0, sizeof(counts));
	ASSERT_EQ(0, iter_all(self->fd, self->id, 1, 4096, counts, 300, &calls));
	EXPECT_LE(300, calls);
	for (i = 0; i < 300; i++)
		EXPECT_EQ(1, counts[i]);
	/* a buffer that fits one record at a time works too */
	memset(counts, 0, sizeof(counts));
	ASSERT_EQ(0, iter_all(self->fd, self->id, LOCKMAP_ITER_MAX_RECORDS, 40,
			      counts, 300, &calls));
	EXPECT_LE(300, calls);
	for (i = 0; i < 300; i++)
		EXPECT_EQ(1, counts[i]);
}

TEST_F(map, iter_empty_and_small_buffer)
{
	struct lockmap_ioc_iter it;
	unsigned char buf[64];
	int counts[1], calls;
	char big[200];

	ASSERT_EQ(0, iter_all(self->fd, self->id, 10, 64, counts, 1, &calls));
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	ASSERT_EQ(0, lm_puts(self->fd, self->id, "big", big));
	memset(&it, 0, sizeof(it));
	it.size = sizeof(it);
	it.map_id = self->id;
	it.max_records = 1;
	it.buf = lm_ptr(buf);
	it.buf_size = sizeof(buf);
	EXPECT_EQ(-EMSGSIZE, lm_ioctl(self->fd, LOCKMAP_IOC_ITER, &it));
}

/*
 * The hash the kernel gives an 8-byte key of a map with seed @seed
 * (lockmap_prepare(): hsiphash_2u32(), SipHash-1-3 on 64-bit kernels).
 */
static __u64 lm_rol64(__u64 x, int b)
{
	return x << b | x >> (64 - b);
}

#define LM_SIPROUND							\
	do {								\
		v0 += v1; v1 = lm_rol64(v1, 13); v1 ^= v0;		\
		v0 = lm_rol64(v0, 32);					\
		v2 += v3; v3 = lm_rol64(v3, 16); v3 ^= v2;		\
		v0 += v3; v3 = lm_rol64(v3, 21); v3 ^= v0;		\
		v2 += v1; v1 = lm_rol64(v1, 17); v1 ^= v2;		\
		v2 = lm_rol64(v2, 32);					\
	} while (0)

static __u32 lm_key_hash(const __u64 seed[2], __u64 k)
{
	__u64 v0 = 0x736f6d6570736575ULL ^ seed[0];
	__u64 v1 = 0x646f72616e646f6dULL ^ seed[1];
	__u64 v2 = 0x6c7967656e657261ULL ^ seed[0];
	__u64 v3 = 0x7465646279746573ULL ^ seed[1];
	__u64 b = 8ULL << 56;

	v3 ^= k;
	LM_SIPROUND;
	v0 ^= k;
	v3 ^= b;
	LM_SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	LM_SIPROUND;
	LM_SIPROUND;
	LM_SIPROUND;
	return (__u32)(v0 ^ v1 ^ v2 ^ v3);
}

/* Map @id's hash seed, the last column of debugfs' list of maps. */
static int lm_map_seed(__u32 id, __u64 seed[2])
{
	FILE *f = fopen("/sys/kernel/debug/lockmap/maps", "r");
	unsigned char bytes[16];
	char line[512];
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (ret && fgets(line, sizeof(line), f)) {
		char *hex = strrchr(line, '\t');
		unsigned int i;

		if (strtoul(line, NULL, 10) != id || !hex)
			continue;
		for (i = 0; i < sizeof(bytes); i++)
			if (sscanf(hex + 1 + 2 * i, "%2hhx", &bytes[i]) != 1)
				break;
		if (i == sizeof(bytes)) {
			memcpy(seed, bytes, sizeof(bytes));
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

struct lm_hashed {
	__u32 hash;
	__u64 key;
};

static int lm_hashed_cmp(const void *a, const void *b)
{
	const struct lm_hashed *x = a, *y = b;

	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Two 8-byte keys that share a hash in a map with @seed (a birthday search). */
static int lm_colliding_keys(const __u64 seed[2], __u64 *a, __u64 *b)
{
	const size_t n = 1 << 19;	/* 32 collisions expected */
	struct lm_hashed *h = malloc(n * sizeof(*h));
	size_t i;
	int ret = -ENOENT;

	if (!h)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		h[i].key = 0x10000000ULL + i;
		h[i].hash = lm_key_hash(seed, h[i].key);
	}
	qsort(h, n, sizeof(*h), lm_hashed_cmp);
	for (i = 1; i < n && ret; i++) {
		if (h[i].hash == h[i - 1].hash) {
			*a = h[i - 1].key;
			*b = h[i].key;
			ret = 0;
		}
	}
	free(h);
	return ret;
}

static int lm_put_u64(int fd, __u32 id, __u64 key, const void *val, size_t len)
{
	struct lockmap_ioc_op op;

	lm_op_init(&op, id, LOCKMAP_OP_INSERT, &key, sizeof(key));
	op.value = lm_ptr(val);
	op.value_len = len;
	return lm_op(fd, &op);
}

#define BIG_VALUE	1000
#define ITER_MIN_BUF	((16 + 8 + BIG_VALUE + 7) & ~7)

/*
 * One ITER call with the smallest buffer the header promises will do: the
 * keys it returned in @got (up to 2), how many in *@nr.
 */
static int iter_min_call(int fd, struct lockmap_ioc_iter *it, __u64 *got,
			 int *nr)
{
	static unsigned char buf[ITER_MIN_BUF];
	struct lockmap_ioc_record rec;
	size_t off = 0;
	__u32 r;
	int ret;

	it->max_records = 8;
	it->buf = lm_ptr(buf);
	it->buf_size = sizeof(buf);
	ret = lm_ioctl(fd, LOCKMAP_IOC_ITER, it);
	*nr = 0;
	for (r = 0; !ret && r < it->nr_records && *nr < 2; r++) {
		memcpy(&rec, buf + off, sizeof(rec));
		if (rec.key_len != 8 || rec.value_len != BIG_VALUE)
			return -EBADMSG;
		memcpy(&got[(*nr)++], buf + off + sizeof(rec), 8);
		off += (sizeof(rec) + 8 + BIG_VALUE + 7) & ~7;
	}
	return ret;
}

/*
 * Two keys that share a hash (so a position in the walk) and have values
 * too big to share the smallest buffer the header promises is enough: ITER
 * returns one per call, however small the buffer, and a key removed and put
 * back between the calls is not returned twice.  (ITER once returned only
 * whole groups of a hash, so this buffer got -EMSGSIZE for ever.)
 */
TEST(iter_splits_keys_that_share_a_hash)
{
	struct lockmap_ioc_create c;
	struct lockmap_ioc_iter it;
	char big_a[BIG_VALUE], big_b[BIG_VALUE];
	__u64 seed[2] = { 0 }, a = 0, b = 0, got[2];
	int fd = lm_open(), nr, ret, round;

	ASSERT_LE(0, fd);
	lm_create_init(&c, 0, 0, NULL);
	c.key_len = 8;
	c.max_value_len = BIG_VALUE;
	c.nr_shards = 1;
	ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_CREATE, &c));
	ret = lm_map_seed(c.map_id, seed);
	if (ret)
		SKIP(return, "no map seed in debugfs: %s", strerror(-ret));
	ASSERT_EQ(0, lm_colliding_keys(seed, &a, &b));
	memset(big_a, 'a', sizeof(big_a));
	memset(big_b, 'b', sizeof(big_b));
	ASSERT_EQ(0, lm_put_u64(fd, c.map_id, a, big_a, sizeof(big_a)));
	ASSERT_EQ(0, lm_put_u64(fd, c.map_id, b, big_b, sizeof(big_b)));

	/* One record cannot take a group of two: proof that they share it. */
	memset(&it, 0, sizeof(it));
	it.size = sizeof(it);
	it.map_id = c.map_id;
	it.max_records = 1;
	EXPECT_EQ(-EOVERFLOW, lm_ioctl(fd, LOCKMAP_IOC_ITER, &it))
		TH_LOG("the keys do not share a hash: is lm_key_hash() wrong?");

	for (round = 0; round < 2; round++) {
		__u64 first;

		memset(&it, 0, sizeof(it));
		it.size = sizeof(it);
		it.map_id = c.map_id;
		ASSERT_EQ(0, iter_min_call(fd, &it, got, &nr));
		ASSERT_EQ(1, nr);
		ASSERT_TRUE(got[0] == a || got[0] == b);
		ASSERT_NE(LOCKMAP_ITER_END, it.cursor);
		first = got[0];
		if (round) {
			/* a new entry, at a new address, for the same key */
			struct lockmap_ioc_op op;

			lm_op_init(&op, c.map_id, LOCKMAP_OP_REMOVE, &first, 8);
			ASSERT_EQ(0, lm_op(fd, &op));
			ASSERT_EQ(0, lm_put_u64(fd, c.map_id, first,
						first == a ? big_a : big_b,
						BIG_VALUE));
		}
		ASSERT_EQ(0, iter_min_call(fd, &it, got, &nr));
		ASSERT_EQ(1, nr);
		EXPECT_EQ(first == a ? b : a, got[0]);
		while (it.cursor != LOCKMAP_ITER_END) {
			ASSERT_EQ(0, iter_min_call(fd, &it, got, &nr));
			EXPECT_EQ(0, nr) TH_LOG("round %d: a key came back", round);
		}
	}
	close(fd);
}

/*
 * Stepping @steps ITER calls of up to two records (a key may share its hash
 * with another): microseconds per call.
 */
static long long iter_step_us(int fd, __u32 id, int steps)
{
	struct lockmap_ioc_iter it;
	unsigned char buf[256];
	long long t0;
	int i;

	memset(&it, 0, sizeof(it));
	it.size = sizeof(it);
	it.map_id = id;
	it.max_records = 2;
	it.buf = lm_ptr(buf);
	it.buf_size = sizeof(buf);
	t0 = lm_now_us();
	for (i = 0; i < steps && it.cursor != LOCKMAP_ITER_END; i++)
		if (lm_ioctl(fd, LOCKMAP_IOC_ITER, &it) || !it.nr_records)
			return -1;
	return i == steps ? (lm_now_us() - t0) / steps : -1;
}

/* A map of one shard, which a walk of the whole shard would visit whole. */
static int iter_map(int fd, int nr_keys)
{
	struct lockmap_ioc_create c;
	char key[16];
	int i;

	lm_create_init(&c, 0, 0, NULL);
	c.nr_shards = 1;
	if (lm_ioctl(fd, LOCKMAP_IOC_CREATE, &c))
		return -1;
	for (i = 0; i < nr_keys; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		if (lm_puts(fd, c.map_id, key, key))
			return -1;
	}
	return c.map_id;
}

/*
 * An ITER call visits about as many keys as it returns: a record or two from
 * a map of 4K keys cost about what they cost from a map of 128.  (When each
 * call walked its whole shard, the big map's calls cost 10x and more.)  Each
 * map's best of five interleaved rounds of 50 calls (at most 100 records,
 * within the small map), so that a busy host hurts both.
 */
TEST(iter_call_cost_does_not_grow_with_the_map)
{
	long long small_us = LLONG_MAX, big_us = LLONG_MAX, us;
	int fd = lm_open(), small, big, i;

	ASSERT_LE(0, fd);
	small = iter_map(fd, 128);
	big = iter_map(fd, 4096);
	ASSERT_LT(0, small);
	ASSERT_LT(0, big);
	for (i = 0; i < 5; i++) {
		us = iter_step_us(fd, small, 50);
		ASSERT_LE(0, us);
		small_us = us < small_us ? us : small_us;
		us = iter_step_us(fd, big, 50);
		ASSERT_LE(0, us);
		big_us = us < big_us ? us : big_us;
	}
	EXPECT_GT(3 * small_us + 3, big_us)
		TH_LOG("one record: %lld us from 128 keys, %lld us from 4K",
		       small_us, big_us);
	close(fd);
}

/*
 * Keys that keep their values are returned exactly once, and the others at
 * most once, while those come and go in numbers that grow and shrink the
 * table several times: a key being moved to a new table is still found.
 */
#define STABLE_KEYS	100
#define CHURN_KEYS	300

TEST(iter_during_resizes_returns_stable_keys_once)
{
	static int counts[STABLE_KEYS + CHURN_KEYS];
	int fd = lm_open(), id, i, round, calls, status;
	pid_t pid, parent = getpid();
	long long end;
	char key[16];

	ASSERT_LE(0, fd);
	id = iter_map(fd, STABLE_KEYS);
	ASSERT_LT(0, id);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);	/* the test died before the prctl */
		for (;;) {
			for (i = STABLE_KEYS; i < STABLE_KEYS + CHURN_KEYS; i++) {
				snprintf(key, sizeof(key), "k%d", i);
				if (lm_puts(fd, id, key, key))
					_exit(1);
			}
			for (i = STABLE_KEYS; i < STABLE_KEYS + CHURN_KEYS; i++) {
				snprintf(key, sizeof(key), "k%d", i);
				if (lm_del(fd, id, key))
					_exit(1);
			}
		}
	}
	end = lm_now_us() + 3000000;
	for (round = 0; lm_now_us() < end; round++) {
		memset(counts, 0, sizeof(counts));
		ASSERT_EQ(0, iter_all(fd, id, 4, 4096, counts,
				      ARRAY_SIZE(counts), &calls));
		for (i = 0; i < STABLE_KEYS; i++) {
			ASSERT_EQ(1, counts[i])
				TH_LOG("round %d: k%d seen %d times", round, i,
				       counts[i]);
		}
		for (; i < STABLE_KEYS + CHURN_KEYS; i++) {
			ASSERT_GE(1, counts[i])
				TH_LOG("round %d: k%d seen %d times", round, i,
				       counts[i]);
		}
	}
	ASSERT_EQ(0, waitpid(pid, &status, WNOHANG)) TH_LOG("churn failed");
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_LE(2, round);
	close(fd);
}

TEST(fixed_key_length)
{
	struct lockmap_ioc_create c;
	struct lockmap_ioc_stats st;
	int fd = lm_open();
	char buf[8];

	ASSERT_LE(0, fd);
	lm_create_init(&c, 0, 0, NULL);
	c.key_len = 8;
	ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_CREATE, &c));
	ASSERT_EQ(0, lm_stats(fd, c.map_id, &st));
	EXPECT_EQ(8, st.key_len);
	EXPECT_EQ(0, lm_puts(fd, c.map_id, "12345678", "v"));
	EXPECT_EQ(-EINVAL, lm_puts(fd, c.map_id, "1234567", "v"));
	EXPECT_EQ(-EINVAL, lm_puts(fd, c.map_id, "123456789", "v"));
	EXPECT_EQ(1, lm_get(fd, c.map_id, "12345678", buf, sizeof(buf)));
	close(fd);
}

TEST_F(map, batch_applies_in_order)
{
	struct lockmap_ioc_op ops[4];
	struct lockmap_ioc_batch b;
	char out[16];

	lm_op_str(&ops[0], self->id, LOCKMAP_OP_INSERT, "a");
	ops[0].value = lm_ptr("x");
	ops[0].value_len = 1;
	lm_op_str(&ops[1], 0, LOCKMAP_OP_APPEND, "a");
	ops[1].value = lm_ptr("yz");
	ops[1].value_len = 2;
	lm_op_str(&ops[2], self->id, LOCKMAP_OP_ADD, "n");
	ops[2].num = 40;
	lm_op_str(&ops[3], self->id, LOCKMAP_OP_GET, "a");
	ops[3].out = lm_ptr(out);
	ops[3].out_size = sizeof(out);
	lm_batch_init(&b, self->id, NULL, 0, ops, 4);
	ASSERT_EQ(0, lm_batch(self->fd, &b));
	EXPECT_EQ(3, ops[1].result);
	EXPECT_EQ(40, ops[2].result);
	EXPECT_EQ(3, ops[3].out_len);
	EXPECT_EQ(LOCKMAP_OUT_FOUND, ops[3].out_flags);
	EXPECT_EQ(0, memcmp(out, "xyz", 3));
	EXPECT_EQ(2, lm_len(self->fd, self->id));
}

TEST_F(map, batch_all_or_nothing)
{
	struct lockmap_ioc_op ops[3];
	struct lockmap_ioc_batch b;
	__u64 v;

	ASSERT_EQ(0, lm_puts(self->fd, self->id, "y", "yes"));
	lm_op_str(&ops[0], self->id, LOCKMAP_OP_INSERT, "x");
	ops[0].value = lm_ptr("1");
	ops[0].value_len = 1;
	lm_op_str(&ops[1], self->id, LOCKMAP_OP_ADD, "n");
	ops[1].num = 1;
	lm_op_str(&ops[2], self->id, LOCKMAP_OP_CAS, "y");
	ops[2].expected = lm_ptr("no");
	ops[2].expected_len = 2;
	lm_batch_init(&b, self->id, NULL, 0, ops, 3);
	EXPECT_EQ(-ECANCELED, lm_batch(self->fd, &b));
	EXPECT_EQ(2, b.failed_index);
	EXPECT_EQ(0, lm_contains(self->fd, self->id, "x", 0));
	EXPECT_EQ(-ENOENT, lm_counter(self->fd, self->id, "n", &v));
	EXPECT_EQ(1, lm_len(self->fd, self->id));
	/* an op that fails because of an earlier one in the same batch */
	lm_op_str(&ops[2], self->id, LOCKMAP_OP_SET_IF_ABSENT, "x");
	EXPECT_EQ(-EEXIST, lm_batch(self->fd, &b));
	EXPECT_EQ(2, b.failed_index);
	EXPECT_EQ(0, lm_contains(self->fd, self->id, "x", 0));
	/* remove then get within one batch */
	lm_op_str(&ops[0], self->id, LOCKMAP_OP_REMOVE, "y");
	lm_op_str(&ops[1], self->id, LOCKMAP_OP_GET, "y");
	b.nr_ops = 2;
	EXPECT_EQ(-ENOENT, lm_batch(self->fd, &b));
	EXPECT_EQ(1, b.failed_index);
	EXPECT_EQ(1, lm_contains(self->fd, self->id, "y", 0));
	/* success writes failed_index too? only on error; an ok batch */
	ops[1].flags = LOCKMAP_OPF_ABSENT_OK;
	ASSERT_EQ(0, lm_batch(self->fd, &b));
	EXPECT_EQ(0, ops[1].out_flags);
	EXPECT_EQ(0, lm_len(self->fd, self->id));
}

#define LM_FAIL_ALLOC "/sys/kernel/debug/lockmap/fail_alloc/"

/* Sets one knob of the module's fault injection (debugfs). */
static int fail_alloc_set(const char *knob, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), LM_FAIL_ALLOC "%s", knob);
	return lm_write_file(path, val);
}

/* Reads one knob of the fault injection into @buf: 0, or -1. */
static int fail_alloc_get(const char *knob, char *buf, size_t size)
{
	char path[128];

	snprintf(path, sizeof(path), LM_FAIL_ALLOC "%s", knob);
	return lm_read_file(path, buf, size);
}

/*
 * Running out of memory is no operation's error: failed_index names none.
 * Needs the module's fault injection (the debug 6.12 kernel has it).  The
 * knobs get their old values back, whatever happens in between: later
 * tests in this boot must not run with them changed.
 */
TEST_F(map, batch_nomem_blames_no_op)
{
	static const char *const knobs[] = {
		"verbose", "interval", "times", "probability",
	};
	static const char *const inject[] = { "0", "1", "1", "100" };
	char saved[ARRAY_SIZE(knobs)][32], now[32];
	struct lockmap_ioc_op op;
	struct lockmap_ioc_batch b;
	unsigned int i;
	int set = 0;

	if (access(LM_FAIL_ALLOC, F_OK))
		SKIP(return, "no fault injection in this kernel");
	for (i = 0; i < ARRAY_SIZE(knobs); i++)
		ASSERT_EQ(0, fail_alloc_get(knobs[i], saved[i], sizeof(saved[i])));
	lm_op_str(&op, self->id, LOCKMAP_OP_INSERT, "k");
	op.value = lm_ptr("v");
	op.value_len = 1;
	lm_batch_init(&b, self->id, NULL, 0, &op, 1);
	/* The next allocation fails: the copy of the op's key. */
	for (i = 0; i < ARRAY_SIZE(knobs) && !set; i++)
		set = fail_alloc_set(knobs[i], inject[i]);
	EXPECT_EQ(0, set);
	if (!set) {
		EXPECT_EQ(-ENOMEM, lm_batch(self->fd, &b));
		EXPECT_EQ(0xffffffffU, b.failed_index);
	}
	/* probability first: nothing fails from here on */
	for (i = ARRAY_SIZE(knobs); i-- > 0;)
		EXPECT_EQ(0, fail_alloc_set(knobs[i], saved[i]));
	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		ASSERT_EQ(0, fail_alloc_get(knobs[i], now, sizeof(now)));
		EXPECT_STREQ(saved[i], now) TH_LOG("knob %s", knobs[i]);
	}
	ASSERT_EQ(0, set);
	EXPECT_EQ(0, lm_contains(self->fd, self->id, "k", 0));
	EXPECT_EQ(0, lm_batch(self->fd, &b));
	EXPECT_EQ(1, lm_contains(self->fd, self->id, "k", 0));
}

TEST_F(map, batch_duplicate_keys)
{
	struct lockmap_ioc_key keys[3] = {
		{ lm_ptr("d"), 1 }, { lm_ptr("d"), 1 }, { lm_ptr("e"), 1 },
	};
	struct lockmap_ioc_op ops[3];
	struct lockmap_ioc_batch b;

	lm_op_str(&ops[0], self->id, LOCKMAP_OP_ADD, "d");
	ops[0].num = 1;
	lm_op_str(&ops[1], self->id, LOCKMAP_OP_ADD, "d");
	ops[1].num = 1;
	lm_op_str(&ops[2], self->id, LOCKMAP_OP_ADD, "e");
	ops[2].num = 7;
	lm_batch_init(&b, self->id, keys, 3, ops, 3);
	ASSERT_EQ(0, lm_batch(self->fd, &b));
	EXPECT_EQ(2, ops[1].result);
	EXPECT_EQ(7, ops[2].result);
	/* keys only locked, never given a value, leave nothing behind */
	keys[0].key = lm_ptr("only-locked");
	keys[0].len = 11;
	lm_batch_init(&b, self->id, keys, 1, NULL, 0);
	ASSERT_EQ(0, lm_batch(self->fd, &b));
	EXPECT_EQ(0, lm_contains(self->fd, self->id, "only-locked", 0));
	EXPECT_EQ(2, lm_len(self->fd, self->id));
}

TEST_F(map, hold_sleeps_then_applies)
{
	long long t0, dt;
	char buf[8];

	t0 = lm_now_us();
	ASSERT_EQ(0, lm_hold(self->fd, self->id, "h", 100000, "done"));
	dt = lm_now_us() - t0;
	EXPECT_LE(100000, dt);
	EXPECT_EQ(4, lm_get(self->fd, self->id, "h", buf, sizeof(buf)));
	EXPECT_STREQ("done", buf);
	/* a hold without an operation changes nothing */
	ASSERT_EQ(0, lm_hold(self->fd, self->id, "g", 1000, NULL));
	EXPECT_EQ(0, lm_contains(self->fd, self->id, "g", 0));
}

TEST_F(map, nowait_sees_busy)
{
	struct lockmap_ioc_key k = { lm_ptr("busy"), 4 };
	struct lockmap_ioc_batch b;
	struct lockmap_ioc_op op;
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(lm_hold(self->fd, self->id, "busy", 1500000, "held") ? 1 : 0);
	ASSERT_EQ(0, lm_wait_held(self->fd, self->id, "busy", 10000000));
	lm_op_str(&op, self->id, LOCKMAP_OP_INSERT, "busy");
	op.flags = LOCKMAP_OPF_NOWAIT;
	EXPECT_EQ(-EBUSY, lm_op(self->fd, &op));
	lm_batch_init(&b, self->id, &k, 1, NULL, 0);
	b.flags = LOCKMAP_BATCH_NOWAIT;
	EXPECT_EQ(-EBUSY, lm_batch(self->fd, &b));
	/* other keys are free */
	op.key = lm_ptr("free");
	EXPECT_EQ(0, lm_op(self->fd, &op));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	/* now the holder's insert is there and the key is free */
	EXPECT_EQ(4, lm_get(self->fd, self->id, "busy", NULL, 0));
	EXPECT_EQ(0, lm_batch(self->fd, &b));
}

TEST(shared_between_processes)
{
	int fd = lm_open(), id, status;
	char buf[16];
	pid_t pid;

	ASSERT_LE(0, fd);
	id = lm_create(fd, 0, 0, "ops-shared");
	ASSERT_LT(0, id);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int cfd = lm_open();

		if (cfd < 0 || lm_attach(cfd, 0, "ops-shared") != id ||
		    lm_puts(cfd, id, "child", "was here"))
			_exit(1);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	EXPECT_EQ(8, lm_get(fd, id, "child", buf, sizeof(buf)));
	close(fd);
}

TEST(plain_map_refuses_lru_ops)
{
	struct lockmap_ioc_pop p;
	int fd = lm_open(), id;
	__u64 cap = 10;
	char key[8];

	ASSERT_LE(0, fd);
	id = lm_create(fd, 0, 0, NULL);
	ASSERT_LT(0, id);
	ASSERT_EQ(0, lm_puts(fd, id, "k", "v"));
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.map_id = id;
	p.key = lm_ptr(key);
	p.key_size = sizeof(key);
	EXPECT_EQ(-EINVAL, lm_ioctl(fd, LOCKMAP_IOC_POP_LRU, &p));
	EXPECT_EQ(-EINVAL, lm_map_cmd(fd, LOCKMAP_IOC_SET_CAPACITY, id, &cap));
	EXPECT_EQ(1, lm_len(fd, id));
	close(fd);
}

/*
 * A full LRU cache (its capacity as large as its max_entries) evicts for a
 * new key rather than refusing it; only with every key held is it -ENOSPC.
 */
TEST(full_cache_evicts_for_new_key)
{
	struct lockmap_ioc_key keys[4];
	static const char * const names[] = { "b", "c", "d", "e" };
	struct lockmap_ioc_create c;
	struct lockmap_ioc_batch b;
	int fd = lm_open(), i, status;
	pid_t pid;

	ASSERT_LE(0, fd);
	lm_create_init(&c, LOCKMAP_CREATE_LRU, 4, NULL);
	c.nr_shards = 1;
	c.max_entries = 4;
	ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_CREATE, &c));
	ASSERT_EQ(0, lm_puts(fd, c.map_id, "a", "1"));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, lm_puts(fd, c.map_id, names[i], "1"));
	EXPECT_EQ(4, lm_len(fd, c.map_id));
	EXPECT_EQ(0, lm_contains(fd, c.map_id, "a", 0));

	/* b to e held: nothing to evict, so no room. */
	for (i = 0; i < 4; i++) {
		keys[i].key = lm_ptr(names[i]);
		keys[i].len = 1;
	}
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		lm_batch_init(&b, c.map_id, keys, 4, NULL, 0);
		b.hold_usec = 1000000;
		_exit(lm_ioctl(fd, LOCKMAP_IOC_HOLD, &b) ? 1 : 0);
	}
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, lm_wait_held(fd, c.map_id, names[i], 5000000));
	EXPECT_EQ(-ENOSPC, lm_puts(fd, c.map_id, "f", "1"));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	EXPECT_EQ(0, lm_puts(fd, c.map_id, "f", "1"));
	EXPECT_EQ(4, lm_len(fd, c.map_id));
	close(fd);
}

/* SET_CAPACITY only reads its argument: a read-only one is fine. */
TEST(set_capacity_writes_nothing_back)
{
	struct lockmap_ioc_stats st;
	struct lockmap_ioc_map *m;
	int fd = lm_open(), id;

	ASSERT_LE(0, fd);
	id = lm_create(fd, LOCKMAP_CREATE_LRU, 100, NULL);
	ASSERT_LT(0, id);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m);
	memset(m, 0, sizeof(*m));
	m->size = sizeof(*m);
	m->map_id = id;
	m->value = 10;
	ASSERT_EQ(0, mprotect(m, 4096, PROT_READ));
	EXPECT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_SET_CAPACITY, m));
	ASSERT_EQ(0, lm_stats(fd, id, &st));
	EXPECT_EQ(10, st.capacity);
	munmap(m, 4096);
	close(fd);
}

TEST(larger_struct_with_zero_tail)
{
	/* newer userspace: a bigger struct whose extra bytes are zero */
	struct {
		struct lockmap_ioc_op op;
		__u64 future[4];
	} big;
	int fd = lm_open(), id;

	ASSERT_LE(0, fd);
	id = lm_create(fd, 0, 0, NULL);
	ASSERT_LT(0, id);
	memset(&big, 0, sizeof(big));
	lm_op_str(&big.op, id, LOCKMAP_OP_INSERT, "k");
	big.op.size = sizeof(big);
	ASSERT_EQ(0, lm_op(fd, &big.op));
	EXPECT_EQ(1, lm_contains(fd, id, "k", 0));
	/* the size bits of the command number are not what counts */
	lm_op_str(&big.op, id, LOCKMAP_OP_CONTAINS, "k");
	ASSERT_EQ(0, lm_ioctl(fd, _IOC(_IOC_READ | _IOC_WRITE, LOCKMAP_IOC_MAGIC,
				       _IOC_NR(LOCKMAP_IOC_OP), 16), &big.op));
	EXPECT_EQ(1, big.op.result);
	close(fd);
}

TEST(outputs_stay_in_bounds)
{
	unsigned char buf[64];
	int fd = lm_open(), id, i;

	ASSERT_LE(0, fd);
	id = lm_create(fd, 0, 0, NULL);
	ASSERT_LT(0, id);
	ASSERT_EQ(0, lm_puts(fd, id, "k", "12345"));
	memset(buf, 0xAA, sizeof(buf));
	ASSERT_EQ(5, lm_get(fd, id, "k", buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "12345", 5));
	/* lm_get wrote the NUL at 5; nothing past it was touched */
	for (i = 6; i < (int)sizeof(buf); i++)
		EXPECT_EQ(0xAA, buf[i]);
	close(fd);
}

TEST_HARNESS_MAIN
