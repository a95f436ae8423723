// SPDX-License-Identifier: GPL-2.0
/*
 * lockmapctl: a command line over the /dev/lockmap ioctls.
 *
 * One process is one session: one open file of the device, to which the
 * maps it creates or attaches stay attached until it exits.  A map lives
 * while some open file has it attached, so several commands that must see
 * the same map run in one process: give them with -c, or one per line on
 * stdin with "shell", or keep a map alive with "wait" in the background and
 * attach to it by name from other invocations.  See --help.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/lockmap.h>

#define MAX_ARGS	256
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MAX_VALUE	(LOCKMAP_VALUE_LEN_LIMIT + 1)

static const char *device = "/dev/lockmap";
static int dev_fd = -1;
static __u32 cur_map;		/* the map commands act on */
static int json;
static int hex;			/* keys and values in hex */
static int failures;

static const char usage[] =
"Usage: lockmapctl [OPTIONS] COMMAND [ARGS...]\n"
"       lockmapctl [OPTIONS] -c 'COMMAND ARGS' [-c 'COMMAND ARGS'...]\n"
"       lockmapctl [OPTIONS] shell < commands\n"
"\n"
"A command line over /dev/lockmap (root only by default).  One process is one\n"
"session: one open file of the device.  A map lives only while some open file\n"
"has it attached, so a map made by a one-shot \"lockmapctl create\" is gone\n"
"when that command exits.  To use a map across several commands, run them in\n"
"one session (-c ... -c ..., or \"shell\" reading one command per line from\n"
"stdin; '#' starts a comment), or keep it alive in the background and attach\n"
"to it by name:\n"
"    lockmapctl -c 'create --name jobs' -c wait &\n"
"    lockmapctl -m jobs put a 1; lockmapctl -m jobs get a\n"
"\n"
"Options:\n"
"  -m, --map ID|NAME     the map to act on (attached on first use); default:\n"
"                        the last map created, attached or used in the session\n"
"  -c, --command CMD     run CMD (a command with its arguments, shell-quoted);\n"
"                        repeatable, all in one session\n"
"  -j, --json            JSON output, one object (or array) per command\n"
"  -x, --hex             keys and values are given and printed in hex\n"
"  -d, --device PATH     the device (default /dev/lockmap)\n"
"  -h, --help            this help\n"
"\n"
"Maps:\n"
"  create [--name NAME] [--lru --capacity N] [--rt] [--shrinker] [--rcu-get]\n"
"         [--key-len N] [--max-key-len N] [--max-value-len N] [--max-entries N]\n"
"         [--shards N] [--max-evict N]\n"
"                        create a map (LRU cache with --lru), attach it, use it\n"
"  attach ID|NAME        attach a map another session made, and use it\n"
"  use ID|NAME           act on this map from now on (attaching if needed)\n"
"  detach [ID|NAME]      detach a map (it dies with its last file)\n"
"  ls                    list every live map: id, name, kind, length, files\n"
"  stats [ID|NAME]       a map's counters and limits\n"
"  len                   number of keys with a value\n"
"  clear                 remove every value; prints how many\n"
"  dump [--max N]        print every key and value (LOCKMAP_IOC_ITER)\n"
"Keys (in the current map):\n"
"  put [--u64] [--nx] KEY VALUE\n"
"                        set KEY (--nx: only if it has no value: EEXIST);\n"
"                        --u64: VALUE is a number stored as an 8-byte counter\n"
"  get [--u64] KEY       print the value (--u64: as a counter)\n"
"  peek [--u64] KEY      the same without refreshing it in an LRU cache\n"
"  del KEY               remove the value\n"
"  has KEY               print 1 if KEY has a value, else 0\n"
"  cas KEY EXPECTED NEW  set KEY to NEW if its value is EXPECTED (ECANCELED if\n"
"                        not); --u64 for counters\n"
"  add KEY N             add N (may be negative) to the 8-byte counter KEY\n"
"                        (absent counts as 0); prints the new value\n"
"  append KEY BYTES      append to KEY's value; prints the new length\n"
"  hold [--ms N|--us N] [--nowait] KEY... [-- OP ARGS]\n"
"                        lock the keys, sleep holding them, then apply OP (any\n"
"                        batch operation) and unlock: one ioctl\n"
"  batch [--nowait] [--hold-ms N] OP ARGS [, OP ARGS]...\n"
"                        lock every key of the operations together, apply them\n"
"                        in order, all or nothing; OP is put, putnx, get, peek,\n"
"                        del, has, cas, add or append, with their arguments\n"
"LRU caches:\n"
"  pop                   remove and print the least recently used key and value\n"
"  capacity N            change the capacity (shrinks at later insertions)\n"
"Other:\n"
"  bench [--threads N] [--ops N] [--keys N] [--value-size N] [--mix G:P:A]\n"
"                        time N threads doing get/put/add in the ratio G:P:A\n"
"                        (default 8:1:1) over --keys keys; prints ops/s\n"
"  sleep SECONDS         pause (keeps the session's maps alive)\n"
"  wait                  sleep until SIGINT or SIGTERM (a map keeper)\n"
"  shell                 read commands from stdin, one per line\n"
"  help                  this help\n"
"\n"
"Errors name the errno, e.g. \"get k: No such file or directory (ENOENT): no\n"
"value, or no such map\"; the exit status is 1 if any command failed.\n";

/* Output helpers */

static const char *errno_hint(int e)
{
	switch (e) {
	case ENOENT: return "no value, or no such map";
	case EEXIST: return "already exists";
	case ECANCELED: return "the value differs from the expected one";
	case EBUSY: return "the key is held";
	case ENOSPC: return "a limit is reached (entries per map, maps)";
	case E2BIG: return "over a limit (key, value, batch, hold)";
	case EINVAL: return "invalid request";
	case EINTR: return "interrupted by a signal";
	case EMSGSIZE: return "buffer too small";
	case ENOTTY: return "not a lockmap device";
	case EACCES:
	case EPERM: return "root only (see the dev_mode module parameter)";
	case ENOMEM: return "out of memory";
	default: return NULL;
	}
}

