#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Runs one libFuzzer target for a bounded time without writing into the
# source tree (meson's suite 'fuzz' calls it; any module's target can):
#
#   run_fuzz.sh FUZZER_BINARY SEED_CORPUS_DIR SECONDS
#
# The seeds are copied to a scratch corpus under $TMPDIR (default /tmp), so
# the inputs the fuzzer adds never land in the repository.  Crash, leak
# and timeout reproducers go to an artifacts directory there too; it is
# kept (and named on stderr) when the fuzzer fails, removed when it passes;
# each reproducer is then replayed and printed (tests/fuzz_report.sh).
# The target's own stderr is closed (-close_fd_mask=2: Cheetah logs every
# rejected input); libFuzzer's and the sanitizers' reports still print,
# and the replay of a reproducer shows the target's stderr too.
# Extra libFuzzer flags may be given in $FUZZ_ARGS (e.g. "-close_fd_mask=0"
# to see the logs, "-jobs=2").  Exits with the fuzzer's status, findings
# as 1 (libFuzzer's default 77 would read as "skipped" to meson).
set -u

if [ $# -ne 3 ]; then
	echo "usage: $0 FUZZER_BINARY SEED_CORPUS_DIR SECONDS" >&2
	exit 2
fi
bin=$1
seeds=$2
secs=$3

case $secs in
'' | *[!0-9]*)
	echo "$0: SECONDS must be a whole number, not '$secs'" >&2
	exit 2
	;;
esac
if [ ! -x "$bin" ]; then
	echo "$0: $bin is not an executable" >&2
	exit 2
fi
if [ ! -d "$seeds" ]; then
	echo "$0: seed corpus $seeds is not a directory" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cheetah-fuzz.XXXXXX") || exit 2
keep=0
cleanup() {
	if [ "$keep" -eq 0 ]; then
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir "$work/corpus" "$work/artifacts" || exit 2
# Copy the seeds (plain files only; an empty corpus is allowed).
find "$seeds" -maxdepth 1 -type f -exec cp {} "$work/corpus/" \;

echo "$0: $(basename "$bin") for ${secs}s, $(ls "$work/corpus" | wc -l) seeds, scratch $work"
# shellcheck disable=SC2086
"$bin" -max_total_time="$secs" -rss_limit_mb=2048 -close_fd_mask=2 -error_exitcode=1 \
	-timeout_exitcode=1 -artifact_prefix="$work/artifacts/" ${FUZZ_ARGS:-} "$work/corpus"
status=$?
# meson reads 77 as "skipped": a finding must never look like one.
if [ "$status" -eq 77 ]; then
	status=1
fi

if [ "$status" -ne 0 ]; then
	keep=1
	echo "$0: $(basename "$bin") failed (status $status); reproducers kept in $work/artifacts:" >&2
	ls -l "$work/artifacts" >&2
	# Replayed with stderr open, printed whole as base64 with the replay
	# command: a CI job's scratch directory is gone with the job.
	"$(dirname "$0")/../fuzz_report.sh" "$bin" "$work"/artifacts/*
fi
exit "$status"
