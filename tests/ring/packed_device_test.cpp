// SPDX-License-Identifier: Apache-2.0
// Unit tests for vireo/ring/packed_device.hpp and vireo/chain/packed_walker.hpp. The test plays
// the driver through packed_test_support.hpp: it writes raw descriptors and lists at chosen slots
// and wrap phases, reads used descriptors back, and sets the event suppression areas.
#include "packed_test_support.hpp"

#include <algorithm>
#include <array>
#include <concepts>
#include <deque>
#include <iterator>
#include <numeric>
#include <random>
#include <thread>
#include <type_traits>

using namespace vireo_packed_test;

namespace {

constexpr std::uint16_t marks_used1 = packed_flag::avail | packed_flag::used;

/// Write `list` at the test driver's avail cursor and move the cursor past it.
void publish(packed_ring& r, const std::vector<raw_desc>& list, bool auto_next = true) {
  r.avail = r.write_list(r.avail, list, auto_next);
}

/// A readable descriptor over fresh pattern bytes.
raw_desc readable(packed_ring& r, std::uint32_t len, std::uint32_t seed, std::uint16_t id = 0) {
  const auto data = pattern(len, seed);
  return {r.put(data).raw(), len, id, 0};
}
raw_desc writable(packed_ring& r, std::uint32_t len, std::uint16_t id = 0) {
  return {r.alloc(len).raw(), len, id, desc_flag::write};
}

/// A well-formed one-descriptor list at the driver's cursor, popped and completed (to check
/// that the queue still serves after an error).
void expect_good_list(device& d, packed_ring& r, std::uint16_t id = 42) {
  const auto want = pattern(24, id);
  publish(r, {{r.put(want).raw(), 24, id, 0}});
  CHECK(expect_served(d, id, want).token().slots == 1);
}

/// pop() must fail with `want` for a list of `slots` slots named `id` whose end is known: the
/// list is consumed, rejected() names it, completing it with 0 writes a used descriptor, and
/// the next list is served.
void expect_rejected(device& d, packed_ring& r, errc want, std::uint16_t id, std::uint16_t slots) {
  const position at = decode(d.state().next_avail);
  const position used_at = decode(d.state().used_idx);
  const used_token t = expect_pop_rejects(d, want, id);
  CHECK(t.slots == slots);
  CHECK(t.seq == encode(at));
  CHECK(d.state().next_avail == encode(advanced(at, slots, r.size())));
  CHECK(err(d.push_used(t, 1)) == errc::used_len_too_large);
  REQUIRE(d.push_used(t, 0).has_value());
  const raw_desc u = r.read_desc(used_at.slot);
  CHECK(u.id == id);
  CHECK(u.len == 0);
  CHECK(u.flags == packed_flag::used_marks(used_at.wrap));
  CHECK(d.state().used_idx == encode(advanced(used_at, slots, r.size())));
  expect_good_list(d, r, static_cast<std::uint16_t>(id + 1));
}

/// pop() must fail with `want` and break the queue until reset() and configure().
void expect_broken(device& d, packed_ring& r, errc want) {
  expect_pop_breaks_queue(d, want);
  // Recovery: the driver zeroes the ring, both sides start again from slot 0, phase 1.
  for (std::uint16_t s = 0; s < r.size(); ++s) r.write_desc(s, {});
  r.avail = r.used = position{};
  r.in_flight.clear();
  d.reset();
  CHECK(!d.broken());
  configure(d, r);
  expect_good_list(d, r, 7);
}

}  // namespace

/// The public API split_device offers; packed_device must offer the same, with the same types.
template <typename Q>
concept split_device_api =
    requires(Q q, const Q cq, typename Q::chain_type& chain, const used_token& token,
             std::span<const used_entry> batch, const queue_config& cfg, std::uint16_t u16,
             flat_memory& mem) {
      typename Q::memory_type;
      typename Q::saved_state;
      { Q::create(mem, cfg) } -> std::same_as<vireo::result<Q>>;
      { q.configure(cfg) } -> std::same_as<vireo::result<void>>;
      { q.remap() } -> std::same_as<vireo::result<void>>;
      { q.reset() } -> std::same_as<void>;
      { cq.ready() } -> std::same_as<bool>;
      { cq.broken() } -> std::same_as<bool>;
      { cq.broken_reason() } -> std::same_as<errc>;
      { cq.size() } -> std::same_as<std::uint16_t>;
      { cq.config() } -> std::same_as<const queue_config&>;
      { cq.state() } -> std::same_as<typename Q::saved_state>;
      { q.restore(u16, u16) } -> std::same_as<void>;
      { q.pop_into(chain) } -> std::same_as<vireo::result<bool>>;
      { q.pop() } -> std::same_as<vireo::result<typename Q::chain_type>>;
      { cq.rejected() } -> std::same_as<std::optional<used_token>>;
      { q.push_used(token, u16) } -> std::same_as<vireo::result<void>>;
      { q.push_used(chain, u16) } -> std::same_as<vireo::result<void>>;
      { q.push_used(batch) } -> std::same_as<vireo::result<void>>;
      { q.needs_notification() } -> std::same_as<bool>;
      { q.disable_notifications() } -> std::same_as<void>;
      { q.enable_notifications() } -> std::same_as<vireo::result<bool>>;
      { q.available() } -> std::same_as<vireo::result<std::uint16_t>>;
    };
using split = vireo::ring::split_device<flat_memory>;
static_assert(split_device_api<split>);
static_assert(split_device_api<device>);
static_assert(std::is_same_v<device::saved_state, split::saved_state>);
static_assert(std::is_same_v<device::chain_type, split::chain_type>);
static_assert(std::is_same_v<device::memory_type, flat_memory>);
static_assert(std::is_trivially_destructible_v<device>);

TEST_CASE("packed_device: configure() checks size, alignment and mapping") {
  packed_ring r{8};
  auto q = device::create(r.memory(), r.config());
  REQUIRE(q.has_value());
  CHECK(q->ready());
  CHECK(!q->broken());
  CHECK(q->size() == 8);
  CHECK(q->config().desc_table == r.config().desc_table);
  CHECK(q->state().next_avail == 0x8000);  // slot 0, wrap counter 1 (§2.8.1)
  CHECK(q->state().used_idx == 0x8000);

  device d{r.memory()};
  queue_config bad = r.config();
  bad.size = 0;
  CHECK(err(d.configure(bad)) == errc::bad_queue_size);
  CHECK(!d.ready());
  bad.size = 32769;
  CHECK(err(d.configure(bad)) == errc::bad_queue_size);
  bad = r.config();
  bad.desc_table = bad.desc_table.offset(8);
  CHECK(err(d.configure(bad)) == errc::ring_misaligned);
  bad = r.config();
  bad.driver_area = bad.driver_area.offset(2);
  CHECK(err(d.configure(bad)) == errc::ring_misaligned);
  bad = r.config();
  bad.device_area = bad.device_area.offset(2);
  CHECK(err(d.configure(bad)) == errc::ring_misaligned);
  bad = r.config();
  bad.desc_table = gpa{0x10};  // below the memory
  CHECK(err(d.configure(bad)) == errc::ring_not_mapped);
  bad = r.config();
  bad.device_area = gpa{packed_ring::base + r.memory().size()};
  CHECK(err(d.configure(bad)) == errc::ring_not_mapped);
  bad = r.config();
  bad.size = 32768;  // the ring would run past the end of memory
  CHECK(err(d.configure(bad)) == errc::ring_not_mapped);
  CHECK(err(d.pop()) == errc::queue_not_ready);

  packed_ring five{5};  // not a power of two: fine for packed rings (§2.8)
  CHECK(device::create(five.memory(), five.config()).has_value());
  packed_ring one{1};
  CHECK(device::create(one.memory(), one.config()).has_value());
  packed_ring big{32768, features(true), 64};
  CHECK(device::create(big.memory(), big.config()).has_value());
}

TEST_CASE("packed_device: calls before configure() report queue_not_ready") {
  packed_ring r{4};
  device d{r.memory()};
  CHECK(!d.ready());
  CHECK(err(d.pop()) == errc::queue_not_ready);
  CHECK(err(d.available()) == errc::queue_not_ready);
  CHECK(err(d.enable_notifications()) == errc::queue_not_ready);
  CHECK(err(d.push_used(used_token{0, 1, 0, 0}, 0)) == errc::queue_not_ready);
  const std::array<used_entry, 1> batch{used_entry{used_token{0, 1, 0, 0}, 0}};
  CHECK(err(d.push_used(batch)) == errc::queue_not_ready);
  CHECK(err(d.push_used(std::span<const used_entry>{})) == errc::queue_not_ready);
  CHECK(err(d.remap()) == errc::queue_not_ready);
  CHECK(!d.needs_notification());
  d.disable_notifications();  // no effect, no access
  CHECK(r.device_event_flags() == 0);
}

