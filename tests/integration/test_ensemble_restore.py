#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Restoring a whole three-server ensemble from one member's backup, the
way docs/OPERATIONS.md ("Running an ensemble: procedures", Backup) says.

Why: a backup is only worth what its restore gives back.  The test writes
persistent, sequential, ephemeral and ACL-protected nodes, copies one
running member's files as documented (backup()), writes more, stops every
server, wipes every data dir, puts the copy into all three (restore()),
starts the ensemble and checks that exactly the backed-up state is there:
every znode's data, Stat (czxid, mzxid, ctime, mtime, version, cversion,
aversion, ephemeralOwner, dataLength, numChildren, pzxid) and ACL, none of
the writes made after the copy; the ephemeral of a session that died with
the old ensemble is gone after its timeout, on every member; the members'
trees are equal; new writes (a sequential node continues the parent's
counter) work and reach every member.  The same script runs against
Apache ZooKeeper 3.8 (--server zookeeper), whose backup is its own
practice: the newest snapshot.<zxid> and the log.* files of version-2.
Every wait is bounded; every process is stopped and every directory
removed at the end.

    test_ensemble_restore.py --server cheetah --cheetah-bin build/cheetah
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import log, wait_until  # noqa: E402
from kazoo.security import make_acl, make_digest_acl  # noqa: E402
from test_ensemble import Loopback, WAIT, retry  # noqa: E402
import test_ensemble  # noqa: E402

SNAP_COUNT = 40       # snapshots during the test: the copy is a snapshot plus logs
EPH_TIMEOUT = 4.0     # s: the ephemeral owner's session timeout
BEFORE, AFTER = 150, 30


def subdir(s):
    """Where the server keeps its snapshots and logs (dataLogDir = dataDir)."""
    return os.path.join(s.data_dir, 'cheetah-1' if s.kind == 'cheetah' else 'version-2')


def backup(s, dst):
    """The documented backup of a running server: its newest snapshot
    (Cheetah: the newest snapshot.<zxid> that has its ensmeta.<zxid>),
    then every log.* file.  Returns the snapshot's name."""
    d = subdir(s)
    names = os.listdir(d)
    snaps = sorted(n for n in names if re.fullmatch(r'snapshot\.[0-9a-f]+', n))
    if s.kind == 'cheetah':
        snaps = [n for n in snaps if 'ensmeta.' + n[len('snapshot.'):] in names]
    assert snaps, names
    snap = max(snaps, key=lambda n: int(n[len('snapshot.'):], 16))
    os.makedirs(dst)
    shutil.copy2(os.path.join(d, snap), dst)
    if s.kind == 'cheetah':
        shutil.copy2(os.path.join(d, 'ensmeta.' + snap[len('snapshot.'):]), dst)
    logs = sorted(n for n in os.listdir(d) if re.fullmatch(r'log\.[0-9a-f]+', n))
    assert logs, names
    for n in logs:
        shutil.copy2(os.path.join(d, n), dst)
    log('backup of %s: %s and %d log files (%d bytes)' % (
        s.name, snap, len(logs), sum(os.path.getsize(os.path.join(dst, n))
                                     for n in os.listdir(dst))))
    return snap


def wipe(s):
    """Everything in the (stopped) server's data dir goes, myid too."""
    assert not s.alive()
    shutil.rmtree(s.data_dir)
    os.makedirs(s.data_dir)


def restore(s, src, myid):
    """The documented restore into a stopped server with an empty data dir:
    the copied files into the snapshot and log directory, and its myid."""
    d = subdir(s)
    os.makedirs(d)
    for n in os.listdir(src):
        shutil.copy2(os.path.join(src, n), d)
    with open(os.path.join(s.data_dir, 'myid'), 'w') as f:
        f.write('%d\n' % myid)


def snapshot_of(c, path):
    """{path: (data, stat tuple, acl list)} below path, ephemerals apart."""
    out = {}
    todo = [path]
    while todo:
        p = todo.pop()
        data, st = c.get(p)
        acls, _ = c.get_acls(p)
        out[p] = (data, st, sorted((a.perms, a.id.scheme, a.id.id) for a in acls))
        todo += [p.rstrip('/') + '/' + k for k in c.get_children(p)]
    return out


