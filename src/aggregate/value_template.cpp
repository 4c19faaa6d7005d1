#include "gatehouse/aggregate/value_template.hpp"

#include <utility>

#include "gatehouse/common/hex.hpp"

namespace gatehouse::aggregate {

namespace {

using common::hex_value;

bool unreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

void append_escape(std::string& out, unsigned char c) {
    constexpr char hex[] = "0123456789ABCDEF";
    out += '%';
    out += hex[c >> 4];
    out += hex[c & 15];
}

bool valid_name(std::string_view name) {
    if (name.empty()) return false;
    for (unsigned char c : name) {
        if (!unreserved(c) || c == '.' || c == '~') return false;
    }
    return true;
}

// Literal text of a path template: what a config path may hold (no spaces or controls).
bool valid_literal(std::string_view text, value_template::context where) {
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) return false;
        if (where == value_template::context::path && (c == ' ' || c == '#' || c >= 0x80)) return false;
    }
    return true;
}

std::vector<std::string> split_dots(std::string_view text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    for (;;) {
        auto dot = text.find('.', pos);
        out.emplace_back(text.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos));
        if (dot == std::string_view::npos) return out;
        pos = dot + 1;
    }
}

}  // namespace

std::optional<value_template> value_template::parse(std::string_view text, context where, std::string& why) {
    value_template t;
    t.source_ = text;
    t.where_ = where;
    if (where == context::path && !text.starts_with("/")) {
        why = "must start with \"/\"";
        return std::nullopt;
    }
    bool in_query = false;
    std::size_t pos = 0;
    auto add_literal = [&](std::string_view literal) -> bool {
        if (literal.empty()) return true;
        if (literal.find('}') != std::string_view::npos) {
            why = "\"}\" without \"{\"";
            return false;
        }
        if (!valid_literal(literal, where)) {
            why = where == context::path ? "contains a space, \"#\", a control or a non-ASCII character"
                                         : "contains a control character";
            return false;
        }
        if (where == context::path && !in_query) {
            auto q = literal.find('?');
            in_query = q != std::string_view::npos;
        }
        if (!t.parts_.empty() && t.parts_.back().type == template_part::kind::literal) {
            t.parts_.back().text += literal;
        } else {
            t.parts_.push_back({template_part::kind::literal, std::string(literal), {}, false});
        }
        return true;
    };
    while (pos < text.size()) {
        auto open = text.find('{', pos);
        if (!add_literal(text.substr(pos, open == std::string_view::npos ? std::string_view::npos : open - pos))) {
            return std::nullopt;
        }
        if (open == std::string_view::npos) break;
        auto close = text.find('}', open);
        if (close == std::string_view::npos) {
            why = "\"{\" without \"}\"";
            return std::nullopt;
        }
        auto inner = text.substr(open + 1, close - open - 1);
        template_part part;
        part.in_query = in_query;
        auto names = split_dots(inner);
        for (const auto& n : names) {
            if (!valid_name(n)) {
                why = "invalid reference \"{" + std::string(inner) +
                      "}\": names are letters, digits, '-' and '_', joined by dots";
                return std::nullopt;
            }
        }
        if (names.size() == 1) {
            part.type = template_part::kind::route_param;
            part.text = names.front();
        } else {
            part.type = template_part::kind::backend_field;
            part.text = names.front();
            part.field.assign(names.begin() + 1, names.end());
        }
        t.parts_.push_back(std::move(part));
        pos = close + 1;
    }
    return t;
}

bool value_template::append_encoded(std::string& out, std::string_view value, const template_part& part) const {
    if (where_ == context::header) {
        for (unsigned char c : value) {
            if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
        }
        out += value;
    } else if (part.in_query) {
        append_query_component(out, value);
    } else {
        // Escaped, a '/' or a dot segment still reaches a backend that decodes before it
        // routes ("..%2Fadmin"): such a value is refused, not encoded.
        if (value == "." || value == ".." || value.find_first_of("/\\") != std::string_view::npos) return false;
        append_path_segment(out, value);
    }
    return true;
}

std::string percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

void append_path_segment(std::string& out, std::string_view text) {
    if (text == "." || text == "..") {
        for (char c : text) append_escape(out, static_cast<unsigned char>(c));
        return;
    }
    for (unsigned char c : text) {
        if (unreserved(c)) {
            out += static_cast<char>(c);
        } else {
            append_escape(out, c);
        }
    }
}

void append_query_component(std::string& out, std::string_view text) {
    for (unsigned char c : text) {
        if (unreserved(c)) {
            out += static_cast<char>(c);
        } else {
            append_escape(out, c);
        }
    }
}

std::vector<std::pair<std::string_view, std::string_view>> template_params(std::string_view route_template,
                                                                           std::string_view path) {
    std::vector<std::pair<std::string_view, std::string_view>> params;
    auto next = [](std::string_view& rest) {
        auto slash = rest.find('/');
        auto segment = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
        return segment;
    };
    if (!route_template.starts_with('/') || !path.starts_with('/')) return {};
    route_template.remove_prefix(1);
    path.remove_prefix(1);
    while (route_template.data() != nullptr && path.data() != nullptr) {
        auto t = next(route_template);
        auto p = next(path);
        if (t.size() >= 2 && t.front() == '{' && t.back() == '}') {
            if (p.empty()) return {};
            params.emplace_back(t.substr(1, t.size() - 2), p);
        } else if (t != p) {
            return {};
        }
    }
    if ((route_template.data() == nullptr) != (path.data() == nullptr)) return {};
    return params;
}

}  // namespace gatehouse::aggregate
