# SPDX-License-Identifier: Apache-2.0
"""A real MIT Kerberos KDC for the integration tests (issue 11, part 4).

Why: the GSSAPI tests must show that a ZooKeeper-protocol server accepts
the tickets a real KDC issues and refuses expired or foreign ones, so
they need a KDC, not a mock.  Debian's krb5-kdc is started here with a
realm of its own (CHEETAH.TEST by default) in a temporary directory:

- its own krb5.conf and kdc.conf, named by KRB5_CONFIG and
  KRB5_KDC_PROFILE in the environment of every tool and client started
  through env() (never /etc/krb5.conf, never /etc/krb5kdc); a JVM reads
  neither variable, so jvm_flags() names the krb5.conf with
  -Djava.security.krb5.conf;
- a database made by kdb5_util, principals and keytabs made by
  kadmin.local (no kadmind: kadmin.local writes the database directly);
- krb5kdc in the foreground (-n) on a free loopback port, UDP and TCP on
  the same number; readiness is polled (the log's "commencing operation",
  then a TCP connect) with a deadline; a port taken in between is
  retried on another one;
- TCP preferred by clients (udp_preference_limit = 1), no DNS, no
  reverse lookups (the service principal is zookeeper/localhost), a
  clock skew of CLOCKSKEW seconds so that an expired ticket is refused
  a few seconds after its end, not five minutes later;
- credential caches are files in the directory, one per kinit (callers
  put the path in KRB5CCNAME).

The KDC is killed and the directory removed by stop(), at exit and on
SIGTERM/SIGINT (through harness's cleanup), and the KDC dies with the
test process (PR_SET_PDEATHSIG).  A missing binary fails start() with a
message naming it and the Debian package that has it.
"""
import os
import shutil
import socket
import struct
import subprocess
import time

import harness
from harness import log, wait_until

# binary -> Debian package
BINARIES = {
    'krb5kdc': 'krb5-kdc',
    'kdb5_util': 'krb5-kdc',
    'kadmin.local': 'krb5-admin-server',
    'kinit': 'krb5-user',
    'klist': 'krb5-user',
    'kvno': 'krb5-user',
}
SBIN = ('/usr/sbin', '/usr/bin', '/sbin', '/bin')
# Seconds a ticket may be past its end (or an authenticator off the
# server's clock) and still be accepted: krb5.conf's clockskew, read by
# MIT's library and by the JVM alike.  Small, so that an expired ticket
# is refused seconds after its end rather than five minutes (the
# default); not tiny, as the authenticator's age when a loaded server
# reads it counts too.
CLOCKSKEW = 10
TOOL_TIMEOUT = 60


def _which(name):
    found = shutil.which(name)
    if found:
        return found
    for d in SBIN:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


class KrbError(RuntimeError):
    pass


