// SPDX-License-Identifier: Apache-2.0
// The 8-byte Greybus operation message header (greybus digest §1; Linux
// `struct gb_operation_msg_hdr`), the response bit, the status codes (§1.1) and the receive
// rules of Linux `gb_connection_recv` as checks. Data and pure functions only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "vireo/core/bytes.hpp"
#include "vireo/core/endian.hpp"
#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {

/// Bytes of the header that starts every message; the payload follows at this offset (§1).
inline constexpr std::size_t header_size = 8;
/// Largest message the 16-bit size field can describe (Linux GB_OPERATION_MESSAGE_SIZE_MAX).
/// Transports have smaller limits (ES2 USB 2048, BeaglePlay 256): check those separately.
inline constexpr std::size_t max_message_size = 0xffff;
inline constexpr std::size_t max_payload_size = max_message_size - header_size;

/// Bit 0x80 of `type`: set in responses; the response type is the request type | 0x80 (§1).
inline constexpr std::uint8_t response_bit = 0x80;
/// Operation id of a unidirectional request: no response will come (§1).
inline constexpr std::uint16_t unidirectional_id = 0;
/// Type 0x00 is CPort Shutdown in every protocol table (Linux GB_REQUEST_TYPE_CPORT_SHUTDOWN),
/// although operations.rst calls it "reserved as invalid" (§1 [DIFF]: the tables win).
inline constexpr std::uint8_t type_cport_shutdown = 0x00;
/// Type 0x7f is Invalid in every protocol (Linux GB_REQUEST_TYPE_INVALID): never sent.
inline constexpr std::uint8_t type_invalid = 0x7f;

/// struct gb_operation_msg_hdr (§1). Little endian; `pad` is written as zero and ignored when
/// read, because transports (ES2, gbridge, greybus-for-zephyr UART) carry the CPort id there.
struct header {
  le16 size;          ///< whole message length, this header included
  le16 operation_id;  ///< 0 = unidirectional request
  std::uint8_t type;  ///< operation type 0x00..0x7f, | 0x80 in a response
  std::uint8_t result;  ///< status (enum status) in responses; 0 in requests
  std::uint8_t pad[2];
};
static_assert(sizeof(header) == header_size, "greybus §1: the operation header is 8 bytes");
static_assert(alignof(header) == 1);
static_assert(offsetof(header, size) == 0 && offsetof(header, operation_id) == 2 &&
                  offsetof(header, type) == 4 && offsetof(header, result) == 5 &&
                  offsetof(header, pad) == 6,
              "greybus §1: operation header field offsets");
static_assert(std::is_trivially_copyable_v<header> && std::is_standard_layout_v<header>);

/// Operation status values (§1.1; Linux enum gb_operation_result). 0x0a..0xfd are reserved
/// (Linux maps them to -EIO); a received result byte is kept as a raw byte for that reason.
enum class status : std::uint8_t {
  success = 0x00,        ///< GB_OP_SUCCESS
  interrupted = 0x01,    ///< GB_OP_INTERRUPTED (-EINTR)
  timeout = 0x02,        ///< GB_OP_TIMEOUT (-ETIMEDOUT)
  no_memory = 0x03,      ///< GB_OP_NO_MEMORY (-ENOMEM)
  protocol_bad = 0x04,   ///< GB_OP_PROTOCOL_BAD: the connection has no request handler at all
  overflow = 0x05,       ///< GB_OP_OVERFLOW (-EMSGSIZE, also used for underflow)
  invalid = 0x06,        ///< GB_OP_INVALID (-EINVAL): what protocol handlers answer unknown types
  retry = 0x07,          ///< GB_OP_RETRY (-EAGAIN)
  nonexistent = 0x08,    ///< GB_OP_NONEXISTENT (-ENODEV)
  invalid_state = 0x09,  ///< spec only ("incompatible with bundle state"); Linux maps it to -EIO
  unknown_error = 0xfe,  ///< GB_OP_UNKNOWN_ERROR: Linux sends it for any unmapped errno
  malfunction = 0xff,    ///< Linux GB_OP_MALFUNCTION (-EILSEQ), which Linux does send; the spec
                         ///< calls 0xff GB_OP_INTERNAL and forbids it in responses (§1.1 [DIFF])
};

