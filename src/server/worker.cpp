#include "gatehouse/server/worker.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <ctime>
#include <random>

#include "gatehouse/server/client_connection.hpp"
#include "request_state.hpp"

namespace gatehouse::server {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr auto sweep_interval = std::chrono::milliseconds(100);
constexpr unsigned pool_sweep_every = 10;  // ticks: pools are swept once a second
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
      snapshot_(std::move(snap)),
      buffers_(io_buffer_size, max_free_buffers),
      request_blocks_(sizeof(request_state), max_free_request_blocks),
      random_(std::random_device{}() ^ (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ id) {
    const auto& config = *snapshot_->config;
    for (std::size_t i = 0; i < config.upstreams.size(); ++i) {
        clusters_.push_back(std::make_unique<upstream::cluster_state>(config.upstreams[i], snapshot_->addresses[i],
                                                                      random_.next()));
    }
    refresh_date();
}

worker::~worker() {
    stop();
    join();
    // Sockets must go before the io_context they belong to; connection coroutines (destroyed
    // with the io_context) still reach the pools, the buffer pool and the deadline list.
    acceptors_.clear();
    sweep_timer_.reset();
    for (auto& cluster : clusters_) {
        for (std::size_t i = 0; i < cluster->size(); ++i) {
            cluster->endpoint(i).pool.close_idle();
        }
    }
    context_.reset();
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

void worker::start() {
    peers_.resize(acceptors_.size());
    for (std::size_t i = 0; i < acceptors_.size(); ++i) {
        accept_loop(*acceptors_[i], peers_[i]);
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

void worker::stop() { stop_requested_ = true; }

void worker::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

void worker::post(std::function<void()> message) {
    std::lock_guard lock(mailbox_mutex_);
    mailbox_.push_back(std::move(message));
}

void worker::post_addresses(std::size_t cluster, std::size_t endpoint, upstream::address_list addresses) {
    post([this, cluster, endpoint, addresses = std::move(addresses)]() mutable {
        if (cluster < clusters_.size() && endpoint < clusters_[cluster]->size()) {
            auto& ep = clusters_[cluster]->endpoint(endpoint);
            ep.addresses = std::move(addresses);
            ep.next_address = 0;
        }
    });
}

void worker::accept_loop(tcp::acceptor& acceptor, tcp::endpoint& peer) {
    // The peer address comes with the accept: no getpeername per connection.
    acceptor.async_accept(peer, [this, &acceptor, &peer](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
            return;
        }
        if (ec) {
            // Typically EMFILE/ENFILE: pause accepting briefly instead of spinning.
            spdlog::warn("worker {}: accept failed: {}", id_, ec.message());
            auto timer = std::make_shared<asio::steady_timer>(*context_, std::chrono::milliseconds(50));
            timer->async_wait([this, &acceptor, &peer, timer](boost::system::error_code) { accept_loop(acceptor, peer); });
            return;
        }
        if (connections_ >= max_connections_) {
            boost::system::error_code ignored;
            socket.close(ignored);
        } else {
            spawn_client_connection(*this, std::move(socket), peer);
        }
        accept_loop(acceptor, peer);
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
            for (auto& cluster : clusters_) {
                for (std::size_t i = 0; i < cluster->size(); ++i) {
                    cluster->endpoint(i).pool.sweep(now);
                }
            }
        }
        schedule_sweep();
    });
}

void worker::refresh_date() {
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
