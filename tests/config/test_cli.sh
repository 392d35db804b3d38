#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# The cheetah binary's command line: exit statuses, the file:line message
# of a bad configuration, the embedded default, --set, --version.
# Usage: test_cli.sh path/to/cheetah
set -u
cheetah=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d /tmp/cheetah-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
passed=0
failed=0

ok() {
	passed=$((passed + 1))
}

bad() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}

# run ARGS...: runs cheetah; sets $rc, $out, $err.
run() {
	"$cheetah" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}

expect_rc() {
	if [ "$rc" -eq "$1" ]; then ok; else bad "$2: exit $rc, expected $1; stderr: $err"; fi
}

expect_line() {
	# expect_line WHERE TEXT LINE: TEXT has LINE as one whole line.
	if printf '%s\n' "$2" | grep -qxF -- "$3"; then ok; else bad "$1: no line '$3' in: $2"; fi
}

# No arguments: the embedded default is valid and printed.
run --check-config
expect_rc 0 "--check-config"
expect_line "default" "$out" "clientPortAddress=127.0.0.1"
expect_line "default" "$out" "clientPort=2181"
expect_line "default" "$out" "dataDir=./data"
expect_line "default" "$out" "tickTime=2000"

# The dpdk backend without EAL arguments: exit 1 with one line saying
# so, before the data directory is touched.  (Serving itself is
# tests/integration/test_dpdk_veth.py's.)
cd "$tmp" || exit 1
run --set cheetah.dataplane=dpdk --set cheetah.port.ip=10.0.0.2
expect_rc 1 "dpdk backend"
case $err in
*"cheetah.dataplane=dpdk needs cheetah.dpdk.eal"*) ok ;;
*) bad "dpdk backend: stderr does not say cheetah.dpdk.eal is missing: $err" ;;
esac
if [ -e "$tmp/data" ]; then bad "dpdk backend: ./data was created"; else ok; fi
cd - >/dev/null || exit 1

# A bad file: its path, the line and the reason; exit 2.
cd "$tmp" || exit 1
printf 'dataDir=/d\nclientPort=2181\n# comment\n\ntickTime=abc\n' >zoo.cfg
run --config zoo.cfg --check-config
expect_rc 2 "bad tickTime"
expect_line "bad tickTime" "$err" 'zoo.cfg:5: tickTime must be a positive integer, got "abc"'

# Same with a full path.
run --config "$tmp/zoo.cfg" --check-config
expect_rc 2 "bad tickTime, full path"
expect_line "bad tickTime, full path" "$err" "$tmp/zoo.cfg:5: tickTime must be a positive integer, got \"abc\""

# A missing file.
run --config "$tmp/none.cfg" --check-config
expect_rc 2 "missing file"
expect_line "missing file" "$err" "$tmp/none.cfg: cannot read: No such file or directory"

# A cross-key error without a line.
printf 'clientPort=2181\n' >nodata.cfg
run --config nodata.cfg --check-config
expect_rc 2 "no dataDir"
expect_line "no dataDir" "$err" "nodata.cfg: dataDir is not set"

# --set after the file, and its own error wording.
printf 'dataDir=/d\nclientPort=2181\nobserverMasterPort=2281\n' >good.cfg
run --config good.cfg --set tickTime=500 --set cheetah.log.level=error --check-config
expect_rc 0 "--set"
expect_line "--set" "$out" "tickTime=500"
expect_line "--set" "$out" "minSessionTimeout=1000"
expect_line "--set" "$out" "clientPortAddress=0.0.0.0"
expect_line "--set" "$out" "observerMasterPort=2281"
case $err in
*WARN*) bad "cheetah.log.level=error still shows warnings: $err" ;;
*) ok ;;
esac
run --config good.cfg --check-config
case $err in
*"WARN good.cfg:3: observerMasterPort: observers syncing from followers (observer master) are not supported by Cheetah; ignored"*) ok ;;
*) bad "warning not logged: $err" ;;
esac
run --set tickTime=abc --check-config
expect_rc 2 "--set bad"
expect_line "--set bad" "$err" '--set: tickTime must be a positive integer, got "abc"'
run --set tickTime --check-config
expect_rc 2 "--set without ="
expect_line "--set without =" "$err" '--set: expected key=value, got "tickTime"'

# The printed settings are themselves a valid configuration.
run --config good.cfg --check-config
printf '%s\n' "$out" >printed.cfg
run --config printed.cfg --check-config
expect_rc 0 "printed output reloads"
first=$(cat printed.cfg)
if [ "$out" = "$first" ]; then ok; else bad "printing the printed configuration differs"; fi

# Usage errors.
run --bogus
expect_rc 2 "unknown option"
run --config
expect_rc 2 "--config without a file"
run extra-arg
expect_rc 2 "stray argument"

# --version and --help.
run --version
expect_rc 0 "--version"
case $out in
"cheetah "*DPDK*) ok ;;
*) bad "--version: $out" ;;
esac
run --help
expect_rc 0 "--help"
case $out in
*"--check-config"*) ok ;;
*) bad "--help: $out" ;;
esac

# import / export: usage errors exit 2, refused inputs 1 with the path.
case $out in
*"cheetah import"*"cheetah export"*) ok ;;
*) bad "--help lacks import/export: $out" ;;
esac
run import
expect_rc 2 "import without a directory"
run import a b c
expect_rc 2 "import with three directories"
run import --bogus "$tmp"
expect_rc 2 "import with an unknown option"
run export "$tmp"
expect_rc 2 "export without OUT_DIR"
mkdir -p "$tmp/zk/version-2"
run import --to "$tmp/target" "$tmp/zk"
expect_rc 1 "import of a directory without a snapshot"
case $err in
*"$tmp/zk/version-2: no complete ZooKeeper snapshot"*) ok ;;
*) bad "import without a snapshot: $err" ;;
esac
printf 'ZKSNxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\000\000\000\001/' \
	>"$tmp/zk/version-2/snapshot.5"
run import --to "$tmp/target" "$tmp/zk"
expect_rc 1 "import of a damaged snapshot"
case $err in
*"$tmp/zk/version-2/snapshot.5: offset 4: "*"version"*) ok ;;
*) bad "import of a damaged snapshot: $err" ;;
esac
run export "$tmp/nothing" "$tmp/out"
expect_rc 1 "export of a directory without Cheetah data"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
