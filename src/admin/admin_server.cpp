#include "gatehouse/admin/admin_server.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "gatehouse/admin/dashboard_page.hpp"
#include "gatehouse/http/field_rules.hpp"
#include "gatehouse/upstream/dns.hpp"

namespace gatehouse::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;

namespace {

// The admin listener reads whole small requests and answers whole pages.
using page_request = beast::http::request<beast::http::string_body>;
using page_response = beast::http::response<beast::http::string_body>;

constexpr auto admin_timeout = std::chrono::seconds(30);
constexpr std::size_t admin_body_limit = 64 * 1024;

page_response make_response(unsigned status, std::string_view type, std::string body, unsigned version,
                            bool keep_alive) {
    page_response res{static_cast<beast::http::status>(status), version};
    res.set(beast::http::field::content_type, type);
    res.set(beast::http::field::cache_control, "no-store");
    res.body() = std::move(body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

page_response json_error(unsigned status, std::string_view error, std::string_view message, unsigned version,
                         bool keep_alive) {
    std::string body = "{\"error\":\"" + std::string(error) + "\",\"message\":\"" + std::string(message) + "\"}\n";
    return make_response(status, "application/json", std::move(body), version, keep_alive);
}

page_response dashboard_response(unsigned status, unsigned version, bool keep_alive) {
    auto res = make_response(status, "text/html; charset=utf-8", std::string(dashboard_page()), version, keep_alive);
    // Its own inline script and style only; data from this origin; never in a frame.
    res.set("Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    res.set("X-Frame-Options", "DENY");
    res.set("Referrer-Policy", "no-referrer");
    return res;
}

using gatehouse::http::iequals;
using gatehouse::http::trim_whitespace;

// The host of a Host value, without port or IPv6 brackets.
std::string_view host_name(std::string_view value) {
    value = trim_whitespace(value);
    if (value.starts_with("[")) {
        auto close = value.find(']');
        return close == std::string_view::npos ? std::string_view() : value.substr(1, close - 1);
    }
    return value.substr(0, value.rfind(':') == std::string_view::npos ? value.size() : value.rfind(':'));
}

bool host_allowed(std::string_view host_value, const config::admin_config& settings) {
    auto host = host_name(host_value);
    if (host.empty()) {
        return false;
    }
    if (iequals(host, "localhost")) {
        return true;
    }
    // A literal address cannot be a rebound name: the page would have to be served from it.
    boost::system::error_code ec;
    asio::ip::make_address(std::string(host), ec);
    if (!ec) {
        return true;
    }
    return std::any_of(settings.hosts.begin(), settings.hosts.end(),
                       [&](const std::string& h) { return iequals(h, host); });
}

bool token_matches(std::optional<std::string_view> authorization, const std::string& token) {
    if (!authorization) {
        return false;
    }
    auto value = trim_whitespace(*authorization);
    if (value.size() < 7 || !iequals(value.substr(0, 7), "bearer ")) {
        return false;
    }
    auto presented = trim_whitespace(value.substr(7));
    return presented.size() == token.size() && CRYPTO_memcmp(presented.data(), token.data(), token.size()) == 0;
}

}  // namespace

admin_refusal check_admin_request(const admin_request& req, const config::admin_config& settings) {
    if (req.path == "/healthz" || req.path == "/readyz") {
        return admin_refusal::none;
    }
    if (req.host && !host_allowed(*req.host, settings)) {
        return admin_refusal::host_not_allowed;
    }
    if (!settings.token.empty() && !token_matches(req.authorization, settings.token)) {
        return admin_refusal::unauthorized;
    }
    if (req.state_changing) {
        if (req.origin) {
            return admin_refusal::cross_site;
        }
        auto site = req.fetch_site ? trim_whitespace(*req.fetch_site) : std::string_view("none");
        if (!iequals(site, "none") && !iequals(site, "same-origin")) {
            return admin_refusal::cross_site;
        }
    }
    return admin_refusal::none;
}

struct admin_server::impl {
    asio::io_context& io;
    handlers h;
    std::unique_ptr<tcp::acceptor> acceptor;

    page_response handle(const page_request& req) {
        auto target = std::string_view(req.target());
        target = target.substr(0, target.find('?'));
        const bool keep = req.keep_alive();
        const auto v = req.version();
        auto field = [&](beast::http::field name) -> std::optional<std::string_view> {
            auto it = req.find(name);
            return it == req.end() ? std::nullopt : std::optional<std::string_view>(it->value());
        };
        auto fetch_site = req.find("sec-fetch-site");
        admin_request facts{
            target,
            req.method() != beast::http::verb::get && req.method() != beast::http::verb::head,
            field(beast::http::field::host),
            field(beast::http::field::origin),
            fetch_site == req.end() ? std::nullopt : std::optional<std::string_view>(fetch_site->value()),
            field(beast::http::field::authorization)};
        if (req.count(beast::http::field::host) > 1 || req.count(beast::http::field::authorization) > 1) {
            return json_error(400, "bad_request", "repeated Host or Authorization field", v, keep);
        }
        const bool page = target == "/" || target == "/index.html";
        switch (check_admin_request(facts, h.settings())) {
            case admin_refusal::none:
                break;
            case admin_refusal::host_not_allowed:
                return json_error(403, "host_not_allowed", "this Host is not an admin address (see admin.hosts)", v,
                                  keep);
            case admin_refusal::cross_site:
                return json_error(403, "cross_site_request", "admin changes are not accepted from web pages", v, keep);
            case admin_refusal::unauthorized: {
                // A browser cannot send a bearer token when it opens an address: the dashboard's
                // page (which holds no data) comes with the 401 and asks for the token, which its
                // requests for /dashboard.json then carry.
                auto res = page && !facts.state_changing
                               ? dashboard_response(401, v, keep)
                               : json_error(401, "unauthorized", "send Authorization: Bearer <admin.token>", v, keep);
                res.set(beast::http::field::www_authenticate, "Bearer realm=\"gatehouse-admin\"");
                return res;
            }
        }
        return serve_page(req, target, page);
    }

    // An admitted request: the page it names, or 404/405.
    page_response serve_page(const page_request& req, std::string_view target, bool page) {
        const bool keep = req.keep_alive();
        const auto v = req.version();
        auto only = [&](beast::http::verb verb, std::string_view allow) -> std::optional<page_response> {
            if (req.method() == verb || (verb == beast::http::verb::get && req.method() == beast::http::verb::head)) {
                return std::nullopt;
            }
            auto res = json_error(405, "method_not_allowed", "use " + std::string(allow), v, keep);
            res.set(beast::http::field::allow, allow);
            return res;
        };
        auto get_page = [&](std::string_view type, std::string body) {
            if (auto r = only(beast::http::verb::get, "GET, HEAD")) return *r;
            return make_response(200, type, std::move(body), v, keep);
        };
        if (target == "/healthz") return get_page("text/plain", "ok\n");
        if (target == "/readyz") {
            if (auto r = only(beast::http::verb::get, "GET, HEAD")) return *r;
            bool ready = h.ready();
            return make_response(ready ? 200 : 503, "text/plain", ready ? "ready\n" : "draining\n", v, keep);
        }
        if (target == "/metrics") return get_page("text/plain; version=0.0.4; charset=utf-8", h.metrics());
        if (target == "/config") return get_page("application/json", h.config());
        if (target == "/upstreams" && h.upstreams) return get_page("application/json", h.upstreams());
        if (page) {
            if (auto r = only(beast::http::verb::get, "GET, HEAD")) return *r;
            return dashboard_response(200, v, keep);
        }
        if (target == "/dashboard.json" && h.dashboard) return get_page("application/json", h.dashboard());
        if (target == "/explain" && h.explain) {
            if (auto r = only(beast::http::verb::post, "POST")) return *r;
            auto [status, body] = h.explain(req.body());
            return make_response(status, "application/json", std::move(body), v, keep);
        }
        if (target == "/reload") {
            if (auto r = only(beast::http::verb::post, "POST")) return *r;
            auto outcome = h.reload();
            return make_response(outcome.ok ? 200 : 400, "application/json", std::move(outcome.json), v, keep);
        }
        return json_error(404, "not_found",
                          "admin pages: / (dashboard) /dashboard.json /healthz /readyz /metrics /config /upstreams "
                          "POST /explain POST /reload",
                          v, keep);
    }

    asio::awaitable<void> serve(tcp::socket socket) {
        beast::tcp_stream stream(std::move(socket));
        beast::flat_buffer buffer;
        for (;;) {
            beast::http::request_parser<beast::http::string_body> parser;
            parser.body_limit(admin_body_limit);
            parser.header_limit(16 * 1024);
            stream.expires_after(admin_timeout);
            auto [ec, n] =
                co_await beast::http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
            if (ec) {
                if (ec != beast::http::error::end_of_stream && ec != asio::error::operation_aborted) {
                    spdlog::debug("admin: read failed: {}", ec.message());
                }
                break;
            }
            auto res = handle(parser.get());
            if (parser.get().method() == beast::http::verb::head) {
                res.body().clear();  // Content-Length stays that of the GET
            }
            stream.expires_after(admin_timeout);
            auto [wec, wn] = co_await beast::http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            if (wec || !res.keep_alive()) {
                break;
            }
        }
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    void accept() {
        acceptor->async_accept([this](boost::system::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted || !acceptor->is_open()) {
                return;
            }
            if (!ec) {
                asio::co_spawn(io, serve(std::move(socket)), [](const std::exception_ptr& e) {
                    if (e) {
                        try {
                            std::rethrow_exception(e);
                        } catch (const std::exception& ex) {
                            spdlog::error("admin connection failed: {}", ex.what());
                        }
                    }
                });
            }
            accept();
        });
    }
};

admin_server::admin_server(asio::io_context& io, handlers h)
    : impl_(std::make_unique<impl>(impl{io, std::move(h), nullptr})) {}

admin_server::~admin_server() = default;

tcp::endpoint admin_server::listen(const config::host_port& address) {
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(address.host, ec);
    if (ec) {
        std::string error;
        auto resolved = upstream::resolve_blocking(address, error);
        if (resolved.empty()) {
            throw std::runtime_error("cannot resolve admin address " + address.host + ": " + error);
        }
        ip = resolved.front().address();
    }
    tcp::endpoint endpoint(ip, address.port);
    auto acceptor = std::make_unique<tcp::acceptor>(impl_->io);
    try {
        acceptor->open(endpoint.protocol());
        acceptor->set_option(asio::socket_base::reuse_address(true));
        acceptor->bind(endpoint);
        acceptor->listen();
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("cannot listen on admin address " + address.host + ":" + std::to_string(address.port) +
                                 ": " + e.code().message());
    }
    auto bound = acceptor->local_endpoint();
    impl_->acceptor = std::move(acceptor);
    return bound;
}

void admin_server::start() {
    if (impl_->acceptor) {
        impl_->accept();
    }
}

void admin_server::stop() {
    if (impl_->acceptor) {
        boost::system::error_code ignored;
        impl_->acceptor->close(ignored);
    }
}

}  // namespace gatehouse::admin
