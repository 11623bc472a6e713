// SPDX-License-Identifier: Apache-2.0
// Tests for the FAIL_NEXT group helpers of vireo/i2c/codec.hpp: next_group, group_status,
// group_tracker, and the rule for a group left open at the end of the requests at hand.
#include "i2c_test_support.hpp"

#include <vector>

using namespace vireo_i2c_test;
using i2c::group;
using i2c::group_end;
using i2c::group_link;
using i2c::status;
using i2c::tail_policy;

namespace {

constexpr group_link E = group_link::ends_group;
constexpr group_link F = group_link::fail_next;
constexpr group_link U = group_link::unknown;

/// Split a whole sequence into groups with next_group.
std::vector<group> split(const std::vector<group_link>& links, tail_policy tail) {
  std::vector<group> out;
  std::size_t at = 0;
  while (at < links.size()) {
    const group g = i2c::next_group(links, at, tail);
    REQUIRE(g.first == at);
    REQUIRE(g.count > 0);
    out.push_back(g);
    if (g.end == group_end::pending) break;
    at += g.count;
  }
  return out;
}

bool same(const group& a, std::size_t first, std::size_t count, group_end end) {
  return a.first == first && a.count == count && a.end == end;
}

}  // namespace

TEST_CASE("groups: a request without FAIL_NEXT is a group of one") {
  const std::vector<group_link> l{E, E, E};
  auto g = split(l, tail_policy::hold);
  REQUIRE(g.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(same(g[i], i, 1, group_end::terminated));
}

TEST_CASE("groups: a run of FAIL_NEXT requests ends at the first request without it") {
  const std::vector<group_link> l{F, F, E, F, E, E};  // write-reg + read, twice, then a single
  auto g = split(l, tail_policy::hold);
  REQUIRE(g.size() == 3);
  CHECK(same(g[0], 0, 3, group_end::terminated));
  CHECK(same(g[1], 3, 2, group_end::terminated));
  CHECK(same(g[2], 5, 1, group_end::terminated));
}

TEST_CASE("groups: an unterminated tail is pending under hold, its own group under close") {
  const std::vector<group_link> l{F, E, F, F};
  auto held = split(l, tail_policy::hold);
  REQUIRE(held.size() == 2);
  CHECK(same(held[0], 0, 2, group_end::terminated));
  CHECK(same(held[1], 2, 2, group_end::pending));
  auto closed = split(l, tail_policy::close);
  REQUIRE(closed.size() == 2);
  CHECK(same(closed[1], 2, 2, group_end::closed));
  // One request alone with FAIL_NEXT set (Linux's ring filled after its first message).
  const std::vector<group_link> one{F};
  CHECK(same(i2c::next_group(one, 0, tail_policy::hold), 0, 1, group_end::pending));
  CHECK(same(i2c::next_group(one, 0, tail_policy::close), 0, 1, group_end::closed));
  // When the terminator arrives later, the held group is complete.
  const std::vector<group_link> later{F, F, E};
  CHECK(same(i2c::next_group(later, 0, tail_policy::hold), 0, 3, group_end::terminated));
}

TEST_CASE("groups: an unknown link (unreadable header) continues the group, failing closed") {
  const std::vector<group_link> l{U, E, F, U, E, U};
  auto g = split(l, tail_policy::close);
  REQUIRE(g.size() == 3);
  CHECK(same(g[0], 0, 2, group_end::terminated));
  CHECK(same(g[1], 2, 3, group_end::terminated));
  CHECK(same(g[2], 5, 1, group_end::closed));
}

TEST_CASE("groups: next_group past the end is empty, and an empty sequence has no group") {
  const std::vector<group_link> l{E, F};
  CHECK(i2c::next_group(l, 2, tail_policy::close).count == 0);
  CHECK(i2c::next_group(l, 99, tail_policy::hold).count == 0);
  CHECK(i2c::next_group(std::span<const group_link>{}, 0, tail_policy::hold).count == 0);
  static_assert(i2c::next_group(std::span<const group_link>{}, 0, tail_policy::close).count == 0);
}

TEST_CASE("groups: group_status: before the first failure OK, from it on ERR") {
  CHECK(i2c::group_status(0, 3) == status::ok);
  CHECK(i2c::group_status(2, 3) == status::ok);
  CHECK(i2c::group_status(3, 3) == status::err);
  CHECK(i2c::group_status(4, 3) == status::err);
  CHECK(i2c::group_status(0, 0) == status::err);
}

TEST_CASE("groups: group_tracker fails the rest of a group, never the next group") {
  i2c::group_tracker t;
  CHECK_FALSE(t.skip());
  CHECK_FALSE(t.open());
  // Group 1: OK, ERR, (skipped), ends.
  CHECK(t.record(status::ok, F) == status::ok);
  CHECK(t.open());
  CHECK_FALSE(t.skip());
  CHECK(t.record(status::err, F) == status::err);
  CHECK(t.skip());
  CHECK(t.record(status::ok, F) == status::err);  // claimed OK, but its group already failed
  CHECK(t.skip());
  CHECK(t.record(status::ok, E) == status::err);
  CHECK_FALSE(t.skip());  // the failure does not cross the group boundary
  CHECK_FALSE(t.open());
  // Group 2: a single OK.
  CHECK(t.record(status::ok, E) == status::ok);
  // Group 3: failure on the last request only.
  CHECK(t.record(status::ok, F) == status::ok);
  CHECK(t.record(status::err, E) == status::err);
  CHECK_FALSE(t.skip());
  // An unknown link keeps the group open.
  CHECK(t.record(status::err, U) == status::err);
  CHECK(t.skip());
  CHECK(t.open());
}

TEST_CASE("groups: group_tracker close() ends an open group (the tail rule)") {
  i2c::group_tracker t;
  CHECK(t.record(status::err, F) == status::err);  // dangling: FAIL_NEXT set, nothing follows
  CHECK(t.skip());
  t.close();
  CHECK_FALSE(t.skip());
  CHECK_FALSE(t.open());
  CHECK(t.record(status::ok, E) == status::ok);  // a new transfer is not failed by the old one
}

TEST_CASE("groups: group_tracker agrees with next_group + group_status on every short sequence") {
  // All link sequences of length 1..6 over {E, F} and every outcome pattern.
  for (unsigned n = 1; n <= 6; ++n) {
    for (unsigned links = 0; links < (1u << n); ++links) {
      for (unsigned fails = 0; fails < (1u << n); ++fails) {
        std::vector<group_link> l(n);
        for (unsigned i = 0; i < n; ++i) l[i] = (links >> i) & 1u ? F : E;
        i2c::group_tracker t;
        std::vector<status> streamed;
        for (unsigned i = 0; i < n; ++i) {
          const status own = (fails >> i) & 1u ? status::err : status::ok;
          streamed.push_back(t.record(t.skip() ? status::err : own, l[i]));
        }
        std::vector<status> batched;
        for (const group& g : split(l, tail_policy::close)) {
          std::size_t first_failed = g.count;
          for (std::size_t k = 0; k < g.count; ++k)
            if ((fails >> (g.first + k)) & 1u) {
              first_failed = k;
              break;
            }
          for (std::size_t k = 0; k < g.count; ++k)
            batched.push_back(i2c::group_status(k, first_failed));
        }
        if (streamed != batched) {
          CAPTURE(n);
          CAPTURE(links);
          CAPTURE(fails);
          FAIL("streaming and batched group rules disagree");
        }
      }
    }
  }
}
