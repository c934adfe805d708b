#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# A client builds with nothing but `pkg-config --cflags --libs qaic`: against the build tree's
# qaic.pc (C11 and C++17) and against the qaic.pc of `make install`. Each client opens the
# simulated card, checks DRM_IOCTL_VERSION (against <qaic/version.h>) and EBADF for an fd
# libqaic never opened, and closes. The install also puts the manual pages where man(1) finds
# them, qaic-run with what it runs (its preload library, qaicd) under the prefix, and qaicd's
# systemd units and defaults with the prefix's paths. Prints KTAP.
#   pkgconfig.sh BUILD_DIR
set -u
build=$(cd "${1:?usage: pkgconfig.sh BUILD_DIR}" && pwd) || exit 1
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cc=${CC:-gcc}
cxx=${CXX:-g++}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=../lib/ktap.sh
source "$src/scripts/lib/ktap.sh"

cat >"$tmp/client.c" <<'EOF'
#include <drm/qaic_accel.h>
#include <qaic/qaic.h>
#include <qaic/version.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    char name[64] = {0}, date[64] = {0}, desc[128] = {0};
    struct drm_version v;
    int fd, rc;

    memset(&v, 0, sizeof(v));
    v.name = name;
    v.name_len = sizeof(name) - 1;
    v.date = date;
    v.date_len = sizeof(date) - 1;
    v.desc = desc;
    v.desc_len = sizeof(desc) - 1;

    fd = qaic_open("sim");
    if (fd < 0) {
        printf("qaic_open: %s\n", strerror(errno));
        return 1;
    }
    if (qaic_ioctl(fd, DRM_IOCTL_VERSION, &v) != 0) {
        printf("DRM_IOCTL_VERSION: %s\n", strerror(errno));
        return 1;
    }
    printf("name=%s\n", name);
    printf("desc=%s\n", desc);
    printf("version=%s\n", v.version_major == QAIC_VERSION_MAJOR &&
                                    v.version_minor == QAIC_VERSION_MINOR &&
                                    v.version_patchlevel == QAIC_VERSION_PATCH
                                ? "that of <qaic/version.h>"
                                : "another");

    /* An fd number nothing in this small process has opened, let alone libqaic. */
    errno = 0;
    rc = qaic_ioctl(fd + 1000, DRM_IOCTL_VERSION, &v);
    printf("unopened=%d/%s\n", rc, errno == EBADF ? "EBADF" : strerror(errno));

    if (qaic_close(fd) != 0) {
        printf("qaic_close: %s\n", strerror(errno));
        return 1;
    }
    printf("closed\n");
    return 0;
}
EOF

cat >"$tmp/client.cc" <<'EOF'
#include <drm/qaic_accel.h>
#include <qaic/qaic.h>
#include <qaic/version.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

static_assert(sizeof(qaic_attach_slice_entry) == 72, "C++ sees the C layout");

int main()
{
    std::string name(64, '\0'), desc(128, '\0');
    drm_version v{};
    v.name = name.data();
    v.name_len = name.size() - 1;
    v.desc = desc.data();
    v.desc_len = desc.size() - 1;

    int fd = qaic_open("sim");
    if (fd < 0) {
        std::printf("qaic_open: %s\n", std::strerror(errno));
        return 1;
    }
    if (qaic_ioctl(fd, DRM_IOCTL_VERSION, &v) != 0) {
        std::printf("DRM_IOCTL_VERSION: %s\n", std::strerror(errno));
        return 1;
    }
    name.resize(v.name_len);
    desc.resize(v.desc_len);
    std::printf("name=%s\n", name.c_str());
    std::printf("desc=%s\n", desc.c_str());
    bool same = v.version_major == QAIC_VERSION_MAJOR && v.version_minor == QAIC_VERSION_MINOR &&
                v.version_patchlevel == QAIC_VERSION_PATCH;
    std::printf("version=%s\n", same ? "that of <qaic/version.h>" : "another");

    errno = 0;
    int rc = qaic_ioctl(fd + 1000, DRM_IOCTL_VERSION, &v);
    std::printf("unopened=%d/%s\n", rc, errno == EBADF ? "EBADF" : std::strerror(errno));

    if (qaic_close(fd) != 0) {
        std::printf("qaic_close: %s\n", std::strerror(errno));
        return 1;
    }
    std::printf("closed\n");
    return 0;
}
EOF

printf '%s\n' 'name=qaic' 'desc=Qualcomm Cloud AI Accelerators' 'version=that of <qaic/version.h>' \
    'unopened=-1/EBADF' 'closed' \
    >"$tmp/expected"

