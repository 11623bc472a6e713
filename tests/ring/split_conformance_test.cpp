// SPDX-License-Identifier: Apache-2.0
// Conformance tests for the split virtqueue: one TEST_CASE (or more) per checklist item of
// /work/shared/spec/virtqueues.md §7.1 (G*) and §7.2 (S*) that a ring library can honour. The
// map from item to test case is docs/conformance-split.md.
#include "split_test_support.hpp"

#include <algorithm>
#include <optional>
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

/// Offset of a guest address inside the mock's memory.
std::size_t off_of(mock& m, gpa g) { return static_cast<std::size_t>(g.raw() - m.memory().base().raw()); }

/// Mark [g, g + len) as allowed in a byte map of the mock's memory.
void allow(std::vector<bool>& map, mock& m, gpa g, std::size_t len) {
  const std::size_t o = off_of(m, g);
  for (std::size_t i = 0; i < len; ++i) map[o + i] = true;
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

// ---- S3 / S4 / S5 / S6: chains and buffers ----------------------------------------------------

TEST_CASE("S3 device: the payload reads the same however it is split across descriptors") {
  const auto payload = pattern(200, 3);
  std::mt19937 rng{1234};
  for (int round = 0; round < 40; ++round) {
    const bool use_indirect = round % 2 == 1;
    mock m{opts(64, features(true, false, false), 64)};
    device d{m.memory()};
    configure(d, m);
    // Random cut points, including zero-length pieces and 1-byte pieces.
    std::vector<std::size_t> cuts{0, payload.size()};
    const int pieces = static_cast<int>(rng() % 30);
    for (int i = 0; i < pieces; ++i) cuts.push_back(rng() % (payload.size() + 1));
    std::sort(cuts.begin(), cuts.end());
    std::vector<buffer> rd;
    for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
      const std::size_t n = cuts[i + 1] - cuts[i];
      rd.push_back({m.put(const_bytes{payload.data() + cuts[i], n}), static_cast<std::uint32_t>(n)});
    }
    // The writable side is split too: 40 bytes as 3 + 0 + 5 + 32.
    std::vector<buffer> wr;
    for (std::uint32_t n : {3u, 0u, 5u, 32u}) wr.push_back({m.alloc(n), n});
    auto head = m.driver().add(rd, wr, 0, use_indirect ? add_mode::indirect : add_mode::direct);
    REQUIRE(head.has_value());

    auto c = pop_ok(d);
    CHECK(c.readable_len() == payload.size());
    CHECK(read_all(c) == payload);
    // Typed reads straddle descriptor boundaries transparently.
    auto rdr = c.reader();
    for (std::size_t at = 0; at + 4 <= payload.size(); at += 4) {
      auto v = rdr.read_obj<vireo::le32>();
      REQUIRE(v.has_value());
      std::uint32_t want = 0;
      for (int k = 3; k >= 0; --k) want = (want << 8) | std::to_integer<std::uint32_t>(payload[at + k]);
      CHECK(v->get() == want);
    }
    // Writes in odd-sized pieces land across the writable descriptors in stream order.
    const auto reply = pattern(40, 9 + round);
    auto w = c.writer();
    for (std::size_t at = 0; at < reply.size(); at += 7) {
      const std::size_t n = std::min<std::size_t>(7, reply.size() - at);
      REQUIRE(w.write(const_bytes{reply.data() + at, n}).has_value());
    }
    CHECK(w.written() == 40);
    CHECK(err(w.write(const_bytes{reply.data(), 1})) == errc::no_space);
    std::size_t at = 0;
    for (const auto& b : wr) {
      auto h = m.host(b.addr, b.len);
      CHECK(std::equal(h.begin(), h.end(), reply.begin() + static_cast<std::ptrdiff_t>(at)));
      at += b.len;
    }
  }
}

TEST_CASE("S4 driver: writable descriptors follow all readable ones, direct and indirect") {
  mock m{opts(8, features(true, false, false), 8)};
  const std::vector<buffer> rd{{m.alloc(10), 10}, {m.alloc(20), 20}};
  const std::vector<buffer> wr{{m.alloc(30), 30}, {m.alloc(40), 40}};
  auto check_list = [&](auto read_at) {
    for (std::uint16_t i = 0; i < 4; ++i) {
      const desc_view dv = read_at(i);
      const buffer& b = i < 2 ? rd[i] : wr[i - 2];
      CHECK(dv.addr == b.addr.raw());
      CHECK(dv.len == b.len);
      CHECK(((dv.flags & desc_flag::write) != 0) == (i >= 2));
      CHECK(((dv.flags & desc_flag::next) != 0) == (i < 3));
      CHECK((dv.flags & desc_flag::indirect) == 0);
    }
  };
  auto direct = m.driver().add(rd, wr, 0, add_mode::direct);
  REQUIRE(direct.has_value());
  std::uint16_t at = *direct;
  std::vector<desc_view> chain_descs;
  for (int i = 0; i < 4; ++i) {
    chain_descs.push_back(read_desc(m, at));
    at = chain_descs.back().next;
  }
  check_list([&](std::uint16_t i) { return chain_descs[i]; });

  auto ind = m.driver().add(rd, wr, 0, add_mode::indirect);
  REQUIRE(ind.has_value());
  const desc_view top = read_desc(m, *ind);
  REQUIRE(top.flags == desc_flag::indirect);
  check_list([&](std::uint16_t i) { return read_desc_at(m, gpa{top.addr + 16u * i}); });

  // (S) avoid excessive descriptor counts: with too few free descriptors, automatic mode packs
  // the chain into one indirect descriptor instead of failing.
  CHECK(m.driver().free_descriptors() == 3);
  auto packed = m.driver().add(rd, wr, 0, add_mode::automatic);
  REQUIRE(packed.has_value());
  CHECK(read_desc(m, *packed).flags == desc_flag::indirect);
  CHECK(m.driver().free_descriptors() == 2);
}

