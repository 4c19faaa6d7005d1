#include "gatehouse/common/tls_context.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <boost/asio/ssl/context.hpp>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "gatehouse/common/openssl.hpp"

namespace gatehouse::common {

namespace asio = boost::asio;

struct tls_server_context::entry {
    entry() : context(asio::ssl::context::tls_server) {}
    std::vector<std::string> names;
    asio::ssl::context context;
};

namespace {

// Mozilla's "intermediate" TLS 1.2 ciphers (TLS 1.3's suites are OpenSSL's defaults).
constexpr const char* intermediate_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

std::string openssl_error() {
    char text[256];
    auto code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) return "unknown OpenSSL error";
    ERR_error_string_n(code, text, sizeof text);
    return text;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// The certificate's DNS names and expiry, read from its PEM file.
bool read_certificate(const std::string& path, tls_server_context::certificate_info& info, std::string& error) {
    openssl_ptr<BIO> bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) {
        error = "cannot read certificate " + path;
        ERR_clear_error();
        return false;
    }
    openssl_ptr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
        error = path + " holds no PEM certificate";
        ERR_clear_error();
        return false;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0) {
        error = "certificate " + path + " has expired";
        return false;
    }
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) == 1) {
        info.not_after = std::chrono::system_clock::from_time_t(timegm(&tm));
    }
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
    if (sans) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const auto* name = sk_GENERAL_NAME_value(sans, i);
            if (name->type != GEN_DNS) continue;
            const auto* text = reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName));
            info.names.push_back(lower({text, static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName))}));
        }
        GENERAL_NAMES_free(sans);
    }
    if (info.names.empty()) {
        auto* subject = X509_get_subject_name(cert.get());
        int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
        if (at >= 0) {
            const auto* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
            info.names.push_back(lower({reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                                        static_cast<std::size_t>(ASN1_STRING_length(cn))}));
        }
    }
    return true;
}

int select_http11(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* offered,
                  unsigned int offered_length, void*) {
    static constexpr unsigned char ours[] = "\x08http/1.1";
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, out_length, ours, sizeof ours - 1, offered, offered_length) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = chosen;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;  // no protocol in common: carry on without ALPN (HTTP/1.1)
}

// Mozilla's "intermediate" key exchange groups, after the post-quantum hybrid where this
// OpenSSL has it (3.5): OpenSSL's default list adds x448, P-521 and the finite-field groups.
void set_groups(SSL_CTX* ctx) {
    if (SSL_CTX_set1_groups_list(ctx, "X25519MLKEM768:X25519:prime256v1:secp384r1") != 1) {
        ERR_clear_error();
        SSL_CTX_set1_groups_list(ctx, "X25519:prime256v1:secp384r1");
    }
}

void configure(SSL_CTX* ctx, tls_version min_version) {
    SSL_CTX_set_min_proto_version(ctx, min_version == tls_version::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_cipher_list(ctx, intermediate_ciphers);
    SSL_CTX_set_dh_auto(ctx, 1);  // the DHE-RSA suites of the list, with ffdhe2048 for RSA-2048 keys
    set_groups(ctx);
    SSL_CTX_set_alpn_select_cb(ctx, select_http11, nullptr);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    static constexpr unsigned char session_context[] = "gatehouse";
    SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1);
}

// Asks clients for a certificate signed by a CA of client_auth.ca_file (named in the
// CertificateRequest, so a client with several picks the right one) and verifies it.
bool require_client_certificates(SSL_CTX* ctx, const tls_client_auth& client_auth, std::string& error) {
    if (SSL_CTX_load_verify_locations(ctx, client_auth.ca_file.c_str(), nullptr) != 1) {
        error = "cannot read client CA file " + client_auth.ca_file + ": " + openssl_error();
        return false;
    }
    auto* names = SSL_load_client_CA_file(client_auth.ca_file.c_str());
    if (!names) {
        error = "client CA file " + client_auth.ca_file + " holds no PEM certificate";
        ERR_clear_error();
        return false;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    int mode = SSL_VERIFY_PEER;
    if (client_auth.mode == client_auth_mode::require) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
    return true;
}

bool wildcard_match(std::string_view pattern, std::string_view name) {
    if (!pattern.starts_with("*.")) return false;
    auto dot = name.find('.');
    return dot != std::string_view::npos && dot > 0 && name.substr(dot) == pattern.substr(1);
}

}  // namespace

// Session-ticket keys of one listener: the newest encrypts new tickets; it and the one before
// decrypt (a ticket lives at most one lifetime, and a key encrypts for one). Generated here,
// never written anywhere, rotated when a ticket is issued past the newest key's lifetime.
// Shared by the listener's contexts across reloads (by scope), and so by every worker; the
// mutex is taken once per handshake that issues or presents a ticket, next to its
// public-key operations.
class ticket_keys {
public:
    explicit ticket_keys(std::chrono::seconds lifetime) : lifetime_(lifetime) {}

