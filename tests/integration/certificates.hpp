#pragma once
// Certificates made with the openssl tool at test time, in a test's temp_dir.
#include <string>

#include "harness.hpp"

namespace harness {

struct certificate_spec {
    std::string subject;     // "/CN=a.test/O=Example"; default "/CN=<name>"
    std::string sans;        // "DNS:a.test,URI:spiffe://x"; default "DNS:<name>"
    std::string ca;          // name of a CA made by make_ca; empty: self-signed
    std::string days = "2";  // "0": it expires the second it is made
    bool rsa = false;        // RSA 2048 rather than EC P-256
};

// A CA certificate name.pem with its key name.key in dir. Returns "" or what openssl said.
std::string make_ca(const temp_dir& dir, const std::string& name);

// name.pem and name.key in dir. Returns "" or what openssl said.
std::string make_certificate(const temp_dir& dir, const std::string& name, const certificate_spec& spec = {});

}  // namespace harness
