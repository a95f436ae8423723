// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/lockmap: lockmap maps for userspace, one complete operation per ioctl.
 *
 * The ABI is include/uapi/linux/lockmap.h.  Maps hold byte-string values
 * (struct lockmap_blob, allocated here with kvmalloc) and live in a global
 * registry by id and name; an open file attaches maps, and only attached
 * maps can be operated on.  A map is freed when its last reference goes:
 * one per attaching file, one per ioctl using it.
 *
 * No kernel lock is held when an ioctl returns.  Every wait for a key is
 * interruptible (or NOWAIT); values are copied in before and out after the
 * keys are locked, through kernel buffers, so no user memory is touched
 * while a key is held.
 */
#include <linux/cdev.h>
#include <linux/compat.h>
#include <linux/cred.h>
#include <linux/ctype.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/jhash.h>
#include <linux/kref.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/random.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include <uapi/linux/lockmap.h>

#include "lockmap_dev.h"
#include "lockmap_internal.h"

/*
 * The ABI's layouts: a field added or moved changes a size (the selftests
 * check the same for 32-bit callers, who must see identical layouts).
 */
#define LMD_ABI_SIZE(name, size) \
	static_assert(sizeof(struct lockmap_ioc_##name) == (size))
LMD_ABI_SIZE(create, LOCKMAP_IOC_CREATE_SIZE_VER0);
LMD_ABI_SIZE(attach, LOCKMAP_IOC_ATTACH_SIZE_VER0);
LMD_ABI_SIZE(map, LOCKMAP_IOC_MAP_SIZE_VER0);
LMD_ABI_SIZE(list, LOCKMAP_IOC_LIST_SIZE_VER0);
LMD_ABI_SIZE(stats, LOCKMAP_IOC_STATS_SIZE_VER0);
LMD_ABI_SIZE(op, LOCKMAP_IOC_OP_SIZE_VER0);
LMD_ABI_SIZE(key, 16);
LMD_ABI_SIZE(batch, LOCKMAP_IOC_BATCH_SIZE_VER0);
LMD_ABI_SIZE(record, 16);
LMD_ABI_SIZE(iter, LOCKMAP_IOC_ITER_SIZE_VER0);
LMD_ABI_SIZE(pop, LOCKMAP_IOC_POP_SIZE_VER0);

/* Hard ceilings of the module parameters. */
#define LMD_MAX_SHARDS		1024
#define LMD_MAX_EVICT		1024
#define LMD_BATCH_OPS_LIMIT	1024

static ushort dev_mode = 0600;
module_param(dev_mode, ushort, 0444);
MODULE_PARM_DESC(dev_mode,
		 "Permission bits of /dev/lockmap (default 0600: root only). Whoever can open it can use every map.");

static uint dev_gid;
module_param(dev_gid, uint, 0444);
MODULE_PARM_DESC(dev_gid,
		 "Group owning /dev/lockmap (default 0); with dev_mode=0660 that group may use the device");

static uint max_key_len = LOCKMAP_DEFAULT_MAX_KEY_LEN;
module_param(max_key_len, uint, 0644);
MODULE_PARM_DESC(max_key_len,
		 "Longest key a map may accept, 1 to 4096 (default 4096); larger keys: E2BIG");

static uint max_value_len = LOCKMAP_DEFAULT_MAX_VALUE_LEN;
module_param(max_value_len, uint, 0644);
MODULE_PARM_DESC(max_value_len,
		 "Longest value a map may accept, up to 1 MiB (default 65536); larger values: E2BIG");

static uint max_entries = LOCKMAP_DEFAULT_MAX_ENTRIES;
module_param(max_entries, uint, 0644);
MODULE_PARM_DESC(max_entries,
		 "Most keys one map may hold, with a value or held (default 65536); past it: ENOSPC");

static uint max_maps_per_file = LOCKMAP_DEFAULT_MAX_MAPS_PER_FILE;
module_param(max_maps_per_file, uint, 0644);
MODULE_PARM_DESC(max_maps_per_file,
		 "Most maps attached to one open file (default 64); past it: ENOSPC");

static uint max_maps = LOCKMAP_DEFAULT_MAX_MAPS;
module_param(max_maps, uint, 0644);
MODULE_PARM_DESC(max_maps, "Most maps in the system (default 1024); past it: ENOSPC");

static uint max_hold_usec = LOCKMAP_DEFAULT_MAX_HOLD_USEC;
module_param(max_hold_usec, uint, 0644);
MODULE_PARM_DESC(max_hold_usec,
		 "Longest hold of a batch, in microseconds (default 5000000); longer: E2BIG");

static uint max_batch_keys = LOCKMAP_DEFAULT_MAX_BATCH_KEYS;
module_param(max_batch_keys, uint, 0644);
MODULE_PARM_DESC(max_batch_keys,
		 "Most distinct keys one batch locks, 1 to 32 (default 32); more: E2BIG");

static uint max_batch_ops = LOCKMAP_DEFAULT_MAX_BATCH_OPS;
module_param(max_batch_ops, uint, 0644);
MODULE_PARM_DESC(max_batch_ops,
		 "Most operations in one batch, 1 to 1024 (default 64); more: E2BIG");

/* The parameters are writable: read each once, within its ceiling. */
#define LMD_LIMIT(param, ceiling) \
	clamp_t(u32, READ_ONCE(param), 1, (ceiling))

/*
 * Where a map is in its life, as ATTACH, LIST, STATS and names see it: new
 * until its creator has CREATE's reply (so a CREATE that fails takes it
 * along), live, then retired by its last detach even while an ioctl still
 * uses it: no file can find it again and its name is free.
 */
enum lmd_state {
	LMD_NEW,
	LMD_LIVE,
	LMD_RETIRED,
};

/* A map as the device knows it. */
struct lmd_map {
	struct kref ref;		/* files attached + ioctls using it */
	struct lockmap *map;
	u32 id;
	u32 flags;			/* LOCKMAP_CREATE_* */
	u32 key_len;
	u32 max_key_len;		/* longest key, fixed or not */
	u32 max_value_len;
	u32 max_evict;
	u64 max_entries;
	u32 tie_seed;			/* ITER's second hash, lmd_iter_tie() */
	/* Both changed under lmd_lock. */
	atomic_t nr_files;
	enum lmd_state state;
	char name[LOCKMAP_NAME_LEN];
};

/* One open file of the device. */
struct lmd_file {
	struct mutex lock;		/* serialises attach and detach */
	struct xarray maps;		/* id -> struct lmd_map, one ref each */
	unsigned int nr_maps;
};

/* Every live map by id; lmd_lock guards it, names and the count. */
static DEFINE_MUTEX(lmd_lock);
static DEFINE_XARRAY_ALLOC1(lmd_maps);
static u32 lmd_next_id;
static unsigned int lmd_nr_maps;

static bool lmd_should_fail(size_t size)
{
#ifdef CONFIG_FAULT_INJECTION
	return should_fail(&lockmap_fail_alloc, size);
#else
	return false;
#endif
}

/*
 * Values: a struct lockmap_blob in kvmalloc'ed memory, charged to the
 * caller, behind an RCU head: an rcu_get map's lockless readers may still
 * copy a value it dropped until a grace period has passed.  (Other maps pay
 * the head's 16 bytes too, for one layout and one set of helpers.)  A
 * published value never changes; a new one replaces it.
 */
struct lmd_blob {
	struct rcu_head rcu;
	struct lockmap_blob b;
};

static struct lockmap_blob *lmd_blob_alloc(size_t len)
{
	struct lmd_blob *blob;

	if (lmd_should_fail(len))
		return NULL;
	blob = kvmalloc(struct_size(blob, b.data, len), GFP_KERNEL_ACCOUNT);
	if (!blob)
		return NULL;
	blob->b.len = len;
	return &blob->b;
}

/* Frees a value that was never in a map (or NULL). */
static void lmd_blob_discard(struct lockmap_blob *blob)
{
	if (blob)
		kvfree(container_of(blob, struct lmd_blob, b));
}

/* Frees a value that was in the map @priv (a &struct lmd_map), or NULL. */
static void lmd_blob_free(void *blob, void *priv)
{
	const struct lmd_map *m = priv;
	struct lmd_blob *v;

	if (!blob)
		return;
	v = container_of(blob, struct lmd_blob, b);
	if (m->flags & LOCKMAP_CREATE_RCU_GET)
		kvfree_rcu(v, rcu);
	else
		kvfree(v);
}

static void *lmd_alloc(size_t size)
{
	if (lmd_should_fail(size))
		return NULL;
	return kvmalloc(size, GFP_KERNEL_ACCOUNT);
}

/*
 * Copies in an ioctl argument: @size first, at least @min bytes, extra bytes
 * of a newer struct must be zero.  Returns the caller's size in *@usize.
 */
static int lmd_copy_in(void *karg, size_t ksize, const void __user *uarg,
		       size_t min, u32 *usize)
{
	u32 size;

	if (get_user(size, (const u32 __user *)uarg))
		return -EFAULT;
	if (size < min)
		return -EINVAL;
	if (size > LOCKMAP_STRUCT_SIZE_MAX)
		return -E2BIG;
	*usize = size;
	return copy_struct_from_user(karg, ksize, uarg, size);
}

/* Copies back at most what the caller's version of the struct holds. */
static int lmd_copy_out(void __user *uarg, u32 usize, const void *karg,
			size_t ksize)
{
	return copy_to_user(uarg, karg, min_t(size_t, usize, ksize)) ?
	       -EFAULT : 0;
}

static bool lmd_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

/* Maps: the registry and references */

/* Called with lmd_lock held (kref_put_mutex()); unlocks it. */
static void lmd_map_release(struct kref *ref)
{
	struct lmd_map *m = container_of(ref, struct lmd_map, ref);

	xa_erase(&lmd_maps, m->id);
	lmd_nr_maps--;
	mutex_unlock(&lmd_lock);
	lockmap_destroy(m->map);
	kfree(m);
}

static void lmd_map_put(struct lmd_map *m)
{
	kref_put_mutex(&m->ref, lmd_map_release, &lmd_lock);
}

/* @m (found under lmd_lock), referenced if it is live. */
static struct lmd_map *lmd_map_get_live(struct lmd_map *m)
{
	lockdep_assert_held(&lmd_lock);
	if (m && m->state == LMD_LIVE && kref_get_unless_zero(&m->ref))
		return m;
	return NULL;
}

/* Any live map by id, referenced; NULL if none. */
static struct lmd_map *lmd_map_get_id(u32 id)
{
	struct lmd_map *m;

	mutex_lock(&lmd_lock);
	m = lmd_map_get_live(xa_load(&lmd_maps, id));
	mutex_unlock(&lmd_lock);
	return m;
}

/* The new or live map of a name: a retired one has given it up. */
static struct lmd_map *lmd_find_name(const char *name)
{
	struct lmd_map *m;
	unsigned long id;

	lockdep_assert_held(&lmd_lock);
	xa_for_each(&lmd_maps, id, m)
		if (m->state != LMD_RETIRED && !strcmp(m->name, name))
			return m;
	return NULL;
}

static struct lmd_map *lmd_map_get_name(const char *name)
{
	struct lmd_map *m;

	mutex_lock(&lmd_lock);
	m = lmd_map_get_live(lmd_find_name(name));
	mutex_unlock(&lmd_lock);
	return m;
}

/* A map attached to @f, referenced for the ioctl. */
static struct lmd_map *lmd_file_map(struct lmd_file *f, u32 id)
{
	struct lmd_map *m;

	xa_lock(&f->maps);
	m = xa_load(&f->maps, id);
	if (m)
		kref_get(&m->ref);
	xa_unlock(&f->maps);
	return m;
}

/* Attaches @m to @f, taking over the caller's reference on success. */
static int lmd_attach_locked(struct lmd_file *f, struct lmd_map *m)
{
	int err;

	lockdep_assert_held(&f->lock);
	/* Attached already is -EEXIST even on a file at its limit. */
	if (xa_load(&f->maps, m->id))
		return -EEXIST;
	if (f->nr_maps >= LMD_LIMIT(max_maps_per_file, U32_MAX))
		return -ENOSPC;
	mutex_lock(&lmd_lock);
	/* Found live, then retired by a last detach before this attach. */
	err = m->state == LMD_RETIRED ? -ENOENT :
	      xa_insert(&f->maps, m->id, m, GFP_KERNEL_ACCOUNT);
	if (!err)
		atomic_inc(&m->nr_files);
	mutex_unlock(&lmd_lock);
	if (err)
		return err;	/* not -EBUSY: f->lock orders every attach */
	f->nr_maps++;
	return 0;
}

/* A file let go of @m: the last one retires it. */
static void lmd_map_unfile(struct lmd_map *m)
{
	mutex_lock(&lmd_lock);
	if (atomic_dec_and_test(&m->nr_files))
		m->state = LMD_RETIRED;
	mutex_unlock(&lmd_lock);
}

static int lmd_detach_locked(struct lmd_file *f, u32 id,
			     struct lmd_map **detached)
{
	struct lmd_map *m;

	lockdep_assert_held(&f->lock);
	m = xa_erase(&f->maps, id);
	if (!m)
		return -ENOENT;
	f->nr_maps--;
	lmd_map_unfile(m);
	*detached = m;
	return 0;
}

/*
 * A name is all zero (anonymous), or 1 to LOCKMAP_NAME_LEN - 1 characters
 * of [A-Za-z0-9._-], a NUL and zero bytes.  Returns its length or -EINVAL.
 */
static int lmd_name_check(const u8 *name)
{
	size_t len = strnlen((const char *)name, LOCKMAP_NAME_LEN);
	size_t i;

	if (len == LOCKMAP_NAME_LEN || !lmd_zero(name + len, LOCKMAP_NAME_LEN - len))
		return -EINVAL;
	/* Not isalnum(): the kernel's ctype takes Latin-1 letters too. */
	for (i = 0; i < len; i++)
		if (!isascii(name[i]) || (!isalnum(name[i]) &&
					  !strchr("._-", name[i])))
			return -EINVAL;
	return len;
}

/* LOCKMAP_IOC_CREATE */

static int lmd_create_check(struct lockmap_ioc_create *c)
{
	u32 lim_key = LMD_LIMIT(max_key_len, LOCKMAP_MAX_KEY_LEN);
	u32 lim_value = LMD_LIMIT(max_value_len, LOCKMAP_VALUE_LEN_LIMIT);
	u32 lim_entries = LMD_LIMIT(max_entries, U32_MAX);
	bool lru = c->flags & LOCKMAP_CREATE_LRU;

	if ((c->flags & ~LOCKMAP_CREATE_FLAGS_ALL) ||
	    !lmd_zero(c->reserved, sizeof(c->reserved)) ||
	    lmd_name_check(c->name) < 0)
		return -EINVAL;
	if (lru ? !c->capacity :
	    c->capacity || c->max_evict || (c->flags & LOCKMAP_CREATE_SHRINKER))
		return -EINVAL;
	if (c->key_len && c->max_key_len)
		return -EINVAL;
	if (c->key_len > lim_key || c->max_key_len > lim_key ||
	    c->max_value_len > lim_value || c->max_entries > lim_entries ||
	    c->max_evict > LMD_MAX_EVICT || c->nr_shards > LMD_MAX_SHARDS)
		return -E2BIG;
	if (c->nr_shards && !is_power_of_2(c->nr_shards))
		return -EINVAL;
	if (!c->max_value_len)
		c->max_value_len = lim_value;
	if (!c->max_entries)
		c->max_entries = lim_entries;
	if (c->capacity > c->max_entries)
		return -E2BIG;
	if (!c->key_len && !c->max_key_len)
		c->max_key_len = lim_key;
	return 0;
}

/* Gives @m an id and its name, new: see lmd_publish(). */
static int lmd_register(struct lmd_map *m)
{
	int err;

	mutex_lock(&lmd_lock);
	if (lmd_nr_maps >= LMD_LIMIT(max_maps, U32_MAX))
		err = -ENOSPC;
	else if (m->name[0] && lmd_find_name(m->name))
		err = -EEXIST;
	else
		err = xa_alloc_cyclic(&lmd_maps, &m->id, m, XA_LIMIT(1, INT_MAX),
				      &lmd_next_id, GFP_KERNEL_ACCOUNT);
	if (err >= 0) {
		lmd_nr_maps++;
		err = 0;
	} else if (err == -EBUSY) {
		err = -ENOSPC;
	}
	mutex_unlock(&lmd_lock);
	return err;
}

/* CREATE's reply is out: live, unless the creator already detached it. */
static void lmd_publish(struct lmd_map *m)
{
	mutex_lock(&lmd_lock);
	if (m->state == LMD_NEW)
		m->state = LMD_LIVE;
	mutex_unlock(&lmd_lock);
}

/*
 * The end of CREATE and ATTACH, called with f->lock held and dropping it:
 * attaches @m (the caller's reference passes to @f) and replies with its id,
 * set in @reply at @id.  A reply that cannot be copied out undoes the attach,
 * under the same hold of f->lock, so no other attach or detach of the file
 * comes in between.
 */
static int lmd_attach_reply(struct lmd_file *f, struct lmd_map *m,
			    void __user *arg, u32 usize, void *reply,
			    size_t size, __u32 *id)
{
	struct lmd_map *detached;
	int err;

	err = lmd_attach_locked(f, m);
	if (err) {
		mutex_unlock(&f->lock);
		lmd_map_put(m);
		return err;
	}
	*id = m->id;
	err = lmd_copy_out(arg, usize, reply, size);
	if (err && !lmd_detach_locked(f, *id, &detached)) {
		mutex_unlock(&f->lock);
		lmd_map_put(detached);
		return err;
	}
	mutex_unlock(&f->lock);
	return err;
}

static int lmd_ioctl_create(struct lmd_file *f, void __user *arg)
{
	struct lockmap_ioc_create c;
	struct lockmap_params p = {};
	struct lmd_map *m;
	u32 usize;
	int err;

	err = lmd_copy_in(&c, sizeof(c), arg, LOCKMAP_IOC_CREATE_SIZE_VER0,
			  &usize);
	if (err)
		return err;
	err = lmd_create_check(&c);
	if (err)
		return err;

	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m)
		return -ENOMEM;
	kref_init(&m->ref);
	atomic_set(&m->nr_files, 0);
	memcpy(m->name, c.name, sizeof(m->name));
	m->flags = c.flags;
	m->key_len = c.key_len;
	m->max_key_len = c.key_len ?: c.max_key_len;
	m->max_value_len = c.max_value_len;
	m->max_entries = c.max_entries;
	m->max_evict = c.flags & LOCKMAP_CREATE_LRU ? c.max_evict ?: 1 : 0;
	m->tie_seed = get_random_u32();

	p.name = m->name[0] ? m->name : "lockmap-dev";
	p.key_len = c.key_len;
	p.max_key_len = c.max_key_len;
	p.nr_shards = c.nr_shards;
	p.lock_kind = c.flags & LOCKMAP_CREATE_RT_MUTEX ?
		      LOCKMAP_LOCK_RT_MUTEX : LOCKMAP_LOCK_MUTEX;
	p.gfp = GFP_KERNEL_ACCOUNT;
	p.max_entries = c.max_entries;
	p.capacity = c.capacity;
	p.max_evict = c.max_evict;
	p.shrinker = c.flags & LOCKMAP_CREATE_SHRINKER;
	p.rcu_get = c.flags & LOCKMAP_CREATE_RCU_GET;
	p.free_value = lmd_blob_free;
	p.priv = m;

	/* Interruptible: another CREATE may be faulting on its reply. */
	if (mutex_lock_interruptible(&f->lock)) {
		kfree(m);
		return -EINTR;
	}
	if (f->nr_maps >= LMD_LIMIT(max_maps_per_file, U32_MAX)) {
		mutex_unlock(&f->lock);
		kfree(m);
		return -ENOSPC;
	}
	m->map = lockmap_create(&p);
	if (IS_ERR(m->map)) {
		mutex_unlock(&f->lock);
		err = PTR_ERR(m->map);
		kfree(m);
		return err;
	}
	err = lmd_register(m);
	if (err) {
		mutex_unlock(&f->lock);
		lockmap_destroy(m->map);
		kfree(m);
		return err;
	}
	/*
	 * From here on this file may use the map: drop it by reference only.
	 * Ours keeps it until it is published, which only a reply that
	 * reached the caller does: a failed CREATE leaves no map behind.
	 */
	kref_get(&m->ref);
	err = lmd_attach_reply(f, m, arg, usize, &c, sizeof(c), &c.map_id);
	if (!err)
		lmd_publish(m);
	lmd_map_put(m);
	return err;
}

/* LOCKMAP_IOC_ATTACH, LOCKMAP_IOC_DETACH */

static int lmd_ioctl_attach(struct lmd_file *f, void __user *arg)
{
	struct lockmap_ioc_attach a;
	struct lmd_map *m;
	u32 usize;
	int err, len;

	err = lmd_copy_in(&a, sizeof(a), arg, LOCKMAP_IOC_ATTACH_SIZE_VER0,
			  &usize);
	if (err)
		return err;
	len = lmd_name_check(a.name);
	if (a.flags || a.reserved0 || !lmd_zero(a.reserved, sizeof(a.reserved)) ||
	    len < 0 || !a.map_id == !len)
		return -EINVAL;
	m = a.map_id ? lmd_map_get_id(a.map_id) :
		       lmd_map_get_name((const char *)a.name);
	if (!m)
		return -ENOENT;

	if (mutex_lock_interruptible(&f->lock)) {
		lmd_map_put(m);
		return -EINTR;
	}
	return lmd_attach_reply(f, m, arg, usize, &a, sizeof(a), &a.map_id);
}

static int lmd_map_arg(struct lockmap_ioc_map *ma, void __user *arg,
		       u32 *usize)
{
	int err;

	err = lmd_copy_in(ma, sizeof(*ma), arg, LOCKMAP_IOC_MAP_SIZE_VER0,
			  usize);
	if (err)
		return err;
	if (ma->flags || ma->reserved0 ||
	    !lmd_zero(ma->reserved, sizeof(ma->reserved)))
		return -EINVAL;
	return 0;
}

static int lmd_ioctl_detach(struct lmd_file *f, void __user *arg)
{
	struct lockmap_ioc_map ma;
	struct lmd_map *m;
	u32 usize;
	int err;

	err = lmd_map_arg(&ma, arg, &usize);
	if (err)
		return err;
	if (ma.value)
		return -EINVAL;
	if (mutex_lock_interruptible(&f->lock))
		return -EINTR;
	err = lmd_detach_locked(f, ma.map_id, &m);
	mutex_unlock(&f->lock);
	if (!err)
		lmd_map_put(m);
	return err;
}

/* LOCKMAP_IOC_LIST, LOCKMAP_IOC_STATS */

static int lmd_ioctl_list(void __user *arg)
{
	struct lockmap_ioc_list l;
	struct lmd_map *m;
	unsigned long id;
	u32 usize, *ids, n = 0;
	int err;

	err = lmd_copy_in(&l, sizeof(l), arg, LOCKMAP_IOC_LIST_SIZE_VER0,
			  &usize);
	if (err)
		return err;
	if (l.flags || !lmd_zero(l.reserved, sizeof(l.reserved)))
		return -EINVAL;
	if (l.nr > LOCKMAP_LIST_MAX)
		return -E2BIG;
	ids = kcalloc(max_t(u32, l.nr, 1), sizeof(*ids), GFP_KERNEL_ACCOUNT);
	if (!ids)
		return -ENOMEM;
	mutex_lock(&lmd_lock);
	xa_for_each_start(&lmd_maps, id, m, max_t(u32, l.start_id, 1)) {
		if (n == l.nr)
			break;
		if (m->state == LMD_LIVE)
			ids[n++] = id;
	}
	mutex_unlock(&lmd_lock);
	err = -EFAULT;
	if (n && copy_to_user(u64_to_user_ptr(l.ids), ids, n * sizeof(*ids)))
		goto out;
	l.nr = n;
	err = lmd_copy_out(arg, usize, &l, sizeof(l));
out:
	kfree(ids);
	return err;
}

static int lmd_ioctl_stats(void __user *arg)
{
	struct lockmap_ioc_stats st;
	struct lockmap_stats ks;
	struct lmd_map *m;
	u32 usize;
	int err;

	err = lmd_copy_in(&st, sizeof(st), arg, LOCKMAP_IOC_STATS_SIZE_VER0,
			  &usize);
	if (err)
		return err;
	if (st.flags || !lmd_zero(st.reserved, sizeof(st.reserved)))
		return -EINVAL;
	m = lmd_map_get_id(st.map_id);
	if (!m)
		return -ENOENT;
	lockmap_get_stats(m->map, &ks);
	st.map_flags = m->flags;
	memcpy(st.name, m->name, sizeof(st.name));
	st.len = ks.len;
	st.slots = ks.slots;
	st.capacity = ks.capacity;
	st.evictions = ks.evictions;
	st.evict_skipped = ks.evict_skipped;
	st.max_entries = m->max_entries;
	st.nr_shards = ks.nr_shards;
	st.key_len = m->key_len;
	st.max_key_len = m->max_key_len;
	st.max_value_len = m->max_value_len;
	st.max_evict = m->max_evict;
	st.nr_files = atomic_read(&m->nr_files);
	lmd_map_put(m);
	return lmd_copy_out(arg, usize, &st, sizeof(st));
}

/* Operations */

/* A distinct key of a request, and its value as the operations leave it. */
struct lmd_slot {
	const void *key;
	u32 len;
	struct lockmap_entry *e;	/* locked; NULL: absent, not locked */
	struct lockmap_blob *orig;	/* the value when locked (the map's) */
	struct lockmap_blob *cur;	/* the value after the ops so far */
};

/* One operation, copied in. */
struct lmd_op {
	struct lockmap_ioc_op u;
	void *key;
	struct lockmap_blob *value;	/* the @value bytes; for ADD, the result */
	void *expected;
	void *out;			/* bounce buffer for the old value */
	size_t out_cap;
	struct lmd_slot *slot;
	struct lockmap_blob *made;	/* the value this op put in its slot */
};

static bool lmd_op_has_value(u32 op)
{
	return op == LOCKMAP_OP_INSERT || op == LOCKMAP_OP_SET_IF_ABSENT ||
	       op == LOCKMAP_OP_CAS || op == LOCKMAP_OP_APPEND;
}

/* Operations that may give a key a value, and so create it. */
static bool lmd_op_creates(u32 op)
{
	return op == LOCKMAP_OP_INSERT || op == LOCKMAP_OP_SET_IF_ABSENT ||
	       op == LOCKMAP_OP_ADD || op == LOCKMAP_OP_APPEND;
}

static int lmd_key_check(const struct lmd_map *m, u64 len)
{
	if (!len)
		return -EINVAL;
	if (m->key_len)
		return len == m->key_len ? 0 : -EINVAL;
	return len > m->max_key_len ? -E2BIG : 0;
}

static void *lmd_copy_bytes(u64 uptr, u64 len)
{
	void *buf;

	buf = lmd_alloc(max_t(size_t, len, 1));
	if (!buf)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(buf, u64_to_user_ptr(uptr), len)) {
		kvfree(buf);
		return ERR_PTR(-EFAULT);
	}
	return buf;
}

