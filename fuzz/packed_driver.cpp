// SPDX-License-Identifier: Apache-2.0
// Fuzz target: ring::packed_driver against a hostile device. The input decodes into a queue size
// (1..256, not only powers of two), features and a script of up to 256 operations: the driver
// adds lists (direct, indirect, automatic), reclaims, decides kicks, toggles interrupts, resets,
// detaches unused buffers and reconfigures; the "device" writes arbitrary used descriptors (ids
// out of range or not in flight, twice, wrong wrap phase, lying lengths, WRITE on or off) and
// arbitrary Device Event Suppression values. Every step is checked against a model, and all of
// guest memory against a shadow copy of what the driver may write. Format: docs/fuzzing.md.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "fuzz_input.hpp"
#include "guest_memory.hpp"
#include "packed_positions.hpp"
#include "ring_fuzz_common.hpp"
#include "vireo/ring/packed_driver.hpp"

namespace {

using vireo::errc;
using vireo::gpa;
namespace ring = vireo::ring;
namespace desc_flag = vireo::ring::desc_flag;
namespace packed_flag = vireo::ring::packed_flag;
using vireo_fuzz::byte_source;
using vireo_fuzz::fails_with;
using vireo_fuzz::pos;
using vireo_fuzz::advance;
using vireo_fuzz::enc;

constexpr std::uint64_t kBase = 0x10000;
constexpr std::size_t kDrvEvOff = 0x0000;  // Driver Event Suppression (the driver writes it)
constexpr std::size_t kDevEvOff = 0x0010;  // Device Event Suppression (the device writes it)
constexpr std::size_t kPoolOff = 0x1000;   // indirect pool: 256 ids x 4 entries x 16 bytes
constexpr std::size_t kDataOff = 0x5000;   // buffers: the driver never touches them
constexpr std::size_t kRingArea = 0x7000;  // descriptor rings: they end where memory ends
constexpr std::size_t kMemSize = 0x8000;
constexpr std::size_t kDataSize = kRingArea - kDataOff;
constexpr std::uint32_t kMaxQueue = 256;
constexpr int kMaxOps = 256;

constexpr std::uint16_t kReservedFlags = vireo_fuzz::packed_reserved_flags;

using guest_t = vireo_fuzz::guest_memory<kBase, kMemSize>;
using driver_t = ring::packed_driver<vireo::flat_memory, kMaxQueue>;

/// The ring of `size` slots ends where guest memory (and its heap block) ends, so ASan reports
/// any access past slot size-1. Sizes that do not fit start at the ring area (and fail to map).
constexpr std::size_t ring_off(std::uint32_t size) noexcept {
  return size <= kMaxQueue ? kMemSize - 16 * std::size_t{size} : kRingArea;
}

bool in_memory(std::uint64_t addr, std::uint64_t len) noexcept { return guest_t::contains(addr, len); }

const std::byte* pattern() {
  return vireo_fuzz::fixed_pattern<kMemSize>([](std::size_t i) { return std::byte(i * 11 + 5); });
}

struct buf_model {
  bool in_flight = false;
  std::uint16_t ndesc = 0;  // ring slots it holds
  std::uint32_t wlen = 0;
  std::uint64_t user = 0;
};

struct model {
  bool ready = false, broken = false;
  std::uint16_t size = 0;  // of the last successful configure (the driver keeps it too)
  bool event_idx = false, in_order = false;
  std::uint16_t pool_entries = 0;
  std::array<buf_model, kMaxQueue> ids{};
  std::array<std::uint16_t, kMaxQueue> fifo{};  // ids in flight, in submission order
  std::size_t count = 0;
  std::uint32_t num_free = 0;  // the driver's free-slot counter
  pos avail;                   // next slot the driver makes available
  pos used;                    // next slot it looks at for a used descriptor
  std::uint32_t num_added = 0; // slots published since the last kick decision (<= size)
  std::optional<std::pair<std::uint16_t, std::uint32_t>> batch;  // IN_ORDER batch being drained
  std::uint32_t detach_next = 0;
};

class harness {
 public:
  harness(const std::uint8_t* data, std::size_t size) : in_(data, size), drv_(g_.flat()) {
    g_.load(pattern());
  }

