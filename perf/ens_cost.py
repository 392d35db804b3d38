#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""perf/ens_cost.py: each member's CPU per committed write (issue 9).

Why: on a shared 2-core machine an ensemble's throughput mostly measures
the CPU of all members and the client together.  What a deployment with
one machine per member gets is bounded by the busiest member's cost per
write (the leader's), which can be measured without a quiet machine:
context switches and CPU time per committed write from `perf stat
--per-thread` (software events), and optionally instructions per write
from callgrind on the leader (this VM has no hardware counters).

Usage (repository root, after ninja -C build):
    perf/ens_cost.py --members 1            # standalone
    perf/ens_cost.py --members 3            # leader and followers
    perf/ens_cost.py --members 3 --callgrind --window 20
The client is build/perf/cheetah-bench, 0 % reads (setData of 100 B),
16 sessions x 32 outstanding, round-robin over every member (as
perf/compare), fsync on (forceSync=yes), data under --workdir (not tmpfs).
Writes in the window: the difference of srvr's Zxid on the leader (each
write takes one zxid; the window lies inside one epoch).  Output: one row
per member (role, ctx switches/write, CPU us/write, per-thread split) and
with --callgrind the leader's instructions per write (callgrind.out kept
in the run directory for callgrind_annotate).
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def four(port, cmd, timeout=3.0):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
            s.sendall(cmd.encode())
            out = b''
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
            return out.decode('utf-8', 'replace')
    except OSError:
        return ''


def srvr(port):
    out = four(port, 'srvr')
    mode = re.search(r'Mode: (\w+)', out)
    zxid = re.search(r'Zxid: (0x[0-9a-fA-F]+)', out)
    return (mode.group(1) if mode else None,
            int(zxid.group(1), 16) if zxid else None)