static void lmd_op_free(struct lmd_op *o)
{
	kvfree(o->key);
	lmd_blob_discard(o->value);
	kvfree(o->expected);
	kvfree(o->out);
	lmd_blob_discard(o->made);
	o->key = NULL;
	o->value = NULL;
	o->expected = NULL;
	o->out = NULL;
	o->made = NULL;
}

/* Validates an op and copies in everything it reads from userspace. */
static int lmd_op_prepare(const struct lmd_map *m, struct lmd_op *o,
			  bool in_batch)
{
	struct lockmap_ioc_op *u = &o->u;
	void *p;
	int err;

	if (u->reserved0 || !lmd_zero(u->reserved, sizeof(u->reserved)) ||
	    (u->flags & ~LOCKMAP_OPF_ALL) ||
	    (in_batch && (u->flags & LOCKMAP_OPF_NOWAIT)) ||
	    u->op < LOCKMAP_OP_INSERT || u->op > LOCKMAP_OP_APPEND)
		return -EINVAL;
	/* Rejected where it means nothing, so that it can mean something later. */
	if ((u->flags & LOCKMAP_OPF_ABSENT_OK) && u->op != LOCKMAP_OP_GET &&
	    u->op != LOCKMAP_OP_PEEK && u->op != LOCKMAP_OP_REMOVE)
		return -EINVAL;
	if (!lmd_op_has_value(u->op) && (u->value || u->value_len))
		return -EINVAL;
	if (u->op != LOCKMAP_OP_CAS && (u->expected || u->expected_len))
		return -EINVAL;
	if ((u->op != LOCKMAP_OP_ADD && u->num) || (!u->out && u->out_size))
		return -EINVAL;
	err = lmd_key_check(m, u->key_len);
	if (err)
		return err;
	if (u->value_len > m->max_value_len || u->expected_len > m->max_value_len ||
	    (u->op == LOCKMAP_OP_ADD && m->max_value_len < sizeof(u64)))
		return -E2BIG;

	p = lmd_copy_bytes(u->key, u->key_len);
	if (IS_ERR(p))
		return PTR_ERR(p);
	o->key = p;
	if (lmd_op_has_value(u->op) || u->op == LOCKMAP_OP_ADD) {
		size_t len = u->op == LOCKMAP_OP_ADD ? sizeof(u64) : u->value_len;

		o->value = lmd_blob_alloc(len);
		if (!o->value)
			return -ENOMEM;
		if (u->op != LOCKMAP_OP_ADD &&
		    copy_from_user(o->value->data, u64_to_user_ptr(u->value), len))
			return -EFAULT;
	}
	if (u->op == LOCKMAP_OP_CAS) {
		p = lmd_copy_bytes(u->expected, u->expected_len);
		if (IS_ERR(p))
			return PTR_ERR(p);
		o->expected = p;
	}
	o->out_cap = min_t(u64, u->out_size, m->max_value_len);
	if (o->out_cap) {
		o->out = lmd_alloc(o->out_cap);
		if (!o->out)
			return -ENOMEM;
	}
	return 0;
}

