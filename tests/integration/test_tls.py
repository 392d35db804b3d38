#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""TLS on the client port, the same keys and the same expectations for
Apache ZooKeeper 3.8 (NettyServerCnxnFactory) and Cheetah: kazoo
(use_ssl), the Java client (zookeeper.client.secure, ClientCnxnSocketNetty)
and raw TLS sockets; certificates made by tlscerts.py with openssl.

    test_tls.py --server KIND [--cheetah-bin PATH]

Debian's C client (libzookeeper_mt 3.8.0) is built without SSL (no
zookeeper_init_ssl in the library): it has no TLS case here.
client.certReload is not in ZooKeeper 3.8.0 (it came in 3.8.x later), so
the reload case runs on Cheetah only; so do the start-up refusals, which
are Cheetah's own messages.
"""
import os
import shutil
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tlscerts  # noqa: E402
from harness import log  # noqa: E402

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import NoAuthError  # noqa: E402
from kazoo.security import make_acl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
X509_PROVIDER = 'org.apache.zookeeper.server.auth.X509AuthenticationProvider'
NETTY = 'org.apache.zookeeper.server.NettyServerCnxnFactory'
# The Java client: zookeeper.jar's manifest names netty-handler and
# netty-transport but not what they need (codec, resolver).
CLIENT_CP = ['/etc/zookeeper/conf', '/usr/share/java/zookeeper.jar',
             '/usr/share/java/slf4j-log4j12.jar', '/usr/share/java/log4j-1.2.jar',
             '/usr/share/java/netty-codec.jar', '/usr/share/java/netty-resolver.jar']
ARGS = None
CERTS = None
SERVERS = []
CLASSES = None


def c(name):
    return tlscerts.path(CERTS, name)


def tls_config(extra=None):
    cfg = {
        'secureClientPort': harness.free_port(),
        'secureClientPortAddress': '127.0.0.1',
        'serverCnxnFactory': NETTY,
        'ssl.keyStore.location': c('server.pem'),
        'ssl.trustStore.location': c('ca.pem'),
        'authProvider.x509': X509_PROVIDER,
    }
    cfg.update(extra or {})
    return cfg


def start(name, cfg, kind=None):
    s = harness.new_server(ARGS, config=cfg, name=name, kind=kind)
    SERVERS.append(s)
    s.start()
    return s


def sport(s):
    return int(s.config['secureClientPort'])


def kazoo(port, cert=None, use_ssl=True, timeout=15):
    kw = {}
    if use_ssl:
        kw = dict(use_ssl=True, ca=c('ca.pem'), verify_certs=True)
        if cert:
            kw.update(certfile=c(cert + '.crt'), keyfile=c(cert + '.key'))
    k = KazooClient(hosts='127.0.0.1:%d' % port, timeout=10, **kw)
    k.start(timeout=timeout)
    return k


def raw_tls(port, cert=None, send=b'ruok', version=None):
    """One TLS connection: sends send, returns everything read until the
    server closes, or the exception that ended the attempt."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(c('ca.pem'))
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if cert:
        ctx.load_cert_chain(c(cert + '.crt'), c(cert + '.key'))
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=15) as raw:
            with ctx.wrap_socket(raw) as s:
                s.settimeout(15)
                s.sendall(send)
                out = b''
                while True:
                    b = s.recv(65536)
                    if not b:
                        return out
                    out += b
    except (ssl.SSLError, OSError) as e:
        return e


def refused(port, cert):
    r = raw_tls(port, cert)
    if r == b'imok':
        raise AssertionError('TLS with %s was accepted' % cert)
    return r


# ---- Sub-tests on the main server (ssl.clientAuth unset: need) ----

def t_kazoo_tls():
    k = kazoo(sport(S), 'client')
    try:
        k.create('/tls', b'hello')
        assert k.get('/tls')[0] == b'hello'
        log('    kazoo over TLS: create and get')
    finally:
        k.stop()
        k.close()


