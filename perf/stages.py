#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Where a mixed load's requests wait: one cheetah-bench run against a fresh
Cheetah, with mntr's cheetah_stage_* counters read before and after the
measured interval (docs/BENCHMARKS.md, "The middle of the curve").

    perf/stages.py [--bin build/cheetah] [--pcts 0,50,100] [--rounds 1]
                   [--duration 6] [--label L] [--set KEY=VALUE ...]

The server is pinned to CPU 1 and the bench to CPU 0, as perf/ab-pair.sh
does, with a fresh port and data directory per run (deleted after). Prints
one line per run: ops/s, p99, server CPU per op, then the averages of each
stage over the interval (us) and the counts per second.
"""
import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def mntr(port):
    with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
        s.sendall(b'mntr')
        data = b''
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    out = {}
    for line in data.decode().splitlines():
        k, _, v = line.partition('\t')
        if k.startswith('cheetah_stage_'):
            out[k[len('cheetah_stage_'):]] = int(v)
    return out


def wait_up(port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1) as s:
                s.sendall(b'ruok')
                if s.recv(16) == b'imok':
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def threads(pid):
    """{thread name: [utime ticks, stime ticks, voluntary + involuntary switches]}."""
    out = {}
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            st = open('/proc/%d/task/%s/stat' % (pid, tid)).read()
            status = open('/proc/%d/task/%s/status' % (pid, tid)).read()
        except OSError:
            continue
        name = st[st.index('(') + 1:st.rindex(')')]
        f = st[st.rindex(')') + 2:].split()
        cs = sum(int(l.split()[1]) for l in status.splitlines() if 'ctxt_switches' in l)
        v = out.setdefault(name, [0, 0, 0])
        v[0] += int(f[11])
        v[1] += int(f[12])
        v[2] += cs
    return out


def avg(d, n, us):
    return d[us] / d[n] if d.get(n) else 0.0


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_members(args, base):
    """--ensemble N: N voters on 127.0.0.1, each pinned to CPU 1 (as perf/compare
    --ensemble does); returns [(proc, client port)] once one says leader."""
    n = args.ensemble
    cp = [free_port() for _ in range(n)]
    qp = [free_port() for _ in range(n)]
    ep = [free_port() for _ in range(n)]
    out = []
    for i in range(n):
        d = os.path.join(base, 'm%d' % (i + 1))
        os.makedirs(os.path.join(d, 'data'))
        with open(os.path.join(d, 'data', 'myid'), 'w') as f:
            f.write('%d\n' % (i + 1))
        lines = ['tickTime=2000', 'initLimit=10', 'syncLimit=5', 'forceSync=yes',
                 'maxClientCnxns=0', '4lw.commands.whitelist=*', 'admin.enableServer=false',
                 'clientPort=%d' % cp[i], 'dataDir=%s' % os.path.join(d, 'data')]
        lines += ['server.%d=127.0.0.1:%d:%d' % (k + 1, qp[k], ep[k]) for k in range(n)]
        lines += args.set
        with open(os.path.join(d, 'zoo.cfg'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        out.append((subprocess.Popen(['taskset', '-c', '1', args.bin, '--config',
                                      os.path.join(d, 'zoo.cfg')],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                    cp[i]))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        modes = []
        for _, port in out:
            try:
                with socket.create_connection(('127.0.0.1', port), timeout=1) as s:
                    s.sendall(b'srvr')
                    modes.append(s.recv(4096))
            except OSError:
                modes.append(b'')
        if any(b'Mode: leader' in m for m in modes) and \
                sum(b'Mode: follower' in m for m in modes) == n - 1:
            return out
        time.sleep(0.2)
    raise SystemExit('no leader within 60 s')


def one(args, pct):
    if args.ensemble > 1:
        return one_ensemble(args, pct)
    port = random.randint(20000, 40000)
    ddir = tempfile.mkdtemp(prefix='stages.', dir='/var/tmp')
    srv = subprocess.Popen(['taskset', '-c', '1', args.bin, '--set', 'clientPort=%d' % port,
                            '--set', 'dataDir=' + ddir, '--set', 'maxClientCnxns=0',
                            '--set', '4lw.commands.whitelist=*'] +
                           [a for kv in args.set for a in ('--set', kv)],
                           stdout=subprocess.DEVNULL,
                           stderr=open(args.server_log, 'a') if args.server_log
                           else subprocess.DEVNULL)
    try:
        if not wait_up(port, time.monotonic() + 10):
            raise SystemExit('server did not come up')
        warm = 1.0
        bench = subprocess.Popen(['taskset', '-c', '0', args.bench, '--hosts',
                                  '127.0.0.1:%d' % port, '--duration', str(args.duration),
                                  '--warmup', str(warm), '--read-pct', str(pct),
                                  '--server-pid', str(srv.pid), '--format', 'csv',
                                  '--csv-header', '--no-progress'] + args.bench_args.split(),
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        # the bench populates first (about a second), then warms up
        time.sleep(2.5)
        t0, a, ta = time.monotonic(), mntr(port), threads(srv.pid)
        time.sleep(args.duration - 2.0)
        t1, b, tb = time.monotonic(), mntr(port), threads(srv.pid)
        out, _ = bench.communicate(timeout=60)
        lines = out.strip().splitlines()
        row = dict(zip(lines[0].split(','), lines[-1].split(','))) if len(lines) >= 2 else {}
    finally:
        srv.terminate()
        srv.wait(timeout=30)
        shutil.rmtree(ddir, ignore_errors=True)
    d = {k: b[k] - a.get(k, 0) for k in b}
    dt = t1 - t0
    per = lambda k: d.get(k, 0) / dt
    load = open('/proc/loadavg').read().split()[0]
    print('%s r=%d ops_s=%s p99_us=%s cpu_us_op=%s load=%s' % (
        args.label, pct, row.get('ops_s', '?'), row.get('p99_us', '?'),
        row.get('server_cpu_us_per_op', '?'), load))
    ops = float(row.get('ops_s') or 0) or 1.0
    hz = os.sysconf('SC_CLK_TCK')
    print('  threads (us user/sys per op, switches per op): ' + '; '.join(
        '%s %.2f/%.2f %.3f' % (n, (tb[n][0] - ta.get(n, [0] * 3)[0]) * 1e6 / hz / dt / ops,
                               (tb[n][1] - ta.get(n, [0] * 3)[1]) * 1e6 / hz / dt / ops,
                               (tb[n][2] - ta.get(n, [0] * 3)[2]) / dt / ops)
        for n in sorted(tb)))
    print('  worker: reads at once %.0f/s; queued %.0f/s waiting %.0f us; core-run %.0f/s '
          'arrival->answer %.0f us; writes %.0f/s arrival->result %.0f us; parked %.0f/s '
          '%.0f us; behind %.0f/s %.0f us' % (
              per('reads_at_once'), per('reads_queued'),
              avg(d, 'reads_queued', 'reads_queued_us'), per('reads_core'),
              avg(d, 'reads_core', 'reads_core_us'), per('writes'),
              avg(d, 'writes', 'writes_us'), per('parked'), avg(d, 'parked', 'parked_us'),
              per('behind'), avg(d, 'behind', 'behind_us')))
    print('  core: txns %.0f/s queued->log %.0f us queued->applied %.0f us; batches %.0f/s '
          'of %.1f txns, fsync %.0f us; core reads at once %.0f/s, waited %.0f/s for %.0f us' % (
              per('core_txns'), avg(d, 'core_txns', 'core_txn_to_log_us'),
              avg(d, 'core_txns', 'core_txn_to_apply_us'), per('core_batches'),
              d.get('core_batch_txns', 0) / max(d.get('core_batches', 0), 1),
              avg(d, 'core_fsyncs', 'core_fsync_us'), per('core_reads_at_once'),
              per('core_reads_waited'), avg(d, 'core_reads_waited', 'core_read_wait_us')))
    print('  core loop per op: iterations %.2f, with work %.2f, yields %.2f, sleeps %.3f' % (
        per('core_iterations') / ops, per('core_busy') / ops, per('core_yields') / ops,
        per('core_sleeps') / ops))
    sys.stdout.flush()


def one_ensemble(args, pct):
    base = tempfile.mkdtemp(prefix='stages-ens.', dir='/var/tmp')
    members = []
    try:
        members = start_members(args, base)
        hosts = ','.join('127.0.0.1:%d' % port for _, port in members)
        bench = subprocess.Popen(['taskset', '-c', '0', args.bench, '--hosts', hosts,
                                  '--duration', str(args.duration), '--warmup', '1',
                                  '--read-pct', str(pct), '--format', 'csv', '--csv-header',
                                  '--no-progress'] + args.bench_args.split(),
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(2.5)
        t0 = time.monotonic()
        a = [mntr(port) for _, port in members]
        ta = [threads(p.pid) for p, _ in members]
        time.sleep(args.duration - 2.0)
        t1 = time.monotonic()
        b = [mntr(port) for _, port in members]
        tb = [threads(p.pid) for p, _ in members]
        out, _ = bench.communicate(timeout=60)
        lines = out.strip().splitlines()
        row = dict(zip(lines[0].split(','), lines[-1].split(','))) if len(lines) >= 2 else {}
    finally:
        for p, _ in members:
            p.terminate()
        for p, _ in members:
            p.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)
    dt = t1 - t0
    ops = float(row.get('ops_s') or 0) or 1.0
    hz = os.sysconf('SC_CLK_TCK')
    print('%s ensemble=%d r=%d ops_s=%s p99_us=%s load=%s' % (
        args.label, args.ensemble, pct, row.get('ops_s', '?'), row.get('p99_us', '?'),
        open('/proc/loadavg').read().split()[0]))
    for i in range(len(members)):
        d = {k: b[i][k] - a[i].get(k, 0) for k in b[i]}
        per = lambda k: d.get(k, 0) / dt
        cpu = sum(tb[i][n][0] + tb[i][n][1] - sum(ta[i].get(n, [0, 0, 0])[:2]) for n in tb[i])
        print('  member %d: cpu %.2f us/op (%s); reads at once %.0f/s, queued %.0f/s %.0f us, '
              'core-run %.0f/s %.0f us; writes %.0f/s %.0f us; parked %.0f/s %.0f us; '
              'behind %.0f/s %.0f us; core iterations %.2f/op, yields %.2f/op, sleeps %.2f/op' % (
                  i + 1, cpu * 1e6 / hz / dt / ops, ' '.join(
                      '%s=%.2f' % (n, (tb[i][n][0] + tb[i][n][1] -
                                       sum(ta[i].get(n, [0, 0, 0])[:2])) * 1e6 / hz / dt / ops)
                      for n in sorted(tb[i])), per('reads_at_once'), per('reads_queued'),
                  avg(d, 'reads_queued', 'reads_queued_us'), per('reads_core'),
                  avg(d, 'reads_core', 'reads_core_us'), per('writes'),
                  avg(d, 'writes', 'writes_us'), per('parked'), avg(d, 'parked', 'parked_us'),
                  per('behind'), avg(d, 'behind', 'behind_us'), per('core_iterations') / ops,
                  per('core_yields') / ops, per('core_sleeps') / ops))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--bin', default=os.path.join(HERE, '..', 'build', 'cheetah'))
    ap.add_argument('--bench', default=os.path.join(HERE, '..', 'build', 'perf', 'cheetah-bench'))
    ap.add_argument('--pcts', default='0,50,100')
    ap.add_argument('--rounds', type=int, default=1)
    ap.add_argument('--duration', type=float, default=6)
    ap.add_argument('--label', default='run')
    ap.add_argument('--server-log', default='',
                    help="append the standalone server's stderr (its log) to this file")
    ap.add_argument('--ensemble', type=int, default=1, help='voters (default 1: standalone)')
    ap.add_argument('--bench-args', default='', help='more cheetah-bench options, one string')
    ap.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                    help='a zoo.cfg setting for the server(s), e.g. cheetah.txlog.inflight=1')
    args = ap.parse_args()
    for _ in range(args.rounds):
        for p in args.pcts.split(','):
            one(args, int(p))


if __name__ == '__main__':
    main()
