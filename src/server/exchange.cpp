// The upstream half of a request: choose an endpoint, take a pooled connection (or connect,
// trying other endpoints on failure), send the head and stream the body, read the response
// head (1xx handled), then stream the response body back. Bodies pass through one buffer at a
// time without being copied; chunked bodies are validated as they pass.
#include <array>
#include <optional>
#include <span>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <spdlog/spdlog.h>

#include "asio_internals/reactor_hints.hpp"
#include "gatehouse/http/chunked.hpp"
#include "gatehouse/http/wire.hpp"
#include "gatehouse/server/client_connection.hpp"
#include "gatehouse/server/worker.hpp"
#include "io.hpp"
#include "request_state.hpp"

namespace gatehouse::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr int max_informational = 8;

// Connection-nominated fields (RFC 9110 section 7.6.1), collected once per message from every
// Connection line as views into the message: then one comparison per nominated name for each
// field. Framing and Host are never removed this way: the gateway sets them itself.
class nominated_fields {
public:
    // False when the message names more than max_connection_tokens (the caller refuses it).
    bool collect(const http::fields& all) {
        for (auto [it, end] = all.equal_range(beast::http::field::connection); it != end; ++it) add(it->value());
        return !overflow_;
    }
    bool collect(const http::response_head& head) {
        for (const auto& field : head.fields()) {
            if (http::iequals(field.name, "connection")) add(field.value);
        }
        return !overflow_;
    }
    bool contains(std::string_view name) const {
        for (std::size_t i = 0; i < count_; ++i) {
            if (http::iequals(names_[i], name)) return true;
        }
        return false;
    }

private:
    void add(std::string_view value) {
        http::for_each_list_token(value, [&](std::string_view token) {
            if (http::iequals(token, "close") || http::iequals(token, "keep-alive") || http::iequals(token, "host") ||
                http::iequals(token, "content-length")) {
                return;
            }
            if (count_ == names_.size()) {
                overflow_ = true;
                return;
            }
            names_[count_++] = token;
        });
    }

    std::array<std::string_view, http::max_connection_tokens> names_;
    std::size_t count_ = 0;
    bool overflow_ = false;
};

// True for a field that describes this connection only: hop-by-hop, or named in Connection.
bool connection_scoped(const http::fields::value_type& field, const nominated_fields& nominated) {
    return http::is_hop_by_hop(field.name()) || nominated.contains(field.name_string());
}
bool connection_scoped(const http::field_line& field, const nominated_fields& nominated) {
    return http::is_hop_by_hop_name(field.name) || nominated.contains(field.name);
}

// True if the route's edits remove or replace the field called name.
bool edited(const config::header_edits& edits, std::string_view name) {
    for (const auto& removed : edits.remove) {
        if (http::iequals(removed, name)) return true;
    }
    for (const auto& [set_name, value] : edits.set) {
        if (http::iequals(set_name, name)) return true;
    }
    return false;
}

// The route's set and add fields, then the filters' (which win over the route's for a name
// both set), after the message's own.
template <typename String>
void append_edits(String& out, const config::header_edits& edits, const filters::head_edits& filter_edits) {
    for (const auto& [name, value] : edits.set) {
        if (!filter_edits.replaces(name)) http::append_field(out, name, value);
    }
    for (const auto& [name, value] : edits.add) {
        if (!filter_edits.replaces(name)) http::append_field(out, name, value);
    }
    filter_edits.for_each_field(
        [&](std::string_view name, std::string_view value) { http::append_field(out, name, value); });
}

// True if the message's own field called name gives way to an edit.
bool edited(const config::header_edits& edits, const filters::head_edits& filter_edits, std::string_view name) {
    return edited(edits, name) || (!filter_edits.empty() && filter_edits.replaces(name));
}

// Request fields the gateway writes itself, or that say who the client is and so must not
// come from the client: an upstream that believes a client's Forwarded or X-Real-IP would log,
// authorise or rate-limit by an address the client chose (Beast has no enum for them).
enum class gateway_field_kind { none, forwarded_for, other_gateway };
gateway_field_kind gateway_field(std::string_view name) {
    if (name.size() < 9 || (name[0] != 'x' && name[0] != 'X' && name[0] != 'f' && name[0] != 'F')) {
        return gateway_field_kind::none;
    }
    if (http::iequals(name, "x-forwarded-for")) return gateway_field_kind::forwarded_for;
    if (http::iequals(name, "x-forwarded-proto") || http::iequals(name, "x-forwarded-host") ||
        http::iequals(name, "x-request-id") || http::iequals(name, "forwarded") || http::iequals(name, "x-real-ip") ||
        http::iequals(name, "x-forwarded-port") || http::iequals(name, "x-forwarded-prefix")) {
        return gateway_field_kind::other_gateway;
    }
    return gateway_field_kind::none;
}