def t_x509_acl():
    """The certificate's subject is the x509 identity, held to x509 ACLs;
    X509AuthenticationProvider.superUser passes them all."""
    owner = kazoo(sport(S), 'client')
    try:
        owner.create('/x509', b'mine', acl=[make_acl('x509', tlscerts.DN['client'], all=True)])
        assert owner.get('/x509')[0] == b'mine'
        owner.set('/x509', b'still mine')
    finally:
        owner.stop()
        owner.close()
    other = kazoo(sport(S), 'client3')
    try:
        try:
            other.get('/x509')
            raise AssertionError('client three read a node only x509:%s may read'
                                 % tlscerts.DN['client'])
        except NoAuthError:
            pass
    finally:
        other.stop()
        other.close()
    sup = kazoo(sport(S), 'client2')
    try:
        assert sup.get('/x509')[0] == b'still mine'
    finally:
        sup.stop()
        sup.close()
    log('    x509:%s read by its owner and the superUser, refused to another certificate'
        % tlscerts.DN['client'])


def t_refusals():
    for cert, why in (('rogue', 'signed by another CA'), ('expired', 'expired'),
                      (None, 'no certificate under ssl.clientAuth=need')):
        r = refused(sport(S), cert)
        log('    %-42s refused: %s' % (why, r if isinstance(r, Exception) else repr(r)))


def t_four_letter_words():
    r = raw_tls(sport(S), 'client', b'ruok')
    assert r == b'imok', r
    r = raw_tls(sport(S), 'client', b'mntr')
    assert isinstance(r, bytes) and b'zk_version\t' in r and b'zk_znode_count\t' in r, r
    m = dict(line.split('\t', 1) for line in r.decode().splitlines() if '\t' in line)
    # the three refusals before (ServerMetrics UNSUCCESSFUL_HANDSHAKE)
    if int(m['zk_unsuccessful_handshake']) < 3:
        raise AssertionError('zk_unsuccessful_handshake %s after 3 refusals'
                             % m['zk_unsuccessful_handshake'])
    log('    ruok and mntr answered over TLS (%d bytes of mntr; zk_unsuccessful_handshake %s)'
        % (len(r), m['zk_unsuccessful_handshake']))
    conf = raw_tls(sport(S), 'client', b'conf')
    want = ('clientPort=%d\nsecureClientPort=%d\n' % (S.port, sport(S))).encode()
    assert isinstance(conf, bytes) and want in conf, conf


def t_plain_on_secure_port():
    """A plain client on the secure port gets nothing."""
    r = harness.four_letter(sport(S), 'ruok', timeout=15)
    assert not r, r
    log('    plain ruok on the secure port: no answer')


def t_protocol():
    """ssl.protocol defaults to TLSv1.2 only (X509Util.DEFAULT_PROTOCOL)."""
    r = raw_tls(sport(S), 'client', version=ssl.TLSVersion.TLSv1_3)
    assert isinstance(r, Exception), r
    r = raw_tls(sport(S), 'client', version=ssl.TLSVersion.TLSv1_2)
    assert r == b'imok', r
    log('    TLSv1.3 refused, TLSv1.2 served by default')


def compile_java():
    global CLASSES
    if CLASSES:
        return
    CLASSES = harness.make_tmp_dir('javac')
    r = subprocess.run(['javac', '-d', CLASSES, '-cp', '/usr/share/java/zookeeper.jar',
                        os.path.join(HERE, 'java', 'ZkTls.java')],
                       capture_output=True, text=True, timeout=180)
    if r.returncode != 0:
        raise AssertionError('javac failed:\n' + r.stdout + r.stderr)


def java(args, props=None):
    compile_java()
    cmd = ['java', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC',
           '-Dzookeeper.root.logger=WARN,CONSOLE']
    for k, v in (props or {}).items():
        cmd.append('-D%s=%s' % (k, v))
    r = subprocess.run(cmd + ['-cp', ':'.join([CLASSES] + CLIENT_CP), 'ZkTls'] + args,
                       capture_output=True, text=True, timeout=120)
    return r


