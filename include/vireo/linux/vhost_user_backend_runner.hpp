// SPDX-License-Identifier: Apache-2.0
// The epoll runner of a vhost-user back-end daemon: one backend_server per socket path (a
// listener, at most one front-end connection, the session and the device model), any number of
// them served by one backend_loop on one thread. The protocol logic is the session's
// (vhost_user/backend/session.hpp); this file only moves bytes, fds and eventfd signals.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

#include "vireo/core/result.hpp"
#include "vireo/linux/epoll.hpp"
#include "vireo/linux/mmap_region_mapper.hpp"
#include "vireo/linux/sys.hpp"
#include "vireo/linux/unix_socket.hpp"
#include "vireo/linux/vhost_user_channel.hpp"
#include "vireo/vhost_user/backend/inflight.hpp"
#include "vireo/vhost_user/backend/served_device.hpp"
#include "vireo/vhost_user/backend/session.hpp"
#include "vireo/vhost_user/message.hpp"
#include "vireo/vhost_user/reply.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// What a server reports to its embedder (logging, statistics). Every member is optional in the
/// sense that the default observer ignores everything; derive from it and override what you need.
struct backend_observer {
  virtual ~backend_observer() = default;
  virtual void connected() noexcept {}
  /// The connection ended: host_disconnected for a peer that closed, or why it was dropped.
  virtual void disconnected(errc) noexcept {}
  /// A second front-end tried to connect while one is served: it was refused (closed).
  virtual void refused_connection() noexcept {}
  /// One request handled (`status` is the request's own result; an error was replied or the
  /// connection is dropped next).
  virtual void request(std::uint32_t /*code*/, result<void> /*status*/) noexcept {}
  /// A message that could not be decoded; the connection is dropped (rules B1-B6).
  virtual void malformed(errc) noexcept {}
  /// Vring `index` is broken (the device reported ring corruption); its err fd was signalled.
  virtual void vring_error(std::uint32_t /*index*/, errc) noexcept {}
};

/// One loop-registered endpoint; backend_loop dispatches epoll tokens to it.
class loop_endpoint {
 public:
  virtual ~loop_endpoint() = default;
  /// An event for one of the endpoint's fds: `what` and `index` as it registered them.
  virtual void on_event(std::uint16_t what, std::uint16_t index, std::uint32_t events) noexcept = 0;
  /// Milliseconds until on_timer() is due (-1: nothing pending).
  [[nodiscard]] virtual int timeout_ms() const noexcept = 0;
  /// Called after every wake-up: run what is due.
  virtual void on_timer() noexcept = 0;
};

/// Packs an endpoint number, an fd role and an index into an epoll token.
[[nodiscard]] constexpr std::uint64_t loop_token(std::uint32_t endpoint, std::uint16_t what,
                                                 std::uint16_t index) noexcept {
  return (std::uint64_t{endpoint} << 32) | (std::uint64_t{what} << 16) | index;
}

/// Serves the vhost-user socket at one path for one device model. Not movable (the session and
/// the device point at each other's parts); create it in place and call start().
///
/// Threat model: the front-end is untrusted. A message that cannot be decoded, a failure that
/// cannot be reported, or a broken socket ends the connection (session::disconnect(): rings
/// stopped, memory unmapped, every fd closed); the listener is then served again, so a
/// front-end can reconnect (rule B20). Kick and call fds are made non-blocking so that a
/// front-end cannot stall the loop through them. One limitation: replies are sent blocking, so a
/// front-end that sends requests and never reads its replies can, once the socket buffer is
/// full, stall the loop (and the other servers on it).
///
/// `Allocator` (an inflight_allocator, e.g. memfd_inflight_allocator) gives GET_INFLIGHT_FD its
/// regions; the server owns one. With the default no_inflight_allocator the session has none and
/// INFLIGHT_SHMFD is not offered.
template <vhost_user::backend::served_device Device, std::size_t MaxQueues = 8,
          std::size_t MaxSlots = 32,
          vhost_user::backend::inflight_allocator Allocator =
              vhost_user::backend::no_inflight_allocator>
