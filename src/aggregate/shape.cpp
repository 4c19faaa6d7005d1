#include "gatehouse/aggregate/shape.hpp"

#include <algorithm>

#include <boost/json/serialize.hpp>

namespace gatehouse::aggregate {

namespace json = boost::json;

std::optional<dot_path> parse_dot_path(std::string_view text) {
    dot_path path;
    std::size_t pos = 0;
    for (;;) {
        auto dot = text.find('.', pos);
        auto segment = text.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos);
        if (segment.empty()) return std::nullopt;
        path.emplace_back(segment);
        if (dot == std::string_view::npos) return path;
        pos = dot + 1;
    }
}

std::string join_dot_path(const dot_path& path) {
    std::string out;
    for (const auto& segment : path) {
        if (!out.empty()) out += '.';
        out += segment;
    }
    return out;
}

const json::value* find_path(const json::value& v, const dot_path& path) {
    const json::value* at = &v;
    for (const auto& key : path) {
        const auto* object = at->if_object();
        if (!object) return nullptr;
        at = object->if_contains(key);
        if (!at) return nullptr;
    }
    return at;
}

namespace {

// Copies the field at path[depth..] of from into to, keeping its parents' structure.
void keep_path(const json::object& from, json::object& to, const dot_path& path, std::size_t depth) {
    const auto* v = from.if_contains(path[depth]);
    if (!v) return;
    if (depth + 1 == path.size()) {
        to[path[depth]] = *v;
        return;
    }
    const auto* inner = v->if_object();
    if (!inner) return;
    auto& slot = to[path[depth]];
    if (!slot.is_object()) slot = json::object(to.storage());
    keep_path(*inner, slot.get_object(), path, depth + 1);
}

void drop_path(json::object& from, const dot_path& path, std::size_t depth) {
    if (depth + 1 == path.size()) {
        from.erase(path[depth]);
        return;
    }
    auto* v = from.if_contains(path[depth]);
    if (!v) return;
    if (auto* inner = v->if_object()) {
        drop_path(*inner, path, depth + 1);
    } else if (auto* array = v->if_array()) {
        for (auto& element : *array) {
            if (auto* o = element.if_object()) drop_path(*o, path, depth + 1);
        }
    }
}

// Applies f to v when it is an object, or to each object in v when it is an array.
template <typename F>
void each_object(json::value& v, F&& f) {
    if (auto* o = v.if_object()) {
        f(*o);
    } else if (auto* a = v.if_array()) {
        for (auto& element : *a) {
            if (auto* o = element.if_object()) f(*o);
        }
    }
}

}  // namespace

std::optional<json::object> shape(json::value answer, const shaping& rules, std::string& why) {
    json::value value(answer.storage());  // one storage throughout: moves, not copies
    if (rules.target) {
        const auto* sub = find_path(answer, *rules.target);
        if (!sub) {
            why = "the answer has no \"" + join_dot_path(*rules.target) + "\" (target)";
            return std::nullopt;
        }
        value = *sub;
    } else {
        value = std::move(answer);
    }
    if (!rules.allow.empty()) {
        each_object(value, [&](json::object& o) {
            json::object kept(o.storage());
            for (const auto& path : rules.allow) keep_path(o, kept, path, 0);
            o = std::move(kept);
        });
    }
    for (const auto& path : rules.deny) {
        each_object(value, [&](json::object& o) { drop_path(o, path, 0); });
    }
    if (!rules.rename.empty()) {
        each_object(value, [&](json::object& o) {
            json::object renamed(o.storage());
            for (auto& field : o) {
                const std::string_view key = field.key();
                auto it = std::find_if(rules.rename.begin(), rules.rename.end(),
                                       [&](const auto& r) { return r.first == key; });
                renamed[it == rules.rename.end() ? key : std::string_view(it->second)] = std::move(field.value());
            }
            o = std::move(renamed);
        });
    }
    if (rules.group) {
        json::object grouped(value.storage());
        grouped[*rules.group] = std::move(value);
        return grouped;
    }
    if (auto* o = value.if_object()) return std::move(*o);
    why = value.is_array() ? "the answer is an array: give the backend a group to put it under"
                           : "the answer is not a JSON object: give the backend a group to put it under";
    return std::nullopt;
}

namespace {

std::optional<std::string> merge_at(json::object& into, json::object&& from, conflict_policy policy, merge_mode mode,
                                    const std::string& prefix) {
    for (auto& [key, v] : from) {
        auto* existing = into.if_contains(key);
        if (!existing) {
            into[key] = std::move(v);
            continue;
        }
        if (mode == merge_mode::deep && existing->is_object() && v.is_object()) {
            if (auto conflict = merge_at(existing->get_object(), std::move(v.get_object()), policy, mode,
                                         prefix + std::string(key.data(), key.size()) + ".")) {
                return conflict;
            }
            continue;
        }
        switch (policy) {
            case conflict_policy::error:
                return prefix + std::string(key.data(), key.size());
            case conflict_policy::first:
                break;
            case conflict_policy::last:
                *existing = std::move(v);
                break;
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> merge(json::object& into, json::object&& from, conflict_policy policy, merge_mode mode) {
    return merge_at(into, std::move(from), policy, mode, {});
}

std::optional<std::vector<std::string>> known_keys(const shaping& rules) {
    if (rules.group) return std::vector<std::string>{*rules.group};
    if (rules.allow.empty()) return std::nullopt;  // the backend chooses its keys
    std::vector<std::string> keys;
    for (const auto& path : rules.allow) {
        std::string key = path.front();
        for (const auto& [from, to] : rules.rename) {
            if (from == key) key = to;
        }
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
    return keys;
}

bool scalar_text(const json::value& v, std::string& out) {
    switch (v.kind()) {
        case json::kind::string:
            out.assign(v.get_string().data(), v.get_string().size());
            return true;
        case json::kind::int64:
        case json::kind::uint64:
        case json::kind::double_:
        case json::kind::bool_:
            out = json::serialize(v);
            return true;
        default:
            return false;
    }
}

}  // namespace gatehouse::aggregate