# build_and_run NAME PKG_CONFIG_PATH RUN_ENV COMPILER ARGS...: compiles and links the client
# with the flags of that qaic.pc, runs it (under env RUN_ENV) and compares its output.
build_and_run() {
    local name=$1 pcpath=$2 runenv=$3
    shift 3
    local flags
    if ! flags=$(PKG_CONFIG_PATH=$pcpath pkg-config --cflags --libs qaic 2>"$tmp/$name.log"); then
        echo "# $name: pkg-config --cflags --libs qaic failed (PKG_CONFIG_PATH=$pcpath)"
        diag "$tmp/$name.log"
        not_ok "$name"
        return
    fi
    # The flags go after the source so the linker sees -lqaic after the objects that need it.
    # shellcheck disable=SC2086
    if ! "$@" -o "$tmp/$name" $flags >"$tmp/$name.log" 2>&1; then
        echo "# $name: $* -o $tmp/$name $flags"
        diag "$tmp/$name.log"
        not_ok "$name"
        return
    fi
    # shellcheck disable=SC2086
    env $runenv "$tmp/$name" >"$tmp/$name.out" 2>"$tmp/$name.err"
    local rc=$?
    if [[ $rc -ne 0 ]] || ! cmp -s "$tmp/expected" "$tmp/$name.out"; then
        echo "# $name: exited $rc; output:"
        diag "$tmp/$name.out"
        diag "$tmp/$name.err"
        echo "# expected:"
        diag "$tmp/expected"
        not_ok "$name"
        return
    fi
    ok "$name"
}

echo "TAP version 13"
echo "1..6"

# Not a build folder: fail rather than let `make install` build one in its place.
if [[ ! -f $build/lib/pkgconfig/qaic.pc ]]; then
    echo "# $build/lib/pkgconfig/qaic.pc missing: not a build folder of make O=$build"
    for name in pkgconfig_c11 pkgconfig_cxx17 install_pkgconfig install_man_pages installed_qaic_run installed_units; do
        not_ok "$name"
    done
    totals
    exit 1
fi

build_and_run pkgconfig_c11 "$build/lib/pkgconfig" "" \
    "$cc" -std=c11 -Wall -Wextra -Werror "$tmp/client.c"
build_and_run pkgconfig_cxx17 "$build/lib/pkgconfig" "" \
    "$cxx" -std=c++17 -Wall -Wextra -Werror "$tmp/client.cc"

# The install runs with the build's SANITIZE, so make sees the same configuration and
# rebuilds nothing; a sanitizer build's installed qaic.pc carries the sanitizer flags.
san_flags=${SAN_FLAGS:-$(PKG_CONFIG_PATH=$build/lib/pkgconfig pkg-config --libs qaic 2>/dev/null |
    tr ' ' '\n' | grep -E '^-fsanitize=' | tr '\n' ' ')}
sanitize=$(tr ' ' '\n' <<<"$san_flags" | sed -n 's/^-fsanitize=//p' | head -n 1)

prefix=$tmp/prefix
# A clean environment for the sub-make: the parent make's MAKEFLAGS (jobserver, overrides)
# must not reach it.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
    make -C "$src" --no-print-directory O="$build" PREFIX="$prefix" DESTDIR= \
    ${sanitize:+SANITIZE="$sanitize"} install >"$tmp/install.log" 2>&1; then
    echo "# install_pkgconfig: make install PREFIX=$prefix failed"
    diag "$tmp/install.log"
    not_ok install_pkgconfig
elif [[ ! -f $prefix/lib/pkgconfig/qaic.pc ]]; then
    echo "# install_pkgconfig: $prefix/lib/pkgconfig/qaic.pc missing"
    not_ok install_pkgconfig
else
    # shellcheck disable=SC2086
    build_and_run install_pkgconfig "$prefix/lib/pkgconfig" "LD_LIBRARY_PATH=$prefix/lib" \
        "$cc" -std=c11 -Wall -Wextra -Werror "$tmp/client.c"
fi
# Each page of the build (make man) installed where man(1) finds it under the prefix.
pages=("$build"/man/man*/*)
missing=()
for page in "${pages[@]}"; do
    section=$(basename "$(dirname "$page")")
    cmp -s "$page" "$prefix/share/man/$section/$(basename "$page")" || missing+=("$section/$(basename "$page")")
done
if [[ ! -e ${pages[0]} ]]; then
    echo "# install_man_pages: no pages in $build/man"
    not_ok install_man_pages
elif [[ ${#missing[@]} -gt 0 ]]; then
    echo "# install_man_pages: not installed under $prefix/share/man: ${missing[*]}"
    not_ok install_man_pages
else
    ok install_man_pages
fi
# The installed qaic-run finds its preload library and qaicd under the prefix: an installed
# qaic-client sees a card at /dev/accel/accel0 in it.
installed_qaic_run() {
    "$prefix/bin/qaic-run" "$prefix/bin/qaic-client" -d /dev/accel/accel0 info |
        grep -q '^driver: *qaic '
}
if [[ -x $build/bin/qaic-run ]]; then
    check installed_qaic_run installed_qaic_run
else
    skip installed_qaic_run "qaic-run not built"
fi
# qaicd's units name the installed daemon and defaults; the defaults file sets QAICD_OPTS.
installed_units() {
    local unit=$prefix/lib/systemd/system/qaicd.service
    grep -qx "ExecStart=$prefix/bin/qaicd \$QAICD_OPTS" "$unit" &&
        grep -qx "EnvironmentFile=-$prefix/etc/default/qaicd" "$unit" &&
        [[ -x $prefix/bin/qaicd && -f $prefix/lib/systemd/system/qaicd.socket ]] &&
        (. "$prefix/etc/default/qaicd" && [[ -v QAICD_OPTS ]]) ||
        { cat "$unit"; return 1; }
}
if [[ -x $build/bin/qaicd ]]; then
    check installed_units installed_units
else
    skip installed_units "qaicd not built"
fi

totals
