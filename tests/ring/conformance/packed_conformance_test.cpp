// SPDX-License-Identifier: Apache-2.0
// Conformance tests for what only the packed virtqueue has: one or more TEST_CASEs for every item
// P1..P23 of /work/shared/spec/virtqueues.md §7.3, the id and used-WRITE interop rules of digest
// §6.4 / §6.5 (our device against spec-minimal and Linux-like drivers, our driver against a
// QEMU-like device), and the packed ideas of §7.4. The cases both layouts share (G*, and S* with
// a packed counterpart) are in common_conformance_test.cpp. Map: docs/conformance-packed.md.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "harness.hpp"

using namespace vireo_conformance;

namespace {

using mock = vireo::testing::mock_packed_driver;
using desc_fields = mock::desc_fields;
using device = vireo::ring::packed_device<flat_memory>;
using chain = device::chain_type;
using vireo::ring::make_off_wrap;
using vireo::ring::off_of;
using vireo::ring::wrap_of;
using pos = std::uint16_t;  // slot | wrap << 15

constexpr std::uint16_t marks_mask = packed_flag::avail | packed_flag::used;
constexpr pos first_pos = 0x8000;  // slot 0, wrap counter 1 (§2.8.1)

[[nodiscard]] feature_set pfeatures(bool indirect, bool event_idx = false, bool in_order = false) {
  return with(features(indirect, event_idx, in_order), transport_feature::ring_packed);
}

[[nodiscard]] mock::options popts(std::uint16_t size, feature_set f = {}, std::uint16_t indirect_entries = 0,
                                  std::size_t data_bytes = std::size_t{1} << 16) {
  return mock_options<mock>(size, f, indirect_entries, data_bytes);
}

[[nodiscard]] pos adv(pos p, std::int64_t k, std::uint16_t n) { return packed_harness::advance_in(p, k, n); }

/// A device configured over the mock's ring.
struct rig {
  explicit rig(const mock::options& o) : m(o), d(m.memory()) { REQUIRE(d.configure(m.config()).has_value()); }
  mock m;
  device d;

  chain pop_ok() { return vireo_ring_common::pop_ok(d); }
  used_buffer reclaim_ok() { return vireo_ring_common::reclaim_ok(m); }
  std::vector<buffer> bufs(std::size_t count, std::uint32_t len) { return vireo_ring_common::bufs(m, count, len); }
  std::vector<std::byte> snapshot() { return vireo_ring_common::snapshot(m); }
  std::size_t offset_of(gpa g) const { return static_cast<std::size_t>(g.raw() - m.opts().base.raw()); }
  std::size_t slot_offset(std::uint16_t slot) const { return offset_of(m.config().desc_table) + 16u * slot; }
};

/// A driver written raw from §2.8.21 for tests of our device: lists at its own avail position
/// with the ids the test chooses, used descriptors read at its own used position (§2.8.22).
class raw_driver {
 public:
  explicit raw_driver(mock& m) : m_(&m), n_(m.opts().size) {}
  /// Publish `list` (ids as given: every descriptor, only the last, or different ones) with
  /// NEXT on all but the last, head flags last; the driver remembers the slot count for `id`.
  void publish(std::vector<desc_fields> list, std::uint16_t id) {
    for (std::size_t i = 0; i + 1 < list.size(); ++i) list[i].flags |= desc_flag::next;
    const auto [slot, wrap] = m_->publish_chain(off_of(avail_), wrap_of(avail_), list);
    avail_ = make_off_wrap(slot, wrap);
    slots_[id] = static_cast<std::uint16_t>(list.size());
  }
  struct used {
    std::uint16_t id;
    std::uint32_t len;
    std::uint16_t flags;
  };
  /// The used descriptor at the driver's used position, if any; moves past the list it names.
  std::optional<used> reap() {
    const desc_fields d = m_->read_desc(off_of(used_));
    if (!packed_flag::is_used(d.flags, wrap_of(used_))) return std::nullopt;
    const auto it = slots_.find(d.id);
    REQUIRE(it != slots_.end());
    used_ = adv(used_, it->second, n_);
    slots_.erase(it);
    return used{d.id, d.len, d.flags};
  }
  [[nodiscard]] pos avail() const { return avail_; }

 private:
  mock* m_;
  std::uint16_t n_;
  pos avail_ = first_pos, used_ = first_pos;
  std::map<std::uint16_t, std::uint16_t> slots_;
};

/// A device that behaves as QEMU's virtqueue_packed_pop / virtqueue_packed_fill_desc do (digest
/// §6.4, §6.5): it takes the buffer id from the FIRST descriptor of a list and never sets WRITE
/// in a used descriptor. Written from the digest, not from the library.
class qemu_like_device {
 public:
  explicit qemu_like_device(mock& m) : m_(&m), n_(m.opts().size) {}
  struct popped {
    std::uint16_t id = 0;
    std::uint16_t slots = 0;
    std::vector<std::pair<gpa, std::uint32_t>> readable, writable;
  };
  std::optional<popped> pop() {
    desc_fields d = m_->read_desc(off_of(avail_));
    if (!packed_flag::is_avail(d.flags, wrap_of(avail_))) return std::nullopt;
    popped p;
    p.id = d.id;  // QEMU: the id of the first descriptor
    for (;;) {
      ++p.slots;
      avail_ = adv(avail_, 1, n_);
      if (d.flags & desc_flag::indirect) {
        for (std::uint32_t i = 0; i < d.len / 16; ++i) take(p, m_->read_desc_at(gpa{d.addr + 16u * i}));
        break;
      }
      take(p, d);
      if (!(d.flags & desc_flag::next)) break;
      REQUIRE(p.slots < n_);
      d = m_->read_desc(off_of(avail_));
      REQUIRE(packed_flag::is_avail(d.flags, wrap_of(avail_)));
    }
    return p;
  }
  /// Write `data` into the writable buffers and a used descriptor without WRITE (QEMU).
  void complete(const popped& p, const std::vector<std::byte>& data) {
    std::size_t at = 0;
    for (const auto& [g, len] : p.writable) {
      const std::size_t k = std::min<std::size_t>(len, data.size() - at);
      if (k > 0) std::memcpy(m_->host(g, k).data(), data.data() + at, k);
      at += k;
    }
    REQUIRE(at == data.size());
    m_->write_used(off_of(used_), p.id, static_cast<std::uint32_t>(data.size()),
                   packed_flag::used_marks(wrap_of(used_)));
    used_ = adv(used_, p.slots, n_);
  }

 private:
  static void take(popped& p, const desc_fields& d) {
    (d.flags & desc_flag::write ? p.writable : p.readable).emplace_back(gpa{d.addr}, d.len);
  }
  mock* m_;
  std::uint16_t n_;
  pos avail_ = first_pos, used_ = first_pos;
};

/// Joins a helper thread on every way out of a test case (a failed REQUIRE throws), after
/// telling it to stop.
struct joiner {
  std::thread& thread;
  std::atomic<bool>& stop;
  ~joiner() {
    stop.store(true);
    if (thread.joinable()) thread.join();
  }
};

}  // namespace

// ---- P1: alignment and sizes -------------------------------------------------------------------

TEST_CASE("P1 driver and device: descriptor ring 16-aligned, event areas 4-aligned, else ring_misaligned") {
  constexpr std::uint64_t base = 0x10000;
  ram r(0x4000);
  flat_memory mem{r.view(), gpa{base}};
  auto cfg = [&](std::uint64_t desc, std::uint64_t drv, std::uint64_t dev) {
    return queue_config{8, gpa{base + desc}, gpa{base + drv}, gpa{base + dev}, pfeatures(false)};
  };
  device d{mem};
  vireo::ring::packed_driver<flat_memory, 64> drv{mem};
  // Exactly the minimum alignments are accepted: ring 16 (not 32), each event area 4 (not 8).
  CHECK(d.configure(cfg(0x010, 0x1004, 0x100c)).has_value());
  CHECK(drv.configure(cfg(0x010, 0x1004, 0x100c)).has_value());
  for (std::uint64_t bad : {1u, 2u, 4u, 8u, 12u}) {
    CAPTURE(bad);
    CHECK(err(d.configure(cfg(0x100 + bad, 0x1000, 0x1004))) == errc::ring_misaligned);
    CHECK(err(drv.configure(cfg(0x100 + bad, 0x1000, 0x1004))) == errc::ring_misaligned);
  }
  for (std::uint64_t bad : {1u, 2u, 3u}) {
    CAPTURE(bad);
    CHECK(err(d.configure(cfg(0x000, 0x1000 + bad, 0x1008))) == errc::ring_misaligned);
    CHECK(err(drv.configure(cfg(0x000, 0x1000 + bad, 0x1008))) == errc::ring_misaligned);
    CHECK(err(d.configure(cfg(0x000, 0x1000, 0x1008 + bad))) == errc::ring_misaligned);
    CHECK(err(drv.configure(cfg(0x000, 0x1000, 0x1008 + bad))) == errc::ring_misaligned);
  }
  CHECK(!d.ready());
  CHECK(!drv.ready());
  // Not P1, but next to it: an area outside guest memory is ring_not_mapped.
  CHECK(err(d.configure(cfg(0x000, 0x1000, 0x4000))) == errc::ring_not_mapped);
  CHECK(err(drv.configure(cfg(0x3fc0, 0x1000, 0x1004))) == errc::ring_not_mapped);
  // The mock lays its areas out at those alignments too.
  mock m{popts(5)};
  CHECK(m.config().desc_table.raw() % 16 == 0);
  CHECK(m.config().driver_area.raw() % 4 == 0);
  CHECK(m.config().device_area.raw() % 4 == 0);
}

TEST_CASE("P1 driver and device: any queue size 1..32768 works, power of two or not; 0 and 32769 are refused") {
  constexpr std::uint64_t base = 0x10000, desc = 0, drv_area = 0x80000, dev_area = 0x80004, data = 0x80010;
  ram r(0x81000);
  flat_memory mem{r.view(), gpa{base}};
  device d{mem};
  auto drv = std::make_unique<vireo::ring::packed_driver<flat_memory, 32768>>(mem);
  auto cfg = [&](std::uint32_t n) {
    return queue_config{static_cast<std::uint16_t>(n), gpa{base + desc}, gpa{base + drv_area},
                        gpa{base + dev_area}, pfeatures(false)};
  };
  for (std::uint32_t bad : {0u, 32769u, 40000u, 65535u}) {
    CAPTURE(bad);
    CHECK(err(d.configure(cfg(bad))) == errc::bad_queue_size);
    CHECK(err(drv->configure(cfg(bad))) == errc::bad_queue_size);
  }
  for (std::uint32_t n : {1u, 2u, 3u, 5u, 6u, 100u, 255u, 256u, 1000u, 24576u, 32767u, 32768u}) {
    CAPTURE(n);
    REQUIRE(drv->configure(cfg(n)).has_value());
    REQUIRE(d.configure(cfg(n)).has_value());
    // Small rings go round several laps (slot and wrap arithmetic at odd sizes); large ones a
    // few requests.
    const std::uint32_t rounds = n <= 8 ? 3 * n + 1 : 3;
    for (std::uint32_t k = 0; k < rounds; ++k) {
      const buffer w{gpa{base + data}, 16};
      auto id = drv->add({}, std::span{&w, 1}, 77 + k);
      REQUIRE(id.has_value());
      auto c = d.pop();
      REQUIRE(c.has_value());
      REQUIRE(!c->empty());
      CHECK(c->id() == *id);
      CHECK(c->writable_len() == 16);
      REQUIRE(d.push_used(*c, 9).has_value());
      auto u = drv->reclaim();
      REQUIRE(u.has_value());
      REQUIRE(u->has_value());
      CHECK((*u)->id == *id);
      CHECK((*u)->len == 9);
      CHECK((*u)->user_data == 77 + k);
    }
    CHECK(d.state().next_avail == adv(first_pos, rounds, static_cast<std::uint16_t>(n)));
  }
  // A driver built for smaller queues refuses a larger (valid) size.
  vireo::ring::packed_driver<flat_memory, 256> small{mem};
  CHECK(err(small.configure(cfg(257))) == errc::bad_queue_size);
  CHECK(small.configure(cfg(255)).has_value());
}

