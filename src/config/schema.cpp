#include "gatehouse/config/schema.hpp"

#include <map>
#include <set>

#include <boost/json.hpp>

namespace gatehouse::config::schema {

namespace json = boost::json;

const property* node::find(std::string_view key) const {
    for (const auto& p : properties) {
        if (p.key == key) return &p;
    }
    return nullptr;
}

namespace {

ref make(kind k, std::string description) {
    auto n = std::make_shared<node>();
    n->k = k;
    n->description = std::move(description);
    return n;
}

}  // namespace

ref string(std::string description, std::string pattern) {
    auto n = std::make_shared<node>();
    n->description = std::move(description);
    n->pattern = std::move(pattern);
    return n;
}
ref boolean(std::string description) {
    return make(kind::boolean, std::move(description));
}
ref integer(std::uint64_t min, std::uint64_t max, std::string description) {
    auto n = std::make_shared<node>();
    n->k = kind::integer;
    n->min = min;
    n->max = max;
    n->description = std::move(description);
    return n;
}
ref size(std::string description) {
    return make(kind::size, std::move(description));
}
ref duration(std::string description) {
    return make(kind::duration, std::move(description));
}
ref percent(std::string description) {
    return make(kind::percent, std::move(description));
}
ref words(std::vector<std::string> words, std::string description) {
    auto n = std::make_shared<node>();
    n->k = kind::words;
    n->words = std::move(words);
    n->description = std::move(description);
    return n;
}
ref constant(std::string word) {
    auto n = std::make_shared<node>();
    n->k = kind::constant;
    n->words.push_back(std::move(word));
    return n;
}
ref null() {
    return make(kind::null, {});
}
ref list(ref item, std::string description, bool single_ok) {
    auto n = std::make_shared<node>();
    n->k = kind::list;
    n->item = std::move(item);
    n->single_ok = single_ok;
    n->description = std::move(description);
    return n;
}
ref strings(std::string description) {
    return list(string(), std::move(description), true);
}
ref map(ref item, std::string description) {
    auto n = std::make_shared<node>();
    n->k = kind::map;
    n->item = std::move(item);
    n->description = std::move(description);
    return n;
}
ref any_of(std::vector<ref> alternatives, std::string description) {
    auto n = std::make_shared<node>();
    n->k = kind::any_of;
    n->alternatives = std::move(alternatives);
    n->description = std::move(description);
    return n;
}
ref object(std::string name, std::string description, std::vector<property> properties) {
    auto n = std::make_shared<node>();
    n->k = kind::object;
    n->name = std::move(name);
    n->description = std::move(description);
    n->properties = std::move(properties);
    return n;
}

namespace {

// Scalars other than strings may also be written as "${VAR}" (expanded before conversion).
json::object ref_to(std::string_view def) {
    return {{"$ref", "#/$defs/" + std::string(def)}};
}

class generator {
public:
    json::object defs;

    json::value convert(const node& n) {
        json::object out = body(n);
        if (!n.description.empty() && n.k != kind::object) out["description"] = n.description;
        return out;
    }

private:
    std::set<std::string> done_;

    json::object body(const node& n) {
        switch (n.k) {
            case kind::string: {
                json::object o{{"type", "string"}};
                if (!n.pattern.empty()) o["pattern"] = n.pattern;
                return o;
            }
            case kind::boolean:
                return ref_to("boolean");
            case kind::size:
                return ref_to("size");
            case kind::duration:
                return ref_to("duration");
            case kind::percent:
                return ref_to("percent");
            case kind::integer: {
                json::array any;
                any.push_back(json::object{{"type", "integer"}, {"minimum", n.min}, {"maximum", n.max}});
                any.push_back(json::object{{"type", "string"}, {"pattern", "^[0-9]+$"}});
                any.push_back(ref_to("env"));
                return {{"anyOf", std::move(any)}};
            }
            case kind::words: {
                json::array words;
                for (const auto& w : n.words) words.emplace_back(w);
                json::array any;
                any.push_back(json::object{{"enum", std::move(words)}});
                any.push_back(ref_to("env"));
                return {{"anyOf", std::move(any)}};
            }
            case kind::constant:
                return {{"const", n.words.front()}};
            case kind::null:
                return {{"type", "null"}};
            case kind::list: {
                json::object array{{"type", "array"}, {"items", convert(*n.item)}};
                if (!n.single_ok) return array;
                json::array any;
                any.push_back(convert(*n.item));
                any.push_back(std::move(array));
                return {{"anyOf", std::move(any)}};
            }
            case kind::map:
                return {{"type", "object"}, {"additionalProperties", convert(*n.item)}};
            case kind::any_of: {
                json::array any;
                for (const auto& a : n.alternatives) any.push_back(convert(*a));
                return {{"anyOf", std::move(any)}};
            }
            case kind::object:
                define(n);
                return ref_to(n.name);
        }
        return {};
    }

