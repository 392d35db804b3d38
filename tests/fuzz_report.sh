#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Describes the reproducers a failed libFuzzer run left, so that a CI log
# alone is enough to replay the failure (the runners' scratch directories
# do not outlive the CI job):
#
#   fuzz_report.sh FUZZER_BINARY ARTIFACT...
#
# For each artifact (at most 4): its size and sha256; one replay of it
# with the target's stderr open (a run with -close_fd_mask=2 hides the
# target's own diagnosis), its output cut to the first 200 lines, and
# whether it failed again; the whole file as base64 (up to 64 KiB, said
# when cut); and the commands that rebuild the file and replay it.
# The base64 and the commands sit between "---- reproducer" and
# "---- end of reproducer" lines, which tests/failed-tails.py prints
# whole.  Called by tests/proto/run_fuzz.sh and tests/tree/run_fuzz.sh.
set -u

MAX_BYTES=65536
MAX_REPORTS=4

if [ $# -lt 1 ]; then
	echo "usage: $0 FUZZER_BINARY ARTIFACT..." >&2
	exit 2
fi
bin=$1
shift
n=0
for f in "$@"; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	if [ "$n" -gt "$MAX_REPORTS" ]; then
		echo "fuzz_report: more reproducers than $MAX_REPORTS; not shown: $f"
		continue
	fi
	name=$(basename "$f")
	size=$(wc -c <"$f" | tr -d ' ')
	sum=$(sha256sum "$f" | cut -d' ' -f1)
	echo "fuzz_report: reproducer $name: $size bytes, sha256 $sum"
	echo "fuzz_report: replaying it once with the target's stderr open:"
	# A file argument runs just that input; bounded in time and output.
	out=$(mktemp) || exit 2
	timeout 120 "$bin" -timeout=60 -rss_limit_mb=2048 "$f" >"$out" 2>&1
	rc=$?
	head -n 200 "$out" | sed 's/^/  | /'
	lines=$(wc -l <"$out" | tr -d ' ')
	[ "$lines" -gt 200 ] && echo "  | ... ($lines lines, first 200 shown)"
	rm -f "$out"
	if [ "$rc" -eq 0 ]; then
		echo "fuzz_report: the replay PASSED (status 0): the failure did not reproduce alone"
	else
		echo "fuzz_report: the replay failed again (status $rc)"
	fi
	echo "---- reproducer $name ($size bytes) as base64:"
	if [ "$size" -gt "$MAX_BYTES" ]; then
		echo "---- CUT: only the first $MAX_BYTES of $size bytes follow"
	fi
	head -c "$MAX_BYTES" "$f" | base64 -w 1000
	echo "---- to replay: save the base64 lines above in repro.b64, then"
	echo "----   base64 -d repro.b64 >repro && $bin repro"
	echo "---- end of reproducer $name"
done
exit 0
