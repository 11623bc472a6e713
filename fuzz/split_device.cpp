// SPDX-License-Identifier: Apache-2.0
// Fuzz target: ring::split_device against a hostile driver. The input decodes into a queue size,
// features, a descriptor table, indirect tables and a script of up to 256 operations (driver-side
// ring writes, pop, push, notification calls, reset/configure, cursor reads and writes, injected
// memory faults). Every step is checked against a small model. Input format: docs/fuzzing.md.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "cursor_script.hpp"
#include "fuzz_input.hpp"
#include "guest_memory.hpp"
#include "ring_fuzz_common.hpp"
#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/ring/split_device.hpp"

namespace {

using vireo::errc;
using vireo::gpa;
namespace ring = vireo::ring;
namespace chain = vireo::chain;

using vireo_fuzz::byte_source;
using vireo_fuzz::fails_with;

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

using guest_t = vireo_fuzz::guest_memory<kBase, kMemSize>;
using mem_t = vireo::faulty_memory<vireo::flat_memory>;
using device_t = ring::split_device<mem_t, kSegs>;
using chain_t = device_t::chain_type;
using script_t = vireo_fuzz::cursor_script<chain_t, mem_t, kSlots, kCursors, kScratch>;
using segments = script_t::segments;

constexpr vireo_fuzz::hostile_areas kAreas{kBase, kMemSize, kIndOff, kIndSize, kDataOff, kDataSize};

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
  const vireo_fuzz::hostile_buffer b = vireo_fuzz::decode_hostile(kAreas, ctl, a, l);
  return {b.addr, b.len, b.flags, nx};
}

bool is_ring_fatal(errc e) noexcept {
  return e == errc::avail_idx_jump || e == errc::head_out_of_range;
}

/// What pop may report for a malformed chain (the head is consumed, rejected() names it).
bool is_chain_error(errc e) noexcept {
  return e == errc::desc_index_out_of_range || vireo_fuzz::is_chain_error_of_both(e);
}

bool ranges_overlap(std::uint64_t a, std::uint64_t alen, std::uint64_t b, std::uint64_t blen) {
  return a < b + blen && b < a + alen;
}

const std::byte* pattern() {
  return vireo_fuzz::fixed_pattern<kMemSize>([](std::size_t i) { return std::byte(i * 7 + 3); });
}

// ---- model --------------------------------------------------------------------------------------

/// What the device should be doing, tracked independently of its internals.
struct model : vireo_fuzz::device_model {
  std::uint16_t next_avail = 0;     // next avail ring position to pop
  std::uint16_t shadow = 0;         // avail.idx as last read by the device
  std::uint16_t used_idx = 0;
  std::uint16_t next_push_seq = 0;  // IN_ORDER: seq of the next chain to complete
  bool pushed = false;              // pushed since the last notification decision
  std::uint16_t signalled = 0;

  void reset_queue() noexcept {
    unconfigure();
    next_avail = shadow = used_idx = next_push_seq = signalled = 0;
    pushed = false;
  }
};

using vireo_fuzz::ref_seg;

/// The reference outcome of walking a chain: accepted (with its segments) or rejected.
struct ref_chain {
  bool ok = false;
  std::array<ref_seg, kSegs> segs{};
  std::size_t count = 0;
  std::size_t readable = 0;
  std::uint64_t rlen = 0, wlen = 0;
};

class harness {
 public:
  harness(const std::uint8_t* data, std::size_t size)
      : in_(data, size), faulty_(g_.flat()), dev_(faulty_), script_(in_, g_.host(), kBase) {
    g_.load(pattern());
    g_.write_fill(0, 0, kDataOff);  // rings and tables start zeroed
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
    m_.configured(size, features);

    for (int op = 0; op < kMaxOps && !in_.empty(); ++op) {
      step(in_.u8());
      check_global();
    }
    check_protected();
  }

  // ---- how device writes through cursors show in memory (cursor_script's observer) -----------

  /// A writable segment over the descriptor table, the avail ring or an indirect table is the
  /// hostile driver's doing: writes through it are sanctioned, so the protected areas are checked
  /// before such a write and taken as they are after it.
  void before_write(segments w) const {
    if (touches_protected(w)) check_protected();
  }
  void after_write(segments w) {
    if (touches_protected(w)) resnap_protected();
  }
  /// Where writable segments do not overlap, what a copy wrote must be in memory as it was given.
  void wrote(segments w, std::size_t at, std::size_t n, const std::byte* data) const {
    if (!disjoint(w)) return;
    vireo_fuzz::for_each_piece(w, at, n, [&](std::uint64_t addr, std::size_t done, std::size_t piece) {
      FUZZ_CHECK(std::memcmp(data + done, g_.host() + guest_t::offset_of(addr), piece) == 0);
    });
  }
  void write_failed(segments, std::size_t, std::size_t) const noexcept {}
  void wrote_view(std::byte*, std::uint8_t, std::size_t) const noexcept {}

