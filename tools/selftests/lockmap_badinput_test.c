// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/lockmap: hostile input.  A table of malformed requests, one case
 * each: every row starts from a valid request of one ioctl, breaks one
 * thing, and expects one errno, with the map unchanged and the device still
 * working afterwards.  Then the run-time limits (maps per file, maps in the
 * system, entries per map), the refused non-root open, and memory cgroup
 * charging.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "lockmap_helpers.h"

/* An address no process can use, for the pointer fields (both ABIs). */
#define KADDR 0xffffffff81000000ULL

enum kind { K_OP, K_CREATE, K_ATTACH, K_MAP, K_LIST, K_STATS, K_BATCH,
	    K_ITER, K_POP };

struct ctx {
	int fd;			/* the file the request goes to */
	int fd_main;		/* has map id and lru attached */
	int fd_other;		/* has nothing attached */
	__u32 id, lru, foreign;	/* foreign: attached to fd_other only */
	unsigned long cmd;
	void *arg;
	unsigned char *rw;	/* a read-write page followed by... */
	unsigned char *none;	/* ...a PROT_NONE page */
	unsigned char *ro;	/* a read-only page */
	void *unmapped;
	union {
		struct lockmap_ioc_op op;
		struct lockmap_ioc_create create;
		struct lockmap_ioc_attach attach;
		struct lockmap_ioc_map map;
		struct lockmap_ioc_list list;
		struct lockmap_ioc_stats stats;
		struct lockmap_ioc_batch batch;
		struct lockmap_ioc_iter iter;
		struct lockmap_ioc_pop pop;
		unsigned char raw[256];
	} u;
	struct lockmap_ioc_op ops[LOCKMAP_DEFAULT_MAX_BATCH_OPS + 2];
	struct lockmap_ioc_key keys[LOCKMAP_DEFAULT_MAX_BATCH_KEYS + 2];
	char keybuf[40][8];
	__u32 ids[16];
	unsigned char buf[LOCKMAP_DEFAULT_MAX_VALUE_LEN + 16];
};

/* The valid request of each kind, before a row breaks it. */
static void base(struct ctx *c, enum kind k)
{
	memset(&c->u, 0, sizeof(c->u));
	c->fd = c->fd_main;
	c->arg = &c->u;
	switch (k) {
	case K_OP:
		/* replaces "val": a half-applied request shows in "key" */
		c->cmd = LOCKMAP_IOC_OP;
		lm_op_str(&c->u.op, c->id, LOCKMAP_OP_INSERT, "key");
		c->u.op.value = lm_ptr("VAL");
		c->u.op.value_len = 3;
		break;
	case K_CREATE:
		c->cmd = LOCKMAP_IOC_CREATE;
		lm_create_init(&c->u.create, 0, 0, NULL);
		break;
	case K_ATTACH:
		c->cmd = LOCKMAP_IOC_ATTACH;
		c->fd = c->fd_other;
		c->u.attach.size = sizeof(c->u.attach);
		c->u.attach.map_id = c->id;
		break;
	case K_MAP:
		c->cmd = LOCKMAP_IOC_LEN;
		c->u.map.size = sizeof(c->u.map);
		c->u.map.map_id = c->id;
		break;
	case K_LIST:
		c->cmd = LOCKMAP_IOC_LIST;
		c->u.list.size = sizeof(c->u.list);
		c->u.list.nr = 16;
		c->u.list.ids = lm_ptr(c->ids);
		break;
	case K_STATS:
		c->cmd = LOCKMAP_IOC_STATS;
		c->u.stats.size = sizeof(c->u.stats);
		c->u.stats.map_id = c->id;
		break;
	case K_BATCH:
		c->cmd = LOCKMAP_IOC_BATCH;
		c->keys[0].key = lm_ptr("key");
		c->keys[0].len = 3;
		lm_op_str(&c->ops[0], c->id, LOCKMAP_OP_INSERT, "key2");
		lm_batch_init(&c->u.batch, c->id, c->keys, 1, c->ops, 1);
		break;
	case K_ITER:
		c->cmd = LOCKMAP_IOC_ITER;
		c->u.iter.size = sizeof(c->u.iter);
		c->u.iter.map_id = c->id;
		c->u.iter.max_records = 16;
		c->u.iter.buf = lm_ptr(c->buf);
		c->u.iter.buf_size = 4096;
		break;
	case K_POP:
		c->cmd = LOCKMAP_IOC_POP_LRU;
		c->u.pop.size = sizeof(c->u.pop);
		c->u.pop.map_id = c->lru;
		c->u.pop.key = lm_ptr(c->buf);
		c->u.pop.key_size = 64;
		break;
	}
}

/* Places the request so that it ends inside the PROT_NONE page. */
static void straddle(struct ctx *c)
{
	unsigned char *p = c->none - 8;

	memcpy(p, &c->u, 8);
	c->arg = p;
}

#define ROW(fn) static void fn(struct ctx *c)

/* -ENOTTY */
ROW(cmd_unknown_nr) { c->cmd = _IOWR(LOCKMAP_IOC_MAGIC, 0x3f, struct lockmap_ioc_op); }
ROW(cmd_next_nr) { c->cmd = _IOWR(LOCKMAP_IOC_MAGIC, 0x0c, struct lockmap_ioc_op); }
ROW(cmd_other_magic) { c->cmd = _IOWR(LOCKMAP_IOC_MAGIC - 1, 0x07, struct lockmap_ioc_op); }
ROW(cmd_no_direction) { c->cmd = _IO(LOCKMAP_IOC_MAGIC, 0x07); }
ROW(cmd_write_only) { c->cmd = _IOW(LOCKMAP_IOC_MAGIC, 0x07, struct lockmap_ioc_op); }
ROW(cmd_read_only) { c->cmd = _IOR(LOCKMAP_IOC_MAGIC, 0x07, struct lockmap_ioc_op); }
/* struct sizes */
ROW(op_size_zero) { c->u.op.size = 0; }
ROW(op_size_below_ver0) { c->u.op.size = LOCKMAP_IOC_OP_SIZE_VER0 - 8; }
ROW(op_size_above_max) { c->u.op.size = LOCKMAP_STRUCT_SIZE_MAX + 1; }
ROW(op_size_tail_nonzero) { c->u.op.size = sizeof(c->u.op) + 8; c->u.raw[sizeof(c->u.op) + 3] = 1; }
ROW(create_size_small) { c->u.create.size = 16; }
ROW(stats_size_small) { c->u.stats.size = 8; }
ROW(map_size_huge) { c->u.map.size = 0xffffffff; }
ROW(batch_op_size_mismatch) { c->ops[0].size = sizeof(c->ops[0]) + 8; }
/* The op's own size agrees: only the minimum refuses it. */
ROW(batch_op_size_small) { c->u.batch.op_size = 64; c->ops[0].size = 64; }
/* -EFAULT */
ROW(arg_null) { c->arg = NULL; }
ROW(arg_unmapped) { c->arg = c->unmapped; }
#if UINTPTR_MAX > 0xffffffffU
ROW(arg_kernel) { c->arg = (void *)(uintptr_t)KADDR; }
#else
/* above a 32-bit task's address space */
ROW(arg_kernel) { c->arg = (void *)(uintptr_t)0xfffff000U; }
#endif
ROW(arg_straddles_guard) { straddle(c); }
ROW(op_key_null) { c->u.op.key = 0; }
ROW(op_key_kernel) { c->u.op.key = KADDR; }
ROW(op_key_straddles_guard) { memcpy(c->none - 2, "ke", 2); c->u.op.key = lm_ptr(c->none - 2); }
ROW(op_value_unmapped) { c->u.op.value = lm_ptr(c->unmapped); }
ROW(op_cas_expected_null)
{
	c->u.op.op = LOCKMAP_OP_CAS;
	c->u.op.expected_len = 3;
}

