#include "gatehouse/common/openssl.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace gatehouse::common {

void openssl_deleter::operator()(EVP_PKEY* p) const {
    EVP_PKEY_free(p);
}
void openssl_deleter::operator()(EVP_PKEY_CTX* p) const {
    EVP_PKEY_CTX_free(p);
}
void openssl_deleter::operator()(EVP_MD_CTX* p) const {
    EVP_MD_CTX_free(p);
}
void openssl_deleter::operator()(BIO* p) const {
    BIO_free(p);
}
void openssl_deleter::operator()(X509* p) const {
    X509_free(p);
}
void openssl_deleter::operator()(BIGNUM* p) const {
    BN_free(p);
}
void openssl_deleter::operator()(OSSL_PARAM_BLD* p) const {
    OSSL_PARAM_BLD_free(p);
}
void openssl_deleter::operator()(OSSL_PARAM* p) const {
    OSSL_PARAM_free(p);
}

void openssl_deleter::operator()(SSL_SESSION* p) const {
    SSL_SESSION_free(p);
}

}  // namespace gatehouse::common
