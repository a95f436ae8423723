// SPDX-License-Identifier: GPL-2.0
/*
 * lockmap_fuzz: randomized ioctls against /dev/lockmap, from several threads
 * at once, with hostile sizes, pointers, flags and command numbers.
 *
 * Most calls are real lockmap commands built from a valid request with
 * random fields (valid-looking values, boundary values, huge values) and
 * random pointers (good buffers, NULL, unmapped, read-only, straddling a
 * guard page, kernel and non-canonical addresses); the rest are random
 * command numbers in and around the magic and anywhere else.  Meanwhile
 * files are swapped under running ioctls (dup2), maps are created,
 * attached, detached and cleared, waits and holds are interrupted by
 * signals, and forked children are killed in the middle of their calls.
 *
 * Every pointer the fuzzer hands the kernel either points into a per-thread
 * arena that ends at a PROT_NONE page, or cannot be mapped at all, so
 * whatever the kernel writes stays in the arena: the fuzzer's own state
 * cannot be corrupted by a kernel that honours the access checks.
 *
 * It prints KTAP (one test).  It passes when every thread finished its
 * calls and the device still works afterwards: a fresh file can create,
 * fill, hold and read a map, no map is left once every file is closed,
 * and the kernel's taint flags did not change (no WARN, no BUG).  The
 * host scans the console for splats and kmemleak reports after it.
 *
 * Usage: lockmap_fuzz [-s SEED] [-n CALLS] [-t THREADS] [-v] [SEED]
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "lockmap_helpers.h"

#define DEFAULT_SEED	0x10c4a9ULL
#define DEFAULT_CALLS	100000L
#define DEFAULT_THREADS	4
#define MAX_THREADS	16
#define NR_FDS		3
#define NR_IDS		32	/* remembered map ids per file slot */
#define POOL_KEYS	32
#define ARENA		(512 * 1024)
#define NR_CMDS		(_IOC_NR(LOCKMAP_IOC_SET_CAPACITY) + 1)
#define NR_ERRNO	140

/* Offsets in a worker's arena. */
#define A_ARG		0
#define A_OPS		(8 * 1024)	/* up to 64 x 4096 bytes of ops */
#define A_KEYS		(300 * 1024)	/* struct lockmap_ioc_key[] */
#define A_KEYBYTES	(304 * 1024)	/* key bytes, 8 KiB per slot */
#define A_BUF		(320 * 1024)	/* values and output buffers */
#define KEY_SLOT	(8 * 1024)
#define BUF_SIZE	(ARENA - A_BUF)

static const char *const cmd_names[NR_CMDS + 1] = {
	"CREATE", "ATTACH", "DETACH", "LIST", "STATS", "LEN", "CLEAR", "OP",
	"BATCH", "ITER", "POP_LRU", "SET_CAPACITY", "(other)",
};

static int fds[NR_FDS];
static atomic_uint ids[NR_FDS][NR_IDS];
static unsigned char *ro_page, *none_page;
static void *unmapped;
static atomic_long calls_done;
static long total_calls;
static int verbose;
static atomic_long hist[NR_CMDS + 1][NR_ERRNO];
static atomic_int stop_signaller;
static atomic_long specials;
static atomic_int threads_done;

struct worker {
	int idx;
	uint64_t rng;
	unsigned char *arena;
	int clean;		/* this request: valid sizes, flags, pointers */
	long quota;
	pthread_t tid;
};

static struct worker workers[MAX_THREADS];
static int nr_threads = DEFAULT_THREADS;

static uint64_t rnd(struct worker *w)
{
	/* xorshift64* */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 0x2545F4914F6CDD1DULL;
}

static uint64_t below(struct worker *w, uint64_t n)
{
	return n ? rnd(w) % n : 0;
}

/* True with probability pct percent. */
static int chance(struct worker *w, unsigned int pct)
{
	return below(w, 100) < pct;
}

/* A length: mostly small and valid, sometimes at or past every limit. */
static uint64_t rnd_len(struct worker *w)
{
	static const uint64_t edges[] = {
		0, 1, 7, 8, 9, 31, 32, 33, 64, 127, 128, 129, 4095, 4096, 4097,
		65535, 65536, 65537, 1 << 20, (1 << 20) + 1, 1ULL << 31,
		1ULL << 32, 1ULL << 63, ~0ULL, ~0ULL - 7,
	};

	switch (below(w, 10)) {
	case 0:
		return edges[below(w, ARRAY_SIZE(edges))];
	case 1:
		return rnd(w);
	case 2:
		return below(w, 4097);
	default:
		return 1 + below(w, 24);
	}
}