TEST_CASE("packed_device: a zeroed ring has nothing available, and pop_into clears the old chain") {
  packed_ring r{8};
  device d{r.memory()};
  configure(d, r);
  auto none = d.pop();
  REQUIRE(none.has_value());
  CHECK(none->empty());
  CHECK(*d.available() == 0);
  CHECK(*d.enable_notifications() == false);
  CHECK(!d.needs_notification());  // nothing pushed

  publish(r, {readable(r, 8, 1)});
  expect_pop_into_then_empty(d);
  CHECK(d.state().next_avail == (0x8000 | 1));
  CHECK(d.push_used(std::span<const used_entry>{}).has_value());
}

TEST_CASE("packed_device: descriptors in the wrong phase are not available") {
  packed_ring r{2};
  device d{r.memory()};
  configure(d, r);
  const raw_desc buf = readable(r, 4, 3, 1);
  for (const std::uint16_t marks :
       {std::uint16_t{0}, packed_flag::avail_marks(false), marks_used1, packed_flag::used}) {
    raw_desc x = buf;
    x.flags = marks;
    r.write_desc(0, x);
    auto c = d.pop();
    REQUIRE(c.has_value());
    CHECK(c->empty());
    CHECK(*d.available() == 0);
  }
  r.store_flags(0, packed_flag::avail_marks(true));
  auto c0 = pop_ok(d);
  raw_desc y = buf;
  y.id = 2;
  y.flags = packed_flag::avail_marks(true);
  r.write_desc(1, y);
  auto c1 = pop_ok(d);
  REQUIRE(d.push_used(c0, 0).has_value());
  REQUIRE(d.push_used(c1, 0).has_value());
  // Second lap: phase 0. The used descriptors the device left and phase-1 marks are stale.
  CHECK(d.state().next_avail == 0);
  CHECK(d.pop()->empty());
  y.flags = packed_flag::avail_marks(true);
  r.write_desc(0, y);
  CHECK(d.pop()->empty());
  r.store_flags(0, packed_flag::avail_marks(false));
  auto c2 = pop_ok(d);
  CHECK(c2.id() == 2);
  CHECK(c2.token().seq == 0);
}

TEST_CASE("packed_device: a direct list gives readable then writable segments; the id is the last descriptor's") {
  packed_ring r{8};
  device d{r.memory()};
  configure(d, r);
  const auto a = pattern(5, 1), b = pattern(7, 2);
  const gpa ga = r.put(a), gb = r.put(b);
  const gpa w1 = r.alloc(9), w2 = r.alloc(11);
  // Linux style: the buffer id in every descriptor.
  publish(r, {{ga.raw(), 5, 3, 0},
              {r.alloc(0).raw(), 0, 3, 0},
              {gb.raw(), 7, 3, 0},
              {w1.raw(), 9, 3, desc_flag::write},
              {w2.raw(), 11, 3, desc_flag::write}});
  CHECK(*d.available() == 1);
  auto c = pop_ok(d);
  CHECK(c.id() == 3);
  CHECK(c.token().slots == 5);
  CHECK(c.token().seq == 0x8000);
  CHECK(c.token().writable_len == 20);
  CHECK(c.readable_len() == 12);
  REQUIRE(c.readable().size() == 2);  // the zero-length descriptor takes no segment
  CHECK(c.readable()[0].addr == ga);
  CHECK(c.readable()[0].host == r.host(ga, 5).data());  // zero-copy view
  CHECK(c.readable()[1].addr == gb);
  REQUIRE(c.writable().size() == 2);
  CHECK(c.writable()[0].addr == w1);
  CHECK(c.writable()[1].len == 11);
  auto both = a;
  both.insert(both.end(), b.begin(), b.end());
  CHECK(read_all(c) == both);
  CHECK(d.state().next_avail == (0x8000 | 5));

  // Spec-minimal driver: the id only in the last descriptor (§2.8.6).
  publish(r, {{ga.raw(), 5, 0, 0}, {w1.raw(), 9, 6, desc_flag::write}});
  auto c2 = pop_ok(d);
  CHECK(c2.id() == 6);
  CHECK(c2.token().slots == 2);
  CHECK(c2.token().seq == (0x8000 | 5));
  REQUIRE(d.push_used(c, 20).has_value());  // frees slots 0..4 for the next lap
  // A list whose first and last ids differ: a QEMU-style reader would take the first (1); the
  // library rule takes the last. This list also wraps from slot 7 to slot 0 (phase 0).
  publish(r, {{ga.raw(), 5, 1, 0}, {gb.raw(), 7, 9, 0}, {w2.raw(), 11, 4, desc_flag::write}});
  auto c3 = pop_ok(d);
  CHECK(c3.id() == 4);
  CHECK(c3.token().slots == 3);
  CHECK(d.state().next_avail == 2);  // slot 2, phase 0
}

TEST_CASE("packed_device: an indirect list takes one slot; only WRITE counts inside the table") {
  packed_ring r{4};
  device d{r.memory()};
  configure(d, r);
  const auto a = pattern(13, 5), b = pattern(3, 6);
  const gpa ga = r.put(a), gb = r.put(b), gw = r.alloc(17);
  // §2.8.7: NEXT, id, AVAIL and USED inside the table are ignored.
  const gpa table = r.put_table({{ga.raw(), 13, 77, desc_flag::next | marks_used1},
                                 {r.alloc(0).raw(), 0, 0, 0},
                                 {gb.raw(), 3, 78, packed_flag::used},
                                 {gw.raw(), 17, 99, desc_flag::write | desc_flag::next}});
  // §2.8.7: WRITE on the ring descriptor that carries INDIRECT is ignored.
  publish(r, {{table.raw(), 64, 6, desc_flag::indirect | desc_flag::write}});
  auto c = pop_ok(d);
  CHECK(c.id() == 6);
  CHECK(c.token().slots == 1);
  CHECK(c.token().writable_len == 17);
  REQUIRE(c.readable().size() == 2);
  REQUIRE(c.writable().size() == 1);
  CHECK(c.writable()[0].addr == gw);
  auto both = a;
  both.insert(both.end(), b.begin(), b.end());
  CHECK(read_all(c) == both);
  CHECK(d.state().next_avail == (0x8000 | 1));
  REQUIRE(d.push_used(c, 17).has_value());
  // Direct and indirect lists mix on one ring (§2.8.5).
  publish(r, {readable(r, 4, 9, 2), writable(r, 4, 2)});
  CHECK(pop_ok(d).token().slots == 2);
}

TEST_CASE("packed_device: an indirect table that spans memory regions is read by copy") {
  struct alignas(16) chunk {
    std::byte b[16];
  };
  std::vector<chunk> low(64), high(64);  // 1 KiB each, adjacent in guest space
  vireo::region_table<4> mem;
  REQUIRE(mem.add({gpa{0x1000}, 1024, reinterpret_cast<std::byte*>(low.data()),
                   vireo::access::read_write})
              .has_value());
  REQUIRE(mem.add({gpa{0x1400}, 1024, reinterpret_cast<std::byte*>(high.data()),
                   vireo::access::read_write})
              .has_value());
  queue_config cfg;
  cfg.size = 4;
  cfg.desc_table = gpa{0x1000};
  cfg.driver_area = gpa{0x1040};
  cfg.device_area = gpa{0x1044};
  cfg.features = features(true);
  vireo::ring::packed_device<vireo::region_table<4>> d{mem};
  REQUIRE(d.configure(cfg).has_value());
  const auto data = pattern(40, 3);
  REQUIRE(mem.write(gpa{0x1100}, data).has_value());
  // Two 16-byte entries on each side of the boundary at 0x1400.
  std::array<vireo::ring::packed_desc, 2> table{};
  table[0].addr.set(0x1100);
  table[0].len.set(30);
  table[1].addr.set(0x1100 + 30);
  table[1].len.set(10);
  REQUIRE(mem.write(gpa{0x13f0}, const_bytes{reinterpret_cast<const std::byte*>(table.data()), 32})
              .has_value());
  vireo::ring::packed_desc ring_desc{};
  ring_desc.addr.set(0x13f0);
  ring_desc.len.set(32);
  ring_desc.id.set(3);
  ring_desc.flags.set(desc_flag::indirect | packed_flag::avail);
  std::memcpy(low.data(), &ring_desc, sizeof ring_desc);
  auto c = d.pop();
  REQUIRE(c.has_value());
  REQUIRE(!c->empty());
  CHECK(c->id() == 3);
  CHECK(read_all(*c) == data);
}

