// SPDX-License-Identifier: Apache-2.0
// Inflight I/O tracking of packed rings (vhost-user INFLIGHT_SHMFD; spec "Inflight I/O
// tracking", packed steps): the packed queue region layout (DPDK rte_vhost_inflight_info_packed),
// recording on pop, the free list on completion, a restart that resubmits the lists in flight
// from the region's descriptor copies before new ones, the crash between publishing and
// committing a completion, and regions that cannot be trusted.
#include <cstring>
#include <span>
#include <vector>

#include "backend_inflight_support.hpp"
#include "vireo/ring/any_device_queue.hpp"
#include "vireo/ring/packed_device.hpp"
#include "vireo/testing/mock_packed_driver.hpp"
#include "vireo/vhost_user/backend/inflight_queue.hpp"

using namespace vireo_vu_test;
using vireo::feature_set;
using vireo::transport_feature;

namespace {

namespace pl = be::packed_inflight_layout;
using pmock = vireo::testing::mock_packed_driver;
using packed_q = vireo::ring::packed_device<vireo::flat_memory>;
using ptracked = be::inflight_queue<packed_q>;
using pchain = ptracked::chain_type;

constexpr std::uint16_t psize = 16;

pmock::options popts(feature_set f = {}) {
  pmock::options o;
  o.size = psize;
  o.features = f;
  o.data_bytes = 1 << 16;
  return o;
}

struct pregion {
  std::vector<std::byte> bytes;
  std::uint16_t queue_size;
  explicit pregion(std::uint16_t qs = psize) : bytes(pl::queue_bytes(qs)), queue_size(qs) {}
  be::inflight_area area() { return {bytes, queue_size}; }
  be::packed_inflight_region view() { return be::packed_inflight_region{bytes}; }
};

/// A list of two descriptors: one readable byte `tag`, one writable byte.
std::uint16_t padd(pmock& m, std::uint8_t tag) {
  const std::byte b{tag};
  const auto id = m.add({vireo::const_bytes{&b, 1}}, {1});
  REQUIRE(id.has_value());
  return *id;
}

template <typename Q>
pchain ppop_ok(Q& q) {
  pchain c;
  const auto got = q.pop_into(c);
  REQUIRE(got.has_value());
  REQUIRE(*got);
  return c;
}

template <typename Q>
void pno_chain(Q& q) {
  pchain c;
  const auto got = q.pop_into(c);
  REQUIRE(got.has_value());
  CHECK_FALSE(*got);
}

constexpr std::uint16_t pos(std::uint16_t slot, bool wrap) {
  return vireo::ring::make_off_wrap(slot, wrap);
}

template <typename Q>
void pstart(Q& q, pmock& m, pregion& r, std::uint16_t base) {
  q.attach(r.area());
  REQUIRE(q.configure(m.config()).has_value());
  q.restore(base, base);
}

/// Head entries marked in flight, with the buffer id of their last copy.
std::vector<std::uint16_t> marked_ids(pregion& r) {
  std::vector<std::uint16_t> v;
  auto reg = r.view();
  for (std::uint16_t i = 0; i < r.queue_size; ++i)
    if (reg.inflight(i)) v.push_back(reg.desc(reg.last(i)).id);
  return v;
}

void drain(pmock& m, int n) {
  for (int k = 0; k < n; ++k) {
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
  }
  const auto extra = m.driver().reclaim();
  REQUIRE(extra.has_value());
  CHECK_FALSE(extra->has_value());
}

}  // namespace

