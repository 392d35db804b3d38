#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""cheetah.dataplane=dpdk on DPDK's net_tap with TCP segmentation offload.

DPDK 22.11's net_tap offers RTE_ETH_TX_OFFLOAD_TCP_TSO (with MULTI_SEGS and
the checksum offloads) and cuts a super-segment with rte_gso before it
writes the segments to the TAP descriptor, so the kernel on the other side
receives ordinary segments: TSO is exercised end to end without a NIC.

The test makes a network namespace; cheetah runs in it on
--vdev=net_tap0,iface=<tap> (cheetah.port.ip 10.96.0.2), the kernel's end
of the TAP gets 10.96.0.1/24, and the test runs itself again in the
namespace (--inner) as the client.  Twice, with cheetah.dpdk.tso=true and
=false, it writes a 1 MiB znode with kazoo, reads it back (getData) and
compares the bytes, and reads mntr around the getData:

  tso on   the log says "TSO on"; cheetah_net_tcp_tso_tx grew (super-
           segments sent) and cheetah_net_tcp_tso_segs > tcp_tso_tx (each
           made several segments); the data intact
  tso off  the log says "TSO off"; both counters stay 0; the data intact

and, after each run, the worker's end line must show as many mbufs out
of the queue's pool as at start (no mbuf leaked),

and prints, for each, the frames the stack handed the device
(cheetah_net_tx_frames) and the server's CPU time (utime + stime) for the
getData (docs/BENCHMARKS.md).  The namespace (and with it the TAP) is
removed in a finally block.  Needs root, /dev/net/tun, ip, kazoo: a
missing one fails the test, naming it.

    test_dpdk_tso.py --cheetah-bin PATH [--reads N] [--callgrind]
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import log  # noqa: E402

PORT = 2181
SRV_IP = '10.96.0.2'
KERN_IP = '10.96.0.1'
WAIT = 30.0
SIZE = 1 << 20


class Fail(Exception):
    pass