 private:
  // ---- raw memory helpers -------------------------------------------------------------------

  void put_desc(std::size_t off, const raw_desc& d) noexcept {
    ring::split_desc w;
    w.addr.set(d.addr);
    w.len.set(d.len);
    w.flags.set(d.flags);
    w.next.set(d.next);
    g_.write(off, &w, sizeof w);
  }
  raw_desc desc_at(std::size_t off) const noexcept {
    ring::split_desc w;
    std::memcpy(&w, g_.host() + off, sizeof w);
    return {w.addr.get(), w.len.get(), w.flags.get(), w.next.get()};
  }
  std::uint16_t mask() const noexcept { return static_cast<std::uint16_t>(m_.size - 1); }

  /// The device never writes the descriptor table, indirect tables or the avail ring (§2.7.5.1):
  /// the protected areas must still hold exactly what the driver side wrote.
  void check_protected() const {
    FUZZ_CHECK(g_.matches_shadow(0, kUsedOff));
    FUZZ_CHECK(g_.matches_shadow(kIndOff, kIndSize));
  }
  void resnap_protected() {
    g_.accept(0, kUsedOff);
    g_.accept(kIndOff, kIndSize);
  }
  static bool touches_protected(segments w) noexcept {
    for (const auto& seg : w)
      if (ranges_overlap(seg.addr.raw(), seg.len, kBase, kUsedOff) ||
          ranges_overlap(seg.addr.raw(), seg.len, kBase + kIndOff, kIndSize))
        return true;
    return false;
  }
  static bool disjoint(segments w) noexcept {
    for (std::size_t i = 0; i < w.size(); ++i)
      for (std::size_t j = i + 1; j < w.size(); ++j)
        if (ranges_overlap(w[i].addr.raw(), w[i].len, w[j].addr.raw(), w[j].len)) return false;
    return true;
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
    vireo_fuzz::negotiate(c, features);
    return c;
  }

  // ---- invariants checked after every step ----------------------------------------------------

  void check_global() const {
    m_.check_lifecycle(dev_, is_ring_fatal);
    if (m_.ready) {
      FUZZ_CHECK(dev_.state().next_avail == m_.next_avail);
      FUZZ_CHECK(dev_.state().used_idx == m_.used_idx);
    }
  }

  // ---- the script ---------------------------------------------------------------------------

  void step(std::uint8_t opcode) {
    switch (opcode % 22) {
      case 0: op_publish(); break;
      case 1: op_publish_many(); break;
      case 2: op_set_avail_idx(); break;
      case 3: g_.put16(kAvailOff + ring::split_layout::avail_flags, in_.u8() & 1u); break;
      case 4: g_.put16(kAvailOff + ring::split_layout::used_event(avail_size()), in_.u16()); break;
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
      case 18: script_.read_op(faults_); break;
      case 19: script_.write_op(faults_, *this); break;
      case 20: script_.fresh_op(); break;
      default:  // fail_range over the data area
        vireo_fuzz::inject_fault(in_, faulty_, faults_, [](std::uint16_t start) {
          return kBase + kDataOff + start % kDataSize;
        });
        break;
    }
  }

  std::uint16_t avail_size() const noexcept { return m_.size ? m_.size : 1; }

