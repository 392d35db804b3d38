# SPDX-License-Identifier: Apache-2.0
"""cheetah-bench and perf/compare: do they run, and do they catch lies?

Three groups (--group), each one meson test:

  server   cheetah-bench against a real server (--server zookeeper or
           cheetah): a short mixed run whose CSV and JSON parse and show
           reads, writes and sane percentiles; a populate run whose znodes
           a kazoo client then sees, with the requested data size; a
           watch storm in which every session gets its event.
  fake     cheetah-bench against FakeZk, a small ZooKeeper-protocol server
           written here.  Honest, it must let the bench exit 0 (which
           proves the fake speaks the protocol well enough); lying (one
           byte of getData flipped, two replies swapped, getData answered
           NONODE, setData acknowledged but not stored, junk after a
           record, a reply that never comes, a reply zxid below an
           earlier one) it must make the bench exit 1 and say why on
           stderr.
           This is the bench's promise that "a fast wrong server cannot
           win".
  compare  perf/compare --quick with minimal sizes against both servers:
           exit 0, summaries, CSVs with rows for both, the PNG/SVG plots
           (gnuplot is required: build.sh installs gnuplot-nox).

The bench decides nothing about the servers' speed here; these tests only
check the tools.  Every process started here (servers, the bench,
compare) is stopped by the test, every wait has a deadline, and the fake
server's threads are joined.
"""
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import harness
from harness import log

ARGS = None
S = None          # the real server of the 'server' group

BENCH_TIMEOUT = 60.0

# cheetah-bench's CSV columns (perf/cheetah_bench.c print_mixed/print_storm)
# that these tests read.
MIXED_COLS = ('label', 'scenario', 'read_pct', 'sessions', 'outstanding', 'ops',
              'ops_s', 'reads_s', 'writes_s', 'errors', 'p50_us', 'p90_us',
              'p99_us', 'p999_us', 'max_us')
STORM_COLS = ('label', 'scenario', 'sessions', 'watches_per_session', 'events',
              'expired')


# ---- running the bench ------------------------------------------------------

class BenchRun:
    def __init__(self, argv, rc, out, err, secs):
        self.argv, self.rc, self.out, self.err, self.secs = argv, rc, out, err, secs

    def describe(self):
        return '$ %s\nexit %s after %.1fs\n--- stdout ---\n%s\n--- stderr ---\n%s' % (
            ' '.join(self.argv), self.rc, self.secs, self.out[-3000:], self.err[-3000:])


def run_cmd(argv, timeout):
    """Run argv in its own process group, killed (with its group) after
    timeout seconds; returns a BenchRun with rc None on a timeout."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=harness._pdeathsig)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        stop_group(proc)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            # A grandchild still holds the pipes: give up on the output.
            out, err = b'', b'(output lost: the pipes stayed open)'
        rc = None
    finally:
        if proc.poll() is None:
            stop_group(proc)
    return BenchRun(argv, rc, out.decode('utf-8', 'replace'),
                    err.decode('utf-8', 'replace'), time.monotonic() - t0)


def stop_group(proc, grace=20.0):
    """SIGTERM to the process group (compare cleans up on it), then
    SIGKILL after grace seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def bench(hosts, *extra, timeout=BENCH_TIMEOUT):
    argv = [ARGS.bench_bin, '--hosts', hosts, '--no-progress'] + [str(a) for a in extra]
    r = run_cmd(argv, timeout)
    log('[bench] %s -> exit %s (%.1fs)' % (' '.join(argv[1:]), r.rc, r.secs))
    if r.rc is None:
        raise AssertionError('cheetah-bench did not finish in %.0fs (killed)\n%s'
                             % (timeout, r.describe()))
    return r


def bench_ok(hosts, *extra, timeout=BENCH_TIMEOUT):
    r = bench(hosts, *extra, timeout=timeout)
    if r.rc != 0:
        raise AssertionError('cheetah-bench failed\n' + r.describe())
    return r