def run(cmd, what, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise Fail('%s: `%s` exited %d: %s' % (what, ' '.join(cmd), r.returncode,
                                                 r.stderr.strip()))
    return r


def mntr():
    out = harness.four_letter(PORT, 'mntr', timeout=WAIT, host=SRV_IP)
    if not out:
        raise Fail('mntr: no answer')
    m = {}
    for line in out.decode(errors='replace').splitlines():
        k, _, v = line.partition('\t')
        if re.fullmatch(r'-?\d+', v):
            m[k] = int(v)
    return m


def cpu_ticks(pid):
    """utime + stime of a process and its threads, in clock ticks."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])


def server_pid(srv):
    """The cheetah process (the harness starts it under ip netns exec,
    which execs it: the same pid)."""
    return srv.pid


def wait_tap(srv, tap):
    end = time.monotonic() + WAIT
    while True:
        if run(['ip', 'link', 'show', 'dev', tap], 'tap', check=False).returncode == 0:
            return
        if not srv.alive():
            raise Fail('cheetah exited before making the TAP interface:\n%s' % srv.log_tail())
        if time.monotonic() > end:
            raise Fail('net_tap made no interface %s within %.0f s:\n%s' % (
                tap, WAIT, srv.log_tail()))
        time.sleep(0.05)


def one_run(a, tso):
    from kazoo.client import KazooClient

    cfg = {'cheetah.dataplane': 'dpdk', 'cheetah.dpdk.eal': a.eal,
           'cheetah.port.ip': SRV_IP, 'cheetah.port.netmask': '255.255.255.0',
           'cheetah.dataplane.cores': a.core, 'cheetah.dpdk.tso': 'true' if tso else 'false',
           'jute.maxbuffer': 4 * SIZE}
    srv = harness.Server('cheetah', cheetah_bin=a.cheetah_bin, name='dpdk-tso', host=SRV_IP,
                         port=PORT, netns=a.ns, config=cfg)
    zk = None
    what = 'tso %s' % ('on' if tso else 'off')
    try:
        srv.start(wait=False)
        wait_tap(srv, a.tap)
        run(['ip', 'addr', 'add', KERN_IP + '/24', 'dev', a.tap], 'TAP address')
        run(['ip', 'link', 'set', a.tap, 'up'], 'TAP up')
        srv.wait_ready(WAIT * 2)
        with open(srv.log_path, errors='replace') as f:
            said = re.search(r'TSO (on|off)[^\n]*', f.read())
        if not said:
            raise Fail('%s: the log does not say whether TSO is on:\n%s' % (what,
                                                                               srv.log_tail()))
        if (said.group(1) == 'on') != tso:
            raise Fail('%s: the log says "%s"' % (what, said.group(0)))
        zk = KazooClient(hosts='%s:%d' % (SRV_IP, PORT), timeout=WAIT)
        zk.start(timeout=WAIT)
        data = os.urandom(SIZE)
        zk.create('/big', data)
        m0 = mntr()
        if a.callgrind:
            run(['callgrind_control', '-i', 'on', str(server_pid(srv))], 'callgrind on')
        t0 = cpu_ticks(server_pid(srv))
        for _ in range(a.reads):
            got, _ = zk.get('/big')
            if got != data:
                raise Fail('%s: getData returned %d bytes that differ from the %d written' % (
                    what, len(got), len(data)))
        t1 = cpu_ticks(server_pid(srv))
        if a.callgrind:
            run(['callgrind_control', '-i', 'off', str(server_pid(srv))], 'callgrind off')
        mntr()  # the workers publish every millisecond: one exchange later
        m1 = mntr()  # has all the getData's counts (and two mntr's frames)
        d = {k: m1.get(k, 0) - m0.get(k, 0) for k in (
            'cheetah_net_tx_frames', 'cheetah_net_tcp_tx', 'cheetah_net_tcp_tso_tx',
            'cheetah_net_tcp_tso_segs', 'cheetah_net_tcp_retrans', 'cheetah_net_rx_frames')}
        per = {k: v / a.reads for k, v in d.items()}
        log('[dpdk tso] %s: per 1 MiB getData: %.0f frames handed to the device, '
            '%.0f TSO super-segments making %.0f segments, %.0f frames received, '
            '%.1f retransmissions; server CPU %.1f ms per MiB (%d reads; %s)' % (
                what, per['cheetah_net_tx_frames'], per['cheetah_net_tcp_tso_tx'],
                per['cheetah_net_tcp_tso_segs'], per['cheetah_net_rx_frames'],
                per['cheetah_net_tcp_retrans'],
                (t1 - t0) * 1000.0 / os.sysconf('SC_CLK_TCK') / a.reads, a.reads,
                said.group(0)))
        if tso:
            if d['cheetah_net_tcp_tso_tx'] <= 0:
                raise Fail('%s: no TSO super-segment was sent for a 1 MiB getData: %r' % (
                    what, d))
            if d['cheetah_net_tcp_tso_segs'] <= d['cheetah_net_tcp_tso_tx']:
                raise Fail('%s: super-segments of one segment each: %r' % (what, d))
        else:
            if m1.get('cheetah_net_tcp_tso_tx', -1) != 0 or m1.get('cheetah_net_tcp_tso_segs',
                                                                   -1) != 0:
                raise Fail('%s: TSO counters moved: %r' % (what, d))
        zk.delete('/big')
        zk.stop()
        zk.close()
        zk = None
        try:
            srv.stop_clean()
        except AssertionError as e:
            raise Fail('%s: %s' % (what, e))
        # every mbuf the super-segments took came back
        ends = re.findall(r'mbufs out of the pool (\d+) \((\d+) at start\)', srv.read_log())
        if not ends:
            raise Fail('%s: no worker end line with its mbufs:\n%s' % (what, srv.log_tail()))
        for now, start in ends:
            if now != start:
                raise Fail('%s: %s mbufs out of the pool at the end, %s at start (leak)' % (
                    what, now, start))
    finally:
        if zk:
            try:
                zk.stop()
                zk.close()
            except Exception:  # noqa: BLE001 - cleanup after a failure
                pass
        if srv.alive():
            srv.kill9()
        srv.cleanup()


def inner(a):
    try:
        import kazoo.client  # noqa: F401
    except ImportError:
        raise Fail('kazoo is missing (Debian package python3-kazoo)')
    one_run(a, True)
    one_run(a, False)
    return 0


def drive(a):
    if os.geteuid() != 0:
        raise Fail('needs root: a network namespace and a TAP interface')
    if not shutil.which('ip'):
        raise Fail('missing tool `ip` (Debian package iproute2)')
    if not os.path.exists('/dev/net/tun'):
        raise Fail('no /dev/net/tun: the kernel has no TUN/TAP support here')
    tag = os.getpid()
    ns = 'chtso%d' % tag
    tap = ('ctso%d' % tag)[:15]
    prefix = 'chtso%d' % tag
    made = False
    try:
        r = run(['ip', 'netns', 'add', ns], 'netns', check=False)
        if r.returncode != 0:
            raise Fail('network namespaces unavailable: %s' % r.stderr.strip())
        made = True
        run(['ip', '-n', ns, 'link', 'set', 'lo', 'up'], 'lo up')
        cpus = sorted(os.sched_getaffinity(0))
        eal = ('--lcores=0@(%s) --no-huge -m 256 --no-shconf --no-pci --no-telemetry '
               '--file-prefix=%s --log-level=warning --vdev=net_tap0,iface=%s'
               % (','.join(map(str, cpus)), prefix, tap))
        r = subprocess.run(['ip', 'netns', 'exec', ns, '/usr/bin/python3',
                            os.path.abspath(__file__), '--inner', '--cheetah-bin',
                            a.cheetah_bin, '--ns', ns, '--eal', eal, '--core', str(cpus[-1]),
                            '--tap', tap, '--reads', str(a.reads)]
                           + (['--callgrind'] if a.callgrind else []), timeout=1500)
        if r.returncode != 0:
            raise Fail('the client side failed (exit %d)' % r.returncode)
    finally:
        if made:
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True, timeout=60)
        shutil.rmtree('/var/run/dpdk/' + prefix, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cheetah-bin', required=True)
    ap.add_argument('--inner', action='store_true')
    ap.add_argument('--ns')
    ap.add_argument('--eal')
    ap.add_argument('--core')
    ap.add_argument('--tap')
    ap.add_argument('--reads', type=int, default=8)
    # measuring (docs/BENCHMARKS.md): --cheetah-bin is a script that runs
    # cheetah under valgrind --tool=callgrind --instr-atstart=no; the
    # reads are collected (callgrind_control -i on/off)
    ap.add_argument('--callgrind', action='store_true')
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
        print('FAIL%s: %s' % ('' if a.inner else ' [dpdk tso]', e))
        return 1
    if not a.inner:
        print('[dpdk tso] ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