/* A pointer the kernel must refuse, never one into our own memory. */
static uint64_t bad_ptr(struct worker *w)
{
	switch (below(w, 8)) {
	case 0:
		return 0;
	case 1:
		return lm_ptr(unmapped) + below(w, 4096);
	case 2:
		return 0xffffffff81000000ULL + below(w, 1 << 20);	/* kernel text */
	case 3:
		return 0xffff888000000000ULL + (rnd(w) & 0xfffffff);	/* direct map */
	case 4:
		return 0x0000800000000000ULL + (rnd(w) & 0xffffffffff);	/* non-canonical */
	case 5:
		return below(w, 65536);		/* below mmap_min_addr */
	case 6:
		return lm_ptr(ro_page) + below(w, 4096);	/* readable only */
	default:
		return lm_ptr(none_page) + below(w, 4096);
	}
}

/*
 * A pointer for @len bytes: mostly into the arena (at @off, or placed to end
 * right at the guard page), sometimes hostile.
 */
static uint64_t rnd_ptr(struct worker *w, size_t off, uint64_t len)
{
	if (!w->clean && chance(w, 12))
		return bad_ptr(w);
	if (chance(w, 3) && len && len < ARENA - off)
		return lm_ptr(w->arena + ARENA - len + below(w, 2));
	return lm_ptr(w->arena + off);
}

/* A map id for a request on file slot @slot: mostly one attached to it. */
static __u32 rnd_map_id(struct worker *w, int slot)
{
	__u32 id = 0;
	int i;

	switch (below(w, 20)) {
	case 0:
		return 0;
	case 1:
		return (__u32)rnd(w);
	case 2:
		return 1 + below(w, 2048);
	case 3:
	case 4:
		/* most likely attached to another file only */
		return atomic_load(&ids[below(w, NR_FDS)][below(w, NR_IDS)]);
	default:
		/* a remembered one if there is any */
		for (i = 0; i < 8; i++) {
			id = atomic_load(&ids[slot][below(w, NR_IDS)]);
			if (id)
				break;
		}
		return id;
	}
}

static void forget_id(int slot, __u32 id)
{
	int i;

	for (i = 0; i < NR_IDS; i++)
		if (atomic_load(&ids[slot][i]) == id)
			atomic_store(&ids[slot][i], 0);
}

static void remember_id(struct worker *w, int slot, __u32 id)
{
	if (id)
		atomic_store(&ids[slot][below(w, NR_IDS)], id);
}

/* Mostly a valid flag set, sometimes unknown bits. */
static __u32 rnd_flags(struct worker *w, __u32 all)
{
	if (w->clean)
		return (__u32)rnd(w) & all;
	if (chance(w, 10))
		return (__u32)rnd(w);
	if (chance(w, 10))
		return 1U << below(w, 32);
	return (__u32)rnd(w) & all;
}

/* Fills a key into key slot @slot; returns its pointer, sets *@len. */
static uint64_t rnd_key(struct worker *w, int slot, __u64 *len)
{
	unsigned char *p = w->arena + A_KEYBYTES + slot * KEY_SLOT;
	unsigned int i, n;

	switch (below(w, 10)) {
	case 0:
		/* random bytes */
		n = 1 + below(w, 16);
		for (i = 0; i < n; i++)
			p[i] = rnd(w);
		*len = n;
		return lm_ptr(p);
	case 1:
		/* hostile length and pointer */
		*len = rnd_len(w);
		if (*len > KEY_SLOT)
			*len = chance(w, 50) ? *len : KEY_SLOT;
		return rnd_ptr(w, A_KEYBYTES + slot * KEY_SLOT, *len);
	case 2:
		/* 8 bytes: fits the fixed-length maps */
		*len = 8;
		snprintf((char *)p, 9, "k%07u", (unsigned int)below(w, POOL_KEYS));
		return lm_ptr(p);
	default:
		*len = snprintf((char *)p, 16, "k%u",
				(unsigned int)below(w, POOL_KEYS));
		return lm_ptr(p);
	}
}

