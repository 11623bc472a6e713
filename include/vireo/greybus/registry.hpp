// SPDX-License-Identifier: Apache-2.0
// Dispatch over every operation this library types (Control, SVC, GPIO, I2C, SPI, UART, PWM):
// from a protocol id and a type number to the operation's descriptor, its name, and the exact
// payload check. This is the protocol-agnostic half of decoding: message.hpp gives header and
// payload, check_message() says whether that payload is what the operation defines.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/control.hpp"
#include "vireo/greybus/gpio.hpp"
#include "vireo/greybus/i2c.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/operation.hpp"
#include "vireo/greybus/pwm.hpp"
#include "vireo/greybus/spi.hpp"
#include "vireo/greybus/svc.hpp"
#include "vireo/greybus/uart.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {

/// Every protocol with typed operations here.
inline constexpr protocol_id typed_protocols[] = {
    protocol_id::control, protocol_id::svc, protocol_id::gpio, protocol_id::i2c,
    protocol_id::spi,     protocol_id::uart, protocol_id::pwm,
};

/// The protocol's name as in Linux enum greybus_protocol ("control", "gpio"...).
[[nodiscard]] constexpr std::string_view protocol_name(protocol_id p) noexcept {
  switch (p) {
    case protocol_id::control: return "control";
    case protocol_id::gpio: return "gpio";
    case protocol_id::i2c: return "i2c";
    case protocol_id::uart: return "uart";
    case protocol_id::pwm: return "pwm";
    case protocol_id::spi: return "spi";
    case protocol_id::svc: return "svc";
  }
  return "unknown";
}

namespace detail {

template <typename List>
struct visit_list;

template <typename... Ops>
struct visit_list<operation_list<Ops...>> {
  template <typename F>
  static constexpr bool run(std::uint8_t type, F& f) {
    return ((Ops::type == type ? (f.template operator()<Ops>(), true) : false) || ...);
  }
};

}  // namespace detail

/// Call `f.template operator()<Op>()` for the operation of protocol `p` with type `type`
/// (without the response bit). Returns false, calling nothing, when there is none.
template <typename F>
constexpr bool visit_operation(protocol_id p, std::uint8_t type, F&& f) {
  switch (p) {
    case protocol_id::control: return detail::visit_list<control::operations>::run(type, f);
    case protocol_id::svc: return detail::visit_list<svc::operations>::run(type, f);
    case protocol_id::gpio: return detail::visit_list<gpio::operations>::run(type, f);
    case protocol_id::i2c: return detail::visit_list<i2c::operations>::run(type, f);
    case protocol_id::spi: return detail::visit_list<spi::operations>::run(type, f);
    case protocol_id::uart: return detail::visit_list<uart::operations>::run(type, f);
    case protocol_id::pwm: return detail::visit_list<pwm::operations>::run(type, f);
  }
  return false;
}

/// The operation's name ("set_value"), or an empty view when `p` defines no such type.
[[nodiscard]] constexpr std::string_view operation_name(protocol_id p, std::uint8_t type) noexcept {
  std::string_view name{};
  visit_operation(p, type, [&]<typename Op>() { name = Op::name; });
  return name;
}

[[nodiscard]] constexpr bool is_known_operation(protocol_id p, std::uint8_t type) noexcept {
  return visit_operation(p, type, []<typename>() {});
}

/// Whether `payload` is exactly what operation `type` of protocol `p` carries in a request
/// (`response` false) or a successful response (`response` true).
/// Errors: greybus_unknown_operation, greybus_no_response (a response to a unidirectional
/// operation), and the payload errors of the operation's decoder.
[[nodiscard]] inline result<void> check_payload(protocol_id p, std::uint8_t type, bool response,
                                                const_bytes payload) noexcept {
  result<void> r = errc::greybus_unknown_operation;
  visit_operation(p, type, [&]<typename Op>() {
    if (!response) {
      const auto d = decode_payload<typename Op::request>(payload);
      r = d ? ok() : result<void>{d.error()};
    } else if constexpr (Op::unidirectional) {
      r = errc::greybus_no_response;
    } else {
      const auto d = decode_payload<typename Op::response>(payload);
      r = d ? ok() : result<void>{d.error()};
    }
  });
  return r;
}

/// check_payload() for a decoded message on a connection of protocol `p`. A response with a
/// non-zero result is accepted whatever its payload (§1: the payload is ignored), as long as the
/// operation is known and has responses.
/// Errors: as check_payload().
[[nodiscard]] inline result<void> check_message(protocol_id p, const message& m) noexcept {
  if (m.failed()) {
    result<void> r = errc::greybus_unknown_operation;
    visit_operation(p, m.type(), [&]<typename Op>() {
      r = Op::unidirectional ? result<void>{errc::greybus_no_response} : ok();
    });
    return r;
  }
  return check_payload(p, m.type(), m.response(), m.payload);
}

}  // namespace greybus
VIREO_NAMESPACE_END
