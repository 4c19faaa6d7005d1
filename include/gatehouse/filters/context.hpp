#pragma once
// What filters see of one request, its response and its outcome. Everything lives in the
// request's arena and is valid until the request ends; nothing here depends on Beast.
#include <chrono>
#include <cstdint>
#include <memory_resource>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/http/local_reply.hpp"

namespace gatehouse::common {
struct peer_certificate;
}

namespace gatehouse::filters {

// Edits to a head, applied while it is serialised (after the route's own edits): set replaces
// every field of that name, add appends one, remove drops every field of that name.
class head_edits {
public:
    enum class op { set, add, remove };
    struct edit {
        op kind;
        std::pmr::string name;
        std::pmr::string value;
    };

    explicit head_edits(std::pmr::polymorphic_allocator<char> allocator) : edits_(allocator) {}

    void set(std::string_view name, std::string_view value);
    void add(std::string_view name, std::string_view value);
    void remove(std::string_view name);

    // True if the original fields named name must be dropped (a set or remove edit names it).
    bool replaces(std::string_view name) const;
    // The set and add edits still in effect, in order (a later set or remove cancels earlier ones).
    template <typename F>
    void for_each_field(F&& f) const {
        for (std::size_t i = 0; i < edits_.size(); ++i) {
            const auto& e = edits_[i];
            if (e.kind != op::remove && !overridden_after(i)) {
                f(std::string_view(e.name), std::string_view(e.value));
            }
        }
    }
    bool empty() const { return edits_.empty(); }

private:
    bool overridden_after(std::size_t i) const;
    std::pmr::vector<edit> edits_;
};

// Read access to a set of header fields (the request's or a response's).
class field_view {
public:
    virtual ~field_view() = default;
    // The first value of the field named name (case-insensitive), or nullopt. For a field
    // that is a list, or that must appear once, use get_list or count: a client can send
    // several lines of one field, and the upstream may read another line than this one.
    virtual std::optional<std::string_view> get(std::string_view name) const = 0;
    // All lines of the field named name as one comma-separated list (RFC 9110 section 5.3):
    // the value itself when one line carries it, else the lines joined into scratch.
    virtual std::optional<std::string_view> get_list(std::string_view name, std::pmr::string& /*scratch*/) const {
        return get(name);
    }
    // How many lines carry the field named name.
    virtual std::size_t count(std::string_view name) const { return get(name) ? 1 : 0; }
};

struct request_context {
    explicit request_context(std::pmr::polymorphic_allocator<char> allocator)
        : request_id(allocator),
          trace_id(allocator),
          span_id(allocator),
          consumer(allocator),
          upstream_edits(allocator),
          response_edits(allocator),
          answer_reason(allocator) {}

    // --- the request as received (read-only for filters) ---
    std::string_view method;
    std::string_view target;           // origin-form, its path normalised (http/path.hpp), query as received
    std::string_view path;             // target without the query: what routing matched
    std::string_view host;             // normalised (lower case, no trailing dot)
    std::string_view scheme = "http";  // "https" on a TLS listener
    // The client's verified TLS certificate (a listener with client_auth); null without one.
    const common::peer_certificate* client_certificate = nullptr;
    std::string_view client_ip;
    std::uint16_t client_port = 0;
    unsigned version = 11;        // 10 or 11
    std::string_view route_name;  // empty when no route matched
    const field_view* headers = nullptr;

    // --- identity, set by the gateway and by filters ---
    std::pmr::string request_id;  // always set before the first filter runs
    std::pmr::string trace_id;    // W3C trace id (32 hex digits); empty when not traced
    std::pmr::string span_id;     // the span id this hop sent upstream in traceparent
    std::pmr::string consumer;    // who the caller is, once authenticated (api key name, JWT subject)

    // --- what filters change ---
    head_edits upstream_edits;  // fields of the request sent upstream
    head_edits response_edits;  // fields of the response sent to the client
    // A different origin-form target to send upstream (e.g. without a credential parameter);
    // the route's prefix rewrite still applies to it.
    std::optional<std::pmr::string> upstream_target;

    // --- answering ---
    std::optional<http::local_reply> reply;  // set by a filter that returns respond
    std::string_view answered_by;            // set by the chain: the instance that answered
    std::pmr::string answer_reason;          // why, for the log and metrics ("missing_key")

    // Replaces the client address (a filter that found the real client behind trusted proxies).
    void set_client_ip(std::string_view address) {
        client_ip_storage.assign(address.data(), address.size());
        client_ip = client_ip_storage;
    }
    std::pmr::string client_ip_storage{request_id.get_allocator()};

    // The request field named name, or nullopt (convenience over headers).
    std::optional<std::string_view> header(std::string_view name) const {
        return headers ? headers->get(name) : std::nullopt;
    }
    // Every line of a list-valued request field as one list (field_view::get_list).
    std::optional<std::string_view> header_list(std::string_view name, std::pmr::string& scratch) const {
        return headers ? headers->get_list(name, scratch) : std::nullopt;
    }
    std::size_t header_count(std::string_view name) const { return headers ? headers->count(name) : 0; }
};

// A response head about to be sent to the client.
struct response_view {
    unsigned status = 0;
    bool local = false;                   // the gateway's own reply (error, refusal, filter answer)
    const field_view* headers = nullptr;  // the upstream's fields; null for local replies
};

// One backend call of an aggregate route, for on_log.
struct backend_call_log {
    std::string_view name;
    unsigned status = 0;  // 0: no response came
    std::chrono::nanoseconds duration{};
    std::string_view failure;  // empty when it answered usefully
    bool called = false;       // false: never started (a dependency failed, the time was up)
};

// The outcome of one exchange, for on_log.
struct exchange_log {
    unsigned status = 0;                          // sent to the client; 499 if the client left before a response
    bool client_aborted = false;                  // the client closed before the response was complete
    std::uint64_t bytes_in = 0;                   // received from the client: head and body
    std::uint64_t bytes_out = 0;                  // sent to the client: head and body
    std::chrono::system_clock::time_point start;  // wall clock, when the head started to arrive
    std::chrono::nanoseconds duration{};          // until the last response byte was sent
    std::optional<std::chrono::nanoseconds> upstream_duration;  // request sent to response complete
    std::string_view upstream;                                  // endpoint label ("10.0.0.7:8080"); empty if none
    std::uint32_t tries = 0;                                    // tries at the upstream (retries + 1), 0 if none
    std::span<const std::string_view> tried;                    // their endpoints, in order
    std::string_view error;                      // the local reply's error code when the gateway answered
    std::span<const backend_call_log> backends;  // an aggregate route's calls, in config order
};

}  // namespace gatehouse::filters
