#pragma once
// Request fields for driving filters directly: a map with lower-case names.
#include <cctype>
#include <map>
#include <string>

#include "gatehouse/filters/context.hpp"

namespace gatehouse::filters::test_support {

class map_fields final : public field_view {
public:
    std::map<std::string, std::string> values;  // lower-case names
    std::optional<std::string_view> get(std::string_view name) const override {
        std::string lower(name);
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto it = values.find(lower);
        if (it == values.end()) return std::nullopt;
        return std::string_view(it->second);
    }
};

}  // namespace gatehouse::filters::test_support
