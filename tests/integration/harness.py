# SPDX-License-Identifier: Apache-2.0
"""Integration-test harness: start, stop and crash ZooKeeper-protocol servers.

A Server is either "cheetah" (the binary built by meson, path given with
--cheetah-bin) or "zookeeper" (Apache ZooKeeper from the Debian package,
run as ZooKeeperServerMain).  Each server gets a free loopback port, its
own temporary data directory and a zoo.cfg written from a dict of settings;
readiness is polled with a deadline (cheetah: its "serving on" line, then a
TCP connect; zookeeper: "ruok" answered "imok", srvr saying its Mode
and, with a secureClientPort, its log saying that port is served).  Every
process and directory created here is removed on stop(), at exit, on
SIGTERM/SIGINT (meson's timeout), and the server is killed by the kernel if
this Python process dies first (PR_SET_PDEATHSIG).

Nothing here sleeps to synchronise: wait_until() polls a condition with a
deadline.  Runs under /usr/bin/python3 (Debian's, which has kazoo).

Also here: a tiny test runner (run_tests) shared by the test scripts, so
that each script is one meson test whose log names every sub-test.
"""
import argparse
import atexit
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))

ZK_CLASSPATH = ':'.join([
    # What zkEnv.sh puts on the classpath (the conf dir for
    # log4j.properties, the server jar whose manifest pulls in its
    # dependencies) plus the slf4j -> log4j 1.2 binding, so the server's
    # log reaches our log file instead of slf4j's NOP logger.
    '/etc/zookeeper/conf',
    '/usr/share/java/zookeeper.jar',
    '/usr/share/java/slf4j-log4j12.jar',
    '/usr/share/java/log4j-1.2.jar',
])
ZK_MAIN = 'org.apache.zookeeper.server.ZooKeeperServerMain'
# A replica of an ensemble (zoo.cfg has server.N lines): ensemble.py.
ZK_QUORUM_MAIN = 'org.apache.zookeeper.server.quorum.QuorumPeerMain'
JAVA = '/usr/bin/java'

# Settings ZooKeeper reads only as JVM system properties (not from zoo.cfg);
# Cheetah takes them in zoo.cfg.  key -> system property name.
ZK_SYSPROPS = {
    'jute.maxbuffer': 'jute.maxbuffer',
    'extendedTypesEnabled': 'zookeeper.extendedTypesEnabled',
    'znode.container.checkIntervalMs': 'znode.container.checkIntervalMs',
    'znode.container.maxNeverUsedIntervalMs': 'znode.container.maxNeverUsedIntervalMs',
    'preAllocSize': 'zookeeper.preAllocSize',
    'readonlymode.enabled': 'readonlymode.enabled',
    'DigestAuthenticationProvider.superDigest':
        'zookeeper.DigestAuthenticationProvider.superDigest',
    # The AdminServer (ZooKeeper's JettyAdminServer; Cheetah's adminserver/).
    'admin.enableServer': 'zookeeper.admin.enableServer',
    'admin.serverAddress': 'zookeeper.admin.serverAddress',
    'admin.serverPort': 'zookeeper.admin.serverPort',
    'admin.commandURL': 'zookeeper.admin.commandURL',
    'admin.idleTimeout': 'zookeeper.admin.idleTimeout',
    # The JAAS file is the JVM's own property (Cheetah: a zoo.cfg key too).
    'java.security.auth.login.config': 'java.security.auth.login.config',
}
# What ZooKeeper's AdminServer needs on the classpath (Debian's jars):
# added when a test enables it.
ZK_ADMIN_CLASSPATH = ':'.join('/usr/share/java/%s.jar' % j for j in (
    'jetty9-server', 'jetty9-servlet', 'jetty9-http', 'jetty9-io', 'jetty9-util',
    'jetty9-security', 'servlet-api', 'jackson-core', 'jackson-databind',
    'jackson-annotations'))
# NettyServerCnxnFactory (TLS, test_tls.py): zookeeper.jar's manifest
# names netty-handler and netty-transport but not what they need.
ZK_NETTY_CLASSPATH = ':'.join('/usr/share/java/%s.jar' % j for j in (
    'netty-codec', 'netty-resolver'))
