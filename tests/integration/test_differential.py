#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Differential test: the same seeded random operation sequence against two
servers, every reply and every watch event compared.

Several sessions per server, driven synchronously from one thread in an
order fixed by the seed, with the raw-protocol client (zkproto), so each
server sees exactly the same requests in exactly the same order.  Op
choice depends only on the seed and on replies already found equal.

Compared: reply error codes, reply-header zxids, decoded bodies (data,
Stat, ACLs, paths, multi results), children and getEphemerals as sets,
negotiated session timeouts, and per session the exact sequence of watch
notifications and replies.  Stat fields are compared in full except
ctime/mtime (wall clock; checked only for sanity); ephemeralOwner is mapped
to the logical session that owns it (ids differ per server).  czxid, mzxid,
pzxid and header zxids ARE compared: both servers start from an empty tree
and consume a zxid for createSession, every write (failed ones too, as
error txns) and closeSession, so the sequences must agree.

Where ordering is legitimately unspecified it is compared as a multiset:
children lists, getEphemerals, the NodeDeleted events of one closeSession
(ZooKeeper deletes a session's ephemerals in HashSet order) and the events
fired by one setWatches.

To keep cross-session results deterministic, a session that is about to
run an op after another session wrote first issues sync("/") (so every
event caused by earlier writes has reached it, and its reads see them).

Left out on purpose: checkWatches (ZooKeeper 3.8 answers OK when any
connection watches the path, see WatchManager.containsWatcher), time-based
expiry (sessions are pinged; TTLs are hours; the container check interval
is raised), and requests that make the server close the connection.

    test_differential.py --seed N --ops N --sessions N
                         --server-a KIND --server-b KIND [--cheetah-bin PATH]
"""
import argparse
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import zkproto as zp  # noqa: E402
from harness import log  # noqa: E402

OP = zp.OP
PING_IDLE = 1.0          # ping a session idle this long (s), to keep it alive

# ---- normalisation ------------------------------------------------------------


class Side:
    """One server and this run's sessions on it."""

    def __init__(self, label, server):
        self.label = label
        self.server = server
        self.conns = {}            # logical session name -> Conn
        self.owner_names = {}      # session id -> logical session name
        self.t_start_ms = int(time.time() * 1000)
        self.semantics = harness.SEMANTICS[server.kind]

    def norm_stat(self, st):
        if st is None:
            return None
        now = int(time.time() * 1000)
        for t, z in ((st.ctime, st.czxid), (st.mtime, st.mzxid)):
            if t == 0 and z == 0:
                continue      # the system nodes /, /zookeeper, ...
            if not (self.t_start_ms - 60000 <= t <= now + 60000):
                raise AssertionError('%s: implausible time %d in %r' % (self.label, t, st))
        if st.mtime < st.ctime:
            raise AssertionError('%s: mtime before ctime in %r' % (self.label, st))
        owner = st.ephemeralOwner
        if owner != 0:
            owner = self.owner_names.get(owner, 'unknown-session-0x%x' % (owner & (2 ** 64 - 1)))
        return ('Stat', st.czxid, st.mzxid, st.version, st.cversion, st.aversion,
                owner, st.dataLength, st.numChildren, st.pzxid)

    def norm_result(self, opcode, rep):
        """(err, header zxid, normalised body) for a reply."""
        if rep.err != 0:
            return (zp.ERRNAME.get(rep.err, rep.err), rep.zxid, rep.body.hex() if rep.body else None)
        body = zp.decode_body(opcode, rep.body)
        return (0, rep.zxid, self.norm_body(opcode, body))

    def norm_body(self, opcode, body):
        out = []
        for v in body:
            out.append(self.norm_value(opcode, v))
        return tuple(out)

    def norm_value(self, opcode, v):
        if isinstance(v, zp.Stat):
            return self.norm_stat(v)
        if opcode == OP['whoAmI'] and isinstance(v, list) and harness.DPDK_VETH:
            # Server over veth: the client's address is the veth one there,
            # 127.0.0.1 towards the other server.
            v = [(s, '(client address)') if s == 'ip' else (s, i) for s, i in v]
        if opcode in (OP['getChildren'], OP['getChildren2'], OP['getEphemerals'],
                      OP['whoAmI']) and isinstance(v, list):
            return ('set', tuple(sorted(v)))
        if opcode in (OP['multi'], OP['multiRead']) and isinstance(v, list):
            res = []
            for r in v:
                r2 = []
                for x in r:
                    if isinstance(x, zp.Stat):
                        x = self.norm_stat(x)
                    elif isinstance(x, list):
                        x = ('set', tuple(sorted(x)))
                    r2.append(x)
                res.append(tuple(r2))
            return tuple(res)
        if isinstance(v, list):
            return tuple(tuple(x) if isinstance(x, (list, tuple)) else x for x in v)
        return v


NODE_EVENTS = (1, 2, 3, 4)


def norm_event(ev, side, cross, from_setwatches=False):
    """Across 3.8 and 3.9 the notification header zxid differs by design
    (ZOOKEEPER-4655): 3.8 sends -1, 3.9 the zxid of the triggering txn.
    Each side is then checked against its own release and the zxid is left
    out of the comparison; compare_session checks the 3.9 zxids' order.
    Events fired by setWatches itself come from no transaction: -1."""
    zxid = ev.zxid
    if cross:
        if side.semantics == '3.8':
            zxid = 'zxid' if ev.zxid == -1 else 'BAD(3.8 sends -1): %d' % ev.zxid
        elif ev.type in NODE_EVENTS and not from_setwatches:
            zxid = 'zxid' if ev.zxid > 0 else 'BAD(3.9 sends the txn zxid): %d' % ev.zxid
        else:
            zxid = 'zxid' if ev.zxid == -1 else 'BAD: %d' % ev.zxid
    return ('event', zp.EVENTNAME.get(ev.type, ev.type), ev.state, ev.path, zxid)


class Difference(AssertionError):
    pass


# ---- the driver ------------------------------------------------------------------

NAMES1 = ['a', 'b', 'c']
NAMES2 = ['x', 'y', 'z']
NAMES3 = ['p', 'q']
USERS = [('u1', 'p1'), ('u2', 'p2')]


class Driver:
    def __init__(self, args, a, b):
        self.args = args
        self.rng = random.Random(args.seed)
        self.sides = [a, b]
        self.history = []          # (index, text, result-of-A)
        self.paths = {}            # ordered set of paths worth targeting
        for n1 in NAMES1:
            self._add_path('/' + n1)
            for n2 in NAMES2:
                self._add_path('/%s/%s' % (n1, n2))
                for n3 in NAMES3:
                    self._add_path('/%s/%s/%s' % (n1, n2, n3))
        self.sessions = []         # live logical session names, in creation order
        self.session_counter = 0
        self.auth = {}             # session -> list of (user, pw)
        self.watch_reg = {}        # session -> dict kind -> ordered set of paths
        self.writes = 0            # global count of state-changing ops
        self.seen_writes = {}      # session -> self.writes at its last op
        self.last_use = {}         # session -> monotonic time of last request
        self.compared = {}         # (side index, session) -> trace items compared so far
        self.ops_done = 0
        self.stats = {}
        self.errors = {}
        self.events = 0
        self.current = None
        # Servers following different releases (3.8 vs 3.9): see harness.SEMANTICS.
        self.cross = a.semantics != b.semantics
        self.side38 = a if a.semantics == '3.8' else b
        self.last_event_zxid = {}
        self.known_diffs = {}
        self.watch_mode = {}       # (session, path) -> 'oneshot' | 'persistent' | 'recursive'

    # -- helpers
    def _add_path(self, p):
        if p not in self.paths:
            self.paths[p] = None

    def pick_path(self):
        r = self.rng.random()
        keys = list(self.paths)
        if r < 0.03:
            return self.rng.choice(['/', '/zookeeper', '/zookeeper/quota', '/zookeeper/config'])
        if r < 0.05:
            return self.rng.choice(['/nope', '/a/nope/deeper', '/a/', 'rel', '/a//x', '/b/.'])
        return self.rng.choice(keys)

    def pick_data(self):
        r = self.rng.random()
        if r < 0.05:
            return None
        if r < 0.15:
            return b''
        if r < 0.18:
            n = self.rng.randint(1000, 8000)
        else:
            n = self.rng.randint(1, 24)
        return bytes(self.rng.getrandbits(8) for _ in range(n))

    def pick_acl(self, session):
        r = self.rng.random()
        if self.args.open_acls_only:
            return zp.OPEN_ACL, 'open'
        if r < 0.78:
            return zp.OPEN_ACL, 'open'
        if r < 0.83:
            return zp.READ_ACL, 'world:r'
        if r < 0.88:
            u, p = self.rng.choice(USERS)
            return [(zp.PERM_ALL, 'digest', zp.digest_id(u, p))], 'digest:%s' % u
        if r < 0.92:
            return zp.CREATOR_ALL_ACL, 'creator'
        if r < 0.94:
            perms = self.rng.choice([zp.PERM_READ | zp.PERM_WRITE, zp.PERM_CREATE | zp.PERM_READ,
                                     zp.PERM_DELETE | zp.PERM_READ, zp.PERM_ADMIN])
            return [(perms, 'world', 'anyone')], 'world:%d' % perms
        if r < 0.96:
            return [], 'empty'
        if r < 0.98:
            return [(zp.PERM_ALL, 'digest', 'nocolon')], 'bad-digest'
        u, p = USERS[0]
        return ([(zp.PERM_READ, 'world', 'anyone'), (zp.PERM_ALL, 'digest', zp.digest_id(u, p))],
                'world:r+digest:u1')

    def pick_version(self):
        r = self.rng.random()
        if r < 0.6:
            return -1
        return self.rng.randint(0, 3)

    def pick_create(self, session, in_multi=False):
        """Returns (opcode, payload, text)."""
        path = self.pick_path()
        if self.rng.random() < 0.3:
            path = path.rstrip('/') + '/' + self.rng.choice(NAMES2 + NAMES3 + ['s-', 'e-'])
        r = self.rng.random()
        flags = (0 if r < 0.40 else 1 if r < 0.55 else 2 if r < 0.68 else 3 if r < 0.78 else
                 4 if r < 0.86 else 5 if r < 0.92 else 6 if r < 0.97 else
                 self.rng.choice([7, -1, 99]))
        ttl = None
        if flags in (5, 6):
            opcode = OP['createTTL']
            q = self.rng.random()
            ttl = (self.rng.randint(3600000, 10 ** 9) if q < 0.85 else
                   self.rng.choice([0, -5, 1 << 40, (1 << 40) - 1]))
        elif flags == 4:
            opcode = OP['createContainer']
        else:
            opcode = self.rng.choice([OP['create'], OP['create2']])
        q = self.rng.random()
        if q < 0.02:
            # mismatched opcode and mode
            opcode = self.rng.choice([OP['create2'], OP['createContainer'], OP['createTTL']])
            if opcode == OP['createTTL'] and flags not in (5, 6):
                # a non-negative ttl: BADARGUMENTS.  (ttl -1 here passes
                # ZooKeeper 3.8's prep and then kills its SyncThread when
                # the txn is applied; test_badinput covers that case.)
                ttl = self.rng.choice([0, 5000000])
            if opcode != OP['createTTL']:
                ttl = None
        if in_multi and opcode == OP['create'] and self.rng.random() < 0.5:
            opcode = OP['create2']
        data = self.pick_data()
        acl, acl_text = self.pick_acl(session)
        payload = zp.r_create(path, data, acl, flags, ttl)
        text = '%s %s flags=%d%s acl=%s data=%s' % (
            zp.OPNAME[opcode], path, flags, '' if ttl is None else ' ttl=%d' % ttl, acl_text,
            'null' if data is None else '%dB' % len(data))
        return opcode, payload, text

    # -- sessions
    def open_session(self, timeout_ms=30000):
        name = 'S%d' % self.session_counter
        self.session_counter += 1
        negotiated = []
        for side in self.sides:
            c = zp.Conn(side.server.host, side.server.port, timeout_ms=timeout_ms)
            c.trace = []
            side.conns[name] = c
            side.owner_names[c.session_id] = name
            self.compared[(side.label, name)] = 0
            negotiated.append(c.negotiated_timeout)
        self.record('%s connect timeout=%d' % (name, timeout_ms), ('negotiated', negotiated[0]))
        if negotiated[0] != negotiated[1]:
            self.fail('%s: negotiated session timeout' % name, negotiated[0], negotiated[1])
        self.sessions.append(name)
        self.auth[name] = []
        self.watch_reg[name] = {'data': {}, 'exist': {}, 'child': {}, 'persistent': {},
                                'recursive': {}}
        self.writes += 1           # createSession is a transaction
        self.seen_writes[name] = self.writes
        self.last_use[name] = time.monotonic()
        return name

    def keepalive(self):
        now = time.monotonic()
        for s in self.sessions:
            if now - self.last_use[s] > PING_IDLE:
                for side in self.sides:
                    side.conns[s].ping()
                self.last_use[s] = now

    # -- recording and comparing
    def record(self, text, result):
        self.history.append((self.ops_done, text, result))

    def fail(self, what, got_a, got_b):
        lines = ['', '=' * 78, 'FIRST DIFFERENCE after %d ops (seed %d): %s' % (
            self.ops_done, self.args.seed, what),
            '  %s (%s): %r' % (self.sides[0].label, self.sides[0].server.kind, got_a),
            '  %s (%s): %r' % (self.sides[1].label, self.sides[1].server.kind, got_b),
            '', 'op history (last %d of %d; results as server A answered):' % (
                min(len(self.history), self.args.history), len(self.history))]
        for idx, text, res in self.history[-self.args.history:]:
            lines.append('  #%-5d %s\n         -> %r' % (idx, text, res))
        paths = set()

        def collect(x):
            if isinstance(x, str) and x.startswith('/'):
                paths.add(x)
            elif isinstance(x, (tuple, list)):
                for y in x:
                    collect(y)
        collect(got_a)
        collect(got_b)
        if paths:
            rel = [h for h in self.history if any(
                p in h[1] or p in repr(h[2]) for p in paths)]
            lines.append('')
            lines.append('earlier ops naming %s (last %d of %d):' % (
                ', '.join(sorted(paths)), min(len(rel), self.args.history), len(rel)))
            for idx, text, res in rel[-self.args.history:]:
                lines.append('  #%-5d %s\n         -> %r' % (idx, text, res))
        lines.append('reproduce: test_differential.py --seed %d --ops %d --sessions %d '
                     '--server-a %s --server-b %s' % (
                         self.args.seed, self.args.ops, self.args.sessions,
                         self.args.server_a, self.args.server_b))
        if self.args.dump_history:
            with open(self.args.dump_history, 'w') as f:
                for idx, text, res in self.history:
                    f.write('#%-5d %s\n         -> %r\n' % (idx, text, res))
            lines.append('full history written to %s' % self.args.dump_history)
        raise Difference('\n'.join(lines))

    def new_items(self, side, session):
        c = side.conns[session]
        k = (side.label, session)
        items = c.trace[self.compared[k]:]
        self.compared[k] = len(c.trace)
        return items

    def check_event_zxids(self, side, session, items, text, from_setwatches):
        """3.9 notification zxids: positive, never decreasing on one
        session, never above the zxid of the reply that follows them."""
        key = (side.label, session)
        last = self.last_event_zxid.get(key, 0)
        for it in items:
            if it[0] == 'event' and it[1].type in NODE_EVENTS and not (
                    from_setwatches and it[1].zxid == -1):
                if it[1].zxid < last:
                    self.fail('%s: %s: notification zxids go backwards on %s (%d after %d)'
                              % (session, text, side.label, it[1].zxid, last), items, '')
                last = it[1].zxid
            elif it[0] == 'reply' and len(it[1]) > 3 and isinstance(it[1][3], int) and \
                    0 < it[1][3] < last:
                self.fail('%s: %s: %s sent a notification with zxid %d before a reply '
                          'with zxid %d' % (session, text, side.label, last, it[1][3]), items, '')
        self.last_event_zxid[key] = last

    def compare_session(self, session, text, unordered_events=False, from_setwatches=False):
        got = []
        for side in self.sides:
            items = self.new_items(side, session)
            if self.cross and side.semantics != '3.8':
                self.check_event_zxids(side, session, items, text, from_setwatches)
            norm = []
            for it in items:
                if it[0] == 'event':
                    norm.append(norm_event(it[1], side, self.cross, from_setwatches))
                else:
                    norm.append(it[1])
            if side is self.sides[0]:
                self.events += sum(1 for x in norm if x[0] == 'event')
            if unordered_events:
                evs = sorted(x for x in norm if x[0] == 'event')
                rest = [x for x in norm if x[0] != 'event']
                norm = evs + rest
            got.append(norm)
        if got[0] != got[1]:
            self.fail('%s: %s' % (session, text), got[0], got[1])
        return got[0]

    def do(self, session, opcode, payload, text, xid=None, write=False, unordered=False,
           known=None):
        """Send one request on both sides, compare everything the session
        received up to and including the reply.  known: a 3.8/3.9
        difference expected for this request (see harness.SEMANTICS)."""
        results = []
        for side in self.sides:
            c = side.conns[session]
            try:
                rep = c.call(opcode, payload, xid=xid)
            except (zp.ConnectionClosed, socket.timeout, OSError) as e:
                self.record('%s %s' % (session, text), 'no reply from %s: %s' % (side.label, e))
                self.fail('%s: %s: no reply' % (session, text), results[0] if results else e,
                          e if results else '(not sent)')
            res = ('reply', zp.OPNAME.get(opcode, opcode)) + side.norm_result(opcode, rep)
            if known == 'exists-noauth':
                # ZOOKEEPER-2590: 3.9 answers NOAUTH, 3.8 the Stat.
                want = 'NOAUTH' if side.semantics != '3.8' else 0
                if res[2] != want:
                    res = res + ('BAD: %s expected %r here (exists without READ)'
                                 % (side.semantics, want),)
                else:
                    res = ('reply', 'exists', 'stat or NOAUTH (exists without READ)', res[3])
                    self.known_diffs[known] = self.known_diffs.get(known, 0) + 1
            c.trace.append(('reply', res))
            results.append(res)
        self.last_use[session] = time.monotonic()
        self.errors[results[0][2]] = self.errors.get(results[0][2], 0) + 1
        full = '%s %s' % (session, text)
        self.record(full, results[0])
        self.compare_session(session, full, unordered_events=unordered)
        if write:
            self.writes += 1
        self.seen_writes[session] = self.writes
        self.stats[zp.OPNAME.get(opcode, opcode)] = self.stats.get(zp.OPNAME.get(opcode, opcode), 0) + 1
        return results[0]

    def sync_session(self, session, unordered=False):
        self.do(session, OP['sync'], zp.r_path('/'), 'sync / (catch up)', unordered=unordered)

    def flush_all(self, unordered=False):
        for s in self.sessions:
            self.sync_session(s, unordered=unordered)

    # -- one random operation
    def step(self):
        self.keepalive()
        if not self.sessions or (len(self.sessions) < self.args.sessions and self.rng.random() < 0.2):
            self.open_session(self.rng.choice([30000] * 6 + [1000, 100000, 7777]))
            return
        # stay on one session for a few ops at a time (fewer catch-up syncs)
        if self.current not in self.sessions or self.rng.random() < 0.35:
            self.current = self.rng.choice(self.sessions)
        session = self.current
        if self.seen_writes[session] < self.writes:
            self.sync_session(session)
        r = self.rng.random() * 100
        reg = self.watch_reg[session]
        if r < 22:
            opcode, payload, text = self.pick_create(session)
            res = self.do(session, opcode, payload, text, write=True)
            if res[2] == 0:
                self._add_path(res[4][0])
        elif r < 32:
            path, v = self.pick_path(), self.pick_version()
            self.do(session, OP['delete'], zp.r_delete(path, v), 'delete %s v=%d' % (path, v),
                    write=True)
        elif r < 43:
            path, v, data = self.pick_path(), self.pick_version(), self.pick_data()
            self.do(session, OP['setData'], zp.r_set_data(path, data, v),
                    'setData %s v=%d data=%s' % (path, v, 'null' if data is None else len(data)),
                    write=True)
        elif r < 49:
            path, w = self.pick_path(), self.rng.random() < 0.5
            self.step_exists(session, path, w)
        elif r < 57:
            path, w = self.pick_path(), self.rng.random() < 0.5
            w = w and self.may_watch(session, path, 'oneshot')
            res = self.do(session, OP['getData'], zp.r_path_watch(path, w),
                          'getData %s watch=%s' % (path, w))
            if w and res[2] == 0:
                reg['data'][path] = None
        elif r < 64:
            path, w = self.pick_path(), self.rng.random() < 0.5
            w = w and self.may_watch(session, path, 'oneshot')
            opcode = self.rng.choice([OP['getChildren'], OP['getChildren2']])
            res = self.do(session, opcode, zp.r_path_watch(path, w),
                          '%s %s watch=%s' % (zp.OPNAME[opcode], path, w))
            if res[2] == 0:
                for ch in res[4][0][1]:
                    self._add_path(path.rstrip('/') + '/' + ch)
                if w:
                    reg['child'][path] = None
        elif r < 67:
            path = self.pick_path()
            self.do(session, OP['getACL'], zp.r_path(path), 'getACL %s' % path)
        elif r < 71:
            path, v = self.pick_path(), self.pick_version()
            acl, acl_text = self.pick_acl(session)
            self.do(session, OP['setACL'], zp.r_set_acl(path, acl, v),
                    'setACL %s acl=%s v=%d' % (path, acl_text, v), write=True)
        elif r < 72:
            path = self.pick_path()
            self.do(session, OP['sync'], zp.r_path(path), 'sync %s' % path)
        elif r < 81:
            self.step_multi(session)
        elif r < 83:
            ops, texts = [], []
            for _ in range(self.rng.randint(1, 4)):
                path = self.pick_path()
                opcode = self.rng.choice([OP['getData'], OP['getChildren']])
                ops.append((opcode, zp.r_path_watch(path, False)))
                texts.append('%s %s' % (zp.OPNAME[opcode], path))
            self.do(session, OP['multiRead'], zp.r_multi(ops), 'multiRead [%s]' % '; '.join(texts))
        elif r < 85:
            prefix = self.rng.choice(['/', '', '/a', '/a/', '/b/x', '/c/z/p', '/nope'])
            self.do(session, OP['getEphemerals'], zp.r_path(prefix), 'getEphemerals %r' % prefix)
        elif r < 87:
            path = self.pick_path()
            self.do(session, OP['getAllChildrenNumber'], zp.r_path(path),
                    'getAllChildrenNumber %s' % path)
        elif r < 91:
            path, mode = self.pick_path(), self.rng.choice([0, 1])
            if self.cross and self.watch_mode.get((session, path)) in ('persistent', 'recursive'):
                mode = 0 if self.watch_mode[(session, path)] == 'persistent' else 1
            if self.may_watch(session, path, ['persistent', 'recursive'][mode]):
                res = self.do(session, OP['addWatch'], zp.r_path_type(path, mode),
                              'addWatch %s mode=%s' % (path, ['persistent', 'recursive'][mode]))
                if res[2] == 0:
                    reg['recursive' if mode else 'persistent'][path] = None
            else:
                # 3.8 would replace this session's one-shot watch on path
                self.step_exists(session, path, False)
        elif r < 92.5:
            path, typ = self.pick_path(), self.rng.choice([1, 2, 3])
            if self.cross and self.watch_mode.get((session, path)) in ('persistent', 'recursive'):
                typ = 3    # 3.8's Data/Children removal also drops persistent watches
            self.do(session, OP['removeWatches'], zp.r_path_type(path, typ),
                    'removeWatches %s type=%d' % (path, typ))
        elif r < 94:
            u, p = self.rng.choice(USERS + [('u1', 'wrong'), ('nocolon', None)])
            cred = u if p is None else '%s:%s' % (u, p)
            self.do(session, OP['auth'], zp.r_auth('digest', cred), 'auth digest %s' % cred,
                    xid=zp.AUTH_XID)
            self.auth[session].append((u, p))
        elif r < 94.5:
            self.do(session, OP['whoAmI'], b'', 'whoAmI')
        elif r < 95.2:
            self.step_close(session)
        elif r < 96:
            self.step_reconnect(session)
        else:
            self.step_exists(session, self.pick_path(), True)
        self.ops_done += 1

    def may_watch(self, session, path, mode):
        """Across 3.8 and 3.9, a session keeps one watch mode per path
        (3.8 replaces the earlier mode, 3.9 keeps both: ZOOKEEPER-4466).
        Returns whether a watch of this mode may be set, and notes it."""
        if not self.cross:
            return True
        prev = self.watch_mode.setdefault((session, path), mode)
        return prev == mode

    def step_exists(self, session, path, w):
        reg = self.watch_reg[session]
        known = None
        if self.cross:
            # exists on a node this session may not READ differs (ZOOKEEPER-2590);
            # ask the 3.8 server first (a read: no zxid, no watch) and then
            # neither side gets a watch from it.
            probe = self.side38.conns[session].call(OP['getData'], zp.r_path_watch(path, False))
            if probe.err == zp.ERR['NOAUTH']:
                known, w = 'exists-noauth', False
            w = w and self.may_watch(session, path, 'oneshot')
        res = self.do(session, OP['exists'], zp.r_path_watch(path, w),
                      'exists %s watch=%s' % (path, w), known=known)
        if w:
            reg['data' if res[2] == 0 else 'exist'][path] = None

    def step_multi(self, session):
        ops, texts = [], []
        for _ in range(self.rng.randint(0, 6)):
            r = self.rng.random()
            if r < 0.4:
                opcode, payload, text = self.pick_create(session, in_multi=True)
            elif r < 0.6:
                path, v = self.pick_path(), self.pick_version()
                opcode, payload, text = OP['delete'], zp.r_delete(path, v), 'delete %s v=%d' % (path, v)
            elif r < 0.85:
                path, v, data = self.pick_path(), self.pick_version(), self.pick_data()
                opcode, payload = OP['setData'], zp.r_set_data(path, data, v)
                text = 'setData %s v=%d' % (path, v)
            else:
                path, v = self.pick_path(), self.pick_version()
                opcode, payload, text = OP['check'], zp.r_check(path, v), 'check %s v=%d' % (path, v)
            ops.append((opcode, payload))
            texts.append(text)
        res = self.do(session, OP['multi'], zp.r_multi(ops), 'multi [%s]' % '; '.join(texts),
                      write=True)
        if res[2] == 0:
            for r in res[4][0]:
                if r[0] in ('create', 'create2', 'createTTL', 'createContainer'):
                    self._add_path(r[1])

    def step_close(self, session):
        # flush everyone, close, then compare what each session saw of it
        # (one closeSession's deletions come in an unspecified order)
        self.flush_all()
        self.do(session, OP['closeSession'], b'', 'closeSession', write=True, unordered=True)
        for side in self.sides:
            side.conns[session].close_socket()
        self.sessions.remove(session)
        self.flush_all(unordered=True)

    def step_reconnect(self, session):
        """Drop the TCP connection, reattach to the session with the last
        zxid seen, re-register the session's watches with setWatches2."""
        reg = self.watch_reg[session]
        negotiated = []
        for side in self.sides:
            c = side.conns[session]
            c.close_socket()
            c.connect()
            negotiated.append(c.negotiated_timeout)
        self.record('%s reconnect' % session, ('negotiated', negotiated[0]))
        if negotiated[0] != negotiated[1]:
            self.fail('%s: negotiated timeout on reconnect' % session, negotiated[0], negotiated[1])
        results = []
        for side in self.sides:
            c = side.conns[session]
            payload = zp.r_set_watches(c.last_zxid, list(reg['data']), list(reg['exist']),
                                       list(reg['child']), list(reg['persistent']),
                                       list(reg['recursive']))
            rep = c.call(OP['setWatches2'], payload, xid=zp.SET_WATCHES_XID)
            res = ('reply', 'setWatches2', zp.ERRNAME.get(rep.err, rep.err), rep.zxid)
            c.trace.append(('reply', res))
            results.append(res)
        self.last_use[session] = time.monotonic()
        text = '%s setWatches2 data=%d exist=%d child=%d persistent=%d recursive=%d' % (
            session, len(reg['data']), len(reg['exist']), len(reg['child']),
            len(reg['persistent']), len(reg['recursive']))
        self.record(text, results[0])
        self.compare_session(session, text, unordered_events=True, from_setwatches=True)

    def run(self):
        t0 = time.monotonic()
        for _ in range(self.args.sessions):
            self.open_session()
        while self.ops_done < self.args.ops:
            self.step()
        self.flush_all()
        # close the remaining sessions one by one, comparing as above
        while self.sessions:
            self.step_close(self.sessions[0])
        took = time.monotonic() - t0
        log('differential: %d ops, %d sessions opened, %d history entries, %.1fs: no difference'
            % (self.ops_done, self.session_counter, len(self.history), took))
        if self.known_diffs:
            log('known 3.8/3.9 differences seen (and checked per side): %s' % ', '.join(
                '%s=%d' % kv for kv in sorted(self.known_diffs.items())))
        log('events compared: %d; replies per error code: %s' % (
            self.events, ', '.join('%s=%d' % kv for kv in sorted(self.errors.items(), key=str))))
        log('requests per type: ' + ', '.join('%s=%d' % kv for kv in sorted(self.stats.items())))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--ops', type=int, default=3000)
    p.add_argument('--sessions', type=int, default=4)
    p.add_argument('--server-a', choices=harness.KINDS, default='zookeeper')
    p.add_argument('--server-b', choices=harness.KINDS, default='zookeeper')
    p.add_argument('--cheetah-bin', default=os.environ.get('CHEETAH_BIN'))
    p.add_argument('--history', type=int, default=60, help='ops of history to print')
    p.add_argument('--dump-history', metavar='FILE', help='write the whole op history here')
    p.add_argument('--open-acls-only', action='store_true',
                   help='every node world:anyone ALL (to look past an ACL-related '
                        'difference while debugging; meson never passes it)')
    p.add_argument('--cheetah-set', action='append', default=[], metavar='KEY=VALUE',
                   help='extra zoo.cfg setting for cheetah servers (e.g. '
                        'cheetah.dataplane.cores=0,1)')
    args = p.parse_args()
    cfg = {'extendedTypesEnabled': 'true', 'forceSync': 'no',
           'znode.container.checkIntervalMs': 3600000,
           'maxSessionTimeout': 60000}
    cheetah_cfg = dict(cfg, **dict(kv.split('=', 1) for kv in args.cheetah_set))
    servers = []
    status = 1
    try:
        for label, kind in (('A', args.server_a), ('B', args.server_b)):
            s = harness.Server(kind, cheetah_bin=args.cheetah_bin,
                               config=cheetah_cfg if kind == 'cheetah' else cfg,
                               name='diff-%s-%s' % (label, kind))
            servers.append(s)
        for s in servers:
            s.start()
        a, b = Side('A', servers[0]), Side('B', servers[1])
        log('differential: seed %d, %d ops, %d sessions, A=%s B=%s' % (
            args.seed, args.ops, args.sessions, args.server_a, args.server_b))
        try:
            Driver(args, a, b).run()
            for srv in servers:
                srv.stop_clean()
            status = 0
        except Difference as e:
            log(str(e))
        except (zp.ConnectionClosed, socket.timeout, OSError, ValueError) as e:
            import traceback
            traceback.print_exc(file=sys.stdout)
            log('differential: connection failure: %s' % e)
        except AssertionError as e:
            log('differential: %s' % e)
        if status:
            for s in servers:
                if s.proc is not None and not s.alive():
                    log('[harness] %s exited (status %s)' % (s.name, s.proc.returncode))
                log(s.log_tail(25))
    finally:
        for s in servers:
            s.cleanup()
    sys.exit(status)


if __name__ == '__main__':
    main()
