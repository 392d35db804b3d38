#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Crash test: write load from several sessions, kill -9 the server at a
seeded random moment, restart it on the same data directory, and check
that every acknowledged write is there and that no write is half applied.
Several rounds on the same data directory.

Each writer session pipelines requests (a window of outstanding ones) and
books every reply: a write is acknowledged when its reply said OK.  Kinds
of writes, each with a check after the restart:
  - create of a persistent node with known data: acknowledged => present
    with exactly that data (unless an acknowledged delete followed);
  - delete of an earlier node: acknowledged => absent;
  - setData of a per-writer counter with the expected version (data =
    the new version number): acknowledged v => version >= v, and the data
    always equals the version (data and Stat from the same write);
  - multi of three creates plus a counter setData: its nodes are all
    present or all absent (acknowledged => all present);
  - sequential creates: acknowledged names present; after the restart new
    names continue above every existing one;
plus: a write after the restart gets a zxid above every acknowledged one.

--powerloss (cheetah): after each kill, emulate what a power loss may
leave of a pipelined group commit (replication/txlog.c, "Why this rule"):
when the log's last two batches were in flight together (the last one's
durable mark is below the one before it) and nothing from the earlier
one on was acknowledged, the earlier batch's bytes are zeroed or
overwritten with garbage while the later one stays whole: its pages
lost, the later batch's kept.  The restart must cut the log there (the
server logs a torn pipelined tail) and every acknowledged write must
still be there.  Rounds go on (at most 4x --rounds) until one was
emulated; none is a failure.  It does not emulate lost metadata: an
undone rename of the prepared next file, a lost directory entry or a
lost or partial cut of a finished file (kill -9 keeps them all); those
are unit tests in tests/replication/test_txlog.c
(a_lost_rename_of_the_spare_loses_only_unacknowledged_records,
open_cuts_an_older_file_to_its_records).

    test_crash.py --server KIND [--seed N] [--rounds N] [--writers N] [--powerloss]
