#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""/zookeeper/config and the reconfig operation, on one server and on a
three-server ensemble on loopback, against either server kind.

Why: ZooKeeper clients read the membership from /zookeeper/config (the
Java client's getConfig, Curator's EnsembleTracker) and send reconfig
(opcode 16); both must answer as Apache ZooKeeper 3.8 does.  What 3.8
returns was recorded by running this script with --server zookeeper:
  - standalone: /zookeeper/config has no data, Stat all zero but
    aversion -1, ACL world:anyone READ; reconfig answers RECONFIGDISABLED
    (-123) while reconfigEnabled is false (the default);
  - ensemble: the data is QuorumMaj.toString() ("server.N=host:q:e:role
    [;chost:cport]\\n" per member, then "version=<hex>", no final newline),
    Stat czxid 0, ctime 0, version -1, aversion -1, mzxid = the version,
    mtime the server's own clock (not compared); the same bytes on every
    member; reconfig with reconfigEnabled=false: RECONFIGDISABLED.

Every port is picked free per run, every wait has a timeout, every
process is stopped at the end (harness's hooks on a failure).

    test_reconfig.py --server cheetah --cheetah-bin build/cheetah
"""
import logging
import os
import re
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import zkproto  # noqa: E402

from harness import log, wait_until  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import (BadArgumentsError, BadVersionError, ConnectionLoss,  # noqa: E402
                              MarshallingError, NewConfigNoQuorumError, NoAuthError,
                              SessionExpiredError)

logging.basicConfig(level=logging.ERROR)

CONFIG = {'tickTime': 500, 'initLimit': 10, 'syncLimit': 5}
WAIT = 60.0
OP_RECONFIG = 16
RECONFIGDISABLED = -123


class Loopback:
    """Servers on 127.0.0.1 with their own client, quorum and election
    ports and data dirs.  spec: {id: (role, with_client_part)}."""

    def __init__(self, args, spec, extra=None):
        self.args = args
        self.ports = {i: (harness.free_port(), harness.free_port(), harness.free_port())
                      for i in spec}
        self.spec = spec
        self.extra = dict(extra or {})
        self.servers = {}
        for i in spec:
            self.servers[i] = self._server(i, spec)

    def line(self, i, role=None, client=None):
        c, q, e = self.ports[i]
        role = role or self.spec[i][0]
        client = self.spec[i][1] if client is None else client
        s = '127.0.0.1:%d:%d' % (q, e)
        if role:
            s += ':' + role
        if client:
            s += ';127.0.0.1:%d' % c
        return s

    def _server(self, i, spec):
        cfg = dict(CONFIG)
        cfg.update(self.extra)
        for j in spec:
            cfg['server.%d' % j] = self.line(j)
        if spec[i][0] == 'observer':
            cfg['peerType'] = 'observer'
        return harness.Server(self.args.server, cheetah_bin=self.args.cheetah_bin,
                              config=cfg, name='rc%d' % i, port=self.ports[i][0],
                              myid=i, jvm_heap='128m')

    def start(self):
        for s in self.servers.values():
            s.start(wait=False)
        for s in self.servers.values():
            s.wait_ready(WAIT)

    def stop(self):
        for s in self.servers.values():
            if s.alive():
                s.stop()

    def expected_config(self, version):
        """QuorumMaj.toString() of the members in id order."""
        lines = []
        for i in sorted(self.spec):
            role, client = self.spec[i]
            c, q, e = self.ports[i]
            s = 'server.%d=127.0.0.1:%d:%d:%s' % (i, q, e, role or 'participant')
            if client:
                s += ';127.0.0.1:%d' % c
            lines.append(s + '\n')
        return (''.join(lines) + 'version=%x' % version).encode()


def kazoo(hosts):
    c = KazooClient(hosts=hosts, timeout=10.0)
    c.start(timeout=WAIT)
    return c


def raw_reconfig(port, joining=None, leaving=None, new_members=None, config_id=-1):
    """Sends a ReconfigRequest on a fresh session; returns the reply's err.
    (kazoo 2.x cannot map -123 and drops its connection on it.)"""
    conn = zkproto.Conn('127.0.0.1', port, timeout_ms=10000)
    try:
        payload = (zkproto.e_str(joining) + zkproto.e_str(leaving) +
                   zkproto.e_str(new_members) + zkproto.e_long(config_id))
        return conn.call(OP_RECONFIG, payload).err
    finally:
        conn.close_socket()


def check_standalone(args):
    s = harness.new_server(args, config={}, name='rc-sa')
    s.start()
    try:
        c = kazoo(s.hosts)
        try:
            data, st = c.get('/zookeeper/config')
            assert data == b'', data
            got = (st.czxid, st.mzxid, st.ctime, st.mtime, st.version, st.cversion,
                   st.aversion, st.ephemeralOwner, st.dataLength, st.numChildren, st.pzxid)
            assert got == (0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0), got
            acl, _ = c.get_acls('/zookeeper/config')
            assert len(acl) == 1 and acl[0].perms == 1 and acl[0].id.scheme == 'world' \
                and acl[0].id.id == 'anyone', acl
        finally:
            c.stop()
        err = raw_reconfig(s.port, joining='server.2=127.0.0.1:1:2;3')
        assert err == RECONFIGDISABLED, err
    finally:
        s.stop()
        s.cleanup()


def check_config_stat(data, st, want, version):
    assert data == want, (data, want)
    got = (st.czxid, st.mzxid, st.ctime, st.version, st.cversion, st.aversion,
           st.ephemeralOwner, st.dataLength, st.numChildren, st.pzxid)
    assert got == (0, version, 0, -1, 0, -1, 0, len(want), 0, 0), got


def check_ensemble_config(args):
    """reconfigEnabled=false: the zoo.cfg membership with version 0, the
    same on every member (an observer and a line without client part
    included); reconfig refused with RECONFIGDISABLED on each."""
    lb = Loopback(args, {1: ('', False), 2: ('observer', False),
                         3: ('participant', True)})
    try:
        lb.start()
        want = lb.expected_config(0)
        for i, s in lb.servers.items():
            c = kazoo(s.hosts)
            try:
                c.sync('/')
                data, st = c.get('/zookeeper/config')
                check_config_stat(data, st, want, 0)
                assert st.mtime > 0, st
            finally:
                c.stop()
            err = raw_reconfig(s.port, leaving='2')
            assert err == RECONFIGDISABLED, (i, err)
    finally:
        lb.stop()


def config_lines(data):
    """The server lines (a set: ZooKeeper's order is a HashMap's) and the
    version line, which comes last."""
    text = data.decode()
    lines = text.split('\n')
    assert lines[-1].startswith('version='), text
    assert not text.endswith('\n'), text
    return set(lines[:-1]), lines[-1]


def retry(fn, what, timeout=WAIT):
    """fn until it does not raise a connection loss (a member electing
    closes connections; kazoo reconnects)."""
    box = {}

    def attempt():
        try:
            box['v'] = fn()
            return True
        except (ConnectionLoss, SessionExpiredError):
            return False
    wait_until(attempt, timeout, what, interval=0.05)
    return box['v']


def joined(srv, path):
    """A joiner holds path once it has caught up: from the leader's log, or
    from its snapshot, which a Cheetah member installs live (it must not
    exit), as ZooKeeper's followers load a SNAP sync."""
    def has_it():
        assert srv.alive(), '%s exited (status %s): %s' % (
            srv.name, srv.proc.returncode, srv.log_tail())
        try:
            c = zkproto.Conn('127.0.0.1', srv.port, timeout_ms=5000, sock_timeout=3.0)
        except Exception:
            return False
        try:
            c.call(zkproto.OP['sync'], zkproto.r_path('/'))
            r = c.call(zkproto.OP['exists'], zkproto.r_path_watch(path, False))
            return r.err == 0
        except Exception:
            return False
        finally:
            c.close_socket()
    wait_until(has_it, WAIT, '%s holding %s' % (srv.name, path))


def check_all_members(lb, ids, want_data, path=None, value=None):
    """Every member in ids shows want_data in /zookeeper/config (and
    path's value) after a sync."""
    for i in ids:
        c = kazoo(lb.servers[i].hosts)
        try:
            def got():
                c.sync('/')
                d, st = c.get('/zookeeper/config')
                v = c.get(path)[0] if path else None
                return d, st, v
            d, st, v = retry(got, 'reading server %d' % i)
            assert config_lines(d) == config_lines(want_data), (i, d, want_data)
            assert st.version == -1 and st.aversion == -1 and st.czxid == 0, (i, st)
            assert st.mzxid == int(config_lines(d)[1][8:], 16), (i, st, d)
            if path:
                assert v == value, (i, v, value)
        finally:
            c.stop()


def check_reconfig(args):
    """reconfigEnabled=true, a super user: the version set by the first
    leader, curConfigId mismatch BADVERSION, no auth NOAUTH, a 4th server
    added (started with the new membership, as ZooKeeper requires of a
    joiner) gets the data, one removed, writes still commit and every
    member shows the same /zookeeper/config; a configuration of one
    participant is BADARGUMENTS."""
    digest = zkproto.digest_id('super', 'secret')
    # snapCount 40: no snapshot before server 4 joins (it is sent the log),
    # several after the removal, so the restart below loads one
    extra = {'reconfigEnabled': 'true', 'snapCount': 40,
             'DigestAuthenticationProvider.superDigest': digest}
    spec = {1: ('participant', True), 2: ('participant', True), 3: ('participant', True)}
    lb = Loopback(args, spec, extra=extra)
    # server 4: its ports now, started later with the four-server list
    lb.ports[4] = (harness.free_port(), harness.free_port(), harness.free_port())
    try:
        lb.start()
        admin = KazooClient(hosts=lb.servers[1].hosts, timeout=10.0,
                            auth_data=[('digest', 'super:secret')])
        admin.start(timeout=WAIT)
        plain = kazoo(lb.servers[1].hosts)
        try:
            def first():
                admin.sync('/')
                return admin.get('/zookeeper/config')
            data0, st0 = retry(first, 'reading /zookeeper/config')
            version0 = st0.mzxid
            # the first leader's epoch zxid (ZOOKEEPER-1783): term << 32
            assert version0 > 0 and version0 & 0xffffffff == 0, st0
            assert data0 == lb.expected_config(version0), (data0, version0)
            check_all_members(lb, spec, data0)

            try:
                admin.reconfig(joining=None, leaving='3', new_members=None,
                               from_config=version0 + 12345)
                raise AssertionError('a stale curConfigId was accepted')
            except BadVersionError:
                pass
            try:
                plain.reconfig(joining=None, leaving='3', new_members=None)
                raise AssertionError('reconfig without WRITE on /zookeeper/config')
            except NoAuthError:
                pass

            # bad input: ZooKeeper 3.8's answers (a server id that is not a
            # number fails its Long.parseLong: MARSHALLINGERROR), nothing changes
            bad_input = [
                (dict(joining='server.9=garbage'), BadArgumentsError),
                (dict(joining='server.9=127.0.0.1:1:2'), BadArgumentsError),  # no client port
                (dict(joining='server.9=' + 'h' * 2000), BadArgumentsError),
                (dict(joining='server.x=127.0.0.1:1:2:participant;3'), MarshallingError),
                (dict(leaving='abc'), MarshallingError),
                (dict(leaving='1,x'), MarshallingError),
            ]
            for kw, exc in bad_input:
                req = dict(joining=None, leaving=None, new_members=None)
                req.update(kw)
                try:
                    admin.reconfig(**req)
                    raise AssertionError('reconfig %r accepted' % str(kw)[:60])
                except exc:
                    pass
            assert admin.get('/zookeeper/config')[0] == data0

            # the joiner: started with the new list, as ZooKeeper's must be
            spec4 = dict(spec)
            spec4[4] = ('participant', True)
            lb.spec = spec4
            lb.servers[4] = lb._server(4, spec4)
            lb.servers[4].start(wait=False)
            joining = 'server.4=' + lb.line(4)
            # curConfigId on the first try only: a retry after a lost answer
            # may find the change made
            tries = []

            def add4():
                tries.append(1)
                return admin.reconfig(joining=joining, leaving=None, new_members=None,
                                      from_config=version0 if len(tries) == 1 else -1)
            data1, st1 = retry(add4, 'adding server 4')
            assert data1 == lb.expected_config(st1.mzxid), (data1, st1)
            assert st1.version == -1 and st1.mzxid > version0, st1
            lb.servers[4].wait_ready(WAIT)
            retry(lambda: admin.create('/after-add', b'4'), 'a write after the add')
            joined(lb.servers[4], '/after-add')
            check_all_members(lb, [1, 2, 3, 4], data1, '/after-add', b'4')

            # at least two participants must stay (standaloneEnabled)
            try:
                admin.reconfig(joining=None, leaving='2,3,4', new_members=None)
                raise AssertionError('a one-participant configuration was accepted')
            except BadArgumentsError:
                pass

            # a watch on /zookeeper/config (on the joiner) fires on the change
            fired = threading.Event()
            c4 = kazoo(lb.servers[4].hosts)
            try:
                c4.get('/zookeeper/config', watch=lambda ev: fired.set())
                data2, st2 = retry(lambda: admin.reconfig(
                    joining=None, leaving='3', new_members=None), 'removing server 3')
                assert fired.wait(WAIT), 'no NodeDataChanged on /zookeeper/config'
            finally:
                c4.stop()
            spec_after = dict(spec4)
            del spec_after[3]
            lb.spec = spec_after
            assert config_lines(data2) == config_lines(lb.expected_config(st2.mzxid)), data2
            retry(lambda: admin.create('/after-remove', b'3'), 'a write after the remove')
            check_all_members(lb, [1, 2, 4], data2, '/after-remove', b'3')
            log('[reconfig] versions %x -> %x -> %x' % (version0, st1.mzxid, st2.mzxid))
            log('[reconfig] removed server 3 says: %r' % (
                harness.four_letter(lb.servers[3].port, 'srvr', timeout=3) or b'')[-80:])

            # persisted as ZooKeeper does: zoo.cfg.dynamic.<version> next to zoo.cfg
            lines2 = config_lines(data2)[0]
            for i in (1, 2, 4):
                path = os.path.join(lb.servers[i].base, 'zoo.cfg.dynamic.%x' % st2.mzxid)
                wait_until(lambda: os.path.exists(path), WAIT, path)
                with open(path) as f:
                    body = f.read()
                assert set(body.split('\n')) == lines2, (i, body)

            # a restarted member comes back with the current membership (from
            # its snapshot and log: 80 writes make every member snapshot)
            for k in range(80):
                retry(lambda: admin.create('/fill-%d' % k, b'x' * 100), 'write %d' % k)
            s4 = lb.servers[4]
            s4.stop()
            s4.keep_cfg = True
            s4.start(timeout=WAIT, keep_port=True)
            retry(lambda: admin.create('/after-restart', b'r'), 'a write after the restart')
            check_all_members(lb, [1, 2, 4], data2, '/after-restart', b'r')

            # an observer joins (started with the list, itself an observer), then leaves
            lb.ports[5] = (harness.free_port(), harness.free_port(), harness.free_port())
            spec5 = dict(spec_after)
            spec5[5] = ('observer', True)
            lb.spec = spec5
            lb.servers[5] = lb._server(5, spec5)
            lb.servers[5].start(wait=False)
            data3, st3 = retry(lambda: admin.reconfig(
                joining='server.5=' + lb.line(5), leaving=None, new_members=None),
                'adding observer 5')
            assert config_lines(data3) == config_lines(lb.expected_config(st3.mzxid)), data3
            lb.servers[5].wait_ready(WAIT)
            retry(lambda: admin.create('/after-observer', b'o'), 'a write after the observer')
            joined(lb.servers[5], '/after-observer')
            check_all_members(lb, [1, 2, 4, 5], data3, '/after-observer', b'o')
            assert 'observer' in (lambda m: m.group(1).decode() if m else '')(
                re.search(rb'Mode: (\w+)',
                          harness.four_letter(lb.servers[5].port, 'srvr', timeout=3) or b''))
            data4, st4 = retry(lambda: admin.reconfig(
                joining=None, leaving='5', new_members=None), 'removing observer 5')
            lb.spec = spec_after
            assert config_lines(data4) == config_lines(lb.expected_config(st4.mzxid)), data4
            retry(lambda: admin.create('/after-observer-left', b'l'), 'a write after it left')
            check_all_members(lb, [1, 2, 4], data4, '/after-observer-left', b'l')

            # non-incremental: the whole list (here unchanged) gets a new version
            members = ','.join('server.%d=%s' % (i, lb.line(i)) for i in sorted(lb.spec))
            data5, st5 = retry(lambda: admin.reconfig(
                joining=None, leaving=None, new_members=members), 'a non-incremental reconfig')
            assert st5.mzxid > st4.mzxid, (st4, st5)
            assert config_lines(data5)[0] == config_lines(data4)[0], (data4, data5)

            # server 2 stopped: adding a 4th participant (6, never started)
            # would need 3 of {1, 2, 4, 6} in sync with the leader
            lb.servers[2].stop()
            retry(lambda: admin.create('/without-2', b'2'), 'a write without server 2')
            lb.ports[6] = (harness.free_port(), harness.free_port(), harness.free_port())
            line6 = 'server.6=127.0.0.1:%d:%d:participant;127.0.0.1:%d' % (
                lb.ports[6][1], lb.ports[6][2], lb.ports[6][0])
            try:
                retry(lambda: admin.reconfig(joining=line6, leaving=None, new_members=None),
                      'a reconfig without a quorum of the new configuration')
                raise AssertionError('a reconfig without a connected quorum was accepted')
            except NewConfigNoQuorumError:
                pass
        finally:
            admin.stop()
            plain.stop()
    finally:
        lb.stop()


def check_zkcli(args):
    """zkCli.sh's 'reconfig -remove' (ZooKeeperMain, the Java client of the
    Debian package) on a super session: it prints the committed
    configuration, which every remaining member then shows."""
    digest = zkproto.digest_id('super', 'secret')
    extra = {'reconfigEnabled': 'true',
             'DigestAuthenticationProvider.superDigest': digest}
    spec = {1: ('participant', True), 2: ('participant', True), 3: ('participant', True)}
    lb = Loopback(args, spec, extra=extra)
    try:
        lb.start()

        def leader():
            for i, srv in lb.servers.items():
                out = harness.four_letter(srv.port, 'srvr', timeout=3) or b''
                if b'Mode: leader' in out:
                    return i
            return None
        ldr = wait_until(leader, WAIT, 'a leader')
        # neither the leader (its removal drops every connection: zkCli.sh
        # does not retry) nor the server zkCli.sh talks to
        gone = next(i for i in (3, 2) if i != ldr)
        cmds = 'addauth digest super:secret\nreconfig -remove %d\nquit\n' % gone
        out = subprocess.run(
            [harness.JAVA, '-Xmx64m', '-cp', harness.ZK_CLASSPATH,
             'org.apache.zookeeper.ZooKeeperMain', '-waitforconnection', '-server',
             lb.servers[1].hosts],
            input=cmds.encode(), capture_output=True, timeout=WAIT)
        out, err = out.stdout.decode(), out.stderr.decode()
        assert 'Committed new configuration:' in out, (out[-2000:], err[-2000:])
        text = out.split('Committed new configuration:', 1)[1].strip().split('\n')
        version = next(l for l in text if l.startswith('version='))
        data = '\n'.join(l for l in text if l.startswith('server.')) + '\n' + version
        del lb.spec[gone]
        assert data.encode() == lb.expected_config(int(version[8:], 16)), data
        check_all_members(lb, sorted(lb.spec), data.encode())
    finally:
        lb.stop()


def main():
    args = harness.arg_parser(__doc__).parse_args()
    tests = [
        ('standalone /zookeeper/config', lambda: check_standalone(args)),
        ('ensemble /zookeeper/config, disabled', lambda: check_ensemble_config(args)),
        ('reconfig add and remove', lambda: check_reconfig(args)),
        ('zkCli.sh reconfig -remove', lambda: check_zkcli(args)),
    ]
    return harness.run_tests(tests, args)


if __name__ == '__main__':
    sys.exit(main())
