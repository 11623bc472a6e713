// SPDX-License-Identifier: Apache-2.0
// constexpr sizes, alignments and offsets of the split and packed ring areas (virtio 1.3 §2.7, §2.8).
#pragma once

#include <cstddef>
#include <cstdint>

#include "vireo/core/config.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// Largest queue size either layout allows (virtio 1.3 §2.7 and §2.8: 32768).
inline constexpr std::uint32_t max_queue_size = 32768;

namespace split_layout {
inline constexpr std::size_t desc_align = 16;   // §2.7.1 table
inline constexpr std::size_t avail_align = 2;
inline constexpr std::size_t used_align = 4;
inline constexpr std::size_t desc_size = 16;
inline constexpr std::size_t used_elem_size = 8;

[[nodiscard]] constexpr std::size_t desc_table_bytes(std::uint32_t n) noexcept { return 16u * n; }
/// flags, idx, ring[n], used_event.
[[nodiscard]] constexpr std::size_t avail_bytes(std::uint32_t n) noexcept { return 6u + 2u * n; }
/// flags, idx, ring[n], avail_event.
[[nodiscard]] constexpr std::size_t used_bytes(std::uint32_t n) noexcept { return 6u + 8u * n; }

inline constexpr std::size_t avail_flags = 0;
inline constexpr std::size_t avail_idx = 2;
[[nodiscard]] constexpr std::size_t avail_ring(std::uint32_t i) noexcept { return 4u + 2u * i; }
[[nodiscard]] constexpr std::size_t used_event(std::uint32_t n) noexcept { return 4u + 2u * n; }

inline constexpr std::size_t used_flags = 0;
inline constexpr std::size_t used_idx = 2;
[[nodiscard]] constexpr std::size_t used_ring(std::uint32_t i) noexcept { return 4u + 8u * i; }
[[nodiscard]] constexpr std::size_t avail_event(std::uint32_t n) noexcept { return 4u + 8u * n; }

/// Split queue sizes are powers of two in 1..32768 (§2.7; Linux refuses others).
[[nodiscard]] constexpr bool valid_size(std::uint32_t n) noexcept {
  return n != 0 && n <= max_queue_size && (n & (n - 1)) == 0;
}
}  // namespace split_layout

namespace packed_layout {
inline constexpr std::size_t desc_align = 16;   // §2.8.11
inline constexpr std::size_t event_align = 4;
inline constexpr std::size_t desc_size = 16;
inline constexpr std::size_t event_bytes = 4;
[[nodiscard]] constexpr std::size_t desc_ring_bytes(std::uint32_t n) noexcept { return 16u * n; }
[[nodiscard]] constexpr std::size_t desc_offset(std::uint32_t slot) noexcept { return 16u * slot; }
inline constexpr std::size_t desc_id = 12;     ///< offset of `id` in a descriptor
inline constexpr std::size_t desc_flags = 14;  ///< offset of `flags` in a descriptor
inline constexpr std::size_t event_off_wrap = 0;
inline constexpr std::size_t event_flags = 2;
/// Packed queue sizes need not be powers of two: 1..32768 (§2.8).
[[nodiscard]] constexpr bool valid_size(std::uint32_t n) noexcept {
  return n != 0 && n <= max_queue_size;
}
}  // namespace packed_layout

static_assert(split_layout::avail_bytes(256) == 518);
static_assert(split_layout::used_bytes(256) == 2054);
static_assert(split_layout::avail_event(256) == 2052);

}  // namespace ring
VIREO_NAMESPACE_END
