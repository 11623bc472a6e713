// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/core/memory/region_table.hpp: a sorted, fixed-capacity table of host regions.
#include "test_support.hpp"
#include "vireo/core/memory/region_table.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace {

using vireo_test::err;

using vireo::access;
using vireo::errc;
using vireo::gpa;
using vireo::memory_region;
using vireo::region_table;

static_assert(vireo::guest_memory<region_table<4>>);
static_assert(region_table<20>::capacity == 20);

// Host storage the regions point into; every byte starts as its offset (mod 256).
struct backing {
  alignas(16) std::array<std::byte, 0x4000> bytes{};
  backing() {
    for (std::size_t i = 0; i < bytes.size(); ++i)
      bytes[i] = std::byte(static_cast<unsigned char>(i));
  }
  std::byte* at(std::size_t off) { return bytes.data() + off; }
};

memory_region region(std::uint64_t guest, std::uint64_t size, std::byte* host,
                     access allowed = access::read_write) {
  return memory_region{gpa{guest}, size, host, allowed};
}

template <std::size_t N>
std::array<std::byte, N> filled(unsigned char v) {
  std::array<std::byte, N> a{};
  a.fill(std::byte{v});
  return a;
}

}  // namespace

TEST_CASE("region_table: add keeps regions sorted by guest address") {
  backing b;
  region_table<8> t;
  CHECK(t.size() == 0);
  REQUIRE(t.add(region(0x3000, 0x100, b.at(0x300))).has_value());
  REQUIRE(t.add(region(0x1000, 0x100, b.at(0x100))).has_value());
  REQUIRE(t.add(region(0x4000, 0x100, b.at(0x400))).has_value());
  REQUIRE(t.add(region(0x2000, 0x100, b.at(0x200))).has_value());
  REQUIRE(t.size() == 4);
  CHECK(t[0].guest_addr == gpa{0x1000});
  CHECK(t[1].guest_addr == gpa{0x2000});
  CHECK(t[2].guest_addr == gpa{0x3000});
  CHECK(t[3].guest_addr == gpa{0x4000});
  CHECK(t[1].host == b.at(0x200));
  CHECK(t[1].size == 0x100);
  CHECK(t[1].allowed == access::read_write);
}

TEST_CASE("region_table: overlapping regions are region_overlap; touching ones are fine") {
  backing b;
  region_table<8> t;
  REQUIRE(t.add(region(0x1000, 0x100, b.at(0))).has_value());  // [0x1000, 0x1100)
  SUBCASE("overlap on the left by one byte") {
    CHECK(err(t.add(region(0x0F00, 0x101, b.at(0x200)))) == errc::region_overlap);
  }
  SUBCASE("overlap on the right by one byte") {
    CHECK(err(t.add(region(0x10FF, 0x10, b.at(0x200)))) == errc::region_overlap);
  }
  SUBCASE("contained in the existing region") {
    CHECK(err(t.add(region(0x1010, 0x10, b.at(0x200)))) == errc::region_overlap);
  }
  SUBCASE("containing the existing region") {
    CHECK(err(t.add(region(0x0800, 0x1000, b.at(0x200)))) == errc::region_overlap);
  }
  SUBCASE("same start") {
    CHECK(err(t.add(region(0x1000, 1, b.at(0x200)))) == errc::region_overlap);
  }
  SUBCASE("identical") {
    CHECK(err(t.add(region(0x1000, 0x100, b.at(0)))) == errc::region_overlap);
  }
  CHECK(t.size() == 1);  // a refused add leaves the table as it was
  CHECK(t[0].guest_addr == gpa{0x1000});

  // Adjacent on both sides does not overlap.
  CHECK(t.add(region(0x0F00, 0x100, b.at(0x200))).has_value());
  CHECK(t.add(region(0x1100, 0x100, b.at(0x300))).has_value());
  CHECK(t.size() == 3);
  // A region filling the gap between two others exactly, and one overlapping both neighbours.
  REQUIRE(t.add(region(0x2000, 0x100, b.at(0x400))).has_value());
  CHECK(err(t.add(region(0x11FF, 0xE02, b.at(0x500)))) == errc::region_overlap);
  CHECK(t.add(region(0x1200, 0xE00, b.at(0x500))).has_value());
  CHECK(t.size() == 5);
}