static void fail(int e, const char *fmt, ...)
{
	const char *hint = errno_hint(e);
	const char *name = strerrorname_np(e);
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	failures++;
	if (json) {
		fprintf(stderr, "{\"error\":\"%s\",\"errno\":%d,\"message\":\"%s: %s\"}\n",
			name ?: "?", e, what, strerror(e));
		return;
	}
	fprintf(stderr, "%s: %s (%s)%s%s\n", what, strerror(e), name ?: "?",
		hint ? ": " : "", hint ?: "");
}

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("lockmapctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (see lockmapctl --help)\n", stderr);
	va_end(ap);
	failures++;
}

/* Prints bytes as text (escaping what is not printable), hex, or JSON. */
static void print_bytes(const unsigned char *p, size_t len, int as_json)
{
	size_t i;

	if (as_json)
		putchar('"');
	for (i = 0; i < len; i++) {
		if (hex)
			printf("%02x", p[i]);
		else if (as_json && (p[i] == '"' || p[i] == '\\'))
			printf("\\%c", p[i]);
		else if (isprint(p[i]) && (as_json || p[i] != '\\'))
			putchar(p[i]);
		else if (as_json)
			printf("\\u%04x", p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	if (as_json)
		putchar('"');
}

/* Parsing */

static int parse_u64(const char *s, __u64 *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || !*s || *end ? -1 : 0;
}

static int parse_s64(const char *s, __s64 *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 0);
	return errno || !*s || *end ? -1 : 0;
}

/*
 * A key or value from the command line, into @buf: the text itself, or
 * hex digits with --hex.  Returns its length, or -1.
 */
static long parse_bytes(const char *s, unsigned char *buf, size_t size)
{
	size_t len = strlen(s), i;

	if (!hex) {
		if (len > size)
			return -1;
		memcpy(buf, s, len);
		return len;
	}
	if (len % 2 || len / 2 > size)
		return -1;
	for (i = 0; i < len / 2; i++) {
		unsigned int b;

		if (!isxdigit(s[2 * i]) || !isxdigit(s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &b) != 1)
			return -1;
		buf[i] = b;
	}
	return len / 2;
}

/* The device and maps */

static int dev(void)
{
	if (dev_fd >= 0)
		return dev_fd;
	dev_fd = open(device, O_RDWR | O_CLOEXEC);
	if (dev_fd < 0) {
		fail(errno, "open %s", device);
		return -1;
	}
	return dev_fd;
}

static int xioctl(unsigned long cmd, void *arg)
{
	int fd = dev();

	if (fd < 0)
		return -EBADF;
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

static int map_stats(__u32 id, struct lockmap_ioc_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->map_id = id;
	return xioctl(LOCKMAP_IOC_STATS, st);
}

/* Every live map id, ascending; returns the count or -errno. */
static int list_maps(__u32 *ids, unsigned int max)
{
	struct lockmap_ioc_list l;
	unsigned int n = 0;
	int ret;

	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	while (n < max) {
		l.ids = (__u64)(uintptr_t)(ids + n);
		l.nr = max - n > LOCKMAP_LIST_MAX ? LOCKMAP_LIST_MAX : max - n;
		ret = xioctl(LOCKMAP_IOC_LIST, &l);
		if (ret)
			return ret;
		n += l.nr;
		if (!l.nr || n == max || l.nr < LOCKMAP_LIST_MAX)
			break;
		l.start_id = ids[n - 1] + 1;
	}
	return n;
}

static int attach(__u32 id, const char *name)
{
	struct lockmap_ioc_attach a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.map_id = id;
	if (name)
		memcpy(a.name, name, strnlen(name, LOCKMAP_NAME_LEN - 1));
	ret = xioctl(LOCKMAP_IOC_ATTACH, &a);
	return ret ? ret : (int)a.map_id;
}

/*
 * Resolves ID or NAME to a map attached to the session (attaching it if
 * need be).  Returns the id, or 0 after reporting the error.
 */
static __u32 resolve(const char *what, const char *spec)
{
	__u64 id = 0;
	int ret;

	if (strlen(spec) >= LOCKMAP_NAME_LEN) {
		fail(EINVAL, "%s %s", what, spec);
		return 0;
	}
	if (!parse_u64(spec, &id) && id && id <= UINT32_MAX)
		ret = attach(id, NULL);
	else
		ret = attach(0, spec);
	if (ret == -EEXIST) {
		/* attached already: find its id */
		if (id)
			return id;
		{
			static __u32 ids[LOCKMAP_LIST_MAX * 4];
			struct lockmap_ioc_stats st;
			int n = list_maps(ids, ARRAY_SIZE(ids)), i;

			for (i = 0; i < n; i++)
				if (!map_stats(ids[i], &st) &&
				    !strcmp((char *)st.name, spec))
					return ids[i];
		}
		ret = -ENOENT;
	}
	if (ret < 0) {
		fail(-ret, "%s %s", what, spec);
		return 0;
	}
	return ret;
}

static int need_map(const char *cmd)
{
	if (cur_map)
		return 0;
	if (dev() < 0)
		return -1;
	usage_error("%s: no map: create or attach one first, or use -m", cmd);
	return -1;
}

static const char *flag_names(__u32 flags, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s%s",
		 flags & LOCKMAP_CREATE_LRU ? "lru" : "map",
		 flags & LOCKMAP_CREATE_RT_MUTEX ? ",rt" : "",
		 flags & LOCKMAP_CREATE_SHRINKER ? ",shrinker" : "",
		 flags & LOCKMAP_CREATE_RCU_GET ? ",rcu_get" : "");
	return buf;
}

/* Operations */

struct opbuf {
	struct lockmap_ioc_op op;
	unsigned char key[LOCKMAP_DEFAULT_MAX_KEY_LEN];
	unsigned char *value;
	unsigned char *expected;
	unsigned char *out;
	__u64 counter[2];	/* --u64 values: new and expected */
	int u64;		/* print the result as a counter */
	const char *name;	/* the operation's name, for messages */
	const char *keyarg;
};

static void opbuf_free(struct opbuf *o)
{
	free(o->value);
	free(o->expected);
	free(o->out);
}

/* Sets o->op.{value,expected} from an argument (text, hex or --u64). */
static int op_bytes(struct opbuf *o, const char *arg, int expected)
{
	unsigned char **buf = expected ? &o->expected : &o->value;
	__u64 *p = expected ? &o->op.expected : &o->op.value;
	__u64 *len = expected ? &o->op.expected_len : &o->op.value_len;
	__s64 n;
	long l;

	if (o->u64) {
		if (parse_s64(arg, &n))
			return -1;
		o->counter[expected] = (__u64)n;
		*p = (__u64)(uintptr_t)&o->counter[expected];
		*len = sizeof(__u64);
		return 0;
	}
	*buf = malloc(MAX_VALUE);
	if (!*buf)
		return -1;
	l = parse_bytes(arg, *buf, MAX_VALUE);
	if (l < 0)
		return -1;
	*p = (__u64)(uintptr_t)*buf;
	*len = l;
	return 0;
}

/*
 * Parses one operation, "NAME [--u64] [--nx] ARGS...", from @argv into @o.
 * Returns the number of arguments used, or -1 after reporting the error.
 */
static int parse_op(struct opbuf *o, int argc, char **argv)
{
	static const struct {
		const char *name;
		__u32 code;
		int nargs;	/* after the key */
	} ops[] = {
		{ "put", LOCKMAP_OP_INSERT, 1 }, { "putnx", LOCKMAP_OP_SET_IF_ABSENT, 1 },
		{ "get", LOCKMAP_OP_GET, 0 }, { "peek", LOCKMAP_OP_PEEK, 0 },
		{ "del", LOCKMAP_OP_REMOVE, 0 }, { "has", LOCKMAP_OP_CONTAINS, 0 },
		{ "cas", LOCKMAP_OP_CAS, 2 }, { "add", LOCKMAP_OP_ADD, 1 },
		{ "append", LOCKMAP_OP_APPEND, 1 },
	};
	unsigned int i;
	int a = 1, nx = 0;
	long klen;
	__s64 n;

	memset(o, 0, sizeof(*o));
	if (argc < 1) {
		usage_error("missing operation");
		return -1;
	}
	for (i = 0; i < ARRAY_SIZE(ops); i++)
		if (!strcmp(argv[0], ops[i].name))
			break;
	if (i == ARRAY_SIZE(ops)) {
		usage_error("unknown operation \"%s\"", argv[0]);
		return -1;
	}
	o->name = ops[i].name;
	for (; a < argc && argv[a][0] == '-' && argv[a][1] == '-'; a++) {
		if (!strcmp(argv[a], "--u64")) {
			o->u64 = 1;
		} else if (!strcmp(argv[a], "--nx")) {
			nx = 1;
		} else {
			usage_error("%s: unknown option %s", o->name, argv[a]);
			return -1;
		}
	}
	if (argc - a < 1 + ops[i].nargs) {
		usage_error("%s: needs KEY%s", o->name,
			    ops[i].nargs == 2 ? " EXPECTED NEW" :
			    ops[i].nargs ? " VALUE" : "");
		return -1;
	}
	o->op.size = sizeof(o->op);
	o->op.op = nx && ops[i].code == LOCKMAP_OP_INSERT ?
		   LOCKMAP_OP_SET_IF_ABSENT : ops[i].code;
	o->op.map_id = cur_map;
	o->keyarg = argv[a];
	klen = parse_bytes(argv[a], o->key, sizeof(o->key));
	if (klen <= 0) {
		usage_error("%s: bad key \"%s\"", o->name, argv[a]);
		return -1;
	}
	o->op.key = (__u64)(uintptr_t)o->key;
	o->op.key_len = klen;
	a++;
	switch (o->op.op) {
	case LOCKMAP_OP_INSERT:
	case LOCKMAP_OP_SET_IF_ABSENT:
	case LOCKMAP_OP_APPEND:
		if (op_bytes(o, argv[a], 0))
			goto bad_value;
		a++;
		break;
	case LOCKMAP_OP_CAS:
		if (op_bytes(o, argv[a], 1) || op_bytes(o, argv[a + 1], 0))
			goto bad_value;
		a += 2;
		break;
	case LOCKMAP_OP_ADD:
		if (parse_s64(argv[a], &n)) {
			usage_error("add: bad number \"%s\"", argv[a]);
			return -1;
		}
		o->op.num = (__u64)n;
		a++;
		break;
	case LOCKMAP_OP_GET:
	case LOCKMAP_OP_PEEK:
		o->out = malloc(MAX_VALUE);
		if (!o->out)
			return -1;
		o->op.out = (__u64)(uintptr_t)o->out;
		o->op.out_size = MAX_VALUE;
		break;
	}
	return a;
bad_value:
	usage_error("%s: bad value", o->name);
	return -1;
}

/* Prints an applied operation's result. */
static void print_op(const struct opbuf *o)
{
	const struct lockmap_ioc_op *op = &o->op;
	__u64 counter;

	switch (op->op) {
	case LOCKMAP_OP_GET:
	case LOCKMAP_OP_PEEK:
		if (o->u64 && op->out_len == sizeof(counter)) {
			memcpy(&counter, o->out, sizeof(counter));
			if (json)
				printf("{\"key\":\"%s\",\"value\":%llu}\n",
				       o->keyarg, (unsigned long long)counter);
			else
				printf("%llu\n", (unsigned long long)counter);
			break;
		}
		if (json) {
			printf("{\"key\":");
			print_bytes(o->key, op->key_len, 1);
			printf(",\"value\":");
			print_bytes(o->out, op->out_len, 1);
			printf(",\"len\":%llu}\n", (unsigned long long)op->out_len);
		} else {
			print_bytes(o->out, op->out_len, 0);
			putchar('\n');
		}
		break;
	case LOCKMAP_OP_CONTAINS:
		if (json)
			printf("{\"key\":\"%s\",\"present\":%s}\n", o->keyarg,
			       op->result ? "true" : "false");
		else
			printf("%llu\n", (unsigned long long)op->result);
		break;
	case LOCKMAP_OP_ADD:
		if (json)
			printf("{\"key\":\"%s\",\"value\":%llu}\n", o->keyarg,
			       (unsigned long long)op->result);
		else
			printf("%lld\n", (long long)op->result);
		break;
	case LOCKMAP_OP_APPEND:
		if (json)
			printf("{\"key\":\"%s\",\"len\":%llu}\n", o->keyarg,
			       (unsigned long long)op->result);
		else
			printf("%llu\n", (unsigned long long)op->result);
		break;
	default:
		if (json)
			printf("{\"ok\":true,\"op\":\"%s\",\"key\":\"%s\",\"found\":%s}\n",
			       o->name, o->keyarg,
			       op->out_flags & LOCKMAP_OUT_FOUND ? "true" : "false");
		else
			puts("ok");
	}
}

static int cmd_op(int argc, char **argv)
{
	struct opbuf o;
	int ret;

	if (need_map(argv[0]))
		return 1;
	if (parse_op(&o, argc, argv) < 0) {
		opbuf_free(&o);
		return 1;
	}
	ret = xioctl(LOCKMAP_IOC_OP, &o.op);
	if (ret)
		fail(-ret, "%s %s", o.name, o.keyarg);
	else
		print_op(&o);
	opbuf_free(&o);
	return !!ret;
}

/* batch and hold: OPs separated by "," (batch) or after "--" (hold). */
static int run_batch(int argc, char **argv, int a, int hold)
{
	struct lockmap_ioc_key keys[LOCKMAP_DEFAULT_MAX_BATCH_KEYS + 1];
	struct opbuf *ops = calloc(LOCKMAP_DEFAULT_MAX_BATCH_OPS, sizeof(*ops));
	struct lockmap_ioc_op *uops = calloc(LOCKMAP_DEFAULT_MAX_BATCH_OPS,
					     sizeof(*uops));
	static unsigned char keybytes[LOCKMAP_DEFAULT_MAX_BATCH_KEYS + 1][256];
	struct lockmap_ioc_batch b;
	unsigned int nk = 0, no = 0, i;
	__u64 usec = 0, v;
	int ret = 1, nowait = 0;

	if (!ops || !uops)
		goto out;
	for (; a < argc && argv[a][0] == '-' && strcmp(argv[a], "--"); a++) {
		if (!strcmp(argv[a], "--nowait")) {
			nowait = 1;
		} else if ((!strcmp(argv[a], "--ms") || !strcmp(argv[a], "--hold-ms") ||
			    !strcmp(argv[a], "--us")) && a + 1 < argc &&
			   !parse_u64(argv[a + 1], &v)) {
			usec = argv[a][3] == 'u' ? v : v * 1000;
			a++;
		} else {
			usage_error("%s: bad option %s", argv[0], argv[a]);
			goto out;
		}
	}
	if (hold) {
		for (; a < argc && strcmp(argv[a], "--"); a++) {
			long l;

			if (nk == LOCKMAP_DEFAULT_MAX_BATCH_KEYS + 1) {
				usage_error("hold: too many keys");
				goto out;
			}
			l = parse_bytes(argv[a], keybytes[nk], sizeof(keybytes[nk]));
			if (l <= 0) {
				usage_error("hold: bad key \"%s\"", argv[a]);
				goto out;
			}
			keys[nk].key = (__u64)(uintptr_t)keybytes[nk];
			keys[nk++].len = l;
		}
		if (!nk) {
			usage_error("hold: which keys?");
			goto out;
		}
		a++;	/* the "--" */
	}
	while (a < argc) {
		int end = a, used;

		while (end < argc && strcmp(argv[end], ","))
			end++;
		if (no == LOCKMAP_DEFAULT_MAX_BATCH_OPS) {
			usage_error("%s: too many operations", argv[0]);
			goto out;
		}
		used = parse_op(&ops[no], end - a, argv + a);
		if (used < 0)
			goto out;
		if (used != end - a) {
			usage_error("%s: extra arguments after %s %s", argv[0],
				    ops[no].name, ops[no].keyarg);
			no++;
			goto out;
		}
		uops[no] = ops[no].op;
		no++;
		a = end + 1;
	}
	if (!no && !hold) {
		usage_error("batch: no operations");
		goto out;
	}
	memset(&b, 0, sizeof(b));
	b.size = sizeof(b);
	b.flags = nowait ? LOCKMAP_BATCH_NOWAIT : 0;
	b.map_id = cur_map;
	b.nr_keys = nk;
	b.keys = nk ? (__u64)(uintptr_t)keys : 0;
	b.nr_ops = no;
	b.ops = no ? (__u64)(uintptr_t)uops : 0;
	b.op_size = no ? sizeof(*uops) : 0;
	b.hold_usec = usec;
	ret = xioctl(LOCKMAP_IOC_BATCH, &b);
	if (ret) {
		if (b.failed_index < no)
			fail(-ret, "%s: operation %u (%s %s)", argv[0],
			     b.failed_index + 1, ops[b.failed_index].name,
			     ops[b.failed_index].keyarg);
		else
			fail(-ret, "%s", argv[0]);
		ret = 1;
		goto out;
	}
	if (hold && !json)
		printf("held %u key%s for %llu us\n", nk,
		       nk == 1 ? "" : "s", (unsigned long long)usec);
	if (json && no > 1)
		printf("[\n");
	for (i = 0; i < no; i++) {
		ops[i].op = uops[i];
		print_op(&ops[i]);
	}
	if (json && no > 1)
		printf("]\n");
	if (json && !no)
		printf("{\"ok\":true,\"held\":%u,\"usec\":%llu}\n", nk,
		       (unsigned long long)usec);
	ret = 0;
out:
	for (i = 0; ops && i < LOCKMAP_DEFAULT_MAX_BATCH_OPS; i++)
		opbuf_free(&ops[i]);
	free(ops);
	free(uops);
	return ret;
}

/* Map commands */

static int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "lru", no_argument, NULL, 'l' },
		{ "capacity", required_argument, NULL, 'C' },
		{ "rt", no_argument, NULL, 'r' },
		{ "shrinker", no_argument, NULL, 's' },
		{ "rcu-get", no_argument, NULL, 'g' },
		{ "key-len", required_argument, NULL, 'k' },
		{ "max-key-len", required_argument, NULL, 'K' },
		{ "max-value-len", required_argument, NULL, 'V' },
		{ "max-entries", required_argument, NULL, 'E' },
		{ "shards", required_argument, NULL, 'S' },
		{ "max-evict", required_argument, NULL, 'e' },
		{ 0 }
	};
	struct lockmap_ioc_create c;
	const char *name = NULL;
	__u64 v;
	int opt, ret;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt == '?')
			return usage_error("create: bad option"), 1;
		if (opt == 'n') {
			name = optarg;
			continue;
		}
		if (opt == 'l' || opt == 'r' || opt == 's' || opt == 'g') {
			c.flags |= opt == 'l' ? LOCKMAP_CREATE_LRU :
				   opt == 'r' ? LOCKMAP_CREATE_RT_MUTEX :
				   opt == 's' ? LOCKMAP_CREATE_SHRINKER :
				   LOCKMAP_CREATE_RCU_GET;
			continue;
		}
		if (parse_u64(optarg, &v))
			return usage_error("create: bad number \"%s\"", optarg), 1;
		switch (opt) {
		case 'C':
			c.capacity = v;
			c.flags |= LOCKMAP_CREATE_LRU;
			break;
		case 'k':
			c.key_len = v;
			break;
		case 'K':
			c.max_key_len = v;
			break;
		case 'V':
			c.max_value_len = v;
			break;
		case 'E':
			c.max_entries = v;
			break;
		case 'S':
			c.nr_shards = v;
			break;
		case 'e':
			c.max_evict = v;
			break;
		}
	}
	if (optind < argc)
		return usage_error("create: unexpected \"%s\"", argv[optind]), 1;
	if (name) {
		if (strlen(name) >= LOCKMAP_NAME_LEN)
			return fail(EINVAL, "create %s", name), 1;
		memcpy(c.name, name, strlen(name));
	}
	ret = xioctl(LOCKMAP_IOC_CREATE, &c);
	if (ret)
		return fail(-ret, "create%s%s", name ? " " : "", name ?: ""), 1;
	cur_map = c.map_id;
	if (json)
		printf("{\"map_id\":%u,\"name\":\"%s\"}\n", c.map_id, name ?: "");
	else
		printf("created map %u%s%s\n", c.map_id, name ? " " : "", name ?: "");
	return 0;
}

