#include "gatehouse/http/chunked.hpp"

#include <algorithm>

#include "gatehouse/common/hex.hpp"

namespace gatehouse::http {

namespace {

using common::hex_value;
bool is_tchar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}
}  // namespace

chunked_scanner::result chunked_scanner::fail(const char* why, std::size_t consumed) {
    state_ = state::error;
    error_ = why;
    return {status::error, consumed};
}

// A state machine over the input, one byte or one data run at a time (RFC 9112 section 7.1):
// kept in one function, one case per state, so that every transition reads in one place and
// the fuzzer (fuzz_chunked) covers them together.
chunked_scanner::result chunked_scanner::scan(std::string_view input, data_callback on_data, void* context) {
    if (state_ == state::error) {
        return {status::error, 0};
    }
    if (state_ == state::done) {
        return {status::done, 0};
    }
    const char* p = input.data();
    const std::size_t n = input.size();
    std::size_t i = 0;
    while (i < n) {
        const char c = p[i];
        const auto uc = static_cast<unsigned char>(c);
        switch (state_) {
            case state::size_first:
            case state::size: {
                int v = hex_value(c);
                if (v >= 0) {
                    if (++size_digits_ > 16 || (chunk_remaining_ >> 60) != 0) {
                        return fail("chunk size too large", i);
                    }
                    chunk_remaining_ = (chunk_remaining_ << 4) | static_cast<std::uint64_t>(v);
                    state_ = state::size;
                    ++i;
                    break;
                }
                if (state_ == state::size_first) {
                    return fail("chunk size is not a hex number", i);
                }
                if (c == '\r') {
                    state_ = state::size_lf;
                } else if (c == ';') {
                    state_ = state::ext;
                } else if (c == ' ' || c == '\t') {
                    state_ = state::size_space;
                } else {
                    return fail("invalid character after chunk size", i);
                }
                ++line_bytes_;
                ++i;
                break;
            }
            case state::size_space:
                if (c == ' ' || c == '\t') {
                } else if (c == ';') {
                    state_ = state::ext;
                } else if (c == '\r') {
                    state_ = state::size_lf;
                } else {
                    return fail("invalid character after chunk size", i);
                }
                if (++line_bytes_ > max_line) return fail("chunk line too long", i);
                ++i;
                break;
            case state::ext:
                // chunk-ext: visible characters, spaces, tabs and quoted strings; no bare CR/LF.
                if (c == '\r') {
                    state_ = state::size_lf;
                } else if ((uc < 0x20 && c != '\t') || uc == 0x7f) {
                    return fail("control character in chunk extension", i);
                }
                if (++line_bytes_ > max_line) return fail("chunk line too long", i);
                ++i;
                break;
            case state::size_lf:
                if (c != '\n') {
                    return fail("chunk size line not ended by CRLF", i);
                }
                ++i;
                line_bytes_ = 0;
                size_digits_ = 0;
                if (chunk_remaining_ == 0) {
                    state_ = state::trailer_start;
                } else {
                    state_ = state::data;
                }
                break;
            case state::data: {
                std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_remaining_, n - i));
                if (on_data) {
                    on_data(context, p + i, take);
                }
                chunk_remaining_ -= take;
                data_bytes_ += take;
                i += take;
                if (chunk_remaining_ == 0) {
                    state_ = state::data_cr;
                }
                break;
            }
            case state::data_cr:
                if (c != '\r') return fail("chunk data not followed by CRLF", i);
                state_ = state::data_lf;
                ++i;
                break;
            case state::data_lf:
                if (c != '\n') return fail("chunk data not followed by CRLF", i);
                state_ = state::size_first;
                ++i;
                break;
            case state::trailer_start:
                if (c == '\r') {
                    state_ = state::final_lf;
                    ++i;
                    break;
                }
                state_ = state::trailer_line;
                trailer_has_colon_ = false;
                trailer_name_ok_ = true;
                line_bytes_ = 0;
                [[fallthrough]];
            case state::trailer_line:
                if (c == '\r') {
                    if (!trailer_has_colon_ || line_bytes_ == 0) return fail("malformed trailer field", i);
                    state_ = state::trailer_lf;
                } else if ((uc < 0x20 && c != '\t') || uc == 0x7f) {
                    return fail("control character in trailer field", i);
                } else if (!trailer_has_colon_) {
                    if (c == ':') {
                        if (line_bytes_ == 0 || !trailer_name_ok_) return fail("malformed trailer field", i);
                        trailer_has_colon_ = true;
                    } else if (!is_tchar(uc)) {
                        trailer_name_ok_ = false;
                    }
                }
                ++line_bytes_;
                if (++trailer_bytes_ > max_trailer_bytes) return fail("trailer section too large", i);
                ++i;
                break;
            case state::trailer_lf:
                if (c != '\n') return fail("trailer field not ended by CRLF", i);
                state_ = state::trailer_start;
                ++i;
                break;
            case state::final_lf:
                if (c != '\n') return fail("chunked body not ended by CRLF", i);
                state_ = state::done;
                ++i;
                return {status::done, i};
            case state::done:
            case state::error:
                return {status::error, i};
        }
    }
    return {status::need_more, i};
}

}  // namespace gatehouse::http