ROW(op_get_out_readonly)
{
	c->u.op.op = LOCKMAP_OP_GET;
	c->u.op.value = 0;
	c->u.op.value_len = 0;
	c->u.op.out = lm_ptr(c->ro);
	c->u.op.out_size = 16;
}

ROW(batch_ops_unmapped) { c->u.batch.ops = lm_ptr(c->unmapped); }
ROW(batch_keys_null) { c->u.batch.keys = 0; c->u.batch.nr_keys = 1; c->keys[0].len = 3; }
ROW(batch_key_bytes_kernel) { c->keys[0].key = KADDR; }
ROW(iter_buf_unmapped) { c->u.iter.buf = lm_ptr(c->unmapped); }
ROW(iter_buf_readonly) { c->u.iter.buf = lm_ptr(c->ro); }
ROW(list_ids_null) { c->u.list.ids = 0; }
ROW(list_ids_kernel) { c->u.list.ids = KADDR; }
ROW(stats_out_readonly)
{
	long pg = sysconf(_SC_PAGESIZE);

	/* readable, so the request is read; the answer cannot be written */
	mprotect(c->ro, pg, PROT_READ | PROT_WRITE);
	memcpy(c->ro, &c->u.stats, sizeof(c->u.stats));
	mprotect(c->ro, pg, PROT_READ);
	c->arg = c->ro;
}

ROW(pop_key_readonly) { c->u.pop.key = lm_ptr(c->ro); }
/* -EINVAL: reserved fields, flags, codes */
ROW(op_reserved) { c->u.op.reserved[1] = 1; }
ROW(op_reserved0) { c->u.op.reserved0 = 1; }
ROW(op_unknown_flag) { c->u.op.flags = 0x4; }
ROW(op_high_flag) { c->u.op.flags = 0x80000000U; }
/* No value: an op that takes none refuses one with the same -EINVAL. */
ROW(op_code_zero) { c->u.op.op = 0; c->u.op.value = 0; c->u.op.value_len = 0; }
ROW(op_code_past_last)
{
	c->u.op.op = LOCKMAP_OP_APPEND + 1;
	c->u.op.value = 0;
	c->u.op.value_len = 0;
}

ROW(op_value_for_get) { c->u.op.op = LOCKMAP_OP_GET; }
ROW(op_num_for_insert) { c->u.op.num = 1; }
ROW(op_expected_for_insert) { c->u.op.expected = lm_ptr("x"); c->u.op.expected_len = 1; }
ROW(op_out_size_without_out) { c->u.op.out_size = 8; }
ROW(op_key_len_zero) { c->u.op.key_len = 0; }
ROW(op_add_to_non_counter)
{
	c->u.op.op = LOCKMAP_OP_ADD;
	c->u.op.value = 0;
	c->u.op.value_len = 0;
	c->u.op.num = 1;
}

/* Absent-ok means something to GET, PEEK and REMOVE only. */
ROW(op_absent_ok_for_insert) { c->u.op.flags = LOCKMAP_OPF_ABSENT_OK; }
ROW(op_absent_ok_for_cas)
{
	c->u.op.op = LOCKMAP_OP_CAS;
	c->u.op.flags = LOCKMAP_OPF_ABSENT_OK;
	c->u.op.expected = lm_ptr("val");
	c->u.op.expected_len = 3;
}

/* The flags are the low bits: the next one is unknown. */
ROW(create_unknown_flag) { c->u.create.flags = LOCKMAP_CREATE_FLAGS_ALL + 1; }
ROW(create_reserved) { c->u.create.reserved[3] = 1; }
ROW(create_name_bad_char) { memcpy(c->u.create.name, "a b", 3); }
ROW(create_name_slash) { memcpy(c->u.create.name, "a/b", 3); }
ROW(create_name_latin1) { memcpy(c->u.create.name, "\xc0\xe9", 2); }
ROW(create_name_garbage_after_nul) { memcpy(c->u.create.name, "ab\0x", 4); }
ROW(create_name_unterminated) { memset(c->u.create.name, 'n', LOCKMAP_NAME_LEN); }
ROW(create_shards_not_pow2) { c->u.create.nr_shards = 3; }
ROW(create_lru_without_capacity) { c->u.create.flags = LOCKMAP_CREATE_LRU; }
ROW(create_capacity_without_lru) { c->u.create.capacity = 10; }
ROW(create_shrinker_without_lru) { c->u.create.flags = LOCKMAP_CREATE_SHRINKER; }
ROW(create_max_evict_without_lru) { c->u.create.max_evict = 2; }
ROW(create_key_len_and_max_key_len) { c->u.create.key_len = 4; c->u.create.max_key_len = 8; }
ROW(attach_id_and_name) { memcpy(c->u.attach.name, "x", 1); }
ROW(attach_neither) { c->u.attach.map_id = 0; }
ROW(attach_flags) { c->u.attach.flags = 1; }
ROW(attach_reserved0) { c->u.attach.reserved0 = 1; }
ROW(attach_reserved) { c->u.attach.reserved[1] = 1; }
ROW(map_flags) { c->u.map.flags = 1; }
ROW(map_reserved) { c->u.map.reserved[0] = 1; }
ROW(map_reserved0) { c->u.map.reserved0 = 1; }
ROW(detach_with_value) { c->cmd = LOCKMAP_IOC_DETACH; c->u.map.value = 1; }
ROW(set_capacity_plain_map) { c->cmd = LOCKMAP_IOC_SET_CAPACITY; c->u.map.value = 5; }
ROW(set_capacity_zero) { c->cmd = LOCKMAP_IOC_SET_CAPACITY; c->u.map.map_id = c->lru; }
ROW(list_flags) { c->u.list.flags = 1; }
ROW(list_reserved) { c->u.list.reserved[1] = 1; }
ROW(stats_flags) { c->u.stats.flags = 2; }
ROW(stats_reserved) { c->u.stats.reserved[0] = 1; }
ROW(batch_unknown_flag) { c->u.batch.flags = 0x2; }
ROW(batch_reserved) { c->u.batch.reserved[0] = 1; }
ROW(batch_reserved0) { c->u.batch.reserved0 = 1; }
ROW(batch_absent_ok_for_insert) { c->ops[0].flags = LOCKMAP_OPF_ABSENT_OK; }
ROW(batch_nowait_in_op) { c->ops[0].flags = LOCKMAP_OPF_NOWAIT; }
ROW(batch_empty)
{
	c->u.batch.nr_keys = 0;
	c->u.batch.keys = 0;
	c->u.batch.nr_ops = 0;
	c->u.batch.ops = 0;
	c->u.batch.op_size = 0;
}