/*
 * Applies an op to its slot, keys locked.  Only the slot and new blobs
 * change: the map changes at commit, so a failing op leaves nothing to undo.
 */
static int lmd_op_apply(const struct lmd_map *m, struct lmd_op *o)
{
	struct lockmap_ioc_op *u = &o->u;
	struct lmd_slot *s = o->slot;
	struct lockmap_blob *old = s->cur, *made = NULL;
	size_t old_len = old ? old->len : 0;
	u64 n = 0;

	switch (u->op) {
	case LOCKMAP_OP_GET:
	case LOCKMAP_OP_PEEK:
	case LOCKMAP_OP_REMOVE:
		if (!old && !(u->flags & LOCKMAP_OPF_ABSENT_OK))
			return -ENOENT;
		break;
	case LOCKMAP_OP_SET_IF_ABSENT:
		if (old)
			return -EEXIST;
		break;
	case LOCKMAP_OP_CAS:
		if (!old)
			return -ENOENT;
		if (old_len != u->expected_len ||
		    memcmp(old->data, o->expected, old_len))
			return -ECANCELED;
		break;
	case LOCKMAP_OP_ADD:
		if (old && old_len != sizeof(n))
			return -EINVAL;
		if (old)
			memcpy(&n, old->data, sizeof(n));
		break;
	case LOCKMAP_OP_APPEND:
		if (old_len + u->value_len > m->max_value_len)
			return -E2BIG;
		made = lmd_blob_alloc(old_len + u->value_len);
		if (!made)
			return -ENOMEM;
		if (old_len)
			memcpy(made->data, old->data, old_len);
		memcpy(made->data + old_len, o->value->data, u->value_len);
		break;
	}

	u->out_flags = 0;
	u->out_len = old_len;
	u->result = 0;
	if (old) {
		u->out_flags |= LOCKMAP_OUT_FOUND;
		if (u->out && old_len > u->out_size)
			u->out_flags |= LOCKMAP_OUT_TRUNCATED;
		if (o->out_cap)
			memcpy(o->out, old->data, min(old_len, o->out_cap));
	}
	switch (u->op) {
	case LOCKMAP_OP_REMOVE:
		s->cur = NULL;
		break;
	case LOCKMAP_OP_CONTAINS:
		u->result = !!old;
		break;
	case LOCKMAP_OP_ADD:
		n += u->num;
		memcpy(o->value->data, &n, sizeof(n));
		u->result = n;
		fallthrough;
	case LOCKMAP_OP_INSERT:
	case LOCKMAP_OP_SET_IF_ABSENT:
	case LOCKMAP_OP_CAS:
		made = o->value;
		o->value = NULL;
		break;
	case LOCKMAP_OP_APPEND:
		u->result = made->len;
		break;
	}
	if (made) {
		o->made = made;
		s->cur = made;
	}
	return 0;
}

