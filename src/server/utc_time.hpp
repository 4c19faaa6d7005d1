#pragma once
// Wall-clock times as the admin pages write them: "2026-12-05T12:50:01Z". Private to src/server.
#include <chrono>
#include <ctime>
#include <string>

namespace gatehouse::server {

inline std::string utc_time(std::chrono::system_clock::time_point t) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char text[32];
    const auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return {text, n};
}

}  // namespace gatehouse::server