TEST_CASE("region_table: size 0 or null host is invalid_argument") {
  backing b;
  region_table<4> t;
  CHECK(err(t.add(region(0x1000, 0, b.at(0)))) == errc::invalid_argument);
  CHECK(err(t.add(region(0x1000, 0x10, nullptr))) == errc::invalid_argument);
  CHECK(t.size() == 0);
}

TEST_CASE("region_table: a guest range wrapping past 2^64 is address_overflow") {
  backing b;
  region_table<4> t;
  CHECK(err(t.add(region(UINT64_MAX - 0xF, 0x11, b.at(0)))) == errc::address_overflow);
  CHECK(err(t.add(region(UINT64_MAX, 2, b.at(0)))) == errc::address_overflow);
  CHECK(err(t.add(region(2, UINT64_MAX, b.at(0)))) == errc::address_overflow);
  CHECK(t.size() == 0);
  // Ending exactly at 2^64 (last byte 2^64 - 1) is accepted.
  CHECK(t.add(region(UINT64_MAX - 0xF, 0x10, b.at(0))).has_value());
  CHECK(t.size() == 1);
  region_table<4> huge;
  CHECK(huge.add(region(1, UINT64_MAX, b.at(0))).has_value());  // [1, 2^64)
}

TEST_CASE("region_table: adding past capacity is table_full") {
  backing b;
  region_table<3> t;
  for (std::uint64_t i = 0; i < 3; ++i)
    REQUIRE(t.add(region(0x1000 * (i + 1), 0x10, b.at(0x10 * i))).has_value());
  CHECK(err(t.add(region(0x9000, 0x10, b.at(0x100)))) == errc::table_full);
  CHECK(t.size() == 3);
  REQUIRE(t.remove(gpa{0x2000}, 0x10).has_value());
  CHECK(t.add(region(0x9000, 0x10, b.at(0x100))).has_value());
  CHECK(t[2].guest_addr == gpa{0x9000});
}

TEST_CASE("region_table: remove needs the exact start and size; else not_found") {
  backing b;
  region_table<8> t;
  REQUIRE(t.add(region(0x1000, 0x100, b.at(0))).has_value());
  REQUIRE(t.add(region(0x2000, 0x100, b.at(0x100))).has_value());
  REQUIRE(t.add(region(0x3000, 0x100, b.at(0x200))).has_value());
  CHECK(err(t.remove(gpa{0x2000}, 0x80)) == errc::not_found);
  CHECK(err(t.remove(gpa{0x2001}, 0x100)) == errc::not_found);
  CHECK(err(t.remove(gpa{0x5000}, 0x100)) == errc::not_found);
  CHECK(t.size() == 3);
  REQUIRE(t.remove(gpa{0x2000}, 0x100).has_value());
  REQUIRE(t.size() == 2);
  CHECK(t[0].guest_addr == gpa{0x1000});
  CHECK(t[1].guest_addr == gpa{0x3000});
  CHECK(t.find(gpa{0x2010}) == nullptr);
  CHECK(err(t.remove(gpa{0x2000}, 0x100)) == errc::not_found);  // already gone
  t.clear();
  CHECK(t.size() == 0);
  CHECK(t.find(gpa{0x1000}) == nullptr);
}

