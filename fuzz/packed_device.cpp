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
#include <cstring>
#include <optional>
#include <span>

#include "cursor_script.hpp"
#include "fuzz_input.hpp"
#include "guest_memory.hpp"
#include "packed_positions.hpp"
#include "ring_fuzz_common.hpp"
#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/ring/packed_device.hpp"

namespace {

using vireo::errc;
using vireo::gpa;
namespace ring = vireo::ring;
namespace chain = vireo::chain;
namespace desc_flag = vireo::ring::desc_flag;
namespace packed_flag = vireo::ring::packed_flag;
using vireo_fuzz::byte_source;
using vireo_fuzz::fails_with;
using vireo_fuzz::pos;
using vireo_fuzz::advance;
using vireo_fuzz::enc;

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

/// Reserved descriptor flag bits: the device ignores them.
constexpr std::uint16_t kReservedFlags = vireo_fuzz::packed_reserved_flags;

using guest_t = vireo_fuzz::guest_memory<kBase, kMemSize>;
using mem_t = vireo::faulty_memory<vireo::flat_memory>;
using device_t = ring::packed_device<mem_t, kSegs>;
using chain_t = device_t::chain_type;
using script_t = vireo_fuzz::cursor_script<chain_t, mem_t, kSlots, kCursors, kScratch>;
using segments = script_t::segments;

constexpr vireo_fuzz::hostile_areas kAreas{kBase, kMemSize, kIndOff, kIndSize, kDataOff, kDataSize};

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
  const vireo_fuzz::hostile_buffer b = vireo_fuzz::decode_hostile(kAreas, ctl, a, l);
  return {b.addr, b.len, 0, b.flags};
}

/// The errors that leave a list's end unknown: they break the queue.
bool is_ring_fatal(errc e) noexcept {
  return e == errc::desc_not_available || e == errc::chain_too_long;
}

/// What pop may report for a list it consumed and rejected.
/// (chain_too_long among them: an indirect table of more than 65536 entries.)
bool is_chain_error(errc e) noexcept {
  return e == errc::indirect_in_chain || vireo_fuzz::is_chain_error_of_both(e);
}

bool in_memory(std::uint64_t addr, std::uint64_t len) noexcept { return guest_t::contains(addr, len); }

bool same_token(const chain::used_token& a, const chain::used_token& b) noexcept {
  return a.id == b.id && a.slots == b.slots && a.seq == b.seq && a.writable_len == b.writable_len;
}

const std::byte* pattern() {
  return vireo_fuzz::fixed_pattern<kMemSize>([](std::size_t i) { return std::byte(i * 7 + 3); });
}

// ---- model --------------------------------------------------------------------------------------

/// What the device should be doing, tracked independently of its internals.
struct model : vireo_fuzz::device_model {
  pos avail, used;                 // the device's two cursors
  std::uint32_t unsignalled = 0;   // slots used since the last notification decision (<= size)
  std::optional<chain::used_token> rejected;