"""
import collections
import os
import glob
import random
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import zkproto as zp  # noqa: E402
from harness import log  # noqa: E402

# The server's address (127.0.0.1; another one over a veth: test_dpdk_veth.py --run).
HOST = '127.0.0.1'

OP = zp.OP
WINDOW = 16


class Writer(threading.Thread):
    def __init__(self, idx, port, rng_seed, state):
        super().__init__(daemon=True)
        self.idx = idx
        self.port = port
        self.rng = random.Random(rng_seed)
        self.st = state                    # persistent bookkeeping across rounds
        self.acked = 0
        self.sent = 0
        self.error = None
        self.max_zxid = 0

    def next_op(self):
        st = self.st
        base = '/crash/w%d' % self.idx
        r = self.rng.random()
        if r < 0.40 or not st['created']:
            k = st['next_node']
            st['next_node'] += 1
            path = '%s/n%d' % (base, k)
            data = ('w%d:%d:' % (self.idx, k)).encode() + bytes(self.rng.getrandbits(8)
                                                                for _ in range(self.rng.randint(0, 64)))
            return ('create', path, data), OP['create2'], zp.r_create(path, data, zp.OPEN_ACL, 0)
        if r < 0.55:
            path = st['created'].pop(0)
            return ('delete', path), OP['delete'], zp.r_delete(path, -1)
        if r < 0.75:
            v = st['counter_next']
            st['counter_next'] += 1
            return (('counter', v), OP['setData'],
                    zp.r_set_data(base + '/counter', str(v).encode(), v - 1))
        if r < 0.90:
            m = st['next_multi']
            st['next_multi'] += 1
            v = st['counter_next']
            st['counter_next'] += 1
            paths = ['%s/m%d-%s' % (base, m, s) for s in 'abc']
            ops = [(OP['create'], zp.r_create(p, p.encode(), zp.OPEN_ACL, 0)) for p in paths]
            ops.append((OP['setData'], zp.r_set_data(base + '/counter', str(v).encode(), v - 1)))
            st['multis'].append(paths)
            return ('multi', paths, v), OP['multi'], zp.r_multi(ops)
        return (('seq',), OP['create2'],
                zp.r_create(base + '/seq/s-', b'', zp.OPEN_ACL, zp.PERSISTENT_SEQUENTIAL))

    def run(self):
        st = self.st
        try:
            c = zp.Conn(HOST, self.port, timeout_ms=30000, sock_timeout=20)
        except Exception as e:
            self.error = e
            return
        inflight = collections.deque()
        try:
            while True:
                while len(inflight) < WINDOW:
                    what, opcode, payload = self.next_op()
                    xid = c.send(opcode, payload)
                    inflight.append((xid, what, opcode))
                    self.sent += 1
                    if what[0] == 'delete':
                        st['deletes_sent'].add(what[1])
                rep = c.read_reply()
                xid, what, opcode = inflight.popleft()
                if rep.xid != xid:
                    raise AssertionError('writer %d: reply xid %d for request %d' % (
                        self.idx, rep.xid, xid))
                self.on_reply(what, opcode, rep)
        except (zp.ConnectionClosed, OSError):
            pass        # the server was killed
        except Exception as e:
            self.error = e
        finally:
            c.close_socket()

    def on_reply(self, what, opcode, rep):
        st = self.st
        if rep.err != 0:
            if what[0] == 'counter' or what[0] == 'multi':
                # a version conflict after a crash lost an unacknowledged
                # setData: re-base the counter on what the server has
                st['counter_broken'] = True
            if what[0] == 'create':
                raise AssertionError('writer %d: create %s failed: %s' % (
                    self.idx, what[1], zp.ERRNAME.get(rep.err, rep.err)))
            if what[0] == 'delete' and rep.err != zp.ERR['NONODE']:
                raise AssertionError('writer %d: delete %s failed: %s' % (
                    self.idx, what[1], zp.ERRNAME.get(rep.err, rep.err)))
            return
        self.acked += 1
        self.max_zxid = max(self.max_zxid, rep.zxid)
        kind = what[0]
        if kind == 'create':
            st['acked_creates'][what[1]] = what[2]
            st['created'].append(what[1])
        elif kind == 'delete':
            st['acked_deletes'].add(what[1])
        elif kind == 'counter':
            st['counter_acked'] = max(st['counter_acked'], what[1])
        elif kind == 'multi':
            body = zp.decode_body(OP['multi'], rep.body)[0]
            if all(r[0] != 'error' for r in body):
                st['acked_multis'].append(what[1])
                st['counter_acked'] = max(st['counter_acked'], what[2])
        elif kind == 'seq':
            st['acked_seq'].append(zp.decode_body(OP['create2'], rep.body)[0])


def new_state():
    return {'next_node': 0, 'created': [], 'acked_creates': {}, 'acked_deletes': set(),
            'deletes_sent': set(), 'counter_next': 1, 'counter_acked': 0,
            'counter_broken': False, 'next_multi': 0, 'multis': [], 'acked_multis': [],
            'acked_seq': []}


def pipelined(c, requests, window=512):
    """Send (opcode, payload) requests with up to `window` outstanding;
    return their replies in order."""
    out = []
    pending = collections.deque()
    it = iter(requests)
    done = False
    while True:
        while not done and len(pending) < window:
            try:
                opcode, payload = next(it)
            except StopIteration:
                done = True
                break
            pending.append(c.send(opcode, payload))
        if not pending:
            return out
        out.append(c.read_reply(pending.popleft()))


def stat_of(rep):
    return zp.decode_body(OP['exists'], rep.body)[0] if rep.err == 0 else None


def verify(port, states, max_zxid, round_no):
    c = zp.Conn(HOST, port)
    problems = []
    checked = 0
    for i, st in enumerate(states):
        base = '/crash/w%d' % i
        creates = list(st['acked_creates'].items())
        reps = pipelined(c, [(OP['getData'], zp.r_path_watch(p, False)) for p, _ in creates])
        for (path, data), rep in zip(creates, reps):
            checked += 1
            if path in st['acked_deletes']:
                if rep.err == 0:
                    problems.append('%s: acknowledged delete, node still there' % path)
                continue
            if rep.err == zp.ERR['NONODE']:
                if path in st['deletes_sent']:
                    continue        # an unacknowledged delete may have been applied
                problems.append('%s: acknowledged create, node missing' % path)
                continue
            d = zp.decode_body(OP['getData'], rep.body)[0] if rep.err == 0 else rep.err
            if d != data:
                problems.append('%s: data %r, acknowledged %r' % (path, d[:40], data[:40]))
        dels = sorted(st['acked_deletes'])
        for path, rep in zip(dels, pipelined(c, [(OP['exists'], zp.r_path_watch(p, False))
                                                 for p in dels])):
            checked += 1
            if rep.err != zp.ERR['NONODE']:
                problems.append('%s: acknowledged delete, exists answered %s' % (
                    path, zp.ERRNAME.get(rep.err, rep.err)))
        d, stat = c.get(base + '/counter')
        checked += 1
        if d != str(stat.version).encode():
            problems.append('%s/counter: data %r but version %d (half-applied setData)'
                            % (base, d, stat.version))
        if stat.version < st['counter_acked']:
            problems.append('%s/counter: version %d < acknowledged %d'
                            % (base, stat.version, st['counter_acked']))
        acked = set(tuple(m) for m in st['acked_multis'])
        flat = [p for paths in st['multis'] for p in paths]
        reps = pipelined(c, [(OP['exists'], zp.r_path_watch(p, False)) for p in flat])
        for k, paths in enumerate(st['multis']):
            checked += 1
            present = [reps[3 * k + j].err == 0 for j in range(3)]
            if any(present) and not all(present):
                problems.append('multi %s: only %r present (half-applied)' % (paths, present))
            if tuple(paths) in acked and not all(present):
                problems.append('multi %s: acknowledged, missing' % (paths,))
        seq_kids = set(c.children(base + '/seq')[0])
        for name in st['acked_seq']:
            checked += 1
            if name.rsplit('/', 1)[1] not in seq_kids:
                problems.append('%s: acknowledged sequential create missing' % name)
        # the next sequential name is above every existing one
        nxt = c.create(base + '/seq/s-', b'', flags=zp.PERSISTENT_SEQUENTIAL)[0]
        nxt_num = int(nxt.rsplit('-', 1)[1])
        for k in seq_kids:
            if int(k.rsplit('-', 1)[1]) >= nxt_num:
                problems.append('%s: sequence number reused/behind existing %s' % (nxt, k))
                break
        st['acked_seq'].append(nxt)
    # new writes get zxids above every acknowledged one
    st0 = c.set('/crash', ('round %d' % round_no).encode())
    if st0.mzxid <= max_zxid:
        problems.append('zxid after restart %d <= acknowledged %d' % (st0.mzxid, max_zxid))
    c.close_session()
    return problems, checked


def rebase(port, states):
    """After a restart: continue each counter from the server's version,
    forget unacknowledged creates (their names are never reused)."""
    c = zp.Conn(HOST, port)
    for i, st in enumerate(states):
        _, stat = c.get('/crash/w%d/counter' % i)
        st['counter_next'] = stat.version + 1
        st['counter_acked'] = min(st['counter_acked'], stat.version)
        st['counter_broken'] = False
        reps = pipelined(c, [(OP['exists'], zp.r_path_watch(p, False)) for p in st['created']])
        st['created'] = [p for p, rep in zip(st['created'], reps) if rep.err == 0]
    c.close_session()


def log_batches(path):
    """The batches of a format 3 log file (replication/txlog.h): a list of
    (start offset, end offset, first index, last index, durable mark)."""
    with open(path, 'rb') as f:
        b = f.read()
    if len(b) < 40 or b[:4] != b'CHLG' or struct.unpack('>I', b[4:8])[0] != 3:
        return []
    out, off, start, first = [], 40, None, None
    while off + 40 <= len(b):
        raw = struct.unpack('>I', b[off:off + 4])[0]
        n = raw & 0x7fffffff
        if n == 0 or off + 40 + n > len(b):
            break
        index, = struct.unpack('>q', b[off + 8:off + 16])
        mark, = struct.unpack('>q', b[off + 32:off + 40])
        if start is None:
            start, first = off, index
        off = (off + 40 + n + 7) & ~7
        if raw & 0x80000000:
            out.append((start, off, first, index, mark))
            start = None
    return out


def emulate_power_loss(data_dir, max_acked, rng):
    """Damages the second to last batch of the newest log file when the
    last one was written before it was durable and nothing from it on was
    acknowledged; returns a description, or None when the log's end does
    not allow it (see the module doc)."""
    logs = sorted(glob.glob(os.path.join(data_dir, 'cheetah-1', 'log.' + '[0-9a-f]' * 16)))
    snaps = [int(p.rsplit('.', 1)[1], 16) for p in
             glob.glob(os.path.join(data_dir, 'cheetah-1', 'snapshot.' + '[0-9a-f]' * 16))]
    if not logs:
        return None
    batches = log_batches(logs[-1])
    if len(batches) < 2:
        return None
    k, k1 = batches[-2], batches[-1]
    # k1 written while k was in flight; k (hence k1) never acknowledged,
    # never in a snapshot: a state a power loss may leave
    if not (k1[4] < k[2] and k[2] > max_acked and k[2] > max(snaps + [0])):
        log('  last batches (first, last, mark): %s; last acknowledged zxid %#x' % (
            ', '.join('%#x..%#x mark %#x' % b[2:] for b in batches[-3:]), max_acked))
        return None
    kind = rng.choice(['zeros', 'garbage'])
    with open(logs[-1], 'r+b') as f:
        f.seek(k[0])
        n = k[1] - k[0]
        f.write(bytes(n) if kind == 'zeros' else bytes(rng.getrandbits(8) | 1 for _ in range(n)))
    return ('%s over batch %#x..%#x (%d bytes) of %s, batch %#x..%#x (mark %#x) kept' % (
        kind, k[2], k[3], n, os.path.basename(logs[-1]), k1[2], k1[3], k1[4]))


def refuses_acknowledged_damage(srv):
    """A byte flipped in an acknowledged batch that a later batch's mark
    says was durable: the server must refuse to start, naming the file
    and offset; with the byte back it starts.  Returns problems."""
    c = zp.Conn(HOST, srv.port)
    max_acked = 0
    for i in range(3):          # one batch each, each written once the last was durable
        max_acked = c.set('/crash', b'acked %d' % i).mzxid
    c.close_session()
    srv.stop_clean()
    path = sorted(glob.glob(os.path.join(srv.data_dir, 'cheetah-1',
                                         'log.' + '[0-9a-f]' * 16)))[-1]
    batches = log_batches(path)
    pairs = [(k, k1) for k, k1 in zip(batches, batches[1:]) if k1[4] >= k[3] and k[3] <= max_acked]
    if not pairs:
        return ['no acknowledged batch followed by one marked after it in %s' % path]
    k = pairs[-1][0]
    off = (k[0] + k[1]) // 2
    with open(path, 'r+b') as f:
        f.seek(off)
        old = f.read(1)
        f.seek(off)
        f.write(bytes([old[0] ^ 0x10]))
    problems = []
    try:
        srv.start(timeout=30)
        problems.append('started on a log with damage in acknowledged batch %#x..%#x' % k[2:4])
        srv.stop()
    except harness.ServerStartError:
        text = srv.read_log()
        if 'refusing to start' not in text or os.path.basename(path) not in text:
            problems.append('refusal does not name the file: %s' % text[-400:])
        log('damage in acknowledged batch %#x..%#x (a later batch is marked %#x): refused' % (
            k[2], k[3], pairs[-1][1][4]))
    with open(path, 'r+b') as f:
        f.seek(off)
        f.write(old)
    srv.start()                 # left running: the caller stops it cleanly
    return problems


def main():
    p = harness.arg_parser(__doc__.split('\n')[0])
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--writers', type=int, default=4)
    p.add_argument('--powerloss', action='store_true')
    p.add_argument('--snap-count', type=int, default=0,
                   help='snapCount (default: the server\'s): small values make the log roll '
                   'and snapshots run all the time, so kills land around rolls')
    args = p.parse_args()
    rng = random.Random(args.seed)
    global HOST
    # --powerloss needs batches in flight together, which the default
    # (cheetah.txlog.inflight=1) never has.
    config = {'cheetah.txlog.inflight': 4} if args.powerloss else {}
    if args.snap_count:
        config['snapCount'] = args.snap_count
    srv = harness.new_server(args, config=config, name='crash')
    HOST = srv.host
    status = 1
    try:
        srv.start()
        c = zp.Conn(HOST, srv.port)
        c.create('/crash')
        for i in range(args.writers):
            c.create('/crash/w%d' % i)
            c.create('/crash/w%d/counter' % i, b'0')
            c.create('/crash/w%d/seq' % i)
        c.close_session()
        states = [new_state() for _ in range(args.writers)]
        total_acked = 0
        max_zxid = 0
        all_problems = []
        emulated = 0
        rnd = 0
        # --powerloss: more rounds (at most 4x) until one could be emulated
        while rnd < args.rounds or (args.powerloss and not emulated and rnd < 4 * args.rounds):
            rnd += 1
            writers = [Writer(i, srv.port, rng.getrandbits(32), states[i])
                       for i in range(args.writers)]
            for w in writers:
                w.start()
            delay = rng.uniform(0.3, 1.5)
            # wait (bounded) until the load is flowing, then let it run
            harness.wait_until(lambda: sum(w.acked for w in writers) >= 50, 30,
                               'the first acknowledged writes')
            t_kill = time.monotonic() + delay
            while time.monotonic() < t_kill and all(w.is_alive() for w in writers):
                time.sleep(0.01)   # load keeps running until the seeded crash moment
            srv.kill9()
            for w in writers:
                w.join(30)
                if w.is_alive():
                    raise AssertionError('writer %d did not notice the crash' % w.idx)
                if w.error:
                    raise AssertionError('writer %d: %s' % (w.idx, w.error))
            acked = sum(w.acked for w in writers)
            sent = sum(w.sent for w in writers)
            total_acked += acked
            max_zxid = max([max_zxid] + [w.max_zxid for w in writers])
            loss = None
            if args.powerloss:
                loss = emulate_power_loss(srv.data_dir, max_zxid, rng)
                log('round %d: power loss emulated: %s' % (rnd, loss) if loss else
                    'round %d: the log\'s end allows no power loss emulation' % rnd)
            t0 = time.monotonic()
            srv.restart()
            took = time.monotonic() - t0
            if loss:
                emulated += 1
                if 'torn pipelined tail' not in srv.read_log():
                    all_problems.append('round %d: no torn pipelined tail logged' % rnd)
            problems, checked = verify(srv.port, states, max_zxid, rnd)
            log('round %d: killed after %.2fs of load; %d writes sent, %d acknowledged, '
                '%d in flight; restart %.2fs; %d checks, %d problems' % (
                    rnd, delay, sent, acked, sent - acked, took, checked, len(problems)))
            for pr in problems[:20]:
                log('  PROBLEM: ' + pr)
            all_problems += problems
            rebase(srv.port, states)
        if args.powerloss:
            problems = refuses_acknowledged_damage(srv)
            for pr in problems:
                log('  PROBLEM: ' + pr)
            all_problems += problems
        srv.stop_clean()
        if args.powerloss and not emulated:
            all_problems.append('no round left a log end that allows a power loss emulation')
        log('crash test: %d rounds, %d acknowledged writes, %d power losses emulated, '
            '%d problems' % (rnd, total_acked, emulated, len(all_problems)))
        status = 1 if all_problems else 0
    except Exception:
        import traceback
        traceback.print_exc(file=sys.stdout)
        log(srv.log_tail(30))
    finally:
        srv.cleanup()
    sys.exit(status)


if __name__ == '__main__':
    main()
