// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/core/endian.hpp: exact byte layouts, round trips, alignment 1, constexpr use.
#include "vireo/core/endian.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace {

using vireo::be16;
using vireo::be32;
using vireo::be64;
using vireo::le16;
using vireo::le32;
using vireo::le64;
using vireo::ne16;
using vireo::ne32;
using vireo::ne64;

template <typename E, std::size_t N>
std::array<unsigned char, N> bytes_of(const E& e) {
  static_assert(sizeof(E) == N);
  std::array<unsigned char, N> out{};
  std::memcpy(out.data(), &e, N);
  return out;
}

// A wire struct built only from endian types: no padding, alignment 1.
struct mixed_wire {
  le16 a;
  be32 b;
  le64 c;
  unsigned char d;
};
static_assert(sizeof(mixed_wire) == 15);
static_assert(alignof(mixed_wire) == 1);
static_assert(offsetof(mixed_wire, a) == 0);
static_assert(offsetof(mixed_wire, b) == 2);
static_assert(offsetof(mixed_wire, c) == 6);
static_assert(offsetof(mixed_wire, d) == 14);
static_assert(std::is_trivially_copyable_v<mixed_wire> && std::is_standard_layout_v<mixed_wire>);

// constexpr use: build, read back and inspect bytes at compile time.
static_assert(le16::from(0x1234).get() == 0x1234);
static_assert(le16::from(0x1234).bytes[0] == 0x34 && le16::from(0x1234).bytes[1] == 0x12);
static_assert(be16::from(0x1234).bytes[0] == 0x12 && be16::from(0x1234).bytes[1] == 0x34);
static_assert(le32::from(0xA1B2C3D4u).bytes[0] == 0xD4 && le32::from(0xA1B2C3D4u).bytes[3] == 0xA1);
static_assert(be32::from(0xA1B2C3D4u).bytes[0] == 0xA1 && be32::from(0xA1B2C3D4u).bytes[3] == 0xD4);
static_assert(le64::from(0x0102030405060708ull).bytes[7] == 0x01);
static_assert(be64::from(0x0102030405060708ull).bytes[7] == 0x08);
static_assert(be64::from(0xFFFFFFFFFFFFFFFFull).get() == 0xFFFFFFFFFFFFFFFFull);
static_assert(le32::from(7) == le32::from(7));
static_assert(!(le32::from(7) == le32::from(8)));
constexpr std::uint32_t set_then_get() {
  be32 x{};
  x.set(0xCAFEBABEu);
  x.bytes[3] = 0x00;  // the last byte of a big-endian value is its least significant
  return x.get();
}
static_assert(set_then_get() == 0xCAFEBA00u);

static_assert(sizeof(le16) == 2 && sizeof(be16) == 2 && sizeof(ne16) == 2);
static_assert(sizeof(le32) == 4 && sizeof(be32) == 4 && sizeof(ne32) == 4);
static_assert(sizeof(le64) == 8 && sizeof(be64) == 8 && sizeof(ne64) == 8);
static_assert(alignof(be16) == 1 && alignof(be32) == 1 && alignof(be64) == 1);
static_assert(alignof(ne16) == 1 && alignof(ne32) == 1 && alignof(ne64) == 1);
static_assert(std::is_same_v<le32::value_type, std::uint32_t>);
static_assert(std::is_same_v<be64::value_type, std::uint64_t>);

}  // namespace

TEST_CASE("endian: le16/le32/le64 store least significant byte first") {
  CHECK(bytes_of<le16, 2>(le16::from(0x1234)) == std::array<unsigned char, 2>{0x34, 0x12});
  CHECK(bytes_of<le32, 4>(le32::from(0x12345678u)) ==
        std::array<unsigned char, 4>{0x78, 0x56, 0x34, 0x12});
  CHECK(bytes_of<le64, 8>(le64::from(0x0123456789ABCDEFull)) ==
        std::array<unsigned char, 8>{0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01});
}