ROW(batch_keys_ptr_without_count) { c->u.batch.nr_keys = 0; }
ROW(batch_ops_ptr_without_count) { c->u.batch.nr_ops = 0; c->u.batch.op_size = 0; }
ROW(batch_op_size_without_ops) { c->u.batch.nr_ops = 0; c->u.batch.ops = 0; }
ROW(batch_op_other_map) { c->ops[0].map_id = c->lru; }
ROW(batch_op_reserved) { c->ops[0].reserved[0] = 9; }
ROW(iter_max_records_zero) { c->u.iter.max_records = 0; }
ROW(iter_flags) { c->u.iter.flags = 1; }
ROW(iter_reserved) { c->u.iter.reserved[1] = 1; }
/* shard 0, position 0: only the tie-break bits are out of range */
ROW(iter_cursor_tie_too_big) { c->u.iter.cursor = 1ULL << 63; }
ROW(pop_flags) { c->u.pop.flags = 1; }
ROW(pop_key_size_without_key) { c->u.pop.key = 0; }
ROW(iter_bad_cursor) { c->u.iter.cursor = 0x12345678ULL << 32; }
ROW(iter_reserved0) { c->u.iter.reserved0 = 1; }
ROW(pop_reserved) { c->u.pop.reserved[1] = 1; }
ROW(pop_plain_map) { c->u.pop.map_id = c->id; }
ROW(pop_value_size_without_value) { c->u.pop.value_size = 4; }
/* -E2BIG: lengths and counts over their limits */
ROW(op_key_too_long)
{
	memset(c->buf, 'k', sizeof(c->buf));
	c->u.op.key = lm_ptr(c->buf);
	c->u.op.key_len = lm_param("max_key_len", LOCKMAP_DEFAULT_MAX_KEY_LEN) + 1;
}

ROW(op_key_huge) { c->u.op.key_len = ~0ULL; }
ROW(op_value_too_long)
{
	c->u.op.value = lm_ptr(c->buf);
	c->u.op.value_len = lm_param("max_value_len", LOCKMAP_DEFAULT_MAX_VALUE_LEN) + 1;
}

ROW(op_value_huge) { c->u.op.value_len = 1ULL << 62; }
ROW(op_expected_huge)
{
	c->u.op.op = LOCKMAP_OP_CAS;
	c->u.op.expected = lm_ptr(c->buf);
	c->u.op.expected_len = 1ULL << 40;
}

ROW(create_key_len_too_big) { c->u.create.key_len = LOCKMAP_DEFAULT_MAX_KEY_LEN + 1; }
ROW(create_max_key_len_too_big)
{
	c->u.create.max_key_len = lm_param("max_key_len", LOCKMAP_DEFAULT_MAX_KEY_LEN) + 1;
}

ROW(create_max_evict_too_big)
{
	c->u.create.flags = LOCKMAP_CREATE_LRU;
	c->u.create.capacity = 8;
	c->u.create.max_evict = 1025;
}

ROW(create_shards_too_many) { c->u.create.nr_shards = 2048; }
ROW(create_shards_too_many_not_pow2) { c->u.create.nr_shards = 1536; }
ROW(create_max_value_len_too_big) { c->u.create.max_value_len = LOCKMAP_VALUE_LEN_LIMIT + 1; }
ROW(create_max_entries_too_big) { c->u.create.max_entries = 1ULL << 40; }
ROW(create_capacity_over_max_entries)
{
	c->u.create.flags = LOCKMAP_CREATE_LRU;
	c->u.create.max_entries = 10;
	c->u.create.capacity = 11;
}

ROW(batch_too_many_keys)
{
	int i, n = lm_param("max_batch_keys", LOCKMAP_DEFAULT_MAX_BATCH_KEYS) + 1;

	/* One key over and over: only nr_keys, not the distinct keys, is over. */
	for (i = 0; i < n; i++) {
		c->keys[i].key = lm_ptr("b");
		c->keys[i].len = 1;
	}
	c->u.batch.nr_keys = n;
}

ROW(batch_too_many_distinct_keys_in_ops)
{
	int i, n = lm_param("max_batch_keys", LOCKMAP_DEFAULT_MAX_BATCH_KEYS) + 1;

	for (i = 0; i < n; i++) {
		snprintf(c->keybuf[i], sizeof(c->keybuf[i]), "o%d", i);
		lm_op_str(&c->ops[i], c->id, LOCKMAP_OP_INSERT, c->keybuf[i]);
	}
	c->u.batch.nr_keys = 0;
	c->u.batch.keys = 0;
	c->u.batch.nr_ops = n;
}

ROW(batch_too_many_ops)
{
	int i, n = lm_param("max_batch_ops", LOCKMAP_DEFAULT_MAX_BATCH_OPS) + 1;

	for (i = 0; i < n && i < (int)ARRAY_SIZE(c->ops); i++)
		lm_op_str(&c->ops[i], c->id, LOCKMAP_OP_CONTAINS, "key");
	c->u.batch.nr_ops = n;
}

ROW(batch_hold_too_long)
{
	c->u.batch.hold_usec = lm_param("max_hold_usec", LOCKMAP_DEFAULT_MAX_HOLD_USEC) + 1;
}

