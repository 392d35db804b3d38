# SPDX-License-Identifier: Apache-2.0
"""A replicated ensemble in network namespaces, with fault injection.

Why: the faults that break replication (a leader that dies or freezes, a
partition, a slow or full disk, a replica back with an old or empty disk)
need real processes on a real network: each replica runs in its own
network namespace, so a partition is a packet filter between addresses,
not a proxy the server could notice.  Everything this module creates is
private to one test run and removed by it:

  namespaces  <tag>-br (a bridge 'br0'), <tag>-c (the clients), <tag>-rI
              (replica I), tag = 'chz<pid>'; a veth pair per replica and
              one for the clients, bridged in <tag>-br
  addresses   10.A.B.0/24 with A.B from the pid, assigned only inside
              those namespaces (clients .2, replica I .10+I); nothing is
              routed anywhere else, the root namespace gets no address
  per replica a directory cheetah-it-<tag>-rI-* (zoo.cfg, data/ with
              myid), optionally a size-limited tmpfs as data/ (disk full)
  faults      nft table 'inet chz' inside replica namespaces (drops
              between replica addresses), tc netem on a replica's veth

The test process's main thread joins <tag>-c (setns), so the clients it
starts (kazoo threads, subprocesses) reach the replicas and nothing else.
Cleanup (close(), at exit, on SIGTERM/SIGINT through harness hooks) stops
the replicas, then removes mounts, namespaces (with their links and nft
tables) and directories.  At start, a sweep removes what an earlier run
with this prefix left behind if its pid is dead.

kind 'zookeeper': Debian's ZooKeeper 3.8 replicas (QuorumPeerMain), zoo.cfg
with server.N=addr:2888:3888 lines and data/myid.  kind 'cheetah': the
same files, the cheetah binary.

Needs root, iproute2 (ip, tc), nftables (nft); netem needs the kernel's
sch_netem (checked when used: a clear error names what is missing).
"""
import ctypes
import os
import re
import shutil
import signal
import subprocess
import time

import harness
from harness import log, wait_until

PREFIX = 'chz'
CLIENT_PORT = 2181
QUORUM_PORT = 2888
ELECTION_PORT = 3888
CLONE_NEWNET = 0x40000000

# ZooKeeper's defaults that users run (zoo_sample.cfg): tickTime 2000 ms,
# initLimit 10 ticks, syncLimit 5 ticks.
DEFAULT_CONFIG = {'tickTime': 2000, 'initLimit': 10, 'syncLimit': 5}


class MissingFeature(RuntimeError):
    """The system lacks something a fault needs (the message names it)."""


