#pragma once
// An upstream response head parsed in place: status line and fields become views into the read
// buffer, validated strictly (RFC 9112 sections 4 and 5), with no field container built. The
// gateway only reads a response head once, to check it and write its own, so a general field
// map (with its allocation, name lookup and tree insert per field) was most of the head's cost.
#include <cstddef>
#include <memory_resource>
#include <optional>
#include <string_view>
#include <vector>

namespace gatehouse::http {

struct field_line {
    std::string_view name;
    std::string_view value;  // without surrounding whitespace
};

class response_head {
public:
    enum class status {
        complete,   // the head up to its empty line is parsed
        need_more,  // no end of head yet: call again with the same bytes and more
        error       // not a valid head; error() says why
    };

    // Fields beyond this many make the head invalid (a bound on work per response).
    static constexpr std::size_t max_fields = 256;

    explicit response_head(std::pmr::memory_resource* resource = std::pmr::get_default_resource())
        : fields_(resource) {}

    // Forgets the previous head (for the next response on the connection, or a 1xx's successor).
    void reset();

    // Parses the head at the front of data, which holds everything received so far from the
    // head's first byte on. Incremental: bytes already scanned are not scanned again, so the
    // buffer may grow (and move) between calls. A head larger than max_bytes is an error.
    // Once complete, the views point into data and stay valid while its bytes stay in place.
    status parse(std::string_view data, std::size_t max_bytes);

    std::size_t size() const { return size_; }  // bytes of the head, empty line included
    unsigned code() const { return code_; }
    unsigned version() const { return version_; }  // 10 or 11 (later 1.x minors count as 11)
    std::string_view reason() const { return reason_; }
    const std::pmr::vector<field_line>& fields() const { return fields_; }
    // The first value of the field called name (case-insensitive).
    std::optional<std::string_view> find(std::string_view name) const;
    // The upstream lets the connection be reused: HTTP/1.1 without "close" in Connection, or
    // HTTP/1.0 with "keep-alive".
    bool keep_alive() const;
    const char* error() const { return error_; }

private:
    status fail(const char* why) {
        error_ = why;
        return status::error;
    }
    status parse_complete(std::string_view head);

    std::pmr::vector<field_line> fields_;
    std::size_t scanned_ = 0;     // bytes already searched for line ends
    std::size_t line_start_ = 0;  // where the line being searched began
    std::size_t size_ = 0;
    unsigned code_ = 0;
    unsigned version_ = 11;
    std::string_view reason_;
    const char* error_ = "";
};

}  // namespace gatehouse::http
