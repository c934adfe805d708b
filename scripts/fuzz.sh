#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs each libFuzzer target for a bounded time from its seed corpus (fuzz/corpus/NAME, and
# fuzz/NAME.dict if there is one), the corpus it grows kept in BUILD_DIR/fuzz-corpus/NAME, a
# crash's input in BUILD_DIR/fuzz-artifacts/ (a uapi finding's 64 inputs before it in
# BUILD_DIR/fuzz-artifacts/uapi-history/). Prints per target its executions, exec/s and
# coverage (edges), and fails if any target found something.
#   fuzz.sh BUILD_DIR SECONDS TARGET...
# Each target runs on one CPU, its card's threads included (fuzz_cpu, scripts/fuzz-lib.sh),
# with the flags of fuzz/NAME.options added.
set -u
out=$1 seconds=$2
shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/scripts/fuzz-lib.sh"
mkdir -p "$out/fuzz-artifacts"
fail=0
for t in "$@"; do
    name=$(basename "$t" _fuzz)
    corpus=$out/fuzz-corpus/$name
    mkdir -p "$corpus"
    # A uapi finding may need the inputs before it (the card is kept across inputs).
    export UAPI_FUZZ_HISTORY=$out/fuzz-artifacts/$name-history
    args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=4096
          -artifact_prefix="$out/fuzz-artifacts/$name-")
    [[ -f $src/fuzz/$name.dict ]] && args+=(-dict="$src/fuzz/$name.dict")
    args+=($(fuzz_options "$src" "$name"))
    echo "# ---- $name: ${seconds}s on CPU $(fuzz_cpu)"
    log=$out/fuzz-$name.log
    taskset -c "$(fuzz_cpu)" "$t" "${args[@]}" "$corpus" "$src/fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    runs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}')
    rate=$(grep -E '^stat::average_exec_per_sec:' "$log" | awk '{print $2}')
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')
    if [[ $rc -ne 0 ]]; then
        echo "not ok $name: exit $rc; the end of its log ($log):"
        tail -n 40 "$log" | sed 's/^/#   /'
        fail=1
    else
        echo "ok $name: ${runs:-?} executions, ${rate:-?} exec/s, ${cov:-?} edges"
    fi
done
exit $fail
