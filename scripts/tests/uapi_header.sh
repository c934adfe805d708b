#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The uAPI header compiles on its own in userspace: as strict C11 and as C++17, with nothing
# but libdrm's drm.h on the include path (upstream's uses the kernel-only SZ_4K; ours must not).
# Prints KTAP.
#   uapi_header.sh BUILD_DIR
set -u
# BUILD_DIR is the interface of every script test; this one needs nothing built.
: "${1:?usage: uapi_header.sh BUILD_DIR}"
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
header=$src/include/uapi/drm/qaic_accel.h

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=../lib/ktap.sh
source "$src/scripts/lib/ktap.sh"

# A translation unit that includes nothing but the header and touches every macro: the
# constant in a static assertion and an array bound, every ioctl number (which needs every
# argument struct complete) and the flexible-array passthrough struct.
cat >"$tmp/tu.c" <<'EOF'
#include <drm/qaic_accel.h>

#ifdef __cplusplus
#define QAIC_TEST_STATIC_ASSERT static_assert
#else
#define QAIC_TEST_STATIC_ASSERT _Static_assert
#endif

QAIC_TEST_STATIC_ASSERT(QAIC_MANAGE_MAX_MSG_LENGTH == 4096, "max MANAGE message is 4 KiB");
QAIC_TEST_STATIC_ASSERT(sizeof(struct qaic_attach_slice_entry) == 72, "slice entry is 72 bytes");
QAIC_TEST_STATIC_ASSERT(sizeof(struct qaic_manage_trans_passthrough) == 8, "header only");

#if QAIC_MANAGE_MAX_MSG_LENGTH != 4096
#error "QAIC_MANAGE_MAX_MSG_LENGTH must be usable by the preprocessor"
#endif

unsigned char qaic_test_msg[QAIC_MANAGE_MAX_MSG_LENGTH];

unsigned long qaic_test_ioctls[] = {
    DRM_IOCTL_QAIC_MANAGE,          DRM_IOCTL_QAIC_CREATE_BO,
    DRM_IOCTL_QAIC_MMAP_BO,         DRM_IOCTL_QAIC_ATTACH_SLICE_BO,
    DRM_IOCTL_QAIC_EXECUTE_BO,      DRM_IOCTL_QAIC_PARTIAL_EXECUTE_BO,
    DRM_IOCTL_QAIC_WAIT_BO,         DRM_IOCTL_QAIC_PERF_STATS_BO,
    DRM_IOCTL_QAIC_DETACH_SLICE_BO,
};

unsigned int qaic_test_first_type(const struct qaic_manage_trans_passthrough *t)
{
    return t->hdr.type == QAIC_TRANS_PASSTHROUGH_FROM_USR ? t->data[0] : QAIC_SEM_NOP;
}
EOF
cp "$tmp/tu.c" "$tmp/tu.cc"

drm_cflags=$(pkg-config --cflags libdrm 2>"$tmp/pkg.err")
pkg_rc=$?

# compile NAME COMPILER ARGS...: one case; the object's dependencies must name our header,
# so a qaic_accel.h installed elsewhere on the system cannot stand in for it.
compile() {
    local name=$1
    shift
    # shellcheck disable=SC2086 # pkg-config output is a list of flags
    if "$@" -I"$src/include/uapi" $drm_cflags -MD -MF "$tmp/$name.d" -c -o "$tmp/$name.o" \
        >"$tmp/$name.log" 2>&1; then
        if grep -qF "$header" "$tmp/$name.d"; then
            ok "$name"
        else
            echo "# $name: compiled against a header other than $header"
            not_ok "$name"
        fi
    else
        echo "# $name: $*"
        diag "$tmp/$name.log"
        not_ok "$name"
    fi
}

echo "TAP version 13"
echo "1..4"

if [[ $pkg_rc -ne 0 ]]; then
    echo "# pkg-config --cflags libdrm failed:"
    diag "$tmp/pkg.err"
    not_ok header_c11_gcc
    not_ok header_cxx17_gxx
    not_ok header_c11_clang
    not_ok header_cxx17_clangxx
else
    compile header_c11_gcc gcc -std=c11 -Wall -Wextra -Werror -pedantic "$tmp/tu.c"
    # No -pedantic: the passthrough struct's flexible array member is a GNU extension in C++,
    # exactly as in upstream's header.
    compile header_cxx17_gxx g++ -std=c++17 -Wall -Wextra -Werror "$tmp/tu.cc"
    if command -v clang >/dev/null 2>&1; then
        compile header_c11_clang clang -std=c11 -Wall -Wextra -Werror -pedantic "$tmp/tu.c"
    else
        skip header_c11_clang "clang not installed"
    fi
    if command -v clang++ >/dev/null 2>&1; then
        compile header_cxx17_clangxx clang++ -std=c++17 -Wall -Wextra -Werror "$tmp/tu.cc"
    else
        skip header_cxx17_clangxx "clang++ not installed"
    fi
fi

totals
