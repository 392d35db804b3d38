#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The ZooKeeper C client against one server: zkc_client (built by meson
against libzookeeper_mt) and cli_mt (Debian's zookeeper-bin) commands in
batch mode (-c), each checked by its printed result codes.

    test_cclient.py --server KIND --zkc-bin PATH [--cheetah-bin PATH]
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import zkproto as zp  # noqa: E402
from harness import log  # noqa: E402

CLI_MT = '/usr/lib/zookeeper/bin/cli_mt'
S = None
ARGS = None


def t_c_program():
    r = subprocess.run([ARGS.zkc_bin, S.hosts], capture_output=True, text=True, timeout=120)
    sys.stdout.write(r.stdout)
    if r.returncode != 0:
        raise AssertionError('zkc_client exited %d; stderr:\n%s' % (r.returncode, r.stderr[-3000:]))


def cli(cmd):
    """Run one cli_mt command in batch mode; returns its output (the C
    client prints results on stderr)."""
    r = subprocess.run([CLI_MT, '-h', S.hosts, '-c', cmd], capture_output=True, text=True,
                       timeout=30)
    out = r.stdout + r.stderr
    if r.returncode != 0:
        raise AssertionError('cli_mt -c %r exited %d:\n%s' % (cmd, r.returncode, out))
    return out


def rc_of(out):
    m = re.findall(r'rc = (-?\d+)', out)
    if not m:
        raise AssertionError('no result code in:\n' + out)
    return int(m[0])


def expect_rc(cmd, want, contains=()):
    out = cli(cmd)
    rc = rc_of(out)
    if rc != want:
        raise AssertionError('cli_mt %r: rc %d, expected %d:\n%s' % (cmd, rc, want, out))
    for c in contains:
        if c not in out:
            raise AssertionError('cli_mt %r: %r not in output:\n%s' % (cmd, c, out))
    log('    cli_mt %-28s rc = %d' % (cmd, rc))
    return out


def t_cli_mt():
    c = zp.Conn(S.host, S.port)
    expect_rc('create /cli', 0, ['name = /cli'])
    expect_rc('create /cli', zp.ERR['NODEEXISTS'])
    expect_rc('create +s /cli/s-', 0, ['name = /cli/s-0000000000'])
    expect_rc('create +s /cli/s-', 0, ['name = /cli/s-0000000001'])
    expect_rc('create +e /cli/e', 0, ['name = /cli/e'])
    if c.exists('/cli/e') is not None:
        raise AssertionError('cli_mt exited but its ephemeral /cli/e is still there')
    expect_rc('create2 /cli/two', 0, ['name = /cli/two', 'version=0'])
    expect_rc('create +c /cli/cont', 0, ['name = /cli/cont'])
    expect_rc('set /cli hello', 0, ['version=1'])
    out = expect_rc('get /cli', 0, ['value_len = 5', 'hello'])
    st = c.exists('/cli')
    if ('mzxid=%x' % st.mzxid) not in out:
        raise AssertionError('get /cli: mzxid %x not printed:\n%s' % (st.mzxid, out))
    out = expect_rc('ls /cli', 0)
    for k in ('s-0000000000', 's-0000000001', 'two', 'cont'):
        if '\t' + k not in out:
            raise AssertionError('ls /cli: %s missing:\n%s' % (k, out))
    expect_rc('ls2 /cli', 0, ['\ttwo'])
    expect_rc('get /nope', zp.ERR['NONODE'])
    expect_rc('delete /cli', zp.ERR['NOTEMPTY'])
    expect_rc('delete /cli/two', 0)
    expect_rc('delete /cli/two', zp.ERR['NONODE'])
    expect_rc('sync /cli', 0)
    out = cli('od /cli')
    if 'Recvd 200 responses for 200 requests sent' not in out:
        raise AssertionError('od (200 pipelined gets): %s' % out[-500:])
    log('    cli_mt od /cli                    200 pipelined requests answered')
    if c.exists('/cli/two') is not None or c.get('/cli')[0] != b'hello':
        raise AssertionError('state after cli_mt commands')
    c.close_session()


def main():
    global S, ARGS
    p = harness.arg_parser(__doc__.split('\n')[0])
    p.add_argument('--zkc-bin', required=True)
    ARGS = p.parse_args()
    S = harness.new_server(ARGS, config={'extendedTypesEnabled': 'true'}, name='cclient')
    status = 1
    try:
        S.start()
        status = harness.run_tests([('c_program', t_c_program), ('cli_mt', t_cli_mt),
                                    ('clean_shutdown', S.stop_clean)], ARGS, servers=[S])
    finally:
        S.cleanup()
    sys.exit(status)


if __name__ == '__main__':
    main()