/* Sets @size: usually right, sometimes any other size. */
static __u32 rnd_size(struct worker *w, __u32 right)
{
	static const __u32 odd[] = { 0, 4, 8, 16, 63, 64, 72, 112, 127, 128,
		136, 152, 160, 256, 4096, 4097, 0xffffffff };

	if (w->clean || chance(w, 85))
		return right;
	if (chance(w, 50))
		return odd[below(w, ARRAY_SIZE(odd))];
	return right + below(w, 64) - 32;
}

/* Random bytes over a struct, after its size field. */
static void scribble(struct worker *w, void *s, size_t len)
{
	unsigned char *p = s;
	unsigned int i, n = 1 + below(w, 4);

	if (w->clean)
		return;
	for (i = 0; i < n; i++)
		p[4 + below(w, len - 4)] = rnd(w);
}

static void fill_op(struct worker *w, struct lockmap_ioc_op *op, __u32 map,
		    int in_batch, int slot)
{
	static const __u32 creators[] = { LOCKMAP_OP_INSERT, LOCKMAP_OP_ADD,
		LOCKMAP_OP_APPEND, LOCKMAP_OP_SET_IF_ABSENT };
	__u64 len;

	memset(op, 0, sizeof(*op));
	op->size = rnd_size(w, sizeof(*op));

	op->op = !w->clean && chance(w, 5) ? (__u32)rnd(w) :
		 1 + below(w, LOCKMAP_OP_APPEND);
	/* batches fail whole: give them a fair chance to succeed */
	if (in_batch && chance(w, 50))
		op->op = creators[below(w, 4)];
	op->flags = rnd_flags(w, in_batch ? LOCKMAP_OPF_ABSENT_OK : LOCKMAP_OPF_ALL);
	/* GET, PEEK and REMOVE alone take absent-ok; others mostly go without */
	if (op->op != LOCKMAP_OP_GET && op->op != LOCKMAP_OP_PEEK &&
	    op->op != LOCKMAP_OP_REMOVE && chance(w, 90))
		op->flags &= ~LOCKMAP_OPF_ABSENT_OK;
	if (chance(w, 50))
		op->flags &= ~LOCKMAP_OPF_NOWAIT;
	op->map_id = in_batch && chance(w, 50) ? 0 : map;
	op->key = rnd_key(w, slot, &len);
	op->key_len = len;
	switch (op->op) {
	case LOCKMAP_OP_INSERT:
	case LOCKMAP_OP_SET_IF_ABSENT:
	case LOCKMAP_OP_APPEND:
	case LOCKMAP_OP_CAS:
		op->value_len = chance(w, 80) ? below(w, 64) :
				chance(w, 80) ? below(w, 8192) : rnd_len(w);
		op->value = rnd_ptr(w, A_BUF, op->value_len);
		if (op->op == LOCKMAP_OP_CAS) {
			op->expected_len = chance(w, 50) ? 8 : below(w, 64);
			op->expected = rnd_ptr(w, A_BUF + 4096, op->expected_len);
		}
		break;
	case LOCKMAP_OP_ADD:
		op->num = chance(w, 80) ? below(w, 10) : rnd(w);
		break;
	}
	if (chance(w, 60)) {
		op->out_size = chance(w, 80) ? below(w, 256) : rnd_len(w);
		op->out = rnd_ptr(w, A_BUF + 65536 + 8192, op->out_size);
	}
	if (chance(w, 4))
		scribble(w, op, sizeof(*op));
}

static void build_create(struct worker *w, struct lockmap_ioc_create *c)
{
	static const __u32 vlen[] = { 0, 16, 256, 4096, 4096, 1024 };

	memset(c, 0, sizeof(*c));
	c->size = rnd_size(w, sizeof(*c));
	c->flags = rnd_flags(w, LOCKMAP_CREATE_FLAGS_ALL);
	if (chance(w, 10))
		c->key_len = chance(w, 80) ? 8 : rnd_len(w);
	else if (chance(w, 10))
		c->max_key_len = rnd_len(w);
	c->max_value_len = chance(w, 90) ? vlen[below(w, 6)] : rnd_len(w);
	c->nr_shards = chance(w, 70) ? 0 : chance(w, 80) ? 1U << below(w, 11) :
		       (__u32)rnd_len(w);
	if (c->flags & LOCKMAP_CREATE_LRU || chance(w, 5)) {
		c->capacity = chance(w, 90) ? 1 + below(w, 64) : rnd_len(w);
		c->max_evict = chance(w, 70) ? below(w, 4) : (__u32)rnd_len(w);
	}
	c->max_entries = chance(w, 50) ? 0 : chance(w, 80) ? 1 + below(w, 4096) :
			 rnd_len(w);
	if (chance(w, 30))
		snprintf((char *)c->name, sizeof(c->name), "fz%u",
			 (unsigned int)below(w, 64));
	else if (chance(w, 3))
		memset(c->name, 'a' + below(w, 26), sizeof(c->name));
	if (chance(w, 3))
		scribble(w, c, sizeof(*c));
}

