#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# One entry point for people and CI (see README.md):
#   ./build.sh run    install missing Debian packages, build, run cheetah
#   ./build.sh run3   the same, a 3-server ensemble on 127.0.0.1 (./ensemble)
#   ./build.sh test   install missing Debian packages, build, run every test
#   ./build.sh build  install missing Debian packages, build only
set -eu
cd "$(dirname "$0")"

# Everything the build and the tests use, all from Debian 12.
PKGS="meson ninja-build pkg-config gcc clang libclang-rt-14-dev libc6-dev
libdpdk-dev liburcu-dev libjemalloc-dev libcriterion-dev zlib1g-dev
python3 python3-kazoo zookeeper zookeeper-bin libzookeeper-mt-dev
libzookeeper-java default-jdk-headless procps gnuplot-nox e2fsprogs mount
iproute2 nftables iputils-ping ethtool systemd groff-base man-db
libmicrohttpd-dev libjansson-dev prometheus libsasl2-dev libsasl2-modules libkrb5-dev
krb5-kdc krb5-admin-server krb5-user libsasl2-modules-gssapi-mit
python3-kerberos python3-pure-sasl libssl-dev openssl"

install_deps() {
	missing=""
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "build.sh: installing Debian packages:$missing"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
}

# setup DIR [meson options...]: configure once, then reuse.
setup() {
	dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@"
	fi
}

build() {
	setup build
	ninja -C build
}

case "${1:-}" in
run)
	install_deps
	build
	mkdir -p data
	# The embedded default: standalone, kernel sockets, 127.0.0.1:2181,
	# data in ./data.  Ctrl-C (SIGINT) or SIGTERM stops it cleanly.
	exec ./build/cheetah
	;;
run3)
	install_deps
	build
	# A 3-server ensemble on this machine: clients on 127.0.0.1:2181-2183,
	# quorum ports 2888-2890, election ports 3888-3890, each server's
	# zoo.cfg, myid and data in ./ensemble/rN.  Ctrl-C stops all three.
	pids=""
	for i in 1 2 3; do
		d=ensemble/r$i
		mkdir -p "$d/data"
		echo "$i" >"$d/data/myid"
		{
			echo "tickTime=2000"
			echo "initLimit=10"
			echo "syncLimit=5"
			echo "dataDir=$PWD/$d/data"
			echo "clientPort=$((2180 + i))"
			echo "clientPortAddress=127.0.0.1"
			echo "4lw.commands.whitelist=srvr,stat,mntr,ruok"
			for j in 1 2 3; do
				echo "server.$j=127.0.0.1:$((2887 + j)):$((3887 + j))"
			done
		} >"$d/zoo.cfg"
		./build/cheetah --config "$d/zoo.cfg" 2>"$d/cheetah.log" &
		pids="$pids $!"
	done
	trap 'kill $pids 2>/dev/null; wait' INT TERM
	echo "ensemble: 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183 (logs in ensemble/r*/cheetah.log; Ctrl-C stops)"
	wait
	;;
test)
	install_deps
	exec tests/run-all.sh
	;;
build)
	install_deps
	build
	;;
*)
	echo "usage: $0 run|run3|test|build" >&2
	exit 2
	;;
esac