TEST_CASE("packed_device: lists of 3 wrap mid-list on a ring of 5, lap after lap") {
  packed_ring r{5};
  device d{r.memory()};
  configure(d, r);
  for (std::uint32_t k = 0; k < 1000; ++k) {
    const auto id = static_cast<std::uint16_t>(k % 5);
    const position at = r.avail;
    const auto want = pattern(6, k);
    r.add({{r.put(want).raw(), 6, 0, 0}, {0, 0, 0, 0}, writable(r, 4)}, id);
    // §2.8.1: descriptors after the wrap carry the flipped marks.
    for (std::uint32_t j = 0; j < 3; ++j) {
      const position p = advanced(at, j, 5);
      CHECK((r.read_desc(p.slot).flags & (packed_flag::avail | packed_flag::used)) ==
            packed_flag::avail_marks(p.wrap));
    }
    auto c = pop_ok(d);
    CHECK(c.id() == id);
    CHECK(c.token().slots == 3);
    CHECK(c.token().seq == encode(at));
    CHECK(read_all(c) == want);
    CHECK(d.state().next_avail == encode(r.avail));
    auto w = c.writer();
    const auto reply = pattern(4, k + 7);
    REQUIRE(w.write(reply).has_value());
    REQUIRE(d.push_used(c, 4).has_value());
    const position used_at = r.used;
    auto u = r.reap();
    REQUIRE(u.has_value());
    CHECK(u->id == id);
    CHECK(u->len == 4);
    CHECK(u->flags == (packed_flag::used_marks(used_at.wrap) | desc_flag::write));
    CHECK(std::equal(reply.begin(), reply.end(), r.host(gpa{c.writable()[0].addr}, 4).begin()));
    CHECK(d.state().used_idx == encode(r.used));
  }
}

TEST_CASE("packed_device: a list of exactly the queue size is accepted") {
  packed_ring r{4};
  device d{r.memory()};
  configure(d, r);
  r.add({readable(r, 1, 1), readable(r, 1, 2)}, 0);
  auto c0 = pop_ok(d);
  REQUIRE(d.push_used(c0, 0).has_value());
  REQUIRE(r.reap().has_value());
  // Slots 2, 3 in phase 1, then 0, 1 in phase 0.
  r.add({readable(r, 1, 3), readable(r, 1, 4), readable(r, 1, 5), writable(r, 2)}, 1);
  CHECK(*d.available() == 1);
  auto c = pop_ok(d);
  CHECK(c.token().slots == 4);
  CHECK(c.readable_len() == 3);
  CHECK(d.state().next_avail == 2);  // a full lap: slot 2, phase 0
  CHECK(d.pop()->empty());           // slot 2 holds phase-1 marks: not available in phase 0
  REQUIRE(d.push_used(c, 2).has_value());
  CHECK(d.state().used_idx == 2);
  auto u = r.reap();
  REQUIRE(u.has_value());
  CHECK(u->id == 1);
}

TEST_CASE("packed_device: a list longer than the ring breaks the queue (chain_too_long)") {
  packed_ring r{4};
  device d{r.memory()};
  configure(d, r);
  const raw_desc x = readable(r, 4, 1);
  std::vector<raw_desc> all_next(4, x);
  for (auto& e : all_next) e.flags = desc_flag::next;  // the last one too: no end within N
  publish(r, all_next, false);
  CHECK(*d.available() == 1);  // counted, so that pop() reports it
  expect_broken(d, r, errc::chain_too_long);
}

TEST_CASE("packed_device: a ring of one slot holds only one-descriptor lists") {
  packed_ring r{1};
  device d{r.memory()};
  configure(d, r);
  for (std::uint16_t k = 0; k < 6; ++k) {
    r.add({readable(r, 2, k)}, k);
    auto c = pop_ok(d);
    CHECK(c.token().slots == 1);
    REQUIRE(d.push_used(c, 0).has_value());
    REQUIRE(r.reap().has_value());
  }
  publish(r, {{0, 0, 0, 0}, {0, 0, 0, 0}});  // NEXT on a 1-slot ring: the list cannot end
  expect_broken(d, r, errc::chain_too_long);
}

TEST_CASE("packed_device: a list that runs into a slot that is not available breaks the queue") {
  SUBCASE("the next slot is empty") {
    packed_ring r{8};
    device d{r.memory()};
    configure(d, r);
    raw_desc head = readable(r, 4, 1);
    head.flags = desc_flag::next | packed_flag::avail_marks(true);
    r.write_desc(0, head);
    CHECK(*d.available() == 1);
    expect_broken(d, r, errc::desc_not_available);
  }
  SUBCASE("the slot after the wrap still carries the old phase") {
    packed_ring r{5};
    device d{r.memory()};
    configure(d, r);
    r.add({readable(r, 1, 1), readable(r, 1, 2), readable(r, 1, 3)}, 0);
    auto c = pop_ok(d);
    REQUIRE(d.push_used(c, 0).has_value());
    REQUIRE(r.reap().has_value());
    // Slots 3, 4 (phase 1) and 0, but slot 0 marked for phase 1 instead of 0.
    r.write_desc(4, {0, 0, 0, desc_flag::next | packed_flag::avail_marks(true)});
    r.write_desc(0, {0, 0, 5, packed_flag::avail_marks(true)});
    r.write_desc(3, {0, 0, 0, desc_flag::next | packed_flag::avail_marks(true)});
    expect_broken(d, r, errc::desc_not_available);
  }
  SUBCASE("after a per-list error, the end still has to be found") {
    packed_ring r{8};
    device d{r.memory()};
    configure(d, r);
    // writable_before_readable at the second descriptor, then the list runs into slot 2, which
    // is empty: the list's end is unknown, so that error wins and breaks the queue.
    r.write_desc(1, {0, 0, 0, desc_flag::next | packed_flag::avail_marks(true)});
    r.write_desc(0, {r.alloc(4).raw(), 4, 0,
                     desc_flag::write | desc_flag::next | packed_flag::avail_marks(true)});
    expect_broken(d, r, errc::desc_not_available);
  }
  SUBCASE("a slot the device marked used") {
    packed_ring r{4};
    device d{r.memory()};
    configure(d, r);
    r.add({readable(r, 1, 1)}, 0);
    auto c = pop_ok(d);
    REQUIRE(d.push_used(c, 0).has_value());  // slot 0 now holds used marks, phase 1
    r.write_desc(1, {0, 0, 0, desc_flag::next | packed_flag::avail_marks(true)});
    r.write_desc(2, {0, 0, 0, desc_flag::next | packed_flag::avail_marks(true)});
    r.write_desc(3, {0, 0, 0, desc_flag::next | packed_flag::avail_marks(true)});
    // Slot 0 is next, in phase 0: it holds phase-1 used marks.
    expect_broken(d, r, errc::desc_not_available);
  }
}

TEST_CASE("packed_device: indirect problems reject the list and the queue keeps serving") {
  packed_ring r{8, features(true)};
  device d{r.memory()};
  configure(d, r);
  const raw_desc rd = readable(r, 4, 1);
  const gpa good_table = r.put_table({rd});

  SUBCASE("INDIRECT with NEXT: the list goes on to its end, whose id counts") {
    publish(r, {{good_table.raw(), 16, 1, desc_flag::indirect}, {rd.addr, 4, 2, 0}, {rd.addr, 4, 3, 0}});
    expect_rejected(d, r, errc::indirect_with_next, 3, 3);
  }
  SUBCASE("INDIRECT as a later element of a list") {
    publish(r, {{rd.addr, 4, 5, 0}, {good_table.raw(), 16, 6, desc_flag::indirect}});
    expect_rejected(d, r, errc::indirect_in_chain, 6, 2);
  }
  SUBCASE("INDIRECT inside the table") {
    const gpa t = r.put_table({rd, {good_table.raw(), 16, 0, desc_flag::indirect}});
    publish(r, {{t.raw(), 32, 9, desc_flag::indirect}});
    expect_rejected(d, r, errc::indirect_in_indirect, 9, 1);
  }
  SUBCASE("table length 0 or not a multiple of 16") {
    publish(r, {{good_table.raw(), 0, 9, desc_flag::indirect}});
    expect_rejected(d, r, errc::indirect_table_size, 9, 1);
    publish(r, {{good_table.raw(), 17, 11, desc_flag::indirect}});
    expect_rejected(d, r, errc::indirect_table_size, 11, 1);
  }
  SUBCASE("table address plus length overflows") {
    publish(r, {{UINT64_MAX - 15, 32, 9, desc_flag::indirect}});
    expect_rejected(d, r, errc::desc_addr_overflow, 9, 1);
  }
  SUBCASE("table outside guest memory") {
    publish(r, {{0x100, 32, 9, desc_flag::indirect}});
    expect_rejected(d, r, errc::out_of_bounds, 9, 1);
  }
  SUBCASE("table with more entries than the walker accepts") {
    publish(r, {{good_table.raw(), 16u * 65537u, 9, desc_flag::indirect}});
    expect_rejected(d, r, errc::chain_too_long, 9, 1);  // per list: its end is known
  }
  SUBCASE("a writable entry before a readable one") {
    const gpa t = r.put_table({writable(r, 4), rd});
    publish(r, {{t.raw(), 32, 9, desc_flag::indirect}});
    expect_rejected(d, r, errc::writable_before_readable, 9, 1);
  }
}

