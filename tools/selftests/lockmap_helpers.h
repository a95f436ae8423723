/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small wrappers over the /dev/lockmap ioctls shared by the kselftests and
 * the fuzzer.  Every wrapper returns 0 (or a non-negative result) on
 * success and -errno on failure, so tests can compare against -EBUSY etc.
 * Keys given as C strings use strlen() bytes (no NUL).
 */
#ifndef LOCKMAP_HELPERS_H
#define LOCKMAP_HELPERS_H

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/lockmap.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/*
 * The ABI's layouts, as this build (64- or 32-bit) sees them: the same
 * sizes as the kernel's (kmod/lockmap_dev.c checks these too), or some field
 * sits at a different offset for 32-bit callers.
 */
#define LM_ABI_SIZE(name, size) \
	static_assert(sizeof(struct lockmap_ioc_##name) == (size), #name)
LM_ABI_SIZE(create, LOCKMAP_IOC_CREATE_SIZE_VER0);
LM_ABI_SIZE(attach, LOCKMAP_IOC_ATTACH_SIZE_VER0);
LM_ABI_SIZE(map, LOCKMAP_IOC_MAP_SIZE_VER0);
LM_ABI_SIZE(list, LOCKMAP_IOC_LIST_SIZE_VER0);
LM_ABI_SIZE(stats, LOCKMAP_IOC_STATS_SIZE_VER0);
LM_ABI_SIZE(op, LOCKMAP_IOC_OP_SIZE_VER0);
LM_ABI_SIZE(key, 16);
LM_ABI_SIZE(batch, LOCKMAP_IOC_BATCH_SIZE_VER0);
LM_ABI_SIZE(record, 16);
LM_ABI_SIZE(iter, LOCKMAP_IOC_ITER_SIZE_VER0);
LM_ABI_SIZE(pop, LOCKMAP_IOC_POP_SIZE_VER0);

#define LM_DEV "/dev/lockmap"
#define LM_PARAMS "/sys/module/lockmap/parameters/"

static inline __u64 lm_ptr(const void *p)
{
	return (__u64)(uintptr_t)p;
}

static inline int lm_open(void)
{
	int fd = open(LM_DEV, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static inline int lm_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

/* Reads the file @path into @buf, NUL-terminated: 0, or -1 if it cannot. */
static inline int lm_read_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return 0;
}

/* A module parameter of lockmap.ko, or @dflt when it cannot be read. */
static inline long long lm_param(const char *name, long long dflt)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), LM_PARAMS "%s", name);
	if (lm_read_file(path, buf, sizeof(buf)))
		return dflt;
	return strtoll(buf, NULL, 0);
}

/* Writes @val to the sysfs or debugfs file @path: 0, or -1 if it cannot. */
static inline int lm_write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

/* Copies a name into a zeroed name field, truncated to fit with its NUL. */
static inline void lm_set_name(__u8 *field, const char *name)
{
	size_t len = strlen(name);

	if (len > LOCKMAP_NAME_LEN - 1)
		len = LOCKMAP_NAME_LEN - 1;
	memcpy(field, name, len);
}

static inline void lm_create_init(struct lockmap_ioc_create *c, __u32 flags,
				  __u64 capacity, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->flags = flags;
	c->capacity = capacity;
	if (name)
		lm_set_name(c->name, name);
}

/* Creates a map; returns its id (> 0) or -errno. */
static inline int lm_create(int fd, __u32 flags, __u64 capacity,
			    const char *name)
{
	struct lockmap_ioc_create c;
	int ret;

	lm_create_init(&c, flags, capacity, name);
	ret = lm_ioctl(fd, LOCKMAP_IOC_CREATE, &c);
	return ret ? ret : (int)c.map_id;
}

/* Attaches by id (name NULL) or by name; returns the id or -errno. */
static inline int lm_attach(int fd, __u32 id, const char *name)
{
	struct lockmap_ioc_attach a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.map_id = id;
	if (name)
		lm_set_name(a.name, name);
	ret = lm_ioctl(fd, LOCKMAP_IOC_ATTACH, &a);
	return ret ? ret : (int)a.map_id;
}

static inline int lm_map_cmd(int fd, unsigned long cmd, __u32 id, __u64 *val)
{
	struct lockmap_ioc_map m;
	int ret;

	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.map_id = id;
	if (val && cmd == LOCKMAP_IOC_SET_CAPACITY)
		m.value = *val;
	ret = lm_ioctl(fd, cmd, &m);
	if (!ret && val)
		*val = m.value;
	return ret;
}

