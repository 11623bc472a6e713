// SPDX-License-Identifier: Apache-2.0
// I2C target addresses (7-bit and 10-bit) and their encoding in virtio_i2c_out_hdr.addr
// (virtio spec §5.16.6.1, address table). Reading of the table and its one ambiguity: docs/i2c.md.
#pragma once

#include <cstdint>

#include "vireo/core/result.hpp"

VIREO_NAMESPACE_BEGIN
namespace i2c {

enum class address_mode : std::uint8_t {
  seven_bit,  ///< A6..A0
  ten_bit,    ///< A9..A0
};

/// Why a 7-bit address is reserved: I2C-bus specification (NXP UM10204) §3.1.12, table 4.
/// 10-bit addresses have no reserved values.
enum class reserved_kind : std::uint8_t {
  none,
  general_call,        ///< 0x00: general call (write) or START byte (read); reaches every target
  cbus,                ///< 0x01: CBUS address
  other_bus_format,    ///< 0x02: reserved for a different bus format
  future,              ///< 0x03: reserved for future purposes
  hs_mode_controller,  ///< 0x04-0x07: Hs-mode controller code
  ten_bit_prefix,      ///< 0x78-0x7B (1111 0XX): first byte of a 10-bit address
  device_id,           ///< 0x7C-0x7F (1111 1XX): device ID, which names its target in a later byte
};

/// An I2C target address: a mode and a value in range for it (7-bit 0..0x7F, 10-bit 0..0x3FF).
/// Unshifted, as Linux's `i2c_msg.addr` and datasheets write it; never the wire form (that is
/// encoded_address), so a shifted value cannot be mistaken for an address.
class address {
 public:
  static constexpr std::uint16_t max_7bit = 0x7F;
  static constexpr std::uint16_t max_10bit = 0x3FF;

  /// A 7-bit address. Errors: i2c_address_out_of_range above 0x7F.
  [[nodiscard]] static constexpr result<address> seven_bit(std::uint16_t a) noexcept {
    if (a > max_7bit) return errc::i2c_address_out_of_range;
    return address{address_mode::seven_bit, a};
  }
  /// A 10-bit address. Errors: i2c_address_out_of_range above 0x3FF.
  [[nodiscard]] static constexpr result<address> ten_bit(std::uint16_t a) noexcept {
    if (a > max_10bit) return errc::i2c_address_out_of_range;
    return address{address_mode::ten_bit, a};
  }

  [[nodiscard]] constexpr address_mode mode() const noexcept { return mode_; }
  [[nodiscard]] constexpr bool is_ten_bit() const noexcept {
    return mode_ == address_mode::ten_bit;
  }
  [[nodiscard]] constexpr std::uint16_t value() const noexcept { return value_; }

  /// Which reserved group a 7-bit address belongs to (UM10204 table 4); none for 10-bit ones.
  [[nodiscard]] constexpr reserved_kind reserved() const noexcept {
    if (mode_ == address_mode::ten_bit) return reserved_kind::none;
    if (value_ == 0x00) return reserved_kind::general_call;
    if (value_ == 0x01) return reserved_kind::cbus;
    if (value_ == 0x02) return reserved_kind::other_bus_format;
    if (value_ == 0x03) return reserved_kind::future;
    if (value_ <= 0x07) return reserved_kind::hs_mode_controller;
    if (value_ < 0x78) return reserved_kind::none;
    if (value_ <= 0x7B) return reserved_kind::ten_bit_prefix;
    return reserved_kind::device_id;
  }
  [[nodiscard]] constexpr bool is_reserved() const noexcept {
    return reserved() != reserved_kind::none;
  }

  friend constexpr bool operator==(const address&, const address&) noexcept = default;

