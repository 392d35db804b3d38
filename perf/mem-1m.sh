#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The memory phase of perf/compare, Cheetah only, alone (issue 13 part 2):
#   perf/mem-1m.sh [CHEETAH-BINARY [ZNODES [BENCH-BINARY]]]
# starts the server on a fresh port and data dir with perf/compare's
# settings (tickTime=2000, forceSync=yes, maxClientCnxns=0), reads VmRSS
# 1.5 s after start, populates ZNODES (default 1000000) znodes of 100 bytes
# under /cheetah-mem as perf/compare does, reads VmRSS again and prints:
#   rss_kb_empty rss_kb_populated bytes_per_znode_over_empty
# then stops the server with SIGTERM.  With MEM_STATS=1, gdb makes the
# populated server call jemalloc's malloc_stats_print (allocated, active,
# metadata, resident, the per-size-class table: curregs is the live
# objects per class) and the output goes to mem-1m-stats.txt in the
# current directory.
# Compare against ZooKeeper with perf/compare --kinds zookeeper,cheetah
# --no-sweep --storm-sessions 0 (the same populate).
set -u
bin=${1:-$(dirname "$0")/../build/cheetah}
znodes=${2:-1000000}
bench=${3:-$(dirname "$0")/../build/perf/cheetah-bench}
port=$((20000 + RANDOM % 20000))
dir=$(mktemp -d /tmp/mem-1m.XXXXXX)
"$bin" --set tickTime=2000 --set clientPort=$port \
	--set clientPortAddress=127.0.0.1 --set dataDir="$dir" --set maxClientCnxns=0 \
	--set forceSync=yes >/dev/null 2>"$dir/stderr" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
	# bash's /dev/tcp: nc is not installed everywhere
	timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; echo ruok >&3; cat <&3" 2>/dev/null |
		grep -q imok && break
	sleep 0.1
done
sleep 1.5
rss() { awk '/^VmRSS:/ {print $2}' /proc/$pid/status; }
before=$(rss)
"$bench" --hosts 127.0.0.1:$port --root /cheetah-mem --server-pid $pid --scenario populate \
	--threads 1 --sessions 16 --outstanding 32 --znodes "$znodes" --data-size 100 \
	--format csv >/dev/null || { echo "populate failed" >&2; exit 1; }
after=$(rss)
echo "$before $after $(( (after - before) * 1024 / znodes ))"
if [ "${MEM_STATS:-0}" = 1 ]; then
	gdb -p $pid -batch -ex 'call (void)malloc_stats_print(0, 0, "")' >/dev/null 2>&1
	cp "$dir/stderr" mem-1m-stats.txt
fi
kill -TERM $pid
wait $pid 2>/dev/null
exit 0