def t_java_client():
    r = java(['127.0.0.1:%d' % sport(S), '/java-tls'], {
        'zookeeper.client.secure': 'true',
        'zookeeper.clientCnxnSocket': 'org.apache.zookeeper.ClientCnxnSocketNetty',
        'zookeeper.ssl.keyStore.location': c('client.pem'),
        'zookeeper.ssl.trustStore.location': c('ca.pem'),
    })
    sys.stdout.write(r.stdout)
    if r.returncode != 0:
        raise AssertionError('ZkTls exited %d:\n%s' % (r.returncode, r.stderr[-3000:]))
    want = 'whoami x509 %s' % tlscerts.DN['client']
    if want not in r.stdout:
        raise AssertionError('whoAmI lacks %r:\n%s' % (want, r.stdout))


def t_dn_matches_java():
    """tlscerts.DN (what the ACLs above name) is X500Principal.getName()."""
    for name in ('client', 'client2', 'client3'):
        r = java(['dn', c(name + '.crt')])
        if r.returncode != 0 or r.stdout.strip() != tlscerts.DN[name]:
            raise AssertionError('%s: Java says %r, expected %r\n%s' % (
                name, r.stdout, tlscerts.DN[name], r.stderr))


# ---- Port unification, want, PKCS12 ----

def t_port_unification():
    u = start('unified', tls_config({'client.portUnification': 'true'}))
    try:
        k = kazoo(u.port, 'client')     # TLS on the plain client port
        p = kazoo(u.port, use_ssl=False)  # and plain
        try:
            k.create('/unified', b'tls')
            assert p.get('/unified')[0] == b'tls'
        finally:
            for x in (k, p):
                x.stop()
                x.close()
        assert harness.four_letter(u.port, 'ruok') == b'imok'
        assert raw_tls(u.port, 'client') == b'imok'
        log('    TLS and plain kazoo sessions and ruok on one port')
        u.stop_clean()  # exit status: no leak (ASan builds), no crash
    finally:
        u.stop()


def t_want_pkcs12():
    """ssl.clientAuth=want: a client without a certificate is served (no
    identity); the key store is PKCS12, its password in a passwordPath
    file (ending in a newline, which is not part of it), which wins over
    a wrong ssl.keyStore.password."""
    pw = os.path.join(harness.make_tmp_dir('pw'), 'keystore.pw')
    with open(pw, 'w') as f:
        f.write(tlscerts.PASSWORD + '\n')
    w = start('want', tls_config({'ssl.clientAuth': 'want',
                                  'ssl.keyStore.location': c('server.p12'),
                                  'ssl.keyStore.password': 'wrong',
                                  'ssl.keyStore.passwordPath': pw,
                                  'ssl.keyStore.type': 'PKCS12'}))
    try:
        k = kazoo(sport(w))  # no certificate
        try:
            k.create('/want', b'anon')
        finally:
            k.stop()
            k.close()
        assert raw_tls(sport(w), 'client') == b'imok'
        refused(sport(w), 'rogue')
        log('    want: served without a certificate, a bad one still refused')
        w.stop_clean()  # exit status: no leak (ASan builds), no crash
    finally:
        w.stop()


def t_default_provider():
    """Without authProvider.x509 the x509 provider is there all the same
    (ZooKeeper's QuorumPeerConfig.configureSSLAuth registers it)."""
    cfg = tls_config()
    del cfg['authProvider.x509']
    n = start('noprovider', cfg)
    try:
        k = kazoo(sport(n), 'client')
        try:
            k.create('/dflt', b'x', acl=[make_acl('x509', tlscerts.DN['client'], read=True)])
            assert k.get('/dflt')[0] == b'x'
        finally:
            k.stop()
            k.close()
        log('    x509 identity and ACL without authProvider.x509')
        n.stop_clean()  # exit status: no leak (ASan builds), no crash
    finally:
        n.stop()