TEST_CASE("S5 device: a full device cycle writes only the used ring and the reported writable bytes") {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    constexpr std::uint16_t qsize = 16;
    mock m{opts(qsize, features(true, event_idx, false), 8)};
    struct req {
      std::vector<buffer> rd, wr;
      add_mode mode;
      std::uint32_t len = 0;  // what the device writes and reports
    };
    std::vector<req> reqs;
    std::uint32_t seed = 1;
    auto make = [&](std::initializer_list<std::uint32_t> r, std::initializer_list<std::uint32_t> w,
                    add_mode mode) {
      req q{{}, {}, mode, 0};
      for (auto n : r) q.rd.push_back({put_pattern(m, n, seed++).addr, n});
      for (auto n : w) {
        q.wr.push_back({m.alloc(n), n});
        std::memset(m.host(q.wr.back().addr, n).data(), 0xee, n);
      }
      reqs.push_back(q);
    };
    make({16, 24}, {32, 8}, add_mode::direct);
    make({7}, {5, 5, 50}, add_mode::indirect);
    make({}, {64}, add_mode::direct);
    make({100}, {}, add_mode::indirect);
    make({3, 0, 9}, {1, 0, 2}, add_mode::direct);
    for (auto& q : reqs) REQUIRE(m.driver().add(q.rd, q.wr, 0, q.mode).has_value());

    const auto before = snapshot(m);
    device d{m.memory()};
    configure(d, m);
    d.disable_notifications();
    std::size_t i = 0;
    for (;;) {
      auto c = d.pop();
      REQUIRE(c.has_value());
      if (c->empty()) break;
      REQUIRE(i < reqs.size());
      (void)read_all(*c);
      reqs[i].len = c->writable_len() > 3 ? c->writable_len() - 3 : c->writable_len();
      CHECK(write_all(*c, pattern(reqs[i].len, 50 + static_cast<std::uint32_t>(i))) == reqs[i].len);
      REQUIRE(d.push_used(*c, reqs[i].len).has_value());
      (void)d.needs_notification();
      ++i;
    }
    CHECK(i == reqs.size());
    CHECK(!*d.enable_notifications());
    const auto after = snapshot(m);

    std::vector<bool> allowed(before.size(), false);
    allow(allowed, m, m.config().device_area, layout::used_bytes(qsize));
    for (const auto& q : reqs) {
      std::uint32_t left = q.len;
      for (const auto& b : q.wr) {
        const std::uint32_t n = std::min(left, b.len);
        allow(allowed, m, b.addr, n);
        left -= n;
      }
    }
    std::size_t bad = 0;
    for (std::size_t k = 0; k < before.size(); ++k)
      if (before[k] != after[k] && !allowed[k]) ++bad;
    CHECK(bad == 0);
    // And the parts the spec names explicitly: the descriptor table, the avail ring, every
    // indirect table and every readable buffer are byte-for-byte unchanged.
    const std::size_t desc_off = off_of(m, m.config().desc_table);
    CHECK(std::equal(before.begin() + static_cast<std::ptrdiff_t>(desc_off),
                     before.begin() + static_cast<std::ptrdiff_t>(desc_off + 16 * qsize),
                     after.begin() + static_cast<std::ptrdiff_t>(desc_off)));
    for (const auto& q : reqs)
      for (const auto& b : q.rd) {
        const std::size_t o = off_of(m, b.addr);
        CHECK(std::equal(before.begin() + static_cast<std::ptrdiff_t>(o),
                         before.begin() + static_cast<std::ptrdiff_t>(o + b.len),
                         after.begin() + static_cast<std::ptrdiff_t>(o)));
      }
  }
}

namespace {

/// A guest_memory wrapper that logs every map/read/write, and can refuse zero-copy maps so the
/// cursors take their copy path.
template <vireo::guest_memory Inner>
class tracking_memory {
 public:
  struct record {
    std::uint64_t addr;
    std::uint64_t len;
    vireo::access acc;
    bool copy;  // read()/write() rather than map()
  };
  explicit tracking_memory(Inner& in) : in_(&in) {}
  bool force_copy = false;
  std::vector<record> log;

  vireo::result<bytes> map(gpa a, std::size_t len, vireo::access acc) noexcept {
    log.push_back({a.raw(), len, acc, false});
    auto r = in_->map(a, len, acc);
    if (r && force_copy && len > 0) return errc::not_contiguous;
    return r;
  }
  vireo::result<void> read(gpa a, bytes out) noexcept {
    log.push_back({a.raw(), out.size(), vireo::access::read, true});
    return in_->read(a, out);
  }
  vireo::result<void> write(gpa a, const_bytes in) noexcept {
    log.push_back({a.raw(), in.size(), vireo::access::write, true});
    return in_->write(a, in);
  }
  vireo::result<std::uint16_t> load_u16(gpa a, std::memory_order o) noexcept { return in_->load_u16(a, o); }
  vireo::result<void> store_u16(gpa a, std::uint16_t v, std::memory_order o) noexcept {
    return in_->store_u16(a, v, o);
  }

 private:
  Inner* in_;
};

}  // namespace

TEST_CASE("S5 device: never reads device-writable buffers, zero-copy or copy path") {
  for (const bool copy_path : {false, true}) {
    CAPTURE(copy_path);
    mock m{opts(8, features(true, false, false), 8)};
    tracking_memory<flat_memory> tm{m.memory()};
    vireo::ring::split_device<tracking_memory<flat_memory>> d{tm};
    REQUIRE(d.configure(m.config()).has_value());
    tm.force_copy = copy_path;
    std::vector<buffer> writable;
    for (int k = 0; k < 4; ++k) {
      const std::vector<buffer> rd{{put_pattern(m, 24, 7).addr, 24}};
      const std::vector<buffer> wr{{m.alloc(12), 12}, {m.alloc(20), 20}};
      writable.insert(writable.end(), wr.begin(), wr.end());
      REQUIRE(m.driver().add(rd, wr, 0, k % 2 ? add_mode::indirect : add_mode::direct).has_value());
    }
    for (int k = 0; k < 4; ++k) {
      auto c = d.pop();
      REQUIRE(c.has_value());
      REQUIRE(!c->empty());
      auto rd = c->reader();
      std::vector<std::byte> in(24);
      REQUIRE(rd.read(in).has_value());
      CHECK(in == pattern(24, 7));
      auto w = c->writer();
      REQUIRE(w.write(pattern(32, 1)).has_value());
      REQUIRE(d.push_used(*c, 32).has_value());
    }
    std::size_t copies = 0, read_of_writable = 0;
    for (const auto& rec : tm.log) {
      copies += rec.copy;
      for (const auto& b : writable) {
        const bool overlap = rec.addr < b.addr.raw() + b.len && b.addr.raw() < rec.addr + rec.len;
        if (overlap && vireo::allows(rec.acc, vireo::access::read)) ++read_of_writable;
      }
    }
    CHECK(read_of_writable == 0);
    CHECK((copies > 0) == copy_path);  // the copy path really ran when forced
  }
}

