# SPDX-License-Identifier: Apache-2.0
"""`meson install` into a staging root, and what it laid out (issue 12, part 4).

Installs the build directory with --destdir into a temporary directory and
checks, each as one sub-test:

  files      the installed files are the expected ones (only more
             executables may appear in bindir), at the paths meson.build
             computed (passed on the command line)
  config     the default zoo.cfg loads without a warning (--check-config)
             and says what the units assume: dataDir = /var/lib/ +
             StateDirectory, standalone, kernel sockets
  noclobber  a second install keeps an edited SYSCONFDIR/cheetah/zoo.cfg
             and the pristine copy in DATADIR; a deleted one comes back
  units      ExecStart, User, StateDirectory, hardening and the sysusers.d
             user agree with each other and with the config; then
             `systemd-analyze verify` (with Documentation=man:cheetah(8)
             looked up in the staged man pages) on cheetah.service and an
             instance of cheetah@.service, without and with the dpdk drop-in,
             must print nothing; `systemd-analyze security --offline` must
             rate the sock units' exposure at most EXPOSURE_MAX
  sysusers   systemd-sysusers --root creates the user the units run as
  man        groff -man -ww prints no warning; every option of
             `cheetah --help` is in the page's OPTIONS section
  run        the staged binary with the staged default zoo.cfg (dataDir and
             clientPort overridden with --set: a temporary directory and a
             free loopback port), without privileges (as nobody, no
             capabilities, no_new_privs, when the test runs as root), serves
             (answers ruok with imok: the shipped whitelist allows it),
             logs no warning and stops with status 0 on SIGTERM
  dpdk_caps  the dpdk drop-in's capabilities are what the dpdk backend
             needs as an unprivileged user: af_packet on a veth between two
             network namespaces and the exception path's TAP interface.
             Without capabilities (the sock unit) it exits 1 naming
             AF_PACKET; with exactly the drop-in's AmbientCapabilities it
             serves ruok through the port and removes its TAP on SIGTERM.
             Needs root (CI runs as root); hugepages and VFIO are not tried
             (no NIC here)

systemd-analyze runs without a running systemd; the units' ExecStart
names the final path (PREFIX/bin/cheetah), which does not exist here, so
the verified copies point it at the staged binary: only that path differs.
Every wait has a deadline; the server and the temporary directory are
removed at the end, on failure and on SIGTERM (meson's timeout).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

EXPOSURE_MAX = 2.0  # systemd-analyze security: 0 (safe) .. 10 (exposed)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def run(cmd, timeout=120, env=None, **kw):
    """Runs cmd; returns CompletedProcess with text stdout and stderr."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          **kw)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def four_letter(port, word, timeout=5.0):
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(word.encode())
        out = b''
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out


def read_unit(path):
    """A unit file as {section: [(key, value)]}, repeated keys kept in order."""
    units = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in '#;':
                continue
            if line.startswith('['):
                section = line.strip('[]')
                units.setdefault(section, [])
                continue
            key, _, value = line.partition('=')
            units[section].append((key.strip(), value.strip()))
    return units


def unit_get(unit, section, key):
    """The values of key in section, in order."""
    return [v for k, v in unit.get(section, []) if k == key]


def unit_one(unit, section, key):
    vals = unit_get(unit, section, key)
    check(len(vals) == 1, '%s= appears %d times in [%s], expected once' %
          (key, len(vals), section))
    return vals[0]


