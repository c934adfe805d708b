// SPDX-License-Identifier: GPL-2.0-only
// main() of every test binary: GoogleTest with its results printed as KTAP, the kselftest
// format (TAP version 13, 1..N, ok / not ok N name, # SKIP reason, # Totals).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace {

class KtapPrinter : public testing::EmptyTestEventListener {
    void OnTestProgramStart(const testing::UnitTest &unit) override
    {
        std::printf("TAP version 13\n1..%d\n", unit.test_to_run_count());
        std::fflush(stdout);
    }

    void OnTestStart(const testing::TestInfo &) override { skip_reason_.clear(); }

    void OnTestPartResult(const testing::TestPartResult &r) override
    {
        if (r.skipped()) {
            skip_reason_ = r.message();
            return;
        }
        if (!r.failed())
            return;
        // Diagnostics are comment lines, one per line of the message.
        std::printf("# %s:%d: Failure\n", r.file_name() ? r.file_name() : "?", r.line_number());
        std::string msg = r.message();
        size_t pos = 0;
        while (pos <= msg.size()) {
            size_t nl = msg.find('\n', pos);
            if (nl == std::string::npos)
                nl = msg.size();
            std::printf("#   %s\n", msg.substr(pos, nl - pos).c_str());
            pos = nl + 1;
        }
    }

    void OnTestEnd(const testing::TestInfo &info) override
    {
        ++n_;
        std::string name = std::string(info.test_suite_name()) + "." + info.name();
        const testing::TestResult *r = info.result();
        if (r->Skipped()) {
            ++skip_;
            std::string reason = skip_reason_;
            for (char &c : reason)
                if (c == '\n')
                    c = ' ';
            std::printf("ok %d %s # SKIP %s\n", n_, name.c_str(), reason.c_str());
        } else if (r->Failed()) {
            ++fail_;
            std::printf("not ok %d %s\n", n_, name.c_str());
        } else {
            ++pass_;
            std::printf("ok %d %s\n", n_, name.c_str());
        }
        std::fflush(stdout);
    }

    void OnTestProgramEnd(const testing::UnitTest &) override
    {
        std::printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n", pass_, fail_,
                    skip_);
        std::fflush(stdout);
    }

    int n_ = 0, pass_ = 0, fail_ = 0, skip_ = 0;
    std::string skip_reason_;
};

} // namespace

int main(int argc, char **argv)
{
    testing::InitGoogleTest(&argc, argv);
    testing::TestEventListeners &listeners = testing::UnitTest::GetInstance()->listeners();
    if (!testing::GTEST_FLAG(list_tests)) {
        delete listeners.Release(listeners.default_result_printer());
        listeners.Append(new KtapPrinter);
    }
    return RUN_ALL_TESTS();
}
