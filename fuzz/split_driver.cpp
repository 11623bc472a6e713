// SPDX-License-Identifier: Apache-2.0
// Fuzz target: ring::split_driver against a hostile device. The input decodes into a queue size,
// features and a script of up to 256 operations: the driver adds chains, reclaims, decides kicks,
// toggles interrupts and reconfigures; the "device" writes arbitrary used elements, used.idx,
// used.flags and avail_event. Every step is checked against a model. Format: docs/fuzzing.md.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>

#include "fuzz_input.hpp"
#include "guest_memory.hpp"
#include "ring_fuzz_common.hpp"
#include "vireo/ring/split_driver.hpp"

namespace {

using vireo::errc;
using vireo::gpa;
namespace ring = vireo::ring;

using vireo_fuzz::byte_source;
using vireo_fuzz::fails_with;

constexpr std::uint64_t kBase = 0x10000;
constexpr std::size_t kDescOff = 0x0000;
constexpr std::size_t kAvailOff = 0x1000;
constexpr std::size_t kUsedOff = 0x2000;
constexpr std::size_t kUsedArea = 0x1000;
constexpr std::size_t kPoolOff = 0x3000;  // 256 heads x 4 entries x 16 bytes
constexpr std::size_t kDataOff = 0x7000;
constexpr std::size_t kMemSize = 0x8000;
constexpr std::size_t kDataSize = kMemSize - kDataOff;
constexpr std::size_t kMaxQueue = 256;
constexpr std::size_t kMaxBufs = vireo_fuzz::add_request::max_bufs;  // per direction
constexpr int kMaxOps = 256;

using guest_t = vireo_fuzz::guest_memory<kBase, kMemSize>;
using driver_t = ring::split_driver<vireo::flat_memory, kMaxQueue>;

const std::byte* pattern() {
  return vireo_fuzz::fixed_pattern<kMemSize>([](std::size_t i) { return std::byte(i * 11 + 5); });
}

struct head_model {
  bool in_flight = false;
  std::uint16_t ndesc = 0;
  std::array<std::uint16_t, 2 * kMaxBufs> descs{};  // the descriptors this head owns
  std::uint32_t wlen = 0;
  std::uint64_t user = 0;
};

struct model {
  bool ready = false, broken = false;
  std::uint16_t size = 0;
  bool event_idx = false, in_order = false;
  std::uint16_t pool_entries = 0;
  std::array<head_model, kMaxQueue> heads{};
  std::array<std::int32_t, kMaxQueue> owner{};  // descriptor -> head owning it, -1 when free
  std::uint16_t owned = 0;                       // descriptors with an owner
  std::array<std::uint16_t, kMaxQueue> fifo{};  // in-flight heads in submission order
  std::size_t fifo_first = 0, fifo_count = 0;
  std::uint16_t avail_idx = 0;
  std::uint16_t kicked = 0;
  std::uint32_t num_added = 0;
  std::uint16_t last_used = 0;   // buffers retired
  std::uint16_t ahead = 0;       // entries past last_used the device has published at some point
  std::uint16_t next_pos = 0;    // IN_ORDER: where the next chain must start
  std::optional<std::pair<std::uint16_t, std::uint32_t>> batch;  // IN_ORDER batch in progress
  std::uint64_t next_user = 1;

  std::uint16_t mask() const noexcept { return static_cast<std::uint16_t>(size - 1); }
};

class harness {
 public:
  harness(const std::uint8_t* data, std::size_t size) : in_(data, size), drv_(g_.flat()) {
    g_.load(pattern());
  }

  void run() {
    const std::uint8_t sz = in_.u8();
    const std::uint8_t features = in_.u8();
    const std::uint8_t pool = in_.u8();
    const unsigned entries = (features & 2u) ? pool % 5u : 0;  // a pool needs INDIRECT_DESC
    do_configure(static_cast<std::uint16_t>(1u << (sz % 9)), features, entries, 0);
    FUZZ_CHECK(m_.ready);
    for (int op = 0; op < kMaxOps && !in_.empty(); ++op) {
      step(in_.u8());
      check_global();
    }
    // The driver never touches the buffers it hands out.
    FUZZ_CHECK(g_.matches_shadow(kDataOff, kDataSize));
  }

