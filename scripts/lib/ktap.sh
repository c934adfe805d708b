# SPDX-License-Identifier: GPL-2.0-only
# KTAP output for the script tests (sourced): ok / not_ok / skip NAME [REASON], diag FILE,
# check NAME COMMAND... (a case that passes when the command succeeds; its output, kept in
# $tmp/log, is shown when it fails), and totals, which prints the Totals line and returns
# non-zero if any case failed.
n=0 pass=0 fail=0 skip=0
ok() {
    n=$((n + 1)) pass=$((pass + 1))
    echo "ok $n $1"
}
not_ok() {
    n=$((n + 1)) fail=$((fail + 1))
    echo "not ok $n $1"
}
skip() {
    n=$((n + 1)) skip=$((skip + 1))
    echo "ok $n $1 # SKIP $2"
}
# Prints a file as KTAP diagnostic lines.
diag() {
    sed 's/^/# /' "$1"
}
check() {
    local name=$1
    shift
    if "$@" >"$tmp/log" 2>&1; then
        ok "$name"
    else
        not_ok "$name"
        diag "$tmp/log"
    fi
}
totals() {
    echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
    [[ $fail -eq 0 ]]
}