ROW(batch_op_size_huge) { c->u.batch.op_size = LOCKMAP_STRUCT_SIZE_MAX + 8; }
ROW(iter_too_many_records) { c->u.iter.max_records = LOCKMAP_ITER_MAX_RECORDS + 1; }
ROW(list_too_many) { c->u.list.nr = LOCKMAP_LIST_MAX + 1; }
ROW(set_capacity_over_max_entries)
{
	c->cmd = LOCKMAP_IOC_SET_CAPACITY;
	c->u.map.map_id = c->lru;
	c->u.map.value = 1ULL << 40;
}

/* -ENOENT, -EEXIST, -EMSGSIZE */
ROW(op_unknown_map) { c->u.op.map_id = 0x7fffff00; }
ROW(op_map_not_attached) { c->u.op.map_id = c->foreign; }
ROW(op_map_id_zero) { c->u.op.map_id = 0; }
ROW(stats_unknown_map) { c->u.stats.map_id = 0x7fffff00; }
ROW(batch_map_not_attached) { c->u.batch.map_id = c->foreign; c->ops[0].map_id = 0; }
ROW(detach_not_attached) { c->cmd = LOCKMAP_IOC_DETACH; c->u.map.map_id = c->foreign; }
ROW(attach_unknown_name) { c->u.attach.map_id = 0; memcpy(c->u.attach.name, "no-such-map", 11); }
ROW(attach_twice) { c->fd = c->fd_main; }
ROW(create_name_taken) { memcpy(c->u.create.name, "bad-main", 8); }
ROW(iter_buffer_too_small) { c->u.iter.buf_size = 16; }

FIXTURE(bad) {
	struct ctx *c;
};

FIXTURE_VARIANT(bad) {
	enum kind kind;
	void (*breaks)(struct ctx *c);
	int err;		/* the expected errno */
	int changes;		/* the request may change the maps anyway */
};

/* One row: { request kind, what breaks it, the errno, changes anyway } */
FIXTURE_VARIANT_ADD(bad, cmd_unknown_nr) { K_OP, cmd_unknown_nr, ENOTTY, 0 };
FIXTURE_VARIANT_ADD(bad, cmd_next_nr) { K_OP, cmd_next_nr, ENOTTY, 0 };
FIXTURE_VARIANT_ADD(bad, cmd_other_magic) { K_OP, cmd_other_magic, ENOTTY, 0 };
FIXTURE_VARIANT_ADD(bad, cmd_no_direction) { K_OP, cmd_no_direction, ENOTTY, 0 };
FIXTURE_VARIANT_ADD(bad, cmd_write_only) { K_OP, cmd_write_only, ENOTTY, 0 };
FIXTURE_VARIANT_ADD(bad, cmd_read_only) { K_OP, cmd_read_only, ENOTTY, 0 };
FIXTURE_VARIANT_ADD(bad, op_size_zero) { K_OP, op_size_zero, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_size_below_ver0) { K_OP, op_size_below_ver0, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_size_above_max) { K_OP, op_size_above_max, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, op_size_tail_nonzero) { K_OP, op_size_tail_nonzero, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, create_size_small) { K_CREATE, create_size_small, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, stats_size_small) { K_STATS, stats_size_small, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, map_size_huge) { K_MAP, map_size_huge, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, batch_op_size_mismatch) { K_BATCH, batch_op_size_mismatch, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, batch_op_size_small) { K_BATCH, batch_op_size_small, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, arg_null) { K_OP, arg_null, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, arg_unmapped) { K_OP, arg_unmapped, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, arg_kernel) { K_OP, arg_kernel, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, arg_straddles_guard) { K_OP, arg_straddles_guard, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, op_key_null) { K_OP, op_key_null, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, op_key_kernel) { K_OP, op_key_kernel, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, op_key_straddles_guard) { K_OP, op_key_straddles_guard, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, op_value_unmapped) { K_OP, op_value_unmapped, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, op_cas_expected_null) { K_OP, op_cas_expected_null, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, op_get_out_readonly) { K_OP, op_get_out_readonly, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, batch_ops_unmapped) { K_BATCH, batch_ops_unmapped, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, batch_keys_null) { K_BATCH, batch_keys_null, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, batch_key_bytes_kernel) { K_BATCH, batch_key_bytes_kernel, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, iter_buf_unmapped) { K_ITER, iter_buf_unmapped, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, iter_buf_readonly) { K_ITER, iter_buf_readonly, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, list_ids_null) { K_LIST, list_ids_null, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, list_ids_kernel) { K_LIST, list_ids_kernel, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, stats_out_readonly) { K_STATS, stats_out_readonly, EFAULT, 0 };
FIXTURE_VARIANT_ADD(bad, op_reserved) { K_OP, op_reserved, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_reserved0) { K_OP, op_reserved0, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_unknown_flag) { K_OP, op_unknown_flag, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_high_flag) { K_OP, op_high_flag, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_code_zero) { K_OP, op_code_zero, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_code_past_last) { K_OP, op_code_past_last, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_value_for_get) { K_OP, op_value_for_get, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_num_for_insert) { K_OP, op_num_for_insert, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_expected_for_insert) { K_OP, op_expected_for_insert, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_out_size_without_out) { K_OP, op_out_size_without_out, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_key_len_zero) { K_OP, op_key_len_zero, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_add_to_non_counter) { K_OP, op_add_to_non_counter, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_absent_ok_for_insert) { K_OP, op_absent_ok_for_insert, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_absent_ok_for_cas) { K_OP, op_absent_ok_for_cas, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, create_unknown_flag) { K_CREATE, create_unknown_flag, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, create_reserved) { K_CREATE, create_reserved, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, create_name_bad_char) { K_CREATE, create_name_bad_char, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, create_name_slash) { K_CREATE, create_name_slash, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, create_name_latin1) { K_CREATE, create_name_latin1, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, create_name_garbage_after_nul) {
	K_CREATE, create_name_garbage_after_nul, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, create_name_unterminated) {
	K_CREATE, create_name_unterminated, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, create_shards_not_pow2) { K_CREATE, create_shards_not_pow2, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, create_lru_without_capacity) {
	K_CREATE, create_lru_without_capacity, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, create_capacity_without_lru) {
	K_CREATE, create_capacity_without_lru, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, create_shrinker_without_lru) {
	K_CREATE, create_shrinker_without_lru, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, create_max_evict_without_lru) {
	K_CREATE, create_max_evict_without_lru, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, create_key_len_and_max_key_len) {
	K_CREATE, create_key_len_and_max_key_len, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, attach_id_and_name) { K_ATTACH, attach_id_and_name, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, attach_neither) { K_ATTACH, attach_neither, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, attach_flags) { K_ATTACH, attach_flags, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, attach_reserved0) { K_ATTACH, attach_reserved0, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, attach_reserved) { K_ATTACH, attach_reserved, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, map_flags) { K_MAP, map_flags, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, map_reserved) { K_MAP, map_reserved, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, map_reserved0) { K_MAP, map_reserved0, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, detach_with_value) { K_MAP, detach_with_value, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, set_capacity_plain_map) { K_MAP, set_capacity_plain_map, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, set_capacity_zero) { K_MAP, set_capacity_zero, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, list_flags) { K_LIST, list_flags, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, list_reserved) { K_LIST, list_reserved, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, stats_flags) { K_STATS, stats_flags, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, stats_reserved) { K_STATS, stats_reserved, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, batch_unknown_flag) { K_BATCH, batch_unknown_flag, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, batch_reserved) { K_BATCH, batch_reserved, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, batch_reserved0) { K_BATCH, batch_reserved0, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, batch_absent_ok_for_insert) {
	K_BATCH, batch_absent_ok_for_insert, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, batch_nowait_in_op) { K_BATCH, batch_nowait_in_op, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, batch_empty) { K_BATCH, batch_empty, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, batch_keys_ptr_without_count) {
	K_BATCH, batch_keys_ptr_without_count, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, batch_ops_ptr_without_count) {
	K_BATCH, batch_ops_ptr_without_count, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, batch_op_size_without_ops) {
	K_BATCH, batch_op_size_without_ops, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, batch_op_other_map) { K_BATCH, batch_op_other_map, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, batch_op_reserved) { K_BATCH, batch_op_reserved, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, iter_max_records_zero) { K_ITER, iter_max_records_zero, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, iter_bad_cursor) { K_ITER, iter_bad_cursor, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, iter_reserved0) { K_ITER, iter_reserved0, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, iter_flags) { K_ITER, iter_flags, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, iter_reserved) { K_ITER, iter_reserved, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, iter_cursor_tie_too_big) { K_ITER, iter_cursor_tie_too_big, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, pop_reserved) { K_POP, pop_reserved, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, pop_plain_map) { K_POP, pop_plain_map, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, pop_flags) { K_POP, pop_flags, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, pop_key_size_without_key) { K_POP, pop_key_size_without_key, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, pop_value_size_without_value) {
	K_POP, pop_value_size_without_value, EINVAL, 0 };
