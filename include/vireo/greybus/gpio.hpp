// SPDX-License-Identifier: Apache-2.0
// Greybus GPIO protocol (greybus digest §6.1; Linux greybus_protocols.h "GPIO" and
// drivers/staging/greybus/gpio.c; spec bridged_phy.rst): protocol 0x02. The AP drives lines
// 0..count; the module reports interrupts with the unidirectional IRQ Event.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "vireo/core/endian.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/operation.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {
namespace gpio {

inline constexpr protocol_id protocol = protocol_id::gpio;

/// Get Direction's answer (§6.1): 0 = output, 1 = input (note: not virtio-gpio's values).
enum class direction : std::uint8_t { out = 0, in = 1 };
/// IRQ Type values (§6.1; Linux GB_GPIO_IRQ_TYPE_*). Others are reserved.
enum class irq_type : std::uint8_t {
  none = 0x00,
  edge_rising = 0x01,
  edge_falling = 0x02,
  edge_both = 0x03,
  level_high = 0x04,
  level_low = 0x08,
};

/// gb_gpio_line_count_response: the highest line number (lines - 1; 0 = 1 line, 255 = 256).
struct line_count_response {
  std::uint8_t count;
};
/// The request of Activate, Deactivate, Get Direction, Direction Input, Get, IRQ Mask, IRQ
/// Unmask and IRQ Event.
struct which_request {
  std::uint8_t which;
};
/// Direction Output and Set: the line and its level (0 low, 1 high).
struct which_value_request {
  std::uint8_t which;
  std::uint8_t value;
};
struct get_direction_response {
  std::uint8_t direction;  ///< enum direction
};
struct get_value_response {
  std::uint8_t value;
};
struct set_debounce_request {
  std::uint8_t which;
  le16 usec;  ///< 0 = off
};
struct irq_type_request {
  std::uint8_t which;
  std::uint8_t type;  ///< enum irq_type
};

static_assert(sizeof(line_count_response) == 1 && offsetof(line_count_response, count) == 0,
              "greybus §6.1: line count response is u8 count");
static_assert(sizeof(which_request) == 1 && offsetof(which_request, which) == 0,
              "greybus §6.1: u8 which");
static_assert(sizeof(which_value_request) == 2 && offsetof(which_value_request, which) == 0 &&
                  offsetof(which_value_request, value) == 1,
              "greybus §6.1: u8 which, u8 value");
static_assert(sizeof(get_direction_response) == 1 && sizeof(get_value_response) == 1,
              "greybus §6.1: u8 direction / u8 value");
static_assert(sizeof(set_debounce_request) == 3 && alignof(set_debounce_request) == 1 &&
                  offsetof(set_debounce_request, which) == 0 &&
                  offsetof(set_debounce_request, usec) == 1,
              "greybus §6.1: set debounce is u8 which, le16 usec");
static_assert(sizeof(irq_type_request) == 2 && offsetof(irq_type_request, which) == 0 &&
                  offsetof(irq_type_request, type) == 1,
              "greybus §6.1: irq type is u8 which, u8 type");
static_assert(std::is_trivially_copyable_v<set_debounce_request> &&
              std::is_standard_layout_v<set_debounce_request>);

using cport_shutdown = greybus::cport_shutdown<protocol>;

struct line_count : operation<protocol, 0x02, empty, line_count_response> {
  static constexpr std::string_view name = "line_count";
};
struct activate : operation<protocol, 0x03, which_request, empty> {
  static constexpr std::string_view name = "activate";
};
struct deactivate : operation<protocol, 0x04, which_request, empty> {
  static constexpr std::string_view name = "deactivate";
};
struct get_direction : operation<protocol, 0x05, which_request, get_direction_response> {
  static constexpr std::string_view name = "get_direction";
};
struct direction_in : operation<protocol, 0x06, which_request, empty> {
  static constexpr std::string_view name = "direction_in";
};
struct direction_out : operation<protocol, 0x07, which_value_request, empty> {
  static constexpr std::string_view name = "direction_out";
};
struct get_value : operation<protocol, 0x08, which_request, get_value_response> {
  static constexpr std::string_view name = "get_value";
};
struct set_value : operation<protocol, 0x09, which_value_request, empty> {
  static constexpr std::string_view name = "set_value";
};
struct set_debounce : operation<protocol, 0x0a, set_debounce_request, empty> {
  static constexpr std::string_view name = "set_debounce";
};
struct irq_type_op : operation<protocol, 0x0b, irq_type_request, empty> {
  static constexpr std::string_view name = "irq_type";
};
struct irq_mask : operation<protocol, 0x0c, which_request, empty> {
  static constexpr std::string_view name = "irq_mask";
};
struct irq_unmask : operation<protocol, 0x0d, which_request, empty> {
  static constexpr std::string_view name = "irq_unmask";
};
/// Module to AP, unidirectional (id 0). The module masks the line before sending it.
struct irq_event : unidirectional_operation<protocol, 0x0e, which_request> {
  static constexpr std::string_view name = "irq_event";
};

using operations =
    operation_list<cport_shutdown, line_count, activate, deactivate, get_direction, direction_in,
                   direction_out, get_value, set_value, set_debounce, irq_type_op, irq_mask,
                   irq_unmask, irq_event>;

/// Whether `which` names a line of a controller whose Line Count answer was `count` (Linux keeps
/// count as line_max and refuses which > line_max). A module answers a failure with
/// GB_OP_INVALID (status_for()). Errors: greybus_index_out_of_range.
[[nodiscard]] constexpr result<void> check_line(std::uint8_t which,
                                                line_count_response count) noexcept {
  if (which > count.count) return errc::greybus_index_out_of_range;
  return ok();
}

}  // namespace gpio
}  // namespace greybus
VIREO_NAMESPACE_END