// ---- P2: ring order ------------------------------------------------------------------------------

TEST_CASE("P2 device: lists are taken strictly in ring order; only the slot at the avail cursor is polled") {
  rig t{popts(8, pfeatures(false))};
  const gpa buf = t.m.alloc(16);
  // B is made available at slots 2-3 before anything is at slot 0: the device must not take it.
  t.m.publish_chain(2, true, {desc_fields{buf.raw(), 4, 2, desc_flag::next}, desc_fields{buf.raw(), 4, 2, 0}});
  auto none = t.d.pop();
  REQUIRE(none.has_value());
  CHECK(none->empty());
  CHECK(*t.d.available() == 0);
  t.m.publish_chain(0, true, {desc_fields{buf.raw(), 4, 1, desc_flag::next}, desc_fields{buf.raw(), 4, 1, 0}});
  CHECK(*t.d.available() == 2);
  auto a = t.pop_ok();
  CHECK(a.id() == 1);
  CHECK(a.token().seq == first_pos);
  auto b = t.pop_ok();
  CHECK(b.id() == 2);
  CHECK(b.token().seq == (first_pos | 2));
  CHECK(t.d.pop()->empty());

  // With the real driver over many laps and out-of-order completion: pops come in the order the
  // lists were made available, each starting where the driver published it.
  rig r{popts(7, pfeatures(true), 4)};
  const auto some = r.bufs(3, 4);
  std::mt19937 rng{2};
  std::deque<std::pair<std::uint16_t, pos>> published;  // id, position
  std::vector<chain> held;
  for (int step = 0; step < 3000; ++step) {
    if (rng() % 2) {
      const pos at = r.m.driver().avail_index();
      auto id = r.m.driver().add({}, std::span{some}.first(1 + rng() % 3), 0,
                                 rng() % 3 == 0 ? add_mode::indirect : add_mode::automatic);
      if (id) published.emplace_back(*id, at);
    } else if (rng() % 2) {
      auto c = r.d.pop();
      REQUIRE(c.has_value());
      if (c->empty()) {
        CHECK(published.empty());
      } else {
        REQUIRE(!published.empty());
        CHECK(c->id() == published.front().first);
        CHECK(c->token().seq == published.front().second);
        published.pop_front();
        held.push_back(*c);
      }
    } else if (!held.empty()) {
      const std::size_t k = rng() % held.size();
      REQUIRE(r.d.push_used(held[k], 0).has_value());
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
      (void)r.reclaim_ok();
    }
  }
}

// ---- P3: completion order (and §7.4 out of order, different lengths) ---------------------------

TEST_CASE("P3 device (§7.4): out-of-order completion of lists of different lengths: used descriptors in completion order, the cursor moves by the completed list's slots") {
  rig t{popts(8, pfeatures(false))};
  auto& drv = t.m.driver();
  const auto a_in = pattern(10, 1), a_in2 = pattern(6, 2), c_in = pattern(9, 3);
  const buffer wa{t.m.alloc(8), 8}, wb{t.m.alloc(5), 5}, wc{t.m.alloc(7), 7}, wd{t.m.alloc(3), 3};
  const std::vector<buffer> ra{{t.m.put(a_in), 10}, {t.m.put(a_in2), 6}}, rc{{t.m.put(c_in), 9}};
  auto a = drv.add(ra, std::span{&wa, 1}, 'a');  // slots 0-2
  auto b = drv.add({}, std::span{&wb, 1}, 'b');  // slot 3
  auto c = drv.add(rc, std::span{&wc, 1}, 'c');  // slots 4-5
  auto dd = drv.add(rc, std::span{&wd, 1}, 'd'); // slots 6-7
  REQUIRE((a && b && c && dd));
  auto ca = t.pop_ok(), cb = t.pop_ok(), cc = t.pop_ok(), cd = t.pop_ok();
  CHECK(ca.token().slots == 3);
  CHECK(cb.token().slots == 1);
  CHECK(cc.token().slots == 2);
  CHECK(cd.token().slots == 2);

  struct expect {
    chain* ch;
    std::uint32_t len;
    std::uint16_t at;  // slot the used descriptor must land on
    std::uint64_t user;
  };
  // Completion order C, A, D, B: used descriptors at slots 0, 2, 5, 7 (0 + 2, + 3, + 2).
  const expect order[] = {{&cc, 7, 0, 'c'}, {&ca, 8, 2, 'a'}, {&cd, 3, 5, 'd'}, {&cb, 0, 7, 'b'}};
  for (const auto& e : order) {
    CHECK(off_of(t.d.state().used_idx) == e.at);
    (void)write_all(*e.ch, pattern(e.len, e.at));
    REQUIRE(t.d.push_used(*e.ch, e.len).has_value());
    const desc_fields u = t.m.read_desc(e.at);
    CHECK(u.id == e.ch->id());
    CHECK(u.len == e.len);
    CHECK(packed_flag::is_used(u.flags, true));
    if (e.ch == &cc) {
      // C's used descriptor overwrote A's head: A's chain was copied at pop time.
      auto both = a_in;
      both.insert(both.end(), a_in2.begin(), a_in2.end());
      CHECK(read_all(ca) == both);
    }
  }
  CHECK(t.d.state().used_idx == 0);  // slot 0, used wrap counter flipped to 0
  // The driver reclaims in completion order, moving by the slot count it recorded per id.
  for (const auto& e : order) {
    const used_buffer u = t.reclaim_ok();
    CHECK(u.user_data == e.user);
    CHECK(u.len == e.len);
  }
  auto none = drv.reclaim();
  REQUIRE(none.has_value());
  CHECK(!none->has_value());
  CHECK(drv.free_descriptors() == 8);

  // A batch is written in its own order too, and a random run of mixed lengths keeps both
  // cursors in step.
  std::mt19937 rng{3};
  const auto fixed = t.bufs(4, 4);
  std::vector<std::pair<chain, std::uint64_t>> held;
  std::deque<std::pair<std::uint64_t, std::uint32_t>> completed;  // user, len, in completion order
  std::uint64_t user = 100;
  for (int step = 0; step < 2000; ++step) {
    if (rng() % 2) {
      const std::size_t nb = 1 + rng() % 4;
      auto id = drv.add({}, std::span{fixed}.first(nb), user);
      if (id) held.emplace_back(t.pop_ok(), user++);
    } else if (!held.empty()) {
      std::shuffle(held.begin(), held.end(), rng);
      const std::size_t k = 1 + rng() % held.size();
      std::vector<used_entry> batch;
      for (std::size_t i = 0; i < k; ++i) {
        const auto len = static_cast<std::uint32_t>(rng() % (held[i].first.writable_len() + 1));
        batch.push_back({held[i].first.token(), len});
        completed.emplace_back(held[i].second, len);
      }
      pos at = t.d.state().used_idx;
      REQUIRE(t.d.push_used(batch).has_value());
      for (const auto& e : batch) {  // each entry at the cursor the previous one left
        const desc_fields u = t.m.read_desc(off_of(at));
        CHECK(packed_flag::is_used(u.flags, wrap_of(at)));
        CHECK(u.id == e.token.id);
        CHECK(u.len == e.len);
        at = adv(at, e.token.slots, 8);
      }
      CHECK(t.d.state().used_idx == at);
      held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(k));
      while (!completed.empty()) {
        const used_buffer u = t.reclaim_ok();
        CHECK(u.user_data == completed.front().first);
        CHECK(u.len == completed.front().second);
        completed.pop_front();
      }
    }
  }
}

// ---- P4 / P6: what the device writes ----------------------------------------------------------

namespace {

/// Random traffic through our driver and our device in which every device operation is audited
/// byte by byte: a push may change only the len, id and flags of the slots its used descriptors
/// go to (never addr, never a readable buffer, a table or the driver's event area: P4), and never
/// a slot it already marked used in this lap (P6); enable/disable_notifications and pop may
/// change only the device event area; needs_notification nothing.
void audit_device_writes(bool event_idx, bool in_order, std::uint32_t seed) {
  constexpr std::uint16_t n = 7;
  rig t{popts(n, pfeatures(true, event_idx, in_order), 4, 2048)};
  auto& drv = t.m.driver();
  std::mt19937 rng{seed};
  // Fixed buffers (so memory stays small and every snapshot cheap): readable ones hold a
  // pattern, writable ones are written by the test before each audited push.
  std::vector<buffer> rd_pool, wr_pool;
  for (std::uint32_t i = 0; i < 8; ++i) {
    const std::uint32_t len = 1 + (i * 7) % 24;
    rd_pool.push_back({t.m.put(pattern(len, i)), len});
    wr_pool.push_back({t.m.alloc(len), len});
  }
  std::set<std::uint16_t> used_by_device;  // slots marked used and not made available again
  std::vector<chain> held;
  auto allow_slot = [&](std::vector<bool>& ok, std::uint16_t slot) {
    for (std::size_t i = 8; i < 16; ++i) ok[t.slot_offset(slot) + i] = true;  // len, id, flags
  };
  auto allow_device_event = [&](std::vector<bool>& ok) {
    for (std::size_t i = 0; i < 4; ++i) ok[t.offset_of(t.m.config().device_area) + i] = true;
  };
  auto audited = [&](auto&& op, auto&& allowed) {
    const auto before = t.snapshot();
    op();
    const auto after = t.snapshot();
    std::vector<bool> ok(before.size(), false);
    allowed(ok);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < before.size(); ++i)
      if (before[i] != after[i] && !ok[i]) ++bad;
    CHECK(bad == 0);
  };
  for (int step = 0; step < 1000; ++step) {
    switch (rng() % 6) {
      case 0:
      case 1: {  // the driver makes a list available: its slots are no longer "used"
        const std::size_t nb = 1 + rng() % 4, nr = rng() % (nb + 1);
        const pos at = drv.avail_index();
        const std::uint16_t free_before = drv.free_descriptors();
        std::vector<buffer> rd, wr;
        for (std::size_t i = 0; i < nb; ++i) (i < nr ? rd : wr).push_back((i < nr ? rd_pool : wr_pool)[rng() % 8]);
        auto id = drv.add(rd, wr, 0, static_cast<add_mode>(rng() % 3));
        if (id)
          for (std::uint16_t k = 0; k < free_before - drv.free_descriptors(); ++k)
            used_by_device.erase(off_of(adv(at, k, n)));
        break;
      }
      case 2: {  // pop
        audited([&] {
          for (;;) {
            auto c = t.d.pop();
            REQUIRE(c.has_value());
            if (c->empty()) break;
            held.push_back(*c);
          }
        }, [&](std::vector<bool>& ok) { allow_device_event(ok); });
        break;
      }
      case 3: {  // complete some, one by one or as a batch
        if (held.empty()) break;
        if (!in_order) std::shuffle(held.begin(), held.end(), rng);
        const std::size_t k = 1 + rng() % held.size();
        std::vector<used_entry> batch;
        for (std::size_t i = 0; i < k; ++i) {
          const std::uint32_t wl = held[i].writable_len();
          std::uint32_t len = static_cast<std::uint32_t>(rng() % (wl + 1));
          if (in_order && i + 1 < k && rng() % 2) len = wl;  // sometimes collapsible
          (void)write_all(held[i], pattern(len, static_cast<std::uint32_t>(step)));
          batch.push_back({held[i].token(), len});
        }
        const bool as_batch = rng() % 2 != 0;
        const bool collapsed = as_batch && in_order &&
                               std::all_of(batch.begin(), batch.end() - 1, [](const used_entry& e) {
                                 return e.len == e.token.writable_len;
                               });
        // The slots the used descriptors go to.
        std::vector<std::uint16_t> slots;
        pos at = t.d.state().used_idx;
        for (const auto& e : batch) {
          if (!collapsed || slots.empty()) slots.push_back(off_of(at));
          at = adv(at, e.token.slots, n);
        }
        for (std::uint16_t s : slots) {
          CHECK(used_by_device.count(s) == 0);  // P6: never a slot already marked used
          used_by_device.insert(s);
        }
        audited([&] {
          if (as_batch) {
            REQUIRE(t.d.push_used(batch).has_value());
          } else {
            for (const auto& e : batch) REQUIRE(t.d.push_used(e.token, e.len).has_value());
          }
        }, [&](std::vector<bool>& ok) {
          for (std::uint16_t s : slots) allow_slot(ok, s);
        });
        held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(k));
        break;
      }
      case 4: {  // notification traffic
        audited([&] {
          (void)t.d.needs_notification();
          if (rng() % 2) t.d.disable_notifications();
          else (void)t.d.enable_notifications();
        }, [&](std::vector<bool>& ok) { allow_device_event(ok); });
        break;
      }
      default: {  // the driver reclaims
        for (;;) {
          auto u = drv.reclaim();
          REQUIRE(u.has_value());
          if (!*u) break;
        }
        break;
      }
    }
  }
}

}  // namespace

