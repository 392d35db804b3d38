# SPDX-License-Identifier: Apache-2.0
"""A raw ZooKeeper-protocol client: jute records packed with struct.

Independent of every real client library, so the tests can send exactly
what they mean (including what no library would send) and see exactly
what came back: reply header zxid and error, decoded body, and every
watch notification in the order it arrived.  Synchronous: call() sends
one request and reads frames until its reply; notifications read on the
way are appended to .events.  send()/read_reply() allow pipelining.

Record layouts follow zookeeper-jute's zookeeper.jute (3.8).
"""
import collections
import socket
import struct

# ---- constants --------------------------------------------------------

OP = dict(notification=0, create=1, delete=2, exists=3, getData=4, setData=5,
          getACL=6, setACL=7, getChildren=8, sync=9, ping=11, getChildren2=12,
          check=13, multi=14, create2=15, reconfig=16, checkWatches=17,
          removeWatches=18, createContainer=19, deleteContainer=20,
          createTTL=21, multiRead=22, auth=100, setWatches=101, sasl=102,
          getEphemerals=103, getAllChildrenNumber=104, setWatches2=105,
          addWatch=106, whoAmI=107, createSession=-10, closeSession=-11,
          error=-1)
OPNAME = {v: k for k, v in OP.items()}

ERR = dict(OK=0, SYSTEMERROR=-1, RUNTIMEINCONSISTENCY=-2, DATAINCONSISTENCY=-3,
           CONNECTIONLOSS=-4, MARSHALLINGERROR=-5, UNIMPLEMENTED=-6,
           OPERATIONTIMEOUT=-7, BADARGUMENTS=-8, UNKNOWNSESSION=-12,
           APIERROR=-100, NONODE=-101, NOAUTH=-102, BADVERSION=-103,
           NOCHILDRENFOREPHEMERALS=-108, NODEEXISTS=-110, NOTEMPTY=-111,
           SESSIONEXPIRED=-112, INVALIDCALLBACK=-113, INVALIDACL=-114,
           AUTHFAILED=-115, SESSIONMOVED=-118, NOTREADONLY=-119,
           EPHEMERALONLOCALSESSION=-120, NOWATCHER=-121, SESSIONCLOSEDREQUIRESASLAUTH=-124,
           QUOTAEXCEEDED=-125,
           THROTTLEDOP=-127)
ERRNAME = {v: k for k, v in ERR.items()}

EVENT = dict(None_=-1, NodeCreated=1, NodeDeleted=2, NodeDataChanged=3,
             NodeChildrenChanged=4, DataWatchRemoved=5, ChildWatchRemoved=6,
             PersistentWatchRemoved=7)
EVENTNAME = {v: k for k, v in EVENT.items()}

PERSISTENT, PERSISTENT_SEQUENTIAL, EPHEMERAL, EPHEMERAL_SEQUENTIAL = 0, 2, 1, 3
CONTAINER, PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL = 4, 5, 6

NOTIFICATION_XID, PING_XID, AUTH_XID, SET_WATCHES_XID = -1, -2, -4, -8

PERM_READ, PERM_WRITE, PERM_CREATE, PERM_DELETE, PERM_ADMIN, PERM_ALL = 1, 2, 4, 8, 16, 31
OPEN_ACL = [(PERM_ALL, 'world', 'anyone')]
READ_ACL = [(PERM_READ, 'world', 'anyone')]
CREATOR_ALL_ACL = [(PERM_ALL, 'auth', '')]

WATCHER_CHILDREN, WATCHER_DATA, WATCHER_ANY = 1, 2, 3
ADD_WATCH_PERSISTENT, ADD_WATCH_PERSISTENT_RECURSIVE = 0, 1

Stat = collections.namedtuple('Stat', 'czxid mzxid ctime mtime version cversion '
                              'aversion ephemeralOwner dataLength numChildren pzxid')
Event = collections.namedtuple('Event', 'type state path zxid')
Reply = collections.namedtuple('Reply', 'xid zxid err body')


def digest_id(user, password):
    """The id of a digest ACL: user:base64(sha1(user:password))."""
    import base64
    import hashlib
    h = hashlib.sha1(('%s:%s' % (user, password)).encode()).digest()
    return '%s:%s' % (user, base64.b64encode(h).decode())


class ConnectionClosed(Exception):
    pass


class SessionExpired(Exception):
    pass


# ---- encoding -----------------------------------------------------------

def e_int(v):
    return struct.pack('!i', v)


def e_long(v):
    return struct.pack('!q', v)


def e_bool(v):
    return b'\x01' if v else b'\x00'


