// Replies from a Redis server (or anything answering on its port): hiredis's RESP reader, as
// the client feeds it, then the rate limiter's reading of its script's reply.
#include <cstdint>
#include <cstdlib>

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include "gatehouse/redis/client.hpp"
#include "rate_limit/rate_limit.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t limits = 1 + data[0] % 4;
    redisReader* reader = gatehouse::redis::create_reader();  // as the client reads replies
    if (redisReaderFeed(reader, reinterpret_cast<const char*>(data + 1), size - 1) == REDIS_OK) {
        for (int i = 0; i < 64; ++i) {
            void* raw = nullptr;
            if (redisReaderGetReply(reader, &raw) != REDIS_OK || !raw) break;
            auto* reply = static_cast<redisReply*>(raw);
            if (auto d = gatehouse::filters::rate_limit::decision_from(*reply, limits)) {
                if (d->tightest >= limits) std::abort();
            }
            freeReplyObject(reply);
        }
    }
    redisReaderFree(reader);
    return 0;
}
