// SPDX-License-Identifier: Apache-2.0
// The conformance cases both layouts share: every G* item of /work/shared/spec/virtqueues.md §7.1
// that a ring library can honour, and every S* item of §7.2 with a packed counterpart (its P*
// item is named in the case name). Each case is a TEST_CASE_TEMPLATE run once over the split
// ring and once over the packed ring through harness.hpp. Split-only items stay in
// tests/ring/split_conformance_test.cpp, packed-only ones are in packed_conformance_test.cpp; the
// map is docs/conformance-split.md and docs/conformance-packed.md.
#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "harness.hpp"

using namespace vireo_conformance;

#define VIREO_LAYOUTS split_harness, packed_harness

namespace {

/// Mark [g, g + len) as allowed in a byte map of the harness's memory.
template <typename H>
void allow(std::vector<bool>& map, H& q, gpa g, std::size_t len) {
  const std::size_t o = q.offset_of(g);
  for (std::size_t i = 0; i < len; ++i) map[o + i] = true;
}

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

// ---- S3: framing ---------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("S3 device: the payload reads the same however it is split across descriptors", H,
                   VIREO_LAYOUTS) {
  const auto payload = pattern(200, 3);
  std::mt19937 rng{1234};
  for (int round = 0; round < 40; ++round) {
    const bool use_indirect = round % 2 == 1;
    H q{{64, features(true, false, false), 64}};
    // Random cut points, including zero-length pieces and 1-byte pieces.
    std::vector<std::size_t> cuts{0, payload.size()};
    const int pieces = static_cast<int>(rng() % 30);
    for (int i = 0; i < pieces; ++i) cuts.push_back(rng() % (payload.size() + 1));
    std::sort(cuts.begin(), cuts.end());
    std::vector<buffer> rd;
    for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
      const std::size_t n = cuts[i + 1] - cuts[i];
      rd.push_back({q.m().put(const_bytes{payload.data() + cuts[i], n}), static_cast<std::uint32_t>(n)});
    }
    // The writable side is split too: 40 bytes as 3 + 0 + 5 + 32.
    std::vector<buffer> wr;
    for (std::uint32_t n : {3u, 0u, 5u, 32u}) wr.push_back({q.m().alloc(n), n});
    auto head = q.add_bufs(rd, wr, 0, use_indirect ? add_mode::indirect : add_mode::direct);
    REQUIRE(head.has_value());

    auto c = q.pop_ok();
    CHECK(c.readable_len() == payload.size());
    CHECK(read_all(c) == payload);
    // Typed reads straddle descriptor boundaries transparently.
    auto rdr = c.reader();
    for (std::size_t at = 0; at + 4 <= payload.size(); at += 4) {
      auto v = rdr.template read_obj<vireo::le32>();
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
      auto h = q.m().host(b.addr, b.len);
      CHECK(std::equal(h.begin(), h.end(), reply.begin() + static_cast<std::ptrdiff_t>(at)));
      at += b.len;
    }
  }
}

// ---- S4 / P11: readable before writable ------------------------------------------------------------

TEST_CASE_TEMPLATE("S4 (P11) driver: writable descriptors follow all readable ones, direct and indirect", H,
                   VIREO_LAYOUTS) {
  H q{{8, features(true, false, false), 8}};
  const std::vector<buffer> rd{{q.m().alloc(10), 10}, {q.m().alloc(20), 20}};
  const std::vector<buffer> wr{{q.m().alloc(30), 30}, {q.m().alloc(40), 40}};
  // Table entries are linked with NEXT on a split ring; on a packed ring they are consecutive
  // and carry no NEXT (§2.8.7).
  auto check_list = [&](const written_chain& w) {
    REQUIRE(w.descs.size() == 4);
    const bool linked = !w.indirect || H::is_split;
    for (std::size_t i = 0; i < 4; ++i) {
      const written_desc& dv = w.descs[i];
      const buffer& b = i < 2 ? rd[i] : wr[i - 2];
      CHECK(dv.addr == b.addr.raw());
      CHECK(dv.len == b.len);
      CHECK(((dv.flags & desc_flag::write) != 0) == (i >= 2));
      CHECK(((dv.flags & desc_flag::next) != 0) == (linked && i < 3));
      CHECK((dv.flags & desc_flag::indirect) == 0);
    }
  };
  auto direct = q.add_bufs(rd, wr, 0, add_mode::direct);
  REQUIRE(direct.has_value());
  const written_chain wd = q.read_written(*direct);
  CHECK(!wd.indirect);
  check_list(wd);

  auto ind = q.add_bufs(rd, wr, 0, add_mode::indirect);
  REQUIRE(ind.has_value());
  const written_chain wi = q.read_written(*ind);
  REQUIRE(wi.indirect);
  REQUIRE(wi.top.flags == desc_flag::indirect);
  check_list(wi);

  // (S) avoid excessive descriptor counts: with too few free descriptors, automatic mode packs
  // the chain into one indirect descriptor instead of failing.
  CHECK(q.drv().free_descriptors() == 3);
  auto packed = q.add_bufs(rd, wr, 0, add_mode::automatic);
  REQUIRE(packed.has_value());
  CHECK(q.read_written(*packed).top.flags == desc_flag::indirect);
  CHECK(q.drv().free_descriptors() == 2);
}

// ---- S5 / P4: what the device may write and read --------------------------------------------------