FIXTURE_VARIANT_ADD(bad, op_key_too_long) { K_OP, op_key_too_long, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, op_key_huge) { K_OP, op_key_huge, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, op_value_too_long) { K_OP, op_value_too_long, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, op_value_huge) { K_OP, op_value_huge, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, op_expected_huge) { K_OP, op_expected_huge, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, create_key_len_too_big) { K_CREATE, create_key_len_too_big, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, create_max_key_len_too_big) {
	K_CREATE, create_max_key_len_too_big, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, create_max_evict_too_big) {
	K_CREATE, create_max_evict_too_big, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, create_shards_too_many) { K_CREATE, create_shards_too_many, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, create_shards_too_many_not_pow2) {
	K_CREATE, create_shards_too_many_not_pow2, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, create_max_value_len_too_big) {
	K_CREATE, create_max_value_len_too_big, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, create_max_entries_too_big) {
	K_CREATE, create_max_entries_too_big, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, create_capacity_over_max_entries) {
	K_CREATE, create_capacity_over_max_entries, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, batch_too_many_keys) { K_BATCH, batch_too_many_keys, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, batch_too_many_distinct_keys_in_ops) {
	K_BATCH, batch_too_many_distinct_keys_in_ops, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, batch_too_many_ops) { K_BATCH, batch_too_many_ops, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, batch_hold_too_long) { K_BATCH, batch_hold_too_long, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, batch_op_size_huge) { K_BATCH, batch_op_size_huge, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, iter_too_many_records) { K_ITER, iter_too_many_records, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, list_too_many) { K_LIST, list_too_many, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, set_capacity_over_max_entries) {
	K_MAP, set_capacity_over_max_entries, E2BIG, 0 };
FIXTURE_VARIANT_ADD(bad, op_unknown_map) { K_OP, op_unknown_map, ENOENT, 0 };
FIXTURE_VARIANT_ADD(bad, op_map_not_attached) { K_OP, op_map_not_attached, ENOENT, 0 };
FIXTURE_VARIANT_ADD(bad, op_map_id_zero) { K_OP, op_map_id_zero, ENOENT, 0 };
FIXTURE_VARIANT_ADD(bad, stats_unknown_map) { K_STATS, stats_unknown_map, ENOENT, 0 };
FIXTURE_VARIANT_ADD(bad, batch_map_not_attached) { K_BATCH, batch_map_not_attached, ENOENT, 0 };
FIXTURE_VARIANT_ADD(bad, detach_not_attached) { K_MAP, detach_not_attached, ENOENT, 0 };
FIXTURE_VARIANT_ADD(bad, attach_unknown_name) { K_ATTACH, attach_unknown_name, ENOENT, 0 };
FIXTURE_VARIANT_ADD(bad, attach_twice) { K_ATTACH, attach_twice, EEXIST, 0 };
FIXTURE_VARIANT_ADD(bad, create_name_taken) { K_CREATE, create_name_taken, EEXIST, 0 };
FIXTURE_VARIANT_ADD(bad, iter_buffer_too_small) { K_ITER, iter_buffer_too_small, EMSGSIZE, 0 };
/* pop removes the pair before its copy-out faults: documented */
FIXTURE_VARIANT_ADD(bad, pop_key_readonly) { K_POP, pop_key_readonly, EFAULT, 1 };

FIXTURE_SETUP(bad)
{
	struct ctx *c;
	unsigned char *pages;
	long pg = sysconf(_SC_PAGESIZE);

	c = calloc(1, sizeof(*c));
	ASSERT_NE(NULL, c);
	self->c = c;
	c->fd_main = lm_open();
	ASSERT_LE(0, c->fd_main) TH_LOG("open %s: %s", LM_DEV, strerror(-c->fd_main));
	c->fd_other = lm_open();
	ASSERT_LE(0, c->fd_other);
	c->id = lm_create(c->fd_main, 0, 0, "bad-main");
	ASSERT_LT(0, (int)c->id);
	c->lru = lm_create(c->fd_main, LOCKMAP_CREATE_LRU, 8, NULL);
	ASSERT_LT(0, (int)c->lru);
	c->foreign = lm_create(c->fd_other, 0, 0, NULL);
	ASSERT_LT(0, (int)c->foreign);
	ASSERT_EQ(0, lm_puts(c->fd_main, c->id, "key", "val"));
	ASSERT_EQ(0, lm_puts(c->fd_main, c->lru, "lru-key", "lru-val"));

	pages = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, pages);
	c->rw = pages;
	c->none = pages + pg;
	c->ro = pages + 2 * pg;
	c->unmapped = pages + 3 * pg;
	ASSERT_EQ(0, mprotect(c->none, pg, PROT_NONE));
	ASSERT_EQ(0, mprotect(c->ro, pg, PROT_READ));
	ASSERT_EQ(0, munmap(c->unmapped, pg));
}