    void set_lifetime(std::chrono::seconds lifetime) {
        std::lock_guard lock(mutex_);
        lifetime_ = lifetime;
    }

    // OpenSSL's ticket key callback: 1 key set, 2 (decrypting) key set and renew the ticket, 0
    // no key (decrypting: a full handshake), -1 failure.
    int operator()(unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
        key chosen;
        bool newest = true;
        {
            std::lock_guard lock(mutex_);
            const auto now = std::chrono::steady_clock::now();
            if (keys_.empty() || now - keys_.front().created >= lifetime_) {
                if (!rotate(now)) return -1;
            }
            if (encrypt) {
                chosen = keys_.front();
            } else {
                auto it = std::find_if(keys_.begin(), keys_.end(),
                                       [&](const key& k) { return std::memcmp(k.name, name, sizeof k.name) == 0; });
                if (it == keys_.end()) return 0;
                chosen = *it;
                newest = it == keys_.begin();
            }
        }
        if (encrypt) {
            std::memcpy(name, chosen.name, sizeof chosen.name);
            if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1 ||
                EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, chosen.aes, iv) != 1) {
                return -1;
            }
        } else if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, chosen.aes, iv) != 1) {
            return -1;
        }
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, chosen.hmac, sizeof chosen.hmac),
                               OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
        if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
        return newest ? 1 : 2;
    }

    static int ex_index() {
        static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
        return index;
    }

private:
    struct key {
        unsigned char name[16];
        unsigned char aes[32];
        unsigned char hmac[32];
        std::chrono::steady_clock::time_point created;
    };

    bool rotate(std::chrono::steady_clock::time_point now) {
        key k{};
        if (RAND_bytes(k.name, sizeof k.name) != 1 || RAND_bytes(k.aes, sizeof k.aes) != 1 ||
            RAND_bytes(k.hmac, sizeof k.hmac) != 1) {
            return false;
        }
        k.created = now;
        keys_.push_front(k);
        if (keys_.size() > 2) keys_.pop_back();
        return true;
    }

    std::mutex mutex_;
    std::chrono::seconds lifetime_;
    std::deque<key> keys_;  // newest first
};

namespace {

// The ticket keys of scope: the same object for every config load while one is alive.
std::shared_ptr<ticket_keys> ticket_keys_for(const std::string& scope, std::chrono::seconds lifetime) {
    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<ticket_keys>> by_scope;
    std::lock_guard lock(mutex);
    auto& slot = by_scope[scope];
    if (auto keys = slot.lock()) {
        keys->set_lifetime(lifetime);
        return keys;
    }
    auto keys = std::make_shared<ticket_keys>(lifetime);
    slot = keys;
    return keys;
}

int ticket_key_callback(SSL* ssl, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                        int encrypt) {
    auto* keys = static_cast<ticket_keys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ticket_keys::ex_index()));
    int result = keys ? (*keys)(name, iv, cipher, mac, encrypt) : -1;
    // TLS 1.3 clients use a ticket once (OpenSSL's do): a resumption must bring a new one, as
    // OpenSSL's built-in keys do, or every other connection of a client is a full handshake.
    if (result == 1 && !encrypt && SSL_version(ssl) == TLS1_3_VERSION) result = 2;
    return result;
}

}  // namespace

tls_server_context::tls_server_context() = default;
tls_server_context::~tls_server_context() = default;

std::shared_ptr<tls_server_context> tls_server_context::create(const tls_server_settings& settings,
                                                               std::size_t& bad_index, std::string& error) {
    const auto& certificates = settings.certificates;
    const auto& client_auth = settings.client_auth;
    std::shared_ptr<tls_server_context> self(new tls_server_context());
    for (std::size_t i = 0; i < certificates.size(); ++i) {
        bad_index = i;
        const auto& files = certificates[i];
        tls_server_context::certificate_info info;
        if (!read_certificate(files.cert, info, error)) return nullptr;
        // Certificates for the same names (an RSA and an ECDSA one) share a context: OpenSSL
        // then gives each client the one its signature algorithms allow.
        auto it = std::find_if(self->entries_.begin(), self->entries_.end(),
                               [&](const auto& e) { return e->names == info.names; });
        entry* target = nullptr;
        if (it != self->entries_.end()) {
            target = it->get();
        } else {
            self->entries_.push_back(std::make_unique<entry>());
            target = self->entries_.back().get();
            target->names = info.names;
            configure(target->context.native_handle(), settings.min_version);
        }
        auto* ctx = target->context.native_handle();
        if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1) {
            error = "cannot load certificate " + files.cert + ": " + openssl_error();
            return nullptr;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
            auto why = openssl_error();
            error = why.find("mismatch") != std::string::npos
                        ? "private key " + files.key + " does not match certificate " + files.cert
                        : "cannot load private key " + files.key + ": " + why;
            return nullptr;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            error = "private key " + files.key + " does not match certificate " + files.cert;
            ERR_clear_error();
            return nullptr;
        }
        self->info_.push_back(std::move(info));
    }
    if (self->entries_.empty()) {
        error = "no certificate";
        return nullptr;
    }
    if (client_auth.mode != client_auth_mode::none) {
        bad_index = certificates.size();
        // Every context verifies alike: SNI may switch a handshake to any of them.
        for (const auto& e : self->entries_) {
            if (!require_client_certificates(e->context.native_handle(), client_auth, error)) return nullptr;
        }
    }
    self->tickets_ = ticket_keys_for(settings.ticket_scope, settings.session_lifetime);
    for (const auto& e : self->entries_) {
        auto* ctx = e->context.native_handle();
        SSL_CTX_set_timeout(ctx, static_cast<long>(settings.session_lifetime.count()));
        SSL_CTX_set_ex_data(ctx, ticket_keys::ex_index(), self->tickets_.get());
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_callback);
    }
    auto* first = self->entries_.front()->context.native_handle();
    SSL_CTX_set_tlsext_servername_callback(
        first, +[](SSL* ssl, int*, void* arg) -> int {
            const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
            if (!name) return SSL_TLSEXT_ERR_OK;  // no SNI: the first certificate
            auto* chosen = static_cast<tls_server_context*>(arg)->choose(name);
            if (chosen != static_cast<tls_server_context*>(arg)->entries_.front().get()) {
                SSL_set_SSL_CTX(ssl, chosen->context.native_handle());
            }
            return SSL_TLSEXT_ERR_OK;
        });
    SSL_CTX_set_tlsext_servername_arg(first, self.get());
    return self;
}

