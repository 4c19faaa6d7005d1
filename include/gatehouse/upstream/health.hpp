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
#include <string_view>

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

    // Failed tries at endpoint i, whether or not outlier detection is on: how many, and the
    // last one (for /upstreams).
    enum class failure : std::uint8_t { none, connect, reset, timeout, status_5xx };
    static std::string_view name_of(failure f);
    void note_failure(std::size_t i, failure kind, std::chrono::system_clock::time_point at);
    struct failures {
        std::uint64_t total = 0;
        failure last = failure::none;
        std::chrono::system_clock::time_point last_at;
    };
    failures failures_of(std::size_t i) const;

    // What the workers hold at endpoint i, summed: each worker adds the change since its last
    // report on its sweep (and takes its share back when it drops the cluster).
    struct load {
        std::int64_t active_connections = 0;
        std::int64_t idle_connections = 0;
        std::int64_t requests = 0;  // in flight
    };
    void add_load(std::size_t i, const load& delta);
    load load_of(std::size_t i) const;

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
        std::atomic<std::uint64_t> failures{0};
        std::atomic<std::uint8_t> last_failure{0};
        std::atomic<std::int64_t> last_failure_ms{0};  // system clock
        std::atomic<std::int64_t> active_connections{0};
        std::atomic<std::int64_t> idle_connections{0};
        std::atomic<std::int64_t> requests{0};
    };
    std::size_t size_;
    std::unique_ptr<endpoint[]> endpoints_;
    std::atomic<std::uint64_t> ejections_total_{0};
};

}  // namespace gatehouse::upstream
