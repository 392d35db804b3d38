#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Snapshots and log compaction in a three-server Cheetah ensemble
(issue 9, part 2 "Snapshots").

Why: an ensemble member used to keep its whole log, on disk and in
memory, and rebuild its tree from it at start.  With a small snapCount,
every member must take snapshots as it applies writes, drop its in-memory
log below them (the count of entries it holds stays bounded while the
writes go on), and a restarted member must start from its newest snapshot,
replay only the log after it, and hold the same tree as the others.
autopurge (first run at start) then deletes snapshots beyond
snapRetainCount.  A member killed while the others write past several
snapshots comes back with its stale disk: the leader streams its snapshot
(RAFT_MSG_SNAP + snap_stream chunks), the member stores it and stops (a
live install is not supported yet), and once restarted it loads it and
holds the same tree as the others.
Cheetah only: it reads Cheetah's log lines and files.
Every wait is bounded; every process is stopped at the end.

    test_ensemble_snap.py --server cheetah --cheetah-bin build/cheetah
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import log, wait_until  # noqa: E402
from test_ensemble import Loopback, CONFIG, WAIT, retry, tree_of  # noqa: E402
import test_ensemble  # noqa: E402

SNAP_COUNT = 100
WRITES = 1500
LAG_WRITES = 600
SNAP_RE = re.compile(r'ensemble: snapshot 0x[0-9a-f]+ covers index (\d+) .*'
                     r'log in memory: (\d+) entries \((\d+)\.\.(\d+)\)')
OPEN_RE = re.compile(r'snapshot at index (\d+), (\d+) log entries after it')


def log_files(s):
    """The first index of each of s's log files (log.<first index, hex>)."""
    d = os.path.join(s.data_dir, 'cheetah-1')
    names = os.listdir(d) if os.path.isdir(d) else []
    return sorted(int(n[4:], 16) for n in names if re.fullmatch(r'log\.[0-9a-f]{16}', n))


def snap_files(s):
    d = os.path.join(s.data_dir, 'cheetah-1')
    names = os.listdir(d) if os.path.isdir(d) else []
    return (sorted(n for n in names if re.fullmatch(r'snapshot\.[0-9a-f]{16}', n)),
            sorted(n for n in names if re.fullmatch(r'ensmeta\.[0-9a-f]{16}', n)))