TEST_CASE("P4 P6 device: a push writes only len, id and flags of its used slots, never a readable buffer, a table or the driver's area, and never a slot it already marked used") {
  std::uint32_t seed = 40;
  for (const bool event_idx : {false, true})
    for (const bool in_order : {false, true}) {
      CAPTURE(event_idx);
      CAPTURE(in_order);
      audit_device_writes(event_idx, in_order, seed++);
    }
}

// ---- P5: the AVAIL bit --------------------------------------------------------------------------

TEST_CASE("P5 device: a descriptor is used only after its AVAIL bit changed; zeroed, stale, used-looking slots are not available") {
  constexpr std::uint16_t n = 3;
  rig t{popts(n, pfeatures(false))};
  const gpa buf = t.m.alloc(16);
  // A zeroed ring has nothing available (§2.8.13: zero reads as "used in phase 0").
  CHECK(t.d.pop()->empty());
  pos at = first_pos;
  for (std::uint16_t k = 0; k < 4 * n; ++k) {
    const std::uint16_t slot = off_of(at);
    const bool w = wrap_of(at);
    CAPTURE(k);
    // A fully written descriptor whose AVAIL/USED bits do not say "available in phase w".
    for (const std::uint16_t marks :
         {packed_flag::avail_marks(!w), packed_flag::used_marks(w), packed_flag::used_marks(!w),
          std::uint16_t{0}, marks_mask}) {
      t.m.write_desc(slot, buf.raw(), 4, k, marks);
      auto c = t.d.pop();
      REQUIRE(c.has_value());
      CHECK(c->empty());
      CHECK(*t.d.available() == 0);
      CHECK(!*t.d.enable_notifications());
    }
    // Now the AVAIL bit changes to the expected phase: the device takes it.
    t.m.write_desc(slot, buf.raw(), 4, k, packed_flag::avail_marks(w));
    auto c = t.pop_ok();
    CHECK(c.id() == k);
    CHECK(c.token().seq == at);
    REQUIRE(t.d.push_used(c, 0).has_value());
    at = adv(at, 1, n);
  }
  // Inside a list too: a second descriptor still in the old phase is not part of the list; its
  // end is unknown, so the ring cannot be parsed past it (desc_not_available breaks the queue).
  const std::uint16_t slot = off_of(at);
  const bool w = wrap_of(at);
  const std::uint16_t next_slot = off_of(adv(at, 1, n));
  t.m.write_desc(next_slot, buf.raw(), 4, 9, packed_flag::avail_marks(!wrap_of(adv(at, 1, n))));
  t.m.write_desc(slot, buf.raw(), 4, 9, static_cast<std::uint16_t>(packed_flag::avail_marks(w) | desc_flag::next));
  CHECK(err(t.d.pop()) == errc::desc_not_available);
  CHECK(t.d.broken());
}

// ---- P7 / P8: what the driver writes ------------------------------------------------------------

TEST_CASE("P7 driver: a slot is written again only after the driver has seen it come back used") {
  rig t{popts(4, pfeatures(false))};
  auto& drv = t.m.driver();
  auto a = drv.add({}, t.bufs(2, 8), 'a');  // slots 0, 1
  auto b = drv.add({}, t.bufs(2, 8), 'b');  // slots 2, 3
  REQUIRE((a && b));
  const auto one = t.bufs(1, 8), two = t.bufs(2, 8), three = t.bufs(3, 8);
  auto unchanged = [&](auto&& op) {
    const auto before = t.snapshot();
    op();
    CHECK(t.snapshot() == before);
  };
  unchanged([&] { CHECK(err(drv.add({}, one)) == errc::ring_full); });
  // B comes back first, but in the wrong phase (AVAIL = USED = 0): not used, nothing is free.
  t.m.write_used(0, *b, 0, packed_flag::used_marks(false));
  unchanged([&] {
    auto u = drv.reclaim();
    REQUIRE(u.has_value());
    CHECK(!u->has_value());
    CHECK(err(drv.add({}, one)) == errc::ring_full);
  });
  // Marked used in phase 1 but not yet reclaimed: the driver has not observed it, so still full.
  t.m.mark_used(0, *b, 0, true);
  unchanged([&] { CHECK(err(drv.add({}, one)) == errc::ring_full); });
  const used_buffer ub = t.reclaim_ok();
  CHECK(ub.id == *b);
  // B's used descriptor returned two slots (0 and 1, B's count): a 3-list does not fit, a 2-list
  // goes exactly there, in phase 0.
  unchanged([&] { CHECK(err(drv.add({}, three)) == errc::ring_full); });
  const auto before = t.snapshot();
  auto c = drv.add({}, two, 'c');
  REQUIRE(c.has_value());
  const auto after = t.snapshot();
  std::size_t outside = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    const bool in_slots = i >= t.slot_offset(0) && i < t.slot_offset(2);
    if (before[i] != after[i] && !in_slots) ++outside;
  }
  CHECK(outside == 0);
  CHECK(t.m.read_desc(0).flags == (packed_flag::avail_marks(false) | desc_flag::write | desc_flag::next));
  CHECK(t.m.read_desc(1).flags == (packed_flag::avail_marks(false) | desc_flag::write));
  CHECK(err(drv.add({}, one)) == errc::ring_full);  // A still holds two slots
}

TEST_CASE("P7 P8 driver: no driver operation writes a slot it has exposed and not seen come back, nor the table of a buffer in flight") {
  for (int f = 0; f < 8; ++f) {
    const bool indirect = (f & 1) != 0, event_idx = (f & 2) != 0, in_order = (f & 4) != 0;
    CAPTURE(f);
    packed_harness q{{7, features(indirect, event_idx, in_order), static_cast<std::uint16_t>(indirect ? 4 : 0)}};
    std::mt19937 rng{static_cast<std::uint32_t>(70 + f)};
    std::vector<std::uint16_t> in_flight;
    std::vector<chain> held;
    auto guarded = [&](auto&& op) {
      const auto regions = q.driver_must_not_touch(in_flight);
      const auto before = q.bytes_of(regions);
      op();
      CHECK(q.bytes_of(regions) == before);
    };
    for (int step = 0; step < 600; ++step) {
      switch (rng() % 6) {
        case 0:
        case 1: {
          std::vector<buffer> wr(1 + rng() % 4, buffer{q.m().alloc(4), 4});
          guarded([&] {
            auto id = q.add_bufs({}, wr, 0, static_cast<add_mode>(rng() % 3));
            if (id) in_flight.push_back(*id);
          });
          break;
        }
        case 2:
          guarded([&] { (void)q.drv().needs_kick(); });
          guarded([&] {
            if (rng() % 2) q.drv().disable_interrupts();
            else (void)q.drv().enable_interrupts();
          });
          break;
        case 3:
          for (;;) {
            auto c = q.dev().pop();
            REQUIRE(c.has_value());
            if (c->empty()) break;
            held.push_back(*c);
          }
          break;
        case 4: {
          if (held.empty()) break;
          if (!in_order) std::shuffle(held.begin(), held.end(), rng);
          const std::size_t k = 1 + rng() % held.size();
          std::vector<used_entry> batch;
          for (std::size_t i = 0; i < k; ++i)
            batch.push_back({held[i].token(), rng() % 2 ? held[i].writable_len() : 0u});
          REQUIRE(q.dev().push_used(batch).has_value());
          held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(k));
          break;
        }
        default:
          guarded([&] {
            auto u = q.reclaim();
            REQUIRE(u.has_value());
            if (*u) in_flight.erase(std::find(in_flight.begin(), in_flight.end(), (*u)->id));
          });
          break;
      }
      if (in_flight.empty()) q.m().reset_arena();
    }
  }
}

// ---- P9: NOTIFICATION_DATA ----------------------------------------------------------------------

TEST_CASE("P9 driver: with NOTIFICATION_DATA, next_off/next_wrap name the first slot not yet made available; repeats are harmless") {
  constexpr std::uint16_t n = 5;
  rig t{popts(n, with(pfeatures(true), transport_feature::notification_data), 4)};
  auto& drv = t.m.driver();
  std::mt19937 rng{9};
  CHECK(drv.avail_index() == first_pos);
  for (int k = 0; k < 600; ++k) {
    auto id = drv.add({}, t.bufs(1 + rng() % 4, 4), 0, static_cast<add_mode>(rng() % 3));
    REQUIRE(id.has_value());
    const auto note = vireo::ring::decode_notification(vireo::ring::encode_notification({2, drv.avail_index()}));
    CHECK(note.queue == 2);
    REQUIRE(vireo::ring::validate_notification(note, 3, n, true).has_value());
    // The slot just before next_off (in its own phase) was made available by this add; the slot
    // at next_off is not available in phase next_wrap.
    const pos prev = adv(note.next, -1, n);
    CHECK(packed_flag::is_avail(t.m.desc_flags(off_of(prev)), wrap_of(prev)));
    CHECK(!packed_flag::is_avail(t.m.desc_flags(note.next_off()), note.next_wrap()));
    CHECK(drv.avail_index() == note.next);  // asking again gives the same value
    // The device, having taken everything, stands exactly at next_off/next_wrap; the same
    // notification again finds nothing and changes nothing.
    auto c = t.pop_ok();
    CHECK(t.d.state().next_avail == note.next);
    CHECK(t.d.pop()->empty());
    CHECK(!*t.d.enable_notifications());
    CHECK(t.d.state().next_avail == note.next);
    REQUIRE(t.d.push_used(c, 0).has_value());
    (void)t.reclaim_ok();
    if (k % 64 == 0) t.m.reset_arena();
  }
}

// ---- P10 / P11 / P12: lists the driver writes ---------------------------------------------------

