#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Runs a libFuzzer target on a private copy of a checked-in seed corpus,
# so that the new inputs libFuzzer saves never land in the repository.
#   run_fuzz.sh FUZZER SEED_DIR [libFuzzer options...]
# The copy lives in a temporary directory under the current (build)
# directory and is removed afterwards; crash reproducers are written
# there too and printed on failure.
set -eu
fuzzer=$1
seeds=$2
shift 2
work=$(mktemp -d "${PWD}/fuzz-proto.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/corpus"
cp "$seeds"/* "$work/corpus/" 2>/dev/null || true
status=0
"$fuzzer" -artifact_prefix="$work/" "$@" "$work/corpus" || status=$?
if [ "$status" -ne 0 ]; then
	for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
		[ -e "$f" ] || continue
		echo "run_fuzz.sh: reproducer $f:"
		od -A x -t x1z "$f" | head -40
	done
fi
exit "$status"