class backend_server final : public loop_endpoint {
  static_assert(MaxQueues <= 64, "notify_mask carries 64 vrings");
  static constexpr bool has_allocator =
      !std::is_same_v<Allocator, vhost_user::backend::no_inflight_allocator>;

 public:
  using session_type =
      vhost_user::backend::session<Device, mmap_region_mapper, MaxQueues, MaxSlots, Allocator>;
  static constexpr std::uint16_t role_listener = 0, role_socket = 1, role_kick = 2;
  /// How often a vring set up with the no-fd kick bit is polled.
  static constexpr int poll_interval_ms = 1;
  /// How long config_changed() waits by default for room to send and for the front-end's
  /// REPLY_ACK on the back-end channel.
  static constexpr int default_backend_reply_timeout_ms = 1000;

  backend_server(Device& device, backend_observer* observer = nullptr) noexcept
      : dev_(&device), session_(make_session(device)), obs_(observer ? observer : &quiet_) {
    kick_watch_.fill(-1);
  }
  backend_server(const backend_server&) = delete;
  backend_server& operator=(const backend_server&) = delete;
  ~backend_server() override { drop_connection(errc::host_closed); }

  /// Listen on `path` (a stale socket file left by a dead daemon is replaced) and register with
  /// `loop_fd`'s epoll set as endpoint `id`. Also binds the device to the session's memory.
  [[nodiscard]] result<void> start(std::string_view path, epoll_set& ep, std::uint32_t id) noexcept {
    // A logging device binds to the session itself (logged memory and vring states).
    if constexpr (requires {
                    { dev_->attach_session(session_) } -> std::same_as<result<void>>;
                  }) {
      VIREO_TRY(dev_->attach_session(session_));
    } else if constexpr (requires { dev_->attach_session(session_); }) {
      dev_->attach_session(session_);
    } else if constexpr (requires {
                           { dev_->attach(session_.memory()) } -> std::same_as<result<void>>;
                         }) {
      VIREO_TRY(dev_->attach(session_.memory()));
    } else if constexpr (requires { dev_->attach(session_.memory()); }) {
      dev_->attach(session_.memory());
    }
    listen_options lo;
    lo.unlink_stale = true;
    lo.nonblocking = true;
    auto l = listen_unix(path, lo);
    if (!l) return l.error();
    listener_ = std::move(*l);
    ep_ = &ep;
    id_ = id;
    return ep_->add(listener_.get(), EPOLLIN, loop_token(id_, role_listener, 0));
  }

  [[nodiscard]] bool connected() const noexcept { return conn_.has_value(); }
  [[nodiscard]] const session_type& session() const noexcept { return session_; }
  [[nodiscard]] const mmap_region_mapper& mapper() const noexcept { return mapper_; }
  /// Bound config_changed()'s waits to `ms` (> 0) from now on.
  void set_backend_reply_timeout(int ms) noexcept {
    VIREO_ASSERT(ms > 0);
    backend_timeout_ms_ = ms > 0 ? ms : default_backend_reply_timeout_ms;
  }
  /// The inflight allocator (live() regions: the session's GET_INFLIGHT_FD region, if any).
  [[nodiscard]] const Allocator& inflight_allocator() const noexcept { return alloc_; }