TEST_CASE("region_table: find with few regions (linear scan), gaps and edges") {
  backing b;
  region_table<8> t;
  REQUIRE(t.add(region(0x1000, 0x100, b.at(0))).has_value());
  REQUIRE(t.add(region(0x1100, 0x100, b.at(0x100))).has_value());  // adjacent
  REQUIRE(t.add(region(0x8000, 0x10, b.at(0x200))).has_value());   // after a gap
  CHECK(t.find(gpa{0}) == nullptr);
  CHECK(t.find(gpa{0x0FFF}) == nullptr);
  CHECK(t.find(gpa{0x1000}) == &t[0]);
  CHECK(t.find(gpa{0x10FF}) == &t[0]);
  CHECK(t.find(gpa{0x1100}) == &t[1]);
  CHECK(t.find(gpa{0x11FF}) == &t[1]);
  CHECK(t.find(gpa{0x1200}) == nullptr);
  CHECK(t.find(gpa{0x7FFF}) == nullptr);
  CHECK(t.find(gpa{0x8000}) == &t[2]);
  CHECK(t.find(gpa{0x800F}) == &t[2]);
  CHECK(t.find(gpa{0x8010}) == nullptr);
  CHECK(t.find(gpa{UINT64_MAX}) == nullptr);
}

TEST_CASE("region_table: find with 20 regions (binary search) agrees with a linear scan") {
  backing b;
  region_table<32> t;
  // Region i: guest [0x10000*(i+1), +0x40+i), host slice 0x100*i. Inserted out of order.
  // Regions 5 and 6 are made adjacent to test a boundary without a gap.
  auto start = [](std::uint64_t i) -> std::uint64_t {
    return i == 6 ? 0x60000 + 0x45 : 0x10000 * (i + 1);
  };
  auto len = [](std::uint64_t i) -> std::uint64_t { return 0x40 + i; };
  const std::uint64_t order[20] = {7, 13, 0, 19, 2, 11, 5, 17, 9, 1, 15, 3, 18, 6, 12, 4, 16, 8, 14, 10};
  for (std::uint64_t i : order) REQUIRE(t.add(region(start(i), len(i), b.at(0x100 * i))).has_value());
  REQUIRE(t.size() == 20);
  for (std::size_t i = 0; i + 1 < 20; ++i) CHECK(t[i].guest_addr < t[i + 1].guest_addr);
  CHECK(start(5) + len(5) == start(6));

  for (std::uint64_t i = 0; i < 20; ++i) {
    CAPTURE(i);
    const memory_region* r = t.find(gpa{start(i)});
    REQUIRE(r != nullptr);
    CHECK(r->guest_addr == gpa{start(i)});
    CHECK(r->host == b.at(0x100 * i));
    CHECK(t.find(gpa{start(i) + len(i) - 1}) == r);
    CHECK(t.find(gpa{start(i) + len(i) / 2}) == r);
    if (i != 5) CHECK(t.find(gpa{start(i) + len(i)}) == nullptr);  // the gap after it
    if (i != 6) CHECK(t.find(gpa{start(i) - 1}) == nullptr);       // the gap before it
  }
  CHECK(t.find(gpa{start(5) + len(5)}) == t.find(gpa{start(6)}));
  CHECK(t.find(gpa{0}) == nullptr);
  CHECK(t.find(gpa{0xFFFF}) == nullptr);
  CHECK(t.find(gpa{0x10000 * 21}) == nullptr);
  CHECK(t.find(gpa{UINT64_MAX}) == nullptr);

  // Brute force: every address near every region boundary.
  auto linear = [&](std::uint64_t a) -> const memory_region* {
    for (std::size_t i = 0; i < t.size(); ++i)
      if (a >= t[i].guest_addr.raw() && a - t[i].guest_addr.raw() < t[i].size) return &t[i];
    return nullptr;
  };
  int mismatches = 0;
  for (std::uint64_t i = 0; i < 20; ++i)
    for (std::uint64_t a = start(i) - 3; a < start(i) + len(i) + 3; ++a)
      if (t.find(gpa{a}) != linear(a)) ++mismatches;
  CHECK(mismatches == 0);

  // Copy access through the binary-search path, including across the adjacent pair.
  std::array<std::byte, 4> out{};
  REQUIRE(t.read(gpa{start(6) - 2}, out).has_value());
  CHECK(out[0] == std::byte{0x43});  // region 5 host slice 0x500, offset 0x43
  CHECK(out[1] == std::byte{0x44});
  CHECK(out[2] == std::byte{0x00});  // region 6 host slice 0x600, offset 0
  CHECK(out[3] == std::byte{0x01});
  CHECK(err(t.read(gpa{start(7) + len(7) - 2}, out)) == errc::out_of_bounds);
}

