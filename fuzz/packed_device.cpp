// SPDX-License-Identifier: Apache-2.0
// Fuzz target: ring::packed_device against a hostile driver. The input decodes into a queue size
// (1..256, not only powers of two), features, a raw descriptor ring, indirect tables and a script
// of up to 256 operations: driver-side writes of descriptors, lists, flags and event suppression
// values in either wrap phase; pop, push, notification calls, state/restore, reset, configure,
// remap; cursor reads and writes on popped chains; injected memory faults. Every step is checked
// against a small model, and all of guest memory against a shadow copy of what may change.
// Input format: docs/fuzzing.md.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <vector>

#include "fuzz_input.hpp"
#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/ring/packed_device.hpp"

namespace {

using vireo::errc;
using vireo::gpa;
namespace ring = vireo::ring;
namespace chain = vireo::chain;
namespace desc_flag = vireo::ring::desc_flag;
namespace packed_flag = vireo::ring::packed_flag;
using vireo_fuzz::byte_source;

// ---- guest memory layout ------------------------------------------------------------------------

constexpr std::uint64_t kBase = 0x10000;   // guest address of byte 0 (non-zero on purpose)
constexpr std::size_t kDrvEvOff = 0x0000;  // driver event suppression (the driver writes it)
constexpr std::size_t kDevEvOff = 0x0010;  // device event suppression (the device writes it)
constexpr std::size_t kIndOff = 0x1000;    // indirect tables: 256 descriptor slots
constexpr std::size_t kDataOff = 0x2000;   // buffers
constexpr std::size_t kRingArea = 0x3000;  // descriptor rings: they end where memory ends
constexpr std::size_t kMemSize = 0x4000;
constexpr std::size_t kIndSize = kDataOff - kIndOff;
constexpr std::size_t kDataSize = kRingArea - kDataOff;
constexpr std::uint32_t kMaxQueue = 256;

constexpr std::size_t kSegs = 8;     // packed_device<M, 8>: segment_limit is reachable
constexpr std::size_t kSlots = 4;    // chains held at once
constexpr std::size_t kCursors = 3;  // readers (and writers) per chain
constexpr std::size_t kTokens = 16;  // remembered used tokens
constexpr int kMaxOps = 256;
constexpr std::size_t kScratch = kSegs * kMemSize + 1;  // largest stream a chain can have, + 1

/// Bits 3-6 and 8-14 of a descriptor's flags: reserved, the device ignores them.
constexpr std::uint16_t kReservedFlags = 0x7f78;

using mem_t = vireo::faulty_memory<vireo::flat_memory>;
using device_t = ring::packed_device<mem_t, kSegs>;
using chain_t = device_t::chain_type;
using reader_t = chain::reader<mem_t>;
using writer_t = chain::writer<mem_t>;

/// Where the ring of `size` slots lives: flush with the end of guest memory, which is the end of
/// its heap block, so ASan reports any access past slot size-1. Sizes that do not fit start at
/// the ring area (and fail to map).
constexpr std::size_t ring_off(std::uint32_t size) noexcept {
  return size <= kMaxQueue ? kMemSize - 16 * std::size_t{size} : kRingArea;
}

struct raw_desc {
  std::uint64_t addr = 0;
  std::uint32_t len = 0;
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
};

/// 7 input bytes -> the address, length and NEXT/WRITE/INDIRECT bits of one descriptor.
/// ctl: bits 0-2 flags, 3-4 address mode, 5-7 length mode; then a (u16), l (u32).
raw_desc decode_buf(byte_source& in) noexcept {
  const std::uint8_t ctl = in.u8();
  const std::uint16_t a = in.u16();
  const std::uint32_t l = in.u32();
  raw_desc d;
  d.flags = ctl & 7u;
  switch ((ctl >> 3) & 3u) {
    case 0:
    case 1: d.addr = kBase + kDataOff + a % kDataSize; break;
    case 2: d.addr = kBase + kIndOff + ((a & 0x8000u) ? a % kIndSize : (a % 256u) * 16u); break;
    default:
      switch (a >> 14) {
        case 0: d.addr = a & 0x3fffu; break;                        // below guest memory
        case 1: d.addr = kBase + kMemSize - (a & 0xffu); break;     // straddles the end
        case 2: d.addr = UINT64_MAX - (a & 0xfffu); break;          // addr + len wraps
        default: d.addr = kBase + (a & 0x3fffu) % kMemSize; break;  // anywhere, rings included
      }
  }
  switch (ctl >> 5) {
    case 0:
    case 1:
    case 2:
    case 3: d.len = l % 64u; break;
    case 4: d.len = l % 4096u; break;
    case 5: d.len = (l % 17u) * 16u; break;  // indirect table sizes
    case 6: d.len = l; break;
    default: d.len = UINT32_MAX - (l & 0xffu); break;
  }
  return d;
}

/// The errors that leave a list's end unknown: they break the queue.
bool is_ring_fatal(errc e) noexcept {
  return e == errc::desc_not_available || e == errc::chain_too_long;
}

/// What pop may report for a list it consumed and rejected.
bool is_chain_error(errc e) noexcept {
  switch (e) {
    case errc::chain_too_long:  // an indirect table of more than 65536 entries
    case errc::indirect_in_indirect:
    case errc::indirect_with_next:
    case errc::indirect_not_negotiated:
    case errc::indirect_table_size:
    case errc::indirect_in_chain:
    case errc::writable_before_readable:
    case errc::total_len_overflow:
    case errc::desc_addr_overflow:
    case errc::segment_limit:
    case errc::out_of_bounds:
    case errc::address_overflow:
    case errc::access_denied:
    case errc::injected_fault: return true;
    default: return false;
  }
}

bool in_memory(std::uint64_t addr, std::uint64_t len) noexcept {
  return addr >= kBase && addr - kBase <= kMemSize && len <= kMemSize - (addr - kBase);
}

bool same_token(const chain::used_token& a, const chain::used_token& b) noexcept {
  return a.id == b.id && a.slots == b.slots && a.seq == b.seq && a.writable_len == b.writable_len;
}

const std::byte* pattern() {
  return vireo_fuzz::fixed_pattern<kMemSize>([](std::size_t i) { return std::byte(i * 7 + 3); });
}

using vireo_fuzz::free_aligned;

// ---- ring positions -----------------------------------------------------------------------------

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

// ---- model --------------------------------------------------------------------------------------

/// What the device should be doing, tracked independently of its internals.
struct model {
  bool ready = false;
  bool broken = false;
  std::uint16_t size = 0;
  bool event_idx = false, indirect = false, in_order = false;
  pos avail, used;                 // the device's two cursors
  std::uint32_t unsignalled = 0;   // slots used since the last notification decision (<= size)
  bool signalled_valid = false;
  bool notify_enabled = true;
  std::optional<chain::used_token> rejected;
  // faults currently configured on the faulty_memory
  bool deny = false, after = false, range = false;

