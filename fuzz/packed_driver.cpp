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
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "fuzz_input.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/ring/packed_driver.hpp"

namespace {

using vireo::errc;
using vireo::gpa;
namespace ring = vireo::ring;
namespace desc_flag = vireo::ring::desc_flag;
namespace packed_flag = vireo::ring::packed_flag;
using vireo_fuzz::byte_source;

constexpr std::uint64_t kBase = 0x10000;
constexpr std::size_t kDrvEvOff = 0x0000;  // Driver Event Suppression (the driver writes it)
constexpr std::size_t kDevEvOff = 0x0010;  // Device Event Suppression (the device writes it)
constexpr std::size_t kPoolOff = 0x1000;   // indirect pool: 256 ids x 4 entries x 16 bytes
constexpr std::size_t kDataOff = 0x5000;   // buffers: the driver never touches them
constexpr std::size_t kRingArea = 0x7000;  // descriptor rings: they end where memory ends
constexpr std::size_t kMemSize = 0x8000;
constexpr std::size_t kDataSize = kRingArea - kDataOff;
constexpr std::uint32_t kMaxQueue = 256;
constexpr std::size_t kMaxBufs = 4;  // per direction
constexpr int kMaxOps = 256;

/// Bits 3-6 and 8-14 of a descriptor's flags: reserved.
constexpr std::uint16_t kReservedFlags = 0x7f78;

using driver_t = ring::packed_driver<vireo::flat_memory, kMaxQueue>;

/// The ring of `size` slots ends where guest memory (and its heap block) ends, so ASan reports
/// any access past slot size-1. Sizes that do not fit start at the ring area (and fail to map).
constexpr std::size_t ring_off(std::uint32_t size) noexcept {
  return size <= kMaxQueue ? kMemSize - 16 * std::size_t{size} : kRingArea;
}

bool in_memory(std::uint64_t addr, std::uint64_t len) noexcept {
  return addr >= kBase && addr - kBase <= kMemSize && len <= kMemSize - (addr - kBase);
}

const std::byte* pattern() {
  return vireo_fuzz::fixed_pattern<kMemSize>([](std::size_t i) { return std::byte(i * 11 + 5); });
}

using vireo_fuzz::free_aligned;

/// A slot and its wrap phase; both counters start at 1 (§2.8.1).
struct pos {
  std::uint16_t slot = 0;
  bool wrap = true;
};
void advance(pos& p, std::uint32_t by, std::uint32_t n) noexcept {  // by <= n
  std::uint32_t s = p.slot + by;
  if (s >= n) {
    s -= n;
    p.wrap = !p.wrap;
  }
  p.slot = static_cast<std::uint16_t>(s);
}
void retreat(pos& p, std::uint32_t by, std::uint32_t n) noexcept {  // by <= n
  if (p.slot >= by) {
    p.slot = static_cast<std::uint16_t>(p.slot - by);
  } else {
    p.slot = static_cast<std::uint16_t>(p.slot + n - by);
    p.wrap = !p.wrap;
  }
}
std::uint16_t enc(pos p) noexcept { return ring::make_off_wrap(p.slot, p.wrap); }

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
  harness(const std::uint8_t* data, std::size_t size)
      : in_(data, size),
        mem_(static_cast<std::byte*>(::operator new[](kMemSize, std::align_val_t{64}))),
        shadow_(kMemSize),
        flat_(vireo::bytes{mem_.get(), kMemSize}, gpa{kBase}),
        drv_(flat_) {
    std::memcpy(mem_.get(), pattern(), kMemSize);
    std::memcpy(shadow_.data(), mem_.get(), kMemSize);
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
  std::uint16_t get16(std::size_t off) const noexcept {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(mem_[off]) |
                                      (std::to_integer<unsigned>(mem_[off + 1]) << 8));
  }
  std::uint32_t get32(std::size_t off) const noexcept {
    return get16(off) | (std::uint32_t{get16(off + 2)} << 16);
  }
  /// A device-side write: to memory and to the shadow of what the driver may not change.
  void device_write(std::size_t off, const void* p, std::size_t n) noexcept {
    std::memcpy(mem_.get() + off, p, n);
    std::memcpy(shadow_.data() + off, p, n);
  }
  void dev_put16(std::size_t off, std::uint16_t v) noexcept {
    const std::uint8_t b[2] = {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8)};
    device_write(off, b, 2);
  }
  /// A write the driver is expected to make: the shadow only, memory must follow.
  void expect_bytes(std::size_t off, const void* p, std::size_t n) noexcept {
    std::memcpy(shadow_.data() + off, p, n);
  }
  void expect16(std::size_t off, std::uint16_t v) noexcept {
    const std::uint8_t b[2] = {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8)};
    expect_bytes(off, b, 2);
  }
  void expect_desc(std::size_t off, std::uint64_t addr, std::uint32_t len, std::uint16_t id,
                   std::uint16_t flags) noexcept {
    ring::packed_desc d;
    d.addr.set(addr);
    d.len.set(len);
    d.id.set(id);
    d.flags.set(flags);
    expect_bytes(off, &d, sizeof d);
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
      if (!m_.batch) {
        const std::int32_t d = std::int32_t{m_.avail.slot} - std::int32_t{m_.used.slot} +
                               (m_.avail.wrap != m_.used.wrap ? std::int32_t{m_.size} : 0);
        FUZZ_CHECK(d == static_cast<std::int32_t>(held));
      }
    }
    // The driver wrote exactly what the model expects (descriptors at the avail cursor, its
    // indirect tables, its event suppression area, configure's zeroing) and nothing else: not
    // the buffers, not the Device Event Suppression area, not used descriptors.
    FUZZ_CHECK(std::memcmp(mem_.get(), shadow_.data(), kMemSize) == 0);
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
    if (event_idx) c.features.set(vireo::transport_feature::event_idx);
    if (indirect) c.features.set(vireo::transport_feature::indirect_desc);
    if (in_order) c.features.set(vireo::transport_feature::in_order);
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
    if (expect) {
      // Refused: nothing written, the old books stay (detach_unused() still sees them).
      FUZZ_CHECK(!r && r.error() == *expect);
      return;
    }
    FUZZ_CHECK(r.has_value());
    // §2.8.13: the ring and both event areas start zeroed; both wrap counters at 1.
    std::memset(shadow_.data() + ring_off(size), 0, 16 * std::size_t{size});
    std::memset(shadow_.data() + kDrvEvOff, 0, 4);
    std::memset(shadow_.data() + kDevEvOff, 0, 4);
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

  ring::buffer decode_buffer() {
    const std::uint8_t kind = in_.u8();
    const std::uint16_t off = in_.u16();
    const std::uint32_t raw = in_.u32();
    ring::buffer b;
    b.addr = (kind & 0x80u) ? gpa{(std::uint64_t{raw} << 32) | off}  // anywhere: not our business
                            : gpa{kBase + kDataOff + off % kDataSize};
    switch (kind & 3u) {
      case 0: b.len = (kind >> 2) & 0x1fu; break;
      case 1: b.len = raw % 4096u; break;
      case 2: b.len = raw; break;
      default: b.len = UINT32_MAX - ((kind >> 2) & 0x1fu); break;
    }
    return b;
  }

  void op_add() {
    const std::uint8_t ctl = in_.u8();
    const std::size_t nr = ctl % (kMaxBufs + 1);
    const std::size_t nw = (ctl / (kMaxBufs + 1)) % (kMaxBufs + 1);
    const auto mode = static_cast<ring::add_mode>((ctl / 25u) % 3u);
    std::array<ring::buffer, kMaxBufs> rd{}, wr{};
    std::uint64_t total = 0, wlen = 0;
    for (std::size_t i = 0; i < nr; ++i) {
      rd[i] = decode_buffer();
      total += rd[i].len;
    }
    for (std::size_t i = 0; i < nw; ++i) {
      wr[i] = decode_buffer();
      wlen += wr[i].len;
    }
    total += wlen;
    const std::uint64_t user = next_user_++;
    const auto r = drv_.add(std::span{rd.data(), nr}, std::span{wr.data(), nw}, user, mode);

    const std::size_t n = nr + nw;
    std::optional<errc> expect;
    bool indirect = mode == ring::add_mode::indirect;
    if (mode == ring::add_mode::automatic) indirect = n > m_.num_free && m_.pool_entries != 0;
    if (!m_.ready) expect = not_ready_error();
    else if (n == 0) expect = errc::empty_chain;
    else if (n > m_.size) expect = errc::invalid_argument;  // §2.8.17 / §2.8.19
    else if (total > UINT32_MAX) expect = errc::total_len_overflow;
    else if (indirect && (m_.pool_entries == 0 || n > m_.pool_entries))
      expect = errc::invalid_argument;
    else if ((indirect ? 1u : n) > m_.num_free) expect = errc::ring_full;  // §2.8.17
    if (expect) {
      FUZZ_CHECK(!r && r.error() == *expect);
      return;
    }
    FUZZ_CHECK(r.has_value());
    const std::uint16_t id = *r;
    FUZZ_CHECK(id < m_.size);
    buf_model& b = m_.ids[id];
    FUZZ_CHECK(!b.in_flight);  // a free buffer id

    // The descriptors it must have written: the id in every one (as Linux does), AVAIL/USED of
    // each slot's own phase (flipped mid-list past the last slot), NEXT on all but the last.
    const auto buf = [&](std::size_t i) -> const ring::buffer& {
      return i < nr ? rd[i] : wr[i - nr];
    };
    const auto wflag = [&](std::size_t i) { return i < nr ? 0u : unsigned{desc_flag::write}; };
    std::uint16_t slots;
    if (indirect) {
      const std::size_t table = kPoolOff + std::size_t{id} * m_.pool_entries * 16;
      for (std::size_t i = 0; i < n; ++i)  // §2.8.19: consecutive, only WRITE in them
        expect_desc(table + 16 * i, buf(i).addr.raw(), buf(i).len, 0,
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
        expect_desc(slot_off(m_.avail.slot), buf(i).addr.raw(), buf(i).len, id, flags);
        advance(m_.avail, 1, m_.size);
      }
      slots = static_cast<std::uint16_t>(n);
    }
    b = buf_model{true, slots, static_cast<std::uint32_t>(wlen), user};
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
    device_write(off + 8, b, sizeof b);
  }
  /// len: u8 mode, then a u32 for modes 1 and 3.
  std::uint32_t pick_len(std::uint32_t wlen) {
    switch (in_.u8() & 3u) {
      case 0: return wlen;
      case 1: return static_cast<std::uint32_t>(in_.u32() % (wlen + std::uint64_t{1}));
      case 2: return wlen + 1;  // over-reports (wraps to 0 for UINT32_MAX: then legal)
      default: return in_.u32();
    }
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

  void op_device_cursor() {
    const std::uint8_t mode = in_.u8();
    if (m_.size == 0) return;
    switch (mode & 3u) {
      case 0: dev_ = m_.used; break;  // where the driver looks next
      case 1: advance(dev_, (mode >> 2) % (m_.size + 1u), m_.size); break;
      case 2: dev_.wrap = !dev_.wrap; break;
      default: retreat(dev_, (mode >> 2) % (m_.size + 1u), m_.size); break;
    }
  }

  /// Device Event Suppression: flags (0 ENABLE, 1 DISABLE, 2 DESC, 3 reserved; bits 2, 3 add
  /// reserved high bits), off_wrap raw or a position around the driver's avail cursor.
  void op_device_event() {
    const std::uint8_t fm = in_.u8();
    const std::uint16_t v = in_.u16();
    auto flags = static_cast<std::uint16_t>(fm & 3u);
    if (fm & 4u) flags |= 0x8000u;
    if (fm & 8u) flags |= 0x0010u;
    const std::uint32_t n = m_.size ? m_.size : 1;
    pos p = m_.avail;
    std::uint16_t off_wrap;
    switch ((fm >> 4) & 3u) {
      case 0: off_wrap = v; break;
      case 1:
        advance(p, v % (n + 1), n);
        off_wrap = enc(p);
        break;
      case 2:
        retreat(p, v % (n + 1), n);
        off_wrap = enc(p);
        break;
      default:
        off_wrap = ring::make_off_wrap(static_cast<std::uint16_t>(v % n), v & 0x8000u);
        break;
    }
    dev_put16(kDevEvOff + ring::packed_layout::event_off_wrap, off_wrap);
    dev_put16(kDevEvOff + ring::packed_layout::event_flags, flags);
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
      FUZZ_CHECK(!r && r.error() == not_ready_error());
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
      const std::uint16_t flags = get16(off + ring::packed_layout::desc_flags);
      if (!packed_flag::is_used(flags, m_.used.wrap)) {  // §2.8.1: nothing used in this phase
        FUZZ_CHECK(r && !r->has_value());
        return;
      }
      const std::uint16_t id = get16(off + ring::packed_layout::desc_id);
      const std::uint32_t len = get32(off + 8);  // read whether or not WRITE is set (QEMU)
      std::optional<errc> bad;
      if (id >= m_.size) bad = errc::used_id_out_of_range;
      else if (!m_.ids[id].in_flight) bad = errc::used_id_not_in_flight;
      else if (len > m_.ids[id].wlen) bad = errc::used_len_too_large;
      if (bad) {  // the device lied: the queue breaks, the books stay as they were
        FUZZ_CHECK(!r && r.error() == *bad);
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
      // Only bits 0-1 carry the event flags (§2.8.14: bits 2-15 are reserved, ignored); the
      // reserved value 3 kicks, since a spurious kick is harmless and a missed one stalls.
      const std::uint16_t flags = get16(kDevEvOff + ring::packed_layout::event_flags) & 3u;
      if (flags == ring::event_flag::disable) {
        expect = false;
      } else if (flags != ring::event_flag::desc || !m_.event_idx) {
        expect = true;
      } else if (added >= m_.size) {
        expect = true;  // a whole lap published: the target was passed
      } else {
        // Brute force over the slots published since the last decision, as linear positions:
        // this phase's slots are 0..size-1, the previous phase's -size..-1.
        const std::uint16_t ow = get16(kDevEvOff + ring::packed_layout::event_off_wrap);
        const std::int32_t event = std::int32_t{ring::off_of(ow)} -
                                   (ring::wrap_of(ow) != m_.avail.wrap ? std::int32_t{m_.size} : 0);
        const std::int32_t now = m_.avail.slot;
        for (std::int32_t k = now - static_cast<std::int32_t>(added); k < now; ++k)
          if (k == event) expect = true;
      }
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
      expect16(kDrvEvOff + ring::packed_layout::event_off_wrap, enc(m_.used));
      expect16(kDrvEvOff + ring::packed_layout::event_flags, ring::event_flag::desc);
    } else {
      expect16(kDrvEvOff + ring::packed_layout::event_flags, ring::event_flag::enable);
    }
    const bool waiting = packed_flag::is_used(
        get16(slot_off(m_.used.slot) + ring::packed_layout::desc_flags), m_.used.wrap);
    FUZZ_CHECK(got == (m_.batch.has_value() || waiting));
  }

  void op_disable() {
    drv_.disable_interrupts();
    if (m_.ready) expect16(kDrvEvOff + ring::packed_layout::event_flags, ring::event_flag::disable);
  }

  byte_source in_;
  std::unique_ptr<std::byte[], free_aligned> mem_;
  std::vector<std::byte> shadow_;
  vireo::flat_memory flat_;
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
