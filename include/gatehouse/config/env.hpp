#pragma once
// ${NAME} and ${NAME:-default} substitution in config values; "$$" is a literal "$".
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::config {

using env_lookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment.
env_lookup process_env();

// Expands references in text. On failure returns nullopt and sets error to a description.
std::optional<std::string> expand_env(std::string_view text, const env_lookup& lookup, std::string& error);

}  // namespace gatehouse::config
