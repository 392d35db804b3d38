#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""/metrics (issue 12, part 2): ZooKeeper's PrometheusMetricsProvider
keys on Cheetah (metricsProvider.className, httpHost, httpPort on a free
loopback port).

Debian's zookeeper 3.8 packages do not ship the Prometheus provider
(dpkg -L zookeeper libzookeeper-java: no zookeeper-prometheus-metrics
jar), so the names and types to match are ZooKeeper 3.8.0's, derived
from its source (ZK_38 below: ServerMetrics, ZooKeeperServer
.registerMetrics, LeaderZooKeeperServer/FollowerZooKeeperServer
.registerMetrics, QuotaMetricsUtils; summaries' quantiles from
PrometheusMetricsProvider: ADVANCED 0.5/0.9/0.99, BASIC 0.5).

  - names and types: every family without the cheetah_ prefix is one of
    ZooKeeper's with its type and quantile set; every ZooKeeper metric
    Cheetah leaves out is named in docs/OPERATIONS.md; Cheetah's own are
    all cheetah_*;
  - values move with kazoo load: znode_count (+ the znodes created, then
    - the ephemerals when their session closes), ephemerals_count,
    watch_count, global_sessions, approximate_data_size (+ path and data
    bytes), packets, bytes, readlatency/updatelatency counts,
    fsynctime and sync_processor_batch_size; they equal mntr's figures;
  - the dataplane's: exact reply sizes and response_bytes of a raw
    client (-1 after srst), connection_revalidate_count on a reconnect,
    watch_bytes and node_*_watch_count (_sum = the watchers notified)
    for kazoo watches of each event type, sessionless_connections_expired
    for a connection that never sends its ConnectRequest,
    stale_sessions_expired for a session left to expire;
  - Debian's `promtool check metrics` parses it; what it reports is
    only its naming advice about ZooKeeper's own names, never a parse
    error and nothing about cheetah_*;
  - a real Prometheus server (Debian's, its own temp dir and free port)
    scrapes it: the target goes up and a query returns znode_count;
  - junk, half requests, 200 held connections and a scrape flood on the
    metrics port: the server and its client port serve throughout;
  - metricsProvider.className of another class refuses to start;
  - --ensemble: three members; the leader alone exports learners,
    synced_followers (2), quorum size; cheetah_leader_id agrees on all;
    proposal_count and commit_count on the leader, learner_*_received
    on the followers; a wiped member (snapCount 10) rejoins through a
    snapshot transfer (snap_count); a session reconnecting to another
    follower moves the leader's revalidate_count;
  - start-up: dbinittime and startup_* once per start, the txns a
    restart replays (= the zxids written), snapshottime after snapCount;
  - the dpdk backend (a net_null device, root): the stack's counters per
    worker as cheetah_net_*, moving, promtool-clean.

    test_metrics.py --cheetah-bin PATH [--ensemble]
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import json

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import zkproto  # noqa: E402
from harness import log, wait_until  # noqa: E402

from kazoo.client import KazooClient  # noqa: E402

PROVIDER = 'org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider'
DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'docs',
                    'OPERATIONS.md')

# ZooKeeper 3.8.0's metrics as its Prometheus provider exports them:
# name -> (type, quantiles).  Gauge sets and summary sets carry a "key" label.
_ADV = ('0.5', '0.9', '0.99')
_BAS = ('0.5',)
ZK_38 = {}
for _n in ('avg_latency max_latency min_latency packets_received packets_sent '
           'num_alive_connections outstanding_requests uptime znode_count watch_count '
           'ephemerals_count approximate_data_size global_sessions local_sessions '
           'open_file_descriptor_count max_file_descriptor_count connection_drop_probability '
           'last_client_response_size max_client_response_size min_client_response_size '
           'outstanding_tls_handshake auth_failed_count non_mtls_remote_conn_count '
           'non_mtls_local_conn_count learners synced_followers synced_non_voting_followers '
           'synced_observers pending_syncs leader_uptime last_proposal_size max_proposal_size '
           'min_proposal_size quota_count_limit_per_namespace quota_bytes_limit_per_namespace '
           'quota_count_usage_per_namespace quota_bytes_usage_per_namespace').split():
    ZK_38[_n] = ('gauge', ())
for _n in ('looking_count diff_count snap_count commit_count connection_request_count '
           'connection_rejected bytes_received_count unrecoverable_error_count '
           'add_dead_watcher_stall_time dead_watchers_queued dead_watchers_cleared '
           'response_packet_cache_hits response_packet_cache_misses '
           'response_packet_get_children_cache_hits response_packet_get_children_cache_misses '
           'ensemble_auth_success ensemble_auth_fail ensemble_auth_skip '
           'prep_processor_request_queued outstanding_changes_queued outstanding_changes_removed '
           'revalidate_count connection_drop_count connection_revalidate_count '
           'sessionless_connections_expired stale_sessions_expired request_commit_queued '
           'throttled_ops learner_proposal_received_count learner_commit_received_count '
           'sync_processor_request_queued proposal_count quit_leading_due_to_disloyal_voter '
           'stale_requests stale_requests_dropped stale_replies request_throttle_wait_count '
           'large_requests_rejected digest_mismatches_count unsuccessful_handshake '
           'insecure_admin_count tls_handshake_exceeded cnxn_closed_without_zk_server_running '
           'skip_learner_request_to_next_processor_count '
           'requests_not_forwarded_to_commit_processor response_bytes watch_bytes '
           'quota_exceeded_error_per_namespace').split():
    ZK_38[_n] = ('counter', ())
for _n in ('fsynctime snapshottime dbinittime follower_sync_time observer_sync_time '
           'election_time connection_token_deficit inflight_snap_count inflight_diff_count '
           'node_created_watch_count node_deleted_watch_count node_changed_watch_count '
           'node_children_watch_count prep_processor_queue_size prep_process_time '
           'proposal_process_time unavailable_time leader_unavailable_time '
           'requests_in_session_queue pending_session_queue_size '
           'reads_after_write_in_session_queue reads_issued_from_session_queue '
           'session_queues_drained time_waiting_empty_pool_in_commit_processor_read_ms '
           'write_batch_time_in_commit_processor '
           'concurrent_request_processing_in_commit_processor read_commit_proc_req_queued '
           'write_commit_proc_req_queued commit_commit_proc_req_queued read_commit_proc_issued '
           'write_commit_proc_issued commit_process_time startup_txns_loaded '
           'startup_txns_load_time startup_snap_load_time sync_processor_queue_size '
           'sync_process_time sync_processor_batch_size netty_queued_buffer_capacity '
           'learner_request_processor_queue_size socket_closing_time write_per_namespace '
           'read_per_namespace learner_handler_qp_size').split():
    ZK_38[_n] = ('summary', _BAS)
for _n in ('readlatency updatelatency propagation_latency dead_watchers_cleaner_latency '
           'prep_processor_queue_time_ms close_session_prep_time read_commitproc_time_ms '
           'write_commitproc_time_ms local_write_committed_time_ms '
           'server_write_committed_time_ms om_proposal_process_time_ms '
           'om_commit_process_time_ms read_final_proc_time_ms write_final_proc_time_ms '
           'proposal_latency proposal_ack_creation_latency commit_propagation_latency '
           'sync_processor_queue_and_flush_time_ms sync_processor_queue_time_ms '
           'sync_processor_queue_flush_time_ms quorum_ack_latency '
           'request_throttle_queue_time_ms jvm_pause_time_ms learner_handler_qp_time_ms '
           'ack_latency').split():
    ZK_38[_n] = ('summary', _ADV)
