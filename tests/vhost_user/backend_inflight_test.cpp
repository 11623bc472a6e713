// SPDX-License-Identifier: Apache-2.0
// Inflight I/O tracking (vhost-user INFLIGHT_SHMFD; spec "Inflight I/O tracking", digest §6.4):
// the split queue region layout, the tracker decorator over a device queue (record on pop,
// clear on completion, last-batch repair and resubmission in counter order after a restart),
// and the session's GET_INFLIGHT_FD / SET_INFLIGHT_FD with a fake allocator, ending in a full
// back-end restart through two sessions.
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "backend_inflight_support.hpp"
#include "vireo/ring/any_device_queue.hpp"
#include "vireo/ring/split_device.hpp"
#include "vireo/testing/mock_packed_driver.hpp"
#include "vireo/testing/mock_split_driver.hpp"
#include "vireo/vhost_user/backend/inflight_queue.hpp"

using namespace vireo_vu_test;
using be::action_kind;
using vireo::feature_set;
using vireo::transport_feature;

namespace {

namespace il = be::inflight_layout;
using mock = vireo::testing::mock_split_driver;
using split_q = vireo::ring::split_device<vireo::flat_memory>;
using tracked = be::inflight_queue<split_q>;
using chain_t = tracked::chain_type;

constexpr std::uint16_t qsize = 8;

mock::options mock_opts(feature_set f = {}) {
  mock::options o;
  o.size = qsize;
  o.features = f;
  o.data_bytes = 1 << 16;
  return o;
}

/// One queue's inflight region, as a front-end would keep it.
struct region {
  std::vector<std::byte> bytes;
  std::uint16_t queue_size;
  explicit region(std::uint16_t qs = qsize) : bytes(il::queue_bytes(qs)), queue_size(qs) {}
  be::inflight_area area() { return {bytes, queue_size}; }
  be::split_inflight_region view() { return be::split_inflight_region{bytes}; }
};

chain_t pop_ok(tracked& q) {
  chain_t c;
  const auto got = q.pop_into(c);
  REQUIRE(got.has_value());
  REQUIRE(*got);
  return c;
}

void no_chain(tracked& q) {
  chain_t c;
  const auto got = q.pop_into(c);
  REQUIRE(got.has_value());
  CHECK_FALSE(*got);
}

/// A tracker started like a vhost-user device: configure, then the vring base.
void start(tracked& q, mock& m, region& r, std::uint16_t base) {
  q.attach(r.area());
  REQUIRE(q.configure(m.config()).has_value());
  q.restore(base, base);
}

std::vector<std::uint16_t> marked(region& r) {
  std::vector<std::uint16_t> v;
  auto reg = r.view();
  for (std::uint16_t i = 0; i < r.queue_size; ++i)
    if (reg.inflight(i)) v.push_back(i);
  return v;
}

}  // namespace

TEST_CASE("inflight layout: queue region size and field offsets (libvhost-user VuVirtqInflight)") {
  // ALIGN_UP(16 * n + 2, 64) (libvhost-user) = ALIGN_UP(16 * n + 16, 64) (DPDK), n = 1..32768.
  for (std::uint32_t n = 1; n <= 32768; ++n) {
    const std::uint64_t lvu = (16 * n + 2 + 63) / 64 * 64;
    const std::uint64_t dpdk = (16 * n + 16 + 63) / 64 * 64;
    REQUIRE(il::queue_bytes(static_cast<std::uint16_t>(n)) == lvu);
    REQUIRE(lvu == dpdk);
  }
  CHECK(il::region_bytes(2, 256) == 2 * 4160);
  // Field offsets, written through the view and read back raw.
  region r(4);
  auto reg = r.view();
  reg.set_features(0x1122334455667788);
  reg.set_version(1);
  reg.set_desc_num(4);
  reg.set_last_batch_head(3);
  reg.set_used_idx(0xBEEF);
  reg.set_inflight(2, true);
  reg.set_next(2, 0x0102);
  reg.set_counter(2, 0x0A0B0C0D0E0F1011);
  auto u16_at = [&](std::size_t off) {
    std::uint16_t v;
    std::memcpy(&v, r.bytes.data() + off, 2);
    return v;
  };
  std::uint64_t f, c;
  std::memcpy(&f, r.bytes.data(), 8);
  CHECK(f == 0x1122334455667788);
  CHECK(u16_at(8) == 1);       // version
  CHECK(u16_at(10) == 4);      // desc_num
  CHECK(u16_at(12) == 3);      // last_batch_head
  CHECK(u16_at(14) == 0xBEEF); // used_idx
  const std::size_t d2 = 16 + 2 * 16;  // desc[2]: u8 inflight; u8 padding[5]; u16 next; u64 counter
  CHECK(std::to_integer<int>(r.bytes[d2]) == 1);
  CHECK(u16_at(d2 + 6) == 0x0102);
  std::memcpy(&c, r.bytes.data() + d2 + 8, 8);
  CHECK(c == 0x0A0B0C0D0E0F1011);
  for (std::size_t k = 1; k < 6; ++k) CHECK(std::to_integer<int>(r.bytes[d2 + k]) == 0);
}