TEST_CASE("region_table: exactly 9 regions takes the binary search and still finds the last") {
  backing b;
  region_table<16> t;
  for (std::uint64_t i = 0; i < 9; ++i)
    REQUIRE(t.add(region(0x1000 * (i + 1), 0x10, b.at(0x10 * i))).has_value());
  CHECK(t.find(gpa{0x9000}) == &t[8]);
  CHECK(t.find(gpa{0x900F}) == &t[8]);
  CHECK(t.find(gpa{0x9010}) == nullptr);
  CHECK(t.find(gpa{0x1000}) == &t[0]);
  CHECK(t.find(gpa{0x0FFF}) == nullptr);
}

TEST_CASE("region_table: map inside one region returns the exact host view") {
  backing b;
  region_table<8> t;
  REQUIRE(t.add(region(0x1000, 0x100, b.at(0x200))).has_value());
  auto m = t.map(gpa{0x1010}, 0x20, access::read_write);
  REQUIRE(m.has_value());
  CHECK(m->data() == b.at(0x210));
  CHECK(m->size() == 0x20);
  auto whole = t.map(gpa{0x1000}, 0x100, access::read);
  REQUIRE(whole.has_value());
  CHECK(whole->data() == b.at(0x200));
  auto empty = t.map(gpa{0x10FF}, 0, access::read);
  REQUIRE(empty.has_value());
  CHECK(empty->empty());
  CHECK(err(t.map(gpa{0x1001}, 0x100, access::read)) == errc::out_of_bounds);  // past the end
  CHECK(err(t.map(gpa{0x0FFF}, 2, access::read)) == errc::out_of_bounds);      // before start
  CHECK(err(t.map(gpa{0x10F0}, UINT64_MAX, access::read)) == errc::address_overflow);
}

TEST_CASE("region_table: map across two adjacent regions is not_contiguous; across a gap "
          "is out_of_bounds") {
  backing b;
  region_table<8> t;
  REQUIRE(t.add(region(0x1000, 0x100, b.at(0x000))).has_value());
  REQUIRE(t.add(region(0x1100, 0x100, b.at(0x800))).has_value());  // adjacent, host elsewhere
  REQUIRE(t.add(region(0x1300, 0x100, b.at(0x400))).has_value());  // after a gap at 0x1200
  CHECK(err(t.map(gpa{0x10F0}, 0x20, access::read)) == errc::not_contiguous);
  CHECK(err(t.map(gpa{0x1000}, 0x200, access::read)) == errc::not_contiguous);
  CHECK(err(t.map(gpa{0x11F0}, 0x20, access::read)) == errc::out_of_bounds);
  CHECK(err(t.map(gpa{0x10F0}, 0x120, access::read)) == errc::out_of_bounds);  // adj + gap
  CHECK(err(t.map(gpa{0x13F0}, 0x20, access::read)) == errc::out_of_bounds);   // off the end
  // Start in a gap.
  CHECK(err(t.map(gpa{0x1200}, 1, access::read)) == errc::out_of_bounds);
}

