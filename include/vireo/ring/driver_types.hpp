// SPDX-License-Identifier: Apache-2.0
// What a driver queue (split or packed) takes and gives back: buffers, add modes, used buffers.
#pragma once

#include <cstdint>

#include "vireo/core/guest_memory.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// A driver buffer: a guest range handed to the device.
struct buffer {
  gpa addr{};
  std::uint32_t len = 0;
};

/// Where the driver keeps indirect tables: one table of `entries_per_table` descriptors per
/// head (split) or buffer id (packed), table h at base + h * entries_per_table * 16.
/// entries_per_table 0 = no indirect.
struct indirect_pool {
  gpa base{};
  std::uint16_t entries_per_table = 0;
};

/// How add() lays a chain out.
enum class add_mode : std::uint8_t {
  automatic,  ///< direct if enough descriptors are free, else indirect (when a pool exists)
  direct,
  indirect,
};

/// What a driver does with a used length above the buffer's writable bytes, which a device MUST
/// NOT report (§2.7.8.2, §2.8.4).
enum class used_len_mode : std::uint8_t {
  strict,  ///< the device broke the protocol: the queue breaks (used_len_too_large)
  clamp,   ///< take the writable length instead and count it (clamped_used_lens()): what a
           ///< driver needs to work with such devices (rust-vmm's vhost-device-i2c reports
           ///< 1 + len for a write); Linux's virtio_ring does not check the length at all
};

/// A buffer the device has completed.
struct used_buffer {
  std::uint16_t id = 0;        ///< what add() returned (split: the head; packed: the buffer id)
  std::uint32_t len = 0;       ///< bytes the device wrote (§2.7.8: trust no byte beyond it)
  std::uint64_t user_data = 0; ///< what add() was given
};

}  // namespace ring
VIREO_NAMESPACE_END
