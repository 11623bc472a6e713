// SPDX-License-Identifier: Apache-2.0
// A layout-generic harness for the virtqueue conformance suite. split_harness and packed_harness
// have the same members: each owns a mock driver (the real driver plus raw access to the rings)
// and a configured device over the same guest memory, and offers the operations a shared test
// case needs in layout-neutral words: add a chain through the real driver, pop and complete on
// the device, publish a hostile chain raw, read what the device wrote, set or read the
// notification-suppression state of either side. A doctest TEST_CASE_TEMPLATE over both types
// then runs one case against both rings. Test code: allocates freely.
//
// Positions are the values a device's state() reports: split, the free-running u16 index;
// packed, `slot | wrap_counter << 15`. advance() moves one on either layout.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "ring/ring_test_support.hpp"
#include "vireo/testing/mock_packed_driver.hpp"
#include "vireo/testing/mock_split_driver.hpp"
#include "vireo/vireo.hpp"

namespace vireo_conformance {

using namespace vireo_ring_common;
namespace split_layout = vireo::ring::split_layout;
namespace packed_layout = vireo::ring::packed_layout;

/// VERSION_1 plus the chosen ring features (the layout bit is added by the packed mock).
[[nodiscard]] inline feature_set features(bool indirect, bool event_idx = false, bool in_order = false) {
  return ring_features(/*packed=*/false, indirect, event_idx, in_order);
}
[[nodiscard]] inline feature_set with(feature_set f, transport_feature extra) {
  f.set(extra);
  return f;
}

/// How one queue is built: size, negotiated features, indirect pool, data arena.
struct options {
  std::uint16_t size = 8;
  feature_set features{};
  std::uint16_t indirect_entries = 0;  ///< per-chain indirect table length in the driver's pool
  std::size_t data_bytes = std::size_t{1} << 16;
};

/// A descriptor a test publishes raw. `flags` holds NEXT / WRITE / INDIRECT (or any raw bits);
/// the packed harness adds the AVAIL/USED marks of the slot's wrap phase.
struct raw_desc {
  std::uint64_t addr = 0;
  std::uint32_t len = 0;
  std::uint16_t flags = 0;
};

/// A descriptor as the driver wrote it. `flags` without AVAIL/USED; `marks` holds those (packed).
struct written_desc {
  std::uint64_t addr = 0;
  std::uint32_t len = 0;
  std::uint16_t flags = 0;
  std::uint16_t marks = 0;
  std::uint16_t id = 0;    ///< packed: the buffer id field
  std::uint16_t next = 0;  ///< split: the next field
};

/// A chain as the driver laid it out: the data descriptors in order (ring descriptors, or the
/// entries of the indirect table), the descriptor pointing at the table, and where every
/// descriptor read lives.
struct written_chain {
  bool indirect = false;
  written_desc top{};
  std::vector<written_desc> descs;
  std::vector<gpa> where;  ///< ring descriptors first, then table entries
  std::size_t hops = 0;    ///< descriptors followed in the ring
};

/// One used entry as the device wrote it (packed: the raw flags too).
struct used_view {
  std::uint32_t id = 0;
  std::uint32_t len = 0;
  std::uint16_t flags = 0;
};

/// A notification-suppression structure in neutral words. Split without EVENT_IDX: the flags
/// say enabled / disabled; split with EVENT_IDX: always `at` the event index. Packed: the
/// flags' two low bits (ENABLE / DISABLE / DESC = at off_wrap).
enum class notify_mode { enabled, disabled, at };
struct suppression {
  notify_mode mode = notify_mode::enabled;
  std::uint16_t at = 0;         ///< the event field (used_event / avail_event / off_wrap)
  std::uint16_t raw_flags = 0;  ///< the flags field as written
};

/// A guest range the driver must leave alone.
struct region {
  gpa addr;
  std::size_t len;
};

/// Members both harnesses share; Self supplies the layout-specific ones.
template <typename Mock, typename Device, typename Self>
class harness_base {
 public:
  using mock_type = Mock;
  using device_type = Device;
  using driver_type = typename Mock::driver_type;
  using chain = typename Device::chain_type;
  using pos = std::uint16_t;

