#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# make deb: the Debian packages (debian/: libqaic1, libqaic-dev, qaic-tools, qaicd), built by
# dpkg-buildpackage from a copy of the checked-out tree (tracked and new files, not builds)
# in OUT/qaic-VERSION, then checked by lintian (an error or a warning fails; the overrides in
# debian/ say why each remaining tag stays). The .debs end up in OUT.
#   deb.sh OUT
set -euo pipefail
out=$1
src=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 1p "$src/VERSION")
stage=$out/qaic-$version
rm -rf "$out" && mkdir -p "$stage"
(cd "$src" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$stage"
echo "  DEB       $out (log: $out/build.log)"
if ! (cd "$stage" && dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log"
    exit 1
fi
rm -rf "$stage"
echo "  LINTIAN   $out/*.changes"
lintian --fail-on error,warning --info "$out"/qaic_"$version"_*.changes
ls "$out"/*.deb