 private:
  constexpr address(address_mode m, std::uint16_t v) noexcept : mode_(m), value_(v) {}
  address_mode mode_;
  std::uint16_t value_;
};

/// virtio_i2c_out_hdr.addr as a host-order value: the §5.16.6.1 encoding of an address. Any
/// 16-bit value can be held (it comes from the driver); decode_address() says what it means.
class encoded_address {
 public:
  constexpr explicit encoded_address(std::uint16_t raw) noexcept : raw_(raw) {}
  [[nodiscard]] constexpr std::uint16_t raw() const noexcept { return raw_; }
  friend constexpr bool operator==(const encoded_address&, const encoded_address&) noexcept =
      default;

 private:
  std::uint16_t raw_;
};

/// Low-byte pattern of the 10-bit row of the §5.16.6.1 table: bits 7..3 = 1 1 1 1 0 and
/// bit 0 = 0, whatever A9 A8 (bits 2..1) are.
inline constexpr std::uint16_t ten_bit_mask = 0xF9;
inline constexpr std::uint16_t ten_bit_pattern = 0xF0;

/// Encode per the §5.16.6.1 table:
///   7-bit  A6..A0: bits 15..8 = 0, bits 7..1 = A6..A0, bit 0 = 0      (addr = a << 1)
///   10-bit A9..A0: bits 15..8 = A7..A0, bits 7..3 = 11110, bits 2..1 = A9 A8, bit 0 = 0
/// (in little-endian memory order the 10-bit form is the two bytes I2C puts on the bus).
/// Errors: i2c_address_reserved for the 7-bit addresses 0x78-0x7B, whose shifted form is the
/// 10-bit form of 0x000/0x100/0x200/0x300 (they are the reserved 10-bit prefix on a real bus).
[[nodiscard]] constexpr result<encoded_address> encode_address(address a) noexcept {
  const std::uint16_t v = a.value();
  if (a.is_ten_bit()) {
    // v <= 0x3FF: v & 0xFF moves to bits 15..8, v >> 8 (two bits) to bits 2..1.
    return encoded_address{static_cast<std::uint16_t>(((v & 0xFFu) << 8) | ten_bit_pattern |
                                                      ((v >> 8) << 1))};
  }
  if (a.reserved() == reserved_kind::ten_bit_prefix) return errc::i2c_address_reserved;
  return encoded_address{static_cast<std::uint16_t>(v << 1)};  // v <= 0x7F: fits in bits 7..1
}

/// Decode per the §5.16.6.1 table. Bit 0 must be 0 (the direction comes from M_RD, not from
/// there). A low byte 11110xx0 is the 10-bit row, with any high byte (A7..A0 may be 0). Any
/// other value must have a zero high byte, and is the 7-bit row. So 0x00F0/F2/F4/F6 are the
/// 10-bit addresses 0x000/0x100/0x200/0x300, never the 7-bit 0x78-0x7B (see encode_address).
/// Every valid encoding decodes to exactly one address, and encode_address gives it back.
/// Errors: i2c_address_invalid (bit 0 set, or a high byte without the 10-bit pattern).
[[nodiscard]] constexpr result<address> decode_address(encoded_address e) noexcept {
  const std::uint16_t raw = e.raw();
  if ((raw & 1u) != 0) return errc::i2c_address_invalid;
  if ((raw & ten_bit_mask) == ten_bit_pattern)
    return address::ten_bit(static_cast<std::uint16_t>((raw >> 8) | (((raw >> 1) & 3u) << 8)));
  if ((raw >> 8) != 0) return errc::i2c_address_invalid;
  return address::seven_bit(static_cast<std::uint16_t>(raw >> 1));
}

/// Whether a device may put `a` on its bus as a request's target. Reserved 7-bit addresses are
/// refused: a general call or a device-ID read reaches targets other than the one named, so an
/// address allow-list cannot contain it. Errors: i2c_address_reserved.
[[nodiscard]] constexpr result<void> check_target(address a) noexcept {
  if (a.is_reserved()) return errc::i2c_address_reserved;
  return ok();
}

}  // namespace i2c
VIREO_NAMESPACE_END