static int cmd_attach(int argc, char **argv)
{
	__u32 id;

	if (argc != 2)
		return usage_error("%s: needs ID or NAME", argv[0]), 1;
	id = resolve(argv[0], argv[1]);
	if (!id)
		return 1;
	cur_map = id;
	if (json)
		printf("{\"map_id\":%u}\n", id);
	else if (!strcmp(argv[0], "attach"))
		printf("attached map %u\n", id);
	return 0;
}

static int cmd_detach(int argc, char **argv)
{
	struct lockmap_ioc_map m;
	__u32 id = cur_map;
	int ret;

	if (argc > 2)
		return usage_error("detach: [ID|NAME]"), 1;
	if (argc == 2) {
		id = resolve("detach", argv[1]);
		if (!id)
			return 1;
	}
	if (!id)
		return need_map("detach");
	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.map_id = id;
	ret = xioctl(LOCKMAP_IOC_DETACH, &m);
	if (ret)
		return fail(-ret, "detach %u", id), 1;
	if (id == cur_map)
		cur_map = 0;
	puts(json ? "{\"ok\":true}" : "ok");
	return 0;
}

/* A named number or string, printed as "name value" or in a JSON object. */
struct field {
	const char *name;
	const char *str;	/* NULL: a number */
	unsigned long long num;
};

