#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "gatehouse/redis/client.hpp"

namespace {

struct read_result {
    bool ok;
    int type = 0;
    std::size_t elements = 0;
};

read_result read_one(const std::string& bytes) {
    std::unique_ptr<redisReader, void (*)(redisReader*)> reader(gatehouse::redis::create_reader(), redisReaderFree);
    if (redisReaderFeed(reader.get(), bytes.data(), bytes.size()) != REDIS_OK) return {false};
    void* raw = nullptr;
    if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) return {false};
    std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw), freeReplyObject);
    return {true, reply ? reply->type : -1, reply ? reply->elements : 0};
}

}  // namespace

// Found by fuzz_redis_reply: an array header of 888888888 elements made hiredis allocate 7 GB
// before a single element arrived. A server (or whatever answers on its port) must not be able
// to make a worker do that.
TEST(RedisReader, AnArrayHeaderAboveTheLimitFailsInsteadOfAllocating) {
    EXPECT_FALSE(read_one("*888888888\r\n").ok);
    EXPECT_FALSE(read_one("*" + std::to_string(gatehouse::redis::max_reply_elements + 1) + "\r\n").ok);
}

TEST(RedisReader, OrdinaryRepliesStillParse) {
    auto five = read_one("*5\r\n:1\r\n:0\r\n:9\r\n:1000\r\n:0\r\n");
    EXPECT_TRUE(five.ok);
    EXPECT_EQ(five.type, REDIS_REPLY_ARRAY);
    EXPECT_EQ(five.elements, 5u);
    EXPECT_TRUE(read_one("*-1\r\n").ok);  // a nil array
    EXPECT_EQ(read_one("+OK\r\n").type, REDIS_REPLY_STATUS);
    EXPECT_EQ(read_one("-NOSCRIPT x\r\n").type, REDIS_REPLY_ERROR);
}