  /// The device's configuration space changed: send BACKEND_CONFIG_CHANGE_MSG on the back-end
  /// channel (SET_BACKEND_REQ_FD), so that the front-end raises the guest's config interrupt.
  /// Call it on the loop's thread, between run_once() calls (not from inside a device hook: a
  /// failure drops the connection the hook's caller is using). The
  /// send and, with REPLY_ACK, the wait for the front-end's answer are each bounded by
  /// set_backend_reply_timeout() (default 1 s; QEMU answers at once; a front-end that never
  /// does must not hang the loop); the answer is checked by session::backend_reply(). Errors:
  /// those of session::config_changed() (vhost_no_backend_channel, vhost_not_negotiated without
  /// CONFIG, vhost_out_of_order while every vring is stopped), nothing sent; host_closed (no
  /// connection); host_timeout (no room to send, or no answer in time); host_disconnected or the
  /// transport's errors; decode_reply's (a malformed answer); vhost_backend_request_failed (the
  /// front-end answered non-zero: the channel stays usable). After any other failure once the
  /// request went out, the back-end channel can no longer be trusted (a late answer would be
  /// taken for the next one), so the connection is dropped, as for a malformed message on the
  /// main socket; the front-end may reconnect (rule B20).
  [[nodiscard]] result<void> config_changed() noexcept {
    if (!conn_) return errc::host_closed;
    auto msg = session_.config_changed();
    if (!msg) return msg.error();
    const result<void> r = exchange_backend(*msg);
    if (!r && r.error() != errc::vhost_backend_request_failed) drop_connection(r.error());
    return r;
  }
  /// Connections accepted and served so far (a reconnect counts again).
  [[nodiscard]] std::uint64_t connections() const noexcept { return connections_; }

  void on_event(std::uint16_t what, std::uint16_t index, std::uint32_t) noexcept override {
    switch (what) {
      case role_listener: accept_one(); break;
      case role_socket: read_messages(); break;
      case role_kick:
        if (index < MaxQueues && kick_watch_[index] >= 0) {
          drain_eventfd(kick_watch_[index]);
          serve(index);
        }
        break;
      default: break;
    }
  }

  [[nodiscard]] int timeout_ms() const noexcept override {
    if (backlog() != 0) return 0;  // more chains wait: come back after the other ready work
    int t = -1;
    if (deadline_) t = clamp_ms(*deadline_ - clock::now());
    if (polled_any()) t = t < 0 ? poll_interval_ms : std::min(t, poll_interval_ms);
    return t;
  }

  void on_timer() noexcept override {
    if constexpr (vhost_user::backend::device_with_deadline<Device>) {
      if (deadline_ && clock::now() >= *deadline_) {
        deadline_.reset();
        auto r = dev_->on_deadline();
        if (r) notify(*r);
        rearm_deadline();
      }
    }
    const vhost_user::backend::notify_mask more = backlog();
    for (std::uint32_t i = 0; i < session_.codec().num_queues && i < MaxQueues; ++i) {
      const auto& v = session_.vring(i);
      if (v.started && (v.kick_polled || (i < 64 && ((more >> i) & 1) != 0))) serve(i);
    }
  }

  /// Vrings whose device stopped at its per-call budget (device_with_backlog), to serve again.
  [[nodiscard]] vhost_user::backend::notify_mask backlog() const noexcept {
    if constexpr (vhost_user::backend::device_with_backlog<Device>) {
      return conn_ ? dev_->backlog() : vhost_user::backend::notify_mask{0};
    } else {
      return 0;
    }
  }

 private:
  using clock = std::chrono::steady_clock;

  /// Send `msg` on the back-end channel and, if it awaits one, hand the answer to the session.
  /// The channel works on a duplicate of the session's fd (the session keeps owning its own);
  /// any fd a hostile answer carries closes with the received message.
  [[nodiscard]] result<void> exchange_backend(
      const vhost_user::backend::backend_message& msg) noexcept {
    const int dup = real_sys::fcntl(session_.backend_fd(), F_DUPFD_CLOEXEC, 0);
    if (dup < 0) {
      if (msg.awaits_reply) (void)session_.backend_reply({}, {});  // nothing will answer
      return errc_from_errno(-dup);
    }
    channel ch{unique_fd{dup}};
    const auto deadline = clock::now() + std::chrono::milliseconds(backend_timeout_ms_);
    result<void> r = set_nonblocking(ch.fd());
    if (r) r = wait_ready(ch.fd(), POLLOUT, deadline);  // a full socket must not block us
    if (r) r = ch.send(msg.bytes());
    if (!r || !msg.awaits_reply) {
      if (msg.awaits_reply) (void)session_.backend_reply({}, {});  // clears the await
      return r;
    }
    for (;;) {
      auto m = ch.try_receive();
      if (!m) {
        (void)session_.backend_reply({}, {});
        return m.error();
      }
      if (!m->empty()) return session_.backend_reply(m->bytes(), m->fds().view());
      if (auto w = wait_ready(ch.fd(), POLLIN, deadline); !w) {
        (void)session_.backend_reply({}, {});
        return w;
      }
    }
  }

