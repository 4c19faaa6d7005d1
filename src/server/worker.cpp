#include "gatehouse/server/worker.hpp"

#include <ctime>
#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <spdlog/spdlog.h>

#include "gatehouse/config/aggregate.hpp"
#include "gatehouse/filters/factory.hpp"
#include "gatehouse/io/tunnel.hpp"
#include "gatehouse/server/client_connection.hpp"
#include "gatehouse/upstream/exchange.hpp"
#include "request_state.hpp"

namespace gatehouse::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr auto sweep_interval = std::chrono::milliseconds(100);
constexpr unsigned pool_sweep_every = 10;          // ticks: pools are swept once a second
constexpr std::size_t io_buffer_size = 72 * 1024;  // a 64 KiB body and its head in one read and one write
constexpr std::size_t max_free_buffers = 512;
constexpr std::size_t max_free_request_blocks = 1024;
}  // namespace

worker::worker(unsigned id, std::shared_ptr<const snapshot> snap, std::uint64_t max_connections)
    : id_(id),
      max_connections_(max_connections),
      // Only this worker's thread touches its io_context (other threads use the mailbox), so
      // neither the scheduler nor the reactor needs locks.
      context_(std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE)),
      buffers_(io_buffer_size, max_free_buffers),
      request_blocks_(sizeof(request_state), max_free_request_blocks),
      random_(std::random_device{}() ^ (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ id) {
    generation_ = build_generation(std::move(snap));
    refresh_date();
}

std::unique_ptr<generation> worker::build_generation(std::shared_ptr<const snapshot> snap) {
    auto g = std::make_unique<generation>();
    g->snap = std::move(snap);
    const auto& config = *g->snap->config;
    for (std::size_t i = 0; i < config.upstreams.size(); ++i) {
        const auto& up = config.upstreams[i];
        std::shared_ptr<upstream::cluster_state> kept;
        if (generation_) {
            // An unchanged cluster keeps its state: warm pools survive a reload.
            const auto& old = *generation_->snap;
            for (std::size_t j = 0; j < old.config->upstreams.size(); ++j) {
                if (old.config->upstreams[j] == up && old.addresses[j] == g->snap->addresses[i]) {
                    kept = generation_->clusters[j];
                    kept->rebind(up, i < g->snap->health.size() ? g->snap->health[i] : nullptr);
                }
            }
        }
        if (!kept) {
            kept = std::make_shared<upstream::cluster_state>(up, g->snap->addresses[i], random_.next(),
                                                             i < g->snap->health.size() ? g->snap->health[i] : nullptr);
        }
        g->clusters.push_back(std::move(kept));
        g->cluster_stats.push_back(&stats_.cluster(up.name));
    }
    filters::worker_services services{*context_, id_, &stats_};
    for (const auto& instance : config.filters) {
        g->filters.push_back(instance.factory->create(services));
    }
    auto chain_of = [&](const std::vector<std::size_t>& indexes) {
        std::vector<filters::chain_entry> entries;
        entries.reserve(indexes.size());
        for (auto i : indexes) {
            entries.push_back({g->filters[i].get(), config.filters[i].name});
        }
        return filter_chain(std::move(entries));
    };
    for (const auto& route : config.routes) {
        g->route_chains.push_back(chain_of(route.filters));
        g->route_stats.push_back(&stats_.route(route.name));
        auto& backends = g->backend_stats.emplace_back();
        if (route.aggregate) {
            for (const auto& b : route.aggregate->backends) backends.push_back(&stats_.backend(route.name, b.name));
        }
    }
    g->default_chain = chain_of(config.default_filters);
    g->unmatched_stats = &stats_.route("");
    return g;
}

void worker::install(std::shared_ptr<const snapshot> snap) {
    auto next = build_generation(std::move(snap));
    std::swap(next, generation_);
    if (next->users > 0) {
        retired_.push_back(std::move(next));
    }
}

void worker::release_generation(generation* g) {
    if (--g->users > 0 || g == generation_.get()) {
        return;
    }
    std::erase_if(retired_, [g](const std::unique_ptr<generation>& r) { return r.get() == g; });
}

void worker::post_snapshot(std::shared_ptr<const snapshot> snap) {
    post([this, snap = std::move(snap)]() mutable { install(std::move(snap)); });
}

void worker::post_drain() {
    post([this] { drain(); });
}

void worker::drain() {
    if (draining_) {
        return;
    }
    draining_ = true;
    // Tunnels carry on during the drain and end just before the server's deadline, so that
    // each ends cleanly and is logged rather than cut by the exit.
    const auto drain_timeout = generation_->snap->config->server.drain_timeout;
    const auto margin = std::min<clock::duration>(std::chrono::milliseconds(300), drain_timeout / 2);
    tunnels_end_at_ = now_ + drain_timeout - margin;
    // Take what the kernel already queued on our listening sockets before closing them: with
    // SO_REUSEPORT, connections left in a closed socket's queue would be reset.
    for (std::size_t listener = 0; listener < acceptors_.size(); ++listener) {
        auto& acceptor = acceptors_[listener];
        boost::system::error_code ec;
        acceptor->non_blocking(true, ec);
        for (;;) {
            tcp::endpoint peer;
            tcp::socket socket(*context_);
            acceptor->accept(socket, peer, ec);
            if (ec) {
                break;
            }
            if (connections_.get() < max_connections_) {
                spawn_client_connection(*this, std::move(socket), peer, listener);
            }
        }
        acceptor->close(ec);
    }
    deadlines_.expire_idle();
}

void worker::check_tunnels(clock::time_point now) {
    for (auto& watch : tunnels_) {
        auto& t = *watch.tunnel;
        if (now >= tunnels_end_at_) {
            t.stop(io::tunnel_end::drain);
        } else if (now - t.last_activity() >= watch.idle_timeout) {
            t.stop(io::tunnel_end::idle_timeout);
        } else if (now >= watch.ends_at) {
            t.stop(io::tunnel_end::max_duration);
        }
    }
}

void worker::publish_gauges() {
    for (std::size_t c = 0; c < generation_->clusters.size(); ++c) {
        auto& cluster = *generation_->clusters[c];
        const auto load = cluster.report_load();
        generation_->cluster_stats[c]->active.set(static_cast<std::uint64_t>(load.active_connections));
        generation_->cluster_stats[c]->idle.set(static_cast<std::uint64_t>(load.idle_connections));
        for (std::size_t i = 0; i < cluster.size(); ++i) {
            if (auto stray = cluster.endpoint(i).pool.take_stray_closed()) {
                generation_->cluster_stats[c]
                    ->errors[static_cast<std::size_t>(observability::upstream_error::unexpected_bytes)]
                    .add(stray);
            }
        }
    }
}

worker::~worker() {
    stop();
    join();
    // Sockets must go before the io_context they belong to; connection coroutines (destroyed
    // with the io_context) still reach the pools, the buffer pool and the deadline list.
    acceptors_.clear();
    sweep_timer_.reset();
    for (auto& cluster : generation_->clusters) {
        for (std::size_t i = 0; i < cluster->size(); ++i) {
            cluster->endpoint(i).pool.close_idle();
        }
    }
    // Filters with their own sockets (the Redis client) close them while the io_context exists;
    // the instances stay, as frames destroyed with the io_context may still run on_log.
    for (auto& f : generation_->filters) f->on_shutdown();
    for (auto& g : retired_) {
        for (auto& f : g->filters) f->on_shutdown();
    }
    context_.reset();
    retired_.clear();
    generation_.reset();
}

tcp::endpoint worker::listen(const tcp::endpoint& address) {
    auto acceptor = std::make_unique<tcp::acceptor>(*context_);
    acceptor->open(address.protocol());
    acceptor->set_option(asio::socket_base::reuse_address(true));
    int one = 1;
    if (::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        throw boost::system::system_error(boost::system::error_code(errno, boost::system::system_category()),
                                          "setsockopt(SO_REUSEPORT)");
    }
    if (address.address().is_v6()) {
        acceptor->set_option(asio::ip::v6_only(true));
    }
    acceptor->bind(address);
    acceptor->listen(asio::socket_base::max_listen_connections);
    auto bound = acceptor->local_endpoint();
    acceptors_.push_back(std::move(acceptor));
    return bound;
}

observability::tls_stats& worker::tls_stats(std::size_t listener) {
    if (listener >= tls_stats_.size()) tls_stats_.resize(listener + 1, nullptr);
    if (!tls_stats_[listener]) {
        // Labelled with the bound address (the config may say port 0).
        boost::system::error_code ec;
        auto bound = listener < acceptors_.size() ? acceptors_[listener]->local_endpoint(ec) : tcp::endpoint{};
        tls_stats_[listener] = &stats_.tls(bound.address().to_string() + ":" + std::to_string(bound.port()));
    }
    return *tls_stats_[listener];
}

upstream::exchange_env worker::exchange_env() {
    return {context_->get_executor(), &buffers_, &now_, &random_};
}

void worker::start() {
    peers_.resize(acceptors_.size());
    for (std::size_t i = 0; i < acceptors_.size(); ++i) {
        accept_loop(*acceptors_[i], peers_[i], i);
    }
    sweep_timer_ = std::make_unique<asio::steady_timer>(*context_);
    schedule_sweep();
    thread_ = std::thread([this] {
        try {
            context_->run();
        } catch (const std::exception& e) {
            spdlog::critical("worker {}: event loop failed: {}", id_, e.what());
            std::abort();  // a worker that stops silently would black-hole its connections
        }
    });
}

void worker::stop() {
    stop_requested_ = true;
}

void worker::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

void worker::post(std::function<void()> message) {
    std::lock_guard lock(mailbox_mutex_);
    mailbox_.push_back(std::move(message));
}

void worker::post_addresses(const snapshot* snap, std::size_t cluster, std::size_t endpoint,
                            upstream::address_list addresses) {
    post([this, snap, cluster, endpoint, addresses = std::move(addresses)]() mutable {
        auto& clusters = generation_->clusters;
        if (generation_->snap.get() == snap && cluster < clusters.size() && endpoint < clusters[cluster]->size()) {
            auto& ep = clusters[cluster]->endpoint(endpoint);
            ep.addresses = std::move(addresses);
            ep.next_address = 0;
        }
    });
}

void worker::accept_loop(tcp::acceptor& acceptor, tcp::endpoint& peer, std::size_t listener) {
    // The peer address comes with the accept: no getpeername per connection.
    acceptor.async_accept(peer, [this, &acceptor, &peer, listener](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
            return;
        }
        if (ec) {
            // Typically EMFILE/ENFILE: pause accepting briefly instead of spinning.
            spdlog::warn("worker {}: accept failed: {}", id_, ec.message());
            auto timer = std::make_shared<asio::steady_timer>(*context_, std::chrono::milliseconds(50));
            timer->async_wait([this, &acceptor, &peer, timer, listener](boost::system::error_code) {
                accept_loop(acceptor, peer, listener);
            });
            return;
        }
        if (connections_.get() >= max_connections_) {
            boost::system::error_code ignored;
            socket.close(ignored);
        } else {
            spawn_client_connection(*this, std::move(socket), peer, listener);
        }
        accept_loop(acceptor, peer, listener);
    });
}

