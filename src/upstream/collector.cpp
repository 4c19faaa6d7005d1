#include "gatehouse/upstream/collector.hpp"

#include <boost/asio/error.hpp>

#include "gatehouse/http/check_request.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::upstream {

namespace asio = boost::asio;
using boost::system::error_code;

const std::string* collected_response::find(std::string_view name) const {
    for (const auto& [n, v] : fields) {
        if (http::iequals(n, name)) return &v;
    }
    return nullptr;
}

collector::collector(std::string method, std::string target, std::vector<std::pair<std::string, std::string>> fields,
                     std::string body, std::uint64_t max_response_body)
    : method_(std::move(method)),
      target_(std::move(target)),
      fields_(std::move(fields)),
      body_size_(body.size()),
      max_response_body_(max_response_body) {
    auto space = body_.prepare(body.size());
    asio::buffer_copy(space, asio::buffer(body));
    body_.commit(body.size());
}

request_shape collector::shape() const {
    request_shape shape;
    shape.framing = body_size_ ? http::body_framing::length : http::body_framing::none;
    shape.content_length = body_size_;
    shape.max_body = body_size_;
    shape.idempotent = http::idempotent_method(method_);
    shape.head_method = method_ == "HEAD";
    return shape;
}

void collector::request_head(std::string_view endpoint, std::pmr::string& out) {
    http::append_request_line(out, method_, target_);
    bool has_host = false;
    for (const auto& [name, value] : fields_) {
        has_host = has_host || http::iequals(name, "host");
        http::append_field(out, name, value);
    }
    if (!has_host) http::append_field(out, "Host", endpoint);
    if (body_size_) {
        out += "Content-Length: ";
        http::append_number(out, body_size_);
        out += "\r\n";
    }
    out += "\r\n";
}

boost::beast::flat_buffer* collector::body_bytes() {
    return body_size_ ? &body_ : nullptr;
}

// The whole body is in body_ from the start: the exchange never waits for more.
asio::awaitable<error_code> collector::read_body() {
    co_return asio::error::eof;
}

asio::awaitable<bool> collector::send_continue() {
    co_return true;
}

asio::awaitable<bool> collector::interim(const http::response_head&) {
    co_return true;
}

bool collector::response_head(const http::response_head& head, http::body_framing, body_delivery& delivery,
                              std::string_view& prefix, std::optional<http::local_reply>&) {
    response_.status = head.code();
    for (const auto& field : head.fields()) response_.fields.emplace_back(field.name, field.value);
    delivery = body_delivery::decoded;
    prefix = {};
    return true;
}

std::size_t collector::write_now(std::span<const asio::const_buffer> buffers, error_code& ec) {
    std::size_t taken = 0;
    for (const auto& b : buffers) {
        if (response_.body.size() + b.size() > max_response_body_) {
            response_.too_large = true;
            ec = asio::error::message_size;
            return taken;
        }
        response_.body.append(static_cast<const char*>(b.data()), b.size());
        taken += b.size();
    }
    return taken;
}

asio::awaitable<error_code> collector::write_rest(std::span<const asio::const_buffer>, std::size_t&) {
    co_return error_code{};  // write_now takes everything or fails
}

}  // namespace gatehouse::upstream
