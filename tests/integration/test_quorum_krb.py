#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Quorum SASL with Kerberos (GSSAPI) between the servers of a three-member
ensemble on loopback, against a real MIT KDC (krb.py): ZooKeeper's
quorum.auth.kerberos.servicePrincipal and the Krb5LoginModule entries of
the QuorumServer / QuorumLearner JAAS sections (issue 11, part 3).

Why: with Kerberos the ensemble must form and serve; a member whose
learner principal's host is not in the server list is refused by the
others (ZooKeeper's authorized-host check), and one with a stale keytab
cannot get a ticket; either way it never joins, the other two keep
quorum, and a log says why.  --server zookeeper runs the same against
Apache ZooKeeper 3.8.  Every wait is bounded; every process is stopped.

    test_quorum_krb.py --server cheetah --cheetah-bin build/cheetah
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import log, wait_until  # noqa: E402
import krb  # noqa: E402
import test_quorum_sasl as qs  # noqa: E402

KRB5_MODULE = 'com.sun.security.auth.module.Krb5LoginModule'
SVC = 'zkquorum/localhost'


def section(name, keytab, principal):
    return ('%s {\n  %s required\n  useKeyTab=true\n  keyTab="%s"\n  storeKey=true\n'
            '  useTicketCache=false\n  debug=false\n  principal="%s";\n};\n'
            % (name, KRB5_MODULE, keytab, principal))


def write_jaas(path, server_kt, server_pr, learner_kt, learner_pr):
    with open(path, 'w') as f:
        f.write(section('QuorumServer', server_kt, server_pr))
        f.write(section('QuorumLearner', learner_kt, learner_pr))


def main():
    args = harness.arg_parser(__doc__).parse_args()
    kdc = krb.KDC()
    kdc.start()
    kt = kdc.add_principal(SVC, keytab='zkquorum.keytab')
    # a principal whose host is in no server.N line
    bad_host_kt = kdc.add_principal('zkquorum/elsewhere', keytab='elsewhere.keytab')
    # a keytab the KDC no longer agrees with
    stale_kt = kdc.add_principal('zkquorum/stale', keytab='stale.keytab')
    kdc.rekey('zkquorum/stale')
    good = (kt, kdc.principal(SVC), kt, kdc.principal(SVC))

    lb = qs.Loopback(args)
    ids = sorted(lb.servers)
    for s in lb.servers.values():
        # the authorized hosts are server.N's: localhost, the principals' host
        for k, v in list(s.config.items()):
            if k.startswith('server.'):
                s.config[k] = v.replace('127.0.0.1:', 'localhost:')
        s.jvm_flags = kdc.jvm_flags() + [
            '-Dzookeeper.sasl.client.canonicalize.hostname=false']
        s.env = {k: v for k, v in kdc.env().items() if k.startswith('KRB5')}
    for i in ids:
        write_jaas(lb.jaas[i], *good)

    def t_all_kerberos():
        for i in ids:
            lb.configure(i, qs.FULL)
        lb.start(ids)
        lb.formed(ids)
        lb.write_read(ids, '/qk/all')

    def cannot_join(path, cheetah_lines, refused=True):
        for i in ids:
            lb.configure(i, qs.FULL)
        lb.start(ids)
        lb.formed([1, 2])
        lb.write_read([1, 2], path)
        if refused:
            wait_until(lambda: qs.refused_in_logs(lb, args.server, 3), qs.WAIT,
                       'a log line about the failed quorum authentication', interval=0.2)
        if args.server == 'cheetah':
            for who, text in cheetah_lines:
                wait_until(lambda: any(text in lb.servers[i].read_log() for i in who),
                           qs.WAIT, 'servers %s to log %r' % (who, text), interval=0.2)
        wait_until(lambda: lb.mode(1) in ('leader', 'follower'), qs.WAIT, 'server 1 serving')
        lb.write_read([1, 2], path + 'b')
        assert lb.mode(3) not in ('leader', 'follower'), lb.mode(3)

    def t_host_not_in_server_list():
        """3 logs in as zkquorum/elsewhere: a valid principal, but its host
        is no server's, so 1 and 2 refuse it."""
        lb.stop_all()
        write_jaas(lb.jaas[3], kt, kdc.principal(SVC), bad_host_kt,
                   kdc.principal('zkquorum/elsewhere'))
        try:
            cannot_join('/qk/elsewhere', [
                ((1, 2), 'zkquorum/elsewhere: host not in server list'),
                ((3,), 'refused our quorum SASL credentials')])
        finally:
            write_jaas(lb.jaas[3], *good)

    def t_stale_keytab():
        """3's learner keytab holds keys the KDC replaced: it gets no
        ticket-granting ticket, so it does not start (ZooKeeper's QuorumLearner
        login fails at start-up too) and says why."""
        lb.stop_all()
        write_jaas(lb.jaas[3], kt, kdc.principal(SVC), stale_kt,
                   kdc.principal('zkquorum/stale'))
        try:
            cannot_join('/qk/stale', [((3,), 'JAAS section QuorumLearner: no Kerberos '
                                        'credential for zkquorum/stale')], refused=False)
        finally:
            write_jaas(lb.jaas[3], *good)

    tests = [
        ('all kerberos', t_all_kerberos),
        ('learner host not in the server list', t_host_not_in_server_list),
        ('stale learner keytab', t_stale_keytab),
    ]
    try:
        rc = harness.run_tests(tests, args, servers=list(lb.servers.values()))
    finally:
        for s in lb.servers.values():
            s.cleanup()
        kdc.stop()
    return rc


if __name__ == '__main__':
    sys.exit(main())
