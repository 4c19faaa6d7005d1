#pragma once
// What a verified client certificate says about its holder, read once per connection after
// the handshake: the request values (%{tls_client_subject}, ...), the access log, the mtls
// filter and the X-Forwarded-Client-Cert field all use this one description.
#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>

namespace gatehouse::common {

struct peer_certificate {
    struct alt_name {
        std::string type;  // DNS, URI, email or IP
        std::string value;
    };
    std::string subject;      // RFC 2253: "CN=billing,O=Example"
    std::string common_name;  // the subject's CN; empty if it has none
    std::vector<alt_name> sans;
    std::string fingerprint;  // SHA-256 of the DER encoding, lower-case hex
    std::string sans_text;    // "DNS:a.example,URI:spiffe://example/a"
    std::string forwarded;    // the X-Forwarded-Client-Cert value (Envoy's format)

    // True if value equals one of the SANs (of any type).
    bool has_san(std::string_view value) const;
};

// Describes cert (never null).
peer_certificate describe_certificate(X509* cert);

}  // namespace gatehouse::common