TEST_CASE_TEMPLATE("S5 (P4) device: a full device cycle writes only the device's ring areas and the reported writable bytes",
                   H, VIREO_LAYOUTS) {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    constexpr std::uint16_t qsize = 16;
    H q{{qsize, features(true, event_idx, false), 8}};
    struct req {
      std::vector<buffer> rd, wr;
      add_mode mode;
      std::uint32_t len = 0;  // what the device writes and reports
    };
    std::vector<req> reqs;
    std::uint32_t seed = 1;
    auto make = [&](std::initializer_list<std::uint32_t> r, std::initializer_list<std::uint32_t> w,
                    add_mode mode) {
      req x{{}, {}, mode, 0};
      for (auto n : r) x.rd.push_back({q.m().put(pattern(n, seed++)), n});
      for (auto n : w) {
        x.wr.push_back({q.m().alloc(n), n});
        std::memset(q.m().host(x.wr.back().addr, n).data(), 0xee, n);
      }
      reqs.push_back(x);
    };
    make({16, 24}, {32, 8}, add_mode::direct);
    make({7}, {5, 5, 50}, add_mode::indirect);
    make({}, {64}, add_mode::direct);
    make({100}, {}, add_mode::indirect);
    make({3, 0, 9}, {1, 0, 2}, add_mode::direct);
    for (auto& x : reqs) REQUIRE(q.add_bufs(x.rd, x.wr, 0, x.mode).has_value());

    const auto before = q.snapshot();
    auto& d = q.dev();
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
    const auto after = q.snapshot();

    // Allowed: the device's ring areas (split: the used ring; packed: the descriptor ring, where
    // used descriptors go, and the device event area) and the reported writable prefix.
    std::vector<bool> allowed(before.size(), false);
    for (const region& r : q.device_areas()) allow(allowed, q, r.addr, r.len);
    for (const auto& x : reqs) {
      std::uint32_t left = x.len;
      for (const auto& b : x.wr) {
        const std::uint32_t n = std::min(left, b.len);
        allow(allowed, q, b.addr, n);
        left -= n;
      }
    }
    std::size_t bad = 0;
    for (std::size_t k = 0; k < before.size(); ++k)
      if (before[k] != after[k] && !allowed[k]) ++bad;
    CHECK(bad == 0);
    // And the parts the spec names explicitly: the split descriptor table (S5), every indirect
    // table (outside the allowed areas, checked above) and every readable buffer are unchanged.
    if constexpr (H::is_split) {
      const region desc = q.desc_area();
      const std::size_t desc_off = q.offset_of(desc.addr);
      CHECK(std::equal(before.begin() + static_cast<std::ptrdiff_t>(desc_off),
                       before.begin() + static_cast<std::ptrdiff_t>(desc_off + desc.len),
                       after.begin() + static_cast<std::ptrdiff_t>(desc_off)));
    }
    for (const auto& x : reqs)
      for (const auto& b : x.rd) {
        const std::size_t o = q.offset_of(b.addr);
        CHECK(std::equal(before.begin() + static_cast<std::ptrdiff_t>(o),
                         before.begin() + static_cast<std::ptrdiff_t>(o + b.len),
                         after.begin() + static_cast<std::ptrdiff_t>(o)));
      }
  }
}