TEST_CASE("endian: be16/be32/be64 store most significant byte first") {
  CHECK(bytes_of<be16, 2>(be16::from(0x1234)) == std::array<unsigned char, 2>{0x12, 0x34});
  CHECK(bytes_of<be32, 4>(be32::from(0x12345678u)) ==
        std::array<unsigned char, 4>{0x12, 0x34, 0x56, 0x78});
  CHECK(bytes_of<be64, 8>(be64::from(0x0123456789ABCDEFull)) ==
        std::array<unsigned char, 8>{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF});
}

TEST_CASE("endian: get() decodes hand-written byte arrays") {
  le32 l{{0x01, 0x02, 0x03, 0x04}};
  be32 b{{0x01, 0x02, 0x03, 0x04}};
  CHECK(l.get() == 0x04030201u);
  CHECK(b.get() == 0x01020304u);
  le16 l16{{0xFF, 0x00}};
  be16 b16{{0xFF, 0x00}};
  CHECK(l16.get() == 0x00FF);
  CHECK(b16.get() == 0xFF00);
  le64 l64{{0x80, 0, 0, 0, 0, 0, 0, 0x01}};
  be64 b64{{0x80, 0, 0, 0, 0, 0, 0, 0x01}};
  CHECK(l64.get() == 0x0100000000000080ull);
  CHECK(b64.get() == 0x8000000000000001ull);
}

TEST_CASE("endian: ne16/ne32/ne64 have the machine's own layout (same bytes as memcpy)") {
  const std::uint16_t v16 = 0xBEEF;
  const std::uint32_t v32 = 0xDEADBEEFu;
  const std::uint64_t v64 = 0x0011223344556677ull;
  std::array<unsigned char, 2> n16{};
  std::array<unsigned char, 4> n32{};
  std::array<unsigned char, 8> n64{};
  std::memcpy(n16.data(), &v16, 2);
  std::memcpy(n32.data(), &v32, 4);
  std::memcpy(n64.data(), &v64, 8);
  CHECK(bytes_of<ne16, 2>(ne16::from(v16)) == n16);
  CHECK(bytes_of<ne32, 4>(ne32::from(v32)) == n32);
  CHECK(bytes_of<ne64, 8>(ne64::from(v64)) == n64);
  // And the reverse: a native integer copied in reads back unchanged.
  ne32 in{};
  std::memcpy(&in, &v32, 4);
  CHECK(in.get() == v32);
  if constexpr (vireo::native_order == vireo::byte_order::little) {
    CHECK(std::is_same_v<ne32, le32>);
  } else {
    CHECK(std::is_same_v<ne32, be32>);
  }
}

TEST_CASE("endian: le and be layouts are byte-reversed images of each other") {
  const std::uint64_t v = 0xF1E2D3C4B5A69788ull;
  auto l = bytes_of<le64, 8>(le64::from(v));
  auto b = bytes_of<be64, 8>(be64::from(v));
  for (std::size_t i = 0; i < 8; ++i) CHECK(l[i] == b[7 - i]);
}

