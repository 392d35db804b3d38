#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Drives a ZooKeeper server through zkproxy.py with the C client's
cli_mt shell (Debian's zookeeper-bin).  Developer tool for capture.sh; not
run in CI.

Usage: drive_cli.py HOST:PORT CONTROL_PORT
"""
import socket
import subprocess
import sys
import time

CLI = "/usr/lib/zookeeper/bin/cli_mt"
hosts, ctl_port = sys.argv[1], int(sys.argv[2])


def ctl(cmd):
    with socket.create_connection(("127.0.0.1", ctl_port)) as s:
        s.sendall(cmd.encode() + b"\n")
        s.recv(16)


p = subprocess.Popen([CLI, "-h", hosts], stdin=subprocess.PIPE,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cmd(line, wait=0.4):
    p.stdin.write(line.encode() + b"\n")
    p.stdin.flush()
    time.sleep(wait)


time.sleep(1.5)  # connect
cmd("create /cli")
cmd("create +e /cli/eph")
cmd("create +s /cli/seq-")
cmd("create +es /cli/eseq-")
cmd("create +c /cli/cont")
cmd("create /cli/cont/kid")
cmd("create +t=60000 /cli/ttl")
cmd("create2 /cli/c2")
cmd("create /cli")                  # NODEEXISTS
cmd("get /cli/c2")
cmd("set /cli/c2 hello")
cmd("get /cli/missing")             # NONODE
cmd("ls /cli")
cmd("ls2 /cli")
cmd("exists /cli/c2")
cmd("wexists /cli/later")           # exists with watch
cmd("create /cli/later")            # fires NodeCreated
cmd("wexists /cli/c2")
cmd("sync /cli")
cmd("addauth digest carol:pw")
cmd("myid")
# Reconnect: the C client re-registers its watches with SetWatches.
ctl("drop")
time.sleep(3)
cmd("set /cli/c2 again")            # fires NodeDataChanged
cmd("delete /cli/later")
cmd("delete /cli")                  # NOTEMPTY
time.sleep(4)                       # idle: pings
cmd("quit", 1.0)
try:
    p.wait(10)
except subprocess.TimeoutExpired:
    p.kill()
    p.wait()
