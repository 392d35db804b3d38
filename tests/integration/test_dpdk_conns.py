#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Many connections, slow readers and killed clients on the dpdk backend.

The set-up of test_dpdk_veth.py (imported): cheetah on DPDK's af_packet
in a server namespace, this script again (--inner) in the client's, two
dataplane workers.  The server runs with RLIMIT_NOFILE 512: its client
connections live in the user-space stack and hold no file descriptor, so
the limit must not bound them (it once did: about 450 were accepted,
the rest refused as "too many open files").

  many        1,000 connections at once from 4 threads (250 each, the
              client's own RLIMIT_NOFILE raised), each a session that
              creates an ephemeral znode and reads another thread's; mntr
              counts 1,000 connections over both workers; all closed, all
              freed, no ephemeral left
  slow        4 slow readers (4 KiB receive buffers) pipeline 8 reads of
              a 256 KiB znode each (8 MiB queued in the server), read
              nothing for 2.5 s (the server probes their closed windows:
              mntr's tcp_probe moves), then read it in small pieces with
              pauses; meanwhile a bystander's 50 reads and writes
              are each answered within 5 s; then every reply is whole
  killed      a child process opens 100 sessions (each with an ephemeral
              znode) and is killed with SIGKILL: its kernel closes the
              sockets, and mntr's connections and `cons` go back to what
              they were within 20 s; the ephemerals are gone once the
              sessions expire (4 s)

    test_dpdk_conns.py --cheetah-bin PATH
"""
import argparse
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'net'))
import harness  # noqa: E402
import test_dpdk_veth as dv  # noqa: E402
import test_veth  # noqa: E402
import zkproto as zp  # noqa: E402
from harness import log  # noqa: E402
from test_dpdk_veth import Fail, PORT, WAIT  # noqa: E402

HOST = test_veth.SRV_IP
SERVER_NOFILE = 512


def conns_now(host=HOST):
    """Connections the server holds, less mntr's own."""
    return dv.mntr(host)['cheetah_net_connections'] - 1


def t_many(n=1000, nthreads=4):
    per = n // nthreads
    conns = [[] for _ in range(nthreads)]
    errors = []

    def opener(t):
        try:
            for i in range(per):
                c = zp.Conn(HOST, PORT, timeout_ms=30000)
                conns[t].append(c)
                c.create('/cm%d_%03d' % (t, i), b'%d' % i, flags=zp.EPHEMERAL)
            # Another thread's znodes, through this thread's sessions.
            for i, c in enumerate(conns[t]):
                other = (t + 1) % nthreads
                path = '/cm%d_%03d' % (other, i)
                end = time.monotonic() + WAIT
                while c.exists(path) is None:  # the other thread may be behind
                    if time.monotonic() > end:
                        raise Fail('%s never appeared to thread %d' % (path, t))
                    time.sleep(0.01)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append('thread %d: %r' % (t, e))

    base = conns_now()
    threads = [threading.Thread(target=opener, args=(t,)) for t in range(nthreads)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
            if th.is_alive():
                raise Fail('opening %d connections: a thread did not finish in 120 s' % n)
        if errors:
            raise Fail('opening %d connections: %s' % (n, '; '.join(errors[:4])))
        m = dv.mntr_until(HOST, lambda m: m['cheetah_net_connections'] == base + n + 1,
                          'mntr: %d connections' % (base + n + 1))
        workers = dv.per_worker(m)
        if len(workers) > 1 and min(workers) == 0:
            raise Fail('%d connections: one worker holds none: %r' % (n, workers))
        # Every connection still answers.
        for t in range(nthreads):
            for c in conns[t]:
                c.ping()
        log('    %d connections at once from %d threads, each a session that was answered; '
            'per worker %r' % (n, nthreads, workers))
    finally:
        for t in range(nthreads):
            for c in conns[t]:
                try:
                    c.close_session()
                except Exception:  # noqa: BLE001 (closing what is left)
                    c.close_socket()
    dv.mntr_until(HOST, lambda m: m['cheetah_net_connections'] == base + 1,
                  'mntr: connections back to %d after closing %d' % (base + 1, n))
    c = zp.Conn(HOST, PORT)
    left = [k for k in c.children('/')[0] if k.startswith('cm')]
    c.close_session()
    if left:
        raise Fail('%d ephemerals left after their sessions closed' % len(left))
    log('    all %d closed: connections back to %d, no ephemeral left' % (n, base))


def t_slow(nreaders=4, nreq=8, size=256 * 1024):
    data = bytes((i * 13 + (i >> 11)) & 0xff for i in range(size))
    setup = zp.Conn(HOST, PORT)
    setup.create('/slow', data)
    readers = []
    for _ in range(nreaders):
        c = zp.Conn(HOST, PORT, connect=False)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
        s.settimeout(WAIT)
        s.connect((HOST, PORT))
        c.sock = s
        # The handshake by hand (Conn.connect opens its own socket).
        c.send_raw(zp.frame(zp.r_connect(30000, 0, b'\x00' * 16, 0, False)))
        c.recv_frame()
        readers.append(c)
    m0 = dv.mntr(HOST)
    xids = []
    for c in readers:
        xids.append([c.send(zp.OP['getData'], zp.r_path_watch('/slow', False))
                     for _ in range(nreq)])
    # A bystander is served while the readers' replies wait.
    worst = 0.0
    for i in range(50):
        t0 = time.monotonic()
        if i == 0:
            setup.create('/by', b'')
        elif i % 2:
            setup.set('/by', b'%d' % i)
        else:
            setup.get('/by')
        worst = max(worst, time.monotonic() - t0)
    if worst > 5.0:
        raise Fail('a bystander waited %.1f s while slow readers held 8 MiB' % worst)
    # Read slowly: first not at all, long enough for the server to find
    # the windows closed and probe them (its persist timer: one RTO, 200 ms
    # at least, cheetah.tcp.rto_min_ms), then small pieces with pauses.
    time.sleep(2.5)
    for c in readers:
        c.sock.settimeout(WAIT)
    got = [0] * nreaders
    end = time.monotonic() + 120
    bufs = [b''] * nreaders
    need = [nreq * (4 + 16 + 4 + size + 68)] * nreaders  # frames: header, data, Stat
    while any(len(bufs[i]) < need[i] for i in range(nreaders)):
        if time.monotonic() > end:
            raise Fail('slow readers: %r of %r bytes after 120 s' % ([len(b) for b in bufs], need))
        for i, c in enumerate(readers):
            if len(bufs[i]) < need[i]:
                bufs[i] += c.sock.recv(16384)
        time.sleep(0.002 if len(bufs[0]) > need[0] // 4 else 0.05)
    for i, c in enumerate(readers):
        c._rbuf = bufs[i]
        for x in xids[i]:
            r = c.read_reply(x)
            if r.err != 0 or zp.Reader(r.body).buf_() != data:
                raise Fail('slow reader %d: reply %d err %d or its data differs' % (i, x, r.err))
        got[i] = len(xids[i])
        c.close_session()
    m1 = dv.mntr(HOST)
    probes = m1['cheetah_net_tcp_probe'] - m0['cheetah_net_tcp_probe']
    if probes == 0:
        raise Fail('slow readers: the server sent no zero-window probe while their windows '
                   'were closed for 2.5 s')
    setup.delete('/slow')
    setup.delete('/by')
    setup.close_session()
    log('    %d slow readers got %d x %d-byte replies each, whole; the bystander waited at '
        'most %.3f s; zero-window probes %d' % (nreaders, nreq, size, worst, probes))


def child(n):
    """The process to be killed: n sessions, each with an ephemeral."""
    conns = []
    for i in range(n):
        c = zp.Conn(HOST, PORT, timeout_ms=4000)
        c.create('/ck%03d' % i, b'', flags=zp.EPHEMERAL)
        conns.append(c)
    print('ready %d' % len(conns), flush=True)
    time.sleep(600)  # killed long before
    return 0


def cons_lines(host=HOST):
    out = harness.four_letter(PORT, 'cons', timeout=WAIT, host=host) or b''
    return [ln for ln in out.decode(errors='replace').splitlines() if ln.strip().startswith('/')]


def t_killed(n=100):
    base = conns_now()
    base_cons = len(cons_lines())
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), '--child', str(n)],
                         stdout=subprocess.PIPE, text=True)
    try:
        line = ''
        import select
        r, _, _ = select.select([p.stdout], [], [], 60)
        if r:
            line = p.stdout.readline()
        if line.strip() != 'ready %d' % n:
            raise Fail('the child did not open its %d sessions: %r' % (n, line))
        dv.mntr_until(HOST, lambda m: m['cheetah_net_connections'] == base + n + 1,
                      'mntr: the child\'s %d connections' % n)
        with_child = len(cons_lines())
        if with_child < base_cons + n:
            raise Fail('cons lists %d connections with the child\'s %d open (before: %d)'
                       % (with_child, n, base_cons))
        p.kill()
        p.wait(10)
        dv.mntr_until(HOST, lambda m: m['cheetah_net_connections'] == base + 1,
                      'mntr: connections freed after kill -9 of the client', timeout=20)
        left = len(cons_lines())
        if left != base_cons:
            raise Fail('cons lists %d connections after the kill, %d before' % (left, base_cons))
        # The sessions expire (4 s) and take their ephemerals.
        c = zp.Conn(HOST, PORT)
        end = time.monotonic() + 30
        while True:
            eph = [k for k in c.children('/')[0] if k.startswith('ck')]
            if not eph:
                break
            if time.monotonic() > end:
                raise Fail('%d ephemerals of the killed client after 30 s' % len(eph))
            time.sleep(0.2)
        c.close_session()
        log('    a client with %d sessions killed: its connections freed (mntr, cons), '
            'its ephemerals gone with the sessions' % n)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def inner(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        raise Fail('the client needs 1,200 file descriptors; RLIMIT_NOFILE hard limit %d' % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    srv = dv.make_server(a, config={'cheetah.log.level': 'info', 'globalOutstandingLimit': 100000})
    srv.rlimit_nofile = SERVER_NOFILE
    try:
        srv.start(timeout=60)
        log('[dpdk conns] cheetah serves %s through DPDK af_packet (RLIMIT_NOFILE %d)'
            % (srv.hosts, SERVER_NOFILE))
        t_many()
        t_slow()
        t_killed()
        srv.stop_clean()
    except Exception:
        if srv.log_path:
            # The warnings and errors (the tail is mostly sessions closing).
            bad = [ln for ln in srv.read_log().splitlines() if ' WARN ' in ln or ' ERROR ' in ln]
            sys.stderr.write('---- the server\'s warnings and errors (%d) ----\n%s\n'
                             % (len(bad), '\n'.join(bad[:20])))
        raise
    finally:
        srv.cleanup()
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cheetah-bin')
    ap.add_argument('--inner', action='store_true')
    ap.add_argument('--child', type=int)
    ap.add_argument('--ns-srv')
    ap.add_argument('--eal')
    ap.add_argument('--cores')
    a = ap.parse_args()
    if a.child:
        return child(a.child)
    a.cheetah_bin = os.path.abspath(a.cheetah_bin)
    if a.inner:
        try:
            return inner(a)
        except Fail as e:
            print('FAIL: %s' % e)
            return 1
    return dv.drive_script(a, os.path.abspath(__file__), 'dpdk conns')


if __name__ == '__main__':
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit('terminated by signal %d' % s))
    sys.exit(main())