asio::ssl::context& tls_server_context::initial() {
    return entries_.front()->context;
}

tls_server_context::entry* tls_server_context::choose(std::string_view server_name) {
    auto name = lower(server_name);
    for (const auto& e : entries_) {
        if (std::find(e->names.begin(), e->names.end(), name) != e->names.end()) return e.get();
    }
    for (const auto& e : entries_) {
        for (const auto& pattern : e->names) {
            if (wildcard_match(pattern, name)) return e.get();
        }
    }
    return entries_.front().get();
}

namespace {

bool read_file(const std::string& path, std::string& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::ostringstream text;
    text << in.rdbuf();
    out = text.str();
    return true;
}

std::string sha256_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < size; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 15];
    }
    return out;
}

// Called by OpenSSL when a server hands this client a session (or a TLS 1.3 ticket).
int remember_session(SSL* ssl, SSL_SESSION* session) {
    auto* slot = static_cast<tls_session_slot*>(SSL_get_ex_data(ssl, tls_session_slot::ex_index()));
    if (!slot) return 0;
    slot->store(session);
    return 1;  // the slot holds the reference OpenSSL gave us
}

}  // namespace

int tls_session_slot::ex_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

tls_client_context::~tls_client_context() = default;

std::shared_ptr<tls_client_context> tls_client_context::create(const tls_upstream_settings& settings,
                                                               std::string& bad_key, std::string& error) {
    std::shared_ptr<tls_client_context> self(new tls_client_context());
    self->settings_ = settings;
    self->context_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    auto* ctx = self->context_->native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_cipher_list(ctx, intermediate_ciphers);
    set_groups(ctx);
    static constexpr unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, remember_session);
    SSL_CTX_set_verify(ctx, settings.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);

    std::string identity = settings.server_name + '\n' + settings.ca_file + '\n' + (settings.verify ? "1" : "0");
    std::string bytes;
    if (!settings.ca_file.empty()) {
        bad_key = "ca_file";
        if (!read_file(settings.ca_file, bytes)) {
            error = "cannot read CA file " + settings.ca_file;
            return nullptr;
        }
        if (SSL_CTX_load_verify_locations(ctx, settings.ca_file.c_str(), nullptr) != 1) {
            error = "CA file " + settings.ca_file + " holds no usable PEM certificate: " + openssl_error();
            return nullptr;
        }
        identity += '\n' + sha256_hex(bytes);
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        ERR_clear_error();  // no system store: every verification fails, which says why
    }
    if (settings.client_cert) {
        bad_key = "client_cert";
        const auto& files = *settings.client_cert;
        tls_server_context::certificate_info info;
        if (!read_certificate(files.cert, info, error)) return nullptr;
        if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1) {
            error = "cannot load certificate " + files.cert + ": " + openssl_error();
            return nullptr;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            auto why = openssl_error();
            error = why.find("mismatch") != std::string::npos || why.find("values mismatch") != std::string::npos
                        ? "private key " + files.key + " does not match certificate " + files.cert
                        : "cannot load private key " + files.key + ": " + why;
            return nullptr;
        }
        std::string key_bytes;
        read_file(files.cert, bytes);
        read_file(files.key, key_bytes);
        identity += '\n' + files.cert + '\n' + files.key + '\n' + sha256_hex(bytes + key_bytes);
    }
    bad_key.clear();
    self->identity_ = sha256_hex(identity);
    return self;
}

}  // namespace gatehouse::common