def parse_csv(r, cols):
    rows = list(csv.DictReader(io.StringIO(r.out)))
    if len(rows) != 1:
        raise AssertionError('expected one CSV row, got %d\n%s' % (len(rows), r.describe()))
    row = rows[0]
    missing = [c for c in cols if c not in row]
    if missing:
        raise AssertionError('CSV lacks columns %s\n%s' % (missing, r.describe()))
    return row


def check(cond, msg, r=None):
    if not cond:
        raise AssertionError(msg + ('\n' + r.describe() if r else ''))


# The mixed run of the brief: every read and write kind, short.
MIXED = ['--scenario', 'mixed', '--duration', '1', '--warmup', '0.2',
         '--sessions', '4', '--outstanding', '8', '--read-pct', '50',
         '--reads', 'getData,exists,getChildren', '--writes', 'setData,create-delete',
         '--znodes', '200']


# ---- group 'server': a real server -------------------------------------------

def t_mixed_csv():
    r = bench_ok(S.hosts, *MIXED, '--root', '/bench-mixed', '--label', S.kind,
                 '--format', 'csv', '--csv-header')
    row = parse_csv(r, MIXED_COLS)
    f = {k: float(row[k]) for k in MIXED_COLS if k not in ('label', 'scenario')}
    check(row['label'] == S.kind and row['scenario'] == 'mixed', 'label/scenario', r)
    check(f['read_pct'] == 50 and f['sessions'] == 4 and f['outstanding'] == 8,
          'settings not echoed', r)
    check(f['ops'] > 0 and f['ops_s'] > 0, 'no operations measured', r)
    check(f['reads_s'] > 0, 'no reads measured', r)
    check(f['writes_s'] > 0, 'no writes measured', r)
    check(f['errors'] == 0, 'errors reported', r)
    check(0 < f['p50_us'] <= f['p90_us'] <= f['p99_us'] <= f['p999_us'] <= f['max_us'],
          'percentiles out of order', r)
    log('mixed: %.0f ops/s, p50 %.0f us, p99 %.0f us' % (f['ops_s'], f['p50_us'], f['p99_us']))


def t_mixed_json():
    r = bench_ok(S.hosts, *MIXED, '--root', '/bench-json', '--format', 'json')
    lines = [l for l in r.out.splitlines() if l.strip()]
    check(len(lines) == 1, 'expected one JSON line', r)
    try:
        d = json.loads(lines[0])
    except ValueError as e:
        raise AssertionError('JSON does not parse: %s\n%s' % (e, r.describe()))
    check(d.get('scenario') == 'mixed' and d.get('ops', 0) > 0, 'JSON content', r)
    check(d['reads_s'] > 0 and d['writes_s'] > 0 and d['p99_us'] >= d['p50_us'],
          'JSON figures', r)


POP_ZNODES, POP_SIZE = 2000, 64


def t_populate():
    from kazoo.client import KazooClient
    root = '/bench-populate'
    r = bench_ok(S.hosts, '--scenario', 'populate', '--root', root,
                 '--znodes', POP_ZNODES, '--data-size', POP_SIZE,
                 '--sessions', 4, '--outstanding', 16, '--format', 'csv', '--csv-header')
    row = parse_csv(r, MIXED_COLS)
    check(row['scenario'] == 'populate' and int(row['ops']) == POP_ZNODES,
          'populate row', r)
    zk = KazooClient(hosts=S.hosts, timeout=10.0)
    zk.start(timeout=20)
    try:
        kids = zk.get_children(root)
        # The bench keeps its create-delete scratch parent "tmp" there too.
        data = sorted(k for k in kids if k.startswith('n-'))
        check(len(data) == POP_ZNODES, '%d znodes under %s, expected %d (children: %d)'
              % (len(data), root, POP_ZNODES, len(kids)))
        check(set(kids) - set(data) <= {'tmp'}, 'unexpected children %s'
              % sorted(set(kids) - set(data))[:10])
        check(data[0] == 'n-0000000' and data[-1] == 'n-%07d' % (POP_ZNODES - 1),
              'znode names %s..%s' % (data[0], data[-1]))
        results = [zk.get_async('%s/%s' % (root, k)) for k in data]
        sizes = {}
        for k, a in zip(data, results):
            value, stat = a.get(timeout=20)
            if len(value) != POP_SIZE or stat.dataLength != POP_SIZE:
                sizes[k] = (len(value), stat.dataLength)
        check(not sizes, 'znodes with the wrong data size (len, Stat.dataLength): %s'
              % list(sizes.items())[:10])
    finally:
        zk.stop()
        zk.close()