/* Installs the slots' final values; the replaced ones are freed later. */
static void lmd_commit(struct lockmap *map, struct lmd_slot *slots,
		       unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		struct lmd_slot *s = &slots[i];

		if (s->cur == s->orig || WARN_ON_ONCE(!s->e))
			continue;
		lockmap_entry_swap(map, s->e, s->cur);
	}
}

/*
 * After unlocking: values a committed request replaced are ours to free;
 * blobs its ops made stay in the map only if final.
 */
static void lmd_release(struct lmd_map *m, struct lmd_slot *slots,
			unsigned int nr_slots, struct lmd_op *ops,
			unsigned int nr_ops, bool committed)
{
	unsigned int i;

	for (i = 0; i < nr_ops; i++)
		if (committed && ops[i].made && ops[i].made == ops[i].slot->cur)
			ops[i].made = NULL;
	for (i = 0; committed && i < nr_slots; i++)
		if (slots[i].cur != slots[i].orig)
			lmd_blob_free(slots[i].orig, m);
}

/* Copies an op's results out: the old value, then the struct. */
static int lmd_op_write(struct lmd_op *o, void __user *uop, u32 usize)
{
	struct lockmap_ioc_op *u = &o->u;
	size_t n = min_t(u64, u->out_len, o->out_cap);

	if (n && copy_to_user(u64_to_user_ptr(u->out), o->out, n))
		return -EFAULT;
	return lmd_copy_out(uop, usize, u, sizeof(*u));
}

