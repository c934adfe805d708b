// SPDX-License-Identifier: GPL-2.0-only
// Devres: release actions run backwards and once; an action that cannot be recorded runs at
// once and its add answers -ENOMEM.
#include "kernel/devres.h"

#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

using kernel::Devres;
using kernel::FailNthAlloc;

TEST(Devres, ReleaseAllRunsTheActionsLastRecordedFirst)
{
    std::vector<int> ran;
    Devres devres;
    for (int i = 0; i < 20; ++i) // past the first room made, so growing it keeps the order
        ASSERT_EQ(devres.add([&ran, i] { ran.push_back(i); }).code(), 0);
    EXPECT_EQ(devres.size(), 20u);
    EXPECT_TRUE(ran.empty()); // recording runs nothing
    devres.release_all();
    ASSERT_EQ(ran.size(), 20u);
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(ran[i], 19 - i);
    EXPECT_EQ(devres.size(), 0u);
}

TEST(Devres, ReleaseAllRunsEachActionOnce)
{
    int runs = 0;
    {
        Devres devres;
        ASSERT_EQ(devres.add([&] { ++runs; }).code(), 0);
        devres.release_all();
        devres.release_all();
        EXPECT_EQ(runs, 1);
    } // nor does the destructor run it again
    EXPECT_EQ(runs, 1);
}

TEST(Devres, ActionsRecordedAfterAReleaseRunAtTheNext)
{
    std::string ran;
    Devres devres;
    ASSERT_EQ(devres.add([&] { ran += 'a'; }).code(), 0);
    devres.release_all();
    ASSERT_EQ(devres.add([&] { ran += 'b'; }).code(), 0);
    ASSERT_EQ(devres.add([&] { ran += 'c'; }).code(), 0);
    devres.release_all();
    EXPECT_EQ(ran, "acb");
}

TEST(Devres, TheDestructorReleasesWhatIsLeftBackwards)
{
    std::string ran;
    {
        Devres devres;
        ASSERT_EQ(devres.add([&] { ran += '1'; }).code(), 0);
        ASSERT_EQ(devres.add([&] { ran += '2'; }).code(), 0);
    }
    EXPECT_EQ(ran, "21");
}

// devm_add_action_or_reset: an action that cannot be recorded is run before add returns, and
// is not run again; what was recorded before it stays recorded.
TEST(Devres, AddThatCannotRecordRunsTheActionAndAnswersEnomem)
{
    std::string ran;
    Devres devres;
    ASSERT_EQ(devres.add([&] { ran += 'a'; }).code(), 0);
    {
        FailNthAlloc inject(1);
        EXPECT_EQ(devres.add([&] { ran += 'b'; }).code(), -ENOMEM);
        EXPECT_TRUE(inject.fired());
    }
    EXPECT_EQ(ran, "b");
    EXPECT_EQ(devres.size(), 1u);
    devres.release_all();
    EXPECT_EQ(ran, "ba");
}

// A probe-like sequence with each of its allocations failing in turn: every run answers
// -ENOMEM at the step that failed, and every step taken is undone exactly once, backwards.
TEST(Devres, EveryFailingAddUnwindsWhatWasTaken)
{
    constexpr int kSteps = 12;
    for (unsigned nth = 1;; ++nth) {
        SCOPED_TRACE(nth);
        ASSERT_LE(nth, unsigned(kSteps) + 1);
        std::vector<int> held, released;
        auto probe = [&]() -> kernel::ErrorOr<void> {
            Devres devres;
            for (int i = 0; i < kSteps; ++i) {
                held.push_back(i); // the step's resource, taken without allocating
                TRY(devres.add([&, i] {
                    released.push_back(i);
                    std::erase(held, i);
                }));
            }
            devres.release_all(); // the remove that follows a probe that worked
            return {};
        };
        bool fired;
        kernel::ErrorOr<void> r;
        {
            FailNthAlloc inject(nth);
            r = probe();
            fired = inject.fired();
        }
        EXPECT_TRUE(held.empty());
        ASSERT_EQ(released.size(), fired ? nth : unsigned(kSteps));
        for (size_t k = 0; k < released.size(); ++k)
            EXPECT_EQ(released[k], int(released.size() - 1 - k));
        if (!fired) {
            EXPECT_EQ(r.code(), 0);
            break;
        }
        EXPECT_EQ(r.code(), -ENOMEM);
    }
}

} // namespace