TEST_CASE_TEMPLATE("S5 (P4) device: never reads device-writable buffers, zero-copy or copy path", H,
                   VIREO_LAYOUTS) {
  for (const bool copy_path : {false, true}) {
    CAPTURE(copy_path);
    H q{{8, features(true, false, false), 8}};
    tracking_memory<flat_memory> tm{q.memory()};
    typename H::template device_t<tracking_memory<flat_memory>> d{tm};
    REQUIRE(d.configure(q.config()).has_value());
    tm.force_copy = copy_path;
    std::vector<buffer> writable;
    for (int k = 0; k < 4; ++k) {
      const std::vector<buffer> rd{{q.m().put(pattern(24, 7)), 24}};
      const std::vector<buffer> wr{{q.m().alloc(12), 12}, {q.m().alloc(20), 20}};
      writable.insert(writable.end(), wr.begin(), wr.end());
      REQUIRE(q.add_bufs(rd, wr, 0, k % 2 ? add_mode::indirect : add_mode::direct).has_value());
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

// ---- S6 / S10 / P10: chain length --------------------------------------------------------------

TEST_CASE_TEMPLATE("S6 (P10) driver: a chain totalling 2^32 bytes or more is refused and nothing is published",
                   H, VIREO_LAYOUTS) {
  H q{{8}};
  auto& drv = q.drv();
  const gpa a = q.m().alloc(16);
  const std::vector<buffer> big{{a, 0x80000000u}, {a, 0x80000000u}};
  const auto before = q.snapshot();
  CHECK(err(drv.add(big, {})) == errc::total_len_overflow);
  CHECK(err(drv.add({}, big)) == errc::total_len_overflow);
  CHECK(err(drv.add(std::span{big}.first(1), std::span{big}.first(1))) == errc::total_len_overflow);
  CHECK(q.snapshot() == before);
  CHECK(q.available() == 0);
  if constexpr (H::is_split) CHECK(q.m().avail_idx() == 0);
  CHECK(drv.free_descriptors() == 8);
  CHECK(drv.in_flight() == 0);
  // One byte less is legal for the driver (the device then judges the address range).
  const std::vector<buffer> max{{a, 0xffffffffu}};
  CHECK(drv.add(max, {}).has_value());
  CHECK(q.available() == 1);
  if constexpr (H::is_split) CHECK(q.m().avail_idx() == 1);
  CHECK(err(drv.add({}, {})) == errc::empty_chain);
  CHECK(q.available() == 1);
  if constexpr (H::is_split) CHECK(q.m().avail_idx() == 1);
}

TEST_CASE_TEMPLATE("S6 (P10) driver: every chain the driver writes ends within the queue size (no loops)", H,
                   VIREO_LAYOUTS) {
  std::mt19937 rng{66};
  for (const bool in_order : {false, true}) {
    CAPTURE(in_order);
    H q{{16, features(true, false, in_order), 16}};
    for (int round = 0; round < 400; ++round) {
      const std::size_t n = 1 + rng() % 5;
      std::vector<buffer> wr;
      for (std::size_t k = 0; k < n; ++k) wr.push_back({q.m().alloc(4), 4});
      auto head = q.add_bufs({}, wr, 0, rng() % 3 == 0 ? add_mode::indirect : add_mode::automatic);
      if (!head) {
        CHECK(err(head) == errc::ring_full);
      } else {
        // Walk what the driver wrote with a hop budget of the queue size (a table: its length).
        const written_chain w = q.read_written(*head);
        if (w.indirect) CHECK(w.top.len == 16 * n);
        CHECK(w.descs.size() == n);
        CHECK((w.descs.back().flags & desc_flag::next) == 0);
      }
      // Let the device drain now and then; complete in order so IN_ORDER holds.
      if (round % 3 == 0 || !head) {
        for (;;) {
          auto c = q.dev().pop();
          REQUIRE(c.has_value());
          if (c->empty()) break;
          REQUIRE(q.dev().push_used(*c, 0).has_value());
        }
        (void)q.drain();
        q.m().reset_arena();
      }
    }
  }
}

TEST_CASE_TEMPLATE("S10 (P10) driver: no chain longer than the queue size, direct or indirect", H, VIREO_LAYOUTS) {
  // Queue of 4 with indirect tables of 16 entries: a table could hold more than the queue size,
  // but §2.7.5.3.1 / §2.8.17 forbid chains longer than the queue size.
  H q{{4, features(true, false, false), 16}};
  auto& drv = q.drv();
  std::vector<buffer> five;
  for (int k = 0; k < 5; ++k) five.push_back({q.m().alloc(4), 4});
  CHECK(err(drv.add({}, five, 0, add_mode::direct)) == errc::invalid_argument);
  CHECK(err(drv.add({}, five, 0, add_mode::indirect)) == errc::invalid_argument);
  CHECK(err(drv.add({}, five, 0, add_mode::automatic)) == errc::invalid_argument);
  CHECK(q.available() == 0);
  if constexpr (H::is_split) CHECK(q.m().avail_idx() == 0);
  CHECK(drv.free_descriptors() == 4);
  // Exactly the queue size is fine both ways.
  CHECK(drv.add({}, std::span{five}.first(4), 0, add_mode::indirect).has_value());
  CHECK(drv.add({}, std::span{five}.first(3), 0, add_mode::direct).has_value());
}

// ---- S8 / S9 / S11 / S13 (P15 / P19): indirect descriptors -----------------------------------

TEST_CASE_TEMPLATE("S8 (P15) driver: INDIRECT is used only when VIRTIO_F_INDIRECT_DESC was negotiated", H,
                   VIREO_LAYOUTS) {
  H q{{4}};  // no INDIRECT_DESC, no pool
  auto& drv = q.drv();
  // A pool without the feature is refused at configure time.
  CHECK(err(drv.configure(q.config(), vireo::ring::indirect_pool{q.config().desc_table, 4})) ==
        errc::feature_not_negotiated);
  REQUIRE(drv.configure(q.config()).has_value());
  const std::vector<buffer> wr{{q.m().alloc(4), 4}, {q.m().alloc(4), 4}, {q.m().alloc(4), 4}};
  CHECK(err(drv.add({}, wr, 0, add_mode::indirect)) == errc::invalid_argument);
  // Automatic mode without a pool never falls back to INDIRECT: it reports ring_full.
  REQUIRE(drv.add({}, wr).has_value());
  CHECK(err(drv.add({}, wr)) == errc::ring_full);
  CHECK(q.available() == 1);
  if constexpr (H::is_split) CHECK(q.m().avail_idx() == 1);
  for (std::uint16_t i = 0; i < 4; ++i) CHECK((q.ring_desc_flags(i) & desc_flag::indirect) == 0);
}

TEST_CASE_TEMPLATE("S9 S11 (P15) driver: an indirect table holds no INDIRECT, and the INDIRECT descriptor has no NEXT",
                   H, VIREO_LAYOUTS) {
  for (const bool in_order : {false, true}) {
    CAPTURE(in_order);
    H q{{8, features(true, false, in_order), 6}};
    for (std::size_t n = 1; n <= 6; ++n) {
      std::vector<buffer> rd, wr;
      for (std::size_t k = 0; k < n; ++k) (k % 2 ? wr : rd).push_back({q.m().alloc(8), 8});
      auto head = q.add_bufs(rd, wr, 0, add_mode::indirect);
      REQUIRE(head.has_value());
      const written_chain w = q.read_written(*head);
      REQUIRE(w.indirect);
      CHECK(w.top.flags == desc_flag::indirect);  // no NEXT, no WRITE
      CHECK(w.top.len == 16 * n);
      for (std::size_t i = 0; i < n; ++i)
        CHECK((q.read_desc_at(gpa{w.top.addr + 16 * i}).flags & desc_flag::indirect) == 0);
    }
  }
}

TEST_CASE_TEMPLATE("S13 (P19) device: WRITE on the descriptor that points to an indirect table is ignored", H,
                   VIREO_LAYOUTS) {
  for (const std::uint16_t top_flags :
       {desc_flag::indirect, static_cast<std::uint16_t>(desc_flag::indirect | desc_flag::write)}) {
    CAPTURE(top_flags);
    H q{{8, features(true, false, false)}};
    const auto in = pattern(10, 13);
    const gpa in_at = q.m().put(in);
    const gpa out = q.m().alloc(20);
    const gpa table = q.put_table({{in_at.raw(), 10, 0}, {out.raw(), 20, desc_flag::write}});
    q.skip_raw(5);  // a head (split) or buffer id (packed) other than 0
    const std::uint16_t id = q.publish_raw({{table.raw(), 32, top_flags}});
    CHECK(id == 5);
    auto c = q.pop_ok();
    CHECK(c.id() == 5);
    CHECK(c.readable_len() == 10);
    CHECK(c.writable_len() == 20);
    CHECK(read_all(c) == in);
    REQUIRE(c.writable().size() == 1);
    CHECK(c.writable()[0].addr == out);
  }
}

// ---- S17 / S20: notification decisions, both ways ----------------------------------------------

TEST_CASE_TEMPLATE("S17 device: without EVENT_IDX, notify iff the driver has not disabled interrupts (its event field is ignored)",
                   H, VIREO_LAYOUTS) {
  H q{{8}};
  for (int round = 0; round < 20; ++round) {
    const bool enabled = round % 2 == 0;
    // The event field would say "not yet" (or "now"): without EVENT_IDX it must not matter.
    q.driver_wants_interrupts(enabled, static_cast<std::uint16_t>(round * 7919));
    q.cycle();
    CHECK(q.dev().needs_notification() == enabled);
    CHECK(!q.dev().needs_notification());  // nothing pushed since
  }
}

TEST_CASE_TEMPLATE("S17 device: EVENT_IDX, notify iff an entry was placed at the driver's event position", H,
                   VIREO_LAYOUTS) {
  H q{{8, features(false, true, false)}};
  auto& d = q.dev();
  auto push_n = [&](int n) {
    const auto before = q.used_pos();
    std::vector<typename H::chain> cs;
    for (int k = 0; k < n; ++k) REQUIRE(q.add({}, {4}).has_value());
    for (int k = 0; k < n; ++k) cs.push_back(q.pop_ok());
    std::vector<used_entry> batch;
    for (auto& c : cs) batch.push_back({c.token(), 0});
    REQUIRE(d.push_used(batch).has_value());
    CHECK(q.used_pos() == q.advance(before, n));  // one-slot chains: one position each
    for (int k = 0; k < n; ++k) (void)q.reclaim_ok();
    q.m().reset_arena();
  };
  // The first decision after configure always notifies (vhost does the same): the device has no
  // earlier decision to measure the window from.
  q.driver_wants_interrupt_at(q.advance(q.used_pos(), 5));
  push_n(1);
  CHECK(d.needs_notification());
  struct step {
    int n;          // entries pushed as one batch
    int event_rel;  // the driver's event relative to the used position before the batch
    bool noise;     // split: NO_INTERRUPT set in avail.flags, which EVENT_IDX ignores
    bool want;
  };
  const step steps[] = {
      {1, 0, false, true},  {1, 1, false, false}, {1, 0, false, true},  // the entry at the event, or not
      {1, 0, true, true},                                               // NO_INTERRUPT ignored
      {1, -1, false, false},                                            // event already passed
      {3, 2, false, true},  {3, 0, false, true},  {3, 3, false, false}, // batches: window [old, new)
      {3, -1, true, false}, {4, 3, true, true},   {2, 5, false, false},
  };
  for (const step& s : steps) {
    CAPTURE(s.n);
    CAPTURE(s.event_rel);
    q.driver_wants_interrupt_at(q.advance(q.used_pos(), s.event_rel), s.noise);
    push_n(s.n);
    CHECK(d.needs_notification() == s.want);
  }
  // Two pushes before one decision: the window covers both.
  q.driver_wants_interrupt_at(q.used_pos());
  push_n(1);
  push_n(1);
  CHECK(d.needs_notification());
}

TEST_CASE_TEMPLATE("S17 device: push publishes the used entry itself, and needs_notification() reads the driver's field afterwards",
                   H, VIREO_LAYOUTS) {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    H q{{8, features(false, event_idx, false)}};
    auto& d = q.dev();
    if (event_idx) {  // consume the unconditional first notification
      q.cycle();
      CHECK(d.needs_notification());
    }
    for (std::uint16_t k = 0; k < 6; ++k) {
      REQUIRE(q.add({}, {4}).has_value());
      auto c = q.pop_ok();
      const auto before = q.used_pos();
      REQUIRE(d.push_used(c, 0).has_value());
      // Published by push_used() before any decision: the entry is in place and visible.
      CHECK(q.used_pos() == q.advance(before, 1));
      const auto u = q.used_at(before);
      REQUIRE(u.has_value());
      CHECK(u->id == c.id());
      if constexpr (H::is_split) CHECK(q.m().used_idx() == static_cast<std::uint16_t>(before + 1));
      // Change the driver's field only now; the decision must follow the new value.
      const bool want = k % 2 == 0;
      if (event_idx) q.driver_wants_interrupt_at(want ? before : q.advance(before, 1));
      else q.driver_wants_interrupts(want);
      CHECK(d.needs_notification() == want);
      (void)q.reclaim_ok();
    }
  }
}

TEST_CASE_TEMPLATE("S20 driver: without EVENT_IDX, kick iff the device has not disabled kicks (its event field is ignored)",
                   H, VIREO_LAYOUTS) {
  H q{{8}};
  auto& drv = q.drv();
  for (int round = 0; round < 20; ++round) {
    const bool enabled = round % 2 == 0;
    q.device_wants_kicks(enabled, static_cast<std::uint16_t>(round * 31));  // ignored field
    REQUIRE(q.add({}, {4}).has_value());
    CHECK(drv.needs_kick() == enabled);
    CHECK(!drv.needs_kick());  // nothing added since
    auto c = q.pop_ok();
    REQUIRE(q.dev().push_used(c, 0).has_value());
    (void)q.reclaim_ok();
    q.m().reset_arena();
  }
}

TEST_CASE_TEMPLATE("S20 driver: EVENT_IDX, kick iff a chain was placed at the device's event position", H,
                   VIREO_LAYOUTS) {
  H q{{8, features(false, true, false)}};
  auto& drv = q.drv();
  struct step {
    int n;
    int event_rel;  // the device's event relative to the driver's avail position before the batch
    bool noise;     // split: NO_NOTIFY set in used.flags, which EVENT_IDX ignores
    bool want;
  };
  const step steps[] = {
      {1, 0, false, true},  {1, 1, false, false}, {1, 0, true, true},  // NO_NOTIFY ignored
      {3, 2, false, true},  {3, 3, false, false}, {2, -1, true, false}, {4, 3, false, true},
  };
  for (const step& s : steps) {
    CAPTURE(s.n);
    CAPTURE(s.event_rel);
    q.device_wants_kick_at(q.advance(q.drv_avail_pos(), s.event_rel), s.noise);
    for (int k = 0; k < s.n; ++k) REQUIRE(q.add({}, {4}).has_value());
    CHECK(drv.needs_kick() == s.want);
    // Drain without the device touching its event field again: notifications disabled.
    q.dev().disable_notifications();
    for (int k = 0; k < s.n; ++k) {
      auto c = q.pop_ok();
      REQUIRE(q.dev().push_used(c, 0).has_value());
    }
    for (int k = 0; k < s.n; ++k) (void)q.reclaim_ok();
    q.m().reset_arena();
  }
}

TEST_CASE_TEMPLATE("S22 S23 (P16 P17) driver: add() publishes the chain itself, and needs_kick() reads the device's field afterwards",
                   H, VIREO_LAYOUTS) {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    H q{{8, features(false, event_idx, false)}};
    auto& drv = q.drv();
    for (std::uint16_t k = 0; k < 6; ++k) {
      const auto before = q.drv_avail_pos();
      auto head = q.add({}, {4});
      REQUIRE(head.has_value());
      // Published by add() before any kick decision: the device sees the chain, its descriptor
      // and (split) the ring entry and the new avail.idx.
      CHECK(q.available() == k + 1);
      CHECK(q.read_written(*head).descs.front().len == 4);
      if constexpr (H::is_split) {
        CHECK(q.m().avail_idx() == k + 1);
        CHECK(q.avail_ring_entry(k) == *head);
      }
      // Change the device's field only now; the decision must follow the new value, so it is
      // read after the publish, not cached from earlier.
      const bool want = k % 2 == 0;
      if (event_idx) q.device_wants_kick_at(want ? before : q.advance(before, 1));
      else q.device_wants_kicks(want);
      CHECK(drv.needs_kick() == want);
    }
  }
}

// ---- S18 / S19 (P20): used length --------------------------------------------------------------

TEST_CASE_TEMPLATE("S18 (P20) device: the used entry (id, len) is in place when it is published; len never over-reports",
                   H, VIREO_LAYOUTS) {
  H q{{4, features(false, false, false)}};
  auto& d = q.dev();
  std::mt19937 rng{18};
  for (int round = 0; round < 50; ++round) {
    const int n = 1 + static_cast<int>(rng() % 4);
    std::vector<typename H::chain> cs;
    for (int k = 0; k < n; ++k) REQUIRE(q.add({}, {32}).has_value());
    for (int k = 0; k < n; ++k) cs.push_back(q.pop_ok());
    std::vector<used_entry> batch;
    for (auto& c : cs) {
      const std::uint32_t len = rng() % 33;
      (void)write_all(c, pattern(len, 1));
      batch.push_back({c.token(), len});
    }
    // Over-reporting is refused and publishes nothing (§2.7.8.2, §2.8.4: never more than written).
    const auto idx = q.used_pos();
    CHECK(err(d.push_used(batch.front().token, 33)) == errc::used_len_too_large);
    CHECK(q.used_pos() == idx);
    CHECK(!q.used_at(idx).has_value());
    if constexpr (H::is_split) CHECK(q.m().used_idx() == idx);
    if (n == 1 || rng() % 2) {
      for (const auto& e : batch) {
        const auto at = q.used_pos();
        REQUIRE(d.push_used(e.token, e.len).has_value());
        REQUIRE(q.used_pos() == q.advance(at, H::used_step(e.token)));
        const auto u = q.used_at(at);
        REQUIRE(u.has_value());
        CHECK(u->id == e.token.id);
        CHECK(u->len == e.len);
      }
    } else {
      REQUIRE(d.push_used(batch).has_value());
      auto at = idx;
      for (const auto& e : batch) {
        const auto u = q.used_at(at);
        REQUIRE(u.has_value());
        CHECK(u->id == e.token.id);
        CHECK(u->len == e.len);
        at = q.advance(at, H::used_step(e.token));
      }
      REQUIRE(q.used_pos() == at);
    }
    for (int k = 0; k < n; ++k) (void)q.reclaim_ok();
    q.m().reset_arena();
  }
}

TEST_CASE_TEMPLATE("S19 (P20) driver: reclaim reports exactly the device's len, and refuses a len above the writable bytes",
                   H, VIREO_LAYOUTS) {
  H q{{8}};
  for (std::uint32_t len : {0u, 1u, 5u, 31u, 32u}) {
    REQUIRE(q.add({}, {16, 16}).has_value());
    auto c = q.pop_ok();
    (void)write_all(c, pattern(len, len));
    REQUIRE(q.dev().push_used(c, len).has_value());
    CHECK(q.reclaim_ok().len == len);
  }
  // A device claiming 33 bytes of a 32-byte buffer is refused (and breaks the queue).
  auto head = q.add({}, {16, 16});
  REQUIRE(head.has_value());
  q.raw_complete(q.used_pos(), *head, 33);
  CHECK(err(q.drv().reclaim()) == errc::used_len_too_large);
  CHECK(q.drv().broken());
}

// ---- G items that reach the ring layer ---------------------------------------------------------

TEST_CASE_TEMPLATE("G2 device: an unconfigured queue consumes nothing and never notifies", H, VIREO_LAYOUTS) {
  H q{{8}};
  REQUIRE(q.add({pattern(8, 1)}, {8}).has_value());
  const auto before = q.snapshot();
  typename H::device_type d{q.memory()};
  CHECK(!d.ready());
  CHECK(err(d.pop()) == errc::queue_not_ready);
  CHECK(err(d.available()) == errc::queue_not_ready);
  CHECK(err(d.enable_notifications()) == errc::queue_not_ready);
  d.disable_notifications();
  CHECK(err(d.push_used(used_token{0, 1, 0, 8}, 0)) == errc::queue_not_ready);
  const used_entry e{used_token{0, 1, 0, 8}, 0};
  CHECK(err(d.push_used(std::span{&e, 1})) == errc::queue_not_ready);
  CHECK(err(d.push_used(std::span<const used_entry>{})) == errc::queue_not_ready);
  CHECK(!d.needs_notification());
  CHECK(q.snapshot() == before);
}

TEST_CASE_TEMPLATE("G6 G13 device: after reset() the queue touches no guest memory and never notifies", H,
                   VIREO_LAYOUTS) {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    H q{{8, with(features(false, event_idx, false), transport_feature::ring_reset)}};
    auto& d = q.dev();
    for (int k = 0; k < 3; ++k) REQUIRE(q.add({}, {8}).has_value());
    auto c0 = q.pop_ok();
    auto c1 = q.pop_ok();
    REQUIRE(d.push_used(c0, 0).has_value());  // pushed, no decision yet
    d.reset();
    CHECK(!d.ready());
    CHECK(!d.broken());
    const auto before = q.snapshot();
    CHECK(err(d.pop()) == errc::queue_not_ready);
    CHECK(err(d.push_used(c1, 0)) == errc::queue_not_ready);
    CHECK(!d.needs_notification());
    CHECK(err(d.enable_notifications()) == errc::queue_not_ready);
    d.disable_notifications();
    CHECK(err(d.available()) == errc::queue_not_ready);
    CHECK(q.snapshot() == before);
  }
}

