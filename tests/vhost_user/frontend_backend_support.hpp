// SPDX-License-Identifier: Apache-2.0
// The real back-end for the vhost-user front-end tests: the epoll runner
// (linux/vhost_user_backend_runner.hpp) on its own thread, serving a device model through a
// recording adapter (each vring start with its base, each stop with its position).
// Test code: heap and threads are fine here.
#pragma once

#include <doctest/doctest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "frontend_test_support.hpp"
#include "vireo/linux/epoll.hpp"
#include "vireo/linux/unique_fd.hpp"
#include "vireo/linux/vhost_user_backend_runner.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/vhost_user/backend/device.hpp"
#include "vireo/vhost_user/backend/inflight.hpp"
#include "vireo/vhost_user/backend/served_device.hpp"

namespace vireo_fe_test {

namespace be = vireo::vhost_user::backend;

// ---- The back-end: a recording adapter around a served device model ---------------------------

/// What the session told the device: each start with its base, each stop with the position.
struct vring_event {
  std::uint32_t index = 0;
  ring::queue_state state{};
};

/// Forwards every call to the device model `M` and records starts and stops (read them after the
/// loop thread stopped).
template <be::served_device M>
class recorded {
 public:
  explicit recorded(M& m) : m_(&m) {}

  template <typename Memory>
  auto attach(Memory& mem) noexcept -> decltype(std::declval<M&>().attach(mem)) {
    return m_->attach(mem);
  }
  /// A logging model binds to the session (logged memory, vring states).
  template <typename Session>
  auto attach_session(Session& s) noexcept -> decltype(std::declval<M&>().attach_session(s)) {
    return m_->attach_session(s);
  }
  [[nodiscard]] std::uint64_t device_features() const { return m_->device_features(); }
  [[nodiscard]] std::uint32_t num_queues() const { return m_->num_queues(); }
  [[nodiscard]] std::uint32_t max_queue_size() const { return m_->max_queue_size(); }
  [[nodiscard]] std::uint32_t config_size() const { return m_->config_size(); }
  vireo::result<void> read_config(std::uint32_t off, vireo::bytes out) {
    return m_->read_config(off, out);
  }
  vireo::result<void> write_config(std::uint32_t off, vireo::const_bytes in, bool migration) {
    return m_->write_config(off, in, migration);
  }
  vireo::result<void> start_vring(std::uint32_t i, const ring::queue_config& c,
                                  ring::queue_state base) {
    auto r = m_->start_vring(i, c, base);
    if (r) starts.push_back({i, base});
    return r;
  }
  /// The inflight hook, when the model has it (the session then calls this one).
  vireo::result<void> start_vring(std::uint32_t i, const ring::queue_config& c,
                                  ring::queue_state base, be::inflight_area area)
    requires be::inflight_device<M>
  {
    auto r = m_->start_vring(i, c, base, area);
    if (r) starts.push_back({i, base});
    return r;
  }
  ring::queue_state stop_vring(std::uint32_t i) {
    const ring::queue_state s = m_->stop_vring(i);
    stops.push_back({i, s});
    return s;
  }
  void enable_vring(std::uint32_t i, bool on) { m_->enable_vring(i, on); }
  void memory_changed() { m_->memory_changed(); }
  /// The logging hook, when the model has it (the session then offers LOG_ALL and LOG_SHMFD).
  [[nodiscard]] bool logs_dirty_pages() const noexcept
    requires be::logging_device<M>
  {
    return m_->logs_dirty_pages();
  }
  vireo::result<be::notify_mask> on_kick(std::uint32_t i) { return m_->on_kick(i); }
  [[nodiscard]] int deadline_ms() const noexcept
    requires be::device_with_deadline<M>
  {
    return m_->deadline_ms();
  }
  vireo::result<be::notify_mask> on_deadline() noexcept
    requires be::device_with_deadline<M>
  {
    return m_->on_deadline();
  }
  [[nodiscard]] be::notify_mask backlog() const noexcept
    requires be::device_with_backlog<M>
  {
    return m_->backlog();
  }

  std::vector<vring_event> starts, stops;

 private:
  M* m_;
};

/// The runner's loop on its own thread, stopped through an eventfd (no sleeps).
class loop_thread {
 public:
  explicit loop_thread(lh::epoll_set& ep) : loop_(ep), stop_(::eventfd(0, EFD_CLOEXEC)) {
    REQUIRE(stop_.valid());
    REQUIRE(loop_.add_stop_fd(stop_.get()));
  }
  loop_thread(const loop_thread&) = delete;
  loop_thread& operator=(const loop_thread&) = delete;
  ~loop_thread() { stop(); }

  void run(lh::loop_endpoint* endpoint) {
    endpoints_ = {endpoint};
    thread_ = std::thread([this] { result_ = loop_.run(endpoints_); });
  }
  void stop() {
    if (!thread_.joinable()) return;
    const std::uint64_t one = 1;
    REQUIRE(::write(stop_.get(), &one, sizeof one) == sizeof one);
    thread_.join();
    CHECK(result_.has_value());
  }

 private:
  lh::backend_loop loop_;
  lh::unique_fd stop_;
  std::vector<lh::loop_endpoint*> endpoints_;
  std::thread thread_;
  vireo::result<void> result_ = vireo::ok();
};

/// A device model served at `path` by the real runner on a thread of its own. Destroying it
/// (or stop()) ends the connection the way a back-end that exits does: the socket closes.
/// `Allocator`: the server's inflight allocator (INFLIGHT_SHMFD offered to an inflight model).
template <be::served_device M, typename Allocator = be::no_inflight_allocator>
class served_backend {
 public:
  served_backend(M& model, const std::string& path) : rec(model) {
    auto e = lh::epoll_set::create();
    REQUIRE(e);
    ep_.emplace(std::move(*e));
    server_.emplace(rec);
    REQUIRE(server_->start(path, *ep_, 0));
    loop_.emplace(*ep_);
    loop_->run(&*server_);
  }
  served_backend(const served_backend&) = delete;
  served_backend& operator=(const served_backend&) = delete;
  ~served_backend() { stop(); }

  /// Stop the loop (joined) and drop the server: connection, session, listener all closed.
  void stop() {
    loop_.reset();
    server_.reset();
  }
  /// Stop only the loop (the server and its state stay readable).
  void pause() {
    if (loop_) loop_->stop();
  }
  [[nodiscard]] lh::backend_server<recorded<M>, 8, 32, Allocator>& server() { return *server_; }

  recorded<M> rec;

 private:
  std::optional<lh::epoll_set> ep_;
  std::optional<lh::backend_server<recorded<M>, 8, 32, Allocator>> server_;
  std::optional<loop_thread> loop_;
};

/// Connect options for a back-end that is (re)starting: up to 100 attempts, 10 ms apart.
[[nodiscard]] inline lh::connect_options patient() {
  lh::connect_options co;
  co.attempts = 100;
  co.retry_delay_ms = 10;
  return co;
}

}  // namespace vireo_fe_test
