#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The dpdk backend on an impaired link: loss, reordering, duplication,
delay.

cheetah on DPDK's af_packet in a server namespace, kazoo in the client's
(the set-up of test_dpdk_veth.py, imported), the link impaired one of two
ways (--impair):

  netem   tc netem on the client's veth (iproute2; the kernel's sch_netem):
          delay 2 ms, 3 % loss, 1 % duplicates, 5 % sent at once ahead of
          the delayed ones (reordering), the client's segments only.  A
          kernel without netem FAILS the test with a message naming it
          (CONFIG_NET_SCH_NETEM): it is never skipped.
  relay   the veth pairs srv <-> mid <-> cli joined by this script (--relay)
          in a third namespace, forwarding frames between two AF_PACKET
          sockets and doing to TCP frames, both ways, what netem would:
          the same delay, loss, duplicates and reordering, from a seeded
          random generator.  It needs no kernel module (the kernel this
          test was written on has no netem), and it counts what it did.

Through it (jute.maxbuffer 4 MiB): two kazoo sessions; a 1 MiB znode
written and read back byte for byte, twice; 50 writes, each read back,
and a watch per write fired in order; the sessions must survive (their
ids unchanged, never LOST; a SUSPENDED reconnect is counted).  Then mntr:
the stack saw out-of-order or duplicate segments, and (relay: the
server's segments are lost too) retransmitted; the relay dropped,
duplicated and reordered frames; cheetah exits 0 on SIGTERM.

Every wait has a timeout; the qdisc, the relay process, the namespaces
and veth pairs are removed in finally blocks.  Needs root.

    test_dpdk_impair.py --cheetah-bin PATH --impair netem|relay
"""
import argparse
import heapq
import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'net'))
import harness  # noqa: E402,F401
import test_dpdk_veth as dv  # noqa: E402
import test_veth  # noqa: E402
from harness import log  # noqa: E402
from test_dpdk_veth import Fail, WAIT, eq  # noqa: E402

HOST = test_veth.SRV_IP
DELAY_MS = 2
LOSS_PCT = 3
DUP_PCT = 1
REORDER_PCT = 5
NETEM = ['delay', '%dms' % DELAY_MS, 'loss', '%d%%' % LOSS_PCT, 'duplicate', '%d%%' % DUP_PCT,
         'reorder', '%d%%' % REORDER_PCT]
MAXBUF = 4 * 1024 * 1024
# Writes, each read back and watched: every lost one-segment request or
# reply costs a tail loss probe or the stack's RTO (200 ms at least), so
# keep them few.
NWRITES = 50


# ---------------------------------------------------------------------
# The relay (runs in the middle namespace).

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def relay(a):
    """Forwards frames between two interfaces; TCP frames are delayed,
    lost, duplicated or sent ahead (reordered) at random (seeded).  Prints
    `ready`, then on SIGTERM its counts as JSON."""
    stop = []
    signal.signal(signal.SIGTERM, lambda s, f: stop.append(s))
    socks = []
    for name in (a.if_a, a.if_b):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        s.bind((name, ETH_P_ALL))
        s.setblocking(False)
        socks.append(s)
    other = {socks[0]: socks[1], socks[1]: socks[0]}
    rng = random.Random(a.seed)
    st = dict(frames=0, tcp=0, dropped=0, duplicated=0, reordered=0, send_errors=0)
    heap = []
    seq = 0
    delay = DELAY_MS / 1000.0

    def send(out, data):
        try:
            out.send(data)
        except OSError:
            st['send_errors'] += 1

    print('ready', flush=True)
    while not stop:
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, out, data = heapq.heappop(heap)
            send(out, data)
        timeout = min(0.1, heap[0][0] - now) if heap else 0.1
        r, _, _ = select.select(socks, [], [], max(0.0, timeout))
        now = time.monotonic()
        for s in r:
            for _ in range(256):
                try:
                    data, addr = s.recvfrom(65536)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue  # this socket's own sends, seen on the way out
                out = other[s]
                st['frames'] += 1
                if not (len(data) >= 34 and data[12:14] == b'\x08\x00' and data[23] == 6):
                    send(out, data)  # ARP and the rest: untouched
                    continue
                st['tcp'] += 1
                if rng.random() * 100 < LOSS_PCT:
                    st['dropped'] += 1
                    continue
                due = now + delay
                if rng.random() * 100 < REORDER_PCT:
                    due = now  # ahead of the frames still delayed
                    st['reordered'] += 1
                seq += 1
                heapq.heappush(heap, (due, seq, out, data))
                if rng.random() * 100 < DUP_PCT:
                    seq += 1
                    heapq.heappush(heap, (due + 0.0005, seq, out, data))
                    st['duplicated'] += 1
    print(json.dumps(st), flush=True)
    return 0


# ---------------------------------------------------------------------
# The client side (runs in the client namespace).

def t_kazoo(impair):
    from kazoo.client import KazooClient, KazooState

    hosts = '%s:%d' % (HOST, dv.PORT)
    states = []
    zk = KazooClient(hosts=hosts, timeout=10)
    zk.add_listener(lambda s: states.append(('a', s)))
    zk.start(timeout=WAIT)
    other = KazooClient(hosts=hosts, timeout=10)
    other.add_listener(lambda s: states.append(('b', s)))
    other.start(timeout=WAIT)
    ids = (zk.client_id, other.client_id)
    m0 = dv.mntr(HOST)
    t0 = time.monotonic()
    try:
        # 1 MiB, written and read back, twice (the second over grown windows).
        n = 1024 * 1024
        big = bytes((i * 11 + (i >> 10)) & 0xff for i in range(n))
        zk.create('/imp', b'')
        for rnd in range(2):
            eq(zk.set('/imp', big).dataLength, n, '1 MiB znode: dataLength')
            got = other.get('/imp')[0]
            if got != big:
                raise Fail('1 MiB znode read back differs (round %d: %d bytes)' % (rnd, len(got)))
            big = big[::-1]
        t_big = time.monotonic() - t0
        # Writes read back, a watch per write fired in order.
        fired = []
        cond = threading.Condition()

        def watch(ev):
            with cond:
                fired.append(ev.path)
                cond.notify_all()
        for i in range(NWRITES):
            path = '/imp/w%03d' % i
            other.exists(path, watch=watch)
            zk.create(path, b'%d' % i)
            eq(other.get(path)[0], b'%d' % i, 'read after write %d' % i)
        with cond:
            if not cond.wait_for(lambda: len(fired) >= NWRITES, WAIT):
                raise Fail('%d of %d watches fired' % (len(fired), NWRITES))
        eq(fired, ['/imp/w%03d' % i for i in range(NWRITES)], 'watches, in order')
        t_small = time.monotonic() - t0 - t_big
        zk.delete('/imp', recursive=True)
        if (zk.client_id, other.client_id) != ids:
            raise Fail('a session was replaced: %r -> %r' % (ids, (zk.client_id,
                                                                  other.client_id)))
        lost = [s for s in states if s[1] == KazooState.LOST]
        if lost:
            raise Fail('a session was lost: %r' % states)
        suspended = sum(1 for s in states if s[1] == KazooState.SUSPENDED)
        log('    kazoo through %s: 1 MiB written and read twice (%.1f s), %d writes read back '
            'and their watches in order (%.1f s); both sessions survived (%d suspensions)'
            % (impair, t_big, NWRITES, t_small, suspended))
    finally:
        for c in (zk, other):
            c.stop()
            c.close()
    m1 = dv.mntr(HOST)
    d = {k: m1['cheetah_net_' + k] - m0['cheetah_net_' + k]
         for k in ('tcp_retrans', 'tcp_rto', 'tcp_fast_retrans', 'tcp_sack_recovery',
                   'tcp_tlp_probe', 'tcp_tlp_repaired', 'tcp_rack_lost', 'tcp_rack_recovery',
                   'tcp_ooo', 'tcp_dup', 'tcp_rx', 'tcp_tx')}
    log('    mntr during it: %r' % d)
    if d['tcp_ooo'] + d['tcp_dup'] == 0:
        raise Fail('mntr: no out-of-order or duplicate segment counted through %s: %r'
                   % (impair, d))
    if impair == 'relay' and d['tcp_retrans'] == 0:
        raise Fail('mntr: no retransmission counted with 3 %% of the server\'s segments '
                   'lost: %r' % d)
    for k in ('ip_bad_csum', 'tcp_bad_csum'):
        eq(m1['cheetah_net_' + k], 0, 'mntr cheetah_net_' + k)


def inner(a):
    srv = dv.make_server(a, {'jute.maxbuffer': MAXBUF, 'cheetah.log.level': 'info'})
    try:
        srv.start(timeout=60)
        log('[dpdk %s] cheetah serves %s through DPDK af_packet' % (a.impair, srv.hosts))
        t_kazoo(a.impair)
        srv.stop_clean()
    except Exception:
        if srv.log_path:
            sys.stderr.write(srv.log_tail())
        raise
    finally:
        srv.cleanup()
    return 0


# ---------------------------------------------------------------------
# The driver (root namespace).

def run(cmd, what):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise Fail('%s: `%s` exited %d: %s' % (what, ' '.join(cmd), r.returncode,
                                                r.stderr.strip()))
    return r


def netem_missing(err):
    """The message for a kernel without netem: what is missing, how it
    was looked for."""
    msg = ('tc netem unavailable: `tc qdisc add ... netem` said "%s". The kernel lacks the '
           'netem queueing discipline (module sch_netem, CONFIG_NET_SCH_NETEM)' % err)
    try:
        with open('/proc/config.gz', 'rb') as f:
            import gzip
            cfg = gzip.decompress(f.read()).decode(errors='replace')
        line = [ln for ln in cfg.splitlines() if 'CONFIG_NET_SCH_NETEM' in ln]
        msg += '; /proc/config.gz: %s' % (line[0] if line else 'no CONFIG_NET_SCH_NETEM line')
    except OSError:
        pass
    if shutil.which('modprobe'):
        r = subprocess.run(['modprobe', 'sch_netem'], capture_output=True, text=True, timeout=30)
        msg += '; modprobe sch_netem: %s' % (
            'exit %d: %s' % (r.returncode, r.stderr.strip()) if r.returncode else 'loaded, '
            'yet the qdisc was refused')
    else:
        msg += '; no modprobe here'
    return msg + '. Run the relay variant (--impair relay) or use a kernel with netem.'


def setup_relay(env):
    """srv <-> mid <-> cli, the relay's two interfaces in mid."""
    env.add_ns(env.ns_srv)
    env.add_ns(env.ns_cli)
    env.add_ns(env.ns_mid)
    env.veth(env.if_srv, env.ns_srv, env.if_ms, env.ns_mid)
    env.veth(env.if_cli, env.ns_cli, env.if_mc, env.ns_mid)
    run(['ip', 'netns', 'exec', env.ns_mid, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'],
        'quiet IPv6 in the middle')
    for i in (env.if_ms, env.if_mc):
        run(['ip', '-n', env.ns_mid, 'link', 'set', i, 'promisc', 'on', 'up'], 'relay port up')
        # Frames as they are sent: no merging (GRO) on the relay's ports.
        subprocess.run(['ip', 'netns', 'exec', env.ns_mid, 'ethtool', '-K', i, 'gro', 'off'],
                       capture_output=True, timeout=30)
    run(['ip', 'netns', 'exec', env.ns_srv, 'sysctl', '-qw',
         'net.ipv6.conf.%s.disable_ipv6=1' % env.if_srv], 'quiet IPv6')
    run(['ip', '-n', env.ns_srv, 'link', 'set', env.if_srv, 'up'], 'veth up')
    env.client_if_up(env.if_cli)


def drive(a):
    if os.geteuid() != 0:
        raise Fail('needs root: network namespaces and veth pairs need CAP_SYS_ADMIN and '
                   'CAP_NET_ADMIN')
    for tool, pkg in (('ip', 'iproute2'), ('ethtool', 'ethtool')) + (
            (('tc', 'iproute2'),) if a.impair == 'netem' else ()):
        if not shutil.which(tool):
            raise Fail('missing tool `%s` (Debian package %s)' % (tool, pkg))
    try:
        import kazoo  # noqa: F401
    except ImportError:
        raise Fail('python3-kazoo is not installed')
    env = test_veth.Env('af_packet', a.cheetah_bin)
    relay_p = None
    qdisc = False
    try:
        if a.impair == 'netem':
            env.setup()
            r = subprocess.run(['ip', 'netns', 'exec', env.ns_cli, 'tc', 'qdisc', 'add', 'dev',
                                env.if_cli, 'root', 'netem'] + NETEM,
                               capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                raise Fail(netem_missing(r.stderr.strip()))
            qdisc = True
            log('[dpdk netem] tc qdisc netem %s on the client\'s veth' % ' '.join(NETEM))
        else:
            setup_relay(env)
            relay_p = subprocess.Popen(
                ['ip', 'netns', 'exec', env.ns_mid, sys.executable, os.path.abspath(__file__),
                 '--relay', '--if-a', env.if_mc, '--if-b', env.if_ms, '--seed', str(a.seed)],
                stdout=subprocess.PIPE, text=True)
            ready, _, _ = select.select([relay_p.stdout], [], [], 30)
            line = relay_p.stdout.readline() if ready else ''
            if line.strip() != 'ready':
                raise Fail('the relay did not start (%r)' % line)
            log('[dpdk relay] relay between the veth pairs: TCP frames both ways delayed %d ms, '
                '%d %% lost, %d %% duplicated, %d %% sent ahead (seed %d)'
                % (DELAY_MS, LOSS_PCT, DUP_PCT, REORDER_PCT, a.seed))
        dv.run_inner(env, os.path.abspath(__file__),
                     ['--cheetah-bin', a.cheetah_bin, '--impair', a.impair],
                     sorted(os.sched_getaffinity(0)), timeout=240)
        if relay_p:
            relay_p.send_signal(signal.SIGTERM)
            out, _ = relay_p.communicate(timeout=20)
            st = json.loads(out.strip().splitlines()[-1])
            log('    the relay: %r' % st)
            for k in ('dropped', 'duplicated', 'reordered'):
                if not st[k]:
                    raise Fail('the relay %s no frame: %r' % (k, st))
    finally:
        if relay_p and relay_p.poll() is None:
            relay_p.kill()
            relay_p.wait(10)
        if qdisc:
            subprocess.run(['ip', 'netns', 'exec', env.ns_cli, 'tc', 'qdisc', 'del', 'dev',
                            env.if_cli, 'root'], capture_output=True, timeout=30)
        env.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cheetah-bin')
    ap.add_argument('--impair', choices=('netem', 'relay'), default='relay')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--inner', action='store_true')
    ap.add_argument('--ns-srv')
    ap.add_argument('--eal')
    ap.add_argument('--cores')
    ap.add_argument('--relay', action='store_true')
    ap.add_argument('--if-a')
    ap.add_argument('--if-b')
    a = ap.parse_args()
    if a.relay:
        return relay(a)
    a.cheetah_bin = os.path.abspath(a.cheetah_bin)
    if a.inner:
        try:
            return inner(a)
        except Fail as e:
            print('FAIL: %s' % e)
            return 1
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit('terminated by signal %d' % s))
    try:
        drive(a)
    except Fail as e:
        print('FAIL [dpdk %s]: %s' % (a.impair, e))
        return 1
    print('[dpdk %s] ok' % a.impair)
    return 0


if __name__ == '__main__':
    sys.exit(main())