  explicit harness_base(const options& o) : m_(mock_options(o)), d_(m_.memory()) {
    REQUIRE(d_.configure(m_.config()).has_value());
  }
  harness_base(const harness_base&) = delete;
  harness_base& operator=(const harness_base&) = delete;

  [[nodiscard]] Mock& m() { return m_; }
  [[nodiscard]] Device& dev() { return d_; }
  [[nodiscard]] driver_type& drv() { return m_.driver(); }
  [[nodiscard]] flat_memory& memory() { return m_.memory(); }
  [[nodiscard]] std::uint16_t size() const { return m_.opts().size; }
  [[nodiscard]] queue_config config() const { return m_.config(); }
  [[nodiscard]] bool event_idx() const { return m_.opts().features.has(transport_feature::event_idx); }

  /// Configure the device again (after reset()), as the transport would on queue enable.
  void configure_device() { REQUIRE(d_.configure(m_.config()).has_value()); }
  /// Re-initialise the driver's rings (queue re-enable, §2.6.1.2.2).
  void configure_driver() {
    REQUIRE(m_.driver().configure(m_.config(), m_.pool()).has_value());
    lists_.clear();
    drv_used_ = Self::initial_pos();
    raw_started_ = false;
  }

  // ---- the real driver -------------------------------------------------------------------------

  /// Add a chain through the real driver: readable buffers holding `readable`, writable buffers
  /// of the given sizes. Returns add()'s result (split: the head; packed: the buffer id).
  vireo::result<std::uint16_t> add(std::initializer_list<const_bytes> readable,
                                   std::initializer_list<std::uint32_t> writable_sizes,
                                   add_mode mode = add_mode::automatic, std::uint64_t user = 0) {
    std::vector<buffer> r, w;
    for (const_bytes b : readable) r.push_back({m_.put(b), static_cast<std::uint32_t>(b.size())});
    for (std::uint32_t s : writable_sizes) w.push_back({m_.alloc(s), s});
    return add_bufs(r, w, user, mode);
  }
  /// Add buffers already in guest memory; records where the chain went (read_written()).
  vireo::result<std::uint16_t> add_bufs(std::span<const buffer> readable,
                                        std::span<const buffer> writable, std::uint64_t user = 0,
                                        add_mode mode = add_mode::automatic) {
    const pos at = m_.driver().avail_index();
    const std::uint16_t free_before = m_.driver().free_descriptors();
    auto id = m_.driver().add(readable, writable, user, mode);
    if (id) lists_[*id] = {at, static_cast<std::uint16_t>(free_before - m_.driver().free_descriptors())};
    return id;
  }
  /// reclaim() through the driver, keeping track of the driver's used position.
  vireo::result<std::optional<used_buffer>> reclaim() {
    auto u = m_.driver().reclaim();
    if (u && u->has_value()) {
      const auto it = lists_.find((*u)->id);
      if (it != lists_.end()) drv_used_ = advance(drv_used_, Self::used_step(it->second.slots));
    }
    return u;
  }
  used_buffer reclaim_ok() {
    auto u = reclaim();
    REQUIRE(u.has_value());
    REQUIRE(u->has_value());
    return **u;
  }
  void expect_nothing_used() {
    auto u = reclaim();
    REQUIRE(u.has_value());
    CHECK(!u->has_value());
  }
  /// Reclaim until nothing is left; returns what came back.
  std::vector<used_buffer> drain() {
    std::vector<used_buffer> out;
    for (;;) {
      auto u = reclaim();
      REQUIRE(u.has_value());
      if (!*u) return out;
      out.push_back(**u);
    }
  }

  // ---- the device ------------------------------------------------------------------------------