  /// poll() `fd` for `events` until `deadline`: host_timeout when it passes first.
  [[nodiscard]] static result<void> wait_ready(int fd, short events,
                                               clock::time_point deadline) noexcept {
    for (;;) {
      const auto left = deadline - clock::now();
      if (left <= clock::duration::zero()) return errc::host_timeout;
      pollfd p{fd, events, 0};
      const int r = real_sys::poll(&p, 1, clamp_ms(left));
      if (r > 0) return ok();
      if (r < 0 && r != -EINTR) return errc_from_errno(-r);
    }
  }

  session_type make_session(Device& device) noexcept {
    if constexpr (has_allocator) return session_type{device, mapper_, alloc_};
    else return session_type{device, mapper_};
  }

  static int clamp_ms(clock::duration d) noexcept {
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
    return ms <= 0 ? 0 : ms > 60'000 ? 60'000 : static_cast<int>(ms);
  }

  [[nodiscard]] bool polled_any() const noexcept {
    for (std::uint32_t i = 0; i < session_.codec().num_queues && i < MaxQueues; ++i)
      if (session_.vring(i).started && session_.vring(i).kick_polled) return true;
    return false;
  }

  void accept_one() noexcept {
    accept_options ao;
    ao.nonblocking = true;
    auto c = accept_unix(listener_, ao);
    if (!c || !c->valid()) return;
    if (conn_) {  // vhost-user is one front-end per socket
      obs_->refused_connection();
      return;  // `c` closes it
    }
    const int fd = c->get();
    conn_.emplace(std::move(*c));
    if (!ep_->add(fd, EPOLLIN | EPOLLRDHUP, loop_token(id_, role_socket, 0))) {
      conn_.reset();
      return;
    }
    ++connections_;
    obs_->connected();
  }

  void read_messages() noexcept {
    while (conn_) {
      auto m = conn_->try_receive();
      if (!m) {
        drop_connection(m.error());
        return;
      }
      if (m->empty()) return;
      handle(*m);
    }
  }

  void handle(typename channel::message& rx) noexcept {
    auto decoded = vhost_user::decode(rx.bytes(), rx.fds().view(), vhost_user::channel::main,
                                      session_.codec());
    if (!decoded) {  // its fds close with `rx`
      if (refuse_with_ack(rx, decoded.error())) return;
      obs_->malformed(decoded.error());  // rules B1-B6: never guess at a malformed stream
      drop_connection(decoded.error());
      return;
    }
    for (std::size_t i = 0; i < decoded->fd_count; ++i) (void)rx.fds().take(i).release();
    auto out = session_.handle(*decoded);  // the session owns those fds now
    obs_->request(decoded->request(), out.status);
    apply(out.actions());
    if (!out.reply().empty()) {
      // GET_INFLIGHT_FD's region travels with its reply; the session keeps owning it.
      if (auto s = conn_->send(out.reply(), out.reply_fds()); !s) {
        drop_connection(s.error());
        return;
      }
    }
    if (out.close_connection) drop_connection(out.status ? errc::vhost_out_of_order : out.status.error());
  }