// Collects decoded chunk data as buffers (for HTTP/1.0 clients, which cannot take chunked).
struct data_spans {
    std::vector<asio::const_buffer> spans;
    static void add(void* self, const char* data, std::size_t size) {
        static_cast<data_spans*>(self)->spans.emplace_back(data, size);
    }
};

// Buffers for one gather write: a few fixed slots, spilling to a vector only for the decoded
// chunks of an HTTP/1.0 response.
class gather {
public:
    void push_back(asio::const_buffer b) {
        if (spill_.empty() && count_ < fixed_.size()) {
            fixed_[count_++] = b;
            return;
        }
        if (spill_.empty()) {
            spill_.assign(fixed_.begin(), fixed_.begin() + static_cast<std::ptrdiff_t>(count_));
        }
        spill_.push_back(b);
    }
    void append(const std::vector<asio::const_buffer>& buffers) {
        for (const auto& b : buffers) push_back(b);
    }
    bool empty() const { return count_ == 0 && spill_.empty(); }
    void clear() {
        count_ = 0;
        spill_.clear();
    }
    std::span<const asio::const_buffer> buffers() const {
        return spill_.empty() ? std::span<const asio::const_buffer>(fixed_.data(), count_)
                              : std::span<const asio::const_buffer>(spill_);
    }

private:
    std::array<asio::const_buffer, 5> fixed_;
    std::size_t count_ = 0;
    std::vector<asio::const_buffer> spill_;
};

// Ends an exchange with a reply to the client (the upstream connection is never reused after
// one), filled into result in place: GCC 12 gives every object and temporary of a coroutine
// body its own slot in the frame, so the exchange coroutine builds no replies itself.
exchange_result& refuse(exchange_result& result, unsigned status, std::string_view error, std::string_view message,
                        std::string_view detail = {}) {
    std::string text(message);
    text += detail;
    result.reply = http::local_reply{status, error, std::move(text)};
    return result;
}
exchange_result& refuse(exchange_result& result, unsigned status, std::string_view error, std::string_view message,
                        const error_code& ec) {
    return refuse(result, status, error, message, ec.message());
}

// Which buffered bytes belong to the request body: Content-Length counted down, or chunked
// framing validated, with the route's body limit enforced.
class body_cursor {
public:
    body_cursor(http::body_framing framing, std::uint64_t length, std::uint64_t max_body)
        : framing_(framing), left_(framing == http::body_framing::length ? length : 0), max_body_(max_body) {}

    // Sets take (how many bytes of available belong to the body) and done. False, with the
    // reply in result, when the framing is invalid or the body exceeds its limit.
    bool next(std::string_view available, std::size_t& take, bool& done, exchange_result& result) {
        take = 0;
        done = true;
        if (framing_ == http::body_framing::length) {
            take = static_cast<std::size_t>(std::min<std::uint64_t>(available.size(), left_));
            left_ -= take;
            done = left_ == 0;
        } else if (framing_ == http::body_framing::chunked) {
            auto scanned = chunks_.scan(available);
            if (scanned.state == http::chunked_scanner::status::error) {
                refuse(result, 400, "bad_request", "invalid chunked body: ", chunks_.error());
                return false;
            }
            if (chunks_.data_bytes() > max_body_) {
                refuse(result, 413, "body_too_large", "request body exceeds the limit");
                return false;
            }
            take = scanned.consumed;
            done = scanned.state == http::chunked_scanner::status::done;
        }
        return true;
    }

private:
    http::body_framing framing_;
    std::uint64_t left_;
    std::uint64_t max_body_;
    http::chunked_scanner chunks_;
};

std::string_view view_of(const beast::flat_buffer& b) {
    return {static_cast<const char*>(b.data().data()), b.size()};
}

}  // namespace

// One try at an endpoint, threaded through exchange().
struct upstream_attempt {
    explicit upstream_attempt(const std::pmr::polymorphic_allocator<char>& allocator) : head(allocator) {}
    upstream::connection_ptr conn;
    bool reused = false;
    bool replayable = false;  // nothing of the body left the client buffer yet
    std::pmr::string head;
    clock::time_point deadline;
};