def _udp_tcp_port():
    """A port number free for both TCP and UDP on 127.0.0.1 a moment ago."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(('127.0.0.1', 0))
            port = t.getsockname()[1]
            try:
                u.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port
        finally:
            t.close()
            u.close()
    raise KrbError('no loopback port free for both TCP and UDP')


class KDC:
    """One KDC and its realm.  start() before anything else; principals
    with add_principal(); credential caches with kinit()."""

    def __init__(self, realm='CHEETAH.TEST', name='kdc'):
        self.realm = realm
        self.name = name
        self.dir = None
        self.port = None
        self.proc = None
        self._logf = None
        self.bins = {}
        self._ccaches = 0

    # ---- paths and environment ---------------------------------------

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def krb5_conf(self):
        return self.path('krb5.conf')

    @property
    def kdc_conf(self):
        return self.path('kdc.conf')

    def env(self, ccache=None, base=None):
        """The environment for a Kerberos client, tool or server process:
        base (default os.environ) with this realm's configuration, a
        replay cache directory of its own and, given a ccache path,
        KRB5CCNAME."""
        e = dict(os.environ if base is None else base)
        e.update({
            'KRB5_CONFIG': self.krb5_conf,
            'KRB5_KDC_PROFILE': self.kdc_conf,
            'KRB5RCACHEDIR': self.path('rcache'),
            # a default keytab nobody uses: never /etc/krb5.keytab
            'KRB5_KTNAME': 'FILE:' + self.path('none.keytab'),
            # no trace on stdout unless asked for
        })
        e.pop('KRB5_TRACE', None)
        if os.environ.get('CHEETAH_KRB5_TRACE'):
            e['KRB5_TRACE'] = os.environ['CHEETAH_KRB5_TRACE']
        if ccache:
            e['KRB5CCNAME'] = 'FILE:' + ccache
        else:
            e['KRB5CCNAME'] = 'FILE:' + self.path('no-such-ccache')
        return e

    def jvm_flags(self):
        """JVM flags naming this realm's krb5.conf (the JVM ignores
        KRB5_CONFIG)."""
        return ['-Djava.security.krb5.conf=' + self.krb5_conf]

    # ---- life cycle ---------------------------------------------------

    def _find_binaries(self):
        missing = []
        for b, pkg in BINARIES.items():
            p = _which(b)
            if not p:
                missing.append('%s (Debian package %s)' % (b, pkg))
            self.bins[b] = p
        if missing:
            raise KrbError('Kerberos tests need: ' + ', '.join(missing))

    def _write_conf(self):
        r = self.realm
        with open(self.krb5_conf, 'w') as f:
            f.write('''[libdefaults]
    default_realm = {r}
    dns_lookup_realm = false
    dns_lookup_kdc = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    clockskew = {skew}
    ticket_lifetime = 1h
    renew_lifetime = 0
    forwardable = false
    default_ccache_name = FILE:{d}/no-such-ccache
    default_keytab_name = FILE:{d}/none.keytab
    default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
    default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
    permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96

[realms]
    {r} = {{
        kdc = 127.0.0.1:{port}
        admin_server = 127.0.0.1:{port}
    }}

[domain_realm]
    localhost = {r}
'''.format(r=r, d=self.dir, port=self.port, skew=CLOCKSKEW))
        with open(self.kdc_conf, 'w') as f:
            f.write('''[kdcdefaults]
    kdc_ports = {port}
    kdc_tcp_ports = {port}
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}

[realms]
    {r} = {{
        database_name = {d}/principal
        key_stash_file = {d}/stash
        acl_file = {d}/kadm5.acl
        max_life = 1h
        max_renewable_life = 0
        default_principal_flags = +preauth
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
        kdc_listen = 127.0.0.1:{port}
        kdc_tcp_listen = 127.0.0.1:{port}
    }}

[logging]
    kdc = FILE:{d}/kdc.log
    admin_server = FILE:{d}/kadmin.log
    default = FILE:{d}/krb5lib.log
'''.format(r=r, d=self.dir, port=self.port))
        with open(self.path('kadm5.acl'), 'w') as f:
            f.write('')

    def _tool(self, argv, what, input=None, env=None):
        r = subprocess.run(argv, input=input, capture_output=True, text=True,
                           timeout=TOOL_TIMEOUT, env=env or self.env(),
                           stdin=None if input is not None else subprocess.DEVNULL)
        if r.returncode != 0:
            raise KrbError('%s failed (%s exited %d):\n%s%s' % (
                what, os.path.basename(argv[0]), r.returncode, r.stdout, r.stderr))
        return r.stdout + r.stderr

    def kadmin(self, query):
        """Run one kadmin.local query; returns its output."""
        return self._tool([self.bins['kadmin.local'], '-r', self.realm, '-q', query],
                          'kadmin.local -q %r' % query)

    def _kdc_log(self):
        try:
            with open(self.path('kdc.log'), errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def _ready(self):
        if self.proc.poll() is not None:
            raise KrbError('krb5kdc exited with status %d during start-up:\n%s' % (
                self.proc.returncode, self._kdc_log()[-2000:] + self._stderr()))
        if 'commencing operation' not in self._kdc_log():
            return False
        try:
            socket.create_connection(('127.0.0.1', self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def _stderr(self):
        try:
            with open(self.path('krb5kdc.out'), errors='replace') as f:
                return f.read()[-2000:]
        except OSError:
            return ''

    def start(self, timeout=30.0):
        self._find_binaries()
        self.dir = harness.make_tmp_dir('krb')
        os.makedirs(self.path('rcache'))
        harness.cleanup_hooks.append(self.stop)
        last = None
        for attempt in range(5):
            self.port = _udp_tcp_port()
            self._write_conf()
            if attempt == 0:
                # kdb5_util asks for the master password twice on stdin
                # without -P; -P keeps it off the terminal.
                self._tool([self.bins['kdb5_util'], '-r', self.realm, 'create', '-s',
                            '-P', 'cheetah-test-master'], 'kdb5_util create')
            for f in ('kdc.log', 'krb5kdc.out'):
                try:
                    os.unlink(self.path(f))
                except FileNotFoundError:
                    pass
            self._logf = open(self.path('krb5kdc.out'), 'wb')
            self.proc = subprocess.Popen(
                [self.bins['krb5kdc'], '-n', '-r', self.realm], env=self.env(),
                stdin=subprocess.DEVNULL, stdout=self._logf, stderr=subprocess.STDOUT,
                cwd=self.dir, preexec_fn=harness._pdeathsig)
            try:
                wait_until(self._ready, timeout, 'krb5kdc to listen on %d' % self.port,
                           interval=0.02)
                log('[krb] KDC for %s on 127.0.0.1:%d (udp+tcp, pid %d), dir %s' % (
                    self.realm, self.port, self.proc.pid, self.dir))
                return self
            except (KrbError, harness.Timeout) as e:
                last = e
                self._kill()
                text = self._kdc_log() + self._stderr()
                if 'Address already in use' not in text:
                    break
                log('[krb] port %d taken, retrying' % self.port)
        raise KrbError('krb5kdc did not start: %s' % last)

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._logf:
            self._logf.close()
            self._logf = None

    def stop(self):
        """Kill the KDC and remove its directory (KEEP_TMP=1 keeps it).
        Idempotent."""
        self._kill()
        self.proc = None
        if self.dir and not os.environ.get('KEEP_TMP'):
            shutil.rmtree(self.dir, ignore_errors=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- principals, keytabs, tickets ---------------------------------

    def principal(self, name):
        """name@REALM unless name already has a realm."""
        return name if '@' in name else '%s@%s' % (name, self.realm)

    def add_principal(self, name, password=None, keytab=None, maxlife=None):
        """Create a principal: with a password, or a random key when
        password is None.  keytab: a file name in the directory (or an
        absolute path) to export its current keys to (-norandkey: the
        keys stay the ones the KDC has).  maxlife: the longest ticket the
        KDC issues for or to it, e.g. '8 seconds'.  Returns the keytab's
        path or None."""
        opts = ''
        if maxlife:
            opts += ' -maxlife "%s"' % maxlife
        p = self.principal(name)
        if password is None:
            self.kadmin('addprinc -randkey%s %s' % (opts, p))
        else:
            self.kadmin('addprinc -pw %s%s %s' % (password, opts, p))
        if keytab:
            return self.export_keytab(name, keytab)
        return None

    def export_keytab(self, name, keytab):
        path = keytab if os.path.isabs(keytab) else self.path(keytab)
        self.kadmin('ktadd -norandkey -k %s %s' % (path, self.principal(name)))
        return path

    def rekey(self, name):
        """Give a principal new random keys (a new kvno): keytabs exported
        before hold keys the KDC no longer issues tickets with."""
        self.kadmin('cpw -randkey %s' % self.principal(name))

    def new_ccache(self, tag):
        self._ccaches += 1
        return self.path('cc-%d-%s' % (self._ccaches, tag.replace('/', '_')))

    def kinit(self, name, keytab=None, password=None, lifetime=None, ccache=None):
        """Get a TGT for name into a new (or the given) file credential
        cache, from a keytab or a password; returns the cache's path.
        Raises KrbError when the KDC refuses."""
        cc = ccache or self.new_ccache(name)
        argv = [self.bins['kinit'], '-c', 'FILE:' + cc]
        if lifetime:
            argv += ['-l', lifetime]
        if keytab:
            argv += ['-k', '-t', keytab]
        argv.append(self.principal(name))
        self._tool(argv, 'kinit %s' % name, input=None if keytab else password + '\n',
                   env=self.env(cc))
        return cc

    def klist(self, ccache):
        return self._tool([self.bins['klist'], '-c', 'FILE:' + ccache], 'klist',
                          env=self.env(ccache))

    def ccache_valid(self, ccache):
        """klist -s: the cache holds a ticket that has not expired."""
        r = subprocess.run([self.bins['klist'], '-s', '-c', 'FILE:' + ccache],
                           env=self.env(ccache), timeout=TOOL_TIMEOUT,
                           stdin=subprocess.DEVNULL, capture_output=True)
        return r.returncode == 0

    def ticket_end(self, ccache):
        """The latest end time (Unix seconds) of a ticket in the cache,
        read from the file (format version 4, RFC-less but stable since
        krb5 1.0: docs 'ccache_file_format')."""
        return max(c['end'] for c in read_fcc(ccache)['creds'])

    def wait_expired(self, ccache, slack=CLOCKSKEW + 1, timeout=60.0):
        """Wait (polling, bounded) until every ticket in the cache is past
        its end by more than the clock skew the servers allow."""
        end = self.ticket_end(ccache)
        wait_until(lambda: time.time() > end + slack, timeout,
                   'the tickets in %s to expire (end %d + %ds)' % (
                       os.path.basename(ccache), end, slack), interval=0.1)

    def log_tail(self, n=30):
        lines = self._kdc_log().splitlines()
        return '---- KDC log (%s), last %d lines ----\n%s' % (
            self.path('kdc.log'), min(n, len(lines)), '\n'.join(lines[-n:]))


# ---- the file credential cache (FILE:), version 4 ----------------------------

def _read_fcc_header(b):
    if len(b) < 4 or b[0] != 5 or b[1] != 4:
        raise KrbError('not a version 4 file credential cache')
    hlen = struct.unpack_from('>H', b, 2)[0]
    return 4 + hlen


def read_fcc(path):
    """Parse a FILE: credential cache (version 4): the default principal
    and each credential's times.  Only what the tests need."""
    with open(path, 'rb') as f:
        b = f.read()
    off = _read_fcc_header(b)

    def u32():
        nonlocal off
        v = struct.unpack_from('>I', b, off)[0]
        off += 4
        return v

    def u16():
        nonlocal off
        v = struct.unpack_from('>H', b, off)[0]
        off += 2
        return v

    def data():
        nonlocal off
        n = u32()
        if off + n > len(b):
            raise KrbError('truncated credential cache')
        v = b[off:off + n]
        off += n
        return v

    def principal():
        u32()  # name type
        n = u32()
        realm = data().decode()
        comps = [data().decode() for _ in range(n)]
        return '/'.join(comps) + '@' + realm

    default = principal()
    creds = []
    while off < len(b):
        client = principal()
        server = principal()
        u16()  # keyblock enctype
        data()  # key
        u32()  # authtime
        start, end = u32(), u32()
        u32()  # renew till
        off += 1  # is_skey
        u32()  # ticket flags
        for _ in range(u32()):  # addresses
            u16()
            data()
        for _ in range(u32()):  # authdata
            u16()
            data()
        data()  # ticket
        data()  # second ticket
        creds.append({'client': client, 'server': server, 'start': start, 'end': end})
    return {'default': default, 'creds': creds}


def set_fcc_time_offset(path, seconds):
    """Write a KDC time offset into a file credential cache's header
    (tag 1, "DeltaTime").  MIT's library (kdc_timesync, on by default)
    adds it to the local clock for everything it does with this cache:
    with a negative offset the client believes an expired ticket is still
    valid and presents it, so that the server, not the client, has to
    refuse it."""
    with open(path, 'rb') as f:
        b = f.read()
    off = _read_fcc_header(b)
    hdr = struct.pack('>HHii', 1, 8, int(seconds), 0)
    with open(path, 'wb') as f:
        f.write(b'\x05\x04' + struct.pack('>H', len(hdr)) + hdr + b[off:])
