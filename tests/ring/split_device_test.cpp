// SPDX-License-Identifier: Apache-2.0
// Unit tests for vireo/ring/split_device.hpp: the API around pop/push (create, empty rings,
// available(), chain contents, state()/restore(), remap(), push validation).
#include "split_test_support.hpp"

#include <algorithm>

using namespace vireo_ring_test;

TEST_CASE("split_device: create() returns a configured queue, or configure()'s error") {
  mock m{opts(8)};
  auto q = device::create(m.memory(), m.config());
  REQUIRE(q.has_value());
  CHECK(q->ready());
  CHECK(q->size() == 8);
  CHECK(q->config().desc_table == m.config().desc_table);
  queue_config bad = m.config();
  bad.size = 6;
  CHECK(err(device::create(m.memory(), bad)) == errc::bad_queue_size);
  bad = m.config();
  bad.device_area = bad.device_area.offset(2);
  CHECK(err(device::create(m.memory(), bad)) == errc::ring_misaligned);
  bad = m.config();
  bad.desc_table = gpa{0x10};  // below the mock's base
  CHECK(err(device::create(m.memory(), bad)) == errc::ring_not_mapped);
}

TEST_CASE("split_device: an empty ring gives an empty chain, and pop_into clears the old chain") {
  mock m{opts(8)};
  device d{m.memory()};
  configure(d, m);
  auto none = d.pop();
  REQUIRE(none.has_value());
  CHECK(none->empty());
  REQUIRE(m.add({pattern(8, 1)}, {4}).has_value());
  expect_pop_into_then_empty(d);
}

TEST_CASE("split_device: available() counts published chains not yet popped") {
  mock m{opts(8)};
  device d{m.memory()};
  configure(d, m);
  CHECK(*d.available() == 0);
  for (int k = 0; k < 5; ++k) REQUIRE(m.add({}, {4}).has_value());
  CHECK(*d.available() == 5);
  auto c = pop_ok(d);
  CHECK(*d.available() == 4);
  REQUIRE(d.push_used(c, 0).has_value());
  CHECK(*d.available() == 4);
}

TEST_CASE("split_device: a popped chain exposes its segments, lengths and token") {
  mock m{opts(8, features(true, false, false), 8)};
  device d{m.memory()};
  configure(d, m);
  const placed a = put_pattern(m, 5, 1), b = put_pattern(m, 7, 2);
  const std::vector<buffer> rd{{a.addr, 5}, {m.alloc(0), 0}, {b.addr, 7}};
  const std::vector<buffer> wr{{m.alloc(9), 9}, {m.alloc(11), 11}};
  for (const add_mode mode : {add_mode::direct, add_mode::indirect}) {
    auto head = m.driver().add(rd, wr, 0, mode);
    REQUIRE(head.has_value());
    auto c = pop_ok(d);
    CHECK(c.id() == *head);
    CHECK(c.token().id == *head);
    CHECK(c.token().slots == 1);
    CHECK(c.token().writable_len == 20);
    CHECK(c.readable_len() == 12);
    CHECK(c.writable_len() == 20);
    REQUIRE(c.readable().size() == 2);  // the zero-length descriptor takes no segment
    CHECK(c.readable()[0].addr == a.addr);
    CHECK(c.readable()[0].len == 5);
    CHECK(c.readable()[0].host == m.host(a.addr, 5).data());  // zero-copy view
    CHECK(c.readable()[1].addr == b.addr);
    REQUIRE(c.writable().size() == 2);
    CHECK(c.writable()[1].len == 11);
    chain copy = c;  // copies keep the segments
    CHECK(copy.readable_len() == 12);
    CHECK(read_all(copy) == read_all(c));
    REQUIRE(d.push_used(c, 20).has_value());
  }
}

TEST_CASE("split_device: state()/restore() let a second device continue the queue") {
  mock m{opts(8)};
  device a{m.memory()};
  configure(a, m);
  std::vector<std::uint16_t> heads;
  for (int k = 0; k < 4; ++k) heads.push_back(*m.add({}, {4}, add_mode::automatic, 10u + static_cast<unsigned>(k)));
  auto c0 = pop_ok(a), c1 = pop_ok(a), c2 = pop_ok(a);
  REQUIRE(a.push_used(c0, 1).has_value());
  REQUIRE(a.push_used(c1, 2).has_value());
  const auto saved = a.state();
  CHECK(saved.next_avail == 3);
  CHECK(saved.used_idx == 2);
  // vhost-user GET_VRING_BASE / SET_VRING_BASE: a fresh device picks up where `a` stopped.
  device b{m.memory()};
  configure(b, m);
  b.restore(saved.next_avail, saved.used_idx);
  CHECK(b.state().next_avail == 3);
  CHECK(m.used_idx() == 2);
  auto c3 = pop_ok(b);
  CHECK(c3.id() == heads[3]);
  CHECK(c3.token().seq == 3);
  REQUIRE(b.push_used(c2.token(), 3).has_value());  // in flight across the hand-over
  REQUIRE(b.push_used(c3, 4).has_value());
  CHECK(m.used_idx() == 4);
  for (std::uint32_t k = 0; k < 4; ++k) {
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
    CHECK((*u)->len == k + 1);
    CHECK((*u)->user_data == 10u + k);
  }
}

TEST_CASE("split_device: remap() keeps the indices, and needs a configured queue") {
  mock m{opts(8)};
  device d{m.memory()};
  CHECK(err(d.remap()) == errc::queue_not_ready);
  configure(d, m);
  for (int k = 0; k < 3; ++k) REQUIRE(m.add({}, {4}).has_value());
  auto c = pop_ok(d);
  REQUIRE(d.push_used(c, 0).has_value());
  REQUIRE(d.remap().has_value());
  CHECK(d.state().next_avail == 1);
  CHECK(d.state().used_idx == 1);
  CHECK(pop_ok(d).token().seq == 1);
}

TEST_CASE("split_device: push_used validates the token and every batch entry before writing") {
  mock m{opts(8)};
  device d{m.memory()};
  configure(d, m);
  for (int k = 0; k < 2; ++k) REQUIRE(m.add({}, {4}).has_value());
  auto c0 = pop_ok(d), c1 = pop_ok(d);
  CHECK(err(d.push_used(vireo::chain::used_token{8, 1, 0, 4}, 0)) == errc::invalid_argument);
  const auto before = snapshot(m);
  const used_entry bad[] = {{c0.token(), 4}, {c1.token(), 5}};
  CHECK(err(d.push_used(bad)) == errc::used_len_too_large);
  CHECK(snapshot(m) == before);  // the valid first entry was not written either
  const used_entry good[] = {{c0.token(), 4}, {c1.token(), 0}};
  REQUIRE(d.push_used(good).has_value());
  CHECK(m.used_idx() == 2);
  CHECK(d.push_used(std::span<const used_entry>{}).has_value());  // empty batch: nothing to do
  CHECK(m.used_idx() == 2);
}
