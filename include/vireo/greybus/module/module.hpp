// SPDX-License-Identifier: Apache-2.0
// A Greybus interface as a module presents it (greybus digest §3, §8): the Control protocol on
// CPort 0 answered from a manifest, and a fixed routing table from the manifest's other CPorts
// to responders (gpio_responder, i2c_responder, or any `responder`). Message level: the
// transport (greybus/virtio/module_device.hpp, a socket, a UART) hands in one received message
// and its CPort, and sends what comes back. No heap, no virtqueue.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/control.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/module/control_responder.hpp"
#include "vireo/greybus/module/responder.hpp"
#include "vireo/greybus/operation.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus::module {

/// A module-initiated message next_outgoing() wrote: its CPort and its length.
struct outgoing {
  std::uint16_t cport = 0;
  std::size_t size = 0;
  friend constexpr bool operator==(const outgoing&, const outgoing&) noexcept = default;
};

/// The status of the error response to a request on a CPort whose connection is not open (or
/// is closing and the request is not CPort Shutdown). Linux, as the receiving side, drops such
/// a request (gb_operation_get_active: -ENOTCONN) and lets the sender time out; a module
/// answers so that the AP fails at once. GB_OP_INVALID_STATE is the spec's status for a
/// request the current state does not allow; Linux reads 0x09 as -EIO (§1.1).
inline constexpr status not_connected_status = status::invalid_state;

/// One interface: Control on CPort 0 from the manifest, up to MaxRoutes responders on the other
/// CPorts. MaxBundles / MaxCPorts bound the manifest (control_responder).
///
/// handle() receive rules, in order:
///  1. the message must decode (§1 header checks, Linux's lenient mode): else its errc, dropped;
///  2. a response (bit 0x80) is dropped with greybus_not_a_request: this module sends no
///     request that wants one (its only requests are unidirectional events);
///  3. CPort 0 goes to Control; a CPort the manifest lacks is dropped (greybus_cport_unknown);
///  4. a CPort not connected (or disconnecting, for anything but CPort Shutdown) gets an error
///     response with not_connected_status (a unidirectional request: greybus_connection_not_ready);
///  5. a connected CPort without a responder answers CPort Shutdown and gets GB_OP_PROTOCOL_BAD
///     for anything else (Linux: a connection with no request handler, operation.c);
///  6. the responder answers. A response that does not fit `out` becomes GB_OP_OVERFLOW.
/// Every refusal in 4 and 5 is counted in refused(), every drop in dropped().
template <std::size_t MaxRoutes = 8, std::size_t MaxBundles = 8, std::size_t MaxCPorts = 32>
class interface {
  static_assert(MaxRoutes > 0);

 public:
  using control_type = control_responder<MaxBundles, MaxCPorts>;

  /// An interface serving `manifest` (a view: keep the bytes alive and unchanged), with no
  /// responder attached yet. Errors: those of control_responder::create().
  [[nodiscard]] static result<interface> create(const_bytes manifest) noexcept {
    auto c = control_type::create(manifest);
    if (!c) return c.error();
    interface i;
    i.control_.emplace(*c);
    return i;
  }

  /// Route `cport` to `r` (referenced, not owned: it must outlive the interface's use). If the
  /// CPort is already connected, r.connected() is called at once.
  /// Errors: greybus_cport_unknown (CPort 0 or a CPort the manifest lacks),
  /// greybus_protocol_mismatch (the manifest gives the CPort another protocol than R::protocol),
  /// greybus_cport_in_use (a responder is attached already), table_full (MaxRoutes reached).
  template <responder R>
  [[nodiscard]] result<void> attach(std::uint16_t cport, R& r) noexcept {
    if (cport == control::cport_id) return errc::greybus_cport_unknown;
    const auto p = control_->cport_protocol(cport);
    if (!p) return errc::greybus_cport_unknown;
    if (*p != static_cast<std::uint8_t>(static_cast<protocol_id>(R::protocol)))
      return errc::greybus_protocol_mismatch;
    if (find(cport) != nullptr) return errc::greybus_cport_in_use;
    if (nroutes_ == MaxRoutes) return errc::table_full;
    routes_[nroutes_++] = route{cport, responder_ref{r}};
    if (control_->state(cport) != cport_state::disconnected) r.connected();
    return ok();
  }