TEST_CASE("S6 driver: a chain totalling 2^32 bytes or more is refused and nothing is published") {
  mock m{opts(8)};
  auto& drv = m.driver();
  const gpa a = m.alloc(16);
  const std::vector<buffer> big{{a, 0x80000000u}, {a, 0x80000000u}};
  CHECK(err(drv.add(big, {})) == errc::total_len_overflow);
  CHECK(err(drv.add({}, big)) == errc::total_len_overflow);
  CHECK(err(drv.add(std::span{big}.first(1), std::span{big}.first(1))) == errc::total_len_overflow);
  CHECK(m.avail_idx() == 0);
  CHECK(drv.free_descriptors() == 8);
  CHECK(drv.in_flight() == 0);
  // One byte less is legal for the driver (the device then judges the address range).
  const std::vector<buffer> max{{a, 0xffffffffu}};
  CHECK(drv.add(max, {}).has_value());
  CHECK(m.avail_idx() == 1);
  CHECK(err(drv.add({}, {})) == errc::empty_chain);
  CHECK(m.avail_idx() == 1);
}

TEST_CASE("S6 driver: every chain the driver writes ends within the queue size (no loops)") {
  std::mt19937 rng{66};
  for (const bool in_order : {false, true}) {
    mock m{opts(16, features(true, false, in_order), 16)};
    auto& drv = m.driver();
    device d{m.memory()};
    configure(d, m);
    for (int round = 0; round < 400; ++round) {
      const std::size_t n = 1 + rng() % 5;
      std::vector<buffer> wr;
      for (std::size_t k = 0; k < n; ++k) wr.push_back({m.alloc(4), 4});
      auto head = drv.add({}, wr, 0, rng() % 3 == 0 ? add_mode::indirect : add_mode::automatic);
      if (!head) {
        CHECK(err(head) == errc::ring_full);
      } else {
        // Walk what the driver wrote, with a hop budget of the queue size.
        desc_view dv = read_desc(m, *head);
        std::size_t hops = 1;
        if (dv.flags & desc_flag::indirect) {
          CHECK(dv.len == 16 * n);
          gpa t{dv.addr};
          std::size_t i = 0;
          dv = read_desc_at(m, t);
          while (dv.flags & desc_flag::next) {
            REQUIRE(++hops <= n);
            i = dv.next;
            dv = read_desc_at(m, t.offset(16 * i));
          }
        } else {
          while (dv.flags & desc_flag::next) {
            REQUIRE(++hops <= 16);
            dv = read_desc(m, dv.next);
          }
        }
        CHECK(hops == n);
      }
      // Let the device drain now and then; complete in order so IN_ORDER holds.
      if (round % 3 == 0 || !head) {
        for (;;) {
          auto c = d.pop();
          REQUIRE(c.has_value());
          if (c->empty()) break;
          REQUIRE(d.push_used(*c, 0).has_value());
        }
        for (;;) {
          auto u = drv.reclaim();
          REQUIRE(u.has_value());
          if (!*u) break;
        }
        m.reset_arena();
      }
    }
  }
}

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

// ---- S8..S12: indirect descriptors (driver) ---------------------------------------------------

TEST_CASE("S8 driver: INDIRECT is used only when VIRTIO_F_INDIRECT_DESC was negotiated") {
  mock m{opts(4)};  // no INDIRECT_DESC, no pool
  auto& drv = m.driver();
  // A pool without the feature is refused at configure time.
  CHECK(err(drv.configure(m.config(), vireo::ring::indirect_pool{m.config().desc_table, 4})) ==
        errc::feature_not_negotiated);
  REQUIRE(drv.configure(m.config()).has_value());
  const std::vector<buffer> wr{{m.alloc(4), 4}, {m.alloc(4), 4}, {m.alloc(4), 4}};
  CHECK(err(drv.add({}, wr, 0, add_mode::indirect)) == errc::invalid_argument);
  // Automatic mode without a pool never falls back to INDIRECT: it reports ring_full.
  REQUIRE(drv.add({}, wr).has_value());
  CHECK(err(drv.add({}, wr)) == errc::ring_full);
  CHECK(m.avail_idx() == 1);
  for (std::uint16_t i = 0; i < 4; ++i) CHECK((read_desc(m, i).flags & desc_flag::indirect) == 0);
}

TEST_CASE("S9 S11 driver: an indirect table holds no INDIRECT, and the INDIRECT descriptor has no NEXT") {
  for (const bool in_order : {false, true}) {
    mock m{opts(8, features(true, false, in_order), 6)};
    for (std::size_t n = 1; n <= 6; ++n) {
      std::vector<buffer> rd, wr;
      for (std::size_t k = 0; k < n; ++k) (k % 2 ? wr : rd).push_back({m.alloc(8), 8});
      auto head = m.driver().add(rd, wr, 0, add_mode::indirect);
      REQUIRE(head.has_value());
      const desc_view top = read_desc(m, *head);
      CHECK(top.flags == desc_flag::indirect);  // no NEXT, no WRITE
      CHECK(top.len == 16 * n);
      for (std::size_t i = 0; i < n; ++i)
        CHECK((read_desc_at(m, gpa{top.addr + 16 * i}).flags & desc_flag::indirect) == 0);
    }
  }
}

TEST_CASE("S10 driver: no chain longer than the queue size, direct or indirect") {
  // Queue of 4 with indirect tables of 16 entries: the table could hold more than the queue
  // size, but §2.7.5.3.1 forbids chains longer than the queue size.
  mock m{opts(4, features(true, false, false), 16)};
  auto& drv = m.driver();
  std::vector<buffer> five;
  for (int k = 0; k < 5; ++k) five.push_back({m.alloc(4), 4});
  CHECK(err(drv.add({}, five, 0, add_mode::direct)) == errc::invalid_argument);
  CHECK(err(drv.add({}, five, 0, add_mode::indirect)) == errc::invalid_argument);
  CHECK(err(drv.add({}, five, 0, add_mode::automatic)) == errc::invalid_argument);
  CHECK(m.avail_idx() == 0);
  CHECK(drv.free_descriptors() == 4);
  // Exactly the queue size is fine both ways.
  CHECK(drv.add({}, std::span{five}.first(4), 0, add_mode::indirect).has_value());
  CHECK(drv.add({}, std::span{five}.first(3), 0, add_mode::direct).has_value());
}

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

