// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/core/memory/flat_memory.hpp: one host buffer at one guest address.
#include "test_support.hpp"
#include "vireo/core/memory/flat_memory.hpp"

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace {

using vireo_test::err;

using vireo::access;
using vireo::errc;
using vireo::flat_memory;
using vireo::gpa;

constexpr std::uint64_t base = 0x1000;
constexpr std::size_t size = 64;

struct fixture {
  alignas(8) std::array<std::byte, size> host{};
  flat_memory mem{host, gpa{base}};
  fixture() {
    for (std::size_t i = 0; i < size; ++i) host[i] = std::byte(static_cast<unsigned char>(i + 1));
  }
};

template <std::size_t N>
std::array<std::byte, N> filled(unsigned char v) {
  std::array<std::byte, N> a{};
  a.fill(std::byte{v});
  return a;
}

static_assert(vireo::guest_memory<flat_memory>);

}  // namespace

TEST_CASE("flat_memory: accessors report the buffer and base") {
  fixture f;
  CHECK(f.mem.base() == gpa{base});
  CHECK(f.mem.size() == size);
  CHECK(f.mem.host().data() == f.host.data());
  flat_memory d;
  CHECK(d.base() == gpa{0});
  CHECK(d.size() == 0);
}

TEST_CASE("flat_memory: guest address base+i is host byte i") {
  fixture f;
  std::array<std::byte, 4> out{};
  REQUIRE(f.mem.read(gpa{base}, out).has_value());
  CHECK(out == std::array<std::byte, 4>{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}});
  REQUIRE(f.mem.read(gpa{base + 10}, out).has_value());
  CHECK(out[0] == std::byte{11});
  CHECK(out[3] == std::byte{14});
  REQUIRE(f.mem.read(gpa{base + size - 4}, out).has_value());  // the last four bytes
  CHECK(out[3] == std::byte{size});
}

TEST_CASE("flat_memory: read before the base is out_of_bounds, nothing copied") {
  fixture f;
  auto out = filled<2>(0xEE);
  CHECK(err(f.mem.read(gpa{base - 1}, out)) == errc::out_of_bounds);  // straddles the base
  CHECK(err(f.mem.read(gpa{0}, out)) == errc::out_of_bounds);
  CHECK(out == filled<2>(0xEE));
}

TEST_CASE("flat_memory: read past the end is out_of_bounds, nothing copied") {
  fixture f;
  auto out = filled<8>(0xEE);
  CHECK(err(f.mem.read(gpa{base + size - 7}, out)) == errc::out_of_bounds);  // one byte over
  CHECK(err(f.mem.read(gpa{base + size}, out)) == errc::out_of_bounds);
  CHECK(err(f.mem.read(gpa{base + 0x100000}, out)) == errc::out_of_bounds);
  CHECK(out == filled<8>(0xEE));
  REQUIRE(f.mem.read(gpa{base + size - 8}, out).has_value());  // exactly to the end
  CHECK(out[7] == std::byte{size});
}

TEST_CASE("flat_memory: write is bounded, nothing written on failure") {
  fixture f;
  const auto in = filled<4>(0xAB);
  CHECK(err(f.mem.write(gpa{base + size - 3}, in)) == errc::out_of_bounds);
  CHECK(err(f.mem.write(gpa{base - 2}, in)) == errc::out_of_bounds);
  CHECK(f.host[size - 3] == std::byte{size - 2});
  CHECK(f.host[0] == std::byte{1});
  CHECK(f.host[1] == std::byte{2});
  REQUIRE(f.mem.write(gpa{base + 5}, in).has_value());
  CHECK(f.host[4] == std::byte{5});
  CHECK(f.host[5] == std::byte{0xAB});
  CHECK(f.host[8] == std::byte{0xAB});
  CHECK(f.host[9] == std::byte{10});
}

TEST_CASE("flat_memory: address + length past 2^64 is address_overflow") {
  fixture f;
  std::array<std::byte, 8> out{};
  CHECK(err(f.mem.read(gpa{UINT64_MAX - 3}, out)) == errc::address_overflow);
  CHECK(err(f.mem.write(gpa{UINT64_MAX}, out)) == errc::address_overflow);
  CHECK(err(f.mem.map(gpa{UINT64_MAX - 1}, 16, access::read)) == errc::address_overflow);
  // A 2-aligned 16-bit field cannot cross 2^64; an odd address is refused before any range test.
  CHECK(err(f.mem.load_u16(gpa{UINT64_MAX}, std::memory_order_relaxed)) == errc::misaligned);
  CHECK(err(f.mem.load_u16(gpa{UINT64_MAX - 1}, std::memory_order_relaxed)) ==
        errc::out_of_bounds);
  // Overflow is reported even when the start lies inside memory.
  CHECK(err(f.mem.map(gpa{base}, UINT64_MAX - base + 2, access::read)) ==
        errc::address_overflow);
  CHECK(err(f.mem.map(gpa{base}, UINT64_MAX - base, access::read)) == errc::out_of_bounds);
}