def t_watch_storm():
    r = bench_ok(S.hosts, '--scenario', 'watch-storm', '--root', '/bench-storm',
                 '--sessions', 200, '--watches', 10, '--znodes', 50,
                 '--format', 'csv', '--csv-header', timeout=90)
    row = parse_csv(r, STORM_COLS)
    check(int(row['sessions']) == 200 and int(row['watches_per_session']) == 10,
          'storm settings', r)
    check(int(row['events']) == 200, 'events %s, expected 200' % row['events'], r)
    check(int(row['expired']) == 0, 'expired %s, expected 0' % row['expired'], r)


def t_fanout_timing():
    """A storm of 1,100 watchers on one worker: the bench reports the
    server's and its own CPU during the fan-out, and Cheetah logs the
    fan-out's stages (from 1,000 deliveries on, from_core.c)."""
    n = 1100
    r = bench_ok(S.hosts, '--scenario', 'watch-storm', '--root', '/bench-fanout',
                 '--sessions', n, '--watches', 2, '--znodes', 10,
                 '--server-pid', S.proc.pid, '--format', 'csv', '--csv-header', timeout=120)
    row = parse_csv(r, STORM_COLS + ('fanout_ms', 'fanout_server_cpu_ms',
                                     'fanout_client_cpu_ms', 'fanout_setdata_ms',
                                     'fanout_net_rx_per_cpu', 'fanout_backlog_drops_per_cpu'))
    check(int(row['events']) == n, 'events %s, expected %d' % (row['events'], n), r)
    check(float(row['fanout_server_cpu_ms']) > 0 and float(row['fanout_client_cpu_ms']) > 0,
          'no CPU time during the fan-out', r)
    check(float(row['fanout_setdata_ms']) > 0, 'no setData round trip', r)
    # a count per CPU, and the fan-out's 1,100 events were received by some CPU
    for col in ('fanout_net_rx_per_cpu', 'fanout_backlog_drops_per_cpu'):
        check(re.fullmatch(r'\d+(/\d+)*', row[col]) is not None, '%s: %r' % (col, row[col]), r)
    check(sum(int(v) for v in row['fanout_net_rx_per_cpu'].split('/')) > 0,
          'no NET_RX softirq during the fan-out', r)
    if S.kind != 'cheetah':
        return
    deadline = time.monotonic() + 10
    pat = re.compile(r'watch events of zxid 0x[0-9a-f]+, (\d+) deliveries: on the ring '
                     r'[0-9.]+ ms after the apply, recipients and encoding [0-9.]+ ms, '
                     r'written in [0-9.]+ ms, then \d+ queued outputs in [0-9.]+ ms')
    while True:
        m = [int(x) for x in pat.findall(S.read_log())]
        if n in m or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(n in m, 'no fan-out line for %d deliveries in the server log (found %r)' % (n, m))


# ---- group 'fake': a server that lies ----------------------------------------

OP_CREATE, OP_DELETE, OP_EXISTS, OP_GETDATA, OP_SETDATA = 1, 2, 3, 4, 5
OP_GETCHILDREN, OP_PING, OP_CLOSE = 8, 11, -11
ZOK, ZNONODE, ZNODEEXISTS, ZNOTEMPTY, ZBADARGUMENTS = 0, -101, -110, -111, -8


