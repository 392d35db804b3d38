#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""What an idle TLS connection costs Cheetah in memory, against a plain one.

    perf/tls_idle_mem.py CHEETAH_BIN [N]

Starts cheetah with a secure client port (certificates from
tests/integration/tlscerts.py), opens N TLS connections (handshake done,
one byte of plaintext sent) and reads the server's RSS once jemalloc's
decay has settled (the lowest over 3 s), closes them, then does the same
with N plain connections.  Prints one line; decides nothing.
"""
import os
import resource
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                                'integration'))
import harness  # noqa: E402
import tlscerts  # noqa: E402


def main():
    binary, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    resource.setrlimit(resource.RLIMIT_NOFILE, (2 * n + 256, 2 * n + 256))
    d = tlscerts.make()
    s = harness.Server('cheetah', cheetah_bin=os.path.abspath(binary), name='tlsmem', config={
        'secureClientPort': harness.free_port(), 'secureClientPortAddress': '127.0.0.1',
        'ssl.keyStore.location': tlscerts.path(d, 'server.pem'),
        'ssl.trustStore.location': tlscerts.path(d, 'ca.pem')})
    s.start()

    def settled():
        low, t0 = s.rss_kb(), time.monotonic()
        while time.monotonic() - t0 < 3:
            low = min(low, s.rss_kb())
            time.sleep(0.2)
        return low

    try:
        base = settled()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(tlscerts.path(d, 'ca.pem'))
        ctx.load_cert_chain(tlscerts.path(d, 'client.crt'), tlscerts.path(d, 'client.key'))
        socks = []
        for _ in range(n):
            t = ctx.wrap_socket(socket.create_connection(('127.0.0.1',
                                                          int(s.config['secureClientPort']))))
            t.sendall(b'\x00')
            socks.append(t)
        tls = settled()
        for t in socks:
            t.close()
        socks = [socket.create_connection(('127.0.0.1', s.port)) for _ in range(n)]
        for p in socks:
            p.sendall(b'\x00')
        plain = settled()
        for p in socks:
            p.close()
        print('cheetah RSS %d kB; %d idle TLS connections +%d kB (%.1f kB each); '
              '%d idle plain connections +%d kB (%.1f kB each)'
              % (base, n, tls - base, (tls - base) / n, n, plain - base, (plain - base) / n))
    finally:
        s.stop()
        s.cleanup()


if __name__ == '__main__':
    main()
