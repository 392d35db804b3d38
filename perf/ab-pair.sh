#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# One A/B data point of docs/BENCHMARKS.md "Changes that mattered":
#   perf/ab-pair.sh LABEL CHEETAH-BINARY READ-PCT [BENCH-BINARY]
# starts the given server pinned to CPU 1 on a fresh port and data dir,
# runs cheetah-bench pinned to CPU 0 for 8 s (1 s warm-up), stops the
# server and prints: LABEL r=PCT ops_s p99_us server_cpu_us_per_op load=1-min.
# Alternate two binaries (A B A B ...) so that both see the same machine.
set -u
label=$1 bin=$2 pct=$3
bench=${4:-$(dirname "$0")/../build/perf/cheetah-bench}
port=$((20000 + RANDOM % 20000))
dir=$(mktemp -d /tmp/ab-pair.XXXXXX)
taskset -c 1 "$bin" --set clientPort=$port --set dataDir="$dir" --set maxClientCnxns=0 \
	>/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
	# bash's /dev/tcp: nc is not installed everywhere
	timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; echo ruok >&3; cat <&3" 2>/dev/null |
		grep -q imok && break
	sleep 0.1
done
out=$(taskset -c 0 "$bench" --hosts 127.0.0.1:$port --duration 8 --warmup 1 --read-pct "$pct" \
	--server-pid $pid --format csv 2>/dev/null | tail -1)
echo "$label r=$pct $(echo "$out" | awk -F, '{print $10, $16, $23}') load=$(cut -d' ' -f1 /proc/loadavg)"