static enum lockmap_wait lmd_wait(bool nowait)
{
	return nowait ? LOCKMAP_NOWAIT : LOCKMAP_WAIT_INTERRUPTIBLE;
}

/* A read's copy (maybe under RCU only): the op applied to the value. */
struct lmd_read {
	const struct lmd_map *m;
	struct lmd_op *o;
};

static int lmd_read_copy(const void *value, void *arg)
{
	struct lmd_read *r = arg;

	/* A read op only reads the blob, and published blobs never change. */
	r->o->slot->cur = (struct lockmap_blob *)value;
	return lmd_op_apply(r->m, r->o);
}

/*
 * A single GET, PEEK or CONTAINS, through the core's read: it never counts
 * as a holder that may change the value, so in an rcu_get map it locks the
 * key only while such a holder has it, and readers do not queue behind
 * each other.
 */
static int lmd_read(const struct lmd_map *m, struct lmd_op *o,
		    enum lockmap_wait wait)
{
	struct lmd_read r = { .m = m, .o = o };
	int err;

	err = lockmap_read(m->map, o->key, o->u.key_len, lmd_read_copy, &r,
			   o->u.op == LOCKMAP_OP_GET, wait);
	if (err != -ENOENT)
		return err;
	/* No value: what that means is the op's to say. */
	o->slot->cur = NULL;
	return lmd_op_apply(m, o);
}

static bool lmd_op_reads(u32 op)
{
	return op == LOCKMAP_OP_GET || op == LOCKMAP_OP_PEEK ||
	       op == LOCKMAP_OP_CONTAINS;
}

/* LOCKMAP_IOC_OP: one op, one key, locked alone. */
static int lmd_ioctl_op(struct lmd_file *f, void __user *arg)
{
	struct lmd_op o = {};
	struct lmd_slot s = {};
	struct lockmap_entry *e;
	struct lmd_map *m;
	enum lockmap_wait wait;
	u32 usize;
	int err;

	err = lmd_copy_in(&o.u, sizeof(o.u), arg, LOCKMAP_IOC_OP_SIZE_VER0,
			  &usize);
	if (err)
		return err;
	m = lmd_file_map(f, o.u.map_id);
	if (!m)
		return -ENOENT;
	err = lmd_op_prepare(m, &o, false);
	if (err)
		goto out;

	s.key = o.key;
	s.len = o.u.key_len;
	o.slot = &s;
	wait = lmd_wait(o.u.flags & LOCKMAP_OPF_NOWAIT);
	if (lmd_op_reads(o.u.op)) {
		err = lmd_read(m, &o, wait);
		goto write;
	}
	if (lmd_op_creates(o.u.op)) {
		e = lockmap_entry_lock(m->map, s.key, s.len, wait);
	} else {
		/* Changing an existing value: no entry to create. */
		e = lockmap_take_existing(m->map, s.key, s.len, wait);
		if (e == ERR_PTR(-ENOENT))
			e = NULL;
		else if (!IS_ERR(e) && lockmap_is_lru(m->map) &&
			 o.u.op == LOCKMAP_OP_CAS)
			lockmap_lru_touch(m->map, e);
	}
	if (IS_ERR(e)) {
		err = PTR_ERR(e);
		goto out;
	}
	s.e = e;
	s.orig = e ? lockmap_entry_value(e) : NULL;
	s.cur = s.orig;
	err = lmd_op_apply(m, &o);
	if (!err)
		lmd_commit(m->map, &s, 1);
	if (e)
		lockmap_entry_unlock(m->map, e);
	lmd_release(m, &s, 1, &o, 1, !err);
write:
	if (!err)
		err = lmd_op_write(&o, arg, usize);
out:
	lmd_op_free(&o);
	lmd_map_put(m);
	return err;
}

/* Sleeps @usec holding the batch's keys; a signal ends it with -EINTR. */
static int lmd_hold(u64 usec)
{
	ktime_t end = ktime_add_us(ktime_get(), usec);

	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (signal_pending(current)) {
			__set_current_state(TASK_RUNNING);
			return -EINTR;
		}
		if (!schedule_hrtimeout_range(&end, 10 * NSEC_PER_USEC,
					      HRTIMER_MODE_ABS))
			return 0;
	}
}

/* Adds a key to the batch's distinct keys; -E2BIG past @max. */
static struct lmd_slot *lmd_slot_add(struct lmd_slot *slots, unsigned int *nr,
				     unsigned int max, const void *key, u32 len)
{
	unsigned int i;

	for (i = 0; i < *nr; i++)
		if (slots[i].len == len && !memcmp(slots[i].key, key, len))
			return &slots[i];
	if (*nr == max)
		return ERR_PTR(-E2BIG);
	slots[*nr].key = key;
	slots[*nr].len = len;
	return &slots[(*nr)++];
}

struct lmd_batch_req {
	struct lockmap_ioc_batch b;
	struct lmd_op *ops;
	void **keys;			/* the extra keys' bytes */
	struct lmd_slot *slots;
	struct lockmap_key *lk;
	unsigned int nr_slots;
	u32 failed;
};

/* The errors &lockmap_ioc_batch.failed_index blames on an operation. */
static bool lmd_op_error(int err)
{
	return err == -ENOENT || err == -EEXIST || err == -ECANCELED ||
	       err == -EINVAL || err == -E2BIG;
}

static int lmd_batch_check(const struct lockmap_ioc_batch *b)
{
	if ((b->flags & ~LOCKMAP_BATCH_FLAGS_ALL) || b->reserved0 ||
	    !lmd_zero(b->reserved, sizeof(b->reserved)))
		return -EINVAL;
	if (!b->nr_keys && !b->nr_ops)
		return -EINVAL;
	if ((!b->nr_keys && b->keys) || (!b->nr_ops && (b->ops || b->op_size)))
		return -EINVAL;
	if (b->nr_ops && b->op_size < LOCKMAP_IOC_OP_SIZE_VER0)
		return -EINVAL;
	if (b->op_size > LOCKMAP_STRUCT_SIZE_MAX ||
	    b->nr_keys > LMD_LIMIT(max_batch_keys, LOCKMAP_BATCH_MAX) ||
	    b->nr_ops > LMD_LIMIT(max_batch_ops, LMD_BATCH_OPS_LIMIT) ||
	    b->hold_usec > READ_ONCE(max_hold_usec))
		return -E2BIG;
	return 0;
}

/* Copies in and validates the keys and ops, and gathers distinct keys. */
static int lmd_batch_prepare(const struct lmd_map *m, struct lmd_batch_req *r)
{
	const struct lockmap_ioc_batch *b = &r->b;
	unsigned int max = LMD_LIMIT(max_batch_keys, LOCKMAP_BATCH_MAX);
	struct lockmap_ioc_key __user *ukeys = u64_to_user_ptr(b->keys);
	const char __user *uops = u64_to_user_ptr(b->ops);
	struct lmd_slot *s;
	unsigned int i;
	int err;

	r->ops = kvcalloc(b->nr_ops, sizeof(*r->ops), GFP_KERNEL_ACCOUNT);
	r->keys = kvcalloc(b->nr_keys, sizeof(*r->keys), GFP_KERNEL_ACCOUNT);
	r->slots = kvcalloc(b->nr_keys + b->nr_ops, sizeof(*r->slots),
			    GFP_KERNEL_ACCOUNT);
	if (!r->ops || !r->keys || !r->slots)
		return -ENOMEM;

	for (i = 0; i < b->nr_keys; i++) {
		struct lockmap_ioc_key k;
		void *p;

		if (copy_from_user(&k, &ukeys[i], sizeof(k)))
			return -EFAULT;
		err = lmd_key_check(m, k.len);
		if (err)
			return err;
		p = lmd_copy_bytes(k.key, k.len);
		if (IS_ERR(p))
			return PTR_ERR(p);
		r->keys[i] = p;
		s = lmd_slot_add(r->slots, &r->nr_slots, max, p, k.len);
		if (IS_ERR(s))
			return PTR_ERR(s);
	}
	for (i = 0; i < b->nr_ops; i++) {
		struct lmd_op *o = &r->ops[i];

		r->failed = i;
		err = copy_struct_from_user(&o->u, sizeof(o->u),
					    uops + (size_t)i * b->op_size,
					    b->op_size);
		if (err)
			return err;
		if (o->u.size != b->op_size ||
		    (o->u.map_id && o->u.map_id != b->map_id))
			return -EINVAL;
		err = lmd_op_prepare(m, o, true);
		if (err)
			return err;
		r->failed = U32_MAX;
		s = lmd_slot_add(r->slots, &r->nr_slots, max, o->key,
				 o->u.key_len);
		if (IS_ERR(s))
			return PTR_ERR(s);
		o->slot = s;
	}

	r->lk = kvcalloc(r->nr_slots, sizeof(*r->lk), GFP_KERNEL_ACCOUNT);
	if (!r->lk)
		return -ENOMEM;
	for (i = 0; i < r->nr_slots; i++) {
		r->lk[i].key = r->slots[i].key;
		r->lk[i].len = r->slots[i].len;
	}
	return 0;
}

