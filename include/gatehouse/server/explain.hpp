#pragma once
// "Where would this request go, and why?", answered without a socket: the same request checks,
// route table, filters and upstream head builder the server uses, run on a described request.
// `gatehouse explain --config FILE 'GET https://host/path'` prints it; the admin listener's
// POST /explain answers it as JSON against the running config.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

#include "gatehouse/config/config.hpp"
#include "gatehouse/router/route_table.hpp"

namespace gatehouse::server {

struct explain_input {
    std::string method = "GET";
    std::string target;  // absolute ("https://api.example.com/x?y") or origin-form ("/x?y", then give Host)
    std::vector<std::pair<std::string, std::string>> headers;
    std::string client_ip = "127.0.0.1";  // the peer address filters and X-Forwarded-For see
};

// "GET https://api.example.com/users/42" (the method may be left out: GET). nullopt and error
// when it is not a method and a target.
std::optional<explain_input> parse_explain_line(std::string_view line, std::string& error);
// "Name: value", as curl's -H.
bool parse_explain_header(std::string_view text, std::pair<std::string, std::string>& out);

// Everything explain finds, as JSON (the admin answer; explain_text renders it for a terminal).
boost::json::object explain(const config::gateway_config& config, const router::route_table& routes,
                            const explain_input& input);

std::string explain_text(const boost::json::object& result);

// Values the config took from the environment, replaced by "<redacted>" (as on /config).
std::string redact(std::string text, const config::gateway_config& config);

// The admin's POST /explain: body is {"request": "GET https://host/path", "headers": {"Name":
// "value"} or ["Name: value"], "client_ip": "10.0.0.7"}. Returns 200 and explain's JSON, or
// 400 and an error naming what is wrong with the body.
std::pair<unsigned, std::string> explain_json(const config::gateway_config& config, const router::route_table& routes,
                                              std::string_view body);

}  // namespace gatehouse::server
