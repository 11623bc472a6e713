// SPDX-License-Identifier: Apache-2.0
// Two threads over one packed ring (two_threads.hpp): the driver (the test thread) and the device
// (a second thread) share only the mock's guest memory and two notification counters; the device
// completes each round with one batch or one push per chain, alternately. Ring sizes are not
// powers of two, so the wrap counters flip mid-list.
#include "ring/two_threads.hpp"
#include "vireo/testing/mock_packed_driver.hpp"

using namespace vireo_two_threads;

namespace {

run_result run_packed(std::uint16_t qsize, bool event_idx, std::uint64_t total) {
  return run_two_threads<vireo::testing::mock_packed_driver, vireo::ring::packed_device<flat_memory>>(
      qsize, event_idx, total, push_style::alternate_batches);
}

}  // namespace

TEST_CASE("packed two threads: 30k requests, driver thread vs device thread, EVENT_IDX (DESC), suppression both ways, all data arrives") {
  constexpr std::uint64_t total = 30000;
  expect_clean(run_packed(61, true, total), total);
}

TEST_CASE("packed two threads: 10k requests on a ring of 5 without EVENT_IDX (ENABLE/DISABLE), all data arrives") {
  constexpr std::uint64_t total = 10000;
  expect_clean(run_packed(5, false, total), total);
}
