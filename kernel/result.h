// SPDX-License-Identifier: GPL-2.0-only
// ErrorOr<T>: the value of a fallible kernel-side operation, or the negative errno it failed with.
// TRY(expr) returns the error from the enclosing function, like the kernel's "if (ret) return ret".
#pragma once

#include <cassert>
#include <cerrno>
#include <type_traits>
#include <utility>
#include <variant>

namespace kernel {

// A failure, as a negative errno (-EINVAL), the kernel's convention.
class Error {
public:
    constexpr explicit Error(int negative_errno) : code_(negative_errno)
    {
        assert(negative_errno < 0);
    }
    constexpr int code() const { return code_; }

private:
    int code_;
};

template <typename T> class [[nodiscard]] ErrorOr {
public:
    ErrorOr(const T &value) : v_(value) {}
    ErrorOr(T &&value) : v_(std::move(value)) {}
    ErrorOr(Error error) : v_(error) {}

    bool is_error() const { return std::holds_alternative<Error>(v_); }
    explicit operator bool() const { return !is_error(); }
    Error error() const { return std::get<Error>(v_); }
    T &value() & { return std::get<T>(v_); }
    const T &value() const & { return std::get<T>(v_); }
    T &&value() && { return std::get<T>(std::move(v_)); }
    T release_value() { return std::get<T>(std::move(v_)); }
    // 0 or the negative errno, for callers at an int boundary.
    int code() const { return is_error() ? error().code() : 0; }

private:
    std::variant<T, Error> v_;
};

template <> class [[nodiscard]] ErrorOr<void> {
public:
    ErrorOr() = default;
    ErrorOr(Error error) : code_(error.code()) {}

    bool is_error() const { return code_ != 0; }
    explicit operator bool() const { return !is_error(); }
    Error error() const { return Error(code_); }
    void release_value() const {}
    int code() const { return code_; }

private:
    int code_ = 0;
};

// Turns "0 or negative errno" from a lower layer into an ErrorOr<void>.
inline ErrorOr<void> from_code(int code)
{
    if (code < 0)
        return Error(code);
    return {};
}

} // namespace kernel

// Evaluates an ErrorOr expression; on error returns it from the enclosing function, otherwise
// yields the value (GNU statement expression, supported by g++ and clang).
#define TRY(expr)                                                                                  \
    ({                                                                                             \
        auto _try_result = (expr);                                                                 \
        if (_try_result.is_error())                                                                \
            return _try_result.error();                                                            \
        _try_result.release_value();                                                               \
    })