TEST_CASE("inflight_queue: a fresh region is initialised; pops are recorded, completions cleared") {
  mock m(mock_opts());
  region r;
  tracked q{m.memory()};
  start(q, m, r, 0);
  auto reg = r.view();
  CHECK(q.tracking());
  CHECK(reg.version() == 1);
  CHECK(reg.desc_num() == qsize);
  CHECK(reg.used_idx() == 0);

  const std::uint16_t h0 = add(m, 10), h1 = add(m, 11), h2 = add(m, 12);
  const auto a = pop_ok(q), b = pop_ok(q), c = pop_ok(q);
  CHECK(a.id() == h0);
  CHECK(marked(r) == std::vector<std::uint16_t>{h0, h1, h2});
  CHECK(reg.counter(h0) == 0);
  CHECK(reg.counter(h1) == 1);
  CHECK(reg.counter(h2) == 2);

  // One completion: linked as a one-entry batch, published, cleared, used_idx follows used.idx.
  REQUIRE(q.push_used(b.token(), 1).has_value());
  CHECK(reg.last_batch_head() == h1);
  CHECK_FALSE(reg.inflight(h1));
  CHECK(reg.used_idx() == 1);
  CHECK(m.used_idx() == 1);
  // A batch of two: linked through `next` from last_batch_head (spec steps 1-3), then cleared.
  const vireo::ring::used_entry batch[] = {{c.token(), 0}, {a.token(), 1}};
  REQUIRE(q.push_used(std::span<const vireo::ring::used_entry>(batch)).has_value());
  CHECK(reg.last_batch_head() == h0);
  CHECK(reg.next(h0) == h2);
  CHECK(reg.next(h2) == h1);
  CHECK(marked(r).empty());
  CHECK(reg.used_idx() == 3);
  // A token beyond the ring is refused before the region is touched.
  vireo::chain::used_token bad = a.token();
  bad.id = qsize;
  CHECK(err(q.push_used(bad, 0)) == errc::invalid_argument);
  CHECK(reg.last_batch_head() == h0);
}

TEST_CASE("inflight_queue restart: the heads in flight come back in counter order, then new chains") {
  mock m(mock_opts());
  region r;
  std::uint16_t hb = 0, hc = 0, hd = 0;
  {
    tracked q{m.memory()};
    start(q, m, r, 0);
    const std::uint16_t ha = add(m, 1);
    hb = add(m, 2);
    hc = add(m, 3);
    const auto a = pop_ok(q);
    (void)pop_ok(q);
    (void)pop_ok(q);
    REQUIRE(q.push_used(a.token(), 1).has_value());  // A done; its head is free again
    REQUIRE(m.driver().reclaim().has_value());
    hd = add(m, 4);  // the driver reuses head ha for D: index order is no longer fetch order
    CHECK(hd == ha);
    const auto d = pop_ok(q);
    CHECK(tag_of(d) == 4);
    // The back-end dies here with B, C and D in flight (nothing is completed or reset).
  }
  const std::uint16_t he = add(m, 5);  // the guest keeps adding while the back-end is gone
  CHECK(marked(r) == std::vector<std::uint16_t>{hd, hb, hc});

  // The restarted back-end: QEMU's base is used.idx (1) after a crash.
  tracked q{m.memory()};
  start(q, m, r, 1);
  CHECK(q.pending_resubmits() == 3);
  CHECK(q.state().next_avail == 4);  // used.idx 1 + 3 in flight
  CHECK(q.available().value() == 4);  // 3 to resubmit + E
  CHECK(q.enable_notifications().value());
  const auto b = pop_ok(q), c = pop_ok(q), d = pop_ok(q), e = pop_ok(q);
  CHECK(tag_of(b) == 2);
  CHECK(b.id() == hb);
  CHECK(tag_of(c) == 3);
  CHECK(tag_of(d) == 4);
  CHECK(tag_of(e) == 5);
  CHECK(e.id() == he);
  no_chain(q);
  CHECK(q.pending_resubmits() == 0);
  // E was recorded after the restart with a counter above every recovered one.
  auto reg = r.view();
  CHECK(reg.counter(he) > reg.counter(hd));
  // Completing the resubmitted chains works as for any chain; the driver sees each once.
  for (const auto* ch : {&d, &b, &e, &c}) REQUIRE(q.push_used(ch->token(), 1).has_value());
  CHECK(marked(r).empty());
  CHECK(m.used_idx() == 5);
  for (int k = 0; k < 4; ++k) {
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
  }
  const auto extra = m.driver().reclaim();
  REQUIRE(extra.has_value());
  CHECK_FALSE(extra->has_value());
}