FIXTURE_TEARDOWN(bad)
{
	close(self->c->fd_main);
	close(self->c->fd_other);
	free(self->c);
}

TEST_F(bad, rejected)
{
	struct ctx *c = self->c;
	int ret, nr_maps;
	char val[8];

	nr_maps = lm_nr_maps(c->fd_main);
	ASSERT_LT(0, nr_maps);
	base(c, variant->kind);
	variant->breaks(c);
	ret = ioctl(c->fd, c->cmd, c->arg);
	ASSERT_EQ(-1, ret);
	EXPECT_EQ(variant->err, errno) TH_LOG("got %s", strerror(errno));
	/*
	 * Nothing changed: every base request has an effect these checks
	 * see (base_requests_succeed shows it), a half-applied one too.
	 */
	if (!variant->changes) {
		EXPECT_EQ(1, lm_len(c->fd_main, c->lru));
		EXPECT_EQ(1, lm_len(c->fd_main, c->id));
		/* OP: "key" keeps "val"; BATCH: no "key2" */
		EXPECT_EQ(0, lm_contains(c->fd_main, c->id, "key2", 0));
	}
	memset(val, 0, sizeof(val));
	EXPECT_EQ(3, lm_get(c->fd_main, c->id, "key", val, sizeof(val)));
	EXPECT_STREQ("val", val);
	/* CREATE: no new map; ATTACH: fd_other still has only its own */
	EXPECT_EQ(nr_maps, lm_nr_maps(c->fd_main));
	EXPECT_EQ(-ENOENT, lm_len(c->fd_other, c->id));
	EXPECT_EQ(-ENOENT, lm_len(c->fd_other, c->lru));
	EXPECT_EQ(0, lm_len(c->fd_other, c->foreign));
	EXPECT_EQ(0, lm_puts(c->fd_main, c->id, "after", "ok"));
}

/* The valid base requests themselves succeed: the table's control. */
TEST(base_requests_succeed)
{
	static const enum kind kinds[] = { K_OP, K_CREATE, K_ATTACH, K_MAP,
		K_LIST, K_STATS, K_BATCH, K_ITER, K_POP };
	struct ctx *c = calloc(1, sizeof(*c));
	unsigned int i;
	int nr_maps;
	char val[8];

	ASSERT_NE(NULL, c);
	c->fd_main = lm_open();
	c->fd_other = lm_open();
	ASSERT_LE(0, c->fd_main);
	ASSERT_LE(0, c->fd_other);
	c->id = lm_create(c->fd_main, 0, 0, NULL);
	c->lru = lm_create(c->fd_main, LOCKMAP_CREATE_LRU, 8, NULL);
	ASSERT_LT(0, (int)c->lru);
	ASSERT_EQ(0, lm_puts(c->fd_main, c->lru, "k", "v"));
	ASSERT_EQ(0, lm_puts(c->fd_main, c->id, "key", "val"));
	nr_maps = lm_nr_maps(c->fd_main);
	ASSERT_LT(0, nr_maps);
	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		base(c, kinds[i]);
		EXPECT_EQ(0, ioctl(c->fd, c->cmd, c->arg))
			TH_LOG("kind %u: %s", i, strerror(errno));
	}
	/* each effect that "rejected" checks for is visible when it happens */
	memset(val, 0, sizeof(val));
	EXPECT_EQ(3, lm_get(c->fd_main, c->id, "key", val, sizeof(val)));
	EXPECT_STREQ("VAL", val);
	EXPECT_EQ(nr_maps + 1, lm_nr_maps(c->fd_main));
	EXPECT_LE(0, lm_len(c->fd_other, c->id));
	close(c->fd_main);
	close(c->fd_other);
	free(c);
}

/*
 * A reply that cannot be written back: OP and BATCH stay applied and say
 * -EFAULT (so a retry is the caller's choice), ATTACH is undone.  Each
 * request sits in a read-only page: read in, not written back.
 */
TEST(writeback_fault)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct lockmap_ioc_batch *b;
	struct lockmap_ioc_attach *a;
	struct lockmap_ioc_op *op;
	struct lockmap_ioc_key k = { lm_ptr("bk"), 2 };
	struct lockmap_ioc_stats st;
	int fd = lm_open(), fd2 = lm_open();
	unsigned char *ro;
	__u64 n = 0;
	char val[8];
	__u32 id;

	ASSERT_LE(0, fd);
	ASSERT_LE(0, fd2);
	id = lm_create(fd, 0, 0, NULL);
	ASSERT_LT(0, (int)id);
	ro = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		  -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	op = (void *)ro;
	b = (void *)(ro + 256);
	a = (void *)(ro + 512);

	/* INSERT whose old value cannot be copied out */
	ASSERT_EQ(0, lm_puts(fd, id, "k", "old"));
	lm_op_str(op, id, LOCKMAP_OP_INSERT, "k");
	op->value = lm_ptr("new");
	op->value_len = 3;
	ASSERT_EQ(0, mprotect(ro, pg, PROT_READ));
	EXPECT_EQ(-EFAULT, lm_op(fd, op));
	memset(val, 0, sizeof(val));
	EXPECT_EQ(3, lm_get(fd, id, "k", val, sizeof(val)));
	EXPECT_STREQ("new", val);

	/* ADD whose result cannot be written back */
	ASSERT_EQ(0, mprotect(ro, pg, PROT_READ | PROT_WRITE));
	lm_op_str(op, id, LOCKMAP_OP_ADD, "n");
	op->num = 5;
	ASSERT_EQ(0, mprotect(ro, pg, PROT_READ));
	EXPECT_EQ(-EFAULT, lm_op(fd, op));
	EXPECT_EQ(0, lm_counter(fd, id, "n", &n));
	EXPECT_EQ(5, n);

	/* a batch whose ops array is read-only: applied */
	ASSERT_EQ(0, mprotect(ro, pg, PROT_READ | PROT_WRITE));
	lm_op_str(op, id, LOCKMAP_OP_INSERT, "b");
	op->value = lm_ptr("bv");
	op->value_len = 2;
	lm_batch_init(b, id, &k, 1, op, 1);
	ASSERT_EQ(0, mprotect(ro, pg, PROT_READ));
	EXPECT_EQ(-EFAULT, lm_batch(fd, b));
	EXPECT_EQ(2, lm_get(fd, id, "b", val, sizeof(val)));

	/* ATTACH that cannot say it attached: undone, and retrying works */
	ASSERT_EQ(0, mprotect(ro, pg, PROT_READ | PROT_WRITE));
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->map_id = id;
	ASSERT_EQ(0, mprotect(ro, pg, PROT_READ));
	EXPECT_EQ(-EFAULT, lm_ioctl(fd2, LOCKMAP_IOC_ATTACH, a));
	EXPECT_EQ(-ENOENT, lm_len(fd2, id));
	ASSERT_EQ(0, lm_stats(fd, id, &st));
	EXPECT_EQ(1, st.nr_files);
	EXPECT_EQ((int)id, lm_attach(fd2, id, NULL));
	EXPECT_EQ(3, lm_len(fd2, id));

	munmap(ro, pg);
	close(fd2);
	close(fd);
}

