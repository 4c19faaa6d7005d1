#pragma once
// The one place that builds responses the gateway answers itself (errors, 404, limits): a
// status, a JSON body {"error", "message", "request_id"} and the framing headers.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::http {

struct local_reply {
    unsigned status = 500;
    std::string_view error;                                      // stable machine-readable code, e.g. "route_not_found"
    std::string message;                                         // human-readable detail
    std::vector<std::pair<std::string, std::string>> headers{};  // extra fields (WWW-Authenticate, Retry-After)
    std::string body_fields{};  // extra members of the JSON body, rendered: "\"backend\":\"user\""
};

// Standard reason phrase for a status code ("Bad Gateway").
std::string_view reason_phrase(unsigned status);

// Escapes text for a JSON string literal (without the quotes).
void append_json_escaped(std::string& out, std::string_view text);

// Appends the complete wire form (head and body) of reply to out. close adds
// "Connection: close"; http10_keep_alive adds "Connection: keep-alive"; head omits the body.
// extra_fields are complete "Name: value\r\n" lines added to the head.
void render_local_reply(std::string& out, const local_reply& reply, std::string_view request_id, std::string_view date,
                        bool close, bool http10_keep_alive, bool head, std::string_view extra_fields = {});

}  // namespace gatehouse::http