  /// One received message on `cport`; writes the response (if any) into `out` and returns its
  /// length (0 = nothing to send: a unidirectional request). Malformed input: an error response
  /// when the request can be answered, else a typed errc (see the class comment); never UB.
  /// `out` should hold the transport's largest message; below 8 bytes nothing can be answered
  /// (no_space). `message` and `out` must not overlap.
  [[nodiscard]] result<std::size_t> handle(std::uint16_t cport, const_bytes message,
                                           bytes out) noexcept {
    const auto m = decode(message);
    if (!m) return drop(m.error());
    if (m->response()) return drop(errc::greybus_not_a_request);
    if (cport == control::cport_id) {
      auto listener = [this](std::uint16_t c, connection_event e) noexcept { notify(c, e); };
      return finish(*m, control_->handle(*m, out, listener), out);
    }
    if (!control_->has_cport(cport)) return drop(errc::greybus_cport_unknown);
    const cport_state s = control_->state(cport);
    const bool shutdown = m->type() == type_cport_shutdown;
    if (s == cport_state::disconnected || (s == cport_state::disconnecting && !shutdown)) {
      ++refused_;
      if (m->unidirectional()) return errc::greybus_connection_not_ready;
      return finish(*m, reply_error(*m, not_connected_status, out), out);
    }
    const route* r = find(cport);
    if (r == nullptr) {
      if (shutdown) return finish(*m, answer_cport_shutdown<protocol_id::control>(*m, out), out);
      ++refused_;
      return finish(*m, reply_error(*m, status::protocol_bad, out), out);
    }
    return finish(*m, r->ref.handle(*m, out), out);
  }

  /// A module-initiated message waiting to be sent (GPIO IRQ Event...): written into `out`,
  /// returned as {cport, length}; nullopt when none waits or `out` is too small for the next
  /// one (nothing is lost then). Only connected CPorts are asked, in turn, so one busy CPort
  /// cannot starve the others. Call until nullopt after each handle() and on host events.
  [[nodiscard]] std::optional<outgoing> next_outgoing(bytes out) noexcept {
    for (std::size_t k = 0; k < nroutes_; ++k) {
      const std::size_t i = (next_route_ + k) % nroutes_;
      const route& r = routes_[i];
      if (control_->state(r.cport) != cport_state::connected) continue;
      if (const auto n = r.ref.next_outgoing(out)) {
        next_route_ = (i + 1) % nroutes_;
        return outgoing{r.cport, *n};
      }
    }
    return std::nullopt;
  }

  /// CPort ids are 0 .. cport_count() - 1 (greybus-virtio device_config.cport_count).
  [[nodiscard]] std::uint16_t cport_count() const noexcept { return control_->cport_count(); }

  /// Close every connection (transport reset): each attached responder releases its state.
  void disconnect_all() noexcept {
    control_->disconnect_all(
        [this](std::uint16_t c, connection_event e) noexcept { notify(c, e); });
  }

  [[nodiscard]] const control_type& control() const noexcept { return *control_; }
  [[nodiscard]] cport_state state(std::uint16_t cport) const noexcept {
    return control_->state(cport);
  }
  /// Requests answered with an error because of their CPort's state or missing responder.
  [[nodiscard]] std::uint64_t refused() const noexcept { return refused_; }
  /// Messages dropped without an answer (undecodable, responses, unknown CPorts).
  [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  struct route {
    std::uint16_t cport = 0;
    responder_ref ref{};
  };

  interface() noexcept = default;

  [[nodiscard]] const route* find(std::uint16_t cport) const noexcept {
    for (std::size_t i = 0; i < nroutes_; ++i)
      if (routes_[i].cport == cport) return &routes_[i];
    return nullptr;
  }

  void notify(std::uint16_t cport, connection_event e) noexcept {
    const route* r = find(cport);
    if (r == nullptr) return;
    if (e == connection_event::connected) r->ref.connected();
    else r->ref.disconnected();
  }

  [[nodiscard]] result<std::size_t> drop(errc e) noexcept {
    ++dropped_;
    return e;
  }

  /// A response too large for `out` (or for a message) becomes GB_OP_OVERFLOW when an error
  /// response fits; other failures pass through.
  [[nodiscard]] result<std::size_t> finish(const message& m, result<std::size_t> r,
                                           bytes out) noexcept {
    if (r) return r;
    const errc e = r.error();
    if ((e == errc::no_space || e == errc::greybus_message_too_large) && !m.unidirectional() &&
        out.size() >= header_size)
      return reply_error(m, status::overflow, out);
    ++dropped_;
    return e;
  }

  std::optional<control_type> control_{};
  std::array<route, MaxRoutes> routes_{};
  std::size_t nroutes_ = 0;
  std::size_t next_route_ = 0;
  std::uint64_t refused_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace greybus::module
VIREO_NAMESPACE_END
