// SPDX-License-Identifier: Apache-2.0
// Conformance tests for what only the split virtqueue has: the S* items of
// /work/shared/spec/virtqueues.md §7.2 about the avail and used rings and the descriptor table
// (alignment, power-of-two sizes, next links, avail.idx, the flags fields, direct + INDIRECT
// chains). The items both layouts share (every G*, and the S* items with a packed counterpart)
// run for both rings in tests/ring/conformance/common_conformance_test.cpp. The map from item to
// test case is docs/conformance-split.md.
#include "split_test_support.hpp"

#include <algorithm>
#include <random>

using namespace vireo_ring_test;

namespace {

/// The device-visible layout of one small hand-made queue in `ram`: desc at +0x000,
/// avail at +0x1000, used at +0x2000 (offsets relative to the guest base).
constexpr std::uint64_t hand_base = 0x10000;

queue_config hand_config(std::uint16_t size, std::uint64_t desc, std::uint64_t avail,
                         std::uint64_t used, feature_set f = {}) {
  return {size, gpa{hand_base + desc}, gpa{hand_base + avail}, gpa{hand_base + used}, f};
}

}  // namespace

// ---- S1 / S2: layout --------------------------------------------------------------------------

TEST_CASE("S1 device: desc/avail/used areas must be 16/2/4-aligned, else ring_misaligned") {
  ram r(0x4000);
  flat_memory mem{r.view(), gpa{hand_base}};
  device d{mem};
  // Exactly the minimum alignments are accepted: desc 16, avail 2 (not 4), used 4 (not 8).
  CHECK(d.configure(hand_config(8, 0x010, 0x1002, 0x2004)).has_value());
  for (std::uint64_t bad : {1u, 2u, 4u, 8u, 12u})
    CHECK(err(d.configure(hand_config(8, 0x100 + bad, 0x1000, 0x2000))) == errc::ring_misaligned);
  CHECK(err(d.configure(hand_config(8, 0x000, 0x1001, 0x2000))) == errc::ring_misaligned);
  for (std::uint64_t bad : {1u, 2u, 3u})
    CHECK(err(d.configure(hand_config(8, 0x000, 0x1000, 0x2000 + bad))) == errc::ring_misaligned);
  CHECK(!d.ready());
  // Not S1, but next to it: an area outside guest memory is ring_not_mapped.
  CHECK(err(d.configure(hand_config(8, 0x000, 0x1000, 0x3ffc))) == errc::ring_not_mapped);
}

TEST_CASE("S1 driver: desc/avail/used areas must be 16/2/4-aligned, else ring_misaligned") {
  ram r(0x4000);
  flat_memory mem{r.view(), gpa{hand_base}};
  vireo::ring::split_driver<flat_memory, 64> d{mem};
  CHECK(d.configure(hand_config(8, 0x010, 0x1002, 0x2004)).has_value());
  for (std::uint64_t bad : {1u, 2u, 4u, 8u})
    CHECK(err(d.configure(hand_config(8, 0x100 + bad, 0x1000, 0x2000))) == errc::ring_misaligned);
  CHECK(err(d.configure(hand_config(8, 0x000, 0x1003, 0x2000))) == errc::ring_misaligned);
  for (std::uint64_t bad : {1u, 2u, 3u})
    CHECK(err(d.configure(hand_config(8, 0x000, 0x1000, 0x2000 + bad))) == errc::ring_misaligned);
  CHECK(!d.ready());
}

