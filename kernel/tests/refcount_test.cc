// SPDX-License-Identifier: GPL-2.0-only
// RefCounted and RefPtr: ownership transfer, destruction on the last put, lookups without a
// reference (get_unless_zero), and the counts under concurrent use.
#include "kernel/refcount.h"

#include <atomic>
#include <barrier>
#include <gtest/gtest.h>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using kernel::make_ref;
using kernel::RefCounted;
using kernel::RefPtr;

// Counts its destructions into a counter owned by the test.
class Obj : public RefCounted {
public:
    explicit Obj(std::atomic<int> *destroyed, int value = 0) : value(value), destroyed_(destroyed)
    {
    }
    ~Obj() override { destroyed_->fetch_add(1); }
    int value;

private:
    std::atomic<int> *destroyed_;
};

class Derived : public Obj {
public:
    Derived(std::atomic<int> *destroyed, std::atomic<int> *derived_destroyed)
        : Obj(destroyed, 1), derived_destroyed_(derived_destroyed)
    {
    }
    ~Derived() override { derived_destroyed_->fetch_add(1); }

private:
    std::atomic<int> *derived_destroyed_;
};

TEST(RefPtr, DefaultAndNullAreEmpty)
{
    RefPtr<Obj> a;
    RefPtr<Obj> b = nullptr;
    EXPECT_FALSE(a);
    EXPECT_FALSE(b);
    EXPECT_EQ(a.get(), nullptr);
    EXPECT_TRUE(a == b);
    RefPtr<Obj> c = a; // copying an empty pointer takes no reference
    EXPECT_FALSE(c);
    EXPECT_EQ(RefPtr<Obj>::share(nullptr).get(), nullptr);
    EXPECT_EQ(RefPtr<Obj>::adopt(nullptr).get(), nullptr);
}

TEST(RefPtr, AdoptTakesOverInitialReference)
{
    std::atomic<int> destroyed = 0;
    Obj *raw = new Obj(&destroyed, 3);
    EXPECT_EQ(raw->refcount(), 1u);
    {
        auto p = RefPtr<Obj>::adopt(raw);
        EXPECT_EQ(p.get(), raw);
        EXPECT_EQ(p->refcount(), 1u);
        EXPECT_EQ(p->value, 3);
        EXPECT_EQ((*p).value, 3);
    }
    EXPECT_EQ(destroyed, 1);
}

TEST(RefPtr, MakeRefForwardsArguments)
{
    std::atomic<int> destroyed = 0;
    {
        auto p = make_ref<Obj>(&destroyed, 9);
        EXPECT_EQ(p->value, 9);
        EXPECT_EQ(p->refcount(), 1u);
    }
    EXPECT_EQ(destroyed, 1);
}

TEST(RefPtr, ShareTakesNewReference)
{
    std::atomic<int> destroyed = 0;
    auto owner = make_ref<Obj>(&destroyed);
    {
        auto s = RefPtr<Obj>::share(owner.get());
        EXPECT_EQ(owner->refcount(), 2u);
        EXPECT_TRUE(s == owner);
    }
    EXPECT_EQ(owner->refcount(), 1u);
    EXPECT_EQ(destroyed, 0);
    owner = nullptr;
    EXPECT_EQ(destroyed, 1);
}

TEST(RefPtr, CopyAddsReference)
{
    std::atomic<int> destroyed = 0;
    auto a = make_ref<Obj>(&destroyed);
    RefPtr<Obj> b = a;
    EXPECT_EQ(a->refcount(), 2u);
    RefPtr<Obj> c;
    c = b;
    EXPECT_EQ(a->refcount(), 3u);
    EXPECT_TRUE(a == c);
    a = nullptr;
    b = nullptr;
    EXPECT_EQ(destroyed, 0);
    EXPECT_EQ(c->refcount(), 1u);
    c = nullptr;
    EXPECT_EQ(destroyed, 1);
}

