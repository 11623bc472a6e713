// SPDX-License-Identifier: Apache-2.0
// A simulated 24C02 serial EEPROM (2 Kbit: 256 bytes in 32 pages of 8), the chip Linux's at24
// driver and i2c-tools' eeprog talk to: a sim::target for sim::bus.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "vireo/core/bytes.hpp"
#include "vireo/i2c/sim/target.hpp"
#include "vireo/i2c/wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace i2c::sim {

/// The 24C02 protocol, as its datasheets describe it:
///  - A write message starts with the word address, which loads the address pointer; the bytes
///    after it are latched into the page of that address, the low three address bits counting up
///    and rolling over inside the page (a 9th byte overwrites the 1st), so at most 8 bytes land.
///  - The latched bytes are programmed at the STOP that ends the transaction. A repeated START
///    before that STOP discards them (the chip starts its write cycle only at STOP); a
///    write(word address) + read transaction therefore programs nothing.
///  - A read returns bytes from the address pointer on, which counts up through all 256 bytes and
///    rolls over from 0xFF to 0x00. So write(1 byte) + read is a random read from that address,
///    and a read on its own is a "current address read".
///  - The chip ACKs its address in both directions (the write cycle time, during which a real
///    chip NACKs, is not modelled) and ACKs every byte.
/// A new chip holds 0xFF everywhere (erased), pointer 0.
class eeprom_24c02 {
 public:
  static constexpr std::size_t size = 256;
  static constexpr std::size_t page_size = 8;

  eeprom_24c02() noexcept { cells_.fill(std::byte{0xFF}); }

  /// The cells, for the host side (preloading an image, checking what the guest programmed).
  [[nodiscard]] std::span<std::byte, size> contents() noexcept { return cells_; }
  [[nodiscard]] std::span<const std::byte, size> contents() const noexcept { return cells_; }
  /// The address pointer: where the next read starts.
  [[nodiscard]] std::uint8_t pointer() const noexcept { return pointer_; }
  /// Bytes latched for the next STOP (0 when no page write is pending).
  [[nodiscard]] std::size_t pending() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < page_size; ++i) n += (latched_ >> i) & 1u;
    return n;
  }

  // ---- sim::target --------------------------------------------------------------------------

  bool start(direction dir) noexcept {
    latched_ = 0;  // a repeated START aborts a page write that has not seen its STOP
    expect_word_address_ = dir == direction::write;
    return true;
  }
  bool write(const_bytes data) noexcept {
    for (const std::byte b : data) {
      if (expect_word_address_) {
        pointer_ = std::to_integer<std::uint8_t>(b);
        expect_word_address_ = false;
        continue;
      }
      const unsigned column = pointer_ % page_size;
      page_ = static_cast<std::uint8_t>(pointer_ - column);
      page_data_[column] = b;
      latched_ = static_cast<std::uint8_t>(latched_ | (1u << column));
      pointer_ = static_cast<std::uint8_t>(page_ + (column + 1) % page_size);  // page roll-over
    }
    return true;
  }
  bool read(bytes out) noexcept {
    for (std::byte& b : out) {
      b = cells_[pointer_];
      pointer_ = static_cast<std::uint8_t>(pointer_ + 1);  // rolls over 0xFF -> 0x00
    }
    return true;
  }
  void stop() noexcept {
    for (std::size_t i = 0; i < page_size; ++i)
      if ((latched_ >> i) & 1u) cells_[page_ + i] = page_data_[i];
    latched_ = 0;
  }

 private:
  std::array<std::byte, size> cells_{};
  std::array<std::byte, page_size> page_data_{};
  std::uint8_t pointer_ = 0;
  std::uint8_t page_ = 0;     ///< first address of the page the latched bytes belong to
  std::uint8_t latched_ = 0;  ///< bit i: page_data_[i] waits for STOP
  bool expect_word_address_ = false;
};

static_assert(target<eeprom_24c02>);

}  // namespace i2c::sim
VIREO_NAMESPACE_END