// ---- S13 / S14: indirect descriptors (device) -------------------------------------------------

TEST_CASE("S13 device: WRITE on the descriptor that points to an indirect table is ignored") {
  for (const std::uint16_t top_flags : {desc_flag::indirect,
                                        static_cast<std::uint16_t>(desc_flag::indirect | desc_flag::write)}) {
    CAPTURE(top_flags);
    mock m{opts(8, features(true, false, false))};
    device d{m.memory()};
    configure(d, m);
    const placed in = put_pattern(m, 10, 13);
    const gpa out = m.alloc(20);
    const gpa table = m.alloc(32, 16);
    m.write_desc_at(table, in.addr.raw(), 10, desc_flag::next, 1);
    m.write_desc_at(table.offset(16), out.raw(), 20, desc_flag::write, 0);
    m.write_desc(5, table.raw(), 32, top_flags, 0);
    m.publish_raw(5);
    auto c = pop_ok(d);
    CHECK(c.id() == 5);
    CHECK(c.readable_len() == 10);
    CHECK(c.writable_len() == 20);
    CHECK(read_all(c) == in.data);
    REQUIRE(c.writable().size() == 1);
    CHECK(c.writable()[0].addr == out);
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

// ---- S17 / S20: notification decisions --------------------------------------------------------

namespace {

/// Add one chain, let the device pop it and push it with len 0; the driver reclaims it.
void cycle_one(mock& m, device& d) {
  REQUIRE(m.add({}, {4}).has_value());
  auto c = pop_ok(d);
  REQUIRE(d.push_used(c, 0).has_value());
  auto u = m.driver().reclaim();
  REQUIRE(u.has_value());
  REQUIRE(u->has_value());
}

}  // namespace

TEST_CASE("S17 device: no EVENT_IDX, notify iff avail.flags == 0 (used_event ignored)") {
  mock m{opts(8)};
  device d{m.memory()};
  configure(d, m);
  for (int round = 0; round < 20; ++round) {
    const std::uint16_t flags = static_cast<std::uint16_t>(round % 2);
    m.set_avail_flags(flags);
    // used_event would say "not yet" (or "now"): without EVENT_IDX it must not matter.
    m.set_used_event(static_cast<std::uint16_t>(round * 7919));
    cycle_one(m, d);
    CHECK(d.needs_notification() == (flags == 0));
    CHECK(!d.needs_notification());  // nothing pushed since
  }
}

TEST_CASE("S17 device: EVENT_IDX, notify iff an entry was placed at used_event (avail.flags ignored)") {
  mock m{opts(8, features(false, true, false))};
  device d{m.memory()};
  configure(d, m);
  auto push_n = [&](int n) {
    std::vector<chain> cs;
    for (int k = 0; k < n; ++k) REQUIRE(m.add({}, {4}).has_value());
    for (int k = 0; k < n; ++k) cs.push_back(pop_ok(d));
    std::vector<used_entry> batch;
    for (auto& c : cs) batch.push_back({c.token(), 0});
    REQUIRE(d.push_used(batch).has_value());
    for (int k = 0; k < n; ++k) {
      auto u = m.driver().reclaim();
      REQUIRE(u.has_value());
      REQUIRE(u->has_value());
    }
    m.reset_arena();
  };
  // The first decision after configure always notifies (vhost does the same): the device has no
  // earlier decision to measure the window from.
  m.set_used_event(100);
  push_n(1);
  CHECK(d.needs_notification());
  std::uint16_t idx = 1;  // used.idx now
  struct step {
    int n;           // entries pushed as one batch
    int event_rel;   // used_event relative to used.idx before the batch
    std::uint16_t avail_flags;
    bool want;
  };
  const step steps[] = {
      {1, 0, 0, true},  {1, 1, 0, false}, {1, 0, 0, true},   // the entry at used_event, or not
      {1, 0, 1, true},                                      // NO_INTERRUPT ignored with EVENT_IDX
      {1, -1, 0, false},                                    // event already passed
      {3, 2, 0, true},  {3, 0, 0, true},  {3, 3, 0, false},  // batches: window [old, new)
      {3, -1, 1, false}, {4, 3, 1, true}, {2, 5, 0, false},
  };
  for (const step& s : steps) {
    CAPTURE(s.n);
    CAPTURE(s.event_rel);
    m.set_avail_flags(s.avail_flags);
    m.set_used_event(static_cast<std::uint16_t>(idx + s.event_rel));
    push_n(s.n);
    idx = static_cast<std::uint16_t>(idx + s.n);
    CHECK(d.needs_notification() == s.want);
  }
  // Two pushes before one decision: the window covers both.
  m.set_used_event(idx);
  push_n(1);
  push_n(1);
  CHECK(d.needs_notification());
}

TEST_CASE("S20 driver: used.flags is zeroed at configure; no EVENT_IDX, kick iff used.flags == 0") {
  mock m{opts(8)};
  auto& drv = m.driver();
  // Garbage in the used ring before set-up: the driver must initialise it (§2.7.10.1).
  const auto used = m.host(m.config().device_area, layout::used_bytes(8));
  std::memset(used.data(), 0xa5, used.size());
  REQUIRE(drv.configure(m.config()).has_value());
  CHECK(m.used_flags() == 0);
  CHECK(m.used_idx() == 0);
  device d{m.memory()};
  configure(d, m);
  for (int round = 0; round < 20; ++round) {
    const std::uint16_t flags = static_cast<std::uint16_t>(round % 2);
    m.set_used_flags(flags);
    m.set_avail_event(static_cast<std::uint16_t>(round * 31));  // ignored without EVENT_IDX
    REQUIRE(m.add({}, {4}).has_value());
    CHECK(drv.needs_kick() == (flags == 0));
    CHECK(!drv.needs_kick());  // nothing added since
    auto c = pop_ok(d);
    REQUIRE(d.push_used(c, 0).has_value());
    REQUIRE(drv.reclaim().has_value());
    m.reset_arena();
  }
}

TEST_CASE("S20 driver: EVENT_IDX, kick iff a head was placed at avail_event (used.flags ignored)") {
  mock m{opts(8, features(false, true, false))};
  auto& drv = m.driver();
  std::uint16_t idx = 0;  // avail.idx
  auto add_n = [&](int n) {
    for (int k = 0; k < n; ++k) REQUIRE(m.add({}, {4}).has_value());
    idx = static_cast<std::uint16_t>(idx + n);
  };
  struct step {
    int n;
    int event_rel;  // avail_event relative to avail.idx before the batch
    std::uint16_t used_flags;
    bool want;
  };
  const step steps[] = {
      {1, 0, 0, true},  {1, 1, 0, false}, {1, 0, 1, true},  // NO_NOTIFY ignored with EVENT_IDX
      {3, 2, 0, true},  {3, 3, 0, false}, {2, -1, 1, false}, {4, 3, 0, true},
  };
  device d{m.memory()};
  configure(d, m);
  for (const step& s : steps) {
    CAPTURE(s.n);
    CAPTURE(s.event_rel);
    m.set_used_flags(s.used_flags);
    m.set_avail_event(static_cast<std::uint16_t>(idx + s.event_rel));
    add_n(s.n);
    CHECK(drv.needs_kick() == s.want);
    // Drain (pop without touching avail_event: notifications disabled on the device).
    d.disable_notifications();
    for (int k = 0; k < s.n; ++k) {
      auto c = pop_ok(d);
      REQUIRE(d.push_used(c, 0).has_value());
    }
    for (int k = 0; k < s.n; ++k) REQUIRE(drv.reclaim().has_value());
    m.reset_arena();
  }
}

// ---- S18 / S19: used elements -----------------------------------------------------------------

TEST_CASE("S18 device: the used element (id, len) is in place when used.idx moves over it") {
  mock m{opts(4, features(false, false, false))};
  device d{m.memory()};
  configure(d, m);
  std::mt19937 rng{18};
  std::uint16_t idx = 0;
  for (int round = 0; round < 50; ++round) {
    const int n = 1 + static_cast<int>(rng() % 4);
    std::vector<chain> cs;
    for (int k = 0; k < n; ++k) REQUIRE(m.add({}, {32}).has_value());
    for (int k = 0; k < n; ++k) cs.push_back(pop_ok(d));
    std::vector<used_entry> batch;
    for (auto& c : cs) {
      const std::uint32_t len = rng() % 33;
      (void)write_all(c, pattern(len, 1));
      batch.push_back({c.token(), len});
    }
    // Over-reporting is refused and publishes nothing (§2.7.8.2: never more than written).
    used_entry too_big = batch.front();
    too_big.len = 33;
    CHECK(err(d.push_used(too_big.token, too_big.len)) == errc::used_len_too_large);
    CHECK(m.used_idx() == idx);
    if (n == 1 || rng() % 2) {
      for (const auto& e : batch) {
        REQUIRE(d.push_used(e.token, e.len).has_value());
        idx = static_cast<std::uint16_t>(idx + 1);
        REQUIRE(m.used_idx() == idx);
        const auto [id, len] = m.used_elem(static_cast<std::uint16_t>(idx - 1));
        CHECK(id == e.token.id);
        CHECK(len == e.len);
      }
    } else {
      REQUIRE(d.push_used(batch).has_value());
      REQUIRE(m.used_idx() == static_cast<std::uint16_t>(idx + n));
      for (const auto& e : batch) {
        const auto [id, len] = m.used_elem(idx);
        CHECK(id == e.token.id);
        CHECK(len == e.len);
        idx = static_cast<std::uint16_t>(idx + 1);
      }
    }
    for (int k = 0; k < n; ++k) REQUIRE(m.driver().reclaim().has_value());
    m.reset_arena();
  }
}

TEST_CASE("S19 driver: reclaim reports exactly the device's len, and refuses a len above the writable bytes") {
  mock m{opts(8)};
  device d{m.memory()};
  configure(d, m);
  for (std::uint32_t len : {0u, 1u, 5u, 31u, 32u}) {
    REQUIRE(m.add({}, {16, 16}).has_value());
    auto c = pop_ok(d);
    (void)write_all(c, pattern(len, len));
    REQUIRE(d.push_used(c, len).has_value());
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
    CHECK((*u)->len == len);
  }
  // A device claiming 33 bytes of a 32-byte buffer is refused (and breaks the queue).
  auto head = m.add({}, {16, 16});
  REQUIRE(head.has_value());
  m.write_used_elem(m.used_idx(), *head, 33);
  m.set_used_idx(static_cast<std::uint16_t>(m.used_idx() + 1));
  CHECK(err(m.driver().reclaim()) == errc::used_len_too_large);
}

// ---- S22 / S23: barrier placement, the observable part ----------------------------------------

TEST_CASE("S22 S23 driver: add() publishes avail.idx itself, and needs_kick() reads the suppression field afterwards") {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    mock m{opts(8, features(false, event_idx, false))};
    auto& drv = m.driver();
    for (std::uint16_t k = 0; k < 6; ++k) {
      auto head = m.add({}, {4});
      REQUIRE(head.has_value());
      // Published by add() before any kick decision: idx, the ring entry and the descriptor.
      CHECK(m.avail_idx() == k + 1);
      CHECK(avail_ring_entry(m, k) == *head);
      CHECK(read_desc(m, *head).len == 4);
      // Change the device's field only now; the decision must follow the new value, so it is
      // read after the publish, not cached from earlier.
      const bool want = k % 2 == 0;
      if (event_idx) m.set_avail_event(want ? k : static_cast<std::uint16_t>(k + 1));
      else m.set_used_flags(want ? 0 : 1);
      CHECK(drv.needs_kick() == want);
    }
  }
}

TEST_CASE("S17 device: push publishes used.idx itself, and needs_notification() reads the driver's field afterwards") {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    mock m{opts(8, features(false, event_idx, false))};
    device d{m.memory()};
    configure(d, m);
    if (event_idx) {  // consume the unconditional first notification
      cycle_one(m, d);
      CHECK(d.needs_notification());
    }
    for (std::uint16_t k = 0; k < 6; ++k) {
      REQUIRE(m.add({}, {4}).has_value());
      auto c = pop_ok(d);
      const std::uint16_t before = m.used_idx();
      REQUIRE(d.push_used(c, 0).has_value());
      CHECK(m.used_idx() == static_cast<std::uint16_t>(before + 1));
      const bool want = k % 2 == 0;
      if (event_idx) m.set_used_event(want ? before : static_cast<std::uint16_t>(before + 1));
      else m.set_avail_flags(want ? 0 : 1);
      CHECK(d.needs_notification() == want);
      REQUIRE(m.driver().reclaim().has_value());
    }
  }
}

