#pragma once
// Path normalisation (RFC 3986 section 6.2.2), done once before routing so that the route
// table, every filter and the upstream see the same path. Upstreams decode and resolve paths in
// different ways (Spring and Tomcat drop "..;", Express decodes, IIS reads '\' as '/'); a path
// that one of them could read as a different resource than the gateway routed is either
// rewritten into its one canonical spelling or refused.
#include <cstddef>
#include <string_view>

namespace gatehouse::http {

// What to do with %2F and %5C (an encoded '/' or '\') in a path.
enum class escaped_slash_action {
    reject,  // 400: the upstream might decode them into separators the router never saw
    keep,    // forward them encoded (hex upper-cased); routing sees them as ordinary characters
    decode,  // decode both into '/', then normalise (as the upstream would see the decoded path)
};

struct path_options {
    escaped_slash_action escaped_slashes = escaped_slash_action::reject;
    bool merge_slashes = true;  // "//" is one separator
};

// Why a path was refused (the text goes into the 400's message).
enum class path_error {
    none,
    not_absolute,           // does not start with '/'
    bad_percent_encoding,   // '%' not followed by two hex digits
    encoded_nul,            // %00
    backslash,              // a raw '\'
    escaped_slash,          // %2F or %5C under escaped_slash_action::reject
    dot_segment_parameter,  // ".;" or "..;": a dot segment some servers resolve after dropping the parameter
};
std::string_view describe(path_error e);

// Normalises the path in data[0, size) in place (it never grows) and returns its new size:
// percent-encoded unreserved characters decoded, other escapes upper-cased, "." and ".."
// segments removed (encoded ones too), repeated slashes merged. The path must start with '/'.
// On error, returns 0 and sets error. Idempotent: a normalised path normalises to itself.
std::size_t normalize_path(char* data, std::size_t size, const path_options& options, path_error& error);

// True if normalize_path could change path or refuse it (a cheap scan for '%', '\', "//"
// and "/."): the common path skips the rewrite.
bool path_needs_normalizing(std::string_view path);

}  // namespace gatehouse::http