def e_str(s):
    if s is None:
        return e_int(-1)
    if isinstance(s, str):
        s = s.encode('utf-8')
    return e_int(len(s)) + s


e_buf = e_str


def e_acls(acls):
    if acls is None:
        return e_int(-1)
    out = [e_int(len(acls))]
    for perms, scheme, ident in acls:
        out.append(e_int(perms) + e_str(scheme) + e_str(ident))
    return b''.join(out)


def e_strs(strs):
    if strs is None:
        return e_int(-1)
    return e_int(len(strs)) + b''.join(e_str(s) for s in strs)


class Reader:
    def __init__(self, buf, off=0):
        self.buf = buf
        self.off = off

    def _take(self, fmt, n):
        if self.off + n > len(self.buf):
            raise ValueError('short record: need %d bytes at %d of %d'
                             % (n, self.off, len(self.buf)))
        v = struct.unpack_from(fmt, self.buf, self.off)[0]
        self.off += n
        return v

    def int(self):
        return self._take('!i', 4)

    def long(self):
        return self._take('!q', 8)

    def bool(self):
        return self._take('!B', 1) != 0

    def buf_(self):
        n = self.int()
        if n < 0:
            return None
        if self.off + n > len(self.buf):
            raise ValueError('short buffer: %d bytes at %d of %d' % (n, self.off, len(self.buf)))
        b = bytes(self.buf[self.off:self.off + n])
        self.off += n
        return b

    def str(self):
        b = self.buf_()
        return None if b is None else b.decode('utf-8', 'surrogateescape')

    def stat(self):
        v = struct.unpack_from('!qqqqiiiqiiq', self.buf, self.off)
        self.off += 68
        return Stat(*v)

    def acls(self):
        n = self.int()
        if n < 0:
            return None
        return [(self.int(), self.str(), self.str()) for _ in range(n)]

    def strs(self):
        n = self.int()
        if n < 0:
            return None
        return [self.str() for _ in range(n)]

    def done(self):
        return self.off >= len(self.buf)


# ---- request records ------------------------------------------------------

def create_opcode(flags, ttl=None, with_stat=True):
    if ttl is not None or flags in (PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL):
        return OP['createTTL']
    if flags == CONTAINER:
        return OP['createContainer']
    return OP['create2'] if with_stat else OP['create']


def r_create(path, data, acl, flags, ttl=None):
    b = e_str(path) + e_buf(data) + e_acls(acl) + e_int(flags)
    if ttl is not None:
        b += e_long(ttl)
    return b


def r_path_watch(path, watch):
    return e_str(path) + e_bool(watch)


def r_delete(path, version):
    return e_str(path) + e_int(version)


def r_set_data(path, data, version):
    return e_str(path) + e_buf(data) + e_int(version)


def r_set_acl(path, acl, version):
    return e_str(path) + e_acls(acl) + e_int(version)


def r_path(path):
    return e_str(path)


def r_check(path, version):
    return e_str(path) + e_int(version)


def r_path_type(path, typ):
    return e_str(path) + e_int(typ)


def r_multi(ops):
    """ops: list of (opcode, payload bytes)."""
    out = []
    for opcode, payload in ops:
        out.append(e_int(opcode) + e_bool(False) + e_int(-1) + payload)
    out.append(e_int(-1) + e_bool(True) + e_int(-1))
    return b''.join(out)


def r_set_watches(rel_zxid, data=(), exist=(), child=(), persistent=None,
                  recursive=None):
    b = e_long(rel_zxid) + e_strs(list(data)) + e_strs(list(exist)) + e_strs(list(child))
    if persistent is not None or recursive is not None:
        b += e_strs(list(persistent or ())) + e_strs(list(recursive or ()))
    return b


def r_auth(scheme, auth):
    return e_int(0) + e_str(scheme) + e_buf(auth.encode() if isinstance(auth, str) else auth)


def r_connect(timeout_ms, session_id=0, passwd=b'\x00' * 16, last_zxid=0,
              read_only=False, protocol=0):
    return (e_int(protocol) + e_long(last_zxid) + e_int(timeout_ms) +
            e_long(session_id) + e_buf(passwd) + e_bool(read_only))


def frame(payload):
    return e_int(len(payload)) + payload


# ---- response decoding ------------------------------------------------------