# ZooKeeper's SummarySets, samples per key, none before a key is counted
# (label "key": ack_latency's is the member id, the others' a namespace).
SUMMARY_SETS = {'ack_latency', 'read_per_namespace', 'write_per_namespace'}
# Exported only by a serving leader of an ensemble.
LEADER_ONLY = {'learners', 'synced_followers', 'synced_observers', 'pending_syncs',
               'leader_uptime', 'last_proposal_size', 'max_proposal_size',
               'min_proposal_size'}


# ---- the text format --------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse(text):
    """{family: {'type', 'help', 'samples': [(name, {labels}, value)]}}; strict."""
    fams, cur = {}, None
    for ln in text.split('\n')[:-1]:
        if ln.startswith('# HELP '):
            name, _, helptext = ln[7:].partition(' ')
            assert name not in fams, 'family %s twice' % name
            cur = fams[name] = {'help': helptext, 'type': None, 'samples': []}
            continue
        if ln.startswith('# TYPE '):
            name, _, typ = ln[7:].partition(' ')
            assert cur is fams.get(name), 'TYPE %s without its HELP' % name
            cur['type'] = typ
            continue
        m = SAMPLE.match(ln)
        assert m, 'not a sample line: %r' % ln
        name, labels, value = m.group(1), {}, float(m.group(4))
        if m.group(3):
            pos = 0
            for lm in LABEL.finditer(m.group(3)):
                assert lm.start() == pos, ln
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
            assert pos == len(m.group(3)), ln
        fam = None
        for base in (name, name[:-6] if name.endswith('_count') else None,
                     name[:-4] if name.endswith('_sum') else None):
            if base in fams and (base == name or fams[base]['type'] == 'summary'):
                fam = base
        assert fam == list(fams)[-1], 'sample %s outside its family' % name
        fams[fam]['samples'].append((name, labels, value))
    assert text.endswith('\n')
    return fams


def value(fams, name, labels=None):
    fam = name if name in fams else re.sub(r'_(count|sum)$', '', name)
    for n, lab, v in fams[fam]['samples']:
        if n == name and (labels is None or lab == labels):
            return v
    raise KeyError(name)


def scrape(port, path='/metrics', timeout=10):
    with urllib.request.urlopen('http://127.0.0.1:%d%s' % (port, path), timeout=timeout) as r:
        assert r.status == 200
        ctype = r.headers.get('Content-Type')
        assert ctype == 'text/plain; version=0.0.4; charset=utf-8', ctype
        return r.read().decode()


def mntr(s):
    out = harness.four_letter(s.port, 'mntr') or b''
    return dict(ln.split('\t', 1) for ln in out.decode().splitlines() if '\t' in ln)


def metrics_server(args, name, extra=None):
    port = harness.free_port()
    cfg = {'metricsProvider.className': PROVIDER, 'metricsProvider.httpHost': '127.0.0.1',
           'metricsProvider.httpPort': port, 'metricsProvider.exportJvmInfo': 'true'}
    cfg.update(extra or {})
    s = harness.new_server(args, config=cfg, name=name)
    return s, port


# ---- the checks -------------------------------------------------------


def check_names(fams, leader=False):
    problems = []
    for name, f in fams.items():
        if name.startswith('cheetah_'):
            continue
        if name not in ZK_38:
            problems.append('%s: not a ZooKeeper 3.8 metric' % name)
            continue
        typ, qs = ZK_38[name]
        if f['type'] != typ:
            problems.append('%s: type %s, ZooKeeper %s' % (name, f['type'], typ))
        if f['help'] != name:
            problems.append('%s: HELP %r, ZooKeeper says the name' % (name, f['help']))
        if typ == 'summary':
            # A summary set has these per key (label "key").
            by = {}
            for n, lab, v in f['samples']:
                if n == name:
                    by.setdefault(lab.get('key'), []).append(lab['quantile'])
            for key, got in by.items():
                if tuple(got) != qs:
                    problems.append('%s %s: quantiles %r, want %r' % (name, key, got, qs))
            for key in by if name in SUMMARY_SETS else (None,):
                for suffix in ('_count', '_sum'):
                    if not any(n == name + suffix and lab.get('key') == key
                               for n, lab, v in f['samples']):
                        problems.append('%s %s: no %s' % (name, key, suffix))
        if name in LEADER_ONLY and not leader:
            problems.append('%s: exported by a server that is not the leader' % name)
    docs = open(DOCS).read()
    absent = sorted(n for n in ZK_38 if n not in fams and not (n in LEADER_ONLY and not leader))
    for n in absent:
        if '`%s`' % n not in docs:
            problems.append('%s: left out, but not listed in docs/OPERATIONS.md' % n)
    for p in problems:
        log('PROBLEM ' + p)
    assert not problems, '%d problems' % len(problems)
    return absent