  chain pop_ok() { return vireo_ring_common::pop_ok(d_); }
  [[nodiscard]] std::uint16_t available() {
    auto a = d_.available();
    REQUIRE(a.has_value());
    return *a;
  }
  /// One request end to end: add a 4-byte writable chain, pop it, complete it with len 0,
  /// reclaim it.
  void cycle() {
    REQUIRE(add({}, {4}).has_value());
    auto c = pop_ok();
    REQUIRE(d_.push_used(c, 0).has_value());
    (void)reclaim_ok();
  }

  // ---- positions -------------------------------------------------------------------------------

  /// The device's next used entry and next chain to pop.
  [[nodiscard]] pos used_pos() const { return d_.state().used_idx; }
  [[nodiscard]] pos next_avail_pos() const { return d_.state().next_avail; }
  /// Where the driver will publish next (avail_index(): the NOTIFICATION_DATA value).
  [[nodiscard]] pos drv_avail_pos() { return m_.driver().avail_index(); }

  // ---- memory ----------------------------------------------------------------------------------

  [[nodiscard]] std::vector<std::byte> snapshot() { return vireo_ring_common::snapshot(m_); }
  [[nodiscard]] std::vector<std::byte> bytes_at(gpa g, std::size_t len) {
    const bytes h = m_.host(g, len);
    return {h.begin(), h.end()};
  }
  [[nodiscard]] std::vector<std::byte> bytes_of(const std::vector<region>& rs) {
    std::vector<std::byte> out;
    for (const region& r : rs) {
      const auto b = bytes_at(r.addr, r.len);
      out.insert(out.end(), b.begin(), b.end());
    }
    return out;
  }
  [[nodiscard]] std::size_t offset_of(gpa g) const {
    return static_cast<std::size_t>(g.raw() - m_.opts().base.raw());
  }

 protected:
  struct list_info {
    pos at = 0;               ///< the driver's avail position before add()
    std::uint16_t slots = 0;  ///< descriptors (split) or ring slots (packed) the chain took
  };

  [[nodiscard]] pos advance(pos p, std::int64_t k) const { return Self::advance_in(p, k, size()); }

  static typename Mock::options mock_options(const options& o) {
    return vireo_ring_common::mock_options<Mock>(o.size, o.features, o.indirect_entries, o.data_bytes);
  }

