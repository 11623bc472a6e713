// SPDX-License-Identifier: Apache-2.0
// Wire structs and flag values of the split virtqueue (virtio 1.3 §2.7).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "vireo/core/endian.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// Descriptor flag bits shared by both layouts (VIRTQ_DESC_F_*; §2.7.5, §2.8.3).
namespace desc_flag {
inline constexpr std::uint16_t next = 1;
inline constexpr std::uint16_t write = 2;
inline constexpr std::uint16_t indirect = 4;
}  // namespace desc_flag

/// VIRTQ_AVAIL_F_NO_INTERRUPT: driver asks for no used-buffer notifications (§2.7.7).
namespace avail_flag {
inline constexpr std::uint16_t no_interrupt = 1;
}
/// VIRTQ_USED_F_NO_NOTIFY: device asks for no available-buffer notifications (§2.7.10).
namespace used_flag {
inline constexpr std::uint16_t no_notify = 1;
}

/// struct virtq_desc (§2.7.5).
struct split_desc {
  le64 addr;
  le32 len;
  le16 flags;
  le16 next;
};
static_assert(sizeof(split_desc) == 16, "virtio 1.3 §2.7.5: virtq_desc is 16 bytes");
static_assert(alignof(split_desc) == 1);
static_assert(offsetof(split_desc, addr) == 0 && offsetof(split_desc, len) == 8 &&
                  offsetof(split_desc, flags) == 12 && offsetof(split_desc, next) == 14,
              "virtio 1.3 §2.7.5: virtq_desc field offsets");
static_assert(std::is_trivially_copyable_v<split_desc> && std::is_standard_layout_v<split_desc>);

/// struct virtq_used_elem (§2.7.8). `id` is 32 bits only for padding; heads are < queue size.
struct split_used_elem {
  le32 id;
  le32 len;
};
static_assert(sizeof(split_used_elem) == 8, "virtio 1.3 §2.7.8: virtq_used_elem is 8 bytes");
static_assert(offsetof(split_used_elem, id) == 0 && offsetof(split_used_elem, len) == 4,
              "virtio 1.3 §2.7.8: virtq_used_elem field offsets");
static_assert(std::is_trivially_copyable_v<split_used_elem> &&
              std::is_standard_layout_v<split_used_elem>);

}  // namespace ring
VIREO_NAMESPACE_END
