// SPDX-License-Identifier: GPL-2.0-only
// Locked<T>::with: access under the lock, return values, and mutual exclusion.
#include "kernel/locked.h"

#include <gtest/gtest.h>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using kernel::Locked;

TEST(Locked, ConstructsValueFromArguments)
{
    Locked<std::string> s(3, 'x');
    EXPECT_EQ(s.with([](std::string &v) { return v; }), "xxx");
    Locked<std::vector<int>> empty;
    EXPECT_TRUE(empty.with([](auto &v) { return v.empty(); }));
}

TEST(Locked, WithReturnsLambdaResult)
{
    Locked<std::map<int, std::string>> m;
    m.with([](auto &map) { map[1] = "one"; });
    size_t n = m.with([](auto &map) { return map.size(); });
    EXPECT_EQ(n, 1u);
    std::string one = m.with([](auto &map) { return map.at(1); });
    EXPECT_EQ(one, "one");
}

TEST(Locked, WithCanReturnReference)
{
    Locked<int> v(5);
    int &ref = v.with([](int &x) -> int & { return x; });
    static_assert(std::is_same_v<decltype(v.with([](int &x) -> int & { return x; })), int &>);
    ref = 6; // single-threaded here; only shows decltype(auto) keeps the reference
    EXPECT_EQ(v.with([](int x) { return x; }), 6);
}

TEST(Locked, ConstWithSeesConstValue)
{
    const Locked<int> v(11);
    v.with([](auto &x) { static_assert(std::is_const_v<std::remove_reference_t<decltype(x)>>); });
    EXPECT_EQ(v.with([](const int &x) { return x * 2; }), 22);
}

// A mutex that tells whether it is held, to see what with() does with it.
class TracingMutex {
public:
    void lock()
    {
        m_.lock();
        held = true;
        ++locks;
    }
    void unlock()
    {
        held = false;
        m_.unlock();
    }
    static inline bool held = false;
    static inline int locks = 0;

private:
    std::mutex m_;
};

TEST(Locked, HoldsLockOnlyDuringCall)
{
    Locked<int, TracingMutex> v(1);
    TracingMutex::locks = 0;
    EXPECT_FALSE(TracingMutex::held);
    v.with([](int &) { EXPECT_TRUE(TracingMutex::held); });
    EXPECT_FALSE(TracingMutex::held);
    const auto &cv = v;
    cv.with([](const int &) { EXPECT_TRUE(TracingMutex::held); });
    EXPECT_FALSE(TracingMutex::held);
    EXPECT_EQ(TracingMutex::locks, 2);
}

TEST(Locked, ReleasesLockOnException)
{
    Locked<int, TracingMutex> v(1);
    EXPECT_THROW(v.with([](int &) -> int { throw std::runtime_error("x"); }), std::runtime_error);
    EXPECT_FALSE(TracingMutex::held);
    EXPECT_EQ(v.with([](int &x) { return x; }), 1);
}

TEST(Locked, SerialisesConcurrentUpdates)
{
    struct Pair {
        long a = 0;
        long b = 0;
    };
    Locked<Pair> p;
    constexpr int kThreads = 4, kIterations = 20000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < kIterations; ++i)
                p.with([](Pair &v) {
                    EXPECT_EQ(v.a, v.b); // the invariant holds for everyone who takes the lock
                    ++v.a;
                    ++v.b;
                });
        });
    for (auto &t : threads)
        t.join();
    p.with([&](Pair &v) {
        EXPECT_EQ(v.a, long(kThreads) * kIterations);
        EXPECT_EQ(v.b, v.a);
    });
}

TEST(Locked, OtherMutexType)
{
    Locked<int, std::recursive_mutex> v(1);
    // A recursive mutex lets a with() nest inside another on the same object.
    int sum = v.with([&](int &outer) { return outer + v.with([](int &inner) { return inner; }); });
    EXPECT_EQ(sum, 2);
}

} // namespace