TEST_CASE("packed_device: INDIRECT without VIRTIO_F_INDIRECT_DESC is rejected") {
  packed_ring r{8, features(false)};
  device d{r.memory()};
  configure(d, r);
  const gpa t = r.put_table({readable(r, 4, 1)});
  publish(r, {{t.raw(), 16, 4, desc_flag::indirect}});
  expect_rejected(d, r, errc::indirect_not_negotiated, 4, 1);
  publish(r, {readable(r, 4, 2, 1), {t.raw(), 16, 5, desc_flag::indirect}});
  expect_rejected(d, r, errc::indirect_not_negotiated, 5, 2);
}

TEST_CASE("packed_device: chain errors consume the whole list and the next list is served") {
  packed_ring r{8};
  device d{r.memory()};
  configure(d, r);
  SUBCASE("writable before readable") {
    publish(r, {writable(r, 4, 1), readable(r, 4, 2, 1), readable(r, 4, 3, 5)});
    expect_rejected(d, r, errc::writable_before_readable, 5, 3);
  }
  SUBCASE("total length reaches 2^32, checked before mapping") {
    // 4096 mapped bytes plus 2^32 - 4096 bytes outside guest memory: the length check fires
    // first. One byte less is a length the walker accepts, and the address is judged.
    const gpa buf = r.alloc(4096);
    const std::uint64_t outside = packed_ring::base + r.memory().size() + 0x100000;
    publish(r, {{buf.raw(), 4096, 0, 0}, {outside, 0xfffff000u, 6, desc_flag::write}});
    expect_rejected(d, r, errc::total_len_overflow, 6, 2);
    publish(r, {{buf.raw(), 4096, 0, 0}, {outside, 0xffffefffu, 8, desc_flag::write}});
    expect_rejected(d, r, errc::out_of_bounds, 8, 2);
    const gpa t = r.put_table({{buf.raw(), 4096, 0, 0}, {outside, 0xfffff000u, 0, desc_flag::write}});
    publish(r, {{t.raw(), 32, 10, desc_flag::indirect}});
    expect_rejected(d, r, errc::total_len_overflow, 10, 1);
  }
  SUBCASE("address plus length overflows") {
    publish(r, {{UINT64_MAX - 3, 8, 0, 0}, readable(r, 4, 1, 2)});
    expect_rejected(d, r, errc::desc_addr_overflow, 2, 2);
  }
  SUBCASE("buffers outside guest memory") {
    publish(r, {{packed_ring::base + r.memory().size(), 4, 3, 0}});
    expect_rejected(d, r, errc::out_of_bounds, 3, 1);
    publish(r, {readable(r, 4, 1), {0, 4, 4, desc_flag::write}});
    expect_rejected(d, r, errc::out_of_bounds, 4, 2);
  }
  SUBCASE("an error near the end of the ring: the list still wraps to its end") {
    publish(r, {readable(r, 4, 1, 1), readable(r, 4, 1, 1), readable(r, 4, 1, 1), readable(r, 4, 1, 1),
                readable(r, 4, 1, 1)});
    auto c = pop_ok(d);
    REQUIRE(d.push_used(c, 0).has_value());
    publish(r, {writable(r, 4), readable(r, 4, 1), readable(r, 4, 1), readable(r, 4, 1, 8)});
    expect_rejected(d, r, errc::writable_before_readable, 8, 4);  // slots 5, 6, 7, 0
  }
}

TEST_CASE("packed_device: more segments than the chain holds is segment_limit, per list") {
  packed_ring r{8};
  vireo::ring::packed_device<flat_memory, 2> d{r.memory()};
  REQUIRE(d.configure(r.config()).has_value());
  publish(r, {readable(r, 4, 1), readable(r, 4, 2), {0, 0, 0, 0}, writable(r, 4, 3)});
  CHECK(err(d.pop()) == errc::segment_limit);
  CHECK(!d.broken());
  REQUIRE(d.rejected().has_value());
  CHECK(d.rejected()->slots == 4);
  CHECK(d.rejected()->id == 3);
  REQUIRE(d.push_used(*d.rejected(), 0).has_value());
  const gpa t = r.put_table({readable(r, 4, 1), readable(r, 4, 2), readable(r, 4, 3)});
  publish(r, {{t.raw(), 48, 4, desc_flag::indirect}});
  CHECK(err(d.pop()) == errc::segment_limit);
  REQUIRE(d.rejected().has_value());
  CHECK(d.rejected()->slots == 1);
  REQUIRE(d.push_used(*d.rejected(), 0).has_value());
  publish(r, {readable(r, 4, 1, 5), {0, 0, 5, 0}, writable(r, 4, 5)});  // two segments fit
  auto c = d.pop();
  REQUIRE(c.has_value());
  REQUIRE(!c->empty());
  CHECK(c->id() == 5);
  CHECK(!d.rejected().has_value());
}

TEST_CASE("packed_device: used descriptors carry id, len, the used marks and WRITE when len > 0") {
  packed_ring r{3};
  device d{r.memory()};
  configure(d, r);
  const raw_desc in = readable(r, 4, 1);
  r.add({in, writable(r, 16)}, 7);  // slots 0, 1
  auto a = pop_ok(d);
  REQUIRE(d.push_used(a, 10).has_value());
  raw_desc u = r.read_desc(0);
  CHECK(u.id == 7);
  CHECK(u.len == 10);
  CHECK(u.flags == (marks_used1 | desc_flag::write));
  CHECK(u.addr == in.addr);  // addr is not part of a used descriptor: left alone
  CHECK(d.state().used_idx == (0x8000 | 2));
  REQUIRE(r.reap().has_value());

  r.add({in, in}, 2);  // slots 2 (phase 1), 0 (phase 0)
  auto b = pop_ok(d);
  CHECK(d.state().next_avail == 1);
  REQUIRE(d.push_used(b, 0).has_value());
  u = r.read_desc(2);
  CHECK(u.id == 2);
  CHECK(u.len == 0);
  CHECK(u.flags == marks_used1);  // no WRITE: nothing written (§2.8.3)
  CHECK(d.state().used_idx == 1);  // slot 1, used wrap counter flipped to 0
  REQUIRE(r.reap().has_value());

  r.add({writable(r, 8)}, 5);  // slot 1, phase 0
  auto c = pop_ok(d);
  REQUIRE(d.push_used(c, 3).has_value());
  u = r.read_desc(1);
  CHECK(u.id == 5);
  CHECK(u.len == 3);
  CHECK(u.flags == (packed_flag::used_marks(false) | desc_flag::write));  // AVAIL = USED = 0
  CHECK(packed_flag::is_used(u.flags, false));
  CHECK(d.state().used_idx == 2);
  auto got = r.reap();
  REQUIRE(got.has_value());
  CHECK(got->len == 3);
}

TEST_CASE("packed_device: out-of-order completion with lists of different lengths") {
  packed_ring r{8};
  device d{r.memory()};
  configure(d, r);
  const auto a = pattern(10, 1), b = pattern(6, 2), cdata = pattern(9, 3);
  const gpa wa = r.alloc(8), wb = r.alloc(5), wc = r.alloc(7);
  r.add({{r.put(a).raw(), 10, 0, 0}, {r.put(b).raw(), 6, 0, 0}, {wa.raw(), 8, 0, desc_flag::write}}, 10);  // 0..2
  r.add({{wb.raw(), 5, 0, desc_flag::write}}, 11);                                                         // 3
  r.add({{r.put(cdata).raw(), 9, 0, 0}, {wc.raw(), 7, 0, desc_flag::write}}, 12);                          // 4..5
  auto ca = pop_ok(d), cb = pop_ok(d), cc = pop_ok(d);
  CHECK(ca.token().slots == 3);
  CHECK(cb.token().slots == 1);
  CHECK(cc.token().slots == 2);

  // C first: its used descriptor lands on slot 0, over A's head.
  auto wcur = cc.writer();
  REQUIRE(wcur.write(pattern(7, 30)).has_value());
  REQUIRE(d.push_used(cc, 7).has_value());
  CHECK(r.read_desc(0).id == 12);
  CHECK(d.state().used_idx == (0x8000 | 2));
  auto u = r.reap();
  REQUIRE(u.has_value());
  CHECK(u->id == 12);
  CHECK(r.used.slot == 2);  // the driver moves by C's 2 slots
  CHECK(std::equal(r.host(wc, 7).begin(), r.host(wc, 7).end(), pattern(7, 30).begin()));

  // A's descriptors were overwritten, but its chain was copied at pop time.
  auto ab = a;
  ab.insert(ab.end(), b.begin(), b.end());
  CHECK(read_all(ca) == ab);
  auto wacur = ca.writer();
  REQUIRE(wacur.write(pattern(8, 31)).has_value());
  REQUIRE(d.push_used(ca, 8).has_value());  // slot 2, over A's own last descriptor
  CHECK(d.state().used_idx == (0x8000 | 5));
  REQUIRE(d.push_used(cb, 0).has_value());  // slot 5, over C's last descriptor
  CHECK(d.state().used_idx == (0x8000 | 6));
  u = r.reap();
  REQUIRE(u.has_value());
  CHECK(u->id == 10);
  CHECK(u->len == 8);
  u = r.reap();
  REQUIRE(u.has_value());
  CHECK(u->id == 11);
  CHECK(u->len == 0);
  CHECK(!r.reap().has_value());
  CHECK(r.used == position{6, true});
  CHECK(std::equal(r.host(wa, 8).begin(), r.host(wa, 8).end(), pattern(8, 31).begin()));

  // The ring keeps going past the wrap.
  r.add({readable(r, 3, 4), readable(r, 3, 5), readable(r, 3, 6)}, 13);  // 6, 7, 0
  auto cd = pop_ok(d);
  CHECK(cd.id() == 13);
  REQUIRE(d.push_used(cd, 0).has_value());
  CHECK(d.state().used_idx == 1);
  REQUIRE(r.reap().has_value());
  CHECK(r.used == position{1, false});
}

