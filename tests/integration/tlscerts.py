# SPDX-License-Identifier: Apache-2.0
"""Certificates for the TLS tests, made with the openssl command line in a
temporary directory (harness.make_tmp_dir, removed at exit):

  ca            the CA both servers and clients trust (ca.pem)
  server        CN=localhost, SAN IP:127.0.0.1 + DNS:localhost, signed by ca:
                server.pem (key then certificate: ZooKeeper's PEM key
                store), server.crt, server.key, server.p12 (password 'secret')
  client        C=US, O=Acme, Inc, OU=dev, CN=client one (a comma to escape
                in the DN) signed by ca: client.crt, client.key, client.pem
  client2       CN=client two, signed by ca (the tests' x509 superUser)
  client3       CN=client three, emailAddress=three@example.com, signed by ca
  rogue         CN=client one again, signed by another CA (wrongca.pem)
  expired       CN=client expired, signed by ca, valid only in January 2020
  server2       a second server certificate (CN=localhost, O=Reloaded) for
                the reload test
  member        a quorum member's certificate (sslQuorum): CN=localhost, SAN
                IP:127.0.0.1 + DNS:localhost, serverAuth and clientAuth (a
                member is both ends of TLS), signed by ca: member.pem (key
                then certificate), member.p12 (password 'secret')
  rogue_member  the same, signed by wrongca: rogue_member.pem

EC P-256 keys: quick to make, and ZooKeeper's default cipher suites
(ECDHE_ECDSA first) take them.
"""
import os
import subprocess

import harness

SUBJECTS = {
    'client': '/C=US/O=Acme, Inc/OU=dev/CN=client one',
    'client2': '/CN=client two',
    'client3': '/CN=client three/emailAddress=three@example.com',
    'rogue': '/C=US/O=Acme, Inc/OU=dev/CN=client one',
    'expired': '/CN=client expired',
}
# The identities X500Principal.getName() gives those subjects (checked
# against Java itself by test_tls.py's dn_matches_java).
DN = {
    'client': 'CN=client one,OU=dev,O=Acme\\, Inc,C=US',
    'client2': 'CN=client two',
    # emailAddress has no RFC 2253 keyword in Java: OID=#DER hex
    'client3': '1.2.840.113549.1.9.1=#16117468726565406578616d706c652e636f6d,CN=client three',
}
PASSWORD = 'secret'


def _run(d, *args, stdin=None):
    r = subprocess.run(['openssl'] + list(args), cwd=d, capture_output=True, text=True,
                       input=stdin, timeout=60)
    if r.returncode != 0:
        raise AssertionError('openssl %s failed:\n%s%s' % (' '.join(args), r.stdout, r.stderr))
    return r.stdout


def _key_csr(d, name, subj):
    _run(d, 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
         '-nodes', '-keyout', name + '.key', '-out', name + '.csr', '-subj', subj)


def _ca(d, name, subj):
    _run(d, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
         '-nodes', '-keyout', name + '.key', '-out', name + '.pem', '-days', '3650',
         '-subj', subj, '-addext', 'basicConstraints=critical,CA:TRUE',
         '-addext', 'keyUsage=critical,keyCertSign,cRLSign')


def _sign(d, name, ca, ext):
    with open(os.path.join(d, name + '.ext'), 'w') as f:
        f.write(ext)
    _run(d, 'x509', '-req', '-in', name + '.csr', '-CA', ca + '.pem', '-CAkey', ca + '.key',
         '-CAcreateserial', '-out', name + '.crt', '-days', '365', '-sha256',
         '-extfile', name + '.ext')


def _pem(d, name):
    """key then certificate in one file, ZooKeeper's PEM key store."""
    with open(os.path.join(d, name + '.pem'), 'w') as out:
        for part in (name + '.key', name + '.crt'):
            with open(os.path.join(d, part)) as f:
                out.write(f.read())


def _expired(d, name):
    # openssl x509 -req cannot back-date; openssl ca can.
    for f, text in (('index.txt', ''), ('serial', '1000\n')):
        with open(os.path.join(d, f), 'w') as fp:
            fp.write(text)
    with open(os.path.join(d, 'ca.cnf'), 'w') as f:
        f.write('[ca]\ndefault_ca = mine\n[mine]\ndir = .\ndatabase = index.txt\n'
                'new_certs_dir = .\nserial = serial\ndefault_md = sha256\n'
                'policy = any\nunique_subject = no\n[any]\ncommonName = supplied\n'
                '[ext]\nextendedKeyUsage = clientAuth\n')
    _run(d, 'ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key',
         '-in', name + '.csr', '-out', name + '.crt', '-notext', '-extensions', 'ext',
         '-startdate', '20200101000000Z', '-enddate', '20200201000000Z')


def make():
    """Makes every certificate; returns the directory."""
    d = harness.make_tmp_dir('tls')
    _ca(d, 'ca', '/CN=Cheetah Test CA')
    _ca(d, 'wrongca', '/CN=Some Other CA')
    srv_ext = ('subjectAltName = IP:127.0.0.1, DNS:localhost\n'
               'extendedKeyUsage = serverAuth\n')
    cli_ext = 'extendedKeyUsage = clientAuth\n'
    _key_csr(d, 'server', '/CN=localhost')
    _sign(d, 'server', 'ca', srv_ext)
    _pem(d, 'server')
    _key_csr(d, 'server2', '/O=Reloaded/CN=localhost')
    _sign(d, 'server2', 'ca', srv_ext)
    _pem(d, 'server2')
    _run(d, 'pkcs12', '-export', '-inkey', 'server.key', '-in', 'server.crt',
         '-certfile', 'ca.pem', '-out', 'server.p12', '-passout', 'pass:' + PASSWORD)
    for name in ('client', 'client2', 'client3', 'expired'):
        _key_csr(d, name, SUBJECTS[name])
    for name in ('client', 'client2', 'client3'):
        _sign(d, name, 'ca', cli_ext)
    _key_csr(d, 'rogue', SUBJECTS['rogue'])
    _sign(d, 'rogue', 'wrongca', cli_ext)
    _expired(d, 'expired')
    member_ext = ('subjectAltName = IP:127.0.0.1, DNS:localhost\n'
                  'extendedKeyUsage = serverAuth, clientAuth\n')
    for name, ca in (('member', 'ca'), ('rogue_member', 'wrongca')):
        _key_csr(d, name, '/O=Quorum/CN=localhost')
        _sign(d, name, ca, member_ext)
        _pem(d, name)
    _run(d, 'pkcs12', '-export', '-inkey', 'member.key', '-in', 'member.crt',
         '-certfile', 'ca.pem', '-out', 'member.p12', '-passout', 'pass:' + PASSWORD)
    for name in ('client', 'client2', 'client3', 'rogue', 'expired'):
        _pem(d, name)
    return d


def path(d, name):
    return os.path.join(d, name)
