#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Drives a ZooKeeper server through zkproxy.py with kazoo (Debian's
python3-kazoo; run with /usr/bin/python3).  Developer tool for
capture.sh; not run in CI.

Usage: drive_kazoo.py HOST:PORT CONTROL_PORT
"""
import socket
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import (BadVersionError, NoNodeError, NodeExistsError,
                              NotEmptyError)
from kazoo.security import make_digest_acl, OPEN_ACL_UNSAFE

hosts, ctl_port = sys.argv[1], int(sys.argv[2])
events = []
fired = threading.Event()


def watcher(ev):
    events.append(ev)
    fired.set()


def wait_event():
    fired.wait(5)
    fired.clear()


zk = KazooClient(hosts=hosts, timeout=4.0)
zk.start(timeout=15)

zk.create("/kazoo", b"root")
zk.create("/kazoo/a", b"hello", include_data=True)          # create2
zk.create("/kazoo/e", b"", ephemeral=True)
zk.create("/kazoo/s-", b"seq", sequence=True)
zk.create("/kazoo/es-", b"x", ephemeral=True, sequence=True)
try:
    zk.create("/kazoo/a", b"dup")                              # NODEEXISTS
except NodeExistsError:
    pass
try:
    zk.create("/kazoo/none/child", b"")                        # NONODE
except NoNodeError:
    pass

# getData with a watch, then setData fires NodeDataChanged.
zk.get("/kazoo/a", watch=watcher)
zk.set("/kazoo/a", b"world")
wait_event()
try:
    zk.set("/kazoo/a", b"v", version=99)                       # BADVERSION
except BadVersionError:
    pass

# exists watch on a missing node fires NodeCreated.
zk.exists("/kazoo/later", watch=watcher)
zk.create("/kazoo/later", None)                               # null data
wait_event()
zk.exists("/kazoo/a")

# child watch fires NodeChildrenChanged.
zk.get_children("/kazoo", watch=watcher)
zk.create("/kazoo/b", b"")
wait_event()
zk.get_children("/kazoo", include_data=True)                  # getChildren2

try:
    zk.get("/kazoo/missing")                                   # NONODE
except NoNodeError:
    pass

# ACLs and digest auth.
zk.add_auth("digest", "alice:secret")
acl = make_digest_acl("alice", "secret", all=True)
zk.create("/kazoo/secure", b"s", acl=[acl])
zk.get_acls("/kazoo/secure")
zk.set_acls("/kazoo/secure", [acl] + list(OPEN_ACL_UNSAFE))
zk.get_acls("/kazoo/secure")

# multi: success, then failure (check with a bad version).
t = zk.transaction()
t.create("/kazoo/t1", b"1")
t.set_data("/kazoo/a", b"tx")
t.check("/kazoo/a", 2)
t.delete("/kazoo/b")
t.commit()
t = zk.transaction()
t.create("/kazoo/t2", b"2")
t.check("/kazoo/a", 42)
t.delete("/kazoo/t1")
t.commit()

zk.sync("/kazoo")

# delete watch fires NodeDeleted; NOTEMPTY error.
zk.get("/kazoo/later", watch=watcher)
zk.delete("/kazoo/later")
wait_event()
try:
    zk.delete("/kazoo")
except NotEmptyError:
    pass

# (No reconfig here: kazoo 2.8 cannot map the standalone server's
# RECONFIGDISABLED (-123) and kills its connection; DriveJava covers it.)

# Idle long enough for pings (kazoo pings after ~timeout/3 of silence).
time.sleep(3)

zk.delete("/kazoo", recursive=True)
zk.stop()
zk.close()
