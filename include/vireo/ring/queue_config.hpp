// SPDX-License-Identifier: Apache-2.0
// Where a queue lives and what was negotiated for it: the input to configure() on either side.
#pragma once

#include <cstdint>

#include "vireo/core/features.hpp"
#include "vireo/core/guest_memory.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// The three areas of a virtqueue (virtio 1.3 §2.6) and its negotiated features.
/// Split: descriptor table, available ring (driver area), used ring (device area).
/// Packed: descriptor ring, driver event suppression, device event suppression.
struct queue_config {
  std::uint16_t size = 0;  ///< number of descriptors, 1..32768 (split: a power of two)
  gpa desc_table{};
  gpa driver_area{};
  gpa device_area{};
  feature_set features{};  ///< negotiated (transport) features that apply to this queue
};

/// A device queue's position, to save and restore (vhost-user GET/SET_VRING_BASE, migration).
/// Split: free-running indices. Packed: `slot | wrap_counter << 15` for each cursor (what QEMU
/// carries in the two halves of the vring base for packed rings).
struct queue_state {
  std::uint16_t next_avail = 0;
  std::uint16_t used_idx = 0;
  friend constexpr bool operator==(queue_state, queue_state) noexcept = default;
};

}  // namespace ring
VIREO_NAMESPACE_END
