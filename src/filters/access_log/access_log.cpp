#include "access_log.hpp"

#include <charconv>
#include <ctime>
#include <map>
#include <mutex>

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "gatehouse/common/peer_certificate.hpp"
#include "gatehouse/config/reader.hpp"
#include "gatehouse/filters/log_files.hpp"
#include "gatehouse/http/local_reply.hpp"

namespace gatehouse::filters::access_log {

namespace {

constexpr std::pair<std::string_view, field> field_names[] = {
    {"time", field::time},
    {"request_id", field::request_id},
    {"trace_id", field::trace_id},
    {"client", field::client},
    {"method", field::method},
    {"path", field::path},
    {"route", field::route},
    {"upstream", field::upstream},
    {"tries", field::tries},
    {"status", field::status},
    {"bytes_in", field::bytes_in},
    {"bytes_out", field::bytes_out},
    {"duration_ms", field::duration_ms},
    {"upstream_duration_ms", field::upstream_duration_ms},
    {"filter", field::filter},
    {"reason", field::reason},
    {"consumer", field::consumer},
    {"tls_client", field::tls_client},
    {"backends", field::backends},
};

// field_names is in enum order, so a field's name is an index away.
static_assert(static_cast<std::size_t>(field::backends) + 1 == std::size(field_names));
std::string_view name_of(field f) {
    return field_names[static_cast<std::size_t>(f)].first;
}

void append_number(std::string& out, std::uint64_t v) {
    char buf[24];
    auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
    out.append(buf, end);
}

void append_millis(std::string& out, std::chrono::nanoseconds d) {
    auto micros = static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(d).count()));
    append_number(out, micros / 1000);
    out += '.';
    char frac[3] = {static_cast<char>('0' + micros % 1000 / 100), static_cast<char>('0' + micros % 100 / 10),
                    static_cast<char>('0' + micros % 10)};
    out.append(frac, 3);
}

void append_string(std::string& out, std::string_view s) {
    out += '"';
    http::append_json_escaped(out, s);
    out += '"';
}

// [{"name":"user","status":200,"duration_ms":3.120},{"name":"orders","status":0,...,"failure":"timeout"}]
void append_backends(std::string& out, std::span<const backend_call_log> backends) {
    out += '[';
    for (std::size_t i = 0; i < backends.size(); ++i) {
        const auto& b = backends[i];
        if (i) out += ',';
        out += "{\"name\":";
        append_string(out, b.name);
        out += ",\"status\":";
        append_number(out, b.status);
        out += ",\"duration_ms\":";
        if (b.called) {
            append_millis(out, b.duration);
        } else {
            out += "null";
        }
        if (!b.failure.empty()) {
            out += ",\"failure\":";
            append_string(out, b.failure);
        }
        out += '}';
    }
    out += ']';
}

void append_time(std::string& out, std::chrono::system_clock::time_point t) {
    auto since = t.time_since_epoch();
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since - seconds).count();
    // The date and time of day change once a second: format them once per second and thread.
    thread_local std::int64_t cached_second = -1;
    thread_local char cached[32];
    thread_local std::size_t cached_size = 0;
    if (seconds.count() != cached_second) {
        std::time_t tt = seconds.count();
        std::tm tm{};
        gmtime_r(&tt, &tm);
        cached_size = std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_second = seconds.count();
    }
    out += '"';
    out.append(cached, cached_size);
    out += '.';
    out += static_cast<char>('0' + millis / 100);
    out += static_cast<char>('0' + millis / 10 % 10);
    out += static_cast<char>('0' + millis % 10);
    out += "Z\"";
}

// A file sink that can be reopened at its path (after logrotate moved the file away).
class reopenable_file_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit reopenable_file_sink(const std::string& path) : path_(path) { file_.open(path_, false); }
    void reopen() {
        std::lock_guard lock(mutex_);
        file_.close();
        file_.open(path_, false);  // appends; creates the file anew if it was moved away
    }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t formatted;
        formatter_->format(msg, formatted);
        file_.write(formatted);
    }
    void flush_() override { file_.flush(); }

