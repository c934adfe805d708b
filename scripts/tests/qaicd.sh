#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# qaicd as an administrator meets it: options, the sockets it makes (mode, several cards), a
# second daemon refused, a socket left by a dead one replaced, socket activation, clients on
# each card, clean shutdown on SIGTERM. Prints KTAP.
#   qaicd.sh BUILD_DIR
set -u
build=$(cd "${1:?usage: qaicd.sh BUILD_DIR}" && pwd) || exit 1
qaicd=$build/bin/qaicd
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
client=$build/bin/qaic-client
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

# shellcheck source=../lib/ktap.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/ktap.sh"
# start DIR ARGS...: a qaicd serving DIR, its stderr in DIR.log; waits until it says it
# serves (a socket left by a killed daemon is there before the new one replaced it).
start() {
    local dir=$1
    shift
    "$qaicd" --dir "$dir" "$@" 2>"$dir.log" &
    pids+=($!)
    for _ in $(seq 200); do
        grep -q "qaicd: serving" "$dir.log" 2>/dev/null && return 0
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.05
    done
    echo "qaicd did not come up:"
    cat "$dir.log"
    return 1
}
# stop PID: SIGTERM, and it must exit 0.
stop() {
    kill -TERM "$1" && wait "$1"
}

help_names_the_options() {
    "$qaicd" --help | grep -q -- "--cards" && "$qaicd" --help | grep -q -- "--group" &&
        "$qaicd" --version | grep -qx "qaicd $(sed -n 1p "$src/VERSION")"
}
two_cards_two_sockets() {
    start "$tmp/a" --cards 2 || return 1
    for n in 0 1; do
        [[ -S $tmp/a/accel$n ]] || { echo "no socket accel$n"; return 1; }
        local mode
        mode=$(stat -c %a "$tmp/a/accel$n")
        [[ $mode == 660 ]] || { echo "accel$n has mode $mode, not 660"; return 1; }
    done
}
client_on_each_card() {
    QAIC_DEVICE=$tmp/a/accel0 "$client" run -n 5 -b 2 | grep -q "verified: *5/5" &&
        "$client" -d "$tmp/a/accel1" dma -s 65536 -n 2 | grep -q verified
}
host_counts_are_back_after_clients() {
    "$client" -d "$tmp/a/accel0" host | tee "$tmp/host" && grep -q "^files: *0$" "$tmp/host" &&
        grep -q "^dbcs: *0 in use$" "$tmp/host" && grep -q "^bo memory: *0 bytes$" "$tmp/host" &&
        "$client" -d "$tmp/a/accel0" --json host | /usr/bin/python3 -c \
            "import json,sys; j=json.load(sys.stdin); sys.exit(0 if j['files'] == 0 and j['threads'] > 0 else 1)"
}
second_daemon_is_refused() {
    "$qaicd" --dir "$tmp/a" 2>"$tmp/second.log"
    local rc=$?
    cat "$tmp/second.log"
    [[ $rc -eq 1 ]] && grep -q "another qaicd serves it" "$tmp/second.log"
}
sigterm_stops_cleanly() {
    stop "${pids[0]}" || { cat "$tmp/a.log"; return 1; }
    grep -q "stopped" "$tmp/a.log" && [[ ! -e $tmp/a/accel0 && ! -e $tmp/a/accel1 ]]
}
stale_socket_is_replaced() {
    start "$tmp/b" || return 1
    kill -KILL "${pids[-1]}"
    wait "${pids[-1]}" 2>/dev/null
    [[ -S $tmp/b/accel0 ]] || { echo "the killed daemon's socket is gone already"; return 1; }
    "$client" -d "$tmp/b/accel0" info 2>&1 | grep -q ENODEV || { echo "no ENODEV without a daemon"; return 1; }
    start "$tmp/b" || return 1
    "$client" -d "$tmp/b/accel0" info | grep -q "qaic" && stop "${pids[-1]}"
}
unknown_group_is_an_error() {
    "$qaicd" --dir "$tmp/c" --group no-such-group-here
    [[ $? -eq 2 ]]
}
# A batch or CI container's address-space limit: the default card (16 GiB of DDR, 8 GiB for
# BOs) cannot be reserved, which is ENOMEM, never an abort; a card made smaller fits, on
# either host. (Sanitizers reserve terabytes of shadow memory: not under a limit.)
small_cards_under_an_address_space_limit() {
    (
        ulimit -v 4000000
        "$client" -d sim info >"$tmp/big" 2>&1
        [[ $? -eq 1 ]] && grep -q "ENOMEM" "$tmp/big" || { cat "$tmp/big"; exit 1; }
        QAIC_SIM_DDR_MB=256 QAIC_SIM_BO_MEMORY_MB=256 "$client" -d sim run -n 3 -b 1 |
            grep -q "verified: *3/3" || exit 1
        start "$tmp/e" --ddr-size 256 --bo-memory 256 || exit 1
        "$client" -d "$tmp/e/accel0" run -n 3 -b 1 | grep -q "verified: *3/3" || exit 1
        kill -TERM "${pids[-1]}" && wait "${pids[-1]}"
    )
}
socket_activation() {
    mkdir -p "$tmp/d"
    systemd-socket-activate --seqpacket -l "$tmp/d/accel0" "$qaicd" 2>"$tmp/d.log" &
    pids+=($!)
    for _ in $(seq 200); do
        [[ -S $tmp/d/accel0 ]] && break
        sleep 0.05
    done
    "$client" -d "$tmp/d/accel0" run -n 3 -b 1 | grep -q "verified: *3/3" || { cat "$tmp/d.log"; return 1; }
    grep -q "serving the socket passed by the service manager" "$tmp/d.log" && stop "${pids[-1]}"
}
# --param: a driver parameter at start; one the driver does not know is a usage error.
bad_param_is_a_usage_error() {
    "$qaicd" --dir "$tmp/f" --param nosuch=1 2>"$tmp/f.log"
    local rc=$?
    [[ $rc -eq 2 ]] && grep -q -- "--param nosuch=1: not name=value" "$tmp/f.log" ||
        { echo "exit $rc"; cat "$tmp/f.log"; return 1; }
}
# --profile: a card of each profile answers with its model; cards past the list take its
# last; a name of no card is a usage error that names it.
profiles_per_card() {
    start "$tmp/p" --cards 4 --profile aic100,aic080 --profile aic200 || return 1
    local n
    local want=("Cloud AI 100 \[17cb:a100\]" "Cloud AI 80 \[17cb:a080\]"
        "Cloud AI 200 \[17cb:a110\]" "Cloud AI 200 \[17cb:a110\]")
    for n in 0 1 2 3; do
        "$client" -d "$tmp/p/accel$n" info >"$tmp/p$n.out" 2>&1 &&
            grep -Eq "^model: +Qualcomm ${want[n]}$" "$tmp/p$n.out" ||
            { echo "accel$n:"; cat "$tmp/p$n.out"; return 1; }
        "$client" -d "$tmp/p/accel$n" dma -s 65536 -n 1 | grep -q verified ||
            { echo "accel$n: no DMA"; return 1; }
    done
    stop "${pids[-1]}"
}
bad_profile_is_a_usage_error() {
    "$qaicd" --dir "$tmp/q" --profile aic100,aic300 2>"$tmp/q.log"
    local rc=$?
    [[ $rc -eq 2 ]] && grep -q -- "--profile aic300: no such card" "$tmp/q.log" ||
        { echo "exit $rc"; cat "$tmp/q.log"; return 1; }
}
# Upstream's names and spellings at start; a load-time parameter (datapath_polling, mode 0400)
# shows what was given and refuses a run-time change; a renamed or out-of-range one is a usage
# error.
params_at_start() {
    start "$tmp/pp" --test-control --param datapath_polling=Y --param timesync_delay_ms=250 \
        --param control_resp_timeout_s=30 || return 1
    "$client" -d "$tmp/pp/accel0" info >"$tmp/pp.out" 2>&1 || { cat "$tmp/pp.out"; return 1; }
    grep -Eq "^params: .*datapath_polling=Y .*control_resp_timeout_s=30 .*timesync_delay_ms=250 " "$tmp/pp.out" ||
        { cat "$tmp/pp.out"; return 1; }
    stop "${pids[-1]}"
    local bad rc
    for bad in poll_interval_us=100 boot_timeout_ms=100 datapath_polling=2 control_resp_timeout_s=0; do
        "$qaicd" --dir "$tmp/qq" --param "$bad" 2>"$tmp/qq.log"
        rc=$?
        [[ $rc -eq 2 ]] || { echo "--param $bad: exit $rc"; cat "$tmp/qq.log"; return 1; }
    done
}
# The debug parameter: the daemon's log says why a client's call was refused, naming the
# client; set at start (--param) or at run time by the daemon's owner (qaic-client -v, run
# here as the daemon's own user).
refusals_are_explained_in_the_log() {
    start "$tmp/g" --bo-memory 64 --param debug=0x1 || return 1
    "$client" -d "$tmp/g/accel0" dma -s 1073741824 -n 1 >/dev/null 2>&1
    local want="qaic: CREATE_BO: 262144 pages asked, 16384 of the BO memory limit are free -> ENOMEM \\[pid [0-9]+\\]"
    grep -Eq "$want" "$tmp/g.log" || { cat "$tmp/g.log"; return 1; }
    stop "${pids[-1]}"
    start "$tmp/h" --bo-memory 64 || return 1
    "$client" -v -d "$tmp/h/accel0" dma -s 1073741824 -n 1 >"$tmp/h.out" 2>&1
    grep -q "qaicd's debug parameter is now 0x1" "$tmp/h.out" || { cat "$tmp/h.out"; return 1; }
    grep -Eq "$want" "$tmp/h.log" || { cat "$tmp/h.log"; return 1; }
    stop "${pids[-1]}"
}

echo "TAP version 13"
echo "1..15"
check help_names_the_options help_names_the_options
check two_cards_two_sockets two_cards_two_sockets
check client_on_each_card client_on_each_card
check host_counts_are_back_after_clients host_counts_are_back_after_clients
check second_daemon_is_refused second_daemon_is_refused
check sigterm_stops_cleanly sigterm_stops_cleanly
check stale_socket_is_replaced stale_socket_is_replaced
check unknown_group_is_an_error unknown_group_is_an_error
check bad_param_is_a_usage_error bad_param_is_a_usage_error
check params_at_start params_at_start
check refusals_are_explained_in_the_log refusals_are_explained_in_the_log
check profiles_per_card profiles_per_card
check bad_profile_is_a_usage_error bad_profile_is_a_usage_error
if [[ -n ${SAN_FLAGS:-} ]]; then
    skip small_cards_under_an_address_space_limit "sanitizers need more address space"
else
    check small_cards_under_an_address_space_limit small_cards_under_an_address_space_limit
fi
if command -v systemd-socket-activate >/dev/null; then
    check socket_activation socket_activation
else
    skip socket_activation "no systemd-socket-activate"
fi
totals