TEST_CASE("packed inflight layout: DPDK rte_vhost_inflight_info_packed offsets and size") {
  // Size: DPDK get_pervq_shm_size_packed = ALIGN_UP(32 n + 8 + 2*6 + 9, 64), for every size.
  for (std::uint32_t n = 1; n <= 32768; ++n) {
    const std::uint64_t dpdk = (32 * std::uint64_t{n} + 29 + 63) / 64 * 64;
    REQUIRE(pl::queue_bytes(static_cast<std::uint16_t>(n)) == dpdk);
    REQUIRE(pl::desc_at + pl::desc_bytes * n <= dpdk);
  }
  CHECK(pl::region_bytes(2, 64) == 2 * pl::queue_bytes(64));
  CHECK(be::inflight_queue_bytes(true, 64) == pl::queue_bytes(64));
  CHECK(be::inflight_queue_bytes(false, 64) == be::inflight_layout::queue_bytes(64));

  pregion r(4);
  auto reg = r.view();
  reg.set_features(0x1122334455667788);
  reg.set_version(0x0201);
  reg.set_desc_num(0x0403);
  reg.set_free_head(0x0605);
  reg.set_old_free_head(0x0807);
  reg.set_used_idx(0x0a09);
  reg.set_old_used_idx(0x0c0b);
  reg.set_used_wrap_counter(0x0d);
  reg.set_old_used_wrap_counter(0x0e);
  reg.set_inflight(1, true);
  reg.set_next(1, 0x1211);
  reg.set_last(1, 0x1413);
  reg.set_num(1, 0x1615);
  reg.set_counter(1, 0x2f2e2d2c2b2a2928);
  reg.set_desc(1, {0x4746454443424140, 0x33323130, 0x3534, 0x3736});
  const auto u8 = [&](std::size_t at) { return std::to_integer<std::uint8_t>(r.bytes[at]); };
  std::uint64_t f = 0;
  std::memcpy(&f, r.bytes.data(), 8);
  CHECK(f == 0x1122334455667788);
  for (std::size_t k = 0; k < 14; ++k) CHECK(u8(8 + k) == k + 1);  // version .. old wrap
  const std::size_t e = 32 + 32;                                     // entry 1
  CHECK(u8(e + 0) == 1);                                             // inflight
  CHECK(u8(e + 2) == 0x11);                                          // next
  CHECK(u8(e + 4) == 0x13);                                          // last
  CHECK(u8(e + 6) == 0x15);                                          // num
  CHECK(u8(e + 8) == 0x28);                                          // counter
  CHECK(u8(e + 16) == 0x34);                                         // id
  CHECK(u8(e + 18) == 0x36);                                         // flags
  CHECK(u8(e + 20) == 0x30);                                         // len
  CHECK(u8(e + 24) == 0x40);                                         // addr
  const auto d = reg.desc(1);
  CHECK(d.addr == 0x4746454443424140);
  CHECK(d.len == 0x33323130);
  CHECK(d.id == 0x3534);
  CHECK(d.flags == 0x3736);
  // format(): DPDK's fresh region (free list 0 -> 1 -> ... -> n, both wrap counters 1).
  reg.format(4);
  CHECK(reg.version() == 0);
  CHECK(reg.desc_num() == 4);
  CHECK(reg.free_head() == 0);
  CHECK(reg.used_wrap_counter() == 1);
  CHECK(reg.old_used_wrap_counter() == 1);
  for (std::uint16_t i = 0; i < 4; ++i) CHECK(reg.next(i) == i + 1);
  CHECK_FALSE(reg.inflight(1));
}

TEST_CASE("packed inflight_queue: pops copy every descriptor, completions free the entries") {
  pmock m(popts());
  pregion r;
  ptracked q{m.memory()};
  pstart(q, m, r, pos(0, true));
  REQUIRE(q.tracking());
  auto reg = r.view();
  CHECK(reg.version() == 1);
  CHECK(reg.desc_num() == psize);
  const std::uint16_t ia = padd(m, 10), ib = padd(m, 11);
  const auto a = ppop_ok(q), b = ppop_ok(q);
  CHECK(tag_of(a) == 10);
  // A took entries 0 and 1, B 2 and 3 (the free list in order).
  CHECK(reg.inflight(0));
  CHECK(reg.num(0) == 2);
  CHECK(reg.last(0) == 1);
  CHECK(reg.counter(0) == 0);
  CHECK(reg.desc(1).id == ia);
  CHECK((reg.desc(0).flags & vireo::ring::desc_flag::next) != 0);
  CHECK((reg.desc(1).flags & vireo::ring::desc_flag::write) != 0);
  CHECK(reg.desc(0).len == 1);
  CHECK(reg.inflight(2));
  CHECK(reg.counter(2) == 1);
  CHECK(reg.free_head() == 4);
  CHECK(reg.old_free_head() == 4);
  CHECK(marked_ids(r) == std::vector<std::uint16_t>{ia, ib});
  // B completes first: its entries go to the front of the free list, used position moves 2.
  REQUIRE(q.push_used(b.token(), 1).has_value());
  CHECK_FALSE(reg.inflight(2));
  CHECK(reg.free_head() == 2);
  CHECK(reg.next(3) == 4);
  CHECK(reg.used_idx() == 2);
  CHECK(reg.used_wrap_counter() == 1);
  CHECK(reg.old_free_head() == 2);
  CHECK(reg.old_used_idx() == 2);
  const vireo::ring::used_entry batch[] = {{a.token(), 1}};
  REQUIRE(q.push_used(std::span<const vireo::ring::used_entry>(batch)).has_value());
  CHECK(marked_ids(r).empty());
  CHECK(reg.free_head() == 0);
  CHECK(reg.old_used_idx() == 4);
  // A token the region does not hold is refused and nothing changes.
  CHECK(err(q.push_used(a.token(), 0)) == errc::invalid_argument);
  CHECK(reg.free_head() == 0);
  drain(m, 2);
}