 private:
  std::uint16_t used_idx_mem() const noexcept {
    return g_.get16(kUsedOff + ring::split_layout::used_idx);
  }
  std::pair<std::uint32_t, std::uint32_t> used_elem(std::uint16_t pos) const noexcept {
    const std::size_t off = kUsedOff + ring::split_layout::used_ring(pos & m_.mask());
    return {g_.get32(off), g_.get32(off + 4)};
  }
  /// Every used.idx value the device writes is something the driver may legitimately act on.
  void note_used_idx(std::uint16_t v) noexcept {
    const std::uint16_t d = static_cast<std::uint16_t>(v - m_.last_used);
    if (d <= m_.size && d > m_.ahead) m_.ahead = d;
  }

  errc not_ready_error() const noexcept {
    return m_.broken ? errc::queue_broken : errc::queue_not_ready;
  }

  void check_global() const {
    FUZZ_CHECK(drv_.ready() == m_.ready);
    FUZZ_CHECK(drv_.broken() == m_.broken);
    // The driver never writes the used ring (only configure() initialises it).
    FUZZ_CHECK(g_.matches_shadow(kUsedOff, kUsedArea));
    if (m_.ready || m_.broken) {
      FUZZ_CHECK(drv_.size() == m_.size);
      FUZZ_CHECK(drv_.free_descriptors() + m_.owned == m_.size);
      FUZZ_CHECK(drv_.in_flight() == m_.fifo_count);
      FUZZ_CHECK(drv_.avail_index() == m_.avail_idx);
      FUZZ_CHECK(g_.get16(kAvailOff + ring::split_layout::avail_idx) == m_.avail_idx);
    }
  }

  void step(std::uint8_t opcode) {
    switch (opcode % 14) {
      case 0:
      case 1: op_add(); break;
      case 2:
      case 3: op_device_complete(); break;
      case 4: op_device_write_elem(); break;
      case 5: op_device_set_used_idx(); break;
      case 6: g_.put16(kUsedOff + ring::split_layout::used_flags, in_.u8() & 1u); break;
      case 7:
        g_.put16(kUsedOff + ring::split_layout::avail_event(m_.size ? m_.size : 1), in_.u16());
        break;
      case 8:
      case 9: op_reclaim(); break;
      case 10: op_needs_kick(); break;
      case 11: op_enable(); break;
      case 12: op_disable(); break;
      default: {
        const std::uint8_t sz = in_.u8();
        const std::uint8_t features = in_.u8();
        const std::uint8_t v = in_.u8();
        std::uint16_t size = static_cast<std::uint16_t>(1u << (sz % 9));
        if (sz >= 0xf8) size = static_cast<std::uint16_t>(sz & 1u ? 512 : 3);  // refused
        do_configure(size, features, v % 5u, v >= 0xf0 ? static_cast<unsigned>(v & 1u) + 1 : 0);
        break;
      }
    }
  }

  // ---- configure ----------------------------------------------------------------------------

  void do_configure(std::uint16_t size, std::uint8_t features, unsigned pool_entries,
                    unsigned variant) {
    ring::queue_config c;
    c.size = size;
    c.desc_table = gpa{kBase + kDescOff + (variant == 1 ? 8 : 0)};
    c.driver_area = gpa{kBase + kAvailOff};
    c.device_area = gpa{kBase + kUsedOff + (variant == 2 ? 2 : 0)};
    const bool event_idx = features & 1u, indirect = features & 2u, in_order = features & 4u;
    vireo_fuzz::negotiate(c, features);
    const ring::indirect_pool pool{gpa{kBase + kPoolOff}, static_cast<std::uint16_t>(pool_entries)};
    const auto r = drv_.configure(c, pool);
    m_.ready = m_.broken = false;
    if (!ring::split_layout::valid_size(size) || size > kMaxQueue) {
      FUZZ_CHECK(fails_with(r, errc::bad_queue_size));
      return;
    }
    if (variant != 0) {
      FUZZ_CHECK(fails_with(r, errc::ring_misaligned));
      return;
    }
    if (pool_entries != 0 && !indirect) {
      FUZZ_CHECK(fails_with(r, errc::feature_not_negotiated));
      return;
    }
    FUZZ_CHECK(r.has_value());
    // §2.7.10.1: the driver initialises the rings, the used ring included.
    for (std::size_t i = 0; i < ring::split_layout::used_bytes(size); ++i)
      FUZZ_CHECK(g_.host()[kUsedOff + i] == std::byte{0});
    g_.accept(kUsedOff, kUsedArea);
    const std::uint64_t next_user = m_.next_user;
    m_ = model{};
    m_.next_user = next_user;
    m_.ready = true;
    m_.size = size;
    m_.event_idx = event_idx;
    m_.in_order = in_order;
    m_.pool_entries = static_cast<std::uint16_t>(pool_entries);
    m_.owner.fill(-1);
  }

