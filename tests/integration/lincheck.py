# SPDX-License-Identifier: Apache-2.0
"""Linearizability checker for ZooKeeper-protocol histories, per znode.

Why: a replicated server can lose an acknowledged write, let a conditional
setData succeed against a version that was already replaced, or serve a
stale value to a read that was meant to be linearizable (sync + getData),
and each of these shows only in the interleaving of concurrent clients.
Clients record a history (invocation and response times from one
monotonic clock, outcome); this module decides whether some total order
of the operations, consistent with real time, explains every outcome.

Model: each znode path is an independent register holding
(exists, data, version).  Operations (Op.kind):
  create(data)                 ok -> (True, data, 0); NODEEXISTS if present
  set(data, expect=-1)         ok -> version + 1 (returned version checked
                               when recorded); BADVERSION when expect is
                               not -1 and differs; NONODE if absent
  delete(expect=-1)            ok -> absent; BADVERSION; NONODE
  read                         a linearizable read (sync, then getData in
                               the same session): result None (NONODE) or
                               (data, version) must equal the state
Outcome 'unknown' (the reply was lost: connection loss, session expiry, a
client-side timeout) means the write may or may not have taken effect, at
any moment after its invocation: its response time is infinity and the
search may apply it (when the model allows success) or drop it.  Plain
reads (served by whichever replica the session is connected to) are only
sequentially consistent in ZooKeeper; check_session_monotonic() checks
that a session never observes a key going back (mzxid), including behind
its own acknowledged writes.

Search: Wing & Gong's backtracking over the call/return events, with
Lowe's memoisation (a (set of linearized ops, model state) configuration
seen once is never explored again) and just-in-time linearization (an op
is linearized only when a return event forces it or when it is minimal).
The search is bounded by max_steps; beyond it the verdict is 'undecided',
never a guess.  On a violation, the counterexample is the shortest window
of consecutive operations (by invocation) ending at the first return that
cannot be explained which is non-linearizable from any initial state.

Pure Python, no dependencies; used by test_ensemble_faults.py and tested
by test_lincheck.py.
"""
import math

INF = math.inf
UNK = object()          # unknown data or version (window search only)

OK = 'ok'
NONODE = 'nonode'
NODEEXISTS = 'nodeexists'
BADVERSION = 'badversion'
UNKNOWN = 'unknown'
OUTCOMES = (OK, NONODE, NODEEXISTS, BADVERSION, UNKNOWN)
KINDS = ('create', 'set', 'delete', 'read')

ABSENT = (False, None, None)
ANY = (None, UNK, UNK)   # nothing known (window search)


class Op:
    """One operation of a history.

    kind: create|set|delete|read; key: the znode path; data: bytes for
    create/set; expect: expected version for set/delete (-1: any);
    outcome: one of OUTCOMES; result: for read, None (NONODE) or (data,
    version); for set with outcome ok, the new version or None if not
    recorded.  call/ret: monotonic times (ret = INF for 'unknown').
    session: who issued it (for messages); zxid: the mzxid the reply
    carried, if any (used by the monotonicity check only)."""

    __slots__ = ('kind', 'key', 'data', 'expect', 'outcome', 'result',
                 'call', 'ret', 'session', 'zxid', 'id')

    def __init__(self, kind, key, call, ret, outcome, data=None, expect=-1,
                 result=None, session=None, zxid=None):
        if kind not in KINDS:
            raise ValueError('unknown op kind %r' % kind)
        if outcome not in OUTCOMES:
            raise ValueError('unknown outcome %r' % outcome)
        if kind == 'read' and outcome == UNKNOWN:
            raise ValueError('a read with no reply has no outcome: leave it out')
        if outcome == UNKNOWN:
            ret = INF
        if not ret >= call:
            raise ValueError('response before invocation: %r' % ((call, ret),))
        self.kind = kind
        self.key = key
        self.data = data
        self.expect = expect
        self.outcome = outcome
        self.result = result
        self.call = call
        self.ret = ret
        self.session = session
        self.zxid = zxid
        self.id = None

    def __repr__(self):
        if self.kind in ('create', 'set'):
            arg = repr(self.data)
            if self.kind == 'set' and self.expect != -1:
                arg += ', expect=%d' % self.expect
        elif self.kind == 'delete':
            arg = '' if self.expect == -1 else 'expect=%d' % self.expect
        else:
            arg = ''
        res = self.outcome
        if self.kind == 'read' and self.outcome == OK:
            res = 'ok %r v%d' % self.result if self.result else 'ok'
        elif self.kind == 'set' and self.outcome == OK and self.result is not None:
            res = 'ok v%d' % self.result
        ret = 'inf' if self.ret == INF else '%.6f' % self.ret
        return '[%.6f, %s] s%s %s %s(%s) -> %s' % (
            self.call, ret, self.session, self.key, self.kind, arg, res)


