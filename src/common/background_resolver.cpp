#include "gatehouse/common/background_resolver.hpp"

#include <spdlog/spdlog.h>

#include "gatehouse/common/resolve.hpp"

namespace gatehouse::common {

background_resolver::background_resolver(std::string host, std::uint16_t port, std::chrono::milliseconds refresh)
    : host_(std::move(host)), port_(port), refresh_(refresh) {}

background_resolver::~background_resolver() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void background_resolver::start() {
    std::lock_guard lock(mutex_);
    if (started_) return;
    started_ = true;
    if (is_ip_literal(host_)) {
        std::string ignored;
        addresses_ = resolve_blocking(host_, port_, ignored);  // parsed, no lookup
        error_.clear();
        return;
    }
    thread_ = std::thread([this] { run(); });
}

void background_resolver::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        std::string error;
        auto found = resolve_blocking(host_, port_, error);
        lock.lock();
        if (!found.empty()) {
            addresses_ = std::move(found);
            error_.clear();
        } else {
            if (error_ != error) spdlog::warn("cannot resolve {}: {} (retrying every second)", host_, error);
            error_ = error;  // the last good list stays in use
        }
        wake_.wait_for(lock, addresses_.empty() ? std::chrono::milliseconds(1000) : refresh_,
                       [this] { return stopping_; });
    }
}

background_resolver::address_list background_resolver::addresses() const {
    std::lock_guard lock(mutex_);
    return addresses_;
}

std::string background_resolver::error() const {
    std::lock_guard lock(mutex_);
    return error_;
}

}  // namespace gatehouse::common
