#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Read-only mode of an ensemble member cut off from its quorum (issue 9,
part 3), on ZooKeeper 3.8 and on Cheetah alike.

Three replicas (ensemble.py: network namespaces, nft partitions) with
readonlymode.enabled=true.  A follower is isolated from the two others;
once it reports "Mode: read-only" (srvr and stat, after ZooKeeper's line
"READ-ONLY mode; serving only read-only clients"; mntr zk_server_state
read-only and no zk_peer_state; isro "ro"):
  - a kazoo client with read_only=True connects to it (CONNECTED_RO) and
    reads what the quorum wrote before the partition;
  - its writes and its sync answer NOTREADONLY (NotReadOnlyCallError);
  - a client not asking for read-only is refused (no session);
after the partition heals, the read-only client ends up on a read-write
session (CONNECTED) and its write succeeds.  Then the same with the
leader isolated (it stops leading, then goes read-only).

    test_readonly.py --server zookeeper|cheetah [--cheetah-bin PATH]

Needs root, iproute2, nftables (see ensemble.py).
"""
import logging
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ensemble as ens  # noqa: E402
import harness  # noqa: E402
import zkproto  # noqa: E402
from harness import log, wait_until  # noqa: E402

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import NotReadOnlyCallError  # noqa: E402
from kazoo.handlers.threading import KazooTimeoutError  # noqa: E402
from kazoo.protocol.states import KeeperState  # noqa: E402

logging.basicConfig(level=int(os.environ.get("RO_LOGLEVEL", logging.ERROR)))

# ZooKeeper 3.8 gives a read-only client a session only with local
# sessions on: otherwise its ReadOnlyRequestProcessor answers the global
# createSession with a NOTREADONLY reply header in place of the
# ConnectResponse, which no client can parse (seen with kazoo).  Cheetah's
# read-only sessions are local either way (docs/OPERATIONS.md).
CONFIG = {'tickTime': 500, 'initLimit': 10, 'syncLimit': 5,
          'readonlymode.enabled': 'true', 'localSessionsEnabled': 'true'}
WAIT = 90.0


def main():
    args = harness.arg_parser(__doc__).parse_args()
    try:
        e = ens.Ensemble(3, kind=args.server, cheetah_bin=args.cheetah_bin, config=CONFIG)
    except ens.MissingFeature as ex:
        log('SKIP: %s' % ex)
        return 77
    state = {}
    clients = []

    def client(ids, **kw):
        c = KazooClient(hosts=e.hosts(ids), timeout=10.0, **kw)
        clients.append(c)
        return c

    def t_elect():
        e.start()
        state['leader'] = e.leader(timeout=WAIT)
        state['f'] = [i for i in e.servers if i != state['leader']][0]
        log('leader %d, isolating follower %d' % (state['leader'], state['f']))

    def t_write_before():
        c = client([state['f']])
        c.start(timeout=20)
        c.create('/ro', b'before')
        c.sync('/ro')
        c.stop()
        c.close()

    def t_isolate_read_only():
        f = state['f']
        e.isolate(f)
        wait_until(lambda: e.mode(f) == 'read-only', WAIT, 'server %d in read-only mode' % f,
                   interval=0.2)
        m = e.mntr(f)
        assert m.get('zk_server_state') == 'read-only', m.get('zk_server_state')
        # ReadOnlyZooKeeperServer is no QuorumZooKeeperServer: no peer state.
        assert 'zk_peer_state' not in m, m.get('zk_peer_state')
        for word in ('srvr', 'stat'):
            out = e.servers[f].four(word) or b''
            assert b'\nREAD-ONLY mode; serving only read-only clients\n' in out, (word, out)
            assert b'\nMode: read-only\n' in out, (word, out)
        out = e.servers[f].four('isro')
        assert out == b'ro', out

    def t_rw_client_refused():
        c = client([state['f']])
        try:
            c.start(timeout=6)
        except KazooTimeoutError:
            return
        finally:
            c.stop()
            c.close()
        raise AssertionError('a client without read_only got a session')

    def t_ro_client_reads():
        states = []
        c = client([state['f']], read_only=True)
        c.add_listener(lambda s: states.append(s))
        c.start(timeout=20)
        assert c.client_state == KeeperState.CONNECTED_RO, c.client_state
        data, stat = c.get('/ro')
        assert data == b'before', data
        assert c.exists('/nothing') is None
        assert c.get_children('/') and 'ro' in c.get_children('/')
        for what, op in (('create', lambda: c.create('/ro2', b'x')),
                         ('set', lambda: c.set('/ro', b'x')),
                         ('delete', lambda: c.delete('/ro')),
                         ('sync', lambda: c.sync('/ro'))):
            try:
                op()
            except NotReadOnlyCallError:
                continue
            raise AssertionError('%s on a read-only session succeeded' % what)
        data, _ = c.get('/ro')
        assert data == b'before', data
        state['ro'] = c

    def t_ro_session_reconnect():
        # A local session outlives its connection until its timeout
        # (LocalSessionTracker), closeSession ends it, unknown ids expire.
        f = state['f']
        host, port = e.servers[f].host, ens.CLIENT_PORT
        a = zkproto.Conn(host, port, timeout_ms=4000, read_only=True)
        sid, pw = a.session_id, a.passwd
        assert sid >> 56 == f, 'session 0x%x: not myid %d in the top byte' % (sid, f)
        a.close_socket()
        b = zkproto.Conn(host, port, timeout_ms=4000, session_id=sid, passwd=pw, read_only=True)
        assert b.session_id == sid
        rep = b.call(zkproto.OP['getData'], zkproto.r_path_watch('/ro', False))
        assert rep.err == 0, rep.err
        rep = b.call(zkproto.OP['setData'], zkproto.r_set_data('/ro', b'x', -1))
        assert rep.err == zkproto.ERR['NOTREADONLY'], rep.err
        rep = b.call(zkproto.OP['closeSession'])
        assert rep.err == 0, rep.err
        b.close_socket()
        for what, other in (('closed', sid), ('unknown', (f << 56) | 0x5eadbeef)):
            try:
                c = zkproto.Conn(host, port, timeout_ms=4000, session_id=other, passwd=pw,
                                 read_only=True)
            except zkproto.SessionExpired:
                continue
            c.close_socket()
            raise AssertionError('a reconnect with the %s session 0x%x succeeded' % (what, other))

    def t_heal_back_to_rw():
        c = state['ro']
        connected = threading.Event()

        def on_state(s):
            if c.client_state == KeeperState.CONNECTED:
                connected.set()
        c.add_listener(on_state)
        e.heal()
        wait_until(lambda: c.client_state == KeeperState.CONNECTED, WAIT,
                   'the read_only client back on a read-write session', interval=0.2)
        wait_until(lambda: e.mode(state['f']) in ('leader', 'follower'), WAIT,
                   'server %d back in the quorum' % state['f'], interval=0.2)
        c.create('/after', b'rw')
        data, _ = c.get('/after')
        assert data == b'rw'

    def t_leader_isolated():
        # A leader that loses its quorum stops leading, then goes read-only.
        ld = e.leader(timeout=WAIT)
        e.isolate(ld)
        wait_until(lambda: e.mode(ld) == 'read-only', WAIT, 'old leader %d read-only' % ld,
                   interval=0.2)
        c = client([ld], read_only=True)
        c.start(timeout=20)
        assert c.client_state == KeeperState.CONNECTED_RO, c.client_state
        data, _ = c.get('/after')
        assert data == b'rw', data
        try:
            c.create('/ro3', b'x')
        except NotReadOnlyCallError:
            pass
        else:
            raise AssertionError('a create on the old leader in read-only mode succeeded')
        e.heal()
        wait_until(lambda: e.mode(ld) == 'follower', WAIT, 'old leader %d follows' % ld,
                   interval=0.2)
        # No write since the new term: the old leader revalidates the
        # read-only session id with the new leader (SESSIONEXPIRED), and
        # kazoo opens a new session.
        wait_until(lambda: c.client_state == KeeperState.CONNECTED, WAIT,
                   'the read_only client back on a read-write session', interval=0.2)
        c.create('/after2', b'rw')

    tests = [('elect', t_elect), ('write before the partition', t_write_before),
             ('isolated member goes read-only', t_isolate_read_only),
             ('non-read-only client refused', t_rw_client_refused),
             ('read-only client reads, writes NOTREADONLY', t_ro_client_reads),
             ('read-only session: reconnect, close, expired', t_ro_session_reconnect),
             ('heal: back to a read-write session', t_heal_back_to_rw),
             ('isolated leader goes read-only, then back', t_leader_isolated)]
    try:
        return harness.run_tests(tests, args, servers=list(e.servers.values()))
    finally:
        for c in clients:
            try:
                c.stop()
                c.close()
            except Exception:
                pass
        e.close()


if __name__ == '__main__':
    sys.exit(main())
