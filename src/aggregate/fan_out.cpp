#include "gatehouse/aggregate/fan_out.hpp"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serializer.hpp>

#include "backend_call.hpp"
#include "gatehouse/common/random.hpp"
#include "gatehouse/http/wire.hpp"
#include "gatehouse/io/deadline.hpp"
#include "gatehouse/io/send.hpp"
#include "gatehouse/upstream/cluster.hpp"

namespace gatehouse::aggregate {

namespace asio = boost::asio;
namespace json = boost::json;
using observability::backend_failure;
using steady = std::chrono::steady_clock;

namespace {

void append_hex64(std::string& out, std::uint64_t v) {
    constexpr char hex[] = "0123456789abcdef";
    for (int shift = 60; shift >= 0; shift -= 4) out += hex[(v >> shift) & 15];
}

enum class call_phase { waiting, running, answered, failed };

struct call_state {
    call_phase phase = call_phase::waiting;
    io::deadline_watch* watch = nullptr;            // while running
    std::optional<json::value> answer;              // the parsed answer, before shaping
    backend_failure root = backend_failure::count;  // for dependency_failed: what failed first
    std::string detail;                             // why, for the error reply
    std::string error_body;                         // a failed call's body, when expose_errors
};

// The state of one fan-out, shared by its calls (all on one thread).
struct run_state {
    run_state(const config::aggregate_config& c, const fan_out_env& e, const client_request& r, steady::time_point d,
              fan_out_result& out)
        : config(c),
          env(e),
          request(r),
          deadline(d),
          result(out),
          // Answers, shaping and the merge share one arena, started in the request's own.
          memory(bytes(json_block), json_block),
          wake(e.exchange.executor),
          random(e.random_seed) {
        calls.resize(c.backends.size());
        result.backends.resize(c.backends.size());
        wake.expires_at(steady::time_point::max());
    }

    static constexpr std::size_t json_block = 8192;
    static constexpr std::size_t parser_scratch = 1024;

    const config::aggregate_config& config;
    const fan_out_env& env;
    const client_request& request;
    steady::time_point deadline;
    fan_out_result& result;
    json::monotonic_resource memory;
    std::vector<call_state> calls;
    asio::steady_timer wake;  // cancelled by each call that ends
    std::size_t running = 0;
    std::size_t received = 0;  // answer bytes, to size the merged body
    bool cancelling = false;   // a required call failed: the rest are stopped
    std::string bad_param;     // a route parameter's value could not be substituted: the client's fault
    common::fast_random random;
    std::string trace_id;
    std::string_view trace_flags;

    // Bytes from the request's arena, released with it.
    unsigned char* bytes(std::size_t n) const {
        auto allocator = env.allocator;
        return reinterpret_cast<unsigned char*>(allocator.allocate(n));
    }