#define NUM(n, v) { n, NULL, (unsigned long long)(v) }
#define STR(n, v) { n, v, 0 }

static void print_fields(const struct field *f, unsigned int n, int as_json)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (!as_json)
			f[i].str ? printf("%-14s %s\n", f[i].name, f[i].str) :
				   printf("%-14s %llu\n", f[i].name, f[i].num);
		else if (f[i].str)
			printf("%s\"%s\":\"%s\"", i ? "," : "{", f[i].name, f[i].str);
		else
			printf("%s\"%s\":%llu", i ? "," : "{", f[i].name, f[i].num);
	}
	if (as_json)
		printf("}");
}

static int cmd_ls(int argc, char **argv)
{
	static __u32 ids[LOCKMAP_LIST_MAX * 4];
	struct lockmap_ioc_stats st;
	int n, i, first = 1;
	char flags[32];

	(void)argv;
	if (argc != 1)
		return usage_error("ls takes no arguments"), 1;
	n = list_maps(ids, ARRAY_SIZE(ids));
	if (n < 0)
		return fail(-n, "ls"), 1;
	if (json)
		printf("[");
	else
		printf("%-6s %-24s %-23s %8s %8s %5s\n", "ID", "NAME", "KIND",
		       "LEN", "CAPACITY", "FILES");
	for (i = 0; i < n; i++) {
		if (map_stats(ids[i], &st))
			continue;	/* gone meanwhile */
		flag_names(st.map_flags, flags, sizeof(flags));
		if (json) {
			struct field f[] = {
				NUM("id", ids[i]), STR("name", (char *)st.name),
				STR("kind", flags), NUM("len", st.len),
				NUM("capacity", st.capacity),
				NUM("files", st.nr_files),
			};

			printf("%s", first ? "" : ",");
			print_fields(f, ARRAY_SIZE(f), 1);
			first = 0;
		} else {
			printf("%-6u %-24s %-23s %8llu %8llu %5u\n", ids[i],
			       st.name[0] ? (char *)st.name : "-", flags,
			       (unsigned long long)st.len,
			       (unsigned long long)st.capacity, st.nr_files);
		}
	}
	if (json)
		printf("]\n");
	return 0;
}

