// SPDX-License-Identifier: Apache-2.0
// The I2C targets a host back-end lets a guest reach: a fixed-size set of 7-bit and 10-bit
// addresses (two bitmaps, 144 bytes, no heap). Empty means nothing is reachable.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>

#include "vireo/core/result.hpp"
#include "vireo/i2c/address.hpp"

VIREO_NAMESPACE_BEGIN
namespace linux_host {

/// A set of I2C target addresses. The guest sees only what it is given: a default-constructed
/// list allows nothing. 7-bit and 10-bit addresses are distinct (0x50 and 10-bit 0x050 are two
/// targets), as they are on the bus.
class i2c_allow_list {
 public:
  constexpr i2c_allow_list() noexcept = default;

  /// A list holding `targets`. Errors: i2c_address_reserved (see allow()).
  [[nodiscard]] static constexpr result<i2c_allow_list> of(
      std::span<const i2c::address> targets) noexcept {
    i2c_allow_list list;
    for (const i2c::address& a : targets) VIREO_TRY(list.allow(a));
    return list;
  }
  [[nodiscard]] static constexpr result<i2c_allow_list> of(
      std::initializer_list<i2c::address> targets) noexcept {
    return of(std::span<const i2c::address>{targets.begin(), targets.size()});
  }

  /// Add `a`. Errors: i2c_address_reserved for a reserved 7-bit address (UM10204 table 4): a
  /// general call or a device-ID read reaches targets other than the one named, so allowing one
  /// would let the guest reach every target (i2c::check_target).
  [[nodiscard]] constexpr result<void> allow(i2c::address a) noexcept {
    VIREO_TRY(i2c::check_target(a));
    set_bit(a);
    return ok();
  }

  [[nodiscard]] constexpr bool contains(i2c::address a) const noexcept {
    const std::uint16_t v = a.value();  // in range for its mode: address's invariant
    const std::uint64_t word = a.is_ten_bit() ? ten_bit_[v / 64] : seven_bit_[v / 64];
    return ((word >> (v % 64)) & 1u) != 0;
  }

  [[nodiscard]] constexpr std::size_t size() const noexcept {
    std::size_t n = 0;
    for (std::uint64_t w : seven_bit_) n += static_cast<std::size_t>(std::popcount(w));
    for (std::uint64_t w : ten_bit_) n += static_cast<std::size_t>(std::popcount(w));
    return n;
  }
  [[nodiscard]] constexpr bool empty() const noexcept { return size() == 0; }

  /// Call `f(address) -> result<void>` for every address, 7-bit ones first, each mode in
  /// ascending order; stop at and return the first error.
  template <typename F>
  [[nodiscard]] constexpr result<void> for_each(F&& f) const noexcept(noexcept(f(
      i2c::address::seven_bit(0).value()))) {
    for (std::uint16_t v = 0; v <= i2c::address::max_7bit; ++v) {
      const i2c::address a = i2c::address::seven_bit(v).value();
      if (contains(a)) VIREO_TRY(f(a));
    }
    for (std::uint16_t v = 0; v <= i2c::address::max_10bit; ++v) {
      const i2c::address a = i2c::address::ten_bit(v).value();
      if (contains(a)) VIREO_TRY(f(a));
    }
    return ok();
  }

  friend constexpr bool operator==(const i2c_allow_list&, const i2c_allow_list&) noexcept =
      default;

 private:
  constexpr void set_bit(i2c::address a) noexcept {
    const std::uint16_t v = a.value();
    const std::uint64_t bit = std::uint64_t{1} << (v % 64);
    if (a.is_ten_bit()) ten_bit_[v / 64] |= bit;
    else seven_bit_[v / 64] |= bit;
  }

  std::array<std::uint64_t, (i2c::address::max_7bit + 1) / 64> seven_bit_{};   // 128 bits
  std::array<std::uint64_t, (i2c::address::max_10bit + 1) / 64> ten_bit_{};    // 1024 bits
};

}  // namespace linux_host
VIREO_NAMESPACE_END
