#include "gatehouse/filters/context.hpp"

#include "gatehouse/filters/filter.hpp"
#include "gatehouse/http/field_rules.hpp"

namespace gatehouse::filters {

void head_edits::set(std::string_view name, std::string_view value) {
    edits_.push_back(
        {op::set, std::pmr::string(name, edits_.get_allocator()), std::pmr::string(value, edits_.get_allocator())});
}

void head_edits::add(std::string_view name, std::string_view value) {
    edits_.push_back(
        {op::add, std::pmr::string(name, edits_.get_allocator()), std::pmr::string(value, edits_.get_allocator())});
}

void head_edits::remove(std::string_view name) {
    edits_.push_back(
        {op::remove, std::pmr::string(name, edits_.get_allocator()), std::pmr::string(edits_.get_allocator())});
}

bool head_edits::replaces(std::string_view name) const {
    for (const auto& e : edits_) {
        if (e.kind != op::add && http::iequals(e.name, name)) {
            return true;
        }
    }
    return false;
}

bool head_edits::overridden_after(std::size_t i) const {
    for (std::size_t j = i + 1; j < edits_.size(); ++j) {
        if (edits_[j].kind != op::add && http::iequals(edits_[j].name, edits_[i].name)) {
            return true;
        }
    }
    return false;
}

boost::asio::awaitable<filter_status> filter::on_request_async(request_context& ctx) {
    co_return on_request(ctx);
}

}  // namespace gatehouse::filters
