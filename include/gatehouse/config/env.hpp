#pragma once
// ${NAME} and ${NAME:-default} substitution in config values; "$$" is a literal "$".
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::config {

using env_lookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment.
env_lookup process_env();

// Expands references in text. On failure returns nullopt and sets error to a description.
// from_env, when given, receives every non-empty value taken from the environment (not the
// defaults written in the file): those may be secrets, which /config and logs never show.
std::optional<std::string> expand_env(std::string_view text, const env_lookup& lookup, std::string& error,
                                      std::vector<std::string>* from_env = nullptr);

// Replaces every occurrence in text of a value in secrets (of 3 characters or more: shorter
// ones are no secret and would match everywhere) by "<redacted>". True if it replaced any.
bool redact_values(std::string& text, const std::vector<std::string>& secrets);

}  // namespace gatehouse::config
