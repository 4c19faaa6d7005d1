#pragma once
// The running config as JSON for the admin /config page. Secrets never leave the process:
// every string holding a value taken from the environment, values of credential-bearing header
// fields and each filter's own secrets are replaced by "<redacted>".
#include <string>

#include "gatehouse/config/config.hpp"

namespace gatehouse::admin {

// True for header names whose values are credentials (Authorization, Cookie, *token*, ...).
bool sensitive_header(std::string_view name);

std::string config_to_json(const config::gateway_config& config, std::string_view checksum);

}  // namespace gatehouse::admin
