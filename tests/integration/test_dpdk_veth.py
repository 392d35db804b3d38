#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""cheetah.dataplane=dpdk against real ZooKeeper clients through a veth pair.

Two network namespaces made by this test (tests/net/test_veth.py's Env,
imported, kind af_packet): the server's (srv), where cheetah runs with
DPDK's net_af_packet on the veth end that has no kernel address, its
cheetah.port.ip 10.98.0.2 served by the user-space stack; and the
client's (cli, 10.98.0.1), where this script runs itself again (--inner)
to drive real clients:

  kazoo       create, get, set, children, exists; a data watch and a child
              watch that fire once, in order with the reply that reveals
              the change; an ephemeral gone with its session; a znode of
              jute.maxbuffer's size (1 MiB less the request's framing)
              written and read back byte for byte
  many        300 raw sessions open at once, each with an ephemeral znode
              the others see, all gone once the sessions close
  resets      1,500 connections reset by the client right after the
              handshake, then one more answered
  C client    zkc_client (the project's libzookeeper_mt program: the main
              operations, watches, multi, ACLs) and a few cli_mt commands
  4lw         ruok answered imok; srvr names the version and a Mode
  mntr        the stack's counters (cheetah_net_*): all present, the
              connections per worker summing to the sessions open (both
              workers holding some), back to mntr's own once they close;
              the TCP counters moving, no bad checksum

then SIGTERM: cheetah must exit 0 (clean shutdown).  Before that, in the
root namespace, four start-up errors must each print one line naming the
cause and exit 1: an EAL without a port, an argument the EAL refuses, an
exception path (cheetah.dpdk.exception) naming a device that is no
TAP interface (lo), and cheetah.dpdk.max_connections=1048576 under a
1.2 GB address-space limit (the stack cannot be made; not in ASan builds).

The server runs two dataplane workers (cheetah.dataplane.cores: the first
two CPUs this test may use; one when it has one), the af_packet device
with as many queue pairs: the kernel's fanout hash spreads the clients'
connections over the two user-space stacks, and the test checks from the
server's debug log that both workers accepted connections.  Everything made here
(namespaces, the veth pair with them, data directories, the EAL's runtime
folder) is removed in finally blocks.

Needs root, as CI runs: a missing facility (root, netns, veth, ethtool,
kazoo, the C programs) fails the test with a message naming it.

    test_dpdk_veth.py --cheetah-bin PATH [--zkc-bin PATH]