def _unify(have, want):
    """have may be UNK: returns the unified value or raises ValueError."""
    if have is UNK:
        return want
    if have != want:
        raise ValueError
    return have


def _step(state, op):
    """The states the register may be in after op, from state (a list,
    empty when op's outcome is impossible from state)."""
    ex, data, ver = state
    k, out = op.kind, op.outcome
    try:
        if out == UNKNOWN:
            # Not applied, or applied with success (an applied error
            # changes nothing: the same as not applied).
            nxt = [state]
            tmp = Op.__new__(Op)
            for s in Op.__slots__:
                setattr(tmp, s, getattr(op, s))
            tmp.outcome = OK
            tmp.result = None
            for s2 in _step(state, tmp):
                if s2 not in nxt:
                    nxt.append(s2)
            return nxt
        if k == 'read':
            if op.result is None:
                if ex is True:
                    return []
                return [ABSENT]
            if ex is False:
                return []
            d, v = op.result
            return [(True, _unify(data, d), _unify(ver, v))]
        if k == 'create':
            if out == OK:
                return [] if ex is True else [(True, op.data, 0)]
            if out == NODEEXISTS:
                return [] if ex is False else [(True, data, ver)]
            return []
        # set, delete
        if out == NONODE:
            return [] if ex is True else [ABSENT]
        if ex is False:
            return []
        if out == BADVERSION:
            if op.expect == -1:
                return []
            if ver is not UNK and ver == op.expect:
                return []
            return [(True, data, ver)]
        if out != OK:
            return []
        if op.expect != -1:
            ver = _unify(ver, op.expect)
        if k == 'delete':
            return [ABSENT]
        if op.result is not None:
            ver = _unify(ver, op.result - 1)
        return [(True, op.data, UNK if ver is UNK else ver + 1)]
    except ValueError:
        return []


class Result:
    """verdict: 'ok' | 'violation' | 'undecided'; for a violation,
    window: the ops of the shortest failing window, and prefix: how many
    ops (by invocation) the longest explained prefix has."""

    def __init__(self, key, verdict, steps, window=None, detail=''):
        self.key = key
        self.verdict = verdict
        self.steps = steps
        self.window = window or []
        self.detail = detail

    @property
    def ok(self):
        return self.verdict == 'ok'

    def report(self):
        s = 'key %s: %s (%d steps)' % (self.key, self.verdict, self.steps)
        if self.detail:
            s += ': ' + self.detail
        if self.window:
            s += '\n  shortest failing window (%d ops, invocation order):\n    ' % len(
                self.window) + '\n    '.join(repr(o) for o in self.window)
        return s


class _Budget(Exception):
    pass


def _search(ops, init_states, max_steps, counter):
    """Wing-Gong/Lowe search over ops (already filtered to one key).
    Returns (True, None) if linearizable, or (False, i) with i the index
    of the op whose response the deepest attempt could not explain.
    Raises _Budget when counter[0] passes max_steps."""
    m = 0
    ev = []
    for i, o in enumerate(ops):
        ev.append((o.call, 0, i))
        if o.ret != INF:
            ev.append((o.ret, 1, i))
    # calls before returns at equal times: touching intervals overlap
    ev.sort()
    m = len(ev)
    call_pos, ret_pos = {}, {}
    for p, (_, is_ret, i) in enumerate(ev):
        (ret_pos if is_ret else call_pos)[i] = p
    need = sum(1 for o in ops if o.ret != INF)
    best = [None, -1]
    for init in init_states:
        # doubly linked list of the events not yet lifted; index m = end
        nxt = list(range(1, m + 1))
        prv = list(range(-1, m - 1))
        head = 0 if m else m

        def unlink(p):
            nonlocal head
            a, b = prv[p], nxt[p]
            if a >= 0:
                nxt[a] = b
            else:
                head = b
            if b < m:
                prv[b] = a

        def relink(p):
            nonlocal head
            a, b = prv[p], nxt[p]
            if a >= 0:
                nxt[a] = p
            else:
                head = p
            if b < m:
                prv[b] = p

        cache = set()
        stack = []      # (op index, state before, successors, next alt)
        lin = 0
        done = 0
        state = init
        p = head
        alts = None     # successors still to try for the op at p
        while True:
            counter[0] += 1
            if counter[0] > max_steps:
                raise _Budget
            if done == need:
                return True, None
            if p < m and ev[p][1] == 0:
                i = ev[p][2]
                succ = _step(state, ops[i]) if alts is None else alts
                alts = None
                bit = 1 << i
                for k, s2 in enumerate(succ):
                    if (lin | bit, s2) in cache:
                        continue
                    cache.add((lin | bit, s2))
                    stack.append((i, state, succ[k + 1:]))
                    if i in ret_pos:
                        unlink(ret_pos[i])
                        done += 1
                    unlink(call_pos[i])
                    lin |= bit
                    state = s2
                    p = head
                    break
                else:
                    p = nxt[p]
                continue
            # a return event of an op not linearized yet (or the end):
            # undo the last choice.
            if p < m:
                depth = bin(lin).count('1')
                if depth > best[1]:
                    best[0], best[1] = ev[p][2], depth
            if not stack:
                break
            i, state, rest = stack.pop()
            relink(call_pos[i])
            if i in ret_pos:
                relink(ret_pos[i])
                done -= 1
            lin &= ~(1 << i)
            p = call_pos[i]
            alts = rest     # other successors of the same op, then on
    return False, best[0]


