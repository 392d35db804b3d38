#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Requests that make the server do a lot of work or allocate a lot
(issue 8), each sent while a bystander session keeps reading: the
bystander's session must survive (its ephemeral stays, kazoo never
reports the session lost) and none of its reads may wait more than
BYSTANDER_MAX seconds (generous: a loaded 2-core CI machine).

- addauth_flood: one raw connection pipelines 20,000 `addAuth digest
  user<i>:pw`.  ZooKeeper accepts all of them (no bound); Cheetah
  accepts TREE_AUTH_MAX_IDS - 1 (the connection's ip identity is the
  first), answers the next AUTHFAILED and closes the connection.
- multiread_big: a multiRead of getData ops on a 1,000,000-byte znode.
  ZooKeeper sends the whole reply, longer than jute.maxbuffer, which a
  Java client refuses to read ("Packet len N is out of range!"); Cheetah
  answers MARSHALLINGERROR without building it, and its RSS stays put
  when the multiRead has 1,000 ops (ZooKeeper would build 1 GB: not run
  against it here).

- close_many_watches: one raw session sets CLOSE_WATCHES exist watches
  (setWatches) and closes its connection.  Cheetah used to free them
  all at once on the worker (0.1-0.75 s during which no other
  connection of that worker was served); now the watches are detached
  at once and freed a slice per loop iteration.  The bystander's reads
  that overlap the close, until the watch count is back to what it was,
  may wait at most CLOSE_STALL_MAX (median of CLOSE_ROUNDS rounds;
  Cheetah only).

- dump_many_ephemerals: DUMP_SESSIONS raw sessions create DUMP_EPHEMERALS
  ephemerals in all, then `dump` is read DUMP_ROUNDS times.  Cheetah
  used to build the whole text (every session's ephemerals, collected
  and sorted) in one go on the asking worker; now it is produced 64 KiB
  at a time as the client reads.  The bystander's reads that overlap a
  dump may wait at most DUMP_STALL_MAX (median of the rounds; Cheetah
  only).

The server CPU time and RSS figures are printed for the record; they
decide nothing.

    test_hardening.py --server zookeeper|cheetah [--cheetah-bin PATH] [--only NAME]
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import zkproto as zp  # noqa: E402
from harness import wait_until, log  # noqa: E402

from kazoo.client import KazooClient, KazooState  # noqa: E402

WAIT = 60.0           # every wait here is bounded by this many seconds
BYSTANDER_MAX = 2.0   # the longest a bystander read may take, s
MAX_IDS = 64          # TREE_AUTH_MAX_IDS
JUTE_MAXBUFFER = 0xfffff
CLOSE_WATCHES = int(os.environ.get('CLOSE_WATCHES', '2000000'))
CLOSE_ROUNDS = 3
# The longest bystander read overlapping the close of CLOSE_WATCHES
# watches (median of CLOSE_ROUNDS rounds), s.  Freed in one go, they
# stalled it for as long as the freeing took: 150-210 ms (median 161) on
# an idle 2-core machine; freed in slices, 11-15 ms (the last step gives
# the emptied 100 MB tables back), medians up to 32 ms with other jobs
# on the machine.
CLOSE_STALL_MAX = 0.08
DUMP_SESSIONS = 100
DUMP_EPHEMERALS = int(os.environ.get('DUMP_EPHEMERALS', '300000'))
DUMP_ROUNDS = 3
# The longest bystander read overlapping a dump of DUMP_EPHEMERALS
# ephemerals (median of DUMP_ROUNDS), s: built whole on the asking
# worker, 89-113 ms (median 99) on an idle 2-core machine; streamed,
# 3.5-13 ms.
DUMP_STALL_MAX = 0.04
S = None
ARGS = None