  void reset_queue() noexcept {
    ready = broken = false;
    avail = used = pos{};
    unsignalled = 0;
    signalled_valid = false;
    notify_enabled = true;
    rejected.reset();
  }
};

/// The hostile driver's own bookkeeping: which ring it writes and where it would publish next.
struct driver_side {
  std::uint16_t size = 1;  // the ring of the last successful configure
  std::size_t ring = ring_off(1);
  pos cur;                 // next slot it makes available
  bool held = false;       // a list written but for its head's flags
  std::uint16_t held_slot = 0, held_flags = 0;
};

struct ref_seg {
  std::uint64_t addr;
  std::uint32_t len;
  bool writable;
};

/// The reference outcome of popping at the avail cursor.
struct ref_list {
  enum class kind { empty, fatal, list } k = kind::empty;
  errc fatal{};
  std::uint16_t slots = 0, id = 0;
  std::optional<errc> error;  // why the list is rejected; nullopt: accepted
  std::array<ref_seg, kSegs> segs{};
  std::size_t count = 0, readable = 0;
  std::uint64_t rlen = 0, wlen = 0;
};

/// The chain rules of descriptor_chain's builder, restated: readable before writable, total
/// below 2^32, no wrap past 2^64, inside guest memory, at most kSegs non-empty segments (the walk
/// goes on past that, and only an address wrap is still reported).
struct ref_builder {
  ref_list& out;
  bool seen_w = false;
  bool overflow = false;
  std::uint64_t total = 0;
  std::optional<errc> add(std::uint64_t addr, std::uint32_t len, bool w) {
    if (w) seen_w = true;
    else if (seen_w) return errc::writable_before_readable;
    total += len;
    if (total > UINT32_MAX) return errc::total_len_overflow;
    if (len == 0) return std::nullopt;
    const bool wraps = std::uint64_t{len} - 1 > UINT64_MAX - addr;
    if (out.count == kSegs) {
      if (wraps) return errc::desc_addr_overflow;
      overflow = true;
      return std::nullopt;
    }
    if (wraps) return errc::desc_addr_overflow;
    if (!in_memory(addr, len)) return errc::out_of_bounds;
    out.segs[out.count++] = ref_seg{addr, len, w};
    if (w) {
      out.wlen += len;
    } else {
      ++out.readable;
      out.rlen += len;
    }
    return std::nullopt;
  }
};

struct rcur {
  reader_t c;
  std::size_t base = 0, pos = 0, rem = 0;  // stream offset of c's start, consumed, remaining
  bool live = false;
};
struct wcur {
  writer_t c;
  std::size_t base = 0, pos = 0, rem = 0;
  bool live = false;
};

struct chain_slot {
  chain_t chain;
  bool live = false;
  std::array<rcur, kCursors> rd{};
  std::array<wcur, kCursors> wr{};
};

class harness {
 public:
  harness(const std::uint8_t* data, std::size_t size)
      : in_(data, size),
        mem_(static_cast<std::byte*>(::operator new[](kMemSize, std::align_val_t{64}))),
        shadow_(kMemSize),
        flat_(vireo::bytes{mem_.get(), kMemSize}, gpa{kBase}),
        faulty_(flat_),
        dev_(faulty_) {
    std::memcpy(mem_.get(), pattern(), kMemSize);
    std::memset(mem_.get(), 0, kDataOff);  // event areas and indirect tables start zeroed
    std::memset(mem_.get() + kRingArea, 0, kMemSize - kRingArea);  // so does the ring (§2.8.13)
    std::memcpy(shadow_.data(), mem_.get(), kMemSize);
  }

  void run() {
    const auto size = static_cast<std::uint16_t>(1u + in_.u8());
    const std::uint8_t features = in_.u8();
    drv_.size = size;
    drv_.ring = ring_off(size);
    const unsigned ndesc = in_.u8();
    for (unsigned i = 0; i < ndesc; ++i) {
      const std::uint8_t pf = in_.u8();
      const std::uint8_t id = in_.u8();
      write_raw(static_cast<std::uint16_t>(i % size), pf, id, decode_buf(in_));
    }
    const unsigned nind = in_.u8() % 32u;
    for (unsigned i = 0; i < nind; ++i) {
      const unsigned at = in_.u8();
      const std::uint8_t id = in_.u8();
      raw_desc d = decode_buf(in_);
      d.id = id;
      put_desc(kIndOff + 16 * std::size_t{at}, d);
    }
    auto r = dev_.configure(make_config(size, features, 0));
    FUZZ_CHECK(r.has_value());
    m_.reset_queue();
    set_queue(size, features);

    for (int op = 0; op < kMaxOps && !in_.empty(); ++op) {
      step(in_.u8());
      check_global();
    }
  }

 private:
  // ---- raw memory helpers -------------------------------------------------------------------

  std::uint16_t get16(std::size_t off) const noexcept {
    return static_cast<std::uint16_t>(std::to_integer<unsigned>(mem_[off]) |
                                      (std::to_integer<unsigned>(mem_[off + 1]) << 8));
  }
  std::uint32_t get32(std::size_t off) const noexcept {
    return get16(off) | (std::uint32_t{get16(off + 2)} << 16);
  }
  /// A driver-side write: to memory and to the shadow of what the device may not change.
  void driver_write(std::size_t off, const void* p, std::size_t n) noexcept {
    std::memcpy(mem_.get() + off, p, n);
    std::memcpy(shadow_.data() + off, p, n);
  }
  void put16(std::size_t off, std::uint16_t v) noexcept {
    const std::uint8_t b[2] = {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8)};
    driver_write(off, b, 2);
  }
  /// A write the device is expected to make: the shadow only, memory must follow.
  void expect16(std::size_t off, std::uint16_t v) noexcept {
    shadow_[off] = std::byte(v & 0xffu);
    shadow_[off + 1] = std::byte(v >> 8);
  }
  void put_desc(std::size_t off, const raw_desc& d, bool with_flags = true) noexcept {
    ring::packed_desc w;
    w.addr.set(d.addr);
    w.len.set(d.len);
    w.id.set(d.id);
    w.flags.set(d.flags);
    driver_write(off, &w, with_flags ? sizeof w : ring::packed_layout::desc_flags);
  }
  raw_desc desc_at(std::size_t off) const noexcept {
    ring::packed_desc w;
    std::memcpy(&w, mem_.get() + off, sizeof w);
    return {w.addr.get(), w.len.get(), w.id.get(), w.flags.get()};
  }
  /// Descriptor `slot` of the configured ring.
  raw_desc ring_desc(std::uint16_t slot) const noexcept {
    return desc_at(ring_off(m_.size) + 16 * std::size_t{slot});
  }

  // ---- configuration --------------------------------------------------------------------------

