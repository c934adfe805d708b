// SPDX-License-Identifier: GPL-2.0-only
// Devres: a bound device's record of how to undo what its probe acquired, the kernel's devres
// (devm_add_action_or_reset, devres_release_all). Probe records each undo right after the step
// it undoes succeeds; a probe that fails and remove both run the record backwards. The unwind
// then can neither skip a step nor undo one that never happened, and stays right as probe
// gains steps, where hand-ordered unwind code has to be kept in step with probe by eye.
//
// Not locked: a device's probe and remove do not overlap (the bus runs them in turn).
#pragma once

#include "kernel/alloc.h"

#include <cstddef>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

namespace kernel {

class Devres {
public:
    using Action = std::function<void()>;

    Devres() = default;
    // Runs what is still recorded: nothing a device acquired outlives its record.
    ~Devres() { release_all(); }
    Devres(const Devres &) = delete;
    Devres &operator=(const Devres &) = delete;

    // Records release to run at release_all(). When it cannot be recorded (-ENOMEM, an
    // injected failure included) it runs release at once and returns the error, as
    // devm_add_action_or_reset does: the caller just returns it, with nothing to undo by hand.
    template <typename F> ErrorOr<void> add(F &&release)
    {
        static_assert(std::is_copy_constructible_v<std::decay_t<F>> &&
                      std::is_invocable_v<std::decay_t<F> &>);
        Action action;
        // A copy of release, not a move: when making room throws, release is whole to run.
        auto made = try_alloc([&] {
            action = Action(release);
            if (actions_.size() == actions_.capacity())
                actions_.reserve(2 * actions_.size() + 8);
        });
        if (made.is_error()) {
            release();
            return made;
        }
        actions_.push_back(std::move(action)); // the room was made above: cannot throw
        return {};
    }

    // Runs the recorded actions, the last recorded first, each once, and forgets them: a
    // second call (or the destructor) finds nothing to run. Allocates nothing.
    void release_all()
    {
        std::vector<Action> actions = std::exchange(actions_, {});
        while (!actions.empty()) {
            actions.back()();
            actions.pop_back();
        }
    }

    // Actions recorded and not yet run.
    size_t size() const { return actions_.size(); }

private:
    std::vector<Action> actions_;
};

} // namespace kernel