  /// Errors of a well-framed request whose values are refused: a queue size, vring index,
  /// region, range or field value. With NEED_REPLY (and REPLY_ACK) the front-end gets a failure
  /// ack and the connection goes on (rule B9); framing, size and fd-count errors end it.
  [[nodiscard]] static constexpr bool value_error(errc e) noexcept {
    switch (e) {
      case errc::bad_queue_size:
      case errc::ring_misaligned:
      case errc::vhost_bad_value:
      case errc::vhost_vring_index:
      case errc::vhost_config_range:
      case errc::vhost_region_count:
      case errc::vhost_zero_size:
      case errc::vhost_range_overflow:
      case errc::vhost_reserved_nonzero:
        return true;
      default:
        return false;
    }
  }

  /// Answer a request the decoder refused for its values with a failure ack, if one is due.
  [[nodiscard]] bool refuse_with_ack(const typename channel::message& rx, errc why) noexcept {
    if (!value_error(why)) return false;
    vhost_user::message m;
    m.hdr = rx.header();  // the header itself passed: value errors come after framing
    m.payload = rx.payload();
    std::array<std::byte, vhost_user::header_size + sizeof(vhost_user::u64_payload)> buf{};
    const auto n = vhost_user::encode_ack(m, false, buf, session_.codec());
    if (!n) return false;  // no ack was asked for: nothing can report the failure
    obs_->request(m.request(), why);
    if (auto s = conn_->send(const_bytes{buf.data(), *n}); !s) drop_connection(s.error());
    return true;
  }

  /// Carry out the session's actions in order.
  void apply(std::span<const vhost_user::backend::action> actions) noexcept {
    using vhost_user::backend::action_kind;
    for (const auto& a : actions) {
      switch (a.kind) {
        case action_kind::close_fd: close_fd(a.fd); break;
        case action_kind::start_vring: start(a.index); break;
        case action_kind::stop_vring: unwatch(a.index); break;
        case action_kind::enable_vring: serve(a.index); break;  // buffers may already wait
        case action_kind::disable_vring: break;
        case action_kind::vring_fds_changed:
          if (a.index < MaxQueues && session_.vring(a.index).started) watch(a.index);
          break;
        case action_kind::memory_changed: break;  // the device remapped its queues itself
      }
    }
    rearm_deadline();
  }

  void close_fd(int fd) noexcept {
    for (std::size_t i = 0; i < MaxQueues; ++i)
      if (kick_watch_[i] == fd) unwatch(static_cast<std::uint32_t>(i));
    if (fd >= 0) (void)real_sys::close(fd);
  }

  void start(std::uint32_t i) noexcept {
    if (i >= MaxQueues) return;
    const auto& v = session_.vring(i);
    if (v.call_fd >= 0) (void)set_nonblocking(v.call_fd);
    watch(i);
    if (v.enabled) serve(i);  // the driver may have queued buffers before the start
  }

  void watch(std::uint32_t i) noexcept {
    unwatch(i);
    const int fd = session_.vring(i).kick_fd;
    if (fd < 0) return;  // the no-fd bit: polled from on_timer()
    (void)set_nonblocking(fd);
    if (ep_->add(fd, EPOLLIN, loop_token(id_, role_kick, static_cast<std::uint16_t>(i))))
      kick_watch_[i] = fd;
  }

  void unwatch(std::uint32_t i) noexcept {
    if (i >= MaxQueues || kick_watch_[i] < 0) return;
    ep_->remove(kick_watch_[i]);
    kick_watch_[i] = -1;
  }

  void serve(std::uint32_t i) noexcept {
    if (i >= MaxQueues || !session_.vring(i).started) return;
    auto r = dev_->on_kick(i);
    if (!r) {
      obs_->vring_error(i, r.error());
      if (const int err = session_.vring(i).err_fd; err >= 0) (void)signal_eventfd(err);
    } else {
      notify(*r);
    }
    rearm_deadline();
  }

