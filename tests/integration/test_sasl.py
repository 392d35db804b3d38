#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""SASL DIGEST-MD5 on the client port, on one server kind, with the same
JAAS file and keys for both: kazoo (pure-sasl), a raw client (zkproto.py
with pure-sasl computing the tokens) and the Java client (Debian's 3.8 jar,
java/ZkSaslClient.java).

Each case starts its own server: the right password is accepted and held to
sasl: ACLs, a wrong one is refused (AUTHFAILED, null token, connection
closed), zookeeper.superUser makes a SASL id super, whoAmI shows the sasl
id, sessionRequireClientSASLAuth refuses unauthenticated requests and
failed SASL with SESSIONCLOSEDREQUIRESASLAUTH (-124), and a sasl ACL the
Kerberos name syntax refuses is INVALIDACL.

    test_sasl.py --server KIND [--cheetah-bin PATH]
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import zkproto as zp  # noqa: E402
from harness import log  # noqa: E402

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import NoAuthError, InvalidACLError  # noqa: E402
from kazoo.protocol.states import KazooState, KeeperState  # noqa: E402
from kazoo.security import make_acl  # noqa: E402
from puresasl.client import SASLClient  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_CP = ['/etc/zookeeper/conf', '/usr/share/java/zookeeper.jar',
             '/usr/share/java/slf4j-log4j12.jar', '/usr/share/java/log4j-1.2.jar']
SASL_PROVIDER = 'org.apache.zookeeper.server.auth.SASLAuthenticationProvider'
USERS = {'bob': 'bobsecret', 'alice': 'alicesecret', 'admin': 'adminsecret'}
ARGS = None
SERVERS = []
TMP = None


def jaas_file():
    path = os.path.join(TMP, 'server-jaas.conf')
    with open(path, 'w') as f:
        f.write('Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n')
        f.write('\n'.join('    user_%s="%s"' % kv for kv in USERS.items()))
        f.write(';\n};\n')
    return path


def server(extra=None):
    cfg = {'java.security.auth.login.config': jaas_file(), 'authProvider.1': SASL_PROVIDER}
    cfg.update(extra or {})
    return start(cfg)


def start(cfg):
    for old in SERVERS:  # the previous case's (kept until now for its log)
        old.stop()
    s = harness.new_server(ARGS, config=cfg, name='sasl')
    SERVERS[:] = [s]
    return s.start()


def kazoo(s, user=None, password=None):
    opts = None
    if user:
        opts = {'mechanism': 'DIGEST-MD5', 'username': user, 'password': password}
    zk = KazooClient(hosts=s.hosts, sasl_options=opts, timeout=10, connection_retry=None)
    zk.start(timeout=15)
    return zk


def raw_sasl(c, user, password, max_steps=5):
    """The exchange kazoo does, on a raw connection: the replies, in order."""
    cli = SASLClient('zk-sasl-md5', service='zookeeper', mechanism='DIGEST-MD5',
                     username=user, password=password)
    replies, challenge = [], None
    for _ in range(max_steps):
        if cli.complete:
            break
        tok = cli.process(challenge)
        if cli.complete and not tok:
            break
        tok = tok or b''
        rep = c.call(zp.OP['sasl'], zp.e_int(len(tok)) + tok)
        replies.append(rep)
        if rep.err:
            break
        challenge = zp.Reader(rep.body).buf_()
    return replies


def kazoo_refused(s, user, password):
    """kazoo gives up (AUTH_FAILED) instead of connecting."""
    zk = KazooClient(hosts=s.hosts, sasl_options={'mechanism': 'DIGEST-MD5', 'username': user,
                                                  'password': password},
                     timeout=10, connection_retry=None)
    seen = []
    # kazoo reports CONNECTED before SASL, then AUTH_FAILED (a LOST state
    # change) and stops connecting.
    zk.add_listener(lambda st: seen.append((st, zk.client_state)))
    zk.start_async()
    try:
        harness.wait_until(lambda: (KazooState.LOST, KeeperState.AUTH_FAILED) in seen, 15,
                           'kazoo AUTH_FAILED as %s' % user)
    finally:
        zk.stop()
        zk.close()


