#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The user-space stack on a DPDK port against real Linux clients.

Two network namespaces made by this test: the stack's (srv) and the
client's (cli).  tests/net/net_echo_dpdk runs the stack with an echo
service in srv on one of two DPDK virtual devices:

  af_packet  a veth pair srv <-> cli; DPDK's net_af_packet on the srv end
             (which has no kernel address, so the kernel stays quiet).
             The device offers no checksum offload: software checksums.
  tap        DPDK's net_tap creates a kernel tap interface in srv, which
             the test moves into cli.  The device offers IPv4/TCP checksum
             offloads on RX and TX, so the offload path is used.
  af_packet_loss  af_packet, the two veth pairs joined by a bridge in a
             third namespace whose nftables forward hook drops 3 % of the
             echo port's TCP segments each way (this kernel has no netem):
             the stack's retransmission and recovery against Linux's TCP;
             the same bytes must come back.

From cli: the kernel resolves the stack's address by ARP (its neighbour
entry must carry the port's MAC), ping gets echo replies, and Python
sockets connect to the echo port: a short message, 1 MiB each way with a
clean close (shutdown, then the stack's FIN), and 8 connections at once.
The server then stops on SIGTERM and must exit 0 (no packet buffer, mbuf
or control block leaked) with no checksum error counted.

Needs root (namespaces, veth, tap); a missing facility fails the test with
a message naming it.  Every namespace, interface and process made here is
removed in a finally block (SIGTERM from meson's timeout included).
"""
import argparse
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SRV_IP = "10.98.0.2"
CLI_IP = "10.98.0.1"
PORT = 7
BACKLOG = 32  # the echo listener's; --backlog
LOSS_PCT = 3
MIB = 1 << 20


class Fail(Exception):
    pass


def run(cmd, what, check=True, timeout=30):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise Fail(f"{what}: `{' '.join(cmd)}` exited {r.returncode}: "
                   f"{(r.stderr or r.stdout).strip()}")
    return r


# ---------------------------------------------------------------------
# Client side (runs inside the cli namespace: test_veth.py --client)

def recv_exact_until_eof(s):
    chunks = []
    while True:
        b = s.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def echo_transfer(ip, data, results, idx):
    """Sends data, half-closes, reads the echo to EOF; stores an error or
    None in results[idx]."""
    try:
        s = socket.create_connection((ip, PORT), timeout=30)
        s.settimeout(30)
        err = []

        def sender():
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                err.append(f"send: {e}")
        t = threading.Thread(target=sender, daemon=True)
        t.start()
        got = recv_exact_until_eof(s)
        t.join(30)
        s.close()
        if err:
            results[idx] = err[0]
        elif got != data:
            results[idx] = (f"echo differs: sent {len(data)} bytes, got {len(got)}"
                            f"{'' if len(got) != len(data) else ' (same length, other bytes)'}")
        else:
            results[idx] = None
    except OSError as e:
        results[idx] = f"{type(e).__name__}: {e}"


def client(ip):
    # 1. A short message, answered before we close.
    s = socket.create_connection((ip, PORT), timeout=20)
    s.settimeout(20)
    msg = b"hello, user-space stack\n"
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        b = s.recv(100)
        if not b:
            break
        got += b
    if got != msg:
        print(f"client: short echo: sent {msg!r}, got {got!r}")
        return 1
    s.shutdown(socket.SHUT_WR)
    if s.recv(100) != b"":
        print("client: expected end of stream after the half-close")
        return 1
    s.close()
    # 2. 1 MiB each way, then a clean close.
    res = [Ellipsis]
    data = os.urandom(MIB)
    t0 = time.monotonic()
    echo_transfer(ip, data, res, 0)
    mib_ms = (time.monotonic() - t0) * 1000
    if res[0] is not None:
        print(f"client: 1 MiB echo: {res[0]}")
        return 1
    # 3. Eight connections at once, 64 KiB each.
    res = [Ellipsis] * 8
    ts = [threading.Thread(target=echo_transfer, args=(ip, os.urandom(64 << 10), res, i))
          for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    bad = [f"#{i}: {r}" for i, r in enumerate(res) if r is not None]
    if bad:
        print("client: concurrent echoes failed: " + "; ".join(bad))
        return 1
    print(f"client ok bytes={len(msg) + MIB + 8 * (64 << 10)} conns=10 "
          f"(1 MiB echoed in {mib_ms:.0f} ms, not asserted)")
    return 0


# ---------------------------------------------------------------------
# Test driver (root namespace)

class Env:
    def __init__(self, kind, echo_bin):
        tag = f"{os.getpid()}"
        self.kind = kind
        self.bin = echo_bin
        self.ns_srv = f"chv{tag}s"
        self.ns_cli = f"chv{tag}c"
        self.if_srv = f"cv{tag}s"[:15]
        self.if_cli = f"cv{tag}c"[:15]
        self.ns_mid = f"chv{tag}m"
        self.if_ms = f"cv{tag}ms"[:15]
        self.if_mc = f"cv{tag}mc"[:15]
        self.prefix = f"chveth{tag}"
        self.made_ns = []
        self.made_link = None
        self.proc = None
        self.errf = tempfile.TemporaryFile(mode="w+")

    def check_facilities(self):
        if os.geteuid() != 0:
            raise Fail("needs root: creating network namespaces, a veth pair and a tap "
                       "interface needs CAP_SYS_ADMIN and CAP_NET_ADMIN")
        for tool, pkg in (("ip", "iproute2"), ("ping", "iputils-ping"), ("ethtool", "ethtool")):
            if not shutil.which(tool):
                raise Fail(f"missing tool `{tool}` (Debian package {pkg}; build.sh installs it)")
        if self.kind == "af_packet_loss" and not shutil.which("nft"):
            raise Fail("missing tool `nft` (Debian package nftables; build.sh installs it)")
        if self.kind == "tap" and not os.path.exists("/dev/net/tun"):
            raise Fail("no /dev/net/tun: the kernel has no TUN/TAP support here")
        if not os.access(self.bin, os.X_OK):
            raise Fail(f"echo program {self.bin} is not built")

    def add_ns(self, ns):
        r = run(["ip", "netns", "add", ns], "create a network namespace", check=False)
        if r.returncode != 0:
            raise Fail(f"network namespaces unavailable (`ip netns add {ns}`: "
                       f"{r.stderr.strip()})")
        self.made_ns.append(ns)
        run(["ip", "-n", ns, "link", "set", "lo", "up"], "loopback up")

    def veth(self, a, ns_a, b, ns_b):
        r = run(["ip", "link", "add", a, "type", "veth", "peer", "name", b],
                "create a veth pair", check=False)
        if r.returncode != 0:
            raise Fail(f"veth unavailable (`ip link add ... type veth`: {r.stderr.strip()})")
        self.made_link = a
        run(["ip", "link", "set", a, "netns", ns_a], "move veth end")
        run(["ip", "link", "set", b, "netns", ns_b], "move veth end")
        self.made_link = None  # gone with the namespaces

    def setup(self):
        self.add_ns(self.ns_srv)
        self.add_ns(self.ns_cli)
        if self.kind == "af_packet":
            self.veth(self.if_srv, self.ns_srv, self.if_cli, self.ns_cli)
        elif self.kind == "af_packet_loss":
            # srv <-> mid <-> cli, mid a bridge whose forward hook drops:
            # a true loss on the wire for both TCPs (a drop in the
            # sender's own output or egress hook is a local error that
            # Linux retries at once, and AF_PACKET taps a frame before the
            # receiver's ingress hook).
            self.add_ns(self.ns_mid)
            self.veth(self.if_srv, self.ns_srv, self.if_ms, self.ns_mid)
            self.veth(self.if_cli, self.ns_cli, self.if_mc, self.ns_mid)
            r = run(["ip", "-n", self.ns_mid, "link", "add", "br0", "type", "bridge"],
                    "bridge", check=False)
            if r.returncode != 0:
                raise Fail(f"bridge unavailable: {r.stderr.strip()}")
            for i in (self.if_ms, self.if_mc):
                run(["ip", "-n", self.ns_mid, "link", "set", i, "master", "br0"], "bridge port")
                run(["ip", "-n", self.ns_mid, "link", "set", i, "up"], "bridge port up")
            run(["ip", "-n", self.ns_mid, "link", "set", "br0", "up"], "bridge up")
            rules = ("table bridge chvloss {\n chain fw { type filter hook forward priority 0; "
                     f"tcp dport {PORT} numgen random mod 100 < {LOSS_PCT} counter drop; "
                     f"tcp sport {PORT} numgen random mod 100 < {LOSS_PCT} counter drop; }}\n}}\n")
            r = subprocess.run(["ip", "netns", "exec", self.ns_mid, "nft", "-f", "-"],
                               input=rules, capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                raise Fail(f"nftables unavailable for the loss rules: {r.stderr.strip()}")
        if self.kind.startswith("af_packet"):
            run(["ip", "netns", "exec", self.ns_srv, "sysctl", "-qw",
                 f"net.ipv6.conf.{self.if_srv}.disable_ipv6=1"], "quiet IPv6")
            # No address on the DPDK end: the kernel must not answer for it.
            run(["ip", "-n", self.ns_srv, "link", "set", self.if_srv, "up"], "veth up")
            self.client_if_up(self.if_cli)

    def client_if_up(self, ifname):
        run(["ip", "-n", self.ns_cli, "addr", "add", f"{CLI_IP}/24", "dev", ifname],
            "client address")
        run(["ip", "-n", self.ns_cli, "link", "set", ifname, "up"], "client link up")
        # veth hands frames over with a partial checksum (CHECKSUM_PARTIAL)
        # and TSO super-frames unless TX offloads are off on the sender.
        run(["ip", "netns", "exec", self.ns_cli, "ethtool", "-K", ifname, "tx", "off",
             "tso", "off", "gso", "off"], "client TX offloads off")

    def start_server(self):
        cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        vdev = (f"net_af_packet0,iface={self.if_srv}" if self.kind.startswith("af_packet")
                else f"net_tap0,iface={self.if_srv}")
        eal = (f"--lcores=0@({cpus}) --no-huge -m 256 --no-shconf --no-pci --no-telemetry "
               f"--file-prefix={self.prefix} --log-level=warning --vdev={vdev}")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns_srv, self.bin, "--eal", eal, "--ip", SRV_IP,
             "--netmask", "255.255.255.0", "--port", str(PORT), "--timeout", "200",
             "--backlog", str(BACKLOG)],
            stdout=subprocess.PIPE, stderr=self.errf, text=True)
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        if not line.startswith("ready "):
            raise Fail(f"the echo server did not start (no ready line): {self.stderr()}")
        print(f"[{self.kind}] server: {line.strip()}")
        self.ready = dict(kv.split("=", 1) for kv in line.split()[1:])
        if self.kind == "tap":
            # The tap interface appears in srv; the client side is cli.
            run(["ip", "-n", self.ns_srv, "link", "set", self.if_srv, "netns", self.ns_cli],
                "move the tap interface to the client namespace")
            self.client_if_up(self.if_srv)

    def stderr(self):
        self.errf.seek(0)
        return self.errf.read().strip()[-3000:]

    def stop_server(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            raise Fail("the echo server did not stop within 20 s of SIGTERM")
        rc = self.proc.returncode
        self.proc = None
        m = re.search(r"^stats (.*)$", out, re.M)
        if rc != 0 or not m:
            raise Fail(f"the echo server exited {rc} (a leak or an error): {self.stderr()}\n{out}")
        return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self.made_link:
            run(["ip", "link", "del", self.made_link], "remove veth", check=False)
        for ns in reversed(self.made_ns):
            run(["ip", "netns", "del", ns], "remove a namespace", check=False)
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        left = [ns for ns in self.made_ns
                if os.path.exists(f"/run/netns/{ns}")]
        if left:
            print(f"warning: namespaces left behind: {left}", file=sys.stderr)


# The af_packet PMD's default ring (framecnt; start_server gives none).
RING_FRAMES = 512
FLOOD = 3 * RING_FRAMES


def flood_frozen(env, cli):
    """With the server stopped (SIGSTOP), FLOOD datagrams reach its packet
    ring, which holds RING_FRAMES: the kernel drops the rest there, and the
    port must count them (dev_rx_missed) once the server runs again."""
    code = ("import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for i in range({FLOOD}):\n"
            f"    s.sendto(b'x' * 64, ('{SRV_IP}', 9))\n")
    env.proc.send_signal(signal.SIGSTOP)
    try:
        run(cli + [sys.executable, "-c", code], "UDP flood to the frozen server", timeout=60)
    finally:
        env.proc.send_signal(signal.SIGCONT)
    print(f"[{env.kind}] {FLOOD} datagrams sent to the frozen server")


def drive(kind, echo_bin):
    env = Env(kind, echo_bin)
    try:
        env.check_facilities()
        env.setup()
        env.start_server()
        cli = ["ip", "netns", "exec", env.ns_cli]
        # ARP + ICMP echo through the user-space stack.
        r = run(cli + ["ping", "-c", "5", "-i", "0.2", "-W", "3", SRV_IP], "ping", check=False,
                timeout=60)
        if " 5 received" not in r.stdout:
            raise Fail(f"ping through the stack failed:\n{r.stdout}{r.stderr}")
        rtt = re.search(r"rtt .*= (\S+) ms", r.stdout)
        print(f"[{kind}] ping: 5/5 answered, rtt min/avg/max/mdev {rtt.group(1) if rtt else '?'} ms")
        neigh = run(cli + ["ip", "neigh", "show", SRV_IP], "neighbour table").stdout
        if env.ready["mac"] not in neigh:
            raise Fail(f"the kernel's ARP entry for {SRV_IP} is not the port's MAC "
                       f"{env.ready['mac']}: {neigh.strip()}")
        # TCP echo: short, 1 MiB with a clean close, 8 at once.
        r = run(cli + [sys.executable, os.path.abspath(__file__), "--client", SRV_IP],
                "TCP client", check=False, timeout=150)
        if r.returncode != 0 or "client ok" not in r.stdout:
            raise Fail(f"TCP echo through the stack failed:\n{r.stdout}{r.stderr}\n"
                       f"server stderr: {env.stderr()}")
        print(f"[{kind}] {r.stdout.strip()}")
        if kind == "af_packet_loss":
            nft = run(["ip", "netns", "exec", env.ns_mid, "nft", "list", "table", "bridge",
                       "chvloss"], "nft counters").stdout
            drops = [int(x) for x in re.findall(r"counter packets (\d+)", nft)]
            print(f"[{kind}] segments dropped on the bridge (to, from the stack): {drops}")
            if len(drops) != 2 or min(drops) == 0:
                raise Fail(f"the loss rules dropped {drops}: no loss was tested\n{nft}")
        if kind == "af_packet":
            flood_frozen(env, cli)
        st = env.stop_server()
        print(f"[{kind}] server stats: {st}")
        want = {"accepted": 10, "closed": 10, "reset": 0, "ip_bad_csum": 0,
                "tcp_bad_csum": 0, "port_rx_csum_bad": 0, "port_rx_drop": 0}
        bad = [f"{k}={st.get(k)} (want {v})" for k, v in want.items() if st.get(k) != v]
        if st.get("icmp_echo_reply", 0) < 5:
            bad.append(f"icmp_echo_reply={st.get('icmp_echo_reply')} (want >= 5)")
        if st.get("idle_sleeps", 0) == 0:
            bad.append("idle_sleeps=0: the idle back-off never slept")
        expect_bytes = len(b"hello, user-space stack\n") + MIB + 8 * (64 << 10)
        if st.get("echoed") != expect_bytes:
            bad.append(f"echoed={st.get('echoed')} (want {expect_bytes})")
        if bad:
            raise Fail("server counters: " + ", ".join(bad))
        offl = kind == "tap"
        if kind == "af_packet" and st.get("dev_rx_missed", 0) < FLOOD - RING_FRAMES:
            raise Fail(f"dev_rx_missed={st.get('dev_rx_missed')} after {FLOOD} frames sent to "
                       f"a frozen server through a {RING_FRAMES}-frame packet ring (want at "
                       f"least {FLOOD - RING_FRAMES}): the ring's drops are not counted")
        if kind == "af_packet_loss" and st.get("tcp_retrans", 0) == 0:
            raise Fail("segments were dropped but the stack retransmitted none")
        if (env.ready["tx_tcp_csum"] == "1") != offl:
            raise Fail(f"{kind}: expected the TX TCP checksum offload "
                       f"{'on' if offl else 'off'}, ready line says {env.ready}")
    finally:
        env.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--echo-bin")
    ap.add_argument("--kind", choices=["af_packet", "tap", "af_packet_loss"], action="append")
    ap.add_argument("--client")
    ap.add_argument("--backlog", type=int, default=32,
                    help="the echo listener's backlog (1: the 8 concurrent connections "
                         "overflow it and are made through SYN cookies)")
    a = ap.parse_args()
    global BACKLOG
    BACKLOG = a.backlog
    if a.client:
        return client(a.client)

    def on_term(sig, frame):
        raise SystemExit(f"terminated by signal {sig}")
    signal.signal(signal.SIGTERM, on_term)
    if not a.echo_bin or not a.kind:
        ap.error("--echo-bin and --kind are needed")
    for kind in a.kind:
        try:
            drive(kind, a.echo_bin)
        except Fail as e:
            print(f"FAIL [{kind}]: {e}")
            return 1
        print(f"[{kind}] ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
