#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Hostile TLS handshakes against the secure client port: a record type
byte 0x16 followed by garbage (seeded random and hand-made headers),
truncated ClientHellos, and slowloris handshakes (half a ClientHello then
silence, or a ClientHello dripped a byte at a time).  The server must
close each of them (the stalled ones within its handshake timeout, 10 s
for both servers: Netty's SslHandler default and DP_TLS_HANDSHAKE_MS),
keep serving a bystander TLS session throughout, and (Cheetah) keep its
memory flat over three waves.

    test_tls_hostile.py --server KIND [--cheetah-bin PATH] [--conns N]
"""
import os
import random
import select
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import tlscerts  # noqa: E402
from harness import log  # noqa: E402

from kazoo.client import KazooClient  # noqa: E402

ARGS = None
CERTS = None
S = None
SEED = 11
# How long a stalled handshake may live: the 10 s timeout, a tick, a loaded machine.
CLOSE_WITHIN_S = 40
# What a wave may leave behind in RSS, beyond the first wave's.
SLACK_KB = 4 * 1024  # a leaked SSL per connection would be ~28 kB x 210 a wave


def c(name):
    return tlscerts.path(CERTS, name)


def sport():
    return int(S.config['secureClientPort'])


def client_hello():
    """The first flight of a real TLS client (Python's ssl, memory BIOs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    assert hello[0] == 0x16 and len(hello) > 100, hello[:8]
    return hello


def connect():
    s = socket.create_connection(('127.0.0.1', sport()), timeout=10)
    s.setblocking(False)
    return s


def wait_closed(socks, within, drip=None, drip_to=()):
    """Waits until the server closed every socket (EOF or reset); drip:
    bytes to send one at a time, every 0.5 s, to the sockets of drip_to
    still open.  Returns the seconds it took."""
    drip_fds = {s.fileno() for s in drip_to}
    t0 = time.monotonic()
    open_ = {s.fileno(): s for s in socks}
    sent = {fd: 0 for fd in open_}
    next_drip = t0
    while open_:
        now = time.monotonic()
        if now - t0 > within:
            raise AssertionError('%d of %d hostile connections still open after %.0f s'
                                 % (len(open_), len(socks), within))
        if drip is not None and now >= next_drip:
            for fd, s in list(open_.items()):
                if fd in drip_fds and sent[fd] < len(drip):
                    try:
                        s.send(drip[sent[fd]:sent[fd] + 1])
                        sent[fd] += 1
                    except (BlockingIOError, OSError):
                        pass
            next_drip = now + 0.5
        r, _, _ = select.select(list(open_.values()), [], [], 0.25)
        for s in r:
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        raise ConnectionResetError
            except BlockingIOError:
                continue
            except OSError:
                del open_[s.fileno()]
                s.close()
    return time.monotonic() - t0


def bystander():
    """A TLS session doing its work while the hostile ones are open."""
    k = KazooClient(hosts='127.0.0.1:%d' % sport(), timeout=10, use_ssl=True,
                    ca=c('ca.pem'), certfile=c('client.crt'), keyfile=c('client.key'))
    k.start(timeout=20)
    try:
        k.ensure_path('/bystander')
        k.set('/bystander', b'%f' % time.time())
        assert k.get('/bystander')[0]
    finally:
        k.stop()
        k.close()


def alive():
    if not S.alive():
        raise AssertionError('server died: status %s' % S.proc.returncode)
    assert harness.four_letter(S.port, 'ruok') == b'imok'


def t_garbage_after_0x16():
    rng = random.Random(SEED)
    socks = []
    crafted = [
        b'\x16',
        b'\x16\x03',
        b'\x16\x03\x01\xff\xff' + b'\x00' * 64,   # a 64 KiB record announced
        b'\x16\x03\x03\x00\x05\x01\x00\x00\x01\x00',  # a ClientHello of 1 byte
        b'\x16\x00\x00\x00\x00',
        b'\x16\x03\x01\x00\x00',
        b'\x16' + b'\xff' * 2000,
    ]
    for blob in crafted:
        s = connect()
        s.send(blob)
        socks.append(s)
    for _ in range(ARGS.conns):
        s = connect()
        s.send(b'\x16' + bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 3000))))
        socks.append(s)
    took = wait_closed(socks, CLOSE_WITHIN_S)
    alive()
    log('    %d connections of 0x16 then garbage all closed in %.1f s' % (len(socks), took))


