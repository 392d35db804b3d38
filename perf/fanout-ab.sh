#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# One data point of the watch fan-out (docs/BENCHMARKS.md, "Watch fan-out
# on kernel sockets"):
#   perf/fanout-ab.sh LABEL CHEETAH-BINARY SESSIONS [BENCH-BINARY] [KEY=VALUE...]
# starts the given server on a fresh port and data dir (KEY=VALUE lines
# added to its configuration, e.g. cheetah.dataplane.cores=0,1), runs
# cheetah-bench's watch storm (SESSIONS sessions x 50 watches of one
# znode, one setData), stops the server and prints one line:
#   LABEL n=SESSIONS fanout_ms srv_cpu_ms srv_wait_ms cli_cpu_ms cli_wait_ms load=1-min
# (setData to the last event; CPU and run-queue wait of the server's and
# the client's threads during it, from schedstat), then the server's own
# per-worker timing lines.  Alternate two binaries (A B A B ...) so that
# both see the same machine.  The open-file limit caps SESSIONS (the
# client and the server each need one descriptor per session and a few).
set -u
label=$1 bin=$2 n=$3
shift 3
bench=$(dirname "$0")/../build/perf/cheetah-bench
if [ $# -gt 0 ] && [ -x "$1" ]; then
	bench=$1
	shift
fi
port=$((20000 + RANDOM % 20000))
dir=$(mktemp -d /tmp/fanout-ab.XXXXXX)
sets=(--set clientPort=$port --set dataDir="$dir" --set maxClientCnxns=0
	--set clientPortListenBacklog=4096)
for kv in "$@"; do
	sets+=(--set "$kv")
done
"$bin" "${sets[@]}" >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
	timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; echo ruok >&3; cat <&3" 2>/dev/null |
		grep -q imok && break
	sleep 0.1
done
out=$("$bench" --hosts 127.0.0.1:$port --scenario watch-storm --sessions "$n" --watches 50 \
	--server-pid $pid --format csv --csv-header --no-progress 2>"$dir/bench.err" | tail -2)
echo "$out" | python3 -c '
import csv, sys
r = list(csv.DictReader(sys.stdin))
if not r:
    sys.exit("no result")
r = r[-1]
print(sys.argv[1], "n=%s" % r["sessions"], r["fanout_ms"], r["fanout_server_cpu_ms"],
      r["fanout_server_wait_ms"], r["fanout_client_cpu_ms"], r["fanout_client_wait_ms"],
      "load=" + open("/proc/loadavg").read().split()[0])
' "$label" || tail -3 "$dir/bench.err"
kill $pid 2>/dev/null
wait $pid 2>/dev/null
grep -o "worker [0-9]*: watch events of .* in [0-9.]* ms;" "$dir/server.log" | sed 's/^/  /'
