#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Whether this disk overlaps fdatasync calls on one file: the question a
pipelined group commit (two batches syncing at once) depends on
(docs/BENCHMARKS.md, "The middle of the curve").

    perf/fsync-overlap.py [--dir /var/tmp] [--syncs 300] [--rounds 2]

Each of 1, 2 and 3 threads writes 16 KiB with pwrite into its own region
of one preallocated, already written 64 MiB file and fdatasyncs it, in a
loop; prints syncs per second and the median and p90 latency. Threads
release the GIL in the system calls, so the Python overhead is small
against a sync. Refuses tmpfs (fdatasync would cost nothing there).
"""
import argparse
import os
import threading
import time


def run(fd, nthreads, syncs):
    out = []

    def worker(k):
        off, lat = k * (16 << 20), []
        for _ in range(syncs):
            t = time.monotonic()
            os.pwrite(fd, b'x' * 16384, off)
            os.fdatasync(fd)
            lat.append(time.monotonic() - t)
            off += 16384
        out.append(lat)

    ths = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
    t0 = time.monotonic()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    dt = time.monotonic() - t0
    lat = sorted(sum(out, []))
    print('threads %d: %.0f syncs/s, median %.0f us, p90 %.0f us' % (
        nthreads, len(lat) / dt, lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.9)] * 1e6))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--dir', default='/var/tmp')
    ap.add_argument('--syncs', type=int, default=300, help='per thread')
    ap.add_argument('--rounds', type=int, default=2)
    a = ap.parse_args()
    with open('/proc/mounts') as f:
        mounts = [l.split() for l in f]
    best = max((m for m in mounts if a.dir.startswith(m[1])), key=lambda m: len(m[1]))
    if best[2] == 'tmpfs':
        raise SystemExit('%s is tmpfs: fdatasync costs nothing there' % a.dir)
    path = os.path.join(a.dir, 'fsync-overlap.%d' % os.getpid())
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.pwrite(fd, b'\0' * (64 << 20), 0)
        os.fsync(fd)
        for _ in range(a.rounds):
            for n in (1, 2, 3):
                run(fd, n, a.syncs)
    finally:
        os.close(fd)
        os.unlink(path)


if __name__ == '__main__':
    main()