private:
    std::string path_;
    spdlog::details::file_helper file_;
};

std::mutex registry_mutex;  // config load and SIGUSR1 only, never per request
std::map<std::string, std::weak_ptr<reopenable_file_sink>> file_sinks;

// Batches the writer thread may have queued (all outputs together).
constexpr std::size_t queue_capacity = 4096;

std::shared_ptr<spdlog::details::thread_pool> writer_pool() {
    static std::shared_ptr<spdlog::details::thread_pool> pool =
        std::make_shared<spdlog::details::thread_pool>(queue_capacity, 1);
    return pool;
}

// One asynchronous logger per output and overflow policy, shared by every access_log instance
// and kept across reloads while any instance still uses it; loggers of one output share its
// sink, and the pool's single thread writes them in turn, so lines never interleave.
std::shared_ptr<spdlog::logger> logger_for(const std::string& output, bool block) {
    static std::map<std::pair<std::string, bool>, std::weak_ptr<spdlog::logger>> loggers;
    static std::map<std::string, std::weak_ptr<spdlog::sinks::sink>> sinks;
    auto pool = writer_pool();
    std::lock_guard lock(registry_mutex);
    if (auto existing = loggers[{output, block}].lock()) {
        return existing;
    }
    spdlog::sink_ptr sink = sinks[output].lock();
    if (!sink) {
        if (output == "stdout") {
            sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
        } else if (output == "stderr") {
            sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        } else {
            auto file = std::make_shared<reopenable_file_sink>(output);  // throws if it cannot open
            file_sinks[output] = file;
            sink = file;
        }
        sink->set_pattern("%v");
        sinks[output] = sink;
    }
    // Dropping: a full queue loses its oldest batch rather than block a worker (the filter
    // itself drops and counts when it sees the queue full, so this only covers a race).
    auto logger = std::make_shared<spdlog::async_logger>(
        "access_log:" + output, sink, pool,
        block ? spdlog::async_overflow_policy::block : spdlog::async_overflow_policy::overrun_oldest);
    logger->set_level(spdlog::level::info);
    logger->flush_on(spdlog::level::info);  // each batch reaches the file when written
    loggers[{output, block}] = logger;
    return logger;
}

class access_log_filter final : public filter {
public:
    access_log_filter(const settings& s, std::shared_ptr<spdlog::logger> logger, worker_services& w)
        : settings_(s), logger_(std::move(logger)), pool_(writer_pool()) {
        if (w.stats && !s.block_on_overflow) {
            dropped_ = &w.stats->filter_event(s.instance, "lines_dropped");
        }
        batch_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(settings_.buffer, 1 << 20)) + 1024);
    }
    ~access_log_filter() override { flush(); }

    void on_log(const request_context& ctx, const exchange_log& log) override {
        if (batch_.empty()) {
            first_line_ = std::chrono::steady_clock::now();
        }
        format_line(settings_, ctx, log, batch_);
        if (batch_.size() >= settings_.buffer) {
            flush();
        }
    }

    void on_tick(std::chrono::steady_clock::time_point now) override {
        if (!batch_.empty() && now - first_line_ >= settings_.flush) {
            flush();
        }
    }

private:
    void flush() {
        if (batch_.empty()) {
            return;
        }
        if (!settings_.block_on_overflow && pool_->queue_size() >= queue_capacity) {
            // The writer is stuck (full disk, a pipe nobody reads): traffic must not wait for it.
            if (dropped_) {
                dropped_->add(static_cast<std::uint64_t>(std::count(batch_.begin(), batch_.end(), '\n')));
            }
            batch_.clear();
            return;
        }
        std::string_view lines(batch_);
        lines.remove_suffix(1);  // the sink adds the last newline
        logger_->log(spdlog::level::info, lines);
        batch_.clear();
    }

    const settings& settings_;
    std::shared_ptr<spdlog::logger> logger_;
    std::shared_ptr<spdlog::details::thread_pool> pool_;
    observability::counter* dropped_ = nullptr;
    std::string batch_;
    std::chrono::steady_clock::time_point first_line_;
};

