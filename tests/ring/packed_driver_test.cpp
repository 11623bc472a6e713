// SPDX-License-Identifier: Apache-2.0
// Unit tests for vireo/ring/packed_driver.hpp (virtio 1.3 §2.8): set-up errors, descriptor
// layout and wrap phases in raw memory, buffer ids, reclaim (out of order and IN_ORDER
// batches), a hostile device, kick and interrupt suppression, and long randomised runs against a
// small device emulation written here from the spec.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstring>
#include <deque>
#include <optional>
#include <random>
#include <thread>
#include <tuple>
#include <vector>

#include "ring/ring_test_support.hpp"
#include "vireo/testing/mock_packed_driver.hpp"
#include "vireo/vireo.hpp"

namespace {

using namespace vireo_ring_common;
using vireo::ring::indirect_pool;
using vireo::ring::make_off_wrap;

using mock = vireo::testing::mock_packed_driver;
using desc_fields = mock::desc_fields;

[[nodiscard]] feature_set features(bool indirect, bool event_idx, bool in_order) {
  return ring_features(/*packed=*/true, indirect, event_idx, in_order);
}

[[nodiscard]] mock::options opts(std::uint16_t size, feature_set f = {},
                                 std::uint16_t indirect_entries = 0,
                                 std::size_t data_bytes = std::size_t{1} << 16) {
  return mock_options<mock>(size, f, indirect_entries, data_bytes);
}

[[nodiscard]] std::uint16_t avail_flags(bool wrap, std::uint16_t extra = 0) {
  return static_cast<std::uint16_t>(packed_flag::avail_marks(wrap) | extra);
}

/// A list as the device sees it.
struct popped {
  std::uint16_t id = 0;
  std::uint16_t slots = 0;
  bool indirect = false;
  std::vector<desc_fields> bufs;  ///< direct descriptors, or the indirect table's entries
  std::uint32_t writable = 0;
};

/// A minimal packed device written from §2.8 (not from the library): polls its avail cursor
/// with packed_flag::is_avail, follows NEXT through consecutive slots (flipping its wrap phase
/// after slot size-1), takes the id from the last descriptor and writes used descriptors at its
/// used cursor, which moves by the list's slot count (§2.8.6).
class emu_device {
 public:
  explicit emu_device(mock& m) : m_(&m), n_(m.opts().size) {}

  [[nodiscard]] std::optional<popped> pop() {
    if (!packed_flag::is_avail(m_->desc_flags(avail_), avail_wrap_)) return std::nullopt;
    popped p;
    bool seen_write = false;
    for (;;) {
      const desc_fields d = m_->read_desc(avail_);
      REQUIRE(packed_flag::is_avail(d.flags, avail_wrap_));
      if (p.slots > 0) CHECK(d.id == p.id);  // the library writes the id into every slot
      p.id = d.id;
      ++p.slots;
      step(avail_, avail_wrap_, 1);
      if ((d.flags & desc_flag::indirect) != 0) {
        REQUIRE(p.slots == 1);  // §2.8.7: an indirect descriptor is never part of a list
        REQUIRE((d.flags & desc_flag::next) == 0);
        REQUIRE(d.len > 0);
        REQUIRE(d.len % 16 == 0);
        p.indirect = true;
        for (std::uint32_t i = 0; i < d.len / 16; ++i) {
          const desc_fields e = m_->read_desc_at(gpa{d.addr + 16u * i});
          CHECK((e.flags & ~desc_flag::write) == 0);  // §2.8.19: only WRITE in a table
          take(p, e, seen_write);
        }
        break;
      }
      take(p, d, seen_write);
      if ((d.flags & desc_flag::next) == 0) break;
      REQUIRE(p.slots < n_);
    }
    return p;
  }
  void complete(const popped& p, std::uint32_t len) { complete_as(p.id, len, p.slots); }
  /// Write one used descriptor naming `id` and skip `slots` slots (a batch under IN_ORDER).
  void complete_as(std::uint16_t id, std::uint32_t len, std::uint32_t slots) {
    m_->mark_used(used_, id, len, used_wrap_);
    step(used_, used_wrap_, slots);
  }
  [[nodiscard]] std::uint16_t used_slot() const { return used_; }
  [[nodiscard]] bool used_wrap() const { return used_wrap_; }
  [[nodiscard]] std::uint16_t avail_slot() const { return avail_; }

 private:
  void step(std::uint16_t& pos, bool& wrap, std::uint32_t k) const {
    for (std::uint32_t i = 0; i < k; ++i) {
      if (++pos == n_) {
        pos = 0;
        wrap = !wrap;
      }
    }
  }
  static void take(popped& p, const desc_fields& d, bool& seen_write) {
    const bool w = (d.flags & desc_flag::write) != 0;
    if (!w) CHECK(!seen_write);  // §2.8.17: readable descriptors come first
    seen_write = seen_write || w;
    p.bufs.push_back(d);
    if (w) p.writable += d.len;
  }

  mock* m_;
  std::uint16_t n_;
  std::uint16_t avail_ = 0, used_ = 0;
  bool avail_wrap_ = true, used_wrap_ = true;
};

[[nodiscard]] popped pop_ok(emu_device& d) {
  auto p = d.pop();
  REQUIRE(p.has_value());
  return *p;
}

/// What generic driver code needs; both layouts must provide exactly this.
template <typename D>
concept driver_api = requires(D& d, const D& cd, flat_memory& mem, const queue_config& cfg,
                              indirect_pool pool, std::span<const buffer> s) {
  { D::create(mem, cfg, pool) } -> std::same_as<vireo::result<D>>;
  { d.configure(cfg, pool) } -> std::same_as<vireo::result<void>>;
  { d.configure(cfg) } -> std::same_as<vireo::result<void>>;
  { d.reset() } -> std::same_as<void>;
  { d.detach_unused() } -> std::same_as<std::optional<std::uint64_t>>;
  { cd.ready() } -> std::same_as<bool>;
  { cd.broken() } -> std::same_as<bool>;
  { cd.broken_reason() } -> std::same_as<errc>;
  { cd.size() } -> std::same_as<std::uint16_t>;
  { cd.free_descriptors() } -> std::same_as<std::uint16_t>;
  { cd.in_flight() } -> std::same_as<std::uint16_t>;
  { d.add(s, s, std::uint64_t{1}, add_mode::automatic) } -> std::same_as<vireo::result<std::uint16_t>>;
  { d.add(s, s) } -> std::same_as<vireo::result<std::uint16_t>>;
  { d.needs_kick() } -> std::same_as<bool>;
  { d.reclaim() } -> std::same_as<vireo::result<std::optional<used_buffer>>>;
  { d.enable_interrupts() } -> std::same_as<bool>;
  { d.disable_interrupts() } -> std::same_as<void>;
  { cd.avail_index() } -> std::same_as<std::uint16_t>;
};

/// Generic driver code: one request, completed by whoever `complete` is.
template <typename Driver, typename Complete>
void generic_round_trip(Driver& d, buffer out, buffer in, Complete complete) {
  auto id = d.add(std::span{&out, 1}, std::span{&in, 1}, 77);
  REQUIRE(id.has_value());
  CHECK(d.needs_kick());
  complete(*id);
  auto u = d.reclaim();
  REQUIRE(u.has_value());
  REQUIRE(u->has_value());
  CHECK((*u)->id == *id);
  CHECK((*u)->user_data == 77);
  CHECK(d.in_flight() == 0);
}

}  // namespace

// ---- API and set-up ------------------------------------------------------------------------

TEST_CASE("packed_driver: same public API as split_driver") {
  static_assert(driver_api<vireo::ring::split_driver<flat_memory>>);
  static_assert(driver_api<vireo::ring::packed_driver<flat_memory>>);
  static_assert(driver_api<vireo::ring::packed_driver<flat_memory, 5>>);
  mock m{opts(8)};
  emu_device dev{m};
  generic_round_trip(m.driver(), buffer{m.alloc(8), 8}, buffer{m.alloc(8), 8},
                     [&](std::uint16_t) { dev.complete(pop_ok(dev), 8); });
}

