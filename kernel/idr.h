// SPDX-License-Identifier: GPL-2.0-only
// Idr<T>: an integer-handle allocator mapping ids to values, like the kernel's idr.
// Not locked: its owner serialises access (see Locked<T>).
#pragma once

#include "kernel/printk.h"
#include "kernel/result.h"

#include <cerrno>
#include <cstdint>
#include <map>
#include <optional>

namespace kernel {

template <typename T> class Idr {
public:
    // Allocates the lowest free id in [start, end) (end == 0: up to UINT32_MAX); -ENOSPC when
    // the range is full. An id is never handed out twice while it is allocated.
    ErrorOr<uint32_t> alloc(T value, uint32_t start, uint32_t end = 0)
    {
        return alloc_from(std::move(value), start, start, end, false);
    }

    // Like alloc, but starts searching after the last id handed out and wraps, so a freed id
    // is reused as late as possible (idr_alloc_cyclic).
    ErrorOr<uint32_t> alloc_cyclic(T value, uint32_t start, uint32_t end = 0)
    {
        uint32_t hint = next_ < start ? start : next_;
        return alloc_from(std::move(value), hint, start, end, true);
    }

    // Where alloc_cyclic() looks first (idr_set_cursor).
    void set_cursor(uint32_t next) { next_ = next; }

    T *find(uint32_t id)
    {
        auto it = map_.find(id);
        return it == map_.end() ? nullptr : &it->second;
    }
    const T *find(uint32_t id) const
    {
        auto it = map_.find(id);
        return it == map_.end() ? nullptr : &it->second;
    }

    // Removes id and returns its value; -ENOENT when it is not allocated.
    ErrorOr<T> remove(uint32_t id)
    {
        auto it = map_.find(id);
        if (it == map_.end())
            return Error(-ENOENT);
        T value = std::move(it->second);
        map_.erase(it);
        return value;
    }

    size_t size() const { return map_.size(); }
    bool empty() const { return map_.empty(); }
    template <typename F> void for_each(F &&f)
    {
        for (auto &[id, v] : map_)
            f(id, v);
    }
    // Moves every entry out, leaving the idr empty (for teardown outside the owner's lock).
    std::map<uint32_t, T> take_all() { return std::exchange(map_, {}); }

private:
    // Only cyclic allocation moves the cursor, so mixing alloc() and alloc_cyclic() keeps
    // alloc_cyclic()'s promise of late reuse.
    ErrorOr<uint32_t> alloc_from(T value, uint32_t hint, uint32_t start, uint32_t end,
                                 bool cyclic)
    {
        uint64_t limit = end == 0 ? uint64_t(UINT32_MAX) + 1 : end;
        if (start >= limit)
            return Error(-EINVAL);
        auto id = first_free(hint, limit);
        if (!id && hint != start)
            id = first_free(start, limit);
        if (!id)
            return REJECT(-ENOSPC, "every id in [%u, %llu) is taken", start,
                          (unsigned long long)limit);
        map_.emplace(uint32_t(*id), std::move(value));
        if (cyclic)
            next_ = *id + 1 >= limit ? start : uint32_t(*id + 1);
        return uint32_t(*id);
    }

    // Lowest id in [from, limit) not in the map: walk the run of used ids starting at from.
    std::optional<uint64_t> first_free(uint64_t from, uint64_t limit) const
    {
        uint64_t id = from;
        for (auto it = map_.lower_bound(uint32_t(from)); it != map_.end() && it->first == id;
             ++it)
            ++id;
        if (id >= limit)
            return std::nullopt;
        return id;
    }

    std::map<uint32_t, T> map_;
    uint32_t next_ = 0;
};

} // namespace kernel
