#include "gatehouse/config/env.hpp"

#include <cstdlib>

namespace gatehouse::config {

env_lookup process_env() {
    return [](const std::string& name) -> std::optional<std::string> {
        if (const char* value = std::getenv(name.c_str())) {
            return std::string(value);
        }
        return std::nullopt;
    };
}

namespace {
bool valid_name(std::string_view name) {
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) {
        return false;
    }
    for (char c : name) {
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    return true;
}
}  // namespace

bool redact_values(std::string& text, const std::vector<std::string>& secrets) {
    bool any = false;
    for (const auto& secret : secrets) {
        if (secret.size() < 3) {
            continue;
        }
        for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
            text.replace(pos, secret.size(), "<redacted>");
            pos += 10;
            any = true;
        }
    }
    return any;
}

std::optional<std::string> expand_env(std::string_view text, const env_lookup& lookup, std::string& error,
                                      std::vector<std::string>* from_env) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        if (text[i] != '$') {
            out += text[i++];
            continue;
        }
        if (i + 1 < text.size() && text[i + 1] == '$') {
            out += '$';
            i += 2;
            continue;
        }
        if (i + 1 >= text.size() || text[i + 1] != '{') {
            out += text[i++];
            continue;
        }
        auto close = text.find('}', i + 2);
        if (close == std::string_view::npos) {
            error = "unterminated \"${\" in value";
            return std::nullopt;
        }
        std::string_view inner = text.substr(i + 2, close - i - 2);
        std::string_view name = inner;
        std::optional<std::string_view> fallback;
        if (auto sep = inner.find(":-"); sep != std::string_view::npos) {
            name = inner.substr(0, sep);
            fallback = inner.substr(sep + 2);
        }
        if (!valid_name(name)) {
            error = "invalid environment variable name \"" + std::string(name) + "\"";
            return std::nullopt;
        }
        auto value = lookup(std::string(name));
        if (value && !(fallback && value->empty())) {
            out += *value;
            if (from_env && !value->empty()) {
                from_env->push_back(*value);
            }
        } else if (fallback) {
            out += *fallback;
        } else {
            error = "environment variable " + std::string(name) + " is not set and has no default";
            return std::nullopt;
        }
        i = close + 1;
    }
    return out;
}

}  // namespace gatehouse::config
