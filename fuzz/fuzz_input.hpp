// SPDX-License-Identifier: Apache-2.0
// What every fuzz target shares: the invariant check and a bounds-checked input consumer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <new>
#include <span>

/// An invariant of the code under test failed: report it and crash so libFuzzer keeps the input.
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond); \
      __builtin_trap();                                                                   \
    }                                                                                     \
  } while (0)

namespace vireo_fuzz {

/// Bounds-checked little-endian consumer: past the end every read yields zeros.
class byte_source {
 public:
  byte_source(const std::uint8_t* data, std::size_t size) noexcept : p_(data), n_(size) {}
  [[nodiscard]] bool empty() const noexcept { return n_ == 0; }
  std::uint8_t u8() noexcept {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  std::uint16_t u16() noexcept {
    const unsigned lo = u8();
    return static_cast<std::uint16_t>(lo | (unsigned{u8()} << 8));
  }
  std::uint32_t u32() noexcept {
    const std::uint32_t lo = u16();
    return lo | (std::uint32_t{u16()} << 16);
  }
  /// Up to n bytes as a view of the input (fewer when it ends).
  std::span<const std::uint8_t> take(std::size_t n) noexcept {
    if (n > n_) n = n_;
    const std::span<const std::uint8_t> s{p_, n};
    p_ += n;
    n_ -= n;
    return s;
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

/// N bytes of a fixed pattern (byte i = fill(i)), built once per target: loops in a harness are
/// instrumented too, so per-input work on whole buffers stays in memcpy/memcmp.
template <std::size_t N, typename Fill>
const std::byte* fixed_pattern(Fill fill) {
  static const auto p = [&] {
    std::array<std::byte, N> a{};
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = fill(i);
    return a;
  }();
  return p.data();
}

/// A heap buffer of exactly n bytes (1 allocated for n = 0, so data() is never null): ASan
/// reports any access past the n bytes.
struct exact_buffer {
  explicit exact_buffer(std::size_t n) : p(new std::byte[n == 0 ? 1 : n]), size(n) {}
  [[nodiscard]] std::span<std::byte> view() noexcept { return {p.get(), size}; }
  std::unique_ptr<std::byte[]> p;
  std::size_t size;
};

/// Deleter for the 64-byte-aligned guest memory the targets allocate.
struct free_aligned {
  void operator()(std::byte* p) const noexcept { ::operator delete[](p, std::align_val_t{64}); }
};

}  // namespace vireo_fuzz