  /// Signal the call fd of each vring in `m` that is started and enabled (rule B21).
  void notify(vhost_user::backend::notify_mask m) noexcept {
    for (std::uint32_t i = 0; m != 0 && i < MaxQueues; ++i, m >>= 1) {
      if ((m & 1) == 0) continue;
      const auto& v = session_.vring(i);
      if (v.started && v.enabled && v.call_fd >= 0) (void)signal_eventfd(v.call_fd);
    }
  }

  void rearm_deadline() noexcept {
    if constexpr (vhost_user::backend::device_with_deadline<Device>) {
      const int ms = dev_->deadline_ms();
      if (ms < 0) deadline_.reset();
      else if (!deadline_) deadline_ = clock::now() + std::chrono::milliseconds(ms);
    }
  }

  void drop_connection(errc why) noexcept {
    if (!conn_) return;
    ep_->remove(conn_->fd());
    auto out = session_.disconnect();
    apply(out.actions());
    conn_.reset();  // closes the socket
    deadline_.reset();
    obs_->disconnected(why);
  }

  Device* dev_;
  mmap_region_mapper mapper_;
  [[no_unique_address]] Allocator alloc_{};  // before session_, which points at it
  session_type session_;
  backend_observer quiet_;
  backend_observer* obs_;
  unique_fd listener_;
  std::optional<channel> conn_;
  epoll_set* ep_ = nullptr;
  std::uint32_t id_ = 0;
  std::array<int, MaxQueues> kick_watch_{};
  std::optional<clock::time_point> deadline_;
  std::uint64_t connections_ = 0;
  int backend_timeout_ms_ = default_backend_reply_timeout_ms;
};

/// Runs endpoints (backend_servers) on one thread until stop() or a stop fd becomes readable
/// (e.g. a signalfd for SIGTERM/SIGINT). Endpoint numbers are their position in the list.
class backend_loop {
 public:
  static constexpr std::uint32_t stop_endpoint = 0xFFFF'FFFF;

  explicit backend_loop(epoll_set& ep) noexcept : ep_(&ep) {}

  /// Watch `fd`: run() returns when it becomes readable (the caller reads it).
  [[nodiscard]] result<void> add_stop_fd(int fd) noexcept {
    return ep_->add(fd, EPOLLIN, loop_token(stop_endpoint, 0, 0));
  }
  void stop() noexcept { stopping_ = true; }

  /// Serve until stopped. Errors: epoll_wait's.
  [[nodiscard]] result<void> run(std::span<loop_endpoint* const> endpoints) noexcept {
    std::array<epoll_event, 32> events{};
    while (!stopping_) {
      VIREO_TRY(run_once(endpoints, events, -1));
    }
    return ok();
  }

  /// One wait (at most `max_wait_ms`, -1: as long as no endpoint timer is due) and its dispatch.
  [[nodiscard]] result<void> run_once(std::span<loop_endpoint* const> endpoints,
                                      std::span<epoll_event> buffer, int max_wait_ms) noexcept {
    int timeout = max_wait_ms;
    for (const auto* e : endpoints) {
      const int t = e->timeout_ms();
      if (t >= 0 && (timeout < 0 || t < timeout)) timeout = t;
    }
    auto got = ep_->wait(buffer, timeout);
    if (!got) return got.error();
    for (const epoll_event& ev : *got) {
      const auto endpoint = static_cast<std::uint32_t>(ev.data.u64 >> 32);
      if (endpoint == stop_endpoint) {
        stopping_ = true;
        continue;
      }
      if (endpoint < endpoints.size())
        endpoints[endpoint]->on_event(static_cast<std::uint16_t>(ev.data.u64 >> 16),
                                      static_cast<std::uint16_t>(ev.data.u64), ev.events);
    }
    for (auto* e : endpoints) e->on_timer();
    return ok();
  }

  [[nodiscard]] bool stopping() const noexcept { return stopping_; }

 private:
  epoll_set* ep_;
  bool stopping_ = false;
};

}  // namespace linux_host
VIREO_NAMESPACE_END