TEST_CASE("inflight_queue restart after a crash between publishing used.idx and clearing") {
  mock m(mock_opts());
  region r;
  std::uint16_t h[4];
  {
    tracked q{m.memory()};
    start(q, m, r, 0);
    for (std::uint8_t k = 0; k < 4; ++k) h[k] = add(m, k);
    chain_t c[4];
    for (auto& x : c) x = pop_ok(q);
    // The spec's completion steps up to "increase the idx of the used ring", then death:
    // entries 1 and 3 were linked and published, their inflight marks not cleared.
    auto reg = r.view();
    for (int k : {1, 3}) {
      reg.set_next(c[k].id(), reg.last_batch_head());
      reg.set_last_batch_head(c[k].id());
    }
    const vireo::ring::used_entry batch[] = {{c[1].token(), 0}, {c[3].token(), 0}};
    REQUIRE(q.queue().push_used(std::span<const vireo::ring::used_entry>(batch)).has_value());
    CHECK(marked(r).size() == 4);
    CHECK(reg.used_idx() == 0);
  }
  tracked q{m.memory()};
  start(q, m, r, 2);
  auto reg = r.view();
  CHECK(reg.used_idx() == 2);  // repaired: the last batch (2 entries) is not in flight
  CHECK(marked(r) == std::vector<std::uint16_t>{h[0], h[2]});
  CHECK(q.pending_resubmits() == 2);
  CHECK(tag_of(pop_ok(q)) == 0);
  CHECK(tag_of(pop_ok(q)) == 2);
  no_chain(q);
}

TEST_CASE("inflight_queue: with nothing in flight a recovered region honours the vring base") {
  mock m(mock_opts());
  region r;
  {
    tracked q{m.memory()};
    start(q, m, r, 0);
    add(m, 1);
    const auto a = pop_ok(q);
    REQUIRE(q.push_used(a.token(), 1).has_value());
  }
  tracked q{m.memory()};
  start(q, m, r, 1);  // a clean stop: GET_VRING_BASE said 1
  CHECK(q.tracking());
  CHECK(q.pending_resubmits() == 0);
  CHECK(q.state().next_avail == 1);
  add(m, 2);
  const auto c = pop_ok(q);
  CHECK(tag_of(c) == 2);
  CHECK(r.view().counter(c.id()) == 0);  // the counter restarts above nothing in flight
}

TEST_CASE("inflight_queue: a malformed chain is recorded, resubmitted and rejected again") {
  mock m(mock_opts());
  region r;
  std::uint16_t bad = 0;
  {
    tracked q{m.memory()};
    start(q, m, r, 0);
    bad = add(m, 1);
    // The guest points the chain's buffer outside its memory: pop consumes and rejects it.
    m.write_desc(bad, 0xFFFF'0000'0000, 16, 0, 0);
    chain_t c;
    CHECK(err(q.pop_into(c)) == errc::out_of_bounds);
    REQUIRE(q.rejected().has_value());
    CHECK(marked(r) == std::vector<std::uint16_t>{bad});
    add(m, 2);
    (void)pop_ok(q);
  }
  tracked q{m.memory()};
  start(q, m, r, 0);
  CHECK(q.state().next_avail == 2);
  chain_t c;
  CHECK(err(q.pop_into(c)) == errc::out_of_bounds);
  const auto t = q.rejected();
  REQUIRE(t.has_value());
  CHECK(t->id == bad);
  REQUIRE(q.push_used(*t, 0).has_value());  // completed with length 0 as usual
  CHECK(tag_of(pop_ok(q)) == 2);
  no_chain(q);
}