def check_key(ops, initial=ABSENT, max_steps=2_000_000, window=True):
    """Check one key's operations.  initial: the register's state before
    the history (ABSENT for a fresh path; ANY when unknown).  Returns a
    Result."""
    ops = sorted(ops, key=lambda o: (o.call, o.ret))
    key = ops[0].key if ops else None
    for i, o in enumerate(ops):
        o.id = i
        if o.key != key:
            raise ValueError('check_key: mixed keys %r and %r' % (key, o.key))
    counter = [0]
    try:
        ok, fail_i = _search(ops, [initial], max_steps, counter)
    except _Budget:
        return Result(key, 'undecided', counter[0],
                      detail='search exceeded %d steps' % max_steps)
    if ok:
        return Result(key, 'ok', counter[0])
    if not window:
        return Result(key, 'violation', counter[0])
    # Shortest failing window: the ops invoked up to the failing op's
    # response form a failing prefix; shrink it from the front while it
    # stays non-linearizable from any initial state; then drop trailing
    # ops that were invoked after every remaining op's failure point.
    fail_ret = ops[fail_i].ret if fail_i is not None else INF
    end = len(ops)
    for j, o in enumerate(ops):
        if o.call > fail_ret:
            end = j
            break
    prefix = ops[:end]
    sub_steps = [0]

    def fails(sub, init):
        try:
            r, _ = _search(sub, [init], max_steps, sub_steps)
            return not r
        except _Budget:
            return False

    if not fails(prefix, initial):
        # the deepest failure point is a heuristic: fall back to all ops
        prefix = ops
    best = prefix
    # grow a window backwards from the end, from an unknown initial state
    for start in range(len(prefix) - 1, -1, -1):
        cand = prefix[start:]
        if fails(cand, ANY if start > 0 else initial):
            best = cand
            break
    # then trim from the end while it still fails
    while len(best) > 1:
        cand = best[:-1]
        init = ANY if best[0] is not ops[0] else initial
        if fails(cand, init):
            best = cand
        else:
            break
    return Result(key, 'violation', counter[0] + sub_steps[0], window=best,
                  detail='no linearization of %d ops; the first %d (by invocation) '
                  'fail' % (len(ops), len(prefix)))


def check_history(ops, initial=ABSENT, max_steps=2_000_000):
    """Check every key of a history (reads must be linearizable reads;
    leave plain reads out).  Returns a list of Result, one per key."""
    by_key = {}
    for o in ops:
        by_key.setdefault(o.key, []).append(o)
    return [check_key(v, initial=initial, max_steps=max_steps)
            for _, v in sorted(by_key.items())]


def check_session_monotonic(events):
    """Plain reads and acknowledged writes of each session, in the order
    the session issued them: events are (session, key, zxid, what) with
    zxid the mzxid the reply carried (None for NONODE: skipped).  A
    session must never see a key's mzxid go down (ZooKeeper: a client
    sees a consistent, never older, view, including its own writes).
    Returns a list of violation messages (empty if none)."""
    seen = {}
    bad = []
    for sess, key, zxid, what in events:
        if zxid is None:
            continue
        k = (sess, key)
        last = seen.get(k)
        if last is not None and zxid < last[0]:
            bad.append('session %s key %s: %s saw mzxid 0x%x after %s saw 0x%x'
                       % (sess, key, what, zxid, last[1], last[0]))
        if last is None or zxid >= last[0]:
            seen[k] = (zxid, what)
    return bad