/* Builds one request for command @nr in the arena; returns the arg. */
static void *build(struct worker *w, unsigned int nr, int slot)
{
	void *arg = w->arena + A_ARG;
	__u32 map = rnd_map_id(w, slot);
	unsigned int i;

	/* half the requests are hostile throughout, half only in their values */
	w->clean = chance(w, 50);
	memset(arg, 0, 512);
	switch (nr) {
	case _IOC_NR(LOCKMAP_IOC_CREATE):
		build_create(w, arg);
		break;
	case _IOC_NR(LOCKMAP_IOC_ATTACH): {
		struct lockmap_ioc_attach *a = arg;

		a->size = rnd_size(w, sizeof(*a));
		if (chance(w, 70))
			a->map_id = rnd_map_id(w, below(w, NR_FDS));
		else
			snprintf((char *)a->name, sizeof(a->name), "fz%u",
				 (unsigned int)below(w, 64));
		if (chance(w, 5))
			scribble(w, a, sizeof(*a));
		break;
	}
	case _IOC_NR(LOCKMAP_IOC_LIST): {
		struct lockmap_ioc_list *l = arg;

		l->size = rnd_size(w, sizeof(*l));
		l->start_id = chance(w, 70) ? 0 : map;
		l->nr = chance(w, 80) ? below(w, 1025) : (__u32)rnd_len(w);
		l->ids = rnd_ptr(w, A_BUF, (uint64_t)l->nr * 4);
		if (chance(w, 5))
			scribble(w, l, sizeof(*l));
		break;
	}
	case _IOC_NR(LOCKMAP_IOC_STATS): {
		struct lockmap_ioc_stats *st = arg;

		st->size = rnd_size(w, sizeof(*st));
		st->map_id = map;
		if (chance(w, 5))
			scribble(w, st, sizeof(*st));
		break;
	}
	case _IOC_NR(LOCKMAP_IOC_DETACH):
	case _IOC_NR(LOCKMAP_IOC_LEN):
	case _IOC_NR(LOCKMAP_IOC_CLEAR):
	case _IOC_NR(LOCKMAP_IOC_SET_CAPACITY): {
		struct lockmap_ioc_map *m = arg;

		m->size = rnd_size(w, sizeof(*m));
		m->map_id = map;
		if (nr == _IOC_NR(LOCKMAP_IOC_SET_CAPACITY) || chance(w, 5))
			m->value = chance(w, 80) ? below(w, 100) : rnd_len(w);
		if (chance(w, 5))
			scribble(w, m, sizeof(*m));
		break;
	}
	case _IOC_NR(LOCKMAP_IOC_OP):
		fill_op(w, arg, map, 0, 0);
		break;
	case _IOC_NR(LOCKMAP_IOC_BATCH): {
		struct lockmap_ioc_batch *b = arg;
		struct lockmap_ioc_key *keys = (void *)(w->arena + A_KEYS);
		unsigned int nk = below(w, 4), no = 1 + below(w, 5);
		size_t stride = sizeof(struct lockmap_ioc_op);

		if (chance(w, 5))
			nk = below(w, 40);
		if (chance(w, 5))
			no = below(w, 70);
		if (chance(w, 3))
			stride = chance(w, 50) ? 64 + below(w, 4096) : 256;
		b->size = rnd_size(w, sizeof(*b));
		b->flags = rnd_flags(w, LOCKMAP_BATCH_FLAGS_ALL);
		b->map_id = map;
		b->nr_keys = nk;
		b->nr_ops = no;
		b->op_size = stride;
		b->keys = nk ? (chance(w, 95) ? lm_ptr(keys) : bad_ptr(w)) : 0;
		b->ops = no ? (chance(w, 95) ? lm_ptr(w->arena + A_OPS) :
			       bad_ptr(w)) : 0;
		if (!no)
			b->op_size = 0;
		for (i = 0; i < no && (A_OPS + (i + 1) * stride) <= A_KEYS; i++) {
			struct lockmap_ioc_op *op = (void *)(w->arena + A_OPS +
							     i * stride);

			memset(op, 0, stride);
			fill_op(w, op, map, 1, 4 + i % 8);
			if (op->size == sizeof(*op))
				op->size = stride;
		}
		for (i = 0; i < nk && i < 40; i++) {
			__u64 len;

			keys[i].key = rnd_key(w, i % 4, &len);
			keys[i].len = len;
		}
		/* holds: mostly short, so the budget goes to calls */
		if (chance(w, 15))
			b->hold_usec = chance(w, 90) ? below(w, 2000) :
				       chance(w, 50) ? below(w, 30000) :
				       rnd_len(w);
		if (chance(w, 3))
			scribble(w, b, sizeof(*b));
		break;
	}
	case _IOC_NR(LOCKMAP_IOC_ITER): {
		struct lockmap_ioc_iter *it = arg;

		it->size = rnd_size(w, sizeof(*it));
		it->map_id = map;
		it->max_records = chance(w, 90) ? 1 + below(w, 128) :
				  (__u32)rnd_len(w);
		it->cursor = chance(w, 70) ? 0 : chance(w, 50) ?
			     (below(w, 64) << 32 | (rnd(w) & 0xffffffff)) : rnd(w);
		it->buf_size = chance(w, 80) ? below(w, BUF_SIZE) : rnd_len(w);
		it->buf = rnd_ptr(w, A_BUF, it->buf_size);
		if (chance(w, 5))
			scribble(w, it, sizeof(*it));
		break;
	}
	case _IOC_NR(LOCKMAP_IOC_POP_LRU): {
		struct lockmap_ioc_pop *p = arg;

		p->size = rnd_size(w, sizeof(*p));
		p->map_id = map;
		p->key_size = chance(w, 80) ? below(w, 64) : rnd_len(w);
		p->key = rnd_ptr(w, A_BUF, p->key_size);
		if (chance(w, 70)) {
			p->value_size = chance(w, 80) ? below(w, 8192) : rnd_len(w);
			p->value = rnd_ptr(w, A_BUF + 4096, p->value_size);
		}
		if (chance(w, 5))
			scribble(w, p, sizeof(*p));
		break;
	}
	}
	/* The argument itself: sometimes hostile or cut by the guard page. */
	if (w->clean)
		return arg;
	if (chance(w, 4))
		return (void *)(uintptr_t)bad_ptr(w);
	if (chance(w, 4)) {
		size_t k = 1 + below(w, 160);

		memmove(w->arena + ARENA - k, arg, k);
		return w->arena + ARENA - k;
	}
	return arg;
}