TEST_CASE("endian: every type round-trips boundary and pattern values") {
  const std::uint64_t values[] = {0,
                                  1,
                                  0x7F,
                                  0x80,
                                  0xFF,
                                  0x100,
                                  0x7FFF,
                                  0x8000,
                                  0xFFFF,
                                  0x12345678,
                                  0x80000000u,
                                  0xFFFFFFFFu,
                                  0x100000000ull,
                                  0x8000000000000000ull,
                                  0xA5A5A5A55A5A5A5Aull,
                                  0xFFFFFFFFFFFFFFFFull};
  for (std::uint64_t v : values) {
    CAPTURE(v);
    const auto v16 = static_cast<std::uint16_t>(v);
    const auto v32 = static_cast<std::uint32_t>(v);
    CHECK(le16::from(v16).get() == v16);
    CHECK(be16::from(v16).get() == v16);
    CHECK(ne16::from(v16).get() == v16);
    CHECK(le32::from(v32).get() == v32);
    CHECK(be32::from(v32).get() == v32);
    CHECK(ne32::from(v32).get() == v32);
    CHECK(le64::from(v).get() == v);
    CHECK(be64::from(v).get() == v);
    CHECK(ne64::from(v).get() == v);
  }
  // Walk a single set bit through every position.
  for (unsigned bit = 0; bit < 64; ++bit) {
    const std::uint64_t v = std::uint64_t{1} << bit;
    CAPTURE(bit);
    CHECK(le64::from(v).get() == v);
    CHECK(be64::from(v).get() == v);
    CHECK(le64::from(v).bytes[bit / 8] == (1u << (bit % 8)));
    CHECK(be64::from(v).bytes[7 - bit / 8] == (1u << (bit % 8)));
  }
}

TEST_CASE("endian: set() overwrites every byte") {
  le32 x = le32::from(0xFFFFFFFFu);
  x.set(0x00000001u);
  CHECK(bytes_of<le32, 4>(x) == std::array<unsigned char, 4>{0x01, 0x00, 0x00, 0x00});
  be64 y = be64::from(~std::uint64_t{0});
  y.set(0);
  CHECK(bytes_of<be64, 8>(y) == std::array<unsigned char, 8>{});
}

TEST_CASE("endian: an object's address is its data's address (Boost.Endian data_test)") {
  le16 a{};
  be32 b{};
  ne64 c{};
  CHECK(static_cast<const void*>(&a) == static_cast<const void*>(a.bytes));
  CHECK(static_cast<const void*>(&b) == static_cast<const void*>(b.bytes));
  CHECK(static_cast<const void*>(&c) == static_cast<const void*>(c.bytes));
  mixed_wire w{};
  const auto* base = reinterpret_cast<const unsigned char*>(&w);
  CHECK(static_cast<const void*>(w.a.bytes) == base + 0);
  CHECK(static_cast<const void*>(w.b.bytes) == base + 2);
  CHECK(static_cast<const void*>(w.c.bytes) == base + 6);
}

TEST_CASE("endian: works at any address (alignment 1, odd offsets in a buffer)") {
  alignas(8) unsigned char buf[1 + 8 + 4 + 2] = {};
  // Place values at odd offsets via memcpy of the endian objects and read them back in place.
  const le64 v64 = le64::from(0x1122334455667788ull);
  const be32 v32 = be32::from(0x99AABBCCu);
  const le16 v16 = le16::from(0xDDEE);
  std::memcpy(buf + 1, &v64, 8);
  std::memcpy(buf + 9, &v32, 4);
  std::memcpy(buf + 13, &v16, 2);
  CHECK(buf[1] == 0x88);
  CHECK(buf[8] == 0x11);
  CHECK(buf[9] == 0x99);
  CHECK(buf[12] == 0xCC);
  CHECK(buf[13] == 0xEE);
  CHECK(buf[14] == 0xDD);
  le64 r64{};
  be32 r32{};
  le16 r16{};
  std::memcpy(&r64, buf + 1, 8);
  std::memcpy(&r32, buf + 9, 4);
  std::memcpy(&r16, buf + 13, 2);
  CHECK(r64.get() == 0x1122334455667788ull);
  CHECK(r32.get() == 0x99AABBCCu);
  CHECK(r16.get() == 0xDDEE);
  // An array of endian integers is packed back to back.
  le16 arr[3] = {le16::from(1), le16::from(2), le16::from(3)};
  static_assert(sizeof(arr) == 6);
  CHECK(reinterpret_cast<const unsigned char*>(&arr[1]) ==
        reinterpret_cast<const unsigned char*>(&arr[0]) + 2);
  CHECK(arr[2].get() == 3);
}