// ---- G items that reach the ring layer ---------------------------------------------------------

TEST_CASE("G2 device: an unconfigured queue consumes nothing and never notifies") {
  mock m{opts(8)};
  REQUIRE(m.add({put_pattern(m, 8, 1).data}, {8}).has_value());
  const auto before = snapshot(m);
  device d{m.memory()};
  CHECK(!d.ready());
  CHECK(err(d.pop()) == errc::queue_not_ready);
  CHECK(err(d.available()) == errc::queue_not_ready);
  CHECK(err(d.enable_notifications()) == errc::queue_not_ready);
  d.disable_notifications();
  CHECK(err(d.push_used(vireo::chain::used_token{0, 1, 0, 8}, 0)) == errc::queue_not_ready);
  const used_entry e{vireo::chain::used_token{0, 1, 0, 8}, 0};
  CHECK(err(d.push_used(std::span{&e, 1})) == errc::queue_not_ready);
  CHECK(err(d.push_used(std::span<const used_entry>{})) == errc::queue_not_ready);
  CHECK(!d.needs_notification());
  CHECK(snapshot(m) == before);
}

TEST_CASE("G6 G13 device: after reset() the queue touches no guest memory and never notifies") {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    mock m{opts(8, features(false, event_idx, false))};
    device d{m.memory()};
    configure(d, m);
    for (int k = 0; k < 3; ++k) REQUIRE(m.add({}, {8}).has_value());
    auto c0 = pop_ok(d);
    auto c1 = pop_ok(d);
    REQUIRE(d.push_used(c0, 0).has_value());  // pushed, no decision yet
    d.reset();
    CHECK(!d.ready());
    CHECK(!d.broken());
    const auto before = snapshot(m);
    CHECK(err(d.pop()) == errc::queue_not_ready);
    CHECK(err(d.push_used(c1, 0)) == errc::queue_not_ready);
    CHECK(!d.needs_notification());
    CHECK(err(d.enable_notifications()) == errc::queue_not_ready);
    d.disable_notifications();
    CHECK(err(d.available()) == errc::queue_not_ready);
    CHECK(snapshot(m) == before);
  }
}

