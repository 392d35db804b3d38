#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""perf/fwd_latency.py: write latency through a follower (issue 13).

Why: a write sent to a follower is forwarded to the leader, proposed,
acknowledged by a quorum and applied on the follower before its client
hears back.  A step of that path left for the core's next timer costs up
to a tick (tickTime / 2), which shows in the median of a lone client's
sequential writes, not in a pipelined benchmark's throughput.

Usage (repository root, after ninja -C build):
    /usr/bin/python3 perf/fwd_latency.py [--cheetah-bin build/cheetah] [--ops 2000] [--tick 500]
Three cheetah members (tickTime --tick, kernel sockets, data under the
harness's temp dirs), one kazoo client connected to a follower doing
--ops sequential setData of 100 B on one znode.  Prints the client's
median, p90, p99 and max in ms, and the leader's quorum_ack_latency and
every member's proposal_ack_creation_latency quantiles from /metrics.
A benchmark: on a loaded machine its figures are noise; it decides
nothing.
"""
import argparse
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'integration'))
import harness  # noqa: E402
from harness import wait_until  # noqa: E402

from kazoo.client import KazooClient  # noqa: E402

PROVIDER = 'org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider'


def scrape(port):
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=5) as r:
        return r.read().decode()


def quantiles(text, name):
    out = {}
    for m in re.finditer(r'^%s\{quantile="([0-9.]+)",?\} ([0-9.eE+-]+|NaN)$' % name, text,
                         re.M):
        out[m.group(1)] = m.group(2)
    return out


def pct(xs, p):
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cheetah-bin', default='build/cheetah')
    ap.add_argument('--ops', type=int, default=2000)
    ap.add_argument('--tick', type=int, default=500)
    a = ap.parse_args()
    ports = {i: {'C': harness.free_port(), 'Q': harness.free_port(), 'E': harness.free_port(),
                 'M': harness.free_port()} for i in (1, 2, 3)}
    cfg = {'tickTime': a.tick, 'initLimit': 10, 'syncLimit': 5}
    for i, p in ports.items():
        cfg['server.%d' % i] = '127.0.0.1:%d:%d' % (p['Q'], p['E'])
    servers = {}
    for i, p in ports.items():
        own = dict(cfg, **{'metricsProvider.className': PROVIDER,
                           'metricsProvider.httpHost': '127.0.0.1',
                           'metricsProvider.httpPort': p['M']})
        servers[i] = harness.Server('cheetah', cheetah_bin=os.path.abspath(a.cheetah_bin),
                                    config=own, name='fwdlat-r%d' % i, port=p['C'], myid=i)
    try:
        for s in servers.values():
            s.start(wait=False)
        for s in servers.values():
            s.wait_ready(120)

        def leader():
            modes = {i: s.four('srvr').decode(errors='replace') for i, s in servers.items()}
            ls = [i for i, t in modes.items() if 'Mode: leader' in t]
            fs = [i for i, t in modes.items() if 'Mode: follower' in t]
            return ls[0] if len(ls) == 1 and len(fs) == 2 else None
        lead = wait_until(leader, 120, 'a leader and two followers', interval=0.2)
        follower = [i for i in servers if i != lead][0]
        z = KazooClient(hosts=servers[follower].hosts, timeout=10)
        z.start(timeout=30)
        z.create('/fwdlat', b'')
        data = b'v' * 100
        for _ in range(20):  # warm-up
            z.set('/fwdlat', data)
        lat = []
        t_all = time.monotonic()
        for _ in range(a.ops):
            t0 = time.monotonic()
            z.set('/fwdlat', data)
            lat.append((time.monotonic() - t0) * 1000.0)
        t_all = time.monotonic() - t_all
        z.stop()
        z.close()
        lat.sort()
        print('setData via follower r%d (leader r%d), %d ops in %.1f s: median %.2f ms, '
              'p90 %.2f ms, p99 %.2f ms, max %.2f ms' % (
                  follower, lead, a.ops, t_all, pct(lat, 0.5), pct(lat, 0.9), pct(lat, 0.99),
                  lat[-1]))
        time.sleep(0.3)  # /metrics' text may be 100 ms old
        text = scrape(ports[lead]['M'])
        print('leader r%d quorum_ack_latency %s' % (lead, quantiles(text, 'quorum_ack_latency')))
        for i in servers:
            text = scrape(ports[i]['M'])
            print('r%d proposal_ack_creation_latency %s' % (
                i, quantiles(text, 'proposal_ack_creation_latency')))
    finally:
        for s in servers.values():
            s.stop()
            s.cleanup()


if __name__ == '__main__':
    main()