void worker::schedule_sweep() {
    sweep_timer_->expires_after(sweep_interval);
    sweep_timer_->async_wait([this](boost::system::error_code ec) {
        if (ec) {
            return;
        }
        if (stop_requested_) {
            context_->stop();
            return;
        }
        std::vector<std::function<void()>> messages;
        {
            std::lock_guard lock(mailbox_mutex_);
            messages.swap(mailbox_);
        }
        for (auto& message : messages) {
            message();
        }
        auto now = clock::now();
        now_ = now;
        deadlines_.sweep(now);
        refresh_date();
        if (++sweep_ticks_ % pool_sweep_every == 0) {
            for (auto& cluster : generation_->clusters) {
                for (std::size_t i = 0; i < cluster->size(); ++i) {
                    cluster->endpoint(i).pool.sweep(now);
                }
            }
        }
        for (auto& f : generation_->filters) {
            f->on_tick(now);
        }
        for (auto& g : retired_) {
            for (auto& f : g->filters) {
                f->on_tick(now);
            }
        }
        check_tunnels(now);
        publish_gauges();
        schedule_sweep();
    });
}

void worker::refresh_date() {
    auto steady = clock::now().time_since_epoch();
    wall_offset_ =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()) -
        std::chrono::duration_cast<std::chrono::nanoseconds>(steady);
    std::time_t now = std::time(nullptr);
    if (now == date_second_) {
        return;
    }
    date_second_ = now;
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char text[64];
    auto n = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    date_.assign(text, n);
}

}  // namespace gatehouse::server