def me(c):
    """The address the server sees (127.0.0.1; the client namespace's on dpdk over veth)."""
    return c.sock.getsockname()[0]


def expect_closed(c):
    try:
        rep = c.call(zp.OP['exists'], zp.r_path_watch('/', False))
    except (zp.ConnectionClosed, ConnectionError):
        return
    raise AssertionError('connection still answers: %r' % (rep,))


def t_right_password_and_acls():
    s = server()
    bob = kazoo(s, 'bob', USERS['bob'])
    bob.create('/b', b'secret', acl=[make_acl('sasl', 'bob', all=True)])
    assert bob.get('/b')[0] == b'secret'
    acl = bob.get_acls('/b')[0]
    assert [(a.id.scheme, a.id.id, a.perms) for a in acl] == [('sasl', 'bob', 31)], acl
    # "auth" expands to the session's sasl id (an authenticated provider).
    bob.create('/b2', b'', acl=[make_acl('auth', '', all=True)])
    assert [(a.id.scheme, a.id.id) for a in bob.get_acls('/b2')[0]] == [('sasl', 'bob')]
    alice = kazoo(s, 'alice', USERS['alice'])
    anon = kazoo(s)
    for who in (alice, anon):
        try:
            who.get('/b')
            raise AssertionError('read /b without being bob')
        except NoAuthError:
            pass
    for zk in (bob, alice, anon):
        zk.stop()
        zk.close()
    log('    bob reads his sasl:bob node; alice and an anonymous session get NOAUTH')


def t_wrong_password_refused():
    s = server()
    kazoo_refused(s, 'bob', 'wrong')
    kazoo_refused(s, 'mallory', 'x')
    c = zp.Conn(s.host, s.port)
    reps = raw_sasl(c, 'bob', 'wrong')
    assert [r.err for r in reps] == [0, zp.ERR['AUTHFAILED']], reps
    assert reps[0].zxid == 0 and reps[1].zxid == 0, reps
    assert reps[1].xid == 2 and reps[1].body == b'\xff\xff\xff\xff', reps[1]  # a null token
    expect_closed(c)
    c.close_socket()
    # Nothing held: a good client still works.
    zk = kazoo(s, 'bob', USERS['bob'])
    zk.get('/')
    zk.stop()
    zk.close()
    log('    wrong password: challenge, then {xid, 0, AUTHFAILED} + null token, closed')


def t_raw_exchange_and_whoami():
    s = server()
    c = zp.Conn(s.host, s.port)
    reps = raw_sasl(c, 'bob', USERS['bob'])
    assert [r.err for r in reps] == [0, 0], reps
    final = zp.Reader(reps[1].body).buf_()
    assert final and final.startswith(b'rspauth='), final
    who = c.call_ok(zp.OP['whoAmI'])[0]
    assert sorted(who) == [('ip', me(c)), ('sasl', 'bob')], who
    # A token after the exchange completed: AUTHFAILED (the SaslServer
    # throws), and the connection goes.
    rep = c.call(zp.OP['sasl'], zp.e_int(0))
    assert (rep.err, rep.body) == (zp.ERR['AUTHFAILED'], b'\xff\xff\xff\xff'), rep
    expect_closed(c)
    c.close_socket()
    # A null token: the connection goes without a reply.
    c = zp.Conn(s.host, s.port)
    c.send(zp.OP['sasl'], zp.e_int(-1))
    expect_closed(c)
    c.close_socket()
    log('    exchange of 2 packets, rspauth in the last; whoAmI %r' % (who,))
    return who


def t_super_user():
    s = server({'superUser': 'admin'})
    d = kazoo(s)
    d.add_auth('digest', 'carol:pw')
    d.create('/c', b'carol', acl=[make_acl('digest', zp.digest_id('carol', 'pw'), all=True)])
    admin = kazoo(s, 'admin', USERS['admin'])
    assert admin.get('/c')[0] == b'carol'
    bob = kazoo(s, 'bob', USERS['bob'])
    try:
        bob.get('/c')
        raise AssertionError('bob is not super')
    except NoAuthError:
        pass
    c = zp.Conn(s.host, s.port)
    raw_sasl(c, 'admin', USERS['admin'])
    who = sorted(c.call_ok(zp.OP['whoAmI'])[0])
    assert who == [('ip', me(c)), ('sasl', 'admin'), ('super', '')], who
    c.close_socket()
    for zk in (d, admin, bob):
        zk.stop()
        zk.close()
    log('    superUser=admin reads a digest-only node; whoAmI %r' % (who,))