class FakeZk:
    """Just enough of a ZooKeeper server for cheetah-bench's mixed and
    populate scenarios: ConnectRequest/Response, create (path or
    NODEEXISTS/NONODE), delete, exists, getData, setData, getChildren,
    ping, closeSession; one thread per connection, one lock over the
    tree.  It answers in order and honestly unless mode says otherwise:

      honest    as above
      corrupt   getData returns the stored data with one byte flipped
      reorder   when two read replies are ready at once, sends them
                swapped (so the lie comes in the measured load)
      error     getData answers NONODE for znodes that exist
      drop      setData is acknowledged (version bumped) but the data
                is not stored, so later reads show an older value
      trailing  getData replies carry 8 junk bytes after the record
      stall     the 10th getData and everything after it on that
                connection is never answered (the server hangs)
      backwards when two replies are ready at once, the second carries a
                header zxid one below the first's (the zxid a client
                keeps goes back)

    Anything it does not understand is recorded in .problems (and the
    connection closed), so the honest run also proves the fake."""

    def __init__(self, mode):
        self.mode = mode
        self.lock = threading.Lock()
        self.zxid = 1
        # path -> [data, version, czxid, mzxid, cversion]; children by parent
        self.nodes = {'/': [b'', 0, 0, 0, 0]}
        self.kids = {'/': set()}
        self.next_session = 0x5a00000000000001
        self.problems = []
        self.lies = 0
        self.getdata_count = 0
        self.conns = []
        self.threads = []
        self.stopping = False
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.acceptor = threading.Thread(target=self._accept, name='fake-accept', daemon=True)
        self.acceptor.start()

    @property
    def hosts(self):
        return '127.0.0.1:%d' % self.port

    # -- life cycle --

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.stopping:
                c.close()
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = threading.Thread(target=self._serve, args=(c,), name='fake-conn', daemon=True)
            with self.lock:
                self.conns.append(c)
                self.threads.append(t)
            t.start()

    def close(self):
        self.stopping = True
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        self.acceptor.join(timeout=5)
        with self.lock:
            conns, threads = list(self.conns), list(self.threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(timeout=5)
        alive = [t for t in threads if t.is_alive()]
        if alive:
            raise AssertionError('fake server: %d connection threads still running' % len(alive))

    def problem(self, msg):
        with self.lock:
            self.problems.append(msg)

    # -- records --

    def stat(self, path):
        data, version, czxid, mzxid, cversion = self.nodes[path]
        return struct.pack('!qqqqiiiqiiq', czxid, mzxid, 0, 0, version, cversion, 0, 0,
                           len(data), len(self.kids.get(path, ())), czxid)

    @staticmethod
    def buf(b):
        return struct.pack('!i', -1) if b is None else struct.pack('!i', len(b)) + b

    @staticmethod
    def parent(path):
        p = path.rsplit('/', 1)[0]
        return p or '/'

    # -- requests: each returns (err, body) --

    def op_create(self, r):
        path = r.str()
        data = r.buf_()
        r.acls()
        flags = r.int()
        if flags != 0 or not path.startswith('/') or path.endswith('/'):
            return ZBADARGUMENTS, b''
        with self.lock:
            if path in self.nodes:
                return ZNODEEXISTS, b''
            par = self.parent(path)
            if par not in self.nodes:
                return ZNONODE, b''
            self.zxid += 1
            self.nodes[path] = [data or b'', 0, self.zxid, self.zxid, 0]
            self.kids[path] = set()
            self.kids[par].add(path.rsplit('/', 1)[1])
            self.nodes[par][4] += 1
        return ZOK, self.buf(path.encode())

    def op_delete(self, r):
        path = r.str()
        r.int()
        with self.lock:
            if path not in self.nodes:
                return ZNONODE, b''
            if self.kids[path]:
                return ZNOTEMPTY, b''
            par = self.parent(path)
            del self.nodes[path]
            del self.kids[path]
            self.kids[par].discard(path.rsplit('/', 1)[1])
            self.nodes[par][4] += 1
            self.zxid += 1
        return ZOK, b''

    def op_exists(self, r):
        path = r.str()
        r.bool()
        with self.lock:
            if path not in self.nodes:
                return ZNONODE, b''
            return ZOK, self.stat(path)

    def op_getdata(self, r):
        path = r.str()
        r.bool()
        with self.lock:
            if path not in self.nodes:
                return ZNONODE, b''
            data = self.nodes[path][0]
            st = self.stat(path)
            if self.mode == 'error':
                self.lies += 1
                return ZNONODE, b''
            if self.mode == 'corrupt' and data:
                self.lies += 1
                i = len(data) // 2
                data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
            if self.mode == 'trailing':
                self.lies += 1
                return ZOK, self.buf(data) + st + b'\xde\xad\xbe\xef' * 2
            if self.mode == 'stall':
                self.getdata_count += 1
                if self.getdata_count == 10:
                    self.lies += 1
                    return None, None
        return ZOK, self.buf(data) + st

    def op_setdata(self, r):
        path = r.str()
        data = r.buf_()
        r.int()
        with self.lock:
            if path not in self.nodes:
                return ZNONODE, b''
            self.zxid += 1
            n = self.nodes[path]
            if self.mode == 'drop' and n[1] > 0:
                self.lies += 1
                n[1], n[3] = n[1] + 1, self.zxid
            else:
                n[0], n[1], n[3] = data or b'', n[1] + 1, self.zxid
            return ZOK, self.stat(path)

    def op_getchildren(self, r):
        path = r.str()
        r.bool()
        with self.lock:
            if path not in self.nodes:
                return ZNONODE, b''
            kids = sorted(self.kids[path])
        return ZOK, struct.pack('!i', len(kids)) + b''.join(self.buf(k.encode()) for k in kids)

    OPS = {OP_CREATE: op_create, OP_DELETE: op_delete, OP_EXISTS: op_exists,
           OP_GETDATA: op_getdata, OP_SETDATA: op_setdata, OP_GETCHILDREN: op_getchildren}

    # -- one connection --

    def _serve(self, c):
        import zkproto
        buf = b''
        connected = False
        stalled = False
        try:
            while True:
                try:
                    chunk = c.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                frames = []
                while len(buf) >= 4:
                    (n,) = struct.unpack_from('!i', buf)
                    if n < 0 or n > 4 << 20:
                        self.problem('bad frame length %d' % n)
                        return
                    if len(buf) < 4 + n:
                        break
                    frames.append(buf[4:4 + n])
                    buf = buf[4 + n:]
                replies = []   # (opcode or None, frame)
                closing = False
                for f in frames:
                    r = zkproto.Reader(f)
                    if not connected:
                        r.int()
                        r.long()
                        timeout = r.int()
                        r.long()
                        r.buf_()
                        with self.lock:
                            sid = self.next_session
                            self.next_session += 1
                        body = struct.pack('!iiq', 0, timeout, sid) + self.buf(b'\0' * 16) + b'\0'
                        replies.append((None, body))
                        connected = True
                        continue
                    xid, op = r.int(), r.int()
                    if op == OP_PING:
                        replies.append((None, struct.pack('!iqi', -2, self.zxid, 0)))
                        continue
                    if op == OP_CLOSE:
                        replies.append((op, struct.pack('!iqi', xid, self.zxid, 0)))
                        closing = True
                        break
                    fn = self.OPS.get(op)
                    if fn is None:
                        self.problem('unexpected opcode %d' % op)
                        return
                    try:
                        err, body = fn(self, r)
                    except ValueError as e:
                        self.problem('malformed opcode %d request: %s' % (op, e))
                        return
                    if not r.done():
                        self.problem('opcode %d: %d trailing bytes' % (op, len(f) - r.off))
                    if err is None:
                        stalled = True   # 'stall': nothing more is answered
                        continue
                    replies.append((op, struct.pack('!iqi', xid, self.zxid, err) + body))
                # Two read answers ready at once: the liar sends them
                # swapped (never a lone reply, which would only stall a
                # client that waits for each answer).
                if self.mode == 'reorder':
                    idx = [i for i, (o, _) in enumerate(replies)
                           if o in (OP_GETDATA, OP_EXISTS, OP_GETCHILDREN)]
                    if len(idx) >= 2:
                        a, b = idx[0], idx[1]
                        replies[a], replies[b] = replies[b], replies[a]
                        with self.lock:
                            self.lies += 1
                if self.mode == 'backwards':
                    idx = [i for i, (o, _) in enumerate(replies)
                           if o is not None and o != OP_CLOSE]
                    if len(idx) >= 2:
                        (z,) = struct.unpack_from('!q', replies[idx[0]][1], 4)
                        if z >= 2:
                            o, f = replies[idx[1]]
                            replies[idx[1]] = (o, f[:4] + struct.pack('!q', z - 1) + f[12:])
                            with self.lock:
                                self.lies += 1
                out = b''.join(struct.pack('!i', len(p)) + p for _, p in replies)
                if out and not stalled:
                    try:
                        c.sendall(out)
                    except OSError:
                        return
                if closing:
                    return
        finally:
            c.close()
            with self.lock:
                if c in self.conns:
                    self.conns.remove(c)


FAKE_RUN = ['--duration', '1', '--warmup', '0.2', '--sessions', '4', '--outstanding', '8',
            '--read-pct', '50', '--reads', 'getData,exists,getChildren',
            '--writes', 'setData,create-delete', '--znodes', '50',
            '--format', 'csv', '--csv-header']


def with_fake(mode, fn):
    fake = FakeZk(mode)
    try:
        return fn(fake)
    finally:
        fake.close()


def t_fake_honest():
    def run(fake):
        r = bench_ok(fake.hosts, *FAKE_RUN)
        check(not fake.problems, 'fake server saw: %s' % fake.problems[:5], r)
        row = parse_csv(r, MIXED_COLS)
        check(float(row['reads_s']) > 0 and float(row['writes_s']) > 0,
              'honest fake: no reads or writes measured', r)
        # populate again over the same tree: NODEEXISTS -> setData path
        bench_ok(fake.hosts, '--scenario', 'populate', '--znodes', '50', '--sessions', '2')
        check(not fake.problems, 'fake server saw: %s' % fake.problems[:5])
    with_fake('honest', run)


def expect_failure(mode, want, argv=FAKE_RUN):
    def run(fake):
        r = bench(fake.hosts, *argv)
        check(not fake.problems, 'fake server saw: %s' % fake.problems[:5], r)
        check(fake.lies > 0, 'the fake never lied (mode %s)' % mode, r)
        check(r.rc == 1, 'a %s server: cheetah-bench exited %s, expected 1' % (mode, r.rc), r)
        check('FAILED' in r.err and want in r.err,
              'stderr does not say %r' % want, r)
        log('%s: %s' % (mode, [l for l in r.err.splitlines() if 'FAILED' in l][0]))
    with_fake(mode, run)


def t_fake_corrupt():
    expect_failure('corrupt', 'returned bytes that no client wrote')


def t_fake_reorder():
    expect_failure('reorder', 'out of order')


def t_fake_error():
    expect_failure('error', 'getData answered error -101')


def t_fake_drop():
    expect_failure('drop', 'was acknowledged for write')


def t_fake_trailing():
    expect_failure('trailing', 'bytes after the getData reply')


def t_fake_stall():
    # A short session timeout: the bench gives up after two thirds of it.
    expect_failure('stall', 'no reply to',
                   FAKE_RUN + ['--session-timeout', '3000', '--duration', '10'])


def t_fake_backwards():
    expect_failure('backwards', 'went backwards')


# ---- group 'compare': perf/compare --quick ------------------------------------

def t_compare_quick():
    gnuplot = shutil.which('gnuplot')
    if not gnuplot:
        raise AssertionError('gnuplot is not installed: perf/compare cannot plot '
                             '(apt-get install gnuplot-nox; build.sh installs it)')
    out = os.path.join(harness.make_tmp_dir('compare'), 'out')
    argv = ['/usr/bin/python3', ARGS.compare, '--quick',
            '--cheetah', ARGS.cheetah_bin, '--bench', ARGS.bench_bin, '--out', out,
            '--read-pcts', '0,100', '--warmup', '0.2', '--duration', '1',
            '--server-warmup', '0.5', '--sessions', '4', '--outstanding', '8',
            '--znodes', '200', '--mem-znodes', '2000', '--storm-sessions', '50',
            '--storm-watches', '5', '--storm-backlog', '128']
    r = run_cmd(argv, timeout=150)
    log('[compare] exit %s after %.1fs' % (r.rc, r.secs))
    check(r.rc == 0, 'perf/compare failed', r)
    for f in ('summary.txt', 'summary.md', 'meta.json', 'sweep.csv', 'populate.csv',
              'watch-storm.csv', 'sweep.dat', 'cdf-zookeeper.txt', 'cdf-cheetah.txt'):
        p = os.path.join(out, f)
        check(os.path.isfile(p) and os.path.getsize(p) > 0, '%s missing or empty' % f, r)

    def rows(name):
        with open(os.path.join(out, name), newline='') as f:
            return list(csv.DictReader(f))
    sweep = rows('sweep.csv')
    for kind in ('zookeeper', 'cheetah'):
        mine = [x for x in sweep if x['label'] == kind]
        check(sorted(float(x['read_pct']) for x in mine) == [0.0, 100.0],
              'sweep.csv: %s rows %r' % (kind, [x['read_pct'] for x in mine]), r)
        check(all(float(x['ops']) > 0 for x in mine), 'sweep.csv: %s ran nothing' % kind, r)
        pop = [x for x in rows('populate.csv') if x['label'] == kind]
        # one for the sweep's znodes, one for the memory run
        check(len(pop) == 2, 'populate.csv: %d %s rows' % (len(pop), kind), r)
        storm = [x for x in rows('watch-storm.csv') if x['label'] == kind]
        check(len(storm) == 1 and int(storm[0]['events']) == 50,
              'watch-storm.csv: %s rows %r' % (kind, storm), r)
    with open(os.path.join(out, 'summary.txt')) as f:
        summary = f.read()
    log(summary)
    for words in ('Mixed load', 'Memory', 'Watch storm'):
        check(words in summary, 'summary.txt lacks %r' % words, r)
    check('FAILED' not in summary, 'summary.txt reports failures', r)
    for name in ('throughput', 'p99', 'cdf'):
        for ext in ('png', 'svg'):
            p = os.path.join(out, '%s.%s' % (name, ext))
            check(os.path.isfile(p) and os.path.getsize(p) > 0, '%s.%s not plotted'
                  % (name, ext), r)
    with open(os.path.join(out, 'throughput.png'), 'rb') as f:
        check(f.read(8) == b'\x89PNG\r\n\x1a\n', 'throughput.png is not a PNG')
    with open(os.path.join(out, 'throughput.svg'), 'rb') as f:
        check(b'<svg' in f.read(4096), 'throughput.svg is not an SVG')


# ---- main -----------------------------------------------------------------------

GROUPS = {
    'server': [('mixed', t_mixed_csv), ('json', t_mixed_json), ('populate', t_populate),
               ('watch storm', t_watch_storm), ('fan-out timing', t_fanout_timing)],
    'fake': [('honest fake', t_fake_honest), ('corrupt data', t_fake_corrupt),
             ('reordered replies', t_fake_reorder), ('unexpected error', t_fake_error),
             ('dropped writes', t_fake_drop), ('trailing bytes', t_fake_trailing),
             ('stalled reply', t_fake_stall), ('zxid going backwards', t_fake_backwards)],
    'compare': [('compare quick', t_compare_quick)],
}


def main():
    global ARGS, S
    p = harness.arg_parser(__doc__.split('\n')[0])
    p.add_argument('--group', choices=sorted(GROUPS), required=True)
    p.add_argument('--bench-bin', required=True, help='built perf/cheetah-bench')
    p.add_argument('--compare', default=os.path.join(harness.HERE, '..', '..', 'perf',
                                                     'compare'),
                   help='the perf/compare script')
    ARGS = p.parse_args()
    tests = GROUPS[ARGS.group]
    if ARGS.group == 'compare' and not ARGS.cheetah_bin:
        p.error('--group compare needs --cheetah-bin')
    if ARGS.group != 'server':
        sys.exit(harness.run_tests(tests, ARGS))
    S = harness.new_server(ARGS, name='bench')
    try:
        S.start()
        status = harness.run_tests(tests + [('clean_shutdown', S.stop_clean)], ARGS,
                                   servers=[S])
    finally:
        S.cleanup()
    sys.exit(status)


if __name__ == '__main__':
    main()
