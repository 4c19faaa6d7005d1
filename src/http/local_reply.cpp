#include "gatehouse/http/local_reply.hpp"

#include <charconv>

namespace gatehouse::http {

std::string_view reason_phrase(unsigned status) {
    switch (status) {
        case 100:
            return "Continue";
        case 200:
            return "OK";
        case 204:
            return "No Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 411:
            return "Length Required";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 417:
            return "Expectation Failed";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

void append_json_escaped(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    // Most text needs no escaping (ids, paths, addresses): append runs of plain bytes at once.
    std::size_t plain = 0;
    while (plain < text.size()) {
        auto c = static_cast<unsigned char>(text[plain]);
        if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f) {
            break;
        }
        ++plain;
    }
    out.append(text.data(), plain);
    text.remove_prefix(plain);
    for (unsigned char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xf];
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
}

void render_local_reply(std::string& out, const local_reply& reply, std::string_view request_id, std::string_view date,
                        bool close, bool http10_keep_alive, bool head, std::string_view extra_fields) {
    // 204 and 304 carry no body and no Content-Length (RFC 9110 sections 8.6, 15.3.5).
    const bool bodiless = reply.status == 204 || reply.status == 304;
    std::string body;
    if (!bodiless) {
        body.reserve(96 + reply.message.size() + request_id.size() + reply.body_fields.size());
        body += "{\"error\":\"";
        append_json_escaped(body, reply.error);
        body += "\",\"message\":\"";
        append_json_escaped(body, reply.message);
        body += "\",\"request_id\":\"";
        append_json_escaped(body, request_id);
        body += '"';
        if (!reply.body_fields.empty()) {
            body += ',';
            body += reply.body_fields;
        }
        body += "}\n";
    }

    char number[24];
    out += "HTTP/1.1 ";
    auto end = std::to_chars(number, number + sizeof number, reply.status).ptr;
    out.append(number, end);
    out += ' ';
    out += reason_phrase(reply.status);
    if (!bodiless) {
        out += "\r\nContent-Type: application/json\r\nContent-Length: ";
        end = std::to_chars(number, number + sizeof number, body.size()).ptr;
        out.append(number, end);
    }
    if (!date.empty()) {
        out += "\r\nDate: ";
        out += date;
    }
    if (!request_id.empty()) {
        out += "\r\nX-Request-Id: ";
        out += request_id;
    }
    out += "\r\nCache-Control: no-store\r\n";
    for (const auto& [name, value] : reply.headers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    out += extra_fields;
    if (close) {
        out += "Connection: close\r\n";
    } else if (http10_keep_alive) {
        out += "Connection: keep-alive\r\n";
    }
    out += "\r\n";
    if (!head) {
        out += body;
    }
}

}  // namespace gatehouse::http
