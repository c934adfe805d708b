#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The Debian packages of `make deb` as a user gets them (root, CI): installed with apt, the
# group qaic made, the packaged qaicd serving a card (with --test-control, as make check runs
# its own, for the selftests' faults), the installed qaic-client and qaic-run using it
# through the installed libqaic, the selftest suite of BUILD_DIR run against it through the
# installed library; then purged, leaving none of their files. Prints KTAP.
#   deb-install-test.sh DEB_DIR BUILD_DIR
set -u
debs=$(cd "${1:?usage: deb-install-test.sh DEB_DIR BUILD_DIR}" && pwd) || exit 1
build=$(cd "${2:?usage: deb-install-test.sh DEB_DIR BUILD_DIR}" && pwd) || exit 1
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pid=
cleanup() {
    [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
    rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=lib/ktap.sh
source "$src/scripts/lib/ktap.sh"
packages=(libqaic1 libqaic-dev qaic-tools qaicd)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
export DEBIAN_FRONTEND=noninteractive

install_them() {
    apt-get install -y -q --no-install-recommends "$debs"/*.deb
}
group_made() {
    getent group qaic
}
daemon_serves() {
    /usr/bin/qaicd --dir "$tmp/run" --group qaic --test-control 2>"$tmp/qaicd.log" &
    pid=$!
    for _ in $(seq 100); do
        [[ -S $tmp/run/accel0 ]] && return 0
        sleep 0.05
    done
    cat "$tmp/qaicd.log"
    return 1
}
# ldd names the library by the loader's path for it (/lib is /usr/lib on a merged system).
uses_installed_library() {
    grep -qE "libqaic\.so\.1 => (/usr)?/lib/$multiarch/libqaic\.so\.1 "
}
client_uses_it() {
    ldd /usr/bin/qaic-client | uses_installed_library &&
        /usr/bin/qaic-client -d "$tmp/run/accel0" info | grep -q "^driver: *qaic $(sed -n 1p "$src/VERSION") "
}
qaic_run_runs() {
    /usr/bin/qaic-run /usr/bin/qaic-client -d /dev/accel/accel0 info | grep -q '^driver: *qaic '
}
# The selftests find the installed library before their build's (its run path comes after
# LD_LIBRARY_PATH), and the card through the installed daemon.
selftests_pass() {
    local lib=/usr/lib/$multiarch
    LD_LIBRARY_PATH=$lib ldd "$build/tests/qaic_selftest" | uses_installed_library &&
        LD_LIBRARY_PATH=$lib QAIC_DEVICE=$tmp/run/accel0 "$build/tests/qaic_selftest" >"$tmp/selftest.log" 2>&1 ||
        { tail -n 30 "$tmp/selftest.log"; return 1; }
}
remove_them() {
    kill -TERM "$pid" && wait "$pid"
    pid=
    apt-get purge -y -q "${packages[@]}" &&
        for p in "${packages[@]}"; do
            ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed || return 1
        done &&
        [[ ! -e /usr/bin/qaicd && ! -e /usr/lib/$multiarch/libqaic.so.1 && ! -e /usr/include/qaic ]]
}

echo "TAP version 13"
echo "1..7"
check install install_them
check group_qaic group_made
check qaicd_serves_a_card daemon_serves
check installed_client client_uses_it
check installed_qaic_run qaic_run_runs
check selftests_through_installed_library selftests_pass
check purge remove_them
totals
