#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""TLS between the servers of a three-member ensemble on loopback:
sslQuorum=true with ZooKeeper's ssl.quorum.* keys (issue 11, part 3).

Why: with sslQuorum every peer link is TLS with mutual certificate
authentication against the quorum trust store, so a member whose
certificate comes from another CA must never join while the other two
keep quorum and serve, and a log must say why.  Quorum SASL, when also on,
runs inside the TLS channel.  The same script runs against Apache
ZooKeeper 3.8 (--server zookeeper; it needs the Netty connection factory
for TLS), which proves the expectations; the bytes on the wire differ
(Cheetah's peer protocol is its own), the outcome must not.  Every wait is
bounded; every process is stopped at the end.

    test_quorum_tls.py --server cheetah --cheetah-bin build/cheetah
"""
import logging
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tlscerts  # noqa: E402
from harness import log, wait_until  # noqa: E402
from test_quorum_sasl import Loopback, write_jaas  # noqa: E402,F401

logging.basicConfig(level=logging.ERROR)

WAIT = 60.0
SASL = {'quorum.auth.enableSasl': 'true', 'quorum.auth.learnerRequireSasl': 'true',
        'quorum.auth.serverRequireSasl': 'true'}


def tls_keys(certs, member, store='pem'):
    """sslQuorum with member's key store; the quorum trust store is ca.pem."""
    keys = {'sslQuorum': 'true',
            'serverCnxnFactory': 'org.apache.zookeeper.server.NettyServerCnxnFactory',
            'ssl.quorum.trustStore.location': tlscerts.path(certs, 'ca.pem'),
            'ssl.quorum.trustStore.type': 'PEM'}
    if store == 'p12':
        keys.update({'ssl.quorum.keyStore.location': tlscerts.path(certs, member + '.p12'),
                     'ssl.quorum.keyStore.type': 'PKCS12',
                     'ssl.quorum.keyStore.password': tlscerts.PASSWORD})
    else:
        keys.update({'ssl.quorum.keyStore.location': tlscerts.path(certs, member + '.pem'),
                     'ssl.quorum.keyStore.type': 'PEM'})
    return keys


TLS_KEYS = ('sslQuorum', 'serverCnxnFactory', 'ssl.quorum.trustStore.location',
            'ssl.quorum.trustStore.type', 'ssl.quorum.keyStore.location',
            'ssl.quorum.keyStore.type', 'ssl.quorum.keyStore.password',
            'sslQuorumReloadCertFiles') + tuple(SASL)


def configure(lb, i, keys):
    s = lb.servers[i]
    for k in TLS_KEYS:
        s.config.pop(k, None)
    s.config.update(keys)


def refused_in_logs(lb, kind):
    """Members whose log has a warning or error about a TLS handshake."""
    if kind == 'cheetah':
        pat = re.compile(r'TLS handshake failed \(sslQuorum\)')
        return [i for i, s in lb.servers.items()
                if any(pat.search(line) and ('WARN' in line or 'ERROR' in line)
                       for line in s.read_log().splitlines())]
    # ZooKeeper 3.8 logs the accepted socket whose handshake failed as
    # "Accepted TLS connection from ... - NONE - SSL_NULL_WITH_NULL_NULL"
    # (no session negotiated), then a WARN with the SocketException.
    return [i for i, s in lb.servers.items() if 'SSL_NULL_WITH_NULL_NULL' in s.read_log()]


def replace_file(dst, data):
    """Replaces dst atomically, as an operator should: write, then rename."""
    tmp = dst + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.rename(tmp, dst)


def read_bytes(p):
    with open(p, 'rb') as f:
        return f.read()


def main():
    args = harness.arg_parser(__doc__).parse_args()
    certs = tlscerts.make()
    lb = Loopback(args)
    ids = sorted(lb.servers)

    def t_all_tls():
        """Three members with sslQuorum (PEM key stores) form and serve."""
        for i in ids:
            configure(lb, i, tls_keys(certs, 'member'))
        lb.start(ids)
        lb.formed(ids)
        lb.write_read(ids, '/qt/all')

    def t_tls_with_sasl_and_pkcs12():
        """sslQuorum with quorum SASL inside it, one member's key store in
        PKCS12: all three form and serve."""
        lb.stop_all()
        for i in ids:
            k = tls_keys(certs, 'member', 'p12' if i == 2 else 'pem')
            k.update(SASL)
            configure(lb, i, k)
        lb.start(ids)
        lb.formed(ids)
        lb.write_read(ids, '/qt/sasl')
        if args.server == 'cheetah':
            wait_until(lambda: all('authenticated with quorum SASL' in lb.servers[i].read_log()
                                   for i in ids), WAIT, 'quorum SASL on every member',
                       interval=0.2)

    def t_other_ca_never_joins():
        """Server 3's certificate comes from another CA: it never joins, 1
        and 2 keep quorum and serve, and a log says why."""
        lb.stop_all()
        for i in ids:
            configure(lb, i, tls_keys(certs, 'rogue_member' if i == 3 else 'member'))
        lb.start(ids)
        lb.formed([1, 2])
        lb.write_read([1, 2], '/qt/without3')
        wait_until(lambda: refused_in_logs(lb, args.server), WAIT,
                   'a log line about the failed TLS handshake', interval=0.2)
        log('TLS refusal logged by server(s) %s' % refused_in_logs(lb, args.server))
        if args.server == 'cheetah':  # both sides say why
            wait_until(lambda: any('certificate' in line and 'TLS handshake failed' in line
                                   for i in (1, 2)
                                   for line in lb.servers[i].read_log().splitlines()),
                       WAIT, "1 or 2's line about 3's certificate", interval=0.2)
            wait_until(lambda: 'TLS handshake failed' in lb.servers[3].read_log(), WAIT,
                       "server 3's line about its refused handshake", interval=0.2)
        wait_until(lambda: lb.mode(1) in ('leader', 'follower'), WAIT, 'server 1 serving')
        assert lb.mode(3) not in ('leader', 'follower'), lb.mode(3)
        lb.write_read([1, 2], '/qt/still')
        assert lb.mode(3) not in ('leader', 'follower'), lb.mode(3)

    def t_reload_joins():
        """sslQuorumReloadCertFiles: server 3 starts with a key
        store from another CA and cannot join; a bad file written over its
        key store is logged and the old context kept; then the key store is
        replaced (write + rename) by one from the right CA and 3 joins
        without a restart, the peers redialling with back-off.  The log
        lines are Cheetah's (ZooKeeper logs its reloads at DEBUG)."""
        lb.stop_all()
        ks3 = tlscerts.path(certs, 'member3_reload.pem')
        replace_file(ks3, read_bytes(tlscerts.path(certs, 'rogue_member.pem')))
        for i in ids:
            k = tls_keys(certs, 'member')
            k['sslQuorumReloadCertFiles'] = 'true'
            if i == 3:
                k['ssl.quorum.keyStore.location'] = ks3
            configure(lb, i, k)
        lb.start(ids)
        lb.formed([1, 2])
        wait_until(lambda: refused_in_logs(lb, args.server), WAIT,
                   'a log line about the failed TLS handshake', interval=0.2)
        assert lb.mode(3) not in ('leader', 'follower'), lb.mode(3)

        if args.server == 'zookeeper':  # its watcher logs at DEBUG only
            assert 'enabling cert file reloading' in lb.servers[3].read_log()
        replace_file(ks3, b'-----BEGIN CERTIFICATE-----\nnot a certificate\n')
        if args.server == 'cheetah':
            wait_until(lambda: 'could not be loaded' in lb.servers[3].read_log(), WAIT,
                       "server 3's line about the bad key store", interval=0.2)
        assert lb.servers[3].alive(), 'server 3 exited on a bad key store'
        lb.write_read([1, 2], '/qt/badfile')
        assert lb.mode(3) not in ('leader', 'follower'), lb.mode(3)

        replace_file(ks3, read_bytes(tlscerts.path(certs, 'member.pem')))
        if args.server == 'cheetah':
            wait_until(lambda: 'reloaded the quorum key' in lb.servers[3].read_log(), WAIT,
                       'server 3 reloading its key store', interval=0.2)
        wait_until(lambda: lb.mode(3) in ('leader', 'follower'), WAIT,
                   'server 3 joining after the reload')
        lb.formed(ids)
        lb.write_read(ids, '/qt/reloaded')

    tests = [
        ('three members over TLS', t_all_tls),
        ('TLS with quorum SASL, PKCS12', t_tls_with_sasl_and_pkcs12),
        ('another CA never joins', t_other_ca_never_joins),
        ('key store reload lets a member join', t_reload_joins),
    ]
    try:
        rc = harness.run_tests(tests, args, servers=list(lb.servers.values()))
    finally:
        for s in lb.servers.values():
            s.cleanup()
    return rc


if __name__ == '__main__':
    sys.exit(main())
