// SPDX-License-Identifier: Apache-2.0
// The Greybus host (the AP role, Linux drivers/greybus): enumerates one interface over a frame
// transport (greybus/virtio/ap_driver.hpp) through the Control protocol, keeps an
// operation_tracker per CPort, and drives operations synchronously: each call sends one
// request, then polls for its response, letting the caller's `progress` run the module side or
// wait, until the response comes or the deadline on the caller's clock passes.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/control.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/manifest.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/operation.hpp"
#include "vireo/greybus/operation_tracker.hpp"
#include "vireo/greybus/virtio/binding.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus::host {

/// What the host needs of its transport (virtio::ap_driver models it): send one message on a
/// CPort, poll for a received frame (its payload valid until the next poll), and the limits.
template <typename T>
concept frame_transport = requires(T& t, const T& ct, std::uint16_t cport, const_bytes msg) {
  { t.send(cport, msg) } -> std::same_as<result<void>>;
  { t.poll() } -> std::same_as<result<std::optional<virtio::frame>>>;
  { ct.cport_count() } -> std::convertible_to<std::uint16_t>;
  { ct.max_message_size() } -> std::convertible_to<std::uint16_t>;
};

/// A monotonic clock in milliseconds: `clock()` returns the time now (tests pass a fake one).
template <typename C>
concept millisecond_clock = requires(C& c) {
  { c() } -> std::convertible_to<std::uint64_t>;
};

/// Frames one pump() takes at most by default: more than a module_to_ap queue holds at once.
inline constexpr std::size_t default_pump_limit = 256;

/// A request the module sent (GPIO IRQ Event...), kept until a client takes it. Payloads up to
/// max_event_payload bytes: larger ones are dropped (and counted).
inline constexpr std::size_t max_event_payload = 8;
struct incoming_request {
  std::uint16_t cport = 0;
  std::uint8_t type = 0;
  std::uint8_t size = 0;  ///< payload bytes
  std::array<std::byte, max_event_payload> payload{};
  [[nodiscard]] const_bytes data() const noexcept { return const_bytes{payload}.first(size); }
};

/// What the host saw of the module, for the operator.
struct ap_stats {
  std::uint64_t calls = 0;            ///< synchronous operations started
  std::uint64_t timeouts = 0;         ///< operations that ended with greybus_timeout
  std::uint64_t stray_responses = 0;  ///< responses matching nothing in flight (late, unknown id, wrong type)
  std::uint64_t refused_requests = 0; ///< module requests refused (state, or no handler: answered PROTOCOL_BAD)
  std::uint64_t dropped_events = 0;   ///< unidirectional requests lost (queue full, payload too long)
  errc last_error{};                  ///< the latest of the above
};

/// The AP for one interface behind `Transport`. CPort ids must be below MaxCPorts (the
/// transport's cport_count is checked against it); MaxPending operations per CPort; a manifest
/// of up to MaxManifest bytes with MaxBundles bundles; EventCapacity module requests queued.
/// No heap: the manifest, one message buffer and the trackers live in the object.
template <frame_transport Transport, millisecond_clock Clock, std::size_t MaxCPorts = 32,
          std::size_t MaxPending = 4, std::size_t MaxManifest = 2040, std::size_t MaxBundles = 16,
          std::size_t EventCapacity = 32>
class ap {
  static_assert(MaxCPorts >= 1 && MaxCPorts <= 0xffff);
  static_assert(MaxManifest >= manifest_header_size && MaxManifest <= max_manifest_size);

 public:
  using transport_type = Transport;
  using tracker_type = operation_tracker<MaxPending>;
  using manifest_type = basic_manifest<MaxBundles, MaxCPorts>;

  /// A host over `transport` reading time from `clock` (both must outlive it). Only the
  /// Control connection (CPort 0) is enabled until enumerate().
  ap(Transport& transport, Clock clock) noexcept : t_(&transport), clock_(clock) {
    trackers_[control::cport_id].set_state(connection_state::enabled);
  }
  /// The manifest views the host's own copy of its bytes: not copyable.
  ap(const ap&) = delete;
  ap& operator=(const ap&) = delete;

  // ---- Enumeration (greybus digest §3, §8) ----------------------------------------------------

