// SPDX-License-Identifier: Apache-2.0
// Wire integers stored as byte arrays: alignment 1, explicit byte order, no implicit arithmetic.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "vireo/core/config.hpp"

VIREO_NAMESPACE_BEGIN

enum class byte_order : std::uint8_t { little, big };

/// The byte order of the machine compiling this code (vhost-user messages use it).
inline constexpr byte_order native_order =
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    byte_order::big;
#else
    byte_order::little;
#endif

/// An unsigned integer of `sizeof(T)` bytes kept in `Order` inside a byte array, so that a wire
/// struct built from these has no padding, alignment 1 and a layout fixed by the protocol.
/// Loads and stores are byte assembly, which compilers turn into one (possibly swapped) move.
template <typename T, byte_order Order>
struct endian_int {
  static_assert(std::is_unsigned_v<T>, "wire integers are unsigned; the protocol gives meaning");
  using value_type = T;
  unsigned char bytes[sizeof(T)];

  [[nodiscard]] constexpr T get() const noexcept {
    // Native order: the bytes are the value (one load; GCC -O2 does not fold the loop below).
    if constexpr (Order == native_order) return std::bit_cast<T>(bytes);
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      const std::size_t shift = Order == byte_order::little ? i : sizeof(T) - 1 - i;
      v = static_cast<T>(v | static_cast<T>(static_cast<T>(bytes[i]) << (8 * shift)));
    }
    return v;
  }

  constexpr void set(T v) noexcept {
    if constexpr (Order == native_order) {
      *this = std::bit_cast<endian_int>(v);
      return;
    }
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      const std::size_t shift = Order == byte_order::little ? i : sizeof(T) - 1 - i;
      bytes[i] = static_cast<unsigned char>(v >> (8 * shift));
    }
  }

  [[nodiscard]] static constexpr endian_int from(T v) noexcept {
    endian_int e{};
    e.set(v);
    return e;
  }

  friend constexpr bool operator==(const endian_int& a, const endian_int& b) noexcept {
    return a.get() == b.get();
  }
};

using le16 = endian_int<std::uint16_t, byte_order::little>;
using le32 = endian_int<std::uint32_t, byte_order::little>;
using le64 = endian_int<std::uint64_t, byte_order::little>;
using be16 = endian_int<std::uint16_t, byte_order::big>;
using be32 = endian_int<std::uint32_t, byte_order::big>;
using be64 = endian_int<std::uint64_t, byte_order::big>;
using ne16 = endian_int<std::uint16_t, native_order>;
using ne32 = endian_int<std::uint32_t, native_order>;
using ne64 = endian_int<std::uint64_t, native_order>;

static_assert(sizeof(le16) == 2 && alignof(le16) == 1);
static_assert(sizeof(le32) == 4 && alignof(le32) == 1);
static_assert(sizeof(le64) == 8 && alignof(le64) == 1);
static_assert(std::is_trivially_copyable_v<le64> && std::is_standard_layout_v<le64>);

VIREO_NAMESPACE_END