  Mock m_;
  Device d_;
  std::map<std::uint16_t, list_info> lists_;
  pos drv_used_ = Self::initial_pos();
  bool raw_started_ = false;
  std::uint16_t raw_next_ = 0;  ///< split: next raw descriptor index; packed: next raw buffer id
  pos raw_avail_ = 0;           ///< packed: where the next raw list goes
};

// ================================================================================================

/// The split ring (§2.7): mock_split_driver + split_device.
class split_harness
    : public harness_base<vireo::testing::mock_split_driver, vireo::ring::split_device<flat_memory>,
                          split_harness> {
  using base = harness_base<vireo::testing::mock_split_driver,
                            vireo::ring::split_device<flat_memory>, split_harness>;

 public:
  static constexpr bool is_split = true;
  static constexpr bool is_packed = false;
  template <typename Memory, std::size_t MaxSegments = 64>
  using device_t = vireo::ring::split_device<Memory, MaxSegments>;
  template <typename Memory, std::size_t MaxQueueSize = 256>
  using driver_t = vireo::ring::split_driver<Memory, MaxQueueSize>;

  explicit split_harness(const options& o) : base(o) {}

  [[nodiscard]] static constexpr pos initial_pos() { return 0; }
  /// Free-running u16 indices: the sum wraps on purpose.
  [[nodiscard]] static pos advance_in(pos p, std::int64_t k, std::uint16_t) {
    return static_cast<pos>(static_cast<std::int64_t>(p) + k);
  }
  /// Each completed chain takes one used-ring entry.
  [[nodiscard]] static std::uint32_t used_step(std::uint32_t) { return 1; }
  [[nodiscard]] static std::uint32_t used_step(const used_token&) { return 1; }
  using base::advance;

  // ---- device output ---------------------------------------------------------------------------

  /// The used element at `p`, if used.idx has moved over it (and no later lap replaced it).
  [[nodiscard]] std::optional<used_view> used_at(pos p) {
    const auto d = static_cast<std::uint16_t>(m_.used_idx() - p);
    if (d == 0 || d > size()) return std::nullopt;
    const auto [id, len] = m_.used_elem(p);
    return used_view{id, len, 0};
  }
  /// The bytes of the used-ring element at `p`.
  [[nodiscard]] std::vector<std::byte> used_storage(pos p) {
    return bytes_at(config().device_area.offset(split_layout::used_ring(p % size())), split_layout::used_elem_size);
  }
  /// Overwrite the used-ring element at `p` with a marker the device must leave alone.
  void scribble_used(pos p) { m_.write_used_elem(p, 0xdead, 0xbeef); }
  /// What the device may write: the used ring (flags, idx, ring, avail_event).
  [[nodiscard]] std::vector<region> device_areas() const {
    return {{config().device_area, split_layout::used_bytes(size())}};
  }
  /// The descriptor table (never written by the device, S5).
  [[nodiscard]] region desc_area() const { return {config().desc_table, split_layout::desc_table_bytes(size())}; }

  // ---- a raw device (hostile or QEMU-like) against the driver -----------------------------------

  /// Write the used element {id, len} at `p` and publish it (used.idx = p + 1).
  void raw_complete(pos p, std::uint32_t id, std::uint32_t len, std::uint16_t = 0) {
    m_.write_used_elem(p, id, len);
    m_.set_used_idx(static_cast<std::uint16_t>(p + 1));
  }

  // ---- a raw driver (hostile) against the device -----------------------------------------------

  /// Publish `list` as one chain at fresh descriptor indices (consecutive, mod size), NEXT on all
  /// but the last when `auto_next`, each `next` naming the following index. Returns the head.
  std::uint16_t publish_raw(const std::vector<raw_desc>& list, bool auto_next = true) {
    REQUIRE(!list.empty());
    const std::uint16_t head = raw_next_;
    std::uint16_t at = head;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto next = static_cast<std::uint16_t>((at + 1) % size());
      const bool more = i + 1 < list.size();
      const auto flags = static_cast<std::uint16_t>(list[i].flags | (auto_next && more ? desc_flag::next : 0));
      m_.write_desc(at, list[i].addr, list[i].len, flags, more ? next : 0);
      at = next;
    }
    raw_next_ = at;
    m_.publish_raw(head);
    return head;
  }
  /// Skip `k` descriptor indices: the next raw chain's head is k further on.
  void skip_raw(std::uint16_t k) { raw_next_ = static_cast<std::uint16_t>((raw_next_ + k) % size()); }
  /// The avail ring entry at `p` (the head published there).
  [[nodiscard]] std::uint16_t avail_ring_entry(pos p) {
    return load(config().driver_area.offset(split_layout::avail_ring(p % size())));
  }
  /// An indirect table in guest memory (entries linked 1, 2, ... with NEXT when `auto_next`).
  gpa put_table(const std::vector<raw_desc>& entries, bool auto_next = true) {
    const gpa t = m_.alloc(16 * entries.size(), 16);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const bool more = i + 1 < entries.size();
      m_.write_desc_at(t.offset(16 * i), entries[i].addr, entries[i].len,
                       static_cast<std::uint16_t>(entries[i].flags | (auto_next && more ? desc_flag::next : 0)),
                       more ? static_cast<std::uint16_t>(i + 1) : 0);
    }
    return t;
  }

  // ---- notification suppression ----------------------------------------------------------------

  /// Without EVENT_IDX: avail.flags = 0 (interrupts wanted) or NO_INTERRUPT; used_event =
  /// `ignored`, which the device must not look at.
  void driver_wants_interrupts(bool yes, std::uint16_t ignored = 0) {
    m_.set_avail_flags(yes ? 0 : 1);
    m_.set_used_event(ignored);
  }
  /// With EVENT_IDX: used_event = p. `noise` sets avail.flags bit 0, which the device must ignore
  /// (§2.7.7.2).
  void driver_wants_interrupt_at(pos p, bool noise = false) {
    m_.set_used_event(p);
    m_.set_avail_flags(noise ? 1 : 0);
  }
  /// Without EVENT_IDX: used.flags = 0 or NO_NOTIFY; avail_event = `ignored`.
  void device_wants_kicks(bool yes, std::uint16_t ignored = 0) {
    m_.set_used_flags(yes ? 0 : 1);
    m_.set_avail_event(ignored);
  }
  /// With EVENT_IDX: avail_event = p. `noise` sets used.flags bit 0, which the driver must ignore
  /// (§2.7.10.1).
  void device_wants_kick_at(pos p, bool noise = false) {
    m_.set_avail_event(p);
    m_.set_used_flags(noise ? 1 : 0);
  }
  /// What the driver asked of the device: avail.flags and used_event.
  [[nodiscard]] suppression driver_suppression() {
    const std::uint16_t flags = load(config().driver_area.offset(split_layout::avail_flags));
    const std::uint16_t ev = load(config().driver_area.offset(split_layout::used_event(size())));
    return make(flags, ev);
  }
  /// What the device asked of the driver: used.flags and avail_event.
  [[nodiscard]] suppression device_suppression() {
    return make(m_.used_flags(), m_.avail_event());
  }

  // ---- what the driver wrote -------------------------------------------------------------------

  [[nodiscard]] written_desc read_desc_at(gpa where) {
    vireo::ring::split_desc d;
    std::memcpy(&d, m_.host(where, sizeof d).data(), sizeof d);
    return {d.addr.get(), d.len.get(), d.flags.get(), 0, 0, d.next.get()};
  }
  [[nodiscard]] gpa desc_gpa(std::uint16_t i) const { return config().desc_table.offset(16u * i); }
  /// Raw flags of descriptor table entry i.
  [[nodiscard]] std::uint16_t ring_desc_flags(std::uint16_t i) { return read_desc_at(desc_gpa(i)).flags; }

  /// Walk the chain whose head is `id` (NEXT links, at most size() hops; a table by its own
  /// NEXT links, at most len/16 hops). A longer walk fails the test: the driver made a loop.
  [[nodiscard]] written_chain read_written(std::uint16_t id) {
    written_chain w;
    std::uint16_t at = id;
    written_desc d = read_desc_at(desc_gpa(at));
    w.where.push_back(desc_gpa(at));
    w.hops = 1;
    if (d.flags & desc_flag::indirect) {
      w.indirect = true;
      w.top = d;
      const gpa t{d.addr};
      const std::size_t budget = d.len / 16;
      std::size_t i = 0;
      for (std::size_t hops = 1;; ++hops) {
        REQUIRE(hops <= budget);
        const written_desc e = read_desc_at(t.offset(16 * i));
        w.where.push_back(t.offset(16 * i));
        w.descs.push_back(e);
        if (!(e.flags & desc_flag::next)) break;
        i = e.next;
      }
      return w;
    }
    for (;;) {
      w.descs.push_back(d);
      if (!(d.flags & desc_flag::next)) break;
      REQUIRE(++w.hops <= size());
      at = d.next;
      d = read_desc_at(desc_gpa(at));
      w.where.push_back(desc_gpa(at));
    }
    return w;
  }
  /// What the driver must not modify while `in_flight` chains are exposed (G10): their
  /// descriptors and their indirect tables.
  [[nodiscard]] std::vector<region> driver_must_not_touch(const std::vector<std::uint16_t>& in_flight) {
    std::vector<region> out;
    for (std::uint16_t id : in_flight)
      for (gpa g : read_written(id).where) out.push_back({g, 16});
    return out;
  }
  /// The rings look as configure() leaves them (G14): indices and flags 0.
  [[nodiscard]] bool ring_is_initial() {
    return m_.avail_idx() == 0 && m_.used_idx() == 0 && driver_suppression().raw_flags == 0 &&
           m_.used_flags() == 0;
  }

 private:
  [[nodiscard]] std::uint16_t load(gpa g) {
    return vireo::detail::atomic_load_le16(m_.host(g, 2).data(), std::memory_order_acquire);
  }
  [[nodiscard]] suppression make(std::uint16_t flags, std::uint16_t ev) const {
    if (event_idx()) return {notify_mode::at, ev, flags};
    return {(flags & 1) != 0 ? notify_mode::disabled : notify_mode::enabled, ev, flags};
  }
};

