#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Frame-logging TCP proxy for the ZooKeeper client protocol.

Developer tool (not run in CI): sits between a real ZooKeeper client and a
real ZooKeeper server on 127.0.0.1 and logs every length-prefixed frame in
each direction, one JSON object per line:

    {"conn": 1, "dir": ">", "label": "kazoo", "hex": "0000002d..."}

"dir" is ">" for client to server and "<" for server to client; "hex" is the
whole frame including its 4-byte big-endian length.  Frames are logged in
the order in which they complete, which keeps every reply after its
request.

Control port: a TCP connection to --control-port accepts one line:
    "drop"         close every proxied connection (the client reconnects,
                   which is how SetWatches/SetWatches2 get captured)
    "label NAME"   tag the frames of connections accepted from now on
and answers "ok\n".

Usage: zkproxy.py --listen-port P --upstream-port U --control-port C --log F
Runs until SIGTERM/SIGINT.  Needs only the Python standard library.
"""
import argparse
import json
import signal
import socket
import struct
import sys
import threading

lock = threading.Lock()
conns = {}  # id -> (client socket, upstream socket)
next_id = [1]
label = ["unlabelled"]
logf = None


def log_frame(cid, lbl, direction, frame):
    with lock:
        logf.write(json.dumps({"conn": cid, "dir": direction, "label": lbl,
                               "hex": frame.hex()}) + "\n")
        logf.flush()


def pump(cid, lbl, src, dst, direction):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            buf += data
            # Log complete frames before forwarding them so that a reply
            # can never be logged ahead of the request that caused it.
            while len(buf) >= 4:
                (n,) = struct.unpack(">i", buf[:4])
                if n < 0 or len(buf) < 4 + n:
                    break
                log_frame(cid, lbl, direction, buf[:4 + n])
                buf = buf[4 + n:]
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    with lock:
        conns.pop(cid, None)


def serve(listen, upstream_port):
    while True:
        c, _ = listen.accept()
        u = socket.create_connection(("127.0.0.1", upstream_port))
        for s in (c, u):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with lock:
            cid = next_id[0]
            next_id[0] += 1
            conns[cid] = (c, u)
            lbl = label[0]
        threading.Thread(target=pump, args=(cid, lbl, c, u, ">"), daemon=True).start()
        threading.Thread(target=pump, args=(cid, lbl, u, c, "<"), daemon=True).start()


def control(ctl):
    while True:
        s, _ = ctl.accept()
        f = s.makefile("rwb")
        line = f.readline().decode().strip()
        if line == "drop":
            with lock:
                victims = list(conns.values())
            for pair in victims:
                for sock in pair:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        elif line.startswith("label "):
            with lock:
                label[0] = line[6:]
        f.write(b"ok\n")
        f.flush()
        s.close()


def main():
    global logf
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen-port", type=int, required=True)
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--control-port", type=int, required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    logf = open(a.log, "a")
    listen = socket.socket()
    listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen.bind(("127.0.0.1", a.listen_port))
    listen.listen(64)
    ctl = socket.socket()
    ctl.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ctl.bind(("127.0.0.1", a.control_port))
    ctl.listen(8)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=control, args=(ctl,), daemon=True).start()
    print("zkproxy: 127.0.0.1:%d -> 127.0.0.1:%d" % (a.listen_port, a.upstream_port),
          flush=True)
    try:
        serve(listen, a.upstream_port)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
