// SPDX-License-Identifier: Apache-2.0
// VIRTIO_F_NOTIFICATION_DATA: the 32-bit value a driver writes when it notifies a queue (§2.9).
#pragma once

#include <cstdint>

#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// What an available-buffer notification carries with VIRTIO_F_NOTIFICATION_DATA (virtio 1.3
/// §2.9; PCI §4.1.5.2, MMIO §4.2.3.3). `queue` is the queue index, or the device-supplied
/// queue_notif_config_data with VIRTIO_F_NOTIF_CONFIG_DATA. `next` is `next_off | next_wrap << 15`:
///  - split: the driver's new avail idx (all 16 bits: next_off is its low 15, next_wrap bit 15);
///  - packed: the ring slot where the next descriptor will be made available, with the driver's
///    wrap counter for that slot in bit 15.
/// Both drivers' avail_index() return exactly this `next`, and both layouts pack it the same way.
struct notification_data {
  std::uint16_t queue = 0;
  std::uint16_t next = 0;

  [[nodiscard]] constexpr std::uint16_t next_off() const noexcept { return next & 0x7fffu; }
  [[nodiscard]] constexpr bool next_wrap() const noexcept { return (next & 0x8000u) != 0; }
  friend constexpr bool operator==(notification_data, notification_data) noexcept = default;
};

/// The 32-bit value to write (bits 0-15 queue, 16-30 next_off, 31 next_wrap). The register is
/// little-endian on PCI and MMIO; a transport stores this value with its own endianness.
[[nodiscard]] constexpr std::uint32_t encode_notification(notification_data n) noexcept {
  return std::uint32_t{n.queue} | (std::uint32_t{n.next} << 16);
}

/// Split the 32-bit value back into its fields (any value decodes).
[[nodiscard]] constexpr notification_data decode_notification(std::uint32_t raw) noexcept {
  return {static_cast<std::uint16_t>(raw & 0xffffu), static_cast<std::uint16_t>(raw >> 16)};
}

/// Check a decoded notification against the queue it claims to be for, as a device must before
/// using next as a hint: the queue must exist, and on a packed ring next_off must name a slot
/// (< size). The split avail idx is free-running, so any 16-bit value is well formed; how far
/// it lies ahead is the queue's business (split_device treats avail.idx itself as the truth).
/// Errors: notification_data_invalid.
[[nodiscard]] constexpr result<notification_data> validate_notification(
    notification_data n, std::uint32_t queue_count, std::uint16_t queue_size,
    bool packed) noexcept {
  if (n.queue >= queue_count) return errc::notification_data_invalid;
  if (packed && n.next_off() >= queue_size) return errc::notification_data_invalid;
  return n;
}

static_assert(encode_notification({3, 0x8005}) == 0x80050003u);
static_assert(decode_notification(0x80050003u) == notification_data{3, 0x8005});
static_assert(decode_notification(0x80050003u).next_off() == 5 &&
              decode_notification(0x80050003u).next_wrap());

}  // namespace ring
VIREO_NAMESPACE_END