def _decode_multi_results(r, read):
    results = []
    while True:
        typ = r.int()
        done = r.bool()
        err = r.int()
        if done:
            break
        if typ == OP['error']:
            results.append(('error', r.int()))
        elif read:
            if typ == OP['getData']:
                results.append(('getData', r.buf_(), r.stat()))
            elif typ == OP['getChildren']:
                results.append(('getChildren', r.strs()))
            else:
                raise ValueError('unexpected multiRead result type %d' % typ)
        elif typ == OP['create']:
            results.append(('create', r.str()))
        elif typ in (OP['create2'], OP['createTTL'], OP['createContainer']):
            results.append((OPNAME[typ], r.str(), r.stat()))
        elif typ in (OP['delete'], OP['deleteContainer']):
            results.append(('delete',))
        elif typ == OP['setData']:
            results.append(('setData', r.stat()))
        elif typ == OP['check']:
            results.append(('check',))
        else:
            raise ValueError('unexpected multi result type %d (err %d)' % (typ, err))
    return results


def decode_body(opcode, body):
    """Decode a successful reply's body; returns a tuple of values."""
    r = Reader(body)
    if opcode == OP['create']:
        v = (r.str(),)
    elif opcode in (OP['create2'], OP['createTTL'], OP['createContainer']):
        v = (r.str(), r.stat())
    elif opcode in (OP['delete'], OP['removeWatches'], OP['checkWatches'],
                    OP['setWatches'], OP['setWatches2'], OP['auth'], OP['closeSession']):
        v = ()
    elif opcode == OP['exists']:
        v = (r.stat(),)
    elif opcode == OP['getData']:
        v = (r.buf_(), r.stat())
    elif opcode in (OP['setData'], OP['setACL']):
        v = (r.stat(),)
    elif opcode == OP['getACL']:
        v = (r.acls(), r.stat())
    elif opcode == OP['getChildren']:
        v = (r.strs(),)
    elif opcode == OP['getChildren2']:
        v = (r.strs(), r.stat())
    elif opcode == OP['sync']:
        v = (r.str(),)
    elif opcode == OP['multi']:
        v = (_decode_multi_results(r, False),)
    elif opcode == OP['multiRead']:
        v = (_decode_multi_results(r, True),)
    elif opcode == OP['getEphemerals']:
        v = (r.strs(),)
    elif opcode == OP['getAllChildrenNumber']:
        v = (r.int(),)
    elif opcode == OP['addWatch']:
        v = (r.int(),) if body else ()
    elif opcode == OP['whoAmI']:
        n = r.int()
        v = ([(r.str(), r.str()) for _ in range(max(n, 0))],)
    else:
        return (bytes(body),)
    if not r.done():
        raise ValueError('%d trailing bytes after %s reply' % (
            len(body) - r.off, OPNAME.get(opcode, opcode)))
    return v


# ---- connection --------------------------------------------------------------

class ZkError(Exception):
    def __init__(self, err, what=''):
        super().__init__('%s (%d)%s' % (ERRNAME.get(err, '?'), err, (' ' + what) if what else ''))
        self.err = err


