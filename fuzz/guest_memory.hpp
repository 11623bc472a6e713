// SPDX-License-Identifier: Apache-2.0
// Guest memory for the ring and chain fuzz targets: one heap block that ends where guest memory
// ends (so ASan reports any access past it), the flat_memory over it, and a shadow copy of what
// memory must hold: what the fuzzer's side of the ring wrote, plus what the code under test was
// expected to write. Comparing the two catches a stray write anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "fuzz_input.hpp"
#include "vireo/core/memory/flat_memory.hpp"

namespace vireo_fuzz {

/// Size bytes of guest memory at guest address Base.
template <std::uint64_t Base, std::size_t Size>
class guest_memory {
 public:
  static constexpr std::uint64_t base = Base;
  static constexpr std::size_t size = Size;

  guest_memory()
      : block_(static_cast<std::byte*>(::operator new[](Size, std::align_val_t{64}))),
        shadow_(Size),
        flat_(vireo::bytes{block_.get(), Size}, vireo::gpa{Base}) {}
  guest_memory(const guest_memory&) = delete;
  guest_memory& operator=(const guest_memory&) = delete;

  [[nodiscard]] std::byte* host() noexcept { return block_.get(); }
  [[nodiscard]] const std::byte* host() const noexcept { return block_.get(); }
  [[nodiscard]] vireo::flat_memory& flat() noexcept { return flat_; }

  /// Whether guest range [addr, addr + len) lies inside guest memory.
  [[nodiscard]] static constexpr bool contains(std::uint64_t addr, std::uint64_t len) noexcept {
    return addr >= Base && addr - Base <= Size && len <= Size - (addr - Base);
  }
  /// The offset in the block of a guest address inside guest memory.
  [[nodiscard]] static constexpr std::size_t offset_of(std::uint64_t addr) noexcept {
    return static_cast<std::size_t>(addr - Base);
  }

  [[nodiscard]] std::uint16_t get16(std::size_t off) const noexcept {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(block_[off]) |
                                      (std::to_integer<unsigned>(block_[off + 1]) << 8));
  }
  [[nodiscard]] std::uint32_t get32(std::size_t off) const noexcept {
    return get16(off) | (std::uint32_t{get16(off + 2)} << 16);
  }

  /// The initial contents: memory and shadow both start as `image` (Size bytes).
  void load(const std::byte* image) noexcept {
    std::memcpy(block_.get(), image, Size);
    std::memcpy(shadow_.data(), image, Size);
  }

  // Writes by the fuzzer's side of the ring (the hostile driver or device): memory and shadow.
  void write(std::size_t off, const void* p, std::size_t n) noexcept {
    std::memcpy(block_.get() + off, p, n);
    std::memcpy(shadow_.data() + off, p, n);
  }
  void write_fill(std::size_t off, std::uint8_t value, std::size_t n) noexcept {
    std::memset(block_.get() + off, value, n);
    std::memset(shadow_.data() + off, value, n);
  }
  void put16(std::size_t off, std::uint16_t v) noexcept {
    const std::uint8_t b[2] = {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8)};
    write(off, b, 2);
  }

  // Writes the code under test is expected to make: the shadow only, memory must follow.
  void expect(std::size_t off, const void* p, std::size_t n) noexcept {
    std::memcpy(shadow_.data() + off, p, n);
  }
  void expect_fill(std::size_t off, std::uint8_t value, std::size_t n) noexcept {
    std::memset(shadow_.data() + off, value, n);
  }
  void expect16(std::size_t off, std::uint16_t v) noexcept {
    const std::uint8_t b[2] = {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8)};
    expect(off, b, 2);
  }
  /// Whatever memory holds in [off, off + n) is now expected there.
  void accept(std::size_t off, std::size_t n) noexcept {
    std::memcpy(shadow_.data() + off, block_.get() + off, n);
  }

  /// Memory holds what the shadow says over [off, off + n).
  [[nodiscard]] bool matches_shadow(std::size_t off = 0, std::size_t n = Size) const noexcept {
    return std::memcmp(block_.get() + off, shadow_.data() + off, n) == 0;
  }

 private:
  std::unique_ptr<std::byte[], free_aligned> block_;
  std::vector<std::byte> shadow_;
  vireo::flat_memory flat_;
};

}  // namespace vireo_fuzz