def t_ciphers_and_tls13():
    """ssl.ciphersuites narrows the TLS 1.2 suites; with TLSv1.3 enabled
    and ZooKeeper's default suites (no TLS 1.3 suite among them) a
    TLS 1.3-only client is refused."""
    x = start('ciphers', tls_config({
        'ssl.ciphersuites': 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
        'ssl.enabledProtocols': 'TLSv1.2,TLSv1.3'}))
    try:
        def attempt(cipher=None, version=None):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.load_verify_locations(c('ca.pem'))
            ctx.load_cert_chain(c('client.crt'), c('client.key'))
            if cipher:
                ctx.set_ciphers(cipher)
            if version:
                ctx.minimum_version = ctx.maximum_version = version
            try:
                with socket.create_connection(('127.0.0.1', sport(x)), timeout=15) as raw:
                    with ctx.wrap_socket(raw) as s:
                        s.settimeout(15)
                        s.sendall(b'ruok')
                        return s.recv(4), s.version(), s.cipher()[0]
            except (ssl.SSLError, OSError) as e:
                return e
        ok = attempt('ECDHE-ECDSA-AES256-GCM-SHA384', ssl.TLSVersion.TLSv1_2)
        no = attempt('ECDHE-ECDSA-AES128-GCM-SHA256', ssl.TLSVersion.TLSv1_2)
        t13 = attempt(version=ssl.TLSVersion.TLSv1_3)
        log('    AES256-GCM: %r; AES128-GCM: %r; TLS 1.3 only: %r' % (ok, no, t13))
        assert isinstance(ok, tuple) and ok[0] == b'imok', ok
        assert isinstance(no, Exception), no
        assert isinstance(t13, Exception), t13
        x.stop_clean()  # exit status: no leak (ASan builds), no crash
    finally:
        x.stop()


def t_tls13():
    """ssl.protocol=TLSv1.3 with TLS 1.3 suites: TLS 1.3 served (kazoo and a
    raw socket), TLS 1.2 refused."""
    x = start('tls13', tls_config({
        'ssl.protocol': 'TLSv1.3',
        'ssl.ciphersuites': 'TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384'}))
    try:
        r13 = raw_tls(sport(x), 'client', version=ssl.TLSVersion.TLSv1_3)
        r12 = raw_tls(sport(x), 'client', version=ssl.TLSVersion.TLSv1_2)
        log('    TLS 1.3: %r; TLS 1.2: %r' % (r13, r12))
        assert r13 == b'imok', r13
        assert isinstance(r12, Exception), r12
        k = kazoo(sport(x), 'client')
        try:
            k.create('/tls13', b'')
        finally:
            k.stop()
            k.close()
        x.stop_clean()  # exit status: no leak (ASan builds), no crash
    finally:
        x.stop()


class SecureOnly(harness.Server):
    """A server with secureClientPort and no clientPort (zoo.cfg without
    the harness's clientPort lines); ready once srvr over TLS has a Mode
    (ZooKeeper answers ruok before its ZooKeeperServer runs: the harness's
    _ready)."""

    def _write_cfg(self):
        path, sysprops = super()._write_cfg()
        with open(path) as f:
            lines = [x for x in f if not x.startswith(('clientPort=', 'clientPortAddress='))]
        with open(path, 'w') as f:
            f.writelines(lines)
        return path, sysprops

    def _ready(self):
        if self.proc.poll() is not None:
            raise harness.ServerStartError('exited with status %d during start-up'
                                           % self.proc.returncode)
        r = raw_tls(int(self.config['secureClientPort']), 'client', b'srvr')
        return isinstance(r, bytes) and b'Mode:' in r


def t_secure_only():
    """secureClientPort without clientPort: TLS only; conf says clientPort=-1."""
    x = SecureOnly(ARGS.server, cheetah_bin=ARGS.cheetah_bin, config=tls_config(),
                   name='secureonly')
    SERVERS.append(x)
    x.start()
    try:
        k = kazoo(sport(x), 'client')
        try:
            k.create('/only', b'tls')
        finally:
            k.stop()
            k.close()
        conf = raw_tls(sport(x), 'client', b'conf')
        assert isinstance(conf, bytes), conf
        assert b'clientPort=-1\n' in conf, conf
        assert ('secureClientPort=%d\n' % sport(x)).encode() in conf, conf
        log('    TLS only: kazoo served, conf says clientPort=-1, secureClientPort=%d'
            % sport(x))
        x.stop_clean()  # exit status: no leak (ASan builds), no crash
    finally:
        x.stop()