TEST_CASE("packed_device: push_used checks len, slots and what is in flight; nothing written on error") {
  packed_ring r{8};
  device d{r.memory()};
  configure(d, r);
  r.add({readable(r, 4, 1), writable(r, 8)}, 3);
  auto c = pop_ok(d);
  const auto before = r.snapshot();
  used_token t = c.token();
  CHECK(err(d.push_used(t, 9)) == errc::used_len_too_large);
  t.slots = 0;
  CHECK(err(d.push_used(t, 0)) == errc::invalid_argument);
  t.slots = 3;  // more than the 2 slots in flight
  CHECK(err(d.push_used(t, 0)) == errc::invalid_argument);
  t.slots = 9;
  CHECK(err(d.push_used(t, 0)) == errc::invalid_argument);
  const std::array<used_entry, 2> twice{used_entry{c.token(), 1}, used_entry{c.token(), 1}};
  CHECK(err(d.push_used(twice)) == errc::invalid_argument);  // 4 slots, 2 in flight
  const std::array<used_entry, 2> bad_len{used_entry{c.token(), 1}, used_entry{c.token(), 9}};
  CHECK(err(d.push_used(bad_len)) == errc::used_len_too_large);
  CHECK(r.snapshot() == before);
  CHECK(d.state().used_idx == 0x8000);
  REQUIRE(d.push_used(c, 8).has_value());
  CHECK(err(d.push_used(c, 8)) == errc::invalid_argument);  // completed already
}

TEST_CASE("packed_device: a batch writes every used descriptor, out of order, and ends consistent") {
  packed_ring r{8};
  device d{r.memory()};
  configure(d, r);
  r.add({readable(r, 4, 1), writable(r, 8)}, 20);                     // A: 0, 1
  r.add({writable(r, 2)}, 21);                                        // B: 2
  r.add({readable(r, 4, 2), readable(r, 4, 3), writable(r, 4)}, 22);  // C: 3..5
  auto a = pop_ok(d), b = pop_ok(d), c = pop_ok(d);
  const std::array<used_entry, 3> batch{used_entry{b.token(), 1}, used_entry{c.token(), 0},
                                        used_entry{a.token(), 5}};
  REQUIRE(d.push_used(batch).has_value());
  CHECK(r.read_desc(0).id == 21);
  CHECK(r.read_desc(0).flags == (marks_used1 | desc_flag::write));
  CHECK(r.read_desc(1).id == 22);
  CHECK(r.read_desc(1).flags == marks_used1);
  CHECK(r.read_desc(4).id == 20);
  CHECK(r.read_desc(4).len == 5);
  CHECK(d.state().used_idx == (0x8000 | 6));
  auto u = r.reap();
  REQUIRE(u.has_value());
  CHECK(u->id == 21);
  u = r.reap();
  REQUIRE(u.has_value());
  CHECK(u->id == 22);
  u = r.reap();
  REQUIRE(u.has_value());
  CHECK(u->id == 20);
  CHECK(u->len == 5);
  CHECK(r.used == position{6, true});
  // A batch across the wrap.
  r.add({readable(r, 4, 1), readable(r, 4, 1), readable(r, 4, 1)}, 1);  // 6, 7, 0
  r.add({readable(r, 4, 1)}, 2);                                        // 1
  auto e = pop_ok(d), f = pop_ok(d);
  const std::array<used_entry, 2> wrap_batch{used_entry{e.token(), 0}, used_entry{f.token(), 0}};
  REQUIRE(d.push_used(wrap_batch).has_value());
  CHECK(r.read_desc(6).id == 1);
  CHECK(r.read_desc(6).flags == marks_used1);
  CHECK(r.read_desc(1).id == 2);
  CHECK(r.read_desc(1).flags == packed_flag::used_marks(false));
  CHECK(d.state().used_idx == 2);
  CHECK(r.reap()->id == 1);
  CHECK(r.reap()->id == 2);
}

TEST_CASE("packed_device: a driver that sees a batch's first used descriptor sees the whole batch") {
  // §2.8.9: the first descriptor is published last. A second thread pushes the batch while this
  // one polls the first slot; once it is used, every other entry must already be complete.
  constexpr std::uint16_t n = 64;
  constexpr std::size_t k = 8;
  packed_ring r{n};
  device d{r.memory()};
  configure(d, r);
  std::uint16_t next_id = 0;
  for (int iter = 0; iter < 300; ++iter) {
    std::array<used_entry, k> batch{};
    std::array<position, k> at{};
    for (std::size_t j = 0; j < k; ++j) {
      at[j] = r.avail;
      r.add({{0, 0, 0, 0}}, next_id);
      next_id = static_cast<std::uint16_t>((next_id + 1) % n);
      auto c = pop_ok(d);
      batch[k - 1 - j] = used_entry{c.token(), 0};  // completed in reverse
    }
    const position first = r.used;
    const std::byte* first_flags =
        r.host(r.config().desc_table.offset(16u * first.slot + layout::desc_flags), 2).data();
    bool pushed = false;
    std::thread dev([&] { pushed = d.push_used(batch).has_value(); });
    while (!packed_flag::is_used(
        vireo::detail::atomic_load_le16(first_flags, std::memory_order_acquire), first.wrap)) {
    }
    bool all = true;
    for (std::size_t j = 1; j < k; ++j) {
      const position p = advanced(first, j, n);
      const raw_desc u = r.read_desc(p.slot);
      all = all && packed_flag::is_used(u.flags, p.wrap) && u.id == batch[j].token.id;
    }
    dev.join();
    REQUIRE(pushed);
    CHECK(all);
    for (std::size_t j = 0; j < k; ++j) REQUIRE(r.reap().has_value());
  }
}