static int dangerous_magic(unsigned int type)
{
	/* VFS and filesystem ioctls (FIFREEZE, FS_IOC_SETFLAGS, FICLONE...) */
	return type == 0x00 || type == 0x15 || type == 'T' || type == 'X' ||
	       type == 'f' || type == 0x94;
}

static unsigned long rnd_cmd(struct worker *w, unsigned int *nr)
{
	static const unsigned int dirs[] = { _IOC_NONE, _IOC_READ, _IOC_WRITE,
		_IOC_READ | _IOC_WRITE };
	unsigned int type, size, i;
	unsigned long cmd;

	switch (below(w, 40)) {
	case 0:
	case 1:
		/* the magic, any number, direction and size */
		*nr = NR_CMDS;
		return _IOC(dirs[below(w, 4)], LOCKMAP_IOC_MAGIC, below(w, 256),
			    below(w, 1 << 14));
	case 2:
		/* the magics around it */
		*nr = NR_CMDS;
		type = chance(w, 50) ? LOCKMAP_IOC_MAGIC - 1 : LOCKMAP_IOC_MAGIC + 1;
		return _IOC(dirs[below(w, 4)], type, below(w, 16), below(w, 512));
	case 3:
		/* anything but the VFS's own */
		*nr = NR_CMDS;
		do {
			cmd = (__u32)rnd(w);
		} while (dangerous_magic(_IOC_TYPE(cmd)));
		return cmd;
	default:
		/* weighted to the operations, where the locking is */
		i = below(w, 20);
		*nr = i < 6 ? _IOC_NR(LOCKMAP_IOC_OP) :
		      i < 10 ? _IOC_NR(LOCKMAP_IOC_BATCH) : below(w, NR_CMDS);
		/* detaching often would leave few maps to work on */
		if (*nr == _IOC_NR(LOCKMAP_IOC_DETACH) && chance(w, 60))
			*nr = _IOC_NR(LOCKMAP_IOC_LEN);
		size = sizeof(struct lockmap_ioc_op);
		/* the size bits are not checked: vary them now and then */
		if (chance(w, 5))
			size = below(w, 1 << 14);
		return _IOC(_IOC_READ | _IOC_WRITE, LOCKMAP_IOC_MAGIC, *nr, size);
	}
}

