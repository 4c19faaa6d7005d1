#include "gatehouse/upstream/body.hpp"

#include <algorithm>

namespace gatehouse::upstream {

namespace asio = boost::asio;

request_body::status request_body::next(std::string_view available, std::size_t& take, bool& done) {
    take = 0;
    done = true;
    if (framing_ == http::body_framing::length) {
        take = static_cast<std::size_t>(std::min<std::uint64_t>(available.size(), left_));
        left_ -= take;
        done = left_ == 0;
    } else if (framing_ == http::body_framing::chunked) {
        auto scanned = chunks_.scan(available);
        if (scanned.state == http::chunked_scanner::status::error) {
            return status::bad_chunked;
        }
        if (chunks_.data_bytes() > max_body_) {
            return status::too_large;
        }
        take = scanned.consumed;
        done = scanned.state == http::chunked_scanner::status::done;
    }
    return status::ok;
}

void response_body::start(http::body_framing framing, std::uint64_t length, body_delivery delivery) {
    framing_ = framing;
    delivery_ = delivery;
    left_ = framing == http::body_framing::length ? length : 0;
    chunks_ = http::chunked_scanner{};
    done_ = framing == http::body_framing::none || (framing == http::body_framing::length && length == 0);
    upstream_closed_ = false;
}

bool response_body::next(std::string_view available, gather& out, std::size_t& take) {
    take = 0;
    if (done_) {
        return true;
    }
    switch (framing_) {
        case http::body_framing::length:
            take = static_cast<std::size_t>(std::min<std::uint64_t>(available.size(), left_));
            left_ -= take;
            done_ = left_ == 0;
            if (take) out.push_back(asio::buffer(available.data(), take));
            break;
        case http::body_framing::chunked: {
            auto add_data = [](void* self, const char* data, std::size_t size) {
                static_cast<gather*>(self)->push_back(asio::buffer(data, size));
            };
            const bool decode = delivery_ == body_delivery::decoded;
            auto scanned = chunks_.scan(available, decode ? +add_data : nullptr, &out);
            if (scanned.state == http::chunked_scanner::status::error) {
                return false;
            }
            take = scanned.consumed;
            done_ = scanned.state == http::chunked_scanner::status::done;
            if (!decode && take) out.push_back(asio::buffer(available.data(), take));
            break;
        }
        case http::body_framing::until_close:
            take = available.size();
            if (delivery_ == body_delivery::chunked) {
                chunk_prefix_.clear();
                if (take) {
                    http::append_hex(chunk_prefix_, take);
                    chunk_prefix_ += "\r\n";
                    out.push_back(asio::buffer(chunk_prefix_));
                    out.push_back(asio::buffer(available.data(), take));
                    out.push_back(asio::buffer("\r\n", 2));
                }
                if (upstream_closed_) out.push_back(asio::buffer("0\r\n\r\n", 5));
            } else if (take) {
                out.push_back(asio::buffer(available.data(), take));
            }
            done_ = upstream_closed_;
            break;
        case http::body_framing::none:
            break;
    }
    return true;
}

}  // namespace gatehouse::upstream
