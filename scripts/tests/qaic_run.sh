#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# qaic-run as a user meets it with ordinary tools: lspci and sysfs see the cards, the command's
# status is qaic-run's, signals reach the command, several cards, a running qaicd named by
# --device, and nothing left behind. (The program that drives a card through the node is
# tests/qaic_unmodified, which run-tests.sh runs under qaic-run.) Prints KTAP.
#   qaic_run.sh BUILD_DIR
set -u
build=$(cd "${1:?usage: qaic_run.sh BUILD_DIR}" && pwd) || exit 1
run=$build/bin/qaic-run
client=$build/bin/qaic-client
tmp=$(mktemp -d)
trap 'kill -KILL "${daemon:-}" 2>/dev/null; rm -rf "$tmp"' EXIT
export TMPDIR=$tmp # qaic-run's private daemons and testbeds go here, to be counted

# shellcheck source=../lib/ktap.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/ktap.sh"

# lspci is not ours: in a sanitizer build it runs with the runtime qaic-run preloads, and its
# own leaks (libudev's) are not what these tests look for.
lspci() {
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 command lspci "$@"
}
export -f lspci

lspci_lists_the_card() {
    local out
    out=$("$run" bash -c 'lspci -nn -d 17cb:') || return 1
    echo "$out"
    [[ $out == "01:00.0 Processing accelerators [1200]: "*"[17cb:a100]"* ]]
}

sysfs_shows_the_accel_device_and_dbc_states() {
    "$run" sh -c 'cd /sys/bus/pci/drivers/qaic/0000:01:00.0/accel/accel0 &&
        cat dev dbc0_state dbc15_state && ls -l /dev/accel/accel0' >"$tmp/out" || return 1
    cat "$tmp/out"
    [[ $(sed -n 1,3p "$tmp/out" | tr '\n' ' ') == "261:0 0 0 " ]] &&
        grep -q "^crw-rw-rw- .* 261, 0 " "$tmp/out"
}

two_cards_two_nodes() {
    local out
    out=$("$run" --cards 2 bash -c 'ls /dev/accel; ls /sys/class/accel; lspci -n -d 17cb: | wc -l') || return 1
    echo "$out"
    [[ $(tr '\n' ' ' <<<"$out") == "accel0 accel1 accel0 accel1 2 " ]]
}

exit_status_is_the_commands() {
    "$run" sh -c 'exit 7'
    [[ $? -eq 7 ]] || return 1
    "$run" sh -c 'kill -TERM $$'
    [[ $? -eq $((128 + 15)) ]] || return 1
    "$run" /nonexistent/program 2>"$tmp/err"
    [[ $? -eq 127 ]] && grep -q "qaic-run: /nonexistent/program" "$tmp/err"
}

sigterm_reaches_the_command() {
    "$run" sh -c 'trap "exit 9" TERM; touch "$0.ready"; while :; do sleep 0.05; done' "$tmp/cmd" &
    local pid=$!
    for _ in $(seq 200); do
        [[ -e $tmp/cmd.ready ]] && break
        sleep 0.05
    done
    kill -TERM "$pid"
    wait "$pid"
    [[ $? -eq 9 ]]
}

device_names_a_running_qaicd() {
    "$build/bin/qaicd" --dir "$tmp/d" 2>"$tmp/d.log" &
    daemon=$!
    for _ in $(seq 200); do
        grep -q "qaicd: serving" "$tmp/d.log" 2>/dev/null && break
        sleep 0.05
    done
    "$run" --device "$tmp/d/accel0" "$client" -d /dev/accel/accel0 run -n 3 -b 1 | grep -q "verified: *3/3" ||
        return 1
    "$client" -d "$tmp/d/accel0" status >"$tmp/status" || return 1
    cat "$tmp/status"
    kill -TERM "$daemon" && wait "$daemon"
}

