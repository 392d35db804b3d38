#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""cheetah.dataplane=dpdk behind a router, two dataplane workers with
cheetah.port.gateway, and the exception path (cheetah.dpdk.exception).

Three network namespaces made by this test:

  cli  10.97.0.1/24, default route via the router
  rtr  10.97.0.254 and 10.98.0.254, forwarding
  srv  cheetah on DPDK's net_af_packet (two queue pairs) on the veth end
       that has no kernel address; cheetah.port.ip 10.98.0.2,
       cheetah.port.gateway 10.98.0.254, two dataplane workers

so every client is off-link: the stacks' answers go to the gateway, whose
ARP reply reaches one queue (one worker) only; the workers share it
(net_nbr.c).  The test runs itself again in the client namespace
(--inner) and checks, in two runs of the server:

  exception on   (cheetah.dpdk.exception=<tap>) kazoo operations; 60
                 raw sessions at once, each answered, spread over both
                 workers (mntr's per-worker connections); a kernel TCP
                 server (Python, in srv, on the TAP's address, another
                 port) reached from the client through the router and
                 echoing; UDP to the kernel answered; mntr's
                 cheetah_net_exception_fwd / _tx moving, arp_share_tx > 0
  exception off  the same kernel port refused (the stack's RST,
                 cheetah_net_tcp_no_sock), UDP counted in ip_proto_drop,
                 exception counters 0; ZooKeeper still served

On the veth (not on a NIC bound to vfio-pci), the kernel of srv also
receives every frame af_packet sees (AF_PACKET is a tap): with the TAP
holding 10.98.0.2, it would answer for it there too, so nftables drops
the kernel's IPv4 and ARP input on the DPDK end (af_packet taps frames
before that hook).  Everything made here is removed in finally blocks.
Needs root, nft, ethtool, kazoo.

    test_dpdk_mgmt.py --cheetah-bin PATH
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import log  # noqa: E402

PORT = 2181
KPORT = 2222  # the kernel's TCP server, through the exception path
UPORT = 2223  # the kernel's UDP echo
SRV_IP = '10.98.0.2'
GW_IP = '10.98.0.254'
CLI_IP = '10.97.0.1'
RC_IP = '10.97.0.254'
WAIT = 20.0


class Fail(Exception):
    pass


