#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""cheetah import / cheetah export against Apache ZooKeeper 3.8 (issue 12,
part 3: migration both ways).

1. Apache ZooKeeper (extendedTypesEnabled, a small snapCount: nodes/10, at
   least 200, so that it writes fuzzy snapshots while the load runs and
   the last changes live only in its log) is populated by raw clients (zkproto): persistent,
   ephemeral, sequential, container and TTL znodes; world, digest and ip
   ACLs; null, empty and up to 1 MB data; setData, setACL, deletes,
   multis (a committed one, one that fails, one with a check), a session
   closed with its ephemerals, a container ZooKeeper's ContainerManager
   deletes (deleteContainer), and --nodes znodes in a larger tree.  Two
   sessions owning ephemerals stay open.
2. Every znode's data, Stat, ACL and children are read back from
   ZooKeeper, then it is stopped (SIGTERM).
3. `cheetah import` builds a Cheetah data directory from ZooKeeper's; its
   summary must show the snapshot, replayed log records and no digest
   mismatch.  Cheetah starts on it and serves exactly the same tree; the
   open sessions are resumed with their ids and passwords, and their
   ephemerals are there.
   The same from snapshot.0 and the logs alone (every txn type replayed,
   every TxnDigest checked); a newest log cut inside its last record is
   refused naming file and offset, and imported with --allow-torn-tail.
4. Cheetah is stopped; `cheetah export` writes a ZooKeeper snapshot;
   Apache ZooKeeper starts on it and serves the same tree again, with
   the sessions still resumable.

5. The same population made on Cheetah itself (at most 2000 znodes in
   the larger tree) is exported and served identically by ZooKeeper.

--nodes: 5000 in CI; by hand, e.g. --nodes 100000.
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import log  # noqa: E402
import zkproto as zp  # noqa: E402

ZK_CFG = {
    'extendedTypesEnabled': 'true',
    'snapCount': 200,
    'maxSessionTimeout': 600000,
    'znode.container.checkIntervalMs': 500,
    'preAllocSize': 64,  # KiB: log files of 64 KiB, not 64 MiB
}
# For Cheetah: no container or TTL sweep while the tree is compared.
CHEETAH_CFG = {
    'extendedTypesEnabled': 'true',
    'maxSessionTimeout': 600000,
}
SESSION_MS = 300000
BATCH = 500


def pipelined(conn, reqs):
    """reqs: (opcode, payload); returns the Replies in order, BATCH at a time."""
    out = []
    for i in range(0, len(reqs), BATCH):
        xids = [conn.send(op, p) for op, p in reqs[i:i + BATCH]]
        for x in xids:
            out.append(conn.read_reply(x))
    return out