def t_truncated_hello():
    hello = client_hello()
    rng = random.Random(SEED + 1)
    n = 0
    for _ in range(ARGS.conns):
        s = socket.create_connection(('127.0.0.1', sport()), timeout=10)
        s.sendall(hello[:rng.randrange(1, len(hello))])
        s.close()  # and gone
        n += 1
    # flipped bytes inside an otherwise whole ClientHello
    socks = []
    for _ in range(ARGS.conns):
        b = bytearray(hello)
        for _ in range(4):
            b[rng.randrange(5, len(b))] = rng.getrandbits(8)
        s = connect()
        s.send(bytes(b))
        socks.append(s)
    took = wait_closed(socks, CLOSE_WITHIN_S)
    alive()
    log('    %d truncated ClientHellos dropped, %d corrupted ones closed in %.1f s'
        % (n, len(socks), took))


def slowloris_wave():
    hello = client_hello()
    stalled = []
    for _ in range(ARGS.conns):
        s = connect()
        s.send(hello[:len(hello) // 2])
        stalled.append(s)
    dripping = [connect() for _ in range(10)]
    bystander()
    took = wait_closed(stalled + dripping, CLOSE_WITHIN_S, drip=hello, drip_to=dripping)
    bystander()
    alive()
    return took


def t_slowloris_memory_flat():
    """RSS after each wave comes back to within SLACK_KB of the first
    wave's (jemalloc gives freed pages back after its 1 s decay: polled,
    bounded)."""
    first = None
    for wave in range(ARGS.waves):
        took = slowloris_wave()
        if ARGS.server != 'cheetah':
            log('    wave %d: %d stalled and 10 dripping handshakes all closed in %.1f s, '
                'bystander served' % (wave + 1, ARGS.conns, took))
            continue
        if first is None:
            low = [S.rss_kb()]
            t0 = time.monotonic()
            while time.monotonic() - t0 < 3:  # the lowest over 3 s: decay done
                low.append(S.rss_kb())
                time.sleep(0.2)
            first = min(low)
            rss = first
        else:
            rss = harness.wait_until(
                lambda: (lambda r: r if r <= first + SLACK_KB else None)(S.rss_kb()), 15,
                'RSS to come back within %d kB of wave 1 (%d kB)' % (SLACK_KB, first))
        log('    wave %d: %d stalled and 10 dripping handshakes all closed in %.1f s, '
            'bystander served; RSS %d kB (wave 1: %d kB)'
            % (wave + 1, ARGS.conns, took, rss, first))


def main():
    global ARGS, CERTS, S
    p = harness.arg_parser(__doc__.split('\n')[0])
    p.add_argument('--conns', type=int, default=200)
    p.add_argument('--waves', type=int, default=3)
    ARGS = p.parse_args()
    CERTS = tlscerts.make()
    S = harness.new_server(ARGS, config={
        'secureClientPort': harness.free_port(),
        'secureClientPortAddress': '127.0.0.1',
        'serverCnxnFactory': 'org.apache.zookeeper.server.NettyServerCnxnFactory',
        'ssl.keyStore.location': c('server.pem'),
        'ssl.trustStore.location': c('ca.pem'),
    }, name='tlshostile')
    status = 1
    try:
        S.start()
        status = harness.run_tests([('garbage_after_0x16', t_garbage_after_0x16),
                                    ('truncated_hello', t_truncated_hello),
                                    ('slowloris_memory_flat', t_slowloris_memory_flat),
                                    ('clean_shutdown', S.stop_clean)], ARGS, servers=[S])
    finally:
        S.cleanup()
    sys.exit(status)


if __name__ == '__main__':
    main()