TEST_CASE("packed_driver: create() and configure() errors") {
  mock m{opts(8, features(true, false, false), 4)};
  using drv_t = vireo::ring::packed_driver<flat_memory, 8>;
  REQUIRE(drv_t::create(m.memory(), m.config(), m.pool()).has_value());
  REQUIRE(drv_t::create(m.memory(), m.config()).has_value());

  queue_config c = m.config();
  c.size = 0;
  CHECK(err(drv_t::create(m.memory(), c)) == errc::bad_queue_size);
  c.size = 9;  // valid for virtio, too large for this driver
  CHECK(err(drv_t::create(m.memory(), c)) == errc::bad_queue_size);
  c.size = 32769;
  CHECK(err(vireo::ring::packed_driver<flat_memory, 32768>::create(m.memory(), c)) ==
        errc::bad_queue_size);
  for (std::uint16_t n : {1, 3, 5, 6, 7}) {  // §2.8: any size, not only powers of two
    c.size = n;
    CHECK(drv_t::create(m.memory(), c).has_value());
  }

  // §2.8.11: descriptor ring 16-aligned, each event suppression structure 4-aligned.
  c = m.config();
  c.desc_table = c.desc_table.offset(8);
  CHECK(err(drv_t::create(m.memory(), c)) == errc::ring_misaligned);
  c = m.config();
  c.driver_area = c.driver_area.offset(2);
  CHECK(err(drv_t::create(m.memory(), c)) == errc::ring_misaligned);
  c = m.config();
  c.device_area = c.device_area.offset(2);
  CHECK(err(drv_t::create(m.memory(), c)) == errc::ring_misaligned);
  const gpa past_end{m.memory().base().raw() + m.memory().size()};
  c = m.config();
  c.desc_table = past_end;
  CHECK(err(drv_t::create(m.memory(), c)) == errc::ring_not_mapped);
  c = m.config();
  c.driver_area = past_end;
  CHECK(err(drv_t::create(m.memory(), c)) == errc::ring_not_mapped);
  c = m.config();
  c.device_area = past_end;
  CHECK(err(drv_t::create(m.memory(), c)) == errc::ring_not_mapped);

  indirect_pool p = m.pool();
  p.base = p.base.offset(8);
  CHECK(err(drv_t::create(m.memory(), m.config(), p)) == errc::ring_misaligned);
  p = m.pool();
  p.base = past_end;
  CHECK(err(drv_t::create(m.memory(), m.config(), p)) == errc::ring_not_mapped);
  c = m.config();
  c.features = features(false, false, false);
  CHECK(err(drv_t::create(m.memory(), c, m.pool())) == errc::feature_not_negotiated);
}

TEST_CASE("packed_driver: calls before configure() and after a failed configure()") {
  mock m{opts(8)};
  vireo::ring::packed_driver<flat_memory, 8> d{m.memory()};
  const buffer b{m.alloc(4), 4};
  CHECK(!d.ready());
  CHECK(!d.broken());
  CHECK(err(d.add(std::span{&b, 1}, {})) == errc::queue_not_ready);
  CHECK(err(d.reclaim()) == errc::queue_not_ready);
  CHECK(!d.needs_kick());
  CHECK(!d.enable_interrupts());
  d.disable_interrupts();  // no effect, no crash

  REQUIRE(d.configure(m.config()).has_value());
  CHECK(d.ready());
  queue_config bad = m.config();
  bad.size = 0;
  CHECK(err(d.configure(bad)) == errc::bad_queue_size);
  CHECK(!d.ready());
  CHECK(err(d.add(std::span{&b, 1}, {})) == errc::queue_not_ready);
}

TEST_CASE("packed_driver: configure() zeroes the ring and both event areas; wrap counters start at 1") {
  mock m{opts(5, features(false, true, false))};
  const queue_config c = m.config();
  std::memset(m.host(c.desc_table, 5 * 16).data(), 0xff, 5 * 16);
  std::memset(m.host(c.driver_area, 4).data(), 0xff, 4);
  std::memset(m.host(c.device_area, 4).data(), 0xff, 4);
  auto& d = m.driver();
  REQUIRE(d.configure(c, m.pool()).has_value());
  for (std::uint16_t s = 0; s < 5; ++s) {
    const desc_fields f = m.read_desc(s);
    CHECK(f.addr == 0);
    CHECK(f.len == 0);
    CHECK(f.id == 0);
    CHECK(f.flags == 0);
  }
  CHECK(m.driver_event().off_wrap == 0);
  CHECK(m.driver_event().flags == 0);
  CHECK(m.device_event().off_wrap == 0);
  CHECK(m.device_event().flags == 0);
  CHECK(d.size() == 5);
  CHECK(d.free_descriptors() == 5);
  CHECK(d.in_flight() == 0);
  CHECK(d.avail_index() == 0x8000);  // slot 0, Driver Ring Wrap Counter 1 (§2.8.1)
  CHECK(d.enable_interrupts() == false);
  CHECK(m.driver_event().off_wrap == 0x8000);  // used-wrap counter also starts at 1
}

TEST_CASE("packed_driver: configure() drops everything in flight") {
  mock m{opts(4)};
  auto& d = m.driver();
  REQUIRE(d.add({}, bufs(m, 3, 8)).has_value());
  CHECK(d.free_descriptors() == 1);
  REQUIRE(d.configure(m.config()).has_value());
  CHECK(d.free_descriptors() == 4);
  CHECK(d.in_flight() == 0);
  CHECK(m.read_desc(0).flags == 0);
  auto id = d.add({}, bufs(m, 4, 8));
  REQUIRE(id.has_value());
  CHECK(m.read_desc(0).flags == avail_flags(true, desc_flag::write | desc_flag::next));
}

TEST_CASE("packed_driver: reset() stops the queue; detach_unused() hands back what was in flight") {
  mock m{opts(8)};
  auto& d = m.driver();
  emu_device dev{m};
  for (std::uint64_t k = 1; k <= 3; ++k) REQUIRE(d.add({}, bufs(m, 2, 8), k * 100).has_value());
  CHECK(!d.detach_unused().has_value());  // live queue: the device may still own them
  dev.complete(pop_ok(dev), 0);
  CHECK(reclaim_ok(m).user_data == 100);
  d.reset();
  CHECK(!d.ready());
  CHECK(!d.broken());
  CHECK(err(d.add({}, bufs(m, 1, 8))) == errc::queue_not_ready);
  CHECK(err(d.reclaim()) == errc::queue_not_ready);
  std::vector<std::uint64_t> got;
  while (auto u = d.detach_unused()) got.push_back(*u);
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::uint64_t>{200, 300});
  CHECK(d.in_flight() == 0);
  REQUIRE(d.configure(m.config()).has_value());
  CHECK(d.free_descriptors() == 8);
  CHECK(!d.detach_unused().has_value());

  // A broken queue also gives its buffers back.
  REQUIRE(d.add({}, bufs(m, 1, 8), 7).has_value());
  m.mark_used(0, 9, 0, true);
  CHECK(err(d.reclaim()) == errc::used_id_out_of_range);
  CHECK(d.detach_unused() == std::optional<std::uint64_t>{7});
  CHECK(!d.detach_unused().has_value());
}

// ---- add(): what lands in the ring ----------------------------------------------------------

TEST_CASE("packed_driver: add() writes a direct list: addr, len and id in every slot, flags with the wrap marks") {
  mock m{opts(8)};
  auto& d = m.driver();
  const std::vector<buffer> r{{m.alloc(10), 10}, {m.alloc(20), 20}};
  const std::vector<buffer> w{{m.alloc(30), 30}};
  auto id = d.add(r, w, 0xabc);
  REQUIRE(id.has_value());
  CHECK(*id < 8);
  const desc_fields s0 = m.read_desc(0), s1 = m.read_desc(1), s2 = m.read_desc(2);
  CHECK(s0.addr == r[0].addr.raw());
  CHECK(s0.len == 10);
  CHECK(s1.addr == r[1].addr.raw());
  CHECK(s1.len == 20);
  CHECK(s2.addr == w[0].addr.raw());
  CHECK(s2.len == 30);
  CHECK(s0.id == *id);
  CHECK(s1.id == *id);
  CHECK(s2.id == *id);
  // AVAIL = 1, USED = 0 in wrap phase 1; NEXT on all but the last; WRITE on the writable one.
  CHECK(s0.flags == (packed_flag::avail | desc_flag::next));
  CHECK(s1.flags == (packed_flag::avail | desc_flag::next));
  CHECK(s2.flags == (packed_flag::avail | desc_flag::write));
  CHECK(m.read_desc(3).flags == 0);  // nothing beyond the list
  CHECK(d.free_descriptors() == 5);
  CHECK(d.in_flight() == 1);
  CHECK(d.avail_index() == (0x8000 | 3));

  const std::vector<buffer> one{{m.alloc(4), 4}};
  auto id2 = d.add({}, one);
  REQUIRE(id2.has_value());
  CHECK(*id2 != *id);
  CHECK(m.read_desc(3).flags == (packed_flag::avail | desc_flag::write));
  CHECK(m.read_desc(3).id == *id2);
}

