#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# libqaic.so's ABI: its SONAME and links, and exactly the calls documented in docs/uapi.md
# ("libqaic's ABI"), each exported in the version node the table and the version script
# (userspace/lib/libqaic.map) give it: a new export without both, or a documented call gone,
# fails. A client records the SONAME. Prints KTAP.
#   libqaic_abi.sh BUILD_DIR
set -u
build=$(cd "${1:?usage: libqaic_abi.sh BUILD_DIR}" && pwd) || exit 1
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# shellcheck source=../lib/ktap.sh
source "$src/scripts/lib/ktap.sh"

lib=$build/lib/libqaic.so
echo "TAP version 13"
echo "1..4"
# A failed case with its reason as a diagnostic line.
fails() {
    not_ok "$1"
    echo "# $2"
}

soname=$(readelf -d "$lib" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [[ $soname == libqaic.so.1 && $(readlink "$lib") == libqaic.so.1 &&
      $(readlink "$build/lib/libqaic.so.1") == libqaic.so.1.* && -f $build/lib/$(readlink "$build/lib/libqaic.so.1") ]]; then
    ok soname
else
    fails soname "SONAME '$soname', links $(readlink "$lib") -> $(readlink "$build/lib/libqaic.so.1")"
fi

# name@@NODE for every defined dynamic symbol but the nodes themselves (type A).
exported=$(nm -D --defined-only --with-symbol-versions "$lib" | awk '$2 != "A" {print $3}' | sort)
# The table's rows: | `name` | `NODE` | ...
documented=$(sed -n '/^### libqaic.s ABI/,/^## /p' "$src/docs/uapi.md" |
    sed -n 's/^| `\([a-z_0-9]*\)` | `\([A-Z_0-9.]*\)` |.*/\1@@\2/p' | sort)
# The version script: each node's global names.
scripted=$(sed 's,/\*.*\*/,,; s,/\*.*,,' "$src/userspace/lib/libqaic.map" | tr -s ' \t\n' ' ' |
    grep -oE '[A-Z_0-9.]+ \{ global: [^}]*\}' |
    awk '{node=$1; for (i = 4; i <= NF; ++i) { s=$i; gsub(/;|\}/, "", s); if (s != "" && s != "local:" && s != "*") print s "@@" node }}' |
    sort)
if [[ -n $exported && $exported == "$documented" ]]; then
    ok exports_are_documented
else
    fails exports_are_documented "exported but not in docs/uapi.md: $(comm -23 <(echo "$exported") <(echo "$documented") | tr '\n' ' ')
documented but not exported so: $(comm -13 <(echo "$exported") <(echo "$documented") | tr '\n' ' ')"
fi
if [[ -n $scripted && $scripted == "$documented" ]]; then
    ok version_script_matches_docs
else
    fails version_script_matches_docs "version script: $(echo $scripted); docs: $(echo $documented)"
fi

needed=$(readelf -d "$build/bin/qaic-client" 2>/dev/null | grep -c 'NEEDED.*\[libqaic.so.1\]')
if [[ $needed == 1 ]]; then
    ok client_needs_the_soname
else
    fails client_needs_the_soname "qaic-client does not record libqaic.so.1"
fi
totals