class access_log_factory final : public filter_factory {
public:
    access_log_factory(settings s, std::shared_ptr<spdlog::logger> logger)
        : settings_(std::move(s)), logger_(std::move(logger)) {}

    std::unique_ptr<filter> create(worker_services& w) const override {
        return std::make_unique<access_log_filter>(settings_, logger_, w);
    }

    std::string offline_note() const override {
        return "writes one line to " + settings_.output + " when the request ends";
    }

    boost::json::object describe() const override {
        boost::json::array fields;
        for (auto f : settings_.fields) {
            fields.emplace_back(name_of(f));
        }
        return {{"type", "access_log"},
                {"output", settings_.output},
                {"fields", std::move(fields)},
                {"buffer", settings_.buffer},
                {"flush_ms", settings_.flush.count()},
                {"on_overflow", settings_.block_on_overflow ? "block" : "drop"}};
    }

private:
    settings settings_;
    std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace

}  // namespace gatehouse::filters::access_log

namespace gatehouse::filters {

void reopen_log_files() {
    std::vector<std::shared_ptr<access_log::reopenable_file_sink>> sinks;
    {
        std::lock_guard lock(access_log::registry_mutex);
        for (auto& [path, weak] : access_log::file_sinks) {
            if (auto sink = weak.lock()) {
                sinks.push_back(std::move(sink));
            }
        }
    }
    for (auto& sink : sinks) {
        try {
            sink->reopen();
        } catch (const std::exception& e) {
            spdlog::error("reopening an access log failed: {}", e.what());
        }
    }
}

}  // namespace gatehouse::filters

