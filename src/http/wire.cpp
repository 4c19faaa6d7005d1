#include "gatehouse/http/wire.hpp"

#include <charconv>

namespace gatehouse::http {

void append_fields(std::string& out, const boost::beast::http::fields& fields) {
    for (const auto& field : fields) {
        auto name = field.name_string();
        auto value = field.value();
        out.append(name.data(), name.size());
        out += ": ";
        out.append(value.data(), value.size());
        out += "\r\n";
    }
}

void append_request_line(std::string& out, std::string_view method, std::string_view target) {
    out += method;
    out += ' ';
    out += target;
    out += " HTTP/1.1\r\n";
}

void append_number(std::string& out, std::uint64_t value) {
    char text[24];
    auto end = std::to_chars(text, text + sizeof text, value).ptr;
    out.append(text, end);
}

void append_hex(std::string& out, std::uint64_t value) {
    char text[24];
    auto end = std::to_chars(text, text + sizeof text, value, 16).ptr;
    out.append(text, end);
}

void append_status_line(std::string& out, unsigned status, std::string_view reason) {
    out += "HTTP/1.1 ";
    append_number(out, status);
    out += ' ';
    out += reason;
    out += "\r\n";
}

}  // namespace gatehouse::http
