#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs the test binaries and the script tests, each printing KTAP, and ends with the line
# "N passed, M failed[, K skipped]" counting individual test cases. A binary that dies
# without its "# Totals" line counts as one failure more than it reported.
#   run-tests.sh BUILD_DIR TEST_BINARY...
set -u
out=$1
shift
src=$(cd "$(dirname "$0")/.." && pwd)

pass=0 fail=0 skip=0
run() {
    local name=$1
    shift
    local log
    log=$(mktemp)
    echo "# ---- $name"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local totals
    totals=$(grep -E '^# Totals: ' "$log" | tail -n 1)
    if [[ -z "$totals" ]]; then
        echo "# $name: exited $rc without a Totals line"
        fail=$((fail + 1))
    else
        local p f s
        p=$(sed -E 's/.* pass:([0-9]+).*/\1/' <<<"$totals")
        f=$(sed -E 's/.* fail:([0-9]+).*/\1/' <<<"$totals")
        s=$(sed -E 's/.* skip:([0-9]+).*/\1/' <<<"$totals")
        pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
        if [[ $rc -ne 0 && $f -eq 0 ]]; then
            echo "# $name: exited $rc although no case failed"
            fail=$((fail + 1))
        fi
    fi
    rm -f "$log"
}

# The uAPI selftests once more, against a qaicd of our own: the same suite on the daemon host
# (the client's memory read across processes, BOs mapped from the daemon's memfds). The
# daemon must then stop cleanly on SIGTERM: exit 0, and no sanitizer report at its exit.
#   run_on_qaicd SELFTEST [QAICD_OPTION...]
run_on_qaicd() {
    local selftest=$1 qaicd=$out/bin/qaicd
    shift
    local dir
    dir=$(mktemp -d)
    "$qaicd" --dir "$dir" --test-control "$@" 2>"$dir/qaicd.log" &
    local pid=$!
    for _ in $(seq 200); do
        [[ -S $dir/accel0 ]] && break
        sleep 0.05
    done
    QAIC_DEVICE=$dir/accel0 run "$(basename "$selftest") on qaicd $*" "$selftest"
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "# qaicd exited $rc after SIGTERM; its log:"
        sed 's/^/#   /' "$dir/qaicd.log"
        fail=$((fail + 1))
    fi
    rm -rf "$dir"
}

for t in "$@"; do
    run "$(basename "$t")" "$t"
    if [[ $(basename "$t") == qaic_selftest && -x $out/bin/qaicd ]]; then
        run_on_qaicd "$t"
        # Calls as socket messages only: the path of a channel that has no slot.
        run_on_qaicd "$t" --socket-calls
    fi
done
for t in "$src"/scripts/tests/*.sh; do
    [[ -e "$t" ]] || continue
    run "$(basename "$t")" bash "$t" "$out"
done

echo
if [[ $skip -gt 0 ]]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[[ $fail -eq 0 ]]
