// SPDX-License-Identifier: GPL-2.0-only
#include "kernel/devcoredump.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kernel {

// Time is checked whenever the store is used: an expired dump is never seen, and it is freed
// at the latest by the next add, so the limit holds without a timer thread.
void DevCoredumps::expire()
{
    Clock::time_point now = Clock::now();
    for (auto it = dumps_.begin(); it != dumps_.end();) {
        if (it->second.expires <= now) {
            bytes_ -= it->second.data.size();
            it = dumps_.erase(it);
        } else {
            ++it;
        }
    }
}

ErrorOr<unsigned> DevCoredumps::add(const void *dev, std::vector<uint8_t> data)
{
    std::lock_guard lk(lock_);
    expire();
    if (data.empty())
        return Error(-EINVAL);
    for (auto &[id, e] : dumps_)
        if (e.dev == dev)
            return Error(-EBUSY);
    if (data.size() > max_bytes_ - bytes_)
        return Error(-ENOSPC);
    unsigned id = next_id_;
    uint64_t size = data.size();
    try {
        dumps_.emplace(id, Entry{dev, std::move(data), Clock::now() + timeout_});
    } catch (const std::bad_alloc &) {
        return Error(-ENOMEM);
    }
    ++next_id_;
    bytes_ += size;
    return id;
}

ErrorOr<CoredumpInfo> DevCoredumps::find(const void *dev)
{
    std::lock_guard lk(lock_);
    expire();
    for (auto &[id, e] : dumps_)
        if (e.dev == dev)
            return CoredumpInfo{id, e.data.size()};
    return Error(-ENOENT);
}

ErrorOr<size_t> DevCoredumps::read(unsigned id, uint64_t off, std::span<uint8_t> out)
{
    std::lock_guard lk(lock_);
    expire();
    auto it = dumps_.find(id);
    if (it == dumps_.end())
        return Error(-ENOENT);
    const std::vector<uint8_t> &d = it->second.data;
    if (off >= d.size())
        return size_t(0);
    size_t n = size_t(std::min<uint64_t>(out.size(), d.size() - off));
    std::memcpy(out.data(), d.data() + off, n);
    return n;
}

ErrorOr<std::vector<uint8_t>> DevCoredumps::take(const void *dev)
{
    std::lock_guard lk(lock_);
    expire();
    for (auto it = dumps_.begin(); it != dumps_.end(); ++it) {
        if (it->second.dev == dev) {
            std::vector<uint8_t> data = std::move(it->second.data);
            bytes_ -= data.size();
            dumps_.erase(it);
            return data;
        }
    }
    return Error(-ENOENT);
}

void DevCoredumps::dismiss(unsigned id)
{
    std::vector<uint8_t> gone;
    std::lock_guard lk(lock_);
    if (auto it = dumps_.find(id); it != dumps_.end()) {
        bytes_ -= it->second.data.size();
        gone = std::move(it->second.data);
        dumps_.erase(it);
    }
}

void DevCoredumps::remove_device(const void *dev)
{
    std::lock_guard lk(lock_);
    for (auto it = dumps_.begin(); it != dumps_.end();) {
        if (it->second.dev == dev) {
            bytes_ -= it->second.data.size();
            it = dumps_.erase(it);
        } else {
            ++it;
        }
    }
}

uint64_t DevCoredumps::bytes()
{
    std::lock_guard lk(lock_);
    expire();
    return bytes_;
}

void DevCoredumps::set_timeout(std::chrono::milliseconds timeout)
{
    std::lock_guard lk(lock_);
    timeout_ = timeout;
}

DevCoredumps &devcoredumps()
{
    // Never destroyed: devices torn down by static destructors at exit (the embedded host's
    // machine) still remove their dumps from it.
    static DevCoredumps *store = new DevCoredumps;
    return *store;
}

} // namespace kernel
