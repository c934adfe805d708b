#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The manual pages of the build (make man): one for each tool (made from its --help) and
# libqaic(3) (from docs/libqaic.3.md), each rendering without a groff warning, headed with the
# project's version, and each tool's naming every option its --help names. Prints KTAP.
#   man.sh BUILD_DIR
set -u
build=$(cd "${1:?usage: man.sh BUILD_DIR}" && pwd) || exit 1
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=../lib/ktap.sh
source "$src/scripts/lib/ktap.sh"
version=$(sed -n 1p "$src/VERSION")

# page_is_sound PAGE: renders cleanly (-ww: every warning) and carries the version.
page_is_sound() {
    [[ -f $1 ]] || { echo "$1 missing"; return 1; }
    local warnings
    warnings=$(groff -man -Tutf8 -ww -z "$1" 2>&1)
    [[ -z $warnings ]] || { echo "$warnings"; return 1; }
    grep -q "^\.TH .*$version" "$1" || { echo "no version $version in: $(grep '^\.TH' "$1")"; return 1; }
}
# tool_page TOOL SECTION: the page is sound and names each --option of the tool's --help.
tool_page() {
    local page=$build/man/man$2/$1.$2 opt missing=()
    page_is_sound "$page" || return 1
    MANWIDTH=200 man -l "$page" 2>/dev/null | col -b >"$tmp/$1.txt"
    for opt in $("$build/bin/$1" --help | grep -oE -- '--[a-z][a-z0-9_-]+' | sort -u); do
        grep -qF -- "$opt" "$tmp/$1.txt" || missing+=("$opt")
    done
    [[ ${#missing[@]} -eq 0 ]] || { echo "$page lacks ${missing[*]}"; return 1; }
}

tools=(qaic-client:1 qaic-bench:1 qaic-run:1 qaicd:8)
echo "TAP version 13"
echo "1..$((1 + ${#tools[@]}))"
for t in "${tools[@]}"; do
    name=${t%:*} section=${t#*:}
    if [[ -x $build/bin/$name ]]; then
        check "${name}.$section" tool_page "$name" "$section"
    else
        skip "${name}.$section" "not built"
    fi
done
check libqaic.3 page_is_sound "$build/man/man3/libqaic.3"
totals