class Install:
    def __init__(self, args):
        self.a = args
        self.tmp = tempfile.mkdtemp(prefix='cheetah-install-')
        # The server runs as nobody below: it must reach its files.
        os.chmod(self.tmp, 0o755)
        self.destdir = os.path.join(self.tmp, 'root')
        self.proc = None  # the server of the running sub-test
        self.procs = []  # every server started, for cleanup
        self.namespaces = []

    def staged(self, path):
        check(os.path.isabs(path), 'not an absolute path: ' + path)
        return os.path.join(self.destdir, path.lstrip('/'))

    def meson_install(self):
        r = run([self.a.meson, 'install', '-C', self.a.build_dir, '--no-rebuild',
                 '--destdir', self.destdir], timeout=300)
        check(r.returncode == 0, 'meson install failed (%d):\n%s%s' %
              (r.returncode, r.stdout, r.stderr))
        return r.stdout

    @property
    def cfg(self):
        return os.path.join(self.a.sysconfdir, 'cheetah', 'zoo.cfg')

    @property
    def bin(self):
        return os.path.join(self.a.bindir, 'cheetah')

    def expected(self):
        files = {
            self.bin,
            self.cfg,
            os.path.join(self.a.pkgdatadir, 'zoo.cfg'),
            os.path.join(self.a.pkgdatadir, 'dpdk.conf'),
            os.path.join(self.a.mandir, 'man8', 'cheetah.8'),
        }
        if self.a.systemd:
            files |= {
                os.path.join(self.a.unitdir, 'cheetah.service'),
                os.path.join(self.a.unitdir, 'cheetah@.service'),
                os.path.join(self.a.sysusersdir, 'cheetah.conf'),
            }
        return files

    # ---- sub-tests ----

    def t_files(self):
        found = set()
        for root, dirs, files in os.walk(self.destdir):
            for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                found.add('/' + os.path.relpath(os.path.join(root, name), self.destdir))
        print('installed:\n  ' + '\n  '.join(sorted(found)))
        missing = self.expected() - found
        check(not missing, 'not installed: %s' % sorted(missing))
        extra = sorted(f for f in found - self.expected()
                       if os.path.dirname(f) != self.a.bindir)
        check(not extra, 'installed but not expected: %s' % extra)
        st = os.stat(self.staged(self.bin))
        check(st.st_mode & stat.S_IXOTH, 'cheetah is not executable by others')
        for f in self.expected() - {self.bin}:
            mode = stat.S_IMODE(os.stat(self.staged(f)).st_mode)
            check(mode == 0o644, '%s has mode %o, expected 644' % (f, mode))

    def check_config(self, path, sets=()):
        cmd = [self.staged(self.bin), '--config', path, '--check-config']
        for s in sets:
            cmd += ['--set', s]
        r = run(cmd, timeout=30)
        check(r.returncode == 0, '--check-config of %s failed (%d): %s' %
              (path, r.returncode, r.stderr))
        settings = {}
        for line in r.stdout.splitlines():
            if line and not line.startswith('#') and '=' in line:
                k, _, v = line.partition('=')
                settings[k] = v
        return settings, r.stderr

    def t_config(self):
        staged_cfg = self.staged(self.cfg)
        with open(staged_cfg, 'rb') as a, \
                open(self.staged(os.path.join(self.a.pkgdatadir, 'zoo.cfg')), 'rb') as b:
            check(a.read() == b.read(), 'SYSCONFDIR and DATADIR zoo.cfg differ on a fresh install')
        with open(staged_cfg) as f:
            text = f.read()
        check('@' not in re.sub(r'cheetah@', '', text), 'an unsubstituted @VAR@ in zoo.cfg')
        settings, err = self.check_config(staged_cfg)
        check(err == '', 'the default zoo.cfg warns:\n' + err)
        want = {'dataDir': '/var/lib/cheetah', 'clientPort': '2181',
                'clientPortAddress': '127.0.0.1', 'cheetah.dataplane': 'sock'}
        for k, v in want.items():
            check(settings.get(k) == v, '--check-config says %s=%r, expected %r' %
                  (k, settings.get(k), v))
        check(not any(k.startswith('server.') for k in settings),
              'the default zoo.cfg is not standalone')
        check('ruok' in settings.get('4lw.commands.whitelist', ''),
              'the default whitelist lacks ruok')

    def t_noclobber(self):
        staged_cfg = self.staged(self.cfg)
        pristine = self.staged(os.path.join(self.a.pkgdatadir, 'zoo.cfg'))
        with open(pristine) as f:
            default = f.read()
        edited = default + '\n# edited by the operator\nmaxClientCnxns=7\n'
        with open(staged_cfg, 'w') as f:
            f.write(edited)
        self.meson_install()
        with open(staged_cfg) as f:
            check(f.read() == edited, 'meson install replaced an edited zoo.cfg')
        with open(pristine) as f:
            check(f.read() == default, 'the pristine copy changed')
        os.unlink(staged_cfg)
        self.meson_install()
        with open(staged_cfg) as f:
            check(f.read() == default, 'a deleted zoo.cfg was not installed again')

    def verify_dir(self, name, dropin):
        """Unit copies whose ExecStart names the staged binary, in a directory."""
        d = os.path.join(self.tmp, name)
        os.mkdir(d)
        for u in ('cheetah.service', 'cheetah@.service'):
            with open(self.staged(os.path.join(self.a.unitdir, u))) as f:
                text = f.read()
            prefix = 'ExecStart=' + self.bin + ' '
            check(text.count(prefix) == 1, '%s: no "%s"' % (u, prefix))
            text = text.replace(prefix, 'ExecStart=' + self.staged(self.bin) + ' ')
            with open(os.path.join(d, u), 'w') as f:
                f.write(text)
            if dropin:
                os.mkdir(os.path.join(d, u + '.d'))
                shutil.copy(self.staged(os.path.join(self.a.pkgdatadir, 'dpdk.conf')),
                            os.path.join(d, u + '.d', 'dpdk.conf'))
        os.symlink('cheetah@.service', os.path.join(d, 'cheetah@test.service'))
        return d

    def t_units(self):
        if not self.a.systemd:
            print('-Dsystemd=false: no units installed, nothing to check')
            return
        with open(self.staged(os.path.join(self.a.sysusersdir, 'cheetah.conf'))) as f:
            users = [l.split() for l in f if l.strip() and not l.startswith('#')]
        check(any(u[0] == 'u' and u[1] == 'cheetah' for u in users),
              'the sysusers.d snippet declares no user cheetah')
        settings, _ = self.check_config(self.staged(self.cfg))
        for name, cfg, state in (
                ('cheetah.service', self.cfg, 'cheetah'),
                ('cheetah@.service', os.path.join(self.a.sysconfdir, 'cheetah', '%i',
                                                  'zoo.cfg'), 'cheetah/%i')):
            u = read_unit(self.staged(os.path.join(self.a.unitdir, name)))
            s = 'Service'
            check(unit_one(u, s, 'ExecStart') == '%s --config %s' % (self.bin, cfg),
                  '%s: ExecStart=%s' % (name, unit_one(u, s, 'ExecStart')))
            check(unit_one(u, s, 'StateDirectory') == state, name + ': StateDirectory')
            expect = {'Type': 'exec', 'User': 'cheetah', 'Group': 'cheetah',
                      'Restart': 'on-failure', 'NoNewPrivileges': 'yes',
                      'CapabilityBoundingSet': '', 'AmbientCapabilities': '',
                      'ProtectSystem': 'strict', 'ProtectHome': 'yes', 'PrivateTmp': 'yes',
                      'PrivateDevices': 'yes', 'StandardError': 'journal',
                      'KillSignal': 'SIGTERM'}
            for k, v in expect.items():
                check(unit_one(u, s, k) == v, '%s: %s=%r, expected %r' %
                      (name, k, unit_one(u, s, k), v))
            check(int(unit_one(u, s, 'LimitNOFILE')) >= 65536, name + ': LimitNOFILE low')
            check(unit_one(u, 'Unit', 'Documentation') == 'man:cheetah(8)',
                  name + ': Documentation')
            check(unit_one(u, 'Install', 'WantedBy') == 'multi-user.target',
                  name + ': WantedBy')
        # The default config's dataDir is the default unit's StateDirectory.
        check(settings['dataDir'] == '/var/lib/cheetah', 'dataDir is not the StateDirectory')

        env = dict(os.environ, MANPATH=self.staged(self.a.mandir))
        for name, dropin in (('verify', False), ('verify-dpdk', True)):
            d = self.verify_dir(name, dropin)
            paths = [os.path.join(d, 'cheetah.service'), os.path.join(d, 'cheetah@test.service')]
            r = run([self.a.systemd_analyze, 'verify', '--man=yes'] + paths, env=env, cwd=d)
            print('systemd-analyze verify%s: status %d%s' %
                  (' (dpdk drop-in)' if dropin else '', r.returncode,
                   ('\n' + r.stdout + r.stderr) if r.stdout or r.stderr else ', silent'))
            check(r.returncode == 0 and not r.stdout and not r.stderr,
                  'systemd-analyze verify complained')
            if dropin:
                continue
            for p in paths:
                r = run([self.a.systemd_analyze, 'security', '--offline=true', p],
                        env=env, cwd=d)
                m = re.search(r'Overall exposure level for \S+: ([0-9.]+)', r.stdout + r.stderr)
                check(m, 'systemd-analyze security printed no level:\n' + r.stdout + r.stderr)
                level = float(m.group(1))
                print('exposure of %s: %.1f (at most %.1f)' % (os.path.basename(p), level,
                                                                EXPOSURE_MAX))
                check(level <= EXPOSURE_MAX, 'exposure %.1f > %.1f' % (level, EXPOSURE_MAX))

    def t_sysusers(self):
        if not self.a.systemd:
            print('-Dsystemd=false: no sysusers.d snippet')
            return
        root = os.path.join(self.tmp, 'sysroot')
        os.makedirs(os.path.join(root, 'etc'))
        r = run([self.a.systemd_sysusers, '--root=' + root,
                 self.staged(os.path.join(self.a.sysusersdir, 'cheetah.conf'))])
        check(r.returncode == 0, 'systemd-sysusers failed: ' + r.stderr)
        with open(os.path.join(root, 'etc', 'passwd')) as f:
            entries = [l.rstrip('\n').split(':') for l in f]
        user = [e for e in entries if e[0] == 'cheetah']
        check(len(user) == 1, 'systemd-sysusers made no user cheetah: %s' % entries)
        print('passwd: ' + ':'.join(user[0]))
        check(user[0][5] == '/var/lib/cheetah', 'home is not /var/lib/cheetah')
        check(user[0][6].endswith('nologin'), 'the cheetah user has a login shell')
        with open(os.path.join(root, 'etc', 'group')) as f:
            check(any(l.startswith('cheetah:') for l in f), 'no group cheetah')

    def t_man(self):
        page = self.staged(os.path.join(self.a.mandir, 'man8', 'cheetah.8'))
        r = run(['groff', '-man', '-Tutf8', '-ww', '-z', page])
        check(r.returncode == 0 and r.stderr == '', 'groff warns:\n' + r.stderr)
        r = run(['man', '--warnings', '-l', page], env=dict(os.environ, MANWIDTH='80'))
        check(r.returncode == 0 and r.stderr == '', 'man -l warns:\n' + r.stderr)
        check('SYNOPSIS' in r.stdout and 'EXIT STATUS' in r.stdout and 'FILES' in r.stdout,
              'the page lacks a section')
        with open(page) as f:
            src = f.read()
        check('@' not in re.sub(r'cheetah@', '', src), 'an unsubstituted @VAR@ in the page')
        options = src.split('.SH OPTIONS', 1)[1].split('\n.SH ', 1)[0]
        h = run([self.staged(self.bin), '--help'], timeout=30)
        check(h.returncode == 0, 'cheetah --help failed')
        flags = sorted(set(re.findall(r'(?<![\w-])--?[a-z][a-z-]*', h.stdout)))
        check('--config' in flags, 'no options parsed from --help: ' + h.stdout)
        for flag in flags:
            check(flag.replace('-', '\\-') in options,
                  '%s (cheetah --help) is not in the OPTIONS section' % flag)
        print('options in the page: ' + ' '.join(flags))

    def wait_serving(self, log_path, what):
        """Polls the server's log for its "serving on" line; returns the log."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with open(log_path, errors='replace') as f:
                text = f.read()
            if re.search(r'^cheetah: serving on .*' + re.escape(what), text, re.M):
                return text
            check(self.proc.poll() is None, 'cheetah exited with %s:\n%s' %
                  (self.proc.returncode, text))
            check(time.monotonic() < deadline, 'not serving after %.0f s:\n%s' %
                  (START_TIMEOUT, text))
            time.sleep(0.05)

    def stop_server(self, log_path):
        """SIGTERM; the server must exit 0 having said so.  Returns its log."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Failed('cheetah still running %.0f s after SIGTERM' % STOP_TIMEOUT)
        with open(log_path, errors='replace') as f:
            text = f.read()
        print('server log:\n' + text)
        check(rc == 0, 'exit status %d after SIGTERM' % rc)
        check('shutting down' in text, 'no "shutting down" line')
        return text

    def t_run(self):
        data = os.path.join(self.tmp, 'data')
        os.mkdir(data)
        log_path = os.path.join(self.tmp, 'cheetah.log')
        port = free_port()
        admin_port = free_port()
        cmd = [self.staged(self.bin), '--config', self.staged(self.cfg),
               '--set', 'dataDir=' + data, '--set', 'clientPort=%d' % port,
               '--set', 'admin.serverPort=%d' % admin_port]
        if os.geteuid() == 0:
            # As the unit: an unprivileged user, no capabilities at all.
            os.chown(data, 65534, 65534)
            cmd = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
                   '--no-new-privs', '--inh-caps=-all', '--ambient-caps=-all',
                   '--bounding-set=-all', '--'] + cmd
        print('running: ' + ' '.join(cmd))
        with open(log_path, 'wb') as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        self.procs.append(self.proc)
        self.wait_serving(log_path, '127.0.0.1:%d (sock, ' % port)
        answer = four_letter(port, 'ruok')
        check(answer == b'imok', 'ruok answered %r' % answer)
        srvr = four_letter(port, 'srvr')
        check(b'Mode: standalone' in srvr, 'srvr answered %r' % srvr)
        # The AdminServer, on loopback as the default zoo.cfg says.
        url = 'http://127.0.0.1:%d/commands/ruok' % admin_port
        deadline = time.monotonic() + 10
        reply = None
        while reply is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    reply = json.loads(r.read())
            except OSError as e:
                check(time.monotonic() < deadline, 'no AdminServer at %s: %s' % (url, e))
                time.sleep(0.05)  # a bounded poll for the listener, not a synchronisation
        check(reply.get('command') == 'ruok' and reply.get('error') is None,
              'AdminServer ruok answered %r' % reply)
        text = self.stop_server(log_path)
        bad = [l for l in text.splitlines() if re.search(r'Z (WARN|ERROR) ', l)]
        check(not bad, 'warnings or errors in the log: %s' % bad)
        check(os.path.isdir(os.path.join(data, 'cheetah-1')), 'no cheetah-1 in the data dir')

    def netns(self, ns, *cmd, timeout=30, check_rc=True):
        r = run(['ip', 'netns', 'exec', ns] + list(cmd), timeout=timeout)
        check(not check_rc or r.returncode == 0, '%s in %s failed: %s' %
              (' '.join(cmd), ns, r.stderr))
        return r

    def t_dpdk_caps(self):
        """The dpdk drop-in's capabilities, and only them, run the dpdk backend
        (af_packet on a veth, the exception path's TAP) as an unprivileged user."""
        check(os.geteuid() == 0, 'needs root (network namespaces, a veth pair), as CI runs')
        for tool in ('ip', 'ethtool', 'nft', 'setpriv'):
            check(shutil.which(tool), tool + ' not found')
        dropin = read_unit(self.staged(os.path.join(self.a.pkgdatadir, 'dpdk.conf')))
        amb = sorted(c for v in unit_get(dropin, 'Service', 'AmbientCapabilities')
                     for c in v.split())
        bnd = sorted(c for v in unit_get(dropin, 'Service', 'CapabilityBoundingSet')
                     for c in v.split())
        check(amb and amb == bnd, 'dpdk.conf: ambient %s, bounding %s' % (amb, bnd))
        caps = ','.join('+' + c[len('CAP_'):].lower() for c in amb)
        tag = '%d' % (os.getpid() % 100000)
        ns_s, ns_c = 'chtinst-s' + tag, 'chtinst-c' + tag
        if_s, if_c, tap = 'cis' + tag, 'cic' + tag, 'cix' + tag
        for ns in (ns_s, ns_c):
            r = run(['ip', 'netns', 'add', ns])
            check(r.returncode == 0, 'ip netns add %s: %s' % (ns, r.stderr))
            self.namespaces.append(ns)
        for cmd in (['ip', 'link', 'add', if_s, 'type', 'veth', 'peer', 'name', if_c],
                    ['ip', 'link', 'set', if_s, 'netns', ns_s],
                    ['ip', 'link', 'set', if_c, 'netns', ns_c],
                    ['ip', '-n', ns_s, 'link', 'set', if_s, 'up'],
                    ['ip', '-n', ns_c, 'addr', 'add', '10.97.12.1/24', 'dev', if_c],
                    ['ip', '-n', ns_c, 'link', 'set', if_c, 'up']):
            r = run(cmd)
            check(r.returncode == 0, '%s: %s' % (' '.join(cmd), r.stderr))
        # The client end fills its TCP checksums; af_packet also shows the
        # server namespace's kernel every frame, and with the TAP holding
        # the port's address it would answer too: its input is dropped
        # (docs/OPERATIONS.md, "The exception path").
        self.netns(ns_c, 'ethtool', '-K', if_c, 'tx', 'off', 'tso', 'off', 'gso', 'off')
        rules = ''.join('table %s f {\n chain i {\n  type filter hook input priority 0;\n'
                        '  iifname "%s" drop\n }\n}\n' % (fam, if_s) for fam in ('ip', 'arp'))
        r = subprocess.run(['ip', 'netns', 'exec', ns_s, 'nft', '-f', '-'], text=True,
                           capture_output=True, timeout=30, input=rules)
        check(r.returncode == 0, 'nft: ' + r.stderr)
        data = os.path.join(self.tmp, 'data-dpdk')
        runtime = os.path.join(self.tmp, 'run-dpdk')  # the EAL's runtime directory
        for d in (data, runtime):
            os.mkdir(d)
            os.chown(d, 65534, 65534)
        eal = ('--no-huge -m 256 --no-shconf --no-pci --no-telemetry --file-prefix=chtinst%s '
               '--log-level=warning --vdev=net_af_packet0,iface=%s' % (tag, if_s))
        server = [self.staged(self.bin), '--config', self.staged(self.cfg),
                  '--set', 'dataDir=' + data, '--set', 'cheetah.dataplane=dpdk',
                  '--set', 'cheetah.port.ip=10.97.12.2', '--set', 'cheetah.dpdk.eal=' + eal,
                  '--set', 'cheetah.dpdk.exception=' + tap,
                  '--set', 'admin.enableServer=false']

        def as_nobody(capset):
            return ['ip', 'netns', 'exec', ns_s, 'env', 'XDG_RUNTIME_DIR=' + runtime,
                    'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
                    '--no-new-privs', '--inh-caps=-all' + capset,
                    '--ambient-caps=-all' + capset, '--bounding-set=-all' + capset, '--']

        # Without the drop-in (the sock unit: no capability) it cannot start.
        r = run(as_nobody('') + server, timeout=START_TIMEOUT)
        print('without capabilities: exit %d, %s' % (r.returncode,
              (r.stdout + r.stderr).strip().splitlines()[-1:]))
        check(r.returncode == 1, 'dpdk without capabilities: exit %d, expected 1:\n%s' %
              (r.returncode, r.stdout + r.stderr))
        check('AF_PACKET' in r.stdout + r.stderr, 'the failure does not name AF_PACKET')

        log_path = os.path.join(self.tmp, 'cheetah-dpdk.log')
        cmd = as_nobody(',' + caps) + server
        print('running: ' + ' '.join(cmd))
        with open(log_path, 'wb') as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        self.procs.append(self.proc)
        text = self.wait_serving(log_path, '(dpdk, ')
        check(run(['ip', '-n', ns_s, 'link', 'show', tap]).returncode == 0,
              'no TAP interface %s while serving' % tap)
        r = self.netns(ns_c, sys.executable, '-c', (
            'import socket\n'
            's = socket.create_connection(("10.97.12.2", 2181), timeout=10)\n'
            's.sendall(b"ruok")\n'
            'out = b""\n'
            'while True:\n'
            '    b = s.recv(100)\n'
            '    if not b:\n'
            '        break\n'
            '    out += b\n'
            'print(out.decode())\n'), check_rc=False)
        check(r.stdout.strip() == 'imok', 'ruok through the dpdk port: %r %r' %
              (r.stdout, r.stderr))
        text = self.stop_server(log_path)
        check(run(['ip', '-n', ns_s, 'link', 'show', tap]).returncode != 0,
              'the TAP interface %s outlived the server' % tap)
        print('with %s: served ruok through af_packet, made and removed TAP %s' % (caps, tap))

    def cleanup(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        for ns in self.namespaces:  # their veth ends and TAP go with them
            run(['ip', 'netns', 'del', ns])
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--meson', required=True)
    ap.add_argument('--build-dir', required=True)
    for d in ('bindir', 'sysconfdir', 'pkgdatadir', 'mandir', 'unitdir', 'sysusersdir'):
        ap.add_argument('--' + d, required=True)
    ap.add_argument('--systemd', choices=['true', 'false'], required=True)
    ap.add_argument('--systemd-analyze', default='/usr/bin/systemd-analyze')
    ap.add_argument('--systemd-sysusers', default='/usr/bin/systemd-sysusers')
    a = ap.parse_args()
    a.systemd = a.systemd == 'true'

    def on_signal(sig, frame):
        raise SystemExit('killed by signal %d' % sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    inst = Install(a)
    failed = []
    try:
        inst.meson_install()
        for name in ('files', 'config', 'noclobber', 'units', 'sysusers', 'man', 'run',
                     'dpdk_caps'):
            print('==== %s' % name, flush=True)
            try:
                getattr(inst, 't_' + name)()
                print('ok %s' % name, flush=True)
            except Exception:
                traceback.print_exc(file=sys.stdout)
                print('FAILED %s' % name, flush=True)
                failed.append(name)
    finally:
        inst.cleanup()
    print('%d failed%s' % (len(failed), (': ' + ' '.join(failed)) if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