/// The Linux name of a status byte ("GB_OP_SUCCESS"...), "reserved" for 0x0a..0xfd.
[[nodiscard]] constexpr std::string_view status_name(std::uint8_t s) noexcept {
  switch (s) {
    case 0x00: return "GB_OP_SUCCESS";
    case 0x01: return "GB_OP_INTERRUPTED";
    case 0x02: return "GB_OP_TIMEOUT";
    case 0x03: return "GB_OP_NO_MEMORY";
    case 0x04: return "GB_OP_PROTOCOL_BAD";
    case 0x05: return "GB_OP_OVERFLOW";
    case 0x06: return "GB_OP_INVALID";
    case 0x07: return "GB_OP_RETRY";
    case 0x08: return "GB_OP_NONEXISTENT";
    case 0x09: return "GB_OP_INVALID_STATE";
    case 0xfe: return "GB_OP_UNKNOWN_ERROR";
    case 0xff: return "GB_OP_MALFUNCTION";
    default: return "reserved";
  }
}
[[nodiscard]] constexpr std::string_view status_name(status s) noexcept {
  return status_name(static_cast<std::uint8_t>(s));
}

/// The status a module answers a request with when decoding it failed with `e`: GB_OP_INVALID
/// for every malformed or unknown request, as Linux protocol handlers and greybus-for-zephyr do
/// (§1.1, §2), GB_OP_OVERFLOW when the answer would not fit a message.
[[nodiscard]] constexpr status status_for(errc e) noexcept {
  return e == errc::greybus_message_too_large ? status::overflow : status::invalid;
}

[[nodiscard]] constexpr bool is_response(const header& h) noexcept {
  return (h.type & response_bit) != 0;
}
/// The operation type without the response bit.
[[nodiscard]] constexpr std::uint8_t operation_type(const header& h) noexcept {
  return static_cast<std::uint8_t>(h.type & ~response_bit);
}
[[nodiscard]] constexpr bool is_unidirectional(const header& h) noexcept {
  return !is_response(h) && h.operation_id.get() == unidirectional_id;
}

/// A request header for a payload of `payload_size` bytes (pad and result zero).
/// Precondition: payload_size <= max_payload_size, type < 0x80.
[[nodiscard]] constexpr header make_request_header(std::uint16_t id, std::uint8_t type,
                                                   std::size_t payload_size) noexcept {
  VIREO_ASSERT(payload_size <= max_payload_size && (type & response_bit) == 0);
  header h{};
  h.size.set(static_cast<std::uint16_t>(header_size + payload_size));
  h.operation_id.set(id);
  h.type = type;
  return h;
}
/// The response header to a request of type `request_type` and id `id` (§1: same id, type |
/// 0x80). Precondition as make_request_header().
[[nodiscard]] constexpr header make_response_header(std::uint16_t id, std::uint8_t request_type,
                                                    std::uint8_t result,
                                                    std::size_t payload_size) noexcept {
  VIREO_ASSERT(payload_size <= max_payload_size);
  header h{};
  h.size.set(static_cast<std::uint16_t>(header_size + payload_size));
  h.operation_id.set(id);
  h.type = static_cast<std::uint8_t>(request_type | response_bit);
  h.result = result;
  return h;
}

/// Copy the header out of the first 8 bytes of `in` (one copy: never read the source again).
/// Errors: greybus_short_message.
[[nodiscard]] inline result<header> load_header(const_bytes in) noexcept {
  return load_front<header>(in, errc::greybus_short_message);
}

/// Copy `h` into the first 8 bytes of `out`. Errors: no_space.
[[nodiscard]] inline result<void> store_header(const header& h, bytes out) noexcept {
  return store_front(h, out);
}

/// How strictly a received header is judged.
struct decode_options {
  /// false (default): Linux's receive rules: bytes after header.size are ignored (and counted),
  /// a request's result byte is ignored. true: the spec's words: both are errors.
  bool strict = false;
};

/// The checks of §1 / Linux gb_connection_recv on a header and the number of bytes received:
/// size >= 8, size <= received (and == received when strict), no response with id 0, result 0
/// in a request (strict only). Pad is never checked (transports use it).
/// Errors: greybus_size_below_header, greybus_incomplete_message, greybus_trailing_bytes,
/// greybus_response_id_zero, greybus_request_result_nonzero.
[[nodiscard]] constexpr result<void> validate(const header& h, std::size_t received,
                                              const decode_options& opt = {}) noexcept {
  const std::size_t size = h.size.get();
  if (size < header_size) return errc::greybus_size_below_header;
  if (size > received) return errc::greybus_incomplete_message;
  if (opt.strict && size != received) return errc::greybus_trailing_bytes;
  if (is_response(h) && h.operation_id.get() == 0) return errc::greybus_response_id_zero;
  if (opt.strict && !is_response(h) && h.result != 0) return errc::greybus_request_result_nonzero;
  return ok();
}

}  // namespace greybus
VIREO_NAMESPACE_END
