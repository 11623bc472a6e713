// SPDX-License-Identifier: Apache-2.0
// Wire constants and structs of the virtio GPIO device (virtio spec §5.18), the protocol that
// Linux's gpio-virtio driver speaks (merged for v5.15; IRQ support late 2021). Data only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "vireo/core/endian.hpp"

VIREO_NAMESPACE_BEGIN
namespace gpio {

/// Virtio device ID of a GPIO device (§5.18.1; Linux VIRTIO_ID_GPIO). PCI device ID 0x1069.
inline constexpr std::uint16_t device_id = 41;

/// Device feature bits (§5.18.3). A gpio::feature works with vireo::feature_set.
enum class feature : std::uint8_t {
  irq = 0,  ///< VIRTIO_GPIO_F_IRQ: interrupts on lines; enables the eventq
};

/// Virtqueue indices (§5.18.2). The eventq exists only with VIRTIO_GPIO_F_IRQ negotiated.
enum class queue : std::uint16_t {
  requestq = 0,
  eventq = 1,
};

/// VIRTIO_GPIO_MSG_* (§5.18.6). Linux names 1 and 6 GET_NAMES and IRQ_TYPE; the values agree.
enum class msg_type : std::uint16_t {
  get_line_names = 0x0001,
  get_direction = 0x0002,
  set_direction = 0x0003,
  get_value = 0x0004,
  set_value = 0x0005,
  set_irq_type = 0x0006,
};

/// VIRTIO_GPIO_DIRECTION_* (§5.18.6): SET_DIRECTION's request value, GET_DIRECTION's reply.
enum class direction : std::uint8_t {
  none = 0x00,  ///< deactivated: the device drops all state of the line (§5.18.6.9)
  out = 0x01,
  in = 0x02,
};

/// A line level (§5.18.6.4-5: "0 = low, 1 = high"; the spec gives the values no macro names).
enum class level : std::uint8_t {
  low = 0,
  high = 1,
};

/// VIRTIO_GPIO_IRQ_TYPE_* (§5.18.6). Bit-like values: 5, 6, 7 and 9 and up are invalid.
enum class irq_type : std::uint8_t {
  none = 0x00,  ///< disables the line's interrupt
  edge_rising = 0x01,
  edge_falling = 0x02,
  edge_both = 0x03,  ///< = edge_rising | edge_falling
  level_high = 0x04,
  level_low = 0x08,
};

/// VIRTIO_GPIO_STATUS_* of a requestq response (§5.18.6).
enum class status : std::uint8_t {
  ok = 0x0,
  err = 0x1,
};

/// VIRTIO_GPIO_IRQ_STATUS_* of an eventq response (§5.18.7).
enum class irq_status : std::uint8_t {
  invalid = 0x0,  ///< the pair comes back unused: the interrupt is disabled or was never enabled
  valid = 0x1,    ///< an interrupt occurred on the line
};

namespace wire {

/// struct virtio_gpio_config (§5.18.4). 8 bytes; naturally aligned, so Linux's old __packed made
/// no difference.
struct config {
  le16 ngpio;                  ///< number of lines; Linux refuses 0
  std::uint8_t padding[2];     ///< reserved; the device sets it to zero
  le32 gpio_names_size;        ///< size of the names blob; 0 = names not supported
};
static_assert(sizeof(config) == 8, "virtio §5.18.4: virtio_gpio_config is 8 bytes");
static_assert(alignof(config) == 1);
static_assert(offsetof(config, ngpio) == 0 && offsetof(config, padding) == 2 &&
                  offsetof(config, gpio_names_size) == 4,
              "virtio §5.18.4: virtio_gpio_config field offsets");
static_assert(std::is_trivially_copyable_v<config> && std::is_standard_layout_v<config>);

/// struct virtio_gpio_request (§5.18.6): the device-readable buffer of every requestq message.
struct request {
  le16 type;   ///< msg_type
  le16 gpio;   ///< line, 0 <= gpio < ngpio (0 for GET_LINE_NAMES)
  le32 value;  ///< message-specific
};
static_assert(sizeof(request) == 8, "virtio §5.18.6: virtio_gpio_request is 8 bytes");
static_assert(alignof(request) == 1);
static_assert(offsetof(request, type) == 0 && offsetof(request, gpio) == 2 &&
                  offsetof(request, value) == 4,
              "virtio §5.18.6: virtio_gpio_request field offsets");
static_assert(std::is_trivially_copyable_v<request> && std::is_standard_layout_v<request>);

/// struct virtio_gpio_response (§5.18.6): the reply to every message but GET_LINE_NAMES.
struct response {
  std::uint8_t status;  ///< status
  std::uint8_t value;   ///< message-specific
};
static_assert(sizeof(response) == 2, "virtio §5.18.6: virtio_gpio_response is 2 bytes");
static_assert(alignof(response) == 1);
static_assert(offsetof(response, status) == 0 && offsetof(response, value) == 1,
              "virtio §5.18.6: virtio_gpio_response field offsets");
static_assert(std::is_trivially_copyable_v<response> && std::is_standard_layout_v<response>);

/// The fixed head of struct virtio_gpio_response_N (§5.18.6.1), GET_LINE_NAMES's reply: this
/// status byte, then `u8 value[N]` with N = gpio_names_size (the names blob).
struct names_response_header {
  std::uint8_t status;
};
static_assert(sizeof(names_response_header) == 1,
              "virtio §5.18.6.1: virtio_gpio_response_N starts with a 1-byte status");
static_assert(std::is_trivially_copyable_v<names_response_header> &&
              std::is_standard_layout_v<names_response_header>);

/// struct virtio_gpio_irq_request (§5.18.7): the device-readable half of an eventq pair.
struct irq_request {
  le16 gpio;
};
static_assert(sizeof(irq_request) == 2, "virtio §5.18.7: virtio_gpio_irq_request is 2 bytes");
static_assert(alignof(irq_request) == 1 && offsetof(irq_request, gpio) == 0,
              "virtio §5.18.7: virtio_gpio_irq_request layout");
static_assert(std::is_trivially_copyable_v<irq_request> && std::is_standard_layout_v<irq_request>);

/// struct virtio_gpio_irq_response (§5.18.7): the device-writable half of an eventq pair.
struct irq_response {
  std::uint8_t status;  ///< irq_status
};
static_assert(sizeof(irq_response) == 1, "virtio §5.18.7: virtio_gpio_irq_response is 1 byte");
static_assert(std::is_trivially_copyable_v<irq_response> &&
              std::is_standard_layout_v<irq_response>);

}  // namespace wire
}  // namespace gpio
VIREO_NAMESPACE_END