    void define(const node& n) {
        if (!done_.insert(n.name).second) return;
        json::object props;
        json::array required;
        for (const auto& p : n.properties) {
            json::value v = convert(*p.type);
            if (!p.description.empty()) {
                // A $ref's siblings are allowed in 2020-12, so a property keeps its own words.
                v.as_object()["description"] = p.description;
            }
            props[p.key] = std::move(v);
            if (p.required) required.emplace_back(p.key);
        }
        json::object o{{"type", "object"}};
        if (!n.description.empty()) o["description"] = n.description;
        o["properties"] = std::move(props);
        if (!required.empty()) o["required"] = std::move(required);
        o["additionalProperties"] = false;
        defs[n.name] = std::move(o);
    }
};

void pretty(std::string& out, const json::value& v, int indent) {
    auto newline = [&](int level) {
        out += '\n';
        out.append(static_cast<std::size_t>(level) * 2, ' ');
    };
    if (v.is_object()) {
        const auto& o = v.get_object();
        if (o.empty()) {
            out += "{}";
            return;
        }
        out += '{';
        bool first = true;
        for (const auto& [key, value] : o) {
            if (!first) out += ',';
            first = false;
            newline(indent + 1);
            out += json::serialize(json::string(key));
            out += ": ";
            pretty(out, value, indent + 1);
        }
        newline(indent);
        out += '}';
    } else if (v.is_array()) {
        const auto& a = v.get_array();
        if (a.empty()) {
            out += "[]";
            return;
        }
        out += '[';
        bool first = true;
        for (const auto& value : a) {
            if (!first) out += ',';
            first = false;
            newline(indent + 1);
            pretty(out, value, indent + 1);
        }
        newline(indent);
        out += ']';
    } else {
        out += json::serialize(v);
    }
}

}  // namespace

std::string json_schema(const node& root, std::string_view id) {
    generator g;
    g.defs["env"] = json::object{{"description", "A value taken from the environment: ${NAME} or ${NAME:-default}"},
                                 {"type", "string"},
                                 {"pattern", "\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}"}};
    {
        json::array any;
        any.push_back(json::object{{"type", "boolean"}});
        any.push_back(json::object{{"enum", json::array{"true", "false", "yes", "no", "on", "off"}}});
        any.push_back(ref_to("env"));
        g.defs["boolean"] = json::object{{"anyOf", std::move(any)}};
    }
    {
        json::array any;
        any.push_back(json::object{{"type", "integer"}, {"minimum", 0}});
        any.push_back(json::object{{"type", "string"}, {"pattern", "^[0-9]+(B|KB|MB|GB|KiB|MiB|GiB)?$"}});
        any.push_back(ref_to("env"));
        g.defs["size"] =
            json::object{{"description", "A size in bytes: 512, 64KiB, 8MiB, 1GiB, 10MB"}, {"anyOf", std::move(any)}};
    }
    {
        json::array any;
        any.push_back(json::object{{"type", "string"}, {"pattern", "^([0-9]+(ms|s|m|h))+$"}});
        any.push_back(ref_to("env"));
        g.defs["duration"] =
            json::object{{"description", "A duration with its unit: 250ms, 10s, 1m30s, 2h"}, {"anyOf", std::move(any)}};
    }
    {
        json::array any;
        any.push_back(json::object{{"type", "string"}, {"pattern", "^[0-9]{1,3}%$"}});
        any.push_back(ref_to("env"));
        g.defs["percent"] = json::object{{"description", "A share: 0% to 100%"}, {"anyOf", std::move(any)}};
    }
    json::value top = g.convert(root);
    json::object doc;
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema";
    doc["$id"] = id;
    doc["title"] = "gatehouse configuration";
    for (auto& [k, v] : top.as_object()) doc[k] = v;
    doc["$defs"] = std::move(g.defs);
    std::string out;
    pretty(out, doc, 0);
    out += '\n';
    return out;
}

}  // namespace gatehouse::config::schema
