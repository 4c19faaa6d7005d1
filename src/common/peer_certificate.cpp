#include "gatehouse/common/peer_certificate.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "gatehouse/common/openssl.hpp"

namespace gatehouse::common {

namespace {

// The string's bytes, control characters written as \XX: the values end up in header fields
// and log lines, and a CR LF in a SAN must not start a field of its own.
std::string asn1_text(const ASN1_STRING* s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    const auto* data = ASN1_STRING_get0_data(s);
    std::string out;
    for (int i = 0; i < ASN1_STRING_length(s); ++i) {
        auto c = data[i];
        if (c < 0x20 || c == 0x7f) {
            out += '\\';
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string rfc2253(X509_NAME* name) {
    openssl_ptr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
    char* data = nullptr;
    auto size = BIO_get_mem_data(bio.get(), &data);
    return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

std::string ip_text(const ASN1_OCTET_STRING* ip) {
    const auto* b = ASN1_STRING_get0_data(ip);
    const auto n = ASN1_STRING_length(ip);
    std::string out;
    char part[8];
    if (n == 4) {
        for (int i = 0; i < 4; ++i) {
            if (i) out += '.';
            out += std::to_string(b[i]);
        }
    } else if (n == 16) {
        for (int i = 0; i < 16; i += 2) {
            if (i) out += ':';
            std::snprintf(part, sizeof part, "%x", (b[i] << 8) | b[i + 1]);
            out += part;
        }
    }
    return out;
}

// A quoted-string value of X-Forwarded-Client-Cert: quotes and backslashes escaped.
void append_quoted(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

}  // namespace

bool peer_certificate::has_san(std::string_view value) const {
    for (const auto& san : sans) {
        if (san.value == value) return true;
    }
    return false;
}

peer_certificate describe_certificate(X509* cert) {
    peer_certificate out;
    auto* subject = X509_get_subject_name(cert);
    out.subject = rfc2253(subject);
    if (int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); at >= 0) {
        out.common_name = asn1_text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)));
    }
    if (auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
            const auto* name = sk_GENERAL_NAME_value(names, i);
            switch (name->type) {
                case GEN_DNS:
                    out.sans.push_back({"DNS", asn1_text(name->d.dNSName)});
                    break;
                case GEN_URI:
                    out.sans.push_back({"URI", asn1_text(name->d.uniformResourceIdentifier)});
                    break;
                case GEN_EMAIL:
                    out.sans.push_back({"email", asn1_text(name->d.rfc822Name)});
                    break;
                case GEN_IPADD:
                    out.sans.push_back({"IP", ip_text(name->d.iPAddress)});
                    break;
                default:
                    break;
            }
        }
        GENERAL_NAMES_free(names);
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (X509_digest(cert, EVP_sha256(), digest, &size) == 1) {
        static constexpr char hex[] = "0123456789abcdef";
        for (unsigned i = 0; i < size; ++i) {
            out.fingerprint += hex[digest[i] >> 4];
            out.fingerprint += hex[digest[i] & 15];
        }
    }
    for (const auto& san : out.sans) {
        if (!out.sans_text.empty()) out.sans_text += ',';
        out.sans_text += san.type + ":" + san.value;
    }
    // Envoy's X-Forwarded-Client-Cert: Hash=...;Subject="...";URI=...;DNS=...
    out.forwarded = "Hash=" + out.fingerprint + ";Subject=";
    append_quoted(out.forwarded, out.subject);
    for (const auto& san : out.sans) {
        if (san.type != "URI" && san.type != "DNS") continue;
        out.forwarded += ";" + san.type + "=";
        append_quoted(out.forwarded, san.value);
    }
    return out;
}

}  // namespace gatehouse::common
