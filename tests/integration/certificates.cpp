#include "certificates.hpp"

namespace harness {

namespace {

std::string key_option(bool rsa) {
    return rsa ? "-newkey rsa:2048" : "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
}

}  // namespace

std::string make_ca(const temp_dir& dir, const std::string& name) {
    auto [code, out] =
        run_command("cd " + dir.path() + " && openssl req -x509 " + key_option(false) + " -nodes -subj \"/CN=" + name +
                    "\" -days 2 -keyout \"" + name + ".key\" -out \"" + name + ".pem\" 2>&1");
    return code == 0 ? "" : out;
}

std::string make_certificate(const temp_dir& dir, const std::string& name, const certificate_spec& spec) {
    const auto subject = spec.subject.empty() ? "/CN=" + name : spec.subject;
    const auto sans = spec.sans.empty() ? "DNS:" + name : spec.sans;
    dir.write(name + ".ext", "subjectAltName=" + sans + "\n");
    const auto signing = spec.ca.empty() ? "-signkey \"" + name + ".key\""
                                         : "-CA \"" + spec.ca + ".pem\" -CAkey \"" + spec.ca + ".key\" -CAcreateserial";
    auto [code, out] = run_command(
        "cd " + dir.path() + " && openssl req -new " + key_option(spec.rsa) + " -nodes -subj \"" + subject +
        "\" -keyout \"" + name + ".key\" -out \"" + name + ".csr\" 2>&1 && openssl x509 -req -in \"" + name +
        ".csr\" " + signing + " -extfile \"" + name + ".ext\" -days " + spec.days + " -out \"" + name + ".pem\" 2>&1");
    return code == 0 ? "" : out;
}

}  // namespace harness