/* Locks, holds, applies all or nothing, unlocks. */
static int lmd_batch_run(struct lmd_map *m, struct lmd_batch_req *r)
{
	struct lockmap_batch *lb;
	unsigned int i;
	int err = 0;

	lb = lockmap_batch_lock(m->map, r->lk, r->nr_slots,
				lmd_wait(r->b.flags & LOCKMAP_BATCH_NOWAIT));
	if (IS_ERR(lb))
		return PTR_ERR(lb);
	for (i = 0; i < r->nr_slots; i++) {
		struct lmd_slot *s = &r->slots[i];

		s->e = lockmap_batch_find(lb, s->key, s->len);
		s->orig = s->e ? lockmap_entry_value(s->e) : NULL;
		s->cur = s->orig;
	}
	if (r->b.hold_usec)
		err = lmd_hold(r->b.hold_usec);
	for (i = 0; !err && i < r->b.nr_ops; i++) {
		err = lmd_op_apply(m, &r->ops[i]);
		if (err)
			r->failed = i;
	}
	if (!err)
		lmd_commit(m->map, r->slots, r->nr_slots);
	lockmap_batch_unlock(m->map, lb);
	lmd_release(m, r->slots, r->nr_slots, r->ops, r->b.nr_ops, !err);
	return err;
}

static int lmd_ioctl_batch(struct lmd_file *f, void __user *arg)
{
	struct lockmap_ioc_batch __user *ub = arg;
	struct lmd_batch_req r = { .failed = U32_MAX };
	const char __user *uops;
	struct lmd_map *m;
	unsigned int i;
	u32 usize;
	int err;

	err = lmd_copy_in(&r.b, sizeof(r.b), arg,
			  LOCKMAP_IOC_BATCH_SIZE_VER0, &usize);
	if (err)
		return err;
	err = lmd_batch_check(&r.b);
	if (err)
		goto out_index;
	m = lmd_file_map(f, r.b.map_id);
	if (!m) {
		err = -ENOENT;
		goto out_index;
	}
	err = lmd_batch_prepare(m, &r);
	if (!err)
		err = lmd_batch_run(m, &r);
	uops = u64_to_user_ptr(r.b.ops);
	for (i = 0; !err && i < r.b.nr_ops; i++)
		err = lmd_op_write(&r.ops[i], (void __user *)uops +
				   (size_t)i * r.b.op_size, r.b.op_size);

	for (i = 0; r.ops && i < r.b.nr_ops; i++)
		lmd_op_free(&r.ops[i]);
	for (i = 0; r.keys && i < r.b.nr_keys; i++)
		kvfree(r.keys[i]);
	kvfree(r.ops);
	kvfree(r.keys);
	kvfree(r.slots);
	kvfree(r.lk);
	lmd_map_put(m);
out_index:
	/* An operation is named only for the errors that are its own. */
	if (!lmd_op_error(err))
		r.failed = U32_MAX;
	if (put_user(r.failed, &ub->failed_index) && !err)
		err = -EFAULT;
	return err;
}

/* LOCKMAP_IOC_CLEAR */

struct lmd_clear {
	struct lmd_map *m;
	u64 removed;
};

static int lmd_clear_one(struct lockmap *map, struct lockmap_entry *e,
			 void *arg)
{
	struct lmd_clear *c = arg;
	void *v = lockmap_entry_remove(map, e);

	if (v) {
		lmd_blob_free(v, c->m);
		c->removed++;
	}
	return 0;
}

/*
 * Removes every value, each key locked while its value goes: one walk of
 * the map, so keys inserted meanwhile may stay.
 */
static int lmd_clear(struct lmd_map *m, u64 *removed)
{
	struct lmd_clear c = { .m = m };
	int err;

	err = lockmap_walk(m->map, lmd_clear_one, &c,
			   LOCKMAP_WAIT_INTERRUPTIBLE);
	*removed = c.removed;
	return err;
}

/* LOCKMAP_IOC_ITER */

/*
 * The cursor: the position (bits 0-31) and shard (32-41) to go on from and,
 * among the keys of that position (one hash), the tie-breaker (42-63) of the
 * first one still to come, so that a call can stop inside such a group.
 */
#define LMD_CURSOR_SHARD_SHIFT	32
#define LMD_CURSOR_TIE_SHIFT	42
#define LMD_TIE_BITS		21
static_assert(LMD_MAX_SHARDS <= 1 << (LMD_CURSOR_TIE_SHIFT -
				      LMD_CURSOR_SHARD_SHIFT));
/* A tie-breaker field above every tie: LOCKMAP_ITER_END is no cursor. */
static_assert(LMD_TIE_BITS < 64 - LMD_CURSOR_TIE_SHIFT);

/* A chunk's key, copied: its pin is gone before the key is locked. */
struct lmd_ckey {
	u32 pos;
	u32 tie;
	u32 len;
	u8 *key;
};

struct lmd_iter {
	struct lockmap_ioc_iter it;
	struct lockmap_walk w;
	struct lmd_ckey *k;		/* the chunk's keys */
	u8 *pool;			/* their bytes, max_key_len each */
	void *value;			/* bounce buffer for one value */
	char __user *buf;
	u64 pos;
	u32 from_pos;			/* the cursor's group, where the call */
	u32 from_tie;			/* starts in it: see lmd_iter_emit() */
};

/*
 * Orders the keys of one position by a second hash of their bytes, an order
 * that does not change as keys come and go, unlike the walk's (addresses).
 */
static u32 lmd_iter_tie(const struct lmd_map *m, const struct lmd_ckey *k)
{
	return jhash(k->key, k->len, m->tie_seed) >> (32 - LMD_TIE_BITS);
}

/* By position, then tie-breaker: linear, as the chunk is in position order. */
static void lmd_iter_sort(struct lmd_ckey *k, unsigned int nr)
{
	unsigned int i, j;

	for (i = 1; i < nr; i++) {
		struct lmd_ckey t = k[i];

		for (j = i; j && k[j - 1].pos == t.pos && k[j - 1].tie > t.tie;
		     j--)
			k[j] = k[j - 1];
		k[j] = t;
	}
}

/* Copies one record out; -EMSGSIZE if it does not fit. */
static int lmd_iter_put(struct lmd_iter *x, const struct lmd_ckey *k,
			size_t value_len)
{
	static const u8 zeros[8];
	struct lockmap_ioc_record rec = {
		.key_len = k->len,
		.value_len = value_len,
	};
	u64 len = sizeof(rec) + k->len + value_len;
	u64 pad = round_up(len, 8) - len;
	char __user *p = x->buf + x->pos;

	if (x->it.buf_size - x->pos < len + pad)
		return -EMSGSIZE;
	if (copy_to_user(p, &rec, sizeof(rec)) ||
	    copy_to_user(p + sizeof(rec), k->key, k->len) ||
	    copy_to_user(p + sizeof(rec) + k->len, x->value, value_len) ||
	    copy_to_user(p + len, zeros, pad))
		return -EFAULT;
	x->pos += len + pad;
	x->it.nr_records++;
	return 0;
}

/*
 * Takes the next chunk's keys: whole groups of one position (one hash)
 * only, which are then put in tie-breaker order; a group that goes on past
 * the chunk is given back.  Returns how many.
 */