# "Server over veth": set by tests/integration/test_dpdk_veth.py --run,
# which runs a test inside a client network namespace; every cheetah the
# test starts then runs with cheetah.dataplane=dpdk in the server
# namespace ({"netns", "ip", "port", "eal"}), one at a time (a cheetah
# made while another runs there serves on sock, on loopback).
DPDK_VETH = (json.loads(os.environ['CHEETAH_IT_DPDK_VETH'])
             if os.environ.get('CHEETAH_IT_DPDK_VETH') else None)

# Settings only ZooKeeper understands (dropped for cheetah).
ZK_ONLY = set()

KINDS = ('zookeeper', 'cheetah')

# Which ZooKeeper release's semantics a server kind follows where 3.8 and
# 3.9 differ.  Debian's ZooKeeper is 3.8; Cheetah follows 3.9 by design
# (docs/ARCHITECTURE.md, dataplane/proto.h).  The differences the tests
# know about, each expected per kind (never both accepted for one kind):
#   - watch notifications carry the triggering txn's zxid in their reply
#     header (3.9, ZOOKEEPER-4655); 3.8 sends -1;
#   - exists on a node the caller may not READ answers NOAUTH (3.9,
#     ZOOKEEPER-2590); 3.8 returns its Stat;
#   - one connection may hold several watch modes on one path (3.9,
#     ZOOKEEPER-4466); in 3.8 a later mode replaces the earlier one, and
#     removeWatches(Data|Children) also removes persistent watches.
SEMANTICS = {'zookeeper': '3.8', 'cheetah': '3.9'}

_live_servers = []
_tmp_dirs = []


def log(*args):
    print(*args, flush=True)


class Timeout(AssertionError):
    pass


def wait_until(cond, timeout, what, interval=0.01):
    """Poll cond() until it returns a true value (returned) or timeout
    seconds pass (raises Timeout naming what was awaited)."""
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Timeout('timed out after %.1fs waiting for %s' % (timeout, what))
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.2)


def _ephemeral_low():
    """The first port of the kernel's ephemeral range (None if unknown)."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


_port_rng = random.Random(os.getpid() ^ time.monotonic_ns())


def free_port():
    """A loopback port that was free a moment ago (callers retry on a
    bind conflict where they can: another process may take it in
    between).  Taken below the kernel's ephemeral range when there is
    room: a port that bind(0) hands out lies in that range, where any
    outgoing connection (a client's, another test's) may be given it
    before the server binds it (seen in CI: an ensemble member's quorum
    port "Address already in use", which a replica cannot retry alone).
    Below the range only another free_port can pick it, one chance in
    thousands."""
    low = _ephemeral_low()
    if low is not None and low - 10000 >= 4096:
        for _ in range(64):
            port = _port_rng.randrange(10000, low)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(('127.0.0.1', port))
                return port
            except OSError:
                continue
            finally:
                s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
    finally:
        s.close()


def make_tmp_dir(prefix):
    d = tempfile.mkdtemp(prefix='cheetah-it-%s-' % prefix)
    _tmp_dirs.append(d)
    return d


def four_letter(port, cmd, timeout=5.0, host='127.0.0.1'):
    """Send a four-letter word; return the whole answer (bytes) or None
    if the connection failed."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(cmd.encode() if isinstance(cmd, str) else cmd)
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
            return b''.join(chunks)
    except OSError:
        return None


