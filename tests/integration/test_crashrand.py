#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Randomized crash driver for the transaction log's rolls, spare file
and cuts (replication/txlog.c: "The next file, ready", "Finished files
keep only their records").

Per seed: a Cheetah server on a fresh data directory with a small
preAllocSize (4-256 KiB) and snapCount (40-400), so that the log rolls,
prepares its spare next.log.tmp and cuts finished files many times a
second, with 1, 2 or 4 batches in flight; 4-16 writer sessions pipeline
creates, setData, deletes, multis and sequential creates (test_crash.py's
Writer).  Each round kills the server with SIGKILL at a seeded moment of
one of these kinds:
  time   a random delay (0.05-1.5 s) into the load;
  roll   just after a new log file name appeared (0-3 ms);
  spare  just after next.log.tmp appeared (the helper preparing it);
  cut    just after a finished file shrank (the helper's cut);
then, in power-loss rounds, damages the data directory as a power loss
may leave it: the pipelined tail (test_crash.py's emulate_power_loss),
a lost cut (an older file grown back with zeros) or a lost rename of the
newest file (renamed back to a .tmp name) when nothing in it was
acknowledged or snapshotted.  In a quarter of the rounds it kills the
server again 0-150 ms into its restart (recovery: open's cuts, a torn
tail's zeroing).  Then it restarts the server and checks:
  - it starts;
  - every acknowledged write is there (test_crash.py's verify: creates
    with their data, deletes, counters, multis whole, sequence numbers,
    a zxid above every acknowledged one);
  - the tree is the model of the writes sent: no node that was never
    sent, the data of every present node is what was sent, and each
    session's applied writes are a prefix of what it sent (nothing
    applied after a write that was lost);
  - every older log file is usable and cut: its header, records from
    its name's index on, zeros from the end of the records, and its
    length that end (within 5 s: a roll after the restart is cut by the
    helper); no .tmp other than next.log.tmp, which is at most
    preAllocSize;
and at the end of each seed, after a clean stop, the newest file too, no
.tmp file at all, and the log files' size at most their records plus two
preAllocSize.  A failure prints the seed and keeps the data
directory (its path is printed).

    test_crashrand.py --server cheetah --cheetah-bin BIN
        [--seed N] [--seeds N | --duration SECONDS] [--rounds N]

CI (meson test 'crash random'): a few seeds of a few rounds.  Long mode:
--duration SECONDS runs seeds N, N+1, ... until the time is up (for
example `chrt -i 0 tests/integration/test_crashrand.py --server cheetah
--cheetah-bin build/cheetah --seed 1000 --duration 2700`); a seed
replays the same configuration, kill kinds and writes, though not the
same interleavings.
"""
import glob
import os
import random
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_crash as tc  # noqa: E402
import zkproto as zp  # noqa: E402
from harness import log  # noqa: E402

OP = zp.OP
LOGNAME = 'log.' + '[0-9a-f]' * 16
KILL_KINDS = ['time', 'roll', 'spare', 'cut']


class RWriter(tc.Writer):
    """test_crash's Writer that also keeps this round's requests in send
    order and the error of each reply (replies come in that order)."""

    def __init__(self, *a):
        super().__init__(*a)
        self.ops = []
        self.errs = []

    def next_op(self):
        r = super().next_op()
        what = r[0]
        self.ops.append(what)
        if what[0] == 'create':
            self.st['sent_paths'].add(what[1])
        elif what[0] == 'multi':
            self.st['sent_paths'].update(what[1])
        return r

    def on_reply(self, what, opcode, rep):
        self.errs.append(rep.err)
        super().on_reply(what, opcode, rep)


def new_state():
    st = tc.new_state()
    st['sent_paths'] = set()
    return st


# ---- the log directory --------------------------------------------------

def log_dir(srv):
    return os.path.join(srv.data_dir, 'cheetah-1')


def listing(d):
    """{name: size} of the log directory (files that vanish meanwhile are left out)."""
    out = {}
    try:
        with os.scandir(d) as it:
            for e in it:
                try:
                    out[e.name] = e.stat().st_size
                except FileNotFoundError:
                    pass
    except FileNotFoundError:
        pass
    return out


def is_log(name):
    return name.startswith('log.') and len(name) == 20 and not name.endswith('.tmp')


def wait_for_event(srv, kind, rng, writers, timeout):
    """Returns when the log directory shows the event `kind` (roll, spare,
    cut) plus a seeded pause, or after timeout seconds; a description."""
    d = log_dir(srv)
    before = listing(d)
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end and all(w.is_alive() for w in writers):
        now = listing(d)
        hit = None
        if kind == 'roll':
            new = sorted(n for n in now if is_log(n) and n not in before)
            if new:
                hit = 'new file ' + new[-1]
        elif kind == 'spare':
            if 'next.log.tmp' in now and 'next.log.tmp' not in before:
                hit = 'next.log.tmp appeared'
        elif kind == 'cut':
            cut = [n for n in now if is_log(n) and n in before and now[n] < before[n]]
            if cut:
                hit = 'cut %s %d -> %d' % (cut[0], before[cut[0]], now[cut[0]])
        if hit:
            pause = rng.uniform(0, 0.003)
            time.sleep(pause)
            return '%s (+%.1f ms)' % (hit, pause * 1000)
        before = now
        time.sleep(0.0002)
    return 'no %s within %.1fs' % (kind, timeout)


def log_records(b):
    """The records of a format 3 log file's bytes b: a list of (offset,
    end offset, index, batch end flag), up to the first zero or
    incomplete header.  Records after the last batch end flag count too:
    recovery keeps the complete records of a batch torn by kill -9 (a
    write cut short) and zeroes only from the first incomplete one."""
    out, off = [], 40
    while off + 40 <= len(b):
        raw = struct.unpack('>I', b[off:off + 4])[0]
        n = raw & 0x7fffffff
        if n == 0 or off + 40 + n > len(b):
            break
        index, = struct.unpack('>q', b[off + 8:off + 16])
        end = (off + 40 + n + 7) & ~7
        out.append((off, end, index, bool(raw & 0x80000000)))
        off = end
    return out


def parse_log(path):
    """Checks one format 3 log file: returns (problems, records end,
    file size, first index, last index)."""
    with open(path, 'rb') as f:
        b = f.read()
    name = os.path.basename(path)
    if len(b) < 40 or b[:4] != b'CHLG' or struct.unpack('>I', b[4:8])[0] != 3:
        return ['%s: no format 3 header (%d bytes)' % (name, len(b))], 0, len(b), 0, 0
    recs = log_records(b)
    problems = []
    if not recs:
        return ['%s: no record' % name], 40, len(b), 0, 0
    end = min(recs[-1][1], len(b))     # a cut file may end inside the last padding
    first, last = recs[0][2], recs[-1][2]
    if first != int(name[4:], 16):
        problems.append('%s: first record %#x is not its name' % (name, first))
    tail = b[end:]
    if tail.count(0) != len(tail):
        nz = next(i for i, c in enumerate(tail) if c)
        problems.append('%s: non-zero byte at %d past the records (end %d)' % (
            name, end + nz, end))
    for r0, r1 in zip(recs, recs[1:]):
        if r1[2] <= r0[2]:
            problems.append('%s: record %#x at %d after %#x' % (name, r1[2], r1[0], r0[2]))
            break
    return problems, end, len(b), first, last


def check_files(srv, prealloc, newest_too):
    """The log directory after a restart (the newest file is left out
    unless newest_too: the server writes it) or a clean stop."""
    d = log_dir(srv)
    problems = []
    deadline = time.monotonic() + 5
    while True:
        names = listing(d)
        logs = sorted(n for n in names if is_log(n))
        pending = []
        problems = []
        checked = logs if newest_too else logs[:-1]
        prev_last = 0
        records = 0
        for n in checked:
            pr, end, size, first, last = parse_log(os.path.join(d, n))
            problems += pr
            records += end
            if not pr and first <= prev_last:
                problems.append('%s: first %#x not above the previous file\'s last %#x' % (
                    n, first, prev_last))
            prev_last = last or prev_last
            is_newest = n == logs[-1]
            if not is_newest and not pr and size != end:
                pending.append('%s: %d bytes, its records end at %d (not cut)' % (n, size, end))
        # snapshots share the directory (a .tmp one may be being written)
        tmps = sorted(n for n in names if n.endswith('.tmp') and
                      (newest_too or not n.startswith('snapshot.')))
        if newest_too and tmps:
            problems.append('after a clean stop: %s left' % ', '.join(tmps))
        for n in tmps:
            if n != 'next.log.tmp':
                pending.append('%s left after open' % n)
            elif names[n] > prealloc:
                problems.append('next.log.tmp: %d bytes > preAllocSize %d' % (names[n], prealloc))
        others = [n for n in names if not is_log(n) and not n.endswith('.tmp') and
                  not n.startswith('snapshot.')]
        if others:
            problems.append('unexpected files %s' % others)
        if logs:
            total = sum(names.get(n, 0) for n in logs) + names.get('next.log.tmp', 0)
            # the newest file holds at most one preallocation step past
            # its records (a step is rounded up to preAllocSize)
            bound = records + 2 * prealloc
            if newest_too and total > bound:
                problems.append('log directory %d bytes > records %d + 2 x preAllocSize' % (
                    total, records))
        if not pending or time.monotonic() > deadline:
            return problems + pending, len(checked), len(logs)
        time.sleep(0.05)


# ---- power-loss emulations ------------------------------------------------

def snap_zxids(srv):
    return [int(p.rsplit('.', 1)[1], 16) for p in
            glob.glob(os.path.join(srv.data_dir, 'cheetah-1', 'snapshot.' + '[0-9a-f]' * 16))
            + glob.glob(os.path.join(srv.data_dir, '*', 'snapshot.' + '[0-9a-f]' * 16))]


def lose_cut(srv, prealloc, rng):
    """An older file grown back with zeros to a preallocation step, as a
    power loss after a roll (the cut is not fsync'ed) may leave it."""
    d = log_dir(srv)
    logs = sorted(n for n in listing(d) if is_log(n))
    if len(logs) < 2:
        return None
    n = rng.choice(logs[:-1])
    p = os.path.join(d, n)
    size = os.path.getsize(p)
    to = (size // prealloc + 1) * prealloc
    os.truncate(p, to)
    return 'lost cut: %s grown from %d to %d bytes' % (n, size, to)


def lose_rename(srv, max_acked, rng):
    """The newest file renamed back to a .tmp name when nothing in it was
    acknowledged or is in a snapshot (its rename's directory fsync came
    before any of its records could be acknowledged)."""
    d = log_dir(srv)
    logs = sorted(n for n in listing(d) if is_log(n))
    if len(logs) < 2:
        return None
    n = logs[-1]
    first = int(n[4:], 16)
    if first <= max_acked or first <= max(snap_zxids(srv) + [0]):
        return None
    to = 'next.log.tmp' if not os.path.exists(os.path.join(d, 'next.log.tmp')) else n + '.tmp'
    os.rename(os.path.join(d, n), os.path.join(d, to))
    return 'lost rename: %s back to %s' % (n, to)


# ---- the tree against the model -------------------------------------------

def check_model(port, states, writers):
    """No node that was never sent; the data of each present node is what
    was sent; a session's applied writes of this round are a prefix of
    what it sent.  Returns (problems, checks)."""
    c = zp.Conn(tc.HOST, port)
    problems = []
    checks = 0
    for i, (st, w) in enumerate(zip(states, writers)):
        base = '/crash/w%d' % i
        kids = c.children(base)[0]
        for k in kids:
            checks += 1
            if k not in ('counter', 'seq') and '%s/%s' % (base, k) not in st['sent_paths']:
                problems.append('%s/%s: a node that was never created' % (base, k))
        ops = w.ops
        paths = []
        for what in ops:
            if what[0] in ('create', 'delete'):
                paths.append(what[1])
            elif what[0] == 'multi':
                paths += what[1]
        reps = tc.pipelined(c, [(OP['getData'], zp.r_path_watch(p, False)) for p in paths])
        data = {p: (zp.decode_body(OP['getData'], r.body)[0] if r.err == 0 else None)
                for p, r in zip(paths, reps)}
        version = c.get(base + '/counter')[1].version
        applied = []
        for k, what in enumerate(ops):
            if k < len(w.errs) and w.errs[k] != 0:
                continue        # refused: applied nothing
            kind = what[0]
            if kind == 'create':
                d = data[what[1]]
                if d is not None and d != what[2]:
                    problems.append('%s: data %r, sent %r' % (what[1], d[:40], what[2][:40]))
                a = True if d is not None else (None if what[1] in st['deletes_sent'] else False)
            elif kind == 'delete':
                a = data[what[1]] is None
            elif kind == 'counter':
                a = version >= what[1]
            elif kind == 'multi':
                present = [data[p] is not None for p in what[1]]
                a = all(present) and version >= what[2]
                if all(present) and version < what[2]:
                    problems.append('multi %s present, counter %d < its %d' % (
                        what[1], version, what[2]))
            else:
                continue        # sequential: its name is known only from the reply
            applied.append((k, kind, a))
        checks += len(applied)
        lost = next((x for x in applied if x[2] is False), None)
        if lost:
            later = next((x for x in applied if x[0] > lost[0] and x[2] is True), None)
            if later:
                problems.append('writer %d: request %d (%s) applied after request %d (%s) '
                                'was lost' % (i, later[0], later[1], lost[0], lost[1]))
    c.close_session()
    return problems, checks


# ---- one seed --------------------------------------------------------------

def run_seed(args, seed, totals):
    rng = random.Random(seed)
    prealloc_kb = rng.choice([4, 16, 64, 256])
    snap_count = rng.choice([40, 100, 200, 400])
    inflight = rng.choice([1, 2, 4])
    nwriters = rng.randint(4, 16)
    powerloss = rng.random() < 0.5
    config = {'preAllocSize': prealloc_kb, 'snapCount': snap_count,
              'cheetah.txlog.inflight': inflight}
    desc = ('seed %d: preAllocSize %d KiB, snapCount %d, inflight %d, %d writers%s' % (
        seed, prealloc_kb, snap_count, inflight, nwriters, ', power loss' if powerloss else ''))
    log(desc)
    srv = harness.new_server(args, config=config, name='crashrand')
    tc.HOST = srv.host
    prealloc = prealloc_kb * 1024
    problems = []
    failed = True
    try:
        srv.start()
        c = zp.Conn(tc.HOST, srv.port)
        c.create('/crash')
        for i in range(nwriters):
            c.create('/crash/w%d' % i)
            c.create('/crash/w%d/counter' % i, b'0')
            c.create('/crash/w%d/seq' % i)
        c.close_session()
        states = [new_state() for _ in range(nwriters)]
        max_zxid = 0
        for rnd in range(1, args.rounds + 1):
            writers = [RWriter(i, srv.port, rng.getrandbits(32), states[i])
                       for i in range(nwriters)]
            for w in writers:
                w.start()
            # every session connected (a kill during a handshake is not
            # what is tested) and the load flowing
            harness.wait_until(lambda: all(w.acked for w in writers) and
                               sum(w.acked for w in writers) >= 50, 60,
                               'the first acknowledged writes of every session')
            kind = rng.choice(KILL_KINDS)
            if kind == 'time':
                delay = rng.uniform(0.05, 1.5)
                t_kill = time.monotonic() + delay
                while time.monotonic() < t_kill and all(w.is_alive() for w in writers):
                    time.sleep(0.005)
                moment = '%.2fs into the load' % delay
            else:
                time.sleep(rng.uniform(0, 0.3))
                moment = wait_for_event(srv, kind, rng, writers, 10)
            srv.kill9()
            totals['crashes'] += 1
            totals['kinds'][kind] = totals['kinds'].get(kind, 0) + 1
            for w in writers:
                w.join(30)
                if w.is_alive():
                    raise AssertionError('writer %d did not notice the crash' % w.idx)
                if w.error:
                    raise AssertionError('writer %d: %s' % (w.idx, w.error))
            acked = sum(w.acked for w in writers)
            sent = sum(w.sent for w in writers)
            totals['acked'] += acked
            max_zxid = max([max_zxid] + [w.max_zxid for w in writers])
            loss = None
            if powerloss:
                how = rng.choice(['tail', 'cut', 'rename'])
                if how == 'tail':
                    loss = tc.emulate_power_loss(srv.data_dir, max_zxid, rng)
                elif how == 'cut':
                    loss = lose_cut(srv, prealloc, rng)
                else:
                    loss = lose_rename(srv, max_zxid, rng)
                if loss:
                    totals['losses'][how] = totals['losses'].get(how, 0) + 1
            if rng.random() < 0.25:
                # killed again while it recovers (open's cuts, a torn
                # tail's zeroing, the leftover spare's deletion)
                after = rng.uniform(0, 0.15)
                srv.start(keep_port=True, wait=False)
                time.sleep(after)
                srv.kill9()
                totals['crashes'] += 1
                totals['kinds']['recovery'] = totals['kinds'].get('recovery', 0) + 1
                loss = '%s; killed again %.0f ms into the restart' % (
                    loss or 'no power loss emulated', after * 1000)
            t0 = time.monotonic()
            srv.restart(timeout=120)
            totals['restarts'] += 1
            took = time.monotonic() - t0
            fp, nfiles, nlogs = check_files(srv, prealloc, newest_too=False)
            vp, checked = tc.verify(srv.port, states, max_zxid, rnd)
            mp, mchecked = check_model(srv.port, states, writers)
            rp = fp + vp + mp
            totals['checks'] += checked + mchecked + nfiles
            log('  round %d: kill at %s: %d sent, %d acknowledged; %s; restart %.2fs; '
                '%d log files; %d checks, %d problems' % (
                    rnd, moment, sent, acked, loss or 'no power loss emulated', took, nlogs,
                    checked + mchecked + nfiles, len(rp)))
            for pr in rp[:20]:
                log('    PROBLEM: ' + pr)
            problems += rp
            if rp:
                break
            tc.rebase(srv.port, states)
        if not problems:
            srv.stop_clean()
            fp, nfiles, _ = check_files(srv, prealloc, newest_too=True)
            totals['checks'] += nfiles
            for pr in fp:
                log('    PROBLEM (after a clean stop): ' + pr)
            problems += fp
        failed = bool(problems)
    except Exception:
        import traceback
        traceback.print_exc(file=sys.stdout)
        log(srv.log_tail(30))
    finally:
        if failed:
            srv.stop(timeout=10)
            if srv.base in harness._tmp_dirs:
                harness._tmp_dirs.remove(srv.base)     # kept for the post-mortem
            log('FAILED: %s; data directory kept: %s (server log %s)' % (
                desc, srv.data_dir, srv.log_path))
            totals['failed'].append(seed)
        else:
            srv.cleanup()
    return not failed


def main():
    p = harness.arg_parser(__doc__.split('\n')[0])
    p.add_argument('--seed', type=int, default=1, help='the first seed')
    p.add_argument('--seeds', type=int, default=3, help='how many seeds (without --duration)')
    p.add_argument('--duration', type=float, default=0,
                   help='run seeds from --seed on until this many seconds have passed')
    p.add_argument('--rounds', type=int, default=4, help='crashes per seed')
    p.add_argument('--keep-going', action='store_true',
                   help='with --duration: go on after a failed seed')
    args = p.parse_args()
    if args.cheetah_bin:
        args.cheetah_bin = os.path.abspath(args.cheetah_bin)   # the server runs elsewhere
    if args.server != 'cheetah':
        log('test_crashrand.py: Cheetah only (it reads the log files)')
        sys.exit(77)
    totals = {'crashes': 0, 'restarts': 0, 'acked': 0, 'checks': 0, 'kinds': {},
              'losses': {}, 'failed': []}
    t0 = time.monotonic()
    seed = args.seed
    nseeds = 0
    while True:
        if args.duration:
            if time.monotonic() - t0 >= args.duration:
                break
        elif nseeds >= args.seeds:
            break
        ok = run_seed(args, seed, totals)
        nseeds += 1
        seed += 1
        if not ok and not args.keep_going:
            break
    log('crash random: %d seeds (%d..%d) in %.0fs: %d crashes (%s), %d restarts, '
        '%d power-loss emulations (%s), %d acknowledged writes, %d checks; failed seeds: %s' % (
            nseeds, args.seed, seed - 1, time.monotonic() - t0, totals['crashes'],
            ', '.join('%s %d' % kv for kv in sorted(totals['kinds'].items())),
            totals['restarts'], sum(totals['losses'].values()),
            ', '.join('%s %d' % kv for kv in sorted(totals['losses'].items())),
            totals['acked'], totals['checks'], totals['failed'] or 'none'))
    sys.exit(1 if totals['failed'] else 0)


if __name__ == '__main__':
    main()
