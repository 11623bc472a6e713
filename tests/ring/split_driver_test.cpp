// SPDX-License-Identifier: Apache-2.0
// Unit tests for vireo/ring/split_driver.hpp: set-up errors, descriptor accounting, the free
// list under out-of-order completion, add modes and user_data.
#include "split_test_support.hpp"

#include <algorithm>
#include <random>
#include <set>

using namespace vireo_ring_test;

TEST_CASE("split_driver: create() and configure() errors") {
  mock m{opts(8, features(true, false, false), 4)};
  using drv_t = vireo::ring::split_driver<flat_memory, 8>;
  REQUIRE(drv_t::create(m.memory(), m.config(), m.pool()).has_value());
  queue_config c = m.config();
  c.size = 16;  // valid for virtio, too large for this driver
  CHECK(err(drv_t::create(m.memory(), c)) == errc::bad_queue_size);
  vireo::ring::indirect_pool p = m.pool();
  p.base = p.base.offset(8);
  CHECK(err(drv_t::create(m.memory(), m.config(), p)) == errc::ring_misaligned);
  p = m.pool();
  p.base = gpa{m.memory().base().raw() + m.memory().size()};
  CHECK(err(drv_t::create(m.memory(), m.config(), p)) == errc::ring_not_mapped);
  c = m.config();
  c.features = {};
  CHECK(err(drv_t::create(m.memory(), c, m.pool())) == errc::feature_not_negotiated);
}

TEST_CASE("split_driver: free_descriptors() and in_flight() follow add and reclaim") {
  mock m{opts(8, features(true, false, false), 4)};
  auto& drv = m.driver();
  device d{m.memory()};
  configure(d, m);
  CHECK(drv.free_descriptors() == 8);
  REQUIRE(m.add({pattern(4, 1)}, {4, 4}, add_mode::direct).has_value());
  CHECK(drv.free_descriptors() == 5);
  REQUIRE(m.add({pattern(4, 1)}, {4, 4}, add_mode::indirect).has_value());
  CHECK(drv.free_descriptors() == 4);
  CHECK(drv.in_flight() == 2);
  for (int k = 0; k < 2; ++k) REQUIRE(d.push_used(pop_ok(d), 0).has_value());
  REQUIRE(drv.reclaim().has_value());
  CHECK(drv.in_flight() == 1);
  CHECK(drv.free_descriptors() == 7);
  REQUIRE(drv.reclaim().has_value());
  CHECK(drv.in_flight() == 0);
  CHECK(drv.free_descriptors() == 8);
}

TEST_CASE("split_driver: out-of-order completion keeps the free list exact") {
  mock m{opts(16)};
  auto& drv = m.driver();
  device d{m.memory()};
  configure(d, m);
  std::mt19937 rng{5};
  std::vector<chain> held;
  std::vector<std::set<std::uint16_t>> owned(16);  // descriptors of each in-flight head
  for (int round = 0; round < 3000; ++round) {
    if (rng() % 2) {
      const std::size_t n = 1 + rng() % 5;
      std::vector<buffer> wr(n, buffer{m.alloc(0), 0});
      const std::uint16_t free_before = drv.free_descriptors();
      auto h = drv.add({}, wr);
      if (n > free_before) {
        CHECK(err(h) == errc::ring_full);
        continue;
      }
      REQUIRE(h.has_value());
      CHECK(drv.free_descriptors() == free_before - n);
      // The chain's descriptors are distinct and owned by no other in-flight chain.
      std::set<std::uint16_t> mine;
      std::uint16_t x = *h;
      for (std::size_t i = 0; i < n; ++i) {
        CHECK(mine.insert(x).second);
        for (const auto& o : owned) CHECK(o.count(x) == 0);
        x = read_desc(m, x).next;
      }
      owned[*h] = mine;
      held.push_back(pop_ok(d));
    } else if (!held.empty()) {
      const std::size_t k = rng() % held.size();
      REQUIRE(d.push_used(held[k], 0).has_value());
      auto u = drv.reclaim();
      REQUIRE(u.has_value());
      REQUIRE(u->has_value());
      CHECK((*u)->id == held[k].id());
      owned[(*u)->id].clear();
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
    }
    std::size_t used = 0;
    for (const auto& o : owned) used += o.size();
    CHECK(drv.free_descriptors() == 16 - used);
    if (round % 256 == 0) m.reset_arena();
  }
  // Drain, then the whole table is one free list again: a 16-descriptor chain fits.
  for (auto& c : held) REQUIRE(d.push_used(c, 0).has_value());
  for (std::size_t k = 0; k < held.size(); ++k) REQUIRE(drv.reclaim().has_value());
  std::vector<buffer> all(16, buffer{m.alloc(0), 0});
  CHECK(drv.add({}, all).has_value());
}