TEST_CASE_TEMPLATE("G13 device: after reset() pop/push return queue_not_ready and configure() restarts from the initial position",
                   H, VIREO_LAYOUTS) {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    H q{{8, with(features(false, event_idx, false), transport_feature::ring_reset)}};
    auto& d = q.dev();
    const auto init = H::initial_pos();
    for (int k = 0; k < 5; ++k) REQUIRE(q.add({}, {8}).has_value());
    for (int k = 0; k < 5; ++k) {
      auto c = q.pop_ok();
      if (k < 3) REQUIRE(d.push_used(c, 1).has_value());
    }
    CHECK(d.state().next_avail == q.advance(init, 5));
    CHECK(d.state().used_idx == q.advance(init, 3));
    d.reset();
    CHECK(err(d.pop()) == errc::queue_not_ready);
    CHECK(err(d.push_used(used_token{4, 1, 4, 8}, 0)) == errc::queue_not_ready);

    // Reconfigure without touching the rings: the device's positions are back to their
    // defaults. On a split ring it sees the 5 published entries again from index 0; on a packed
    // ring slot 0 now holds a used descriptor, which is not available in wrap phase 1.
    q.configure_device();
    CHECK(d.state().next_avail == init);
    CHECK(d.state().used_idx == init);
    CHECK(q.available() == (H::is_split ? 5 : 0));

    // The normal path: the driver re-initialises the rings too (queue re-enable, §2.6.1).
    q.configure_driver();
    q.configure_device();
    CHECK(q.available() == 0);
    q.m().reset_arena();
    auto head = q.add({}, {8});
    REQUIRE(head.has_value());
    auto c = q.pop_ok();
    CHECK(c.token().seq == init);
    CHECK(c.id() == *head);
    REQUIRE(d.push_used(c, 3).has_value());
    const auto u = q.used_at(init);
    REQUIRE(u.has_value());
    CHECK(u->id == *head);
    CHECK(u->len == 3);
    if constexpr (H::is_split) CHECK(q.m().used_idx() == 1);
    CHECK(d.needs_notification());  // notification state is back to its default too
    CHECK(q.reclaim_ok().len == 3);
  }
}