TEST(maps_per_file_limit)
{
	int max = lm_param("max_maps_per_file", LOCKMAP_DEFAULT_MAX_MAPS_PER_FILE);
	int fd = lm_open(), fd2 = lm_open(), i, id = 0, other;

	ASSERT_LE(0, fd);
	ASSERT_LE(0, fd2);
	ASSERT_GE(256, max);
	for (i = 0; i < max; i++) {
		id = lm_create(fd, 0, 0, NULL);
		ASSERT_LT(0, id) TH_LOG("map %d of %d: %s", i, max, strerror(-id));
	}
	EXPECT_EQ(-ENOSPC, lm_create(fd, 0, 0, NULL));
	other = lm_create(fd2, 0, 0, NULL);
	ASSERT_LT(0, other);
	EXPECT_EQ(-ENOSPC, lm_attach(fd, other, NULL));
	/* a map the full file has already: that, not the limit */
	EXPECT_EQ(-EEXIST, lm_attach(fd, id, NULL));
	ASSERT_EQ(0, lm_detach(fd, id));
	EXPECT_EQ(other, lm_attach(fd, other, NULL));
	EXPECT_EQ(-ENOSPC, lm_create(fd, 0, 0, NULL));
	close(fd);
	close(fd2);
}

/* Sets a module parameter, returning the old value (-1 if unwritable). */
static long long set_param(const char *name, long long v)
{
	long long old = lm_param(name, -1);
	char path[128], buf[32];

	snprintf(path, sizeof(path), LM_PARAMS "%s", name);
	snprintf(buf, sizeof(buf), "%lld\n", v);
	return lm_write_file(path, buf) ? -1 : old;
}

TEST(maps_in_system_limit)
{
	__u32 ids[LOCKMAP_LIST_MAX];
	struct lockmap_ioc_list l;
	long long old;
	int fd = lm_open(), fd2, live, i, made = 0, ret = 0;

	ASSERT_LE(0, fd);
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.ids = lm_ptr(ids);
	l.nr = LOCKMAP_LIST_MAX;
	ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_LIST, &l));
	live = l.nr;
	old = set_param("max_maps", live + 3);
	ASSERT_LE(0, old);
	fd2 = lm_open();
	for (i = 0; i < 6; i++) {
		ret = lm_create(i < 3 ? fd : fd2, 0, 0, NULL);
		if (ret < 0)
			break;
		made++;
	}
	set_param("max_maps", old);
	EXPECT_EQ(3, made);
	EXPECT_EQ(-ENOSPC, ret);
	/* with the limit back, creating works again */
	EXPECT_LT(0, lm_create(fd2, 0, 0, NULL));
	close(fd);
	close(fd2);
}

TEST(entries_per_map_limit)
{
	struct lockmap_ioc_create cr;
	struct lockmap_ioc_op ops[2];
	struct lockmap_ioc_batch b;
	int fd = lm_open(), i;
	char key[16];
	__u32 id;

	ASSERT_LE(0, fd);
	lm_create_init(&cr, 0, 0, NULL);
	cr.max_entries = 8;
	ASSERT_EQ(0, lm_ioctl(fd, LOCKMAP_IOC_CREATE, &cr));
	id = cr.map_id;
	for (i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ASSERT_EQ(0, lm_puts(fd, id, key, "v"));
	}
	EXPECT_EQ(-ENOSPC, lm_puts(fd, id, "k8", "v"));
	EXPECT_EQ(-ENOSPC, lm_add(fd, id, "k8", 1, NULL));
	EXPECT_EQ(-ENOSPC, lm_hold(fd, id, "k8", 10, NULL));
	/* a batch that needs one new key fails whole */
	lm_op_str(&ops[0], id, LOCKMAP_OP_INSERT, "k0");
	lm_op_str(&ops[1], id, LOCKMAP_OP_INSERT, "k9");
	lm_batch_init(&b, id, NULL, 0, ops, 2);
	EXPECT_EQ(-ENOSPC, lm_batch(fd, &b));
	/* existing keys still change; freeing one makes room */
	EXPECT_EQ(0, lm_puts(fd, id, "k3", "new"));
	EXPECT_EQ(0, lm_del(fd, id, "k0"));
	EXPECT_EQ(0, lm_puts(fd, id, "k8", "v"));
	EXPECT_EQ(8, lm_len(fd, id));
	close(fd);
}

TEST(device_node_is_root_only)
{
	struct stat st;

	ASSERT_EQ(0, stat(LM_DEV, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 07777);
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(0, st.st_gid);
}

TEST(non_root_open_refused)
{
	int status, fd;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(10);
		/* control: the path to /dev is open to this user */
		fd = open("/dev/null", O_RDWR);
		if (fd < 0)
			_exit(13);
		close(fd);
		fd = open(LM_DEV, O_RDWR);
		if (fd >= 0)
			_exit(11);
		if (errno == EACCES || errno == EPERM)
			_exit(0);
		_exit(12);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("exit %d: 10 no setuid, 11 opened, 12 errno, 13 no /dev",
		       WEXITSTATUS(status));
}

/* memory.current of a cgroup v2 directory, or -1. */
static long long cg_current(const char *dir)
{
	char path[256], buf[64];
	long long v = -1;
	int fd, n;

	snprintf(path, sizeof(path), "%s/memory.current", dir);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		v = atoll(buf);
	}
	close(fd);
	return v;
}