TEST_CASE("packed_device: IN_ORDER batches collapse into one used descriptor; order is enforced") {
  packed_ring r{8, features(true, false, true)};
  device d{r.memory()};
  configure(d, r);
  SUBCASE("collapsed") {
    r.add({readable(r, 4, 1), writable(r, 4)}, 30);                     // A: 0, 1
    r.add({readable(r, 4, 2)}, 31);                                     // B: 2
    r.add({readable(r, 4, 3), writable(r, 3), writable(r, 3)}, 32);     // C: 3..5
    auto a = pop_ok(d), b = pop_ok(d), c = pop_ok(d);
    const auto before = r.snapshot();
    const std::array<used_entry, 3> batch{used_entry{a.token(), 4}, used_entry{b.token(), 0},
                                          used_entry{c.token(), 2}};
    REQUIRE(d.push_used(batch).has_value());
    // §2.8.8: one used descriptor at the first slot, naming the last buffer.
    const raw_desc u = r.read_desc(0);
    CHECK(u.id == 32);
    CHECK(u.len == 2);
    CHECK(u.flags == (marks_used1 | desc_flag::write));
    // Nothing but slot 0's len, id and flags changed (the ring starts the memory).
    auto after = r.snapshot();
    std::copy(before.begin() + 8, before.begin() + 16, after.begin() + 8);
    CHECK(after == before);
    CHECK(d.state().used_idx == (0x8000 | 6));
  }
  SUBCASE("not collapsible when an earlier entry is short") {
    r.add({writable(r, 4)}, 30);
    r.add({writable(r, 4)}, 31);
    auto a = pop_ok(d), b = pop_ok(d);
    const std::array<used_entry, 2> batch{used_entry{a.token(), 3}, used_entry{b.token(), 4}};
    REQUIRE(d.push_used(batch).has_value());
    CHECK(r.read_desc(0).id == 30);
    CHECK(r.read_desc(0).len == 3);
    CHECK(r.read_desc(1).id == 31);
    CHECK(r.read_desc(1).flags == (marks_used1 | desc_flag::write));
  }
  SUBCASE("in_order_violation") {
    r.add({writable(r, 4)}, 30);
    r.add({readable(r, 4, 1), writable(r, 4)}, 31);
    auto a = pop_ok(d), b = pop_ok(d);
    const auto before = r.snapshot();
    CHECK(err(d.push_used(b, 0)) == errc::in_order_violation);
    const std::array<used_entry, 2> swapped{used_entry{b.token(), 0}, used_entry{a.token(), 0}};
    CHECK(err(d.push_used(swapped)) == errc::in_order_violation);
    const std::array<used_entry, 2> repeated{used_entry{a.token(), 0}, used_entry{a.token(), 0}};
    CHECK(err(d.push_used(repeated)) == errc::in_order_violation);
    CHECK(r.snapshot() == before);
    REQUIRE(d.push_used(a, 4).has_value());
    REQUIRE(d.push_used(b, 1).has_value());
    CHECK(d.state().used_idx == (0x8000 | 3));
  }
  SUBCASE("a rejected list is completed in its turn") {
    r.add({writable(r, 4)}, 30);
    publish(r, {writable(r, 4, 0), readable(r, 4, 1, 31)});
    auto a = pop_ok(d);
    CHECK(err(d.pop()) == errc::writable_before_readable);
    const used_token bad = *d.rejected();
    CHECK(err(d.push_used(bad, 0)) == errc::in_order_violation);
    REQUIRE(d.push_used(a, 0).has_value());
    REQUIRE(d.push_used(bad, 0).has_value());
    CHECK(d.state().used_idx == (0x8000 | 3));
  }
}

TEST_CASE("packed_device: notifications without EVENT_IDX follow the driver's flags") {
  packed_ring r{8, features(true)};
  device d{r.memory()};
  configure(d, r);
  auto cycle = [&] {
    r.add({readable(r, 1, 1)}, 0);
    auto c = pop_ok(d);
    REQUIRE(d.push_used(c, 0).has_value());
    REQUIRE(r.reap().has_value());
  };
  cycle();
  r.set_driver_event(0, event_flag::enable);
  CHECK(d.needs_notification());
  CHECK(!d.needs_notification());  // nothing new since
  cycle();
  r.set_driver_event(0, event_flag::disable);
  CHECK(!d.needs_notification());
  cycle();
  r.set_driver_event(encode({5, true}), event_flag::desc);  // DESC without EVENT_IDX: ENABLE
  CHECK(d.needs_notification());
  cycle();
  r.set_driver_event(0, 3);  // reserved: treated as ENABLE
  CHECK(d.needs_notification());
  cycle();
  r.set_driver_event(0, 0x8001);  // reserved bits 2-15 ignored: DISABLE
  CHECK(!d.needs_notification());
}

TEST_CASE("packed_device: DESC notifications with EVENT_IDX use the slot window") {
  packed_ring r{8, features(true, true)};
  device d{r.memory()};
  configure(d, r);
  std::uint16_t id = 0;
  auto cycle = [&](std::uint32_t slots) {
    std::vector<raw_desc> list(slots, raw_desc{});
    r.add(list, id);
    id = static_cast<std::uint16_t>((id + 1) % 8);
    auto c = pop_ok(d);
    REQUIRE(d.push_used(c, 0).has_value());
    REQUIRE(r.reap().has_value());
  };
  r.set_driver_event(encode({6, true}), event_flag::desc);
  cycle(1);                         // used cursor 0 -> 1
  CHECK(d.needs_notification());    // the first decision always notifies
  r.set_driver_event(encode({2, true}), event_flag::desc);
  cycle(3);                         // 1 -> 4: slot 2 lies inside this 3-slot list
  CHECK(d.needs_notification());
  r.set_driver_event(encode({4, true}), event_flag::desc);
  cycle(1);                         // 4 -> 5
  CHECK(d.needs_notification());
  r.set_driver_event(encode({7, true}), event_flag::desc);
  cycle(1);                         // 5 -> 6
  CHECK(!d.needs_notification());
  cycle(2);                         // 6 -> 0, wrap 0: slot 7 of phase 1 was passed
  CHECK(d.needs_notification());
  r.set_driver_event(encode({3, false}), event_flag::desc);
  cycle(1);                         // 0 -> 1 (phase 0): slot 3 is still ahead
  CHECK(!d.needs_notification());
  r.set_driver_event(encode({0, true}), event_flag::desc);
  cycle(1);                         // 1 -> 2: slot 0 of phase 1 is a lap old
  CHECK(!d.needs_notification());
  cycle(2);                         // 2 -> 4, no decision in between...
  cycle(1);                         // ...4 -> 5: the window is [2, 5)
  r.set_driver_event(encode({3, false}), event_flag::desc);
  CHECK(d.needs_notification());
  r.set_driver_event(encode({5, false}), event_flag::disable);
  cycle(1);
  CHECK(!d.needs_notification());
  r.set_driver_event(encode({5, false}), event_flag::enable);
  cycle(1);
  CHECK(d.needs_notification());
  // An offset past the ring (bits 0-14 hold up to 32767) is only a strange hint: no slot of this
  // ring lies there, so it never matches.
  r.set_driver_event(0x7fff, event_flag::desc);
  cycle(3);
  CHECK(!d.needs_notification());
  r.set_driver_event(0xffff, event_flag::desc);
  cycle(3);
  CHECK(!d.needs_notification());
}

TEST_CASE("packed_device: DESC decisions on a ring of 5 across the wrap") {
  // Used cursor from slot 3 (phase 1) over 3 slots to slot 1 (phase 0). QEMU's window
  // (raw slots: old 3, new 1) would also notify for a lap-old event; this one is exact.
  struct expectation {
    position event;
    bool notify;
  };
  const expectation cases[] = {
      {{3, true}, true},  {{4, true}, true},   {{0, false}, true}, {{1, false}, false},
      {{2, true}, false}, {{2, false}, false}, {{0, true}, false}, {{4, false}, false},
  };
  for (const auto& e : cases) {
    CAPTURE(e.event.slot);
    CAPTURE(e.event.wrap);
    packed_ring r{5, features(true, true)};
    device d{r.memory()};
    configure(d, r);
    r.add({{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}}, 0);
    auto first = pop_ok(d);
    REQUIRE(d.push_used(first, 0).has_value());
    REQUIRE(r.reap().has_value());
    CHECK(d.needs_notification());  // first decision, at used slot 3
    r.add({{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}}, 1);
    auto c = pop_ok(d);
    REQUIRE(d.push_used(c, 0).has_value());
    CHECK(d.state().used_idx == 1);
    r.set_driver_event(encode(e.event), event_flag::desc);
    CHECK(d.needs_notification() == e.notify);
  }
}

TEST_CASE("packed_device: notification decisions match a slot-by-slot simulation") {
  std::mt19937 rng(2024);
  for (const std::uint16_t n : {1, 2, 3, 5, 6, 7, 12, 13, 31, 33}) {
    CAPTURE(n);
    packed_ring r{n, features(false, true)};
    device d{r.memory()};
    configure(d, r);
    std::uint64_t pos = 0, last = 0;  // absolute used positions
    bool decided = false;
    std::uint16_t id = 0;
    for (int step = 0; step < 3000; ++step) {
      // Push 0..n+1 slots in lists of random length, then decide.
      const std::uint32_t want_slots = rng() % (n + 2u);
      std::uint32_t pushed = 0;
      while (pushed < want_slots) {
        const std::uint32_t len = std::min<std::uint32_t>(1 + rng() % n, want_slots - pushed);
        r.add(std::vector<raw_desc>(len, raw_desc{}), id);
        id = static_cast<std::uint16_t>((id + 1) % n);
        auto c = pop_ok(d);
        REQUIRE(d.push_used(c, 0).has_value());
        REQUIRE(r.reap().has_value());
        pushed += len;
      }
      pos += pushed;
      const position ev{static_cast<std::uint16_t>(rng() % n), (rng() & 1) != 0};
      r.set_driver_event(encode(ev), event_flag::desc);
      bool want = false;
      if (pos != last) {
        if (!decided || pos - last >= n) {
          want = true;
        } else {
          for (std::uint64_t p = last; p < pos; ++p)
            if (p % n == ev.slot && ((p / n) % 2 == 0) == ev.wrap) want = true;
        }
        decided = true;
        last = pos;
      }
      CAPTURE(step);
      REQUIRE(d.needs_notification() == want);
    }
  }
}

