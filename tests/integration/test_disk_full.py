#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A data directory on a small filesystem (issue 8 item 5): less free
space than preAllocSize (64 MiB), then none at all.

The server's dataDir (and so dataLogDir) is a 24 MiB ext4 image
loop-mounted by this test (root needed; it fails saying so otherwise):
  - the server starts and serves writes, and warns once that it
    preallocates less than preAllocSize (before the fix its first write
    failed to preallocate 64 MiB and the server exited);
  - the filesystem is filled by a file of the test's: writes then fail
    with an error (SYSTEMERROR) while the session stays connected and
    reads of everything acknowledged keep working;
  - once the file is removed, writes succeed again on the same session;
  - after a clean restart every acknowledged write is there with its
    data, and no refused write is.
The mount, the image and every process are cleaned up by the test.

    test_disk_full.py --server cheetah --cheetah-bin PATH
"""
import errno
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import log  # noqa: E402

from kazoo.client import KazooClient  # noqa: E402
from kazoo import exceptions as ke  # noqa: E402

WAIT = 15.0
IMG_MB = 24
VALUE = b'v' * (100 << 10)  # 100 KiB per node: a few hundred fill the disk
WARNING = 'less free space than preAllocSize'


def sh(*cmd):
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if r.returncode:
        raise AssertionError('%s failed (status %d): %s' % (
            ' '.join(cmd), r.returncode, r.stdout.decode(errors='replace').strip()))


def fill(path):
    """Writes path until the filesystem is full; returns the bytes written."""
    n = 0
    chunk = b'\xff' * (1 << 20)
    with open(path, 'wb', buffering=0) as f:
        while True:
            try:
                n += f.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                if len(chunk) <= 4096:
                    break
                chunk = chunk[:len(chunk) // 2]
        try:
            os.fsync(f.fileno())
        except OSError:
            pass
    return n


def check(args):
    srv = harness.new_server(args)
    mnt = srv.data_dir
    img = os.path.join(srv.base, 'disk.img')
    mounted = False
    zk = None
    try:
        with open(img, 'wb') as f:
            f.truncate(IMG_MB << 20)
        sh('mkfs.ext4', '-q', '-F', img)
        r = subprocess.run(['mount', '-o', 'loop', img, mnt], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if r.returncode:
            raise AssertionError(
                'mount -o loop %s %s failed (%s): this test needs root to mount a small '
                'filesystem for the data directory' % (
                    img, mnt, r.stdout.decode(errors='replace').strip()))
        mounted = True
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        assert free < (64 << 20), 'the image has %d bytes free' % free
        log('data dir on a %d MiB ext4 image, %d bytes free' % (IMG_MB, free))

        srv.start()
        zk = KazooClient(hosts=srv.hosts, timeout=10.0)
        try:
            zk.start(timeout=WAIT)
            zk.create('/d', b'')
        except Exception as e:
            raise AssertionError('no session or first write (%r); server %s\n%s' % (
                e, 'running' if srv.alive() else 'exited', srv.log_tail()))
        acked = {}
        for i in range(20):
            path = '/d/a%d' % i
            zk.create(path, b'%d' % i)
            acked[path] = b'%d' % i
        assert srv.alive(), 'the server exited after its first writes\n' + srv.log_tail()
        nwarn = srv.read_log().count(WARNING)
        assert nwarn == 1, 'warned %d times that preallocation shrank, want once\n%s' % (
            nwarn, srv.log_tail())

        filler = os.path.join(mnt, 'filler')
        log('filled the disk with %d bytes' % fill(filler))
        # The log's preallocated space still takes writes; then they fail.
        refused = None
        for i in range(IMG_MB * 12):
            path = '/d/big%d' % i
            try:
                zk.create(path, VALUE)
            except ke.SystemZookeeperError:
                refused = path
                break
            acked[path] = VALUE
        assert refused, 'writes never failed on a full disk'
        log('a write failed once the disk was full, after %d acknowledged' % len(acked))
        # Still refused, still connected, reads of everything acknowledged work.
        for _ in range(3):
            try:
                zk.create('/d/refused', VALUE)
                raise AssertionError('a write succeeded on a full disk')
            except ke.SystemZookeeperError:
                pass
        assert zk.connected and srv.alive()
        for path, data in acked.items():
            got, _ = zk.get(path)
            assert got == data, '%s: read %d bytes, want %d' % (path, len(got), len(data))
        assert zk.exists(refused) is None and zk.exists('/d/refused') is None
        assert 'disk is full' in srv.read_log()

        os.unlink(filler)
        log('room again')
        zk.create('/d/after', b'after')
        acked['/d/after'] = b'after'
        zk.set('/d/a0', b'changed')
        acked['/d/a0'] = b'changed'
        zk.stop()
        zk.close()
        zk = None
        srv.stop_clean()

        srv.start(keep_port=True)
        zk = KazooClient(hosts=srv.hosts, timeout=10.0)
        zk.start(timeout=WAIT)
        for path, data in acked.items():
            got, _ = zk.get(path)
            assert got == data, 'after restart %s: %d bytes, want %d' % (
                path, len(got), len(data))
        assert zk.exists(refused) is None and zk.exists('/d/refused') is None
        assert len(zk.get_children('/d')) == len(acked)
        log('after restart: all %d acknowledged writes, none refused' % len(acked))
        zk.stop()
        zk.close()
        zk = None
        srv.stop_clean()
    finally:
        if zk:
            zk.stop()
            zk.close()
        srv.stop(timeout=10)
        if mounted:
            subprocess.run(['umount', mnt], timeout=60)
        srv.cleanup()


def main():
    args = harness.arg_parser(__doc__).parse_args()
    if args.server != 'cheetah':
        # ZooKeeper pads its log in 64 MiB steps and exits when that fails.
        log('only for cheetah')
        return 2
    return harness.run_tests([('disk full', lambda: check(args))], args)


if __name__ == '__main__':
    sys.exit(main())
