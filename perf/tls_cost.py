#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Instructions Cheetah's I/O path spends per request, plain and over TLS,
and per TLS handshake (callgrind, collecting only inside dp_conn_io and
dp_conn_flush_all: reading, the handshake, framing, the request's
processing, writing).

    perf/tls_cost.py CHEETAH_BIN [N]

Four runs under valgrind: plain and TLS (certificates from
tests/integration/tlscerts.py, client certificate, TLS 1.2), each with 0
and N getData of /zookeeper from one kazoo session; per request is the
difference over N, the handshake is the TLS run with 0 requests.
Prints lines; decides nothing.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                                'integration'))
import harness  # noqa: E402
import tlscerts  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402


def run(binary, certs, tls, n, out):
    d = harness.make_tmp_dir('tlscost')
    wrapper = os.path.join(d, 'cheetah-cg.sh')
    with open(wrapper, 'w') as f:
        f.write('#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s '
                '--toggle-collect=dp_conn_io --toggle-collect=dp_conn_flush_all %s "$@"\n'
                % (out, os.path.abspath(binary)))
    os.chmod(wrapper, 0o755)
    c = lambda name: tlscerts.path(certs, name)  # noqa: E731
    s = harness.Server('cheetah', cheetah_bin=wrapper, name='tlscost', config={
        'secureClientPort': harness.free_port(), 'secureClientPortAddress': '127.0.0.1',
        'ssl.keyStore.location': c('server.pem'), 'ssl.trustStore.location': c('ca.pem')})
    s.start(timeout=120)
    try:
        kw = dict(use_ssl=True, ca=c('ca.pem'), certfile=c('client.crt'),
                  keyfile=c('client.key')) if tls else {}
        port = int(s.config['secureClientPort']) if tls else s.port
        k = KazooClient(hosts='127.0.0.1:%d' % port, timeout=30, **kw)
        k.start(timeout=60)
        for _ in range(n):
            k.get('/zookeeper')
        k.stop()
        k.close()
    finally:
        s.stop(timeout=60)
        s.cleanup()
    with open(out) as f:
        for line in f:
            if line.startswith('summary:'):
                return int(line.split()[1])
    raise RuntimeError('no summary in ' + out)


def main():
    binary, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    certs = tlscerts.make()
    out = tempfile.mkdtemp(prefix='cheetah-tlscost-')
    ir = {}
    for mode in ('plain', 'tls'):
        for k in (0, n):
            ir[mode, k] = run(binary, certs, mode == 'tls', k,
                              os.path.join(out, 'cg.%s.%d' % (mode, k)))
    for mode in ('plain', 'tls'):
        print('%s: %.0f instructions per getData on the I/O path (N = %d)'
              % (mode, (ir[mode, n] - ir[mode, 0]) / n, n))
    print('tls: %d instructions for the connection (handshake with a client '
          'certificate, ConnectRequest, close)' % ir['tls', 0])


if __name__ == '__main__':
    main()