TEST_CASE("split_device resubmit_into / walk_into: a chain again from its head, nothing consumed") {
  mock m(mock_opts());
  split_q q{m.memory()};
  REQUIRE(q.configure(m.config()).has_value());
  const std::uint16_t h0 = add(m, 7), h1 = add(m, 8);
  chain_t c;
  REQUIRE(q.resubmit_into(h1, 41, c).has_value());
  CHECK(tag_of(c) == 8);
  CHECK(c.token().seq == 41);
  CHECK(q.state().next_avail == 0);  // the ring was not read
  CHECK(err(q.resubmit_into(qsize, 0, c)) == errc::head_out_of_range);
  CHECK_FALSE(q.rejected().has_value());
  CHECK_FALSE(q.broken());
  // A chain that no longer validates: resubmit rejects it, walk_into leaves rejected() alone.
  m.write_desc(h0, 0xFFFF'0000'0000, 16, 0, 0);
  CHECK(err(q.walk_into(h0, 3, c)) == errc::out_of_bounds);
  CHECK_FALSE(q.rejected().has_value());
  CHECK(err(q.resubmit_into(h0, 3, c)) == errc::out_of_bounds);
  REQUIRE(q.rejected().has_value());
  CHECK(q.rejected()->id == h0);
  CHECK(q.rejected()->rejected);
  REQUIRE(q.walk_into(h1, 9, c).has_value());
  CHECK(q.rejected().has_value());  // still the resubmission's
  // The ring itself is untouched: both chains pop normally.
  CHECK(err(q.pop_into(c)) == errc::out_of_bounds);
  REQUIRE(q.pop_into(c).value());
  CHECK(tag_of(c) == 8);
}

TEST_CASE("inflight_queue refuses a region that does not fit the queue (vhost_inflight_invalid)") {
  mock m(mock_opts());
  auto refused = [&](region& r) {
    tracked q{m.memory()};
    q.attach(r.area());
    CHECK(err(q.configure(m.config())) == errc::vhost_inflight_invalid);
    CHECK_FALSE(q.ready());
    CHECK_FALSE(q.tracking());
  };
  auto recovered = [&](region& r) {  // a region a back-end left: version 1, head 3 in flight
    auto reg = r.view();
    reg.set_version(1);
    reg.set_desc_num(r.queue_size);
    reg.set_inflight(3, true);
  };
  SUBCASE("unknown version") {
    region r;
    recovered(r);
    r.view().set_version(2);
    refused(r);
  }
  SUBCASE("desc_num differs from the announced queue size") {
    region r;
    recovered(r);
    r.view().set_desc_num(qsize / 2);
    refused(r);
  }
  SUBCASE("the ring is larger than the region's queue size") {
    region r(qsize / 2);
    refused(r);
  }
  SUBCASE("the area is smaller than the region needs") {
    region r;
    r.bytes.resize(64);
    refused(r);
  }
  SUBCASE("a head in flight beyond the ring") {
    region r(2 * qsize);
    recovered(r);
    r.view().set_inflight(qsize, true);
    refused(r);
  }
  SUBCASE("a last batch larger than the ring") {
    region r;
    recovered(r);
    r.view().set_used_idx(0x8000);  // used.idx is 0
    refused(r);
  }
  SUBCASE("a last batch that leaves the ring") {
    region r;
    recovered(r);
    auto reg = r.view();
    reg.set_used_idx(0xFFFF);  // one entry pending: used.idx 0 - 0xFFFF = 1
    reg.set_last_batch_head(qsize);
    refused(r);
  }
  // The same region with a sane batch head recovers.
  region r;
  recovered(r);
  tracked q{m.memory()};
  q.attach(r.area());
  CHECK(q.configure(m.config()).has_value());
  CHECK(q.pending_resubmits() == 1);
}

TEST_CASE("inflight_queue: IN_ORDER queues are not tracked; no region, no tracking") {
  region r;
  r.bytes.assign(r.bytes.size(), std::byte{0x5A});
  const auto before = r.bytes;
  SUBCASE("IN_ORDER") {
    mock m(mock_opts(feature_set{transport_feature::in_order}));
    tracked q{m.memory()};
    q.attach(r.area());
    REQUIRE(q.configure(m.config()).has_value());
    CHECK_FALSE(q.tracking());
    add(m, 1);
    const auto c = pop_ok(q);
    REQUIRE(q.push_used(c.token(), 1).has_value());
  }
  SUBCASE("no region") {
    mock m(mock_opts());
    tracked q{m.memory()};
    REQUIRE(q.configure(m.config()).has_value());
    CHECK_FALSE(q.tracking());
  }
  CHECK(r.bytes == before);
}