TEST_CASE("S2 device and driver: queue size is a power of two <= 32768, else bad_queue_size") {
  // Room for the largest split queue: desc 512 KiB, avail 64 KiB, used 256 KiB, plus data.
  constexpr std::uint64_t desc = 0, avail = 0x80000, used = 0x90008, data = 0xd0010;
  ram r(0xe0000);
  flat_memory mem{r.view(), gpa{hand_base}};
  device dev{mem};
  auto drv = std::make_unique<vireo::ring::split_driver<flat_memory, 32768>>(mem);
  for (std::uint32_t bad : {0u, 3u, 5u, 6u, 12u, 100u, 1000u, 24576u, 32767u, 32769u, 40000u, 65535u}) {
    CAPTURE(bad);
    const auto cfg = hand_config(static_cast<std::uint16_t>(bad), desc, avail, used);
    CHECK(err(dev.configure(cfg)) == errc::bad_queue_size);
    CHECK(err(drv->configure(cfg)) == errc::bad_queue_size);
  }
  for (std::uint32_t good : {1u, 2u, 4u, 8u, 256u, 4096u, 32768u}) {
    CAPTURE(good);
    const auto cfg = hand_config(static_cast<std::uint16_t>(good), desc, avail, used);
    REQUIRE(drv->configure(cfg).has_value());
    REQUIRE(dev.configure(cfg).has_value());
    // One full cycle at every size proves the index masks (size 1: mask 0, 32768: mask 0x7fff).
    for (int round = 0; round < 3; ++round) {
      const buffer w{gpa{hand_base + data}, 16};
      auto head = drv->add({}, std::span{&w, 1}, 77);
      REQUIRE(head.has_value());
      auto c = pop_ok(dev);
      CHECK(c.id() == *head);
      CHECK(c.writable_len() == 16);
      REQUIRE(dev.push_used(c, 9).has_value());
      auto u = drv->reclaim();
      REQUIRE(u.has_value());
      REQUIRE(u->has_value());
      CHECK((*u)->id == *head);
      CHECK((*u)->len == 9);
      CHECK((*u)->user_data == 77);
    }
  }
  // A driver built for smaller queues refuses a larger (valid) size.
  vireo::ring::split_driver<flat_memory, 256> small{mem};
  CHECK(err(small.configure(hand_config(512, desc, avail, used))) == errc::bad_queue_size);
  CHECK(small.configure(hand_config(256, desc, avail, used)).has_value());
}

// ---- S7: IN_ORDER descriptor links ----------------------------------------------------------

TEST_CASE("S7 driver: under IN_ORDER a descriptor at slot x links next = x+1, or 0 at x = N-1") {
  mock m{opts(8, features(false, false, true))};
  auto& drv = m.driver();
  device d{m.memory()};
  configure(d, m);
  std::mt19937 rng{7};
  std::uint16_t expect_head = 0;
  std::size_t wraps = 0;
  for (int round = 0; round < 60; ++round) {
    const std::uint16_t n = static_cast<std::uint16_t>(1 + rng() % 4);
    std::vector<buffer> wr;
    for (std::uint16_t k = 0; k < n; ++k) wr.push_back({m.alloc(8), 8});
    auto head = drv.add({}, wr);
    REQUIRE(head.has_value());
    CHECK(*head == expect_head);  // descriptors are allocated in ring order from 0
    std::uint16_t x = *head;
    for (std::uint16_t k = 0; k + 1 < n; ++k) {
      const desc_view dv = read_desc(m, x);
      REQUIRE((dv.flags & desc_flag::next) != 0);
      CHECK(dv.next == static_cast<std::uint16_t>((x + 1) % 8));
      if (x == 7) ++wraps;
      x = dv.next;
    }
    CHECK((read_desc(m, x).flags & desc_flag::next) == 0);
    expect_head = static_cast<std::uint16_t>((expect_head + n) % 8);
    // Complete in order and reclaim, so the next chain starts right after this one.
    auto c = pop_ok(d);
    REQUIRE(d.push_used(c, 8u * n).has_value());
    auto u = drv.reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
    CHECK((*u)->id == *head);
    m.reset_arena();
  }
  CHECK(wraps > 0);  // some chain crossed slot 7 -> 0
}

// ---- S12 / S14: indirect descriptors ---------------------------------------------------------

TEST_CASE("S12 driver: indirect table entries chain sequentially, next = 1, 2, ...") {
  for (const bool in_order : {false, true}) {
    CAPTURE(in_order);
    mock m{opts(8, features(true, false, in_order), 8)};
    std::vector<buffer> rd{{m.alloc(8), 8}, {m.alloc(8), 8}, {m.alloc(8), 8}};
    std::vector<buffer> wr{{m.alloc(8), 8}, {m.alloc(8), 8}, {m.alloc(8), 8}, {m.alloc(8), 8},
                           {m.alloc(8), 8}};
    for (int round = 0; round < 3; ++round) {
      auto head = m.driver().add(rd, wr, 0, add_mode::indirect);
      REQUIRE(head.has_value());
      const desc_view top = read_desc(m, *head);
      REQUIRE(top.len == 16 * 8);
      for (std::uint16_t i = 0; i < 8; ++i) {
        const desc_view dv = read_desc_at(m, gpa{top.addr + 16u * i});
        if (i < 7) {
          CHECK((dv.flags & desc_flag::next) != 0);
          CHECK(dv.next == i + 1);
        } else {
          CHECK((dv.flags & desc_flag::next) == 0);
        }
      }
    }
  }
}

