#pragma once
// A Beast client over OpenSSL for the TLS tests: requests in a loop, on new or kept-alive
// connections, counting what failed and which certificates the server showed.
#include <atomic>
#include <cstdint>
#include <set>
#include <string>

namespace harness {

struct https_load_result {
    int ok = 0;      // 200 responses
    int failed = 0;  // anything else: a failed handshake, a broken connection, another status
    std::string last_error;
    std::set<std::string> serials;  // of the server certificates seen (hex)
    int resumed = 0;                // handshakes that resumed a session
    int handshakes = 0;
};

struct https_load_options {
    std::uint16_t port = 0;
    std::string server_name;  // SNI and the name verified
    std::string ca_file;      // trusted
    bool keep_alive = true;   // else a new connection (resuming the last session) per request
    bool resume = true;       // offer the last session on a new connection
    bool tls13 = true;        // else TLS 1.2 only
    std::string path = "/";
};

// Requests until stop is set (at least one).
void https_load(const https_load_options& options, const std::atomic<bool>& stop, https_load_result& out);

}  // namespace harness