// ---- the session: GET_INFLIGHT_FD, SET_INFLIGHT_FD ---------------------------------------------

namespace {

constexpr std::uint64_t version_1 = std::uint64_t{1} << 32;
constexpr std::uint64_t bit30 = vu::f_protocol_features;
constexpr std::uint64_t uaddr = 0x7000'0000'0000;
constexpr std::uint64_t inflight_shmfd = 0x1000, reply_ack = 0x8, mq = 0x1;

fake_device blk_like() {
  fake_device d;
  d.features = version_1;
  d.queues = 2;
  d.max_size = 256;
  return d;
}

void own(harness& h, std::uint64_t protocol) {
  h.send(u64_req(fr::set_protocol_features, protocol));
  REQUIRE(h.last.status.has_value());
  h.send(req(fr::set_owner));
}

/// The 24-byte inflight reply: mmap_size, mmap_offset, num_queues, queue_size.
struct inflight_reply {
  std::uint64_t size, offset;
  std::uint16_t nq, qs;
};
inflight_reply read_inflight(const harness& h) {
  REQUIRE(h.last.reply().size() == 12 + 24);
  CHECK(h.reply_word(0) == code(fr::get_inflight_fd));
  CHECK(h.reply_word(4) == rep_flags);
  CHECK(h.reply_word(8) == 24);
  inflight_reply r{};
  std::memcpy(&r.size, h.last.reply().data() + 12, 8);
  std::memcpy(&r.offset, h.last.reply().data() + 20, 8);
  std::memcpy(&r.nq, h.last.reply().data() + 28, 2);
  std::memcpy(&r.qs, h.last.reply().data() + 30, 2);
  return r;
}

}  // namespace

TEST_CASE("GET_INFLIGHT_FD after SET_FEATURES(RING_PACKED) sizes the region for packed queues") {
  fake_device d = blk_like();
  const std::uint64_t ring_packed = std::uint64_t{1} << 34;
  d.features |= ring_packed;
  harness h(d, true);
  own(h, inflight_shmfd | reply_ack | mq);
  h.send(u64_req(fr::set_features, version_1 | ring_packed | bit30));
  REQUIRE(h.last.status.has_value());
  h.send(inflight_req(fr::get_inflight_fd, 0, 0, 2, 64));
  REQUIRE(h.last.status.has_value());
  const auto rep = read_inflight(h);
  CHECK(rep.size == be::packed_inflight_layout::region_bytes(2, 64));
  CHECK(rep.size != il::region_bytes(2, 64));
  const auto& inf = h.s->inflight();
  CHECK(h.s->inflight_area_of(1).bytes.data() ==
        inf.host + be::packed_inflight_layout::queue_bytes(64));
  CHECK(h.s->inflight_area_of(1).bytes.size() == be::packed_inflight_layout::queue_bytes(64));
  // SET_INFLIGHT_FD with a region sized for split queues is too small for packed ones.
  h.send(inflight_req(fr::set_inflight_fd, il::region_bytes(2, 64), 0, 2, 64),
         {h.new_file(il::region_bytes(2, 64))});
  CHECK(vireo_test::err(h.last.status) == errc::vhost_inflight_invalid);
}

TEST_CASE("INFLIGHT_SHMFD is offered only with an allocator, to a device that takes the area") {
  harness without(blk_like());
  without.send(req(fr::get_protocol_features));
  CHECK((without.reply_u64(code(fr::get_protocol_features)) & inflight_shmfd) == 0);
  harness with(blk_like(), true);
  with.send(req(fr::get_protocol_features));
  CHECK((with.reply_u64(code(fr::get_protocol_features)) & inflight_shmfd) != 0);
  // Not acked: GET_INFLIGHT_FD fails with the size-0 reply (QEMU then runs without a region).
  own(with, reply_ack);
  with.send(inflight_req(fr::get_inflight_fd, 0, 0, 2, 64));
  CHECK(with.last.status.error() == errc::vhost_not_negotiated);
  CHECK(read_inflight(with).size == 0);
  CHECK(with.last.reply_fds().empty());
  CHECK_FALSE(with.last.close_connection);
  CHECK(with.allocator.allocations == 0);
}

