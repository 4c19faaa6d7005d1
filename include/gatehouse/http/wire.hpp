#pragma once
// Serialisation of message heads into a reusable string: one contiguous buffer per head, so
// a head and the first body bytes leave in a single gather write.
#include <boost/beast/http/fields.hpp>

#include <string>
#include <string_view>

namespace gatehouse::http {

// Appends "name: value\r\n" for every field.
void append_fields(std::string& out, const boost::beast::http::fields& fields);

// Appends "METHOD target HTTP/1.1\r\n".
void append_request_line(std::string& out, std::string_view method, std::string_view target);

// Appends "HTTP/1.1 status reason\r\n".
void append_status_line(std::string& out, unsigned status, std::string_view reason);

// Appends a decimal number.
void append_number(std::string& out, std::uint64_t value);

// Appends a lower-case hexadecimal number (chunk sizes).
void append_hex(std::string& out, std::uint64_t value);

}  // namespace gatehouse::http