static int cmd_stats(int argc, char **argv)
{
	struct lockmap_ioc_stats st;
	__u32 id = cur_map;
	char flags[32];
	__u64 v;
	int ret;

	if (argc > 2)
		return usage_error("stats: [ID|NAME]"), 1;
	if (argc == 2) {
		/* any live map by id, attached or not */
		if (!parse_u64(argv[1], &v) && v && v <= UINT32_MAX)
			id = v;
		else
			id = resolve("stats", argv[1]);
		if (!id)
			return 1;
	}
	if (!id)
		return need_map("stats");
	ret = map_stats(id, &st);
	if (ret)
		return fail(-ret, "stats %u", id), 1;
	flag_names(st.map_flags, flags, sizeof(flags));
	{
		struct field f[] = {
			NUM("id", id),
			STR("name", st.name[0] || json ? (char *)st.name : "-"),
			STR("kind", flags), NUM("len", st.len),
			NUM("slots", st.slots), NUM("capacity", st.capacity),
			NUM("evictions", st.evictions),
			NUM("evict_skipped", st.evict_skipped),
			NUM("max_entries", st.max_entries),
			NUM("nr_shards", st.nr_shards), NUM("key_len", st.key_len),
			NUM("max_key_len", st.max_key_len),
			NUM("max_value_len", st.max_value_len),
			NUM("max_evict", st.max_evict), NUM("files", st.nr_files),
		};

		print_fields(f, ARRAY_SIZE(f), json);
	}
	if (json)
		printf("\n");
	return 0;
}

