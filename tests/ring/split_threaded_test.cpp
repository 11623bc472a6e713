// SPDX-License-Identifier: Apache-2.0
// Two threads over one split ring (two_threads.hpp): the driver (test thread) and the device
// (second thread) share only the mock's guest memory and two notification counters. EVENT_IDX and
// INDIRECT are negotiated; the device pushes each reply as soon as it is written; a lost kick or
// interrupt (a missing fence, a wrong need_event window) stalls the run, which a deadline turns
// into a failure instead of a hang.
#include "ring/two_threads.hpp"
#include "vireo/testing/mock_split_driver.hpp"

using namespace vireo_two_threads;

TEST_CASE("two threads: 100k chains driver thread vs device thread, EVENT_IDX, busy polling, all data arrives") {
  constexpr std::uint64_t total = 100000;
  expect_clean(run_two_threads<vireo::testing::mock_split_driver, vireo::ring::split_device<flat_memory>>(
                   64, true, total, push_style::each_at_once),
               total);
}
