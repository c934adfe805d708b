#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Each known defect of fuzz/regressions/ still puts itself back into the tree as it is
# (patch --dry-run): a change to the code a patch touches must bring the patch along, or
# `make fuzz-regressions` (CI's last step) fails, an hour later. Prints KTAP.
#   fuzz_regressions_apply.sh BUILD_DIR (unused)
set -u
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# shellcheck source=../lib/ktap.sh
source "$src/scripts/lib/ktap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

patches=("$src"/fuzz/regressions/*.patch)
echo "TAP version 13"
echo "1..${#patches[@]}"
for p in "${patches[@]}"; do
    check "$(basename "$p" .patch)" patch --dry-run -s -p1 -d "$src" -i "$p"
done
totals
