#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The Makefile's source lists against the tree: every .cc file under the source folders must
# be named by a list (one that is not would silently stay out of the build), and every listed
# file must exist. Prints each offender and fails; silent when the lists and the tree agree.
#   check-sources.sh SRC "FOLDER..." LISTED_FILE...   (paths relative to SRC)
set -euo pipefail
src=$1
folders=$2
shift 2

listed=$(printf '%s\n' "$@" | LC_ALL=C sort -u)
# shellcheck disable=SC2086 # the folders are words
found=$(cd "$src" && find $folders -name '*.cc' -type f | LC_ALL=C sort -u)

unlisted=$(LC_ALL=C comm -13 <(echo "$listed") <(echo "$found"))
missing=$(LC_ALL=C comm -23 <(echo "$listed") <(echo "$found"))
if [[ -z $unlisted && -z $missing ]]; then
    exit 0
fi
if [[ -n $unlisted ]]; then
    echo "check-sources: these files are in no source list of the Makefile (add each to its" >&2
    echo "folder's srcs-... list, or remove it):" >&2
    sed 's/^/  /' <<<"$unlisted" >&2
fi
if [[ -n $missing ]]; then
    echo "check-sources: the Makefile's source lists name files that do not exist:" >&2
    sed 's/^/  /' <<<"$missing" >&2
fi
exit 1
