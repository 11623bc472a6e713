// SPDX-License-Identifier: Apache-2.0
// Atomic little-endian 16-bit loads and stores on host memory shared with the other side.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "vireo/core/config.hpp"

VIREO_NAMESPACE_BEGIN
namespace detail {

[[nodiscard]] constexpr std::uint16_t le16_to_host(std::uint16_t v) noexcept {
  if constexpr (std::endian::native == std::endian::big)
    return static_cast<std::uint16_t>((v >> 8) | (v << 8));
  return v;
}

/// Precondition: `p` is 2-aligned (ring set-up checks this once).
[[nodiscard]] VIREO_ALWAYS_INLINE std::uint16_t atomic_load_le16(const std::byte* p,
                                                                 std::memory_order order) noexcept {
  // The ring is shared with another agent: an atomic_ref load gives the ordering the spec asks
  // for (acquire for indices, relaxed for hints) and stops the compiler from tearing or
  // repeating the read.
  auto* word = const_cast<std::uint16_t*>(reinterpret_cast<const std::uint16_t*>(p));
  return le16_to_host(std::atomic_ref<std::uint16_t>(*word).load(order));
}

VIREO_ALWAYS_INLINE void atomic_store_le16(std::byte* p, std::uint16_t v,
                                           std::memory_order order) noexcept {
  auto* word = reinterpret_cast<std::uint16_t*>(p);
  std::atomic_ref<std::uint16_t>(*word).store(le16_to_host(v), order);
}

/// The full barrier the split ring needs between publishing an index and reading the other
/// side's suppression field (store -> load ordering). On x86 a locked RMW on the stack orders
/// like MFENCE for ordinary write-back memory and is much cheaper (Linux smp_mb(), DPDK
/// rte_smp_mb()); GCC already emits one for the fence below, clang emits MFENCE.
VIREO_ALWAYS_INLINE void full_fence() noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
  __asm__ __volatile__("lock orq $0, (%%rsp)" ::: "memory", "cc");
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

[[nodiscard]] inline bool is_aligned(const void* p, std::size_t a) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0;
}

}  // namespace detail
VIREO_NAMESPACE_END
