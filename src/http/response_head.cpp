#include "gatehouse/http/response_head.hpp"

#include <array>
#include <cstring>

#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::http {

namespace {

bool is_token_char(unsigned char c) {
    static constexpr auto table = [] {
        std::array<bool, 256> t{};
        for (int c = '0'; c <= '9'; ++c) t[c] = true;
        for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
        for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
        for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
        return t;
    }();
    return table[c];
}

// Field values and reason phrases: HTAB, SP, VCHAR and obs-text; no other control characters.
bool is_text_char(unsigned char c) {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

}  // namespace

void response_head::reset() {
    fields_.clear();
    scanned_ = 0;
    line_start_ = 0;
    size_ = 0;
    code_ = 0;
    version_ = 11;
    reason_ = {};
    error_ = "";
}

response_head::status response_head::parse(std::string_view data, std::size_t max_bytes) {
    // Find the empty line that ends the head; every line must end in CRLF (a bare LF is
    // refused rather than guessed at: a proxy that splits lines differently from its upstream
    // is how response splitting starts).
    for (std::size_t i = scanned_; i < data.size(); ++i) {
        const void* lf = std::memchr(data.data() + i, '\n', data.size() - i);
        if (!lf) break;
        i = static_cast<std::size_t>(static_cast<const char*>(lf) - data.data());
        if (i == 0 || data[i - 1] != '\r') {
            return fail("line ending without CR");
        }
        if (i + 1 - line_start_ == 2) {
            if (i + 1 > max_bytes) {
                return fail("response head too large");
            }
            size_ = i + 1;
            scanned_ = size_;
            return parse_complete(data.substr(0, size_));
        }
        line_start_ = i + 1;
    }
    scanned_ = data.size();
    if (data.size() > max_bytes) {
        return fail("response head too large");
    }
    return status::need_more;
}

response_head::status response_head::parse_complete(std::string_view head) {
    // status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF
    auto eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[7] < '0' || line[7] > '9' || line[8] != ' ') {
        return fail("bad status line or HTTP version");
    }
    version_ = line[7] == '0' ? 10 : 11;
    unsigned code = 0;
    for (int i = 9; i < 12; ++i) {
        if (line[i] < '0' || line[i] > '9') {
            return fail("bad status code");
        }
        code = code * 10 + static_cast<unsigned>(line[i] - '0');
    }
    if (code < 100 || code > 599) {
        return fail("bad status code");
    }
    code_ = code;
    if (line.size() > 12) {
        if (line[12] != ' ') {
            return fail("bad status code");
        }
        reason_ = line.substr(13);
        for (unsigned char c : reason_) {
            if (!is_text_char(c)) return fail("invalid character in reason phrase");
        }
    }

    // field-line = field-name ":" OWS field-value OWS CRLF
    if (fields_.capacity() == 0) {
        fields_.reserve(16);  // more than most responses carry: one allocation, no regrowth
    }
    std::size_t pos = eol + 2;
    while (pos + 2 < head.size()) {
        auto end = head.find("\r\n", pos);
        line = head.substr(pos, end - pos);
        pos = end + 2;
        if (line.front() == ' ' || line.front() == '\t') {
            return fail("obsolete line folding");
        }
        std::size_t colon = 0;
        while (colon < line.size() && is_token_char(static_cast<unsigned char>(line[colon]))) ++colon;
        if (colon == 0 || colon == line.size() || line[colon] != ':') {
            return fail("invalid field name");  // includes whitespace before the colon
        }
        auto value = line.substr(colon + 1);
        for (unsigned char c : value) {
            if (!is_text_char(c)) return fail("invalid character in field value");
        }
        if (fields_.size() == max_fields) {
            return fail("too many header fields");
        }
        fields_.push_back({line.substr(0, colon), http::trim_whitespace(value)});
    }
    return status::complete;
}

std::optional<std::string_view> response_head::find(std::string_view name) const {
    for (const auto& f : fields_) {
        if (iequals(f.name, name)) return f.value;
    }
    return std::nullopt;
}

bool response_head::keep_alive() const {
    bool close = false;
    bool keep = false;
    for (const auto& f : fields_) {
        if (iequals(f.name, "connection")) {
            for_each_list_token(f.value, [&](std::string_view token) {
                close = close || iequals(token, "close");
                keep = keep || iequals(token, "keep-alive");
            });
        }
    }
    return version_ == 11 ? !close : keep && !close;
}

}  // namespace gatehouse::http
