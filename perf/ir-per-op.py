#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Server instructions per request of a standalone Cheetah under a mixed
load: a load-independent figure where timed runs on a shared machine are
noise (docs/BENCHMARKS.md, "The middle of the curve").

    perf/ir-per-op.py [--bin build/cheetah] [--pcts 0,50,100] [--rounds 1]
                      [--window 4] [--top 0]

The server runs under `valgrind --tool=callgrind --instr-atstart=no`
pinned to CPU 1, cheetah-bench (16 x 32, 100-byte znodes, setData and
getData) on CPU 0. 3 s into the load, instrumentation is switched on for
--window seconds; the instructions (Ir, all threads) are divided by the
requests mntr counted in that window (zk_packets_received). With --top N
the N functions with the most Ir per request are printed (inclusive of
nothing: self cost). The server under valgrind is the bottleneck, so its
group-commit batches are larger than natively: compare builds with each
other, not with timed runs.
"""
import argparse
import glob
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def word(port, w):
    with socket.create_connection(('127.0.0.1', port), timeout=30) as s:
        s.sendall(w.encode())
        data = b''
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    return data.decode()


def mntr(port):
    out = {}
    for line in word(port, 'mntr').splitlines():
        k, _, v = line.partition('\t')
        out[k] = v
    return out


def wait_up(port, deadline):
    while time.monotonic() < deadline:
        try:
            if word(port, 'ruok') == 'imok':
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def one(args, pct):
    port = random.randint(20000, 40000)
    wd = tempfile.mkdtemp(prefix='irop.', dir='/var/tmp')
    ddir = os.path.join(wd, 'data')
    out = os.path.join(wd, 'callgrind.out')
    srv = subprocess.Popen(['taskset', '-c', '1', 'valgrind', '--tool=callgrind',
                            '--instr-atstart=no', '--callgrind-out-file=' + out,
                            args.bin, '--set', 'clientPort=%d' % port, '--set', 'dataDir=' + ddir,
                            '--set', 'maxClientCnxns=0', '--set', '4lw.commands.whitelist=*'],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bench = None
    try:
        if not wait_up(port, time.monotonic() + 60):
            raise SystemExit('server did not come up')
        bench = subprocess.Popen(['taskset', '-c', '0', args.bench, '--hosts',
                                  '127.0.0.1:%d' % port, '--duration', str(args.window + 6),
                                  '--warmup', '1', '--read-pct', str(pct), '--no-progress',
                                  '--format', 'csv'],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(4)
        a = mntr(port)
        subprocess.run(['callgrind_control', '-i', 'on', str(srv.pid)], check=True,
                       stdout=subprocess.DEVNULL)
        time.sleep(args.window)
        subprocess.run(['callgrind_control', '-i', 'off', str(srv.pid)], check=True,
                       stdout=subprocess.DEVNULL)
        b = mntr(port)
        subprocess.run(['callgrind_control', '-d', str(srv.pid)], check=True,
                       stdout=subprocess.DEVNULL)
        bench.wait(timeout=120)
        bench = None
    finally:
        if bench:
            bench.kill()
            bench.wait()
        srv.terminate()
        srv.wait(timeout=60)
    reqs = int(b['zk_packets_received']) - int(a['zk_packets_received'])
    dumps = sorted(glob.glob(out + '*'))
    total = 0
    per_fn = {}
    for d in dumps:
        ann = subprocess.run(['callgrind_annotate', '--threshold=100', d], capture_output=True,
                             text=True).stdout
        for line in ann.splitlines():
            line = line.strip()
            if line.endswith('PROGRAM TOTALS'):
                total += int(line.split()[0].replace(',', ''))
            elif args.top and line and line[0].isdigit() and '=>' not in line:
                n, _, rest = line.partition(' ')
                try:
                    v = int(n.replace(',', ''))
                except ValueError:
                    continue
                fn = rest.split('(', 1)[-1].split(')', 1)[-1].strip() if rest.startswith('(') \
                    else rest.strip()
                per_fn[fn] = per_fn.get(fn, 0) + v
    b_batch = int(b.get('cheetah_stage_core_batch_txns', 0)) - int(a.get('cheetah_stage_core_batch_txns', 0))
    b_n = int(b.get('cheetah_stage_core_batches', 0)) - int(a.get('cheetah_stage_core_batches', 0))
    print('%s r=%d Ir/request %.0f (requests %d, Ir %d, batches %d of %.1f txns)' % (
        args.label, pct, total / max(reqs, 1), reqs, total, b_n, b_batch / max(b_n, 1)))
    for fn, v in sorted(per_fn.items(), key=lambda kv: -kv[1])[:args.top]:
        print('   %8.1f  %s' % (v / max(reqs, 1), fn))
    if args.keep:
        for d in dumps:
            shutil.copy(d, args.keep)
    shutil.rmtree(wd, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--bin', default=os.path.join(HERE, '..', 'build', 'cheetah'))
    ap.add_argument('--bench', default=os.path.join(HERE, '..', 'build', 'perf', 'cheetah-bench'))
    ap.add_argument('--pcts', default='0,50,100')
    ap.add_argument('--rounds', type=int, default=1)
    ap.add_argument('--window', type=float, default=4)
    ap.add_argument('--top', type=int, default=0)
    ap.add_argument('--label', default='run')
    ap.add_argument('--keep', help='copy the callgrind dumps into this directory')
    args = ap.parse_args()
    for _ in range(args.rounds):
        for p in args.pcts.split(','):
            one(args, int(p))


if __name__ == '__main__':
    main()