/*
 * Mounts cgroup v2 and enables its memory controller for child cgroups if
 * need be: NULL, or why a memcg test cannot run.
 */
static const char *cg_memory(void)
{
	const char *root = "/sys/fs/cgroup";
	static char why[64];
	char path[256];

	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK)) {
		mkdir(root, 0755);
		if (mount("cgroup2", root, "cgroup2", 0, NULL)) {
			snprintf(why, sizeof(why), "no cgroup2: %s",
				 strerror(errno));
			return why;
		}
	}
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", root);
	if (lm_write_file(path, "+memory"))
		return "memory controller unavailable";
	return NULL;
}

/*
 * Runs @fill in a child moved into the cgroup @dir, which keeps what it
 * made until the parent has read memory.current: *@before just before
 * @fill, *@after once it is done.  Returns the child's exit status (0, or
 * @fill's non-zero result), or -1 if the run failed.
 */
static int cg_measure(const char *dir, int (*fill)(void), long long *before,
		      long long *after)
{
	int ready[2], go[2], status, ret = -1;
	char path[256], pidbuf[16], c;
	pid_t pid;

	if (pipe(ready))
		return -1;
	if (pipe(go)) {
		close(ready[0]);
		close(ready[1]);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		/* wait to be moved into the cgroup */
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		ret = fill();
		if (ret)
			_exit(ret);
		if (write(ready[1], "x", 1) != 1)
			_exit(4);
		/* keep the map alive until the parent has measured */
		if (read(go[0], &c, 1) < 0)
			_exit(5);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pidbuf, sizeof(pidbuf), "%d", pid);
	if (pid > 0 && !lm_write_file(path, pidbuf)) {
		*before = cg_current(dir);
		if (write(go[1], "g", 1) == 1 && read(ready[0], &c, 1) == 1) {
			*after = cg_current(dir);
			ret = 0;
		}
	}
	close(go[1]);
	close(ready[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return ret ? -1 : WEXITSTATUS(status);
}

/* 256 values of 16 KiB in a new map. */
static int fill_values(void)
{
	static char val[16384];
	int fd = lm_open(), id, i;
	char key[16];

	id = fd < 0 ? fd : lm_create(fd, 0, 0, NULL);
	if (id < 0)
		return 2;
	memset(val, 'm', sizeof(val));
	for (i = 0; i < 256; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		if (lm_put(fd, id, key, val, sizeof(val)))
			return 3;
	}
	return 0;
}

TEST(values_charged_to_memcg)
{
	const char *dir = "/sys/fs/cgroup/lockmap-test", *why;
	long long before = -1, after = -1;

	why = cg_memory();
	if (why)
		SKIP(return, "%s", why);
	rmdir(dir);
	ASSERT_EQ(0, mkdir(dir, 0755));
	EXPECT_EQ(0, cg_measure(dir, fill_values, &before, &after));
	rmdir(dir);
	TH_LOG("memory.current %lld -> %lld for 4 MiB of values", before, after);
	/* 256 x 16 KiB of values, charged where the inserting task lives */
	EXPECT_LE(before + 3 * 1024 * 1024, after);
}

#define CG_NR_KEYS	3000
#define CG_KEY_LEN	2000

/*
 * CG_NR_KEYS keys of CG_KEY_LEN bytes with empty values in a new map: one
 * of variable-length keys (kmalloc()ed entries) or, @fixed, of keys of
 * exactly CG_KEY_LEN bytes (entries from the map's own slab cache).
 */
static int fill_keys_in(int fixed)
{
	struct lockmap_ioc_create c;
	int fd = lm_open(), id, i;
	char key[CG_KEY_LEN + 1];

	if (fd < 0)
		return 2;
	lm_create_init(&c, 0, 0, NULL);
	c.key_len = fixed ? CG_KEY_LEN : 0;
	id = lm_ioctl(fd, LOCKMAP_IOC_CREATE, &c) ?: (int)c.map_id;
	if (id < 0)
		return 2;
	memset(key, 'k', CG_KEY_LEN);
	key[CG_KEY_LEN] = 0;
	for (i = 0; i < CG_NR_KEYS; i++) {
		char num[8];

		/* a distinct prefix, the rest of the key 'k' */
		snprintf(num, sizeof(num), "%06d", i);
		memcpy(key, num, 6);
		if (lm_put(fd, id, key, "", 0))
			return 3;
	}
	return 0;
}

static int fill_keys(void)
{
	return fill_keys_in(0);
}

static int fill_fixed_keys(void)
{
	return fill_keys_in(1);
}

static void keys_charged(struct __test_metadata *_metadata, const char *dir,
			 int (*fill)(void))
{
	long long before = -1, after = -1;
	const char *why;

	if (lm_param("max_entries", LOCKMAP_DEFAULT_MAX_ENTRIES) < CG_NR_KEYS ||
	    lm_param("max_key_len", LOCKMAP_DEFAULT_MAX_KEY_LEN) < CG_KEY_LEN)
		SKIP(return, "max_entries or max_key_len below %d or %d",
		     CG_NR_KEYS, CG_KEY_LEN);
	why = cg_memory();
	if (why)
		SKIP(return, "%s", why);
	rmdir(dir);
	ASSERT_EQ(0, mkdir(dir, 0755));
	EXPECT_EQ(0, cg_measure(dir, fill, &before, &after));
	rmdir(dir);
	TH_LOG("memory.current %lld -> %lld for %d keys of %d bytes",
	       before, after, CG_NR_KEYS, CG_KEY_LEN);
	EXPECT_LE(before + (long long)CG_NR_KEYS * CG_KEY_LEN, after);
}

/*
 * The entries and their keys are charged too, not only the values: keys
 * of 2000 bytes with empty values make memory.current grow by at least the
 * keys' bytes (few keys: the debug kernel's ioctls are slow).  The values
 * alone (a small header each) are under 1 MiB, the hash tables' bucket
 * arrays are not charged: entries allocated without __GFP_ACCOUNT leave the
 * growth far below 6 MB.
 */
TEST(keys_charged_to_memcg)
{
	keys_charged(_metadata, "/sys/fs/cgroup/lockmap-test-keys", fill_keys);
}

/* The same for a map of fixed-size keys, whose entries have their own cache. */
TEST(fixed_keys_charged_to_memcg)
{
	keys_charged(_metadata, "/sys/fs/cgroup/lockmap-test-fixed",
		     fill_fixed_keys);
}

TEST_HARNESS_MAIN