TEST_CASE_TEMPLATE("G13 G14 driver: after a queue reset (VIRTIO_F_RING_RESET) detach_unused() returns every buffer in flight once, and re-enabling starts from the initial state",
                   H, VIREO_LAYOUTS) {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    H q{{16, with(features(true, event_idx, false), transport_feature::ring_reset), 4}};
    auto& drv = q.drv();
    auto& d = q.dev();
    // user_data 1: completed and reclaimed; 2: completed, not reclaimed; 3, 4: popped, not
    // completed; 5, 6: published, not popped.
    for (std::uint64_t u = 1; u <= 6; ++u)
      REQUIRE(q.add({pattern(4, 1)}, {8}, u % 2 ? add_mode::indirect : add_mode::direct, u).has_value());
    std::vector<typename H::chain> cs;
    for (int k = 0; k < 4; ++k) cs.push_back(q.pop_ok());
    REQUIRE(d.push_used(cs[0], 8).has_value());
    REQUIRE(d.push_used(cs[1], 8).has_value());
    CHECK(q.reclaim_ok().user_data == 1);
    CHECK(!drv.detach_unused().has_value());  // live queue: the device may still own them

    // Queue reset on the device side: no processing, no notification, no memory access.
    d.reset();
    const auto before = q.snapshot();
    CHECK(err(d.pop()) == errc::queue_not_ready);
    CHECK(err(d.push_used(cs[2], 0)) == errc::queue_not_ready);
    CHECK(!d.needs_notification());
    CHECK(err(d.enable_notifications()) == errc::queue_not_ready);
    CHECK(err(d.available()) == errc::queue_not_ready);

    // The driver, once the reset completed (G14: the transport verifies that), takes back every
    // buffer it had exposed, each exactly once.
    drv.reset();
    CHECK(!drv.ready());
    CHECK(!drv.broken());
    CHECK(err(q.add({}, {8})) == errc::queue_not_ready);
    CHECK(err(drv.reclaim()) == errc::queue_not_ready);
    CHECK(!drv.needs_kick());
    CHECK(!drv.enable_interrupts());
    std::vector<std::uint64_t> detached;
    while (auto u = drv.detach_unused()) detached.push_back(*u);
    std::sort(detached.begin(), detached.end());
    CHECK(detached == std::vector<std::uint64_t>{2, 3, 4, 5, 6});
    CHECK(!drv.detach_unused().has_value());
    CHECK(drv.in_flight() == 0);
    CHECK(q.snapshot() == before);  // neither side wrote guest memory after the reset

    // Re-enable: the same set-up as the first time, on both sides.
    q.configure_driver();
    q.configure_device();
    CHECK(q.ring_is_initial());
    CHECK(drv.free_descriptors() == 16);
    CHECK(drv.avail_index() == H::initial_pos());
    CHECK(d.state() == vireo::ring::queue_state{H::initial_pos(), H::initial_pos()});
    CHECK(!drv.detach_unused().has_value());
    q.m().reset_arena();
    REQUIRE(q.add({pattern(4, 2)}, {8}, add_mode::direct, 7).has_value());
    CHECK(drv.needs_kick());
    auto c = q.pop_ok();
    CHECK(c.token().seq == H::initial_pos());
    REQUIRE(d.push_used(c, 8).has_value());
    CHECK(d.needs_notification());
    const used_buffer u = q.reclaim_ok();
    CHECK(u.user_data == 7);
    CHECK(u.len == 8);
  }
}