static inline int lm_detach(int fd, __u32 id)
{
	return lm_map_cmd(fd, LOCKMAP_IOC_DETACH, id, NULL);
}

/* Number of live maps in the system (LOCKMAP_IOC_LIST), or -errno. */
static inline int lm_nr_maps(int fd)
{
	struct lockmap_ioc_list l;
	__u32 ids[64];
	int n = 0, ret;

	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	for (;;) {
		l.nr = ARRAY_SIZE(ids);
		l.ids = lm_ptr(ids);
		ret = lm_ioctl(fd, LOCKMAP_IOC_LIST, &l);
		if (ret)
			return ret;
		n += l.nr;
		if (l.nr < ARRAY_SIZE(ids))
			return n;
		l.start_id = ids[l.nr - 1] + 1;
	}
}

/* Number of keys with a value, or -errno. */
static inline long long lm_len(int fd, __u32 id)
{
	__u64 v = 0;
	int ret = lm_map_cmd(fd, LOCKMAP_IOC_LEN, id, &v);

	return ret ? ret : (long long)v;
}

static inline int lm_stats(int fd, __u32 id, struct lockmap_ioc_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->map_id = id;
	return lm_ioctl(fd, LOCKMAP_IOC_STATS, st);
}

static inline void lm_op_init(struct lockmap_ioc_op *op, __u32 map,
			      __u32 code, const void *key, size_t key_len)
{
	memset(op, 0, sizeof(*op));
	op->size = sizeof(*op);
	op->op = code;
	op->map_id = map;
	op->key = lm_ptr(key);
	op->key_len = key_len;
}

static inline void lm_op_str(struct lockmap_ioc_op *op, __u32 map,
			     __u32 code, const char *key)
{
	lm_op_init(op, map, code, key, strlen(key));
}

static inline int lm_op(int fd, struct lockmap_ioc_op *op)
{
	return lm_ioctl(fd, LOCKMAP_IOC_OP, op);
}

static inline int lm_put(int fd, __u32 map, const char *key, const void *val,
			 size_t len)
{
	struct lockmap_ioc_op op;

	lm_op_str(&op, map, LOCKMAP_OP_INSERT, key);
	op.value = lm_ptr(val);
	op.value_len = len;
	return lm_op(fd, &op);
}

static inline int lm_puts(int fd, __u32 map, const char *key, const char *val)
{
	return lm_put(fd, map, key, val, strlen(val));
}

/* GET into @buf (NUL-terminated if room); returns the value's length. */
static inline long long lm_get(int fd, __u32 map, const char *key, void *buf,
			       size_t size)
{
	struct lockmap_ioc_op op;
	int ret;

	lm_op_str(&op, map, LOCKMAP_OP_GET, key);
	op.out = lm_ptr(buf);
	op.out_size = size;
	ret = lm_op(fd, &op);
	if (ret)
		return ret;
	if (buf && op.out_len < size)
		((char *)buf)[op.out_len] = 0;
	return (long long)op.out_len;
}

static inline int lm_del(int fd, __u32 map, const char *key)
{
	struct lockmap_ioc_op op;

	lm_op_str(&op, map, LOCKMAP_OP_REMOVE, key);
	return lm_op(fd, &op);
}

/* 1 or 0, or -errno; @flags e.g. LOCKMAP_OPF_NOWAIT. */
static inline int lm_contains(int fd, __u32 map, const char *key, __u32 flags)
{
	struct lockmap_ioc_op op;
	int ret;

	lm_op_str(&op, map, LOCKMAP_OP_CONTAINS, key);
	op.flags = flags;
	ret = lm_op(fd, &op);
	return ret ? ret : (int)op.result;
}

static inline int lm_add(int fd, __u32 map, const char *key, __s64 num,
			 __u64 *result)
{
	struct lockmap_ioc_op op;
	int ret;

	lm_op_str(&op, map, LOCKMAP_OP_ADD, key);
	op.num = (__u64)num;
	ret = lm_op(fd, &op);
	if (!ret && result)
		*result = op.result;
	return ret;
}

/* Reads an 8-byte counter; -ENOENT when absent. */
static inline int lm_counter(int fd, __u32 map, const char *key, __u64 *val)
{
	long long n = lm_get(fd, map, key, val, sizeof(*val));

	if (n < 0)
		return (int)n;
	return n == sizeof(*val) ? 0 : -EINVAL;
}

