#include "gatehouse/http/request_head_reader.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

#include <boost/beast/http/error.hpp>

namespace gatehouse::http {

namespace bhttp = boost::beast::http;

namespace {

// "METHOD SP TARGET SP HTTP/d.d CR": a well-formed request line whose version Beast refused,
// which deserves 505 rather than 400.
bool version_shaped(std::string_view line) {
    return line.size() >= 10 && line.ends_with('\r') && std::count(line.begin(), line.end(), ' ') == 2 &&
           line.substr(line.size() - 9, 5) == "HTTP/" &&
           std::isdigit(static_cast<unsigned char>(line[line.size() - 4])) != 0 && line[line.size() - 3] == '.' &&
           std::isdigit(static_cast<unsigned char>(line[line.size() - 2])) != 0;
}

}  // namespace

void request_head_reader::prepare(request_parser& parser, const head_limits& limits) {
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::uint64_t>(limits.max_header_bytes, UINT32_MAX)));
    parser.body_limit(boost::none);  // bodies are relayed by the server, under the route's limit
}

head_progress request_head_reader::read(request_parser& parser, boost::beast::flat_buffer& buf,
                                        const head_limits& limits, std::optional<local_reply>& refusal) {
    if (buf.size() == 0) {
        return head_progress::need_more;
    }
    if (first_look_) {
        // RFC 9112 section 2.2: ignore empty lines received before the request line (a few:
        // more is not a client being robust).
        first_look_ = false;
        for (int i = 0; i < 8 && buf.size() >= 2; ++i) {
            const auto* p = static_cast<const char*>(buf.data().data());
            if (p[0] != '\r' || p[1] != '\n') {
                break;
            }
            buf.consume(2);
        }
    }
    std::string_view data(static_cast<const char*>(buf.data().data()), buf.size());
    if (!request_line_seen_) {
        auto eol = data.find('\n');
        if ((eol == std::string_view::npos ? data.size() : eol) > limits.max_request_line) {
            refusal = local_reply{414, "uri_too_long", "request line too long"};
            return head_progress::refused;
        }
        if (eol == std::string_view::npos) {
            return head_progress::need_more;
        }
        request_line_seen_ = true;
        // A later HTTP/1.x minor version is served as 1.1 (RFC 9110 section 2.5), which Beast
        // refuses to parse: the digit is rewritten in the buffer before it sees it.
        if (eol >= 9 && data.substr(eol - 9, 7) == "HTTP/1." && data[eol - 1] == '\r' && data[eol - 2] > '1' &&
            data[eol - 2] <= '9') {
            static_cast<char*>(buf.data().data())[eol - 2] = '1';
        }
    }
    boost::beast::error_code ec;
    auto n = parser.put(buf.data(), ec);
    if (ec && ec != bhttp::error::need_more) {
        if (ec == bhttp::error::header_limit) {
            refusal = local_reply{431, "headers_too_large", "request header too large"};
        } else if (ec == bhttp::error::bad_version && version_shaped(data.substr(0, data.find('\n')))) {
            refusal = local_reply{505, "version_not_supported", "only HTTP/1.0 and HTTP/1.1 are supported"};
        } else {
            refusal = local_reply{400, "bad_request", "malformed request: " + ec.message()};
        }
        return head_progress::refused;
    }
    // Beast consumes whole lines as it goes: check each consumed part for obs-fold (a line that
    // starts with whitespace), which RFC 9112 section 5.2 lets a server reject.
    auto used = data.substr(0, n);
    bool folded = used.find("\n ") != std::string_view::npos || used.find("\n\t") != std::string_view::npos ||
                  (head_bytes_ > 0 && !used.empty() && (used[0] == ' ' || used[0] == '\t'));
    head_bytes_ += n;
    buf.consume(n);
    if (folded) {
        refusal = local_reply{400, "bad_request", "obsolete line folding in header"};
        return head_progress::refused;
    }
    // Beast's header_limit bounds the bytes of one put, not of the head across puts: a head
    // whose end arrives in a later read must be measured here (found by the request fuzzer).
    if (head_bytes_ > limits.max_header_bytes) {
        refusal = local_reply{431, "headers_too_large", "request header too large"};
        return head_progress::refused;
    }
    if (parser.is_header_done()) {
        return head_progress::complete;
    }
    if (head_bytes_ + buf.size() > limits.max_header_bytes) {
        refusal = local_reply{431, "headers_too_large", "request header too large"};
        return head_progress::refused;
    }
    return head_progress::need_more;
}

}  // namespace gatehouse::http