  /// Bring the interface up as Linux does: Control Version, Get Manifest Size, Get Manifest,
  /// parse it (Linux's rules: manifest_mode::kernel), then per bundle Bundle Activate and per
  /// CPort Connected; each connection is enabled once its Connected succeeds.
  /// Errors: greybus_bad_config (the transport's cport_count above MaxCPorts),
  /// greybus_version_unsupported (major newer than ours: Linux -ENOTSUPP), greybus_manifest_capacity
  /// (the announced manifest is longer than MaxManifest or a message can carry),
  /// greybus_cport_out_of_range (a manifest CPort at or above cport_count), greybus_error_response
  /// (a Control request failed or a bundle did not activate: last_status() says why),
  /// the manifest parser's errors, and those of call().
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> enumerate(Progress&& progress,
                                       std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    if (t_->cport_count() > MaxCPorts) return errc::greybus_bad_config;
    manifest_.reset();
    auto v = call<control::version>(control::cport_id, control::version_supported, progress,
                                    timeout_ms);
    VIREO_TRY(v);
    if (v->major > control::version_supported.major) return errc::greybus_version_unsupported;
    version_ = *v;

    auto size = call<control::get_manifest_size>(control::cport_id, empty{}, progress, timeout_ms);
    VIREO_TRY(size);
    const std::size_t n = size->size.get();
    if (n > MaxManifest || n + header_size > t_->max_message_size())
      return errc::greybus_manifest_capacity;
    auto blob = call<control::get_manifest>(control::cport_id, empty{}, progress, timeout_ms);
    VIREO_TRY(blob);
    VIREO_TRY(control::check_manifest_length(*blob, static_cast<std::uint16_t>(n)));
    if (n != 0) std::memcpy(manifest_bytes_.data(), blob->data.data(), n);  // out of the rx buffer
    auto m = parse_manifest<MaxBundles, MaxCPorts>(const_bytes{manifest_bytes_}.first(n),
                                                   manifest_mode::kernel);
    VIREO_TRY(m);
    for (const manifest_cport& c : m->cports())
      if (c.id >= t_->cport_count()) return errc::greybus_cport_out_of_range;
    manifest_.emplace(*m);

    for (const manifest_bundle& b : manifest_->bundles()) {
      auto s = call<control::bundle_activate>(control::cport_id, control::bundle_request{b.id},
                                              progress, timeout_ms);
      VIREO_TRY(s);
      if (s->status != static_cast<std::uint8_t>(control::bundle_pm_status::ok)) {
        last_status_ = s->status;
        return errc::greybus_error_response;
      }
      for (const manifest_cport& c : manifest_->cports(b)) VIREO_TRY(connect(c.id, progress, timeout_ms));
    }
    return ok();
  }

  /// Open the connection to `cport` as Linux _gb_connection_enable does: enable it (so a
  /// request the module sends right after is accepted), then Control Connected (§3); disabled
  /// again if that fails. Errors: greybus_cport_out_of_range, and those of call().
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> connect(std::uint16_t cport, Progress&& progress,
                                     std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    if (cport == control::cport_id || cport >= MaxCPorts || cport >= t_->cport_count())
      return errc::greybus_cport_out_of_range;
    trackers_[cport].set_state(connection_state::enabled);
    auto r = call<control::connected>(control::cport_id, control::cport_request{le16::from(cport)},
                                      progress, timeout_ms);
    if (!r) {
      trackers_[cport].set_state(connection_state::disabled);
      return r.error();
    }
    return ok();
  }

  /// Close the connection to `cport` as Linux gb_connection_disable does (§3, §8): mark it
  /// disconnecting and forget its operations in flight, then Control Disconnecting, CPort
  /// Shutdown phase 1 and phase 2 on the connection itself (core operations), Control
  /// Disconnected; the connection ends disabled whatever the module answered.
  /// Errors: greybus_cport_out_of_range, and the first failure of the four calls.
  template <typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<void> disconnect(std::uint16_t cport, Progress&& progress,
                                        std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    if (cport == control::cport_id || cport >= MaxCPorts || cport >= t_->cport_count())
      return errc::greybus_cport_out_of_range;
    tracker_type& t = trackers_[cport];
    t.set_state(connection_state::disconnecting);
    while (t.cancel_one()) {
    }
    const control::cport_request req{le16::from(cport)};
    result<void> first = ok();
    auto note = [&first](const auto& r) noexcept {
      if (!r && first) first = r.error();
    };
    note(call<control::disconnecting>(control::cport_id, req, progress, timeout_ms));
    using shutdown = greybus::cport_shutdown<protocol_id::control>;  // type 0x00 everywhere (§2)
    note(call_in<shutdown>(true, cport, cport_shutdown_request{1}, progress, timeout_ms));
    note(call_in<shutdown>(true, cport, cport_shutdown_request{2}, progress, timeout_ms));
    note(call<control::disconnected>(control::cport_id, req, progress, timeout_ms));
    t.set_state(connection_state::disabled);
    return first;
  }

  // ---- Operations -----------------------------------------------------------------------------