void client_connection::build_upstream_head(request_state& rs, std::string_view endpoint_authority,
                                            std::pmr::string& out) {
    const auto& req = rs.parser.get();
    const auto& route = rs.route->config;
    const auto& edits = route.request_headers;
    const auto& filter_edits = rs.ctx.upstream_edits;

    std::string_view target =
        rs.ctx.upstream_target ? std::string_view(*rs.ctx.upstream_target) : std::string_view(rs.target);
    std::pmr::string rewritten(rs.allocator);
    if (route.strip_prefix && target.starts_with(*route.strip_prefix)) {
        rewritten = route.replace_prefix.value_or("");
        rewritten += target.substr(route.strip_prefix->size());
        if (rewritten.empty() || rewritten.front() != '/') {
            rewritten.insert(rewritten.begin(), '/');
        }
        target = rewritten;
    }
    out.reserve(512);
    http::append_request_line(out, req.method_string(), target);

    // One pass over the client's fields: keep what is end-to-end, collect X-Forwarded-For,
    // leave out what the gateway or the route sets itself (no edits of Beast's field tree).
    nominated_fields nominated;
    nominated.collect(req);  // within the cap: inspect_request refused more
    const auto& identity = rs.gen->snap->config->identity_fields;
    std::pmr::string xff(rs.allocator);
    bool proxy_proto = false;  // a trusted proxy's X-Forwarded-Proto / -Host is passed on
    bool proxy_host = false;
    for (const auto& field : req) {
        auto id = field.name();
        auto name = field.name_string();
        if (connection_scoped(field, nominated) || id == beast::http::field::expect ||
            id == beast::http::field::content_length ||
            (id == beast::http::field::host && (route.host_rewrite || rs.forwarded_host.empty()))) {
            continue;  // Expect: 100-continue is answered by the gateway; framing is set below
        }
        switch (gateway_field(name)) {
            case gateway_field_kind::forwarded_for:
                if (!xff.empty()) xff += ", ";
                xff += field.value();
                continue;
            case gateway_field_kind::other_gateway:
                // A trusted proxy describes its own client; anyone else's description is dropped.
                if (!rs.from_trusted_proxy || http::iequals(name, "x-request-id")) continue;
                proxy_proto = proxy_proto || http::iequals(name, "x-forwarded-proto");
                proxy_host = proxy_host || http::iequals(name, "x-forwarded-host");
                break;
            case gateway_field_kind::none:
                break;
        }
        if (edited(edits, filter_edits, name) ||
            (rs.drop_underscore_fields && name.find('_') != std::string_view::npos) ||
            (!identity.empty() && std::any_of(identity.begin(), identity.end(),
                                              [&](const std::string& n) { return http::iequals(n, name); }))) {
            continue;
        }
        if (rs.max_forwards && id == beast::http::field::max_forwards) {
            out += "Max-Forwards: ";  // one hop less (RFC 9110 section 7.6.2)
            http::append_number(out, *rs.max_forwards - 1);
            out += "\r\n";
            continue;
        }
        http::append_field(out, name, field.value());
    }
    // An HTTP/1.1 request must name a host (RFC 9112 section 3.2): when the client named none
    // (HTTP/1.0 without Host, or an empty Host), the upstream gets the endpoint's own authority.
    if (!edited(edits, filter_edits, "Host")) {
        if (route.host_rewrite) {
            http::append_field(out, "Host", *route.host_rewrite);
        } else if (rs.forwarded_host.empty()) {
            http::append_field(out, "Host", endpoint_authority);
        }
    }
    if (rs.framing == http::body_framing::length) {
        out += "Content-Length: ";
        http::append_number(out, rs.content_length);
        out += "\r\n";
    } else if (rs.framing == http::body_framing::chunked) {
        out += "Transfer-Encoding: chunked\r\n";
    }
    if (!xff.empty()) xff += ", ";
    xff += client_ip_;
    if (!edited(edits, filter_edits, "X-Forwarded-For")) http::append_field(out, "X-Forwarded-For", xff);
    if (!proxy_proto && !edited(edits, filter_edits, "X-Forwarded-Proto")) {
        http::append_field(out, "X-Forwarded-Proto", "http");
    }
    if (!proxy_host && !rs.forwarded_host.empty() && !edited(edits, filter_edits, "X-Forwarded-Host")) {
        http::append_field(out, "X-Forwarded-Host", rs.forwarded_host);
    }
    if (!edited(edits, filter_edits, "X-Request-Id")) http::append_field(out, "X-Request-Id", rs.ctx.request_id);
    append_edits(out, edits, filter_edits);
    out += "\r\n";
}