TEST_CASE("P10 driver: a list spans at most the queue size: exactly N slots from any start, ending without NEXT; N + 1 buffers are refused") {
  constexpr std::uint16_t n = 5;
  rig t{popts(n, pfeatures(true), 8)};
  auto& drv = t.m.driver();
  for (std::uint16_t start = 0; start < 2 * n; ++start) {
    CAPTURE(start);
    const pos at = drv.avail_index();
    auto id = drv.add(t.bufs(2, 4), t.bufs(3, 4), start);
    REQUIRE(id.has_value());
    for (std::uint16_t k = 0; k < n; ++k) {  // the whole ring, wrapping mid-list unless at slot 0
      const pos p = adv(at, k, n);
      const desc_fields d = t.m.read_desc(off_of(p));
      CHECK((d.flags & marks_mask) == packed_flag::avail_marks(wrap_of(p)));
      CHECK(((d.flags & desc_flag::next) != 0) == (k + 1 < n));
      CHECK(d.id == *id);
    }
    auto c = t.pop_ok();
    CHECK(c.token().slots == n);
    REQUIRE(t.d.push_used(c, 0).has_value());
    CHECK(t.reclaim_ok().user_data == start);
    // One slot more each time, so that the next list starts one slot further on.
    REQUIRE(drv.add({}, t.bufs(1, 4)).has_value());
    REQUIRE(t.d.push_used(t.pop_ok(), 0).has_value());
    (void)t.reclaim_ok();
    t.m.reset_arena();
  }
  const auto six = t.bufs(6, 4);
  const auto before = t.snapshot();
  for (const add_mode mode : {add_mode::direct, add_mode::indirect, add_mode::automatic})
    CHECK(err(drv.add({}, six, 0, mode)) == errc::invalid_argument);  // the pool table holds 8
  CHECK(t.snapshot() == before);
}

TEST_CASE("P11 driver: WRITE marks exactly the writable buffers, which follow the readable ones, across the wrap and in tables") {
  packed_harness q{{5, features(true), 5}};
  for (int round = 0; round < 3; ++round)
    for (std::uint16_t nr = 0; nr <= 5; ++nr)
      for (std::uint16_t nw = 0; nr + nw <= 5; ++nw) {
        if (nr + nw == 0) continue;
        CAPTURE(nr);
        CAPTURE(nw);
        for (const add_mode mode : {add_mode::direct, add_mode::indirect}) {
          std::vector<buffer> rd, wr;
          for (std::uint16_t i = 0; i < nr; ++i) rd.push_back({q.m().alloc(4), 4});
          for (std::uint16_t i = 0; i < nw; ++i) wr.push_back({q.m().alloc(4), 4});
          auto id = q.add_bufs(rd, wr, 0, mode);
          REQUIRE(id.has_value());
          const written_chain w = q.read_written(*id);
          REQUIRE(w.descs.size() == std::size_t{nr} + nw);
          CHECK(w.indirect == (mode == add_mode::indirect));
          for (std::size_t i = 0; i < w.descs.size(); ++i) {
            CHECK(((w.descs[i].flags & desc_flag::write) != 0) == (i >= nr));
            if (w.indirect) CHECK(w.descs[i].marks == 0);
          }
          auto c = q.pop_ok();
          CHECK(c.readable().size() == nr);
          CHECK(c.writable().size() == nw);
          REQUIRE(q.dev().push_used(c, 0).has_value());
          (void)q.reclaim_ok();
          q.m().reset_arena();
        }
      }
}

TEST_CASE("P12 driver: room for the whole list is checked before anything is exposed; the device then sees it whole") {
  constexpr std::uint16_t n = 6;
  rig t{popts(n, pfeatures(false))};
  auto& drv = t.m.driver();
  auto a = drv.add(t.bufs(1, 4), t.bufs(3, 4), 'a');  // slots 0-3
  REQUIRE(a.has_value());
  const auto three = t.bufs(3, 4), two = t.bufs(2, 4), four = t.bufs(4, 4);
  const auto before = t.snapshot();
  for (const add_mode mode : {add_mode::direct, add_mode::automatic})
    CHECK(err(drv.add({}, three, 0, mode)) == errc::ring_full);  // 2 free: nothing written
  CHECK(t.snapshot() == before);
  CHECK(drv.free_descriptors() == 2);
  CHECK(drv.in_flight() == 1);
  CHECK(drv.avail_index() == (first_pos | 4));
  auto b = drv.add({}, two, 'b');  // slots 4, 5: exactly the room left
  REQUIRE(b.has_value());
  // The device takes both lists whole, with nothing more from the driver.
  auto ca = t.pop_ok();
  CHECK(ca.token().slots == 4);
  auto cb = t.pop_ok();
  CHECK(cb.token().slots == 2);
  CHECK(cb.writable_len() == 8);
  REQUIRE(t.d.push_used(ca, 0).has_value());
  (void)t.reclaim_ok();
  // Four slots free again (0-3, phase 0): a four-list fits exactly, and the device sees it whole.
  auto c = drv.add(two, std::span{four}.first(2), 'c');
  REQUIRE(c.has_value());
  CHECK(err(drv.add({}, two)) == errc::ring_full);
  auto cc = t.pop_ok();
  CHECK(cc.token().slots == 4);
  CHECK(cc.token().seq == 0);  // slot 0, phase 0
}

// ---- P13 / P16: publication order (two threads) ----------------------------------------------