TEST_CASE("packed_driver: indirect add takes one slot and a table at the buffer id") {
  mock m{opts(8, features(true, false, false), 4)};
  auto& d = m.driver();
  const std::vector<buffer> r{{m.alloc(10), 10}, {m.alloc(20), 20}};
  const std::vector<buffer> w{{m.alloc(30), 30}};
  auto a = d.add(r, w, 1, add_mode::indirect);
  auto b = d.add(r, {}, 2, add_mode::indirect);
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(d.free_descriptors() == 6);
  for (auto [slot, id, count] : {std::tuple{0, *a, 3u}, std::tuple{1, *b, 2u}}) {
    const desc_fields h = m.read_desc(static_cast<std::uint16_t>(slot));
    CHECK(h.flags == (desc_flag::indirect | packed_flag::avail));
    CHECK(h.id == id);
    CHECK(h.len == count * 16);
    CHECK(h.addr == m.pool().base.raw() + std::uint64_t{id} * 4 * 16);  // table per buffer id
    for (std::uint32_t i = 0; i < count; ++i) {
      const desc_fields e = m.read_desc_at(gpa{h.addr + 16u * i});
      const buffer& want = i < 2 ? r[i] : w[0];
      CHECK(e.addr == want.addr.raw());
      CHECK(e.len == want.len);
      CHECK(e.flags == (i < 2 ? 0 : desc_flag::write));  // no NEXT: entries are consecutive
    }
  }
  // Errors: more entries than a table holds, indirect without a pool.
  CHECK(err(d.add(bufs(m, 5, 4), {}, 0, add_mode::indirect)) == errc::invalid_argument);
  mock plain{opts(8)};
  CHECK(err(plain.driver().add(r, w, 0, add_mode::indirect)) == errc::invalid_argument);
  // The device emulation reads both back.
  emu_device dev{m};
  const popped pa = pop_ok(dev);
  CHECK(pa.indirect);
  CHECK(pa.id == *a);
  CHECK(pa.slots == 1);
  CHECK(pa.bufs.size() == 3);
  CHECK(pa.writable == 30);
}

TEST_CASE("packed_driver: add_mode automatic goes indirect only when the list does not fit") {
  mock m{opts(4, features(true, false, false), 4)};
  auto& d = m.driver();
  REQUIRE(d.add({}, bufs(m, 3, 4)).has_value());  // fits: direct
  CHECK((m.read_desc(0).flags & desc_flag::indirect) == 0);
  CHECK(d.free_descriptors() == 1);
  REQUIRE(d.add({}, bufs(m, 3, 4)).has_value());  // does not fit: indirect
  CHECK((m.read_desc(3).flags & desc_flag::indirect) != 0);
  CHECK(d.free_descriptors() == 0);
  CHECK(err(d.add({}, bufs(m, 1, 4))) == errc::ring_full);
}

TEST_CASE("packed_driver: add() argument errors") {
  mock m{opts(4, features(true, false, false), 8)};
  auto& d = m.driver();
  CHECK(err(d.add({}, {})) == errc::empty_chain);
  // §2.8.17: never a list longer than the queue, not even through an indirect table.
  CHECK(err(d.add({}, bufs(m, 5, 4), 0, add_mode::indirect)) == errc::invalid_argument);
  CHECK(err(d.add({}, bufs(m, 5, 4))) == errc::invalid_argument);
  const std::vector<buffer> huge{{m.alloc(1), 0x8000'0000u}, {m.alloc(1), 0x8000'0000u}};
  CHECK(err(d.add(huge, {})) == errc::total_len_overflow);  // 2^32 bytes
  CHECK(d.free_descriptors() == 4);
  CHECK(d.in_flight() == 0);
  CHECK(d.avail_index() == 0x8000);
  CHECK(m.read_desc(0).flags == 0);
}

TEST_CASE("packed_driver: ring_full checks the whole list before exposing anything") {
  mock m{opts(4)};
  auto& d = m.driver();
  REQUIRE(d.add({}, bufs(m, 3, 8)).has_value());
  const auto two = bufs(m, 2, 8);
  const auto before = std::vector<std::byte>(m.memory().host().begin(), m.memory().host().end());
  CHECK(err(d.add({}, two)) == errc::ring_full);
  CHECK(err(d.add({}, two, 0, add_mode::direct)) == errc::ring_full);
  const auto after = std::vector<std::byte>(m.memory().host().begin(), m.memory().host().end());
  CHECK(after == before);  // not one byte of the ring changed (§2.8.17)
  CHECK(d.free_descriptors() == 1);
  CHECK(d.in_flight() == 1);
  CHECK(d.avail_index() == (0x8000 | 3));
  REQUIRE(d.add({}, std::span{two}.first(1)).has_value());
  CHECK(d.free_descriptors() == 0);
  CHECK(err(d.add({}, std::span{two}.first(1))) == errc::ring_full);
}