def run(cmd, check=True, timeout=30, input=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise RuntimeError('%s: exit %d: %s' % (' '.join(cmd), p.returncode,
                                                 p.stderr.decode(errors='replace').strip()))
    return p


def require_tools():
    for tool in ('ip', 'nft', 'tc'):
        if not shutil.which(tool):
            raise MissingFeature('%s not found: install Debian packages iproute2 and '
                                 'nftables (build.sh PKGS)' % tool)
    if os.geteuid() != 0:
        raise MissingFeature('network namespaces need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)')


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _setns(path):
    libc = ctypes.CDLL('libc.so.6', use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, 'setns(%s): %s' % (path, os.strerror(e)))
    finally:
        os.close(fd)


def _netns_del(name):
    # processes left inside first (a namespace with processes outlives
    # its name and keeps their sockets)
    p = run(['ip', 'netns', 'pids', name], check=False)
    for tok in p.stdout.split():
        try:
            os.kill(int(tok), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass
    run(['ip', 'netns', 'del', name], check=False)


def sweep_stale():
    """Remove namespaces and mounts of earlier runs of this harness whose
    creating process is dead."""
    p = run(['ip', 'netns', 'list'], check=False)
    for line in p.stdout.decode().splitlines():
        name = line.split()[0] if line.split() else ''
        m = re.match(r'^%s(\d+)-' % PREFIX, name)
        if m and not _pid_alive(int(m.group(1))):
            log('[ensemble] removing stale namespace %s' % name)
            _netns_del(name)
    with open('/proc/mounts') as f:
        mounts = [ln.split()[1] for ln in f]
    for mnt in mounts:
        m = re.search(r'/cheetah-it-%s(\d+)-' % PREFIX, mnt)
        if m and not _pid_alive(int(m.group(1))):
            log('[ensemble] removing stale mount %s' % mnt)
            run(['umount', '-l', mnt], check=False)
            shutil.rmtree(re.sub(r'/data$', '', mnt), ignore_errors=True)


def leftovers(tag):
    """Namespaces and mounts named after tag that still exist."""
    p = run(['ip', 'netns', 'list'], check=False)
    names = [ln.split()[0] for ln in p.stdout.decode().splitlines()
             if ln.split() and ln.split()[0].startswith(tag + '-')]
    with open('/proc/mounts') as f:
        mnts = [ln.split()[1] for ln in f if '/cheetah-it-%s-' % tag in ln.split()[1]]
    return names + mnts


class Ensemble:
    """n replicas of kind 'zookeeper' or 'cheetah'.

    config: zoo.cfg settings over DEFAULT_CONFIG.  disk_mb: {replica id:
    MB} for replicas whose data dir is a tmpfs of that size (disk_full()).
    Replica ids are 1..n.  Methods raise on failure; close() is safe to
    call more than once."""

    def __init__(self, n, kind='zookeeper', cheetah_bin=None, config=None,
                 disk_mb=None, jvm_heap='192m'):
        if kind not in ('zookeeper', 'cheetah'):
            raise ValueError('unknown ensemble kind %r' % kind)
        require_tools()
        sweep_stale()
        self.n = n
        self.kind = kind
        pid = os.getpid()
        self.tag = '%s%d' % (PREFIX, pid)
        self.net = '10.%d.%d' % ((pid >> 8) & 255, pid & 255)
        self.ns_br = self.tag + '-br'
        self.ns_c = self.tag + '-c'
        self.namespaces = []
        self.mounts = []
        self.servers = {}
        self.fill_files = {}
        self._root_ns_fd = None
        self._closed = False
        harness.cleanup_hooks.append(self.close)
        try:
            self._build_network()
            cfg = dict(DEFAULT_CONFIG)
            cfg.update(config or {})
            for i in range(1, n + 1):
                cfg['server.%d' % i] = '%s:%d:%d' % (self.addr(i), QUORUM_PORT,
                                                     ELECTION_PORT)
            for i in range(1, n + 1):
                base = harness.make_tmp_dir('%s-r%d' % (self.tag, i))
                if disk_mb and i in disk_mb:
                    data = os.path.join(base, 'data')
                    os.makedirs(data)
                    run(['mount', '-t', 'tmpfs', '-o', 'size=%dm' % disk_mb[i],
                         'chz-disk', data])
                    self.mounts.append(data)
                self.servers[i] = harness.Server(
                    kind, cheetah_bin=cheetah_bin, config=dict(cfg),
                    name='r%d' % i, jvm_heap=jvm_heap, host=self.addr(i),
                    port=CLIENT_PORT, netns=self.ns(i), myid=i, base=base)
        except BaseException:
            self.close()
            raise

    # ---- network ------------------------------------------------------

    def ns(self, i):
        return '%s-r%d' % (self.tag, i)

    def addr(self, i):
        return '%s.%d' % (self.net, 10 + i)

    def _add_ns(self, name):
        run(['ip', 'netns', 'add', name])
        self.namespaces.append(name)
        run(['ip', '-n', name, 'link', 'set', 'lo', 'up'])

    def _attach(self, name, port_name, addr):
        run(['ip', '-n', self.ns_br, 'link', 'add', port_name, 'type', 'veth',
             'peer', 'name', 'eth0', 'netns', name])
        run(['ip', '-n', self.ns_br, 'link', 'set', port_name, 'master', 'br0', 'up'])
        run(['ip', '-n', name, 'addr', 'add', addr + '/24', 'dev', 'eth0'])
        run(['ip', '-n', name, 'link', 'set', 'eth0', 'up'])

    def _build_network(self):
        self._add_ns(self.ns_br)
        run(['ip', '-n', self.ns_br, 'link', 'add', 'br0', 'type', 'bridge'])
        run(['ip', '-n', self.ns_br, 'link', 'set', 'br0', 'up'])
        self._add_ns(self.ns_c)
        self._attach(self.ns_c, 'pc', self.net + '.2')
        for i in range(1, self.n + 1):
            self._add_ns(self.ns(i))
            self._attach(self.ns(i), 'p%d' % i, self.addr(i))
        # this thread (and every thread and process it starts from now on)
        # talks from the clients' namespace
        self._root_ns_fd = os.open('/proc/self/ns/net', os.O_RDONLY)
        _setns('/run/netns/' + self.ns_c)
        log('[ensemble] %d namespaces %s-*, net %s.0/24' % (
            len(self.namespaces), self.tag, self.net))

    # ---- life cycle ---------------------------------------------------

    def start(self, timeout=120.0):
        for s in self.servers.values():
            s.start(wait=False)
        for s in self.servers.values():
            s.wait_ready(timeout)
        return self

    def hosts(self, ids=None):
        return ','.join(self.servers[i].hosts for i in (ids or sorted(self.servers)))

    def mode(self, i, timeout=3.0):
        """'leader' | 'follower' | 'standalone' | None (not serving)."""
        s = self.servers[i]
        if not s.alive():
            return None
        out = harness.four_letter(CLIENT_PORT, 'srvr', timeout=timeout, host=s.host)
        m = re.search(rb'Mode: ([\w-]+)', out or b'')
        return m.group(1).decode() if m else None

    def modes(self):
        return {i: self.mode(i) for i in self.servers}

    def leader(self, timeout=60.0, ids=None):
        """Wait until one replica of ids (default: all running) is leader
        and every other of them follows; returns the leader's id."""
        def settled():
            want = ids or [i for i, s in self.servers.items() if s.alive()]
            ms = {i: self.mode(i) for i in want}
            leaders = [i for i, m in ms.items() if m == 'leader']
            if len(leaders) == 1 and all(m in ('leader', 'follower') for m in ms.values()):
                return leaders[0]
            return None
        return wait_until(settled, timeout, 'one leader and all followers: %s'
                          % (ids or 'running replicas'), interval=0.05)

    def srvr_zxid(self, i):
        out = self.servers[i].four('srvr') or b''
        m = re.search(rb'Zxid: (0x[0-9a-f]+)', out)
        return int(m.group(1), 16) if m else None

    def mntr(self, i):
        out = self.servers[i].four('mntr') or b''
        d = {}
        for line in out.decode(errors='replace').splitlines():
            if '\t' in line:
                k, v = line.split('\t', 1)
                d[k] = v
        return d

    # ---- faults ---------------------------------------------------------

    def kill9(self, i):
        self.servers[i].kill9()

    def stop(self, i):
        self.servers[i].stop()

    def restart(self, i, wait=True, timeout=120.0):
        s = self.servers[i]
        if s.alive():
            s.stop()
        s.start(wait=False)
        if wait:
            s.wait_ready(timeout)

    def pause(self, i):
        os.kill(self.servers[i].pid, signal.SIGSTOP)

    def resume(self, i):
        os.kill(self.servers[i].pid, signal.SIGCONT)

    def partition(self, side_a, side_b):
        """Drop every packet between the replicas of side_a and those of
        side_b (both directions, in each replica's namespace).  Clients
        still reach every replica."""
        for a_side, b_side in ((side_a, side_b), (side_b, side_a)):
            for i in a_side:
                peers = ', '.join(self.addr(j) for j in b_side)
                rules = ('table inet chz {\n'
                         ' chain in { type filter hook input priority 0; '
                         'ip saddr { %s } drop; }\n'
                         ' chain out { type filter hook output priority 0; '
                         'ip daddr { %s } drop; }\n}\n') % (peers, peers)
                run(['ip', 'netns', 'exec', self.ns(i), 'nft', '-f', '-'], input=rules.encode())
        log('[ensemble] partition %s | %s' % (sorted(side_a), sorted(side_b)))

    def isolate(self, i):
        self.partition([i], [j for j in self.servers if j != i])

    def heal(self):
        for i in self.servers:
            run(['ip', 'netns', 'exec', self.ns(i), 'nft', 'delete', 'table', 'inet',
                 'chz'], check=False)
        log('[ensemble] partitions healed')

    def slow_link(self, i, kbit, latency_ms):
        """Make replica i's link slow both ways: a token bucket of kbit
        kbit/s that queues up to latency_ms before it drops (tc tbf, on
        the replica's eth0 and on its bridge port).  tc netem would give a
        pure delay, but this CI kernel has no sch_netem; a slow link is the
        same fault to the protocol (a follower that lags behind the leader
        while the others commit)."""
        for ns, dev in ((self.ns(i), 'eth0'), (self.ns_br, 'p%d' % i)):
            p = run(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', dev,
                     'root', 'tbf', 'rate', '%dkbit' % kbit, 'burst', '4kb',
                     'latency', '%dms' % latency_ms], check=False)
            if p.returncode != 0:
                raise MissingFeature(
                    'tc tbf unavailable: %s; the kernel needs sch_tbf (CONFIG_NET_SCH_TBF)'
                    % p.stderr.decode(errors='replace').strip())
        log('[ensemble] replica %d: link %d kbit/s, up to %d ms queued' % (
            i, kbit, latency_ms))

    def unslow_link(self, i):
        for ns, dev in ((self.ns(i), 'eth0'), (self.ns_br, 'p%d' % i)):
            run(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', dev, 'root'],
                check=False)

    def fill_disk(self, i):
        """Fill replica i's tmpfs data dir (disk_mb) to the last byte."""
        data = self.servers[i].data_dir
        if data not in self.mounts:
            raise ValueError('replica %d has no size-limited data dir (disk_mb)' % i)
        path = os.path.join(data, 'chz-fill')
        self.fill_files[i] = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 4096, 1):   # then the last partial MB, page
                chunk = b'\0' * size
                try:
                    while os.write(fd, chunk) > 0:
                        pass
                except OSError:
                    pass
        finally:
            os.close(fd)
        st = os.statvfs(data)
        log('[ensemble] replica %d disk full (%d bytes free)' % (i, st.f_bavail * st.f_frsize))

    def free_disk(self, i):
        path = self.fill_files.pop(i, None)
        if path and os.path.exists(path):
            os.unlink(path)

    def wipe(self, i):
        """Empty replica i's disk (it must be stopped): only myid stays."""
        s = self.servers[i]
        assert not s.alive()
        for e in os.listdir(s.data_dir):
            if e == 'myid':
                continue
            p = os.path.join(s.data_dir, e)
            if os.path.isdir(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)

    def save_disk(self, i):
        """A copy of replica i's data dir (for a stale disk later)."""
        s = self.servers[i]
        dst = os.path.join(s.base, 'saved-%d' % time.monotonic_ns())
        shutil.copytree(s.data_dir, dst)
        return dst

    def restore_disk(self, i, saved):
        """Put a saved (stale) copy back as replica i's data dir (stopped)."""
        self.wipe(i)
        s = self.servers[i]
        for e in os.listdir(saved):
            src = os.path.join(saved, e)
            dst = os.path.join(s.data_dir, e)
            if os.path.isdir(src):
                shutil.copytree(src, dst)
            else:
                shutil.copy2(src, dst)

    # ---- cleanup ------------------------------------------------------

    def close(self):
        """Idempotent, and each step removes what it handled, so a
        signal arriving in the middle of close() (whose handler calls
        close() again) finishes the job."""
        for s in self.servers.values():
            try:
                if s.alive():
                    try:
                        os.kill(s.pid, signal.SIGCONT)
                    except ProcessLookupError:
                        pass
                s.stop(timeout=10)
            except Exception as e:
                log('[ensemble] stopping %s: %s' % (s.name, e))
        if self._root_ns_fd is not None:
            libc = ctypes.CDLL('libc.so.6', use_errno=True)
            libc.setns(self._root_ns_fd, CLONE_NEWNET)
            os.close(self._root_ns_fd)
            self._root_ns_fd = None
        while self.mounts:
            run(['umount', '-l', self.mounts[-1]], check=False)
            self.mounts.pop()
        while self.namespaces:
            _netns_del(self.namespaces[-1])
            self.namespaces.pop()
        if not os.environ.get('KEEP_TMP'):
            for s in self.servers.values():
                shutil.rmtree(s.base, ignore_errors=True)
        if not self._closed:
            log('[ensemble] %s cleaned up' % self.tag)
        self._closed = True
