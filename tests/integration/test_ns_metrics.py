#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""read_per_namespace and write_per_namespace (issue 12): the bytes read
and written per top-level namespace, as ZooKeeper 3.8's DataTree counts
them (updateReadStat: path + data + 68 for getData, path + 68 for exists,
path + the children's names for getChildren/getChildren2, on success;
updateWriteStat: path + data for create and setData, path for delete,
multi ops one by one, a closed session's ephemerals), the path's length
in UTF-16 units.

Run with --server zookeeper it proves the expectations: ZooKeeper's
default metrics provider prints each key's zk_avg/min/max/cnt/sum_<key>_
<set> in mntr, and srst zeroes them.  With --server cheetah the same mntr
lines must come out, in ZooKeeper's order, and /metrics must carry the
BASIC summary sets (label key, quantile 0.5, _count, _sum, counted since
start and not reset by srst) with the exact counts and sums, parsed by
promtool; past 64 namespaces the rest are counted under key "/other".
On both, a restart counts again the writes it replays from the log.

    test_ns_metrics.py --server {zookeeper,cheetah} [--cheetah-bin PATH]
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import log, wait_until  # noqa: E402
import test_metrics as tm  # noqa: E402

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import NoNodeError  # noqa: E402

STAT = 68
SETS = ('read_per_namespace', 'write_per_namespace')


def u16(s):
    """Java's String.length()."""
    return len(s.encode('utf-16-le')) // 2


class Expect:
    def __init__(self):
        self.v = {s: {} for s in SETS}

    def read(self, path, nbytes):
        self.v['read_per_namespace'].setdefault(path.split('/')[1], []).append(
            u16(path) + nbytes + STAT)

    def write(self, path, nbytes):
        self.v['write_per_namespace'].setdefault(path.split('/')[1], []).append(
            u16(path) + nbytes)


def mntr_lines(s):
    """The per-namespace lines of mntr, in order: [(key, value)]."""
    out = (harness.four_letter(s.port, 'mntr') or b'').decode()
    lines = []
    for ln in out.splitlines():
        k, _, v = ln.partition('\t')
        if k.endswith(SETS) and k.startswith('zk_'):
            lines.append((k, v))
    return lines


def expected_mntr(exp, zero=False):
    want = {}
    for st, keys in exp.v.items():
        for key, vals in keys.items():
            n = 0 if zero else len(vals)
            total = 0 if zero else sum(vals)
            want['zk_avg_%s_%s' % (key, st)] = n and round(total / n, 4)
            want['zk_min_%s_%s' % (key, st)] = 0 if zero else min(vals)
            want['zk_max_%s_%s' % (key, st)] = 0 if zero else max(vals)
            want['zk_cnt_%s_%s' % (key, st)] = n
            want['zk_sum_%s_%s' % (key, st)] = total
    return want


def check_mntr(s, exp, zero=False):
    got = mntr_lines(s)
    want = expected_mntr(exp, zero)
    keys = [k for k, v in got]
    assert len(keys) == len(set(keys)), keys
    assert set(keys) == set(want), (sorted(set(keys) ^ set(want)))
    for k, v in got:
        if k.startswith('zk_avg_'):
            assert float(v) == want[k], (k, v, want[k])
        else:
            assert int(v) == want[k], (k, v, want[k])
    # Per key avg, min, max, cnt, sum in that order (AvgMinMaxCounter.values).
    for i in range(0, len(keys), 5):
        stem = keys[i][len('zk_avg_'):]
        assert keys[i:i + 5] == ['zk_%s_%s' % (w, stem) for w in
                                 ('avg', 'min', 'max', 'cnt', 'sum')], keys[i:i + 5]
    return keys


def counts(fams):
    return {(st, lab['key']): v for st in SETS for n, lab, v in fams[st]['samples']
            if n == st + '_count'}


def check_metrics(mport, exp):
    # Scrapes within 100 ms share one text: wait for one with every count.
    want = {(st, k): len(v) for st in SETS for k, v in exp.v[st].items()}
    wait_until(lambda: counts(tm.parse(tm.scrape(mport))) == want, 10,
               'the counts on /metrics', interval=0.05)
    text = tm.scrape(mport)
    fams = tm.parse(text)
    for st in SETS:
        f = fams[st]
        assert f['type'] == 'summary' and f['help'] == st, f
        keys = exp.v[st]
        seen = {}
        for name, lab, v in f['samples']:
            assert lab.get('key') is not None, (name, lab)
            seen.setdefault(lab['key'], {})[(name, lab.get('quantile'))] = v
        assert set(seen) == set(keys), (st, sorted(seen), sorted(keys))
        for key, vals in keys.items():
            got = seen[key]
            assert set(got) == {(st, '0.5'), (st + '_count', None), (st + '_sum', None)}, got
            assert got[(st + '_count', None)] == len(vals), (st, key, got)
            assert got[(st + '_sum', None)] == sum(vals), (st, key, got)
            # The median by rank (Summary's 0.5), within the histogram's 1/16.
            med = sorted(vals)[math.ceil(0.5 * len(vals)) - 1]
            assert abs(got[(st, '0.5')] - med) <= med / 16, (st, key, got, med)
    tm.check_promtool(text)
    return fams


def workload(z, exp):
    """Reads and writes under two namespaces and a non-ASCII one."""
    z.create('/alpha', b'12345')
    exp.write('/alpha', 5)
    z.create('/alpha/c1')
    exp.write('/alpha/c1', 0)
    z.create('/alpha/c2', b'xy')
    exp.write('/alpha/c2', 2)
    z.create('/beta')
    exp.write('/beta', 0)
    z.create('/beta/n', b'hello world')
    exp.write('/beta/n', 11)
    z.set('/beta/n', b'abc')
    exp.write('/beta/n', 3)
    z.create('/\u00fcn\u00ef', b'x')
    exp.write('/\u00fcn\u00ef', 1)

    z.get('/alpha')
    exp.read('/alpha', 5)
    z.get('/beta/n')
    exp.read('/beta/n', 3)
    assert z.exists('/alpha/c1')
    exp.read('/alpha/c1', 0)
    assert z.exists('/alpha/nope') is None  # a miss is not counted
    try:
        z.get('/beta/nope')
        raise AssertionError('NoNodeError expected')
    except NoNodeError:
        pass
    assert sorted(z.get_children('/alpha')) == ['c1', 'c2']
    exp.read('/alpha', 4)
    ch, _ = z.get_children('/beta', include_data=True)  # getChildren2
    assert ch == ['n']
    exp.read('/beta', 1)
    z.get_children('/')  # "/" has no namespace
    z.get('/\u00fcn\u00ef')
    exp.read('/\u00fcn\u00ef', 1)

    tx = z.transaction()
    tx.create('/alpha/t', b'q')
    tx.set_data('/alpha', b'')
    res = tx.commit()
    assert res[0] == "/alpha/t" and not isinstance(res[1], Exception), res
    exp.write('/alpha/t', 1)
    exp.write('/alpha', 0)
    z.delete('/alpha/c2')
    exp.write('/alpha/c2', 0)
    z.delete('/beta/n')
    exp.write('/beta/n', 0)


def test_oracle_and_metrics(args):
    metrics = args.server == 'cheetah'
    if metrics:
        s, mport = tm.metrics_server(args, 'nsmetrics')
    else:
        s, mport = harness.new_server(args, name='nsmetrics'), None
    s.start()
    try:
        exp = Expect()
        if metrics:
            fams = tm.parse(tm.scrape(mport))
            for st in SETS:  # registered at start, no key yet
                assert fams[st]['type'] == 'summary' and not fams[st]['samples'], fams[st]
        z = KazooClient(hosts=s.hosts, timeout=10)
        z.start(timeout=30)
        try:
            workload(z, exp)
            # An ephemeral goes with its session: a delete of its path.
            z.create('/beta/eph', b'e', ephemeral=True)
            exp.write('/beta/eph', 1)
        finally:
            z.stop()
            z.close()
        exp.write('/beta/eph', 0)
        n = str(len(exp.v['write_per_namespace']['beta']))
        wait_until(lambda: dict(mntr_lines(s)).get('zk_cnt_beta_write_per_namespace') == n, 10,
                   'the closed session\'s delete')
        keys = check_mntr(s, exp)
        order = [k for k in keys if k.startswith('zk_avg_')]
        log('mntr order: %s' % ' '.join(order))
        # ZooKeeper 3.8.0's (its ConcurrentHashMaps' iteration order).
        assert order == ['zk_avg_%s_%s' % (k, st) for st in SETS
                         for k in ('alpha', 'beta', '\u00fcn\u00ef')], order
        if metrics:
            check_metrics(mport, exp)
        # srst zeroes mntr's (the default provider's reset), never /metrics'.
        assert harness.four_letter(s.port, 'srst').startswith(b'Server stats reset')
        check_mntr(s, exp, zero=True)
        if metrics:
            check_metrics(mport, exp)
    finally:
        s.stop()


def test_overflow(args):
    """Cheetah keeps 64 namespaces; the later ones are counted under "/other"."""
    s, mport = tm.metrics_server(args, 'nsmetrics-overflow')
    s.start()
    try:
        exp = Expect()
        z = KazooClient(hosts=s.hosts, timeout=10)
        z.start(timeout=30)
        try:
            for i in range(64):
                z.create('/n%02d' % i, b'd')
                exp.write('/n%02d' % i, 1)
            for p in ('/late1', '/late2/'):
                z.create(p.rstrip('/'), b'dd')
            z.get('/late1')
            z.get('/n05')
            exp.read('/n05', 1)
        finally:
            z.stop()
            z.close()
        exp.v['write_per_namespace']['/other'] = [u16('/late1') + 2, u16('/late2') + 2]
        exp.v['read_per_namespace']['/other'] = [u16('/late1') + 2 + STAT]
        check_metrics(mport, exp)
        check_mntr(s, exp)
        assert 'late1' not in tm.scrape(mport)
    finally:
        s.stop()


def test_restart(args):
    """The writes a start replays from the log count again, as ZooKeeper
    3.8 counts the txns loadDatabase applies (its metrics provider is up
    first)."""
    s = harness.new_server(args, name='nsmetrics-restart')
    s.start()
    try:
        z = KazooClient(hosts=s.hosts, timeout=10)
        z.start(timeout=30)
        try:
            z.create('/rr', b'abc')
            z.create('/rr/x', b'')
            z.set('/rr/x', b'12')
        finally:
            z.stop()
            z.close()
        s.stop()
        s.start()
        got = dict(mntr_lines(s))
        log('after a restart: %s' % {k: v for k, v in got.items() if '_rr_' in k})
        assert got.get('zk_cnt_rr_write_per_namespace') == '3', got
        assert got.get('zk_sum_rr_write_per_namespace') == str(3 + 3 + 5 + 0 + 5 + 2), got
    finally:
        s.stop()


def main():
    p = harness.arg_parser(__doc__)
    args = p.parse_args()
    tests = [('oracle and metrics', lambda: test_oracle_and_metrics(args)),
             ('restart', lambda: test_restart(args))]
    if args.server == 'cheetah':
        tests.append(('overflow', lambda: test_overflow(args)))
    return harness.run_tests(tests, args)


if __name__ == '__main__':
    sys.exit(main())