    void fail(std::size_t i, backend_failure why, std::string detail) {
        auto& call = calls[i];
        call.phase = call_phase::failed;
        if (call.root == backend_failure::count) call.root = why;
        call.detail = std::move(detail);
        result.backends[i].failure = why;
    }
};

// How an exchange's refusal reads as a backend failure.
backend_failure failure_of(const http::local_reply& refusal) {
    if (refusal.status == 504 || refusal.error == "upstream_connect_timeout") return backend_failure::timeout;
    if (refusal.error == "upstream_connect_failed" || refusal.error == "no_upstream_available" ||
        refusal.error == "upstream_pool_exhausted" || refusal.error == "upstream_tls") {
        return backend_failure::connect_failed;
    }
    if (refusal.error == "upstream_reset") return backend_failure::incomplete;
    return backend_failure::bad_response;
}

// The call's target and extra fields from the templates; false (and the call failed) when a
// value is missing.
bool build_request(run_state& st, std::size_t i, std::string& target, std::string& fields) {
    const auto& backend = st.config.backends[i];
    auto lookup = [&](const template_part& part, std::string& value) {
        if (part.type == template_part::kind::route_param) {
            for (const auto& [name, raw] : st.request.params) {
                if (name == part.text) {
                    value = percent_decode(raw);
                    return true;
                }
            }
            return false;
        }
        auto it = std::find_if(st.config.backends.begin(), st.config.backends.end(),
                               [&](const config::aggregate_backend& b) { return b.name == part.text; });
        const auto& answer = st.calls[static_cast<std::size_t>(it - st.config.backends.begin())].answer;
        const auto* v = answer ? find_path(*answer, part.field) : nullptr;
        return v && scalar_text(*v, value);
    };
    auto missing = [&](const template_part& part) {
        if (part.type == template_part::kind::route_param && st.bad_param.empty()) {
            st.bad_param = "the value of {" + part.text + "} cannot go into a backend request";
        }
        st.fail(i, backend_failure::missing_field,
                part.type == template_part::kind::route_param
                    ? "no usable value for {" + part.text + "}"
                    : "backend \"" + part.text + "\" answered without a usable \"" + join_dot_path(part.field) + "\"");
        return false;
    };
    if (const auto* failed = backend.path.expand(target, lookup)) return missing(*failed);
    if (!st.request.query.empty()) {
        target += target.find('?') == std::string::npos ? '?' : '&';
        target += st.request.query;
    }
    for (const auto& [name, value] : backend.headers) {
        fields += name;
        fields += ": ";
        if (const auto* failed = value.expand(fields, lookup)) return missing(*failed);
        fields += "\r\n";
    }
    // Each call is a child span of the client's trace (or of one the aggregation starts).
    fields += "traceparent: 00-";
    fields += st.trace_id;
    fields += '-';
    append_hex64(fields, st.random.next() | 1);
    fields += '-';
    fields += st.trace_flags;
    fields += "\r\n";
    return true;
}

// Decides how a finished exchange ended for the call.
void settle_call(run_state& st, std::size_t i, const upstream::exchange_result& result, backend_call& down) {
    auto& outcome = st.result.backends[i];
    outcome.status = down.status();
    outcome.endpoint = std::string(result.endpoint);
    const bool stopped = st.cancelling;
    if (result.refusal) {
        auto why = failure_of(*result.refusal);
        if (why == backend_failure::timeout && stopped) why = backend_failure::cancelled;
        st.fail(i, why, result.refusal->message);
    } else if (down.failure()) {
        st.fail(i, *down.failure(), down.failure_detail());
    } else if (!result.complete) {
        auto why = steady::now() >= st.deadline ? backend_failure::timeout
                   : stopped                    ? backend_failure::cancelled
                                                : backend_failure::incomplete;
        st.fail(i, why, why == backend_failure::timeout ? "no whole answer in time" : "the answer ended early");
    } else if (down.status() < 200 || down.status() > 299) {
        st.fail(i, backend_failure::status, "answered " + std::to_string(down.status()));
    } else if (auto answer = down.take_answer()) {
        st.calls[i].answer = std::move(*answer);
        st.calls[i].phase = call_phase::answered;
        return;
    } else {
        st.fail(i, backend_failure::not_json, down.failure_detail());
    }
    if (st.config.expose_errors) st.calls[i].error_body = down.error_body();
}

asio::awaitable<void> run_call(run_state& st, std::size_t i) {
    const auto& backend = st.config.backends[i];
    std::string target;
    std::string fields;
    target.reserve(backend.path.source().size() + st.request.query.size() + 32);
    fields.reserve(96);
    if (!build_request(st, i, target, fields)) co_return;
    auto* scratch = st.bytes(run_state::parser_scratch);
    backend_call down(backend, std::move(target), std::move(fields), st.request, st.config.max_body,
                      json::storage_ptr(&st.memory), {scratch, run_state::parser_scratch});
    io::deadline_watch watch;
    st.env.deadlines->add(watch);
    upstream::exchange_settings settings;
    const auto start = steady::now();
    settings.deadline = backend.timeout ? std::min(st.deadline, start + *backend.timeout) : st.deadline;
    settings.send_timeout = st.env.send_timeout;
    settings.read_timeout = st.env.read_timeout;
    settings.max_response_head = st.env.max_response_head;
    settings.client_hash = st.env.client_hash;
    settings.stats = st.env.cluster_stats[backend.upstream_index];
    upstream::exchange exchange(*st.env.clusters[backend.upstream_index], st.env.exchange, watch, settings,
                                st.env.allocator);
    st.calls[i].watch = &watch;
    st.result.backends[i].called = true;
    co_await exchange.run(down, down.shape());
    st.calls[i].watch = nullptr;
    settle_call(st, i, exchange.result(), down);
    st.received += down.received();
    auto& outcome = st.result.backends[i];
    outcome.duration = steady::now() - start;
    if (i < st.env.backend_stats.size() && st.env.backend_stats[i]) {
        auto& stats = *st.env.backend_stats[i];
        stats.record(outcome.duration);
        if (outcome.failure) stats.failures[static_cast<std::size_t>(*outcome.failure)].add();
    }
}

// Starts every waiting call whose dependencies have answered, and fails those with a failed
// dependency (repeatedly, as failures cascade). Returns true if a required call has failed.
bool start_ready(run_state& st) {
    bool changed = true;
    while (changed) {
        changed = false;
        for (std::size_t i = 0; i < st.calls.size(); ++i) {
            auto& call = st.calls[i];
            if (call.phase != call_phase::waiting) continue;
            const auto& backend = st.config.backends[i];
            std::optional<std::size_t> failed_dependency;
            bool ready = true;
            for (auto d : backend.depends_on) {
                if (st.calls[d].phase == call_phase::failed) failed_dependency = d;
                if (st.calls[d].phase != call_phase::answered) ready = false;
            }
            if (failed_dependency) {
                const auto& dep = st.calls[*failed_dependency];
                st.fail(i, backend_failure::dependency_failed,
                        "backend \"" + st.config.backends[*failed_dependency].name + "\" it depends on failed");
                call.root = dep.root;
                changed = true;
                continue;
            }
            if (!ready) continue;
            if (st.cancelling || steady::now() >= st.deadline) {
                st.fail(i, st.cancelling ? backend_failure::cancelled : backend_failure::timeout,
                        "not started: the aggregate was already over");
                changed = true;
                continue;
            }
            call.phase = call_phase::running;
            ++st.running;
            asio::co_spawn(st.env.exchange.executor, run_call(st, i), [&st, i](const std::exception_ptr& e) {
                auto& c = st.calls[i];
                if (e || c.phase == call_phase::running) {
                    st.fail(i, backend_failure::bad_response, "the call ended by an internal error");
                }
                --st.running;
                st.wake.cancel();
            });
        }
    }
    for (std::size_t i = 0; i < st.calls.size(); ++i) {
        if (st.calls[i].phase == call_phase::failed && st.config.backends[i].required) return true;
    }
    return false;
}

// The error reply for the first required call that failed (in configuration order).
http::local_reply failure_reply(const run_state& st, std::size_t i) {
    const auto& call = st.calls[i];
    const auto& name = st.config.backends[i].name;
    const auto why = *st.result.backends[i].failure;
    const bool timed_out = why == backend_failure::timeout ||
                           (why == backend_failure::dependency_failed && call.root == backend_failure::timeout);
    http::local_reply reply{timed_out ? 504u : 502u, timed_out ? "backend_timeout" : "backend_failed",
                            "backend \"" + name + "\": " + call.detail};
    std::string fields = "\"backend\":\"";
    http::append_json_escaped(fields, name);
    fields += "\",\"reason\":\"";
    fields += observability::name_of(why);
    fields += '"';
    if (st.config.expose_errors && st.result.backends[i].status) {
        fields += ",\"backend_status\":" + std::to_string(st.result.backends[i].status);
        fields += ",\"backend_body\":\"";
        http::append_json_escaped(fields, call.error_body);
        fields += '"';
    }
    reply.body_fields = std::move(fields);
    return reply;
}

void merge_answers(run_state& st) {
    json::object merged(json::storage_ptr(&st.memory));
    for (std::size_t i = 0; i < st.calls.size(); ++i) {
        auto& call = st.calls[i];
        const auto& backend = st.config.backends[i];
        if (call.phase == call_phase::answered) {
            std::string why;
            auto shaped = shape(std::move(*call.answer), backend.shape, why);
            call.answer.reset();
            if (shaped) {
                if (auto key = merge(merged, std::move(*shaped), st.config.conflicts, st.config.merge)) {
                    st.result.status = 502;
                    st.result.error = http::local_reply{502, "backend_conflict",
                                                        "backend \"" + backend.name + "\" writes key \"" + *key +
                                                            "\", already set by an earlier backend"};
                    return;
                }
                continue;
            }
            st.fail(i, backend_failure::shape, why);
            if (i < st.env.backend_stats.size() && st.env.backend_stats[i]) {
                st.env.backend_stats[i]->failures[static_cast<std::size_t>(backend_failure::shape)].add();
            }
        }
        if (backend.required) {
            st.result.status = 502;
            st.result.error = failure_reply(st, i);
            return;
        }
        st.result.missing.push_back(backend.name);
    }
    // Into one buffer sized from the answers' bytes (shaping only removes), not a growing string.
    json::serializer serializer;
    serializer.reset(&merged);
    auto& body = st.result.body;
    body.resize(st.received + 256);
    std::size_t size = 0;
    for (;;) {
        size += serializer.read(body.data() + size, body.size() - size).size();
        if (serializer.done()) break;
        body.resize(body.size() * 2);
    }
    body.resize(size);
}

}  // namespace

asio::awaitable<void> fan_out(const config::aggregate_config& config, const fan_out_env& env,
                              const client_request& request, steady::time_point deadline, fan_out_result& result) {
    run_state st(config, env, request, deadline, result);
    if (request.trace_id.empty()) {
        append_hex64(st.trace_id, st.random.next());
        append_hex64(st.trace_id, st.random.next() | 1);
        st.trace_flags = "00";
    } else {
        st.trace_id = request.trace_id;
        st.trace_flags = request.trace_flags.empty() ? std::string_view("00") : request.trace_flags;
    }
    for (;;) {
        const bool required_failed = start_ready(st);
        if (required_failed && !st.cancelling) {
            // The answer is decided: stop the calls still running rather than wait for them.
            st.cancelling = true;
            for (auto& call : st.calls) {
                if (call.phase == call_phase::running && call.watch) {
                    auto* watch = call.watch;
                    call.watch = nullptr;
                    watch->expire_now();
                }
            }
        }
        if (st.running == 0) break;
        co_await st.wake.async_wait(io::use_nothrow);
        st.wake.expires_at(steady::time_point::max());
    }
    if (!st.bad_param.empty()) {
        result.error = http::local_reply{400, "bad_parameter", st.bad_param};
        result.status = 400;
        co_return;
    }
    if (st.cancelling) {
        for (std::size_t i = 0; i < st.calls.size(); ++i) {
            if (st.calls[i].phase == call_phase::failed && config.backends[i].required) {
                result.status = 502;
                result.error = failure_reply(st, i);
                result.status = result.error->status;
                co_return;
            }
        }
    }
    merge_answers(st);
    if (result.error) result.status = result.error->status;
}

std::string partial_field_value(const std::vector<std::string>& missing) {
    std::string out = "partial; missing=\"";
    for (std::size_t i = 0; i < missing.size(); ++i) {
        if (i) out += ' ';
        out += missing[i];  // backend names are tokens: nothing to escape in an sf-string
    }
    out += '"';
    return out;
}

}  // namespace gatehouse::aggregate
