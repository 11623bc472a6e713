// SPDX-License-Identifier: Apache-2.0
// The guest_memory concept: how rings and chains reach guest memory, whatever the hypervisor.
#pragma once

#include <atomic>
#include <compare>
#include <concepts>
#include <cstddef>
#include <cstdint>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN

/// A guest-physical address. A distinct type (not an integer, never a pointer) so that guest
/// addresses cannot be dereferenced or mixed up with host offsets by accident.
class gpa {
 public:
  /// Like a built-in integer, a default-initialised gpa is indeterminate (so arrays of segments
  /// cost nothing to create); `gpa{}` is address 0.
  constexpr gpa() noexcept = default;
  constexpr explicit gpa(std::uint64_t value) noexcept : value_(value) {}

  [[nodiscard]] constexpr std::uint64_t raw() const noexcept { return value_; }

  /// `*this + n`. Errors: address_overflow when the sum passes 2^64 - 1.
  [[nodiscard]] constexpr result<gpa> checked_add(std::uint64_t n) const noexcept {
    if (n > UINT64_MAX - value_) return errc::address_overflow;
    return gpa{value_ + n};
  }
  /// `*this + n` for offsets already proven in range (ring areas validated at set-up).
  [[nodiscard]] constexpr gpa offset(std::uint64_t n) const noexcept { return gpa{value_ + n}; }

  friend constexpr auto operator<=>(gpa, gpa) noexcept = default;

 private:
  std::uint64_t value_;
};

/// The direction of an access, seen from the side that performs it.
enum class access : std::uint8_t { read = 1, write = 2, read_write = 3 };

[[nodiscard]] constexpr bool allows(access granted, access wanted) noexcept {
  return (static_cast<unsigned>(granted) & static_cast<unsigned>(wanted)) ==
         static_cast<unsigned>(wanted);
}

/// True when [start, start + len) fits in [0, size): compares start, then len against what is
/// left, so nothing can wrap (the L4Re-style check).
[[nodiscard]] constexpr bool range_fits(std::uint64_t start, std::uint64_t len,
                                        std::uint64_t size) noexcept {
  return start <= size && len <= size - start;
}

/// How rings, chains and device models reach guest memory. Every operation checks bounds and
/// overflow when it happens and returns a result; none throws, allocates or blocks.
///  - read/write: copy access to any range inside guest memory (may span regions).
///  - map: a zero-copy host view of a range that lies inside one region; errc::not_contiguous
///    when the range is valid but spans regions (callers then fall back to read/write),
///    errc::out_of_bounds / address_overflow / access_denied otherwise. A zero-length map of an
///    address inside memory succeeds with an empty view.
///  - load_u16/store_u16: a little-endian 16-bit ring field with an explicit memory order;
///    errc::misaligned unless the address is 2-aligned.
/// A view returned by map stays valid until the memory layout changes (e.g. a vhost-user
/// SET_MEM_TABLE); the guest may change the bytes behind it at any time.
template <typename M>
concept guest_memory = requires(M& m, gpa a, std::size_t n, bytes out, const_bytes in,
                                std::uint16_t v, std::memory_order order, access acc) {
  { m.read(a, out) } noexcept -> std::same_as<result<void>>;
  { m.write(a, in) } noexcept -> std::same_as<result<void>>;
  { m.map(a, n, acc) } noexcept -> std::same_as<result<bytes>>;
  { m.load_u16(a, order) } noexcept -> std::same_as<result<std::uint16_t>>;
  { m.store_u16(a, v, order) } noexcept -> std::same_as<result<void>>;
};

VIREO_NAMESPACE_END
