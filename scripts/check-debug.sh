#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The driver's tests in a CONFIG_QAIC_DEBUG build: every debug category on from the start
# and the QAIC_CHECK invariants compiled in. Passes when every case passes and no invariant
# broke (each violation logs "invariant ... broken"), on the embedded card.
#   check-debug.sh BUILD_DIR
set -u
out=${1:?usage: check-debug.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
mk=(make --no-print-directory -f "$src/Makefile" "O=$out")

mkdir -p "$out"
[[ -f $out/.config ]] || "${mk[@]}" defconfig >/dev/null || exit 1
if ! grep -qx "CONFIG_QAIC_DEBUG=y" "$out/.config"; then
    sed -i -e '/CONFIG_QAIC_DEBUG[ =]/d' "$out/.config"
    echo "CONFIG_QAIC_DEBUG=y" >>"$out/.config"
fi
"${mk[@]}" -j2 tests || exit 1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
for t in drivers_accel_qaic_test qaic_selftest; do
    echo "# ---- $t (CONFIG_QAIC_DEBUG)"
    QAIC_DEVICE=sim "$out/tests/$t" >"$log" 2>&1 || rc=1
    grep -E '^(not ok|# Totals)' "$log"
    grep -q '^# Totals: ' "$log" || { echo "# $t ended without its Totals line"; rc=1; }
    if grep -q "invariant .* broken" "$log"; then
        grep "invariant .* broken" "$log" | sort | uniq -c
        rc=1
    fi
done
[[ $rc -eq 0 ]] && echo "# CONFIG_QAIC_DEBUG: every case passed, no invariant broke"
exit $rc
