#pragma once
// A strict validator for the chunked transfer coding (RFC 9112 section 7.1). It lets a body
// pass through byte for byte while proving its framing is unambiguous: hex sizes without
// prefixes or overflow, CRLF line ends only, well-formed extensions and trailer fields.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gatehouse::http {

class chunked_scanner {
public:
    enum class status {
        need_more,  // all input consumed, the body continues
        done,       // the body ended; consumed counts up to and including its final CRLF
        error       // malformed; error() says why
    };

    struct result {
        status state;
        std::size_t consumed;  // input bytes that belong to the body
    };

    // Receives the decoded data bytes, for a peer that cannot take chunked (HTTP/1.0).
    using data_callback = void (*)(void* context, const char* data, std::size_t size);

    // Scans input; reports data bytes to on_data when it is set.
    result scan(std::string_view input, data_callback on_data = nullptr, void* context = nullptr);

    // Decoded data bytes seen so far (for body size limits).
    std::uint64_t data_bytes() const { return data_bytes_; }

    const char* error() const { return error_; }

    // Limits on the non-data parts, so a peer cannot make us scan forever.
    static constexpr std::size_t max_line = 4096;
    static constexpr std::size_t max_trailer_bytes = 16 * 1024;

private:
    enum class state {
        size_first,
        size,
        size_space,  // whitespace after the size, before ";" or CR
        ext,         // chunk extension up to CR
        size_lf,
        data,
        data_cr,
        data_lf,
        trailer_start,
        trailer_line,
        trailer_lf,
        final_lf,
        done,
        error
    };

    result fail(const char* why, std::size_t consumed);

    state state_ = state::size_first;
    std::uint64_t chunk_remaining_ = 0;
    std::uint64_t data_bytes_ = 0;
    std::size_t line_bytes_ = 0;
    std::size_t trailer_bytes_ = 0;
    int size_digits_ = 0;
    bool trailer_has_colon_ = false;
    bool trailer_name_ok_ = true;
    const char* error_ = nullptr;
};

}  // namespace gatehouse::http
