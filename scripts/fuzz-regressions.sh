#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The known defects the uapi fuzzer can reach, put back one at a time: each
# fuzz/regressions/NAME.patch reverses a fix in a copy of the tree (WORK_DIR/tree), where
# uapi_fuzz is built and run from the seed corpus for at most SECONDS. It must find the
# defect again (a finding ends the run); the fixed tree runs the same seeds clean in
# `make fuzz`. Prints per defect whether and how fast it was found; fails if one was not.
#   fuzz-regressions.sh WORK_DIR SECONDS
set -u
work=$1 seconds=$2
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/scripts/fuzz-lib.sh"
tree=$work/tree
rm -rf "$tree" && mkdir -p "$tree" || exit 1
# The tree as it is checked out (tracked and new files, not ignored ones such as builds).
(cd "$src" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) |
    tar -xf - -C "$tree" || exit 1
build() {
    make --no-print-directory -s -f "$tree/Makefile" O="$tree/build-fuzz" CXX=clang++ \
        SANITIZE=address,undefined \
        EXTRA_CXXFLAGS="-fsanitize=fuzzer-no-link -fsanitize-coverage-ignorelist=$tree/fuzz/coverage.ignorelist" \
        "$tree/build-fuzz/fuzz/uapi_fuzz" >"$work/build.log" 2>&1
}
fail=0
for p in "$src"/fuzz/regressions/*.patch; do
    name=$(basename "$p" .patch)
    if ! patch -s -p1 -d "$tree" <"$p"; then
        echo "not ok $name: the patch does not apply"
        fail=1
        continue
    fi
    log=$work/$name.log
    if ! build; then
        echo "not ok $name: the build failed; the end of $work/build.log:"
        tail -n 20 "$work/build.log" | sed 's/^/#   /'
        fail=1
    else
        rm -rf "$work/corpus-$name" && mkdir -p "$work/corpus-$name"
        start=$(date +%s%N)
        taskset -c "$(fuzz_cpu)" "$tree/build-fuzz/fuzz/uapi_fuzz" -max_total_time="$seconds" \
            -timeout=10 -rss_limit_mb=4096 $(fuzz_options "$src" uapi) \
            -artifact_prefix="$work/$name-" "$work/corpus-$name" "$src/fuzz/corpus/uapi" \
            >"$log" 2>&1
        rc=$?
        took_ms=$((($(date +%s%N) - start) / 1000000))
        what=$(grep -m1 -E '^(uapi_fuzz: |==[0-9]+== ?ERROR: )' "$log")
        execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
        if [[ $rc -ne 0 ]]; then
            took="$((took_ms / 1000)).$((took_ms % 1000 / 100)) s"
            echo "ok $name: found again after $took (${execs:-0} executions after the seeds): $what"
        else
            echo "not ok $name: not found in ${seconds}s (log: $log)"
            fail=1
        fi
    fi
    patch -s -R -p1 -d "$tree" <"$p" || exit 1
done
exit $fail
