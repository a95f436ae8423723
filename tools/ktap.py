#!/usr/bin/env python3
"""Summarise the KTAP (KUnit) results in a guest console log.

Why: KUnit prints its results into the kernel log, mixed with everything
else the console shows; this turns them into per-suite counts and totals.

Leaf cases are counted (a parameterised case counts each parameter).  A suite
that stops early (crash, missing results against its "1..N" plan), or a
parent that says "not ok" without any failing child, counts as one failure.
Timestamps ("[   12.345678] "), carriage returns and non-KTAP lines are
ignored.

Usage: tools/ktap.py LOG
Prints per-suite lines, failed cases (the first few with their diagnostics),
"ktap-case: ok|FAIL|SKIP NAME" for every case and for every other failure
(a suite cut short, say), and "ktap-totals: PASSED FAILED SKIPPED".
Exit status 1 when anything failed.
"""
import re
import sys

SHOW_DIAG = 5       # failures shown with their diagnostics
SHOW_NAMES = 20     # further failures shown by name
STAMP = re.compile(r'^\[\s*\d+\.\d+\] ?')
HEADER = re.compile(r'^( *)(?:K?TAP version \d+|# Subtest: (.*)|1\.\.(\d+))$')
RESULT = re.compile(r'^( *)(ok|not ok) \d+(?: -)?(?: ([^#]*?))?\s*'
                    r'(?:#\s*(\S+)?(.*))?$')


class Group:
    """An open KTAP (sub)test: results at `indent` belong to it."""

    def __init__(self, indent):
        self.indent = indent
        self.name = None
        self.plan = None
        self.count = 0
        self.fails = 0


class Report:
    def __init__(self):
        self.suites = {}        # name -> [passed, failed, skipped]
        self.order = []
        self.problems = []      # (name, diagnostic lines)
        self.cases = []         # (kind, name)

    def add(self, suite, kind, name, diag=()):
        if suite not in self.suites:
            self.suites[suite] = [0, 0, 0]
            self.order.append(suite)
        self.suites[suite][kind] += 1
        self.cases.append((kind, name))
        if kind == 1:
            self.problems.append((name, list(diag)))


def parse(lines):
    rep = Report()
    stack = []
    recent = []

    def suite_of():
        named = [g.name for g in stack if g.name]
        return named[0] if named else '(top level)'

    def fail(name, why):
        # KUnit's own diagnostics are indented; stack dumps are not.
        diag = [d for d in recent if d.startswith('    ')]
        rep.add(suite_of(), 1, name, [why] + diag[-12:])
        for g in stack:
            g.fails += 1

    def close(group, parent_status=None):
        name = '.'.join(g.name for g in stack + [group] if g.name)
        if group.indent == 0:   # top level: no result line of its own
            if group.plan is not None and group.plan != group.count:
                stack.append(group)
                fail(name or '(top level)', 'planned %d results, saw %d'
                     % (group.plan, group.count))
                stack.pop()
            return
        if parent_status is None:
            stack.append(group)   # report it inside its own suite
            fail(name or '?', 'incomplete: results stop here')
            stack.pop()
            return
        stack.append(group)
        if group.plan is not None and group.plan != group.count:
            fail(name, 'planned %d results, saw %d'
                 % (group.plan, group.count))
        elif parent_status == 'not ok' and group.fails == 0:
            fail(name, 'not ok without a failing case')
        stack.pop()

    for raw in lines:
        line = STAMP.sub('', raw.rstrip('\r\n')).rstrip()
        m = HEADER.match(line)
        if m:
            indent = len(m.group(1))
            while stack and stack[-1].indent > indent:
                close(stack.pop())
            top = stack[-1] if stack and stack[-1].indent == indent else None
            # A header the open group already has starts the next group
            # ("# Subtest" and "KTAP version" come in either order).
            if top and (top.count or top.plan is not None or
                        (m.group(2) is not None and top.name)):
                close(stack.pop())
                top = None
            if not top:
                stack.append(Group(indent))
            if m.group(2) is not None:
                stack[-1].name = m.group(2).strip()
            if m.group(3) is not None:
                stack[-1].plan = int(m.group(3))
            recent = []
            continue
        m = RESULT.match(line)
        if not m:
            recent.append(line)
            continue
        indent = len(m.group(1))
        status, name = m.group(2), (m.group(3) or '').strip()
        directive = (m.group(4) or '').upper()
        leaf = True
        while stack and stack[-1].indent > indent:
            child = stack.pop()
            leaf = False
            if stack and stack[-1].indent > indent:
                close(child)
            else:
                close(child, status)
        if stack and stack[-1].indent == indent:
            stack[-1].count += 1
        if leaf:
            full = '.'.join([g.name for g in stack if g.name] + [name])
            if directive in ('SKIP', 'TODO'):
                rep.add(suite_of(), 2, full)
            elif status == 'ok':
                rep.add(suite_of(), 0, full)
            else:
                fail(full, 'not ok')
        recent = []
    while stack:
        close(stack.pop())
    return rep


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], errors='replace') as log:
        rep = parse(log)
    totals = [0, 0, 0]
    for suite in rep.order:
        p, f, s = rep.suites[suite]
        totals = [totals[0] + p, totals[1] + f, totals[2] + s]
        print('  %-40s %4d passed, %d failed, %d skipped'
              % (suite, p, f, s))
    for i, (name, diag) in enumerate(rep.problems):
        if i == SHOW_DIAG + SHOW_NAMES:
            print('  ... and %d more failures' % (len(rep.problems) - i))
            break
        print('  FAIL %s%s' % (name, '' if i < SHOW_DIAG else ': ' + diag[0]))
        for d in diag if i < SHOW_DIAG else ():
            print('      | %s' % d)
    for kind, name in rep.cases:
        print('ktap-case: %s %s' % (('ok', 'FAIL', 'SKIP')[kind], name))
    print('ktap-totals: %d %d %d' % tuple(totals))
    sys.exit(1 if totals[1] else 0)


if __name__ == '__main__':
    main()
