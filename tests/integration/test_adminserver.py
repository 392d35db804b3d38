#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The AdminServer (issue 12, part 1): Cheetah's HTTP commands against
Apache ZooKeeper 3.8's, both standalone, each with its AdminServer on a
port of its own (admin.enableServer=true, admin.serverPort=<free>).

  - GET /commands: every command Cheetah lists is one ZooKeeper lists;
  - GET /commands/<name> for each (and each alias Cheetah takes): the
    JSON's key set and the type of every value are ZooKeeper's, nested
    objects too; values that mean the same on both must be equal
    (command, error, read_only, tracemask, znode/node counts, watch and
    connection counts, server_state, tick_time, ...);
  - an unknown command: the same JSON as ZooKeeper's (HTTP 200);
  - watch_summary with two dataplane workers (every worker's part);
  - robustness (Cheetah): junk bytes, a 100 kB URL (414), a body that
    never ends, clients that send half a request and stop (closed after
    admin.idleTimeout), 300 connections at once (more than the limit of
    64): the AdminServer answers afterwards and the client port serves
    throughout; 200 clients that send half a request and close, with the
    default idleTimeout of 30 s: answered within 10 s, no CLOSE-WAIT left.

    test_adminserver.py --cheetah-bin PATH

With --ensemble: the ensemble commands (leader, voting_view, zabstate,
observers) on a 3-member ensemble of each kind, all on 127.0.0.1 with
free ports: members 1 and 2 vote, 3 is an observer, so a leader, a
follower and an observer answer.  Per member id (ports replaced by
their role, as the ensembles' ports differ): voting_view equal, the key
sets and types of every answer equal, zabstate's myid, voting,
zabstate, addresses equal; per role: is_leader; within each ensemble
leader_id equal on every member and naming the leader, leader_ip its
host; the leader's synced observers: 1, the observer's sid.

    test_adminserver.py --cheetah-bin PATH --ensemble
"""
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import log, wait_until  # noqa: E402

from kazoo.client import KazooClient  # noqa: E402

IDLE_MS = 1000

# Values that must be equal on both servers (after the same client work).
SAME = {
    'command', 'error', 'read_only', 'tracemask', 'znode_count', 'node_count',
    'watch_count', 'ephemerals_count', 'server_state', 'tick_time', 'max_client_cnxns',
    'min_session_timeout', 'max_session_timeout', 'server_id', 'client_port_listen_backlog',
    'voting', 'zabstate', 'current_config', 'synced_observers', 'observers',
    'num_alive_client_connections', 'num_alive_connections', 'provider_null',
    'num_connections', 'num_paths', 'num_total_watches',
}
# Known differences of the underlying data, the same in the four-letter
# words' text (mntr, srvr), which the AdminServer reports as it finds it
# (docs/OPERATIONS.md): the client response sizes (BufferStats: Cheetah
# says -1, so they are compared by type only).  The per-namespace
# summaries (<stat>_<top-level znode>_{read,write}_per_namespace) are
# there on both since issue 12 and compared like any key.
KNOWN = ()


def get(port, name, method='GET', timeout=10):
    req = urllib.request.Request('http://127.0.0.1:%d/commands%s' % (port, name), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def jtype(v):
    if isinstance(v, bool):
        return 'bool'
    if isinstance(v, int):
        return 'int'
    if isinstance(v, float):
        return 'float'
    if v is None:
        return 'null'
    return type(v).__name__


# Maps keyed by session ids or expiry times (which differ between the
# servers): the number of entries and the shape of one entry are compared.
BY_SESSION = {'session_id_to_watched_paths', 'path_to_session_ids',
              'session_id_to_ephemeral_paths'}
# Keyed by expiry bucket: how many buckets there are depends on when each
# server last moved the session (ZooKeeper on every packet, Cheetah's
# workers report activity at most every timeout/3), so only the shape.
BY_TIME = {'expiry_time_to_session_ids'}
# ZooKeeper 3.9's commands, absent from Debian's 3.8: checked against 3.9's
# source in test_snapshot_restore instead.
ZK39 = {'snapshot', 'restore'}
# Java system properties Cheetah has an equivalent for, equal on both.
SYSP_SAME = {'os.name', 'os.arch', 'os.version', 'file.separator', 'path.separator',
             'line.separator', 'user.name', 'user.home', 'zookeeper.admin.enableServer',
             'zookeeper.admin.serverAddress', 'zookeeper.admin.idleTimeout'}


def compare(zk, ch, where, problems, same=SAME):
    if where.rsplit('.', 1)[-1] in BY_TIME:
        if not isinstance(ch, dict) or not all(
                isinstance(v, list) and all(isinstance(x, int) for x in v) and k.isdigit()
                for k, v in ch.items()):
            problems.append('%s: %r is not {time: [session ids]}' % (where, ch))
        return
    if where.rsplit('.', 1)[-1] in BY_SESSION:
        if len(zk) != len(ch):
            problems.append('%s: %d entries, ZooKeeper %d' % (where, len(ch), len(zk)))
        elif zk:
            zv, cv = next(iter(zk.values())), next(iter(ch.values()))
            if [jtype(x) for x in zv] != [jtype(x) for x in cv]:
                problems.append('%s: entry %r, ZooKeeper %r' % (where, cv, zv))
            if not all(k.isdigit() for k in list(zk) + list(ch)) and \
                    sorted(zk) != sorted(ch):
                problems.append('%s: keys %s, ZooKeeper %s' % (where, sorted(ch), sorted(zk)))
        return
    if isinstance(zk, dict) and isinstance(ch, dict):
        missing = set(zk) - set(ch)
        extra = set(ch) - set(zk)
        known = {k for k in missing if k.endswith(KNOWN)}
        if known:
            log('%s: known gap, %d keys: %s' % (where, len(known), sorted(known)[:3]))
        missing -= known
        if missing:
            problems.append('%s: keys missing: %s' % (where, sorted(missing)))
        # Cheetah's own mntr lines (cheetah_net_*, dpdk backend) may come on top.
        extra = {k for k in extra if not k.startswith('cheetah_')}
        if extra:
            problems.append('%s: keys ZooKeeper does not have: %s' % (where, sorted(extra)))
        for k in set(zk) & set(ch):
            if jtype(zk[k]) != jtype(ch[k]) and not (zk[k] is None or ch[k] is None and
                                                     k != 'error'):
                problems.append('%s.%s: type %s, ZooKeeper %s' % (where, k, jtype(ch[k]),
                                                                   jtype(zk[k])))
            elif k in same and zk[k] != ch[k]:
                problems.append('%s.%s: %r, ZooKeeper %r' % (where, k, ch[k], zk[k]))
            else:
                compare(zk[k], ch[k], where + '.' + k, problems, same)
    elif isinstance(zk, list) and isinstance(ch, list):
        if zk and ch:
            compare(zk[0], ch[0], where + '[0]', problems, same)


def links(html):
    return [part.split('"')[0].rsplit('/', 1)[1] for part in html.split('href="')[1:]]


def start(kind, args, idle_ms=IDLE_MS):
    port = harness.free_port()
    cfg = {'admin.enableServer': 'true', 'admin.serverAddress': '127.0.0.1',
           'admin.serverPort': port, 'admin.idleTimeout': idle_ms}
    s = harness.new_server(args, config=cfg, kind=kind, name=kind + '-admin')
    s.start()
    wait_until(lambda: get_ok(port), 60, '%s AdminServer on %d' % (kind, port))
    return s, port


def get_ok(port):
    try:
        return get(port, '/ruok', timeout=2)[0] == 200
    except OSError:
        return False


def same_client_work(s):
    """The same small workload on each server: a few znodes, one ephemeral, a
    watch, and past zxid 128 (so hash's digest history has an entry)."""
    zk = KazooClient(hosts=s.hosts, timeout=10)
    zk.start(timeout=30)
    zk.create('/a', b'x')
    zk.create('/a/b', b'yy')
    for i in range(130):
        zk.set('/a/b', b'y%d' % i)
    zk.create('/e', b'', ephemeral=True)
    zk.get('/a', watch=lambda ev: None)
    return zk


def test_compare(args):
    zs, zport = start('zookeeper', args)
    cs, cport = start('cheetah', args)
    clients = []
    problems = []
    try:
        clients = [same_client_work(zs), same_client_work(cs)]
        # Cheetah's ephemeral count is refreshed on the workers' tick
        wait_until(lambda: json.loads(get(cport, '/monitor')[1])['ephemerals_count'] == 1, 30,
                   "Cheetah's ephemerals_count after the workers' tick")
        zst, zlist = get(zport, '')
        cst, clist = get(cport, '')
        assert zst == 200 and cst == 200, (zst, cst)
        znames, cnames = links(zlist), links(clist)
        assert cnames, clist
        stray = set(cnames) - set(znames) - ZK39
        assert not stray, 'Cheetah lists commands ZooKeeper 3.8 does not: %s' % stray
        missing = set(znames) - set(cnames)
        assert not missing, 'ZooKeeper 3.8 lists commands Cheetah does not: %s' % missing
        log('ZooKeeper lists %d commands, Cheetah %d' % (len(znames), len(cnames)))
        aliases = {'monitor': ['mntr'], 'server_stats': ['srvr'], 'configuration': ['conf'],
                   'environment': ['envi', 'env'], 'get_trace_mask': ['gtmk'],
                   'is_read_only': ['isro'], 'watch_summary': ['wchs'],
                   'stat_reset': ['srst'], 'connection_stat_reset': ['crst'],
                   'watches': ['wchc'], 'watches_by_path': ['wchp'],
                   'connections': ['cons'], 'stats': ['stat'], 'last_snapshot': ['lsnp'],
                   'system_properties': ['sysp'], 'set_trace_mask': ['stmk'],
                   'observer_connection_stat_reset': ['orst'], 'observers': ['obsr']}
        for name in cnames:
            if name in ZK39:
                continue
            for n in [name] + aliases.get(name, []):
                if name == 'system_properties':
                    compare_sysp(zport, cport, n, problems)
                    continue
                zst, ztext = get(zport, '/' + n)
                cst, ctext = get(cport, '/' + n)
                assert zst == cst == 200, (n, zst, cst)
                zj, cj = json.loads(ztext), json.loads(ctext)
                assert cj['command'] == name, (n, cj)
                compare(zj, cj, n, problems)
        # set_trace_mask with its argument: the same answer, and gtmk shows it
        for q in ('?traceMask=12', '?traceMask=x', '?traceMask=-7', '?traceMask=1x'):
            zj = json.loads(get(zport, '/set_trace_mask' + q)[1])
            cj = json.loads(get(cport, '/set_trace_mask' + q)[1])
            assert zj == cj, (q, zj, cj)
        assert json.loads(get(cport, '/get_trace_mask')[1])['tracemask'] == -7
        # the structured listings, against each server's own client
        for port, z in ((zport, clients[0]), (cport, clients[1])):
            sid = z.client_id[0]
            cons = json.loads(get(port, '/connections')[1])['connections']
            assert [c['session_id'] for c in cons] == [sid], (port, cons)
            assert cons[0]['remote_socket_address'].startswith('127.0.0.1:'), cons
            assert cons[0]['session_timeout'] == 10000, cons  # (crst ran: no last op)
            stats = json.loads(get(port, '/stats')[1])
            assert len(stats['connections']) == 1 and stats['node_count'] == 8, stats
            dump = json.loads(get(port, '/dump')[1])
            assert dump['session_id_to_ephemeral_paths'] == {str(sid): ['/e']}, dump
            assert [v for v in dump['expiry_time_to_session_ids'].values() if v] == [[sid]], dump
        # hash: the digest after zxid 128 on both (values differ: the digest
        # covers session ids and times)
        for port in (zport, cport):
            d = json.loads(get(port, '/hash')[1])['digests']
            assert [x['zxid'] for x in d] == [128] and d[0]['digest_version'] == 2, (port, d)
        # watch_summary's counts came from the workers' mailboxes: one watch on /a
        ws = json.loads(get(cport, '/watch_summary')[1])
        assert (ws['num_connections'], ws['num_paths'], ws['num_total_watches']) == (1, 1, 1), ws
        # stat_reset resets what monitor counts, on both
        for port in (zport, cport):
            for _ in range(3):
                clients[0 if port == zport else 1].get('/a')
            before = json.loads(get(port, '/monitor')[1])['packets_sent']
            assert json.loads(get(port, '/stat_reset')[1])['error'] is None
            after = json.loads(get(port, '/monitor')[1])['packets_sent']
            assert after < before, (port, before, after)
        # ruok's answer and an unknown command's, exactly
        for n in ['/ruok', '/nosuch', '/no/such']:
            zst, ztext = get(zport, n)
            cst, ctext = get(cport, n)
            assert (zst, json.loads(ztext)) == (cst, json.loads(ctext)), (n, ztext, ctext)
        assert json.loads(get(cport, '/nosuch')[1]) == {
            'command': 'nosuch', 'error': 'Unknown command: nosuch'}
        # POST of a GET command: 405 on both (ZooKeeper 3.8 has no doPost)
        assert get(zport, '/ruok', 'POST')[0] == get(cport, '/ruok', 'POST')[0] == 405
        # a path that is not the command URL: 404 on both
        zst = urllib_code('http://127.0.0.1:%d/other' % zport)
        cst = urllib_code('http://127.0.0.1:%d/other' % cport)
        assert zst == cst == 404, (zst, cst)
    finally:
        for c in clients:
            c.stop()
            c.close()
        zs.cleanup()
        cs.cleanup()
    assert not problems, 'differences from ZooKeeper 3.8:\n  ' + '\n  '.join(problems)


def compare_sysp(zport, cport, n, problems):
    """system_properties: every value a string, Cheetah's keys are Java's,
    the platform's and the AdminServer's equal."""
    zj = json.loads(get(zport, '/' + n)[1])
    cj = json.loads(get(cport, '/' + n)[1])
    if cj.get('command') != 'system_properties' or cj.get('error') is not None:
        problems.append('%s: %r' % (n, cj))
        return
    for k, v in cj.items():
        if k in ('command', 'error'):
            continue
        if not isinstance(v, str):
            problems.append('%s.%s: type %s' % (n, k, jtype(v)))
        if k not in zj:
            problems.append('%s: key ZooKeeper does not have: %s' % (n, k))
        elif k in SYSP_SAME and zj[k] != v:
            problems.append('%s.%s: %r, ZooKeeper %r' % (n, k, v, zj[k]))
    for k in SYSP_SAME:
        if k in zj and k not in cj:
            problems.append('%s: key missing: %s' % (n, k))


def urllib_code(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def raw(port, data, timeout=10):
    """Sends data, returns what comes back until the server closes (or timeout)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    try:
        s.sendall(data)
        out = b''
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b
    except socket.timeout:
        return out
    finally:
        s.close()


def close_wait(port):
    """How many TCP sockets on local port are in CLOSE-WAIT (/proc/net/tcp)."""
    n = 0
    for f in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(f) as fh:
                next(fh)
                for line in fh:
                    fields = line.split()
                    if int(fields[1].rsplit(':', 1)[1], 16) == port and fields[3] == '08':
                        n += 1
        except OSError:
            pass
    return n


def client_port_ok(s):
    return harness.four_letter(s.port, 'ruok', timeout=10) == b'imok'


def test_robustness(args):
    cs, cport = start('cheetah', args)
    try:
        # junk
        for junk in [b'\x00\xff' * 1000 + b'\r\n\r\n', b'GARBAGE\r\n\r\n',
                     b'GET /commands/ruok HTTP/9.9\r\n\r\n', b'\r\n' * 100]:
            raw(cport, junk)
            assert get_ok(cport), junk[:20]
        # a long URL: 414, and the server serves on
        out = raw(cport, b'GET /commands/' + b'a' * 100000 + b' HTTP/1.1\r\nHost: x\r\n\r\n')
        assert out.startswith(b'HTTP/1.1 414'), out[:80]
        assert get_ok(cport)
        # a long command name within the bound is answered as unknown
        st, text = get(cport, '/' + 'x' * 4000)
        assert st == 200 and json.loads(text)['error'] == 'Unknown command: ' + 'x' * 4000
        # a huge body to a command: answered without the body being kept
        st, _ = get(cport, '/ruok', 'POST')
        assert st == 405
        # slow clients: half a request, then silence; closed after the idle timeout
        t0 = time.monotonic()
        socks = [socket.create_connection(('127.0.0.1', cport), timeout=30) for _ in range(5)]
        for s in socks:
            s.sendall(b'GET /commands/ruok HTTP/1.1\r\nHo')
        for s in socks:
            assert s.recv(100) == b''  # closed by the server (recv times out at 30 s)
            s.close()
        took = time.monotonic() - t0
        log('5 half requests closed after %.1f s (admin.idleTimeout %d ms)' % (took, IDLE_MS))
        assert took < 20, took
        # a flood: 300 connections held open, more than the limit of 64
        flood = []
        for _ in range(300):
            try:
                flood.append(socket.create_connection(('127.0.0.1', cport), timeout=5))
            except OSError:
                pass
        assert client_port_ok(cs), 'client port must serve during a flood of the AdminServer'
        for s in flood:
            s.close()
        wait_until(lambda: get_ok(cport), 30, 'AdminServer answering after the flood')
        # many requests in a row, then from 8 clients at once (with the
        # workers' commands among them)
        for _ in range(200):
            assert get(cport, '/monitor')[0] == 200
        results = []

        def hammer():
            for i in range(40):
                name = ('/monitor', '/watch_summary', '/watches', '/server_stats')[i % 4]
                results.append(get(cport, name)[0])
        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert results == [200] * 320, results[:20]
        assert cs.alive()
        assert client_port_ok(cs)
    finally:
        cs.cleanup()


def test_half_requests_closed(args):
    """200 clients that send half a request and close, past the limit of 64,
    with ZooKeeper's default admin.idleTimeout (30 s): the AdminServer must
    notice the closed connections and answer well before the idle timeout,
    and leave no socket in CLOSE-WAIT.  With libmicrohttpd's epoll mode
    driven by our own thread it answered nothing for the whole idle timeout
    and kept ~33 sockets in CLOSE-WAIT for good."""
    cs, cport = start('cheetah', args, idle_ms=30000)
    try:
        for rnd in range(2):
            held = []
            for _ in range(200):
                try:
                    s = socket.create_connection(('127.0.0.1', cport), timeout=5)
                    s.sendall(b'GET /comm')
                    held.append(s)
                except OSError:
                    pass
            for s in held:
                s.close()
            t0 = time.monotonic()
            wait_until(lambda: get_ok(cport), 10,
                       'AdminServer answering after 200 half requests (idle timeout 30 s)')
            log('round %d: ruok answered %.1f s after 200 half requests'
                % (rnd, time.monotonic() - t0))
            wait_until(lambda: close_wait(cport) == 0, 10,
                       'no AdminServer socket left in CLOSE-WAIT')
        assert cs.alive()
        assert client_port_ok(cs)
    finally:
        cs.cleanup()


def test_two_workers(args):
    """watch_summary gathers every worker's part (cheetah.dataplane.cores=0-1)."""
    port = harness.free_port()
    s = harness.new_server(args, config={
        'admin.enableServer': 'true', 'admin.serverAddress': '127.0.0.1',
        'admin.serverPort': port, 'cheetah.dataplane.cores': '0-1'}, name='admin-2w')
    s.start()
    clients = []
    try:
        for i in range(6):
            z = KazooClient(hosts=s.hosts, timeout=10)
            z.start(timeout=30)
            clients.append(z)
            z.ensure_path('/w%d' % i)
            z.get('/w%d' % i, watch=lambda ev: None)
        ws = json.loads(get(port, '/watch_summary')[1])
        assert (ws['num_connections'], ws['num_paths'], ws['num_total_watches']) == (6, 6, 6), ws
        by_path = json.loads(get(port, '/watches_by_path')[1])['path_to_session_ids']
        assert sorted(by_path) == ['/w%d' % i for i in range(6)], by_path
        sessions = sorted(z.client_id[0] for z in clients)
        assert sorted(v[0] for v in by_path.values()) == sessions, (by_path, sessions)
        by_session = json.loads(get(port, '/watches')[1])['session_id_to_watched_paths']
        assert sorted(int(k) for k in by_session) == sessions, by_session
        assert harness.four_letter(s.port, 'wchs') == b'6 connections watching 6 paths\nTotal watches:6\n'
        for n in ('/stat_reset', '/connection_stat_reset'):
            assert json.loads(get(port, n)[1])['error'] is None
    finally:
        for z in clients:
            z.stop()
            z.close()
        s.cleanup()


def test_disabled_and_taken_port(args):
    # admin.enableServer=false: nothing listens
    port = harness.free_port()
    s = harness.new_server(args, config={'admin.enableServer': 'false',
                                         'admin.serverPort': port}, name='admin-off')
    s.start()
    try:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=2).close()
            raise AssertionError('AdminServer listening although disabled')
        except ConnectionRefusedError:
            pass
    finally:
        s.cleanup()
    # a taken admin port: the server serves without its AdminServer (as ZooKeeper)
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(('127.0.0.1', 0))
    blocker.listen(1)
    s = harness.new_server(args, config={'admin.enableServer': 'true',
                                         'admin.serverAddress': '127.0.0.1',
                                         'admin.serverPort': blocker.getsockname()[1]},
                           name='admin-taken')
    s.start()
    try:
        assert client_port_ok(s)
        wait_until(lambda: 'AdminServer' in s.read_log(), 10, 'the warning in the log')
    finally:
        s.cleanup()
        blocker.close()


# ---- snapshot and restore (ZooKeeper 3.9) -------------------------------

def call(port, name, method='GET', data=None, auth=None, timeout=60):
    """(status, headers, body bytes) of a command."""
    req = urllib.request.Request('http://127.0.0.1:%d/commands%s' % (port, name),
                                 method=method, data=data)
    if auth:
        req.add_header('Authorization', auth)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def tree_of(zk):
    """{path: (data, Stat, ACL)} of every znode but /zookeeper's, through the client."""
    out = {}
    todo = ['/']
    while todo:
        path = todo.pop()
        data, st = zk.get(path)
        acl, _ = zk.get_acls(path)
        out[path] = (data, tuple(st), sorted((a.perms, a.id.scheme, a.id.id) for a in acl))
        for c in zk.get_children(path):
            child = ('/' if path == '/' else path + '/') + c
            if child != '/zookeeper':
                todo.append(child)
    return out


def client(s, auth=None):
    z = KazooClient(hosts=s.hosts, timeout=10, auth_data=[('digest', auth)] if auth else None)
    z.start(timeout=30)
    return z


def test_snapshot_restore(args):
    """snapshot -> restore round trip through kazoo; authentication; junk refused."""
    from kazoo.security import make_digest_acl, OPEN_ACL_UNSAFE
    port = harness.free_port()
    s = harness.new_server(args, config={
        'admin.enableServer': 'true', 'admin.serverAddress': '127.0.0.1',
        'admin.serverPort': port, 'admin.rateLimiterIntervalInMS': 0,
        'cheetah.dataplane.cores': '0-1'}, name='admin-snap')
    s.start()
    clients = []
    good = 'digest admin:secret'
    try:
        z = client(s, 'admin:secret')
        clients.append(z)
        z.create('/p', b'parent')
        for i in range(40):
            z.create('/p/c%d' % i, b'v' * i)
        z.create('/p/seq-', b's', sequence=True)
        z.create('/e', b'eph', ephemeral=True)
        z.create('/secret', b'x', acl=[make_digest_acl('admin', 'secret', all=True)])
        z.set('/p/c1', b'changed')
        # the root's ACL decides who may snapshot and restore
        z.set_acls('/', [make_digest_acl('admin', 'secret', all=True)])
        for auth, want in ((None, 401), ('x509', 401), ('nosuch scheme', 401),
                           ('digest a b c', 401), ('digest other:pw', 403)):
            st, _, body = call(port, '/snapshot', auth=auth)
            err = json.loads(body)['error']
            assert st == want and err, (auth, st, body)
        # Invalid UTF-8 in the user part: each byte becomes U+FFFD (3 bytes)
        # in the digest id, as Java's; 500 such bytes once overran its buffer.
        for n in (300, 500):
            st, _, body = call(port, '/snapshot', auth='digest ' + '\xff' * n + ':pw')
            assert st in (401, 403) and json.loads(body)['error'], (n, st, body)
        assert call(port, '/ruok')[0] == 200
        st, hdr, snap = call(port, '/snapshot', auth=good)
        assert st == 200, (st, snap[:200])
        assert hdr['Content-Type'] == 'application/octet-stream', hdr
        assert int(hdr['snapshot_size']) == len(snap) and snap[:8] == b'CHEETSNP', hdr
        assert hdr['last_zxid'].startswith('0x'), hdr
        before = tree_of(z)
        log('snapshot: %d bytes at %s, %d znodes' % (len(snap), hdr['last_zxid'], len(before)))
        st, hdr2, body = call(port, '/snapshot?streaming=false', auth=good)
        assert st == 200 and json.loads(body)['error'] is None and 'snapshot_size' in hdr2

        # changes after the snapshot
        z.create('/later', b'1')
        z.delete('/p/c5')
        z.set('/p', b'parent2')
        changed = tree_of(z)
        assert changed != before

        # junk, a truncated snapshot, a flipped byte, nothing: refused, the tree intact
        mid = bytearray(snap)
        mid[len(mid) // 2] ^= 0x40
        for name, body in (('junk', b'junk' * 1000), ('truncated', snap[:-100]),
                           ('flipped', bytes(mid)), ('empty', b''),
                           ('header only', snap[:40])):
            st, _, ans = call(port, '/restore', 'POST', data=body, auth=good)
            j = json.loads(ans)
            assert st == 500 and j['command'] == 'restore' and j['error'], (name, st, ans)
            assert 'last_zxid' not in j, j
            assert tree_of(z) == changed, 'a refused restore (%s) changed the tree' % name
        # without or with the wrong credentials: refused before the body is read
        for auth, want in ((None, 401), ('digest other:pw', 403)):
            st, _, ans = call(port, '/restore', 'POST', data=snap, auth=auth)
            assert st == want, (auth, st, ans)
        assert tree_of(z) == changed
        # GET restore: 405
        assert call(port, '/restore', auth=good)[0] == 405

        # the real thing
        st, _, ans = call(port, '/restore', 'POST', data=snap, auth=good)
        j = json.loads(ans)
        assert st == 200 and j['error'] is None and isinstance(j['last_zxid'], int), (st, ans)
        z2 = client(s, 'admin:secret')
        clients.append(z2)
        after = tree_of(z2)
        diff = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
        assert not diff, 'restored tree differs at %s' % sorted(diff)[:5]
        # /e goes first: whether its owner's session (whose connection the
        # restore closed) outlives the restart would otherwise decide /e
        # and the root's Stat after it
        z2.delete('/e')
        # writes go on after it, and everything survives a restart
        z2.create('/post', b'p')
        want = tree_of(z2)
        lsnp = json.loads(call(port, '/last_snapshot')[2])
        assert int(lsnp['zxid'], 16) == j['last_zxid'], (lsnp, j)
        for c in clients:
            c.stop()
            c.close()
        clients = []
        s.stop()
        s.start()
        z3 = client(s, 'admin:secret')
        clients.append(z3)
        got = tree_of(z3)
        diff = {p for p in set(want) | set(got) if want.get(p) != got.get(p)}
        assert not diff, 'after a restart the tree differs at %s' % sorted(diff)[:5]
        log('restore: %d znodes restored, compared through kazoo before and after a restart'
            % len(after))
        z3.set_acls('/', OPEN_ACL_UNSAFE)
    finally:
        for c in clients:
            c.stop()
            c.close()
        s.cleanup()


def test_restore_under_writes(args):
    """A restore while a client writes: acknowledged writes from before the
    restore are gone (the snapshot predates them), every write acknowledged
    after its answer is there, and the result survives a restart (the
    restored snapshot is numbered after the log, new txns after it)."""
    port = harness.free_port()
    s = harness.new_server(args, config={
        'admin.enableServer': 'true', 'admin.serverAddress': '127.0.0.1',
        'admin.serverPort': port, 'admin.rateLimiterIntervalInMS': 0}, name='admin-rw')
    s.start()
    clients = []
    try:
        z = client(s)
        clients.append(z)
        z.create('/w', b'')
        z.create('/keep', b'k')
        st, _, snap = call(port, '/snapshot', auth='digest a:b')
        assert st == 200, st
        base = tree_of(z)
        w = client(s)
        clients.append(w)
        log_ = []  # (index, start, end, ok)
        stop = threading.Event()

        def writer():
            i = 0
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    w.create('/w/n%06d' % i, b'x')
                    ok = True
                except Exception:  # noqa: BLE001 - connection loss during the restore
                    ok = None
                log_.append((i, t0, time.monotonic(), ok))
                i += 1
        th = threading.Thread(target=writer)
        th.start()
        wait_until(lambda: len(log_) > 50, 30, 'writes before the restore')
        t_req = time.monotonic()
        st, _, ans = call(port, '/restore', 'POST', data=snap, auth='digest a:b')
        t_ans = time.monotonic()
        assert st == 200, (st, ans)
        wait_until(lambda: sum(1 for e in log_ if e[1] > t_ans and e[3]) > 50, 60,
                   'writes after the restore')
        stop.set()
        th.join(30)
        z2 = client(s)
        clients.append(z2)
        got = set(z2.get_children('/w'))
        before = {'n%06d' % e[0] for e in log_ if e[3] and e[2] < t_req}
        after = {'n%06d' % e[0] for e in log_ if e[3] and e[1] > t_ans}
        assert before and after, (len(before), len(after))
        assert not (got & before), 'writes from before the restore survived: %s' % sorted(
            got & before)[:3]
        assert after <= got, 'acknowledged writes lost: %s' % sorted(after - got)[:3]
        assert z2.get('/keep')[0] == b'k'
        want = tree_of(z2)
        assert {p for p in base if not p.startswith('/w/')} <= set(want)
        log('restore under writes: %d writes before (gone), %d after (kept), %d in between'
            % (len(before), len(after), len(got - after)))
        for c in clients:
            c.stop()
            c.close()
        clients = []
        s.stop()
        s.start()
        z3 = client(s)
        clients.append(z3)
        assert tree_of(z3) == want, 'the tree after a restart differs'
    finally:
        for c in clients:
            c.stop()
            c.close()
        s.cleanup()


# ---- --ensemble ---------------------------------------------------------

ENS_CMDS = ('leader', 'voting_view', 'zabstate', 'observers')
OBSERVER = 3
# Equal per member id on both kinds (after the ports are named by role).
ENS_SAME = {'command', 'error', 'current_config', 'myid', 'voting', 'zabstate',
            'quorum_address', 'election_address', 'client_address'}


class AdminEnsemble:
    """Members 1..3 of kind on 127.0.0.1, 3 an observer; each with its
    client, quorum, election and AdminServer port."""

    def __init__(self, kind, args):
        self.kind = kind
        self.ports = {i: {'C': harness.free_port(), 'Q': harness.free_port(),
                          'E': harness.free_port(), 'A': harness.free_port()}
                      for i in (1, 2, 3)}
        cfg = {'tickTime': 500, 'initLimit': 10, 'syncLimit': 5}
        for i, p in self.ports.items():
            cfg['server.%d' % i] = '127.0.0.1:%d:%d%s' % (
                p['Q'], p['E'], ':observer' if i == OBSERVER else '')
        self.servers = {}
        for i, p in self.ports.items():
            own = dict(cfg)
            own.update({'admin.enableServer': 'true', 'admin.serverAddress': '127.0.0.1',
                        'admin.serverPort': p['A'], 'admin.idleTimeout': IDLE_MS})
            if i == OBSERVER:
                own['peerType'] = 'observer'
            self.servers[i] = harness.Server(kind, cheetah_bin=args.cheetah_bin, config=own,
                                             name='%s-r%d' % (kind, i), port=p['C'], myid=i,
                                             jvm_heap='128m')

    def start(self):
        for s in self.servers.values():
            s.start(wait=False)
        for s in self.servers.values():
            s.wait_ready(120)

    def stop(self):
        for s in self.servers.values():
            if s.alive():
                s.stop()

    def cmd(self, i, name):
        code, body = get(self.ports[i]['A'], '/' + name)
        assert code == 200, (self.kind, i, name, code, body)
        return json.loads(body)

    def roles(self):
        """{member id: role}, once there is one leader, one follower and the observer."""
        def settled():
            ms = {}
            for i, s in self.servers.items():
                out = harness.four_letter(s.port, 'srvr', timeout=3) or b''
                m = [ln.split(b': ', 1)[1] for ln in out.splitlines()
                     if ln.startswith(b'Mode: ')]
                ms[i] = m[0].decode() if m else None
            if sorted(ms.values(), key=str) == ['follower', 'leader', 'observer']:
                return ms
            return None
        return wait_until(settled, 120, '%s: a leader, a follower, an observer' % self.kind,
                          interval=0.1)

    def named(self, v):
        """v with every "127.0.0.1:<port>" and port number of the ensemble
        replaced by the port's role ("127.0.0.1:Q2")."""
        names = {p: '%s%d' % (r, i) for i, ps in self.ports.items() for r, p in ps.items()}
        if isinstance(v, dict):
            return {k: self.named(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.named(x) for x in v]
        if isinstance(v, str) and ':' in v:
            host, port = v.rsplit(':', 1)
            if port.isdigit() and int(port) in names:
                return host + ':' + names[int(port)]
        if isinstance(v, int) and not isinstance(v, bool) and v in names:
            return names[v]
        return v


def check_monitor_acks(ens, roles):
    """Cheetah's monitor after writes on an ensemble: the leader's
    ack_latency per voter and every voter's proposal_ack_creation_latency
    as ZooKeeper's AvgMinMaxPercentileCounter keys (avg a JSON real, the
    rest integers), with plausible values; and monitor is mntr's map,
    key for key, value type for value type."""
    leader = [i for i, r in roles.items() if r == 'leader'][0]
    voters = [i for i, r in roles.items() if r != 'observer']

    def acked():
        m = ens.cmd(leader, 'monitor')
        return m if all(m.get('cnt_%d_ack_latency' % i, 0) >= 1 for i in voters) else None
    m = wait_until(acked, 30, "the leader's ack_latency of every voter", interval=0.2)
    assert not any(k.endswith('%d_ack_latency' % OBSERVER) for k in m), m  # no ZooKeeper ACK
    for k in ['%d_ack_latency' % i for i in voters] + ['proposal_ack_creation_latency']:
        assert isinstance(m['avg_' + k], float), (k, m['avg_' + k])
        for p in ('min', 'max', 'cnt', 'sum', 'p50', 'p95', 'p99', 'p999'):
            assert isinstance(m['%s_%s' % (p, k)], int), (p, k, m)
        assert m['cnt_' + k] >= 1, (k, m)
        assert 0 <= m['min_' + k] <= m['avg_' + k] <= m['max_' + k] < 60000, (k, m)
        log('cheetah leader r%d monitor: %s cnt %d avg %.4f ms max %d' % (
            leader, k, m['cnt_' + k], m['avg_' + k], m['max_' + k]))
    for i in voters:
        if i != leader:
            f = ens.cmd(i, 'monitor')
            assert f['cnt_proposal_ack_creation_latency'] >= 1, (i, f)
            assert not any(re.match(r'^[a-z0-9]+_[0-9]+_ack_latency$', k) for k in f), f
    # the same list as mntr's text: every key, and Java's types for the text
    text = harness.four_letter(ens.servers[leader].port, 'mntr').decode()
    keys = [ln.split('\t', 1) for ln in text.splitlines() if '\t' in ln]
    assert keys and len(keys) + 2 == len(m), (len(keys), len(m))  # + command, error
    for k, v in keys:
        j = k[3:] if k.startswith('zk_') else k
        assert j in m, j
        want = str if not re.match(r'^-?[0-9.E-]+$', v) else float if '.' in v else int
        assert type(m[j]) is want, (j, v, m[j])


def ensemble_answers(kind, args):
    """{member id: {command: JSON}} and {member id: role} of a fresh ensemble of kind."""
    ens = AdminEnsemble(kind, args)
    try:
        ens.start()
        roles = ens.roles()
        leader = [i for i, r in roles.items() if r == 'leader'][0]
        # ZooKeeper's leader lists an observer once it synced; Cheetah's
        # once both links are up (mntr's zk_synced_observers)
        wait_until(lambda: ens.cmd(leader, 'observers').get('synced_observers') == 1, 60,
                   '%s: the leader to count its observer' % kind, interval=0.1)
        # a write, so that entries reach the observer, then traffic both
        # ways on its link (ZooKeeper's LearnerHandler counts pings too)
        z = KazooClient(hosts='127.0.0.1:%d' % ens.ports[leader]['C'], timeout=10)
        z.start(timeout=30)
        z.create('/obs-traffic', b'x')
        z.stop()
        z.close()

        def link_busy():
            o = (ens.cmd(leader, 'observers')['observers'] or [{}])[0]
            return o.get('packets_sent', 0) > 0 and o.get('packets_received', 0) > 0 and \
                o.get('last_zxid', -1) > 0
        wait_until(link_busy, 30, '%s: traffic on the observer link' % kind, interval=0.2)
        if kind == 'cheetah':
            check_monitor_acks(ens, roles)
        answers = {i: {c: ens.named(ens.cmd(i, c)) for c in ENS_CMDS} for i in ens.servers}
        raw_obs = ens.cmd(leader, 'observers')
        # observer_connection_stat_reset: the link's counters restart
        assert ens.cmd(leader, 'observer_connection_stat_reset')['error'] is None
        reset = wait_until(lambda: (lambda o: o if o and o[0]['packets_sent'] <
                                    raw_obs['observers'][0]['packets_sent'] else None)(
            ens.cmd(leader, 'observers')['observers']), 30,
            '%s: the observer counters reset' % kind, interval=0.2)
        answers[leader]['observers_raw'] = raw_obs
        answers[leader]['observers_reset'] = reset
        if kind == 'cheetah':
            # restore on an ensemble member: refused, nothing read or changed
            for i in ens.servers:
                st, _, body = call(ens.ports[i]['A'], '/restore', 'POST', data=b'x' * 100,
                                   auth='digest admin:pw')
                j = json.loads(body)
                assert st == 500 and 'ensemble' in (j['error'] or ''), (i, st, body)
        # the roles did not change meanwhile
        assert ens.roles() == roles, (kind, roles)
        for i in ens.servers:
            log('%s r%d (%s): %s' % (kind, i, roles[i], json.dumps(answers[i], sort_keys=True)))
        return answers, roles
    finally:
        ens.stop()


def check_one_ensemble(kind, answers, roles, problems):
    """What must hold within one ensemble, whatever the leader's id."""
    leader = [i for i, r in roles.items() if r == 'leader'][0]
    for i, a in answers.items():
        where = '%s r%d (%s)' % (kind, i, roles[i])
        for c in ENS_CMDS:
            if a[c].get('error') is not None:
                problems.append('%s %s: error %r' % (where, c, a[c]['error']))
        ld = a['leader']
        if ld.get('leader_id') != leader:
            problems.append('%s: leader_id %r, the leader is %d' % (where, ld.get('leader_id'),
                                                                    leader))
        if ld.get('is_leader') != (i == leader):
            problems.append('%s: is_leader %r' % (where, ld.get('is_leader')))
        if ld.get('leader_ip') != '127.0.0.1':
            problems.append('%s: leader_ip %r' % (where, ld.get('leader_ip')))
        if a['zabstate'].get('is_leader') != (i == leader):
            problems.append('%s: zabstate is_leader %r' % (where, a['zabstate'].get('is_leader')))
        ob = a['observers']
        want = ([{'sid': OBSERVER}], 1) if i == leader else ([], 0)
        if ob.get('synced_observers') != want[1] or \
                [{'sid': o.get('sid')} for o in ob.get('observers', [])] != want[0]:
            problems.append('%s: observers %r' % (where, ob))


def test_ensemble(args):
    zk, zroles = ensemble_answers('zookeeper', args)
    ch, croles = ensemble_answers('cheetah', args)
    problems = []
    check_one_ensemble('zookeeper', zk, zroles, problems)
    check_one_ensemble('cheetah', ch, croles, problems)
    if zroles[OBSERVER] != 'observer' or croles[OBSERVER] != 'observer':
        problems.append('roles: ZooKeeper %r, Cheetah %r' % (zroles, croles))
    # The same member on both: voting_view, zabstate's own fields, the key sets and types.
    for i in (1, 2, 3):
        for c in ENS_CMDS:
            z, h = zk[i][c], ch[i][c]
            compare(z, h, '%s r%d' % (c, i), problems, ENS_SAME)
    # The leader's observer entry: LearnerHandler's keys and types, and real
    # figures from the link (the observer's address, traffic both ways, a
    # zxid sent; counters restarted by observer_connection_stat_reset).
    for kind, answers, roles in (('zookeeper', zk, zroles), ('cheetah', ch, croles)):
        leader = [i for i, r in roles.items() if r == 'leader'][0]
        o = answers[leader]['observers_raw']['observers'][0]
        log('%s leader %d: observer link %r, after reset %r' % (
            kind, leader, o, answers[leader]['observers_reset'][0]))
        if not o['remote_socket_address'].startswith('/127.0.0.1:'):
            problems.append('%s observer link address %r' % (kind, o['remote_socket_address']))
        if not (o['packets_sent'] > 0 and o['packets_received'] > 0 and o['established'] > 0):
            problems.append('%s observer link figures %r' % (kind, o))
        if kind == 'cheetah' and o['last_zxid'] <= 0:
            problems.append('%s observer last_zxid %r' % (kind, o))
    zo = zk[[i for i, r in zroles.items() if r == 'leader'][0]]['observers_raw']['observers'][0]
    co = ch[[i for i, r in croles.items() if r == 'leader'][0]]['observers_raw']['observers'][0]
    compare(zo, co, 'observers[0]', problems, {'sid'})
    # The same role on both: the answers that depend on it.
    by_role = {r: i for i, r in zroles.items()}
    for i, r in croles.items():
        zi = by_role[r]
        for c, k in (('leader', 'is_leader'), ('zabstate', 'is_leader'),
                     ('observers', 'synced_observers')):
            if zk[zi][c].get(k) != ch[i][c].get(k):
                problems.append('%s %s.%s: %r, ZooKeeper %r' % (r, c, k, ch[i][c].get(k),
                                                                 zk[zi][c].get(k)))
    for p in problems:
        log('PROBLEM ' + p)
    assert not problems, '%d differences' % len(problems)


def main():
    p = harness.arg_parser(__doc__)
    p.add_argument('--ensemble', action='store_true',
                   help='the ensemble commands on a 3-member ensemble of each kind')
    args = p.parse_args()
    if not args.cheetah_bin:
        log('SKIP: --cheetah-bin needed')
        return 77
    args.server = 'cheetah'
    tests = [test_compare, test_snapshot_restore, test_restore_under_writes, test_robustness,
             test_half_requests_closed, test_two_workers, test_disabled_and_taken_port]
    if args.ensemble:
        tests = [test_ensemble]
    for t in tests:
        if args.only and t.__name__ not in args.only:
            continue
        log('---- %s' % t.__name__)
        t(args)
    log('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
