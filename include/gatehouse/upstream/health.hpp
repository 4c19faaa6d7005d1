#pragma once
// What every worker knows alike about one upstream cluster: endpoints ejected for failing
// (passive outlier detection) and the requests in flight to the cluster from all workers
// (circuit breaking). Atomics only: a worker reads an endpoint's ejection deadline when it
// picks one and writes only when an outcome changes something.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "gatehouse/config/config.hpp"

namespace gatehouse::upstream {

class cluster_health {
public:
    using clock = std::chrono::steady_clock;

    explicit cluster_health(std::size_t endpoints);

    std::size_t size() const { return size_; }

    // False once active health checks found endpoint i failing (until it passes again).
    bool healthy(std::size_t i) const { return i >= size_ || !endpoints_[i].unhealthy.load(std::memory_order_relaxed); }
    void set_healthy(std::size_t i, bool healthy) {
        if (i < size_) endpoints_[i].unhealthy.store(!healthy, std::memory_order_relaxed);
    }
    // In for load balancing: healthy and not ejected.
    bool in(std::size_t i, clock::time_point now) const { return healthy(i) && !ejected(i, now); }

    // True while endpoint i is ejected.
    bool ejected(std::size_t i, clock::time_point now) const {
        return i < size_ &&
               endpoints_[i].ejected_until.load(std::memory_order_relaxed) > now.time_since_epoch().count();
    }

    // A try's outcome at endpoint i. A failure (5xx, connect error, reset, timeout) that makes
    // consecutive_failures ejects it (unless max_ejected_percent are out already); returns true
    // when this call ejected it.
    void record_success(std::size_t i) {
        if (i < size_ && endpoints_[i].consecutive_failures.load(std::memory_order_relaxed) != 0) {
            endpoints_[i].consecutive_failures.store(0, std::memory_order_relaxed);
        }
    }
    bool record_failure(std::size_t i, clock::time_point now, const config::outlier_config& outlier);
    // Ends an ejection early: active health checks saw endpoint i fail and pass again, so it is
    // back now rather than when the ejection would run out. True if it was ejected.
    bool end_ejection(std::size_t i, clock::time_point now);

    struct ejection {
        clock::time_point until;  // in the past when not ejected
        std::uint32_t times = 0;  // ejections in a row
    };
    ejection ejection_of(std::size_t i) const;
    std::uint32_t consecutive_failures(std::size_t i) const {
        return i < size_ ? endpoints_[i].consecutive_failures.load(std::memory_order_relaxed) : 0;
    }
    std::uint64_t ejections_total() const { return ejections_total_.load(std::memory_order_relaxed); }

    // Requests in flight to the cluster from every worker, and those waiting for a connection.
    std::atomic<std::int64_t> in_flight{0};
    std::atomic<std::int64_t> pending{0};

private:
    struct endpoint {
        std::atomic<std::uint32_t> consecutive_failures{0};
        std::atomic<std::int64_t> ejected_until{0};  // steady clock ticks
        std::atomic<std::int64_t> last_ejected_until{0};
        std::atomic<std::uint32_t> ejections{0};
        std::atomic<bool> unhealthy{false};  // written by the prober only
    };
    std::size_t size_;
    std::unique_ptr<endpoint[]> endpoints_;
    std::atomic<std::uint64_t> ejections_total_{0};
};

}  // namespace gatehouse::upstream