  static ring::queue_config make_config(std::uint16_t size, std::uint8_t features,
                                        unsigned variant) noexcept {
    ring::queue_config c;
    c.size = size;
    c.desc_table = gpa{kBase + ring_off(size)};
    c.driver_area = gpa{kBase + kDrvEvOff};
    c.device_area = gpa{kBase + kDevEvOff};
    switch (variant) {
      case 1: c.desc_table = gpa{kBase + ring_off(size) + 8}; break;  // misaligned (16)
      case 2: c.driver_area = gpa{kBase + kDrvEvOff + 2}; break;      // misaligned (4)
      case 3: c.device_area = gpa{kBase + kDevEvOff + 1}; break;      // misaligned (4)
      case 4: c.device_area = gpa{kBase + kMemSize - 2}; break;       // runs off the end
      case 5: c.desc_table = gpa{kBase - 0x1000}; break;              // below memory
      case 6: c.desc_table = gpa{kBase + ring_off(size) + 16}; break; // one slot past the end
      default: break;
    }
    if (features & 1u) c.features.set(vireo::transport_feature::event_idx);
    if (features & 2u) c.features.set(vireo::transport_feature::indirect_desc);
    if (features & 4u) c.features.set(vireo::transport_feature::in_order);
    return c;
  }
  void set_queue(std::uint16_t size, std::uint8_t features) noexcept {
    m_.ready = true;
    m_.size = size;
    m_.event_idx = features & 1u;
    m_.indirect = features & 2u;
    m_.in_order = features & 4u;
  }

  // ---- invariants checked after every step ----------------------------------------------------

  void check_global() const {
    FUZZ_CHECK(dev_.ready() == m_.ready);
    FUZZ_CHECK(dev_.broken() == m_.broken);
    if (m_.broken) FUZZ_CHECK(is_ring_fatal(dev_.broken_reason()));
    if (m_.ready) {
      FUZZ_CHECK(dev_.size() == m_.size);
      FUZZ_CHECK(dev_.state().next_avail == enc(m_.avail));
      FUZZ_CHECK(dev_.state().used_idx == enc(m_.used));
    }
    const auto rej = dev_.rejected();
    FUZZ_CHECK(rej.has_value() == m_.rejected.has_value());
    if (rej) FUZZ_CHECK(same_token(*rej, *m_.rejected));
    // The device wrote exactly what the model expects (used descriptors at the used cursor, its
    // event suppression area, bytes written through writers) and nothing else.
    FUZZ_CHECK(std::memcmp(mem_.get(), shadow_.data(), kMemSize) == 0);
  }
  errc not_ready_error() const noexcept {
    return m_.broken ? errc::queue_broken : errc::queue_not_ready;
  }
  void mark_broken() noexcept {
    m_.ready = false;
    m_.broken = true;
    m_.rejected.reset();
  }

  // ---- the script ---------------------------------------------------------------------------

  void step(std::uint8_t opcode) {
    switch (opcode % 24) {
      case 0: op_publish(); break;
      case 1: op_publish_indirect(); break;
      case 2: {
        const std::uint8_t slot = in_.u8();
        const std::uint8_t pf = in_.u8();
        const std::uint8_t id = in_.u8();
        write_raw(static_cast<std::uint16_t>(slot % drv_.size), pf, id, decode_buf(in_));
        break;
      }
      case 3: {
        const std::uint8_t slot = in_.u8();
        const std::uint16_t flags = in_.u16();
        const std::size_t at = drv_.ring + 16 * static_cast<std::size_t>(slot % drv_.size);
        put16(at + ring::packed_layout::desc_flags, flags);
        break;
      }
      case 4: {
        const unsigned at = in_.u8();
        const std::uint8_t id = in_.u8();
        raw_desc d = decode_buf(in_);
        d.id = id;
        put_desc(kIndOff + 16 * std::size_t{at}, d);
        break;
      }
      case 5:
        if (drv_.held) {
          put16(drv_.ring + 16 * std::size_t{drv_.held_slot} + ring::packed_layout::desc_flags,
                drv_.held_flags);
          drv_.held = false;
        }
        break;
      case 6: op_driver_cursor(); break;
      case 7: op_driver_event(); break;
      case 8: op_pop(); break;
      case 9: {
        const chain::used_token t = pick_token();
        push_one(t, pick_len(t));
        break;
      }
      case 10: op_push_batch(); break;
      case 11: op_needs_notification(); break;
      case 12: op_enable(); break;
      case 13: op_disable(); break;
      case 14: op_available(); break;
      case 15:
        dev_.reset();
        m_.reset_queue();
        break;
      case 16: op_configure(); break;
      case 17: op_remap(); break;
      case 18: op_restore(); break;
      case 19: op_reader(); break;
      case 20: op_writer(); break;
      case 21: op_fresh_cursor(); break;
      case 22: op_fault(); break;
      default:  // the usual answer to a rejected list: complete it with length 0
        if (const auto t = dev_.rejected()) push_one(*t, 0);
        break;
    }
  }

  // ---- the hostile driver ---------------------------------------------------------------------

  /// The phase the driver would make `slot` available in next.
  bool driver_phase(std::uint16_t slot) const noexcept {
    return slot >= drv_.cur.slot ? drv_.cur.wrap : !drv_.cur.wrap;
  }
  /// pf: bits 0-1 AVAIL/USED: 0 available in the driver's phase for the slot, 1 available in the
  /// other phase, 2 used-looking (both = bit 2), 3 raw (AVAIL = bit 2, USED = bit 3); bit 4 sets
  /// every reserved flag bit.
  std::uint16_t marks(std::uint16_t slot, std::uint8_t pf) const noexcept {
    const bool ph = driver_phase(slot);
    std::uint16_t f;
    switch (pf & 3u) {
      case 0: f = packed_flag::avail_marks(ph); break;
      case 1: f = packed_flag::avail_marks(!ph); break;
      case 2: f = packed_flag::used_marks(pf & 4u); break;
      default:
        f = static_cast<std::uint16_t>(((pf & 4u) ? packed_flag::avail : 0u) |
                                       ((pf & 8u) ? packed_flag::used : 0u));
        break;
    }
    return static_cast<std::uint16_t>(f | ((pf & 0x10u) ? kReservedFlags : 0u));
  }
  void write_raw(std::uint16_t slot, std::uint8_t pf, std::uint8_t id, raw_desc d) noexcept {
    d.id = id;
    d.flags = static_cast<std::uint16_t>(d.flags | marks(slot, pf));
    put_desc(drv_.ring + 16 * std::size_t{slot}, d);
  }

