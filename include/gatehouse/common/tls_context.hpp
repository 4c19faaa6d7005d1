#pragma once
// The OpenSSL server side of a TLS listener: its certificates, chosen per handshake by the
// name the client asks for (SNI: an exact name, then a wildcard, then the first certificate),
// TLS 1.2+ with the Mozilla "intermediate" ciphers, ALPN http/1.1, and session resumption.
// Built once per config load and shared by every worker: OpenSSL contexts are safe to use
// from several threads, and one context means one session cache and one ticket key for all.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace gatehouse::common {

struct tls_certificate_files {
    std::string cert;  // PEM: the certificate, then its chain
    std::string key;   // PEM private key (RSA or EC)
    bool operator==(const tls_certificate_files&) const = default;
};

enum class tls_version { v1_2, v1_3 };

// Client certificates a listener asks for: none, optional (one that is sent must verify),
// require (the handshake fails without a verified one). ca_file: the PEM CAs that sign them.
enum class client_auth_mode { none, optional, require };
struct tls_client_auth {
    client_auth_mode mode = client_auth_mode::none;
    std::string ca_file;
    bool forward = false;  // send X-Forwarded-Client-Cert upstream
    bool operator==(const tls_client_auth&) const = default;
};

class tls_server_context {
public:
    struct certificate_info {
        std::vector<std::string> names;  // DNS names (SANs, else the CN), lower case
        std::chrono::system_clock::time_point not_after;
    };

    // Reads and checks every certificate (readable, key matching, not expired) and the client
    // CA file. On failure returns nullptr, with the index of the bad certificate (or
    // certificates.size() for the client CA file) and why.
    static std::shared_ptr<tls_server_context> create(const std::vector<tls_certificate_files>& certificates,
                                                      tls_version min_version, const tls_client_auth& client_auth,
                                                      std::size_t& bad_index, std::string& error);
    ~tls_server_context();
    tls_server_context(const tls_server_context&) = delete;
    tls_server_context& operator=(const tls_server_context&) = delete;

    // The context a handshake starts with; SNI may switch it to another certificate's.
    boost::asio::ssl::context& initial();
    const std::vector<certificate_info>& certificates() const { return info_; }

private:
    tls_server_context();
    struct entry;
    // Of the entries, the one for a requested name: exact, wildcard, else the first.
    entry* choose(std::string_view server_name);

    std::vector<std::unique_ptr<entry>> entries_;
    std::vector<certificate_info> info_;
};

}  // namespace gatehouse::common
