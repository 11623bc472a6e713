// SPDX-License-Identifier: Apache-2.0
// Mapping a ring area once at set-up: alignment and contiguity checks shared by every queue.
#pragma once

#include "vireo/core/atomic_le.hpp"
#include "vireo/core/guest_memory.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring::detail {

/// Map [at, at + len) as one host view whose guest address and host address are both aligned to
/// `align`. Ring areas are touched on every operation, so they must lie in one region (as in
/// vhost and QEMU); they are mapped once and re-mapped only when the memory layout changes.
/// Errors: ring_misaligned, ring_not_mapped.
template <guest_memory Memory>
[[nodiscard]] result<std::byte*> map_ring_area(Memory& mem, gpa at, std::size_t len,
                                               std::size_t align, access acc) noexcept {
  if ((at.raw() & (align - 1)) != 0) return errc::ring_misaligned;
  auto view = mem.map(at, len, acc);
  if (!view || view->size() != len) return errc::ring_not_mapped;
  if (!vireo::detail::is_aligned(view->data(), align)) return errc::ring_misaligned;
  return view->data();
}

/// A 16-bit little-endian ring field (index, flags, event) in a mapped ring area.
[[nodiscard]] VIREO_ALWAYS_INLINE std::uint16_t load16(const std::byte* p,
                                                       std::memory_order o) noexcept {
  return vireo::detail::atomic_load_le16(p, o);
}
VIREO_ALWAYS_INLINE void store16(std::byte* p, std::uint16_t v, std::memory_order o) noexcept {
  vireo::detail::atomic_store_le16(p, v, o);
}

}  // namespace ring::detail
VIREO_NAMESPACE_END