  void run() {
    const auto size = static_cast<std::uint16_t>(1u + in_.u8());
    const std::uint8_t features = in_.u8();
    const std::uint8_t pool = in_.u8();
    const unsigned entries = (features & 2u) ? pool % 5u : 0;  // a pool needs INDIRECT_DESC
    do_configure(size, features, entries, 0);
    FUZZ_CHECK(m_.ready);
    for (int op = 0; op < kMaxOps && !in_.empty(); ++op) {
      step(in_.u8());
      check_global();
    }
  }

 private:
  /// A descriptor the driver is expected to write.
  void expect_desc(std::size_t off, std::uint64_t addr, std::uint32_t len, std::uint16_t id,
                   std::uint16_t flags) noexcept {
    ring::packed_desc d;
    d.addr.set(addr);
    d.len.set(len);
    d.id.set(id);
    d.flags.set(flags);
    g_.expect(off, &d, sizeof d);
  }
  std::size_t slot_off(std::uint16_t slot) const noexcept {
    return ring_off(m_.size) + 16 * std::size_t{slot};
  }

  errc not_ready_error() const noexcept {
    return m_.broken ? errc::queue_broken : errc::queue_not_ready;
  }

  void check_global() const {
    FUZZ_CHECK(drv_.ready() == m_.ready);
    FUZZ_CHECK(drv_.broken() == m_.broken);
    if (m_.broken)
      FUZZ_CHECK(drv_.broken_reason() == errc::used_id_out_of_range ||
                 drv_.broken_reason() == errc::used_id_not_in_flight ||
                 drv_.broken_reason() == errc::used_len_too_large);
    FUZZ_CHECK(drv_.size() == m_.size);
    FUZZ_CHECK(drv_.free_descriptors() == m_.num_free);
    FUZZ_CHECK(drv_.in_flight() == m_.count);
    FUZZ_CHECK(drv_.avail_index() == enc(m_.avail));
    if (m_.ready) {
      // Every slot is free or held by exactly one buffer in flight, and the slots held lie
      // between the used cursor and the avail cursor (not while an IN_ORDER batch drains: its
      // slots were passed at once, its buffers come back one by one).
      std::uint32_t held = 0;
      for (std::size_t i = 0; i < m_.count; ++i) held += m_.ids[m_.fifo[i]].ndesc;
      FUZZ_CHECK(m_.num_free + held == m_.size);
      if (!m_.batch)
        FUZZ_CHECK(vireo_fuzz::slots_ahead(m_.used, m_.avail, m_.size) == static_cast<std::int32_t>(held));
    }
    // The driver wrote exactly what the model expects (descriptors at the avail cursor, its
    // indirect tables, its event suppression area, configure's zeroing) and nothing else: not
    // the buffers, not the Device Event Suppression area, not used descriptors.
    FUZZ_CHECK(g_.matches_shadow());
  }

  void step(std::uint8_t opcode) {
    switch (opcode % 15) {
      case 0:
      case 1: op_add(); break;
      case 2:
      case 3: op_device_complete(); break;
      case 4: op_device_write(); break;
      case 5: op_device_cursor(); break;
      case 6: op_device_event(); break;
      case 7:
      case 8: op_reclaim(); break;
      case 9: op_needs_kick(); break;
      case 10: op_enable(); break;
      case 11: op_disable(); break;
      case 12:
        drv_.reset();
        m_.ready = m_.broken = false;
        m_.detach_next = 0;
        break;
      case 13: op_detach(); break;
      default: {
        const std::uint8_t sz = in_.u8();
        const std::uint8_t features = in_.u8();
        const std::uint8_t v = in_.u8();
        std::uint32_t size = 1u + sz;
        if (features & 0x80u) size = std::array<std::uint32_t, 4>{0, 257, 32769, 0xffff}[sz & 3u];
        do_configure(size, features, v % 5u, v >= 0xe0 ? 1u + v % 7u : 0u);
        break;
      }
    }
  }

  // ---- configure ----------------------------------------------------------------------------