# --profile: each card is on the bus as its profile's device (ids, MSI or MSI-X, BARs) and
# answers; a running qaicd's card shows as what that qaicd says; a bad name exits 2.
profiles_on_the_bus() {
    local out
    out=$("$run" --cards 3 --profile aic100,aic080,aic200 bash -c 'lspci -nn -d 17cb:;
        lspci -vv -s 03:00.0 | grep -E "MSI|Region"') || return 1
    echo "$out"
    grep -q "^01:00.0 .*\[17cb:a100\]" <<<"$out" && grep -q "^02:00.0 .*\[17cb:a080\]" <<<"$out" &&
        grep -q "^03:00.0 .*\[17cb:a110\]" <<<"$out" &&
        grep -q "MSI-X: Enable- Count=32" <<<"$out" &&
        grep -q "Region 1: Memory at c0100000 (32-bit, prefetchable) \[size=4K\]" <<<"$out" ||
        return 1
    "$run" --profile aic200 "$client" -d /dev/accel/accel0 info >"$tmp/info" || return 1
    grep -q "^model: *Qualcomm Cloud AI 200 \[17cb:a110\]" "$tmp/info" ||
        { cat "$tmp/info"; return 1; }
    "$run" --profile aic200 "$client" -d /dev/accel/accel0 dma -s 65536 -n 1 | grep -q verified ||
        return 1
    "$build/bin/qaicd" --dir "$tmp/p" --profile aic080 2>"$tmp/p.log" &
    daemon=$!
    for _ in $(seq 200); do
        grep -q "qaicd: serving" "$tmp/p.log" 2>/dev/null && break
        sleep 0.05
    done
    out=$("$run" --device "$tmp/p/accel0" cat /sys/bus/pci/devices/0000:01:00.0/device) || return 1
    kill -TERM "$daemon" && wait "$daemon" || return 1
    [[ $out == 0xa080 ]] || { echo "device: $out"; return 1; }
    "$run" --profile aic100,aic300 true 2>"$tmp/err"
    [[ $? -eq 2 ]] && grep -q -- "--profile aic300: no such card" "$tmp/err"
}
# (tail, as lspci above, leaks on its own under a sanitizer's preloaded runtime.)
# The driver's files where tools read them: parameters given with --param (upstream's names and
# spellings), debugfs's boot log and per-DBC files; a bad --param is a usage error (2).
driver_files_and_params() {
    "$run" --param datapath_polling=y --param control_resp_timeout_s=30 sh -c '
        cd /sys/module/qaic/parameters && cat datapath_polling control_resp_timeout_s \
            control_resp_timeout_ms datapath_poll_interval_us &&
        cd /sys/kernel/debug/accel/0000:01:00.0 &&
        ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 tail -n 1 bootlog &&
        cat dbc000/fifo_size dbc015/queued' >"$tmp/out" || { cat "$tmp/out"; return 1; }
    cat "$tmp/out"
    [[ $(tr '\n' ' ' <"$tmp/out") == "Y 30 30000 100 QSM: control and SSR channels ready: ONLINE 0 0 " ]] ||
        return 1
    local bad rc
    for bad in poll_interval_us=10 datapath_polling=maybe mhi_timeout_ms=0 nosuch; do
        "$run" --param "$bad" true 2>"$tmp/err"
        rc=$?
        [[ $rc -eq 2 ]] && grep -q -- "--param $bad: not name=value" "$tmp/err" ||
            { echo "--param $bad: exit $rc"; cat "$tmp/err"; return 1; }
    done
}

nothing_left_behind() {
    "$run" true || return 1
    local left
    left=$(find "$tmp" -maxdepth 1 \( -name 'qaic-run.*' -o -name 'umockdev.*' \))
    [[ -z $left ]] || { echo "left: $left"; return 1; }
}

echo "TAP version 13"
echo "1..9"
check lspci_lists_the_card lspci_lists_the_card
check sysfs_shows_the_accel_device_and_dbc_states sysfs_shows_the_accel_device_and_dbc_states
check two_cards_two_nodes two_cards_two_nodes
check exit_status_is_the_commands exit_status_is_the_commands
check sigterm_reaches_the_command sigterm_reaches_the_command
check device_names_a_running_qaicd device_names_a_running_qaicd
check profiles_on_the_bus profiles_on_the_bus
check driver_files_and_params driver_files_and_params
check nothing_left_behind nothing_left_behind
totals
