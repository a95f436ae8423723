#!/usr/bin/env python3
"""Turn a lockmap_bench console log into a table and results.json.

Why: the benchmark module prints one line per measurement to the guest
console; this gathers the runs of each (workload, impl, threads), prints the
median with min-max and the ratio to each baseline, checks the targets of
issue 5, and writes the JSON the issue asks for:

  {"kernel": str, "cpus": int, "runs": int,
   "results": [{"workload": str, "impl": str, "threads": int,
                "ops_per_sec": float}],          # the median of the runs
   "bytes_per_entry": {"lockmap": float, "lru": float}}

plus a "detail" object (min, max, all runs, memory breakdown, targets).

It also prints "bench-check: ok|FAIL NAME" lines (every workload and impl
reported, no failed operation, memory measured, the guest finished), which
tools/check.sh counts for the smoke run.  Exit status 1 if any check failed.

Usage: tools/bench/report.py [--mode full|smoke] [--json OUT] LOG...
(one log per boot: runs pair up within a round of one boot, and are pooled)
"""
import argparse
import json
import re
import statistics
import sys

# What the module runs (keep in step with bench_workloads[] in
# lockmap_bench.c): workload -> impls.
LOCKMAPS = ['lockmap', 'lockmap_rcu']
LRUS = ['lru', 'lru_rcu']
LOCKING = LOCKMAPS + ['global_mutex', 'striped_mutex']
ALL_MAPS = LOCKMAPS + ['rhashtable', 'global_mutex', 'striped_mutex']
WORKLOADS = {
    'insert_1m': ALL_MAPS,
    'get_hit': ALL_MAPS + LRUS,
    'mixed_90_10': ALL_MAPS,
    'entry_update': LOCKING,
    'entry_hot_key': LOCKING,
    'batch_lock_4': LOCKING,
    # global_mutex here is the hand-written cache: one mutex, one LRU list.
    'lru_get': LRUS + ['global_mutex'],
    'lru_peek': LRUS + ['global_mutex'],
    'lru_insert_evict': LRUS + ['global_mutex'],
    'get_1k': ALL_MAPS,
    'get_64k': ALL_MAPS,
    'get_1m': ALL_MAPS,
}
THREADS = [1, 2, 4]
BASELINES = ['rhashtable', 'global_mutex', 'striped_mutex']

STAMP = re.compile(r'^\[\s*\d+\.\d+\] ?')
KV = re.compile(r'(\w+)=(\S+)')


def parse(path, boot=0):
    """Returns start info, {(w, impl, threads): [runs]}, mem lines, done.

    A run's 'run' is boot * 1000 + its round, so that runs pair up only
    with the runs of the same round of the same boot.
    """
    start, done, runs, mem, probes = {}, None, {}, {}, {}
    finished = False
    with open(path, errors='replace') as f:
        for line in f:
            line = STAMP.sub('', line.rstrip('\r\n').replace('\r', ''))
            if 'LOCKMAP-INIT: done' in line:
                finished = True
            if not line.startswith('lockmap_bench: '):
                continue
            body = line[len('lockmap_bench: '):]
            kv = dict(KV.findall(body))
            if body.startswith('start '):
                start = kv
            elif body.startswith('done '):
                done = kv
            elif body.startswith('profile '):
                probes[kv['probe']] = int(kv['ps_per_op']) / 1000
            elif body.startswith('mem '):
                mem[kv['impl']] = {k: int(v) for k, v in kv.items()
                                   if k != 'impl'}
            elif body.startswith('workload='):
                key = (kv['workload'], kv['impl'], int(kv['threads']))
                runs.setdefault(key, []).append({
                    'boot': boot,
                    'run': boot * 1000 + int(kv['run']),
                    'ops_per_sec': float(kv['ops_per_sec']),
                    'misses': int(kv['misses']),
                    'oversubscribed': kv.get('oversubscribed') == '1'})
    return start, runs, mem, done, finished, probes