  /// A list of 1..8 descriptors at the driver's cursor, head flags last (§2.8.21.1), wrapping
  /// with the phase flipped mid-list when it runs past the last slot.
  void op_publish() {
    const std::uint8_t ctl = in_.u8();
    const std::uint8_t id = in_.u8();
    const unsigned n = 1u + (ctl & 7u);
    const unsigned bad = (ctl & 0x20u) ? in_.u8() % n : n;  // made available in the wrong phase
    std::array<raw_desc, 8> list{};
    for (unsigned i = 0; i < n; ++i) list[i] = decode_buf(in_);
    const pos head = drv_.cur;
    std::uint16_t head_flags = 0;
    for (unsigned i = 0; i < n; ++i) {
      raw_desc d = list[i];
      if (!(ctl & 8u)) {  // NEXT on all but the last, unless the record's own bits are kept
        d.flags &= static_cast<std::uint16_t>(~desc_flag::next);
        if (i + 1 < n) d.flags |= desc_flag::next;
      }
      const bool ph = i == bad ? !drv_.cur.wrap : drv_.cur.wrap;
      d.flags = static_cast<std::uint16_t>(d.flags | packed_flag::avail_marks(ph) |
                                           ((ctl & 0x80u) ? kReservedFlags : 0u));
      // The device takes the id from the last descriptor (§2.8.6); Linux writes it in all.
      d.id = (ctl & 0x40u) && i + 1 < n ? static_cast<std::uint16_t>(id + 1 + i) : id;
      const std::size_t off = drv_.ring + 16 * std::size_t{drv_.cur.slot};
      if (i == 0) head_flags = d.flags;
      put_desc(off, d, i != 0);
      advance(drv_.cur, 1, drv_.size);
    }
    publish_head(head.slot, head_flags, ctl & 0x10u);
  }

  void publish_head(std::uint16_t slot, std::uint16_t flags, bool hold) noexcept {
    if (hold) {  // op 5 writes it later
      drv_.held = true;
      drv_.held_slot = slot;
      drv_.held_flags = flags;
      return;
    }
    put16(drv_.ring + 16 * std::size_t{slot} + ring::packed_layout::desc_flags, flags);
  }

  /// One INDIRECT slot whose table (0..8 entries, written first) sits in the indirect area.
  void op_publish_indirect() {
    const std::uint8_t ctl = in_.u8();
    const std::uint8_t id = in_.u8();
    const unsigned tslot = in_.u8();
    const unsigned n = in_.u8() % 9u;
    for (unsigned i = 0; i < n; ++i) {
      raw_desc e = decode_buf(in_);
      e.id = static_cast<std::uint16_t>(i);  // ignored in a table, like AVAIL/USED
      if (ctl & 0x80u) e.flags |= packed_flag::avail | kReservedFlags;
      put_desc(kIndOff + 16 * std::size_t{tslot + i}, e);  // may run on into the data area
    }
    raw_desc d;
    d.addr = (ctl & 0x20u) ? kBase + kMemSize - 16 : kBase + kIndOff + 16 * std::uint64_t{tslot};
    d.len = (ctl & 0x10u) ? 16u * 65537u : 16u * n + ((ctl & 4u) ? 8u : 0u);
    d.id = id;
    d.flags = static_cast<std::uint16_t>(
        desc_flag::indirect | packed_flag::avail_marks(drv_.cur.wrap) |
        ((ctl & 1u) ? desc_flag::write : 0u) | ((ctl & 2u) ? desc_flag::next : 0u));
    const std::uint16_t slot = drv_.cur.slot;
    put_desc(drv_.ring + 16 * std::size_t{slot}, d, false);
    advance(drv_.cur, 1, drv_.size);
    publish_head(slot, d.flags, ctl & 8u);
  }

  void op_driver_cursor() {
    const std::uint8_t mode = in_.u8();
    switch (mode & 3u) {
      case 0: drv_.cur = m_.ready ? m_.avail : pos{}; break;  // back in step with the device
      case 1: advance(drv_.cur, (mode >> 2) % (drv_.size + 1u), drv_.size); break;
      case 2: drv_.cur.wrap = !drv_.cur.wrap; break;
      default: retreat(drv_.cur, (mode >> 2) % (drv_.size + 1u), drv_.size); break;
    }
  }

  /// Driver Event Suppression: flags (0 ENABLE, 1 DISABLE, 2 DESC, 3 reserved; bits 2, 3 add
  /// reserved high bits), off_wrap raw or a position around the device's used cursor.
  void op_driver_event() {
    const std::uint8_t fm = in_.u8();
    const std::uint16_t v = in_.u16();
    auto flags = static_cast<std::uint16_t>(fm & 3u);
    if (fm & 4u) flags |= 0x8000u;
    if (fm & 8u) flags |= 0x0010u;
    const std::uint32_t n = m_.ready ? m_.size : drv_.size;
    pos p = m_.ready ? m_.used : pos{};
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
    put16(kDrvEvOff + ring::packed_layout::event_off_wrap, off_wrap);
    put16(kDrvEvOff + ring::packed_layout::event_flags, flags);
  }

  // ---- reference walk -------------------------------------------------------------------------

  /// Independent of the walker: first the list's extent (follow NEXT through consecutive slots,
  /// which does not depend on what the descriptors hold), then its content descriptor by
  /// descriptor, where the first fault decides.
  ref_list reference_pop() const {
    ref_list out;
    const std::uint32_t n = m_.size;
    const pos head = m_.avail;
    raw_desc last = ring_desc(head.slot);
    if (!packed_flag::is_avail(last.flags, head.wrap)) return out;
    std::uint32_t hops = 1;
    pos p = head;
    while (last.flags & desc_flag::next) {
      if (hops == n) {  // §2.8.17: longer than the ring, its end is unknown
        out.k = ref_list::kind::fatal;
        out.fatal = errc::chain_too_long;
        return out;
      }
      ++hops;
      advance(p, 1, n);
      last = ring_desc(p.slot);
      if (!packed_flag::is_avail(last.flags, p.wrap)) {
        out.k = ref_list::kind::fatal;
        out.fatal = errc::desc_not_available;
        return out;
      }
    }
    out.k = ref_list::kind::list;
    out.slots = static_cast<std::uint16_t>(hops);
    out.id = last.id;  // §2.8.6: the buffer id is the last descriptor's

    ref_builder b{out};
    p = head;
    for (std::uint32_t i = 0; i < hops; ++i, advance(p, 1, n)) {
      const raw_desc d = ring_desc(p.slot);
      if (d.flags & desc_flag::indirect) {
        if (!m_.indirect) out.error = errc::indirect_not_negotiated;
        else if (i != 0) out.error = errc::indirect_in_chain;  // §2.8.7
        else if (d.flags & desc_flag::next) out.error = errc::indirect_with_next;
        else out.error = reference_table(d.addr, d.len, b);
        break;
      }
      out.error = b.add(d.addr, d.len, d.flags & desc_flag::write);
      if (out.error) break;
    }
    if (!out.error && b.overflow) out.error = errc::segment_limit;
    return out;
  }
  std::optional<errc> reference_table(std::uint64_t table, std::uint32_t len,
                                      ref_builder& b) const {
    if (len == 0 || len % 16 != 0) return errc::indirect_table_size;
    if (std::uint64_t{len} - 1 > UINT64_MAX - table) return errc::desc_addr_overflow;
    if (len / 16 > 65536) return errc::chain_too_long;
    if (!in_memory(table, len)) return errc::out_of_bounds;
    for (std::size_t i = 0; i < len / 16; ++i) {
      // §2.8.7: only WRITE means anything in a table; NEXT, id and AVAIL/USED are ignored.
      const raw_desc d = desc_at(static_cast<std::size_t>(table - kBase) + 16 * i);
      if (d.flags & desc_flag::indirect) return errc::indirect_in_indirect;
      if (auto e = b.add(d.addr, d.len, d.flags & desc_flag::write)) return e;
    }
    return std::nullopt;
  }