static int map_cmd(const char *name, unsigned long cmd, __u64 *value)
{
	struct lockmap_ioc_map m;
	int ret;

	if (need_map(name))
		return -1;
	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.map_id = cur_map;
	m.value = *value;
	ret = xioctl(cmd, &m);
	if (ret) {
		fail(-ret, "%s", name);
		return -1;
	}
	*value = m.value;
	return 0;
}

static int cmd_len(int argc, char **argv)
{
	__u64 v = 0;

	if (argc != 1)
		return usage_error("%s takes no arguments", argv[0]), 1;
	if (map_cmd(argv[0], !strcmp(argv[0], "len") ? LOCKMAP_IOC_LEN :
		    LOCKMAP_IOC_CLEAR, &v))
		return 1;
	if (json)
		printf("{\"%s\":%llu}\n",
		       !strcmp(argv[0], "len") ? "len" : "removed", (unsigned long long)v);
	else
		printf("%llu\n", (unsigned long long)v);
	return 0;
}

static int cmd_capacity(int argc, char **argv)
{
	__u64 v;

	if (argc != 2 || parse_u64(argv[1], &v))
		return usage_error("capacity: needs a number"), 1;
	if (map_cmd("capacity", LOCKMAP_IOC_SET_CAPACITY, &v))
		return 1;
	puts(json ? "{\"ok\":true}" : "ok");
	return 0;
}

static int cmd_pop(int argc, char **argv)
{
	static unsigned char key[LOCKMAP_DEFAULT_MAX_KEY_LEN], value[MAX_VALUE];
	struct lockmap_ioc_pop p;
	int ret;

	(void)argv;
	if (argc != 1)
		return usage_error("pop takes no arguments"), 1;
	if (need_map("pop"))
		return 1;
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.map_id = cur_map;
	p.key = (__u64)(uintptr_t)key;
	p.key_size = sizeof(key);
	p.value = (__u64)(uintptr_t)value;
	p.value_size = sizeof(value);
	ret = xioctl(LOCKMAP_IOC_POP_LRU, &p);
	if (ret)
		return fail(-ret, "pop"), 1;
	if (json) {
		printf("{\"key\":");
		print_bytes(key, p.key_len, 1);
		printf(",\"value\":");
		print_bytes(value, p.value_len, 1);
		printf("}\n");
	} else {
		print_bytes(key, p.key_len, 0);
		putchar(' ');
		print_bytes(value, p.value_len, 0);
		putchar('\n');
	}
	return 0;
}

