#include "mtls.hpp"

#include <algorithm>

#include <yaml-cpp/yaml.h>

#include "gatehouse/common/peer_certificate.hpp"
#include "gatehouse/config/reader.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::filters::mtls {

namespace {

std::string_view consumer_of(const common::peer_certificate& cert, consumer_source source) {
    switch (source) {
        case consumer_source::common_name:
            if (!cert.common_name.empty()) return cert.common_name;
            break;  // no CN: the subject says who it is
        case consumer_source::san:
            if (!cert.sans.empty()) return cert.sans.front().value;
            break;
        case consumer_source::fingerprint:
            return cert.fingerprint;
        case consumer_source::subject:
            break;
    }
    return cert.subject;
}

class mtls_filter final : public filter {
public:
    explicit mtls_filter(const settings& s) : settings_(s) {}

    filter_status on_request(request_context& ctx) override {
        const auto* cert = ctx.client_certificate;
        if (!cert) {
            return refuse(ctx, "client_certificate_required", "a verified client certificate is required");
        }
        ctx.consumer = consumer_of(*cert, settings_.consumer);  // also on a refusal: the log says who
        if (!allowed(*cert)) {
            return refuse(ctx, "client_certificate_not_allowed", "this client certificate may not use this route");
        }
        if (settings_.consumer_header) ctx.upstream_edits.set(*settings_.consumer_header, ctx.consumer);
        return filter_status::proceed;
    }

private:
    bool allowed(const common::peer_certificate& cert) const {
        if (settings_.subjects.empty() && settings_.sans.empty()) return true;
        if (std::find(settings_.subjects.begin(), settings_.subjects.end(), cert.subject) != settings_.subjects.end()) {
            return true;
        }
        return std::any_of(settings_.sans.begin(), settings_.sans.end(),
                           [&](const std::string& san) { return cert.has_san(san); });
    }

    static filter_status refuse(request_context& ctx, std::string_view reason, std::string message) {
        ctx.reply = http::local_reply{403, reason, std::move(message)};
        ctx.answer_reason = reason;
        return filter_status::respond;
    }

    const settings& settings_;
};

class mtls_factory final : public filter_factory {
public:
    explicit mtls_factory(settings s) : settings_(std::move(s)) {}
    std::unique_ptr<filter> create(worker_services&) const override { return std::make_unique<mtls_filter>(settings_); }
    std::vector<std::string> identity_fields() const override {
        return settings_.consumer_header ? std::vector<std::string>{*settings_.consumer_header}
                                         : std::vector<std::string>{};
    }
    bool runs_offline() const override { return true; }
    boost::json::object describe() const override {
        static constexpr const char* sources[] = {"common_name", "subject", "san", "fingerprint"};
        boost::json::array subjects(settings_.subjects.begin(), settings_.subjects.end());
        boost::json::array sans(settings_.sans.begin(), settings_.sans.end());
        boost::json::object o{{"type", "mtls"},
                              {"subjects", std::move(subjects)},
                              {"sans", std::move(sans)},
                              {"consumer", sources[static_cast<int>(settings_.consumer)]}};
        if (settings_.consumer_header) o["consumer_header"] = *settings_.consumer_header;
        return o;
    }

private:
    settings settings_;
};

}  // namespace

config::schema::ref schema() {
    namespace sc = config::schema;
    static const auto s =
        sc::object("filter_mtls", "Requires a verified client certificate, optionally from a list",
                   {{"type", sc::constant("mtls"), {}, true},
                    {"subjects", sc::strings(), "allowed subjects, as RFC 2253 writes them"},
                    {"sans", sc::strings(), "allowed subjectAltName values"},
                    {"consumer", sc::words({"common_name", "subject", "san", "fingerprint"}),
                     "what names the consumer (default common_name)"},
                    {"consumer_header", sc::string(), "send the consumer's name upstream in this field"}});
    return s;
}

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, *schema())) return nullptr;
    const auto before = r.errors.size();
    settings s;
    if (auto n = node["subjects"]; n.IsDefined()) {
        for (auto& [sn, subject] : r.string_list(n, path + ".subjects")) {
            if (subject.find('=') == std::string::npos) {
                r.error(sn, path + ".subjects",
                        "\"" + subject + "\" is not an RFC 2253 subject (e.g. CN=billing,O=Example)");
            }
            s.subjects.push_back(subject);
        }
    }
    if (auto n = node["sans"]; n.IsDefined()) {
        for (auto& [sn, san] : r.string_list(n, path + ".sans")) {
            if (san.empty()) r.error(sn, path + ".sans", "an empty SAN matches nothing");
            s.sans.push_back(san);
        }
    }
    r.optional_field(node, "consumer", path, s.consumer, [&](const YAML::Node& n, const std::string& p) {
        return r.one_of<consumer_source>(n, p, "consumer source",
                                         {{"common_name", consumer_source::common_name},
                                          {"subject", consumer_source::subject},
                                          {"san", consumer_source::san},
                                          {"fingerprint", consumer_source::fingerprint}});
    });
    if (auto n = node["consumer_header"]; n.IsDefined()) {
        if (auto h = r.string(n, path + ".consumer_header")) {
            if (!http::valid_token(*h)) r.error(n, path + ".consumer_header", "invalid header name \"" + *h + "\"");
            s.consumer_header = *h;
        }
    }
    if (r.errors.size() != before) return nullptr;
    return std::make_shared<mtls_factory>(std::move(s));
}

}  // namespace gatehouse::filters::mtls
