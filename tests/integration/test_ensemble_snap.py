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
snapRetainCount.  A member paused (SIGSTOP, its clients connected) or
killed while the others write past several snapshots comes back behind
the leader's compacted log: the leader streams its snapshot (RAFT_MSG_SNAP
+ snap_stream chunks), the member stores it and installs it live (no exit,
no restart: ZooKeeper's followers load a SNAP sync live), closes its
clients' connections, catches up and serves again with the same tree as
the others; sessions, their ephemerals and watches survive, a session
closed meanwhile has lost its ephemeral.
Cheetah only: it reads Cheetah's log lines and files.
Every wait is bounded; every process is stopped at the end.

    test_ensemble_snap.py --server cheetah --cheetah-bin build/cheetah
"""
import os
import re
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import log, wait_until  # noqa: E402
from kazoo.exceptions import KazooException  # noqa: E402
from test_ensemble import Loopback, CONFIG, WAIT, retry, tree_of  # noqa: E402
import test_ensemble  # noqa: E402

SNAP_COUNT = 100
WRITES = 1500
LAG_WRITES = 600
BUSY_WRITES = 400  # on the leader while the paused member installs
BIG_NODES, BIG_DATA = 40, 100 << 10  # a snapshot of more than 4 MB
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
                                 # a session survives the paused member
                                 'maxSessionTimeout': 120000,
                                 # two workers: both must switch trees
                                 'cheetah.dataplane.cores': '0,1',
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

    def lag_and_catch_up(f, name, pause, resume, extra_checks=None):
        """Member f misses LAG_WRITES > 2 x snapCount writes (pause()), so
        that the leader compacted past what it holds; resume() brings it
        back.  It must receive the leader's snapshot, install it live (no
        exit, no restart), catch up and then serve: same tree on every
        member, ephemerals of live sessions kept, of a closed one gone."""
        leader = lb.leader()
        s = lb.servers[f]
        before = len(re.findall(r"installed the leader's snapshot at index \d+ .* live",
                                s.read_log()))
        ck = lb.client([leader])
        gone = lb.client([leader])
        try:
            ck.create('/%s-keep' % name, b'k', ephemeral=True)
            gone.create('/%s-gone' % name, b'g', ephemeral=True)
            pause()
            ck.create('/%s' % name, b'')
            for k in range(LAG_WRITES):
                retry(lambda: ck.create('/%s/k%04d' % (name, k), b'w%d' % k), 'create %d' % k)
            gone.stop()
            gone.close()  # its ephemeral goes while f is away
            # (the leader compacted past f: else it would not send a snapshot)
            resume()
            # (loaded on the loader thread while the core followed its
            # leader: the core itself was held only for the swap)
            pat = (r"installed the leader's snapshot at index (\d+) \(zxid 0x[0-9a-f]+, tree at "
                   r"0x[0-9a-f]+, \d+ znodes, \d+ sessions\) live in (\d+) ms \(loaded off "
                   r"the broadcast thread; the swap took (\d+) us; (\d+) entries kept meanwhile\)")

            def installed():
                m = re.findall(pat, s.read_log())
                return m if len(m) > before else None
            m = wait_until(installed, WAIT, 'server %d to install the snapshot live' % f)
            index, ms, swap_us, kept = (int(v) for v in m[-1])
            wait_until(lambda: 'caught up with its leader' in s.read_log().split(
                "installed the leader's snapshot")[-1], WAIT, 'server %d to catch up' % f)
            assert s.alive(), s.log_tail(20)
            text = s.read_log()
            assert 'restart this server to load it' not in text, s.log_tail(20)
            log('server %d installed the snapshot at index %d live (load %d ms, swap %d us, '
                '%d entries received during the load) and caught up'
                % (f, index, ms, swap_us, kept))
            # (on a loaded machine the leadership may have moved meanwhile:
            # whichever member led sent it)
            sent = re.compile(r'sending the snapshot at index %d \(.*\) to server %d' % (
                index, f))
            assert any(sent.search(o.read_log()) for i, o in lb.servers.items() if i != f), \
                lb.servers[leader].log_tail(20)
            # The install discarded the whole log, the entry at the base too
            # (its term may be another than the snapshot's): the log goes
            # on from base + 1.
            assert all(x > index for x in log_files(s)), (log_files(s), index)
            # Both workers switch (one line each per install, when each next
            # drains its ring), then the old tree is freed.  (With writes
            # going on, the leader may have compacted past the installed
            # snapshot before the member's first ack: a second install.)
            for w in (0, 1):
                wait_until(lambda: len(re.findall(r'worker %d reads the tree installed' % w,
                                                  s.read_log())) > before,
                           WAIT, 'worker %d of server %d to switch trees' % (w, f))
            wait_until(lambda: len(re.findall(r'repl: freed \d+ replaced tree',
                                              s.read_log())) > before,
                       WAIT, 'server %d to free its old tree' % f)
            sid = ck.client_id[0]
            cs = {i: lb.client([i]) for i in lb.servers}
            try:
                retry(lambda: cs[f].create('/%s/after' % name, b'a'),
                      'create on the member that installed')
                trees = {}
                for i, cl in cs.items():
                    retry(lambda: cl.sync('/'), 'sync on server %d' % i)
                    trees[i] = dict(tree_of(cl, '/s'), **tree_of(cl, '/' + name))
                    st = cl.exists('/%s-keep' % name)
                    assert st and st.ephemeralOwner == sid, (i, st)
                    assert cl.exists('/%s-gone' % name) is None, i
                ref = trees[leader]
                assert len(ref) == WRITES + 2 + LAG_WRITES + 2, len(ref)
                for i, t in trees.items():
                    assert t == ref, 'server %d differs from %d: %r' % (
                        i, leader, sorted(set(t.items()) ^ set(ref.items()))[:6])
                if extra_checks:
                    extra_checks(cs)
            finally:
                for cl in cs.values():
                    cl.stop()
                    cl.close()
        finally:
            for cl in (ck, gone):
                cl.stop()
                cl.close()
        return index

    def t_paused_member_installs_live():
        # SIGSTOP: the member comes back with its clients still connected;
        # their connections are closed at the install, and a session with
        # its ephemeral lives on through the reconnection; watches work.
        leader = lb.leader()
        f = [i for i in lb.servers if i != leader][-1]
        s = lb.servers[f]
        cf = lb.client([f], timeout=60.0)
        fired = []
        # Reads on the member all along, racing with the tree's replacement
        # (under the sanitizer build a read of the freed tree would abort).
        rd = lb.client([f])
        stop = threading.Event()
        reads = {'ok': 0, 'after': 0}

        def reader():
            while not stop.is_set():
                try:
                    rd.get_children('/s')
                    rd.get('/s')
                    reads['ok'] += 1
                    if 'caught up with its leader' in s.read_log():
                        reads['after'] += 1
                except KazooException:
                    stop.wait(0.01)  # (connection loss: kazoo reconnects)
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        # Writes on the leader all along the install: the member receives
        # appends while its snapshot loads on the loader thread, keeps them
        # unacknowledged and writes them after the swap (install_defer):
        # every member must end with the same /p-busy.
        wr = lb.client([leader])
        wr.ensure_path('/p-busy')
        wstop = threading.Event()
        writes = {'tried': 0}

        def writer():
            # (bounded: with snapCount 100 every member snapshots every 100)
            while not wstop.is_set() and writes['tried'] < BUSY_WRITES:
                writes['tried'] += 1
                try:
                    wr.create('/p-busy/w%06d' % writes['tried'], b'b')
                except KazooException:
                    wstop.wait(0.01)  # (a leader change: the next name, a new try)
        wth = threading.Thread(target=writer, daemon=True)
        try:
            # Large nodes: the snapshot spans many 256 KiB chunks (each
            # pread by the leader, pwritten at its offset by the member).
            for k in range(BIG_NODES):
                retry(lambda: wr.create('/p-big/b%02d' % k, bytes([k]) * BIG_DATA,
                                        makepath=True), 'big create %d' % k)
            cf.create('/p-mine', b'm', ephemeral=True)
            sid = cf.client_id[0]

            def pause():
                s.proc.send_signal(signal.SIGSTOP)

            def resume():
                # the watched node appears while the member is away
                cl = lb.client([leader])
                try:
                    cl.create('/p-watched', b'w')
                finally:
                    cl.stop()
                    cl.close()
                wth.start()
                s.proc.send_signal(signal.SIGCONT)

            def checks(cs):
                # kazoo reconnected to the member (its only host) and kept its
                # session.  (kazoo hands a one-shot watcher the connection
                # loss event and forgets it, on ZooKeeper too: the watch set
                # before is gone.)  A watch set on the installed tree fires
                # for a change committed afterwards.
                wstop.set()
                wth.join(WAIT)
                busy = {}
                for i, cl in cs.items():
                    retry(lambda: cl.sync('/p-busy'), 'sync on server %d' % i)
                    busy[i] = tree_of(cl, '/p-busy')
                assert len(busy[leader]) > 1, 'no write during the install'
                for i, t in busy.items():
                    assert t == busy[leader], 'server %d: /p-busy differs (%d, %d nodes)' % (
                        i, len(t), len(busy[leader]))
                log('%d writes during the install, the same on every member'
                    % (len(busy[leader]) - 1))
                big = {i: tree_of(cl, '/p-big') for i, cl in cs.items()}
                assert all(t == big[leader] and len(t) == BIG_NODES + 1
                           for t in big.values()), {i: len(t) for i, t in big.items()}
                got = [int(n) for n in re.findall(
                    r"received the leader's snapshot at index \d+ \(zxid 0x[0-9a-f]+, (\d+) "
                    r"bytes\)", s.read_log())]
                assert got and got[-1] > BIG_NODES * BIG_DATA, got
                log('the member received a snapshot of %d bytes (%d chunks of 256 KiB)'
                    % (got[-1], (got[-1] + 4 + (256 << 10) - 1) // (256 << 10)))
                wait_until(lambda: cf.connected and cf.client_id[0] == sid, WAIT,
                           'the paused member\'s client to reconnect')
                for i, cl in cs.items():
                    st = cl.exists('/p-mine')
                    assert st and st.ephemeralOwner == sid, (i, st)
                fired.clear()
                data, _ = retry(lambda: cf.get('/p-watched', watch=lambda ev: fired.append(ev)),
                                'read and watch on the member')
                assert data == b'w', data
                cs[leader].set('/p-watched', b'w2')
                changed = lambda: [e for e in fired if e.type != 'NONE']  # noqa: E731
                wait_until(changed, WAIT, 'the watch set on the installed tree to fire')
                assert [(e.type, e.path) for e in changed()] == [('CHANGED', '/p-watched')], \
                    fired
                assert retry(lambda: cf.get('/p-mine'), 'read on the member')[0] == b'm'
            lag_and_catch_up(f, 'p', pause, resume, checks)
            assert s.alive()
            wait_until(lambda: reads['after'] > 0, WAIT, 'reads on the member after the install')
            log('reads on the member during the test: %d (%d after it caught up)'
                % (reads['ok'], reads['after']))
        finally:
            stop.set()
            wstop.set()
            th.join(WAIT)
            if wth.is_alive():
                wth.join(WAIT)
            for cl in (cf, rd, wr):
                cl.stop()
                cl.close()

    def t_killed_member_installs_live():
        # kill -9, then a restart: it loads its own (stale) snapshot at
        # start, then installs the leader's live, without a second restart.
        leader = lb.leader()
        f = [i for i in lb.servers if i != leader][0]
        s = lb.servers[f]

        def resume():
            s.start(wait=False)
        index = lag_and_catch_up(f, 'q', s.kill9, resume)
        # What the live install left on disk (the snapshot, its meta, a log
        # from base + 1 on) is a state it restarts from.
        s.stop_clean()
        s.start(wait=False)
        s.wait_ready(WAIT)
        leader = lb.leader()
        m = OPEN_RE.findall(s.read_log())
        assert m and int(m[-1][0]) >= index, (index, s.log_tail(20))
        cs = {i: lb.client([i]) for i in (f, leader)}
        try:
            trees = {}
            for i, cl in cs.items():
                retry(lambda: cl.sync('/'), 'sync on server %d' % i)
                trees[i] = tree_of(cl, '/q')
            assert trees[f] == trees[leader] and len(trees[f]) == LAG_WRITES + 2, \
                sorted(set(trees[f].items()) ^ set(trees[leader].items()))[:6]
        finally:
            for cl in cs.values():
                cl.stop()
                cl.close()
        log('server %d restarted after the live install, from the snapshot at index %s'
            % (f, m[-1][0]))

    tests = [
        ('snapshots bound the log', t_snapshots_bound_the_log),
        ('restart from a snapshot', t_restart_from_snapshot),
        ('a paused member installs the snapshot live', t_paused_member_installs_live),
        ('a killed member installs the snapshot live', t_killed_member_installs_live),
    ]
    try:
        rc = harness.run_tests(tests, args, servers=list(lb.servers.values()))
    finally:
        for s in lb.servers.values():
            s.cleanup()
    return rc


if __name__ == '__main__':
    sys.exit(main())
