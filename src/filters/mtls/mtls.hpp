#pragma once
// mtls: the route requires a verified client certificate (a TLS listener with client_auth
// optional or require), optionally one whose subject or a SAN is on an allow list. The
// certificate names the consumer, as an API key does, for later filters, logs and upstream.
//   no verified certificate -> 403 client_certificate_required; one not on the allow lists ->
//   403 client_certificate_not_allowed.
#include <memory>
#include <optional>
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

namespace gatehouse::filters::mtls {

// Which part of the certificate becomes the consumer.
enum class consumer_source { common_name, subject, san, fingerprint };

struct settings {
    std::vector<std::string> subjects;  // allowed RFC 2253 subjects, exact; with sans empty: any certificate
    std::vector<std::string> sans;      // allowed SAN values (DNS, URI, email, IP)
    consumer_source consumer = consumer_source::common_name;
    std::optional<std::string> consumer_header;  // send the consumer upstream in this field
};

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path);
// The keys parse accepts, with their types (--print-schema).
config::schema::ref schema();

}  // namespace gatehouse::filters::mtls
