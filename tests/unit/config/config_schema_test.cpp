// The schema and the loader cannot drift: the loader refuses keys the schema lacks (its
// expect_map reads the schema), and here every key the schema has gets a wrong value in turn,
// which the loader must report at that key. A key in the schema that the loader ignored would
// pass silently and fail this test.
#include <fstream>
#include <set>
#include <sstream>
#include <variant>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "gatehouse/config/loader.hpp"
#include "gatehouse/config/schema.hpp"

namespace gatehouse::config {
namespace {

namespace sc = schema;
using step = std::variant<std::string, std::size_t>;

// One mapping of the document and the schema object it is read as.
struct object_site {
    std::vector<step> location;
    std::string path;  // as the loader names it in errors
    const sc::node* object;
};

std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
}

const sc::node* pick_alternative(const YAML::Node& node, const sc::node& any) {
    const sc::node* fallback = nullptr;
    for (const auto& a : any.alternatives) {
        if (node.IsMap() && a->k == sc::kind::object) {
            const auto* type = a->find("type");
            if (!type) return a.get();
            if (node["type"] && type->type->k == sc::kind::constant &&
                node["type"].Scalar() == type->type->words.front())
                return a.get();
        } else if ((node.IsMap() && a->k == sc::kind::map) || (node.IsSequence() && a->k == sc::kind::list)) {
            fallback = a.get();
        }
    }
    return fallback;
}

void walk(const YAML::Node& node, const sc::node& type, const std::string& path, std::vector<step> location,
          std::vector<object_site>& out) {
    switch (type.k) {
        case sc::kind::object:
            if (!node.IsMap()) return;
            out.push_back({location, path, &type});
            for (const auto& item : node) {
                const auto key = item.first.Scalar();
                if (const auto* p = type.find(key)) {
                    auto next = location;
                    next.emplace_back(key);
                    walk(item.second, *p->type, join(path, key), next, out);
                }
            }
            return;
        case sc::kind::map:
            if (!node.IsMap()) return;
            for (const auto& item : node) {
                auto next = location;
                next.emplace_back(item.first.Scalar());
                walk(item.second, *type.item, join(path, item.first.Scalar()), next, out);
            }
            return;
        case sc::kind::list:
            if (node.IsSequence()) {
                for (std::size_t i = 0; i < node.size(); ++i) {
                    auto next = location;
                    next.emplace_back(i);
                    walk(node[i], *type.item, path + "[" + std::to_string(i) + "]", next, out);
                }
            } else if (type.single_ok) {
                walk(node, *type.item, path, location, out);
            }
            return;
        case sc::kind::any_of:
            if (const auto* a = pick_alternative(node, type)) walk(node, *a, path, location, out);
            return;
        default:
            return;
    }
}

// The node at location in doc (a clone of the one walk() saw).
YAML::Node node_at(YAML::Node doc, const std::vector<step>& location) {
    YAML::Node at = doc;
    for (const auto& s : location) {
        if (const auto* key = std::get_if<std::string>(&s)) {
            at.reset(at[*key]);
        } else {
            at.reset(at[std::get<std::size_t>(s)]);
        }
    }
    return at;
}

YAML::Node fixture() {
    return YAML::LoadFile(std::string(SOURCE_DIR) + "/tests/unit/config/data/every_section.yaml");
}

env_lookup no_env() {
    return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

TEST(ConfigSchema, FixtureHasEveryObjectOfTheSchema) {
    std::set<std::string> in_schema;
    sc::for_each(sc::config_schema(), [&](const sc::node& n) {
        if (n.k == sc::kind::object) in_schema.insert(n.name);
    });
    std::vector<object_site> sites;
    walk(fixture(), *sc::config_schema(), "", {}, sites);
    std::set<std::string> seen;
    for (const auto& s : sites) seen.insert(s.object->name);
    for (const auto& name : in_schema) EXPECT_TRUE(seen.contains(name)) << name << " is not in every_section.yaml";
    EXPECT_GE(in_schema.size(), 40u);
}

TEST(ConfigSchema, LoaderReadsEveryKeyOfTheSchema) {
    const auto doc = fixture();
    std::vector<object_site> sites;
    walk(doc, *sc::config_schema(), "", {}, sites);
    const auto probe = YAML::Load("{__probe__: {__probe__: [1]}}");
    std::size_t probed = 0;
    for (const auto& site : sites) {
        for (const auto& p : site.object->properties) {
            auto copy = YAML::Clone(doc);
            auto at = node_at(copy, site.location);
            at[p.key] = YAML::Clone(probe);
            YAML::Emitter out;
            out << copy;
            auto result = load_config_text(out.c_str(), "probe.yaml", no_env());
            const auto key_path = join(site.path, p.key);
            bool reported = false;
            for (const auto& e : result.errors) {
                // At the key or under it; or, for keys that exclude each other, at the mapping
                // with the key named.
                if (e.path == key_path || e.path.starts_with(key_path + ".") || e.path.starts_with(key_path + "[") ||
                    (e.path == site.path && e.message.find(p.key) != std::string::npos)) {
                    reported = true;
                }
            }
            EXPECT_TRUE(reported) << "a wrong value at " << key_path << " (schema object " << site.object->name
                                  << ") was not reported: the loader ignores the key";
            ++probed;
        }
    }
    EXPECT_GE(probed, 250u);
}

TEST(ConfigSchema, LoaderRefusesKeysTheSchemaLacks) {
    // The other direction, from the loader's side: every mapping refuses an unknown key.
    const auto doc = fixture();
    std::vector<object_site> sites;
    walk(doc, *sc::config_schema(), "", {}, sites);
    for (const auto& site : sites) {
        auto copy = YAML::Clone(doc);
        auto at = node_at(copy, site.location);
        at["not_a_key"] = "x";
        YAML::Emitter out;
        out << copy;
        auto result = load_config_text(out.c_str(), "probe.yaml", no_env());
        const auto key_path = join(site.path, "not_a_key");
        bool reported = false;
        for (const auto& e : result.errors) reported = reported || e.path == key_path;
        EXPECT_TRUE(reported) << "the loader accepts an unknown key in " << site.path;
    }
}

TEST(ConfigSchema, JsonSchemaNamesEveryObjectAndForbidsOtherKeys) {
    auto text = sc::json_schema(*sc::config_schema(), "https://example.com/s.json");
    auto doc = boost::json::parse(text).as_object();
    EXPECT_EQ(doc["$schema"].as_string(), "https://json-schema.org/draft/2020-12/schema");
    auto& defs = doc["$defs"].as_object();
    std::size_t objects = 0;
    sc::for_each(sc::config_schema(), [&](const sc::node& n) {
        if (n.k != sc::kind::object) return;
        ++objects;
        ASSERT_TRUE(defs.contains(n.name)) << n.name;
        auto& def = defs[n.name].as_object();
        EXPECT_EQ(def["additionalProperties"], false) << n.name;
        EXPECT_EQ(def["properties"].as_object().size(), n.properties.size()) << n.name;
    });
    EXPECT_GT(objects, 0u);
    // Filters are told apart by their type.
    auto route_filters = defs["filter_jwt"].as_object()["properties"].as_object()["type"];
    EXPECT_EQ(route_filters.as_object()["const"], "jwt");
}

}  // namespace
}  // namespace gatehouse::config
