#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# One data point of the watch fan-out (docs/BENCHMARKS.md, "Watch fan-out
# on kernel sockets"):
#   perf/fanout-ab.sh [--pin] [--netns] [--rps MASK] LABEL CHEETAH-BINARY SESSIONS
#                     [BENCH-BINARY] [KEY=VALUE...]
# starts the given server on a fresh port and data dir (KEY=VALUE lines
# added to its configuration, e.g. cheetah.dataplane.cores=0,1), runs
# cheetah-bench's watch storm (SESSIONS sessions x 50 watches of one
# znode, one setData), stops the server and prints one line:
#   LABEL n=SESSIONS fanout_ms srv_cpu_ms srv_wait_ms cli_cpu_ms cli_wait_ms
#         setdata=ms net_rx=cpu0/cpu1 drops=cpu0/cpu1 load=1-min
# (setData to the last event; CPU and run-queue wait of the server's and
# the client's threads during it, from schedstat; the setData's round
# trip; the NET_RX softirqs each CPU ran meanwhile and the packets each
# dropped at a full backlog), with a namespace its TCP retransmission
# counters over the whole run, then the server's own per-worker timing
# lines.  Alternate two binaries (A B A B ...) so that
# both see the same machine.  The open-file limit caps SESSIONS (the
# client and the server each need one descriptor per session and a few).
#
#   --pin       the server on CPU 1, the client on CPU 0 (taskset)
#   --netns     server and client in a network namespace of their own,
#               made here and removed at exit (its own lo: nothing of the
#               host's network is touched)
#   --rps MASK  (implies --netns) Receive Packet Steering on that
#               namespace's lo: rx-0/rps_cpus = MASK (hex, 1 = CPU 0).
#               On loopback the receiver's TCP otherwise runs inline in
#               the sender's send (loopback_xmit -> __netif_rx); with RPS
#               the packet is queued to the backlog of a CPU of MASK and
#               received there, as a remote client's kernel would on
#               its own machine.  With --pin and MASK 1 that is the
#               client's CPU (and also the server's incoming ACKs: one lo
#               serves both directions).
#   --raw       also print cheetah-bench's CSV header and row
#   --perf FILE `perf record -a -g` of both CPUs from 3 s before the
#               setData (cheetah-bench --storm-pause 3) for 5 s, into
#               FILE, timestamps CLOCK_MONOTONIC, and the fan-out's span
#               (ns): where the receive softirqs ran during it
#               (perf/softirq_cpus.py FILE FROM TO)
set -u
pin=0 ns= rps= raw=0 perfdata=
while [ $# -gt 0 ]; do
	case $1 in
	--pin) pin=1 ;;
	--raw) raw=1 ;;
	--perf)
		perfdata=$2
		shift
		;;
	--netns) ns=fanout$$ ;;
	--rps)
		ns=fanout$$
		rps=$2
		shift
		;;
	*) break ;;
	esac
	shift
done
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
srv_run=() cli_run=()
pid= bpid= made_ns=
cleanup() {
	[ -n "$bpid" ] && kill $bpid 2>/dev/null && wait $bpid 2>/dev/null
	[ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null
	[ -n "$made_ns" ] && ip netns del "$made_ns" # its lo and RPS mask go with it
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
if [ -n "$ns" ]; then
	ip netns add "$ns" || exit 1
	made_ns=$ns
	srv_run=(ip netns exec "$ns")
	cli_run=(ip netns exec "$ns")
	ip -n "$ns" link set lo up || exit 1
	if [ -n "$rps" ]; then
		ip netns exec "$ns" sh -c "echo $rps >/sys/class/net/lo/queues/rx-0/rps_cpus" || exit 1
		echo "  rps: lo rx-0 rps_cpus=$(ip netns exec "$ns" cat /sys/class/net/lo/queues/rx-0/rps_cpus) in netns $ns"
	fi
fi
if [ $pin = 1 ]; then
	srv_run+=(taskset -c 1)
	cli_run+=(taskset -c 0)
fi
"${srv_run[@]}" "$bin" "${sets[@]}" >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	"${cli_run[@]}" timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; echo ruok >&3; cat <&3" 2>/dev/null |
		grep -q imok && break
	sleep 0.1
done
pause=()
[ -n "$perfdata" ] && pause=(--storm-pause 3)
"${cli_run[@]}" "$bench" --hosts 127.0.0.1:$port --scenario watch-storm --sessions "$n" --watches 50 \
	--server-pid $pid --format csv --csv-header --no-progress "${pause[@]}" \
	>"$dir/bench.out" 2>"$dir/bench.err" &
bpid=$!
if [ -n "$perfdata" ]; then
	until grep -qs "firing in" "$dir/bench.err" || ! kill -0 $bpid 2>/dev/null; do
		sleep 0.05
	done
	perf record -q -a -g -F 4999 -k CLOCK_MONOTONIC -o "$perfdata" -- sleep 5 2>/dev/null
fi
wait $bpid
[ -n "$perfdata" ] && grep "fan-out from" "$dir/bench.err" | sed 's/^/  /'
bpid=
out=$(tail -2 "$dir/bench.out")
[ $raw = 1 ] && echo "$out"
echo "$out" | python3 -c '
import csv, sys
r = list(csv.DictReader(sys.stdin))
if not r:
    sys.exit("no result")
r = r[-1]
print(sys.argv[1], "n=%s" % r["sessions"], r["fanout_ms"], r["fanout_server_cpu_ms"],
      r["fanout_server_wait_ms"], r["fanout_client_cpu_ms"], r["fanout_client_wait_ms"],
      "setdata=" + r["fanout_setdata_ms"], "net_rx=" + r["fanout_net_rx_per_cpu"],
      "drops=" + r["fanout_backlog_drops_per_cpu"],
      "load=" + open("/proc/loadavg").read().split()[0])
' "$label" || tail -3 "$dir/bench.err"
# the namespace's own TCP counters, the whole run (connects, watches, fan-out)
[ -n "$ns" ] && ip netns exec "$ns" nstat -asz TcpRetransSegs TcpExtTCPLossProbes TcpExtTCPTimeouts |
	awk 'NR > 1 {printf "  %s=%s", $1, $2} END {print ""}'
kill $pid 2>/dev/null
wait $pid 2>/dev/null
pid=
grep -o "worker [0-9]*: watch events of .* in [0-9.]* ms;" "$dir/server.log" | sed 's/^/  /'