TEST_CASE("split_driver: add modes; a pool table bounds the indirect chain length") {
  mock m{opts(8, features(true, false, false), 3)};
  auto& drv = m.driver();
  std::vector<buffer> four(4, buffer{m.alloc(4), 4});
  CHECK(err(drv.add({}, four, 0, add_mode::indirect)) == errc::invalid_argument);  // table holds 3
  auto h = drv.add({}, std::span{four}.first(3), 0, add_mode::indirect);
  REQUIRE(h.has_value());
  CHECK(read_desc(m, *h).flags == desc_flag::indirect);
  auto h2 = drv.add({}, four, 0, add_mode::direct);
  REQUIRE(h2.has_value());
  CHECK((read_desc(m, *h2).flags & desc_flag::indirect) == 0);
  // 3 free: a direct 4-chain does not fit; automatic packs it only if a table can hold it.
  CHECK(err(drv.add({}, four, 0, add_mode::direct)) == errc::ring_full);
  CHECK(err(drv.add({}, four, 0, add_mode::automatic)) == errc::invalid_argument);
  CHECK(m.avail_idx() == 2);
}

TEST_CASE("split_driver: reclaim() returns the user_data given to add()") {
  mock m{opts(8)};
  device d{m.memory()};
  configure(d, m);
  for (std::uint64_t k = 0; k < 5; ++k)
    REQUIRE(m.add({}, {4}, add_mode::automatic, 0xfeed0000'00000000ull + k).has_value());
  std::vector<chain> cs;
  for (int k = 0; k < 5; ++k) cs.push_back(pop_ok(d));
  std::reverse(cs.begin(), cs.end());
  for (auto& c : cs) REQUIRE(d.push_used(c, 0).has_value());
  for (std::uint64_t k = 0; k < 5; ++k) {
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
    CHECK((*u)->user_data == 0xfeed0000'00000000ull + 4 - k);
  }
}

TEST_CASE("split_driver: reset() hands back every buffer still in flight through detach_unused()") {
  mock m{opts(8)};
  auto& drv = m.driver();
  device d{m.memory()};
  configure(d, m);
  for (std::uint64_t u = 100; u < 104; ++u)
    REQUIRE(m.add({pattern(4, 1)}, {4}, add_mode::direct, u).has_value());
  // The device completes one; the driver reclaims it; three remain with the device.
  REQUIRE(d.push_used(pop_ok(d), 0).has_value());
  auto got = drv.reclaim();
  REQUIRE(got.has_value());
  REQUIRE(got->has_value());
  CHECK((*got)->user_data == 100);
  CHECK_FALSE(drv.detach_unused().has_value());  // live queue: the device may own them
  drv.reset();
  CHECK_FALSE(drv.ready());
  CHECK(err(m.add({pattern(4, 1)}, {4}, add_mode::direct)) == errc::queue_not_ready);
  std::set<std::uint64_t> detached;
  while (auto u = drv.detach_unused()) detached.insert(*u);
  CHECK(detached == std::set<std::uint64_t>{101, 102, 103});
  CHECK(drv.in_flight() == 0);
  // Configured again, the queue starts from its initial state and serves a fresh device.
  REQUIRE(drv.configure(m.config(), m.pool()).has_value());
  d.reset();
  configure(d, m);
  REQUIRE(m.add({pattern(4, 1)}, {4}, add_mode::direct, 7).has_value());
  REQUIRE(d.push_used(pop_ok(d), 0).has_value());
  got = drv.reclaim();
  REQUIRE(got.has_value());
  REQUIRE(got->has_value());
  CHECK((*got)->user_data == 7);
}

TEST_CASE("split_driver: a broken queue's buffers can be detached after reset()") {
  mock m{opts(4)};
  auto& drv = m.driver();
  REQUIRE(m.add({pattern(4, 1)}, {4}, add_mode::direct, 55).has_value());
  m.write_used_elem(0, 3, 0);  // a head that is not in flight
  m.set_used_idx(1);
  CHECK(err(drv.reclaim()) == errc::used_id_not_in_flight);
  CHECK(drv.broken());
  drv.reset();
  CHECK_FALSE(drv.broken());
  auto u = drv.detach_unused();
  REQUIRE(u.has_value());
  CHECK(*u == 55);
  CHECK_FALSE(drv.detach_unused().has_value());
}