def fmt(x):
    """Compact ops/s: 1234567 -> 1.23M."""
    for div, unit in ((1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
        if x >= div:
            return f'{x / div:.3g}{unit}'
    return f'{x:.3g}'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--mode', default='full', choices=['full', 'smoke'])
    ap.add_argument('--json')
    ap.add_argument('log', nargs='+', help='one console log per boot')
    args = ap.parse_args()

    # Several boots: runs pooled, memory and probes from whichever has them.
    start, runs, mem, probes, dones, finished = {}, {}, {}, {}, [], True
    for boot, path in enumerate(args.log):
        s, r, m, d, f, p = parse(path, boot)
        start = start or s
        for k, v in r.items():
            runs.setdefault(k, []).extend(v)
        mem = mem or m
        probes = probes or p
        dones.append(d)
        finished = finished and f
    boots = len(args.log)
    if probes:
        print('cost probes (one thread, ns per operation, loop included):')
        for name, ns in probes.items():
            print(f'  {name:<40}{ns:9.1f}')
        print()
    cpus = int(start.get('cpus', 0))
    med = {k: statistics.median(r['ops_per_sec'] for r in v)
           for k, v in runs.items()}

    def paired(a, b):
        """Median over rounds of a/b, both measured in the same round.

        Each round runs every impl of a workload back to back, so a slow
        patch of the host hits both sides of a pair alike and cancels out
        of its ratio, which it does not out of a ratio of medians.
        """
        rb = {r['run']: r['ops_per_sec'] for r in runs.get(b, [])}
        rs = [r['ops_per_sec'] / rb[r['run']] for r in runs.get(a, [])
              if rb.get(r['run'])]
        return statistics.median(rs) if rs else None

    # The table: one block per workload, one row per (threads, impl).
    print(f"lockmap bench: kernel {start.get('kernel', '?')}, {cpus} CPUs, "
          f"{boots} boot(s) of {start.get('runs', '?')} runs of "
          f"{start.get('duration_ms', '?')} ms each (insert_1m: until 1M keys "
          "are in); ops/s median [min-max], ratio = median over rounds of "
          "this / baseline in the same round")
    hdr = (f"{'workload':<17}{'thr':>4} {'impl':<14}{'median':>9} "
           f"{'[min-max]':<18}" + ''.join(f'{"x " + b:>16}'
                                         for b in BASELINES))
    print(hdr)
    print('-' * len(hdr))
    for w, impls in WORKLOADS.items():
        if not any((w, i, t) in runs for i in impls for t in THREADS):
            continue
        for t in THREADS:
            for impl in impls:
                v = runs.get((w, impl, t))
                if not v:
                    continue
                ops = [r['ops_per_sec'] for r in v]
                m = med[(w, impl, t)]
                ratios = ''
                for b in BASELINES:
                    pr = paired((w, impl, t), (w, b, t)) if b != impl else None
                    ratios += (f'{pr:>15.2f}x' if pr is not None
                               else f'{"":>16}')
                over = '*' if v[0]['oversubscribed'] else ' '
                print(f'{w:<17}{t:>3}{over} {impl:<14}{fmt(m):>9} '
                      f'[{fmt(min(ops))}-{fmt(max(ops))}]'.ljust(54) +
                      ratios)
        print()
    print('* oversubscribed: more threads than vCPUs')

    # Memory.
    bpe, mem_detail = {}, {}
    if mem:
        print('\nbytes per entry (8-byte keys and values), measured: the slab '
              'and vmalloc pages\ngiven back when a map holding N keys is '
              'destroyed, / N.  Cross-checks: their\ngrowth while it was '
              'filled (also counts kmalloc slabs left partly empty by\n'
              'outgrown bucket arrays), the drop in free pages (noisier: '
              'per-CPU page lists),\nand the computed entry object size + '
              'bucket arrays:')
    for impl, m in mem.items():
        n = max(m['entries'], 1)
        d = {'entries': m['entries'],
             'bytes_per_entry': m['bytes'] / n,
             'slab_bytes_per_entry': m['slab_delta'] / n,
             'vmalloc_bytes_per_entry': m['vmalloc_delta'] / n,
             'growth_per_entry': m['growth'] / n,
             'free_pages_drop_per_entry': m['free_delta'] / n,
             'object_size': m['object_size'],
             'table_bytes_per_entry': m['table_bytes'] / n}
        mem_detail[impl] = d
        if impl in ('lockmap', 'lru'):
            bpe[impl] = round(d['bytes_per_entry'], 1)
        print(f"  {impl:<12}{d['bytes_per_entry']:7.1f} B/entry "
              f"(slab {d['slab_bytes_per_entry']:.1f} + vmalloc "
              f"{d['vmalloc_bytes_per_entry']:.1f}; growth "
              f"{d['growth_per_entry']:.1f}; free pages "
              f"{d['free_pages_drop_per_entry']:.1f}; computed "
              f"{m['object_size']} + {d['table_bytes_per_entry']:.1f}; "
              f"N={m['entries']})")

    # Targets (ratios within a boot).  Paired ratios decide where both sides
    # run in one round (the same workload), the median over the boots of
    # the ratio within each for get_1m against get_1k; the ratio of the
    # pooled medians is printed beside them.
    def ratio(a, b):
        return med[a] / med[b] if a in med and b in med and med[b] else None

    # Each target for the default map and for the rcu_get one.
    targets = []
    for lm in LOCKMAPS:
        for t in (1, 2):
            targets.append(
                (f'get_hit {lm} >= 0.8x rhashtable ({t} thr)',
                 ('get_hit', lm, t), ('get_hit', 'rhashtable', t), 0.8))
        for t in (1, 2):
            targets.append(
                (f'entry_update {lm} >= 0.67x striped_mutex ({t} thr)',
                 ('entry_update', lm, t), ('entry_update', 'striped_mutex', t),
                 0.67))
        targets += [
            (f'mixed_90_10 {lm} 2 threads >= 1.7x 1 thread',
             ('mixed_90_10', lm, 2), ('mixed_90_10', lm, 1), 1.7),
            (f'mixed_90_10 {lm} >= 1.5x global_mutex (2 thr)',
             ('mixed_90_10', lm, 2), ('mixed_90_10', 'global_mutex', 2), 1.5),
        ]
        for t in (1, 2):
            targets.append(
                (f'get_1m {lm} >= 0.6x get_1k ({t} thr)',
                 ('get_1m', lm, t), ('get_1k', lm, t), 0.6))
    tdetail = []
    print('\ntargets: the median of the ratios of two runs of one round of '
          'one boot (over\nevery boot); in brackets the ratio of the '
          'medians; per boot, that ratio in\neach boot:')
    def per_boot(a, b):
        """The target's ratio within each boot, for the spread."""
        out = []
        for boot in range(boots):
            ra = [r['ops_per_sec'] for r in runs.get(a, [])
                  if r['boot'] == boot]
            rb = [r['ops_per_sec'] for r in runs.get(b, [])
                  if r['boot'] == boot]
            if ra and rb:
                out.append(statistics.median(ra) / statistics.median(rb))
        return out

    for name, a, b, want in targets:
        mval = ratio(a, b)
        spread = per_boot(a, b)
        # Two workloads run minutes apart: their ratio within each boot.
        val = (paired(a, b) if a[0] == b[0] else
               statistics.median(spread) if spread else mval)
        met = val is not None and val >= want
        tdetail.append({'target': name, 'value': val,
                        'ratio_of_medians': mval, 'per_boot': spread,
                        'met': met})
        print(f"  {'met   ' if met else 'MISSED'} {name}: "
              f"{'n/a' if val is None else f'{val:.2f}x'}"
              f"{'' if mval is None else f' [{mval:.2f}x]'}"
              + (' per boot ' + ', '.join(f'{x:.2f}' for x in spread)
                 if boots > 1 and spread else ''))
    for impl, lim in (('lockmap', 96), ('lockmap_rcu', 96), ('lru', 112),
                      ('lru_rcu', 112)):
        val = mem_detail.get(impl, {}).get('bytes_per_entry')
        met = val is not None and val <= lim
        name = f'{impl} <= {lim} bytes per entry'
        tdetail.append({'target': name, 'value': val, 'met': met})
        print(f"  {'met   ' if met else 'MISSED'} {name}: "
              f"{'n/a' if val is None else f'{val:.1f}'}")
    if mem_detail:
        print('  (results.json bytes_per_entry: lockmap and lru, the '
              'default maps; the\n  rcu_get ones are in detail.memory)')
    if args.mode == 'smoke':
        print('  (smoke run: tiny key sets and 20 ms runs; '
              'the ratios mean little)')

    # Checks.
    checks = []
    missing = [f'{w}/{i}/{t}' for w, impls in WORKLOADS.items()
               for i in impls for t in THREADS if (w, i, t) not in runs]
    checks.append(('bench produced every workload, impl and thread count',
                   not missing, ', '.join(missing[:10])))
    want_runs = int(start.get('runs', 1) or 1) * boots
    short = [f'{w}/{i}/{t}' for (w, i, t), v in runs.items()
             if len(v) < want_runs]
    checks.append((f'bench ran each {want_runs} times', not short and runs,
                   ', '.join(short[:10])))
    bad = [f'{w}/{i}/{t}' for (w, i, t), v in runs.items()
           if any(x['misses'] for x in v)]
    checks.append(('bench operations never failed or missed', not bad,
                   ', '.join(bad[:10])))
    checks.append(('bench measured bytes per entry of lockmap and lru',
                   set(bpe) == {'lockmap', 'lru'}, ''))
    checks.append(('bench module finished without error',
                   all(d and d.get('status') == '0' and d.get('errors') == '0'
                       for d in dones), str(dones)))
    checks.append(('bench guest powered off', finished, ''))
    print()
    for name, ok, why in checks:
        print(f"bench-check: {'ok' if ok else 'FAIL'} {name}"
              f"{'' if ok or not why else ' (' + why + ')'}")

    if args.json:
        out = {
            'kernel': start.get('kernel', ''),
            'cpus': cpus,
            'runs': want_runs,             # in all, over every boot
            'results': [{'workload': w, 'impl': i, 'threads': t,
                         'ops_per_sec': float(med[(w, i, t)])}
                        for w, impls in WORKLOADS.items() for t in THREADS
                        for i in impls if (w, i, t) in med],
            'bytes_per_entry': bpe,
            'detail': {
                'mode': args.mode,
                'boots': boots,
                'duration_ms': int(start.get('duration_ms', 0)),
                'runs': {f'{w}/{i}/{t}': [x['ops_per_sec'] for x in v]
                         for (w, i, t), v in sorted(runs.items())},
                'host_note': 'other guests and builds share the 2 host '
                             'cores; see the run.sh output for the load',
                'memory': mem_detail,
                'targets': tdetail,
            },
        }
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=1)
            f.write('\n')
        print(f'wrote {args.json}')
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == '__main__':
    sys.exit(main())