asio::awaitable<client_connection::next_step> client_connection::proxy(request_state& rs) {
    const auto& config = *rs.gen->snap->config;
    auto& cluster = *rs.gen->clusters[rs.route->upstream_index];
    const auto& up = cluster.config();

    upstream_attempt attempt(rs.allocator);
    attempt.deadline = rs.started + rs.route->config.timeout.value_or(config.server.timeouts.request);

    std::uint64_t excluded = 0;
    std::uint64_t connect_failures = 0;
    bool stale_retried = false;
    bool last_was_timeout = false;
    std::optional<http::local_reply> refusal;
    for (;;) {
        auto index = cluster.pick(client_hash_, excluded);
        if (index == upstream::load_balancer::none) {
            if (connect_failures > 0) {
                refusal = last_was_timeout ? http::local_reply{503, "upstream_connect_timeout",
                                                               "connecting to upstream " + up.name + " timed out"}
                                           : http::local_reply{502, "upstream_connect_failed",
                                                               "cannot connect to upstream " + up.name};
            } else {
                refusal =
                    http::local_reply{503, "no_upstream_available", "upstream " + up.name + " has no usable endpoint"};
            }
            break;
        }
        auto& endpoint = cluster.endpoint(index);
        auto acquired = endpoint.pool.try_acquire(stale_retried);
        if (acquired.status == upstream::connection_pool::acquire_status::must_wait) {
            acquired = co_await endpoint.pool.wait(attempt.deadline);
        }
        if (acquired.status == upstream::connection_pool::acquire_status::exhausted) {
            refusal = http::local_reply{503, "upstream_pool_exhausted", "no free connection to " + endpoint.label};
            break;
        }
        attempt.reused = acquired.status == upstream::connection_pool::acquire_status::reused;
        attempt.conn = std::move(acquired.conn);
        if (!attempt.reused) {
            attempt.conn = std::make_unique<upstream::upstream_connection>(socket_.get_executor());
            const auto& address = endpoint.addresses[endpoint.next_address++ % endpoint.addresses.size()];
            error_code ec;
            attempt.conn->socket.open(address.protocol(), ec);
            if (!ec) {
                watch_.arm(attempt.conn->socket, std::min(worker_.now() + up.connect_timeout, attempt.deadline));
                auto [connect_ec] = co_await attempt.conn->socket.async_connect(address, use_nothrow);
                ec = settle(connect_ec);
            }
            if (ec) {
                spdlog::warn("upstream {} endpoint {}: connect failed: {}", up.name, endpoint.label, ec.message());
                attempt.conn.reset();
                endpoint.pool.connect_failed();
                last_was_timeout = ec == asio::error::timed_out;
                if (index < 64) {
                    excluded |= 1ull << index;
                }
                if (worker_.now() >= attempt.deadline) {
                    refusal = http::local_reply{504, "upstream_timeout", "request timed out connecting upstream"};
                    break;
                }
                if (++connect_failures <= up.retries) {
                    continue;
                }
                refusal = last_was_timeout
                              ? http::local_reply{503, "upstream_connect_timeout",
                                                  "connecting to " + endpoint.label + " timed out"}
                              : http::local_reply{502, "upstream_connect_failed",
                                                  "cannot connect to " + endpoint.label + ": " + ec.message()};
                break;
            }
            attempt.conn->socket.set_option(tcp::no_delay(true), ec);
        }

        rs.log.upstream = endpoint.label;
        // The head depends on the endpoint when filters see each try, or when Host falls back
        // to the endpoint's authority.
        if (attempt.head.empty() || !rs.chain->empty() || rs.forwarded_host.empty()) {
            for (const auto& entry : *rs.chain) {
                entry.filter->on_upstream_request(rs.ctx, endpoint.label);
            }
            attempt.head.clear();
            build_upstream_head(rs, endpoint.label, attempt.head);
        }
        ++endpoint.active;
        auto result = co_await exchange(rs, attempt);
        --endpoint.active;
        if (result.result == exchange_result::outcome::retry_stale && !stale_retried) {
            endpoint.pool.release(std::move(attempt.conn), false, worker_.now());
            stale_retried = true;
            continue;
        }
        if (attempt.conn) {
            endpoint.pool.release(std::move(attempt.conn), result.upstream_reusable, worker_.now());
        }
        if (result.result == exchange_result::outcome::retry_stale) {
            refusal = http::local_reply{502, "upstream_reset", "upstream closed the connection before responding"};
        } else if (result.reply) {
            refusal = std::move(result.reply);
        } else {
            co_return result.keep_client ? next_step::keep_alive : next_step::close;
        }
        break;
    }
    co_return co_await reply(rs, *refusal, true);
}

// How an upstream response reaches the client, decided from its head (plan_relay), and the
// state of its body while it passes (next_body_part).
struct relay_plan {
    enum class out_mode { none, raw, chunk_wrap, dechunk };
    http::body_framing in = http::body_framing::none;
    out_mode mode = out_mode::raw;
    bool keep_client = false;
    bool upstream_keep_alive = false;
    // Body state.
    std::uint64_t left = 0;  // Content-Length bytes still to come
    http::chunked_scanner chunks;
    data_spans decoded;
    bool done = false;
    bool upstream_eof = false;
    std::pmr::string chunk_prefix;
    std::pmr::string head;              // for the client
    gather out;                         // what the next write sends
    clock::time_point client_deadline;  // the client must have taken the whole response by then

