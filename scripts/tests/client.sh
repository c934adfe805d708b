#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# qaic-client end to end on the simulated card: parsing, error paths, and the demo's
# verification (a device loaded with other weights must fail it). Prints KTAP.
#   client.sh BUILD_DIR
set -u
build=$(cd "${1:?usage: client.sh BUILD_DIR}" && pwd) || exit 1
client=$build/bin/qaic-client
export QAIC_DEVICE=sim
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=../lib/ktap.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/ktap.sh"
# expect CODE PATTERN -- ARGS: the client exits with CODE and its output matches PATTERN.
expect() {
    local code=$1 pattern=$2
    shift 3
    "$client" "$@" >"$tmp/out" 2>&1
    local rc=$?
    if [[ $rc -ne $code ]]; then
        echo "exit $rc, expected $code; output:"
        cat "$tmp/out"
        return 1
    fi
    if ! grep -Eq -- "$pattern" "$tmp/out"; then
        echo "output does not match /$pattern/:"
        cat "$tmp/out"
        return 1
    fi
}
json_ok() { # the client's stdout parses as JSON and satisfies a python expression on `j`
    local expr=$1
    shift
    "$client" --json "$@" >"$tmp/json" 2>"$tmp/err" || { cat "$tmp/err"; return 1; }
    /usr/bin/python3 -c "import json,sys; j=json.load(open('$tmp/json')); sys.exit(0 if ($expr) else 1)" ||
        { cat "$tmp/json"; return 1; }
}

# -v: the embedded card (in the client's process) says why it refused a call, on stderr;
# without it, only the errno.
verbose_says_why() {
    QAIC_SIM_BO_MEMORY_MB=64 expect 1 "^qaic: CREATE_BO: 262144 pages asked, 16384 of the BO memory limit are free -> ENOMEM$" -- -v dma -s 1073741824 -n 1
}
quiet_without_verbose() {
    QAIC_SIM_BO_MEMORY_MB=64 expect 1 "CREATE_BO: ENOMEM" -- dma -s 1073741824 -n 1 &&
        ! grep -q "pages asked" "$tmp/out"
}

# info and status read the driver's files: parameters as given at load (upstream's names and
# spellings), the RAS counters, each DBC's debugfs queued count.
info_shows_parameters() {
    QAIC_PARAMS="datapath_polling=y,control_resp_timeout_s=7" \
        expect 0 "^params: .* datapath_polling=Y .*control_resp_timeout_s=7 .*control_resp_timeout_ms=7000 " -- info &&
        grep -q "timesync_delay_ms=1000 " "$tmp/out" && grep -q "mhi_timeout_ms=2000 " "$tmp/out"
}
info_json_parameters() {
    QAIC_PARAMS=datapath_polling json_ok "j['parameters']['datapath_polling'] == 'Y' and j['parameters']['datapath_poll_interval_us'] == '100' and j['ras'] == {'ce_count': 0, 'ue_count': 0, 'ue_nonfatal_count': 0}" info
}

echo "TAP version 13"
echo "1..24"
check no_subcommand_is_an_error expect 106 "subcommand is required" --
check unknown_option_is_an_error expect 109 "" -- --frobnicate info
check batch_out_of_range expect 105 "--batch: Value 0 not in range" -- run --batch 0
check missing_node_names_errno expect 1 "open /dev/accel/no-such: ENOENT \(No such file or directory\)" -- -d /dev/accel/no-such info
check info_reports_driver_and_firmware expect 0 "firmware: +5\.0, status 0, CRC required" -- info
check info_json json_ok "j['driver'] == 'qaic' and j['firmware'] == '5.0' and len(j['dbcs']) > 0" info
check info_reports_nnc expect 0 "NNC: +protocol 17\.0, metadata 1\.0; networks 0 loaded, 0 active" -- info
check info_json_nnc json_ok "j['nnc']['protocol'] == '17.0' and j['nnc']['networks_active'] == 0" info
check status_lists_every_dbc expect 0 "^15 +idle" -- status
check info_reports_ras_counters expect 0 "RAS: +0 correctable, 0 uncorrectable, 0 uncorrectable non-fatal" -- info
check info_json_ras json_ok "j['ras'] == {'ce_count': 0, 'ue_count': 0, 'ue_nonfatal_count': 0}" info
check coredump_without_one expect 1 "crash dump \(qaic_sim_read_coredump\): ENOENT" -- coredump "$tmp/dump"
check status_shows_debugfs_queued json_ok "all(d['queued'] == 0 for d in j)" status
check info_shows_parameters info_shows_parameters
check info_json_parameters info_json_parameters
check run_verifies_every_output expect 0 "verified: +20/20 iterations match" -- run -n 20 -b 4
check run_json json_ok "j['verified'] and j['iterations'] == 7 and j['latency_us']['p99'] >= j['latency_us']['p50'] > 0" run -n 7 -b 2
check wrong_device_weights_fail_verification expect 2 "output mismatch in iteration 0, row 0" -- run -n 3 --device-weights-seed 99
check dma_round_trip_is_verified expect 0 "to device .* GB/s, from device .* GB/s, verified" -- dma -s 1048576 -n 4
check dma_size_out_of_range expect 105 "--size" -- dma -s 100
check inject_reset_of_the_card "$client" inject reset
check inject_ssr_of_no_such_dbc expect 1 "qaic_sim_inject: EINVAL" -- inject ssr 63
check verbose_says_why verbose_says_why
check quiet_without_verbose quiet_without_verbose
totals
