#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""SASL GSSAPI on the wire, raw, with the KDC of test_krb.py (krb.py):
what Cheetah's GSSAPI steps on its SASL thread must keep, checked on
ZooKeeper 3.8 too.

- FIFO across a step: each GSSAPI token with a whoAmI and a create of
  ACL "auth" behind it in one write; they are answered after the SASL
  reply, and only those behind the last token see the sasl id
  (ZooKeeper steps synchronously; Cheetah's worker holds what follows
  behind the step, the write included).
- A garbage GSSAPI token with a request right behind it: AUTHFAILED with
  a null token, then the connection closes.
- 30 connections that send a first GSSAPI token and close at once (the
  step still running when its session goes): the server lives on and
  still authenticates.
- sessionRequireClientSASLAuth: a getData sent with the last token is
  served, not refused (Cheetah checks it again once the step is done).

    test_sasl_gssapi.py --server KIND [--cheetah-bin PATH]
"""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_krb as tk  # noqa: E402
import zkproto as zp  # noqa: E402
from harness import log  # noqa: E402

from puresasl.client import SASLClient  # noqa: E402


def gss_client(principal):
    os.environ['KRB5CCNAME'] = 'FILE:' + tk.CC[principal]
    return SASLClient('localhost', service='zookeeper', mechanism='GSSAPI')


def sasl_frame(c, tok, xid):
    return zp.frame(zp.e_int(xid) + zp.e_int(zp.OP['sasl']) + zp.e_int(len(tok)) + tok)


def t_fifo_across_a_step():
    c = zp.Conn(tk.S.host, tk.S.port)
    cli = gss_client('alice')
    tok = cli.process(None) or b''
    creates = []
    for xid in range(1, 11):
        # Each token with a create of ACL "auth" (which needs an
        # authenticated id: the sasl one) and a whoAmI right behind it, in
        # one write.
        who_xid, create_xid = xid + 1000, xid + 2000
        c.send_raw(sasl_frame(c, tok, xid) +
                   zp.frame(zp.e_int(create_xid) + zp.e_int(zp.OP['create']) +
                            zp.r_create('/fifo-%d' % xid, b'', zp.CREATOR_ALL_ACL, 0)) +
                   zp.frame(zp.e_int(who_xid) + zp.e_int(zp.OP['whoAmI'])))
        rep = c.read_reply()
        assert (rep.xid, rep.err) == (xid, 0), rep
        created = c.read_reply()
        assert created.xid == create_xid, created
        creates.append(created.err)
        who = c.read_reply()
        assert (who.xid, who.err) == (who_xid, 0), who
        ids = sorted(zp.decode_body(zp.OP['whoAmI'], who.body)[0])
        if cli.complete:
            break
        tok = cli.process(zp.Reader(rep.body).buf_())
        if cli.complete and not tok:
            break
        tok = tok or b''
    else:
        raise AssertionError('GSSAPI did not complete in 10 steps')
    assert ('sasl', tk.full('alice')) in ids, ids
    # Only the create behind the last token sees the sasl id.
    assert creates == [zp.ERR['INVALIDACL']] * (len(creates) - 1) + [0], creates
    c.close_socket()
    log('    GSSAPI in %d steps, each with a whoAmI behind it; the last shows %r' % (xid, ids))


def t_garbage_token():
    c = zp.Conn(tk.S.host, tk.S.port)
    junk = b'\x60\x82\x01\x00' + b'\x00' * 64
    c.send_raw(sasl_frame(c, junk, 1) +
               zp.frame(zp.e_int(2) + zp.e_int(zp.OP['exists']) + zp.r_path_watch('/', False)))
    rep = c.read_reply()
    assert (rep.xid, rep.err, rep.body) == (1, zp.ERR['AUTHFAILED'], b'\xff\xff\xff\xff'), rep
    try:
        extra = c.read_reply()
    except (zp.ConnectionClosed, ConnectionError):
        extra = None
    if extra is not None:  # answered before the close took effect: never authenticated
        log('    (the request behind it was answered: %r)' % (extra,))
    c.close_socket()
    log('    garbage GSSAPI token: AUTHFAILED, null token, closed')


def t_close_during_step():
    for i in range(30):
        cli = gss_client('jack' if 'jack' in tk.CC else 'alice')
        tok = cli.process(None)
        s = socket.create_connection((tk.S.host, tk.S.port), timeout=10)
        s.sendall(zp.frame(zp.r_connect(10000)) + sasl_frame(None, tok, 1))
        s.close()
    assert tk.S.ruok(), 'the server no longer answers ruok'
    c = zp.Conn(tk.S.host, tk.S.port)
    cli = gss_client('alice')
    tok = cli.process(None) or b''
    for xid in range(1, 11):
        rep = c.call(zp.OP['sasl'], zp.e_int(len(tok)) + tok, xid=xid)
        assert rep.err == 0, rep
        if cli.complete:
            break
        tok = cli.process(zp.Reader(rep.body).buf_())
        if cli.complete and not tok:
            break
        tok = tok or b''
    ids = c.call_ok(zp.OP['whoAmI'])[0]
    assert ('sasl', tk.full('alice')) in ids, ids
    c.close_socket()
    log('    30 connections closed during their first step; alice still authenticates')


def t_require_sasl_pipelined():
    """sessionRequireClientSASLAuth: a getData sent with the last token
    is served (ZooKeeper has finished the step when it reads it; Cheetah
    checks it again after the step); one sent without SASL is refused."""
    s = tk.start_server('gss-require', {'sessionRequireClientSASLAuth': 'true'}, base=False)
    c = zp.Conn(s.host, s.port)
    cli = gss_client('alice')
    tok, xid = cli.process(None) or b'', 0
    while True:
        xid += 1
        assert xid < 10, 'GSSAPI did not complete'
        if cli.complete:  # the last token: a getData right behind it
            c.send_raw(sasl_frame(c, tok, xid) + zp.frame(
                zp.e_int(100) + zp.e_int(zp.OP['getData']) + zp.r_path_watch('/', False)))
            rep = c.read_reply()
            assert (rep.xid, rep.err) == (xid, 0), rep
            got = c.read_reply()
            assert (got.xid, got.err) == (100, 0), got
            break
        rep = c.call(zp.OP['sasl'], zp.e_int(len(tok)) + tok, xid=xid)
        assert rep.err == 0, rep
        tok = cli.process(zp.Reader(rep.body).buf_()) or b''
    c.close_socket()
    c = zp.Conn(s.host, s.port)
    rep = c.call(zp.OP['getData'], zp.r_path_watch('/', False))
    assert rep.err == zp.ERR['SESSIONCLOSEDREQUIRESASLAUTH'], rep
    expect_closed(c)
    c.close_socket()
    log('    a getData behind the last token served; one without SASL refused (-124)')


def expect_closed(c):
    try:
        rep = c.call(zp.OP['exists'], zp.r_path_watch('/', False))
    except (zp.ConnectionClosed, ConnectionError):
        return
    raise AssertionError('connection still answers: %r' % (rep,))


def main():
    tk.ARGS = harness.arg_parser(__doc__.split('\n')[0]).parse_args()
    status = 1
    try:
        tk.make_realm()
        tk.start_server('gss', base=False)
        status = harness.run_tests([
            ('fifo across a step', t_fifo_across_a_step),
            ('garbage token', t_garbage_token),
            ('close during a step', t_close_during_step),
            ('require SASL, pipelined', t_require_sasl_pipelined),
        ], tk.ARGS, servers=tk.SERVERS)
    finally:
        tk.close_clients()
        for s in tk.SERVERS:
            s.stop()
        if tk.KDC:
            tk.KDC.stop()
    return status


if __name__ == '__main__':
    sys.exit(main())