    explicit relay_plan(const std::pmr::polymorphic_allocator<char>& allocator)
        : chunk_prefix(allocator), head(allocator) {}
};

namespace {

void refuse_send(const error_code& ec, std::string_view timeout_message, exchange_result& result) {
    if (ec == asio::error::timed_out) {
        refuse(result, 504, "upstream_timeout", timeout_message);
    } else {
        refuse(result, 502, "upstream_write_failed", "sending to upstream failed: ", ec);
    }
}

bool response_head_complete(request_state& rs, const beast::flat_buffer& ubuf, exchange_result& result) {
    const auto max_head = static_cast<std::size_t>(rs.gen->snap->config->server.limits.max_response_header_bytes);
    auto parsed = rs.response.parse(view_of(ubuf), max_head);
    if (parsed == http::response_head::status::error) {
        refuse(result, 502, "upstream_bad_response", "invalid upstream response: ", rs.response.error());
    }
    return parsed == http::response_head::status::complete;
}

void no_response_head(const error_code& ec, bool got_bytes, exchange_result& result) {
    if (ec == asio::error::timed_out) {
        refuse(result, 504, "upstream_timeout", "upstream did not respond in time");
    } else if (got_bytes) {
        refuse(result, 502, "upstream_bad_response", "upstream closed in the middle of the response head");
    } else {
        refuse(result, 502, "upstream_reset", "upstream closed the connection before responding: ", ec);
    }
}

bool informational_allowed(unsigned status, int count, exchange_result& result) {
    if (status == 101) {
        refuse(result, 502, "upstream_bad_response", "upstream switched protocols without an upgrade request");
        return false;
    }
    if (count > max_informational) {
        refuse(result, 502, "upstream_bad_response", "too many informational responses");
        return false;
    }
    return true;
}

// Adds the next part of the body in available to plan.out; take: the bytes of available it used.
// False on an invalid chunked body.
bool next_body_part(relay_plan& plan, std::string_view available, std::size_t& take) {
    auto& out = plan.out;
    take = 0;
    if (plan.done) {
        return true;
    }
    using out_mode = relay_plan::out_mode;
    switch (plan.in) {
        case http::body_framing::length:
            take = static_cast<std::size_t>(std::min<std::uint64_t>(available.size(), plan.left));
            plan.left -= take;
            plan.done = plan.left == 0;
            if (take) out.push_back(asio::buffer(available.data(), take));
            break;
        case http::body_framing::chunked: {
            plan.decoded.spans.clear();
            auto scanned =
                plan.chunks.scan(available, plan.mode == out_mode::dechunk ? &data_spans::add : nullptr, &plan.decoded);
            if (scanned.state == http::chunked_scanner::status::error) {
                return false;
            }
            take = scanned.consumed;
            plan.done = scanned.state == http::chunked_scanner::status::done;
            if (plan.mode == out_mode::dechunk) {
                out.append(plan.decoded.spans);
            } else if (take) {
                out.push_back(asio::buffer(available.data(), take));
            }
            break;
        }
        case http::body_framing::until_close:
            take = available.size();
            if (plan.mode == out_mode::chunk_wrap) {
                plan.chunk_prefix.clear();
                if (take) {
                    http::append_hex(plan.chunk_prefix, take);
                    plan.chunk_prefix += "\r\n";
                    out.push_back(asio::buffer(plan.chunk_prefix));
                    out.push_back(asio::buffer(available.data(), take));
                    out.push_back(asio::buffer("\r\n", 2));
                }
                if (plan.upstream_eof) {
                    out.push_back(asio::buffer("0\r\n\r\n", 5));
                    plan.done = true;
                }
            } else {
                if (take) out.push_back(asio::buffer(available.data(), take));
                plan.done = plan.upstream_eof;
            }
            break;
        case http::body_framing::none:
            break;
    }
    return true;
}

}  // namespace

