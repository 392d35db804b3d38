#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A diagnostic, not a test: one cheetah-bench run through the veth pair of
perf/veth_compare.py (same namespaces, same server configuration) with the
counters of both sides, to tell where frames are lost and who retransmits.
Needs root.

    perf/veth_diag.py [--backend dpdk|sock] [--framecnt N] [--pcap FILE]
        [--perf FILE] [--cheetah-bin build/cheetah]
        [--bench-bin build/perf/cheetah-bench] -- cheetah-bench options

Prints cheetah-bench's output; the dataplane threads' CPU time over the
bench; the client namespace's TCP counters (nstat: retransmissions, loss
probes, DSACKs); both veth ends' frame counts (client TX minus the
stack's rx_frames is what was lost on the way in); the kernel's softnet
drops; on dpdk the non-zero cheetah_net_* lines of mntr and the worker's
shutdown line.  --pcap captures the client's veth (tcpdump, 128 bytes a
frame; Debian package tcpdump, not in build.sh: only this option uses
it); --perf records the server's threads (perf record -g).
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
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'net'))
sys.path.insert(0, HERE)
import test_veth  # noqa: E402
import veth_compare  # noqa: E402

NSTAT_KEYS = ('Retrans', 'Timeout', 'LossProbe', 'DSACK', 'DelayedACK', 'SynRe', 'Drop',
              'Overflow', 'InSegs', 'OutSegs')


def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return r.stdout + r.stderr


def softnet_drops():
    return sum(int(line.split()[1], 16) for line in open('/proc/net/softnet_stat'))


def thread_cpu(pid, prefix):
    """utime + stime (s) of pid's threads whose name starts with prefix."""
    tot = 0
    for t in os.listdir('/proc/%d/task' % pid):
        try:
            st = open('/proc/%d/task/%s/stat' % (pid, t)).read()
        except OSError:
            continue
        f = st[st.rindex(')') + 2:].split()
        if st[st.index('(') + 1:st.rindex(')')].startswith(prefix):
            tot += int(f[11]) + int(f[12])
    return tot / os.sysconf('SC_CLK_TCK')


def veth_frames(ns, ifname):
    out = sh(['ip', '-n', ns, '-s', 'link', 'show', ifname]).splitlines()
    rx = tx = None
    for i, line in enumerate(out):
        if line.strip().startswith('RX:') and i + 1 < len(out):
            rx = int(out[i + 1].split()[1])
        if line.strip().startswith('TX:') and i + 1 < len(out):
            tx = int(out[i + 1].split()[1])
    return rx, tx


def mntr(env):
    code = ("import socket\ns = socket.create_connection(('%s', %d), 5)\ns.sendall(b'mntr')\n"
            "b = b''\nwhile True:\n    d = s.recv(65536)\n    if not d:\n        break\n"
            "    b += d\nprint(b.decode())\n" % (test_veth.SRV_IP, veth_compare.PORT))
    return sh(['ip', 'netns', 'exec', env.ns_cli, sys.executable, '-c', code])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--backend', choices=['dpdk', 'sock'], default='dpdk')
    ap.add_argument('--framecnt', type=int, default=4096)
    ap.add_argument('--dpdk-idle', choices=['backoff', 'spin'], default='backoff')
    ap.add_argument('--pcap')
    ap.add_argument('--perf')
    ap.add_argument('--cheetah-bin', default=os.path.join(ROOT, 'build', 'cheetah'))
    ap.add_argument('--bench-bin', default=os.path.join(ROOT, 'build', 'perf', 'cheetah-bench'))
    ap.add_argument('bench_args', nargs='*')
    a = ap.parse_args()
    for opt, tool in ((a.pcap, 'tcpdump'), (a.perf, 'perf')):
        if opt and not shutil.which(tool):
            sys.exit('%s is not installed (apt-get install %s)'
                     % (tool, 'linux-perf' if tool == 'perf' else tool))
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit('terminated'))
    cheetah = os.path.abspath(a.cheetah_bin)
    env = test_veth.Env('af_packet', cheetah)
    base = tempfile.mkdtemp(prefix='cheetah-veth-diag-')
    aux = []
    try:
        env.setup()
        if a.backend == 'sock':
            subprocess.run(['ip', '-n', env.ns_srv, 'addr', 'add', test_veth.SRV_IP + '/24',
                            'dev', env.if_srv], check=True)
        p = veth_compare.serve(env, cheetah, base, a.backend, a.dpdk_idle, a.framecnt)
        try:
            sh(['ip', 'netns', 'exec', env.ns_cli, 'nstat', '-n'])
            sn0 = softnet_drops()
            cli0 = veth_frames(env.ns_cli, env.if_cli)
            if a.pcap:
                aux.append(subprocess.Popen(
                    ['ip', 'netns', 'exec', env.ns_cli, 'tcpdump', '-i', env.if_cli, '-s', '128',
                     '-B', '65536', '-w', a.pcap], stderr=subprocess.DEVNULL))
                time.sleep(1)
            if a.perf:
                aux.append(subprocess.Popen(['perf', 'record', '-g', '-p', str(p.pid), '-o',
                                             a.perf], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
            c0, w0 = thread_cpu(p.pid, 'cheetah-dp'), time.monotonic()
            r = subprocess.run(['ip', 'netns', 'exec', env.ns_cli, os.path.abspath(a.bench_bin),
                                '--hosts', '%s:%d' % (test_veth.SRV_IP, veth_compare.PORT),
                                '--no-progress', '--server-pid', str(p.pid),
                                '--label', a.backend] + a.bench_args,
                               capture_output=True, text=True, timeout=900)
            cpu, wall = thread_cpu(p.pid, 'cheetah-dp') - c0, time.monotonic() - w0
            for q in reversed(aux):
                q.send_signal(signal.SIGINT)
                q.wait(60)
            aux = []
            print('==== %s (exit %d)' % (a.backend, r.returncode))
            print(r.stdout + r.stderr[-2000:])
            print('dataplane threads: %.2f s of CPU over %.2f s of bench' % (cpu, wall))
            cli1 = veth_frames(env.ns_cli, env.if_cli)
            srv = veth_frames(env.ns_srv, env.if_srv)
            print('client veth: sent %d frames, received %d; server veth counts rx %d tx %d '
                  '(since set-up); softnet drops %d'
                  % (cli1[1] - cli0[1], cli1[0] - cli0[0], srv[0], srv[1],
                     softnet_drops() - sn0))
            print('client namespace TCP (nstat):')
            for line in sh(['ip', 'netns', 'exec', env.ns_cli, 'nstat', '-a']).splitlines():
                if any(k in line for k in NSTAT_KEYS):
                    print('  ' + ' '.join(line.split()[:2]))
            if a.backend == 'dpdk':
                print('mntr (non-zero cheetah_net_*):')
                for line in mntr(env).splitlines():
                    if line.startswith('cheetah_net_') and not line.endswith('\t0'):
                        print('  ' + line.replace('\t', ' '))
        finally:
            for q in aux:
                q.send_signal(signal.SIGINT)
                q.wait(60)
            p.send_signal(signal.SIGTERM)
            p.wait(30)
            with open(os.path.join(base, a.backend + '.log')) as f:
                for line in f:
                    if 'dpdk worker' in line:
                        print(line.rstrip())
    finally:
        env.cleanup()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    main()
