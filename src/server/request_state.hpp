#pragma once
// Per-request state of a client connection (connection.cpp) and its relay (relay.cpp).
#include <array>
#include <cstddef>
#include <memory_resource>
#include <optional>
#include <string>
#include <vector>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "gatehouse/filters/context.hpp"
#include "gatehouse/http/check_request.hpp"
#include "gatehouse/http/field_rules.hpp"
#include "gatehouse/http/local_reply.hpp"
#include "gatehouse/http/request_head_reader.hpp"
#include "gatehouse/http/response_head.hpp"
#include "gatehouse/http/wire.hpp"
#include "gatehouse/io/block_cache.hpp"
#include "gatehouse/io/deadline.hpp"
#include "gatehouse/router/route_table.hpp"
#include "gatehouse/server/generation.hpp"

namespace gatehouse::server {

using http::request_parser;

// Lookup of a message's fields by name, as the router (header matches) and filters see them.
class fields_lookup final : public router::header_source, public filters::field_view {
public:
    explicit fields_lookup(const http::fields& fields) : fields_(fields) {}
    std::optional<std::string_view> find(std::string_view name) const override { return first(name); }
    std::optional<std::string_view> get(std::string_view name) const override { return first(name); }
    std::optional<std::string_view> get_list(std::string_view name, std::pmr::string& scratch) const override {
        auto [it, end] = fields_.equal_range(name);
        if (it == end) {
            return std::nullopt;
        }
        if (std::next(it) == end) {
            return it->value();
        }
        scratch.clear();
        for (; it != end; ++it) {
            if (!scratch.empty()) scratch += ", ";
            scratch += it->value();
        }
        return std::string_view(scratch);
    }
    std::size_t count(std::string_view name) const override { return fields_.count(name); }

private:
    std::optional<std::string_view> first(std::string_view name) const {
        auto it = fields_.find(name);
        if (it == fields_.end()) {
            return std::nullopt;
        }
        return it->value();
    }
    const http::fields& fields_;
};

// The same over a parsed upstream response head (for response filters).
class response_fields final : public filters::field_view {
public:
    explicit response_fields(const http::response_head& head) : head_(head) {}
    std::optional<std::string_view> get(std::string_view name) const override { return head_.find(name); }
    std::optional<std::string_view> get_list(std::string_view name, std::pmr::string& scratch) const override {
        std::optional<std::string_view> single;
        std::size_t lines = 0;
        scratch.clear();
        for (const auto& field : head_.fields()) {
            if (!http::iequals(field.name, name)) continue;
            if (++lines == 1) {
                single = field.value;
            } else {
                if (lines == 2) scratch = *single;
                scratch += ", ";
                scratch += field.value;
            }
        }
        return lines > 1 ? std::optional<std::string_view>(scratch) : single;
    }
    std::size_t count(std::string_view name) const override {
        std::size_t lines = 0;
        for (const auto& field : head_.fields()) lines += http::iequals(field.name, name) ? 1 : 0;
        return lines;
    }

private:
    const http::response_head& head_;
};

// Per-request arena: header fields and head strings are bump-allocated here and released
// together when the request ends, instead of a malloc and free for each. A base, so that it
// exists before the request facts whose strings live in it.
struct request_arena {
    alignas(std::max_align_t) std::array<std::byte, 4096> arena_storage;
    std::pmr::monotonic_buffer_resource arena{arena_storage.data(), arena_storage.size()};
    std::pmr::polymorphic_allocator<char> allocator{&arena};
};

// The facts check_request establishes (version, framing, target, host, ...) are its base.
struct request_state : request_arena, http::request_facts {
    request_state() : http::request_facts(allocator) {}

    request_parser parser{std::piecewise_construct, std::make_tuple(), std::make_tuple(allocator)};
    filters::request_context ctx{allocator};      // what filters see; holds the request id
    generation* gen = nullptr;                    // the config this request runs on
    const filter_chain* chain = nullptr;          // the route's filters, or the defaults before routing
    filters::exchange_log log;                    // filled as the exchange goes
    std::chrono::steady_clock::time_point begin;  // precise, for durations
    bool response_started = false;                // a response head reached the client
    std::optional<fields_lookup> headers_view;    // over parser.get(): route matching and ctx.headers
    http::request_head_reader head_reader;
    bool from_trusted_proxy = false;  // the peer is in server.trusted_proxies
    const router::route* route = nullptr;
    std::uint64_t max_body = 0;
    clock::time_point started;
    std::optional<std::chrono::nanoseconds> handshake_duration;          // an upgrade's: the route's latency
    std::uint64_t tunnel_bytes_in = 0;                                   // what the client sent through its tunnel
    std::pmr::vector<filters::backend_call_log> backend_log{allocator};  // an aggregate's calls
};

// A request_state built in a block of the worker's cache and destroyed when the request ends:
// it stays out of the coroutine frame, whose allocation would otherwise be a 5 KiB malloc.
class request_lease {
public:
    explicit request_lease(io::block_cache& cache) : cache_(cache), state_(new (cache.take()) request_state) {}
    ~request_lease() {
        state_->~request_state();
        cache_.give(state_);
    }
    request_lease(const request_lease&) = delete;
    request_lease& operator=(const request_lease&) = delete;

    request_state& operator*() const { return *state_; }

private:
    io::block_cache& cache_;
    request_state* state_;
};

}  // namespace gatehouse::server
