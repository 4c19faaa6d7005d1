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

#include "gatehouse/common/openssl.hpp"

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

// A TLS listener as configured.
struct tls_server_settings {
    std::vector<tls_certificate_files> certificates;
    tls_version min_version = tls_version::v1_2;
    tls_client_auth client_auth;
    // How long a session may be resumed; session-ticket keys rotate at this period.
    std::chrono::seconds session_lifetime{3600};
    // Listeners with the same scope (their address) share ticket keys across config loads,
    // so a reload does not end the sessions clients hold.
    std::string ticket_scope;
};

class ticket_keys;

class tls_server_context {
public:
    struct certificate_info {
        std::vector<std::string> names;  // DNS names (SANs, else the CN), lower case
        std::chrono::system_clock::time_point not_after;
    };

    // Reads and checks every certificate (readable, key matching, not expired) and the client
    // CA file. On failure returns nullptr, with the index of the bad certificate (or
    // certificates.size() for the client CA file) and why.
    static std::shared_ptr<tls_server_context> create(const tls_server_settings& settings, std::size_t& bad_index,
                                                      std::string& error);
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
    std::shared_ptr<ticket_keys> tickets_;
};

// How the gateway speaks TLS to an upstream's endpoints.
struct tls_upstream_settings {
    std::string server_name;                           // SNI and the name verified; empty: each endpoint's host
    std::string ca_file;                               // the CAs trusted; empty: the system trust store
    std::optional<tls_certificate_files> client_cert;  // presented to the upstream (mTLS)
    bool verify = true;                                // certificate chain and name
    bool operator==(const tls_upstream_settings&) const = default;
};

// The OpenSSL client side towards one upstream cluster: TLS 1.2+, ALPN http/1.1, the trust
// store and client certificate of its settings. Shared by every worker, like the server side.
class tls_client_context {
public:
    // Reads the CA and client certificate files. On failure returns nullptr, with the settings
    // key at fault ("ca_file", "client_cert") and why.
    static std::shared_ptr<tls_client_context> create(const tls_upstream_settings& settings, std::string& bad_key,
                                                      std::string& error);
    ~tls_client_context();
    tls_client_context(const tls_client_context&) = delete;
    tls_client_context& operator=(const tls_client_context&) = delete;

    boost::asio::ssl::context& context() { return *context_; }
    const tls_upstream_settings& settings() const { return settings_; }
    // SHA-256 over the settings and the bytes of the files read: two loads of unchanged files
    // give equal contexts (a reload keeps the pools), a renewed certificate a different one.
    const std::string& identity() const { return identity_; }

private:
    tls_client_context() = default;
    std::unique_ptr<boost::asio::ssl::context> context_;
    tls_upstream_settings settings_;
    std::string identity_;
};

// The last TLS session an endpoint's server gave one worker, offered by that worker's next
// connection to it: a pool of N connections costs one full handshake, not N. Filled from the
// context's new-session callback (TLS 1.3 tickets arrive after the handshake).
class tls_session_slot {
public:
    SSL_SESSION* get() const { return session_.get(); }
    void store(SSL_SESSION* session) { session_.reset(session); }  // takes ownership
    void clear() { session_.reset(); }
    // The SSL ex_data index that points a connection at its slot.
    static int ex_index();

private:
    openssl_ptr<SSL_SESSION> session_;
};

}  // namespace gatehouse::common
