// SPDX-License-Identifier: Apache-2.0
// One Greybus operation message as a checked view: decode(bytes) gives the header (copied once)
// and the payload span, whatever the protocol; decode_request<Op>/decode_response<Op> then check
// the type and the exact payload layout of a known operation. Encoders write whole messages.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/operation.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {

/// A received message whose header passed validate(). `payload` views the caller's buffer
/// (keep it alive and unchanged while the message is used); `hdr` is a copy.
struct message {
  header hdr{};
  const_bytes payload{};
  /// Bytes after header.size that were ignored (lenient mode only; Linux ignores them too).
  std::size_t trailing = 0;

  [[nodiscard]] constexpr std::uint16_t id() const noexcept { return hdr.operation_id.get(); }
  /// The operation type without the response bit.
  [[nodiscard]] constexpr std::uint8_t type() const noexcept { return operation_type(hdr); }
  [[nodiscard]] constexpr bool response() const noexcept { return is_response(hdr); }
  [[nodiscard]] constexpr bool unidirectional() const noexcept { return is_unidirectional(hdr); }
  /// The result byte (meaningful in responses only).
  [[nodiscard]] constexpr std::uint8_t result_byte() const noexcept { return hdr.result; }
  [[nodiscard]] constexpr bool failed() const noexcept { return response() && hdr.result != 0; }
};

/// Decode one message from the start of `in`: header copied once and validated (§1 receive
/// rules, see validate()), payload = the header.size - 8 bytes after it.
/// Errors: greybus_short_message and those of validate().
[[nodiscard]] VIREO_ALWAYS_INLINE result<message> decode(const_bytes in,
                                                   const decode_options& opt = {}) noexcept {
  auto h = load_header(in);
  VIREO_TRY(h);
  VIREO_TRY(validate(*h, in.size(), opt));
  const std::size_t size = h->size.get();
  return message{*h, in.subspan(header_size, size - header_size), in.size() - size};
}

/// The request payload of operation Op in `m`.
/// Errors: greybus_not_a_request (response bit set), greybus_unknown_operation (other type),
/// and those of decode_payload<Op::request>.
template <typename Op>
[[nodiscard]] inline result<typename Op::request> decode_request(const message& m) noexcept {
  if (m.response()) return errc::greybus_not_a_request;
  if (m.type() != Op::type) return errc::greybus_unknown_operation;
  return decode_payload<typename Op::request>(m.payload);
}

/// The response payload of operation Op in `m`. A response with a non-zero result has no
/// payload to speak of (§1: it is ignored): greybus_error_response, read the status from `m`.
/// Errors: greybus_not_a_request (response bit clear), greybus_unknown_operation,
/// greybus_no_response (Op is unidirectional), greybus_error_response, and those of
/// decode_payload<Op::response>.
template <typename Op>
[[nodiscard]] inline result<typename Op::response> decode_response(const message& m) noexcept {
  if (!m.response()) return errc::greybus_not_a_request;
  if (m.type() != Op::type) return errc::greybus_unknown_operation;
  if constexpr (Op::unidirectional) {
    return errc::greybus_no_response;
  } else {
    if (m.hdr.result != 0) return errc::greybus_error_response;
    return decode_payload<typename Op::response>(m.payload);
  }
}

/// Write a message with header `h` (its size field is set from the payload; id, type, result
/// and pad are kept as given, so a decoded message re-encodes byte for byte) and payload `p`.
/// Returns the bytes written. Errors: greybus_message_too_large, no_space.
template <payload P>
[[nodiscard]] inline result<std::size_t> encode_message(header h, const P& p, bytes out) noexcept {
  const std::size_t n = payload_size(p);
  if (n > max_payload_size) return errc::greybus_message_too_large;
  if (out.size() < header_size + n) return errc::no_space;
  h.size.set(static_cast<std::uint16_t>(header_size + n));
  VIREO_TRY(store_header(h, out));
  VIREO_TRY(encode_payload(p, out.subspan(header_size, n)));
  return header_size + n;
}

/// A request of operation Op with id `id` (pass 0 only for unidirectional operations).
/// Errors: those of encode_message.
template <typename Op>
[[nodiscard]] inline result<std::size_t> encode_request(std::uint16_t id,
                                                        const typename Op::request& p,
                                                        bytes out) noexcept {
  return encode_message(make_request_header(id, Op::type, 0), p, out);
}

/// The unidirectional request of Op (id 0, §1).
template <typename Op>
[[nodiscard]] inline result<std::size_t> encode_unidirectional(const typename Op::request& p,
                                                               bytes out) noexcept {
  static_assert(Op::unidirectional, "only unidirectional operations are sent with id 0");
  return encode_message(make_request_header(unidirectional_id, Op::type, 0), p, out);
}

/// A successful response of Op to request id `id`.
template <typename Op>
[[nodiscard]] inline result<std::size_t> encode_response(std::uint16_t id,
                                                         const typename Op::response& p,
                                                         bytes out) noexcept {
  static_assert(!Op::unidirectional, "a unidirectional operation has no response");
  return encode_message(make_response_header(id, Op::type, 0, 0), p, out);
}

/// An error response (no payload, result `s`) to the request whose header is `request`.
/// Errors: greybus_no_response (the request is unidirectional: nothing may be sent back),
/// greybus_not_a_request (it is a response), no_space.
[[nodiscard]] inline result<std::size_t> encode_error_response(const header& request, status s,
                                                               bytes out) noexcept {
  if (is_response(request)) return errc::greybus_not_a_request;
  if (request.operation_id.get() == unidirectional_id) return errc::greybus_no_response;
  return encode_message(make_response_header(request.operation_id.get(), request.type,
                                             static_cast<std::uint8_t>(s), 0),
                        empty{}, out);
}

}  // namespace greybus
VIREO_NAMESPACE_END
