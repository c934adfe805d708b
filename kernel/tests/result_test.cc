// SPDX-License-Identifier: GPL-2.0-only
// ErrorOr<T>, ErrorOr<void>, from_code and TRY.
#include "kernel/result.h"

#include <gtest/gtest.h>
#include <memory>
#include <string>

namespace {

using kernel::Error;
using kernel::ErrorOr;
using kernel::from_code;

static_assert(Error(-EINVAL).code() == -EINVAL);

TEST(ErrorOr, HoldsValue)
{
    ErrorOr<int> r = 42;
    EXPECT_FALSE(r.is_error());
    EXPECT_TRUE(bool(r));
    EXPECT_EQ(r.code(), 0);
    EXPECT_EQ(r.value(), 42);
    r.value() = 7;
    EXPECT_EQ(r.value(), 7);
    const ErrorOr<int> &c = r;
    EXPECT_EQ(c.value(), 7);
    EXPECT_EQ(r.release_value(), 7);
}

TEST(ErrorOr, HoldsError)
{
    ErrorOr<int> r = Error(-ENOENT);
    EXPECT_TRUE(r.is_error());
    EXPECT_FALSE(bool(r));
    EXPECT_EQ(r.error().code(), -ENOENT);
    EXPECT_EQ(r.code(), -ENOENT);
}

TEST(ErrorOr, ZeroIsAValueNotAnError)
{
    ErrorOr<int> r = 0;
    EXPECT_FALSE(r.is_error());
    EXPECT_EQ(r.code(), 0);
    ErrorOr<int> neg = -5; // a negative value is still a value; only Error is an error
    EXPECT_FALSE(neg.is_error());
    EXPECT_EQ(neg.value(), -5);
}

TEST(ErrorOr, MoveOnlyValue)
{
    ErrorOr<std::unique_ptr<int>> r = std::make_unique<int>(5);
    ASSERT_FALSE(r.is_error());
    std::unique_ptr<int> p = std::move(r).value();
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, 5);

    ErrorOr<std::unique_ptr<int>> r2 = std::make_unique<int>(6);
    std::unique_ptr<int> q = r2.release_value();
    ASSERT_TRUE(q);
    EXPECT_EQ(*q, 6);
}

TEST(ErrorOr, CopiesAndMovesValue)
{
    std::string s = "hello";
    ErrorOr<std::string> a = s;
    EXPECT_EQ(s, "hello");
    EXPECT_EQ(a.value(), "hello");
    ErrorOr<std::string> b = std::move(a);
    EXPECT_EQ(b.value(), "hello");
    ErrorOr<std::string> c = b;
    EXPECT_EQ(c.value(), "hello");
    EXPECT_EQ(b.value(), "hello");
    ErrorOr<int> e = Error(-EIO);
    ErrorOr<int> f = e;
    EXPECT_EQ(f.code(), -EIO);
    f = 3;
    EXPECT_EQ(f.value(), 3);
    f = e;
    EXPECT_EQ(f.code(), -EIO);
}

TEST(ErrorOrVoid, DefaultIsSuccess)
{
    ErrorOr<void> r;
    EXPECT_FALSE(r.is_error());
    EXPECT_TRUE(bool(r));
    EXPECT_EQ(r.code(), 0);
    r.release_value();
}

TEST(ErrorOrVoid, HoldsError)
{
    ErrorOr<void> r = Error(-EFAULT);
    EXPECT_TRUE(r.is_error());
    EXPECT_FALSE(bool(r));
    EXPECT_EQ(r.code(), -EFAULT);
    EXPECT_EQ(r.error().code(), -EFAULT);
}

TEST(FromCode, ZeroAndPositiveAreSuccess)
{
    EXPECT_FALSE(from_code(0).is_error());
    EXPECT_EQ(from_code(0).code(), 0);
    EXPECT_FALSE(from_code(3).is_error());
    EXPECT_EQ(from_code(3).code(), 0);
}

TEST(FromCode, NegativeIsError)
{
    EXPECT_TRUE(from_code(-EIO).is_error());
    EXPECT_EQ(from_code(-EIO).code(), -EIO);
    EXPECT_EQ(from_code(-1).code(), -1);
}

// Helpers for TRY: each records how far it got, so early returns are visible.
int g_reached;

ErrorOr<int> produce(int v)
{
    if (v < 0)
        return Error(v);
    return v;
}

ErrorOr<void> check(int code)
{
    return from_code(code);
}

ErrorOr<int> add_one(int v)
{
    g_reached = 0;
    int x = TRY(produce(v));
    g_reached = 1;
    return x + 1;
}

ErrorOr<void> check_twice(int first, int second)
{
    g_reached = 0;
    TRY(check(first));
    g_reached = 1;
    TRY(check(second));
    g_reached = 2;
    return {};
}

// TRY across types: an ErrorOr<int> failure becomes the ErrorOr<std::string> result.
ErrorOr<std::string> describe(int v)
{
    int x = TRY(produce(v));
    return std::to_string(x);
}

ErrorOr<std::unique_ptr<int>> make_box(int v)
{
    if (v < 0)
        return Error(v);
    return std::make_unique<int>(v);
}

ErrorOr<int> unbox(int v)
{
    std::unique_ptr<int> p = TRY(make_box(v));
    return *p * 2;
}

TEST(Try, YieldsValueOnSuccess)
{
    auto r = add_one(41);
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(r.value(), 42);
    EXPECT_EQ(g_reached, 1);
}

TEST(Try, ReturnsErrorEarly)
{
    auto r = add_one(-ENOMEM);
    EXPECT_EQ(r.code(), -ENOMEM);
    EXPECT_EQ(g_reached, 0);
}

TEST(Try, VoidPropagation)
{
    EXPECT_EQ(check_twice(0, 0).code(), 0);
    EXPECT_EQ(g_reached, 2);
    EXPECT_EQ(check_twice(-EINVAL, 0).code(), -EINVAL);
    EXPECT_EQ(g_reached, 0);
    EXPECT_EQ(check_twice(0, -EBUSY).code(), -EBUSY);
    EXPECT_EQ(g_reached, 1);
}

TEST(Try, ConvertsBetweenResultTypes)
{
    auto ok = describe(12);
    ASSERT_FALSE(ok.is_error());
    EXPECT_EQ(ok.value(), "12");
    EXPECT_EQ(describe(-EPERM).code(), -EPERM);
}

TEST(Try, MoveOnlyValue)
{
    EXPECT_EQ(unbox(21).value(), 42);
    EXPECT_EQ(unbox(-EAGAIN).code(), -EAGAIN);
}

TEST(Try, EvaluatesExpressionOnce)
{
    int calls = 0;
    auto f = [&]() -> ErrorOr<int> {
        int v = TRY(([&]() -> ErrorOr<int> {
            ++calls;
            return 1;
        }()));
        return v;
    };
    EXPECT_EQ(f().value(), 1);
    EXPECT_EQ(calls, 1);
}

} // namespace