With --run SCRIPT -- ARGS, it runs another test of this folder in the
client namespace instead, with CHEETAH_IT_DPDK_VETH set: every cheetah
the harness starts then serves on the dpdk backend through the veth
(harness.DPDK_VETH); e.g. the differential test against ZooKeeper.
"""
import argparse
import json
import os
import re
import resource
import shutil
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
import test_veth  # noqa: E402  (the namespace and veth set-up)
from harness import log  # noqa: E402

CLI_MT = '/usr/lib/zookeeper/bin/cli_mt'
PORT = 2181
WAIT = 20.0


class Fail(Exception):
    pass


# The stack's counters mntr shows on the dpdk backend (docs/OPERATIONS.md).
NET_KEYS = ('rx_frames', 'tx_frames', 'tx_drop', 'rx_nobuf', 'ip_bad_csum', 'tcp_rx', 'tcp_tx',
            'tcp_bad_csum', 'tcp_retrans', 'tcp_fast_retrans', 'tcp_rto', 'tcp_ooo', 'tcp_dup',
            'tcp_rst_tx', 'tcp_syn_drop', 'tcp_sack_recovery', 'tcp_tlp_probe', 'tcp_rack_lost',
            'port_rx_drop', 'port_tx_drop', 'port_rx_csum_bad', 'dev_rx_missed', 'pool_alloc_fail',
            'send_polls', 'connections', 'socks', 'workers')


def mntr(host, port=PORT):
    """mntr's answer as {key: value} (numbers as int); the cheetah_net_
    keys must all be there (the dpdk backend's)."""
    out = harness.four_letter(port, 'mntr', timeout=WAIT, host=host)
    if not out:
        raise Fail('mntr: no answer from %s:%d' % (host, port))
    m = {}
    for line in out.decode(errors='replace').splitlines():
        k, _, v = line.partition('\t')
        m[k] = int(v) if re.fullmatch(r'-?\d+', v) else v
    missing = [k for k in NET_KEYS if 'cheetah_net_' + k not in m]
    if missing:
        raise Fail('mntr lacks the stack counters %r:\n%s' % (missing, out[-1500:]))
    return m


def per_worker(m, what='connections'):
    return [m['cheetah_net_worker_%d_%s' % (i, what)] for i in range(m['cheetah_net_workers'])]


def mntr_until(host, pred, what, timeout=WAIT):
    """mntr again until pred(m) (counters are published every ms)."""
    end = time.monotonic() + timeout
    while True:
        m = mntr(host)
        if pred(m):
            return m
        if time.monotonic() > end:
            raise Fail('%s: not within %.0f s; mntr says %r' % (
                what, timeout, {k: v for k, v in m.items() if k.startswith('cheetah_net_')}))
        time.sleep(0.05)


# ---------------------------------------------------------------------
# Inner part: runs in the client namespace.

def eq(got, want, what):
    if got != want:
        raise Fail('%s: got %r, expected %r' % (what, got, want))


def t_kazoo(hosts):
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(timeout=WAIT)
    other = KazooClient(hosts=hosts, timeout=10)
    other.start(timeout=WAIT)
    try:
        zk.create('/dv', b'v0')
        eq(zk.get('/dv')[0], b'v0', 'get after create')
        for i in range(20):
            zk.create('/dv/c%02d' % i, b'%d' % i)
        eq(sorted(zk.get_children('/dv')), ['c%02d' % i for i in range(20)], 'children')
        # A data watch and a child watch, each fired once.
        fired = []
        cond = threading.Condition()

        def w(ev):
            with cond:
                fired.append((ev.type, ev.path))
                cond.notify_all()
        zk.get('/dv', watch=w)
        zk.get_children('/dv', watch=w)
        other.set('/dv', b'v1')
        other.create('/dv/new', b'')
        other.set('/dv', b'v2')  # the data watch is spent: no second event
        with cond:
            if not cond.wait_for(lambda: len(fired) >= 2, WAIT):
                raise Fail('watch events: %r after %.0f s' % (fired, WAIT))
        eq(zk.get('/dv')[0], b'v2', 'read after the watched change')
        zk.sync('/dv')
        eq(sorted(fired), sorted([('CHANGED', '/dv'), ('CHILD', '/dv')]), 'watch events')
        # Ephemeral: gone with its session.
        other.create('/dv/eph', b'', ephemeral=True)
        other.stop()
        other.close()
        eq(zk.exists('/dv/eph'), None, 'ephemeral after its session closed')
        # The largest znode jute.maxbuffer (1 MiB) takes, through TCP
        # segments of the user-space stack, both ways.
        limit = 0xfffff
        n = limit - (4 + 4 + (4 + len('/dv/big')) + 4 + 4)
        big = bytes((i * 7 + (i >> 9)) & 0xff for i in range(n))
        zk.create('/dv/big', b'')
        st = zk.set('/dv/big', big)
        eq(st.dataLength, n, '1 MiB znode: dataLength')
        got = zk.get('/dv/big')[0]
        if got != big:
            raise Fail('1 MiB znode read back differs (%d bytes, wrote %d)' % (len(got), n))
        log('    kazoo: 20 children, 2 watches, ephemeral, %d-byte znode ok' % n)
        zk.delete('/dv', recursive=True)
    finally:
        zk.stop()
        zk.close()


def t_many(host, n=300):
    """n sessions open at once (the backend's handle table grows past its
    first 256 slots), each answered; then all closed, and a znode each
    ephemeral left nowhere."""
    import zkproto as zp
    conns = []
    try:
        for i in range(n):
            c = zp.Conn(host, PORT, timeout_ms=30000)
            conns.append(c)
            c.create('/dvm%03d' % i, b'', flags=zp.EPHEMERAL)
        for i, c in enumerate(conns):
            if c.exists('/dvm%03d' % ((i + 1) % n)) is None:
                raise Fail('session %d does not see /dvm%03d' % (i, (i + 1) % n))
        # mntr's connections per dataplane worker: these n, and mntr's own.
        m = mntr_until(host, lambda m: sum(per_worker(m)) == n + 1,
                       'mntr cheetah_net_worker_N_connections summing to %d' % (n + 1))
        if m['cheetah_net_connections'] != n + 1 or m['zk_num_alive_connections'] != n + 1:
            raise Fail('mntr: cheetah_net_connections %r, zk_num_alive_connections %r, want %d'
                       % (m['cheetah_net_connections'], m['zk_num_alive_connections'], n + 1))
        if m['cheetah_net_workers'] > 1 and min(per_worker(m)) == 0:
            raise Fail('mntr: connections per worker %r: one has none' % per_worker(m))
        log('    mntr with %d sessions open: connections per worker %r' % (n, per_worker(m)))
    finally:
        for c in conns:
            c.close_session()
    c = zp.Conn(host, PORT, timeout_ms=30000)
    left = [k for k in c.children('/')[0] if k.startswith('dvm')]
    c.close_session()
    mntr_until(host, lambda m: sum(per_worker(m)) == 1,
               'mntr: connections back to 1 (its own) after the sessions closed')
    if left:
        raise Fail('%d ephemerals left after their sessions closed' % len(left))
    log('    %d sessions at once, each answered; their ephemerals gone' % n)


def t_resets(host, n=1500):
    """n connections reset by the client (SO_LINGER 0) right after the
    handshake, most before the server accepted them; then a new one is
    still accepted and answered.  (The listener's readiness was once lost
    when a queued connection was reset: five were accepted, then none.)"""
    for _ in range(n):
        s = socket.create_connection((host, PORT), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        s.close()
    eq(harness.four_letter(PORT, 'ruok', host=host), b'imok', 'ruok after %d resets' % n)
    log('    %d connections reset after the handshake; the next one answered' % n)


def t_cclient(hosts, zkc_bin):
    r = subprocess.run([zkc_bin, hosts], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise Fail('zkc_client exited %d:\n%s\n%s' % (r.returncode, r.stdout[-2000:],
                                                       r.stderr[-2000:]))
    m = re.search(r'all (\d+) checks passed', r.stdout)
    if not m:
        raise Fail('zkc_client did not report its checks:\n%s' % r.stdout[-2000:])
    log('    zkc_client: all %s checks passed' % m.group(1))
    for cmd, want in (('create /dvc', 'name = /dvc'), ('set /dvc hello', 'version=1'),
                      ('get /dvc', 'value_len = 5'), ('ls /', 'dvc'), ('delete /dvc', 'rc = 0')):
        r = subprocess.run([CLI_MT, '-h', hosts, '-c', cmd], capture_output=True, text=True,
                           timeout=30)
        out = r.stdout + r.stderr
        if r.returncode != 0 or 'rc = 0' not in out or want not in out:
            raise Fail('cli_mt -c %r exited %d:\n%s' % (cmd, r.returncode, out))
        log('    cli_mt %-16s rc = 0' % cmd)


def make_server(a, config):
    """The cheetah of an inner part: dpdk on the server namespace's veth
    end (a.ns_srv, a.eal), the dataplane workers on a.cores."""
    extra = dict(config)
    if a.cores:
        extra['cheetah.dataplane.cores'] = a.cores
    return harness.Server('cheetah', cheetah_bin=a.cheetah_bin, name='dpdk', host=test_veth.SRV_IP,
                          port=PORT, netns=a.ns_srv, config=dict(extra, **{
                              'cheetah.dataplane': 'dpdk',
                              'cheetah.dpdk.eal': a.eal,
                              'cheetah.port.ip': test_veth.SRV_IP,
                              'cheetah.port.netmask': '255.255.255.0',
                          }))


def inner(a):
    srv = make_server(a, {'cheetah.log.level': 'debug',
                          'extendedTypesEnabled': 'true'})  # zkc_client's TTL nodes
    try:
        srv.start(timeout=60)
        hosts = srv.hosts
        log('[dpdk] cheetah serves %s through DPDK af_packet' % hosts)
        t_kazoo(hosts)
        t_many(test_veth.SRV_IP)
        t_resets(test_veth.SRV_IP)
        t_cclient(hosts, a.zkc_bin)
        eq(harness.four_letter(PORT, 'ruok', host=test_veth.SRV_IP), b'imok', 'ruok')
        srvr = harness.four_letter(PORT, 'srvr', host=test_veth.SRV_IP) or b''
        if b'Zookeeper version:' not in srvr or b'Mode: standalone' not in srvr:
            raise Fail('srvr answer: %r' % srvr)
        log('    4lw ruok, srvr ok')
        # The stack's counters in mntr move with the traffic; no checksum
        # is bad (the client veth's offloads are off).
        m1 = mntr(test_veth.SRV_IP)
        eq(harness.four_letter(PORT, 'ruok', host=test_veth.SRV_IP), b'imok', 'ruok')
        m2 = mntr_until(test_veth.SRV_IP,
                        lambda m: m['cheetah_net_tcp_rx'] > m1['cheetah_net_tcp_rx'] and
                        m['cheetah_net_rx_frames'] > m1['cheetah_net_rx_frames'] and
                        m['cheetah_net_tcp_tx'] > m1['cheetah_net_tcp_tx'],
                        'mntr: tcp rx/tx counters moving')
        for k in ('ip_bad_csum', 'tcp_bad_csum', 'port_rx_csum_bad'):
            eq(m2['cheetah_net_' + k], 0, 'mntr cheetah_net_' + k)
        eq(m2['cheetah_net_workers'], len(a.cores.split(',')) if a.cores else 1,
           'mntr cheetah_net_workers')
        log('    mntr: stack counters present and moving (tcp rx %d -> %d), no bad checksum'
            % (m1['cheetah_net_tcp_rx'], m2['cheetah_net_tcp_rx']))
        text = srv.read_log()
        nworkers = len(a.cores.split(',')) if a.cores else 1
        per = [len(re.findall(r'accepted connection \S+ on worker %d ' % i, text))
               for i in range(nworkers)]
        if min(per) == 0:
            raise Fail('connections per dataplane worker %r: one got none' % per)
        log('    connections accepted per worker: %r' % per)
        srv.stop_clean()  # raises unless cheetah exits 0 on SIGTERM
        # Each worker's stack logs its counters on the way out.
        stats = re.findall(r'dpdk worker (\d+): frames rx (\d+) .*bad checksums ip (\d+) tcp (\d+)',
                           srv.read_log())
        if sorted(int(w) for w, _, _, _ in stats) != list(range(nworkers)):
            raise Fail('stack counters of workers %r logged, want %d workers' % (stats, nworkers))
        for w, rx, ipbad, tcpbad in stats:
            if int(rx) == 0 or int(ipbad) or int(tcpbad):
                raise Fail('worker %s: %s frames received, bad checksums ip %s tcp %s'
                           % (w, rx, ipbad, tcpbad))
        log('    stack counters: frames received per worker %r, no bad checksum'
            % [int(rx) for _, rx, _, _ in stats])
        if 'dpdk: port 0 (net_af_packet)' not in text:
            raise Fail('the server log does not show the dpdk port:\n%s' % text[-2000:])
    except Exception:
        if srv.log_path:
            sys.stderr.write(srv.log_tail())
        raise
    finally:
        srv.cleanup()
    return 0


# ---------------------------------------------------------------------
# Driver: runs in the root namespace.

def check_facilities(a):
    if os.geteuid() != 0:
        raise Fail('needs root: network namespaces and a veth pair need CAP_SYS_ADMIN and '
                   'CAP_NET_ADMIN')
    for tool, pkg in (('ip', 'iproute2'), ('ethtool', 'ethtool')):
        if not shutil.which(tool):
            raise Fail('missing tool `%s` (Debian package %s; build.sh installs it)' % (tool, pkg))
    try:
        import kazoo  # noqa: F401
    except ImportError:
        raise Fail('python3-kazoo is not installed')
    for what, path in (('cheetah', a.cheetah_bin), ('zkc_client', a.zkc_bin),
                       ('cli_mt (zookeeper-bin)', CLI_MT)):
        if not path or not os.access(path, os.X_OK):
            raise Fail('%s is missing (%s)' % (what, path))


def startup_errors(a):
    """Start-up errors: one clear line naming the cause, exit status 1."""
    base = harness.make_tmp_dir('dpdk-errors')
    tag = os.getpid()
    common = '--no-huge -m 128 --no-pci --no-shconf --no-telemetry --log-level=warning'
    cases = [
        ('no port', '%s --file-prefix=chde%da' % (common, tag), [],
         'cheetah.dataplane=dpdk: DPDK found no network port'),
        ('EAL failure', '--no-such-eal-flag', [],
         'cheetah.dpdk.eal: DPDK EAL initialisation failed'),
        ('exception path on a device that is no TAP', '%s --file-prefix=chde%db '
         '--vdev=net_null0' % (common, tag), ['cheetah.dpdk.exception=lo'],
         'cheetah.dpdk.exception=lo: cannot make the TAP interface'),
        # A stack sized for more connections than memory allows (the
        # address space capped at 1.2 GB; 1M connections need ~1 GB more).
        ('a stack larger than memory', '%s --file-prefix=chde%dc '
         '--vdev=net_null0' % (common, tag), ['cheetah.dpdk.max_connections=1048576'],
         'cannot create its network stack: 1310736 control blocks'),
    ]
    with open(a.cheetah_bin, 'rb') as f:
        asan = b'__asan_init' in f.read()  # ASan cannot run under RLIMIT_AS

    def cap_as():
        resource.setrlimit(resource.RLIMIT_AS, (1200 << 20, resource.RLIM_INFINITY))
    try:
        for what, eal, extra, want in cases:
            cmd = [a.cheetah_bin, '--set', 'dataDir=' + base, '--set', 'clientPort=2181',
                   '--set', 'clientPortAddress=10.98.0.2', '--set', 'cheetah.dataplane=dpdk',
                   '--set', 'cheetah.port.ip=10.98.0.2', '--set', 'cheetah.dpdk.eal=' + eal]
            limited = any(e.startswith('cheetah.dpdk.max_connections') for e in extra)
            if limited and asan:
                log('    start-up error, %s: skipped (ASan build)' % what)
                continue
            for e in extra:
                cmd += ['--set', e]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL, preexec_fn=cap_as if limited else None)
            lines = [ln for ln in (r.stdout + r.stderr).splitlines() if want in ln]
            if r.returncode != 1 or len(lines) != 1:
                raise Fail('start-up error "%s": exit %d (want 1), lines with %r: %d (want 1)\n%s'
                           % (what, r.returncode, want, len(lines), (r.stdout + r.stderr)[-2000:]))
            log('    start-up error, %s: exit 1: %s' % (what, lines[0].split(' ', 2)[-1]))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def eal_args(env, cpus):
    return ('--lcores=0@(%s) --no-huge -m 256 --no-shconf --no-pci --no-telemetry '
            '--file-prefix=%s --log-level=warning --vdev=net_af_packet0,iface=%s'
            % (','.join(map(str, cpus)), env.prefix, env.if_srv))


def run_inner(env, script, args, cpus, timeout=400):
    """script --inner in the client namespace, its cheetah on the server
    namespace's veth end with min(2, CPUs) workers."""
    r = subprocess.run(['ip', 'netns', 'exec', env.ns_cli, sys.executable, script, '--inner',
                        '--ns-srv', env.ns_srv,
                        '--eal', eal_args(env, cpus) + ',qpairs=%d' % min(len(cpus), 2),
                        '--cores', ','.join(map(str, cpus[:2]))] + args, timeout=timeout)
    if r.returncode != 0:
        raise Fail('the client side failed (exit %d)' % r.returncode)


def drive_script(a, script, name, kind='af_packet', timeout=400):
    """The driver of another dpdk veth test (test_dpdk_conns.py): root,
    the namespaces and veth pair, its --inner part in the client
    namespace; prints ok or FAIL; returns the exit status."""
    env = test_veth.Env(kind, a.cheetah_bin)
    try:
        if os.geteuid() != 0:
            raise Fail('needs root: network namespaces and a veth pair need CAP_SYS_ADMIN and '
                       'CAP_NET_ADMIN')
        for tool, pkg in (('ip', 'iproute2'), ('ethtool', 'ethtool')):
            if not shutil.which(tool):
                raise Fail('missing tool `%s` (Debian package %s)' % (tool, pkg))
        env.setup()
        run_inner(env, script, ['--cheetah-bin', a.cheetah_bin],
                  sorted(os.sched_getaffinity(0)), timeout)
    except Fail as e:
        print('FAIL [%s]: %s' % (name, e))
        return 1
    finally:
        env.cleanup()
    print('[%s] ok' % name)
    return 0


def drive(a):
    check_facilities(a)
    if not a.run:
        startup_errors(a)
    env = test_veth.Env('af_packet', a.cheetah_bin)
    try:
        env.setup()
        cpus = sorted(os.sched_getaffinity(0))
        eal = eal_args(env, cpus)
        if a.run:
            # Another integration test in the client namespace, its
            # cheetah servers on the dpdk backend (harness.DPDK_VETH).
            veth = {'netns': env.ns_srv, 'ip': test_veth.SRV_IP, 'port': PORT, 'eal': eal}
            r = subprocess.run(['ip', 'netns', 'exec', env.ns_cli, sys.executable,
                                os.path.join(HERE, a.run)] + a.rest,
                               env=dict(os.environ, CHEETAH_IT_DPDK_VETH=json.dumps(veth)),
                               timeout=a.run_timeout)
            if r.returncode != 0:
                raise Fail('%s against the dpdk backend failed (exit %d)'
                           % (a.run, r.returncode))
            return
        run_inner(env, os.path.abspath(__file__),
                  ['--cheetah-bin', a.cheetah_bin, '--zkc-bin', a.zkc_bin], cpus)
    finally:
        env.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cheetah-bin', required=True)
    ap.add_argument('--zkc-bin')
    ap.add_argument('--inner', action='store_true')
    ap.add_argument('--ns-srv')
    ap.add_argument('--eal')
    ap.add_argument('--cores')
    ap.add_argument('--run', help='another test script of this folder to run in the client '
                    'namespace, its cheetah on the dpdk backend; its arguments follow --')
    ap.add_argument('--run-timeout', type=float, default=400)
    ap.add_argument('rest', nargs='*')
    a = ap.parse_args()
    a.cheetah_bin = os.path.abspath(a.cheetah_bin)
    a.zkc_bin = os.path.abspath(a.zkc_bin) if a.zkc_bin else None
    def on_term(sig, frame):
        raise SystemExit('terminated by signal %d' % sig)  # the finally blocks clean up
    signal.signal(signal.SIGTERM, on_term)
    if a.inner:
        try:
            return inner(a)
        except Fail as e:
            print('FAIL: %s' % e)
            return 1
    try:
        drive(a)
    except Fail as e:
        print('FAIL [dpdk veth]: %s' % e)
        return 1
    print('[dpdk veth] ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
