// SPDX-License-Identifier: Apache-2.0
// The gpio device's per-call budget: process_requests(n) / process_events(n) take at most n
// chains and say whether they stopped there, so that a driver that keeps adding cannot hold the
// caller; the next call goes on where the last stopped. Both ring layouts.
#include <doctest/doctest.h>

#include "gpio_device_support.hpp"

using namespace vireo_gpio_dev_test;

TEST_CASE_TEMPLATE("device: process_requests takes at most its budget and says chains are left",
                   L, split_flat, packed_flat) {
  rig<L> r{rig_options{.lines = 4}};
  for (std::uint16_t line = 0; line < 5; ++line)
    r.post(gpio::msg_type::get_direction, static_cast<std::uint16_t>(line % 4), 0);
  REQUIRE(r.dev->process_requests(2).has_value());
  CHECK(r.dev->requests_left());
  CHECK(r.take_replies().size() == 2);
  REQUIRE(r.dev->process_requests(2).has_value());
  CHECK(r.dev->requests_left());  // it stopped at 2 again: it cannot know the ring is empty
  CHECK(r.take_replies().size() == 2);
  REQUIRE(r.dev->process_requests(2).has_value());
  CHECK_FALSE(r.dev->requests_left());  // one was left, then the ring was empty
  const auto last = r.take_replies();
  REQUIRE(last.size() == 1);
  CHECK(last[0].status() == st_ok);
  CHECK(r.dev->stats().requests == 5);
  // The default budget is unbounded: everything available in one call.
  for (int i = 0; i < 3; ++i) r.post(gpio::msg_type::get_direction, 1, 0);
  REQUIRE(r.dev->process_requests().has_value());
  CHECK_FALSE(r.dev->requests_left());
  CHECK(r.take_replies().size() == 3);
}

TEST_CASE_TEMPLATE("device: process_events takes at most its budget of pairs", L, split_flat,
                   packed_flat) {
  rig<L> r{rig_options{.lines = 4}};  // VIRTIO_GPIO_F_IRQ offered and accepted
  // Pairs for lines without an interrupt come straight back INVALID: three of them.
  for (std::uint16_t line = 0; line < 3; ++line) r.queue_pair(line);
  REQUIRE(r.dev->process_events(1).has_value());
  CHECK(r.dev->events_left());
  CHECK(r.take_irqs().size() == 1);
  REQUIRE(r.dev->process_events(5).has_value());
  CHECK_FALSE(r.dev->events_left());
  const auto rest = r.take_irqs();
  CHECK(rest.size() == 2);
  for (const auto& p : rest) CHECK(p.status == irq_invalid);
}