TEST_CASE_TEMPLATE("G9 driver: an unconfigured driver publishes nothing and never kicks", H, VIREO_LAYOUTS) {
  H q{{8}};
  const auto before = q.snapshot();
  typename H::template driver_t<flat_memory, 8> drv{q.memory()};
  const buffer b{q.config().desc_table, 4};
  CHECK(err(drv.add({}, std::span{&b, 1})) == errc::queue_not_ready);
  CHECK(!drv.needs_kick());
  CHECK(err(drv.reclaim()) == errc::queue_not_ready);
  CHECK(!drv.enable_interrupts());
  drv.disable_interrupts();
  CHECK(q.snapshot() == before);
}

TEST_CASE_TEMPLATE("G10 (P7 P8) driver: descriptors the device owns stay unchanged while other chains cycle", H,
                   VIREO_LAYOUTS) {
  for (const bool in_order : {false, true}) {
    CAPTURE(in_order);
    H q{{8, features(true, false, in_order), 4}};
    auto& d = q.dev();
    // Chain A (direct, 3 descriptors) and chain B (indirect) stay in flight throughout.
    auto a = q.add({pattern(8, 1)}, {8, 8}, add_mode::direct, 1);
    auto b = q.add({pattern(8, 2)}, {8}, add_mode::indirect, 2);
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    // Split: the device never writes descriptors, so A's and B's stay byte-identical for the
    // whole run. Packed: used descriptors legitimately land on ring slots (§2.8.6), so the check
    // is that no driver operation changes a slot between the driver's used and avail positions,
    // nor the table of a buffer in flight.
    const auto snap_a = q.bytes_of(q.driver_must_not_touch({*a}));
    const auto snap_b = q.bytes_of(q.driver_must_not_touch({*b}));
    std::vector<std::uint16_t> in_flight{*a, *b};
    auto ca = q.pop_ok();
    auto cb = q.pop_ok();
    // A driver operation must leave every region it does not own as it was.
    auto guarded = [&](auto&& op) {
      const auto regions = q.driver_must_not_touch(in_flight);
      const auto before = q.bytes_of(regions);
      op();
      CHECK(q.bytes_of(regions) == before);
    };
    std::mt19937 rng{10};
    std::vector<typename H::chain> later;
    for (int round = 0; round < 200; ++round) {
      const std::size_t n = 1 + rng() % 3;
      std::vector<buffer> wr(n, buffer{q.m().alloc(4), 4});
      vireo::result<std::uint16_t> h{errc::ring_full};
      guarded([&] { h = q.add_bufs({}, wr, 0, rng() % 2 ? add_mode::indirect : add_mode::automatic); });
      if (h) {
        in_flight.push_back(*h);
        later.push_back(q.pop_ok());
      }
      guarded([&] { (void)q.drv().needs_kick(); });
      if (!in_order && !later.empty() && (rng() % 2 || !h)) {
        const std::size_t k = rng() % later.size();
        REQUIRE(d.push_used(later[k], 0).has_value());
        later.erase(later.begin() + static_cast<std::ptrdiff_t>(k));
        guarded([&] {
          const used_buffer u = q.reclaim_ok();
          in_flight.erase(std::find(in_flight.begin(), in_flight.end(), u.id));
        });
      }
      if (in_order && !h) break;  // IN_ORDER: nothing after A and B can complete before them
      if constexpr (H::is_split) {
        CHECK(q.bytes_of(q.driver_must_not_touch({*a})) == snap_a);
        CHECK(q.bytes_of(q.driver_must_not_touch({*b})) == snap_b);
      }
    }
    REQUIRE(d.push_used(ca, 0).has_value());
    REQUIRE(d.push_used(cb, 0).has_value());
    (void)q.reclaim_ok();
  }
}

