#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A measurement, not a test: the watch fan-out with and without Receive
Packet Steering, so that the client's kernel receive runs on the client's
CPU instead of inline in the server's send (docs/BENCHMARKS.md, "The
fan-out without the client's receive").  Needs root.

    perf/fanout_rps.py [--rounds 5] [--sessions 19500] [--configs sock,sock-rps,dpdk,dpdk-rps]
        [--cheetah-bin build/cheetah] [--bench-bin build/perf/cheetah-bench]

Every run pins the server to CPU 1 and cheetah-bench to CPU 0.
  sock       perf/fanout-ab.sh --pin --netns: loopback of a fresh namespace
  sock-rps   perf/fanout-ab.sh --pin --rps 1: the same, rps_cpus=1 on its lo
  dpdk       perf/veth_compare.py --backends dpdk: af_packet on a veth pair
  dpdk-rps   the same, rps_cpus=1 on the client's veth end
  sockveth   perf/veth_compare.py --backends sock: kernel TCP on the veth pair
  sockveth-rps  the same, rps_cpus=1 on the client's end and 2 on the
             server's (each side's receive on its own CPU, the server's
             ACK receive included, which on lo runs on the client's CPU)
The configurations alternate within each round (the order turns every
round).  Prints each run, then per configuration the medians [ranges] of
the fan-out (setData to the last event), the server worker's own time
from popping the events to its last send (ring + recipients + writes +
queued outputs, from its log line), the server's and the client's CPU
and run-queue wait during the fan-out (schedstat), the NET_RX softirqs
each CPU ran and the packets each dropped at a full backlog (during the
fan-out), the TCP retransmissions of the whole run (sock: the namespace's
nstat; dpdk: the server stack's count), and the 1-minute load average.  On a shared machine the
CPU times and the worker's stage times are the figures to compare.
"""
import argparse
import csv
import io
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STAGE = re.compile(r'watch events of zxid \S+, (\d+) deliveries:(?: on the ring ([\d.]+) ms after '
                   r'the apply,)? recipients and encoding ([\d.]+) ms, written in ([\d.]+) ms, '
                   r'then \d+ queued outputs in ([\d.]+) ms')
FIELDS = ('fanout_ms', 'worker_ms', 'write_ms', 'srv_cpu', 'srv_wait', 'cli_cpu', 'cli_wait',
          'setdata', 'load')


def load1():
    with open('/proc/loadavg') as f:
        return float(f.read().split()[0])


def parse(out, label):
    """One run's figures from cheetah-bench's CSV row and the server's log line."""
    lines = out.splitlines()
    row = None
    for i, line in enumerate(lines):
        if line.startswith('label,scenario') and i + 1 < len(lines):
            row = next(csv.DictReader(io.StringIO(line + '\n' + lines[i + 1] + '\n')))
    stages = [STAGE.search(line) for line in lines]
    stages = [m for m in stages if m]
    if not row or not stages:
        sys.stderr.write('%s: no result:\n%s\n' % (label, out[-3000:]))
        return None
    rt = re.search(r'TcpRetransSegs=(\d+)', out) or re.search(r'retransmits (\d+)', out)
    m = stages[-1]
    ring, prep, write, flush = (float(m.group(k) or 0) for k in (2, 3, 4, 5))
    return {'fanout_ms': float(row['fanout_ms']), 'worker_ms': ring + prep + write + flush,
            'write_ms': write, 'srv_cpu': float(row['fanout_server_cpu_ms']),
            'srv_wait': float(row['fanout_server_wait_ms']),
            'cli_cpu': float(row['fanout_client_cpu_ms']),
            'cli_wait': float(row['fanout_client_wait_ms']),
            'setdata': float(row['fanout_setdata_ms']),
            'net_rx': row['fanout_net_rx_per_cpu'], 'load': load1(),
            'drops': row['fanout_backlog_drops_per_cpu'], 'retrans': rt.group(1) if rt else '?',
            'events': row['events'], 'deliveries': m.group(1)}


def run(cfg, a):
    bench_csv = ['--format', 'csv', '--csv-header', '--no-progress']
    if cfg in ('sock', 'sock-rps'):
        # fanout-ab.sh prints its own summary line; the bench's CSV and
        # the server's log are what is parsed here, so run its steps
        # with the bench row kept: its output line has every field too.
        cmd = [os.path.join(HERE, 'fanout-ab.sh'), '--pin']
        cmd += ['--rps', '1'] if cfg == 'sock-rps' else ['--netns']
        cmd += ['--raw', cfg, a.cheetah_bin, str(a.sessions), a.bench_bin]
    else:
        backend = 'dpdk' if cfg.startswith('dpdk') else 'sock'
        cmd = [os.path.join(HERE, 'veth_compare.py'), '--cheetah-bin', a.cheetah_bin,
               '--bench-bin', a.bench_bin, '--backends', backend, '--server-cpus', '1',
               '--client-cpus', '0']
        if cfg.endswith('-rps'):
            cmd += ['--rps-client', '1']
        if cfg == 'sockveth-rps':
            cmd += ['--rps-server', '2']
        cmd += ['--', '--scenario', 'watch-storm', '--sessions', str(a.sessions), '--watches',
                '50'] + bench_csv
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return parse(r.stdout + r.stderr, cfg)


def fmt(vals, nd=1):
    med = statistics.median(vals)
    return '%.*f [%.*f-%.*f]' % (nd, med, nd, min(vals), nd, max(vals))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--sessions', type=int, default=19500)
    ap.add_argument('--configs', default='sock,sock-rps,dpdk,dpdk-rps')
    ap.add_argument('--cheetah-bin', default=os.path.join(HERE, '..', 'build', 'cheetah'))
    ap.add_argument('--bench-bin',
                    default=os.path.join(HERE, '..', 'build', 'perf', 'cheetah-bench'))
    a = ap.parse_args()
    a.cheetah_bin = os.path.abspath(a.cheetah_bin)
    a.bench_bin = os.path.abspath(a.bench_bin)
    configs = a.configs.split(',')
    res = {c: [] for c in configs}
    for rnd in range(a.rounds):
        order = configs[rnd % len(configs):] + configs[:rnd % len(configs)]
        for cfg in order:
            r = run(cfg, a)
            if r is None:
                continue
            res[cfg].append(r)
            print('round %d %-8s fanout %.1f ms, worker %.1f ms (writes %.1f), server cpu %.1f '
                  'wait %.1f, client cpu %.1f wait %.1f, setData %.1f ms, NET_RX per CPU %s, '
                  'backlog drops per CPU %s, server retransmissions (run) %s, events %s, '
                  'load %.2f'
                  % (rnd + 1, cfg, r['fanout_ms'], r['worker_ms'], r['write_ms'], r['srv_cpu'],
                     r['srv_wait'], r['cli_cpu'], r['cli_wait'], r['setdata'], r['net_rx'],
                     r['drops'], r['retrans'], r['events'], r['load']), flush=True)
    print('\n| config | runs | ' + ' | '.join(FIELDS) + ' |')
    print('| --- | ---: |' + ' ---: |' * len(FIELDS))
    for cfg in configs:
        rs = res[cfg]
        if not rs:
            print('| %s | 0 |' % cfg + ' |' * len(FIELDS))
            continue
        print('| %s | %d | ' % (cfg, len(rs))
              + ' | '.join(fmt([r[k] for r in rs], 2 if k == 'load' else 1) for k in FIELDS)
              + ' |')
    print('(ms; medians [ranges]; worker_ms = ring + recipients + writes + queued outputs, '
          'from the server log; cpu/wait from schedstat during the fan-out)')


if __name__ == '__main__':
    main()