static void count(unsigned int nr, int ret)
{
	int e = ret < 0 ? errno : 0;

	if (e >= NR_ERRNO)
		e = NR_ERRNO - 1;
	atomic_fetch_add(&hist[nr][e], 1);
}

/* A child inherits the files, makes some calls and is killed midway. */
static void special_fork(struct worker *w)
{
	uint64_t seed = rnd(w);
	pid_t pid = fork();
	int i;

	if (pid == 0) {
		struct worker cw = *w;

		cw.rng = seed | 1;
		for (i = 0; i < 200; i++) {
			int slot = below(&cw, NR_FDS);
			unsigned int nr;
			unsigned long cmd = rnd_cmd(&cw, &nr);
			void *arg = nr < NR_CMDS ? build(&cw, nr, slot) :
				    (void *)(uintptr_t)bad_ptr(&cw);

			ioctl(fds[slot], cmd, arg);
		}
		_exit(0);
	}
	if (pid > 0) {
		lm_sleep_us(below(w, 20000));
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
}

static void special(struct worker *w)
{
	int slot = below(w, NR_FDS), fd;
	struct lockmap_ioc_map m;

	atomic_fetch_add(&specials, 1);
	switch (below(w, 4)) {
	case 0:
		/*
		 * Swap a file under the other threads' running ioctls: its
		 * maps go with it (unless attached elsewhere); start the new
		 * file with two.
		 */
		fd = lm_open();
		if (fd >= 0) {
			int i;

			dup2(fd, fds[slot]);
			close(fd);
			for (i = 0; i < NR_IDS; i++)
				atomic_store(&ids[slot][i], 0);
			remember_id(w, slot, lm_create(fds[slot], 0, 0, NULL));
			remember_id(w, slot, lm_create(fds[slot],
						       LOCKMAP_CREATE_LRU, 8,
						       NULL));
		}
		break;
	case 1:
		special_fork(w);
		break;
	default:
		/* keep memory bounded: clear a map */
		memset(&m, 0, sizeof(m));
		m.size = sizeof(m);
		m.map_id = rnd_map_id(w, slot);
		ioctl(fds[slot], LOCKMAP_IOC_CLEAR, &m);
		break;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	sigset_t set;
	long i;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (i = 0; i < w->quota; i++) {
		int slot = below(w, NR_FDS), ret;
		unsigned int nr;
		unsigned long cmd;
		void *arg;

		if (chance(w, 1) && chance(w, 20)) {
			special(w);
			continue;
		}
		cmd = rnd_cmd(w, &nr);
		arg = nr < NR_CMDS ? build(w, nr, slot) : chance(w, 50) ?
		      (void *)(w->arena + A_ARG) : (void *)(uintptr_t)bad_ptr(w);
		ret = ioctl(fds[slot], cmd, arg);
		count(nr, ret);
		if (!ret && nr == _IOC_NR(LOCKMAP_IOC_CREATE) &&
		    arg == w->arena + A_ARG)
			remember_id(w, slot,
				    ((struct lockmap_ioc_create *)arg)->map_id);
		if (!ret && nr == _IOC_NR(LOCKMAP_IOC_ATTACH) &&
		    arg == w->arena + A_ARG)
			remember_id(w, slot,
				    ((struct lockmap_ioc_attach *)arg)->map_id);
		if (!ret && nr == _IOC_NR(LOCKMAP_IOC_DETACH) &&
		    arg == w->arena + A_ARG)
			forget_id(slot, ((struct lockmap_ioc_map *)arg)->map_id);
		atomic_fetch_add(&calls_done, 1);
	}
	atomic_fetch_add(&threads_done, 1);
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
}

/* Interrupts the workers' waits and holds now and then. */
static void *signaller_main(void *arg)
{
	struct worker w = { .rng = (uintptr_t)arg | 1 };

	while (!atomic_load(&stop_signaller)) {
		lm_sleep_us(2000 + below(&w, 8000));
		pthread_kill(workers[below(&w, nr_threads)].tid, SIGUSR1);
	}
	return NULL;
}

/* The kernel's taint flags (WARN, BUG, KASAN... set some). */
static long kernel_taint(void)
{
	char buf[32] = "";
	int fd = open("/proc/sys/kernel/tainted", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atol(buf) : -1;
}

/* The device after the storm: returns the number of failed checks. */
static int health_check(void)
{
	__u32 list[LOCKMAP_LIST_MAX];
	struct lockmap_ioc_list l;
	int fd, id, bad = 0, i;
	char buf[64], key[16];

	fd = lm_open();
	if (fd < 0) {
		printf("# health: open: %s\n", strerror(-fd));
		return 1;
	}
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.ids = lm_ptr(list);
	l.nr = LOCKMAP_LIST_MAX;
	if (lm_ioctl(fd, LOCKMAP_IOC_LIST, &l) || l.nr) {
		printf("# health: %u maps left after every file closed\n", l.nr);
		bad++;
	}
	id = lm_create(fd, 0, 0, "fuzz-health");
	if (id <= 0) {
		printf("# health: create: %s\n", strerror(-id));
		close(fd);
		return bad + 1;
	}
	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "h%d", i);
		bad += !!lm_puts(fd, id, key, key);
	}
	bad += lm_len(fd, id) != 200;
	bad += lm_hold(fd, id, "held", 1000, "done") != 0;
	bad += lm_get(fd, id, "held", buf, sizeof(buf)) != 4;
	bad += lm_add(fd, id, "n", 42, NULL) != 0;
	if (bad)
		printf("# health: %d map operations failed\n", bad);
	close(fd);
	return bad;
}

static void print_hist(void)
{
	unsigned int nr, e;
	char line[1024];
	int n;

	for (nr = 0; nr <= NR_CMDS; nr++) {
		long all = 0;

		for (e = 0; e < NR_ERRNO; e++)
			all += atomic_load(&hist[nr][e]);
		if (!all)
			continue;
		n = snprintf(line, sizeof(line), "# %-12s %7ld:", cmd_names[nr],
			     all);
		for (e = 0; e < NR_ERRNO && n < (int)sizeof(line) - 32; e++) {
			long c = atomic_load(&hist[nr][e]);

			if (c)
				n += snprintf(line + n, sizeof(line) - n, " %s %ld",
					      e ? strerrorname_np(e) ?: "?" : "ok", c);
		}
		puts(line);
	}
}

/*
 * The fuzzer reaches the success paths, not only the checks at the door:
 * every real command succeeded, in at least 2% of its calls (a fuzzer bug,
 * or a kernel refusing everything, fails here; each command succeeds in
 * 12% or more of its calls in a healthy run).  Only for runs long enough
 * that each command gets a hundred calls or more; returns how many
 * commands fell short.
 */
#define MIN_CALLS_FOR_OK_CHECK	10000

static int check_successes(void)
{
	unsigned int nr;
	int bad = 0;

	if (total_calls < MIN_CALLS_FOR_OK_CHECK) {
		printf("# %ld calls: too few to require a success per command\n",
		       total_calls);
		return 0;
	}
	for (nr = 0; nr < NR_CMDS; nr++) {
		long ok = atomic_load(&hist[nr][0]), all = 0;
		unsigned int e;

		for (e = 0; e < NR_ERRNO; e++)
			all += atomic_load(&hist[nr][e]);
		if (ok > 0 && ok * 50 >= all)
			continue;
		printf("# %s succeeded in %ld of %ld calls\n", cmd_names[nr],
		       ok, all);
		bad++;
	}
	return bad;
}

int main(int argc, char **argv)
{
	uint64_t seed = DEFAULT_SEED;
	pthread_t signaller;
	long t_before, t_after;
	struct sigaction sa;
	long long t0, dt;
	long next;
	int opt, i, bad = 0;
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *pages;

	total_calls = DEFAULT_CALLS;
	while ((opt = getopt(argc, argv, "s:n:t:vh")) != -1) {
		switch (opt) {
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			total_calls = strtol(optarg, NULL, 0);
			break;
		case 't':
			nr_threads = atoi(optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			fprintf(stderr, "usage: %s [-s SEED] [-n CALLS] [-t THREADS] [-v] [SEED]\n",
				argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind < argc)
		seed = strtoull(argv[optind], NULL, 0);
	if (nr_threads < 1 || nr_threads > MAX_THREADS || total_calls < 1) {
		fprintf(stderr, "lockmap_fuzz: bad thread or call count\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..1\n");
	printf("# lockmap_fuzz: seed %#llx (rerun: lockmap_fuzz -s %#llx), %ld calls, %d threads\n",
	       (unsigned long long)seed, (unsigned long long)seed, total_calls,
	       nr_threads);

	/* Scratch pages: read-only, PROT_NONE, and one unmapped. */
	pages = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED)
		return 1;
	memset(pages, 0x5a, pg);
	ro_page = pages;
	none_page = pages + pg;
	unmapped = pages + 2 * pg;
	mprotect(ro_page, pg, PROT_READ);
	mprotect(none_page, pg, PROT_NONE);
	munmap(unmapped, pg);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: waits end in EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	for (i = 0; i < NR_FDS; i++) {
		fds[i] = lm_open();
		if (fds[i] < 0) {
			printf("not ok 1 lockmap_fuzz # open %s: %s\n", LM_DEV,
			       strerror(-fds[i]));
			return 1;
		}
	}
	t_before = kernel_taint();
	for (i = 0; i < nr_threads; i++) {
		struct worker *w = &workers[i];

		w->idx = i;
		w->rng = (seed + 0x9E3779B97F4A7C15ULL * (i + 1)) | 1;
		w->quota = total_calls / nr_threads +
			   (i < total_calls % nr_threads);
		/* the arena, then a guard page */
		w->arena = mmap(NULL, ARENA + pg, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (w->arena == MAP_FAILED ||
		    mprotect(w->arena + ARENA, pg, PROT_NONE))
			return 1;
	}
	/* A few maps to start with, on every file. */
	for (i = 0; i < 12; i++) {
		int id = lm_create(fds[i % NR_FDS],
				   i % 3 == 1 ? LOCKMAP_CREATE_LRU : 0,
				   i % 3 == 1 ? 16 : 0, NULL);

		if (id > 0)
			atomic_store(&ids[i % NR_FDS][i / NR_FDS], id);
	}
	t0 = lm_now_us();
	for (i = 0; i < nr_threads; i++)
		pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]);
	pthread_create(&signaller, NULL, signaller_main,
		       (void *)(uintptr_t)seed);
	/* progress every tenth, so a slow guest shows where it is */
	for (next = total_calls / 10; atomic_load(&threads_done) < nr_threads;) {
		lm_sleep_us(200000);
		if (atomic_load(&calls_done) >= next) {
			printf("# %ld calls, %.1f s\n", atomic_load(&calls_done),
			       (lm_now_us() - t0) / 1e6);
			next += total_calls / 10;
		}
	}
	for (i = 0; i < nr_threads; i++)
		pthread_join(workers[i].tid, NULL);
	dt = lm_now_us() - t0;
	atomic_store(&stop_signaller, 1);
	pthread_join(signaller, NULL);
	printf("# %ld calls (%ld special actions) in %.1f s: %.0f calls/s\n",
	       atomic_load(&calls_done), atomic_load(&specials), dt / 1e6,
	       atomic_load(&calls_done) * 1e6 / (dt ? dt : 1));
	print_hist();
	bad += check_successes();

	for (i = 0; i < NR_FDS; i++)
		close(fds[i]);
	bad += health_check();
	t_after = kernel_taint();
	if (t_before != t_after) {
		printf("# kernel taint changed: %ld -> %ld\n", t_before, t_after);
		bad++;
	}
	if (atomic_load(&calls_done) + atomic_load(&specials) < total_calls) {
		printf("# only %ld of %ld calls made\n", atomic_load(&calls_done),
		       total_calls);
		bad++;
	}
	printf("%s 1 lockmap_fuzz\n", bad ? "not ok" : "ok");
	return bad ? 1 : 0;
}
