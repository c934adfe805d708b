// SPDX-License-Identifier: GPL-2.0-only
// The fuzz targets' argument memory (fuzz/harness.h): each bad place stays bad for the whole run.
#include "fuzz/harness.h"

#include <cerrno>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

namespace {

using fuzz::kPage;

// Nothing else may be mapped where the guard is. An unmapped guard page was a hole that the
// next mmap of any thread could fill: a GEM_CLOSE given the guard then read a handle from what
// was put there and closed it (uapi_fuzz, session 18).
TEST(FuzzArena, TheGuardPageStaysReserved)
{
    fuzz::Arena &a = fuzz::arena();
    void *p = mmap(a.guard, kPage, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    int err = errno;
    EXPECT_EQ(p, MAP_FAILED) << "a page could be mapped at the guard's address";
    EXPECT_EQ(err, EEXIST);
    if (p != MAP_FAILED)
        munmap(p, kPage);
}

// The kernel copies from and to them as a driver's user copy does: EFAULT where it may not.
TEST(FuzzArena, EachPlaceFaultsWhereItShould)
{
    fuzz::Arena &a = fuzz::arena();
    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    int zero = open("/dev/zero", O_RDONLY);
    ASSERT_GE(zero, 0);
    auto copy_from = [&](const uint8_t *p) { return write(pipe_fds[1], p, 1) == 1 ? 0 : errno; };
    auto copy_to = [&](uint8_t *p) { return read(zero, p, 1) == 1 ? 0 : errno; };
    EXPECT_EQ(copy_from(a.rw), 0);
    EXPECT_EQ(copy_to(a.rw), 0);
    EXPECT_EQ(copy_from(a.ro), 0);
    EXPECT_EQ(copy_to(a.ro), EFAULT);
    EXPECT_EQ(copy_from(a.guard), EFAULT);
    EXPECT_EQ(copy_to(a.guard), EFAULT);
    close(zero);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}

} // namespace