  // ---- add ----------------------------------------------------------------------------------

  void op_add() {
    const auto q = vireo_fuzz::add_request::decode(in_, kBase + kDataOff, kDataSize);
    const std::uint64_t user = m_.next_user++;
    const auto r = drv_.add(q.readable(), q.writable(), user, q.mode);

    const std::size_t n = q.count();
    const std::uint16_t free = static_cast<std::uint16_t>(m_.size - m_.owned);
    const bool indirect = q.goes_indirect(free, m_.pool_entries);
    if (!vireo_fuzz::succeeded_as_expected(
            r, q.expected_error(m_.ready, not_ready_error(), m_.size, free, m_.pool_entries)))
      return;
    const std::uint16_t head = *r;
    FUZZ_CHECK(head < m_.size);
    head_model& h = m_.heads[head];
    FUZZ_CHECK(!h.in_flight);
    if (m_.in_order) FUZZ_CHECK(head == m_.next_pos);

    // The descriptors the driver wrote describe exactly these buffers.
    auto check_desc = [&](std::size_t table_off, std::size_t i, std::uint16_t at,
                          std::uint16_t next) {
      ring::split_desc d;
      std::memcpy(&d, g_.host() + table_off + 16 * std::size_t{at}, sizeof d);
      const bool w = q.is_writable(i);
      const ring::buffer& b = q.at(i);
      const bool last = i + 1 == n;
      FUZZ_CHECK(d.addr.get() == b.addr.raw() && d.len.get() == b.len);
      FUZZ_CHECK(d.flags.get() ==
                 ((w ? ring::desc_flag::write : 0) | (last ? 0 : ring::desc_flag::next)));
      if (!last) FUZZ_CHECK(d.next.get() == next);
      return d.next.get();
    };
    if (indirect) {
      ring::split_desc d;
      std::memcpy(&d, g_.host() + kDescOff + 16 * std::size_t{head}, sizeof d);
      const std::uint64_t table = kBase + kPoolOff + std::uint64_t{head} * m_.pool_entries * 16;
      FUZZ_CHECK(d.flags.get() == ring::desc_flag::indirect);
      FUZZ_CHECK(d.addr.get() == table && d.len.get() == n * 16);
      for (std::size_t i = 0; i < n; ++i)
        check_desc(static_cast<std::size_t>(table - kBase), i, static_cast<std::uint16_t>(i),
                   static_cast<std::uint16_t>(i + 1));
      FUZZ_CHECK(m_.owner[head] < 0);
      m_.owner[head] = head;
      h.descs[0] = head;
      h.ndesc = 1;
    } else {
      std::uint16_t at = head;
      for (std::size_t i = 0; i < n; ++i) {
        FUZZ_CHECK(at < m_.size && m_.owner[at] < 0);  // only free descriptors are reused
        m_.owner[at] = head;
        h.descs[i] = at;
        ring::split_desc d;
        std::memcpy(&d, g_.host() + kDescOff + 16 * std::size_t{at}, sizeof d);
        const std::uint16_t next = d.next.get();
        // §2.7.5.2: under IN_ORDER, descriptor x chains to x + 1.
        check_desc(kDescOff, i, at,
                   m_.in_order ? static_cast<std::uint16_t>((at + 1) & m_.mask()) : next);
        at = next;
      }
      h.ndesc = static_cast<std::uint16_t>(n);
    }
    m_.owned = static_cast<std::uint16_t>(m_.owned + h.ndesc);
    h.in_flight = true;
    h.wlen = static_cast<std::uint32_t>(q.wlen);
    h.user = user;
    m_.fifo[(m_.fifo_first + m_.fifo_count++) % kMaxQueue] = head;
    m_.next_pos = static_cast<std::uint16_t>((head + h.ndesc) & m_.mask());
    FUZZ_CHECK(g_.get16(kAvailOff + ring::split_layout::avail_ring(m_.avail_idx & m_.mask())) == head);
    ++m_.avail_idx;
    ++m_.num_added;
  }

  // ---- the hostile device ----------------------------------------------------------------------

  void write_elem(std::uint16_t pos, std::uint32_t id, std::uint32_t len) {
    ring::split_used_elem e;
    e.id.set(id);
    e.len.set(len);
    g_.write(kUsedOff + ring::split_layout::used_ring(pos & m_.mask()), &e, sizeof e);
  }
  void set_used_idx(std::uint16_t v) {
    g_.put16(kUsedOff + ring::split_layout::used_idx, v);
    note_used_idx(v);
  }
  std::uint32_t pick_len(std::uint32_t wlen) { return vireo_fuzz::pick_used_len(in_, wlen); }

