#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Runs a libFuzzer target on a private copy of a checked-in seed corpus,
# so that the new inputs libFuzzer saves never land in the repository.
#   run_fuzz.sh FUZZER SEED_DIR [libFuzzer options...]
# The copy lives in a temporary directory under the current (build)
# directory; it is removed when the fuzzer passes and kept (and named)
# when it fails.  On a failure each crash, leak, timeout or oom
# reproducer is replayed once with the target's stderr open and printed
# whole as base64 with the command that replays it
# (tests/fuzz_report.sh), since a CI job's scratch files are gone with it.
# libFuzzer's default finding status 77 becomes 1 (meson reads 77 as
# "skipped").
set -u
fuzzer=$1
seeds=$2
shift 2
work=$(mktemp -d "${PWD}/fuzz-proto.XXXXXX") || exit 2
keep=0
cleanup() {
	if [ "$keep" -eq 0 ]; then
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir "$work/corpus" || exit 2
cp "$seeds"/* "$work/corpus/" 2>/dev/null || true
status=0
"$fuzzer" -artifact_prefix="$work/" "$@" "$work/corpus" || status=$?
if [ "$status" -eq 77 ]; then
	status=1
fi
if [ "$status" -ne 0 ]; then
	keep=1
	echo "run_fuzz.sh: $(basename "$fuzzer") failed (status $status); scratch kept in $work"
	"$(dirname "$0")/../fuzz_report.sh" "$fuzzer" "$work"/crash-* "$work"/leak-* \
		"$work"/timeout-* "$work"/oom-*
fi
exit "$status"