TEST_CASE("G13 device: after reset() pop/push return queue_not_ready and configure() restarts from index 0") {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    mock m{opts(8, features(false, event_idx, false))};
    device d{m.memory()};
    configure(d, m);
    for (int k = 0; k < 5; ++k) REQUIRE(m.add({}, {8}).has_value());
    for (int k = 0; k < 5; ++k) {
      auto c = pop_ok(d);
      if (k < 3) REQUIRE(d.push_used(c, 1).has_value());
    }
    CHECK(d.state().next_avail == 5);
    CHECK(d.state().used_idx == 3);
    d.reset();
    CHECK(err(d.pop()) == errc::queue_not_ready);
    CHECK(err(d.push_used(vireo::chain::used_token{4, 1, 4, 8}, 0)) == errc::queue_not_ready);

    // Reconfigure without touching the rings: the device starts again at avail index 0 and sees
    // the 5 published entries as new (its indices are back to their defaults).
    configure(d, m);
    CHECK(d.state().next_avail == 0);
    CHECK(d.state().used_idx == 0);
    CHECK(*d.available() == 5);

    // The normal path: the driver re-initialises the rings too (queue re-enable, §2.6.1).
    REQUIRE(m.driver().configure(m.config(), m.pool()).has_value());
    configure(d, m);
    CHECK(*d.available() == 0);
    m.reset_arena();
    auto head = m.add({}, {8});
    REQUIRE(head.has_value());
    auto c = pop_ok(d);
    CHECK(c.token().seq == 0);
    CHECK(c.id() == *head);
    REQUIRE(d.push_used(c, 3).has_value());
    CHECK(m.used_idx() == 1);
    CHECK(m.used_elem(0) == std::pair<std::uint32_t, std::uint32_t>{*head, 3});
    CHECK(d.needs_notification());  // notification state is back to its default too
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
    CHECK((*u)->len == 3);
  }
}

TEST_CASE("G9 driver: an unconfigured driver publishes nothing and never kicks") {
  mock m{opts(8)};
  const auto before = snapshot(m);
  vireo::ring::split_driver<flat_memory, 8> drv{m.memory()};
  const buffer b{m.config().desc_table, 4};
  CHECK(err(drv.add({}, std::span{&b, 1})) == errc::queue_not_ready);
  CHECK(!drv.needs_kick());
  CHECK(err(drv.reclaim()) == errc::queue_not_ready);
  CHECK(!drv.enable_interrupts());
  drv.disable_interrupts();
  CHECK(snapshot(m) == before);
}

