#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Turns zkproxy.py's frame log into tests/proto/golden/<label>.hex and
seeds for the fuzzer's corpus: tests/proto/corpus/<label>-NNN in
fuzz_proto.c's input format (a selector byte, for replies the request's
opcode, then the payload) and <label>-stream (all requests as frames).
Developer tool for capture.sh; not run in CI.

Each frame gets a comment naming the operation, decoded just enough to
help a reader (xid, opcode, path, error code); the C tests decode the
frames fully with the codec under test.

Usage: to_golden.py FRAMES.jsonl OUTDIR ZK_SERVER_VERSION
"""
import collections
import json
import os
import re
import struct
import sys

OPS = {
    0: "notification", 1: "create", 2: "delete", 3: "exists", 4: "getData",
    5: "setData", 6: "getACL", 7: "setACL", 8: "getChildren", 9: "sync",
    11: "ping", 12: "getChildren2", 13: "check", 14: "multi", 15: "create2",
    16: "reconfig", 17: "checkWatches", 18: "removeWatches",
    19: "createContainer", 20: "deleteContainer", 21: "createTTL",
    22: "multiRead", 100: "auth", 101: "setWatches", 102: "sasl",
    103: "getEphemerals", 104: "getAllChildrenNumber", 105: "setWatches2",
    106: "addWatch", 107: "whoAmI", -10: "createSession",
    -11: "closeSession", -1: "error",
}
# Requests whose body starts with a path (ustring).
PATH_FIRST = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 15, 17, 18, 19, 21, 103,
              104, 106}
EVENTS = {-1: "None", 1: "NodeCreated", 2: "NodeDeleted",
          3: "NodeDataChanged", 4: "NodeChildrenChanged",
          5: "DataWatchRemoved", 6: "ChildWatchRemoved",
          7: "PersistentWatchRemoved"}
ERRS = {0: "OK", -4: "CONNECTIONLOSS", -6: "UNIMPLEMENTED",
        -8: "BADARGUMENTS", -13: "NEWCONFIGNOQUORUM", -101: "NONODE",
        -102: "NOAUTH", -103: "BADVERSION", -110: "NODEEXISTS",
        -111: "NOTEMPTY", -115: "AUTHFAILED", -121: "NOWATCHER",
        -123: "RECONFIGDISABLED", -2: "RUNTIMEINCONSISTENCY"}

CLIENTS = {
    "kazoo": "kazoo %s (python3-kazoo, Debian 12)",
    "java": "Java client %s (libzookeeper-java, Debian 12)",
    "java-sasl": "Java client %s with SASL DIGEST-MD5 (libzookeeper-java)",
    "cli_mt": "C client cli_mt %s (zookeeper-bin, Debian 12)",
}


def ustring(b, off):
    (n,) = struct.unpack_from(">i", b, off)
    if n < 0:
        return None, off + 4
    return b[off + 4:off + 4 + n].decode("utf-8", "replace"), off + 4 + n


def describe_request(b):
    xid, op = struct.unpack_from(">ii", b, 4)
    name = OPS.get(op, "op%d" % op)
    d = "%s xid=%d" % (name, xid)
    if op in PATH_FIRST and len(b) >= 16:
        path, _ = ustring(b, 12)
        d += " path=%s" % path
    if op == 100:
        _, off = struct.unpack_from(">i", b, 12)[0], 16
        scheme, _ = ustring(b, off)
        d += " scheme=%s" % scheme
    return op, xid, d


def describe_reply(b, ops):
    xid, zxid, err = struct.unpack_from(">iqi", b, 4)
    if xid == -1:
        et, st = struct.unpack_from(">ii", b, 20)
        path, _ = ustring(b, 28)
        return "event %s state=%d path=%s zxid=%d" % (
            EVENTS.get(et, et), st, path, zxid)
    op = ops.get(xid)
    name = OPS.get(op, "?") if op is not None else "?"
    return "reply to %s xid=%d zxid=0x%x err=%s" % (
        name, xid, zxid, ERRS.get(err, err))


def main():
    log, outdir, zkver = sys.argv[1], sys.argv[2], sys.argv[3]
    frames = [json.loads(l) for l in open(log)]
    by_label = collections.OrderedDict()
    for f in frames:
        by_label.setdefault(f["label"], []).append(f)
    try:
        import kazoo.version
        kver = kazoo.version.__version__
    except ImportError:
        kver = "?"
    m = re.search(r"version ([0-9][^ ,-]*)", zkver)
    cver = m.group(1) if m else "?"
    corpus = os.path.join(outdir, "..", "corpus")
    os.makedirs(corpus, exist_ok=True)
    for lbl, fs in by_label.items():
        client = CLIENTS.get(lbl, lbl) % (kver if lbl == "kazoo" else cver)
        for old in os.listdir(corpus):
            if old.startswith(lbl + "-"):
                os.unlink(os.path.join(corpus, old))
        stream = bytearray([4])
        seeds = set()
        path = os.path.join(outdir, lbl + ".hex")
        seen_req = set()
        seen_rep = set()
        ops = collections.defaultdict(dict)
        seq = 0
        with open(path, "w") as o:
            o.write("# SPDX-License-Identifier: Apache-2.0\n")
            o.write("# Golden ZooKeeper frames captured from a real client "
                    "and a real server.\n")
            o.write("# client: %s\n" % client)
            o.write("# server: Apache ZooKeeper %s (Debian 12 `zookeeper`, "
                    "standalone)\n" % cver)
            o.write("# Captured by tests/proto/capture/capture.sh through "
                    "zkproxy.py; do not edit.\n")
            o.write("# A frame line is '<dir> <conn> <hex>': dir '>' client "
                    "to server, '<' server to client;\n# conn numbers the TCP "
                    "connection; hex is the whole frame with its 4-byte "
                    "length.\n# The first frame of each direction of a "
                    "connection is ConnectRequest/ConnectResponse.\n"
                    "# The comment before each frame names it (decoded by "
                    "to_golden.py for readers).\n")
            for f in fs:
                b = bytes.fromhex(f["hex"])
                c = f["conn"]
                if f["dir"] == ">":
                    if c not in seen_req:
                        seen_req.add(c)
                        pv, lz, to, sid = struct.unpack_from(">iqiq", b, 4)
                        ro = "omitted" if len(b) == 4 + 44 else str(b[-1])
                        desc = ("ConnectRequest protocolVersion=%d "
                                "lastZxidSeen=0x%x timeOut=%d sessionId=0x%x "
                                "readOnly=%s" % (pv, lz, to, sid, ro))
                        kind = "connect_req"
                    else:
                        op, xid, desc = describe_request(b)
                        ops[c][xid] = op
                        kind = "req"
                else:
                    if c not in seen_rep:
                        seen_rep.add(c)
                        pv, to, sid = struct.unpack_from(">iiq", b, 4)
                        desc = ("ConnectResponse timeOut=%d sessionId=0x%x"
                                % (to, sid))
                        kind = "connect_resp"
                    else:
                        desc = describe_reply(b, ops[c])
                        kind = "reply"
                o.write("# %s %s\n%s %d %s\n" % (
                    f["dir"], desc, f["dir"], c, f["hex"]))
                # Fuzzer seeds: a selector byte then the payload (see
                # fuzz_proto.c); replies are seeded with their opcode.
                payload = b[4:]
                if kind == "connect_req":
                    seed = bytes([0]) + payload
                elif kind == "connect_resp":
                    seed = bytes([1]) + payload
                elif kind == "req":
                    seed = bytes([2]) + payload
                    stream += b
                else:
                    xid = struct.unpack_from(">i", b, 4)[0]
                    op = ops[c].get(xid, 0)
                    seed = bytes([3, op & 0xff]) + payload
                if seed in seeds:
                    continue  # pings and the like: one seed is enough
                seeds.add(seed)
                seq += 1
                with open(os.path.join(corpus, "%s-%03d" % (lbl, seq)),
                          "wb") as s:
                    s.write(seed)
        # One seed with every request of the capture as a frame stream.
        with open(os.path.join(corpus, "%s-stream" % lbl), "wb") as s:
            s.write(stream)
        print("to_golden: %s: %d frames" % (path, len(fs)))


if __name__ == "__main__":
    main()