def _pdeathsig():
    # Runs in the child between fork and exec: die with the test process.
    try:
        libc = ctypes.CDLL('libc.so.6', use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class ServerStartError(RuntimeError):
    pass


class Server:
    """One server process.  config: zoo.cfg settings added to the
    defaults (values str or int).  data_dir is created when not given and
    kept across restart()/kill9() so recovery can be tested.

    For a replica of an ensemble (ensemble.py): host is the address it
    serves clients on, port a fixed client port, netns the network
    namespace it runs in (ip netns exec), myid its id (written to
    data_dir/myid), base its directory; config holds the server.N lines."""

    def __init__(self, kind, cheetah_bin=None, config=None, name='server',
                 jvm_heap='256m', host='127.0.0.1', port=None, netns=None,
                 myid=None, base=None):
        if kind not in KINDS:
            raise ValueError('unknown server kind %r' % kind)
        if kind == 'cheetah' and not cheetah_bin:
            raise ValueError('cheetah needs --cheetah-bin')
        self.kind = kind
        self.cheetah_bin = cheetah_bin
        self.name = name
        self.jvm_heap = jvm_heap
        self.base = base or make_tmp_dir(name)
        self.data_dir = os.path.join(self.base, 'data')
        os.makedirs(self.data_dir, exist_ok=True)
        veth = DPDK_VETH if kind == 'cheetah' and netns is None else None
        if veth and any(s.netns == veth['netns'] and s.alive() for s in _live_servers):
            veth = None  # one server on the veth at a time: a second one stays on sock
        if veth:
            host, port, netns = veth['ip'], port or veth['port'], veth['netns']
        self.host = host
        self.fixed_port = port
        self.netns = netns
        self.myid = myid
        self.config = {
            'tickTime': 2000,
            '4lw.commands.whitelist': '*',
            'maxClientCnxns': 0,
        }
        # Both servers' AdminServer is on by default (port 8080): off
        # unless a test asks for it on a port of its own.
        self.config['admin.enableServer'] = 'false'
        if veth:
            self.config.update({'cheetah.dataplane': 'dpdk', 'cheetah.port.ip': veth['ip'],
                                'cheetah.port.netmask': '255.255.255.0',
                                'cheetah.dpdk.eal': veth['eal']})
        self.config.update(config or {})
        self.port = None
        self.proc = None
        self.log_path = None
        self.starts = 0
        self._logf = None
        # RLIMIT_NOFILE (soft and hard) for the server process, or None.
        self.rlimit_nofile = None
        # True: a restart keeps the zoo.cfg already written (see _write_cfg).
        self.keep_cfg = False
        # Extra JVM flags for a zookeeper server (e.g. -Djava.security.krb5.conf,
        # krb.py) and extra environment variables for either kind.
        self.jvm_flags = []
        self.env = {}

    # ---- life cycle -------------------------------------------------

    @property
    def hosts(self):
        return '%s:%d' % (self.host, self.port)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _write_cfg(self):
        path = os.path.join(self.base, 'zoo.cfg')
        sysprops = {}
        if self.keep_cfg and os.path.exists(path):
            # a restart on the zoo.cfg the server may have rewritten
            # (ZooKeeper's reconfig adds dynamicConfigFile to it)
            if self.kind == 'zookeeper':
                sysprops = {ZK_SYSPROPS[k]: v for k, v in self.config.items()
                            if k in ZK_SYSPROPS}
            return path, sysprops
        with open(path, 'w') as f:
            f.write('dataDir=%s\n' % self.data_dir)
            f.write('clientPort=%d\n' % self.port)
            f.write('clientPortAddress=%s\n' % self.host)
            for k, v in self.config.items():
                if self.kind == 'zookeeper' and k in ZK_SYSPROPS:
                    sysprops[ZK_SYSPROPS[k]] = v
                    continue
                if self.kind == 'cheetah' and k in ZK_ONLY:
                    continue
                f.write('%s=%s\n' % (k, v))
        if self.myid is not None:
            with open(os.path.join(self.data_dir, 'myid'), 'w') as f:
                f.write('%d\n' % self.myid)
        return path, sysprops

    def _command(self, cfg, sysprops):
        pre = ['ip', 'netns', 'exec', self.netns] if self.netns else []
        if self.kind == 'cheetah':
            return pre + [self.cheetah_bin, '--config', cfg]
        cmd = pre + [JAVA, '-Xmx' + self.jvm_heap, '-Xss512k', '-XX:+UseSerialGC',
               '-XX:TieredStopAtLevel=1', '-XX:-UsePerfData',
               '-Dzookeeper.root.logger=INFO,CONSOLE',
               '-Dzookeeper.log.dir=' + self.base,
               '-Dzookeeper.jmx.log4j.disable=true']
        for k, v in sysprops.items():
            cmd.append('-D%s=%s' % (k, v))
        cmd += self.jvm_flags
        quorum = any(k.startswith('server.') for k in self.config)
        cp = ZK_CLASSPATH
        if str(self.config.get('admin.enableServer')).lower() == 'true':
            cp += ':' + ZK_ADMIN_CLASSPATH
        if 'Netty' in str(self.config.get('serverCnxnFactory', '')):
            cp += ':' + ZK_NETTY_CLASSPATH
        cmd += ['-cp', cp, ZK_QUORUM_MAIN if quorum else ZK_MAIN, cfg]
        return cmd

    def start(self, timeout=60.0, keep_port=False, wait=True):
        """Start (or restart on the same data dir); returns self.
        keep_port: reuse the previous port (retrying while it is still
        held, e.g. in TIME_WAIT after a crash) before giving up on it.
        wait=False: return once the process is spawned (a replica serves
        only once a quorum is up); then call wait_ready()."""
        assert not self.alive(), 'already running'
        attempts = 6
        last_err = None
        for attempt in range(attempts):
            if self.fixed_port:
                self.port = self.fixed_port
            elif not (keep_port and self.port and attempt < 3):
                self.port = free_port()
                if attempt and 'secureClientPort' in self.config:
                    # after a bind conflict: either port may be the one
                    # taken (tests read it back from config)
                    self.config['secureClientPort'] = free_port()
            cfg, sysprops = self._write_cfg()
            self.starts += 1
            self.log_path = os.path.join(self.base, 'server-%d.log' % self.starts)
            self._logf = open(self.log_path, 'wb')
            self.proc = subprocess.Popen(
                self._command(cfg, sysprops), stdin=subprocess.DEVNULL,
                stdout=self._logf, stderr=subprocess.STDOUT, cwd=self.base,
                preexec_fn=self._preexec, env=dict(os.environ, **self.env) if self.env else None)
            _live_servers.append(self)
            if not wait:
                return self
            try:
                self._wait_ready(timeout)
                log('[harness] %s %s ready on %s (pid %d, start %d)' % (
                    self.kind, self.name, self.hosts, self.pid, self.starts))
                return self
            except ServerStartError as e:
                last_err = e
                self._reap(kill=True)
                if not self._bind_conflict():
                    break
                log('[harness] port %d taken, retrying' % self.port)
        raise ServerStartError('%s %s did not start: %s\n%s' % (
            self.kind, self.name, last_err, self.log_tail()))

    def wait_ready(self, timeout=60.0):
        """After start(wait=False): wait until it serves clients."""
        try:
            self._wait_ready(timeout)
        except ServerStartError as e:
            self._reap(kill=True)
            raise ServerStartError('%s %s did not start: %s\n%s' % (
                self.kind, self.name, e, self.log_tail()))
        log('[harness] %s %s ready on %s (pid %d, start %d)' % (
            self.kind, self.name, self.hosts, self.pid, self.starts))
        return self

    def _preexec(self):
        # Runs in the child between fork and exec.
        _pdeathsig()
        if self.rlimit_nofile is not None:
            import resource
            n = self.rlimit_nofile
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    def _bind_conflict(self):
        text = self.read_log()
        return 'Address already in use' in text or 'EADDRINUSE' in text

    def _ready(self):
        if self.proc.poll() is not None:
            raise ServerStartError('exited with status %d during start-up'
                                   % self.proc.returncode)
        if self.kind == 'cheetah':
            if 'serving on' not in self.read_log():
                return False
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return True
            except OSError:
                return False
        # "imok" comes before the ZooKeeperServer runs (a session request
        # is then refused); srvr reports a Mode only once it serves.  Both
        # without creating a session, which would consume a zxid.
        if four_letter(self.port, 'ruok', timeout=2, host=self.host) != b'imok':
            return False
        if b'Mode:' not in (four_letter(self.port, 'srvr', timeout=2, host=self.host) or b''):
            return False
        return self._zk_secure_port_ready()

    def _zk_secure_port_ready(self):
        """A standalone ZooKeeper with a secureClientPort: the TLS port
        serves too.  ZooKeeperServerMain.runFromConfig binds the plain
        port and starts the ZooKeeperServer first (srvr has a Mode), and
        only then makes, binds and hands the server to the secure
        connection factory: on a loaded 2-core machine the TLS port was
        bound some 50 ms after srvr had a Mode, and a test's first TLS
        connect in between was refused (ECONNREFUSED).  Not probed on the
        wire: a probe without the test's client certificate would be a
        failed handshake, which mntr's zk_unsuccessful_handshake counts.
        So the log: "bound to port S" (NettyServerCnxnFactory.start, once
        it listens), then ContainerManager's "Using checkIntervalMs=",
        which runFromConfig logs after every factory's startup() (so the
        secure one has its ZooKeeperServer).  A replica (QuorumPeer.start)
        binds both ports before it serves: srvr's Mode says enough."""
        secure = self.config.get('secureClientPort')
        if secure is None or any(k.startswith('server.') for k in self.config):
            return True
        _, bound, after = self.read_log().partition('bound to port %d\n' % int(secure))
        return bool(bound) and 'Using checkIntervalMs=' in after

    def _wait_ready(self, timeout):
        try:
            wait_until(self._ready, timeout, '%s to serve' % self.kind, interval=0.02)
        except Timeout as e:
            raise ServerStartError(str(e))

    def _reap(self, kill=False, timeout=15.0):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
                # a process stopped by a test (SIGSTOP) acts on SIGTERM
                # only once continued
                self.proc.send_signal(signal.SIGCONT)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log('[harness] %s pid %d ignored SIGTERM for %.0fs: SIGKILL'
                    % (self.kind, self.proc.pid, timeout))
                self.proc.kill()
                self.proc.wait(timeout=30)
        if self._logf:
            self._logf.close()
            self._logf = None
        if self in _live_servers:
            _live_servers.remove(self)

    def stop(self, timeout=15.0):
        """SIGTERM, then SIGKILL after timeout seconds.  Returns the exit
        status (None if it was not running)."""
        if self.proc is None:
            return None
        self._reap(kill=False, timeout=timeout)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def stop_clean(self, timeout=15.0):
        """stop(), then raise unless the server shut down cleanly on
        SIGTERM: cheetah exits 0; the JVM exits 143 (128 + SIGTERM)."""
        if not self.alive():
            raise AssertionError('%s %s was not running at the end (status %s)' % (
                self.kind, self.name, self.proc.returncode if self.proc else None))
        rc = self.stop(timeout)
        want = 0 if self.kind == 'cheetah' else 143
        if rc != want:
            raise AssertionError('%s %s exited %s on SIGTERM, expected %d\n%s' % (
                self.kind, self.name, rc, want, self.log_tail(20)))
        log('[harness] %s %s shut down cleanly on SIGTERM' % (self.kind, self.name))

    def kill9(self):
        """Crash: SIGKILL and reap.  The data dir stays for restart()."""
        if self.proc is None:
            return
        self._reap(kill=True)
        self.proc = None

    def restart(self, timeout=60.0):
        if self.alive():
            self.stop()
        return self.start(timeout=timeout, keep_port=True)

    def cleanup(self):
        self.stop(timeout=10)
        if not os.environ.get('KEEP_TMP'):
            shutil.rmtree(self.base, ignore_errors=True)

    # ---- inspection --------------------------------------------------

    def read_log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except (OSError, TypeError):
            return ''

    def log_tail(self, n=40):
        lines = self.read_log().splitlines()
        return '---- %s %s log (%s), last %d lines ----\n%s' % (
            self.kind, self.name, self.log_path, min(n, len(lines)),
            '\n'.join(lines[-n:]))

    def ruok(self, timeout=5.0):
        return four_letter(self.port, 'ruok', timeout=timeout, host=self.host) == b'imok'

    def four(self, cmd, timeout=5.0):
        return four_letter(self.port, cmd, timeout=timeout, host=self.host)

    def rss_kb(self):
        with open('/proc/%d/status' % self.pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
        raise RuntimeError('no VmRSS')


class Proxy:
    """A TCP proxy in front of a server, to cut or freeze the network
    between a real client and the server: drop() closes every proxied
    connection (the client reconnects to the same session), freeze()
    stops forwarding and holds new connections unanswered (the server
    sees silence: the session expires), thaw() resumes."""

    def __init__(self, target_port, host='127.0.0.1'):
        import selectors
        import threading
        self.target = (host, target_port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(64)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.lock = threading.Lock()
        self.pairs = []        # [client_sock, server_sock or None]
        self.frozen = False
        self.stopping = False
        self.accepted = 0
        self.wake_r, self.wake_w = socket.socketpair()
        self.sel.register(self.wake_r, selectors.EVENT_READ, 'wake')
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @property
    def hosts(self):
        return '127.0.0.1:%d' % self.port

    def _wake(self):
        try:
            self.wake_w.send(b'x')
        except OSError:
            pass

    def _close_pair(self, pair):
        for s in pair:
            if s is None:
                continue
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
        if pair in self.pairs:
            self.pairs.remove(pair)

    def _connect_upstream(self, pair):
        import selectors
        try:
            up = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._close_pair(pair)
            return
        up.setblocking(False)
        pair[1] = up
        self.sel.register(pair[0], selectors.EVENT_READ, (pair, 0))
        self.sel.register(up, selectors.EVENT_READ, (pair, 1))

    def _loop(self):
        import selectors
        while not self.stopping:
            for key, _ in self.sel.select(timeout=0.2):
                with self.lock:
                    if key.data == 'wake':
                        key.fileobj.recv(4096)
                    elif key.data is None:
                        try:
                            c, _ = self.lsock.accept()
                        except OSError:
                            continue
                        self.accepted += 1
                        c.setblocking(False)
                        pair = [c, None]
                        self.pairs.append(pair)
                        if not self.frozen:
                            self._connect_upstream(pair)
                    else:
                        pair, side = key.data
                        if self.frozen or pair not in self.pairs:
                            continue
                        try:
                            data = pair[side].recv(65536)
                        except OSError:
                            data = b''
                        if not data:
                            self._close_pair(pair)
                            continue
                        try:
                            pair[1 - side].setblocking(True)
                            pair[1 - side].sendall(data)
                            pair[1 - side].setblocking(False)
                        except OSError:
                            self._close_pair(pair)
            with self.lock:
                if not self.frozen:
                    for pair in list(self.pairs):
                        if pair[1] is None:
                            self._connect_upstream(pair)

    def freeze(self):
        with self.lock:
            self.frozen = True
            for pair in self.pairs:
                for s in pair:
                    if s is not None:
                        try:
                            self.sel.unregister(s)
                        except (KeyError, ValueError):
                            pass
        self._wake()

    def thaw(self):
        import selectors
        with self.lock:
            self.frozen = False
            for pair in self.pairs:
                if pair[1] is not None:
                    for side in (0, 1):
                        try:
                            self.sel.register(pair[side], selectors.EVENT_READ, (pair, side))
                        except (KeyError, ValueError):
                            pass
        self._wake()

    def drop(self):
        """Close every proxied connection (as a network cut would)."""
        with self.lock:
            for pair in list(self.pairs):
                self._close_pair(pair)
        self._wake()

    def close(self):
        self.stopping = True
        self._wake()
        self.thread.join(timeout=5)
        with self.lock:
            for pair in list(self.pairs):
                self._close_pair(pair)
        self.lsock.close()
        self.wake_r.close()
        self.wake_w.close()


# Functions run by _cleanup_all() after the servers are stopped (e.g.
# ensemble.py removes its namespaces, mounts and nft tables), last added
# first; each runs once.
cleanup_hooks = []


def _cleanup_all():
    for s in list(_live_servers):
        try:
            s._reap(kill=False, timeout=10)
        except Exception:
            pass
    while cleanup_hooks:
        try:
            cleanup_hooks.pop()()
        except Exception:
            traceback.print_exc(file=sys.stdout)
    if not os.environ.get('KEEP_TMP'):
        for d in _tmp_dirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_all)


def _on_signal(signum, frame):
    log('[harness] signal %d: cleaning up' % signum)
    _cleanup_all()
    os._exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


# ---- command line and mini test runner ------------------------------

def arg_parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument('--server', choices=KINDS, default='zookeeper',
                   help='which server to test')
    p.add_argument('--cheetah-bin', default=os.environ.get('CHEETAH_BIN'),
                   help='path of the built cheetah binary')
    p.add_argument('--only', action='append', default=[],
                   help='run only the named sub-tests (repeatable)')
    return p


def new_server(args, config=None, name=None, kind=None):
    kind = kind or args.server
    return Server(kind, cheetah_bin=args.cheetah_bin, config=config,
                  name=name or kind)


def run_tests(tests, args, servers=()):
    """tests: list of (name, fn) with fn() raising on failure.  Prints one
    line per sub-test and the logs of the given servers after a failure.
    Returns the process exit status."""
    failed = []
    t_all = time.monotonic()
    for name, fn in tests:
        if args.only and name not in args.only:
            continue
        t0 = time.monotonic()
        try:
            fn()
            log('ok    %-40s %6.2fs' % (name, time.monotonic() - t0))
        except Exception:
            failed.append(name)
            log('FAIL  %-40s %6.2fs' % (name, time.monotonic() - t0))
            traceback.print_exc(file=sys.stdout)
            for s in servers:
                if s.log_path:
                    log(s.log_tail(30))
                    if s.proc is not None and not s.alive():
                        log('[harness] %s exited with status %s' % (s.kind, s.proc.returncode))
            sys.stdout.flush()
    log('%d sub-tests, %d failed%s (%.1fs)' % (
        len([t for t in tests if not args.only or t[0] in args.only]), len(failed),
        (': ' + ', '.join(failed)) if failed else '', time.monotonic() - t_all))
    return 1 if failed else 0
