// SPDX-License-Identifier: Apache-2.0
// Greybus UART protocol (greybus digest §6.4; Linux greybus_protocols.h "UART" and
// drivers/staging/greybus/uart.c; spec bridged_phy.rst): protocol 0x04. Receive Data, Serial
// State and Receive Credits go module -> AP and are unidirectional.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "vireo/core/bytes.hpp"
#include "vireo/core/endian.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/operation.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {
namespace uart {

inline constexpr protocol_id protocol = protocol_id::uart;

/// TX credits Linux starts with (GB_UART_FIRMWARE_CREDITS): one per byte sent.
inline constexpr std::uint16_t initial_credits = 4096;

/// Receive Data flags (Linux GB_UART_RECV_FLAG_*); a break comes with a NUL data byte.
namespace recv_flag {
inline constexpr std::uint8_t framing = 0x01;
inline constexpr std::uint8_t parity = 0x02;
inline constexpr std::uint8_t overrun = 0x04;
inline constexpr std::uint8_t brk = 0x08;
}  // namespace recv_flag
/// Set Control Line State bits (AP -> module) and Serial State bits (module -> AP).
namespace ctrl {
inline constexpr std::uint8_t dtr = 0x01;
inline constexpr std::uint8_t rts = 0x02;
inline constexpr std::uint8_t dcd = 0x01;
inline constexpr std::uint8_t dsr = 0x02;
inline constexpr std::uint8_t ri = 0x04;
}  // namespace ctrl
/// Flush flags (Linux GB_SERIAL_FLAG_FLUSH_*).
namespace flush_flag {
inline constexpr std::uint8_t transmitter = 0x01;
inline constexpr std::uint8_t receiver = 0x02;
}  // namespace flush_flag
enum class stop_bits : std::uint8_t { one = 0, one_and_half = 1, two = 2 };
enum class parity : std::uint8_t { none = 0, odd = 1, even = 2, mark = 3, space = 4 };
inline constexpr std::uint8_t flow_auto_rtscts = 0x01;

/// gb_uart_set_line_coding_request.
struct line_coding_request {
  le32 rate;
  std::uint8_t format;  ///< enum stop_bits
  std::uint8_t parity;  ///< enum parity
  std::uint8_t data_bits;
  std::uint8_t flow_control;
};
struct control_request {
  std::uint8_t control;  ///< ctrl bits
};
struct break_request {
  std::uint8_t state;  ///< 0 off, 1 on
};
struct credits_request {
  le16 count;
};
struct flush_request {
  std::uint8_t flags;
};
static_assert(sizeof(line_coding_request) == 8 && alignof(line_coding_request) == 1 &&
                  offsetof(line_coding_request, rate) == 0 &&
                  offsetof(line_coding_request, format) == 4 &&
                  offsetof(line_coding_request, parity) == 5 &&
                  offsetof(line_coding_request, data_bits) == 6 &&
                  offsetof(line_coding_request, flow_control) == 7,
              "greybus §6.4: set line coding is le32 rate, u8 format, parity, data_bits, flow");
static_assert(sizeof(control_request) == 1 && sizeof(break_request) == 1 &&
                  sizeof(flush_request) == 1,
              "greybus §6.4: u8 control / state / flags");
static_assert(sizeof(credits_request) == 2 && offsetof(credits_request, count) == 0,
              "greybus §6.4: receive credits is le16 count");
static_assert(std::is_trivially_copyable_v<line_coding_request> &&
              std::is_standard_layout_v<line_coding_request>);

/// Send Data request (§6.4): le16 size, then exactly `size` bytes.
struct send_data_request {
  const_bytes data{};

