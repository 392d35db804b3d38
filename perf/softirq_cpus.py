#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A measurement, not a test: where a fan-out's receive softirqs ran.

    perf/softirq_cpus.py PERF.DATA FROM_NS TO_NS [HZ]

Reads a `perf record -a -g -F HZ -k CLOCK_MONOTONIC` profile
(perf/fanout-ab.sh --perf, which prints the fan-out's FROM and TO) and
prints, for the samples between FROM_NS and TO_NS, per CPU, the busy samples (not the idle loop) and those under
net_rx_action (the kernel's packet receive: on loopback without Receive
Packet Steering it runs inline in the sender's send), each split by the
task that was on the CPU (those of at least 1 ms; cheetah's threads with
their process id, as other servers may run), in milliseconds
(samples / HZ; default 4999).
"""
import collections
import subprocess
import sys

RX = ('net_rx_action', 'process_backlog', '__netif_receive_skb')
IDLE = ('default_idle', 'cpuidle_enter', 'do_idle', 'pv_native_safe_halt', 'haltpoll')


def main():
    data = sys.argv[1]
    t_from, t_to = int(sys.argv[2]), int(sys.argv[3])
    hz = float(sys.argv[4]) if len(sys.argv) > 4 else 4999.0
    out = subprocess.run(['perf', 'script', '-i', data, '--ns', '-F', 'comm,pid,cpu,time,ip,sym'],
                         capture_output=True, text=True, check=True).stdout
    busy = collections.Counter()
    rx = collections.Counter()
    for block in out.split('\n\n'):
        lines = [ln for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        head = lines[0]
        lb = head.rfind('[')
        if lb < 0:
            continue
        comm, pid = head[:lb].split()[0], head[:lb].split()[-1]
        rb = head.index(']', lb)
        cpu = int(head[lb + 1:rb])
        t = head[rb + 1:].strip().rstrip(':').split('.')
        t_ns = int(t[0]) * 1000000000 + int(t[1].ljust(9, '0')[:9])
        if not t_from <= t_ns <= t_to:
            continue
        frames = ' '.join(lines[1:])
        in_rx = any(f in frames for f in RX)
        if comm == 'swapper' and not in_rx and any(f in frames for f in IDLE):
            continue
        who = comm + '/' + pid if comm.startswith('cheetah') else comm
        busy[(cpu, who)] += 1
        if in_rx:
            rx[(cpu, who)] += 1
    for cpu in sorted({c for c, _ in busy}):
        tot = sum(v for (c, _), v in busy.items() if c == cpu)
        trx = sum(v for (c, _), v in rx.items() if c == cpu)
        print('CPU %d: busy %.1f of %.1f ms, of which receive softirq %.1f ms'
              % (cpu, tot / hz * 1e3, (t_to - t_from) / 1e6, trx / hz * 1e3))
        for (c, who), v in sorted(busy.items(), key=lambda kv: -kv[1]):
            if c == cpu and v / hz >= 0.001:
                print('  %-16s busy %7.1f ms, receive softirq %7.1f ms'
                      % (who, v / hz * 1e3, rx[(c, who)] / hz * 1e3))


if __name__ == '__main__':
    main()
