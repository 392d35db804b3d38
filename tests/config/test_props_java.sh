#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Differential test of Cheetah's Properties reader against the JDK's own
# java.util.Properties (the code ZooKeeper runs): random files from
# props_oracle are read by both and must give the same trimmed keys and
# values.  Needs java (Debian's default-jdk-headless, which build.sh
# installs).
# Usage: test_props_java.sh path/to/props_oracle path/to/PropsDump.java [COUNT]
set -u
oracle=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
dumper=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
count=${3:-3000}

if ! command -v java >/dev/null 2>&1; then
	echo "java not found: install Debian's default-jdk-headless (build.sh does)" >&2
	exit 1
fi
tmp=$(mktemp -d /tmp/cheetah-props-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/cases"

"$oracle" gen "$tmp/cases" "$count" 2026 || exit 1
cd "$tmp" || exit 1
java "$dumper" cases/* >java.out || { echo "PropsDump.java failed" >&2; exit 1; }
"$oracle" dump cases/* >cheetah.out || exit 1

# Compare file by file, skipping those where two keys trim to one.
awk '
FNR == 1 { which++ }
/^== / { name = $2; next }
which == 1 { java[name] = java[name] $0 "\n"; next }
{ ours[name] = ours[name] $0 "\n" }
END {
	for (name in java) {
		if (java[name] == "COLLIDE\n")
			continue;
		if (java[name] == ours[name]) {
			passed++
		} else {
			failed++
			if (failed <= 5)
				printf "DIFF %s\n--- java\n%s--- cheetah\n%s", name, java[name], ours[name]
		}
	}
	printf "%d passed, %d failed\n", passed, failed
	exit failed > 0
}' java.out cheetah.out