// ================================================================================================

/// The packed ring (§2.8): mock_packed_driver + packed_device.
class packed_harness
    : public harness_base<vireo::testing::mock_packed_driver,
                          vireo::ring::packed_device<flat_memory>, packed_harness> {
  using base = harness_base<vireo::testing::mock_packed_driver,
                            vireo::ring::packed_device<flat_memory>, packed_harness>;

 public:
  static constexpr bool is_split = false;
  static constexpr bool is_packed = true;
  template <typename Memory, std::size_t MaxSegments = 64>
  using device_t = vireo::ring::packed_device<Memory, MaxSegments>;
  template <typename Memory, std::size_t MaxQueueSize = 256>
  using driver_t = vireo::ring::packed_driver<Memory, MaxQueueSize>;

  explicit packed_harness(const options& o) : base(o) {}

  /// Slot 0, both wrap counters 1 (§2.8.1).
  [[nodiscard]] static constexpr pos initial_pos() { return 0x8000; }
  /// Positions cycle with period 2N: the first lap has wrap 1, the next wrap 0.
  [[nodiscard]] static pos advance_in(pos p, std::int64_t k, std::uint16_t n) {
    const std::int64_t period = 2 * std::int64_t{n};
    const std::int64_t x = vireo::ring::off_of(p) + (vireo::ring::wrap_of(p) ? 0 : n);
    const std::int64_t y = ((x + k) % period + period) % period;
    return vireo::ring::make_off_wrap(static_cast<std::uint16_t>(y % n), y < n);
  }
  /// A used descriptor moves the cursor by the slots its chain took (§2.8.6).
  [[nodiscard]] static std::uint32_t used_step(std::uint32_t slots) { return slots; }
  [[nodiscard]] static std::uint32_t used_step(const used_token& t) { return t.slots; }
  using base::advance;

  // ---- device output ---------------------------------------------------------------------------

  /// The used descriptor at `p`, if the slot is used in p's wrap phase (§2.8.1).
  [[nodiscard]] std::optional<used_view> used_at(pos p) {
    const auto d = m_.read_desc(vireo::ring::off_of(p));
    if (!packed_flag::is_used(d.flags, vireo::ring::wrap_of(p))) return std::nullopt;
    return used_view{d.id, d.len, d.flags};
  }
  [[nodiscard]] std::vector<std::byte> used_storage(pos p) {
    return bytes_at(slot_gpa(vireo::ring::off_of(p)), 16);
  }
  /// What the device may write: the descriptor ring (used descriptors) and its own event area.
  [[nodiscard]] std::vector<region> device_areas() const {
    return {{config().desc_table, packed_layout::desc_ring_bytes(size())}, {config().device_area, packed_layout::event_bytes}};
  }

  // ---- a raw device (hostile or QEMU-like) against the driver -----------------------------------

  /// Write a used descriptor {id, len} at `p` in p's phase: AVAIL = USED = wrap, plus `extra`
  /// flags (WRITE when len > 0 unless `extra` says otherwise: pass 0 for a QEMU-like device).
  void raw_complete(pos p, std::uint32_t id, std::uint32_t len,
                    std::optional<std::uint16_t> extra = std::nullopt) {
    const std::uint16_t e = extra ? *extra : static_cast<std::uint16_t>(len > 0 ? desc_flag::write : 0);
    m_.write_used(vireo::ring::off_of(p), static_cast<std::uint16_t>(id), len,
                  static_cast<std::uint16_t>(packed_flag::used_marks(vireo::ring::wrap_of(p)) | e));
  }

  // ---- a raw driver (hostile) against the device -----------------------------------------------

  /// Publish `list` at the raw driver's position: consecutive slots, each with the marks of its
  /// slot's phase, NEXT on all but the last when `auto_next`, one fresh buffer id in every
  /// descriptor (as Linux does), head flags last. Returns the buffer id.
  std::uint16_t publish_raw(const std::vector<raw_desc>& list, bool auto_next = true) {
    REQUIRE(!list.empty());
    if (!raw_started_) {
      raw_avail_ = m_.driver().avail_index();
      raw_started_ = true;
    }
    const auto id = static_cast<std::uint16_t>(raw_next_ % size());
    raw_next_ = static_cast<std::uint16_t>(raw_next_ + 1);
    std::vector<vireo::testing::mock_packed_driver::desc_fields> fields;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const bool more = i + 1 < list.size();
      fields.push_back({list[i].addr, list[i].len, id,
                        static_cast<std::uint16_t>(list[i].flags | (auto_next && more ? desc_flag::next : 0))});
    }
    const auto [slot, wrap] =
        m_.publish_chain(vireo::ring::off_of(raw_avail_), vireo::ring::wrap_of(raw_avail_), fields);
    raw_avail_ = vireo::ring::make_off_wrap(slot, wrap);
    return id;
  }
  /// Skip `k` buffer ids: the next raw list's id is k further on.
  void skip_raw(std::uint16_t k) { raw_next_ = static_cast<std::uint16_t>(raw_next_ + k); }
  /// An indirect table: consecutive entries, flags as given (no NEXT: §2.8.7), id 0.
  gpa put_table(const std::vector<raw_desc>& entries, bool = true) {
    const gpa t = m_.alloc(16 * entries.size(), 16);
    for (std::size_t i = 0; i < entries.size(); ++i)
      m_.write_desc_at(t.offset(16 * i), entries[i].addr, entries[i].len, 0, entries[i].flags);
    return t;
  }

  // ---- notification suppression ----------------------------------------------------------------

  /// Without EVENT_IDX: Driver Event Suppression flags ENABLE or DISABLE; off_wrap = `ignored`.
  void driver_wants_interrupts(bool yes, std::uint16_t ignored = 0) {
    m_.set_driver_event(ignored, yes ? event_flag::enable : event_flag::disable);
  }
  /// With EVENT_IDX: DESC at off_wrap = p. (No field of a packed structure is ignored in DESC
  /// mode, so `noise` has nothing to set.)
  void driver_wants_interrupt_at(pos p, bool = false) { m_.set_driver_event(p, event_flag::desc); }
  void device_wants_kicks(bool yes, std::uint16_t ignored = 0) {
    m_.set_device_event(ignored, yes ? event_flag::enable : event_flag::disable);
  }
  void device_wants_kick_at(pos p, bool = false) { m_.set_device_event(p, event_flag::desc); }
  [[nodiscard]] suppression driver_suppression() {
    const auto e = m_.driver_event();
    return make(e.flags, e.off_wrap);
  }
  [[nodiscard]] suppression device_suppression() {
    const auto e = m_.device_event();
    return make(e.flags, e.off_wrap);
  }

  // ---- what the driver wrote -------------------------------------------------------------------

  [[nodiscard]] gpa slot_gpa(std::uint16_t slot) const { return config().desc_table.offset(16u * slot); }
  [[nodiscard]] written_desc read_desc_at(gpa where) {
    const auto d = m_.read_desc_at(where);
    constexpr std::uint16_t marks = packed_flag::avail | packed_flag::used;
    return {d.addr, d.len, static_cast<std::uint16_t>(d.flags & ~marks),
            static_cast<std::uint16_t>(d.flags & marks), d.id, 0};
  }
  /// Raw flags of ring slot i.
  [[nodiscard]] std::uint16_t ring_desc_flags(std::uint16_t i) { return m_.desc_flags(i); }

  /// The list add() returned `id` for: consecutive slots from where it was published, while NEXT
  /// is set (at most size() slots), or one INDIRECT slot and its len/16 table entries.
  [[nodiscard]] written_chain read_written(std::uint16_t id) {
    const auto it = lists_.find(id);
    REQUIRE(it != lists_.end());
    pos p = it->second.at;
    written_chain w;
    written_desc d = read_desc_at(slot_gpa(vireo::ring::off_of(p)));
    w.where.push_back(slot_gpa(vireo::ring::off_of(p)));
    w.hops = 1;
    if (d.flags & desc_flag::indirect) {
      w.indirect = true;
      w.top = d;
      for (std::uint32_t i = 0; i < d.len / 16; ++i) {
        const gpa e{d.addr + 16u * i};
        w.where.push_back(e);
        w.descs.push_back(read_desc_at(e));
      }
      return w;
    }
    for (;;) {
      w.descs.push_back(d);
      if (!(d.flags & desc_flag::next)) break;
      REQUIRE(++w.hops <= size());
      p = advance(p, 1);
      d = read_desc_at(slot_gpa(vireo::ring::off_of(p)));
      w.where.push_back(slot_gpa(vireo::ring::off_of(p)));
    }
    return w;
  }
  /// What the driver must not modify (G10, P7, P8): every slot from its used position (what it
  /// has not seen come back) to its avail position (what it has exposed), and the pool tables of
  /// the buffers in flight. Slots of chains in flight outside that window were returned by the
  /// device's used cursor and may be reused (§2.8.6). Needs reclaim() through this harness.
  [[nodiscard]] std::vector<region> driver_must_not_touch(const std::vector<std::uint16_t>& in_flight) {
    std::vector<region> out;
    const std::uint16_t n = size();
    const std::int64_t from = linear(drv_used_), to = linear(drv_avail_pos());
    const std::int64_t count = ((to - from) % (2 * n) + 2 * n) % (2 * n);
    REQUIRE(count <= n);
    for (std::int64_t k = 0; k < count; ++k)
      out.push_back({slot_gpa(vireo::ring::off_of(advance(drv_used_, k))), 16});
    const auto pool = m_.pool();
    if (pool.entries_per_table != 0)
      for (std::uint16_t id : in_flight)
        out.push_back({pool.base.offset(std::uint64_t{id} * pool.entries_per_table * 16),
                       std::size_t{pool.entries_per_table} * 16});
    return out;
  }
  /// The ring looks as configure() leaves it (§2.8.13, G14): every descriptor and both event
  /// areas zero.
  [[nodiscard]] bool ring_is_initial() {
    const auto ring = bytes_at(config().desc_table, packed_layout::desc_ring_bytes(size()));
    const auto drv_ev = bytes_at(config().driver_area, packed_layout::event_bytes);
    const auto dev_ev = bytes_at(config().device_area, packed_layout::event_bytes);
    auto zero = [](const std::vector<std::byte>& v) {
      return std::all_of(v.begin(), v.end(), [](std::byte b) { return b == std::byte{0}; });
    };
    return zero(ring) && zero(drv_ev) && zero(dev_ev);
  }

 private:
  [[nodiscard]] std::int64_t linear(pos p) const {
    return vireo::ring::off_of(p) + (vireo::ring::wrap_of(p) ? 0 : size());
  }
  [[nodiscard]] static suppression make(std::uint16_t flags, std::uint16_t off_wrap) {
    const std::uint16_t f = flags & 3u;
    const notify_mode mode = f == event_flag::disable ? notify_mode::disabled
                             : f == event_flag::desc  ? notify_mode::at
                                                      : notify_mode::enabled;
    return {mode, off_wrap, flags};
  }
};

}  // namespace vireo_conformance

TYPE_TO_STRING(vireo_conformance::split_harness);
TYPE_TO_STRING(vireo_conformance::packed_harness);