  void reset_queue() noexcept {
    unconfigure();
    avail = used = pos{};
    unsignalled = 0;
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

using vireo_fuzz::ref_seg;

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

class harness {
 public:
  harness(const std::uint8_t* data, std::size_t size)
      : in_(data, size), faulty_(g_.flat()), dev_(faulty_), script_(in_, g_.host(), kBase) {
    g_.load(pattern());
    g_.write_fill(0, 0, kDataOff);  // event areas and indirect tables start zeroed
    g_.write_fill(kRingArea, 0, kMemSize - kRingArea);  // so does the ring (§2.8.13)
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
    m_.configured(size, features);

    for (int op = 0; op < kMaxOps && !in_.empty(); ++op) {
      step(in_.u8());
      check_global();
    }
  }

  // ---- how device writes through cursors show in memory (cursor_script's observer) -----------

  void before_write(segments) const noexcept {}
  void after_write(segments) const noexcept {}
  /// Piece by piece in stream order, as the cursor writes (segments may overlap).
  void wrote(segments w, std::size_t at, std::size_t n, const std::byte* data) {
    vireo_fuzz::for_each_piece(w, at, n, [&](std::uint64_t addr, std::size_t done, std::size_t piece) {
      g_.expect(guest_t::offset_of(addr), data + done, piece);
    });
  }
  /// A failed copy may have written part of its range, and nothing outside it.
  void write_failed(segments w, std::size_t at, std::size_t n) {
    vireo_fuzz::for_each_piece(w, at, n, [&](std::uint64_t addr, std::size_t, std::size_t piece) {
      g_.accept(guest_t::offset_of(addr), piece);
    });
  }
  void wrote_view(std::byte* p, std::uint8_t fill, std::size_t n) {
    g_.expect_fill(static_cast<std::size_t>(p - g_.host()), fill, n);
  }

 private:
  // ---- raw memory helpers -------------------------------------------------------------------

  void put_desc(std::size_t off, const raw_desc& d, bool with_flags = true) noexcept {
    ring::packed_desc w;
    w.addr.set(d.addr);
    w.len.set(d.len);
    w.id.set(d.id);
    w.flags.set(d.flags);
    g_.write(off, &w, with_flags ? sizeof w : ring::packed_layout::desc_flags);
  }
  raw_desc desc_at(std::size_t off) const noexcept {
    ring::packed_desc w;
    std::memcpy(&w, g_.host() + off, sizeof w);
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
    vireo_fuzz::negotiate(c, features);
    return c;
  }

  // ---- invariants checked after every step ----------------------------------------------------

  void check_global() const {
    m_.check_lifecycle(dev_, is_ring_fatal);
    if (m_.ready) {
      FUZZ_CHECK(dev_.state().next_avail == enc(m_.avail));
      FUZZ_CHECK(dev_.state().used_idx == enc(m_.used));
    }
    const auto rej = dev_.rejected();
    FUZZ_CHECK(rej.has_value() == m_.rejected.has_value());
    if (rej) FUZZ_CHECK(same_token(*rej, *m_.rejected));
    // The device wrote exactly what the model expects (used descriptors at the used cursor, its
    // event suppression area, bytes written through writers) and nothing else.
    FUZZ_CHECK(g_.matches_shadow());
  }
  void mark_broken() noexcept {
    m_.mark_broken();
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
        g_.put16(at + ring::packed_layout::desc_flags, flags);
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
          g_.put16(drv_.ring + 16 * std::size_t{drv_.held_slot} + ring::packed_layout::desc_flags,
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
      case 19: script_.read_op(faults_); break;
      case 20: script_.write_op(faults_, *this); break;
      case 21: script_.fresh_op(); break;
      case 22:  // fail_range: bit 15 over the indirect tables, else over the buffers
        vireo_fuzz::inject_fault(in_, faulty_, faults_, [](std::uint16_t start) {
          return (start & 0x8000u) ? kBase + kIndOff + start % kIndSize
                                   : kBase + kDataOff + start % kDataSize;
        });
        break;
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
    g_.put16(drv_.ring + 16 * std::size_t{slot} + ring::packed_layout::desc_flags, flags);
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

  /// The driver's cursor; home: back in step with the device.
  void op_driver_cursor() {
    vireo_fuzz::steer(drv_.cur, in_.u8(), drv_.size, m_.ready ? m_.avail : pos{});
  }

  /// Driver Event Suppression, off_wrap around the device's used cursor.
  void op_driver_event() {
    const auto e = vireo_fuzz::decode_event_suppression(in_, m_.ready ? m_.used : pos{},
                                                        m_.ready ? m_.size : drv_.size);
    g_.put16(kDrvEvOff + ring::packed_layout::event_off_wrap, e.off_wrap);
    g_.put16(kDrvEvOff + ring::packed_layout::event_flags, e.flags);
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

  void op_pop() {
    const std::uint8_t sel = in_.u8();
    script_t::slot& s = script_.slot_for(sel);
    const bool by_value = sel & 0x80u;
    s.live = false;
    const vireo::result<bool> got = vireo_fuzz::pop_either_way(dev_, s.chain, by_value);
    if (m_.refused(got)) return;
    m_.rejected.reset();
    const ref_list ref = reference_pop();
    if (!got && !by_value) FUZZ_CHECK(s.chain.empty());
    if (ref.k == ref_list::kind::empty) {
      FUZZ_CHECK(got && !*got);
      FUZZ_CHECK(s.chain.empty());
      return;
    }
    if (ref.k == ref_list::kind::fatal) {
      FUZZ_CHECK(fails_with(got, ref.fatal));
      mark_broken();
      return;
    }
    // The list is consumed whatever it holds.
    const std::uint16_t seq = enc(m_.avail);
    advance(m_.avail, ref.slots, m_.size);
    if (m_.event_idx && m_.notify_enabled)  // a kick is asked for the next slot
      g_.expect16(kDevEvOff + ring::packed_layout::event_off_wrap, enc(m_.avail));

    const bool exact = faults_.exact();  // no injected faults: the outcome is determined
    if (!got) {
      const errc e = got.error();
      FUZZ_CHECK(is_chain_error(e));
      if (exact) FUZZ_CHECK(ref.error.has_value() && e == *ref.error);
      else FUZZ_CHECK(e == errc::injected_fault || (ref.error.has_value() && e == *ref.error));
      const chain::used_token want{ref.id, ref.slots, seq, 0};
      m_.rejected = want;  // check_global compares rejected()
      tokens_.remember(want);
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
      vireo_fuzz::check_segment(seg, g_, faults_);
    }
    FUZZ_CHECK(c.readable_len() == ref.rlen && c.writable_len() == ref.wlen);
    FUZZ_CHECK(ref.rlen + ref.wlen <= UINT32_MAX);  // §2.7.5.2's limit, kept for packed lists

    script_.open(s);
    tokens_.remember(t);
  }

  // ---- push -----------------------------------------------------------------------------------

  /// A remembered token, or one made up: u16 id, u8 slots, u16 seq, u8 writable_len.
  chain::used_token pick_token() {
    return tokens_.pick(in_, [&] {
      chain::used_token t;
      t.id = in_.u16();
      t.slots = in_.u8();
      t.seq = in_.u16();
      t.writable_len = in_.u8();
      return t;
    });
  }
  std::uint32_t pick_len(const chain::used_token& t) {
    return vireo_fuzz::pick_used_len(in_, t.writable_len);
  }

  /// Slots popped and not completed. After a hostile restore() the cursors may be apart by
  /// more than a lap or crossed; the device clamps to 0..size, and so does the model.
  std::uint32_t in_flight() const noexcept {
    const std::int32_t d = vireo_fuzz::slots_ahead(m_.used, m_.avail, m_.size);
    if (d < 0) return 0;
    return d > m_.size ? m_.size : static_cast<std::uint32_t>(d);
  }

  /// The error a push of `t` must give at used position `at` with `room` slots in flight.
  std::optional<errc> expect_push(const chain::used_token& t, std::uint32_t len, pos at,
                                  std::uint32_t room) const noexcept {
    if (!m_.ready) return m_.not_ready_error();
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
    g_.expect16(off + 8, static_cast<std::uint16_t>(len));
    g_.expect16(off + 10, static_cast<std::uint16_t>(len >> 16));
    g_.expect16(off + ring::packed_layout::desc_id, id);
    g_.expect16(off + ring::packed_layout::desc_flags, flags);
  }
  void note_pushed(std::uint32_t slots) noexcept {
    m_.unsignalled += slots;
    if (m_.unsignalled > m_.size) m_.unsignalled = m_.size;
  }

  void push_one(const chain::used_token& t, std::uint32_t len) {
    const auto expect = expect_push(t, len, m_.used, in_flight());
    if (!vireo_fuzz::succeeded_as_expected(dev_.push_used(t, len), expect)) return;
    expect_used(m_.used, t.id, len);
    const std::size_t off = ring_off(m_.size) + 16 * std::size_t{m_.used.slot};
    FUZZ_CHECK(g_.get32(off + 8) == len && g_.get16(off + ring::packed_layout::desc_id) == t.id);
    FUZZ_CHECK(packed_flag::is_used(g_.get16(off + ring::packed_layout::desc_flags), m_.used.wrap));
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
    const std::span<const ring::used_entry> entries{batch.data(), n};
    if (!vireo_fuzz::push_batch_as_expected(dev_, m_, entries, expect)) return;
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
      expect = vireo_fuzz::packed_notify_due(
          g_.get16(kDrvEvOff + ring::packed_layout::event_flags),
          g_.get16(kDrvEvOff + ring::packed_layout::event_off_wrap), m_.event_idx, !valid, count,
          m_.size, m_.used);
    }
    FUZZ_CHECK(got == expect);
  }

  void op_enable() {
    const auto r = dev_.enable_notifications();
    if (m_.refused(r)) return;
    m_.notify_enabled = true;
    if (m_.event_idx) {
      g_.expect16(kDevEvOff + ring::packed_layout::event_off_wrap, enc(m_.avail));
      g_.expect16(kDevEvOff + ring::packed_layout::event_flags, ring::event_flag::desc);
    } else {
      g_.expect16(kDevEvOff + ring::packed_layout::event_flags, ring::event_flag::enable);
    }
    FUZZ_CHECK(r && *r == packed_flag::is_avail(ring_desc(m_.avail.slot).flags, m_.avail.wrap));
  }

  void op_disable() {
    dev_.disable_notifications();
    if (!m_.ready) return;
    m_.notify_enabled = false;
    g_.expect16(kDevEvOff + ring::packed_layout::event_flags, ring::event_flag::disable);
  }

  void op_available() {
    const auto r = dev_.available();
    if (m_.refused(r)) return;
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
      if (faults_.deny || !in_memory(at.raw(), len)) return errc::ring_not_mapped;
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
      g_.write_fill(ring_off(size), 0, 16 * std::size_t{size});
    }
    const auto cfg = make_config(static_cast<std::uint16_t>(size), features, variant);
    const auto r = vireo_fuzz::configure_or_create(dev_, faulty_, cfg, v & 8u);
    m_.reset_queue();
    const auto expect = expect_configure(cfg);
    if (!r && (faults_.after || faults_.range) && r.error() == errc::ring_not_mapped &&
        expect != errc::bad_queue_size)
      return;  // an injected fault hit one of the ring areas
    if (!vireo_fuzz::succeeded_as_expected(r, expect)) return;
    m_.configured(cfg.size, features);
    drv_.size = cfg.size;
    drv_.ring = ring_off(cfg.size);
    drv_.cur = pos{};
    drv_.held = false;
  }

  void op_remap() {
    if (vireo_fuzz::remap_unconfigured(dev_, m_, faults_,
                                       faults_.deny || faults_.after || faults_.range))
      m_.reset_queue();
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

  byte_source in_;
  guest_t g_;
  mem_t faulty_;
  device_t dev_;
  model m_;
  driver_side drv_;
  vireo_fuzz::fault_state faults_;
  script_t script_;
  vireo_fuzz::token_memory<kTokens> tokens_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  harness h{data, size};
  h.run();
  return 0;
}