  void do_configure(std::uint32_t size, std::uint8_t features, unsigned pool_entries,
                    unsigned variant) {
    ring::queue_config c;
    c.size = static_cast<std::uint16_t>(size);
    c.desc_table = gpa{kBase + ring_off(size)};
    c.driver_area = gpa{kBase + kDrvEvOff};
    c.device_area = gpa{kBase + kDevEvOff};
    ring::indirect_pool pool{gpa{kBase + kPoolOff}, static_cast<std::uint16_t>(pool_entries)};
    switch (variant) {
      case 1: c.desc_table = gpa{kBase + ring_off(size) + 8}; break;   // misaligned (16)
      case 2: c.driver_area = gpa{kBase + kDrvEvOff + 2}; break;       // misaligned (4)
      case 3: c.device_area = gpa{kBase + kDevEvOff + 2}; break;       // misaligned (4)
      case 4: c.device_area = gpa{kBase + kMemSize - 2}; break;        // runs off the end
      case 5: pool.base = gpa{kBase + kPoolOff + 8}; break;            // misaligned (16)
      case 6: pool.base = gpa{kBase + kMemSize - 16}; break;           // runs off the end
      case 7: c.desc_table = gpa{kBase + ring_off(size) + 16}; break;  // one slot past the end
      default: break;
    }
    const bool event_idx = features & 1u, indirect = features & 2u, in_order = features & 4u;
    vireo_fuzz::negotiate(c, features);
    const auto r = drv_.configure(c, pool);
    m_.ready = m_.broken = false;  // even a refused configure clears the broken state

    std::optional<errc> expect;
    const auto area = [&](gpa at, std::uint64_t len, std::uint64_t align) -> std::optional<errc> {
      if (at.raw() & (align - 1)) return errc::ring_misaligned;
      if (!in_memory(at.raw(), len)) return errc::ring_not_mapped;
      return std::nullopt;
    };
    if (size == 0 || size > kMaxQueue) expect = errc::bad_queue_size;
    else if ((expect = area(c.desc_table, 16 * std::uint64_t{size}, 16))) {
    } else if ((expect = area(c.driver_area, 4, 4))) {
    } else if ((expect = area(c.device_area, 4, 4))) {
    } else if (pool_entries != 0 && !indirect) {
      expect = errc::feature_not_negotiated;
    } else if (pool_entries != 0) {
      expect = area(pool.base, std::uint64_t{size} * pool_entries * 16, 16);
    }
    // Refused: nothing written, the old books stay (detach_unused() still sees them).
    if (!vireo_fuzz::succeeded_as_expected(r, expect)) return;
    // §2.8.13: the ring and both event areas start zeroed; both wrap counters at 1.
    g_.expect_fill(ring_off(size), 0, 16 * std::size_t{size});
    g_.expect_fill(kDrvEvOff, 0, 4);
    g_.expect_fill(kDevEvOff, 0, 4);
    m_ = model{};
    m_.ready = true;
    m_.size = static_cast<std::uint16_t>(size);
    m_.event_idx = event_idx;
    m_.in_order = in_order;
    m_.pool_entries = static_cast<std::uint16_t>(pool_entries);
    m_.num_free = size;
    dev_ = pos{};
  }

  // ---- add ----------------------------------------------------------------------------------

  void op_add() {
    const auto q = vireo_fuzz::add_request::decode(in_, kBase + kDataOff, kDataSize);
    const std::uint64_t user = next_user_++;
    const auto r = drv_.add(q.readable(), q.writable(), user, q.mode);

    const std::size_t n = q.count();
    const bool indirect = q.goes_indirect(m_.num_free, m_.pool_entries);
    if (!vireo_fuzz::succeeded_as_expected(
            r, q.expected_error(m_.ready, not_ready_error(), m_.size, m_.num_free, m_.pool_entries)))
      return;
    const std::uint16_t id = *r;
    FUZZ_CHECK(id < m_.size);
    buf_model& b = m_.ids[id];
    FUZZ_CHECK(!b.in_flight);  // a free buffer id

    // The descriptors it must have written: the id in every one (as Linux does), AVAIL/USED of
    // each slot's own phase (flipped mid-list past the last slot), NEXT on all but the last.
    const auto wflag = [&](std::size_t i) { return q.is_writable(i) ? unsigned{desc_flag::write} : 0u; };
    std::uint16_t slots;
    if (indirect) {
      const std::size_t table = kPoolOff + std::size_t{id} * m_.pool_entries * 16;
      for (std::size_t i = 0; i < n; ++i)  // §2.8.19: consecutive, only WRITE in them
        expect_desc(table + 16 * i, q.at(i).addr.raw(), q.at(i).len, 0,
                    static_cast<std::uint16_t>(wflag(i)));
      expect_desc(slot_off(m_.avail.slot), kBase + table, static_cast<std::uint32_t>(16 * n), id,
                  static_cast<std::uint16_t>(desc_flag::indirect |
                                             packed_flag::avail_marks(m_.avail.wrap)));
      advance(m_.avail, 1, m_.size);
      slots = 1;
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        const auto flags =
            static_cast<std::uint16_t>(wflag(i) | (i + 1 < n ? desc_flag::next : 0u) |
                                       packed_flag::avail_marks(m_.avail.wrap));
        expect_desc(slot_off(m_.avail.slot), q.at(i).addr.raw(), q.at(i).len, id, flags);
        advance(m_.avail, 1, m_.size);
      }
      slots = static_cast<std::uint16_t>(n);
    }
    b = buf_model{true, slots, static_cast<std::uint32_t>(q.wlen), user};
    m_.fifo[m_.count++] = id;
    m_.num_free -= slots;
    m_.num_added = m_.num_added + slots < m_.size ? m_.num_added + slots : m_.size;
  }