namespace gatehouse::filters::access_log {

namespace {

void append_tries(std::string& out, const exchange_log& log) {
    append_number(out, log.tries);
    if (log.tries > 1) {  // the endpoints, when there was more than one try
        out += ",\"tried\":[";
        for (std::size_t i = 0; i < log.tried.size(); ++i) {
            if (i) out += ',';
            append_string(out, log.tried[i]);
        }
        out += ']';
    }
}

void append_certificate(std::string& out, const common::peer_certificate& certificate) {
    out += "{\"subject\":";
    append_string(out, certificate.subject);
    out += ",\"sans\":";
    append_string(out, certificate.sans_text);
    out += ",\"fingerprint\":";
    append_string(out, certificate.fingerprint);
    out += '}';
}

void append_value(field f, const request_context& ctx, const exchange_log& log, std::string& out) {
    switch (f) {
        case field::time:
            append_time(out, log.start);
            break;
        case field::request_id:
            append_string(out, ctx.request_id);
            break;
        case field::trace_id:
            append_string(out, ctx.trace_id);
            break;
        case field::client:
            append_string(out, ctx.client_ip);
            break;
        case field::method:
            append_string(out, ctx.method);
            break;
        case field::path:
            append_string(out, ctx.path);
            break;
        case field::route:
            append_string(out, ctx.route_name);
            break;
        case field::upstream:
            append_string(out, log.upstream);
            break;
        case field::tries:
            append_tries(out, log);
            break;
        case field::status:
            append_number(out, log.status);
            break;
        case field::bytes_in:
            append_number(out, log.bytes_in);
            break;
        case field::bytes_out:
            append_number(out, log.bytes_out);
            break;
        case field::duration_ms:
            append_millis(out, log.duration);
            break;
        case field::upstream_duration_ms:
            if (log.upstream_duration) {
                append_millis(out, *log.upstream_duration);
            } else {
                out += "null";
            }
            break;
        case field::filter:
            append_string(out, ctx.answered_by);
            break;
        case field::reason:
            append_string(out, !ctx.answer_reason.empty() ? std::string_view(ctx.answer_reason) : log.error);
            break;
        case field::consumer:
            append_string(out, ctx.consumer);
            break;
        case field::tls_client:
            append_certificate(out, *ctx.client_certificate);
            break;
        case field::backends:
            append_backends(out, log.backends);
            break;
    }
}

}  // namespace

void format_line(const settings& s, const request_context& ctx, const exchange_log& log, std::string& out) {
    out += '{';
    bool first = true;
    for (auto f : s.fields) {
        if (f == field::backends && log.backends.empty()) continue;
        if (f == field::tls_client && !ctx.client_certificate) continue;
        if (!first) out += ',';
        first = false;
        out += '"';
        out += name_of(f);
        out += "\":";
        append_value(f, ctx, log, out);
    }
    out += "}\n";
}

std::shared_ptr<const filter_factory> make_factory(settings s) {
    auto logger = logger_for(s.output, s.block_on_overflow);
    return std::make_shared<access_log_factory>(std::move(s), std::move(logger));
}

config::schema::ref schema() {
    namespace sc = config::schema;
    static const auto s =
        sc::object("filter_access_log", "One JSON line per request, written by a thread of its own",
                   {{"type", sc::constant("access_log"), {}, true},
                    {"output", sc::string(), "stdout (default), stderr or a file path"},
                    {"fields", sc::strings(), "which fields, in this order (default all)"},
                    {"buffer", sc::size(), "each worker's batch of lines (default 64KiB)"},
                    {"flush", sc::duration(), "batches are handed over at least this often (default 1s)"},
                    {"on_overflow", sc::words({"drop", "block"}), "when the writer cannot keep up (default drop)"}});
    return s;
}

std::shared_ptr<const filter_factory> parse(config::reader& r, const YAML::Node& node, const std::string& path) {
    if (!r.expect_map(node, path, *schema())) {
        return nullptr;
    }
    auto before = r.errors.size();
    settings s;
    s.instance = path.substr(path.rfind('.') + 1);
    r.optional_field(node, "on_overflow", path, s.block_on_overflow, [&](const YAML::Node& n, const std::string& p) {
        return r.one_of<bool>(n, p, "overflow policy", {{"drop", false}, {"block", true}});
    });
    if (auto n = node["output"]; n.IsDefined()) {
        if (auto out = r.string(n, path + ".output")) {
            if (out->empty()) {
                r.error(n, path + ".output", "expected stdout, stderr or a file path");
            } else {
                s.output = *out;
            }
        }
    }
    if (auto n = node["fields"]; n.IsDefined()) {
        for (auto& [fn, name] : r.string_list(n, path + ".fields")) {
            auto it = std::find_if(std::begin(field_names), std::end(field_names),
                                   [&name = name](auto& p) { return p.first == name; });
            if (it == std::end(field_names)) {
                std::string known;
                for (auto [k, v] : field_names) {
                    known += known.empty() ? "" : ", ";
                    known += k;
                }
                std::string message = "unknown field \"";
                message += name;
                message += "\" (known: ";
                message += known;
                message += ")";
                r.error(fn, path + ".fields", message);
            } else if (std::find(s.fields.begin(), s.fields.end(), it->second) != s.fields.end()) {
                r.error(fn, path + ".fields", "field \"" + name + "\" is listed twice");
            } else {
                s.fields.push_back(it->second);
            }
        }
    } else {
        for (auto [k, v] : field_names) {
            s.fields.push_back(v);
        }
    }
    r.optional_field(node, "buffer", path, s.buffer,
                     [&](const YAML::Node& n, const std::string& p) { return r.size(n, p); });
    r.optional_field(node, "flush", path, s.flush,
                     [&](const YAML::Node& n, const std::string& p) { return r.time(n, p); });
    if (r.errors.size() != before) {
        return nullptr;
    }
    try {
        return make_factory(std::move(s));
    } catch (const std::exception& e) {
        r.error(node["output"].IsDefined() ? node["output"] : node, path + ".output",
                std::string("cannot open the log output: ") + e.what());
        return nullptr;
    }
}

}  // namespace gatehouse::filters::access_log