TEST_CASE("P13 P16 driver: a list becomes available all at once: its head's flags are stored after every other field (two threads)") {
  constexpr std::uint16_t n = 61;
  constexpr std::uint64_t lists = 12000;
  mock m{popts(n)};
  auto& drv = m.driver();
  std::byte* ring = m.host(m.config().desc_table, 16u * n).data();
  auto addr_of = [](std::uint64_t seq, std::uint32_t i) { return 0x20'0000'0000ull + seq * 1024 + i * 16; };
  // Long lists (6..32 descriptors, several cache lines): a head published too early leaves the
  // device a window to see the list's tail still stale.
  auto count_of = [](std::uint64_t seq) { return static_cast<std::uint32_t>(6 + seq % 27); };
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> bad{0};
  std::mutex mu;
  std::string first_error;
  auto fail = [&](const std::string& what) {
    if (bad.fetch_add(1) == 0) {
      std::lock_guard<std::mutex> lock{mu};
      first_error = what;
    }
    stop.store(true);
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  // The device thread (no doctest assertions off the test thread): poll the head's flags with
  // acquire; the moment the head is available every other slot of the list must be complete.
  std::thread dev([&] {
    pos avail = first_pos, used = first_pos;
    std::uint32_t misses = 0;
    for (std::uint64_t seq = 0; seq < lists && !stop.load(std::memory_order_relaxed);) {
      const std::uint16_t head_flags = vireo::detail::atomic_load_le16(
          ring + 16u * off_of(avail) + 14, std::memory_order_acquire);
      if (!packed_flag::is_avail(head_flags, wrap_of(avail))) {
        if (++misses % 1024 == 0) {
          if (std::chrono::steady_clock::now() > deadline) return fail("device: deadline");
          std::this_thread::yield();
        }
        continue;
      }
      const std::uint32_t k = count_of(seq);
      vireo::le16 head_id;
      std::memcpy(&head_id, ring + 16u * off_of(avail) + 12, 2);
      const std::uint16_t id = head_id.get();
      // The last descriptor first: it is the one a too-early head would leave stale longest.
      for (std::uint32_t j = 0; j < k; ++j) {
        const std::uint32_t i = k - 1 - j;
        const pos at = adv(avail, i, n);
        const std::byte* p = ring + 16u * off_of(at);
        const std::uint16_t f = vireo::detail::atomic_load_le16(p + 14, std::memory_order_relaxed);
        vireo::ring::packed_desc d;
        std::memcpy(&d, p, 14);
        const auto want = static_cast<std::uint16_t>(packed_flag::avail_marks(wrap_of(at)) |
                                                     (i + 1 < k ? desc_flag::next : 0));
        if (f != want || d.addr.get() != addr_of(seq, i) || d.len.get() != i + 1)
          return fail("device: list " + std::to_string(seq) + " incomplete at descriptor " + std::to_string(i));
        if (d.id.get() != id) return fail("device: ids differ within a list");
      }
      avail = adv(avail, k, n);
      m.mark_used(off_of(used), id, 0, wrap_of(used));
      used = adv(used, k, n);
      ++seq;
    }
  });
  joiner guard{dev, stop};
  std::deque<std::uint64_t> pending;
  std::uint64_t next = 0, done = 0;
  while (done < lists && !stop.load(std::memory_order_relaxed)) {
    if (next < lists) {
      std::vector<buffer> r;
      for (std::uint32_t i = 0; i < count_of(next); ++i) r.push_back({gpa{addr_of(next, i)}, i + 1});
      auto id = drv.add(r, {}, next);
      if (id.has_value()) {
        pending.push_back(next++);
        continue;
      }
      if (err(id) != errc::ring_full) fail("driver: add failed");
    }
    auto u = drv.reclaim();
    if (!u.has_value()) {
      fail("driver: reclaim failed");
    } else if (u->has_value()) {
      if (pending.empty() || (*u)->user_data != pending.front()) fail("driver: out of order");
      else pending.pop_front();
      ++done;
    } else if (std::chrono::steady_clock::now() > deadline) {
      fail("driver: deadline");
    } else {
      std::this_thread::yield();
    }
  }
  stop.store(true);
  dev.join();
  {
    std::lock_guard<std::mutex> lock{mu};
    CHECK_MESSAGE(bad.load() == 0, first_error);
  }
  CHECK(done == lists);
  CHECK(drv.in_flight() == 0);
}

// ---- P14: list order, and the buffer id rule (interop) ------------------------------------------

TEST_CASE("P14 device: the descriptors of a list are used in the order made available, across the wrap; a device cap rejects one list only") {
  constexpr std::uint16_t n = 5;
  rig t{popts(n, pfeatures(false))};
  auto& drv = t.m.driver();
  for (std::uint32_t k = 0; k < 40; ++k) {
    const auto r1 = pattern(3 + k % 5, k), r2 = pattern(7, k + 100);
    const std::vector<buffer> rd{{t.m.put(r1), static_cast<std::uint32_t>(r1.size())}, {t.m.put(r2), 7}};
    const std::vector<buffer> wr{{t.m.alloc(5), 5}, {t.m.alloc(6), 6}};
    REQUIRE(drv.add(rd, wr, k).has_value());  // 4 slots: wraps mid-list on most laps
    auto c = t.pop_ok();
    auto both = r1;
    both.insert(both.end(), r2.begin(), r2.end());
    CHECK(read_all(c) == both);
    REQUIRE(c.writable().size() == 2);
    CHECK(c.writable()[0].addr == wr[0].addr);
    CHECK(c.writable()[1].addr == wr[1].addr);
    const auto reply = pattern(11, k + 7);
    CHECK(write_all(c, reply) == 11);
    CHECK(std::equal(reply.begin(), reply.begin() + 5, t.m.host(wr[0].addr, 5).begin()));
    CHECK(std::equal(reply.begin() + 5, reply.end(), t.m.host(wr[1].addr, 6).begin()));
    REQUIRE(t.d.push_used(c, 11).has_value());
    CHECK(t.reclaim_ok().user_data == k);
    t.m.reset_arena();
  }
  // A device may cap the list length (§2.8.18): with room for 3 segments a list of 4 non-empty
  // descriptors is rejected alone and the next list is served.
  mock m{popts(8, pfeatures(false))};
  vireo::ring::packed_device<flat_memory, 3> capped{m.memory()};
  REQUIRE(capped.configure(m.config()).has_value());
  REQUIRE(m.driver().add({}, std::vector<buffer>(4, buffer{m.alloc(4), 4})).has_value());
  REQUIRE(m.driver().add({}, std::vector<buffer>(3, buffer{m.alloc(4), 4}), 5).has_value());
  CHECK(err(capped.pop()) == errc::segment_limit);
  CHECK(!capped.broken());
  REQUIRE(capped.rejected().has_value());
  CHECK(capped.rejected()->slots == 4);
  REQUIRE(capped.push_used(*capped.rejected(), 0).has_value());
  auto ok = capped.pop();
  REQUIRE(ok.has_value());
  REQUIRE(!ok->empty());
  CHECK(ok->token().slots == 3);
  REQUIRE(capped.push_used(*ok, 0).has_value());
  auto u1 = m.driver().reclaim();
  REQUIRE(u1.has_value());
  REQUIRE(u1->has_value());
  CHECK((*u1)->len == 0);
  auto u2 = m.driver().reclaim();
  REQUIRE(u2.has_value());
  REQUIRE(u2->has_value());
  CHECK((*u2)->user_data == 5);
}

namespace {

/// Our device against a raw driver that writes buffer ids as `id_of(i, k, id)` says for
/// descriptor i of a k-descriptor list: lists of 1..4 descriptors, direct and indirect, over
/// several laps of a ring of 5. The device must report `id` (the last descriptor's, §2.8.6), and
/// the driver finds it in the used descriptor.
template <typename IdOf>
void our_device_against(IdOf id_of) {
  constexpr std::uint16_t n = 5;
  rig t{popts(n, pfeatures(true))};
  raw_driver drv{t.m};
  std::mt19937 rng{14};
  for (std::uint16_t k = 0; k < 200; ++k) {
    const auto id = static_cast<std::uint16_t>(k % n);
    const std::uint32_t count = 1 + rng() % 4;
    const auto in = pattern(6 * count, k);
    const gpa in_at = t.m.put(in);
    const gpa out = t.m.alloc(8);
    std::vector<desc_fields> list;
    for (std::uint32_t i = 0; i + 1 < count; ++i)
      list.push_back({in_at.raw() + 6u * i, 6, id_of(i, count, id), desc_flag::next});
    list.push_back({out.raw(), 8, id_of(count - 1, count, id), desc_flag::write});
    std::vector<std::byte> want(in.begin(), in.begin() + 6 * (count - 1));
    if (rng() % 3 == 0) {  // the same buffers through an indirect table: the ring slot's id
      const gpa table = t.m.alloc(16 * count, 16);
      for (std::uint32_t i = 0; i < count; ++i)
        t.m.write_desc_at(table.offset(16 * i), list[i].addr, list[i].len, 0,
                          static_cast<std::uint16_t>(list[i].flags & desc_flag::write));
      list = {desc_fields{table.raw(), 16 * count, id_of(0, 1, id), desc_flag::indirect}};
    }
    drv.publish(list, id);
    auto c = t.pop_ok();
    CHECK(c.id() == id);
    CHECK(c.token().slots == list.size());
    CHECK(read_all(c) == want);
    CHECK(write_all(c, pattern(8, k)) == 8);
    REQUIRE(t.d.push_used(c, 8).has_value());
    const auto u = drv.reap();
    REQUIRE(u.has_value());
    CHECK(u->id == id);
    CHECK(u->len == 8);
    CHECK(!drv.reap().has_value());
    t.m.reset_arena();
  }
}

}  // namespace

TEST_CASE("P14 interop: our device + a spec-minimal driver (buffer id only in the last descriptor)") {
  our_device_against([](std::uint32_t i, std::uint32_t k, std::uint16_t id) {
    return static_cast<std::uint16_t>(i + 1 == k ? id : 0xbad0 + i);
  });
}

TEST_CASE("P14 interop: our device + a Linux-like driver (buffer id in every descriptor)") {
  our_device_against([](std::uint32_t, std::uint32_t, std::uint16_t id) { return id; });
}

TEST_CASE("P14 interop: first and last ids differ: our device takes the last one (the spec's), not the first (QEMU's)") {
  rig t{popts(4, pfeatures(false))};
  raw_driver drv{t.m};
  const gpa b = t.m.alloc(8);
  drv.publish({{b.raw(), 4, 1, desc_flag::next}, {b.raw(), 4, 2, desc_flag::next}, {b.raw(), 4, 3, 0}}, 3);
  auto c = t.pop_ok();
  CHECK(c.id() == 3);
  REQUIRE(t.d.push_used(c, 0).has_value());
  const auto u = drv.reap();
  REQUIRE(u.has_value());
  CHECK(u->id == 3);
}

// ---- P15: indirect lists ------------------------------------------------------------------------

TEST_CASE("P15 driver: an indirect list is one slot: INDIRECT alone, table entries carry only WRITE, never INDIRECT inside a NEXT list") {
  constexpr std::uint16_t n = 4;
  packed_harness q{{n, features(true), 4}};
  const auto pool = q.m().pool();
  std::mt19937 rng{15};
  for (int k = 0; k < 300; ++k) {
    const std::size_t nb = 1 + rng() % 4, nr = rng() % (nb + 1);
    std::vector<buffer> rd, wr;
    for (std::size_t i = 0; i < nb; ++i) (i < nr ? rd : wr).push_back({q.m().alloc(4), 4});
    const auto mode = static_cast<add_mode>(rng() % 3);
    const pos at = q.drv_avail_pos();
    auto id = q.add_bufs(rd, wr, 0, mode);
    REQUIRE(id.has_value());
    const written_chain w = q.read_written(*id);
    if (w.indirect) {
      CHECK(mode != add_mode::direct);
      CHECK(q.drv_avail_pos() == adv(at, 1, n));               // one slot
      CHECK(w.top.flags == desc_flag::indirect);               // no NEXT, no WRITE
      CHECK(w.top.marks == packed_flag::avail_marks(wrap_of(at)));
      CHECK(w.top.id == *id);
      CHECK(w.top.len == 16 * nb);
      CHECK(w.top.addr == pool.base.raw() + std::uint64_t{*id} * 4 * 16);  // the id's table
      for (std::size_t i = 0; i < nb; ++i) {
        CHECK(w.descs[i].flags == (i >= nr ? desc_flag::write : 0));  // only WRITE, no NEXT
        CHECK(w.descs[i].marks == 0);
      }
    } else {
      CHECK(mode != add_mode::indirect);
      for (const written_desc& d : w.descs) CHECK((d.flags & desc_flag::indirect) == 0);
    }
    auto c = q.pop_ok();
    REQUIRE(q.dev().push_used(c, 0).has_value());
    (void)q.reclaim_ok();
    q.m().reset_arena();
  }
}

TEST_CASE("P15 device (robustness): INDIRECT in a NEXT list, with NEXT, inside a table or not negotiated: that list is rejected, the queue keeps serving") {
  for (const bool negotiated : {true, false}) {
    CAPTURE(negotiated);
    rig t{popts(8, pfeatures(negotiated))};
    raw_driver drv{t.m};
    const gpa b = t.m.alloc(16);
    const gpa table = t.m.alloc(32, 16);
    t.m.write_desc_at(table, b.raw(), 4, 0, 0);
    const gpa nested = t.m.alloc(32, 16);
    t.m.write_desc_at(nested, b.raw(), 4, 0, 0);
    t.m.write_desc_at(nested.offset(16), table.raw(), 16, 0, desc_flag::indirect);
    struct bad_list {
      std::vector<desc_fields> list;
      errc want;
    };
    const std::vector<bad_list> cases{
        {{{b.raw(), 4, 1, desc_flag::next}, {table.raw(), 16, 1, desc_flag::indirect}},
         negotiated ? errc::indirect_in_chain : errc::indirect_not_negotiated},
        {{{table.raw(), 16, 2, desc_flag::indirect | desc_flag::next}, {b.raw(), 4, 2, 0}},
         negotiated ? errc::indirect_with_next : errc::indirect_not_negotiated},
        {{{nested.raw(), 32, 3, desc_flag::indirect}},
         negotiated ? errc::indirect_in_indirect : errc::indirect_not_negotiated},
    };
    std::uint16_t good = 10;
    for (const auto& bl : cases) {
      const std::uint16_t id = bl.list.back().id;
      drv.publish(bl.list, id);
      CHECK(err(t.d.pop()) == bl.want);
      CHECK(!t.d.broken());
      REQUIRE(t.d.rejected().has_value());
      CHECK(t.d.rejected()->id == id);
      CHECK(t.d.rejected()->slots == bl.list.size());
      REQUIRE(t.d.push_used(*t.d.rejected(), 0).has_value());
      auto u = drv.reap();
      REQUIRE(u.has_value());
      CHECK(u->id == id);
      // The next list is served.
      drv.publish({{b.raw(), 4, good, 0}}, good);
      auto c = t.pop_ok();
      CHECK(c.id() == good);
      REQUIRE(t.d.push_used(c, 0).has_value());
      REQUIRE(drv.reap().has_value());
      ++good;
    }
  }
}

// ---- P17: reading the device's suppression structure -------------------------------------------

TEST_CASE("P17 driver: needs_kick() reads the Device Event Suppression structure when it decides, after the list is published") {
  rig t{popts(8, pfeatures(false, true))};
  auto& drv = t.m.driver();
  // The device disables kicks; the driver publishes; the device then re-enables (DESC at its
  // avail cursor, then re-checks the ring). The driver decides only now and must see that DESC:
  // either side finding the other's write is what keeps the queue from stalling.
  t.d.disable_notifications();
  REQUIRE(drv.add({}, t.bufs(2, 4)).has_value());
  auto again = t.d.enable_notifications();
  REQUIRE(again.has_value());
  CHECK(*again);            // the device's re-check finds the list
  CHECK(drv.needs_kick());  // and the driver's decision finds the device's DESC at slot 0
  auto c = t.pop_ok();
  REQUIRE(t.d.push_used(c, 0).has_value());
  (void)t.reclaim_ok();
  // Each kind of change made after add() is what the decision follows.
  struct change {
    std::uint16_t off_wrap;
    std::uint16_t flags;
    bool want;
  };
  for (const change ch : {change{0, event_flag::disable, false}, change{0, event_flag::enable, true},
                          change{make_off_wrap(3, true), event_flag::desc, true},   // the slot just published
                          change{make_off_wrap(4, true), event_flag::desc, false},  // the next one
                          change{make_off_wrap(3, false), event_flag::desc, false}}) {
    REQUIRE(drv.configure(t.m.config()).has_value());
    t.d.reset();
    REQUIRE(t.d.configure(t.m.config()).has_value());
    for (int k = 0; k < 3; ++k) {  // slots 0-2, decided
      REQUIRE(drv.add({}, t.bufs(1, 4)).has_value());
    }
    (void)drv.needs_kick();
    t.m.set_device_event(make_off_wrap(3, true), event_flag::desc);
    REQUIRE(drv.add({}, t.bufs(1, 4)).has_value());  // slot 3
    t.m.set_device_event(ch.off_wrap, ch.flags);
    CHECK(drv.needs_kick() == ch.want);
    t.m.reset_arena();
  }
}

// ---- P18: event suppression flags ---------------------------------------------------------------

TEST_CASE("P18 driver and device: flags written are ENABLE, DISABLE or DESC only, DESC only with EVENT_IDX, reserved bits 0") {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    rig t{popts(5, pfeatures(true, event_idx), 4)};
    auto& drv = t.m.driver();
    std::mt19937 rng{18};
    std::vector<chain> held;
    auto check_written = [&] {
      for (const auto ev : {t.m.driver_event(), t.m.device_event()}) {
        CHECK(ev.flags <= event_flag::desc);  // never 3, no reserved bit
        if (!event_idx) CHECK(ev.flags != event_flag::desc);
        if (!event_idx) CHECK(ev.off_wrap == 0);  // off_wrap is left alone without EVENT_IDX
      }
    };
    check_written();
    for (int step = 0; step < 1000; ++step) {
      switch (rng() % 7) {
        case 0: (void)drv.add({}, t.bufs(1 + rng() % 3, 4), 0, static_cast<add_mode>(rng() % 3)); break;
        case 1: (void)drv.needs_kick(); break;
        case 2:
          if (rng() % 2) drv.disable_interrupts();
          else (void)drv.enable_interrupts();
          break;
        case 3:
          if (rng() % 2) t.d.disable_notifications();
          else (void)t.d.enable_notifications();
          break;
        case 4:
          for (;;) {
            auto c = t.d.pop();
            REQUIRE(c.has_value());
            if (c->empty()) break;
            held.push_back(*c);
          }
          break;
        case 5:
          for (const auto& c : held) REQUIRE(t.d.push_used(c, 0).has_value());
          held.clear();
          (void)t.d.needs_notification();
          break;
        default:
          for (;;) {
            auto u = drv.reclaim();
            REQUIRE(u.has_value());
            if (!*u) break;
          }
          if (drv.in_flight() == 0) t.m.reset_arena();
          break;
      }
      check_written();
    }
    if (event_idx) {  // both sides did use DESC
      (void)drv.enable_interrupts();
      (void)t.d.enable_notifications();
      CHECK(t.m.driver_event().flags == event_flag::desc);
      CHECK(t.m.device_event().flags == event_flag::desc);
    }
  }
}

