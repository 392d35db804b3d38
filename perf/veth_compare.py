#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A measurement, not a test: cheetah-bench in a client network namespace
against cheetah's dpdk backend (DPDK af_packet on a veth end) and then
against its sock backend (kernel TCP on the same veth end, given the same
address), one after the other in the same run.  Needs root.

    perf/veth_compare.py --cheetah-bin build/cheetah \\
        --bench-bin build/perf/cheetah-bench [--dpdk-idle spin] [--backends dpdk,sock] \
        [--framecnt 4096] [--server-cpus 1 --client-cpus 0] [--rps-client 1] \
        [-- cheetah-bench options]

--server-cpus / --client-cpus pin the server (and the dpdk worker's lcore)
and cheetah-bench with taskset.  --rps-client MASK turns on Receive Packet
Steering on the client's veth end (every rx queue's rps_cpus, inside the
client namespace, gone with it): a frame the server sends is otherwise
received by the client's kernel inline in the server's own send (veth
hands it to the peer's __netif_rx in the sender's context; on dpdk inside
af_packet's sendto), and with RPS it is queued to a CPU of MASK and
received there, as a remote client's kernel would on its own machine.
--rps-server MASK does the same on the server's end (the client's frames:
on sock the server's TCP receive, on dpdk af_packet's copy into its ring).

Namespaces and veth: tests/net/test_veth.py's Env (removed at the end).
Prints each backend's cheetah-bench output.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'net'))
import test_veth  # noqa: E402

PORT = 2181


def serve(env, cheetah, base, backend, idle, framecnt=4096, cpus=None):
    data = os.path.join(base, backend)
    os.makedirs(data)
    cfg = os.path.join(base, backend + '.cfg')
    lines = ['dataDir=' + data, 'clientPort=%d' % PORT, 'clientPortAddress=' + test_veth.SRV_IP,
             '4lw.commands.whitelist=*', 'maxClientCnxns=0']
    if backend == 'dpdk':
        cpus = cpus or ','.join(str(c) for c in sorted(os.sched_getaffinity(0)))
        lines += ['cheetah.dataplane=dpdk', 'cheetah.port.ip=' + test_veth.SRV_IP,
                  'cheetah.dpdk.idle=' + idle,
                  'cheetah.dpdk.eal=--lcores=0@(%s) --no-huge -m 256 --no-shconf --no-pci '
                  '--no-telemetry --file-prefix=%s --log-level=warning '
                  '--vdev=net_af_packet0,iface=%s,framecnt=%d'
                  % (cpus, env.prefix, env.if_srv, framecnt)]
    with open(cfg, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    log = open(os.path.join(base, backend + '.log'), 'w+')
    pin = ['taskset', '-c', cpus] if cpus else []
    p = subprocess.Popen(['ip', 'netns', 'exec', env.ns_srv] + pin + [cheetah, '--config', cfg],
                         stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        log.seek(0)
        if 'serving on' in log.read():
            return p
        if p.poll() is not None:
            break
        time.sleep(0.05)
    log.seek(0)
    raise SystemExit('%s did not start:\n%s' % (backend, log.read()[-2000:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cheetah-bin', required=True)
    ap.add_argument('--bench-bin', required=True)
    ap.add_argument('--dpdk-idle', choices=['backoff', 'spin'], default='backoff')
    ap.add_argument('--backends', default='dpdk,sock')
    # The af_packet PMD's RX ring, in frames (its default is 512): it has
    # no flow control, so it must hold what the client sends while the
    # worker is busy between two reads (docs/OPERATIONS.md, "The dpdk
    # backend"); 4096 frames of 2 KiB, 8 MiB per ring.
    ap.add_argument('--framecnt', type=int, default=4096)
    ap.add_argument('--server-cpus', help='taskset list for the server, e.g. 1')
    ap.add_argument('--client-cpus', help='taskset list for cheetah-bench, e.g. 0')
    ap.add_argument('--rps-client', metavar='MASK',
                    help="rps_cpus of the client's veth end (hex CPU mask, 1 = CPU 0)")
    ap.add_argument('--rps-server', metavar='MASK',
                    help="rps_cpus of the server's veth end (hex CPU mask, 2 = CPU 1)")
    ap.add_argument('bench_args', nargs='*')
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit('terminated'))
    env = test_veth.Env('af_packet', os.path.abspath(a.cheetah_bin))
    base = tempfile.mkdtemp(prefix='cheetah-veth-bench-')
    try:
        env.setup()
        for mask, ns, ifname in ((a.rps_client, env.ns_cli, env.if_cli),
                                 (a.rps_server, env.ns_srv, env.if_srv)):
            if not mask:
                continue
            q = '/sys/class/net/%s/queues' % ifname
            sh = ('for f in %s/rx-*/rps_cpus; do echo %s >$f || exit 1; done; '
                  'grep . %s/rx-*/rps_cpus' % (q, mask, q))
            r = subprocess.run(['ip', 'netns', 'exec', ns, 'sh', '-c', sh],
                               capture_output=True, text=True, check=True)
            print('rps: ' + ' '.join(r.stdout.split()))
        for backend in a.backends.split(','):
            if backend == 'sock':
                subprocess.run(['ip', '-n', env.ns_srv, 'addr', 'add', test_veth.SRV_IP + '/24',
                                'dev', env.if_srv], check=True)
            p = serve(env, os.path.abspath(a.cheetah_bin), base, backend, a.dpdk_idle, a.framecnt,
                      a.server_cpus)
            pin = ['taskset', '-c', a.client_cpus] if a.client_cpus else []
            try:
                r = subprocess.run(['ip', 'netns', 'exec', env.ns_cli] + pin
                                   + [os.path.abspath(a.bench_bin),
                                    '--hosts', '%s:%d' % (test_veth.SRV_IP, PORT), '--no-progress',
                                    '--server-pid', str(p.pid), '--label', backend]
                                   + a.bench_args, capture_output=True, text=True, timeout=600)
                print('==== %s (exit %d)' % (backend, r.returncode))
                print(r.stdout + r.stderr[-2000:])
            finally:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
                with open(os.path.join(base, backend + '.log')) as f:
                    for line in f:
                        if 'dpdk worker' in line or 'watch events of' in line:
                            print(line.rstrip())
    finally:
        env.cleanup()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    main()
