// SPDX-License-Identifier: Apache-2.0
// ring::reclaim_rearmed(): draining a driver queue re-arms used-buffer notifications, so a
// driver that sleeps until the next one is woken for every completion, with and without
// EVENT_IDX, on both layouts.
#include <doctest/doctest.h>

#include <array>

#include "vireo/ring/reclaim_rearmed.hpp"

#include "two_sided.hpp"

using namespace vireo_two_sided;
using vireo::gpa;
using vireo::ring::buffer;

namespace {

/// Add one one-byte writable buffer, let the device complete it, and say whether the device
/// decided to notify the driver.
template <typename Ring>
bool complete_one(Ring& r, std::uint64_t tag) {
  const buffer w[] = {{r.region().at(tag), 1}};
  REQUIRE(r.driver().add({}, w, tag).has_value());
  auto c = r.device().pop();
  REQUIRE(c.has_value());
  REQUIRE(!c->empty());
  REQUIRE(r.device().push_used(*c, 1).has_value());
  return r.device().needs_notification();
}

/// Take back everything with `take`, and check the one buffer expected came back.
template <typename Ring, typename Take>
void drain(Ring& r, std::uint64_t tag, Take take) {
  auto u = take(r.driver());
  REQUIRE(u.has_value());
  REQUIRE(u->has_value());
  CHECK((*u)->user_data == tag);
  auto none = take(r.driver());
  REQUIRE(none.has_value());
  CHECK(!none->has_value());
}

}  // namespace

TEST_CASE_TEMPLATE("reclaim_rearmed: every completion is notified after a drain, EVENT_IDX or not",
                   Tag, split_tag, packed_tag) {
  for (bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    two_sided<Tag> r{options{.queues = 1, .size = 8, .indirect = 0, .event_idx = event_idx}};
    auto rearmed = [](auto& q) { return vireo::ring::reclaim_rearmed(q); };
    for (std::uint64_t tag = 0; tag < 20; ++tag) {  // wraps the 8-entry ring twice
      CAPTURE(tag);
      CHECK(complete_one(r, tag));
      drain(r, tag, rearmed);
    }
  }
}

TEST_CASE("reclaim_rearmed: without it, EVENT_IDX on a split ring silences the device after the "
          "first notification (what the helper exists for)") {
  // Split: used_event starts at 0, so the first completion is notified; a plain reclaim does not
  // move it, so the second is not. (A packed ring starts with its driver event flags at ENABLE,
  // which notifies every time until the driver switches to DESC in enable_interrupts().)
  two_sided<split_tag> r{options{.queues = 1, .size = 8, .indirect = 0, .event_idx = true}};
  auto plain = [](auto& q) { return q.reclaim(); };
  CHECK(complete_one(r, 0));
  drain(r, 0, plain);
  CHECK(!complete_one(r, 1));
  drain(r, 1, plain);
}
