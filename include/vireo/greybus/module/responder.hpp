// SPDX-License-Identifier: Apache-2.0
// The module side of one Greybus connection: what a CPort's protocol handler ("responder")
// provides to the module's router (module.hpp), a non-owning type-erased reference to one, and
// the reply helpers every responder shares (§1: no response to a unidirectional request; §2:
// CPort Shutdown in every protocol).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/operation.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus::module {

/// A CPort's protocol handler on the module side:
///  - `protocol`: the protocol the manifest must give the CPort it is attached to;
///  - handle(m, out): `m` is a request (response bit clear) on a connected CPort; write the
///    response into `out` and return its length (0 when `m` is unidirectional: nothing may be
///    sent back, §1). A bad request gets an error response, not an errc: errc is for what cannot
///    be answered at all (no_space when `out` cannot hold the response);
///  - next_outgoing(out): a module-initiated message (GPIO IRQ Event) written into `out`, its
///    length, or nullopt when nothing waits (or `out` is too small: then nothing is consumed);
///  - connected() / disconnected(): the Control protocol opened or closed the connection; a
///    closed connection forgets its per-connection state and releases what it holds on the host.
template <typename R>
concept responder = requires(R& r, const message& m, bytes out) {
  { R::protocol } -> std::convertible_to<protocol_id>;
  { r.handle(m, out) } noexcept -> std::same_as<result<std::size_t>>;
  { r.next_outgoing(out) } noexcept -> std::same_as<std::optional<std::size_t>>;
  { r.connected() } noexcept -> std::same_as<void>;
  { r.disconnected() } noexcept -> std::same_as<void>;
};

/// A non-owning reference to any `responder` (object pointer + four function pointers, no heap):
/// the referenced responder must outlive every use. Default-constructed: empty().
class responder_ref {
 public:
  responder_ref() noexcept = default;
  template <responder R>
  explicit responder_ref(R& r) noexcept
      : obj_(&r),
        protocol_(static_cast<protocol_id>(R::protocol)),
        handle_([](void* o, const message& m, bytes out) noexcept {
          return static_cast<R*>(o)->handle(m, out);
        }),
        next_([](void* o, bytes out) noexcept { return static_cast<R*>(o)->next_outgoing(out); }),
        connected_([](void* o) noexcept { static_cast<R*>(o)->connected(); }),
        disconnected_([](void* o) noexcept { static_cast<R*>(o)->disconnected(); }) {}

  [[nodiscard]] bool empty() const noexcept { return obj_ == nullptr; }
  /// Preconditions for the calls below: !empty().
  [[nodiscard]] protocol_id protocol() const noexcept { return protocol_; }
  [[nodiscard]] result<std::size_t> handle(const message& m, bytes out) const noexcept {
    return handle_(obj_, m, out);
  }
  [[nodiscard]] std::optional<std::size_t> next_outgoing(bytes out) const noexcept {
    return next_(obj_, out);
  }
  void connected() const noexcept { connected_(obj_); }
  void disconnected() const noexcept { disconnected_(obj_); }

 private:
  void* obj_ = nullptr;
  protocol_id protocol_ = protocol_id::control;
  result<std::size_t> (*handle_)(void*, const message&, bytes) noexcept = nullptr;
  std::optional<std::size_t> (*next_)(void*, bytes) noexcept = nullptr;
  void (*connected_)(void*) noexcept = nullptr;
  void (*disconnected_)(void*) noexcept = nullptr;
};

/// The success response of Op to request `m`; nothing (0) when `m` is unidirectional (§1).
/// Errors: those of encode_response (no_space).
template <typename Op>
[[nodiscard]] inline result<std::size_t> reply(const message& m, const typename Op::response& p,
                                               bytes out) noexcept {
  if (m.unidirectional()) return std::size_t{0};
  return encode_response<Op>(m.id(), p, out);
}

/// An error response with status `s` to `m`; nothing (0) when `m` is unidirectional.
/// Errors: no_space.
[[nodiscard]] inline result<std::size_t> reply_error(const message& m, status s,
                                                     bytes out) noexcept {
  if (m.unidirectional()) return std::size_t{0};
  return encode_error_response(m.hdr, s, out);
}

/// The error response for a request that failed to decode or to run with `e` (status_for():
/// GB_OP_INVALID, the -EINVAL Linux protocol handlers answer bad requests with).
[[nodiscard]] inline result<std::size_t> reply_refused(const message& m, errc e,
                                                       bytes out) noexcept {
  return reply_error(m, status_for(e), out);
}

/// CPort Shutdown phases a module accepts: the spec (connection.rst) defines phase 1 only, but
/// Linux gb_connection_disable() sends phase 1 and then phase 2 (§2 [DIFF]): both succeed.
[[nodiscard]] constexpr bool valid_shutdown_phase(std::uint8_t phase) noexcept {
  return phase == 1 || phase == 2;
}

/// Answer CPort Shutdown (type 0x00, §2) on a connection of protocol P: an empty success for
/// phase 1 or 2, GB_OP_INVALID for a malformed request or another phase.
template <protocol_id P>
[[nodiscard]] inline result<std::size_t> answer_cport_shutdown(const message& m,
                                                               bytes out) noexcept {
  using op = greybus::cport_shutdown<P>;
  const auto req = decode_request<op>(m);
  if (!req) return reply_refused(m, req.error(), out);
  if (!valid_shutdown_phase(req->phase)) return reply_error(m, status::invalid, out);
  return reply<op>(m, empty{}, out);
}

}  // namespace greybus::module
VIREO_NAMESPACE_END