TEST_CASE("packed inflight_queue restart: lists in flight come back from the copies, then new") {
  pmock m(popts());
  pregion r;
  std::uint16_t ib = 0, ic = 0, id = 0;
  {
    ptracked q{m.memory()};
    pstart(q, m, r, pos(0, true));
    (void)padd(m, 1);
    ib = padd(m, 2);
    ic = padd(m, 3);
    const auto a = ppop_ok(q);
    (void)ppop_ok(q);
    (void)ppop_ok(q);
    REQUIRE(q.push_used(a.token(), 1).has_value());  // A done: used position 2
    REQUIRE(m.driver().reclaim().has_value());
    id = padd(m, 4);
    CHECK(tag_of(ppop_ok(q)) == 4);
    // The back-end dies with B, C and D in flight.
  }
  const std::uint16_t ie = padd(m, 5);  // the guest keeps adding
  // D reused A's entries 0 and 1; B holds 2 and 3, C 4 and 5.
  CHECK(marked_ids(r) == std::vector<std::uint16_t>{id, ib, ic});
  // Slots 2..3 (B) are rewritten: the restarted back-end must use the region's copies.
  m.write_desc(2, 0, 0, 0, 0);
  m.write_desc(3, 0, 0, 0, 0);

  ptracked q{m.memory()};
  pstart(q, m, r, pos(2, true));  // QEMU's base after a crash: the used position
  CHECK(q.pending_resubmits() == 3);
  CHECK(q.state().next_avail == pos(8, true));  // used 2 + 6 slots in flight
  CHECK(q.state().used_idx == pos(2, true));
  CHECK(q.available().value() == 4);
  CHECK(q.enable_notifications().value());
  const auto b = ppop_ok(q), c = ppop_ok(q), d = ppop_ok(q), e = ppop_ok(q);
  CHECK(tag_of(b) == 2);
  CHECK(b.id() == ib);
  CHECK(b.token().slots == 2);
  CHECK(tag_of(c) == 3);
  CHECK(tag_of(d) == 4);
  CHECK(d.id() == id);
  CHECK(tag_of(e) == 5);
  CHECK(e.id() == ie);
  pno_chain(q);
  CHECK(q.pending_resubmits() == 0);
  for (const auto* ch : {&d, &b, &e, &c}) REQUIRE(q.push_used(ch->token(), 1).has_value());
  CHECK(marked_ids(r).empty());
  CHECK(q.state().used_idx == pos(10, true));
  drain(m, 4);
}

TEST_CASE("packed inflight_queue restart through any_device_queue (the i2c/gpio model's queue)") {
  using any_q = vireo::ring::any_device_queue<vireo::flat_memory>;
  pmock m(popts());
  pregion r;
  {
    be::inflight_queue<any_q> q{m.memory()};
    pstart(q, m, r, pos(0, true));
    REQUIRE(q.tracking());
    (void)padd(m, 7);
    (void)ppop_ok(q);
  }
  be::inflight_queue<any_q> q{m.memory()};
  pstart(q, m, r, pos(0, true));
  CHECK(q.pending_resubmits() == 1);
  const auto c = ppop_ok(q);
  CHECK(tag_of(c) == 7);
  REQUIRE(q.push_used(c.token(), 1).has_value());
  drain(m, 1);
}