TEST_CASE("P18 device and driver: reading the peer's flags: DESC without EVENT_IDX and the reserved value 3 mean notify; reserved bits 2-15 are ignored") {
  for (const bool event_idx : {false, true}) {
    CAPTURE(event_idx);
    rig t{popts(8, pfeatures(false, event_idx))};
    auto& drv = t.m.driver();
    auto cycle = [&] {
      REQUIRE(drv.add({}, t.bufs(1, 4)).has_value());
      auto c = t.pop_ok();
      REQUIRE(t.d.push_used(c, 0).has_value());
      (void)t.reclaim_ok();
    };
    cycle();
    (void)t.d.needs_notification();  // the first decision always notifies
    (void)drv.needs_kick();
    struct reading {
      std::uint16_t flags;
      bool device_notifies;  // with the used cursor's slot as off_wrap where DESC is in force
      bool driver_kicks;
    };
    // DESC names a slot that this cycle does not reach: only EVENT_IDX makes it count.
    const reading cases[] = {
        {event_flag::enable, true, true},
        {event_flag::disable, false, false},
        {event_flag::desc, !event_idx, !event_idx},
        {3, true, true},                                               // reserved value: notify
        {static_cast<std::uint16_t>(event_flag::disable | 0x8000), false, false},  // reserved bit
        {static_cast<std::uint16_t>(event_flag::enable | 0x0100), true, true},
    };
    for (const reading& rd : cases) {
      CAPTURE(rd.flags);
      const pos far = adv(t.d.state().used_idx, 4, 8);
      t.m.set_driver_event(far, rd.flags);
      t.m.set_device_event(adv(t.m.driver().avail_index(), 4, 8), rd.flags);
      REQUIRE(drv.add({}, t.bufs(1, 4)).has_value());
      // Both sides read only the two event-flag bits (flags & 3); anything but DISABLE or a DESC
      // they can evaluate means notify: a spurious notification is harmless (G17).
      CHECK(drv.needs_kick() == rd.driver_kicks);
      auto c = t.pop_ok();
      REQUIRE(t.d.push_used(c, 0).has_value());
      CHECK(t.d.needs_notification() == rd.device_notifies);
      (void)t.reclaim_ok();
      t.m.reset_arena();
    }
  }
}

TEST_CASE("P18 (§7.4): a DESC target inside a multi-slot list is not jumped over, by the device's notification or the driver's kick") {
  SUBCASE("device: the used cursor jumps over the target") {
    rig t{popts(8, pfeatures(false, true, true))};
    auto& drv = t.m.driver();
    REQUIRE(drv.add({}, t.bufs(1, 4)).has_value());  // slot 0: the unconditional first decision
    REQUIRE(t.d.push_used(t.pop_ok(), 0).has_value());
    (void)t.reclaim_ok();
    CHECK(t.d.needs_notification());
    // A 4-slot list at slots 1-4: one used descriptor at slot 1, the cursor jumps to 5.
    t.m.set_driver_event(make_off_wrap(3, true), event_flag::desc);
    REQUIRE(drv.add({}, t.bufs(4, 4)).has_value());
    REQUIRE(t.d.push_used(t.pop_ok(), 0).has_value());
    CHECK(off_of(t.d.state().used_idx) == 5);
    CHECK(t.d.needs_notification());  // slot 3 lies inside the skipped list
    (void)t.reclaim_ok();
    // An IN_ORDER batch of three 2-slot lists (slots 5-7, 0-2, phase flips) collapses into one
    // used descriptor at slot 5; a target at slot 1 of the next phase is inside the batch.
    t.m.set_driver_event(make_off_wrap(1, false), event_flag::desc);
    for (int k = 0; k < 3; ++k) REQUIRE(drv.add({}, t.bufs(2, 4)).has_value());
    std::vector<used_entry> batch;
    for (int k = 0; k < 3; ++k) {
      auto c = t.pop_ok();
      batch.push_back({c.token(), c.writable_len()});
    }
    REQUIRE(t.d.push_used(batch).has_value());
    CHECK(t.d.state().used_idx == 3);  // slot 3, phase 0
    CHECK(t.d.needs_notification());
    for (int k = 0; k < 3; ++k) (void)t.reclaim_ok();
    // The next target (slot 6, phase 0) lies beyond a 2-slot list at 3-4: no notification.
    t.m.set_driver_event(make_off_wrap(6, false), event_flag::desc);
    REQUIRE(drv.add({}, t.bufs(2, 4)).has_value());
    REQUIRE(t.d.push_used(t.pop_ok(), 0).has_value());
    CHECK(!t.d.needs_notification());
    (void)t.reclaim_ok();
    // A target in the phase the cursor has just left: another batch of three 2-slot lists
    // (slots 5-6, 7-0, 1-2) moves the cursor to slot 3 of phase 1; slot 6 of phase 0 lies
    // inside it (the event is taken as the previous lap's slot, off - N).
    t.m.set_driver_event(make_off_wrap(6, false), event_flag::desc);
    for (int k = 0; k < 3; ++k) REQUIRE(drv.add({}, t.bufs(2, 4)).has_value());
    batch.clear();
    for (int k = 0; k < 3; ++k) {
      auto c = t.pop_ok();
      batch.push_back({c.token(), c.writable_len()});
    }
    REQUIRE(t.d.push_used(batch).has_value());
    CHECK(t.d.state().used_idx == make_off_wrap(3, true));
    CHECK(t.d.needs_notification());
  }
  SUBCASE("driver: a list across the wrap, targets in either phase") {
    // Slots 0-5 published and drained, then a 3-slot list at 6, 7 (phase 1) and 0 (phase 0):
    // the driver's counter is 0 when it decides; a target in phase 1 is the previous lap's.
    auto kick_for = [](std::uint16_t off_wrap) {
      rig t{popts(8, pfeatures(false, true))};
      auto& drv = t.m.driver();
      REQUIRE(drv.add({}, t.bufs(4, 4)).has_value());
      REQUIRE(drv.add({}, t.bufs(2, 4)).has_value());
      (void)drv.needs_kick();
      for (int k = 0; k < 2; ++k) REQUIRE(t.d.push_used(t.pop_ok(), 0).has_value());
      for (int k = 0; k < 2; ++k) (void)t.reclaim_ok();
      t.m.set_device_event(off_wrap, event_flag::desc);
      REQUIRE(drv.add({}, t.bufs(3, 4)).has_value());
      REQUIRE(drv.avail_index() == 1);
      return drv.needs_kick();
    };
    CHECK(kick_for(make_off_wrap(6, true)));    // the head
    CHECK(kick_for(make_off_wrap(7, true)));    // inside, previous phase (off - N)
    CHECK(kick_for(make_off_wrap(0, false)));   // inside, current phase
    CHECK(!kick_for(make_off_wrap(5, true)));   // before the window
    CHECK(!kick_for(make_off_wrap(1, false)));  // not published yet
    CHECK(!kick_for(make_off_wrap(7, false)));  // a lap ahead
  }
  SUBCASE("driver: the published slots cover the target") {
    rig t{popts(8, pfeatures(false, true))};
    auto& drv = t.m.driver();
    t.m.set_device_event(make_off_wrap(2, true), event_flag::desc);
    REQUIRE(drv.add({}, t.bufs(4, 4)).has_value());  // slots 0-3: the head (0) is not the target
    CHECK(drv.needs_kick());
    // A 3-slot list across the wrap (6, 7, 0 of the next phase) with the target at new slot 0.
    REQUIRE(drv.add({}, t.bufs(2, 4)).has_value());  // slots 4-5
    (void)drv.needs_kick();
    for (int k = 0; k < 2; ++k) REQUIRE(t.d.push_used(t.pop_ok(), 0).has_value());
    for (int k = 0; k < 2; ++k) (void)t.reclaim_ok();
    t.m.set_device_event(make_off_wrap(0, false), event_flag::desc);
    REQUIRE(drv.add({}, t.bufs(3, 4)).has_value());
    CHECK(drv.avail_index() == 1);
    CHECK(drv.needs_kick());
    t.m.set_device_event(make_off_wrap(3, false), event_flag::desc);
    REQUIRE(drv.add({}, t.bufs(1, 4)).has_value());  // slot 1 only
    CHECK(!drv.needs_kick());
  }
}

// ---- P19: what the device ignores in indirect lists ---------------------------------------------

TEST_CASE("P19 device: inside an indirect table only WRITE counts (NEXT, AVAIL, USED, unknown bits and ids are ignored), and WRITE on the ring descriptor is ignored") {
  rig t{popts(4, pfeatures(true))};
  raw_driver drv{t.m};
  const auto a = pattern(5, 1), b = pattern(9, 2);
  const gpa ga = t.m.put(a), gb = t.m.put(b), w1 = t.m.alloc(7), w2 = t.m.alloc(3);
  const gpa table = t.m.alloc(64, 16);
  t.m.write_desc_at(table, ga.raw(), 5, 0x1234, desc_flag::next | packed_flag::avail);
  t.m.write_desc_at(table.offset(16), gb.raw(), 9, 0xffff, packed_flag::used | 0x0100);
  t.m.write_desc_at(table.offset(32), w1.raw(), 7, 7,
                    desc_flag::write | desc_flag::next | packed_flag::avail | packed_flag::used);
  t.m.write_desc_at(table.offset(48), w2.raw(), 3, 0, desc_flag::write | 0x4000);
  for (const std::uint16_t ring_flags :
       {desc_flag::indirect, static_cast<std::uint16_t>(desc_flag::indirect | desc_flag::write)}) {
    CAPTURE(ring_flags);
    drv.publish({{table.raw(), 64, 2, ring_flags}}, 2);
    auto c = t.pop_ok();
    CHECK(c.id() == 2);
    CHECK(c.token().slots == 1);
    CHECK(c.readable_len() == 14);
    CHECK(c.writable_len() == 10);
    auto both = a;
    both.insert(both.end(), b.begin(), b.end());
    CHECK(read_all(c) == both);
    REQUIRE(c.writable().size() == 2);
    CHECK(c.writable()[0].addr == w1);
    CHECK(c.writable()[1].addr == w2);
    REQUIRE(t.d.push_used(c, 10).has_value());
    REQUIRE(drv.reap().has_value());
  }
}

// ---- P20: used descriptors: WRITE, len, NEXT (interop) -------------------------------------------

TEST_CASE("P20 device: a used descriptor carries WRITE exactly when len > 0, never NEXT, and AVAIL = USED = the used wrap counter") {
  rig t{popts(5, pfeatures(true), 4)};
  auto& drv = t.m.driver();
  std::mt19937 rng{20};
  for (int k = 0; k < 400; ++k) {
    REQUIRE(drv.add(t.bufs(rng() % 2, 4), t.bufs(1 + rng() % 2, 4), 0, static_cast<add_mode>(rng() % 3)).has_value());
    auto c = t.pop_ok();
    const pos at = t.d.state().used_idx;
    const auto len = static_cast<std::uint32_t>(rng() % (c.writable_len() + 1));
    REQUIRE(t.d.push_used(c, len).has_value());
    const desc_fields u = t.m.read_desc(off_of(at));
    CHECK(u.flags == (packed_flag::used_marks(wrap_of(at)) | (len > 0 ? desc_flag::write : 0)));
    CHECK(u.len == len);
    CHECK(t.reclaim_ok().len == len);
    if (k % 64 == 0) t.m.reset_arena();
  }
}