def t_require_sasl():
    s = server({'sessionRequireClientSASLAuth': 'true'})
    c = zp.Conn(s.host, s.port)
    rep = c.call(zp.OP['getData'], zp.r_path_watch('/', False))
    assert (rep.err, rep.zxid, rep.body) == (zp.ERR['SESSIONCLOSEDREQUIRESASLAUTH'], 0, b''), rep
    expect_closed(c)
    c.close_socket()
    c = zp.Conn(s.host, s.port)
    reps = raw_sasl(c, 'bob', 'wrong')
    assert [r.err for r in reps] == [0, zp.ERR['SESSIONCLOSEDREQUIRESASLAUTH']], reps
    assert reps[1].body == b'\xff\xff\xff\xff', reps[1]
    expect_closed(c)
    c.close_socket()
    bob = kazoo(s, 'bob', USERS['bob'])
    bob.create('/r', b'ok')
    assert bob.get('/r')[0] == b'ok'
    bob.stop()
    bob.close()
    log('    unauthenticated getData and a failed SASL: -124 and closed; SASL users served')


def t_invalid_sasl_acl():
    s = server()
    zk = kazoo(s, 'bob', USERS['bob'])
    for bad in ('a@b@c', 'a/b/c@R', 'a@R/x'):
        try:
            zk.create('/bad', b'', acl=[make_acl('sasl', bad, all=True)])
            raise AssertionError('sasl:%s accepted' % bad)
        except InvalidACLError:
            pass
    zk.create('/k', b'', acl=[make_acl('sasl', 'kafka/h.example.com@EXAMPLE.COM', read=True)])
    zk.stop()
    zk.close()
    log('    sasl ACL ids that are no Kerberos names: INVALIDACL')


def t_no_provider():
    """Without authProvider the SASL login still works but sasl ACLs are INVALIDACL."""
    s = start({'java.security.auth.login.config': jaas_file()})
    c = zp.Conn(s.host, s.port)
    reps = raw_sasl(c, 'bob', USERS['bob'])
    assert [r.err for r in reps] == [0, 0], reps
    who = sorted(c.call_ok(zp.OP['whoAmI'])[0])
    assert who == [('ip', me(c)), ('sasl', '')], who
    rep = c.call(zp.OP['create'], zp.r_create('/x', b'', [(31, 'sasl', 'bob')], 0))
    assert rep.err == zp.ERR['INVALIDACL'], rep
    c.close_socket()
    log('    no SASLAuthenticationProvider: whoAmI %r, sasl ACL INVALIDACL' % (who,))


def t_bad_tokens():
    """Random DIGEST-MD5 responses (seeded): each refused alone, the server stays."""
    import random
    rnd = random.Random(11)
    s = server()
    for i in range(100):
        c = zp.Conn(s.host, s.port)
        first = c.call(zp.OP['sasl'], zp.e_int(0))
        assert first.err == 0, first
        n = rnd.choice([0, 1, 17, 300, 4096, 60000])
        junk = bytes(rnd.getrandbits(8) for _ in range(n))
        if i % 3 == 0:  # something close to a real response
            junk = b'username="bob",realm="zk-sasl-md5",nonce="x",' + junk[:200]
        rep = c.call(zp.OP['sasl'], zp.e_int(len(junk)) + junk)
        assert (rep.err, rep.body) == (zp.ERR['AUTHFAILED'], b'\xff\xff\xff\xff'), (i, rep)
        expect_closed(c)
        c.close_socket()
    assert s.ruok()
    zk = kazoo(s, 'bob', USERS['bob'])
    zk.get('/')
    zk.stop()
    zk.close()
    if ARGS.server == 'cheetah':
        # Failures are logged at most once per 10 s, whatever their rate.
        lines = [x for x in s.read_log().splitlines()
                 if 'failed to SASL authenticate' in x or ' WARN sasl:' in x
                 or 'after a failed auth' in x]
        assert len(lines) <= 6, '%d lines about 100 failures:\n%s' % (len(lines), '\n'.join(lines))
        log('    %d log lines about the 100 failures' % len(lines))
    log('    100 random DIGEST-MD5 responses: AUTHFAILED and closed each; bob still logs in')


