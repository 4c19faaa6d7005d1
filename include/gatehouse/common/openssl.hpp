#pragma once
// Ownership of OpenSSL objects: a unique_ptr frees each with its own OpenSSL function, so no
// early return leaks one. Only <openssl/types.h> here: headers that hold a key stay light.
#include <memory>

#include <openssl/types.h>

// <openssl/ssl.h> declares it the same way; repeating the typedef spares every includer that header.
typedef struct ssl_session_st SSL_SESSION;  // NOLINT(modernize-use-using)

namespace gatehouse::common {

struct openssl_deleter {
    void operator()(EVP_PKEY* p) const;
    void operator()(EVP_PKEY_CTX* p) const;
    void operator()(EVP_MD_CTX* p) const;
    void operator()(BIO* p) const;
    void operator()(X509* p) const;
    void operator()(BIGNUM* p) const;
    void operator()(OSSL_PARAM_BLD* p) const;
    void operator()(OSSL_PARAM* p) const;
    void operator()(SSL_SESSION* p) const;
};

template <typename T>
using openssl_ptr = std::unique_ptr<T, openssl_deleter>;

}  // namespace gatehouse::common
