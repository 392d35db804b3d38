#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Instructions per getData of the dpdk backend's server worker, per layer,
from two callgrind runs of bench_dpdk_inproc (a measurement, not a test).

    perf/inproc_profile.py --bin build/perf/bench_dpdk_inproc \\
        [--short 30000] [--long 130000] [--keep DIR] [-- bench options]

Why two runs: callgrind counts instructions, which do not depend on the
machine's load (wall-clock figures on the shared 2-vCPU machine do), but a
run also counts start-up, connection set-up and populating.  The runs
differ only in --requests, so (long - short) / (difference in requests) is
the cost of one more getData in steady state, start-up cancelled.  The
worker is a polling thread: its empty polls are counted too (run with
--idle backoff, so that it sleeps instead of spinning while the client,
which callgrind runs on the same host CPU as everything else, catches up).

Prints, for the worker thread (cheetah-dp0): its total, then the inclusive
cost of the functions that make each layer, per request.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

# (label, function): inclusive Ir per request.  Layers nest: see the notes.
LAYERS = [
    ('worker thread, all', 'worker_main'),
    ('  dpdk_poll: net_poll + readiness', 'dpdk_poll'),
    ('    net_poll (rx burst, input, timers)', 'net_poll'),
    ('      port rx: ring dequeue, mbuf -> pkt copy', 'dpdk_rx'),
    ('      net_input: Ethernet + IPv4 + TCP in', 'net_input'),
    ('        ip_input (IPv4 + TCP in)', 'ip_input'),
    ('          tcp_input', 'tcp_input'),
    ('  dp_conn_io: recv, framing, requests', 'dp_conn_io'),
    ('    dpdk_recv (net_recv copy out)', 'dpdk_recv'),
    ('    proto_decode_request (parser)', 'proto_decode_request'),
    ('    dp_read_exec (tree read, ACL)', 'dp_read_exec'),
    ('    dp_sess_reply_out (reply encoding)', 'dp_sess_reply_out'),
    ('  dp_conn_flush_all: replies out', 'dp_conn_flush_all'),
    ('    dpdk_send -> net_send (TCP out)', 'dpdk_send'),
    ('      tcp_output', 'tcp_output'),
    ('  net_flush (port tx)', 'net_flush'),
    ('    port tx: pkt -> mbuf copy, ring enqueue', 'dpdk_tx'),
    ('checksums (net_csum_partial, anywhere)', 'net_csum_partial'),
    ('memcpy (anywhere)', '__memcpy_avx_unaligned_erms'),
]

LINE = re.compile(r'^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(\S.*?):(\S+?)(?:\s+\[.*\])?$')


def run(binary, requests, extra, outdir):
    base = os.path.join(outdir, 'cg.%d' % requests)
    cmd = ['valgrind', '--tool=callgrind', '--separate-threads=yes', '--fair-sched=yes',
           '--callgrind-out-file=' + base, binary, '--requests', str(requests),
           '--idle', 'backoff', '--timeout', '900'] + extra
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    summary = [l for l in (r.stdout + r.stderr).splitlines()
               if l.startswith(('getData', 'client stack', 'longest')) or 'dpdk worker' in l]
    if r.returncode != 0:
        sys.exit('run failed (%d):\n%s' % (r.returncode, (r.stdout + r.stderr)[-3000:]))
    worker = None
    for f in sorted(os.listdir(outdir)):
        p = os.path.join(outdir, f)
        if not f.startswith(os.path.basename(base) + '-'):
            continue
        with open(p, errors='replace') as fh:
            if 'worker_main' in fh.read():
                worker = p
    if not worker:
        sys.exit('no callgrind file of the worker thread in ' + outdir)
    ann = subprocess.run(['callgrind_annotate', '--inclusive=yes', '--auto=no', '--threshold=100', worker],
                         capture_output=True, text=True, check=True).stdout
    cost = {}
    for line in ann.splitlines():
        m = LINE.match(line)
        if m:
            fn = m.group(3)
            cost[fn] = max(cost.get(fn, 0), int(m.group(1).replace(',', '')))
    return cost, summary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bin', required=True)
    ap.add_argument('--short', type=int, default=30000)
    ap.add_argument('--long', type=int, default=130000)
    ap.add_argument('--keep', help='keep the callgrind files in this folder')
    ap.add_argument('extra', nargs='*', help='more bench_dpdk_inproc options')
    a = ap.parse_args()
    outdir = a.keep or tempfile.mkdtemp(prefix='inproc-cg-')
    os.makedirs(outdir, exist_ok=True)
    try:
        c1, s1 = run(os.path.abspath(a.bin), a.short, a.extra, outdir)
        c2, s2 = run(os.path.abspath(a.bin), a.long, a.extra, outdir)
    finally:
        if not a.keep:
            shutil.rmtree(outdir, ignore_errors=True)
    n = a.long - a.short
    print('runs: --requests %d and %d %s' % (a.short, a.long, ' '.join(a.extra)))
    for line in s2:
        print('  ' + line)
    print('%-48s %12s' % ('server worker, per getData (long - short)', 'Ir/request'))
    for label, fn in LAYERS:
        d = (c2.get(fn, 0) - c1.get(fn, 0)) / n
        print('%-48s %12.0f' % (label, d))


if __name__ == '__main__':
    main()