def main():
    args = harness.arg_parser(__doc__).parse_args()
    if args.server != 'cheetah':
        log('cheetah only (its log lines and snapshot files)')
        return 0
    test_ensemble.CONFIG.update({'snapCount': SNAP_COUNT,
                                 'autopurge.purgeInterval': 1,
                                 'autopurge.snapRetainCount': 3})
    assert CONFIG['snapCount'] == SNAP_COUNT
    lb = Loopback(args)
    state = {}

    def t_snapshots_bound_the_log():
        lb.start()
        state['leader'] = lb.leader()
        c = lb.client([state['leader']])
        try:
            c.create('/s', b'')
            for k in range(WRITES):
                retry(lambda: c.create('/s/k%04d' % k, b'v%d' % k), 'create %d' % k)
        finally:
            c.stop()
            c.close()

        def snapped(s):
            found = SNAP_RE.findall(s.read_log())
            return found if len(found) >= 5 else None
        for i, s in lb.servers.items():
            found = wait_until(lambda: snapped(s), WAIT, 'server %d to snapshot 5 times' % i)
            _, held, first, last = (int(x) for x in found[-1])
            log('server %d: %d snapshots; log in memory %d entries (%d..%d)' % (
                i, len(found), held, first, last))
            # One entry per synchronous write: without compaction it would hold them all.
            assert last >= 5 * SNAP_COUNT // 2, (last, s.log_tail(5))
            assert first > 1 and held <= 4 * SNAP_COUNT, (held, s.log_tail(5))
            snaps, metas = snap_files(s)
            assert len(snaps) >= 5 and set(m[8:] for m in metas) <= set(x[9:] for x in snaps), \
                (snaps, metas)

    def t_restart_from_snapshot():
        leader = lb.leader()
        f = [i for i in lb.servers if i != leader][0]
        s = lb.servers[f]
        s.stop_clean()
        s.start(wait=False)
        s.wait_ready(WAIT)
        lb.leader()
        m = OPEN_RE.findall(s.read_log())
        assert m, s.log_tail(20)
        base, after = (int(x) for x in m[-1])
        log('server %d restarted from the snapshot at index %d, %d log entries after it'
            % (f, base, after))
        assert base > WRITES - 4 * SNAP_COUNT, (base, s.log_tail(20))
        assert after <= 4 * SNAP_COUNT, (after, s.log_tail(20))
        # autopurge runs at start: snapRetainCount snapshots stay (plus one the
        # replay after the restart may have taken), their metas, and the log
        # files from the oldest one's base on.
        wait_until(lambda: 'snapdir: purged' in s.read_log().split('snapshot at index')[-1],
                   WAIT, 'autopurge on server %d' % f)
        snaps, metas = snap_files(s)
        logs = [n for n in os.listdir(os.path.join(s.data_dir, 'cheetah-1'))
                if n.startswith('log.')]
        log('after autopurge: %d snapshots, %d metas, %d log files' % (
            len(snaps), len(metas), len(logs)))
        assert len(snaps) <= 4 and len(metas) <= 4 and len(logs) <= 6, (snaps, metas, logs)
        cs = {i: lb.client([i]) for i in lb.servers}
        try:
            retry(lambda: cs[f].create('/s/after', b'a'), 'create on the restarted one')
            trees = {}
            for i, c in cs.items():
                retry(lambda: c.sync('/s'), 'sync on server %d' % i)
                trees[i] = tree_of(c, '/s')
            ref = trees[leader]
            assert len(ref) == WRITES + 2, len(ref)
            for i, t in trees.items():
                assert t == ref, 'server %d differs from %d: %r' % (
                    i, leader, sorted(set(t.items()) ^ set(ref.items()))[:6])
        finally:
            for c in cs.values():
                c.stop()
                c.close()

    def t_lagging_member_gets_the_snapshot():
        leader = lb.leader()
        f = [i for i in lb.servers if i != leader][-1]
        s = lb.servers[f]
        s.kill9()
        c = lb.client([leader])
        try:
            c.create('/s2', b'')
            for k in range(LAG_WRITES):
                retry(lambda: c.create('/s2/k%04d' % k, b'w%d' % k), 'create %d' % k)
        finally:
            c.stop()
            c.close()
        # The leader compacted past what the stale member holds: it streams
        # its snapshot; the member stores it, and stops to load it.
        s.start(wait=False)
        wait_until(lambda: not s.alive(), WAIT, 'server %d to install and stop' % f)
        text = s.read_log()
        assert "installed the leader's snapshot at index" in text, s.log_tail(20)
        m = re.findall(r"installed the leader's snapshot at index (\d+)", text)
        installed = int(m[-1])
        log('server %d installed the snapshot at index %d' % (f, installed))
        # The install discarded the whole log, the entry at the base too:
        # kept, its term may be another than the snapshot's (a deposed
        # leader's), and the log refuses appends whose term decreases.
        assert log_files(s) == [], (log_files(s), s.log_tail(20))
        # (its "sent to" line may not come: the member may stop before its
        # last ack leaves; the leader then gives up and probes again.  On a
        # loaded machine the leadership may have moved meanwhile: whichever
        # member led sent it.)
        sent = re.compile(r'sending the snapshot at index %d \(.*\) to server %d' % (
            installed, f))
        assert any(sent.search(o.read_log()) for i, o in lb.servers.items() if i != f), \
            lb.servers[leader].log_tail(20)
        s.start(wait=False)
        s.wait_ready(WAIT)
        lb.leader()
        m = OPEN_RE.findall(s.read_log())
        assert m and int(m[-1][0]) >= installed, s.log_tail(20)
        cs = {i: lb.client([i]) for i in lb.servers}
        try:
            retry(lambda: cs[f].create('/s2/after', b'a'), 'create on the restarted one')
            # It continued from base + 1: its log starts after the snapshot.
            firsts = log_files(s)
            assert firsts and firsts[0] > installed, (firsts, installed)
            trees = {}
            for i, cl in cs.items():
                retry(lambda: cl.sync('/'), 'sync on server %d' % i)
                trees[i] = dict(tree_of(cl, '/s'), **tree_of(cl, '/s2'))
            ref = trees[leader]
            assert len(ref) == WRITES + 2 + LAG_WRITES + 2, len(ref)
            for i, t in trees.items():
                assert t == ref, 'server %d differs from %d: %r' % (
                    i, leader, sorted(set(t.items()) ^ set(ref.items()))[:6])
        finally:
            for cl in cs.values():
                cl.stop()
                cl.close()

    tests = [
        ('snapshots bound the log', t_snapshots_bound_the_log),
        ('restart from a snapshot', t_restart_from_snapshot),
        ('a lagging member gets the snapshot', t_lagging_member_gets_the_snapshot),
    ]
    try:
        rc = harness.run_tests(tests, args, servers=list(lb.servers.values()))
    finally:
        for s in lb.servers.values():
            s.cleanup()
    return rc


if __name__ == '__main__':
    sys.exit(main())