TEST_CASE("region_table: read and write across adjacent regions copy the right bytes") {
  backing b;
  region_table<8> t;
  // Guest-adjacent, host-apart: a bug that copies contiguously from the first host pointer shows.
  REQUIRE(t.add(region(0x1000, 0x10, b.at(0x100))).has_value());
  REQUIRE(t.add(region(0x1010, 0x10, b.at(0x300))).has_value());
  REQUIRE(t.add(region(0x1020, 0x10, b.at(0x200))).has_value());
  std::array<std::byte, 0x20> out{};
  REQUIRE(t.read(gpa{0x1008}, out).has_value());
  for (std::size_t i = 0; i < 8; ++i) CHECK(out[i] == std::byte(static_cast<unsigned char>(8 + i)));
  for (std::size_t i = 0; i < 16; ++i)
    CHECK(out[8 + i] == std::byte(static_cast<unsigned char>(i)));  // 0x300 + i
  for (std::size_t i = 0; i < 8; ++i)
    CHECK(out[24 + i] == std::byte(static_cast<unsigned char>(i)));  // 0x200 + i

  std::array<std::byte, 0x20> in{};
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = std::byte(static_cast<unsigned char>(0xA0 + i));
  REQUIRE(t.write(gpa{0x1004}, in).has_value());
  CHECK(b.bytes[0x103] == std::byte{0x03});
  CHECK(b.bytes[0x104] == std::byte{0xA0});
  CHECK(b.bytes[0x10F] == std::byte{0xAB});
  CHECK(b.bytes[0x110] == std::byte{0x10});  // untouched: past region 0's host slice
  CHECK(b.bytes[0x300] == std::byte{0xAC});
  CHECK(b.bytes[0x30F] == std::byte{0xBB});
  CHECK(b.bytes[0x200] == std::byte{0xBC});
  CHECK(b.bytes[0x203] == std::byte{0xBF});
  CHECK(b.bytes[0x204] == std::byte{0x04});
  // Round trip.
  std::array<std::byte, 0x20> back{};
  REQUIRE(t.read(gpa{0x1004}, back).has_value());
  CHECK(back == in);
}

TEST_CASE("region_table: a copy that leaves memory is out_of_bounds with nothing copied") {
  backing b;
  region_table<8> t;
  REQUIRE(t.add(region(0x1000, 0x10, b.at(0x100))).has_value());
  REQUIRE(t.add(region(0x1010, 0x10, b.at(0x300))).has_value());
  REQUIRE(t.add(region(0x1030, 0x10, b.at(0x200))).has_value());  // gap at 0x1020
  auto out = filled<0x20>(0xEE);
  CHECK(err(t.read(gpa{0x1008}, out)) == errc::out_of_bounds);
  CHECK(out == filled<0x20>(0xEE));
  const auto in = filled<0x20>(0x77);
  CHECK(err(t.write(gpa{0x1008}, in)) == errc::out_of_bounds);
  CHECK(b.bytes[0x108] == std::byte{0x08});
  CHECK(b.bytes[0x300] == std::byte{0x00});
  CHECK(err(t.read(gpa{0x1034}, out)) == errc::out_of_bounds);  // runs off the last region
  CHECK(err(t.read(gpa{UINT64_MAX - 1}, out)) == errc::address_overflow);
  CHECK(t.read(gpa{0x5000}, vireo::bytes{}).has_value());  // zero bytes: nothing to check
}

TEST_CASE("region_table: writing a read-only region is access_denied, nothing written") {
  backing b;
  region_table<8> t;
  REQUIRE(t.add(region(0x1000, 0x10, b.at(0x100), access::read_write)).has_value());
  REQUIRE(t.add(region(0x1010, 0x10, b.at(0x300), access::read)).has_value());
  const auto in = filled<8>(0x77);
  CHECK(err(t.write(gpa{0x1012}, in)) == errc::access_denied);
  CHECK(b.bytes[0x302] == std::byte{0x02});
  // Spanning the writable region into the read-only one: the writable part is not written either.
  CHECK(err(t.write(gpa{0x100C}, in)) == errc::access_denied);
  CHECK(b.bytes[0x10C] == std::byte{0x0C});
  CHECK(b.bytes[0x10F] == std::byte{0x0F});
  CHECK(b.bytes[0x300] == std::byte{0x00});
  // Reading it is fine.
  std::array<std::byte, 8> out{};
  REQUIRE(t.read(gpa{0x100C}, out).has_value());
  CHECK(out[4] == std::byte{0x00});
  // map honours the access too.
  CHECK(err(t.map(gpa{0x1010}, 4, access::write)) == errc::access_denied);
  CHECK(err(t.map(gpa{0x1010}, 4, access::read_write)) == errc::access_denied);
  CHECK(t.map(gpa{0x1010}, 4, access::read).has_value());
  CHECK(err(t.map(gpa{0x100C}, 8, access::write)) == errc::access_denied);
  CHECK(err(t.map(gpa{0x100C}, 8, access::read)) == errc::not_contiguous);
}