def cpu_seconds(pid):
    """utime + stime of a process, s."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


class Bystander:
    """A kazoo session with a 4 s timeout and an ephemeral, reading one
    znode in a loop on its own thread; records every read's latency and
    every state change."""

    def __init__(self, name):
        self.name = name
        self.path = '/bystander-' + name
        self.zk = KazooClient(hosts=S.hosts, timeout=4.0)
        self.states = []
        self.zk.add_listener(self.states.append)
        self.zk.start(timeout=WAIT)
        self.zk.create(self.path, b'x' * 100)
        self.zk.create(self.path + '-eph', b'', ephemeral=True)
        self.session = self.zk.client_id[0]
        self.lat = []
        self.spans = []  # (start, end) of every read, monotonic
        self.errors = []
        self.stop_ = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        wait_until(lambda: len(self.lat) >= 10, WAIT, 'bystander reads')

    def _run(self):
        while not self.stop_.is_set():
            t0 = time.monotonic()
            try:
                self.zk.get(self.path)
            except Exception as e:  # recorded, judged in finish()
                self.errors.append(repr(e))
                time.sleep(0.01)
                continue
            t1 = time.monotonic()
            self.lat.append(t1 - t0)
            self.spans.append((t0, t1))

    def worst_between(self, t_from, t_to):
        """The longest read that overlapped [t_from, t_to], s, and how many did."""
        over = [b - a for a, b in list(self.spans) if b >= t_from and a <= t_to]
        return (max(over) if over else 0.0), len(over)

    def finish(self):
        n0 = len(self.lat)
        # a few more reads after the attack: the server still answers
        wait_until(lambda: len(self.lat) >= n0 + 10, WAIT, 'bystander reads after')
        self.stop_.set()
        self.thread.join(WAIT)
        lat = sorted(self.lat)
        log('[%s] bystander: %d reads, p50 %.1f ms, max %.1f ms, errors %d, states %s' % (
            self.name, len(lat), 1000 * lat[len(lat) // 2], 1000 * lat[-1],
            len(self.errors), [str(s) for s in self.states]))
        try:
            assert not self.errors, 'bystander read errors: %s' % self.errors[:3]
            assert KazooState.LOST not in self.states, 'bystander session lost'
            stat = self.zk.exists(self.path + '-eph')
            assert stat is not None, 'bystander ephemeral gone'
            assert stat.ephemeralOwner == self.session, 'ephemeral owner changed'
            assert self.zk.client_id[0] == self.session, 'bystander session replaced'
            assert lat[-1] < BYSTANDER_MAX, \
                'a bystander read waited %.2f s (bound %.1f s)' % (lat[-1], BYSTANDER_MAX)
        finally:
            self.zk.stop()
            self.zk.close()


def t_addauth_flood():
    n = 20000
    by = Bystander('auth')
    c = zp.Conn('127.0.0.1', S.port, timeout_ms=30000, sock_timeout=WAIT)
    frames = b''.join(zp.frame(zp.e_int(zp.AUTH_XID) + zp.e_int(zp.OP['auth']) +
                               zp.r_auth('digest', 'user%d:pw' % i)) for i in range(n))
    send_err = []

    def sender():
        try:
            c.send_raw(frames)
        except zp.ConnectionClosed as e:  # cheetah closes after AUTHFAILED
            send_err.append(e)

    cpu0, t0 = cpu_seconds(S.pid), time.monotonic()
    th = threading.Thread(target=sender, daemon=True)
    th.start()
    ok, failed, closed = 0, 0, False
    try:
        while ok + failed < n:
            rep = c.read_reply(zp.AUTH_XID)
            if rep.err == 0:
                ok += 1
            else:
                assert rep.err == zp.ERR['AUTHFAILED'], rep.err
                failed += 1
                break
    except zp.ConnectionClosed:
        closed = True
    if failed:
        try:
            c.read_reply()
        except zp.ConnectionClosed:
            closed = True
    th.join(WAIT)
    c.close_socket()
    log('[auth] %d addAuth: %d OK, %d AUTHFAILED, closed %s; server CPU %.2f s, wall %.2f s'
        % (n, ok, failed, closed, cpu_seconds(S.pid) - cpu0, time.monotonic() - t0))
    by.finish()
    if ARGS.server == 'cheetah':
        assert ok == MAX_IDS - 1, ok
        assert failed == 1 and closed, (failed, closed)
    else:
        assert ok == n and not failed, (ok, failed)
    assert S.ruok()


def multi_read(c, path, nops):
    ops = [(zp.OP['getData'], zp.r_path_watch(path, False))] * nops
    xid = c.send(zp.OP['multiRead'], zp.r_multi(ops))
    # the frame length itself, to compare with what a client can read
    n = int.from_bytes(c._recv_exact(4), 'big', signed=True)
    body = c._recv_exact(n)
    r = zp.Reader(body)
    rxid, _zxid, err = r.int(), r.long(), r.int()
    assert rxid == xid, (rxid, xid)
    return n, err


def t_multiread_big():
    by = Bystander('mr')
    zk = KazooClient(hosts=S.hosts, timeout=10.0)
    zk.start(timeout=WAIT)
    try:
        zk.create('/big', b'b' * 1000000)
    finally:
        zk.stop()
        zk.close()
    c = zp.Conn('127.0.0.1', S.port, timeout_ms=30000, sock_timeout=WAIT)
    # one op fits, two do not
    n, err = multi_read(c, '/big', 1)
    assert err == 0 and JUTE_MAXBUFFER >= n > 1000000, (n, err)
    n, err = multi_read(c, '/big', 2)
    if ARGS.server == 'cheetah':
        assert err == zp.ERR['MARSHALLINGERROR'] and n == 16, (n, err)
    else:
        # ZooKeeper sends 2 MB that a Java client with the same
        # jute.maxbuffer refuses to read
        assert err == 0 and n > JUTE_MAXBUFFER, (n, err)
    log('[mr] multiRead of 2 getData of 1 MB: reply frame %d bytes, err %d' % (n, err))
    if ARGS.server == 'cheetah':
        rss0, cpu0, t0 = S.rss_kb(), cpu_seconds(S.pid), time.monotonic()
        n, err = multi_read(c, '/big', 1000)
        assert err == zp.ERR['MARSHALLINGERROR'] and n == 16, (n, err)
        n, err = multi_read(c, '/big', 2000)
        assert err == zp.ERR['MARSHALLINGERROR'] and n == 16, (n, err)
        rss1 = S.rss_kb()
        log('[mr] multiRead of 1,000 and 2,000 getData of 1 MB: MARSHALLINGERROR; server CPU '
            '%.2f s, wall %.2f s, RSS %d -> %d kB' % (cpu_seconds(S.pid) - cpu0,
                                                      time.monotonic() - t0, rss0, rss1))
        assert rss1 - rss0 < 64 * 1024, 'RSS grew by %d kB' % (rss1 - rss0)
    # the session goes on
    assert c.call(zp.OP['exists'], zp.r_path_watch('/big', False)).err == 0
    c.close_socket()
    by.finish()
    assert S.ruok()


def watch_count():
    for line in (S.four('mntr', timeout=WAIT) or b'').decode().splitlines():
        k, _, v = line.partition('\t')
        if k == 'zk_watch_count':
            return int(v)
    raise AssertionError('no zk_watch_count in mntr')


def set_watches_and_close(by, base, tag):
    """One round: a raw session sets CLOSE_WATCHES exist watches and
    closes its connection.  Returns the longest bystander read that
    overlapped the close (until the watch count is back to base), s."""
    c = zp.Conn('127.0.0.1', S.port, timeout_ms=30000, sock_timeout=WAIT)
    batch, size = [], 0
    for i in range(CLOSE_WATCHES + 1):
        if i == CLOSE_WATCHES or size >= 256 * 1024:
            rep = c.call(zp.OP['setWatches'], zp.r_set_watches(0, exist=batch),
                         xid=zp.SET_WATCHES_XID)
            assert rep.err == 0, 'setWatches answered %s' % zp.ERRNAME.get(rep.err, rep.err)
            batch, size = [], 0
        if i < CLOSE_WATCHES:
            batch.append('/close%d/w%07d' % (tag, i))
            size += len(batch[-1]) + 4
    wait_until(lambda: watch_count() >= base + CLOSE_WATCHES, WAIT, 'watches set')
    # reads of a quiet moment before, for comparison
    n0 = len(by.lat)
    wait_until(lambda: len(by.lat) >= n0 + 20, WAIT, 'bystander reads before the close')
    quiet = sorted(by.lat[n0:])
    t_close = time.monotonic()
    c.close_socket()
    wait_until(lambda: watch_count() <= base, WAIT, 'the closed connection\'s watches freed',
               interval=0.01)
    t_done = time.monotonic()
    n1 = len(by.lat)
    wait_until(lambda: len(by.lat) >= n1 + 5, WAIT, 'bystander reads after the close')
    worst, nreads = by.worst_between(t_close, t_done)
    log('[close] round %d, %d watches: freed %.3f s after the close; %d bystander reads '
        'overlapped it, the longest %.1f ms (quiet before: p50 %.1f ms, max %.1f ms)' % (
            tag, CLOSE_WATCHES, t_done - t_close, nreads, 1000 * worst,
            1000 * quiet[len(quiet) // 2], 1000 * quiet[-1]))
    return worst


def t_close_many_watches():
    if ARGS.server != 'cheetah':
        log('[close] %d watches x %d rounds: Cheetah only (a JVM needs a larger heap)'
            % (CLOSE_WATCHES, CLOSE_ROUNDS))
        return
    by = Bystander('close')
    base = watch_count()
    worst = sorted(set_watches_and_close(by, base, r) for r in range(CLOSE_ROUNDS))
    by.finish()
    median = worst[len(worst) // 2]
    log('[close] the longest overlapping read per round: %s ms; median %.1f ms' % (
        ', '.join('%.1f' % (1000 * w) for w in worst), 1000 * median))
    assert median < CLOSE_STALL_MAX, (
        'bystander reads waited %.3f s (median of %d rounds) while a connection with %d '
        'watches closed (bound %.3f s; issue 8: free them in slices)' % (
            median, CLOSE_ROUNDS, CLOSE_WATCHES, CLOSE_STALL_MAX))
    assert S.ruok()


def t_dump_many_ephemerals():
    if ARGS.server != 'cheetah':
        log('[dump] %d ephemerals: Cheetah only' % DUMP_EPHEMERALS)
        return
    per = DUMP_EPHEMERALS // DUMP_SESSIONS
    conns = []
    t0 = time.monotonic()
    try:
        for i in range(DUMP_SESSIONS):
            c = zp.Conn('127.0.0.1', S.port, timeout_ms=60000, sock_timeout=WAIT)
            conns.append(c)
            if i == 0:
                c.create('/dump', b'')
            # pipelined creates, 1,000 outstanding at most
            done = 0
            while done < per:
                k = min(1000, per - done)
                c.send_raw(b''.join(
                    zp.frame(zp.e_int(c.xid + 1 + j) + zp.e_int(zp.OP['create']) +
                             zp.r_create('/dump/s%03d-%06d' % (i, done + j), b'', zp.OPEN_ACL,
                                         zp.EPHEMERAL)) for j in range(k)))
                c.xid += k
                for _ in range(k):
                    rep = c.read_reply()
                    assert rep.err == 0, 'create answered %s' % zp.ERRNAME.get(rep.err, rep.err)
                done += k
        log('[dump] %d ephemerals in %d sessions created in %.1f s' % (
            per * DUMP_SESSIONS, DUMP_SESSIONS, time.monotonic() - t0))
        by = Bystander('dump')
        # a quiet second before, for comparison
        t0 = time.monotonic()
        wait_until(lambda: time.monotonic() > t0 + 1.0 and len(by.lat) > 20, WAIT,
                   'bystander reads before the dump')
        quiet, _ = by.worst_between(t0, time.monotonic())
        log('[dump] quiet second before: the longest bystander read %.1f ms' % (1000 * quiet))
        worst = []
        for r in range(DUMP_ROUNDS):
            t0 = time.monotonic()
            text = S.four('dump', timeout=WAIT) or b''
            t1 = time.monotonic()
            n = text.count(b'\t/dump/s')
            assert n == per * DUMP_SESSIONS, 'dump listed %d of %d ephemerals' % (
                n, per * DUMP_SESSIONS)
            assert text.startswith(b'SessionTracker dump:\nSession Sets ('), text[:80]
            assert b'\nConnections dump:\nConnections Sets (' in text
            w, nreads = by.worst_between(t0, t1)
            worst.append(w)
            log('[dump] round %d: %d bytes in %.3f s; %d bystander reads overlapped it, the '
                'longest %.1f ms' % (r, len(text), t1 - t0, nreads, 1000 * w))
        by.finish()
    finally:
        for c in conns:
            c.close_socket()
    worst.sort()
    median = worst[len(worst) // 2]
    assert median < DUMP_STALL_MAX, (
        'bystander reads waited %.3f s (median of %d rounds) during a dump of %d ephemerals '
        '(bound %.3f s; issue 8: stream it)' % (median, DUMP_ROUNDS, per * DUMP_SESSIONS,
                                                DUMP_STALL_MAX))
    assert S.ruok()


TESTS = [
    ('addauth_flood', t_addauth_flood),
    ('multiread_big', t_multiread_big),
    ('close_many_watches', t_close_many_watches),
    ('dump_many_ephemerals', t_dump_many_ephemerals),
]


def main():
    global S, ARGS
    ARGS = harness.arg_parser(__doc__).parse_args()
    S = harness.new_server(ARGS)
    try:
        S.start()
        return harness.run_tests(TESTS, ARGS, servers=[S])
    finally:
        S.stop()
        S.cleanup()


if __name__ == '__main__':
    sys.exit(main())
