#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The project's one version (VERSION) everywhere it is reported: CHANGES's newest entry, the
# Debian packages' (debian/changelog), <qaic/version.h>, libqaic's file name and SONAME, pkg-config, each tool's --version and the
# driver's DRM_IOCTL_VERSION (through qaic-client info). Prints KTAP.
#   version.sh BUILD_DIR
set -u
build=$(cd "${1:?usage: version.sh BUILD_DIR}" && pwd) || exit 1
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=../lib/ktap.sh
source "$src/scripts/lib/ktap.sh"
version=$(sed -n 1p "$src/VERSION")
date=$(sed -n 2p "$src/VERSION")
major=${version%%.*}

well_formed() {
    "$src/scripts/gen-version-header.sh" "$src/VERSION" >/dev/null
}
changes_has_it_first() {
    local first
    first=$(grep -m1 -E '^[0-9]+\.[0-9]+\.[0-9]+ \(' "$src/CHANGES")
    [[ $first == "$version ($date)" ]] || { echo "CHANGES begins with '$first'"; return 1; }
}
debian_changelog_has_it() {
    local first
    first=$(head -n 1 "$src/debian/changelog")
    [[ $first == "qaic ($version) "* ]] || { echo "debian/changelog begins with '$first'"; return 1; }
}
header_has_it() {
    grep -qx "#define QAIC_VERSION \"$version\"" "$build/include/qaic/version.h" &&
        grep -qx "#define QAIC_VERSION_DATE \"${date//-/}\"" "$build/include/qaic/version.h"
}
library_is_named_by_it() {
    [[ -f $build/lib/libqaic.so.$version ]] || { echo "no libqaic.so.$version"; return 1; }
    readelf -d "$build/lib/libqaic.so.$version" | grep -q "SONAME.*\[libqaic.so.$major\]"
}
pkg_config_reports_it() {
    [[ $(PKG_CONFIG_PATH=$build/lib/pkgconfig pkg-config --modversion qaic) == "$version" ]]
}
tool_reports_it() {
    local out
    out=$("$build/bin/$1" --version) || return 1
    [[ $out == "$1 $version" ]] || { echo "$1 --version: '$out'"; return 1; }
}
driver_reports_it() {
    QAIC_DEVICE=sim "$build/bin/qaic-client" info | grep -qx "driver: *qaic $version (${date//-/})"
}

tools=(qaic-client qaic-bench qaic-run qaicd)
echo "TAP version 13"
echo "1..$((7 + ${#tools[@]}))"
check version_file_is_well_formed well_formed
check changes_begins_with_it changes_has_it_first
check debian_changelog_begins_with_it debian_changelog_has_it
check version_header_has_it header_has_it
check library_file_and_soname library_is_named_by_it
check pkg_config_modversion pkg_config_reports_it
for t in "${tools[@]}"; do
    if [[ -x $build/bin/$t ]]; then
        check "${t}_version" tool_reports_it "$t"
    else
        skip "${t}_version" "not built"
    fi
done
check driver_version_ioctl driver_reports_it
totals