// The exchange coroutine keeps in its frame only what spans its waits: GCC 12 gives every
// object of a coroutine body a frame slot, so rare paths (a streamed request body, 1xx
// responses) are coroutines of their own, the synchronous steps are plain functions, and the
// relay's state lives in the request arena. Its frame went from 2,176 to 864 bytes.
asio::awaitable<exchange_result> client_connection::exchange(request_state& rs, upstream_attempt& attempt) {
    const auto& timeouts = rs.gen->snap->config->server.timeouts;
    auto& up = attempt.conn->socket;
    exchange_result result;

    if (rs.expect_continue && !rs.continue_sent) {
        rs.continue_sent = true;
        if (co_await write_to_client("HTTP/1.1 100 Continue\r\n\r\n")) {
            co_return result;
        }
    }

    // --- request head and body -------------------------------------------------------------
    std::size_t held = 0;  // body bytes sent from the client buffer but not consumed yet (for a replay)
    if (!co_await send_request(rs, attempt, held, result)) {
        co_return result;
    }

    // --- response head -------------------------------------------------------------------------
    auto ubuf_owner = worker_.buffers().acquire();
    auto& ubuf = *ubuf_owner;
    struct buffer_return {
        worker& w;
        std::unique_ptr<beast::flat_buffer>& b;
        ~buffer_return() { w.buffers().release(std::move(b)); }
    } give_back{worker_, ubuf_owner};

    auto& head_in = rs.response;
    int informational = 0;
    bool got_bytes = false;
    for (;;) {
        head_in.reset();
        for (;;) {
            if (ubuf.size() > 0 && response_head_complete(rs, ubuf, result)) {
                break;
            }
            if (result.reply) {
                co_return result;
            }
            watch_.arm(up, attempt.deadline);
            auto [read_ec, n] = co_await up.async_read_some(
                ubuf.prepare(std::max(min_read, ubuf.capacity() - ubuf.size())), use_nothrow);
            if (auto ec = settle(read_ec)) {
                // The request reached the upstream whole: resending it is safe only if repeating
                // it changes nothing (RFC 9110 section 9.2.2); a POST may have been acted on.
                if (!got_bytes && attempt.reused && attempt.replayable && rs.idempotent &&
                    ec != asio::error::timed_out) {
                    result.result = exchange_result::outcome::retry_stale;
                } else {
                    no_response_head(ec, got_bytes, result);
                }
                co_return result;
            }
            if (!got_bytes && held > 0) {
                client_buffer().consume(held);  // the body is committed: no replay from here on
                held = 0;
                attempt.replayable = false;
            }
            got_bytes = true;
            ubuf.commit(n);
        }
        if (head_in.code() >= 200) {
            break;
        }
        if (!informational_allowed(head_in.code(), ++informational, result)) {
            co_return result;
        }
        if (head_in.code() != 100 && rs.version == 11) {
            if (!co_await forward_informational(rs, ubuf)) {  // 102, 103 and others
                co_return result;
            }
        } else {
            ubuf.consume(head_in.size());
        }
    }
    if (held > 0) {
        client_buffer().consume(held);
        held = 0;
    }

    // --- response head for the client, then the body -------------------------------------------
    // The head's bytes stay in ubuf (its fields are views into them) until plan_relay has built
    // the client's head from them. The relay's state lives in the request's arena, not in the
    // frame.
    struct plan_owner {
        relay_plan* p;
        ~plan_owner() { p->~relay_plan(); }
    } owner{rs.allocator.new_object<relay_plan>(rs.allocator)};
    relay_plan& plan = *owner.p;
    if (!plan_relay(rs, plan, result)) {
        co_return result;
    }
    ubuf.consume(head_in.size());
    plan.client_deadline = worker_.now() + timeouts.body;
    bool head_sent = false;
    for (;;) {
        // A head whose body has not begun waits for its first bytes (one more read): upstreams
        // that send the head and a small body in two writes (NGINX serving a file with
        // sendfile does) would otherwise cost a second write to the client, and the client a
        // second wakeup, for one small response. NGINX as a proxy holds such heads back too.
        const bool hold_head = !head_sent && plan.in == http::body_framing::length && plan.left > 0 && ubuf.size() == 0;
        auto& out = plan.out;
        out.clear();
        if (!head_sent) {
            out.push_back(asio::buffer(plan.head));
        }
        std::size_t take = 0;
        if (!next_body_part(plan, view_of(ubuf), take)) {
            if (!head_sent) {
                co_return refuse(result, 502, "upstream_bad_response",
                                 "invalid chunked upstream body: ", plan.chunks.error());
            }
            spdlog::warn("upstream sent an invalid chunked body: {}", plan.chunks.error());
            co_return result;  // the client sees a truncated body and a closed connection
        }
        if (!out.empty() && !hold_head) {
            error_code write_ec;
            std::size_t written = send_to_client_now(out.buffers(), write_ec);
            if (!write_ec && written < total_size(out.buffers())) {
                // A client that reads slowly holds the upstream connection: the whole response
                // body must be taken within timeouts.body, however steadily it trickles.
                write_ec = co_await send_rest(socket_, out.buffers(), written,
                                              std::min(worker_.now() + timeouts.send, plan.client_deadline));
            }
            bytes_out_ += written;
            rs.response_started = true;
            if (write_ec) {
                rs.log.client_aborted = true;
                co_return result;  // client gone: the upstream connection is in an unknown state
            }
            head_sent = true;
        }
        ubuf.consume(take);
        if (plan.done) {
            break;
        }
        watch_.arm(up, worker_.now() + timeouts.read);
        auto [read_ec, n] =
            co_await up.async_read_some(ubuf.prepare(std::max(min_read, ubuf.capacity() - ubuf.size())), use_nothrow);
        if (auto ec = settle(read_ec)) {
            if (plan.in == http::body_framing::until_close && ec == asio::error::eof) {
                plan.upstream_eof = true;
                continue;
            }
            if (!head_sent) {  // nothing reached the client yet: it can still get a proper answer
                co_return ec == asio::error::timed_out
                    ? refuse(result, 504, "upstream_timeout", "upstream sent no body in time")
                    : refuse(result, 502, "upstream_reset", "upstream closed before sending the body");
            }
            spdlog::warn("upstream {} failed mid-response: {}", rs.route->config.upstream, ec.message());
            co_return result;  // truncated: closing the client connection is the only honest signal
        }
        ubuf.commit(n);
    }

    if (!rs.chain->empty()) {
        rs.log.upstream_duration = std::chrono::steady_clock::now() - rs.upstream_begin;
    }
    if (ubuf.size() > 0) {
        // Bytes past the response's framing (after a HEAD, 204 or 304 head, or past its
        // Content-Length): never the start of a next response, since nothing asked for one.
        rs.gen->cluster_stats[rs.route->upstream_index]
            ->errors[static_cast<std::size_t>(observability::upstream_error::unexpected_bytes)]
            .add();
        spdlog::warn("upstream {} sent {} bytes beyond its response: connection closed", rs.route->config.upstream,
                     ubuf.size());
    }
    result.upstream_reusable =
        plan.upstream_keep_alive && ubuf.size() == 0 && plan.in != http::body_framing::until_close;
    result.keep_client = plan.keep_client;
    co_return result;
}