static unsigned int lmd_iter_collect(struct lmd_map *m, struct lmd_iter *x)
{
	struct lockmap_walk *w = &x->w;
	unsigned int i;

	lockmap_walk_collect(m->map, w);
	if (w->cut != U64_MAX) {
		i = w->nr;
		while (i && lockmap_walk_pos(w->e[i - 1]) >= w->cut)
			i--;
		lockmap_walk_put(m->map, w, i);
		w->pos = w->cut;
		w->after = NULL;
	}
	for (i = 0; i < w->nr; i++) {
		struct lmd_ckey *k = &x->k[i];
		size_t len;
		/* A pin keeps the key bytes: only a dead entry's change. */
		const void *key = lockmap_entry_key(m->map, w->e[i], &len);

		k->pos = lockmap_walk_pos(w->e[i]);
		k->len = len;
		k->key = x->pool + i * m->max_key_len;
		memcpy(k->key, key, len);
		k->tie = lmd_iter_tie(m, k);
	}
	i = w->nr;
	lockmap_walk_put(m->map, w, 0);
	lmd_iter_sort(x->k, i);
	return i;
}

/*
 * Emits the keys collected that still have a value, those of one position
 * and tie-breaker together or not at all: on error they are taken back and
 * *@stop, *@stop_tie say where they are, so that everything before is done.
 * The first chunk of a call skips what an earlier call returned of the
 * cursor's group.  -EOVERFLOW if keys that must go together do not fit.
 */
static int lmd_iter_emit(struct lmd_map *m, struct lmd_iter *x,
			 unsigned int nr, u32 *stop, u32 *stop_tie)
{
	unsigned int i = 0, j;
	int err = 0;

	while (i < nr && x->k[i].pos == x->from_pos &&
	       x->k[i].tie < x->from_tie)
		i++;
	x->from_tie = 0;
	while (i < nr) {
		u64 at = x->pos;
		u32 records = x->it.nr_records;

		for (j = i; j < nr && x->k[j].pos == x->k[i].pos &&
		     x->k[j].tie == x->k[i].tie; j++) {
			struct lockmap_entry *e;
			struct lockmap_blob *v;
			size_t len;

			e = lockmap_take_existing(m->map, x->k[j].key,
						  x->k[j].len,
						  LOCKMAP_WAIT_INTERRUPTIBLE);
			if (e == ERR_PTR(-ENOENT))
				continue;
			if (IS_ERR(e)) {
				err = PTR_ERR(e);
				break;
			}
			/* Copy under the key lock, out to the user after. */
			v = lockmap_entry_value(e);
			len = v->len;
			memcpy(x->value, v->data, len);
			lockmap_entry_unlock(m->map, e);
			err = lmd_iter_put(x, &x->k[j], len);
			if (err)
				break;
		}
		if (err) {
			if (err == -EMSGSIZE && x->it.nr_records > records)
				err = -EOVERFLOW;
			x->pos = at;
			x->it.nr_records = records;
			*stop = x->k[i].pos;
			*stop_tie = x->k[i].tie;
			return err;
		}
		i = j;
	}
	return 0;
}

/* The cursor is a shard, a position in it and a tie-breaker (see above). */
static int lmd_iter(struct lmd_map *m, struct lmd_iter *x)
{
	struct lockmap *map = m->map;
	struct lockmap_walk *w = &x->w;
	unsigned int max = x->it.max_records;
	u32 tie = x->it.cursor >> LMD_CURSOR_TIE_SHIFT;
	int err = 0;

	if (x->it.cursor == LOCKMAP_ITER_END)
		return 0;
	w->shard = (x->it.cursor >> LMD_CURSOR_SHARD_SHIFT) &
		   (BIT(LMD_CURSOR_TIE_SHIFT - LMD_CURSOR_SHARD_SHIFT) - 1);
	w->pos = (u32)x->it.cursor;
	if (w->shard > map->shard_mask || tie >= BIT(LMD_TIE_BITS))
		return -EINVAL;
	x->from_pos = w->pos;
	x->from_tie = tie;
	tie = 0;
	x->value = lmd_alloc(max_t(u32, m->max_value_len, 1));
	w->e = kvcalloc(max, sizeof(*w->e), GFP_KERNEL_ACCOUNT);
	x->k = kvcalloc(max, sizeof(*x->k), GFP_KERNEL_ACCOUNT);
	x->pool = kvmalloc_array(max, m->max_key_len, GFP_KERNEL_ACCOUNT);
	if (!x->value || !w->e || !x->k || !x->pool) {
		err = -ENOMEM;
		goto out;
	}
	while (w->shard <= map->shard_mask && x->it.nr_records < max) {
		u32 shard = w->shard, from = w->pos, stop;
		unsigned int nr;

		if (signal_pending(current)) {
			err = -EINTR;
			break;
		}
		w->max = max - x->it.nr_records;
		nr = lmd_iter_collect(m, x);
		if (w->shard == shard && w->pos == from) {
			/* more keys share one hash than records are left */
			err = -EOVERFLOW;
			break;
		}
		err = lmd_iter_emit(m, x, nr, &stop, &tie);
		if (err) {
			w->shard = shard;
			w->pos = stop;
			w->after = NULL;
			break;
		}
		cond_resched();
	}
	/*
	 * Records already copied out are returned, with the cursor after
	 * them, unless the user buffer faulted.
	 */
	if (x->it.nr_records && err != -EFAULT)
		err = 0;
	x->it.cursor = w->shard > map->shard_mask ? LOCKMAP_ITER_END :
		       (u64)tie << LMD_CURSOR_TIE_SHIFT |
		       (u64)w->shard << LMD_CURSOR_SHARD_SHIFT | w->pos;
out:
	kvfree(x->value);
	kvfree(w->e);
	kvfree(x->k);
	kvfree(x->pool);
	return err;
}

static int lmd_ioctl_iter(struct lmd_file *f, void __user *arg)
{
	struct lmd_iter x = {};
	struct lmd_map *m;
	u32 usize;
	int err;

	err = lmd_copy_in(&x.it, sizeof(x.it), arg, LOCKMAP_IOC_ITER_SIZE_VER0,
			  &usize);
	if (err)
		return err;
	if (x.it.flags || x.it.reserved0 ||
	    !lmd_zero(x.it.reserved, sizeof(x.it.reserved)) ||
	    !x.it.max_records)
		return -EINVAL;
	if (x.it.max_records > LOCKMAP_ITER_MAX_RECORDS)
		return -E2BIG;
	m = lmd_file_map(f, x.it.map_id);
	if (!m)
		return -ENOENT;
	x.buf = u64_to_user_ptr(x.it.buf);
	x.it.nr_records = 0;
	err = lmd_iter(m, &x);
	lmd_map_put(m);
	if (err)
		return err;
	x.it.buf_len = x.pos;
	return lmd_copy_out(arg, usize, &x.it, sizeof(x.it));
}

/* LOCKMAP_IOC_POP_LRU */

static int lmd_ioctl_pop(struct lmd_file *f, void __user *arg)
{
	struct lockmap_ioc_pop p;
	struct lockmap_blob *v = NULL;
	struct lmd_map *m;
	size_t klen;
	void *key;
	u32 usize;
	int err;

	err = lmd_copy_in(&p, sizeof(p), arg, LOCKMAP_IOC_POP_SIZE_VER0,
			  &usize);
	if (err)
		return err;
	if (p.flags || !lmd_zero(p.reserved, sizeof(p.reserved)) ||
	    (!p.key && p.key_size) || (!p.value && p.value_size))
		return -EINVAL;
	m = lmd_file_map(f, p.map_id);
	if (!m)
		return -ENOENT;
	err = -EINVAL;
	if (!lockmap_is_lru(m->map))
		goto out;
	klen = m->max_key_len;
	key = kmalloc(klen, GFP_KERNEL_ACCOUNT);
	err = -ENOMEM;
	if (!key)
		goto out;
	err = lockmap_pop_lru(m->map, key, &klen, (void **)&v);
	if (err)
		goto out_key;
	p.out_flags = LOCKMAP_OUT_FOUND;
	if (klen > p.key_size || v->len > p.value_size)
		p.out_flags |= LOCKMAP_OUT_TRUNCATED;
	p.key_len = klen;
	p.value_len = v->len;
	err = -EFAULT;
	if (copy_to_user(u64_to_user_ptr(p.key), key, min_t(u64, klen, p.key_size)) ||
	    copy_to_user(u64_to_user_ptr(p.value), v->data,
			 min_t(u64, v->len, p.value_size)))
		goto out_value;
	err = lmd_copy_out(arg, usize, &p, sizeof(p));
out_value:
	lmd_blob_free(v, m);
out_key:
	kfree(key);
out:
	lmd_map_put(m);
	return err;
}

/* LOCKMAP_IOC_LEN, LOCKMAP_IOC_CLEAR, LOCKMAP_IOC_SET_CAPACITY */