def wait(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise RuntimeError('timed out waiting for ' + what)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--members', type=int, default=3)
    ap.add_argument('--bin', default='build/cheetah')
    ap.add_argument('--bench', default='build/perf/cheetah-bench')
    ap.add_argument('--window', type=float, default=10.0, help='seconds measured')
    ap.add_argument('--warmup', type=float, default=5.0)
    ap.add_argument('--sessions', type=int, default=16)
    ap.add_argument('--outstanding', type=int, default=32)
    ap.add_argument('--callgrind', action='store_true',
                    help='run the leader (the standalone server) under callgrind')
    ap.add_argument('--record', action='store_true',
                    help='perf record -g the leader over the window (perf.data kept)')
    ap.add_argument('--syscalls', action='store_true',
                    help='count the leader\'s system calls by name over the window')
    ap.add_argument('--workdir', default='/var/tmp')
    ap.add_argument('--keep', action='store_true')
    a = ap.parse_args()

    base = tempfile.mkdtemp(prefix='ens-cost-', dir=a.workdir)
    n = a.members
    cport = {i: free_port() for i in range(1, n + 1)}
    qport = {i: free_port() for i in range(1, n + 1)}
    eport = {i: free_port() for i in range(1, n + 1)}
    procs = {}
    try:
        # With --callgrind, member 1 is started first and alone under
        # callgrind; it is made the leader by starting the others later
        # (checked below).
        for i in range(1, n + 1):
            d = os.path.join(base, 'r%d' % i)
            os.makedirs(os.path.join(d, 'data'))
            with open(os.path.join(d, 'data', 'myid'), 'w') as f:
                f.write('%d\n' % i)
            cfg = os.path.join(d, 'zoo.cfg')
            with open(cfg, 'w') as f:
                f.write('dataDir=%s/data\nclientPort=%d\nclientPortAddress=127.0.0.1\n'
                        'tickTime=2000\ninitLimit=10\nsyncLimit=5\nforceSync=yes\n'
                        'maxClientCnxns=0\n4lw.commands.whitelist=*\n'
                        % (d, cport[i]))
                if n > 1:
                    for j in range(1, n + 1):
                        f.write('server.%d=127.0.0.1:%d:%d\n' % (j, qport[j], eport[j]))
            cmd = [a.bin, '--config', cfg]
            if a.callgrind and i == 1:
                cmd = ['valgrind', '--tool=callgrind', '--compress-strings=no',
                       '--callgrind-out-file=%s/callgrind.out' % base] + cmd
            procs[i] = subprocess.Popen(cmd, stdout=open(os.path.join(d, 'log'), 'wb'),
                                        stderr=subprocess.STDOUT, start_new_session=True)
            if a.callgrind and i == 1:
                wait(lambda: four(cport[1], 'ruok') or procs[1].poll() is not None,
                     120, 'member 1 to answer')
                time.sleep(3)  # campaigning by the time the others start
        wait(lambda: all(srvr(cport[i])[0] for i in cport), 120, 'members to serve')
        roles = {i: srvr(cport[i])[0] for i in cport}
        leader = [i for i in roles if roles[i] in ('leader', 'standalone')]
        if not leader:
            raise RuntimeError('no leader: %s' % roles)
        leader = leader[0]
        if a.callgrind and leader != 1:
            raise RuntimeError('member %d leads, not the callgrind one; run again' % leader)
        hosts = ','.join('127.0.0.1:%d' % cport[i] for i in sorted(cport))
        common = ['--root', '/cheetah-bench', '--znodes', '1000', '--data-size', '100',
                  '--sessions', str(a.sessions), '--outstanding', str(a.outstanding),
                  '--no-progress', '--format', 'csv']
        subprocess.run([a.bench, '--hosts', '127.0.0.1:%d' % cport[leader],
                        '--scenario', 'populate'] + common, check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
        total = a.warmup + a.window + 30
        bench = subprocess.Popen([a.bench, '--hosts', hosts, '--scenario', 'mixed',
                                  '--read-pct', '0', '--warmup', '0', '--duration',
                                  str(total)] + common,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(a.warmup)
        z0 = srvr(cport[leader])[1]
        if a.callgrind:
            subprocess.run(['callgrind_control', '-z', str(procs[leader].pid)],
                           check=True, stdout=subprocess.DEVNULL)
        stats = {}
        for i in cport:
            out = os.path.join(base, 'perf-%d.txt' % i)
            stats[i] = (out, subprocess.Popen(
                ['perf', 'stat', '--per-thread', '-x', ',', '-o', out, '-e',
                 'context-switches,task-clock,raw_syscalls:sys_enter,'
                 'syscalls:sys_enter_sched_yield', '-p', str(procs[i].pid)],
                stdout=subprocess.DEVNULL,
                stderr=open(out + '.err', 'wb')))
        rec = None
        sysc = None
        if a.syscalls:
            sysc = subprocess.Popen(['perf', 'stat', '-x', ',', '-o',
                                     os.path.join(base, 'syscalls.txt'), '-e',
                                     'syscalls:sys_enter_*', '-p', str(procs[leader].pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if a.record:
            rec = subprocess.Popen(['perf', 'record', '-g', '-e', 'cpu-clock', '-F', '2000',
                                    '-o', os.path.join(base, 'perf.data'), '-p',
                                    str(procs[leader].pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(a.window)
        if rec:
            rec.send_signal(signal.SIGINT)
            rec.wait(timeout=60)
        if sysc:
            sysc.send_signal(signal.SIGINT)
            sysc.wait(timeout=60)
        for i in cport:
            stats[i][1].send_signal(signal.SIGINT)
        if a.callgrind:
            subprocess.run(['callgrind_control', '-d', str(procs[leader].pid)],
                           check=True, stdout=subprocess.DEVNULL)
        z1 = srvr(cport[leader])[1]
        for i in cport:
            stats[i][1].wait(timeout=30)
        bench.kill()
        bench.wait()
        writes = z1 - z0
        if writes <= 0:
            raise RuntimeError('no writes committed in the window')
        print('members %d, window %.0f s, writes %d (%.0f/s)' % (
            n, a.window, writes, writes / a.window))
        for i in sorted(cport):
            cs = {}
            ms = {}
            sc = {}
            sy = {}
            with open(stats[i][0]) as f:
                for line in f:
                    v = line.strip().split(',')
                    if len(v) < 4 or line.startswith('#'):
                        continue
                    th = re.sub(r'-\d+$', '', v[0])
                    try:
                        val = float(v[1])
                    except ValueError:
                        continue
                    if v[3].startswith('context-switches'):
                        cs[th] = cs.get(th, 0) + val
                    elif v[3].startswith('task-clock'):
                        ms[th] = ms.get(th, 0) + val
                    elif v[3].startswith('raw_syscalls'):
                        sc[th] = sc.get(th, 0) + val
                    elif v[3].startswith('syscalls:sys_enter_sched_yield'):
                        sy[th] = sy.get(th, 0) + val
            role = roles[i] + ('*' if i == leader and a.callgrind else '')
            print('  member %d %-10s ctxsw/write %.3f  cpu us/write %.2f  '
                  'syscalls/write %.3f (sched_yield %.3f)' % (
                      i, role, sum(cs.values()) / writes, 1000.0 * sum(ms.values()) / writes,
                      sum(sc.values()) / writes, sum(sy.values()) / writes))
            for th in sorted(ms, key=lambda t: -ms[t]):
                print('      %-16s ctxsw/write %.3f  cpu us/write %.2f  syscalls/write %.3f '
                      '(sched_yield %.3f)' % (
                          th, cs.get(th, 0) / writes, 1000.0 * ms[th] / writes,
                          sc.get(th, 0) / writes, sy.get(th, 0) / writes))
    finally:
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    if a.syscalls:
        rows = []
        with open(os.path.join(base, 'syscalls.txt')) as f:
            for line in f:
                v = line.strip().split(',')
                if len(v) > 2 and not line.startswith('#'):
                    try:
                        rows.append((float(v[0]), v[2].replace('syscalls:sys_enter_', '')))
                    except ValueError:
                        pass
        for n, name in sorted(rows, reverse=True)[:12]:
            if n:
                print('  leader %-16s %.4f per write' % (name, n / writes))
    if a.callgrind:
        # The dump of callgrind_control -d (callgrind.out.1): the window.
        out = os.path.join(base, 'callgrind.out.1')
        tot = 0
        with open(out) as f:
            for line in f:
                if line.startswith('totals:') or line.startswith('summary:'):
                    tot = int(line.split()[1])
                    break
        print('  leader instructions/write %.0f (callgrind, %s)' % (tot / writes, out))
    if not a.keep and not a.callgrind and not a.record:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print('  kept', base)


if __name__ == '__main__':
    sys.exit(main())