TEST_CASE("GET_INFLIGHT_FD allocates num_queues x queue_size, zero-filled, and sends its fd") {
  harness h(blk_like(), true);
  own(h, inflight_shmfd | reply_ack | mq);
  h.send(inflight_req(fr::get_inflight_fd, 0, 0, 2, 64));
  REQUIRE(h.last.status.has_value());
  const auto rep = read_inflight(h);
  CHECK(rep.size == 2 * il::queue_bytes(64));
  CHECK(rep.offset == 0);
  CHECK(rep.nq == 2);
  CHECK(rep.qs == 64);
  REQUIRE(h.last.reply_fds().size() == 1);
  const int fd = h.last.reply_fds()[0];
  CHECK(h.closed().empty());  // the session keeps the region's fd
  const auto& inf = h.s->inflight();
  CHECK(inf.allocated);
  CHECK(inf.fd == fd);
  CHECK(inf.host == h.mapper.file(fd));
  CHECK(std::all_of(inf.host, inf.host + rep.size, [](std::byte b) { return b == std::byte{0}; }));
  // Each vring gets its stride of it.
  CHECK(h.s->inflight_area_of(0).bytes.data() == inf.host);
  CHECK(h.s->inflight_area_of(1).bytes.data() == inf.host + il::queue_bytes(64));
  CHECK(h.s->inflight_area_of(1).queue_size == 64);
  CHECK(h.s->inflight_area_of(2).empty());
  // A second GET replaces the region: the old one is released.
  h.send(inflight_req(fr::get_inflight_fd, 0, 0, 1, 4));
  CHECK(h.allocator.releases == 1);
  CHECK(h.s->inflight().size == il::queue_bytes(4));
  h.disconnect();
  CHECK(h.allocator.releases == 2);
  CHECK(h.s->inflight().host == nullptr);
}

TEST_CASE("GET_INFLIGHT_FD failures: queue count, queue size, allocator, started ring (§10.27)") {
  harness h(blk_like(), true);
  own(h, inflight_shmfd | reply_ack);
  auto fails = [&](errc e, std::uint16_t nq, std::uint16_t qs) {
    h.send(inflight_req(fr::get_inflight_fd, 0, 0, nq, qs));
    CHECK(vireo_test::err(h.last.status) == e);
    const auto rep = read_inflight(h);
    CHECK(rep.size == 0);
    CHECK(rep.nq == nq);
    CHECK(h.last.reply_fds().empty());
    CHECK_FALSE(h.last.close_connection);
  };
  fails(errc::vhost_bad_value, 3, 64);   // more queues than the device has
  fails(errc::bad_queue_size, 2, 512);   // above the device's largest queue
  h.allocator.fail = true;
  fails(errc::host_io_error, 2, 64);
  h.allocator.fail = false;
  // The codec refuses num_queues or queue_size 0 before the session sees it (RVMM does too).
  h.send(inflight_req(fr::get_inflight_fd, 0, 0, 0, 64));
  CHECK(h.decode_error == errc::vhost_zero_size);
  // Not while a ring runs on the region.
  h.send(u64_req(fr::set_features, version_1 | bit30));
  h.send(mem_table({{0, 0x100000, uaddr, 0}}), {h.new_file(0x100000)});
  h.send(state_req(fr::set_vring_num, 0, 64));
  h.send(state_req(fr::set_vring_base, 0, 0));
  h.send(addr_req(0, uaddr + 0x10000, uaddr + 0x12000, uaddr + 0x11000));
  h.send(u64_req(fr::set_vring_kick, 0), {h.new_fd()});
  REQUIRE(h.s->vring(0).started);
  CHECK(h.dev.areas.at(0).empty());  // no region: the device gets an empty area
  fails(errc::vhost_out_of_order, 2, 64);
  h.send(inflight_req(fr::set_inflight_fd, il::region_bytes(2, 64), 0, 2, 64, need),
         {h.new_file(il::region_bytes(2, 64))});
  CHECK(vireo_test::err(h.last.status) == errc::vhost_out_of_order);
  CHECK(h.allocator.allocations == 0);
  h.disconnect();
}