TEST(RefPtr, MoveTransfersReference)
{
    std::atomic<int> destroyed = 0;
    auto a = make_ref<Obj>(&destroyed);
    Obj *raw = a.get();
    RefPtr<Obj> b = std::move(a);
    EXPECT_FALSE(a);
    EXPECT_EQ(b.get(), raw);
    EXPECT_EQ(raw->refcount(), 1u);
    RefPtr<Obj> c;
    c = std::move(b);
    EXPECT_FALSE(b);
    EXPECT_EQ(c.get(), raw);
    EXPECT_EQ(raw->refcount(), 1u);
    EXPECT_EQ(destroyed, 0);
    c = RefPtr<Obj>();
    EXPECT_EQ(destroyed, 1);
}

TEST(RefPtr, AssignmentReleasesPreviousObject)
{
    std::atomic<int> d1 = 0, d2 = 0;
    auto p = make_ref<Obj>(&d1);
    p = make_ref<Obj>(&d2);
    EXPECT_EQ(d1, 1);
    EXPECT_EQ(d2, 0);
    EXPECT_EQ(p->refcount(), 1u);
}

TEST(RefPtr, SelfAssignmentKeepsObject)
{
    std::atomic<int> destroyed = 0;
    auto p = make_ref<Obj>(&destroyed);
    RefPtr<Obj> &alias = p;
    p = alias;
    EXPECT_EQ(destroyed, 0);
    EXPECT_EQ(p->refcount(), 1u);
    p = std::move(alias);
    EXPECT_EQ(destroyed, 0);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->refcount(), 1u);
}

TEST(RefPtr, LeakKeepsReference)
{
    std::atomic<int> destroyed = 0;
    auto p = make_ref<Obj>(&destroyed);
    Obj *raw = p.leak();
    EXPECT_FALSE(p);
    EXPECT_EQ(destroyed, 0);
    EXPECT_EQ(raw->refcount(), 1u);
    auto back = RefPtr<Obj>::adopt(raw);
    EXPECT_EQ(raw->refcount(), 1u);
    back = nullptr;
    EXPECT_EQ(destroyed, 1);
}

TEST(RefPtr, UpcastKeepsSingleReference)
{
    std::atomic<int> destroyed = 0, derived_destroyed = 0;
    auto d = make_ref<Derived>(&destroyed, &derived_destroyed);
    Derived *raw = d.get();
    RefPtr<Obj> base = std::move(d);
    EXPECT_FALSE(d);
    EXPECT_EQ(base.get(), raw);
    EXPECT_EQ(raw->refcount(), 1u);

    auto d2 = RefPtr<Derived>::share(raw);
    RefPtr<Obj> base2 = d2; // a copy converts too, with its own reference
    EXPECT_EQ(raw->refcount(), 3u);
    d2 = nullptr;
    base2 = nullptr;
    EXPECT_EQ(raw->refcount(), 1u);

    // The last put through the base pointer runs the whole (virtual) destructor chain.
    base = nullptr;
    EXPECT_EQ(derived_destroyed, 1);
    EXPECT_EQ(destroyed, 1);
}

TEST(RefCounted, GetAndPutCount)
{
    std::atomic<int> destroyed = 0;
    auto p = make_ref<Obj>(&destroyed);
    p->get();
    p->get();
    EXPECT_EQ(p->refcount(), 3u);
    p->put();
    p->put();
    EXPECT_EQ(p->refcount(), 1u);
    EXPECT_EQ(destroyed, 0);
}

TEST(RefCounted, GetUnlessZeroOnLiveObject)
{
    std::atomic<int> destroyed = 0;
    auto p = make_ref<Obj>(&destroyed);
    ASSERT_TRUE(p->get_unless_zero());
    EXPECT_EQ(p->refcount(), 2u);
    auto extra = RefPtr<Obj>::adopt(p.get());
    p = nullptr;
    EXPECT_EQ(destroyed, 0);
    extra = nullptr;
    EXPECT_EQ(destroyed, 1);
}

// The only moment an object is reachable with a zero count is its own teardown (a table entry
// not yet removed); a lookup then must not revive it.
class Probe : public RefCounted {
public:
    explicit Probe(bool *revived) : revived_(revived) {}
    ~Probe() override
    {
        *count_seen_ = refcount();
        *revived_ = get_unless_zero();
    }
    bool *revived_;
    uint32_t *count_seen_ = nullptr;
};