static int cmd_dump(int argc, char **argv)
{
	size_t size = 16 + LOCKMAP_DEFAULT_MAX_KEY_LEN + MAX_VALUE + 8;
	unsigned char *buf = malloc(size);
	struct lockmap_ioc_iter it;
	__u64 max = ~0ULL, n = 0;
	int ret = 0, first = 1;

	if (argc == 3 && !strcmp(argv[1], "--max") && !parse_u64(argv[2], &max))
		argc = 1;
	if (argc != 1 || !buf) {
		free(buf);
		return usage_error("dump: [--max N]"), 1;
	}
	if (need_map("dump")) {
		free(buf);
		return 1;
	}
	memset(&it, 0, sizeof(it));
	it.size = sizeof(it);
	it.map_id = cur_map;
	it.max_records = LOCKMAP_ITER_MAX_RECORDS;
	it.buf = (__u64)(uintptr_t)buf;
	it.buf_size = size;
	if (json)
		printf("[");
	while (it.cursor != LOCKMAP_ITER_END && n < max) {
		size_t off = 0;
		__u32 r;

		ret = xioctl(LOCKMAP_IOC_ITER, &it);
		if (ret) {
			fail(-ret, "dump");
			break;
		}
		for (r = 0; r < it.nr_records && n < max; r++, n++) {
			struct lockmap_ioc_record rec;

			memcpy(&rec, buf + off, sizeof(rec));
			if (json) {
				printf("%s{\"key\":", first ? "" : ",");
				print_bytes(buf + off + 16, rec.key_len, 1);
				printf(",\"value\":");
				print_bytes(buf + off + 16 + rec.key_len, rec.value_len, 1);
				printf("}");
				first = 0;
			} else {
				print_bytes(buf + off + 16, rec.key_len, 0);
				putchar(' ');
				print_bytes(buf + off + 16 + rec.key_len, rec.value_len, 0);
				putchar('\n');
			}
			off += (16 + rec.key_len + rec.value_len + 7) & ~7ULL;
		}
	}
	if (json)
		printf("]\n");
	free(buf);
	return !!ret;
}

/* bench */

struct bench {
	__u32 map;
	long ops;
	int keys;
	int value_size;
	unsigned int mix[3];	/* get, put, add */
	long errors;
	long long ns_max;
	unsigned int seed;
};

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *bench_thread(void *arg)
{
	struct bench *b = arg;
	unsigned int total = b->mix[0] + b->mix[1] + b->mix[2];
	unsigned char *value = calloc(1, b->value_size + 1);
	unsigned char *out = malloc(b->value_size + 64);
	struct lockmap_ioc_op op;
	char key[32];
	long i;

	if (!value || !out) {
		b->errors = b->ops;
		goto out;
	}
	memset(value, 'v', b->value_size);
	for (i = 0; i < b->ops; i++) {
		unsigned int r = rand_r(&b->seed) % total;
		long long t0 = now_ns(), dt;
		int klen;

		klen = snprintf(key, sizeof(key), "bench-%u",
				rand_r(&b->seed) % b->keys);
		memset(&op, 0, sizeof(op));
		op.size = sizeof(op);
		op.map_id = b->map;
		op.key = (__u64)(uintptr_t)key;
		op.key_len = klen;
		if (r < b->mix[0]) {
			op.op = LOCKMAP_OP_GET;
			op.flags = LOCKMAP_OPF_ABSENT_OK;
			op.out = (__u64)(uintptr_t)out;
			op.out_size = b->value_size + 64;
		} else if (r < b->mix[0] + b->mix[1]) {
			op.op = LOCKMAP_OP_INSERT;
			op.value = (__u64)(uintptr_t)value;
			op.value_len = b->value_size;
		} else {
			/* counters live under their own keys */
			klen = snprintf(key, sizeof(key), "ctr-%u",
					rand_r(&b->seed) % b->keys);
			op.key_len = klen;
			op.op = LOCKMAP_OP_ADD;
			op.num = 1;
		}
		if (ioctl(dev_fd, LOCKMAP_IOC_OP, &op))
			b->errors++;
		dt = now_ns() - t0;
		if (dt > b->ns_max)
			b->ns_max = dt;
	}
out:
	free(value);
	free(out);
	return NULL;
}

static int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "ops", required_argument, NULL, 'o' },
		{ "keys", required_argument, NULL, 'k' },
		{ "value-size", required_argument, NULL, 'v' },
		{ "mix", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 }
	};
	struct bench b[64];
	pthread_t tid[64];
	long threads = 4, ops = 100000, keys = 1024, vsize = 16, errors = 0;
	unsigned int mix[3] = { 8, 1, 1 };
	long long t0, dt, max_ns = 0;
	int opt, i, made_map = 0;
	__u32 map = cur_map;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		char *end = NULL;
		long v = optarg ? strtol(optarg, &end, 0) : 0;

		if (opt == 'j') {
			json = 1;
			continue;
		}
		if (opt == 'm') {
			if (sscanf(optarg, "%u:%u:%u", &mix[0], &mix[1], &mix[2]) != 3 ||
			    !(mix[0] + mix[1] + mix[2]))
				return usage_error("bench: --mix GET:PUT:ADD"), 1;
			continue;
		}
		if (opt == '?' || !end || *end || v < 1)
			return usage_error("bench: bad option"), 1;
		switch (opt) {
		case 't':
			threads = v > 64 ? 64 : v;
			break;
		case 'o':
			ops = v;
			break;
		case 'k':
			keys = v;
			break;
		case 'v':
			vsize = v;
			break;
		}
	}
	if (dev() < 0)
		return 1;
	if (!map) {
		struct lockmap_ioc_create c;
		int ret;

		memset(&c, 0, sizeof(c));
		c.size = sizeof(c);
		ret = xioctl(LOCKMAP_IOC_CREATE, &c);
		if (ret)
			return fail(-ret, "bench: create"), 1;
		map = c.map_id;
		made_map = 1;
	}
	t0 = now_ns();
	for (i = 0; i < threads; i++) {
		b[i] = (struct bench){ map, ops / threads + (i < ops % threads),
				       keys, vsize, { mix[0], mix[1], mix[2] }, 0, 0,
				       (unsigned int)(i * 7919 + 1) };
		if (pthread_create(&tid[i], NULL, bench_thread, &b[i])) {
			threads = i;
			break;
		}
	}
	for (i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		errors += b[i].errors;
		if (b[i].ns_max > max_ns)
			max_ns = b[i].ns_max;
	}
	dt = now_ns() - t0;
	if (made_map) {
		struct lockmap_ioc_map m = { .size = sizeof(m), .map_id = map };

		xioctl(LOCKMAP_IOC_DETACH, &m);
	}
	if (json) {
		char mixs[40];
		struct field f[] = {
			NUM("threads", threads), NUM("ops", ops), NUM("keys", keys),
			NUM("value_size", vsize), STR("mix", mixs),
			NUM("usec", dt / 1000), NUM("ops_per_sec", ops * 1e9 / dt),
			NUM("max_latency_us", max_ns / 1000), NUM("errors", errors),
		};

		snprintf(mixs, sizeof(mixs), "%u:%u:%u", mix[0], mix[1], mix[2]);
		print_fields(f, ARRAY_SIZE(f), 1);
		printf("\n");
	} else {
		printf("%ld ops, %ld threads, %ld keys, ", ops, threads, keys);
		printf("mix %u:%u:%u get:put:add: ", mix[0], mix[1], mix[2]);
		printf("%.3f s, %.0f ops/s, ", dt / 1e9, ops * 1e9 / dt);
		printf("max latency %.1f us, %ld errors\n", max_ns / 1e3, errors);
	}
	if (errors)
		failures++;
	return !!errors;
}