def run(cmd, what, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    if check and r.returncode != 0:
        raise Fail('%s: `%s` exited %d: %s' % (what, ' '.join(cmd), r.returncode,
                                                 r.stderr.strip()))
    return r


def mntr(host=SRV_IP):
    out = harness.four_letter(PORT, 'mntr', timeout=WAIT, host=host)
    if not out:
        raise Fail('mntr: no answer')
    m = {}
    for line in out.decode(errors='replace').splitlines():
        k, _, v = line.partition('\t')
        if re.fullmatch(r'-?\d+', v):
            m[k] = int(v)
    return m


def mntr_until(pred, what, timeout=WAIT):
    end = time.monotonic() + timeout
    while True:
        m = mntr()
        if pred(m):
            return m
        if time.monotonic() > end:
            raise Fail('%s: not within %.0f s; mntr: %r' % (
                what, timeout, {k: v for k, v in m.items() if k.startswith('cheetah_net_')}))
        time.sleep(0.05)


def per_worker(m):
    return [m['cheetah_net_worker_%d_connections' % i] for i in range(m['cheetah_net_workers'])]


# The kernel's servers in srv: TCP echo on KPORT and UDP echo on UPORT,
# on the TAP's address; prints "ready" once bound.
KSERVER = r'''
import socket, sys, threading
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((sys.argv[1], int(sys.argv[2]))); t.listen(8)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((sys.argv[1], int(sys.argv[3])))
def udp():
    while True:
        d, a = u.recvfrom(2048); u.sendto(b'kernel:' + d, a)
threading.Thread(target=udp, daemon=True).start()
print('ready', flush=True)
while True:
    c, _ = t.accept()
    c.settimeout(30)
    with c:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
'''


# ---------------------------------------------------------------------
# Inner part: runs in the client namespace.

def make_server(a, exc):
    cfg = {'cheetah.dataplane': 'dpdk', 'cheetah.dpdk.eal': a.eal,
           'cheetah.port.ip': SRV_IP, 'cheetah.port.netmask': '255.255.255.0',
           'cheetah.port.gateway': GW_IP, 'cheetah.dataplane.cores': a.cores,
           'cheetah.log.level': 'debug'}
    if exc:
        cfg['cheetah.dpdk.exception'] = a.tap
    return harness.Server('cheetah', cheetah_bin=a.cheetah_bin, name='dpdk-mgmt', host=SRV_IP,
                          port=PORT, netns=a.ns_srv, config=cfg)


def t_zk(nworkers, n=60):
    """kazoo through the router, then n raw sessions at once, each
    answered, held by both workers."""
    from kazoo.client import KazooClient
    import zkproto as zp

    zk = KazooClient(hosts='%s:%d' % (SRV_IP, PORT), timeout=10)
    zk.start(timeout=WAIT)
    try:
        zk.create('/gw', b'v0')
        zk.set('/gw', b'v1')
        if zk.get('/gw')[0] != b'v1':
            raise Fail('kazoo: read back differs')
        zk.delete('/gw')
    finally:
        zk.stop()
        zk.close()
    conns = []
    try:
        for i in range(n):
            c = zp.Conn(SRV_IP, PORT, timeout_ms=30000)
            conns.append(c)
            c.create('/gwm%03d' % i, b'', flags=zp.EPHEMERAL)
        for i, c in enumerate(conns):
            if c.exists('/gwm%03d' % ((i + 1) % n)) is None:
                raise Fail('session %d does not see its neighbour\'s node' % i)
        m = mntr_until(lambda m: sum(per_worker(m)) == n + 1,
                       'connections per worker summing to %d' % (n + 1))
        if nworkers > 1 and min(per_worker(m)) == 0:
            raise Fail('connections per worker %r: one has none (off-link clients through '
                       'the gateway must land on both workers)' % per_worker(m))
        log('    %d off-link sessions through the gateway, per worker %r' % (n, per_worker(m)))
    finally:
        for c in conns:
            c.close_session()
    return m


def kernel_tcp(data):
    s = socket.create_connection((SRV_IP, KPORT), timeout=10)
    try:
        s.sendall(data)
        got = b''
        while len(got) < len(data):
            d = s.recv(65536)
            if not d:
                break
            got += d
        return got
    finally:
        s.close()


def kernel_udp(data):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        for _ in range(5):  # datagrams may be lost: a few tries
            s.sendto(data, (SRV_IP, UPORT))
            try:
                return s.recvfrom(2048)[0]
            except socket.timeout:
                continue
        return None
    finally:
        s.close()


def run_on(a):
    srv = make_server(a, True)
    kproc = None
    try:
        srv.start(timeout=60)
        log('[dpdk mgmt] exception path on (%s), gateway %s, %s workers'
            % (a.tap, GW_IP, a.nworkers))
        # The kernel behind the TAP: its route back to the clients.
        run(['ip', '-n', a.ns_srv, 'route', 'add', 'default', 'via', GW_IP, 'dev', a.tap],
            'route via the gateway on the TAP')
        r = run(['ip', 'netns', 'exec', a.ns_srv, 'sysctl', '-n',
                 'net.ipv6.conf.%s.disable_ipv6' % a.tap], 'IPv6 on the TAP')
        if r.stdout.strip() != '1':
            raise Fail('IPv6 is on on the TAP interface %s' % a.tap)
        kproc = subprocess.Popen(['ip', 'netns', 'exec', a.ns_srv, sys.executable, '-c', KSERVER,
                                  SRV_IP, str(KPORT), str(UPORT)],
                                 stdout=subprocess.PIPE, text=True)
        if kproc.stdout.readline().strip() != 'ready':
            raise Fail('the kernel TCP server in the server namespace did not start')
        t_zk(a.nworkers)
        data = bytes(range(256)) * 400  # 100 KiB both ways through the TAP
        for i in range(5):
            got = kernel_tcp(data)
            if got != data:
                raise Fail('kernel TCP echo %d through the exception path: %d bytes back of %d'
                           % (i, len(got), len(data)))
        got = kernel_udp(b'hello')
        if got != b'kernel:hello':
            raise Fail('kernel UDP echo through the exception path: %r' % got)
        log('    kernel TCP server on %s:%d echoed 5 x %d bytes; UDP echo answered'
            % (SRV_IP, KPORT, len(data)))
        m = mntr_until(lambda m: m['cheetah_net_exception_fwd'] > 0 and
                       m['cheetah_net_exception_tx'] > 0, 'exception counters moving')
        if m['cheetah_net_arp_share_tx'] == 0:
            raise Fail('no ARP fact shared between the workers: %r' % m)
        if harness.four_letter(PORT, 'ruok', host=SRV_IP) != b'imok':
            raise Fail('ruok after the exception traffic')
        log('    mntr: exception_fwd %d, exception_tx %d, exception_drop %d, arp_share_tx %d, '
            'arp_share_rx %d, arp_share_drop %d'
            % tuple(m['cheetah_net_' + k] for k in (
                'exception_fwd', 'exception_tx', 'exception_drop', 'arp_share_tx',
                'arp_share_rx', 'arp_share_drop')))
        srv.stop_clean()
    except Exception:
        if srv.log_path:
            sys.stderr.write(srv.log_tail())
        raise
    finally:
        if kproc:
            kproc.kill()
            kproc.wait()
        srv.cleanup()


def run_off(a):
    srv = make_server(a, False)
    try:
        srv.start(timeout=60)
        log('[dpdk mgmt] exception path off')
        t_zk(a.nworkers, n=20)
        m1 = mntr()
        try:
            kernel_tcp(b'x')
            raise Fail('a TCP connection to port %d succeeded with the exception path off'
                       % KPORT)
        except ConnectionRefusedError:
            pass
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b'hello', (SRV_IP, UPORT))
        s.close()
        m = mntr_until(lambda m: m['cheetah_net_tcp_no_sock'] > m1['cheetah_net_tcp_no_sock']
                       and m['cheetah_net_ip_proto_drop'] > m1['cheetah_net_ip_proto_drop'],
                       'refused TCP and UDP counted')
        if m['cheetah_net_exception_fwd'] or m['cheetah_net_exception_tx']:
            raise Fail('exception counters with the path off: %r' % m)
        log('    port %d refused (tcp_no_sock %d), UDP dropped (ip_proto_drop %d)'
            % (KPORT, m['cheetah_net_tcp_no_sock'], m['cheetah_net_ip_proto_drop']))
        srv.stop_clean()
    except Exception:
        if srv.log_path:
            sys.stderr.write(srv.log_tail())
        raise
    finally:
        srv.cleanup()


