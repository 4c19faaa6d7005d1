#include "respond.hpp"

#include "gatehouse/config/reader.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::filters::respond {

namespace {

class respond_filter final : public filter {
public:
    explicit respond_filter(const settings& s) : settings_(s) {}

    filter_status on_request(request_context& ctx) override {
        ctx.reply = http::local_reply{settings_.status, settings_.error, settings_.message};
        return filter_status::respond;
    }

private:
    const settings& settings_;
};

class respond_factory final : public filter_factory {
public:
    explicit respond_factory(settings s) : settings_(std::move(s)) {}
    std::unique_ptr<filter> create(worker_services&) const override {
        return std::make_unique<respond_filter>(settings_);
    }
    bool runs_offline() const override { return true; }
    boost::json::object describe() const override {
        return {{"type", "respond"},
                {"status", settings_.status},
                {"error", settings_.error},
                {"message", settings_.message}};
    }

private:
    settings settings_;
};

}  // namespace

config::schema::ref schema() {
    namespace sc = config::schema;
    static const auto s =
        sc::object("filter_respond", "Answers the request itself with a JSON error",
                   {{"type", sc::constant("respond"), {}, true},
                    {"status", sc::integer(200, 599), "default 403"},
                    {"error", sc::string(), "the JSON error code, also the reason in logs (default forbidden)"},
                    {"message", sc::string(), "the JSON message"}});
    return s;
}

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, *schema())) {
        return nullptr;
    }
    auto before = r.errors.size();
    settings s;
    r.optional_field(node, "status", path, s.status,
                     [&](const YAML::Node& n, const std::string& p) -> std::optional<unsigned> {
                         auto v = r.unsigned_int(n, p, 200, 599);
                         return v ? std::optional<unsigned>(static_cast<unsigned>(*v)) : std::nullopt;
                     });
    if (auto n = node["error"]; n.IsDefined()) {
        if (auto e = r.string(n, path + ".error")) {
            if (e->empty() || !http::valid_token(*e)) {
                r.error(n, path + ".error", "expected a short code such as \"forbidden\" (letters, digits, '_', '-')");
            } else {
                s.error = *e;
            }
        }
    }
    r.optional_field(node, "message", path, s.message,
                     [&](const YAML::Node& n, const std::string& p) { return r.string(n, p); });
    if (r.errors.size() != before) {
        return nullptr;
    }
    return std::make_shared<respond_factory>(std::move(s));
}

}  // namespace gatehouse::filters::respond