TEST_CASE("packed_device: disable/enable_notifications write the device event area") {
  SUBCASE("without EVENT_IDX") {
    packed_ring r{8, features(true)};
    device d{r.memory()};
    configure(d, r);
    d.disable_notifications();
    CHECK(r.device_event_flags() == event_flag::disable);
    auto again = d.enable_notifications();
    REQUIRE(again.has_value());
    CHECK(!*again);
    CHECK(r.device_event_flags() == event_flag::enable);
    CHECK(r.device_event_off_wrap() == 0);
    publish(r, {readable(r, 4, 1)});
    again = d.enable_notifications();  // the re-check finds the new list
    REQUIRE(again.has_value());
    CHECK(*again);
    (void)pop_ok(d);
    CHECK(r.device_event_off_wrap() == 0);  // no off_wrap traffic without EVENT_IDX
  }
  SUBCASE("with EVENT_IDX") {
    packed_ring r{8, features(true, true)};
    device d{r.memory()};
    configure(d, r);
    auto again = d.enable_notifications();
    REQUIRE(again.has_value());
    CHECK(!*again);
    CHECK(r.device_event_flags() == event_flag::desc);
    CHECK(r.device_event_off_wrap() == 0x8000);
    publish(r, {readable(r, 4, 1), readable(r, 4, 1), readable(r, 4, 1)});
    CHECK(*d.enable_notifications());
    (void)pop_ok(d);
    CHECK(r.device_event_off_wrap() == (0x8000 | 3));  // pop moves it on while enabled
    d.disable_notifications();
    CHECK(r.device_event_flags() == event_flag::disable);
    publish(r, {readable(r, 4, 1), readable(r, 4, 1), readable(r, 4, 1), readable(r, 4, 1),
                readable(r, 4, 1)});
    (void)pop_ok(d);
    CHECK(r.device_event_off_wrap() == (0x8000 | 3));  // not while disabled
    CHECK(!*d.enable_notifications());
    CHECK(r.device_event_off_wrap() == 0);  // slot 0, phase 0
    CHECK(r.device_event_flags() == event_flag::desc);
  }
}

TEST_CASE("packed_device: available() counts lists from the avail cursor") {
  packed_ring r{8};
  device d{r.memory()};
  configure(d, r);
  CHECK(*d.available() == 0);
  r.add({readable(r, 1, 1)}, 0);
  r.add({readable(r, 1, 1), readable(r, 1, 1)}, 1);
  const gpa t = r.put_table({readable(r, 1, 1), readable(r, 1, 1)});
  publish(r, {{t.raw(), 32, 2, desc_flag::indirect}});
  r.add({readable(r, 1, 1), readable(r, 1, 1), readable(r, 1, 1)}, 3);
  CHECK(*d.available() == 4);
  auto c = pop_ok(d);
  CHECK(*d.available() == 3);
  REQUIRE(d.push_used(c, 0).has_value());
  CHECK(*d.available() == 3);
  // A list whose end is missing counts as one; pop() then reports it.
  r.write_desc(7, {0, 0, 0, desc_flag::next | packed_flag::avail_marks(true)});
  CHECK(*d.available() == 4);
}

TEST_CASE("packed_device: state()/restore() let a second device continue the queue") {
  packed_ring r{5};
  device a{r.memory()};
  configure(a, r);
  r.add({readable(r, 2, 1), readable(r, 2, 1)}, 0);        // 0, 1
  r.add({readable(r, 2, 1), writable(r, 4)}, 1);           // 2, 3
  auto c0 = pop_ok(a), c1 = pop_ok(a);
  REQUIRE(a.push_used(c0, 0).has_value());
  REQUIRE(r.reap().has_value());
  r.add({readable(r, 2, 1), readable(r, 2, 1)}, 2);        // 4, 0 (phase 0)
  const auto saved = a.state();
  CHECK(saved.next_avail == (0x8000 | 4));
  CHECK(saved.used_idx == (0x8000 | 2));

  device b{r.memory()};
  configure(b, r);
  b.restore(saved.next_avail, saved.used_idx);
  CHECK(b.state().next_avail == saved.next_avail);
  CHECK(b.state().used_idx == saved.used_idx);
  auto c2 = pop_ok(b);
  CHECK(c2.id() == 2);
  CHECK(c2.token().seq == (0x8000 | 4));
  CHECK(b.state().next_avail == 1);
  REQUIRE(b.push_used(c1.token(), 4).has_value());  // in flight across the hand-over
  REQUIRE(b.push_used(c2, 0).has_value());
  CHECK(b.state().used_idx == 1);
  CHECK(r.reap()->id == 1);
  CHECK(r.reap()->id == 2);
  CHECK(r.used == position{1, false});

  // A hostile front-end's slot out of range is reduced, not trusted.
  device h{r.memory()};
  configure(h, r);
  h.restore(0x7fff, 0x8000 | 9);
  CHECK((h.state().next_avail & 0x7fff) < 5);
  CHECK((h.state().used_idx & 0x7fff) < 5);
  CHECK(h.pop().has_value());
}

TEST_CASE("packed_device: reset() and remap()") {
  packed_ring r{4};
  device d{r.memory()};
  configure(d, r);
  publish(r, {writable(r, 4), readable(r, 4, 1, 3)});
  CHECK(err(d.pop()) == errc::writable_before_readable);
  REQUIRE(d.rejected().has_value());
  // remap keeps the positions and the pending token.
  REQUIRE(d.remap().has_value());
  CHECK(d.state().next_avail == (0x8000 | 2));
  REQUIRE(d.rejected().has_value());
  CHECK(d.rejected()->id == 3);
  d.reset();
  CHECK(!d.ready());
  CHECK(!d.rejected().has_value());
  CHECK(err(d.pop()) == errc::queue_not_ready);
  configure(d, r);
  CHECK(d.state().next_avail == 0x8000);
  CHECK(d.state().used_idx == 0x8000);
  // A remap that no longer finds the rings resets the queue.
  flat_memory saved = r.memory();
  r.memory() = flat_memory{r.memory().host().subspan(0, 16), gpa{packed_ring::base}};
  CHECK(err(d.remap()) == errc::ring_not_mapped);
  CHECK(!d.ready());
  r.memory() = saved;
  configure(d, r);
  CHECK(d.ready());
}

namespace {

/// One list the randomised driver has made available.
struct random_list {
  std::uint16_t slots = 0;
  position at{};
  std::vector<std::byte> readable;                         // expected readable stream
  std::vector<std::pair<gpa, std::uint32_t>> rd, wr;       // its buffers
  std::uint32_t writable_len = 0;
  bool popped = false;
  bool completed = false;
  std::uint32_t written = 0;  // what the device reported (and wrote)
  std::uint32_t seed = 0;     // pattern of the device's reply
};

constexpr std::byte sentinel{0xee};

}  // namespace