def inner(a):
    a.nworkers = len(a.cores.split(','))
    run_on(a)
    run_off(a)
    return 0


# ---------------------------------------------------------------------
# Driver: runs in the root namespace.

class Env:
    def __init__(self):
        tag = os.getpid()
        self.ns = {k: 'chm%d%s' % (tag, k[0]) for k in ('srv', 'rtr', 'cli')}
        self.if_s, self.if_rs = ('cm%ds' % tag)[:15], ('cm%drs' % tag)[:15]
        self.if_c, self.if_rc = ('cm%dc' % tag)[:15], ('cm%drc' % tag)[:15]
        self.tap = ('cm%dt' % tag)[:15]
        self.prefix = 'chmgmt%d' % tag
        self.made = []

    def setup(self):
        for ns in self.ns.values():
            r = run(['ip', 'netns', 'add', ns], 'netns', check=False)
            if r.returncode != 0:
                raise Fail('network namespaces unavailable: %s' % r.stderr.strip())
            self.made.append(ns)
            run(['ip', '-n', ns, 'link', 'set', 'lo', 'up'], 'lo up')
        srv, rtr, cli = self.ns['srv'], self.ns['rtr'], self.ns['cli']
        for a, na, b, nb in ((self.if_s, srv, self.if_rs, rtr), (self.if_c, cli, self.if_rc, rtr)):
            r = run(['ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b], 'veth',
                    check=False)
            if r.returncode != 0:
                raise Fail('veth unavailable: %s' % r.stderr.strip())
            run(['ip', 'link', 'set', a, 'netns', na], 'move veth')
            run(['ip', 'link', 'set', b, 'netns', nb], 'move veth')
        run(['ip', 'netns', 'exec', srv, 'sysctl', '-qw',
             'net.ipv6.conf.%s.disable_ipv6=1' % self.if_s], 'quiet IPv6')
        run(['ip', '-n', srv, 'link', 'set', self.if_s, 'up'], 'veth up')
        # The kernel of srv must not take the frames af_packet taps.
        rules = ''.join('table %s chm {\n chain inp {\n  type filter hook input priority 0;\n'
                        '  iifname "%s" drop\n }\n}\n' % (fam, self.if_s)
                        for fam in ('ip', 'arp'))
        r = subprocess.run(['ip', 'netns', 'exec', srv, 'nft', '-f', '-'], input=rules,
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise Fail('nftables unavailable: %s' % r.stderr.strip())
        for ns, ifn, ip in ((rtr, self.if_rs, GW_IP), (rtr, self.if_rc, RC_IP),
                            (cli, self.if_c, CLI_IP)):
            run(['ip', '-n', ns, 'addr', 'add', ip + '/24', 'dev', ifn], 'address')
            run(['ip', '-n', ns, 'link', 'set', ifn, 'up'], 'link up')
            # partial checksums and TSO super-frames otherwise reach DPDK
            run(['ip', 'netns', 'exec', ns, 'ethtool', '-K', ifn, 'tx', 'off', 'tso', 'off',
                 'gso', 'off'], 'TX offloads off')
        run(['ip', 'netns', 'exec', rtr, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'], 'forwarding')
        run(['ip', '-n', cli, 'route', 'add', 'default', 'via', RC_IP], 'client route')

    def cleanup(self):
        for ns in self.made:
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True, timeout=60)
        shutil.rmtree('/var/run/dpdk/' + self.prefix, ignore_errors=True)


def drive(a):
    if os.geteuid() != 0:
        raise Fail('needs root: network namespaces, veth pairs and a TAP interface')
    for tool, pkg in (('ip', 'iproute2'), ('ethtool', 'ethtool'), ('nft', 'nftables')):
        if not shutil.which(tool):
            raise Fail('missing tool `%s` (Debian package %s)' % (tool, pkg))
    if not os.path.exists('/dev/net/tun'):
        raise Fail('no /dev/net/tun: the kernel has no TUN/TAP support here')
    env = Env()
    try:
        env.setup()
        cpus = sorted(os.sched_getaffinity(0))
        nq = min(len(cpus), 2)
        eal = ('--lcores=0@(%s) --no-huge -m 256 --no-shconf --no-pci --no-telemetry '
               '--file-prefix=%s --log-level=warning --vdev=net_af_packet0,iface=%s,qpairs=%d'
               % (','.join(map(str, cpus)), env.prefix, env.if_s, nq))
        r = subprocess.run(['ip', 'netns', 'exec', env.ns['cli'], sys.executable,
                            os.path.abspath(__file__), '--inner', '--cheetah-bin',
                            a.cheetah_bin, '--ns-srv', env.ns['srv'], '--eal', eal, '--cores',
                            ','.join(map(str, cpus[:nq])), '--tap', env.tap], timeout=400)
        if r.returncode != 0:
            raise Fail('the client side failed (exit %d)' % r.returncode)
    finally:
        env.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cheetah-bin', required=True)
    ap.add_argument('--inner', action='store_true')
    ap.add_argument('--ns-srv')
    ap.add_argument('--eal')
    ap.add_argument('--cores')
    ap.add_argument('--tap')
    a = ap.parse_args()
    a.cheetah_bin = os.path.abspath(a.cheetah_bin)

    def on_term(sig, frame):
        raise SystemExit('terminated by signal %d' % sig)
    signal.signal(signal.SIGTERM, on_term)
    try:
        if a.inner:
            return inner(a)
        drive(a)
    except Fail as e:
        print('FAIL%s: %s' % ('' if a.inner else ' [dpdk mgmt]', e))
        return 1
    if not a.inner:
        print('[dpdk mgmt] ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
