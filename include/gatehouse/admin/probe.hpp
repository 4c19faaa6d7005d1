#pragma once
// `gatehouse --health-check [URL]`: the container HEALTHCHECK without curl in the image. GETs
// the URL (default http://127.0.0.1:9901/healthz) and reports whether it answered 2xx in time.
#include <chrono>
#include <string>
#include <string_view>

namespace gatehouse::admin {

// 0 if url answered 2xx within timeout; 1 otherwise, with the reason in error.
int probe(std::string_view url, std::chrono::milliseconds timeout, std::string& error);

}  // namespace gatehouse::admin