  // ---- pop ------------------------------------------------------------------------------------

  void check_segment(const chain::segment& s) const {
    FUZZ_CHECK(s.len > 0);
    FUZZ_CHECK(in_memory(s.addr.raw(), s.len));  // every segment lies inside guest memory
    const auto off = static_cast<std::size_t>(s.addr.raw() - kBase);
    if (s.host != nullptr) FUZZ_CHECK(s.host == mem_.get() + off);
    FUZZ_CHECK((s.host == nullptr) == m_.deny);
  }

  using result_bool = vireo::result<bool>;

  void op_pop() {
    const std::uint8_t sel = in_.u8();
    chain_slot& s = slots_[sel % kSlots];
    const bool by_value = sel & 0x80u;
    s.live = false;

    result_bool got = errc::invalid_argument;
    if (by_value) {
      auto r = dev_.pop();
      if (r) {
        s.chain = *r;
        got = !r->empty();
      } else {
        got = r.error();
      }
    } else {
      got = dev_.pop_into(s.chain);
    }

    if (!m_.ready) {
      FUZZ_CHECK(!got && got.error() == not_ready_error());
      return;
    }
    m_.rejected.reset();
    const ref_list ref = reference_pop();
    if (!got && !by_value) FUZZ_CHECK(s.chain.empty());
    if (ref.k == ref_list::kind::empty) {
      FUZZ_CHECK(got && !*got);
      FUZZ_CHECK(s.chain.empty());
      return;
    }
    if (ref.k == ref_list::kind::fatal) {
      FUZZ_CHECK(!got && got.error() == ref.fatal);
      mark_broken();
      return;
    }
    // The list is consumed whatever it holds.
    const std::uint16_t seq = enc(m_.avail);
    advance(m_.avail, ref.slots, m_.size);
    if (m_.event_idx && m_.notify_enabled)  // a kick is asked for the next slot
      expect16(kDevEvOff + ring::packed_layout::event_off_wrap, enc(m_.avail));

    const bool exact = !m_.after && !m_.range;  // no injected faults: the outcome is determined
    if (!got) {
      const errc e = got.error();
      FUZZ_CHECK(is_chain_error(e));
      if (exact) FUZZ_CHECK(ref.error.has_value() && e == *ref.error);
      else FUZZ_CHECK(e == errc::injected_fault || (ref.error.has_value() && e == *ref.error));
      const chain::used_token want{ref.id, ref.slots, seq, 0};
      m_.rejected = want;  // check_global compares rejected()
      remember(want);
      return;
    }
    // Faults only ever add failures: an accepted list is accepted by the reference too.
    FUZZ_CHECK(*got && !ref.error.has_value());
    const chain_t& c = s.chain;
    FUZZ_CHECK(!c.empty());
    const chain::used_token t = c.token();
    FUZZ_CHECK(same_token(t, chain::used_token{ref.id, ref.slots, seq,
                                               static_cast<std::uint32_t>(ref.wlen)}));
    FUZZ_CHECK(c.id() == ref.id);
    const auto rd = c.readable();
    const auto wr = c.writable();
    FUZZ_CHECK(rd.size() == ref.readable && rd.size() + wr.size() == ref.count);
    for (std::size_t i = 0; i < ref.count; ++i) {
      const chain::segment& seg = i < ref.readable ? rd[i] : wr[i - ref.readable];
      FUZZ_CHECK(seg.addr.raw() == ref.segs[i].addr && seg.len == ref.segs[i].len);
      FUZZ_CHECK(ref.segs[i].writable == (i >= ref.readable));  // readable, then writable
      check_segment(seg);
    }
    FUZZ_CHECK(c.readable_len() == ref.rlen && c.writable_len() == ref.wlen);
    FUZZ_CHECK(ref.rlen + ref.wlen <= UINT32_MAX);  // §2.7.5.2's limit, kept for packed lists

    s.live = true;
    for (auto& r : s.rd) r.live = false;
    for (auto& w : s.wr) w.live = false;
    s.rd[0] = rcur{c.reader(), 0, 0, c.readable_len(), true};
    s.wr[0] = wcur{c.writer(), 0, 0, c.writable_len(), true};
    FUZZ_CHECK(s.rd[0].c.remaining() == ref.rlen && s.rd[0].c.consumed() == 0);
    FUZZ_CHECK(s.wr[0].c.remaining() == ref.wlen && s.wr[0].c.written() == 0);
    remember(t);
  }

  void remember(const chain::used_token& t) noexcept { tokens_[ntokens_++ % kTokens] = t; }

  // ---- push -----------------------------------------------------------------------------------

  chain::used_token pick_token() {
    const std::uint8_t sel = in_.u8();
    if (sel < 0xf0 && ntokens_ > 0) {
      const std::size_t have = ntokens_ < kTokens ? ntokens_ : kTokens;
      return tokens_[sel % have];
    }
    chain::used_token t;  // made up by a buggy device model
    t.id = in_.u16();
    t.slots = in_.u8();
    t.seq = in_.u16();
    t.writable_len = in_.u8();
    return t;
  }
  std::uint32_t pick_len(const chain::used_token& t) {
    switch (in_.u8() & 3u) {
      case 0: return t.writable_len;
      case 1:
        return t.writable_len
                   ? static_cast<std::uint32_t>(in_.u32() % (t.writable_len + std::uint64_t{1}))
                   : 0;
      case 2: return t.writable_len < UINT32_MAX ? t.writable_len + 1 : 0;
      default: return in_.u32();
    }
  }

  /// Slots popped and not completed. After a hostile restore() the cursors may be apart by
  /// more than a lap or crossed; the device clamps to 0..size, and so does the model.
  std::uint32_t in_flight() const noexcept {
    const std::int32_t d = std::int32_t{m_.avail.slot} - std::int32_t{m_.used.slot} +
                           (m_.avail.wrap != m_.used.wrap ? std::int32_t{m_.size} : 0);
    if (d < 0) return 0;
    return d > m_.size ? m_.size : static_cast<std::uint32_t>(d);
  }

  /// The error a push of `t` must give at used position `at` with `room` slots in flight.
  std::optional<errc> expect_push(const chain::used_token& t, std::uint32_t len, pos at,
                                  std::uint32_t room) const noexcept {
    if (!m_.ready) return not_ready_error();
    if (len > t.writable_len) return errc::used_len_too_large;  // §2.8.4 / §2.7.8.2
    if (t.slots == 0 || t.slots > room) return errc::invalid_argument;
    if (m_.in_order && t.seq != enc(at)) return errc::in_order_violation;
    return std::nullopt;
  }