TEST_CASE("P20 interop: our driver + a QEMU-like device (id from the first descriptor, used descriptors without WRITE)") {
  constexpr std::uint16_t n = 5;
  mock m{popts(n, pfeatures(true, true), 4, std::size_t{1} << 18)};
  auto& drv = m.driver();
  qemu_like_device dev{m};
  std::mt19937 rng{21};
  std::map<std::uint64_t, std::pair<std::vector<buffer>, std::vector<std::byte>>> sent;  // user -> writable, reply
  std::uint64_t user = 0, back = 0;
  for (int step = 0; step < 3000; ++step) {
    if (rng() % 2) {
      const std::size_t nr = rng() % 3, nw = 1 + rng() % 2;
      std::vector<buffer> rd, wr;
      for (std::size_t i = 0; i < nr; ++i) rd.push_back({m.put(pattern(4, static_cast<std::uint32_t>(user))), 4});
      for (std::size_t i = 0; i < nw; ++i) wr.push_back({m.alloc(6), 6});
      auto id = drv.add(rd, wr, user, static_cast<add_mode>(rng() % 3));
      if (id) sent[user++] = {wr, {}};
    } else if (auto p = dev.pop()) {
      std::uint32_t room = 0;
      for (const auto& w : p->writable) room += w.second;
      const auto reply = pattern(rng() % (room + 1), static_cast<std::uint32_t>(step));
      dev.complete(*p, reply);  // no WRITE flag, even with len > 0
      auto u = drv.reclaim();
      REQUIRE(u.has_value());
      REQUIRE(u->has_value());
      CHECK((*u)->id == p->id);  // the first descriptor's id is ours: it is in every descriptor
      CHECK((*u)->len == reply.size());  // len read regardless of WRITE
      auto it = sent.find((*u)->user_data);
      REQUIRE(it != sent.end());
      std::vector<std::byte> got;
      for (const auto& b : it->second.first) {
        const auto h = m.host(b.addr, b.len);
        got.insert(got.end(), h.begin(), h.end());
      }
      got.resize(reply.size());
      CHECK(got == reply);
      sent.erase(it);
      ++back;
      if (sent.empty()) m.reset_arena();
    }
  }
  CHECK(back > 500);
  CHECK(!drv.broken());
}

TEST_CASE("P20 driver: NEXT and other reserved bits in a used descriptor are ignored; the cursor moves by the slots the driver recorded") {
  rig t{popts(6, pfeatures(false))};
  auto& drv = t.m.driver();
  auto a = drv.add({}, t.bufs(3, 4), 'a');  // slots 0-2
  auto b = drv.add({}, t.bufs(1, 4), 'b');  // slot 3
  REQUIRE((a && b));
  t.m.write_used(0, *b, 4,
                 static_cast<std::uint16_t>(packed_flag::used_marks(true) | desc_flag::write | desc_flag::next | 0x0100));
  const used_buffer ub = t.reclaim_ok();
  CHECK(ub.user_data == 'b');
  CHECK(ub.len == 4);
  t.m.write_used(1, *a, 0, static_cast<std::uint16_t>(packed_flag::used_marks(true) | desc_flag::next));
  const used_buffer ua = t.reclaim_ok();  // at slot 1: b took one slot, not what NEXT suggests
  CHECK(ua.user_data == 'a');
  auto none = drv.reclaim();
  REQUIRE(none.has_value());
  CHECK(!none->has_value());
  CHECK(drv.free_descriptors() == 6);
}

// ---- P21: multi-buffer requests -------------------------------------------------------------------

TEST_CASE("P21 device: push_used(span) marks the first buffer used last: a driver that sees it sees the whole batch (two threads)") {
  constexpr std::uint16_t n = 64;
  constexpr std::size_t k = 60;  // one-slot lists: the batch spans fifteen cache lines
  constexpr int iterations = 150;
  rig t{popts(n, pfeatures(false))};
  std::byte* ring = t.m.host(t.m.config().desc_table, 16u * n).data();
  std::array<used_entry, k> batch{};
  std::atomic<int> go{0}, done{0};
  std::atomic<bool> failed{false};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  // The device thread only pushes; the test thread pops before handing the queue over (the
  // handover is an acquire/release pair, so one thread uses the queue at a time).
  std::thread dev([&] {
    for (int it = 1; it <= iterations; ++it) {
      while (go.load(std::memory_order_acquire) != it) {
        if (failed.load() || std::chrono::steady_clock::now() > deadline) {
          failed.store(true);
          return;
        }
        std::this_thread::yield();
      }
      if (!t.d.push_used(batch)) failed.store(true);
      done.store(it, std::memory_order_release);
    }
  });
  joiner guard{dev, failed};
  std::uint64_t incomplete = 0;
  for (int it = 1; it <= iterations && !failed.load(); ++it) {
    for (std::size_t j = 0; j < k; ++j) REQUIRE(t.m.driver().add({}, t.bufs(1, 4)).has_value());
    for (std::size_t j = 0; j < k; ++j) batch[k - 1 - j] = used_entry{t.pop_ok().token(), 0};  // reversed
    const pos first = t.d.state().used_idx;
    go.store(it, std::memory_order_release);
    for (std::uint32_t spins = 1;
         !packed_flag::is_used(vireo::detail::atomic_load_le16(ring + 16u * off_of(first) + 14,
                                                               std::memory_order_acquire),
                               wrap_of(first));
         ++spins) {
      if (spins % 256 != 0) continue;  // spin hard (the window is short), yield now and then
      if (failed.load() || std::chrono::steady_clock::now() > deadline) {
        failed.store(true);
        break;
      }
      std::this_thread::yield();
    }
    // The last entry first: it is the one a batch published first-first would leave unwritten.
    for (std::size_t j = k - 1; j >= 1; --j) {
      const pos at = adv(first, static_cast<std::int64_t>(j), n);
      const std::uint16_t f = vireo::detail::atomic_load_le16(ring + 16u * off_of(at) + 14, std::memory_order_relaxed);
      vireo::le16 id;
      std::memcpy(&id, ring + 16u * off_of(at) + 12, 2);
      if (!packed_flag::is_used(f, wrap_of(at)) || id.get() != batch[j].token.id) ++incomplete;
    }
    while (done.load(std::memory_order_acquire) != it && !failed.load()) std::this_thread::yield();
    for (std::size_t j = 0; j < k; ++j) (void)t.reclaim_ok();
    t.m.reset_arena();
  }
  dev.join();
  CHECK(!failed.load());
  CHECK(incomplete == 0);
  CHECK(t.m.driver().in_flight() == 0);
}

// ---- P22: initial state ---------------------------------------------------------------------------

TEST_CASE("P22 driver and device: the ring starts zeroed and both wrap counters start at 1") {
  mock m{popts(5, pfeatures(false, true))};
  const queue_config c = m.config();
  std::memset(m.host(c.desc_table, 5 * 16).data(), 0xff, 5 * 16);
  std::memset(m.host(c.driver_area, 4).data(), 0xff, 4);
  std::memset(m.host(c.device_area, 4).data(), 0xff, 4);
  auto& drv = m.driver();
  REQUIRE(drv.configure(c).has_value());
  const auto ring = m.host(c.desc_table, 5 * 16);
  CHECK(std::all_of(ring.begin(), ring.end(), [](std::byte x) { return x == std::byte{0}; }));
  CHECK(m.driver_event().off_wrap == 0);
  CHECK(m.driver_event().flags == 0);
  CHECK(m.device_event().off_wrap == 0);
  CHECK(m.device_event().flags == 0);
  CHECK(drv.avail_index() == first_pos);  // Driver Ring Wrap Counter 1
  device d{m.memory()};
  REQUIRE(d.configure(c).has_value());
  CHECK(d.state() == vireo::ring::queue_state{first_pos, first_pos});
  // A zeroed slot is neither available to the device nor used for the driver in phase 1.
  CHECK(d.pop()->empty());
  CHECK(*d.available() == 0);
  auto none = drv.reclaim();
  REQUIRE(none.has_value());
  CHECK(!none->has_value());
  CHECK(!drv.enable_interrupts());
  CHECK(m.driver_event().off_wrap == first_pos);  // the driver's used wrap counter is 1 too
  CHECK(m.driver_event().flags == event_flag::desc);
  // First lap: AVAIL = 1, USED = 0 from the driver; AVAIL = USED = 1 from the device.
  const buffer w{m.alloc(4), 4};
  for (int lap = 0; lap < 3; ++lap) {
    const bool wrap = lap % 2 == 0;
    for (std::uint16_t s = 0; s < 5; ++s) {
      REQUIRE(drv.add({}, std::span{&w, 1}).has_value());
      CHECK((m.desc_flags(s) & marks_mask) == packed_flag::avail_marks(wrap));
      auto ch = d.pop();
      REQUIRE(ch.has_value());
      REQUIRE(!ch->empty());
      REQUIRE(d.push_used(*ch, 1).has_value());
      CHECK((m.desc_flags(s) & marks_mask) == packed_flag::used_marks(wrap));
      auto u = drv.reclaim();
      REQUIRE(u.has_value());
      REQUIRE(u->has_value());
    }
    CHECK(drv.avail_index() == make_off_wrap(0, !wrap));  // the counters flip after slot N-1
    CHECK(d.state() == vireo::ring::queue_state{make_off_wrap(0, !wrap), make_off_wrap(0, !wrap)});
  }
  // A reset brings both back to 1.
  d.reset();
  REQUIRE(d.configure(c).has_value());
  CHECK(d.state() == vireo::ring::queue_state{first_pos, first_pos});
  REQUIRE(drv.configure(c).has_value());
  CHECK(drv.avail_index() == first_pos);
}

TEST_CASE("P5 P22 (§7.4): N = 5, lists of 3: the AVAIL/USED marks flip mid-list and both sides keep parsing, lap after lap") {
  constexpr std::uint16_t n = 5;
  rig t{popts(n, pfeatures(false))};
  auto& drv = t.m.driver();
  for (std::uint32_t k = 0; k < 400; ++k) {
    const pos at = drv.avail_index();
    const auto in = pattern(2 + k % 7, k);
    const std::vector<buffer> rd{{t.m.put(in), static_cast<std::uint32_t>(in.size())}, {t.m.alloc(0), 0}};
    const buffer wr{t.m.alloc(4), 4};
    auto id = drv.add(rd, std::span{&wr, 1}, k);
    REQUIRE(id.has_value());
    for (std::uint32_t j = 0; j < 3; ++j) {  // descriptors after the wrap carry the flipped marks
      const pos p = adv(at, j, n);
      CHECK((t.m.desc_flags(off_of(p)) & marks_mask) == packed_flag::avail_marks(wrap_of(p)));
    }
    auto c = t.pop_ok();
    CHECK(c.id() == *id);
    CHECK(c.token().slots == 3);
    CHECK(c.token().seq == at);
    CHECK(read_all(c) == in);
    const pos used_at = t.d.state().used_idx;
    CHECK(write_all(c, pattern(4, k + 1)) == 4);
    REQUIRE(t.d.push_used(c, 4).has_value());
    CHECK(t.m.desc_flags(off_of(used_at)) == (packed_flag::used_marks(wrap_of(used_at)) | desc_flag::write));
    const used_buffer u = t.reclaim_ok();
    CHECK(u.user_data == k);
    CHECK(u.len == 4);
    CHECK(std::equal(t.m.host(wr.addr, 4).begin(), t.m.host(wr.addr, 4).end(), pattern(4, k + 1).begin()));
    CHECK(t.d.state().next_avail == drv.avail_index());
    if (k % 50 == 0) t.m.reset_arena();
  }
}