  /// Send request `req` of operation Op on `cport` and wait for its response: poll the
  /// transport, and when nothing has come, call `progress()` (run the module, or wait for an
  /// interrupt), until the response arrives or `timeout_ms` on the clock have passed (0: wait
  /// for ever). Frames for other operations are dispatched on the way (module requests queued
  /// for next_request(), stray responses counted). A variable-size response (byte_payload)
  /// views the transport's receive buffer: valid until the next call on this host.
  /// Errors: greybus_cport_out_of_range, the tracker's (greybus_connection_not_ready,
  /// greybus_too_many_operations), encode and transport errors, greybus_timeout,
  /// greybus_error_response (the module answered a non-zero status: last_status()), and the
  /// response decoding errors (greybus_payload_too_short / _too_long...).
  template <typename Op, typename Progress>
    requires std::invocable<Progress&>
  [[nodiscard]] result<typename Op::response> call(std::uint16_t cport,
                                                   const typename Op::request& req,
                                                   Progress&& progress,
                                                   std::uint32_t timeout_ms = default_timeout_ms) noexcept {
    return call_in<Op>(false, cport, req, progress, timeout_ms);
  }

  /// Send a unidirectional request (id 0: no response, no tracking). Errors: as call() before
  /// the wait.
  template <typename Op>
  [[nodiscard]] result<void> send_unidirectional(std::uint16_t cport,
                                                 const typename Op::request& req) noexcept {
    tracker_type* t = tracker(cport);
    if (t == nullptr) return errc::greybus_cport_out_of_range;
    if (!t->may_send()) return errc::greybus_connection_not_ready;
    auto n = encode_unidirectional<Op>(req, out_buffer());
    VIREO_TRY(n);
    return t_->send(cport, const_bytes{tx_}.first(*n));
  }

  /// Take in what the module sent meanwhile (module requests, stray responses) without
  /// waiting, up to `limit` frames: a module that keeps sending cannot hold the caller.
  /// Returns the frames taken. Errors: the transport's.
  [[nodiscard]] result<std::size_t> pump(std::size_t limit = default_pump_limit) noexcept {
    std::size_t n = 0;
    while (n < limit) {
      auto f = t_->poll();
      if (!f) return f.error();
      if (!*f) break;
      ++n;
      (void)dispatch(**f, 0, 0);
    }
    return n;
  }

  /// The oldest queued module request on `cport` of `type`, removed from the queue.
  [[nodiscard]] std::optional<incoming_request> next_request(std::uint16_t cport,
                                                             std::uint8_t type) noexcept {
    for (std::size_t i = 0; i < nevents_; ++i) {
      if (events_[i].cport != cport || events_[i].type != type) continue;
      const incoming_request e = events_[i];
      for (std::size_t k = i + 1; k < nevents_; ++k) events_[k - 1] = events_[k];
      --nevents_;
      return e;
    }
    return std::nullopt;
  }

  // ---- State ----------------------------------------------------------------------------------

  /// The manifest read by enumerate(), nullptr before.
  [[nodiscard]] const manifest_type* manifest() const noexcept {
    return manifest_ ? &*manifest_ : nullptr;
  }
  /// The Control protocol version the module answered.
  [[nodiscard]] version_payload control_version() const noexcept { return version_; }
  /// The protocol the manifest gives `cport`, if it lists it.
  [[nodiscard]] std::optional<std::uint8_t> protocol_of(std::uint16_t cport) const noexcept {
    if (!manifest_) return std::nullopt;
    const manifest_cport* c = manifest_->find_cport(cport);
    if (c == nullptr) return std::nullopt;
    return c->protocol;
  }
  [[nodiscard]] connection_state state(std::uint16_t cport) const noexcept {
    return cport < MaxCPorts ? trackers_[cport].state() : connection_state::disabled;
  }
  /// The tracker of `cport` (nullptr when out of range): for teardown and inspection.
  [[nodiscard]] tracker_type* tracker(std::uint16_t cport) noexcept {
    return cport < MaxCPorts && cport < t_->cport_count() ? &trackers_[cport] : nullptr;
  }
  /// The result byte of the latest error response (or failed PM status).
  [[nodiscard]] std::uint8_t last_status() const noexcept { return last_status_; }
  [[nodiscard]] const ap_stats& stats() const noexcept { return stats_; }
  [[nodiscard]] std::uint64_t now() noexcept { return static_cast<std::uint64_t>(clock_()); }

 private:
  /// Where a request is encoded: the smaller of our buffer and the transport's limit.
  [[nodiscard]] bytes out_buffer() noexcept {
    const std::size_t max = t_->max_message_size();
    return bytes{tx_}.first(max < tx_.size() ? max : tx_.size());
  }