asio::awaitable<bool> client_connection::send_request(request_state& rs, upstream_attempt& attempt, std::size_t& held,
                                                      exchange_result& result) {
    const auto& timeouts = rs.gen->snap->config->server.timeouts;
    auto& up = attempt.conn->socket;
    auto& cbuf = client_buffer();
    body_cursor body(rs.framing, rs.content_length, rs.max_body);
    bool body_done = true;
    std::size_t first = 0;
    if (!body.next(view_of(cbuf), first, body_done, result)) {
        co_return false;
    }
    attempt.replayable = body_done;
    const std::array<asio::const_buffer, 2> out{asio::buffer(attempt.head), asio::buffer(cbuf.data().data(), first)};
    if (!rs.chain->empty()) {
        rs.upstream_begin = std::chrono::steady_clock::now();  // for on_log only: no clock read without filters
    }
    rs.log.bytes_in = rs.head_reader.head_bytes() + first;
    error_code ec;
    std::size_t sent = send_now(up, out, ec);
    if (!ec && sent < total_size(out)) {
        ec = co_await send_rest(up, out, sent, std::min(worker_.now() + timeouts.send, attempt.deadline));
    }
    if (ec) {
        if (attempt.reused && attempt.replayable && (rs.idempotent || sent == 0) && ec != asio::error::timed_out) {
            result.result = exchange_result::outcome::retry_stale;
            co_return false;
        }
        refuse_send(ec, "upstream did not accept the request in time", result);
        co_return false;
    }
    nothing_to_read_yet(up);  // fresh, or pooled after its previous response was read in full
    if (body_done) {
        held = first;  // consumed once the response starts
        co_return true;
    }
    cbuf.consume(first);
    // A client trickling its body (a byte just inside every read timeout) would hold the
    // upstream connection for ever: the whole body has one deadline too.
    const auto body_deadline = worker_.now() + timeouts.body;
    while (!body_done) {
        watch_.arm(socket_, std::min(worker_.now() + timeouts.read, body_deadline));
        auto [read_ec, n] = co_await socket_.async_read_some(
            cbuf.prepare(std::max(min_read, cbuf.capacity() - cbuf.size())), use_nothrow);
        if (auto read_error = settle(read_ec)) {
            if (read_error == asio::error::timed_out) {
                refuse(result, 408, "request_timeout", "request body not received in time");
            } else {
                rs.log.client_aborted = true;  // the client left mid-body: nothing to answer, nothing reusable
            }
            co_return false;
        }
        cbuf.commit(n);
        std::size_t chunk = 0;
        if (!body.next(view_of(cbuf), chunk, body_done, result)) {
            co_return false;
        }
        rs.log.bytes_in += chunk;
        const asio::const_buffer body_part[] = {asio::buffer(cbuf.data().data(), chunk)};
        sent = send_now(up, body_part, ec);
        if (!ec && sent < chunk) {
            ec = co_await send_rest(up, body_part, sent, worker_.now() + timeouts.send);
        }
        if (ec) {
            refuse_send(ec, "upstream stopped reading the request body", result);
            co_return false;
        }
        cbuf.consume(chunk);
    }
    co_return true;
}

