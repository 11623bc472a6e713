// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/core/guest_memory.hpp: gpa, allows(), range_fits().
#include "test_support.hpp"
#include "vireo/core/guest_memory.hpp"

#include <doctest/doctest.h>

#include <cstdint>

namespace {

using vireo_test::err;

using vireo::access;
using vireo::errc;
using vireo::gpa;

static_assert(gpa{}.raw() == 0);
static_assert(gpa{5} < gpa{6});
static_assert(gpa{7} == gpa{7});
static_assert(gpa{5}.offset(3) == gpa{8});
static_assert(sizeof(gpa) == 8);

}  // namespace

TEST_CASE("gpa: checked_add succeeds up to 2^64-1 and is address_overflow past it") {
  auto a = gpa{0x1000}.checked_add(0x10);
  REQUIRE(a.has_value());
  CHECK(a->raw() == 0x1010);
  auto top = gpa{UINT64_MAX - 4}.checked_add(4);
  REQUIRE(top.has_value());
  CHECK(top->raw() == UINT64_MAX);
  auto over = gpa{UINT64_MAX - 4}.checked_add(5);
  REQUIRE_FALSE(over.has_value());
  CHECK(err(over) == errc::address_overflow);
  CHECK(gpa{UINT64_MAX}.checked_add(0).has_value());
  CHECK(err(gpa{1}.checked_add(UINT64_MAX)) == errc::address_overflow);
  CHECK(gpa{0}.checked_add(UINT64_MAX)->raw() == UINT64_MAX);
}

TEST_CASE("gpa: ordering compares raw addresses") {
  CHECK(gpa{1} < gpa{2});
  CHECK(gpa{UINT64_MAX} > gpa{0});
  CHECK(gpa{3} <= gpa{3});
  CHECK(gpa{3} != gpa{4});
}

TEST_CASE("allows: granted access must include every wanted bit") {
  CHECK(vireo::allows(access::read_write, access::read));
  CHECK(vireo::allows(access::read_write, access::write));
  CHECK(vireo::allows(access::read_write, access::read_write));
  CHECK(vireo::allows(access::read, access::read));
  CHECK_FALSE(vireo::allows(access::read, access::write));
  CHECK_FALSE(vireo::allows(access::read, access::read_write));
  CHECK(vireo::allows(access::write, access::write));
  CHECK_FALSE(vireo::allows(access::write, access::read));
}

TEST_CASE("range_fits: exact edges, and no wrap-around for huge values") {
  CHECK(vireo::range_fits(0, 0, 0));
  CHECK(vireo::range_fits(0, 10, 10));
  CHECK(vireo::range_fits(10, 0, 10));
  CHECK_FALSE(vireo::range_fits(11, 0, 10));
  CHECK_FALSE(vireo::range_fits(0, 11, 10));
  CHECK(vireo::range_fits(3, 7, 10));
  CHECK_FALSE(vireo::range_fits(3, 8, 10));
  // start + len would wrap to a small number: still rejected.
  CHECK_FALSE(vireo::range_fits(5, UINT64_MAX, 10));
  CHECK_FALSE(vireo::range_fits(UINT64_MAX, 2, 10));
  CHECK(vireo::range_fits(UINT64_MAX - 1, 1, UINT64_MAX));
  CHECK_FALSE(vireo::range_fits(UINT64_MAX - 1, 2, UINT64_MAX));
}