  /// Errors: greybus_payload_too_short (no size field), greybus_data_length.
  [[nodiscard]] static result<send_data_request> decode(const_bytes in) noexcept {
    if (in.size() < sizeof(le16)) return errc::greybus_payload_too_short;
    le16 size;
    std::memcpy(&size, in.data(), sizeof size);
    if (size.get() != in.size() - sizeof size) return errc::greybus_data_length;
    return send_data_request{in.subspan(sizeof size)};
  }
  [[nodiscard]] std::size_t size() const noexcept { return sizeof(le16) + data.size(); }
  /// Errors: no_space, greybus_message_too_large (data above 65535 bytes).
  [[nodiscard]] result<void> encode_to(bytes out) const noexcept {
    if (data.size() > 0xffff) return errc::greybus_message_too_large;
    if (out.size() != size()) return errc::no_space;
    const le16 n = le16::from(static_cast<std::uint16_t>(data.size()));
    std::memcpy(out.data(), &n, sizeof n);
    if (!data.empty()) std::memcpy(out.data() + sizeof n, data.data(), data.size());
    return ok();
  }
};

/// Receive Data request (§6.4): le16 size (>= 1), u8 flags, then exactly `size` bytes.
struct receive_data_request {
  std::uint8_t flags = 0;  ///< recv_flag bits
  const_bytes data{};

  /// The checks of Linux gb_uart_receive_data_handler, in its order.
  /// Errors: greybus_payload_too_short, greybus_data_length (size != bytes that follow),
  /// greybus_empty_data (size 0).
  [[nodiscard]] static result<receive_data_request> decode(const_bytes in) noexcept {
    constexpr std::size_t head = sizeof(le16) + 1;
    if (in.size() < head) return errc::greybus_payload_too_short;
    le16 size;
    std::memcpy(&size, in.data(), sizeof size);
    if (size.get() != in.size() - head) return errc::greybus_data_length;
    if (size.get() == 0) return errc::greybus_empty_data;
    return receive_data_request{static_cast<std::uint8_t>(in[sizeof size]), in.subspan(head)};
  }
  [[nodiscard]] std::size_t size() const noexcept { return sizeof(le16) + 1 + data.size(); }
  /// Errors: no_space, greybus_empty_data, greybus_message_too_large.
  [[nodiscard]] result<void> encode_to(bytes out) const noexcept {
    if (data.empty()) return errc::greybus_empty_data;
    if (data.size() > 0xffff) return errc::greybus_message_too_large;
    if (out.size() != size()) return errc::no_space;
    const le16 n = le16::from(static_cast<std::uint16_t>(data.size()));
    std::memcpy(out.data(), &n, sizeof n);
    out[sizeof n] = static_cast<std::byte>(flags);
    std::memcpy(out.data() + sizeof n + 1, data.data(), data.size());
    return ok();
  }
};
static_assert(variable_payload<send_data_request> && variable_payload<receive_data_request>);

using cport_shutdown = greybus::cport_shutdown<protocol>;

struct send_data : operation<protocol, 0x02, send_data_request, empty> {
  static constexpr std::string_view name = "send_data";
};
/// Module -> AP. Linux answers it when the id is non-zero; the spec says unidirectional.
struct receive_data : unidirectional_operation<protocol, 0x03, receive_data_request> {
  static constexpr std::string_view name = "receive_data";
};
struct set_line_coding : operation<protocol, 0x04, line_coding_request, empty> {
  static constexpr std::string_view name = "set_line_coding";
};
struct set_control_line_state : operation<protocol, 0x05, control_request, empty> {
  static constexpr std::string_view name = "set_control_line_state";
};
struct send_break : operation<protocol, 0x06, break_request, empty> {
  static constexpr std::string_view name = "send_break";
};
struct serial_state : unidirectional_operation<protocol, 0x07, control_request> {
  static constexpr std::string_view name = "serial_state";
};
struct receive_credits : unidirectional_operation<protocol, 0x08, credits_request> {
  static constexpr std::string_view name = "receive_credits";
};
struct flush_fifos : operation<protocol, 0x09, flush_request, empty> {
  static constexpr std::string_view name = "flush_fifos";
};

using operations =
    operation_list<cport_shutdown, send_data, receive_data, set_line_coding,
                   set_control_line_state, send_break, serial_state, receive_credits, flush_fifos>;

}  // namespace uart
}  // namespace greybus
VIREO_NAMESPACE_END
