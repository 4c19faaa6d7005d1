#include "backend_call.hpp"

#include <boost/asio/error.hpp>

#include "gatehouse/http/check_request.hpp"
#include "gatehouse/http/wire.hpp"

namespace gatehouse::aggregate {

namespace asio = boost::asio;
namespace json = boost::json;
using boost::system::error_code;
using observability::backend_failure;

namespace {

constexpr std::size_t kept_error_body = 4096;

}  // namespace

backend_call::backend_call(const config::aggregate_backend& backend, std::string target, std::string fields,
                           const client_request& request, std::uint64_t max_body, json::storage_ptr storage,
                           std::span<unsigned char> scratch)
    : backend_(backend),
      target_(std::move(target)),
      fields_(std::move(fields)),
      request_(request),
      max_body_(max_body),
      send_body_(backend.forward_body && !request.body.empty()),
      parser_({}, {}, scratch.data(), scratch.size()) {
    parser_.reset(std::move(storage));  // the parser's first argument is only its scratch space
    if (send_body_) {
        auto space = body_.prepare(request.body.size());
        asio::buffer_copy(space, asio::buffer(request.body.data(), request.body.size()));
        body_.commit(request.body.size());
    }
}

upstream::request_shape backend_call::shape() const {
    upstream::request_shape shape;
    shape.framing = send_body_ ? http::body_framing::length : http::body_framing::none;
    shape.content_length = send_body_ ? request_.body.size() : 0;
    shape.max_body = shape.content_length;
    shape.idempotent = http::idempotent_method(backend_.method);
    shape.head_method = backend_.method == "HEAD";
    return shape;
}

void backend_call::request_head(std::string_view endpoint, std::pmr::string& out) {
    out.reserve(256 + target_.size() + fields_.size() + request_.common_fields.size());
    http::append_request_line(out, backend_.method, target_);
    http::append_field(out, "Host", endpoint);
    http::append_field(out, "X-Request-Id", request_.request_id);
    out += request_.common_fields;
    out += fields_;
    if (send_body_) {
        if (!request_.content_type.empty()) http::append_field(out, "Content-Type", request_.content_type);
        out += "Content-Length: ";
        http::append_number(out, request_.body.size());
        out += "\r\n";
    } else if (backend_.forward_body) {
        out += "Content-Length: 0\r\n";  // a POST without a body still says so (RFC 9110 section 8.6)
    }
    out += "\r\n";
}

boost::beast::flat_buffer* backend_call::body_bytes() {
    return send_body_ ? &body_ : nullptr;
}

// The whole body is in body_ from the start: the exchange never waits for more.
asio::awaitable<error_code> backend_call::read_body() {
    co_return asio::error::eof;
}

asio::awaitable<bool> backend_call::send_continue() {
    co_return true;
}

asio::awaitable<bool> backend_call::interim(const http::response_head&) {
    co_return true;
}

bool backend_call::response_head(const http::response_head& head, http::body_framing, upstream::body_delivery& delivery,
                                 std::string_view& prefix, std::optional<http::local_reply>&) {
    status_ = head.code();
    delivery = upstream::body_delivery::decoded;
    prefix = {};
    return true;
}

std::size_t backend_call::write_now(std::span<const asio::const_buffer> buffers, error_code& ec) {
    const bool ok = status_ >= 200 && status_ <= 299;
    std::size_t taken = 0;
    for (const auto& b : buffers) {
        received_ += b.size();
        if (received_ > max_body_) {
            failure_ = backend_failure::too_large;
            detail_ = "the answer is larger than max_body (" + std::to_string(max_body_) + " bytes)";
            ec = asio::error::message_size;
            return taken;
        }
        const auto* data = static_cast<const char*>(b.data());
        if (ok) {
            json::error_code jec;
            parser_.write(data, b.size(), jec);
            if (jec) {
                failure_ = backend_failure::not_json;
                detail_ = "the answer is not JSON: " + jec.message();
                ec = asio::error::invalid_argument;
                return taken;
            }
        } else if (error_body_.size() < kept_error_body) {
            error_body_.append(data, std::min(b.size(), kept_error_body - error_body_.size()));
        }
        taken += b.size();
    }
    return taken;
}

asio::awaitable<error_code> backend_call::write_rest(std::span<const asio::const_buffer>, std::size_t&) {
    co_return error_code{};  // write_now takes everything or fails
}

std::optional<json::value> backend_call::take_answer() {
    json::error_code ec;
    parser_.finish(ec);
    if (ec || !parser_.done()) {
        detail_ = received_ == 0 ? "the answer is empty, not JSON" : "the answer is not JSON: " + ec.message();
        return std::nullopt;
    }
    return parser_.release();
}

}  // namespace gatehouse::aggregate