class Conn:
    """One TCP connection carrying one session."""

    def __init__(self, host, port, timeout_ms=30000, session_id=0,
                 passwd=b'\x00' * 16, last_zxid=0, read_only=False,
                 sock_timeout=15.0, connect=True):
        self.host, self.port = host, port
        self.req_timeout = timeout_ms
        self.session_id = session_id
        self.passwd = passwd
        self.last_zxid = last_zxid
        self.read_only = read_only
        self.sock_timeout = sock_timeout
        self.sock = None
        self.xid = 0
        self.events = []
        self.trace = None          # if a list: ('event', Event) appended as read
        self.negotiated_timeout = None
        self._rbuf = b''
        if connect:
            self.connect()

    # -- framing
    def _recv_exact(self, n):
        while len(self._rbuf) < n:
            try:
                chunk = self.sock.recv(max(65536, n - len(self._rbuf)))
            except socket.timeout:
                raise
            except OSError as e:
                raise ConnectionClosed('recv: %s' % e)
            if not chunk:
                raise ConnectionClosed('connection closed by server')
            self._rbuf += chunk
        out, self._rbuf = self._rbuf[:n], self._rbuf[n:]
        return out

    def recv_frame(self):
        n = struct.unpack('!i', self._recv_exact(4))[0]
        if n < 0 or n > 64 * 1024 * 1024:
            raise ValueError('absurd frame length %d from server' % n)
        return self._recv_exact(n)

    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise ConnectionClosed('send: %s' % e)

    def connect(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.sock_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(self.sock_timeout)
        self._rbuf = b''
        self.send_raw(frame(r_connect(self.req_timeout, self.session_id, self.passwd,
                                      self.last_zxid, self.read_only)))
        body = self.recv_frame()
        r = Reader(body)
        _proto = r.int()
        timeout = r.int()
        sid = r.long()
        passwd = r.buf_()
        if not r.done():
            r.bool()  # readOnly (absent from old servers)
        if timeout <= 0:
            self.close_socket()
            raise SessionExpired('session 0x%x expired (connect answered timeout %d)'
                                 % (self.session_id, timeout))
        self.negotiated_timeout = timeout
        self.session_id = sid
        self.passwd = passwd
        return self

    def close_socket(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    # -- requests
    def next_xid(self):
        self.xid += 1
        return self.xid

    def send(self, opcode, payload=b'', xid=None):
        if xid is None:
            xid = self.next_xid()
        self.send_raw(frame(e_int(xid) + e_int(opcode) + payload))
        return xid

    def _note_event(self, body, r, zxid):
        typ, state, path = r.int(), r.int(), r.str()
        ev = Event(typ, state, path, zxid)
        self.events.append(ev)
        if self.trace is not None:
            self.trace.append(('event', ev))

    def read_reply(self, want_xid=None):
        """Read frames until a reply (not a notification or ping reply
        unless want_xid asks for it); returns Reply."""
        while True:
            body = self.recv_frame()
            r = Reader(body)
            xid, zxid, err = r.int(), r.long(), r.int()
            if xid == NOTIFICATION_XID:
                self._note_event(body, r, zxid)
                continue
            if xid == PING_XID and want_xid != PING_XID:
                continue
            if zxid > 0:
                self.last_zxid = max(self.last_zxid, zxid)
            if want_xid is not None and xid != want_xid:
                raise ValueError('reply xid %d, expected %d (FIFO order broken?)' % (xid, want_xid))
            return Reply(xid, zxid, err, bytes(body[16:]))

    def call(self, opcode, payload=b'', xid=None):
        xid = self.send(opcode, payload, xid)
        return self.read_reply(xid)

    def call_ok(self, opcode, payload=b'', what=''):
        """call() that raises ZkError on a nonzero error; returns the
        decoded body tuple."""
        rep = self.call(opcode, payload)
        if rep.err != 0:
            raise ZkError(rep.err, what or OPNAME.get(opcode, str(opcode)))
        return decode_body(opcode, rep.body)

    def ping(self):
        self.send(OP['ping'], b'', xid=PING_XID)
        return self.read_reply(PING_XID)

    def wait_events(self, n, timeout=10.0):
        """Read until at least n events are queued in .events (pings keep
        the session alive meanwhile); returns .events."""
        import time
        deadline = time.monotonic() + timeout
        while len(self.events) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError('timed out waiting for %d events; have %r'
                                     % (n, self.events))
            self.sock.settimeout(min(left, 1.0))
            try:
                self.ping()
            except socket.timeout:
                pass
            finally:
                self.sock.settimeout(self.sock_timeout)
        return self.events

    def auth(self, scheme, credential):
        rep = self.call(OP['auth'], r_auth(scheme, credential), xid=AUTH_XID)
        return rep.err

    def close_session(self):
        try:
            rep = self.call(OP['closeSession'])
            return rep.err
        finally:
            self.close_socket()

    # -- convenience wrappers (raise ZkError on failure)
    def create(self, path, data=b'', acl=OPEN_ACL, flags=PERSISTENT, ttl=None):
        opcode = create_opcode(flags, ttl)
        return self.call_ok(opcode, r_create(path, data, acl, flags, ttl), path)

    def delete(self, path, version=-1):
        return self.call_ok(OP['delete'], r_delete(path, version), path)

    def exists(self, path, watch=False):
        rep = self.call(OP['exists'], r_path_watch(path, watch))
        if rep.err == ERR['NONODE']:
            return None
        if rep.err:
            raise ZkError(rep.err, path)
        return decode_body(OP['exists'], rep.body)[0]

    def get(self, path, watch=False):
        return self.call_ok(OP['getData'], r_path_watch(path, watch), path)

    def set(self, path, data, version=-1):
        return self.call_ok(OP['setData'], r_set_data(path, data, version), path)[0]

    def children(self, path, watch=False):
        return self.call_ok(OP['getChildren2'], r_path_watch(path, watch), path)

    def add_watch(self, path, mode):
        return self.call_ok(OP['addWatch'], r_path_type(path, mode), path)

    def get_ephemerals(self, prefix='/'):
        return self.call_ok(OP['getEphemerals'], r_path(prefix))[0]

    def all_children_number(self, path):
        return self.call_ok(OP['getAllChildrenNumber'], r_path(path), path)[0]

    def multi(self, ops):
        return self.call_ok(OP['multi'], r_multi(ops))[0]