  // ---- the hostile device ----------------------------------------------------------------------

  /// A used descriptor's id, len and flags (the device leaves addr alone).
  void write_used(pos at, std::uint16_t id, std::uint32_t len, std::uint16_t flags) {
    const std::size_t off = slot_off(at.slot);
    const std::uint8_t b[8] = {
        static_cast<std::uint8_t>(len),       static_cast<std::uint8_t>(len >> 8),
        static_cast<std::uint8_t>(len >> 16), static_cast<std::uint8_t>(len >> 24),
        static_cast<std::uint8_t>(id),        static_cast<std::uint8_t>(id >> 8),
        static_cast<std::uint8_t>(flags),     static_cast<std::uint8_t>(flags >> 8)};
    g_.write(off + 8, b, sizeof b);
  }
  /// len: u8 mode, then a u32 for modes 1 and 3 (for mode 1 even when wlen is 0).
  std::uint32_t pick_len(std::uint32_t wlen) {
    return vireo_fuzz::pick_used_len(in_, wlen, /*u32_even_when_empty=*/true);
  }

  /// A mostly well-behaved completion of the k-th oldest buffer at the device's used cursor.
  /// ctl: bit 0 WRITE, bit 1 NEXT (reserved in used descriptors), bits 2-3 how far the device's
  /// cursor moves: 0 the buffer's slots (under IN_ORDER: of every buffer up to it, a batch),
  /// 1 the buffer's slots, 2 one slot, 3 not at all.
  void op_device_complete() {
    const std::uint8_t sel = in_.u8();
    const std::uint8_t ctl = in_.u8();
    const std::uint32_t wl = m_.count ? m_.ids[m_.fifo[sel % m_.count]].wlen : 0;
    const std::uint32_t len = pick_len(wl);
    if (m_.size == 0 || m_.count == 0) return;
    const std::size_t k = sel % m_.count;
    const std::uint16_t id = m_.fifo[k];
    const auto flags = static_cast<std::uint16_t>(packed_flag::used_marks(dev_.wrap) |
                                                  ((ctl & 1u) ? desc_flag::write : 0u) |
                                                  ((ctl & 2u) ? desc_flag::next : 0u));
    write_used(dev_, id, len, flags);
    std::uint32_t by = m_.ids[id].ndesc;
    switch ((ctl >> 2) & 3u) {
      case 0:
        if (m_.in_order) {
          by = 0;
          for (std::size_t i = 0; i <= k; ++i) by += m_.ids[m_.fifo[i]].ndesc;
        }
        break;
      case 1: break;
      case 2: by = 1; break;
      default: by = 0; break;
    }
    advance(dev_, by % (m_.size + 1u), m_.size);
  }