def t_bad_jaas_file():
    """Cheetah: a JAAS syntax error stops the start with file:line, exit 1."""
    if ARGS.server != 'cheetah':
        log("    (Cheetah only: the message is Cheetah's own)")
        return
    d = harness.make_tmp_dir('sasl-badjaas')
    jaas = os.path.join(d, 'jaas.conf')
    with open(jaas, 'w') as f:
        f.write('Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n'
                '    user_bob="bobsecret"\n};\n')
    cfg = os.path.join(d, 'zoo.cfg')
    with open(cfg, 'w') as f:
        f.write('dataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n'
                'admin.enableServer=false\njava.security.auth.login.config=%s\n'
                % (os.path.join(d, 'data'), harness.free_port(), jaas))
    r = subprocess.run([ARGS.cheetah_bin, '--config', cfg], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    want = "%s:4: expected an option name or ';' in the entry of " \
           "org.apache.zookeeper.server.auth.DigestLoginModule, got '}'" % jaas
    assert r.returncode == 1 and want in r.stderr, (r.returncode, r.stderr[-2000:])
    log('    exit 1: %s' % want)


def java_client(s, user, password, expect):
    classes = harness.make_tmp_dir('javac')
    r = subprocess.run(['javac', '-d', classes, '-cp', '/usr/share/java/zookeeper.jar',
                        os.path.join(HERE, 'java', 'ZkSaslClient.java')],
                       capture_output=True, text=True, timeout=180)
    if r.returncode != 0:
        raise AssertionError('javac failed:\n' + r.stdout + r.stderr)
    jaas = os.path.join(TMP, 'client-jaas-%s.conf' % user)
    with open(jaas, 'w') as f:
        f.write('Client {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n'
                '    username="%s" password="%s";\n};\n' % (user, password))
    r = subprocess.run(['java', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC',
                        '-Dzookeeper.root.logger=WARN,CONSOLE',
                        '-Djava.security.auth.login.config=' + jaas,
                        '-cp', ':'.join([classes] + CLIENT_CP), 'ZkSaslClient', s.hosts, expect],
                       capture_output=True, text=True, timeout=180)
    sys.stdout.write(r.stdout)
    if r.returncode != 0:
        raise AssertionError('ZkSaslClient exited %d; stderr:\n%s' % (r.returncode, r.stderr[-3000:]))
    return r.stdout


def t_java_client():
    s = server()
    out = java_client(s, 'bob', USERS['bob'], 'ok')
    assert 'whoAmI sasl:bob' in out and 'read /j ok' in out, out
    out = java_client(s, 'bob', 'wrong', 'authfailed')
    assert 'AuthFailed' in out, out
    log('    Java client: right password held to sasl:bob, wrong one AuthFailed')


def main():
    global ARGS, TMP
    ARGS = harness.arg_parser(__doc__.split('\n')[0]).parse_args()
    TMP = harness.make_tmp_dir('sasl-keys')
    tests = [
        ('right password, sasl ACLs', t_right_password_and_acls),
        ('wrong password refused', t_wrong_password_refused),
        ('raw exchange, whoAmI', t_raw_exchange_and_whoami),
        ('superUser', t_super_user),
        ('sessionRequireClientSASLAuth', t_require_sasl),
        ('invalid sasl ACL', t_invalid_sasl_acl),
        ('no SASL provider', t_no_provider),
        ('bad tokens', t_bad_tokens),
        ('bad JAAS file', t_bad_jaas_file),
        ('java client', t_java_client),
    ]
    return harness.run_tests(tests, ARGS, servers=SERVERS)


if __name__ == '__main__':
    sys.exit(main())
