// SPDX-License-Identifier: Apache-2.0
// Wire structs and flag values of the packed virtqueue (virtio 1.3 §2.8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "vireo/core/endian.hpp"
#include "vireo/ring/split_wire.hpp"  // desc_flag: NEXT, WRITE, INDIRECT are shared

VIREO_NAMESPACE_BEGIN
namespace ring {

/// The packed-only descriptor flag bits (§2.8.1). Linux names them by bit number
/// (VRING_PACKED_DESC_F_AVAIL = 7, _USED = 15); these are the masks.
namespace packed_flag {
inline constexpr std::uint16_t avail = 1u << 7;
inline constexpr std::uint16_t used = 1u << 15;
/// AVAIL/USED as the driver writes them to make a slot available in wrap phase `wrap`.
[[nodiscard]] constexpr std::uint16_t avail_marks(bool wrap) noexcept {
  return wrap ? avail : used;
}
/// AVAIL/USED as the device writes them to mark a slot used in wrap phase `wrap`.
[[nodiscard]] constexpr std::uint16_t used_marks(bool wrap) noexcept {
  return wrap ? static_cast<std::uint16_t>(avail | used) : 0;
}
/// §2.8.1: a slot is available to a device expecting phase `wrap` when AVAIL != USED and
/// AVAIL == wrap.
[[nodiscard]] constexpr bool is_avail(std::uint16_t flags, bool wrap) noexcept {
  const bool a = (flags & avail) != 0, u = (flags & used) != 0;
  return a != u && a == wrap;
}
/// §2.8.1: a slot is used for a driver expecting phase `wrap` when AVAIL == USED == wrap.
[[nodiscard]] constexpr bool is_used(std::uint16_t flags, bool wrap) noexcept {
  const bool a = (flags & avail) != 0, u = (flags & used) != 0;
  return a == u && u == wrap;
}
}  // namespace packed_flag

/// Event-suppression `flags` values (RING_EVENT_FLAGS_*, §2.8.10). 3 is reserved.
namespace event_flag {
inline constexpr std::uint16_t enable = 0;
inline constexpr std::uint16_t disable = 1;
inline constexpr std::uint16_t desc = 2;  ///< only with VIRTIO_F_EVENT_IDX
}  // namespace event_flag

/// struct pvirtq_desc (§2.8.13). Note: id then flags, and no `next` (lists are consecutive).
struct packed_desc {
  le64 addr;
  le32 len;
  le16 id;
  le16 flags;
};
static_assert(sizeof(packed_desc) == 16, "virtio 1.3 §2.8.13: pvirtq_desc is 16 bytes");
static_assert(alignof(packed_desc) == 1);
static_assert(offsetof(packed_desc, addr) == 0 && offsetof(packed_desc, len) == 8 &&
                  offsetof(packed_desc, id) == 12 && offsetof(packed_desc, flags) == 14,
              "virtio 1.3 §2.8.13: pvirtq_desc field offsets");
static_assert(std::is_trivially_copyable_v<packed_desc> && std::is_standard_layout_v<packed_desc>);

/// struct pvirtq_event_suppress (§2.8.14): off_wrap = slot offset (bits 0-14) | wrap (bit 15).
struct packed_event {
  le16 off_wrap;
  le16 flags;
};
static_assert(sizeof(packed_event) == 4, "virtio 1.3 §2.8.14: pvirtq_event_suppress is 4 bytes");
static_assert(offsetof(packed_event, off_wrap) == 0 && offsetof(packed_event, flags) == 2);

/// Packing and unpacking of the `off | wrap << 15` encoding used by off_wrap and by
/// NOTIFICATION_DATA's next_off/next_wrap.
[[nodiscard]] constexpr std::uint16_t make_off_wrap(std::uint16_t off, bool wrap) noexcept {
  return static_cast<std::uint16_t>((off & 0x7fffu) | (wrap ? 0x8000u : 0u));
}
[[nodiscard]] constexpr std::uint16_t off_of(std::uint16_t off_wrap) noexcept {
  return off_wrap & 0x7fffu;
}
[[nodiscard]] constexpr bool wrap_of(std::uint16_t off_wrap) noexcept {
  return (off_wrap & 0x8000u) != 0;
}

static_assert(packed_flag::is_avail(packed_flag::avail_marks(true), true));
static_assert(packed_flag::is_avail(packed_flag::avail_marks(false), false));
static_assert(!packed_flag::is_avail(packed_flag::avail_marks(false), true));
static_assert(packed_flag::is_used(packed_flag::used_marks(true), true));
static_assert(!packed_flag::is_used(0, true));  // a zeroed ring is not used in phase 1 (§2.8.1)
static_assert(!packed_flag::is_avail(0, true) && !packed_flag::is_avail(0, false));

}  // namespace ring
VIREO_NAMESPACE_END
