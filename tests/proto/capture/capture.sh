#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Captures golden ZooKeeper protocol frames from real clients talking to a
# real Apache ZooKeeper server.  Developer tool: CI never runs it; CI uses
# the frames it checked in under tests/proto/golden/ (and the seeds in
# tests/proto/corpus/).
#
#   tests/proto/capture/capture.sh [OUTDIR]    (default: tests/proto/golden;
#                                               fuzz seeds go to OUTDIR/../corpus)
#
# It starts ZooKeeper (Debian's `zookeeper` package, standalone,
# extended types enabled, SASL DIGEST-MD5 available) on a free loopback
# port with a temporary data directory, puts zkproxy.py in front of it
# and drives it with kazoo (python3-kazoo), the Java client
# (libzookeeper-java) and the C client's cli_mt (zookeeper-bin).  The
# proxy's log becomes one .hex file per client (to_golden.py).  Every
# process it starts is stopped and the temporary directory removed on
# exit (KEEP=1 keeps the temporary directory with the server and proxy
# logs).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../golden}
PY=/usr/bin/python3  # Debian's python, which has kazoo
JARS=/usr/share/java
CP="$JARS/zookeeper.jar:$JARS/slf4j-simple.jar"

TMP=$(mktemp -d /tmp/zkcapture.XXXXXX)
ZKPID=""
PXPID=""
cleanup() {
	for pid in $PXPID $ZKPID; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "${KEEP:-}" ]; then
		echo "capture: kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT INT TERM

# Three free loopback ports (server, proxy, proxy control).
set -- $($PY -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
ZKPORT=$1 PXPORT=$2 CTLPORT=$3

mkdir -p "$TMP/data"
cat >"$TMP/zoo.cfg" <<EOF
tickTime=2000
dataDir=$TMP/data
clientPort=$ZKPORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok
authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider
EOF
cat >"$TMP/jaas.conf" <<EOF
Server {
	org.apache.zookeeper.server.auth.DigestLoginModule required
	user_dave="davesecret";
};
Client {
	org.apache.zookeeper.server.auth.DigestLoginModule required
	username="dave"
	password="davesecret";
};
EOF

java -cp "$CP:/etc/zookeeper/conf" \
	-Dzookeeper.extendedTypesEnabled=true \
	-Djava.security.auth.login.config="$TMP/jaas.conf" \
	-Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
	org.apache.zookeeper.server.ZooKeeperServerMain "$TMP/zoo.cfg" \
	>"$TMP/zk.log" 2>&1 &
ZKPID=$!

$PY "$HERE/zkproxy.py" --listen-port "$PXPORT" --upstream-port "$ZKPORT" \
	--control-port "$CTLPORT" --log "$TMP/frames.jsonl" >"$TMP/proxy.log" 2>&1 &
PXPID=$!

# Wait until the server answers "ruok" (so no client's first connect
# attempt races the server's start-up) and the proxy listens.
$PY - "$ZKPORT" "$PXPORT" <<'EOF'
import socket, sys, time
zk, px = int(sys.argv[1]), int(sys.argv[2])
for _ in range(600):
    try:
        with socket.create_connection(("127.0.0.1", zk), 0.5) as s:
            s.sendall(b"ruok")
            if s.recv(4) == b"imok":
                break
    except OSError:
        pass
    time.sleep(0.1)
else:
    sys.exit("ZooKeeper never answered ruok")
for _ in range(300):
    try:
        socket.create_connection(("127.0.0.1", px), 0.2).close()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("proxy never listened")
EOF

label() {
	$PY -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("label " + sys.argv[2] + "\n").encode()); s.recv(8)' "$CTLPORT" "$1"
}

HOSTS=127.0.0.1:$PXPORT

echo "capture: kazoo"
label kazoo
$PY "$HERE/drive_kazoo.py" "$HOSTS" "$CTLPORT"

echo "capture: java"
mkdir -p "$TMP/classes"
javac -implicit:none -d "$TMP/classes" -cp "$CP" "$HERE/DriveJava.java"
label java
java -cp "$CP:$TMP/classes" -Dorg.slf4j.simpleLogger.defaultLogLevel=error \
	DriveJava "$HOSTS" "$CTLPORT"

echo "capture: java-sasl"
label java-sasl
java -cp "$CP:$TMP/classes" -Dorg.slf4j.simpleLogger.defaultLogLevel=error \
	-Djava.security.auth.login.config="$TMP/jaas.conf" \
	DriveJava "$HOSTS" "$CTLPORT" sasl

echo "capture: cli_mt"
label cli_mt
$PY "$HERE/drive_cli.py" "$HOSTS" "$CTLPORT"

sleep 1
ZKVER=$(java -cp "$CP" org.apache.zookeeper.version.VersionInfoMain 2>/dev/null | head -1 || true)
mkdir -p "$OUT"
$PY "$HERE/to_golden.py" "$TMP/frames.jsonl" "$OUT" "${ZKVER:-unknown}"
echo "capture: done; frames in $OUT"
