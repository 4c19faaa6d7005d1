// Path normalisation, with its invariants: a normalised path starts with '/', is never longer
// than its input, has no dot segment left (nor "//" when merging), and normalises to itself.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "gatehouse/http/path.hpp"

using namespace gatehouse::http;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

bool has_dot_segment(const std::string& p) {
    std::size_t pos = 1;
    while (pos <= p.size()) {
        auto end = p.find('/', pos);
        if (end == std::string::npos) end = p.size();
        auto seg = p.substr(pos, end - pos);
        if (seg == "." || seg == "..") return true;
        pos = end + 1;
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    path_options options;
    options.escaped_slashes = static_cast<escaped_slash_action>(data[0] % 3);
    options.merge_slashes = (data[0] & 4) != 0;
    std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
    std::string path = input;
    path_error error = path_error::none;
    auto n = normalize_path(path.data(), path.size(), options, error);
    if (error != path_error::none) {
        check(n == 0);
        return 0;
    }
    check(n >= 1 && n <= input.size());
    path.resize(n);
    check(path[0] == '/');
    check(!has_dot_segment(path));
    if (options.merge_slashes) check(path.find("//") == std::string::npos);
    check(path.find('\\') == std::string::npos);
    if (!path_needs_normalizing(input)) check(path == input);
    std::string again = path;
    auto m = normalize_path(again.data(), again.size(), options, error);
    check(error == path_error::none);
    again.resize(m);
    check(again == path);
    return 0;
}