# ---- Cheetah only ----

def t_reload():
    d = harness.make_tmp_dir('tls-reload')
    live = os.path.join(d, 'server.pem')
    shutil.copy(c('server.pem'), live)
    r = start('reload', tls_config({'ssl.keyStore.location': live,
                                    'client.certReload': 'true'}))
    try:
        def subject():
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.load_verify_locations(c('ca.pem'))
            ctx.load_cert_chain(c('client.crt'), c('client.key'))
            with socket.create_connection(('127.0.0.1', sport(r)), timeout=10) as raw:
                with ctx.wrap_socket(raw) as s:
                    return dict(x[0] for x in s.getpeercert()['subject'])
        assert 'organizationName' not in subject()
        k = kazoo(sport(r), 'client')
        tmp = live + '.new'
        shutil.copy(c('server2.pem'), tmp)
        os.rename(tmp, live)
        harness.wait_until(lambda: subject().get('organizationName') == 'Reloaded', 30,
                           'the new server certificate')
        k.create('/still-open', b'')  # the session made before the reload goes on
        k.stop()
        k.close()
        log('    new connections see the new certificate; the old session goes on')
        r.stop_clean()  # exit status: no leak (ASan builds), no crash
    finally:
        r.stop()


def check_config_refused(extra, needle):
    d = harness.make_tmp_dir('tls-bad')
    path = os.path.join(d, 'zoo.cfg')
    cfg = {'dataDir': os.path.join(d, 'data'), 'clientPort': 2181}
    cfg.update(extra)
    with open(path, 'w') as f:
        for k, v in cfg.items():
            f.write('%s=%s\n' % (k, v))
    r = subprocess.run([ARGS.cheetah_bin, '--config', path, '--check-config'],
                       capture_output=True, text=True, timeout=30)
    if r.returncode == 0 or needle not in r.stderr:
        raise AssertionError('exit %d, stderr lacks %r:\n%s' % (r.returncode, needle, r.stderr))
    lines = [x for x in r.stderr.splitlines() if needle in x]
    log('    exit %d: %s' % (r.returncode, lines[0]))


def t_startup_refusals():
    jks = os.path.join(harness.make_tmp_dir('jks'), 'keystore.jks')
    open(jks, 'wb').close()
    base = {'secureClientPort': 2281, 'ssl.keyStore.location': c('server.pem')}
    check_config_refused(dict(base, **{'ssl.keyStore.location': jks}), 'keytool -importkeystore')
    check_config_refused(dict(base, **{'cheetah.dataplane': 'dpdk',
                                       'cheetah.port.ip': '10.0.0.1'}),
                         'TLS is served by the sock backend only')
    check_config_refused({'secureClientPort': 2281}, 'needs ssl.keyStore.location')


def main():
    global ARGS, CERTS, S
    ARGS = harness.arg_parser(__doc__.split('\n')[0]).parse_args()
    CERTS = tlscerts.make()
    status = 1
    try:
        S = start('tls', tls_config({
            'X509AuthenticationProvider.superUser': tlscerts.DN['client2']}))
        tests = [('kazoo_tls', t_kazoo_tls), ('x509_acl', t_x509_acl),
                 ('refusals', t_refusals), ('four_letter_words', t_four_letter_words),
                 ('plain_on_secure_port', t_plain_on_secure_port), ('protocol', t_protocol),
                 ('java_client', t_java_client), ('dn_matches_java', t_dn_matches_java),
                 ('port_unification', t_port_unification), ('want_pkcs12', t_want_pkcs12),
                 ('default_provider', t_default_provider),
                 ('ciphers_and_tls13', t_ciphers_and_tls13), ('secure_only', t_secure_only),
                 ('tls13', t_tls13)]
        if ARGS.server == 'cheetah':
            tests += [('reload', t_reload), ('startup_refusals', t_startup_refusals)]
        tests += [('clean_shutdown', S.stop_clean)]
        status = harness.run_tests(tests, ARGS, servers=SERVERS)
    finally:
        for s in SERVERS:
            s.cleanup()
    sys.exit(status)


if __name__ == '__main__':
    main()