TEST(RefCounted, GetUnlessZeroOnZeroCountIsFalse)
{
    bool revived = true;
    uint32_t count_seen = 99;
    auto p = make_ref<Probe>(&revived);
    p->count_seen_ = &count_seen;
    p = nullptr;
    EXPECT_EQ(count_seen, 0u);
    EXPECT_FALSE(revived);
}

constexpr int kThreads = 8;
constexpr int kIterations = 20000;

TEST(RefCounted, ConcurrentGetPut)
{
    std::atomic<int> destroyed = 0;
    auto shared = make_ref<Obj>(&destroyed);
    std::barrier start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            start.arrive_and_wait();
            for (int i = 0; i < kIterations; ++i) {
                switch ((i + t) % 3) {
                case 0: {
                    RefPtr<Obj> copy = shared;
                    RefPtr<Obj> moved = std::move(copy);
                    break;
                }
                case 1: {
                    auto s = RefPtr<Obj>::share(shared.get());
                    break;
                }
                default:
                    if (shared->get_unless_zero())
                        shared->put();
                    else
                        ADD_FAILURE() << "live object looked dead";
                    break;
                }
            }
        });
    for (auto &t : threads)
        t.join();
    EXPECT_EQ(shared->refcount(), 1u);
    EXPECT_EQ(destroyed, 0);
    shared = nullptr;
    EXPECT_EQ(destroyed, 1);
}

TEST(RefCounted, ConcurrentLastPutDestroysOnce)
{
    for (int round = 0; round < 200; ++round) {
        std::atomic<int> destroyed = 0;
        std::vector<RefPtr<Obj>> refs(kThreads);
        refs[0] = make_ref<Obj>(&destroyed, round);
        for (int t = 1; t < kThreads; ++t)
            refs[t] = refs[0];
        std::barrier start(kThreads);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&, t] {
                RefPtr<Obj> mine = std::move(refs[t]);
                start.arrive_and_wait();
                EXPECT_EQ(mine->value, round);
                mine = nullptr;
            });
        for (auto &t : threads)
            t.join();
        ASSERT_EQ(destroyed, 1) << "round " << round;
    }
}

// A table that holds no reference: lookups use get_unless_zero and the destructor unlinks the
// entry, like a kernel idr of objects whose release removes them.
class Entry;
struct Table {
    std::mutex lock;
    Entry *entry = nullptr;
};

class Entry : public RefCounted {
public:
    Entry(Table *table, std::atomic<int> *destroyed) : table_(table), destroyed_(destroyed) {}
    ~Entry() override
    {
        std::lock_guard g(table_->lock);
        table_->entry = nullptr;
        destroyed_->fetch_add(1);
    }
    int payload = 1234;

private:
    Table *table_;
    std::atomic<int> *destroyed_;
};

RefPtr<Entry> lookup(Table &table)
{
    std::lock_guard g(table.lock);
    if (table.entry && table.entry->get_unless_zero())
        return RefPtr<Entry>::adopt(table.entry);
    return nullptr;
}

TEST(RefCounted, LookupRacesWithRelease)
{
    for (int round = 0; round < 100; ++round) {
        Table table;
        std::atomic<int> destroyed = 0;
        auto owner = make_ref<Entry>(&table, &destroyed);
        {
            std::lock_guard g(table.lock);
            table.entry = owner.get();
        }
        std::atomic<bool> stop = false;
        std::atomic<int> hits = 0;
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&] {
                while (!stop.load()) {
                    auto e = lookup(table);
                    if (!e)
                        break;
                    EXPECT_EQ(e->payload, 1234);
                    hits.fetch_add(1);
                }
            });
        // Let the lookups run for a bit; the test holds either way.
        while (hits.load() < 50)
            std::this_thread::yield();
        owner = nullptr;
        stop = true;
        for (auto &t : threads)
            t.join();
        EXPECT_EQ(destroyed, 1);
        EXPECT_EQ(table.entry, nullptr);
    }
}

} // namespace
