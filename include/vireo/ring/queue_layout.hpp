// SPDX-License-Identifier: Apache-2.0
// Split or packed: the layout a queue uses, and how negotiation picks it.
#pragma once

#include <cstdint>

#include "vireo/core/features.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// The two virtqueue layouts (virtio 1.3 §2.7 split, §2.8 packed).
enum class queue_layout : std::uint8_t { split, packed };

/// VIRTIO_F_RING_PACKED (bit 34) selects the packed layout for every queue of the device.
[[nodiscard]] constexpr queue_layout layout_of(const feature_set& negotiated) noexcept {
  return negotiated.has(transport_feature::ring_packed) ? queue_layout::packed : queue_layout::split;
}

}  // namespace ring
VIREO_NAMESPACE_END
