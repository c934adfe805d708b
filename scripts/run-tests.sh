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

# A qaicd of our own for the tests that follow (qaicd_dir, qaicd_pid); stop_qaicd then wants
# it to stop cleanly on SIGTERM: exit 0, and no sanitizer report at its exit.
#   start_qaicd [QAICD_OPTION...]
start_qaicd() {
    qaicd_dir=$(mktemp -d)
    "$out/bin/qaicd" --dir "$qaicd_dir" "$@" 2>"$qaicd_dir/qaicd.log" &
    qaicd_pid=$!
    for _ in $(seq 200); do
        [[ -S $qaicd_dir/accel0 ]] && break
        sleep 0.05
    done
}
stop_qaicd() {
    kill -TERM "$qaicd_pid"
    local rc=0
    wait "$qaicd_pid" || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "# qaicd exited $rc after SIGTERM; its log:"
        sed 's/^/#   /' "$qaicd_dir/qaicd.log"
        fail=$((fail + 1))
    fi
    rm -rf "$qaicd_dir"
}

# Selftests the allocation-failure sweep cannot judge: the card takes a DBC on its own during
# a later call (an ACTIVATE answered late), timing decides (an EXECUTE must land inside a
# restart window; swept calls are slower), or a real memory limit fails allocations beside the
# injected one. docs/testing.md, "Allocation-failure sweep"; qaic_selftest runs them all.
failslab_unjudged='ManageFirmwareFaults.ActivateAnsweredAfterItsTimeoutIsUndone'
failslab_unjudged+=':DatapathFault.SubsystemRestart'
failslab_unjudged+=':ManageDmaXfer.UnderAnAddressSpaceLimitIsRefused'
# Too long to sweep: transfers of 16 MiB and more a pair per page (continuation messages
# since requests are 64 KiB), whose every retry copies and maps them again (one took 4 min
# swept). The DMA_XFER path is swept with the 2 MiB cases.
failslab_unjudged+=':ManageDmaXfer.ContinuingLeavesRoomForWhatFollows'
failslab_unjudged+=':ManageDmaXfer.OfPageSizedChunksSpansSeveralMessages'
failslab_unjudged+=':ManageFirmwareFaults.PaddedAnswersNeverOverrunTheUsersMessage'

# The selftests that need a card loaded with datapath_polling=1 (POLLING_OR_SKIP), run again
# on one, with those that read what the driver shows.
polling_cases='DatapathConcurrency.JobsFinishInOrderWhoeverReaps:DatapathFault.PollingMode'
polling_cases+=':DriverFiles.*'

# The build's configuration against the selftests' config file: each option it lacks is
# printed with what that costs (the comment above the option there). Informational only:
# cases that need a missing option skip, or fail on their own saying why.
#   check_config CONFIG_FILE DOT_CONFIG
check_config() {
    local want=$1 have=$2 line why= option_last=0 name value got
    [[ -r $want && -r $have ]] || return 0
    while IFS= read -r line; do
        case $line in
        '#') why= ;;
        '# '*)
            # A comment after an option starts the next options' explanation.
            [[ $option_last -eq 1 ]] && why=
            why+="${why:+ }${line#\# }"
            option_last=0
            ;;
        CONFIG_*=*)
            option_last=1
            name=${line%%=*} value=${line#*=}
            got=$(sed -n "s/^$name=//p" "$have")
            if [[ $got != "$value" ]]; then
                echo "# config: $name=$value wanted, this build has ${got:-it off} ($have)"
                fmt -w 84 <<<"$why" | sed 's/^/# config:   /'
            fi
            ;;
        esac
    done <"$want"
}

for t in "$@"; do
    if [[ $(basename "$t") == qaic_selftest_failslab ]]; then
        run "qaic_selftest_failslab" "$t" --gtest_filter="-$failslab_unjudged"
        continue
    fi
    if [[ $(basename "$t") == qaic_unmodified ]]; then
        # A program without libqaic: under qaic-run with its private qaicd, then with a shared
        # one, twice (the card outlives each command), whose SSR and reset qaic-client causes.
        QAIC_UNMODIFIED_PARAM=timesync_delay_ms=250 run "qaic_unmodified under qaic-run" \
            "$out/bin/qaic-run" --param timesync_delay_ms=250 "$t"
        start_qaicd --test-control
        for i in 1 2; do
            QAIC_UNMODIFIED_INJECT="$out/bin/qaic-client -d $qaicd_dir/accel0 inject" \
                run "qaic_unmodified under qaic-run --device ($i)" "$out/bin/qaic-run" --device "$qaicd_dir/accel0" "$t"
        done
        stop_qaicd
        continue
    fi
    if [[ $(basename "$t") == qaic_selftest ]]; then
        check_config "$src/selftests/drivers/accel/qaic/config" "$out/.config"
    fi
    run "$(basename "$t")" "$t"
    if [[ $(basename "$t") == qaic_selftest ]]; then
        # The other card profiles (docs/device-model.md, "Card profiles"), once each on the
        # embedded card: the uAPI must not tell them apart.
        for profile in aic080 aic200; do
            QAIC_SIM_PROFILE=$profile run "qaic_selftest on $profile" "$t"
        done
        # datapath_polling is given at load only (upstream's mode 0400): the cases of polling
        # mode, and the driver's files, on a card loaded with it.
        QAIC_PARAMS=datapath_polling=1 run "qaic_selftest, datapath_polling=1" "$t" \
            --gtest_filter="$polling_cases"
    fi
    if [[ $(basename "$t") == qaic_selftest && -x $out/bin/qaicd ]]; then
        # The uAPI selftests once more, on the daemon host (the client's memory read across
        # processes, BOs mapped from the daemon's memfds).
        start_qaicd --test-control
        QAIC_DEVICE=$qaicd_dir/accel0 run "qaic_selftest on qaicd" "$t"
        stop_qaicd
        start_qaicd --test-control --param datapath_polling=y
        QAIC_DEVICE=$qaicd_dir/accel0 run "qaic_selftest on qaicd --param datapath_polling=y" "$t" \
            --gtest_filter="$polling_cases"
        stop_qaicd
        # Calls as socket messages only: the path of a channel that has no slot.
        start_qaicd --test-control --socket-calls
        QAIC_DEVICE=$qaicd_dir/accel0 run "qaic_selftest on qaicd --socket-calls" "$t"
        stop_qaicd
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