TEST_CASE("G10 driver: descriptors of an in-flight chain stay unchanged while other chains cycle") {
  for (const bool in_order : {false, true}) {
    CAPTURE(in_order);
    mock m{opts(8, features(true, false, in_order), 4)};
    auto& drv = m.driver();
    device d{m.memory()};
    configure(d, m);
    // Chain A (direct, 3 descriptors) and chain B (indirect) stay in flight throughout.
    auto a = m.add({pattern(8, 1)}, {8, 8}, add_mode::direct, 1);
    auto b = m.add({pattern(8, 2)}, {8}, add_mode::indirect, 2);
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    auto snap_chain = [&](std::uint16_t head) {
      std::vector<desc_view> v;
      desc_view dv = read_desc(m, head);
      v.push_back(dv);
      if (dv.flags & desc_flag::indirect) {
        for (std::uint32_t i = 0; i < dv.len / 16; ++i) v.push_back(read_desc_at(m, gpa{dv.addr + 16u * i}));
      } else {
        while (dv.flags & desc_flag::next) v.push_back(dv = read_desc(m, dv.next));
      }
      return v;
    };
    auto same = [](const std::vector<desc_view>& x, const std::vector<desc_view>& y) {
      return x.size() == y.size() &&
             std::equal(x.begin(), x.end(), y.begin(), [](const desc_view& p, const desc_view& q) {
               return p.addr == q.addr && p.len == q.len && p.flags == q.flags && p.next == q.next;
             });
    };
    const auto snap_a = snap_chain(*a), snap_b = snap_chain(*b);
    auto ca = pop_ok(d);
    auto cb = pop_ok(d);
    std::mt19937 rng{10};
    std::vector<chain> later;
    for (int round = 0; round < 200; ++round) {
      const std::size_t n = 1 + rng() % 3;
      std::vector<buffer> wr(n, buffer{m.alloc(4), 4});
      auto h = drv.add({}, wr, 0, rng() % 2 ? add_mode::indirect : add_mode::automatic);
      if (h) later.push_back(pop_ok(d));
      if (!in_order && !later.empty() && (rng() % 2 || !h)) {
        const std::size_t k = rng() % later.size();
        REQUIRE(d.push_used(later[k], 0).has_value());
        later.erase(later.begin() + static_cast<std::ptrdiff_t>(k));
        REQUIRE(drv.reclaim().has_value());
      }
      if (in_order && !h) break;  // IN_ORDER: nothing after A and B can complete before them
      CHECK(same(snap_chain(*a), snap_a));
      CHECK(same(snap_chain(*b), snap_b));
    }
    REQUIRE(d.push_used(ca, 0).has_value());
    REQUIRE(d.push_used(cb, 0).has_value());
    auto ua = drv.reclaim();
    REQUIRE(ua.has_value());
    REQUIRE(ua->has_value());
  }
}

TEST_CASE("G12 device: under IN_ORDER buffers are used strictly in availability order") {
  mock m{opts(8, features(false, false, true))};
  device d{m.memory()};
  configure(d, m);
  for (int k = 0; k < 4; ++k) REQUIRE(m.add({}, {8}).has_value());
  std::vector<chain> cs;
  for (int k = 0; k < 4; ++k) cs.push_back(pop_ok(d));
  const auto before = snapshot(m);
  CHECK(err(d.push_used(cs[1], 0)) == errc::in_order_violation);
  const used_entry wrong[] = {{cs[1].token(), 8}, {cs[0].token(), 8}};
  CHECK(err(d.push_used(wrong)) == errc::in_order_violation);
  const used_entry gap[] = {{cs[0].token(), 8}, {cs[2].token(), 8}};
  CHECK(err(d.push_used(gap)) == errc::in_order_violation);
  CHECK(snapshot(m) == before);  // a refused completion writes nothing
  REQUIRE(d.push_used(cs[0], 8).has_value());
  const used_entry rest[] = {{cs[1].token(), 8}, {cs[2].token(), 8}};
  REQUIRE(d.push_used(rest).has_value());
  CHECK(err(d.push_used(cs[0], 8)) == errc::in_order_violation);  // completing twice
  REQUIRE(d.push_used(cs[3], 8).has_value());
  CHECK(m.used_idx() == 4);
}

TEST_CASE("G14 driver: re-enabling a queue is the initial set-up again") {
  mock m{opts(8, features(true, true, false), 4)};
  auto& drv = m.driver();
  device d{m.memory()};
  configure(d, m);
  for (int k = 0; k < 5; ++k) REQUIRE(m.add({}, {8}, k % 2 ? add_mode::indirect : add_mode::direct).has_value());
  auto c = pop_ok(d);
  REQUIRE(d.push_used(c, 0).has_value());
  (void)drv.needs_kick();
  // Queue reset + re-enable: the driver re-initialises everything, the device reconfigures.
  REQUIRE(drv.configure(m.config(), m.pool()).has_value());
  d.reset();
  configure(d, m);
  CHECK(drv.free_descriptors() == 8);
  CHECK(drv.in_flight() == 0);
  CHECK(drv.avail_index() == 0);
  CHECK(m.avail_idx() == 0);
  CHECK(m.used_idx() == 0);
  CHECK(avail_flags(m) == 0);
  CHECK(m.used_flags() == 0);
  m.reset_arena();
  auto head = m.add({}, {8});
  REQUIRE(head.has_value());
  CHECK(*head == 0);
  CHECK(drv.needs_kick());
  auto c2 = pop_ok(d);
  REQUIRE(d.push_used(c2, 8).has_value());
  auto u = drv.reclaim();
  REQUIRE(u.has_value());
  REQUIRE(u->has_value());
  CHECK((*u)->id == *head);
}

TEST_CASE("G16 driver: avail_index() is the published avail.idx (the NOTIFICATION_DATA payload)") {
  mock m{opts(4, features(false, false, false))};
  device d{m.memory()};
  configure(d, m);
  for (int k = 0; k < 70000; ++k) {
    REQUIRE(m.add({}, {0}).has_value());
    CHECK(m.driver().avail_index() == m.avail_idx());
    auto c = pop_ok(d);
    REQUIRE(d.push_used(c, 0).has_value());
    REQUIRE(m.driver().reclaim().has_value());
    if (k % 1024 == 0) m.reset_arena();
  }
  CHECK(m.driver().avail_index() == static_cast<std::uint16_t>(70000));
}

TEST_CASE("G17 device: spurious kicks and repeated enable_notifications are harmless") {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    mock m{opts(8, features(false, event_idx, false))};
    device d{m.memory()};
    configure(d, m);
    CHECK(!d.needs_notification());  // nothing pushed yet
    for (int k = 0; k < 3; ++k) {
      auto e = d.enable_notifications();
      REQUIRE(e.has_value());
      CHECK(!*e);
      auto c = d.pop();  // a spurious kick: nothing there
      REQUIRE(c.has_value());
      CHECK(c->empty());
      CHECK(err(d.pop()) == errc{});
    }
    CHECK(m.used_flags() == 0);
    CHECK(m.avail_event() == 0);
    CHECK(m.used_idx() == 0);
    cycle_one(m, d);
    (void)d.needs_notification();
    CHECK(!d.needs_notification());  // asked again with nothing new: no second notification
    CHECK(!*d.enable_notifications());
    REQUIRE(m.add({}, {4}).has_value());
    CHECK(*d.enable_notifications());  // something is there: keep polling
    CHECK(*d.enable_notifications());
    auto c = pop_ok(d);
    REQUIRE(d.push_used(c, 0).has_value());
  }
}

