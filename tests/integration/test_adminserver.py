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
    throughout.

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
# (docs/OPERATIONS.md): ZooKeeper's per-namespace summaries
# (<stat>_<top-level znode>_{read,write}_per_namespace, keys named after
# the znodes) and the client response sizes (BufferStats: Cheetah says
# -1, so they are compared by type only).
KNOWN = ('_per_namespace',)


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


# Maps keyed by session ids (which differ between the servers): the
# number of entries and the shape of one entry are compared.
BY_SESSION = {'session_id_to_watched_paths', 'path_to_session_ids'}


def compare(zk, ch, where, problems, same=SAME):
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


def start(kind, args):
    port = harness.free_port()
    cfg = {'admin.enableServer': 'true', 'admin.serverAddress': '127.0.0.1',
           'admin.serverPort': port, 'admin.idleTimeout': IDLE_MS}
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
    """The same small workload on each server: a few znodes, one ephemeral, a watch."""
    zk = KazooClient(hosts=s.hosts, timeout=10)
    zk.start(timeout=30)
    zk.create('/a', b'x')
    zk.create('/a/b', b'yy')
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
        stray = set(cnames) - set(znames)
        assert not stray, 'Cheetah lists commands ZooKeeper 3.8 does not: %s' % stray
        log('ZooKeeper lists %d commands, Cheetah %d; not in Cheetah: %s' % (
            len(znames), len(cnames), sorted(set(znames) - set(cnames))))
        aliases = {'monitor': ['mntr'], 'server_stats': ['srvr'], 'configuration': ['conf'],
                   'environment': ['envi', 'env'], 'get_trace_mask': ['gtmk'],
                   'is_read_only': ['isro'], 'watch_summary': ['wchs'],
                   'stat_reset': ['srst'], 'connection_stat_reset': ['crst'],
                   'watches': ['wchc'], 'watches_by_path': ['wchp']}
        for name in cnames:
            for n in [name] + aliases.get(name, []):
                zst, ztext = get(zport, '/' + n)
                cst, ctext = get(cport, '/' + n)
                assert zst == cst == 200, (n, zst, cst)
                zj, cj = json.loads(ztext), json.loads(ctext)
                assert cj['command'] == name, (n, cj)
                compare(zj, cj, n, problems)
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
        answers = {i: {c: ens.named(ens.cmd(i, c)) for c in ENS_CMDS} for i in ens.servers}
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
            if c == 'observers':
                # ZooKeeper's LearnerHandler figures per observer; Cheetah
                # gives the sid only (docs/OPERATIONS.md): compared above
                z, h = dict(z, observers=[]), dict(h, observers=[])
            compare(z, h, '%s r%d' % (c, i), problems, ENS_SAME)
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
    tests = [test_compare, test_robustness, test_two_workers, test_disabled_and_taken_port]
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