  /// A used descriptor (§2.8.6): id and len, flags AVAIL = USED = the used phase, WRITE when
  /// len > 0 (§2.8.3). addr is not part of it and stays as it was.
  void expect_used(pos at, std::uint16_t id, std::uint32_t len) {
    const std::size_t off = ring_off(m_.size) + 16 * std::size_t{at.slot};
    const auto flags = static_cast<std::uint16_t>(packed_flag::used_marks(at.wrap) |
                                                  (len != 0 ? desc_flag::write : 0u));
    expect16(off + 8, static_cast<std::uint16_t>(len));
    expect16(off + 10, static_cast<std::uint16_t>(len >> 16));
    expect16(off + ring::packed_layout::desc_id, id);
    expect16(off + ring::packed_layout::desc_flags, flags);
  }
  void note_pushed(std::uint32_t slots) noexcept {
    m_.unsignalled += slots;
    if (m_.unsignalled > m_.size) m_.unsignalled = m_.size;
  }

  void push_one(const chain::used_token& t, std::uint32_t len) {
    const auto expect = expect_push(t, len, m_.used, in_flight());
    const auto r = dev_.push_used(t, len);
    if (expect) {
      FUZZ_CHECK(!r && r.error() == *expect);
      return;
    }
    FUZZ_CHECK(r.has_value());
    expect_used(m_.used, t.id, len);
    const std::size_t off = ring_off(m_.size) + 16 * std::size_t{m_.used.slot};
    FUZZ_CHECK(get32(off + 8) == len && get16(off + ring::packed_layout::desc_id) == t.id);
    FUZZ_CHECK(packed_flag::is_used(get16(off + ring::packed_layout::desc_flags), m_.used.wrap));
    advance(m_.used, t.slots, m_.size);
    note_pushed(t.slots);
  }

  void op_push_batch() {
    const std::size_t n = in_.u8() % 5u;
    std::array<ring::used_entry, 4> batch{};
    for (std::size_t i = 0; i < n; ++i) {
      batch[i].token = pick_token();
      batch[i].len = pick_len(batch[i].token);
    }
    const std::uint32_t room = in_flight();
    std::optional<errc> expect;
    bool collapsible = m_.in_order;
    pos p = m_.used;
    std::uint32_t total = 0;
    for (std::size_t i = 0; i < n && !expect; ++i) {
      expect = expect_push(batch[i].token, batch[i].len, p, room - total);
      if (expect) break;
      advance(p, batch[i].token.slots, m_.size);
      total += batch[i].token.slots;
      if (i + 1 < n && (batch[i].len != batch[i].token.writable_len || batch[i].token.rejected))
        collapsible = false;  // a rejected chain is never folded into a batch
    }
    if (n == 0 && !m_.ready) expect = not_ready_error();
    const auto r = dev_.push_used(std::span<const ring::used_entry>{batch.data(), n});
    if (expect) {
      FUZZ_CHECK(!r && r.error() == *expect);
      return;
    }
    FUZZ_CHECK(r.has_value());
    if (n == 0) return;
    if (collapsible) {
      // §2.8.8: one used descriptor, at the first slot, naming the batch's last buffer.
      expect_used(m_.used, batch[n - 1].token.id, batch[n - 1].len);
    } else {
      p = m_.used;
      for (std::size_t i = 0; i < n; ++i) {
        expect_used(p, batch[i].token.id, batch[i].len);
        advance(p, batch[i].token.slots, m_.size);
      }
    }
    advance(m_.used, total, m_.size);
    note_pushed(total);
  }

  // ---- notifications --------------------------------------------------------------------------

  void op_needs_notification() {
    const bool got = dev_.needs_notification();
    bool expect = false;
    if (m_.ready && m_.unsignalled != 0) {
      const std::uint32_t count = m_.unsignalled;
      const bool valid = m_.signalled_valid;
      m_.unsignalled = 0;
      m_.signalled_valid = true;
      const unsigned flags = get16(kDrvEvOff + ring::packed_layout::event_flags) & 3u;
      if (flags == ring::event_flag::disable) {
        expect = false;
      } else if (flags != ring::event_flag::desc || !m_.event_idx) {
        expect = true;  // ENABLE, the reserved 3, or DESC without EVENT_IDX
      } else if (!valid || count >= m_.size) {
        expect = true;  // first decision, or a whole lap: every slot was passed
      } else {
        // Brute force over the used slots passed since the last decision, as linear positions:
        // this phase's slots are 0..size-1, the previous phase's -size..-1.
        const std::uint16_t ow = get16(kDrvEvOff + ring::packed_layout::event_off_wrap);
        const std::int32_t event = std::int32_t{ring::off_of(ow)} -
                                   (ring::wrap_of(ow) != m_.used.wrap ? std::int32_t{m_.size} : 0);
        const std::int32_t now = m_.used.slot;
        for (std::int32_t k = now - static_cast<std::int32_t>(count); k < now; ++k)
          if (k == event) expect = true;
      }
    }
    FUZZ_CHECK(got == expect);
  }

  void op_enable() {
    const auto r = dev_.enable_notifications();
    if (!m_.ready) {
      FUZZ_CHECK(!r && r.error() == not_ready_error());
      return;
    }
    m_.notify_enabled = true;
    if (m_.event_idx) {
      expect16(kDevEvOff + ring::packed_layout::event_off_wrap, enc(m_.avail));
      expect16(kDevEvOff + ring::packed_layout::event_flags, ring::event_flag::desc);
    } else {
      expect16(kDevEvOff + ring::packed_layout::event_flags, ring::event_flag::enable);
    }
    FUZZ_CHECK(r && *r == packed_flag::is_avail(ring_desc(m_.avail.slot).flags, m_.avail.wrap));
  }

  void op_disable() {
    dev_.disable_notifications();
    if (!m_.ready) return;
    m_.notify_enabled = false;
    expect16(kDevEvOff + ring::packed_layout::event_flags, ring::event_flag::disable);
  }