TEST_CASE("packed_device: randomised driver and device over many ring sizes") {
  std::mt19937 rng(0x5eed);
  const std::uint16_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 100, 257};
  constexpr std::uint32_t max_entries = 6, max_len = 40;
  std::size_t total = 0;
  for (int round = 0; round < 26; ++round) {
    const std::uint16_t n = sizes[round % std::size(sizes)];
    const bool indirect = (rng() & 1) != 0, event_idx = (rng() & 1) != 0, in_order = rng() % 3 == 0;
    CAPTURE(n);
    CAPTURE(indirect);
    CAPTURE(event_idx);
    CAPTURE(in_order);
    packed_ring r{n, features(indirect, event_idx, in_order),
                  std::size_t{n} * max_entries * (max_len + 16) + 1024};
    const gpa data = r.alloc(std::size_t{n} * max_entries * max_len);
    const gpa tables = r.alloc(std::size_t{n} * max_entries * 16);
    device d{r.memory()};
    configure(d, r);

    std::map<std::uint16_t, random_list> lists;  // by buffer id
    std::deque<std::uint16_t> submitted;         // ids in submission order
    std::deque<std::uint16_t> to_pop;            // ids made available, not yet popped
    std::vector<std::uint16_t> free_ids(n);
    std::iota(free_ids.begin(), free_ids.end(), std::uint16_t{0});
    std::vector<chain> held;  // popped by the device, not completed (in pop order)
    std::uint32_t free_slots = n;
    std::uint64_t used_pos = 0, last_decision = 0;
    bool decided = false;
    std::uint32_t serial = 0;
    const std::size_t target = 400;
    std::size_t done = 0;

    auto add_list = [&] {
      if (free_ids.empty() || free_slots == 0) return;
      const bool ind = indirect && rng() % 3 == 0;
      const std::uint32_t k = 1 + rng() % (ind ? max_entries : std::min(max_entries, free_slots));
      const std::uint32_t nr = rng() % (k + 1);
      const std::size_t pick = rng() % free_ids.size();
      const std::uint16_t id = free_ids[pick];
      free_ids.erase(free_ids.begin() + static_cast<std::ptrdiff_t>(pick));
      random_list l;
      l.at = r.avail;
      std::vector<raw_desc> descs;
      for (std::uint32_t e = 0; e < k; ++e) {
        // Buffers belong to the buffer id, not to ring slots: after out-of-order completion the
        // driver reuses ring slots whose old buffers are still in flight (§2.8.6).
        const gpa at = data.offset((std::uint64_t{id} * max_entries + e) * max_len);
        const std::uint32_t len = rng() % 4 == 0 ? 0 : 1 + rng() % max_len;
        const bool w = e >= nr;
        auto h = r.host(at, max_len);
        if (w) {
          std::fill(h.begin(), h.end(), sentinel);
          l.wr.emplace_back(at, len);
          l.writable_len += len;
        } else {
          const auto p = pattern(len, ++serial);
          std::copy(p.begin(), p.end(), h.begin());
          l.readable.insert(l.readable.end(), p.begin(), p.end());
          l.rd.emplace_back(at, len);
        }
        // Linux puts the id everywhere; a spec-minimal driver only in the last descriptor.
        const auto desc_id = static_cast<std::uint16_t>(rng() % 2 == 0 || e + 1 == k ? id : rng());
        descs.push_back({at.raw(), len, desc_id, static_cast<std::uint16_t>(w ? desc_flag::write : 0)});
      }
      if (ind) {
        const gpa t = tables.offset(std::uint64_t{id} * max_entries * 16);
        for (std::uint32_t e = 0; e < k; ++e) {
          raw_desc x = descs[e];
          x.flags = static_cast<std::uint16_t>(
              x.flags | (rng() & (desc_flag::next | packed_flag::avail | packed_flag::used)));
          x.id = static_cast<std::uint16_t>(rng());
          vireo::ring::packed_desc wd;
          wd.addr.set(x.addr);
          wd.len.set(x.len);
          wd.id.set(x.id);
          wd.flags.set(x.flags);
          std::memcpy(r.host(t.offset(16u * e), 16).data(), &wd, 16);
        }
        const auto ring_flags =
            static_cast<std::uint16_t>(desc_flag::indirect | (rng() & 1 ? desc_flag::write : 0));
        publish(r, {{t.raw(), 16 * k, id, ring_flags}});
        l.slots = 1;
      } else {
        publish(r, descs);
        l.slots = static_cast<std::uint16_t>(k);
      }
      free_slots -= l.slots;
      lists[id] = std::move(l);
      submitted.push_back(id);
      to_pop.push_back(id);
    };

    auto pop_some = [&] {
      CHECK(std::size_t{*d.available()} == to_pop.size());
      for (std::uint32_t j = 1 + rng() % 4; j-- > 0;) {
        auto c = d.pop();
        REQUIRE(c.has_value());
        if (c->empty()) {
          CHECK(to_pop.empty());
          break;
        }
        REQUIRE(!to_pop.empty());
        CHECK(c->id() == to_pop.front());  // §2.8.12: in ring order
        to_pop.pop_front();
        auto it = lists.find(c->id());
        REQUIRE(it != lists.end());
        random_list& l = it->second;
        CHECK(!l.popped);
        l.popped = true;
        CHECK(c->token().slots == l.slots);
        CHECK(c->token().seq == encode(l.at));
        CHECK(c->writable_len() == l.writable_len);
        CHECK(read_all(*c) == l.readable);
        held.push_back(*c);
      }
    };

    auto complete_some = [&] {
      if (held.empty()) return;
      const std::size_t m = 1 + rng() % held.size();
      std::vector<chain> now;
      if (in_order) {
        now.assign(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(m));
        held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(m));
      } else {
        std::shuffle(held.begin(), held.end(), rng);
        now.assign(held.end() - static_cast<std::ptrdiff_t>(m), held.end());
        held.resize(held.size() - m);
      }
      std::vector<used_entry> entries;
      for (const chain& c : now) {
        random_list& l = lists.at(c.id());
        std::uint32_t len = c.writable_len() == 0 ? 0 : rng() % (c.writable_len() + 1);
        if (in_order && rng() % 2 == 0) len = c.writable_len();
        l.seed = ++serial;
        const auto reply = pattern(len, l.seed);
        auto w = c.writer();
        REQUIRE(w.write(reply).has_value());
        l.written = len;
        l.completed = true;
        entries.push_back({c.token(), len});
        used_pos += l.slots;
      }
      if (rng() % 2 == 0) {
        REQUIRE(d.push_used(entries).has_value());
      } else {
        for (const auto& e : entries) REQUIRE(d.push_used(e.token, e.len).has_value());
      }
      done += m;
    };

    auto retire = [&](std::uint16_t id, std::uint32_t reported_len, bool named) {
      random_list& l = lists.at(id);
      REQUIRE(l.completed);
      // Under IN_ORDER, a buffer retired without its own used descriptor was fully used.
      const std::uint32_t len = named ? reported_len : l.writable_len;
      CHECK(l.written == len);
      std::vector<std::byte> got;
      for (const auto& [at, blen] : l.wr) {
        auto h = r.host(at, blen);
        got.insert(got.end(), h.begin(), h.end());
      }
      const auto reply = pattern(l.written, l.seed);
      CHECK(std::equal(reply.begin(), reply.end(), got.begin()));
      CHECK(std::all_of(got.begin() + l.written, got.end(), [](std::byte b) { return b == sentinel; }));
      std::vector<std::byte> still;  // P4: readable buffers untouched
      for (const auto& [at, blen] : l.rd) {
        auto h = r.host(at, blen);
        still.insert(still.end(), h.begin(), h.end());
      }
      CHECK(still == l.readable);
      free_slots += l.slots;
      free_ids.push_back(id);
      lists.erase(id);
    };

    auto reap_all = [&] {
      for (;;) {
        const position at = r.used;
        const std::uint16_t flags = vireo::detail::atomic_load_le16(
            r.host(r.config().desc_table.offset(16u * at.slot + layout::desc_flags), 2).data(),
            std::memory_order_acquire);
        if (!packed_flag::is_used(flags, at.wrap)) break;
        const raw_desc u = r.read_desc(at.slot);
        CHECK(u.flags == static_cast<std::uint16_t>(packed_flag::used_marks(at.wrap) |
                                                   (u.len != 0 ? desc_flag::write : 0)));
        REQUIRE(lists.count(u.id) == 1);
        std::uint32_t slots = 0;
        if (in_order) {
          for (;;) {
            REQUIRE(!submitted.empty());
            const std::uint16_t id = submitted.front();
            submitted.pop_front();
            slots += lists.at(id).slots;
            const bool last = id == u.id;
            retire(id, u.len, last);
            if (last) break;
          }
        } else {
          slots = lists.at(u.id).slots;
          submitted.erase(std::find(submitted.begin(), submitted.end(), u.id));
          retire(u.id, u.len, true);
        }
        r.used = advanced(r.used, slots, n);
      }
    };

    auto decide = [&] {
      if (!event_idx && rng() % 2 == 0) return;
      const std::uint16_t flags_choice[] = {event_flag::enable, event_flag::disable, event_flag::desc,
                                            event_flag::desc, 3};
      const std::uint16_t fl = flags_choice[rng() % std::size(flags_choice)];
      position ev = advanced(r.used, rng() % n, n);
      if (rng() % 4 == 0) ev = position{static_cast<std::uint16_t>(rng() % n), (rng() & 1) != 0};
      r.set_driver_event(encode(ev), fl);
      bool want = false;
      if (used_pos != last_decision) {
        if (fl == event_flag::disable) want = false;
        else if (fl != event_flag::desc || !event_idx) want = true;
        else if (!decided || used_pos - last_decision >= n) want = true;
        else
          for (std::uint64_t p = last_decision; p < used_pos; ++p)
            if (p % n == ev.slot && ((p / n) % 2 == 0) == ev.wrap) want = true;
        decided = true;
        last_decision = used_pos;
      }
      CHECK(d.needs_notification() == want);
    };

    while (done < target) {
      switch (rng() % 5) {
        case 0: add_list(); break;
        case 1: pop_some(); break;
        case 2: complete_some(); break;
        case 3: reap_all(); break;
        default: decide(); break;
      }
    }
    // Drain: everything made available is popped, completed and reaped.
    while (!to_pop.empty()) pop_some();
    while (!held.empty()) complete_some();
    reap_all();
    CHECK(lists.empty());
    CHECK(free_slots == std::uint32_t{n});
    CHECK(d.state().next_avail == encode(r.avail));
    CHECK(d.state().used_idx == encode(r.used));
    CHECK(!d.broken());
    total += done;
  }
  CHECK(total >= 10000);
}