// ---- P23: robustness ----------------------------------------------------------------------------

TEST_CASE("P23 driver: a used id >= N, an id not in flight or a len above the writable bytes breaks the queue until configure()") {
  constexpr std::uint16_t n = 8;
  for (const std::uint16_t bad_id : {std::uint16_t{8}, std::uint16_t{9}, std::uint16_t{0x7fff}, std::uint16_t{0xffff}}) {
    CAPTURE(bad_id);
    rig t{popts(n, pfeatures(false))};
    auto& drv = t.m.driver();
    REQUIRE(drv.add({}, t.bufs(2, 8), 1).has_value());
    t.m.mark_used(0, bad_id, 0, true);
    CHECK(err(drv.reclaim()) == errc::used_id_out_of_range);
    CHECK(drv.broken());
    CHECK(drv.broken_reason() == errc::used_id_out_of_range);
    CHECK(err(drv.reclaim()) == errc::queue_broken);
    CHECK(err(drv.add({}, t.bufs(1, 8))) == errc::queue_broken);
    CHECK(!drv.needs_kick());
    CHECK(!drv.enable_interrupts());
    CHECK(drv.in_flight() == 1);  // nothing retired from bad data
    drv.reset();
    CHECK(drv.detach_unused() == std::optional<std::uint64_t>{1});
    REQUIRE(drv.configure(t.m.config()).has_value());
    CHECK(!drv.broken());
  }
  {  // an id that is free, and an id completed twice
    rig t{popts(n, pfeatures(false))};
    auto& drv = t.m.driver();
    auto a = drv.add({}, t.bufs(1, 8));
    REQUIRE(a.has_value());
    t.m.mark_used(0, static_cast<std::uint16_t>((*a + 1) % n), 0, true);
    CHECK(err(drv.reclaim()) == errc::used_id_not_in_flight);
    REQUIRE(drv.configure(t.m.config()).has_value());
    t.d.reset();
    REQUIRE(t.d.configure(t.m.config()).has_value());
    auto x = drv.add({}, t.bufs(1, 8));
    auto y = drv.add({}, t.bufs(1, 8));
    REQUIRE((x && y));
    auto cx = t.pop_ok();
    REQUIRE(t.d.push_used(cx, 8).has_value());
    CHECK(t.reclaim_ok().id == *x);
    t.m.mark_used(1, *x, 8, true);  // x again, at the next used slot
    CHECK(err(drv.reclaim()) == errc::used_id_not_in_flight);
    CHECK(drv.in_flight() == 1);
  }
  {  // len above the writable bytes (readable bytes do not count)
    rig t{popts(n, pfeatures(false))};
    auto& drv = t.m.driver();
    auto a = drv.add(t.bufs(1, 100), t.bufs(2, 8));
    REQUIRE(a.has_value());
    t.m.mark_used(0, *a, 17, true);
    CHECK(err(drv.reclaim()) == errc::used_len_too_large);
    CHECK(drv.broken_reason() == errc::used_len_too_large);
  }
}

TEST_CASE("P23 device: an indirect table length of 0 or not a multiple of 16 rejects that list only") {
  rig t{popts(8, pfeatures(true))};
  raw_driver drv{t.m};
  const gpa b = t.m.alloc(8);
  const gpa table = t.m.alloc(48, 16);
  for (std::uint32_t i = 0; i < 3; ++i) t.m.write_desc_at(table.offset(16 * i), b.raw(), 8, 0, 0);
  std::uint16_t id = 0;
  for (const std::uint32_t len : {0u, 1u, 8u, 15u, 17u, 24u, 40u}) {
    CAPTURE(len);
    drv.publish({{table.raw(), len, id, desc_flag::indirect}}, id);
    CHECK(err(t.d.pop()) == errc::indirect_table_size);
    CHECK(!t.d.broken());
    REQUIRE(t.d.rejected().has_value());
    CHECK(t.d.rejected()->slots == 1);
    CHECK(err(t.d.push_used(*t.d.rejected(), 1)) == errc::used_len_too_large);
    REQUIRE(t.d.push_used(*t.d.rejected(), 0).has_value());
    REQUIRE(drv.reap().has_value());
    id = static_cast<std::uint16_t>((id + 1) % 8);
    drv.publish({{table.raw(), 48, id, desc_flag::indirect}}, id);  // a good table is served
    auto c = t.pop_ok();
    CHECK(c.readable_len() == 24);
    REQUIRE(t.d.push_used(c, 0).has_value());
    REQUIRE(drv.reap().has_value());
    id = static_cast<std::uint16_t>((id + 1) % 8);
  }
}

TEST_CASE("P23 device: walks are bounded by N: a list without an end, or one running into a slot not available, breaks the queue") {
  for (const std::uint16_t n : {std::uint16_t{1}, std::uint16_t{4}, std::uint16_t{5}}) {
    CAPTURE(n);
    {
      rig t{popts(n, pfeatures(false))};
      const gpa b = t.m.alloc(8);
      // N descriptors, every one with NEXT: no end within the ring.
      std::vector<desc_fields> list(n, desc_fields{b.raw(), 4, 0, desc_flag::next});
      t.m.publish_chain(0, true, list);
      CHECK(*t.d.available() == 1);
      CHECK(err(t.d.pop()) == errc::chain_too_long);
      CHECK(t.d.broken());
      CHECK(t.d.broken_reason() == errc::chain_too_long);
      CHECK(err(t.d.pop()) == errc::queue_broken);
      CHECK(err(t.d.push_used(used_token{0, 1, 0, 0}, 0)) == errc::queue_broken);
      CHECK(!t.d.needs_notification());
      t.d.reset();  // recovery: reset, the driver zeroes the ring, configure
      REQUIRE(t.m.driver().configure(t.m.config()).has_value());
      REQUIRE(t.d.configure(t.m.config()).has_value());
      REQUIRE(t.m.driver().add({}, t.bufs(1, 4)).has_value());
      CHECK(t.pop_ok().token().slots == 1);
    }
    if (n > 1) {
      rig t{popts(n, pfeatures(false))};
      const gpa b = t.m.alloc(8);
      // A head with NEXT whose next slot was never made available (it still holds zeroes).
      t.m.write_desc(0, b.raw(), 4, 0, static_cast<std::uint16_t>(packed_flag::avail_marks(true) | desc_flag::next));
      CHECK(err(t.d.pop()) == errc::desc_not_available);
      CHECK(t.d.broken());
    }
  }
}

TEST_CASE("P23 device: a readable descriptor after a writable one rejects that list only, direct across the wrap or in a table") {
  rig t{popts(5, pfeatures(true))};
  raw_driver drv{t.m};
  const gpa r = t.m.alloc(8), w = t.m.alloc(8);
  drv.publish({{r.raw(), 4, 0, 0}, {r.raw(), 4, 0, 0}, {r.raw(), 4, 0, 0}}, 0);  // slots 0-2
  REQUIRE(t.d.push_used(t.pop_ok(), 0).has_value());
  REQUIRE(drv.reap().has_value());
  // Slots 3, 4 (phase 1), 0 (phase 0): writable, readable, readable.
  drv.publish({{w.raw(), 4, 1, desc_flag::write}, {r.raw(), 4, 1, 0}, {r.raw(), 4, 1, 0}}, 1);
  CHECK(err(t.d.pop()) == errc::writable_before_readable);
  REQUIRE(t.d.rejected().has_value());
  CHECK(t.d.rejected()->slots == 3);
  CHECK(t.d.rejected()->id == 1);
  REQUIRE(t.d.push_used(*t.d.rejected(), 0).has_value());
  REQUIRE(drv.reap().has_value());
  const gpa table = t.m.alloc(32, 16);
  t.m.write_desc_at(table, w.raw(), 4, 0, desc_flag::write);
  t.m.write_desc_at(table.offset(16), r.raw(), 4, 0, 0);
  drv.publish({{table.raw(), 32, 2, desc_flag::indirect}}, 2);
  CHECK(err(t.d.pop()) == errc::writable_before_readable);
  REQUIRE(t.d.rejected().has_value());
  REQUIRE(t.d.push_used(*t.d.rejected(), 0).has_value());
  REQUIRE(drv.reap().has_value());
  drv.publish({{r.raw(), 4, 3, 0}, {w.raw(), 4, 3, desc_flag::write}}, 3);
  auto c = t.pop_ok();
  CHECK(c.id() == 3);
  CHECK(!t.d.broken());
}

TEST_CASE("P23 device: random garbage rings never crash; every outcome is a list, a per-list error or a broken queue") {
  std::mt19937 rng{23};
  const std::set<errc> per_list{errc::indirect_not_negotiated, errc::indirect_with_next, errc::indirect_in_chain,
                                errc::indirect_in_indirect, errc::indirect_table_size, errc::chain_too_long,
                                errc::writable_before_readable, errc::total_len_overflow, errc::desc_addr_overflow,
                                errc::segment_limit, errc::out_of_bounds, errc::address_overflow,
                                errc::access_denied};
  std::size_t lists = 0, rejected = 0, broken = 0;
  for (int round = 0; round < 200; ++round) {
    const auto n = static_cast<std::uint16_t>(1 + rng() % 9);
    rig t{popts(n, pfeatures(rng() % 2 != 0, rng() % 2 != 0), 0, 4096)};
    const std::uint64_t lo = t.m.config().desc_table.raw();
    const std::uint64_t span = t.m.memory().size();
    auto random_addr = [&]() -> std::uint64_t {
      switch (rng() % 4) {
        case 0: return rng();                                // anywhere (mostly outside)
        case 1: return UINT64_MAX - rng() % 64;              // overflows
        default: return lo + rng() % span;                   // inside guest memory
      }
    };
    for (std::uint16_t s = 0; s < n; ++s) {
      std::uint16_t flags = static_cast<std::uint16_t>(rng());
      if (rng() % 3) flags = static_cast<std::uint16_t>((flags & 7u) | packed_flag::avail_marks(rng() % 4 != 0));
      t.m.write_desc(s, random_addr(), rng() % 5 == 0 ? static_cast<std::uint32_t>(rng()) : rng() % 96,
                     static_cast<std::uint16_t>(rng()), flags);
    }
    // A few garbage indirect tables inside memory, where the addresses above may point.
    for (int k = 0; k < 4; ++k) {
      const std::uint64_t at = (lo + rng() % (span - 64)) & ~std::uint64_t{15};
      t.m.write_desc_at(gpa{at}, random_addr(), rng() % 64, static_cast<std::uint16_t>(rng()),
                        static_cast<std::uint16_t>(rng() & 0x0f));
    }
    for (int k = 0; k < n + 2; ++k) {
      auto c = t.d.pop();
      if (c.has_value()) {
        if (c->empty()) break;
        ++lists;
        CHECK(c->token().slots >= 1);
        CHECK(c->token().slots <= n);
        for (const auto& seg : c->readable()) CHECK(seg.addr.raw() + seg.len <= lo + span);
        for (const auto& seg : c->writable()) CHECK(seg.addr.raw() + seg.len <= lo + span);
        REQUIRE(t.d.push_used(*c, 0).has_value());
      } else if (t.d.broken()) {
        CHECK((c.error() == errc::desc_not_available || c.error() == errc::chain_too_long));
        ++broken;
        break;
      } else {
        CHECK(per_list.count(c.error()) == 1);
        REQUIRE(t.d.rejected().has_value());
        CHECK(t.d.rejected()->slots >= 1);
        CHECK(t.d.rejected()->slots <= n);
        REQUIRE(t.d.push_used(*t.d.rejected(), 0).has_value());
        ++rejected;
      }
    }
  }
  CHECK(lists > 0);
  CHECK(rejected > 0);
  CHECK(broken > 0);
}