def main():
    args = harness.arg_parser(__doc__).parse_args()
    # (preAllocSize in KiB: log files of 64 MiB each would make a copy of
    # half a GB)
    test_ensemble.CONFIG.update({'snapCount': SNAP_COUNT, 'preAllocSize': 64})
    lb = Loopback(args)
    digest = make_digest_acl('admin', 'secret', all=True)
    world_read = make_acl('world', 'anyone', read=True)
    state = {}

    def t_backup():
        lb.start()
        leader = lb.leader()
        b = [i for i in lb.servers if i != leader][0]  # a follower's copy
        state['b'] = b
        c = lb.client([leader])
        eph = lb.client([leader], timeout=EPH_TIMEOUT)
        cb = lb.client([b])
        try:
            c.add_auth('digest', 'admin:secret')
            c.create('/r', b'root')
            c.create('/r/e', b'')
            for k in range(BEFORE):
                retry(lambda: c.create('/r/p%03d' % k, b'v%d' % k), 'create %d' % k)
            for k in range(0, BEFORE, 7):
                c.set('/r/p%03d' % k, b'set%d' % k)
                c.set('/r/p%03d' % k, b'set%d-2' % k)
            for k in range(0, BEFORE, 11):
                c.delete('/r/p%03d' % k)
            seqs = [c.create('/r/s-', b's%d' % k, sequence=True) for k in range(5)]
            c.create('/r/acl', b'secret data', acl=[digest, world_read])
            c.set('/r/acl', b'secret data 2')
            c.set_acls('/r/acl', [digest])
            eph.create('/r/e/eph', b'mine', ephemeral=True)
            state['eph_owner'] = eph.client_id[0]
            # What the backed-up member applied: everything above.
            cb.add_auth('digest', 'admin:secret')
            cb.sync('/r')
            state['want'] = snapshot_of(cb, '/r')
            state['seqs'] = seqs
            assert ('/r/e/eph' in state['want'] and
                    state['want']['/r/e/eph'][1].ephemeralOwner == state['eph_owner'])
            state['backup'] = os.path.join(lb.servers[b].base, 'backup')
            backup(lb.servers[b], state['backup'])
            # Writes after the copy: none of them may come back.
            c.create('/r/after', b'a')
            for k in range(1, BEFORE, 5):
                if k % 11:
                    c.set('/r/p%03d' % k, b'after')
            for k in range(2, AFTER):
                if k % 11:
                    c.delete('/r/p%03d' % k)
            c.create('/r/s-', b'after', sequence=True)
            c.set_acls('/r/acl', [world_read])
            cb.sync('/r')
            assert cb.exists('/r/after')
        finally:
            for x in (c, eph, cb):
                x.stop()
                x.close()
        # Every member down (clients gone: their sessions die with them).
        for s in lb.servers.values():
            s.stop_clean()

    def t_restore():
        src = state['backup']
        for i, s in lb.servers.items():
            wipe(s)
            restore(s, src, i)
        lb.start()
        leader = lb.leader()
        log('restored ensemble: leader %d' % leader)
        if args.server == 'cheetah':
            # (the copy holds no hardstate: each member takes its data's term)
            for i, s in lb.servers.items():
                assert 'starting in that term with no vote cast' in s.read_log(), \
                    s.log_tail(20)
        want = state['want']
        cs = {i: lb.client([i]) for i in lb.servers}
        try:
            for cl in cs.values():
                cl.add_auth('digest', 'admin:secret')
            # The dead session's ephemeral goes once its timeout passes
            # (a new leader gives every session a fresh timeout).
            def gone(cl):
                cl.sync('/r/e')
                return cl.exists('/r/e/eph') is None
            for i, cl in cs.items():
                wait_until(lambda: retry(lambda: gone(cl), 'sync on server %d' % i),
                           WAIT, 'the dead session\'s ephemeral to go on server %d' % i,
                           interval=0.2)
            got = {}
            for i, cl in cs.items():
                retry(lambda: cl.sync('/r'), 'sync on server %d' % i)
                got[i] = snapshot_of(cl, '/r')
            # Exactly the backed-up state, but for the expired ephemeral
            # and what its removal did to its parent.
            exp = dict(want)
            del exp['/r/e/eph']
            for i, g in got.items():
                assert set(g) == set(exp), 'server %d: extra %s, missing %s' % (
                    i, sorted(set(g) - set(exp))[:5], sorted(set(exp) - set(g))[:5])
                for p, v in exp.items():
                    if p == '/r/e':
                        continue
                    assert g[p] == v, 'server %d, %s: %r, backed up %r' % (i, p, g[p], v)
                data, st, acl = g['/r/e']
                wst = want['/r/e'][1]
                assert data == want['/r/e'][0] and st.numChildren == 0, (i, st)
                # (czxid, mzxid, ctime, mtime, version, cversion+1 for the delete,
                # aversion, ephemeralOwner, dataLength)
                assert st[:5] == wst[:5] and st.cversion == wst.cversion + 1 and \
                    st[6:9] == wst[6:9], (i, st, wst)
                assert st.pzxid > wst.pzxid, (i, st, wst)
            for i, g in got.items():
                assert g == got[leader], 'server %d differs from the leader %d' % (i, leader)
            # New writes on every member; a sequential node continues the
            # restored counter.
            last_seq = int(state['seqs'][-1][-10:])
            for i, cl in cs.items():
                p = retry(lambda: cl.create('/r/s-', b'new%d' % i, sequence=True),
                          'create on server %d' % i)
                assert int(p[-10:]) > last_seq, (p, state['seqs'])
                retry(lambda: cl.set('/r/acl', b'new %d' % i), 'set on server %d' % i)
            for i, cl in cs.items():
                retry(lambda: cl.sync('/r'), 'sync on server %d' % i)
                assert cl.get('/r/acl')[0] == b'new %d' % max(cs), i
                assert len([k for k in cl.get_children('/r') if k.startswith('s-')]) == 5 + 3
        finally:
            for cl in cs.values():
                cl.stop()
                cl.close()

    tests = [
        ('write, back up one member, write more', t_backup),
        ('restore every member from the backup', t_restore),
    ]
    try:
        rc = harness.run_tests(tests, args, servers=list(lb.servers.values()))
    finally:
        for s in lb.servers.values():
            s.cleanup()
    return rc


if __name__ == '__main__':
    sys.exit(main())