TEST_CASE_TEMPLATE("G12 device: under IN_ORDER buffers are used strictly in availability order", H, VIREO_LAYOUTS) {
  H q{{8, features(false, false, true)}};
  auto& d = q.dev();
  for (int k = 0; k < 4; ++k) REQUIRE(q.add({}, {8}).has_value());
  std::vector<typename H::chain> cs;
  for (int k = 0; k < 4; ++k) cs.push_back(q.pop_ok());
  const auto before = q.snapshot();
  CHECK(err(d.push_used(cs[1], 0)) == errc::in_order_violation);
  const used_entry wrong[] = {{cs[1].token(), 8}, {cs[0].token(), 8}};
  CHECK(err(d.push_used(wrong)) == errc::in_order_violation);
  const used_entry gap[] = {{cs[0].token(), 8}, {cs[2].token(), 8}};
  CHECK(err(d.push_used(gap)) == errc::in_order_violation);
  CHECK(q.snapshot() == before);  // a refused completion writes nothing
  REQUIRE(d.push_used(cs[0], 8).has_value());
  const used_entry rest[] = {{cs[1].token(), 8}, {cs[2].token(), 8}};
  REQUIRE(d.push_used(rest).has_value());
  CHECK(err(d.push_used(cs[0], 8)) == errc::in_order_violation);  // completing twice
  REQUIRE(d.push_used(cs[3], 8).has_value());
  CHECK(q.used_pos() == q.advance(H::initial_pos(), 4));
  CHECK(q.used_at(q.advance(H::initial_pos(), 3)).has_value());
  if constexpr (H::is_split) CHECK(q.m().used_idx() == 4);
}

TEST_CASE_TEMPLATE("G12 device: under IN_ORDER, push_used(span) collapses a full-length batch into one entry naming the last buffer",
                   H, VIREO_LAYOUTS) {
  H q{{8, features(false, false, true)}};
  auto& d = q.dev();
  std::uint16_t heads[3];
  for (std::uint64_t k = 0; k < 3; ++k) {
    auto h = q.add({pattern(4, 1)}, {16}, add_mode::direct, 100 + k);
    REQUIRE(h.has_value());
    heads[k] = *h;
  }
  std::vector<typename H::chain> cs;
  for (int k = 0; k < 3; ++k) cs.push_back(q.pop_ok());
  const auto first = q.used_pos();
  std::uint32_t span = 0;
  for (const auto& c : cs) span += H::used_step(c.token());
  // Split: stale markers in the used-ring slots the batch skips. Both: the skipped storage
  // (split: used elements; packed: the batch's other ring slots) must stay untouched.
  if constexpr (H::is_split) {
    q.scribble_used(q.advance(first, 1));
    q.scribble_used(q.advance(first, 2));
  }
  std::vector<std::vector<std::byte>> skipped;
  for (std::uint32_t k = 1; k < span; ++k) skipped.push_back(q.used_storage(q.advance(first, k)));
  (void)write_all(cs[0], pattern(16, 0));
  (void)write_all(cs[1], pattern(16, 1));
  (void)write_all(cs[2], pattern(5, 2));
  const used_entry batch[] = {{cs[0].token(), 16}, {cs[1].token(), 16}, {cs[2].token(), 5}};
  REQUIRE(d.push_used(batch).has_value());
  CHECK(q.used_pos() == q.advance(first, span));
  const auto u = q.used_at(first);
  REQUIRE(u.has_value());
  CHECK(u->id == heads[2]);
  CHECK(u->len == 5);
  for (std::uint32_t k = 1; k < span; ++k) CHECK(q.used_storage(q.advance(first, k)) == skipped[k - 1]);
  if constexpr (H::is_split) {
    CHECK(q.m().used_idx() == 3);
    CHECK(q.m().used_elem(1) == std::pair<std::uint32_t, std::uint32_t>{0xdead, 0xbeef});
    CHECK(q.m().used_elem(2) == std::pair<std::uint32_t, std::uint32_t>{0xdead, 0xbeef});
  }

  // The driver gives back every buffer, in order, the skipped ones with their full length.
  const std::uint32_t want_len[] = {16, 16, 5};
  for (int k = 0; k < 3; ++k) {
    const used_buffer got = q.reclaim_ok();
    CHECK(got.id == heads[k]);
    CHECK(got.len == want_len[k]);
    CHECK(got.user_data == 100u + static_cast<std::uint64_t>(k));
  }
  q.expect_nothing_used();
  CHECK(q.drv().in_flight() == 0);
  CHECK(q.drv().free_descriptors() == 8);
}

TEST_CASE_TEMPLATE("G12 device: a batch with a short earlier length is written entry by entry (never collapsed without IN_ORDER)",
                   H, VIREO_LAYOUTS) {
  for (const bool in_order : {true, false}) {
    CAPTURE(in_order);
    H q{{8, features(false, false, in_order)}};
    for (int k = 0; k < 3; ++k) REQUIRE(q.add({}, {16}).has_value());
    std::vector<typename H::chain> cs;
    for (int k = 0; k < 3; ++k) cs.push_back(q.pop_ok());
    // In order: an earlier short length forbids collapsing. Not in order: never collapsed,
    // even with full lengths.
    const std::uint32_t l1 = in_order ? 7 : 16;
    const used_entry batch[] = {{cs[0].token(), 16}, {cs[1].token(), l1}, {cs[2].token(), 5}};
    REQUIRE(q.dev().push_used(batch).has_value());
    CHECK(q.used_pos() == q.advance(H::initial_pos(), 3));
    if constexpr (H::is_split) CHECK(q.m().used_idx() == 3);
    auto at = H::initial_pos();
    for (std::size_t k = 0; k < 3; ++k) {
      const auto u = q.used_at(at);
      REQUIRE(u.has_value());
      CHECK(u->id == cs[k].id());
      CHECK(u->len == batch[k].len);
      at = q.advance(at, 1);
    }
    for (int k = 0; k < 3; ++k) CHECK(q.reclaim_ok().len == batch[k].len);
  }
}

