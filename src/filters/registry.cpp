#include "gatehouse/filters/registry.hpp"

#include "access_log/access_log.hpp"
#include "api_key/api_key.hpp"
#include "cors/cors.hpp"
#include "headers/headers.hpp"
#include "ip_filter/ip_filter.hpp"
#include "jwt/jwt.hpp"
#include "mtls/mtls.hpp"
#include "rate_limit/rate_limit.hpp"
#include "request_id/request_id.hpp"
#include "respond/respond.hpp"

namespace gatehouse::filters {

namespace {
constexpr filter_type types[] = {
    {"request_id", &request_id::parse, &request_id::schema},
    {"headers", &headers::parse, &headers::schema},
    {"access_log", &access_log::parse, &access_log::schema},
    {"respond", &respond::parse, &respond::schema},
    {"api_key", &api_key::parse, &api_key::schema},
    {"ip_filter", &ip_filter::parse, &ip_filter::schema},
    {"cors", &cors::parse, &cors::schema},
    {"rate_limit", &rate_limit::parse, &rate_limit::schema},
    {"jwt", &jwt::parse, &jwt::schema},
    {"mtls", &mtls::parse, &mtls::schema},
};
}  // namespace

std::span<const filter_type> filter_types() {
    return types;
}

const filter_type* find_filter_type(std::string_view name) {
    for (const auto& t : types) {
        if (t.name == name) {
            return &t;
        }
    }
    return nullptr;
}

}  // namespace gatehouse::filters