TEST_CASE("G17 driver: spurious interrupts and repeated enable_interrupts are harmless") {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    mock m{opts(8, features(false, event_idx, false))};
    auto& drv = m.driver();
    device d{m.memory()};
    configure(d, m);
    for (int k = 0; k < 3; ++k) {
      auto u = drv.reclaim();  // a spurious interrupt: nothing used
      REQUIRE(u.has_value());
      CHECK(!u->has_value());
      CHECK(!drv.enable_interrupts());
    }
    CHECK(!drv.needs_kick());  // nothing added
    REQUIRE(m.add({}, {4}).has_value());
    (void)drv.needs_kick();
    CHECK(!drv.needs_kick());
    auto c = pop_ok(d);
    REQUIRE(d.push_used(c, 0).has_value());
    CHECK(drv.enable_interrupts());
    CHECK(drv.enable_interrupts());
    auto u = drv.reclaim();
    REQUIRE(u.has_value());
    CHECK(u->has_value());
    auto none = drv.reclaim();
    REQUIRE(none.has_value());
    CHECK(!none->has_value());
    CHECK(!drv.enable_interrupts());
    CHECK(drv.in_flight() == 0);
    CHECK(drv.free_descriptors() == 8);
  }
}

// ---- IN_ORDER batching (§2.7.9; digest §5.8) --------------------------------------------------

TEST_CASE("IN_ORDER device: push_used(span) collapses a full-length batch into one element naming the last buffer") {
  mock m{opts(8, features(false, false, true))};
  device d{m.memory()};
  configure(d, m);
  std::uint16_t heads[3];
  for (std::uint64_t k = 0; k < 3; ++k) {
    auto h = m.add({pattern(4, 1)}, {16}, add_mode::direct, 100 + k);
    REQUIRE(h.has_value());
    heads[k] = *h;
  }
  std::vector<chain> cs;
  for (int k = 0; k < 3; ++k) cs.push_back(pop_ok(d));
  // Stale markers in the slots the batch skips: they must stay untouched.
  m.write_used_elem(1, 0xdead, 0xbeef);
  m.write_used_elem(2, 0xdead, 0xbeef);
  (void)write_all(cs[0], pattern(16, 0));
  (void)write_all(cs[1], pattern(16, 1));
  (void)write_all(cs[2], pattern(5, 2));
  const used_entry batch[] = {{cs[0].token(), 16}, {cs[1].token(), 16}, {cs[2].token(), 5}};
  REQUIRE(d.push_used(batch).has_value());
  CHECK(m.used_idx() == 3);
  CHECK(m.used_elem(0) == std::pair<std::uint32_t, std::uint32_t>{heads[2], 5});
  CHECK(m.used_elem(1) == std::pair<std::uint32_t, std::uint32_t>{0xdead, 0xbeef});
  CHECK(m.used_elem(2) == std::pair<std::uint32_t, std::uint32_t>{0xdead, 0xbeef});

  // The driver gives back every buffer, in order, the skipped ones with their full length.
  const std::uint32_t want_len[] = {16, 16, 5};
  for (int k = 0; k < 3; ++k) {
    auto u = m.driver().reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
    CHECK((*u)->id == heads[k]);
    CHECK((*u)->len == want_len[k]);
    CHECK((*u)->user_data == 100u + static_cast<std::uint64_t>(k));
  }
  auto none = m.driver().reclaim();
  REQUIRE(none.has_value());
  CHECK(!none->has_value());
  CHECK(m.driver().in_flight() == 0);
  CHECK(m.driver().free_descriptors() == 8);
}

TEST_CASE("IN_ORDER device: a batch with a short earlier length is written element by element") {
  for (const bool in_order : {true, false}) {
    CAPTURE(in_order);
    mock m{opts(8, features(false, false, in_order))};
    device d{m.memory()};
    configure(d, m);
    for (int k = 0; k < 3; ++k) REQUIRE(m.add({}, {16}).has_value());
    std::vector<chain> cs;
    for (int k = 0; k < 3; ++k) cs.push_back(pop_ok(d));
    // In order: an earlier short length forbids collapsing. Not in order: never collapsed,
    // even with full lengths.
    const std::uint32_t l1 = in_order ? 7 : 16;
    const used_entry batch[] = {{cs[0].token(), 16}, {cs[1].token(), l1}, {cs[2].token(), 5}};
    REQUIRE(d.push_used(batch).has_value());
    CHECK(m.used_idx() == 3);
    for (std::uint16_t k = 0; k < 3; ++k) {
      CHECK(m.used_elem(k).first == cs[k].id());
      CHECK(m.used_elem(k).second == batch[k].len);
    }
    for (int k = 0; k < 3; ++k) {
      auto u = m.driver().reclaim();
      REQUIRE(u.has_value());
      REQUIRE(u->has_value());
      CHECK((*u)->len == batch[k].len);
    }
  }
}

TEST_CASE("IN_ORDER driver: indirect chains and collapsed batches across the ring wrap") {
  mock m{opts(4, features(true, true, true), 4)};
  auto& drv = m.driver();
  device d{m.memory()};
  configure(d, m);
  std::mt19937 rng{99};
  std::uint64_t next_user = 0, next_expect = 0;
  for (int round = 0; round < 300; ++round) {
    std::vector<chain> cs;
    const std::size_t want = 1 + rng() % 4;
    while (cs.size() < want) {
      auto h = m.add({}, {8, 8}, rng() % 2 ? add_mode::indirect : add_mode::automatic, next_user);
      if (!h) {
        CHECK(err(h) == errc::ring_full);
        break;
      }
      ++next_user;
      cs.push_back(pop_ok(d));
    }
    REQUIRE(!cs.empty());
    std::vector<used_entry> batch;
    for (std::size_t k = 0; k < cs.size(); ++k)
      batch.push_back({cs[k].token(), k + 1 < cs.size() ? 16u : static_cast<std::uint32_t>(rng() % 17)});
    REQUIRE(d.push_used(batch).has_value());
    for (std::size_t k = 0; k < cs.size(); ++k) {
      auto u = drv.reclaim();
      REQUIRE(u.has_value());
      REQUIRE(u->has_value());
      CHECK((*u)->user_data == next_expect++);
      CHECK((*u)->len == batch[k].len);
    }
    auto none = drv.reclaim();
    REQUIRE(none.has_value());
    CHECK(!none->has_value());
    m.reset_arena();
  }
  CHECK(next_expect == next_user);
}
