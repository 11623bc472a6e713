// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/i2c/address.hpp: ranges, reserved 7-bit addresses, the §5.16.6.1 encoding of
// both address modes, and the exhaustive decode of every 16-bit value.
#include "i2c_test_support.hpp"

#include <set>

using namespace vireo_i2c_test;
using i2c::address;
using i2c::address_mode;
using i2c::encoded_address;
using i2c::reserved_kind;

namespace {

/// The §5.16.6.1 table, bit by bit, independent of address.hpp: bit i of the 16-bit field.
/// 7-bit:  15..8 = 0, 7..1 = A6..A0, 0 = 0.
/// 10-bit: 15..8 = A7..A0, 7..3 = 1 1 1 1 0, 2..1 = A9 A8, 0 = 0.
std::uint16_t table_7bit(unsigned a) {
  std::uint16_t v = 0;
  for (unsigned bit = 1; bit <= 7; ++bit)  // bit 7 holds A6, bit 1 holds A0
    if ((a >> (bit - 1)) & 1u) v = static_cast<std::uint16_t>(v | (1u << bit));
  return v;
}
std::uint16_t table_10bit(unsigned a) {
  std::uint16_t v = 0;
  for (unsigned bit = 8; bit <= 15; ++bit)  // bit 15 holds A7, bit 8 holds A0
    if ((a >> (bit - 8)) & 1u) v = static_cast<std::uint16_t>(v | (1u << bit));
  // Bits 7..3 = 1 1 1 1 0.
  v = static_cast<std::uint16_t>(v | (1u << 7) | (1u << 6) | (1u << 5) | (1u << 4));
  if ((a >> 9) & 1u) v = static_cast<std::uint16_t>(v | (1u << 2));  // A9
  if ((a >> 8) & 1u) v = static_cast<std::uint16_t>(v | (1u << 1));  // A8
  return v;
}

std::uint16_t enc(address a) { return i2c::encode_address(a).value().raw(); }

}  // namespace

TEST_CASE("address: 7-bit range is 0x00..0x7F, 10-bit range 0x000..0x3FF") {
  for (std::uint16_t v : {0x00, 0x01, 0x50, 0x7E, 0x7F}) {
    auto a = address::seven_bit(v);
    REQUIRE(a.has_value());
    CHECK(a->value() == v);
    CHECK(a->mode() == address_mode::seven_bit);
    CHECK_FALSE(a->is_ten_bit());
  }
  for (std::uint16_t v : {0x80, 0xFF, 0x100, 0xFFFF})
    CHECK(err(address::seven_bit(v)) == errc::i2c_address_out_of_range);
  for (std::uint16_t v : {0x000, 0x001, 0x07F, 0x0FF, 0x100, 0x3FE, 0x3FF}) {
    auto a = address::ten_bit(v);
    REQUIRE(a.has_value());
    CHECK(a->value() == v);
    CHECK(a->mode() == address_mode::ten_bit);
    CHECK(a->is_ten_bit());
  }
  for (std::uint16_t v : {0x400, 0x7FF, 0x8000, 0xFFFF})
    CHECK(err(address::ten_bit(v)) == errc::i2c_address_out_of_range);
  // Same value, different mode: different addresses.
  CHECK(a7(0x50) != a10(0x50));
  CHECK(a7(0x50) == a7(0x50));
}

TEST_CASE("address: reserved 7-bit addresses follow UM10204 table 4, at every boundary") {
  CHECK(a7(0x00).reserved() == reserved_kind::general_call);
  CHECK(a7(0x01).reserved() == reserved_kind::cbus);
  CHECK(a7(0x02).reserved() == reserved_kind::other_bus_format);
  CHECK(a7(0x03).reserved() == reserved_kind::future);
  CHECK(a7(0x04).reserved() == reserved_kind::hs_mode_controller);
  CHECK(a7(0x07).reserved() == reserved_kind::hs_mode_controller);
  CHECK(a7(0x08).reserved() == reserved_kind::none);
  CHECK(a7(0x77).reserved() == reserved_kind::none);
  CHECK(a7(0x78).reserved() == reserved_kind::ten_bit_prefix);
  CHECK(a7(0x7B).reserved() == reserved_kind::ten_bit_prefix);
  CHECK(a7(0x7C).reserved() == reserved_kind::device_id);
  CHECK(a7(0x7F).reserved() == reserved_kind::device_id);
  int reserved = 0;
  for (std::uint16_t v = 0; v <= 0x7F; ++v) {
    CAPTURE(v);
    const bool r = a7(v).is_reserved();
    CHECK(r == (v < 0x08 || v > 0x77));
    CHECK(err(i2c::check_target(a7(v))) == (r ? errc::i2c_address_reserved : errc{}));
    reserved += r ? 1 : 0;
  }
  CHECK(reserved == 16);
  for (std::uint16_t v = 0; v <= 0x3FF; ++v) {  // 10-bit addresses have no reserved values
    CHECK_FALSE(a10(v).is_reserved());
    CHECK(i2c::check_target(a10(v)).has_value());
  }
}

TEST_CASE("address: 7-bit encoding is the address shifted left by one (Linux: addr << 1)") {
  CHECK(enc(a7(0x50)) == 0x00A0);  // an EEPROM: Linux sends 0xa0
  CHECK(enc(a7(0x00)) == 0x0000);
  CHECK(enc(a7(0x08)) == 0x0010);
  CHECK(enc(a7(0x77)) == 0x00EE);
  CHECK(enc(a7(0x7C)) == 0x00F8);  // 1111 1XX: bit 3 set, so not the 10-bit pattern
  CHECK(enc(a7(0x7F)) == 0x00FE);
  for (std::uint16_t v = 0; v <= 0x7F; ++v) {
    CAPTURE(v);
    auto e = i2c::encode_address(a7(v));
    if (v >= 0x78 && v <= 0x7B) {
      // Their shifted form 0x00F0..0x00F6 is the 10-bit form of 0x000/0x100/0x200/0x300.
      CHECK(err(e) == errc::i2c_address_reserved);
      CHECK(table_7bit(v) == table_10bit(static_cast<unsigned>(v - 0x78) << 8));
      continue;
    }
    REQUIRE(e.has_value());
    CHECK(e->raw() == table_7bit(v));
    CHECK(e->raw() == (v << 1));
  }
}