asio::awaitable<bool> client_connection::forward_informational(request_state& rs, buffer& ubuf) {
    // Forwarded minus the fields that describe the connection.
    const auto& head_in = rs.response;
    nominated_fields nominated;
    if (!nominated.collect(head_in)) {
        ubuf.consume(head_in.size());  // an interim response is optional: drop one we cannot clean
        co_return true;
    }
    std::pmr::string head(rs.allocator);
    http::append_status_line(head, head_in.code(), head_in.reason());
    for (const auto& field : head_in.fields()) {
        if (!connection_scoped(field, nominated)) {
            http::append_field(head, field.name, field.value);
        }
    }
    head += "\r\n";
    ubuf.consume(head_in.size());
    co_return !co_await write_to_client(head);
}

bool client_connection::plan_relay(request_state& rs, relay_plan& plan, exchange_result& result) {
    const auto& head_in = rs.response;
    auto& head = plan.head;
    const unsigned status = head_in.code();
    http::framing_analyzer framing;
    for (const auto& field : head_in.fields()) {
        if (http::iequals(field.name, "content-length") || http::iequals(field.name, "transfer-encoding")) {
            framing.add(field.name, field.value);
        }
    }
    if (auto e = framing.finish(false, head_in.version()); e != http::framing_error::ok) {
        refuse(result, 502, "upstream_bad_response", "ambiguous upstream response framing: ", http::describe(e));
        return false;
    }
    plan.in = framing.framing();
    if (rs.head_method || status == 204 || status == 304) {
        plan.in = http::body_framing::none;
    }
    plan.upstream_keep_alive = head_in.keep_alive() && head_in.version() == 11;
    plan.left = plan.in == http::body_framing::length ? framing.content_length() : 0;
    plan.done = plan.in == http::body_framing::none;

    bool close_delimited = false;  // the client learns the end by our close
    bool add_chunked = false;
    using out_mode = relay_plan::out_mode;
    switch (plan.in) {
        case http::body_framing::none:
            plan.mode = out_mode::none;
            break;
        case http::body_framing::length:
            plan.mode = out_mode::raw;
            break;
        case http::body_framing::chunked:
            if (rs.version == 11) {
                add_chunked = true;
                plan.mode = out_mode::raw;
            } else {
                plan.mode = out_mode::dechunk;
                close_delimited = true;
            }
            break;
        case http::body_framing::until_close:
            if (rs.version == 11) {
                add_chunked = true;
                plan.mode = out_mode::chunk_wrap;
            } else {
                plan.mode = out_mode::raw;
                close_delimited = true;
            }
            break;
    }
    plan.keep_client = rs.keep_alive && !close_delimited && !worker_.draining();
    const auto& edits = rs.route->config.response_headers;
    const auto& filter_edits = rs.ctx.response_edits;
    rs.log.status = status;
    if (!rs.chain->empty()) {
        response_fields fields(head_in);
        filters::response_view view{status, false, &fields};
        run_response_filters(rs, view);
    }
    head.reserve(512);
    http::append_status_line(head, status, head_in.reason().empty() ? http::reason_phrase(status) : head_in.reason());
    // One pass over the upstream's fields, as for the request head.
    nominated_fields nominated;
    if (!nominated.collect(head_in)) {
        refuse(result, 502, "upstream_bad_response", "upstream response names too many Connection options");
        return false;
    }
    const bool drop_length = status == 204 || (status >= 100 && status < 200);
    for (const auto& field : head_in.fields()) {
        const auto name = field.name;
        if (connection_scoped(field, nominated) || (drop_length && http::iequals(name, "content-length")) ||
            http::iequals(name, "x-request-id") || edited(edits, filter_edits, name)) {
            continue;
        }
        http::append_field(head, name, field.value);
    }
    if (add_chunked) {
        head += "Transfer-Encoding: chunked\r\n";
    }
    append_edits(head, edits, filter_edits);
    http::append_field(head, "X-Request-Id", rs.ctx.request_id);
    if (!plan.keep_client) {
        head += "Connection: close\r\n";
    } else if (rs.version == 10) {
        head += "Connection: keep-alive\r\n";
    }
    head += "\r\n";
    return true;
}

}  // namespace gatehouse::server