  void op_publish() {
    const std::uint8_t h = in_.u8();
    const std::uint16_t n = avail_size();
    // Mostly valid heads; 0xf0.. name heads beyond the queue.
    const std::uint16_t head = h < 0xf0 ? static_cast<std::uint16_t>(h % n)
                                        : static_cast<std::uint16_t>(n + (h & 0xfu));
    const std::uint16_t idx = g_.get16(kAvailOff + ring::split_layout::avail_idx);
    g_.put16(kAvailOff + ring::split_layout::avail_ring(idx & (n - 1u)), head);
    g_.put16(kAvailOff + ring::split_layout::avail_idx, static_cast<std::uint16_t>(idx + 1));
  }
  void op_publish_many() {
    const unsigned count = in_.u8() % 9u;
    const std::uint8_t first = in_.u8();
    const std::uint16_t n = avail_size();
    std::uint16_t idx = g_.get16(kAvailOff + ring::split_layout::avail_idx);
    for (unsigned i = 0; i < count; ++i, ++idx)
      g_.put16(kAvailOff + ring::split_layout::avail_ring(idx & (n - 1u)),
            static_cast<std::uint16_t>((first + i) % n));
    g_.put16(kAvailOff + ring::split_layout::avail_idx, idx);
  }
  void op_set_avail_idx() {
    const std::uint8_t mode = in_.u8();
    const std::uint16_t idx = g_.get16(kAvailOff + ring::split_layout::avail_idx);
    std::uint16_t v;
    switch (mode & 3u) {
      case 0: v = in_.u16(); break;
      case 1: v = static_cast<std::uint16_t>(idx + (mode >> 2) % (2u * avail_size() + 2u)); break;
      case 2: v = static_cast<std::uint16_t>(idx - (mode >> 2)); break;
      default:  // just past the window the device accepts, or at its edge
        v = static_cast<std::uint16_t>(m_.next_avail + avail_size() + (mode >> 2) % 2u);
        break;
    }
    g_.put16(kAvailOff + ring::split_layout::avail_idx, v);
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
      if (!guest_t::contains(addr, len)) return false;
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
    if (len == 0 || len % 16 != 0 || !guest_t::contains(table, len)) return out;
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

  void op_pop() {
    const std::uint8_t sel = in_.u8();
    script_t::slot& s = script_.slot_for(sel);
    s.live = false;
    const vireo::result<bool> got = vireo_fuzz::pop_either_way(dev_, s.chain, sel & 0x80u);
    if (m_.refused(got)) return;
    const std::uint16_t seq = m_.next_avail;
    if (seq == m_.shadow) {
      const std::uint16_t idx = g_.get16(kAvailOff + ring::split_layout::avail_idx);
      if (static_cast<std::uint16_t>(idx - seq) > m_.size) {
        FUZZ_CHECK(fails_with(got, errc::avail_idx_jump));
        m_.mark_broken();
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
    const std::uint16_t head = g_.get16(kAvailOff + ring::split_layout::avail_ring(seq & mask()));
    ++m_.next_avail;
    if (m_.event_idx && m_.notify_enabled)  // a kick is asked for the next entry
      FUZZ_CHECK(g_.get16(kUsedOff + ring::split_layout::avail_event(m_.size)) == m_.next_avail);
    if (head >= m_.size) {
      FUZZ_CHECK(fails_with(got, errc::head_out_of_range));
      m_.mark_broken();
      return;
    }

    const bool exact = faults_.exact();  // no injected faults: the outcome is determined
    const ref_chain ref = exact ? reference_walk(head) : ref_chain{};
    if (!got) {
      FUZZ_CHECK(is_chain_error(got.error()));
      const auto rej = dev_.rejected();
      FUZZ_CHECK(rej.has_value() && rej->id == head && rej->seq == seq && rej->slots == 1);
      if (exact) FUZZ_CHECK(!ref.ok);
      tokens_.remember(*rej);
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
      vireo_fuzz::check_segment(seg, g_, faults_);
      rlen += seg.len;
    }
    for (const auto& seg : c.writable()) {
      vireo_fuzz::check_segment(seg, g_, faults_);
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

    script_.open(s);
    tokens_.remember(t);
  }

  // ---- push -----------------------------------------------------------------------------------

  /// A remembered token, or one made up: u8 id, u16 seq, u8 writable_len.
  chain::used_token pick_token() {
    return tokens_.pick(in_, [&] {
      chain::used_token t;
      t.id = in_.u8();
      t.slots = 1;
      t.seq = in_.u16();
      t.writable_len = in_.u8();
      return t;
    });
  }
  std::uint32_t pick_len(const chain::used_token& t) {
    return vireo_fuzz::pick_used_len(in_, t.writable_len);
  }
  /// The error check_push must report for an entry, or nullopt.
  std::optional<errc> expect_push(const chain::used_token& t, std::uint32_t len,
                                  std::uint16_t seq) const noexcept {
    if (!m_.ready) return m_.not_ready_error();
    if (len > t.writable_len) return errc::used_len_too_large;
    if (t.id >= m_.size) return errc::invalid_argument;
    if (m_.in_order && t.seq != seq) return errc::in_order_violation;
    return std::nullopt;
  }
  void check_used_elem(std::uint16_t at, std::uint16_t id, std::uint32_t len) const {
    const std::size_t off = kUsedOff + ring::split_layout::used_ring(at & mask());
    FUZZ_CHECK(g_.get32(off) == id && g_.get32(off + 4) == len);
  }

  void op_push() {
    const chain::used_token t = pick_token();
    const std::uint32_t len = pick_len(t);
    const auto expect = expect_push(t, len, m_.next_push_seq);
    if (!vireo_fuzz::succeeded_as_expected(dev_.push_used(t, len), expect)) return;
    check_used_elem(m_.used_idx, t.id, len);
    ++m_.used_idx;
    ++m_.next_push_seq;
    m_.pushed = true;
    FUZZ_CHECK(g_.get16(kUsedOff + ring::split_layout::used_idx) == m_.used_idx);
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
    const std::span<const ring::used_entry> entries{batch.data(), n};
    if (!vireo_fuzz::push_batch_as_expected(dev_, m_, entries, expect)) return;
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
    FUZZ_CHECK(g_.get16(kUsedOff + ring::split_layout::used_idx) == m_.used_idx);
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
        expect = (g_.get16(kAvailOff + ring::split_layout::avail_flags) & 1u) == 0;
      } else if (!valid) {
        expect = true;
      } else {  // notify iff used_event is in the published window [old, used_idx)
        const std::uint16_t event = g_.get16(kAvailOff + ring::split_layout::used_event(m_.size));
        expect = vireo_fuzz::split_event_passed(old, m_.used_idx, event);
      }
    }
    FUZZ_CHECK(got == expect);
  }

  /// The outcome refresh_avail must have: avail_idx_jump, or whether anything is pending.
  std::optional<bool> expect_refresh() noexcept {
    const std::uint16_t idx = g_.get16(kAvailOff + ring::split_layout::avail_idx);
    if (static_cast<std::uint16_t>(idx - m_.next_avail) > m_.size) return std::nullopt;
    m_.shadow = idx;
    return idx != m_.next_avail;
  }

  void op_enable() {
    const auto r = dev_.enable_notifications();
    if (m_.refused(r)) return;
    m_.notify_enabled = true;
    if (m_.event_idx)
      FUZZ_CHECK(g_.get16(kUsedOff + ring::split_layout::avail_event(m_.size)) == m_.next_avail);
    else
      FUZZ_CHECK(g_.get16(kUsedOff + ring::split_layout::used_flags) == 0);
    const auto expect = expect_refresh();
    if (!expect) {
      FUZZ_CHECK(fails_with(r, errc::avail_idx_jump));
      m_.mark_broken();
      return;
    }
    FUZZ_CHECK(r && *r == *expect);
  }

  void op_disable() {
    dev_.disable_notifications();
    if (!m_.ready) return;
    m_.notify_enabled = false;
    if (!m_.event_idx) FUZZ_CHECK(g_.get16(kUsedOff + ring::split_layout::used_flags) == 1);
  }

  void op_available() {
    const auto r = dev_.available();
    if (m_.refused(r)) return;
    const std::uint16_t idx = g_.get16(kAvailOff + ring::split_layout::avail_idx);
    if (!expect_refresh()) {
      FUZZ_CHECK(fails_with(r, errc::avail_idx_jump));
      m_.mark_broken();
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
    const auto r = vireo_fuzz::configure_or_create(dev_, faulty_, cfg, v & 0x20u);
    m_.reset_queue();
    if (size == 0 || size == 3) {
      FUZZ_CHECK(fails_with(r, errc::bad_queue_size));
      return;
    }
    switch (variant) {
      case 1: FUZZ_CHECK(fails_with(r, errc::ring_misaligned)); return;
      case 2:
      case 3:  // an earlier area's mapping may fail first under injected faults
        FUZZ_CHECK(!r && (r.error() == errc::ring_misaligned ||
                          ((faults_.deny || faults_.after) && r.error() == errc::ring_not_mapped)));
        return;
      case 4:
      case 5: FUZZ_CHECK(fails_with(r, errc::ring_not_mapped)); return;
      default: break;
    }
    if (faults_.deny) {
      FUZZ_CHECK(fails_with(r, errc::ring_not_mapped));
      return;
    }
    if (faults_.after && !r) {
      FUZZ_CHECK(r.error() == errc::ring_not_mapped);
      return;
    }
    FUZZ_CHECK(r.has_value());
    m_.configured(size, features);
  }

  /// fail_range covers only buffers here, never a ring area: only deny_map and fail_after can
  /// make the rings fail to map again.
  void op_remap() {
    if (vireo_fuzz::remap_unconfigured(dev_, m_, faults_, faults_.deny || faults_.after))
      m_.reset_queue();
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
    FUZZ_CHECK(g_.get16(kUsedOff + ring::split_layout::used_idx) == ui);
  }

  byte_source in_;
  guest_t g_;
  mem_t faulty_;
  device_t dev_;
  model m_;
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