// Last-byte convention (addr + len - 1 <= 2^64 - 1), as chain_builder and region_table use.
TEST_CASE("flat_memory: memory ending exactly at 2^64 can reach its last byte") {
  alignas(8) std::array<std::byte, 16> host{};
  host[15] = std::byte{0x5A};
  flat_memory top{host, gpa{UINT64_MAX - 15}};
  std::array<std::byte, 1> out{};
  auto r = top.read(gpa{UINT64_MAX}, out);
  REQUIRE(r.has_value());
  CHECK(out[0] == std::byte{0x5A});
  auto m = top.map(gpa{UINT64_MAX - 15}, 16, access::read);
  REQUIRE(m.has_value());
  CHECK(m->data() == host.data());
}

TEST_CASE("flat_memory: map returns the exact host view") {
  fixture f;
  auto m = f.mem.map(gpa{base + 12}, 20, access::read_write);
  REQUIRE(m.has_value());
  CHECK(m->data() == f.host.data() + 12);
  CHECK(m->size() == 20);
  auto whole = f.mem.map(gpa{base}, size, access::read);
  REQUIRE(whole.has_value());
  CHECK(whole->data() == f.host.data());
  CHECK(whole->size() == size);
  // Writing through the view is visible to read().
  (*m)[0] = std::byte{0xC3};
  std::array<std::byte, 1> out{};
  REQUIRE(f.mem.read(gpa{base + 12}, out).has_value());
  CHECK(out[0] == std::byte{0xC3});
  CHECK(err(f.mem.map(gpa{base + 1}, size, access::read)) == errc::out_of_bounds);
  CHECK(err(f.mem.map(gpa{base - 1}, 1, access::read)) == errc::out_of_bounds);
}

TEST_CASE("flat_memory: zero-length map and read inside memory succeed, outside fail") {
  fixture f;
  auto m = f.mem.map(gpa{base + 3}, 0, access::read);
  REQUIRE(m.has_value());
  CHECK(m->empty());
  CHECK(f.mem.read(gpa{base}, vireo::bytes{}).has_value());
  CHECK(f.mem.write(gpa{base + 7}, vireo::const_bytes{}).has_value());
  // One past the end is still a valid empty range; two past is not.
  CHECK(f.mem.map(gpa{base + size}, 0, access::read).has_value());
  CHECK(err(f.mem.read(gpa{base + size + 1}, vireo::bytes{})) == errc::out_of_bounds);
  CHECK(err(f.mem.map(gpa{base - 1}, 0, access::read)) == errc::out_of_bounds);
  // A default (empty) flat_memory: only the empty range at 0.
  flat_memory d;
  CHECK(d.map(gpa{0}, 0, access::read).has_value());
  std::array<std::byte, 1> one{};
  CHECK(err(d.read(gpa{0}, one)) == errc::out_of_bounds);
}

TEST_CASE("flat_memory: load_u16/store_u16 are little-endian") {
  fixture f;
  REQUIRE(f.mem.store_u16(gpa{base + 2}, 0x1234, std::memory_order_release).has_value());
  CHECK(f.host[2] == std::byte{0x34});
  CHECK(f.host[3] == std::byte{0x12});
  CHECK(f.host[1] == std::byte{2});
  CHECK(f.host[4] == std::byte{5});
  f.host[10] = std::byte{0xCD};
  f.host[11] = std::byte{0xAB};
  auto v = f.mem.load_u16(gpa{base + 10}, std::memory_order_acquire);
  REQUIRE(v.has_value());
  CHECK(*v == 0xABCD);
  CHECK(f.mem.load_u16(gpa{base + 2}, std::memory_order_relaxed).value() == 0x1234);
  CHECK(f.mem.load_u16(gpa{base + size - 2}, std::memory_order_seq_cst).value() ==
        ((size << 8) | (size - 1)));
}

TEST_CASE("flat_memory: load_u16/store_u16 at an odd address are misaligned, nothing stored") {
  fixture f;
  CHECK(err(f.mem.load_u16(gpa{base + 1}, std::memory_order_acquire)) == errc::misaligned);
  CHECK(err(f.mem.store_u16(gpa{base + 3}, 0xFFFF, std::memory_order_release)) ==
        errc::misaligned);
  CHECK(f.host[3] == std::byte{4});
  CHECK(f.host[4] == std::byte{5});
}

TEST_CASE("flat_memory: load_u16/store_u16 out of range are out_of_bounds") {
  fixture f;
  CHECK(err(f.mem.load_u16(gpa{base + size}, std::memory_order_acquire)) ==
        errc::out_of_bounds);
  CHECK(err(f.mem.load_u16(gpa{base - 2}, std::memory_order_acquire)) == errc::out_of_bounds);
  // The last byte alone: odd, so refused as misaligned before the range test (as region_table).
  CHECK(err(f.mem.store_u16(gpa{base + size - 1}, 1, std::memory_order_release)) ==
        errc::misaligned);
  CHECK(f.host[size - 1] == std::byte{size});
}
