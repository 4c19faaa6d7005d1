// The local backend's bucket table: one GCRA "theoretical arrival time" per key and limit,
// updated with compare-and-swap, shared by every worker.
#include "rate_limit.hpp"

namespace gatehouse::filters::rate_limit {

namespace {
constexpr std::size_t probe_window = 8;

std::int64_t ns(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
}  // namespace

bucket_table::bucket_table(std::size_t max_keys, std::size_t limits) : limits_(limits) {
    slots_ = 16;
    while (slots_ < max_keys) {
        slots_ *= 2;
    }
    keys_ = std::make_unique<std::atomic<std::uint64_t>[]>(slots_);
    times_ = std::make_unique<std::atomic<std::int64_t>[]>(slots_ * limits_);
}

decision bucket_table::take(std::uint64_t key_hash, const std::vector<limit>& limits,
                            std::chrono::steady_clock::time_point now_point) {
    if (key_hash == 0) {
        key_hash = 1;  // 0 marks a free slot
    }
    const std::int64_t now = ns(now_point);
    decision d;
    // Find the key's slot, or claim a free or expired one in the probe window; when every slot
    // there is busy, evict the one whose buckets fill up soonest.
    std::size_t slot = slots_;
    std::size_t victim = slots_;
    std::int64_t victim_time = INT64_MAX;
    const std::size_t start = key_hash & (slots_ - 1);
    // First the key's own slot anywhere in the window, so that a slot freed in front of it can
    // never give the key a second bucket.
    for (std::size_t probe = 0; probe < probe_window; ++probe) {
        std::size_t s = (start + probe) & (slots_ - 1);
        if (keys_[s].load(std::memory_order_acquire) == key_hash) {
            slot = s;
            break;
        }
    }
    // Then the first free or expired slot. Workers racing to add the same key try the same slots
    // in the same order: the loser of the compare-and-swap sees the winner's key and shares it.
    for (std::size_t probe = 0; probe < probe_window && slot == slots_; ++probe) {
        std::size_t s = (start + probe) & (slots_ - 1);
        auto current = keys_[s].load(std::memory_order_acquire);
        if (current == key_hash) {
            slot = s;
            break;
        }
        std::int64_t latest = 0;
        for (std::size_t i = 0; i < limits_; ++i) {
            latest = std::max(latest, times_[s * limits_ + i].load(std::memory_order_relaxed));
        }
        bool reusable = current == 0 || latest <= now;  // a bucket past its time is a fresh bucket
        // A free slot's times are 0 and an expired slot's are in the past, both the same as a
        // full bucket under GCRA, so claiming one needs no reset (a reset here could overwrite a
        // token another worker just charged to the new key).
        if (reusable) {
            if (keys_[s].compare_exchange_strong(current, key_hash, std::memory_order_acq_rel) || current == key_hash) {
                slot = s;
                break;
            }
        }
        if (latest < victim_time) {
            victim_time = latest;
            victim = s;
        }
    }
    if (slot == slots_) {
        keys_[victim].store(key_hash, std::memory_order_release);
        for (std::size_t i = 0; i < limits_; ++i) {
            times_[victim * limits_ + i].store(now, std::memory_order_relaxed);
        }
        slot = victim;
        d.evicted = true;
    }

    // GCRA per limit: allowed if the new arrival time stays within the burst window. Every limit
    // is checked before any is charged, so a refused request takes no token anywhere.
    auto* times = &times_[slot * limits_];
    // A failed compare-and-swap means another worker charged this key meanwhile: evaluate again
    // (lock-free: some worker always makes progress). Never let a request through uncharged.
    for (;;) {
        std::int64_t seen[16];
        std::int64_t next[16];
        bool allowed = true;
        double tightest_left = 1e300;
        for (std::size_t i = 0; i < limits.size(); ++i) {
            const auto& l = limits[i];
            const std::int64_t t = l.interval().count();
            const std::int64_t window = t * static_cast<std::int64_t>(l.burst);
            seen[i] = times[i].load(std::memory_order_acquire);
            std::int64_t tat = std::max(seen[i], now);
            next[i] = tat + t;
            if (next[i] - now > window) {
                allowed = false;
                auto wait = std::chrono::nanoseconds(next[i] - now - window);
                if (wait > d.retry_after) {
                    d.retry_after = wait;
                    d.tightest = i;
                }
                d.remaining = 0;
                d.reset = std::chrono::nanoseconds(tat - now);
            } else if (allowed) {
                double left = static_cast<double>(window - (next[i] - now)) / static_cast<double>(t);
                if (left < tightest_left) {
                    tightest_left = left;
                    d.tightest = i;
                    d.remaining = static_cast<std::uint64_t>(left);
                    d.reset = std::chrono::nanoseconds(next[i] - now);
                }
            }
        }
        if (!allowed) {
            d.allowed = false;
            return d;
        }
        // Charge every limit; if another worker got there first, undo what was charged and retry.
        std::size_t charged = 0;
        for (; charged < limits.size(); ++charged) {
            if (!times[charged].compare_exchange_strong(seen[charged], next[charged], std::memory_order_acq_rel)) {
                break;
            }
        }
        if (charged == limits.size()) {
            d.allowed = true;
            return d;
        }
        for (std::size_t i = 0; i < charged; ++i) {
            times[i].fetch_sub(limits[i].interval().count(), std::memory_order_acq_rel);
        }
        d = decision{};
    }
}

}  // namespace gatehouse::filters::rate_limit