  /// Any used descriptor near the device's cursor. idsel & 3: 0 an id in flight, 1 idsel >> 2,
  /// 2 size + (idsel >> 2), 3 the last id reclaimed (completed twice). fl & 3: 0 used in the
  /// device's phase, 1 used in the other phase, 2 available-looking, 3 raw (AVAIL bit 2, USED
  /// bit 3); bit 4 WRITE; bit 5 reserved flag bits.
  void op_device_write() {
    const std::uint8_t at = in_.u8();
    const std::uint8_t idsel = in_.u8();
    const std::uint8_t fl = in_.u8();
    const std::uint32_t len = in_.u32();
    if (m_.size == 0) return;
    pos p = dev_;
    advance(p, (at % 8u) % (m_.size + 1u), m_.size);
    std::uint16_t id;
    switch (idsel & 3u) {
      case 0: id = m_.count ? m_.fifo[(idsel >> 2) % m_.count] : 0; break;
      case 1: id = idsel >> 2; break;
      case 2: id = static_cast<std::uint16_t>(m_.size + (idsel >> 2)); break;
      default: id = last_retired_; break;
    }
    std::uint16_t flags;
    switch (fl & 3u) {
      case 0: flags = packed_flag::used_marks(p.wrap); break;
      case 1: flags = packed_flag::used_marks(!p.wrap); break;
      case 2: flags = packed_flag::avail_marks(p.wrap); break;
      default:
        flags = static_cast<std::uint16_t>(((fl & 4u) ? packed_flag::avail : 0u) |
                                           ((fl & 8u) ? packed_flag::used : 0u));
        break;
    }
    if (fl & 0x10u) flags |= desc_flag::write;
    if (fl & 0x20u) flags |= kReservedFlags;
    write_used(p, id, len, flags);
  }

  /// The device's cursor; home: where the driver looks next.
  void op_device_cursor() {
    const std::uint8_t mode = in_.u8();
    if (m_.size == 0) return;
    vireo_fuzz::steer(dev_, mode, m_.size, m_.used);
  }

  /// Device Event Suppression, off_wrap around the driver's avail cursor.
  void op_device_event() {
    const auto e = vireo_fuzz::decode_event_suppression(in_, m_.avail, m_.size ? m_.size : 1);
    g_.put16(kDevEvOff + ring::packed_layout::event_off_wrap, e.off_wrap);
    g_.put16(kDevEvOff + ring::packed_layout::event_flags, e.flags);
  }

  // ---- reclaim ------------------------------------------------------------------------------

  void retire(std::uint16_t id) {
    buf_model& b = m_.ids[id];
    FUZZ_CHECK(b.in_flight);
    b.in_flight = false;
    m_.num_free += b.ndesc;
    for (std::size_t i = 0; i < m_.count; ++i) {
      if (m_.fifo[i] != id) continue;
      for (std::size_t j = i; j + 1 < m_.count; ++j) m_.fifo[j] = m_.fifo[j + 1];
      --m_.count;
      break;
    }
    last_retired_ = id;
  }
  /// user_data comes back once per add, whether by reclaim() or detach_unused().
  void hand_back(std::uint64_t user) {
    FUZZ_CHECK(user < returned_.size() && !returned_[user]);
    returned_[user] = true;
  }

  void op_reclaim() {
    const auto r = drv_.reclaim();
    if (!m_.ready) {
      FUZZ_CHECK(fails_with(r, not_ready_error()));
      return;
    }
    std::uint16_t want_id;
    std::uint32_t want_len;
    if (m_.batch) {  // §2.8.8: the buffers before the named one come back whole, in order
      const auto [target, tlen] = *m_.batch;
      want_id = m_.fifo[0];
      want_len = want_id == target ? tlen : m_.ids[want_id].wlen;
      if (want_id == target) m_.batch.reset();
    } else {
      const std::size_t off = slot_off(m_.used.slot);
      const std::uint16_t flags = g_.get16(off + ring::packed_layout::desc_flags);
      if (!packed_flag::is_used(flags, m_.used.wrap)) {  // §2.8.1: nothing used in this phase
        FUZZ_CHECK(r && !r->has_value());
        return;
      }
      const std::uint16_t id = g_.get16(off + ring::packed_layout::desc_id);
      const std::uint32_t len = g_.get32(off + 8);  // read whether or not WRITE is set (QEMU)
      std::optional<errc> bad;
      if (id >= m_.size) bad = errc::used_id_out_of_range;
      else if (!m_.ids[id].in_flight) bad = errc::used_id_not_in_flight;
      else if (len > m_.ids[id].wlen) bad = errc::used_len_too_large;
      if (bad) {  // the device lied: the queue breaks, the books stay as they were
        FUZZ_CHECK(fails_with(r, *bad));
        m_.ready = false;
        m_.broken = true;
        return;
      }
      if (m_.in_order && id != m_.fifo[0]) {
        // §2.8.8: one used descriptor for every buffer up to `id`, whose slots were all skipped.
        std::uint32_t slots = 0;
        for (std::size_t i = 0; i < m_.count; ++i) {
          slots += m_.ids[m_.fifo[i]].ndesc;
          if (m_.fifo[i] == id) break;
        }
        advance(m_.used, slots, m_.size);
        m_.batch = std::pair<std::uint16_t, std::uint32_t>{id, len};
        want_id = m_.fifo[0];
        want_len = m_.ids[want_id].wlen;
      } else {
        advance(m_.used, m_.ids[id].ndesc, m_.size);  // §2.8.6: by the slots the buffer held
        want_id = id;
        want_len = len;
      }
    }
    FUZZ_CHECK(r && r->has_value());
    const ring::used_buffer got = **r;
    const buf_model& b = m_.ids[want_id];
    FUZZ_CHECK(got.id == want_id && got.len == want_len && got.user_data == b.user);
    FUZZ_CHECK(got.len <= b.wlen);  // never more than the writable bytes
    hand_back(got.user_data);
    retire(want_id);
  }

