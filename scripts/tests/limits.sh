#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The embedded card under the limits a container or batch system sets: an address-space limit
# (RLIMIT_AS, `ulimit -v`) and few file descriptors (RLIMIT_NOFILE). Whatever the limit, a
# clean errno, never a crash or an abort; a smaller card (QAIC_SIM_DDR_MB,
# QAIC_SIM_BO_MEMORY_MB) works where the default one does not fit. Prints KTAP.
#   limits.sh BUILD_DIR
set -u
build=$(cd "${1:?usage: limits.sh BUILD_DIR}" && pwd) || exit 1
client=$build/bin/qaic-client
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=../lib/ktap.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/ktap.sh"

# The default card reserves more address space than 8 GiB (its DDR and the BO pool): open
# fails with ENOMEM, and the client says so and exits 1.
default_card_under_8g_is_enomem() {
    prlimit --as=$((8 << 30)) "$client" --device sim info
    local rc=$?
    echo "exit status $rc"
    [[ $rc -eq 1 ]]
}

# A card of 1 GiB DDR and 512 MiB of BO memory runs inferences under a 4 GiB limit.
smaller_card_works_under_4g() {
    QAIC_SIM_DDR_MB=1024 QAIC_SIM_BO_MEMORY_MB=512 \
        prlimit --as=$((4 << 30)) "$client" --device sim run --iterations 20 >"$tmp/out" 2>&1
    local rc=$?
    cat "$tmp/out"
    [[ $rc -eq 0 ]] && grep -q '^throughput: ' "$tmp/out"
}

# From 4 descriptors (the loader needs 3 for the program and its libraries) to 20: either the
# inferences run, or the client ends with ENOMEM or EMFILE (the driver's memfds count as
# memory, as documented) and exit status 1, never on a signal.
few_descriptors_give_an_errno_or_work() {
    local n rc worked=0
    for n in $(seq 4 20); do
        prlimit --nofile="$n" "$client" --device sim run --iterations 2 >"$tmp/out" 2>&1
        rc=$?
        echo "nofile $n: exit status $rc: $(tail -n 1 "$tmp/out")"
        if [[ $rc -eq 0 ]]; then
            worked=1
        elif [[ $rc -ne 1 ]] || ! grep -Eq 'ENOMEM|EMFILE' "$tmp/out"; then
            return 1
        fi
    done
    [[ $worked -eq 1 ]]
}

if [[ -n ${SAN_FLAGS:-} ]]; then
    # The sanitizers' runtimes reserve terabytes of shadow address space and open files of
    # their own: these limits would test them, not the driver.
    for c in default_card_under_8g_is_enomem smaller_card_works_under_4g few_descriptors_give_an_errno_or_work; do
        skip "$c" "sanitizer build"
    done
else
    check default_card_under_8g_is_enomem default_card_under_8g_is_enomem
    check smaller_card_works_under_4g smaller_card_works_under_4g
    check few_descriptors_give_an_errno_or_work few_descriptors_give_an_errno_or_work
fi
totals