static inline void lm_batch_init(struct lockmap_ioc_batch *b, __u32 map,
				 struct lockmap_ioc_key *keys, __u32 nr_keys,
				 struct lockmap_ioc_op *ops, __u32 nr_ops)
{
	memset(b, 0, sizeof(*b));
	b->size = sizeof(*b);
	b->map_id = map;
	/* no keys: keys must be 0; no ops: ops and op_size must be 0 */
	b->keys = nr_keys ? lm_ptr(keys) : 0;
	b->nr_keys = nr_keys;
	b->ops = nr_ops ? lm_ptr(ops) : 0;
	b->nr_ops = nr_ops;
	b->op_size = nr_ops ? sizeof(struct lockmap_ioc_op) : 0;
}

static inline int lm_batch(int fd, struct lockmap_ioc_batch *b)
{
	return lm_ioctl(fd, LOCKMAP_IOC_BATCH, b);
}

/*
 * Holds @key for @usec microseconds, then (if @val) inserts @val into it;
 * the whole thing is one LOCKMAP_IOC_HOLD call.
 */
static inline int lm_hold(int fd, __u32 map, const char *key, __u64 usec,
			  const char *val)
{
	struct lockmap_ioc_key k = { lm_ptr(key), strlen(key) };
	struct lockmap_ioc_batch b;
	struct lockmap_ioc_op op;

	lm_batch_init(&b, map, &k, 1, &op, val ? 1 : 0);
	b.hold_usec = usec;
	lm_op_str(&op, map, LOCKMAP_OP_INSERT, key);
	if (val) {
		op.value = lm_ptr(val);
		op.value_len = strlen(val);
	}
	return lm_ioctl(fd, LOCKMAP_IOC_HOLD, &b);
}

static inline long long lm_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void lm_sleep_us(long long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Waits until @key is held by someone (a NOWAIT probe sees -EBUSY); returns
 * 0, or -ETIMEDOUT after @timeout_us.
 */
static inline int lm_wait_held(int fd, __u32 map, const char *key,
			       long long timeout_us)
{
	long long end = lm_now_us() + timeout_us;

	while (lm_now_us() < end) {
		if (lm_contains(fd, map, key, LOCKMAP_OPF_NOWAIT) == -EBUSY)
			return 0;
		usleep(200);
	}
	return -ETIMEDOUT;
}

/*
 * Ends a helper process's long hold early: sends it @sig every 20 ms until
 * it exits, for at most @timeout_us (then SIGKILL).  The child must catch
 * @sig with a handler installed without SA_RESTART, so that the hold's
 * sleep ends with -EINTR (and nothing is applied).  Returns the child's
 * exit status, 128 + the signal that killed it, or -1 if it cannot be
 * reaped.
 */
static inline int lm_end_child(pid_t pid, int sig, long long timeout_us)
{
	long long end = lm_now_us() + timeout_us;
	pid_t got = 0;
	int status;

	while (lm_now_us() < end) {
		got = waitpid(pid, &status, WNOHANG);
		if (got)
			break;
		kill(pid, sig);
		lm_sleep_us(20000);
	}
	if (!got) {
		kill(pid, SIGKILL);
		got = waitpid(pid, &status, 0);
	}
	if (got != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Reads /proc/<tid>/<file> (any thread's id works) into @buf: 0 or -1. */
static inline int lm_read_proc(pid_t tid, const char *file, char *buf,
			       size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)tid, file);
	return lm_read_file(path, buf, size);
}

/*
 * Waits until the task @tid sleeps interruptibly (state S: every ioctl wait
 * for a key is interruptible) inside ioctl(..., @cmd, ...); returns 0, or
 * -ETIMEDOUT after @timeout_us.  /proc/<tid>/syscall reports the call of a
 * blocked task only, so a task on its way into the wait does not count.
 */
static inline int lm_wait_blocked(pid_t tid, unsigned long cmd,
				  long long timeout_us)
{
	long long end = lm_now_us() + timeout_us;
	unsigned long a0, a1;
	char buf[512], *p;
	long nr;

	while (lm_now_us() < end) {
		p = NULL;
		if (!lm_read_proc(tid, "stat", buf, sizeof(buf)))
			p = strrchr(buf, ')');
		if (p && !strncmp(p, ") S ", 4) &&
		    !lm_read_proc(tid, "syscall", buf, sizeof(buf)) &&
		    sscanf(buf, "%ld %lx %lx", &nr, &a0, &a1) == 3 &&
		    nr == SYS_ioctl && a1 == cmd)
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

#endif /* LOCKMAP_HELPERS_H */
