// SPDX-License-Identifier: Apache-2.0
// Fuzz target: ring::split_device against a hostile driver. The input decodes into a queue size,
// features, a descriptor table, indirect tables and a script of up to 256 operations (driver-side
// ring writes, pop, push, notification calls, reset/configure, cursor reads and writes, injected
// memory faults). Every step is checked against a small model. Input format: docs/fuzzing.md.
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
#include "vireo/ring/split_device.hpp"

namespace {

using vireo::errc;
using vireo::gpa;
namespace ring = vireo::ring;
namespace chain = vireo::chain;

// ---- input --------------------------------------------------------------------------------------

using vireo_fuzz::byte_source;

// ---- guest memory layout ------------------------------------------------------------------------

constexpr std::uint64_t kBase = 0x10000;  // guest address of byte 0 (non-zero on purpose)
constexpr std::size_t kDescOff = 0x0000;  // descriptor table (room for 256 entries)
constexpr std::size_t kAvailOff = 0x1000; // available ring
constexpr std::size_t kUsedOff = 0x2000;  // used ring
constexpr std::size_t kIndOff = 0x3000;   // indirect tables (256 descriptors)
constexpr std::size_t kDataOff = 0x4000;  // buffers
constexpr std::size_t kMemSize = 0x5000;
constexpr std::size_t kIndSize = kDataOff - kIndOff;
constexpr std::size_t kDataSize = kMemSize - kDataOff;

constexpr std::size_t kSegs = 8;     // split_device<M, 8>: segment_limit is reachable
constexpr std::size_t kSlots = 4;    // chains held at once
constexpr std::size_t kCursors = 3;  // readers (and writers) per chain
constexpr std::size_t kTokens = 16;  // remembered used tokens
constexpr int kMaxOps = 256;
constexpr std::size_t kScratch = kSegs * kMemSize + 1;  // largest stream a chain can have, + 1

using mem_t = vireo::faulty_memory<vireo::flat_memory>;
using device_t = ring::split_device<mem_t, kSegs>;
using chain_t = device_t::chain_type;
using reader_t = chain::reader<mem_t>;
using writer_t = chain::writer<mem_t>;

struct raw_desc {
  std::uint64_t addr = 0;
  std::uint32_t len = 0;
  std::uint16_t flags = 0;
  std::uint16_t next = 0;
};

/// 8 input bytes -> one descriptor that mostly points into the data area or an indirect table.
/// ctl: bits 0-2 flags, 3-4 address mode, 5-7 length mode; then next (u8), a (u16), l (u32).
raw_desc decode_desc(byte_source& in) noexcept {
  const std::uint8_t ctl = in.u8();
  const std::uint8_t nx = in.u8();
  const std::uint16_t a = in.u16();
  const std::uint32_t l = in.u32();
  raw_desc d;
  d.flags = ctl & 7u;
  d.next = nx;
  switch ((ctl >> 3) & 3u) {
    case 0:
    case 1: d.addr = kBase + kDataOff + a % kDataSize; break;
    case 2:
      d.addr = kBase + kIndOff + ((a & 0x8000u) ? a % kIndSize : (a % 256u) * 16u);
      break;
    default:
      switch (a >> 14) {
        case 0: d.addr = a & 0x3fffu; break;                          // below guest memory
        case 1: d.addr = kBase + kMemSize - (a & 0xffu); break;       // straddles the end
        case 2: d.addr = UINT64_MAX - (a & 0xfffu); break;            // addr + len wraps
        default: d.addr = kBase + (a & 0x3fffu) % kMemSize; break;    // anywhere, rings included
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

bool is_ring_fatal(errc e) noexcept {
  return e == errc::avail_idx_jump || e == errc::head_out_of_range;
}

/// What pop may report for a malformed chain (the head is consumed, rejected() names it).
bool is_chain_error(errc e) noexcept {
  switch (e) {
    case errc::desc_index_out_of_range:
    case errc::chain_too_long:
    case errc::indirect_in_indirect:
    case errc::indirect_with_next:
    case errc::indirect_not_negotiated:
    case errc::indirect_table_size:
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

bool ranges_overlap(std::uint64_t a, std::uint64_t alen, std::uint64_t b, std::uint64_t blen) {
  return a < b + blen && b < a + alen;
}

const std::byte* pattern() {
  return vireo_fuzz::fixed_pattern<kMemSize>([](std::size_t i) { return std::byte(i * 7 + 3); });
}

using vireo_fuzz::free_aligned;

// ---- model --------------------------------------------------------------------------------------

/// What the device should be doing, tracked independently of its internals.
struct model {
  bool ready = false;
  bool broken = false;
  std::uint16_t size = 0;
  bool event_idx = false, indirect = false, in_order = false;
  std::uint16_t next_avail = 0;     // next avail ring position to pop
  std::uint16_t shadow = 0;         // avail.idx as last read by the device
  std::uint16_t used_idx = 0;
  std::uint16_t next_push_seq = 0;  // IN_ORDER: seq of the next chain to complete
  bool notify_enabled = true;
  bool pushed = false;              // pushed since the last notification decision
  bool signalled_valid = false;
  std::uint16_t signalled = 0;
  // faults currently configured on the faulty_memory
  bool deny = false, after = false, range = false;

  void reset_queue() noexcept {
    ready = broken = false;
    next_avail = shadow = used_idx = next_push_seq = signalled = 0;
    notify_enabled = true;
    pushed = signalled_valid = false;
  }
};

struct ref_seg {
  std::uint64_t addr;
  std::uint32_t len;
  bool writable;
};

/// The reference outcome of walking a chain: accepted (with its segments) or rejected.
struct ref_chain {
  bool ok = false;
  std::array<ref_seg, kSegs> segs{};
  std::size_t count = 0;
  std::size_t readable = 0;
  std::uint64_t rlen = 0, wlen = 0;
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
  bool w_disjoint = false;         // writable segments do not overlap each other
  bool w_touches_protected = false;// a writable segment covers the descriptor or avail area
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
    std::memset(mem_.get(), 0, kDataOff);  // rings and tables start zeroed
    std::memcpy(shadow_.data(), mem_.get(), kMemSize);
  }

  void run() {
    const std::uint16_t size = static_cast<std::uint16_t>(1u << (in_.u8() % 9));
    const std::uint8_t features = in_.u8();
    const unsigned ndesc = in_.u8();
    for (unsigned i = 0; i < ndesc; ++i) put_desc(kDescOff + 16 * std::size_t{i}, decode_desc(in_));
    const unsigned nind = in_.u8() % 32u;
    for (unsigned i = 0; i < nind; ++i) {
      const unsigned at = in_.u8();
      put_desc(kIndOff + 16 * std::size_t{at}, decode_desc(in_));
    }
    auto r = dev_.configure(make_config(size, features, 0));
    FUZZ_CHECK(r.has_value());
    m_.reset_queue();
    set_queue(size, features);

    for (int op = 0; op < kMaxOps && !in_.empty(); ++op) {
      step(in_.u8());
      check_global();
    }
    check_protected();
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
  /// A driver-side write: goes to memory and to the shadow of what the device may not change.
  void driver_write(std::size_t off, const void* p, std::size_t n) noexcept {
    std::memcpy(mem_.get() + off, p, n);
    std::memcpy(shadow_.data() + off, p, n);
  }
  void put16(std::size_t off, std::uint16_t v) noexcept {
    const std::uint8_t b[2] = {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8)};
    driver_write(off, b, 2);
  }
  void put_desc(std::size_t off, const raw_desc& d) noexcept {
    ring::split_desc w;
    w.addr.set(d.addr);
    w.len.set(d.len);
    w.flags.set(d.flags);
    w.next.set(d.next);
    driver_write(off, &w, sizeof w);
  }
  raw_desc desc_at(std::size_t off) const noexcept {
    ring::split_desc w;
    std::memcpy(&w, mem_.get() + off, sizeof w);
    return {w.addr.get(), w.len.get(), w.flags.get(), w.next.get()};
  }
  static bool in_memory(std::uint64_t addr, std::uint64_t len) noexcept {
    return addr >= kBase && addr - kBase <= kMemSize && len <= kMemSize - (addr - kBase);
  }
  std::uint16_t mask() const noexcept { return static_cast<std::uint16_t>(m_.size - 1); }

  /// The device never writes the descriptor table, indirect tables or the avail ring (§2.7.5.1):
  /// the protected areas must still hold exactly what the driver side wrote.
  void check_protected() const {
    FUZZ_CHECK(std::memcmp(mem_.get(), shadow_.data(), kUsedOff) == 0);
    FUZZ_CHECK(std::memcmp(mem_.get() + kIndOff, shadow_.data() + kIndOff, kIndSize) == 0);
  }
  void resnap_protected() {
    std::memcpy(shadow_.data(), mem_.get(), kUsedOff);
    std::memcpy(shadow_.data() + kIndOff, mem_.get() + kIndOff, kIndSize);
  }

  // ---- configuration --------------------------------------------------------------------------

  static ring::queue_config make_config(std::uint16_t size, std::uint8_t features,
                                        std::uint8_t variant) noexcept {
    ring::queue_config c;
    c.size = size;
    c.desc_table = gpa{kBase + kDescOff};
    c.driver_area = gpa{kBase + kAvailOff};
    c.device_area = gpa{kBase + kUsedOff};
    switch (variant) {
      case 1: c.desc_table = gpa{kBase + kDescOff + 8}; break;       // misaligned (16)
      case 2: c.driver_area = gpa{kBase + kAvailOff + 1}; break;     // misaligned (2)
      case 3: c.device_area = gpa{kBase + kUsedOff + 2}; break;      // misaligned (4)
      case 4: c.device_area = gpa{kBase + kMemSize - 8}; break;      // runs off the end
      case 5: c.desc_table = gpa{kBase - 0x1000}; break;             // below memory
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
      FUZZ_CHECK(dev_.state().next_avail == m_.next_avail);
      FUZZ_CHECK(dev_.state().used_idx == m_.used_idx);
    }
  }
  /// The error a not-ready queue must give: queue_broken until reset after a ring error.
  errc not_ready_error() const noexcept {
    return m_.broken ? errc::queue_broken : errc::queue_not_ready;
  }
  void mark_broken() noexcept {
    m_.ready = false;
    m_.broken = true;
  }

  // ---- the script ---------------------------------------------------------------------------

  void step(std::uint8_t opcode) {
    switch (opcode % 22) {
      case 0: op_publish(); break;
      case 1: op_publish_many(); break;
      case 2: op_set_avail_idx(); break;
      case 3: put16(kAvailOff + ring::split_layout::avail_flags, in_.u8() & 1u); break;
      case 4: put16(kAvailOff + ring::split_layout::used_event(avail_size()), in_.u16()); break;
      case 5: {
        const unsigned at = in_.u8();
        put_desc(kDescOff + 16 * std::size_t{at}, decode_desc(in_));
        break;
      }
      case 6: {
        const unsigned at = in_.u8();
        put_desc(kIndOff + 16 * std::size_t{at}, decode_desc(in_));
        break;
      }
      case 7: op_pop(); break;
      case 8: op_push(); break;
      case 9: op_push_batch(); break;
      case 10: op_needs_notification(); break;
      case 11: op_enable(); break;
      case 12: op_disable(); break;
      case 13: op_available(); break;
      case 14:
        dev_.reset();
        m_.reset_queue();
        break;
      case 15: op_configure(); break;
      case 16: op_remap(); break;
      case 17: op_restore(); break;
      case 18: op_reader(); break;
      case 19: op_writer(); break;
      case 20: op_fresh_cursor(); break;
      default: op_fault(); break;
    }
  }

  std::uint16_t avail_size() const noexcept { return m_.size ? m_.size : 1; }

  void op_publish() {
    const std::uint8_t h = in_.u8();
    const std::uint16_t n = avail_size();
    // Mostly valid heads; 0xf0.. name heads beyond the queue.
    const std::uint16_t head = h < 0xf0 ? static_cast<std::uint16_t>(h % n)
                                        : static_cast<std::uint16_t>(n + (h & 0xfu));
    const std::uint16_t idx = get16(kAvailOff + ring::split_layout::avail_idx);
    put16(kAvailOff + ring::split_layout::avail_ring(idx & (n - 1u)), head);
    put16(kAvailOff + ring::split_layout::avail_idx, static_cast<std::uint16_t>(idx + 1));
  }
  void op_publish_many() {
    const unsigned count = in_.u8() % 9u;
    const std::uint8_t first = in_.u8();
    const std::uint16_t n = avail_size();
    std::uint16_t idx = get16(kAvailOff + ring::split_layout::avail_idx);
    for (unsigned i = 0; i < count; ++i, ++idx)
      put16(kAvailOff + ring::split_layout::avail_ring(idx & (n - 1u)),
            static_cast<std::uint16_t>((first + i) % n));
    put16(kAvailOff + ring::split_layout::avail_idx, idx);
  }
  void op_set_avail_idx() {
    const std::uint8_t mode = in_.u8();
    const std::uint16_t idx = get16(kAvailOff + ring::split_layout::avail_idx);
    std::uint16_t v;
    switch (mode & 3u) {
      case 0: v = in_.u16(); break;
      case 1: v = static_cast<std::uint16_t>(idx + (mode >> 2) % (2u * avail_size() + 2u)); break;
      case 2: v = static_cast<std::uint16_t>(idx - (mode >> 2)); break;
      default:  // just past the window the device accepts, or at its edge
        v = static_cast<std::uint16_t>(m_.next_avail + avail_size() + (mode >> 2) % 2u);
        break;
    }
    put16(kAvailOff + ring::split_layout::avail_idx, v);
  }

  // ---- reference chain walk -------------------------------------------------------------------

  struct ref_builder {
    ref_chain& out;
    bool seen_w = false;
    bool overflow = false;
    std::uint64_t total = 0;
    bool add(std::uint64_t addr, std::uint32_t len, bool w) {
      if (w) seen_w = true;
      else if (seen_w) return false;  // readable after writable
      total += len;
      if (total > UINT32_MAX) return false;
      if (len == 0) return true;
      if (len - 1 > UINT64_MAX - addr) return false;
      if (!in_memory(addr, len)) return false;
      if (out.count == kSegs) {
        overflow = true;
        return true;
      }
      out.segs[out.count++] = ref_seg{addr, len, w};
      if (w) out.wlen += len;
      else {
        ++out.readable;
        out.rlen += len;
      }
      return true;
    }
  };

  /// An independent walk of the chain at `head`: loops are found with a visited set rather than
  /// a hop budget, and every range is checked against the flat buffer directly.
  ref_chain reference_walk(std::uint16_t head) const {
    ref_chain out;
    ref_builder b{out};
    std::array<bool, 256> seen{};
    std::uint16_t i = head;
    for (;;) {
      if (seen[i]) return out;  // loop
      seen[i] = true;
      const raw_desc d = desc_at(kDescOff + 16 * std::size_t{i});
      if (d.flags & ring::desc_flag::indirect) {
        if (!m_.indirect || (d.flags & ring::desc_flag::next)) return out;
        return reference_indirect(d.addr, d.len, b);
      }
      if (!b.add(d.addr, d.len, d.flags & ring::desc_flag::write)) return out;
      if (!(d.flags & ring::desc_flag::next)) {
        out.ok = !b.overflow;
        return out;
      }
      if (d.next >= m_.size) return out;
      i = d.next;
    }
  }
  ref_chain reference_indirect(std::uint64_t table, std::uint32_t len, ref_builder& b) const {
    ref_chain& out = b.out;
    if (len == 0 || len % 16 != 0 || !in_memory(table, len)) return out;
    const std::size_t entries = len / 16;
    std::vector<bool> seen(entries);
    std::size_t i = 0;
    for (;;) {
      if (seen[i]) return out;
      seen[i] = true;
      const raw_desc d = desc_at(static_cast<std::size_t>(table - kBase) + 16 * i);
      if (d.flags & ring::desc_flag::indirect) return out;
      if (!b.add(d.addr, d.len, d.flags & ring::desc_flag::write)) return out;
      if (!(d.flags & ring::desc_flag::next)) {
        out.ok = !b.overflow;
        return out;
      }
      if (d.next >= entries) return out;
      i = d.next;
    }
  }

  // ---- pop ------------------------------------------------------------------------------------

  void check_segment(const chain::segment& s) const {
    FUZZ_CHECK(s.len > 0);
    FUZZ_CHECK(in_memory(s.addr.raw(), s.len));  // every segment lies inside the flat buffer
    const std::size_t off = static_cast<std::size_t>(s.addr.raw() - kBase);
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
    const std::uint16_t seq = m_.next_avail;
    if (seq == m_.shadow) {
      const std::uint16_t idx = get16(kAvailOff + ring::split_layout::avail_idx);
      if (static_cast<std::uint16_t>(idx - seq) > m_.size) {
        FUZZ_CHECK(!got && got.error() == errc::avail_idx_jump);
        mark_broken();
        return;
      }
      m_.shadow = idx;
      if (idx == seq) {
        FUZZ_CHECK(got && !*got);
        FUZZ_CHECK(s.chain.empty());
        FUZZ_CHECK(!dev_.rejected());
        return;
      }
    }
    const std::uint16_t head = get16(kAvailOff + ring::split_layout::avail_ring(seq & mask()));
    ++m_.next_avail;
    if (m_.event_idx && m_.notify_enabled)  // a kick is asked for the next entry
      FUZZ_CHECK(get16(kUsedOff + ring::split_layout::avail_event(m_.size)) == m_.next_avail);
    if (head >= m_.size) {
      FUZZ_CHECK(!got && got.error() == errc::head_out_of_range);
      mark_broken();
      return;
    }

    const bool exact = !m_.after && !m_.range;  // no injected faults: the outcome is determined
    const ref_chain ref = exact ? reference_walk(head) : ref_chain{};
    if (!got) {
      FUZZ_CHECK(is_chain_error(got.error()));
      const auto rej = dev_.rejected();
      FUZZ_CHECK(rej.has_value() && rej->id == head && rej->seq == seq && rej->slots == 1);
      if (exact) FUZZ_CHECK(!ref.ok);
      remember(*rej);
      return;
    }
    FUZZ_CHECK(*got);
    FUZZ_CHECK(!dev_.rejected());
    const chain_t& c = s.chain;
    FUZZ_CHECK(!c.empty());
    const chain::used_token t = c.token();
    FUZZ_CHECK(t.id == head && t.seq == seq && t.slots == 1);
    FUZZ_CHECK(c.readable().size() + c.writable().size() <= kSegs);
    std::uint64_t rlen = 0, wlen = 0;
    for (const auto& seg : c.readable()) {
      check_segment(seg);
      rlen += seg.len;
    }
    for (const auto& seg : c.writable()) {
      check_segment(seg);
      wlen += seg.len;
    }
    FUZZ_CHECK(rlen == c.readable_len() && wlen == c.writable_len() && wlen == t.writable_len);
    FUZZ_CHECK(rlen + wlen <= UINT32_MAX);  // §2.7.5.2
    if (exact) {
      FUZZ_CHECK(ref.ok);
      FUZZ_CHECK(ref.count == c.readable().size() + c.writable().size());
      FUZZ_CHECK(ref.readable == c.readable().size());
      FUZZ_CHECK(ref.rlen == rlen && ref.wlen == wlen);
      for (std::size_t i = 0; i < ref.count; ++i) {
        const chain::segment& seg =
            i < ref.readable ? c.readable()[i] : c.writable()[i - ref.readable];
        FUZZ_CHECK(seg.addr.raw() == ref.segs[i].addr && seg.len == ref.segs[i].len);
      }
    }

    s.live = true;
    s.w_disjoint = true;
    s.w_touches_protected = false;
    const auto w = c.writable();
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (ranges_overlap(w[i].addr.raw(), w[i].len, kBase, kUsedOff) ||
          ranges_overlap(w[i].addr.raw(), w[i].len, kBase + kIndOff, kIndSize))
        s.w_touches_protected = true;
      for (std::size_t j = i + 1; j < w.size(); ++j)
        if (ranges_overlap(w[i].addr.raw(), w[i].len, w[j].addr.raw(), w[j].len))
          s.w_disjoint = false;
    }
    for (auto& r : s.rd) r.live = false;
    for (auto& x : s.wr) x.live = false;
    s.rd[0] = rcur{c.reader(), 0, 0, c.readable_len(), true};
    s.wr[0] = wcur{c.writer(), 0, 0, c.writable_len(), true};
    FUZZ_CHECK(s.rd[0].c.remaining() == rlen && s.rd[0].c.consumed() == 0);
    FUZZ_CHECK(s.wr[0].c.remaining() == wlen && s.wr[0].c.written() == 0);
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
    t.id = in_.u8();
    t.slots = 1;
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
  /// The error check_push must report for an entry, or nullopt.
  std::optional<errc> expect_push(const chain::used_token& t, std::uint32_t len,
                                  std::uint16_t seq) const noexcept {
    if (!m_.ready) return not_ready_error();
    if (len > t.writable_len) return errc::used_len_too_large;
    if (t.id >= m_.size) return errc::invalid_argument;
    if (m_.in_order && t.seq != seq) return errc::in_order_violation;
    return std::nullopt;
  }
  void check_used_elem(std::uint16_t at, std::uint16_t id, std::uint32_t len) const {
    const std::size_t off = kUsedOff + ring::split_layout::used_ring(at & mask());
    FUZZ_CHECK(get32(off) == id && get32(off + 4) == len);
  }

  void op_push() {
    const chain::used_token t = pick_token();
    const std::uint32_t len = pick_len(t);
    const auto expect = expect_push(t, len, m_.next_push_seq);
    const auto r = dev_.push_used(t, len);
    if (expect) {
      FUZZ_CHECK(!r && r.error() == *expect);
      return;
    }
    FUZZ_CHECK(r.has_value());
    check_used_elem(m_.used_idx, t.id, len);
    ++m_.used_idx;
    ++m_.next_push_seq;
    m_.pushed = true;
    FUZZ_CHECK(get16(kUsedOff + ring::split_layout::used_idx) == m_.used_idx);
  }

  void op_push_batch() {
    const std::size_t n = in_.u8() % 5u;
    std::array<ring::used_entry, 4> batch{};
    std::optional<errc> expect;
    bool collapsible = m_.in_order;
    for (std::size_t i = 0; i < n; ++i) {
      batch[i].token = pick_token();
      batch[i].len = pick_len(batch[i].token);
    }
    for (std::size_t i = 0; i < n && !expect; ++i) {
      expect = expect_push(batch[i].token, batch[i].len,
                           static_cast<std::uint16_t>(m_.next_push_seq + i));
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
      check_used_elem(m_.used_idx, batch[n - 1].token.id, batch[n - 1].len);
    } else {
      for (std::size_t i = 0; i < n; ++i)
        if (i + m_.size >= n)  // later entries of an over-long batch overwrite earlier slots
          check_used_elem(static_cast<std::uint16_t>(m_.used_idx + i), batch[i].token.id,
                          batch[i].len);
    }
    m_.used_idx = static_cast<std::uint16_t>(m_.used_idx + n);
    m_.next_push_seq = static_cast<std::uint16_t>(m_.next_push_seq + n);
    m_.pushed = true;
    FUZZ_CHECK(get16(kUsedOff + ring::split_layout::used_idx) == m_.used_idx);
  }

  // ---- notifications --------------------------------------------------------------------------

  void op_needs_notification() {
    const bool got = dev_.needs_notification();
    bool expect = false;
    if (m_.ready && m_.pushed) {
      const std::uint16_t old = m_.signalled;
      const bool valid = m_.signalled_valid;
      m_.pushed = false;
      m_.signalled = m_.used_idx;
      m_.signalled_valid = true;
      if (!m_.event_idx) {
        expect = (get16(kAvailOff + ring::split_layout::avail_flags) & 1u) == 0;
      } else if (!valid) {
        expect = true;
      } else {
        // Brute force over the published window [old, used_idx): notify iff used_event is in it.
        const std::uint16_t event = get16(kAvailOff + ring::split_layout::used_event(m_.size));
        for (std::uint16_t k = old; k != m_.used_idx; ++k)
          if (k == event) expect = true;
      }
    }
    FUZZ_CHECK(got == expect);
  }

  /// The outcome refresh_avail must have: avail_idx_jump, or whether anything is pending.
  std::optional<bool> expect_refresh() noexcept {
    const std::uint16_t idx = get16(kAvailOff + ring::split_layout::avail_idx);
    if (static_cast<std::uint16_t>(idx - m_.next_avail) > m_.size) return std::nullopt;
    m_.shadow = idx;
    return idx != m_.next_avail;
  }

  void op_enable() {
    const auto r = dev_.enable_notifications();
    if (!m_.ready) {
      FUZZ_CHECK(!r && r.error() == not_ready_error());
      return;
    }
    m_.notify_enabled = true;
    if (m_.event_idx)
      FUZZ_CHECK(get16(kUsedOff + ring::split_layout::avail_event(m_.size)) == m_.next_avail);
    else
      FUZZ_CHECK(get16(kUsedOff + ring::split_layout::used_flags) == 0);
    const auto expect = expect_refresh();
    if (!expect) {
      FUZZ_CHECK(!r && r.error() == errc::avail_idx_jump);
      mark_broken();
      return;
    }
    FUZZ_CHECK(r && *r == *expect);
  }

  void op_disable() {
    dev_.disable_notifications();
    if (!m_.ready) return;
    m_.notify_enabled = false;
    if (!m_.event_idx) FUZZ_CHECK(get16(kUsedOff + ring::split_layout::used_flags) == 1);
  }

  void op_available() {
    const auto r = dev_.available();
    if (!m_.ready) {
      FUZZ_CHECK(!r && r.error() == not_ready_error());
      return;
    }
    const std::uint16_t idx = get16(kAvailOff + ring::split_layout::avail_idx);
    if (!expect_refresh()) {
      FUZZ_CHECK(!r && r.error() == errc::avail_idx_jump);
      mark_broken();
      return;
    }
    FUZZ_CHECK(r && *r == static_cast<std::uint16_t>(idx - m_.next_avail));
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  void op_configure() {
    const std::uint8_t sz = in_.u8();
    const std::uint8_t features = in_.u8();
    const std::uint8_t v = in_.u8();
    const std::uint8_t variant = v < 0xc0 ? 0 : v % 6u;
    std::uint16_t size = static_cast<std::uint16_t>(1u << (sz % 9));
    if (sz >= 0xf8) size = static_cast<std::uint16_t>(sz & 1u ? 0 : 3);  // not a valid size
    const auto cfg = make_config(size, features, variant);
    vireo::result<void> r;
    if (v & 0x20u) {
      auto made = device_t::create(faulty_, cfg);
      if (made) dev_ = *made;
      else dev_.reset();  // what a caller that failed to create would do
      r = made ? vireo::ok() : vireo::result<void>{made.error()};
    } else {
      r = dev_.configure(cfg);
    }
    m_.reset_queue();
    if (size == 0 || size == 3) {
      FUZZ_CHECK(!r && r.error() == errc::bad_queue_size);
      return;
    }
    switch (variant) {
      case 1: FUZZ_CHECK(!r && r.error() == errc::ring_misaligned); return;
      case 2:
      case 3:  // an earlier area's mapping may fail first under injected faults
        FUZZ_CHECK(!r && (r.error() == errc::ring_misaligned ||
                          ((m_.deny || m_.after) && r.error() == errc::ring_not_mapped)));
        return;
      case 4:
      case 5: FUZZ_CHECK(!r && r.error() == errc::ring_not_mapped); return;
      default: break;
    }
    if (m_.deny) {
      FUZZ_CHECK(!r && r.error() == errc::ring_not_mapped);
      return;
    }
    if (m_.after && !r) {
      FUZZ_CHECK(r.error() == errc::ring_not_mapped);
      return;
    }
    FUZZ_CHECK(r.has_value());
    set_queue(size, features);
  }

  void op_remap() {
    const auto r = dev_.remap();
    if (!m_.ready) {
      FUZZ_CHECK(!r && r.error() == not_ready_error());
      return;
    }
    if (!r) {  // mapping failed again: the queue is back to its unconfigured state
      FUZZ_CHECK((m_.deny || m_.after) && r.error() == errc::ring_not_mapped);
      m_.reset_queue();
      return;
    }
    FUZZ_CHECK(!m_.deny);
    // Same addresses, same state: nothing in the model changes.
  }

  void op_restore() {
    const std::uint16_t na = in_.u16();
    const std::uint16_t ui = in_.u16();
    if (!m_.ready) return;  // precondition: configured
    dev_.restore(na, ui);
    m_.next_avail = m_.shadow = na;
    m_.used_idx = m_.signalled = ui;
    m_.next_push_seq = na;
    m_.signalled_valid = false;
    FUZZ_CHECK(get16(kUsedOff + ring::split_layout::used_idx) == ui);
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
        faulty_.fail_range(gpa{kBase + kDataOff + start % kDataSize}, std::uint64_t{len} + 1);
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

  /// Copy `n` bytes of a segment stream, starting at stream offset `at`, straight from the buffer.
  void stream_bytes(std::span<const chain::segment> segs, std::size_t at, std::size_t n,
                    std::byte* out) const {
    std::size_t start = 0;
    for (const auto& s : segs) {
      if (n == 0) return;
      const std::size_t end = start + s.len;
      if (at < end) {
        const std::size_t off = at - start;
        const std::size_t piece = s.len - off < n ? s.len - off : n;
        std::memcpy(out, mem_.get() + (s.addr.raw() - kBase) + off, piece);
        out += piece;
        at += piece;
        n -= piece;
      }
      start = end;
    }
    FUZZ_CHECK(n == 0);
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
          stream_bytes(segs, at, n, scratch_b);
          FUZZ_CHECK(n == 0 || std::memcmp(scratch_a, scratch_b, n) == 0);
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
          std::byte* want = expected_view(segs, at, n);
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
    if (s.w_touches_protected) check_protected();  // before the driver-sanctioned change
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
          FUZZ_CHECK(!r && r.error() == errc::no_space);
        } else if (!r) {
          FUZZ_CHECK(copy_may_fail(r.error()));
        } else {
          if (s.w_disjoint) {
            stream_bytes(segs, at, n, scratch_b);
            FUZZ_CHECK(n == 0 || std::memcmp(scratch_a, scratch_b, n) == 0);
          }
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
            std::memset(r->data(), fill, n);
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
    if (s.w_touches_protected) resnap_protected();
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
  std::array<chain_slot, kSlots> slots_{};
  std::array<chain::used_token, kTokens> tokens_{};
  std::size_t ntokens_ = 0;
  static std::byte scratch_a[kScratch];
  static std::byte scratch_b[kScratch];
};

std::byte harness::scratch_a[kScratch];
std::byte harness::scratch_b[kScratch];

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  harness h{data, size};
  h.run();
  return 0;
}