/* Sessions */

static atomic_int stop;

static void on_stop(int sig)
{
	(void)sig;
	atomic_store(&stop, 1);
}

static int cmd_wait(int argc, char **argv)
{
	struct sigaction sa;
	double secs = -1;

	if (!strcmp(argv[0], "sleep")) {
		if (argc == 2)
			secs = atof(argv[1]);
		if (argc != 2 || secs < 0)
			return usage_error("sleep: needs SECONDS"), 1;
	} else if (argc != 1) {
		return usage_error("wait takes no arguments"), 1;
	}
	if (secs >= 0) {
		struct timespec ts = { (time_t)secs,
				       (long)((secs - (time_t)secs) * 1e9) };

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!atomic_load(&stop))
		pause();
	return 0;
}

static int run_line(char *line);

static int cmd_shell(int argc, char **argv)
{
	char *line = NULL;
	size_t cap = 0;
	int ret = 0;

	(void)argv;
	if (argc != 1)
		return usage_error("shell takes no arguments"), 1;
	while (getline(&line, &cap, stdin) > 0) {
		ret |= run_line(line);
		fflush(stdout);
	}
	free(line);
	return ret;
}

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs(usage, stdout);
	return 0;
}

static int cmd_batch(int argc, char **argv)
{
	if (need_map(argv[0]))
		return 1;
	return run_batch(argc, argv, 1, !strcmp(argv[0], "hold"));
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "create", cmd_create }, { "attach", cmd_attach }, { "use", cmd_attach },
	{ "detach", cmd_detach }, { "ls", cmd_ls }, { "stats", cmd_stats },
	{ "len", cmd_len }, { "clear", cmd_len }, { "dump", cmd_dump },
	{ "put", cmd_op }, { "get", cmd_op }, { "peek", cmd_op }, { "del", cmd_op },
	{ "has", cmd_op }, { "cas", cmd_op }, { "add", cmd_op }, { "append", cmd_op },
	{ "hold", cmd_batch }, { "batch", cmd_batch }, { "pop", cmd_pop },
	{ "capacity", cmd_capacity }, { "bench", cmd_bench }, { "sleep", cmd_wait },
	{ "wait", cmd_wait }, { "shell", cmd_shell }, { "help", cmd_help },
};

static int run(int argc, char **argv)
{
	unsigned int i;

	if (!argc)
		return 0;
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[0], commands[i].name))
			return commands[i].fn(argc, argv);
	usage_error("unknown command \"%s\"", argv[0]);
	return 1;
}

/*
 * Splits a command line into words: blanks separate, '...' and "..." quote,
 * backslash escapes, '#' at a word start comments the rest out.
 */
static int split(char *s, char **argv, int max)
{
	int argc = 0;
	char *out;

	while (*s) {
		char quote = 0;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s || *s == '#')
			break;
		if (argc == max - 1)
			return -1;
		out = s;
		argv[argc++] = s;
		for (; *s && (quote || !isspace((unsigned char)*s)); s++) {
			if (quote && *s == quote)
				quote = 0;
			else if (!quote && (*s == '\'' || *s == '"'))
				quote = *s;
			else if (*s == '\\' && s[1] && quote != '\'')
				*out++ = *++s;
			else
				*out++ = *s;
		}
		if (quote)
			return -1;
		if (*s)
			s++;
		*out = 0;
	}
	argv[argc] = NULL;
	return argc;
}

static int run_line(char *line)
{
	char *argv[MAX_ARGS];
	int argc = split(line, argv, MAX_ARGS);

	if (argc < 0) {
		usage_error("cannot parse: unbalanced quotes or too many words");
		return 1;
	}
	return run(argc, argv);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "map", required_argument, NULL, 'm' },
		{ "command", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "hex", no_argument, NULL, 'x' },
		{ "device", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *map = NULL;
	char **cmds = calloc(argc + 1, sizeof(*cmds));
	int opt, nr_cmds = 0, i, ret = 0, first;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt_long(argc, argv, "+m:c:jxd:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			map = optarg;
			break;
		case 'c':
			cmds[nr_cmds++] = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'x':
			hex = 1;
			break;
		case 'd':
			device = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!nr_cmds && optind == argc) {
		fputs(usage, stderr);
		return 2;
	}
	/* the commands parse their own options with getopt: keep our place */
	first = optind;
	if (map) {
		cur_map = resolve("map", map);
		if (!cur_map)
			return 1;
	}
	for (i = 0; i < nr_cmds; i++) {
		char *line = strdup(cmds[i]);

		ret |= run_line(line);
		free(line);
	}
	if (first < argc)
		ret |= run(argc - first, argv + first);
	free(cmds);
	return ret || failures ? 1 : 0;
}