  void op_detach() {
    const auto got = drv_.detach_unused();
    if (m_.ready) {  // the device may still own them
      FUZZ_CHECK(!got);
      return;
    }
    for (; m_.detach_next < m_.size; ++m_.detach_next) {
      const std::uint16_t id = static_cast<std::uint16_t>(m_.detach_next);
      if (!m_.ids[id].in_flight) continue;
      FUZZ_CHECK(got && *got == m_.ids[id].user);
      hand_back(*got);
      // Forgotten: in flight no more, but its slots are not counted free until configure().
      m_.ids[id].in_flight = false;
      for (std::size_t i = 0; i < m_.count; ++i) {
        if (m_.fifo[i] != id) continue;
        for (std::size_t j = i; j + 1 < m_.count; ++j) m_.fifo[j] = m_.fifo[j + 1];
        --m_.count;
        break;
      }
      return;
    }
    FUZZ_CHECK(!got);
  }

  // ---- notifications ------------------------------------------------------------------------

  void op_needs_kick() {
    const bool got = drv_.needs_kick();
    bool expect = false;
    if (m_.ready && m_.num_added != 0) {
      const std::uint32_t added = m_.num_added;
      m_.num_added = 0;
      expect = vireo_fuzz::packed_notify_due(
          g_.get16(kDevEvOff + ring::packed_layout::event_flags),
          g_.get16(kDevEvOff + ring::packed_layout::event_off_wrap), m_.event_idx,
          /*first=*/false, added, m_.size, m_.avail);
    }
    FUZZ_CHECK(got == expect);
  }

  void op_enable() {
    const bool got = drv_.enable_interrupts();
    if (!m_.ready) {
      FUZZ_CHECK(!got);
      return;
    }
    if (m_.event_idx) {  // ask for the next used descriptor
      g_.expect16(kDrvEvOff + ring::packed_layout::event_off_wrap, enc(m_.used));
      g_.expect16(kDrvEvOff + ring::packed_layout::event_flags, ring::event_flag::desc);
    } else {
      g_.expect16(kDrvEvOff + ring::packed_layout::event_flags, ring::event_flag::enable);
    }
    const bool waiting = packed_flag::is_used(
        g_.get16(slot_off(m_.used.slot) + ring::packed_layout::desc_flags), m_.used.wrap);
    FUZZ_CHECK(got == (m_.batch.has_value() || waiting));
  }

  void op_disable() {
    drv_.disable_interrupts();
    if (m_.ready) g_.expect16(kDrvEvOff + ring::packed_layout::event_flags, ring::event_flag::disable);
  }

  byte_source in_;
  guest_t g_;
  driver_t drv_;
  model m_;
  pos dev_;                       // the hostile device's used cursor
  std::uint16_t last_retired_ = 0;
  std::uint64_t next_user_ = 1;   // user_data of the next add: unique per add
  std::array<bool, kMaxOps + 2> returned_{};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  harness h{data, size};
  h.run();
  return 0;
}
