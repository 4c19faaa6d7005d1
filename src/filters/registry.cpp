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
    {"request_id", &request_id::parse},
    {"headers", &headers::parse},
    {"access_log", &access_log::parse},
    {"respond", &respond::parse},
    {"api_key", &api_key::parse},
    {"ip_filter", &ip_filter::parse},
    {"cors", &cors::parse},
    {"rate_limit", &rate_limit::parse},
    {"jwt", &jwt::parse},
    {"mtls", &mtls::parse},
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