TEST_CASE("packed_driver: the list is complete when its head becomes available (head flags last)") {
  // Deterministic part: after add(), every non-head slot already carries its final contents.
  {
    mock m{opts(5)};
    auto& d = m.driver();
    REQUIRE(d.add({}, bufs(m, 4, 8)).has_value());
    for (std::uint16_t s = 1; s < 4; ++s) {
      CHECK(packed_flag::is_avail(m.read_desc(s).flags, true));
      CHECK(m.read_desc(s).len == 8);
    }
  }
  // Concurrent part: a device thread polls the head with acquire and checks every slot of the
  // list the moment the head turns available. A head published before the rest shows up as a
  // stale slot (old wrap phase or old contents). N = 7 with lists of 3 wraps mid-list often.
  constexpr std::uint16_t n = 7;
  constexpr std::uint64_t lists = 30000;
  mock m{opts(n)};
  auto& d = m.driver();
  std::atomic<std::uint64_t> bad{0};
  std::atomic<bool> stop{false};
  auto addr_of = [](std::uint64_t seq, std::uint32_t i) {
    return 0x10'0000'0000ull + seq * 64 + i * 16;
  };
  // No doctest assertion while the device thread runs (a throwing REQUIRE would leave it
  // joinable): both sides record failures in `bad` and raise `stop`.
  auto give_up = [&] {
    bad.fetch_add(1);
    stop.store(true);
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::thread device([&] {
    std::uint16_t avail = 0, used = 0;
    bool aw = true, uw = true;
    std::uint32_t misses = 0;
    for (std::uint64_t seq = 0; seq < lists && !stop.load(std::memory_order_relaxed);) {
      if (!packed_flag::is_avail(m.desc_flags(avail), aw)) {
        // Spin hard (the window between two stores is short), yield now and then.
        if (++misses % 4096 == 0) {
          if (std::chrono::steady_clock::now() > deadline) return give_up();
          std::this_thread::yield();
        }
        continue;
      }
      std::uint16_t id = 0;
      for (std::uint32_t i = 0; i < 3; ++i) {
        const desc_fields f = m.read_desc(avail);
        const std::uint16_t want_flags = static_cast<std::uint16_t>(
            packed_flag::avail_marks(aw) | (i < 2 ? desc_flag::next : 0));
        if (f.flags != want_flags || f.addr != addr_of(seq, i) || f.len != i + 1) return give_up();
        if (i == 0) id = f.id;
        else if (f.id != id) return give_up();
        if (++avail == n) {
          avail = 0;
          aw = !aw;
        }
      }
      m.mark_used(used, id, 0, uw);
      for (int k = 0; k < 3; ++k)
        if (++used == n) {
          used = 0;
          uw = !uw;
        }
      ++seq;
    }
  });
  std::deque<std::uint64_t> pending;
  std::uint64_t done = 0;
  for (std::uint64_t seq = 0; done < lists && !stop.load(std::memory_order_relaxed);) {
    if (seq < lists) {
      const std::vector<buffer> r{{gpa{addr_of(seq, 0)}, 1}, {gpa{addr_of(seq, 1)}, 2},
                                  {gpa{addr_of(seq, 2)}, 3}};
      auto id = d.add(r, {}, seq);
      if (id.has_value()) {
        pending.push_back(seq++);
        continue;
      }
      if (err(id) != errc::ring_full) give_up();
    }
    auto u = d.reclaim();
    if (!u.has_value()) {
      give_up();
    } else if (u->has_value()) {
      // The device completes in order.
      if (pending.empty() || (*u)->user_data != pending.front()) give_up();
      else pending.pop_front();
      ++done;
    } else if (std::chrono::steady_clock::now() > deadline) {
      give_up();
    } else {
      std::this_thread::yield();
    }
  }
  stop.store(true);
  device.join();
  CHECK(bad.load() == 0);
  CHECK(done == lists);
  CHECK(pending.empty());
  CHECK(d.in_flight() == 0);
}

TEST_CASE("packed_driver: N = 5 with lists of 3: the wrap counter flips mid-list") {
  mock m{opts(5)};
  auto& d = m.driver();
  emu_device dev{m};

  auto a = d.add(bufs(m, 2, 8), bufs(m, 1, 8), 1);  // slots 0,1,2 in phase 1
  REQUIRE(a.has_value());
  dev.complete(pop_ok(dev), 8);
  CHECK(reclaim_ok(m).id == *a);

  auto b = d.add(bufs(m, 1, 8), bufs(m, 2, 16), 2);  // slots 3,4 in phase 1, slot 0 in phase 0
  REQUIRE(b.has_value());
  CHECK(m.read_desc(3).flags == avail_flags(true, desc_flag::next));
  CHECK(m.read_desc(4).flags == avail_flags(true, desc_flag::next | desc_flag::write));
  CHECK(m.read_desc(0).flags == avail_flags(false, desc_flag::write));  // AVAIL 0, USED 1
  CHECK(m.read_desc(0).flags == (packed_flag::used | desc_flag::write));
  for (std::uint16_t s : {3, 4, 0}) CHECK(m.read_desc(s).id == *b);
  CHECK(d.avail_index() == 1);  // slot 1, wrap counter 0

  const popped pb = pop_ok(dev);
  CHECK(pb.id == *b);
  CHECK(pb.slots == 3);
  CHECK(pb.writable == 32);
  CHECK(!dev.pop().has_value());
  dev.complete(pb, 20);  // used descriptor at slot 3 in phase 1; used cursor -> slot 1, phase 0
  CHECK(m.read_desc(3).flags == (packed_flag::used_marks(true) | desc_flag::write));
  const used_buffer ub = reclaim_ok(m);
  CHECK(ub.id == *b);
  CHECK(ub.len == 20);
  CHECK(ub.user_data == 2);

  auto c = d.add(bufs(m, 3, 8), {}, 3);  // slots 1,2,3 in phase 0
  REQUIRE(c.has_value());
  CHECK(m.read_desc(1).flags == (packed_flag::used | desc_flag::next));
  CHECK(m.read_desc(3).flags == packed_flag::used);
  CHECK(d.avail_index() == 4);
  dev.complete(pop_ok(dev), 0);  // used at slot 1 in phase 0: AVAIL = USED = 0
  CHECK(m.read_desc(1).flags == 0);
  CHECK(reclaim_ok(m).id == *c);
  expect_nothing_used(m);

  // Keep going: many laps of 3-slot lists over 5 slots.
  for (std::uint32_t k = 0; k < 200; ++k) {
    auto id = d.add(bufs(m, 1, 4), bufs(m, 2, 4), k);
    REQUIRE(id.has_value());
    const popped p = pop_ok(dev);
    CHECK(p.id == *id);
    CHECK(p.slots == 3);
    dev.complete(p, k % 9);
    const used_buffer u = reclaim_ok(m);
    CHECK(u.id == *id);
    CHECK(u.len == k % 9);
    CHECK(u.user_data == k);
    if (k % 50 == 0) m.reset_arena();
  }
  CHECK(d.free_descriptors() == 5);
}

// ---- buffer ids and reclaim ----------------------------------------------------------------

TEST_CASE("packed_driver: buffer ids come from a free list below the queue size and are reused") {
  mock m{opts(4)};
  auto& d = m.driver();
  emu_device dev{m};
  std::vector<std::uint16_t> ids;
  for (int k = 0; k < 4; ++k) {
    auto id = d.add({}, bufs(m, 1, 4));
    REQUIRE(id.has_value());
    CHECK(*id < 4);
    CHECK(std::find(ids.begin(), ids.end(), *id) == ids.end());
    ids.push_back(*id);
  }
  CHECK(err(d.add({}, bufs(m, 1, 4))) == errc::ring_full);
  std::vector<popped> ps;
  for (int k = 0; k < 4; ++k) ps.push_back(pop_ok(dev));
  dev.complete(ps[2], 0);  // out of order
  CHECK(reclaim_ok(m).id == ids[2]);
  auto again = d.add({}, bufs(m, 1, 4));
  REQUIRE(again.has_value());
  CHECK(*again == ids[2]);  // the freed id comes back
  // Ids stay below the size across many out-of-order rounds.
  std::mt19937 rng{3};
  ps.erase(ps.begin() + 2);
  ps.push_back(pop_ok(dev));
  for (int round = 0; round < 2000; ++round) {
    const std::size_t k = rng() % ps.size();
    dev.complete(ps[k], 0);
    const used_buffer u = reclaim_ok(m);
    CHECK(u.id == ps[k].id);
    ps.erase(ps.begin() + static_cast<std::ptrdiff_t>(k));
    auto id = d.add({}, bufs(m, 1, 4));
    REQUIRE(id.has_value());
    CHECK(*id < 4);
    for (const auto& p : ps) CHECK(p.id != *id);
    ps.push_back(pop_ok(dev));
    if (round % 256 == 0) m.reset_arena();
  }
}

TEST_CASE("packed_driver: reclaim() returns id, length and user_data; len is read without WRITE") {
  mock m{opts(8)};
  auto& d = m.driver();
  emu_device dev{m};
  expect_nothing_used(m);
  std::vector<std::uint16_t> ids;
  for (std::uint64_t k = 0; k < 3; ++k) {
    auto id = d.add(bufs(m, 1, 4), bufs(m, 1, 64), 0xfeed0000'00000000ull + k);
    REQUIRE(id.has_value());
    ids.push_back(*id);
  }
  std::vector<popped> ps;
  for (int k = 0; k < 3; ++k) ps.push_back(pop_ok(dev));
  dev.complete(ps[1], 10);
  dev.complete(ps[0], 64);
  // QEMU never sets WRITE on a used descriptor: its len still counts (§2.8.4 interop).
  m.write_used(dev.used_slot(), ps[2].id, 7, packed_flag::used_marks(dev.used_wrap()));
  const used_buffer u1 = reclaim_ok(m), u2 = reclaim_ok(m), u3 = reclaim_ok(m);
  CHECK(u1.id == ids[1]);
  CHECK(u1.len == 10);
  CHECK(u1.user_data == 0xfeed0000'00000001ull);
  CHECK(u2.id == ids[0]);
  CHECK(u2.len == 64);
  CHECK(u2.user_data == 0xfeed0000'00000000ull);
  CHECK(u3.id == ids[2]);
  CHECK(u3.len == 7);
  CHECK(u3.user_data == 0xfeed0000'00000002ull);
  expect_nothing_used(m);
  CHECK(d.free_descriptors() == 8);
}

TEST_CASE("packed_driver: out-of-order completion advances by the completed list's slot count") {
  mock m{opts(8)};
  auto& d = m.driver();
  emu_device dev{m};
  auto a = d.add({}, bufs(m, 1, 4), 'a');  // slot 0
  auto b = d.add({}, bufs(m, 3, 4), 'b');  // slots 1-3
  auto c = d.add({}, bufs(m, 2, 4), 'c');  // slots 4-5
  REQUIRE((a && b && c));
  const popped pa = pop_ok(dev), pb = pop_ok(dev), pc = pop_ok(dev);
  CHECK(d.free_descriptors() == 2);

  dev.complete(pc, 8);  // used at slot 0, device cursor -> 2
  CHECK(m.read_desc(0).id == *c);
  used_buffer u = reclaim_ok(m);
  CHECK(u.id == *c);
  CHECK(u.user_data == 'c');
  CHECK(d.free_descriptors() == 4);
  expect_nothing_used(m);  // slot 2 still holds B's available descriptor: not used

  dev.complete(pa, 4);  // used at slot 2, cursor -> 3
  CHECK(m.read_desc(2).id == *a);
  CHECK(reclaim_ok(m).id == *a);
  CHECK(d.free_descriptors() == 5);

  dev.complete(pb, 12);  // used at slot 3, cursor -> 6
  CHECK(m.read_desc(3).id == *b);
  u = reclaim_ok(m);
  CHECK(u.id == *b);
  CHECK(u.len == 12);
  CHECK(d.free_descriptors() == 8);
  expect_nothing_used(m);

  // The driver's used cursor is at slot 6 now, in step with the device's.
  CHECK(dev.used_slot() == 6);
  auto e = d.add({}, bufs(m, 3, 4), 'e');  // slots 6,7,0 (wrap mid-list)
  REQUIRE(e.has_value());
  dev.complete(pop_ok(dev), 1);  // used at slot 6 phase 1, cursor -> 1 phase 0
  CHECK(reclaim_ok(m).id == *e);
  auto f = d.add({}, bufs(m, 1, 4), 'f');  // slot 1 phase 0
  REQUIRE(f.has_value());
  dev.complete(pop_ok(dev), 2);
  CHECK(m.read_desc(1).flags == desc_flag::write);  // used in phase 0: AVAIL = USED = 0
  CHECK(reclaim_ok(m).id == *f);
}

TEST_CASE("packed_driver: IN_ORDER: one used descriptor completes every buffer up to its id") {
  mock m{opts(8, features(false, true, true))};
  auto& d = m.driver();
  emu_device dev{m};
  auto a = d.add({}, bufs(m, 2, 10), 'a');  // slots 0-1, writable 20
  auto b = d.add(bufs(m, 1, 4), {}, 'b');   // slot 2, writable 0
  auto c = d.add({}, bufs(m, 3, 4), 'c');   // slots 3-5, writable 12
  REQUIRE((a && b && c));
  for (int k = 0; k < 3; ++k) (void)pop_ok(dev);
  // §2.8.8: the device writes one used descriptor, over the batch's first slot, naming the
  // last buffer, and skips all six slots.
  dev.complete_as(*c, 9, 6);
  CHECK(m.read_desc(0).id == *c);

  used_buffer u = reclaim_ok(m);
  CHECK(u.id == *a);
  CHECK(u.len == 20);  // skipped buffers count as fully used
  CHECK(u.user_data == 'a');
  CHECK(d.enable_interrupts());  // the rest of the batch is pending
  // The used cursor moved past the whole batch at once: the next event is slot 6.
  CHECK(m.driver_event().off_wrap == (0x8000 | 6));
  u = reclaim_ok(m);
  CHECK(u.id == *b);
  CHECK(u.len == 0);
  CHECK(u.user_data == 'b');
  u = reclaim_ok(m);
  CHECK(u.id == *c);
  CHECK(u.len == 9);  // the named buffer reports the device's length
  CHECK(u.user_data == 'c');
  expect_nothing_used(m);
  CHECK(!d.enable_interrupts());
  CHECK(d.free_descriptors() == 8);
  CHECK(d.in_flight() == 0);

  // A single completion (the oldest) still works, and the cursors stay in step across a wrap.
  auto e = d.add({}, bufs(m, 3, 4), 'e');  // slots 6,7,0
  auto f = d.add({}, bufs(m, 1, 4), 'f');  // slot 1
  REQUIRE((e && f));
  const popped pe = pop_ok(dev), pf = pop_ok(dev);
  dev.complete(pe, 3);
  CHECK(reclaim_ok(m).id == *e);
  expect_nothing_used(m);
  dev.complete(pf, 4);
  u = reclaim_ok(m);
  CHECK(u.id == *f);
  CHECK(u.len == 4);
}

TEST_CASE("packed_driver: IN_ORDER: the named buffer's length is still checked") {
  mock m{opts(8, features(false, false, true))};
  auto& d = m.driver();
  emu_device dev{m};
  auto a = d.add({}, bufs(m, 1, 8));
  auto b = d.add({}, bufs(m, 1, 8));
  REQUIRE((a && b));
  dev.complete_as(*b, 9, 2);
  CHECK(err(d.reclaim()) == errc::used_len_too_large);
  CHECK(d.broken());
  CHECK(d.in_flight() == 2);  // nothing retired from bad data
}

// ---- hostile device ------------------------------------------------------------------------

TEST_CASE("packed_driver: hostile device: used id >= size breaks the queue until configure()") {
  mock m{opts(8)};
  auto& d = m.driver();
  REQUIRE(d.add({}, bufs(m, 2, 8)).has_value());
  m.mark_used(0, 8, 0, true);
  CHECK(err(d.reclaim()) == errc::used_id_out_of_range);
  CHECK(d.broken());
  CHECK(!d.ready());
  CHECK(d.broken_reason() == errc::used_id_out_of_range);
  // Sticky: every call refuses, nothing is touched.
  CHECK(err(d.reclaim()) == errc::queue_broken);
  CHECK(err(d.add({}, bufs(m, 1, 8))) == errc::queue_broken);
  CHECK(!d.needs_kick());
  CHECK(!d.enable_interrupts());
  CHECK(d.in_flight() == 1);
  CHECK(d.free_descriptors() == 6);
  m.mark_used(0, 0xffff, 0, true);
  CHECK(err(d.reclaim()) == errc::queue_broken);
  // configure() starts afresh.
  REQUIRE(d.configure(m.config(), m.pool()).has_value());
  CHECK(!d.broken());
  CHECK(d.ready());
  emu_device dev{m};
  auto id = d.add({}, bufs(m, 1, 8));
  REQUIRE(id.has_value());
  dev.complete(pop_ok(dev), 8);
  CHECK(reclaim_ok(m).id == *id);
}

TEST_CASE("packed_driver: hostile device: used id not in flight") {
  mock m{opts(8)};
  auto& d = m.driver();
  auto id = d.add({}, bufs(m, 1, 8));
  REQUIRE(id.has_value());
  m.mark_used(0, static_cast<std::uint16_t>((*id + 1) % 8), 0, true);
  CHECK(err(d.reclaim()) == errc::used_id_not_in_flight);
  CHECK(d.broken_reason() == errc::used_id_not_in_flight);
  CHECK(err(d.add({}, bufs(m, 1, 8))) == errc::queue_broken);

  // Nothing in flight at all: any used-looking slot names an id not in flight.
  mock e{opts(8)};
  e.mark_used(0, 0, 0, true);
  CHECK(err(e.driver().reclaim()) == errc::used_id_not_in_flight);
}

TEST_CASE("packed_driver: hostile device: an id completed twice") {
  mock m{opts(8)};
  auto& d = m.driver();
  emu_device dev{m};
  auto a = d.add({}, bufs(m, 1, 8));
  auto b = d.add({}, bufs(m, 1, 8));
  REQUIRE((a && b));
  const popped pa = pop_ok(dev);
  dev.complete(pa, 8);
  CHECK(reclaim_ok(m).id == *a);
  dev.complete(pa, 8);  // the same id again, at the next used slot
  CHECK(err(d.reclaim()) == errc::used_id_not_in_flight);
  CHECK(d.in_flight() == 1);  // b is still accounted for
}

TEST_CASE("packed_driver: hostile device: flags in the wrong wrap phase are not used") {
  mock m{opts(4)};
  auto& d = m.driver();
  emu_device dev{m};
  auto id = d.add({}, bufs(m, 1, 8));
  REQUIRE(id.has_value());
  const popped p = pop_ok(dev);
  // Phase 0 used marks (AVAIL = USED = 0) while the driver expects phase 1.
  m.write_used(0, *id, 8, packed_flag::used_marks(false) | desc_flag::write);
  expect_nothing_used(m);
  // AVAIL != USED: available-looking, not used, in either phase.
  m.write_used(0, *id, 8, packed_flag::avail);
  expect_nothing_used(m);
  m.write_used(0, *id, 8, packed_flag::used);
  expect_nothing_used(m);
  CHECK(!d.broken());
  CHECK(!d.enable_interrupts());
  dev.complete(p, 8);  // the right marks: AVAIL = USED = 1
  CHECK(d.enable_interrupts());
  CHECK(reclaim_ok(m).id == *id);

  // A used descriptor left from the previous lap (phase 1) does not count in phase 0.
  for (int k = 0; k < 3; ++k) {
    auto x = d.add({}, bufs(m, 1, 8));
    REQUIRE(x.has_value());
    dev.complete(pop_ok(dev), 0);
    CHECK(reclaim_ok(m).id == *x);
  }
  auto y = d.add({}, bufs(m, 1, 8));  // slot 0, phase 0
  REQUIRE(y.has_value());
  m.mark_used(0, *y, 0, true);  // a phase-1 used descriptor: stale
  expect_nothing_used(m);
  m.mark_used(0, *y, 0, false);
  CHECK(reclaim_ok(m).id == *y);
}

TEST_CASE("packed_driver: hostile device: a used length above the writable bytes") {
  mock m{opts(8)};
  auto& d = m.driver();
  auto w = d.add(bufs(m, 1, 4), bufs(m, 2, 8));  // 16 writable bytes
  REQUIRE(w.has_value());
  m.mark_used(0, *w, 16, true);
  CHECK(reclaim_ok(m).len == 16);  // exactly the writable size is fine
  auto r = d.add(bufs(m, 2, 4), {});  // read-only: 0 writable bytes, at slots 3-4
  REQUIRE(r.has_value());
  m.mark_used(3, *r, 1, true);
  CHECK(err(d.reclaim()) == errc::used_len_too_large);
  CHECK(d.broken_reason() == errc::used_len_too_large);
  CHECK(d.in_flight() == 1);
  CHECK(err(d.reclaim()) == errc::queue_broken);
  REQUIRE(d.configure(m.config()).has_value());
  CHECK(d.ready());
}

// ---- notifications -------------------------------------------------------------------------

TEST_CASE("packed_driver: needs_kick() with ENABLE and DISABLE") {
  mock m{opts(8)};
  auto& d = m.driver();
  CHECK(!d.needs_kick());  // nothing added
  REQUIRE(d.add({}, bufs(m, 2, 4)).has_value());
  CHECK(d.needs_kick());   // flags 0 = ENABLE after configure()
  CHECK(!d.needs_kick());  // nothing new since the last decision
  m.set_device_event(0, event_flag::disable);
  REQUIRE(d.add({}, bufs(m, 1, 4)).has_value());
  CHECK(!d.needs_kick());
  m.set_device_event(0, event_flag::enable);
  REQUIRE(d.add({}, bufs(m, 1, 4)).has_value());
  CHECK(d.needs_kick());
  // DESC without EVENT_IDX is not allowed (§2.8.10); kicking is the safe reading of it, and of
  // the reserved value 3.
  m.set_device_event(make_off_wrap(7, false), event_flag::desc);
  REQUIRE(d.add({}, bufs(m, 1, 4)).has_value());
  CHECK(d.needs_kick());
  m.set_device_event(0, 3);
  REQUIRE(d.add({}, bufs(m, 1, 4)).has_value());
  CHECK(d.needs_kick());
  // Bits 2-15 of flags are reserved (§2.8.14) and ignored: DISABLE with them set is DISABLE.
  m.set_device_event(0, static_cast<std::uint16_t>(0xfffcu | event_flag::disable));
  REQUIRE(d.add({}, bufs(m, 1, 4)).has_value());
  CHECK(!d.needs_kick());
}

TEST_CASE("packed_driver: needs_kick() with DESC: a target inside a multi-slot list") {
  mock m{opts(8, features(false, true, false))};
  auto& d = m.driver();
  m.set_device_event(make_off_wrap(1, true), event_flag::desc);
  REQUIRE(d.add({}, bufs(m, 3, 4)).has_value());  // slots 0-2: slot 1 is inside
  CHECK(d.needs_kick());
  m.set_device_event(make_off_wrap(5, true), event_flag::desc);
  REQUIRE(d.add({}, bufs(m, 1, 4)).has_value());  // slot 3
  CHECK(!d.needs_kick());
  REQUIRE(d.add({}, bufs(m, 3, 4)).has_value());  // slots 4-6 cover 5 (an equality test on
  CHECK(d.needs_kick());                           // the head, 4, would miss it)
  m.set_device_event(make_off_wrap(7, true), event_flag::desc);
  CHECK(!d.needs_kick());  // nothing new
  // The decision covers every slot since the last one, not only the last list.
  REQUIRE(d.configure(m.config()).has_value());
  m.set_device_event(make_off_wrap(0, true), event_flag::desc);
  REQUIRE(d.add({}, bufs(m, 1, 4)).has_value());
  REQUIRE(d.add({}, bufs(m, 1, 4)).has_value());
  CHECK(d.needs_kick());
  REQUIRE(d.add({}, bufs(m, 1, 4)).has_value());
  CHECK(!d.needs_kick());  // slot 0 was before this window
}

namespace {
/// N = 5: publish slots 0-2 (phase 1), drain them, set the device's event, then publish a list
/// of 3 at slots 3,4 (phase 1) and 0 (phase 0): the driver's counter has flipped to 0.
bool kick_after_wrapping_list(std::uint16_t off_wrap) {
  mock m{opts(5, features(false, true, false))};
  auto& d = m.driver();
  emu_device dev{m};
  REQUIRE(d.add({}, bufs(m, 3, 4)).has_value());
  (void)d.needs_kick();
  dev.complete(pop_ok(dev), 0);
  (void)reclaim_ok(m);
  m.set_device_event(off_wrap, event_flag::desc);
  REQUIRE(d.add({}, bufs(m, 3, 4)).has_value());
  REQUIRE(d.avail_index() == 1);  // slot 1, phase 0
  return d.needs_kick();
}
}  // namespace

TEST_CASE("packed_driver: needs_kick() with DESC: the event's wrap phase differs from the driver's") {
  // Window: slots 3 and 4 of the phase-1 lap and slot 0 of the phase-0 lap.
  CHECK(kick_after_wrapping_list(make_off_wrap(3, true)));
  CHECK(kick_after_wrapping_list(make_off_wrap(4, true)));   // other phase: off - N (§2.8.10)
  CHECK(kick_after_wrapping_list(make_off_wrap(0, false)));  // current phase
  CHECK(!kick_after_wrapping_list(make_off_wrap(2, true)));  // published before the window
  CHECK(!kick_after_wrapping_list(make_off_wrap(0, true)));  // previous lap's slot 0: long ago
  CHECK(!kick_after_wrapping_list(make_off_wrap(1, false))); // not published yet
  CHECK(!kick_after_wrapping_list(make_off_wrap(4, false))); // not published yet
}

TEST_CASE("packed_driver: needs_kick() with DESC after a whole lap without a decision") {
  mock m{opts(4, features(false, true, false))};
  auto& d = m.driver();
  emu_device dev{m};
  m.set_device_event(make_off_wrap(3, false), event_flag::desc);
  for (int k = 0; k < 5; ++k) {  // 5 slots published, no needs_kick() in between
    REQUIRE(d.add({}, bufs(m, 1, 4)).has_value());
    dev.complete(pop_ok(dev), 0);
    (void)reclaim_ok(m);
  }
  CHECK(d.needs_kick());  // the window no longer says which lap: kick to be safe
}

TEST_CASE("packed_driver: enable_interrupts() and disable_interrupts() write the Driver Event Suppression area") {
  SUBCASE("without EVENT_IDX: ENABLE / DISABLE") {
    mock m{opts(4)};
    auto& d = m.driver();
    d.disable_interrupts();
    CHECK(m.driver_event().flags == event_flag::disable);
    CHECK(m.driver_event().off_wrap == 0);
    CHECK(!d.enable_interrupts());
    CHECK(m.driver_event().flags == event_flag::enable);
    CHECK(m.driver_event().off_wrap == 0);
    auto id = d.add({}, bufs(m, 1, 4));
    REQUIRE(id.has_value());
    CHECK(!d.enable_interrupts());
    m.mark_used(0, *id, 4, true);
    CHECK(d.enable_interrupts());  // a used buffer is already waiting
    CHECK(reclaim_ok(m).id == *id);
    CHECK(!d.enable_interrupts());
  }
  SUBCASE("with EVENT_IDX: off_wrap = last_used | used_wrap << 15, then DESC") {
    mock m{opts(3, features(false, true, false))};
    auto& d = m.driver();
    emu_device dev{m};
    CHECK(!d.enable_interrupts());
    CHECK(m.driver_event().off_wrap == 0x8000);
    CHECK(m.driver_event().flags == event_flag::desc);
    d.disable_interrupts();
    CHECK(m.driver_event().flags == event_flag::disable);
    CHECK(m.driver_event().off_wrap == 0x8000);  // left alone
    REQUIRE(d.add({}, bufs(m, 2, 4)).has_value());
    dev.complete(pop_ok(dev), 0);
    CHECK(d.enable_interrupts());
    (void)reclaim_ok(m);
    CHECK(!d.enable_interrupts());
    CHECK(m.driver_event().off_wrap == (0x8000 | 2));
    REQUIRE(d.add({}, bufs(m, 2, 4)).has_value());  // slots 2, 0
    dev.complete(pop_ok(dev), 0);
    (void)reclaim_ok(m);
    CHECK(!d.enable_interrupts());
    CHECK(m.driver_event().off_wrap == 1);  // slot 1, used wrap counter 0
    CHECK(m.driver_event().flags == event_flag::desc);
  }
}

TEST_CASE("packed_driver: avail_index() is the next slot and the driver wrap counter (NOTIFICATION_DATA)") {
  mock m{opts(3)};
  auto& d = m.driver();
  emu_device dev{m};
  CHECK(d.avail_index() == 0x8000);
  REQUIRE(d.add({}, bufs(m, 2, 4)).has_value());
  CHECK(d.avail_index() == 0x8002);
  dev.complete(pop_ok(dev), 0);
  (void)reclaim_ok(m);
  REQUIRE(d.add({}, bufs(m, 2, 4)).has_value());  // slots 2, 0
  CHECK(d.avail_index() == 0x0001);
  CHECK(d.avail_index() == d.avail_index());  // repeating it is fine (§2.8.16)
}

TEST_CASE("packed_driver: mock_packed_driver raw helpers") {
  mock m{opts(5)};
  const gpa b0 = m.alloc(8), b1 = m.alloc(8), b2 = m.alloc(8);
  // A raw list from slot 3 in phase 1: slots 3, 4 keep phase 1, slot 0 gets phase 0.
  const auto [next, wrap] = m.publish_chain(
      3, true,
      {desc_fields{b0.raw(), 8, 4, desc_flag::next}, desc_fields{b1.raw(), 8, 4, desc_flag::next},
       desc_fields{b2.raw(), 8, 4, static_cast<std::uint16_t>(desc_flag::write | packed_flag::avail)}});
  CHECK(next == 1);
  CHECK(!wrap);
  CHECK(m.read_desc(3).flags == avail_flags(true, desc_flag::next));
  CHECK(m.read_desc(4).flags == avail_flags(true, desc_flag::next));
  CHECK(m.read_desc(0).flags == avail_flags(false, desc_flag::write));  // given AVAIL replaced
  CHECK(m.read_desc(4).addr == b1.raw());
  CHECK(m.read_desc(0).id == 4);
  // Raw writers and readers.
  m.write_desc(2, 0x1234, 99, 7, 0xffff);
  const desc_fields f = m.read_desc(2);
  CHECK(f.addr == 0x1234);
  CHECK(f.len == 99);
  CHECK(f.id == 7);
  CHECK(f.flags == 0xffff);
  m.mark_used(1, 3, 0, false);
  CHECK(m.read_desc(1).flags == 0);
  m.mark_used(1, 3, 5, true);
  CHECK(m.read_desc(1).flags == (packed_flag::used_marks(true) | desc_flag::write));
  m.write_used(1, 3, 5, 0x0081);
  CHECK(m.desc_flags(1) == 0x0081);
  m.set_device_event(0x8003, event_flag::desc);
  CHECK(m.device_event().off_wrap == 0x8003);
  CHECK(m.device_event().flags == event_flag::desc);
  m.set_driver_event(0x0002, event_flag::disable);
  CHECK(m.driver_event().off_wrap == 0x0002);
  CHECK(m.driver_event().flags == event_flag::disable);
  CHECK(m.config().features.has(transport_feature::ring_packed));
  CHECK(m.config().size == 5);
}

// ---- randomised runs -----------------------------------------------------------------------

namespace {

struct run_params {
  std::uint16_t n;
  bool indirect;
  bool event_idx;
  bool in_order;
  std::uint32_t seed;
  int steps;
};

/// Random adds (1..4 buffers, random modes), device pops, completions (out of order, or
/// IN_ORDER batches), reclaims, kick decisions and interrupt re-enables, checked against a
/// model: contents both ways, ids, lengths, user_data, free slots, and every kick decision
/// against the absolute-position meaning of the device's off_wrap.
void random_run(const run_params& prm) {
  constexpr std::size_t max_bufs = 4, buf_bytes = 24;
  const std::uint16_t n = prm.n;
  mock m{opts(n, features(prm.indirect, prm.event_idx, prm.in_order), prm.indirect ? 4 : 0,
              std::size_t{n} * max_bufs * buf_bytes + 256)};
  auto& d = m.driver();
  emu_device dev{m};
  std::mt19937 rng{prm.seed};

  // One buffer region per "ticket"; at most n buffers are in flight (each holds a slot).
  const gpa region = m.alloc(std::size_t{n} * max_bufs * buf_bytes, 16);
  std::vector<std::uint16_t> tickets;
  for (std::uint16_t t = 0; t < n; ++t) tickets.push_back(t);

  struct model_entry {
    bool in_flight = false;
    std::uint16_t slots = 0;
    std::uint16_t ticket = 0;
    std::uint32_t writable = 0;
    std::uint64_t user = 0;
    std::uint32_t seed = 0;  ///< readable contents: pattern(len, seed + index)
    std::vector<buffer> r, w;
  };
  std::vector<model_entry> model(n);
  std::vector<popped> held;  // popped by the device, not completed; in pop order
  struct expected_use {
    std::uint16_t id;
    std::uint32_t len;
    std::uint32_t seed;  // reply pattern, when the device wrote one
    bool check_data;
  };
  std::deque<expected_use> expected;  // what reclaim() must return, in order
  std::uint32_t slots_in_flight = 0;
  std::uint64_t published = 0, published_at_decision = 0, popped_count = 0, added = 0;
  std::uint64_t user_seq = 0;

  for (int step = 0; step < prm.steps; ++step) {
    switch (rng() % 7) {
      case 0:
      case 1: {  // add
        const std::size_t nb = 1 + rng() % max_bufs;
        const std::size_t nr = rng() % (nb + 1);
        auto mode = static_cast<add_mode>(rng() % 3);
        bool indirect = mode == add_mode::indirect;
        const std::uint16_t free_before = d.free_descriptors();
        if (mode == add_mode::automatic) indirect = nb > free_before && prm.indirect;
        errc want{};
        if (nb > n) want = errc::invalid_argument;
        else if (indirect && (!prm.indirect || nb > 4)) want = errc::invalid_argument;
        else if ((indirect ? 1u : nb) > free_before) want = errc::ring_full;
        const bool expect_ok = want == errc{};
        std::uint16_t ticket = 0;
        if (expect_ok) {
          REQUIRE(!tickets.empty());
          ticket = tickets.back();
        }
        const gpa base = region.offset(std::size_t{ticket} * max_bufs * buf_bytes);
        std::vector<buffer> r, w;
        const std::uint32_t seed = static_cast<std::uint32_t>(rng());
        for (std::size_t i = 0; i < nb; ++i) {
          const buffer b{base.offset(i * buf_bytes), static_cast<std::uint32_t>(1 + rng() % buf_bytes)};
          if (i < nr) {
            if (expect_ok) {
              const auto data = pattern(b.len, seed + static_cast<std::uint32_t>(i));
              std::memcpy(m.host(b.addr, b.len).data(), data.data(), b.len);
            }
            r.push_back(b);
          } else {
            w.push_back(b);
          }
        }
        const std::uint64_t user = ++user_seq;
        auto id = d.add(r, w, user, mode);
        if (!expect_ok) {
          CHECK(err(id) == want);
          CHECK(d.free_descriptors() == free_before);
          break;
        }
        REQUIRE(id.has_value());
        REQUIRE(*id < n);
        REQUIRE(!model[*id].in_flight);
        tickets.pop_back();
        model_entry& e = model[*id];
        e = model_entry{true, static_cast<std::uint16_t>(indirect ? 1 : nb), ticket, 0, user, seed, r, w};
        for (const auto& b : w) e.writable += b.len;
        slots_in_flight += e.slots;
        published += e.slots;
        ++added;
        CHECK(d.free_descriptors() == n - slots_in_flight);
        break;
      }
      case 2: {  // device pops everything available
        while (auto p = dev.pop()) {
          REQUIRE(p->id < n);
          const model_entry& e = model[p->id];
          REQUIRE(e.in_flight);
          CHECK(p->slots == e.slots);
          REQUIRE(p->bufs.size() == e.r.size() + e.w.size());
          for (std::size_t i = 0; i < p->bufs.size(); ++i) {
            const bool wr = i >= e.r.size();
            const buffer& b = wr ? e.w[i - e.r.size()] : e.r[i];
            CHECK(p->bufs[i].addr == b.addr.raw());
            CHECK(p->bufs[i].len == b.len);
            CHECK(((p->bufs[i].flags & desc_flag::write) != 0) == wr);
            if (!wr) {
              const auto v = m.host(b.addr, b.len);
              CHECK(std::vector<std::byte>(v.begin(), v.end()) ==
                    pattern(b.len, e.seed + static_cast<std::uint32_t>(i)));
            }
          }
          CHECK(p->writable == e.writable);
          held.push_back(*p);
          ++popped_count;
        }
        CHECK(popped_count == added);  // the device sees exactly what was published
        break;
      }
      case 3: {  // device completes
        if (held.empty()) break;
        if (prm.in_order) {
          const std::size_t k = 1 + rng() % std::min<std::size_t>(held.size(), 3);
          std::uint32_t slots = 0;
          for (std::size_t i = 0; i < k; ++i) slots += held[i].slots;
          const popped& last = held[k - 1];
          const std::uint32_t len = static_cast<std::uint32_t>(rng() % (last.writable + 1));
          for (std::size_t i = 0; i + 1 < k; ++i)
            expected.push_back({held[i].id, held[i].writable, 0, false});
          expected.push_back({last.id, len, 0, false});
          dev.complete_as(last.id, len, slots);
          held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(k));
        } else {
          const std::size_t k = rng() % held.size();
          const popped p = held[k];
          const std::uint32_t len = static_cast<std::uint32_t>(rng() % (p.writable + 1));
          const std::uint32_t seed = static_cast<std::uint32_t>(rng());
          const auto reply = pattern(len, seed);
          std::size_t at = 0;
          for (const auto& b : p.bufs) {
            if ((b.flags & desc_flag::write) == 0 || at == len) continue;
            const std::size_t c = std::min<std::size_t>(b.len, len - at);
            std::memcpy(m.host(gpa{b.addr}, c).data(), reply.data() + at, c);
            at += c;
          }
          dev.complete(p, len);
          expected.push_back({p.id, len, seed, true});
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
        }
        break;
      }
      case 4: {  // driver reclaims
        auto u = d.reclaim();
        REQUIRE(u.has_value());
        if (expected.empty()) {
          CHECK(!u->has_value());
          break;
        }
        REQUIRE(u->has_value());
        const expected_use x = expected.front();
        expected.pop_front();
        const used_buffer& got = **u;
        CHECK(got.id == x.id);
        CHECK(got.len == x.len);
        model_entry& e = model[got.id];
        REQUIRE(e.in_flight);
        CHECK(got.user_data == e.user);
        if (x.check_data) {
          std::vector<std::byte> back;
          for (const auto& b : e.w) {
            const auto v = m.host(b.addr, b.len);
            back.insert(back.end(), v.begin(), v.end());
          }
          back.resize(x.len);
          CHECK(back == pattern(x.len, x.seed));
        }
        e.in_flight = false;
        tickets.push_back(e.ticket);
        slots_in_flight -= e.slots;
        CHECK(d.free_descriptors() == n - slots_in_flight);
        CHECK(d.in_flight() == n - tickets.size());
        break;
      }
      case 5: {  // the device moves its event, the driver decides whether to kick
        const std::uint16_t flags = static_cast<std::uint16_t>(rng() % 3);
        const auto off = static_cast<std::uint16_t>(rng() % n);
        const bool wrap = (rng() & 1) != 0;
        if (rng() % 2) m.set_device_event(make_off_wrap(off, wrap), flags);
        const auto ev = m.device_event();
        const std::uint64_t p_new = published, p_old = published_at_decision;
        bool want = false;
        if (p_new == p_old) want = false;
        else if (ev.flags == event_flag::disable) want = false;
        else if (ev.flags != event_flag::desc || !prm.event_idx) want = true;
        else if (p_new - p_old >= n) want = true;
        else {
          // The target in absolute slot positions: the current lap if its phase matches the
          // driver's counter, else the previous lap.
          const std::uint64_t lap = p_new / n;
          const bool cur_wrap = lap % 2 == 0;
          const std::int64_t lap_start = static_cast<std::int64_t>(lap * n);
          std::int64_t target = lap_start + vireo::ring::off_of(ev.off_wrap);
          if (vireo::ring::wrap_of(ev.off_wrap) != cur_wrap) target -= n;
          want = static_cast<std::int64_t>(p_old) <= target &&
                 target < static_cast<std::int64_t>(p_new);
        }
        CHECK(d.needs_kick() == want);
        published_at_decision = published;
        break;
      }
      case 6: {  // interrupts on (and sometimes off again)
        CHECK(d.enable_interrupts() == !expected.empty());
        if (prm.event_idx) CHECK(m.driver_event().flags == event_flag::desc);
        if (rng() % 2) d.disable_interrupts();
        break;
      }
    }
  }
  // Drain: the device completes everything, the driver gets everything back.
  while (auto p = dev.pop()) held.push_back(*p);
  for (const auto& p : held) {
    dev.complete(p, 0);
    expected.push_back({p.id, 0, 0, false});
  }
  while (!expected.empty()) {
    const used_buffer u = reclaim_ok(m);
    CHECK(u.id == expected.front().id);
    expected.pop_front();
  }
  expect_nothing_used(m);
  CHECK(d.in_flight() == 0);
  CHECK(d.free_descriptors() == n);
  CHECK(!d.broken());
  CHECK(published / n > 50);  // many laps
}

}  // namespace

TEST_CASE("packed_driver: randomised run against a device emulation, out-of-order completion") {
  std::uint32_t seed = 1;
  for (std::uint16_t n : {1, 2, 3, 5, 7, 8, 13}) {
    for (int f = 0; f < 4; ++f) {
      CAPTURE(n);
      CAPTURE(f);
      random_run({n, (f & 1) != 0, (f & 2) != 0, false, seed++, 20000});
    }
  }
}

TEST_CASE("packed_driver: randomised run against a device emulation, IN_ORDER batches") {
  std::uint32_t seed = 100;
  for (std::uint16_t n : {1, 3, 5, 8, 11}) {
    for (int f = 0; f < 4; ++f) {
      CAPTURE(n);
      CAPTURE(f);
      random_run({n, (f & 1) != 0, (f & 2) != 0, true, seed++, 20000});
    }
  }
}