TEST_CASE("S14 device: direct, direct, then one INDIRECT descriptor is accepted as one chain") {
  mock m{opts(8, features(true, false, false))};
  device d{m.memory()};
  configure(d, m);
  const placed a = put_pattern(m, 8, 1), b = put_pattern(m, 8, 2), c1 = put_pattern(m, 8, 3);
  const gpa out = m.alloc(16);
  const gpa table = m.alloc(32, 16);
  m.write_desc_at(table, c1.addr.raw(), 8, desc_flag::next, 1);
  m.write_desc_at(table.offset(16), out.raw(), 16, desc_flag::write, 0);
  m.write_desc(2, a.addr.raw(), 8, desc_flag::next, 6);
  m.write_desc(6, b.addr.raw(), 8, desc_flag::next, 3);
  m.write_desc(3, table.raw(), 32, desc_flag::indirect, 0);
  m.publish_raw(2);
  // Also the degenerate form: zero direct descriptors, the head itself INDIRECT.
  m.write_desc(7, table.raw(), 32, desc_flag::indirect, 0);
  m.publish_raw(7);

  auto c = pop_ok(d);
  CHECK(c.id() == 2);
  CHECK(c.readable().size() == 3);
  CHECK(c.readable_len() == 24);
  std::vector<std::byte> want = a.data;
  want.insert(want.end(), b.data.begin(), b.data.end());
  want.insert(want.end(), c1.data.begin(), c1.data.end());
  CHECK(read_all(c) == want);
  CHECK(c.writable_len() == 16);
  CHECK(write_all(c, pattern(16, 4)) == 16);
  auto h = m.host(out, 16);
  CHECK(std::equal(h.begin(), h.end(), pattern(16, 4).begin()));

  auto c2 = pop_ok(d);
  CHECK(c2.id() == 7);
  CHECK(read_all(c2) == c1.data);
}

// ---- S15: avail.idx ---------------------------------------------------------------------------

TEST_CASE("S15 driver: avail.idx never decreases; it moves by one per successful add only") {
  mock m{opts(4, features(true, true, false), 4)};
  auto& drv = m.driver();
  device d{m.memory()};
  configure(d, m);
  std::mt19937 rng{15};
  std::uint16_t last = m.avail_idx();
  std::size_t adds = 0, fails = 0;
  std::vector<chain> held;
  for (int round = 0; adds < 70000 && round < 1000000; ++round) {
    const int op = static_cast<int>(rng() % 4);
    if (op < 2) {
      const std::size_t n = rng() % 7;  // 0 (empty_chain) .. 6 (> size: ring_full / invalid)
      std::vector<buffer> wr(n, buffer{m.alloc(0), 0});
      auto h = drv.add({}, wr, 0, rng() % 2 ? add_mode::indirect : add_mode::automatic);
      const std::uint16_t now = m.avail_idx();
      if (static_cast<std::uint16_t>(now - last) != (h ? 1 : 0)) {
        FAIL_CHECK("avail.idx moved from " << last << " to " << now << " (add ok: " << bool(h) << ")");
      }
      (h ? adds : fails) += 1;
      last = now;
    } else if (op < 3) {
      auto c = d.pop();
      REQUIRE(c.has_value());
      if (!c->empty()) held.push_back(*c);
    } else if (!held.empty()) {
      std::shuffle(held.begin(), held.end(), rng);
      for (const auto& c : held) REQUIRE(d.push_used(c, 0).has_value());
      held.clear();
      for (;;) {
        auto u = drv.reclaim();
        REQUIRE(u.has_value());
        if (!*u) break;
      }
      if (m.avail_idx() != last) FAIL_CHECK("reclaim moved avail.idx");
      m.reset_arena();
    }
  }
  CHECK(adds > 65536);  // avail.idx wrapped at least once
  CHECK(fails > 0);
}