TEST_CASE("address: 10-bit encoding puts A7..A0 high, 11110 A9 A8 0 low (the two bus bytes)") {
  CHECK(enc(a10(0x000)) == 0x00F0);
  CHECK(enc(a10(0x0FF)) == 0xFFF0);
  CHECK(enc(a10(0x100)) == 0x00F2);
  CHECK(enc(a10(0x200)) == 0x00F4);
  CHECK(enc(a10(0x300)) == 0x00F6);
  CHECK(enc(a10(0x2A5)) == 0xA5F4);
  CHECK(enc(a10(0x3FF)) == 0xFFF6);
  // In little-endian memory the first byte is 11110 A9 A8 0, the second A7..A0: exactly what
  // goes on the bus for a 10-bit write.
  auto h = header(enc(a10(0x2A5)), 0);
  CHECK(h[0] == std::byte{0xF4});
  CHECK(h[1] == std::byte{0xA5});
  for (std::uint16_t v = 0; v <= 0x3FF; ++v) {
    CAPTURE(v);
    CHECK(enc(a10(v)) == table_10bit(v));
  }
}

TEST_CASE("address: decode of all 65536 values matches the table; every valid value round-trips") {
  // Reference: the set of valid encodings and what each means, built from the table alone.
  std::set<std::uint16_t> valid;
  for (unsigned v = 0; v <= 0x7F; ++v)
    if (v < 0x78 || v > 0x7B) valid.insert(table_7bit(v));
  for (unsigned v = 0; v <= 0x3FF; ++v) valid.insert(table_10bit(v));
  CHECK(valid.size() == 124 + 1024);  // no 7-bit encoding collides with a 10-bit one

  std::size_t ok = 0;
  for (unsigned raw = 0; raw <= 0xFFFF; ++raw) {
    const auto r = i2c::decode_address(encoded_address{static_cast<std::uint16_t>(raw)});
    if (valid.count(static_cast<std::uint16_t>(raw)) == 0) {
      if (r.has_value() || r.error() != errc::i2c_address_invalid) {
        CAPTURE(raw);
        FAIL("decoded an encoding outside the table");
      }
      continue;
    }
    ++ok;
    if (!r.has_value()) {
      CAPTURE(raw);
      FAIL("rejected an encoding from the table");
      continue;
    }
    const std::uint16_t want = r->is_ten_bit() ? table_10bit(r->value()) : table_7bit(r->value());
    auto back = i2c::encode_address(*r);
    if (want != raw || !back.has_value() || back->raw() != raw) {
      CAPTURE(raw);
      FAIL("decode/encode do not round-trip");
    }
  }
  CHECK(ok == valid.size());
}

TEST_CASE("address: decode boundaries: bit 0, a stray high byte, the four shared values") {
  using i2c::decode_address;
  auto dec = [](std::uint16_t raw) { return decode_address(encoded_address{raw}); };
  // Bit 0 is where R/W would sit: the table fixes it at 0.
  CHECK(err(dec(0x0001)) == errc::i2c_address_invalid);
  CHECK(err(dec(0x00A1)) == errc::i2c_address_invalid);
  CHECK(err(dec(0x00F1)) == errc::i2c_address_invalid);
  CHECK(err(dec(0xA5F5)) == errc::i2c_address_invalid);
  // A high byte without the 10-bit pattern (Linux would send a 10-bit 0x3FF as 0x07FE).
  CHECK(err(dec(0x0100)) == errc::i2c_address_invalid);
  CHECK(err(dec(0x01A0)) == errc::i2c_address_invalid);
  CHECK(err(dec(0x07FE)) == errc::i2c_address_invalid);
  CHECK(err(dec(0xFF00)) == errc::i2c_address_invalid);
  CHECK(err(dec(0x50F8)) == errc::i2c_address_invalid);  // 1111 1xx0 is not the 10-bit row
  // The 10-bit row: A7..A0 may be zero.
  CHECK(*dec(0x00F0) == a10(0x000));
  CHECK(*dec(0x00F2) == a10(0x100));
  CHECK(*dec(0x00F4) == a10(0x200));
  CHECK(*dec(0x00F6) == a10(0x300));
  CHECK(*dec(0x01F6) == a10(0x301));
  CHECK(*dec(0xFFF6) == a10(0x3FF));
  // The 7-bit row around the pattern.
  CHECK(*dec(0x0000) == a7(0x00));
  CHECK(*dec(0x00A0) == a7(0x50));
  CHECK(*dec(0x00EE) == a7(0x77));
  CHECK(*dec(0x00F8) == a7(0x7C));
  CHECK(*dec(0x00FE) == a7(0x7F));
  CHECK(*dec(0x00E0) == a7(0x70));  // 1110 0000: bit 4 clear
}

TEST_CASE("address: usable in constant expressions") {
  static_assert(i2c::encode_address(i2c::address::seven_bit(0x50).value()).value().raw() == 0xA0);
  static_assert(i2c::decode_address(encoded_address{0xA5F4}).value().value() == 0x2A5);
  static_assert(!i2c::decode_address(encoded_address{0x0001}).has_value());
  CHECK(true);
}
