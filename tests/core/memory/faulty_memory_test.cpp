// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/core/memory/faulty_memory.hpp: injected failures over another memory model.
#include "test_support.hpp"
#include "vireo/core/memory/faulty_memory.hpp"

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/core/memory/region_table.hpp"

namespace {

using vireo::access;
using vireo::errc;
using vireo::faulty_memory;
using vireo::flat_memory;
using vireo::gpa;

using vireo_test::err;

static_assert(vireo::guest_memory<faulty_memory<flat_memory>>);
static_assert(vireo::guest_memory<faulty_memory<vireo::region_table<4>>>);
static_assert(vireo::guest_memory<faulty_memory<faulty_memory<flat_memory>>>);

constexpr std::uint64_t base = 0x1000;

struct fixture {
  alignas(8) std::array<std::byte, 0x40> host{};
  flat_memory flat{host, gpa{base}};
  faulty_memory<flat_memory> mem{flat};
};

}  // namespace

TEST_CASE("faulty_memory: with no fault configured it forwards everything") {
  fixture f;
  CHECK(&f.mem.inner() == &f.flat);
  const std::array<std::byte, 2> in{std::byte{1}, std::byte{2}};
  REQUIRE(f.mem.write(gpa{base + 4}, in).has_value());
  CHECK(f.host[4] == std::byte{1});
  std::array<std::byte, 2> out{};
  REQUIRE(f.mem.read(gpa{base + 4}, out).has_value());
  CHECK(out == in);
  auto m = f.mem.map(gpa{base + 8}, 4, access::read);
  REQUIRE(m.has_value());
  CHECK(m->data() == f.host.data() + 8);
  REQUIRE(f.mem.store_u16(gpa{base + 10}, 0x0102, std::memory_order_release).has_value());
  CHECK(f.mem.load_u16(gpa{base + 10}, std::memory_order_acquire).value_or(0) == 0x0102);
  CHECK(f.mem.accesses() == 5);
  CHECK(f.mem.faults() == 0);
  // The inner model's own errors come through unchanged and are not counted as faults.
  CHECK(err(f.mem.read(gpa{base + 0x40}, out)) == errc::out_of_bounds);
  CHECK(err(f.mem.load_u16(gpa{base + 1}, std::memory_order_acquire)) == errc::misaligned);
  CHECK(f.mem.accesses() == 7);
  CHECK(f.mem.faults() == 0);
}

TEST_CASE("faulty_memory: fail_after(n) lets exactly n accesses through, then fails them all") {
  fixture f;
  std::array<std::byte, 1> one{};
  REQUIRE(f.mem.read(gpa{base}, one).has_value());  // before the budget is set: not counted in it
  f.mem.fail_after(3);
  CHECK(f.mem.read(gpa{base}, one).has_value());
  CHECK(f.mem.write(gpa{base}, one).has_value());
  CHECK(f.mem.map(gpa{base}, 1, access::read).has_value());
  CHECK(err(f.mem.read(gpa{base}, one)) == errc::injected_fault);
  CHECK(err(f.mem.load_u16(gpa{base}, std::memory_order_acquire)) == errc::injected_fault);
  CHECK(err(f.mem.store_u16(gpa{base}, 7, std::memory_order_release)) == errc::injected_fault);
  CHECK(err(f.mem.map(gpa{base}, 0, access::read)) == errc::injected_fault);  // even empty
  CHECK(f.mem.accesses() == 8);
  CHECK(f.mem.faults() == 4);
  CHECK(f.host[0] == std::byte{0});  // the failed store wrote nothing
}

TEST_CASE("faulty_memory: fail_after(0) fails the very next access, with the chosen errc") {
  fixture f;
  f.mem.fail_after(0, errc::access_denied);
  std::array<std::byte, 2> in{std::byte{9}, std::byte{9}};
  CHECK(err(f.mem.write(gpa{base}, in)) == errc::access_denied);
  CHECK(f.host[0] == std::byte{0});
  CHECK(f.mem.faults() == 1);
}