static int lmd_ioctl_map(struct lmd_file *f, unsigned int nr, void __user *arg)
{
	struct lockmap_ioc_map ma;
	struct lmd_map *m;
	u32 usize;
	int err;

	err = lmd_map_arg(&ma, arg, &usize);
	if (err)
		return err;
	if (nr != _IOC_NR(LOCKMAP_IOC_SET_CAPACITY))
		ma.value = 0;
	m = lmd_file_map(f, ma.map_id);
	if (!m)
		return -ENOENT;
	switch (nr) {
	case _IOC_NR(LOCKMAP_IOC_LEN):
		ma.value = lockmap_len(m->map);
		break;
	case _IOC_NR(LOCKMAP_IOC_CLEAR):
		err = lmd_clear(m, &ma.value);
		break;
	case _IOC_NR(LOCKMAP_IOC_SET_CAPACITY):
		if (!lockmap_is_lru(m->map) || !ma.value)
			err = -EINVAL;
		else if (ma.value > m->max_entries)
			err = -E2BIG;
		else
			err = lockmap_set_capacity(m->map, ma.value);
		break;
	}
	lmd_map_put(m);
	/* SET_CAPACITY has nothing to write back, so nothing to fault on. */
	if (err || nr == _IOC_NR(LOCKMAP_IOC_SET_CAPACITY))
		return err;
	return lmd_copy_out(arg, usize, &ma, sizeof(ma));
}

static long lmd_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct lmd_file *f = file->private_data;
	void __user *uarg = (void __user *)arg;

	/* The size bits are not checked: the struct's @size field is. */
	if (_IOC_TYPE(cmd) != LOCKMAP_IOC_MAGIC ||
	    _IOC_DIR(cmd) != (_IOC_READ | _IOC_WRITE))
		return -ENOTTY;
	switch (_IOC_NR(cmd)) {
	case _IOC_NR(LOCKMAP_IOC_CREATE):
		return lmd_ioctl_create(f, uarg);
	case _IOC_NR(LOCKMAP_IOC_ATTACH):
		return lmd_ioctl_attach(f, uarg);
	case _IOC_NR(LOCKMAP_IOC_DETACH):
		return lmd_ioctl_detach(f, uarg);
	case _IOC_NR(LOCKMAP_IOC_LIST):
		return lmd_ioctl_list(uarg);
	case _IOC_NR(LOCKMAP_IOC_STATS):
		return lmd_ioctl_stats(uarg);
	case _IOC_NR(LOCKMAP_IOC_LEN):
	case _IOC_NR(LOCKMAP_IOC_CLEAR):
	case _IOC_NR(LOCKMAP_IOC_SET_CAPACITY):
		return lmd_ioctl_map(f, _IOC_NR(cmd), uarg);
	case _IOC_NR(LOCKMAP_IOC_OP):
		return lmd_ioctl_op(f, uarg);
	case _IOC_NR(LOCKMAP_IOC_BATCH):
		return lmd_ioctl_batch(f, uarg);
	case _IOC_NR(LOCKMAP_IOC_ITER):
		return lmd_ioctl_iter(f, uarg);
	case _IOC_NR(LOCKMAP_IOC_POP_LRU):
		return lmd_ioctl_pop(f, uarg);
	}
	return -ENOTTY;
}

static int lmd_open(struct inode *inode, struct file *file)
{
	struct lmd_file *f;

	f = kzalloc(sizeof(*f), GFP_KERNEL_ACCOUNT);
	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	xa_init(&f->maps);
	file->private_data = f;
	return stream_open(inode, file);
}

/* The last reference to the file: no ioctl of it runs any more. */
static int lmd_release_file(struct inode *inode, struct file *file)
{
	struct lmd_file *f = file->private_data;
	struct lmd_map *m;
	unsigned long id;

	xa_for_each(&f->maps, id, m) {
		xa_erase(&f->maps, id);
		lmd_map_unfile(m);
		lmd_map_put(m);
	}
	xa_destroy(&f->maps);
	mutex_destroy(&f->lock);
	kfree(f);
	return 0;
}

/*
 * The structs have one layout for 32- and 64-bit callers and carry user
 * pointers as __u64 (u64_to_user_ptr()), so 32-bit callers only need their
 * argument pointer converted, which is what compat_ptr_ioctl() does.
 */
static const struct file_operations lmd_fops = {
	.owner = THIS_MODULE,
	.open = lmd_open,
	.release = lmd_release_file,
	.unlocked_ioctl = lmd_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/*
 * The device node.  A misc device cannot choose the group of its node, so
 * this is a char device of its own class, whose device type tells devtmpfs
 * the mode and group.
 */
#ifdef LOCKMAP_HAVE_CONST_DEVNODE
static char *lmd_devnode(const struct device *dev, umode_t *mode, kuid_t *uid,
			 kgid_t *gid)
#else
static char *lmd_devnode(struct device *dev, umode_t *mode, kuid_t *uid,
			 kgid_t *gid)
#endif
{
	if (mode)
		*mode = dev_mode & 0777;
	if (gid && gid_valid(make_kgid(&init_user_ns, dev_gid)))
		*gid = make_kgid(&init_user_ns, dev_gid);
	return NULL;
}

static const struct device_type lmd_dev_type = {
	.name = "lockmap",
	.devnode = lmd_devnode,
};

static struct class lmd_class = {
	.name = "lockmap",
};

static dev_t lmd_devt;
static struct cdev lmd_cdev;
static struct device *lmd_device;
static struct dentry *lmd_debugfs;

static void lmd_device_release(struct device *dev)
{
	kfree(dev);
}

/*
 * The live maps, one per line.  The last column is the map's hash seed, so
 * that a test can make keys that share a hash (root only, like the file).
 */
static int lmd_maps_show(struct seq_file *sf, void *unused)
{
	struct lockmap_stats ks;
	struct lmd_map *m;
	unsigned long id;

	seq_puts(sf, "id\tname\tflags\tlen\tslots\tcapacity\tevictions\tfiles\tseed\n");
	mutex_lock(&lmd_lock);
	xa_for_each(&lmd_maps, id, m) {
		if (m->state != LMD_LIVE)
			continue;
		lockmap_get_stats(m->map, &ks);
		seq_printf(sf, "%u\t%s\t%#x\t%zu\t%zu\t%zu\t%llu\t%d\t%*phN\n",
			   m->id, m->name[0] ? m->name : "-", m->flags, ks.len,
			   ks.slots, ks.capacity, ks.evictions,
			   atomic_read(&m->nr_files),
			   (int)sizeof(m->map->seed), &m->map->seed);
	}
	mutex_unlock(&lmd_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(lmd_maps);

static void lmd_debugfs_init(void)
{
	lmd_debugfs = debugfs_create_dir("lockmap", NULL);
	debugfs_create_file("maps", 0400, lmd_debugfs, NULL, &lmd_maps_fops);
#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
	fault_create_debugfs_attr("fail_alloc", lmd_debugfs,
				  &lockmap_fail_alloc);
#endif
}

int lockmap_dev_init(void)
{
	int err;

	err = alloc_chrdev_region(&lmd_devt, 0, 1, "lockmap");
	if (err)
		return err;
	err = class_register(&lmd_class);
	if (err)
		goto err_region;
	lmd_device = kzalloc(sizeof(*lmd_device), GFP_KERNEL);
	if (!lmd_device) {
		err = -ENOMEM;
		goto err_class;
	}
	device_initialize(lmd_device);
	lmd_device->devt = lmd_devt;
	lmd_device->class = &lmd_class;
	lmd_device->type = &lmd_dev_type;
	lmd_device->release = lmd_device_release;
	err = dev_set_name(lmd_device, "lockmap");
	if (err)
		goto err_device;
	cdev_init(&lmd_cdev, &lmd_fops);
	lmd_cdev.owner = THIS_MODULE;
	err = cdev_device_add(&lmd_cdev, lmd_device);
	if (err)
		goto err_device;
	lmd_debugfs_init();
	return 0;

err_device:
	put_device(lmd_device);
err_class:
	class_unregister(&lmd_class);
err_region:
	unregister_chrdev_region(lmd_devt, 1);
	return err;
}

void lockmap_dev_exit(void)
{
	debugfs_remove_recursive(lmd_debugfs);
	cdev_device_del(&lmd_cdev, lmd_device);
	put_device(lmd_device);
	class_unregister(&lmd_class);
	unregister_chrdev_region(lmd_devt, 1);
	/* Open files pin the module, so no map can be left. */
	WARN_ON(!xa_empty(&lmd_maps));
}