TEST_CASE("SET_INFLIGHT_FD maps the front-end's region, closes its fd, and the device gets it") {
  harness h(blk_like(), true);
  own(h, inflight_shmfd | reply_ack);
  const std::uint64_t size = il::region_bytes(2, 64);
  SUBCASE("too small for num_queues x queue_size") {
    const int fd = h.new_file(size);
    h.send(inflight_req(fr::set_inflight_fd, size - 1, 0, 2, 64, need), {fd});
    CHECK(vireo_test::err(h.last.status) == errc::vhost_inflight_invalid);
    CHECK(h.reply_u64(code(fr::set_inflight_fd)) == 1);
    CHECK(h.closed() == std::vector{fd});
    CHECK(h.mapper.maps == 0);
  }
  SUBCASE("beyond the fd's file: the mapper refuses") {
    h.send(inflight_req(fr::set_inflight_fd, size, 0x1000, 2, 64, need), {h.new_file(size)});
    CHECK(vireo_test::err(h.last.status) == errc::host_rejected);
    CHECK(h.s->inflight().host == nullptr);
  }
  SUBCASE("mapped; replaces an allocated region; the device starts with its area") {
    h.send(inflight_req(fr::get_inflight_fd, 0, 0, 2, 64));
    const int file = h.new_file(size + 0x1000);
    h.send(inflight_req(fr::set_inflight_fd, size, 0x1000, 2, 64, need), {file});
    CHECK(h.reply_u64(code(fr::set_inflight_fd)) == 0);
    CHECK(h.closed() == std::vector{file});  // the mapping keeps the memory
    CHECK(h.allocator.releases == 1);
    const auto& inf = h.s->inflight();
    CHECK_FALSE(inf.allocated);
    CHECK(inf.host == h.mapper.file(file) + 0x1000);
    CHECK(inf.mmap_offset == 0x1000);
    h.send(u64_req(fr::set_features, version_1 | bit30));
    h.send(mem_table({{0, 0x100000, uaddr, 0}}), {h.new_file(0x100000)});
    h.send(state_req(fr::set_vring_num, 1, 64));
    h.send(state_req(fr::set_vring_base, 1, 0));
    h.send(addr_req(1, uaddr + 0x10000, uaddr + 0x12000, uaddr + 0x11000));
    h.send(u64_req(fr::set_vring_kick, 1), {h.new_fd()});
    REQUIRE(h.s->vring(1).started);
    const auto area = h.dev.areas.at(1);
    CHECK(area.bytes.data() == inf.host + il::queue_bytes(64));
    CHECK(area.bytes.size() == il::queue_bytes(64));
    CHECK(area.queue_size == 64);
    h.disconnect();
    CHECK(h.mapper.live() == 0);
  }
  h.disconnect();
}

// ---- a whole back-end restart through two sessions ---------------------------------------------

namespace {

using table_t = vireo::region_table<32>;
using session_q = be::inflight_queue<vireo::ring::split_device<table_t>>;
using tracking_device = tracking_device_t<table_t>;


using restart_session = be::session<tracking_device, fake_mapper, 8, 32, fake_allocator>;

/// One back-end process: its own mapper (mappings) over files that outlive it, its allocator,
/// its session and device.
struct backend_process {
  fake_mapper mapper;
  fake_allocator alloc{mapper};
  tracking_device dev;
  restart_session s{dev, mapper, alloc};
  backend_process() { dev.attach(s.memory()); }