TEST_CASE("faulty_memory: fail_range fails exactly the accesses that overlap it") {
  fixture f;
  // Faulty range [base + 0x10, base + 0x20).
  f.mem.fail_range(gpa{base + 0x10}, 0x10, errc::out_of_bounds);
  std::array<std::byte, 0x10> buf{};
  std::array<std::byte, 2> two{};
  std::array<std::byte, 1> one{};
  // Adjacent on either side: passes.
  CHECK(f.mem.read(gpa{base}, buf).has_value());             // [0x00, 0x10)
  CHECK(f.mem.read(gpa{base + 0x20}, buf).has_value());      // [0x20, 0x30)
  CHECK(f.mem.read(gpa{base + 0x0E}, two).has_value());      // [0x0E, 0x10)
  CHECK(f.mem.write(gpa{base + 0x20}, one).has_value());     // first byte after
  // Overlapping by one byte on either edge, contained, containing: fails.
  CHECK(err(f.mem.read(gpa{base + 0x0F}, two)) == errc::out_of_bounds);   // [0x0F, 0x11)
  CHECK(err(f.mem.read(gpa{base + 0x1F}, two)) == errc::out_of_bounds);   // [0x1F, 0x21)
  CHECK(err(f.mem.read(gpa{base + 0x10}, one)) == errc::out_of_bounds);   // first byte
  CHECK(err(f.mem.read(gpa{base + 0x1F}, one)) == errc::out_of_bounds);   // last byte
  CHECK(err(f.mem.read(gpa{base + 0x14}, two)) == errc::out_of_bounds);   // contained
  std::array<std::byte, 0x40> all{};
  CHECK(err(f.mem.read(gpa{base}, all)) == errc::out_of_bounds);          // containing
  // Zero-length accesses overlap nothing.
  CHECK(f.mem.read(gpa{base + 0x15}, vireo::bytes{}).has_value());
  CHECK(f.mem.map(gpa{base + 0x15}, 0, access::read).has_value());
  // Every access kind honours the range.
  CHECK(err(f.mem.map(gpa{base + 0x08}, 0x09, access::read)) == errc::out_of_bounds);
  CHECK(f.mem.map(gpa{base + 0x08}, 0x08, access::read).has_value());
  CHECK(err(f.mem.load_u16(gpa{base + 0x1E}, std::memory_order_acquire)) == errc::out_of_bounds);
  CHECK(f.mem.load_u16(gpa{base + 0x20}, std::memory_order_acquire).has_value());
  CHECK(f.mem.load_u16(gpa{base + 0x0E}, std::memory_order_acquire).has_value());
  const std::array<std::byte, 4> in{std::byte{0xAA}, std::byte{0xAA}, std::byte{0xAA},
                                    std::byte{0xAA}};
  CHECK(err(f.mem.write(gpa{base + 0x0E}, in)) == errc::out_of_bounds);
  CHECK(f.host[0x0E] == std::byte{0});  // nothing written, not even the part before the range
  CHECK(err(f.mem.store_u16(gpa{base + 0x10}, 1, std::memory_order_release)) ==
        errc::out_of_bounds);
  CHECK(f.mem.faults() == 10);
}

TEST_CASE("faulty_memory: fail_range at the top of the address space does not wrap") {
  fixture f;
  f.mem.fail_range(gpa{UINT64_MAX - 1}, 2);  // the last two addresses
  std::array<std::byte, 2> two{};
  // Far below: passes the fault check, then the inner model answers.
  CHECK(f.mem.read(gpa{base}, two).has_value());
  // Touching the range from below: the fault check passes; flat_memory reports out_of_bounds.
  CHECK(err(f.mem.read(gpa{UINT64_MAX - 3}, two)) == errc::out_of_bounds);
  CHECK(f.mem.faults() == 0);
  std::array<std::byte, 3> three{};
  CHECK(err(f.mem.read(gpa{UINT64_MAX - 3}, three)) == errc::injected_fault);
  CHECK(f.mem.faults() == 1);
  // A range starting at 0 and an access far above it.
  f.mem.fail_range(gpa{0}, base);
  CHECK(f.mem.read(gpa{base}, two).has_value());
  CHECK(err(f.mem.read(gpa{base - 1}, two)) == errc::injected_fault);
}

TEST_CASE("faulty_memory: fail_range with length 0 disables the range fault") {
  fixture f;
  f.mem.fail_range(gpa{base}, 0);
  std::array<std::byte, 4> buf{};
  CHECK(f.mem.read(gpa{base}, buf).has_value());
  CHECK(f.mem.faults() == 0);
}

