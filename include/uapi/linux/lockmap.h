/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * lockmap character device (/dev/lockmap): userspace access to lockmap maps
 * (concurrent hash maps and LRU caches with per-key sleeping locks).
 *
 * Each ioctl is one complete operation: it locks what it needs, acts and
 * unlocks before returning, so no kernel lock is ever held while userspace
 * runs.  No key is locked while an ioctl reads or writes user memory: a
 * fault that userspace handles (userfaultfd) stalls at most that file's own
 * CREATE, ATTACH and DETACH.  Every wait inside an ioctl (for a held key, or
 * a hold's sleep) is interruptible: a signal ends it with -EINTR, nothing
 * held and no value changed (an LRU cache keeps the LRU order and, at its
 * max_entries, the evictions that the call's new keys caused: see
 * &struct lockmap_ioc_op).
 *
 * ABI rules, common to every ioctl:
 *
 * - The command numbers use magic 0xB9, checked free in
 *   Documentation/userspace-api/ioctl/ioctl-number.rst of Linux 6.12 (0xB8 and
 *   0xC0 are taken, nothing in between).  The kernel dispatches on the magic,
 *   the direction and the number; the size bits of the command are not
 *   checked, the @size field of the struct is authoritative.
 * - Every struct starts with a __u32 @size, which the caller sets to
 *   sizeof(the struct) it was built with.  A smaller @size than the first
 *   version of the struct (the *_SIZE_VER0 values) is -EINVAL; a larger one
 *   (newer userspace) is accepted if the extra bytes are zero, else -E2BIG;
 *   @size above %LOCKMAP_STRUCT_SIZE_MAX is -E2BIG.  The kernel writes back at
 *   most @size bytes.
 * - Pointers and lengths are __u64 (use (__u64)(uintptr_t)ptr); layouts are
 *   identical for 32- and 64-bit callers.  A pointer the kernel may not read
 *   or write gives -EFAULT.  A pointer whose length is 0 is neither read nor
 *   written, and may hold anything, unless its field says it must then be 0
 *   (as a pointer the request has no use for must be: GET's @value, a
 *   batch's @ops when @nr_ops is 0).
 * - Unknown flags, unknown operation codes and non-zero reserved fields or
 *   padding give -EINVAL.  Output-only fields are ignored on input.
 * - On error the struct is not written back, except where a field says
 *   otherwise (&lockmap_ioc_batch.failed_index); the buffers its pointers
 *   give for output (values, POP's key, ITER's records) may hold part of
 *   an answer.
 *
 * Errors used throughout:
 *
 * - -ENOTTY: not a lockmap command.
 * - -EINVAL: malformed request: bad flags, codes, reserved fields, zero or
 *   mismatched lengths, an operation that does not apply to the map.
 * - -E2BIG: a length or count above its limit (key, value, batch size, hold
 *   time, map parameters above the module's limits, @size too big).
 * - -ENOSPC: a limit reached at run time: entries in a map, maps per open
 *   file, maps in the system.
 * - -EMSGSIZE: an output buffer too small to return anything (ITER).
 * - -EOVERFLOW: ITER met more keys sharing one hash than it can take at
 *   once (practically never; see &struct lockmap_ioc_iter).
 * - -EFAULT: a bad user pointer.
 * - -ENOENT: no such map (or not attached to this file), or no value for a
 *   key where one is required.
 * - -EEXIST: map name taken, map already attached, SET_IF_ABSENT on a key
 *   with a value.
 * - -ECANCELED: CAS found a value different from the expected one.
 * - -EBUSY: a NOWAIT request found a key held.  -EAGAIN is never returned
 *   for a held key, so it cannot be confused with a transient failure.
 * - -EINTR: a signal ended a wait; nothing was changed.
 * - -ENOMEM: out of memory (keys, values and a map's shards are charged to
 *   the caller's memory cgroup; its hash tables' bucket arrays, its slab
 *   cache and shrinker, and a batch's brief sort buffer are not).
 *
 * Limits: the module parameters of lockmap.ko (see modinfo lockmap; readable
 * in /sys/module/lockmap/parameters/) bound every map; their defaults are the
 * LOCKMAP_DEFAULT_* values below.  A map's own limits are chosen at creation
 * within them and reported by LOCKMAP_IOC_STATS.
 *
 * Access: /dev/lockmap is mode 0600 root:root unless the module parameters
 * dev_mode and dev_gid say otherwise; anyone who can open it can use every
 * map by id or name.
 */
#ifndef _UAPI_LINUX_LOCKMAP_H
#define _UAPI_LINUX_LOCKMAP_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Magic of every lockmap ioctl; free in ioctl-number.rst as of Linux 6.12. */
#define LOCKMAP_IOC_MAGIC		0xB9

/* Length of a map name buffer, including the terminating NUL. */
#define LOCKMAP_NAME_LEN		32

/* Largest @size any struct may claim. */
#define LOCKMAP_STRUCT_SIZE_MAX		4096

/* Defaults of the module's limits (module parameters of the same names). */
/* max_key_len: longest key; also the hard limit. */
#define LOCKMAP_DEFAULT_MAX_KEY_LEN	4096
/* max_value_len: longest value; may be raised to LOCKMAP_VALUE_LEN_LIMIT. */
#define LOCKMAP_DEFAULT_MAX_VALUE_LEN	65536
#define LOCKMAP_VALUE_LEN_LIMIT		1048576
/* max_entries: most keys (with a value, or held) in one map. */
#define LOCKMAP_DEFAULT_MAX_ENTRIES	65536
/* max_maps_per_file: most maps attached to one open file. */
#define LOCKMAP_DEFAULT_MAX_MAPS_PER_FILE 64
/* max_maps: most maps in the system. */
#define LOCKMAP_DEFAULT_MAX_MAPS	1024
/* max_hold_usec: longest hold (&lockmap_ioc_batch.hold_usec), 5 s. */
#define LOCKMAP_DEFAULT_MAX_HOLD_USEC	5000000
/* max_batch_keys: most distinct keys one batch locks; also the hard limit. */
#define LOCKMAP_DEFAULT_MAX_BATCH_KEYS	32
/* max_batch_ops: most operations in one batch. */
#define LOCKMAP_DEFAULT_MAX_BATCH_OPS	64
/* Most records one LOCKMAP_IOC_ITER call returns (not a parameter). */
#define LOCKMAP_ITER_MAX_RECORDS	128
/* Most map ids one LOCKMAP_IOC_LIST call returns (not a parameter). */
#define LOCKMAP_LIST_MAX		1024

/* Flags of &lockmap_ioc_create.flags. */
/* An LRU cache: &lockmap_ioc_create.capacity must be set. */
#define LOCKMAP_CREATE_LRU		0x1U
/* Guard each key with an rt_mutex (priority inheritance), not a mutex. */
#define LOCKMAP_CREATE_RT_MUTEX		0x2U
/*
 * LRU only: give cold values back under memory pressure (a shrinker): global
 * reclaim only, not a memory cgroup's at its limit (not memcg-aware).
 */
#define LOCKMAP_CREATE_SHRINKER		0x4U
/*
 * A single GET, PEEK or CONTAINS (LOCKMAP_IOC_OP) reads the key without
 * locking it, so readers of one key do not queue behind each other; it still
 * waits for a holder that may change the value (every hold and every other
 * operation), and never returns a value other than one the key had.  Values
 * that leave the map (replaced, removed, evicted, popped, cleared) are freed,
 * and uncharged, an RCU grace period later.  Batches lock their keys as usual.
 */
#define LOCKMAP_CREATE_RCU_GET		0x8U
#define LOCKMAP_CREATE_FLAGS_ALL	(LOCKMAP_CREATE_LRU | \
					 LOCKMAP_CREATE_RT_MUTEX | \
					 LOCKMAP_CREATE_SHRINKER | \
					 LOCKMAP_CREATE_RCU_GET)

/**
 * struct lockmap_ioc_create - argument of %LOCKMAP_IOC_CREATE
 * @size: sizeof(struct lockmap_ioc_create)
 * @flags: LOCKMAP_CREATE_* flags
 * @key_len: fixed key length in bytes (1 to the module's max_key_len), or 0
 *	for variable-length keys
 * @max_key_len: variable-length keys: the longest, 0 for the module's
 *	max_key_len; must be 0 when @key_len is set
 * @max_value_len: longest value in bytes, 0 for the module's max_value_len
 * @nr_shards: a power of two up to 1024 (-E2BIG above), or 0 for the
 *	kernel's default
 * @max_evict: LRU: most evictions per insertion, up to 1024 (0: 1); else
 *	must be 0.  Held keys are stepped over: an insertion that meets 16 of
 *	them gives up, which may leave the cache above @capacity for a while
 * @map_id: out: the new map's id (never 0)
 * @capacity: LRU: number of values kept (not 0, at most the map's
 *	max_entries); must be 0 without %LOCKMAP_CREATE_LRU
 * @max_entries: most keys at once, 0 for the module's max_entries
 * @name: NUL-terminated name of 1 to %LOCKMAP_NAME_LEN - 1 characters from
 *	[A-Za-z0-9._-], with zero bytes after the NUL, unique among live maps
 *	and maps being created (-EEXIST); or all zero for an anonymous map
 *	(shared by id only)
 * @reserved: must be zero
 *
 * Creates a map and attaches it to the calling file, which counts against
 * the file's limit (-ENOSPC).  Larger limits than the module's are -E2BIG.
 * On success the struct is written back with @map_id set and the limits
 * left 0 (@max_key_len of a variable-length map, @max_value_len,
 * @max_entries) replaced by the values in effect.  The map is live, so that
 * ATTACH, LIST and STATS find it, from the moment that write-back has
 * succeeded until no open file has it attached.  A write-back that faults
 * makes CREATE fail with -EFAULT and destroys the map, which no other file
 * can have found by then.
 */
struct lockmap_ioc_create {
	__u32 size;
	__u32 flags;
	__u32 key_len;
	__u32 max_key_len;
	__u32 max_value_len;
	__u32 nr_shards;
	__u32 max_evict;
	__u32 map_id;
	__u64 capacity;
	__u64 max_entries;
	__u8 name[LOCKMAP_NAME_LEN];
	__u64 reserved[4];
};

#define LOCKMAP_IOC_CREATE_SIZE_VER0	112

/**
 * struct lockmap_ioc_attach - argument of %LOCKMAP_IOC_ATTACH
 * @size: sizeof(struct lockmap_ioc_attach)
 * @flags: must be zero
 * @map_id: in: the map to attach, or 0 to attach by @name; out: its id
 * @reserved0: must be zero
 * @name: the name to attach by (as &lockmap_ioc_create.name) when @map_id
 *	is 0; all zero otherwise
 * @reserved: must be zero
 *
 * Attaches an existing map to the calling file, so that this file's
 * operations may use it (maps are shared between files and processes this
 * way).  -ENOENT: no such map; -EEXIST: already attached to this file;
 * -ENOSPC: the file's limit of maps is reached.
 */
struct lockmap_ioc_attach {
	__u32 size;
	__u32 flags;
	__u32 map_id;
	__u32 reserved0;
	__u8 name[LOCKMAP_NAME_LEN];
	__u64 reserved[2];
};

#define LOCKMAP_IOC_ATTACH_SIZE_VER0	64

/**
 * struct lockmap_ioc_map - argument of the ioctls acting on a whole map
 * @size: sizeof(struct lockmap_ioc_map)
 * @flags: must be zero
 * @map_id: the map, attached to the calling file
 * @reserved0: must be zero
 * @value: %LOCKMAP_IOC_LEN: out: number of keys with a value;
 *	%LOCKMAP_IOC_CLEAR: out: number of values removed;
 *	%LOCKMAP_IOC_SET_CAPACITY: in: the new capacity (LRU only, not 0, at
 *	most the map's max_entries; shrinking takes effect at later insertions);
 *	%LOCKMAP_IOC_DETACH: must be zero
 * @reserved: must be zero
 *
 * %LOCKMAP_IOC_DETACH drops the calling file's attachment.  The last
 * detach (or close) ends the map's life at once: ATTACH, LIST and STATS no
 * longer find it and its name is free, though the map itself is freed only
 * when no ioctl uses it either.  %LOCKMAP_IOC_CLEAR removes every value key
 * by key, waiting for held keys; it is not atomic: values inserted meanwhile
 * may stay, on -EINTR the values removed so far stay removed, and a
 * write-back of @value that faults returns -EFAULT with the values removed.
 * %LOCKMAP_IOC_SET_CAPACITY writes nothing back.
 */
struct lockmap_ioc_map {
	__u32 size;
	__u32 flags;
	__u32 map_id;
	__u32 reserved0;
	__u64 value;
	__u64 reserved[2];
};

#define LOCKMAP_IOC_MAP_SIZE_VER0	40

/**
 * struct lockmap_ioc_list - argument of %LOCKMAP_IOC_LIST
 * @size: sizeof(struct lockmap_ioc_list)
 * @flags: must be zero
 * @start_id: list maps whose id is at least this
 * @nr: in: room in @ids (at most %LOCKMAP_LIST_MAX); out: ids stored
 * @ids: pointer to an array of @nr __u32, filled in ascending order
 * @reserved: must be zero
 *
 * Lists the ids of every live map, attached to the caller or not; continue
 * from the last id returned plus one.  %LOCKMAP_IOC_STATS tells about each.
 */
struct lockmap_ioc_list {
	__u32 size;
	__u32 flags;
	__u32 start_id;
	__u32 nr;
	__u64 ids;
	__u64 reserved[2];
};

#define LOCKMAP_IOC_LIST_SIZE_VER0	40

/**
 * struct lockmap_ioc_stats - argument of %LOCKMAP_IOC_STATS
 * @size: sizeof(struct lockmap_ioc_stats)
 * @flags: must be zero
 * @map_id: in: any live map, attached to the caller or not
 * @map_flags: out: its LOCKMAP_CREATE_* flags
 * @name: out: its name (all zero if anonymous)
 * @len: out: keys with a value
 * @slots: out: keys present (with a value, or held)
 * @capacity: out: LRU capacity (0 for a plain map)
 * @evictions: out: values evicted for capacity or memory pressure
 * @evict_skipped: out: held keys an eviction stepped over
 * @max_entries: out: the map's limit of keys
 * @nr_shards: out: number of shards
 * @key_len: out: fixed key length, or 0
 * @max_key_len: out: longest key
 * @max_value_len: out: longest value
 * @max_evict: out: most evictions per insertion (LRU)
 * @nr_files: out: open files the map is attached to
 * @reserved: must be zero
 */
struct lockmap_ioc_stats {
	__u32 size;
	__u32 flags;
	__u32 map_id;
	__u32 map_flags;
	__u8 name[LOCKMAP_NAME_LEN];
	__u64 len;
	__u64 slots;
	__u64 capacity;
	__u64 evictions;
	__u64 evict_skipped;
	__u64 max_entries;
	__u32 nr_shards;
	__u32 key_len;
	__u32 max_key_len;
	__u32 max_value_len;
	__u32 max_evict;
	__u32 nr_files;
	__u64 reserved[4];
};

#define LOCKMAP_IOC_STATS_SIZE_VER0	152

/**
 * enum lockmap_op_code - what a &struct lockmap_ioc_op does to its key
 * @LOCKMAP_OP_INSERT: set the value to @value (creating the key)
 * @LOCKMAP_OP_GET: read the value; in an LRU cache the key becomes the most
 *	recently used
 * @LOCKMAP_OP_PEEK: read the value without changing the LRU order (in a
 *	batch, every locked key becomes the most recently used anyway)
 * @LOCKMAP_OP_REMOVE: remove the value
 * @LOCKMAP_OP_CONTAINS: @result is 1 if the key has a value, else 0; never
 *	fails for an absent key
 * @LOCKMAP_OP_SET_IF_ABSENT: set the value to @value only if the key has
 *	none, else -EEXIST
 * @LOCKMAP_OP_CAS: if the value equals the @expected bytes, set it to
 *	@value; else -ECANCELED
 * @LOCKMAP_OP_ADD: treat the value as a host-endian __u64 counter (an absent
 *	key counts as 0), add @num modulo 2^64 (so two's complement subtracts),
 *	store the 8-byte result and return it in @result; a value that is not 8
 *	bytes long is -EINVAL, a map whose max_value_len is below 8 -E2BIG
 * @LOCKMAP_OP_APPEND: append the @value bytes to the value (an absent key
 *	starts empty); @result is the new length; longer than the map's
 *	max_value_len is -E2BIG
 *
 * GET, PEEK, REMOVE and CAS fail with -ENOENT when the key has no value;
 * with %LOCKMAP_OPF_ABSENT_OK, which the other operations reject with
 * -EINVAL, GET, PEEK and REMOVE succeed instead.
 */
enum lockmap_op_code {
	LOCKMAP_OP_INSERT = 1,
	LOCKMAP_OP_GET,
	LOCKMAP_OP_PEEK,
	LOCKMAP_OP_REMOVE,
	LOCKMAP_OP_CONTAINS,
	LOCKMAP_OP_SET_IF_ABSENT,
	LOCKMAP_OP_CAS,
	LOCKMAP_OP_ADD,
	LOCKMAP_OP_APPEND,
};

/* Flags of &lockmap_ioc_op.flags. */
/* LOCKMAP_IOC_OP only: fail with -EBUSY instead of waiting for a held key. */
#define LOCKMAP_OPF_NOWAIT		0x1U
/*
 * GET, PEEK, REMOVE: succeed (without %LOCKMAP_OUT_FOUND) on an absent key.
 * Any other operation with it is -EINVAL.
 */
#define LOCKMAP_OPF_ABSENT_OK		0x2U
#define LOCKMAP_OPF_ALL			(LOCKMAP_OPF_NOWAIT | LOCKMAP_OPF_ABSENT_OK)

/* Flags of &lockmap_ioc_op.out_flags (and &lockmap_ioc_pop.out_flags). */
/* The key had a value before the operation; @out_len is its length. */
#define LOCKMAP_OUT_FOUND		0x1U
/* @out_size was smaller than @out_len: only @out_size bytes were copied. */
#define LOCKMAP_OUT_TRUNCATED		0x2U

/**
 * struct lockmap_ioc_op - one operation on one key
 * @size: sizeof(struct lockmap_ioc_op); in a batch, equal to
 *	&lockmap_ioc_batch.op_size
 * @op: an &enum lockmap_op_code
 * @flags: LOCKMAP_OPF_* flags
 * @map_id: the map (attached to the calling file); in a batch, 0 or the
 *	batch's map
 * @key: pointer to the key bytes
 * @key_len: their number: 1 to the map's max_key_len (-E2BIG above), or
 *	exactly the map's fixed key length (-EINVAL otherwise)
 * @value: pointer to the value bytes (INSERT, SET_IF_ABSENT, CAS: the new
 *	value; APPEND: the bytes to append), not read when @value_len is 0;
 *	both 0 for other operations
 * @value_len: their number, up to the map's max_value_len (-E2BIG); 0 is an
 *	empty value
 * @expected: CAS: pointer to the expected value; else 0
 * @expected_len: CAS: its length; else 0
 * @out: pointer to a buffer that receives the value the key had before the
 *	operation (for GET and PEEK, the value), or 0 not to copy it
 * @out_size: size of @out (0 when @out is 0)
 * @out_len: out: full length of that value (0 if none)
 * @num: ADD: the addend; else must be zero
 * @result: out: ADD: the new counter; APPEND: the new length; CONTAINS: 1 or
 *	0; else 0
 * @out_flags: out: LOCKMAP_OUT_* flags
 * @reserved0: must be zero
 * @reserved: must be zero
 *
 * The argument of %LOCKMAP_IOC_OP, and the element of
 * &lockmap_ioc_batch.ops.  LOCKMAP_IOC_OP waits (interruptibly) for a held
 * key, or fails with -EBUSY under %LOCKMAP_OPF_NOWAIT.  A key is created
 * only by the operations that may give it a value; at the map's
 * max_entries an LRU cache evicts a cold unheld key to make room (even if
 * the operation then fails), else it is -ENOSPC.  In an LRU cache GET, CAS
 * and the creating operations make the key the most recently used, as
 * locking it does, whether or not they succeed.  The output fields are
 * written back after the key is unlocked: if that faults, the operation
 * stays applied and the call returns -EFAULT.
 */
struct lockmap_ioc_op {
	__u32 size;
	__u32 op;
	__u32 flags;
	__u32 map_id;
	__u64 key;
	__u64 key_len;
	__u64 value;
	__u64 value_len;
	__u64 expected;
	__u64 expected_len;
	__u64 out;
	__u64 out_size;
	__u64 out_len;
	__u64 num;
	__u64 result;
	__u32 out_flags;
	__u32 reserved0;
	__u64 reserved[2];
};

#define LOCKMAP_IOC_OP_SIZE_VER0	128

/**
 * struct lockmap_ioc_key - one key to lock in a batch
 * @key: pointer to the key bytes
 * @len: their number (as &lockmap_ioc_op.key_len)
 */
struct lockmap_ioc_key {
	__u64 key;
	__u64 len;
};

/* Flags of &lockmap_ioc_batch.flags. */
/* Fail with -EBUSY instead of waiting when a key is held. */
#define LOCKMAP_BATCH_NOWAIT		0x1U
#define LOCKMAP_BATCH_FLAGS_ALL		LOCKMAP_BATCH_NOWAIT

/**
 * struct lockmap_ioc_batch - argument of %LOCKMAP_IOC_BATCH
 * @size: sizeof(struct lockmap_ioc_batch)
 * @flags: LOCKMAP_BATCH_* flags
 * @map_id: the map, attached to the calling file
 * @nr_keys: number of extra keys in @keys (up to the module's
 *	max_batch_keys, -E2BIG)
 * @nr_ops: number of operations in @ops (up to the module's max_batch_ops,
 *	-E2BIG)
 * @op_size: size of each element of @ops: sizeof(struct lockmap_ioc_op);
 *	0 if @nr_ops is 0
 * @keys: pointer to @nr_keys &struct lockmap_ioc_key: keys to lock besides
 *	those of @ops (for a hold); 0 if @nr_keys is 0
 * @ops: pointer to @nr_ops &struct lockmap_ioc_op, applied in order; 0 if
 *	@nr_ops is 0
 * @hold_usec: microseconds to sleep holding the keys before applying @ops
 *	(0 for none; up to the module's max_hold_usec, -E2BIG); a signal ends
 *	the sleep with -EINTR, nothing applied
 * @failed_index: out, also on error: the index of the operation that failed
 *	(-ENOENT, -EEXIST, -ECANCELED, -EINVAL or -E2BIG from applying it, or
 *	an invalid field), or 0xffffffff if the error is not an operation's
 * @reserved0: must be zero
 * @reserved: must be zero
 *
 * Locks the union of @keys and the keys of @ops together (distinct keys up
 * to the module's max_batch_keys, at most 32; -E2BIG) in one global order,
 * so batches never deadlock with each other; waits interruptibly, or fails
 * with -EBUSY under %LOCKMAP_BATCH_NOWAIT.  Every locked key is created for
 * the duration, before any is locked (at max_entries as for
 * &struct lockmap_ioc_op: an LRU cache evicts a cold key, even for a batch
 * that then fails, else -ENOSPC) and, in an LRU cache, becomes the most
 * recently used.  Then sleeps @hold_usec, then applies @ops in order, each
 * seeing the effects of the previous ones, then unlocks.
 *
 * All or nothing: every operation is validated and computed before any
 * value changes; if one fails, no value is changed and its index is in
 * @failed_index.  On success each operation's output fields are written
 * back to its element of @ops; if that copy faults the batch stays applied
 * and the call returns -EFAULT.  %LOCKMAP_OPF_NOWAIT is invalid in a batch.
 */
struct lockmap_ioc_batch {
	__u32 size;
	__u32 flags;
	__u32 map_id;
	__u32 nr_keys;
	__u32 nr_ops;
	__u32 op_size;
	__u64 keys;
	__u64 ops;
	__u64 hold_usec;
	__u32 failed_index;
	__u32 reserved0;
	__u64 reserved[2];
};

#define LOCKMAP_IOC_BATCH_SIZE_VER0	72

/* &lockmap_ioc_iter.cursor once the iteration is over. */
#define LOCKMAP_ITER_END		(~(__u64)0)

/**
 * struct lockmap_ioc_record - header of one key/value pair in an ITER buffer
 * @key_len: length of the key, which follows this header
 * @value_len: length of the value, which follows the key
 *
 * The next record starts at the next multiple of 8 bytes from the start of
 * the buffer after the value.
 */
struct lockmap_ioc_record {
	__u64 key_len;
	__u64 value_len;
};

/**
 * struct lockmap_ioc_iter - argument of %LOCKMAP_IOC_ITER
 * @size: sizeof(struct lockmap_ioc_iter)
 * @flags: must be zero
 * @map_id: the map, attached to the calling file
 * @max_records: most records to return, 1 to %LOCKMAP_ITER_MAX_RECORDS
 * @cursor: in: 0 to start, or the value a previous call returned; out: where
 *	to continue, %LOCKMAP_ITER_END when done
 * @buf: pointer to the buffer receiving &struct lockmap_ioc_record entries
 * @buf_size: its size; it must hold at least one record, so 16 + the map's
 *	max_key_len + max_value_len rounded up to 8 suffices (-EMSGSIZE if not
 *	even the first record fits; but see -EOVERFLOW)
 * @buf_len: out: bytes of @buf used
 * @nr_records: out: records in @buf (may be 0 before the end)
 * @reserved0: must be zero
 * @reserved: must be zero
 *
 * Copies out a batch of key/value pairs and a cursor to continue from.  The
 * cursor is opaque (it encodes a shard, a position in it and, among keys of
 * one position, the next one), stays valid however the map changes, and is
 * only meaningful for the same map.  Every key that has a value during the
 * whole iteration is returned exactly once; keys inserted or removed
 * meanwhile may or may not be, and no key is returned twice.  Each key is
 * locked (waiting interruptibly) while its value is copied; the LRU order
 * does not change.  The order is unspecified.  A signal ends the call early:
 * -EINTR if nothing was copied yet, else success with the records so far and
 * a cursor after them.  -EOVERFLOW (practically never) if more keys share
 * one 32-bit hash than @max_records allows, or keys that share it and a
 * second, 21-bit hash do not fit in @buf_size together: retry with a larger
 * @max_records and @buf_size.  A call visits about as many keys as it
 * returns, and the empty table slots between them, so the number of calls
 * matters only for their fixed cost: use the largest @max_records the buffer
 * allows.
 */
struct lockmap_ioc_iter {
	__u32 size;
	__u32 flags;
	__u32 map_id;
	__u32 max_records;
	__u64 cursor;
	__u64 buf;
	__u64 buf_size;
	__u64 buf_len;
	__u32 nr_records;
	__u32 reserved0;
	__u64 reserved[2];
};

#define LOCKMAP_IOC_ITER_SIZE_VER0	72

/**
 * struct lockmap_ioc_pop - argument of %LOCKMAP_IOC_POP_LRU
 * @size: sizeof(struct lockmap_ioc_pop)
 * @flags: must be zero
 * @map_id: an LRU map attached to the calling file (-EINVAL for a plain map)
 * @out_flags: out: %LOCKMAP_OUT_FOUND, and %LOCKMAP_OUT_TRUNCATED if the key
 *	or the value did not fit
 * @key: pointer to a buffer for the key
 * @key_size: its size
 * @key_len: out: the key's full length
 * @value: pointer to a buffer for the value, or 0
 * @value_size: its size (0 when @value is 0)
 * @value_len: out: the value's full length
 * @reserved: must be zero
 *
 * Removes a least recently used key nobody holds (round robin over the
 * shards) and returns it with its value; -ENOENT when there is none.  The
 * pair is removed even if truncated: buffers of the map's max_key_len and
 * max_value_len lose nothing.  It is removed too if writing it back faults
 * (-EFAULT): the pair is then lost.
 */
struct lockmap_ioc_pop {
	__u32 size;
	__u32 flags;
	__u32 map_id;
	__u32 out_flags;
	__u64 key;
	__u64 key_size;
	__u64 key_len;
	__u64 value;
	__u64 value_size;
	__u64 value_len;
	__u64 reserved[2];
};

#define LOCKMAP_IOC_POP_SIZE_VER0	80

#define LOCKMAP_IOC_CREATE	_IOWR(LOCKMAP_IOC_MAGIC, 0x00, struct lockmap_ioc_create)
#define LOCKMAP_IOC_ATTACH	_IOWR(LOCKMAP_IOC_MAGIC, 0x01, struct lockmap_ioc_attach)
#define LOCKMAP_IOC_DETACH	_IOWR(LOCKMAP_IOC_MAGIC, 0x02, struct lockmap_ioc_map)
#define LOCKMAP_IOC_LIST	_IOWR(LOCKMAP_IOC_MAGIC, 0x03, struct lockmap_ioc_list)
#define LOCKMAP_IOC_STATS	_IOWR(LOCKMAP_IOC_MAGIC, 0x04, struct lockmap_ioc_stats)
#define LOCKMAP_IOC_LEN		_IOWR(LOCKMAP_IOC_MAGIC, 0x05, struct lockmap_ioc_map)
#define LOCKMAP_IOC_CLEAR	_IOWR(LOCKMAP_IOC_MAGIC, 0x06, struct lockmap_ioc_map)
#define LOCKMAP_IOC_OP		_IOWR(LOCKMAP_IOC_MAGIC, 0x07, struct lockmap_ioc_op)
#define LOCKMAP_IOC_BATCH	_IOWR(LOCKMAP_IOC_MAGIC, 0x08, struct lockmap_ioc_batch)
#define LOCKMAP_IOC_ITER	_IOWR(LOCKMAP_IOC_MAGIC, 0x09, struct lockmap_ioc_iter)
#define LOCKMAP_IOC_POP_LRU	_IOWR(LOCKMAP_IOC_MAGIC, 0x0a, struct lockmap_ioc_pop)
#define LOCKMAP_IOC_SET_CAPACITY _IOWR(LOCKMAP_IOC_MAGIC, 0x0b, struct lockmap_ioc_map)

/*
 * A hold, "lock keys, sleep N us holding them, then act", is
 * LOCKMAP_IOC_BATCH with &lockmap_ioc_batch.hold_usec set: the keys to hold
 * go in &lockmap_ioc_batch.keys, the operation (if any) in
 * &lockmap_ioc_batch.ops.
 */
#define LOCKMAP_IOC_HOLD	LOCKMAP_IOC_BATCH

#endif /* _UAPI_LINUX_LOCKMAP_H */
