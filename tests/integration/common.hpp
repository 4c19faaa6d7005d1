#pragma once
#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace harness {

// A one-upstream config listening on 127.0.0.1:0. extra_server and route_extra are YAML
// fragments indented to fit under "server:" and the route.
inline std::string one_route_config(std::uint16_t upstream_port, const std::string& extra_server = "",
                                    const std::string& route_extra = "", const std::string& upstream_extra = "") {
    return "server:\n  listen: \"127.0.0.1:0\"\n  workers: 1\n" + extra_server +
           "logging: { level: info }\n"
           "upstreams:\n  app:\n    endpoints: [\"127.0.0.1:" +
           std::to_string(upstream_port) + "\"]\n" + upstream_extra + "routes:\n  - name: app\n    upstream: app\n" +
           route_extra;
}

// The parts of an echo JSON body the tests look at.
inline std::string echoed_header(const response& r, const std::string& name) {
    auto headers = r.body.substr(r.body.find("\"headers\":"));
    return json_field(headers, name);
}

inline bool echo_has_header(const response& r, const std::string& name) {
    auto headers =
        r.body.substr(r.body.find("\"headers\":"), r.body.find("},\"body_bytes\"") - r.body.find("\"headers\":"));
    return headers.find("\"" + name + "\":") != std::string::npos;
}

// The admin /metrics page once it contains every one of texts (a request is counted just after
// its response is written, so a client can be a moment ahead); the last page read otherwise.
inline std::string wait_for_metrics(std::uint16_t admin_port, std::initializer_list<std::string> texts,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::string page;
    eventually(
        [&] {
            auto r = request(admin_port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            page = r ? r->body : "";
            return std::all_of(texts.begin(), texts.end(),
                               [&](const std::string& t) { return page.find(t) != std::string::npos; });
        },
        timeout, 20ms);
    return page;
}

// Polls file until it has at least lines lines (bounded); returns its lines.
inline std::vector<std::string> wait_for_lines(const std::string& file, std::size_t lines,
                                               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::vector<std::string> out;
    eventually(
        [&] {
            out.clear();
            std::ifstream in(file);
            for (std::string line; std::getline(in, line);) {
                if (!line.empty()) out.push_back(line);
            }
            return out.size() >= lines;
        },
        timeout, std::chrono::milliseconds(20));
    return out;
}

}  // namespace harness
