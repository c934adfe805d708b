#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The Debian 12 packages qaic builds, tests and benchmarks with.
#   deps.sh install   install them (root), else print the apt-get line and fail
#   deps.sh ensure    do nothing when all are present, else as install
set -euo pipefail

PACKAGES=(g++ make pkg-config libdrm-dev libgtest-dev libgmock-dev libbenchmark-dev
          libcli11-dev zlib1g-dev python3 python3-kconfiglib gnuplot-nox
          umockdev libumockdev-dev libudev-dev libpci-dev pciutils clang libclang-rt-14-dev
          binutils patch help2man go-md2man groff-base man-db bsdextrautils
          dpkg-dev debhelper lintian)

missing() {
    local pkg status
    for pkg in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [[ "$status" == "install ok installed" ]] || echo "$pkg"
    done
}

mode=${1:-install}
todo=$(missing | tr '\n' ' ')
if [[ -z "${todo// /}" ]]; then
    [[ "$mode" == ensure ]] || echo "deps: all packages are installed"
    exit 0
fi

line="apt-get install -y --no-install-recommends $todo"
if [[ $(id -u) -ne 0 ]]; then
    echo "deps: missing Debian packages: $todo" >&2
    echo "deps: run as root: apt-get update && $line" >&2
    exit 1
fi
echo "deps: installing $todo"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends $todo