TEST_CASE("region_table: reading a write-only region is access_denied") {
  backing b;
  region_table<8> t;
  REQUIRE(t.add(region(0x1000, 0x10, b.at(0x100), access::write)).has_value());
  auto out = filled<4>(0xEE);
  CHECK(err(t.read(gpa{0x1000}, out)) == errc::access_denied);
  CHECK(out == filled<4>(0xEE));
  CHECK(t.write(gpa{0x1000}, out).has_value());
  CHECK(err(t.load_u16(gpa{0x1000}, std::memory_order_acquire)) == errc::access_denied);
}

TEST_CASE("region_table: load_u16/store_u16 are little-endian and checked") {
  backing b;
  region_table<8> t;
  REQUIRE(t.add(region(0x1000, 0x11, b.at(0x100))).has_value());   // ends at odd 0x1011
  REQUIRE(t.add(region(0x1011, 0x0F, b.at(0x301))).has_value());   // adjacent
  REQUIRE(t.add(region(0x2000, 0x10, b.at(0x200), access::read)).has_value());
  REQUIRE(t.add(region(0x3000, 0x10, b.at(0x401))).has_value());   // host pointer odd

  REQUIRE(t.store_u16(gpa{0x1002}, 0xBEEF, std::memory_order_release).has_value());
  CHECK(b.bytes[0x102] == std::byte{0xEF});
  CHECK(b.bytes[0x103] == std::byte{0xBE});
  CHECK(t.load_u16(gpa{0x1002}, std::memory_order_acquire).value() == 0xBEEF);
  CHECK(t.load_u16(gpa{0x2004}, std::memory_order_acquire).value() == 0x0504);
  CHECK(err(t.load_u16(gpa{0x1001}, std::memory_order_acquire)) == errc::misaligned);
  CHECK(err(t.store_u16(gpa{0x1003}, 1, std::memory_order_release)) == errc::misaligned);
  // A 2-aligned word whose bytes sit in two regions cannot be accessed atomically.
  CHECK(err(t.load_u16(gpa{0x1010}, std::memory_order_acquire)) == errc::not_contiguous);
  // Guest address aligned but the host view is not.
  CHECK(err(t.load_u16(gpa{0x3000}, std::memory_order_acquire)) == errc::misaligned);
  CHECK(err(t.store_u16(gpa{0x2004}, 0, std::memory_order_release)) == errc::access_denied);
  CHECK(b.bytes[0x204] == std::byte{0x04});
  CHECK(err(t.load_u16(gpa{0x5000}, std::memory_order_acquire)) == errc::out_of_bounds);
  CHECK(t.load_u16(gpa{0x200F - 1}, std::memory_order_acquire).value() == 0x0F0E);
}

// A region whose last byte is 2^64 - 1 is reachable to its end.
TEST_CASE("region_table: a region ending exactly at 2^64 can reach its last byte") {
  backing b;
  region_table<4> t;
  REQUIRE(t.add(region(UINT64_MAX - 0xF, 0x10, b.at(0x100))).has_value());
  std::array<std::byte, 1> out{};
  REQUIRE(t.read(gpa{UINT64_MAX}, out).has_value());
  CHECK(out[0] == std::byte{0x0F});
  auto m = t.map(gpa{UINT64_MAX - 0xF}, 0x10, access::read);
  REQUIRE(m.has_value());
  CHECK(m->data() == b.at(0x100));
  CHECK(t.load_u16(gpa{UINT64_MAX - 1}, std::memory_order_acquire).value() == 0x0F0E);
}
