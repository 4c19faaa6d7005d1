#include "gatehouse/io/deadline.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

using namespace gatehouse::io;
namespace asio = boost::asio;

TEST(DeadlineList, SweepCancelsOnlyExpiredWatches) {
    asio::io_context ctx;
    asio::ip::tcp::socket a(ctx), b(ctx);
    deadline_list list;
    deadline_watch wa, wb;
    list.add(wa);
    list.add(wb);
    EXPECT_EQ(list.size(), 2u);
    auto now = clock::now();
    wa.arm(a, now - std::chrono::milliseconds(1));
    wb.arm(b, now + std::chrono::seconds(10));
    list.sweep(now);
    EXPECT_TRUE(wa.expired());
    EXPECT_FALSE(wb.expired());
    wa.arm(a, now + std::chrono::seconds(1));  // re-arming clears the flag
    EXPECT_FALSE(wa.expired());
    wb.disarm();
    list.sweep(now + std::chrono::hours(1));
    EXPECT_TRUE(wa.expired());
    EXPECT_FALSE(wb.expired());  // disarmed watches never fire
}

TEST(DeadlineList, WatchesLeaveTheListWhenDestroyed) {
    deadline_list list;
    {
        deadline_watch w;
        list.add(w);
        list.add(w);  // adding twice is harmless
        EXPECT_EQ(list.size(), 1u);
    }
    EXPECT_EQ(list.size(), 0u);
    deadline_watch kept;
    list.add(kept);
    list.remove(kept);
    list.remove(kept);
    EXPECT_EQ(list.size(), 0u);
}
