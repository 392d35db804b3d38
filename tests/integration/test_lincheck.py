#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Unit tests of lincheck.py with synthetic histories: linearizable ones
(overlapping writes, unknown outcomes, conditional sets racing) must pass,
known violations (stale read after an acknowledged write, a lost
acknowledged write, a version going back, a conditional set succeeding
against a replaced version, a non-monotonic plain read) must be caught
with a short counterexample, and the step bound must answer 'undecided'.

    test_lincheck.py [--only NAME]
"""
import argparse
import os
import random
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lincheck as L  # noqa: E402
from lincheck import Op  # noqa: E402

K = '/k'


def create(c, r, data, out=L.OK, s=1):
    return Op('create', K, c, r, out, data=data, session=s)


def set_(c, r, data, out=L.OK, expect=-1, ver=None, s=1):
    return Op('set', K, c, r, out, data=data, expect=expect, result=ver, session=s)


def delete(c, r, out=L.OK, expect=-1, s=1):
    return Op('delete', K, c, r, out, expect=expect, session=s)


def read(c, r, data=None, ver=None, s=2, absent=False):
    return Op('read', K, c, r, L.OK, result=None if absent else (data, ver), session=s)


def must_pass(ops, **kw):
    r = L.check_key(ops, **kw)
    assert r.verdict == 'ok', r.report()


def must_fail(ops, max_window=None, **kw):
    r = L.check_key(ops, **kw)
    assert r.verdict == 'violation', 'expected a violation, got ' + r.report()
    assert r.window, 'no counterexample window'
    if max_window is not None:
        assert len(r.window) <= max_window, 'window too long:\n' + r.report()
    return r


def t_sequential():
    must_pass([create(0, 1, b'a'), read(2, 3, b'a', 0), set_(4, 5, b'b', ver=1),
               read(6, 7, b'b', 1), delete(8, 9), read(10, 11, absent=True),
               create(12, 13, b'c'), read(14, 15, b'c', 0)])


def t_concurrent_writes():
    # two overlapping sets: either order is fine, reads pin one
    must_pass([create(0, 1, b'a'),
               set_(2, 10, b'x', s=1), set_(3, 9, b'y', s=3),
               read(11, 12, b'x', 2)])
    must_pass([create(0, 1, b'a'),
               set_(2, 10, b'x', s=1), set_(3, 9, b'y', s=3),
               read(11, 12, b'y', 2)])
    # a read overlapping a set may see either value
    must_pass([create(0, 1, b'a'), set_(2, 10, b'x'), read(3, 4, b'a', 0),
               read(5, 6, b'x', 1), read(7, 8, b'x', 1)])


def t_unknown_outcomes():
    # a write whose reply was lost may have happened...
    must_pass([create(0, 1, b'a'), set_(2, None, b'x', out=L.UNKNOWN),
               read(5, 6, b'x', 1)])
    # ... or not
    must_pass([create(0, 1, b'a'), set_(2, None, b'x', out=L.UNKNOWN),
               read(5, 6, b'a', 0)])
    # ... even much later (its response time is infinity)
    must_pass([create(0, 1, b'a'), set_(2, None, b'x', out=L.UNKNOWN),
               read(5, 6, b'a', 0), read(50, 60, b'x', 1)])
    # an unknown create then a NODEEXISTS create
    must_pass([create(0, None, b'a', out=L.UNKNOWN),
               create(3, 4, b'b', out=L.NODEEXISTS), read(5, 6, b'a', 0)])
    # but it cannot happen before its invocation
    must_fail([create(0, 1, b'a'), read(2, 3, b'x', 1),
               set_(4, None, b'x', out=L.UNKNOWN)], max_window=3)


def t_conditional():
    # two conditional sets on version 0, concurrent: one wins, one BADVERSION
    must_pass([create(0, 1, b'a'),
               set_(2, 6, b'x', expect=0, ver=1, s=1),
               set_(3, 5, b'y', expect=0, out=L.BADVERSION, s=3),
               read(7, 8, b'x', 1)])
    # a BADVERSION against the current version is impossible
    must_fail([create(0, 1, b'a'), set_(2, 3, b'y', expect=0, out=L.BADVERSION)],
              max_window=2)


def t_stale_read():
    # acknowledged set then a sync+read that sees the old value
    r = must_fail([create(0, 1, b'a'), set_(2, 3, b'b', ver=1),
                   read(4, 5, b'a', 0)], max_window=3)
    assert any(o.kind == 'read' for o in r.window)


def t_lost_write():
    # an acknowledged create then reads see the node missing
    must_fail([create(0, 1, b'a'), read(2, 3, absent=True)], max_window=2)
    # an acknowledged set vanishes: the version never reaches it
    must_fail([create(0, 1, b'a'), set_(2, 3, b'b', ver=1), set_(4, 5, b'c', ver=1)],
              max_window=3)


def t_version_back():
    must_fail([create(0, 1, b'a'), set_(2, 3, b'b'), set_(4, 5, b'c'),
               read(6, 7, b'c', 2), read(8, 9, b'b', 1)], max_window=3)


def t_cas_stale():
    # after an acknowledged set to version 1, a conditional set expecting
    # version 0 succeeds: the classic lost update
    must_fail([create(0, 1, b'a'), set_(2, 3, b'b', ver=1),
               set_(4, 5, b'c', expect=0, ver=1)], max_window=3)


def t_window_is_short():
    # a long valid history, then one stale read: the window is short
    ops = [create(0, 1, b'v0')]
    t = 2
    for i in range(1, 60):
        ops.append(set_(t, t + 1, b'v%d' % i, ver=i))
        ops.append(read(t + 2, t + 3, b'v%d' % i, i))
        t += 4
    ops.append(read(t, t + 1, b'v57', 57))
    r = must_fail(ops, max_window=4)
    assert r.window[-1].result == (b'v57', 57), r.report()


def t_random_linearizable():
    # simulated linearizable executions: random overlapping intervals
    # around an atomic point, random lost replies
    rng = random.Random(7)
    for trial in range(60):
        state = L.ABSENT
        ops = []
        t = 0.0
        for _ in range(rng.randint(5, 18)):
            t += rng.random()
            point = t
            call = point - rng.random() * 3
            ret = point + rng.random() * 3
            kind = rng.choice(['create', 'set', 'cas', 'delete', 'read', 'read'])
            ex, data, ver = state
            if kind == 'create':
                o = Op('create', K, call, ret, L.NODEEXISTS if ex else L.OK,
                       data=b'%d' % len(ops))
                if not ex:
                    state = (True, o.data, 0)
            elif kind in ('set', 'cas'):
                expect = -1 if kind == 'set' else rng.choice([0, 1, 2, 3])
                d = b'%d' % len(ops)
                if not ex:
                    o = Op('set', K, call, ret, L.NONODE, data=d, expect=expect)
                elif expect not in (-1, ver):
                    o = Op('set', K, call, ret, L.BADVERSION, data=d, expect=expect)
                else:
                    o = Op('set', K, call, ret, L.OK, data=d, expect=expect,
                           result=ver + 1)
                    state = (True, d, ver + 1)
            elif kind == 'delete':
                o = Op('delete', K, call, ret, L.OK if ex else L.NONODE)
                state = L.ABSENT
            else:
                o = Op('read', K, call, ret, L.OK,
                       result=(data, ver) if ex else None)
            if o.kind != 'read' and o.outcome == L.OK and rng.random() < 0.15:
                o.outcome, o.ret, o.result = L.UNKNOWN, L.INF, None
            ops.append(o)
        r = L.check_key(ops)
        assert r.verdict == 'ok', 'trial %d:\n%s' % (trial, r.report())


def t_undecided():
    # many concurrent writes of distinct values, no reads to pin them,
    # and a final read of a value nobody wrote: a tiny budget cannot
    # decide it
    ops = [create(0, 1, b'a')]
    for i in range(10):
        ops.append(set_(2 + i * 0.01, 100, b'%d' % i, s=10 + i))
    ops.append(read(101, 102, b"zz", 11))
    r = L.check_key(ops, max_steps=50)
    assert r.verdict == 'undecided', r.report()
    r = L.check_key(ops)
    assert r.verdict == 'violation', r.report()


def t_monotonic():
    ev = [(1, K, 5, 'read'), (1, K, 7, 'read'), (2, K, 3, 'read'),
          (1, K, 7, 'read'), (1, K, None, 'read NONODE')]
    assert L.check_session_monotonic(ev) == []
    ev.append((1, K, 6, 'read'))
    bad = L.check_session_monotonic(ev)
    assert len(bad) == 1 and '0x6' in bad[0], bad


def t_bad_input():
    for bad in (lambda: Op('frob', K, 0, 1, L.OK),
                lambda: Op('set', K, 0, 1, 'maybe'),
                lambda: Op('set', K, 5, 1, L.OK),
                lambda: Op('read', K, 0, None, L.UNKNOWN)):
        try:
            bad()
        except ValueError:
            continue
        raise AssertionError('bad op accepted')


TESTS = [(n[2:], f) for n, f in sorted(globals().items()) if n.startswith('t_')]


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--only', action='append', default=[])
    args = p.parse_args()
    failed = []
    for name, fn in TESTS:
        if args.only and name not in args.only:
            continue
        t0 = time.monotonic()
        try:
            fn()
            print('ok    %-28s %.2fs' % (name, time.monotonic() - t0), flush=True)
        except Exception:
            failed.append(name)
            print('FAIL  %s' % name, flush=True)
            traceback.print_exc(file=sys.stdout)
    print('%d failed%s' % (len(failed), (': ' + ', '.join(failed)) if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