TEST_CASE_TEMPLATE("G12 driver: IN_ORDER indirect chains and collapsed batches across the ring wrap", H, VIREO_LAYOUTS) {
  H q{{4, features(true, true, true), 4}};
  std::mt19937 rng{99};
  std::uint64_t next_user = 0, next_expect = 0;
  for (int round = 0; round < 300; ++round) {
    std::vector<typename H::chain> cs;
    const std::size_t want = 1 + rng() % 4;
    while (cs.size() < want) {
      auto h = q.add({}, {8, 8}, rng() % 2 ? add_mode::indirect : add_mode::automatic, next_user);
      if (!h) {
        CHECK(err(h) == errc::ring_full);
        break;
      }
      ++next_user;
      cs.push_back(q.pop_ok());
    }
    REQUIRE(!cs.empty());
    std::vector<used_entry> batch;
    for (std::size_t k = 0; k < cs.size(); ++k)
      batch.push_back({cs[k].token(), k + 1 < cs.size() ? 16u : static_cast<std::uint32_t>(rng() % 17)});
    REQUIRE(q.dev().push_used(batch).has_value());
    for (std::size_t k = 0; k < cs.size(); ++k) {
      const used_buffer u = q.reclaim_ok();
      CHECK(u.user_data == next_expect++);
      CHECK(u.len == batch[k].len);
    }
    q.expect_nothing_used();
    q.m().reset_arena();
  }
  CHECK(next_expect == next_user);
}

TEST_CASE_TEMPLATE("G14 driver: re-enabling a queue is the initial set-up again", H, VIREO_LAYOUTS) {
  H q{{8, features(true, true, false), 4}};
  auto& drv = q.drv();
  auto& d = q.dev();
  for (int k = 0; k < 5; ++k)
    REQUIRE(q.add({}, {8}, k % 2 ? add_mode::indirect : add_mode::direct).has_value());
  auto c = q.pop_ok();
  REQUIRE(d.push_used(c, 0).has_value());
  (void)drv.needs_kick();
  // Queue reset + re-enable: the driver re-initialises everything, the device reconfigures.
  q.configure_driver();
  d.reset();
  q.configure_device();
  CHECK(drv.free_descriptors() == 8);
  CHECK(drv.in_flight() == 0);
  CHECK(drv.avail_index() == H::initial_pos());
  CHECK(q.ring_is_initial());
  if constexpr (H::is_split) {
    CHECK(q.m().avail_idx() == 0);
    CHECK(q.m().used_idx() == 0);
    CHECK(q.driver_suppression().raw_flags == 0);
    CHECK(q.m().used_flags() == 0);
  }
  q.m().reset_arena();
  auto head = q.add({}, {8});
  REQUIRE(head.has_value());
  CHECK(*head == 0);
  CHECK(drv.needs_kick());
  auto c2 = q.pop_ok();
  REQUIRE(d.push_used(c2, 8).has_value());
  CHECK(q.reclaim_ok().id == *head);
}

TEST_CASE_TEMPLATE("G16 driver: avail_index() is the NOTIFICATION_DATA payload and names what the device pops next, across wraps",
                   H, VIREO_LAYOUTS) {
  // Split: 70,000 adds wrap the u16 avail idx. Packed: the position is slot | wrap << 15 and
  // wraps every lap of 4 slots, so a few thousand laps are plenty.
  const int rounds = H::is_split ? 70000 : 6000;
  H q{{4, with(features(false, false, false), transport_feature::notification_data)}};
  auto& d = q.dev();
  for (int k = 0; k < rounds; ++k) {
    REQUIRE(q.m().add({}, {0}).has_value());
    const auto sent = vireo::ring::encode_notification({3, q.drv().avail_index()});
    const auto got = vireo::ring::decode_notification(sent);
    REQUIRE(got.queue == 3);
    REQUIRE(vireo::ring::validate_notification(got, 4, q.size(), H::is_packed).has_value());
    if constexpr (H::is_split) CHECK(q.drv().avail_index() == q.m().avail_idx());
    auto c = q.pop_ok();
    // The device, having taken everything published, stands exactly where the notification
    // said the next chain would be.
    REQUIRE(d.state().next_avail == got.next);
    REQUIRE(d.push_used(c, 0).has_value());
    REQUIRE(q.m().driver().reclaim().has_value());
    if (k % 1024 == 0) q.m().reset_arena();
  }
  CHECK(q.drv().avail_index() == q.advance(H::initial_pos(), rounds));
  if constexpr (H::is_split) CHECK(q.drv().avail_index() == static_cast<std::uint16_t>(70000));
}

TEST_CASE_TEMPLATE("G17 device: spurious kicks and repeated enable_notifications are harmless", H, VIREO_LAYOUTS) {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    H q{{8, features(false, event_idx, false)}};
    auto& d = q.dev();
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
    // Repeated enables leave the request as one enable would: kicks wanted (EVENT_IDX: at the
    // next chain), nothing else written.
    const suppression s = q.device_suppression();
    CHECK(s.mode == (event_idx ? notify_mode::at : notify_mode::enabled));
    if (event_idx) CHECK(s.at == q.next_avail_pos());
    if constexpr (H::is_split) {
      CHECK(s.raw_flags == 0);
      CHECK(s.at == 0);
      CHECK(q.m().used_idx() == 0);
    }
    CHECK(!q.used_at(H::initial_pos()).has_value());
    q.cycle();
    (void)d.needs_notification();
    CHECK(!d.needs_notification());  // asked again with nothing new: no second notification
    CHECK(!*d.enable_notifications());
    REQUIRE(q.add({}, {4}).has_value());
    CHECK(*d.enable_notifications());  // something is there: keep polling
    CHECK(*d.enable_notifications());
    auto c = q.pop_ok();
    REQUIRE(d.push_used(c, 0).has_value());
  }
}

TEST_CASE_TEMPLATE("G17 driver: spurious interrupts and repeated enable_interrupts are harmless", H, VIREO_LAYOUTS) {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    H q{{8, features(false, event_idx, false)}};
    auto& drv = q.drv();
    for (int k = 0; k < 3; ++k) {
      q.expect_nothing_used();  // a spurious interrupt: nothing used
      CHECK(!drv.enable_interrupts());
    }
    CHECK(!drv.needs_kick());  // nothing added
    REQUIRE(q.add({}, {4}).has_value());
    (void)drv.needs_kick();
    CHECK(!drv.needs_kick());
    auto c = q.pop_ok();
    REQUIRE(q.dev().push_used(c, 0).has_value());
    CHECK(drv.enable_interrupts());
    CHECK(drv.enable_interrupts());
    (void)q.reclaim_ok();
    q.expect_nothing_used();
    CHECK(!drv.enable_interrupts());
    CHECK(drv.in_flight() == 0);
    CHECK(drv.free_descriptors() == 8);
  }
}
