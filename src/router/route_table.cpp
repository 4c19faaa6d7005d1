#include "gatehouse/router/route_table.hpp"

#include <algorithm>

namespace gatehouse::router {

namespace {

bool constraints_match(const route& r, const request_view& req) {
    const auto& m = r.config.match;
    if (!m.methods.empty() && std::find(m.methods.begin(), m.methods.end(), req.method) == m.methods.end()) {
        return false;
    }
    for (const auto& h : m.headers) {
        auto value = req.headers ? req.headers->find(h.name) : std::nullopt;
        if (!value || (h.value && *value != *h.value)) {
            return false;
        }
    }
    return true;
}

const route* first_matching(const std::vector<const route*>& candidates, const request_view& req) {
    for (const route* r : candidates) {
        if (constraints_match(*r, req)) {
            return r;
        }
    }
    return nullptr;
}

// One path segment per level; a {param} child matches any single non-empty segment.
struct segment_node {
    string_map<std::unique_ptr<segment_node>> literal;
    std::unique_ptr<segment_node> param;
    std::vector<const route*> routes;
};

// One character per level; routes sit at the node where their prefix ends.
struct char_node {
    std::vector<std::pair<char, std::unique_ptr<char_node>>> children;
    std::vector<const route*> routes;

    char_node* child(char c) const {
        for (const auto& [k, node] : children) {
            if (k == c) {
                return node.get();
            }
        }
        return nullptr;
    }
};

std::string_view next_segment(std::string_view& rest) {
    auto slash = rest.find('/');
    auto segment = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    return segment;
}

}  // namespace

struct route_table::path_table {
    string_map<std::vector<const route*>> exact;
    segment_node templates;
    bool has_templates = false;
    char_node prefixes;

    void add(const route* r) {
        const auto& m = r->config.match;
        switch (m.path_kind) {
            case config::path_match_kind::exact:
                exact[m.path].push_back(r);
                break;
            case config::path_match_kind::templated: {
                has_templates = true;
                segment_node* node = &templates;
                std::string_view rest = std::string_view(m.path).substr(1);
                for (;;) {
                    auto segment = next_segment(rest);
                    if (segment.starts_with("{")) {
                        if (!node->param) {
                            node->param = std::make_unique<segment_node>();
                        }
                        node = node->param.get();
                    } else {
                        auto& slot = node->literal[std::string(segment)];
                        if (!slot) {
                            slot = std::make_unique<segment_node>();
                        }
                        node = slot.get();
                    }
                    if (rest.data() == nullptr) {
                        break;
                    }
                }
                node->routes.push_back(r);
                break;
            }
            case config::path_match_kind::prefix: {
                char_node* node = &prefixes;
                for (char c : m.path) {
                    char_node* next = node->child(c);
                    if (!next) {
                        node->children.emplace_back(c, std::make_unique<char_node>());
                        next = node->children.back().second.get();
                    }
                    node = next;
                }
                node->routes.push_back(r);
                break;
            }
        }
    }

    static const route* match_template(const segment_node& node, std::string_view rest, bool done,
                                       const request_view& req) {
        if (done) {
            return first_matching(node.routes, req);
        }
        std::string_view after = rest;
        auto segment = next_segment(after);
        bool last = after.data() == nullptr;
        if (auto it = node.literal.find(segment); it != node.literal.end()) {
            if (auto r = match_template(*it->second, after, last, req)) {
                return r;
            }
        }
        if (node.param && !segment.empty()) {
            return match_template(*node.param, after, last, req);
        }
        return nullptr;
    }

    const route* match(const request_view& req) const {
        if (!exact.empty()) {
            if (auto it = exact.find(req.path); it != exact.end()) {
                if (auto r = first_matching(it->second, req)) {
                    return r;
                }
            }
        }
        if (has_templates && req.path.starts_with("/")) {
            if (auto r = match_template(templates, req.path.substr(1), false, req)) {
                return r;
            }
        }
        // Walk the character trie, remembering every node with routes; try the deepest first.
        const char_node* stack[64];
        std::size_t depth = 0;
        std::vector<const char_node*> overflow;
        const char_node* node = &prefixes;
        auto remember = [&](const char_node* n) {
            if (depth < std::size(stack)) {
                stack[depth++] = n;
            } else {
                overflow.push_back(n);
            }
        };
        if (!node->routes.empty()) {
            remember(node);
        }
        for (char c : req.path) {
            node = node->child(c);
            if (!node) {
                break;
            }
            if (!node->routes.empty()) {
                remember(node);
            }
        }
        for (auto it = overflow.rbegin(); it != overflow.rend(); ++it) {
            if (auto r = first_matching((*it)->routes, req)) {
                return r;
            }
        }
        while (depth > 0) {
            if (auto r = first_matching(stack[--depth]->routes, req)) {
                return r;
            }
        }
        return nullptr;
    }
};

route_table::route_table() = default;
route_table::~route_table() = default;

std::shared_ptr<const route_table> route_table::compile(const config::gateway_config& config) {
    auto table = std::make_shared<route_table>();
    table->routes_.reserve(config.routes.size());
    for (std::size_t i = 0; i < config.routes.size(); ++i) {
        route r;
        r.config = config.routes[i];
        r.index = i;
        auto it = std::find_if(config.upstreams.begin(), config.upstreams.end(),
                               [&](const config::upstream_config& u) { return u.name == r.config.upstream; });
        r.upstream_index = static_cast<std::size_t>(it - config.upstreams.begin());
        table->routes_.push_back(std::move(r));
    }
    auto table_for = [&](const std::string& host) -> path_table& {
        std::unique_ptr<path_table>* slot = nullptr;
        if (host.empty() || host == "*") {
            slot = &table->any_host_;
        } else if (host.starts_with("*.")) {
            slot = &table->wildcard_hosts_[host.substr(1)];
        } else {
            slot = &table->exact_hosts_[host];
        }
        if (!*slot) {
            *slot = std::make_unique<path_table>();
        }
        return **slot;
    };
    for (const auto& r : table->routes_) {
        if (r.config.match.hosts.empty()) {
            table_for("").add(&r);
        } else {
            for (const auto& host : r.config.match.hosts) {
                table_for(host).add(&r);
            }
        }
    }
    return table;
}

const route* route_table::match(const request_view& request) const {
    if (!exact_hosts_.empty()) {
        if (auto it = exact_hosts_.find(request.host); it != exact_hosts_.end()) {
            if (auto r = it->second->match(request)) {
                return r;
            }
        }
    }
    if (!wildcard_hosts_.empty()) {
        // Longest suffix first: for a.b.example.com try .b.example.com, then .example.com, ...
        std::string_view host = request.host;
        for (auto dot = host.find('.'); dot != std::string_view::npos; dot = host.find('.', dot + 1)) {
            if (auto it = wildcard_hosts_.find(host.substr(dot)); it != wildcard_hosts_.end()) {
                if (dot == 0) {
                    continue;  // "*.x" needs at least one label before ".x"
                }
                if (auto r = it->second->match(request)) {
                    return r;
                }
            }
        }
    }
    if (any_host_) {
        return any_host_->match(request);
    }
    return nullptr;
}

}  // namespace gatehouse::router