  /// A mostly well-behaved completion: an in-flight head at the device's used index.
  void op_device_complete() {
    const std::uint8_t sel = in_.u8();
    const std::uint8_t adv = in_.u8();
    if (m_.size == 0 || m_.fifo_count == 0) return;
    const std::size_t k = sel % m_.fifo_count;  // k-th oldest
    const std::uint16_t id = m_.fifo[(m_.fifo_first + k) % kMaxQueue];
    const std::uint16_t at = used_idx_mem();
    write_elem(at, id, pick_len(m_.heads[id].wlen));
    std::uint16_t step = 1;
    // Under IN_ORDER an element for the k-th oldest stands for a batch of k + 1 (§2.7.9).
    if (m_.in_order && (adv & 3u) == 0) step = static_cast<std::uint16_t>(k + 1);
    if ((adv & 3u) == 3) step = static_cast<std::uint16_t>(adv >> 2);
    set_used_idx(static_cast<std::uint16_t>(at + step));
  }
  void op_device_write_elem() {
    const std::uint8_t pos = in_.u8();
    const std::uint8_t idsel = in_.u8();
    const std::uint32_t len = in_.u32();
    if (m_.size == 0) return;
    std::uint32_t id;
    switch (idsel & 3u) {
      case 0:
        id = m_.fifo_count
                 ? m_.fifo[(m_.fifo_first + (idsel >> 2) % m_.fifo_count) % kMaxQueue]
                 : 0;
        break;
      case 1: id = idsel >> 2; break;
      case 2: id = m_.size + (idsel >> 2); break;
      default: id = len ^ 0x5a5a5a5au; break;
    }
    write_elem(static_cast<std::uint16_t>(m_.last_used + pos % 8u), id, len);
  }
  void op_device_set_used_idx() {
    const std::uint8_t mode = in_.u8();
    switch (mode & 3u) {
      case 0: set_used_idx(static_cast<std::uint16_t>(used_idx_mem() + (mode >> 2) % 4u)); break;
      case 1: set_used_idx(in_.u16()); break;
      case 2:  // one past what is in flight: a jump
        set_used_idx(static_cast<std::uint16_t>(m_.last_used + m_.fifo_count + 1 + (mode >> 2)));
        break;
      default: set_used_idx(static_cast<std::uint16_t>(used_idx_mem() - 1)); break;
    }
  }

  // ---- reclaim ------------------------------------------------------------------------------

  void retire(std::uint16_t id) {
    head_model& h = m_.heads[id];
    h.in_flight = false;
    for (std::size_t i = 0; i < h.ndesc; ++i) {
      FUZZ_CHECK(m_.owner[h.descs[i]] == id);
      m_.owner[h.descs[i]] = -1;
    }
    m_.owned = static_cast<std::uint16_t>(m_.owned - h.ndesc);
    // Heads leave the FIFO in order under IN_ORDER; otherwise from anywhere.
    for (std::size_t i = 0; i < m_.fifo_count; ++i) {
      const std::size_t at = (m_.fifo_first + i) % kMaxQueue;
      if (m_.fifo[at] != id) continue;
      for (std::size_t j = i; j + 1 < m_.fifo_count; ++j)
        m_.fifo[(m_.fifo_first + j) % kMaxQueue] = m_.fifo[(m_.fifo_first + j + 1) % kMaxQueue];
      --m_.fifo_count;
      break;
    }
    ++m_.last_used;
    FUZZ_CHECK(m_.ahead >= 1);  // only entries the device has published are consumed
    --m_.ahead;
  }