// ---- S16 / S21: suppression flags written by each side ----------------------------------------

TEST_CASE("S16 driver: avail.flags is 0/1 without EVENT_IDX and stays 0 with EVENT_IDX") {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    mock m{opts(8, features(false, event_idx, false))};
    auto& drv = m.driver();
    device d{m.memory()};
    configure(d, m);
    CHECK(avail_flags(m) == 0);
    for (int round = 0; round < 5; ++round) {
      drv.disable_interrupts();
      CHECK(avail_flags(m) == (event_idx ? 0 : 1));
      drv.disable_interrupts();
      CHECK(avail_flags(m) == (event_idx ? 0 : 1));
      REQUIRE(m.add({}, {8}).has_value());
      auto c = pop_ok(d);
      REQUIRE(d.push_used(c, 8).has_value());
      CHECK(avail_flags(m) == (event_idx ? 0 : 1));
      CHECK(drv.enable_interrupts());  // a used buffer is waiting
      CHECK(avail_flags(m) == 0);
      if (event_idx) CHECK(used_event(m) == static_cast<std::uint16_t>(round));
      auto u = drv.reclaim();
      REQUIRE(u.has_value());
      REQUIRE(u->has_value());
      CHECK(!drv.enable_interrupts());
      CHECK(avail_flags(m) == 0);
      if (event_idx) CHECK(used_event(m) == static_cast<std::uint16_t>(round + 1));
    }
  }
}

TEST_CASE("S21 device: used.flags is 0/1 without EVENT_IDX and stays 0 with EVENT_IDX") {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    mock m{opts(8, features(false, event_idx, false))};
    device d{m.memory()};
    configure(d, m);
    CHECK(m.used_flags() == 0);
    for (int round = 0; round < 5; ++round) {
      d.disable_notifications();
      CHECK(m.used_flags() == (event_idx ? 0 : 1));
      d.disable_notifications();
      CHECK(m.used_flags() == (event_idx ? 0 : 1));
      REQUIRE(m.add({}, {8}).has_value());
      const std::uint16_t ev = m.avail_event();
      auto c = pop_ok(d);
      CHECK(m.avail_event() == ev);  // disabled: avail_event stops moving (EVENT_IDX)
      REQUIRE(d.push_used(c, 8).has_value());
      (void)d.needs_notification();
      CHECK(m.used_flags() == (event_idx ? 0 : 1));
      CHECK(!*d.enable_notifications());
      CHECK(m.used_flags() == 0);
      if (event_idx) CHECK(m.avail_event() == d.state().next_avail);
      // Enabled: with EVENT_IDX each pop asks for a kick at the next index; flags stay 0.
      REQUIRE(m.add({}, {8}).has_value());
      auto c2 = pop_ok(d);
      if (event_idx) CHECK(m.avail_event() == d.state().next_avail);
      REQUIRE(d.push_used(c2, 0).has_value());
      (void)d.needs_notification();
      CHECK(m.used_flags() == 0);
      for (;;) {
        auto u = m.driver().reclaim();
        REQUIRE(u.has_value());
        if (!*u) break;
      }
      m.reset_arena();
    }
  }
}

// ---- S20: the driver initialises the device's flags ----------------------------------------

TEST_CASE("S20 driver: used.flags is zeroed at configure (the driver initialises the device's field)") {
  mock m{opts(8)};
  auto& drv = m.driver();
  // Garbage in the used ring before set-up: the driver must initialise it (§2.7.10.1).
  const auto used = m.host(m.config().device_area, layout::used_bytes(8));
  std::memset(used.data(), 0xa5, used.size());
  REQUIRE(drv.configure(m.config()).has_value());
  CHECK(m.used_flags() == 0);
  CHECK(m.used_idx() == 0);
  // Left at 0xa5a5, NO_NOTIFY would be set and the first add would not kick.
  REQUIRE(m.add({}, {4}).has_value());
  CHECK(drv.needs_kick());
}
