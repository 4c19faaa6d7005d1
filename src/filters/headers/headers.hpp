#pragma once
// headers: set, add and remove fields of the request sent upstream and of the response sent to
// the client. Values may use %{variable} to insert request data: client_ip, client_port,
// method, path, host, scheme, request_id, trace_id, route, consumer, header.NAME (a request
// field), and on the response side also status. "%%" is a literal "%".
#include <memory>
#include <string>
#include <vector>

#include "gatehouse/config/schema.hpp"
#include "gatehouse/filters/factory.hpp"

namespace YAML {
class Node;
}
namespace gatehouse::config {
class reader;
}

namespace gatehouse::filters::headers {

// A value with %{variable} references, compiled once at load.
class value_template {
public:
    // Compiles text; on failure returns nullopt and sets error.
    static std::optional<value_template> compile(std::string_view text, bool response_side, std::string& error);

    // Appends the value for this request (and response status, 0 on the request side).
    void render(const request_context& ctx, unsigned status, std::pmr::string& out) const;
    const std::string& source() const { return source_; }

private:
    enum class kind {
        literal,
        client_ip,
        client_port,
        method,
        path,
        host,
        scheme,
        request_id,
        trace_id,
        route,
        consumer,
        tls_client_subject,
        tls_client_san,
        tls_client_fingerprint,
        header,
        status
    };
    struct part {
        kind what;
        std::string text;  // the literal, or the header name
    };
    std::vector<part> parts_;
    std::string source_;
};

struct edit_list {
    std::vector<std::pair<std::string, value_template>> set;
    std::vector<std::pair<std::string, value_template>> add;
    std::vector<std::string> remove;
};

struct settings {
    edit_list request;
    edit_list response;
};

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path);
// The keys parse accepts, with their types (--print-schema).
config::schema::ref schema();

}  // namespace gatehouse::filters::headers