  void op_reclaim() {
    const std::uint16_t idx_before = used_idx_mem();
    // What counts is used.idx relative to last_used when the driver reads it: a value written
    // while it looked like a jump may be a fair publication by now.
    note_used_idx(idx_before);
    const auto r = drv_.reclaim();
    if (!m_.ready) {
      FUZZ_CHECK(fails_with(r, not_ready_error()));
      return;
    }
    const auto [eid, elen] = used_elem(m_.last_used);
    if (!r) {
      switch (r.error()) {
        case errc::used_idx_jump:
          // used.idx moved past what is in flight, or an IN_ORDER batch element names a buffer
          // further on than used.idx covers.
          FUZZ_CHECK(static_cast<std::uint16_t>(idx_before - m_.last_used) > m_.fifo_count ||
                     (m_.in_order && eid < m_.size && m_.heads[eid].in_flight &&
                      elen <= m_.heads[eid].wlen && eid != m_.fifo[m_.fifo_first]));
          break;
        case errc::used_id_out_of_range: FUZZ_CHECK(eid >= m_.size); break;
        case errc::used_id_not_in_flight:
          FUZZ_CHECK(eid < m_.size && !m_.heads[eid].in_flight);
          break;
        case errc::used_len_too_large:
          FUZZ_CHECK(eid < m_.size && m_.heads[eid].in_flight && elen > m_.heads[eid].wlen);
          break;
        default: FUZZ_CHECK(false);
      }
      FUZZ_CHECK(!m_.batch);
      m_.ready = false;
      m_.broken = true;
      return;
    }
    if (!r->has_value()) {
      FUZZ_CHECK(!m_.batch);
      FUZZ_CHECK(idx_before == m_.last_used);  // nothing published past what was reclaimed
      return;
    }
    const ring::used_buffer b = **r;
    FUZZ_CHECK(b.id < m_.size);
    const head_model& h = m_.heads[b.id];
    FUZZ_CHECK(h.in_flight);          // in flight, so returned at most once
    FUZZ_CHECK(b.len <= h.wlen);      // §2.7.8: never more than the writable bytes
    FUZZ_CHECK(b.user_data == h.user);
    if (m_.in_order) {
      FUZZ_CHECK(m_.fifo_count > 0 && b.id == m_.fifo[m_.fifo_first]);  // submission order
      if (m_.batch) {
        const auto [target, tlen] = *m_.batch;
        FUZZ_CHECK(b.len == (b.id == target ? tlen : h.wlen));
        if (b.id == target) m_.batch.reset();
      } else if (eid == b.id) {
        FUZZ_CHECK(b.len == elen);
      } else {
        // A batch (§2.7.9): buffers before the named one come back whole.
        FUZZ_CHECK(eid < m_.size && m_.heads[eid].in_flight && elen <= m_.heads[eid].wlen);
        FUZZ_CHECK(b.len == h.wlen);
        m_.batch = std::pair<std::uint16_t, std::uint32_t>{static_cast<std::uint16_t>(eid), elen};
      }
    } else {
      FUZZ_CHECK(eid == b.id && elen == b.len);
    }
    retire(b.id);
  }

  // ---- notifications ------------------------------------------------------------------------

  void op_needs_kick() {
    const bool got = drv_.needs_kick();
    bool expect = false;
    if (m_.ready && m_.num_added != 0) {
      const std::uint16_t old = m_.kicked;
      m_.kicked = m_.avail_idx;
      m_.num_added = 0;
      if (m_.event_idx) {
        const std::uint16_t event = g_.get16(kUsedOff + ring::split_layout::avail_event(m_.size));
        expect = vireo_fuzz::split_event_passed(old, m_.avail_idx, event);
      } else {
        expect = (g_.get16(kUsedOff + ring::split_layout::used_flags) & 1u) == 0;
      }
    }
    FUZZ_CHECK(got == expect);
  }

  void op_enable() {
    const std::uint16_t flags_before = g_.get16(kAvailOff + ring::split_layout::avail_flags);
    const bool got = drv_.enable_interrupts();
    if (!m_.ready) {
      FUZZ_CHECK(!got);
      FUZZ_CHECK(g_.get16(kAvailOff + ring::split_layout::avail_flags) == flags_before);
      return;
    }
    if (m_.event_idx)
      FUZZ_CHECK(g_.get16(kAvailOff + ring::split_layout::used_event(m_.size)) == m_.last_used);
    else
      FUZZ_CHECK(g_.get16(kAvailOff + ring::split_layout::avail_flags) == 0);
    FUZZ_CHECK(got == (used_idx_mem() != m_.last_used || m_.batch.has_value()));
  }

  void op_disable() {
    const std::uint16_t flags_before = g_.get16(kAvailOff + ring::split_layout::avail_flags);
    drv_.disable_interrupts();
    const std::uint16_t flags = g_.get16(kAvailOff + ring::split_layout::avail_flags);
    if (!m_.ready) FUZZ_CHECK(flags == flags_before);
    else if (m_.event_idx) FUZZ_CHECK(flags == 0);  // §2.7.7.1: flags stay 0 with EVENT_IDX
    else FUZZ_CHECK(flags == 1);
  }

  byte_source in_;
  guest_t g_;  // the shadow tracks the used ring, which only the device writes
  driver_t drv_;
  model m_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  harness h{data, size};
  h.run();
  return 0;
}