  template <typename Op, typename Progress>
  [[nodiscard]] result<typename Op::response> call_in(bool core, std::uint16_t cport,
                                                      const typename Op::request& req,
                                                      Progress& progress,
                                                      std::uint32_t timeout_ms) noexcept {
    static_assert(!Op::unidirectional, "a unidirectional operation has no response to wait for");
    tracker_type* t = tracker(cport);
    if (t == nullptr) return errc::greybus_cport_out_of_range;
    const std::uint64_t cookie = ++stats_.calls;
    auto id = core ? t->begin_core(Op::type, now(), timeout_ms, cookie)
                   : t->begin(Op::type, now(), timeout_ms, cookie);
    VIREO_TRY(id);
    auto n = encode_request<Op>(*id, req, out_buffer());
    if (n) {
      if (auto s = t_->send(cport, const_bytes{tx_}.first(*n)); !s) n = s.error();
    }
    if (!n) {
      t->cancel(*id);
      return n.error();
    }
    for (;;) {
      auto f = t_->poll();
      if (!f) {
        t->cancel(*id);
        return f.error();
      }
      if (*f && dispatch(**f, cport, cookie)) {
        const message& m = (*f)->msg;
        if (m.hdr.result != 0) last_status_ = m.hdr.result;
        return decode_response<Op>(m);
      }
      // Nothing came, or something else did: the deadline holds either way, so a module that
      // floods the AP with other frames cannot keep the call waiting past it.
      if (expired(cookie)) {
        ++stats_.timeouts;
        stats_.last_error = errc::greybus_timeout;
        return errc::greybus_timeout;
      }
      if (!*f) progress();
    }
  }

  /// Expire every operation past its deadline; true when the one with `cookie` was among them.
  [[nodiscard]] bool expired(std::uint64_t cookie) noexcept {
    const std::uint64_t t = now();
    const std::size_t n = t_->cport_count() < MaxCPorts ? t_->cport_count() : MaxCPorts;
    bool mine = false;
    for (std::size_t c = 0; c < n; ++c)
      while (const auto op = trackers_[c].expire(t)) mine = mine || op->cookie == cookie;
    return mine;
  }

  /// Route one received frame. True when it is the response to the operation with `cookie` on
  /// `cport` (removed from its tracker).
  [[nodiscard]] bool dispatch(const virtio::frame& f, std::uint16_t cport,
                              std::uint64_t cookie) noexcept {
    tracker_type* t = tracker(f.cport);
    if (t == nullptr) return refuse(stats_.stray_responses, errc::greybus_cport_out_of_range);
    const message& m = f.msg;
    if (m.response()) {
      auto op = t->complete(m.hdr);
      if (!op) return refuse(stats_.stray_responses, op.error());
      if (f.cport == cport && op->cookie == cookie) return true;
      return refuse(stats_.stray_responses, errc::greybus_unexpected_response);
    }
    if (auto a = t->accept_incoming(m.hdr); !a) return refuse(stats_.refused_requests, a.error());
    if (!m.unidirectional()) {
      // No request handlers on this AP: Linux answers such a request -EPROTONOSUPPORT, which
      // goes out as GB_OP_PROTOCOL_BAD (operation.c gb_operation_errno_map).
      if (auto n = encode_error_response(m.hdr, status::protocol_bad, out_buffer()))
        (void)t_->send(f.cport, const_bytes{tx_}.first(*n));
      return refuse(stats_.refused_requests, errc::greybus_unknown_operation);
    }
    if (nevents_ == EventCapacity || m.payload.size() > max_event_payload)
      return refuse(stats_.dropped_events, errc::greybus_payload_too_long);
    incoming_request& e = events_[nevents_++];
    e.cport = f.cport;
    e.type = m.type();
    e.size = static_cast<std::uint8_t>(m.payload.size());
    if (!m.payload.empty()) std::memcpy(e.payload.data(), m.payload.data(), m.payload.size());
    return false;
  }
  [[nodiscard]] bool refuse(std::uint64_t& counter, errc e) noexcept {
    ++counter;
    stats_.last_error = e;
    return false;
  }

  Transport* t_;
  Clock clock_;
  std::array<tracker_type, MaxCPorts> trackers_{};
  std::array<std::byte, virtio::default_max_message_size> tx_{};
  std::array<std::byte, MaxManifest> manifest_bytes_{};
  std::optional<manifest_type> manifest_{};
  version_payload version_{};
  std::uint8_t last_status_ = 0;
  std::array<incoming_request, EventCapacity> events_{};
  std::size_t nevents_ = 0;
  ap_stats stats_{};
};

}  // namespace greybus::host
VIREO_NAMESPACE_END