def populate(zk, nodes):
    """Returns the connections that must stay open (their sessions own ephemerals)."""
    c = zp.Conn(zk.host, zk.port, timeout_ms=SESSION_MS)
    c.auth('digest', b'alice:secret')
    alice = zp.digest_id('alice', 'secret')
    c.create('/app', b'root of the app')
    c.create('/app/null', None)
    c.create('/app/empty', b'')
    for size in (1, 255, 4096, 65536, 1000000):
        c.create('/app/size-%d' % size, bytes((i * 7 + size) & 0xff for i in range(size)))
    c.create('/app/world-read', b'r', acl=zp.READ_ACL)
    c.create('/app/digest', b'd', acl=[(zp.PERM_ALL, 'digest', alice),
                                       (zp.PERM_READ, 'world', 'anyone')])
    c.create('/app/ip', b'i', acl=[(zp.PERM_ALL, 'ip', '127.0.0.1'),
                                   (zp.PERM_READ | zp.PERM_WRITE, 'ip', '10.0.0.0/8')])
    c.create('/app/auth', b'a', acl=zp.CREATOR_ALL_ACL)
    c.create('/app/seq', b'')
    for i in range(5):
        c.create('/app/seq/p-', b'%d' % i, flags=zp.PERSISTENT_SEQUENTIAL)
    c.create('/app/ttl', b't', flags=zp.PERSISTENT_WITH_TTL, ttl=3600 * 1000)
    c.create('/app/ttl-seq-', b'ts', flags=zp.PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=7200 * 1000)
    c.create('/app/container', b'c', flags=zp.CONTAINER)
    c.create('/app/container/child', b'')
    # versions, cversion, aversion
    for i in range(3):
        c.set('/app/size-1', b'v%d' % i)
    c.call_ok(zp.OP['setACL'], zp.r_set_acl('/app/digest',
                                            [(zp.PERM_ALL, 'digest', alice),
                                             (zp.PERM_READ | zp.PERM_WRITE, 'world', 'anyone')],
                                            0))
    c.create('/app/gone', b'')
    c.create('/app/gone/x', b'')
    c.delete('/app/gone/x')
    # multis: committed, failed (error txn), with a check
    c.multi([(zp.OP['create'], zp.r_create('/app/multi', b'm', zp.OPEN_ACL, 0)),
             (zp.OP['create'], zp.r_create('/app/multi/a', b'', zp.OPEN_ACL, 0)),
             (zp.OP['setData'], zp.r_set_data('/app/empty', b'now set', -1))])
    rep = c.call(zp.OP['multi'], zp.r_multi([
        (zp.OP['create'], zp.r_create('/app/never', b'', zp.OPEN_ACL, 0)),
        (zp.OP['delete'], zp.r_delete('/app/does-not-exist', -1))]))
    assert rep.err == 0 or rep.err == zp.ERR['NONODE'], rep
    c.multi([(zp.OP['check'], zp.r_check('/app/multi', 0)),
             (zp.OP['delete'], zp.r_delete('/app/multi/a', -1))])
    # a failed single write is an error txn
    assert c.call(zp.OP['setData'], zp.r_set_data('/app/multi', b'', 42)).err == \
        zp.ERR['BADVERSION']
    # a session closed with its ephemerals (closeSession with paths2Delete)
    gone = zp.Conn(zk.host, zk.port, timeout_ms=SESSION_MS)
    gone.create('/app/gone-eph', b'', flags=zp.EPHEMERAL)
    gone.close_session()
    # a container emptied: ZooKeeper's ContainerManager deletes it (deleteContainer)
    c.create('/app/swept', b'', flags=zp.CONTAINER)
    c.create('/app/swept/x', b'')
    c.delete('/app/swept/x')
    harness.wait_until(lambda: c.exists('/app/swept') is None, 30,
                       'ZooKeeper deleting the emptied container')
    # sessions that stay, owning ephemerals
    e1 = zp.Conn(zk.host, zk.port, timeout_ms=SESSION_MS)
    e1.create('/app/eph', b'e1', flags=zp.EPHEMERAL)
    e1.create('/app/seq/e-', b'', flags=zp.EPHEMERAL_SEQUENTIAL)
    e2 = zp.Conn(zk.host, zk.port, timeout_ms=SESSION_MS // 2)
    e2.auth('digest', b'alice:secret')
    e2.create('/app/eph2', b'e2', acl=zp.CREATOR_ALL_ACL, flags=zp.EPHEMERAL)
    # the larger tree, pipelined
    c.create('/big', b'')
    fan = max(1, int(nodes ** 0.5))
    reqs = [(zp.OP['create'], zp.r_create('/big/d%d' % d, b'', zp.OPEN_ACL, 0))
            for d in range((nodes + fan - 1) // fan)]
    reqs += [(zp.OP['create'], zp.r_create('/big/d%d/n%d' % (i // fan, i),
                                           b'x' * (i % 200), zp.OPEN_ACL, 0))
             for i in range(nodes)]
    for rep in pipelined(c, reqs):
        assert rep.err == 0, rep
    sets = [(zp.OP['setData'], zp.r_set_data('/big/d%d/n%d' % (i // fan, i), b'changed', -1))
            for i in range(0, nodes, 7)]
    dels = [(zp.OP['delete'], zp.r_delete('/big/d%d/n%d' % (i // fan, i), -1))
            for i in range(3, nodes, 11)]
    for rep in pipelined(c, sets + dels):
        assert rep.err == 0, rep
    # changes after the bulk: only in the log (after the last snapshot)
    c.create('/app/last', b'only in the log')
    c.set('/app/size-1', b'final')
    e1.create('/app/eph-last', b'', flags=zp.EPHEMERAL)
    c.close_session()
    for s in (e1, e2):
        s.ping()
    return [e1, e2]


def dump(srv):
    """path -> (data, Stat, ACL list, sorted children), read with a fresh session."""
    c = zp.Conn(srv.host, srv.port, timeout_ms=60000)
    c.auth('digest', b'alice:secret')
    tree = {}
    todo = ['/']
    while todo:
        batch, todo = todo[:BATCH], todo[BATCH:]
        reqs = []
        for p in batch:
            reqs += [(zp.OP['getData'], zp.r_path_watch(p, False)),
                     (zp.OP['getACL'], zp.r_path(p)),
                     (zp.OP['getChildren2'], zp.r_path_watch(p, False))]
        reps = pipelined(c, reqs)
        for i, p in enumerate(batch):
            rd, ra, rc = reps[3 * i:3 * i + 3]
            assert rd.err == 0 and ra.err == 0 and rc.err == 0, (p, rd.err, ra.err, rc.err)
            data, st = zp.decode_body(zp.OP['getData'], rd.body)
            acl, _ = zp.decode_body(zp.OP['getACL'], ra.body)
            kids, _ = zp.decode_body(zp.OP['getChildren2'], rc.body)
            tree[p] = (data, st, acl, sorted(kids))
            todo += [(p.rstrip('/') + '/' + k) for k in kids]
    c.close_session()
    return tree


def compare(want, have, what):
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    assert not missing and not extra, '%s: missing %s, extra %s' % (
        what, missing[:10], extra[:10])
    bad = [p for p in want if want[p] != have[p]]
    for p in bad[:5]:
        log('%s differs: %s\n  ZooKeeper: %r\n  now:       %r' % (
            what, p, want[p][1:], have[p][1:]))
    assert not bad, '%s: %d znodes differ: %s' % (what, len(bad), bad[:10])
    log('[migrate] %s: %d znodes identical (data, Stat, ACL, children)' % (what, len(want)))


def resume(srv, sessions, tree):
    """The sessions are resumable with their ids and passwords and own their ephemerals."""
    for s in sessions:
        c = zp.Conn(srv.host, srv.port, timeout_ms=s.negotiated_timeout,
                    session_id=s.session_id, passwd=s.passwd)
        assert c.session_id == s.session_id
        mine = sorted(c.get_ephemerals('/'))
        want = sorted(p for p, v in tree.items() if v[1].ephemeralOwner == s.session_id)
        assert mine == want and mine, (hex(s.session_id), mine, want)
        c.close_socket()  # the session stays (no closeSession)
    log('[migrate] %d sessions resumed with their ephemerals' % len(sessions))


def run(cmd):
    log('[migrate] $ ' + ' '.join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    out = p.stdout.decode('utf-8', 'replace')
    log(out.rstrip())
    assert p.returncode == 0, 'exit status %d' % p.returncode
    return out


def main():
    ap = harness.arg_parser(__doc__)
    ap.add_argument('--nodes', type=int, default=5000)
    args = ap.parse_args()
    assert args.cheetah_bin, '--cheetah-bin is needed'
    # snapshots every ~snapCount txns: many (fuzzy) ones, but not one per
    # 200 creates of a 100k tree (disk use grows with the square)
    ZK_CFG['snapCount'] = max(200, args.nodes // 10)
    zk = harness.Server('zookeeper', config=ZK_CFG, name='zk-source', jvm_heap='512m')
    ch = harness.Server('cheetah', cheetah_bin=args.cheetah_bin, config=CHEETAH_CFG,
                        name='cheetah-imported')
    zk2 = harness.Server('zookeeper', config=ZK_CFG, name='zk-exported', jvm_heap='512m')
    ch2 = harness.Server('cheetah', cheetah_bin=args.cheetah_bin, config=CHEETAH_CFG,
                         name='cheetah-logonly')
    ch3 = harness.Server('cheetah', cheetah_bin=args.cheetah_bin, name='cheetah-native',
                         config=dict(CHEETAH_CFG, snapCount=300,
                                     **{'znode.container.checkIntervalMs': 500}))
    zk3 = harness.Server('zookeeper', config=ZK_CFG, name='zk-from-native', jvm_heap='512m')
    servers = [zk, ch, zk2, ch2, ch3, zk3]
    state = {}

    def source():
        zk.start()
        t0 = time.monotonic()
        state['sessions'] = populate(zk, args.nodes)
        log('[migrate] populated in %.1fs' % (time.monotonic() - t0))
        state['tree'] = dump(zk)
        zk.stop_clean()
        for s in state['sessions']:
            s.close_socket()
        names = os.listdir(os.path.join(zk.data_dir, 'version-2'))
        log('[migrate] ZooKeeper wrote %s' % sorted(names))
        snaps = [int(n.split('.')[1], 16) for n in names if n.startswith('snapshot.')]
        assert len(snaps) > 1, names
        last = state['tree']['/app/last']
        assert last[0] == b'only in the log'
        assert last[1].czxid > max(snaps), 'the last changes are in a snapshot: %x' % max(snaps)

    def import_():
        out = run([args.cheetah_bin, 'import', '--set', 'extendedTypesEnabled=true',
                   '--to', ch.data_dir, zk.data_dir])
        m = re.search(r'(\d+) txns replayed', out)
        assert m and int(m.group(1)) > 0, 'no log record replayed'
        m = re.search(r'digests checked (\d+), mismatches (\d+)', out)
        assert m and int(m.group(1)) > 0 and int(m.group(2)) == 0, out
        for t in ('create2', 'closeSession', 'createSession', 'setData'):
            assert t in out, (t, out)
        # refused: a second import into the same directory
        p = subprocess.run([args.cheetah_bin, 'import', '--to', ch.data_dir, zk.data_dir],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        assert p.returncode != 0, 'a second import overwrote the data'

    def log_only():
        # ZooKeeper's snapshot.0 and every log after it: all txn types replayed
        src = harness.make_tmp_dir('zk-logonly')
        v2 = os.path.join(src, 'version-2')
        os.makedirs(v2)
        for n in os.listdir(os.path.join(zk.data_dir, 'version-2')):
            if n.startswith('log.') or n == 'snapshot.0':
                shutil.copy(os.path.join(zk.data_dir, 'version-2', n), v2)
        ch2.config = dict(CHEETAH_CFG)
        try:
            out = run([args.cheetah_bin, 'import', '--set', 'extendedTypesEnabled=true',
                       '--to', ch2.data_dir, src])
        finally:
            shutil.rmtree(src, ignore_errors=True)
        m = re.search(r'(\d+) log file', out)
        assert m and int(m.group(1)) > 1, 'one log file only: no log roll exercised'
        for t in ('createSession', 'closeSession', 'error', 'create ', 'delete', 'setData',
                  'setACL', 'multi', 'create2', 'createContainer', 'deleteContainer',
                  'createTTL'):
            assert ' ' + t in out, ('txn type %s not replayed' % t, out)
        m = re.search(r'digests checked (\d+), mismatches (\d+)', out)
        assert m and int(m.group(1)) > args.nodes and int(m.group(2)) == 0, out
        ch2.start()
        compare(state['tree'], dump(ch2), 'cheetah after import of the logs alone')
        ch2.stop_clean()

    def torn_tail():
        # the newest log cut inside its last record, as by a crash
        src = harness.make_tmp_dir('zk-torn')
        v2 = os.path.join(src, 'version-2')
        shutil.copytree(os.path.join(zk.data_dir, 'version-2'), v2)
        logs = sorted((int(n.split('.')[1], 16), n) for n in os.listdir(v2)
                      if n.startswith('log.'))
        newest = os.path.join(v2, logs[-1][1])
        with open(newest, 'rb') as f:
            b = f.read()
        off, last = 16, None
        while off + 12 <= len(b):
            n = int.from_bytes(b[off + 8:off + 12], 'big')
            if n == 0:
                break
            last, off = off, off + 12 + n + 1
        assert last is not None, 'no record in ' + newest
        with open(newest, 'r+b') as f:
            f.truncate(off - 3)
        target = harness.make_tmp_dir('cheetah-torn')
        try:
            p = subprocess.run([args.cheetah_bin, 'import', '--to', target, src],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
            msg = p.stdout.decode('utf-8', 'replace')
            assert p.returncode == 1, (p.returncode, msg)
            assert '%s: offset %d: ' % (newest, last + 8) in msg, msg
            assert 'truncated' in msg, msg
            assert not os.listdir(target), 'a refused import wrote %s' % os.listdir(target)
            out = run([args.cheetah_bin, 'import', '--set', 'extendedTypesEnabled=true',
                       '--allow-torn-tail', '--to', target, src])
            assert 'mismatches 0' in out, out
        finally:
            shutil.rmtree(src, ignore_errors=True)
            shutil.rmtree(target, ignore_errors=True)

    def cheetah_serves():
        ch.start()
        compare(state['tree'], dump(ch), 'cheetah after import')
        resume(ch, state['sessions'], state['tree'])
        ch.stop_clean()

    def export():
        run([args.cheetah_bin, 'export', ch.data_dir, zk2.data_dir])
        zk2.start()
        compare(state['tree'], dump(zk2), 'ZooKeeper after export')
        resume(zk2, state['sessions'], state['tree'])
        assert 'Digests are not matching' not in zk2.read_log(), 'ZooKeeper: digest mismatch'
        zk2.stop_clean()

    def native_export():
        # a tree Cheetah built itself (its own Stats, snapshots and log)
        ch3.start()
        sessions = populate(ch3, min(args.nodes, 2000))
        tree = dump(ch3)
        ch3.stop_clean()
        for s in sessions:
            s.close_socket()
        run([args.cheetah_bin, 'export', '--set', 'extendedTypesEnabled=true', ch3.data_dir,
             zk3.data_dir])
        zk3.start()
        compare(tree, dump(zk3), 'ZooKeeper after export of a Cheetah-built tree')
        resume(zk3, sessions, tree)
        assert 'Digests are not matching' not in zk3.read_log(), 'ZooKeeper: digest mismatch'
        zk3.stop_clean()

    tests = [('zookeeper source', source), ('import', import_),
             ('import of the logs alone', log_only),
             ('a torn log tail', torn_tail),
             ('cheetah serves the import', cheetah_serves), ('export to zookeeper', export),
             ('export of a cheetah-built tree', native_export)]
    try:
        return harness.run_tests(tests, args, servers)
    finally:
        for s in servers:
            s.cleanup()


if __name__ == '__main__':
    sys.exit(main())
