// The Redis backend's script (GCRA over every limit of a key in one call) and its reply.
#include <cstdio>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "rate_limit.hpp"

namespace gatehouse::filters::rate_limit {

namespace {

// GCRA over every limit of one key. KEYS[i]: limit i's "theoretical arrival time" in microseconds
// of Redis's clock; ARGV[2i-1]: its emission interval (us); ARGV[2i]: its burst. Charges every
// limit or none, so a refused request takes no token. A key expires when its bucket is whole.
// Returns {allowed, tightest limit (0-based), remaining, reset_us, retry_after_us}.
constexpr const char* gcra_script = R"lua(local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local allowed, tightest, remaining, reset, retry = 1, 0, 0, 0, 0
local best = nil
local tats = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local window = interval * tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  tats[i] = tat + interval
  if tats[i] - now > window then
    local wait = tats[i] - now - window
    if allowed == 1 or wait > retry then
      retry, tightest, reset = wait, i - 1, tat - now
    end
    allowed, remaining = 0, 0
  elseif allowed == 1 then
    local left = (window - (tats[i] - now)) / interval
    if best == nil or left < best then
      best, tightest, remaining, reset = left, i - 1, math.floor(left), tats[i] - now
    end
  end
end
if allowed == 1 then
  for i = 1, #KEYS do
    local ttl = math.max(1, math.ceil((tats[i] - now) / 1000))
    redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', string.format('%.0f', ttl))
  end
end
return {allowed, tightest, remaining, reset, retry}
)lua";

std::string sha1_hex(std::string_view text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr);
    std::string hex;
    for (unsigned i = 0; i < length; ++i) {
        char b[3];
        std::snprintf(b, sizeof b, "%02x", digest[i]);
        hex += b;
    }
    return hex;
}

}  // namespace

std::optional<decision> decision_from(const redisReply& r, std::size_t limits) {
    if (r.type != REDIS_REPLY_ARRAY || r.elements != 5) return std::nullopt;
    long long v[5];
    for (std::size_t i = 0; i < 5; ++i) {
        if (r.element[i]->type != REDIS_REPLY_INTEGER) return std::nullopt;
        v[i] = r.element[i]->integer;
    }
    if (v[1] < 0 || static_cast<std::size_t>(v[1]) >= limits || v[2] < 0) return std::nullopt;
    decision d;
    d.allowed = v[0] == 1;
    d.tightest = static_cast<std::size_t>(v[1]);
    d.remaining = static_cast<std::uint64_t>(v[2]);
    d.reset = std::chrono::microseconds(std::max(0LL, v[3]));
    d.retry_after = std::chrono::microseconds(std::max(0LL, v[4]));
    return d;
}

const std::string& redis_script() {
    static const std::string script = gcra_script;
    return script;
}

const std::string& redis_script_sha1() {
    static const std::string sha = sha1_hex(redis_script());
    return sha;
}

}  // namespace gatehouse::filters::rate_limit
