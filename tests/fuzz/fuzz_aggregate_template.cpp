// An aggregate backend's path and header templates, parsed as the config loader does and
// expanded with attacker-chosen values (a backend's answer or the client's path feeds them),
// with the invariant that makes them safe: a substituted value never adds structure. In a path
// it adds no '/', '?', '#', '&' or '=' and no dot segment; in a header no CR, LF or NUL. Also the
// route-template parameter extraction and percent-decoding the values come from.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/aggregate/value_template.hpp"

using namespace gatehouse::aggregate;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

std::size_t count_of(std::string_view text, std::string_view chars) {
    std::size_t n = 0;
    for (char c : text) n += chars.find(c) != std::string_view::npos ? 1 : 0;
    return n;
}

// Input: a flags byte, then NUL-separated pieces: the template, then the values handed out in
// turn to its references (also used as a route template and a request path).
std::vector<std::string_view> pieces(std::string_view input) {
    std::vector<std::string_view> out;
    for (;;) {
        auto nul = input.find('\0');
        out.push_back(input.substr(0, nul));
        if (nul == std::string_view::npos) return out;
        input.remove_prefix(nul + 1);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const auto where = (data[0] & 1) ? value_template::context::header : value_template::context::path;
    const auto parts = pieces(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
    std::string why;
    auto parsed = value_template::parse(parts[0], where, why);
    if (!parsed) {
        check(!why.empty());
    } else {
        std::size_t next = 1;
        std::string out;
        const auto* failed = parsed->expand(out, [&](const template_part&, std::string& value) {
            if (next >= parts.size()) return false;
            value.assign(parts[next++]);
            return true;
        });
        if (!failed) {
            std::string literals;
            for (const auto& part : parsed->parts()) {
                if (part.type == template_part::kind::literal) literals += part.text;
            }
            // The structure of the result is the structure of the template's own text ('?' is
            // data inside a query component, so it counts only where no value lands in the query).
            bool query_values = false;
            for (const auto& part : parsed->parts()) {
                query_values = query_values || (part.type != template_part::kind::literal && part.in_query);
            }
            const std::string_view structural = where == value_template::context::header ? "\r\n"
                                                : query_values                           ? "/#&=\\"
                                                                                         : "/?#&=\\";
            check(count_of(out, structural) == count_of(literals, structural));
            if (where == value_template::context::header) {
                check(count_of(out, std::string_view("\0", 1)) == count_of(literals, std::string_view("\0", 1)));
            }
        }
    }
    // The route parameters of a path: each value is a piece of the path.
    if (parts.size() >= 3) {
        const auto path = parts[2];
        for (const auto& [name, value] : template_params(parts[1], path)) {
            (void)name;
            check(value.empty() ||
                  (value.data() >= path.data() && value.data() + value.size() <= path.data() + path.size()));
            const auto decoded = percent_decode(value);
            check(decoded.size() <= value.size());
        }
    }
    // A segment is one segment and never a dot segment.
    if (parts.size() >= 2) {
        std::string segment;
        append_path_segment(segment, parts[1]);
        check(segment.find('/') == std::string::npos && segment != "." && segment != "..");
        std::string component;
        append_query_component(component, parts[1]);
        check(count_of(component, "&=#+") == 0);
    }
    return 0;
}