  vireo::result<void> send(const std::vector<std::byte>& f, std::vector<int> fds = {},
                           std::vector<int>* reply_fds = nullptr) {
    const auto msg = vu::decode(f, fds, vu::channel::main, s.codec());
    REQUIRE(msg.has_value());
    const auto out = s.handle(*msg);
    if (reply_fds != nullptr) reply_fds->assign(out.reply_fds().begin(), out.reply_fds().end());
    return out.status;
  }
};

/// QEMU's vhost-user-blk start (vhost_user_blk_start): negotiation, the inflight region (GET
/// the first time, SET every time, with a copy of the fd QEMU keeps), features, memory (the mock
/// driver's RAM), vring 0 at the mock's addresses from `base`.
void qemu_start(backend_process& p, const mock& m, std::span<std::byte> ram, int& inflight_fd,
                std::span<std::byte>& inflight_file, std::uint16_t base) {
  REQUIRE(p.send(u64_req(fr::set_protocol_features, inflight_shmfd | reply_ack)).has_value());
  REQUIRE(p.send(req(fr::set_owner)).has_value());
  const std::uint64_t size = il::region_bytes(1, qsize);
  if (inflight_fd < 0) {
    std::vector<int> fds;
    REQUIRE(p.send(inflight_req(fr::get_inflight_fd, 0, 0, 1, qsize), {}, &fds).has_value());
    REQUIRE(fds.size() == 1);
    inflight_fd = fds[0];
    inflight_file = {p.mapper.file(inflight_fd), p.mapper.file_size(inflight_fd)};
  }
  p.mapper.add_external(100, inflight_file);  // the copy of QEMU's fd this process receives
  REQUIRE(p.send(inflight_req(fr::set_inflight_fd, size, 0, 1, qsize), {100}).has_value());
  REQUIRE(p.send(u64_req(fr::set_features, version_1 | bit30)).has_value());
  const auto cfg = m.config();
  const std::uint64_t ram_gpa = cfg.desc_table.raw();
  p.mapper.add_external(101, ram);
  REQUIRE(p.send(mem_table({{ram_gpa, ram.size(), uaddr, 0}}), {101}).has_value());
  auto user = [&](vireo::gpa g) { return uaddr + (g.raw() - ram_gpa); };
  REQUIRE(p.send(state_req(fr::set_vring_num, 0, qsize)).has_value());
  REQUIRE(p.send(state_req(fr::set_vring_base, 0, base)).has_value());
  REQUIRE(p.send(addr_req(0, user(cfg.desc_table), user(cfg.device_area), user(cfg.driver_area)))
              .has_value());
  REQUIRE(p.send(u64_req(fr::set_vring_kick, 0x100)).has_value());  // polled: no kick fd
  REQUIRE(p.s.vring(0).started);
}

}  // namespace

TEST_CASE("a restarted back-end completes exactly the requests its predecessor left in flight") {
  mock m(mock_opts());
  const std::span<std::byte> ram = m.memory().host();
  int inflight_fd = -1;
  std::span<std::byte> inflight_file;
  // The region's memory outlives the first process, as QEMU's fd keeps the memfd alive.
  std::vector<std::byte> region_keeper;

  {  // The first back-end pops four requests, completes the second, then its process dies: no
     // completion, no GET_VRING_BASE, no disconnect().
    auto p = std::make_unique<backend_process>();
    qemu_start(*p, m, ram, inflight_fd, inflight_file, 0);
    CHECK(p->alloc.allocations == 1);
    for (std::uint8_t k = 0; k < 4; ++k) add(m, static_cast<std::uint8_t>(10 + k));
    std::vector<session_q::chain_type> popped;
    for (int k = 0; k < 4; ++k) {
      auto c = p->dev.q->pop();
      REQUIRE(c.has_value());
      REQUIRE_FALSE(c->empty());
      popped.push_back(*c);
    }
    REQUIRE(p->dev.q->push_used(popped[1].token(), 1).has_value());
    region_keeper.assign(inflight_file.begin(), inflight_file.end());
    inflight_file = region_keeper;
  }
  // The guest takes back the one completion and keeps queueing while the back-end is gone.
  const auto done = m.driver().reclaim();
  REQUIRE(done.has_value());
  REQUIRE(done->has_value());
  add(m, 14);
  // QEMU saw the crash (GET_VRING_BASE failed) and restarts the vring at used.idx.
  REQUIRE(m.used_idx() == 1);

  backend_process p;
  qemu_start(p, m, ram, inflight_fd, inflight_file, 1);
  CHECK(p.alloc.allocations == 0);  // SET_INFLIGHT_FD only: the predecessor's region
  REQUIRE(p.dev.q->tracking());
  CHECK(p.dev.q->pending_resubmits() == 3);
  std::vector<std::uint8_t> order;
  for (int k = 0; k < 4; ++k) {
    auto c = p.dev.q->pop();
    REQUIRE(c.has_value());
    REQUIRE_FALSE(c->empty());
    order.push_back(tag_of(*c));
    REQUIRE(p.dev.q->push_used(c->token(), 1).has_value());
  }
  // The three left in flight, oldest first; the one completed before the crash is not redone;
  // then the request queued during the outage.
  CHECK(order == std::vector<std::uint8_t>{10, 12, 13, 14});
  const auto none = p.dev.q->pop();
  REQUIRE(none.has_value());
  CHECK(none->empty());
  CHECK(m.used_idx() == 5);
  // The driver gets every other request back exactly once.
  for (int k = 0; k < 4; ++k) {
    const auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
  }
  const auto extra = m.driver().reclaim();
  REQUIRE(extra.has_value());
  CHECK_FALSE(extra->has_value());
  (void)p.s.disconnect();
}