def promtool(text):
    """(exit status, problem lines) of promtool check metrics on text."""
    p = subprocess.run(['promtool', 'check', 'metrics'], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return p.returncode, (p.stdout + p.stderr).decode().splitlines()


def check_promtool(text):
    rc, lines = promtool(text)
    log('promtool: exit %d, %d remarks' % (rc, len(lines)))
    # 0: clean; 3: lint remarks only (1 would be a parse error).
    assert rc in (0, 3), (rc, lines)
    advice = re.compile(r'^(\S+) (counter metrics should have "_total" suffix|'
                        r'non-histogram and non-summary metrics should not have "_count" suffix)$')
    for ln in lines:
        m = advice.match(ln)
        assert m, 'promtool: %r' % ln
        assert m.group(1) in ZK_38, 'promtool about a name of our own: %r' % ln
    # The same tool finds a broken text (so a pass above means it parsed ours).
    rc, lines = promtool(text.replace('# TYPE znode_count gauge', '# TYPE znode_count gauge x'))
    assert rc == 1, (rc, lines)


def test_load(args):
    s, mport = metrics_server(args, 'metrics-load')
    s.start()
    try:
        fams = parse(scrape(mport))
        absent = check_names(fams)
        log('exported %d ZooKeeper metrics, left out %d' % (
            len([n for n in fams if not n.startswith('cheetah_')]), len(absent)))
        base = {n: value(fams, n) for n in (
            'znode_count', 'approximate_data_size', 'packets_received', 'packets_sent',
            'bytes_received_count', 'readlatency_count', 'updatelatency_count',
            'fsynctime_count', 'sync_processor_batch_size_sum')}
        assert value(fams, 'ephemerals_count') == 0
        assert value(fams, 'global_sessions') == 0

        z = KazooClient(hosts=s.hosts, timeout=10)
        z.start(timeout=30)
        z.create('/m')
        data_bytes = len('/m')
        for i in range(40):
            z.create('/m/p%02d' % i, b'v' * i)
            data_bytes += len('/m/p%02d' % i) + i
        for i in range(5):
            z.create('/m/e%d' % i, b'ee', ephemeral=True)
            data_bytes += len('/m/e%d' % i) + 2
        for i in range(7):
            z.get('/m/p%02d' % i, watch=lambda ev: None)
        for i in range(20):
            z.exists('/m/p%02d' % i)

        def moved():
            f = parse(scrape(mport))
            return f if value(f, 'znode_count') == base['znode_count'] + 46 else None
        fams = wait_until(moved, 10, 'znode_count + 46')
        got = {n: value(fams, n) for n in base}
        log('after load: %s' % json.dumps(got, sort_keys=True))
        assert value(fams, 'ephemerals_count') == 5
        assert value(fams, 'watch_count') == 7
        assert value(fams, 'global_sessions') == 1
        assert value(fams, 'num_alive_connections') == 1
        assert got['approximate_data_size'] == base['approximate_data_size'] + data_bytes
        assert got['updatelatency_count'] >= base['updatelatency_count'] + 46
        assert got['readlatency_count'] >= base['readlatency_count'] + 27
        assert got['packets_received'] >= base['packets_received'] + 73
        assert got['packets_sent'] >= base['packets_sent'] + 73
        assert got['bytes_received_count'] > base['bytes_received_count']
        assert got['fsynctime_count'] > base['fsynctime_count']
        assert got['sync_processor_batch_size_sum'] >= base['sync_processor_batch_size_sum'] + 46
        for q in ('0.5', '0.9', '0.99'):
            v = value(fams, 'updatelatency', {'quantile': q})
            assert 0 <= v < 60000, (q, v)
        assert 0 <= value(fams, 'fsynctime', {'quantile': '0.5'}) < 60000
        assert value(fams, 'sync_processor_batch_size', {'quantile': '0.5'}) >= 1
        # one fdatasync per batch (the batch is counted a moment before its fsync)
        assert 0 <= value(fams, 'cheetah_group_commit_records_count') - \
            got['fsynctime_count'] <= 1
        assert value(fams, 'uptime') > 0
        # The workers' own counters add up to the totals.
        cores = fams['cheetah_dataplane_packets_received_total']['samples']
        assert cores and all(set(lab) == {'worker', 'core'} for n, lab, v in cores), cores
        # mntr says the same of the same tree (its ephemerals_count sums the
        # connected sessions' on each worker's tick: it may lag a tick).
        def same_as_mntr():
            m, f = mntr(s), parse(scrape(mport))
            return all(float(m['zk_' + k]) == value(f, k) for k in (
                'znode_count', 'ephemerals_count', 'watch_count', 'approximate_data_size'))
        wait_until(same_as_mntr, 10, 'mntr and /metrics to agree', interval=0.1)
        # mntr's readlatency and updatelatency: /metrics' histograms'
        # AvgMinMaxCounters (no srst: since start), in whole ms
        m = mntr(s)
        for k in ('readlatency', 'updatelatency'):
            cnt, total, avg = int(m['zk_cnt_' + k]), int(m['zk_sum_' + k]), \
                float(m['zk_avg_' + k])
            assert cnt >= 10, (k, cnt)  # the 41 creates, the reads above
            assert 0 <= int(m['zk_min_' + k]) <= avg <= int(m['zk_max_' + k]) < 60000, m
            assert abs(avg * cnt - total) <= cnt, (k, avg, cnt, total)  # ms, rounded
        check_percentiles_since_srst(s, z)

        check_promtool(scrape(mport))
        prometheus_scrapes(mport, int(value(fams, 'znode_count')))

        z.stop()
        z.close()
        fams = wait_until(lambda: (lambda f: f if value(f, 'ephemerals_count') == 0 else None)(
            parse(scrape(mport))), 30, 'the ephemerals to go with their session')
        assert value(fams, 'znode_count') == base['znode_count'] + 41
        wait_until(lambda: value(parse(scrape(mport)), 'global_sessions') == 0, 30,
                   'the session to close')
        assert 'exportJvmInfo' in s.read_log(), 'the ignored exportJvmInfo is not logged'
    finally:
        s.stop()


LAT = ('readlatency', 'updatelatency')
PCT = ('p50', 'p95', 'p99', 'p999')


def slow_pairs(z, rounds=8, size=256 * 1024):
    """Pipelined setData of a large value, each followed by a getData on
    the same session: the read waits for the write's commit (ZooKeeper's
    session order too), so both take a measurable time even when a lone
    read is answered in the round it came in (0 us).  At most 2 MiB of
    replies in flight: a kazoo client slowed by a loaded machine must stay
    under the server's 4 MiB limit of queued output per connection."""
    z.ensure_path('/m/big')
    pending = []
    for i in range(rounds):
        pending.append(z.set_async('/m/big', bytes([i % 256]) * size))
        pending.append(z.get_async('/m/big'))
    for r in pending:
        r.get(timeout=30)


def check_percentiles_since_srst(s, z):
    """mntr's p50..p999 of readlatency and updatelatency, ZooKeeper's
    AvgMinMaxPercentileCounter: whole ms, ordered, within the counter's
    range (to the histogram's 1/16), non-zero under load; srst empties
    them (0, as ZooKeeper's empty reservoir) and they move again."""
    def pcts(m, k):
        return [int(m['zk_%s_%s' % (q, k)]) for q in PCT]

    def loaded():
        slow_pairs(z)
        m = mntr(s)
        return m if all(pcts(m, k)[2] > 0 for k in LAT) else None
    m = wait_until(loaded, 60, 'p99 of readlatency and updatelatency above 0 under load',
                   interval=0.05)
    for k in LAT:
        p = pcts(m, k)
        log('mntr %s p50..p999 %s (min %s max %s cnt %s)' % (
            k, p, m['zk_min_' + k], m['zk_max_' + k], m['zk_cnt_' + k]))
        assert p == sorted(p), (k, p)
        assert p[-1] <= int(m['zk_max_' + k]) * 17 // 16 + 1, (k, p, m['zk_max_' + k])
    assert harness.four_letter(s.port, 'srst').strip() == b'Server stats reset.'
    m = mntr(s)
    for k in LAT:
        # a ping in between is a read of 0 ms: still 0
        assert pcts(m, k) == [0, 0, 0, 0], (k, pcts(m, k))
        assert int(m['zk_cnt_' + k]) <= 2, (k, m['zk_cnt_' + k])
    m = wait_until(loaded, 60, 'p99 of readlatency and updatelatency moving after srst',
                   interval=0.05)
    for k in LAT:
        assert int(m['zk_cnt_' + k]) >= 8, (k, m['zk_cnt_' + k])  # one slow_pairs
        assert pcts(m, k)[-1] <= int(m['zk_max_' + k]) * 17 // 16 + 1
    z.delete('/m/big')  # the caller counts its own nodes


# ---- the dataplane's response and watch metrics ------------------------

def event_bytes(path):
    """A notification frame without its length prefix: ReplyHeader (16)
    and WatcherEvent (type, state, path)."""
    return 16 + 4 + 4 + 4 + len(path)


def scrape_until(mport, cond, what, timeout=10):
    """The first scrape whose families satisfy cond (one text per 100 ms)."""
    return wait_until(lambda: (lambda f: f if cond(f) else None)(parse(scrape(mport))),
                      timeout, what, interval=0.05)


def test_dataplane(args):
    """response_bytes, watch_bytes, *_client_response_size,
    node_*_watch_count, connection_revalidate_count and
    sessionless_connections_expired move as ZooKeeper's would."""
    s, mport = metrics_server(args, 'metrics-dataplane')
    s.start()
    idle = None
    clients = []
    try:
        # A connection that never sends its ConnectRequest: the idle
        # check closes it after 10 s (NIO's sessionlessCnxnTimeout).
        idle = socket.create_connection(('127.0.0.1', s.port), timeout=40)
        assert harness.four_letter(s.port, 'srst').strip() == b'Server stats reset.'
        sizes = ('last_client_response_size', 'min_client_response_size',
                 'max_client_response_size')
        # BufferStats.INIT_VALUE after srst (texts are cached for 100 ms)
        fams = scrape_until(mport, lambda f: all(value(f, n) == -1 for n in sizes),
                            'the response sizes to be -1 after srst')
        base = {n: value(fams, n) for n in (
            'response_bytes', 'watch_bytes', 'connection_revalidate_count',
            'sessionless_connections_expired', 'stale_sessions_expired')}
        # mntr's figures since srst (ZooKeeper's default provider zeroes
        # them: ServerMetrics.resetAll); /metrics counts on.
        mntr_reset = {'zk_response_bytes': '0', 'zk_watch_bytes': '0',
                      'zk_connection_revalidate_count': '0',
                      'zk_sessionless_connections_expired': '0',
                      'zk_last_client_response_size': '-1',
                      'zk_min_client_response_size': '-1',
                      'zk_max_client_response_size': '-1',
                      'zk_cnt_node_changed_watch_count': '0',
                      'zk_sum_node_changed_watch_count': '0'}
        m = mntr(s)
        assert {k: m.get(k) for k in mntr_reset} == mntr_reset, m
        # A session left to expire (the shortest timeout, 2 ticks).
        gone = zkproto.Conn('127.0.0.1', s.port, timeout_ms=4000)
        gone.close_socket()

        # A raw client: exact reply sizes (no pings: 30 s timeout).
        c = zkproto.Conn('127.0.0.1', s.port, timeout_ms=30000)
        c.call_ok(zkproto.OP['create'],
                  zkproto.r_create('/d', b'x' * 1000, zkproto.OPEN_ACL, 0), 'create')
        create_reply = 16 + 4 + len('/d')  # ReplyHeader, CreateResponse
        get_reply = 16 + 4 + 1000 + 68     # ReplyHeader, data, Stat
        c.call_ok(zkproto.OP['getData'], zkproto.r_path_watch('/d', False), 'getData')
        want = {'last_client_response_size': get_reply, 'max_client_response_size': get_reply,
                'min_client_response_size': create_reply,
                'response_bytes': base['response_bytes'] + create_reply + get_reply}
        fams = scrape_until(mport, lambda f: all(value(f, n) == v for n, v in want.items()),
                            'response sizes %r' % want)
        m = mntr(s)
        for n, v in want.items():
            mv = v - base['response_bytes'] if n == 'response_bytes' else v
            assert int(m['zk_' + n]) == mv, (n, m['zk_' + n], mv)
        # The same session on a new connection (ZooKeeperServer.reopenSession).
        c.close_socket()
        c.connect()
        c.call_ok(zkproto.OP['exists'], zkproto.r_path_watch('/d', False), 'exists')
        want = {'connection_revalidate_count': base['connection_revalidate_count'] + 1,
                'last_client_response_size': 16 + 68,
                'min_client_response_size': min(create_reply, 16 + 68),
                'response_bytes': base['response_bytes'] + create_reply + get_reply + 84}
        fams = scrape_until(mport, lambda f: all(value(f, n) == v for n, v in want.items()),
                            'a revalidation and %r' % want)
        c.close_socket()

        # Watches with kazoo: A and B watch, C changes.
        for i in range(3):
            z = KazooClient(hosts=s.hosts, timeout=10)
            z.start(timeout=30)
            clients.append(z)
        a, b, cz = clients
        znodes = value(parse(scrape(mport)), 'znode_count')
        cz.create('/w')
        fams = scrape_until(mport, lambda f: value(f, 'znode_count') == znodes + 1,
                            'the znode /w')
        w0 = {n: (value(fams, n + '_count'), value(fams, n + '_sum')) for n in (
            'node_created_watch_count', 'node_deleted_watch_count',
            'node_changed_watch_count', 'node_children_watch_count')}
        wb0 = value(fams, 'watch_bytes')
        fired = []
        lock = threading.Lock()

        def watcher(ev):
            with lock:
                fired.append((ev.type, ev.path))

        def wait_fired(n):
            wait_until(lambda: len(fired) >= n, 15, '%d watch events' % n)

        for z in (a, b):
            z.exists('/w/c', watch=watcher)
        cz.create('/w/c')                      # NodeCreated to 2
        wait_fired(2)
        for z in (a, b, cz):
            z.get('/w', watch=watcher)
        cz.set('/w', b'y')                     # NodeDataChanged to 3
        wait_fired(5)
        for z in (a, b):
            z.get_children('/w', watch=watcher)
        cz.create('/w/d')                      # NodeChildrenChanged to 2
        wait_fired(7)
        for z in (a, b):
            z.exists('/w/c', watch=watcher)
        cz.delete('/w/c')                      # NodeDeleted to 2
        wait_fired(9)
        want_bytes = (2 * event_bytes('/w/c') + 3 * event_bytes('/w') +
                      2 * event_bytes('/w') + 2 * event_bytes('/w/c'))

        def watched():
            f = parse(scrape(mport))
            return f if value(f, 'watch_bytes') == wb0 + want_bytes else None
        fams = wait_until(watched, 10, 'watch_bytes + %d' % want_bytes)
        m = mntr(s)
        assert int(m['zk_watch_bytes']) == value(fams, 'watch_bytes') - base['watch_bytes'], m
        assert m['zk_connection_revalidate_count'] == '1', m
        for n, watchers in (('node_created_watch_count', 2), ('node_changed_watch_count', 3),
                            ('node_children_watch_count', 2),
                            ('node_deleted_watch_count', 2)):
            cnt, sm = value(fams, n + '_count') - w0[n][0], value(fams, n + '_sum') - w0[n][1]
            log('%s: +%d events, +%d watchers' % (n, cnt, sm))
            assert sm == watchers, (n, sm, watchers)
            # one observation per event and worker that had watchers
            assert 1 <= cnt <= watchers, (n, cnt)
            assert value(fams, n, {'quantile': '0.5'}) >= 1
            # mntr's summary since srst (no event before w0): the same
            assert int(m['zk_sum_' + n]) == watchers, (n, m['zk_sum_' + n])
            assert int(m['zk_cnt_' + n]) == cnt, (n, m['zk_cnt_' + n], cnt)
            assert 1 <= int(m['zk_min_' + n]) <= int(m['zk_max_' + n]) <= watchers, n
        kinds = sorted(ev for ev, path in fired)
        assert kinds == sorted(['CREATED'] * 2 + ['CHANGED'] * 3 + ['CHILD'] * 2 +
                               ['DELETED'] * 2), fired

        # The idle connection: closed and counted.
        idle.settimeout(40)
        assert idle.recv(1) == b'', 'the sessionless connection was not closed'
        wait_until(lambda: value(parse(scrape(mport)), 'sessionless_connections_expired') ==
                   base['sessionless_connections_expired'] + 1, 10,
                   'sessionless_connections_expired + 1')
        assert mntr(s)['zk_sessionless_connections_expired'] == '1'
        wait_until(lambda: value(parse(scrape(mport)), 'stale_sessions_expired') ==
                   base['stale_sessions_expired'] + 1, 20, 'stale_sessions_expired + 1')
        # mntr: the core's counter since srst, as /metrics' less its value then.
        m, f = mntr(s), parse(scrape(mport))
        assert (int(m['zk_stale_sessions_expired']) ==
                value(f, 'stale_sessions_expired') - base['stale_sessions_expired']), m
        # srst again, with no client left to ping: mntr back to 0 and -1,
        # /metrics' counters unchanged.
        for z in clients:
            z.stop()
            z.close()
        clients = []
        before = value(parse(scrape(mport)), 'response_bytes')
        assert harness.four_letter(s.port, 'srst').strip() == b'Server stats reset.'
        m = mntr(s)
        assert {k: m.get(k) for k in mntr_reset} == mntr_reset, m
        assert value(parse(scrape(mport)), 'response_bytes') >= before
        check_names(parse(scrape(mport)))
    finally:
        if idle:
            idle.close()
        for z in clients:
            z.stop()
            z.close()
        s.stop()


# ---- a real Prometheus ------------------------------------------------

def prometheus_scrapes(mport, znodes):
    """Debian's prometheus scrapes /metrics; its API sees znode_count."""
    if not shutil.which('prometheus'):
        raise AssertionError('prometheus is not installed (build.sh PKGS)')
    d = harness.make_tmp_dir('prometheus')
    port = harness.free_port()
    with open(os.path.join(d, 'prometheus.yml'), 'w') as f:
        f.write('global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n'
                'scrape_configs:\n  - job_name: cheetah\n    static_configs:\n'
                '      - targets: ["127.0.0.1:%d"]\n' % mport)
    logf = open(os.path.join(d, 'prometheus.log'), 'w')
    p = subprocess.Popen(['prometheus', '--config.file=' + os.path.join(d, 'prometheus.yml'),
                          '--storage.tsdb.path=' + os.path.join(d, 'tsdb'),
                          '--web.listen-address=127.0.0.1:%d' % port],
                         stdout=logf, stderr=subprocess.STDOUT, cwd=d,
                         preexec_fn=harness._pdeathsig)
    api = 'http://127.0.0.1:%d/api/v1/' % port

    def call(path):
        try:
            with urllib.request.urlopen(api + path, timeout=5) as r:
                return json.loads(r.read().decode())
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            return None
    try:
        def up():
            assert p.poll() is None, 'prometheus exited: %s' % open(logf.name).read()[-2000:]
            r = call('targets')
            ts = r and r['data']['activeTargets']
            return ts and ts[0]['health'] == 'up' and ts[0]
        t = wait_until(up, 90, 'prometheus to scrape cheetah (target up)', interval=0.2)
        log('prometheus target: %s %s' % (t['scrapeUrl'], t['health']))

        def queried():
            r = call('query?query=' + urllib.parse.quote('znode_count'))
            res = r and r['status'] == 'success' and r['data']['result']
            return res and int(float(res[0]['value'][1])) == znodes and res
        res = wait_until(queried, 60, 'prometheus to return znode_count %d' % znodes,
                         interval=0.2)
        log('prometheus query znode_count: %s' % json.dumps(res))
        r = call('query?query=' + urllib.parse.quote('updatelatency{quantile="0.99"}'))
        assert r and r['status'] == 'success' and r['data']['result'], r
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        logf.close()
        shutil.rmtree(d, ignore_errors=True)


# ---- junk and floods ----------------------------------------------------

def test_robustness(args):
    s, mport = metrics_server(args, 'metrics-flood')
    s.start()
    stop = threading.Event()
    errors = []
    try:
        z = KazooClient(hosts=s.hosts, timeout=10)
        z.start(timeout=30)
        z.create('/r', b'x')

        def client():
            # The client port serves throughout (each read within 10 s).
            while not stop.is_set():
                try:
                    z.get('/r')
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))
                    return
        t = threading.Thread(target=client)
        t.start()

        def raw(data, read=True):
            with socket.create_connection(('127.0.0.1', mport), timeout=10) as c:
                c.sendall(data)
                return c.recv(4096) if read else None
        a = raw(b'\x16\x03\x01\x00\x05hello\r\n\r\n')
        assert a.startswith(b'HTTP/1.1 400') or a == b'', a
        assert raw(b'GET /' + b'a' * 100000 + b' HTTP/1.1\r\n\r\n')[:12] in (
            b'HTTP/1.1 414', b'HTTP/1.1 431', b'')
        assert raw(b'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n').startswith(b'HTTP/1.1 404')
        assert raw(b'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc'
                   ).startswith(b'HTTP/1.1 405')
        # 200 connections that send half a request and wait, past the limit of 32.
        held = []
        for _ in range(200):
            try:
                c = socket.create_connection(('127.0.0.1', mport), timeout=10)
                c.sendall(b'GET /metr')
                held.append(c)
            except OSError:
                pass
        for c in held:
            c.close()
        # A flood of scrapes from 8 threads.
        fails = []

        def flood():
            for _ in range(50):
                try:
                    parse(scrape(mport))
                except Exception as e:  # noqa: BLE001
                    fails.append(repr(e))
        ts = [threading.Thread(target=flood) for _ in range(8)]
        for x in ts:
            x.start()
        for x in ts:
            x.join(120)
        assert not fails, fails[:3]
        stop.set()
        t.join(30)
        assert not errors, errors
        assert s.alive()
        assert value(parse(scrape(mport)), 'num_alive_connections') == 1
        z.stop()
        z.close()
    finally:
        stop.set()
        s.stop()


