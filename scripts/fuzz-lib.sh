# SPDX-License-Identifier: GPL-2.0-only
# Shared by the fuzz scripts (sourced).

# The CPU a fuzz target runs on: the last one this shell may use. A target and its card's
# threads on one CPU hand work to each other by switching threads on that CPU; spread over
# two, each handoff wakes an idle virtual CPU, which costs tens of microseconds here
# (docs/testing.md).
fuzz_cpu() {
    local list
    list=$(taskset -pc $$ | sed 's/.*: //')
    list=${list##*,}
    echo "${list##*-}"
}

# The target's own libFuzzer flags: fuzz/NAME.options, words separated by blanks, "#" to the
# line's end a comment.
fuzz_options() {
    local f=$1/fuzz/$2.options
    [[ -f $f ]] && sed 's/#.*//' "$f" | tr -s ' \n' ' '
    return 0
}
