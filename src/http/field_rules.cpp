#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::http {

bool is_hop_by_hop_name(std::string_view name) {
    switch (name.size()) {
        case 2:
            return iequals(name, "te");
        case 7:
            return iequals(name, "trailer") || iequals(name, "upgrade");
        case 10:
            return iequals(name, "connection") || iequals(name, "keep-alive");
        case 16:
            return iequals(name, "proxy-connection");
        case 17:
            return iequals(name, "transfer-encoding");
        case 18:
            return iequals(name, "proxy-authenticate");
        default:
            return false;
    }
}

bool valid_field_value(std::string_view value) {
    for (unsigned char c : value) {
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return false;
        }
    }
    return true;
}

bool valid_token(std::string_view name) {
    if (name.empty()) {
        return false;
    }
    for (unsigned char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool valid_host(std::string_view host) {
    if (host.empty() || host.size() > 255 + 6) {
        return false;
    }
    std::string_view name = host;
    std::string_view port;
    if (host.front() == '[') {
        auto close = host.find(']');
        if (close == std::string_view::npos || close < 3) {
            return false;
        }
        for (char c : host.substr(1, close - 1)) {
            bool ok =
                (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
            if (!ok) {
                return false;
            }
        }
        auto rest = host.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return false;
            }
            port = rest.substr(1);
        }
        name = {};
    } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
        name = host.substr(0, colon);
        port = host.substr(colon + 1);
        if (name.empty()) {
            return false;
        }
    }
    for (unsigned char c : name) {
        // reg-name: unreserved / pct-encoded / sub-delims
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  std::string_view("-._~%!$&'()*+,;=").find(static_cast<char>(c)) != std::string_view::npos;
        if (!ok) {
            return false;
        }
    }
    if (port.size() > 5) {
        return false;
    }
    for (char c : port) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return true;
}

std::string_view describe(framing_error e) {
    switch (e) {
        case framing_error::ok:
            return "ok";
        case framing_error::duplicate_content_length:
            return "more than one Content-Length";
        case framing_error::invalid_content_length:
            return "invalid Content-Length";
        case framing_error::content_length_with_chunked:
            return "both Content-Length and Transfer-Encoding";
        case framing_error::chunked_not_last:
            return "Transfer-Encoding whose final coding is not chunked";
        case framing_error::chunked_twice:
            return "chunked applied more than once";
        case framing_error::unsupported_coding:
            return "unsupported transfer coding";
        case framing_error::transfer_encoding_in_http10:
            return "Transfer-Encoding in an HTTP/1.0 message";
    }
    return "unknown";
}

void framing_analyzer::add(std::string_view name, std::string_view value) {
    if (iequals(name, "content-length")) {
        ++content_length_fields_;
        // 1*DIGIT only: no sign, no spaces inside, no list ("5, 5"), at most 18 digits.
        std::string_view v = value;
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
        if (v.find(',') != std::string_view::npos) {
            list_value_ = true;
            return;
        }
        if (v.empty() || v.size() > 18) {
            content_length_valid_ = false;
            return;
        }
        std::uint64_t n = 0;
        for (char c : v) {
            if (c < '0' || c > '9') {
                content_length_valid_ = false;
                return;
            }
            n = n * 10 + static_cast<std::uint64_t>(c - '0');
        }
        content_length_ = n;
    } else if (iequals(name, "transfer-encoding")) {
        has_transfer_encoding_ = true;
        bool any = false;
        for_each_list_token(value, [&](std::string_view coding) {
            any = true;
            if (iequals(coding, "chunked")) {
                ++chunked_count_;
                chunked_last_ = true;
            } else {
                other_coding_ = true;
                chunked_last_ = false;
            }
        });
        if (!any) {
            other_coding_ = true;  // an empty Transfer-Encoding is not a coding we understand
            chunked_last_ = false;
        }
    }
}

framing_error framing_analyzer::finish(bool is_request, unsigned version) {
    if (!content_length_valid_) {
        return framing_error::invalid_content_length;
    }
    if (content_length_fields_ > 1 || list_value_) {
        return framing_error::duplicate_content_length;
    }
    if (has_transfer_encoding_) {
        if (version < 11) {
            return framing_error::transfer_encoding_in_http10;
        }
        if (content_length_fields_ > 0) {
            return framing_error::content_length_with_chunked;
        }
        if (!chunked_last_) {
            return framing_error::chunked_not_last;
        }
        if (chunked_count_ > 1) {
            return framing_error::chunked_twice;
        }
        if (other_coding_) {
            return framing_error::unsupported_coding;
        }
        framing_ = body_framing::chunked;
        return framing_error::ok;
    }
    if (content_length_fields_ == 1) {
        framing_ = content_length_ == 0 && is_request ? body_framing::none : body_framing::length;
        return framing_error::ok;
    }
    framing_ = is_request ? body_framing::none : body_framing::until_close;
    return framing_error::ok;
}

}  // namespace gatehouse::http
