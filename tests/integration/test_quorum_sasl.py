#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Quorum SASL (DIGEST-MD5) between the servers of a three-member ensemble
on loopback: ZooKeeper's quorum.auth.* keys and its QuorumServer /
QuorumLearner JAAS sections (issue 11, part 3).

Why: a replica without the right credentials must not join, the others
must keep quorum, and the refusal must be in a log; and the mixed
configurations of a rolling upgrade behave as ZooKeeper's
SaslQuorumAuthLearner/Server decide (the dialer authenticates iff
learnerRequireSasl; the acceptor refuses a dialer that does not iff
serverRequireSasl).  The same script runs against Apache ZooKeeper 3.8
(--server zookeeper), which proves the expectations; the bytes on the
wire differ (Cheetah's peer protocol is its own), the outcome must not.
Every wait is bounded; every process is stopped at the end.

    test_quorum_sasl.py --server cheetah --cheetah-bin build/cheetah
"""
import logging
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import log, wait_until  # noqa: E402

from kazoo.client import KazooClient  # noqa: E402

logging.basicConfig(level=logging.ERROR)

N = 3
BASE = {'tickTime': 500, 'initLimit': 10, 'syncLimit': 5}
WAIT = 60.0
FULL = {'quorum.auth.enableSasl': 'true', 'quorum.auth.learnerRequireSasl': 'true',
        'quorum.auth.serverRequireSasl': 'true'}
ENABLE_ONLY = {'quorum.auth.enableSasl': 'true'}
OFF = {}
QUORUM_KEYS = tuple(FULL)


def write_jaas(path, learner_password):
    with open(path, 'w') as f:
        f.write('QuorumServer {\n'
                '  org.apache.zookeeper.server.auth.DigestLoginModule required\n'
                '  user_quorum="s3cret";\n};\n'
                'QuorumLearner {\n'
                '  org.apache.zookeeper.server.auth.DigestLoginModule required\n'
                '  username="quorum"\n  password="%s";\n};\n' % learner_password)


class Loopback:
    def __init__(self, args):
        self.servers = {}
        self.jaas = {}
        ports = {i: (harness.free_port(), harness.free_port(), harness.free_port())
                 for i in range(1, N + 1)}
        cfg = dict(BASE)
        for i, (_, q, e) in ports.items():
            cfg['server.%d' % i] = '127.0.0.1:%d:%d' % (q, e)
        self.jdir = harness.make_tmp_dir('quorum-sasl-jaas')
        for i, (c, _, _) in ports.items():
            self.jaas[i] = os.path.join(self.jdir, 'jaas-%d.conf' % i)
            write_jaas(self.jaas[i], 's3cret')
            own = dict(cfg)
            own['java.security.auth.login.config'] = self.jaas[i]
            self.servers[i] = harness.Server(
                args.server, cheetah_bin=args.cheetah_bin, config=own,
                name='r%d' % i, port=c, myid=i, jvm_heap='128m')

    def configure(self, i, keys):
        s = self.servers[i]
        for k in QUORUM_KEYS:
            s.config.pop(k, None)
        s.config.update(keys)

    def start(self, ids):
        for i in ids:
            if self.servers[i].alive():
                self.servers[i].stop()
        for i in ids:
            self.servers[i].start(wait=False)

    def stop_all(self):
        for s in self.servers.values():
            if s.alive():
                s.stop()

    def mode(self, i):
        s = self.servers[i]
        if not s.alive():
            return None
        out = harness.four_letter(s.port, 'srvr', timeout=3) or b''
        m = re.search(rb'Mode: (\w+)', out)
        return m.group(1).decode() if m else None

    def formed(self, ids):
        """Wait until exactly one of ids leads and the others follow."""
        def settled():
            ms = {i: self.mode(i) for i in ids}
            leaders = [i for i, m in ms.items() if m == 'leader']
            return len(leaders) == 1 and all(m in ('leader', 'follower')
                                             for m in ms.values())
        wait_until(settled, WAIT, 'servers %s to form a quorum' % (ids,), interval=0.1)

    def write_read(self, ids, path):
        """A write through the first of ids is read on every one of ids."""
        cs = []
        try:
            for i in ids:
                c = KazooClient(hosts=self.servers[i].hosts, timeout=10.0)
                c.start(timeout=WAIT)
                cs.append(c)
            cs[0].create(path, b'v', makepath=True)
            for c in cs:
                c.sync(path)
                assert c.get(path)[0] == b'v'
        finally:
            for c in cs:
                c.stop()
                c.close()


def refused_in_logs(lb, kind, bad):
    """The member that cannot join, or those it dialled, said why."""
    if kind == 'cheetah':
        pat = re.compile(r'quorum SASL|quorum\.auth\.')
    else:
        pat = re.compile(r'SASL|[Aa]uthentication')
    hits = [i for i, s in lb.servers.items()
            if any(pat.search(line) and ('WARN' in line or 'ERROR' in line)
                   for line in s.read_log().splitlines())]
    return hits


def main():
    args = harness.arg_parser(__doc__).parse_args()
    lb = Loopback(args)
    ids = sorted(lb.servers)

    def t_all_authenticated():
        for i in ids:
            lb.configure(i, FULL)
        lb.start(ids)
        lb.formed(ids)
        lb.write_read(ids, '/qs/all')

    def t_wrong_password_cannot_join():
        """Server 3's QuorumLearner password is wrong: it never follows,
        1 and 2 keep quorum and serve, and a log says why."""
        lb.stop_all()
        write_jaas(lb.jaas[3], 'wrong')
        for i in ids:
            lb.configure(i, FULL)
        lb.start(ids)
        try:
            lb.formed([1, 2])
            lb.write_read([1, 2], '/qs/without3')
            wait_until(lambda: refused_in_logs(lb, args.server, 3), WAIT,
                       'a log line about the failed quorum authentication', interval=0.2)
            log('refusal logged by server(s) %s' % refused_in_logs(lb, args.server, 3))
            if args.server == 'cheetah':  # the lines name the JAAS sections
                wait_until(lambda: 'refused our quorum SASL credentials (JAAS section '
                           'QuorumLearner' in lb.servers[3].read_log(), WAIT,
                           "server 3's line about its refused credentials", interval=0.2)
                wait_until(lambda: any('failed quorum SASL against JAAS section QuorumServer'
                                       in lb.servers[i].read_log() for i in (1, 2)), WAIT,
                           "1 or 2's line about 3's failed credentials", interval=0.2)
            # Several election rounds later server 3 still does not serve.
            wait_until(lambda: lb.mode(1) in ('leader', 'follower'), WAIT, 'server 1 serving')
            assert lb.mode(3) not in ('leader', 'follower'), lb.mode(3)
            lb.write_read([1, 2], '/qs/still')
            assert lb.mode(3) not in ('leader', 'follower'), lb.mode(3)
        finally:
            write_jaas(lb.jaas[3], 's3cret')

    def t_enable_only_accepts_unauthenticated():
        """1 and 2 with enableSasl only, 3 with quorum SASL off: nobody
        offers SASL and nobody requires it, so all three form (ZooKeeper's
        rolling-upgrade step)."""
        lb.stop_all()
        lb.configure(1, ENABLE_ONLY)
        lb.configure(2, ENABLE_ONLY)
        lb.configure(3, OFF)
        lb.start(ids)
        lb.formed(ids)
        lb.write_read(ids, '/qs/mixed')

    def t_learner_require_to_enable_only():
        """3 authenticates (learnerRequireSasl), 1 and 2 only enableSasl:
        they check its credentials and let it in."""
        lb.stop_all()
        lb.configure(1, ENABLE_ONLY)
        lb.configure(2, ENABLE_ONLY)
        lb.configure(3, {'quorum.auth.enableSasl': 'true',
                         'quorum.auth.learnerRequireSasl': 'true'})
        lb.start(ids)
        lb.formed(ids)
        lb.write_read(ids, '/qs/upgrade')

    def t_server_require_refuses_sasl_off():
        """1 and 2 require SASL of their dialers, 3 has it off: 3 never
        joins, 1 and 2 serve."""
        lb.stop_all()
        lb.configure(1, FULL)
        lb.configure(2, FULL)
        lb.configure(3, OFF)
        lb.start(ids)
        lb.formed([1, 2])
        lb.write_read([1, 2], '/qs/no3')
        wait_until(lambda: refused_in_logs(lb, args.server, 3), WAIT,
                   'a log line about the refused unauthenticated server', interval=0.2)
        if args.server == 'cheetah':  # the line names the key
            wait_until(lambda: any('quorum.auth.serverRequireSasl is true here'
                                   in lb.servers[i].read_log() for i in (1, 2)), WAIT,
                       "1 or 2's line naming quorum.auth.serverRequireSasl", interval=0.2)
        lb.write_read([1, 2], '/qs/no3b')
        assert lb.mode(3) not in ('leader', 'follower'), lb.mode(3)

    tests = [
        ('all authenticated', t_all_authenticated),
        ('wrong password cannot join', t_wrong_password_cannot_join),
        ('enableSasl only accepts unauthenticated', t_enable_only_accepts_unauthenticated),
        ('learnerRequireSasl to enableSasl only', t_learner_require_to_enable_only),
        ('serverRequireSasl refuses SASL off', t_server_require_refuses_sasl_off),
    ]
    try:
        rc = harness.run_tests(tests, args, servers=list(lb.servers.values()))
    finally:
        for s in lb.servers.values():
            s.cleanup()
    return rc


if __name__ == '__main__':
    sys.exit(main())