def test_bad_class(args):
    """Another provider class: refused at start, as ZooKeeper refuses a class it cannot load."""
    d = harness.make_tmp_dir('metrics-badclass')
    cfg = os.path.join(d, 'zoo.cfg')
    with open(cfg, 'w') as f:
        f.write('dataDir=%s\nclientPort=%d\nmetricsProvider.className=com.example.Mine\n'
                % (d, harness.free_port()))
    p = subprocess.run([args.cheetah_bin, '--config', cfg, '--check-config'],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = p.stdout.decode()
    assert p.returncode != 0 and 'com.example.Mine is not available' in out, (p.returncode, out)


# ---- the dpdk backend's counters ------------------------------------------

def test_dpdk(args):
    """The dpdk backend on a net_null device (no peer needed): its stack's
    counters per worker as cheetah_net_*, promtool-clean, moving."""
    if os.geteuid() != 0:
        raise AssertionError('the dpdk backend needs root (as CI runs)')
    d = harness.make_tmp_dir('metrics-dpdk')
    mport, prefix = harness.free_port(), 'cheetah-metrics-%d' % os.getpid()
    with open(os.path.join(d, 'zoo.cfg'), 'w') as f:
        f.write('tickTime=2000\ndataDir=%s/data\nclientPort=%d\nadmin.enableServer=false\n'
                'cheetah.dataplane=dpdk\ncheetah.port.ip=10.99.0.1\n'
                'cheetah.dpdk.eal=--no-huge -m 256 --no-shconf --no-pci --no-telemetry '
                '--file-prefix=%s --vdev=net_null0\n'
                'metricsProvider.className=%s\nmetricsProvider.httpHost=127.0.0.1\n'
                'metricsProvider.httpPort=%d\n' % (d, harness.free_port(), prefix, PROVIDER,
                                                      mport))
    logf = open(os.path.join(d, 'cheetah.log'), 'w')
    p = subprocess.Popen([args.cheetah_bin, '--config', os.path.join(d, 'zoo.cfg')],
                         stdout=logf, stderr=subprocess.STDOUT, preexec_fn=harness._pdeathsig)
    try:
        def served():
            assert p.poll() is None, 'cheetah exited: %s' % open(logf.name).read()[-3000:]
            try:
                return parse(scrape(mport, timeout=2))
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                return None
        fams = wait_until(served, 60, '/metrics on the dpdk backend', interval=0.1)
        assert fams['cheetah_net_rx_frames_total']['type'] == 'counter'
        assert fams['cheetah_net_socks']['type'] == 'gauge'
        assert [lab for n, lab, v in fams['cheetah_net_socks']['samples']] == [
            {'worker': '0', 'core': 'unpinned'}]
        assert fams['cheetah_net_dev_rx_missed_total']['samples'][0][1] == {}
        first = value(fams, 'cheetah_net_rx_frames_total')
        # net_null delivers frames without end: the stack's counter moves
        wait_until(lambda: value(parse(scrape(mport)), 'cheetah_net_rx_frames_total') > first,
                   30, 'cheetah_net_rx_frames_total to move')
        check_names(fams)
        check_promtool(scrape(mport))
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        logf.close()
        shutil.rmtree('/var/run/dpdk/' + prefix, ignore_errors=True)


# ---- start-up and snapshots (replication side) --------------------------

def test_startup(args):
    """dbinittime and startup_*: one observation per start; the txns a
    restart replays; snapshottime after snapCount txns."""
    s, mport = metrics_server(args, 'metrics-startup')
    s.start()
    try:
        f = parse(scrape(mport))
        check_names(f)
        assert value(f, 'dbinittime_count') == 1
        assert value(f, 'startup_snap_load_time_count') == 1
        # an empty log: FileTxnSnapLog.restore adds no txns figures
        assert value(f, 'startup_txns_loaded_count') == 0
        assert value(f, 'startup_txns_load_time_count') == 0
        for n in ('proposal_count', 'commit_count', 'snap_count',
                  'learner_proposal_received_count', 'learner_commit_received_count',
                  'proposal_ack_creation_latency_count'):
            assert value(f, n) == 0, n  # standalone: no ensemble to count them
        assert f['ack_latency']['samples'] == []  # no member acknowledges anything
        z = KazooClient(hosts=s.hosts, timeout=10)
        z.start(timeout=30)
        z.create('/s')
        for i in range(30):
            z.create('/s/n%02d' % i)
        z.stop()
        z.close()
        # the closeSession is the last txn; standalone zxids are 1, 2, ...
        txns = wait_until(lambda: int(value(parse(scrape(mport)), 'cheetah_last_zxid')) >= 33
                          and int(value(parse(scrape(mport)), 'cheetah_last_zxid')), 10,
                          'the 33 txns applied')
        assert value(parse(scrape(mport)), 'snapshottime_count') == 0  # snapCount 100000

        s.config['snapCount'] = 10
        s.restart()
        f = parse(scrape(mport))
        check_names(f)
        assert value(f, 'dbinittime_count') == 1
        assert value(f, 'startup_snap_load_time_count') == 1
        assert value(f, 'startup_txns_loaded_count') == 1
        assert value(f, 'startup_txns_loaded_sum') == txns, (value(f, 'startup_txns_loaded_sum'),
                                                             txns)
        assert value(f, 'startup_txns_loaded', {'quantile': '0.5'}) > 0
        assert value(f, 'startup_txns_load_time_count') == 1
        assert 0 <= value(f, 'dbinittime_sum') < 60000
        assert value(f, 'startup_txns_load_time_sum') <= value(f, 'dbinittime_sum')
        assert value(f, 'propagation_latency_count') == 0  # a replay is no propagation
        # txns replayed: a start-up snapshot (ZooKeeperServer.loadData)
        f = wait_until(lambda: (lambda g: g if value(g, 'snapshottime_count') >= 1 else None)(
            parse(scrape(mport))), 30, 'the start-up snapshot')
        base = value(f, 'snapshottime_count')
        z = KazooClient(hosts=s.hosts, timeout=10)
        z.start(timeout=30)
        for i in range(30):  # more than snapCount: a snapshot at snapCount/2 + rand(snapCount/2)
            z.create('/s/m%02d' % i)
        z.stop()
        z.close()
        f = wait_until(lambda: (lambda g: g if value(g, 'snapshottime_count') > base else None)(
            parse(scrape(mport))), 30, 'a snapshot after snapCount txns')
        assert 0 <= value(f, 'snapshottime', {'quantile': '0.5'}) < 60000
        # each txn applied: createSession and the 30 creates at least
        assert value(f, 'propagation_latency_count') >= 31
        for q in ('0.5', '0.9', '0.99'):
            assert 0 <= value(f, 'propagation_latency', {'quantile': q}) < 60000
        assert value(f, 'quorum_ack_latency_count') == 0  # standalone
        log('snapshottime_count %d, dbinittime_sum %d ms' % (
            value(f, 'snapshottime_count'), value(f, 'dbinittime_sum')))
    finally:
        s.cleanup()


# ---- an ensemble --------------------------------------------------------

# mntr's first keys on the members of a 3-member ZooKeeper 3.8.0 ensemble
# (Debian's, run through the harness): the gauges of its default metrics
# provider in their ConcurrentHashMap's order, LeaderZooKeeperServer's
# leader-only gauges among them, and QuorumZooKeeperServer's quorum_size
# on every member (a follower too), up to the first counter.
ZK38_LEADER_GAUGES = [
    'version', 'server_state', 'peer_state', 'ephemerals_count', 'num_alive_connections',
    'avg_latency', 'min_proposal_size', 'outstanding_requests', 'znode_count',
    'global_sessions', 'non_mtls_remote_conn_count', 'last_client_response_size',
    'packets_sent', 'packets_received', 'max_proposal_size', 'max_client_response_size',
    'synced_followers', 'connection_drop_probability', 'watch_count',
    'synced_non_voting_followers', 'synced_observers', 'auth_failed_count', 'min_latency',
    'max_file_descriptor_count', 'approximate_data_size', 'open_file_descriptor_count',
    'last_proposal_size', 'pending_syncs', 'leader_uptime', 'local_sessions', 'uptime',
    'max_latency', 'outstanding_tls_handshake', 'learners', 'min_client_response_size',
    'non_mtls_local_conn_count', 'quorum_size', 'proposal_count']
LEADER_ONLY = {'min_proposal_size', 'max_proposal_size', 'synced_followers',
               'synced_non_voting_followers', 'synced_observers', 'last_proposal_size',
               'pending_syncs', 'leader_uptime', 'learners'}


def check_gauge_order(m, leader):
    """mntr's keys up to proposal_count in ZooKeeper 3.8's order, the
    leader's and a follower's (quorum_size on both)."""
    want = ['zk_' + k for k in ZK38_LEADER_GAUGES if leader or k not in LEADER_ONLY]
    got = list(m)[:len(want)]
    assert got == want, ('leader' if leader else 'follower', [
        (k, w) for k, w in zip(got, want) if k != w][:4])
    assert m['zk_quorum_size'] == '3', m['zk_quorum_size']


def java_hash(s):
    h = 0
    for c in s:
        h = (31 * h + ord(c)) & 0xffffffff
    return h


def java_map_order(ids):
    """The iteration order of a ConcurrentHashMap keyed by the ids' decimal
    strings, each put once: by bin (spread hash masked by the table, which
    doubles once the count reaches 3/4 of it), ties in insertion order,
    here taken as ascending ids (no two of 1..16 share a bin)."""
    table = 16
    while len(ids) >= table - table // 4:
        table *= 2

    def spread(i):
        h = java_hash(str(i))
        return ((h ^ (h >> 16)) & 0x7fffffff) & (table - 1)
    return sorted(ids, key=lambda i: (spread(i), i))


def check_ack_latencies(servers, ports, leader):
    """ACK_LATENCY per member id on the leader and PROPOSAL_ACK_CREATION_LATENCY
    on every voter after the writes above; mntr's summaries of them move
    with writes and srst resets them, while /metrics counts on."""
    def acked():
        g = {i: parse(scrape(ports[i]['M'])) for i in servers}
        try:
            if any(value(g[leader], 'ack_latency_count', {'key': str(i)}) < 11
                   for i in servers):
                return None
        except KeyError:
            return None
        if any(value(g[i], 'proposal_ack_creation_latency_count') < 11 for i in servers):
            return None
        return g
    g = wait_until(acked, 30, 'ack latencies of every member on the leader', interval=0.2)
    check_promtool(scrape(ports[leader]['M']))  # with ack_latency's labelled children
    log('leader r%d: quorum_ack_latency median %g ms, fsynctime median %g ms (for scale)' % (
        leader, value(g[leader], 'quorum_ack_latency', {'quantile': '0.5'}),
        value(g[leader], 'fsynctime', {'quantile': '0.5'})))
    for i in servers:
        check_names(g[i], leader=(i == leader))
        # every txn is acked after it was prepped and before a minute passed
        n = value(g[i], 'proposal_ack_creation_latency_count')
        avg = value(g[i], 'proposal_ack_creation_latency_sum') / n
        p99 = value(g[i], 'proposal_ack_creation_latency', {'quantile': '0.99'})
        assert 0 <= avg < 60000 and 0 <= p99 < 60000, (i, avg, p99)
        key = {'key': str(i)}
        n = value(g[leader], 'ack_latency_count', key)
        avg = value(g[leader], 'ack_latency_sum', key) / n
        p50 = value(g[leader], 'ack_latency', dict(key, quantile='0.5'))
        assert 0 <= avg < 60000 and 0 <= p50 < 60000, (i, avg, p50)
        log('r%d: proposal_ack_creation_latency %d txns, median %g ms; ack_latency on the '
            'leader %d txns, avg %.2f ms, median %g ms' % (
                i, value(g[i], 'proposal_ack_creation_latency_count'),
                value(g[i], 'proposal_ack_creation_latency', {'quantile': '0.5'}), n, avg, p50))
        if i != leader:
            assert g[i]['ack_latency']['samples'] == [], i  # only the leader counts acks
    # mntr: the same summaries as AvgMinMaxCounters (no srst yet: since start)
    m = mntr(servers[leader])
    for i in servers:
        k = '%d_ack_latency' % i
        cnt = int(m['zk_cnt_' + k])
        assert cnt >= 11, (k, m.get('zk_cnt_' + k))
        lo, hi, avg = int(m['zk_min_' + k]), int(m['zk_max_' + k]), float(m['zk_avg_' + k])
        assert 0 <= lo <= avg <= hi < 60000, (k, lo, avg, hi)
        assert int(m['zk_sum_' + k]) >= lo * cnt
    assert int(m['zk_cnt_proposal_ack_creation_latency']) >= 11
    assert int(m['zk_cnt_quorum_ack_latency']) >= 11
    # the per-id summaries in ZooKeeper's order: its SummarySet's
    # ConcurrentHashMap, by bin of the key's String.hashCode, not by the
    # order the acks first came in (which varies from run to run)
    got = [int(k[len('zk_cnt_'):-len('_ack_latency')]) for k in m
           if k.startswith('zk_cnt_') and k[len('zk_cnt_'):-len('_ack_latency')].isdigit()
           and k.endswith('_ack_latency')]
    assert got == java_map_order(servers), ('ack_latency keys', got, java_map_order(servers))
    # srst: mntr's summaries start again, /metrics' go on
    before = value(parse(scrape(ports[leader]['M'])), 'proposal_ack_creation_latency_count')
    assert harness.four_letter(servers[leader].port, 'srst').strip() == b'Server stats reset.'
    m = mntr(servers[leader])
    for k in ('proposal_ack_creation_latency', 'quorum_ack_latency', '%d_ack_latency' % leader,
              'election_time'):
        got = {p: m['zk_%s_%s' % (p, k)] for p in ('avg', 'min', 'max', 'cnt', 'sum')}
        assert got == {'avg': '0.0', 'min': '0', 'max': '0', 'cnt': '0', 'sum': '0'}, (k, got)
    # through a follower: forwarded, prepped by the leader
    follower = [i for i in servers if i != leader][0]
    z = KazooClient(hosts=servers[follower].hosts, timeout=10)
    z.start(timeout=30)
    for k in range(5):
        z.create('/acked%d' % k)
    z.stop()
    z.close()

    def moved():
        m = mntr(servers[leader])
        return m if int(m['zk_cnt_proposal_ack_creation_latency']) >= 5 and all(
            int(m['zk_cnt_%d_ack_latency' % i]) >= 5 for i in servers) else None
    m = wait_until(moved, 30, "mntr's ack summaries after srst and 5 writes", interval=0.2)
    cnt = int(m['zk_cnt_proposal_ack_creation_latency'])
    # /metrics counted on through srst (its text may be 100 ms old: wait)
    wait_until(lambda: value(parse(scrape(ports[leader]['M'])),
                             'proposal_ack_creation_latency_count') >= before + cnt, 10,
               '/metrics to count the acks since srst on top', interval=0.05)
    lo, hi = int(m['zk_min_proposal_ack_creation_latency']), \
        int(m['zk_max_proposal_ack_creation_latency'])
    assert 0 <= lo <= float(m['zk_avg_proposal_ack_creation_latency']) <= hi < 60000, m
    log('leader after srst and 5 writes: proposal_ack_creation_latency cnt %d min %d max %d' % (
        cnt, lo, hi))


def test_ensemble(args):
    ports = {i: {'C': harness.free_port(), 'Q': harness.free_port(), 'E': harness.free_port(),
                 'M': harness.free_port()} for i in (1, 2, 3)}
    # snapCount 10: snapshots (and raft log compaction) come after a few txns
    cfg = {'tickTime': 500, 'initLimit': 10, 'syncLimit': 5, 'snapCount': 10}
    for i, p in ports.items():
        cfg['server.%d' % i] = '127.0.0.1:%d:%d' % (p['Q'], p['E'])
    servers = {}
    for i, p in ports.items():
        own = dict(cfg, **{'metricsProvider.className': PROVIDER,
                           'metricsProvider.httpHost': '127.0.0.1',
                           'metricsProvider.httpPort': p['M']})
        servers[i] = harness.Server('cheetah', cheetah_bin=args.cheetah_bin, config=own,
                                    name='metrics-r%d' % i, port=p['C'], myid=i)
    try:
        for s in servers.values():
            s.start(wait=False)
        for s in servers.values():
            s.wait_ready(120)

        def settled():
            f = {i: parse(scrape(ports[i]['M'])) for i in servers}
            leaders = [i for i in f if 'learners' in f[i]]
            ids = {value(f[i], 'cheetah_leader_id') for i in f}
            if len(leaders) == 1 and ids == {leaders[0]} and \
                    value(f[leaders[0]], 'synced_followers') == 2:
                return f, leaders[0]
            return None
        f, leader = wait_until(settled, 120, 'one leader with two synced followers',
                               interval=0.2)
        log('leader %d' % leader)
        for i in servers:
            check_names(f[i], leader=(i == leader))
            check_promtool(scrape(ports[i]['M']))
        assert value(f[leader], 'cheetah_quorum_size') == 3
        assert value(f[leader], 'learners') == 2
        lag = {lab['follower']: v for n, lab, v in
               f[leader]['cheetah_follower_lag_entries']['samples']}
        assert sorted(lag) == sorted(str(i) for i in servers if i != leader), lag
        assert all(v >= 0 for v in lag.values()), lag
        for i in servers:
            if i != leader:
                assert 'cheetah_follower_lag_entries' not in f[i]
        for i in servers:
            check_gauge_order(mntr(servers[i]), i == leader)
        # A write through a follower shows on every member.
        follower = [i for i in servers if i != leader][0]
        z = KazooClient(hosts=servers[follower].hosts, timeout=10)
        z.start(timeout=30)
        for k in range(10):
            z.create('/ens%d' % k)
        z.sync('/')
        want = value(f[follower], 'znode_count') + 10
        for i in servers:
            wait_until(lambda i=i: value(parse(scrape(ports[i]['M'])), 'znode_count') == want,
                       30, 'r%d: znode_count %d' % (i, want))
        # Every member counts the writes it applies (DataTree.updateWriteStat):
        # each /ensK once, its path's 5 bytes.
        def ns_sums(i, st):
            g = parse(scrape(ports[i]['M']))
            return {lab['key']: (value(g, st + '_count', lab), v) for n, lab, v in
                    g[st]['samples'] if n == st + '_sum'}
        for i in servers:
            wait_until(lambda i=i: all(ns_sums(i, 'write_per_namespace').get('ens%d' % k) ==
                                       (1, 5) for k in range(10)), 30,
                       'r%d: write_per_namespace of /ens0../ens9' % i)
        # The session reconnects to the other follower, which has the
        # leader revalidate it (LearnerHandler's REVALIDATE_COUNT).
        reval = value(parse(scrape(ports[leader]['M'])), 'revalidate_count')
        other = [i for i in servers if i not in (leader, follower)][0]
        c = zkproto.Conn('127.0.0.1', ports[other]['C'], session_id=z.client_id[0],
                         passwd=z.client_id[1], connect=False)
        c.connect()
        c.call_ok(zkproto.OP['exists'], zkproto.r_path_watch('/ens0', False), 'exists')
        c.close_socket()
        # A read counts on the member that served it only: /ens0 + 68.
        wait_until(lambda: ns_sums(other, 'read_per_namespace').get('ens0') == (1, 73), 30,
                   'r%d: read_per_namespace of the exists' % other)
        assert 'ens0' not in ns_sums(leader, 'read_per_namespace')
        # (kazoo, its connection dropped as the session moved, may
        # reconnect to its follower and be revalidated once more)
        wait_until(lambda: value(parse(scrape(ports[leader]['M'])), 'revalidate_count') >=
                   reval + 1, 30, "the leader's revalidate_count + 1")
        for i in servers:
            if i != leader:
                assert value(parse(scrape(ports[i]['M'])), 'revalidate_count') == 0, i
        z.stop()
        z.close()
        # The raft log as ZooKeeper's proposals and commits: the leader
        # proposed and committed the txns (createSession, 10 creates, the
        # sync's marker is no txn), every follower received and applied them.
        def replicated():
            g = {i: parse(scrape(ports[i]['M'])) for i in servers}
            if value(g[leader], 'commit_count') < 11 or any(
                    value(g[i], 'learner_commit_received_count') < 11
                    for i in servers if i != leader):
                return None
            return g
        g = wait_until(replicated, 30, 'commits counted on every member', interval=0.2)
        # mntr prints the same counters (no srst here): at least /metrics'
        # value before it, and /metrics catches up with it.
        for i in servers:
            keys = (('proposal_count', 'commit_count') if i == leader else
                    ('learner_proposal_received_count', 'learner_commit_received_count'))
            lo = parse(scrape(ports[i]['M']))
            m = mntr(servers[i])
            for k in keys:
                got = int(m['zk_' + k])
                assert got >= value(lo, k) > 0, (i, k, got, value(lo, k))
                wait_until(lambda i=i, k=k, got=got: value(parse(scrape(ports[i]['M'])), k) >=
                           got, 10, 'r%d: /metrics %s >= mntr %d' % (i, k, got))
        assert value(g[leader], 'proposal_count') >= 11
        assert value(g[leader], 'quorum_ack_latency_count') >= 11
        assert value(g[leader], 'commit_propagation_latency_count') == 0
        assert 0 <= value(g[leader], 'quorum_ack_latency', {'quantile': '0.99'}) < 60000
        for i in servers:
            if i == leader:
                continue
            assert value(g[i], 'proposal_count') == 0, i
            assert value(g[i], 'commit_count') == 0, i
            assert value(g[i], 'learner_proposal_received_count') >= 11, i
            assert value(g[i], 'commit_propagation_latency_count') >= 11, i
            assert value(g[i], 'proposal_latency_count') >= 11, i
            assert 0 <= value(g[i], 'proposal_latency', {'quantile': '0.99'}) < 60000
            assert value(g[i], 'propagation_latency_count') >= 11, i
            assert 0 <= value(g[i], 'commit_propagation_latency', {'quantile': '0.5'}) < 60000
            assert value(g[i], 'dbinittime_count') == 1, i
        # the leader caught both followers up from its log (DIFF; it
        # publishes the figure once a tick)
        wait_until(lambda: value(parse(scrape(ports[leader]['M'])), 'diff_count') >= 2, 30,
                   'diff_count 2 on the leader', interval=0.2)
        # every member serves once an election ends (ZooKeeper's BROADCAST)
        for i in servers:
            assert value(g[i], 'unavailable_time_count') == value(g[i], 'election_time_count'), i
        assert value(g[leader], 'leader_unavailable_time_count') >= 1
        log('leader: proposal_count %d commit_count %d' % (
            value(g[leader], 'proposal_count'), value(g[leader], 'commit_count')))
        check_ack_latencies(servers, ports, leader)

        # A wiped member rejoins below the leader's compacted log: the
        # leader sends it a snapshot (ZooKeeper's SNAP: snap_count).
        wiped = [i for i in servers if i != leader][1]
        servers[wiped].kill9()
        shutil.rmtree(servers[wiped].data_dir)
        os.makedirs(servers[wiped].data_dir)
        z = KazooClient(hosts=servers[leader].hosts, timeout=10)
        z.start(timeout=30)
        snaps = value(parse(scrape(ports[leader]['M'])), 'snapshottime_count')
        k = 0
        # two snapshots after the wipe: raft drops the log up to the first
        while value(parse(scrape(ports[leader]['M'])), 'snapshottime_count') < snaps + 3:
            assert k < 2000, 'no snapshots after %d txns' % k
            z.create('/snap%d' % k)
            k += 1
        z.stop()
        z.close()
        assert value(parse(scrape(ports[leader]['M'])), 'snap_count') == 0
        servers[wiped].start(keep_port=True)
        want = value(parse(scrape(ports[leader]['M'])), 'znode_count')
        wait_until(lambda: value(parse(scrape(ports[wiped]['M'])), 'znode_count') == want,
                   60, 'the wiped member caught up')
        # its sync with the leader: the install to serving (follower_sync_time)
        fw = wait_until(lambda: (lambda f: f if value(f, 'follower_sync_time_count') == 1
                                 else None)(parse(scrape(ports[wiped]['M']))),
                        30, "the wiped member's follower_sync_time", interval=0.2)
        log('follower_sync_time of the wiped member: %d ms' % value(fw, 'follower_sync_time_sum'))
        assert 0 <= value(fw, 'follower_sync_time_sum') < 60000
        assert value(fw, 'observer_sync_time_count') == 0
        h = parse(scrape(ports[leader]['M']))
        assert value(h, 'snap_count') >= 1
        # observed as each transfer starts and as it ends: 1 then 0 for one
        assert value(h, 'inflight_snap_count_count') >= 2 * value(h, 'snap_count') - 1
        assert value(h, 'inflight_snap_count_sum') >= value(h, 'snap_count')
        log('wiped r%d caught up through %d snapshot(s) after %d txns' % (
            wiped, value(parse(scrape(ports[leader]['M'])), 'snap_count'), k))
        f, leader = wait_until(settled, 60, 'two synced followers again', interval=0.2)

        # Every member counted its election at start; the leader's loss
        # makes the others look again and elect a new one.
        for i in servers:
            assert value(f[i], 'looking_count') >= 1, i
            assert value(f[i], 'election_time_count') >= 1, i
        before = {i: (value(f[i], 'looking_count'), value(f[i], 'election_time_count'))
                  for i in servers if i != leader}
        servers[leader].kill9()

        def reelected():
            g = {i: parse(scrape(ports[i]['M'])) for i in before}
            lead = [i for i in g if 'learners' in g[i]]
            if len(lead) == 1 and all(value(g[i], 'cheetah_leader_id') == lead[0] for i in g):
                return g
            return None
        g = wait_until(reelected, 120, 'a new leader among the survivors', interval=0.2)
        for i, (looks, elections) in before.items():
            assert value(g[i], 'looking_count') > looks, (i, looks)
            assert value(g[i], 'election_time_count') > elections, (i, elections)
            v = value(g[i], 'election_time', {'quantile': '0.5'})
            assert 0 <= v < 120000, (i, v)
            assert value(g[i], 'unavailable_time_count') == value(g[i], 'election_time_count')
        new = [i for i in g if 'learners' in g[i]][0]
        assert value(g[new], 'leader_unavailable_time_count') >= 1
    finally:
        for s in servers.values():
            if s.alive():
                s.stop()


def main():
    p = harness.arg_parser(__doc__)
    p.add_argument('--ensemble', action='store_true', help='the ensemble part only')
    args = p.parse_args()
    if not args.cheetah_bin:
        log('SKIP: --cheetah-bin needed')
        return 77
    args.server = 'cheetah'
    tests = [('load', lambda: test_load(args)), ('startup', lambda: test_startup(args)),
             ('dataplane', lambda: test_dataplane(args)),
             ('robustness', lambda: test_robustness(args)),
             ('bad class', lambda: test_bad_class(args)), ('dpdk', lambda: test_dpdk(args))]
    if args.ensemble:
        tests = [('ensemble', lambda: test_ensemble(args))]
    return harness.run_tests(tests, args)


if __name__ == '__main__':
    sys.exit(main())
