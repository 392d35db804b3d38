#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# meson install script: install-config.sh SOURCE TARGET
# Copies the default zoo.cfg to TARGET (an absolute path, under $DESTDIR
# when set) only when no file is there, so that `meson install` over an
# existing installation keeps the operator's edited configuration.
# meson's install_data always replaces its files (--only-changed compares
# modification times only), hence this script.
set -eu
src=$1
dst=${DESTDIR:-}$2
if [ -e "$dst" ] || [ -L "$dst" ]; then
	[ -n "${MESON_INSTALL_QUIET:-}" ] || echo "Keeping $dst (exists)"
	exit 0
fi
[ -n "${MESON_INSTALL_QUIET:-}" ] || echo "Installing $src to $dst"
[ -n "${MESON_INSTALL_DRY_RUN:-}" ] && exit 0
mkdir -p "$(dirname "$dst")"
cp "$src" "$dst.tmp.$$"
chmod 0644 "$dst.tmp.$$"
mv "$dst.tmp.$$" "$dst"
