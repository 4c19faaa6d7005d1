#pragma once
// Loads and fully validates a gateway config. Every problem is reported, not only the first.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/config/config.hpp"
#include "gatehouse/config/env.hpp"

namespace gatehouse::config {

struct config_error {
    std::string file;
    int line = 0;      // 1-based; 0 when unknown
    int column = 0;    // 1-based; 0 when unknown
    std::string path;  // YAML path such as routes[3].upstream
    std::string message;

    // "file:line:column: path: message"
    std::string to_string() const;
};

struct load_result {
    std::optional<gateway_config> config;  // set only when errors is empty
    std::vector<config_error> errors;
};

// Parses YAML text; source names the file in messages.
load_result load_config_text(std::string_view text, const std::string& source, const env_lookup& env);

// Reads and parses a file.
load_result load_config_file(const std::string& path, const env_lookup& env);

}  // namespace gatehouse::config