TEST_CASE("packed inflight_queue restart after a crash between publishing and committing") {
  pmock m(popts());
  pregion r;
  ptracked q{m.memory()};
  pstart(q, m, r, pos(0, true));
  (void)padd(m, 1);
  const std::uint16_t ib = padd(m, 2);
  const auto a = ppop_ok(q);
  (void)ppop_ok(q);
  std::vector<std::byte> before = r.bytes;  // committed: A and B in flight
  auto reg = r.view();

  SUBCASE("published: the update is committed, A is not resubmitted") {
    REQUIRE(q.push_used(a.token(), 1).has_value());
    // Undo what the back-end did after publishing: inflight clear and the commit.
    const be::packed_inflight_region old{std::span<std::byte>{before}};
    reg.set_inflight(0, true);
    reg.set_old_free_head(old.old_free_head());
    reg.set_old_used_idx(old.old_used_idx());
    reg.set_old_used_wrap_counter(old.old_used_wrap_counter());
    ptracked q2{m.memory()};
    pstart(q2, m, r, pos(2, true));
    CHECK(q2.pending_resubmits() == 1);
    CHECK(reg.old_used_idx() == 2);
    CHECK(reg.free_head() == 0);
    CHECK_FALSE(reg.inflight(0));
    const auto b = ppop_ok(q2);
    CHECK(b.id() == ib);
    CHECK(tag_of(b) == 2);
    pno_chain(q2);
  }
  SUBCASE("not published: the update is rolled back, A is resubmitted") {
    // The steps before publishing: entries freed, used_idx moved; the ring not written.
    reg.set_next(reg.last(0), reg.free_head());
    reg.set_free_head(0);
    reg.set_used_idx(2);
    ptracked q2{m.memory()};
    pstart(q2, m, r, pos(0, true));
    CHECK(q2.pending_resubmits() == 2);
    CHECK(reg.free_head() == 4);
    CHECK(reg.used_idx() == 0);
    CHECK(tag_of(ppop_ok(q2)) == 1);
    CHECK(tag_of(ppop_ok(q2)) == 2);
    pno_chain(q2);
  }
}

TEST_CASE("packed inflight_queue refuses a region it cannot trust (vhost_inflight_invalid)") {
  pmock m(popts());
  pregion good;
  {
    ptracked q{m.memory()};
    pstart(q, m, good, pos(0, true));
    (void)padd(m, 1);
    (void)padd(m, 2);
    (void)ppop_ok(q);
    (void)ppop_ok(q);  // heads at entries 0 and 2, free list 4 -> ... -> 16
  }
  const auto refused = [&](auto&& corrupt) {
    pregion r = good;
    auto reg = r.view();
    corrupt(reg, r);
    ptracked q{m.memory()};
    q.attach(r.area());
    CHECK(err(q.configure(m.config())) == errc::vhost_inflight_invalid);
    CHECK_FALSE(q.ready());
    CHECK_FALSE(q.tracking());
  };
  using reg_t = be::packed_inflight_region;
  refused([](reg_t& g, pregion&) { g.set_version(2); });
  refused([](reg_t& g, pregion&) { g.set_desc_num(psize - 1); });
  refused([](reg_t&, pregion& r) { r.bytes.resize(r.bytes.size() - 64); });
  refused([](reg_t& g, pregion&) { g.set_free_head(psize + 1); });
  refused([](reg_t& g, pregion&) { g.set_old_free_head(psize + 1); });
  refused([](reg_t& g, pregion&) { g.set_old_used_idx(psize); });
  refused([](reg_t& g, pregion&) { g.set_old_used_wrap_counter(2); });
  refused([](reg_t& g, pregion&) { g.set_next(7, 4); });             // a free-list loop
  refused([](reg_t& g, pregion&) { g.set_next(9, psize + 5); });     // out of the region
  refused([](reg_t& g, pregion&) { g.set_num(0, 0); });              // an empty list
  refused([](reg_t& g, pregion&) { g.set_num(0, psize + 1); });      // longer than the ring
  refused([](reg_t& g, pregion&) { g.set_last(0, 3); });             // last is not its end
  refused([](reg_t& g, pregion&) { g.set_next(0, psize); });         // a link out of the region
  refused([](reg_t& g, pregion&) { g.set_num(2, psize - 1); });      // more slots than the ring
  // The good region still recovers, and a resubmitted list whose copies no longer make a chain
  // is rejected with its token, like a malformed list popped from the ring.
  pregion r = good;
  auto reg = r.view();
  auto bad = reg.desc(0);
  bad.flags = vireo::ring::desc_flag::indirect | vireo::ring::desc_flag::next;
  reg.set_desc(0, bad);
  ptracked q{m.memory()};
  pstart(q, m, r, pos(0, true));
  CHECK(q.pending_resubmits() == 2);
  pchain c;
  const auto got = q.pop_into(c);
  REQUIRE_FALSE(got.has_value());
  CHECK(got.error() == errc::indirect_not_negotiated);
  REQUIRE(q.rejected().has_value());
  CHECK(q.rejected()->slots == 2);
  REQUIRE(q.push_used(*q.rejected(), 0).has_value());
  CHECK(tag_of(ppop_ok(q)) == 2);
}