TEST_CASE("faulty_memory: deny_map makes map not_contiguous, copies still work") {
  fixture f;
  f.mem.deny_map();
  CHECK(err(f.mem.map(gpa{base}, 4, access::read)) == errc::not_contiguous);
  CHECK(err(f.mem.map(gpa{base + 0x3F}, 1, access::write)) == errc::not_contiguous);
  auto empty = f.mem.map(gpa{base}, 0, access::read);  // zero-length still forwarded
  REQUIRE(empty.has_value());
  CHECK(empty->empty());
  std::array<std::byte, 4> buf{};
  CHECK(f.mem.read(gpa{base}, buf).has_value());
  CHECK(f.mem.write(gpa{base}, buf).has_value());
  CHECK(f.mem.load_u16(gpa{base}, std::memory_order_acquire).has_value());
  CHECK(f.mem.faults() == 0);  // a denied map is not an injected fault
  CHECK(f.mem.accesses() == 6);
  f.mem.deny_map(false);
  CHECK(f.mem.map(gpa{base}, 4, access::read).has_value());
}

TEST_CASE("faulty_memory: deny_map leaves an invalid range's own error in place") {
  fixture f;
  f.mem.deny_map();
  CHECK(err(f.mem.map(gpa{base + 0x3F}, 2, access::read)) == errc::out_of_bounds);
  CHECK(err(f.mem.map(gpa{base - 1}, 1, access::read)) == errc::out_of_bounds);
  CHECK(err(f.mem.map(gpa{UINT64_MAX}, 2, access::read)) == errc::address_overflow);
  CHECK(f.mem.faults() == 0);
}

TEST_CASE("faulty_memory: an injected fault takes precedence over deny_map") {
  fixture f;
  f.mem.deny_map();
  f.mem.fail_range(gpa{base}, 4, errc::access_denied);
  CHECK(err(f.mem.map(gpa{base}, 4, access::read)) == errc::access_denied);
  CHECK(err(f.mem.map(gpa{base + 4}, 4, access::read)) == errc::not_contiguous);
}

TEST_CASE("faulty_memory: clear_faults removes every fault and keeps the counters") {
  fixture f;
  f.mem.fail_after(0);
  f.mem.fail_range(gpa{base}, 0x40);
  f.mem.deny_map();
  std::array<std::byte, 1> one{};
  CHECK(err(f.mem.read(gpa{base}, one)) == errc::injected_fault);
  CHECK(err(f.mem.map(gpa{base}, 1, access::read)) == errc::injected_fault);
  CHECK(f.mem.accesses() == 2);
  CHECK(f.mem.faults() == 2);
  f.mem.clear_faults();
  CHECK(f.mem.read(gpa{base}, one).has_value());
  CHECK(f.mem.map(gpa{base}, 1, access::read).has_value());
  CHECK(f.mem.store_u16(gpa{base + 2}, 1, std::memory_order_release).has_value());
  CHECK(f.mem.accesses() == 5);
  CHECK(f.mem.faults() == 2);
  // A later fail_after counts from now, not from construction.
  f.mem.fail_after(1);
  CHECK(f.mem.read(gpa{base}, one).has_value());
  CHECK(err(f.mem.read(gpa{base}, one)) == errc::injected_fault);
}

TEST_CASE("faulty_memory: wraps a region_table and passes its errors through") {
  alignas(8) std::array<std::byte, 0x20> host{};
  vireo::region_table<4> table;
  REQUIRE(table.add(vireo::memory_region{gpa{0x1000}, 0x10, host.data(), access::read}).has_value());
  REQUIRE(table.add(vireo::memory_region{gpa{0x1010}, 0x10, host.data() + 0x10, access::read_write})
              .has_value());
  faulty_memory<vireo::region_table<4>> mem{table};
  CHECK(err(mem.map(gpa{0x1008}, 0x10, access::read)) == errc::not_contiguous);
  std::array<std::byte, 2> two{};
  CHECK(err(mem.write(gpa{0x1000}, two)) == errc::access_denied);
  CHECK(mem.write(gpa{0x1010}, two).has_value());
  CHECK(mem.faults() == 0);
  mem.fail_range(gpa{0x1018}, 1);
  CHECK(err(mem.write(gpa{0x1010}, std::array<std::byte, 9>{})) == errc::injected_fault);
  CHECK(mem.write(gpa{0x1010}, std::array<std::byte, 8>{}).has_value());
}