  void op_available() {
    const auto r = dev_.available();
    if (!m_.ready) {
      FUZZ_CHECK(!r && r.error() == not_ready_error());
      return;
    }
    // Heads among the run of available slots from the avail cursor (at most one lap).
    std::uint16_t heads = 0;
    pos p = m_.avail;
    bool prev_next = false;
    for (std::uint32_t i = 0; i < m_.size; ++i) {
      const std::uint16_t f = ring_desc(p.slot).flags;
      if (!packed_flag::is_avail(f, p.wrap)) break;
      if (!prev_next) ++heads;
      prev_next = f & desc_flag::next;
      advance(p, 1, m_.size);
    }
    FUZZ_CHECK(r && *r == heads);
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /// configure()'s error without injected faults (nullopt: success).
  std::optional<errc> expect_configure(const ring::queue_config& c) const noexcept {
    if (c.size == 0 || c.size > ring::max_queue_size) return errc::bad_queue_size;
    const auto area = [&](gpa at, std::size_t len, std::size_t align) -> std::optional<errc> {
      if (at.raw() & (align - 1)) return errc::ring_misaligned;
      if (m_.deny || !in_memory(at.raw(), len)) return errc::ring_not_mapped;
      return std::nullopt;
    };
    if (auto e = area(c.desc_table, 16 * std::size_t{c.size}, 16)) return e;
    if (auto e = area(c.driver_area, 4, 4)) return e;
    return area(c.device_area, 4, 4);
  }

  void op_configure() {
    const std::uint8_t sz = in_.u8();
    const std::uint8_t features = in_.u8();
    const std::uint8_t v = in_.u8();
    std::uint32_t size = 1u + sz;
    if ((v >> 4) == 0xe) size = std::array<std::uint32_t, 4>{0, 32769, 0xffff, 4096}[v & 3u];
    const unsigned variant = (v >> 4) == 0xf ? v % 7u : 0;
    // A driver zeroes the ring before it enables the queue (§2.8.13); bit 3: this one does not.
    if (size <= kMaxQueue && size != 0 && !(features & 8u)) {
      std::memset(mem_.get() + ring_off(size), 0, 16 * std::size_t{size});
      std::memset(shadow_.data() + ring_off(size), 0, 16 * std::size_t{size});
    }
    const auto cfg = make_config(static_cast<std::uint16_t>(size), features, variant);
    vireo::result<void> r;
    if (v & 8u) {
      auto made = device_t::create(faulty_, cfg);
      if (made) dev_ = *made;
      else dev_.reset();  // what a caller that failed to create would do
      r = made ? vireo::ok() : vireo::result<void>{made.error()};
    } else {
      r = dev_.configure(cfg);
    }
    m_.reset_queue();
    const auto expect = expect_configure(cfg);
    if (!r && (m_.after || m_.range) && r.error() == errc::ring_not_mapped &&
        expect != errc::bad_queue_size)
      return;  // an injected fault hit one of the ring areas
    if (expect) {
      FUZZ_CHECK(!r && r.error() == *expect);
      return;
    }
    FUZZ_CHECK(r.has_value());
    set_queue(cfg.size, features);
    drv_.size = cfg.size;
    drv_.ring = ring_off(cfg.size);
    drv_.cur = pos{};
    drv_.held = false;
  }

  void op_remap() {
    const auto r = dev_.remap();
    if (!m_.ready) {
      FUZZ_CHECK(!r && r.error() == not_ready_error());
      return;
    }
    if (!r) {  // mapping failed again: the queue is back to its unconfigured state
      FUZZ_CHECK((m_.deny || m_.after || m_.range) && r.error() == errc::ring_not_mapped);
      m_.reset_queue();
      return;
    }
    FUZZ_CHECK(!m_.deny);
    // Same addresses, same state: nothing in the model changes.
  }

  /// restore(): mode 0 = state() back (a round trip), 1 = two raw u16, 2 = an avail slot at or
  /// past the size, 3 = the two positions swapped.
  void op_restore() {
    const std::uint8_t mode = in_.u8();
    const auto st = dev_.state();
    std::uint16_t na = st.next_avail, ui = st.used_idx;
    switch (mode & 3u) {
      case 0: break;
      case 1:
        na = in_.u16();
        ui = in_.u16();
        break;
      case 2:
        na = ring::make_off_wrap(static_cast<std::uint16_t>(m_.size + (mode >> 2) % 32u),
                                 mode & 0x80u);
        break;
      default:
        na = st.used_idx;
        ui = st.next_avail;
        break;
    }
    if (!m_.ready) return;  // precondition: configured
    dev_.restore(na, ui);
    // Hostile slots are reduced modulo the size (documented): memory-safe, positions arbitrary.
    m_.avail = pos{static_cast<std::uint16_t>(ring::off_of(na) % m_.size), ring::wrap_of(na)};
    m_.used = pos{static_cast<std::uint16_t>(ring::off_of(ui) % m_.size), ring::wrap_of(ui)};
    m_.unsignalled = 0;
    m_.signalled_valid = false;
  }

  void op_fault() {
    switch (in_.u8() % 5u) {
      case 0:
        faulty_.deny_map(true);
        m_.deny = true;
        break;
      case 1:
        faulty_.deny_map(false);
        m_.deny = false;
        break;
      case 2:
        faulty_.fail_after(in_.u8() % 32u);
        m_.after = true;
        break;
      case 3: {
        const std::uint16_t start = in_.u16();
        const std::uint8_t len = in_.u8();
        // bit 15: over the indirect tables, else over the buffers
        const std::uint64_t at = (start & 0x8000u) ? kBase + kIndOff + start % kIndSize
                                                   : kBase + kDataOff + start % kDataSize;
        faulty_.fail_range(gpa{at}, std::uint64_t{len} + 1);
        m_.range = true;
        break;
      }
      default:
        faulty_.clear_faults();
        m_.deny = m_.after = m_.range = false;
        break;
    }
  }

  // ---- cursors --------------------------------------------------------------------------------

  std::size_t pick_n(std::size_t rem) {
    const std::uint8_t mode = in_.u8();
    switch (mode & 3u) {
      case 0: return mode >> 2;
      case 1: return rem;
      case 2: return rem + 1;
      default: return in_.u16();
    }
  }

  /// Call f(memory offset, stream offset within the range, length) for each piece of the stream
  /// range [at, at + n) of `segs`.
  template <typename F>
  static void for_stream(std::span<const chain::segment> segs, std::size_t at, std::size_t n, F f) {
    std::size_t start = 0, done = 0;
    for (const auto& s : segs) {
      if (done == n) return;
      const std::size_t end = start + s.len;
      if (at < end) {
        const std::size_t off = at - start;
        const std::size_t piece = s.len - off < n - done ? s.len - off : n - done;
        f(static_cast<std::size_t>(s.addr.raw() - kBase) + off, done, piece);
        at += piece;
        done += piece;
      }
      start = end;
    }
    FUZZ_CHECK(done == n);
  }
  /// Where a view of `n` bytes at stream offset `at` must point, or nullptr when it cannot be one.
  static std::byte* expected_view(std::span<const chain::segment> segs, std::size_t at,
                                  std::size_t n) {
    std::size_t start = 0;
    for (const auto& s : segs) {
      const std::size_t end = start + s.len;
      if (at < end) {
        if (s.host == nullptr || at + n > end) return nullptr;
        return s.host + (at - start);
      }
      start = end;
    }
    return nullptr;
  }

  /// Errors a copy may report once its bounds check passed: only injected faults can fail it.
  bool copy_may_fail(errc e) const noexcept {
    return (m_.after || m_.range) && e == errc::injected_fault;
  }

  void op_reader() {
    const std::uint8_t sel = in_.u8();
    chain_slot& s = slots_[sel % kSlots];
    rcur& c = s.rd[((sel >> 2) & 3u) % kCursors];
    const unsigned sub = ((sel >> 4) & 7u) % 5u;
    if (!s.live || !c.live) return;
    const auto segs = s.chain.readable();
    const std::size_t n = sub == 1 ? 16 : pick_n(c.rem);
    const std::size_t at = c.base + c.pos;
    bool advanced = false;
    switch (sub) {
      case 0:
      case 1: {
        if (n >= kScratch) break;
        errc e{};
        bool ok;
        if (sub == 1) {
          auto r = c.c.read_obj<obj16>();
          ok = r.has_value();
          if (ok) std::memcpy(scratch_a, &*r, 16);
          else e = r.error();
        } else {
          auto r = c.c.read(vireo::bytes{scratch_a, n});
          ok = r.has_value();
          if (!ok) e = r.error();
        }
        if (n > c.rem) {
          FUZZ_CHECK(!ok && e == errc::end_of_data);
        } else if (!ok) {
          FUZZ_CHECK(copy_may_fail(e));
        } else {
          for_stream(segs, at, n, [&](std::size_t off, std::size_t done, std::size_t piece) {
            FUZZ_CHECK(std::memcmp(scratch_a + done, mem_.get() + off, piece) == 0);
          });
          advanced = true;
        }
        break;
      }
      case 2: {
        auto r = c.c.view(n);
        if (n > c.rem) {
          FUZZ_CHECK(!r && r.error() == errc::end_of_data);
        } else if (n == 0) {
          FUZZ_CHECK(r && r->empty());
        } else {
          const std::byte* want = expected_view(segs, at, n);
          if (want == nullptr) {
            FUZZ_CHECK(!r && r.error() == errc::not_contiguous);
          } else {
            FUZZ_CHECK(r && r->data() == want && r->size() == n);
            advanced = true;
          }
        }
        break;
      }
      case 3: {
        auto r = c.c.skip(n);
        FUZZ_CHECK(r.has_value() == (n <= c.rem));
        if (!r) FUZZ_CHECK(r.error() == errc::end_of_data);
        advanced = r.has_value();
        break;
      }
      default: {
        rcur& dst = s.rd[in_.u8() % kCursors];
        auto r = c.c.split(n);
        FUZZ_CHECK(r.has_value() == (n <= c.rem));
        if (!r) {
          FUZZ_CHECK(r.error() == errc::end_of_data);
          break;
        }
        advanced = true;
        if (&dst != &c) dst = rcur{*r, at, 0, n, true};
        FUZZ_CHECK(r->remaining() == n && r->consumed() == 0);
        break;
      }
    }
    if (advanced) {
      c.pos += n;
      c.rem -= n;
    }
    FUZZ_CHECK(c.c.consumed() == c.pos && c.c.remaining() == c.rem);
  }

  void op_writer() {
    const std::uint8_t sel = in_.u8();
    chain_slot& s = slots_[sel % kSlots];
    wcur& c = s.wr[((sel >> 2) & 3u) % kCursors];
    const unsigned sub = ((sel >> 4) & 7u) % 5u;
    const std::uint8_t fill = in_.u8();
    if (!s.live || !c.live) return;
    const auto segs = s.chain.writable();
    const std::size_t n = sub == 1 ? 16 : pick_n(c.rem);
    const std::size_t at = c.base + c.pos;
    bool advanced = false;
    switch (sub) {
      case 0:
      case 1: {
        if (n >= kScratch) break;
        for (std::size_t i = 0; i < n; ++i) scratch_a[i] = std::byte(fill + i * 13);
        vireo::result<void> r;
        if (sub == 1) {
          obj16 o;
          std::memcpy(&o, scratch_a, 16);
          r = c.c.write_obj(o);
        } else {
          r = c.c.write(vireo::const_bytes{scratch_a, n});
        }
        if (n > c.rem) {
          FUZZ_CHECK(!r && r.error() == errc::no_space);  // and nothing written
        } else if (!r) {
          FUZZ_CHECK(copy_may_fail(r.error()));
          // A failed copy may have written part of its range, and nothing outside it.
          for_stream(segs, at, n, [&](std::size_t off, std::size_t, std::size_t piece) {
            std::memcpy(shadow_.data() + off, mem_.get() + off, piece);
          });
        } else {
          // Piece by piece in stream order, as the cursor writes (segments may overlap).
          for_stream(segs, at, n, [&](std::size_t off, std::size_t done, std::size_t piece) {
            std::memcpy(shadow_.data() + off, scratch_a + done, piece);
          });
          advanced = true;
        }
        break;
      }
      case 2: {
        auto r = c.c.view(n);
        if (n > c.rem) {
          FUZZ_CHECK(!r && r.error() == errc::no_space);
        } else if (n == 0) {
          FUZZ_CHECK(r && r->empty());
        } else {
          std::byte* want = expected_view(segs, at, n);
          if (want == nullptr) {
            FUZZ_CHECK(!r && r.error() == errc::not_contiguous);
          } else {
            FUZZ_CHECK(r && r->data() == want && r->size() == n);
            std::memset(r->data(), fill, n);  // the device's own write through the view
            std::memset(shadow_.data() + (want - mem_.get()), fill, n);
            advanced = true;
          }
        }
        break;
      }
      case 3: {
        auto r = c.c.skip(n);
        FUZZ_CHECK(r.has_value() == (n <= c.rem));
        if (!r) FUZZ_CHECK(r.error() == errc::no_space);
        advanced = r.has_value();
        break;
      }
      default: {
        wcur& dst = s.wr[in_.u8() % kCursors];
        auto r = c.c.split(n);
        FUZZ_CHECK(r.has_value() == (n <= c.rem));
        if (!r) {
          FUZZ_CHECK(r.error() == errc::no_space);
          break;
        }
        advanced = true;
        if (&dst != &c) dst = wcur{*r, at, 0, n, true};
        FUZZ_CHECK(r->remaining() == n && r->written() == 0);
        break;
      }
    }
    if (advanced) {
      c.pos += n;
      c.rem -= n;
    }
    FUZZ_CHECK(c.c.written() == c.pos && c.c.remaining() == c.rem);
  }

  void op_fresh_cursor() {
    const std::uint8_t sel = in_.u8();
    chain_slot& s = slots_[sel % kSlots];
    if (!s.live) return;
    const std::size_t i = ((sel >> 2) & 3u) % kCursors;
    if (sel & 0x80u) s.wr[i] = wcur{s.chain.writer(), 0, 0, s.chain.writable_len(), true};
    else s.rd[i] = rcur{s.chain.reader(), 0, 0, s.chain.readable_len(), true};
  }

  struct obj16 {
    std::uint8_t b[16];
  };

  byte_source in_;
  std::unique_ptr<std::byte[], free_aligned> mem_;
  std::vector<std::byte> shadow_;
  vireo::flat_memory flat_;
  mem_t faulty_;
  device_t dev_;
  model m_;
  driver_side drv_;
  std::array<chain_slot, kSlots> slots_{};
  std::array<chain::used_token, kTokens> tokens_{};
  std::size_t ntokens_ = 0;
  static std::byte scratch_a[kScratch];
};

std::byte harness::scratch_a[kScratch];

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  harness h{data, size};
  h.run();
  return 0;
}
